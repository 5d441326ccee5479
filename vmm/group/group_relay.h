/* group_relay: lets several host clients share the guest agent's single byte stream.
 *
 * The agent has exactly one transport (a virtio-serial port or one vsock connection), but a
 * running group has several host clients at once: `parma run` itself and each request of the
 * group's API (group_api.h; `parma exec`, `attest` and the others are clients of that API).
 * The relay owns the agent stream and listens on a Unix socket
 * that speaks the same framed protocol (docs/protocol.md), so every client is an ordinary
 * agent_client. It rewrites request ids so clients cannot collide, routes each process's
 * stdio frames to the client that started the process, and hands requests the agent sends
 * to the host (dev-mode reports) to the first client, the group's owner.
 *
 * Untrusted on both sides: clients are local users with access to the socket (mode 0600),
 * the agent is trusted but its stream crosses the host. Frames are parsed with the protocol
 * decoder; nothing is interpreted beyond ids, the "process_id" member of responses and the
 * type of requests: one type, "group_env" {"container_id"}, is answered by the relay itself
 * with {"ok": true, "env": {"NAME": "VALUE"}}, the run-time environment values `parma run`
 * was given for that container (policy/lang/policy_runenv.h), so `parma exec` sends the same
 * values without them being written anywhere on the host. */
#ifndef PARMA_VMM_GROUP_GROUP_RELAY_H
#define PARMA_VMM_GROUP_GROUP_RELAY_H

#include "common/errbuf.h"

struct group_relay;

/* Clients connected at once; one more is refused with an error frame. Only the relay's own
 * user (and root) may connect: the socket is mode 0600 and the peer's uid is checked. */
#define GROUP_RELAY_MAX_CLIENTS 16

struct json_object;

/* Start relaying between agent_fd (a connected stream; the relay takes ownership) and a new
 * listening socket at sock_path, on a thread of its own. env: the run-time values
 * {"container": {"NAME": "VALUE"}} that "group_env" answers with (copied; may be NULL). */
int group_relay_start(int agent_fd, const char *sock_path, struct json_object *env,
		      struct group_relay **out, struct errbuf *eb);

/* Non-zero once the agent closed its stream (the guest stopped). */
int group_relay_agent_gone(const struct group_relay *r);

/* Stop the thread, close every connection, remove the socket file. NULL is fine. */
void group_relay_stop(struct group_relay *r);

#endif
