/* verity_tree: a dm-verity hash tree in exactly veritysetup's on-disk format (format 1,
 * superblock version 1, SHA-256, 4096-byte data and hash blocks), built with several threads.
 * The layout is specified in docs/images.md. */
#ifndef PARMA_IMAGE_VERITY_TREE_H
#define PARMA_IMAGE_VERITY_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "common/errbuf.h"

#define VERITY_BLOCK_SIZE   4096u
#define VERITY_DIGEST_LEN   32u
#define VERITY_MAX_SALT     256u
#define VERITY_SB_SIZE      512u

struct verity_params {
	uint64_t data_blocks;          /* >= 1; data is [0, data_blocks * 4096) of the fd */
	uint64_t hash_offset;          /* byte offset of the superblock (4096-aligned) */
	const uint8_t *salt;
	size_t salt_len;               /* <= VERITY_MAX_SALT */
	uint8_t uuid[16];              /* recorded in the superblock only */
	unsigned threads;              /* 0 = online CPUs */
};

/* Bytes of superblock block + hash tree that follow hash_offset for data_blocks blocks. */
uint64_t verity_hash_area_size(uint64_t data_blocks);

/* Read the data blocks from fd, write the superblock at hash_offset and the tree after it
 * (the fd must be open read-write), and return the root hash. -errno with eb set on failure.
 * The data is read through shared mappings: the file must not shrink while it is hashed. */
int verity_tree_build(int fd, const struct verity_params *p, uint8_t root[VERITY_DIGEST_LEN],
		      struct errbuf *eb);

/* Compute only the root hash (nothing written): used by benchmarks and checks. */
int verity_root_hash(int fd, const struct verity_params *p, uint8_t root[VERITY_DIGEST_LEN],
		     struct errbuf *eb);

/* Fill the 512-byte veritysetup superblock (struct verity_sb, little-endian). */
void verity_superblock_fill(const struct verity_params *p, uint8_t sb[VERITY_SB_SIZE]);

#endif
