/* pvpanic: the guest tells the host it panicked (QEMU's pvpanic ISA device ABI).
 * Port 0x505 (common/guest_abi/layout.h); reads return the events offered (bit 0: PANICKED);
 * writing bit 0 ends the VM with "guest panicked". Linux's pvpanic driver finds
 * it through ACPI (_HID "QEMU0001", vmm/acpi.c) and writes it from its panic
 * notifier, so `parma boot` reports a panic as exit 7 rather than a reboot. */
#ifndef PARMA_DEVICES_PVPANIC_H
#define PARMA_DEVICES_PVPANIC_H

#include "devices/device.h"

struct pvpanic;

int pvpanic_create(const struct device_host *host, void (*on_panic)(void *ctx), void *ctx,
		   struct pvpanic **out);
void pvpanic_destroy(struct pvpanic *p);

#endif
