/* Tar entries -> layer_fs tree. Every path is normalised and checked before use; nothing is
 * ever created on the host filesystem. OCI whiteouts become overlayfs whiteouts here. */
#include "policy/image/layer_fs.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define WH_PREFIX      ".wh."
#define WH_OPAQUE      ".wh..wh..opq"
#define WH_META_PREFIX ".wh..wh."
#define COPY_CHUNK     (1u << 20)
#define INLINE_BUDGET  (1ull << 30) /* small contents kept in memory before streaming them */
#define XATTR_MAX_TOTAL 65536u

/* ---- nodes and lookup ------------------------------------------------------------------ */

static uint64_t key_hash(uint64_t parent_id, const char *name, size_t len)
{
	uint64_t h = 1469598103934665603ull ^ parent_id;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)name[i]) * 1099511628211ull;
	return h;
}

static int table_grow(struct layer_fs *fs)
{
	size_t ncap = fs->table_cap ? fs->table_cap * 2 : 1024;
	struct layer_node **nt = calloc(ncap, sizeof(*nt));
	if (!nt)
		return -ENOMEM;
	for (size_t i = 0; i < fs->table_cap; i++) {
		struct layer_node *n = fs->table[i];
		if (!n)
			continue;
		size_t j = key_hash(n->parent->id, n->name, n->name_len) & (ncap - 1);
		while (nt[j])
			j = (j + 1) & (ncap - 1);
		nt[j] = n;
	}
	free(fs->table);
	fs->table = nt;
	fs->table_cap = ncap;
	return 0;
}

/* Entries of replaced directories stay in the table but are unreachable: their parent's id
 * changed, so the key no longer matches. */
static struct layer_node *node_lookup(struct layer_fs *fs, struct layer_node *dir,
				      const char *name, size_t len)
{
	if (!fs->table_cap)
		return NULL;
	size_t j = key_hash(dir->id, name, len) & (fs->table_cap - 1);
	for (struct layer_node *n; (n = fs->table[j]); j = (j + 1) & (fs->table_cap - 1)) {
		if (n->parent == dir && n->parent->id == dir->id && !n->removed &&
		    n->name_len == len && !memcmp(n->name, name, len))
			return n;
	}
	return NULL;
}

static struct layer_inode *inode_new(struct layer_fs *fs, uint32_t mode)
{
	if (fs->n_inodes == fs->cap_inodes) {
		size_t ncap = fs->cap_inodes ? fs->cap_inodes * 2 : 256;
		struct layer_inode **ni = realloc(fs->inodes, ncap * sizeof(*ni));
		if (!ni)
			return NULL;
		fs->inodes = ni;
		fs->cap_inodes = ncap;
	}
	struct layer_inode *ino = calloc(1, sizeof(*ino));
	if (!ino)
		return NULL;
	ino->mode = mode;
	fs->inodes[fs->n_inodes++] = ino;
	return ino;
}

static int child_append(struct layer_node *dir, struct layer_node *n)
{
	if (dir->n_children == dir->cap_children) {
		size_t ncap = dir->cap_children ? dir->cap_children * 2 : 8;
		struct layer_node **nc = realloc(dir->children, ncap * sizeof(*nc));
		if (!nc)
			return -ENOMEM;
		dir->children = nc;
		dir->cap_children = ncap;
	}
	dir->children[dir->n_children++] = n;
	return 0;
}

static struct layer_node *node_new(struct layer_fs *fs, struct layer_node *dir, const char *name,
				   size_t len, struct layer_inode *ino)
{
	if ((fs->table_used + 1) * 2 > fs->table_cap && table_grow(fs))
		return NULL;
	struct layer_node *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->name = malloc(len + 1);
	if (!n->name) {
		free(n);
		return NULL;
	}
	memcpy(n->name, name, len);
	n->name[len] = 0;
	n->name_len = len;
	n->parent = dir;
	n->inode = ino;
	n->id = ++fs->next_id;
	n->all_next = fs->all_nodes;
	fs->all_nodes = n;
	if (child_append(dir, n))
		return NULL; /* freed with all_nodes */
	size_t j = key_hash(dir->id, name, len) & (fs->table_cap - 1);
	while (fs->table[j])
		j = (j + 1) & (fs->table_cap - 1);
	fs->table[j] = n;
	fs->table_used++;
	return n;
}

