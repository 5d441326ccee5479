#include "devices/guest_mem.h"

#include <errno.h>
#include <stddef.h>

int guest_mem_add(struct guest_mem *gm, uint64_t gpa, uint64_t size, void *host)
{
	if (!size || gpa + size < gpa || !host)
		return -EINVAL;
	if (gm->n_regions >= GUEST_MEM_MAX_REGIONS)
		return -ENOSPC;
	for (unsigned i = 0; i < gm->n_regions; i++) {
		const struct guest_mem_region *r = &gm->region[i];
		if (gpa < r->gpa + r->size && r->gpa < gpa + size)
			return -EINVAL;
	}
	gm->region[gm->n_regions++] = (struct guest_mem_region){ gpa, size, host };
	return 0;
}

void *guest_mem_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	if (len == 0)
		len = 1;
	for (unsigned i = 0; i < gm->n_regions; i++) {
		const struct guest_mem_region *r = &gm->region[i];
		if (gpa < r->gpa)
			continue;
		uint64_t off = gpa - r->gpa;
		if (off < r->size && len <= r->size - off)
			return r->host + off;
	}
	return NULL;
}
