/* payload: the KVM test payload's tiny runtime, shared by every test file in
 * this folder (freestanding: no libc, no SSE, no sanitizers).
 *
 * Reporting is KVM-selftests style: "key value..." lines through the debugcon
 * port (0xe9); the run ends by writing a status byte to the debug-exit port
 * (0xf4): 0 = every check passed. A test driver (virtio-blk, vsock, ...) is a
 * separate .c file that registers itself with PAYLOAD_TEST(); it runs after
 * the built-in reports, receives the boot information, prints what it checks
 * and returns 0 or a failure count. */
#ifndef PARMA_PAYLOAD_H
#define PARMA_PAYLOAD_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "common/guest_abi/layout.h"

/* What the payload learned at entry. */
struct payload_info {
	const uint8_t *zero_page;  /* Linux boot_params, or NULL (PVH entry) */
	const uint8_t *boot_desc;  /* boot descriptor FDT, or NULL */
	const uint8_t *pvh_start;  /* hvm_start_info (QEMU PVH entry), or NULL */
	const char *cmdline;       /* "" if none */
	uint32_t vcpus_online;     /* vCPUs that reached the payload */
};

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t mmio_read32(uint64_t a) { return *(volatile uint32_t *)(uintptr_t)a; }
static inline void mmio_write32(uint64_t a, uint32_t v) { *(volatile uint32_t *)(uintptr_t)a = v; }

/* printf subset: %s %c %d %u %x (32-bit), %lu %lx (64-bit), %%; fields are not padded. */
void pr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vpr(const char *fmt, va_list ap);
/* Print n bytes as lowercase hex. */
void pr_hex(const void *p, size_t n);

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
/* 1 if `word` appears in the command line as a whole space-separated token. */
int cmdline_has(const char *cmdline, const char *word);

/* Milestone id to the boot-timer probe. */
static inline void boot_mark(uint32_t id) { outl(LAYOUT_PORT_BOOT_TIMER, id); }
/* End the VM with status `code` (never returns). */
__attribute__((noreturn)) void payload_exit(uint8_t code);

struct payload_test {
	const char *name;
	int (*run)(const struct payload_info *info); /* 0 or number of failed checks */
};

#define PAYLOAD_TEST(tname, fn) \
	static const struct payload_test payload_test_##fn \
	__attribute__((used, section(".payload_tests"), aligned(8))) = { tname, fn }

#endif
