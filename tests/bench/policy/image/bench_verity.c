/* Benchmarks of layer images against their peers, measured in the same run:
 *   1. dm-verity root hash of a data file: parma (all CPUs) vs `veritysetup format` (goal >= 1.5x)
 *   2. per-thread hashing: parma with 1 thread vs `openssl speed -evp sha256 -bytes 4096`
 *      (goal: within 15%)
 *   3. whole conversion of a layer tar: `parma` layer_image_convert vs `mkfs.erofs` +
 *      `veritysetup format` on the extracted tree (goal >= 1.0x; extraction shown apart)
 * Peer and ours alternate, 5 runs each (tests/bench/harness), min / median / max printed.
 * Size: PARMA_BENCH_MIB (default 1024 = the 1 GiB). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/encoding.h"
#include "policy/image/layer_image.h"
#include "policy/image/verity_tree.h"
#include "tests/bench/harness/bench_harness.h"

static char dir[] = "/tmp/parma-bench-verity-XXXXXX";

/* CPU seconds (user + system) used so far by this process or by its waited-for children. */
static double cpu_seconds(int who)
{
	struct rusage ru;
	getrusage(who, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static void fill(uint8_t *buf, size_t len)
{
	for (size_t i = 0; i + 8 <= len; i += 8) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		memcpy(buf + i, &rng, 8);
	}
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int st = system(cmd);
	if (st)
		fprintf(stderr, "command failed (%d): %s\n", st, cmd);
	return st;
}

/* Best of `runs` wall times of a shell command; *cpu gets that run's CPU time. */
static double time_sh(int runs, const char *cmd, double *cpu)
{
	double best = 1e30;
	for (int i = 0; i < runs; i++) {
		double c = cpu_seconds(RUSAGE_CHILDREN), t = bench_wall();
		if (sh("%s", cmd))
			return -1;
		t = bench_wall() - t;
		c = cpu_seconds(RUSAGE_CHILDREN) - c;
		if (t < best) {
			best = t;
			if (cpu)
				*cpu = c;
		}
	}
	return best;
}

static double time_ours(const char *path, uint64_t blocks, unsigned threads, int runs,
			uint8_t root[32], double *cpu)
{
	static const uint8_t salt[32] = { 1, 2, 3 };
	struct verity_params p = { .data_blocks = blocks, .hash_offset = blocks * 4096,
				   .salt = salt, .salt_len = 32, .threads = threads };
	double best = 1e30;
	for (int i = 0; i < runs; i++) {
		int fd = open(path, O_RDWR);
		struct errbuf eb = { 0 };
		double c = cpu_seconds(RUSAGE_SELF), t = bench_wall();
		int ret = fd < 0 ? -errno : verity_tree_build(fd, &p, root, &eb);
		t = bench_wall() - t;
		c = cpu_seconds(RUSAGE_SELF) - c;
		if (fd >= 0) {
			if (ftruncate(fd, (off_t)(blocks * 4096)))
				ret = -errno;
			close(fd);
		}
		if (ret) {
			fprintf(stderr, "verity_tree_build: %s\n", eb.msg);
			return -1;
		}
		if (t < best) {
			best = t;
			*cpu = c;
		}
	}
	return best;
}

static double openssl_speed(void)
{
	char line[512];
	snprintf(line, sizeof(line), "openssl speed -evp sha256 -bytes 4096 -seconds %d 2>/dev/null",
		 bench_seconds(2) < 1 ? 1 : (int)(bench_seconds(2) + 0.5));
	FILE *p = popen(line, "r");
	double kps = -1;
	while (p && fgets(line, sizeof(line), p)) {
		if (!strncmp(line, "sha256", 6) || !strncmp(line, "SHA256", 6)) {
			char *k = strrchr(line, ' ');
			if (k)
				kps = strtod(k + 1, NULL);
		}
	}
	if (p)
		pclose(p);
	return kps * 1000.0; /* bytes per second */
}

/* A layer tar of about `mib` MiB: files of 4 KiB .. 1 MiB plus small files and dirs. */
static int make_layer(const char *path, uint64_t mib)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	uint8_t *buf = malloc(1 << 20);
	uint64_t total = 0, target = mib << 20;
	int ret = 0;
	archive_write_set_format_pax_restricted(a);
	if (archive_write_open_filename(a, path) != ARCHIVE_OK || !buf) {
		ret = -1;
		goto out;
	}
	for (unsigned i = 0; total < target; i++) {
		char name[64];
		size_t sz = (i % 10 == 0) ? 100 + i % 3000 : (size_t)4096 << (i % 9);
		if (sz > (1u << 20))
			sz = 1u << 20;
		if (i % 100 == 0) {
			snprintf(name, sizeof(name), "d%u/", i / 100);
			archive_entry_clear(e);
			archive_entry_set_pathname(e, name);
			archive_entry_set_filetype(e, AE_IFDIR);
			archive_entry_set_perm(e, 0755);
			archive_entry_set_mtime(e, 1700000000, 0);
			archive_write_header(a, e);
		}
		snprintf(name, sizeof(name), "d%u/f%u", i / 100, i);
		fill(buf, sz);
		archive_entry_clear(e);
		archive_entry_set_pathname(e, name);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)sz);
		archive_entry_set_mtime(e, 1700000000, 0);
		if (archive_write_header(a, e) != ARCHIVE_OK ||
		    archive_write_data(a, buf, sz) != (la_ssize_t)sz) {
			ret = -1;
			goto out;
		}
		total += sz;
	}
