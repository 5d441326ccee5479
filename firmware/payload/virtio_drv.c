/* virtio_drv: see virtio_drv.h. */
#include "virtio_drv.h"

#include "payload.h"

#define MAGIC 0x74726976u
#define REG_MAGIC 0x000
#define REG_VERSION 0x004
#define REG_DEVICE_ID 0x008
#define REG_DEV_FEATURES 0x010
#define REG_DEV_FEATURES_SEL 0x014
#define REG_DRV_FEATURES 0x020
#define REG_DRV_FEATURES_SEL 0x024
#define REG_QUEUE_SEL 0x030
#define REG_QUEUE_NUM_MAX 0x034
#define REG_QUEUE_NUM 0x038
#define REG_QUEUE_READY 0x044
#define REG_QUEUE_NOTIFY 0x050
#define REG_STATUS 0x070
#define REG_DESC_LO 0x080
#define REG_DESC_HI 0x084
#define REG_DRIVER_LO 0x090
#define REG_DRIVER_HI 0x094
#define REG_DEVICE_LO 0x0a0
#define REG_DEVICE_HI 0x0a4
#define REG_CONFIG 0x100
#define MAX_WINDOWS 32u

static uint64_t scratch_next = VDRV_SCRATCH;

uint64_t vdrv_alloc_raw(uint64_t size, uint64_t align)
{
	uint64_t at = (scratch_next + align - 1) & ~(align - 1);
	if (at + size > VDRV_SCRATCH + VDRV_SCRATCH_SIZE)
		return 0;
	scratch_next = at + size;
	return at;
}

uint64_t vdrv_alloc(uint64_t size, uint64_t align)
{
	uint64_t at = vdrv_alloc_raw(size, align);
	if (at)
		memset((void *)(uintptr_t)at, 0, size);
	return at;
}

int vdrv_find(uint32_t device_id, unsigned nth, struct vdrv_dev *d)
{
	for (unsigned i = 0; i < MAX_WINDOWS; i++) {
		uint64_t base = LAYOUT_DEVICE_MMIO + i * LAYOUT_DEVICE_MMIO_STRIDE;
		if (mmio_read32(base + REG_MAGIC) != MAGIC || mmio_read32(base + REG_VERSION) != 2 ||
		    mmio_read32(base + REG_DEVICE_ID) != device_id)
			continue;
		if (nth-- == 0) {
			memset(d, 0, sizeof(*d));
			d->base = base;
			d->device_id = device_id;
			return 0;
		}
	}
	return -1;
}

uint32_t vdrv_status(const struct vdrv_dev *d)
{
	return mmio_read32(d->base + REG_STATUS);
}

uint32_t vdrv_config32(const struct vdrv_dev *d, uint32_t off)
{
	return mmio_read32(d->base + REG_CONFIG + off);
}

uint64_t vdrv_config64(const struct vdrv_dev *d, uint32_t off)
{
	return vdrv_config32(d, off) | (uint64_t)vdrv_config32(d, off + 4) << 32;
}

int vdrv_init(struct vdrv_dev *d, uint64_t want, unsigned n_queues)
{
	uint64_t b = d->base;
	if (n_queues > VDRV_MAX_QUEUES)
		return -1;
	mmio_write32(b + REG_STATUS, 0);
	mmio_write32(b + REG_STATUS, 1);
	mmio_write32(b + REG_STATUS, 3);
	uint64_t offered = 0;
	for (uint32_t sel = 0; sel < 2; sel++) {
		mmio_write32(b + REG_DEV_FEATURES_SEL, sel);
		offered |= (uint64_t)mmio_read32(b + REG_DEV_FEATURES) << (32 * sel);
	}
	if (!(offered & (1ull << 32)))
		return -1; /* not a modern device */
	uint64_t f = offered & (want | (1ull << 32) | (1ull << 33));
	for (uint32_t sel = 0; sel < 2; sel++) {
		mmio_write32(b + REG_DRV_FEATURES_SEL, sel);
		mmio_write32(b + REG_DRV_FEATURES, (uint32_t)(f >> (32 * sel)));
	}
	mmio_write32(b + REG_STATUS, 3 | 8);
	if (!(mmio_read32(b + REG_STATUS) & 8))
		return -1;
	d->features = f;
	for (unsigned i = 0; i < n_queues; i++) {
		struct vdrv_queue *q = &d->q[i];
		mmio_write32(b + REG_QUEUE_SEL, i);
		if (mmio_read32(b + REG_QUEUE_NUM_MAX) < VDRV_QSIZE)
			return -1;
		uint64_t desc = vdrv_alloc(16 * VDRV_QSIZE, 4096);
		uint64_t avail = vdrv_alloc(6 + 2 * VDRV_QSIZE, 4096);
		uint64_t used = vdrv_alloc(6 + 8 * VDRV_QSIZE, 4096);
		if (!desc || !avail || !used)
			return -1;
		q->desc = (volatile struct vdrv_desc *)(uintptr_t)desc;
		q->avail = (volatile uint16_t *)(uintptr_t)avail;
		q->used = (volatile uint8_t *)(uintptr_t)used;
		q->avail_idx = q->last_used = 0;
		/* Polling driver: ask for no interrupts. */
		q->avail[0] = 1;
		mmio_write32(b + REG_QUEUE_NUM, VDRV_QSIZE);
		mmio_write32(b + REG_DESC_LO, (uint32_t)desc);
		mmio_write32(b + REG_DESC_HI, (uint32_t)(desc >> 32));
		mmio_write32(b + REG_DRIVER_LO, (uint32_t)avail);
		mmio_write32(b + REG_DRIVER_HI, (uint32_t)(avail >> 32));
		mmio_write32(b + REG_DEVICE_LO, (uint32_t)used);
		mmio_write32(b + REG_DEVICE_HI, (uint32_t)(used >> 32));
		mmio_write32(b + REG_QUEUE_READY, 1);
	}
	d->n_queues = n_queues;
	mmio_write32(b + REG_STATUS, 3 | 8 | 4);
	return (mmio_read32(b + REG_STATUS) & 0x44) == 4 ? 0 : -1;
}

void vdrv_set_desc(struct vdrv_queue *q, uint16_t i, uint64_t addr, uint32_t len,
		   uint16_t flags, uint16_t next)
{
	q->desc[i].addr = addr;
	q->desc[i].len = len;
	q->desc[i].flags = flags;
	q->desc[i].next = next;
}

void vdrv_publish(struct vdrv_queue *q, uint16_t head)
{
	q->avail[2 + (q->avail_idx % VDRV_QSIZE)] = head;
	q->avail_idx++;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	q->avail[1] = q->avail_idx;
}

void vdrv_kick(const struct vdrv_dev *d, uint16_t qi)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	mmio_write32(d->base + REG_QUEUE_NOTIFY, qi);
}

int vdrv_poll_used(struct vdrv_queue *q, uint32_t *id, uint32_t *len)
{
	uint16_t idx = *(volatile uint16_t *)(q->used + 2);
	if (idx == q->last_used)
		return 0;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	volatile uint8_t *e = q->used + 4 + 8 * (q->last_used % VDRV_QSIZE);
	*id = *(volatile uint32_t *)e;
	*len = *(volatile uint32_t *)(e + 4);
	q->last_used++;
	return 1;
}

int vdrv_wait_used(struct vdrv_queue *q, uint32_t *id, uint32_t *len, uint64_t max_spins)
{
	for (uint64_t i = 0; i < max_spins; i++) {
		if (vdrv_poll_used(q, id, len))
			return 0;
		__asm__ volatile("pause");
	}
	return -1;
}
