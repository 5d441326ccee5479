/* Deterministic, uncompressed erofs writer (on-disk format: the kernel's fs/erofs/erofs_fs.h
 * and Documentation/filesystems/erofs.rst). Layout, as documented in docs/images.md:
 *   block 0          superblock at 1024, root inode at 1152 (nid 36)
 *   blocks 1..       data of regular files >= 4096 bytes (streamed by layer_tar.c)
 *   then             every other inode, 32-byte aligned, with inline xattrs and inline
 *                    content; a record never straddles a block
 *   then             whole blocks of content that could not be inline
 * meta_blkaddr is 0, so a nid is simply the inode's byte offset / 32. */
#include "policy/image/layer_fs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/byteorder.h"

#define EROFS_MAGIC          0xE0F5E1E2u
#define EROFS_SB_OFFSET      1024u
#define EROFS_SB_SIZE        128u
#define EROFS_ROOT_OFFSET    (EROFS_SB_OFFSET + EROFS_SB_SIZE)
#define EROFS_COMPAT_MTIME   0x2u
#define EROFS_SLOT           32u
#define INODE_COMPACT_SIZE   32u
#define INODE_EXTENDED_SIZE  64u
#define XATTR_HEADER_SIZE    12u
#define DIRENT_SIZE          12u
#define LAYOUT_FLAT_PLAIN    0u
#define LAYOUT_FLAT_INLINE   2u
#define NULL_ADDR            0xffffffffu
#define BLK                  LAYER_FS_BLOCK

/* erofs dirent file types, indexed by (mode >> 12) */
static const uint8_t file_type_of[16] = {
	[S_IFREG >> 12] = 1, [S_IFDIR >> 12] = 2, [S_IFCHR >> 12] = 3, [S_IFBLK >> 12] = 4,
	[S_IFIFO >> 12] = 5, [S_IFSOCK >> 12] = 6, [S_IFLNK >> 12] = 7,
};

/* Per placed inode: how it is laid out. */
struct placed {
	struct layer_node *node;     /* the first name it was reached by (dirs: the only one) */
	struct layer_inode *ino;
	bool extended;
	uint32_t xattr_size;
	uint64_t content_len;        /* dir/symlink/small file bytes; 0 otherwise */
	bool has_content;
	bool inline_content;
	uint64_t plain_blkaddr;      /* content not inline: first block in the tail area */
	uint64_t offset;             /* byte offset of the inode */
	/* directories: entries sorted, with "." and ".." */
	struct dirent_ref *ents;
	size_t n_ents;
};

struct dirent_ref {
	const char *name;
	size_t len;
	struct layer_inode *ino;
};

struct writer {
	struct layer_fs *fs;
	struct placed *list;
	size_t n, cap;
	int64_t build_time;
	uint32_t build_nsec;
};

static int name_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	if (c)
		return c;
	return al < bl ? -1 : al > bl;
}

static int node_cmp(const void *x, const void *y)
{
	const struct layer_node *a = *(struct layer_node *const *)x;
	const struct layer_node *b = *(struct layer_node *const *)y;
	return name_cmp(a->name, a->name_len, b->name, b->name_len);
}

struct mtime_key {
	int64_t s;
	uint32_t ns;
};

static int mtime_cmp(const void *x, const void *y)
{
	const struct mtime_key *a = x, *b = y;
	if (a->s != b->s)
		return a->s < b->s ? -1 : 1;
	return a->ns < b->ns ? -1 : a->ns > b->ns;
}

/* The most common mtime becomes the superblock build time (compact inodes inherit it). */
static int build_time_choose(struct writer *w)
{
	struct layer_fs *fs = w->fs;
	struct mtime_key *k = malloc((fs->n_inodes ? fs->n_inodes : 1) * sizeof(*k));
	size_t n = 0;
	if (!k)
		return -ENOMEM;
	for (size_t i = 0; i < fs->n_inodes; i++)
		if (fs->inodes[i]->mtime != INT64_MIN)
			k[n++] = (struct mtime_key){ fs->inodes[i]->mtime,
						     fs->inodes[i]->mtime_nsec };
	if (n)
		qsort(k, n, sizeof(*k), mtime_cmp);
	struct mtime_key best = { 0, 0 };
	size_t best_run = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && !mtime_cmp(&k[i], &k[j]))
			j++;
		if (j - i > best_run) {
			best_run = j - i;
			best = k[i];
		}
		i = j;
	}
	free(k);
	w->build_time = best.s;
	w->build_nsec = best.ns;
	for (size_t i = 0; i < fs->n_inodes; i++) {
		if (fs->inodes[i]->mtime == INT64_MIN) {
			fs->inodes[i]->mtime = best.s;
			fs->inodes[i]->mtime_nsec = best.ns;
		}
	}
	return 0;
}

