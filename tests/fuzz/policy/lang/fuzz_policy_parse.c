/* Fuzz target: the policy parser/validator and the request parser on
 * arbitrary bytes. Must never crash, leak or hang; a document it accepts
 * must install into an engine whose state serialises. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "policy/lang/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy *p = NULL;
	struct errbuf eb = {0};
	if (policy_load(data, size, &p, &eb) == 0) {
		struct policy_engine *e = policy_engine_new();
		struct policy_decision d;
		struct policy_digest dg;
		char *s = NULL;
		if (!e || policy_digest(data, size, &dg))
			abort();
		struct policy_req_install_policy in = {data, size, dg.sha256};
		if (policy_engine_install(e, &in, &d) != 0 || policy_engine_state_json(e, &s))
			abort(); /* load accepted it, so install must too */
		free(s);
		policy_engine_free(e);
		policy_free(p);
	} else if (!eb.msg[0]) {
		abort(); /* every rejection names its reason */
	}
	struct policy_request q;
	if (policy_request_parse((const char *)data, size, &q, &eb) == 0)
		policy_request_clear(&q);
	return 0;
}
