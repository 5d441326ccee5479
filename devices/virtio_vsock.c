/* virtio_vsock: hybrid vsock (Unix sockets on the host). See virtio_vsock.h.
 *
 * Everything runs under the transport lock: tx-queue doorbells (vCPU thread or
 * event loop), socket readiness callbacks (event loop). Connection slots are
 * allocated once and never freed before the device, so a readiness callback
 * that races with a connection's teardown sees a free or reused slot, never
 * freed memory; its events are only hints (every socket call is non-blocking).
 *
 * Socket readiness is treated as edge-triggered: `readable` stays set until a
 * read returns EAGAIN, so data the guest has no credit or buffers for yet is
 * picked up again when credit or buffers arrive. */
#include "devices/virtio_vsock.h"

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "devices/virtio_mmio.h"
#include "devices/event_loop.h"

enum { VSOCK_RXQ, VSOCK_TXQ, VSOCK_EVQ, VSOCK_NUM_QUEUES };

#define VSOCK_HASH 256u
#define VSOCK_RST_BACKLOG 64u
#define VSOCK_CONNECT_LINE_MAX 32u
/* Tell the guest about drained buffer space once this much has been forwarded. */
#define VSOCK_CREDIT_THRESHOLD (VSOCK_CONN_BUF / 4)
/* How long the guest has to answer a REQUEST or a host-side close, and a host
 * client to send its CONNECT line. */
#define VSOCK_ANSWER_TIMEOUT_MS 2000u

enum conn_state {
	CONN_FREE,
	CONN_HOST_LINE,   /* host socket accepted, waiting for "CONNECT <port>\n" */
	CONN_LOCAL_INIT,  /* REQUEST sent to the guest, waiting for RESPONSE */
	CONN_ESTABLISHED,
};

#define PEND_REQUEST 1u
#define PEND_RESPONSE 2u
#define PEND_SHUTDOWN 4u
#define PEND_CREDIT_UPDATE 8u

struct vsock_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
};

struct vsock_conn {
	struct virtio_vsock *v;
	enum conn_state state;
	int fd;
	uint32_t poll_mask;
	uint32_t local_port; /* host side (src_port of what we send) */
	uint32_t peer_port;  /* guest side */
	struct vsock_conn *hash_next;
	struct vsock_conn *rx_next;
	bool rx_listed;
	unsigned pending;
	bool readable;
	bool host_eof;
	bool shut_wr_after_flush;
	uint32_t peer_buf_alloc, peer_fwd_cnt; /* the guest's receive credit */
	uint32_t rx_cnt;            /* bytes sent to the guest */
	uint32_t fwd_cnt;           /* guest bytes delivered to the host socket */
	uint32_t last_fwd_cnt_sent;
	uint8_t *buf;               /* guest bytes the host socket has not taken yet */
	uint32_t buf_head, buf_len;
	uint64_t deadline_ns;       /* kill with RST if the guest has not answered by then */
};

struct rst_entry {
	uint32_t local_port, peer_port;
};

struct virtio_vsock {
	struct virtio_mmio mmio;
	struct virtio_device_ops ops;
	struct event_loop *loop;
	uint64_t guest_cid;
	uint8_t config[8];
	char uds_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd;
	unsigned max_conns, n_conns;
	struct vsock_conn *conns;
	struct vsock_conn *hash[VSOCK_HASH];
	struct vsock_conn *rx_head, *rx_tail;
	struct rst_entry rst[VSOCK_RST_BACKLOG];
	unsigned rst_head, rst_len;
	uint32_t next_port;
	uint64_t buffered;
	bool event_pending;
	int timer_id;
	uint64_t timeout_ns;
	struct virtq_chain chain; /* scratch, used under the lock */
};

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static unsigned hash_of(uint32_t local, uint32_t peer)
{
	return (local * 2654435761u ^ peer) % VSOCK_HASH;
}

static struct vsock_conn *conn_lookup(struct virtio_vsock *v, uint32_t local, uint32_t peer)
{
	for (struct vsock_conn *c = v->hash[hash_of(local, peer)]; c; c = c->hash_next)
		if (c->local_port == local && c->peer_port == peer)
			return c;
	return NULL;
}

static void hash_add(struct vsock_conn *c)
{
	unsigned h = hash_of(c->local_port, c->peer_port);
	c->hash_next = c->v->hash[h];
	c->v->hash[h] = c;
}

