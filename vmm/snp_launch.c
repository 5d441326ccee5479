#include "vmm/snp_launch.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "policy/attest/snp_report.h"
#include "vmm/snp_kvm.h"
#include "common/guest_abi/snp_layout.h"

/* Guest policy bits (SNP ABI; facts §3.1) and what KVM does with them at
 * LAUNCH_START: it refuses every bit outside its supported set. Kernels since
 * 6.11 support ABI_MINOR/MAJOR, SMT, the must-be-one bit 17, DEBUG and
 * SINGLE_SOCKET; newer ones report their set through the KVM_X86_SNP_POLICY_BITS
 * device attribute and may add bits 21..25 (firmware permitting). MIGRATE_MA
 * (18) is never supported: KVM has no migration agent. 63:26 are reserved. */
static const char *const policy_bit_names[26] = {
	[16] = "SMT", [17] = "RSVD_MBO", [18] = "MIGRATE_MA", [19] = "DEBUG",
	[20] = "SINGLE_SOCKET", [21] = "CXL_ALLOW", [22] = "MEM_AES_256_XTS",
	[23] = "RAPL_DIS", [24] = "CIPHERTEXT_HIDING_DRAM", [25] = "PAGE_SWAP_DISABLE",
};

int snp_policy_check(uint64_t policy, uint64_t kvm_bits, struct errbuf *eb)
{
	if (!kvm_bits)
		kvm_bits = SNP_KVM_POLICY_BASE;
	if (!(policy & SNP_POLICY_RESERVED_MBO))
		return errbuf_set(eb, EINVAL, "guest policy 0x%llx: bit 17 (reserved, must be one) "
				  "is clear", (unsigned long long)policy);
	for (unsigned bit = 0; bit < 64; bit++) {
		uint64_t b = 1ull << bit;
		if (!(policy & b) || (kvm_bits & b))
			continue;
		if (b & SNP_POLICY_MBZ_MASK)
			return errbuf_set(eb, EINVAL, "guest policy 0x%llx: bit %u is reserved "
					  "(must be zero)", (unsigned long long)policy, bit);
		if (b == SNP_POLICY_MIGRATE_MA)
			return errbuf_set(eb, EINVAL, "guest policy 0x%llx: bit 18 (MIGRATE_MA) is "
					  "not supported by KVM (no migration agent)",
					  (unsigned long long)policy);
		return errbuf_set(eb, EINVAL, "guest policy 0x%llx: bit %u (%s) needs a kernel "
				  "that lists it in KVM_X86_SNP_POLICY_BITS (this one accepts "
				  "0x%llx)", (unsigned long long)policy, bit,
				  policy_bit_names[bit] ? policy_bit_names[bit] : "reserved",
				  (unsigned long long)kvm_bits);
	}
	return 0;
}

uint64_t snp_host_policy_bits(const struct snp_kvm_io *io, int kvm_fd)
{
	uint64_t bits = 0;
	struct kvm_device_attr a = { .group = SNP_KVM_X86_GRP_SEV,
				     .attr = SNP_KVM_X86_SNP_POLICY_BITS,
				     .addr = (uint64_t)(uintptr_t)&bits };
	/* Kernels before the attribute answer ENXIO/ENOTTY: their fixed set. */
	if (io->ioctl(io->ctx, kvm_fd, KVM_GET_DEVICE_ATTR, &a) < 0 || !bits)
		return SNP_KVM_POLICY_BASE;
	return bits & ~SNP_POLICY_MIGRATE_MA;
}

void snp_vm_setup(struct snp_vm *vm, const struct snp_kvm_io *io, int vm_fd, int sev_fd,
		  const struct snp_launch_config *cfg)
{
	memset(vm, 0, sizeof(*vm));
	vm->io = *io;
	vm->vm_fd = vm_fd;
	vm->sev_fd = sev_fd;
	if (cfg)
		vm->cfg = *cfg;
	if (!vm->cfg.policy)
		vm->cfg.policy = SNP_DEFAULT_POLICY;
	for (unsigned i = 0; i < SNP_MAX_SLOTS; i++)
		vm->slot[i].gmem_fd = -1;
}

static int kvm_ioctl(struct snp_vm *vm, int fd, unsigned long req, void *arg)
{
	return vm->io.ioctl(vm->io.ctx, fd, req, arg);
}

