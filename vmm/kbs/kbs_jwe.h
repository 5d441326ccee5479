/* kbs_jwe: the TEE's public key as a JWK (RFC 7517) and the resource as a JWE
 * (RFC 7516, flattened JSON serialization) encrypted to it: alg RSA-OAEP-256 or
 * RSA-OAEP wraps a fresh AES-256 key, enc A256GCM encrypts the secret with
 * AAD = ASCII(BASE64URL(protected header)), as Trustee's KBS responds. */
#ifndef PARMA_KBS_KBS_JWE_H
#define PARMA_KBS_KBS_JWE_H

#include <stddef.h>
#include <stdint.h>

#include "common/errbuf.h"

struct json_object;
struct evp_pkey_st;

#define KBS_RSA_MIN_BITS 2048
#define KBS_RSA_MAX_BITS 8192

enum kbs_jwe_alg {
	KBS_JWE_RSA_OAEP = 1, /* OAEP with SHA-1 and MGF1-SHA-1 */
	KBS_JWE_RSA_OAEP_256, /* OAEP with SHA-256 and MGF1-SHA-256 */
};

struct kbs_tee_key {
	struct evp_pkey_st *pkey;
	enum kbs_jwe_alg alg;
};

/* Base64url without padding (RFC 7515 section 2). Encode returns a malloc'd
 * string (NULL on ENOMEM); decode returns the length or -EINVAL / -E2BIG. */
char *kbs_b64url_encode(const uint8_t *in, size_t len);
long kbs_b64url_decode(const char *in, uint8_t *out, size_t max);

/* Read a TEE public key JWK: {"kty": "RSA", "alg": "RSA-OAEP-256"|"RSA-OAEP",
 * "n", "e"} with a 2048-8192-bit modulus. Other key types and RSA1_5 are
 * refused by name. Errors name the member (path prefix `what`). */
int kbs_tee_key_from_jwk(struct json_object *jwk, const char *what, struct kbs_tee_key *out,
			 struct errbuf *eb);
void kbs_tee_key_clear(struct kbs_tee_key *k);

/* Encrypt `len` bytes to the key; *out is the flattened JWE JSON text
 * (caller frees). */
int kbs_jwe_encrypt(const struct kbs_tee_key *k, const uint8_t *data, size_t len, char **out,
		    struct errbuf *eb);

#endif
