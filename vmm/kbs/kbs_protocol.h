/* kbs_protocol: the messages of Trustee's KBS attestation protocol (RCAR),
 * parsed strictly, and the REPORT_DATA binding.
 *
 *   Request      {"version": "0.1.0", "tee": "snp", "extra-params": {...}}
 *   Challenge    {"nonce": "<base64>", "extra-params": {"selected-hash-algorithm": "sha384"}}
 *   Attestation  new form: {"runtime_data": {"nonce", "tee-pubkey"}, "tee_evidence":
 *                            {"primary_evidence": SNP, ...}, "init_data"?: {...}}
 *                old form: {"tee-pubkey": JWK, "tee-evidence": SNP or its JSON text}
 *   SNP evidence {"attestation_report": "<base64 of the 1184-byte report>", "cert_chain"?: …}
 *
 * Binding: REPORT_DATA = H(JCS(runtime_data)) zero-padded to 64 bytes, where
 * runtime_data is the new form's object or {"nonce", "tee-pubkey"} for the old
 * form, JCS is RFC 8785 canonical JSON and H the hash the Challenge selected. */
#ifndef PARMA_KBS_KBS_PROTOCOL_H
#define PARMA_KBS_KBS_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "common/errbuf.h"
#include "policy/attest/snp_report.h"

struct json_object;

#define KBS_BODY_MAX	      (256 * 1024)
#define KBS_NONCE_BYTES	      32
#define KBS_ERROR_TYPE_PREFIX "https://github.com/confidential-containers/kbs/errors/"

/* The hashes a client may ask for, in the KBS's order of preference. */
enum kbs_hash { KBS_HASH_SHA384 = 0, KBS_HASH_SHA512, KBS_HASH_SHA256 };
const char *kbs_hash_name(enum kbs_hash h);

struct kbs_auth_request {
	char version[32];
	enum kbs_hash hash; /* selected from extra-params.supported-hash-algorithms */
};

/* Parse a Request body. Only "tee": "snp" is served; others are refused by name. */
int kbs_parse_auth(const char *body, size_t len, struct kbs_auth_request *out, struct errbuf *eb);

/* A parsed Attestation. Caller puts `root` (every pointer points into it). */
struct kbs_attestation {
	struct json_object *root;
	struct json_object *tee_pubkey;	  /* the JWK */
	struct json_object *runtime_data; /* new form's object, or NULL (old form) */
	uint8_t report[SNP_REPORT_SIZE];
};

int kbs_parse_attestation(const char *body, size_t len, struct kbs_attestation *out,
			  struct errbuf *eb);
void kbs_attestation_clear(struct kbs_attestation *a);

/* RFC 8785 canonical JSON of v (objects' members sorted, no whitespace, strings
 * minimally escaped, integers only; a non-integer number is -ENOTSUP).
 * *out is malloc'd. */
int kbs_jcs(struct json_object *v, char **out, struct errbuf *eb);

/* The REPORT_DATA the attestation must carry for this session's nonce: checks the
 * new form's runtime_data.nonce equals `nonce` (else -EACCES naming it). */
int kbs_binding(const struct kbs_attestation *a, const char *nonce, enum kbs_hash h,
		uint8_t out[SNP_REPORT_DATA_SIZE], struct errbuf *eb);

/* An ErrorInformation body: {"type": KBS_ERROR_TYPE_PREFIX <type>, "detail": ...}. */
char *kbs_error_body(const char *type, const char *detail);

#endif
