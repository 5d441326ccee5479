/* Guest side of the virtio-vsock KVM test (enabled by "virtio.vsock" on the
 * command line): connect to host port 5000 and check that a host echo server
 * returns our bytes; then announce "vsock ready-for-host 1234" and echo back
 * whatever a host-initiated connection to port 1234 sends until the host
 * closes it. Polling, one packet in flight on tx. */
#include "payload.h"
#include "virtio_drv.h"

#define RXQ 0
#define TXQ 1
#define EVQ 2
#define HDR 44u
#define RXBUF 4096u
#define NRX 8u
#define HOST_CID 2u
#define GUEST_PORT 1000u
#define HOST_PORT 5000u
#define LISTEN_PORT 1234u
#define ECHO_BYTES 6000u
#define SPINS 400000000ull
#define OP_REQUEST 1
#define OP_RESPONSE 2
#define OP_RST 3
#define OP_SHUTDOWN 4
#define OP_RW 5
#define OP_CREDIT_UPDATE 6
#define OP_CREDIT_REQUEST 7

struct __attribute__((packed)) vhdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
};

static struct vdrv_dev dev;
static uint64_t cid, rxbufs, txbuf;
static uint32_t fwd_cnt; /* bytes we consumed, per connection (one at a time) */
static struct vhdr in_hdr;
static uint8_t in_data[RXBUF];

static int send(uint16_t op, uint32_t src, uint32_t dst, const void *data, uint32_t len,
		uint32_t flags)
{
	volatile struct vhdr *h = (volatile struct vhdr *)(uintptr_t)txbuf;
	h->src_cid = cid;
	h->dst_cid = HOST_CID;
	h->src_port = src;
	h->dst_port = dst;
	h->len = len;
	h->type = 1;
	h->op = op;
	h->flags = flags;
	h->buf_alloc = 65536;
	h->fwd_cnt = fwd_cnt;
	if (len)
		memcpy((void *)(uintptr_t)(txbuf + HDR), data, len);
	vdrv_set_desc(&dev.q[TXQ], 0, txbuf, HDR + len, 0, 0);
	vdrv_publish(&dev.q[TXQ], 0);
	vdrv_kick(&dev, TXQ);
	uint32_t id, l;
	return vdrv_wait_used(&dev.q[TXQ], &id, &l, SPINS);
}

static void rx_post(uint16_t i)
{
	vdrv_set_desc(&dev.q[RXQ], i, rxbufs + (uint64_t)i * (HDR + RXBUF), HDR + RXBUF, 2, 0);
	vdrv_publish(&dev.q[RXQ], i);
}

/* Next packet for us into in_hdr/in_data; -1 on timeout. */
static int recv(uint64_t spins)
{
	uint32_t id, len;
	if (vdrv_wait_used(&dev.q[RXQ], &id, &len, spins) < 0 || id >= NRX || len < HDR)
		return -1;
	const uint8_t *b = (const uint8_t *)(uintptr_t)(rxbufs + (uint64_t)id * (HDR + RXBUF));
	memcpy(&in_hdr, b, HDR);
	uint32_t n = in_hdr.len <= RXBUF && in_hdr.len <= len - HDR ? in_hdr.len : 0;
	memcpy(in_data, b + HDR, n);
	in_hdr.len = n;
	rx_post((uint16_t)id);
	vdrv_kick(&dev, RXQ);
	return 0;
}

static uint8_t pat(uint32_t i) { return (uint8_t)(i * 3u + 1u); }

