/* processes: the agent's process table and stdio forwarding (see processes.h). */
#include "guest/agent/processes.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest/agent/server_internal.h"

void processes_init(struct agent_processes *t)
{
	*t = (struct agent_processes){.next_id = 1};
}

static void proc_free(struct agent_proc *p)
{
	if (!p)
		return;
	for (size_t i = 0; p->argv && p->argv[i]; i++)
		free(p->argv[i]);
	free(p->argv);
	if (p->in_fd >= 0)
		close(p->in_fd);
	if (p->out_fd >= 0)
		close(p->out_fd);
	if (p->err_fd >= 0)
		close(p->err_fd);
	free(p->inbuf);
	free(p->waiters);
	free(p);
}

void processes_free(struct agent_processes *t)
{
	while (t->head) {
		struct agent_proc *p = t->head;
		t->head = p->next;
		proc_free(p);
	}
	t->n = 0;
}

/* The host can still wait for the most recent ones; a long-lived group does not grow without
 * bound. */
void processes_collect(struct agent_processes *t)
{
	for (struct agent_proc **pp = &t->head; *pp;) {
		struct agent_proc *p = *pp;
		if (p->exited && p->out_fd < 0 && p->err_fd < 0 && !p->n_waiters) {
			*pp = p->next;
			proc_free(p);
			t->n--;
		} else {
			pp = &p->next;
		}
	}
}

/* ---- stdio ---- */

int process_stdio_open(struct agent_stdio *child, int ours[3], bool want)
{
	int p[3][2];
	child->in = child->out = child->err = -1;
	ours[0] = ours[1] = ours[2] = -1;
	if (!want)
		return 0;
	for (int i = 0; i < 3; i++) {
		if (pipe2(p[i], O_CLOEXEC) < 0) {
			int e = errno;
			for (int j = 0; j < i; j++) {
				close(p[j][0]);
				close(p[j][1]);
			}
			return -e;
		}
	}
	child->in = p[0][0];
	ours[0] = p[0][1];
	ours[1] = p[1][0];
	child->out = p[1][1];
	ours[2] = p[2][0];
	child->err = p[2][1];
	for (int i = 0; i < 3; i++)
		server_fd_nonblock_cloexec(ours[i]);
	return 0;
}

void process_stdio_close(struct agent_stdio *child, int ours[3])
{
	int *c[3] = { &child->in, &child->out, &child->err };
	for (int i = 0; i < 3; i++) {
		if (*c[i] >= 0)
			close(*c[i]);
		*c[i] = -1;
		if (ours && ours[i] >= 0)
			close(ours[i]);
		if (ours)
			ours[i] = -1;
	}
}

/* ---- the table ---- */

struct agent_proc *process_add(struct agent_processes *t, pid_t pid, enum agent_proc_kind kind,
			       const char *container_id, const char *const *argv, size_t argc,
			       int fds[3])
{
	if (t->n >= AGENT_MAX_PROCS)
		return NULL;
	struct agent_proc *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->in_fd = p->out_fd = p->err_fd = -1;
	p->argv = calloc(argc + 1, sizeof(char *));
	if (!p->argv) {
		free(p);
		return NULL;
	}
	for (size_t i = 0; i < argc; i++) {
		p->argv[i] = strdup(argv[i]);
		if (!p->argv[i]) {
			proc_free(p);
			return NULL;
		}
	}
	p->argc = argc;
	p->id = t->next_id++;
	p->pid = pid;
	p->kind = kind;
	snprintf(p->container_id, sizeof(p->container_id), "%s", container_id ? container_id : "");
	p->in_fd = fds[0];
	p->out_fd = fds[1];
	p->err_fd = fds[2];
	fds[0] = fds[1] = fds[2] = -1;
	p->stdio = p->out_fd >= 0;
	p->next = t->head;
	t->head = p;
	t->n++;
	return p;
}

struct agent_proc *process_find(struct agent_processes *t, uint32_t id)
{
	for (struct agent_proc *p = t->head; p; p = p->next)
		if (p->id == id)
			return p;
	return NULL;
}

bool process_running(struct agent_processes *t, uint32_t id)
{
	const struct agent_proc *p = process_find(t, id);
	return p && !p->exited;
}

/* ---- output, stdin, waiters ---- */

/* Read one chunk of a process's stdout/stderr and forward it; close at EOF. */
static void answer_waiters(struct agent_server *s, struct agent_proc *p);

/* The exit status goes out only after both output streams reached EOF: every frame of the
 * process's output precedes its status on the one ordered host connection, so a client that
 * stops at the status has seen all of it (as containerd reports an exec's exit after its
 * stdio closed). A child that keeps the pipes open (a background grandchild) delays it. */
static bool process_finished(const struct agent_proc *p)
{
	return p->exited && p->out_fd < 0 && p->err_fd < 0;
}

