#include "devices/debug_port.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "common/guest_abi/layout.h"

#define DEBUG_PORT_CON LAYOUT_PORT_DEBUGCON
#define DEBUG_PORT_EXIT LAYOUT_PORT_DEBUG_EXIT
#define DEBUG_LINE_MAX 512

struct debug_port {
	int log_fd;
	void (*on_exit)(void *ctx, uint8_t value);
	void *ctx;
	pthread_mutex_t lock; /* vCPUs write concurrently: keep lines whole */
	char line[DEBUG_LINE_MAX];
	size_t len;
};

static void flush_locked(struct debug_port *d)
{
	if (d->len && d->log_fd >= 0)
		write_full(d->log_fd, d->line, d->len);
	d->len = 0;
}

static void con_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	(void)opaque;
	(void)offset;
	memset(data, 0, len);
	data[0] = DEBUG_PORT_CON;
}

static void con_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct debug_port *d = opaque;
	(void)offset;
	(void)len; /* the low byte is the character, as on QEMU's debugcon */
	pthread_mutex_lock(&d->lock);
	d->line[d->len++] = (char)data[0];
	if (data[0] == '\n' || d->len == sizeof(d->line))
		flush_locked(d);
	pthread_mutex_unlock(&d->lock);
}

static void exit_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct debug_port *d = opaque;
	(void)offset;
	(void)len;
	pthread_mutex_lock(&d->lock);
	flush_locked(d);
	pthread_mutex_unlock(&d->lock);
	if (d->on_exit)
		d->on_exit(d->ctx, data[0]);
}

static const struct bus_ops con_ops = { .read = con_read, .write = con_write };
static const struct bus_ops exit_ops = { .read = NULL, .write = exit_write };

int debug_port_create(const struct device_host *host, int log_fd,
		      void (*on_exit)(void *ctx, uint8_t value), void *ctx,
		      struct debug_port **out)
{
	struct debug_port *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->log_fd = log_fd;
	d->on_exit = on_exit;
	d->ctx = ctx;
	pthread_mutex_init(&d->lock, NULL);
	int rc = bus_register(host->pio_bus, DEBUG_PORT_CON, 1, "debugcon", &con_ops, d);
	if (!rc)
		rc = bus_register(host->pio_bus, DEBUG_PORT_EXIT, 4, "debug-exit", &exit_ops, d);
	if (rc < 0) {
		debug_port_destroy(d);
		return rc;
	}
	*out = d;
	return 0;
}

void debug_port_destroy(struct debug_port *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	flush_locked(d);
	pthread_mutex_unlock(&d->lock);
	pthread_mutex_destroy(&d->lock);
	free(d);
}
