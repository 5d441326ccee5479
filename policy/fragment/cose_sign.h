/* cose_sign: create COSE_Sign1 policy fragments (host only: the signer's side of
 * policy/cose/cose_sign1.h). The guest never links this. */
#ifndef PARMA_POLICY_FRAGMENT_COSE_SIGN_H
#define PARMA_POLICY_FRAGMENT_COSE_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/errbuf.h"

struct evp_pkey_st;
struct stack_st_X509;

struct cose_sign_input {
	const uint8_t *payload; /* the fragment JSON */
	size_t payload_len;
	const char *issuer, *feed;
	uint64_t svn;
	struct stack_st_X509 *chain; /* leaf first; its leaf must match key */
	struct evp_pkey_st *key;
	int alg; /* enum cose_alg; 0 = chosen from the key (EC P-256 ES256, P-384 ES384, RSA PS256)
		  */
};

/* Sign with protected header {alg, content type "application/json", x5chain, "iss", "feed",
 * "svn"} and an empty unprotected header, tagged 18. Caller frees *out. Returns 0, -EINVAL
 * (key/alg/chain mismatch, named in eb) or -ENOMEM. */
int cose_sign_fragment(const struct cose_sign_input *in, uint8_t **out, size_t *out_len,
		       struct errbuf *eb);

/* The lower level, for tools and tests that build unusual headers: sign an already serialized
 * protected header (a CBOR map) and append `unprotected` (a serialized CBOR map; NULL = {}).
 * Caller frees *out. */
int cose_sign_assemble(const uint8_t *protected_hdr, size_t protected_len,
		       const uint8_t *unprotected, size_t unprotected_len, const uint8_t *payload,
		       size_t payload_len, struct evp_pkey_st *key, int alg, uint8_t **out,
		       size_t *out_len, struct errbuf *eb);

/* The algorithm a key signs with by default (see cose_sign_input.alg), or 0. */
int cose_sign_default_alg(struct evp_pkey_st *key);

#endif
