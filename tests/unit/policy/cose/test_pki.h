/* test_pki: a throw-away certificate authority for the fragment tests: keys, CA and leaf
 * certificates with chosen names, EKUs and validity, the did:x509 naming the leaf, and signed
 * fragments. Aborts the test on any OpenSSL failure. */
#ifndef PARMA_TESTS_UNIT_POLICY_COSE_TEST_PKI_H
#define PARMA_TESTS_UNIT_POLICY_COSE_TEST_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

enum pki_key_kind { PKI_P256, PKI_P384, PKI_RSA2048, PKI_RSA1024 };

struct pki_cert_spec {
	const char *cn, *o;
	const char *eku;	    /* dotted OID, NULL = no EKU extension */
	const char *san_email;	    /* NULL = no SAN */
	long not_before, not_after; /* seconds from now; 0/0 = -3600 .. +10 years */
	enum pki_key_kind key;
	bool no_digital_signature; /* key usage without digitalSignature */
};

struct test_pki {
	EVP_PKEY *ca_key, *key;
	X509 *ca, *leaf;
	STACK_OF(X509) * chain; /* leaf, ca */
	char did[1024];		/* pins the CA, ::subject:CN:<leaf CN> */
};

EVP_PKEY *pki_key(enum pki_key_kind kind);
X509 *pki_cert(EVP_PKEY *key, const struct pki_cert_spec *spec, X509 *issuer, EVP_PKEY *issuer_key,
	       bool ca);
/* A CA "Parma Test CA <ca_name>" and a leaf from `leaf` (NULL: CN "Fragment Signer", EKU
 * code signing, P-256). */
void pki_make(struct test_pki *p, const char *ca_name, const struct pki_cert_spec *leaf);
void pki_free(struct test_pki *p);
/* did:x509:0:sha256:<CA fingerprint>::<predicates> */
void pki_did(const struct test_pki *p, const char *predicates, char *out, size_t size);
/* Sign payload (JSON) as a fragment by p's leaf; caller frees. */
uint8_t *pki_sign(const struct test_pki *p, const char *issuer, const char *feed, uint64_t svn,
		  const char *payload, size_t *len);
/* A fragment payload for issuer/feed/svn with `body` (",\"containers\":[...]") appended. */
char *pki_payload(const char *issuer, const char *feed, uint64_t svn, const char *body);

#endif