int layer_fs_init(struct layer_fs *fs, int fd, uint64_t first_data_block, uint64_t max_unpacked)
{
	memset(fs, 0, sizeof(*fs));
	fs->fd = fd;
	fs->next_block = first_data_block;
	fs->max_unpacked = max_unpacked;
	fs->inline_budget = INLINE_BUDGET;
	fs->root = calloc(1, sizeof(*fs->root));
	if (!fs->root)
		return -ENOMEM;
	fs->root->name = calloc(1, 1);
	fs->root->parent = fs->root;
	fs->root->id = ++fs->next_id;
	fs->root->all_next = NULL;
	fs->all_nodes = fs->root;
	fs->root->inode = inode_new(fs, S_IFDIR | 0755);
	if (!fs->root->name || !fs->root->inode)
		return -ENOMEM;
	fs->root->inode->mtime = INT64_MIN; /* implicit until a "./" entry: the build time */
	return 0;
}

void layer_fs_release(struct layer_fs *fs)
{
	for (struct layer_node *n = fs->all_nodes, *next; n; n = next) {
		next = n->all_next;
		free(n->name);
		free(n->children);
		free(n);
	}
	for (size_t i = 0; i < fs->n_inodes; i++) {
		struct layer_inode *ino = fs->inodes[i];
		for (size_t x = 0; x < ino->n_xattrs; x++) {
			free(ino->xattrs[x].name);
			free(ino->xattrs[x].value);
		}
		free(ino->xattrs);
		free(ino->content);
		free(ino);
	}
	free(fs->inodes);
	free(fs->table);
	memset(fs, 0, sizeof(*fs));
}

/* ---- paths ----------------------------------------------------------------------------- */

/* Split a tar path into components in place. Rejects absolute paths, "..", over-long names. */
struct path_parts {
	char *comp[1024];
	size_t len[1024];
	size_t n;
};

static int path_split(char *path, struct path_parts *pp, struct errbuf *eb, const char *orig)
{
	pp->n = 0;
	if (path[0] == '/')
		return errbuf_set(eb, EINVAL, "%s: absolute path in a layer", orig);
	for (char *p = path; *p;) {
		char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return errbuf_set(eb, EINVAL, "%s: path leaves the layer root (\"..\")", orig);
		if (len > LAYER_FS_NAME_MAX)
			return errbuf_set(eb, ENAMETOOLONG, "%s: a name is longer than %u bytes",
					  orig, LAYER_FS_NAME_MAX);
		if (len && !(len == 1 && p[0] == '.')) {
			if (pp->n == sizeof(pp->comp) / sizeof(pp->comp[0]))
				return errbuf_set(eb, ENAMETOOLONG, "%s: path too deep", orig);
			pp->comp[pp->n] = p;
			pp->len[pp->n] = len;
			pp->n++;
		}
		if (!slash)
			break;
		*slash = 0;
		p = slash + 1;
	}
	return 0;
}

static bool is_dir(const struct layer_node *n)
{
	return S_ISDIR(n->inode->mode);
}

/* Walk to the directory holding the last component, creating missing directories. */
static int walk_parent(struct layer_fs *fs, const struct path_parts *pp, size_t upto,
		       struct layer_node **out, struct errbuf *eb, const char *orig)
{
	struct layer_node *dir = fs->root;
	for (size_t i = 0; i < upto; i++) {
		struct layer_node *n = node_lookup(fs, dir, pp->comp[i], pp->len[i]);
		if (!n) {
			struct layer_inode *ino = inode_new(fs, S_IFDIR | 0755);
			if (!ino || !(n = node_new(fs, dir, pp->comp[i], pp->len[i], ino)))
				return errbuf_set(eb, ENOMEM, "out of memory");
			ino->mtime = INT64_MIN; /* "implicit": the writer uses the build time */
			fs->entries++;
		} else if (S_ISLNK(n->inode->mode)) {
			return errbuf_set(eb, EINVAL, "%s: path goes through a symlink", orig);
		} else if (!is_dir(n)) {
			return errbuf_set(eb, ENOTDIR, "%s: path goes through a non-directory",
					  orig);
		}
		dir = n;
	}
	*out = dir;
	return 0;
}

