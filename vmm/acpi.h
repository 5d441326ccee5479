/* acpi: deterministic ACPI tables for a hardware-reduced x86 machine.
 *
 * Debian's stock kernel finds virtio-mmio devices only through ACPI (it has no
 * virtio_mmio.device= support built in), so the VMM describes them here:
 * RSDP (rev 2) → XSDT → FADT (HW_REDUCED_ACPI, X_DSDT, sleep control/status
 * registers at ports 0x600/0x601) and MADT (one LAPIC per vCPU, the IOAPIC,
 * IRQ0→GSI2); DSDT with \_S5 (power off), \_SB.COM1 (PNP0501, the 16550) and
 * \_SB.PEVT (QEMU0001, pvpanic) and one \_SB.Vnnn per virtio-mmio device (_HID "LNRO0005", Memory32Fixed window,
 * Interrupt(ResourceConsumer, Edge, ActiveHigh, Exclusive) {gsi}, as
 * devices/device.h specifies). The same inputs give the same bytes (no dates,
 * no pointers but the ones computed from `base`), so the tables can be
 * measured. */
#ifndef PARMA_VMM_ACPI_H
#define PARMA_VMM_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "common/errbuf.h"

#define ACPI_MAX_VIRTIO 32

struct acpi_virtio {
	uint64_t base;
	uint32_t size;
	uint32_t gsi;
};

struct acpi_config {
	uint32_t n_vcpus;
	const struct acpi_virtio *virtio;
	unsigned n_virtio;
	int serial;           /* describe COM1 (port 0x3f8, IRQ 4) */
	int pvpanic;          /* describe the pvpanic port (QEMU0001 at 0x505) */
};

/* Build all tables into buf (laid out from guest address `base`, RSDP first).
 * *len receives the bytes used; the RSDP is at `base`. */
int acpi_build(const struct acpi_config *c, uint64_t base, uint8_t *buf, size_t cap,
	       size_t *len, struct errbuf *eb);

#endif