out:
	archive_write_close(a);
	archive_write_free(a);
	archive_entry_free(e);
	free(buf);
	return ret;
}

static int file_digest(const char *path, char out[LAYER_DIGEST_STR_MAX])
{
	FILE *p;
	char cmd[600], line[256];
	snprintf(cmd, sizeof(cmd), "sha256sum %s", path);
	p = popen(cmd, "r");
	if (!p || !fgets(line, sizeof(line), p))
		return -1;
	pclose(p);
	snprintf(out, LAYER_DIGEST_STR_MAX, "sha256:%.64s", line);
	return 0;
}

struct verity_bench {
	char data[256], hash[256], tarp[256], img[256], out[256];
	char format_cmd[1024], convert_cmd[2048];
	char digest[LAYER_DIGEST_STR_MAX];
	uint64_t mib, blocks;
};

/* 1. root hash over all CPUs, MiB/s of wall time */
static int ours_root(void *ctx, double *v, char *why, size_t why_size)
{
	struct verity_bench *b = ctx;
	uint8_t root[32];
	double cpu, t = time_ours(b->data, b->blocks, 0, 1, root, &cpu);
	if (t <= 0)
		return snprintf(why, why_size, "verity_tree_build failed"), -EIO;
	*v = (double)b->mib / t;
	return 0;
}

static int peer_root(void *ctx, double *v, char *why, size_t why_size)
{
	struct verity_bench *b = ctx;
	double t = time_sh(1, b->format_cmd, NULL);
	if (t <= 0)
		return snprintf(why, why_size, "veritysetup format failed"), -EIO;
	*v = (double)b->mib / t;
	return 0;
}

/* 2. one thread, MB per CPU-second (openssl speed divides by CPU user time too) */
static int ours_thread(void *ctx, double *v, char *why, size_t why_size)
{
	struct verity_bench *b = ctx;
	uint8_t root[32];
	double cpu = 0, t = time_ours(b->data, b->blocks, 1, 1, root, &cpu);
	if (t <= 0 || cpu <= 0)
		return snprintf(why, why_size, "verity_tree_build failed"), -EIO;
	*v = (double)(b->mib << 20) / cpu / 1e6;
	return 0;
}

static int peer_thread(void *ctx, double *v, char *why, size_t why_size)
{
	(void)ctx;
	double bps = openssl_speed();
	if (bps <= 0)
		return snprintf(why, why_size, "`openssl speed -evp sha256` printed no rate"),
		       -ENOTSUP;
	*v = bps / 1e6;
	return 0;
}

/* 3. whole conversion of the layer tar, seconds of wall time */
static int ours_convert(void *ctx, double *v, char *why, size_t why_size)
{
	struct verity_bench *b = ctx;
	struct layer_convert_opts o = { .expected_digest = b->digest };
	struct layer_image_info info;
	struct errbuf eb = { 0 };
	char p1[400], p2[400];
	layer_image_path(b->out, b->digest, ".img", p1, sizeof(p1));
	layer_image_path(b->out, b->digest, ".json", p2, sizeof(p2));
	unlink(p1);
	unlink(p2);
	double t = bench_wall();
	if (layer_image_convert(b->tarp, b->out, &o, &info, &eb))
		return snprintf(why, why_size, "convert: %s", eb.msg), -EIO;
	*v = bench_wall() - t;
	return 0;
}

static int peer_convert(void *ctx, double *v, char *why, size_t why_size)
{
	struct verity_bench *b = ctx;
	double t = time_sh(1, b->convert_cmd, NULL);
	if (t < 0)
		return snprintf(why, why_size, "mkfs.erofs + veritysetup failed"), -EIO;
	*v = t;
	return 0;
}

