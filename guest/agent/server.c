/* server: parma-agent's host connection (see server.h): frames in and out, answers, logging
 * and the poll loop. The parts it serves are listed in server_internal.h. */
#include "guest/agent/server_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fileio.h"

/* ---- transmit queue ---- */

static int outq_append(struct agent_server *s, const uint8_t *data, size_t len)
{
	if (s->fd < 0)
		return 0; /* no host connected: output is dropped, not hoarded */
	if (s->out_len + len > s->out_cap) {
		if (s->out_off) {
			memmove(s->out, s->out + s->out_off, s->out_len - s->out_off);
			s->out_len -= s->out_off;
			s->out_off = 0;
		}
		if (s->out_len + len > s->out_cap) {
			size_t ncap = s->out_cap ? s->out_cap : 65536;
			while (ncap < s->out_len + len)
				ncap *= 2;
			uint8_t *n = realloc(s->out, ncap);
			if (!n)
				return -ENOMEM;
			s->out = n;
			s->out_cap = ncap;
		}
	}
	memcpy(s->out + s->out_len, data, len);
	s->out_len += len;
	return 0;
}

static size_t outq_pending(const struct agent_server *s)
{
	return s->out_len - s->out_off;
}

int server_send_frame(struct agent_server *s, uint8_t type, uint16_t flags, uint32_t id,
		      const void *body, uint32_t len)
{
	uint8_t hdr[PROTO_HEADER_SIZE];
	struct proto_header h = { PROTO_VERSION, type, flags, id, len };
	int ret = proto_header_encode(&h, hdr);
	if (ret < 0)
		return ret;
	ret = outq_append(s, hdr, sizeof(hdr));
	if (ret == 0 && len)
		ret = outq_append(s, body, len);
	return ret;
}

int server_send_json(struct agent_server *s, uint8_t type, uint32_t id, struct json_object *obj)
{
	size_t len;
	const char *text = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN, &len);
	if (!text)
		return -ENOMEM;
	if (len > PROTO_JSON_MAX) {
		struct json_object *e = proto_error_object(PROTO_ERR_FAILED,
							   "answer exceeds the frame limit");
		int ret = e ? server_send_json(s, type, id, e) : -ENOMEM;
		json_object_put(e);
		return ret;
	}
	return server_send_frame(s, type, 0, id, text, (uint32_t)len);
}

void server_answer(struct agent_server *s, uint32_t id, struct json_object *resp)
{
	if (!resp)
		resp = proto_error_object(PROTO_ERR_FAILED, "out of memory");
	if (resp)
		server_send_json(s, PROTO_RESPONSE, id, resp);
	json_object_put(resp);
}

/* ---- answers ---- */

struct json_object *server_ok(void)
{
	struct json_object *o = json_object_new_object();
	if (o)
		json_object_object_add(o, "ok", json_object_new_boolean(1));
	return o;
}

struct json_object *server_error(const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return proto_error_object(code, msg);
}

struct json_object *server_denial(const char *rule, const char *field, const char *expected,
				  const char *got, const char *message)
{
	struct json_object *o = proto_error_object(PROTO_ERR_DENIED, message);
	struct json_object *err, *r = json_object_new_object();
	if (!o || !r) {
		json_object_put(o);
		json_object_put(r);
		return NULL;
	}
	json_object_object_add(r, "rule", json_object_new_string(rule));
	json_object_object_add(r, "field", json_object_new_string(field ? field : ""));
	json_object_object_add(r, "expected", json_object_new_string(expected ? expected : ""));
	json_object_object_add(r, "got", json_object_new_string(got ? got : ""));
	json_object_object_add(r, "message", json_object_new_string(message ? message : ""));
	json_object_object_get_ex(o, "error", &err);
	json_object_object_add(err, "reason", r);
	return o;
}

struct json_object *server_decision_denial(const struct policy_decision *d)
{
	const struct policy_reason *r = &d->reason;
	struct json_object *o = server_denial(policy_rule_name(r->rule), r->field, r->expected,
					      r->got,
					      r->message[0] ? r->message : policy_rule_name(r->rule));
	struct json_object *err, *reason;
	/* which rule (the policy's, or a signed fragment's) the request was compared against */
	if (o && d->source[0] && json_object_object_get_ex(o, "error", &err) &&
	    json_object_object_get_ex(err, "reason", &reason))
		json_object_object_add(reason, "source", json_object_new_string(d->source));
	return o;
}

