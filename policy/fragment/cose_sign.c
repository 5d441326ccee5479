/* cose_sign: serialize and sign COSE_Sign1 fragments with libcbor and OpenSSL. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "policy/cose/cose_sign1.h"
#include "policy/fragment/cose_sign.h"

int cose_sign_default_alg(EVP_PKEY *key)
{
	char group[64] = "";
	size_t gl = 0;
	if (EVP_PKEY_is_a(key, "EC") && EVP_PKEY_get_group_name(key, group, sizeof(group), &gl))
		return !strcmp(group, "prime256v1")  ? COSE_ALG_ES256
		       : !strcmp(group, "secp384r1") ? COSE_ALG_ES384
						     : 0;
	if (EVP_PKEY_is_a(key, "RSA"))
		return COSE_ALG_PS256;
	return 0;
}

/* Append one CBOR head (major type, argument) to buf. */
static size_t put_head(uint8_t *buf, uint8_t major, uint64_t n)
{
	major <<= 5;
	if (n < 24) {
		buf[0] = major | (uint8_t)n;
		return 1;
	}
	size_t bytes = n <= 0xff ? 1 : n <= 0xffff ? 2 : n <= 0xffffffffu ? 4 : 8;
	buf[0] = major | (bytes == 1 ? 24 : bytes == 2 ? 25 : bytes == 4 ? 26 : 27);
	for (size_t i = 0; i < bytes; i++)
		buf[1 + i] = (uint8_t)(n >> (8 * (bytes - 1 - i)));
	return 1 + bytes;
}

static size_t put_bstr(uint8_t *buf, const uint8_t *d, size_t n)
{
	size_t h = put_head(buf, 2, n);
	memcpy(buf + h, d, n);
	return h + n;
}

/* DER ECDSA-Sig-Value to raw r||s of 2*field bytes (RFC 9053). */
static int ecdsa_raw(const uint8_t *der, size_t der_len, size_t field, uint8_t *raw)
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	if (!sig)
		return -EINVAL;
	const BIGNUM *r, *s;
	ECDSA_SIG_get0(sig, &r, &s);
	int ok = BN_bn2binpad(r, raw, (int)field) > 0 &&
		 BN_bn2binpad(s, raw + field, (int)field) > 0;
	ECDSA_SIG_free(sig);
	return ok ? 0 : -EINVAL;
}

int cose_sign_assemble(const uint8_t *prot, size_t prot_len, const uint8_t *unprot,
		       size_t unprot_len, const uint8_t *payload, size_t payload_len, EVP_PKEY *key,
		       int alg, uint8_t **out, size_t *out_len, struct errbuf *eb)
{
	static const uint8_t empty_map = 0xa0;
	const char *md_name = alg == COSE_ALG_ES256 || alg == COSE_ALG_PS256   ? "SHA256"
			      : alg == COSE_ALG_ES384 || alg == COSE_ALG_PS384 ? "SHA384"
									       : NULL;
	bool ec = alg == COSE_ALG_ES256 || alg == COSE_ALG_ES384;
	if (!md_name)
		return errbuf_set(eb, EINVAL, "algorithm %d is not ES256, ES384, PS256 or PS384",
				  alg);
	if (!unprot) {
		unprot = &empty_map;
		unprot_len = 1;
	}
	*out = NULL;
	/* Sig_structure = ["Signature1", protected, h'', payload] */
	size_t tbs_cap = 32 + prot_len + payload_len;
	uint8_t *tbs = malloc(tbs_cap);
	size_t sig_cap = (size_t)EVP_PKEY_get_size(key) + 16;
	uint8_t *sig = malloc(sig_cap), *doc = NULL;
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int ret = -ENOMEM;
	if (!tbs || !sig || !mctx)
		goto out;
	size_t n = put_head(tbs, 4, 4);
	n += put_head(tbs + n, 3, 10);
	memcpy(tbs + n, "Signature1", 10);
	n += 10;
	n += put_bstr(tbs + n, prot, prot_len);
	n += put_head(tbs + n, 2, 0);
	n += put_bstr(tbs + n, payload, payload_len);
	const EVP_MD *md = EVP_get_digestbyname(md_name);
	size_t sig_len = sig_cap;
	if (!md || EVP_DigestSignInit(mctx, &pctx, md, NULL, key) != 1) {
		ret = errbuf_set(eb, EINVAL, "the key cannot sign with %s", cose_alg_name(alg));
		goto out;
	}
	if (!ec && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1)) {
		ret = errbuf_set(eb, EINVAL, "%s needs an RSA key", cose_alg_name(alg));
		goto out;
	}
	if (EVP_DigestSign(mctx, sig, &sig_len, tbs, n) != 1) {
		ret = errbuf_set(eb, EINVAL, "signing failed");
		goto out;
	}
	if (ec) {
		size_t field = alg == COSE_ALG_ES256 ? 32 : 48;
		uint8_t raw[96];
		if (ecdsa_raw(sig, sig_len, field, raw)) {
			ret = errbuf_set(eb, EINVAL, "%s needs an EC key", cose_alg_name(alg));
			goto out;
		}
		memcpy(sig, raw, 2 * field);
		sig_len = 2 * field;
	}
	size_t doc_cap = 64 + prot_len + unprot_len + payload_len + sig_len;
	doc = malloc(doc_cap);
	if (!doc)
		goto out;
	size_t d = put_head(doc, 6, COSE_CBOR_TAG_SIGN1);
	d += put_head(doc + d, 4, 4);
	d += put_bstr(doc + d, prot, prot_len);
	memcpy(doc + d, unprot, unprot_len);
	d += unprot_len;
	d += put_bstr(doc + d, payload, payload_len);
	d += put_bstr(doc + d, sig, sig_len);
	*out = doc;
	*out_len = d;
	doc = NULL;
	ret = 0;
