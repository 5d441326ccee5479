/* storage_probe: PID 1 of a test initrd that exercises guest/storage in the real guest kernel
 * (the host kernel has no device-mapper). Driven by test_storage.c, which prepares the disks:
 *   /dev/vda  layer image (erofs + appended dm-verity tree, superblock at parma.sboff)
 *   /dev/vdb  the same image with one byte of big.txt flipped
 *   /dev/vdc  scratch (zeros)
 *   /dev/vdd  the image's busybox layer (parma.root0=<hex>)
 * and passes parma.root=<hex root hash> parma.sboff=<bytes> on the kernel command line.
 * Last, crun from the initrd runs a container on an overlay of both layers, to show the
 * initrd's crun and its libraries work in the guest.
 * Each check prints one "PROBE <name> <result>" line on the console; the host asserts them.
 * This is test code: it loads modules itself (the agent does that in the real image). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/encoding.h"
#include "guest/storage/storage.h"

#define MARKER "PARMA-SCRATCH-MARKER-7f3a9c"
#define BIG_LINES 4096

static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("PROBE ");
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
}

static void load_modules(void)
{
	FILE *f = fopen("/etc/parma/modules.load", "r");
	char line[512];
	int loaded = 0, failed = 0;
	if (!f) {
		say("modules missing-list");
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		int fd = open(line, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || syscall(SYS_finit_module, fd, "", 0) < 0) {
			/* ENODEV: hardware absent (aesni without AES-NI); EEXIST: already there */
			if (errno != EEXIST && errno != ENODEV) {
				failed++;
				printf("module %s: %s\n", line, strerror(errno));
			}
		} else {
			loaded++;
		}
		if (fd >= 0)
			close(fd);
	}
	fclose(f);
	say("modules loaded=%d failed=%d", loaded, failed);
}

static const char *cmdline_value(const char *cmdline, const char *key, char *out, size_t size)
{
	const char *p = strstr(cmdline, key);
	if (!p)
		return NULL;
	p += strlen(key);
	size_t n = strcspn(p, " \n");
	if (n >= size)
		return NULL;
	memcpy(out, p, n);
	out[n] = 0;
	return out;
}

