/* dm: device-mapper through its raw ioctls on /dev/mapper/control (linux/dm-ioctl.h).
 * One target per device: DM_DEV_CREATE, DM_TABLE_LOAD, DM_DEV_SUSPEND (without the suspend
 * flag, i.e. resume) — the same three steps `dmsetup create` takes — and DM_DEV_REMOVE.
 * No udev runs in the guest, so we create /dev/mapper/<name> ourselves from the dev_t the
 * kernel returns. */
#include <errno.h>
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "guest/storage/storage.h"

#define DM_CONTROL "/dev/mapper/control"
#define DM_MAPPER_DIR "/dev/mapper"

/* Header, one target spec and the NUL-terminated params, 8-byte aligned as the kernel wants. */
struct dm_request {
	struct dm_ioctl io;
	struct dm_target_spec spec;
	char params[STORAGE_TABLE_MAX];
} __attribute__((aligned(8)));

static void dm_request_init(struct dm_request *rq, const char *name, uint32_t flags)
{
	memset(rq, 0, sizeof(*rq));
	rq->io.version[0] = DM_VERSION_MAJOR;
	rq->io.version[1] = 0;
	rq->io.version[2] = 0;
	rq->io.data_size = sizeof(rq->io);
	rq->io.data_start = sizeof(rq->io);
	rq->io.flags = flags;
	/* Caller checked the name: <= 127 chars. */
	strncpy(rq->io.name, name, sizeof(rq->io.name) - 1);
}

/* /dev/mapper/control is a misc device; devtmpfs creates it, but make it if it is missing. */
static int dm_control_open(struct errbuf *eb)
{
	int fd = open(DM_CONTROL, O_RDWR | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if (errno == ENOENT) {
		(void)mkdir(DM_MAPPER_DIR, 0755);
		/* misc major 10, device-mapper minor 236 (Documentation/admin-guide/devices.txt) */
		if (mknod(DM_CONTROL, S_IFCHR | 0600, makedev(10, 236)) == 0 || errno == EEXIST)
			fd = open(DM_CONTROL, O_RDWR | O_CLOEXEC);
	}
	if (fd < 0)
		return errbuf_set(eb, errno, DM_CONTROL ": %s (is dm-mod loaded?)", strerror(errno));
	return fd;
}

static int dm_ioctl(int fd, unsigned long cmd, struct dm_request *rq)
{
	int rc;
	do
		rc = ioctl(fd, cmd, rq);
	while (rc < 0 && errno == EINTR);
	return rc < 0 ? -errno : 0;
}

static int node_path(const char *name, char *out, size_t size)
{
	int n = snprintf(out, size, DM_MAPPER_DIR "/%s", name);
	return (n < 0 || (size_t)n >= size) ? -ENAMETOOLONG : 0;
}

/* Make /dev/mapper/<name> a block node for dev; replace a stale entry of the same name. */
static int node_make(const char *name, uint64_t dev, struct errbuf *eb)
{
	char path[STORAGE_PATH_MAX];
	if (node_path(name, path, sizeof(path)) < 0)
		return errbuf_set(eb, ENAMETOOLONG, "%s: path too long", name);
	(void)mkdir(DM_MAPPER_DIR, 0755);
	(void)unlink(path);
	dev_t d = makedev(major((dev_t)dev), minor((dev_t)dev));
	if (mknod(path, S_IFBLK | 0600, d) < 0)
		return errbuf_set(eb, errno, "%s: mknod: %s", path, strerror(errno));
	return 0;
}

static int dm_remove_fd(int fd, const char *name)
{
	struct dm_request rq;
	dm_request_init(&rq, name, 0);
	int rc = dm_ioctl(fd, DM_DEV_REMOVE, &rq);
	char path[STORAGE_PATH_MAX];
	if (rc == 0 && node_path(name, path, sizeof(path)) == 0)
		(void)unlink(path);
	return rc;
}

int storage_dm_create(const char *name, const char *type, uint64_t sectors, const char *params,
		      int read_only, int secret, char *dev_path, size_t dev_path_size,
		      struct errbuf *eb)
{
	struct dm_request rq;
	int rc, fd;

	if ((rc = storage_dm_name_check(name, eb)) < 0)
		return rc;
	if (!type || strnlen(type, DM_MAX_TYPE_NAME) >= DM_MAX_TYPE_NAME)
		return errbuf_set(eb, EINVAL, "%s: bad target type", name);
	if (!params || strnlen(params, STORAGE_TABLE_MAX) >= STORAGE_TABLE_MAX)
		return errbuf_set(eb, EINVAL, "%s: table longer than %u bytes", name,
				  STORAGE_TABLE_MAX - 1);
	if (sectors == 0)
		return errbuf_set(eb, EINVAL, "%s: zero-length table", name);
	if ((fd = dm_control_open(eb)) < 0)
		return fd;

	uint32_t flags = (read_only ? DM_READONLY_FLAG : 0) | (secret ? DM_SECURE_DATA_FLAG : 0);
	dm_request_init(&rq, name, flags);
	if ((rc = dm_ioctl(fd, DM_DEV_CREATE, &rq)) < 0) {
		errbuf_set(eb, -rc, "%s: DM_DEV_CREATE: %s", name, strerror(-rc));
		goto out_close;
	}

	dm_request_init(&rq, name, flags);
	rq.io.target_count = 1;
	rq.io.data_size = sizeof(rq);
	rq.spec.sector_start = 0;
	rq.spec.length = sectors;
	rq.spec.next = 0;
	strncpy(rq.spec.target_type, type, sizeof(rq.spec.target_type) - 1);
	strcpy(rq.params, params);
	rc = dm_ioctl(fd, DM_TABLE_LOAD, &rq);
	explicit_bzero(rq.params, sizeof(rq.params));
	if (rc < 0) {
		errbuf_set(eb, -rc, "%s: DM_TABLE_LOAD (%s): %s", name, type, strerror(-rc));
		goto out_remove;
	}

	dm_request_init(&rq, name, flags); /* no DM_SUSPEND_FLAG: resume = activate the table */
	if ((rc = dm_ioctl(fd, DM_DEV_SUSPEND, &rq)) < 0) {
		errbuf_set(eb, -rc, "%s: DM_DEV_SUSPEND (resume): %s", name, strerror(-rc));
		goto out_remove;
	}
	if ((rc = node_make(name, rq.io.dev, eb)) < 0)
		goto out_remove;
	if (dev_path && node_path(name, dev_path, dev_path_size) < 0) {
		rc = errbuf_set(eb, ENAMETOOLONG, "%s: device path buffer too small", name);
		goto out_remove;
	}
	close(fd);
	return 0;

out_remove:
	(void)dm_remove_fd(fd, name);
out_close:
	close(fd);
	return rc;
}

int storage_dm_remove(const char *name, struct errbuf *eb)
{
	int rc, fd;
	if ((rc = storage_dm_name_check(name, eb)) < 0)
		return rc;
	if ((fd = dm_control_open(eb)) < 0)
		return fd;
	rc = dm_remove_fd(fd, name);
	close(fd);
	if (rc < 0)
		return errbuf_set(eb, -rc, "%s: DM_DEV_REMOVE: %s", name, strerror(-rc));
	return 0;
}
