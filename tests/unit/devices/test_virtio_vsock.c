/* Hybrid vsock against a simulated guest driver and real Unix sockets: both
 * connection directions, the CONNECT handshake, credit flow control, limits,
 * resets and hostile packets. The event loop runs on its own thread, as in
 * the VMM; the test thread plays the guest. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/virtio_mmio.h"
#include "devices/virtio_vsock.h"
#include "sim_guest.h"
#include "devices/event_loop.h"

#define BASE 0xd0001000ull
#define CID 7u
#define RXBUF 4096u
#define NRX 32u

struct fixture {
	struct sim_guest g;
	struct event_loop *loop;
	pthread_t thread;
	struct virtio_vsock *v;
	struct sim_queue q[3];
	uint64_t rxbuf;   /* NRX buffers of HDR + RXBUF */
	uint64_t txbuf;   /* tx packet staging */
	uint64_t evbuf;
	char path[96];
};

struct pkt {
	struct {
		uint64_t src_cid, dst_cid;
		uint32_t src_port, dst_port, len;
		uint16_t type, op;
		uint32_t flags, buf_alloc, fwd_cnt;
	} __attribute__((packed)) h;
	uint8_t data[RXBUF];
};

static void *loop_main(void *loop)
{
	event_loop_run(loop);
	return NULL;
}

static void rx_post(struct fixture *f, uint16_t i)
{
	sim_desc(&f->g, &f->q[0], i, f->rxbuf + (uint64_t)i * (VSOCK_HDR_LEN + RXBUF),
		 VSOCK_HDR_LEN + RXBUF, VIRTQ_DESC_F_WRITE, 0);
	sim_publish(&f->g, &f->q[0], i);
}

static int fixture_up(struct fixture *f, unsigned max_conns)
{
	memset(f, 0, sizeof(*f));
	if (sim_guest_init(&f->g, 8u << 20) < 0)
		return -1;
	struct errbuf eb = { 0 };
	f->loop = event_loop_create(&eb);
	if (!f->loop)
		return -1;
	f->g.host.loop = f->loop;
	snprintf(f->path, sizeof(f->path), "/tmp/parma-vsock-%d.sock", (int)getpid());
	struct virtio_vsock_opts o = { .guest_cid = CID, .uds_path = f->path, .max_conns = max_conns,
				       .answer_timeout_ms = 300 };
	f->v = virtio_vsock_create(&f->g.host, BASE, 10, &o, &eb);
	if (!f->v) {
		fprintf(stderr, "%s\n", eb.msg);
		return -1;
	}
	for (int i = 0; i < 3; i++)
		sim_queue_alloc(&f->g, &f->q[i], 64);
	f->rxbuf = sim_alloc(&f->g, NRX * (VSOCK_HDR_LEN + RXBUF), 4096);
	f->txbuf = sim_alloc(&f->g, 1u << 20, 4096);
	f->evbuf = sim_alloc(&f->g, 64, 16);
	if (!(sim_driver_init(&f->g, BASE, ~0ull, f->q, 3) & VIRTIO_STATUS_DRIVER_OK))
		return -1;
	for (uint16_t i = 0; i < NRX; i++)
		rx_post(f, i);
	sim_kick(&f->g, BASE, 0);
	pthread_create(&f->thread, NULL, loop_main, f->loop);
	return 0;
}

static int setup(void **state)
{
	static struct fixture f;
	if (fixture_up(&f, 0) < 0)
		return -1;
	*state = &f;
	return 0;
}

static int setup_two_conns(void **state)
{
	static struct fixture f;
	if (fixture_up(&f, 2) < 0)
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	event_loop_stop(f->loop, 0);
	pthread_join(f->thread, NULL);
	virtio_vsock_destroy(f->v);
	event_loop_destroy(f->loop);
	sim_guest_free(&f->g);
	char p[128];
	for (int port = 5000; port < 5004; port++) {
		snprintf(p, sizeof(p), "%s_%d", f->path, port);
		unlink(p);
	}
	return 0;
}

