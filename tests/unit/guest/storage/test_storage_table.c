/* storage_table: validation of host-chosen names/paths and the table and option strings built
 * from them (guest/storage/table.c). Real device-mapper runs only in tests/e2e/guest. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "guest/storage/storage.h"

static void storage_dm_name_accepts_simple_and_rejects_hostile(void **state)
{
	(void)state;
	struct errbuf eb = { 0 };
	char longname[200];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;

	assert_int_equal(storage_dm_name_check("layer-0_a.b", &eb), 0);
	assert_int_equal(storage_dm_name_check("", &eb), -EINVAL);
	assert_int_equal(storage_dm_name_check(NULL, &eb), -EINVAL);
	assert_int_equal(storage_dm_name_check("..", &eb), -EINVAL);
	assert_int_equal(storage_dm_name_check("a/b", &eb), -EINVAL);
	assert_int_equal(storage_dm_name_check("a b", &eb), -EINVAL);
	assert_int_equal(storage_dm_name_check("a\nb", &eb), -EINVAL);
	assert_int_equal(storage_dm_name_check(longname, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "longer than 127"));
	longname[127] = 0;
	assert_int_equal(storage_dm_name_check(longname, &eb), 0);
}

static void storage_device_check_paths_and_numbers(void **state)
{
	(void)state;
	struct errbuf eb = { 0 };
	assert_int_equal(storage_device_check("/dev/vda", &eb), 0);
	assert_int_equal(storage_device_check("254:0", &eb), 0);
	assert_int_equal(storage_device_check("/dev/mapper/layer-0", &eb), 0);
	/* anything that could add a table argument or escape the path */
	assert_int_equal(storage_device_check("/dev/vda 1", &eb), -EINVAL);
	assert_int_equal(storage_device_check("/dev/../etc/x", &eb), -EINVAL);
	assert_int_equal(storage_device_check("dev/vda", &eb), -EINVAL);
	assert_int_equal(storage_device_check("254:", &eb), -EINVAL);
	assert_int_equal(storage_device_check(":0", &eb), -EINVAL);
	assert_int_equal(storage_device_check("254:0:1", &eb), -EINVAL);
	assert_int_equal(storage_device_check("4096:0", &eb), -EINVAL);
	assert_int_equal(storage_device_check("", &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "device"));
}

static void storage_verity_table_has_kernel_format(void **state)
{
	(void)state;
	struct storage_verity v;
	struct errbuf eb = { 0 };
	char table[STORAGE_TABLE_MAX];
	uint64_t sectors = 0;

	memset(&v, 0, sizeof(v));
	strcpy(v.data_dev, "254:0");
	strcpy(v.hash_dev, "254:0");
	v.data_blocks = 10;
	v.hash_start_block = 11;
	for (int i = 0; i < 32; i++)
		v.root_hash[i] = (uint8_t)i;
	v.salt[0] = 0xab;
	v.salt[1] = 0xcd;
	v.salt_len = 2;
	assert_int_equal(storage_verity_table(&v, table, sizeof(table), &sectors, &eb), 0);
	assert_string_equal(table, "1 254:0 254:0 4096 4096 10 11 sha256 "
				   "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f "
				   "abcd");
	assert_int_equal(sectors, 80);

	v.salt_len = 0; /* no salt: "-" */
	assert_int_equal(storage_verity_table(&v, table, sizeof(table), NULL, &eb), 0);
	assert_non_null(strstr(table, " -"));
	assert_null(strstr(table, "restart_on_corruption"));
	assert_null(strstr(table, "ignore_zero_blocks"));

	/* no room */
	assert_int_equal(storage_verity_table(&v, table, 20, NULL, &eb), -ENOSPC);

	/* out-of-range block counts would overflow the sector count */
	v.data_blocks = UINT64_MAX / 4;
	assert_int_equal(storage_verity_table(&v, table, sizeof(table), NULL, &eb), -EINVAL);
	v.data_blocks = 0;
	assert_int_equal(storage_verity_table(&v, table, sizeof(table), NULL, &eb), -EINVAL);
	v.data_blocks = 1;
	strcpy(v.hash_dev, "/dev/vda extra");
	assert_int_equal(storage_verity_table(&v, table, sizeof(table), NULL, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "verity hash"));
}

