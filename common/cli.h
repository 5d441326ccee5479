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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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

/* Options: each subcommand describes its options in a table and calls cli_parse_options()
 * once, instead of its own getopt loop. GNU rules hold (it is built on getopt_long):
 * options and operands may mix, "--" ends the options, a long name may be abbreviated
 * while unambiguous, "--name=value" and "--name value" both work. */
enum cli_opt_kind {
	CLI_OPT_FLAG,   /* no value: *(bool *)dest = true */
	CLI_OPT_STRING, /* a value: *(const char **)dest = value (the last one wins) */
	CLI_OPT_FUNC,   /* a value: parse(prog, value, dest) returns 0 or an exit code
			 * (having printed why, e.g. through cli_usage_error) */
	CLI_OPT_FUNC_FLAG, /* no value: parse(prog, NULL, dest), as CLI_OPT_FUNC */
};

struct cli_opt {
	const char *name; /* long name without "--"; NULL: short only */
	char short_name;  /* 'o' for -o; 0: long only */
	enum cli_opt_kind kind;
	void *dest;
	int (*parse)(const char *prog, char *value, void *dest);
};

#define CLI_FLAG(name, sname, dest) { name, sname, CLI_OPT_FLAG, dest, NULL }
#define CLI_STRING(name, sname, dest) { name, sname, CLI_OPT_STRING, dest, NULL }
#define CLI_FUNC(name, sname, fn, dest) { name, sname, CLI_OPT_FUNC, dest, fn }
#define CLI_FUNC_FLAG(name, sname, fn, dest) { name, sname, CLI_OPT_FUNC_FLAG, dest, fn }

#define CLI_MAX_OPTIONS 64

enum cli_parse_flags {
	CLI_PARSE_IN_ORDER = 1, /* options end at the first operand (`parma agent CMD ARG`) */
};

/* Apply the options of argv[1..] by the table, in command-line order. On success return
 * CLI_OK with *first_operand the index of the first operand (argv is permuted so that the
 * operands come last). Otherwise print the problem and return the exit code: CLI_USAGE for
 * an unknown option ("unknown option '--x'"), a missing value ("option '--x' needs a
 * value") or a value given to a flag, or whatever a parse function returned. */
int cli_parse_options(const char *prog, const struct cli_opt *opts, size_t n_opts,
		      unsigned flags, int argc, char **argv, int *first_operand);

/* The start every command shares, as data: its usage text, its options and how many operands
 * it takes. */
struct cli_spec {
	const char *usage; /* for -h/--help, on stdout: a printf format whose %s is prog */
	const struct cli_opt *opts;
	size_t n_opts;
	unsigned flags;			/* enum cli_parse_flags */
	int min_operands, max_operands; /* max < 0: no limit */
	/* the usage error for another count of operands (NULL: "missing argument", or
	 * "unexpected argument 'X'" naming the first one too many) */
	const char *operands_error;
	const char *missing_error; /* for too few, when it says more (NULL: the above) */
};

/* -h/--help prints the usage (exit 0), then cli_parse_options() applies the options and the
 * count of operands is checked. Returns the index of the first operand, or -1 with *code the
 * exit code to end with now (CLI_OK after the help, else the usage error's). */
int cli_start(const char *prog, const struct cli_spec *spec, int argc, char **argv, int *code);

/* Strict unsigned decimal (no sign, no spaces) in min..max: 0, or -1 if s is not one. */
int cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif
