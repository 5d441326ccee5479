/* parma-agent: PID 1 of the Parma guest. Mounts the kernel file systems, loads the initrd's
 * modules, opens the transport to the host and serves requests forever (docs/agent.md).
 *
 * Outside PID 1 (development on a host): `parma-agent --listen PATH [--state DIR]` serves one
 * Unix-socket connection at a time with the same real effects, without touching mounts. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest/agent/effects.h"
#include "guest/agent/pid1.h"
#include "guest/agent/server.h"
#include "policy/lang/policy.h"

#define STATE_DIR POLICY_AGENT_STATE /* in the path map, but named by no request */
#define CRUN_PATH "/usr/bin/crun"
#define MKFS_PATH "/sbin/mkfs.ext4"

static const char usage[] = "usage: parma-agent --listen PATH [--state DIR]\n";

static volatile sig_atomic_t child_pending;

static void on_sigchld(int sig)
{
	(void)sig;
	child_pending = 1;
}

/* Boot-time messages carry no host or workload data; runtime logging is policy-gated. */
static void console(const char *msg)
{
	dprintf(STDERR_FILENO, "parma-agent: %s\n", msg);
}

static void console_log(void *opaque, const char *line)
{
	(void)opaque;
	console(line);
}

static void reap(struct agent_server *s)
{
	int status;
	pid_t pid;
	child_pending = 0;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		agent_server_child_exited(s, pid, status);
}

/* A fatal error as PID 1: say so and power off rather than exit (which would panic). */
static void halt_forever(const char *why)
{
	console(why);
	sync();
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	unlink(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 2) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

int main(int argc, char **argv)
{
	const char *listen_path = NULL, *state = STATE_DIR;
	bool pid1 = getpid() == 1;

	/* As PID 1 the agent takes no options: the kernel hands init the command-line words it
	 * did not use itself, which are not ours to refuse. Outside PID 1, a table of its two
	 * options (common/cli.c is host code, not part of the guest's trusted base). */
	const struct {
		const char *name;
		const char **dest;
	} opts[] = {{"--listen", &listen_path}, {"--state", &state}};
	for (int i = 1; i < argc && !pid1; i++) {
		size_t k = 0;
		while (k < sizeof(opts) / sizeof(opts[0]) && strcmp(argv[i], opts[k].name))
			k++;
		if (k == sizeof(opts) / sizeof(opts[0]) || i + 1 == argc) {
			bool help = !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
			fputs(usage, help ? stdout : stderr);
			return help ? 0 : 2;
		}
		*opts[k].dest = argv[++i];
	}
	if (!pid1 && !listen_path) {
		fprintf(stderr, "parma-agent: not PID 1: give --listen PATH to serve on a Unix "
				"socket\n");
		return 2;
	}

	struct sigaction sa = { .sa_handler = on_sigchld, .sa_flags = SA_NOCLDSTOP };
	sigaction(SIGCHLD, &sa, NULL); /* no SA_RESTART: poll returns at once on an exit */
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_CHILD_SUBREAPER, 1); /* crun's container processes come back to us */

	if (pid1) {
		pid1_switch_root(console);
		pid1_mount_all(console);
		pid1_load_modules(PID1_MODULES_LIST, console);
		pid1_enable_cgroup_controllers(console);
		pid1_loopback_up(console);
	}

	struct agent_server *s;
	struct errbuf eb = { 0 };
	struct agent_server_config cfg = {
		.fd = -1,
		.effects = agent_effects_linux(CRUN_PATH, MKFS_PATH),
		.state_dir = state,
		.log = console_log,
	};
	if (agent_server_new(&cfg, &s, &eb) < 0) {
		if (pid1)
			halt_forever(errbuf_msg(&eb));
		fprintf(stderr, "parma-agent: %s\n", errbuf_msg(&eb));
		return 1;
	}

	int listen_fd = -1, connected = 0;
	const char *kind = "unix";
	char where[300] = "";
	if (listen_path) {
		listen_fd = listen_unix(listen_path);
		if (listen_fd < 0) {
			fprintf(stderr, "parma-agent: %s: %s\n", listen_path, strerror(-listen_fd));
			return 1;
		}
		snprintf(where, sizeof(where), "%s", listen_path);
	}
	int announced = 0;
	for (;;) {
		if (!connected && listen_fd < 0) {
			int fd = pid1_transport_open(&listen_fd, &kind, where, sizeof(where));
			if (fd > 0) {
				agent_server_set_fd(s, fd);
				connected = 1;
			}
			if (!announced && (fd > 0 || listen_fd >= 0)) {
				char msg[400];
				snprintf(msg, sizeof(msg), "%s: serving the host on %s (%s)",
					 PARMA_VERSION, where, kind);
				console(msg);
				announced = 1;
			}
		}
		if (!connected && listen_fd >= 0) {
			struct pollfd p = { .fd = listen_fd, .events = POLLIN };
			if (poll(&p, 1, 0) > 0) {
				int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
				if (fd >= 0) {
					agent_server_set_fd(s, fd);
					connected = 1;
				}
			}
		}
		if (child_pending)
			reap(s);
		int ret = agent_server_poll(s, connected ? 1000 : 100);
		reap(s);
		if (ret == -EPIPE) {
			/* The host went away: keep the containers, wait for it to come back. For
			 * virtio-serial the port is reopened; vsock/unix accept a new connection. */
			agent_server_set_fd(s, -1);
			connected = 0;
			if (strcmp(kind, "virtio-serial"))
				continue;
			usleep(100 * 1000);
		}
	}
}