static void hash_del(struct vsock_conn *c)
{
	for (struct vsock_conn **p = &c->v->hash[hash_of(c->local_port, c->peer_port)]; *p;
	     p = &(*p)->hash_next)
		if (*p == c) {
			*p = c->hash_next;
			return;
		}
}

static void rx_list_add(struct vsock_conn *c)
{
	struct virtio_vsock *v = c->v;
	if (c->rx_listed)
		return;
	c->rx_listed = true;
	c->rx_next = NULL;
	if (v->rx_tail)
		v->rx_tail->rx_next = c;
	else
		v->rx_head = c;
	v->rx_tail = c;
}

static void rx_list_del(struct vsock_conn *c)
{
	struct virtio_vsock *v = c->v;
	if (!c->rx_listed)
		return;
	struct vsock_conn *prev = NULL;
	for (struct vsock_conn *x = v->rx_head; x; prev = x, x = x->rx_next)
		if (x == c) {
			if (prev)
				prev->rx_next = c->rx_next;
			else
				v->rx_head = c->rx_next;
			if (v->rx_tail == c)
				v->rx_tail = prev;
			break;
		}
	c->rx_listed = false;
	c->rx_next = NULL;
}

static void rst_queue(struct virtio_vsock *v, uint32_t local, uint32_t peer)
{
	if (v->rst_len == VSOCK_RST_BACKLOG)
		return; /* the guest is not reading; it will time out on its own */
	v->rst[(v->rst_head + v->rst_len++) % VSOCK_RST_BACKLOG] = (struct rst_entry){ local, peer };
}

/* Close a connection; tell the guest with RST if it knows about it. */
static void conn_kill(struct vsock_conn *c, bool rst)
{
	struct virtio_vsock *v = c->v;
	if (c->state == CONN_FREE)
		return;
	if (rst && c->state != CONN_HOST_LINE)
		rst_queue(v, c->local_port, c->peer_port);
	if (c->state != CONN_HOST_LINE)
		hash_del(c);
	rx_list_del(c);
	event_loop_remove_fd(v->loop, c->fd);
	close(c->fd);
	v->buffered -= c->buf_len;
	free(c->buf);
	struct virtio_vsock *keep = c->v;
	memset(c, 0, sizeof(*c));
	c->v = keep;
	c->fd = -1;
	c->state = CONN_FREE;
	v->n_conns--;
}

static void on_conn_event(void *ctx, uint32_t events);

static struct vsock_conn *conn_new(struct virtio_vsock *v, int fd, enum conn_state state)
{
	if (v->n_conns >= v->max_conns)
		return NULL;
	for (unsigned i = 0; i < v->max_conns; i++) {
		struct vsock_conn *c = &v->conns[i];
		if (c->state != CONN_FREE)
			continue;
		if (event_loop_add_fd(v->loop, fd, POLLIN, on_conn_event, c) < 0)
			return NULL;
		/* Room for a full credit window in the socket itself, so forwarding
		 * rarely falls back to our own buffer (and its POLLOUT round trip). */
		int sndbuf = 2 * VSOCK_CONN_BUF;
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
		c->state = state;
		c->fd = fd;
		c->poll_mask = POLLIN;
		v->n_conns++;
		return c;
	}
	return NULL;
}

static void set_pollout(struct vsock_conn *c, bool on)
{
	uint32_t mask = POLLIN | (on ? POLLOUT : 0);
	if (mask != c->poll_mask && event_loop_modify_fd(c->v->loop, c->fd, mask) == 0)
		c->poll_mask = mask;
}

