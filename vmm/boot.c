/* boot: ELF / bzImage loaders, initrd and cmdline placement, e820, zero page. */
#include "vmm/boot.h"

#include <asm/bootparam.h>
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/guest_abi/layout.h"

#define BOOT_MAX_SEGMENTS 32
#define BZ_MAGIC_HDRS 0x53726448u /* "HdrS" */
#define BZ_MIN_VERSION 0x020c     /* 2.12: xloadflags, 64-bit entry */
#define BZ_DEFAULT_LOAD 0x100000ull
#define BZ_ENTRY64_OFFSET 0x200

unsigned boot_e820_build(uint64_t mem_size, struct boot_e820 out[BOOT_E820_MAX])
{
	unsigned n = 0;
	uint64_t low = mem_size < LAYOUT_MMIO_GAP ? mem_size : LAYOUT_MMIO_GAP;
	out[n++] = (struct boot_e820){ 0, LAYOUT_LOW_RAM_END, BOOT_E820_RAM };
	/* EBDA, VGA hole and BIOS area: the ACPI tables live here (0xe0000). */
	out[n++] = (struct boot_e820){ LAYOUT_LOW_RAM_END, LAYOUT_HIGH_MEM - LAYOUT_LOW_RAM_END,
				       BOOT_E820_RESERVED };
	out[n++] = (struct boot_e820){ LAYOUT_HIGH_MEM, low - LAYOUT_HIGH_MEM, BOOT_E820_RAM };
	if (mem_size > low)
		out[n++] = (struct boot_e820){ LAYOUT_MMIO_GAP_END, mem_size - low, BOOT_E820_RAM };
	return n;
}

/* Check that [gpa, gpa+size) is RAM above min_addr; name what is wrong. */
static int check_range(struct guest_mem *gm, uint64_t gpa, uint64_t size, uint64_t min_addr,
		       const char *name, const char *what, struct errbuf *eb)
{
	if (gpa + size < gpa)
		return errbuf_set(eb, EINVAL, "%s: %s at 0x%llx size 0x%llx wraps around", name,
				  what, (unsigned long long)gpa, (unsigned long long)size);
	if (gpa < min_addr)
		return errbuf_set(eb, EINVAL,
				  "%s: %s at 0x%llx lies below 0x%llx (reserved for boot structures)",
				  name, what, (unsigned long long)gpa, (unsigned long long)min_addr);
	if (!guest_mem_ptr(gm, gpa, size ? size : 1))
		return errbuf_set(eb, ERANGE, "%s: %s [0x%llx, 0x%llx) is outside guest RAM", name,
				  what, (unsigned long long)gpa, (unsigned long long)(gpa + size));
	return 0;
}

