/* One layer blob -> <hex>.img (erofs + dm-verity) + <hex>.json, as docs/images.md specifies. */
#include "policy/image/layer_image.h"

#include <archive.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/digest.h"
#include "common/encoding.h"
#include "common/fileio.h"
#include "policy/image/layer_fs.h"
#include "policy/image/verity_tree.h"

#define DEFAULT_MAX_UNPACKED (64ull << 30)
#define READ_BUF             (1u << 20)
#define SIDECAR_MAX          65536
#define SIDECAR_FORMAT       "parma-layer-v1"

static int digest_hex(const char *digest, const char **hex)
{
	if (!digest || strncmp(digest, "sha256:", 7) || strlen(digest + 7) != 64)
		return -EINVAL;
	for (const char *p = digest + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return -EINVAL;
	*hex = digest + 7;
	return 0;
}

int layer_image_path(const char *dir, const char *digest, const char *suffix, char *out,
		     size_t out_size)
{
	const char *hex;
	if (digest_hex(digest, &hex))
		return -EINVAL;
	int n = snprintf(out, out_size, "%s/%s%s", dir, hex, suffix);
	return (n < 0 || (size_t)n >= out_size) ? -ENAMETOOLONG : 0;
}

int layer_image_verity_params(const struct layer_image_info *info, const char *dev, char *out,
			      size_t out_size)
{
	char root[2 * LAYER_HASH_LEN + 1], salt[2 * LAYER_SALT_LEN + 1];
	hex_encode(info->root_hash, LAYER_HASH_LEN, root);
	hex_encode(info->salt, LAYER_SALT_LEN, salt);
	int n = snprintf(out, out_size, "1 %s %s %u %u %llu %llu sha256 %s %s", dev, dev,
			 LAYER_BLOCK_SIZE, LAYER_BLOCK_SIZE,
			 (unsigned long long)info->data_blocks,
			 (unsigned long long)info->hash_start_block, root, salt);
	return (n < 0 || (size_t)n >= out_size) ? -ENAMETOOLONG : 0;
}

/* salt = SHA-256("parma-verity-salt-v1" || digest); uuid from the salt (cosmetic). */
static int salt_derive(const char *digest, uint8_t salt[LAYER_SALT_LEN], uint8_t uuid[16])
{
	char buf[128], ubuf[64];
	uint8_t h[SHA256_LEN];
	int n = snprintf(buf, sizeof(buf), "parma-verity-salt-v1%s", digest);
	if (n < 0 || (size_t)n >= sizeof(buf) || digest_sha256(buf, (size_t)n, salt))
		return -EIO;
	memcpy(ubuf, "parma-verity-uuid-v1", 20);
	memcpy(ubuf + 20, salt, LAYER_SALT_LEN);
	if (digest_sha256(ubuf, 20 + LAYER_SALT_LEN, h))
		return -EIO;
	memcpy(uuid, h, 16);
	uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40);
	uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80);
	return 0;
}

/* ---- reading the blob through SHA-256 ------------------------------------------------ */

/* The blob digest is computed on a second thread while the main thread decompresses and
 * writes: buffers rotate through BLOB_BUFS slots; libarchive may use the buffer of the last
 * read until the next one, so a slot is refilled only after the hasher has finished the read
 * that last used it, and libarchive has moved on from it. */
#define BLOB_BUFS 3

struct blob_reader {
	int fd;
	EVP_MD_CTX *sha;
	uint8_t *buf[BLOB_BUFS];
	size_t len[BLOB_BUFS];
	uint64_t reads;  /* buffers filled so far (slot = reads % BLOB_BUFS) */
	uint64_t hashed; /* buffers hashed so far */
	bool threaded, stop;
	int hash_err;
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t done, total;
	layer_progress_fn progress;
	void *progress_ctx;
	int err;
};

static void *blob_hasher(void *arg)
{
	struct blob_reader *r = arg;
	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (r->hashed == r->reads && !r->stop)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->hashed == r->reads && r->stop)
			break;
		size_t slot = r->hashed % BLOB_BUFS;
		pthread_mutex_unlock(&r->mu);
		int bad = EVP_DigestUpdate(r->sha, r->buf[slot], r->len[slot]) != 1;
		pthread_mutex_lock(&r->mu);
		if (bad)
			r->hash_err = EIO;
		r->hashed++;
		pthread_cond_broadcast(&r->cv);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