/* ---- entry contents ---------------------------------------------------------------------- */

static const struct {
	const char *prefix;
	uint8_t index;
} xattr_prefixes[] = {
	{ "user.", 1 },
	{ "trusted.", 4 },
	{ "security.", 6 },
};

static int xattrs_read(struct archive_entry *e, struct layer_inode *ino, struct errbuf *eb,
		       const char *orig)
{
	const char *name;
	const void *value;
	size_t size, total = 0;
	int count = archive_entry_xattr_reset(e);
	if (count <= 0)
		return 0;
	ino->xattrs = calloc((size_t)count, sizeof(*ino->xattrs));
	if (!ino->xattrs)
		return errbuf_set(eb, ENOMEM, "out of memory");
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		uint8_t index = 0;
		size_t plen = 0;
		for (size_t i = 0; i < sizeof(xattr_prefixes) / sizeof(xattr_prefixes[0]); i++) {
			plen = strlen(xattr_prefixes[i].prefix);
			if (!strncmp(name, xattr_prefixes[i].prefix, plen)) {
				index = xattr_prefixes[i].index;
				break;
			}
		}
		if (!index)
			return errbuf_set(eb, ENOTSUP, "%s: xattr %s: unsupported namespace", orig,
					  name);
		if (!strncmp(name, "trusted.overlay.", 16))
			return errbuf_set(eb, EPERM,
					  "%s: xattr %s: overlayfs attributes are not allowed in a "
					  "layer", orig, name);
		size_t nlen = strlen(name + plen);
		if (!nlen || nlen > 255 || size > 65535)
			return errbuf_set(eb, EINVAL, "%s: xattr %s: name or value too long or "
					  "empty", orig, name);
		total += 4 + nlen + size;
		if (total > XATTR_MAX_TOTAL)
			return errbuf_set(eb, E2BIG, "%s: more than %u bytes of xattrs", orig,
					  XATTR_MAX_TOTAL);
		struct layer_xattr *x = &ino->xattrs[ino->n_xattrs];
		x->index = index;
		x->name = strdup(name + plen);
		x->value = malloc(size ? size : 1);
		if (!x->name || !x->value) {
			free(x->name);
			free(x->value);
			return errbuf_set(eb, ENOMEM, "out of memory");
		}
		memcpy(x->value, value, size);
		x->name_len = nlen;
		x->value_len = size;
		ino->n_xattrs++;
		if (ino->n_xattrs == (size_t)count)
			break;
	}
	return 0;
}

