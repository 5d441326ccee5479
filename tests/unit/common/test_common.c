/* Unit tests for common/: encodings, errbuf, file I/O. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/digest.h"
#include "common/encoding.h"
#include "common/errbuf.h"
#include "common/fileio.h"

static void common_hex_roundtrip(void **state)
{
	(void)state;
	uint8_t in[4] = { 0x00, 0xab, 0x7f, 0xff }, out[4];
	char hex[9];
	hex_encode(in, 4, hex);
	assert_string_equal(hex, "00ab7fff");
	assert_int_equal(hex_decode("00AB7fff", out, 4), 0);
	assert_memory_equal(in, out, 4);
	assert_int_equal(hex_decode("00ab7ff", out, 4), -EINVAL);   /* odd length */
	assert_int_equal(hex_decode("00ab7fffaa", out, 4), -EINVAL); /* too long */
	assert_int_equal(hex_decode("00ab7fgf", out, 4), -EINVAL);   /* bad digit */
	size_t n = 0;
	assert_int_equal(hex_decode_var("0102", out, 4, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(hex_decode_var("0102030405", out, 4, &n), -E2BIG);
}

static void common_base64_roundtrip(void **state)
{
	(void)state;
	const char *cases[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	const char *want[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	for (size_t i = 0; i < 7; i++) {
		char enc[16];
		uint8_t dec[16];
		base64_encode((const uint8_t *)cases[i], strlen(cases[i]), enc);
		assert_string_equal(enc, want[i]);
		long n = base64_decode(enc, dec, sizeof(dec));
		assert_int_equal(n, (long)strlen(cases[i]));
		assert_memory_equal(dec, cases[i], (size_t)n);
	}
	uint8_t dec[16];
	assert_int_equal(base64_decode("Zm9", dec, sizeof(dec)), -EINVAL);
	assert_int_equal(base64_decode("Zm=v", dec, sizeof(dec)), -EINVAL);
	assert_int_equal(base64_decode("Zm9vYmFy", dec, 5), -E2BIG);
}

static void common_errbuf_prefix(void **state)
{
	(void)state;
	struct errbuf eb = { 0 };
	assert_int_equal(errbuf_set(&eb, EINVAL, "field %s", "x"), -EINVAL);
	errbuf_prefix(&eb, "file.json");
	assert_string_equal(errbuf_msg(&eb), "file.json: field x");
	assert_int_equal(eb.code, EINVAL);
	assert_int_equal(errbuf_set(NULL, ENOENT, "ignored"), -ENOENT);
}

static void common_sha256_known_answer(void **state)
{
	(void)state;
	uint8_t d[SHA256_LEN];
	char hex[65];
	assert_int_equal(digest_sha256("abc", 3, d), 0);
	hex_encode(d, sizeof(d), hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void common_file_roundtrip_and_limit(void **state)
{
	(void)state;
	char dir[] = "/tmp/parma-test-XXXXXX", path[64];
	struct errbuf eb = { 0 };
	uint8_t *data;
	size_t len;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	assert_int_equal(file_write_atomic(path, "hello", 5, 0644, &eb), 0);
	assert_int_equal(file_read_all(path, 5, &data, &len, &eb), 0);
	assert_int_equal(len, 5);
	assert_string_equal((char *)data, "hello");
	free(data);
	assert_int_equal(file_read_all(path, 4, &data, &len, &eb), -EFBIG);
	assert_non_null(strstr(eb.msg, path));
	assert_int_equal(file_read_all(dir, 100, &data, &len, &eb), -EISDIR);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(common_hex_roundtrip),
		cmocka_unit_test(common_base64_roundtrip),
		cmocka_unit_test(common_errbuf_prefix),
		cmocka_unit_test(common_sha256_known_answer),
		cmocka_unit_test(common_file_roundtrip_and_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