int snp_host_check(const struct snp_kvm_io *io, int kvm_fd, struct errbuf *eb)
{
	static const struct {
		uint32_t cap;
		uint64_t need; /* bits that must be set, or 0: any positive value */
		const char *what;
	} caps[] = {
		{ SNP_KVM_CAP_VM_TYPES, 1ull << SNP_KVM_X86_SNP_VM, "KVM_X86_SNP_VM in KVM_CAP_VM_TYPES" },
		{ SNP_KVM_CAP_GUEST_MEMFD, 0, "KVM_CAP_GUEST_MEMFD" },
		{ SNP_KVM_CAP_USER_MEMORY2, 0, "KVM_CAP_USER_MEMORY2" },
		{ SNP_KVM_CAP_MEMORY_ATTRIBUTES, SNP_KVM_MEMORY_ATTRIBUTE_PRIVATE,
		  "KVM_MEMORY_ATTRIBUTE_PRIVATE in KVM_CAP_MEMORY_ATTRIBUTES" },
		{ SNP_KVM_CAP_EXIT_HYPERCALL, 1ull << SNP_KVM_HC_MAP_GPA_RANGE,
		  "KVM_HC_MAP_GPA_RANGE in KVM_CAP_EXIT_HYPERCALL" },
	};
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		int v = io->ioctl(io->ctx, kvm_fd, SNP_KVM_CHECK_EXTENSION,
				  (void *)(uintptr_t)caps[i].cap);
		if (v <= 0 || (caps[i].need && !((uint64_t)v & caps[i].need)))
			return errbuf_set(eb, ENODEV,
					  "KVM lacks %s: SEV-SNP guests need Linux 6.11 or newer "
					  "on an AMD host with SEV-SNP enabled", caps[i].what);
	}
	return 0;
}

static int sev_cmd(struct snp_vm *vm, uint32_t id, void *data, uint32_t *fw_error)
{
	struct snp_kvm_sev_cmd c = { .id = id, .data = (uint64_t)(uintptr_t)data,
				     .sev_fd = (uint32_t)vm->sev_fd };
	int rc = kvm_ioctl(vm, vm->vm_fd, SNP_KVM_MEMORY_ENCRYPT_OP, &c);
	if (fw_error)
		*fw_error = c.error;
	return rc;
}

int snp_vm_init2(struct snp_vm *vm, struct errbuf *eb)
{
	struct snp_kvm_sev_init init = { .vmsa_features = vm->cfg.vmsa_features };
	uint32_t fw = 0;
	int rc = sev_cmd(vm, SNP_KVM_SEV_INIT2, &init, &fw);
	if (rc < 0)
		return errbuf_set(eb, -rc, "KVM_SEV_INIT2 (vmsa_features 0x%llx): %s (firmware "
				  "status %u)", (unsigned long long)init.vmsa_features,
				  strerror(-rc), fw);
	vm->init2_done = true;
	return 0;
}

static int set_attributes(struct snp_vm *vm, uint64_t gpa, uint64_t size, bool private_,
			  struct errbuf *eb)
{
	struct snp_kvm_memory_attributes a = {
		.address = gpa, .size = size,
		.attributes = private_ ? SNP_KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
	};
	int rc = kvm_ioctl(vm, vm->vm_fd, SNP_KVM_SET_MEMORY_ATTRIBUTES, &a);
	if (rc < 0)
		return errbuf_set(eb, -rc, "KVM_SET_MEMORY_ATTRIBUTES [0x%llx, +0x%llx) %s: %s",
				  (unsigned long long)gpa, (unsigned long long)size,
				  private_ ? "private" : "shared", strerror(-rc));
	return 0;
}

