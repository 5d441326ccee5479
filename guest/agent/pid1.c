/* pid1: kernel file systems, modules and the transport for parma-agent as the guest's init. */
#include "guest/agent/pid1.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "common/fileio.h"
#include "guest/proto/proto.h"

static void warnf(void (*warn)(const char *), const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void warnf(void (*warn)(const char *), const char *fmt, ...)
{
	char msg[300];
	va_list ap;
	if (!warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	warn(msg);
}

#define NEW_ROOT "/.parma-root"
#define RAMFS_MAGIC_ 0x858458f6
#define TMPFS_MAGIC_ 0x01021994

static int copy_file(int sfd, const char *dst, mode_t mode)
{
	int dfd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777);
	if (dfd < 0)
		return -errno;
	char buf[65536];
	ssize_t n;
	int ret = 0;
	while ((n = read(sfd, buf, sizeof(buf))) > 0)
		if ((ret = write_full(dfd, buf, (size_t)n)) < 0)
			break;
	if (n < 0)
		ret = -errno;
	close(dfd);
	return ret;
}

/* Move the tree at src (a directory on the initramfs) to dst, file by file (copy, then unlink
 * the original so memory use stays flat). */
static int move_tree(const char *src, const char *dst, void (*warn)(const char *))
{
	DIR *d = opendir(src[0] ? src : "/"); /* src "" is the root: paths become "/name" */
	struct dirent *e;
	int failed = 0;
	if (!d) {
		warnf(warn, "switch root: %s: %s", src[0] ? src : "/", strerror(errno));
		return 1;
	}
	while ((e = readdir(d))) {
		char s[4096], t[4096];
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(s, sizeof(s), "%s/%s", src, e->d_name);
		snprintf(t, sizeof(t), "%s/%s", dst, e->d_name);
		if (!strcmp(s, NEW_ROOT) || lstat(s, &st) < 0)
			continue;
		int ret = 0;
		if (S_ISDIR(st.st_mode)) {
			if (mkdir(t, st.st_mode & 07777) < 0 && errno != EEXIST)
				ret = -errno;
			else
				failed += move_tree(s, t, warn);
			rmdir(s);
		} else if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t n = readlink(s, target, sizeof(target) - 1);
			if (n < 0)
				ret = -errno;
			else {
				target[n] = 0;
				ret = symlink(target, t) < 0 ? -errno : 0;
			}
			unlink(s);
		} else if (S_ISREG(st.st_mode)) {
			int fd = open(s, O_RDONLY | O_CLOEXEC);
			ret = fd < 0 ? -errno : copy_file(fd, t, st.st_mode);
			if (fd >= 0)
				close(fd);
			unlink(s);
		} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
			ret = mknod(t, st.st_mode, st.st_rdev) < 0 ? -errno : 0;
			unlink(s);
		}
		if (ret < 0) {
			warnf(warn, "switch root: %s: %s", s, strerror(-ret));
			failed++;
		}
	}
	closedir(d);
	return failed;
}

