/* Fuzz target for the virtio-vsock device's packet path (devices/virtio_vsock.c): the guest's
 * packets and the host side's sockets interleaved, so the connection state machine (request,
 * response, credit, shutdown, reset, host CONNECT lines, data both ways) meets hostile input
 * from both sides in any order.
 *
 * The input is a program of operations, each a one-byte opcode and its fields:
 *   0 guest packet: op, src port, dst port, flags, buf_alloc, fwd_cnt, extra length, bits
 *     (spoofed source, foreign destination, wrong type, lying length, split descriptors,
 *     answer the last received packet), 12-bit length, then the payload
 *   1 host connects to the device socket and writes a line (up to '\n' in the input)
 *   2 host writes bytes on one of its connections
 *   3 host closes one of its connections
 *   4 the event loop runs for about a millisecond
 *   5 the guest takes what the device put in the rx queue and gives the buffers back
 *   6 host listeners accept what the guest connected and write to it
 * Each input starts from a device reset. Properties checked (beyond ASan/UBSan): every rx
 * packet the device produces names the host as source and the guest as destination and has
 * a length that fits its buffer; the device never crashes or hangs. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/virtio_mmio.h"
#include "devices/virtio_vsock.h"
#include "sim_guest.h"
#include "devices/event_loop.h"

#define BASE 0xd0000000ull
#define CID 7u
#define RXBUF 4096u
#define NRX 32u
#define NHOST 6
#define NLISTEN 2
#define PORT0 5000u

struct hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

static struct sim_guest g;
static struct event_loop *loop;
static struct virtio_vsock *vs;
static struct sim_queue q[3];
static uint64_t rxbuf, txbuf;
static char path[96];
static int listener[NLISTEN] = { -1, -1 };
static int host[NHOST] = { -1, -1, -1, -1, -1, -1 };
static uint32_t last_src_port, last_dst_port; /* of the last packet the guest received */

static void cleanup(void)
{
	virtio_vsock_destroy(vs);
	event_loop_destroy(loop);
	sim_guest_free(&g);
	for (int i = 0; i < NLISTEN; i++) {
		char p[128];
		snprintf(p, sizeof(p), "%s_%u", path, PORT0 + (unsigned)i);
		unlink(p);
	}
}

static void rx_post(uint16_t i)
{
	sim_desc(&g, &q[0], i, rxbuf + (uint64_t)i * (VSOCK_HDR_LEN + RXBUF),
		 VSOCK_HDR_LEN + RXBUF, VIRTQ_DESC_F_WRITE, 0);
	sim_publish(&g, &q[0], i);
}