int snp_vm_add_memory(struct snp_vm *vm, uint32_t slot, uint64_t gpa, uint64_t size,
		      void *host, struct errbuf *eb)
{
	struct snp_kvm_create_guest_memfd g = { .size = size };
	struct snp_kvm_memory_region2 r = { 0 };
	struct snp_slot *s;
	int fd, rc;

	if (vm->n_slots >= SNP_MAX_SLOTS)
		return errbuf_set(eb, ENOSPC, "more than %u SNP memory slots", SNP_MAX_SLOTS);
	if ((gpa | size) & (SNP_PAGE_SIZE - 1) || !size || gpa + size < gpa)
		return errbuf_set(eb, EINVAL, "memory slot %u is not page aligned", slot);
	fd = kvm_ioctl(vm, vm->vm_fd, SNP_KVM_CREATE_GUEST_MEMFD, &g);
	if (fd < 0)
		return errbuf_set(eb, -fd, "KVM_CREATE_GUEST_MEMFD (%llu bytes): %s",
				  (unsigned long long)size, strerror(-fd));
	s = &vm->slot[vm->n_slots++];
	*s = (struct snp_slot){ slot, gpa, size, host, fd };
	r.slot = slot;
	r.flags = SNP_KVM_MEM_GUEST_MEMFD;
	r.guest_phys_addr = gpa;
	r.memory_size = size;
	r.userspace_addr = (uint64_t)(uintptr_t)host;
	r.guest_memfd = (uint32_t)fd;
	rc = kvm_ioctl(vm, vm->vm_fd, SNP_KVM_SET_USER_MEMORY_REGION2, &r);
	if (rc < 0)
		return errbuf_set(eb, -rc, "KVM_SET_USER_MEMORY_REGION2 slot %u: %s", slot,
				  strerror(-rc));
	/* Private by default: the firmware validates it; only what the host must
	 * write later (snp_vm_set_shared) or what the guest converts is shared. */
	return set_attributes(vm, gpa, size, true, eb);
}

static struct snp_slot *find_slot(struct snp_vm *vm, uint64_t gpa, uint64_t size)
{
	for (unsigned i = 0; i < vm->n_slots; i++) {
		struct snp_slot *s = &vm->slot[i];
		if (gpa >= s->gpa && size <= s->size && gpa - s->gpa <= s->size - size)
			return s;
	}
	return NULL;
}

int snp_vm_set_shared(struct snp_vm *vm, uint64_t gpa, uint64_t size, struct errbuf *eb)
{
	uint64_t start = gpa & ~(uint64_t)(SNP_PAGE_SIZE - 1);
	uint64_t end = (gpa + size + SNP_PAGE_SIZE - 1) & ~(uint64_t)(SNP_PAGE_SIZE - 1);

	if (vm->started)
		return errbuf_set(eb, EBUSY, "the launch has started");
	if (end <= start || !find_slot(vm, start, end - start))
		return errbuf_set(eb, EINVAL, "[0x%llx, +0x%llx) is not inside one RAM slot",
				  (unsigned long long)gpa, (unsigned long long)size);
	return set_attributes(vm, start, end - start, false, eb);
}

/* The secure processor rejected the CPUID page and KVM copied its corrected
 * version back: name the entries that differ. */
static void describe_cpuid_rejection(const uint8_t *want, const uint8_t *got, struct errbuf *eb)
{
	char msg[ERRBUF_SIZE];
	size_t used = 0;
	uint32_t n;

	memcpy(&n, want, 4);
	used += (size_t)snprintf(msg, sizeof(msg), "the secure processor rejected the CPUID page;"
				 " corrected leaves:");
	for (uint32_t i = 0; i < n && i < 64 && used < sizeof(msg) - 48; i++) {
		const uint8_t *w = want + 16 + 48 * i, *g = got + 16 + 48 * i;
		uint32_t leaf, sub, wv[4], gv[4];
		if (!memcmp(w, g, 48))
			continue;
		memcpy(&leaf, w, 4);
		memcpy(&sub, w + 4, 4);
		memcpy(wv, w + 24, 16);
		memcpy(gv, g + 24, 16);
		used += (size_t)snprintf(msg + used, sizeof(msg) - used, " 0x%x.%u", leaf, sub);
		for (int r = 0; r < 4 && used < sizeof(msg) - 40; r++)
			if (wv[r] != gv[r])
				used += (size_t)snprintf(msg + used, sizeof(msg) - used,
							 " %s 0x%x->0x%x", (const char *[]){ "eax", "ebx", "ecx", "edx" }[r],
							 wv[r], gv[r]);
	}
	errbuf_set(eb, EINVAL, "%s", msg);
}