static uint32_t peer_credit(const struct vsock_conn *c)
{
	uint32_t in_flight = c->rx_cnt - c->peer_fwd_cnt;
	return in_flight > c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

static bool conn_wants_rx(const struct vsock_conn *c)
{
	return c->pending || (c->state == CONN_ESTABLISHED && c->readable && !c->host_eof &&
			      peer_credit(c) > 0);
}

static void credit_maybe_update(struct vsock_conn *c)
{
	if (c->fwd_cnt - c->last_fwd_cnt_sent >= VSOCK_CREDIT_THRESHOLD) {
		c->pending |= PEND_CREDIT_UPDATE;
		rx_list_add(c);
	}
}

/* Write buffered guest bytes to the host socket. Returns false on a fatal error. */
static bool conn_flush(struct vsock_conn *c)
{
	while (c->buf_len) {
		uint32_t first = VSOCK_CONN_BUF - c->buf_head;
		struct iovec iov[2] = { { c->buf + c->buf_head, first < c->buf_len ? first : c->buf_len },
					{ c->buf, first < c->buf_len ? c->buf_len - first : 0 } };
		ssize_t n = writev(c->fd, iov, iov[1].iov_len ? 2 : 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return false;
		c->buf_head = (c->buf_head + (uint32_t)n) % VSOCK_CONN_BUF;
		c->buf_len -= (uint32_t)n;
		c->v->buffered -= (uint64_t)n;
		c->fwd_cnt += (uint32_t)n;
	}
	if (c->buf_len == 0 && c->shut_wr_after_flush) {
		shutdown(c->fd, SHUT_WR);
		c->shut_wr_after_flush = false;
	}
	set_pollout(c, c->buf_len > 0);
	credit_maybe_update(c);
	return true;
}

/* Forward guest payload to the host socket, buffering what it does not take.
 * Returns false if the connection must die (socket error, credit overrun). */
static bool conn_send_host(struct vsock_conn *c, const struct iovec *iov, unsigned n, uint32_t len)
{
	uint32_t done = 0;
	if (c->buf_len == 0) {
		ssize_t w;
		do
			w = writev(c->fd, iov, (int)n);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EAGAIN)
			return false;
		if (w > 0) {
			done = (uint32_t)w;
			c->fwd_cnt += done;
		}
	}
	uint32_t rest = len - done;
	if (rest) {
		/* The guest may only send what our advertised buffer can hold. */
		if (rest > VSOCK_CONN_BUF - c->buf_len || c->v->buffered + rest > VSOCK_MAX_BUFFERED)
			return false;
		if (!c->buf && !(c->buf = malloc(VSOCK_CONN_BUF)))
			return false;
		uint32_t tail = (c->buf_head + c->buf_len) % VSOCK_CONN_BUF;
		uint8_t tmp[4096];
		size_t off = done;
		while (rest) {
			size_t take = rest < sizeof(tmp) ? rest : sizeof(tmp);
			iov_to_buf(iov, n, off, tmp, take);
			for (size_t i = 0; i < take;) {
				size_t room = VSOCK_CONN_BUF - tail;
				size_t k = take - i < room ? take - i : room;
				memcpy(c->buf + tail, tmp + i, k);
				tail = (uint32_t)((tail + k) % VSOCK_CONN_BUF);
				i += k;
			}
			off += take;
			rest -= (uint32_t)take;
			c->buf_len += (uint32_t)take;
			c->v->buffered += take;
		}
		set_pollout(c, true);
	}
	credit_maybe_update(c);
	return true;
}

static void hdr_put(const struct vsock_hdr *h, uint8_t out[VSOCK_HDR_LEN])
{
	uint64_t q;
	uint32_t d;
	uint16_t w;
	q = htole64(h->src_cid), memcpy(out + 0, &q, 8);
	q = htole64(h->dst_cid), memcpy(out + 8, &q, 8);
	d = htole32(h->src_port), memcpy(out + 16, &d, 4);
	d = htole32(h->dst_port), memcpy(out + 20, &d, 4);
	d = htole32(h->len), memcpy(out + 24, &d, 4);
	w = htole16(h->type), memcpy(out + 28, &w, 2);
	w = htole16(h->op), memcpy(out + 30, &w, 2);
	d = htole32(h->flags), memcpy(out + 32, &d, 4);
	d = htole32(h->buf_alloc), memcpy(out + 36, &d, 4);
	d = htole32(h->fwd_cnt), memcpy(out + 40, &d, 4);
}

static void hdr_get(const uint8_t in[VSOCK_HDR_LEN], struct vsock_hdr *h)
{
	memcpy(&h->src_cid, in + 0, 8), h->src_cid = le64toh(h->src_cid);
	memcpy(&h->dst_cid, in + 8, 8), h->dst_cid = le64toh(h->dst_cid);
	memcpy(&h->src_port, in + 16, 4), h->src_port = le32toh(h->src_port);
	memcpy(&h->dst_port, in + 20, 4), h->dst_port = le32toh(h->dst_port);
	memcpy(&h->len, in + 24, 4), h->len = le32toh(h->len);
	memcpy(&h->type, in + 28, 2), h->type = le16toh(h->type);
	memcpy(&h->op, in + 30, 2), h->op = le16toh(h->op);
	memcpy(&h->flags, in + 32, 4), h->flags = le32toh(h->flags);
	memcpy(&h->buf_alloc, in + 36, 4), h->buf_alloc = le32toh(h->buf_alloc);
	memcpy(&h->fwd_cnt, in + 40, 4), h->fwd_cnt = le32toh(h->fwd_cnt);
}

/* Fill one rx buffer for connection c. Returns bytes written (0: nothing to say). */
static uint32_t conn_fill_rx(struct vsock_conn *c, struct virtq_chain *ch)
{
	struct virtio_vsock *v = c->v;
	struct vsock_hdr h = { .src_cid = VSOCK_HOST_CID, .dst_cid = v->guest_cid,
			       .src_port = c->local_port, .dst_port = c->peer_port,
			       .type = VSOCK_TYPE_STREAM, .buf_alloc = VSOCK_CONN_BUF };
	const struct iovec *in = &ch->iov[ch->n_out];
	if (c->pending & PEND_RESPONSE) {
		c->pending &= ~PEND_RESPONSE;
		h.op = VSOCK_OP_RESPONSE;
	} else if (c->pending & PEND_REQUEST) {
		c->pending &= ~PEND_REQUEST;
		h.op = VSOCK_OP_REQUEST;
	} else if (c->pending & PEND_SHUTDOWN) {
		c->pending &= ~PEND_SHUTDOWN;
		h.op = VSOCK_OP_SHUTDOWN;
		h.flags = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
	} else if (c->state == CONN_ESTABLISHED && c->readable && !c->host_eof &&
		   peer_credit(c) > 0 && ch->in_len <= VSOCK_HDR_LEN) {
		/* A buffer with no room for data (a broken guest): use it for our
		 * credit so the ring moves on to buffers that can carry data. */
		h.op = VSOCK_OP_CREDIT_UPDATE;
	} else if (c->state == CONN_ESTABLISHED && c->readable && !c->host_eof &&
		   peer_credit(c) > 0) {
		uint32_t want = ch->in_len - VSOCK_HDR_LEN;
		if (want > peer_credit(c))
			want = peer_credit(c);
		struct iovec payload[VIRTQ_MAX_CHAIN];
		int k = iov_slice(in, ch->n_in, VSOCK_HDR_LEN, want, payload, VIRTQ_MAX_CHAIN);
		ssize_t n;
		if (k <= 0) {
			n = -1;
			errno = EINVAL; /* cannot happen: the chain holds more than a header */
		} else {
			do
				n = readv(c->fd, payload, k);
			while (n < 0 && errno == EINTR);
		}
		if (n > 0) {
			h.op = VSOCK_OP_RW;
			h.len = (uint32_t)n;
			c->rx_cnt += (uint32_t)n;
		} else if (n == 0) {
			/* The host closed its end: tell the guest, wait for its RST. */
			c->host_eof = true;
			c->readable = false;
			c->deadline_ns = now_ns() + v->timeout_ns;
			h.op = VSOCK_OP_SHUTDOWN;
			h.flags = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
		} else if (errno == EAGAIN) {
			c->readable = false;
			if (!(c->pending & PEND_CREDIT_UPDATE))
				return 0;
			h.op = VSOCK_OP_CREDIT_UPDATE;
		} else {
			h.op = VSOCK_OP_RST;
		}
	} else if (c->pending & PEND_CREDIT_UPDATE) {
		h.op = VSOCK_OP_CREDIT_UPDATE;
	} else {
		return 0;
	}
	/* Every packet carries our credit, so a pending update is now sent. */
	c->pending &= ~PEND_CREDIT_UPDATE;
	h.fwd_cnt = c->fwd_cnt;
	c->last_fwd_cnt_sent = c->fwd_cnt;
	uint8_t raw[VSOCK_HDR_LEN];
	hdr_put(&h, raw);
	iov_from_buf(in, ch->n_in, 0, raw, sizeof(raw));
	if (h.op == VSOCK_OP_RST)
		conn_kill(c, false);
	return VSOCK_HDR_LEN + h.len;
}

/* Fill guest rx buffers with whatever connections have to say. */
static void rx_process(struct virtio_vsock *v)
{
	struct virtq *q = &v->mmio.queue[VSOCK_RXQ];
	bool pushed = false;
	if (!virtio_mmio_running(&v->mmio) || !v->mmio.queue_ready[VSOCK_RXQ])
		return;
	while (v->rst_len || v->rx_head) {
		int r = virtq_pop(q, &v->chain);
		if (r == 0)
			break;
		if (r < 0 || v->chain.n_out || v->chain.in_len < VSOCK_HDR_LEN) {
			/* rx buffers must be device-writable and hold a header */
			virtio_mmio_fail(&v->mmio);
			return;
		}
		uint32_t written;
		struct vsock_conn *c = NULL;
		if (v->rst_len) {
			struct rst_entry e = v->rst[v->rst_head];
			v->rst_head = (v->rst_head + 1) % VSOCK_RST_BACKLOG;
			v->rst_len--;
			struct vsock_hdr h = { .src_cid = VSOCK_HOST_CID, .dst_cid = v->guest_cid,
					       .src_port = e.local_port, .dst_port = e.peer_port,
					       .type = VSOCK_TYPE_STREAM, .op = VSOCK_OP_RST };
			uint8_t raw[VSOCK_HDR_LEN];
			hdr_put(&h, raw);
			iov_from_buf(&v->chain.iov[0], v->chain.n_in, 0, raw, sizeof(raw));
			written = VSOCK_HDR_LEN;
		} else {
			c = v->rx_head;
			rx_list_del(c);
			written = conn_fill_rx(c, &v->chain);
			if (c->state != CONN_FREE && conn_wants_rx(c))
				rx_list_add(c);
		}
		if (!written) {
			virtq_unpop(q);
			/* This buffer cannot carry what c has (a guest posting buffers
			 * of just a header): stop instead of retrying it forever. */
			if (c && c->state != CONN_FREE && c->rx_listed)
				break;
			continue;
		}
		virtq_push(q, v->chain.head, written);
		pushed = true;
	}
	if (pushed)
		virtio_mmio_notify_used(&v->mmio, VSOCK_RXQ);
}

static void guest_connect(struct virtio_vsock *v, const struct vsock_hdr *h)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", v->uds_path, h->dst_port);
	int fd = -1;
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path) || v->n_conns >= v->max_conns)
		goto refuse;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto refuse;
	struct vsock_conn *c = conn_new(v, fd, CONN_ESTABLISHED);
	if (!c)
		goto refuse;
	c->local_port = h->dst_port;
	c->peer_port = h->src_port;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	c->pending = PEND_RESPONSE;
	hash_add(c);
	rx_list_add(c);
	return;
