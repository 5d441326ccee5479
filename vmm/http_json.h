/* http_json: what the VMM's control API (vmm/api.c) and the group API (vmm/group/group_api.c)
 * share on top of libmicrohttpd: a listening Unix socket only its owner can use, a check of
 * the peer's credentials, bounded request bodies, strict JSON field checks and JSON answers.
 * One mechanism, so both APIs refuse the same things the same way. */
#ifndef PARMA_VMM_HTTP_JSON_H
#define PARMA_VMM_HTTP_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "common/errbuf.h"

struct MHD_Connection;

/* A request body being received. Past `max` bytes the rest is dropped and too_large set, so
 * an oversized upload costs nothing and is answered 413 once complete. */
struct http_body {
	char *data; /* NUL-terminated */
	size_t len;
	bool too_large;
};

/* Append an upload chunk. 0 or -ENOMEM. */
int http_body_append(struct http_body *b, const char *chunk, size_t len, size_t max);
void http_body_free(struct http_body *b);

/* The state of one request while it arrives: its body, and whether its peer was checked. */
struct http_request {
	struct http_body body;
	bool peer_checked;
};

enum http_receive {
	HTTP_RECEIVE_AGAIN,     /* answer MHD_YES: more of the request is to come */
	HTTP_RECEIVE_COMPLETE,  /* the whole request is here: route it */
	HTTP_RECEIVE_FORBIDDEN, /* the peer is another user: answer 403 */
	HTTP_RECEIVE_FAILED,    /* out of memory: answer MHD_NO */
};

/* One call of libmicrohttpd's access handler, as both APIs receive: the first call allocates
 * the request in *con_cls, the next checks the peer once, upload chunks go into the body
 * (bounded by max_body). *out is the request from the second call on. */
enum http_receive http_request_receive(struct MHD_Connection *c, void **con_cls,
				       const char *upload, size_t *upload_size, size_t max_body,
				       struct http_request **out);

/* The completion handler's part: wipe (bodies can hold run-time values) and free the
 * request in *con_cls, if any. */
void http_request_free(void **con_cls);

/* The body as a JSON value, or NULL with a message in err ("body: not valid JSON: ..."). */
struct json_object *http_body_json(const struct http_body *b, char *err, size_t cap);

/* A listening stream socket at path, created with mode 0600 (umask, so there is no moment
 * at which others may connect), non-blocking, close-on-exec. Returns the fd or -errno. */
int http_unix_listen(const char *path, const char *what, struct errbuf *eb);

/* True if the peer of connection c runs as this process's user or as root (SO_PEERCRED):
 * a socket made reachable by mistake (a copied path, a chmod) still grants nothing. */
bool http_peer_allowed(struct MHD_Connection *c);

/* Queue `status` with o as the JSON body (NULL: empty body); consumes o. Returns MHD_YES or
 * MHD_NO as an int. */
int http_respond_json(struct MHD_Connection *c, unsigned status, struct json_object *o);

struct http_field {
	const char *name;
	enum json_type type;
};

/* Reject a non-object, unknown fields, wrong types and strings longer than max_string.
 * Returns NULL, or a message naming the field (in buf). */
const char *http_check_fields(struct json_object *o, const struct http_field *f, size_t n,
			      size_t max_string, char *buf, size_t cap);

#endif
