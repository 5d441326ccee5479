/* `parma policy gen GROUP.json` */
#include "common/cli.h"
#include "policy/image/image_cli.h"

int policy_gen_cli_main(int argc, char **argv)
{
	(void)argc;
	return cli_error(argv[0], CLI_UNAVAILABLE, "not available in this build yet");
}
