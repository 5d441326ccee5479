/* boot: putting a kernel or firmware into guest RAM (x86-64).
 *
 * Loaders work on a `struct guest_mem` only (no KVM), so unit tests feed them
 * hostile files against malloc'd RAM. Every file is treated as hostile:
 * segments must lie inside RAM, above the VMM's low-memory area, not overlap
 * each other, and fit the file; errors name the file and the segment.
 *
 * Direct Linux boot (64-bit boot protocol, Documentation/arch/x86/boot.rst):
 *   vmlinux ELF (PT_LOAD at p_paddr, enter e_entry) or bzImage (protected-mode
 *   part at pref_address or 1 MiB, enter at load address + 0x200); zero page
 *   at LAYOUT_ZERO_PAGE with e820, cmdline, initrd and the ACPI RSDP address.
 * Firmware boot: an ELF at its link addresses, entered at e_entry; the kernel,
 *   initrd and cmdline are staged verbatim for the firmware, which checks them
 *   against the SHA-256 sums in the boot descriptor (vmm/boot_desc.h). */
#ifndef PARMA_VMM_BOOT_H
#define PARMA_VMM_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "common/errbuf.h"
#include "devices/guest_mem.h"

#define BOOT_E820_MAX 16
#define BOOT_E820_RAM 1
#define BOOT_E820_RESERVED 2

struct boot_e820 {
	uint64_t addr, size;
	uint32_t type;
};

/* The e820 map of a machine with `mem_size` bytes of RAM (common/guest_abi/layout.h). */
unsigned boot_e820_build(uint64_t mem_size, struct boot_e820 out[BOOT_E820_MAX]);

/* Where an image landed. */
struct boot_image {
	uint64_t entry;      /* 64-bit entry point */
	uint64_t lo, hi;     /* lowest and highest+1 guest address written */
	/* bzImage only: the setup header to copy into the zero page. */
	uint8_t setup_header[0x290 - 0x1f1];
	size_t setup_header_len;
	uint64_t initrd_addr_max; /* highest address the initrd may end at */
	uint32_t cmdline_max;     /* longest command line the kernel accepts */
};

/* Load an ELF64 x86-64 executable's PT_LOAD segments at p_paddr. `min_addr`:
 * nothing may be loaded below it (LAYOUT_HIGH_MEM for kernels). */
int boot_load_elf(struct guest_mem *gm, const uint8_t *file, size_t len, const char *name,
		  uint64_t min_addr, struct boot_image *out, struct errbuf *eb);

/* Load a bzImage's protected-mode kernel (needs boot protocol >= 2.12 and a
 * 64-bit entry point: XLF_KERNEL_64). */
int boot_load_bzimage(struct guest_mem *gm, const uint8_t *file, size_t len, const char *name,
		      struct boot_image *out, struct errbuf *eb);

/* Either of the above, by looking at the file's magic. */
int boot_load_kernel(struct guest_mem *gm, const uint8_t *file, size_t len, const char *name,
		     struct boot_image *out, struct errbuf *eb);

/* Copy `len` bytes to the highest 2 MiB-aligned... page-aligned address that
 * ends at or below min(ram top below 4 GiB, max_end) and starts at or above
 * `min_addr`. Returns the address in *addr. */
int boot_place_high(struct guest_mem *gm, const uint8_t *data, size_t len, uint64_t min_addr,
		    uint64_t max_end, const char *what, uint64_t *addr, struct errbuf *eb);

/* Write the NUL-terminated command line at LAYOUT_CMDLINE. */
int boot_write_cmdline(struct guest_mem *gm, const char *cmdline, uint32_t max_len,
		       struct errbuf *eb);

/* The reset vector (f000:fff0) as a PC's BIOS ROM has it: a guest that restarts by jumping
 * there (Linux's default on ACPI hardware-reduced machines without EFI: reboot=bios) resets
 * through the i8042 instead of running zeroed memory forever. */
int boot_write_reset_vector(struct guest_mem *gm, struct errbuf *eb);

struct boot_zero_page_args {
	const struct boot_image *kernel;
	uint64_t mem_size;
	uint64_t cmdline_addr;   /* 0: none */
	uint32_t cmdline_len;    /* without the NUL */
	uint64_t initrd_addr, initrd_size;
	uint64_t rsdp_addr;      /* 0: none */
};

/* Build boot_params at LAYOUT_ZERO_PAGE. */
int boot_write_zero_page(struct guest_mem *gm, const struct boot_zero_page_args *a,
			 struct errbuf *eb);

#endif
