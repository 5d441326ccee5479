/* qemu_launch: QEMU TCG microvm with the Parma guest image (see qemu_launch.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmm/group/qemu_launch.h"

#define DEFAULT_QEMU "qemu-system-x86_64"
#define MAX_ARGS (64 + 4 * QEMU_LAUNCH_MAX_DISKS)
#define START_TIMEOUT_MS 10000

struct qemu_vm {
	pid_t pid;      /* also the process group id; 0 once reaped */
	int status;     /* waitpid status once reaped */
	char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Compare two kernel release strings in version order ("6.1.0-10" < "6.1.0-9" is false). */
static int version_cmp(const char *a, const char *b)
{
	return strverscmp(a, b);
}

int qemu_launch_default_kernel(char *out, size_t size, struct errbuf *eb)
{
	const char *env = getenv("PARMA_GUEST_KERNEL");
	if (env && *env) {
		if (snprintf(out, size, "%s", env) >= (int)size)
			return errbuf_set(eb, ENAMETOOLONG, "PARMA_GUEST_KERNEL: path too long");
		return 0;
	}
	DIR *dir = opendir("/boot");
	if (!dir)
		return errbuf_set(eb, ENOENT, "/boot: %s", strerror(errno));
	char best[256] = "";
	struct dirent *de;
	while ((de = readdir(dir))) {
		if (strncmp(de->d_name, "vmlinuz-", 8))
			continue;
		const char *ver = de->d_name + 8;
		char dep[512];
		if (!*ver || strlen(ver) >= sizeof(best))
			continue;
		snprintf(dep, sizeof(dep), "/lib/modules/%s/modules.dep", ver);
		if (access(dep, R_OK) != 0)
			continue;
		if (!best[0] || version_cmp(ver, best) > 0)
			snprintf(best, sizeof(best), "%s", ver);
	}
	closedir(dir);
	if (!best[0])
		return errbuf_set(eb, ENOENT,
				  "no guest kernel: need /boot/vmlinuz-VERSION with /lib/modules/VERSION "
				  "(Debian package linux-image-amd64)");
	if (snprintf(out, size, "/boot/vmlinuz-%s", best) >= (int)size)
		return errbuf_set(eb, ENAMETOOLONG, "kernel path too long");
	return 0;
}

/* Find a program in PATH (or take it as a path if it has a '/'). */
static int find_program(const char *name, char *out, size_t size)
{
	if (strchr(name, '/')) {
		snprintf(out, size, "%s", name);
		return access(out, X_OK) == 0 ? 0 : -ENOENT;
	}
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		size_t len = strcspn(path, ":");
		if (len && snprintf(out, size, "%.*s/%s", (int)len, path, name) < (int)size &&
		    access(out, X_OK) == 0)
			return 0;
		path += len + (path[len] == ':');
	}
	return -ENOENT;
}

int qemu_launch_available(const struct qemu_launch_config *cfg, struct errbuf *eb)
{
	char path[512];
	const char *qemu = cfg && cfg->qemu ? cfg->qemu : DEFAULT_QEMU;
	if (find_program(qemu, path, sizeof(path)) < 0)
		return errbuf_set(eb, ENOENT, "%s not found (Debian package qemu-system-x86)", qemu);
	if (cfg && cfg->kernel) {
		if (access(cfg->kernel, R_OK) != 0)
			return errbuf_set(eb, ENOENT, "guest kernel %s: %s", cfg->kernel, strerror(errno));
		return 0;
	}
	return qemu_launch_default_kernel(path, sizeof(path), eb);
}

/* The host's TSC rate in kHz, measured against CLOCK_MONOTONIC over ~50 ms. Under TCG the
 * guest's TSC runs at the host's rate; telling the kernel (tsc_early_khz=) spares it a PIT
 * calibration that fails on a loaded host (it then marks the TSC unstable and can stall for
 * lack of any other clocksource on microvm). 0 when unknown. */
static unsigned host_tsc_khz(void)
{
#if defined(__x86_64__)
	uint32_t lo, hi;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	uint64_t c0 = (uint64_t)hi << 32 | lo;
	sleep_ms(50);
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	uint64_t c1 = (uint64_t)hi << 32 | lo;
	int64_t ns = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000 + (t1.tv_nsec - t0.tv_nsec);
	if (ns <= 0 || c1 <= c0)
		return 0;
	return (unsigned)((c1 - c0) * 1000000 / (uint64_t)ns);
#else
	return 0;
#endif
}

struct argv_builder {
	char *argv[MAX_ARGS];
	int argc;
	char *owned[MAX_ARGS];
	int n_owned;
};

static void arg(struct argv_builder *b, const char *s)
{
	if (b->argc < MAX_ARGS - 1)
		b->argv[b->argc++] = (char *)s;
}

