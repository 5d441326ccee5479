/* COSE_Sign1 fragments and did:x509: every header and DID check rejects on its own, and
 * good documents of every algorithm verify. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <cmocka.h>
#include <openssl/x509.h>

#include "policy/cose/cose_sign1.h"
#include "policy/cose/did_x509.h"
#include "policy/fragment/cose_sign.h"
#include "tests/unit/policy/cose/test_pki.h"

#define FEED	"example/sidecars"
#define PAYLOAD "{\"version\":1}"

static struct test_pki pki, other;

/* ---- building documents with chosen headers ---- */

struct hdrs {
	cbor_item_t *k[24], *v[24];
	size_t n;
};

static cbor_item_t *ilabel(int64_t v)
{
	return v >= 0 ? cbor_build_uint8((uint8_t)v) : (cbor_build_negint8((uint8_t)(-1 - v)));
}

static cbor_item_t *chain_item(STACK_OF(X509) * chain)
{
	cbor_item_t *a = cbor_new_definite_array((size_t)sk_X509_num(chain));
	for (int i = 0; i < sk_X509_num(chain); i++) {
		unsigned char *der = NULL;
		int len = i2d_X509(sk_X509_value(chain, i), &der);
		cbor_item_t *b = cbor_build_bytestring(der, (size_t)len);
		OPENSSL_free(der);
		assert_true(cbor_array_push(a, b));
		cbor_decref(&b);
	}
	return a;
}

static bool label_eq(cbor_item_t *k, int64_t i, const char *t)
{
	if (t)
		return cbor_isa_string(k) && cbor_string_length(k) == strlen(t) &&
		       !memcmp(cbor_string_handle(k), t, strlen(t));
	if (!cbor_isa_uint(k) && !cbor_isa_negint(k))
		return false;
	int64_t v = cbor_isa_uint(k) ? (int64_t)cbor_get_int(k) : -1 - (int64_t)cbor_get_int(k);
	return v == i;
}

static void hdrs_add(struct hdrs *h, cbor_item_t *k, cbor_item_t *v)
{
	assert_true(h->n < 24);
	h->k[h->n] = k;
	h->v[h->n++] = v;
}

/* Remove label (integer i, or text t). */
static void hdrs_drop(struct hdrs *h, int64_t i, const char *t)
{
	for (size_t j = 0; j < h->n; j++)
		if (label_eq(h->k[j], i, t)) {
			cbor_decref(&h->k[j]);
			cbor_decref(&h->v[j]);
			memmove(&h->k[j], &h->k[j + 1], (h->n - j - 1) * sizeof(h->k[0]));
			memmove(&h->v[j], &h->v[j + 1], (h->n - j - 1) * sizeof(h->v[0]));
			h->n--;
			return;
		}
	fail_msg("label not found");
}

static void hdrs_set(struct hdrs *h, int64_t i, const char *t, cbor_item_t *v)
{
	hdrs_drop(h, i, t);
	hdrs_add(h, t ? cbor_build_string(t) : ilabel(i), v);
}

static void hdrs_default(struct hdrs *h, const struct test_pki *p, int alg, uint64_t svn)
{
	h->n = 0;
	hdrs_add(h, ilabel(COSE_HDR_ALG), ilabel(alg));
	hdrs_add(h, ilabel(COSE_HDR_CONTENT_TYPE), cbor_build_string("application/json"));
	hdrs_add(h, ilabel(COSE_HDR_X5CHAIN), chain_item(p->chain));
	hdrs_add(h, cbor_build_string("iss"), cbor_build_string(p->did));
	hdrs_add(h, cbor_build_string("feed"), cbor_build_string(FEED));
	hdrs_add(h, cbor_build_string("svn"), cbor_build_uint64(svn));
}

static uint8_t *serialize(struct hdrs *h, size_t *len)
{
	cbor_item_t *m = cbor_new_definite_map(h->n);
	for (size_t i = 0; i < h->n; i++) {
		assert_true(cbor_map_add(m, (struct cbor_pair){h->k[i], h->v[i]}));
		cbor_decref(&h->k[i]);
		cbor_decref(&h->v[i]);
	}
	h->n = 0;
	unsigned char *buf = NULL;
	size_t cap = 0;
	*len = cbor_serialize_alloc(m, &buf, &cap);
	assert_true(*len > 0);
	cbor_decref(&m);
	return buf;
}

