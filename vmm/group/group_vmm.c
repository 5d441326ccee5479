#include "vmm/group/group_vmm.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmm/snp_predict.h"
#include "vmm/vm.h"

int group_find_guest_file(const char *env, const char *build_path, char *out, size_t size)
{
	const char *value = getenv(env);
	if (value && *value) {
		if (snprintf(out, size, "%s", value) >= (int)size)
			return -ENAMETOOLONG;
		return access(out, R_OK) == 0 ? 0 : -ENOENT;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -ENOENT;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	const char *base = strrchr(build_path, '/');
	base = base ? base + 1 : build_path;
	if (snprintf(out, size, "%s/../%s", exe, build_path) >= (int)size)
		return -ENAMETOOLONG;
	if (access(out, R_OK) == 0)
		return 0;
	if (snprintf(out, size, "%s/../share/parma/%s", exe, base) >= (int)size)
		return -ENAMETOOLONG;
	return access(out, R_OK) == 0 ? 0 : -ENOENT;
}

int group_vmm_find_firmware(char *out, size_t size)
{
	return group_find_guest_file("PARMA_FIRMWARE", "firmware/stage0/parma-stage0.elf", out,
				     size);
}

#define ARGV_MAX (32 + 2 * GROUP_VMM_MAX_DRIVES)

int group_vmm_start(const struct group_vmm_config *cfg, pid_t *pid, struct errbuf *eb)
{
	char mem[16], vcpus[16], vsock[PATH_MAX + 16], self[PATH_MAX];
	char drive[GROUP_VMM_MAX_DRIVES][PATH_MAX + 4];
	const char *argv[ARGV_MAX];
	size_t n = 0;

	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len <= 0)
		return errbuf_set(eb, ENOENT, "cannot locate the parma binary");
	self[len] = '\0';
	snprintf(mem, sizeof(mem), "%u", cfg->mem_mib);
	snprintf(vcpus, sizeof(vcpus), "%u", cfg->vcpus);
	if (snprintf(vsock, sizeof(vsock), "%d,%s", GROUP_VSOCK_CID, cfg->vsock_uds) >= (int)sizeof(vsock))
		return errbuf_set(eb, ENAMETOOLONG, "socket path too long");
	argv[n++] = self;
	argv[n++] = "boot";
	if (cfg->firmware) {
		argv[n++] = "--firmware";
		argv[n++] = cfg->firmware;
	}
	argv[n++] = "--kernel";
	argv[n++] = cfg->kernel;
	argv[n++] = "--initrd";
	argv[n++] = cfg->initrd;
	argv[n++] = "--cmdline";
	argv[n++] = cfg->cmdline;
	argv[n++] = "--mem";
	argv[n++] = mem;
	argv[n++] = "--vcpus";
	argv[n++] = vcpus;
	for (size_t i = 0; i < cfg->n_drives; i++) {
		if (snprintf(drive[i], sizeof(drive[i]), "%s%s", cfg->drives[i],
			     cfg->drive_ro[i] ? ",ro" : "") >= (int)sizeof(drive[i]))
			return errbuf_set(eb, ENAMETOOLONG, "%s: path too long", cfg->drives[i]);
		argv[n++] = "--drive";
		argv[n++] = drive[i];
	}
	argv[n++] = "--vsock";
	argv[n++] = vsock;
	argv[n++] = "--serial";
	argv[n++] = cfg->console_fd >= 0 ? "stdout" : "none";
	argv[n++] = "--debug-log";
	argv[n++] = "none";
	if (cfg->seccomp_off)
		argv[n++] = "--seccomp=off";
	char uid[16], gid[16];
	struct stat kvm;
	if (cfg->jail_dir) {
		/* the jailed VMM opens /dev/kvm as an unprivileged group: only if one may */
		if (stat("/dev/kvm", &kvm) == 0 && kvm.st_gid != 0 &&
		    (kvm.st_mode & (S_IRGRP | S_IWGRP)) == (S_IRGRP | S_IWGRP)) {
			struct passwd *pw = getpwnam("nobody");
			snprintf(uid, sizeof(uid), "%u", pw ? (unsigned)pw->pw_uid : 65534u);
			snprintf(gid, sizeof(gid), "%u", (unsigned)kvm.st_gid);
			argv[n++] = "--jail";
			argv[n++] = cfg->jail_dir;
			argv[n++] = "--uid";
			argv[n++] = uid;
			argv[n++] = "--gid";
			argv[n++] = gid;
		} else {
			fprintf(stderr, "parma run: WARNING: the VMM runs without its jail: /dev/kvm is "
				"not read-write for an unprivileged group (e.g. chgrp kvm /dev/kvm; "
				"chmod 660 /dev/kvm)\n");
		}
	}
	if (cfg->snp) {
		argv[n++] = "--snp";
		argv[n++] = "--policy";
		argv[n++] = cfg->policy_file;
	}
	argv[n] = NULL;

	pid_t parent = getpid();
	pid_t child = fork();
	if (child < 0)
		return errbuf_set(eb, errno, "fork: %s", strerror(errno));
	if (child == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive parma run */
		if (getppid() != parent) /* it died before the line above */
			_exit(127);
		if (cfg->console_fd >= 0 && dup2(cfg->console_fd, STDOUT_FILENO) < 0)
			_exit(127);
		execv(self, (char *const *)argv);
		_exit(127);
	}
	setpgid(child, child);
	*pid = child;
	return 0;
}

