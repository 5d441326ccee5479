/* virtio_vsock: hybrid vsock (Unix sockets on the host). See virtio_vsock.h.
 *
 * This file is the device: queues, config space, reset and life cycle. Packets are
 * vsock_packet.c, connections vsock_conn.c, the muxer of connections and host sockets
 * vsock_muxer.c; vsock_internal.h has what they share, and the locking and socket
 * readiness rules. */
#include "devices/virtio_vsock.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/event_loop.h"
#include "devices/vsock_internal.h"

static void tx_process(struct virtio_vsock *v)
{
	struct virtq *q = &v->mmio.queue[VSOCK_TXQ];
	bool pushed = false;
	for (;;) {
		int r;
		while ((r = virtq_pop(q, &v->chain)) == 1) {
			vsock_muxer_tx(v, &v->chain);
			virtq_push(q, v->chain.head, 0);
			pushed = true;
		}
		if (r < 0) {
			virtio_mmio_fail(&v->mmio);
			return;
		}
		if (!virtq_enable_notify(q))
			break;
	}
	if (pushed)
		virtio_mmio_notify_used(&v->mmio, VSOCK_TXQ);
}

static void event_process(struct virtio_vsock *v)
{
	struct virtq *q = &v->mmio.queue[VSOCK_EVQ];
	if (!v->event_pending || !virtio_mmio_running(&v->mmio) || !v->mmio.queue_ready[VSOCK_EVQ])
		return;
	int r = virtq_pop(q, &v->chain);
	if (r < 0 || (r == 1 && v->chain.in_len < 4)) {
		virtio_mmio_fail(&v->mmio);
		return;
	}
	if (r == 0)
		return;
	uint32_t id = htole32(VSOCK_EVENT_TRANSPORT_RESET);
	iov_from_buf(&v->chain.iov[v->chain.n_out], v->chain.n_in, 0, &id, 4);
	virtq_push(q, v->chain.head, 4);
	v->event_pending = false;
	virtio_mmio_notify_used(&v->mmio, VSOCK_EVQ);
}

static void vsock_notify(void *dev, uint16_t qi)
{
	struct virtio_vsock *v = dev;
	if (qi == VSOCK_TXQ)
		tx_process(v);
	if (qi == VSOCK_EVQ)
		event_process(v);
	if (virtio_mmio_running(&v->mmio))
		vsock_muxer_rx(v); /* new rx buffers, or replies queued by tx */
}

static void vsock_reset(void *dev)
{
	struct virtio_vsock *v = dev;
	vsock_muxer_kill_all(v, false);
	v->event_pending = false;
}

static void vsock_config_read(void *dev, uint32_t off, void *data, uint32_t len)
{
	struct virtio_vsock *v = dev;
	memcpy(data, v->config + off, len);
}

void virtio_vsock_reset_transport(struct virtio_vsock *v)
{
	virtio_mmio_lock(&v->mmio);
	vsock_muxer_kill_all(v, false);
	v->event_pending = true;
	event_process(v);
	virtio_mmio_unlock(&v->mmio);
}

unsigned virtio_vsock_conn_count(struct virtio_vsock *v)
{
	virtio_mmio_lock(&v->mmio);
	unsigned n = v->n_conns;
	virtio_mmio_unlock(&v->mmio);
	return n;
}

struct virtio_mmio *virtio_vsock_transport(struct virtio_vsock *v)
{
	return &v->mmio;
}

struct virtio_vsock *virtio_vsock_create(const struct device_host *host, uint64_t base,
					 uint32_t gsi, const struct virtio_vsock_opts *opts,
					 struct errbuf *eb)
{
	if (!host->loop) {
		errbuf_set(eb, EINVAL, "virtio-vsock: needs the event loop");
		return NULL;
	}
	if (opts->guest_cid < 3 || opts->guest_cid > UINT32_MAX - 1) {
		errbuf_set(eb, EINVAL, "virtio-vsock: guest CID %llu out of range 3..4294967294",
			   (unsigned long long)opts->guest_cid);
		return NULL;
	}
	struct virtio_vsock *v = calloc(1, sizeof(*v));
	if (!v) {
		errbuf_set(eb, ENOMEM, "virtio-vsock: out of memory");
		return NULL;
	}
	v->listen_fd = -1;
	v->loop = host->loop;
	v->guest_cid = opts->guest_cid;
	uint64_t cid = htole64(opts->guest_cid);
	memcpy(v->config, &cid, 8);
	v->max_conns = opts->max_conns ? opts->max_conns : VSOCK_MAX_CONNS_DEFAULT;
	v->next_port = VSOCK_FIRST_HOST_PORT;
	v->conns = calloc(v->max_conns, sizeof(*v->conns));
	if (!v->conns) {
		errbuf_set(eb, ENOMEM, "virtio-vsock: out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < v->max_conns; i++) {
		v->conns[i].v = v;
		v->conns[i].fd = -1;
	}
	v->ops = (struct virtio_device_ops){
		.device_id = VIRTIO_ID_VSOCK,
		.num_queues = VSOCK_NUM_QUEUES,
		.queue_max = VSOCK_QUEUE_SIZE,
		.config_read = vsock_config_read,
		.config_size = sizeof(v->config),
		.notify = vsock_notify,
		.reset = vsock_reset,
	};
	if (virtio_mmio_init(&v->mmio, host, base, gsi, &v->ops, v, eb) < 0)
		goto fail;
	if (vsock_muxer_listen(v, opts->uds_path, eb) < 0)
		goto fail;
	v->timeout_ns = (uint64_t)(opts->answer_timeout_ms ? opts->answer_timeout_ms
							     : VSOCK_ANSWER_TIMEOUT_MS) * 1000000ull;
	/* Check deadlines four times per timeout period. */
	v->timer_id = event_loop_add_timer(v->loop, v->timeout_ns / 4, true, vsock_muxer_on_tick, v);
	if (v->timer_id < 0) {
		errbuf_set(eb, -v->timer_id, "virtio-vsock: timer: %s", strerror(-v->timer_id));
		goto fail;
	}
	return v;
fail:
	virtio_vsock_destroy(v);
	return NULL;
}

void virtio_vsock_destroy(struct virtio_vsock *v)
{
	if (!v)
		return;
	if (v->timer_id > 0)
		event_loop_cancel_timer(v->loop, v->timer_id);
	if (v->listen_fd >= 0) {
		event_loop_remove_fd(v->loop, v->listen_fd);
		close(v->listen_fd);
		unlink(v->uds_path);
	}
	if (v->conns && v->mmio.ops) {
		virtio_mmio_lock(&v->mmio);
		vsock_muxer_kill_all(v, false);
		virtio_mmio_unlock(&v->mmio);
	}
	virtio_mmio_destroy(&v->mmio);
	free(v->conns);
	free(v);
}
