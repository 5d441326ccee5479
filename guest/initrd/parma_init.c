/* parma-init: /init of the guest initrd. Makes a tmpfs the root and execs /sbin/parma-agent.
 *
 * Why: the kernel unpacks the initrd into "rootfs", the root of the whole mount tree, and
 * pivot_root(2) refuses to move a process whose root is on rootfs (EINVAL). crun pivot_roots
 * into every container; its --no-pivot fallback (MS_MOVE + chroot) leaves the guest's real root
 * reachable from a container that can chroot, which a confidential guest must not allow. So,
 * as switch_root does: copy the initrd's files onto a tmpfs (removing each original as it is
 * copied, so memory is not doubled), move that tmpfs over "/", chroot into it, and exec the
 * agent, which stays PID 1. Small and dependency-free on purpose: it is part of the measured
 * initrd and runs before anything else.
 *
 * On failure it says why on the console and powers the VM off (PID 1 must not exit). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define NEW_ROOT "/.parma-root"
#define AGENT "/sbin/parma-agent"
#define PATH_LEN 4096

static void fail(const char *what, int err)
{
	int fd = open("/dev/console", O_WRONLY | O_NOCTTY);
	if (fd >= 0) {
		dprintf(fd, "parma-init: %s: %s\n", what, strerror(err));
		close(fd);
	}
	sync();
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}

static int copy_file(int sfd, const char *src, const char *dst, mode_t mode)
{
	int in = openat(sfd, src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in < 0)
		return -errno;
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777);
	if (out < 0) {
		int e = errno;
		close(in);
		return -e;
	}
	char buf[65536];
	ssize_t n;
	int rc = 0;
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0) {
				rc = -errno;
				goto done;
			}
			off += w;
		}
	}
	if (n < 0)
		rc = -errno;
done:
	close(in);
	if (close(out) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* Move the tree at src (an open directory) into the directory dst, depth first. */
static int move_tree(int sfd, const char *dst)
{
	DIR *dir = fdopendir(sfd);
	if (!dir)
		return -errno;
	struct dirent *de;
	int rc = 0;
	while (rc == 0 && (de = readdir(dir))) {
		const char *name = de->d_name;
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (!strcmp(dst, NEW_ROOT) && !strcmp(name, &NEW_ROOT[1]))
			continue; /* the new root itself */
		char path[PATH_LEN];
		struct stat st;
		if (snprintf(path, sizeof(path), "%s/%s", dst, name) >= (int)sizeof(path))
			return -ENAMETOOLONG;
		if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		if (S_ISDIR(st.st_mode)) {
			if (mkdir(path, st.st_mode & 07777) < 0)
				return -errno;
			int sub = openat(sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				return -errno;
			rc = move_tree(sub, path); /* closes sub */
			if (rc == 0 && unlinkat(sfd, name, AT_REMOVEDIR) < 0)
				rc = -errno;
			continue;
		}
		if (S_ISREG(st.st_mode)) {
			rc = copy_file(sfd, name, path, st.st_mode);
		} else if (S_ISLNK(st.st_mode)) {
			char target[PATH_LEN];
			ssize_t n = readlinkat(sfd, name, target, sizeof(target) - 1);
			if (n < 0)
				return -errno;
			target[n] = 0;
			rc = symlink(target, path) < 0 ? -errno : 0;
		} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
			rc = mknod(path, st.st_mode, st.st_rdev) < 0 ? -errno : 0;
		} else {
			continue; /* fifos and sockets are not in our initrd */
		}
		if (rc == 0 && unlinkat(sfd, name, 0) < 0)
			rc = -errno;
	}
	closedir(dir);
	return rc;
}

int main(int argc, char **argv)
{
	(void)argc;
	if (getpid() == 1) {
		if (mkdir(NEW_ROOT, 0755) < 0 && errno != EEXIST)
			fail("mkdir " NEW_ROOT, errno);
		if (mount("tmpfs", NEW_ROOT, "tmpfs", MS_NOSUID, "mode=0755") < 0)
			fail("mount tmpfs", errno);
		int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (root < 0)
			fail("open /", errno);
		int rc = move_tree(root, NEW_ROOT);
		if (rc < 0)
			fail("moving the initrd onto tmpfs", -rc);
		if (chdir(NEW_ROOT) < 0)
			fail("chdir", errno);
		if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
			fail("move the new root over /", errno);
		if (chroot(".") < 0 || chdir("/") < 0)
			fail("chroot", errno);
	}
	argv[0] = AGENT;
	execv(AGENT, argv); /* the kernel's environment for init passes through */
	fail("exec " AGENT, errno);
	return 1;
}
