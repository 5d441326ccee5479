/* virtio_blk: request parsing, validation and completion. See virtio_blk.h. */
#include "devices/virtio_blk.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/byteorder.h"
#include "devices/blk_backend.h"
#include "devices/virtio_mmio.h"
#include "devices/event_loop.h"

#define SECTOR 512u
#define BLK_HDR_LEN 16u
#define BLK_SEG_LEN 16u
#define BLK_CONFIG_SIZE 60u
/* One discard/write-zeroes segment per request; sizes in sectors. */
#define BLK_MAX_DISCARD_SECTORS_FILE (1u << 20)
#define BLK_MAX_DISCARD_SECTORS_BDEV (1u << 16)

struct blk_req {
	struct virtq_chain chain;
	uint16_t queue;
	bool busy;
	uint8_t *status;     /* last device-writable byte, in guest memory */
	uint32_t type;
	uint32_t expect;     /* bytes the backend must transfer for success */
	uint32_t written;    /* used.len on success */
	struct blk_req *next_free;
};

struct blk_queue {
	struct blk_req *reqs; /* VIRTIO_BLK_QUEUE_SIZE of them */
	struct blk_req *free;
	bool starved;         /* stopped popping for lack of a free request */
};

struct virtio_blk {
	struct virtio_mmio mmio;
	struct virtio_device_ops ops;
	struct blk_backend *be;
	struct event_loop *loop;
	bool loop_registered;
	uint8_t config[BLK_CONFIG_SIZE];
	char id[VIRTIO_BLK_ID_BYTES];
	unsigned num_queues;
	uint32_t max_discard_sectors;
	unsigned inflight;
	struct blk_queue q[VIRTIO_BLK_MAX_QUEUES];
};

static void blk_config_read(void *dev, uint32_t off, void *data, uint32_t len)
{
	struct virtio_blk *blk = dev;
	memcpy(data, blk->config + off, len);
}

static void req_free(struct virtio_blk *blk, struct blk_req *r)
{
	struct blk_queue *q = &blk->q[r->queue];
	r->busy = false;
	r->next_free = q->free;
	q->free = r;
}

/* Finish a request: status byte, used ring; the caller raises the interrupt. */
static void req_complete(struct virtio_blk *blk, struct blk_req *r, uint8_t status)
{
	*(volatile uint8_t *)r->status = status;
	uint32_t written = status == VIRTIO_BLK_S_OK ? r->written
			 : r->type == VIRTIO_BLK_T_IN ? r->chain.in_len : 1;
	virtq_push(&blk->mmio.queue[r->queue], r->chain.head, written);
	req_free(blk, r);
}

/* Cut the status byte off the end of the writable part. */
static bool take_status(struct blk_req *r)
{
	struct virtq_chain *c = &r->chain;
	if (c->in_len < 1)
		return false;
	struct iovec *last = &c->iov[c->n_out + c->n_in - 1];
	r->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	if (--last->iov_len == 0)
		c->n_in--;
	return true;
}

/* Drop the first `skip` bytes of the readable part (the header). */
static void skip_out(struct virtq_chain *c, uint32_t skip)
{
	while (skip && c->n_out) {
		if (c->iov[0].iov_len > skip) {
			c->iov[0].iov_base = (uint8_t *)c->iov[0].iov_base + skip;
			c->iov[0].iov_len -= skip;
			return;
		}
		skip -= (uint32_t)c->iov[0].iov_len;
		memmove(&c->iov[0], &c->iov[1], (c->n_out + c->n_in - 1u) * sizeof(c->iov[0]));
		c->n_out--;
	}
}

static bool range_ok(const struct virtio_blk *blk, uint64_t sector, uint64_t bytes)
{
	uint64_t cap = blk_backend_info(blk->be)->size / SECTOR;
	return bytes % SECTOR == 0 && sector <= cap && bytes / SECTOR <= cap - sector;
}

/* Validate one request and hand it to the backend, or answer it at once.
 * Returns true if it was completed immediately. */
