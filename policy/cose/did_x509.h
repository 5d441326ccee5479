/* did_x509: the did:x509 DID method (version 0): an issuer identifier that pins a CA
 * certificate by fingerprint and names the leaf it accepts by predicates.
 *
 *   did:x509:0:sha256:<base64url of the CA certificate's digest>::subject:CN:Fragment%20Signer
 *   did:x509:0:sha384:<...>::eku:1.3.6.1.5.5.7.3.3::subject:O:Example
 *
 * Predicates: `subject` (pairs of CN, L, ST, O, OU, C, STREET or a dotted OID and a
 * percent-encoded value, no key twice, each equal to the leaf's single attribute of that
 * type), `san` (email, dns or uri and a percent-encoded value, one of the leaf's SANs) and
 * `eku` (a dotted OID in the leaf's extended key usage). `fulcio-issuer` is refused. Resolution
 * (did_x509_resolve) needs a chain that was already path-validated, leaf first: the
 * fingerprint must match one of its non-leaf certificates and every predicate the leaf. */
#ifndef PARMA_POLICY_COSE_DID_X509_H
#define PARMA_POLICY_COSE_DID_X509_H

#include <stddef.h>

#include "common/errbuf.h"

#define DID_X509_MAX 1024 /* bytes of a DID */

struct stack_st_X509;

/* Check the syntax of a DID (prefix, version, fingerprint algorithm and length, predicate
 * names and values, percent-encoding). Returns 0 or -EINVAL with eb naming the part. */
int did_x509_check_syntax(const char *did, struct errbuf *eb);

/* Resolve `did` against a path-validated chain (leaf first). Returns 0, -EACCES when the chain
 * does not match (eb says which predicate or the fingerprint), -EINVAL for a malformed DID,
 * -ENOMEM. */
int did_x509_resolve(const char *did, struct stack_st_X509 *chain, struct errbuf *eb);

#endif
