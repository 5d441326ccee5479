/* Unit tests for vmm/acpi.c: pointers, checksums, determinism, and a clean
 * `iasl -d` disassembly (acpica-tools) of every table. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/acpi.h"
#include "common/guest_abi/layout.h"

#define BASE LAYOUT_ACPI

static const struct acpi_virtio virtio[2] = {
	{ 0xd0000000, 0x1000, 5 },
	{ 0xd0001000, 0x1000, 6 },
};

static uint8_t *build(size_t *len)
{
	static uint8_t buf[LAYOUT_ACPI_MAX];
	struct acpi_config c = { .n_vcpus = 3, .virtio = virtio, .n_virtio = 2, .serial = 1,
				  .pvpanic = 1 };
	struct errbuf eb = { 0 };
	memset(buf, 0xcc, sizeof(buf));
	if (acpi_build(&c, BASE, buf, sizeof(buf), len, &eb))
		fail_msg("acpi_build: %s", errbuf_msg(&eb));
	return buf;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/* Table at guest address gpa, inside the buffer. */
static const uint8_t *at(const uint8_t *buf, size_t len, uint64_t gpa)
{
	assert_true(gpa >= BASE && gpa - BASE + 36 <= len);
	const uint8_t *t = buf + (gpa - BASE);
	assert_true(gpa - BASE + rd32(t + 4) <= len);
	return t;
}

static void vmm_acpi_pointers_and_checksums(void **state)
{
	(void)state;
	size_t len;
	const uint8_t *buf = build(&len);
	assert_memory_equal(buf, "RSD PTR ", 8);
	assert_int_equal(sum(buf, 20), 0);
	assert_int_equal(sum(buf, 36), 0);
	assert_int_equal(buf[15], 2);
	const uint8_t *xsdt = at(buf, len, rd64(buf + 24));
	assert_memory_equal(xsdt, "XSDT", 4);
	assert_int_equal(sum(xsdt, rd32(xsdt + 4)), 0);
	assert_int_equal(rd32(xsdt + 4), 36 + 16);
	const uint8_t *fadt = at(buf, len, rd64(xsdt + 36));
	const uint8_t *madt = at(buf, len, rd64(xsdt + 44));
	assert_memory_equal(fadt, "FACP", 4);
	assert_memory_equal(madt, "APIC", 4);
	assert_int_equal(sum(fadt, rd32(fadt + 4)), 0);
	assert_int_equal(sum(madt, rd32(madt + 4)), 0);
	assert_true(rd32(fadt + 112) & (1u << 20)); /* HW_REDUCED_ACPI */
	const uint8_t *dsdt = at(buf, len, rd64(fadt + 140));
	assert_memory_equal(dsdt, "DSDT", 4);
	assert_int_equal(sum(dsdt, rd32(dsdt + 4)), 0);
	/* MADT: 3 enabled LAPICs with APIC IDs 0..2, then the IOAPIC. */
	const uint8_t *e = madt + 44;
	for (int i = 0; i < 3; i++, e += 8) {
		assert_int_equal(e[0], 0);
		assert_int_equal(e[3], i);
		assert_int_equal(rd32(e + 4), 1);
	}
	assert_int_equal(e[0], 1);
	assert_int_equal(rd32(e + 4), LAYOUT_IOAPIC);
	/* Nothing written past the reported length. */
	assert_int_equal(buf[len], 0xcc);
}

