/* kbs_jwe: JWK reading and JWE encryption with OpenSSL 3. */
#include "vmm/kbs/kbs_jwe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "common/encoding.h"

char *kbs_b64url_encode(const uint8_t *in, size_t len)
{
	char *out = malloc(base64_encoded_len(len) + 1);
	if (!out)
		return NULL;
	base64_encode(in, len, out);
	size_t j = 0;
	for (size_t i = 0; out[i] && out[i] != '='; i++)
		out[j++] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	out[j] = 0;
	return out;
}

long kbs_b64url_decode(const char *in, uint8_t *out, size_t max)
{
	size_t n = strlen(in);
	if (n % 4 == 1 || n > (size_t)4 * (KBS_RSA_MAX_BITS + 1024 * 1024))
		return -EINVAL;
	char *std = malloc(n + 4);
	if (!std)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (c == '+' || c == '/' || c == '=') {
			free(std);
			return -EINVAL;
		}
		std[i] = c == '-' ? '+' : c == '_' ? '/' : c;
	}
	size_t m = n;
	while (m % 4)
		std[m++] = '=';
	std[m] = 0;
	long r = base64_decode(std, out, max);
	free(std);
	return r;
}

void kbs_tee_key_clear(struct kbs_tee_key *k)
{
	EVP_PKEY_free(k->pkey);
	k->pkey = NULL;
}

static int jwk_bignum(struct json_object *jwk, const char *name, const char *what, size_t max_bytes,
		      BIGNUM **out, struct errbuf *eb)
{
	struct json_object *v;
	if (!json_object_object_get_ex(jwk, name, &v) || !json_object_is_type(v, json_type_string))
		return errbuf_set(eb, EINVAL, "%s.%s: expected a base64url string", what, name);
	uint8_t *buf = malloc(max_bytes);
	if (!buf)
		return errbuf_set(eb, ENOMEM, "out of memory");
	long n = kbs_b64url_decode(json_object_get_string(v), buf, max_bytes);
	if (n <= 0) {
		free(buf);
		return errbuf_set(eb, EINVAL, "%s.%s: not base64url, or longer than %zu bytes",
				  what, name, max_bytes);
	}
	*out = BN_bin2bn(buf, (int)n, NULL);
	free(buf);
	return *out ? 0 : errbuf_set(eb, ENOMEM, "out of memory");
}

int kbs_tee_key_from_jwk(struct json_object *jwk, const char *what, struct kbs_tee_key *out,
			 struct errbuf *eb)
{
	struct json_object *v;
	const char *kty, *alg;
	memset(out, 0, sizeof(*out));
	if (!json_object_is_type(jwk, json_type_object))
		return errbuf_set(eb, EINVAL, "%s: expected a JWK object", what);
	if (!json_object_object_get_ex(jwk, "kty", &v) || !json_object_is_type(v, json_type_string))
		return errbuf_set(eb, EINVAL, "%s.kty: expected a string", what);
	kty = json_object_get_string(v);
	if (strcmp(kty, "RSA"))
		return errbuf_set(eb, ENOTSUP,
				  "%s.kty: \"%.16s\" keys are not supported (RSA only)", what, kty);
	if (!json_object_object_get_ex(jwk, "alg", &v) || !json_object_is_type(v, json_type_string))
		return errbuf_set(eb, EINVAL, "%s.alg: expected a string", what);
	alg = json_object_get_string(v);
	if (!strcmp(alg, "RSA-OAEP-256"))
		out->alg = KBS_JWE_RSA_OAEP_256;
	else if (!strcmp(alg, "RSA-OAEP"))
		out->alg = KBS_JWE_RSA_OAEP;
	else
		return errbuf_set(eb, ENOTSUP,
				  "%s.alg: \"%.16s\" is not supported (RSA-OAEP-256 or RSA-OAEP; "
				  "RSA1_5 is refused: padding-oracle prone)",
				  what, alg);
	BIGNUM *n = NULL, *e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	int r = jwk_bignum(jwk, "n", what, KBS_RSA_MAX_BITS / 8 + 1, &n, eb);
	if (!r)
		r = jwk_bignum(jwk, "e", what, 8, &e, eb);
	if (r)
		goto out;
	int bits = BN_num_bits(n);
	if (bits < KBS_RSA_MIN_BITS || bits > KBS_RSA_MAX_BITS) {
		r = errbuf_set(eb, EINVAL, "%s.n: %d-bit modulus (%d-%d bits accepted)", what, bits,
			       KBS_RSA_MIN_BITS, KBS_RSA_MAX_BITS);
		goto out;
	}
	if (!BN_is_odd(e) || BN_is_one(e)) {
		r = errbuf_set(eb, EINVAL, "%s.e: not a valid RSA public exponent", what);
		goto out;
	}
	bld = OSSL_PARAM_BLD_new();
	if (!bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    !(params = OSSL_PARAM_BLD_to_param(bld)) ||
	    !(ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &out->pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		r = errbuf_set(eb, EINVAL, "%s: not a usable RSA public key", what);
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return r;
}

static int rsa_wrap(const struct kbs_tee_key *k, const uint8_t *cek, size_t cek_len, uint8_t **out,
		    size_t *out_len)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
	const char *md = k->alg == KBS_JWE_RSA_OAEP_256 ? "SHA256" : "SHA1";
	int r = -EIO;
	*out = NULL;
	if (!ctx || EVP_PKEY_encrypt_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx, md, NULL) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md_name(ctx, md, NULL) <= 0 ||
	    EVP_PKEY_encrypt(ctx, NULL, out_len, cek, cek_len) <= 0)
		goto out;
	*out = malloc(*out_len);
	if (*out && EVP_PKEY_encrypt(ctx, *out, out_len, cek, cek_len) > 0)
		r = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	return r;
}

