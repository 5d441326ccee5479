/* blk_backend: the host side of a virtio-blk disk — a raw file or a block
 * device driven through one hardened io_uring.
 *
 * The ring is created disabled (IORING_SETUP_R_DISABLED), the disk fd is
 * registered as fixed file 0, the completion eventfd is registered, then the
 * ring is restricted to exactly the opcodes a disk needs (READV, WRITEV, FSYNC,
 * FALLOCATE) with IOSQE_FIXED_FILE required on every SQE, and only then
 * enabled: even a compromised VMM cannot use this ring for anything but I/O
 * on this one disk. Kernels without these features (before 5.10) are refused
 * with an error saying so. */
#ifndef PARMA_DEVICES_BLK_BACKEND_H
#define PARMA_DEVICES_BLK_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/errbuf.h"

struct blk_backend;

struct blk_backend_info {
	uint64_t size;                /* bytes */
	uint32_t logical_block_size;  /* 512 for files; BLKSSZGET for block devices */
	bool read_only;
	bool is_block_device;
	bool can_discard;             /* DISCARD works (punch hole / BLKDISCARD) */
	bool can_write_zeroes;        /* WRITE_ZEROES works (zero range / punch hole) */
	uint64_t dev, ino;            /* identity of the file, for a default serial */
};

enum blk_op {
	BLK_OP_READ,
	BLK_OP_WRITE,
	BLK_OP_FLUSH,
	BLK_OP_DISCARD,
	BLK_OP_WRITE_ZEROES,
};

/* Open `path` (regular file or block device) with room for `depth`
 * operations in flight. Returns 0 or -errno with the path in eb. */
int blk_backend_open(const char *path, bool read_only, unsigned depth,
		     struct blk_backend **out, struct errbuf *eb);
void blk_backend_close(struct blk_backend *be);

const struct blk_backend_info *blk_backend_info(const struct blk_backend *be);

/* Readable when completions are waiting (register it with the event loop). */
int blk_backend_eventfd(const struct blk_backend *be);

/* Queue one operation on [off, off+len); READ/WRITE use iov (len = its total).
 * `unmap` lets WRITE_ZEROES deallocate. Completion reports `tag` with the
 * result (bytes transferred, 0, or -errno). Returns 0 or -EAGAIN if the
 * submission queue is full, or -errno. DISCARD on a block device runs
 * synchronously (no asynchronous discard opcode on the kernels we support)
 * and is still reported through the completion queue path: the return value
 * is then 1 and *sync_res holds its result. */
int blk_backend_queue(struct blk_backend *be, enum blk_op op, const struct iovec *iov,
		      unsigned n_iov, uint64_t off, uint64_t len, bool unmap, void *tag,
		      int *sync_res);

/* Make the completion eventfd readable, so its owner comes back to reap. */
void blk_backend_poke(struct blk_backend *be);

/* Hand queued operations to the kernel. Returns 0 or -errno. */
int blk_backend_submit(struct blk_backend *be);

typedef void (*blk_done_fn)(void *ctx, void *tag, int res);

/* Call done() for every finished operation, first waiting until at least
 * `wait_for` have finished. Returns the number reaped or -errno. */
int blk_backend_reap(struct blk_backend *be, unsigned wait_for, blk_done_fn done, void *ctx);

#endif
