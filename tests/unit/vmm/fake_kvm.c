#include "fake_kvm.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#define FD_SYS 100
#define FD_VM 101
#define FD_VCPU0 200
#define RUN_SIZE 8192

int fake_kvm_call_index(const struct fake_kvm *f, unsigned long request)
{
	for (unsigned i = 0; i < f->n_calls; i++)
		if (f->calls[i] == request)
			return (int)i;
	return -1;
}

static int fake_open(void *ctx)
{
	(void)ctx;
	return FD_SYS;
}

static void put_exit(struct fake_vcpu *v, const struct fake_exit *e)
{
	struct kvm_run *run = v->run;
	run->exit_reason = e->reason;
	switch (e->reason) {
	case KVM_EXIT_IO:
		run->io.direction = e->is_write ? KVM_EXIT_IO_OUT : KVM_EXIT_IO_IN;
		run->io.size = (uint8_t)e->len;
		run->io.port = e->port;
		run->io.count = 1;
		run->io.data_offset = 4096;
		memcpy((uint8_t *)run + 4096, e->data, e->len);
		break;
	case KVM_EXIT_MMIO:
		run->mmio.phys_addr = e->addr;
		run->mmio.len = e->len;
		run->mmio.is_write = e->is_write;
		memcpy(run->mmio.data, e->data, e->len);
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		run->system_event.type = e->event;
		break;
	default:
		break;
	}
}

static int fake_run(struct fake_vcpu *v)
{
	/* Record what the VMM answered to the previous read exit. */
	if (v->pos) {
		const struct fake_exit *prev = &v->script[v->pos - 1];
		if (prev->reason == KVM_EXIT_IO && !prev->is_write)
			memcpy(v->last_read, (uint8_t *)v->run + 4096, prev->len);
		if (prev->reason == KVM_EXIT_MMIO && !prev->is_write)
			memcpy(v->last_read, v->run->mmio.data, prev->len);
	}
	for (;;) {
		if (__atomic_load_n(&v->run->immediate_exit, __ATOMIC_SEQ_CST))
			return -EINTR;
		if (v->pos < v->n_script) {
			const struct fake_exit *e = &v->script[v->pos++];
			if (e->reason == 0xffffffffu)
				return -EFAULT;
			put_exit(v, e);
			return 0;
		}
		/* A halted vCPU: wait to be kicked (the kick sets immediate_exit). */
		poll(NULL, 0, 1);
	}
}

static int fake_ioctl(void *ctx, int fd, unsigned long req, void *arg)
{
	struct fake_kvm *f = ctx;
	if (f->n_calls < FAKE_MAX_CALLS && req != KVM_RUN)
		__atomic_store_n(&f->calls[f->n_calls++], req, __ATOMIC_SEQ_CST);
	if (f->fail_request && (unsigned long)f->fail_request == req)
		return -EINVAL;
	struct fake_vcpu *v = fd >= FD_VCPU0 && fd < FD_VCPU0 + FAKE_MAX_VCPUS
				      ? &f->vcpu[fd - FD_VCPU0] : NULL;
	switch (req) {
	case KVM_GET_API_VERSION: return 12;
	case KVM_CHECK_EXTENSION:
		return (long)arg == KVM_CAP_MAX_VCPUS ? FAKE_MAX_VCPUS : 1;
	case KVM_CREATE_VM:
		f->vm_type = (unsigned long)arg;
		return FD_VM;
	case KVM_GET_VCPU_MMAP_SIZE: return RUN_SIZE;
	case KVM_GET_SUPPORTED_CPUID: {
		struct kvm_cpuid2 *c = arg;
		c->nent = 3;
		c->entries[0] = (struct kvm_cpuid_entry2){ .function = 0, .eax = 0xd };
		c->entries[1] = (struct kvm_cpuid_entry2){ .function = 1, .ebx = 0xff00ffff,
							   .ecx = 0x8 };
		c->entries[2] = (struct kvm_cpuid_entry2){ .function = 0xa, .eax = 0x7, .ebx = 1 };
		return 0;
	}
	case KVM_SET_USER_MEMORY_REGION: {
		struct kvm_userspace_memory_region *r = arg;
		if (f->n_slots < 4) {
			f->slot_gpa[f->n_slots] = r->guest_phys_addr;
			f->slot_size[f->n_slots] = r->memory_size;
			f->n_slots++;
		}
		return 0;
	}
	case KVM_CREATE_VCPU: {
		unsigned long i = (unsigned long)arg;
		if (i >= FAKE_MAX_VCPUS)
			return -EINVAL;
		f->n_vcpus++;
		return FD_VCPU0 + (int)i;
	}
	case KVM_SET_CPUID2: {
		struct kvm_cpuid2 *c = arg;
		v->ncpuid = c->nent < 8 ? c->nent : 8;
		memcpy(v->cpuid, c->entries, v->ncpuid * sizeof(c->entries[0]));
		return 0;
	}
	case KVM_SET_MSRS:
		v->nmsrs = ((struct kvm_msrs *)arg)->nmsrs;
		return (int)v->nmsrs;
	case KVM_GET_LAPIC:
		memset(arg, 0, sizeof(struct kvm_lapic_state));
		return 0;
	case KVM_GET_SREGS:
		*(struct kvm_sregs *)arg = v->sregs;
		return 0;
	case KVM_SET_SREGS:
		v->sregs = *(struct kvm_sregs *)arg;
		return 0;
	case KVM_SET_REGS:
		v->regs = *(struct kvm_regs *)arg;
		return 0;
	case KVM_SET_MP_STATE:
		v->mp_state = ((struct kvm_mp_state *)arg)->mp_state;
		v->mp_state_set = true;
		return 0;
	case KVM_IRQFD:
		f->irqfd_count++;
		return 0;
	case KVM_IOEVENTFD:
		f->ioeventfd_count++;
		return 0;
	case KVM_RUN:
		return fake_run(v);
	default:
		return 0; /* TSS, identity map, irqchip, PIT, LAPIC set, IRQ line */
	}
}

static void *fake_map_run(void *ctx, int vcpu_fd, size_t size)
{
	struct fake_kvm *f = ctx;
	struct kvm_run *run = calloc(1, size);
	if (run && vcpu_fd >= FD_VCPU0 && vcpu_fd < FD_VCPU0 + FAKE_MAX_VCPUS)
		f->vcpu[vcpu_fd - FD_VCPU0].run = run;
	return run;
}

static void fake_unmap_run(void *ctx, void *run, size_t size)
{
	(void)ctx;
	(void)size;
	free(run);
}

static void fake_close(void *ctx, int fd)
{
	(void)ctx;
	(void)fd;
}

const struct kvm_ops fake_kvm_ops = {
	.name = "fake",
	.open_system = fake_open,
	.ioctl = fake_ioctl,
	.map_run = fake_map_run,
	.unmap_run = fake_unmap_run,
	.close = fake_close,
};