int boot_load_elf(struct guest_mem *gm, const uint8_t *file, size_t len, const char *name,
		  uint64_t min_addr, struct boot_image *out, struct errbuf *eb)
{
	memset(out, 0, sizeof(*out));
	if (elf_version(EV_CURRENT) == EV_NONE)
		return errbuf_set(eb, EIO, "libelf: %s", elf_errmsg(-1));
	if (len < sizeof(Elf64_Ehdr) || memcmp(file, ELFMAG, SELFMAG))
		return errbuf_set(eb, EINVAL, "%s: not an ELF file (%zu bytes)", name, len);
	Elf *elf = elf_memory((char *)file, len);
	if (!elf)
		return errbuf_set(eb, EINVAL, "%s: %s", name, elf_errmsg(-1));
	int rc = 0;
	GElf_Ehdr eh;
	size_t nph = 0;
	if (!gelf_getehdr(elf, &eh)) {
		rc = errbuf_set(eb, EINVAL, "%s: bad ELF header: %s", name, elf_errmsg(-1));
		goto out;
	}
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64 ||
	    eh.e_type != ET_EXEC) {
		rc = errbuf_set(eb, EINVAL, "%s: not an x86-64 ELF64 executable", name);
		goto out;
	}
	if (elf_getphdrnum(elf, &nph) < 0 || nph == 0 || nph > 64) {
		rc = errbuf_set(eb, EINVAL, "%s: bad program header count", name);
		goto out;
	}
	struct elf_seg { uint64_t gpa, vaddr, filesz, memsz, off; } seg[BOOT_MAX_SEGMENTS];
	unsigned n = 0;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(elf, (int)i, &ph)) {
			rc = errbuf_set(eb, EINVAL, "%s: program header %zu is truncated", name, i);
			goto out;
		}
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (n == BOOT_MAX_SEGMENTS) {
			rc = errbuf_set(eb, E2BIG, "%s: more than %d loadable segments", name,
					BOOT_MAX_SEGMENTS);
			goto out;
		}
		char what[48];
		snprintf(what, sizeof(what), "segment %zu", i);
		if (ph.p_filesz > ph.p_memsz) {
			rc = errbuf_set(eb, EINVAL, "%s: %s: file size 0x%llx exceeds memory size 0x%llx",
					name, what, (unsigned long long)ph.p_filesz,
					(unsigned long long)ph.p_memsz);
			goto out;
		}
		if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset) {
			rc = errbuf_set(eb, EINVAL,
					"%s: %s: file data [0x%llx, +0x%llx) beyond the end of the file (%zu bytes): truncated?",
					name, what, (unsigned long long)ph.p_offset,
					(unsigned long long)ph.p_filesz, len);
			goto out;
		}
		if ((rc = check_range(gm, ph.p_paddr, ph.p_memsz, min_addr, name, what, eb)) < 0)
			goto out;
		for (unsigned j = 0; j < n; j++) {
			if (ph.p_paddr < seg[j].gpa + seg[j].memsz &&
			    seg[j].gpa < ph.p_paddr + ph.p_memsz) {
				rc = errbuf_set(eb, EINVAL,
						"%s: %s [0x%llx, 0x%llx) overlaps an earlier segment at 0x%llx",
						name, what, (unsigned long long)ph.p_paddr,
						(unsigned long long)(ph.p_paddr + ph.p_memsz),
						(unsigned long long)seg[j].gpa);
				goto out;
			}
		}
		seg[n++] = (struct elf_seg){ ph.p_paddr, ph.p_vaddr, ph.p_filesz, ph.p_memsz, ph.p_offset };
	}
	if (!n) {
		rc = errbuf_set(eb, EINVAL, "%s: no loadable segments", name);
		goto out;
	}
	/* The entry point is physical (Linux's vmlinux: phys_startup_64); an ELF
	 * whose e_entry is virtual gets it translated through its segment. */
	bool entry_ok = false;
	uint64_t entry = eh.e_entry;
	for (unsigned j = 0; j < n && !entry_ok; j++)
		if (eh.e_entry >= seg[j].gpa && eh.e_entry - seg[j].gpa < seg[j].memsz)
			entry_ok = true;
	for (unsigned j = 0; j < n && !entry_ok; j++) {
		if (eh.e_entry >= seg[j].vaddr && eh.e_entry - seg[j].vaddr < seg[j].memsz) {
			entry = seg[j].gpa + (eh.e_entry - seg[j].vaddr);
			entry_ok = true;
		}
	}
	if (!entry_ok) {
		rc = errbuf_set(eb, EINVAL, "%s: entry point 0x%llx is not inside a loaded segment",
				name, (unsigned long long)eh.e_entry);
		goto out;
	}
	/* All checked: now copy. */
	out->lo = UINT64_MAX;
	for (unsigned j = 0; j < n; j++) {
		uint8_t *dst = guest_mem_ptr(gm, seg[j].gpa, seg[j].memsz);
		memcpy(dst, file + seg[j].off, seg[j].filesz);
		memset(dst + seg[j].filesz, 0, seg[j].memsz - seg[j].filesz);
		if (seg[j].gpa < out->lo)
			out->lo = seg[j].gpa;
		if (seg[j].gpa + seg[j].memsz > out->hi)
			out->hi = seg[j].gpa + seg[j].memsz;
	}
	out->entry = entry;
	out->initrd_addr_max = LAYOUT_MMIO_GAP;
	out->cmdline_max = LAYOUT_CMDLINE_MAX - 1;
out:
	elf_end(elf);
	return rc;
}

