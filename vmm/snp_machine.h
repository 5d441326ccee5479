/* snp_machine: the SEV-SNP launch plugged into the VMM's machine
 * (vmm/machine.h `struct machine_hooks`).
 *
 *   vm_created   KVM_SEV_INIT2 (after KVM_CREATE_VM(KVM_X86_SNP_VM), before vCPUs)
 *   set_memory   guest_memfd slots, private by default
 *   before_run   staging areas (kernel, initrd, cmdline) shared; every vCPU set
 *                to the documented firmware entry state; LAUNCH_START, UPDATE
 *                of firmware, boot descriptor, ACPI, secrets and CPUID pages,
 *                LAUNCH_FINISH with HOST_DATA (and an optional ID block)
 *   handle_exit  page-state changes and implicit conversions; the firmware's
 *                GHCB termination request ends the VM with 16 + its code
 * SNP launches boot the stage0 firmware (`--firmware`); direct kernel boot is
 * refused. */
#ifndef PARMA_VMM_SNP_MACHINE_H
#define PARMA_VMM_SNP_MACHINE_H

#include <stdint.h>

#include "common/errbuf.h"
#include "vmm/machine.h"
#include "vmm/snp_launch.h"

struct snp_machine;

struct snp_machine_config {
	struct snp_launch_config launch; /* policy (0: default), features, HOST_DATA, ID block */
	const char *sev_device;          /* NULL: /dev/sev */
	const char *launch_dir;          /* if set: write the measured boot descriptor and
					  * ACPI blobs there (boot-descriptor.dtb, acpi.bin)
					  * so `parma measure` can recompute the digest */
	bool dry_run;                    /* no /dev/sev; KVM is a recorder (snp_predict.h) */
};

/* Opens the SEV device. Errors say what the host lacks. */
int snp_machine_create(const struct snp_machine_config *cfg, struct snp_machine **out,
		       struct errbuf *eb);
const struct machine_hooks *snp_machine_hooks(struct snp_machine *sm);
/* The MEASUREMENT the launch produces (valid after machine_start succeeded). */
int snp_machine_measurement(const struct snp_machine *sm, uint8_t out[48]);
void snp_machine_destroy(struct snp_machine *sm);

#endif
