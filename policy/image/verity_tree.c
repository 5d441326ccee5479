/* dm-verity hash tree (veritysetup format 1). Level sizes and positions follow cryptsetup's
 * verity_hash.c: with 128 digests per 4096-byte hash block, level i holds
 * ceil(data_blocks / 128^(i+1)) blocks; levels are stored top (root-most) first; the root hash
 * is SHA-256(salt || top block), or of the single data block when there is only one. */
#include "policy/image/verity_tree.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/byteorder.h"
#include "common/fileio.h"

#define HASHES_PER_BLOCK (VERITY_BLOCK_SIZE / VERITY_DIGEST_LEN) /* 128 */
#define HASH_BITS        7
#define MAX_LEVELS       63
#define MAX_THREADS      64
#define READ_CHUNK_HBLK  64 /* leaf hash blocks per mapping: 64 * 128 * 4096 = 32 MiB */

struct tree_shape {
	int levels;
	uint64_t level_pos[MAX_LEVELS];    /* in hash blocks from the tree start */
	uint64_t level_blocks[MAX_LEVELS];
	uint64_t total_blocks;
};

static void tree_shape_compute(uint64_t data_blocks, struct tree_shape *s)
{
	memset(s, 0, sizeof(*s));
	while (HASH_BITS * s->levels < 64 && ((data_blocks - 1) >> (HASH_BITS * s->levels)))
		s->levels++;
	uint64_t pos = 0;
	for (int i = s->levels - 1; i >= 0; i--) {
		unsigned shift = (unsigned)(i + 1) * HASH_BITS;
		uint64_t n = shift >= 64 ? 1 : (data_blocks + ((1ull << shift) - 1)) >> shift;
		s->level_pos[i] = pos;
		s->level_blocks[i] = n;
		pos += n;
	}
	s->total_blocks = pos;
}

uint64_t verity_hash_area_size(uint64_t data_blocks)
{
	struct tree_shape s;
	tree_shape_compute(data_blocks ? data_blocks : 1, &s);
	return (s.total_blocks + 1) * VERITY_BLOCK_SIZE;
}

void verity_superblock_fill(const struct verity_params *p, uint8_t sb[VERITY_SB_SIZE])
{
	memset(sb, 0, VERITY_SB_SIZE);
	memcpy(sb, "verity\0\0", 8);
	le_put32(sb + 8, 1);  /* version */
	le_put32(sb + 12, 1); /* hash_type: normal */
	memcpy(sb + 16, p->uuid, 16);
	memcpy(sb + 32, "sha256", 6); /* algorithm[32] */
	le_put32(sb + 64, VERITY_BLOCK_SIZE);
	le_put32(sb + 68, VERITY_BLOCK_SIZE);
	le_put64(sb + 72, p->data_blocks);
	le_put16(sb + 80, (uint16_t)p->salt_len);
	memcpy(sb + 88, p->salt, p->salt_len); /* after 6 pad bytes; salt[256], then 168 pad */
}

/* One level's work, split by output hash block among threads. The source is either the data
 * file (level 0: read with pread) or the previous level in memory. */
struct level_job {
	int fd;
	const uint8_t *src_mem;   /* NULL: read from fd */
	uint64_t src_blocks;
	uint8_t *dst;             /* dst_blocks * 4096, zeroed */
	uint64_t dst_blocks;
	const uint8_t *salt;
	size_t salt_len;
	const EVP_MD *md;
};

struct level_worker {
	const struct level_job *job;
	uint64_t first, end; /* output hash blocks [first, end) */
	int err;
	pthread_t tid;
};

static int hash_block(EVP_MD_CTX *ctx, const struct level_job *j, const uint8_t *blk,
		      uint8_t *out)
{
	if (EVP_DigestInit_ex2(ctx, j->md, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, j->salt, j->salt_len) != 1 ||
	    EVP_DigestUpdate(ctx, blk, VERITY_BLOCK_SIZE) != 1 ||
	    EVP_DigestFinal_ex(ctx, out, NULL) != 1)
		return -EIO;
	return 0;
}

/* Level 0 reads the file through read-only mappings of one chunk at a time, populated up
 * front: no copy into a buffer, no page fault per block, bounded address space. */
