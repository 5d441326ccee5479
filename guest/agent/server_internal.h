/* server_internal: state shared by the request server's files (server.c: plumbing;
 * requests.c: parse, decide, act; attest_flow.c: reports, policy install, workload attestation). */
#ifndef PARMA_GUEST_AGENT_SERVER_INTERNAL_H
#define PARMA_GUEST_AGENT_SERVER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "guest/agent/effects.h"
#include "guest/agent/server.h"
#include "guest/proto/proto.h"
#include "policy/lang/policy.h"

struct json_object;
struct pollfd;

#define AGENT_OUT_HIGH_WATER (1u << 20) /* stop reading process output above this */
#define AGENT_OUT_HARD_LIMIT (8u << 20)  /* stop reading host requests above this */
#define AGENT_MAX_WAITERS 16
#define AGENT_MAX_PROCS 4096
#define AGENT_MAX_JOBS 64
#define AGENT_MAX_ATTEST_CONNS 16

enum { AGENT_PROC_INIT, AGENT_PROC_EXEC, AGENT_PROC_EXTERNAL };
enum { AGENT_TEE_UNKNOWN = -1, AGENT_TEE_NONE = 0, AGENT_TEE_SNP = 1 };

struct agent_proc {
	uint32_t id;
	pid_t pid;
	int kind;
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

struct agent_container {
	char id[POLICY_MAX_ID + 1];
	char rootfs[POLICY_MAX_TARGET + 1]; /* overlay target */
	bool created, started, stopped, shutting_down;
	uint32_t init_proc; /* process id of the container's init, once created */
	struct agent_container *next;
};

/* A report the agent is obtaining for someone (host request, policy install, workload). */
enum { JOB_INSTALL, JOB_HOST_REPORT, JOB_WORKLOAD };
struct agent_job {
	int kind;
	uint32_t host_req;  /* the host's request to answer (INSTALL, HOST_REPORT) */
	uint32_t dev_req;   /* our dev_report request to the host, when waiting for it */
	int conn_fd;        /* WORKLOAD: the container's connection */
	uint8_t report_data[AGENT_REPORT_DATA_SIZE];
	uint8_t *policy;    /* INSTALL: the candidate policy bytes */
	size_t policy_len;
	struct agent_job *next;
};

struct attest_conn {
	int fd;
	uint8_t buf[AGENT_REPORT_DATA_SIZE];
	size_t got;
};

struct agent_server {
	int fd;
	struct proto_decoder dec;
	uint8_t *out;
	size_t out_len, out_cap, out_off;
	struct agent_effects fx;
	char state_dir[256];
	void (*log)(void *opaque, const char *line);
	void *log_opaque;

	struct policy_engine *engine;
	uint8_t *policy_bytes; /* the installed policy */
	size_t policy_len;
	int tee;
	uint8_t agent_report[AGENT_REPORT_SIZE]; /* the report the install was checked against */
	char *certs_json; /* certificates that came with reports (dev mode), JSON text */

	struct agent_proc *procs;
	size_t n_procs;
	uint32_t next_proc_id;
	struct agent_container *containers;

	struct agent_job *jobs;
	size_t n_jobs;
	uint32_t next_host_req;
	int attest_listen;
	struct attest_conn conns[AGENT_MAX_ATTEST_CONNS];
	size_t n_conns;
};

/* server.c */
int server_send_frame(struct agent_server *s, uint8_t type, uint16_t flags, uint32_t id,
		      const void *body, uint32_t len);
int server_send_json(struct agent_server *s, uint8_t type, uint32_t id, struct json_object *obj);
/* Send resp (consumed; NULL = out of memory) as the RESPONSE to host request id. */
void server_answer(struct agent_server *s, uint32_t id, struct json_object *resp);
struct json_object *server_ok(void);
struct json_object *server_error(const char *code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
struct json_object *server_denial(const char *rule, const char *field, const char *expected,
				  const char *got, const char *message);
struct json_object *server_decision_denial(const struct policy_decision *d);
void server_log(struct agent_server *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int server_stdio_open(struct agent_stdio *child, int ours[3], bool want);
void server_stdio_close(struct agent_stdio *child, int ours[3]);
struct agent_proc *server_proc_add(struct agent_server *s, pid_t pid, int kind,
				   const char *container_id, const char *const *argv, size_t argc,
				   int fds[3]);
void server_proc_free(struct agent_proc *p);
struct agent_proc *server_proc_find(struct agent_server *s, uint32_t id);
int server_proc_wait(struct agent_server *s, struct agent_proc *p, uint32_t req_id);

/* requests.c */
void server_dispatch(struct agent_server *s, uint32_t id, struct json_object *req);
void server_container_init_exited(struct agent_server *s, struct agent_proc *p);
void server_containers_free(struct agent_server *s);

/* attest_flow.c */
void server_host_answer(struct agent_server *s, uint32_t id, struct json_object *answer);
/* Start obtaining a report; the job is answered when it arrives (now, or after the host's
 * dev_report answer). Returns 0 or a negative errno (nothing started). */
int server_report_start(struct agent_server *s, int kind, uint32_t host_req,
			const uint8_t report_data[AGENT_REPORT_DATA_SIZE], uint8_t *policy,
			size_t policy_len, int conn_fd);
size_t server_attest_pollfds(struct agent_server *s, struct pollfd *pfd, size_t max);
void server_attest_handle(struct agent_server *s, struct pollfd *pfd, size_t n);
void server_attest_free(struct agent_server *s);
/* The host connection is being replaced: fail jobs waiting for its dev_report answers. */
void server_attest_host_gone(struct agent_server *s);
/* The security-context directory shared (read-only) with every container. */
void server_security_context_dir(const struct agent_server *s, char *out, size_t size);
/* Publish a loaded policy fragment (the COSE_Sign1 document as verified) in the security
 * context, fragments/<SHA-256 of the document>.cose, for the workloads to present. */
int server_security_context_add_fragment(struct agent_server *s, const uint8_t *doc, size_t len,
					 struct errbuf *eb);
const char *server_tee_name(const struct agent_server *s);

#endif
