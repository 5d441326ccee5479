/* Placeholder until this component's commands land: says so plainly. */
#include "guest/client/agent_cli.h"

#include "common/cli.h"

int agent_cli_main(int argc, char **argv)
{
	(void)argc;
	return cli_error(argv[0], CLI_UNAVAILABLE, "not available in this build yet");
}
