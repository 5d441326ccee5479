#include "devices/i8042.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/guest_abi/layout.h"

#define I8042_DATA LAYOUT_PORT_I8042_DATA
#define I8042_CMD LAYOUT_PORT_I8042_CMD
#define I8042_CMD_RESET 0xfe

struct i8042 {
	void (*on_reset)(void *ctx);
	void *ctx;
};

static void k_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	(void)opaque;
	(void)off; /* status: nothing pending, input buffer empty; data: 0 */
	memset(data, 0, len);
}

static void k_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct i8042 *k = opaque;
	(void)len;
	if (off == I8042_CMD - I8042_DATA && data[0] == I8042_CMD_RESET && k->on_reset)
		k->on_reset(k->ctx);
}

static const struct bus_ops i8042_ops = { .read = k_read, .write = k_write };

int i8042_create(const struct device_host *host, void (*on_reset)(void *ctx), void *ctx,
		 struct i8042 **out)
{
	struct i8042 *k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->on_reset = on_reset;
	k->ctx = ctx;
	/* One range 0x60..0x64 (0x61-0x63 read as zero: port B and friends). */
	int rc = bus_register(host->pio_bus, I8042_DATA, I8042_CMD - I8042_DATA + 1, "i8042",
			      &i8042_ops, k);
	if (rc < 0) {
		free(k);
		return rc;
	}
	*out = k;
	return 0;
}

void i8042_destroy(struct i8042 *k)
{
	free(k);
}
