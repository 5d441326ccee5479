/* effects_linux: the real effects — guest/storage for block devices and mounts, crun for
 * containers, fork/exec for external processes, configfs-tsm or /dev/sev-guest for reports. */
#include "guest/agent/effects.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/encoding.h"
#include "common/fileio.h"
#include "guest/storage/storage.h"

#define CRUN_ROOT "/run/crun"
#define CRUN_LOG "/run/crun-parma.log" /* crun's own errors, quoted in ours */
#define TSM_REPORT_DIR "/sys/kernel/config/tsm/report"
#define SEV_GUEST_DEV "/dev/sev-guest"
#define MAX_DM 256

/* Which device-mapper device backs which mount target, to remove it on unmount. */
struct dm_entry {
	char target[STORAGE_PATH_MAX];
	char name[64];
};

struct linux_ctx {
	const char *crun;
	const char *mkfs;
	struct dm_entry dm[MAX_DM];
	size_t n_dm;
	unsigned counter;
};

static struct linux_ctx the_ctx;

static const char *const child_env[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
					 "/usr/bin:/sbin:/bin",
					 NULL };

/* In the child: put io on 0/1/2 (/dev/null where -1) and exec. Never returns. */
static void child_exec(const struct agent_stdio *io, const char *cwd, const char *const *argv,
		       const char *const *envp)
{
	int devnull = open("/dev/null", O_RDWR);
	int fds[3] = { io ? io->in : -1, io ? io->out : -1, io ? io->err : -1 };
	for (int i = 0; i < 3; i++) {
		int src = fds[i] >= 0 ? fds[i] : devnull;
		if (src >= 0 && src != i)
			dup2(src, i);
	}
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	setsid();
	if (cwd && chdir(cwd) < 0)
		_exit(126);
	execve(argv[0], (char *const *)argv, (char *const *)envp);
	_exit(127);
}

static int run_wait(const struct agent_stdio *io, const char *const *argv, int *status,
		    struct errbuf *eb)
{
	pid_t pid = fork();
	if (pid < 0)
		return errbuf_set(eb, errno, "fork: %s", strerror(errno));
	if (pid == 0)
		child_exec(io, NULL, argv, child_env);
	while (waitpid(pid, status, 0) < 0)
		if (errno != EINTR)
			return errbuf_set(eb, errno, "waitpid: %s", strerror(errno));
	return 0;
}

/* The last line crun logged (its error), for our error message. */
static void crun_last_error(char *out, size_t size)
{
	uint8_t *log;
	size_t len;
	out[0] = 0;
	if (file_read_all(CRUN_LOG, 1 << 20, &log, &len, NULL) < 0)
		return;
	while (len && (log[len - 1] == '\n' || log[len - 1] == ' '))
		len--;
	size_t start = len;
	while (start && log[start - 1] != '\n' && len - start < size - 1)
		start--;
	for (size_t i = start; i < len; i++) /* console-safe: printable ASCII only */
		out[i - start] = log[i] >= 0x20 && log[i] < 0x7f ? (char)log[i] : '?';
	out[len - start] = 0;
	free(log);
}

static int run_crun(struct linux_ctx *c, const struct agent_stdio *io, const char *const *args,
		    struct errbuf *eb)
{
	const char *argv[16] = { c->crun, "--root", CRUN_ROOT, "--log=file:" CRUN_LOG };
	size_t n = 4;
	unlink(CRUN_LOG);
	for (size_t i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	int status, ret = run_wait(io, argv, &status, eb);
	if (ret < 0)
		return ret;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char why[300];
		crun_last_error(why, sizeof(why));
		return errbuf_set(eb, EIO, "crun %s failed (status 0x%x): %s", args[0], status,
				  why[0] ? why : "no message");
	}
	return 0;
}

static int read_pid_file(const char *path, pid_t *pid, struct errbuf *eb)
{
	uint8_t *data;
	size_t len;
	int ret = file_read_all(path, 64, &data, &len, eb);
	if (ret < 0)
		return ret;
	long v = strtol((char *)data, NULL, 10);
	free(data);
	if (v <= 1)
		return errbuf_set(eb, EINVAL, "%s: no pid", path);
	*pid = (pid_t)v;
	return 0;
}

