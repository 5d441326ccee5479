#ifndef PARMA_POLICY_CLI_H
#define PARMA_POLICY_CLI_H

/* `parma policy check|digest|explain|diff` (the table lives in vmm/main.c). */
int policy_cli_check(int argc, char **argv);
int policy_cli_digest(int argc, char **argv);
int policy_cli_explain(int argc, char **argv);
int policy_cli_diff(int argc, char **argv);

/* cli_parse_options() parsers (common/cli.h) of `--env CONTAINER:NAME[=VALUE]` and
 * `--env-file FILE` into the struct policy_runenv at dest (policy/lang/policy_runenv.h):
 * parma run and parma policy explain take run-time values alike. */
int policy_cli_opt_env(const char *prog, char *value, void *dest);
int policy_cli_opt_env_file(const char *prog, char *value, void *dest);

#endif
