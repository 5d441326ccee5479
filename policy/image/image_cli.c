/* Placeholder until this component's commands land: says so plainly. */
#include "policy/image/image_cli.h"

#include "common/cli.h"

int image_cli_main(int argc, char **argv)
{
	(void)argc;
	return cli_error(argv[0], CLI_UNAVAILABLE, "not available in this build yet");
}

int policy_gen_cli_main(int argc, char **argv)
{
	(void)argc;
	return cli_error(argv[0], CLI_UNAVAILABLE, "not available in this build yet");
}
