/* virtqueue: the device side of a split virtqueue (virtio 1.2, 2.7), hardened
 * against a hostile driver.
 *
 * The guest owns the descriptor table and both rings and may change them at
 * any moment, so every field is read once into host memory, checked, and only
 * then used. Buffers are reached only through guest_mem_ptr(); a chain that is
 * out of guest RAM, loops, is longer than the queue, nests indirect tables,
 * puts device-readable buffers after device-writable ones, or exceeds the
 * byte cap is refused with -EINVAL and the caller puts the device into
 * DEVICE_NEEDS_RESET (virtio_mmio_fail()). Nothing here allocates. */
#ifndef PARMA_DEVICES_VIRTQUEUE_H
#define PARMA_DEVICES_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/guest_mem.h"

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

/* Feature bits a virtqueue implements (transport offers them). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29

/* Largest queue a device may offer, and most descriptors in one chain
 * (direct + indirect together): bounds the iovec array of a chain. */
#define VIRTQ_MAX_SIZE 256u
#define VIRTQ_MAX_CHAIN 256u
/* Most bytes one chain may describe (each direction): keeps used.len and every
 * length sum far from overflow and bounds the work one request can ask for. */
#define VIRTQ_MAX_CHAIN_BYTES (256u << 20)

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* One popped chain: device-readable ("out") iovecs first, then
 * device-writable ("in") iovecs, all pointing into guest RAM. */
struct virtq_chain {
	uint16_t head;
	uint16_t n_out;
	uint16_t n_in;
	uint32_t out_len;
	uint32_t in_len;
	struct iovec iov[VIRTQ_MAX_CHAIN];
};

struct virtq {
	/* Set by the driver through the transport. */
	uint16_t size;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	bool event_idx;  /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;   /* VIRTIO_F_INDIRECT_DESC negotiated */

	/* Valid after virtq_activate(): host views of the ring structures. */
	const struct guest_mem *mem;
	struct virtq_desc *desc;
	uint16_t *avail;  /* flags, idx, ring[size], used_event */
	uint8_t *used;    /* flags, idx, ring[size] of {id, len}, avail_event */
	bool active;

	uint16_t last_avail;    /* next avail entry the device will read */
	uint16_t used_idx;      /* device's shadow of used->idx */
	uint16_t signalled_used;
	bool signalled_valid;
};

/* Check the driver's ring addresses and size and map the rings. Returns 0 or
 * -EINVAL (size not a power of two within max_size, misaligned or outside RAM). */
int virtq_activate(struct virtq *q, const struct guest_mem *mem, uint16_t max_size);

/* Forget all state (device reset). */
void virtq_reset(struct virtq *q);

/* Pop the next available chain into *c. Returns 1 if one was popped, 0 if the
 * ring is empty, -EINVAL if the chain or the ring is malformed (the device
 * must then stop using this queue and ask for a reset). */
int virtq_pop(struct virtq *q, struct virtq_chain *c);

/* Put a chain back that was popped but not consumed (no buffer for it yet). */
void virtq_unpop(struct virtq *q);

/* Return a chain with `written` bytes written to its device-writable part. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t written);

/* After pushes: true if the driver wants an interrupt now (event-idx or
 * NO_INTERRUPT suppression), and remember that it was signalled. */
bool virtq_should_notify(struct virtq *q);

/* Re-enable driver notifications before going idle; returns true if more
 * buffers arrived meanwhile (the caller then processes the queue again). */
bool virtq_enable_notify(struct virtq *q);

/* Copy helpers over an iovec array (stop at the end of the array). */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t skip, const void *buf,
		    size_t len);

/* Build in `out` (room for max entries) the sub-range [skip, skip+len) of
 * iov[0..n). Returns the entry count, or -E2BIG / -EINVAL if it does not fit. */
int iov_slice(const struct iovec *iov, unsigned n, size_t skip, size_t len,
	      struct iovec *out, unsigned max);

#endif
