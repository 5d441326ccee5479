/* snp_predict: the MEASUREMENT a `parma boot --snp` launch of a VM config will
 * produce, computed without SEV-SNP hardware or /dev/kvm. The VM is built by
 * the real VMM code (vm_create: same loaders, ACPI, boot descriptor, layout)
 * over a "dry" KVM that only stores what it is told, and the SNP hooks run
 * their launch step against it: the plan they measure is exactly the one a
 * real launch hands the secure processor. Used by `parma boot --snp-predict`
 * and by dev-mode attestation, which must claim the same MEASUREMENT. */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/event_loop.h"
#include "vmm/snp_kvm.h"
#include "vmm/snp_launch.h"
#include "vmm/snp_machine.h"
#include "vmm/snp_predict.h"

#define DRY_SYS 3
#define DRY_VM 4
#define DRY_VCPU0 100
#define DRY_GMEM0 50
#define DRY_MAX_VCPUS 64

struct dry_kvm {
	struct kvm_regs regs[DRY_MAX_VCPUS];
	struct kvm_sregs sregs[DRY_MAX_VCPUS];
	int n_gmem;
};

static int dry_open(void *ctx)
{
	(void)ctx;
	return DRY_SYS;
}

static int dry_ioctl(void *ctx, int fd, unsigned long req, void *arg)
{
	struct dry_kvm *d = ctx;
	int v = fd - DRY_VCPU0;
	bool is_vcpu = v >= 0 && v < DRY_MAX_VCPUS;

	switch (req) {
	case KVM_GET_API_VERSION:
		return 12;
	case KVM_CHECK_EXTENSION:
		switch ((unsigned long)arg) {
		case KVM_CAP_MAX_VCPUS: return DRY_MAX_VCPUS;
		case SNP_KVM_CAP_VM_TYPES: return 1 << SNP_KVM_X86_SNP_VM;
		case SNP_KVM_CAP_MEMORY_ATTRIBUTES: return (int)SNP_KVM_MEMORY_ATTRIBUTE_PRIVATE;
		case SNP_KVM_CAP_EXIT_HYPERCALL: return 1 << SNP_KVM_HC_MAP_GPA_RANGE;
		default: return 1;
		}
	case KVM_CREATE_VM:
		return DRY_VM;
	case KVM_CREATE_VCPU:
		return (unsigned long)arg < DRY_MAX_VCPUS ? DRY_VCPU0 + (int)(unsigned long)arg
							  : -EINVAL;
	case KVM_GET_VCPU_MMAP_SIZE:
		return 3 * 4096;
	case SNP_KVM_CREATE_GUEST_MEMFD:
		return DRY_GMEM0 + d->n_gmem++;
	case KVM_GET_SUPPORTED_CPUID:
	case KVM_GET_CPUID2:
		((struct kvm_cpuid2 *)arg)->nent = 0; /* the CPUID page is not measured */
		return 0;
	case KVM_GET_DEVICE_ATTR: {
		/* Policy bits: the prediction does not depend on the policy, so
		 * accept what any kernel may (the real launch asks its KVM). */
		struct kvm_device_attr *a = arg;
		if (a->group != SNP_KVM_X86_GRP_SEV || a->attr != SNP_KVM_X86_SNP_POLICY_BITS)
			return -ENXIO;
		uint64_t bits = SNP_KVM_POLICY_ANY;
		memcpy((void *)(uintptr_t)a->addr, &bits, sizeof(bits));
		return 0;
	}
	case KVM_SET_MSRS:
		return (int)((struct kvm_msrs *)arg)->nmsrs;
	case KVM_GET_REGS:
		if (!is_vcpu)
			return -EBADF;
		*(struct kvm_regs *)arg = d->regs[v];
		return 0;
	case KVM_SET_REGS:
		if (!is_vcpu)
			return -EBADF;
		d->regs[v] = *(struct kvm_regs *)arg;
		return 0;
	case KVM_GET_SREGS:
		if (!is_vcpu)
			return -EBADF;
		*(struct kvm_sregs *)arg = d->sregs[v];
		return 0;
	case KVM_SET_SREGS:
		if (!is_vcpu)
			return -EBADF;
		d->sregs[v] = *(struct kvm_sregs *)arg;
		return 0;
	case KVM_GET_LAPIC:
		memset(arg, 0, sizeof(struct kvm_lapic_state));
		return 0;
	case SNP_KVM_MEMORY_ENCRYPT_OP: {
		struct snp_kvm_sev_cmd *c = arg;
		if (c->id == SNP_KVM_SEV_SNP_LAUNCH_UPDATE) {
			struct snp_kvm_launch_update *u = (void *)(uintptr_t)c->data;
			u->gfn_start += u->len / 4096;
			u->len = 0;
		}
		return 0;
	}
	default:
		return 0;
	}
}

static void *dry_map_run(void *ctx, int vcpu_fd, size_t size)
{
	(void)ctx;
	(void)vcpu_fd;
	return calloc(1, size);
}

static void dry_unmap_run(void *ctx, void *run, size_t size)
{
	(void)ctx;
	(void)size;
	free(run);
}

static void dry_close(void *ctx, int fd)
{
	(void)ctx;
	(void)fd;
}

static const struct kvm_ops dry_kvm_ops = {
	.name = "snp-predict", .open_system = dry_open, .ioctl = dry_ioctl,
	.map_run = dry_map_run, .unmap_run = dry_unmap_run, .close = dry_close,
};

int snp_predict_measurement(const struct vm_config *cfg_in, const struct snp_machine_config *scfg,
			    uint8_t out[48], struct errbuf *eb)
{
	struct vm_config cfg = *cfg_in;
	struct snp_machine_config sc = *scfg;
	struct dry_kvm *d = calloc(1, sizeof(*d));
	struct snp_machine *sm = NULL;
	struct event_loop *loop = NULL;
	struct vm *vm = NULL;
	int rc;

	if (!d)
		return errbuf_set(eb, ENOMEM, "out of memory");
	sc.dry_run = true;
	rc = snp_machine_create(&sc, &sm, eb);
	if (rc)
		goto out;
	loop = event_loop_create(eb);
	if (!loop) {
		rc = -EIO;
		goto out;
	}
	cfg.kvm = &dry_kvm_ops;
	cfg.kvm_ctx = d;
	cfg.hooks = snp_machine_hooks(sm);
	cfg.serial = "none";
	cfg.debug_log = "none";
	/* The vsock socket path is not measured (only the device is): bind a
	 * private one so a prediction never collides with a running VM. */
	char tmpdir[] = "/tmp/parma-snp-predict-XXXXXX", sock[64] = "";
	if (cfg.vsock_uds) {
		if (!mkdtemp(tmpdir)) {
			rc = errbuf_set(eb, errno, "mkdtemp: %s", strerror(errno));
			goto out;
		}
		snprintf(sock, sizeof(sock), "%s/vsock", tmpdir);
		cfg.vsock_uds = sock;
	}
	rc = vm_create(&cfg, loop, &vm, eb);
	if (rc)
		goto out;
	const struct machine_hooks *h = snp_machine_hooks(sm);
	rc = h->before_run(h->ctx, vm_machine(vm), eb);
	if (!rc)
		rc = snp_machine_measurement(sm, out);
out:
	vm_destroy(vm);
	if (cfg.vsock_uds && sock[0]) {
		unlink(sock);
		rmdir(tmpdir);
	}
	event_loop_destroy(loop);
	snp_machine_destroy(sm);
	free(d);
	return rc;
}
