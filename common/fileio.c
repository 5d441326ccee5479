#include "common/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = read(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int file_read_all(const char *path, size_t max_size, uint8_t **data, size_t *len,
		  struct errbuf *eb)
{
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	uint8_t *buf = NULL;
	size_t cap = 0, used = 0;
	int ret;

	if (fd < 0)
		return errbuf_set(eb, errno, "%s: %s", path, strerror(errno));

	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		ret = errbuf_set(eb, EISDIR, "%s: is a directory", path);
		goto out;
	}
	for (;;) {
		if (used == cap) {
			size_t ncap = cap ? cap * 2 : 65536;
			if (ncap > max_size + 1)
				ncap = max_size + 1;
			if (ncap <= used) {
				ret = errbuf_set(eb, EFBIG, "%s: file is larger than %zu bytes",
						 path, max_size);
				goto out;
			}
			uint8_t *nbuf = realloc(buf, ncap + 1);
			if (!nbuf) {
				ret = errbuf_set(eb, ENOMEM, "%s: out of memory", path);
				goto out;
			}
			buf = nbuf;
			cap = ncap;
		}
		ssize_t n = read(fd, buf + used, cap - used);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = errbuf_set(eb, errno, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used > max_size) {
			ret = errbuf_set(eb, EFBIG, "%s: file is larger than %zu bytes", path,
					 max_size);
			goto out;
		}
	}
	if (!buf && !(buf = malloc(1))) {
		ret = errbuf_set(eb, ENOMEM, "%s: out of memory", path);
		goto out;
	}
	buf[used] = '\0';
	*data = buf;
	*len = used;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	if (fd != STDIN_FILENO)
		close(fd);
	return ret;
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		      struct errbuf *eb)
{
	char tmp[PATH_MAX];
	int fd, ret;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return errbuf_set(eb, ENAMETOOLONG, "%s: path too long", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return errbuf_set(eb, errno, "%s: %s", tmp, strerror(errno));
	ret = write_full(fd, data, len);
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && rename(tmp, path) < 0)
		ret = -errno;
	if (ret < 0) {
		unlink(tmp);
		return errbuf_set(eb, -ret, "%s: %s", path, strerror(-ret));
	}
	return 0;
}

int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}
