/* Policy loading and validation: valid documents, the digest, the debug
 * form, and errors that name the JSON path. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/digest.h"
#include "common/encoding.h"
#include "common/fileio.h"
#include "policy/lang/policy.h"

#define H1 "1111111111111111111111111111111111111111111111111111111111111111"

static int load_str(const char *s, struct policy **p, struct errbuf *eb)
{
	return policy_load((const uint8_t *)s, strlen(s), p, eb);
}

static void policy_load_accepts_base_policy(void **state)
{
	(void)state;
	const char *root = getenv("PARMA_SOURCE_ROOT");
	char path[4096];
	uint8_t *bytes;
	size_t len;
	struct errbuf eb = {0};
	struct policy *p = NULL;
	snprintf(path, sizeof(path), "%s/tests/data/policy/base.json", root ? root : ".");
	assert_int_equal(file_read_all(path, POLICY_MAX_BYTES, &bytes, &len, &eb), 0);
	assert_int_equal(policy_load(bytes, len, &p, &eb), 0);
	assert_false(policy_is_debug(p));
	assert_int_equal(policy_container_count(p), 2);
	struct policy_flags f = policy_get_flags(p);
	assert_false(f.allow_properties_access || f.allow_dump_stacks || f.allow_runtime_logging ||
		     f.allow_environment_variable_dropping || f.allow_capability_dropping ||
		     f.allow_unencrypted_scratch);
	/* digest = SHA-256 of the exact bytes, in hex and base64 */
	uint8_t want[32];
	char hex[65], b64[45];
	assert_int_equal(digest_sha256(bytes, len, want), 0);
	hex_encode(want, 32, hex);
	base64_encode(want, 32, b64);
	assert_memory_equal(policy_get_digest(p)->sha256, want, 32);
	assert_string_equal(policy_get_digest(p)->hex, hex);
	assert_string_equal(policy_get_digest(p)->base64, b64);
	policy_free(p);
	free(bytes);
}

