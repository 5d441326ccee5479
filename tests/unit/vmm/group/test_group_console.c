/* Unit tests for vmm/group/group_console.c: a guest that prints without end on its console
 * costs the host at most two files of max_bytes (console.log and console.log.1), the newest
 * bytes are kept, and the drain ends when the VM process is gone, even if a stray copy of the
 * pipe's write end lingers. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fileio.h"
#include "vmm/group/group_console.h"

static off_t size_of(const char *path)
{
	struct stat st;
	return stat(path, &st) ? -1 : st.st_size;
}

/* A child that writes `lines` numbered 100-byte lines on fd, as a VM process would. */
static pid_t guest_printing(int fd, int lines)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char line[100];
		for (int i = 0; i < lines; i++) {
			memset(line, 'a' + i % 26, sizeof(line));
			snprintf(line, 8, "%06d", i);
			line[7] = ' ';
			line[sizeof(line) - 1] = '\n';
			if (write(fd, line, sizeof(line)) != (ssize_t)sizeof(line))
				_exit(1);
		}
		_exit(0);
	}
	return pid;
}

static void console_rotates_at_the_bound(void **state)
{
	(void)state;
	char dir[] = "/tmp/parma-console-XXXXXX", path[64], old[72];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/console.log", dir);
	snprintf(old, sizeof(old), "%s.1", path);
	struct group_console *c;
	struct errbuf eb = { 0 };
	int fd = -1, status;
	assert_int_equal(group_console_start(path, 10000, &fd, &c, &eb), 0);
	pid_t pid = guest_printing(fd, 2000); /* 200 KB: twenty times the bound */
	group_console_release_writer(c);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	group_console_finish(c);

	assert_true(size_of(path) > 0 && size_of(path) <= 10000);
	assert_true(size_of(old) > 0 && size_of(old) <= 10000);
	uint8_t *data;
	size_t len;
	assert_int_equal(file_read_all(path, 1 << 20, &data, &len, NULL), 0);
	assert_true(len >= 100);
	assert_memory_equal(data + len - 100, "001999", 6); /* the newest line is kept */
	free(data);
	unlink(path);
	unlink(old);
	rmdir(dir);
}

static void console_drain_ends_with_a_lingering_writer(void **state)
{
	(void)state;
	char dir[] = "/tmp/parma-console-XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/console.log", dir);
	struct group_console *c;
	struct errbuf eb = { 0 };
	int fd = -1, status;
	assert_int_equal(group_console_start(path, 0, &fd, &c, &eb), 0);
	int stray = dup(fd); /* e.g. a process the VM left behind */
	assert_true(stray >= 0);
	pid_t pid = guest_printing(fd, 10);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	group_console_finish(c); /* must return although `stray` is open */
	assert_int_equal(size_of(path), 1000);
	close(stray);
	unlink(path);
	rmdir(dir);
}

/* What the guest kernel says when PID 1 (the agent) dies, read back from the console. */
static void console_names_the_agents_death(void **state)
{
	(void)state;
	char dir[] = "/tmp/parma-console-XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/console.log", dir);
	static const char panic[] =
		"parma-agent: serving the host\n\0\0guest bytes\n"
		"[   42.1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b\n"
		"[   42.2] Kernel Offset: disabled\n";
	assert_int_equal(file_write_atomic(path, panic, sizeof(panic) - 1, 0600, NULL), 0);
	int st = group_console_init_death(path);
	assert_true(st >= 0 && WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSEGV);
	static const char exited[] = "Kernel panic - not syncing: Attempted to kill init! "
				     "exitcode=0x00000100\n";
	assert_int_equal(file_write_atomic(path, exited, sizeof(exited) - 1, 0600, NULL), 0);
	st = group_console_init_death(path);
	assert_true(st >= 0 && WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
	static const char quiet[] = "parma-agent: serving the host\nreboot: Power down\n";
	assert_int_equal(file_write_atomic(path, quiet, sizeof(quiet) - 1, 0600, NULL), 0);
	assert_int_equal(group_console_init_death(path), -1);
	unlink(path);
	assert_int_equal(group_console_init_death(path), -1);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(console_rotates_at_the_bound),
		cmocka_unit_test(console_drain_ends_with_a_lingering_writer),
		cmocka_unit_test(console_names_the_agents_death),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
