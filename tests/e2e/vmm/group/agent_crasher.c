/* agent-crasher: a test-only stand-in for /usr/bin/crun in a test initrd that crashes the
 * guest agent while containers run (run_e2e_agent_crash). Nothing the host may send makes the
 * agent (PID 1) die, so the test brings its own fault into the guest, outside every container:
 * the initrd is the real one with this program appended as /usr/bin/crun and the real crun as
 * /usr/bin/crun.real.
 *
 * Every call execs the real crun with the same arguments. The first `crun start victim` also
 * leaves behind a detached child that, after CRASH_DELAY_S seconds, stops PID 1 with ptrace,
 * points its instruction pointer at address 0 and lets it go: the agent takes a real SIGSEGV,
 * as a wild jump in its own code would give it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#define REAL_CRUN "/usr/bin/crun.real"
#define ARMED "/run/agent-crasher.armed"
#define CRASH_DELAY_S 5

static void say(const char *msg)
{
	int fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
	if (fd >= 0) {
		dprintf(fd, "agent-crasher: %s\n", msg);
		close(fd);
	}
}

static void crash_pid1(void)
{
	struct user_regs_struct regs;
	int status;
	if (ptrace(PTRACE_SEIZE, 1, 0, 0) < 0 || ptrace(PTRACE_INTERRUPT, 1, 0, 0) < 0 ||
	    waitpid(1, &status, __WALL) != 1 || ptrace(PTRACE_GETREGS, 1, 0, &regs) < 0) {
		say(strerror(errno));
		_exit(1);
	}
	regs.rip = 0;
	regs.orig_rax = (unsigned long long)-1; /* no syscall restart on the way out */
	if (ptrace(PTRACE_SETREGS, 1, 0, &regs) < 0) {
		say(strerror(errno));
		_exit(1);
	}
	say("PID 1 jumps to address 0 now");
	ptrace(PTRACE_DETACH, 1, 0, 0);
	_exit(0);
}

int main(int argc, char **argv)
{
	int start = 0, victim = 0;
	for (int i = 1; i < argc; i++) {
		start |= !strcmp(argv[i], "start");
		victim |= !strcmp(argv[i], "victim");
	}
	if (start && victim) {
		int fd = open(ARMED, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0) {
			close(fd);
			pid_t pid = fork();
			if (pid == 0) {
				setsid();
				if (fork() == 0) { /* reparented away from crun and the agent's wait */
					sleep(CRASH_DELAY_S);
					crash_pid1();
				}
				_exit(0);
			}
			if (pid > 0)
				waitpid(pid, NULL, 0);
		}
	}
	argv[0] = REAL_CRUN;
	execv(REAL_CRUN, argv);
	say("cannot exec " REAL_CRUN);
	return 127;
}
