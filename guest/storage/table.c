/* table: validation of host-chosen names and paths, and construction of the device-mapper table
 * strings and overlayfs option strings built from them. Pure functions, tested on the host. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/encoding.h"
#include "guest/storage/storage.h"

static int is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

int storage_dm_name_check(const char *name, struct errbuf *eb)
{
	if (!name || !*name)
		return errbuf_set(eb, EINVAL, "device-mapper name: empty");
	size_t len = strnlen(name, STORAGE_DM_NAME_MAX + 1);
	if (len > STORAGE_DM_NAME_MAX)
		return errbuf_set(eb, EINVAL, "device-mapper name: longer than %u characters",
				  STORAGE_DM_NAME_MAX);
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return errbuf_set(eb, EINVAL, "device-mapper name: '%s' is not allowed", name);
	for (size_t i = 0; i < len; i++)
		if (!is_name_char(name[i]))
			return errbuf_set(eb, EINVAL,
					  "device-mapper name: character %zu is not [A-Za-z0-9._-]", i);
	return 0;
}

/* An absolute path whose components are names (no "." or ".." components, no empty ones). */
static int path_check(const char *what, const char *path, struct errbuf *eb)
{
	if (!path || path[0] != '/')
		return errbuf_set(eb, EINVAL, "%s: not an absolute path", what);
	size_t len = strnlen(path, STORAGE_PATH_MAX);
	if (len >= STORAGE_PATH_MAX)
		return errbuf_set(eb, EINVAL, "%s: longer than %u characters", what,
				  STORAGE_PATH_MAX - 1);
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		const char *start = p;
		while (*p && *p != '/') {
			if (!is_name_char(*p))
				return errbuf_set(eb, EINVAL,
						  "%s: character %zu is not [A-Za-z0-9._/-]", what,
						  (size_t)(p - path));
			p++;
		}
		size_t n = (size_t)(p - start);
		if ((n == 1 && start[0] == '.') || (n == 2 && start[0] == '.' && start[1] == '.'))
			return errbuf_set(eb, EINVAL, "%s: '.' or '..' component", what);
	}
	return 0;
}

