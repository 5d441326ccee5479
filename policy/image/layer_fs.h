/* layer_fs: the in-memory tree of one layer between reading its tar (layer_tar.c) and writing
 * it as erofs (erofs_writer.c). Private to policy/image. Regular files of at least one block
 * are streamed straight into the output file's data area while the tar is read; only metadata
 * and small contents stay in memory. */
#ifndef PARMA_IMAGE_LAYER_FS_H
#define PARMA_IMAGE_LAYER_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/errbuf.h"

struct archive;

#define LAYER_FS_BLOCK       4096u
#define LAYER_FS_NAME_MAX    255u
#define LAYER_FS_MAX_ENTRIES (16u * 1024 * 1024)

struct layer_xattr {
	uint8_t index;   /* erofs name index: 1 user, 4 trusted, 6 security */
	char *name;      /* suffix after the prefix */
	uint8_t *value;
	size_t name_len, value_len;
};

struct layer_inode {
	uint32_t mode;               /* type and permission bits */
	uint32_t uid, gid;
	int64_t mtime;
	uint32_t mtime_nsec;
	uint32_t rdev;               /* new_encode_dev() form for device nodes */
	uint64_t size;
	uint32_t nlink;              /* references (non-directories) */
	uint64_t data_blkaddr;       /* streamed data (size >= 1 block): first block */
	bool streamed;
	uint8_t *content;            /* small file / symlink target, size bytes */
	struct layer_xattr *xattrs;
	size_t n_xattrs;
	/* filled by the writer */
	uint64_t nid;
	uint32_t ino;
	bool placed;
};

struct layer_node {
	char *name;                  /* component; "" for the root */
	size_t name_len;
	struct layer_node *parent;
	struct layer_inode *inode;
	uint64_t id;                 /* lookup key; changes when a directory is replaced */
	struct layer_node **children;
	size_t n_children, cap_children;
	bool removed;                /* dropped from its parent (replaced) */
	struct layer_node *all_next; /* every node ever made, for freeing */
};

struct layer_fs {
	int fd;                      /* output image, read-write */
	uint64_t next_block;         /* next free block of the streamed data area */
	uint64_t max_unpacked, unpacked;
	uint64_t inline_budget;      /* bytes of small contents we still keep in memory */
	uint64_t entries;
	uint64_t next_id;
	struct layer_node *root;
	struct layer_node *all_nodes;
	struct layer_inode **inodes; /* every inode, for freeing */
	size_t n_inodes, cap_inodes;
	struct layer_node **table;   /* (parent id, name) -> node, open addressing */
	size_t table_cap, table_used;
};

/* `fd` is the output file; data streaming starts at block `first_data_block`. */
int layer_fs_init(struct layer_fs *fs, int fd, uint64_t first_data_block, uint64_t max_unpacked);
void layer_fs_release(struct layer_fs *fs);

/* Read every entry of an opened tar archive into fs (OCI whiteouts converted). Errors name
 * the entry: "usr/bin/../../x: path leaves the layer root". */
int layer_fs_read_tar(struct layer_fs *fs, struct archive *a, struct errbuf *eb);

/* Lay out and write the erofs image (block 0 and everything after the streamed data).
 * *data_size receives the image size in bytes (a multiple of 4096). */
int erofs_write(struct layer_fs *fs, uint64_t *data_size, struct errbuf *eb);

#endif
