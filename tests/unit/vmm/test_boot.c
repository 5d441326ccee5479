/* Unit tests for vmm/boot.c and vmm/boot_desc.c: ELF and bzImage loaders on good and
 * hostile files, initrd/cmdline placement, e820, zero page, boot descriptor. */
#include <asm/bootparam.h>
#include <elf.h>
#include <errno.h>
#include <glob.h>
#include <libfdt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/digest.h"
#include "common/fileio.h"
#include "vmm/boot.h"
#include "vmm/boot_desc.h"
#include "common/guest_abi/layout.h"

#define RAM (64ull << 20)

struct ram {
	struct guest_mem gm;
	uint8_t *p;
};

static void ram_init(struct ram *r)
{
	memset(r, 0, sizeof(*r));
	r->p = calloc(1, RAM);
	assert_non_null(r->p);
	assert_int_equal(guest_mem_add(&r->gm, 0, RAM, r->p), 0);
}

static bool ram_untouched(const struct ram *r)
{
	for (size_t i = 0; i < RAM; i += 4096)
		if (r->p[i] || r->p[i + 4095])
			return false;
	return true;
}

/* An ELF64 x86-64 executable with `n` PT_LOAD segments; data follows the headers. */
struct seg { uint64_t paddr, filesz, memsz; };

static uint8_t *make_elf(const struct seg *s, unsigned n, uint64_t entry, size_t *len)
{
	size_t hdr = sizeof(Elf64_Ehdr) + n * sizeof(Elf64_Phdr), total = hdr;
	for (unsigned i = 0; i < n; i++)
		total += s[i].filesz;
	uint8_t *f = calloc(1, total);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)f;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = entry;
	eh->e_phoff = sizeof(Elf64_Ehdr);
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = (uint16_t)n;
	size_t off = hdr;
	for (unsigned i = 0; i < n; i++) {
		Elf64_Phdr *ph = (Elf64_Phdr *)(f + sizeof(Elf64_Ehdr)) + i;
		ph->p_type = PT_LOAD;
		ph->p_offset = off;
		ph->p_paddr = ph->p_vaddr = s[i].paddr;
		ph->p_filesz = s[i].filesz;
		ph->p_memsz = s[i].memsz;
		memset(f + off, 0x11 * (i + 1), s[i].filesz);
		off += s[i].filesz;
	}
	*len = total;
	return f;
}

static int load_elf(struct ram *r, const struct seg *s, unsigned n, uint64_t entry,
		    struct errbuf *eb, struct boot_image *img)
{
	size_t len;
	uint8_t *f = make_elf(s, n, entry, &len);
	int rc = boot_load_elf(&r->gm, f, len, "k.elf", LAYOUT_HIGH_MEM, img, eb);
	free(f);
	return rc;
}

static void vmm_elf_loads_segments_at_paddr(void **state)
{
	(void)state;
	struct ram r;
	ram_init(&r);
	struct seg s[2] = { { 0x200000, 0x1000, 0x1000 }, { 0x400000, 0x100, 0x3000 } };
	struct boot_image img;
	struct errbuf eb = { 0 };
	/* BSS must come out zeroed even over stale RAM. */
	memset(r.p + 0x400100, 0xee, 0x100);
	assert_int_equal(load_elf(&r, s, 2, 0x200010, &eb, &img), 0);
	assert_int_equal(img.entry, 0x200010);
	assert_int_equal(img.lo, 0x200000);
	assert_int_equal(img.hi, 0x403000);
	assert_int_equal(r.p[0x200000], 0x11);
	assert_int_equal(r.p[0x200fff], 0x11);
	assert_int_equal(r.p[0x4000ff], 0x22);
	assert_int_equal(r.p[0x400100], 0);
	assert_int_equal(r.p[0x402fff], 0);
	free(r.p);
}

/* A vmlinux-style ELF linked high (vaddr 0xffffffff81000000) with a virtual e_entry. */
static void vmm_elf_virtual_entry_is_translated(void **state)
{
	(void)state;
	struct ram r;
	ram_init(&r);
	struct seg s = { 0x1000000, 0x1000, 0x1000 };
	size_t len;
	uint8_t *f = make_elf(&s, 1, 0xffffffff81000040ull, &len);
	Elf64_Phdr *ph = (Elf64_Phdr *)(f + sizeof(Elf64_Ehdr));
	ph->p_vaddr = 0xffffffff81000000ull;
	struct boot_image img;
	struct errbuf eb = { 0 };
	assert_int_equal(boot_load_elf(&r.gm, f, len, "vmlinux", LAYOUT_HIGH_MEM, &img, &eb), 0);
	assert_int_equal(img.entry, 0x1000040);
	assert_int_equal(r.p[0x1000000], 0x11);
	free(f);
	free(r.p);
}

