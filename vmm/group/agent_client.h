/* agent_client: the host side of the agent protocol (docs/protocol.md), used by `parma agent`,
 * `parma run` and the end-to-end tests.
 *
 * One client = one connection to one parma-agent, single-threaded: every function that waits
 * also pumps the connection, so stdio output and the agent's own requests (dev-mode reports)
 * are delivered through the callbacks while you wait for a response.
 *
 *   struct agent_client *c;
 *   agent_client_connect("/tmp/vm/agent.sock", AGENT_CONNECT_SERIAL, 30000, &c, &eb);
 *   agent_client_set_callbacks(c, &cbs);                      // output + dev reports
 *   struct json_object *resp;
 *   int rc = agent_client_call_text(c, "{\"type\":\"ping\"}", 10000, &resp, &eb);
 *   // rc 0: ok:true · -EACCES: denied by the policy (eb = "denied: <rule>: <message>")
 *   // other negative errno: failed / malformed / timeout; resp (if any) is the full answer
 *   json_object_put(resp);
 *   agent_client_close(c);
 *
 * The library never prints. Nothing from the guest is trusted beyond its framing: bodies are
 * size-limited and parsed strictly. */
#ifndef PARMA_VMM_GROUP_AGENT_CLIENT_H
#define PARMA_VMM_GROUP_AGENT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/errbuf.h"

struct json_object;
struct agent_client;

#define AGENT_REPORT_SIZE 1184
#define AGENT_REPORT_DATA_SIZE 64

enum agent_connect_mode {
	/* A Unix socket that is the byte stream itself (QEMU's virtio-serial chardev socket). */
	AGENT_CONNECT_SERIAL = 0,
	/* Our VMM's vsock Unix socket (Firecracker style): send "CONNECT <port>\n", expect
	 * "OK <n>\n", then the byte stream. */
	AGENT_CONNECT_VSOCK_UDS = 1,
};

struct agent_client_callbacks {
	/* stdout (stream 1) or stderr (stream 2) bytes of a process; eof set once per stream
	 * at its end (with len 0). May be NULL: output is then dropped. */
	void (*on_output)(void *opaque, uint32_t process_id, int stream, const uint8_t *data,
			  size_t len, bool eof);
	/* The agent runs without a TEE and asks for a development report with this
	 * REPORT_DATA. Fill report (1184 bytes) and optionally *certs_json (a new JSON object
	 * {"ark": PEM, "ask": PEM, "vcek": PEM}, or leave NULL); return 0, or a negative errno
	 * to refuse (the agent then stays closed). NULL callback = refuse. */
	int (*on_dev_report)(void *opaque, const uint8_t report_data[AGENT_REPORT_DATA_SIZE],
			     uint8_t report[AGENT_REPORT_SIZE], struct json_object **certs_json);
	void *opaque;
};

/* Connect to `path`, retrying until it accepts or timeout_ms passes (QEMU creates the socket
 * a moment after it starts). Returns 0, -ETIMEDOUT, or another negative errno. */
int agent_client_connect(const char *path, enum agent_connect_mode mode, int timeout_ms,
			 struct agent_client **out, struct errbuf *eb);
/* Use an already connected byte-stream fd (the client takes ownership). */
int agent_client_from_fd(int fd, struct agent_client **out);
void agent_client_close(struct agent_client *c);
void agent_client_set_callbacks(struct agent_client *c, const struct agent_client_callbacks *cbs);

/* Answer the agent's dev_report requests with Parma's development signer (policy/attest
 * snp_dev.h) whose CA lives in ca_dir (created if missing), as a guest launched with this
 * HOST_DATA (the SHA-256 of the group's policy) and MEASUREMENT (NULL: zero) would be
 * reported. The reports carry the dev chain's certificates (ark/ask/vcek PEM). Takes over
 * on_dev_report. Returns 0 or a negative errno (eb says why). */
int agent_client_use_dev_signer(struct agent_client *c, const char *ca_dir,
				const uint8_t host_data[32], const uint8_t measurement[48],
				struct errbuf *eb);

/* Send a request object (its "type" member names the request); *id receives its id. The
 * object is not consumed. Does not wait for the answer. */
int agent_client_send(struct agent_client *c, struct json_object *req, uint32_t *id,
		      struct errbuf *eb);
/* Wait up to timeout_ms (-1 forever) for the answer to request `id`; *resp (may be NULL)
 * receives the whole answer object (caller puts it). Return convention as in the header
 * comment above. */
int agent_client_wait(struct agent_client *c, uint32_t id, int timeout_ms,
		      struct json_object **resp, struct errbuf *eb);
/* send + wait. */
int agent_client_call(struct agent_client *c, struct json_object *req, int timeout_ms,
		      struct json_object **resp, struct errbuf *eb);
/* Same with the request as JSON text. */
int agent_client_call_text(struct agent_client *c, const char *json, int timeout_ms,
			   struct json_object **resp, struct errbuf *eb);

/* Send stdin bytes to a process, respecting the agent's credit (waits, pumping, while the
 * window is closed, up to timeout_ms). Returns 0 or a negative errno. */
int agent_client_write_stdin(struct agent_client *c, uint32_t process_id, const void *data,
			     size_t len, int timeout_ms, struct errbuf *eb);
/* Close a process's stdin (EOF frame). */
int agent_client_close_stdin(struct agent_client *c, uint32_t process_id, struct errbuf *eb);

/* Process whatever arrives within timeout_ms (0 = only what is already there): callbacks run,
 * answers are stored for agent_client_wait. Returns 0, -EPIPE when the agent closed the
 * connection, or another negative errno. */
int agent_client_pump(struct agent_client *c, int timeout_ms, struct errbuf *eb);

/* The connection fd, for callers that poll several things. */
int agent_client_fd(const struct agent_client *c);

/* Protocol faults seen (garbage runs, refused frames, ERROR frames with no request). */
uint64_t agent_client_faults(const struct agent_client *c);

#endif
