/* Fuzz target: request sequences against a fixed policy. The input is one
 * JSON request per line. Invariants checked after every request: a denied
 * request leaves the engine state byte-for-byte unchanged; an allowed one,
 * when reverted (every third one), restores the state exactly. */
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "policy/lang/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define H(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c
static const char policy_text[] =
	"{\"version\":1,\"allow_environment_variable_dropping\":true,"
	"\"containers\":["
	"{\"name\":\"web\",\"layers\":[\"" H("aa") "\",\"" H(
		"bb") "\"],\"command\":[\"/web\"],"
		      " \"env_rules\":[{\"pattern\":\"PATH=/"
		      "bin\",\"required\":true},{\"pattern\":\"T=[a-z]{2,8}\",\"strategy\":"
		      "\"regex\"},"
		      "               {\"pattern\":\"R=(a+)+b\",\"strategy\":\"regex\"}],"
		      " \"exec_processes\":[{\"command\":[\"/"
		      "ps\"],\"signals\":[9]}],\"signals\":[15],"
		      " \"mounts\":[{\"source\":\"scratch://"
		      "[0-9]+\",\"source_strategy\":\"regex\",\"destination\":\"/"
		      "d\",\"type\":\"bind\"}]},"
		      "{\"name\":\"web2\",\"layers\":[\"" H("aa") "\",\"" H(
			      "bb") "\"],\"command\":[\"/web\"],\"allow_stdio_access\":true},"
				    "{\"name\":\"db\",\"layers\":[\"" H("aa") "\",\"" H(
					    "cc") "\"],\"command\":[\"/"
						  "db\"],\"allow_elevated\":true}],"
						  "\"external_processes\":[{\"command\":[\"/"
						  "ls\"]}],"
						  "\"fragments\":[{\"issuer\":\"did:x509:0:sha256:"
						  "KCFl6HEfyMghHDA8IkMLMxc2R_XND47WkWEShQb6BfM::"
						  "subject:CN:Parma%20Test%20Fragment%20Signer\","
						  "\"feed\":\"example/sidecars\","
						  "\"minimum_svn\":1,\"includes\":[\"containers\"]}"
						  "]}";

static char *snapshot(struct policy_engine *e)
{
	char *s = NULL;
	if (policy_engine_state_json(e, &s))
		abort();
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy_engine *e = policy_engine_new();
	struct policy_decision d;
	struct policy_digest dg;
	if (!e)
		abort();
	policy_digest((const uint8_t *)policy_text, strlen(policy_text), &dg);
	struct policy_req_install_policy in = {(const uint8_t *)policy_text, strlen(policy_text),
					       dg.sha256};
	if (policy_engine_install(e, &in, &d))
		abort();
	size_t pos = 0, n = 0;
	while (pos < size && n++ < 64) {
		const uint8_t *nl = memchr(data + pos, '\n', size - pos);
		size_t len = nl ? (size_t)(nl - (data + pos)) : size - pos;
		struct json_tokener *tok = json_tokener_new_ex(POLICY_MAX_JSON_DEPTH);
		struct json_object *o =
			json_tokener_parse_ex(tok, (const char *)data + pos, (int)len);
		json_tokener_free(tok);
		pos += len + 1;
		if (!o)
			continue;
		char *before = snapshot(e);
		int ret = policy_decide_json(e, o, &d);
		char *after = snapshot(e);
		if (ret != 0 && (d.allowed || strcmp(before, after)))
			abort(); /* a denial changed the state */
		if (ret == 0 && !d.allowed)
			abort();
		if (ret == 0 && n % 3 == 0 && d.type != POLICY_REQ_EXEC_EXTERNAL &&
		    d.type != POLICY_REQ_GET_PROPERTIES && !d.debug &&
		    d.type != POLICY_REQ_DUMP_STACKS && d.type != POLICY_REQ_RUNTIME_LOGGING &&
		    d.type < POLICY_REQ_START_CONTAINER /* protocol requests record nothing */) {
			int rv = policy_engine_revert(e);
			/* nothing to revert only for an allowed request that changed nothing (a
			 * fragment loaded again) */
			if (rv && (rv != -ENOENT || strcmp(before, after)))
				abort();
			char *reverted = snapshot(e);
			if (strcmp(before, reverted))
				abort(); /* revert did not restore the state */
			free(reverted);
		}
		struct json_object *dj = policy_decision_to_json(&d, NULL);
		json_object_put(dj);
		free(before);
		free(after);
		json_object_put(o);
	}
	policy_engine_free(e);
	return 0;
}
