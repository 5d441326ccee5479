#include "common/cli.h"

#include <stdarg.h>
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
