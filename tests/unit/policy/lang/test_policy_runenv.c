/* Run-time environment values: --env / --env-file parsing, the redacted record of a request,
 * and putting the values back for a replay. Errors name the container and variable, never the
 * value. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "policy/lang/policy_runenv.h"

#define SECRET "Zq7RuN4xTw2LkP9s"

static void runenv_args_and_environment(void **state)
{
	(void)state;
	struct policy_runenv *rv = policy_runenv_new();
	struct errbuf eb = { 0 };
	assert_int_equal(policy_runenv_add_arg(rv, "web:TOKEN=" SECRET, &eb), 0);
	assert_int_equal(policy_runenv_add_arg(rv, "web:EMPTY=", &eb), 0);
	assert_int_equal(policy_runenv_add_arg(rv, "web:EQ=a=b", &eb), 0);
	setenv("PARMA_TEST_FROM_ENV", "from-env", 1);
	assert_int_equal(policy_runenv_add_arg(rv, "db:PARMA_TEST_FROM_ENV", &eb), 0);
	assert_string_equal(policy_runenv_get(rv, "web", "TOKEN"), SECRET);
	assert_string_equal(policy_runenv_get(rv, "web", "EMPTY"), "");
	assert_string_equal(policy_runenv_get(rv, "web", "EQ"), "a=b");
	assert_string_equal(policy_runenv_get(rv, "db", "PARMA_TEST_FROM_ENV"), "from-env");
	assert_null(policy_runenv_get(rv, "db", "TOKEN"));
	assert_false(policy_runenv_empty(rv));
	policy_runenv_free(rv);
}

static void runenv_rejects_bad_args_without_the_value(void **state)
{
	(void)state;
	static const char *const bad[] = { "TOKEN=" SECRET, ":TOKEN=" SECRET, "web:1X=" SECRET,
					   "web:=" SECRET, "we b:TOKEN=" SECRET,
					   "web:PARMA_TEST_NOT_SET_ANYWHERE" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct policy_runenv *rv = policy_runenv_new();
		struct errbuf eb = { 0 };
		assert_true(policy_runenv_add_arg(rv, bad[i], &eb) < 0);
		assert_null(strstr(errbuf_msg(&eb), SECRET));
		policy_runenv_free(rv);
	}
	struct policy_runenv *rv = policy_runenv_new();
	struct errbuf eb = { 0 };
	assert_int_equal(policy_runenv_add_arg(rv, "web:TOKEN=" SECRET, &eb), 0);
	assert_true(policy_runenv_add_arg(rv, "web:TOKEN=other", &eb) < 0);
	assert_non_null(strstr(errbuf_msg(&eb), "web:TOKEN is given twice"));
	assert_null(strstr(errbuf_msg(&eb), SECRET));
	policy_runenv_free(rv);
}

static int file_with(char *path, const char *text)
{
	strcpy(path, "/tmp/parma-runenv-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		return -1;
	close(fd);
	return 0;
}

static void runenv_file(void **state)
{
	(void)state;
	char path[64];
	struct errbuf eb = { 0 };
	struct policy_runenv *rv = policy_runenv_new();
	assert_int_equal(file_with(path, "{\"web\": {\"TOKEN\": \"" SECRET "\", \"MODE\": \"x\"},"
					 " \"db\": {}}"), 0);
	assert_int_equal(policy_runenv_add_file(rv, path, &eb), 0);
	assert_string_equal(policy_runenv_get(rv, "web", "TOKEN"), SECRET);
	/* the same value again from the command line is an error */
	assert_true(policy_runenv_add_arg(rv, "web:MODE=y", &eb) < 0);
	unlink(path);
	policy_runenv_free(rv);

	static const char *const bad[] = { "[\"" SECRET "\"]", "{\"web\": \"" SECRET "\"}",
					   "{\"web\": {\"TOKEN\": 1}}", "{\"web\": {\"TOKEN\": \"" SECRET,
					   "{\"web\": {\"TOKEN\": \"" SECRET "\"}} trailing" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rv = policy_runenv_new();
		errbuf_clear(&eb);
		assert_int_equal(file_with(path, bad[i]), 0);
		assert_true(policy_runenv_add_file(rv, path, &eb) < 0);
		assert_non_null(strstr(errbuf_msg(&eb), path));
		assert_null(strstr(errbuf_msg(&eb), SECRET));
		unlink(path);
		policy_runenv_free(rv);
	}
}

static void runenv_redacts_and_restores(void **state)
{
	(void)state;
	struct policy_runenv *rv = policy_runenv_new();
	struct errbuf eb = { 0 };
	assert_int_equal(policy_runenv_add_arg(rv, "web:TOKEN=" SECRET, &eb), 0);
	struct json_object *req = json_tokener_parse(
		"{\"type\":\"create_container\",\"container_id\":\"web\","
		"\"env\":[\"PATH=/bin\",\"TOKEN=" SECRET "\"]}");
	/* the record shares its members with the request that goes on the wire */
	struct json_object *wire = json_object_object_get(req, "env");
	json_object_get(wire);
	policy_runenv_redact(rv, "web", req);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(wire, 1)),
			    "TOKEN=" SECRET);
	json_object_put(wire);
	const char *text = json_object_to_json_string(req);
	assert_null(strstr(text, SECRET));
	assert_non_null(strstr(text, "PATH=\\/bin"));
	assert_non_null(strstr(text, "TOKEN=" POLICY_REDACTED));

	/* without the value the replay is refused, naming the variable */
	struct policy_runenv *none = policy_runenv_new();
	assert_int_equal(policy_runenv_restore(none, req, &eb), -ENOENT);
	assert_non_null(strstr(errbuf_msg(&eb), "TOKEN was given at run time"));
	assert_non_null(strstr(errbuf_msg(&eb), "--env web:TOKEN=VALUE"));
	assert_int_equal(policy_runenv_restore(NULL, req, &eb), -ENOENT);

	assert_int_equal(policy_runenv_restore(rv, req, &eb), 0);
	struct json_object *env = json_object_object_get(req, "env");
	assert_string_equal(json_object_get_string(json_object_array_get_idx(env, 1)),
			    "TOKEN=" SECRET);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(env, 0)), "PATH=/bin");
	json_object_put(req);

	/* another container's values are not its */
	req = json_tokener_parse("{\"type\":\"create_container\",\"container_id\":\"db\","
				 "\"env\":[\"TOKEN=" SECRET "\"]}");
	policy_runenv_redact(rv, "db", req);
	assert_non_null(strstr(json_object_to_json_string(req), SECRET));
	json_object_put(req);
	policy_runenv_free(none);
	policy_runenv_free(rv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(runenv_args_and_environment),
		cmocka_unit_test(runenv_rejects_bad_args_without_the_value),
		cmocka_unit_test(runenv_file),
		cmocka_unit_test(runenv_redacts_and_restores),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
