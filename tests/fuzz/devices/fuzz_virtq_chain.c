/* Fuzz target over descriptor-chain handling. The input is a guest: its first
 * byte picks the consumer (0: the bare virtqueue, 1: virtio-blk, 2: the
 * virtio-vsock tx path, 3: raw register accesses to both transports, in any
 * order, with the rings below), the next two set the queue size and the avail index,
 * and the rest is copied over guest RAM where the rings and buffers live, so
 * descriptors, indirect tables, lengths and request headers are all hostile.
 * Properties checked (beyond ASan/UBSan): popped chains point only into guest
 * RAM and respect the caps; the device never crashes or hangs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/virtio_blk.h"
#include "devices/virtio_mmio.h"
#include "devices/virtio_vsock.h"
#include "devices/virtqueue.h"
#include "sim_guest.h"
#include "devices/event_loop.h"

#define RAM (256u * 1024u)
#define BLK_BASE 0xd0000000ull
#define VSOCK_BASE 0xd0001000ull
#define DESC_GPA SIM_RAM_BASE
#define AVAIL_GPA (SIM_RAM_BASE + 0x1000)
#define USED_GPA (SIM_RAM_BASE + 0x2000)

static struct sim_guest g;
static struct virtio_blk *blk;
static struct virtio_vsock *vsock;
static struct event_loop *loop;
static char disk[64], sock[64], port52[80];
static int listen52 = -1; /* a host listener, so guest connects to port 52 succeed */

static void cleanup(void)
{
	virtio_blk_destroy(blk);
	virtio_vsock_destroy(vsock);
	event_loop_destroy(loop);
	sim_guest_free(&g);
	unlink(disk);
	if (listen52 >= 0)
		close(listen52);
	unlink(port52);
}

static void init_once(void)
{
	if (g.ram)
		return;
	if (sim_guest_init(&g, RAM) < 0)
		abort();
	snprintf(disk, sizeof(disk), "/tmp/parma-fuzz-disk-%d", (int)getpid());
	FILE *f = fopen(disk, "w");
	if (!f || ftruncate(fileno(f), 64 * 1024) < 0)
		abort();
	fclose(f);
	struct errbuf eb = { 0 };
	struct virtio_blk_opts bo = { .path = disk, .num_queues = 1 };
	blk = virtio_blk_create(&g.host, BLK_BASE, 5, &bo, &eb);
	loop = event_loop_create(&eb);
	struct device_host vh = g.host;
	vh.loop = loop;
	snprintf(sock, sizeof(sock), "/tmp/parma-fuzz-vsock-%d.sock", (int)getpid());
	struct virtio_vsock_opts vo = { .guest_cid = 3, .uds_path = sock };
	vsock = virtio_vsock_create(&vh, VSOCK_BASE, 6, &vo, &eb);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(port52, sizeof(port52), "%s_52", sock);
	strcpy(sa.sun_path, port52);
	listen52 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (listen52 < 0 || bind(listen52, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(listen52, 64) < 0)
		abort();
	if (!blk || !loop || !vsock) {
		fprintf(stderr, "fuzz setup: %s\n", eb.msg);
		abort();
	}
	atexit(cleanup);
}

static void check_chain(const struct virtq_chain *c)
{
	uint64_t out = 0, in = 0;
	if (c->n_out + c->n_in > VIRTQ_MAX_CHAIN)
		abort();
	for (unsigned i = 0; i < (unsigned)c->n_out + c->n_in; i++) {
		const uint8_t *p = c->iov[i].iov_base;
		if (p < g.ram || p + c->iov[i].iov_len > g.ram + RAM)
			abort(); /* outside guest RAM */
		*(i < c->n_out ? &out : &in) += c->iov[i].iov_len;
	}
	if (out != c->out_len || in != c->in_len || out > VIRTQ_MAX_CHAIN_BYTES ||
	    in > VIRTQ_MAX_CHAIN_BYTES)
		abort();
}

static void run_virtq(uint16_t size)
{
	static struct virtq q;
	static struct virtq_chain c;
	virtq_reset(&q);
	q.size = size;
	q.desc_gpa = DESC_GPA;
	q.avail_gpa = AVAIL_GPA;
	q.used_gpa = USED_GPA;
	q.indirect = true;
	q.event_idx = size & 1;
	if (virtq_activate(&q, &g.mem, VIRTQ_MAX_SIZE) < 0)
		return;
	for (unsigned i = 0; i < 2 * VIRTQ_MAX_SIZE; i++) {
		int r = virtq_pop(&q, &c);
		if (r <= 0)
			break;
		check_chain(&c);
		virtq_push(&q, c.head, c.in_len);
		virtq_should_notify(&q);
	}
	virtq_enable_notify(&q);
}

static void run_device(uint64_t base, unsigned nq, uint16_t size, uint16_t kick)
{
	struct sim_queue qs[3];
	for (unsigned i = 0; i < nq; i++) {
		/* Queue 0 uses the fuzzed rings; the others get empty ones. */
		qs[i] = (struct sim_queue){ .size = size, .desc = DESC_GPA,
					    .avail = i == kick ? AVAIL_GPA : USED_GPA + 0x2000,
					    .used = USED_GPA + 0x1000 * i };
	}
	sim_driver_init(&g, base, ~0ull, qs, nq);
	sim_kick(&g, base, kick);
	sim_write32(&g, base, VIRTIO_MMIO_STATUS, 0); /* reset: drops connections too */
}

/* Mode 3: the input is a program of register accesses: 8 bytes each
 * (device, offset, width, value). Ends with a reset of both devices. */
static void run_registers(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 8 <= n && i < 8 * 512; i += 8) {
		uint64_t base = (p[i] & 1) ? VSOCK_BASE : BLK_BASE;
		uint64_t off = ((uint64_t)p[i + 1] | (uint64_t)(p[i + 2] & 0x0f) << 8);
		uint32_t len = 1u << (p[i + 3] & 3);
		uint8_t val[8] = { p[i + 4], p[i + 5], p[i + 6], p[i + 7], 0, 0, 0, 0 };
		bus_access(&g.mmio, base + off, val, len, !(p[i] & 2));
	}
	sim_write32(&g, BLK_BASE, VIRTIO_MMIO_STATUS, 0);
	sim_write32(&g, VSOCK_BASE, VIRTIO_MMIO_STATUS, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init_once();
	if (size < 4)
		return 0;
	uint8_t mode = data[0] % 4;
	uint16_t qsize = (uint16_t)(1u << (data[1] % 9)); /* 1..256 */
	uint16_t avail_idx = data[2];
	uint8_t which = data[3];
	data += 4, size -= 4;
	memset(g.ram, 0, 64 * 1024);
	memcpy(g.ram, data, size < 64 * 1024 ? size : 64 * 1024);
	uint16_t *avail = (uint16_t *)(g.ram + (AVAIL_GPA - SIM_RAM_BASE));
	avail[1] = avail_idx; /* how many entries the driver claims */
	switch (mode) {
	case 0:
		run_virtq(qsize);
		break;
	case 1:
		run_device(BLK_BASE, 1, qsize, 0);
		break;
	case 2:
		run_device(VSOCK_BASE, 3, qsize, which % 3);
		/* Host side: take and drop whatever the guest connected. */
		for (int fd; (fd = accept(listen52, NULL, NULL)) >= 0;)
			close(fd);
		break;
	case 3:
		/* Rings and buffers stay as copied; the program is the input's tail. */
		run_registers(data + (size > 0x3000 ? 0x3000 : size), size > 0x3000 ? size - 0x3000 : 0);
		break;
	}
	return 0;
}