refuse:
	if (fd >= 0)
		close(fd);
	rst_queue(v, h->dst_port, h->src_port);
}

static void tx_packet(struct virtio_vsock *v, struct virtq_chain *ch)
{
	uint8_t raw[VSOCK_HDR_LEN];
	struct vsock_hdr h;
	if (ch->out_len < VSOCK_HDR_LEN || iov_to_buf(ch->iov, ch->n_out, 0, raw, sizeof(raw)) != sizeof(raw))
		return; /* not even a header: drop */
	hdr_get(raw, &h);
	if (h.src_cid != v->guest_cid || h.dst_cid != VSOCK_HOST_CID)
		return; /* spoofed or misrouted: drop */
	bool bad_len = h.len > ch->out_len - VSOCK_HDR_LEN || (h.op != VSOCK_OP_RW && h.len);
	struct vsock_conn *c = conn_lookup(v, h.dst_port, h.src_port);
	if (h.type != VSOCK_TYPE_STREAM || bad_len) {
		if (c)
			conn_kill(c, true);
		else if (h.op != VSOCK_OP_RST)
			rst_queue(v, h.dst_port, h.src_port);
		return;
	}
	if (!c) {
		if (h.op == VSOCK_OP_REQUEST)
			guest_connect(v, &h);
		else if (h.op != VSOCK_OP_RST)
			rst_queue(v, h.dst_port, h.src_port);
		return;
	}
	c->peer_buf_alloc = h.buf_alloc;
	c->peer_fwd_cnt = h.fwd_cnt;
	switch (h.op) {
	case VSOCK_OP_RESPONSE: {
		if (c->state != CONN_LOCAL_INIT) {
			conn_kill(c, true);
			break;
		}
		char line[32];
		int n = snprintf(line, sizeof(line), "OK %u\n", c->local_port);
		if (write(c->fd, line, (size_t)n) != n) {
			conn_kill(c, true);
			break;
		}
		c->state = CONN_ESTABLISHED;
		c->deadline_ns = 0;
		if (conn_wants_rx(c))
			rx_list_add(c);
		break;
	}
	case VSOCK_OP_RW: {
		if (c->state != CONN_ESTABLISHED) {
			conn_kill(c, true);
			break;
		}
		struct iovec payload[VIRTQ_MAX_CHAIN];
		int k = iov_slice(ch->iov, ch->n_out, VSOCK_HDR_LEN, h.len, payload, VIRTQ_MAX_CHAIN);
		if (k < 0 || !conn_send_host(c, payload, (unsigned)k, h.len))
			conn_kill(c, true);
		break;
	}
	case VSOCK_OP_CREDIT_UPDATE:
		if (conn_wants_rx(c))
			rx_list_add(c);
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		c->pending |= PEND_CREDIT_UPDATE;
		rx_list_add(c);
		break;
	case VSOCK_OP_SHUTDOWN:
		if ((h.flags & (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)) ==
		    (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)) {
			/* Full close: deliver what we still hold, then RST ends it. */
			conn_flush(c);
			conn_kill(c, true);
		} else if (h.flags & VSOCK_SHUTDOWN_SEND) {
			c->shut_wr_after_flush = true;
			if (!c->buf_len)
				conn_flush(c);
		}
		break;
	case VSOCK_OP_RST:
		conn_kill(c, false);
		break;
	default: /* REQUEST on a live connection, INVALID, unknown */
		conn_kill(c, true);
		break;
	}
}

