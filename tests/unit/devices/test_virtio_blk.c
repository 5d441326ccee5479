/* virtio-blk against a simulated guest and a temporary disk image: every
 * request type, read-only disks, several queues, hostile requests, and the
 * event-loop completion path. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/virtio_blk.h"
#include "devices/virtio_mmio.h"
#include "sim_guest.h"
#include "devices/event_loop.h"

#define BASE 0xd0000000ull
#define DISK_SECTORS 2048u /* 1 MiB */

struct fixture {
	char path[64];
	char file[64]; /* backing file of a loop device (BLK_TEST_BDEV) */
	struct sim_guest g;
	struct virtio_blk *blk;
	struct sim_queue q[2];
	uint64_t hdr, data, status;
};

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off * 7 + (off >> 9));
}

static void drop_disk(struct fixture *f);

static int make_disk(struct fixture *f)
{
	int r;
	strcpy(f->path, "/tmp/parma-blk-test-XXXXXX");
	int fd = mkstemp(f->path);
	if (fd < 0)
		return -1;
	uint8_t *buf = malloc(DISK_SECTORS * 512);
	for (uint64_t i = 0; i < DISK_SECTORS * 512; i++)
		buf[i] = pattern(i);
	r = write(fd, buf, DISK_SECTORS * 512) == DISK_SECTORS * 512 ? 0 : -1;
	free(buf);
	close(fd);
#ifdef BLK_TEST_BDEV
	/* The same image behind a loop device: the block-device code paths
	 * (BLKGETSIZE64, BLKDISCARD, zeroing through fallocate on a bdev). */
	strcpy(f->file, f->path);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "losetup -f --show %s 2>/dev/null", f->file);
	FILE *p = popen(cmd, "r");
	f->path[0] = 0;
	if (!p || !fgets(f->path, sizeof(f->path), p) || strncmp(f->path, "/dev/loop", 9)) {
		if (p)
			pclose(p);
		unlink(f->file);
		return -1;
	}
	pclose(p);
	f->path[strcspn(f->path, "\n")] = 0;
#endif
	return r;
}

static void drop_disk(struct fixture *f)
{
#ifdef BLK_TEST_BDEV
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "losetup -d %s", f->path);
	if (system(cmd) != 0)
		fprintf(stderr, "could not detach %s\n", f->path);
	unlink(f->file);
#else
	unlink(f->path);
#endif
}

static int open_blk(struct fixture *f, bool ro, unsigned nq, uint64_t want)
{
	struct errbuf eb = { 0 };
	struct virtio_blk_opts o = { .path = f->path, .read_only = ro, .num_queues = nq,
				     .serial = "parma-test-disk" };
	f->blk = virtio_blk_create(&f->g.host, BASE, 9, &o, &eb);
	if (!f->blk) {
		fprintf(stderr, "%s\n", eb.msg);
		return -1;
	}
	for (unsigned i = 0; i < nq; i++)
		sim_queue_alloc(&f->g, &f->q[i], 128);
	uint32_t st = sim_driver_init(&f->g, BASE, want, f->q, nq);
	return (st & VIRTIO_STATUS_DRIVER_OK) ? 0 : -1;
}

static int setup_common(void **state, bool ro, unsigned nq)
{
	static struct fixture f;
	memset(&f, 0, sizeof(f));
	if (make_disk(&f) < 0 || sim_guest_init(&f.g, 8u << 20) < 0)
		return -1;
	f.hdr = sim_alloc(&f.g, 64, 16);
	f.status = sim_alloc(&f.g, 16, 16);
	f.data = sim_alloc(&f.g, 2u << 20, 4096);
	if (open_blk(&f, ro, nq, ~0ull) < 0)
		return -1;
	*state = &f;
	return 0;
}

static int setup_rw(void **state) { return setup_common(state, false, 2); }
static int setup_ro(void **state) { return setup_common(state, true, 1); }

static int teardown(void **state)
{
	struct fixture *f = *state;
	virtio_blk_destroy(f->blk);
	sim_guest_free(&f->g);
	drop_disk(f);
	return 0;
}

