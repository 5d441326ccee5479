#ifndef PARMA_POLICY_CLI_H
#define PARMA_POLICY_CLI_H

/* `parma policy`: check, digest, explain, diff, gen. */
int policy_cli_main(int argc, char **argv);

#endif
