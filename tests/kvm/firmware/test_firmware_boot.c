/* stage0 under this machine's KVM (non-SNP path): the firmware checks and
 * boots a staged kernel, and halts with its documented code when the kernel,
 * initrd, command line or boot descriptor is tampered with.
 *
 * A small raw-KVM harness (not the VMM) sets the vCPU to exactly the measured
 * entry state (parma_entry_regs), loads the firmware image as `parma measure`
 * sees it, stages the images and builds the boot descriptor with libfdt per
 * docs/vmm.md. Kernels: a tiny ELF and a synthetic 64-bit bzImage whose code
 * ends the VM through the debug-exit port (0x2a), so the harness can inspect
 * the boot_params the firmware built; and, when built, the VMM's test payload. */
#include <errno.h>
#include <fcntl.h>
#include <libfdt.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/digest.h"
#include "common/fileio.h"
#include "firmware/stage0/stage0_abi.h"
#include "policy/measure/parma_launch.h"

#define RAM_SIZE (128ull << 20)
#define DESC_GPA 0x30000ull
#define CMDLINE_GPA 0x20000ull
#define KERNEL_STAGE 0x600000ull
#define ACPI_GPA 0xe0000ull
#define KERNEL_DONE 0x2a

static int failures;

#define CHECK(cond, ...)                                                                    \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                \
			fprintf(stderr, __VA_ARGS__);                                       \
			fprintf(stderr, "\n");                                              \
			failures++;                                                         \
		}                                                                           \
	} while (0)

struct vm {
	int kvm, fd, vcpu;
	struct kvm_run *run;
	uint8_t *ram;
	char log[8192];
	size_t log_len;
};

struct boot_case {
	const char *name;
	const uint8_t *kernel;
	size_t kernel_len;
	const uint8_t *initrd;
	size_t initrd_len;
	const char *cmdline;
	enum { TAMPER_NONE, TAMPER_KERNEL, TAMPER_INITRD, TAMPER_CMDLINE, TAMPER_DESC } tamper;
	int want_exit;
};

static struct parma_firmware fw;

