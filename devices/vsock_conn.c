/* vsock_conn: one virtio-vsock connection: the guest's credit, our buffer of guest bytes the
 * host socket has not taken, and what goes into the guest's next rx buffer. */
#include "devices/vsock_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/event_loop.h"

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

bool vsock_conn_wants_rx(const struct vsock_conn *c)
{
	return c->pending || (c->state == CONN_ESTABLISHED && c->readable && !c->host_eof &&
			      peer_credit(c) > 0);
}

static void credit_maybe_update(struct vsock_conn *c)
{
	if (c->fwd_cnt - c->last_fwd_cnt_sent >= VSOCK_CREDIT_THRESHOLD) {
		c->pending |= PEND_CREDIT_UPDATE;
		vsock_rx_list_add(c);
	}
}

/* Write buffered guest bytes to the host socket. Returns false on a fatal error. */
bool vsock_conn_flush(struct vsock_conn *c)
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
bool vsock_conn_send_host(struct vsock_conn *c, const struct iovec *iov, unsigned n, uint32_t len)
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

/* Fill one rx buffer for connection c. Returns bytes written (0: nothing to say). */
uint32_t vsock_conn_fill_rx(struct vsock_conn *c, struct virtq_chain *ch)
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
			c->deadline_ns = vsock_now_ns() + v->timeout_ns;
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
	vsock_hdr_put(&h, raw);
	iov_from_buf(in, ch->n_in, 0, raw, sizeof(raw));
	if (h.op == VSOCK_OP_RST)
		vsock_conn_kill(c, false);
	return VSOCK_HDR_LEN + h.len;
}

/* "CONNECT <port>\n": decimal port, nothing else. Returns 0 or -EINVAL. */
int vsock_parse_connect(const char *s, size_t len, uint32_t *port)
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
