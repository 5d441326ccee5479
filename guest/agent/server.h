/* server: parma-agent's request server — one connection to the host, the policy engine, the
 * container/process table, stdio multiplexing and workload attestation sockets.
 *
 * Single-threaded and poll-driven: the owner calls agent_server_poll() in a loop and reports
 * reaped children with agent_server_child_exited(). Every host request is parsed strictly,
 * converted to the policy engine's typed request and decided BEFORE any effect; a denial
 * returns the engine's reason and changes nothing; a failed effect reverts the engine's state.
 * The same code runs as PID 1 in the guest and, with fake effects, in host unit tests. */
#ifndef PARMA_GUEST_AGENT_SERVER_H
#define PARMA_GUEST_AGENT_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/errbuf.h"
#include "guest/agent/effects.h"

struct agent_server;

struct agent_server_config {
	int fd;                     /* the byte stream to the host (taken over; made nonblocking) */
	struct agent_effects effects;
	const char *state_dir;      /* bundles, security contexts: "/run/parma/agent" in the guest */
	/* Console logging (only used when the policy allows runtime logging); may be NULL. */
	void (*log)(void *opaque, const char *line);
	void *log_opaque;
};

int agent_server_new(const struct agent_server_config *cfg, struct agent_server **out,
		     struct errbuf *eb);
void agent_server_free(struct agent_server *s);

/* Wait up to timeout_ms for I/O (host stream, process pipes, attestation sockets) and handle
 * it. Returns 0, or -EPIPE once the host closed the stream (the caller may reopen the
 * transport and call agent_server_set_fd). */
int agent_server_poll(struct agent_server *s, int timeout_ms);

/* Replace the host stream (after the transport was reopened); pending output is dropped. */
void agent_server_set_fd(struct agent_server *s, int fd);

/* A child was reaped with this wait status. Unknown pids are ignored. */
void agent_server_child_exited(struct agent_server *s, pid_t pid, int status);

/* The policy engine's canonical state (policy_engine_state_json), for properties and tests:
 * equal strings mean nothing changed. Caller frees. */
int agent_server_state_json(const struct agent_server *s, char **out);

/* True when the server has output queued for the host (tests use it to drain). */
bool agent_server_busy(const struct agent_server *s);

#endif
