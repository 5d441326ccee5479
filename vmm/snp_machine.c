#include "vmm/snp_machine.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"

#include "devices/guest_mem.h"
#include "policy/measure/parma_launch.h"
#include "vmm/snp_kvm.h"
#include "common/guest_abi/snp_layout.h"

#define KVM_SYSTEM_EVENT_SEV_TERM_TYPE 6u

struct snp_machine {
	struct snp_machine_config cfg;
	struct machine_hooks hooks;
	struct snp_vm vm;
	struct machine *m;
	int sev_fd;
	struct snp_plan plan;
	uint8_t cpuid_page[SNP_PAGE_SIZE];
};

static int machine_io(void *ctx, int fd, unsigned long req, void *arg)
{
	return machine_kvm_ioctl(ctx, fd, req, arg);
}

static int on_vm_created(void *ctx, struct machine *m, struct errbuf *eb)
{
	struct snp_machine *sm = ctx;
	struct snp_kvm_io io = { machine_io, m, !sm->cfg.dry_run };
	int rc;

	sm->m = m;
	/* KVM_CHECK_EXTENSION also answers on the VM fd. */
	rc = snp_host_check(&io, machine_vm_fd(m), eb);
	if (rc)
		return rc;
	snp_vm_setup(&sm->vm, &io, machine_vm_fd(m), sm->sev_fd, &sm->cfg.launch);
	sm->vm.kvm_policy_bits = snp_host_policy_bits(&io, machine_sys_fd(m));
	return snp_vm_init2(&sm->vm, eb);
}

static int on_set_memory(void *ctx, struct machine *m, uint32_t slot, uint64_t gpa,
			 uint64_t size, void *host, struct errbuf *eb)
{
	struct snp_machine *sm = ctx;
	(void)m;
	return snp_vm_add_memory(&sm->vm, slot, gpa, size, host, eb);
}

static uint64_t page_down(uint64_t a)
{
	return a & ~(uint64_t)(SNP_PAGE_SIZE - 1);
}

static uint64_t page_up(uint64_t a)
{
	return (a + SNP_PAGE_SIZE - 1) & ~(uint64_t)(SNP_PAGE_SIZE - 1);
}

/* The CPUID page from the CPUID the machine gave vCPU 0 (hypervisor leaves
 * are left out: the secure processor checks the rest against the CPU). More
 * entries than the page holds is an error, never a shorter list. */
static int build_cpuid(struct snp_machine *sm, struct errbuf *eb)
{
	unsigned cap = 256, n = 0;
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + cap * sizeof(c->entries[0]));
	int rc;

	if (!c)
		return errbuf_set(eb, ENOMEM, "out of memory");
	c->nent = cap;
	rc = machine_kvm_ioctl(sm->m, machine_vcpu_fd(sm->m, 0), KVM_GET_CPUID2, c);
	if (rc < 0) {
		free(c);
		return errbuf_set(eb, -rc, "KVM_GET_CPUID2: %s", strerror(-rc));
	}
	for (unsigned i = 0; i < c->nent && i < cap; i++)
		if ((c->entries[i].function & 0xf0000000u) != 0x40000000u)
			c->entries[n++] = c->entries[i];
	rc = snp_cpuid_page_build(c->entries, n, sm->cpuid_page, eb);
	free(c);
	return rc;
}

/* Every vCPU gets the documented entry state, so that `parma measure` can
 * predict each VMSA; the firmware's entry point and descriptor come from what
 * the machine set on vCPU 0. */