static void vmm_elf_hostile_files_fail_clearly_and_load_nothing(void **state)
{
	(void)state;
	static const struct {
		struct seg s[2];
		unsigned n;
		uint64_t entry;
		int rc;
		const char *msg;
	} cases[] = {
		{ { { 0x200000, 0x1000, 0x2000 }, { 0x201000, 0x10, 0x10 } }, 2, 0x200000, -EINVAL, "overlaps" },
		{ { { 0x3ff0000, 0x10, 0x20000 } }, 1, 0x3ff0000, -ERANGE, "outside guest RAM" },
		{ { { 0x80000000, 0x10, 0x10 } }, 1, 0x80000000, -ERANGE, "outside guest RAM" },
		{ { { 0x7000, 0x10, 0x10 } }, 1, 0x7000, -EINVAL, "below" },
		{ { { 0x200000, 0x10, 0xfffffffffff00000ull } }, 1, 0x200000, -EINVAL, "wraps" },
		{ { { 0x200000, 0x10, 0x100000000000ull } }, 1, 0x200000, -ERANGE, "outside guest RAM" },
		{ { { 0x200000, 0x20, 0x10 } }, 1, 0x200000, -EINVAL, "exceeds memory size" },
		{ { { 0x200000, 0x10, 0x10 } }, 1, 0x900000, -EINVAL, "entry point" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ram r;
		ram_init(&r);
		struct boot_image img;
		struct errbuf eb = { 0 };
		int rc = load_elf(&r, cases[i].s, cases[i].n, cases[i].entry, &eb, &img);
		if (rc != cases[i].rc || !strstr(eb.msg, cases[i].msg))
			fail_msg("case %zu: rc %d, message '%s'", i, rc, eb.msg);
		assert_non_null(strstr(eb.msg, "k.elf"));
		assert_true(ram_untouched(&r));
		free(r.p);
	}
}

static void vmm_elf_truncated_and_malformed_files(void **state)
{
	(void)state;
	struct ram r;
	ram_init(&r);
	struct seg s = { 0x200000, 0x1000, 0x1000 };
	size_t len;
	uint8_t *f = make_elf(&s, 1, 0x200000, &len);
	struct boot_image img;
	struct errbuf eb = { 0 };
	/* Cut into the segment data. */
	assert_int_equal(boot_load_elf(&r.gm, f, len - 1, "k.elf", LAYOUT_HIGH_MEM, &img, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "truncated"));
	/* Cut into the program headers. */
	int rc = boot_load_elf(&r.gm, f, sizeof(Elf64_Ehdr) + 10, "k.elf", LAYOUT_HIGH_MEM, &img, &eb);
	assert_true(rc < 0);
	/* Every prefix fails cleanly (no crash under ASan), none loads anything. */
	for (size_t cut = 0; cut < len; cut += 7)
		assert_true(boot_load_elf(&r.gm, f, cut, "k.elf", LAYOUT_HIGH_MEM, &img, &eb) < 0);
	assert_true(ram_untouched(&r));
	/* 32-bit / wrong machine. */
	f[EI_CLASS] = ELFCLASS32;
	assert_int_equal(boot_load_elf(&r.gm, f, len, "k.elf", LAYOUT_HIGH_MEM, &img, &eb), -EINVAL);
	f[EI_CLASS] = ELFCLASS64;
	((Elf64_Ehdr *)f)->e_machine = EM_AARCH64;
	assert_int_equal(boot_load_elf(&r.gm, f, len, "k.elf", LAYOUT_HIGH_MEM, &img, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "x86-64"));
	assert_int_equal(boot_load_kernel(&r.gm, (const uint8_t *)"hello", 5, "x", &img, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "x:"));
	free(f);
	free(r.p);
}

static uint8_t *make_bzimage(size_t kernel_len, size_t *len)
{
	size_t setup_sects = 4, total = (setup_sects + 1) * 512 + kernel_len;
	uint8_t *f = calloc(1, total);
	struct setup_header h = { 0 };
	h.setup_sects = (uint8_t)setup_sects;
	h.boot_flag = 0xaa55;
	h.header = 0x53726448;
	h.version = 0x020f;
	h.loadflags = LOADED_HIGH;
	h.relocatable_kernel = 1;
	h.xloadflags = XLF_KERNEL_64;
	h.cmdline_size = 2047;
	h.initrd_addr_max = 0x7fffffff;
	h.pref_address = 0x1000000;
	h.init_size = 0x200000;
	memcpy(f + 0x1f1, &h, sizeof(h));
	f[0x200] = 0xeb;
	f[0x201] = 0x6a; /* header ends at 0x26c */
	memset(f + (setup_sects + 1) * 512, 0x5a, kernel_len);
	*len = total;
	return f;
}

static void vmm_bzimage_loads_64bit_kernel(void **state)
{
	(void)state;
	struct ram r;
	ram_init(&r);
	size_t len;
	uint8_t *f = make_bzimage(0x10000, &len);
	struct boot_image img;
	struct errbuf eb = { 0 };
	assert_int_equal(boot_load_kernel(&r.gm, f, len, "bz", &img, &eb), 0);
	assert_int_equal(img.entry, 0x1000000 + 0x200);
	assert_int_equal(r.p[0x1000000], 0x5a);
	assert_int_equal(r.p[0x1000000 + 0xffff], 0x5a);
	assert_int_equal(img.cmdline_max, 2047);
	assert_int_equal(img.initrd_addr_max, 0x80000000ull);
	assert_true(img.setup_header_len >= 0x26c - 0x1f1);
	free(f);
	free(r.p);
}

static void vmm_bzimage_hostile_headers(void **state)
{
	(void)state;
	struct ram r;
	ram_init(&r);
	size_t len;
	struct boot_image img;
	struct errbuf eb = { 0 };
	uint8_t *f = make_bzimage(0x1000, &len);
	struct setup_header *h = (struct setup_header *)(f + 0x1f1);

	h->version = 0x0206;
	assert_int_equal(boot_load_bzimage(&r.gm, f, len, "bz", &img, &eb), -ENOTSUP);
	assert_non_null(strstr(eb.msg, "2.12"));
	h->version = 0x020f;
	h->xloadflags = 0;
	assert_int_equal(boot_load_bzimage(&r.gm, f, len, "bz", &img, &eb), -ENOTSUP);
	assert_non_null(strstr(eb.msg, "64-bit"));
	h->xloadflags = XLF_KERNEL_64;
	h->init_size = 0xf0000000; /* needs more RAM than the machine has */
	assert_int_equal(boot_load_bzimage(&r.gm, f, len, "bz", &img, &eb), -ERANGE);
	assert_non_null(strstr(eb.msg, "outside guest RAM"));
	h->init_size = 0x200000;
	h->setup_sects = 200; /* setup code longer than the file */
	assert_int_equal(boot_load_bzimage(&r.gm, f, len, "bz", &img, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "truncated"));
	h->setup_sects = 4;
	h->boot_flag = 0;
	assert_int_equal(boot_load_bzimage(&r.gm, f, len, "bz", &img, &eb), -EINVAL);
	assert_int_equal(boot_load_bzimage(&r.gm, f, 0x1f1, "bz", &img, &eb), -EINVAL);
	assert_true(ram_untouched(&r));
	free(f);
	free(r.p);
}

/* The stock Debian kernel of this machine, if there is one: real headers, not ours. */
static void vmm_bzimage_loads_the_distribution_kernel(void **state)
{
	(void)state;
	glob_t g;
	if (glob("/boot/vmlinuz-*", 0, NULL, &g) != 0) {
		print_message("SKIP: no /boot/vmlinuz-* on this machine\n");
		skip();
	}
	uint8_t *file;
	size_t len;
	struct errbuf eb = { 0 };
	int rc = file_read_all(g.gl_pathv[0], 256u << 20, &file, &len, &eb);
	globfree(&g);
	if (rc) {
		print_message("SKIP: %s\n", errbuf_msg(&eb));
		skip();
	}
	struct guest_mem gm = { 0 };
	size_t ram = 512u << 20;
	uint8_t *p = calloc(1, ram);
	assert_int_equal(guest_mem_add(&gm, 0, ram, p), 0);
	struct boot_image img;
	if (boot_load_kernel(&gm, file, len, "vmlinuz", &img, &eb))
		fail_msg("%s", errbuf_msg(&eb));
	const struct setup_header *h = (const void *)(file + 0x1f1);
	uint64_t load = h->relocatable_kernel ? h->pref_address : 0x100000;
	assert_int_equal(img.entry, load + 0x200);
	assert_true(img.hi - img.lo >= h->init_size);
	size_t setup = ((size_t)(h->setup_sects ? h->setup_sects : 4) + 1) * 512;
	assert_memory_equal(p + load, file + setup, 4096);
	struct boot_zero_page_args a = { .kernel = &img, .mem_size = ram,
					 .cmdline_addr = LAYOUT_CMDLINE, .cmdline_len = 1 };
	assert_int_equal(boot_write_zero_page(&gm, &a, &eb), 0);
	const struct boot_params *bp = (const void *)(p + LAYOUT_ZERO_PAGE);
	assert_int_equal(bp->hdr.version, h->version);
	assert_int_equal(bp->hdr.init_size, h->init_size);
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	free(p);
	free(file);
}

static void vmm_e820_and_zero_page(void **state)
{
	(void)state;
	struct boot_e820 m[BOOT_E820_MAX];
	unsigned n = boot_e820_build(64ull << 20, m);
	assert_int_equal(n, 3);
	assert_int_equal(m[0].size, LAYOUT_LOW_RAM_END);
	assert_int_equal(m[1].type, BOOT_E820_RESERVED);
	assert_int_equal(m[2].addr + m[2].size, 64ull << 20);
	n = boot_e820_build(6ull << 30, m);
	assert_int_equal(n, 4);
	assert_int_equal(m[2].addr + m[2].size, LAYOUT_MMIO_GAP);
	assert_int_equal(m[3].addr, LAYOUT_MMIO_GAP_END);
	assert_int_equal(m[3].size, (6ull << 30) - LAYOUT_MMIO_GAP);

	struct ram r;
	ram_init(&r);
	struct errbuf eb = { 0 };
	uint8_t initrd[5000];
	memset(initrd, 0x77, sizeof(initrd));
	uint64_t iaddr;
	assert_int_equal(boot_place_high(&r.gm, initrd, sizeof(initrd), 0x200000, 0, "initrd",
					 &iaddr, &eb), 0);
	assert_int_equal(iaddr, (RAM - sizeof(initrd)) & ~0xfffull);
	assert_int_equal(r.p[iaddr], 0x77);
	/* Too big to fit above the kernel. */
	assert_int_equal(boot_place_high(&r.gm, initrd, sizeof(initrd), RAM - 4096, 0, "initrd",
					 &iaddr, &eb), -ENOSPC);
	assert_non_null(strstr(eb.msg, "initrd"));
	assert_int_equal(boot_write_cmdline(&r.gm, "console=ttyS0", 255, &eb), 0);
	char longline[300];
	memset(longline, 'a', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = 0;
	assert_int_equal(boot_write_cmdline(&r.gm, longline, 255, &eb), -E2BIG);

	struct boot_image img = { 0 };
	struct boot_zero_page_args a = { .kernel = &img, .mem_size = RAM,
					 .cmdline_addr = LAYOUT_CMDLINE, .cmdline_len = 13,
					 .initrd_addr = iaddr, .initrd_size = sizeof(initrd),
					 .rsdp_addr = LAYOUT_ACPI };
	assert_int_equal(boot_write_zero_page(&r.gm, &a, &eb), 0);
	const struct boot_params *bp = (const void *)(r.p + LAYOUT_ZERO_PAGE);
	assert_int_equal(bp->hdr.boot_flag, 0xaa55);
	assert_int_equal(bp->hdr.header, 0x53726448);
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_int_equal(bp->hdr.cmd_line_ptr, LAYOUT_CMDLINE);
	assert_int_equal(bp->hdr.ramdisk_image, iaddr);
	assert_int_equal(bp->hdr.ramdisk_size, sizeof(initrd));
	assert_int_equal(bp->acpi_rsdp_addr, LAYOUT_ACPI);
	assert_int_equal(bp->e820_entries, 3);
	assert_int_equal(bp->e820_table[2].addr, LAYOUT_HIGH_MEM);
	assert_int_equal(bp->e820_table[2].size, RAM - LAYOUT_HIGH_MEM);
	assert_string_equal((const char *)r.p + LAYOUT_CMDLINE, "console=ttyS0");
	free(r.p);
}

static void vmm_boot_descriptor_schema(void **state)
{
	(void)state;
	struct boot_e820 m[BOOT_E820_MAX];
	uint8_t ksha[SHA256_LEN], isha[SHA256_LEN];
	memset(ksha, 0xab, sizeof(ksha));
	memset(isha, 0xcd, sizeof(isha));
	struct boot_desc_device dev = { "virtio-blk0", "virtio,mmio", "LNRO0005", 0xd0000000,
					0x1000, 5, 2 };
	struct boot_desc d = { .mode = "firmware", .e820 = m, .n_e820 = boot_e820_build(RAM, m),
			       .n_vcpus = 2, .cmdline = "console=ttyS0",
			       .kernel_sha256 = ksha, .kernel_size = 1234,
			       .initrd_sha256 = isha, .initrd_size = 99,
			       .kernel_addr = 0x400000, .initrd_addr = 0x3000000,
			       .cmdline_addr = LAYOUT_CMDLINE, .acpi_rsdp = LAYOUT_ACPI,
			       .devices = &dev, .n_devices = 1 };
	uint8_t buf[8192];
	size_t len;
	struct errbuf eb = { 0 };
	assert_int_equal(boot_desc_build(&d, buf, sizeof(buf), &len, &eb), 0);
	assert_int_equal(fdt_check_header(buf), 0);
	assert_int_equal(len, fdt_totalsize(buf));
	int boot = fdt_path_offset(buf, "/boot");
	assert_true(boot >= 0);
	int plen;
	const uint8_t *p = fdt_getprop(buf, boot, "kernel-sha256", &plen);
	assert_int_equal(plen, SHA256_LEN);
	assert_memory_equal(p, ksha, SHA256_LEN);
	uint8_t want[SHA256_LEN];
	digest_sha256("console=ttyS0", 13, want);
	p = fdt_getprop(buf, boot, "cmdline-sha256", &plen);
	assert_memory_equal(p, want, SHA256_LEN);
	const void *a = fdt_getprop(buf, boot, "initrd-addr", &plen);
	assert_int_equal(plen, 8);
	assert_int_equal(fdt64_ld(a), 0x3000000);
	assert_string_equal(fdt_getprop(buf, boot, "mode", NULL), "firmware");
	int mm = fdt_path_offset(buf, "/memory-map");
	p = fdt_getprop(buf, mm, "entries", &plen);
	assert_int_equal(plen, 3 * 20);
	int dn = fdt_path_offset(buf, "/devices/virtio-blk0@d0000000");
	assert_true(dn >= 0);
	assert_int_equal(fdt32_ld(fdt_getprop(buf, dn, "interrupts", &plen)), 5);
	assert_int_equal(fdt32_ld(fdt_getprop(buf, 0, "parma,version", &plen)), BOOT_DESC_VERSION);
	/* Same input, same bytes (it is measured). */
	uint8_t buf2[8192];
	size_t len2;
	assert_int_equal(boot_desc_build(&d, buf2, sizeof(buf2), &len2, &eb), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(buf, buf2, len);
	/* Too small an area: a clear error. */
	assert_int_equal(boot_desc_build(&d, buf2, 128, &len2, &eb), -ENOSPC);
	assert_non_null(strstr(eb.msg, "boot descriptor"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vmm_elf_loads_segments_at_paddr),
		cmocka_unit_test(vmm_elf_virtual_entry_is_translated),
		cmocka_unit_test(vmm_elf_hostile_files_fail_clearly_and_load_nothing),
		cmocka_unit_test(vmm_elf_truncated_and_malformed_files),
		cmocka_unit_test(vmm_bzimage_loads_64bit_kernel),
		cmocka_unit_test(vmm_bzimage_hostile_headers),
		cmocka_unit_test(vmm_bzimage_loads_the_distribution_kernel),
		cmocka_unit_test(vmm_e820_and_zero_page),
		cmocka_unit_test(vmm_boot_descriptor_schema),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