static void *level_worker_run(void *arg)
{
	struct level_worker *w = arg;
	const struct level_job *j = w->job;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	const uint64_t chunk_blocks = (uint64_t)READ_CHUNK_HBLK * HASHES_PER_BLOCK;

	if (!ctx) {
		w->err = -ENOMEM;
		return NULL;
	}
	uint64_t b = w->first * HASHES_PER_BLOCK;
	uint64_t end = w->end * HASHES_PER_BLOCK;
	if (end > j->src_blocks)
		end = j->src_blocks;
	while (b < end) {
		uint64_t n = end - b;
		const uint8_t *src;
		void *map = MAP_FAILED;
		size_t len = 0;
		if (j->src_mem) {
			src = j->src_mem + b * VERITY_BLOCK_SIZE;
		} else {
			if (n > chunk_blocks)
				n = chunk_blocks;
			len = (size_t)n * VERITY_BLOCK_SIZE;
			map = mmap(NULL, len, PROT_READ, MAP_SHARED | MAP_POPULATE, j->fd,
				   (off_t)(b * VERITY_BLOCK_SIZE));
			if (map == MAP_FAILED) {
				w->err = -errno;
				goto out;
			}
			src = map;
		}
		for (uint64_t i = 0; i < n; i++) {
			if (hash_block(ctx, j, src + i * VERITY_BLOCK_SIZE,
				       j->dst + (b + i) * VERITY_DIGEST_LEN)) {
				w->err = -EIO;
				break;
			}
		}
		if (map != MAP_FAILED)
			munmap(map, len);
		if (w->err)
			goto out;
		b += n;
	}
out:
	EVP_MD_CTX_free(ctx);
	return NULL;
}

static unsigned thread_count(unsigned wanted)
{
	if (!wanted) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		wanted = n > 0 ? (unsigned)n : 1;
	}
	return wanted > MAX_THREADS ? MAX_THREADS : wanted;
}

static int level_run(const struct level_job *j, unsigned threads)
{
	struct level_worker w[MAX_THREADS];
	if ((uint64_t)threads > j->dst_blocks)
		threads = (unsigned)j->dst_blocks;
	if (threads < 1)
		threads = 1;
	uint64_t per = j->dst_blocks / threads, extra = j->dst_blocks % threads, at = 0;
	unsigned started = 0;
	int err = 0;

	for (unsigned t = 0; t < threads; t++) {
		w[t] = (struct level_worker){ .job = j, .first = at };
		at += per + (t < extra);
		w[t].end = at;
	}
	for (unsigned t = 1; t < threads; t++) {
		if (pthread_create(&w[t].tid, NULL, level_worker_run, &w[t])) {
			err = -EAGAIN;
			break;
		}
		started = t;
	}
	if (!err)
		level_worker_run(&w[0]);
	for (unsigned t = 1; t <= started; t++)
		pthread_join(w[t].tid, NULL);
	for (unsigned t = 0; t < threads && !err; t++)
		err = w[t].err;
	return err;
}

