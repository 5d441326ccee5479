#include "common/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cli_usage_error(const char *prog, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", prog);
	return CLI_USAGE;
}

int cli_error(const char *prog, int code, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

int cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return 0;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return 1;
	}
	return 0;
}

static void cli_print_commands(FILE *out, const char *prog, const char *description,
			       const struct cli_command *commands, size_t n)
{
	fprintf(out, "Usage: %s <command> [options]\n\n%s\n\nCommands:\n", prog, description);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nRun '%s <command> --help' for a command's options.\n", prog);
}

int cli_dispatch(const char *prog, const char *description,
		 const struct cli_command *commands, size_t n, int argc, char **argv)
{
	if (argc < 2) {
		cli_print_commands(stderr, prog, description, commands, n);
		return CLI_USAGE;
	}
	const char *name = argv[1];
	if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
		cli_print_commands(stdout, prog, description, commands, n);
		return CLI_OK;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(commands[i].name, name))
			continue;
		char full[256];
		snprintf(full, sizeof(full), "%s %s", prog, name);
		argv[1] = full;
		return commands[i].main(argc - 1, argv + 1);
	}
	if (name[0] == '-')
		return cli_usage_error(prog, "unknown option '%s'", name);
	return cli_usage_error(prog, "unknown command '%s'", name);
}

/* getopt_long's value for option i: its short letter, or 256 + i for long-only options. */
static int opt_val(const struct cli_opt *o, size_t i)
{
	return o->short_name ? (unsigned char)o->short_name : 256 + (int)i;
}

static bool opt_takes_value(const struct cli_opt *o)
{
	return o->kind == CLI_OPT_STRING || o->kind == CLI_OPT_FUNC;
}

int cli_parse_options(const char *prog, const struct cli_opt *opts, size_t n, unsigned flags,
		      int argc, char **argv, int *first_operand)
{
	struct option longopts[CLI_MAX_OPTIONS + 1];
	char shortopts[3 + 2 * CLI_MAX_OPTIONS + 1];
	size_t nl = 0, ns = 0;
	if (n > CLI_MAX_OPTIONS)
		return cli_error(prog, CLI_INTERNAL, "too many options in the table (%zu)", n);
	if (flags & CLI_PARSE_IN_ORDER)
		shortopts[ns++] = '+';
	shortopts[ns++] = ':'; /* a missing value returns ':', not '?' */
	for (size_t i = 0; i < n; i++) {
		const struct cli_opt *o = &opts[i];
		int has_arg = opt_takes_value(o) ? required_argument : no_argument;
		if (o->name)
			longopts[nl++] = (struct option){ o->name, has_arg, NULL, opt_val(o, i) };
		if (o->short_name) {
			shortopts[ns++] = o->short_name;
			if (has_arg == required_argument)
				shortopts[ns++] = ':';
		}
	}
	longopts[nl] = (struct option){ 0 };
	shortopts[ns] = '\0';

	optind = 0; /* full reset: this process may parse more than one command line */
	opterr = 0;
	for (int c; (c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1;) {
		if (c == '?' || c == ':') {
			const char *arg = argv[optind - 1];
			char text[4] = { '-', (char)optopt, 0 };
			/* A bad letter inside a cluster (-qx) names just that letter. */
			if (optopt > 0 && optopt < 256 && strncmp(arg, "--", 2))
				arg = text;
			if (c == ':')
				return cli_usage_error(prog, "option '%s' needs a value", arg);
			if (optopt && !strncmp(arg, "--", 2)) /* --flag=value */
				return cli_usage_error(prog, "option '%s' takes no value", arg);
			return cli_usage_error(prog, "unknown option '%s'", arg);
		}
		const struct cli_opt *o = NULL;
		for (size_t i = 0; i < n && !o; i++)
			if (opt_val(&opts[i], i) == c)
				o = &opts[i];
		if (!o)
			return cli_error(prog, CLI_INTERNAL, "option table: no entry for %d", c);
		int rc = 0;
		switch (o->kind) {
		case CLI_OPT_FLAG:
			*(bool *)o->dest = true;
			break;
		case CLI_OPT_STRING:
			*(const char **)o->dest = optarg;
			break;
		case CLI_OPT_FUNC:
			rc = o->parse(prog, optarg, o->dest);
			break;
		case CLI_OPT_FUNC_FLAG:
			rc = o->parse(prog, NULL, o->dest);
			break;
		}
		if (rc)
			return rc;
	}
	*first_operand = optind;
	return CLI_OK;
}

int cli_start(const char *prog, const struct cli_spec *spec, int argc, char **argv, int *code)
{
	int first;
	if (cli_wants_help(argc, argv)) {
		printf(spec->usage, prog);
		*code = CLI_OK;
		return -1;
	}
	*code = cli_parse_options(prog, spec->opts, spec->n_opts, spec->flags, argc, argv, &first);
	if (*code != CLI_OK)
		return -1;
	int n = argc - first;
	bool few = n < spec->min_operands;
	if (few || (spec->max_operands >= 0 && n > spec->max_operands)) {
		if (few && spec->missing_error)
			*code = cli_usage_error(prog, "%s", spec->missing_error);
		else if (spec->operands_error)
			*code = cli_usage_error(prog, "%s", spec->operands_error);
		else if (few)
			*code = cli_usage_error(prog, "missing argument");
		else
			*code = cli_usage_error(prog, "unexpected argument '%s'",
						argv[first + spec->max_operands]);
		return -1;
	}
	return first;
}

int cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (!s || *s < '0' || *s > '9')
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}