static int list_add(struct writer *w, struct layer_node *n)
{
	if (w->n == w->cap) {
		size_t ncap = w->cap ? w->cap * 2 : 256;
		struct placed *nl = realloc(w->list, ncap * sizeof(*nl));
		if (!nl)
			return -ENOMEM;
		w->list = nl;
		w->cap = ncap;
	}
	w->list[w->n++] = (struct placed){ .node = n, .ino = n->inode };
	n->inode->placed = true;
	return 0;
}

/* Depth-first, children in name order: the deterministic inode order. Iterative, so a
 * deep tree cannot exhaust the stack. Directory nlink = 2 + subdirectories. */
static int order_inodes(struct writer *w)
{
	int ret = list_add(w, w->fs->root);
	for (size_t i = 0; !ret && i < w->n; i++) {
		/* breadth of the list grows as we go; visit directories in list order, but insert
		 * each directory's children right after processing it: simple preorder by sorting
		 * once and appending (a BFS order is just as deterministic) */
		struct layer_node *d = w->list[i].node;
		if (!S_ISDIR(d->inode->mode))
			continue;
		if (d->n_children)
			qsort(d->children, d->n_children, sizeof(*d->children), node_cmp);
		uint32_t subdirs = 0;
		for (size_t c = 0; c < d->n_children && !ret; c++) {
			struct layer_node *ch = d->children[c];
			if (S_ISDIR(ch->inode->mode))
				subdirs++;
			if (!ch->inode->placed)
				ret = list_add(w, ch);
		}
		w->list[i].ino->nlink = 2 + subdirs;
	}
	return ret;
}

static int dirent_cmp(const void *x, const void *y)
{
	const struct dirent_ref *a = x, *b = y;
	return name_cmp(a->name, a->len, b->name, b->len);
}

/* Pack sorted entries into blocks; return the directory size (bytes of the last block
 * counted as used, not padded). With `out` non-NULL also write the blocks there. */
static uint64_t dir_pack(const struct placed *p, uint8_t *out)
{
	uint64_t size = 0;
	size_t i = 0;
	while (i < p->n_ents) {
		size_t j = i, used = 0;
		while (j < p->n_ents && used + DIRENT_SIZE + p->ents[j].len <= BLK) {
			used += DIRENT_SIZE + p->ents[j].len;
			j++;
		}
		if (out) {
			uint8_t *blk = out + size;
			size_t nameoff = (j - i) * DIRENT_SIZE;
			for (size_t k = i; k < j; k++) {
				uint8_t *de = blk + (k - i) * DIRENT_SIZE;
				le_put64(de, p->ents[k].ino->nid);
				le_put16(de + 8, (uint16_t)nameoff);
				de[10] = file_type_of[(p->ents[k].ino->mode >> 12) & 15];
				de[11] = 0;
				memcpy(blk + nameoff, p->ents[k].name, p->ents[k].len);
				nameoff += p->ents[k].len;
			}
		}
		i = j;
		size += (i < p->n_ents) ? BLK : used;
	}
	return size;
}

static int dir_entries(struct placed *p)
{
	struct layer_node *d = p->node;
	p->n_ents = d->n_children + 2;
	p->ents = malloc(p->n_ents * sizeof(*p->ents));
	if (!p->ents)
		return -ENOMEM;
	p->ents[0] = (struct dirent_ref){ ".", 1, d->inode };
	p->ents[1] = (struct dirent_ref){ "..", 2, d->parent->inode };
	for (size_t c = 0; c < d->n_children; c++)
		p->ents[c + 2] = (struct dirent_ref){ d->children[c]->name,
						      d->children[c]->name_len,
						      d->children[c]->inode };
	/* the kernel binary-searches names: "." and ".." take their sorted place too */
	qsort(p->ents, p->n_ents, sizeof(*p->ents), dirent_cmp);
	return 0;
}

static int xattr_cmp(const void *x, const void *y)
{
	const struct layer_xattr *a = x, *b = y;
	if (a->index != b->index)
		return a->index < b->index ? -1 : 1;
	return name_cmp(a->name, a->name_len, b->name, b->name_len);
}

static uint32_t xattr_size(struct layer_inode *ino)
{
	if (!ino->n_xattrs)
		return 0;
	qsort(ino->xattrs, ino->n_xattrs, sizeof(*ino->xattrs), xattr_cmp);
	uint32_t sz = XATTR_HEADER_SIZE;
	for (size_t i = 0; i < ino->n_xattrs; i++)
		sz += (uint32_t)((4 + ino->xattrs[i].name_len + ino->xattrs[i].value_len + 3) &
				 ~(size_t)3);
	return sz;
}

