/* Enter Linux through the 64-bit boot protocol (Documentation/arch/x86/boot.rst):
 * boot_params ("zero page") with the setup header, e820 map, command line,
 * initrd and ACPI RSDP; SETUP_CC_BLOB with the SNP secrets and CPUID pages;
 * jump to the 64-bit entry with RSI = boot_params, identity-mapped, CS 0x10. */
#include "firmware/stage0/stage0.h"

#define ZERO_PAGE LAYOUT_ZERO_PAGE
#define CC_BLOB_PAGE SNP_LAYOUT_CC_BLOB /* setup_data + cc_blob_sev_info, reserved in e820 */
#define SNP_RESERVED_START SNP_LAYOUT_SECRETS
#define SNP_RESERVED_END (CC_BLOB_PAGE + 0x1000)

#define BP_ACPI_RSDP 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_CC_BLOB_ADDRESS 0x13c
#define BP_E820_ENTRIES 0x1e8
#define BP_SETUP_HEADER 0x1f1
#define BP_TYPE_OF_LOADER 0x210
#define BP_RAMDISK_IMAGE 0x218
#define BP_RAMDISK_SIZE 0x21c
#define BP_CMD_LINE_PTR 0x228
#define BP_SETUP_DATA 0x250
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128
#define SETUP_CC_BLOB 7
#define CC_BLOB_MAGIC 0x45444d41 /* "AMDE" */

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static unsigned add_e820(uint8_t *bp, unsigned n, uint64_t addr, uint64_t size, uint32_t type)
{
	if (!size || n >= BP_E820_MAX)
		return n;
	put64(bp + BP_E820_TABLE + 20 * n, addr);
	put64(bp + BP_E820_TABLE + 20 * n + 8, size);
	put32(bp + BP_E820_TABLE + 20 * n + 16, type);
	return n + 1;
}

/* The descriptor's map; on SNP the secrets, CPUID and CC blob pages are cut
 * out of RAM as reserved so Linux never reuses them. */
static void write_e820(uint8_t *bp, const struct boot_info *bi)
{
	unsigned n = 0;
	for (unsigned i = 0; i < bi->n_e820; i++) {
		const struct e820_entry *e = &bi->e820[i];
		uint64_t end = e->addr + e->size;
		if (!snp_active || e->type != 1 || end <= SNP_RESERVED_START ||
		    e->addr >= SNP_RESERVED_END) {
			n = add_e820(bp, n, e->addr, e->size, e->type);
			continue;
		}
		if (e->addr < SNP_RESERVED_START)
			n = add_e820(bp, n, e->addr, SNP_RESERVED_START - e->addr, 1);
		n = add_e820(bp, n, SNP_RESERVED_START, SNP_RESERVED_END - SNP_RESERVED_START, 2);
		if (end > SNP_RESERVED_END)
			n = add_e820(bp, n, SNP_RESERVED_END, end - SNP_RESERVED_END, 1);
	}
	bp[BP_E820_ENTRIES] = (uint8_t)n;
}

static void write_cc_blob(uint8_t *bp)
{
	uint8_t *sd = (uint8_t *)CC_BLOB_PAGE, *cc = sd + 16;
	memset(sd, 0, 4096);
	put64(sd, 0);                    /* next */
	put32(sd + 8, SETUP_CC_BLOB);
	put32(sd + 12, 40);              /* sizeof(struct cc_blob_sev_info) */
	put32(cc, CC_BLOB_MAGIC);        /* version 0 */
	put64(cc + 8, SNP_LAYOUT_SECRETS);
	put32(cc + 16, 4096);
	put64(cc + 24, SNP_LAYOUT_CPUID);
	put32(cc + 32, 4096);
	put64(bp + BP_SETUP_DATA, CC_BLOB_PAGE);
	put32(bp + BP_CC_BLOB_ADDRESS, (uint32_t)(CC_BLOB_PAGE + 16));
}

_Noreturn void linux_boot(const struct boot_info *bi, const uint8_t *setup_header,
			  uint64_t setup_header_len, uint64_t entry, uint64_t initrd,
			  uint64_t initrd_size, const char *cmdline, uint64_t boot_desc)
{
	uint8_t *bp = (uint8_t *)ZERO_PAGE;

	memset(bp, 0, 4096);
	if (setup_header_len)
		memcpy(bp + BP_SETUP_HEADER, setup_header, setup_header_len);
	bp[BP_TYPE_OF_LOADER] = 0xff;
	put32(bp + BP_CMD_LINE_PTR, (uint32_t)(uintptr_t)cmdline);
	put32(bp + BP_EXT_CMD_LINE_PTR, (uint32_t)((uint64_t)(uintptr_t)cmdline >> 32));
	put32(bp + BP_RAMDISK_IMAGE, (uint32_t)initrd);
	put32(bp + BP_RAMDISK_SIZE, (uint32_t)initrd_size);
	put32(bp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(initrd >> 32));
	put32(bp + BP_EXT_RAMDISK_SIZE, (uint32_t)(initrd_size >> 32));
	put64(bp + BP_ACPI_RSDP, bi->acpi_rsdp);
	write_e820(bp, bi);
	if (snp_active)
		write_cc_blob(bp);
	log_line("stage0: entering the kernel at ", entry);
	__asm__ volatile("cli\n\t"
			 "jmp *%0"
			 :
			 : "r"(entry), "S"(ZERO_PAGE), "D"(boot_desc), "d"(0)
			 : "memory");
	__builtin_unreachable();
}
