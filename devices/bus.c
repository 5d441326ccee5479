#include "devices/bus.h"

#include <errno.h>
#include <string.h>

int bus_register(struct bus *bus, uint64_t base, uint64_t len, const char *name,
		 const struct bus_ops *ops, void *opaque)
{
	if (!len || base + len < base || !ops)
		return -EINVAL;
	if (bus->n_ranges >= BUS_MAX_RANGES)
		return -ENOSPC;
	for (unsigned i = 0; i < bus->n_ranges; i++) {
		const struct bus_range *r = &bus->range[i];
		if (base < r->base + r->len && r->base < base + len)
			return -EINVAL;
	}
	bus->range[bus->n_ranges++] = (struct bus_range){ base, len, name, ops, opaque };
	return 0;
}

bool bus_access(const struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len,
		bool is_write)
{
	for (unsigned i = 0; i < bus->n_ranges; i++) {
		const struct bus_range *r = &bus->range[i];
		if (addr < r->base || addr - r->base >= r->len)
			continue;
		uint64_t off = addr - r->base;
		if (len > r->len - off)
			break;
		if (is_write) {
			if (r->ops->write)
				r->ops->write(r->opaque, off, data, len);
		} else if (r->ops->read) {
			r->ops->read(r->opaque, off, data, len);
		} else {
			memset(data, 0xff, len);
		}
		return true;
	}
	if (!is_write)
		memset(data, 0xff, len);
	return false;
}