static void xattr_write(const struct layer_inode *ino, uint8_t *p)
{
	memset(p, 0, XATTR_HEADER_SIZE); /* no name filter, no shared xattrs */
	p += XATTR_HEADER_SIZE;
	for (size_t i = 0; i < ino->n_xattrs; i++) {
		const struct layer_xattr *x = &ino->xattrs[i];
		p[0] = (uint8_t)x->name_len;
		p[1] = x->index;
		le_put16(p + 2, (uint16_t)x->value_len);
		memcpy(p + 4, x->name, x->name_len);
		memcpy(p + 4 + x->name_len, x->value, x->value_len);
		p += (4 + x->name_len + x->value_len + 3) & ~(size_t)3;
	}
}

static uint64_t record_size(const struct placed *p, bool with_content)
{
	return (p->extended ? INODE_EXTENDED_SIZE : INODE_COMPACT_SIZE) + p->xattr_size +
	       (with_content ? p->content_len : 0);
}

static int inode_prepare(struct writer *w, struct placed *p)
{
	struct layer_inode *ino = p->ino;
	if (S_ISDIR(ino->mode)) {
		int ret = dir_entries(p);
		if (ret)
			return ret;
		ino->size = dir_pack(p, NULL);
		p->has_content = true;
	} else if (ino->content && ino->size) {
		p->has_content = true;
	}
	p->content_len = p->has_content ? ino->size : 0;
	p->xattr_size = xattr_size(ino);
	p->extended = !(ino->mtime == w->build_time && ino->mtime_nsec == w->build_nsec &&
			ino->uid <= 0xffff && ino->gid <= 0xffff && ino->nlink <= 0xffff &&
			ino->size <= 0xffffffffu);
	p->inline_content = p->has_content && p->content_len < BLK &&
			    record_size(p, true) <= BLK;
	return 0;
}