static int blob_reader_init(struct blob_reader *r, unsigned threads)
{
	r->sha = EVP_MD_CTX_new();
	for (int i = 0; i < BLOB_BUFS; i++)
		if (!(r->buf[i] = malloc(READ_BUF)))
			return -ENOMEM;
	if (!r->sha || EVP_DigestInit_ex(r->sha, EVP_sha256(), NULL) != 1)
		return -ENOMEM;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if ((threads ? threads : (unsigned)(cpus > 0 ? cpus : 1)) < 2)
		return 0; /* one CPU: hash inline */
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	if (pthread_create(&r->tid, NULL, blob_hasher, r)) {
		pthread_mutex_destroy(&r->mu);
		pthread_cond_destroy(&r->cv);
		return 0;
	}
	r->threaded = true;
	return 0;
}

/* Wait until every buffer read so far is hashed, and stop the hasher. */
static int blob_reader_quiesce(struct blob_reader *r)
{
	if (!r->threaded)
		return r->hash_err;
	pthread_mutex_lock(&r->mu);
	r->stop = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->tid, NULL);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	r->threaded = false;
	return r->hash_err;
}

static void blob_reader_release(struct blob_reader *r)
{
	blob_reader_quiesce(r);
	for (int i = 0; i < BLOB_BUFS; i++)
		free(r->buf[i]);
	EVP_MD_CTX_free(r->sha);
}

static la_ssize_t blob_read(struct archive *a, void *ctx, const void **buf)
{
	struct blob_reader *r = ctx;
	size_t slot = r->reads % BLOB_BUFS;
	if (r->threaded) {
		/* the slot's previous content (read reads - BLOB_BUFS) must be hashed */
		pthread_mutex_lock(&r->mu);
		while (r->hashed + BLOB_BUFS <= r->reads)
			pthread_cond_wait(&r->cv, &r->mu);
		pthread_mutex_unlock(&r->mu);
	}
	ssize_t n;
	do
		n = read(r->fd, r->buf[slot], READ_BUF);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		r->err = errno;
		archive_set_error(a, errno, "reading the layer blob: %s", strerror(errno));
		return -1;
	}
	if (n > 0) {
		r->len[slot] = (size_t)n;
		if (r->threaded) {
			pthread_mutex_lock(&r->mu);
			r->reads++;
			pthread_cond_broadcast(&r->cv);
			pthread_mutex_unlock(&r->mu);
		} else {
			r->reads++;
			if (EVP_DigestUpdate(r->sha, r->buf[slot], (size_t)n) != 1)
				r->hash_err = EIO;
		}
	}
	r->done += (uint64_t)n;
	if (r->progress)
		r->progress(r->progress_ctx, r->done, r->total);
	*buf = r->buf[slot];
	return n;
}