static int data_read(struct layer_fs *fs, struct archive *a, struct layer_inode *ino,
		     struct errbuf *eb, const char *orig)
{
	uint64_t size = ino->size;
	if (size > fs->max_unpacked - fs->unpacked)
		return errbuf_set(eb, EFBIG, "%s: layer unpacks to more than %llu bytes", orig,
				  (unsigned long long)fs->max_unpacked);
	fs->unpacked += size;
	if (size < LAYER_FS_BLOCK && size <= fs->inline_budget) {
		/* small: kept in memory, written inline next to the inode */
		fs->inline_budget -= size;
		ino->content = malloc(size ? size : 1);
		if (!ino->content)
			return errbuf_set(eb, ENOMEM, "out of memory");
		la_ssize_t n = size ? archive_read_data(a, ino->content, size) : 0;
		if (n < 0)
			return errbuf_set(eb, EBADMSG, "%s: %s", orig, archive_error_string(a));
		if ((uint64_t)n != size)
			return errbuf_set(eb, EBADMSG, "%s: archive truncated", orig);
		return 0;
	}
	uint64_t blocks = (size + LAYER_FS_BLOCK - 1) / LAYER_FS_BLOCK;
	if (fs->next_block + blocks > UINT32_MAX)
		return errbuf_set(eb, EFBIG, "%s: image would exceed 2^32 blocks", orig);
	ino->streamed = true;
	ino->data_blkaddr = fs->next_block;
	uint8_t *buf = malloc(COPY_CHUNK);
	if (!buf)
		return errbuf_set(eb, ENOMEM, "out of memory");
	uint64_t off = fs->next_block * LAYER_FS_BLOCK, done = 0;
	int ret = 0;
	while (done < size) {
		size_t want = size - done > COPY_CHUNK ? COPY_CHUNK : (size_t)(size - done);
		la_ssize_t n = archive_read_data(a, buf, want);
		if (n < 0) {
			ret = errbuf_set(eb, EBADMSG, "%s: %s", orig, archive_error_string(a));
			goto out;
		}
		if (n == 0) {
			ret = errbuf_set(eb, EBADMSG, "%s: archive truncated", orig);
			goto out;
		}
		size_t len = (size_t)n;
		for (size_t w = 0; w < len;) {
			ssize_t k = pwrite(fs->fd, buf + w, len - w, (off_t)(off + done + w));
			if (k <= 0) {
				if (k < 0 && errno == EINTR)
					continue;
				ret = errbuf_set(eb, k < 0 ? errno : EIO, "writing the image: %s",
						 strerror(k < 0 ? errno : EIO));
				goto out;
			}
			w += (size_t)k;
		}
		done += (size_t)n;
	}
	if (size % LAYER_FS_BLOCK) {
		/* zero-pad the last block (the file may be reused: do not rely on holes) */
		static const uint8_t zeros[LAYER_FS_BLOCK];
		size_t pad = LAYER_FS_BLOCK - (size_t)(size % LAYER_FS_BLOCK);
		if (pwrite(fs->fd, zeros, pad, (off_t)(off + size)) != (ssize_t)pad) {
			ret = errbuf_set(eb, errno ? errno : EIO, "writing the image: %s",
					 strerror(errno ? errno : EIO));
			goto out;
		}
	}
	fs->next_block += blocks;
out:
	free(buf);
	return ret;
}

/* ---- one entry --------------------------------------------------------------------------- */

static uint32_t rdev_encode(unsigned major, unsigned minor)
{
	return (minor & 0xffu) | (major << 8) | ((minor & ~0xffu) << 12);
}

static int opaque_set(struct layer_node *dir, struct errbuf *eb);

/* Put `ino` at dir/name, replacing what is there (tar semantics: the later entry wins; a
 * directory over a directory only updates metadata). */
static int node_place(struct layer_fs *fs, struct layer_node *dir, const char *name,
		      size_t len, struct layer_inode *ino, struct errbuf *eb)
{
	struct layer_node *old = node_lookup(fs, dir, name, len);
	if (old && is_dir(old) && S_ISDIR(ino->mode)) {
		struct layer_inode *o = old->inode;
		/* keep children and an opaque marker already set; take the new metadata */
		o->mode = ino->mode;
		o->uid = ino->uid;
		o->gid = ino->gid;
		o->mtime = ino->mtime;
		o->mtime_nsec = ino->mtime_nsec;
		bool was_opaque = false;
		for (size_t i = 0; i < o->n_xattrs; i++)
			if (o->xattrs[i].index == 4 && !strcmp(o->xattrs[i].name, "overlay.opaque"))
				was_opaque = true;
		/* swap: the unused new inode takes the old xattrs and is freed with the fs */
		struct layer_xattr *ox = o->xattrs;
		size_t on = o->n_xattrs;
		o->xattrs = ino->xattrs;
		o->n_xattrs = ino->n_xattrs;
		ino->xattrs = ox;
		ino->n_xattrs = on;
		return was_opaque ? opaque_set(old, eb) : 0;
	}
	if (old) {
		old->removed = true;
		if (!is_dir(old) && old->inode->nlink)
			old->inode->nlink--;
		for (size_t i = 0; i < dir->n_children; i++) {
			if (dir->children[i] == old) {
				dir->children[i] = dir->children[--dir->n_children];
				break;
			}
		}
	}
	if (!node_new(fs, dir, name, len, ino))
		return errbuf_set(eb, ENOMEM, "out of memory");
	if (!S_ISDIR(ino->mode))
		ino->nlink++;
	return 0;
}

