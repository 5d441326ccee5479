/* kbs_policy: a resource's release policy (docs/key-release.md has the schema)
 * and its evaluation against an SNP report.
 *
 *   { "host_data":   ["<64 hex>", ...],        required: the group policies' digests
 *     "measurement": ["<96 hex>", ...],        optional: launch digests
 *     "allow_debug": false,                    optional, default false
 *     "min_tcb":     {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115, "fmc": 0},
 *     "product":     ["Milan", "Genoa", "Turin"],   optional: chain's product in set
 *     "chain":       ["vcek", "vlek"],         optional, default both
 *     "allow_dev":   false }                   optional, default false
 *
 * Evaluation runs the same verifier as `parma verify` (snp_verify_report) with
 * the policy's debug, dev, TCB and REPORT_DATA claims, then the set claims.
 * A refusal names the release-policy claim that failed. */
#ifndef PARMA_KBS_KBS_POLICY_H
#define PARMA_KBS_KBS_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/errbuf.h"
#include "policy/attest/snp_report.h"
#include "policy/attest/snp_verify.h"

#define KBS_POLICY_MAX_SET  64
#define KBS_POLICY_MAX_SIZE (64 * 1024)

struct kbs_policy {
	size_t n_host_data;
	uint8_t host_data[KBS_POLICY_MAX_SET][SNP_HOST_DATA_SIZE];
	size_t n_measurement; /* 0: not checked */
	uint8_t measurement[KBS_POLICY_MAX_SET][SNP_MEASUREMENT_SIZE];
	bool allow_debug;
	bool allow_dev;
	bool check_min_tcb;
	struct snp_tcb min_tcb;
	size_t n_product; /* 0: any */
	enum snp_product product[8];
	bool chain_vcek, chain_vlek;
};

/* Parse a release policy document; errors name the JSON path ("release.min_tcb.snp: …"). */
int kbs_policy_parse(const char *text, size_t len, struct kbs_policy *out, struct errbuf *eb);
int kbs_policy_load(const char *path, struct kbs_policy *out, struct errbuf *eb);

/* The outcome of one evaluation. `claim` is the release-policy claim that
 * failed ("host_data", "measurement", "allow_debug", "min_tcb", "product",
 * "chain", "allow_dev", "report_data", or "evidence" for a report the verifier
 * rejected on its own grounds), NULL when released. */
struct kbs_decision {
	bool release;
	bool dev_chain; /* released on a DEVELOPMENT chain */
	const char *claim;
	char detail[SNP_CHECK_DETAIL_SIZE + 64];
};

/* Evaluate: verify `report` with the policy's claims plus REPORT_DATA == `report_data`
 * (the session's binding), then check the sets. `at` (0 = now) is the verification time.
 * Returns 0 (d->release says the outcome) or -ENOMEM. */
int kbs_policy_evaluate(const struct kbs_policy *p, struct snp_certs *certs,
			const uint8_t report[SNP_REPORT_SIZE],
			const uint8_t report_data[SNP_REPORT_DATA_SIZE], struct kbs_decision *d);

#endif
