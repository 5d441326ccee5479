/* The whole VMM path of an SNP launch: `vm_create` + the SNP machine hooks
 * (vmm/snp_machine.h) over the VMM's scripted fake KVM (tests/unit/vmm) with
 * the fake secure processor (fake_psp.c) in front of it. The firmware is the
 * real stage0 ELF; descriptor and ACPI are what the VMM generated. The fake's
 * independently computed digest must equal the VMM's prediction and
 * `parma measure` run on the blobs the VMM wrote with --snp-launch-dir. */
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

#include "../vmm/fake_kvm.h"
#include "common/encoding.h"
#include "fake_psp.h"
#include "devices/event_loop.h"
#include "vmm/snp_kvm.h"
#include "vmm/snp_machine.h"
#include "vmm/snp_predict.h"
#include "vmm/vm.h"

#define FD_VM 101
#define FD_VCPU0 200

static struct fake_kvm fk;
static unsigned many_cpuid; /* if set: vCPU 0 reports this many CPUID entries */

static int composed_ioctl(void *ctx, int fd, unsigned long req, void *arg)
{
	(void)ctx;
	if (fd >= FD_VCPU0 && fd < FD_VCPU0 + FAKE_MAX_VCPUS) {
		struct fake_vcpu *v = &fk.vcpu[fd - FD_VCPU0];
		if (req == KVM_GET_REGS) {
			*(struct kvm_regs *)arg = v->regs;
			return 0;
		}
		if (req == KVM_GET_CPUID2 && many_cpuid) {
			struct kvm_cpuid2 *c = arg;
			if (c->nent < many_cpuid)
				return -E2BIG;
			c->nent = many_cpuid;
			for (unsigned i = 0; i < many_cpuid; i++)
				c->entries[i] = (struct kvm_cpuid_entry2){ .function = 0x80000000u + i };
			return 0;
		}
		if (req == KVM_GET_CPUID2) {
			struct kvm_cpuid2 *c = arg;
			if (c->nent < v->ncpuid)
				return -E2BIG;
			c->nent = v->ncpuid;
			memcpy(c->entries, v->cpuid, v->ncpuid * sizeof(c->entries[0]));
			return 0;
		}
	}
	if (req == KVM_CHECK_EXTENSION) {
		unsigned long cap = (unsigned long)arg;
		if (cap != SNP_KVM_CAP_EXIT_HYPERCALL && (cap < SNP_KVM_CAP_USER_MEMORY2 ||
							   cap > SNP_KVM_CAP_VM_TYPES))
			return fake_kvm_ops.ioctl(&fk, fd, req, arg);
	}
	if (req == KVM_SET_USER_MEMORY_REGION)
		return -EINVAL; /* an SNP VM must use KVM_SET_USER_MEMORY_REGION2 */
	if (req == KVM_GET_SUPPORTED_CPUID) {
		/* The host also reports TSC_DEADLINE (leaf 1 ECX bit 24), which the
		 * secure processor refuses in a CPUID page. */
		int rc = fake_kvm_ops.ioctl(&fk, fd, req, arg);
		struct kvm_cpuid2 *c = arg;
		for (unsigned i = 0; rc == 0 && i < c->nent; i++)
			if (c->entries[i].function == 1)
				c->entries[i].ecx |= 1u << 24;
		return rc;
	}
	int rc = fake_psp_ioctl(NULL, fd, req, arg);
	if (rc != -ENOTTY)
		return rc;
	return fake_kvm_ops.ioctl(&fk, fd, req, arg);
}

static int composed_open(void *ctx)
{
	(void)ctx;
	return fake_kvm_ops.open_system(&fk);
}

static void *composed_map(void *ctx, int fd, size_t size)
{
	(void)ctx;
	return fake_kvm_ops.map_run(&fk, fd, size);
}

static void composed_unmap(void *ctx, void *run, size_t size)
{
	(void)ctx;
	fake_kvm_ops.unmap_run(&fk, run, size);
}

static void composed_close(void *ctx, int fd)
{
	(void)ctx;
	fake_kvm_ops.close(&fk, fd);
}

static const struct kvm_ops composed_ops = {
	.name = "fake-snp", .open_system = composed_open, .ioctl = composed_ioctl,
	.map_run = composed_map, .unmap_run = composed_unmap, .close = composed_close,
};

static void sync_vcpus(void)
{
	F.vcpus = (int)fk.n_vcpus;
	for (unsigned i = 0; i < fk.n_vcpus && i < MAX_VCPUS; i++) {
		F.regs[i] = fk.vcpu[i].regs;
		F.sregs[i] = fk.vcpu[i].sregs;
	}
}

