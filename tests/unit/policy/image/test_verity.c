/* dm-verity tree vs Debian's veritysetup (cryptsetup-bin): same root hash, byte-identical hash
 * area (given the same UUID), verify accepts ours, a flipped data byte is caught. */
#include <errno.h>
#include <fcntl.h>
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

#include "common/encoding.h"
#include "policy/image/verity_tree.h"

static char tmpdir[] = "/tmp/parma-verity-XXXXXX";
static const uint8_t salt[32] = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
static const uint8_t uuid[16] = { 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0x4d, 0xef,
				  0x81, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef };

static void data_file(const char *path, uint64_t blocks, unsigned seed)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	uint8_t blk[VERITY_BLOCK_SIZE];
	srand(seed);
	for (uint64_t b = 0; b < blocks; b++) {
		for (size_t i = 0; i < sizeof(blk); i++)
			blk[i] = (uint8_t)rand();
		assert_int_equal(fwrite(blk, 1, sizeof(blk), f), sizeof(blk));
	}
	fclose(f);
}

static void build(const char *path, uint64_t blocks, unsigned threads, uint8_t root[32])
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	struct verity_params p = { .data_blocks = blocks, .hash_offset = blocks * 4096,
				   .salt = salt, .salt_len = sizeof(salt), .threads = threads };
	memcpy(p.uuid, uuid, 16);
	struct errbuf eb = { 0 };
	assert_int_equal(verity_tree_build(fd, &p, root, &eb), 0);
	close(fd);
}

static int run(const char *cmd, char *out, size_t size)
{
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, size - 1, p);
	out[n] = 0;
	return pclose(p);
}

static void veritysetup_root(const char *path, uint64_t blocks, char root_hex[65])
{
	char cmd[1024], out[4096], salt_hex[65];
	hex_encode(salt, sizeof(salt), salt_hex);
	snprintf(cmd, sizeof(cmd),
		 "veritysetup format --salt=%s --uuid=12345678-9abc-4def-8123-456789abcdef "
		 "--hash-offset=%llu --data-blocks=%llu %s %s 2>&1",
		 salt_hex, (unsigned long long)(blocks * 4096), (unsigned long long)blocks, path,
		 path);
	assert_int_equal(run(cmd, out, sizeof(out)), 0);
	char *r = strstr(out, "Root hash:");
	assert_non_null(r);
	assert_int_equal(sscanf(r, "Root hash: %64s", root_hex), 1);
}

static int verify(const char *path, uint64_t blocks, const char *root_hex)
{
	char cmd[1024], out[4096];
	snprintf(cmd, sizeof(cmd),
		 "veritysetup verify --hash-offset=%llu --data-blocks=%llu %s %s %s 2>&1",
		 (unsigned long long)(blocks * 4096), (unsigned long long)blocks, path, path,
		 root_hex);
	return run(cmd, out, sizeof(out));
}

static void files_equal(const char *a, const char *b)
{
	char cmd[1024], out[256];
	snprintf(cmd, sizeof(cmd), "cmp %s %s 2>&1", a, b);
	int st = run(cmd, out, sizeof(out));
	if (st)
		fail_msg("%s", out);
}

static void check_size(uint64_t blocks)
{
	char ours[256], theirs[256], cmd[600], out[64];
	snprintf(ours, sizeof(ours), "%s/ours-%llu", tmpdir, (unsigned long long)blocks);
	snprintf(theirs, sizeof(theirs), "%s/theirs-%llu", tmpdir, (unsigned long long)blocks);
	data_file(ours, blocks, (unsigned)blocks);
	snprintf(cmd, sizeof(cmd), "cp %s %s", ours, theirs);
	assert_int_equal(run(cmd, out, sizeof(out)), 0);

	uint8_t root[32];
	char root_hex[65], their_hex[65];
	build(ours, blocks, 2, root);
	hex_encode(root, 32, root_hex);
	veritysetup_root(theirs, blocks, their_hex);
	assert_string_equal(root_hex, their_hex);
	files_equal(ours, theirs); /* superblock and tree byte for byte */
	struct stat st;
	assert_int_equal(stat(ours, &st), 0);
	assert_int_equal((uint64_t)st.st_size, blocks * 4096 + verity_hash_area_size(blocks));
	assert_int_equal(verify(ours, blocks, root_hex), 0);

	/* one flipped data byte in the last block: verify must fail */
	int fd = open(ours, O_RDWR);
	uint8_t b;
	off_t at = (off_t)(blocks * 4096 - 1000);
	assert_int_equal(pread(fd, &b, 1, at), 1);
	b ^= 0x01;
	assert_int_equal(pwrite(fd, &b, 1, at), 1);
	close(fd);
	assert_int_not_equal(verify(ours, blocks, root_hex), 0);
	unlink(ours);
	unlink(theirs);
}

static void image_verity_one_block(void **state)
{
	(void)state;
	check_size(1);
}

static void image_verity_level_edges(void **state)
{
	(void)state;
	check_size(2);
	check_size(127);
	check_size(128);
	check_size(129);
}

static void image_verity_three_levels(void **state)
{
	(void)state;
	check_size(128 * 128 + 1);
}

static void image_verity_threads_agree(void **state)
{
	(void)state;
	char a[256], b[256], cmd[600], out[64];
	snprintf(a, sizeof(a), "%s/t1", tmpdir);
	snprintf(b, sizeof(b), "%s/t7", tmpdir);
	data_file(a, 1000, 7);
	snprintf(cmd, sizeof(cmd), "cp %s %s", a, b);
	assert_int_equal(run(cmd, out, sizeof(out)), 0);
	uint8_t r1[32], r7[32];
	build(a, 1000, 1, r1);
	build(b, 1000, 7, r7);
	assert_memory_equal(r1, r7, 32);
	files_equal(a, b);
	unlink(a);
	unlink(b);
}

static void image_verity_rejects_bad_params(void **state)
{
	(void)state;
	struct verity_params p = { .data_blocks = 0, .salt = salt, .salt_len = 32 };
	uint8_t root[32];
	struct errbuf eb = { 0 };
	assert_int_equal(verity_root_hash(-1, &p, root, &eb), -EINVAL);
	p.data_blocks = 1;
	p.hash_offset = 100;
	assert_int_equal(verity_root_hash(-1, &p, root, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "aligned"));
}

int main(void)
{
	if (system("veritysetup --version >/dev/null 2>&1")) {
		fprintf(stderr, "needs veritysetup (Debian cryptsetup-bin)\n");
		return 77;
	}
	if (!mkdtemp(tmpdir))
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(image_verity_one_block),
		cmocka_unit_test(image_verity_level_edges),
		cmocka_unit_test(image_verity_three_levels),
		cmocka_unit_test(image_verity_threads_agree),
		cmocka_unit_test(image_verity_rejects_bad_params),
	};
	int ret = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(tmpdir);
	return ret;
}
