/* kvm_ops: the one small interface through which the VMM talks to KVM.
 *
 * Every KVM call the VMM makes (system, VM and vCPU ioctls, the kvm_run
 * mapping) goes through a `struct kvm_ops`. `kvm_ops_host` is the real
 * /dev/kvm; tests substitute a fake that records calls and emulates exits
 * (and the SEV-SNP work plugs a fake KVM + secure processor in the same place,
 * adding its KVM_MEMORY_ENCRYPT_OP commands through `ioctl`). The interface is
 * deliberately ioctl-shaped: the KVM API is the contract, nothing is
 * re-invented, and a fake only implements the requests it is asked for. */
#ifndef PARMA_VMM_KVM_OPS_H
#define PARMA_VMM_KVM_OPS_H

#include <stddef.h>

struct kvm_ops {
	const char *name; /* "kvm" for the host, anything else for fakes */
	/* Open the KVM system device. Returns an fd (any small integer a fake
	 * chooses) or -errno (-ENOENT: no /dev/kvm, -EACCES: no permission). */
	int (*open_system)(void *ctx);
	/* ioctl(2) on an fd obtained through this interface (system, VM, vCPU,
	 * or device fd). Returns the ioctl's non-negative result or -errno. */
	int (*ioctl)(void *ctx, int fd, unsigned long request, void *arg);
	/* Map / unmap a vCPU's struct kvm_run (size from KVM_GET_VCPU_MMAP_SIZE).
	 * map_run returns NULL on failure. */
	void *(*map_run)(void *ctx, int vcpu_fd, size_t size);
	void (*unmap_run)(void *ctx, void *run, size_t size);
	void (*close)(void *ctx, int fd);
};

/* The host's /dev/kvm (ctx unused, pass NULL). */
extern const struct kvm_ops kvm_ops_host;

#endif