static int opaque_set(struct layer_node *dir, struct errbuf *eb)
{
	struct layer_inode *ino = dir->inode;
	for (size_t i = 0; i < ino->n_xattrs; i++)
		if (ino->xattrs[i].index == 4 && !strcmp(ino->xattrs[i].name, "overlay.opaque"))
			return 0;
	struct layer_xattr *nx = realloc(ino->xattrs, (ino->n_xattrs + 1) * sizeof(*nx));
	if (!nx)
		return errbuf_set(eb, ENOMEM, "out of memory");
	ino->xattrs = nx;
	struct layer_xattr *x = &nx[ino->n_xattrs];
	x->index = 4;
	x->name = strdup("overlay.opaque");
	x->value = malloc(1);
	if (!x->name || !x->value) {
		free(x->name);
		free(x->value);
		return errbuf_set(eb, ENOMEM, "out of memory");
	}
	x->value[0] = 'y';
	x->name_len = strlen(x->name);
	x->value_len = 1;
	ino->n_xattrs++;
	return 0;
}

/* What every entry carries besides its path and content. */
struct entry_meta {
	const char *orig; /* the entry's path as the archive spells it (for messages) */
	uint32_t uid, gid;
	int64_t mtime;
	uint32_t mtime_nsec;
};

static void inode_set_meta(struct layer_inode *ino, const struct entry_meta *m)
{
	ino->uid = m->uid;
	ino->gid = m->gid;
	ino->mtime = m->mtime;
	ino->mtime_nsec = m->mtime_nsec;
}

/* "./": the root directory's own metadata. */
static int entry_set_root(struct layer_fs *fs, struct archive_entry *e,
			  const struct entry_meta *m, struct errbuf *eb)
{
	if (archive_entry_filetype(e) != AE_IFDIR || archive_entry_hardlink(e))
		return errbuf_set(eb, EINVAL, "%s: the layer root must be a directory", m->orig);
	struct layer_inode *r = fs->root->inode;
	r->mode = S_IFDIR | (archive_entry_perm(e) & 07777);
	inode_set_meta(r, m);
	/* a repeated "./" replaces the xattrs, but an opaque marker stays */
	bool opaque = false;
	for (size_t i = 0; i < r->n_xattrs; i++) {
		opaque |= r->xattrs[i].index == 4 && !strcmp(r->xattrs[i].name, "overlay.opaque");
		free(r->xattrs[i].name);
		free(r->xattrs[i].value);
	}
	free(r->xattrs);
	r->xattrs = NULL;
	r->n_xattrs = 0;
	int ret = xattrs_read(e, r, eb, m->orig);
	if (!ret && opaque)
		ret = opaque_set(fs->root, eb);
	return ret;
}

/* An OCI whiteout ".wh.NAME" (a 0/0 character device in the erofs image), ".wh..wh..opq"
 * (the directory is opaque), or aufs bookkeeping (".wh..wh.*", dropped). */
