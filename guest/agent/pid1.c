/* pid1: kernel file systems, modules and the transport for parma-agent as the guest's init. */
#include "guest/agent/pid1.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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
		    errno != EBUSY && !(mounts[i].optional && errno == ENODEV))
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