/* Build every level in memory (tree = total_blocks * 4096 bytes) and the root. */
static int tree_compute(int fd, const struct verity_params *p, const struct tree_shape *s,
			uint8_t **tree_out, uint8_t root[VERITY_DIGEST_LEN], struct errbuf *eb)
{
	uint8_t *tree = NULL;
	EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
	int ret = 0;

	if (!md)
		return errbuf_set(eb, EIO, "OpenSSL has no SHA-256");
	if (s->total_blocks > SIZE_MAX / VERITY_BLOCK_SIZE) {
		ret = errbuf_set(eb, EFBIG, "hash tree too large for this machine");
		goto out;
	}
	tree = calloc(s->total_blocks ? s->total_blocks : 1, VERITY_BLOCK_SIZE);
	if (!tree) {
		ret = errbuf_set(eb, ENOMEM, "out of memory for the hash tree");
		goto out;
	}
	unsigned threads = thread_count(p->threads);
	for (int i = 0; i < s->levels; i++) {
		struct level_job j = {
			.fd = fd,
			.src_mem = i ? tree + s->level_pos[i - 1] * VERITY_BLOCK_SIZE : NULL,
			.src_blocks = i ? s->level_blocks[i - 1] : p->data_blocks,
			.dst = tree + s->level_pos[i] * VERITY_BLOCK_SIZE,
			.dst_blocks = s->level_blocks[i],
			.salt = p->salt,
			.salt_len = p->salt_len,
			.md = md,
		};
		ret = level_run(&j, threads);
		if (ret) {
			errbuf_set(eb, -ret, "hashing level %d: %s", i, strerror(-ret));
			goto out;
		}
	}
	/* root: hash of the top level's single block, or of the only data block */
	uint8_t top[VERITY_BLOCK_SIZE];
	if (s->levels) {
		memcpy(top, tree + s->level_pos[s->levels - 1] * VERITY_BLOCK_SIZE, sizeof(top));
	} else {
		ssize_t got = pread(fd, top, sizeof(top), 0);
		if (got != (ssize_t)sizeof(top)) {
			ret = errbuf_set(eb, EIO, "reading the data block: short read");
			goto out;
		}
	}
	struct level_job rj = { .salt = p->salt, .salt_len = p->salt_len, .md = md };
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || hash_block(ctx, &rj, top, root))
		ret = errbuf_set(eb, EIO, "SHA-256 failed");
	EVP_MD_CTX_free(ctx);
out:
	EVP_MD_free(md);
	if (ret) {
		free(tree);
		tree = NULL;
	}
	*tree_out = tree;
	return ret;
}

static int params_check(const struct verity_params *p, struct errbuf *eb)
{
	if (!p->data_blocks)
		return errbuf_set(eb, EINVAL, "dm-verity: no data blocks");
	if (p->salt_len > VERITY_MAX_SALT)
		return errbuf_set(eb, EINVAL, "dm-verity: salt longer than %u bytes",
				  VERITY_MAX_SALT);
	if (p->hash_offset % VERITY_BLOCK_SIZE)
		return errbuf_set(eb, EINVAL, "dm-verity: hash offset not 4096-aligned");
	if (p->data_blocks > UINT64_MAX / VERITY_BLOCK_SIZE)
		return errbuf_set(eb, EFBIG, "dm-verity: too many data blocks");
	return 0;
}

int verity_root_hash(int fd, const struct verity_params *p, uint8_t root[VERITY_DIGEST_LEN],
		     struct errbuf *eb)
{
	struct tree_shape s;
	uint8_t *tree = NULL;
	int ret = params_check(p, eb);
	if (ret)
		return ret;
	tree_shape_compute(p->data_blocks, &s);
	ret = tree_compute(fd, p, &s, &tree, root, eb);
	free(tree);
	return ret;
}

int verity_tree_build(int fd, const struct verity_params *p, uint8_t root[VERITY_DIGEST_LEN],
		      struct errbuf *eb)
{
	struct tree_shape s;
	uint8_t *tree = NULL;
	uint8_t sb[VERITY_BLOCK_SIZE] = { 0 };
	int ret = params_check(p, eb);
	if (ret)
		return ret;
	tree_shape_compute(p->data_blocks, &s);
	ret = tree_compute(fd, p, &s, &tree, root, eb);
	if (ret)
		return ret;
	verity_superblock_fill(p, sb);
	if (pwrite(fd, sb, sizeof(sb), (off_t)p->hash_offset) != (ssize_t)sizeof(sb)) {
		ret = errbuf_set(eb, errno ? errno : EIO, "writing the verity superblock: %s",
				 strerror(errno ? errno : EIO));
		goto out;
	}
	uint64_t off = p->hash_offset + VERITY_BLOCK_SIZE;
	size_t len = (size_t)s.total_blocks * VERITY_BLOCK_SIZE;
	for (size_t done = 0; done < len;) {
		ssize_t n = pwrite(fd, tree + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = errbuf_set(eb, n < 0 ? errno : EIO, "writing the hash tree: %s",
					 strerror(n < 0 ? errno : EIO));
			goto out;
		}
		done += (size_t)n;
	}
out:
	free(tree);
	return ret;
}
