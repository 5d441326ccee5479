/* group_backend: which hypervisor runs a group, chosen automatically and explained in one line.
 *
 * Our own VMM on KVM is the product; it is the default where KVM runs Linux guests natively.
 * Where it cannot (no /dev/kvm, or KVM that is itself nested in a VM, as on CI machines, where
 * Linux runs ~1000x slower), QEMU TCG runs the same guest image, protocol and attestation flow
 * as the development backend. */
#ifndef PARMA_VMM_GROUP_GROUP_BACKEND_H
#define PARMA_VMM_GROUP_GROUP_BACKEND_H

#include <stddef.h>

#include "common/errbuf.h"

enum group_backend {
	GROUP_BACKEND_KVM,
	GROUP_BACKEND_QEMU,
};

enum group_tee {
	GROUP_TEE_SNP,
	GROUP_TEE_DEV,
};

const char *group_backend_name(enum group_backend b);
const char *group_tee_name(enum group_tee t);

/* Choose the backend: `requested` is "kvm", "qemu" or NULL (automatic). `why` receives the
 * one-line explanation printed by `parma run`. -EINVAL for an unknown name, -ENODEV when the
 * requested (or any) backend cannot run here, with eb saying what is missing. */
int group_backend_choose(const char *requested, enum group_backend *out, char *why,
			 size_t why_size, struct errbuf *eb);

/* Choose the attestation mode: "snp", "dev" or NULL (snp where the host can launch SNP
 * guests, else dev). `why` as above. */
int group_tee_choose(const char *requested, enum group_backend backend, enum group_tee *out,
		     char *why, size_t why_size, struct errbuf *eb);

#endif
