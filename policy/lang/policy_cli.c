/* `parma policy check|digest|explain|diff`. */
#include "policy/lang/policy_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/cli.h"
#include "common/errbuf.h"
#include "common/fileio.h"
#include "policy/lang/policy.h"
#include "policy/lang/policy_runenv.h"

#define DEBUG_WARNING                                                                              \
	"WARNING: this is the DEBUG allow-all policy (insecure_allow_all): it allows every "       \
	"request. Never deploy it."

/* Read and validate a policy file; prints the error and returns an exit code. */
static int load_file(const char *prog, const char *path, uint8_t **bytes, size_t *len,
		     struct policy **p)
{
	struct errbuf eb = {0};
	*bytes = NULL;
	*p = NULL;
	int ret = file_read_all(path, POLICY_MAX_BYTES, bytes, len, &eb);
	if (ret)
		return cli_error(prog, ret == -E2BIG ? CLI_BAD_INPUT : CLI_BAD_INPUT, "%s",
				 errbuf_msg(&eb));
	ret = policy_load(*bytes, *len, p, &eb);
	if (ret) {
		free(*bytes);
		*bytes = NULL;
		return cli_error(prog, ret == -ENOMEM ? CLI_INTERNAL : CLI_BAD_INPUT, "%s: %s",
				 path, errbuf_msg(&eb));
	}
	return CLI_OK;
}

int policy_cli_check(int argc, char **argv)
{
	static const struct cli_spec spec = {
		.usage = "Usage: %s FILE\n\nValidate an execution policy. Errors name the JSON "
			 "path.\n"
			 "Exit: 0 valid, 3 invalid.\n",
		.min_operands = 1, .max_operands = 1,
		.operands_error = "expected exactly one policy FILE",
	};
	int code, first = cli_start(argv[0], &spec, argc, argv, &code);
	if (first < 0)
		return code;
	const char *path = argv[first];
	uint8_t *bytes;
	size_t len;
	struct policy *p;
	code = load_file(argv[0], path, &bytes, &len, &p);
	if (code)
		return code;
	if (policy_is_debug(p)) {
		fprintf(stderr, "%s: %s: %s\n", argv[0], path, DEBUG_WARNING);
		printf("%s: valid DEBUG allow-all policy (insecure), digest %s\n", path,
		       policy_get_digest(p)->hex);
	} else {
		printf("%s: valid policy, %zu container(s), digest %s\n", path,
		       policy_container_count(p), policy_get_digest(p)->hex);
	}
	policy_free(p);
	free(bytes);
	return CLI_OK;
}

int policy_cli_digest(int argc, char **argv)
{
	bool only_hex = false, only_b64 = false;
	const struct cli_opt opts[] = {
		CLI_FLAG("hex", 0, &only_hex),
		CLI_FLAG("base64", 0, &only_b64),
	};
	const struct cli_spec spec = {
		.usage = "Usage: %s [--hex|--base64] FILE\n\n"
			 "Print the policy digest: SHA-256 over the file's exact bytes, which is "
			 "the\n"
			 "SNP HOST_DATA of the group. The policy is validated first (exit 3 if "
			 "invalid).\n",
		.opts = opts, .n_opts = CLI_ARRAY_SIZE(opts),
		.min_operands = 1, .max_operands = 1,
		.operands_error = "expected exactly one policy FILE",
		.missing_error = "expected a policy FILE",
	};
	int code, first = cli_start(argv[0], &spec, argc, argv, &code);
	if (first < 0)
		return code;
	if (only_hex && only_b64)
		return cli_usage_error(argv[0], "--hex and --base64 exclude each other");
	const char *path = argv[first];
	uint8_t *bytes;
	size_t len;
	struct policy *p;
	code = load_file(argv[0], path, &bytes, &len, &p);
	if (code)
		return code;
	const struct policy_digest *d = policy_get_digest(p);
	if (policy_is_debug(p))
		fprintf(stderr, "%s: %s: %s\n", argv[0], path, DEBUG_WARNING);
	if (only_hex)
		printf("%s\n", d->hex);
	else if (only_b64)
		printf("%s\n", d->base64);
	else
		printf("sha256 %s\nbase64 %s\n%s", d->hex, d->base64,
		       policy_is_debug(p) ? "kind   DEBUG-ALLOW-ALL (insecure)\n" : "");
	policy_free(p);
	free(bytes);
	return CLI_OK;
}

/* ---- explain ---- */

/* For allowed process requests, what the agent will apply: kept and dropped
 * env names (never values) and stdio access. */
