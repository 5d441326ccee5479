/* http_json: helpers shared by the HTTP APIs on Unix sockets (libmicrohttpd, json-c). */
#include "vmm/http_json.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int http_body_append(struct http_body *b, const char *chunk, size_t len, size_t max)
{
	if (b->too_large)
		return 0;
	if (len > max - b->len) {
		b->too_large = true;
		return 0;
	}
	char *p = realloc(b->data, b->len + len + 1);
	if (!p)
		return -ENOMEM;
	b->data = p;
	memcpy(p + b->len, chunk, len);
	b->len += len;
	p[b->len] = 0;
	return 0;
}

void http_body_free(struct http_body *b)
{
	free(b->data);
	*b = (struct http_body){0};
}

enum http_receive http_request_receive(struct MHD_Connection *c, void **con_cls,
				       const char *upload, size_t *upload_size, size_t max_body,
				       struct http_request **out)
{
	struct http_request *rq = *con_cls;
	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return HTTP_RECEIVE_FAILED;
		*con_cls = rq;
		return HTTP_RECEIVE_AGAIN;
	}
	*out = rq;
	if (!rq->peer_checked) {
		if (!http_peer_allowed(c))
			return HTTP_RECEIVE_FORBIDDEN;
		rq->peer_checked = true;
	}
	if (*upload_size) {
		if (http_body_append(&rq->body, upload, *upload_size, max_body) < 0)
			return HTTP_RECEIVE_FAILED;
		*upload_size = 0;
		return HTTP_RECEIVE_AGAIN;
	}
	return HTTP_RECEIVE_COMPLETE;
}

void http_request_free(void **con_cls)
{
	struct http_request *rq = *con_cls;
	if (!rq)
		return;
	if (rq->body.data)
		explicit_bzero(rq->body.data, rq->body.len);
	http_body_free(&rq->body);
	free(rq);
	*con_cls = NULL;
}

struct json_object *http_body_json(const struct http_body *b, char *err, size_t cap)
{
	if (!b->len) {
		snprintf(err, cap, "body: not valid JSON (empty)");
		return NULL;
	}
	struct json_tokener *tok = json_tokener_new();
	if (!tok) {
		snprintf(err, cap, "body: out of memory");
		return NULL;
	}
	struct json_object *o = json_tokener_parse_ex(tok, b->data, (int)b->len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	/* the whole body must be one value: trailing bytes are an error too */
	if (o && (jerr != json_tokener_success || json_tokener_get_parse_end(tok) != b->len)) {
		json_object_put(o);
		o = NULL;
		jerr = json_tokener_error_parse_unexpected;
	}
	if (!o)
		snprintf(err, cap, "body: not valid JSON: %s",
			 jerr == json_tokener_continue ? "unexpected end"
						       : json_tokener_error_desc(jerr));
	json_tokener_free(tok);
	return o;
}

int http_unix_listen(const char *path, const char *what, struct errbuf *eb)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path))
		return errbuf_set(eb, ENAMETOOLONG, "%s: socket path missing or too long", what);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return errbuf_set(eb, errno, "%s: socket: %s", what, strerror(errno));
	unlink(path);
	mode_t old = umask(0177);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(fd, 16) < 0) {
		rc = errbuf_set(eb, errno, "%s %s: %s", what, path, strerror(errno));
		close(fd);
		return rc;
	}
	return fd;
}

bool http_peer_allowed(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (!ci || getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return cred.uid == geteuid() || cred.uid == 0;
}

int http_respond_json(struct MHD_Connection *c, unsigned status, struct json_object *o)
{
	const char *text = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : "";
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
	if (!r) {
		json_object_put(o);
		return MHD_NO;
	}
	if (o)
		MHD_add_response_header(r, "Content-Type", "application/json");
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	json_object_put(o);
	return ret;
}

const char *http_check_fields(struct json_object *o, const struct http_field *f, size_t n,
			      size_t max_string, char *buf, size_t cap)
{
	if (!json_object_is_type(o, json_type_object))
		return "body: expected a JSON object";
	json_object_object_foreach(o, key, val)
	{
		size_t i;
		for (i = 0; i < n; i++)
			if (!strcmp(key, f[i].name))
				break;
		if (i == n) {
			snprintf(buf, cap, "%.64s: unknown field", key);
			return buf;
		}
		if (!json_object_is_type(val, f[i].type)) {
			snprintf(buf, cap, "%s: expected %s", key, json_type_to_name(f[i].type));
			return buf;
		}
		if (f[i].type == json_type_string &&
		    strlen(json_object_get_string(val)) > max_string) {
			snprintf(buf, cap, "%s: longer than %zu bytes", key, max_string);
			return buf;
		}
	}
	return NULL;
}
