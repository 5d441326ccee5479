#include "devices/pvpanic.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/guest_abi/layout.h"

#define PVPANIC_PANICKED 0x1

struct pvpanic {
	void (*on_panic)(void *ctx);
	void *ctx;
};

static void pv_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	(void)opaque;
	(void)off;
	memset(data, 0, len);
	data[0] = PVPANIC_PANICKED;
}

static void pv_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct pvpanic *p = opaque;
	(void)off;
	(void)len;
	if ((data[0] & PVPANIC_PANICKED) && p->on_panic)
		p->on_panic(p->ctx);
}

static const struct bus_ops pv_ops = { .read = pv_read, .write = pv_write };

int pvpanic_create(const struct device_host *host, void (*on_panic)(void *ctx), void *ctx,
		   struct pvpanic **out)
{
	struct pvpanic *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->on_panic = on_panic;
	p->ctx = ctx;
	int rc = bus_register(host->pio_bus, LAYOUT_PORT_PVPANIC, 1, "pvpanic", &pv_ops, p);
	if (rc < 0) {
		free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void pvpanic_destroy(struct pvpanic *p)
{
	free(p);
}