/* Sign protected headers h (consumed) with p's key; unprot may be NULL. */
static uint8_t *doc_with(struct hdrs *h, const struct test_pki *p, int alg, struct hdrs *unprot,
			 const char *payload, size_t *len)
{
	size_t plen, ulen = 0;
	uint8_t *prot = serialize(h, &plen), *up = unprot ? serialize(unprot, &ulen) : NULL;
	uint8_t *doc = NULL;
	struct errbuf eb = {0};
	assert_int_equal(cose_sign_assemble(prot, plen, up, ulen, (const uint8_t *)payload,
					    strlen(payload), p->key, alg, &doc, len, &eb),
			 0);
	free(prot);
	free(up);
	return doc;
}

/* Decode and verify against p's DID; returns the result and the fault's field. */
static int check(const uint8_t *doc, size_t len, const char *did, char *field)
{
	struct cose_fault f = {0};
	struct cose_sign1 *m = NULL;
	int ret = cose_sign1_decode(doc, len, &m, &f);
	if (!ret)
		ret = cose_sign1_verify(m, did, 0, &f);
	cose_sign1_free(m);
	snprintf(field, 32, "%s", ret ? f.field : "");
	if (ret)
		print_message("    -> %s\n", errbuf_msg(&f.eb));
	return ret;
}

#define EXPECT(doc, len, did, err, want_field)                                                     \
	do {                                                                                       \
		char fld_[32];                                                                     \
		assert_int_equal(check(doc, len, did, fld_), err);                                 \
		assert_string_equal(fld_, want_field);                                             \
	} while (0)