static int lx_mount_layer(void *ctx, const char *device, uint64_t hash_offset,
			  const uint8_t root_hash[32], const char *target, struct errbuf *eb)
{
	struct linux_ctx *c = ctx;
	char hex[65], dev_path[STORAGE_PATH_MAX];
	if (c->n_dm >= MAX_DM)
		return errbuf_set(eb, ENOSPC, "too many device-mapper devices");
	hex_encode(root_hash, 32, hex);
	struct dm_entry *e = &c->dm[c->n_dm];
	snprintf(e->name, sizeof(e->name), "parma-layer-%.16s-%u", hex, c->counter++);
	int ret = storage_verity_open(e->name, device, hash_offset, root_hash, dev_path,
				      sizeof(dev_path), eb);
	if (ret < 0)
		return ret;
	ret = storage_erofs_mount(dev_path, target, eb);
	if (ret < 0) {
		storage_dm_remove(e->name, NULL);
		return ret;
	}
	snprintf(e->target, sizeof(e->target), "%s", target);
	c->n_dm++;
	return 0;
}

static int lx_unmount(void *ctx, const char *target, struct errbuf *eb)
{
	struct linux_ctx *c = ctx;
	int ret = storage_unmount(target, eb);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < c->n_dm; i++) {
		if (strcmp(c->dm[i].target, target))
			continue;
		storage_dm_remove(c->dm[i].name, NULL);
		c->dm[i] = c->dm[--c->n_dm];
		break;
	}
	return 0;
}

static int lx_mount_scratch(void *ctx, const char *device, bool encrypted, const char *target,
			    struct errbuf *eb)
{
	struct linux_ctx *c = ctx;
	if (c->n_dm >= MAX_DM)
		return errbuf_set(eb, ENOSPC, "too many device-mapper devices");
	struct dm_entry *e = &c->dm[c->n_dm];
	snprintf(e->name, sizeof(e->name), "parma-scratch-%u", c->counter++);
	int ret = storage_scratch_open(e->name, device, encrypted, c->mkfs, target, eb);
	if (ret < 0)
		return ret;
	if (encrypted) {
		snprintf(e->target, sizeof(e->target), "%s", target);
		c->n_dm++;
	}
	return 0;
}

static int lx_mount_overlay(void *ctx, const char *const *lowers, size_t n, const char *upper,
			    const char *work, const char *target, struct errbuf *eb)
{
	(void)ctx;
	return storage_overlay_mount(lowers, n, upper, work, target, eb);
}

/* A container's own directory (a scratch:// mount): parents as root-owned 0755, the directory
 * itself owned by uid:gid with mode. It lies in a tree of this container's single-use id, so
 * an existing one is this container's (a name listed twice, or a create retried after a
 * failed one); ownership is set through an fd opened without following a symlink. */
static int lx_make_dir(void *ctx, const char *path, uint32_t uid, uint32_t gid, uint32_t mode,
		       struct errbuf *eb)
{
	(void)ctx;
	char parent[512];
	const char *slash = strrchr(path, '/');
	if (!slash || slash == path || (size_t)(slash - path) >= sizeof(parent))
		return errbuf_set(eb, EINVAL, "%s: not a directory path", path);
	memcpy(parent, path, (size_t)(slash - path));
	parent[slash - path] = '\0';
	int ret = mkdir_p(parent, 0755);
	if (ret < 0)
		return errbuf_set(eb, -ret, "%s: %s", parent, strerror(-ret));
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return errbuf_set(eb, errno, "%s: %s", path, strerror(errno));
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errbuf_set(eb, errno, "%s: %s", path, strerror(errno));
	if (fchown(fd, uid, gid) < 0 || fchmod(fd, mode) < 0) {
		int e = errno;
		close(fd);
		return errbuf_set(eb, e, "%s: owner %u:%u mode %o: %s", path, uid, gid, mode,
				  strerror(e));
	}
	close(fd);
	return 0;
}

static int lx_container_create(void *ctx, const char *id, const char *bundle,
			       const struct agent_stdio *io, pid_t *init_pid, struct errbuf *eb)
{
	char pidfile[600];
	snprintf(pidfile, sizeof(pidfile), "%s/init.pid", bundle);
	unlink(pidfile);
	const char *args[] = { "create", "--bundle", bundle, "--pid-file", pidfile, id, NULL };
	int ret = run_crun(ctx, io, args, eb);
	if (ret < 0)
		return ret;
	return read_pid_file(pidfile, init_pid, eb);
}

static int lx_container_start(void *ctx, const char *id, struct errbuf *eb)
{
	const char *args[] = { "start", id, NULL };
	return run_crun(ctx, NULL, args, eb);
}