static int launch_item(struct snp_vm *vm, const struct snp_plan_item *it,
		       const uint8_t *cpuid_page, struct errbuf *eb)
{
	uint64_t pages = snp_plan_item_pages(it), len = pages * SNP_PAGE_SIZE;
	struct snp_kvm_launch_update u = { 0 };
	uint8_t *buf = NULL;
	uint32_t fw = 0;
	int rc = 0, tries = 0;

	if (!find_slot(vm, it->gpa, len))
		return errbuf_set(eb, EINVAL, "%s: [0x%llx, +0x%llx) is not inside one RAM slot",
				  it->label, (unsigned long long)it->gpa, (unsigned long long)len);
	/* KVM copies from a page-aligned source; ZERO pages need none. */
	if (it->type != SNP_PAGE_ZERO) {
		buf = aligned_alloc(SNP_PAGE_SIZE, len);
		if (!buf)
			return errbuf_set(eb, ENOMEM, "%s: out of memory", it->label);
		memset(buf, 0, len);
		if (it->type == SNP_PAGE_NORMAL)
			memcpy(buf, it->data, it->len);
		else if (it->type == SNP_PAGE_CPUID && cpuid_page)
			memcpy(buf, cpuid_page, SNP_PAGE_SIZE);
	}
	u.gfn_start = it->gpa / SNP_PAGE_SIZE;
	u.uaddr = (uint64_t)(uintptr_t)buf;
	u.len = len;
	u.type = (uint8_t)it->type;
	while (u.len) {
		uint64_t before = u.len;
		rc = sev_cmd(vm, SNP_KVM_SEV_SNP_LAUNCH_UPDATE, &u, &fw);
		if (rc == -EAGAIN && ++tries < 1000)
			continue;
		if (rc < 0) {
			if (it->type == SNP_PAGE_CPUID && fw == SNP_FW_INVALID_PARAM && cpuid_page)
				describe_cpuid_rejection(cpuid_page, buf, eb);
			else
				errbuf_set(eb, -rc, "KVM_SEV_SNP_LAUNCH_UPDATE %s at 0x%llx: %s "
					   "(firmware status 0x%x)", it->label,
					   (unsigned long long)(u.gfn_start * SNP_PAGE_SIZE),
					   strerror(-rc), fw);
			goto out;
		}
		if (u.len >= before) {
			rc = errbuf_set(eb, EIO, "KVM_SEV_SNP_LAUNCH_UPDATE %s made no progress",
					it->label);
			goto out;
		}
	}
	if (u.gfn_start != (it->gpa + len) / SNP_PAGE_SIZE)
		rc = errbuf_set(eb, EIO, "KVM_SEV_SNP_LAUNCH_UPDATE %s ended at gfn 0x%llx",
				it->label, (unsigned long long)u.gfn_start);
out:
	free(buf);
	return rc;
}

int snp_vm_launch(struct snp_vm *vm, const struct snp_plan *plan, const uint8_t *cpuid_page,
		  struct errbuf *eb)
{
	struct snp_kvm_launch_start start = { .policy = vm->cfg.policy };
	struct snp_kvm_launch_finish fin = { 0 };
	struct snp_kvm_enable_cap cap = { .cap = SNP_KVM_CAP_EXIT_HYPERCALL,
					  .args = { 1ull << SNP_KVM_HC_MAP_GPA_RANGE } };
	struct launch_digest d;
	uint8_t *id_block = NULL, *id_auth = NULL;
	uint32_t fw = 0;
	int rc;

	if (!vm->init2_done)
		return errbuf_set(eb, EINVAL, "KVM_SEV_INIT2 was not issued");
	rc = snp_policy_check(vm->cfg.policy, vm->kvm_policy_bits, eb);
	if (rc)
		return rc;
	/* The MEASUREMENT this launch must produce (and the ID block signs). */
	rc = launch_digest_init(&d, NULL);
	if (rc)
		return errbuf_set(eb, -rc, "cannot start a SHA-384 digest");
	rc = snp_plan_measure(plan, &d, eb);
	memcpy(vm->expected, d.ld, SNP_LD_LEN);
	launch_digest_fini(&d);
	if (rc)
		return rc;

	rc = kvm_ioctl(vm, vm->vm_fd, SNP_KVM_ENABLE_CAP, &cap);
	if (rc < 0)
		return errbuf_set(eb, -rc, "KVM_ENABLE_CAP(KVM_CAP_EXIT_HYPERCALL): %s",
				  strerror(-rc));
	rc = sev_cmd(vm, SNP_KVM_SEV_SNP_LAUNCH_START, &start, &fw);
	if (rc < 0)
		return errbuf_set(eb, -rc, "KVM_SEV_SNP_LAUNCH_START (policy 0x%llx): %s (firmware "
				  "status 0x%x)", (unsigned long long)start.policy, strerror(-rc),
				  fw);
	vm->started = true;
	for (unsigned i = 0; i < plan->n_items; i++) {
		rc = launch_item(vm, &plan->item[i], cpuid_page, eb);
		if (rc)
			return rc;
	}

