/* boot_desc: the boot descriptor — a flattened device tree (libfdt) that tells
 * the firmware (and the test payload) the memory map, the devices, and the
 * SHA-256 of the kernel, initrd and command line it must check before booting.
 * In an SNP launch it is a measured page, so these hashes are attested.
 * Schema (docs/vmm.md, "Boot descriptor"): version 1,
 *   /                 compatible = "parma,boot-descriptor"; parma,version = <1>
 *   /memory-map       entries = (be64 addr, be64 size, be32 e820 type) * n
 *   /cpus             count = <n>; ap-start = "sipi" | "direct"
 *   /boot             mode = "kernel" | "firmware"; cmdline = "...";
 *                     cmdline-sha256, kernel-sha256, initrd-sha256 = [32 bytes];
 *                     kernel-size, initrd-size = <be64>; and where staged (firmware
 *                     mode) kernel-addr, initrd-addr, cmdline-addr = <be64>;
 *                     acpi-rsdp = <be64> when ACPI tables were generated
 *   /devices/<name>@<hex base>  compatible = "virtio,mmio" (or the device's),
 *                     acpi-hid = "LNRO0005", reg = <be64 base, be64 size>,
 *                     interrupts = <gsi> (edge, active-high), virtio-id = <n> */
#ifndef PARMA_VMM_BOOT_DESC_H
#define PARMA_VMM_BOOT_DESC_H

#include <stddef.h>
#include <stdint.h>

#include "common/digest.h"
#include "common/errbuf.h"
#include "vmm/boot.h"

#define BOOT_DESC_VERSION 1

struct boot_desc_device {
	const char *name;       /* "virtio-blk0" */
	const char *compatible; /* "virtio,mmio" */
	const char *acpi_hid;   /* "LNRO0005" or NULL */
	uint64_t base, size;
	uint32_t gsi;
	uint32_t virtio_id;     /* 0: not virtio */
};

struct boot_desc {
	const char *mode;       /* "kernel" or "firmware" */
	const struct boot_e820 *e820;
	unsigned n_e820;
	uint32_t n_vcpus;
	const char *ap_start;   /* "sipi" or "direct" */
	const char *cmdline;    /* NULL: none */
	const uint8_t *kernel_sha256, *initrd_sha256; /* NULL: no such file */
	uint64_t kernel_size, initrd_size;
	uint64_t kernel_addr, initrd_addr, cmdline_addr; /* 0: not staged */
	uint64_t acpi_rsdp;     /* 0: none */
	const struct boot_desc_device *devices;
	unsigned n_devices;
};

/* Serialize into buf (at most cap bytes); *len receives the FDT's size. */
int boot_desc_build(const struct boot_desc *d, void *buf, size_t cap, size_t *len,
		    struct errbuf *eb);

#endif
