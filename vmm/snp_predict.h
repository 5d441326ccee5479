/* snp_predict: the MEASUREMENT an SEV-SNP launch of a VM config will produce,
 * without SNP hardware or /dev/kvm (the VMM builds the VM against a recording
 * KVM and measures the launch plan it would execute). For `parma boot
 * --snp-predict` and dev-mode attestation, which must claim the same digest
 * a real launch gets. */
#ifndef PARMA_VMM_SNP_PREDICT_H
#define PARMA_VMM_SNP_PREDICT_H

#include <stdint.h>

#include "common/errbuf.h"
#include "vmm/snp_machine.h"
#include "vmm/vm.h"

/* cfg: as for `parma boot --snp` (firmware required; kvm/hooks ignored).
 * scfg: launch settings (VMSA features matter; policy and HOST_DATA do not
 * enter the MEASUREMENT); launch_dir, if set, receives the measured blobs. */
int snp_predict_measurement(const struct vm_config *cfg, const struct snp_machine_config *scfg,
			    uint8_t out[48], struct errbuf *eb);

#endif
