/* runtime: output, string helpers and exit for the payload. */
#include "payload.h"

void *memset(void *d, int c, size_t n)
{
	uint8_t *p = d;
	while (n--)
		*p++ = (uint8_t)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	uint8_t *p = d;
	const uint8_t *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *p = a, *q = b;
	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p < *q ? -1 : 1;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

int cmdline_has(const char *c, const char *w)
{
	size_t wl = strlen(w);
	while (*c) {
		while (*c == ' ')
			c++;
		size_t tl = 0;
		while (c[tl] && c[tl] != ' ')
			tl++;
		if (tl == wl && !memcmp(c, w, wl))
			return 1;
		c += tl;
	}
	return 0;
}

static void put(char ch)
{
	outb(LAYOUT_PORT_DEBUGCON, (uint8_t)ch);
}

static void put_u64(uint64_t v, unsigned base)
{
	char buf[24];
	int n = 0;
	do {
		unsigned d = (unsigned)(v % base);
		buf[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
		v /= base;
	} while (v);
	while (n)
		put(buf[--n]);
}

void vpr(const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			put(*fmt);
			continue;
		}
		fmt++;
		int is_long = 0;
		while (*fmt == 'l') {
			is_long = 1;
			fmt++;
		}
		switch (*fmt) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			while (s && *s)
				put(*s++);
			break;
		}
		case 'c':
			put((char)va_arg(ap, int));
			break;
		case 'd': {
			int64_t v = is_long ? va_arg(ap, int64_t) : va_arg(ap, int);
			if (v < 0) {
				put('-');
				v = -v;
			}
			put_u64((uint64_t)v, 10);
			break;
		}
		case 'u':
			put_u64(is_long ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10);
			break;
		case 'x':
			put_u64(is_long ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16);
			break;
		case '%':
			put('%');
			break;
		default:
			put('?');
			break;
		}
	}
}

/* vCPUs print concurrently: one line at a time. */
static volatile uint32_t pr_lock;

void pr(const char *fmt, ...)
{
	while (__atomic_exchange_n(&pr_lock, 1, __ATOMIC_ACQUIRE))
		__asm__ volatile("pause");
	va_list ap;
	va_start(ap, fmt);
	vpr(fmt, ap);
	va_end(ap);
	__atomic_store_n(&pr_lock, 0, __ATOMIC_RELEASE);
}

void pr_hex(const void *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		put(digits[b[i] >> 4]);
		put(digits[b[i] & 15]);
	}
}

void payload_exit(uint8_t code)
{
	outb(LAYOUT_PORT_DEBUG_EXIT, code);
	for (;;)
		__asm__ volatile("cli; hlt");
}
