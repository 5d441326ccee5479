/* stage0 main (64-bit): check and load what the VMM staged, then enter Linux.
 *
 * The VMM stages the kernel, initrd and command line verbatim (docs/vmm.md,
 * firmware boot) and records their SHA-256 in the measured boot descriptor.
 * On SEV-SNP the staging areas are shared (host-written) memory: every byte
 * is first copied into private memory, then hashed there, so the host cannot
 * change it between check and use. The same code path runs without SNP. */
#include "firmware/stage0/stage0.h"

#define GIB4 0x100000000ull
#define LOW_MEM_END LAYOUT_HIGH_MEM
#define CMDLINE_DEST LAYOUT_FW_CMDLINE
#define CMDLINE_MAX LAYOUT_FW_CMDLINE_MAX
#define PAGE 0x1000ull

extern uint8_t stage0_image_start[], stage0_image_end[];
void stage0_main(uint64_t boot_desc, uint64_t sev_status, uint32_t c_bit);

struct range {
	uint64_t start, end;
};

static struct range staging[3];
static unsigned n_staging;

static uint64_t page_down(uint64_t a)
{
	return a & ~(PAGE - 1);
}

static uint64_t page_up(uint64_t a)
{
	return (a + PAGE - 1) & ~(PAGE - 1);
}

static bool overlaps(uint64_t a, uint64_t aend, uint64_t b, uint64_t bend)
{
	return a < bend && b < aend;
}

static bool in_ram(const struct boot_info *bi, uint64_t start, uint64_t end)
{
	if (end <= start || end > GIB4)
		return false;
	for (unsigned i = 0; i < bi->n_e820; i++) {
		const struct e820_entry *e = &bi->e820[i];
		if (e->type == 1 && start >= e->addr && end <= e->addr + e->size)
			return true;
	}
	return false;
}

/* A destination must be RAM above 1 MiB, clear of the firmware and of every
 * staging area (and on SNP those are shared pages). */
static void check_dest(const struct boot_info *bi, uint64_t start, uint64_t end, const char *what)
{
	if (start < LOW_MEM_END || !in_ram(bi, start, end) ||
	    overlaps(start, end, (uint64_t)(uintptr_t)stage0_image_start,
		     (uint64_t)(uintptr_t)stage0_image_end))
		stage0_halt(STAGE0_HALT_LAYOUT, what);
	for (unsigned i = 0; i < n_staging; i++)
		if (overlaps(start, end, staging[i].start, staging[i].end))
			stage0_halt(STAGE0_HALT_LAYOUT, what);
}

/* The host-written view of a staged GPA (C-bit clear on SNP). */
static const uint8_t *staged(uint64_t gpa)
{
	return (const uint8_t *)(uintptr_t)(gpa + snp_shared_alias);
}

static void add_staging(const struct boot_info *bi, uint64_t addr, uint64_t size)
{
	if (!size || addr + size < addr || !in_ram(bi, page_down(addr), page_up(addr + size)))
		stage0_halt(STAGE0_HALT_BAD_DESCRIPTOR, "staged image outside RAM below 4 GiB");
	staging[n_staging++] = (struct range){ page_down(addr), page_up(addr + size) };
}

/* SNP: validate all RAM except the staging areas (which stay shared for now). */
static void validate_ram(const struct boot_info *bi)
{
	for (unsigned i = 0; i < bi->n_e820; i++) {
		const struct e820_entry *e = &bi->e820[i];
		uint64_t a = page_up(e->addr), end = page_down(e->addr + e->size);
		if (e->type != 1 || end <= a)
			continue;
		if (end > GIB4)
			stage0_halt(STAGE0_HALT_LAYOUT, "SNP guest RAM above 4 GiB is not supported");
		while (a < end) {
			uint64_t stop = end;
			for (unsigned s = 0; s < n_staging; s++) {
				if (staging[s].start <= a && a < staging[s].end)
					a = staging[s].end;
				else if (staging[s].start > a && staging[s].start < stop)
					stop = staging[s].start;
			}
			if (a >= end)
				break;
			if (stop > a && snp_pvalidate_range(a, stop))
				stage0_halt(STAGE0_HALT_SNP, "PVALIDATE failed");
			a = stop;
		}
	}
}