static void inode_write(const struct writer *w, const struct placed *p, uint8_t *out,
			uint32_t ino_num)
{
	const struct layer_inode *ino = p->ino;
	uint32_t layout = p->inline_content ? LAYOUT_FLAT_INLINE : LAYOUT_FLAT_PLAIN;
	uint32_t iu = 0;
	if (S_ISCHR(ino->mode) || S_ISBLK(ino->mode))
		iu = ino->rdev;
	else if (ino->streamed)
		iu = (uint32_t)ino->data_blkaddr;
	else if (p->has_content && !p->inline_content)
		iu = (uint32_t)p->plain_blkaddr;
	else if (p->inline_content)
		iu = NULL_ADDR;
	uint16_t icount = p->xattr_size ? (uint16_t)(1 + (p->xattr_size - XATTR_HEADER_SIZE) / 4)
					: 0;
	(void)w;
	le_put16(out, (uint16_t)((p->extended ? 1 : 0) | (layout << 1)));
	le_put16(out + 2, icount);
	le_put16(out + 4, (uint16_t)ino->mode);
	le_put32(out + 16, iu);
	le_put32(out + 20, ino_num);
	if (p->extended) {
		le_put16(out + 6, 0);
		le_put64(out + 8, ino->size);
		le_put32(out + 24, ino->uid);
		le_put32(out + 28, ino->gid);
		le_put64(out + 32, (uint64_t)ino->mtime);
		le_put32(out + 40, ino->mtime_nsec);
		le_put32(out + 44, ino->nlink);
	} else {
		le_put16(out + 6, (uint16_t)ino->nlink);
		le_put32(out + 8, (uint32_t)ino->size);
		le_put16(out + 24, (uint16_t)ino->uid);
		le_put16(out + 26, (uint16_t)ino->gid);
	}
	uint8_t *x = out + (p->extended ? INODE_EXTENDED_SIZE : INODE_COMPACT_SIZE);
	if (p->xattr_size)
		xattr_write(ino, x);
	if (p->inline_content) {
		uint8_t *c = x + p->xattr_size;
		if (S_ISDIR(ino->mode))
			dir_pack(p, c);
		else
			memcpy(c, ino->content, p->content_len);
	}
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *b = buf;
	while (len) {
		ssize_t n = pwrite(fd, b, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		b += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static void superblock_write(const struct writer *w, uint8_t *blk0, uint64_t blocks)
{
	uint8_t *sb = blk0 + EROFS_SB_OFFSET;
	le_put32(sb + 0, EROFS_MAGIC);
	le_put32(sb + 8, EROFS_COMPAT_MTIME);
	sb[12] = 12; /* blkszbits: 4096 */
	sb[13] = 0;
	le_put16(sb + 14, EROFS_ROOT_OFFSET / EROFS_SLOT);
	le_put64(sb + 16, w->n);
	le_put64(sb + 24, (uint64_t)w->build_time);
	le_put32(sb + 32, w->build_nsec);
	le_put32(sb + 36, (uint32_t)blocks);
	le_put32(sb + 40, 0); /* meta_blkaddr */
	le_put32(sb + 44, 0); /* xattr_blkaddr: no shared xattrs */
	/* uuid, volume name, feature_incompat: zero */
}

int erofs_write(struct layer_fs *fs, uint64_t *data_size, struct errbuf *eb)
{
	struct writer w = { .fs = fs };
	uint8_t *meta = NULL, *blk = NULL;
	int ret = build_time_choose(&w);
	if (!ret)
		ret = order_inodes(&w);
	for (size_t i = 0; !ret && i < w.n; i++)
		ret = inode_prepare(&w, &w.list[i]);
	if (ret) {
		errbuf_set(eb, -ret, "building the erofs image: %s", strerror(-ret));
		goto out;
	}

	/* the root lives in block 0 after the superblock */
	struct placed *root = &w.list[0];
	if (EROFS_ROOT_OFFSET + record_size(root, false) > BLK) {
		ret = errbuf_set(eb, E2BIG, "the layer root has too many xattrs");
		goto out;
	}
	if (root->inline_content && EROFS_ROOT_OFFSET + record_size(root, true) > BLK)
		root->inline_content = false;
	root->offset = EROFS_ROOT_OFFSET;

	uint64_t meta_start = fs->next_block * BLK, pos = meta_start;
	for (size_t i = 1; i < w.n; i++) {
		struct placed *p = &w.list[i];
		uint64_t rec = record_size(p, p->inline_content);
		pos = (pos + EROFS_SLOT - 1) & ~(uint64_t)(EROFS_SLOT - 1);
		if (pos % BLK + rec > BLK && rec <= BLK)
			pos = (pos + BLK - 1) & ~(uint64_t)(BLK - 1);
		p->offset = pos;
		pos += rec;
	}
	uint64_t meta_end = (pos + BLK - 1) & ~(uint64_t)(BLK - 1);
	uint64_t next_blk = meta_end / BLK;
	for (size_t i = 0; i < w.n; i++) {
		struct placed *p = &w.list[i];
		p->ino->nid = p->offset / EROFS_SLOT;
		if (p->has_content && !p->inline_content) {
			p->plain_blkaddr = next_blk;
			next_blk += (p->content_len + BLK - 1) / BLK;
		}
	}
	if (next_blk > UINT32_MAX || w.n > UINT32_MAX - 1) {
		ret = errbuf_set(eb, EFBIG, "the layer image would exceed 2^32 blocks");
		goto out;
	}

	/* serialise: block 0, metadata, content blocks */
	size_t meta_len = (size_t)(meta_end - meta_start);
	meta = calloc(meta_len ? meta_len : 1, 1);
	blk = calloc(1, BLK);
	if (!meta || !blk) {
		ret = errbuf_set(eb, ENOMEM, "out of memory for %zu bytes of metadata", meta_len);
		goto out;
	}
	for (size_t i = 0; i < w.n; i++) {
		struct placed *p = &w.list[i];
		uint8_t *dst = i ? meta + (p->offset - meta_start) : blk + p->offset;
		inode_write(&w, p, dst, (uint32_t)(i + 1));
	}
	superblock_write(&w, blk, next_blk);
	if ((ret = pwrite_all(fs->fd, blk, BLK, 0)) ||
	    (ret = pwrite_all(fs->fd, meta, meta_len, meta_start))) {
		errbuf_set(eb, -ret, "writing the image: %s", strerror(-ret));
		goto out;
	}
	for (size_t i = 0; i < w.n; i++) {
		struct placed *p = &w.list[i];
		if (!p->has_content || p->inline_content)
			continue;
		size_t len = (size_t)((p->content_len + BLK - 1) & ~(uint64_t)(BLK - 1));
		uint8_t *c = calloc(1, len);
		if (!c) {
			ret = errbuf_set(eb, ENOMEM, "out of memory");
			goto out;
		}
		if (S_ISDIR(p->ino->mode))
			dir_pack(p, c);
		else
			memcpy(c, p->ino->content, p->content_len);
		ret = pwrite_all(fs->fd, c, len, p->plain_blkaddr * BLK);
		free(c);
		if (ret) {
			errbuf_set(eb, -ret, "writing the image: %s", strerror(-ret));
			goto out;
		}
	}
	if (ftruncate(fs->fd, (off_t)(next_blk * BLK))) {
		ret = errbuf_set(eb, errno, "sizing the image: %s", strerror(errno));
		goto out;
	}
	*data_size = next_blk * BLK;
out:
	for (size_t i = 0; i < w.n; i++)
		free(w.list[i].ents);
	free(w.list);
	free(meta);
	free(blk);
	return ret;
}