static void put_hdr(struct fixture *f, uint32_t type, uint64_t sector)
{
	uint8_t *h = sim_ptr(&f->g, f->hdr);
	memset(h, 0, 16);
	memcpy(h, &type, 4);
	memcpy(h + 8, &sector, 8);
}

/* Issue header + optional data + status on queue qi; return the status byte
 * (or -1 if no used entry appeared) and the used length in *used_len. */
static int request(struct fixture *f, unsigned qi, uint32_t type, uint64_t sector,
		   uint32_t data_len, bool data_writable, uint32_t *used_len)
{
	put_hdr(f, type, sector);
	*(uint8_t *)sim_ptr(&f->g, f->status) = 0xee;
	uint64_t gpa[3] = { f->hdr, f->data, f->status };
	uint32_t len[3] = { 16, data_len, 1 };
	bool w[3] = { false, data_writable, true };
	if (data_len == 0) {
		gpa[1] = f->status, len[1] = 1, w[1] = true;
	}
	uint16_t head = sim_chain(&f->g, &f->q[qi], gpa, len, w, data_len ? 3 : 2);
	sim_kick(&f->g, BASE, (uint16_t)qi);
	uint32_t id, ul;
	if (!sim_used(&f->g, &f->q[qi], &id, &ul))
		return -1;
	assert_int_equal(id, head);
	if (used_len)
		*used_len = ul;
	return *(uint8_t *)sim_ptr(&f->g, f->status);
}