	memcpy(fin.host_data, vm->cfg.host_data, sizeof(fin.host_data));
	if (vm->cfg.id.id_key) {
		id_block = calloc(1, SNP_ID_BLOCK_SIZE);
		id_auth = aligned_alloc(SNP_PAGE_SIZE, SNP_ID_AUTH_SIZE);
		if (!id_block || !id_auth) {
			rc = errbuf_set(eb, ENOMEM, "out of memory");
			goto out;
		}
		rc = snp_id_block_build(&vm->cfg.id, vm->expected, vm->cfg.policy, id_block,
					id_auth, eb);
		if (rc)
			goto out;
		fin.id_block_uaddr = (uint64_t)(uintptr_t)id_block;
		fin.id_auth_uaddr = (uint64_t)(uintptr_t)id_auth;
		fin.id_block_en = 1;
		fin.auth_key_en = vm->cfg.id.author_key ? 1 : 0;
	}
	rc = sev_cmd(vm, SNP_KVM_SEV_SNP_LAUNCH_FINISH, &fin, &fw);
	if (rc < 0) {
		errbuf_set(eb, -rc, "KVM_SEV_SNP_LAUNCH_FINISH: %s (firmware status 0x%x%s)",
			   strerror(-rc), fw,
			   fw == 11 ? ": the ID block's digest does not match the launch" : "");
		goto out;
	}
	vm->finished = true;
	rc = 0;
out:
	free(id_block);
	free(id_auth);
	return rc;
}

static uint64_t run_u64(const void *run, unsigned off)
{
	uint64_t v;
	memcpy(&v, (const uint8_t *)run + off, 8);
	return v;
}

static int convert(struct snp_vm *vm, uint64_t gpa, uint64_t size, bool to_private)
{
	struct snp_slot *s;
	int rc;

	if ((gpa | size) & (SNP_PAGE_SIZE - 1) || !size || gpa + size < gpa)
		return -EINVAL;
	s = find_slot(vm, gpa, size);
	if (!s)
		return -EINVAL;
	rc = set_attributes(vm, gpa, size, to_private, NULL);
	if (rc)
		return rc;
	if (vm->io.real) {
		/* Release the view the guest no longer uses (best effort, as QEMU). */
		if (to_private)
			madvise(s->host + (gpa - s->gpa), size, MADV_DONTNEED);
		else
			fallocate(s->gmem_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				  (off_t)(gpa - s->gpa), (off_t)size);
	}
	vm->conversions++;
	return 0;
}

int snp_vm_handle_exit(struct snp_vm *vm, void *run, int run_rc)
{
	uint32_t reason;

	memcpy(&reason, (uint8_t *)run + SNP_KVM_RUN_EXIT_REASON, 4);
	if (reason == SNP_KVM_EXIT_HYPERCALL &&
	    run_u64(run, SNP_KVM_RUN_HC_NR) == SNP_KVM_HC_MAP_GPA_RANGE) {
		uint64_t gpa = run_u64(run, SNP_KVM_RUN_HC_ARGS);
		uint64_t npages = run_u64(run, SNP_KVM_RUN_HC_ARGS + 8);
		uint64_t attrs = run_u64(run, SNP_KVM_RUN_HC_ARGS + 16);
		uint64_t ret = 0;
		/* A hostile guest can ask anything: bad ranges fail the hypercall only. */
		if (npages > (1ull << 40) / SNP_PAGE_SIZE ||
		    convert(vm, gpa, npages * SNP_PAGE_SIZE,
			    (attrs & SNP_KVM_MAP_GPA_RANGE_ENCRYPTED) != 0))
			ret = EINVAL;
		memcpy((uint8_t *)run + SNP_KVM_RUN_HC_RET, &ret, 8);
		return 0;
	}
	if (reason == SNP_KVM_EXIT_MEMORY_FAULT && run_rc == -EFAULT) {
		uint64_t flags = run_u64(run, SNP_KVM_RUN_MF_FLAGS);
		uint64_t gpa = run_u64(run, SNP_KVM_RUN_MF_GPA);
		uint64_t size = run_u64(run, SNP_KVM_RUN_MF_SIZE);
		return convert(vm, gpa, size, (flags & SNP_KVM_MEMORY_EXIT_FLAG_PRIVATE) != 0);
	}
	return -ENOTSUP;
}

void snp_vm_release(struct snp_vm *vm)
{
	if (!vm)
		return;
	for (unsigned i = 0; i < vm->n_slots; i++)
		if (vm->slot[i].gmem_fd >= 0 && vm->io.real)
			close(vm->slot[i].gmem_fd);
	vm->n_slots = 0;
}
