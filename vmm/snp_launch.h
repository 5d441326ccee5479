/* snp_launch: launch and run an SEV-SNP guest through KVM.
 *
 * Sequence (KVM's rules, SNP facts notes §1.3-1.5):
 *   snp_vm_init2()        right after KVM_CREATE_VM(KVM_X86_SNP_VM), before
 *                         any vCPU: KVM_SEV_INIT2
 *   snp_vm_add_memory()   per RAM slot: guest_memfd + SET_USER_MEMORY_REGION2,
 *                         whole slot private ("private by default")
 *   snp_vm_set_shared()   ranges the firmware reads from the host (kernel,
 *                         initrd, cmdline staging) go back to shared
 *   snp_vm_launch()       LAUNCH_START(policy), LAUNCH_UPDATE of every plan
 *                         item in order, LAUNCH_FINISH(host data, ID block);
 *                         KVM measures one VMSA per vCPU at FINISH
 *   snp_vm_handle_exit()  at run time: KVM_HC_MAP_GPA_RANGE hypercalls and
 *                         KVM_EXIT_MEMORY_FAULT convert private <-> shared
 * Every KVM call goes through `ioctl` (the VMM's kvm_ops, or a fake KVM +
 * secure processor in tests). */
#ifndef PARMA_VMM_SNP_LAUNCH_H
#define PARMA_VMM_SNP_LAUNCH_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/errbuf.h"
#include "policy/measure/snp_plan.h"

#define SNP_MAX_SLOTS 8

struct snp_kvm_io {
	int (*ioctl)(void *ctx, int fd, unsigned long request, void *arg); /* >= 0 or -errno */
	void *ctx;
	bool real;      /* real KVM: also release the unused backing on conversions */
};

/* Optional ID block: the secure processor checks it at LAUNCH_FINISH, and the
 * report then carries FAMILY_ID, IMAGE_ID, GUEST_SVN and the key digests. */
struct snp_id_config {
	EVP_PKEY *id_key;        /* P-384; NULL: no ID block */
	EVP_PKEY *author_key;    /* P-384 or NULL */
	uint8_t family_id[16];
	uint8_t image_id[16];
	uint32_t guest_svn;
};

struct snp_launch_config {
	uint64_t policy;         /* 0: SNP_DEFAULT_POLICY */
	uint64_t vmsa_features;  /* KVM_SEV_INIT2 (KVM adds SNPActive) */
	uint8_t host_data[32];   /* SHA-256 of the execution policy */
	struct snp_id_config id; /* optional */
};

struct snp_slot {
	uint32_t slot;
	uint64_t gpa, size;
	uint8_t *host;           /* shared view */
	int gmem_fd;
};

struct snp_vm {
	struct snp_kvm_io io;
	int vm_fd;
	int sev_fd;              /* open /dev/sev (passed in every SEV command) */
	struct snp_launch_config cfg;
	unsigned n_slots;
	struct snp_slot slot[SNP_MAX_SLOTS];
	bool init2_done, started, finished;
	uint8_t expected[SNP_LD_LEN]; /* MEASUREMENT the plan predicts */
	uint64_t conversions;    /* private<->shared changes at run time */
	uint64_t kvm_policy_bits; /* policy bits KVM accepts (0: SNP_KVM_POLICY_BASE) */
};

/* Reset `vm` for a VM fd (call before vCPUs exist). */
void snp_vm_setup(struct snp_vm *vm, const struct snp_kvm_io *io, int vm_fd, int sev_fd,
		  const struct snp_launch_config *cfg);

/* Check the host's KVM offers what an SNP launch needs (on the /dev/kvm fd).
 * Error names the missing capability. */
int snp_host_check(const struct snp_kvm_io *io, int kvm_fd, struct errbuf *eb);

/* Guest policy bits every SNP-capable KVM accepts (Linux 6.11): ABI minor and
 * major, SMT, the must-be-one bit 17, DEBUG, SINGLE_SOCKET. */
#define SNP_KVM_POLICY_BASE (0xffffull | 1ull << 16 | 1ull << 17 | 1ull << 19 | 1ull << 20)
/* Every policy bit some kernel may accept (all but MIGRATE_MA (18) below bit
 * 26; bits 21..25 only on kernels that list them in KVM_X86_SNP_POLICY_BITS):
 * for checks made before KVM is asked. */
#define SNP_KVM_POLICY_ANY (((1ull << 26) - 1) & ~(1ull << 18))

/* The policy bits the host's KVM accepts at LAUNCH_START (KVM_GET_DEVICE_ATTR
 * KVM_X86_SNP_POLICY_BITS on the /dev/kvm fd; SNP_KVM_POLICY_BASE on kernels
 * without the attribute). */
uint64_t snp_host_policy_bits(const struct snp_kvm_io *io, int kvm_fd);

/* Refuse a guest policy KVM would refuse, naming the bit: bit 17 clear,
 * MIGRATE_MA (18), reserved bits 63:26, and bits outside `kvm_bits` (0:
 * SNP_KVM_POLICY_BASE). snp_vm_launch() runs it with vm->kvm_policy_bits. */
int snp_policy_check(uint64_t policy, uint64_t kvm_bits, struct errbuf *eb);

int snp_vm_init2(struct snp_vm *vm, struct errbuf *eb);
int snp_vm_add_memory(struct snp_vm *vm, uint32_t slot, uint64_t gpa, uint64_t size,
		      void *host, struct errbuf *eb);
int snp_vm_set_shared(struct snp_vm *vm, uint64_t gpa, uint64_t size, struct errbuf *eb);

/* Launch the plan. CPUID items are passed with their page contents in
 * `cpuid_page` (the digest ignores them); on rejection the error lists the
 * leaves the secure processor corrected. `plan->vcpu` must equal what the
 * vCPUs hold (the caller checks against KVM). */
int snp_vm_launch(struct snp_vm *vm, const struct snp_plan *plan, const uint8_t *cpuid_page,
		  struct errbuf *eb);

/* One run-time exit, given the vCPU's kvm_run. Returns 0 if handled (re-enter
 * KVM_RUN), -ENOTSUP if the exit is not an SNP one, -errno on failure.
 * `run_rc` is KVM_RUN's return (-EFAULT comes with KVM_EXIT_MEMORY_FAULT). */
int snp_vm_handle_exit(struct snp_vm *vm, void *run, int run_rc);

void snp_vm_release(struct snp_vm *vm);

/* ID block + ID auth for LAUNCH_FINISH (SNP ABI; facts §2.6): block signed
 * with the ID key (ECDSA P-384, SHA-384), the ID key signed by the author
 * key if given. */
int snp_id_block_build(const struct snp_id_config *id, const uint8_t ld[SNP_LD_LEN],
		       uint64_t policy, uint8_t block[96], uint8_t auth[4096],
		       struct errbuf *eb);

/* SNP CPUID page from KVM's CPUID entries, as QEMU builds it: at most 64
 * (more is -E2BIG, never a cut list); index-significant leaves keep ECX in;
 * leaf 0xD subleaves 0/1 get XCR0_IN = 1 and EBX = 0x240 for the legacy area;
 * the features the secure processor refuses (TSC_DEADLINE, TSC_ADJUST,
 * SPEC_CTRL, STIBP, FLUSH_L1D, ARCH_CAPABILITIES, CORE_CAPABILITY, SSBD,
 * VIRT_SSBD; table in snp_cpuid.c) are cleared. */
struct kvm_cpuid_entry2;
int snp_cpuid_page_build(const struct kvm_cpuid_entry2 *e, unsigned n, uint8_t page[4096],
			 struct errbuf *eb);

#endif