int main(void)
{
	const char *env = getenv("PARMA_BENCH_MIB");
	uint64_t mib = env ? strtoull(env, NULL, 10) : 1024;
	if (!mib)
		mib = 1024;
	if (system("veritysetup --version >/dev/null 2>&1") ||
	    system("mkfs.erofs --help >/dev/null 2>&1; command -v mkfs.erofs >/dev/null") ||
	    system("openssl version >/dev/null 2>&1")) {
		fprintf(stderr, "needs veritysetup (cryptsetup-bin), mkfs.erofs (erofs-utils), "
				"openssl\n");
		return 77;
	}
	if (!mkdtemp(dir))
		return 1;
	printf("size: %llu MiB%s; %ld CPUs\n", (unsigned long long)mib,
	       mib == 1024 ? " (the issue's 1 GiB)"
			   : " (reduced via PARMA_BENCH_MIB; the issue asks for 1024)",
	       sysconf(_SC_NPROCESSORS_ONLN));
	int status = 0;
	static struct verity_bench b;
	b.mib = mib;
	b.blocks = mib * 256;
	snprintf(b.data, sizeof(b.data), "%s/data", dir);
	snprintf(b.hash, sizeof(b.hash), "%s/hash", dir);
	FILE *f = fopen(b.data, "wb");
	uint8_t *buf = malloc(1 << 20);
	for (uint64_t i = 0; f && buf && i < mib; i++) {
		fill(buf, 1 << 20);
		fwrite(buf, 1, 1 << 20, f);
	}
	if (f)
		fclose(f);
	free(buf);
	sh("cat %s > /dev/null", b.data); /* warm the page cache for both */
	snprintf(b.format_cmd, sizeof(b.format_cmd),
		 "veritysetup format --salt=0102030000000000000000000000000000000000000000000000000000000000 "
		 "%s %s > /dev/null", b.data, b.hash);

	printf("goal: root hash ours/peer >= 1.5 (wall, all CPUs)\n");
	struct bench_comparison cmp = {
		.what = "dm-verity root hash, all CPUs",
		.unit = "MiB/s wall",
		.higher_is_better = true,
		.peer = { "veritysetup format", peer_root, &b },
		.ours = { "parma verity_tree_build", ours_root, &b },
	};
	if (bench_compare(&cmp) < 0) {
		status = 1;
		goto out;
	}
	printf("goal: per-thread hashing ours/peer >= 0.85\n");
	cmp = (struct bench_comparison){
		.what = "SHA-256 hashing, one thread",
		.unit = "MB per CPU-second",
		.higher_is_better = true,
		.peer = { "openssl speed -evp sha256 (4 KiB)", peer_thread, &b },
		.ours = { "parma verity_tree_build, 1 thread", ours_thread, &b },
	};
	if (bench_compare(&cmp) < 0) {
		status = 1;
		goto out;
	}
	unlink(b.hash);
	unlink(b.data);

	/* 3. whole conversion: parma vs mkfs.erofs + veritysetup */
	char tree[256];
	snprintf(b.tarp, sizeof(b.tarp), "%s/layer.tar", dir);
	snprintf(tree, sizeof(tree), "%s/tree", dir);
	snprintf(b.img, sizeof(b.img), "%s/peer.erofs", dir);
	snprintf(b.out, sizeof(b.out), "%s/out", dir);
	mkdir(tree, 0755);
	mkdir(b.out, 0755);
	if (make_layer(b.tarp, mib) || file_digest(b.tarp, b.digest)) {
		status = 1;
		goto out;
	}
	sh("cat %s > /dev/null", b.tarp);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "tar -xf %s -C %s", b.tarp, tree);
	double t_extract = time_sh(1, cmd, NULL);
	if (t_extract < 0) {
		status = 1;
		goto out;
	}
	snprintf(b.convert_cmd, sizeof(b.convert_cmd),
		 "rm -f %s %s; mkfs.erofs %s %s >/dev/null 2>&1 && "
		 "veritysetup format %s %s >/dev/null", b.img, b.hash, b.img, tree, b.img, b.hash);
	printf("goal: conversion ours/peer <= 1.0 (seconds); the peer starts from the tree that "
	       "`tar -x` extracted once in %.2f s, not counted\n", t_extract);
	cmp = (struct bench_comparison){
		.what = "layer tar -> erofs image + dm-verity tree",
		.unit = "s wall",
		.higher_is_better = false,
		.peer = { "mkfs.erofs + veritysetup format", peer_convert, &b },
		.ours = { "parma layer_image_convert (from the tar)", ours_convert, &b },
	};
	if (bench_compare(&cmp) < 0)
		status = 1;
out:
	sh("rm -rf %s", dir);
	return status;
}
