#include "vmm/acpi.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/byteorder.h"
#include "common/guest_abi/layout.h"

#define ACPI_HDR_LEN 36
#define FADT_LEN 276
#define FADT_FLAG_HW_REDUCED (1u << 20)
#define IAPC_VGA_NOT_PRESENT (1u << 2)
#define IAPC_CMOS_RTC_NOT_PRESENT (1u << 5)

/* A growable byte buffer for AML; `oom` makes every later call a no-op. */
struct aml {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

static void aml_bytes(struct aml *a, const void *src, size_t n)
{
	if (a->oom || !n)
		return;
	if (a->len + n > a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 256;
		while (cap < a->len + n)
			cap *= 2;
		uint8_t *p = realloc(a->p, cap);
		if (!p) {
			a->oom = true;
			return;
		}
		a->p = p;
		a->cap = cap;
	}
	memcpy(a->p + a->len, src, n);
	a->len += n;
}

static void aml_u8(struct aml *a, uint8_t v) { aml_bytes(a, &v, 1); }
static void aml_u16(struct aml *a, uint16_t v) { uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) }; aml_bytes(a, b, 2); }
static void aml_u32(struct aml *a, uint32_t v) { aml_u16(a, (uint16_t)v); aml_u16(a, (uint16_t)(v >> 16)); }

/* PkgLength (ACPI 6.5, 20.2.4): counts its own bytes. */
static void aml_pkglen(struct aml *a, size_t content)
{
	if (content + 1 <= 0x3f) {
		aml_u8(a, (uint8_t)(content + 1));
		return;
	}
	for (unsigned n = 2; n <= 4; n++) {
		size_t total = content + n;
		if (total < (1ul << (4 + 8 * (n - 1)))) {
			aml_u8(a, (uint8_t)(((n - 1) << 6) | (total & 0xf)));
			for (unsigned i = 1; i < n; i++)
				aml_u8(a, (uint8_t)(total >> (4 + 8 * (i - 1))));
			return;
		}
	}
	a->oom = true; /* > 256 MiB of AML: cannot happen with our limits */
}

/* op [ext] PkgLength <body> */
static void aml_package(struct aml *a, const uint8_t *op, size_t oplen, const struct aml *body)
{
	if (body->oom)
		a->oom = true;
	aml_bytes(a, op, oplen);
	aml_pkglen(a, body->len);
	aml_bytes(a, body->p, body->len);
}

static void aml_integer(struct aml *a, uint64_t v)
{
	if (v == 0) {
		aml_u8(a, 0x00); /* ZeroOp */
	} else if (v == 1) {
		aml_u8(a, 0x01); /* OneOp */
	} else if (v <= 0xff) {
		aml_u8(a, 0x0a);
		aml_u8(a, (uint8_t)v);
	} else if (v <= 0xffff) {
		aml_u8(a, 0x0b);
		aml_u16(a, (uint16_t)v);
	} else {
		aml_u8(a, 0x0c);
		aml_u32(a, (uint32_t)v);
	}
}

static void aml_name(struct aml *a, const char seg[4])
{
	aml_u8(a, 0x08); /* NameOp */
	aml_bytes(a, seg, 4);
}

static void aml_name_string(struct aml *a, const char seg[4], const char *s)
{
	aml_name(a, seg);
	aml_u8(a, 0x0d); /* StringPrefix */
	aml_bytes(a, s, strlen(s) + 1);
}

static void aml_name_integer(struct aml *a, const char seg[4], uint64_t v)
{
	aml_name(a, seg);
	aml_integer(a, v);
}

/* Name(_CRS, ResourceTemplate() { <res> EndTag }) */
static void aml_name_crs(struct aml *a, const struct aml *res)
{
	struct aml buf = { 0 }, body = { 0 };
	aml_bytes(&buf, res->p, res->len);
	aml_u8(&buf, 0x79); /* End tag */
	aml_u8(&buf, 0x00); /* checksum 0: "treat as correct" */
	aml_integer(&body, buf.len);
	aml_bytes(&body, buf.p, buf.len);
	if (res->oom || buf.oom)
		body.oom = true;
	aml_name(a, "_CRS");
	static const uint8_t buffer_op = 0x11;
	aml_package(a, &buffer_op, 1, &body);
	free(buf.p);
	free(body.p);
}

static void aml_device(struct aml *a, const char seg[4], const struct aml *content)
{
	static const uint8_t device_op[2] = { 0x5b, 0x82 };
	struct aml body = { 0 };
	aml_bytes(&body, seg, 4);
	aml_bytes(&body, content->p, content->len);
	if (content->oom)
		body.oom = true;
	aml_package(a, device_op, 2, &body);
	free(body.p);
}

/* Name(_S5, Package() { SLP_TYP, 0 }): what the OS writes to power off. */
static void name_s5(struct aml *a)
{
	struct aml body = { 0 };
	aml_u8(&body, 2); /* NumElements */
	aml_integer(&body, LAYOUT_ACPI_SLP_TYP_S5);
	aml_integer(&body, 0);
	aml_name(a, "_S5_");
	static const uint8_t package_op = 0x12;
	aml_package(a, &package_op, 1, &body);
	free(body.p);
}

