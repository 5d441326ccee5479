/* processes: the processes parma-agent started (container inits, execs, external processes)
 * and their stdio. Runtime facts only: pid, the agent's process id, pipe fds, exit status and
 * the command (signal policy matches it). Whether a container may run a process is the policy
 * engine's question, never answered from this table. */
#ifndef PARMA_GUEST_AGENT_PROCESSES_H
#define PARMA_GUEST_AGENT_PROCESSES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "guest/agent/effects.h"
#include "policy/lang/policy.h"

struct agent_server;
struct proto_frame;
struct pollfd;

#define AGENT_MAX_WAITERS 16
#define AGENT_MAX_PROCS 4096

enum agent_proc_kind { AGENT_PROC_INIT, AGENT_PROC_EXEC, AGENT_PROC_EXTERNAL };

struct agent_proc {
	uint32_t id;
	pid_t pid;
	enum agent_proc_kind kind;
	char container_id[POLICY_MAX_ID + 1];
	char **argv; /* NULL-terminated copy: signal policy matches exec'd commands */
	size_t argc;
	int in_fd, out_fd, err_fd; /* our ends; -1 when closed or never opened */
	bool stdio;
	uint8_t *inbuf; /* stdin bytes received and not yet written (<= PROTO_STDIN_WINDOW) */
	size_t in_len;
	bool in_eof;
	bool exited;
	int status;
	uint32_t *waiters; /* request ids of pending waits */
	size_t n_waiters;
	struct agent_proc *next;
};

struct agent_processes {
	struct agent_proc *head;
	size_t n;
	uint32_t next_id; /* the id the next process gets (1, 2, ...: policy replays count too) */
};

void processes_init(struct agent_processes *t);
void processes_free(struct agent_processes *t);
/* Forget processes that ended, whose output is drained and that nobody waits for. Only
 * between polls, never while pointers into the table are live. */
void processes_collect(struct agent_processes *t);

/* Pipes for a child's stdio when want (else /dev/null: all -1); ours gets our ends. */
int process_stdio_open(struct agent_stdio *child, int ours[3], bool want);
/* Close the child's ends (after the fork) and, when ours is given, ours too. */
void process_stdio_close(struct agent_stdio *child, int ours[3]);

/* Record a started process; takes over fds (set to -1). NULL when the table is full or on
 * ENOMEM (fds untouched then). */
struct agent_proc *process_add(struct agent_processes *t, pid_t pid, enum agent_proc_kind kind,
			       const char *container_id, const char *const *argv, size_t argc,
			       int fds[3]);
struct agent_proc *process_find(struct agent_processes *t, uint32_t id);
/* True while the process is known and has not ended (a forgotten process has ended). */
bool process_running(struct agent_processes *t, uint32_t id);

/* A reaped child: forward what it wrote, answer its waiters once its output ended. Returns
 * its process, or NULL for a pid the agent did not start (or already saw end). */
struct agent_proc *process_exited(struct agent_server *s, pid_t pid, int status);
/* Answer request req_id once p has ended and both its output streams reached EOF (now, if
 * so), so the status follows all of its output. 0, -EBUSY or -ENOMEM. */
int process_wait(struct agent_server *s, struct agent_proc *p, uint32_t req_id);
/* The host's stdin data or EOF for a process (a STREAM or EOF frame). */
void process_stdin_frame(struct agent_server *s, const struct proto_frame *f);
/* close_stdin: no more input once what is queued is written. */
int process_close_stdin(struct agent_proc *p);

/* Poll entries for the processes' pipes (output only when !throttled); who/what say which
 * process and stream each entry is. Returns how many were filled (at most max). */
size_t processes_pollfds(struct agent_processes *t, bool throttled, struct pollfd *pfd,
			 struct agent_proc **who, int *what, size_t max);
/* Handle a ready pipe: forward output, write queued stdin. */
void process_io(struct agent_server *s, struct agent_proc *p, int stream);

#endif
