/* Unit tests for vmm/seccomp_filter.c: each role's list loads, allowed calls keep working, and
 * a call outside the list ends the process with status SECCOMP_FILTER_EXIT and one line that
 * names the thread, the system call and (for ioctl) the request number. Each case runs in a
 * child process: a loaded filter cannot be taken off. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/io_uring.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/seccomp_filter.h"

enum probe { PROBE_ALLOWED, PROBE_MKDIR, PROBE_IOCTL, PROBE_EXECVE, PROBE_UNIX_SOCKET,
	     PROBE_INET_SOCKET, PROBE_VSOCK_SOCKET, PROBE_URING_PROBE };

/* Fork; the child installs `roles` and runs the probe. Returns the wait status; stderr of the
 * child lands in err. */
static int run_child(unsigned roles, enum probe probe, char *err, size_t cap)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		close(p[0]);
		struct errbuf eb = { 0 };
		if (seccomp_filter_install(roles, "test", &eb) < 0) {
			fprintf(stderr, "install: %s\n", errbuf_msg(&eb));
			_exit(3);
		}
		switch (probe) {
		case PROBE_ALLOWED: {
			/* what every role does: write, a futex, memory, the time */
			void *m = malloc(1 << 20);
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			if (!m || write(STDERR_FILENO, "alive\n", 6) != 6)
				_exit(4);
			free(m);
			_exit(0);
		}
		case PROBE_MKDIR:
			syscall(SYS_mkdir, "/tmp/parma-seccomp-must-not-exist", 0700);
			break;
		case PROBE_IOCTL: {
			struct winsize ws;
			syscall(SYS_ioctl, STDERR_FILENO, TIOCGWINSZ, &ws);
			break;
		}
		case PROBE_EXECVE:
			execl("/bin/true", "true", (char *)NULL);
			break;
		case PROBE_UNIX_SOCKET: {
			int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
			_exit(fd >= 0 ? 0 : 5);
		}
		case PROBE_INET_SOCKET:
			syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
			break;
		case PROBE_VSOCK_SOCKET:
			syscall(SYS_socket, AF_VSOCK, SOCK_STREAM, 0);
			break;
		case PROBE_URING_PROBE:
			/* fd -1: were it let through, EBADF, and the child exits 2 below */
			syscall(SYS_io_uring_register, -1, IORING_REGISTER_PROBE, NULL, 0);
			break;
		}
		_exit(2); /* the filter let it through */
	}
	close(p[1]);
	size_t got = 0;
	ssize_t n;
	while (got < cap - 1 && (n = read(p[0], err + got, cap - 1 - got)) > 0)
		got += (size_t)n;
	err[got] = '\0';
	close(p[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void seccomp_every_role_loads_and_allows_basics(void **state)
{
	(void)state;
	char err[512];
	for (unsigned r = 0; r < SECCOMP_ROLE_COUNT; r++) {
		int st = run_child(1u << r, PROBE_ALLOWED, err, sizeof(err));
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			fail_msg("role %s: status 0x%x: %s", seccomp_role_table(r)->name, st, err);
		assert_non_null(strstr(err, "alive"));
	}
}

static void seccomp_violation_names_the_syscall(void **state)
{
	(void)state;
	char err[512];
	int st = run_child(1u << SECCOMP_ROLE_VCPU, PROBE_MKDIR, err, sizeof(err));
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), SECCOMP_FILTER_EXIT);
	assert_non_null(strstr(err, "seccomp: the test thread made system call mkdir (83)"));
	struct stat sb;
	assert_int_not_equal(stat("/tmp/parma-seccomp-must-not-exist", &sb), 0);
}

static void seccomp_violation_names_the_ioctl_request(void **state)
{
	(void)state;
	char err[512];
	int st = run_child(1u << SECCOMP_ROLE_DEVICE, PROBE_IOCTL, err, sizeof(err));
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), SECCOMP_FILTER_EXIT);
	char want[96];
	snprintf(want, sizeof(want), "system call ioctl (16, request 0x%x)", (unsigned)TIOCGWINSZ);
	if (!strstr(err, want))
		fail_msg("expected '%s' in: %s", want, err);
}