static int vm_open(struct vm *v)
{
	int rc;
	memset(v, 0, sizeof(*v));
	v->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (v->kvm < 0)
		return -1;
	v->fd = ioctl(v->kvm, KVM_CREATE_VM, 0);
	if (v->fd < 0)
		return -2;
	ioctl(v->fd, KVM_SET_TSS_ADDR, 0xfffbd000ul);
	v->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		      -1, 0);
	if (v->ram == MAP_FAILED)
		return -2;
	struct kvm_userspace_memory_region r = { .slot = 0, .guest_phys_addr = 0,
						 .memory_size = RAM_SIZE,
						 .userspace_addr = (uint64_t)(uintptr_t)v->ram };
	if (ioctl(v->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return -2;
	v->vcpu = ioctl(v->fd, KVM_CREATE_VCPU, 0);
	if (v->vcpu < 0)
		return -2;
	int sz = ioctl(v->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	v->run = mmap(NULL, (size_t)sz, PROT_READ | PROT_WRITE, MAP_SHARED, v->vcpu, 0);
	if (v->run == MAP_FAILED)
		return -2;
	struct kvm_cpuid2 *cpuid = calloc(1, sizeof(*cpuid) + 100 * sizeof(cpuid->entries[0]));
	if (!cpuid)
		return -2;
	cpuid->nent = 100;
	rc = ioctl(v->kvm, KVM_GET_SUPPORTED_CPUID, cpuid) < 0 ||
	     ioctl(v->vcpu, KVM_SET_CPUID2, cpuid) < 0;
	free(cpuid);
	if (rc)
		return -2;
	return 0;
}

static void vm_close(struct vm *v)
{
	if (v->ram && v->ram != MAP_FAILED)
		munmap(v->ram, RAM_SIZE);
	if (v->vcpu > 0)
		close(v->vcpu);
	if (v->fd > 0)
		close(v->fd);
	if (v->kvm > 0)
		close(v->kvm);
}

/* The boot descriptor, version 1 schema (docs/vmm.md "Boot descriptor"). */
static size_t build_desc(uint8_t *buf, size_t cap, const struct boot_case *c, uint64_t initrd_gpa)
{
	uint8_t kh[32], ih[32], ch[32], e820[3 * 20];
	const uint64_t map[3][3] = { { 0, 0x9fc00, 1 }, { 0x9fc00, 0x60400, 2 },
				     { 0x100000, RAM_SIZE - 0x100000, 1 } };
	digest_sha256(c->kernel, c->kernel_len, kh);
	digest_sha256(c->cmdline, strlen(c->cmdline), ch);
	if (c->initrd)
		digest_sha256(c->initrd, c->initrd_len, ih);
	for (int i = 0; i < 3; i++) {
		for (int b = 0; b < 8; b++) {
			e820[20 * i + b] = (uint8_t)(map[i][0] >> (56 - 8 * b));
			e820[20 * i + 8 + b] = (uint8_t)(map[i][1] >> (56 - 8 * b));
		}
		for (int b = 0; b < 4; b++)
			e820[20 * i + 16 + b] = (uint8_t)(map[i][2] >> (24 - 8 * b));
	}
	if (fdt_create(buf, (int)cap) || fdt_finish_reservemap(buf) || fdt_begin_node(buf, "") ||
	    fdt_property_string(buf, "compatible", "parma,boot-descriptor") ||
	    fdt_property_u32(buf, "parma,version", 1) || fdt_begin_node(buf, "memory-map") ||
	    fdt_property(buf, "entries", e820, sizeof(e820)) || fdt_end_node(buf) ||
	    fdt_begin_node(buf, "cpus") || fdt_property_u32(buf, "count", 1) || fdt_end_node(buf) ||
	    fdt_begin_node(buf, "boot") || fdt_property_string(buf, "mode", "firmware") ||
	    fdt_property_string(buf, "cmdline", c->cmdline) ||
	    fdt_property(buf, "cmdline-sha256", ch, 32) ||
	    fdt_property(buf, "kernel-sha256", kh, 32) ||
	    fdt_property_u64(buf, "kernel-size", c->kernel_len) ||
	    (c->initrd && (fdt_property(buf, "initrd-sha256", ih, 32) ||
			   fdt_property_u64(buf, "initrd-size", c->initrd_len) ||
			   fdt_property_u64(buf, "initrd-addr", initrd_gpa))) ||
	    fdt_property_u64(buf, "kernel-addr", KERNEL_STAGE) ||
	    fdt_property_u64(buf, "cmdline-addr", CMDLINE_GPA) ||
	    fdt_property_u64(buf, "acpi-rsdp", ACPI_GPA) || fdt_end_node(buf) ||
	    fdt_end_node(buf) || fdt_finish(buf))
		return 0;
	return fdt_totalsize(buf);
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* Run until the debug-exit port is written; returns its value or -1. */
static int vm_run(struct vm *v)
{
	for (int exits = 0; exits < 1000000; exits++) {
		alarm(10);
		int rc = ioctl(v->vcpu, KVM_RUN, 0);
		alarm(0);
		if (rc < 0) {
			fprintf(stderr, "KVM_RUN: %s\n", strerror(errno));
			return -1;
		}
		struct kvm_run *r = v->run;
		if (r->exit_reason == KVM_EXIT_IO && r->io.direction == KVM_EXIT_IO_OUT) {
			uint8_t *d = (uint8_t *)r + r->io.data_offset;
			if (r->io.port == STAGE0_DEBUG_EXIT_PORT)
				return d[0];
			if (r->io.port == STAGE0_DEBUGCON_PORT && v->log_len < sizeof(v->log) - 1)
				v->log[v->log_len++] = (char)d[0];
			continue;
		}
		if (r->exit_reason == KVM_EXIT_IO)
			continue;
		struct kvm_regs regs;
		ioctl(v->vcpu, KVM_GET_REGS, &regs);
		fprintf(stderr, "unexpected exit %u at rip 0x%llx", r->exit_reason,
			(unsigned long long)regs.rip);
		if (r->exit_reason == KVM_EXIT_INTERNAL_ERROR)
			fprintf(stderr, " (suberror %u, data 0x%llx 0x%llx)", r->internal.suberror,
				(unsigned long long)r->internal.data[0],
				(unsigned long long)r->internal.data[1]);
		fprintf(stderr, "\n");
		return -1;
	}
	return -1;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static int run_case(const struct boot_case *c)
{
	struct vm v;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint64_t initrd_gpa = 0;
	int rc = vm_open(&v);

	if (rc == -1) {
		vm_close(&v);
		return 77;
	}
	CHECK(rc == 0, "%s: KVM setup failed", c->name);
	if (rc) {
		vm_close(&v);
		return -1;
	}
	memcpy(v.ram + fw.gpa, fw.image, fw.len);
	memcpy(v.ram + KERNEL_STAGE, c->kernel, c->kernel_len);
	memcpy(v.ram + CMDLINE_GPA, c->cmdline, strlen(c->cmdline) + 1);
	if (c->initrd) {
		initrd_gpa = (RAM_SIZE - c->initrd_len - 0x100000) & ~0xfffull;
		memcpy(v.ram + initrd_gpa, c->initrd, c->initrd_len);
	}
	size_t dlen = build_desc(v.ram + DESC_GPA, 0x10000, c, initrd_gpa);
	CHECK(dlen > 0, "%s: descriptor", c->name);
	/* Tamper after the hashes went into the descriptor: what a hostile host does. */
	switch (c->tamper) {
	case TAMPER_KERNEL: v.ram[KERNEL_STAGE + c->kernel_len - 1] ^= 1; break;
	case TAMPER_INITRD: v.ram[initrd_gpa + c->initrd_len / 2] ^= 0x80; break;
	case TAMPER_CMDLINE: v.ram[CMDLINE_GPA] = 'X'; break;
	case TAMPER_DESC: v.ram[DESC_GPA] = 0; break;
	case TAMPER_NONE: break;
	}
	parma_entry_regs(fw.entry, DESC_GPA, 0, &regs, &sregs);
	if (ioctl(v.vcpu, KVM_SET_SREGS, &sregs) < 0 || ioctl(v.vcpu, KVM_SET_REGS, &regs) < 0) {
		CHECK(0, "%s: set registers: %s", c->name, strerror(errno));
		vm_close(&v);
		return -1;
	}
	int code = vm_run(&v);
	v.log[v.log_len] = 0;
	CHECK(code == c->want_exit, "%s: exit 0x%x, want 0x%x; firmware log:\n%s", c->name, code,
	      c->want_exit, v.log);
	if (code == KERNEL_DONE && c->want_exit == KERNEL_DONE) {
		const uint8_t *bp = v.ram + 0x7000;
		uint32_t cl = rd32(bp + 0x228);
		CHECK(cl && cl < RAM_SIZE && !strcmp((char *)v.ram + cl, c->cmdline),
		      "%s: boot_params cmdline", c->name);
		CHECK(bp[0x210] == 0xff, "%s: type_of_loader", c->name);
		CHECK(bp[0x1e8] == 3, "%s: e820 entries %u", c->name, bp[0x1e8]);
		CHECK(rd32(bp + 0x70) == ACPI_GPA, "%s: ACPI RSDP", c->name);
		if (c->initrd) {
			uint32_t ia = rd32(bp + 0x218), is = rd32(bp + 0x21c);
			CHECK(is == c->initrd_len && ia && ia + is <= RAM_SIZE &&
				      !memcmp(v.ram + ia, c->initrd, is),
			      "%s: initrd at 0x%x size %u", c->name, ia, is);
		}
		CHECK(strstr(v.log, "kernel hash ok") != NULL, "%s: log: %s", c->name, v.log);
	}
	vm_close(&v);
	return code;
}

/* Tiny kernels: `mov $0x2a, %al; out %al, $0xf4; hlt`. */
static const uint8_t kernel_code[] = { 0xb0, KERNEL_DONE, 0xe6, STAGE0_DEBUG_EXIT_PORT, 0xf4 };

static size_t make_elf_kernel(uint8_t *buf)
{
	uint8_t eh[64] = { 0x7f, 'E', 'L', 'F', 2, 1, 1 }, ph[56] = { 0 };
	uint64_t entry = 0x1000000, off = 0x1000, sz = sizeof(kernel_code), memsz = 0x3000;
	uint16_t v16;
	memset(buf, 0, 0x2000);
	v16 = 2; memcpy(eh + 16, &v16, 2);     /* ET_EXEC */
	v16 = 62; memcpy(eh + 18, &v16, 2);    /* EM_X86_64 */
	eh[20] = 1;
	memcpy(eh + 24, &entry, 8);
	uint64_t phoff = 64;
	memcpy(eh + 32, &phoff, 8);
	v16 = 64; memcpy(eh + 52, &v16, 2);
	v16 = 56; memcpy(eh + 54, &v16, 2);
	v16 = 1; memcpy(eh + 56, &v16, 2);
	uint32_t t = 1;
	memcpy(ph, &t, 4);
	memcpy(ph + 8, &off, 8);
	memcpy(ph + 16, &entry, 8);
	memcpy(ph + 24, &entry, 8);
	memcpy(ph + 32, &sz, 8);
	memcpy(ph + 40, &memsz, 8);
	memcpy(buf, eh, 64);
	memcpy(buf + 64, ph, 56);
	memcpy(buf + off, kernel_code, sz);
	return off + sz;
}

/* A synthetic bzImage: 1 setup sector after the boot sector, boot protocol
 * 2.15, XLF_KERNEL_64, loaded at 16 MiB; the 64-bit entry is at +0x200. */
static size_t make_bzimage(uint8_t *buf)
{
	size_t setup = 2 * 512, len = setup + 0x1000;
	uint64_t pref = 0x1000000;
	uint32_t init_size = 0x200000;
	memset(buf, 0, len);
	buf[0x1f1] = 1;
	buf[0x1fe] = 0x55;
	buf[0x1ff] = 0xaa;
	buf[0x201] = 0x6a;                     /* header ends at 0x26c */
	memcpy(buf + 0x202, "HdrS", 4);
	buf[0x206] = 0x0f;
	buf[0x207] = 0x02;
	buf[0x234] = 1;                        /* relocatable */
	buf[0x236] = 1;                        /* XLF_KERNEL_64 */
	memcpy(buf + 0x258, &pref, 8);
	memcpy(buf + 0x260, &init_size, 4);
	memcpy(buf + setup + 0x200, kernel_code, sizeof(kernel_code));
	return len;
}

int main(void)
{
	static uint8_t elf_kernel[0x2000], bz_kernel[0x2000], initrd[5000];
	const char *build = getenv("PARMA_BUILD_ROOT");
	char path[512];
	uint8_t *data = NULL;
	size_t len = 0;
	struct errbuf eb = { 0 };

	setvbuf(stdout, NULL, _IONBF, 0);
	if (access("/dev/kvm", R_OK | W_OK)) {
		printf("SKIP: needs read/write access to /dev/kvm\n");
		return 77;
	}
	signal(SIGALRM, on_alarm);
	snprintf(path, sizeof(path), "%s/firmware/stage0/parma-stage0.elf", build ? build : ".");
	if (file_read_all(path, 1 << 22, &data, &len, &eb) || parma_firmware_load(data, len, &fw, &eb)) {
		fprintf(stderr, "FAIL: firmware: %s\n", errbuf_msg(&eb));
		return 1;
	}
	free(data);
	CHECK(fw.gpa == STAGE0_LOAD_ADDR && fw.len <= 0x20000, "firmware at 0x%llx, %llu bytes",
	      (unsigned long long)fw.gpa, (unsigned long long)fw.len);
	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i * 31 + (i >> 9));
	size_t elf_len = make_elf_kernel(elf_kernel), bz_len = make_bzimage(bz_kernel);
	const char *cmd = "console=ttyS0 parma.test=1";

	const struct boot_case cases[] = {
		{ "elf", elf_kernel, elf_len, initrd, sizeof(initrd), cmd, TAMPER_NONE, KERNEL_DONE },
		{ "bzimage", bz_kernel, bz_len, initrd, sizeof(initrd), cmd, TAMPER_NONE, KERNEL_DONE },
		{ "no-initrd", bz_kernel, bz_len, NULL, 0, "", TAMPER_NONE, KERNEL_DONE },
		{ "tampered-kernel", bz_kernel, bz_len, initrd, sizeof(initrd), cmd, TAMPER_KERNEL,
		  STAGE0_HALT_KERNEL_HASH },
		{ "tampered-elf-kernel", elf_kernel, elf_len, NULL, 0, cmd, TAMPER_KERNEL,
		  STAGE0_HALT_KERNEL_HASH },
		{ "tampered-initrd", bz_kernel, bz_len, initrd, sizeof(initrd), cmd, TAMPER_INITRD,
		  STAGE0_HALT_INITRD_HASH },
		{ "tampered-cmdline", bz_kernel, bz_len, initrd, sizeof(initrd), cmd, TAMPER_CMDLINE,
		  STAGE0_HALT_CMDLINE_HASH },
		{ "bad-descriptor", bz_kernel, bz_len, initrd, sizeof(initrd), cmd, TAMPER_DESC,
		  STAGE0_HALT_BAD_DESCRIPTOR },
		{ "not-a-kernel", initrd, 4096, NULL, 0, cmd, TAMPER_NONE, STAGE0_HALT_BAD_KERNEL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = run_case(&cases[i]);
		if (rc == 77) {
			printf("SKIP: cannot create a KVM VM\n");
			return 77;
		}
		printf("%s: exit 0x%x\n", cases[i].name, rc);
	}
	parma_firmware_free(&fw);
	printf("%d failure(s)\n", failures);
	return failures ? 1 : 0;
}