/* Entries in a directory (the request queues the virtio-blk driver set up), -errno if none. */
static int count_entries(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return -errno;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void wait_for(const char *path)
{
	for (int i = 0; i < 500 && access(path, F_OK) != 0; i++)
		usleep(10000);
}

/* Read big.txt through path and compare it with the pattern the host wrote: returns 0 if all
 * of it matched, -errno of the first failed read, or 1 if a read returned altered bytes. */
static int read_big(const char *path, size_t *good_bytes)
{
	char expect[32], got[32];
	*good_bytes = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = 0;
	for (int i = 0; i < BIG_LINES && rc == 0; i++) {
		int len = snprintf(expect, sizeof(expect), "BIGFILE-LINE-%06d\n", i);
		/* read() may stop short at a block boundary before the bad block fails */
		ssize_t n = 0;
		while (n < len) {
			ssize_t r = read(fd, got + n, (size_t)(len - n));
			if (r <= 0) {
				rc = r < 0 ? -errno : 1;
				break;
			}
			n += r;
		}
		if (memcmp(got, expect, (size_t)n))
			rc = 1; /* bytes that differ from what the host wrote: must never happen */
		else if (rc == 0)
			*good_bytes += (size_t)n;
	}
	close(fd);
	return rc;
}

static int write_marker(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int rc = 0;
	for (int i = 0; i < 256 && rc == 0; i++)
		if (write(fd, MARKER "\n", sizeof(MARKER)) != (ssize_t)sizeof(MARKER))
			rc = -errno;
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static void check_layer(const uint8_t root[32], uint64_t sboff)
{
	struct errbuf eb = { 0 };
	char dev[STORAGE_PATH_MAX], buf[64];
	size_t good;

	/* the layer format: data size from the erofs superblock, as the agent may use it */
	int rc = storage_layer_open("layer0", "/dev/vda", root, dev, sizeof(dev), &eb);
	say("verity_open rc=%d dev=%s %s", rc, rc ? "-" : dev, rc ? errbuf_msg(&eb) : "");
	rc = storage_erofs_mount(dev, "/layers/0", &eb);
	say("erofs_mount rc=%d %s", rc, rc ? errbuf_msg(&eb) : "");
	/* the same disk mapped a second time with the offset given explicitly */
	rc = storage_layer_mount("layer0b", "/dev/vda", root, "/layers/0b", &eb);
	say("layer_mount_explicit rc=%d", rc == 0 ? storage_layer_unmount("layer0b", "/layers/0b", &eb) : rc);
	rc = storage_verity_open("layer0c", "/dev/vda", sboff, root, dev, sizeof(dev), &eb);
	say("verity_open_sboff rc=%d", rc == 0 ? storage_dm_remove("layer0c", &eb) : rc);
	FILE *f = fopen("/layers/0/data/hello.txt", "r");
	if (f && fgets(buf, sizeof(buf), f)) {
		buf[strcspn(buf, "\n")] = 0;
		say("hello text=%s", buf);
	} else {
		say("hello text=-");
	}
	if (f)
		fclose(f);
	rc = read_big("/layers/0/data/big.txt", &good);
	say("big_good rc=%d bytes=%zu", rc, good);

	/* a root hash the policy does not name: every read fails, so the mount does */
	uint8_t wrong[32];
	memcpy(wrong, root, 32);
	wrong[0] ^= 1;
	rc = storage_verity_open("wrongroot", "/dev/vda", sboff, wrong, dev, sizeof(dev), &eb);
	int mrc = rc == 0 ? storage_erofs_mount(dev, "/layers/wrong", &eb) : rc;
	say("wrong_root open=%d mount=%d", rc, mrc);
	if (mrc == 0)
		storage_unmount("/layers/wrong", NULL);
	if (rc == 0)
		say("wrong_root remove=%d", storage_dm_remove("wrongroot", &eb));

	/* one flipped byte in big.txt's data: the mount works, reading that block gives EIO */
	rc = storage_verity_open("flipped", "/dev/vdb", sboff, root, dev, sizeof(dev), &eb);
	mrc = rc == 0 ? storage_erofs_mount(dev, "/layers/flipped", &eb) : rc;
	/* a scratch-like disk (zeros) is not a layer: refused before device-mapper */
	say("not_a_layer rc=%d", storage_layer_open("zeros", "/dev/vdc", root, buf, sizeof(buf), &eb));
	say("flipped open=%d mount=%d", rc, mrc);
	if (mrc == 0) {
		rc = read_big("/layers/flipped/data/big.txt", &good);
		say("flipped_read rc=%d bytes=%zu", rc, good);
		storage_unmount("/layers/flipped", NULL);
	}
	storage_dm_remove("flipped", NULL);

	/* bad inputs are refused before anything reaches the kernel */
	say("bad_name rc=%d", storage_verity_open("a b", "/dev/vda", sboff, root, dev, sizeof(dev), &eb));
	say("bad_sboff rc=%d", storage_verity_open("x", "/dev/vda", sboff + 1, root, dev, sizeof(dev), &eb));
	say("past_end rc=%d", storage_verity_open("x", "/dev/vda", sboff + (1ull << 40), root, dev,
						 sizeof(dev), &eb));
}

static void check_scratch(void)
{
	struct errbuf eb = { 0 };
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = storage_scratch_open("scratch", "/dev/vdc", 1, "/sbin/mkfs.ext4", "/scratch", &eb);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	say("scratch_open rc=%d ms=%ld %s", rc,
	    (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000),
	    rc ? errbuf_msg(&eb) : "");
	if (rc)
		return;
	const char *lowers[] = { "/layers/0" };
	rc = storage_overlay_mount(lowers, 1, "/scratch/c0/upper", "/scratch/c0/work", "/run/c0/rootfs",
				   &eb);
	say("overlay rc=%d %s", rc, rc ? errbuf_msg(&eb) : "");
	if (rc == 0) {
		char buf[64] = "";
		FILE *f = fopen("/run/c0/rootfs/data/hello.txt", "r");
		if (f && fgets(buf, sizeof(buf), f))
			buf[strcspn(buf, "\n")] = 0;
		if (f)
			fclose(f);
		say("overlay_hello text=%s", buf[0] ? buf : "-");
		say("marker rc=%d", write_marker("/run/c0/rootfs/marker.txt"));
		struct stat st;
		say("upper_has_marker rc=%d", stat("/scratch/c0/upper/marker.txt", &st) == 0 ? 0 : -errno);
		say("overlay_umount rc=%d", storage_unmount("/run/c0/rootfs", &eb));
	}
	sync();
	say("scratch_umount rc=%d", storage_unmount("/scratch", &eb));
	say("scratch_remove rc=%d", storage_dm_remove("scratch", &eb));
}

/* A minimal OCI config (the shape of `crun spec`'s default) for /bin/sh -c SCRIPT on rootfs. */
static int write_config(const char *path, const char *rootfs, const char *script)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f,
		"{\"ociVersion\":\"1.0.0\",\"process\":{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},"
		"\"args\":[\"/bin/sh\",\"-c\",\"%s\"],\"env\":[\"PATH=/bin\"],\"cwd\":\"/\","
		"\"noNewPrivileges\":true},\"root\":{\"path\":\"%s\",\"readonly\":false},"
		"\"hostname\":\"probe\",\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\","
		"\"source\":\"proc\"},{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
		"\"options\":[\"nosuid\",\"mode=755\"]}],\"linux\":{\"namespaces\":[{\"type\":\"pid\"},"
		"{\"type\":\"mount\"},{\"type\":\"ipc\"},{\"type\":\"uts\"}]}}\n",
		script, rootfs);
	return fclose(f) == 0 ? 0 : -EIO;
}

