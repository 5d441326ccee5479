#include "vmm/boot_desc.h"

#include <endian.h>
#include <errno.h>
#include <libfdt.h>
#include <stdio.h>
#include <string.h>

static int prop_u64(void *fdt, const char *name, uint64_t v)
{
	return fdt_property_u64(fdt, name, v);
}

static int build(void *fdt, size_t cap, const struct boot_desc *d)
{
	int rc;
#define TRY(x) do { if ((rc = (x)) < 0) return rc; } while (0)
	TRY(fdt_create(fdt, (int)cap));
	TRY(fdt_finish_reservemap(fdt));
	TRY(fdt_begin_node(fdt, ""));
	TRY(fdt_property_string(fdt, "compatible", "parma,boot-descriptor"));
	TRY(fdt_property_u32(fdt, "parma,version", BOOT_DESC_VERSION));
	TRY(fdt_property_u32(fdt, "#address-cells", 2));
	TRY(fdt_property_u32(fdt, "#size-cells", 2));

	TRY(fdt_begin_node(fdt, "memory-map"));
	uint8_t entries[BOOT_E820_MAX * 20];
	for (unsigned i = 0; i < d->n_e820 && i < BOOT_E820_MAX; i++) {
		uint64_t a = htobe64(d->e820[i].addr), s = htobe64(d->e820[i].size);
		uint32_t t = htobe32(d->e820[i].type);
		memcpy(entries + 20 * i, &a, 8);
		memcpy(entries + 20 * i + 8, &s, 8);
		memcpy(entries + 20 * i + 16, &t, 4);
	}
	TRY(fdt_property(fdt, "entries", entries, (int)(20 * d->n_e820)));
	TRY(fdt_end_node(fdt));

	TRY(fdt_begin_node(fdt, "cpus"));
	TRY(fdt_property_u32(fdt, "count", d->n_vcpus));
	TRY(fdt_property_string(fdt, "ap-start", d->ap_start ? d->ap_start : "sipi"));
	TRY(fdt_end_node(fdt));

	TRY(fdt_begin_node(fdt, "boot"));
	TRY(fdt_property_string(fdt, "mode", d->mode));
	if (d->cmdline) {
		uint8_t h[SHA256_LEN];
		if (digest_sha256(d->cmdline, strlen(d->cmdline), h) < 0)
			return -FDT_ERR_INTERNAL;
		TRY(fdt_property_string(fdt, "cmdline", d->cmdline));
		TRY(fdt_property(fdt, "cmdline-sha256", h, SHA256_LEN));
	}
	if (d->kernel_sha256) {
		TRY(fdt_property(fdt, "kernel-sha256", d->kernel_sha256, SHA256_LEN));
		TRY(prop_u64(fdt, "kernel-size", d->kernel_size));
	}
	if (d->initrd_sha256) {
		TRY(fdt_property(fdt, "initrd-sha256", d->initrd_sha256, SHA256_LEN));
		TRY(prop_u64(fdt, "initrd-size", d->initrd_size));
	}
	if (d->kernel_addr)
		TRY(prop_u64(fdt, "kernel-addr", d->kernel_addr));
	if (d->initrd_addr)
		TRY(prop_u64(fdt, "initrd-addr", d->initrd_addr));
	if (d->cmdline_addr)
		TRY(prop_u64(fdt, "cmdline-addr", d->cmdline_addr));
	if (d->acpi_rsdp)
		TRY(prop_u64(fdt, "acpi-rsdp", d->acpi_rsdp));
	TRY(fdt_end_node(fdt));

	TRY(fdt_begin_node(fdt, "devices"));
	for (unsigned i = 0; i < d->n_devices; i++) {
		const struct boot_desc_device *dev = &d->devices[i];
		char node[64];
		snprintf(node, sizeof(node), "%s@%llx", dev->name, (unsigned long long)dev->base);
		TRY(fdt_begin_node(fdt, node));
		TRY(fdt_property_string(fdt, "compatible", dev->compatible));
		if (dev->acpi_hid)
			TRY(fdt_property_string(fdt, "acpi-hid", dev->acpi_hid));
		uint64_t reg[2] = { htobe64(dev->base), htobe64(dev->size) };
		TRY(fdt_property(fdt, "reg", reg, sizeof(reg)));
		TRY(fdt_property_u32(fdt, "interrupts", dev->gsi));
		if (dev->virtio_id)
			TRY(fdt_property_u32(fdt, "virtio-id", dev->virtio_id));
		TRY(fdt_end_node(fdt));
	}
	TRY(fdt_end_node(fdt));
	TRY(fdt_end_node(fdt));
	TRY(fdt_finish(fdt));
#undef TRY
	return 0;
}

int boot_desc_build(const struct boot_desc *d, void *buf, size_t cap, size_t *len,
		    struct errbuf *eb)
{
	if (d->n_e820 > BOOT_E820_MAX)
		return errbuf_set(eb, EINVAL, "boot descriptor: too many memory-map entries");
	if (cap > INT32_MAX)
		cap = INT32_MAX;
	int rc = build(buf, cap, d);
	if (rc < 0)
		return errbuf_set(eb, rc == -FDT_ERR_NOSPACE ? ENOSPC : EINVAL,
				  "boot descriptor: %s%s", fdt_strerror(rc),
				  rc == -FDT_ERR_NOSPACE ? " (larger than its area)" : "");
	*len = fdt_totalsize(buf);
	return 0;
}
