/* kbs_cli: `parma kbs` — serve, put, list, rm, policy check. */
#ifndef PARMA_KBS_KBS_CLI_H
#define PARMA_KBS_KBS_CLI_H

int kbs_cli_main(int argc, char **argv);

#endif
