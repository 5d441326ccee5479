/* group_api: a running group's API — HTTP/1.1 + JSON on a Unix socket, versioned in the path
 * (/v1/...), for control planes that drive Parma instead of a terminal. Reference:
 * docs/group-api.md and docs/group-api.yaml.
 *
 *   GET    /v1/group                     state, policy digest, backend, TEE, containers
 *   POST   /v1/containers                {"name", "env"}: start a container of the spec
 *   GET    /v1/containers/{id}           state, process id, exit code
 *   POST   /v1/containers/{id}/signal    {"signal": 15 | "SIGTERM"}
 *   DELETE /v1/containers/{id}           shut it down (?force=0: SIGTERM, else SIGKILL)
 *   POST   /v1/containers/{id}/exec      {"command", "stdin"}: 101, then stdio frames
 *   GET    /v1/containers/{id}/logs      its output (?follow=1: until the group ends)
 *   POST   /v1/attest                    {"report_data": HEX}: report + certificate chain
 *   GET    /v1/events                    newline-delimited JSON: lifecycle and denials
 *   POST   /v1/stop                      stop the group
 *
 * The server runs on libmicrohttpd threads (one per connection, so a stream blocks only its
 * own); it reaches the agent through the group's relay (group_relay.h), one agent client per
 * request, so every request is still the guest policy engine's to decide. What needs the
 * group's own state (starting a container, the run-time values, stopping) is handed to the
 * thread that runs the group as a command, through group_api_next_command().
 *
 * Bounds as the VMM's control API (vmm/api.h): the socket is mode 0600 and the peer's uid must
 * be ours (or root); bodies above API_MAX_BODY get 413; at most API_MAX_CONNECTIONS clients,
 * more are closed at once. Nothing secret is logged: run-time values travel only in memory. */
#ifndef PARMA_VMM_GROUP_GROUP_API_H
#define PARMA_VMM_GROUP_GROUP_API_H

#include "common/errbuf.h"

struct json_object;
struct group_api;

#define GROUP_API_VERSION "v1"
/* Events kept for clients that connect later (GET /v1/events replays them first). */
#define GROUP_API_EVENTS 256
/* Largest stdio frame (either direction) on an exec stream. */
#define GROUP_API_FRAME_MAX (64 * 1024)

/* Exec stream frames: an 8-byte header {type, 0, 0, 0, length (u32 big-endian)}, then the
 * payload, as Docker's attach multiplexes stdio. */
enum group_api_frame {
	GROUP_API_FRAME_STDIN = 0,  /* client → server; an empty one closes stdin */
	GROUP_API_FRAME_STDOUT = 1, /* server → client */
	GROUP_API_FRAME_STDERR = 2, /* server → client */
	GROUP_API_FRAME_EXIT = 3, /* server → client, last: {"exit_code": N} or {"error": ...} */
	GROUP_API_FRAME_RESIZE = 4, /* client → server: {"rows": R, "cols": C} */
};

struct group_api_config {
	const char *socket_path;
	const char *relay_sock; /* the agent stream, through the relay */
	const char *policy;	/* the installed policy bytes (requests are built from them) */
	const char *logs_dir;	/* <container>.log */
	const char *state_dir;	/* where a denied exec's record goes (denied-exec.json) */
};

int group_api_start(const struct group_api_config *cfg, struct group_api **out, struct errbuf *eb);

/* The group's status document (what group.json holds), copied; "state": "running" opens the
 * requests that need the agent. */
void group_api_set_group(struct group_api *a, struct json_object *group);

/* Publish an event {"type": type, ...detail}; takes detail (may be NULL). Thread-safe. */
void group_api_event(struct group_api *a, const char *type, struct json_object *detail);

/* The group's thread: the next command waiting for it, or NULL. A command is
 * {"op": "start", "name": C, "env": {...}}, {"op": "env", "name": C} or {"op": "stop"};
 * answer each with group_api_finish_command (the HTTP status and a JSON body, taken). */
struct json_object *group_api_next_command(struct group_api *a);
void group_api_finish_command(struct group_api *a, unsigned status, struct json_object *body);

/* Refuse new requests, end streams, answer a waiting command 503, stop the server and
 * remove the socket. NULL is fine. */
void group_api_stop(struct group_api *a);

#endif
