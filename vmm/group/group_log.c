/* group_log: rotation of container logs (see group_log.h). */
#include "vmm/group/group_log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"

#define GROUP_LOG_MIN_BYTES 4096u

struct group_log {
	int fd;
	uint64_t size, max;
	char path[PATH_MAX], old[PATH_MAX];
};

static uint64_t configured_max(void)
{
	const char *env = getenv("PARMA_LOG_MAX_BYTES");
	char *end;
	if (env && *env) {
		unsigned long long v = strtoull(env, &end, 10);
		if (!*end && v >= GROUP_LOG_MIN_BYTES)
			return v;
	}
	return GROUP_LOG_MAX_BYTES;
}

static int reopen(struct group_log *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = open(l->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	l->size = 0;
	return l->fd < 0 ? -errno : 0;
}

int group_log_open(const char *path, uint64_t max_bytes, struct group_log **out,
		   struct errbuf *eb)
{
	struct group_log *l = calloc(1, sizeof(*l));
	if (!l)
		return errbuf_set(eb, ENOMEM, "out of memory");
	l->fd = -1;
	l->max = max_bytes ? max_bytes : configured_max();
	if (snprintf(l->path, sizeof(l->path), "%s", path) >= (int)sizeof(l->path) ||
	    snprintf(l->old, sizeof(l->old), "%s.1", path) >= (int)sizeof(l->old)) {
		free(l);
		return errbuf_set(eb, ENAMETOOLONG, "%s: path too long", path);
	}
	unlink(l->old); /* an earlier run's rotated output is not this run's */
	int ret = reopen(l);
	if (ret < 0) {
		free(l);
		return errbuf_set(eb, -ret, "%s: %s", path, strerror(-ret));
	}
	*out = l;
	return 0;
}

int group_log_write(struct group_log *l, const uint8_t *data, size_t len)
{
	if (!l || l->fd < 0)
		return -EBADF;
	if (len > l->max) { /* only the tail fits anyway */
		data += len - l->max;
		len = (size_t)l->max;
	}
	if (l->size + len > l->max) {
		if (rename(l->path, l->old) < 0)
			return -errno;
		int ret = reopen(l);
		if (ret < 0)
			return ret;
	}
	int ret = write_full(l->fd, data, len);
	if (ret == 0)
		l->size += len;
	return ret;
}

void group_log_close(struct group_log *l)
{
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	free(l);
}