/* Hash whatever the decompressor did not need, then compare with the manifest. */
static int blob_finish(struct blob_reader *r, const char *expected, uint64_t expected_size,
		       struct errbuf *eb)
{
	if (blob_reader_quiesce(r))
		return errbuf_set(eb, EIO, "SHA-256 failed");
	for (;;) {
		ssize_t n = read(r->fd, r->buf[0], READ_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errbuf_set(eb, errno, "reading the layer blob: %s", strerror(errno));
		if (n == 0)
			break;
		if (EVP_DigestUpdate(r->sha, r->buf[0], (size_t)n) != 1)
			return errbuf_set(eb, EIO, "SHA-256 failed");
		r->done += (uint64_t)n;
	}
	uint8_t md[SHA256_LEN];
	char hex[2 * SHA256_LEN + 1];
	if (EVP_DigestFinal_ex(r->sha, md, NULL) != 1)
		return errbuf_set(eb, EIO, "SHA-256 failed");
	hex_encode(md, SHA256_LEN, hex);
	if (strcmp(hex, expected + 7))
		return errbuf_set(eb, EBADMSG, "digest mismatch: the blob is sha256:%s, the "
				  "manifest says %s", hex, expected);
	if (expected_size && r->done != expected_size)
		return errbuf_set(eb, EBADMSG, "size mismatch: the blob has %llu bytes, the "
				  "manifest says %llu", (unsigned long long)r->done,
				  (unsigned long long)expected_size);
	return 0;
}

/* ---- sidecar --------------------------------------------------------------------------- */

static int sidecar_write(const char *path, const struct layer_image_info *info,
			 struct errbuf *eb)
{
	char root[2 * LAYER_HASH_LEN + 1], salt[2 * LAYER_SALT_LEN + 1];
	hex_encode(info->root_hash, LAYER_HASH_LEN, root);
	hex_encode(info->salt, LAYER_SALT_LEN, salt);
	struct json_object *o = json_object_new_object();
	if (!o)
		return errbuf_set(eb, ENOMEM, "out of memory");
	json_object_object_add(o, "format", json_object_new_string(SIDECAR_FORMAT));
	json_object_object_add(o, "layer_digest", json_object_new_string(info->layer_digest));
	json_object_object_add(o, "filesystem", json_object_new_string("erofs"));
	json_object_object_add(o, "data_block_size", json_object_new_int(LAYER_BLOCK_SIZE));
	json_object_object_add(o, "hash_block_size", json_object_new_int(LAYER_BLOCK_SIZE));
	json_object_object_add(o, "hash_algorithm", json_object_new_string("sha256"));
	json_object_object_add(o, "data_size", json_object_new_int64((int64_t)info->data_size));
	json_object_object_add(o, "data_blocks",
			       json_object_new_int64((int64_t)info->data_blocks));
	json_object_object_add(o, "hash_offset",
			       json_object_new_int64((int64_t)info->hash_offset));
	json_object_object_add(o, "hash_start_block",
			       json_object_new_int64((int64_t)info->hash_start_block));
	json_object_object_add(o, "image_size",
			       json_object_new_int64((int64_t)info->image_size));
	json_object_object_add(o, "salt", json_object_new_string(salt));
	json_object_object_add(o, "root_hash", json_object_new_string(root));
	json_object_object_add(o, "entries", json_object_new_int64((int64_t)info->entries));
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							      JSON_C_TO_STRING_NOSLASHESCAPE);
	char *text = s ? malloc(strlen(s) + 2) : NULL;
	int ret;
	if (!text) {
		ret = errbuf_set(eb, ENOMEM, "out of memory");
	} else {
		size_t len = (size_t)sprintf(text, "%s\n", s);
		ret = file_write_atomic(path, text, len, 0644, eb);
	}
	free(text);
	json_object_put(o);
	return ret;
}

static int json_u64(struct json_object *o, const char *key, uint64_t *out, const char *path,
		    struct errbuf *eb)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0)
		return errbuf_set(eb, EINVAL, "%s: %s: expected a non-negative integer", path,
				  key);
	*out = (uint64_t)json_object_get_int64(v);
	return 0;
}

static int json_hex(struct json_object *o, const char *key, uint8_t *out, size_t len,
		    const char *path, struct errbuf *eb)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string) ||
	    hex_decode(json_object_get_string(v), out, len))
		return errbuf_set(eb, EINVAL, "%s: %s: expected %zu hex bytes", path, key, len);
	return 0;
}

int layer_image_open(const char *dir, const char *digest, struct layer_image_info *info,
		     struct errbuf *eb)
{
	char path[PATH_MAX], img[PATH_MAX];
	uint8_t *text = NULL;
	size_t len;
	struct json_object *o = NULL, *v;
	int ret;
	memset(info, 0, sizeof(*info));
	if (layer_image_path(dir, digest, ".json", path, sizeof(path)) ||
	    layer_image_path(dir, digest, ".img", img, sizeof(img)))
		return errbuf_set(eb, EINVAL, "%s: not a sha256 digest", digest);
	if (access(path, F_OK))
		return errbuf_set(eb, ENOENT, "%s: not converted yet", digest);
	ret = file_read_all(path, SIDECAR_MAX, &text, &len, eb);
	if (ret)
		return ret;
	o = json_tokener_parse((const char *)text);
	if (!o || !json_object_is_type(o, json_type_object)) {
		ret = errbuf_set(eb, EINVAL, "%s: not a JSON object", path);
		goto out;
	}
	if (!json_object_object_get_ex(o, "format", &v) ||
	    strcmp(json_object_get_string(v), SIDECAR_FORMAT) ||
	    !json_object_object_get_ex(o, "layer_digest", &v) ||
	    strcmp(json_object_get_string(v), digest)) {
		ret = errbuf_set(eb, EINVAL, "%s: format or layer_digest does not match", path);
		goto out;
	}
	snprintf(info->layer_digest, sizeof(info->layer_digest), "%s", digest);
	if ((ret = json_u64(o, "data_size", &info->data_size, path, eb)) ||
	    (ret = json_u64(o, "data_blocks", &info->data_blocks, path, eb)) ||
	    (ret = json_u64(o, "hash_offset", &info->hash_offset, path, eb)) ||
	    (ret = json_u64(o, "hash_start_block", &info->hash_start_block, path, eb)) ||
	    (ret = json_u64(o, "image_size", &info->image_size, path, eb)) ||
	    (ret = json_u64(o, "entries", &info->entries, path, eb)) ||
	    (ret = json_hex(o, "salt", info->salt, LAYER_SALT_LEN, path, eb)) ||
	    (ret = json_hex(o, "root_hash", info->root_hash, LAYER_HASH_LEN, path, eb)))
		goto out;
	if (!info->data_blocks || info->data_size != info->data_blocks * LAYER_BLOCK_SIZE ||
	    info->hash_offset != info->data_size ||
	    info->hash_start_block != info->hash_offset / LAYER_BLOCK_SIZE + 1 ||
	    info->image_size != info->hash_offset + verity_hash_area_size(info->data_blocks)) {
		ret = errbuf_set(eb, EINVAL, "%s: inconsistent sizes", path);
		goto out;
	}
	struct stat st;
	if (stat(img, &st) || (uint64_t)st.st_size != info->image_size) {
		ret = errbuf_set(eb, ENOENT, "%s: missing or of the wrong size", img);
		goto out;
	}
out:
	json_object_put(o);
	free(text);
	return ret;
}