static void file_bytes(struct fixture *f, uint64_t off, void *buf, size_t len)
{
	int fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void blk_reads_pattern_from_disk(void **state)
{
	struct fixture *f = *state;
	uint32_t used;
	assert_int_equal(request(f, 0, VIRTIO_BLK_T_IN, 0, DISK_SECTORS * 512, true, &used),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(used, DISK_SECTORS * 512 + 1);
	uint8_t *d = sim_ptr(&f->g, f->data);
	for (uint64_t i = 0; i < DISK_SECTORS * 512; i++)
		if (d[i] != pattern(i))
			fail_msg("byte %llu differs", (unsigned long long)i);
	/* Second queue works too. */
	memset(d, 0, 4096);
	assert_int_equal(request(f, 1, VIRTIO_BLK_T_IN, 8, 4096, true, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(d[0], pattern(8 * 512));
	assert_int_equal(d[4095], pattern(8 * 512 + 4095));
}

static void blk_writes_and_flushes(void **state)
{
	struct fixture *f = *state;
	uint8_t *d = sim_ptr(&f->g, f->data);
	memset(d, 0x5a, 8192);
	uint32_t used;
	assert_int_equal(request(f, 0, VIRTIO_BLK_T_OUT, 100, 8192, false, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 1);
	assert_int_equal(request(f, 0, VIRTIO_BLK_T_FLUSH, 0, 0, false, &used), VIRTIO_BLK_S_OK);
	uint8_t buf[8194];
	file_bytes(f, 100 * 512 - 1, buf, sizeof(buf));
	assert_int_equal(buf[0], pattern(100 * 512 - 1));
	assert_int_equal(buf[1], 0x5a);
	assert_int_equal(buf[8192], 0x5a);
	assert_int_equal(buf[8193], pattern(100 * 512 + 8192));
}

static void blk_get_id_returns_serial(void **state)
{
	struct fixture *f = *state;
	uint32_t used;
	memset(sim_ptr(&f->g, f->data), 0xff, 20);
	assert_int_equal(request(f, 0, VIRTIO_BLK_T_GET_ID, 0, 20, true, &used), VIRTIO_BLK_S_OK);
	assert_int_equal(used, 21);
	assert_memory_equal(sim_ptr(&f->g, f->data), "parma-test-disk\0\0\0\0\0", 20);
}

static void put_seg(struct fixture *f, uint64_t sector, uint32_t n, uint32_t flags)
{
	uint8_t *s = sim_ptr(&f->g, f->data);
	memcpy(s, &sector, 8);
	memcpy(s + 8, &n, 4);
	memcpy(s + 12, &flags, 4);
}

static void blk_discard_and_write_zeroes(void **state)
{
	struct fixture *f = *state;
	struct virtio_mmio *m = virtio_blk_transport(f->blk);
	assert_true(virtio_mmio_has_feature(m, VIRTIO_BLK_F_DISCARD));
	assert_true(virtio_mmio_has_feature(m, VIRTIO_BLK_F_WRITE_ZEROES));
	uint8_t buf[4096], zero[4096] = { 0 };
	put_seg(f, 16, 8, 0);
	assert_int_equal(request(f, 0, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false, NULL),
			 VIRTIO_BLK_S_OK);
	file_bytes(f, 16 * 512, buf, 4096);
	assert_memory_equal(buf, zero, 4096);
	file_bytes(f, 24 * 512, buf, 1);
	assert_int_equal(buf[0], pattern(24 * 512));
	put_seg(f, 64, 8, 1); /* with unmap */
	assert_int_equal(request(f, 0, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false, NULL),
			 VIRTIO_BLK_S_OK);
	file_bytes(f, 64 * 512, buf, 4096);
	assert_memory_equal(buf, zero, 4096);
	put_seg(f, 256, 16, 0);
	assert_int_equal(request(f, 0, VIRTIO_BLK_T_DISCARD, 0, 16, false, NULL), VIRTIO_BLK_S_OK);
	/* unmap flag on discard and reserved flags: unsupported */
	put_seg(f, 256, 16, 1);
	assert_int_equal(request(f, 0, VIRTIO_BLK_T_DISCARD, 0, 16, false, NULL),
			 VIRTIO_BLK_S_UNSUPP);
	put_seg(f, 256, 16, 4);
	assert_int_equal(request(f, 0, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false, NULL),
			 VIRTIO_BLK_S_UNSUPP);
	/* out of range, zero length, two segments */
	put_seg(f, DISK_SECTORS - 4, 8, 0);
	assert_int_equal(request(f, 0, VIRTIO_BLK_T_DISCARD, 0, 16, false, NULL), VIRTIO_BLK_S_IOERR);
	put_seg(f, 0, 0, 0);
	assert_int_equal(request(f, 0, VIRTIO_BLK_T_DISCARD, 0, 16, false, NULL), VIRTIO_BLK_S_IOERR);
	put_seg(f, 0, 8, 0);
	assert_int_equal(request(f, 0, VIRTIO_BLK_T_DISCARD, 0, 32, false, NULL), VIRTIO_BLK_S_IOERR);
}

static void blk_rejects_bad_requests_with_status(void **state)
{
	struct fixture *f = *state;
	/* Past the end, straddling the end, huge sector (overflow), misaligned length. */
	assert_int_equal(request(f, 0, VIRTIO_BLK_T_IN, DISK_SECTORS, 512, true, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(f, 0, VIRTIO_BLK_T_IN, DISK_SECTORS - 1, 1024, true, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(f, 0, VIRTIO_BLK_T_OUT, UINT64_MAX / 256, 512, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(f, 0, VIRTIO_BLK_T_IN, 0, 100, true, NULL), VIRTIO_BLK_S_IOERR);
	/* Data in the wrong direction for the type. */
	assert_int_equal(request(f, 0, VIRTIO_BLK_T_IN, 0, 512, false, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(f, 0, VIRTIO_BLK_T_OUT, 0, 512, true, NULL), VIRTIO_BLK_S_IOERR);
	/* Unknown type. */
	assert_int_equal(request(f, 0, 77, 0, 0, false, NULL), VIRTIO_BLK_S_UNSUPP);
	/* Header shorter than 16 bytes. */
	uint64_t gpa[2] = { f->hdr, f->status };
	uint32_t len[2] = { 8, 1 };
	bool w[2] = { false, true };
	sim_chain(&f->g, &f->q[0], gpa, len, w, 2);
	sim_kick(&f->g, BASE, 0);
	uint32_t id, ul;
	assert_true(sim_used(&f->g, &f->q[0], &id, &ul));
	assert_int_equal(*(uint8_t *)sim_ptr(&f->g, f->status), VIRTIO_BLK_S_IOERR);
	/* The device is still running after all of these. */
	assert_true(virtio_mmio_running(virtio_blk_transport(f->blk)));
	assert_int_equal(request(f, 0, VIRTIO_BLK_T_IN, 0, 512, true, NULL), VIRTIO_BLK_S_OK);
}

static void blk_hostile_chains_need_reset(void **state)
{
	struct fixture *f = *state;
	struct virtio_mmio *m = virtio_blk_transport(f->blk);
	/* No writable byte for the status. */
	uint64_t gpa[1] = { f->hdr };
	uint32_t len[1] = { 16 };
	bool w[1] = { false };
	put_hdr(f, VIRTIO_BLK_T_FLUSH, 0);
	sim_chain(&f->g, &f->q[0], gpa, len, w, 1);
	sim_kick(&f->g, BASE, 0);
	assert_true(sim_read32(&f->g, BASE, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_false(virtio_mmio_running(m));
	uint64_t v;
	assert_int_equal(read(virtio_mmio_irq_fd(m), &v, 8), 8);

	/* After a reset the device works again; then a buffer outside RAM fails it. */
	f->q[0].avail_idx = f->q[0].last_used = f->q[0].next_desc = 0;
	memset(sim_ptr(&f->g, f->q[0].avail), 0, 6 + 2 * 128);
	memset(sim_ptr(&f->g, f->q[0].used), 0, 6 + 8 * 128);
	sim_driver_init(&f->g, BASE, ~0ull, f->q, 2);
	assert_true(virtio_mmio_running(m));
	assert_int_equal(request(f, 0, VIRTIO_BLK_T_IN, 0, 512, true, NULL), VIRTIO_BLK_S_OK);
	uint64_t bad[3] = { f->hdr, 0x1000, f->status };
	uint32_t blen[3] = { 16, 512, 1 };
	bool bw[3] = { false, true, true };
	put_hdr(f, VIRTIO_BLK_T_IN, 0);
	sim_chain(&f->g, &f->q[0], bad, blen, bw, 3);
	sim_kick(&f->g, BASE, 0);
	assert_true(sim_read32(&f->g, BASE, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
}

static void blk_read_only_refuses_writes(void **state)
{
	struct fixture *f = *state;
	struct virtio_mmio *m = virtio_blk_transport(f->blk);
	assert_true(virtio_mmio_has_feature(m, VIRTIO_BLK_F_RO));
	assert_false(virtio_mmio_has_feature(m, VIRTIO_BLK_F_DISCARD));
	memset(sim_ptr(&f->g, f->data), 0x11, 512);
	assert_int_equal(request(f, 0, VIRTIO_BLK_T_OUT, 0, 512, false, NULL), VIRTIO_BLK_S_IOERR);
	put_seg(f, 0, 8, 0);
	assert_int_equal(request(f, 0, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false, NULL),
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(request(f, 0, VIRTIO_BLK_T_FLUSH, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	uint8_t b;
	file_bytes(f, 0, &b, 1);
	assert_int_equal(b, pattern(0));
	assert_int_equal(request(f, 0, VIRTIO_BLK_T_IN, 1, 512, true, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(*(uint8_t *)sim_ptr(&f->g, f->data), pattern(512));
}

static void blk_config_reports_geometry(void **state)
{
	struct fixture *f = *state;
	uint64_t cap = 0;
	uint16_t nq = 0;
	bus_access(&f->g.mmio, BASE + 0x100, (uint8_t *)&cap, 8, false);
	bus_access(&f->g.mmio, BASE + 0x100 + 34, (uint8_t *)&nq, 2, false);
	assert_int_equal(cap, DISK_SECTORS);
	assert_int_equal(nq, 2);
	assert_true(virtio_mmio_has_feature(virtio_blk_transport(f->blk), VIRTIO_BLK_F_MQ));
}

static void blk_refuses_missing_and_odd_files(void **state)
{
	(void)state;
	struct sim_guest g;
	assert_int_equal(sim_guest_init(&g, 1u << 20), 0);
	struct errbuf eb = { 0 };
	struct virtio_blk_opts o = { .path = "/nonexistent/disk.img" };
	assert_null(virtio_blk_create(&g.host, BASE, 9, &o, &eb));
	assert_non_null(strstr(eb.msg, "/nonexistent/disk.img"));
	o.path = "/dev/null";
	assert_null(virtio_blk_create(&g.host, BASE, 9, &o, &eb));
	assert_non_null(strstr(eb.msg, "not a regular file or block device"));
	sim_guest_free(&g);
}

/* The event-loop path: completions arrive on the loop thread. */
static void *loop_thread(void *loop)
{
	event_loop_run(loop);
	return NULL;
}

static void blk_completes_through_event_loop(void **state)
{
	(void)state;
	static struct fixture f;
	memset(&f, 0, sizeof(f));
	assert_int_equal(make_disk(&f), 0);
	assert_int_equal(sim_guest_init(&f.g, 4u << 20), 0);
	struct errbuf eb = { 0 };
	struct event_loop *loop = event_loop_create(&eb);
	assert_non_null(loop);
	f.g.host.loop = loop;
	f.hdr = sim_alloc(&f.g, 64, 16);
	f.status = sim_alloc(&f.g, 16, 16);
	f.data = sim_alloc(&f.g, 1u << 20, 4096);
	assert_int_equal(open_blk(&f, false, 2, ~0ull), 0);
	pthread_t t;
	pthread_create(&t, NULL, loop_thread, loop);
	int irq = virtio_mmio_irq_fd(virtio_blk_transport(f.blk));
	for (int round = 0; round < 4; round++) {
		put_hdr(&f, VIRTIO_BLK_T_IN, (uint64_t)round * 256);
		uint64_t gpa[3] = { f.hdr, f.data, f.status };
		uint32_t len[3] = { 16, 128 * 1024, 1 };
		bool w[3] = { false, true, true };
		unsigned qi = (unsigned)round % 2; /* both request queues */
		sim_chain(&f.g, &f.q[qi], gpa, len, w, 3);
		sim_kick(&f.g, BASE, (uint16_t)qi);
		struct pollfd p = { .fd = irq, .events = POLLIN };
		assert_int_equal(poll(&p, 1, 5000), 1);
		uint64_t v;
		assert_int_equal(read(irq, &v, 8), 8);
		sim_write32(&f.g, BASE, VIRTIO_MMIO_INTERRUPT_ACK, 1);
		uint32_t id, ul;
		assert_true(sim_used(&f.g, &f.q[qi], &id, &ul));
		assert_int_equal(ul, 128 * 1024 + 1);
		assert_int_equal(*(uint8_t *)sim_ptr(&f.g, f.status), VIRTIO_BLK_S_OK);
		uint8_t *d = sim_ptr(&f.g, f.data);
		assert_int_equal(d[777], pattern((uint64_t)round * 256 * 512 + 777));
	}
	event_loop_stop(loop, 0);
	pthread_join(t, NULL);
	virtio_blk_destroy(f.blk);
	event_loop_destroy(loop);
	sim_guest_free(&f.g);
	drop_disk(&f);
}

int main(void)
{
#ifdef BLK_TEST_BDEV
	struct fixture probe;
	memset(&probe, 0, sizeof(probe));
	if (make_disk(&probe) < 0) {
		printf("SKIP: needs root and a free loop device (losetup) for the block-device paths\n");
		return 77;
	}
	drop_disk(&probe);
#endif
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(blk_reads_pattern_from_disk, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(blk_writes_and_flushes, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(blk_get_id_returns_serial, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(blk_discard_and_write_zeroes, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(blk_rejects_bad_requests_with_status, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(blk_hostile_chains_need_reset, setup_rw, teardown),
		cmocka_unit_test_setup_teardown(blk_read_only_refuses_writes, setup_ro, teardown),
		cmocka_unit_test_setup_teardown(blk_config_reports_geometry, setup_rw, teardown),
		cmocka_unit_test(blk_refuses_missing_and_odd_files),
		cmocka_unit_test(blk_completes_through_event_loop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
