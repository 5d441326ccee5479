/* boot_desc: the schema of the boot descriptor, the flattened device tree the VMM writes at
 * LAYOUT_BOOT_DESC (layout.h) and the stage0 firmware and the test payload read. In an SNP
 * launch it is a measured page, so the hashes it carries are attested. Plain constants only
 * (freestanding guest code includes this header). docs/vmm.md, "Boot descriptor".
 *
 * Version 1:
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
#ifndef PARMA_COMMON_GUEST_ABI_BOOT_DESC_H
#define PARMA_COMMON_GUEST_ABI_BOOT_DESC_H

#define BOOT_DESC_VERSION 1
#define BOOT_DESC_COMPATIBLE "parma,boot-descriptor"
#define BOOT_DESC_PROP_VERSION "parma,version"

#define BOOT_DESC_NODE_MEMORY_MAP "memory-map"
#define BOOT_DESC_PROP_ENTRIES "entries"
#define BOOT_DESC_E820_ENTRY_SIZE 20 /* be64 addr, be64 size, be32 type */

#define BOOT_DESC_NODE_CPUS "cpus"
#define BOOT_DESC_PROP_CPU_COUNT "count"
#define BOOT_DESC_PROP_AP_START "ap-start"
#define BOOT_DESC_AP_START_SIPI "sipi"
#define BOOT_DESC_AP_START_DIRECT "direct"

#define BOOT_DESC_NODE_BOOT "boot"
#define BOOT_DESC_PROP_MODE "mode"
#define BOOT_DESC_MODE_KERNEL "kernel"
#define BOOT_DESC_MODE_FIRMWARE "firmware"
#define BOOT_DESC_PROP_CMDLINE "cmdline"
#define BOOT_DESC_PROP_CMDLINE_SHA256 "cmdline-sha256"
#define BOOT_DESC_PROP_KERNEL_SHA256 "kernel-sha256"
#define BOOT_DESC_PROP_INITRD_SHA256 "initrd-sha256"
#define BOOT_DESC_SHA256_SIZE 32
#define BOOT_DESC_PROP_KERNEL_SIZE "kernel-size"
#define BOOT_DESC_PROP_INITRD_SIZE "initrd-size"
#define BOOT_DESC_PROP_KERNEL_ADDR "kernel-addr"
#define BOOT_DESC_PROP_INITRD_ADDR "initrd-addr"
#define BOOT_DESC_PROP_CMDLINE_ADDR "cmdline-addr"
#define BOOT_DESC_PROP_ACPI_RSDP "acpi-rsdp"

#define BOOT_DESC_NODE_DEVICES "devices"
#define BOOT_DESC_PROP_COMPATIBLE "compatible"
#define BOOT_DESC_PROP_ACPI_HID "acpi-hid"
#define BOOT_DESC_PROP_REG "reg"
#define BOOT_DESC_PROP_INTERRUPTS "interrupts"
#define BOOT_DESC_PROP_VIRTIO_ID "virtio-id"

#endif