static int set_entry_state(struct snp_machine *sm, struct errbuf *eb)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	unsigned n = machine_vcpu_count(sm->m);
	int rc = machine_kvm_ioctl(sm->m, machine_vcpu_fd(sm->m, 0), KVM_GET_REGS, &regs);
	if (rc >= 0)
		rc = machine_kvm_ioctl(sm->m, machine_vcpu_fd(sm->m, 0), KVM_GET_SREGS, &sregs);
	if (rc < 0)
		return errbuf_set(eb, -rc, "reading vCPU 0: %s", strerror(-rc));
	if (sregs.cr0 & 0x80000000u)
		return errbuf_set(eb, EINVAL, "SEV-SNP: the firmware must be entered in 32-bit mode");
	uint64_t entry = regs.rip, desc = regs.rdi;
	sm->plan.n_vcpus = n;
	for (unsigned i = 0; i < n; i++) {
		int fd = machine_vcpu_fd(sm->m, i);
		parma_entry_regs(entry, desc, i, &regs, &sregs);
		rc = machine_kvm_ioctl(sm->m, fd, KVM_SET_SREGS, &sregs);
		if (rc >= 0)
			rc = machine_kvm_ioctl(sm->m, fd, KVM_SET_REGS, &regs);
		if (rc < 0)
			return errbuf_set(eb, -rc, "vCPU %u: setting the entry state: %s", i,
					  strerror(-rc));
		snp_vcpu_state_from_kvm(&sm->plan.vcpu[i], &regs, &sregs,
					sm->cfg.launch.vmsa_features);
	}
	return 0;
}