/* ---- logging (only what the policy allows) ---- */

void server_log(struct agent_server *s, const char *fmt, ...)
{
	struct policy_decision d;
	if (!s->log || !policy_engine_policy(s->engine))
		return;
	if (policy_runtime_logging(s->engine, &d) != 0)
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	s->log(s->log_opaque, line);
}

void server_fd_nonblock_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
}

void agent_server_child_exited(struct agent_server *s, pid_t pid, int status)
{
	struct agent_proc *p = process_exited(s, pid, status);
	if (p && p->kind == AGENT_PROC_INIT)
		container_init_exited(s, p);
}

/* ---- frames from the host ---- */

static void send_fault_flags(struct agent_server *s, uint16_t flags, uint32_t id,
			     const char *code, const char *why)
{
	struct json_object *e = proto_error_object(code, why);
	size_t len;
	const char *text = e ? json_object_to_json_string_length(e, JSON_C_TO_STRING_PLAIN, &len)
			     : NULL;
	if (text && len <= PROTO_JSON_MAX)
		server_send_frame(s, PROTO_ERROR, flags, id, text, (uint32_t)len);
	json_object_put(e);
}

static void send_fault(struct agent_server *s, uint32_t id, const char *code, const char *why)
{
	send_fault_flags(s, 0, id, code, why);
}

void server_stream_fault(struct agent_server *s, uint32_t id, const char *code, const char *why)
{
	send_fault_flags(s, PROTO_ERROR_STREAM, id, code, why);
}

static void handle_frame(struct agent_server *s, const struct proto_frame *f)
{
	struct json_object *obj = NULL;
	struct errbuf eb = { 0 };

	switch (f->type) {
	case PROTO_REQUEST:
		if (proto_json_parse(f, &obj, &eb) < 0) {
			send_fault(s, f->id, PROTO_ERR_MALFORMED, errbuf_msg(&eb));
			return;
		}
		server_dispatch(s, f->id, obj);
		json_object_put(obj);
		return;
	case PROTO_RESPONSE:
	case PROTO_ERROR:
		if (proto_json_parse(f, &obj, &eb) < 0)
			obj = proto_error_object(PROTO_ERR_MALFORMED, errbuf_msg(&eb));
		attest_host_answer(s, f->id, obj);
		json_object_put(obj);
		return;
	case PROTO_STREAM:
	case PROTO_EOF:
		if (f->flags != PROTO_STDIN) {
			server_stream_fault(s, f->id, PROTO_ERR_INVALID, "the host may only send stdin");
			return;
		}
		process_stdin_frame(s, f);
		return;
	default:
		server_stream_fault(s, f->id, PROTO_ERR_INVALID, "the agent does not accept CREDIT frames");
		return;
	}
}

static int read_host(struct agent_server *s)
{
	for (int rounds = 0; rounds < 16; rounds++) {
		uint8_t *area;
		size_t avail;
		if (proto_decoder_space(&s->dec, 65536, &area, &avail) < 0)
			return 0; /* cannot happen while we pull after every read */
		ssize_t n = read(s->fd, area, avail);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -EPIPE;
		if (n == 0)
			return -EPIPE;
		proto_decoder_commit(&s->dec, (size_t)n);
		for (;;) {
			struct proto_frame f;
			struct proto_fault fault;
			int st = proto_decoder_next(&s->dec, &f, &fault);
			if (st == PROTO_NEED_MORE)
				break;
			if (st == PROTO_FAULT && fault.has_id && fault.type >= PROTO_STREAM)
				server_stream_fault(s, fault.id, PROTO_ERR_MALFORMED, fault.reason);
			else if (st == PROTO_FAULT)
				send_fault(s, fault.has_id ? fault.id : 0, PROTO_ERR_MALFORMED,
					   fault.reason);
			else
				handle_frame(s, &f);
		}
	}
	return 0;
}

