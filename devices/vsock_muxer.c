/* vsock_muxer: the connections of one virtio-vsock device by (host port, guest port), the
 * order in which they fill guest rx buffers, pending RSTs, the host's Unix sockets (the
 * listener, "CONNECT <port>" lines, guest-initiated connects to PATH_<port>) and the
 * dispatch of guest packets. */
#include "devices/vsock_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/event_loop.h"

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

void vsock_rx_list_add(struct vsock_conn *c)
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
void vsock_conn_kill(struct vsock_conn *c, bool rst)
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

/* Fill guest rx buffers with whatever connections have to say. */
void vsock_muxer_rx(struct virtio_vsock *v)
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
			vsock_hdr_put(&h, raw);
			iov_from_buf(&v->chain.iov[0], v->chain.n_in, 0, raw, sizeof(raw));
			written = VSOCK_HDR_LEN;
		} else {
			c = v->rx_head;
			rx_list_del(c);
			written = vsock_conn_fill_rx(c, &v->chain);
			if (c->state != CONN_FREE && vsock_conn_wants_rx(c))
				vsock_rx_list_add(c);
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
	vsock_rx_list_add(c);
	return;
refuse:
	if (fd >= 0)
		close(fd);
	rst_queue(v, h->dst_port, h->src_port);
}

void vsock_muxer_tx(struct virtio_vsock *v, struct virtq_chain *ch)
{
	uint8_t raw[VSOCK_HDR_LEN];
	struct vsock_hdr h;
	if (ch->out_len < VSOCK_HDR_LEN || iov_to_buf(ch->iov, ch->n_out, 0, raw, sizeof(raw)) != sizeof(raw))
		return; /* not even a header: drop */
	vsock_hdr_get(raw, &h);
	if (h.src_cid != v->guest_cid || h.dst_cid != VSOCK_HOST_CID)
		return; /* spoofed or misrouted: drop */
	bool bad_len = h.len > ch->out_len - VSOCK_HDR_LEN || (h.op != VSOCK_OP_RW && h.len);
	struct vsock_conn *c = conn_lookup(v, h.dst_port, h.src_port);
	if (h.type != VSOCK_TYPE_STREAM || bad_len) {
		if (c)
			vsock_conn_kill(c, true);
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
			vsock_conn_kill(c, true);
			break;
		}
		char line[32];
		int n = snprintf(line, sizeof(line), "OK %u\n", c->local_port);
		if (write(c->fd, line, (size_t)n) != n) {
			vsock_conn_kill(c, true);
			break;
		}
		c->state = CONN_ESTABLISHED;
		c->deadline_ns = 0;
		if (vsock_conn_wants_rx(c))
			vsock_rx_list_add(c);
		break;
	}
	case VSOCK_OP_RW: {
		if (c->state != CONN_ESTABLISHED) {
			vsock_conn_kill(c, true);
			break;
		}
		struct iovec payload[VIRTQ_MAX_CHAIN];
		int k = iov_slice(ch->iov, ch->n_out, VSOCK_HDR_LEN, h.len, payload, VIRTQ_MAX_CHAIN);
		if (k < 0 || !vsock_conn_send_host(c, payload, (unsigned)k, h.len))
			vsock_conn_kill(c, true);
		break;
	}
	case VSOCK_OP_CREDIT_UPDATE:
		if (vsock_conn_wants_rx(c))
			vsock_rx_list_add(c);
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		c->pending |= PEND_CREDIT_UPDATE;
		vsock_rx_list_add(c);
		break;
	case VSOCK_OP_SHUTDOWN:
		if ((h.flags & (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)) ==
		    (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)) {
			/* Full close: deliver what we still hold, then RST ends it. */
			vsock_conn_flush(c);
			vsock_conn_kill(c, true);
		} else if (h.flags & VSOCK_SHUTDOWN_SEND) {
			c->shut_wr_after_flush = true;
			if (!c->buf_len)
				vsock_conn_flush(c);
		}
		break;
	case VSOCK_OP_RST:
		vsock_conn_kill(c, false);
		break;
	default: /* REQUEST on a live connection, INVALID, unknown */
		vsock_conn_kill(c, true);
		break;
	}
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
		vsock_conn_kill(c, false);
		return;
	}
	char *nl = memchr(line, '\n', (size_t)n);
	if (!nl) {
		if ((size_t)n == sizeof(line))
			vsock_conn_kill(c, false); /* no newline within the limit */
		return;
	}
	size_t len = (size_t)(nl - line) + 1;
	uint32_t port;
	if (recv(c->fd, line, len, 0) != (ssize_t)len || vsock_parse_connect(line, len, &port) < 0) {
		vsock_conn_kill(c, false);
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
	c->deadline_ns = vsock_now_ns() + v->timeout_ns;
	hash_add(c);
	vsock_rx_list_add(c);
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
			vsock_conn_kill(c, true); /* the host gave up before the guest answered */
		else if (events & POLLIN)
			c->readable = true;
		break;
	case CONN_ESTABLISHED:
		if (events & (POLLIN | POLLHUP | POLLERR)) {
			c->readable = true;
			if (vsock_conn_wants_rx(c))
				vsock_rx_list_add(c);
		}
		if ((events & POLLOUT) && c->buf_len && !vsock_conn_flush(c))
			vsock_conn_kill(c, true);
		break;
	}
	vsock_muxer_rx(v);
	virtio_mmio_unlock(&v->mmio);
}

/* Drop connections whose guest did not answer a REQUEST or a close in time. */
void vsock_muxer_on_tick(void *ctx, uint32_t events)
{
	struct virtio_vsock *v = ctx;
	(void)events;
	virtio_mmio_lock(&v->mmio);
	uint64_t now = vsock_now_ns();
	for (unsigned i = 0; i < v->max_conns; i++) {
		struct vsock_conn *c = &v->conns[i];
		if (c->state != CONN_FREE && c->deadline_ns && now > c->deadline_ns)
			vsock_conn_kill(c, true);
	}
	vsock_muxer_rx(v);
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
		c->deadline_ns = vsock_now_ns() + v->timeout_ns;
	}
	virtio_mmio_unlock(&v->mmio);
}

void vsock_muxer_kill_all(struct virtio_vsock *v, bool rst)
{
	for (unsigned i = 0; i < v->max_conns; i++)
		vsock_conn_kill(&v->conns[i], rst);
	v->rst_len = 0;
	v->rx_head = v->rx_tail = NULL;
}

int vsock_muxer_listen(struct virtio_vsock *v, const char *path, struct errbuf *eb)
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
