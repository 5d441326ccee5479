/* mount: layers (dm-verity + erofs), encrypted scratch (dm-crypt + ext4), overlay rootfs. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fileio.h"
#include "guest/storage/storage.h"

int storage_block_size(const char *device, uint64_t *bytes, struct errbuf *eb)
{
	int fd = open(device, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errbuf_set(eb, errno, "%s: %s", device, strerror(errno));
	int rc = ioctl(fd, BLKGETSIZE64, bytes) < 0 ? -errno : 0;
	close(fd);
	if (rc < 0)
		return errbuf_set(eb, -rc, "%s: BLKGETSIZE64: %s", device, strerror(-rc));
	return 0;
}

/* "MAJOR:MINOR" of a block device, so the table names the device we checked, not a path. */
static int device_numbers(const char *device, char *out, size_t size, struct errbuf *eb)
{
	struct stat st;
	if (stat(device, &st) < 0)
		return errbuf_set(eb, errno, "%s: %s", device, strerror(errno));
	if (!S_ISBLK(st.st_mode))
		return errbuf_set(eb, ENOTBLK, "%s: not a block device", device);
	snprintf(out, size, "%u:%u", major(st.st_rdev), minor(st.st_rdev));
	return 0;
}

/* exact: the data must end exactly at the superblock (the layer format), not just before. */
static int verity_open_at(const char *name, const char *device, uint64_t sb_offset, int exact,
			  const uint8_t root_hash[STORAGE_VERITY_ROOT_LEN], char *dev_path,
			  size_t dev_path_size, struct errbuf *eb)
{
	struct storage_verity v;
	struct storage_verity_sb sb;
	uint8_t block[STORAGE_VERITY_SB_SIZE];
	char table[STORAGE_TABLE_MAX];
	uint64_t size, sectors;
	int rc, fd;

	memset(&v, 0, sizeof(v));
	if ((rc = storage_dm_name_check(name, eb)) < 0 ||
	    (rc = storage_device_check(device, eb)) < 0)
		return rc;
	if (sb_offset % STORAGE_VERITY_BLOCK_SIZE)
		return errbuf_set(eb, EINVAL, "%s: verity superblock offset %llu is not 4096-aligned",
				  device, (unsigned long long)sb_offset);
	if ((rc = device_numbers(device, v.data_dev, sizeof(v.data_dev), eb)) < 0 ||
	    (rc = storage_block_size(device, &size, eb)) < 0)
		return rc;
	if (size < STORAGE_VERITY_BLOCK_SIZE || sb_offset > size - STORAGE_VERITY_BLOCK_SIZE)
		return errbuf_set(eb, EINVAL, "%s: verity superblock at %llu is beyond the %llu-byte device",
				  device, (unsigned long long)sb_offset, (unsigned long long)size);

	if ((fd = open(device, O_RDONLY | O_CLOEXEC)) < 0)
		return errbuf_set(eb, errno, "%s: %s", device, strerror(errno));
	ssize_t got = pread(fd, block, sizeof(block), (off_t)sb_offset);
	rc = got < 0 ? -errno : 0;
	close(fd);
	if (rc < 0)
		return errbuf_set(eb, -rc, "%s: reading the verity superblock: %s", device, strerror(-rc));
	if ((rc = storage_verity_sb_parse(block, (size_t)got, &sb, eb)) < 0) {
		errbuf_prefix(eb, "%s", device);
		return rc;
	}
	/* The data must end before the superblock; the tree (after the superblock) must be there. */
	if (sb.data_blocks > sb_offset / STORAGE_VERITY_BLOCK_SIZE)
		return errbuf_set(eb, EINVAL, "%s: verity data (%llu blocks) overlaps its superblock",
				  device, (unsigned long long)sb.data_blocks);
	if (exact && sb.data_blocks != sb_offset / STORAGE_VERITY_BLOCK_SIZE)
		return errbuf_set(eb, EINVAL,
				  "%s: verity superblock covers %llu blocks, the erofs image has %llu",
				  device, (unsigned long long)sb.data_blocks,
				  (unsigned long long)(sb_offset / STORAGE_VERITY_BLOCK_SIZE));

	strcpy(v.hash_dev, v.data_dev);
	v.data_blocks = sb.data_blocks;
	v.hash_start_block = sb_offset / STORAGE_VERITY_BLOCK_SIZE + 1;
	memcpy(v.root_hash, root_hash, STORAGE_VERITY_ROOT_LEN);
	memcpy(v.salt, sb.salt, sb.salt_len);
	v.salt_len = sb.salt_len;
	if ((rc = storage_verity_table(&v, table, sizeof(table), &sectors, eb)) < 0)
		return rc;
	rc = storage_dm_create(name, "verity", sectors, table, 1, 0, dev_path, dev_path_size, eb);
	if (rc < 0)
		errbuf_prefix(eb, "%s", device);
	return rc;
}

