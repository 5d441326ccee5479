#ifndef PARMA_VMM_GROUP_AGENT_CLI_H
#define PARMA_VMM_GROUP_AGENT_CLI_H

/* `parma agent ...`: low-level client of a running parma-agent (send requests, attach stdio). */
int agent_cli_main(int argc, char **argv);

#endif