static void print_effective(const struct policy_decision *d, const struct policy_request *q)
{
	const struct policy_strv *env =
		q->type == POLICY_REQ_CREATE_CONTAINER	  ? &q->u.create_container.env
		: q->type == POLICY_REQ_EXEC_IN_CONTAINER ? &q->u.exec_in_container.env
		: q->type == POLICY_REQ_EXEC_EXTERNAL	  ? &q->u.exec_external.env
							  : NULL;
	if (!env || q->type != d->type)
		return;
	size_t k = 0, dropped = 0;
	printf("    env kept:");
	for (size_t i = 0; i < env->n; i++) {
		bool kept = k < d->n_env_keep && d->env_keep[k] == i;
		k += kept;
		dropped += !kept;
		if (kept)
			printf(" %.*s", (int)strcspn(env->v[i], "="), env->v[i]);
	}
	if (dropped) {
		printf("; dropped:");
		k = 0;
		for (size_t i = 0; i < env->n; i++) {
			bool kept = k < d->n_env_keep && d->env_keep[k] == i;
			k += kept;
			if (!kept)
				printf(" %.*s", (int)strcspn(env->v[i], "="), env->v[i]);
		}
	}
	printf("; stdio access: %s\n", d->allow_stdio_access ? "yes" : "no");
}

static void print_decision(size_t i, const struct policy_decision *d,
			   const struct policy_request *q)
{
	printf("#%zu %s: ", i + 1, policy_request_type_name(d->type));
	if (d->allowed) {
		printf("allowed%s\n", d->debug ? " (DEBUG allow-all policy)" : "");
		if (d->source[0])
			printf("    by:       %s\n", d->source);
		if (q)
			print_effective(d, q);
		return;
	}
	const struct policy_reason *r = &d->reason;
	printf("DENIED by rule '%s'", policy_rule_name(r->rule));
	if (r->field[0])
		printf(" at %s", r->field);
	printf(": %s\n", r->message);
	if (r->expected[0])
		printf("    expected: %s\n", r->expected);
	if (r->got[0])
		printf("    got:      %s\n", r->got);
	if (d->source[0])
		printf("    compared: %s\n", d->source);
}

int policy_cli_opt_env(const char *prog, char *value, void *dest)
{
	struct errbuf eb = {0};
	if (policy_runenv_add_arg(dest, value, &eb) < 0)
		return cli_usage_error(prog, "%s", errbuf_msg(&eb));
	return CLI_OK;
}

int policy_cli_opt_env_file(const char *prog, char *value, void *dest)
{
	struct errbuf eb = {0};
	if (policy_runenv_add_file(dest, value, &eb) < 0)
		return cli_usage_error(prog, "%s", errbuf_msg(&eb));
	return CLI_OK;
}

