/* The VMM's SEV-SNP launch against a fake KVM + secure processor.
 *
 * The fake implements the KVM ioctls the launch uses and enforces the kernel's
 * rules (SNP facts notes §1.3): INIT2 before any vCPU, flags 0, policy bit 17,
 * page-aligned ranges inside guest_memfd slots, pages private before
 * LAUNCH_UPDATE, each page launched once, valid page types. It computes the
 * launch digest on its own — PAGE_INFO chain and VMSA bytes re-implemented
 * here from the facts, not with policy/measure — from what it was handed,
 * including the VMSAs it builds from the vCPU registers at LAUNCH_FINISH, and
 * the test requires that digest to equal both the VMM's prediction and the
 * output of `parma measure`. */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/kvm.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "common/encoding.h"
#include "policy/measure/parma_launch.h"
#include "vmm/snp_kvm.h"
#include "vmm/snp_launch.h"
#include "common/guest_abi/snp_layout.h"

#include "fake_psp.h"

#define VM_FD 10
#define KVM_FD 9

static int fake_ioctl(void *ctx, int fd, unsigned long req, void *arg)
{
	return fake_psp_ioctl(ctx, fd, req, arg);
}

static const struct snp_kvm_io fake_io = { fake_ioctl, NULL, false };

/* --- a launch config written to files so `parma measure` sees the same inputs --- */
struct launch_files {
	uint8_t elf[8192];
	size_t elf_len;
	uint8_t desc[300];
	uint8_t acpi[5000];
	char dir[64];
};

static void make_files(struct launch_files *lf)
{
	Elf64_Ehdr eh = { 0 };
	Elf64_Phdr ph[2] = { { 0 } };
	char path[128];
	FILE *f;

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_machine = EM_X86_64;
	eh.e_type = ET_EXEC;
	eh.e_entry = 0x100040;
	eh.e_phoff = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = 2;
	ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = 0x1000, .p_paddr = 0x100000,
			      .p_filesz = 0x1000, .p_memsz = 0x1000 };
	ph[1] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = 0x1800, .p_paddr = 0x101800,
			      .p_filesz = 0x100, .p_memsz = 0x3000 };
	memset(lf->elf, 0, sizeof(lf->elf));
	memcpy(lf->elf, &eh, sizeof(eh));
	memcpy(lf->elf + sizeof(eh), ph, sizeof(ph));
	for (int i = 0x1000; i < 0x2000; i++)
		lf->elf[i] = (uint8_t)(i * 7);
	lf->elf_len = 0x2000;
	for (size_t i = 0; i < sizeof(lf->desc); i++)
		lf->desc[i] = (uint8_t)(i ^ 0x5a);
	for (size_t i = 0; i < sizeof(lf->acpi); i++)
		lf->acpi[i] = (uint8_t)(i * 13);
	snprintf(lf->dir, sizeof(lf->dir), "/tmp/parma-snp-fake-XXXXXX");
	assert_non_null(mkdtemp(lf->dir));
	const struct { const char *name; const void *d; size_t n; } files[] = {
		{ "fw.elf", lf->elf, lf->elf_len }, { "desc.dtb", lf->desc, sizeof(lf->desc) },
		{ "acpi.bin", lf->acpi, sizeof(lf->acpi) },
	};
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", lf->dir, files[i].name);
		f = fopen(path, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(files[i].d, 1, files[i].n, f), files[i].n);
		fclose(f);
	}
}

static void remove_files(struct launch_files *lf)
{
	char path[128];
	const char *names[] = { "fw.elf", "desc.dtb", "acpi.bin" };
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", lf->dir, names[i]);
		unlink(path);
	}
	rmdir(lf->dir);
}

