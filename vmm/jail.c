/* jail: namespaces, a minimal root, a cgroup and no privileges for the VMM (see jail.h). */
#include "vmm/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fileio.h"
#include "vmm/seccomp_filter.h"

#define CGROUP_ROOT "/sys/fs/cgroup"
#define CGROUP2_MAGIC 0x63677270
#define OLD_ROOT "/.old-root"

static int add(const char **list, size_t *n, const char *path)
{
	if (*n == JAIL_MAX_PATHS)
		return -E2BIG;
	list[(*n)++] = path;
	return 0;
}

int jail_add_ro_file(struct jail_config *c, const char *path)
{
	return add(c->ro_files, &c->n_ro_files, path);
}

int jail_add_rw_file(struct jail_config *c, const char *path)
{
	return add(c->rw_files, &c->n_rw_files, path);
}

int jail_add_dir_of(struct jail_config *c, const char *path)
{
	char abs[PATH_MAX];
	if (!realpath(".", abs))
		return -errno;
	char d[512];
	int n = path[0] == '/' ? snprintf(d, sizeof(d), "%s", path)
			       : snprintf(d, sizeof(d), "%s/%s", abs, path);
	if (n < 0 || (size_t)n >= sizeof(d))
		return -ENAMETOOLONG;
	char *slash = strrchr(d, '/');
	if (slash == d)
		slash[1] = '\0';
	else
		*slash = '\0';
	for (size_t i = 0; i < c->n_rw_dirs; i++)
		if (!strcmp(c->rw_dirs[i], d))
			return 0;
	if (c->n_rw_dirs == JAIL_MAX_PATHS)
		return -E2BIG;
	memcpy(c->rw_dirs[c->n_rw_dirs++], d, sizeof(d));
	return 0;
}

/* ---- cgroup v2 ---- */

static int write_str(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int ret = write_full(fd, text, strlen(text));
	close(fd);
	return ret;
}

/* Returns 1 if limits were applied, 0 if the host has no usable cgroup v2, -errno on error. */
static int cgroup_join(const struct jail_config *c, char *group, size_t size, struct errbuf *eb)
{
	struct statfs fs;
	char path[PATH_MAX], ctl[PATH_MAX], v[64];
	if (statfs(CGROUP_ROOT, &fs) || fs.f_type != CGROUP2_MAGIC)
		return 0;
	/* parma/ enables the controllers for its children; each VMM gets a leaf of its own. */
	snprintf(path, sizeof(path), CGROUP_ROOT "/parma");
	if (mkdir(path, 0755) && errno != EEXIST)
		return errbuf_set(eb, errno, "%s: %s", path, strerror(errno));
	if (write_str(CGROUP_ROOT "/cgroup.subtree_control", "+memory +cpu +pids") < 0 ||
	    write_str(CGROUP_ROOT "/parma/cgroup.subtree_control", "+memory +cpu +pids") < 0)
		return errbuf_set(eb, EOPNOTSUPP, CGROUP_ROOT ": cannot enable the memory, cpu and "
				  "pids controllers for " CGROUP_ROOT "/parma");
	snprintf(group, size, CGROUP_ROOT "/parma/vmm-%d", (int)getpid());
	if (mkdir(group, 0755) && errno != EEXIST)
		return errbuf_set(eb, errno, "%s: %s", group, strerror(errno));
	struct { const char *file; uint64_t value; } limits[] = {
		{ "memory.max", c->mem_max }, { "pids.max", c->pids_max },
	};
	for (size_t i = 0; i < 2; i++) {
		if (!limits[i].value)
			continue;
		snprintf(ctl, sizeof(ctl), "%s/%s", group, limits[i].file);
		snprintf(v, sizeof(v), "%llu", (unsigned long long)limits[i].value);
		if (write_str(ctl, v) < 0)
			return errbuf_set(eb, errno, "%s: cannot set %s", ctl, v);
	}
	if (c->cpus) {
		snprintf(ctl, sizeof(ctl), "%s/cpu.max", group);
		snprintf(v, sizeof(v), "%u 100000", c->cpus * 100000u);
		if (write_str(ctl, v) < 0)
			return errbuf_set(eb, errno, "%s: cannot set %s", ctl, v);
	}
	snprintf(ctl, sizeof(ctl), "%s/cgroup.procs", group);
	if (write_str(ctl, "0") < 0)
		return errbuf_set(eb, errno, "%s: cannot join", ctl);
	return 1;
}

