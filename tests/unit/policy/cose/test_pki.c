/* test_pki: see test_pki.h. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "policy/fragment/cose_sign.h"
#include "tests/unit/policy/cose/test_pki.h"

static void need(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "test_pki: %s failed\n", what);
		abort();
	}
}

EVP_PKEY *pki_key(enum pki_key_kind kind)
{
	EVP_PKEY *k = kind == PKI_P256	    ? EVP_EC_gen("P-256")
		      : kind == PKI_P384    ? EVP_EC_gen("P-384")
		      : kind == PKI_RSA2048 ? EVP_RSA_gen(2048)
					    : EVP_RSA_gen(1024);
	need(k != NULL, "key generation");
	return k;
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	need(e && X509_add_ext(x, e, -1), "certificate extension");
	X509_EXTENSION_free(e);
}

X509 *pki_cert(EVP_PKEY *key, const struct pki_cert_spec *spec, X509 *issuer, EVP_PKEY *issuer_key,
	       bool ca)
{
	static long serial = 1;
	X509 *x = X509_new();
	need(x != NULL, "X509_new");
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	long nb = spec->not_before, na = spec->not_after;
	if (!nb && !na) {
		nb = -3600;
		na = 10L * 365 * 86400;
	}
	X509_gmtime_adj(X509_getm_notBefore(x), nb);
	X509_gmtime_adj(X509_getm_notAfter(x), na);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)spec->cn, -1,
				   -1, 0);
	if (spec->o)
		X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)spec->o,
					   -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509_set_pubkey(x, key);
	if (ca) {
		add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, issuer, NID_key_usage,
			spec->no_digital_signature ? "critical,keyEncipherment"
						   : "critical,digitalSignature");
		if (spec->eku)
			add_ext(x, issuer, NID_ext_key_usage, spec->eku);
		if (spec->san_email) {
			char san[300];
			snprintf(san, sizeof(san), "email:%s", spec->san_email);
			add_ext(x, issuer, NID_subject_alt_name, san);
		}
	}
	add_ext(x, issuer, NID_subject_key_identifier, "hash");
	if (issuer)
		add_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
	need(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0, "X509_sign");
	return x;
}

void pki_make(struct test_pki *p, const char *ca_name, const struct pki_cert_spec *leaf)
{
	static const struct pki_cert_spec dflt = {
		.cn = "Fragment Signer", .o = "Parma Tests", .eku = "codeSigning", .key = PKI_P256};
	char cn[128];
	memset(p, 0, sizeof(*p));
	snprintf(cn, sizeof(cn), "Parma Test CA %s", ca_name);
	struct pki_cert_spec cas = {.cn = cn, .o = "Parma Tests"};
	p->ca_key = pki_key(PKI_P256);
	p->ca = pki_cert(p->ca_key, &cas, NULL, NULL, true);
	if (!leaf)
		leaf = &dflt;
	p->key = pki_key(leaf->key);
	p->leaf = pki_cert(p->key, leaf, p->ca, p->ca_key, false);
	p->chain = sk_X509_new_null();
	need(p->chain && sk_X509_push(p->chain, p->leaf) && sk_X509_push(p->chain, p->ca), "chain");
	char pred[300], enc[256];
	size_t o = 0;
	for (const char *c = leaf->cn; *c && o + 4 < sizeof(enc); c++) {
		if (isalnum((unsigned char)*c) || strchr("-._", *c))
			enc[o++] = *c;
		else
			o += (size_t)snprintf(enc + o, sizeof(enc) - o, "%%%02X",
					      (unsigned char)*c);
	}
	enc[o] = 0;
	snprintf(pred, sizeof(pred), "subject:CN:%s", enc);
	pki_did(p, pred, p->did, sizeof(p->did));
}

void pki_free(struct test_pki *p)
{
	sk_X509_free(p->chain);
	X509_free(p->leaf);
	X509_free(p->ca);
	EVP_PKEY_free(p->key);
	EVP_PKEY_free(p->ca_key);
	memset(p, 0, sizeof(*p));
}

void pki_did(const struct test_pki *p, const char *predicates, char *out, size_t size)
{
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char md[32];
	unsigned int n = 0;
	need(X509_digest(p->ca, EVP_sha256(), md, &n) && n == 32, "digest");
	char fp[48];
	size_t o = 0;
	for (size_t i = 0; i < 32; i += 3) {
		uint32_t v = (uint32_t)md[i] << 16 | (i + 1 < 32 ? (uint32_t)md[i + 1] << 8 : 0) |
			     (i + 2 < 32 ? md[i + 2] : 0);
		fp[o++] = tbl[v >> 18 & 63];
		fp[o++] = tbl[v >> 12 & 63];
		if (i + 1 < 32)
			fp[o++] = tbl[v >> 6 & 63];
		if (i + 2 < 32)
			fp[o++] = tbl[v & 63];
	}
	fp[o] = 0;
	snprintf(out, size, "did:x509:0:sha256:%s::%s", fp, predicates);
}

uint8_t *pki_sign(const struct test_pki *p, const char *issuer, const char *feed, uint64_t svn,
		  const char *payload, size_t *len)
{
	struct errbuf eb = {0};
	uint8_t *doc = NULL;
	struct cose_sign_input in = {
		(const uint8_t *)payload, strlen(payload), issuer, feed, svn, p->chain, p->key, 0};
	if (cose_sign_fragment(&in, &doc, len, &eb)) {
		fprintf(stderr, "test_pki: sign: %s\n", errbuf_msg(&eb));
		abort();
	}
	return doc;
}

char *pki_payload(const char *issuer, const char *feed, uint64_t svn, const char *body)
{
	char *s = NULL;
	need(asprintf(&s,
		      "{\"version\":1,\"fragment\":{\"issuer\":\"%s\",\"feed\":\"%s\",\"svn\":%llu}"
		      "%s}",
		      issuer, feed, (unsigned long long)svn, body ? body : "") > 0,
	     "asprintf");
	return s;
}
