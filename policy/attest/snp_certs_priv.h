/* snp_certs_priv: the certificate store's internals, shared by snp_certs.c
 * (loading, identification, chain checks) and snp_verify.c (report checks).
 * Not a public header: nothing outside policy/attest includes it. */
#ifndef PARMA_ATTEST_SNP_CERTS_PRIV_H
#define PARMA_ATTEST_SNP_CERTS_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "policy/attest/snp_verify.h"

enum snp_cert_role {
	SNP_ROLE_ARK,  /* self-signed root */
	SNP_ROLE_ASK,  /* CN SEV-<product>: signs VCEKs */
	SNP_ROLE_ASVK, /* CN SEV-VLEK-<product>: signs VLEKs */
	SNP_ROLE_VCEK, /* CN SEV-VCEK */
	SNP_ROLE_VLEK, /* CN SEV-VLEK */
};

/* AMD VCEK/VLEK extension arcs under 1.3.6.1.4.1.3704.1.3 (SPLs). */
#define SNP_SPL_BOOTLOADER 1
#define SNP_SPL_TEE 2
#define SNP_SPL_SNP 3
#define SNP_SPL_MICROCODE 8
#define SNP_SPL_FMC 9
#define SNP_SPL_MAX 9

struct snp_cert {
	X509 *x509;
	EVP_PKEY *pkey; /* borrowed from x509 */
	enum snp_cert_role role;
	char cn[80];
	char product[40]; /* ARK/ASK/ASVK: from the CN; leaf: productName extension */
	uint8_t sha256[32];
	time_t not_before, not_after;
	char desc[256];
	/* leaf extensions */
	bool spl_present[SNP_SPL_MAX + 1];
	uint8_t spl[SNP_SPL_MAX + 1];
	uint8_t hwid[64];
	size_t hwid_len;
	char ext_error[160]; /* non-empty: an AMD extension is malformed */
	EVP_PKEY_CTX *verify_ctx; /* leaf: prepared ECDSA/SHA-384 verify (lazy) */
};

/* A verified (or refused) leaf → CA → ARK triple, cached by store index. */
struct snp_chain {
	size_t leaf, ca, ark;
	bool ok;
	bool dev; /* the root is a Parma development root */
	enum snp_product product;
	char reason[240]; /* why not ok */
	int n_crls_checked; /* CRLs (by ARK or CA) that this chain was checked against */
	char crl_detail[240];
};

struct snp_certs {
	struct snp_cert *certs;
	size_t n, cap;
	struct snp_chain *chains;
	size_t n_chains, cap_chains;
	X509_CRL **crls; /* revocation lists, e.g. AMD KDS .../crl (signed by the ARK) */
	size_t n_crls, cap_crls;
	struct snp_chain no_chain; /* "no chain could be built" (not cached) */
	EVP_MD *sha384;		   /* fetched once: per-call fetches cost ~30% */
};

/* The leaf's product family, from its productName ("Milan-B0" → Milan). */
enum snp_product snp_cert_leaf_product(const struct snp_cert *leaf);

/* Find or verify (and cache) the best chain for `leaf` (time-independent
 * checks: pinning, signatures, algorithms, names). Returns the cached
 * result; never NULL unless out of memory. */
const struct snp_chain *snp_certs_chain_for(struct snp_certs *c, size_t leaf);

#endif