/* ---- the new root ---- */

/* mkdir -p of path's directories under root, then an empty file or directory at the end. */
static int make_target(const char *root, const char *path, int is_dir, char *out, size_t size)
{
	if (snprintf(out, size, "%s%s", root, path) >= (int)size)
		return -ENAMETOOLONG;
	char *slash = strrchr(out, '/');
	*slash = '\0';
	int ret = mkdir_p(out, 0755);
	*slash = '/';
	if (ret < 0)
		return ret;
	if (is_dir)
		return mkdir(out, 0755) && errno != EEXIST ? -errno : 0;
	int fd = open(out, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static int bind(const char *root, const char *src, int is_dir, int read_only, struct errbuf *eb)
{
	char dst[PATH_MAX], abs[PATH_MAX];
	/* a relative path lands where it will be found: the jail's cwd is the same path */
	if (src[0] != '/') {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd)) ||
		    snprintf(abs, sizeof(abs), "%s/%s", cwd, src) >= (int)sizeof(abs))
			return errbuf_set(eb, ENAMETOOLONG, "jail: %s: path too long", src);
		src = abs;
	}
	int ret = make_target(root, src, is_dir, dst, sizeof(dst));
	if (ret < 0)
		return errbuf_set(eb, -ret, "jail: %s: %s", dst, strerror(-ret));
	if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
		return errbuf_set(eb, errno, "jail: bind %s: %s", src, strerror(errno));
	if (read_only &&
	    mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		return errbuf_set(eb, errno, "jail: %s read-only: %s", src, strerror(errno));
	return 0;
}

