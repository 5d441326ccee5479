/* snp_verify: verify an SEV-SNP attestation report against AMD's endorsement
 * chain and check the claims a relying party asks for. Host side (OpenSSL 3).
 *
 * Procedure (docs/attestation.md has the long form):
 *  1. parse the report (snp_report.h);
 *  2. build the chain from the certificate store: leaf (VCEK, or VLEK when the
 *     report's SIGNING_KEY says so) → ASK (or ASVK) → ARK. The ARK must be one
 *     of AMD's pinned root keys (Milan, Genoa, Turin) — or, only with
 *     allow_dev, a Parma development root ("Parma-Dev"); every signature is
 *     RSASSA-PSS SHA-384/MGF1-SHA-384/salt 48; every certificate is valid at
 *     the verification time; no CRL in the store (validly signed by the ARK or
 *     ASK) lists the ASK or the leaf;
 *  3. the leaf's productName names the chain's product; v3+ reports' CPUID
 *     family/model name the same product;
 *  4. the leaf's TCB extensions equal REPORTED_TCB (layout per product) and
 *     its hwID equals CHIP_ID (first 8 bytes on Turin; VLEKs have no hwID);
 *  5. the ECDSA P-384 signature (R, S little-endian) over bytes 0x000-0x29F;
 *  6. POLICY.DEBUG is clear unless allow_debug;
 *  7. requested claims: minimum TCB, VMPL, MEASUREMENT, HOST_DATA, REPORT_DATA,
 *     and the ID block's FAMILY_ID, IMAGE_ID, ID_KEY_DIGEST, minimum GUEST_SVN.
 *
 * Certificates are parsed once per store; chain signatures are verified once
 * per (leaf, ASK, ARK) and cached, so verifying many reports is cheap. */
#ifndef PARMA_ATTEST_SNP_VERIFY_H
#define PARMA_ATTEST_SNP_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/errbuf.h"
#include "policy/attest/snp_report.h"

struct json_object;

/* ---- certificate store ---- */

/* Parsed, de-duplicated certificates, each identified by content:
 * self-signed → ARK; CN "SEV-VCEK"/"SEV-VLEK" → leaf; CN "SEV-VLEK-<product>"
 * → ASVK; CN "SEV-<product>" → ASK. Anything else is ignored. */
struct snp_certs;

struct snp_certs *snp_certs_new(void);
void snp_certs_free(struct snp_certs *c);

/* Add every certificate and revocation list in a buffer: PEM (any number of
 * CERTIFICATE and X509 CRL blocks, other PEM blocks skipped) or DER (one or
 * more concatenated certificates, or one CRL as AMD's KDS `crl` endpoint
 * serves it), or the GHCB certificate table of an extended report
 * (configfs-tsm `auxblob`; its GUIDs are ignored, contents identify). `name` is used in error messages. Returns the number of
 * certificates and CRLs added (0 if the buffer holds none; duplicates are not
 * counted), or -EINVAL for a malformed one (message names `name`). A CRL
 * issued by the ARK (or by the ASK) must be validly signed by it, and the
 * ASK (or leaf) it covers must not be listed in it. */
int snp_certs_add_buffer(struct snp_certs *c, const uint8_t *data, size_t len, const char *name,
			 struct errbuf *eb);

/* Add every certificate found in the regular files directly inside `dir`
 * (any file names; files holding no certificate are ignored; sub-directories
 * are not read). Returns the number of certificates added; -ENOENT if the
 * directory holds none. */
int snp_certs_add_dir(struct snp_certs *c, const char *dir, struct errbuf *eb);

/* Number of certificates in the store and a one-line description of each
 * ("ARK Milan (sha256 69d0…)", "VCEK Genoa hwid d2421d97…"), for `parma verify -v`. */
size_t snp_certs_count(const struct snp_certs *c);
size_t snp_certs_crl_count(const struct snp_certs *c);
const char *snp_certs_describe(const struct snp_certs *c, size_t i);