int pid1_switch_root(void (*warn)(const char *msg))
{
	struct statfs sf;
	if (statfs("/", &sf) < 0)
		return -errno;
	if (sf.f_type != RAMFS_MAGIC_ && sf.f_type != TMPFS_MAGIC_)
		return 0; /* not an initramfs root */
	if (mkdir(NEW_ROOT, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (mount("tmpfs", NEW_ROOT, "tmpfs", 0, "mode=0755") < 0)
		return -errno;
	if (move_tree("", NEW_ROOT, warn))
		warnf(warn, "switch root: some files could not be moved");
	if (chdir(NEW_ROOT) < 0 || mount(NEW_ROOT, "/", NULL, MS_MOVE, NULL) < 0 ||
	    chroot(".") < 0 || chdir("/") < 0) {
		int e = errno;
		warnf(warn, "switch root: %s", strerror(e));
		return -e;
	}
	return 0;
}

static const struct {
	const char *source, *target, *type;
	unsigned long flags;
	const char *data;
	int optional;
} mounts[] = {
	{ "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0 },
	{ "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0 },
	{ "devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755", 0 },
	{ "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666", 1 },
	{ "shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", 1 },
	{ "tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755", 0 },
	{ "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", 1 },
	{ "cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0 },
	{ "configfs", "/sys/kernel/config", "configfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 1 },
};

void pid1_mount_all(void (*warn)(const char *msg))
{
	for (size_t i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++) {
		mkdir_p(mounts[i].target, 0755);
		if (mount(mounts[i].source, mounts[i].target, mounts[i].type, mounts[i].flags,
			  mounts[i].data) < 0 &&
		    errno != EBUSY && !(mounts[i].optional && (errno == ENODEV || errno == ENOENT)))
			warnf(warn, "mount %s on %s: %s", mounts[i].type, mounts[i].target,
			      strerror(errno));
	}
}

int pid1_load_modules(const char *list, void (*warn)(const char *msg))
{
	uint8_t *data;
	size_t len;
	int failed = 0;
	if (file_read_all(list, 1 << 20, &data, &len, NULL) < 0)
		return 0; /* no list: a kernel with everything built in */
	char *save = NULL;
	for (char *line = strtok_r((char *)data, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		int fd = open(line, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			warnf(warn, "module %s: %s", line, strerror(errno));
			failed++;
			continue;
		}
		if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST &&
		    errno != ENODEV) {
			warnf(warn, "module %s: %s", line, strerror(errno));
			failed++;
		}
		close(fd);
	}
	free(data);
	return failed;
}

void pid1_enable_cgroup_controllers(void (*warn)(const char *msg))
{
	static const char *const ctl[] = { "+cpu", "+memory", "+pids", "+io", "+cpuset" };
	for (size_t i = 0; i < sizeof(ctl) / sizeof(ctl[0]); i++) {
		int fd = open("/sys/fs/cgroup/cgroup.subtree_control", O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return;
		if (write(fd, ctl[i], strlen(ctl[i])) < 0 && errno != ENOENT && errno != EINVAL)
			warnf(warn, "cgroup controller %s: %s", ctl[i] + 1, strerror(errno));
		close(fd);
	}
}

/* Containers share the guest's network namespace (a group is one pod), so the loopback
 * interface is what lets them talk to each other; the kernel leaves it down. */
void pid1_loopback_up(void (*warn)(const char *msg))
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		warnf(warn, "loopback: socket: %s", strerror(errno));
		return;
	}
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		warnf(warn, "loopback: %s", strerror(errno));
	} else {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			warnf(warn, "loopback up: %s", strerror(errno));
	}
	close(fd);
}

/* /sys/class/virtio-ports/vportNpM/name == "parma.agent" → /dev/vportNpM. */
static int find_serial_port(char *path, size_t size)
{
	DIR *d = opendir("/sys/class/virtio-ports");
	struct dirent *e;
	int found = 0;
	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		char name_path[300];
		uint8_t *name;
		size_t len;
		if (e->d_name[0] == '.')
			continue;
		snprintf(name_path, sizeof(name_path), "/sys/class/virtio-ports/%s/name",
			 e->d_name);
		if (file_read_all(name_path, 256, &name, &len, NULL) < 0)
			continue;
		while (len && (name[len - 1] == '\n' || name[len - 1] == 0))
			len--;
		if (len == strlen(PROTO_SERIAL_PORT_NAME) &&
		    !memcmp(name, PROTO_SERIAL_PORT_NAME, len)) {
			snprintf(path, size, "/dev/%s", e->d_name);
			found = 1;
		}
		free(name);
	}
	closedir(d);
	return found;
}

static int vsock_listen(void)
{
	int dev = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
	unsigned int cid = VMADDR_CID_ANY;
	if (dev < 0)
		return -ENODEV;
	/* Without a transport device the local CID is VMADDR_CID_ANY: nobody can connect. */
	int r = ioctl(dev, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid);
	close(dev);
	if (r < 0 || cid == VMADDR_CID_ANY || cid <= VMADDR_CID_HOST)
		return -ENODEV;
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
				  .svm_port = PROTO_VSOCK_PORT };
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

int pid1_transport_open(int *listen_fd, const char **kind, char *path, size_t size)
{
	*listen_fd = -1;
	if (find_serial_port(path, size)) {
		*kind = "virtio-serial";
		int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		return fd < 0 ? -EAGAIN : fd;
	}
	int l = vsock_listen();
	if (l >= 0) {
		*kind = "vsock";
		snprintf(path, size, "vsock port %u", PROTO_VSOCK_PORT);
		*listen_fd = l;
		return 0;
	}
	return -EAGAIN;
}