static int build_root(const struct jail_config *c, struct errbuf *eb)
{
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)))
		return errbuf_set(eb, errno, "jail: getcwd: %s", strerror(errno));
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return errbuf_set(eb, errno, "jail: making mounts private: %s", strerror(errno));
	int ret = mkdir_p(c->dir, 0700);
	if (ret < 0)
		return errbuf_set(eb, -ret, "jail: %s: %s", c->dir, strerror(-ret));
	/* a fresh tmpfs: nothing of what DIR held before is visible */
	if (mount("parma-jail", c->dir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") < 0)
		return errbuf_set(eb, errno, "jail: tmpfs on %s: %s", c->dir, strerror(errno));
	if (bind(c->dir, "/dev/kvm", 0, 0, eb) < 0)
		return -EPERM;
	for (size_t i = 0; i < c->n_ro_files; i++)
		if (bind(c->dir, c->ro_files[i], 0, 1, eb) < 0)
			return -EPERM;
	for (size_t i = 0; i < c->n_rw_files; i++) {
		/* writable drives and the console file: the jailed uid writes them */
		int fd = open(c->rw_files[i], O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0 || fchown(fd, c->uid, c->gid) < 0) {
			ret = errno;
			if (fd >= 0)
				close(fd);
			return errbuf_set(eb, ret, "jail: %s: %s", c->rw_files[i], strerror(ret));
		}
		close(fd);
		if (bind(c->dir, c->rw_files[i], 0, 0, eb) < 0)
			return -EPERM;
	}
	for (size_t i = 0; i < c->n_rw_dirs; i++) {
		if (chown(c->rw_dirs[i], c->uid, c->gid) < 0)
			return errbuf_set(eb, errno, "jail: chown %s: %s", c->rw_dirs[i],
					  strerror(errno));
		if (bind(c->dir, c->rw_dirs[i], 1, 0, eb) < 0)
			return -EPERM;
	}
	/* Sanitizer (test) builds only: LeakSanitizer's exit check lists /proc/1/task. The PID
	 * namespace's own proc shows nothing but the jail's processes; release builds have none. */
	if (seccomp_filter_sanitized()) {
		char proc[PATH_MAX];
		if (make_target(c->dir, "/proc", 1, proc, sizeof(proc)) < 0 ||
		    mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			return errbuf_set(eb, errno, "jail: proc for the sanitizers: %s", strerror(errno));
	}
	char old[PATH_MAX];
	snprintf(old, sizeof(old), "%s" OLD_ROOT, c->dir);
	if (mkdir(old, 0700) < 0 || chdir(c->dir) < 0 ||
	    syscall(SYS_pivot_root, ".", "." OLD_ROOT) < 0 || chdir("/") < 0 ||
	    umount2(OLD_ROOT, MNT_DETACH) < 0 || rmdir(OLD_ROOT) < 0)
		return errbuf_set(eb, errno, "jail: pivot_root into %s: %s", c->dir, strerror(errno));
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		return errbuf_set(eb, errno, "jail: read-only root: %s", strerror(errno));
	if (chdir(cwd) < 0 && chdir("/") < 0) /* where relative paths were bound, if anything is */
		return errbuf_set(eb, errno, "jail: chdir: %s", strerror(errno));
	return 0;
}

/* ---- privileges ---- */

static int drop_privileges(const struct jail_config *c, struct errbuf *eb)
{
	for (cap_value_t cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (cap_drop_bound(cap) < 0 && errno != EINVAL)
			return errbuf_set(eb, errno, "jail: dropping capability %d from the bounding "
					  "set: %s", cap, strerror(errno));
	if (cap_reset_ambient() < 0 && errno != EINVAL)
		return errbuf_set(eb, errno, "jail: ambient capabilities: %s", strerror(errno));
	if (setgroups(0, NULL) < 0 || setresgid(c->gid, c->gid, c->gid) < 0 ||
	    setresuid(c->uid, c->uid, c->uid) < 0)
		return errbuf_set(eb, errno, "jail: becoming %u:%u: %s", (unsigned)c->uid,
				  (unsigned)c->gid, strerror(errno));
	cap_t none = cap_init();
	int rc = none ? cap_set_proc(none) : -1;
	cap_free(none);
	if (rc < 0)
		return errbuf_set(eb, errno, "jail: clearing capabilities: %s", strerror(errno));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return errbuf_set(eb, errno, "jail: no_new_privs: %s", strerror(errno));
	if (access("/dev/kvm", R_OK | W_OK) < 0)
		return errbuf_set(eb, EACCES, "jail: uid %u gid %u cannot open /dev/kvm (give the "
				  "group that owns it, e.g. --gid kvm)", (unsigned)c->uid,
				  (unsigned)c->gid);
	return 0;
}

/* ---- the waiting parent ---- */

static pid_t jailed_child;

static void forward(int sig)
{
	if (jailed_child > 0)
		kill(jailed_child, sig);
}

static _Noreturn void wait_and_exit(pid_t child)
{
	jailed_child = child;
	struct sigaction sa = { .sa_handler = forward };
	sigemptyset(&sa.sa_mask);
	int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	for (size_t i = 0; i < 3; i++)
		sigaction(sigs[i], &sa, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	int status;
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			_exit(5);
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

int jail_enter(const struct jail_config *c, struct errbuf *eb)
{
	if (geteuid() != 0)
		return errbuf_set(eb, EPERM, "--jail needs root (it creates namespaces and mounts)");
	if (c->uid == 0 || c->gid == 0)
		return errbuf_set(eb, EINVAL, "--jail: --uid and --gid must not be 0");
	char group[PATH_MAX] = "";
	int cg = cgroup_join(c, group, sizeof(group), eb);
	if (cg < 0)
		return cg;
	if (cg == 0)
		fprintf(stderr, "parma boot: warning: --jail: no cgroup v2 hierarchy with the memory, "
			"cpu and pids controllers at " CGROUP_ROOT ": the VMM runs without those "
			"limits\n");
	if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET) < 0)
		return errbuf_set(eb, errno, "jail: unshare: %s", strerror(errno));
	fflush(NULL);
	pid_t child = fork();
	if (child < 0)
		return errbuf_set(eb, errno, "jail: fork: %s", strerror(errno));
	if (child > 0)
		wait_and_exit(child);
	/* PID 1 of the new namespace: die with the waiting parent */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	int ret = build_root(c, eb);
	if (ret < 0)
		return ret;
	if (sethostname("parma-vmm", 9) < 0)
		return errbuf_set(eb, errno, "jail: sethostname: %s", strerror(errno));
	if ((ret = drop_privileges(c, eb)) < 0)
		return ret;
	/* Changing the uid cleared the parent-death signal: without it again, a VMM whose
	 * `parma run` was killed would go on running (run_e2e_faults). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		return errbuf_set(eb, errno, "jail: PR_SET_PDEATHSIG: %s", strerror(errno));
	return 0;
}
