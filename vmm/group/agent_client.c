/* agent_client: host-side connection to parma-agent (see agent_client.h). */
#include "vmm/group/agent_client.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/encoding.h"
#include "common/fileio.h"
#include "guest/proto/proto.h"
#include "policy/attest/snp_dev.h"

/* An answer that arrived before anyone waited for it. */
struct answer {
	uint32_t id;
	struct json_object *obj;
	struct answer *next;
};

/* Remaining stdin credit of one process. */
struct credit {
	uint32_t process_id;
	uint64_t window;
	struct credit *next;
};

struct agent_client {
	int fd;
	uint32_t next_id;
	struct proto_decoder dec;
	struct agent_client_callbacks cbs;
	struct answer *answers;
	struct credit *credits;
	uint64_t faults;
	int closed;
	/* development signer (agent_client_use_dev_signer) */
	struct snp_dev_ca *dev_ca;
	uint8_t dev_host_data[32];
	uint8_t dev_measurement[48];
	char *dev_certs; /* JSON text {"ark":..,"ask":..,"vcek":..} */
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until deadline (-1: no deadline). */
static int remaining(int64_t deadline)
{
	if (deadline < 0)
		return -1;
	int64_t left = deadline - now_ms();
	return left < 0 ? 0 : (int)(left > 1000000 ? 1000000 : left);
}

int agent_client_from_fd(int fd, struct agent_client **out)
{
	struct agent_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		free(c);
		return -errno;
	}
	c->fd = fd;
	c->next_id = 1;
	proto_decoder_init(&c->dec);
	*out = c;
	return 0;
}

/* Our VMM's vsock socket: "CONNECT <port>\n" → "OK <n>\n" (blocking, before O_NONBLOCK). */
static int vsock_handshake(int fd, struct errbuf *eb)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "CONNECT %u\n", PROTO_VSOCK_PORT);
	if (write_full(fd, line, (size_t)n) < 0)
		return errbuf_set(eb, EPIPE, "vsock handshake: write failed");
	size_t got = 0;
	while (got < sizeof(line) - 1) {
		ssize_t r = read(fd, line + got, 1);
		if (r <= 0)
			return errbuf_set(eb, ECONNREFUSED,
					  "vsock handshake: connection closed (is the agent listening "
					  "on port %u?)", PROTO_VSOCK_PORT);
		if (line[got++] == '\n')
			break;
	}
	line[got] = 0;
	if (strncmp(line, "OK ", 3))
		return errbuf_set(eb, ECONNREFUSED, "vsock handshake: unexpected answer");
	return 0;
}

int agent_client_connect(const char *path, enum agent_connect_mode mode, int timeout_ms,
			 struct agent_client **out, struct errbuf *eb)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	int fd = -1, ret;

	if (strlen(path) >= sizeof(sa.sun_path))
		return errbuf_set(eb, ENAMETOOLONG, "%s: socket path too long", path);
	memcpy(sa.sun_path, path, strlen(path));
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return errbuf_set(eb, errno, "socket: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		ret = errno;
		close(fd);
		if ((ret != ENOENT && ret != ECONNREFUSED) || remaining(deadline) == 0)
			return errbuf_set(eb, ret == ENOENT || ret == ECONNREFUSED ? ETIMEDOUT : ret,
					  "%s: cannot connect: %s", path, strerror(ret));
		usleep(50 * 1000);
	}
	if (mode == AGENT_CONNECT_VSOCK_UDS && (ret = vsock_handshake(fd, eb)) < 0) {
		close(fd);
		return ret;
	}
	ret = agent_client_from_fd(fd, out);
	if (ret < 0) {
		close(fd);
		return errbuf_set(eb, -ret, "%s: %s", path, strerror(-ret));
	}
	return 0;
}