static int lx_container_exec(void *ctx, const char *id, const char *process_json,
			     const struct agent_stdio *io, pid_t *pid, struct errbuf *eb)
{
	char pidfile[700];
	snprintf(pidfile, sizeof(pidfile), "%s.pid", process_json);
	unlink(pidfile);
	const char *args[] = { "exec", "--detach", "--pid-file", pidfile, "--process",
			       process_json, id, NULL };
	int ret = run_crun(ctx, io, args, eb);
	if (ret < 0)
		return ret;
	return read_pid_file(pidfile, pid, eb);
}

static int lx_container_delete(void *ctx, const char *id, struct errbuf *eb)
{
	const char *args[] = { "delete", "--force", id, NULL };
	return run_crun(ctx, NULL, args, eb);
}

static int lx_spawn(void *ctx, const char *const *argv, const char *const *envp, const char *cwd,
		    const struct agent_stdio *io, pid_t *pid, struct errbuf *eb)
{
	(void)ctx;
	if (argv[0][0] != '/')
		return errbuf_set(eb, EINVAL, "%s: external processes need an absolute path",
				  argv[0]);
	pid_t p = fork();
	if (p < 0)
		return errbuf_set(eb, errno, "fork: %s", strerror(errno));
	if (p == 0)
		child_exec(io, cwd, argv, envp);
	*pid = p;
	return 0;
}

static int lx_kill(void *ctx, pid_t pid, int sig)
{
	(void)ctx;
	return kill(pid, sig) < 0 ? -errno : 0;
}

/* configfs-tsm: a report entry per request; 64 bytes in, the raw report out. */
static int tsm_report(const uint8_t data[AGENT_REPORT_DATA_SIZE], uint8_t out[AGENT_REPORT_SIZE],
		      struct errbuf *eb)
{
	char dir[128], path[160];
	static unsigned seq;
	struct stat st;
	if (stat(TSM_REPORT_DIR, &st) < 0)
		return -ENODEV;
	snprintf(dir, sizeof(dir), "%s/parma-%d-%u", TSM_REPORT_DIR, (int)getpid(), seq++);
	if (mkdir(dir, 0700) < 0)
		return errbuf_set(eb, errno, "%s: %s", dir, strerror(errno));
	int ret = 0;
	uint8_t *blob = NULL;
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/provider", dir);
	if (file_read_all(path, 64, &blob, &len, NULL) == 0 && strncmp((char *)blob, "sev_guest", 9)) {
		ret = errbuf_set(eb, ENODEV, "configfs-tsm provider is not sev_guest");
		goto out;
	}
	free(blob);
	blob = NULL;
	snprintf(path, sizeof(path), "%s/inblob", dir);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write_full(fd, data, AGENT_REPORT_DATA_SIZE) < 0) {
		ret = errbuf_set(eb, EIO, "%s: cannot write", path);
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	snprintf(path, sizeof(path), "%s/outblob", dir);
	ret = file_read_all(path, 8192, &blob, &len, eb);
	if (ret == 0 && len < AGENT_REPORT_SIZE)
		ret = errbuf_set(eb, EIO, "%s: %zu bytes, expected a report", path, len);
	if (ret == 0)
		memcpy(out, blob, AGENT_REPORT_SIZE);
out:
	free(blob);
	rmdir(dir);
	return ret;
}

/* /dev/sev-guest SNP_GET_REPORT (see the SNP facts notes, "Guest interfaces"). */
struct snp_guest_request_ioctl {
	uint8_t msg_version;
	uint8_t pad[7];
	uint64_t req_data, resp_data, exitinfo2;
};
#define SNP_GET_REPORT 0xC0205300ul
_Static_assert(sizeof(struct snp_guest_request_ioctl) == 32, "snp_guest_request_ioctl is 32 bytes");

