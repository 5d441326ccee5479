/* tree: remove a directory tree that a container wrote (its writable layer, its scratch).
 *
 * The tree's contents are not trusted: it may hold symlinks to anywhere, very deep nesting, and,
 * while another container that shares the scratch file system is running, change under us.
 * So the walk never resolves a path inside the tree: every step opens one name relative to the
 * directory above it with O_NOFOLLOW (a symlink is removed as a name, never followed), stays on
 * the tree's file system (a mount point inside it is left alone) and stops at a fixed depth. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/storage/storage.h"

/* Remove `name` in the directory parent (on device dev); the first error wins. */
static int remove_at(int parent, const char *name, dev_t dev, unsigned depth)
{
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno != ENOTDIR && errno != ELOOP)
			return -errno;
		/* not a directory (a symlink is ELOOP): remove the name itself */
		return unlinkat(parent, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	}
	struct stat st;
	int bad = fstat(fd, &st) < 0	      ? -errno
		  : st.st_dev != dev	      ? -EXDEV
		  : depth >= STORAGE_TREE_DEPTH_MAX ? -ELOOP
						    : 0;
	if (bad) {
		close(fd);
		return bad;
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		int ret = -errno;
		close(fd);
		return ret;
	}
	int ret = 0;
	/* entries removed while reading may hide others: read again until a pass removes nothing */
	for (int removed = 1; removed && ret == 0;) {
		removed = 0;
		rewinddir(d);
		struct dirent *e;
		while ((e = readdir(d)) && ret == 0) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			ret = remove_at(dirfd(d), e->d_name, dev, depth + 1);
			removed = 1;
		}
	}
	closedir(d);
	if (ret == 0 && unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		ret = -errno;
	return ret;
}

int storage_remove_tree(const char *path, struct errbuf *eb)
{
	char parent[STORAGE_PATH_MAX + 1];
	const char *slash = strrchr(path, '/');
	if (path[0] != '/' || !slash || !slash[1] || strlen(path) > STORAGE_PATH_MAX ||
	    strstr(path, "/../") || !strcmp(slash, "/..") || !strcmp(slash, "/."))
		return errbuf_set(eb, EINVAL, "%s: expected an absolute path without \"..\"", path);
	snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path), path);
	int pfd = open(parent[0] ? parent : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return errno == ENOENT ? 0 : errbuf_set(eb, errno, "%s: %s", parent, strerror(errno));
	struct stat st;
	int ret = fstat(pfd, &st) < 0 ? -errno : remove_at(pfd, slash + 1, st.st_dev, 0);
	close(pfd);
	if (ret < 0)
		return errbuf_set(eb, -ret, "%s: cannot remove: %s", path,
				  ret == -EXDEV ? "a file system is mounted inside it"
				  : ret == -ELOOP ? "nested too deeply"
						  : strerror(-ret));
	return 0;
}
