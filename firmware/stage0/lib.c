/* Freestanding helpers: memory functions the compiler may call, the debug log. */
#include "firmware/stage0/stage0.h"

void *memcpy(void *d, const void *s, size_t n)
{
	uint8_t *dp = d;
	const uint8_t *sp = s;
	while (n--)
		*dp++ = *sp++;
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	uint8_t *dp = d;
	const uint8_t *sp = s;
	if (dp < sp || dp >= sp + n)
		return memcpy(d, s, n);
	while (n--)
		dp[n] = sp[n];
	return d;
}

void *memset(void *d, int c, size_t n)
{
	uint8_t *dp = d;
	while (n--)
		*dp++ = (uint8_t)c;
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;
	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x < *y ? -1 : 1;
	return 0;
}

size_t strnlen(const char *s, size_t max)
{
	size_t n = 0;
	while (n < max && s[n])
		n++;
	return n;
}

int streq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

/* Port I/O would fault on SEV-SNP without a #VC handler: log only without it. */
void log_str(const char *s)
{
	if (snp_active)
		return;
	while (*s)
		outb(STAGE0_DEBUGCON_PORT, (uint8_t)*s++);
}

void log_hex(uint64_t v)
{
	char b[19] = "0x";
	for (int i = 0; i < 16; i++)
		b[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 0xf];
	b[18] = 0;
	log_str(b);
}

void log_line(const char *s, uint64_t v)
{
	log_str(s);
	log_hex(v);
	log_str("\n");
}

_Noreturn void stage0_halt(uint8_t code, const char *why)
{
	log_str("stage0: halt ");
	log_hex(code);
	log_str(": ");
	log_str(why);
	log_str("\n");
	if (snp_active)
		snp_terminate(code);
	outb(STAGE0_DEBUG_EXIT_PORT, code);
	for (;;)
		__asm__ volatile("cli; hlt");
}
