/* fake_psp: a fake of KVM's SEV-SNP ioctls and of the AMD secure processor
 * behind them, shared by the SNP launch tests. It enforces the kernel's rules
 * (SNP facts notes §1.3) and computes the launch digest on its own: PAGE_INFO
 * chain and VMSA bytes re-implemented here, not with policy/measure. */
#ifndef PARMA_TESTS_FAKE_PSP_H
#define PARMA_TESTS_FAKE_PSP_H

#include <linux/kvm.h>
#include <stdint.h>

#define MEM_SIZE (32u << 20)   /* largest guest_memfd slot the fake tracks */
#define PAGES (MEM_SIZE / 4096)
#define MAX_VCPUS 4

enum { ATTR_SHARED = 0, ATTR_PRIVATE = 1 };

struct fake {
	int vm_fd, kvm_fd;
	void (*sync_vcpus)(void); /* fills vcpus/regs/sregs before FINISH */
	int caps_ok;
	int vcpus;
	struct kvm_regs regs[MAX_VCPUS];
	struct kvm_sregs sregs[MAX_VCPUS];
	int init2, started, finished, hypercall_cap;
	uint64_t vmsa_features;
	int gmem_fd, slot_set;
	uint64_t slot_gpa, slot_size;
	uint8_t attr[PAGES];
	uint8_t launched[PAGES];
	uint8_t ld[48];
	unsigned n_updates, n_calls, eagain_every;
	uint8_t host_data[32];
	int id_block_checked;
	uint32_t cpuid_ebx_allowed; /* leaf 7.0 EBX bits the "CPU" allows */
	uint64_t policy_bits;       /* KVM_X86_SNP_POLICY_BITS; 0: a kernel without it */
	uint8_t types_seen[8];
};

extern struct fake F;

/* KVM ioctls of an SNP VM (and CHECK_EXTENSION); -ENOTTY for anything else. */
int fake_psp_ioctl(void *ctx, int fd, unsigned long req, void *arg);
/* Record a vCPU created with these registers (for tests without a machine). */
int fake_create_vcpu(const struct kvm_regs *r, const struct kvm_sregs *s);

#endif
