/* group_api: the group's HTTP API (libmicrohttpd, one thread per connection). */
#include "vmm/group/group_api.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/encoding.h"
#include "common/fileio.h"
#include "policy/lang/policy.h"
#include "policy/lang/policy_runenv.h"
#include "vmm/api.h"
#include "vmm/group/agent_client.h"
#include "vmm/group/group_request.h"
#include "vmm/http_json.h"

#define GA_MAX_STRING	     4096
#define GA_MAX_ARGS	     256
#define GA_AGENT_TIMEOUT_MS  60000
#define GA_COMMAND_TIMEOUT_S 600 /* starting a container under TCG takes a while */
#define GA_POLL_MS	     200

struct group_api {
	struct MHD_Daemon *d;
	char *path, *relay_sock, *policy, *logs_dir, *state_dir;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char *group;  /* the status document, as text (json-c objects stay in one thread) */
	bool running; /* the agent takes requests */
	bool stopping;
	char *events[GROUP_API_EVENTS];
	uint64_t next_seq; /* events[seq % GROUP_API_EVENTS] holds event seq */
	/* the one command slot: an API thread posts, the group's thread answers */
	bool cmd_posted, cmd_taken, cmd_done;
	char *cmd, *cmd_result;
	unsigned cmd_status;
	int streams;   /* exec streams still running on threads of their own */
	int followers; /* logs and events responses not yet finished */
};

/* ---- answers ---- */

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, struct json_object *o)
{
	return (enum MHD_Result)http_respond_json(c, status, o);
}

static struct json_object *error_body(const char *code, const char *message)
{
	struct json_object *o = json_object_new_object(), *e = json_object_new_object();
	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(message));
	json_object_object_add(o, "error", e);
	return o;
}

static enum MHD_Result fail(struct MHD_Connection *c, unsigned status, const char *code,
			    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum MHD_Result fail(struct MHD_Connection *c, unsigned status, const char *code,
			    const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return answer(c, status, error_body(code, msg));
}

/* ---- events ---- */

void group_api_event(struct group_api *a, const char *type, struct json_object *detail)
{
	if (!a) {
		json_object_put(detail);
		return;
	}
	struct json_object *o = detail ? detail : json_object_new_object();
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	json_object_object_add(o, "type", json_object_new_string(type));
	json_object_object_add(o, "time",
			       json_object_new_double((double)ts.tv_sec + ts.tv_nsec / 1e9));
	pthread_mutex_lock(&a->lock);
	uint64_t seq = a->next_seq++;
	json_object_object_add(o, "seq", json_object_new_int64((int64_t)seq));
	char *text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	free(a->events[seq % GROUP_API_EVENTS]);
	a->events[seq % GROUP_API_EVENTS] = text;
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->lock);
	json_object_put(o);
}

/* ---- the group's state ---- */

void group_api_set_group(struct group_api *a, struct json_object *group)
{
	if (!a)
		return;
	struct json_object *st;
	bool running = json_object_object_get_ex(group, "state", &st) &&
		       !strcmp(json_object_get_string(st), "running");
	char *text = strdup(json_object_to_json_string_ext(group, JSON_C_TO_STRING_PLAIN));
	pthread_mutex_lock(&a->lock);
	free(a->group);
	a->group = text;
	a->running = running;
	pthread_mutex_unlock(&a->lock);
}

static struct json_object *group_snapshot(struct group_api *a, bool *running)
{
	pthread_mutex_lock(&a->lock);
	struct json_object *o = a->group ? json_tokener_parse(a->group) : NULL;
	if (running)
		*running = a->running && !a->stopping;
	pthread_mutex_unlock(&a->lock);
	return o ? o : json_object_new_object();
}

/* The container `id` of the snapshot (borrowed from *snap), or NULL. */
static struct json_object *find_container(struct json_object *snap, const char *id)
{
	struct json_object *cs, *n;
	if (!json_object_object_get_ex(snap, "containers", &cs) ||
	    !json_object_is_type(cs, json_type_array))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(cs); i++) {
		struct json_object *c = json_object_array_get_idx(cs, i);
		if (json_object_object_get_ex(c, "name", &n) &&
		    !strcmp(json_object_get_string(n), id))
			return c;
	}
	return NULL;
}

static const char *member_str(struct json_object *o, const char *k)
{
	struct json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

/* ---- commands for the group's thread ---- */

/* Post cmd (taken) and wait for its answer. Returns the HTTP status; *body the answer. */
static unsigned host_command(struct group_api *a, struct json_object *cmd,
			     struct json_object **body)
{
	char *text = strdup(json_object_to_json_string_ext(cmd, JSON_C_TO_STRING_PLAIN));
	size_t text_len = text ? strlen(text) : 0;
	json_object_put(cmd);
	*body = NULL;
	if (!text)
		return 500;
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += GA_COMMAND_TIMEOUT_S;
	unsigned status = 503;
	pthread_mutex_lock(&a->lock);
	while (a->cmd_posted && !a->stopping)
		if (pthread_cond_timedwait(&a->cond, &a->lock, &deadline) == ETIMEDOUT)
			break;
	if (a->cmd_posted || a->stopping) {
		status = a->stopping ? 503 : 504;
		goto out;
	}
	a->cmd_posted = true;
	a->cmd_taken = a->cmd_done = false;
	a->cmd = text;
	text = NULL;
	while (!a->cmd_done && !a->stopping)
		if (pthread_cond_timedwait(&a->cond, &a->lock, &deadline) == ETIMEDOUT)
			break;
	if (a->cmd_done) {
		status = a->cmd_status;
		*body = a->cmd_result ? json_tokener_parse(a->cmd_result) : NULL;
	} else {
		status = a->stopping ? 503 : 504;
	}
	if (a->cmd_result)
		explicit_bzero(a->cmd_result, strlen(a->cmd_result));
	free(a->cmd_result);
	a->cmd_result = NULL;
	if (a->cmd && !a->cmd_taken) {
		explicit_bzero(a->cmd, strlen(a->cmd));
		free(a->cmd);
		a->cmd = NULL;
	}
	a->cmd_posted = false;
	pthread_cond_broadcast(&a->cond);
out:
	pthread_mutex_unlock(&a->lock);
	if (text) {
		explicit_bzero(text, text_len); /* it may hold run-time values */
		free(text);
	}
	return status;
}

struct json_object *group_api_next_command(struct group_api *a)
{
	if (!a)
		return NULL;
	struct json_object *cmd = NULL;
	pthread_mutex_lock(&a->lock);
	if (a->cmd_posted && !a->cmd_taken && a->cmd) {
		cmd = json_tokener_parse(a->cmd);
		explicit_bzero(a->cmd, strlen(a->cmd));
		free(a->cmd);
		a->cmd = NULL;
		a->cmd_taken = true;
	}
	pthread_mutex_unlock(&a->lock);
	return cmd;
}

void group_api_finish_command(struct group_api *a, unsigned status, struct json_object *body)
{
	char *text =
		body ? strdup(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN)) : NULL;
	json_object_put(body);
	pthread_mutex_lock(&a->lock);
	if (a->cmd_posted && a->cmd_taken && !a->cmd_done) {
		a->cmd_status = status;
		a->cmd_result = text;
		text = NULL;
		a->cmd_done = true;
		pthread_cond_broadcast(&a->cond);
	}
	pthread_mutex_unlock(&a->lock);
	if (text) {
		explicit_bzero(text, strlen(text));
		free(text);
	}
}