static void seccomp_no_role_may_execve(void **state)
{
	(void)state;
	char err[512];
	unsigned all = (1u << SECCOMP_ROLE_COUNT) - 1;
	int st = run_child(all, PROBE_EXECVE, err, sizeof(err));
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), SECCOMP_FILTER_EXIT);
	assert_non_null(strstr(err, "made system call execve"));
}

/* Every socket of the VMM is AF_UNIX: no role may open an IP or AF_VSOCK socket. */
static void seccomp_sockets_are_unix_only(void **state)
{
	(void)state;
	char err[512];
	for (unsigned r = 0; r < SECCOMP_ROLE_COUNT; r++) {
		const char *name = seccomp_role_table(r)->name;
		int st = run_child(1u << r, PROBE_UNIX_SOCKET, err, sizeof(err));
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			fail_msg("role %s: AF_UNIX socket refused (status 0x%x): %s", name, st, err);
		const struct { enum probe probe; int family; } bad[] = {
			{ PROBE_INET_SOCKET, AF_INET }, { PROBE_VSOCK_SOCKET, AF_VSOCK } };
		for (size_t i = 0; i < 2; i++) {
			st = run_child(1u << r, bad[i].probe, err, sizeof(err));
			char want[96];
			snprintf(want, sizeof(want), "system call socket (%d, family %d)", SYS_socket,
				 bad[i].family);
			if (!WIFEXITED(st) || WEXITSTATUS(st) != SECCOMP_FILTER_EXIT || !strstr(err, want))
				fail_msg("role %s: family %d: status 0x%x, expected '%s' in: %s", name,
					 bad[i].family, st, want, err);
		}
	}
}

/* io_uring_register only for the block backend's and the event loop's setup: a probe (or
 * buffers, personalities) is refused, and the report names the opcode. */
static void seccomp_io_uring_register_only_setup_opcodes(void **state)
{
	(void)state;
	char err[512];
	unsigned all = (1u << SECCOMP_ROLE_COUNT) - 1;
	int st = run_child(all, PROBE_URING_PROBE, err, sizeof(err));
	char want[96];
	snprintf(want, sizeof(want), "system call io_uring_register (%d, opcode %d)",
		 SYS_io_uring_register, IORING_REGISTER_PROBE);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != SECCOMP_FILTER_EXIT || !strstr(err, want))
		fail_msg("status 0x%x, expected '%s' in: %s", st, want, err);
}

static void seccomp_vcpu_list_holds_kvm_run_but_not_vm_creation(void **state)
{
	(void)state;
	const struct seccomp_role_table *t = seccomp_role_table(SECCOMP_ROLE_VCPU);
	bool run = false, create = false;
	for (size_t i = 0; i < t->n_rules; i++)
		for (size_t k = 0; !strcmp(t->rules[i].syscall, "ioctl") && k < t->rules[i].n_values;
		     k++) {
			run |= t->rules[i].values[k] == KVM_RUN;
			create |= t->rules[i].values[k] == KVM_CREATE_VM ||
				  t->rules[i].values[k] == KVM_CREATE_VCPU;
		}
	assert_true(run);
	assert_false(create);
	for (size_t i = 0; i < t->n_rules; i++) {
		assert_string_not_equal(t->rules[i].syscall, "execve");
		assert_string_not_equal(t->rules[i].syscall, "openat");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(seccomp_every_role_loads_and_allows_basics),
		cmocka_unit_test(seccomp_violation_names_the_syscall),
		cmocka_unit_test(seccomp_violation_names_the_ioctl_request),
		cmocka_unit_test(seccomp_no_role_may_execve),
		cmocka_unit_test(seccomp_vcpu_list_holds_kvm_run_but_not_vm_creation),
		cmocka_unit_test(seccomp_sockets_are_unix_only),
		cmocka_unit_test(seccomp_io_uring_register_only_setup_opcodes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
