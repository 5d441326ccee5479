/* jail_probe FILE DIR UID GID JAILROOT: enter the VMM's jail (vmm/jail.h) exactly as
 * `parma boot --jail` does for a kernel FILE and a log directory DIR, then check from inside
 * what the jailed process can and cannot open or do. Prints "ok"/"FAIL" lines; exit 0 only
 * if every check held. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "vmm/jail.h"
#include "vmm/seccomp_filter.h"

static int failed;

static void check(bool ok, const char *what)
{
	printf("%s %s\n", ok ? "ok  " : "FAIL", what);
	failed |= !ok;
}

static int open_errno(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return errno;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: jail_probe FILE DIR UID GID JAILROOT\n");
		return 2;
	}
	const char *file = argv[1], *dir = argv[2];
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = '\0';
	struct jail_config j = { .dir = argv[5], .uid = (uid_t)atoi(argv[3]),
				 .gid = (gid_t)atoi(argv[4]), .mem_max = 512u << 20, .cpus = 1,
				 .pids_max = 32 };
	char log[4096];
	snprintf(log, sizeof(log), "%s/log", dir);
	jail_add_ro_file(&j, file);
	jail_add_dir_of(&j, log);
	struct errbuf eb = { 0 };
	if (jail_enter(&j, &eb) < 0) {
		printf("FAIL jail_enter: %s\n", errbuf_msg(&eb));
		return 1;
	}
	/* inside */
	check(open_errno("/dev/kvm", O_RDWR) == 0, "opens /dev/kvm read-write");
	check(open_errno(file, O_RDONLY) == 0, "opens the kernel file read-only");
	check(open_errno(file, O_WRONLY) == EROFS, "cannot write the kernel file (EROFS)");
	check(open_errno(log, O_WRONLY | O_CREAT) == 0, "creates its log in the given directory");
	check(open_errno("/etc/passwd", O_RDONLY) == ENOENT, "no /etc/passwd");
	check(open_errno("/etc", O_RDONLY) == ENOENT, "no /etc");
	check(open_errno(self[0] ? self : "/usr/bin", O_RDONLY) == ENOENT, "not even its own binary");
	check(open_errno("/dev/mem", O_RDONLY) == ENOENT, "no /dev/mem");
	check(open_errno("/sys/kernel", O_RDONLY) == ENOENT, "no /sys");
	if (!seccomp_filter_sanitized())
		check(open_errno("/proc/self/status", O_RDONLY) == ENOENT, "no /proc");
	check(open_errno("/new-file", O_WRONLY | O_CREAT) == EROFS, "the root is read-only");
	check(getuid() == j.uid && geteuid() == j.uid && getgid() == j.gid && getegid() == j.gid,
	      "runs as the given uid and gid");
	check(getgroups(0, NULL) == 0, "no supplementary groups");
	cap_t caps = cap_get_proc(), none = cap_init();
	check(caps && none && cap_compare(caps, none) == 0, "no capabilities");
	cap_free(caps);
	cap_free(none);
	check(!CAP_IS_SUPPORTED(CAP_SYS_ADMIN) || cap_get_bound(CAP_SYS_ADMIN) == 0,
	      "CAP_SYS_ADMIN gone from the bounding set");
	check(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1, "no_new_privs");
	check(getpid() == 1, "first process of its own PID namespace");
	int pdeath = 0;
	check(prctl(PR_GET_PDEATHSIG, &pdeath, 0, 0, 0) == 0 && pdeath == SIGKILL,
	      "dies with its parent (the parent-death signal survives the uid change)");
	check(mount("none", "/", "tmpfs", 0, NULL) < 0 && errno == EPERM, "cannot mount");
	char host[64] = "";
	gethostname(host, sizeof(host));
	check(!strcmp(host, "parma-vmm"), "its own UTS namespace");
	struct if_nameindex *ifs = if_nameindex();
	bool only_lo = ifs != NULL;
	for (struct if_nameindex *i = ifs; i && i->if_index; i++)
		only_lo &= !strcmp(i->if_name, "lo");
	if (ifs)
		if_freenameindex(ifs);
	check(only_lo, "an empty network namespace (lo only)");
	check(setuid(0) < 0, "cannot become root again");
	fflush(stdout);
	return failed;
}