/* Generic Address Structure for a byte-wide system I/O register. */
static void gas_io8(uint8_t *p, uint16_t port)
{
	p[0] = 1; /* system I/O */
	p[1] = 8; /* bit width */
	p[2] = 0; /* bit offset */
	p[3] = 1; /* byte access */
	uint64_t a = port;
	memcpy(p + 4, &a, 8);
}

static void dev_serial(struct aml *scope)
{
	struct aml d = { 0 }, res = { 0 };
	aml_name(&d, "_HID");
	aml_u8(&d, 0x0c); /* EisaId("PNP0501") as a DWord */
	static const uint8_t eisa[4] = { 0x41, 0xd0, 0x05, 0x01 };
	aml_bytes(&d, eisa, 4);
	aml_name_integer(&d, "_UID", 0);
	/* IO(Decode16, 0x3F8, 0x3F8, 0x08, 0x08) */
	aml_u8(&res, 0x47);
	aml_u8(&res, 0x01);
	aml_u16(&res, LAYOUT_PORT_SERIAL);
	aml_u16(&res, LAYOUT_PORT_SERIAL);
	aml_u8(&res, 0x08);
	aml_u8(&res, 0x08);
	/* IRQNoFlags() {4} */
	aml_u8(&res, 0x22);
	aml_u16(&res, 1u << LAYOUT_SERIAL_GSI);
	aml_name_crs(&d, &res);
	aml_device(scope, "COM1", &d);
	free(d.p);
	free(res.p);
}

static void dev_pvpanic(struct aml *scope)
{
	struct aml d = { 0 }, res = { 0 };
	aml_name_string(&d, "_HID", "QEMU0001");
	/* IO(Decode16, 0x505, 0x505, 0x01, 0x01) */
	aml_u8(&res, 0x47);
	aml_u8(&res, 0x01);
	aml_u16(&res, LAYOUT_PORT_PVPANIC);
	aml_u16(&res, LAYOUT_PORT_PVPANIC);
	aml_u8(&res, 0x01);
	aml_u8(&res, 0x01);
	aml_name_crs(&d, &res);
	aml_device(scope, "PEVT", &d);
	free(d.p);
	free(res.p);
}

static void dev_virtio(struct aml *scope, unsigned i, const struct acpi_virtio *v)
{
	struct aml d = { 0 }, res = { 0 };
	char seg[5];
	static const char hex[] = "0123456789ABCDEF";
	seg[0] = 'V';
	seg[1] = hex[(i >> 8) & 15];
	seg[2] = hex[(i >> 4) & 15];
	seg[3] = hex[i & 15];
	seg[4] = 0;
	aml_name_string(&d, "_HID", "LNRO0005");
	aml_name_integer(&d, "_UID", i);
	/* Memory32Fixed(ReadWrite, base, size) */
	aml_u8(&res, 0x86);
	aml_u16(&res, 9);
	aml_u8(&res, 0x01);
	aml_u32(&res, (uint32_t)v->base);
	aml_u32(&res, v->size);
	/* Interrupt(ResourceConsumer, Edge, ActiveHigh, Exclusive) {gsi} */
	aml_u8(&res, 0x89);
	aml_u16(&res, 6);
	aml_u8(&res, 0x03); /* consumer | edge; active-high, exclusive */
	aml_u8(&res, 1);
	aml_u32(&res, v->gsi);
	aml_name_crs(&d, &res);
	aml_device(scope, seg, &d);
	free(d.p);
	free(res.p);
}

/* ---- tables ---- */

static uint8_t checksum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return (uint8_t)(0 - s);
}

static void header(uint8_t *t, const char sig[4], uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	le_put32(t + 4, len);
	t[8] = rev;
	t[9] = 0;
	memcpy(t + 10, "PARMA ", 6);
	memcpy(t + 16, "PARMAVM ", 8);
	le_put32(t + 24, 1);
	memcpy(t + 28, "PRMA", 4);
	le_put32(t + 32, 1);
}

static void finish(uint8_t *t, uint32_t len)
{
	t[9] = 0;
	t[9] = checksum(t, len);
}

static size_t align16(size_t v) { return (v + 15) & ~(size_t)15; }