int storage_device_check(const char *dev, struct errbuf *eb)
{
	if (!dev || !*dev)
		return errbuf_set(eb, EINVAL, "device: empty");
	if (dev[0] == '/')
		return path_check("device", dev, eb);
	/* MAJOR:MINOR, decimal, no leading zeros beyond "0", each fits in 20 bits/12 bits. */
	unsigned long major = 0, minor = 0;
	int digits = 0;
	const char *p = dev;
	for (; *p >= '0' && *p <= '9' && digits < 8; p++, digits++)
		major = major * 10 + (unsigned long)(*p - '0');
	if (!digits || *p != ':')
		return errbuf_set(eb, EINVAL, "device '%.64s': neither an absolute path nor MAJOR:MINOR",
				  dev);
	p++;
	digits = 0;
	for (; *p >= '0' && *p <= '9' && digits < 8; p++, digits++)
		minor = minor * 10 + (unsigned long)(*p - '0');
	if (!digits || *p)
		return errbuf_set(eb, EINVAL, "device '%.64s': neither an absolute path nor MAJOR:MINOR",
				  dev);
	if (major >= (1ul << 12) || minor >= (1ul << 20))
		return errbuf_set(eb, EINVAL, "device '%s': major or minor number out of range", dev);
	return 0;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* veritysetup superblock (format 1), little-endian:
 *   0 signature[8] "verity\0\0"   8 version u32 (1)   12 hash_type u32 (1)   16 uuid[16]
 *  32 algorithm[32]   64 data_block_size u32   68 hash_block_size u32   72 data_blocks u64
 *  80 salt_size u16   82 pad[6]   88 salt[256]   344 pad[168]   (512 bytes) */
int storage_verity_sb_parse(const uint8_t *buf, size_t len, struct storage_verity_sb *sb,
			    struct errbuf *eb)
{
	static const char signature[8] = { 'v', 'e', 'r', 'i', 't', 'y', 0, 0 };
	static const char algorithm[32] = "sha256";

	memset(sb, 0, sizeof(*sb));
	if (!buf || len < STORAGE_VERITY_SB_SIZE)
		return errbuf_set(eb, EINVAL, "verity superblock: shorter than %u bytes",
				  STORAGE_VERITY_SB_SIZE);
	if (memcmp(buf, signature, sizeof(signature)))
		return errbuf_set(eb, EINVAL, "verity superblock: no 'verity' signature");
	if (le32(buf + 8) != 1)
		return errbuf_set(eb, EINVAL, "verity superblock: version %u, expected 1",
				  le32(buf + 8));
	if (le32(buf + 12) != 1)
		return errbuf_set(eb, EINVAL, "verity superblock: hash type %u, expected 1",
				  le32(buf + 12));
	if (memcmp(buf + 32, algorithm, sizeof(algorithm)))
		return errbuf_set(eb, EINVAL, "verity superblock: algorithm is not sha256");
	if (le32(buf + 64) != STORAGE_VERITY_BLOCK_SIZE || le32(buf + 68) != STORAGE_VERITY_BLOCK_SIZE)
		return errbuf_set(eb, EINVAL,
				  "verity superblock: block sizes %u/%u, expected 4096/4096",
				  le32(buf + 64), le32(buf + 68));
	uint64_t blocks = le64(buf + 72);
	if (blocks == 0 || blocks > (UINT64_MAX >> 12) / 8)
		return errbuf_set(eb, EINVAL, "verity superblock: data block count %llu out of range",
				  (unsigned long long)blocks);
	size_t salt_len = (size_t)buf[80] | (size_t)buf[81] << 8;
	if (salt_len > STORAGE_VERITY_SALT_MAX)
		return errbuf_set(eb, EINVAL, "verity superblock: salt of %zu bytes (max %u)",
				  salt_len, STORAGE_VERITY_SALT_MAX);
	sb->data_blocks = blocks;
	sb->salt_len = salt_len;
	memcpy(sb->salt, buf + 88, salt_len);
	return 0;
}

/* erofs_super_block at byte 1024: magic u32 @0, blkszbits u8 @12, blocks u32 @36. */
int storage_erofs_sb_blocks(const uint8_t *buf, size_t len, uint64_t *blocks, struct errbuf *eb)
{
	if (!buf || len < 2048)
		return errbuf_set(eb, EINVAL, "erofs superblock: need the first 2048 bytes");
	const uint8_t *sb = buf + 1024;
	if (le32(sb) != 0xE0F5E1E2u)
		return errbuf_set(eb, EINVAL, "erofs superblock: bad magic");
	if (sb[12] != 12)
		return errbuf_set(eb, EINVAL, "erofs superblock: block size 2^%u, expected 4096", sb[12]);
	uint32_t n = le32(sb + 36);
	if (n == 0)
		return errbuf_set(eb, EINVAL, "erofs superblock: zero blocks");
	*blocks = n;
	return 0;
}

int storage_verity_table(const struct storage_verity *v, char *out, size_t out_size,
			 uint64_t *sectors, struct errbuf *eb)
{
	int rc = storage_device_check(v->data_dev, eb);
	if (rc < 0) {
		errbuf_prefix(eb, "verity data");
		return rc;
	}
	rc = storage_device_check(v->hash_dev, eb);
	if (rc < 0) {
		errbuf_prefix(eb, "verity hash");
		return rc;
	}
	/* Sector counts are 64-bit in the kernel; keep blocks * 8 from overflowing. */
	if (v->data_blocks == 0 || v->data_blocks > (UINT64_MAX >> 12) / 8)
		return errbuf_set(eb, EINVAL, "verity: data block count %llu out of range",
				  (unsigned long long)v->data_blocks);
	if (v->hash_start_block > (UINT64_MAX >> 12) / 8)
		return errbuf_set(eb, EINVAL, "verity: hash start block out of range");
	if (v->salt_len > STORAGE_VERITY_SALT_MAX)
		return errbuf_set(eb, EINVAL, "verity: salt longer than %u bytes",
				  STORAGE_VERITY_SALT_MAX);

	char root[2 * STORAGE_VERITY_ROOT_LEN + 1];
	char salt[2 * STORAGE_VERITY_SALT_MAX + 1];
	hex_encode(v->root_hash, STORAGE_VERITY_ROOT_LEN, root);
	if (v->salt_len)
		hex_encode(v->salt, v->salt_len, salt);
	else
		strcpy(salt, "-");
	/* No optional arguments: a hash mismatch returns EIO to the reader (the default), which is
	 * what we want; restart/panic would hand the host a reboot lever, ignore_zero_blocks would
	 * serve unverified zeros. */
	int n = snprintf(out, out_size, "1 %s %s %u %u %llu %llu sha256 %s %s", v->data_dev,
			 v->hash_dev, STORAGE_VERITY_BLOCK_SIZE, STORAGE_VERITY_BLOCK_SIZE,
			 (unsigned long long)v->data_blocks,
			 (unsigned long long)v->hash_start_block, root, salt);
	if (n < 0 || (size_t)n >= out_size)
		return errbuf_set(eb, ENOSPC, "verity: table longer than %zu bytes", out_size);
	if (sectors)
		*sectors = v->data_blocks * (STORAGE_VERITY_BLOCK_SIZE / 512);
	return 0;
}

int storage_crypt_table(const char *dev, const uint8_t key[STORAGE_CRYPT_KEY_LEN], char *out,
			size_t out_size, struct errbuf *eb)
{
	int rc = storage_device_check(dev, eb);
	if (rc < 0) {
		errbuf_prefix(eb, "crypt");
		return rc;
	}
	char hexkey[2 * STORAGE_CRYPT_KEY_LEN + 1];
	hex_encode(key, STORAGE_CRYPT_KEY_LEN, hexkey);
	/* <cipher> <key> <iv_offset> <device> <offset>; no optional arguments (no discards: they
	 * would show the host which blocks are in use). */
	int n = snprintf(out, out_size, "aes-xts-plain64 %s 0 %s 0", hexkey, dev);
	explicit_bzero(hexkey, sizeof(hexkey));
	if (n < 0 || (size_t)n >= out_size) {
		explicit_bzero(out, out_size);
		return errbuf_set(eb, ENOSPC, "crypt: table longer than %zu bytes", out_size);
	}
	return 0;
}

static int append(char *out, size_t out_size, size_t *pos, const char *s)
{
	size_t len = strlen(s);
	if (len >= out_size - *pos)
		return -ENOSPC;
	memcpy(out + *pos, s, len + 1);
	*pos += len;
	return 0;
}

int storage_overlay_options(const char *const *lowers, size_t n_lowers, const char *upper,
			    const char *work, char *out, size_t out_size, struct errbuf *eb)
{
	char what[48];
	int rc;

	if (!out || out_size == 0)
		return errbuf_set(eb, EINVAL, "overlay: no output buffer");
	out[0] = 0;
	if (n_lowers == 0 || !lowers)
		return errbuf_set(eb, EINVAL, "overlay: no lower layers");
	if (n_lowers > STORAGE_OVERLAY_LOWER_MAX)
		return errbuf_set(eb, EINVAL, "overlay: %zu lower layers (max %u)", n_lowers,
				  STORAGE_OVERLAY_LOWER_MAX);
	if ((upper == NULL) != (work == NULL))
		return errbuf_set(eb, EINVAL, "overlay: upper and work dirs go together");
	for (size_t i = 0; i < n_lowers; i++) {
		snprintf(what, sizeof(what), "overlay lower[%zu]", i);
		if ((rc = path_check(what, lowers[i], eb)) < 0)
			return rc;
	}
	if (upper && ((rc = path_check("overlay upper", upper, eb)) < 0 ||
		      (rc = path_check("overlay work", work, eb)) < 0))
		return rc;

	size_t pos = 0;
	rc = append(out, out_size, &pos, "lowerdir=");
	/* overlayfs stacks lowerdir left = top; the policy lists the base layer first. */
	for (size_t i = n_lowers; rc == 0 && i-- > 0;) {
		rc = append(out, out_size, &pos, lowers[i]);
		if (rc == 0 && i > 0)
			rc = append(out, out_size, &pos, ":");
	}
	if (rc == 0 && upper) {
		rc = append(out, out_size, &pos, ",upperdir=");
		if (rc == 0)
			rc = append(out, out_size, &pos, upper);
		if (rc == 0)
			rc = append(out, out_size, &pos, ",workdir=");
		if (rc == 0)
			rc = append(out, out_size, &pos, work);
	}
	if (rc < 0) {
		out[0] = 0;
		return errbuf_set(eb, ENOSPC, "overlay: options longer than %zu bytes", out_size);
	}
	return 0;
}
