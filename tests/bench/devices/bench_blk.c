/* blk benchmark: a host-side harness plays the guest driver (same device code,
 * shared memory, the VMM's event loop on its own thread completing I/O) and
 * measures 4 KiB random-read IOPS at queue depth 32 and 1 MiB sequential-read
 * throughput on a file; fio --ioengine=io_uring measures the same file with
 * the same parameters in the same run, fio and parma alternating, 5 runs each
 * (tests/bench/harness). Goal: ours/peer >= 0.9.
 *
 * Env: PARMA_BENCH_BLK_MB (file size, default 256), PARMA_BENCH_SECONDS (per
 * measurement, default 2). Both sides use the page cache (buffered I/O), so
 * this compares the I/O paths, not the disk. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "devices/virtio_blk.h"
#include "devices/virtio_mmio.h"
#include "sim_guest.h"
#include "tests/bench/harness/bench_harness.h"
#include "devices/event_loop.h"

#define BASE 0xd0000000ull
#define QSIZE 256u

static struct sim_guest g;
static struct sim_queue q;
static struct virtio_blk *blk;
static int irq;
static uint64_t hdrs, status, data;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Request slot s uses descriptors 3s..3s+2 and a data buffer of bs bytes. */
static void submit(unsigned s, uint64_t sector, uint32_t bs)
{
	uint32_t *h = sim_ptr(&g, hdrs + 16u * s);
	h[0] = 0; /* VIRTIO_BLK_T_IN */
	h[1] = 0;
	memcpy(&h[2], &sector, 8);
	uint16_t d = (uint16_t)(3 * s);
	sim_desc(&g, &q, d, hdrs + 16u * s, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(d + 1));
	sim_desc(&g, &q, (uint16_t)(d + 1), data + (uint64_t)s * bs, bs,
		 VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, (uint16_t)(d + 2));
	sim_desc(&g, &q, (uint16_t)(d + 2), status + s, 1, VIRTQ_DESC_F_WRITE, 0);
	sim_publish(&g, &q, d);
}

/* Keep `depth` requests of `bs` bytes in flight for `secs`; return ops/s. */
static double run(unsigned depth, uint32_t bs, bool random, uint64_t file_bytes, double secs)
{
	uint64_t sectors = file_bytes / 512, blocks = file_bytes / bs, next_seq = 0;
	uint64_t done = 0, errors = 0;
	for (unsigned s = 0; s < depth; s++)
		submit(s, random ? (rng() % blocks) * (bs / 512) : (next_seq++ % blocks) * (bs / 512), bs);
	sim_kick(&g, BASE, 0);
	double t0 = now(), end = t0 + secs;
	while (now() < end) {
		if (!sim_wait_used(&g, &q, BASE, irq, 1000))
			break;
		uint32_t id, len;
		unsigned n = 0;
		while (sim_used(&g, &q, &id, &len)) {
			unsigned s = id / 3;
			if (id % 3 || s >= depth || len != bs + 1) {
				/* not a request of this run (or a short answer): count it */
				errors++;
				continue;
			}
			errors += *(uint8_t *)sim_ptr(&g, status + s) != 0;
			uint64_t sec = random ? (rng() % blocks) * (bs / 512)
					      : (next_seq++ % blocks) * (bs / 512);
			submit(s, sec < sectors ? sec : 0, bs);
			n++;
		}
		done += n;
		if (n)
			sim_kick(&g, BASE, 0);
	}
	double el = now() - t0;
	/* drain what is still in flight */
	for (unsigned left = depth; left;) {
		if (!sim_wait_used(&g, &q, BASE, irq, 2000))
			break;
		uint32_t id, len;
		while (left && sim_used(&g, &q, &id, &len))
			left--;
	}
	if (errors)
		fprintf(stderr, "bench_blk: %llu requests failed\n", (unsigned long long)errors);
	return (double)done / el;
}

/* fio on the same file; returns read IOPS (ops/s). */
static double fio(const char *path, const char *rw, const char *bs, unsigned depth, double secs)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
		 "fio --name=peer --filename=%s --ioengine=io_uring --rw=%s --bs=%s --iodepth=%u "
		 "--direct=0 --invalidate=0 --runtime=%.0f --time_based --output-format=json 2>/dev/null",
		 path, rw, bs, depth, secs);
	FILE *f = popen(cmd, "r");
	if (!f)
		return 0;
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);
	size_t n;
	while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0)
		len += n;
	buf[len] = 0;
	pclose(f);
	double iops = 0;
	json_object *root = json_tokener_parse(buf), *jobs, *job, *read, *v;
	if (root && json_object_object_get_ex(root, "jobs", &jobs) &&
	    (job = json_object_array_get_idx(jobs, 0)) &&
	    json_object_object_get_ex(job, "read", &read) &&
	    json_object_object_get_ex(read, "iops", &v))
		iops = json_object_get_double(v);
	json_object_put(root);
	free(buf);
	return iops;
}