static void run_parma_measure(const char *dir, unsigned vcpus, char out[97])
{
	const char *build = getenv("PARMA_BUILD_ROOT");
	char cmd[4096], line[256];
	FILE *p;
	snprintf(cmd, sizeof(cmd),
		 "%s/vmm/parma measure --firmware %s/firmware/stage0/parma-stage0.elf "
		 "--boot-descriptor %s/boot-descriptor.dtb --acpi %s/acpi.bin --vcpus %u",
		 build, build, dir, dir, vcpus);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(line, sizeof(line), p));
	assert_int_equal(pclose(p), 0);
	assert_int_equal(strncmp(line, "measurement: ", 13), 0);
	memcpy(out, line + 13, 96);
	out[96] = 0;
}

static void snp_machine_launch_matches_parma_measure(void **state)
{
	(void)state;
	const char *build = getenv("PARMA_BUILD_ROOT");
	char fw[512], dir[] = "/tmp/parma-snp-machine-XXXXXX", kernel[600], got[97], want[97];
	struct snp_machine_config scfg = { .sev_device = "/dev/null" };
	struct snp_machine *sm = NULL;
	struct errbuf eb = { 0 };
	struct vm *vm = NULL;
	uint8_t ld[48];
	FILE *f;

	assert_non_null(build);
	snprintf(fw, sizeof(fw), "%s/firmware/stage0/parma-stage0.elf", build);
	if (access(fw, R_OK)) {
		print_message("stage0 not built (firmware option off)\n");
		skip();
	}
	assert_non_null(mkdtemp(dir));
	snprintf(kernel, sizeof(kernel), "%s/kernel", dir);
	f = fopen(kernel, "wb");
	assert_non_null(f);
	for (int i = 0; i < 9000; i++)
		fputc(i * 7, f);
	fclose(f);

	memset(&fk, 0, sizeof(fk));
	memset(&F, 0, sizeof(F));
	F.vm_fd = FD_VM;
	F.kvm_fd = -1;
	F.caps_ok = 1;
	F.cpuid_ebx_allowed = 0xffffffff;
	F.sync_vcpus = sync_vcpus;
	/* vCPU 0 ends through the firmware's GHCB termination request (code 0). */
	fk.vcpu[0].script[0] = (struct fake_exit){ .reason = KVM_EXIT_SYSTEM_EVENT, .event = 6 };
	fk.vcpu[0].n_script = 1;

	memset(scfg.launch.host_data, 0x5a, 32);
	/* --snp-launch-dir creates its directory */
	char launch_dir[700];
	snprintf(launch_dir, sizeof(launch_dir), "%s/launch/blobs", dir);
	scfg.launch_dir = launch_dir;
	assert_int_equal(snp_machine_create(&scfg, &sm, &eb), 0);
	struct vm_config cfg = {
		.mem_mib = 32, .vcpus = 2, .firmware = fw, .kernel = kernel,
		.cmdline = "console=ttyS0", .serial = "none", .debug_log = "none",
		.kvm = &composed_ops, .hooks = snp_machine_hooks(sm),
	};
	/* What the VMM predicts without hardware (dev mode, --snp-predict). */
	uint8_t predicted[48];
	struct snp_machine_config pcfg = { 0 };
	if (snp_predict_measurement(&cfg, &pcfg, predicted, &eb))
		fail_msg("snp_predict_measurement: %s", errbuf_msg(&eb));
	struct event_loop *loop = event_loop_create(&eb);
	assert_non_null(loop);
	if (vm_create(&cfg, loop, &vm, &eb))
		fail_msg("vm_create: %s", errbuf_msg(&eb));
	if (vm_start(vm, &eb))
		fail_msg("vm_start: %s", errbuf_msg(&eb));
	assert_int_equal(event_loop_run(loop), 0);

	assert_int_equal(fk.vm_type, SNP_KVM_X86_SNP_VM);
	assert_true(F.init2 && F.finished);
	assert_memory_equal(F.host_data, scfg.launch.host_data, 32);
	assert_int_equal(snp_machine_measurement(sm, ld), 0);
	assert_memory_equal(ld, F.ld, 48);
	assert_memory_equal(predicted, F.ld, 48);
	/* the kernel staging area stayed shared, the firmware was launched */
	assert_int_equal(F.attr[0x600000 / 4096], ATTR_SHARED);
	assert_int_equal(F.launched[0x400000 / 4096], 1);
	assert_int_equal(F.launched[0x30000 / 4096], 1);
	/* every vCPU got the documented entry state (EDX = index, 32-bit mode) */
	assert_int_equal(fk.vcpu[1].regs.rdx, 1);
	assert_int_equal(fk.vcpu[1].regs.rip, fk.vcpu[0].regs.rip);
	assert_int_equal(fk.vcpu[0].sregs.cr0 & 0x80000000u, 0);

	hex_encode(F.ld, 48, got);
	run_parma_measure(launch_dir, 2, want);
	assert_string_equal(got, want);

	/* cpuid-page.bin is the page the launch handed over: vCPU 0's CPUID with
	 * TSC_DEADLINE cleared (and the VMM's HYPERVISOR bit kept). */
	char cpuid_path[800];
	uint8_t cp[4096];
	snprintf(cpuid_path, sizeof(cpuid_path), "%s/cpuid-page.bin", launch_dir);
	f = fopen(cpuid_path, "rb");
	assert_non_null(f);
	assert_int_equal(fread(cp, 1, sizeof(cp), f), sizeof(cp));
	fclose(f);
	unsigned n_cpuid = cp[0], seen_leaf1 = 0;
	assert_true(n_cpuid >= 1 && n_cpuid <= 64);
	for (unsigned i = 0; i < n_cpuid; i++) {
		const uint8_t *o = cp + 16 + 48 * i;
		uint32_t leaf, ecx;
		memcpy(&leaf, o, 4);
		memcpy(&ecx, o + 32, 4);
		if (leaf != 1)
			continue;
		seen_leaf1 = 1;
		assert_int_equal(ecx & (1u << 24), 0);
		assert_int_equal(ecx & (1u << 31), 1u << 31);
	}
	assert_true(seen_leaf1);

	vm_destroy(vm);
	event_loop_destroy(loop);
	snp_machine_destroy(sm);
	char path[700];
	const char *names[] = { "kernel", "launch/blobs/boot-descriptor.dtb",
				"launch/blobs/acpi.bin", "launch/blobs/cpuid-page.bin" };
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(launch_dir);
	snprintf(path, sizeof(path), "%s/launch", dir);
	rmdir(path);
	rmdir(dir);
}