/* `parma measure` on the files; returns the hex MEASUREMENT. */
static void parma_measure(const struct launch_files *lf, unsigned vcpus, char out[97])
{
	const char *build = getenv("PARMA_BUILD_ROOT");
	char cmd[512], line[256];
	FILE *p;

	assert_non_null(build);
	snprintf(cmd, sizeof(cmd),
		 "%s/vmm/parma measure --firmware %s/fw.elf --boot-descriptor %s/desc.dtb "
		 "--acpi %s/acpi.bin --vcpus %u",
		 build, lf->dir, lf->dir, lf->dir, vcpus);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(line, sizeof(line), p));
	assert_int_equal(pclose(p), 0);
	assert_int_equal(strncmp(line, "measurement: ", 13), 0);
	memcpy(out, line + 13, 96);
	out[96] = 0;
}

struct launch_ctx {
	struct launch_files lf;
	struct parma_firmware fw;
	struct parma_launch_input in;
	struct snp_plan plan;
	struct snp_vm vm;
	uint8_t cpuid[4096];
};

static void setup_launch(struct launch_ctx *c, unsigned vcpus, const struct snp_launch_config *cfg,
			 uint8_t *ram)
{
	struct errbuf eb = { 0 };
	struct kvm_regs r;
	struct kvm_sregs s;
	struct kvm_cpuid_entry2 e[2] = {
		{ .function = 0, .eax = 0xd },
		{ .function = 7, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .ebx = 0x5 },
	};

	memset(&F, 0, sizeof(F));
	F.vm_fd = VM_FD;
	F.kvm_fd = KVM_FD;
	F.caps_ok = 1;
	F.cpuid_ebx_allowed = 0xffffffff;
	make_files(&c->lf);
	assert_int_equal(parma_firmware_load(c->lf.elf, c->lf.elf_len, &c->fw, &eb), 0);
	c->in = (struct parma_launch_input){
		.fw = &c->fw, .boot_desc = c->lf.desc, .boot_desc_len = sizeof(c->lf.desc),
		.boot_desc_gpa = 0x30000, .acpi = c->lf.acpi, .acpi_len = sizeof(c->lf.acpi),
		.acpi_gpa = 0xe0000, .secrets_gpa = SNP_LAYOUT_SECRETS,
		.cpuid_gpa = SNP_LAYOUT_CPUID, .vcpus = vcpus,
		.guest_features = cfg ? cfg->vmsa_features : 0,
	};
	assert_int_equal(parma_launch_plan(&c->in, &c->plan, &eb), 0);
	assert_int_equal(snp_cpuid_page_build(e, 2, c->cpuid, &eb), 0);

	snp_vm_setup(&c->vm, &fake_io, VM_FD, -1, cfg);
	assert_int_equal(snp_host_check(&fake_io, KVM_FD, &eb), 0);
	assert_int_equal(snp_vm_init2(&c->vm, &eb), 0);
	assert_int_equal(snp_vm_add_memory(&c->vm, 0, 0, MEM_SIZE, ram, &eb), 0);
	/* kernel staging area: the host writes it, the firmware copies from it */
	assert_int_equal(snp_vm_set_shared(&c->vm, 0x200000, 0x100000, &eb), 0);
	for (unsigned v = 0; v < vcpus; v++) {
		parma_entry_regs(c->fw.entry, 0x30000, v, &r, &s);
		assert_true(fake_create_vcpu(&r, &s) >= 0);
	}
}

static void teardown_launch(struct launch_ctx *c)
{
	snp_vm_release(&c->vm);
	parma_firmware_free(&c->fw);
	remove_files(&c->lf);
}

static void snp_launch_digest_agrees_with_fake_psp_and_parma_measure(void **state)
{
	(void)state;
	static struct launch_ctx c;
	static uint8_t ram[MEM_SIZE];
	struct snp_launch_config cfg = { .policy = 0 };
	struct errbuf eb = { 0 };
	char hex[97], cli[97];

	memset(cfg.host_data, 0xab, 32);
	for (unsigned vcpus = 1; vcpus <= 3; vcpus += 2) {
		setup_launch(&c, vcpus, &cfg, ram);
		F.eagain_every = 5;
		int rc = snp_vm_launch(&c.vm, &c.plan, c.cpuid, &eb);
		if (rc)
			fail_msg("launch: %s", eb.msg);
		assert_true(F.finished && F.hypercall_cap);
		/* firmware 5 pages (hull 0x100000..0x105000) + desc 1 + acpi 2 + secrets + cpuid */
		assert_int_equal(F.n_updates, 5 + 1 + 2 + 1 + 1);
		assert_true(F.types_seen[1] && F.types_seen[5] && F.types_seen[6]);
		assert_memory_equal(F.ld, c.vm.expected, 48);
		assert_memory_equal(F.host_data, cfg.host_data, 32);
		hex_encode(F.ld, 48, hex);
		parma_measure(&c.lf, vcpus, cli);
		assert_string_equal(cli, hex);
		teardown_launch(&c);
	}
}