struct blk_case {
	const char *path, *rw, *bs;
	unsigned depth;
	uint32_t block;
	bool random;
	uint64_t file_bytes;
	double secs;
};

static int measure_fio(void *ctx, double *v, char *why, size_t why_size)
{
	const struct blk_case *c = ctx;
	*v = fio(c->path, c->rw, c->bs, c->depth, c->secs);
	if (*v <= 0)
		return snprintf(why, why_size, "fio reported no read rate"), -EIO;
	return 0;
}

static int measure_parma(void *ctx, double *v, char *why, size_t why_size)
{
	const struct blk_case *c = ctx;
	*v = run(c->depth, c->block, c->random, c->file_bytes, c->secs);
	if (*v <= 0)
		return snprintf(why, why_size, "no request completed"), -EIO;
	return 0;
}

static void *loop_main(void *loop)
{
	event_loop_run(loop);
	return NULL;
}

int main(void)
{
	const char *mb_env = getenv("PARMA_BENCH_BLK_MB");
	uint64_t mb = mb_env ? strtoull(mb_env, NULL, 10) : 256;
	double secs = bench_seconds(2);
	if (system("fio --version >/dev/null 2>&1") != 0) {
		printf("SKIP: needs fio (Debian package fio) as the peer\n");
		return 77;
	}
	char path[] = "/var/tmp/parma-bench-blk-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return 1;
	static uint8_t chunk[1 << 20];
	for (uint64_t i = 0; i < mb; i++) {
		for (size_t k = 0; k < sizeof(chunk); k += 8)
			memcpy(chunk + k, &(uint64_t){ rng() }, 8);
		if (write(fd, chunk, sizeof(chunk)) != (ssize_t)sizeof(chunk))
			return 1;
	}
	close(fd);
	printf("bench_blk: file %llu MiB (page cache), %.0f s per measurement; goal ours/peer >= 0.9\n",
	       (unsigned long long)mb, secs);

	struct errbuf eb = { 0 };
	if (sim_guest_init(&g, 64u << 20) < 0)
		return 1;
	struct event_loop *loop = event_loop_create(&eb);
	g.host.loop = loop;
	sim_guest_enable_ioeventfd(&g); /* doorbells run the device on the loop, as with KVM */
	struct virtio_blk_opts o = { .path = path, .read_only = true };
	blk = virtio_blk_create(&g.host, BASE, 5, &o, &eb);
	if (!loop || !blk) {
		fprintf(stderr, "bench_blk: %s\n", eb.msg);
		return 1;
	}
	irq = virtio_mmio_irq_fd(virtio_blk_transport(blk));
	sim_queue_alloc(&g, &q, QSIZE);
	if (!(sim_driver_init(&g, BASE, ~0ull, &q, 1) & VIRTIO_STATUS_DRIVER_OK))
		return 1;
	hdrs = sim_alloc(&g, 16 * 64, 16);
	status = sim_alloc(&g, 64, 8);
	data = sim_alloc(&g, 32u << 20, 4096);
	pthread_t t;
	pthread_create(&t, NULL, loop_main, loop);

	struct blk_case rand = { path, "randread", "4k", 32, 4096, true, mb << 20, secs };
	struct blk_case seq = { path, "read", "1M", 4, 1 << 20, false, mb << 20, secs };
	struct bench_comparison cmp = {
		.what = "virtio-blk 4 KiB random reads, queue depth 32",
		.unit = "IOPS",
		.higher_is_better = true,
		.peer = { "fio --ioengine=io_uring", measure_fio, &rand },
		.ours = { "parma virtio-blk (io_uring)", measure_parma, &rand },
	};
	int ret = bench_compare(&cmp);
	if (ret == 0) {
		cmp.what = "virtio-blk 1 MiB sequential reads, queue depth 4";
		cmp.unit = "MiB/s";
		cmp.peer.ctx = cmp.ours.ctx = &seq;
		ret = bench_compare(&cmp);
	}

	event_loop_stop(loop, 0);
	pthread_join(t, NULL);
	virtio_blk_destroy(blk);
	event_loop_destroy(loop);
	sim_guest_free(&g);
	unlink(path);
	return ret < 0 ? 1 : 0;
}
