/* vsock benchmark: a host-side harness plays the guest driver (same device
 * code, shared memory, the VMM's event loop on its own thread) and streams
 * bytes through the device in both directions to/from a Unix socket peer;
 * the peer is a raw AF_UNIX socket pair moving the same bytes with the same
 * chunk size in the same run, the two alternating, 5 runs each
 * (tests/bench/harness). Goal: ours/peer >= 0.8.
 * Env: PARMA_BENCH_VSOCK_MB (MiB per direction and run, default 512). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "devices/virtio_mmio.h"
#include "devices/virtio_vsock.h"
#include "sim_guest.h"
#include "tests/bench/harness/bench_harness.h"
#include "devices/event_loop.h"

#define BASE 0xd0000000ull
#define CID 3u
#define CHUNK (64u * 1024u)
#define NRX 64u
#define GUEST_BUF (4u << 20)  /* what the harness guest advertises */
#define NTX 16u   /* tx packets the harness keeps in flight, like a guest driver */
#define GPORT 1000u
#define HPORT 5000u

struct vhdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

static struct sim_guest g;
static struct sim_queue q[3];
static struct virtio_vsock *v;
static int irq;
static uint64_t rxbufs, txbuf;
static uint64_t total;
static uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt, fwd_cnt, fwd_sent;
static char path[108];

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint16_t tx_free[NTX];
static unsigned n_tx_free;

/* Queue one packet in a free tx slot (reaping finished ones first). */
static void tx(uint16_t op, uint32_t len)
{
	uint32_t id, l;
	while (sim_used(&g, &q[1], &id, &l))
		tx_free[n_tx_free++] = (uint16_t)id;
	while (!n_tx_free) {
		/* All slots in flight: sleep until the device interrupts. */
		sim_wait_used(&g, &q[1], BASE, irq, 10);
		while (sim_used(&g, &q[1], &id, &l))
			tx_free[n_tx_free++] = (uint16_t)id;
	}
	uint16_t slot = tx_free[--n_tx_free];
	uint64_t gpa = txbuf + (uint64_t)slot * (VSOCK_HDR_LEN + CHUNK);
	struct vhdr *h = sim_ptr(&g, gpa);
	*h = (struct vhdr){ .src_cid = CID, .dst_cid = VSOCK_HOST_CID, .src_port = GPORT,
			    .dst_port = HPORT, .len = len, .type = 1, .op = op,
			    .buf_alloc = GUEST_BUF, .fwd_cnt = fwd_cnt };
	fwd_sent = fwd_cnt;
	sim_desc(&g, &q[1], slot, gpa, (uint32_t)sizeof(*h) + len, 0, 0);
	sim_publish(&g, &q[1], slot);
	sim_kick(&g, BASE, 1);
	tx_cnt += op == VSOCK_OP_RW ? len : 0;
}

static void rx_post(uint16_t i)
{
	sim_desc(&g, &q[0], i, rxbufs + (uint64_t)i * (VSOCK_HDR_LEN + CHUNK),
		 VSOCK_HDR_LEN + CHUNK, VIRTQ_DESC_F_WRITE, 0);
	sim_publish(&g, &q[0], i);
}

/* Wait for the interrupt, consume rx packets; returns payload bytes received. */
static uint64_t rx_drain(int timeout_ms)
{
	uint64_t bytes = 0;
	uint32_t id, len;
	sim_wait_used(&g, &q[0], BASE, irq, timeout_ms);
	bool any = false;
	while (sim_used(&g, &q[0], &id, &len)) {
		struct vhdr *h = sim_ptr(&g, rxbufs + (uint64_t)id * (VSOCK_HDR_LEN + CHUNK));
		peer_buf_alloc = h->buf_alloc;
		peer_fwd_cnt = h->fwd_cnt;
		if (h->op == VSOCK_OP_RW) {
			bytes += h->len;
			fwd_cnt += h->len;
		}
		rx_post((uint16_t)id);
		any = true;
	}
	if (any)
		sim_kick(&g, BASE, 0);
	/* Give the device our drained space back once a quarter is consumed. */
	if (fwd_cnt - fwd_sent >= GUEST_BUF / 4)
		tx(VSOCK_OP_CREDIT_UPDATE, 0);
	return bytes;
}