static void make_sb(uint8_t *sb)
{
	memset(sb, 0, STORAGE_VERITY_SB_SIZE);
	memcpy(sb, "verity", 6);
	sb[8] = 1;                      /* version */
	sb[12] = 1;                     /* hash type */
	memcpy(sb + 32, "sha256", 6);
	sb[65] = 0x10;                  /* data block size 4096 */
	sb[69] = 0x10;                  /* hash block size 4096 */
	sb[72] = 0x34;                  /* data blocks 0x1234 */
	sb[73] = 0x12;
	sb[80] = 32;                    /* salt size */
	for (int i = 0; i < 32; i++)
		sb[88 + i] = (uint8_t)(0xf0 ^ i);
}

static void storage_verity_sb_parse_checks_every_field(void **state)
{
	(void)state;
	uint8_t sb[STORAGE_VERITY_SB_SIZE];
	struct storage_verity_sb out;
	struct errbuf eb = { 0 };

	make_sb(sb);
	assert_int_equal(storage_verity_sb_parse(sb, sizeof(sb), &out, &eb), 0);
	assert_int_equal(out.data_blocks, 0x1234);
	assert_int_equal(out.salt_len, 32);
	assert_int_equal(out.salt[3], 0xf3);

	assert_int_equal(storage_verity_sb_parse(sb, 511, &out, &eb), -EINVAL);
	struct { size_t off; uint8_t val; const char *msg; } bad[] = {
		{ 0, 'V', "signature" },   { 8, 2, "version" },     { 12, 0, "hash type" },
		{ 32, 'S', "sha256" },     { 65, 0x02, "block sizes" }, { 69, 0x20, "block sizes" },
		{ 81, 0x01, "salt" },      /* salt size 288 > 256 */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		make_sb(sb);
		sb[bad[i].off] = bad[i].val;
		assert_int_equal(storage_verity_sb_parse(sb, sizeof(sb), &out, &eb), -EINVAL);
		assert_non_null(strstr(eb.msg, bad[i].msg));
	}
	make_sb(sb);
	sb[72] = sb[73] = 0; /* zero data blocks */
	assert_int_equal(storage_verity_sb_parse(sb, sizeof(sb), &out, &eb), -EINVAL);
	make_sb(sb);
	memset(sb + 72, 0xff, 8); /* block count whose sector count would overflow */
	assert_int_equal(storage_verity_sb_parse(sb, sizeof(sb), &out, &eb), -EINVAL);
}

static void storage_erofs_sb_blocks_reads_the_layer_size(void **state)
{
	(void)state;
	uint8_t head[2048];
	uint64_t blocks = 0;
	struct errbuf eb = { 0 };
	memset(head, 0, sizeof(head));
	head[1024] = 0xe2, head[1025] = 0xe1, head[1026] = 0xf5, head[1027] = 0xe0;
	head[1024 + 12] = 12;
	head[1024 + 36] = 0x72, head[1024 + 37] = 0x01; /* 370 blocks */
	assert_int_equal(storage_erofs_sb_blocks(head, sizeof(head), &blocks, &eb), 0);
	assert_int_equal(blocks, 370);
	assert_int_equal(storage_erofs_sb_blocks(head, 2047, &blocks, &eb), -EINVAL);
	head[1024 + 12] = 9;
	assert_int_equal(storage_erofs_sb_blocks(head, sizeof(head), &blocks, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "block size"));
	head[1024 + 12] = 12;
	head[1024] = 0;
	assert_int_equal(storage_erofs_sb_blocks(head, sizeof(head), &blocks, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "magic"));
	head[1024] = 0xe2;
	head[1024 + 36] = head[1024 + 37] = 0;
	assert_int_equal(storage_erofs_sb_blocks(head, sizeof(head), &blocks, &eb), -EINVAL);
}

