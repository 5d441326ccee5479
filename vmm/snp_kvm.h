/* snp_kvm: the Linux KVM uAPI for SEV-SNP guests (Linux 6.11+).
 *
 * Debian 12's <linux/kvm.h> (6.1) has none of this, so the numbers and
 * layouts are defined here from the upstream uAPI headers (see the SNP facts
 * notes §1; offsets are checked with static asserts). Prefixed SNP_ so they
 * never clash with a newer system header. */
#ifndef PARMA_VMM_SNP_KVM_H
#define PARMA_VMM_SNP_KVM_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#define SNP_KVM_X86_SNP_VM 4ul

#define SNP_KVM_CHECK_EXTENSION 0xAE03ul
#define SNP_KVM_ENABLE_CAP 0x4068AEA3ul
#define SNP_KVM_MEMORY_ENCRYPT_OP 0xC008AEBAul
#define SNP_KVM_SET_USER_MEMORY_REGION2 0x40A0AE49ul
#define SNP_KVM_SET_MEMORY_ATTRIBUTES 0x4020AED2ul
#define SNP_KVM_CREATE_GUEST_MEMFD 0xC040AED4ul

/* KVM_GET_DEVICE_ATTR on /dev/kvm: group KVM_X86_GRP_SEV, attribute
 * KVM_X86_SNP_POLICY_BITS (the policy bits LAUNCH_START accepts; newer kernels). */
#define SNP_KVM_X86_GRP_SEV 1u
#define SNP_KVM_X86_SNP_POLICY_BITS 1u

#define SNP_KVM_CAP_EXIT_HYPERCALL 201u
#define SNP_KVM_CAP_USER_MEMORY2 231u
#define SNP_KVM_CAP_MEMORY_FAULT_INFO 232u
#define SNP_KVM_CAP_MEMORY_ATTRIBUTES 233u
#define SNP_KVM_CAP_GUEST_MEMFD 234u
#define SNP_KVM_CAP_VM_TYPES 235u

#define SNP_KVM_MEM_GUEST_MEMFD (1u << 2)
#define SNP_KVM_MEMORY_ATTRIBUTE_PRIVATE (1ull << 3)

#define SNP_KVM_EXIT_HYPERCALL 3u
#define SNP_KVM_EXIT_MEMORY_FAULT 39u
#define SNP_KVM_MEMORY_EXIT_FLAG_PRIVATE (1ull << 3)
#define SNP_KVM_HC_MAP_GPA_RANGE 12u
#define SNP_KVM_MAP_GPA_RANGE_ENCRYPTED (1ull << 4)
#define SNP_KVM_MAP_GPA_RANGE_PAGE_SZ_MASK 0x3ull

/* enum sev_cmd_id */
#define SNP_KVM_SEV_INIT2 22u
#define SNP_KVM_SEV_SNP_LAUNCH_START 100u
#define SNP_KVM_SEV_SNP_LAUNCH_UPDATE 101u
#define SNP_KVM_SEV_SNP_LAUNCH_FINISH 102u

/* Secure processor status codes seen at launch. */
#define SNP_FW_INVALID_PARAM 0x16u

#define SNP_ID_BLOCK_SIZE 96u
#define SNP_ID_AUTH_SIZE 4096u

struct snp_kvm_sev_cmd {
	uint32_t id;
	uint32_t pad0;
	uint64_t data;
	uint32_t error;
	uint32_t sev_fd;
};

struct snp_kvm_sev_init {
	uint64_t vmsa_features;
	uint32_t flags;
	uint16_t ghcb_version;
	uint16_t pad1;
	uint32_t pad2[8];
};

struct snp_kvm_launch_start {
	uint64_t policy;
	uint8_t gosvw[16];
	uint16_t flags;
	uint8_t pad0[6];
	uint64_t pad1[4];
};

struct snp_kvm_launch_update {
	uint64_t gfn_start;
	uint64_t uaddr;
	uint64_t len;
	uint8_t type;
	uint8_t pad0;
	uint16_t flags;
	uint32_t pad1;
	uint64_t pad2[4];
};

struct snp_kvm_launch_finish {
	uint64_t id_block_uaddr;
	uint64_t id_auth_uaddr;
	uint8_t id_block_en;
	uint8_t auth_key_en;
	uint8_t vcek_disabled;
	uint8_t host_data[32];
	uint8_t pad0[3];
	uint16_t flags;
	uint64_t pad1[4];
};

struct snp_kvm_memory_region2 {
	uint32_t slot;
	uint32_t flags;
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t guest_memfd_offset;
	uint32_t guest_memfd;
	uint32_t pad1;
	uint64_t pad2[14];
};

struct snp_kvm_create_guest_memfd {
	uint64_t size;
	uint64_t flags;
	uint64_t reserved[6];
};

struct snp_kvm_memory_attributes {
	uint64_t address;
	uint64_t size;
	uint64_t attributes;
	uint64_t flags;
};

struct snp_kvm_enable_cap {
	uint32_t cap;
	uint32_t flags;
	uint64_t args[4];
	uint8_t pad[64];
};

/* kvm_run exit union fields this code reads (offsets from the start of kvm_run). */
#define SNP_KVM_RUN_EXIT_REASON 8u
#define SNP_KVM_RUN_HC_NR 32u
#define SNP_KVM_RUN_HC_ARGS 40u
#define SNP_KVM_RUN_HC_RET 88u
#define SNP_KVM_RUN_MF_FLAGS 32u
#define SNP_KVM_RUN_MF_GPA 40u
#define SNP_KVM_RUN_MF_SIZE 48u

static_assert(sizeof(struct snp_kvm_sev_cmd) == 24, "kvm_sev_cmd");
static_assert(sizeof(struct snp_kvm_sev_init) == 48, "kvm_sev_init");
static_assert(sizeof(struct snp_kvm_launch_start) == 64, "kvm_sev_snp_launch_start");
static_assert(offsetof(struct snp_kvm_launch_start, flags) == 24, "launch_start.flags");
static_assert(sizeof(struct snp_kvm_launch_update) == 64, "kvm_sev_snp_launch_update");
static_assert(offsetof(struct snp_kvm_launch_update, type) == 24, "launch_update.type");
static_assert(sizeof(struct snp_kvm_launch_finish) == 88, "kvm_sev_snp_launch_finish");
static_assert(offsetof(struct snp_kvm_launch_finish, host_data) == 19, "finish.host_data");
static_assert(offsetof(struct snp_kvm_launch_finish, flags) == 54, "finish.flags");
static_assert(sizeof(struct snp_kvm_memory_region2) == 160, "kvm_userspace_memory_region2");
static_assert(offsetof(struct snp_kvm_memory_region2, guest_memfd) == 40, "region2.guest_memfd");
static_assert(sizeof(struct snp_kvm_create_guest_memfd) == 64, "kvm_create_guest_memfd");
static_assert(sizeof(struct snp_kvm_memory_attributes) == 32, "kvm_memory_attributes");
static_assert(sizeof(struct snp_kvm_enable_cap) == 104, "kvm_enable_cap");

#endif