static int entry_add_whiteout(struct layer_fs *fs, struct layer_node *dir, const char *name,
			      size_t len, const struct entry_meta *m, struct errbuf *eb)
{
	if (len == strlen(WH_OPAQUE) && !memcmp(name, WH_OPAQUE, len))
		return opaque_set(dir, eb);
	if (len >= 8 && !memcmp(name, WH_META_PREFIX, 8))
		return 0;
	name += 4;
	len -= 4;
	if (!len || (len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return errbuf_set(eb, EINVAL, "%s: malformed whiteout", m->orig);
	struct layer_inode *ino = inode_new(fs, S_IFCHR);
	if (!ino)
		return errbuf_set(eb, ENOMEM, "out of memory");
	inode_set_meta(ino, m);
	ino->rdev = 0;
	return node_place(fs, dir, name, len, ino, eb);
}

/* A hard link: another name for an inode earlier in the layer (never a directory). */
static int entry_add_hardlink(struct layer_fs *fs, struct layer_node *dir, const char *name,
			      size_t len, const char *hardlink, const struct entry_meta *m,
			      struct errbuf *eb)
{
	char *t = strdup(hardlink);
	struct path_parts tp_buf;
	struct path_parts *tp = &tp_buf;
	struct layer_node *target = NULL;
	if (!t)
		return errbuf_set(eb, ENOMEM, "out of memory");
	int ret = path_split(t, tp, eb, m->orig);
	if (!ret && tp->n == 0)
		ret = errbuf_set(eb, EINVAL, "%s: hardlink to the layer root", m->orig);
	if (!ret) {
		/* the target must already exist: never create directories for it */
		target = fs->root;
		for (size_t i = 0; i < tp->n && target; i++)
			target = is_dir(target) ? node_lookup(fs, target, tp->comp[i], tp->len[i])
						: NULL;
		if (!target)
			ret = errbuf_set(eb, ENOENT, "%s: hardlink target %s is not earlier in the "
					 "layer", m->orig, hardlink);
		else if (is_dir(target))
			ret = errbuf_set(eb, EPERM, "%s: hardlink to a directory", m->orig);
	}
	free(t);
	if (ret)
		return ret;
	if (target->inode->nlink >= UINT32_MAX - 1)
		return errbuf_set(eb, EMLINK, "%s: too many links", m->orig);
	if (node_lookup(fs, dir, name, len) == target)
		return 0; /* link to itself: nothing to do */
	return node_place(fs, dir, name, len, target->inode, eb);
}

/* libarchive's entry types and the inode types they become. */
static const struct {
	mode_t archive_type;
	uint32_t mode;
} entry_types[] = {
	{ AE_IFREG, S_IFREG }, { AE_IFDIR, S_IFDIR }, { AE_IFLNK, S_IFLNK }, { AE_IFCHR, S_IFCHR },
	{ AE_IFBLK, S_IFBLK }, { AE_IFIFO, S_IFIFO }, { AE_IFSOCK, S_IFSOCK },
};

/* What a new inode holds: a device number, a symlink target, or a regular file's data. */
static int inode_read_content(struct layer_fs *fs, struct archive *a, struct archive_entry *e,
			      struct layer_inode *ino, const char *orig, struct errbuf *eb)
{
	if (S_ISCHR(ino->mode) || S_ISBLK(ino->mode)) {
		ino->rdev = rdev_encode((unsigned)archive_entry_rdevmajor(e),
					(unsigned)archive_entry_rdevminor(e));
	} else if (S_ISLNK(ino->mode)) {
		const char *target = archive_entry_symlink(e);
		if (!target)
			target = archive_entry_symlink_utf8(e);
		size_t tl = target ? strlen(target) : 0;
		if (!tl || tl >= LAYER_FS_BLOCK)
			return errbuf_set(eb, EINVAL, "%s: symlink target empty or over %u bytes",
					  orig, LAYER_FS_BLOCK - 1);
		ino->size = tl;
		ino->content = malloc(tl);
		if (!ino->content)
			return errbuf_set(eb, ENOMEM, "out of memory");
		memcpy(ino->content, target, tl);
	} else if (S_ISREG(ino->mode)) {
		int64_t size = archive_entry_size(e);
		if (size < 0)
			return errbuf_set(eb, EINVAL, "%s: negative size", orig);
		ino->size = (uint64_t)size;
		return data_read(fs, a, ino, eb, orig);
	}
	return 0;
}

/* Any other entry: a new inode with its metadata, xattrs and content. */
static int entry_add_inode(struct layer_fs *fs, struct archive *a, struct archive_entry *e,
			   struct layer_node *dir, const char *name, size_t len,
			   const struct entry_meta *m, struct errbuf *eb)
{
	mode_t type = archive_entry_filetype(e);
	size_t t = 0;
	while (t < sizeof(entry_types) / sizeof(entry_types[0]) &&
	       entry_types[t].archive_type != type)
		t++;
	if (t == sizeof(entry_types) / sizeof(entry_types[0]))
		return errbuf_set(eb, EINVAL, "%s: unsupported entry type", m->orig);
	struct layer_inode *ino = inode_new(fs, entry_types[t].mode |
						(archive_entry_perm(e) & 07777));
	if (!ino)
		return errbuf_set(eb, ENOMEM, "out of memory");
	inode_set_meta(ino, m);
	int ret = xattrs_read(e, ino, eb, m->orig);
	if (!ret)
		ret = inode_read_content(fs, a, e, ino, m->orig, eb);
	if (!ret)
		ret = node_place(fs, dir, name, len, ino, eb);
	return ret;
}

/* One tar entry into the tree: checks its path and ids, then adds it by kind. */
static int entry_add(struct layer_fs *fs, struct archive *a, struct archive_entry *e,
		     struct errbuf *eb)
{
	struct path_parts pp_buf;
	struct path_parts *pp = &pp_buf;
	const char *p = archive_entry_pathname(e);
	if (!p)
		p = archive_entry_pathname_utf8(e);
	if (!p || !*p)
		return errbuf_set(eb, EINVAL, "entry %llu: no usable path name",
				  (unsigned long long)fs->entries);
	char *orig = strdup(p), *path = strdup(p);
	int ret;
	if (!orig || !path) {
		ret = errbuf_set(eb, ENOMEM, "out of memory");
		goto out;
	}
	if (++fs->entries > LAYER_FS_MAX_ENTRIES) {
		ret = errbuf_set(eb, E2BIG, "%s: more than %u entries in one layer", orig,
				 LAYER_FS_MAX_ENTRIES);
		goto out;
	}
	if ((ret = path_split(path, pp, eb, orig)))
		goto out;
	int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
	if (uid < 0 || uid > UINT32_MAX || gid < 0 || gid > UINT32_MAX) {
		ret = errbuf_set(eb, ERANGE, "%s: uid or gid out of range", orig);
		goto out;
	}
	const struct entry_meta m = {
		.orig = orig, .uid = (uint32_t)uid, .gid = (uint32_t)gid,
		.mtime = archive_entry_mtime(e),
		.mtime_nsec = (uint32_t)archive_entry_mtime_nsec(e),
	};
	if (pp->n == 0) {
		ret = entry_set_root(fs, e, &m, eb);
		goto out;
	}
	struct layer_node *dir = NULL;
	if ((ret = walk_parent(fs, pp, pp->n - 1, &dir, eb, orig)))
		goto out;
	const char *name = pp->comp[pp->n - 1];
	size_t len = pp->len[pp->n - 1];
	const char *hardlink = archive_entry_hardlink(e);
	if (len >= 4 && !memcmp(name, WH_PREFIX, 4))
		ret = entry_add_whiteout(fs, dir, name, len, &m, eb);
	else if (hardlink)
		ret = entry_add_hardlink(fs, dir, name, len, hardlink, &m, eb);
	else
		ret = entry_add_inode(fs, a, e, dir, name, len, &m, eb);
out:
	free(orig);
	free(path);
	return ret;
}

int layer_fs_read_tar(struct layer_fs *fs, struct archive *a, struct errbuf *eb)
{
	struct archive_entry *e;
	for (;;) {
		int r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r == ARCHIVE_WARN)
			r = ARCHIVE_OK; /* e.g. unknown pax keys: the entry itself is usable */
		if (r != ARCHIVE_OK)
			return errbuf_set(eb, EBADMSG, "after %llu entries: %s",
					  (unsigned long long)fs->entries,
					  archive_error_string(a) ? archive_error_string(a)
								  : "corrupt archive");
		int ret = entry_add(fs, a, e, eb);
		if (ret)
			return ret;
	}
}
