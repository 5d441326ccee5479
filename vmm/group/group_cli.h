/* Group commands: `parma run` and the commands that act on a running group. */
#ifndef PARMA_VMM_GROUP_GROUP_CLI_H
#define PARMA_VMM_GROUP_GROUP_CLI_H

int group_cli_run(int argc, char **argv);
int group_cli_ps(int argc, char **argv);
int group_cli_exec(int argc, char **argv);
int group_cli_logs(int argc, char **argv);
int group_cli_stop(int argc, char **argv);
int group_cli_attest(int argc, char **argv);

#endif