void agent_client_close(struct agent_client *c)
{
	if (!c)
		return;
	while (c->answers) {
		struct answer *a = c->answers;
		c->answers = a->next;
		json_object_put(a->obj);
		free(a);
	}
	while (c->credits) {
		struct credit *k = c->credits;
		c->credits = k->next;
		free(k);
	}
	proto_decoder_destroy(&c->dec);
	if (c->fd >= 0)
		close(c->fd);
	snp_dev_ca_free(c->dev_ca);
	free(c->dev_certs);
	free(c);
}

int agent_client_use_dev_signer(struct agent_client *c, const char *ca_dir,
				const uint8_t host_data[32], const uint8_t measurement[48],
				struct errbuf *eb)
{
	struct snp_dev_ca *ca;
	int ret = snp_dev_ca_open(ca_dir, true, NULL, &ca, eb);
	if (ret < 0)
		return ret;
	struct json_object *certs = json_object_new_object();
	static const char *const names[] = { "ark", "ask", "vcek" };
	for (size_t i = 0; certs && i < 3; i++) {
		char path[4096];
		uint8_t *pem;
		size_t len;
		snprintf(path, sizeof(path), "%s/%s.pem", ca_dir, names[i]);
		if (file_read_all(path, 65536, &pem, &len, NULL) == 0) {
			json_object_object_add(certs, names[i],
					       json_object_new_string_len((char *)pem, (int)len));
			free(pem);
		}
	}
	const char *text = certs ? json_object_to_json_string_ext(certs, JSON_C_TO_STRING_PLAIN)
				 : NULL;
	char *copy = text ? strdup(text) : NULL;
	json_object_put(certs);
	if (!copy) {
		snp_dev_ca_free(ca);
		return errbuf_set(eb, ENOMEM, "out of memory");
	}
	snp_dev_ca_free(c->dev_ca);
	free(c->dev_certs);
	c->dev_ca = ca;
	c->dev_certs = copy;
	memcpy(c->dev_host_data, host_data, 32);
	if (measurement)
		memcpy(c->dev_measurement, measurement, 48);
	else
		memset(c->dev_measurement, 0, 48);
	return 0;
}

void agent_client_set_callbacks(struct agent_client *c, const struct agent_client_callbacks *cbs)
{
	c->cbs = *cbs;
}

int agent_client_fd(const struct agent_client *c)
{
	return c->fd;
}

uint64_t agent_client_faults(const struct agent_client *c)
{
	return c->faults + c->dec.faults;
}

static struct credit *credit_get(struct agent_client *c, uint32_t process_id)
{
	for (struct credit *k = c->credits; k; k = k->next)
		if (k->process_id == process_id)
			return k;
	struct credit *k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->process_id = process_id;
	k->window = PROTO_STDIN_WINDOW;
	k->next = c->credits;
	c->credits = k;
	return k;
}

static int handle_frame(struct agent_client *c, const struct proto_frame *f);

/* Read what is available (without blocking) and dispatch every complete frame. */
static int read_available(struct agent_client *c, struct errbuf *eb)
{
	for (;;) {
		uint8_t *area;
		size_t avail;
		int ret = proto_decoder_space(&c->dec, 65536, &area, &avail);
		if (ret < 0)
			return errbuf_set(eb, -ret, "agent connection: receive buffer: %s",
					  strerror(-ret));
		ssize_t n = read(c->fd, area, avail);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return errbuf_set(eb, errno, "agent connection: %s", strerror(errno));
		}
		if (n == 0) {
			c->closed = 1;
			return errbuf_set(eb, EPIPE, "agent connection closed");
		}
		proto_decoder_commit(&c->dec, (size_t)n);
		for (;;) {
			struct proto_frame f;
			struct proto_fault fault;
			int st = proto_decoder_next(&c->dec, &f, &fault);
			if (st == PROTO_NEED_MORE)
				break;
			if (st == PROTO_FAULT)
				continue; /* counted in dec.faults; a host client has nobody to tell */
			ret = handle_frame(c, &f);
			if (ret < 0)
				return errbuf_set(eb, -ret, "agent connection: %s", strerror(-ret));
		}
	}
}

