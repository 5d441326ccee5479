/* layer_image: one OCI layer blob -> one read-only erofs image with its dm-verity hash tree
 * appended, plus a small JSON sidecar. The on-disk format is specified in docs/images.md; the
 * guest mounts exactly that (dm-verity table from the sidecar, then erofs read-only).
 *
 * Files for a layer whose blob digest is sha256:<hex>, in the output directory:
 *   <hex>.img   erofs (data_size bytes, 4096-byte blocks) then, at hash_offset == data_size,
 *               the veritysetup superblock v1 (one 4096-byte block) and the hash tree
 *   <hex>.json  the sidecar (struct layer_image_info as JSON) */
#ifndef PARMA_IMAGE_LAYER_IMAGE_H
#define PARMA_IMAGE_LAYER_IMAGE_H

#include <stdint.h>

#include "common/errbuf.h"

#define LAYER_BLOCK_SIZE     4096u /* erofs block = dm-verity data block = hash block */
#define LAYER_SALT_LEN       32u
#define LAYER_HASH_LEN       32u   /* SHA-256 */
#define LAYER_DIGEST_STR_MAX 72    /* "sha256:" + 64 hex + NUL, rounded up */

/* Everything the guest needs to open a converted layer. */
struct layer_image_info {
	char layer_digest[LAYER_DIGEST_STR_MAX]; /* "sha256:<hex>" of the (compressed) blob */
	uint64_t data_size;        /* bytes of erofs data; multiple of 4096 */
	uint64_t data_blocks;      /* data_size / 4096 */
	uint64_t hash_offset;      /* byte offset of the verity superblock; == data_size */
	uint64_t hash_start_block; /* dm-verity table <hash_start_block>, in 4096-byte blocks:
				    * hash_offset / 4096 + 1 (the superblock's block) */
	uint64_t image_size;       /* total bytes of <hex>.img */
	uint8_t salt[LAYER_SALT_LEN];
	uint8_t root_hash[LAYER_HASH_LEN];
	uint64_t entries;          /* inodes in the erofs image (informational) */
};

/* Called now and then during a conversion; `total` may be 0 when unknown. */
typedef void (*layer_progress_fn)(void *ctx, uint64_t done, uint64_t total);

struct layer_convert_opts {
	/* Required: the blob's digest from the manifest ("sha256:<hex>"); the blob is hashed
	 * while read and the conversion fails (nothing kept) on a mismatch. */
	const char *expected_digest;
	uint64_t expected_size;    /* blob size from the manifest; 0 = not checked */
	uint64_t max_unpacked;     /* cap on the layer's unpacked bytes; 0 = 64 GiB */
	unsigned threads;          /* hashing threads; 0 = number of online CPUs */
	layer_progress_fn progress; /* may be NULL */
	void *progress_ctx;
};

/* Convert the layer blob at `blob_path` (tar, tar+gzip or tar+zstd; detected from the bytes)
 * into `out_dir`/<hex>.img and <hex>.json (written under temporary names and renamed, so a
 * failed or interrupted conversion leaves nothing behind). Deterministic: the same blob always
 * gives the same bytes and root hash. Fills *info. Returns 0 or -errno with eb naming the
 * entry at fault ("layer sha256:ab..: usr/../../etc: path leaves the layer root"). */
int layer_image_convert(const char *blob_path, const char *out_dir,
			const struct layer_convert_opts *opts, struct layer_image_info *info,
			struct errbuf *eb);

/* Read and check the sidecar of an already converted layer (`digest` = "sha256:<hex>") in
 * `dir`; also checks that <hex>.img exists with image_size bytes. -ENOENT if not converted. */
int layer_image_open(const char *dir, const char *digest, struct layer_image_info *info,
		     struct errbuf *eb);

/* Recompute the dm-verity root hash of a cached layer image's data (layer_image_open first)
 * and compare it with the sidecar's: a cache entry modified on disk is refused before any
 * guest sees it. -EBADMSG (eb names the image and says it was modified) on a mismatch. */
int layer_image_verify(const char *dir, const struct layer_image_info *info,
		     struct errbuf *eb);

/* Paths of a layer's files in `dir` (out must hold PATH_MAX bytes). Returns 0 or -EINVAL on
 * a malformed digest, -ENAMETOOLONG. */
int layer_image_path(const char *dir, const char *digest, const char *suffix, char *out,
		     size_t out_size);

/* The dm-verity target parameters for this layer when data and hash tree live on the same
 * device `dev` ("1 <dev> <dev> 4096 4096 <blocks> <hash_start> sha256 <root> <salt>"). */
int layer_image_verity_params(const struct layer_image_info *info, const char *dev, char *out,
			      size_t out_size);

#endif