static void vmm_acpi_deterministic_and_bounded(void **state)
{
	(void)state;
	size_t l1, l2;
	uint8_t *a = malloc(LAYOUT_ACPI_MAX);
	memcpy(a, build(&l1), LAYOUT_ACPI_MAX);
	const uint8_t *b = build(&l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(a, b, l1);
	free(a);
	uint8_t small[100];
	struct acpi_config c = { .n_vcpus = 1 };
	struct errbuf eb = { 0 };
	size_t len;
	assert_int_equal(acpi_build(&c, BASE, small, sizeof(small), &len, &eb), -ENOSPC);
	c.n_vcpus = 0;
	assert_int_equal(acpi_build(&c, BASE, small, sizeof(small), &len, &eb), -EINVAL);
	struct acpi_virtio high = { 0xfffff000, 0x2000, 5 };
	c = (struct acpi_config){ .n_vcpus = 1, .virtio = &high, .n_virtio = 1 };
	assert_int_equal(acpi_build(&c, BASE, small, sizeof(small), &len, &eb), -EINVAL);
}

static int run(const char *cmd)
{
	int rc = system(cmd);
	return rc == -1 ? -1 : WEXITSTATUS(rc);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *s = calloc(1, 1 << 20);
	size_t n = fread(s, 1, (1 << 20) - 1, f);
	s[n] = 0;
	fclose(f);
	return s;
}

static void vmm_acpi_iasl_disassembles_cleanly(void **state)
{
	(void)state;
	if (run("command -v iasl >/dev/null 2>&1") != 0) {
		print_message("SKIP: iasl (Debian package acpica-tools) is not installed\n");
		skip();
	}
	size_t len;
	const uint8_t *buf = build(&len);
	char dir[] = "/tmp/parma-acpi-XXXXXX";
	assert_non_null(mkdtemp(dir));
	const uint8_t *xsdt = buf + (rd64(buf + 24) - BASE);
	const uint8_t *fadt = buf + (rd64(xsdt + 36) - BASE);
	const struct { const char *name; const uint8_t *t; } tables[] = {
		{ "xsdt", xsdt }, { "facp", fadt }, { "apic", buf + (rd64(xsdt + 44) - BASE) },
		{ "dsdt", buf + (rd64(fadt + 140) - BASE) },
	};
	char cmd[512], path[256];
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s.dat", dir, tables[i].name);
		FILE *f = fopen(path, "wb");
		assert_non_null(f);
		fwrite(tables[i].t, 1, rd32(tables[i].t + 4), f);
		fclose(f);
		snprintf(cmd, sizeof(cmd), "cd %s && iasl -d %s.dat >%s.out 2>&1", dir,
			 tables[i].name, tables[i].name);
		int rc = run(cmd);
		snprintf(path, sizeof(path), "%s/%s.out", dir, tables[i].name);
		char *out = slurp(path);
		assert_non_null(out);
		if (rc != 0 || strstr(out, "Error") || strstr(out, "Warning") ||
		    strstr(out, "Invalid"))
			fail_msg("iasl -d %s: exit %d\n%s", tables[i].name, rc, out);
		free(out);
	}
	/* The disassembled DSDT says what devices/device.h promises. */
	snprintf(path, sizeof(path), "%s/dsdt.dsl", dir);
	char *dsl = slurp(path);
	assert_non_null(dsl);
	assert_non_null(strstr(dsl, "\"LNRO0005\""));
	assert_non_null(strstr(dsl, "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive"));
	assert_non_null(strstr(dsl, "0x00000005"));
	assert_non_null(strstr(dsl, "Memory32Fixed (ReadWrite,"));
	assert_non_null(strstr(dsl, "0xD0001000"));
	assert_non_null(strstr(dsl, "EisaId (\"PNP0501\")"));
	assert_non_null(strstr(dsl, "0x03F8"));
	assert_non_null(strstr(dsl, "Name (_S5, Package"));
	assert_non_null(strstr(dsl, "\"QEMU0001\""));
	assert_non_null(strstr(dsl, "0x0505"));
	free(dsl);
	snprintf(path, sizeof(path), "%s/facp.dsl", dir);
	char *facp = slurp(path);
	assert_non_null(facp);
	assert_non_null(strstr(facp, "Hardware Reduced (V5) : 1"));
	assert_non_null(strstr(facp, "Sleep Control Register"));
	assert_non_null(strstr(facp, "0000000000000600"));
	free(facp);
	if (!getenv("PARMA_KEEP_ACPI"))
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	else
		snprintf(cmd, sizeof(cmd), "echo kept %s", dir);
	run(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vmm_acpi_pointers_and_checksums),
		cmocka_unit_test(vmm_acpi_deterministic_and_bounded),
		cmocka_unit_test(vmm_acpi_iasl_disassembles_cleanly),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