static int setup(void **state)
{
	(void)state;
	pki_make(&pki, "A", NULL);
	pki_make(&other, "B", NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	pki_free(&pki);
	pki_free(&other);
	return 0;
}

/* ---- good documents ---- */

static void cose_every_algorithm_verifies(void **state)
{
	(void)state;
	static const struct {
		enum pki_key_kind key;
		int alg;
	} cases[] = {{PKI_P256, COSE_ALG_ES256},
		     {PKI_P384, COSE_ALG_ES384},
		     {PKI_RSA2048, COSE_ALG_PS256},
		     {PKI_RSA2048, COSE_ALG_PS384}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct test_pki p;
		struct pki_cert_spec spec = {.cn = "Fragment Signer", .key = cases[i].key};
		pki_make(&p, "alg", &spec);
		struct hdrs h;
		size_t len;
		hdrs_default(&h, &p, cases[i].alg, 1);
		uint8_t *doc = doc_with(&h, &p, cases[i].alg, NULL, PAYLOAD, &len);
		EXPECT(doc, len, p.did, 0, "");
		free(doc);
		pki_free(&p);
	}
}

static void cose_signer_output_decodes_with_its_headers(void **state)
{
	(void)state;
	size_t len;
	uint8_t *doc = pki_sign(&pki, pki.did, FEED, 7, PAYLOAD, &len);
	struct cose_fault f = {0};
	struct cose_sign1 *m;
	assert_int_equal(doc[0], 0xd2); /* tag 18 */
	assert_int_equal(cose_sign1_decode(doc, len, &m, &f), 0);
	assert_int_equal(m->alg, COSE_ALG_ES256);
	assert_string_equal(m->issuer, pki.did);
	assert_string_equal(m->feed, FEED);
	assert_int_equal(m->svn, 7);
	assert_string_equal(m->content_type, "application/json");
	assert_int_equal(m->n_chain, 2);
	assert_int_equal(m->payload_len, strlen(PAYLOAD));
	assert_memory_equal(m->payload, PAYLOAD, strlen(PAYLOAD));
	assert_int_equal(cose_sign1_verify(m, pki.did, 0, &f), 0);
	cose_sign1_free(m);
	/* untagged is a COSE_Sign1 too */
	EXPECT(doc + 1, len - 1, pki.did, 0, "");
	free(doc);
}

/* ---- one rejection per header check ---- */

static void run_variant(void (*edit)(struct hdrs *), int err, const char *field)
{
	struct hdrs h;
	size_t len;
	hdrs_default(&h, &pki, COSE_ALG_ES256, 1);
	edit(&h);
	uint8_t *doc = doc_with(&h, &pki, COSE_ALG_ES256, NULL, PAYLOAD, &len);
	EXPECT(doc, len, pki.did, err, field);
	free(doc);
}

static void e_no_alg(struct hdrs *h)
{
	hdrs_drop(h, COSE_HDR_ALG, NULL);
}
static void e_alg_eddsa(struct hdrs *h)
{
	hdrs_set(h, COSE_HDR_ALG, NULL, ilabel(-8));
}
static void e_alg_text(struct hdrs *h)
{
	hdrs_set(h, COSE_HDR_ALG, NULL, cbor_build_string("ES256"));
}
static void e_alg_es384(struct hdrs *h)
{
	hdrs_set(h, COSE_HDR_ALG, NULL, ilabel(COSE_ALG_ES384));
}
static void e_alg_ps256(struct hdrs *h)
{
	hdrs_set(h, COSE_HDR_ALG, NULL, ilabel(COSE_ALG_PS256));
}
static void e_no_chain(struct hdrs *h)
{
	hdrs_drop(h, COSE_HDR_X5CHAIN, NULL);
}
static void e_chain_text(struct hdrs *h)
{
	hdrs_set(h, COSE_HDR_X5CHAIN, NULL, cbor_build_string("not a certificate"));
}
static void e_chain_leaf_only(struct hdrs *h)
{
	unsigned char *der = NULL;
	int len = i2d_X509(pki.leaf, &der);
	hdrs_set(h, COSE_HDR_X5CHAIN, NULL, cbor_build_bytestring(der, (size_t)len));
	OPENSSL_free(der);
}
static void e_chain_garbage_cert(struct hdrs *h)
{
	cbor_item_t *a = cbor_new_definite_array(2);
	cbor_item_t *b1 = cbor_build_bytestring((const unsigned char *)"\x30\x03\x02\x01\x01", 5);
	unsigned char *der = NULL;
	int len = i2d_X509(pki.ca, &der);
	cbor_item_t *b2 = cbor_build_bytestring(der, (size_t)len);
	OPENSSL_free(der);
	cbor_array_push(a, b1);
	cbor_array_push(a, b2);
	cbor_decref(&b1);
	cbor_decref(&b2);
	hdrs_set(h, COSE_HDR_X5CHAIN, NULL, a);
}
static void e_no_iss(struct hdrs *h)
{
	hdrs_drop(h, 0, "iss");
}
static void e_iss_int(struct hdrs *h)
{
	hdrs_set(h, 0, "iss", cbor_build_uint8(1));
}
static void e_iss_other(struct hdrs *h)
{
	hdrs_set(h, 0, "iss", cbor_build_string(other.did));
}
static void e_no_feed(struct hdrs *h)
{
	hdrs_drop(h, 0, "feed");
}
static void e_feed_empty(struct hdrs *h)
{
	hdrs_set(h, 0, "feed", cbor_build_string(""));
}
static void e_no_svn(struct hdrs *h)
{
	hdrs_drop(h, 0, "svn");
}
static void e_svn_negative(struct hdrs *h)
{
	hdrs_set(h, 0, "svn", ilabel(-1));
}
static void e_svn_text(struct hdrs *h)
{
	hdrs_set(h, 0, "svn", cbor_build_string("3"));
}
static void e_crit_unknown(struct hdrs *h)
{
	cbor_item_t *c = cbor_new_definite_array(1), *l = cbor_build_string("x-must-understand");
	cbor_array_push(c, l);
	cbor_decref(&l);
	hdrs_add(h, ilabel(COSE_HDR_CRIT), c);
	hdrs_add(h, cbor_build_string("x-must-understand"), cbor_build_uint8(1));
}
static void e_crit_absent(struct hdrs *h)
{
	cbor_item_t *c = cbor_new_definite_array(1), *l = ilabel(COSE_HDR_CWT_CLAIMS);
	cbor_array_push(c, l);
	cbor_decref(&l);
	hdrs_add(h, ilabel(COSE_HDR_CRIT), c);
}
static void e_crit_known(struct hdrs *h)
{
	cbor_item_t *c = cbor_new_definite_array(2), *l1 = cbor_build_string("svn"),
		    *l2 = cbor_build_string("feed");
	cbor_array_push(c, l1);
	cbor_array_push(c, l2);
	cbor_decref(&l1);
	cbor_decref(&l2);
	hdrs_add(h, ilabel(COSE_HDR_CRIT), c);
}
static void e_crit_empty(struct hdrs *h)
{
	hdrs_add(h, ilabel(COSE_HDR_CRIT), cbor_new_definite_array(0));
}
static void e_unknown_noncritical(struct hdrs *h)
{
	hdrs_add(h, cbor_build_string("x-note"), cbor_build_string("ignored"));
	hdrs_add(h, ilabel(-70000 + 65536), cbor_build_uint8(0));
}
static void e_duplicate_label(struct hdrs *h)
{
	hdrs_add(h, cbor_build_string("feed"), cbor_build_string(FEED));
}
static void e_content_type_rego(struct hdrs *h)
{
	hdrs_set(h, COSE_HDR_CONTENT_TYPE, NULL, cbor_build_string("application/rego"));
}
static void e_no_content_type(struct hdrs *h)
{
	hdrs_drop(h, COSE_HDR_CONTENT_TYPE, NULL);
}
static cbor_item_t *cwt(const char *iss, const char *sub)
{
	cbor_item_t *m = cbor_new_definite_map(2);
	cbor_item_t *k1 = cbor_build_uint8(1), *v1 = cbor_build_string(iss),
		    *k2 = cbor_build_uint8(2), *v2 = cbor_build_string(sub);
	cbor_map_add(m, (struct cbor_pair){k1, v1});
	cbor_map_add(m, (struct cbor_pair){k2, v2});
	cbor_decref(&k1), cbor_decref(&v1), cbor_decref(&k2), cbor_decref(&v2);
	return m;
}
static void e_cwt_only(struct hdrs *h)
{
	hdrs_drop(h, 0, "iss");
	hdrs_drop(h, 0, "feed");
	hdrs_add(h, ilabel(COSE_HDR_CWT_CLAIMS), cwt(pki.did, FEED));
}
static void e_cwt_disagrees(struct hdrs *h)
{
	hdrs_add(h, ilabel(COSE_HDR_CWT_CLAIMS), cwt(other.did, FEED));
}

#define VARIANT(name, edit, err, field)                                                            \
	static void name(void **state)                                                             \
	{                                                                                          \
		(void)state;                                                                       \
		run_variant(edit, err, field);                                                     \
	}

VARIANT(cose_rejects_missing_alg, e_no_alg, -EINVAL, "alg")
VARIANT(cose_rejects_unsupported_alg, e_alg_eddsa, -EINVAL, "alg")
VARIANT(cose_rejects_alg_of_wrong_type, e_alg_text, -EINVAL, "alg")
VARIANT(cose_rejects_alg_not_matching_the_ec_key, e_alg_es384, -EACCES, "alg")
VARIANT(cose_rejects_rsa_alg_with_an_ec_key, e_alg_ps256, -EACCES, "alg")
VARIANT(cose_rejects_missing_x5chain, e_no_chain, -EINVAL, "x5chain")
VARIANT(cose_rejects_x5chain_of_wrong_type, e_chain_text, -EINVAL, "x5chain")
VARIANT(cose_rejects_x5chain_without_a_ca, e_chain_leaf_only, -EACCES, "x5chain")
VARIANT(cose_rejects_x5chain_with_a_bad_certificate, e_chain_garbage_cert, -EINVAL, "x5chain")
VARIANT(cose_rejects_missing_iss, e_no_iss, -EINVAL, "iss")
VARIANT(cose_rejects_iss_of_wrong_type, e_iss_int, -EINVAL, "iss")
VARIANT(cose_rejects_iss_other_than_the_trusted_did, e_iss_other, -EACCES, "iss")
VARIANT(cose_rejects_missing_feed, e_no_feed, -EINVAL, "feed")
VARIANT(cose_rejects_empty_feed, e_feed_empty, -EINVAL, "feed")
VARIANT(cose_rejects_missing_svn, e_no_svn, -EINVAL, "svn")
VARIANT(cose_rejects_negative_svn, e_svn_negative, -EINVAL, "svn")
VARIANT(cose_rejects_svn_of_wrong_type, e_svn_text, -EINVAL, "svn")
VARIANT(cose_rejects_unknown_critical_header, e_crit_unknown, -EINVAL, "crit")
VARIANT(cose_rejects_critical_header_not_present, e_crit_absent, -EINVAL, "crit")
VARIANT(cose_rejects_empty_crit, e_crit_empty, -EINVAL, "crit")
VARIANT(cose_accepts_known_critical_headers, e_crit_known, 0, "")
VARIANT(cose_ignores_unknown_noncritical_headers, e_unknown_noncritical, 0, "")
VARIANT(cose_rejects_duplicate_labels, e_duplicate_label, -EINVAL, "protected")
VARIANT(cose_rejects_non_json_content_type, e_content_type_rego, -EINVAL, "content_type")
VARIANT(cose_accepts_missing_content_type, e_no_content_type, 0, "")
VARIANT(cose_accepts_cwt_claims_issuer_and_subject, e_cwt_only, 0, "")
VARIANT(cose_rejects_cwt_issuer_disagreeing_with_iss, e_cwt_disagrees, -EINVAL, "iss")

static void cose_rejects_signed_fields_in_the_unprotected_header(void **state)
{
	(void)state;
	const char *labels[] = {"iss", "feed", "svn"};
	for (size_t i = 0; i < 3; i++) {
		struct hdrs h, u = {0};
		size_t len;
		hdrs_default(&h, &pki, COSE_ALG_ES256, 1);
		hdrs_add(&u, cbor_build_string(labels[i]), cbor_build_string("x"));
		uint8_t *doc = doc_with(&h, &pki, COSE_ALG_ES256, &u, PAYLOAD, &len);
		EXPECT(doc, len, pki.did, -EINVAL, "unprotected");
		free(doc);
	}
	struct hdrs h, u = {0};
	size_t len;
	hdrs_default(&h, &pki, COSE_ALG_ES256, 1);
	hdrs_add(&u, ilabel(COSE_HDR_X5CHAIN), chain_item(other.chain));
	uint8_t *doc = doc_with(&h, &pki, COSE_ALG_ES256, &u, PAYLOAD, &len);
	EXPECT(doc, len, pki.did, -EINVAL, "unprotected");
	free(doc);
}

/* ---- signature and payload ---- */

static void cose_rejects_tampered_payload(void **state)
{
	(void)state;
	size_t len;
	uint8_t *doc = pki_sign(&pki, pki.did, FEED, 1, "{\"version\":1,\"x\":\"aaaa\"}", &len);
	uint8_t *p = memmem(doc, len, "aaaa", 4);
	assert_non_null(p);
	p[0] = 'b';
	EXPECT(doc, len, pki.did, -EACCES, "signature");
	free(doc);
}

static void cose_rejects_tampered_protected_header(void **state)
{
	(void)state;
	size_t len;
	uint8_t *doc = pki_sign(&pki, pki.did, "feed-aaaa", 1, PAYLOAD, &len);
	uint8_t *p = memmem(doc, len, "feed-aaaa", 9);
	assert_non_null(p);
	p[5] = 'b';
	EXPECT(doc, len, pki.did, -EACCES, "signature");
	free(doc);
}

static void cose_rejects_signature_of_wrong_length_or_key(void **state)
{
	(void)state;
	size_t len;
	uint8_t *doc = pki_sign(&pki, pki.did, FEED, 1, PAYLOAD, &len);
	/* the last 64 bytes are the signature (bstr of 64): flip one bit */
	doc[len - 1] ^= 1;
	EXPECT(doc, len, pki.did, -EACCES, "signature");
	/* a shorter signature: rewrite the bstr head 0x58 0x40 to 63 bytes and cut one */
	assert_int_equal(doc[len - 65], 0x40);
	doc[len - 65] = 0x3f;
	EXPECT(doc, len - 1, pki.did, -EACCES, "signature");
	free(doc);
	/* signed by another key than the leaf's */
	struct hdrs h;
	hdrs_default(&h, &pki, COSE_ALG_ES256, 1);
	doc = doc_with(&h, &other, COSE_ALG_ES256, NULL, PAYLOAD, &len);
	EXPECT(doc, len, pki.did, -EACCES, "signature");
	free(doc);
}

/* ---- chain, DID and certificate checks ---- */

static void cose_rejects_leaf_not_issued_by_the_chain_ca(void **state)
{
	(void)state;
	/* other's leaf presented with pki's CA: the path does not validate */
	STACK_OF(X509) *mixed = sk_X509_new_null();
	sk_X509_push(mixed, other.leaf);
	sk_X509_push(mixed, pki.ca);
	struct hdrs h;
	size_t len;
	hdrs_default(&h, &pki, COSE_ALG_ES256, 1);
	hdrs_set(&h, COSE_HDR_X5CHAIN, NULL, chain_item(mixed));
	uint8_t *doc = doc_with(&h, &other, COSE_ALG_ES256, NULL, PAYLOAD, &len);
	EXPECT(doc, len, pki.did, -EACCES, "x5chain");
	free(doc);
	sk_X509_free(mixed);
}

static void cose_rejects_valid_chain_of_another_ca(void **state)
{
	(void)state;
	/* other's complete, valid chain claiming pki's DID: the CA fingerprint differs */
	size_t len;
	uint8_t *doc = pki_sign(&other, pki.did, FEED, 1, PAYLOAD, &len);
	EXPECT(doc, len, pki.did, -EACCES, "did");
	free(doc);
}

static void expect_leaf_rejected(const struct pki_cert_spec *spec, const char *predicates, int err,
				 const char *field)
{
	struct test_pki p;
	char did[1024];
	size_t len;
	pki_make(&p, "leafcheck", spec);
	pki_did(&p, predicates, did, sizeof(did));
	uint8_t *doc = pki_sign(&p, did, FEED, 1, PAYLOAD, &len);
	EXPECT(doc, len, did, err, field);
	free(doc);
	pki_free(&p);
}

static void cose_rejects_wrong_subject(void **state)
{
	(void)state;
	struct pki_cert_spec s = {.cn = "Someone Else", .o = "Parma Tests", .eku = "codeSigning"};
	expect_leaf_rejected(&s, "subject:CN:Fragment%20Signer", -EACCES, "did");
	expect_leaf_rejected(&s, "subject:CN:Someone%20Else:O:Other", -EACCES, "did");
	expect_leaf_rejected(&s, "subject:CN:Someone%20Else:OU:Missing", -EACCES, "did");
	expect_leaf_rejected(&s, "subject:CN:Someone%20Else:O:Parma%20Tests", 0, "");
}

static void cose_rejects_wrong_or_missing_eku(void **state)
{
	(void)state;
	struct pki_cert_spec s = {.cn = "Signer", .eku = "codeSigning"};
	expect_leaf_rejected(&s, "eku:1.3.6.1.5.5.7.3.3", 0, "");	   /* code signing */
	expect_leaf_rejected(&s, "eku:1.3.6.1.5.5.7.3.1", -EACCES, "did"); /* server auth */
	expect_leaf_rejected(&s, "eku:1.3.6.1.4.1.311.76.59.1.2", -EACCES, "did");
	struct pki_cert_spec custom = {.cn = "Signer", .eku = "1.3.6.1.4.1.311.76.59.1.2"};
	expect_leaf_rejected(&custom, "eku:1.3.6.1.4.1.311.76.59.1.2", 0, "");
	struct pki_cert_spec none = {.cn = "Signer"};
	expect_leaf_rejected(&none, "eku:1.3.6.1.5.5.7.3.3", -EACCES, "did");
}

static void cose_checks_san_predicates(void **state)
{
	(void)state;
	struct pki_cert_spec s = {.cn = "Signer", .san_email = "release@example.com"};
	expect_leaf_rejected(&s, "san:email:release%40example.com", 0, "");
	expect_leaf_rejected(&s, "san:email:other%40example.com", -EACCES, "did");
	expect_leaf_rejected(&s, "san:dns:release%40example.com", -EACCES, "did");
}

static void cose_rejects_expired_and_not_yet_valid_leaf(void **state)
{
	(void)state;
	struct pki_cert_spec expired = {
		.cn = "Signer", .not_before = -86400 * 10, .not_after = -86400};
	expect_leaf_rejected(&expired, "subject:CN:Signer", -EACCES, "x5chain");
	struct pki_cert_spec future = {
		.cn = "Signer", .not_before = 86400, .not_after = 86400 * 10};
	expect_leaf_rejected(&future, "subject:CN:Signer", -EACCES, "x5chain");
}

static void cose_rejects_leaf_that_may_not_sign(void **state)
{
	(void)state;
	struct pki_cert_spec s = {.cn = "Signer", .no_digital_signature = true};
	expect_leaf_rejected(&s, "subject:CN:Signer", -EACCES, "x5chain");
}

static void cose_rejects_small_rsa_keys(void **state)
{
	(void)state;
	struct pki_cert_spec s = {.cn = "Signer", .key = PKI_RSA1024};
	expect_leaf_rejected(&s, "subject:CN:Signer", -EACCES, "alg");
}

static void cose_did_may_pin_an_intermediate_or_the_root(void **state)
{
	(void)state;
	/* root -> intermediate -> leaf */
	EVP_PKEY *rk = pki_key(PKI_P256), *ik = pki_key(PKI_P256), *lk = pki_key(PKI_P256);
	struct pki_cert_spec rs = {.cn = "Root"}, is = {.cn = "Intermediate"},
			     ls = {.cn = "Leaf", .eku = "codeSigning"};
	X509 *root = pki_cert(rk, &rs, NULL, NULL, true);
	X509 *inter = pki_cert(ik, &is, root, rk, true);
	X509 *leaf = pki_cert(lk, &ls, inter, ik, false);
	struct test_pki p = {.key = lk, .leaf = leaf, .chain = sk_X509_new_null()};
	sk_X509_push(p.chain, leaf);
	sk_X509_push(p.chain, inter);
	sk_X509_push(p.chain, root);
	for (int pin = 0; pin < 2; pin++) {
		char did[1024];
		size_t len;
		p.ca = pin ? root : inter;
		pki_did(&p, "subject:CN:Leaf", did, sizeof(did));
		uint8_t *doc = pki_sign(&p, did, FEED, 1, PAYLOAD, &len);
		EXPECT(doc, len, did, 0, "");
		free(doc);
	}
	/* pinning the leaf itself is no CA pin */
	char did[1024];
	size_t len;
	p.ca = leaf;
	pki_did(&p, "subject:CN:Leaf", did, sizeof(did));
	uint8_t *doc = pki_sign(&p, did, FEED, 1, PAYLOAD, &len);
	EXPECT(doc, len, did, -EACCES, "did");
	free(doc);
	sk_X509_free(p.chain);
	X509_free(root), X509_free(inter), X509_free(leaf);
	EVP_PKEY_free(rk), EVP_PKEY_free(ik), EVP_PKEY_free(lk);
}

/* ---- structure ---- */

static void cose_rejects_malformed_structure(void **state)
{
	(void)state;
	size_t len;
	uint8_t *doc = pki_sign(&pki, pki.did, FEED, 1, PAYLOAD, &len);
	char field[32];
	/* truncated at every length */
	for (size_t n = 0; n < len; n += 7)
		assert_int_equal(check(doc, n, pki.did, field), -EINVAL);
	/* trailing byte */
	uint8_t *longer = malloc(len + 1);
	memcpy(longer, doc, len);
	longer[len] = 0;
	EXPECT(longer, len + 1, pki.did, -EINVAL, "document");
	/* another tag */
	longer[0] = 0xd1; /* tag 17: COSE_Mac0 */
	EXPECT(longer, len, pki.did, -EINVAL, "document");
	free(longer);
	free(doc);
	static const struct {
		const char *bytes;
		size_t len;
		const char *field;
	} bad[] = {
		{"\x83\x40\xa0\x40", 4, "document"},			 /* 3 elements */
		{"\x9f\x40\xa0\x40\x40\xff", 6, "document"},		 /* indefinite array */
		{"\x84\x40\xa0\x40\x40", 5, "alg"},			 /* empty protected */
		{"\x84\x41\xa0\xa0\x40\x40", 6, "alg"},			 /* empty map */
		{"\x84\x41\x01\xa0\x40\x40", 6, "protected"},		 /* protected not a map */
		{"\x84\x42\xa1\x01\xa0\x40\x40", 7, "protected"},	 /* truncated inside */
		{"\x84\xa0\xa0\x40\x40", 5, "protected"},		 /* protected not bstr */
		{"\x9b\xff\xff\xff\xff\xff\xff\xff\xff", 9, "document"}, /* huge length */
		{"\x81\x81\x81\x81\x81\x81\x81\x81\x81\x81\x00", 11, "document"}, /* deep */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT((const uint8_t *)bad[i].bytes, bad[i].len, pki.did, -EINVAL, bad[i].field);
}

static void cose_rejects_detached_or_empty_payload(void **state)
{
	(void)state;
	size_t len;
	uint8_t *doc = pki_sign(&pki, pki.did, FEED, 1, "{}", &len);
	/* ... bstr(2) "{}" bstr(64) sig: replace the payload by nil, drop the two bytes */
	uint8_t *p = memmem(doc, len, "\x42{}", 3);
	assert_non_null(p);
	p[0] = 0xf6;
	memmove(p + 1, p + 3, (size_t)(doc + len - (p + 3)));
	EXPECT(doc, len - 2, pki.did, -EINVAL, "payload");
	free(doc);
}

/* ---- did:x509 syntax ---- */

static void did_syntax_rejections_each_named(void **state)
{
	(void)state;
	char fp[64];
	const char *good = pki.did + strlen("did:x509:0:sha256:");
	snprintf(fp, sizeof(fp), "%.43s", good);
	static const struct {
		const char *fmt, *msg;
	} cases[] = {
		{"did:web:example.com", "not a did:x509"},
		{"did:x509:1:sha256:%s::subject:CN:a", "version"},
		{"did:x509:0:md5:%s::subject:CN:a", "fingerprint algorithm"},
		{"did:x509:0:sha384:%s::subject:CN:a", "base64url"},
		{"did:x509:0:sha256:%s==::subject:CN:a", "base64url"},
		{"did:x509:0:sha256:%s", "no predicate"},
		{"did:x509:0:sha256:%s::owner:CN:a", "unknown predicate"},
		{"did:x509:0:sha256:%s::fulcio-issuer:accounts.google.com", "not supported"},
		{"did:x509:0:sha256:%s::subject:CN", "pairs"},
		{"did:x509:0:sha256:%s::subject:CN:a:CN:b", "twice"},
		{"did:x509:0:sha256:%s::subject:XX:a", "neither"},
		{"did:x509:0:sha256:%s::subject:CN:a%%2", "percent"},
		{"did:x509:0:sha256:%s::subject:CN:a%%00", "NUL"},
		{"did:x509:0:sha256:%s::subject:CN:a b", "percent-encoded"},
		{"did:x509:0:sha256:%s::subject:CN:a/b", "percent-encoded"},
		{"did:x509:0:sha256:%s::san:ip:1.2.3.4", "email, dns or uri"},
		{"did:x509:0:sha256:%s::san:email", "TYPE:VALUE"},
		{"did:x509:0:sha256:%s::eku:code-signing", "OID"},
		{"did:x509:0:sha256:%s::eku:1..2", "OID"},
		{"did:x509:0:sha256:%s::subject::CN:a", "NAME:VALUE"},
		{"did:x509:0:sha256:%s::subject:CN:a:", "empty part"},
		{"did:x509:0:sha256:%s::subject:CN:a::", "NAME:VALUE"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char did[300];
		struct errbuf eb = {0};
		snprintf(did, sizeof(did), cases[i].fmt, fp);
		assert_int_equal(did_x509_check_syntax(did, &eb), -EINVAL);
		if (!strstr(errbuf_msg(&eb), cases[i].msg))
			fail_msg("%s: '%s' does not mention '%s'", did, errbuf_msg(&eb),
				 cases[i].msg);
	}
	struct errbuf eb = {0};
	assert_int_equal(did_x509_check_syntax(pki.did, &eb), 0);
	char ok[300];
	snprintf(ok, sizeof(ok),
		 "did:x509:0:sha256:%s::subject:2.5.4.3:a:O:b%%20c::eku:1.2.3::san:uri:https%%3A%%"
		 "2F%%2Fx",
		 fp);
	assert_int_equal(did_x509_check_syntax(ok, &eb), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cose_every_algorithm_verifies),
		cmocka_unit_test(cose_signer_output_decodes_with_its_headers),
		cmocka_unit_test(cose_rejects_missing_alg),
		cmocka_unit_test(cose_rejects_unsupported_alg),
		cmocka_unit_test(cose_rejects_alg_of_wrong_type),
		cmocka_unit_test(cose_rejects_alg_not_matching_the_ec_key),
		cmocka_unit_test(cose_rejects_rsa_alg_with_an_ec_key),
		cmocka_unit_test(cose_rejects_missing_x5chain),
		cmocka_unit_test(cose_rejects_x5chain_of_wrong_type),
		cmocka_unit_test(cose_rejects_x5chain_without_a_ca),
		cmocka_unit_test(cose_rejects_x5chain_with_a_bad_certificate),
		cmocka_unit_test(cose_rejects_missing_iss),
		cmocka_unit_test(cose_rejects_iss_of_wrong_type),
		cmocka_unit_test(cose_rejects_iss_other_than_the_trusted_did),
		cmocka_unit_test(cose_rejects_missing_feed),
		cmocka_unit_test(cose_rejects_empty_feed),
		cmocka_unit_test(cose_rejects_missing_svn),
		cmocka_unit_test(cose_rejects_negative_svn),
		cmocka_unit_test(cose_rejects_svn_of_wrong_type),
		cmocka_unit_test(cose_rejects_unknown_critical_header),
		cmocka_unit_test(cose_rejects_critical_header_not_present),
		cmocka_unit_test(cose_rejects_empty_crit),
		cmocka_unit_test(cose_accepts_known_critical_headers),
		cmocka_unit_test(cose_ignores_unknown_noncritical_headers),
		cmocka_unit_test(cose_rejects_duplicate_labels),
		cmocka_unit_test(cose_rejects_non_json_content_type),
		cmocka_unit_test(cose_accepts_missing_content_type),
		cmocka_unit_test(cose_accepts_cwt_claims_issuer_and_subject),
		cmocka_unit_test(cose_rejects_cwt_issuer_disagreeing_with_iss),
		cmocka_unit_test(cose_rejects_signed_fields_in_the_unprotected_header),
		cmocka_unit_test(cose_rejects_tampered_payload),
		cmocka_unit_test(cose_rejects_tampered_protected_header),
		cmocka_unit_test(cose_rejects_signature_of_wrong_length_or_key),
		cmocka_unit_test(cose_rejects_leaf_not_issued_by_the_chain_ca),
		cmocka_unit_test(cose_rejects_valid_chain_of_another_ca),
		cmocka_unit_test(cose_rejects_wrong_subject),
		cmocka_unit_test(cose_rejects_wrong_or_missing_eku),
		cmocka_unit_test(cose_checks_san_predicates),
		cmocka_unit_test(cose_rejects_expired_and_not_yet_valid_leaf),
		cmocka_unit_test(cose_rejects_leaf_that_may_not_sign),
		cmocka_unit_test(cose_rejects_small_rsa_keys),
		cmocka_unit_test(cose_did_may_pin_an_intermediate_or_the_root),
		cmocka_unit_test(cose_rejects_malformed_structure),
		cmocka_unit_test(cose_rejects_detached_or_empty_payload),
		cmocka_unit_test(did_syntax_rejections_each_named),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
