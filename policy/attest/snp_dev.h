/* snp_dev: Parma's DEVELOPMENT attestation signer, for machines without SEV-SNP.
 *
 * It creates a local chain that mirrors AMD's shape — a self-signed root
 * "ARK-Parma-Dev" → "SEV-Parma-Dev" → leaf "SEV-VCEK" with productName
 * "Parma-Dev" (RSASSA-PSS SHA-384 certificates, ECDSA P-384 leaf, the AMD TCB
 * and hwID extensions) — and signs SNP-format reports with the leaf key. Every
 * certificate also carries O = "Parma DEVELOPMENT signer - NOT AMD". Such a
 * report proves nothing about the machine: anyone holding the directory can
 * sign anything. The verifier accepts it only when told to (allow_dev) and
 * then says so in its verdict.
 *
 * Directory layout (created by snp_dev_ca_open(..., create=true)):
 *   DIR/ark.pem, DIR/ask.pem, DIR/vcek.pem   certificates (pass DIR as --certs)
 *   DIR/private/ (0700) ark.key ask.key vcek.key   PEM private keys (0600)
 * The leaf's hwID is a random 64-byte chip id chosen at creation; its TCB is
 * SNP_DEV_TCB (bl 1, tee 1, snp 1, ucode 1). */
#ifndef PARMA_ATTEST_SNP_DEV_H
#define PARMA_ATTEST_SNP_DEV_H

#include <stdbool.h>
#include <stdint.h>

#include "common/errbuf.h"
#include "policy/attest/snp_report.h"

#define SNP_DEV_PRODUCT_NAME "Parma-Dev"
#define SNP_DEV_ORGANIZATION "Parma DEVELOPMENT signer - NOT AMD"

struct snp_dev_ca;

struct snp_dev_ca_options {
	unsigned rsa_bits;   /* ARK/ASK key size; 0 = 4096 (as AMD's) */
	unsigned valid_days; /* certificate validity; 0 = 3650 */
};

/* Load the dev CA in `dir`; if it does not exist and `create` is set, create
 * it (opts may be NULL). Errors name the file at fault. Caller frees. */
int snp_dev_ca_open(const char *dir, bool create, const struct snp_dev_ca_options *opts,
		    struct snp_dev_ca **out, struct errbuf *eb);
void snp_dev_ca_free(struct snp_dev_ca *ca);

/* The leaf's chip id (hwID) and TCB, as the verifier will expect them. */
const uint8_t *snp_dev_ca_chip_id(const struct snp_dev_ca *ca);
uint64_t snp_dev_ca_tcb(const struct snp_dev_ca *ca);

/* Fill `r` with a plausible version-5 report from this CA: policy 0x30000
 * (SMT allowed, debug off), VMPL 0, signature algo 1, CURRENT/REPORTED/
 * COMMITTED/LAUNCH_TCB = the leaf's TCB, CHIP_ID = the leaf's hwID, random
 * REPORT_ID, REPORT_ID_MA all ones, zero MEASUREMENT/HOST_DATA/REPORT_DATA.
 * The caller then sets the fields it cares about and signs. */
void snp_dev_report_init(const struct snp_dev_ca *ca, struct snp_report *r);

/* Sign: set r->signature_algo = 1 and r->sig_r/sig_s (ECDSA P-384 SHA-384
 * over bytes 0x000-0x29F of the serialized report), then write the 1184
 * bytes to `out`. Returns 0 or -EIO. */
int snp_dev_sign_report(const struct snp_dev_ca *ca, struct snp_report *r,
			uint8_t out[SNP_REPORT_SIZE], struct errbuf *eb);

/* The `parma run` path in one call: init + set MEASUREMENT, HOST_DATA and
 * REPORT_DATA (NULL = zero) + sign. */
int snp_dev_make_report(const struct snp_dev_ca *ca, const uint8_t measurement[SNP_MEASUREMENT_SIZE],
			const uint8_t host_data[SNP_HOST_DATA_SIZE],
			const uint8_t report_data[SNP_REPORT_DATA_SIZE],
			uint8_t out[SNP_REPORT_SIZE], struct errbuf *eb);

#endif
