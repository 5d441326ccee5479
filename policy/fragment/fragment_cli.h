/* fragment_cli: `parma policy fragment ...` (host only). */
#ifndef PARMA_POLICY_FRAGMENT_FRAGMENT_CLI_H
#define PARMA_POLICY_FRAGMENT_FRAGMENT_CLI_H

int fragment_cli_main(int argc, char **argv);

#endif