/* Guest sends one packet (header + payload in one descriptor). */
static void tx_flags(struct fixture *f, uint16_t op, uint32_t src_port, uint32_t dst_port,
		     const void *data, uint32_t len, uint32_t buf_alloc, uint32_t fwd_cnt,
		     uint32_t flags)
{
	struct pkt *p = sim_ptr(&f->g, f->txbuf);
	memset(&p->h, 0, sizeof(p->h));
	p->h.src_cid = CID;
	p->h.dst_cid = VSOCK_HOST_CID;
	p->h.src_port = src_port;
	p->h.dst_port = dst_port;
	p->h.len = len;
	p->h.type = VSOCK_TYPE_STREAM;
	p->h.op = op;
	p->h.buf_alloc = buf_alloc;
	p->h.fwd_cnt = fwd_cnt;
	p->h.flags = flags;
	if (len)
		memcpy((uint8_t *)p + VSOCK_HDR_LEN, data, len);
	sim_desc(&f->g, &f->q[1], 0, f->txbuf, VSOCK_HDR_LEN + len, 0, 0);
	sim_publish(&f->g, &f->q[1], 0);
	sim_kick(&f->g, BASE, 1);
	uint32_t id, ul;
	for (int i = 0; i < 1000 && !sim_used(&f->g, &f->q[1], &id, &ul); i++)
		usleep(1000);
}

static void tx(struct fixture *f, uint16_t op, uint32_t src_port, uint32_t dst_port,
	       const void *data, uint32_t len, uint32_t buf_alloc, uint32_t fwd_cnt)
{
	tx_flags(f, op, src_port, dst_port, data, len, buf_alloc, fwd_cnt, 0);
}

/* Next rx packet within timeout_ms; false if none. The buffer is re-posted. */
static bool rx(struct fixture *f, struct pkt *out, int timeout_ms)
{
	uint32_t id, len;
	for (int i = 0; i < timeout_ms; i++) {
		if (sim_used(&f->g, &f->q[0], &id, &len)) {
			assert_true(id < NRX);
			assert_true(len >= VSOCK_HDR_LEN);
			memcpy(out, sim_ptr(&f->g, f->rxbuf + (uint64_t)id * (VSOCK_HDR_LEN + RXBUF)), len);
			assert_int_equal(out->h.len, len - VSOCK_HDR_LEN);
			assert_int_equal(out->h.src_cid, VSOCK_HOST_CID);
			assert_int_equal(out->h.dst_cid, CID);
			rx_post(f, (uint16_t)id);
			sim_kick(&f->g, BASE, 0);
			return true;
		}
		usleep(1000);
	}
	return false;
}

