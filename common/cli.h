/* cli: the one command-line style of every `parma` subcommand.
 *
 * Exit codes (documented in README.md, "Exit codes"):
 *   0 success · 1 the operation ran and its answer is "no" (denied, claim did not
 *   hold, check failed) · 2 usage error (unknown subcommand/option, missing
 *   argument) · 3 invalid input (a file or field is malformed) · 4 something the
 *   host lacks (no /dev/kvm, no QEMU, no SEV-SNP) · 5 internal error.
 * Commands that run a guest or a container document their own codes on top. */
#ifndef PARMA_COMMON_CLI_H
#define PARMA_COMMON_CLI_H

#include <stdio.h>

enum cli_exit {
	CLI_OK = 0,
	CLI_FAILED = 1,
	CLI_USAGE = 2,
	CLI_BAD_INPUT = 3,
	CLI_UNAVAILABLE = 4,
	CLI_INTERNAL = 5,
};

/* A subcommand: `main` gets argv[0] = the full command name ("parma policy"). */
struct cli_command {
	const char *name;
	const char *summary;
	int (*main)(int argc, char **argv);
};

/* Dispatch argv[1] among commands; handles --help/-h/help (exit 0 with the
 * list) and unknown or missing subcommands (exit 2). `prog` is the full
 * command name so far ("parma", "parma policy"). */
int cli_dispatch(const char *prog, const char *description,
		 const struct cli_command *commands, size_t n_commands,
		 int argc, char **argv);

/* Print "<prog>: <message>" and "Try '<prog> --help'." on stderr; return 2. */
int cli_usage_error(const char *prog, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Print "<prog>: <message>" on stderr and return `code`. */
int cli_error(const char *prog, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* True if argv holds -h or --help before any "--". */
int cli_wants_help(int argc, char **argv);

#define CLI_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