/* ---- the agent, through the relay ---- */

static int agent_open(struct group_api *a, struct agent_client **c, struct errbuf *eb)
{
	return agent_client_connect(a->relay_sock, AGENT_CONNECT_SERIAL, 5000, c, eb);
}

/* One request in the typed form, answered: 0, -EACCES (*resp holds the denial) or -errno. */
static int agent_request(struct group_api *a, const struct policy_request *q,
			 struct json_object **resp, struct errbuf *eb)
{
	struct agent_client *c;
	int ret = agent_open(a, &c, eb);
	if (ret < 0)
		return ret;
	struct json_object *req = policy_request_to_json(q);
	ret = req ? agent_client_call(c, req, GA_AGENT_TIMEOUT_MS, resp, eb) : -ENOMEM;
	json_object_put(req);
	agent_client_close(c);
	return ret;
}

static enum MHD_Result agent_failed(struct MHD_Connection *c, int ret, const struct errbuf *eb)
{
	return fail(c, ret == -ETIMEDOUT ? 504 : 502, "agent", "%s", errbuf_msg(eb));
}

/* ---- handlers ---- */

struct route_args {
	struct group_api *a;
	struct MHD_Connection *c;
	const char *id;		  /* the {id} of the path, or NULL */
	struct json_object *body; /* parsed body (requests that take one) */
};

static enum MHD_Result get_group(struct route_args *r)
{
	struct json_object *o = group_snapshot(r->a, NULL);
	json_object_object_add(o, "api_version", json_object_new_string(GROUP_API_VERSION));
	return answer(r->c, 200, o);
}

static enum MHD_Result get_container(struct route_args *r)
{
	struct json_object *snap = group_snapshot(r->a, NULL), *ct = find_container(snap, r->id);
	if (!ct) {
		json_object_put(snap);
		return fail(r->c, 404, "not_found", "container '%.64s': no such container", r->id);
	}
	json_object_get(ct);
	json_object_put(snap);
	return answer(r->c, 200, ct);
}

/* The container must exist and the agent take requests: NULL, or the answer already queued
 * in *ret. *state (may be NULL) receives its state. */
static bool container_ready(struct route_args *r, enum MHD_Result *ret, char *state, size_t cap,
			    uint32_t *process_id)
{
	bool running;
	struct json_object *snap = group_snapshot(r->a, &running),
			   *ct = find_container(snap, r->id);
	if (!ct) {
		*ret = fail(r->c, 404, "not_found", "container '%.64s': no such container", r->id);
	} else if (!running) {
		*ret = fail(r->c, 409, "not_running", "the group is not running (state %s)",
			    member_str(snap, "state") ? member_str(snap, "state") : "booting");
		ct = NULL;
	} else {
		snprintf(state, cap, "%s", member_str(ct, "state") ? member_str(ct, "state") : "");
		struct json_object *v;
		if (process_id)
			*process_id = json_object_object_get_ex(ct, "process_id", &v)
					      ? (uint32_t)json_object_get_int64(v)
					      : 0;
	}
	json_object_put(snap);
	return ct != NULL;
}

static enum MHD_Result post_containers(struct route_args *r)
{
	static const struct http_field f[] = {{"name", json_type_string},
					      {"env", json_type_object}};
	char buf[256];
	const char *err = http_check_fields(r->body, f, 2, GA_MAX_STRING, buf, sizeof(buf));
	if (err)
		return fail(r->c, 400, "invalid", "%s", err);
	const char *name = member_str(r->body, "name");
	if (!name)
		return fail(r->c, 400, "invalid", "name: required");
	struct json_object *env;
	if (json_object_object_get_ex(r->body, "env", &env)) {
		json_object_object_foreach(env, k, v)
		{
			if (!json_object_is_type(v, json_type_string))
				return fail(r->c, 400, "invalid", "env.%.64s: expected a string",
					    k);
			if (strlen(json_object_get_string(v)) > GA_MAX_STRING)
				return fail(r->c, 400, "invalid", "env.%.64s: longer than %d bytes",
					    k, GA_MAX_STRING);
		}
	}
	bool running;
	json_object_put(group_snapshot(r->a, &running));
	if (!running)
		return fail(r->c, 409, "not_running", "the group is not running");
	struct json_object *cmd = json_object_new_object(), *resp;
	json_object_object_add(cmd, "op", json_object_new_string("start"));
	json_object_object_add(cmd, "name", json_object_new_string(name));
	if (env)
		json_object_object_add(cmd, "env", json_object_get(env));
	unsigned status = host_command(r->a, cmd, &resp);
	if (status == 503 || status == 504)
		return fail(r->c, status, "unavailable", "the group did not take the request%s",
			    status == 503 ? ": it is stopping" : " in time");
	return answer(r->c, status, resp);
}

/* Signal names a request may use instead of numbers. */
static const struct {
	const char *name;
	int number;
} signal_names[] = {
	{"SIGHUP", SIGHUP},   {"SIGINT", SIGINT},     {"SIGQUIT", SIGQUIT}, {"SIGKILL", SIGKILL},
	{"SIGUSR1", SIGUSR1}, {"SIGUSR2", SIGUSR2},   {"SIGTERM", SIGTERM}, {"SIGCONT", SIGCONT},
	{"SIGSTOP", SIGSTOP}, {"SIGWINCH", SIGWINCH},
};

