/* Fuzz target for stage0's boot-descriptor reader (firmware/stage0/fdt.c), compiled for the
 * host. In the firmware the descriptor is the measured page range at LAYOUT_BOOT_DESC
 * (64 KiB, whatever the host put there): the input is copied into a buffer of exactly that
 * size, so a read past it is an ASan error. Properties checked: an accepted descriptor
 * has 1..32 memory-map entries, its strings end inside the buffer and its hash pointers
 * point at 32 bytes inside it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "firmware/stage0/stage0.h"

#define DESC_BYTES 0x10000

/* lib.c is not linked (libc provides the memory functions); stage0 needs streq. */
int streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static int inside(const uint8_t *buf, const void *p, size_t len)
{
	const uint8_t *q = p;
	return q >= buf && q + len <= buf + DESC_BYTES;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = calloc(1, DESC_BYTES);
	if (!buf)
		abort();
	memcpy(buf, data, size < DESC_BYTES ? size : DESC_BYTES);
	struct boot_info bi;
	if (desc_parse(buf, &bi) == 0) {
		if (bi.n_e820 == 0 || bi.n_e820 > DESC_MAX_E820)
			abort();
		if (bi.cmdline && (!inside(buf, bi.cmdline, 1) ||
				   !memchr(bi.cmdline, 0, (size_t)(buf + DESC_BYTES -
								   (const uint8_t *)bi.cmdline))))
			abort();
		const uint8_t *h[] = { bi.cmdline_sha256, bi.kernel_sha256, bi.initrd_sha256 };
		for (size_t i = 0; i < 3; i++)
			if (h[i] && !inside(buf, h[i], 32))
				abort();
	}
	free(buf);
	return 0;
}