static void tx_process(struct virtio_vsock *v)
{
	struct virtq *q = &v->mmio.queue[VSOCK_TXQ];
	bool pushed = false;
	for (;;) {
		int r;
		while ((r = virtq_pop(q, &v->chain)) == 1) {
			tx_packet(v, &v->chain);
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
		rx_process(v); /* new rx buffers, or replies queued by tx */
}

/* "CONNECT <port>\n": decimal port, nothing else. Returns 0 or -EINVAL. */
static int parse_connect(const char *s, size_t len, uint32_t *port)
{
	static const char cmd[] = "CONNECT ";
	size_t i = sizeof(cmd) - 1;
	if (len < i + 2 || memcmp(s, cmd, i) || s[len - 1] != '\n')
		return -EINVAL;
	uint64_t p = 0;
	for (; i < len - 1; i++) {
		if (s[i] < '0' || s[i] > '9' || p > UINT32_MAX / 10)
			return -EINVAL;
		p = p * 10 + (uint64_t)(s[i] - '0');
	}
	if (p > UINT32_MAX || len - 1 == sizeof(cmd) - 1)
		return -EINVAL;
	*port = (uint32_t)p;
	return 0;
}

static void host_connect_line(struct vsock_conn *c)
{
	struct virtio_vsock *v = c->v;
	char line[VSOCK_CONNECT_LINE_MAX];
	/* Peek so bytes the host sends right after the line stay in the socket. */
	ssize_t n = recv(c->fd, line, sizeof(line), MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_kill(c, false);
		return;
	}
	char *nl = memchr(line, '\n', (size_t)n);
	if (!nl) {
		if ((size_t)n == sizeof(line))
			conn_kill(c, false); /* no newline within the limit */
		return;
	}
	size_t len = (size_t)(nl - line) + 1;
	uint32_t port;
	if (recv(c->fd, line, len, 0) != (ssize_t)len || parse_connect(line, len, &port) < 0) {
		conn_kill(c, false);
		return;
	}
	/* Pick a free host-side port: at most max_conns are taken. */
	uint32_t local;
	do {
		local = v->next_port++;
		if (v->next_port == 0)
			v->next_port = VSOCK_FIRST_HOST_PORT;
	} while (conn_lookup(v, local, port));
	c->local_port = local;
	c->peer_port = port;
	c->state = CONN_LOCAL_INIT;
	c->pending = PEND_REQUEST;
	c->readable = true; /* bytes after the line wait for the guest's RESPONSE */
	c->deadline_ns = now_ns() + v->timeout_ns;
	hash_add(c);
	rx_list_add(c);
}

static void on_conn_event(void *ctx, uint32_t events)
{
	struct vsock_conn *c = ctx;
	struct virtio_vsock *v = c->v;
	virtio_mmio_lock(&v->mmio);
	switch (c->state) {
	case CONN_FREE:
		break; /* stale event of a closed connection */
	case CONN_HOST_LINE:
		host_connect_line(c);
		break;
	case CONN_LOCAL_INIT:
		if (events & (POLLHUP | POLLERR))
			conn_kill(c, true); /* the host gave up before the guest answered */
		else if (events & POLLIN)
			c->readable = true;
		break;
	case CONN_ESTABLISHED:
		if (events & (POLLIN | POLLHUP | POLLERR)) {
			c->readable = true;
			if (conn_wants_rx(c))
				rx_list_add(c);
		}
		if ((events & POLLOUT) && c->buf_len && !conn_flush(c))
			conn_kill(c, true);
		break;
	}
	rx_process(v);
	virtio_mmio_unlock(&v->mmio);
}

/* Drop connections whose guest did not answer a REQUEST or a close in time. */
static void on_tick(void *ctx, uint32_t events)
{
	struct virtio_vsock *v = ctx;
	(void)events;
	virtio_mmio_lock(&v->mmio);
	uint64_t now = now_ns();
	for (unsigned i = 0; i < v->max_conns; i++) {
		struct vsock_conn *c = &v->conns[i];
		if (c->state != CONN_FREE && c->deadline_ns && now > c->deadline_ns)
			conn_kill(c, true);
	}
	rx_process(v);
	virtio_mmio_unlock(&v->mmio);
}

static void on_listen(void *ctx, uint32_t events)
{
	struct virtio_vsock *v = ctx;
	(void)events;
	virtio_mmio_lock(&v->mmio);
	for (;;) {
		int fd = accept4(v->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			break;
		/* Not before the driver is up, and never beyond the limit. */
		struct vsock_conn *c = NULL;
		if (!virtio_mmio_running(&v->mmio) || !(c = conn_new(v, fd, CONN_HOST_LINE))) {
			close(fd);
			continue;
		}
		/* An idle client must not hold a connection slot forever. */
		c->deadline_ns = now_ns() + v->timeout_ns;
	}
	virtio_mmio_unlock(&v->mmio);
}

static void kill_all(struct virtio_vsock *v, bool rst)
{
	for (unsigned i = 0; i < v->max_conns; i++)
		conn_kill(&v->conns[i], rst);
	v->rst_len = 0;
	v->rx_head = v->rx_tail = NULL;
}

static void vsock_reset(void *dev)
{
	struct virtio_vsock *v = dev;
	kill_all(v, false);
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
	kill_all(v, false);
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

static int listen_on(struct virtio_vsock *v, const char *path, struct errbuf *eb)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) + 12 >= sizeof(sa.sun_path)) /* room for "_<port>" */
		return errbuf_set(eb, ENAMETOOLONG, "%s: vsock socket path too long (max %zu bytes)",
				  path, sizeof(sa.sun_path) - 12);
	strcpy(sa.sun_path, path);
	strcpy(v->uds_path, path);
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return errbuf_set(eb, EEXIST, "%s: exists and is not a socket", path);
		unlink(path); /* stale socket of an earlier run */
	}
	v->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (v->listen_fd < 0 || bind(v->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(v->listen_fd, 128) < 0)
		return errbuf_set(eb, errno, "%s: cannot listen: %s", path, strerror(errno));
	int r = event_loop_add_fd(v->loop, v->listen_fd, POLLIN, on_listen, v);
	if (r < 0)
		return errbuf_set(eb, -r, "%s: event loop: %s", path, strerror(-r));
	return 0;
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
	if (listen_on(v, opts->uds_path, eb) < 0)
		goto fail;
	v->timeout_ns = (uint64_t)(opts->answer_timeout_ms ? opts->answer_timeout_ms
							     : VSOCK_ANSWER_TIMEOUT_MS) * 1000000ull;
	/* Check deadlines four times per timeout period. */
	v->timer_id = event_loop_add_timer(v->loop, v->timeout_ns / 4, true, on_tick, v);
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
		kill_all(v, false);
		virtio_mmio_unlock(&v->mmio);
	}
	virtio_mmio_destroy(&v->mmio);
	free(v->conns);
	free(v);
}