static enum MHD_Result post_signal(struct route_args *r)
{
	struct json_object *v;
	if (!json_object_is_type(r->body, json_type_object))
		return fail(r->c, 400, "invalid", "body: expected a JSON object");
	json_object_object_foreach(r->body, key, val)
	{
		(void)val;
		if (strcmp(key, "signal"))
			return fail(r->c, 400, "invalid", "%.64s: unknown field", key);
	}
	if (!json_object_object_get_ex(r->body, "signal", &v))
		return fail(r->c, 400, "invalid", "signal: required");
	int sig = -1;
	if (json_object_is_type(v, json_type_int)) {
		int64_t n = json_object_get_int64(v);
		sig = n >= 1 && n <= 64 ? (int)n : -1;
	} else if (json_object_is_type(v, json_type_string)) {
		for (size_t i = 0; i < sizeof(signal_names) / sizeof(signal_names[0]); i++)
			if (!strcmp(json_object_get_string(v), signal_names[i].name))
				sig = signal_names[i].number;
	}
	if (sig < 0)
		return fail(r->c, 400, "invalid",
			    "signal: expected 1..64 or a name such as SIGTERM");
	enum MHD_Result ret;
	char state[32];
	if (!container_ready(r, &ret, state, sizeof(state), NULL))
		return ret;
	/* "created" may be a start in progress (the snapshot lags): the agent decides */
	if (!strcmp(state, "exited"))
		return fail(r->c, 409, "not_running", "container '%.64s' has exited", r->id);
	struct policy_request q = {.type = POLICY_REQ_SIGNAL_PROCESS};
	q.u.signal_process =
		(struct policy_req_signal_process){.container_id = r->id, .signal = sig};
	struct json_object *resp = NULL;
	struct errbuf eb = {0};
	int rc = agent_request(r->a, &q, &resp, &eb);
	if (rc == -EACCES) {
		struct json_object *d = group_denial_json(resp, NULL),
				   *ev = json_object_new_object();
		json_object_object_add(ev, "request", json_object_new_string("signal_process"));
		json_object_object_add(ev, "container_id", json_object_new_string(r->id));
		struct json_object *e;
		if (json_object_object_get_ex(d, "error", &e))
			json_object_object_add(ev, "error", json_object_get(e));
		group_api_event(r->a, "denied", ev);
		json_object_put(resp);
		return answer(r->c, 403, d);
	}
	json_object_put(resp);
	if (rc < 0)
		return agent_failed(r->c, rc, &eb);
	struct json_object *ev = json_object_new_object();
	json_object_object_add(ev, "container_id", json_object_new_string(r->id));
	json_object_object_add(ev, "signal", json_object_new_int(sig));
	group_api_event(r->a, "container_signaled", ev);
	return answer(r->c, 204, NULL);
}

static enum MHD_Result delete_container(struct route_args *r)
{
	const char *force = MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, "force");
	if (force && strcmp(force, "0") && strcmp(force, "1"))
		return fail(r->c, 400, "invalid", "force: expected 0 or 1");
	enum MHD_Result ret;
	char state[32];
	if (!container_ready(r, &ret, state, sizeof(state), NULL))
		return ret;
	if (!strcmp(state, "exited"))
		return answer(r->c, 204, NULL); /* nothing runs: already gone */
	struct policy_request q = {.type = POLICY_REQ_SHUTDOWN_CONTAINER};
	q.u.shutdown_container = (struct policy_req_shutdown_container){
		.container_id = r->id, .force = !force || !strcmp(force, "1")};
	struct json_object *resp = NULL;
	struct errbuf eb = {0};
	int rc = agent_request(r->a, &q, &resp, &eb);
	if (rc == -EACCES) {
		ret = answer(r->c, 403, group_denial_json(resp, NULL));
		json_object_put(resp);
		return ret;
	}
	json_object_put(resp);
	if (rc < 0)
		return agent_failed(r->c, rc, &eb);
	return answer(r->c, 204, NULL);
}

static enum MHD_Result post_attest(struct route_args *r)
{
	static const struct http_field f[] = {{"report_data", json_type_string}};
	char buf[256];
	const char *err = http_check_fields(r->body, f, 1, GA_MAX_STRING, buf, sizeof(buf));
	if (err)
		return fail(r->c, 400, "invalid", "%s", err);
	struct policy_request q = {.type = POLICY_REQ_GET_REPORT};
	size_t n = 0;
	const char *hex = member_str(r->body, "report_data");
	if (hex && hex_decode_var(hex, q.u.get_report.report_data, 64, &n) < 0)
		return fail(r->c, 400, "invalid", "report_data: expected at most 128 hex digits");
	bool running;
	json_object_put(group_snapshot(r->a, &running));
	if (!running)
		return fail(r->c, 409, "not_running", "the group is not running");
	struct json_object *resp = NULL, *v;
	struct errbuf eb = {0};
	int rc = agent_request(r->a, &q, &resp, &eb);
	if (rc == -EACCES) {
		enum MHD_Result ret = answer(r->c, 403, group_denial_json(resp, NULL));
		json_object_put(resp);
		return ret;
	}
	if (rc < 0) {
		json_object_put(resp);
		return agent_failed(r->c, rc, &eb);
	}
	struct json_object *o = json_object_new_object();
	const char *keys[] = {"report", "tee", "certs"};
	for (size_t i = 0; i < 3; i++)
		if (json_object_object_get_ex(resp, keys[i], &v))
			json_object_object_add(o, keys[i], json_object_get(v));
	json_object_put(resp);
	return answer(r->c, 200, o);
}

static enum MHD_Result post_stop(struct route_args *r)
{
	if (r->body &&
	    (!json_object_is_type(r->body, json_type_object) || json_object_object_length(r->body)))
		return fail(r->c, 400, "invalid", "body: expected nothing or {}");
	struct json_object *cmd = json_object_new_object(), *resp;
	json_object_object_add(cmd, "op", json_object_new_string("stop"));
	unsigned status = host_command(r->a, cmd, &resp);
	if (status == 503 || status == 504) {
		json_object_put(resp);
		return fail(r->c, status, "unavailable", "the group is already stopping");
	}
	return answer(r->c, status, resp);
}

/* ---- streams: logs and events ---- */