static bool req_start(struct virtio_blk *blk, struct blk_req *r)
{
	const struct blk_backend_info *info = blk_backend_info(blk->be);
	struct virtq_chain *c = &r->chain;
	uint8_t hdr[BLK_HDR_LEN];
	uint32_t out_len = c->out_len;

	if (out_len < BLK_HDR_LEN || iov_to_buf(c->iov, c->n_out, 0, hdr, sizeof(hdr)) != sizeof(hdr)) {
		r->type = UINT32_MAX;
		req_complete(blk, r, VIRTIO_BLK_S_IOERR);
		return true;
	}
	uint32_t type;
	uint64_t sector;
	memcpy(&type, hdr, 4);
	memcpy(&sector, hdr + 8, 8);
	r->type = type = le32toh(type);
	sector = le64toh(sector);
	skip_out(c, BLK_HDR_LEN);
	out_len -= BLK_HDR_LEN;
	uint32_t in_len = c->in_len - 1; /* writable bytes before the status byte */
	const struct iovec *in_iov = &c->iov[c->n_out];
	enum blk_op op;
	uint64_t off = 0, len = 0;
	bool unmap = false;
	int sync_res = 0;

	r->written = 1;
	switch (type) {
	case VIRTIO_BLK_T_IN:
		if (out_len || sector > UINT64_MAX / SECTOR || !range_ok(blk, sector, in_len))
			goto ioerr;
		op = BLK_OP_READ, off = sector * SECTOR, len = in_len;
		r->written = in_len + 1;
		break;
	case VIRTIO_BLK_T_OUT:
		if (info->read_only || in_len || sector > UINT64_MAX / SECTOR ||
		    !range_ok(blk, sector, out_len))
			goto ioerr;
		op = BLK_OP_WRITE, off = sector * SECTOR, len = out_len;
		break;
	case VIRTIO_BLK_T_FLUSH:
		if (info->read_only) {
			req_complete(blk, r, VIRTIO_BLK_S_OK); /* nothing can be dirty */
			return true;
		}
		op = BLK_OP_FLUSH;
		break;
	case VIRTIO_BLK_T_GET_ID: {
		uint32_t n = in_len < VIRTIO_BLK_ID_BYTES ? in_len : VIRTIO_BLK_ID_BYTES;
		iov_from_buf(in_iov, c->n_in, 0, blk->id, n);
		r->written = n + 1;
		req_complete(blk, r, VIRTIO_BLK_S_OK);
		return true;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: {
		bool discard = type == VIRTIO_BLK_T_DISCARD;
		if (discard ? !info->can_discard : !info->can_write_zeroes) {
			req_complete(blk, r, VIRTIO_BLK_S_UNSUPP);
			return true;
		}
		uint8_t seg[BLK_SEG_LEN];
		if (info->read_only || out_len != BLK_SEG_LEN ||
		    iov_to_buf(c->iov, c->n_out, 0, seg, sizeof(seg)) != sizeof(seg))
			goto ioerr;
		uint64_t s;
		uint32_t n, flags;
		memcpy(&s, seg, 8);
		memcpy(&n, seg + 8, 4);
		memcpy(&flags, seg + 12, 4);
		s = le64toh(s), n = le32toh(n), flags = le32toh(flags);
		/* Reserved flag bits, or unmap on a discard: not supported (5.2.6.2). */
		if ((flags & ~1u) || (discard && (flags & 1u))) {
			req_complete(blk, r, VIRTIO_BLK_S_UNSUPP);
			return true;
		}
		if (n == 0 || n > blk->max_discard_sectors || !range_ok(blk, s, (uint64_t)n * SECTOR))
			goto ioerr;
		op = discard ? BLK_OP_DISCARD : BLK_OP_WRITE_ZEROES;
		off = s * SECTOR, len = (uint64_t)n * SECTOR;
		unmap = flags & 1u;
		break;
	}
	default:
		req_complete(blk, r, VIRTIO_BLK_S_UNSUPP);
		return true;
	}
	r->expect = (op == BLK_OP_READ || op == BLK_OP_WRITE) ? (uint32_t)len : 0;
	const struct iovec *iov = op == BLK_OP_READ ? in_iov : c->iov;
	unsigned n_iov = op == BLK_OP_READ ? c->n_in : c->n_out;
	if (len == 0 && (op == BLK_OP_READ || op == BLK_OP_WRITE)) {
		req_complete(blk, r, VIRTIO_BLK_S_OK);
		return true;
	}
	int q = blk_backend_queue(blk->be, op, iov, n_iov, off, len, unmap, r, &sync_res);
	if (q == -EAGAIN) {
		blk_backend_submit(blk->be);
		q = blk_backend_queue(blk->be, op, iov, n_iov, off, len, unmap, r, &sync_res);
	}
	if (q == 1) {
		req_complete(blk, r, sync_res < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
		return true;
	}
	if (q < 0)
		goto ioerr;
	blk->inflight++;
	return false;
ioerr:
	req_complete(blk, r, VIRTIO_BLK_S_IOERR);
	return true;
}

static void backend_done(void *ctx, void *tag, int res)
{
	struct virtio_blk *blk = ctx;
	struct blk_req *r = tag;
	blk->inflight--;
	bool ok = res >= 0 && (uint32_t)res == r->expect;
	req_complete(blk, r, ok ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR);
}

static void process_queue(struct virtio_blk *blk, uint16_t qi);

/* Lock held. Reap finished I/O (waiting for `wait_for`), signal the driver,
 * and restart queues that ran out of request slots. */
static void reap(struct virtio_blk *blk, unsigned wait_for)
{
	if (blk_backend_reap(blk->be, wait_for, backend_done, blk) <= 0)
		return;
	for (uint16_t qi = 0; qi < blk->num_queues; qi++) {
		virtio_mmio_notify_used(&blk->mmio, qi);
		if (blk->q[qi].starved && blk->q[qi].free) {
			blk->q[qi].starved = false;
			process_queue(blk, qi);
		}
	}
}

static void process_queue(struct virtio_blk *blk, uint16_t qi)
{
	struct virtq *vq = &blk->mmio.queue[qi];
	struct blk_queue *q = &blk->q[qi];
again:
	for (;;) {
		while (q->free) {
			struct blk_req *r = q->free;
			int p = virtq_pop(vq, &r->chain);
			if (p == 0)
				break;
			if (p < 0) {
				virtio_mmio_fail(&blk->mmio);
				goto out;
			}
			q->free = r->next_free;
			r->busy = true;
			r->queue = qi;
			if (!take_status(r)) {
				/* No byte to report status in: the driver is broken. */
				req_free(blk, r);
				virtio_mmio_fail(&blk->mmio);
				goto out;
			}
			req_start(blk, r);
		}
		if (!q->free) {
			q->starved = true; /* resumed when a completion frees a slot */
			break;
		}
		if (!virtq_enable_notify(vq))
			break;
	}
out:
	blk_backend_submit(blk->be);
	/* Page-cache hits complete inside the submit: hand them back here rather
	 * than after a trip through the event loop. */
	if (blk->loop && blk->inflight && blk_backend_reap(blk->be, 0, backend_done, blk) > 0) {
		for (uint16_t qj = 0; qj < blk->num_queues; qj++) {
			if (qj == qi)
				continue;
			virtio_mmio_notify_used(&blk->mmio, qj);
			/* Another queue waiting for slots: let the loop resume it
			 * (no recursion into it from here). */
			if (blk->q[qj].starved && blk->q[qj].free)
				blk_backend_poke(blk->be);
		}
		if (q->starved && q->free && virtio_mmio_running(&blk->mmio)) {
			q->starved = false;
			goto again;
		}
	}
	virtio_mmio_notify_used(&blk->mmio, qi);
	if (!blk->loop) {
		/* No event loop (unit tests): finish everything before returning. */
		while (blk->inflight)
			reap(blk, blk->inflight);
	}
}

static void blk_notify(void *dev, uint16_t qi)
{
	struct virtio_blk *blk = dev;
	if (qi < blk->num_queues)
		process_queue(blk, qi);
}

static void on_completion(void *ctx, uint32_t events)
{
	struct virtio_blk *blk = ctx;
	(void)events;
	virtio_mmio_lock(&blk->mmio);
	reap(blk, 0);
	virtio_mmio_unlock(&blk->mmio);
}

static void blk_reset(void *dev)
{
	struct virtio_blk *blk = dev;
	/* In-flight reads still write into guest memory: wait for all of them
	 * before the driver may reuse its buffers (the status write that resets
	 * the device returns only then). */
	while (blk->inflight) {
		int n = blk_backend_reap(blk->be, blk->inflight, backend_done, blk);
		if (n < 0)
			break;
	}
	for (unsigned qi = 0; qi < blk->num_queues; qi++) {
		struct blk_queue *q = &blk->q[qi];
		q->free = NULL;
		q->starved = false;
		for (unsigned i = VIRTIO_BLK_QUEUE_SIZE; i-- > 0;) {
			q->reqs[i].busy = false;
			q->reqs[i].queue = (uint16_t)qi;
			q->reqs[i].next_free = q->free;
			q->free = &q->reqs[i];
		}
	}
}

static void build_config(struct virtio_blk *blk, uint64_t *features)
{
	const struct blk_backend_info *info = blk_backend_info(blk->be);
	uint8_t *c = blk->config;
	le_put64(c + 0, info->size / SECTOR);          /* capacity */
	le_put32(c + 12, VIRTQ_MAX_CHAIN - 2);         /* seg_max: header and status take two */
	le_put32(c + 20, info->logical_block_size);    /* blk_size */
	le_put16(c + 34, (uint16_t)blk->num_queues);   /* num_queues */
	le_put32(c + 36, blk->max_discard_sectors);    /* max_discard_sectors */
	le_put32(c + 40, 1);                           /* max_discard_seg */
	le_put32(c + 44, info->logical_block_size / SECTOR); /* discard_sector_alignment */
	le_put32(c + 48, blk->max_discard_sectors);    /* max_write_zeroes_sectors */
	le_put32(c + 52, 1);                           /* max_write_zeroes_seg */
	c[56] = info->can_discard;                  /* write_zeroes_may_unmap */
	*features = (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
		    (1ull << VIRTIO_BLK_F_FLUSH);
	if (info->read_only)
		*features |= 1ull << VIRTIO_BLK_F_RO;
	if (blk->num_queues > 1)
		*features |= 1ull << VIRTIO_BLK_F_MQ;
	if (!info->read_only && info->can_discard)
		*features |= 1ull << VIRTIO_BLK_F_DISCARD;
	if (!info->read_only && info->can_write_zeroes)
		*features |= 1ull << VIRTIO_BLK_F_WRITE_ZEROES;
}

struct virtio_blk *virtio_blk_create(const struct device_host *host, uint64_t base,
				     uint32_t gsi, const struct virtio_blk_opts *opts,
				     struct errbuf *eb)
{
	unsigned nq = opts->num_queues ? opts->num_queues : 1;
	if (nq > VIRTIO_BLK_MAX_QUEUES) {
		errbuf_set(eb, EINVAL, "%s: %u queues requested, at most %u", opts->path, nq,
			   VIRTIO_BLK_MAX_QUEUES);
		return NULL;
	}
	if (opts->serial && strlen(opts->serial) > VIRTIO_BLK_ID_BYTES) {
		errbuf_set(eb, EINVAL, "%s: serial '%s' is longer than %u bytes", opts->path,
			   opts->serial, VIRTIO_BLK_ID_BYTES);
		return NULL;
	}
	struct virtio_blk *blk = calloc(1, sizeof(*blk));
	if (!blk) {
		errbuf_set(eb, ENOMEM, "virtio-blk: out of memory");
		return NULL;
	}
	blk->num_queues = nq;
	blk->loop = host->loop;
	for (unsigned qi = 0; qi < nq; qi++) {
		/* Untouched pages of a large calloc cost no RSS until used. */
		blk->q[qi].reqs = calloc(VIRTIO_BLK_QUEUE_SIZE, sizeof(struct blk_req));
		if (!blk->q[qi].reqs) {
			errbuf_set(eb, ENOMEM, "virtio-blk: out of memory");
			goto fail;
		}
	}
	if (blk_backend_open(opts->path, opts->read_only, nq * VIRTIO_BLK_QUEUE_SIZE, &blk->be, eb) < 0)
		goto fail;
	const struct blk_backend_info *info = blk_backend_info(blk->be);
	blk->max_discard_sectors =
		info->is_block_device ? BLK_MAX_DISCARD_SECTORS_BDEV : BLK_MAX_DISCARD_SECTORS_FILE;
	if (opts->serial)
		memcpy(blk->id, opts->serial, strlen(opts->serial));
	else
		snprintf(blk->id, sizeof(blk->id), "%" PRIx64 "-%" PRIx64, info->dev, info->ino);
	blk_reset(blk);
	blk->ops = (struct virtio_device_ops){
		.device_id = VIRTIO_ID_BLOCK,
		.num_queues = (uint16_t)nq,
		.queue_max = VIRTIO_BLK_QUEUE_SIZE,
		.config_read = blk_config_read,
		.config_size = BLK_CONFIG_SIZE,
		.notify = blk_notify,
		.reset = blk_reset,
	};
	build_config(blk, &blk->ops.features);
	if (virtio_mmio_init(&blk->mmio, host, base, gsi, &blk->ops, blk, eb) < 0) {
		errbuf_prefix(eb, "%s", opts->path);
		goto fail;
	}
	if (blk->loop) {
		int r = event_loop_add_fd(blk->loop, blk_backend_eventfd(blk->be), POLLIN,
					  on_completion, blk);
		if (r < 0) {
			errbuf_set(eb, -r, "%s: event loop: %s", opts->path, strerror(-r));
			goto fail;
		}
		blk->loop_registered = true;
	}
	return blk;
fail:
	virtio_blk_destroy(blk);
	return NULL;
}

void virtio_blk_destroy(struct virtio_blk *blk)
{
	if (!blk)
		return;
	if (blk->be) {
		if (blk->loop_registered)
			event_loop_remove_fd(blk->loop, blk_backend_eventfd(blk->be));
		if (blk->mmio.ops) {
			virtio_mmio_lock(&blk->mmio);
			blk_reset(blk);
			virtio_mmio_unlock(&blk->mmio);
		}
	}
	virtio_mmio_destroy(&blk->mmio);
	blk_backend_close(blk->be);
	for (unsigned qi = 0; qi < VIRTIO_BLK_MAX_QUEUES; qi++)
		free(blk->q[qi].reqs);
	free(blk);
}

struct virtio_mmio *virtio_blk_transport(struct virtio_blk *blk)
{
	return &blk->mmio;
}
