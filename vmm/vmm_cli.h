#ifndef PARMA_VMM_CLI_H
#define PARMA_VMM_CLI_H

/* `parma boot`: boot a kernel or firmware directly in our KVM VMM. */
int vmm_cli_boot(int argc, char **argv);

#endif