struct stream {
	struct group_api *a;
	int fd; /* the client's socket: a hang-up ends the stream */
	bool follow;
	/* logs */
	char path[4096];
	FILE *f;
	long pos;
	/* events */
	uint64_t seq;
};

static bool client_gone(int fd)
{
	struct pollfd p = {fd, POLLRDHUP, 0};
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static bool api_stopping(struct group_api *a)
{
	pthread_mutex_lock(&a->lock);
	bool s = a->stopping;
	pthread_mutex_unlock(&a->lock);
	return s;
}

static ssize_t logs_read(void *cls, uint64_t offset, char *buf, size_t max)
{
	struct stream *s = cls;
	(void)offset;
	for (;;) {
		if (!s->f) {
			s->f = fopen(s->path, "re");
			s->pos = 0;
		}
		if (s->f) {
			struct stat st;
			/* rotated (group_log.h): the new file starts over */
			if (fstat(fileno(s->f), &st) == 0 && st.st_size < s->pos) {
				fclose(s->f);
				s->f = NULL;
				continue;
			}
			clearerr(s->f);
			fseek(s->f, s->pos, SEEK_SET);
			size_t n = fread(buf, 1, max, s->f);
			if (n) {
				s->pos += (long)n;
				return (ssize_t)n;
			}
		}
		if (!s->follow || api_stopping(s->a))
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (client_gone(s->fd))
			return MHD_CONTENT_READER_END_WITH_ERROR;
		usleep(GA_POLL_MS * 1000);
	}
}

static ssize_t events_read(void *cls, uint64_t offset, char *buf, size_t max)
{
	struct stream *s = cls;
	struct group_api *a = s->a;
	(void)offset;
	pthread_mutex_lock(&a->lock);
	for (;;) {
		if (s->seq + GROUP_API_EVENTS < a->next_seq) /* fell behind: skip to what is kept */
			s->seq = a->next_seq - GROUP_API_EVENTS;
		if (s->seq < a->next_seq) {
			const char *text = a->events[s->seq % GROUP_API_EVENTS];
			size_t len = strlen(text);
			if (len + 1 > max) { /* cannot happen with MHD's 32 KiB block: drop it */
				s->seq++;
				continue;
			}
			memcpy(buf, text, len);
			buf[len] = '\n';
			s->seq++;
			pthread_mutex_unlock(&a->lock);
			return (ssize_t)len + 1;
		}
		if (a->stopping || !s->follow) {
			pthread_mutex_unlock(&a->lock);
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		struct timespec t;
		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_nsec += GA_POLL_MS * 1000000L;
		if (t.tv_nsec >= 1000000000L) {
			t.tv_sec++;
			t.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&a->cond, &a->lock, &t);
		if (client_gone(s->fd)) {
			pthread_mutex_unlock(&a->lock);
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
	}
}

static void stream_free(void *cls)
{
	struct stream *s = cls;
	struct group_api *a = s->a;
	if (s->f)
		fclose(s->f);
	free(s);
	pthread_mutex_lock(&a->lock);
	a->followers--;
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->lock);
}

static enum MHD_Result stream_answer(struct route_args *r, struct stream *s,
				     MHD_ContentReaderCallback reader, const char *type)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(r->c, MHD_CONNECTION_INFO_CONNECTION_FD);
	s->a = r->a;
	s->fd = ci ? ci->connect_fd : -1;
	pthread_mutex_lock(&r->a->lock);
	r->a->followers++; /* stream_free counts it out, also when queueing fails */
	pthread_mutex_unlock(&r->a->lock);
	struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024,
								      reader, s, stream_free);
	if (!resp) {
		stream_free(s);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	/* a followed stream may be quiet for long: the idle timeout is for requests */
	if (s->follow)
		MHD_set_connection_option(r->c, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
	enum MHD_Result ret = MHD_queue_response(r->c, 200, resp);
	MHD_destroy_response(resp);
	return ret;
}

static bool query_flag(struct MHD_Connection *c, const char *name, bool *out)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
	if (!v)
		return true;
	if (strcmp(v, "0") && strcmp(v, "1") && strcmp(v, "true") && strcmp(v, "false"))
		return false;
	*out = !strcmp(v, "1") || !strcmp(v, "true");
	return true;
}

static enum MHD_Result get_logs(struct route_args *r)
{
	struct json_object *snap = group_snapshot(r->a, NULL);
	bool known = find_container(snap, r->id) != NULL;
	json_object_put(snap);
	if (!known)
		return fail(r->c, 404, "not_found", "container '%.64s': no such container", r->id);
	struct stream *s = calloc(1, sizeof(*s));
	if (!s)
		return MHD_NO;
	if (!query_flag(r->c, "follow", &s->follow)) {
		free(s);
		return fail(r->c, 400, "invalid", "follow: expected 0 or 1");
	}
	snprintf(s->path, sizeof(s->path), "%s/%s.log", r->a->logs_dir, r->id);
	return stream_answer(r, s, logs_read, "application/octet-stream");
}

static enum MHD_Result get_events(struct route_args *r)
{
	struct stream *s = calloc(1, sizeof(*s));
	if (!s)
		return MHD_NO;
	s->follow = true;
	if (!query_flag(r->c, "follow", &s->follow)) {
		free(s);
		return fail(r->c, 400, "invalid", "follow: expected 0 or 1");
	}
	const char *since = MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, "since");
	if (since) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(since, &end, 10);
		if (errno || end == since || *end) {
			free(s);
			return fail(r->c, 400, "invalid",
				    "since: expected an event sequence number");
		}
		s->seq = v;
	}
	return stream_answer(r, s, events_read, "application/x-ndjson");
}

/* ---- exec: stdio over the upgraded connection ---- */

struct exec_stream {
	struct group_api *a;
	struct agent_client *client;
	char *container;
	uint32_t process_id, wait_id;
	bool eof[3], stdin_open;
	int sock;
	struct MHD_UpgradeResponseHandle *urh;
	uint8_t in[8 + GROUP_API_FRAME_MAX];
	size_t in_len;
	bool write_failed;
	/* Output that arrives before the stream is upgraded (it can come in the same read as
	 * the exec's answer): kept as records {stream, length (4 bytes, host order), data} and
	 * sent first. */
	uint8_t *early;
	size_t early_len, early_cap;
	bool early_lost; /* out of memory keeping it */
	bool streaming;  /* the stream is upgraded: output goes straight to it */
};