int policy_cli_explain(int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		printf("Usage: %s [--json] [--env C:NAME=VALUE]... [--env-file FILE] POLICY "
		       "REQUESTS.json\n\n"
		       "Install POLICY in a fresh engine (as the guest agent does), replay the "
		       "JSON\n"
		       "array of requests in REQUESTS.json (format: docs/policy.md, \"Requests\") "
		       "and\n"
		       "print each decision with its reason. A denied request changes nothing and "
		       "the\n"
		       "replay goes on. Run-time values recorded as NAME=<<redacted>> (parma run\n"
		       "--env/--env-file) are given again with --env / --env-file, as for parma run.\n"
		       "Exit: 0 all allowed, 1 some denied, 2 a redacted value was not given,\n"
		       "3 invalid input.\n",
		       argv[0]);
		return CLI_OK;
	}
	bool json = false;
	uint8_t *bytes = NULL, *rbytes = NULL;
	size_t len, rlen = 0;
	struct policy *p;
	struct errbuf eb = {0};
	struct json_object *reqs = NULL, *out = NULL;
	struct policy_engine *e = NULL;
	struct policy_replay *replay = NULL;
	struct policy_runenv *rv = policy_runenv_new();
	if (!rv)
		return cli_error(argv[0], CLI_INTERNAL, "out of memory");
	const struct cli_opt opts[] = {
		CLI_FLAG("json", 0, &json),
		CLI_FUNC("env", 0, policy_cli_opt_env, rv),
		CLI_FUNC("env-file", 0, policy_cli_opt_env_file, rv),
	};
	int first, code = cli_parse_options(argv[0], opts, CLI_ARRAY_SIZE(opts), 0, argc, argv,
					    &first);
	if (code == CLI_OK && first != argc - 2)
		code = cli_usage_error(argv[0], "expected POLICY and REQUESTS.json");
	const char *paths[2] = { argv[argc - 2], argv[argc - 1] };
	if (code == CLI_OK)
		code = load_file(argv[0], paths[0], &bytes, &len, &p);
	if (code) {
		policy_runenv_free(rv);
		return code;
	}
	bool debug = policy_is_debug(p);
	policy_free(p);
	if (file_read_all(paths[1], 64u << 20, &rbytes, &rlen, &eb)) {
		code = cli_error(argv[0], CLI_BAD_INPUT, "%s", errbuf_msg(&eb));
		goto out;
	}
	reqs = json_tokener_parse((const char *)rbytes);
	if (!json_object_is_type(reqs, json_type_array)) {
		code = cli_error(argv[0], CLI_BAD_INPUT, "%s: expected a JSON array of requests",
				 paths[1]);
		goto out;
	}
	/* Values first, all of them: a replay with a missing value would decide something else. */
	for (size_t i = 0; i < json_object_array_length(reqs); i++)
		if (policy_runenv_restore(rv, json_object_array_get_idx(reqs, i), &eb) < 0) {
			code = cli_usage_error(argv[0], "%s: request #%zu: %s", paths[1], i + 1,
					       errbuf_msg(&eb));
			goto out;
		}
	e = policy_engine_new();
	if (!e) {
		code = cli_error(argv[0], CLI_INTERNAL, "out of memory");
		goto out;
	}
	struct policy_digest dg;
	struct policy_decision d;
	policy_digest(bytes, len, &dg);
	struct policy_req_install_policy inst = {bytes, len, dg.sha256};
	if (policy_engine_install(e, &inst, &d)) {
		code = cli_error(argv[0], CLI_BAD_INPUT, "%s: %s", paths[0], d.reason.message);
		goto out;
	}
	if (debug)
		fprintf(stderr, "%s: %s: %s\n", argv[0], paths[0], DEBUG_WARNING);
	if (!json)
		printf("policy %s (sha256 %s)\n", paths[0], dg.hex);
	out = json_object_new_array();
	replay = policy_replay_new(e);
	if (!replay) {
		code = cli_error(argv[0], CLI_INTERNAL, "out of memory");
		goto out;
	}
	size_t denied = 0, n = json_object_array_length(reqs);
	for (size_t i = 0; i < n; i++) {
		struct json_object *rq = json_object_array_get_idx(reqs, i);
		struct policy_request req;
		int ret = policy_replay_decide(replay, rq, &req, &d);
		denied += !d.allowed;
		if (json)
			json_object_array_add(out, policy_decision_to_json(&d, ret ? NULL : &req));
		else
			print_decision(i, &d, ret ? NULL : &req);
		policy_request_clear(&req);
	}
	if (json)
		printf("%s\n",
		       json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		printf("%zu request(s): %zu allowed, %zu denied\n", n, n - denied, denied);
	code = denied ? CLI_FAILED : CLI_OK;
out:
	json_object_put(out);
	json_object_put(reqs);
	policy_replay_free(replay);
	policy_engine_free(e);
	policy_runenv_free(rv);
	free(bytes);
	if (rbytes)
		explicit_bzero(rbytes, rlen);
	free(rbytes);
	return code;
}

/* ---- diff ---- */

/* The key that identifies an element of a keyed array, or NULL to compare
 * arrays position by position. */
static const char *diff_key_of(const char *path, struct json_object *elem, char *buf, size_t size)
{
	struct json_object *v;
	if (!strcmp(path, "containers") && json_object_object_get_ex(elem, "name", &v))
		return json_object_get_string(v);
	if (!strcmp(path, "external_processes") && json_object_object_get_ex(elem, "command", &v)) {
		snprintf(buf, size, "%s",
			 json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
		return buf;
	}
	if (!strcmp(path, "fragments")) {
		struct json_object *iss, *feed;
		if (json_object_object_get_ex(elem, "issuer", &iss) &&
		    json_object_object_get_ex(elem, "feed", &feed)) {
			snprintf(buf, size, "%s %s", json_object_get_string(iss),
				 json_object_get_string(feed));
			return buf;
		}
	}
	return NULL;
}

static const char *jplain(struct json_object *v)
{
	return v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
							     JSON_C_TO_STRING_NOSLASHESCAPE)
		 : "(absent)";
}

static size_t diff_values(const char *path, struct json_object *a, struct json_object *b);