static int aes_gcm(const uint8_t key[32], const uint8_t iv[12], const char *aad, const uint8_t *in,
		   size_t len, uint8_t *out, uint8_t tag[16])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, r = -EIO;
	if (len > INT32_MAX)
		goto out;
	if (c && EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv) > 0 &&
	    EVP_EncryptUpdate(c, NULL, &n, (const uint8_t *)aad, (int)strlen(aad)) > 0 &&
	    (len == 0 || EVP_EncryptUpdate(c, out, &n, in, (int)len) > 0) &&
	    EVP_EncryptFinal_ex(c, out + (len ? n : 0), &n) > 0 &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) > 0)
		r = 0;
out:
	EVP_CIPHER_CTX_free(c);
	return r;
}

int kbs_jwe_encrypt(const struct kbs_tee_key *k, const uint8_t *data, size_t len, char **out,
		    struct errbuf *eb)
{
	uint8_t cek[32], iv[12], tag[16];
	uint8_t *wrapped = NULL, *ct = malloc(len ? len : 1);
	size_t wrapped_len = 0;
	char *hdr_b64 = NULL, *parts[4] = {NULL};
	struct json_object *jwe = NULL;
	const char *hdr = k->alg == KBS_JWE_RSA_OAEP_256
				  ? "{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\"}"
				  : "{\"alg\":\"RSA-OAEP\",\"enc\":\"A256GCM\"}";
	int r = -ENOMEM;
	*out = NULL;
	if (!ct)
		goto out;
	if (RAND_bytes(cek, sizeof(cek)) != 1 || RAND_bytes(iv, sizeof(iv)) != 1) {
		r = errbuf_set(eb, EIO, "jwe: no randomness");
		goto out;
	}
	if (!(hdr_b64 = kbs_b64url_encode((const uint8_t *)hdr, strlen(hdr))))
		goto out;
	if (rsa_wrap(k, cek, sizeof(cek), &wrapped, &wrapped_len) < 0 ||
	    aes_gcm(cek, iv, hdr_b64, data, len, ct, tag) < 0) {
		r = errbuf_set(eb, EIO, "jwe: encryption failed");
		goto out;
	}
	parts[0] = kbs_b64url_encode(wrapped, wrapped_len);
	parts[1] = kbs_b64url_encode(iv, sizeof(iv));
	parts[2] = kbs_b64url_encode(ct, len);
	parts[3] = kbs_b64url_encode(tag, sizeof(tag));
	jwe = json_object_new_object();
	if (!jwe || !parts[0] || !parts[1] || !parts[2] || !parts[3])
		goto out;
	json_object_object_add(jwe, "protected", json_object_new_string(hdr_b64));
	json_object_object_add(jwe, "encrypted_key", json_object_new_string(parts[0]));
	json_object_object_add(jwe, "iv", json_object_new_string(parts[1]));
	json_object_object_add(jwe, "ciphertext", json_object_new_string(parts[2]));
	json_object_object_add(jwe, "tag", json_object_new_string(parts[3]));
	*out = strdup(json_object_to_json_string_ext(jwe, JSON_C_TO_STRING_PLAIN |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
	r = *out ? 0 : -ENOMEM;
out:
	if (r == -ENOMEM)
		errbuf_set(eb, ENOMEM, "out of memory");
	OPENSSL_cleanse(cek, sizeof(cek));
	if (ct)
		OPENSSL_cleanse(ct, len);
	free(ct);
	free(wrapped);
	free(hdr_b64);
	for (size_t i = 0; i < 4; i++)
		free(parts[i]);
	json_object_put(jwe);
	return r;
}