static int listen_port(struct fixture *f, int port)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%d", f->path, port);
	unlink(sa.sun_path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

static int host_connect(struct fixture *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, f->path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* read(2) that retries EINTR: io_uring task work for requests this thread
 * submitted (the device's timer) interrupts reads that have a timeout. */
static ssize_t read_retry(int fd, void *buf, size_t len)
{
	ssize_t n;
	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n;
}

static void read_exact(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read_retry(fd, (uint8_t *)buf + got, len - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
}

static void vsock_guest_connects_and_echoes(void **state)
{
	struct fixture *f = *state;
	int lfd = listen_port(f, 5000);
	struct pkt p;
	tx(f, VSOCK_OP_REQUEST, 1234, 5000, NULL, 0, 65536, 0);
	assert_true(rx(f, &p, 2000));
	assert_int_equal(p.h.op, VSOCK_OP_RESPONSE);
	assert_int_equal(p.h.src_port, 5000);
	assert_int_equal(p.h.dst_port, 1234);
	assert_int_equal(p.h.buf_alloc, VSOCK_CONN_BUF);
	int hfd = accept(lfd, NULL, NULL);
	assert_true(hfd >= 0);
	tx(f, VSOCK_OP_RW, 1234, 5000, "ping", 4, 65536, 0);
	char buf[16];
	read_exact(hfd, buf, 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(write(hfd, "pong!", 5), 5);
	assert_true(rx(f, &p, 2000));
	assert_int_equal(p.h.op, VSOCK_OP_RW);
	assert_int_equal(p.h.len, 5);
	assert_memory_equal(p.data, "pong!", 5);
	assert_int_equal(p.h.fwd_cnt, 4); /* our credit: 4 bytes forwarded */
	assert_int_equal(virtio_vsock_conn_count(f->v), 1);
	/* Guest closes: RST back, host sees EOF. */
	tx_flags(f, VSOCK_OP_SHUTDOWN, 1234, 5000, NULL, 0, 65536, 5,
		 VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
	assert_true(rx(f, &p, 2000));
	assert_int_equal(p.h.op, VSOCK_OP_RST);
	assert_int_equal(read_retry(hfd, buf, sizeof(buf)), 0);
	assert_int_equal(virtio_vsock_conn_count(f->v), 0);
	close(hfd);
	close(lfd);
}

static void vsock_guest_connect_without_listener_gets_rst(void **state)
{
	struct fixture *f = *state;
	struct pkt p;
	tx(f, VSOCK_OP_REQUEST, 1235, 5001, NULL, 0, 65536, 0);
	assert_true(rx(f, &p, 2000));
	assert_int_equal(p.h.op, VSOCK_OP_RST);
	assert_int_equal(p.h.dst_port, 1235);
	/* Data for a connection that does not exist: RST too. */
	tx(f, VSOCK_OP_RW, 1235, 5001, "x", 1, 65536, 0);
	assert_true(rx(f, &p, 2000));
	assert_int_equal(p.h.op, VSOCK_OP_RST);
	assert_int_equal(virtio_vsock_conn_count(f->v), 0);
}

static void vsock_host_connects_with_connect_line(void **state)
{
	struct fixture *f = *state;
	int hfd = host_connect(f);
	/* Data right after the line must survive the handshake. */
	const char hello[] = "CONNECT 52\nearly";
	assert_int_equal(write(hfd, hello, strlen(hello)), (ssize_t)strlen(hello));
	struct pkt p;
	assert_true(rx(f, &p, 2000));
	assert_int_equal(p.h.op, VSOCK_OP_REQUEST);
	assert_int_equal(p.h.dst_port, 52);
	uint32_t host_port = p.h.src_port;
	assert_true(host_port >= VSOCK_FIRST_HOST_PORT);
	tx(f, VSOCK_OP_RESPONSE, 52, host_port, NULL, 0, 65536, 0);
	char line[32] = { 0 }, want[32];
	snprintf(want, sizeof(want), "OK %u\n", host_port);
	read_exact(hfd, line, strlen(want));
	assert_string_equal(line, want);
	assert_true(rx(f, &p, 2000));
	assert_int_equal(p.h.op, VSOCK_OP_RW);
	assert_int_equal(p.h.len, 5);
	assert_memory_equal(p.data, "early", 5);
	tx(f, VSOCK_OP_RW, 52, host_port, "reply", 5, 65536, 5);
	char buf[8];
	read_exact(hfd, buf, 5);
	assert_memory_equal(buf, "reply", 5);
	/* Host closes: the guest is told, then its RST frees the connection. */
	close(hfd);
	assert_true(rx(f, &p, 2000));
	assert_int_equal(p.h.op, VSOCK_OP_SHUTDOWN);
	assert_int_equal(p.h.flags, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
	tx(f, VSOCK_OP_RST, 52, host_port, NULL, 0, 65536, 5);
	assert_int_equal(virtio_vsock_conn_count(f->v), 0);
}

static void vsock_host_connect_refused_by_guest_closes_socket(void **state)
{
	struct fixture *f = *state;
	int hfd = host_connect(f);
	assert_int_equal(write(hfd, "CONNECT 99\n", 11), 11);
	struct pkt p;
	assert_true(rx(f, &p, 2000));
	assert_int_equal(p.h.op, VSOCK_OP_REQUEST);
	tx(f, VSOCK_OP_RST, 99, p.h.src_port, NULL, 0, 0, 0);
	char c;
	assert_int_equal(read_retry(hfd, &c, 1), 0);
	close(hfd);
}

static void vsock_unanswered_request_times_out(void **state)
{
	struct fixture *f = *state;
	int hfd = host_connect(f);
	assert_int_equal(write(hfd, "CONNECT 77\n", 11), 11);
	struct pkt p;
	assert_true(rx(f, &p, 2000));
	assert_int_equal(p.h.op, VSOCK_OP_REQUEST);
	/* The guest stays silent: after the answer timeout (300 ms here) the host socket is
	 * closed and the guest is told with RST. */
	char c;
	ssize_t n = read_retry(hfd, &c, 1);
	if (n != 0)
		fail_msg("read: %zd (%s)", n, strerror(errno));
	assert_true(rx(f, &p, 2000));
	assert_int_equal(p.h.op, VSOCK_OP_RST);
	assert_int_equal(p.h.dst_port, 77);
	assert_int_equal(virtio_vsock_conn_count(f->v), 0);
	close(hfd);
}

static void vsock_idle_host_client_times_out(void **state)
{
	struct fixture *f = *state;
	int hfd = host_connect(f);
	assert_int_equal(write(hfd, "CONN", 4), 4); /* and then nothing */
	char c;
	assert_true(read_retry(hfd, &c, 1) <= 0);
	assert_int_equal(virtio_vsock_conn_count(f->v), 0);
	close(hfd);
}

static void vsock_rejects_malformed_connect_lines(void **state)
{
	struct fixture *f = *state;
	const char *bad[] = { "CONNECT abc\n", "HELLO 5\n", "CONNECT \n", "CONNECT 99999999999\n",
			      "CONNECT 5 6\n", "connect 5\n",
			      "CONNECT 1234567890123456789012345678901234567890" };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int hfd = host_connect(f);
		assert_int_equal(write(hfd, bad[i], strlen(bad[i])), (ssize_t)strlen(bad[i]));
		char c;
		/* EOF, or ECONNRESET when unread bytes were dropped with the socket */
		if (read_retry(hfd, &c, 1) > 0)
			fail_msg("connect line %u ('%s') was not refused", i, bad[i]);
		close(hfd);
	}
	struct pkt p;
	assert_false(rx(f, &p, 50)); /* the guest never heard of them */
	assert_int_equal(virtio_vsock_conn_count(f->v), 0);
}

static void vsock_respects_guest_credit(void **state)
{
	struct fixture *f = *state;
	int lfd = listen_port(f, 5002);
	struct pkt p;
	tx(f, VSOCK_OP_REQUEST, 2000, 5002, NULL, 0, 3000, 0); /* guest buffer: 3000 bytes */
	assert_true(rx(f, &p, 2000));
	assert_int_equal(p.h.op, VSOCK_OP_RESPONSE);
	int hfd = accept(lfd, NULL, NULL);
	static uint8_t big[10000];
	memset(big, 'z', sizeof(big));
	assert_int_equal(write(hfd, big, sizeof(big)), (ssize_t)sizeof(big));
	uint32_t got = 0;
	while (rx(f, &p, 200)) {
		assert_int_equal(p.h.op, VSOCK_OP_RW);
		got += p.h.len;
	}
	assert_int_equal(got, 3000); /* never more than the guest allowed */
	tx(f, VSOCK_OP_CREDIT_UPDATE, 2000, 5002, NULL, 0, 3000, 3000);
	while (rx(f, &p, 200))
		got += p.h.len;
	assert_int_equal(got, 6000);
	/* A credit request is answered with our counters. */
	tx(f, VSOCK_OP_CREDIT_REQUEST, 2000, 5002, NULL, 0, 0, 6000);
	assert_true(rx(f, &p, 2000));
	assert_int_equal(p.h.op, VSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(p.h.buf_alloc, VSOCK_CONN_BUF);
	close(hfd);
	close(lfd);
}

static void vsock_rst_when_guest_overruns_credit(void **state)
{
	struct fixture *f = *state;
	int lfd = listen_port(f, 5003);
	struct pkt p;
	tx(f, VSOCK_OP_REQUEST, 2001, 5003, NULL, 0, 65536, 0);
	assert_true(rx(f, &p, 2000));
	int hfd = accept(lfd, NULL, NULL); /* never reads */
	static uint8_t chunk[65536];
	bool reset = false;
	for (int i = 0; i < 200 && !reset; i++) {
		tx(f, VSOCK_OP_RW, 2001, 5003, chunk, sizeof(chunk), 65536, 0);
		while (rx(f, &p, 1))
			reset |= p.h.op == VSOCK_OP_RST;
	}
	assert_true(reset); /* stopped by RST well before 13 MiB */
	assert_int_equal(virtio_vsock_conn_count(f->v), 0);
	close(hfd);
	close(lfd);
}

static void vsock_header_only_rx_buffer_does_not_hang(void **state)
{
	struct fixture *f = *state;
	int lfd = listen_port(f, 5002);
	struct pkt p;
	tx(f, VSOCK_OP_REQUEST, 2100, 5002, NULL, 0, 65536, 0);
	assert_true(rx(f, &p, 2000));
	int hfd = accept(lfd, NULL, NULL);
	/* Take every posted rx buffer away, then offer one that only fits a header. */
	for (uint32_t i = 0; i < NRX; i++)
		tx(f, VSOCK_OP_CREDIT_REQUEST, 2100, 5002, NULL, 0, 65536, 0);
	uint32_t id, len;
	unsigned drained = 0;
	for (int i = 0; i < 2000 && drained < NRX; i++) {
		if (sim_used(&f->g, &f->q[0], &id, &len))
			drained++;
		else
			usleep(1000);
	}
	assert_int_equal(drained, NRX);
	sim_desc(&f->g, &f->q[0], 0, f->rxbuf, VSOCK_HDR_LEN, VIRTQ_DESC_F_WRITE, 0);
	sim_publish(&f->g, &f->q[0], 0);
	sim_kick(&f->g, BASE, 0);
	assert_int_equal(write(hfd, "data", 4), 4);
	usleep(50000);
	/* The device is alive (this call takes its lock) and a real buffer gets the data. */
	assert_int_equal(virtio_vsock_conn_count(f->v), 1);
	rx_post(f, 1);
	sim_kick(&f->g, BASE, 0);
	bool got = false;
	for (int i = 0; i < 2000 && !got; i++) {
		if (sim_used(&f->g, &f->q[0], &id, &len) && id == 1 && len == VSOCK_HDR_LEN + 4)
			got = true;
		else
			usleep(1000);
	}
	assert_true(got);
	close(hfd);
	close(lfd);
}

static void vsock_drops_spoofed_source(void **state)
{
	struct fixture *f = *state;
	struct pkt *tp = sim_ptr(&f->g, f->txbuf);
	tx(f, VSOCK_OP_REQUEST, 1, 5000, NULL, 0, 0, 0);
	struct pkt p;
	assert_true(rx(f, &p, 500)); /* well-formed: RST, no listener */
	tp->h.src_cid = 99; /* pretend to be another VM */
	sim_desc(&f->g, &f->q[1], 0, f->txbuf, VSOCK_HDR_LEN, 0, 0);
	sim_publish(&f->g, &f->q[1], 0);
	sim_kick(&f->g, BASE, 1);
	assert_false(rx(f, &p, 50));
	/* A packet shorter than a header: dropped, device still fine. */
	sim_desc(&f->g, &f->q[1], 0, f->txbuf, 20, 0, 0);
	sim_publish(&f->g, &f->q[1], 0);
	sim_kick(&f->g, BASE, 1);
	assert_false(rx(f, &p, 50));
	assert_true(virtio_mmio_running(virtio_vsock_transport(f->v)));
}

static void vsock_limits_connections(void **state)
{
	struct fixture *f = *state;
	int lfd = listen_port(f, 5000);
	struct pkt p;
	for (uint32_t port = 100; port < 103; port++) {
		tx(f, VSOCK_OP_REQUEST, port, 5000, NULL, 0, 65536, 0);
		assert_true(rx(f, &p, 2000));
		assert_int_equal(p.h.op, port < 102 ? VSOCK_OP_RESPONSE : VSOCK_OP_RST);
	}
	assert_int_equal(virtio_vsock_conn_count(f->v), 2);
	/* Host-side connections beyond the limit are closed at once. */
	int hfd = host_connect(f);
	char c;
	assert_int_equal(read_retry(hfd, &c, 1), 0);
	close(hfd);
	close(lfd);
}

static void vsock_transport_reset_event(void **state)
{
	struct fixture *f = *state;
	int lfd = listen_port(f, 5000);
	struct pkt p;
	tx(f, VSOCK_OP_REQUEST, 300, 5000, NULL, 0, 65536, 0);
	assert_true(rx(f, &p, 2000));
	assert_int_equal(virtio_vsock_conn_count(f->v), 1);
	sim_desc(&f->g, &f->q[2], 0, f->evbuf, 4, VIRTQ_DESC_F_WRITE, 0);
	sim_publish(&f->g, &f->q[2], 0);
	sim_kick(&f->g, BASE, 2);
	*(uint32_t *)sim_ptr(&f->g, f->evbuf) = 0xffffffff;
	virtio_vsock_reset_transport(f->v);
	uint32_t id, len;
	assert_true(sim_used(&f->g, &f->q[2], &id, &len));
	assert_int_equal(len, 4);
	assert_int_equal(*(uint32_t *)sim_ptr(&f->g, f->evbuf), VSOCK_EVENT_TRANSPORT_RESET);
	assert_int_equal(virtio_vsock_conn_count(f->v), 0);
	close(lfd);
}

static void vsock_readable_rx_buffer_needs_reset(void **state)
{
	struct fixture *f = *state;
	/* Use up the posted rx buffers, then post a device-readable one. */
	int lfd = listen_port(f, 5000);
	struct pkt p;
	tx(f, VSOCK_OP_REQUEST, 400, 5000, NULL, 0, 65536, 0);
	assert_true(rx(f, &p, 2000));
	sim_desc(&f->g, &f->q[0], NRX, f->rxbuf, 64, 0, 0);
	/* Replace the whole avail ring content with the bad buffer by consuming the rest. */
	for (unsigned i = 0; i < NRX; i++)
		tx(f, VSOCK_OP_CREDIT_REQUEST, 400, 5000, NULL, 0, 65536, 0);
	sim_publish(&f->g, &f->q[0], NRX);
	sim_kick(&f->g, BASE, 0);
	tx(f, VSOCK_OP_CREDIT_REQUEST, 400, 5000, NULL, 0, 65536, 0);
	for (int i = 0; i < 100; i++) {
		if (sim_read32(&f->g, BASE, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET)
			break;
		usleep(1000);
	}
	assert_true(sim_read32(&f->g, BASE, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	close(lfd);
}

static void vsock_refuses_bad_options(void **state)
{
	(void)state;
	struct sim_guest g;
	assert_int_equal(sim_guest_init(&g, 1u << 20), 0);
	struct errbuf eb = { 0 };
	struct virtio_vsock_opts o = { .guest_cid = 2, .uds_path = "/tmp/x.sock" };
	assert_null(virtio_vsock_create(&g.host, BASE, 10, &o, &eb)); /* no loop */
	g.host.loop = event_loop_create(&eb);
	assert_null(virtio_vsock_create(&g.host, BASE, 10, &o, &eb));
	assert_non_null(strstr(eb.msg, "CID"));
	o.guest_cid = 3;
	o.uds_path = "/etc/passwd"; /* exists, not a socket: never unlinked */
	assert_null(virtio_vsock_create(&g.host, BASE, 10, &o, &eb));
	assert_non_null(strstr(eb.msg, "not a socket"));
	assert_int_equal(access("/etc/passwd", F_OK), 0);
	event_loop_destroy(g.host.loop);
	sim_guest_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(vsock_guest_connects_and_echoes),
		T(vsock_guest_connect_without_listener_gets_rst),
		T(vsock_host_connects_with_connect_line),
		T(vsock_host_connect_refused_by_guest_closes_socket),
		T(vsock_rejects_malformed_connect_lines),
		T(vsock_unanswered_request_times_out),
		T(vsock_idle_host_client_times_out),
		T(vsock_respects_guest_credit),
		T(vsock_rst_when_guest_overruns_credit),
		T(vsock_header_only_rx_buffer_does_not_hang),
		T(vsock_drops_spoofed_source),
		cmocka_unit_test_setup_teardown(vsock_limits_connections, setup_two_conns, teardown),
		T(vsock_transport_reset_event),
		T(vsock_readable_rx_buffer_needs_reset),
		cmocka_unit_test(vsock_refuses_bad_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
