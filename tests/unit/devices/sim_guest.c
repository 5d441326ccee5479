#include "sim_guest.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <string.h>

#include "devices/virtio_mmio.h"

int sim_guest_init(struct sim_guest *g, uint64_t size)
{
	memset(g, 0, sizeof(*g));
	g->ram = aligned_alloc(4096, size);
	if (!g->ram)
		return -1;
	memset(g->ram, 0, size);
	g->size = size;
	g->next = SIM_RAM_BASE;
	guest_mem_add(&g->mem, SIM_RAM_BASE, size, g->ram);
	g->host.mem = &g->mem;
	g->host.mmio_bus = &g->mmio;
	return 0;
}

static int sim_ioeventfd_add(void *vm, uint64_t gpa, uint32_t len, uint64_t value, int fd)
{
	struct sim_guest *g = vm;
	if (len != 4 || g->n_ioeventfd == SIM_MAX_IOEVENTFDS)
		return -ENOSPC;
	g->ioeventfd[g->n_ioeventfd++] = (struct sim_ioeventfd){ gpa, value, fd };
	return 0;
}

static int sim_ioeventfd_del(void *vm, uint64_t gpa, uint32_t len, uint64_t value, int fd)
{
	struct sim_guest *g = vm;
	(void)len;
	for (unsigned i = 0; i < g->n_ioeventfd; i++)
		if (g->ioeventfd[i].gpa == gpa && g->ioeventfd[i].value == value &&
		    g->ioeventfd[i].fd == fd) {
			g->ioeventfd[i] = g->ioeventfd[--g->n_ioeventfd];
			return 0;
		}
	return -ENOENT;
}

void sim_guest_enable_ioeventfd(struct sim_guest *g)
{
	g->host.vm = g;
	g->host.ioeventfd_add = sim_ioeventfd_add;
	g->host.ioeventfd_del = sim_ioeventfd_del;
}

void sim_guest_free(struct sim_guest *g)
{
	free(g->ram);
	g->ram = NULL;
}

uint64_t sim_alloc(struct sim_guest *g, uint64_t size, uint64_t align)
{
	uint64_t at = (g->next + align - 1) & ~(align - 1);
	if (at + size > SIM_RAM_BASE + g->size)
		abort();
	g->next = at + size;
	return at;
}

void *sim_ptr(struct sim_guest *g, uint64_t gpa)
{
	return g->ram + (gpa - SIM_RAM_BASE);
}

uint32_t sim_read32(struct sim_guest *g, uint64_t base, uint32_t off)
{
	uint32_t v = 0;
	bus_access(&g->mmio, base + off, (uint8_t *)&v, 4, false);
	return v;
}

void sim_write32(struct sim_guest *g, uint64_t base, uint32_t off, uint32_t v)
{
	bus_access(&g->mmio, base + off, (uint8_t *)&v, 4, true);
}

void sim_queue_alloc(struct sim_guest *g, struct sim_queue *q, uint16_t size)
{
	memset(q, 0, sizeof(*q));
	q->size = size;
	q->desc = sim_alloc(g, 16ull * size, 4096);
	q->avail = sim_alloc(g, 6ull + 2ull * size, 4096);
	q->used = sim_alloc(g, 6ull + 8ull * size, 4096);
}

uint32_t sim_driver_init(struct sim_guest *g, uint64_t base, uint64_t want,
			 struct sim_queue *qs, unsigned nq)
{
	sim_write32(g, base, VIRTIO_MMIO_STATUS, 0);
	sim_write32(g, base, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	sim_write32(g, base, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	uint64_t f = 0;
	for (uint32_t sel = 0; sel < 2; sel++) {
		sim_write32(g, base, VIRTIO_MMIO_DEVICE_FEATURES_SEL, sel);
		f |= (uint64_t)sim_read32(g, base, VIRTIO_MMIO_DEVICE_FEATURES) << (32 * sel);
	}
	f &= want;
	for (uint32_t sel = 0; sel < 2; sel++) {
		sim_write32(g, base, VIRTIO_MMIO_DRIVER_FEATURES_SEL, sel);
		sim_write32(g, base, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> (32 * sel)));
	}
	uint32_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;
	sim_write32(g, base, VIRTIO_MMIO_STATUS, st);
	if (!(sim_read32(g, base, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK))
		return sim_read32(g, base, VIRTIO_MMIO_STATUS);
	for (unsigned i = 0; i < nq; i++) {
		struct sim_queue *q = &qs[i];
		sim_write32(g, base, VIRTIO_MMIO_QUEUE_SEL, i);
		sim_write32(g, base, VIRTIO_MMIO_QUEUE_NUM, q->size);
		sim_write32(g, base, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)q->desc);
		sim_write32(g, base, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(q->desc >> 32));
		sim_write32(g, base, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)q->avail);
		sim_write32(g, base, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(q->avail >> 32));
		sim_write32(g, base, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)q->used);
		sim_write32(g, base, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(q->used >> 32));
		sim_write32(g, base, VIRTIO_MMIO_QUEUE_READY, 1);
	}
	sim_write32(g, base, VIRTIO_MMIO_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
	return sim_read32(g, base, VIRTIO_MMIO_STATUS);
}

