/* Placeholder until this component's command lands: says so plainly. */
#include "policy/measure/measure_cli.h"

#include "common/cli.h"

int measure_cli_main(int argc, char **argv)
{
	(void)argc;
	return cli_error(argv[0], CLI_UNAVAILABLE, "not available in this build yet");
}
