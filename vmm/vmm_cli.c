/* Placeholder until this component's command lands: says so plainly. */
#include "vmm/vmm_cli.h"

#include "common/cli.h"

int vmm_cli_boot(int argc, char **argv)
{
	(void)argc;
	return cli_error(argv[0], CLI_UNAVAILABLE, "not available in this build yet");
}