static int vsock_handshake(int fd, uint32_t port)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "CONNECT %u\n", port);
	if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n)
		return -EIO;
	/* "OK <hostport>\n", read a byte at a time so nothing after it is consumed */
	size_t got = 0;
	while (got < sizeof(line) - 1) {
		ssize_t r = read(fd, line + got, 1);
		if (r <= 0)
			return -ECONNREFUSED;
		if (line[got++] == '\n')
			break;
	}
	line[got] = '\0';
	return strncmp(line, "OK ", 3) == 0 ? 0 : -ECONNREFUSED;
}

int group_vmm_agent_connect(const char *vsock_uds, uint32_t port, pid_t vmm, int timeout_ms,
			    const volatile sig_atomic_t *cancel, struct errbuf *eb)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timespec start, now;
	if (strlen(vsock_uds) >= sizeof(addr.sun_path))
		return errbuf_set(eb, ENAMETOOLONG, "%s: socket path too long", vsock_uds);
	strcpy(addr.sun_path, vsock_uds);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		int status;
		if (cancel && *cancel)
			return errbuf_set(eb, EINTR, "interrupted while waiting for the agent");
		if (waitpid(vmm, &status, WNOHANG) == vmm) {
			if (WIFSIGNALED(status))
				return errbuf_set(eb, ECHILD, "the VMM (parma boot, pid %d) was killed "
						  "by signal %d (%s) before the agent answered",
						  (int)vmm, WTERMSIG(status), strsignal(WTERMSIG(status)));
			return errbuf_set(eb, ECHILD, "the VMM (parma boot, pid %d) exited with "
					  "status %d before the agent answered", (int)vmm,
					  WEXITSTATUS(status));
		}
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return errbuf_set(eb, errno, "socket: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
		    vsock_handshake(fd, port) == 0)
			return fd;
		close(fd);
		clock_gettime(CLOCK_MONOTONIC, &now);
		long ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (timeout_ms >= 0 && ms > timeout_ms)
			return errbuf_set(eb, ETIMEDOUT, "the agent did not accept vsock port %u "
					  "within %d s", port, timeout_ms / 1000);
		usleep(200000);
	}
}

void group_vmm_stop(pid_t pid, int grace_ms)
{
	if (pid <= 0)
		return;
	kill(-pid, SIGTERM);
	for (int waited = 0; waited < grace_ms; waited += 50) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		usleep(50000);
	}
	kill(-pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

int group_vmm_measurement(const struct group_vmm_config *cfg, uint8_t out[48], struct errbuf *eb)
{
	struct vm_drive drives[GROUP_VMM_MAX_DRIVES];
	for (size_t i = 0; i < cfg->n_drives; i++)
		drives[i] = (struct vm_drive){ .path = cfg->drives[i], .read_only = cfg->drive_ro[i] };
	struct vm_config vc = {
		.mem_mib = cfg->mem_mib,
		.vcpus = cfg->vcpus,
		.kernel = cfg->kernel,
		.initrd = cfg->initrd,
		.cmdline = cfg->cmdline,
		.firmware = cfg->firmware,
		.serial = "none",
		.debug_log = "none",
		.drives = drives,
		.n_drives = (unsigned)cfg->n_drives,
		.vsock_uds = cfg->vsock_uds,
		.vsock_cid = GROUP_VSOCK_CID,
	};
	struct snp_machine_config scfg = { .dry_run = true };
	return snp_predict_measurement(&vc, &scfg, out, eb);
}