int layer_image_verify(const char *dir, const struct layer_image_info *info, struct errbuf *eb)
{
	char img[PATH_MAX];
	if (layer_image_path(dir, info->layer_digest, ".img", img, sizeof(img)))
		return errbuf_set(eb, EINVAL, "%s: not a sha256 digest", info->layer_digest);
	int fd = open(img, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errbuf_set(eb, errno, "%s: %s", img, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) || (uint64_t)st.st_size != info->image_size) {
		close(fd);
		return errbuf_set(eb, EBADMSG, "%s: cached layer image has the wrong size "
				  "(modified on disk?): remove it to convert the layer again", img);
	}
	struct verity_params vp = {
		.data_blocks = info->data_blocks, .hash_offset = info->hash_offset,
		.salt = info->salt, .salt_len = LAYER_SALT_LEN, .threads = 0,
	};
	uint8_t root[VERITY_DIGEST_LEN];
	int ret = verity_root_hash(fd, &vp, root, eb);
	close(fd);
	if (ret < 0)
		return ret;
	if (memcmp(root, info->root_hash, LAYER_HASH_LEN))
		return errbuf_set(eb, EBADMSG, "%s: cached layer image was modified on disk: its "
				  "dm-verity root hash no longer matches its sidecar (tampering?); "
				  "remove it to convert the layer again", img);
	return 0;
}

/* ---- conversion ------------------------------------------------------------------------- */

int layer_image_convert(const char *blob_path, const char *out_dir,
			const struct layer_convert_opts *opts, struct layer_image_info *info,
			struct errbuf *eb)
{
	const char *hex;
	char tmp[PATH_MAX], img[PATH_MAX], side[PATH_MAX];
	struct blob_reader r = { .fd = -1 };
	struct archive *a = NULL;
	struct layer_fs fs;
	bool fs_ready = false;
	int out_fd = -1, ret;

	memset(info, 0, sizeof(*info));
	if (digest_hex(opts->expected_digest, &hex))
		return errbuf_set(eb, EINVAL, "%s: not a sha256:<64 lowercase hex> digest",
				  opts->expected_digest ? opts->expected_digest : "(none)");
	if (layer_image_path(out_dir, opts->expected_digest, ".img", img, sizeof(img)) ||
	    layer_image_path(out_dir, opts->expected_digest, ".json", side, sizeof(side)) ||
	    snprintf(tmp, sizeof(tmp), "%s/.%s.img.XXXXXX", out_dir, hex) >= (int)sizeof(tmp))
		return errbuf_set(eb, ENAMETOOLONG, "%s: path too long", out_dir);
	snprintf(info->layer_digest, sizeof(info->layer_digest), "%s", opts->expected_digest);

