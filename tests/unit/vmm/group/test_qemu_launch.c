/* launch_qemu_argv_and_lifecycle: guest/launch against a fake QEMU (fake_qemu.sh) that records
 * its argv and listens on the agent socket: the command line QEMU gets, readiness, the agent
 * connection, stop killing the whole process group, early exits and option injection. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fileio.h"
#include "vmm/group/qemu_launch.h"

static char dir[64];
static char fake[512], args_path[512], sock[512];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/parma-launch-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(fake, sizeof(fake), "%s/tests/unit/vmm/group/fake_qemu.sh",
		 getenv("PARMA_SOURCE_ROOT"));
	snprintf(args_path, sizeof(args_path), "%s/args", dir);
	snprintf(sock, sizeof(sock), "%s/agent.sock", dir);
	setenv("FAKE_QEMU_ARGS", args_path, 1);
	setenv("PARMA_GUEST_KERNEL", "/boot/fake-vmlinuz", 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static char *read_args(void)
{
	uint8_t *data = NULL;
	size_t len = 0;
	struct errbuf eb = { 0 };
	for (int i = 0; i < 200; i++) {
		if (file_read_all(args_path, 65536, &data, &len, &eb) == 0 && len > 0) {
			/* a leading newline, so has_pair() matches argv[1] too */
			char *s = malloc(len + 2);
			s[0] = '\n';
			memcpy(s + 1, data, len + 1);
			free(data);
			return s;
		}
		free(data);
		data = NULL;
		usleep(10000);
	}
	return NULL;
}

/* Is "a\nb\n" (consecutive argv entries) in the recorded args? */
static int has_pair(const char *args, const char *a, const char *b)
{
	char needle[1024];
	snprintf(needle, sizeof(needle), "\n%s\n%s\n", a, b);
	return strstr(args, needle) != NULL;
}

static void launch_qemu_argv_and_lifecycle(void **state)
{
	(void)state;
	struct qemu_disk disks[] = { { "/img/layer0.img", 1 }, { "/img/scratch.img", 0 } };
	struct qemu_launch_config cfg = {
		.qemu = fake, .initrd = "/img/initrd.img", .cmdline_extra = "parma.debug=1",
		.memory_mib = 768, .vcpus = 2, .disks = disks, .n_disks = 2,
		.agent_socket = sock, .console_log = NULL, .console_fd = -1,
	};
	struct errbuf eb = { 0 };
	struct qemu_vm *vm = NULL;
	unlink(args_path);

	assert_int_equal(qemu_vm_start(&cfg, &vm, &eb), 0);
	assert_non_null(vm);
	pid_t pid = qemu_vm_pid(vm);
	assert_true(pid > 0);
	assert_int_equal(getpgid(pid), pid); /* its own process group */

	char *args = read_args();
	assert_non_null(args);
	assert_true(has_pair(args, "-M", "microvm,accel=tcg"));
	assert_true(has_pair(args, "-cpu", "max"));
	assert_true(has_pair(args, "-m", "768"));
	assert_true(has_pair(args, "-smp", "2"));
	assert_true(has_pair(args, "-kernel", "/boot/fake-vmlinuz"));
	assert_true(has_pair(args, "-initrd", "/img/initrd.img"));
	assert_true(has_pair(args, "-serial", "null"));
	assert_non_null(strstr(args, "\nconsole=ttyS0 panic=-1 quiet"));
	assert_non_null(strstr(args, " parma.debug=1\n"));
	assert_true(has_pair(args, "-drive",
			     "id=disk0,file=/img/layer0.img,format=raw,if=none,readonly=on"));
	assert_true(has_pair(args, "-device", "virtio-blk-device,drive=disk0"));
	assert_true(has_pair(args, "-drive",
			     "id=disk1,file=/img/scratch.img,format=raw,if=none"));
	assert_true(has_pair(args, "-device", "virtserialport,chardev=agent,name=parma.agent"));
	assert_non_null(strstr(args, "\n-no-reboot\n"));
	free(args);

	/* the agent socket is connectable and carries bytes */
	int fd = -1;
	for (int i = 0; i < 200 && fd < 0; i++) {
		fd = qemu_vm_agent_connect(vm, &eb);
		if (fd < 0)
			usleep(20000);
	}
	assert_true(fd >= 0);
	char buf[32] = "";
	assert_int_equal(read(fd, buf, 20), 20);
	assert_memory_equal(buf, "hello-from-fake-qemu", 20);
	close(fd);

	/* still running; stop kills the group, reaps, and is idempotent */
	assert_int_equal(qemu_vm_wait(vm, 50, NULL), -ETIMEDOUT);
	qemu_vm_stop(vm, 500);
	assert_int_equal(qemu_vm_pid(vm), 0);
	assert_int_equal(kill(-pid, 0), -1);
	assert_int_equal(errno, ESRCH);
	qemu_vm_stop(vm, 500);
	qemu_vm_free(vm);
	assert_int_not_equal(access(sock, F_OK), 0);
}

static void launch_qemu_reports_early_exit_and_bad_options(void **state)
{
	(void)state;
	struct qemu_disk bad_disk[] = { { "/img/a,readonly=off", 1 } };
	struct qemu_launch_config cfg = {
		.qemu = fake, .initrd = "/img/initrd.img", .agent_socket = sock, .console_fd = -1,
	};
	struct errbuf eb = { 0 };
	struct qemu_vm *vm = NULL;

	setenv("FAKE_QEMU_EXIT", "1", 1);
	assert_int_equal(qemu_vm_start(&cfg, &vm, &eb), -EIO);
	assert_null(vm);
	assert_non_null(strstr(eb.msg, "exited during start-up"));
	unsetenv("FAKE_QEMU_EXIT");

	cfg.disks = bad_disk;
	cfg.n_disks = 1;
	assert_int_equal(qemu_vm_start(&cfg, &vm, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "contains ','"));

	cfg.n_disks = 0;
	cfg.initrd = NULL;
	assert_int_equal(qemu_vm_start(&cfg, &vm, &eb), -EINVAL);

	cfg.initrd = "/img/initrd.img";
	cfg.qemu = "/nonexistent/qemu-system-x86_64";
	assert_int_equal(qemu_vm_start(&cfg, &vm, &eb), -ENOENT);
	assert_int_equal(qemu_launch_available(&cfg, &eb), -ENOENT);
	assert_non_null(strstr(eb.msg, "qemu-system-x86"));
}

static void launch_default_kernel_honours_env(void **state)
{
	(void)state;
	char path[256];
	struct errbuf eb = { 0 };
	assert_int_equal(qemu_launch_default_kernel(path, sizeof(path), &eb), 0);
	assert_string_equal(path, "/boot/fake-vmlinuz");
	assert_int_equal(qemu_launch_default_kernel(path, 4, &eb), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(launch_qemu_argv_and_lifecycle),
		cmocka_unit_test(launch_qemu_reports_early_exit_and_bad_options),
		cmocka_unit_test(launch_default_kernel_honours_env),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
