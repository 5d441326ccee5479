/* fake_kvm: a scripted KVM behind struct kvm_ops for unit tests of the machine.
 * Records the order of VM-level ioctls and each vCPU's state; KVM_RUN plays a
 * script of exits per vCPU (then blocks like a halted vCPU until kicked). */
#ifndef PARMA_TESTS_FAKE_KVM_H
#define PARMA_TESTS_FAKE_KVM_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/kvm_ops.h"

#define FAKE_MAX_VCPUS 8
#define FAKE_MAX_STEPS 8
#define FAKE_MAX_CALLS 256

struct fake_exit {
	uint32_t reason;           /* KVM_EXIT_* ; 0xffffffff: KVM_RUN fails with -EFAULT */
	uint16_t port;             /* IO */
	uint64_t addr;             /* MMIO */
	uint8_t data[8];
	uint32_t len;
	bool is_write;
	uint32_t event;            /* SYSTEM_EVENT type */
};

struct fake_vcpu {
	struct kvm_run *run;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_cpuid_entry2 cpuid[8];
	uint32_t ncpuid;
	uint32_t nmsrs;
	uint32_t mp_state;
	bool mp_state_set;
	struct fake_exit script[FAKE_MAX_STEPS];
	unsigned n_script, pos;
	uint8_t last_read[8];      /* what the VMM put into kvm_run for the last read exit */
};

struct fake_kvm {
	unsigned long calls[FAKE_MAX_CALLS];
	unsigned n_calls;
	unsigned long vm_type;
	int fail_request;          /* ioctl number that fails with -EINVAL (0: none) */
	unsigned n_vcpus;
	unsigned n_slots;
	uint64_t slot_gpa[4], slot_size[4];
	struct fake_vcpu vcpu[FAKE_MAX_VCPUS];
	int irqfd_count, ioeventfd_count;
};

extern const struct kvm_ops fake_kvm_ops;

/* Index of the first call to `request` in the log, or -1. */
int fake_kvm_call_index(const struct fake_kvm *f, unsigned long request);

#endif
