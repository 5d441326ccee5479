/* blk_backend_uring: io_uring implementation of blk_backend.h. */
#include "devices/blk_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

struct blk_backend {
	struct io_uring ring;
	bool ring_ok;
	int fd;
	int event_fd;
	unsigned queued; /* SQEs prepared but not yet submitted */
	struct blk_backend_info info;
};

/* The only operations the ring may ever carry. */
static const uint8_t allowed_ops[] = {
	IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC, IORING_OP_FALLOCATE,
};

static int ring_setup(struct blk_backend *be, unsigned depth, const char *path,
		      struct errbuf *eb)
{
	struct io_uring_params p = { .flags = IORING_SETUP_R_DISABLED | IORING_SETUP_CQSIZE,
				     .cq_entries = 2 * depth };
	int r = io_uring_queue_init_params(depth, &be->ring, &p);
	if (r < 0)
		return errbuf_set(eb, -r, "%s: io_uring setup (disabled ring, %u entries): %s%s", path,
				  depth, strerror(-r),
				  r == -EINVAL ? " (the kernel needs IORING_SETUP_R_DISABLED, Linux 5.10+)" : "");
	be->ring_ok = true;
	r = io_uring_register_files(&be->ring, &be->fd, 1);
	if (r < 0)
		return errbuf_set(eb, -r, "%s: io_uring: registering the disk as fixed file: %s",
				  path, strerror(-r));
	r = io_uring_register_eventfd(&be->ring, be->event_fd);
	if (r < 0)
		return errbuf_set(eb, -r, "%s: io_uring: registering the completion eventfd: %s",
				  path, strerror(-r));
	struct io_uring_restriction res[sizeof(allowed_ops) + 2];
	unsigned n = 0;
	memset(res, 0, sizeof(res));
	for (unsigned i = 0; i < sizeof(allowed_ops); i++) {
		res[n].opcode = IORING_RESTRICTION_SQE_OP;
		res[n++].sqe_op = allowed_ops[i];
	}
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED;
	res[n++].sqe_flags = IOSQE_FIXED_FILE;
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
	res[n++].sqe_flags = IOSQE_FIXED_FILE;
	/* Debian's liburing 2.3 declares io_uring_register_restrictions() and
	 * io_uring_enable_rings() but does not export them: use the raw
	 * registration call, which it does export. */
	r = io_uring_register(be->ring.ring_fd, IORING_REGISTER_RESTRICTIONS, res, n);
	if (r < 0)
		return errbuf_set(eb, -r, "%s: io_uring restrictions not supported (%s): the kernel needs "
				  "IORING_REGISTER_RESTRICTIONS, Linux 5.10+", path, strerror(-r));
	r = io_uring_register(be->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	if (r < 0)
		return errbuf_set(eb, -r, "%s: io_uring: enabling the ring: %s", path, strerror(-r));
	return 0;
}

/* Does the block device discard? (its queue's discard_max_bytes > 0) */
static bool bdev_discards(dev_t rdev)
{
	char p[96], buf[32] = "";
	snprintf(p, sizeof(p), "/sys/dev/block/%u:%u/queue/discard_max_bytes", major(rdev),
		 minor(rdev));
	FILE *f = fopen(p, "re");
	if (!f)
		return false;
	bool ok = fgets(buf, sizeof(buf), f) && strtoull(buf, NULL, 10) > 0;
	fclose(f);
	return ok;
}

/* Probe hole punching and zeroing on a regular file past its end, where the
 * data cannot change, and undo any allocation the zeroing probe made. */
static void file_probe(struct blk_backend *be)
{
	off_t at = (off_t)((be->info.size + 4095) & ~4095ull);
	be->info.can_discard =
		fallocate(be->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, at, 4096) == 0;
	be->info.can_write_zeroes =
		be->info.can_discard &&
		fallocate(be->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, at, 4096) == 0;
	if (be->info.can_write_zeroes)
		(void)fallocate(be->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, at, 4096);
}

int blk_backend_open(const char *path, bool read_only, unsigned depth,
		     struct blk_backend **out, struct errbuf *eb)
{
	*out = NULL;
	if (depth == 0 || depth > 4096)
		return errbuf_set(eb, EINVAL, "%s: queue depth %u out of range 1..4096", path, depth);
	struct blk_backend *be = calloc(1, sizeof(*be));
	if (!be)
		return errbuf_set(eb, ENOMEM, "%s: out of memory", path);
	be->event_fd = -1;
	int r;
	be->fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (be->fd < 0) {
		r = errbuf_set(eb, errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	struct stat st;
	if (fstat(be->fd, &st) < 0) {
		r = errbuf_set(eb, errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	be->info.read_only = read_only;
	be->info.logical_block_size = 512;
	be->info.dev = st.st_dev;
	be->info.ino = st.st_ino;
	if (S_ISBLK(st.st_mode)) {
		uint64_t size;
		int lbs;
		if (ioctl(be->fd, BLKGETSIZE64, &size) < 0 || ioctl(be->fd, BLKSSZGET, &lbs) < 0) {
			r = errbuf_set(eb, errno, "%s: block device size: %s", path, strerror(errno));
			goto fail;
		}
		be->info.size = size;
		be->info.logical_block_size = lbs >= 512 && lbs <= 65536 ? (uint32_t)lbs : 512;
		be->info.is_block_device = true;
		be->info.can_discard = !read_only && bdev_discards(st.st_rdev);
		be->info.can_write_zeroes = !read_only;
		be->info.dev = st.st_rdev;
	} else if (S_ISREG(st.st_mode)) {
		be->info.size = (uint64_t)st.st_size;
		if (!read_only)
			file_probe(be);
	} else {
		r = errbuf_set(eb, EINVAL, "%s: not a regular file or block device", path);
		goto fail;
	}
	be->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (be->event_fd < 0) {
		r = errbuf_set(eb, errno, "%s: eventfd: %s", path, strerror(errno));
		goto fail;
	}
	r = ring_setup(be, depth, path, eb);
	if (r < 0)
		goto fail;
	*out = be;
	return 0;
fail:
	blk_backend_close(be);
	return r;
}

void blk_backend_close(struct blk_backend *be)
{
	if (!be)
		return;
	if (be->ring_ok)
		io_uring_queue_exit(&be->ring);
	if (be->event_fd >= 0)
		close(be->event_fd);
	if (be->fd >= 0)
		close(be->fd);
	free(be);
}

const struct blk_backend_info *blk_backend_info(const struct blk_backend *be)
{
	return &be->info;
}

int blk_backend_eventfd(const struct blk_backend *be)
{
	return be->event_fd;
}

int blk_backend_queue(struct blk_backend *be, enum blk_op op, const struct iovec *iov,
		      unsigned n_iov, uint64_t off, uint64_t len, bool unmap, void *tag,
		      int *sync_res)
{
	if (off > INT64_MAX || len > INT64_MAX - off)
		return -EINVAL;
	if (op == BLK_OP_DISCARD && be->info.is_block_device) {
		uint64_t range[2] = { off, len };
		*sync_res = ioctl(be->fd, BLKDISCARD, range) < 0 ? -errno : 0;
		return 1;
	}
	struct io_uring_sqe *sqe = io_uring_get_sqe(&be->ring);
	if (!sqe)
		return -EAGAIN;
	switch (op) {
	case BLK_OP_READ:
		io_uring_prep_readv(sqe, 0, iov, n_iov, off);
		break;
	case BLK_OP_WRITE:
		io_uring_prep_writev(sqe, 0, iov, n_iov, off);
		break;
	case BLK_OP_FLUSH:
		io_uring_prep_fsync(sqe, 0, IORING_FSYNC_DATASYNC);
		break;
	case BLK_OP_DISCARD: /* regular file */
		io_uring_prep_fallocate(sqe, 0, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
		break;
	case BLK_OP_WRITE_ZEROES:
		/* Block devices: ZERO_RANGE is the kernel's BLKZEROOUT path. Files:
		 * a punched hole reads back as zeroes and frees the space. */
		io_uring_prep_fallocate(sqe, 0,
					(unmap && !be->info.is_block_device ? FALLOC_FL_PUNCH_HOLE
									     : FALLOC_FL_ZERO_RANGE) |
						FALLOC_FL_KEEP_SIZE,
					off, len);
		break;
	default:
		return -EINVAL;
	}
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data(sqe, tag);
	be->queued++;
	return 0;
}

void blk_backend_poke(struct blk_backend *be)
{
	uint64_t one = 1;
	ssize_t r = write(be->event_fd, &one, sizeof(one));
	(void)r; /* EAGAIN only if already readable */
}

int blk_backend_submit(struct blk_backend *be)
{
	if (!be->queued)
		return 0;
	int r = io_uring_submit(&be->ring);
	if (r < 0)
		return r;
	be->queued = 0;
	return 0;
}

int blk_backend_reap(struct blk_backend *be, unsigned wait_for, blk_done_fn done, void *ctx)
{
	int n = 0;
	uint64_t v;
	if (read(be->event_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return -errno;
	for (;;) {
		struct io_uring_cqe *cqe;
		int r = (unsigned)n < wait_for ? io_uring_wait_cqe(&be->ring, &cqe)
					       : io_uring_peek_cqe(&be->ring, &cqe);
		if (r == -EAGAIN)
			break;
		if (r == -EINTR)
			continue;
		if (r < 0)
			return r;
		void *tag = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&be->ring, cqe);
		done(ctx, tag, res);
		n++;
	}
	return n;
}
