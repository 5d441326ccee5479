#include "devices/boot_timer.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/guest_abi/layout.h"

#define BOOT_TIMER_PORT LAYOUT_PORT_BOOT_TIMER

struct boot_timer {
	uint64_t t0_ns;
	pthread_mutex_t lock;
	struct boot_timer_mark mark[BOOT_TIMER_MAX];
	unsigned n; /* total writes seen */
};

uint64_t boot_timer_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void timer_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct boot_timer *t = opaque;
	(void)offset;
	/* Reads return the number of milestones seen, little-endian. */
	pthread_mutex_lock(&t->lock);
	uint32_t n = t->n;
	pthread_mutex_unlock(&t->lock);
	memset(data, 0, len);
	memcpy(data, &n, len < 4 ? len : 4);
}

static void timer_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct boot_timer *t = opaque;
	uint64_t now = boot_timer_now_ns();
	uint32_t id = 0;
	(void)offset;
	memcpy(&id, data, len < 4 ? len : 4);
	pthread_mutex_lock(&t->lock);
	if (t->n < BOOT_TIMER_MAX)
		t->mark[t->n] = (struct boot_timer_mark){ id, now - t->t0_ns };
	if (t->n < UINT32_MAX)
		t->n++;
	pthread_mutex_unlock(&t->lock);
}

static const struct bus_ops timer_ops = { .read = timer_read, .write = timer_write };

int boot_timer_create(const struct device_host *host, uint64_t t0_ns, struct boot_timer **out)
{
	struct boot_timer *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->t0_ns = t0_ns;
	pthread_mutex_init(&t->lock, NULL);
	int rc = bus_register(host->pio_bus, BOOT_TIMER_PORT, 4, "boot-timer", &timer_ops, t);
	if (rc < 0) {
		boot_timer_destroy(t);
		return rc;
	}
	*out = t;
	return 0;
}

void boot_timer_destroy(struct boot_timer *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t);
}

unsigned boot_timer_marks(struct boot_timer *t, struct boot_timer_mark *out, unsigned max)
{
	pthread_mutex_lock(&t->lock);
	unsigned n = t->n;
	unsigned k = n < BOOT_TIMER_MAX ? n : BOOT_TIMER_MAX;
	if (k > max)
		k = max;
	memcpy(out, t->mark, k * sizeof(*out));
	pthread_mutex_unlock(&t->lock);
	return n;
}
