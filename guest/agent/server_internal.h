/* server_internal: the request server's parts and the plumbing they share.
 *   server.c      the host connection: frames in and out, answers, logging, the poll loop
 *   requests.c    every host request: parse, decide, act, revert on failure
 *   processes.c   the processes the agent started and their stdio
 *   containers.c  runtime facts of the containers (paths, init process)
 *   attest_flow.c attestation jobs, the policy install, the workload attestation socket
 * The policy engine is the one record of the container lifecycle the policy governs; the
 * parts keep runtime facts only (pids, paths, fds). */
#ifndef PARMA_GUEST_AGENT_SERVER_INTERNAL_H
#define PARMA_GUEST_AGENT_SERVER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest/agent/attest_flow.h"
#include "guest/agent/containers.h"
#include "guest/agent/effects.h"
#include "guest/agent/processes.h"
#include "guest/agent/server.h"
#include "guest/proto/proto.h"
#include "policy/lang/policy.h"

struct json_object;

#define AGENT_OUT_HIGH_WATER (1u << 20) /* stop reading process output above this */
#define AGENT_OUT_HARD_LIMIT (8u << 20)  /* stop reading host requests above this */

struct agent_server {
	/* the host connection */
	int fd;
	struct proto_decoder dec;
	uint8_t *out;
	size_t out_len, out_cap, out_off;
	void (*log)(void *opaque, const char *line);
	void *log_opaque;

	struct agent_effects fx;
	char state_dir[256];
	struct policy_engine *engine;
	struct agent_processes procs;
	struct agent_containers ctrs;
	struct agent_attest attest;
};

/* server.c */
int server_send_frame(struct agent_server *s, uint8_t type, uint16_t flags, uint32_t id,
		      const void *body, uint32_t len);
int server_send_json(struct agent_server *s, uint8_t type, uint32_t id, struct json_object *obj);
/* Send resp (consumed; NULL = out of memory) as the RESPONSE to host request id. */
void server_answer(struct agent_server *s, uint32_t id, struct json_object *resp);
/* A fault about a stream frame: id is a process id, not a request id. */
void server_stream_fault(struct agent_server *s, uint32_t id, const char *code, const char *why);
struct json_object *server_ok(void);
struct json_object *server_error(const char *code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
struct json_object *server_denial(const char *rule, const char *field, const char *expected,
				  const char *got, const char *message);
struct json_object *server_decision_denial(const struct policy_decision *d);
void server_log(struct agent_server *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void server_fd_nonblock_cloexec(int fd);

/* requests.c */
void server_dispatch(struct agent_server *s, uint32_t id, struct json_object *req);

#endif