static size_t diff_keyed(const char *path, struct json_object *a, struct json_object *b)
{
	size_t n = 0;
	char ka[4096], kb[4096], sub[1024];
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		struct json_object *ea = json_object_array_get_idx(a, i), *match = NULL;
		const char *k = diff_key_of(path, ea, ka, sizeof(ka));
		for (size_t j = 0; j < json_object_array_length(b) && !match; j++) {
			struct json_object *eb = json_object_array_get_idx(b, j);
			const char *k2 = diff_key_of(path, eb, kb, sizeof(kb));
			if (k2 && !strcmp(k, k2))
				match = eb;
		}
		snprintf(sub, sizeof(sub), "%s[%s]", path, k);
		if (!match) {
			printf("- %s\n", sub);
			n++;
		} else {
			n += diff_values(sub, ea, match);
		}
	}
	for (size_t j = 0; j < json_object_array_length(b); j++) {
		struct json_object *eb = json_object_array_get_idx(b, j);
		const char *k = diff_key_of(path, eb, kb, sizeof(kb));
		bool found = false;
		for (size_t i = 0; i < json_object_array_length(a) && !found; i++) {
			const char *k2 =
				diff_key_of(path, json_object_array_get_idx(a, i), ka, sizeof(ka));
			found = k2 && !strcmp(k, k2);
		}
		if (!found) {
			printf("+ %s[%s]\n", path, k);
			n++;
		}
	}
	return n;
}

static size_t diff_values(const char *path, struct json_object *a, struct json_object *b)
{
	char sub[1024];
	size_t n = 0;
	if (a && b && json_object_is_type(a, json_type_object) &&
	    json_object_is_type(b, json_type_object)) {
		json_object_object_foreach(a, key, va)
		{
			struct json_object *vb = NULL;
			snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", key);
			json_object_object_get_ex(b, key, &vb);
			n += diff_values(sub, va, vb);
		}
		json_object_object_foreach(b, key2, vb2)
		{
			if (json_object_object_get_ex(a, key2, NULL))
				continue;
			snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", key2);
			n += diff_values(sub, NULL, vb2);
		}
		return n;
	}
	if (a && b && json_object_is_type(a, json_type_array) &&
	    json_object_is_type(b, json_type_array) && json_object_array_length(a) &&
	    json_object_array_length(b)) {
		char kbuf[64];
		bool keyed = true;
		for (size_t i = 0; i < json_object_array_length(a) && keyed; i++)
			keyed = diff_key_of(path, json_object_array_get_idx(a, i), kbuf,
					    sizeof(kbuf));
		for (size_t i = 0; i < json_object_array_length(b) && keyed; i++)
			keyed = diff_key_of(path, json_object_array_get_idx(b, i), kbuf,
					    sizeof(kbuf));
		if (keyed)
			return diff_keyed(path, a, b);
	}
	if (json_object_equal(a, b))
		return 0;
	char av[600];
	snprintf(av, sizeof(av), "%s", jplain(a));
	printf("~ %s: %s -> %s\n", path, av, jplain(b));
	return 1;
}

int policy_cli_diff(int argc, char **argv)
{
	static const struct cli_spec spec = {
		.usage = "Usage: %s A B\n\n"
			 "Show what differs between two valid policies: flags, containers (by "
			 "name),\n"
			 "external processes (by command) and fragments (by issuer and feed).\n"
			 "Lines: '- X' only in A, '+ X' only in B, '~ path: a -> b' changed.\n"
			 "Exit: 0 same rules, 1 different, 3 invalid input.\n",
		.min_operands = 2, .max_operands = 2,
		.operands_error = "expected two policy files A and B",
	};
	int code, first = cli_start(argv[0], &spec, argc, argv, &code);
	if (first < 0)
		return code;
	const char *path_a = argv[first], *path_b = argv[first + 1];
	uint8_t *ba = NULL, *bb = NULL;
	size_t la, lb;
	struct policy *pa = NULL, *pb = NULL;
	code = load_file(argv[0], path_a, &ba, &la, &pa);
	if (code)
		return code;
	code = load_file(argv[0], path_b, &bb, &lb, &pb);
	if (code) {
		policy_free(pa);
		free(ba);
		return code;
	}
	/* both are valid JSON objects now */
	struct json_object *ja = json_tokener_parse((const char *)ba);
	struct json_object *jb = json_tokener_parse((const char *)bb);
	if (policy_is_debug(pa) || policy_is_debug(pb))
		fprintf(stderr, "%s: %s\n", argv[0], DEBUG_WARNING);
	printf("--- %s (sha256 %s)\n+++ %s (sha256 %s)\n", path_a, policy_get_digest(pa)->hex,
	       path_b, policy_get_digest(pb)->hex);
	size_t n = diff_values("", ja, jb);
	if (!n && memcmp(policy_get_digest(pa)->sha256, policy_get_digest(pb)->sha256, 32))
		printf("same rules; the bytes (and so the digest / HOST_DATA) differ\n");
	json_object_put(ja);
	json_object_put(jb);
	policy_free(pa);
	policy_free(pb);
	free(ba);
	free(bb);
	return n ? CLI_FAILED : CLI_OK;
}