static void send_frame(struct exec_stream *x, uint8_t type, const void *data, size_t len)
{
	uint8_t h[8] = {type,
			0,
			0,
			0,
			(uint8_t)(len >> 24),
			(uint8_t)(len >> 16),
			(uint8_t)(len >> 8),
			(uint8_t)len};
	if (x->write_failed || write_full(x->sock, h, 8) < 0 ||
	    (len && write_full(x->sock, data, len) < 0))
		x->write_failed = true;
}

static void exec_on_output(void *opaque, uint32_t pid, int stream, const uint8_t *data, size_t len,
			   bool eof)
{
	struct exec_stream *x = opaque;
	/* Before the exec's answer is taken its process id is not known yet; this agent
	 * connection is the exec's own and the relay routes it only the output of the process it
	 * started, so the first output names it (checked against the answer). */
	if (!x->process_id)
		x->process_id = pid;
	if (pid != x->process_id || stream < 1 || stream > 2)
		return;
	if (eof) {
		x->eof[stream] = true;
		return;
	}
	if (!x->streaming) {
		uint32_t n = (uint32_t)len;
		if (x->early_len + 5 + len > x->early_cap) {
			size_t cap = (x->early_len + 5 + len) * 2;
			uint8_t *b = realloc(x->early, cap);
			if (!b) {
				x->early_lost = true;
				return;
			}
			x->early = b;
			x->early_cap = cap;
		}
		x->early[x->early_len] = (uint8_t)stream;
		memcpy(x->early + x->early_len + 1, &n, 4);
		memcpy(x->early + x->early_len + 5, data, len);
		x->early_len += 5 + len;
		return;
	}
	while (len) { /* frames no larger than the client's own limit */
		size_t n = len > GROUP_API_FRAME_MAX ? GROUP_API_FRAME_MAX : len;
		send_frame(x, (uint8_t)stream, data, n);
		data += n;
		len -= n;
	}
}

static void send_exit(struct exec_stream *x, struct json_object *o)
{
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	send_frame(x, GROUP_API_FRAME_EXIT, text, strlen(text));
	json_object_put(o);
}

/* The client left, or broke the framing: the process must not outlive its stream. */
static void exec_abandon(struct exec_stream *x)
{
	struct policy_request q = {.type = POLICY_REQ_SIGNAL_PROCESS};
	q.u.signal_process = (struct policy_req_signal_process){.container_id = x->container,
								.signal = SIGKILL,
								.has_process_id = true,
								.process_id = x->process_id};
	struct json_object *req = policy_request_to_json(&q), *resp = NULL;
	if (req && agent_client_call(x->client, req, 10000, &resp, NULL) < 0 && x->stdin_open)
		agent_client_close_stdin(x->client, x->process_id, NULL);
	json_object_put(req);
	json_object_put(resp);
}

/* Handle the complete client frames in x->in. Returns false when the stream must end. */
static bool exec_client_frames(struct exec_stream *x)
{
	size_t off = 0;
	bool ok = true;
	while (ok && x->in_len - off >= 8) {
		const uint8_t *h = x->in + off;
		uint32_t len =
			(uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7];
		if (h[1] || h[2] || h[3] || len > GROUP_API_FRAME_MAX ||
		    (h[0] != GROUP_API_FRAME_STDIN && h[0] != GROUP_API_FRAME_RESIZE)) {
			struct json_object *o = json_object_new_object();
			json_object_object_add(
				o, "error",
				json_object_new_string("bad frame: expected {0 stdin | 4 resize, "
						       "0, 0, 0, length <= 65536}"));
			send_exit(x, o);
			return false;
		}
		if (x->in_len - off - 8 < len)
			break;
		const uint8_t *p = h + 8;
		if (h[0] == GROUP_API_FRAME_STDIN && !len && x->stdin_open) {
			agent_client_close_stdin(x->client, x->process_id, NULL);
			x->stdin_open = false;
		} else if (h[0] == GROUP_API_FRAME_STDIN && x->stdin_open) {
			if (agent_client_write_stdin(x->client, x->process_id, p, len,
						     GA_AGENT_TIMEOUT_MS, NULL) < 0)
				x->stdin_open = false;
		} else if (h[0] == GROUP_API_FRAME_RESIZE) {
			/* The agent gives processes pipes, not a terminal: a resize is checked and
			 * has nothing to resize (docs/group-api.md). */
			struct json_tokener *tok = json_tokener_new();
			struct json_object *o =
				tok ? json_tokener_parse_ex(tok, (const char *)p, (int)len) : NULL;
			struct json_object *rows, *cols;
			ok = o && json_object_object_get_ex(o, "rows", &rows) &&
			     json_object_object_get_ex(o, "cols", &cols) &&
			     json_object_is_type(rows, json_type_int) &&
			     json_object_is_type(cols, json_type_int);
			json_object_put(o);
			if (tok)
				json_tokener_free(tok);
			if (!ok) {
				struct json_object *e = json_object_new_object();
				json_object_object_add(
					e, "error",
					json_object_new_string(
						"resize: expected {\"rows\": N, \"cols\": N}"));
				send_exit(x, e);
				return false;
			}
		}
		off += 8 + len;
	}
	memmove(x->in, x->in + off, x->in_len - off);
	x->in_len -= off;
	return ok;
}