/* More CPUID entries than the SNP CPUID page holds (64): the launch fails and
 * says so, instead of handing the guest a cut list. */
static void snp_machine_refuses_more_than_64_cpuid_entries(void **state)
{
	(void)state;
	const char *build = getenv("PARMA_BUILD_ROOT");
	char fw[512];
	struct snp_machine_config scfg = { .sev_device = "/dev/null" };
	struct snp_machine *sm = NULL;
	struct errbuf eb = { 0 };
	struct vm *vm = NULL;

	assert_non_null(build);
	snprintf(fw, sizeof(fw), "%s/firmware/stage0/parma-stage0.elf", build);
	if (access(fw, R_OK)) {
		print_message("stage0 not built (firmware option off)\n");
		skip();
	}
	memset(&fk, 0, sizeof(fk));
	memset(&F, 0, sizeof(F));
	F.vm_fd = FD_VM;
	F.kvm_fd = -1;
	F.caps_ok = 1;
	F.cpuid_ebx_allowed = 0xffffffff;
	F.sync_vcpus = sync_vcpus;
	many_cpuid = 70;
	assert_int_equal(snp_machine_create(&scfg, &sm, &eb), 0);
	struct vm_config cfg = {
		.mem_mib = 32, .vcpus = 1, .firmware = fw, .kernel = fw,
		.cmdline = "console=ttyS0", .serial = "none", .debug_log = "none",
		.kvm = &composed_ops, .hooks = snp_machine_hooks(sm),
	};
	struct event_loop *loop = event_loop_create(&eb);
	assert_non_null(loop);
	if (vm_create(&cfg, loop, &vm, &eb))
		fail_msg("vm_create: %s", errbuf_msg(&eb));
	assert_true(vm_start(vm, &eb) < 0);
	if (!strstr(errbuf_msg(&eb), "70 CPUID entries"))
		fail_msg("error does not name the entry count: %s", errbuf_msg(&eb));
	assert_false(F.started);
	many_cpuid = 0;
	vm_destroy(vm);
	event_loop_destroy(loop);
	snp_machine_destroy(sm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(snp_machine_launch_matches_parma_measure),
		cmocka_unit_test(snp_machine_refuses_more_than_64_cpuid_entries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
