/* stage0 internals: freestanding helpers shared by the firmware's files. */
#ifndef PARMA_FIRMWARE_STAGE0_H
#define PARMA_FIRMWARE_STAGE0_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firmware/stage0/stage0_abi.h"

/* lib.c */
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strnlen(const char *s, size_t max);
int streq(const char *a, const char *b);
void log_str(const char *s);
void log_hex(uint64_t v);
void log_line(const char *s, uint64_t v);
_Noreturn void stage0_halt(uint8_t code, const char *why);

/* sha256.c */
struct sha256 {
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
	unsigned used;
};
void sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *data, size_t len);
void sha256_final(struct sha256 *c, uint8_t out[32]);
void sha256(const void *data, size_t len, uint8_t out[32]);

/* fdt.c: the boot descriptor (docs/vmm.md "Boot descriptor"). */
#define DESC_MAX_E820 32
struct e820_entry {
	uint64_t addr, size;
	uint32_t type;
};
struct boot_info {
	unsigned n_e820;
	struct e820_entry e820[DESC_MAX_E820];
	const char *cmdline;                /* in the descriptor (measured) */
	const uint8_t *cmdline_sha256, *kernel_sha256, *initrd_sha256;
	uint64_t kernel_size, initrd_size;
	uint64_t kernel_addr, initrd_addr, cmdline_addr;
	uint64_t acpi_rsdp;
	bool firmware_mode;
};
int desc_parse(const uint8_t *fdt, struct boot_info *bi);

/* snp.c */
extern bool snp_active;
extern uint64_t snp_shared_alias; /* add to a GPA for its C-bit-clear mapping */
int snp_psc(uint64_t gpa, bool to_private);
int snp_pvalidate_range(uint64_t start, uint64_t end);
_Noreturn void snp_terminate(uint8_t code);

/* linux.c */
/* setup_header: bytes from boot_params offset 0x1f1 (bzImage), or NULL (ELF). */
_Noreturn void linux_boot(const struct boot_info *bi, const uint8_t *setup_header,
			  uint64_t setup_header_len, uint64_t entry, uint64_t initrd,
			  uint64_t initrd_size, const char *cmdline, uint64_t boot_desc);

/* Byte order helpers. */
static inline uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}
static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

#endif