static void snp_launch_id_block_is_checked_by_psp(void **state)
{
	(void)state;
	static struct launch_ctx c;
	static uint8_t ram[MEM_SIZE];
	struct snp_launch_config cfg = { 0 };
	struct errbuf eb = { 0 };

	cfg.id.id_key = EVP_EC_gen("P-384");
	cfg.id.author_key = EVP_EC_gen("P-384");
	assert_non_null(cfg.id.id_key);
	cfg.id.guest_svn = 3;
	setup_launch(&c, 1, &cfg, ram);
	if (snp_vm_launch(&c.vm, &c.plan, c.cpuid, &eb))
		fail_msg("launch: %s", eb.msg);
	assert_true(F.id_block_checked);
	teardown_launch(&c);

	/* The VMM set a vCPU state other than the documented entry state: the
	 * secure processor's digest no longer matches the signed ID block. */
	setup_launch(&c, 1, &cfg, ram);
	F.regs[0].rsi = 0x1234;
	assert_int_equal(snp_vm_launch(&c.vm, &c.plan, c.cpuid, &eb), -EIO);
	assert_non_null(strstr(eb.msg, "ID block"));
	assert_false(F.finished);
	teardown_launch(&c);
	EVP_PKEY_free(cfg.id.id_key);
	EVP_PKEY_free(cfg.id.author_key);
}

static void snp_launch_reports_corrected_cpuid_leaves(void **state)
{
	(void)state;
	static struct launch_ctx c;
	static uint8_t ram[MEM_SIZE];
	struct errbuf eb = { 0 };

	setup_launch(&c, 1, NULL, ram);
	F.cpuid_ebx_allowed = 0x1; /* bit 2 of leaf 7.0 EBX is not allowed */
	assert_int_equal(snp_vm_launch(&c.vm, &c.plan, c.cpuid, &eb), -EIO);
	assert_non_null(strstr(eb.msg, "0x7.0 ebx 0x5->0x1"));
	teardown_launch(&c);
}

/* The features QEMU's SNP path masks out of the CPUID page because the secure
 * processor refuses them (QEMU target/i386/sev.c, sev_snp_mask_cpuid_features),
 * restated here as the test's independent truth: leaf, subleaf (-1: any),
 * register (0 eax .. 3 edx), bits. */
static const struct {
	uint32_t leaf;
	int sub;
	int reg;
	uint32_t bits;
} snp_masked[] = {
	{ 1, -1, 2, 1u << 24 },          /* ECX TSC_DEADLINE */
	{ 7, 0, 1, 1u << 1 },            /* EBX TSC_ADJUST */
	{ 7, 0, 3, 0x3fu << 26 },        /* EDX SPEC_CTRL STIBP FLUSH_L1D ARCH_CAPABILITIES
					  *     CORE_CAPABILITY SSBD (bits 26..31) */
	{ 0x80000008, -1, 1, 1u << 25 }, /* EBX VIRT_SSBD */
};