static int guest_initiated(void)
{
	static uint8_t out[3000];
	fwd_cnt = 0;
	if (send(OP_REQUEST, GUEST_PORT, HOST_PORT, 0, 0, 0) < 0 || recv(SPINS) < 0 ||
	    in_hdr.op != OP_RESPONSE || in_hdr.src_port != HOST_PORT) {
		pr("vsock guest-initiated: no RESPONSE (op %u)\n", in_hdr.op);
		return 1;
	}
	for (uint32_t part = 0; part < ECHO_BYTES / sizeof(out); part++) {
		for (uint32_t i = 0; i < sizeof(out); i++)
			out[i] = pat(part * (uint32_t)sizeof(out) + i);
		if (send(OP_RW, GUEST_PORT, HOST_PORT, out, sizeof(out), 0) < 0)
			return 1;
	}
	uint32_t got = 0, wrong = 0;
	while (got < ECHO_BYTES && recv(SPINS) == 0) {
		if (in_hdr.op != OP_RW)
			continue;
		for (uint32_t i = 0; i < in_hdr.len; i++)
			wrong += in_data[i] != pat(got + i);
		got += in_hdr.len;
		fwd_cnt += in_hdr.len;
	}
	send(OP_SHUTDOWN, GUEST_PORT, HOST_PORT, 0, 0, 3);
	int rst = 0;
	for (int i = 0; i < 4 && !rst && recv(SPINS / 4) == 0; i++)
		rst = in_hdr.op == OP_RST;
	pr("vsock guest-initiated echo %u bytes mismatches %u rst %d\n", got, wrong, rst);
	return got != ECHO_BYTES || wrong || !rst;
}

static int host_initiated(void)
{
	fwd_cnt = 0;
	pr("vsock ready-for-host %u\n", LISTEN_PORT);
	int r;
	while ((r = recv(SPINS * 4)) == 0 && in_hdr.op != OP_REQUEST)
		;
	if (r < 0 || in_hdr.dst_port != LISTEN_PORT) {
		pr("vsock host-initiated: no REQUEST\n");
		return 1;
	}
	uint32_t peer = in_hdr.src_port;
	send(OP_RESPONSE, LISTEN_PORT, peer, 0, 0, 0);
	uint32_t echoed = 0;
	while (recv(SPINS) == 0) {
		if (in_hdr.src_port != peer)
			continue;
		if (in_hdr.op == OP_RW) {
			fwd_cnt += in_hdr.len;
			send(OP_RW, LISTEN_PORT, peer, in_data, in_hdr.len, 0);
			echoed += in_hdr.len;
		} else if (in_hdr.op == OP_SHUTDOWN || in_hdr.op == OP_RST) {
			if (in_hdr.op == OP_SHUTDOWN)
				send(OP_RST, LISTEN_PORT, peer, 0, 0, 0);
			pr("vsock host-initiated echo %u bytes peer-port %u\n", echoed, peer);
			return echoed == 0;
		} else if (in_hdr.op == OP_CREDIT_REQUEST) {
			send(OP_CREDIT_UPDATE, LISTEN_PORT, peer, 0, 0, 0);
		}
	}
	pr("vsock host-initiated: timed out after %u bytes\n", echoed);
	return 1;
}

static int vsock_test(const struct payload_info *info)
{
	if (!cmdline_has(info->cmdline, "virtio.vsock"))
		return 0;
	if (vdrv_find(19, 0, &dev) < 0 || vdrv_init(&dev, 0, 3) < 0) {
		pr("virtio-vsock: no usable device\n");
		return 1;
	}
	cid = vdrv_config64(&dev, 0);
	pr("virtio-vsock at %lx cid %lu\n", dev.base, cid);
	rxbufs = vdrv_alloc(NRX * (HDR + RXBUF), 4096);
	txbuf = vdrv_alloc(HDR + RXBUF, 4096);
	if (!rxbufs || !txbuf)
		return 1;
	for (uint16_t i = 0; i < NRX; i++)
		rx_post(i);
	vdrv_kick(&dev, RXQ);
	int fail = guest_initiated();
	fail += host_initiated();
	pr("virtio-vsock status %x\n", vdrv_status(&dev));
	return fail;
}

PAYLOAD_TEST("virtio-vsock", vsock_test);
