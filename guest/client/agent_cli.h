#ifndef PARMA_GUEST_CLIENT_AGENT_CLI_H
#define PARMA_GUEST_CLIENT_AGENT_CLI_H

/* `parma agent ...`: low-level client of a running parma-agent (send requests, attach stdio). */
int agent_cli_main(int argc, char **argv);

#endif