static void *exec_thread(void *arg)
{
	struct exec_stream *x = arg;
	struct agent_client_callbacks cbs = {.on_output = exec_on_output, .opaque = x};
	agent_client_set_callbacks(x->client, &cbs);
	int fl = fcntl(x->sock, F_GETFL);
	if (fl >= 0)
		fcntl(x->sock, F_SETFL, fl & ~O_NONBLOCK); /* writes complete; reads are polled */
	x->streaming = true;
	for (size_t off = 0; off + 5 <= x->early_len;) {
		uint32_t n;
		memcpy(&n, x->early + off + 1, 4);
		exec_on_output(x, x->process_id, x->early[off], x->early + off + 5, n, false);
		off += 5 + n;
	}
	free(x->early);
	x->early = NULL;
	x->early_len = 0;
	bool exited = false, abandoned = false, ok = !x->early_lost;
	if (!ok) {
		struct json_object *e = json_object_new_object();
		json_object_object_add(e, "error", json_object_new_string(
							   "out of memory keeping the process's output"));
		send_exit(x, e);
		abandoned = true;
	} else {
		ok = exec_client_frames(x);
	}
	struct json_object *status = NULL;
	int drain = 0;
	while (ok && !x->write_failed) {
		if (exited && ((x->eof[1] && x->eof[2]) || ++drain > 10))
			break;
		if (api_stopping(x->a)) {
			abandoned = true;
			break;
		}
		struct pollfd p[2] = {{agent_client_fd(x->client), POLLIN, 0},
				      {x->sock, POLLIN | POLLRDHUP, 0}};
		if (poll(p, 2, GA_POLL_MS) < 0 && errno != EINTR)
			break;
		if (agent_client_pump(x->client, 0, NULL) < 0) {
			struct json_object *e = json_object_new_object();
			json_object_object_add(e, "error",
					       json_object_new_string("the agent's stream ended"));
			send_exit(x, e);
			ok = false;
			break;
		}
		if (!exited) {
			struct json_object *resp = NULL;
			int rc = agent_client_wait(x->client, x->wait_id, 0, &resp, NULL);
			if (rc != -ETIMEDOUT) {
				exited = true;
				status = resp;
			} else {
				json_object_put(resp);
			}
		}
		if (p[1].revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) {
			ssize_t n = recv(x->sock, x->in + x->in_len, sizeof(x->in) - x->in_len,
					 MSG_DONTWAIT);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				abandoned = !exited;
				break;
			}
			if (n > 0) {
				x->in_len += (size_t)n;
				if (!exec_client_frames(x)) {
					abandoned = !exited;
					ok = false;
				}
			}
		}
	}
	if (abandoned || x->write_failed) {
		if (!exited)
			exec_abandon(x);
		struct json_object *ev = json_object_new_object();
		json_object_object_add(ev, "container_id", json_object_new_string(x->container));
		json_object_object_add(ev, "process_id", json_object_new_int64(x->process_id));
		group_api_event(x->a, "exec_abandoned", ev);
	} else if (exited) {
		int code = group_wait_status(status);
		struct json_object *o = json_object_new_object(), *ev = json_object_new_object();
		json_object_object_add(o, "exit_code", json_object_new_int(code < 0 ? 255 : code));
		send_exit(x, o);
		json_object_object_add(ev, "container_id", json_object_new_string(x->container));
		json_object_object_add(ev, "process_id", json_object_new_int64(x->process_id));
		json_object_object_add(ev, "exit_code", json_object_new_int(code < 0 ? 255 : code));
		group_api_event(x->a, "exec_exited", ev);
	} else if (ok) {
		exec_abandon(x);
	}
	json_object_put(status);
	agent_client_close(x->client);
	MHD_upgrade_action(x->urh, MHD_UPGRADE_ACTION_CLOSE);
	struct group_api *a = x->a;
	free(x->container);
	free(x->early);
	free(x);
	pthread_mutex_lock(&a->lock);
	a->streams--;
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

static void exec_upgraded(void *cls, struct MHD_Connection *c, void *con_cls, const char *extra,
			  size_t extra_len, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	struct exec_stream *x = cls;
	(void)c;
	(void)con_cls;
	x->sock = sock;
	x->urh = urh;
	if (extra_len > sizeof(x->in))
		extra_len = sizeof(x->in); /* the rest is a framing error the reader reports */
	memcpy(x->in, extra, extra_len);
	x->in_len = extra_len;
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, exec_thread, x) != 0) {
		exec_abandon(x);
		agent_client_close(x->client);
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		pthread_mutex_lock(&x->a->lock);
		x->a->streams--;
		pthread_mutex_unlock(&x->a->lock);
		free(x->container);
		free(x->early);
		free(x);
	}
	pthread_attr_destroy(&attr);
}

/* Keep a replayable record of a denied exec next to the group's history (values redacted),
 * as `parma exec` does; returns the command that replays it. */
static void exec_record_denial(struct group_api *a, struct json_object *req, const char *id,
			       struct json_object *values, char *reproduce, size_t cap)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/denied-exec.json", a->state_dir);
	/* after the group's own history, so the replay reaches the state the exec met */
	char hist[4200];
	snprintf(hist, sizeof(hist), "%s/requests.json", a->state_dir);
	struct json_object *history = json_object_from_file(hist), *rec = NULL;
	if (!history || !json_object_is_type(history, json_type_array)) {
		json_object_put(history);
		history = json_object_new_array();
	}
	struct policy_runenv *rv = policy_runenv_new();
	if (values && rv) {
		json_object_object_foreach(values, name, value)
			policy_runenv_set(rv, id, name, json_object_get_string(value), NULL);
	}
	if (json_object_deep_copy(req, &rec, NULL) == 0) {
		policy_runenv_redact(rv, id, rec);
		json_object_array_add(history, rec);
	}
	policy_runenv_free(rv);
	const char *text = json_object_to_json_string_ext(history, JSON_C_TO_STRING_PRETTY);
	reproduce[0] = 0;
	if (file_write_atomic(path, text, strlen(text), 0600, NULL) == 0)
		snprintf(reproduce, cap, "parma policy explain %s %s%s", a->policy, path,
			 values ? " --env-file FILE (the run-time values)" : "");
	json_object_put(history);
}

static struct policy *load_policy(const char *path, struct errbuf *eb)
{
	uint8_t *data;
	size_t len;
	struct policy *p = NULL;
	if (file_read_all(path, POLICY_MAX_BYTES, &data, &len, eb) < 0)
		return NULL;
	policy_load(data, len, &p, eb);
	free(data);
	return p;
}

