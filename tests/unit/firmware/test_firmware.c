/* stage0's freestanding pieces, compiled for the host: SHA-256 against OpenSSL,
 * and the boot descriptor reader on libfdt-built and corrupted descriptors. */
#include <errno.h>
#include <libfdt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "firmware/stage0/stage0.h"

/* lib.c is not linked (libc provides the memory functions); stage0 needs streq. */
int streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static void firmware_sha256_matches_openssl(void **state)
{
	(void)state;
	static uint8_t data[3000];
	uint8_t a[32], b[32];
	unsigned n;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 131 + (i >> 7));
	for (size_t len = 0; len <= sizeof(data); len += len < 200 ? 1 : 97) {
		sha256(data, len, a);
		EVP_Digest(data, len, b, &n, EVP_sha256(), NULL);
		assert_memory_equal(a, b, 32);
		/* streaming in two uneven parts gives the same digest */
		struct sha256 c;
		sha256_init(&c);
		sha256_update(&c, data, len / 3);
		sha256_update(&c, data + len / 3, len - len / 3);
		sha256_final(&c, a);
		assert_memory_equal(a, b, 32);
	}
}

#define DESC_CAP 0x10000

static size_t build(uint8_t *buf, bool with_initrd)
{
	uint8_t h[32], e820[2 * 20] = { 0 };
	memset(h, 0xab, sizeof(h));
	e820[7] = 0; /* entry 0: addr 0 */
	e820[8 + 5] = 0x09; e820[8 + 6] = 0xfc; /* size 0x9fc00 */
	e820[19] = 1;
	e820[20 + 5] = 0x10; /* addr 0x100000 */
	e820[28 + 4] = 0x10; /* size 0x10000000 */
	e820[39] = 1;
	assert_int_equal(fdt_create(buf, DESC_CAP), 0);
	fdt_finish_reservemap(buf);
	fdt_begin_node(buf, "");
	fdt_property_string(buf, "compatible", "parma,boot-descriptor");
	fdt_begin_node(buf, "memory-map");
	fdt_property(buf, "entries", e820, sizeof(e820));
	fdt_end_node(buf);
	fdt_begin_node(buf, "devices");
	fdt_begin_node(buf, "boot"); /* a nested node named boot must not count */
	fdt_property_u64(buf, "kernel-addr", 0xdead);
	fdt_end_node(buf);
	fdt_end_node(buf);
	fdt_begin_node(buf, "boot");
	fdt_property_string(buf, "mode", "firmware");
	fdt_property_string(buf, "cmdline", "console=ttyS0");
	fdt_property(buf, "cmdline-sha256", h, 32);
	fdt_property(buf, "kernel-sha256", h, 32);
	fdt_property_u64(buf, "kernel-size", 12345);
	fdt_property_u64(buf, "kernel-addr", 0x600000);
	fdt_property_u64(buf, "cmdline-addr", 0x20000);
	fdt_property_u64(buf, "acpi-rsdp", 0xe0000);
	if (with_initrd) {
		fdt_property(buf, "initrd-sha256", h, 32);
		fdt_property_u64(buf, "initrd-size", 777);
		fdt_property_u64(buf, "initrd-addr", 0x7000000);
	}
	fdt_end_node(buf);
	fdt_end_node(buf);
	assert_int_equal(fdt_finish(buf), 0);
	return fdt_totalsize(buf);
}

static void firmware_fdt_reads_the_descriptor(void **state)
{
	(void)state;
	uint8_t *buf = calloc(1, DESC_CAP);
	struct boot_info bi;

	build(buf, true);
	assert_int_equal(desc_parse(buf, &bi), 0);
	assert_true(bi.firmware_mode);
	assert_string_equal(bi.cmdline, "console=ttyS0");
	assert_int_equal(bi.kernel_size, 12345);
	assert_int_equal(bi.kernel_addr, 0x600000);
	assert_int_equal(bi.initrd_addr, 0x7000000);
	assert_int_equal(bi.initrd_size, 777);
	assert_int_equal(bi.acpi_rsdp, 0xe0000);
	assert_int_equal(bi.n_e820, 2);
	assert_int_equal(bi.e820[0].size, 0x9fc00);
	assert_int_equal(bi.e820[1].addr, 0x100000);
	assert_int_equal(bi.e820[1].size, 0x10000000);
	assert_int_equal(bi.e820[1].type, 1);
	assert_non_null(bi.kernel_sha256);
	assert_int_equal(bi.kernel_sha256[0], 0xab);
	build(buf, false);
	assert_int_equal(desc_parse(buf, &bi), 0);
	assert_null(bi.initrd_sha256);
	free(buf);
}

static void firmware_fdt_survives_corruption(void **state)
{
	(void)state;
	uint8_t *good = calloc(1, DESC_CAP), *bad = malloc(DESC_CAP);
	struct boot_info bi;
	size_t len = build(good, true);
	unsigned accepted = 0;

	for (size_t off = 0; off < len; off++) {
		for (int bit = 0; bit < 8; bit += 3) {
			memcpy(bad, good, DESC_CAP);
			bad[off] ^= (uint8_t)(1u << bit);
			if (desc_parse(bad, &bi) == 0) {
				accepted++;
				/* whatever was accepted stays inside the buffer */
				if (bi.cmdline)
					assert_true((const uint8_t *)bi.cmdline >= bad &&
						    (const uint8_t *)bi.cmdline < bad + len);
			}
		}
	}
	/* header damage is refused */
	memcpy(bad, good, DESC_CAP);
	bad[0] = 0;
	assert_int_equal(desc_parse(bad, &bi), -1);
	memcpy(bad, good, DESC_CAP);
	bad[4] = 0x7f; /* totalsize huge */
	assert_int_equal(desc_parse(bad, &bi), -1);
	assert_true(accepted > 0); /* flips inside property values are still well-formed */
	free(good);
	free(bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(firmware_sha256_matches_openssl),
		cmocka_unit_test(firmware_fdt_reads_the_descriptor),
		cmocka_unit_test(firmware_fdt_survives_corruption),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
