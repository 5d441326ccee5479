/* The report parser against the real AMD-signed reports and their recorded
 * fields, plus the malformed-report rejections. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "policy/attest/snp_report.h"
#include "vectors.h"

static uint8_t *read_report(const char *set)
{
	size_t len = 0;
	uint8_t *b = vector_read(set, "report.bin", &len);
	assert_non_null(b);
	assert_int_equal(len, SNP_REPORT_SIZE);
	return b;
}

/* Every field recorded in expected.json equals our JSON rendering. */
static void attest_report_fields_match_expected(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_VECTOR_SETS; i++) {
		char path[1200];
		size_t n = 0;
		uint8_t *b = read_report(vector_sets[i]);
		struct snp_report r;
		struct errbuf eb = { 0 };
		assert_int_equal(snp_report_parse(b, SNP_REPORT_SIZE, &r, &eb), 0);

		vector_path(path, sizeof(path), vector_sets[i], "expected.json");
		struct json_object *exp = json_object_from_file(path);
		assert_non_null(exp);
		struct json_object *want = json_object_object_get(exp, "report");
		assert_non_null(want);
		struct json_object *got = snp_report_to_json(&r, SNP_PRODUCT_UNKNOWN);
		json_object_object_foreach(want, key, val) {
			struct json_object *g = NULL;
			if (!json_object_object_get_ex(got, key, &g)) {
				fail_msg("%s: field %s missing from our JSON", vector_sets[i], key);
			}
			const char *ws = json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN);
			const char *gs = json_object_to_json_string_ext(g, JSON_C_TO_STRING_PLAIN);
			if (strcmp(ws, gs) != 0)
				fail_msg("%s: %s: expected %s, got %s", vector_sets[i], key, ws, gs);
			n++;
		}
		assert_true(n >= 29); /* every field of the report */
		json_object_put(got);
		json_object_put(exp);
		free(b);
	}
}

static void attest_report_serialize_roundtrips(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_VECTOR_SETS; i++) {
		uint8_t *b = read_report(vector_sets[i]);
		uint8_t out[SNP_REPORT_SIZE];
		struct snp_report r;
		assert_int_equal(snp_report_parse(b, SNP_REPORT_SIZE, &r, NULL), 0);
		snp_report_serialize(&r, out);
		assert_memory_equal(out, b, SNP_REPORT_SIZE);
		free(b);
	}
}

static void attest_report_product_from_cpuid(void **state)
{
	(void)state;
	struct snp_report r;
	uint8_t *b = read_report("aci-genoa-ccf");
	assert_int_equal(snp_report_parse(b, SNP_REPORT_SIZE, &r, NULL), 0);
	assert_int_equal(snp_report_product(&r), SNP_PRODUCT_GENOA);
	free(b);
	b = read_report("aci-milan-ccf");
	assert_int_equal(snp_report_parse(b, SNP_REPORT_SIZE, &r, NULL), 0);
	assert_int_equal(snp_report_product(&r), SNP_PRODUCT_MILAN);
	free(b);
	b = read_report("milan-virtee-sev"); /* v2: no CPUID bytes */
	assert_int_equal(snp_report_parse(b, SNP_REPORT_SIZE, &r, NULL), 0);
	assert_int_equal(snp_report_product(&r), SNP_PRODUCT_UNKNOWN);
	free(b);
}

static void expect_parse_error(const uint8_t *b, size_t len, const char *needle)
{
	struct snp_report r;
	struct errbuf eb = { 0 };
	assert_int_equal(snp_report_parse(b, len, &r, &eb), -EINVAL);
	if (!strstr(eb.msg, needle))
		fail_msg("error '%s' does not mention '%s'", eb.msg, needle);
}