/* SNP: give the staging pages back to the guest as private, validated RAM. */
static void reclaim_staging(void)
{
	for (unsigned s = 0; s < n_staging; s++) {
		for (uint64_t a = staging[s].start; a < staging[s].end; a += PAGE)
			if (snp_psc(a, true))
				stage0_halt(STAGE0_HALT_SNP, "page state change failed");
		if (snp_pvalidate_range(staging[s].start, staging[s].end))
			stage0_halt(STAGE0_HALT_SNP, "PVALIDATE of the staging area failed");
	}
}

static void check_hash(const void *data, uint64_t len, const uint8_t *want, uint8_t code,
		       const char *what)
{
	uint8_t got[32];
	sha256(data, len, got);
	if (memcmp(got, want, 32))
		stage0_halt(code, what);
	log_str("stage0: ");
	log_str(what);
	log_str(" ok\n");
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

struct kernel {
	uint64_t entry, end;
	uint8_t setup_header[0x80];
	uint64_t setup_header_len;
};

/* bzImage with the 64-bit entry: copy the whole file to its load address,
 * check it there, then move the protected-mode part into place. */
static void load_bzimage(const struct boot_info *bi, const uint8_t *hdr, struct kernel *k)
{
	uint64_t setup_sects = hdr[0x1f1] ? hdr[0x1f1] : 4;
	uint64_t setup_size = (setup_sects + 1) * 512, size = bi->kernel_size;
	uint64_t pref = le64(hdr + 0x258), init_size = le32(hdr + 0x260);
	uint64_t hlen = 0x202 + hdr[0x201] - 0x1f1;
	uint8_t *dest = (uint8_t *)(uintptr_t)pref;

	if (setup_size >= size || hlen > sizeof(k->setup_header) || size > init_size + setup_size ||
	    (pref & (PAGE - 1)))
		stage0_halt(STAGE0_HALT_BAD_KERNEL, "bzImage setup header");
	uint64_t end = pref + (init_size > size ? init_size : size);
	check_dest(bi, pref, end, "kernel does not fit at its load address");
	memcpy(dest, staged(bi->kernel_addr), size);
	check_hash(dest, size, bi->kernel_sha256, STAGE0_HALT_KERNEL_HASH, "kernel hash");
	/* The header we planned with must be the one we checked. */
	if (memcmp(dest, hdr, 0x290))
		stage0_halt(STAGE0_HALT_KERNEL_HASH, "kernel changed while loading");
	memcpy(k->setup_header, dest + 0x1f1, hlen);
	k->setup_header_len = hlen;
	memmove(dest, dest + setup_size, size - setup_size);
	k->entry = pref + 0x200;
	k->end = end;
}

/* ELF kernels (test payloads): without SNP only — checked in place, then
 * loaded at p_paddr. */
static void load_elf(const struct boot_info *bi, struct kernel *k)
{
	const uint8_t *f = staged(bi->kernel_addr);
	uint64_t size = bi->kernel_size;

	if (snp_active)
		stage0_halt(STAGE0_HALT_BAD_KERNEL, "ELF kernels are not accepted on SEV-SNP");
	check_hash(f, size, bi->kernel_sha256, STAGE0_HALT_KERNEL_HASH, "kernel hash");
	if (size < 64 || f[4] != 2 || f[5] != 1 || (f[18] | f[19] << 8) != 62)
		stage0_halt(STAGE0_HALT_BAD_KERNEL, "not an x86-64 ELF");
	uint64_t phoff = le64(f + 32), phnum = f[56] | f[57] << 8, phentsize = f[54] | f[55] << 8;
	if (phentsize != 56 || phnum > 64 || phoff > size || (size - phoff) / 56 < phnum)
		stage0_halt(STAGE0_HALT_BAD_KERNEL, "ELF program headers");
	k->end = 0;
	for (uint64_t i = 0; i < phnum; i++) {
		const uint8_t *ph = f + phoff + 56 * i;
		if (le32(ph) != 1 /* PT_LOAD */)
			continue;
		uint64_t off = le64(ph + 8), paddr = le64(ph + 24), filesz = le64(ph + 32),
			 memsz = le64(ph + 40);
		if (filesz > memsz || off > size || size - off < filesz || paddr + memsz < paddr)
			stage0_halt(STAGE0_HALT_BAD_KERNEL, "ELF segment");
		check_dest(bi, paddr, paddr + memsz, "ELF segment outside usable RAM");
		memmove((void *)(uintptr_t)paddr, f + off, filesz);
		memset((uint8_t *)(uintptr_t)paddr + filesz, 0, memsz - filesz);
		if (paddr + memsz > k->end)
			k->end = paddr + memsz;
	}
	k->entry = le64(f + 24);
	k->setup_header_len = 0;
}

void stage0_main(uint64_t boot_desc, uint64_t sev_status, uint32_t c_bit)
{
	static struct boot_info bi;
	static struct kernel k;
	uint8_t hdr[0x290];
	uint64_t initrd = 0;

	snp_active = (sev_status & 4) != 0;
	log_line("stage0: start, SEV_STATUS ", sev_status);
	if (snp_active)
		log_line("stage0: C-bit ", c_bit);
	if (!boot_desc || boot_desc >= GIB4 - 0x10000 ||
	    desc_parse((const uint8_t *)(uintptr_t)boot_desc, &bi))
		stage0_halt(STAGE0_HALT_BAD_DESCRIPTOR, "no valid boot descriptor");
	if (!bi.firmware_mode || !bi.kernel_sha256 || !bi.kernel_addr || !bi.cmdline_sha256 ||
	    !bi.cmdline_addr || !bi.initrd_sha256 != !bi.initrd_addr)
		stage0_halt(STAGE0_HALT_BAD_DESCRIPTOR, "descriptor lacks staged images or hashes");
	add_staging(&bi, bi.kernel_addr, bi.kernel_size);
	add_staging(&bi, bi.cmdline_addr, CMDLINE_MAX);
	if (bi.initrd_addr)
		add_staging(&bi, bi.initrd_addr, bi.initrd_size);
	if (snp_active)
		validate_ram(&bi);

	/* Command line: copy (bounded), then check. */
	char *cmdline = (char *)(uintptr_t)CMDLINE_DEST;
	if (!in_ram(&bi, CMDLINE_DEST, CMDLINE_DEST + CMDLINE_MAX))
		stage0_halt(STAGE0_HALT_LAYOUT, "no RAM for the command line");
	for (unsigned i = 0; i < n_staging; i++)
		if (overlaps(CMDLINE_DEST, CMDLINE_DEST + CMDLINE_MAX, staging[i].start,
			     staging[i].end))
			stage0_halt(STAGE0_HALT_LAYOUT, "command line staged over its destination");
	const char *src = (const char *)staged(bi.cmdline_addr);
	uint64_t n = 0;
	while (n < CMDLINE_MAX - 1 && src[n]) {
		cmdline[n] = src[n];
		n++;
	}
	cmdline[n] = 0;
	check_hash(cmdline, n, bi.cmdline_sha256, STAGE0_HALT_CMDLINE_HASH, "cmdline hash");

	/* Kernel. */
	if (bi.kernel_size < sizeof(hdr))
		stage0_halt(STAGE0_HALT_BAD_KERNEL, "kernel too small");
	memcpy(hdr, staged(bi.kernel_addr), sizeof(hdr));
	if (!memcmp(hdr + 0x202, "HdrS", 4) && (hdr[0x206] | hdr[0x207] << 8) >= 0x20c &&
	    (hdr[0x236] & 1))
		load_bzimage(&bi, hdr, &k);
	else if (!memcmp(hdr, "\x7f" "ELF", 4))
		load_elf(&bi, &k);
	else
		stage0_halt(STAGE0_HALT_BAD_KERNEL, "kernel is neither a 64-bit bzImage nor an ELF");

	/* Initrd: copied to just below its staging area, then checked. */
	if (bi.initrd_addr) {
		initrd = page_down(bi.initrd_addr - bi.initrd_size);
		if (bi.initrd_size > bi.initrd_addr || initrd < k.end)
			stage0_halt(STAGE0_HALT_LAYOUT, "no room for the initrd");
		check_dest(&bi, initrd, initrd + bi.initrd_size, "initrd destination");
		memcpy((void *)(uintptr_t)initrd, staged(bi.initrd_addr), bi.initrd_size);
		check_hash((const void *)(uintptr_t)initrd, bi.initrd_size, bi.initrd_sha256,
			   STAGE0_HALT_INITRD_HASH, "initrd hash");
	}
	if (snp_active)
		reclaim_staging();
	linux_boot(&bi, k.setup_header, k.setup_header_len, k.entry, initrd, bi.initrd_size,
		   cmdline, boot_desc);
}