static enum MHD_Result post_exec(struct route_args *r)
{
	static const struct http_field f[] = {{"command", json_type_array},
					      {"stdin", json_type_boolean}};
	char buf[256];
	const char *err = http_check_fields(r->body, f, 2, GA_MAX_STRING, buf, sizeof(buf));
	if (err)
		return fail(r->c, 400, "invalid", "%s", err);
	struct json_object *cmd, *v;
	if (!json_object_object_get_ex(r->body, "command", &cmd) || !json_object_array_length(cmd))
		return fail(r->c, 400, "invalid",
			    "command: required, a non-empty array of strings");
	size_t argc = json_object_array_length(cmd);
	if (argc > GA_MAX_ARGS)
		return fail(r->c, 400, "invalid", "command: at most %d arguments", GA_MAX_ARGS);
	char *argv[GA_MAX_ARGS];
	for (size_t i = 0; i < argc; i++) {
		struct json_object *s = json_object_array_get_idx(cmd, i);
		if (!json_object_is_type(s, json_type_string))
			return fail(r->c, 400, "invalid", "command[%zu]: expected a string", i);
		argv[i] = (char *)json_object_get_string(s);
	}
	bool want_stdin =
		json_object_object_get_ex(r->body, "stdin", &v) && json_object_get_boolean(v);
	const char *up = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Upgrade");
	if (!up || strcasecmp(up, "parma-stdio"))
		return fail(r->c, 400, "invalid",
			    "exec streams stdio: send \"Connection: Upgrade\" "
			    "and \"Upgrade: parma-stdio\"");
	enum MHD_Result ret;
	char state[32];
	if (!container_ready(r, &ret, state, sizeof(state), NULL))
		return ret;
	/* "created" may be a start in progress (the snapshot lags): the agent decides */
	if (!strcmp(state, "exited"))
		return fail(r->c, 409, "not_running", "container '%.64s' has exited", r->id);

	struct errbuf eb = {0};
	struct policy *policy = load_policy(r->a->policy, &eb);
	struct json_object *req = policy ? group_req_exec(policy, r->id, argv, argc) : NULL;
	policy_free(policy);
	if (!req)
		return fail(r->c, 404, "not_found", "the policy has no container '%.64s'%s%s",
			    r->id, eb.code ? ": " : "", eb.code ? errbuf_msg(&eb) : "");
	/* the run-time values of the container, from the group's own memory */
	struct json_object *c_env = json_object_new_object(), *values = NULL;
	json_object_object_add(c_env, "op", json_object_new_string("env"));
	json_object_object_add(c_env, "name", json_object_new_string(r->id));
	if (host_command(r->a, c_env, &values) != 200 ||
	    !json_object_is_type(values, json_type_object) || !json_object_object_length(values)) {
		json_object_put(values);
		values = NULL;
	}
	group_req_add_env_values(req, values);
	struct agent_client *client = NULL;
	struct json_object *resp = NULL;
	/* x takes the process's output from the exec's answer on (see exec_on_output) */
	struct exec_stream *x = calloc(1, sizeof(*x)), *own = x; /* own: x not handed over yet */
	int rc = x ? agent_open(r->a, &client, &eb) : -ENOMEM;
	if (rc == 0) {
		struct agent_client_callbacks cbs = {.on_output = exec_on_output, .opaque = x};
		agent_client_set_callbacks(client, &cbs);
		rc = agent_client_call(client, req, GA_AGENT_TIMEOUT_MS, &resp, &eb);
	}
	if (rc == -EACCES) {
		char reproduce[8400];
		exec_record_denial(r->a, req, r->id, values, reproduce, sizeof(reproduce));
		struct json_object *d = group_denial_json(resp, reproduce[0] ? reproduce : NULL),
				   *e;
		struct json_object *ev = json_object_new_object();
		json_object_object_add(ev, "request", json_object_new_string("exec_in_container"));
		json_object_object_add(ev, "container_id", json_object_new_string(r->id));
		if (json_object_object_get_ex(d, "error", &e))
			json_object_object_add(ev, "error", json_object_get(e));
		group_api_event(r->a, "denied", ev);
		ret = answer(r->c, 403, d);
		goto out;
	}
	if (rc < 0) {
		ret = agent_failed(r->c, rc, &eb);
		goto out;
	}
	if (!json_object_object_get_ex(resp, "process_id", &v) ||
	    (x->process_id && x->process_id != (uint32_t)json_object_get_int64(v))) {
		ret = fail(r->c, 502, "agent", "the agent's answer has no process_id, or not "
					       "the one of the output that came with it");
		goto out;
	}
	x->a = r->a;
	x->process_id = (uint32_t)json_object_get_int64(v);
	x->container = strdup(r->id);
	x->stdin_open = true;
	if (!want_stdin) {
		agent_client_close_stdin(client, x->process_id, NULL);
		x->stdin_open = false;
	}
	struct json_object *w = group_req_new("wait");
	json_object_object_add(w, "process_id", json_object_new_int64(x->process_id));
	rc = agent_client_send(client, w, &x->wait_id, &eb);
	json_object_put(w);
	struct MHD_Response *up_resp =
		rc == 0 && x->container ? MHD_create_response_for_upgrade(exec_upgraded, x) : NULL;
	if (!up_resp) {
		x->client = client;
		if (x->container)
			exec_abandon(x);
		free(x->container);
		free(x->early);
		free(x);
		own = NULL;
		ret = fail(r->c, 500, "internal", "cannot stream the process's stdio");
		goto out;
	}
	x->client = client;
	client = NULL;
	own = NULL;
	MHD_add_response_header(up_resp, MHD_HTTP_HEADER_UPGRADE, "parma-stdio");
	char pid_text[16];
	snprintf(pid_text, sizeof(pid_text), "%u", x->process_id);
	MHD_add_response_header(up_resp, "Parma-Process-Id", pid_text);
	pthread_mutex_lock(&r->a->lock);
	r->a->streams++;
	pthread_mutex_unlock(&r->a->lock);
	struct json_object *ev = json_object_new_object();
	json_object_object_add(ev, "container_id", json_object_new_string(r->id));
	json_object_object_add(ev, "process_id", json_object_new_int64(x->process_id));
	group_api_event(r->a, "exec_started", ev);
	ret = MHD_queue_response(r->c, MHD_HTTP_SWITCHING_PROTOCOLS, up_resp);
	MHD_destroy_response(up_resp);
out:
	agent_client_close(client);
	if (own) {
		free(own->early);
		free(own);
	}
	json_object_put(resp);
	json_object_put(req);
	json_object_put(values);
	return ret;
}

/* ---- routing: one table ---- */

struct route {
	const char *method;
	const char *path; /* "{id}" matches one segment */
	bool body;	  /* takes a JSON body */
	enum MHD_Result (*handler)(struct route_args *r);
};

static const struct route routes[] = {
	{"GET", "/v1/group", false, get_group},
	{"POST", "/v1/containers", true, post_containers},
	{"GET", "/v1/containers/{id}", false, get_container},
	{"DELETE", "/v1/containers/{id}", false, delete_container},
	{"POST", "/v1/containers/{id}/signal", true, post_signal},
	{"POST", "/v1/containers/{id}/exec", true, post_exec},
	{"GET", "/v1/containers/{id}/logs", false, get_logs},
	{"POST", "/v1/attest", true, post_attest},
	{"GET", "/v1/events", false, get_events},
	{"POST", "/v1/stop", true, post_stop},
};

