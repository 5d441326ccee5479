/* Unit tests for common/cli.c's table-driven option parser: what each kind of row does, GNU
 * rules (mixed order, "--", abbreviations, --name=value, short clusters), and the errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/cli.h"

struct args {
	bool verbose, quiet;
	const char *output;
	uint64_t count;
	int calls;
};

static int opt_count(const char *prog, char *value, void *dest)
{
	struct args *a = dest;
	a->calls++;
	if (cli_parse_uint(value, 1, 10, &a->count))
		return cli_usage_error(prog, "--count: expected 1..10");
	return 0;
}

static int parse(struct args *a, unsigned flags, int argc, char **argv, int *first)
{
	const struct cli_opt opts[] = {
		CLI_FLAG("verbose", 'v', &a->verbose),
		CLI_FLAG("quiet", 'q', &a->quiet),
		CLI_STRING("output", 'o', &a->output),
		CLI_FUNC("count", 0, opt_count, a),
	};
	memset(a, 0, sizeof(*a));
	return cli_parse_options(argv[0], opts, CLI_ARRAY_SIZE(opts), flags, argc, argv, first);
}

#define ARGV(...) ((char *[]){ __VA_ARGS__, NULL })

static void cli_options_apply_rows_and_permute_operands(void **state)
{
	(void)state;
	struct args a;
	char **v = ARGV("prog", "in.json", "--verbose", "-o", "out", "--count=3", "more");
	int first = -1;
	assert_int_equal(parse(&a, 0, 7, v, &first), CLI_OK);
	assert_true(a.verbose);
	assert_false(a.quiet);
	assert_string_equal(a.output, "out");
	assert_int_equal(a.count, 3);
	assert_int_equal(a.calls, 1);
	assert_int_equal(first, 5); /* operands moved behind the options */
	assert_string_equal(v[first], "in.json");
	assert_string_equal(v[first + 1], "more");
}

static void cli_options_short_cluster_abbreviation_and_dashdash(void **state)
{
	(void)state;
	struct args a;
	char **v = ARGV("prog", "-vq", "--out", "x", "--", "--count", "-v");
	int first = -1;
	assert_int_equal(parse(&a, 0, 7, v, &first), CLI_OK);
	assert_true(a.verbose && a.quiet);
	assert_string_equal(a.output, "x");
	assert_int_equal(a.calls, 0); /* after "--" nothing is an option */
	assert_int_equal(first, 5);
	assert_string_equal(v[first], "--count");
}

static void cli_options_in_order_stops_at_first_operand(void **state)
{
	(void)state;
	struct args a;
	char **v = ARGV("prog", "-v", "request", "-q");
	int first = -1;
	assert_int_equal(parse(&a, CLI_PARSE_IN_ORDER, 4, v, &first), CLI_OK);
	assert_true(a.verbose);
	assert_false(a.quiet);
	assert_int_equal(first, 2);
	assert_string_equal(v[3], "-q");
}

static void cli_options_errors_are_usage_errors(void **state)
{
	(void)state;
	struct args a;
	int first = -1;
	char **unknown = ARGV("prog", "--frobnicate");
	assert_int_equal(parse(&a, 0, 2, unknown, &first), CLI_USAGE);
	char **unknown_short = ARGV("prog", "-vx");
	assert_int_equal(parse(&a, 0, 2, unknown_short, &first), CLI_USAGE);
	char **missing = ARGV("prog", "--output");
	assert_int_equal(parse(&a, 0, 2, missing, &first), CLI_USAGE);
	char **flag_value = ARGV("prog", "--verbose=yes");
	assert_int_equal(parse(&a, 0, 2, flag_value, &first), CLI_USAGE);
	/* A parse function's answer stops the parse with its code. */
	char **bad = ARGV("prog", "--count", "11", "--verbose");
	assert_int_equal(parse(&a, 0, 4, bad, &first), CLI_USAGE);
	assert_int_equal(a.calls, 1);
	assert_false(a.verbose);
	/* The same table parses again in the same process (getopt state is reset). */
	char **ok = ARGV("prog", "--count", "10");
	assert_int_equal(parse(&a, 0, 3, ok, &first), CLI_OK);
	assert_int_equal(a.count, 10);
}

static void cli_parse_uint_is_strict(void **state)
{
	(void)state;
	uint64_t v = 7;
	assert_int_equal(cli_parse_uint("42", 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(cli_parse_uint("101", 0, 100, &v), -1);
	assert_int_equal(cli_parse_uint("0", 1, 100, &v), -1);
	assert_int_equal(cli_parse_uint("-1", 0, 100, &v), -1);
	assert_int_equal(cli_parse_uint("+1", 0, 100, &v), -1);
	assert_int_equal(cli_parse_uint(" 1", 0, 100, &v), -1);
	assert_int_equal(cli_parse_uint("1x", 0, 100, &v), -1);
	assert_int_equal(cli_parse_uint("", 0, 100, &v), -1);
	assert_int_equal(cli_parse_uint("99999999999999999999999", 0, UINT64_MAX, &v), -1);
	assert_int_equal(v, 42);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cli_options_apply_rows_and_permute_operands),
		cmocka_unit_test(cli_options_short_cluster_abbreviation_and_dashdash),
		cmocka_unit_test(cli_options_in_order_stops_at_first_operand),
		cmocka_unit_test(cli_options_errors_are_usage_errors),
		cmocka_unit_test(cli_parse_uint_is_strict),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
