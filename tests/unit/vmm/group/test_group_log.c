/* Unit tests for vmm/group/group_log.c: output beyond the bound rotates, so a container that
 * prints without end costs the host at most two files of max_bytes; the newest bytes are
 * always kept. */
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

#include "common/fileio.h"
#include "vmm/group/group_log.h"

static off_t size_of(const char *path)
{
	struct stat st;
	return stat(path, &st) ? -1 : st.st_size;
}

static void group_log_rotates_at_the_bound(void **state)
{
	(void)state;
	char dir[] = "/tmp/parma-log-XXXXXX", path[64], old[72];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/c.log", dir);
	snprintf(old, sizeof(old), "%s.1", path);
	struct group_log *l;
	struct errbuf eb = { 0 };
	assert_int_equal(group_log_open(path, 10000, &l, &eb), 0);
	uint8_t line[100];
	/* 50 KB of numbered 100-byte lines: five times the bound */
	for (int i = 0; i < 500; i++) {
		memset(line, 'a' + i % 26, sizeof(line));
		snprintf((char *)line, 8, "%06d", i);
		line[sizeof(line) - 1] = '\n';
		assert_int_equal(group_log_write(l, line, sizeof(line)), 0);
		assert_true(size_of(path) <= 10000);
		assert_true(size_of(old) <= 10000);
	}
	group_log_close(l);
	/* the newest line is the last one of the current file */
	uint8_t *data;
	size_t len;
	assert_int_equal(file_read_all(path, 1 << 20, &data, &len, NULL), 0);
	assert_true(len >= 100);
	assert_memory_equal(data + len - 100, "000499", 6);
	free(data);
	/* the rotated file holds the lines just before it */
	assert_int_equal(file_read_all(old, 1 << 20, &data, &len, NULL), 0);
	assert_int_equal(len, 10000);
	free(data);
	/* one chunk larger than the bound keeps its tail only */
	assert_int_equal(group_log_open(path, 10000, &l, &eb), 0);
	assert_int_equal(size_of(old), -1); /* a new run starts without the old rotation */
	uint8_t *big = malloc(25000);
	memset(big, 'x', 25000);
	memcpy(big + 25000 - 4, "END\n", 4);
	assert_int_equal(group_log_write(l, big, 25000), 0);
	group_log_close(l);
	assert_int_equal(size_of(path), 10000);
	assert_int_equal(file_read_all(path, 1 << 20, &data, &len, NULL), 0);
	assert_memory_equal(data + len - 4, "END\n", 4);
	free(data);
	free(big);
	unlink(path);
	unlink(old);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(group_log_rotates_at_the_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
