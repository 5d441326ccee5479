/* guest_mem: the VMM's view of guest RAM, as handed to device models.
 *
 * Every guest-physical address a device touches (descriptor tables, buffers)
 * goes through guest_mem_ptr(), which refuses any range not wholly inside one
 * region — the only way a hostile guest could make the VMM read or write
 * outside guest RAM. The VMM fills this in; unit tests fill it with malloc'd
 * memory to simulate a guest. */
#ifndef PARMA_DEVICES_GUEST_MEM_H
#define PARMA_DEVICES_GUEST_MEM_H

#include <stdint.h>

#define GUEST_MEM_MAX_REGIONS 8

struct guest_mem_region {
	uint64_t gpa;    /* guest-physical start */
	uint64_t size;   /* bytes */
	uint8_t *host;   /* host mapping of the first byte */
};

struct guest_mem {
	struct guest_mem_region region[GUEST_MEM_MAX_REGIONS];
	unsigned n_regions;
};

/* Add a region; -EINVAL if it is empty, wraps, or overlaps another; -ENOSPC if full. */
int guest_mem_add(struct guest_mem *gm, uint64_t gpa, uint64_t size, void *host);

/* Host pointer for [gpa, gpa+len) if that whole range lies in one region,
 * else NULL. Overflow-safe for any gpa/len; len 0 is treated as 1. */
void *guest_mem_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

#endif