static int argf(struct argv_builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int argf(struct argv_builder *b, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0 || b->n_owned >= MAX_ARGS)
		return -ENOMEM;
	b->owned[b->n_owned++] = s;
	arg(b, s);
	return 0;
}

static void argv_free(struct argv_builder *b)
{
	for (int i = 0; i < b->n_owned; i++)
		free(b->owned[i]);
}

/* QEMU's -drive/-chardev option syntax uses ',' as separator ("a,,b" escapes it); refuse the
 * character instead of escaping, so a file name never turns into an option. */
static int option_safe(const char *what, const char *s, struct errbuf *eb)
{
	if (!s || !*s)
		return errbuf_set(eb, EINVAL, "%s: empty", what);
	if (strchr(s, ','))
		return errbuf_set(eb, EINVAL, "%s: '%s' contains ','", what, s);
	return 0;
}

static int build_argv(const struct qemu_launch_config *cfg, const char *qemu, const char *kernel,
		      struct argv_builder *b, struct errbuf *eb)
{
	int rc = 0;
	arg(b, qemu);
	arg(b, "-M");
	arg(b, "microvm,accel=tcg");
	arg(b, "-cpu");
	arg(b, "max");
	arg(b, "-m");
	rc |= argf(b, "%u", cfg->memory_mib ? cfg->memory_mib : 512);
	arg(b, "-smp");
	rc |= argf(b, "%u", cfg->vcpus ? cfg->vcpus : 1);
	arg(b, "-nodefaults");
	arg(b, "-no-reboot");
	arg(b, "-display");
	arg(b, "none");
	arg(b, "-monitor");
	arg(b, "none");
	arg(b, "-kernel");
	arg(b, kernel);
	arg(b, "-initrd");
	arg(b, cfg->initrd);
	unsigned khz = host_tsc_khz();
	char tsc[48] = "";
	if (khz)
		snprintf(tsc, sizeof(tsc), " tsc_early_khz=%u", khz);
	arg(b, "-append");
	rc |= argf(b, "console=ttyS0 panic=-1 quiet%s%s%s", tsc, cfg->cmdline_extra ? " " : "",
		   cfg->cmdline_extra ? cfg->cmdline_extra : "");
	arg(b, "-serial");
	if (cfg->console_log) {
		if ((rc = option_safe("console log", cfg->console_log, eb)) < 0)
			return rc;
		rc |= argf(b, "file:%s", cfg->console_log);
	} else {
		arg(b, cfg->console_fd >= 0 ? "stdio" : "null");
	}
	for (size_t i = 0; i < cfg->n_disks; i++) {
		if ((rc = option_safe("disk", cfg->disks[i].path, eb)) < 0)
			return rc;
		/* QEMU's default cache mode: images may live on tmpfs, which has no O_DIRECT for
		 * cache=none; the guest's flushes still reach the file (fdatasync). */
		arg(b, "-drive");
		rc |= argf(b, "id=disk%zu,file=%s,format=raw,if=none%s", i,
			   cfg->disks[i].path, cfg->disks[i].read_only ? ",readonly=on" : "");
		arg(b, "-device");
		rc |= argf(b, "virtio-blk-device,drive=disk%zu", i);
	}
	if ((rc = option_safe("agent socket", cfg->agent_socket, eb)) < 0)
		return rc;
	arg(b, "-device");
	arg(b, "virtio-serial-device");
	arg(b, "-chardev");
	rc |= argf(b, "socket,id=agent,path=%s,server=on,wait=off", cfg->agent_socket);
	arg(b, "-device");
	arg(b, "virtserialport,chardev=agent,name=" QEMU_AGENT_PORT_NAME);
	b->argv[b->argc] = NULL;
	if (rc)
		return errbuf_set(eb, ENOMEM, "out of memory building the QEMU command line");
	if (b->argc >= MAX_ARGS - 1)
		return errbuf_set(eb, E2BIG, "QEMU command line too long");
	return 0;
}

