/* Fuzz the SNP report parser and the certificate parser/identifier, and the
 * verifier on top of them. Input: the first 1184 bytes are a report, the rest
 * a certificate bundle (PEM or DER); the whole input is also tried as a
 * bundle and, if it has exactly 1184 bytes, as a report. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "policy/attest/snp_report.h"
#include "policy/attest/snp_verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snp_report r;
	struct errbuf eb = { 0 };
	const uint8_t *report = data;
	size_t report_len = size < SNP_REPORT_SIZE ? size : SNP_REPORT_SIZE;

	if (snp_report_parse(report, report_len, &r, &eb) == 0) {
		uint8_t out[SNP_REPORT_SIZE];
		struct json_object *j = snp_report_to_json(&r, SNP_PRODUCT_UNKNOWN);
		json_object_put(j);
		snp_report_serialize(&r, out);
		/* a parsed report serializes back to the same bytes */
		for (size_t i = 0; i < SNP_REPORT_SIZE; i++)
			if (out[i] != report[i])
				__builtin_trap();
	}

	/* the command-line value parsers, on the input as a short string */
	char str[128];
	size_t n = size < sizeof(str) - 1 ? size : sizeof(str) - 1;
	memcpy(str, data, n);
	str[n] = '\0';
	time_t t;
	struct snp_claims sc = { 0 };
	snp_parse_rfc3339(str, &t, &eb);
	snp_claims_set_min_tcb(&sc, str, &eb);

	struct snp_certs *all = snp_certs_new();
	if (all) {
		snp_certs_add_buffer(all, data, size, "fuzz", &eb);
		for (size_t i = 0; i < snp_certs_count(all); i++)
			(void)snp_certs_describe(all, i);
		snp_certs_free(all);
	}

	if (size > SNP_REPORT_SIZE) {
		struct snp_certs *c = snp_certs_new();
		struct snp_verdict *v = malloc(sizeof(*v));
		struct snp_claims cl = { .allow_dev = 1, .have_time = 1, .time = 1760000000 };
		if (c && v && snp_certs_add_buffer(c, data + SNP_REPORT_SIZE, size - SNP_REPORT_SIZE,
						   "fuzz", &eb) >= 0) {
			snp_verify_report(c, data, SNP_REPORT_SIZE, &cl, v, &eb);
			struct json_object *j = snp_verdict_to_json(v);
			json_object_put(j);
		}
		free(v);
		snp_certs_free(c);
	}
	return 0;
}
