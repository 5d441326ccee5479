/* Fuzz the COSE_Sign1 decoder (libcbor behind the bounded pre-pass) and, for documents that
 * decode, the chain / did:x509 / signature verification; and the did:x509 syntax checker.
 * Invariants: no crash, no leak, and a decoded document's fields lie inside their limits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/cose/cose_sign1.h"
#include "policy/cose/did_x509.h"

#define TEST_DID                                                                                   \
	"did:x509:0:sha256:KCFl6HEfyMghHDA8IkMLMxc2R_XND47WkWEShQb6BfM::subject:CN:Parma%20Test%"  \
	"20"                                                                                       \
	"Fragment%20Signer"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cose_fault f = {0};
	struct cose_sign1 *m = NULL;
	if (!cose_sign1_decode(data, size, &m, &f)) {
		if (!m->issuer || !m->feed || strlen(m->issuer) > COSE_MAX_TEXT || m->n_chain < 1 ||
		    m->n_chain > COSE_MAX_CHAIN || !m->payload_len || !cose_alg_name(m->alg))
			abort();
		cose_sign1_verify(m, m->issuer, 0, &f);
		cose_sign1_verify(m, TEST_DID, 0, &f);
		struct errbuf eb = {0};
		did_x509_check_syntax(m->issuer, &eb);
		cose_sign1_free(m);
	} else if (m) {
		abort(); /* a failed decode hands out nothing */
	}
	if (size <= DID_X509_MAX) {
		char did[DID_X509_MAX + 1];
		memcpy(did, data, size);
		did[size] = 0;
		struct errbuf eb = {0};
		did_x509_check_syntax(did, &eb);
	}
	return 0;
}