static void attest_report_rejects_malformed(void **state)
{
	(void)state;
	uint8_t *b = read_report("genoa-oak"); /* v5 */
	uint8_t m[SNP_REPORT_SIZE];

	expect_parse_error(b, SNP_REPORT_SIZE - 1, "1183 bytes, expected 1184");
	expect_parse_error(b, 0, "0 bytes");

	memcpy(m, b, sizeof(m));
	m[0] = 1;
	expect_parse_error(m, sizeof(m), "version 1 is not supported");
	m[0] = 6;
	expect_parse_error(m, sizeof(m), "version 6 is not supported");

	memcpy(m, b, sizeof(m));
	m[0x04c] = 1;
	expect_parse_error(m, sizeof(m), "reserved byte at 0x04c");
	memcpy(m, b, sizeof(m));
	m[0x29f] = 0x80;
	expect_parse_error(m, sizeof(m), "reserved byte at 0x29f");
	memcpy(m, b, sizeof(m));
	m[0x1eb] = 1;
	expect_parse_error(m, sizeof(m), "reserved byte at 0x1eb");
	memcpy(m, b, sizeof(m));
	m[SNP_REPORT_SIZE - 1] = 1; /* signature area beyond R and S */
	expect_parse_error(m, sizeof(m), "reserved byte at 0x49f is not zero (signature padding");

	memcpy(m, b, sizeof(m));
	m[0x008 + 2] &= (uint8_t)~0x02; /* policy bit 17 */
	expect_parse_error(m, sizeof(m), "policy 0x10000: reserved bit 17 must be one");
	memcpy(m, b, sizeof(m));
	m[0x008 + 7] = 0x80; /* policy bit 63 */
	expect_parse_error(m, sizeof(m), "policy");
	memcpy(m, b, sizeof(m));
	m[0x040] |= 0x40; /* platform_info bit 6: defined by newer firmware, accepted */
	struct snp_report r;
	assert_int_equal(snp_report_parse(m, sizeof(m), &r, NULL), 0);
	assert_int_equal(r.platform_info & 0x40, 0x40);
	memcpy(m, b, sizeof(m));
	m[0x048] = 2 << 2; /* signing key 2 */
	expect_parse_error(m, sizeof(m), "signing_key 2 is reserved");
	memcpy(m, b, sizeof(m));
	m[0x048] = 0x20;
	expect_parse_error(m, sizeof(m), "signer info");

	/* v5 fields are reserved in v2 */
	memcpy(m, b, sizeof(m));
	m[0] = 2;
	expect_parse_error(m, sizeof(m),
			   "reserved byte at 0x188 is not zero (CPUID_FAM_ID/MOD_ID/STEP (reserved "
			   "before version 3)");
	m[0x188] = m[0x189] = m[0x18a] = 0;
	expect_parse_error(m, sizeof(m), "reserved byte at 0x1f8"); /* mitigation vector */
	free(b);
}

static void attest_tcb_layouts(void **state)
{
	(void)state;
	struct snp_tcb t;
	/* Turin (Oak report): bytes 00 01 00 02 00 00 00 47 */
	uint64_t turin = 0x4700000002000100ull;
	assert_int_equal(snp_tcb_decode(turin, SNP_PRODUCT_TURIN, &t), 0);
	assert_int_equal(t.fmc, 0);
	assert_int_equal(t.bootloader, 1);
	assert_int_equal(t.tee, 0);
	assert_int_equal(t.snp, 2);
	assert_int_equal(t.microcode, 0x47);
	assert_int_equal(snp_tcb_encode(&t, SNP_PRODUCT_TURIN), turin);
	/* Milan: 03 00 00 00 00 00 08 73 */
	uint64_t milan = 0x7308000000000003ull;
	assert_int_equal(snp_tcb_decode(milan, SNP_PRODUCT_MILAN, &t), 0);
	assert_int_equal(t.bootloader, 3);
	assert_int_equal(t.snp, 8);
	assert_int_equal(t.microcode, 0x73);
	assert_int_equal(snp_tcb_encode(&t, SNP_PRODUCT_GENOA), milan);
	/* a reserved byte set is reported */
	assert_int_equal(snp_tcb_decode(milan | 0x10000ull, SNP_PRODUCT_MILAN, &t), -EINVAL);
	assert_int_equal(snp_tcb_decode(0x10000ull << 16, SNP_PRODUCT_TURIN, &t), -EINVAL);
	assert_int_equal(snp_product_from_name("turin"), SNP_PRODUCT_TURIN);
	assert_int_equal(snp_product_from_name("GENOA"), SNP_PRODUCT_GENOA);
	assert_int_equal(snp_product_from_name("rome"), SNP_PRODUCT_UNKNOWN);
}

int main(void)
{
	int skip = vectors_locate();
	if (skip)
		return skip;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(attest_report_fields_match_expected),
		cmocka_unit_test(attest_report_serialize_roundtrips),
		cmocka_unit_test(attest_report_product_from_cpuid),
		cmocka_unit_test(attest_report_rejects_malformed),
		cmocka_unit_test(attest_tcb_layouts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