static uint32_t le32_at(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void snp_cpuid_page_masks_documented_features(void **state)
{
	(void)state;
	static const struct { uint32_t fn, idx, flags; } in[] = {
		{ 0, 0, 0 }, { 1, 0, 0 }, { 7, 0, KVM_CPUID_FLAG_SIGNIFCANT_INDEX },
		{ 7, 1, KVM_CPUID_FLAG_SIGNIFCANT_INDEX }, { 0xd, 0, KVM_CPUID_FLAG_SIGNIFCANT_INDEX },
		{ 0xd, 1, KVM_CPUID_FLAG_SIGNIFCANT_INDEX }, { 0xd, 2, KVM_CPUID_FLAG_SIGNIFCANT_INDEX },
		{ 0x80000001, 0, 0 }, { 0x80000008, 0, 0 },
	};
	enum { N = sizeof(in) / sizeof(in[0]) };
	struct kvm_cpuid_entry2 e[N];
	uint8_t page[4096];
	struct errbuf eb = { 0 };

	memset(e, 0, sizeof(e));
	for (unsigned i = 0; i < N; i++) {
		e[i].function = in[i].fn;
		e[i].index = in[i].idx;
		e[i].flags = in[i].flags;
		e[i].eax = e[i].ebx = e[i].ecx = e[i].edx = 0xffffffff;
	}
	assert_int_equal(snp_cpuid_page_build(e, N, page, &eb), 0);
	assert_int_equal(le32_at(page), N);
	for (unsigned i = 0; i < N; i++) {
		const uint8_t *o = page + 16 + 48 * i;
		assert_int_equal(le32_at(o), in[i].fn);
		assert_int_equal(le32_at(o + 4), in[i].flags ? in[i].idx : 0);
		for (int r = 0; r < 4; r++) {
			uint32_t want = 0xffffffff;
			for (size_t k = 0; k < sizeof(snp_masked) / sizeof(snp_masked[0]); k++)
				if (snp_masked[k].leaf == in[i].fn && snp_masked[k].reg == r &&
				    (snp_masked[k].sub < 0 || (uint32_t)snp_masked[k].sub == in[i].idx))
					want &= ~snp_masked[k].bits;
			if (in[i].fn == 0xd && in[i].idx <= 1 && r == 1)
				want = 0x240; /* XSAVE size for XCR0 = x87 (QEMU) */
			if (le32_at(o + 24 + 4 * r) != want)
				fail_msg("leaf 0x%x.%u reg %d: 0x%x, want 0x%x", in[i].fn, in[i].idx, r,
					 le32_at(o + 24 + 4 * r), want);
		}
	}
	/* the page holds 64 entries: one more is an error, not a shorter list */
	struct kvm_cpuid_entry2 many[65];
	memset(many, 0, sizeof(many));
	for (unsigned i = 0; i < 65; i++)
		many[i].function = 0x80000000u + i;
	assert_int_equal(snp_cpuid_page_build(many, 65, page, &eb), -E2BIG);
	assert_non_null(strstr(eb.msg, "64"));
}

/* KVM refuses LAUNCH_START for policy bits it does not know; the VMM refuses
 * them first and names the bit. */
static void snp_launch_policy_precheck_names_the_bit(void **state)
{
	(void)state;
	static struct launch_ctx c;
	static uint8_t ram[MEM_SIZE];
	static const struct {
		uint64_t policy;
		const char *msg;
	} bad[] = {
		{ 0x10000, "bit 17" },
		{ 0x70000, "bit 18 (MIGRATE_MA)" },
		{ 0x230000, "bit 21 (CXL_ALLOW)" },
		{ 0x2030000, "bit 25 (PAGE_SWAP_DISABLE)" },
		{ 0x30000 | 1ull << 40, "bit 40" },
	};
	struct errbuf eb = { 0 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct snp_launch_config cfg = { .policy = bad[i].policy };
		setup_launch(&c, 1, &cfg, ram);
		assert_int_equal(snp_vm_launch(&c.vm, &c.plan, c.cpuid, &eb), -EINVAL);
		if (!strstr(eb.msg, bad[i].msg))
			fail_msg("policy 0x%llx: \"%s\" does not name %s",
				 (unsigned long long)bad[i].policy, eb.msg, bad[i].msg);
		assert_false(F.started);
		teardown_launch(&c);
	}

	/* A kernel that lists bit 21 in KVM_X86_SNP_POLICY_BITS launches it; one
	 * whose list lacks it gets the same named refusal. */
	struct snp_launch_config cfg = { .policy = 0x230000 };
	setup_launch(&c, 1, &cfg, ram);
	F.policy_bits = SNP_KVM_POLICY_BASE | 1ull << 21;
	c.vm.kvm_policy_bits = snp_host_policy_bits(&fake_io, KVM_FD);
	assert_int_equal(c.vm.kvm_policy_bits, SNP_KVM_POLICY_BASE | 1ull << 21);
	if (snp_vm_launch(&c.vm, &c.plan, c.cpuid, &eb))
		fail_msg("launch with a supported bit 21: %s", eb.msg);
	assert_true(F.finished);
	teardown_launch(&c);
	cfg.policy = 0x430000; /* bit 22 */
	setup_launch(&c, 1, &cfg, ram);
	F.policy_bits = SNP_KVM_POLICY_BASE | 1ull << 21;
	c.vm.kvm_policy_bits = snp_host_policy_bits(&fake_io, KVM_FD);
	assert_int_equal(snp_vm_launch(&c.vm, &c.plan, c.cpuid, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "bit 22 (MEM_AES_256_XTS)"));
	teardown_launch(&c);
	/* a kernel without the attribute: the 6.11 set */
	memset(&F, 0, sizeof(F));
	assert_int_equal(snp_host_policy_bits(&fake_io, KVM_FD), SNP_KVM_POLICY_BASE);
	/* a KVM that claims MIGRATE_MA is still not trusted with it */
	F.policy_bits = SNP_KVM_POLICY_ANY | 1ull << 18;
	assert_int_equal(snp_host_policy_bits(&fake_io, KVM_FD) & 1ull << 18, 0);
}

static void snp_launch_fake_enforces_kernel_rules(void **state)
{
	(void)state;
	static struct launch_ctx c;
	static uint8_t ram[MEM_SIZE];
	struct snp_launch_config cfg = { .policy = 0x10000 }; /* bit 17 missing */
	struct errbuf eb = { 0 };
	struct snp_vm vm;
	struct kvm_regs r = { 0 };
	struct kvm_sregs s = { 0 };

	/* INIT2 after a vCPU exists */
	memset(&F, 0, sizeof(F));
	F.vm_fd = VM_FD;
	F.kvm_fd = KVM_FD;
	fake_create_vcpu(&r, &s);
	snp_vm_setup(&vm, &fake_io, VM_FD, -1, NULL);
	assert_int_equal(snp_vm_init2(&vm, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "KVM_SEV_INIT2"));

	/* the VMM refuses a policy without the must-be-one bit */
	setup_launch(&c, 1, &cfg, ram);
	assert_int_equal(snp_vm_launch(&c.vm, &c.plan, c.cpuid, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "bit 17"));
	teardown_launch(&c);

	/* a measured page in a range the host made shared */
	setup_launch(&c, 1, NULL, ram);
	assert_int_equal(snp_vm_set_shared(&c.vm, 0x30000, 4096, &eb), 0);
	assert_int_equal(snp_vm_launch(&c.vm, &c.plan, c.cpuid, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "boot-descriptor"));
	teardown_launch(&c);

	/* the same page launched twice (a plan that bypassed snp_plan_add) */
	setup_launch(&c, 1, NULL, ram);
	c.plan.item[c.plan.n_items] = c.plan.item[1];
	c.plan.n_items++;
	assert_int_equal(snp_vm_launch(&c.vm, &c.plan, c.cpuid, &eb), -EINVAL);
	teardown_launch(&c);

	/* a host without SNP support */
	memset(&F, 0, sizeof(F));
	F.vm_fd = VM_FD;
	F.kvm_fd = KVM_FD;
	assert_int_equal(snp_host_check(&fake_io, KVM_FD, &eb), -ENODEV);
	assert_non_null(strstr(eb.msg, "KVM_X86_SNP_VM"));
}

static void put_u64(uint8_t *run, unsigned off, uint64_t v)
{
	memcpy(run + off, &v, 8);
}

static void snp_runtime_exits_convert_pages(void **state)
{
	(void)state;
	static struct launch_ctx c;
	static uint8_t ram[MEM_SIZE];
	uint8_t run[256];
	uint64_t ret;
	struct errbuf eb = { 0 };

	setup_launch(&c, 1, NULL, ram);
	assert_int_equal(snp_vm_launch(&c.vm, &c.plan, c.cpuid, &eb), 0);

	/* guest PSC via MSR protocol: one page to shared */
	memset(run, 0, sizeof(run));
	put_u64(run, 8, SNP_KVM_EXIT_HYPERCALL);
	put_u64(run, SNP_KVM_RUN_HC_NR, SNP_KVM_HC_MAP_GPA_RANGE);
	put_u64(run, SNP_KVM_RUN_HC_ARGS, 0x300000);
	put_u64(run, SNP_KVM_RUN_HC_ARGS + 8, 16);
	put_u64(run, SNP_KVM_RUN_HC_ARGS + 16, 0);
	put_u64(run, SNP_KVM_RUN_HC_RET, 99);
	assert_int_equal(snp_vm_handle_exit(&c.vm, run, 0), 0);
	memcpy(&ret, run + SNP_KVM_RUN_HC_RET, 8);
	assert_int_equal(ret, 0);
	assert_int_equal(F.attr[0x300], ATTR_SHARED);
	assert_int_equal(F.attr[0x30f], ATTR_SHARED);
	assert_int_equal(F.attr[0x310], ATTR_PRIVATE);
	/* and back to private */
	put_u64(run, SNP_KVM_RUN_HC_ARGS + 16, SNP_KVM_MAP_GPA_RANGE_ENCRYPTED);
	assert_int_equal(snp_vm_handle_exit(&c.vm, run, 0), 0);
	assert_int_equal(F.attr[0x300], ATTR_PRIVATE);
	/* hostile ranges fail the hypercall, not the VMM */
	const uint64_t bad[][2] = { { MEM_SIZE - 4096, 2 }, { 0x1001, 1 }, { ~0ull - 4095, 1 },
				    { 0, 1ull << 60 } };
	for (int i = 0; i < 4; i++) {
		put_u64(run, SNP_KVM_RUN_HC_ARGS, bad[i][0]);
		put_u64(run, SNP_KVM_RUN_HC_ARGS + 8, bad[i][1]);
		assert_int_equal(snp_vm_handle_exit(&c.vm, run, 0), 0);
		memcpy(&ret, run + SNP_KVM_RUN_HC_RET, 8);
		assert_true(ret != 0);
	}
	/* implicit conversion: a shared access to a private page */
	memset(run, 0, sizeof(run));
	put_u64(run, 8, SNP_KVM_EXIT_MEMORY_FAULT);
	put_u64(run, SNP_KVM_RUN_MF_FLAGS, 0);
	put_u64(run, SNP_KVM_RUN_MF_GPA, 0x310000);
	put_u64(run, SNP_KVM_RUN_MF_SIZE, 4096);
	assert_int_equal(snp_vm_handle_exit(&c.vm, run, -EFAULT), 0);
	assert_int_equal(F.attr[0x310], ATTR_SHARED);
	put_u64(run, SNP_KVM_RUN_MF_GPA, MEM_SIZE);
	assert_int_equal(snp_vm_handle_exit(&c.vm, run, -EFAULT), -EINVAL);
	/* other exits are not ours */
	put_u64(run, 8, 2 /* KVM_EXIT_IO */);
	assert_int_equal(snp_vm_handle_exit(&c.vm, run, 0), -ENOTSUP);
	assert_int_equal(c.vm.conversions, 3);
	teardown_launch(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(snp_launch_digest_agrees_with_fake_psp_and_parma_measure),
		cmocka_unit_test(snp_launch_id_block_is_checked_by_psp),
		cmocka_unit_test(snp_launch_reports_corrected_cpuid_leaves),
		cmocka_unit_test(snp_cpuid_page_masks_documented_features),
		cmocka_unit_test(snp_launch_policy_precheck_names_the_bit),
		cmocka_unit_test(snp_launch_fake_enforces_kernel_rules),
		cmocka_unit_test(snp_runtime_exits_convert_pages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