static void check_crun(const uint8_t root0[32])
{
	struct errbuf eb = { 0 };
	int rc = storage_layer_mount("busybox", "/dev/vdd", root0, "/layers/bb", &eb);
	say("busybox_layer rc=%d %s", rc, rc ? errbuf_msg(&eb) : "");
	if (rc)
		return;
	rc = storage_scratch_open("scratch2", "/dev/vdc", 1, "/sbin/mkfs.ext4", "/scratch", &eb);
	const char *lowers[] = { "/layers/bb", "/layers/0" };
	if (rc == 0)
		rc = storage_overlay_mount(lowers, 2, "/scratch/c1/upper", "/scratch/c1/work",
					   "/run/c1/rootfs", &eb);
	say("crun_rootfs rc=%d %s", rc, rc ? errbuf_msg(&eb) : "");
	if (rc)
		return;
	mkdir("/sys/fs/cgroup", 0755);
	mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, NULL);
	rc = write_config("/run/c1/config.json", "/run/c1/rootfs",
			  "cat /data/hello.txt; echo crun-ok-$((6*7))");
	pid_t pid = fork();
	if (pid == 0) {
		char *const argv[] = { "/usr/bin/crun", "--root", "/run/crun", "run", "--bundle",
				       "/run/c1", "probe-c1", NULL };
		char *const envp[] = { NULL };
		execve(argv[0], argv, envp);
		_exit(127);
	}
	int status = -1;
	if (pid > 0)
		waitpid(pid, &status, 0);
	say("crun rc=%d status=%d", rc, status);
	/* teardown in reverse: overlay, scratch, busybox layer */
	rc = storage_unmount("/run/c1/rootfs", &eb);
	if (rc == 0)
		rc = storage_unmount("/scratch", &eb);
	if (rc == 0)
		rc = storage_dm_remove("scratch2", &eb);
	if (rc == 0)
		rc = storage_layer_unmount("busybox", "/layers/bb", &eb);
	say("crun_teardown rc=%d %s", rc, rc ? errbuf_msg(&eb) : "");
}

int main(void)
{
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	load_modules();

	char cmdline[4096] = "", hex[80], num[32];
	FILE *f = fopen("/proc/cmdline", "r");
	if (f) {
		if (!fgets(cmdline, sizeof(cmdline), f))
			cmdline[0] = 0;
		fclose(f);
	}
	uint8_t root[32];
	if (!cmdline_value(cmdline, "parma.root=", hex, sizeof(hex)) || hex_decode(hex, root, 32) ||
	    !cmdline_value(cmdline, "parma.sboff=", num, sizeof(num))) {
		say("args missing");
	} else {
		wait_for("/dev/vda");
		say("blk_queues vda=%d", count_entries("/sys/block/vda/mq"));
		wait_for("/dev/vdb");
		wait_for("/dev/vdc");
		check_layer(root, strtoull(num, NULL, 10));
		check_scratch();
		uint8_t root0[32];
		if (cmdline_value(cmdline, "parma.root0=", hex, sizeof(hex)) && !hex_decode(hex, root0, 32)) {
			wait_for("/dev/vdd");
			check_crun(root0);
		}
		struct errbuf eb = { 0 };
		say("layer_umount rc=%d", storage_unmount("/layers/0", &eb));
		say("layer_remove rc=%d", storage_dm_remove("layer0", &eb));
		say("remove_again rc=%d", storage_dm_remove("layer0", &eb));
	}
	say("done");
	sync();
	reboot(RB_POWER_OFF);
	return 0;
}
