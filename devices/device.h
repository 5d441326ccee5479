/* device: what the VMM offers a device model, and what a device model offers back.
 *
 * The contract between vmm/ and devices/ (kvmtool/Firecracker shape):
 *  - the VMM creates a device with a `struct device_host` describing the
 *    machine (guest memory, event loop, interrupt and doorbell wiring);
 *  - the device claims its register window on a bus (devices/bus.h) and
 *    registers its fds with the event loop;
 *  - virtio-mmio interrupts are edge-triggered, active-high GSIs fed through
 *    irqfd (the ACPI tables the VMM generates must describe them that way);
 *  - queue doorbells use ioeventfd when the host offers it, otherwise the
 *    device handles the QueueNotify write inside its bus write callback.
 * Device models never call KVM themselves. */
#ifndef PARMA_DEVICES_DEVICE_H
#define PARMA_DEVICES_DEVICE_H

#include <stdint.h>

#include "devices/bus.h"
#include "devices/guest_mem.h"

struct event_loop;

struct device_host {
	void *vm;                    /* opaque, passed back to the callbacks */
	struct guest_mem *mem;
	struct event_loop *loop;     /* may be NULL in unit tests */
	struct bus *mmio_bus;
	struct bus *pio_bus;

	/* Raise an edge interrupt on `gsi` by writing 1 to the returned eventfd
	 * (KVM_IRQFD). Returns the eventfd or -errno. NULL callback: the device
	 * creates a plain eventfd itself (unit tests read it). */
	int (*irqfd_create)(void *vm, uint32_t gsi);

	/* Drive a level-triggered legacy line (serial, i8042) via KVM_IRQ_LINE. */
	int (*irq_line)(void *vm, uint32_t gsi, int level);

	/* Signal `fd` when the guest writes `value` (len bytes) to `gpa`
	 * (KVM_IOEVENTFD with datamatch). Returns 0, or -ENOTSUP where not
	 * available (unit tests), in which case the device uses the bus write. */
	int (*ioeventfd_add)(void *vm, uint64_t gpa, uint32_t len, uint64_t value, int fd);
	int (*ioeventfd_del)(void *vm, uint64_t gpa, uint32_t len, uint64_t value, int fd);
};

#endif
