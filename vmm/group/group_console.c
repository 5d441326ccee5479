/* group_console: the guest console drained into a rotating log (see group_console.h). */
#include "vmm/group/group_console.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/group/group_log.h"

struct group_console {
	int read_fd, write_fd;
	struct group_log *log;
	pthread_t thread;
	int write_errno; /* the first failed write to the log (the drain goes on, discarding) */
	atomic_bool finishing; /* then a quiet pipe ends the drain even if a writer lingers */
};

static void *drain(void *arg)
{
	struct group_console *c = arg;
	uint8_t buf[16384];
	for (;;) {
		struct pollfd p = { .fd = c->read_fd, .events = POLLIN };
		int ready = poll(&p, 1, 200);
		if (ready == 0 && atomic_load(&c->finishing))
			break;
		if (ready <= 0)
			continue;
		ssize_t n = read(c->read_fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		/* Keep reading even if the disk fails: a full pipe would stall the guest. */
		int ret = group_log_write(c->log, buf, (size_t)n);
		if (ret < 0 && !c->write_errno)
			c->write_errno = -ret;
	}
	return NULL;
}

int group_console_start(const char *path, uint64_t max_bytes, int *write_fd,
			struct group_console **out, struct errbuf *eb)
{
	int p[2], ret;
	struct group_console *c = calloc(1, sizeof(*c));
	if (!c)
		return errbuf_set(eb, ENOMEM, "out of memory");
	if (pipe2(p, O_CLOEXEC) < 0) {
		ret = errbuf_set(eb, errno, "console pipe: %s", strerror(errno));
		free(c);
		return ret;
	}
	c->read_fd = p[0];
	c->write_fd = p[1];
	if ((ret = group_log_open(path, max_bytes, &c->log, eb)) < 0)
		goto fail;
	if ((ret = -pthread_create(&c->thread, NULL, drain, c)) < 0) {
		errbuf_set(eb, -ret, "console drain thread: %s", strerror(-ret));
		group_log_close(c->log);
		goto fail;
	}
	*write_fd = c->write_fd;
	*out = c;
	return 0;
fail:
	close(p[0]);
	close(p[1]);
	free(c);
	return ret;
}

void group_console_release_writer(struct group_console *c)
{
	if (c && c->write_fd >= 0) {
		close(c->write_fd);
		c->write_fd = -1;
	}
}

void group_console_finish(struct group_console *c)
{
	if (!c)
		return;
	group_console_release_writer(c);
	atomic_store(&c->finishing, true);
	pthread_join(c->thread, NULL);
	close(c->read_fd);
	group_log_close(c->log);
	free(c);
}

#define INIT_DEATH "Attempted to kill init! exitcode=0x"
#define CONSOLE_TAIL 65536

int group_console_init_death(const char *path)
{
	char buf[CONSOLE_TAIL + 1];
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	off_t from = fstat(fd, &st) == 0 && st.st_size > CONSOLE_TAIL ? st.st_size - CONSOLE_TAIL : 0;
	ssize_t n = pread(fd, buf, CONSOLE_TAIL, from);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	for (ssize_t i = 0; i < n; i++) /* the guest's bytes: stop at none of them */
		if (!buf[i])
			buf[i] = ' ';
	const char *hit = NULL;
	for (const char *p = buf; (p = strstr(p, INIT_DEATH)); p++)
		hit = p; /* the last one */
	unsigned status;
	if (!hit || sscanf(hit + strlen(INIT_DEATH), "%8x", &status) != 1 || status > 0xffff)
		return -1;
	return (int)status;
}
