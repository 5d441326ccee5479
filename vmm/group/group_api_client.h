/* group_api_client: the client side of the group API (group_api.h) for `parma ps`, `exec`,
 * `logs`, `stop` and `attest`: HTTP/1.1 on the group's Unix socket, one request per
 * connection, JSON answers, chunked streams and the upgraded exec connection.
 *
 *   struct group_api_reply r;
 *   group_api_request(sock, "GET", "/v1/group", NULL, NULL, &r, &eb);  // r.status
 *   group_api_reply_json(&r, &doc, &eb);                              // or group_api_read()
 *   group_api_reply_close(&r);
 *
 * The library never prints. Answers are bounded (GROUP_API_REPLY_MAX for JSON bodies). */
#ifndef PARMA_VMM_GROUP_GROUP_API_CLIENT_H
#define PARMA_VMM_GROUP_GROUP_API_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/errbuf.h"

struct json_object;

#define GROUP_API_REPLY_MAX (8u << 20)

struct group_api_reply {
	int fd;
	unsigned status;
	bool chunked;
	long long left; /* body bytes still to come (Content-Length, or of the current chunk);
			 * -1: until the connection closes */
	bool done;
	uint8_t buf[16384]; /* bytes received and not yet consumed */
	size_t pos, len;
};

/* Send one request (body: JSON text or NULL; extra_headers: "Name: value\r\n" lines or NULL)
 * and read the answer's status line and headers. 0 or -errno (eb says why). */
int group_api_request(const char *sock, const char *method, const char *path, const char *body,
		      const char *extra_headers, struct group_api_reply *r, struct errbuf *eb);

/* Body bytes (chunked encoding undone): > 0 bytes, 0 at its end, or -errno. */
ssize_t group_api_read(struct group_api_reply *r, void *buf, size_t cap);

/* The whole body as JSON (at most GROUP_API_REPLY_MAX). 0 or -errno. */
int group_api_reply_json(struct group_api_reply *r, struct json_object **out, struct errbuf *eb);

/* After a 101: bytes already received past the head move to the caller, who then owns r->fd
 * (raw frames). Returns how many were copied into buf (cap >= sizeof(r->buf)). */
size_t group_api_take_upgraded(struct group_api_reply *r, uint8_t *buf, size_t cap);

void group_api_reply_close(struct group_api_reply *r);

/* Request + JSON answer in one call: *status and *answer (NULL for an empty body). */
int group_api_call(const char *sock, const char *method, const char *path, struct json_object *body,
		   unsigned *status, struct json_object **answer, struct errbuf *eb);

/* The "message" of an error answer {"error": {"message"}}, or "" */
const char *group_api_error_message(struct json_object *answer);

#endif
