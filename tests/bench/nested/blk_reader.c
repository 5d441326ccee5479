/* blk-reader: the in-guest half of the nested benchmark. Reads a block device with O_DIRECT
 * (so every read reaches the virtio-blk device, not the guest's page cache) and prints
 *   BENCH randread_iops=<4 KiB random reads per second, THREADS threads for SECONDS>
 *   BENCH seqread_mibps=<MiB/s of 1 MiB sequential reads over the device>
 * Usage: blk-reader DEVICE [SECONDS] [THREADS]   (defaults 3 s, 4 threads) */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define BLOCK 4096u
#define SEQ_CHUNK (1u << 20)
#define MAX_THREADS 16

struct worker {
	int fd;
	uint64_t blocks;
	double seconds;
	unsigned seed;
	uint64_t done;
	int error;
};

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *random_reads(void *arg)
{
	struct worker *w = arg;
	void *buf;
	if (posix_memalign(&buf, BLOCK, BLOCK)) {
		w->error = ENOMEM;
		return NULL;
	}
	double end = now() + w->seconds;
	while (now() < end) {
		for (int i = 0; i < 64; i++) {
			uint64_t b = ((uint64_t)rand_r(&w->seed) << 16 ^ (uint64_t)rand_r(&w->seed)) %
				     w->blocks;
			if (pread(w->fd, buf, BLOCK, (off_t)(b * BLOCK)) != (ssize_t)BLOCK) {
				w->error = errno ? errno : EIO;
				free(buf);
				return NULL;
			}
			w->done++;
		}
	}
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: blk-reader DEVICE [SECONDS] [THREADS]\n");
		return 2;
	}
	double seconds = argc > 2 ? atof(argv[2]) : 3.0;
	int threads = argc > 3 ? atoi(argv[3]) : 4;
	if (seconds <= 0 || threads < 1 || threads > MAX_THREADS) {
		fprintf(stderr, "blk-reader: SECONDS > 0, THREADS 1-%d\n", MAX_THREADS);
		return 2;
	}
	int fd = open(argv[1], O_RDONLY | O_DIRECT);
	uint64_t size = 0;
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size) < 0 || size < SEQ_CHUNK) {
		fprintf(stderr, "blk-reader: %s: %s\n", argv[1], fd < 0 ? strerror(errno) : "too small");
		return 1;
	}

	struct worker w[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	for (int i = 0; i < threads; i++) {
		w[i] = (struct worker){ .fd = fd, .blocks = size / BLOCK, .seconds = seconds,
					.seed = 0x9e3779b9u * (unsigned)(i + 1) };
		pthread_create(&tid[i], NULL, random_reads, &w[i]);
	}
	double t0 = now();
	uint64_t total = 0;
	int error = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(tid[i], NULL);
		total += w[i].done;
		error = error ? error : w[i].error;
	}
	double t1 = now();
	if (error) {
		fprintf(stderr, "blk-reader: random read: %s\n", strerror(error));
		return 1;
	}
	printf("BENCH randread_iops=%.0f threads=%d\n", (double)total / (t1 - t0), threads);

	void *buf;
	if (posix_memalign(&buf, BLOCK, SEQ_CHUNK))
		return 1;
	t0 = now();
	uint64_t off = 0;
	for (; off + SEQ_CHUNK <= size; off += SEQ_CHUNK) {
		if (pread(fd, buf, SEQ_CHUNK, (off_t)off) != (ssize_t)SEQ_CHUNK) {
			fprintf(stderr, "blk-reader: sequential read at %llu: %s\n",
				(unsigned long long)off, strerror(errno));
			return 1;
		}
	}
	t1 = now();
	printf("BENCH seqread_mibps=%.1f bytes=%llu\n", (double)off / (1 << 20) / (t1 - t0),
	       (unsigned long long)off);
	free(buf);
	close(fd);
	fflush(stdout);
	return 0;
}