static int write_host(struct agent_server *s)
{
	while (outq_pending(s)) {
		ssize_t n = write(s->fd, s->out + s->out_off, outq_pending(s));
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -EPIPE;
		s->out_off += (size_t)n;
	}
	s->out_off = s->out_len = 0;
	return 0;
}

/* ---- the loop ---- */

int agent_server_new(const struct agent_server_config *cfg, struct agent_server **out,
		     struct errbuf *eb)
{
	struct agent_server *s = calloc(1, sizeof(*s));
	if (!s)
		return errbuf_set(eb, ENOMEM, "out of memory");
	s->fd = -1;
	s->fx = cfg->effects;
	s->log = cfg->log;
	s->log_opaque = cfg->log_opaque;
	processes_init(&s->procs);
	attest_init(&s->attest);
	proto_decoder_init(&s->dec);
	snprintf(s->state_dir, sizeof(s->state_dir), "%s", cfg->state_dir);
	s->engine = policy_engine_new();
	if (!s->engine) {
		free(s);
		return errbuf_set(eb, ENOMEM, "out of memory");
	}
	int ret = mkdir_p(s->state_dir, 0700);
	if (ret < 0) {
		agent_server_free(s);
		return errbuf_set(eb, -ret, "%s: cannot create: %s", cfg->state_dir,
				  strerror(-ret));
	}
	agent_server_set_fd(s, cfg->fd);
	*out = s;
	return 0;
}

void agent_server_set_fd(struct agent_server *s, int fd)
{
	if (s->fd >= 0 && s->fd != fd)
		attest_host_gone(s);
	if (s->fd >= 0 && s->fd != fd)
		close(s->fd);
	s->fd = fd;
	s->out_off = s->out_len = 0;
	proto_decoder_destroy(&s->dec);
	proto_decoder_init(&s->dec);
	if (fd >= 0)
		server_fd_nonblock_cloexec(fd);
}

void agent_server_free(struct agent_server *s)
{
	if (!s)
		return;
	processes_free(&s->procs);
	containers_free(&s->ctrs);
	attest_free(&s->attest);
	policy_engine_free(s->engine);
	proto_decoder_destroy(&s->dec);
	free(s->out);
	if (s->fd >= 0)
		close(s->fd);
	free(s);
}

int agent_server_state_json(const struct agent_server *s, char **out)
{
	return policy_engine_state_json(s->engine, out);
}

bool agent_server_busy(const struct agent_server *s)
{
	return outq_pending(s) > 0;
}

#define MAX_POLL 1024

int agent_server_poll(struct agent_server *s, int timeout_ms)
{
	struct pollfd pfd[MAX_POLL];
	struct agent_proc *who[MAX_POLL];
	int what[MAX_POLL];
	size_t n = 0;
	bool throttled = outq_pending(s) > AGENT_OUT_HIGH_WATER;

	if (s->procs.n >= AGENT_MAX_PROCS / 2)
		processes_collect(&s->procs);

	if (s->fd >= 0) {
		/* A host that sends requests but never reads its answers stops being read. */
		short in = outq_pending(s) < AGENT_OUT_HARD_LIMIT ? POLLIN : 0;
		pfd[n] = (struct pollfd){ .fd = s->fd,
					  .events = in | (outq_pending(s) ? POLLOUT : 0) };
		who[n] = NULL;
		what[n++] = -1;
	}
	n += processes_pollfds(&s->procs, throttled, pfd + n, who + n, what + n,
			       MAX_POLL - 9 - n);
	size_t attest_first = n;
	n += attest_pollfds(&s->attest, pfd + n, MAX_POLL - n);

	int r = poll(pfd, n, timeout_ms);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	int ret = 0;
	for (size_t i = 0; i < attest_first; i++) {
		if (!pfd[i].revents)
			continue;
		if (!who[i]) {
			if (pfd[i].revents & POLLOUT && write_host(s) < 0)
				ret = -EPIPE;
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR) && read_host(s) < 0)
				ret = -EPIPE;
			continue;
		}
		process_io(s, who[i], what[i]);
	}
	attest_handle(s, pfd + attest_first, n - attest_first);
	if (s->fd >= 0 && outq_pending(s) && write_host(s) < 0)
		ret = -EPIPE;
	return ret;
}