static int host_fd;
static void *host_reader(void *arg)
{
	(void)arg;
	static uint8_t buf[CHUNK];
	uint64_t got = 0;
	while (got < total) {
		ssize_t n = read(host_fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		got += (uint64_t)n;
	}
	return NULL;
}

static void *host_writer(void *arg)
{
	int fd = *(int *)arg;
	static uint8_t buf[CHUNK];
	memset(buf, 0x5a, sizeof(buf));
	for (uint64_t sent = 0; sent < total;) {
		ssize_t n = write(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		sent += (uint64_t)n;
	}
	return NULL;
}

static void *raw_reader(void *arg)
{
	int fd = *(int *)arg;
	static uint8_t buf[CHUNK];
	for (uint64_t got = 0; got < total;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		got += (uint64_t)n;
	}
	return NULL;
}

static double raw_pair(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 0;
	pthread_t t;
	double t0 = now();
	pthread_create(&t, NULL, raw_reader, &sv[1]);
	host_writer(&sv[0]);
	pthread_join(t, NULL);
	double el = now() - t0;
	close(sv[0]);
	close(sv[1]);
	return (double)total / el / (1 << 20);
}

static void *loop_main(void *loop)
{
	event_loop_run(loop);
	return NULL;
}

static int measure_raw(void *ctx, double *v, char *why, size_t why_size)
{
	(void)ctx;
	*v = raw_pair();
	if (*v <= 0)
		return snprintf(why, why_size, "the socket pair moved nothing"), -EIO;
	return 0;
}

/* guest -> host through the device: MiB/s */
static int measure_g2h(void *ctx, double *v, char *why, size_t why_size)
{
	pthread_t rt;
	(void)ctx;
	double t0 = now();
	pthread_create(&rt, NULL, host_reader, NULL);
	for (uint64_t sent = 0; sent < total;) {
		uint32_t credit = peer_buf_alloc - (tx_cnt - peer_fwd_cnt);
		if (credit < CHUNK) {
			rx_drain(1000);
			continue;
		}
		tx(VSOCK_OP_RW, CHUNK);
		sent += CHUNK;
	}
	pthread_join(rt, NULL);
	*v = (double)total / (now() - t0) / (1 << 20);
	(void)why;
	(void)why_size;
	return 0;
}

/* host -> guest through the device: MiB/s; every byte must arrive */
static int measure_h2g(void *ctx, double *v, char *why, size_t why_size)
{
	uint64_t got = 0;
	pthread_t wt;
	(void)ctx;
	double t0 = now();
	pthread_create(&wt, NULL, host_writer, &host_fd);
	while (got < total) {
		uint64_t n = rx_drain(2000);
		if (!n && now() - t0 > 60)
			break;
		got += n;
	}
	pthread_join(wt, NULL);
	*v = (double)got / (now() - t0) / (1 << 20);
	if (got != total)
		return snprintf(why, why_size, "%llu of %llu bytes arrived",
				(unsigned long long)got, (unsigned long long)total), -EIO;
	return 0;
}

int main(void)
{
	const char *mb = getenv("PARMA_BENCH_VSOCK_MB");
	total = (mb ? strtoull(mb, NULL, 10) : 512) << 20;
	struct errbuf eb = { 0 };
	if (sim_guest_init(&g, 32u << 20) < 0)
		return 1;
	struct event_loop *loop = event_loop_create(&eb);
	g.host.loop = loop;
	sim_guest_enable_ioeventfd(&g); /* doorbells run the device on the loop, as with KVM */
	snprintf(path, sizeof(path), "/tmp/parma-bench-vsock-%d.sock", (int)getpid());
	struct virtio_vsock_opts o = { .guest_cid = CID, .uds_path = path };
	v = virtio_vsock_create(&g.host, BASE, 5, &o, &eb);
	if (!v) {
		fprintf(stderr, "bench_vsock: %s\n", eb.msg);
		return 1;
	}
	irq = virtio_mmio_irq_fd(virtio_vsock_transport(v));
	for (int i = 0; i < 3; i++)
		sim_queue_alloc(&g, &q[i], 256);
	rxbufs = sim_alloc(&g, NRX * (VSOCK_HDR_LEN + CHUNK), 4096);
	txbuf = sim_alloc(&g, NTX * (VSOCK_HDR_LEN + CHUNK), 4096);
	for (uint16_t i = 0; i < NTX; i++)
		tx_free[n_tx_free++] = i;
	if (!(sim_driver_init(&g, BASE, ~0ull, q, 3) & VIRTIO_STATUS_DRIVER_OK))
		return 1;
	for (uint16_t i = 0; i < NRX; i++)
		rx_post(i);
	sim_kick(&g, BASE, 0);
	pthread_t lt;
	pthread_create(&lt, NULL, loop_main, loop);

	char lpath[128];
	snprintf(lpath, sizeof(lpath), "%s_%u", path, HPORT);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, lpath);
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	unlink(lpath);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0)
		return 1;
	tx(VSOCK_OP_REQUEST, 0);
	while (rx_drain(1000) == 0 && peer_buf_alloc == 0)
		;
	host_fd = accept(lfd, NULL, NULL);
	printf("bench_vsock: %llu MiB per direction, %u KiB packets\n",
	       (unsigned long long)(total >> 20), CHUNK / 1024);

	static uint8_t pattern[CHUNK];
	memset(pattern, 0xa5, sizeof(pattern));
	for (unsigned i = 0; i < NTX; i++)
		memcpy((uint8_t *)sim_ptr(&g, txbuf + i * (VSOCK_HDR_LEN + CHUNK)) + VSOCK_HDR_LEN,
		       pattern, CHUNK);
	struct bench_comparison cmp = {
		.what = "vsock guest -> host stream",
		.unit = "MiB/s",
		.higher_is_better = true,
		.peer = { "unix socketpair, same chunks", measure_raw, NULL },
		.ours = { "parma virtio-vsock (hybrid, Unix socket)", measure_g2h, NULL },
	};
	int ret = bench_compare(&cmp);
	if (ret == 0) {
		cmp.what = "vsock host -> guest stream";
		cmp.ours.measure = measure_h2g;
		ret = bench_compare(&cmp);
	}

	close(host_fd);
	close(lfd);
	unlink(lpath);
	event_loop_stop(loop, 0);
	pthread_join(lt, NULL);
	virtio_vsock_destroy(v);
	event_loop_destroy(loop);
	sim_guest_free(&g);
	return ret < 0 ? 1 : 0;
}