int storage_layer_open(const char *name, const char *device,
		       const uint8_t root_hash[STORAGE_VERITY_ROOT_LEN], char *dev_path,
		       size_t dev_path_size, struct errbuf *eb)
{
	uint8_t head[2048];
	uint64_t blocks;
	int rc;

	if ((rc = storage_device_check(device, eb)) < 0)
		return rc;
	int fd = open(device, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errbuf_set(eb, errno, "%s: %s", device, strerror(errno));
	ssize_t got = pread(fd, head, sizeof(head), 0);
	rc = got < 0 ? -errno : 0;
	close(fd);
	if (rc < 0)
		return errbuf_set(eb, -rc, "%s: %s", device, strerror(-rc));
	if ((rc = storage_erofs_sb_blocks(head, (size_t)got, &blocks, eb)) < 0) {
		errbuf_prefix(eb, "%s", device);
		return rc;
	}
	/* storage_verity_open checks the verity superblock's block count against this offset;
	 * the layer format has them equal, a smaller count would only hide data. */
	return verity_open_at(name, device, blocks * STORAGE_VERITY_BLOCK_SIZE, 1, root_hash,
			      dev_path, dev_path_size, eb);
}

int storage_verity_open(const char *name, const char *device, uint64_t sb_offset,
			const uint8_t root_hash[STORAGE_VERITY_ROOT_LEN], char *dev_path,
			size_t dev_path_size, struct errbuf *eb)
{
	return verity_open_at(name, device, sb_offset, 0, root_hash, dev_path, dev_path_size, eb);
}

static int mkdir_target(const char *target, struct errbuf *eb)
{
	int rc = mkdir_p(target, 0755);
	if (rc < 0)
		return errbuf_set(eb, -rc, "%s: mkdir: %s", target, strerror(-rc));
	return 0;
}

int storage_erofs_mount(const char *dev_path, const char *target, struct errbuf *eb)
{
	int rc;
	if ((rc = storage_device_check(dev_path, eb)) < 0 || (rc = mkdir_target(target, eb)) < 0)
		return rc;
	if (mount(dev_path, target, "erofs", MS_RDONLY | MS_NODEV, NULL) < 0)
		return errbuf_set(eb, errno, "%s: mount erofs on %s: %s", dev_path, target,
				  strerror(errno));
	return 0;
}

int storage_layer_mount(const char *name, const char *device,
			const uint8_t root_hash[STORAGE_VERITY_ROOT_LEN], const char *target,
			struct errbuf *eb)
{
	char dev[STORAGE_PATH_MAX];
	int rc = storage_layer_open(name, device, root_hash, dev, sizeof(dev), eb);
	if (rc < 0)
		return rc;
	if ((rc = storage_erofs_mount(dev, target, eb)) < 0)
		(void)storage_dm_remove(name, NULL);
	return rc;
}

int storage_layer_unmount(const char *name, const char *target, struct errbuf *eb)
{
	int rc = storage_unmount(target, eb);
	if (rc < 0)
		return rc;
	return storage_dm_remove(name, eb);
}

/* Run mkfs.ext4 with a fixed argv and an empty environment; its output goes nowhere (the
 * console is the host's). Journal off: scratch dies with the VM, so a journal only costs
 * writes; lazy init: the kernel initialises inode tables on demand. */
static int run_mkfs(const char *mkfs_path, const char *device, struct errbuf *eb)
{
	char *const argv[] = { (char *)mkfs_path, "-q", "-F", "-O", "^has_journal",
			       "-E", "lazy_itable_init=1,nodiscard", "-m", "0",
			       (char *)device, NULL };
	char *const envp[] = { NULL };
	pid_t pid = fork();
	if (pid < 0)
		return errbuf_set(eb, errno, "fork for %s: %s", mkfs_path, strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		execve(mkfs_path, argv, envp);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return errbuf_set(eb, errno, "waitpid %s: %s", mkfs_path, strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return errbuf_set(eb, EIO, "%s %s: failed (status %d)", mkfs_path, device, status);
	return 0;
}

int storage_scratch_open(const char *name, const char *device, int encrypted, const char *mkfs_path,
			 const char *target, struct errbuf *eb)
{
	char table[STORAGE_TABLE_MAX];
	char numbers[32];
	char mapped[STORAGE_PATH_MAX];
	uint8_t key[STORAGE_CRYPT_KEY_LEN];
	const char *fs_dev = device;
	uint64_t size;
	int rc;

	if ((rc = storage_device_check(device, eb)) < 0 || (rc = mkdir_target(target, eb)) < 0)
		return rc;
	if (!mkfs_path || mkfs_path[0] != '/')
		return errbuf_set(eb, EINVAL, "scratch: mkfs path must be absolute");
	if (encrypted) {
		if ((rc = storage_dm_name_check(name, eb)) < 0 ||
		    (rc = device_numbers(device, numbers, sizeof(numbers), eb)) < 0 ||
		    (rc = storage_block_size(device, &size, eb)) < 0)
			return rc;
		if (size < 1024 * 1024)
			return errbuf_set(eb, EINVAL, "%s: scratch smaller than 1 MiB", device);
		/* getrandom blocks until the kernel RNG is seeded; 64 bytes never return short. */
		if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key))
			return errbuf_set(eb, EIO, "getrandom: %s", strerror(errno));
		rc = storage_crypt_table(numbers, key, table, sizeof(table), eb);
		explicit_bzero(key, sizeof(key));
		if (rc < 0)
			return rc;
		rc = storage_dm_create(name, "crypt", size / 512, table, 0, 1, mapped, sizeof(mapped),
				       eb);
		explicit_bzero(table, sizeof(table));
		if (rc < 0)
			return rc;
		fs_dev = mapped;
	}
	if ((rc = run_mkfs(mkfs_path, fs_dev, eb)) < 0)
		goto fail;
	if (mount(fs_dev, target, "ext4", MS_NODEV | MS_NOSUID, "noinit_itable") < 0) {
		rc = errbuf_set(eb, errno, "%s: mount ext4 on %s: %s", fs_dev, target,
				strerror(errno));
		goto fail;
	}
	return 0;
fail:
	if (encrypted)
		(void)storage_dm_remove(name, NULL);
	return rc;
}

int storage_overlay_mount(const char *const *lowers, size_t n_lowers, const char *upper,
			  const char *work, const char *target, struct errbuf *eb)
{
	char options[4096]; /* mount(2) copies at most one page of options */
	int rc = storage_overlay_options(lowers, n_lowers, upper, work, options, sizeof(options), eb);
	if (rc < 0 || (rc = mkdir_target(target, eb)) < 0)
		return rc;
	if (upper && ((rc = mkdir_target(upper, eb)) < 0 || (rc = mkdir_target(work, eb)) < 0))
		return rc;
	if (mount("overlay", target, "overlay", upper ? 0 : MS_RDONLY, options) < 0)
		return errbuf_set(eb, errno, "mount overlay on %s: %s", target, strerror(errno));
	return 0;
}

int storage_unmount(const char *target, struct errbuf *eb)
{
	if (umount2(target, UMOUNT_NOFOLLOW) < 0)
		return errbuf_set(eb, errno, "umount %s: %s", target, strerror(errno));
	return 0;
}
