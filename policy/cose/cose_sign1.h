/* cose_sign1: signed statements as COSE_Sign1 documents (RFC 9052) carrying their X.509
 * certificate chain (RFC 9360 x5chain) and a did:x509 issuer, the form hcsshim uses for
 * policy fragments.
 *
 * Decoding checks the structure only; cose_sign1_verify() then checks everything a relying
 * party must: the chain (RFC 5280 path validation, the last certificate the anchor), the
 * issuer DID against that chain (did_x509.h), and the signature by the leaf key. Nothing of a
 * document may be trusted before verify returned 0.
 *
 * This runs in the guest: every size is bounded (COSE_MAX_*), all input is hostile, and a
 * failure names the part at fault in `fault->field` ("alg", "x5chain", "iss", "signature",
 * ...) with one line in `fault->eb`. */
#ifndef PARMA_POLICY_COSE_COSE_SIGN1_H
#define PARMA_POLICY_COSE_COSE_SIGN1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/errbuf.h"

#define COSE_MAX_DOCUMENT (1u << 20) /* a whole COSE_Sign1 document */
#define COSE_MAX_ITEMS	  4096	     /* CBOR data items in a document */
#define COSE_MAX_DEPTH	  8	     /* CBOR nesting */
#define COSE_MAX_CHAIN	  8	     /* certificates in x5chain */
#define COSE_MAX_CERT	  (16u << 10)
#define COSE_MAX_TEXT	  1024 /* iss, feed, content type */

/* Algorithms (IANA COSE registry). */
enum cose_alg {
	COSE_ALG_ES256 = -7,
	COSE_ALG_ES384 = -35,
	COSE_ALG_PS256 = -37,
	COSE_ALG_PS384 = -38,
};

/* Header labels. Integer labels are IANA's; "iss" and "feed" are the text labels hcsshim and
 * Microsoft's COSE signing tools use for the issuer DID and the feed; "svn" is Parma's, in the
 * same style (an unsigned integer). */
#define COSE_HDR_ALG	      1
#define COSE_HDR_CRIT	      2
#define COSE_HDR_CONTENT_TYPE 3
#define COSE_HDR_CWT_CLAIMS   15 /* RFC 9597: {1: iss, 2: sub}; sub is the feed */
#define COSE_HDR_X5CHAIN      33
#define COSE_HDR_ISS	      "iss"
#define COSE_HDR_FEED	      "feed"
#define COSE_HDR_SVN	      "svn"
#define COSE_CBOR_TAG_SIGN1   18

/* Which part of a document a failure is about, and why. */
struct cose_fault {
	char field[32];
	struct errbuf eb;
};

/* A decoded, NOT yet verified document. Pointers stay valid until cose_sign1_free(). */
struct cose_sign1 {
	int alg;		  /* enum cose_alg */
	const char *issuer;	  /* "iss" (or CWT claim 1) */
	const char *feed;	  /* "feed" (or CWT claim 2) */
	uint64_t svn;		  /* "svn" */
	const char *content_type; /* NULL when absent */
	size_t n_chain;		  /* leaf first */
	const uint8_t *chain[COSE_MAX_CHAIN];
	size_t chain_len[COSE_MAX_CHAIN];
	const uint8_t *protected_hdr; /* the serialized protected header, as signed */
	size_t protected_len;
	const uint8_t *payload;
	size_t payload_len;
	const uint8_t *signature;
	size_t signature_len;
	void *priv;
};

/* Decode and check the structure: (tag 18) [protected bstr, unprotected map, payload bstr,
 * signature bstr]; the protected header carries alg (one of enum cose_alg), x5chain, iss, feed
 * and svn with the right types, no label twice, and every label listed in crit is one this
 * decoder understands and is present. Unknown non-critical labels are ignored (RFC 9052); the
 * fields above may not appear in the unprotected header. Returns 0, -EINVAL, -E2BIG or
 * -ENOMEM. */
int cose_sign1_decode(const uint8_t *doc, size_t len, struct cose_sign1 **out,
		      struct cose_fault *fault);
void cose_sign1_free(struct cose_sign1 *m);

/* Verify a decoded document against the issuer DID a policy trusts: the chain is a valid path
 * at `now` (0: the current time) from the leaf to the last certificate, the leaf may sign,
 * `did` resolves against that chain (its CA fingerprint and predicates), the document's issuer
 * header equals `did`, and the signature over the Sig_structure verifies with the leaf's key
 * and the document's alg. Returns 0, -EACCES (does not verify; fault says which part),
 * -EINVAL (malformed certificate) or -ENOMEM. */
int cose_sign1_verify(const struct cose_sign1 *m, const char *did, time_t now,
		      struct cose_fault *fault);

/* "ES256" ...; NULL for an algorithm this code does not support. */
const char *cose_alg_name(int alg);
int cose_alg_from_name(const char *name); /* 0 when unknown */

#endif