static void read_output(struct agent_server *s, struct agent_proc *p, int stream)
{
	int *fd = stream == PROTO_STDOUT ? &p->out_fd : &p->err_fd;
	uint8_t buf[PROTO_STREAM_MAX];
	ssize_t n = read(*fd, buf, sizeof(buf));
	if (n > 0) {
		server_send_frame(s, PROTO_STREAM, (uint16_t)stream, p->id, buf, (uint32_t)n);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	close(*fd);
	*fd = -1;
	server_send_frame(s, PROTO_EOF, (uint16_t)stream, p->id, NULL, 0);
	if (process_finished(p))
		answer_waiters(s, p);
}

static void write_stdin(struct agent_server *s, struct agent_proc *p)
{
	if (p->in_len) {
		ssize_t n = write(p->in_fd, p->inbuf, p->in_len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0) {
			/* The process closed its stdin: drop what is queued, stop accepting. */
			p->in_len = 0;
			p->in_eof = 1;
		} else {
			memmove(p->inbuf, p->inbuf + n, p->in_len - (size_t)n);
			p->in_len -= (size_t)n;
			uint8_t c[4] = { (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16),
					 (uint8_t)(n >> 24) };
			server_send_frame(s, PROTO_CREDIT, PROTO_STDIN, p->id, c, sizeof(c));
		}
	}
	if (!p->in_len && p->in_eof && p->in_fd >= 0) {
		close(p->in_fd);
		p->in_fd = -1;
	}
}

void process_io(struct agent_server *s, struct agent_proc *p, int stream)
{
	if (stream == PROTO_STDIN)
		write_stdin(s, p);
	else if ((stream == PROTO_STDOUT && p->out_fd >= 0) ||
		 (stream == PROTO_STDERR && p->err_fd >= 0))
		read_output(s, p, stream);
}

static void answer_waiters(struct agent_server *s, struct agent_proc *p)
{
	for (size_t i = 0; i < p->n_waiters; i++) {
		struct json_object *o = server_ok();
		if (o) {
			json_object_object_add(o, "process_id", json_object_new_int64(p->id));
			if (WIFSIGNALED(p->status))
				json_object_object_add(o, "signal",
						       json_object_new_int(WTERMSIG(p->status)));
			else
				json_object_object_add(o, "exit_code",
						       json_object_new_int(WEXITSTATUS(p->status)));
		}
		server_answer(s, p->waiters[i], o);
	}
	p->n_waiters = 0;
}

int process_wait(struct agent_server *s, struct agent_proc *p, uint32_t req_id)
{
	if (p->n_waiters >= AGENT_MAX_WAITERS)
		return -EBUSY;
	uint32_t *n = realloc(p->waiters, (p->n_waiters + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	p->waiters = n;
	p->waiters[p->n_waiters++] = req_id;
	if (process_finished(p))
		answer_waiters(s, p);
	return 0;
}

struct agent_proc *process_exited(struct agent_server *s, pid_t pid, int status)
{
	for (struct agent_proc *p = s->procs.head; p; p = p->next) {
		if (p->pid != pid || p->exited)
			continue;
		p->exited = 1;
		p->status = status;
		server_log(s, "process %u (pid %d) ended with status 0x%x", p->id, (int)pid, status);
		/* Forward what is already in the pipes; waiters are answered once both reached
		 * EOF, here or later from the poll loop. */
		for (int guard = 0; guard < 64 && p->out_fd >= 0; guard++)
			read_output(s, p, PROTO_STDOUT);
		for (int guard = 0; guard < 64 && p->err_fd >= 0; guard++)
			read_output(s, p, PROTO_STDERR);
		if (process_finished(p))
			answer_waiters(s, p);
		return p;
	}
	return NULL;
}

void process_stdin_frame(struct agent_server *s, const struct proto_frame *f)
{
	struct agent_proc *p = process_find(&s->procs, f->id);
	if (!p || p->in_fd < 0 || p->in_eof) {
		server_stream_fault(s, f->id, PROTO_ERR_NOT_FOUND,
				    "no open stdin for this process id");
		return;
	}
	if (f->type == PROTO_EOF) {
		p->in_eof = 1;
		write_stdin(s, p);
		return;
	}
	if (p->in_len + f->length > PROTO_STDIN_WINDOW) {
		server_stream_fault(s, f->id, PROTO_ERR_BUSY,
				    "stdin data beyond the granted credit dropped");
		return;
	}
	if (!p->inbuf) {
		p->inbuf = malloc(PROTO_STDIN_WINDOW);
		if (!p->inbuf) {
			server_stream_fault(s, f->id, PROTO_ERR_FAILED, "out of memory");
			return;
		}
	}
	memcpy(p->inbuf + p->in_len, f->body, f->length);
	p->in_len += f->length;
	write_stdin(s, p);
}

int process_close_stdin(struct agent_proc *p)
{
	if (p->in_fd < 0)
		return -ENOENT;
	p->in_eof = true;
	if (!p->in_len) {
		close(p->in_fd);
		p->in_fd = -1;
	}
	return 0;
}

size_t processes_pollfds(struct agent_processes *t, bool throttled, struct pollfd *pfd,
			 struct agent_proc **who, int *what, size_t max)
{
	size_t n = 0;
	for (struct agent_proc *p = t->head; p && n + 3 <= max; p = p->next) {
		if (p->out_fd >= 0 && !throttled) {
			pfd[n] = (struct pollfd){ .fd = p->out_fd, .events = POLLIN };
			who[n] = p;
			what[n++] = PROTO_STDOUT;
		}
		if (p->err_fd >= 0 && !throttled) {
			pfd[n] = (struct pollfd){ .fd = p->err_fd, .events = POLLIN };
			who[n] = p;
			what[n++] = PROTO_STDERR;
		}
		if (p->in_fd >= 0 && p->in_len) {
			pfd[n] = (struct pollfd){ .fd = p->in_fd, .events = POLLOUT };
			who[n] = p;
			what[n++] = PROTO_STDIN;
		}
	}
	return n;
}