/* ---- claims and verdict ---- */

struct snp_claims {
	bool allow_debug;		 /* accept POLICY.DEBUG set */
	bool allow_dev;			 /* accept a Parma development chain */
	enum snp_product product;	 /* required product; UNKNOWN = any */
	bool require_crl;		 /* fail unless a CRL of the chain's ARK was checked */
	bool have_time;			 /* check validity at `time`, else now */
	time_t time;

	bool check_min_tcb;		 /* each SPL of REPORTED_TCB >= the minimum's */
	bool min_tcb_is_raw;		 /* min_tcb_raw is decoded for the chain's product */
	uint64_t min_tcb_raw;
	struct snp_tcb min_tcb;
	bool check_vmpl;		 /* VMPL == vmpl */
	uint32_t vmpl;
	bool check_measurement;
	uint8_t measurement[SNP_MEASUREMENT_SIZE];
	bool check_host_data;
	uint8_t host_data[SNP_HOST_DATA_SIZE];
	const char *host_data_source;	 /* e.g. "policy.json" (for the verdict), or NULL */
	bool check_report_data;
	uint8_t report_data[SNP_REPORT_DATA_SIZE];

	/* ID block (SNP_LAUNCH_FINISH): equality claims */
	bool check_family_id;
	uint8_t family_id[SNP_FAMILY_ID_SIZE];
	bool check_image_id;
	uint8_t image_id[SNP_FAMILY_ID_SIZE];
	bool check_id_key_digest;
	uint8_t id_key_digest[SNP_ID_DIGEST_SIZE];
	bool check_min_guest_svn; /* GUEST_SVN >= min_guest_svn */
	uint32_t min_guest_svn;
};

/* One checked property: name (stable identifier), whether it held, and a
 * sentence saying what was expected and what was found. */
#define SNP_CHECK_DETAIL_SIZE 400
struct snp_check {
	const char *name;
	bool held;
	char detail[SNP_CHECK_DETAIL_SIZE];
};

#define SNP_MAX_CHECKS 32
struct snp_verdict {
	bool verified;		 /* every check held */
	bool report_parsed;	 /* false: the report itself is malformed */
	bool dev_chain;		 /* the chain is a Parma development chain */
	enum snp_product product; /* the chain's product, if a chain was found */
	struct snp_report report; /* valid if report_parsed */
	size_t n_checks;
	struct snp_check checks[SNP_MAX_CHECKS];
	const struct snp_check *first_failure; /* NULL if verified */
};

/* Verify a raw report against the store and the claims. Always fills the
 * verdict (a malformed report is a failed "report_format" check). Returns 0
 * if the verdict is "verified", -EACCES if some check failed, -EINVAL if the
 * report did not parse (message in eb as well as in the verdict), -ENOMEM.
 * The store caches chain results; use one store from one thread at a time. */
int snp_verify_report(struct snp_certs *certs, const uint8_t *report, size_t len,
		      const struct snp_claims *claims, struct snp_verdict *v, struct errbuf *eb);

/* The verdict as JSON: {"verified", "dev_chain", "product", "reason",
 * "checks": [{"claim", "held", "detail"}...], "report": {...}}. Caller puts it. */
struct json_object *snp_verdict_to_json(const struct snp_verdict *v);

/* ---- helpers for command lines and services ---- */

/* Parse an RFC 3339 date-time ("2025-06-01T12:00:00Z", fractional seconds and
 * ±hh:mm offsets accepted). Returns 0 or -EINVAL. */
int snp_parse_rfc3339(const char *s, time_t *out, struct errbuf *eb);

/* Set the minimum-TCB claim from "bl=3,tee=0,snp=8,ucode=115[,fmc=1]" (missing
 * parts are 0) or from 16 hex digits of raw TCB_VERSION bytes in report order
 * (decoded with the layout of the chain's product at verification time). */
int snp_claims_set_min_tcb(struct snp_claims *c, const char *s, struct errbuf *eb);

#endif
