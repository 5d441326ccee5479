/* virtio_blk: a virtio block device (virtio 1.2, 5.2) over virtio-mmio, backed
 * by blk_backend (io_uring) on a raw file or block device.
 *
 * Requests: IN, OUT, FLUSH, GET_ID, and DISCARD / WRITE_ZEROES where the
 * backend can do them (one segment per request). Data moves with vectored
 * reads/writes straight between the disk and guest memory; nothing is copied
 * through the VMM. Several request queues (VIRTIO_BLK_F_MQ) share one ring.
 * A request that is well-formed as a chain but wrong as a block request (bad
 * type, out-of-range sector, misaligned length, write to a read-only disk)
 * completes with VIRTIO_BLK_S_IOERR or _UNSUPP; a chain without room for the
 * status byte puts the device in DEVICE_NEEDS_RESET. */
#ifndef PARMA_DEVICES_VIRTIO_BLK_H
#define PARMA_DEVICES_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "common/errbuf.h"
#include "devices/device.h"

#define VIRTIO_BLK_MAX_QUEUES 8u
#define VIRTIO_BLK_QUEUE_SIZE 256u
#define VIRTIO_BLK_ID_BYTES 20u

/* Request types and status values (virtio 1.2, 5.2.6). */
#define VIRTIO_BLK_T_IN 0u
#define VIRTIO_BLK_T_OUT 1u
#define VIRTIO_BLK_T_FLUSH 4u
#define VIRTIO_BLK_T_GET_ID 8u
#define VIRTIO_BLK_T_DISCARD 11u
#define VIRTIO_BLK_T_WRITE_ZEROES 13u
#define VIRTIO_BLK_S_OK 0u
#define VIRTIO_BLK_S_IOERR 1u
#define VIRTIO_BLK_S_UNSUPP 2u

/* Feature bits (virtio 1.2, 5.2.3). */
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

struct virtio_blk_opts {
	const char *path;      /* raw image file or block device */
	bool read_only;
	unsigned num_queues;   /* 1..VIRTIO_BLK_MAX_QUEUES (0 means 1) */
	const char *serial;    /* GET_ID answer (<= 20 bytes); NULL: derived from the file */
};

struct virtio_blk;

/* Create the device: open the backend, claim the register window at `base`
 * on host->mmio_bus, interrupts on `gsi`, and register the completion eventfd
 * with host->loop (if NULL, requests complete synchronously inside the
 * doorbell, which unit tests use). Returns NULL with a message in eb. */
struct virtio_blk *virtio_blk_create(const struct device_host *host, uint64_t base,
				     uint32_t gsi, const struct virtio_blk_opts *opts,
				     struct errbuf *eb);
void virtio_blk_destroy(struct virtio_blk *blk);

/* The transport, for tests that drive its registers directly. */
struct virtio_mmio *virtio_blk_transport(struct virtio_blk *blk);

#endif
