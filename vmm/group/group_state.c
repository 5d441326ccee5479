#include "vmm/group/group_state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"

int group_state_root(char *out, size_t size, struct errbuf *eb)
{
	const char *env = getenv("PARMA_STATE_DIR"), *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (env && *env)
		n = snprintf(out, size, "%s", env);
	else if (geteuid() == 0)
		n = snprintf(out, size, "/run/parma");
	else if (xdg && *xdg)
		n = snprintf(out, size, "%s/parma", xdg);
	else
		n = snprintf(out, size, "/tmp/parma-%u", (unsigned)geteuid());
	if (n < 0 || (size_t)n >= size)
		return errbuf_set(eb, ENAMETOOLONG, "state directory path is too long");
	return 0;
}

static int name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 63 || name[0] == '-' || name[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '-'))
			return 0;
	return 1;
}

int group_paths_get(const char *name, struct group_paths *p, struct errbuf *eb)
{
	char root[GROUP_PATH_MAX - 64];
	int ret;

	if (!name_ok(name))
		return errbuf_set(eb, EINVAL,
				  "'%s' is not a group name (1-63 of a-z, 0-9 and '-', not at the ends)",
				  name);
	if ((ret = group_state_root(root, sizeof(root), eb)) < 0)
		return ret;
	memset(p, 0, sizeof(*p));
	p->lock_fd = -1;
	snprintf(p->dir, sizeof(p->dir), "%s/%s", root, name);
	struct {
		char *dst;
		const char *leaf;
	} files[] = {
		{ p->pid, "pid" },	      { p->info, "group.json" },
		{ p->relay_sock, "agent.sock" }, { p->policy, "policy.json" },
		{ p->api_sock, "api.sock" },
		{ p->requests, "requests.json" }, { p->decisions, "decisions.json" },
		{ p->certs, "certs" },
		{ p->logs, "logs" },	      { p->console, "console.log" },
		{ p->vm, "vm" },	      { p->lock, "lock" },
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (snprintf(files[i].dst, GROUP_PATH_MAX, "%s/%s", p->dir, files[i].leaf) >=
		    GROUP_PATH_MAX)
			return errbuf_set(eb, ENAMETOOLONG, "%s: state path too long", p->dir);
	return 0;
}

pid_t group_owner_pid(const struct group_paths *p)
{
	uint8_t *data;
	size_t len;
	if (file_read_all(p->pid, 64, &data, &len, NULL) < 0)
		return 0;
	char *end;
	long pid = strtol((char *)data, &end, 10);
	int bad = end == (char *)data || pid <= 1 || pid > 0x7fffffff;
	free(data);
	if (bad)
		return 0;
	/* A pid file outliving its process (crash, reboot) must not block a new run. */
	if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
		return 0;
	char exe[64], target[4096];
	snprintf(exe, sizeof(exe), "/proc/%ld/exe", pid);
	ssize_t n = readlink(exe, target, sizeof(target) - 1);
	if (n > 0) {
		target[n] = '\0';
		const char *base = strrchr(target, '/');
		if (base && strncmp(base + 1, "parma", 5) != 0)
			return 0; /* the pid was reused by something else */
	}
	return (pid_t)pid;
}

static void remove_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	if (!d) {
		unlink(path);
		return;
	}
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char child[GROUP_PATH_MAX * 2];
		snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
		struct stat st;
		if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
			remove_tree(child);
		else
			unlink(child);
	}
	closedir(d);
	rmdir(path);
}

int group_state_claim(struct group_paths *p, struct errbuf *eb)
{
	int ret;
	if ((ret = mkdir_p(p->dir, 0700)) < 0)
		return errbuf_set(eb, -ret, "%s: %s", p->dir, strerror(-ret));
	/* The lock, not the pid file, decides: two runs starting at once cannot both pass. */
	int fd = open(p->lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return errbuf_set(eb, errno, "%s: %s", p->lock, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		close(fd);
		pid_t owner = group_owner_pid(p);
		if (e != EWOULDBLOCK)
			return errbuf_set(eb, e, "%s: %s", p->lock, strerror(e));
		if (owner)
			return errbuf_set(eb, EBUSY, "group is already running (parma run pid %d; "
					  "state in %s)", (int)owner, p->dir);
		return errbuf_set(eb, EBUSY, "group is already being started by another parma "
				  "run (state in %s)", p->dir);
	}
	p->lock_fd = fd;
	remove_tree(p->vm); /* a crashed run's sockets must not be mistaken for new ones */
	const char *dirs[] = { p->logs, p->certs, p->vm };
	for (size_t i = 0; i < 3; i++)
		if ((ret = mkdir_p(dirs[i], 0700)) < 0) {
			group_state_release(p);
			return errbuf_set(eb, -ret, "%s: %s", dirs[i], strerror(-ret));
		}
	unlink(p->relay_sock);
	unlink(p->api_sock);
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	return file_write_atomic(p->pid, pid, (size_t)n, 0600, eb);
}

void group_state_release(struct group_paths *p)
{
	if (p->lock_fd < 0)
		return; /* not ours: another run's files stay */
	unlink(p->relay_sock);
	unlink(p->api_sock);
	unlink(p->pid);
	remove_tree(p->vm);
	close(p->lock_fd);
	p->lock_fd = -1;
}

int group_find_running(const char *name, struct group_paths *p, struct errbuf *eb)
{
	int ret = group_paths_get(name, p, eb);
	if (ret < 0)
		return ret;
	if (!group_owner_pid(p))
		return errbuf_set(eb, ESRCH, "group '%s' is not running (no parma run owns %s)", name,
				  p->dir);
	return 0;
}
