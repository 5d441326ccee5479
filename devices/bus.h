/* bus: address ranges claimed by device models (one bus for MMIO, one for port I/O).
 *
 * The vCPU loop turns each KVM_EXIT_MMIO / KVM_EXIT_IO into bus_access(); the
 * device behind the range gets an offset relative to its base. Accesses that
 * no device claims read as all-ones and writes are dropped (as on real
 * hardware) — the caller decides whether to log them. */
#ifndef PARMA_DEVICES_BUS_H
#define PARMA_DEVICES_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define BUS_MAX_RANGES 64

struct bus_ops {
	/* len is 1, 2, 4 or 8; data is little-endian guest bytes. */
	void (*read)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len);
	void (*write)(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len);
};

struct bus_range {
	uint64_t base;
	uint64_t len;
	const char *name;
	const struct bus_ops *ops;
	void *opaque;
};

struct bus {
	struct bus_range range[BUS_MAX_RANGES];
	unsigned n_ranges;
};

/* Claim [base, base+len); -EINVAL on overlap or empty/wrapping range, -ENOSPC if full.
 * Register everything before vCPUs start: lookups take no lock. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, const char *name,
		 const struct bus_ops *ops, void *opaque);

/* Dispatch one access. Returns false (and fills reads with 0xff) if unclaimed
 * or if the access straddles the end of a range. */
bool bus_access(const struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len,
		bool is_write);

#endif