/* Write a whole frame, reading (and dispatching) incoming frames while the socket is full, so
 * the two sides never block on each other. */
static int write_frame(struct agent_client *c, const uint8_t *buf, size_t len, struct errbuf *eb)
{
	while (len) {
		/* a relay that refused us (or a guest gone) is an error to report, not a SIGPIPE */
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK)
			n = write(c->fd, buf, len);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return errbuf_set(eb, errno, "agent connection: %s", strerror(errno));
		struct pollfd p = { .fd = c->fd, .events = POLLIN | POLLOUT };
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			return errbuf_set(eb, errno, "poll: %s", strerror(errno));
		if (p.revents & (POLLIN | POLLHUP)) {
			int ret = read_available(c, eb);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

static int send_json(struct agent_client *c, uint8_t type, uint32_t id, struct json_object *obj,
		     struct errbuf *eb)
{
	uint8_t *buf;
	size_t len;
	int ret = proto_json_frame(type, id, obj, &buf, &len);
	if (ret < 0)
		return errbuf_set(eb, -ret, "cannot encode frame: %s",
				  ret == -E2BIG ? "body exceeds the protocol's 2 MiB limit"
						: strerror(-ret));
	ret = write_frame(c, buf, len, eb);
	free(buf);
	return ret;
}

/* The agent asks for a development report (dev mode only). */
static int answer_dev_report(struct agent_client *c, uint32_t id, struct json_object *req)
{
	struct json_object *v, *resp = NULL, *certs = NULL;
	uint8_t report_data[AGENT_REPORT_DATA_SIZE];
	uint8_t report[AGENT_REPORT_SIZE];
	const char *why = NULL;
	int ret = 0;

	if (!json_object_object_get_ex(req, "report_data", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    hex_decode(json_object_get_string(v), report_data, sizeof(report_data)) < 0)
		why = "report_data: expected 128 hex digits";
	else if (c->dev_ca) {
		if (snp_dev_make_report(c->dev_ca, c->dev_measurement, c->dev_host_data,
					report_data, report, NULL) < 0)
			why = "the host's development signer failed";
		else
			certs = json_tokener_parse(c->dev_certs);
	} else if (!c->cbs.on_dev_report)
		why = "this host has no development signer";
	else if ((ret = c->cbs.on_dev_report(c->cbs.opaque, report_data, report, &certs)) < 0)
		why = "the host's development signer failed";
	if (why) {
		resp = proto_error_object(PROTO_ERR_FAILED, why);
	} else {
		char b64[((AGENT_REPORT_SIZE + 2) / 3) * 4 + 1];
		base64_encode(report, sizeof(report), b64);
		resp = json_object_new_object();
		json_object_object_add(resp, "ok", json_object_new_boolean(1));
		json_object_object_add(resp, "report", json_object_new_string(b64));
		if (certs)
			json_object_object_add(resp, "certs", certs);
	}
	if (!resp)
		return -ENOMEM;
	ret = send_json(c, PROTO_RESPONSE, id, resp, NULL);
	json_object_put(resp);
	return ret;
}

static int handle_frame(struct agent_client *c, const struct proto_frame *f)
{
	struct json_object *obj = NULL;

	switch (f->type) {
	case PROTO_STREAM:
	case PROTO_EOF:
		if (f->flags != PROTO_STDIN && c->cbs.on_output)
			c->cbs.on_output(c->cbs.opaque, f->id, f->flags, f->body, f->length,
					 f->type == PROTO_EOF);
		return 0;
	case PROTO_CREDIT: {
		struct credit *k = credit_get(c, f->id);
		if (!k)
			return -ENOMEM;
		uint32_t more = (uint32_t)f->body[0] | (uint32_t)f->body[1] << 8 |
				(uint32_t)f->body[2] << 16 | (uint32_t)f->body[3] << 24;
		k->window += more;
		return 0;
	}
	case PROTO_REQUEST: {
		if (proto_json_parse(f, &obj, NULL) < 0) {
			c->faults++;
			return 0;
		}
		struct json_object *t;
		int ret = 0;
		if (json_object_object_get_ex(obj, "type", &t) &&
		    json_object_is_type(t, json_type_string) &&
		    !strcmp(json_object_get_string(t), PROTO_REQ_DEV_REPORT)) {
			ret = answer_dev_report(c, f->id, obj);
		} else {
			struct json_object *e = proto_error_object(PROTO_ERR_UNKNOWN_TYPE,
								   "the host serves only dev_report");
			if (e)
				ret = send_json(c, PROTO_RESPONSE, f->id, e, NULL);
			json_object_put(e);
		}
		json_object_put(obj);
		return ret;
	}
	case PROTO_RESPONSE:
	case PROTO_ERROR: {
		if (f->type == PROTO_ERROR && (f->flags & PROTO_ERROR_STREAM)) {
			c->faults++; /* about our stdin frames: not an answer to a request */
			return 0;
		}
		if (proto_json_parse(f, &obj, NULL) < 0) {
			c->faults++;
			obj = proto_error_object(PROTO_ERR_MALFORMED,
						 "the agent's answer was not valid JSON");
			if (!obj)
				return -ENOMEM;
		}
		struct answer *a = calloc(1, sizeof(*a));
		if (!a) {
			json_object_put(obj);
			return -ENOMEM;
		}
		a->id = f->id;
		a->obj = obj;
		a->next = c->answers;
		c->answers = a;
		return 0;
	}
	default:
		c->faults++;
		return 0;
	}
}

int agent_client_pump(struct agent_client *c, int timeout_ms, struct errbuf *eb)
{
	if (c->closed)
		return errbuf_set(eb, EPIPE, "agent connection closed");
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	int n = poll(&p, 1, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : errbuf_set(eb, errno, "poll: %s", strerror(errno));
	if (n == 0)
		return 0;
	return read_available(c, eb);
}

int agent_client_send(struct agent_client *c, struct json_object *req, uint32_t *id,
		      struct errbuf *eb)
{
	uint32_t my = c->next_id++;
	if (c->next_id == 0)
		c->next_id = 1;
	int ret = send_json(c, PROTO_REQUEST, my, req, eb);
	if (ret == 0 && id)
		*id = my;
	return ret;
}

static struct json_object *take_answer(struct agent_client *c, uint32_t id)
{
	for (struct answer **pp = &c->answers; *pp; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			struct answer *a = *pp;
			struct json_object *o = a->obj;
			*pp = a->next;
			free(a);
			return o;
		}
	}
	return NULL;
}

/* Map an answer to the return convention: 0 ok, -EACCES denied, other -errno. */
static int judge_answer(struct json_object *a, struct errbuf *eb)
{
	struct json_object *ok, *err, *code, *msg, *reason, *rule;
	if (json_object_object_get_ex(a, "ok", &ok) && json_object_get_boolean(ok))
		return 0;
	const char *c = "failed", *m = "", *r = NULL;
	if (json_object_object_get_ex(a, "error", &err)) {
		if (json_object_object_get_ex(err, "code", &code))
			c = json_object_get_string(code);
		if (json_object_object_get_ex(err, "message", &msg))
			m = json_object_get_string(msg);
		if (json_object_object_get_ex(err, "reason", &reason) &&
		    json_object_object_get_ex(reason, "rule", &rule))
			r = json_object_get_string(rule);
	}
	int errnum = !strcmp(c, PROTO_ERR_DENIED)	  ? EACCES
		     : !strcmp(c, PROTO_ERR_NOT_FOUND)	  ? ENOENT
		     : !strcmp(c, PROTO_ERR_MALFORMED)	  ? EBADMSG
		     : !strcmp(c, PROTO_ERR_UNKNOWN_TYPE) ? ENOTSUP
		     : !strcmp(c, PROTO_ERR_INVALID)	  ? EINVAL
		     : !strcmp(c, PROTO_ERR_BUSY)	  ? EBUSY
							  : EIO;
	if (r)
		return errbuf_set(eb, errnum, "%s: %s: %s", c, r, m);
	return errbuf_set(eb, errnum, "%s: %s", c, m);
}

int agent_client_wait(struct agent_client *c, uint32_t id, int timeout_ms,
		      struct json_object **resp, struct errbuf *eb)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	struct json_object *a;

	if (resp)
		*resp = NULL;
	while (!(a = take_answer(c, id))) {
		int left = remaining(deadline);
		if (left == 0)
			return errbuf_set(eb, ETIMEDOUT, "no answer from the agent to request %u "
					  "within %d ms", id, timeout_ms);
		int ret = agent_client_pump(c, left, eb);
		if (ret < 0)
			return ret;
	}
	int ret = judge_answer(a, eb);
	if (resp)
		*resp = a;
	else
		json_object_put(a);
	return ret;
}

int agent_client_call(struct agent_client *c, struct json_object *req, int timeout_ms,
		      struct json_object **resp, struct errbuf *eb)
{
	uint32_t id;
	if (resp)
		*resp = NULL;
	int ret = agent_client_send(c, req, &id, eb);
	if (ret < 0)
		return ret;
	return agent_client_wait(c, id, timeout_ms, resp, eb);
}

int agent_client_call_text(struct agent_client *c, const char *json, int timeout_ms,
			   struct json_object **resp, struct errbuf *eb)
{
	if (resp)
		*resp = NULL;
	struct json_tokener *tok = json_tokener_new_ex(PROTO_JSON_DEPTH);
	if (!tok)
		return errbuf_set(eb, ENOMEM, "out of memory");
	struct json_object *req = json_tokener_parse_ex(tok, json, (int)strlen(json));
	int bad = !req || json_tokener_get_error(tok) != json_tokener_success ||
		  !json_object_is_type(req, json_type_object);
	json_tokener_free(tok);
	if (bad) {
		json_object_put(req);
		return errbuf_set(eb, EINVAL, "request is not a JSON object");
	}
	int ret = agent_client_call(c, req, timeout_ms, resp, eb);
	json_object_put(req);
	return ret;
}

int agent_client_write_stdin(struct agent_client *c, uint32_t process_id, const void *data,
			     size_t len, int timeout_ms, struct errbuf *eb)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	const uint8_t *p = data;
	while (len) {
		struct credit *k = credit_get(c, process_id);
		if (!k)
			return errbuf_set(eb, ENOMEM, "out of memory");
		if (k->window == 0) {
			int left = remaining(deadline);
			if (left == 0)
				return errbuf_set(eb, ETIMEDOUT, "process %u does not read its stdin",
						  process_id);
			int ret = agent_client_pump(c, left, eb);
			if (ret < 0)
				return ret;
			continue;
		}
		size_t n = len;
		if (n > PROTO_STREAM_MAX)
			n = PROTO_STREAM_MAX;
		if (n > k->window)
			n = (size_t)k->window;
		uint8_t *buf;
		size_t blen;
		int ret = proto_frame_encode(PROTO_STREAM, PROTO_STDIN, process_id, p, (uint32_t)n,
					     &buf, &blen);
		if (ret < 0)
			return errbuf_set(eb, -ret, "cannot encode stdin frame");
		k->window -= n;
		ret = write_frame(c, buf, blen, eb);
		free(buf);
		if (ret < 0)
			return ret;
		p += n;
		len -= n;
	}
	return 0;
}

int agent_client_close_stdin(struct agent_client *c, uint32_t process_id, struct errbuf *eb)
{
	uint8_t *buf;
	size_t blen;
	int ret = proto_frame_encode(PROTO_EOF, PROTO_STDIN, process_id, NULL, 0, &buf, &blen);
	if (ret < 0)
		return errbuf_set(eb, -ret, "cannot encode EOF frame");
	ret = write_frame(c, buf, blen, eb);
	free(buf);
	return ret;
}
