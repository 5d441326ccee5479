/* group_api_client: HTTP/1.1 over the group API's Unix socket. */
#include "vmm/group/group_api_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/fileio.h"

#define CLIENT_TIMEOUT_S 600 /* a start under TCG may take minutes */

/* More bytes into r->buf (compacting first). >0, 0 at EOF, -errno. */
static ssize_t fill(struct group_api_reply *r)
{
	if (r->pos) {
		memmove(r->buf, r->buf + r->pos, r->len - r->pos);
		r->len -= r->pos;
		r->pos = 0;
	}
	if (r->len == sizeof(r->buf))
		return -EMSGSIZE;
	ssize_t n;
	do
		n = recv(r->fd, r->buf + r->len, sizeof(r->buf) - r->len, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	r->len += (size_t)n;
	return n;
}

/* One CRLF-terminated line from the buffer into line (without CRLF). 0 or -errno. */
static int read_line(struct group_api_reply *r, char *line, size_t cap)
{
	for (;;) {
		uint8_t *nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
		if (nl) {
			size_t n = (size_t)(nl - (r->buf + r->pos));
			if (n && r->buf[r->pos + n - 1] == '\r')
				n--;
			if (n >= cap)
				return -EMSGSIZE;
			memcpy(line, r->buf + r->pos, n);
			line[n] = 0;
			r->pos = (size_t)(nl - r->buf) + 1;
			return 0;
		}
		ssize_t got = fill(r);
		if (got <= 0)
			return got ? (int)got : -EPIPE;
	}
}

int group_api_request(const char *sock, const char *method, const char *path, const char *body,
		      const char *extra_headers, struct group_api_reply *r, struct errbuf *eb)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(sock) >= sizeof(sa.sun_path))
		return errbuf_set(eb, ENAMETOOLONG, "%s: socket path too long", sock);
	strcpy(sa.sun_path, sock);
	r->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (r->fd < 0)
		return errbuf_set(eb, errno, "socket: %s", strerror(errno));
	struct timeval tv = {.tv_sec = CLIENT_TIMEOUT_S};
	setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(r->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		group_api_reply_close(r);
		return errbuf_set(eb, e, "%s: %s", sock, strerror(e));
	}
	size_t blen = body ? strlen(body) : 0;
	char head[1024];
	int n = snprintf(head, sizeof(head),
			 "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s%s"
			 "Content-Length: %zu\r\n\r\n",
			 method, path, extra_headers ? extra_headers : "",
			 body ? "Content-Type: application/json\r\n" : "", blen);
	if (n < 0 || (size_t)n >= sizeof(head)) {
		group_api_reply_close(r);
		return errbuf_set(eb, EINVAL, "%s: request too long", path);
	}
	if (write_full(r->fd, head, (size_t)n) < 0 || (blen && write_full(r->fd, body, blen) < 0)) {
		int e = errno;
		group_api_reply_close(r);
		return errbuf_set(eb, e, "%s: sending the request: %s", sock, strerror(e));
	}
	char line[1024];
	int ret = read_line(r, line, sizeof(line));
	unsigned status = 0;
	if (ret < 0 || sscanf(line, "HTTP/1.%*1[01] %3u", &status) != 1) {
		group_api_reply_close(r);
		return errbuf_set(eb, ret < 0 ? -ret : EPROTO, "%s: no HTTP answer (%s)", sock,
				  ret < 0 ? strerror(-ret) : "bad status line");
	}
	r->status = status;
	r->left = -1;
	for (;;) {
		if ((ret = read_line(r, line, sizeof(line))) < 0) {
			group_api_reply_close(r);
			return errbuf_set(eb, -ret, "%s: truncated answer head", sock);
		}
		if (!line[0])
			break;
		if (!strncasecmp(line, "Content-Length:", 15))
			r->left = strtoll(line + 15, NULL, 10);
		else if (!strncasecmp(line, "Transfer-Encoding:", 18) && strstr(line, "chunked"))
			r->chunked = true;
	}
	if (r->chunked)
		r->left = 0; /* the first chunk's size comes next */
	if (status == 101)
		r->left = -1;
	return 0;
}

ssize_t group_api_read(struct group_api_reply *r, void *out, size_t cap)
{
	for (;;) {
		if (r->done)
			return 0;
		if (r->chunked && r->left == 0) {
			char line[64];
			int ret;
			if ((ret = read_line(r, line, sizeof(line))) < 0)
				return ret;
			/* an empty line: the CRLF that ends the previous chunk */
			if (!line[0] && (ret = read_line(r, line, sizeof(line))) < 0)
				return ret;
			char *end;
			long long size = strtoll(line, &end, 16);
			if (end == line || size < 0)
				return -EPROTO;
			if (size == 0) {
				r->done = true;
				return 0;
			}
			r->left = size;
		}
		if (!r->chunked && r->left == 0) {
			r->done = true;
			return 0;
		}
		if (r->pos == r->len) {
			r->pos = r->len = 0;
			ssize_t got = fill(r);
			if (got < 0)
				return got;
			if (got == 0) {
				r->done = true;
				return r->left < 0 ? 0 : -EPIPE;
			}
		}
		size_t n = r->len - r->pos;
		if (n > cap)
			n = cap;
		if (r->left >= 0 && (long long)n > r->left)
			n = (size_t)r->left;
		memcpy(out, r->buf + r->pos, n);
		r->pos += n;
		if (r->left > 0)
			r->left -= (long long)n;
		return (ssize_t)n;
	}
}

int group_api_reply_json(struct group_api_reply *r, struct json_object **out, struct errbuf *eb)
{
	*out = NULL;
	char *text = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			if (cap > GROUP_API_REPLY_MAX + 4096) {
				free(text);
				return errbuf_set(eb, EMSGSIZE,
						  "the answer is larger than %u bytes",
						  GROUP_API_REPLY_MAX);
			}
			char *t = realloc(text, cap);
			if (!t) {
				free(text);
				return errbuf_set(eb, ENOMEM, "out of memory");
			}
			text = t;
		}
		ssize_t n = group_api_read(r, text + len, cap - len - 1);
		if (n < 0) {
			free(text);
			return errbuf_set(eb, (int)-n, "reading the answer: %s", strerror((int)-n));
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len) {
		text[len] = 0;
		*out = json_tokener_parse(text);
	}
	free(text);
	if (len && !*out)
		return errbuf_set(eb, EPROTO, "the answer is not JSON");
	return 0;
}

size_t group_api_take_upgraded(struct group_api_reply *r, uint8_t *buf, size_t cap)
{
	size_t n = r->len - r->pos;
	if (n > cap)
		n = cap;
	memcpy(buf, r->buf + r->pos, n);
	r->pos = r->len = 0;
	return n;
}

void group_api_reply_close(struct group_api_reply *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

int group_api_call(const char *sock, const char *method, const char *path, struct json_object *body,
		   unsigned *status, struct json_object **answer, struct errbuf *eb)
{
	struct group_api_reply r;
	*answer = NULL;
	const char *text =
		body ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN) : NULL;
	int ret = group_api_request(sock, method, path, text, NULL, &r, eb);
	if (ret < 0)
		return ret;
	*status = r.status;
	ret = group_api_reply_json(&r, answer, eb);
	group_api_reply_close(&r);
	return ret;
}

const char *group_api_error_message(struct json_object *answer)
{
	struct json_object *e, *m;
	if (json_object_object_get_ex(answer, "error", &e) &&
	    json_object_object_get_ex(e, "message", &m))
		return json_object_get_string(m);
	return "";
}