static void init_once(void)
{
	if (loop)
		return;
	struct errbuf eb = { 0 };
	signal(SIGPIPE, SIG_IGN); /* as the VMM does: a host peer gone costs a write error */
	if (sim_guest_init(&g, 8u << 20) < 0 || !(loop = event_loop_create(&eb)))
		abort();
	g.host.loop = loop;
	snprintf(path, sizeof(path), "/tmp/parma-fuzz-vsockpk-%d.sock", (int)getpid());
	struct virtio_vsock_opts o = { .guest_cid = CID, .uds_path = path, .max_conns = 8,
				       .answer_timeout_ms = 50 };
	vs = virtio_vsock_create(&g.host, BASE, 10, &o, &eb);
	if (!vs) {
		fprintf(stderr, "%s\n", errbuf_msg(&eb));
		abort();
	}
	for (int i = 0; i < 3; i++)
		sim_queue_alloc(&g, &q[i], 64);
	rxbuf = sim_alloc(&g, NRX * (VSOCK_HDR_LEN + RXBUF), 4096);
	txbuf = sim_alloc(&g, 2 * (VSOCK_HDR_LEN + 65536), 4096);
	for (int i = 0; i < NLISTEN; i++) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", path, PORT0 + (unsigned)i);
		unlink(sa.sun_path);
		listener[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (listener[i] < 0 || bind(listener[i], (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    listen(listener[i], 16) < 0)
			abort();
	}
	atexit(cleanup);
}

static void stop_loop(void *ctx, uint32_t events)
{
	(void)events;
	event_loop_stop(ctx, 0);
}

static void pump(void)
{
	if (event_loop_add_timer(loop, 1000000, false, stop_loop, loop) < 0)
		abort();
	event_loop_run(loop);
}

static void guest_rx(void)
{
	uint32_t id, len;
	int n = 0;
	while (sim_used(&g, &q[0], &id, &len) && n++ < 256) {
		if (id >= NRX || len < VSOCK_HDR_LEN || len > VSOCK_HDR_LEN + RXBUF) {
			fprintf(stderr, "rx: used id %u len %u out of range\n", id, len);
			abort();
		}
		struct hdr *h = sim_ptr(&g, rxbuf + (uint64_t)id * (VSOCK_HDR_LEN + RXBUF));
		if (h->src_cid != VSOCK_HOST_CID || h->dst_cid != CID ||
		    h->len != len - VSOCK_HDR_LEN) {
			fprintf(stderr, "rx: bad header src %llu dst %llu len %u (used len %u)\n",
				(unsigned long long)h->src_cid, (unsigned long long)h->dst_cid, h->len,
				len);
			abort();
		}
		last_src_port = h->src_port;
		last_dst_port = h->dst_port;
		rx_post((uint16_t)id);
	}
	sim_kick(&g, BASE, 0);
}

static void guest_tx(const uint8_t *f, const uint8_t *payload, uint32_t len)
{
	struct hdr *h = sim_ptr(&g, txbuf);
	memset(h, 0, sizeof(*h));
	h->src_cid = (f[7] & 1) ? 99 : CID;         /* spoofed source */
	h->dst_cid = (f[7] & 2) ? 5 : VSOCK_HOST_CID; /* not for the host */
	h->type = (f[7] & 4) ? 2 : VSOCK_TYPE_STREAM;
	h->op = f[0] & 7;
	h->src_port = 1000u + f[1];
	h->dst_port = (f[2] & 0x80) ? 1024u + (f[2] & 0x7f) : PORT0 + (f[2] & 3);
	h->flags = f[3] & 3;
	h->buf_alloc = (uint32_t)f[4] << 10;
	h->fwd_cnt = (uint32_t)f[5] << 6;
	if (f[7] & 32) { /* answer the last packet received: host-chosen ports */
		h->src_port = last_dst_port;
		h->dst_port = last_src_port;
	}
	h->len = (f[7] & 8) ? len + f[6] : len;     /* a lying length */
	uint8_t *body = (uint8_t *)h + VSOCK_HDR_LEN;
	if (len)
		memcpy(body, payload, len);
	if (f[7] & 16) { /* header and payload in two descriptors */
		uint64_t gpa[2] = { txbuf, txbuf + VSOCK_HDR_LEN };
		uint32_t l[2] = { VSOCK_HDR_LEN, len };
		bool w[2] = { false, false };
		sim_chain(&g, &q[1], gpa, l, w, len ? 2 : 1);
	} else {
		sim_desc(&g, &q[1], q[1].next_desc, txbuf, VSOCK_HDR_LEN + len, 0, 0);
		sim_publish(&g, &q[1], q[1].next_desc);
		q[1].next_desc = (uint16_t)((q[1].next_desc + 1) % q[1].size);
	}
	sim_kick(&g, BASE, 1);
	uint32_t id, ul;
	while (sim_used(&g, &q[1], &id, &ul))
		;
}

static int host_slot(uint8_t b)
{
	return b % NHOST;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init_once();
	if (size > 64 * 1024)
		return 0;
	/* Fresh device: reset, driver init, every rx buffer posted. */
	sim_write32(&g, BASE, VIRTIO_MMIO_STATUS, 0);
	for (int i = 0; i < 3; i++) { /* as a driver does: fresh, zeroed rings */
		q[i].avail_idx = q[i].last_used = q[i].next_desc = 0;
		memset(sim_ptr(&g, q[i].desc), 0, 16u * q[i].size);
		memset(sim_ptr(&g, q[i].avail), 0, 6u + 2u * q[i].size);
		memset(sim_ptr(&g, q[i].used), 0, 6u + 8u * q[i].size);
	}
	if (!(sim_driver_init(&g, BASE, ~0ull, q, 3) & VIRTIO_STATUS_DRIVER_OK))
		abort();
	for (uint16_t i = 0; i < NRX; i++)
		rx_post(i);
	sim_kick(&g, BASE, 0);

	size_t i = 0;
	for (int steps = 0; i < size && steps < 256; steps++) {
		uint8_t op = data[i++] % 7;
		switch (op) {
		case 0: {
			if (size - i < 10)
				goto done;
			const uint8_t *f = data + i;
			uint32_t len = (uint32_t)f[8] | (uint32_t)(f[9] & 0x0f) << 8;
			i += 10;
			if (len > size - i)
				len = (uint32_t)(size - i);
			guest_tx(f, data + i, len);
			i += len;
			break;
		}
		case 1: {
			if (i >= size)
				goto done;
			int s = host_slot(data[i++]);
			if (host[s] >= 0)
				close(host[s]);
			host[s] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
			struct sockaddr_un sa = { .sun_family = AF_UNIX };
			strcpy(sa.sun_path, path);
			if (host[s] < 0 || connect(host[s], (struct sockaddr *)&sa, sizeof(sa)) < 0)
				abort();
			const uint8_t *nl = memchr(data + i, '\n', size - i);
			size_t l = nl ? (size_t)(nl - (data + i)) + 1 : size - i;
			if (send(host[s], data + i, l, MSG_NOSIGNAL) < 0 && errno != EAGAIN)
				break;
			i += l;
			break;
		}
		case 2: {
			if (size - i < 2)
				goto done;
			int s = host_slot(data[i]);
			size_t l = data[i + 1];
			i += 2;
			if (l > size - i)
				l = size - i;
			if (host[s] >= 0)
				send(host[s], data + i, l, MSG_NOSIGNAL | MSG_DONTWAIT);
			i += l;
			break;
		}
		case 3:
			if (i >= size)
				goto done;
			{
				int s = host_slot(data[i++]);
				if (host[s] >= 0)
					close(host[s]);
				host[s] = -1;
			}
			break;
		case 4:
			pump();
			break;
		case 5:
			guest_rx();
			break;
		case 6:
			for (int k = 0; k < NLISTEN; k++) {
				int fd;
				while ((fd = accept4(listener[k], NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					send(fd, "pong\n", 5, MSG_NOSIGNAL | MSG_DONTWAIT);
					int s = host_slot((uint8_t)fd);
					if (host[s] >= 0)
						close(host[s]);
					host[s] = fd;
				}
			}
			break;
		}
	}
done:
	pump();
	guest_rx();
	for (int s = 0; s < NHOST; s++) {
		if (host[s] >= 0)
			close(host[s]);
		host[s] = -1;
	}
	pump();
	return 0;
}
