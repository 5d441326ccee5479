#include "devices/acpi_sleep.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/guest_abi/layout.h"

#define SLP_EN 0x20
#define SLP_TYP(v) (((v) >> 2) & 7)

struct acpi_sleep {
	void (*on_poweroff)(void *ctx);
	void *ctx;
};

static void sleep_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	(void)opaque;
	(void)off; /* control reads 0; status: never woken (WAK_STS clear) */
	memset(data, 0, len);
}

static void sleep_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct acpi_sleep *s = opaque;
	(void)len;
	if (off == 0 && (data[0] & SLP_EN) && SLP_TYP(data[0]) == LAYOUT_ACPI_SLP_TYP_S5 &&
	    s->on_poweroff)
		s->on_poweroff(s->ctx);
}

static const struct bus_ops sleep_ops = { .read = sleep_read, .write = sleep_write };

int acpi_sleep_create(const struct device_host *host, void (*on_poweroff)(void *ctx), void *ctx,
		      struct acpi_sleep **out)
{
	struct acpi_sleep *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->on_poweroff = on_poweroff;
	s->ctx = ctx;
	int rc = bus_register(host->pio_bus, LAYOUT_PORT_ACPI_SLEEP_CTL, 2, "acpi-sleep",
			      &sleep_ops, s);
	if (rc < 0) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void acpi_sleep_destroy(struct acpi_sleep *s)
{
	free(s);
}