int boot_load_bzimage(struct guest_mem *gm, const uint8_t *file, size_t len, const char *name,
		      struct boot_image *out, struct errbuf *eb)
{
	memset(out, 0, sizeof(*out));
	struct setup_header h;
	if (len < 0x1f1 + sizeof(h))
		return errbuf_set(eb, EINVAL, "%s: too short for a bzImage (%zu bytes)", name, len);
	memcpy(&h, file + 0x1f1, sizeof(h));
	if (h.boot_flag != 0xaa55 || h.header != BZ_MAGIC_HDRS)
		return errbuf_set(eb, EINVAL, "%s: not a bzImage (no boot flag / HdrS magic)", name);
	if (h.version < BZ_MIN_VERSION)
		return errbuf_set(eb, ENOTSUP, "%s: boot protocol %u.%u, need 2.12 or later", name,
				  h.version >> 8, h.version & 0xff);
	if (!(h.xloadflags & XLF_KERNEL_64))
		return errbuf_set(eb, ENOTSUP, "%s: kernel has no 64-bit entry point", name);
	if (!(h.loadflags & LOADED_HIGH))
		return errbuf_set(eb, ENOTSUP, "%s: not a bzImage (zImage loads low)", name);
	size_t setup = ((size_t)(h.setup_sects ? h.setup_sects : 4) + 1) * 512;
	if (setup >= len)
		return errbuf_set(eb, EINVAL, "%s: setup code (%zu bytes) covers the whole file: truncated?",
				  name, setup);
	uint64_t kernel_len = len - setup;
	uint64_t load = BZ_DEFAULT_LOAD;
	if (h.relocatable_kernel && h.pref_address >= LAYOUT_HIGH_MEM)
		load = h.pref_address;
	uint64_t span = h.init_size > kernel_len ? h.init_size : kernel_len;
	int rc = check_range(gm, load, span, LAYOUT_HIGH_MEM, name, "kernel (init_size)", eb);
	if (rc < 0)
		return rc;
	uint8_t *dst = guest_mem_ptr(gm, load, span);
	memcpy(dst, file + setup, kernel_len);
	out->entry = load + BZ_ENTRY64_OFFSET;
	out->lo = load;
	out->hi = load + span;
	/* The header's own length is given by the jump at 0x200. */
	size_t hlen = 0x202 + file[0x201] - 0x1f1;
	if (hlen > sizeof(out->setup_header))
		hlen = sizeof(out->setup_header);
	if (hlen > len - 0x1f1)
		hlen = len - 0x1f1;
	memcpy(out->setup_header, file + 0x1f1, hlen);
	out->setup_header_len = hlen;
	out->initrd_addr_max = (uint64_t)h.initrd_addr_max + 1;
	if (h.xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G)
		out->initrd_addr_max = LAYOUT_MMIO_GAP;
	out->cmdline_max = h.cmdline_size ? h.cmdline_size : 255;
	if (out->cmdline_max > LAYOUT_CMDLINE_MAX - 1)
		out->cmdline_max = LAYOUT_CMDLINE_MAX - 1;
	return 0;
}

int boot_load_kernel(struct guest_mem *gm, const uint8_t *file, size_t len, const char *name,
		     struct boot_image *out, struct errbuf *eb)
{
	if (len >= SELFMAG && !memcmp(file, ELFMAG, SELFMAG))
		return boot_load_elf(gm, file, len, name, LAYOUT_HIGH_MEM, out, eb);
	return boot_load_bzimage(gm, file, len, name, out, eb);
}

int boot_place_high(struct guest_mem *gm, const uint8_t *data, size_t len, uint64_t min_addr,
		    uint64_t max_end, const char *what, uint64_t *addr, struct errbuf *eb)
{
	/* Top of the RAM region below the 32-bit hole. */
	uint64_t top = 0;
	for (unsigned i = 0; i < gm->n_regions; i++) {
		const struct guest_mem_region *r = &gm->region[i];
		if (r->gpa < LAYOUT_MMIO_GAP) {
			uint64_t end = r->gpa + r->size;
			if (end > LAYOUT_MMIO_GAP)
				end = LAYOUT_MMIO_GAP;
			if (end > top)
				top = end;
		}
	}
	if (max_end && top > max_end)
		top = max_end;
	uint64_t start = len > top ? 0 : (top - len) & ~0xfffull;
	if (!len || len > top || start < min_addr || !guest_mem_ptr(gm, start, len))
		return errbuf_set(eb, ENOSPC,
				  "%s (%zu bytes) does not fit in guest RAM between 0x%llx and 0x%llx",
				  what, len, (unsigned long long)min_addr, (unsigned long long)top);
	memcpy(guest_mem_ptr(gm, start, len), data, len);
	*addr = start;
	return 0;
}