static int write_launch_blobs(struct snp_machine *sm, struct errbuf *eb)
{
	static const struct { const char *label, *file; } out[] = {
		{ "boot-descriptor", "boot-descriptor.dtb" }, { "acpi", "acpi.bin" },
	};
	char path[4096];
	/* The CPUID page as handed to the secure processor (checked, not measured;
	 * a prediction has no host CPUID, so it writes none). */
	if (!sm->cfg.dry_run) {
		snprintf(path, sizeof(path), "%s/cpuid-page.bin", sm->cfg.launch_dir);
		int rc = file_write_atomic(path, sm->cpuid_page, sizeof(sm->cpuid_page), 0644, eb);
		if (rc)
			return rc;
	}
	for (unsigned i = 0; i < sm->plan.n_items; i++) {
		for (unsigned k = 0; k < 2; k++) {
			const struct snp_plan_item *it = &sm->plan.item[i];
			if (strcmp(it->label, out[k].label))
				continue;
			snprintf(path, sizeof(path), "%s/%s", sm->cfg.launch_dir, out[k].file);
			int rc = file_write_atomic(path, it->data, it->len, 0644, eb);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int on_before_run(void *ctx, struct machine *m, struct errbuf *eb)
{
	struct snp_machine *sm = ctx;
	static const struct {
		enum machine_blob_kind kind;
		const char *label;
	} measured[] = {
		{ MACHINE_BLOB_FIRMWARE, "firmware" },
		{ MACHINE_BLOB_BOOT_DESC, "boot-descriptor" },
		{ MACHINE_BLOB_ACPI, "acpi" },
	};
	unsigned n_blobs;
	const struct machine_blob *blobs = machine_blobs(m, &n_blobs);
	struct guest_mem *gm = machine_mem(m);
	int rc;

	memset(&sm->plan, 0, sizeof(sm->plan));
	for (unsigned k = 0; k < sizeof(measured) / sizeof(measured[0]); k++) {
		bool found = false;
		for (unsigned i = 0; i < n_blobs; i++) {
			const struct machine_blob *b = &blobs[i];
			if (b->kind != measured[k].kind)
				continue;
			/* Firmware: whole pages (its bss included); others: exact bytes. */
			uint64_t gpa = page_down(b->gpa);
			uint64_t len = b->kind == MACHINE_BLOB_FIRMWARE
					       ? page_up(b->gpa + b->size) - gpa
					       : b->size + (b->gpa - gpa);
			const uint8_t *data = guest_mem_ptr(gm, gpa, page_up(len));
			if (!data)
				return errbuf_set(eb, EINVAL, "%s is outside guest RAM",
						  measured[k].label);
			rc = snp_plan_add(&sm->plan, gpa, len, SNP_PAGE_NORMAL, data,
					  measured[k].label, eb);
			if (rc)
				return rc;
			found = true;
		}
		if (!found && measured[k].kind != MACHINE_BLOB_ACPI)
			return errbuf_set(eb, EINVAL, "SEV-SNP launches boot the stage0 firmware: "
					  "no %s was loaded", measured[k].label);
	}
	rc = snp_plan_add(&sm->plan, SNP_LAYOUT_SECRETS, SNP_PAGE_SIZE, SNP_PAGE_SECRETS, NULL,
			  "secrets", eb);
	if (!rc)
		rc = snp_plan_add(&sm->plan, SNP_LAYOUT_CPUID, SNP_PAGE_SIZE, SNP_PAGE_CPUID, NULL,
				  "cpuid", eb);
	for (unsigned i = 0; !rc && i < n_blobs; i++) {
		enum machine_blob_kind k = blobs[i].kind;
		if (k == MACHINE_BLOB_KERNEL || k == MACHINE_BLOB_INITRD || k == MACHINE_BLOB_CMDLINE)
			rc = snp_vm_set_shared(&sm->vm, blobs[i].gpa, blobs[i].size, eb);
	}
	if (!rc)
		rc = set_entry_state(sm, eb);
	if (!rc)
		rc = build_cpuid(sm, eb);
	if (!rc)
		rc = snp_vm_launch(&sm->vm, &sm->plan, sm->cpuid_page, eb);
	if (!rc && sm->cfg.launch_dir)
		rc = write_launch_blobs(sm, eb);
	return rc;
}

static int on_vcpu_exit(void *ctx, struct machine *m, unsigned vcpu, struct kvm_run *run)
{
	struct snp_machine *sm = ctx;
	(void)vcpu;
	if (run->exit_reason == KVM_EXIT_SYSTEM_EVENT &&
	    run->system_event.type == KVM_SYSTEM_EVENT_SEV_TERM_TYPE) {
		/* GHCB termination request: reason code in bits 23:16 of the MSR value. */
		uint8_t code = (uint8_t)(run->system_event.data[0] >> 16);
		machine_request_exit(m, machine_exit_for_debug_byte(code));
		return 0;
	}
	return snp_vm_handle_exit(&sm->vm, run,
				  run->exit_reason == SNP_KVM_EXIT_MEMORY_FAULT ? -EFAULT : 0);
}

int snp_machine_create(const struct snp_machine_config *cfg, struct snp_machine **out,
		       struct errbuf *eb)
{
	const char *dev = cfg->sev_device ? cfg->sev_device : "/dev/sev";
	struct snp_machine *sm = calloc(1, sizeof(*sm));

	*out = NULL;
	if (!sm)
		return errbuf_set(eb, ENOMEM, "out of memory");
	sm->cfg = *cfg;
	int rc = cfg->launch_dir ? mkdir_p(cfg->launch_dir, 0755) : 0;
	if (rc) {
		free(sm);
		return errbuf_set(eb, -rc, "--snp-launch-dir %s: %s", cfg->launch_dir,
				  strerror(-rc));
	}
	sm->sev_fd = cfg->dry_run ? -1 : open(dev, O_RDWR | O_CLOEXEC);
	if (sm->sev_fd < 0 && !cfg->dry_run) {
		int e = errno;
		free(sm);
		return errbuf_set(eb, e, "%s: %s (SEV-SNP needs an AMD host with SEV-SNP enabled "
				  "and the ccp driver loaded)", dev, strerror(e));
	}
	sm->hooks = (struct machine_hooks){
		.ctx = sm, .vm_type = SNP_KVM_X86_SNP_VM, .vm_created = on_vm_created,
		.set_memory = on_set_memory, .before_run = on_before_run, .handle_exit = on_vcpu_exit,
	};
	*out = sm;
	return 0;
}

const struct machine_hooks *snp_machine_hooks(struct snp_machine *sm)
{
	return &sm->hooks;
}

int snp_machine_measurement(const struct snp_machine *sm, uint8_t out[48])
{
	if (!sm->vm.finished)
		return -EAGAIN;
	memcpy(out, sm->vm.expected, 48);
	return 0;
}

void snp_machine_destroy(struct snp_machine *sm)
{
	if (!sm)
		return;
	snp_vm_release(&sm->vm);
	if (sm->sev_fd >= 0)
		close(sm->sev_fd);
	free(sm);
}
