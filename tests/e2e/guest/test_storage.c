/* storage_guest_verity_crypt: guest/storage in the real guest kernel, one QEMU TCG boot.
 * The host builds a layer image with the real `parma image convert` (erofs, dm-verity tree
 * appended), a copy with one flipped byte, and a zeroed scratch disk; storage_probe (PID 1) opens them and
 * prints one line per check. Asserted here: the layer mounts through dm-verity and reads
 * back; a wrong root hash cannot be mounted; the flipped byte gives EIO and never altered
 * bytes; scratch is dm-crypt + ext4 under an overlay, and the marker the guest wrote there is
 * absent from the host's scratch image; teardown removes every mapping. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fileio.h"
#include "vmm/group/qemu_launch.h"

#define MARKER "PARMA-SCRATCH-MARKER-7f3a9c"
#define BIG_LINES 4096

static int failures;

static void check(int ok, const char *what)
{
	printf("%s: %s\n", ok ? "ok  " : "FAIL", what);
	if (!ok)
		failures++;
}

static int run(const char *cmd, char *out, size_t out_size)
{
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	size_t n = out ? fread(out, 1, out_size - 1, p) : 0;
	if (out)
		out[n] = 0;
	else {
		char sink[4096];
		while (fread(sink, 1, sizeof(sink), p) > 0)
			;
	}
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int have(const char *prog)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
	return run(cmd, NULL, 0) == 0;
}

static int write_file(const char *path, const char *data, size_t len)
{
	struct errbuf eb = { 0 };
	return file_write_atomic(path, data, len, 0644, &eb);
}

static void *memmem_or_null(const uint8_t *hay, size_t n, const char *needle)
{
	return memmem(hay, n, needle, strlen(needle));
}

/* Does the console log hold a line starting with "PROBE <expect>"? */
static int probe_line(const char *log, const char *expect)
{
	char needle[256];
	snprintf(needle, sizeof(needle), "PROBE %s", expect);
	return strstr(log, needle) != NULL;
}