	r.fd = open(blob_path, O_RDONLY | O_CLOEXEC);
	if (r.fd < 0)
		return errbuf_set(eb, errno, "%s: %s", blob_path, strerror(errno));
	struct stat st;
	if (fstat(r.fd, &st) || !S_ISREG(st.st_mode)) {
		ret = errbuf_set(eb, EINVAL, "%s: not a regular file", blob_path);
		goto out;
	}
	r.total = (uint64_t)st.st_size;
	r.progress = opts->progress;
	r.progress_ctx = opts->progress_ctx;
	if (blob_reader_init(&r, opts->threads)) {
		ret = errbuf_set(eb, ENOMEM, "out of memory");
		goto out;
	}
	out_fd = mkstemp(tmp);
	if (out_fd < 0) {
		ret = errbuf_set(eb, errno, "%s: %s", out_dir, strerror(errno));
		goto out;
	}
	if (fchmod(out_fd, 0644)) {
		ret = errbuf_set(eb, errno, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	ret = layer_fs_init(&fs, out_fd, 1,
			    opts->max_unpacked ? opts->max_unpacked : DEFAULT_MAX_UNPACKED);
	fs_ready = true;
	if (ret) {
		errbuf_set(eb, -ret, "out of memory");
		goto out;
	}

	a = archive_read_new();
	if (!a || archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
	    archive_read_support_format_tar(a) != ARCHIVE_OK) {
		ret = errbuf_set(eb, ENOTSUP, "libarchive lacks tar, gzip or zstd support");
		goto out;
	}
	if (archive_read_open(a, &r, NULL, blob_read, NULL) != ARCHIVE_OK) {
		struct errbuf deb = { 0 };
		if (blob_finish(&r, opts->expected_digest, opts->expected_size, &deb))
			ret = errbuf_set(eb, deb.code, "%s", deb.msg);
		else
			ret = errbuf_set(eb, EINVAL, "not a tar archive (plain, gzip or zstd): %s",
					 archive_error_string(a) ? archive_error_string(a) : "?");
		goto out;
	}
	ret = layer_fs_read_tar(&fs, a, eb);
	if (ret) {
		/* a damaged blob is reported as such, before what it made the parser say */
		struct errbuf deb = { 0 };
		if (r.err == 0 && blob_finish(&r, opts->expected_digest, opts->expected_size, &deb))
			ret = errbuf_set(eb, deb.code, "%s", deb.msg);
		goto out;
	}
	ret = blob_finish(&r, opts->expected_digest, opts->expected_size, eb);
	if (ret)
		goto out;

	uint64_t data_size;
	ret = erofs_write(&fs, &data_size, eb);
	if (ret)
		goto out;
	info->entries = fs.n_inodes;
	info->data_size = data_size;
	info->data_blocks = data_size / LAYER_BLOCK_SIZE;
	info->hash_offset = data_size;
	info->hash_start_block = data_size / LAYER_BLOCK_SIZE + 1;
	info->image_size = data_size + verity_hash_area_size(info->data_blocks);

	struct verity_params vp = {
		.data_blocks = info->data_blocks,
		.hash_offset = info->hash_offset,
		.salt = info->salt,
		.salt_len = LAYER_SALT_LEN,
		.threads = opts->threads,
	};
	if (salt_derive(opts->expected_digest, info->salt, vp.uuid)) {
		ret = errbuf_set(eb, EIO, "SHA-256 failed");
		goto out;
	}
	ret = verity_tree_build(out_fd, &vp, info->root_hash, eb);
	if (ret)
		goto out;
	if (rename(tmp, img)) {
		ret = errbuf_set(eb, errno, "%s: %s", img, strerror(errno));
		goto out;
	}
	tmp[0] = 0;
	ret = sidecar_write(side, info, eb);
	if (ret)
		unlink(img);
out:
	/* A full or failing disk: say which file could not be written (the output directory's). */
	if ((ret == -ENOSPC || ret == -EDQUOT || ret == -EIO || ret == -EFBIG) && tmp[0] &&
	    !strstr(errbuf_msg(eb), out_dir))
		errbuf_prefix(eb, "%s", img);
	if (ret && info->layer_digest[0])
		errbuf_prefix(eb, "layer %.19s..", info->layer_digest);
	if (a)
		archive_read_free(a);
	if (fs_ready) {
		/* count placed inodes before release for info; already copied */
		layer_fs_release(&fs);
	}
	if (out_fd >= 0)
		close(out_fd);
	if (ret && tmp[0])
		unlink(tmp);
	if (r.fd >= 0)
		close(r.fd);
	blob_reader_release(&r);
	return ret;
}