out:
	if (ret == -ENOMEM)
		errbuf_set(eb, ENOMEM, "out of memory");
	free(doc);
	free(tbs);
	free(sig);
	EVP_MD_CTX_free(mctx);
	return ret;
}

static bool map_add(cbor_item_t *map, cbor_item_t *k, cbor_item_t *v)
{
	bool ok = k && v && cbor_map_add(map, (struct cbor_pair){k, v});
	if (k)
		cbor_decref(&k);
	if (v)
		cbor_decref(&v);
	return ok;
}

/* The shortest encoding of an unsigned argument (deterministic CBOR, RFC 8949 4.2.1). */
static cbor_item_t *uint_item(uint64_t n, bool negative)
{
	cbor_item_t *it = n <= UINT8_MAX    ? cbor_build_uint8((uint8_t)n)
			  : n <= UINT16_MAX ? cbor_build_uint16((uint16_t)n)
			  : n <= UINT32_MAX ? cbor_build_uint32((uint32_t)n)
					    : cbor_build_uint64(n);
	if (it && negative)
		cbor_mark_negint(it);
	return it;
}

static cbor_item_t *int_item(int64_t v)
{
	return v >= 0 ? uint_item((uint64_t)v, false) : uint_item((uint64_t)(-1 - v), true);
}

int cose_sign_fragment(const struct cose_sign_input *in, uint8_t **out, size_t *out_len,
		       struct errbuf *eb)
{
	int alg = in->alg ? in->alg : cose_sign_default_alg(in->key);
	int n = sk_X509_num(in->chain);
	if (!alg)
		return errbuf_set(eb, EINVAL,
				  "no COSE algorithm for this key type (EC P-256, "
				  "EC P-384 or RSA)");
	if (n < 1 || n > COSE_MAX_CHAIN)
		return errbuf_set(eb, EINVAL, "the chain must have 1 to %d certificates",
				  COSE_MAX_CHAIN);
	if (X509_check_private_key(sk_X509_value(in->chain, 0), in->key) != 1)
		return errbuf_set(eb, EINVAL,
				  "the key does not match the chain's first (leaf) "
				  "certificate");
	cbor_item_t *map = cbor_new_definite_map(6), *chain = cbor_new_definite_array((size_t)n);
	unsigned char *prot = NULL;
	size_t prot_len = 0, cap = 0;
	int ret = -ENOMEM;
	if (!map || !chain)
		goto out;
	for (int i = 0; i < n; i++) {
		unsigned char *der = NULL;
		int len = i2d_X509(sk_X509_value(in->chain, i), &der);
		cbor_item_t *b = len > 0 ? cbor_build_bytestring(der, (size_t)len) : NULL;
		OPENSSL_free(der);
		bool ok = b && cbor_array_push(chain, b);
		if (b)
			cbor_decref(&b);
		if (!ok)
			goto out;
	}
	bool ok = map_add(map, int_item(COSE_HDR_ALG), int_item(alg)) &&
		  map_add(map, int_item(COSE_HDR_CONTENT_TYPE),
			  cbor_build_string("application/json"));
	if (ok) {
		ok = map_add(map, int_item(COSE_HDR_X5CHAIN), chain); /* takes our reference */
		chain = NULL;
	}
	ok = ok && map_add(map, cbor_build_string(COSE_HDR_ISS), cbor_build_string(in->issuer)) &&
	     map_add(map, cbor_build_string(COSE_HDR_FEED), cbor_build_string(in->feed)) &&
	     map_add(map, cbor_build_string(COSE_HDR_SVN), uint_item(in->svn, false));
	if (!ok)
		goto out;
	prot_len = cbor_serialize_alloc(map, &prot, &cap);
	if (!prot_len)
		goto out;
	ret = cose_sign_assemble(prot, prot_len, NULL, 0, in->payload, in->payload_len, in->key,
				 alg, out, out_len, eb);
out:
	if (ret == -ENOMEM)
		errbuf_set(eb, ENOMEM, "out of memory");
	free(prot);
	if (chain)
		cbor_decref(&chain);
	if (map)
		cbor_decref(&map);
	return ret;
}