void sim_desc(struct sim_guest *g, struct sim_queue *q, uint16_t i, uint64_t addr,
	      uint32_t len, uint16_t flags, uint16_t next)
{
	struct virtq_desc *d = sim_ptr(g, q->desc + 16ull * i);
	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

void sim_publish(struct sim_guest *g, struct sim_queue *q, uint16_t head)
{
	uint16_t *avail = sim_ptr(g, q->avail);
	avail[2 + (q->avail_idx % q->size)] = head;
	q->avail_idx++;
	__atomic_store_n(&avail[1], q->avail_idx, __ATOMIC_RELEASE);
}

void sim_kick(struct sim_guest *g, uint64_t base, uint16_t qi)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < g->n_ioeventfd; i++)
		if (g->ioeventfd[i].gpa == base + VIRTIO_MMIO_QUEUE_NOTIFY && g->ioeventfd[i].value == qi) {
			uint64_t one = 1;
			if (write(g->ioeventfd[i].fd, &one, sizeof(one)) != sizeof(one))
				abort();
			return;
		}
	sim_write32(g, base, VIRTIO_MMIO_QUEUE_NOTIFY, qi);
}

bool sim_used(struct sim_guest *g, struct sim_queue *q, uint32_t *id, uint32_t *len)
{
	uint8_t *used = sim_ptr(g, q->used);
	uint16_t idx = __atomic_load_n((uint16_t *)(used + 2), __ATOMIC_ACQUIRE);
	if (idx == q->last_used)
		return false;
	uint8_t *e = used + 4 + 8u * (q->last_used % q->size);
	memcpy(id, e, 4);
	memcpy(len, e + 4, 4);
	q->last_used++;
	/* Event index: interrupt me again on the next used entry. */
	uint16_t *avail = sim_ptr(g, q->avail);
	__atomic_store_n(&avail[2 + q->size], q->last_used, __ATOMIC_RELEASE);
	return true;
}

static bool used_pending(struct sim_guest *g, struct sim_queue *q)
{
	uint8_t *used = sim_ptr(g, q->used);
	return __atomic_load_n((uint16_t *)(used + 2), __ATOMIC_ACQUIRE) != q->last_used;
}

bool sim_wait_used(struct sim_guest *g, struct sim_queue *q, uint64_t base, int irq_fd,
		   int timeout_ms)
{
	uint16_t *avail = sim_ptr(g, q->avail);
	__atomic_store_n(&avail[2 + q->size], q->last_used, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (used_pending(g, q))
		return true;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		long spent = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (spent >= timeout_ms)
			return used_pending(g, q);
		struct pollfd p = { .fd = irq_fd, .events = POLLIN };
		if (poll(&p, 1, (int)(timeout_ms - spent)) > 0) {
			uint64_t v;
			if (read(irq_fd, &v, sizeof(v)) == sizeof(v))
				sim_write32(g, base, VIRTIO_MMIO_INTERRUPT_ACK, 3);
		}
		/* An interrupt may be for another queue, or left over: look again. */
		if (used_pending(g, q))
			return true;
	}
}

uint16_t sim_chain(struct sim_guest *g, struct sim_queue *q, const uint64_t *gpa,
		   const uint32_t *len, const bool *writable, unsigned n)
{
	uint16_t head = q->next_desc;
	for (unsigned i = 0; i < n; i++) {
		uint16_t d = (uint16_t)((head + i) % q->size);
		uint16_t next = (uint16_t)((d + 1) % q->size);
		sim_desc(g, q, d, gpa[i], len[i],
			 (uint16_t)((writable[i] ? VIRTQ_DESC_F_WRITE : 0) |
				    (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
			 next);
	}
	q->next_desc = (uint16_t)((head + n) % q->size);
	sim_publish(g, q, head);
	return head;
}
