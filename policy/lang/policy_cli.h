#ifndef PARMA_POLICY_CLI_H
#define PARMA_POLICY_CLI_H

/* `parma policy check|digest|explain|diff` (the table lives in vmm/main.c). */
int policy_cli_check(int argc, char **argv);
int policy_cli_digest(int argc, char **argv);
int policy_cli_explain(int argc, char **argv);
int policy_cli_diff(int argc, char **argv);

#endif