static int sev_guest_report(const uint8_t data[AGENT_REPORT_DATA_SIZE],
			    uint8_t out[AGENT_REPORT_SIZE], struct errbuf *eb)
{
	struct {
		uint8_t user_data[64];
		uint32_t vmpl;
		uint8_t rsvd[28];
	} req = { .vmpl = 0 };
	_Static_assert(sizeof(req) == 96, "snp_report_req is 96 bytes");
	static uint8_t resp[4000];
	int fd = open(SEV_GUEST_DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ENODEV : errbuf_set(eb, errno, SEV_GUEST_DEV ": %s",
							       strerror(errno));
	memcpy(req.user_data, data, 64);
	memset(resp, 0, sizeof(resp));
	struct snp_guest_request_ioctl io = { .msg_version = 1,
					      .req_data = (uintptr_t)&req,
					      .resp_data = (uintptr_t)resp };
	int r = ioctl(fd, SNP_GET_REPORT, &io);
	int e = errno;
	close(fd);
	if (r < 0)
		return errbuf_set(eb, e, "SNP_GET_REPORT: %s (exitinfo2 0x%llx)", strerror(e),
				  (unsigned long long)io.exitinfo2);
	uint32_t status = (uint32_t)resp[0] | (uint32_t)resp[1] << 8 | (uint32_t)resp[2] << 16 |
			  (uint32_t)resp[3] << 24;
	if (status != 0)
		return errbuf_set(eb, EIO, "SNP_GET_REPORT: firmware status 0x%x", status);
	memcpy(out, resp + 0x20, AGENT_REPORT_SIZE);
	return 0;
}

static int lx_tee_report(void *ctx, const uint8_t data[AGENT_REPORT_DATA_SIZE],
			 uint8_t out[AGENT_REPORT_SIZE], struct errbuf *eb)
{
	(void)ctx;
	int ret = tsm_report(data, out, eb);
	if (ret != -ENODEV)
		return ret;
	return sev_guest_report(data, out, eb);
}

static void add_cgroup_value(struct json_object *obj, const char *id, const char *file,
			     const char *key)
{
	char path[300];
	uint8_t *data;
	size_t len;
	snprintf(path, sizeof(path), "/sys/fs/cgroup/%s/%s", id, file);
	if (file_read_all(path, 4096, &data, &len, NULL) < 0)
		return;
	const char *p = (const char *)data;
	if (!strcmp(file, "cpu.stat")) {
		p = strstr(p, "usage_usec ");
		p = p ? p + 11 : NULL;
	}
	if (p)
		json_object_object_add(obj, key, json_object_new_int64(strtoll(p, NULL, 10)));
	free(data);
}

static int lx_container_stats(void *ctx, const char *id, struct json_object *obj)
{
	(void)ctx;
	add_cgroup_value(obj, id, "memory.current", "memory_bytes");
	add_cgroup_value(obj, id, "pids.current", "pids");
	add_cgroup_value(obj, id, "cpu.stat", "cpu_usage_us");
	return 0;
}

static int lx_dump_stacks(void *ctx, char **text)
{
	(void)ctx;
	size_t cap = 1 << 20, len = 0;
	char *out = malloc(cap);
	DIR *d = opendir("/proc");
	struct dirent *e;
	if (!out || !d) {
		free(out);
		if (d)
			closedir(d);
		return -ENOMEM;
	}
	out[0] = 0;
	while ((e = readdir(d)) && len + 8192 < cap) {
		char path[300];
		uint8_t *comm = NULL, *stack = NULL;
		size_t cl, sl;
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		if (file_read_all(path, 64, &comm, &cl, NULL) < 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stack", e->d_name);
		if (file_read_all(path, 4096, &stack, &sl, NULL) < 0)
			stack = NULL;
		len += (size_t)snprintf(out + len, cap - len, "pid %s %s%s\n", e->d_name,
					(char *)comm, stack ? (char *)stack : "(no stack)\n");
		free(comm);
		free(stack);
	}
	closedir(d);
	*text = out;
	return 0;
}

static int lx_remove_tree(void *ctx, const char *path, struct errbuf *eb)
{
	(void)ctx;
	return storage_remove_tree(path, eb);
}

static const struct agent_effects_ops linux_ops = {
	.mount_layer = lx_mount_layer,
	.unmount = lx_unmount,
	.mount_scratch = lx_mount_scratch,
	.mount_overlay = lx_mount_overlay,
	.container_create = lx_container_create,
	.container_start = lx_container_start,
	.container_exec = lx_container_exec,
	.container_delete = lx_container_delete,
	.spawn = lx_spawn,
	.kill = lx_kill,
	.tee_report = lx_tee_report,
	.container_stats = lx_container_stats,
	.dump_stacks = lx_dump_stacks,
	.remove_tree = lx_remove_tree,
	.make_dir = lx_make_dir,
};

struct agent_effects agent_effects_linux(const char *crun_path, const char *mkfs_path)
{
	the_ctx.crun = crun_path;
	the_ctx.mkfs = mkfs_path;
	return (struct agent_effects){ &linux_ops, &the_ctx };
}