int acpi_build(const struct acpi_config *c, uint64_t base, uint8_t *buf, size_t cap,
	       size_t *len, struct errbuf *eb)
{
	if (!c->n_vcpus || c->n_vcpus > 255)
		return errbuf_set(eb, EINVAL, "ACPI: vCPU count %u out of range", c->n_vcpus);
	if (c->n_virtio > ACPI_MAX_VIRTIO)
		return errbuf_set(eb, EINVAL, "ACPI: more than %d virtio devices", ACPI_MAX_VIRTIO);
	for (unsigned i = 0; i < c->n_virtio; i++)
		if (c->virtio[i].base + c->virtio[i].size > 0x100000000ull || !c->virtio[i].size)
			return errbuf_set(eb, EINVAL, "ACPI: virtio device %u window not below 4 GiB", i);

	/* DSDT body first: its size decides the layout. */
	struct aml sb = { 0 }, dsdt = { 0 };
	name_s5(&dsdt);
	if (c->serial)
		dev_serial(&sb);
	if (c->pvpanic)
		dev_pvpanic(&sb);
	for (unsigned i = 0; i < c->n_virtio; i++)
		dev_virtio(&sb, i, &c->virtio[i]);
	static const uint8_t scope_op = 0x10;
	struct aml scope_body = { 0 };
	aml_bytes(&scope_body, "\\_SB_", 5);
	aml_bytes(&scope_body, sb.p, sb.len);
	if (sb.oom)
		scope_body.oom = true;
	aml_package(&dsdt, &scope_op, 1, &scope_body);
	free(sb.p);
	free(scope_body.p);
	if (dsdt.oom) {
		free(dsdt.p);
		return errbuf_set(eb, ENOMEM, "ACPI: out of memory");
	}

	size_t madt_len = 44 + 8 * c->n_vcpus + 12 + 10;
	size_t off_rsdp = 0, off_xsdt = 64, xsdt_len = ACPI_HDR_LEN + 2 * 8;
	size_t off_fadt = align16(off_xsdt + xsdt_len);
	size_t off_madt = align16(off_fadt + FADT_LEN);
	size_t off_dsdt = align16(off_madt + madt_len);
	size_t dsdt_len = ACPI_HDR_LEN + dsdt.len;
	size_t total = off_dsdt + dsdt_len;
	if (total > cap) {
		free(dsdt.p);
		return errbuf_set(eb, ENOSPC, "ACPI: tables need %zu bytes, area holds %zu", total, cap);
	}
	memset(buf, 0, total);

	uint8_t *t = buf + off_dsdt;
	header(t, "DSDT", (uint32_t)dsdt_len, 2);
	memcpy(t + ACPI_HDR_LEN, dsdt.p, dsdt.len);
	finish(t, (uint32_t)dsdt_len);
	free(dsdt.p);

	t = buf + off_madt;
	header(t, "APIC", (uint32_t)madt_len, 5);
	le_put32(t + 36, (uint32_t)LAYOUT_LAPIC);
	le_put32(t + 40, 1); /* PCAT_COMPAT: the (masked) 8259s exist in KVM's irqchip */
	uint8_t *e = t + 44;
	for (uint32_t i = 0; i < c->n_vcpus; i++, e += 8) {
		e[0] = 0; /* Processor Local APIC */
		e[1] = 8;
		e[2] = (uint8_t)i; /* ACPI processor UID */
		e[3] = (uint8_t)i; /* APIC ID == vCPU index */
		le_put32(e + 4, 1);   /* enabled */
	}
	e[0] = 1; /* I/O APIC */
	e[1] = 12;
	e[2] = 0;
	le_put32(e + 4, (uint32_t)LAYOUT_IOAPIC);
	le_put32(e + 8, 0);
	e += 12;
	e[0] = 2; /* Interrupt Source Override: ISA IRQ0 (PIT) → GSI 2 */
	e[1] = 10;
	e[2] = 0;
	e[3] = 0;
	le_put32(e + 4, 2);
	le_put16(e + 8, 0);
	finish(t, (uint32_t)madt_len);

	t = buf + off_fadt;
	header(t, "FACP", FADT_LEN, 6);
	le_put32(t + 40, 0);                       /* DSDT (32-bit): use X_DSDT */
	le_put16(t + 109, IAPC_VGA_NOT_PRESENT | IAPC_CMOS_RTC_NOT_PRESENT);
	le_put32(t + 112, FADT_FLAG_HW_REDUCED);
	t[131] = 5;                             /* FADT minor version: ACPI 6.5 */
	gas_io8(t + 244, LAYOUT_PORT_ACPI_SLEEP_CTL); /* SLEEP_CONTROL_REG */
	gas_io8(t + 256, LAYOUT_PORT_ACPI_SLEEP_STS); /* SLEEP_STATUS_REG */
	le_put64(t + 140, base + off_dsdt);        /* X_DSDT */
	memcpy(t + 268, "PARMAKVM", 8);         /* hypervisor vendor identity */
	finish(t, FADT_LEN);

	t = buf + off_xsdt;
	header(t, "XSDT", (uint32_t)xsdt_len, 1);
	le_put64(t + 36, base + off_fadt);
	le_put64(t + 44, base + off_madt);
	finish(t, (uint32_t)xsdt_len);

	t = buf + off_rsdp;
	memcpy(t, "RSD PTR ", 8);
	memcpy(t + 9, "PARMA ", 6);
	t[15] = 2;                              /* revision: ACPI 2.0+ */
	le_put32(t + 16, 0);                       /* no RSDT */
	le_put32(t + 20, 36);
	le_put64(t + 24, base + off_xsdt);
	t[8] = checksum(t, 20);
	t[32] = checksum(t, 36);
	*len = total;
	return 0;
}