/* Match url against pattern; the {id} segment is copied to id (1..64 safe characters). */
static bool path_match(const char *pattern, const char *url, char *id, size_t cap, bool *bad_id)
{
	const char *hole = strstr(pattern, "{id}");
	if (!hole)
		return !strcmp(pattern, url);
	size_t pre = (size_t)(hole - pattern);
	if (strncmp(pattern, url, pre))
		return false;
	const char *seg = url + pre, *end = strchr(seg, '/');
	size_t n = end ? (size_t)(end - seg) : strlen(seg);
	if (strcmp(hole + 4, end ? end : ""))
		return false;
	if (!n || n >= cap ||
	    strspn(seg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			"0123456789._-") < n)
		*bad_id = true;
	else
		memcpy(id, seg, n), id[n] = 0;
	return true;
}

static enum MHD_Result route(struct group_api *a, struct MHD_Connection *c, const char *url,
			     const char *method, struct http_request *rq)
{
	if (rq->body.too_large)
		return fail(c, 413, "too_large", "body: larger than %d bytes", API_MAX_BODY);
	if (strncmp(url, "/v1/", 4) && strcmp(url, "/v1"))
		return fail(c, 404, "not_found", "%.128s: no such resource (this API is /%s/...)",
			    url, GROUP_API_VERSION);
	char id[65] = "";
	const struct route *path_hit = NULL;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		bool bad_id = false;
		if (!path_match(routes[i].path, url, id, sizeof(id), &bad_id))
			continue;
		if (bad_id)
			return fail(c, 404, "not_found", "%.128s: no such container", url);
		path_hit = &routes[i];
		if (strcmp(routes[i].method, method))
			continue;
		struct route_args r = {a, c, id[0] ? id : NULL, NULL};
		if (routes[i].body || rq->body.len) {
			char err[256];
			if (!routes[i].body && rq->body.len)
				return fail(c, 400, "invalid", "%s %s takes no body", method, url);
			r.body = http_body_json(&rq->body, err, sizeof(err));
			if (!r.body && rq->body.len)
				return fail(c, 400, "invalid", "%s", err);
			if (!r.body && routes[i].handler != post_stop)
				r.body = json_object_new_object(); /* an empty body is {} */
		}
		enum MHD_Result ret = routes[i].handler(&r);
		json_object_put(r.body);
		return ret;
	}
	if (path_hit)
		return fail(c, 405, "method", "%s %.128s: not allowed", method, url);
	return fail(c, 404, "not_found", "%.128s: no such resource", url);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct group_api *a = cls;
	(void)version;
	struct http_request *rq = NULL;
	switch (http_request_receive(c, con_cls, upload, upload_size, API_MAX_BODY, &rq)) {
	case HTTP_RECEIVE_AGAIN:
		return MHD_YES;
	case HTTP_RECEIVE_FAILED:
		return MHD_NO;
	case HTTP_RECEIVE_FORBIDDEN:
		return fail(c, 403, "forbidden", "refused: this group belongs to another user");
	case HTTP_RECEIVE_COMPLETE:
		break;
	}
	if (api_stopping(a))
		return fail(c, 503, "unavailable", "the group is stopping");
	return route(a, c, url, method, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	http_request_free(con_cls);
}

int group_api_start(const struct group_api_config *cfg, struct group_api **out, struct errbuf *eb)
{
	*out = NULL;
	struct group_api *a = calloc(1, sizeof(*a));
	if (!a)
		return errbuf_set(eb, ENOMEM, "out of memory");
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	a->path = strdup(cfg->socket_path);
	a->relay_sock = strdup(cfg->relay_sock);
	a->policy = strdup(cfg->policy);
	a->logs_dir = strdup(cfg->logs_dir);
	a->state_dir = strdup(cfg->state_dir);
	int ret, fd = -1;
	if (!a->path || !a->relay_sock || !a->policy || !a->logs_dir || !a->state_dir) {
		ret = errbuf_set(eb, ENOMEM, "out of memory");
		goto fail;
	}
	fd = http_unix_listen(cfg->socket_path, "--api-sock", eb);
	if (fd < 0) {
		ret = fd;
		free(a->path);
		a->path = NULL; /* not ours to remove */
		goto fail;
	}
	a->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
					MHD_USE_POLL | MHD_ALLOW_UPGRADE,
				0, NULL, NULL, on_request, a, MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, a,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_CONNECTION_TIMEOUT_S,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_MAX_CONNECTIONS,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024),
				MHD_OPTION_END);
	if (!a->d) {
		close(fd);
		ret = errbuf_set(eb, EIO, "group API: libmicrohttpd failed to start");
		goto fail;
	}
	*out = a;
	return 0;
fail:
	group_api_stop(a);
	return ret;
}

void group_api_stop(struct group_api *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->stopping = true;
	pthread_cond_broadcast(&a->cond);
	/* exec streams notice within GA_POLL_MS; their connections must close before the
	 * daemon stops */
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += 15;
	while (a->streams > 0)
		if (pthread_cond_timedwait(&a->cond, &a->lock, &t) == ETIMEDOUT)
			break;
	bool streams_left = a->streams > 0;
	/* followers deliver what is kept (the last events: "stopped") and end by themselves;
	 * stopping the daemon first would cut them off */
	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += 3;
	while (a->followers > 0)
		if (pthread_cond_timedwait(&a->cond, &a->lock, &t) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&a->lock);
	if (a->d && !streams_left)
		MHD_stop_daemon(a->d);
	/* else: a stream thread is stuck in the agent; leave the daemon to process exit rather
	 * than free what it still uses */
	if (a->path) {
		unlink(a->path);
		free(a->path);
	}
	if (streams_left)
		return;
	free(a->relay_sock);
	free(a->policy);
	free(a->logs_dir);
	free(a->state_dir);
	free(a->group);
	free(a->cmd);
	free(a->cmd_result);
	for (size_t i = 0; i < GROUP_API_EVENTS; i++)
		free(a->events[i]);
	pthread_mutex_destroy(&a->lock);
	pthread_cond_destroy(&a->cond);
	free(a);
}