static void policy_digest_is_over_exact_bytes(void **state)
{
	(void)state;
	struct policy_digest a, b;
	const char *x = "{\"version\":1}", *y = "{\"version\": 1}";
	assert_int_equal(policy_digest((const uint8_t *)x, strlen(x), &a), 0);
	assert_int_equal(policy_digest((const uint8_t *)y, strlen(y), &b), 0);
	assert_memory_not_equal(a.sha256, b.sha256, 32); /* same meaning, other bytes */
	/* known answer: SHA-256("") */
	assert_int_equal(policy_digest((const uint8_t *)"", 0, &a), 0);
	assert_string_equal(a.hex,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_string_equal(a.base64, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
}

static void policy_load_debug_form_is_distinct(void **state)
{
	(void)state;
	struct policy *p = NULL;
	struct errbuf eb = {0};
	assert_int_equal(load_str("{\"version\":1,\"insecure_allow_all\":\"" POLICY_DEBUG_MARKER
				  "\"}",
				  &p, &eb),
			 0);
	assert_true(policy_is_debug(p));
	policy_free(p);
	/* the marker must be exact, and nothing else may accompany it */
	assert_int_equal(load_str("{\"version\":1,\"insecure_allow_all\":true}", &p, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "insecure_allow_all"));
	assert_int_equal(load_str("{\"version\":1,\"insecure_allow_all\":\"" POLICY_DEBUG_MARKER
				  "\",\"containers\":[]}",
				  &p, &eb),
			 -EINVAL);
	assert_non_null(strstr(eb.msg, "containers: unknown field"));
	/* an ordinary policy is never debug, even when empty */
	assert_int_equal(load_str("{\"version\":1}", &p, &eb), 0);
	assert_false(policy_is_debug(p));
	policy_free(p);
}

struct bad_case {
	const char *json;
	const char *error; /* substring of the error message */
};

#define C0                                                                                         \
	"{\"version\":1,\"containers\":[{\"name\":\"a\",\"layers\":[\"" H1                         \
	"\"],\"command\":[\"/a\"]"

static const struct bad_case bad_cases[] = {
	{"", "unexpected end"},
	{"[]", "a policy is a JSON object"},
	{"{\"version\":1} trailing", "invalid JSON"},
	{"{}", "version: missing"},
	{"{\"version\":2}", "version: unsupported version 2"},
	{"{\"version\":\"1\"}", "version: expected an integer"},
	{"{\"version\":1,\"extra\":true}", "extra: unknown field"},
	{"{\"version\":1,\"allow_dump_stacks\":1}", "allow_dump_stacks: expected true or false"},
	{"{\"version\":1,\"allow_dump_stacks\":null}", "allow_dump_stacks: null is not allowed"},
	{"{\"version\":1,\"containers\":{}}", "containers: expected an array"},
	{C0 ",\"bogus\":1}]}", "containers[0].bogus: unknown field"},
	{"{\"version\":1,\"containers\":[{\"layers\":[\"" H1 "\"],\"command\":[\"/a\"]}]}",
	 "containers[0].name: missing"},
	{"{\"version\":1,\"containers\":[{\"name\":\"a\",\"layers\":[\"abc\"],\"command\":[\"/"
	 "a\"]}]}",
	 "containers[0].layers[0]: expected 64 lowercase hex digits"},
	{"{\"version\":1,\"containers\":[{\"name\":\"a\",\"layers\":[\"" H1 "\"],\"command\":[]}]}",
	 "containers[0].command: needs at least 1"},
	{C0 ",\"command\":[\"/b\"]}]}", "duplicate key \"command\""},
	{"{\"version\":1,\"allow_dump_stacks\":false,\"allow_dump_stacks\":true}", "duplicate key"},
	{"{\"version\":1,\"allow_dump_st\\u0061cks\":false}", "escape sequence in an object key"},
	{C0 ",\"command\":[\"\"]}]}", NULL}, /* see below */
	{C0 ",\"env_rules\":[{\"pattern\":\"(a\",\"strategy\":\"regex\"}]}]}",
	 "containers[0].env_rules[0].pattern: invalid regex"},
	{C0 ",\"env_rules\":[{\"pattern\":\"(a)\\\\1\",\"strategy\":\"regex\"}]}]}",
	 "back-references"},
	{C0 ",\"env_rules\":[{\"pattern\":\"NOEQUALS\"}]}]}",
	 "containers[0].env_rules[0].pattern: a string rule must be NAME=value"},
	{C0 ",\"env_rules\":[{\"pattern\":\"A=1\",\"strategy\":\"glob\"}]}]}",
	 "containers[0].env_rules[0].strategy: expected \"string\" or \"regex\""},
	{C0 ",\"working_dir\":\"srv\"}]}", "containers[0].working_dir: expected a normalised"},
	{C0 ",\"working_dir\":\"/srv/\"}]}", "containers[0].working_dir: expected a normalised"},
	{C0 ",\"user\":{\"uid\":-1}}]}", "containers[0].user.uid: expected a non-negative"},
	{C0 ",\"user\":{\"umask\":\"999\"}}]}", "containers[0].user.umask: expected an octal"},
	{C0 ",\"capabilities\":{\"bounding\":[\"CAP_FLY\"]}}]}",
	 "containers[0].capabilities.bounding[0]: unknown capability"},
	{C0 ",\"capabilities\":{\"bounding\":[\"CAP_KILL\",\"CAP_KILL\"]}}]}",
	 "duplicate capability"},
	{C0 ",\"signals\":[0]}]}", "containers[0].signals[0]: signal numbers are 1..64"},
	{C0 ",\"signals\":[65]}]}", "containers[0].signals[0]: integer out of range"},
	{C0 ",\"mounts\":[{\"source\":\"/x\",\"destination\":\"/a/../b\",\"type\":\"bind\"}]}]}",
	 "containers[0].mounts[0].destination"},
	{C0 ",\"exec_processes\":[{\"command\":[\"/sh\"],\"signals\":[\"TERM\"]}]}]}",
	 "containers[0].exec_processes[0].signals[0]: expected an integer"},
	{C0 ",\"seccomp_profile_sha256\":\"zz\"}]}", "containers[0].seccomp_profile_sha256"},
	{C0 "},{\"name\":\"a\",\"layers\":[\"" H1 "\"],\"command\":[\"/b\"]}]}",
	 "containers[1].name: duplicate container name 'a'"},
	{C0 ",\"working_dir\":\"/a\\u0000b\"}]}",
	 "containers[0].working_dir: string contains a NUL"},
	{"{\"version\":1,\"external_processes\":[{\"command\":[\"/x\"],\"working_dir\":\"x\"}]}",
	 "external_processes[0].working_dir"},
	{"{\"version\":1,\"fragments\":[{\"issuer\":\"did:x509:0:sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA::subject:CN:Test\",\"feed\":\"f\",\"minimum_svn\":1,"
	 "\"includes\":[\"everything\"]}]}",
	 "fragments[0].includes[0]"},
	{"{\"version\":1,\"fragments\":[{\"issuer\":\"did:x509:0:sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA::subject:CN:Test\",\"feed\":\"f\",\"includes\":["
	 "\"containers\"]}]}",
	 "fragments[0].minimum_svn: missing"},
	{"{\"version\":1,\"fragments\":[{\"issuer\":\"did:web:registry.example\",\"feed\":\"f\","
	 "\"minimum_svn\":1,\"includes\":[\"containers\"]}]}",
	 "fragments[0].issuer: not a did:x509 issuer"},
	{"{\"version\":1,\"fragments\":[{\"issuer\":\"did:x509:0:sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA::subject:CN:Test\",\"feed\":\"\",\"minimum_svn\":1,"
	 "\"includes\":[\"containers\"]}]}",
	 "fragments[0].feed: must not be empty"},
	{"{\"version\":1,\"fragments\":[{\"issuer\":\"did:x509:0:sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA::subject:CN:Test\",\"feed\":\"f\",\"minimum_svn\":1,"
	 "\"includes\":[\"fragments\",\"fragments\"]}]}",
	 "fragments[0].includes[1]: listed twice"},
	{"{\"version\":1,\"containers\":[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]}",
	 "nesting too deep"},
	{"{\"version\":1,\"x\":\"\xff\xfe\"}", "invalid JSON"},
};

static void policy_load_errors_name_the_json_path(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct policy *p = (struct policy *)1;
		struct errbuf eb = {0};
		int ret = load_str(bad_cases[i].json, &p, &eb);
		if (!bad_cases[i].error) {
			/* "command" twice: refused before json-c's last-wins could apply */
			assert_int_equal(ret, -EINVAL);
			assert_non_null(strstr(eb.msg, "duplicate key"));
			continue;
		}
		if (ret == 0 || !strstr(eb.msg, bad_cases[i].error))
			fail_msg("case %zu: %s\n  ret %d, message '%s', wanted '%s'", i,
				 bad_cases[i].json, ret, eb.msg, bad_cases[i].error);
		assert_null(p);
	}
}

static void policy_load_bounds_sizes(void **state)
{
	(void)state;
	struct policy *p = NULL;
	struct errbuf eb = {0};
	size_t big = POLICY_MAX_BYTES + 1;
	uint8_t *buf = malloc(big);
	assert_non_null(buf);
	memset(buf, ' ', big);
	assert_int_equal(policy_load(buf, big, &p, &eb), -E2BIG);
	free(buf);
	/* a string longer than POLICY_MAX_STRING */
	size_t n = POLICY_MAX_STRING + 200;
	char *s = malloc(n);
	assert_non_null(s);
	int k = snprintf(s, n, C0 ",\"working_dir\":\"/");
	memset(s + k, 'x', POLICY_MAX_STRING + 10);
	strcpy(s + k + POLICY_MAX_STRING + 10, "\"}]}");
	assert_int_not_equal(load_str(s, &p, &eb), 0);
	assert_non_null(strstr(eb.msg, "containers[0].working_dir: string longer than"));
	free(s);
	/* more layers than POLICY_MAX_LAYERS */
	size_t cap = 200 * 70 + 200;
	char *l = malloc(cap);
	size_t len = (size_t)snprintf(
		l, cap,
		"{\"version\":1,\"containers\":[{\"name\":\"a\",\"command\":[\"/a\"],\"layers\":[");
	for (int i = 0; i < POLICY_MAX_LAYERS + 1; i++)
		len += (size_t)snprintf(l + len, cap - len, "%s\"" H1 "\"", i ? "," : "");
	snprintf(l + len, cap - len, "]}]}");
	assert_int_equal(load_str(l, &p, &eb), -E2BIG);
	assert_non_null(strstr(eb.msg, "containers[0].layers: more than 128"));
	free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(policy_load_accepts_base_policy),
		cmocka_unit_test(policy_digest_is_over_exact_bytes),
		cmocka_unit_test(policy_load_debug_form_is_distinct),
		cmocka_unit_test(policy_load_errors_name_the_json_path),
		cmocka_unit_test(policy_load_bounds_sizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
