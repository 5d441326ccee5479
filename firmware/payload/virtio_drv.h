/* virtio_drv: a minimal guest-side virtio-mmio (version 2) driver for the KVM
 * test payload — polling only, split rings, no interrupts. Devices are found
 * by probing the VMM's device MMIO windows (common/guest_abi/layout.h) for the virtio magic,
 * the same windows the boot descriptor and ACPI list. Freestanding. */
#ifndef PARMA_PAYLOAD_VIRTIO_DRV_H
#define PARMA_PAYLOAD_VIRTIO_DRV_H

#include <stdint.h>

#define VDRV_QSIZE 16u
#define VDRV_MAX_QUEUES 3u
/* Scratch RAM for rings and buffers: above the payload image, below the
 * initrd that the VMM places at the top of RAM (tests run with >= 64 MiB). */
#define VDRV_SCRATCH 0x800000ull
#define VDRV_SCRATCH_SIZE 0x1000000ull

struct vdrv_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vdrv_queue {
	volatile struct vdrv_desc *desc;
	volatile uint16_t *avail;
	volatile uint8_t *used;
	uint16_t avail_idx;
	uint16_t last_used;
};

struct vdrv_dev {
	uint64_t base;
	uint32_t device_id;
	unsigned n_queues;
	uint64_t features;
	struct vdrv_queue q[VDRV_MAX_QUEUES];
};

/* Find the nth device of a type (0 = first). Returns 0 or -1. */
int vdrv_find(uint32_t device_id, unsigned nth, struct vdrv_dev *d);
/* Reset, negotiate VERSION_1 (+ACCESS_PLATFORM if offered, + want & offered),
 * set up n_queues queues in scratch RAM, DRIVER_OK. Returns 0 or -1. */
int vdrv_init(struct vdrv_dev *d, uint64_t want, unsigned n_queues);
/* Bump allocator over the scratch area (aligned); 0 when exhausted.
 * vdrv_alloc zeroes the memory, vdrv_alloc_raw does not (large buffers). */
uint64_t vdrv_alloc(uint64_t size, uint64_t align);
uint64_t vdrv_alloc_raw(uint64_t size, uint64_t align);

uint32_t vdrv_config32(const struct vdrv_dev *d, uint32_t off);
uint64_t vdrv_config64(const struct vdrv_dev *d, uint32_t off);
uint32_t vdrv_status(const struct vdrv_dev *d);

void vdrv_set_desc(struct vdrv_queue *q, uint16_t i, uint64_t addr, uint32_t len,
		   uint16_t flags, uint16_t next);
void vdrv_publish(struct vdrv_queue *q, uint16_t head);
void vdrv_kick(const struct vdrv_dev *d, uint16_t qi);
/* Wait for a used element (bounded by ~`max_spins` polls). 0 or -1 on timeout. */
int vdrv_wait_used(struct vdrv_queue *q, uint32_t *id, uint32_t *len, uint64_t max_spins);
/* Non-blocking variant: 1 if one was taken, 0 if none. */
int vdrv_poll_used(struct vdrv_queue *q, uint32_t *id, uint32_t *len);

#endif
