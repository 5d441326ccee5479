/* parma-vmm: the VMM alone (`parma boot` without the policy, image and attestation tools),
 * for control planes that spawn one VMM process per guest: fewer libraries to map means a
 * faster start and a smaller resident set. Same options and exit codes as `parma boot`. */
#include "vmm/vmm_cli.h"

int main(int argc, char **argv)
{
	argv[0] = "parma-vmm";
	return vmm_cli_boot(argc, argv);
}
