/* Benchmarks of layer images against their peers, measured in the same run:
 *   1. dm-verity root hash of a data file: parma (all CPUs) vs `veritysetup format` (goal >= 1.5x)
 *   2. per-thread hashing: parma with 1 thread vs `openssl speed -evp sha256 -bytes 4096`
 *      (goal: within 15%)
 *   3. whole conversion of a layer tar: `parma` layer_image_convert vs `mkfs.erofs` +
 *      `veritysetup format` on the extracted tree (goal >= 1.0x; extraction shown apart)
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

static char dir[] = "/tmp/parma-bench-verity-XXXXXX";

/* CPU seconds (user + system) used so far by this process or by its waited-for children. */
static double cpu_seconds(int who)
{
	struct rusage ru;
	getrusage(who, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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
		double c = cpu_seconds(RUSAGE_CHILDREN), t = now();
		if (sh("%s", cmd))
			return -1;
		t = now() - t;
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
		double c = cpu_seconds(RUSAGE_SELF), t = now();
		int ret = fd < 0 ? -errno : verity_tree_build(fd, &p, root, &eb);
		t = now() - t;
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
	FILE *p = popen("openssl speed -evp sha256 -bytes 4096 -seconds 3 2>/dev/null", "r");
	char line[512];
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
	printf("size: %llu MiB%s\n", (unsigned long long)mib,
	       mib == 1024 ? " (the issue's 1 GiB)"
			   : " (reduced via PARMA_BENCH_MIB; the issue asks for 1024)");
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	double load[1] = { 0 };
	if (getloadavg(load, 1) == 1)
		printf("load average %.1f on %ld CPUs (wall-clock ratios assume idle cores)\n",
		       load[0], cpus);
	int status = 0;

	/* 1. root hash: parma vs veritysetup format */
	char data[256], hash[256];
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(hash, sizeof(hash), "%s/hash", dir);
	FILE *f = fopen(data, "wb");
	uint8_t *buf = malloc(1 << 20);
	for (uint64_t i = 0; f && buf && i < mib; i++) {
		fill(buf, 1 << 20);
		fwrite(buf, 1, 1 << 20, f);
	}
	if (f)
		fclose(f);
	free(buf);
	sh("cat %s > /dev/null", data); /* warm the page cache for both */
	uint64_t blocks = mib * 256;
	uint8_t root[32];
	double ours_cpu = 0, peer_cpu = 0, ours = 1e30, peer = 1e30;
	char cmd[4096];
	snprintf(cmd, sizeof(cmd),
		 "veritysetup format --salt=0102030000000000000000000000000000000000000000000000000000000000 "
		 "%s %s > /dev/null", data, hash);
	/* interleaved, best of three each: both see the same background load */
	for (int i = 0; i < 3; i++) {
		double c1, c2;
		double t1 = time_ours(data, blocks, 0, 1, root, &c1);
		double t2 = time_sh(1, cmd, &c2);
		if (t1 <= 0 || t2 <= 0) {
			status = 1;
			goto out;
		}
		if (t1 < ours) {
			ours = t1;
			ours_cpu = c1;
		}
		if (t2 < peer) {
			peer = t2;
			peer_cpu = c2;
		}
	}
	double mbs = (double)mib / ours, pmbs = (double)mib / peer;
	printf("root hash, %ld threads: parma %.0f MiB/s, veritysetup format %.0f MiB/s: "
	       "parma/veritysetup = %.2fx wall (goal >= 1.5x); CPU seconds parma %.2f, "
	       "veritysetup %.2f (CPU ratio %.2fx)\n", cpus, mbs, pmbs, mbs / pmbs, ours_cpu,
	       peer_cpu, peer_cpu / ours_cpu);
	fflush(stdout);

	/* 2. per thread: parma 1 thread vs openssl speed at 4 KiB */
	/* openssl speed divides by CPU user time: compare with our CPU time, which is also what
	 * stays meaningful when other jobs share the cores */
	double one_cpu = 0;
	double one = time_ours(data, blocks, 1, 2, root, &one_cpu);
	double ossl = openssl_speed();
	if (one > 0 && ossl > 0 && one_cpu > 0) {
		double ours1 = (double)(mib << 20) / one_cpu;
		printf("per thread (CPU time): parma %.0f MB/s, openssl speed -evp sha256 (4 KiB) "
		       "%.0f MB/s: parma/openssl = %.2f (goal >= 0.85); parma wall %.0f MB/s\n",
		       ours1 / 1e6, ossl / 1e6, ours1 / ossl, (double)(mib << 20) / one / 1e6);
		fflush(stdout);
	} else {
		status = 1;
	}
	unlink(hash);
	unlink(data);

	/* 3. whole conversion: parma vs mkfs.erofs + veritysetup */
	char tarp[256], tree[256], img[256], out[256];
	snprintf(tarp, sizeof(tarp), "%s/layer.tar", dir);
	snprintf(tree, sizeof(tree), "%s/tree", dir);
	snprintf(img, sizeof(img), "%s/peer.erofs", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	mkdir(tree, 0755);
	mkdir(out, 0755);
	char digest[LAYER_DIGEST_STR_MAX];
	if (make_layer(tarp, mib) || file_digest(tarp, digest)) {
		status = 1;
		goto out;
	}
	sh("cat %s > /dev/null", tarp);
	snprintf(cmd, sizeof(cmd), "tar -xf %s -C %s", tarp, tree);
	double t_extract = time_sh(1, cmd, NULL);
	snprintf(cmd, sizeof(cmd),
		 "rm -f %s %s; mkfs.erofs %s %s >/dev/null 2>&1 && "
		 "veritysetup format %s %s >/dev/null", img, hash, img, tree, img, hash);
	double t_conv = 1e30, conv_cpu = 0, t_peer = 1e30, peer_conv_cpu = 0;
	for (int i = 0; i < 3; i++) {
		struct layer_convert_opts o = { .expected_digest = digest };
		struct layer_image_info info;
		struct errbuf eb = { 0 };
		char p1[400], p2[400];
		layer_image_path(out, digest, ".img", p1, sizeof(p1));
		layer_image_path(out, digest, ".json", p2, sizeof(p2));
		unlink(p1);
		unlink(p2);
		double c = cpu_seconds(RUSAGE_SELF), t = now();
		if (layer_image_convert(tarp, out, &o, &info, &eb)) {
			fprintf(stderr, "convert: %s\n", eb.msg);
			status = 1;
			goto out;
		}
		t = now() - t;
		c = cpu_seconds(RUSAGE_SELF) - c;
		if (t < t_conv) {
			t_conv = t;
			conv_cpu = c;
		}
		double pc;
		double tp = time_sh(1, cmd, &pc);
		if (tp < 0) {
			status = 1;
			goto out;
		}
		if (tp < t_peer) {
			t_peer = tp;
			peer_conv_cpu = pc;
		}
	}
	if (t_extract < 0) {
		status = 1;
		goto out;
	}
	printf("conversion of a %llu MiB layer: parma %.2f s; mkfs.erofs + veritysetup %.2f s "
	       "(+ %.2f s tar -x): parma/peer = %.2fx (goal >= 1.0x), %.2fx counting the "
	       "extraction; CPU seconds parma %.2f, peer %.2f (CPU ratio %.2fx)\n",
	       (unsigned long long)mib, t_conv, t_peer, t_extract, t_peer / t_conv,
	       (t_peer + t_extract) / t_conv, conv_cpu, peer_conv_cpu, peer_conv_cpu / conv_cpu);
out:
	sh("rm -rf %s", dir);
	return status;
}