int boot_write_cmdline(struct guest_mem *gm, const char *cmdline, uint32_t max_len,
		       struct errbuf *eb)
{
	size_t n = strlen(cmdline);
	if (n > max_len || n >= LAYOUT_CMDLINE_MAX)
		return errbuf_set(eb, E2BIG, "command line is %zu bytes, the kernel accepts %u", n,
				  max_len);
	uint8_t *dst = guest_mem_ptr(gm, LAYOUT_CMDLINE, n + 1);
	if (!dst)
		return errbuf_set(eb, ERANGE, "command line area outside guest RAM");
	memcpy(dst, cmdline, n + 1);
	return 0;
}

int boot_write_reset_vector(struct guest_mem *gm, struct errbuf *eb)
{
	static const uint8_t stub[] = {
		0xb0, 0xfe, /* mov al, 0xfe: pulse the reset line */
		0xe6, 0x64, /* out 0x64, al  (i8042 command port) */
		0xfa,       /* cli */
		0xf4,       /* hlt */
		0xeb, 0xfc, /* jmp back to cli */
	};
	uint8_t *dst = guest_mem_ptr(gm, LAYOUT_RESET_VECTOR, sizeof(stub));
	if (!dst)
		return errbuf_set(eb, ERANGE, "reset vector outside guest RAM");
	memcpy(dst, stub, sizeof(stub));
	return 0;
}

int boot_write_zero_page(struct guest_mem *gm, const struct boot_zero_page_args *a,
			 struct errbuf *eb)
{
	struct boot_params *bp = guest_mem_ptr(gm, LAYOUT_ZERO_PAGE, sizeof(*bp));
	if (!bp)
		return errbuf_set(eb, ERANGE, "zero page outside guest RAM");
	memset(bp, 0, sizeof(*bp));
	if (a->kernel && a->kernel->setup_header_len)
		memcpy(&bp->hdr, a->kernel->setup_header, a->kernel->setup_header_len);
	else {
		/* vmlinux: the fields a kernel reads from a loader that has no header to copy. */
		bp->hdr.boot_flag = 0xaa55;
		bp->hdr.header = BZ_MAGIC_HDRS;
		bp->hdr.version = BZ_MIN_VERSION;
		bp->hdr.kernel_alignment = 0x1000000;
	}
	bp->hdr.type_of_loader = 0xff; /* undefined loader */
	bp->hdr.loadflags |= LOADED_HIGH;
	if (a->cmdline_addr) {
		bp->hdr.cmd_line_ptr = (uint32_t)a->cmdline_addr;
		bp->ext_cmd_line_ptr = (uint32_t)(a->cmdline_addr >> 32);
		bp->hdr.cmdline_size = a->cmdline_len;
	}
	if (a->initrd_size) {
		bp->hdr.ramdisk_image = (uint32_t)a->initrd_addr;
		bp->ext_ramdisk_image = (uint32_t)(a->initrd_addr >> 32);
		bp->hdr.ramdisk_size = (uint32_t)a->initrd_size;
		bp->ext_ramdisk_size = (uint32_t)(a->initrd_size >> 32);
	}
	bp->acpi_rsdp_addr = a->rsdp_addr;
	struct boot_e820 map[BOOT_E820_MAX];
	unsigned n = boot_e820_build(a->mem_size, map);
	for (unsigned i = 0; i < n; i++) {
		bp->e820_table[i].addr = map[i].addr;
		bp->e820_table[i].size = map[i].size;
		bp->e820_table[i].type = map[i].type;
	}
	bp->e820_entries = (uint8_t)n;
	return 0;
}