int main(void)
{
	struct errbuf eb = { 0 };
	const char *initrd = getenv("PARMA_STORAGE_PROBE_INITRD");
	struct qemu_launch_config cfg = { .console_fd = -1 };

	if (!initrd || access(initrd, R_OK) != 0) {
		printf("SKIP: needs the storage probe initrd (a guest kernel in /boot with its "
		       "modules: Debian linux-image-amd64)\n");
		return 77;
	}
	if (qemu_launch_available(&cfg, &eb) < 0) {
		printf("SKIP: %s\n", errbuf_msg(&eb));
		return 77;
	}
	if (!getenv("PARMA_BINARY") || access(getenv("PARMA_BINARY"), X_OK) != 0 ||
	    !have("python3")) {
		printf("SKIP: needs the parma binary (PARMA_BINARY) and python3\n");
		return 77;
	}

	char dir[] = "/tmp/parma-e2e-storage-XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	char path[512], cmd[2048], out[4096];

	/* the layer: the e2e image's data layer, converted by the real `parma image convert` */
	const char *parma = getenv("PARMA_BINARY");
	snprintf(cmd, sizeof(cmd), "python3 %s/tests/e2e/guest/make_image.py %s 2>&1",
		 getenv("PARMA_SOURCE_ROOT"), dir);
	check(run(cmd, out, sizeof(out)) == 0, "make_image.py builds the OCI layout");
	snprintf(cmd, sizeof(cmd),
		 "%s image convert --json --output %s/cache %s/oci:latest 2>&1 | "
		 "python3 -c 'import json,sys; l=json.load(sys.stdin)[\"layers\"][1]; "
		 "print(l[\"image\"], l[\"hash_offset\"], l[\"root_hash\"])'",
		 parma, dir, dir);
	char image[512] = "", root[65] = "", image0[512] = "", root0[65] = "";
	unsigned long long data_size = 0, size0 = 0;
	int converted = run(cmd, out, sizeof(out)) == 0 &&
			sscanf(out, "%511s %llu %64s", image, &data_size, root) == 3 &&
			strlen(root) == 64;
	/* the busybox layer (cached by now), for the crun check */
	snprintf(cmd, sizeof(cmd),
		 "%s image convert --json --output %s/cache %s/oci:latest 2>&1 | "
		 "python3 -c 'import json,sys; l=json.load(sys.stdin)[\"layers\"][0]; "
		 "print(l[\"image\"], l[\"hash_offset\"], l[\"root_hash\"])'",
		 parma, dir, dir);
	converted = converted && run(cmd, out, sizeof(out)) == 0 &&
		    sscanf(out, "%511s %llu %64s", image0, &size0, root0) == 3;
	check(converted, "parma image convert gives the layer image, offset and root hash");
	if (!converted) {
		printf("%s\n", out);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/layer.img", dir);
	snprintf(cmd, sizeof(cmd), "cp %s %s", image, path);
	if (run(cmd, NULL, 0) != 0)
		return 1;

	/* flipped copy: one byte inside big.txt's data */
	uint8_t *img = NULL;
	size_t img_len = 0;
	if (file_read_all(path, 64u << 20, &img, &img_len, &eb) < 0)
		return 1;
	uint8_t *hit = memmem_or_null(img, img_len, "BIGFILE-LINE-002000");
	check(hit != NULL, "big.txt stored uncompressed in the image");
	if (hit)
		hit[5] ^= 0x20;
	snprintf(path, sizeof(path), "%s/flipped.img", dir);
	write_file(path, (char *)img, img_len);
	free(img);

	snprintf(path, sizeof(path), "%s/scratch.img", dir);
	int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 64 << 20) != 0)
		return 1;
	close(fd);

	char layer[512], flipped[512], scratch[512], sock[512], log[512], extra[256];
	snprintf(layer, sizeof(layer), "%s/layer.img", dir);
	snprintf(flipped, sizeof(flipped), "%s/flipped.img", dir);
	snprintf(scratch, sizeof(scratch), "%s/scratch.img", dir);
	snprintf(sock, sizeof(sock), "%s/agent.sock", dir);
	snprintf(log, sizeof(log), "%s/console.log", dir);
	snprintf(extra, sizeof(extra), "parma.root=%s parma.sboff=%llu parma.root0=%s", root,
		 data_size, root0);
	struct qemu_disk disks[] = { { layer, 1 }, { flipped, 1 }, { scratch, 0 }, { image0, 1 } };
	cfg.initrd = initrd;
	cfg.cmdline_extra = extra;
	cfg.memory_mib = 512;
	cfg.disks = disks;
	cfg.n_disks = 4;
	cfg.agent_socket = sock;
	cfg.console_log = log;

	struct qemu_vm *vm;
	if (qemu_vm_start(&cfg, &vm, &eb) < 0) {
		printf("FAIL: %s\n", errbuf_msg(&eb));
		return 1;
	}
	int status = 0;
	int waited = qemu_vm_wait(vm, 240000, &status);
	check(waited == 0, "guest powers off by itself");
	qemu_vm_free(vm);

	uint8_t *console = NULL;
	size_t console_len = 0;
	if (file_read_all(log, 16u << 20, &console, &console_len, &eb) < 0) {
		printf("FAIL: no console log: %s\n", errbuf_msg(&eb));
		return 1;
	}
	const char *c = (const char *)console;
	char expect[128];
	static const char *const expected[] = {
		"modules loaded=", "verity_open rc=0 dev=/dev/mapper/layer0",
		"erofs_mount rc=0", "layer_mount_explicit rc=0", "verity_open_sboff rc=0",
		"not_a_layer rc=-22", "hello text=hello from a verity layer", "big_good rc=0 bytes=81920",
		"wrong_root open=0 mount=-5", "wrong_root remove=0",
		"flipped open=0 mount=0", "flipped_read rc=-5", "bad_name rc=-22",
		"bad_sboff rc=-22", "past_end rc=-22", "scratch_open rc=0", "overlay rc=0",
		"overlay_hello text=hello from a verity layer", "marker rc=0", "upper_has_marker rc=0",
		"overlay_umount rc=0", "scratch_umount rc=0", "scratch_remove rc=0",
		"busybox_layer rc=0", "crun_rootfs rc=0", "crun rc=0 status=0", "crun_teardown rc=0",
		"layer_umount rc=0", "layer_remove rc=0", "remove_again rc=-6", "done",
	};
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		snprintf(expect, sizeof(expect), "guest: %s", expected[i]);
		check(probe_line(c, expected[i]), expect);
	}
	const char *mods = strstr(c, "PROBE modules loaded=");
	int loaded = 0, failed = -1;
	if (mods)
		sscanf(mods, "PROBE modules loaded=%d failed=%d", &loaded, &failed);
	check(loaded >= 10 && failed == 0,
	      "every listed module loads (or is absent hardware)");
	check(!probe_line(c, "flipped_read rc=1"), "flipped layer never yields altered bytes");
	check(strstr(c, "crun-ok-42") && strstr(c, "hello from a verity layer"),
	      "crun from the initrd ran a container on the verity layers");

	/* The marker was written in the guest (upper_has_marker) and must not be in plaintext on
	 * the host's scratch disk. */
	uint8_t *sc = NULL;
	size_t sc_len = 0;
	if (file_read_all(scratch, 128u << 20, &sc, &sc_len, &eb) == 0) {
		check(memmem_or_null(sc, sc_len, MARKER) == NULL, "scratch marker absent on the host");
		size_t nonzero = 0;
		for (size_t i = 0; i < sc_len; i++)
			nonzero += sc[i] != 0;
		check(nonzero > 4096, "scratch disk was written (ciphertext present)");
		free(sc);
	} else {
		check(0, "scratch image readable");
	}
	if (failures) {
		printf("---- guest console ----\n%s\n", c);
	}
	free(console);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (!failures)
		(void)run(cmd, NULL, 0);
	else
		printf("kept %s for inspection\n", dir);
	printf("%d failure(s)\n", failures);
	return failures ? 1 : 0;
}