int qemu_vm_start(const struct qemu_launch_config *cfg, struct qemu_vm **out, struct errbuf *eb)
{
	char qemu[512], kernel[512];
	struct argv_builder b = { .argc = 0, .n_owned = 0 };
	struct qemu_vm *vm = NULL;
	int rc;

	*out = NULL;
	if (!cfg->initrd)
		return errbuf_set(eb, EINVAL, "no initrd given");
	if (cfg->n_disks > QEMU_LAUNCH_MAX_DISKS)
		return errbuf_set(eb, E2BIG, "%zu disks (max %d)", cfg->n_disks, QEMU_LAUNCH_MAX_DISKS);
	if (find_program(cfg->qemu ? cfg->qemu : DEFAULT_QEMU, qemu, sizeof(qemu)) < 0)
		return errbuf_set(eb, ENOENT, "%s not found (Debian package qemu-system-x86)",
				  cfg->qemu ? cfg->qemu : DEFAULT_QEMU);
	if (cfg->kernel)
		snprintf(kernel, sizeof(kernel), "%s", cfg->kernel);
	else if ((rc = qemu_launch_default_kernel(kernel, sizeof(kernel), eb)) < 0)
		return rc;
	if (!(vm = calloc(1, sizeof(*vm))))
		return errbuf_set(eb, ENOMEM, "out of memory");
	if (!cfg->agent_socket ||
	    strlen(cfg->agent_socket) >= sizeof(vm->socket_path)) {
		rc = errbuf_set(eb, ENAMETOOLONG, "agent socket path missing or longer than %zu",
				sizeof(vm->socket_path) - 1);
		goto fail;
	}
	strcpy(vm->socket_path, cfg->agent_socket);
	if ((rc = build_argv(cfg, qemu, kernel, &b, eb)) < 0)
		goto fail;
	(void)unlink(vm->socket_path); /* a stale socket would look ready before QEMU is */

	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		rc = errbuf_set(eb, errno, "fork: %s", strerror(errno));
		goto fail;
	}
	if (pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int null = open("/dev/null", O_RDWR);
		if (null >= 0)
			dup2(null, 0);
		if (!cfg->console_log && cfg->console_fd >= 0)
			dup2(cfg->console_fd, 1);
		else if (null >= 0)
			dup2(null, 1);
		execvp(b.argv[0], b.argv);
		_exit(127);
	}
	setpgid(pid, pid); /* both sides, so kill(-pid) works whoever runs first */
	vm->pid = pid;
	argv_free(&b);

	/* Ready when the socket exists; fail early if QEMU exits (bad option, missing file). */
	int64_t deadline = now_ms() + START_TIMEOUT_MS;
	struct stat st;
	while (stat(vm->socket_path, &st) != 0) {
		int status;
		if (waitpid(vm->pid, &status, WNOHANG) == vm->pid) {
			vm->pid = 0;
			vm->status = status;
			rc = errbuf_set(eb, EIO, "QEMU exited during start-up (status %d)", status);
			goto fail_vm;
		}
		if (now_ms() > deadline) {
			rc = errbuf_set(eb, ETIMEDOUT, "QEMU did not create %s within %d ms",
					vm->socket_path, START_TIMEOUT_MS);
			goto fail_vm;
		}
		sleep_ms(10);
	}
	*out = vm;
	return 0;

fail:
	argv_free(&b);
fail_vm:
	qemu_vm_free(vm);
	return rc;
}

int qemu_vm_agent_connect(struct qemu_vm *vm, struct errbuf *eb)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, vm->socket_path);
	/* QEMU creates the socket file (bind) a moment before it listens: until then a connect
	 * is refused. Retry while QEMU runs, within the start-up timeout. */
	int64_t deadline = now_ms() + START_TIMEOUT_MS;
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return errbuf_set(eb, errno, "socket: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		int e = errno;
		close(fd);
		if (vm->pid && waitpid(vm->pid, &vm->status, WNOHANG) == vm->pid)
			vm->pid = 0; /* QEMU ended: reaped here, as during start-up */
		if (e != ECONNREFUSED || !vm->pid || now_ms() > deadline)
			return errbuf_set(eb, e, "%s: connect: %s", vm->socket_path, strerror(e));
		sleep_ms(10);
	}
}

pid_t qemu_vm_pid(const struct qemu_vm *vm)
{
	return vm ? vm->pid : 0;
}

int qemu_vm_wait(struct qemu_vm *vm, int timeout_ms, int *status)
{
	int64_t deadline = timeout_ms < 0 ? INT64_MAX : now_ms() + timeout_ms;
	while (vm->pid) {
		int st;
		pid_t r = waitpid(vm->pid, &st, WNOHANG);
		if (r == vm->pid) {
			vm->pid = 0;
			vm->status = st;
			break;
		}
		if (r < 0 && errno != EINTR) {
			vm->pid = 0; /* not our child any more: nothing left to wait for */
			break;
		}
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		sleep_ms(20);
	}
	if (status)
		*status = vm->status;
	return 0;
}

void qemu_vm_stop(struct qemu_vm *vm, int grace_ms)
{
	if (!vm || !vm->pid)
		return;
	kill(-vm->pid, SIGTERM);
	if (qemu_vm_wait(vm, grace_ms, NULL) == -ETIMEDOUT) {
		kill(-vm->pid, SIGKILL);
		(void)qemu_vm_wait(vm, -1, NULL);
	}
	(void)unlink(vm->socket_path);
}

void qemu_vm_free(struct qemu_vm *vm)
{
	if (!vm)
		return;
	qemu_vm_stop(vm, 2000);
	free(vm);
}
