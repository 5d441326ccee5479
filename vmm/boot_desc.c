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
	TRY(fdt_property_string(fdt, BOOT_DESC_PROP_COMPATIBLE, BOOT_DESC_COMPATIBLE));
	TRY(fdt_property_u32(fdt, BOOT_DESC_PROP_VERSION, BOOT_DESC_VERSION));
	TRY(fdt_property_u32(fdt, "#address-cells", 2));
	TRY(fdt_property_u32(fdt, "#size-cells", 2));

	TRY(fdt_begin_node(fdt, BOOT_DESC_NODE_MEMORY_MAP));
	uint8_t entries[BOOT_E820_MAX * BOOT_DESC_E820_ENTRY_SIZE];
	for (unsigned i = 0; i < d->n_e820 && i < BOOT_E820_MAX; i++) {
		uint64_t a = htobe64(d->e820[i].addr), s = htobe64(d->e820[i].size);
		uint32_t t = htobe32(d->e820[i].type);
		memcpy(entries + BOOT_DESC_E820_ENTRY_SIZE * i, &a, 8);
		memcpy(entries + BOOT_DESC_E820_ENTRY_SIZE * i + 8, &s, 8);
		memcpy(entries + BOOT_DESC_E820_ENTRY_SIZE * i + 16, &t, 4);
	}
	TRY(fdt_property(fdt, BOOT_DESC_PROP_ENTRIES, entries,
			 (int)(BOOT_DESC_E820_ENTRY_SIZE * d->n_e820)));
	TRY(fdt_end_node(fdt));

	TRY(fdt_begin_node(fdt, BOOT_DESC_NODE_CPUS));
	TRY(fdt_property_u32(fdt, BOOT_DESC_PROP_CPU_COUNT, d->n_vcpus));
	TRY(fdt_property_string(fdt, BOOT_DESC_PROP_AP_START,
				 d->ap_start ? d->ap_start : BOOT_DESC_AP_START_SIPI));
	TRY(fdt_end_node(fdt));

	TRY(fdt_begin_node(fdt, BOOT_DESC_NODE_BOOT));
	TRY(fdt_property_string(fdt, BOOT_DESC_PROP_MODE, d->mode));
	if (d->cmdline) {
		uint8_t h[SHA256_LEN];
		if (digest_sha256(d->cmdline, strlen(d->cmdline), h) < 0)
			return -FDT_ERR_INTERNAL;
		TRY(fdt_property_string(fdt, BOOT_DESC_PROP_CMDLINE, d->cmdline));
		TRY(fdt_property(fdt, BOOT_DESC_PROP_CMDLINE_SHA256, h, SHA256_LEN));
	}
	if (d->kernel_sha256) {
		TRY(fdt_property(fdt, BOOT_DESC_PROP_KERNEL_SHA256, d->kernel_sha256, SHA256_LEN));
		TRY(prop_u64(fdt, BOOT_DESC_PROP_KERNEL_SIZE, d->kernel_size));
	}
	if (d->initrd_sha256) {
		TRY(fdt_property(fdt, BOOT_DESC_PROP_INITRD_SHA256, d->initrd_sha256, SHA256_LEN));
		TRY(prop_u64(fdt, BOOT_DESC_PROP_INITRD_SIZE, d->initrd_size));
	}
	if (d->kernel_addr)
		TRY(prop_u64(fdt, BOOT_DESC_PROP_KERNEL_ADDR, d->kernel_addr));
	if (d->initrd_addr)
		TRY(prop_u64(fdt, BOOT_DESC_PROP_INITRD_ADDR, d->initrd_addr));
	if (d->cmdline_addr)
		TRY(prop_u64(fdt, BOOT_DESC_PROP_CMDLINE_ADDR, d->cmdline_addr));
	if (d->acpi_rsdp)
		TRY(prop_u64(fdt, BOOT_DESC_PROP_ACPI_RSDP, d->acpi_rsdp));
	TRY(fdt_end_node(fdt));

	TRY(fdt_begin_node(fdt, BOOT_DESC_NODE_DEVICES));
	for (unsigned i = 0; i < d->n_devices; i++) {
		const struct boot_desc_device *dev = &d->devices[i];
		char node[64];
		snprintf(node, sizeof(node), "%s@%llx", dev->name, (unsigned long long)dev->base);
		TRY(fdt_begin_node(fdt, node));
		TRY(fdt_property_string(fdt, BOOT_DESC_PROP_COMPATIBLE, dev->compatible));
		if (dev->acpi_hid)
			TRY(fdt_property_string(fdt, BOOT_DESC_PROP_ACPI_HID, dev->acpi_hid));
		uint64_t reg[2] = { htobe64(dev->base), htobe64(dev->size) };
		TRY(fdt_property(fdt, BOOT_DESC_PROP_REG, reg, sizeof(reg)));
		TRY(fdt_property_u32(fdt, BOOT_DESC_PROP_INTERRUPTS, dev->gsi));
		if (dev->virtio_id)
			TRY(fdt_property_u32(fdt, BOOT_DESC_PROP_VIRTIO_ID, dev->virtio_id));
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