static void storage_crypt_table_format_and_validation(void **state)
{
	(void)state;
	uint8_t key[STORAGE_CRYPT_KEY_LEN];
	char table[STORAGE_TABLE_MAX];
	struct errbuf eb = { 0 };
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	assert_int_equal(storage_crypt_table("254:2", key, table, sizeof(table), &eb), 0);
	assert_int_equal(strncmp(table, "aes-xts-plain64 000102", 22), 0);
	assert_int_equal(strlen(table), strlen("aes-xts-plain64 ") + 128 + strlen(" 0 254:2 0"));
	assert_string_equal(table + strlen(table) - 10, " 0 254:2 0");
	assert_null(strstr(table, "allow_discards"));
	/* a table that does not fit is wiped, not left half-written with key bytes */
	assert_int_equal(storage_crypt_table("254:2", key, table, 40, &eb), -ENOSPC);
	for (size_t i = 0; i < 40; i++)
		assert_int_equal(table[i], 0);
	assert_int_equal(storage_crypt_table("/dev/vdc 1", key, table, sizeof(table), &eb), -EINVAL);
	assert_null(strstr(eb.msg, "0001020304")); /* errors never carry the key */
}

static void storage_overlay_options_reverse_policy_order(void **state)
{
	(void)state;
	char opts[4096];
	struct errbuf eb = { 0 };
	const char *lowers[] = { "/layers/base", "/layers/mid", "/layers/top" };

	assert_int_equal(storage_overlay_options(lowers, 3, "/scratch/c/upper", "/scratch/c/work",
						 opts, sizeof(opts), &eb), 0);
	assert_string_equal(opts, "lowerdir=/layers/top:/layers/mid:/layers/base,"
				  "upperdir=/scratch/c/upper,workdir=/scratch/c/work");
	assert_int_equal(storage_overlay_options(lowers, 1, NULL, NULL, opts, sizeof(opts), &eb), 0);
	assert_string_equal(opts, "lowerdir=/layers/base");

	/* option injection and bad shapes */
	const char *inject[] = { "/layers/a,upperdir=/x" };
	assert_int_equal(storage_overlay_options(inject, 1, NULL, NULL, opts, sizeof(opts), &eb),
			 -EINVAL);
	assert_non_null(strstr(eb.msg, "lower[0]"));
	const char *colon[] = { "/layers/a:/etc" };
	assert_int_equal(storage_overlay_options(colon, 1, NULL, NULL, opts, sizeof(opts), &eb),
			 -EINVAL);
	const char *dotdot[] = { "/layers/../etc" };
	assert_int_equal(storage_overlay_options(dotdot, 1, NULL, NULL, opts, sizeof(opts), &eb),
			 -EINVAL);
	assert_int_equal(storage_overlay_options(lowers, 3, "/u", NULL, opts, sizeof(opts), &eb),
			 -EINVAL);
	assert_int_equal(storage_overlay_options(lowers, 0, NULL, NULL, opts, sizeof(opts), &eb),
			 -EINVAL);
	assert_int_equal(storage_overlay_options(lowers, 3, NULL, NULL, opts, 30, &eb), -ENOSPC);
	assert_string_equal(opts, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(storage_dm_name_accepts_simple_and_rejects_hostile),
		cmocka_unit_test(storage_device_check_paths_and_numbers),
		cmocka_unit_test(storage_verity_table_has_kernel_format),
		cmocka_unit_test(storage_verity_sb_parse_checks_every_field),
		cmocka_unit_test(storage_erofs_sb_blocks_reads_the_layer_size),
		cmocka_unit_test(storage_crypt_table_format_and_validation),
		cmocka_unit_test(storage_overlay_options_reverse_policy_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
