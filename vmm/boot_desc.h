/* boot_desc: the VMM's writer of the boot descriptor, a flattened device tree (libfdt) that
 * tells the firmware (and the test payload) the memory map, the devices, and the SHA-256 of
 * the kernel, initrd and command line it must check before booting. Its schema is part of the
 * guest ABI: common/guest_abi/boot_desc.h. */
#ifndef PARMA_VMM_BOOT_DESC_H
#define PARMA_VMM_BOOT_DESC_H

#include <stddef.h>
#include <stdint.h>

#include "common/digest.h"
#include "common/errbuf.h"
#include "common/guest_abi/boot_desc.h"
#include "vmm/boot.h"

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
