/* The group relay: several agent clients share one agent stream without seeing each other's
 * answers or output, and the group's owner answers the agent's dev-report requests. A fake
 * agent on a socketpair answers every request with its own request id and the client's tag. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/fileio.h"
#include "vmm/group/agent_client.h"
#include "guest/proto/proto.h"
#include "vmm/group/group_relay.h"

#define FAKE_PID_BASE 100

struct fake_agent {
	int fd;
	pthread_t thread;
	uint32_t next_pid;
	int dev_answers; /* RESPONSE frames to our dev_report request */
	int seen_intruder; /* requests tagged "intruder" that reached the agent */
	char dev_report_b64[2048];
};

static void send_json(int fd, uint8_t type, uint32_t id, struct json_object *o)
{
	uint8_t *buf;
	size_t len;
	assert_int_equal(proto_json_frame(type, id, o, &buf, &len), 0);
	assert_int_equal(write_full(fd, buf, len), 0);
	free(buf);
}

static void send_raw(int fd, uint8_t type, uint16_t flags, uint32_t id, const char *body)
{
	uint8_t *buf;
	size_t len;
	assert_int_equal(proto_frame_encode(type, flags, id, body, (uint32_t)strlen(body), &buf, &len),
			 0);
	assert_int_equal(write_full(fd, buf, len), 0);
	free(buf);
}

/* Answers: ping → {"ok":true,"tag":<tag>}; exec → a new process id, then that process's
 * stdout "out-<pid>"; ask_dev → sends the host a dev_report request first. */
static void *fake_agent_main(void *arg)
{
	struct fake_agent *a = arg;
	struct proto_decoder dec;
	uint8_t buf[65536];
	proto_decoder_init(&dec);
	for (;;) {
		ssize_t n = read(a->fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		proto_decoder_feed(&dec, buf, (size_t)n);
		struct proto_frame f;
		struct proto_fault fault;
		enum proto_decode_status st;
		while ((st = proto_decoder_next(&dec, &f, &fault)) != PROTO_NEED_MORE) {
			if (st != PROTO_FRAME)
				continue;
			struct json_object *req = NULL, *v, *tag = NULL;
			if (f.type == PROTO_RESPONSE) { /* the host answered our dev_report */
				if (proto_json_parse(&f, &req, NULL) == 0 &&
				    json_object_object_get_ex(req, "report", &v))
					snprintf(a->dev_report_b64, sizeof(a->dev_report_b64), "%s",
						 json_object_get_string(v));
				a->dev_answers++;
				json_object_put(req);
				continue;
			}
			if (f.type != PROTO_REQUEST || proto_json_parse(&f, &req, NULL) < 0)
				continue;
			json_object_object_get_ex(req, "tag", &tag);
			if (tag && !strcmp(json_object_get_string(tag), "intruder"))
				a->seen_intruder++;
			json_object_object_get_ex(req, "type", &v);
			const char *type = json_object_get_string(v);
			struct json_object *resp = json_object_new_object();
			json_object_object_add(resp, "ok", json_object_new_boolean(1));
			json_object_object_add(resp, "tag", json_object_get(tag));
			json_object_object_add(resp, "seen_id", json_object_new_int64(f.id));
			if (!strcmp(type, "exec")) {
				uint32_t pid = FAKE_PID_BASE + a->next_pid++;
				json_object_object_add(resp, "process_id", json_object_new_int64(pid));
				send_json(a->fd, PROTO_RESPONSE, f.id, resp);
				char out[32];
				snprintf(out, sizeof(out), "out-%u", pid);
				send_raw(a->fd, PROTO_STREAM, PROTO_STDOUT, pid, out);
			} else if (!strcmp(type, "ask_dev")) {
				struct json_object *dev = json_object_new_object();
				json_object_object_add(dev, "type", json_object_new_string("dev_report"));
				json_object_object_add(dev, "report_data",
						       json_object_new_string(
							       "0000000000000000000000000000000000000000000000000000000000000000"
							       "0000000000000000000000000000000000000000000000000000000000000000"));
				send_json(a->fd, PROTO_REQUEST, 555, dev);
				json_object_put(dev);
				send_json(a->fd, PROTO_RESPONSE, f.id, resp);
			} else {
				send_json(a->fd, PROTO_RESPONSE, f.id, resp);
			}
			json_object_put(resp);
			json_object_put(req);
		}
	}
	proto_decoder_destroy(&dec);
	return NULL;
}

struct client_state {
	char out[256];
	size_t out_len;
	int dev_requests;
};

static void on_output(void *opaque, uint32_t pid, int stream, const uint8_t *data, size_t len,
		      bool eof)
{
	struct client_state *s = opaque;
	(void)pid;
	(void)stream;
	if (eof || s->out_len + len >= sizeof(s->out))
		return;
	memcpy(s->out + s->out_len, data, len);
	s->out_len += len;
}

static int on_dev_report(void *opaque, const uint8_t rd[64], uint8_t report[1184],
			 struct json_object **certs)
{
	struct client_state *s = opaque;
	(void)rd;
	(void)certs;
	s->dev_requests++;
	memset(report, 0xab, 1184);
	return 0;
}

struct rig {
	char dir[64], sock[128];
	struct fake_agent agent;
	struct group_relay *relay;
	struct agent_client *owner, *other;
	struct client_state owner_st, other_st;
};

static int rig_setup(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));
	int sv[2];
	struct errbuf eb = { 0 };
	strcpy(r->dir, "/tmp/parma-relay-XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	snprintf(r->sock, sizeof(r->sock), "%s/agent.sock", r->dir);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	r->agent.fd = sv[0];
	assert_int_equal(pthread_create(&r->agent.thread, NULL, fake_agent_main, &r->agent), 0);
	struct json_object *env = json_tokener_parse("{\"app\": {\"TOKEN\": \"s3cret\"}}");
	assert_int_equal(group_relay_start(sv[1], r->sock, env, &r->relay, &eb), 0);
	json_object_put(env); /* the relay keeps a copy of its own */
	/* The first client to connect is the owner. */
	assert_int_equal(agent_client_connect(r->sock, AGENT_CONNECT_SERIAL, 5000, &r->owner, &eb), 0);
	struct agent_client_callbacks cb_owner = { on_output, on_dev_report, &r->owner_st };
	agent_client_set_callbacks(r->owner, &cb_owner);
	/* make sure the relay accepted the owner before the second client connects */
	assert_int_equal(agent_client_call_text(r->owner, "{\"type\":\"ping\",\"tag\":\"o0\"}", 5000,
						NULL, &eb), 0);
	assert_int_equal(agent_client_connect(r->sock, AGENT_CONNECT_SERIAL, 5000, &r->other, &eb), 0);
	struct agent_client_callbacks cb_other = { on_output, on_dev_report, &r->other_st };
	agent_client_set_callbacks(r->other, &cb_other);
	*state = r;
	return 0;
}

static int rig_teardown(void **state)
{
	struct rig *r = *state;
	agent_client_close(r->owner);
	agent_client_close(r->other);
	group_relay_stop(r->relay); /* closes its end: the fake agent sees EOF */
	pthread_join(r->agent.thread, NULL);
	close(r->agent.fd);
	assert_int_equal(access(r->sock, F_OK), -1); /* the socket file is gone */
	rmdir(r->dir);
	free(r);
	return 0;
}

static const char *answer_tag(struct json_object *resp)
{
	struct json_object *v;
	return json_object_object_get_ex(resp, "tag", &v) ? json_object_get_string(v) : "";
}

static void relay_routes_answers_by_client(void **state)
{
	struct rig *r = *state;
	struct errbuf eb = { 0 };
	uint32_t id_a, id_b;
	struct json_object *a = json_tokener_parse("{\"type\":\"ping\",\"tag\":\"A\"}");
	struct json_object *b = json_tokener_parse("{\"type\":\"ping\",\"tag\":\"B\"}");
	/* both clients in flight at once */
	assert_int_equal(agent_client_send(r->owner, a, &id_a, &eb), 0);
	assert_int_equal(agent_client_send(r->other, b, &id_b, &eb), 0);
	struct json_object *ra = NULL, *rb = NULL, *v;
	assert_int_equal(agent_client_wait(r->other, id_b, 5000, &rb, &eb), 0);
	assert_int_equal(agent_client_wait(r->owner, id_a, 5000, &ra, &eb), 0);
	assert_string_equal(answer_tag(ra), "A");
	assert_string_equal(answer_tag(rb), "B");
	/* the agent saw two different ids even if the clients chose the same one */
	assert_true(json_object_object_get_ex(ra, "seen_id", &v));
	int64_t seen_a = json_object_get_int64(v);
	assert_true(json_object_object_get_ex(rb, "seen_id", &v));
	assert_int_not_equal(seen_a, json_object_get_int64(v));
	json_object_put(a);
	json_object_put(b);
	json_object_put(ra);
	json_object_put(rb);
}

static void relay_routes_output_to_process_owner(void **state)
{
	struct rig *r = *state;
	struct errbuf eb = { 0 };
	struct json_object *resp = NULL, *v;
	assert_int_equal(agent_client_call_text(r->other, "{\"type\":\"exec\",\"tag\":\"x\"}", 5000,
						&resp, &eb), 0);
	assert_true(json_object_object_get_ex(resp, "process_id", &v));
	char want[32];
	snprintf(want, sizeof(want), "out-%d", json_object_get_int(v));
	json_object_put(resp);
	for (int i = 0; i < 50 && !r->other_st.out_len; i++)
		agent_client_pump(r->other, 100, &eb);
	agent_client_pump(r->owner, 200, &eb);
	r->other_st.out[r->other_st.out_len] = '\0';
	assert_string_equal(r->other_st.out, want);
	assert_int_equal(r->owner_st.out_len, 0); /* not the owner's process */
}

/* group_env is answered by the relay from parma run's values, never forwarded to the agent
 * (the fake agent's answers carry "seen_id"). */
static void relay_answers_group_env_itself(void **state)
{
	struct rig *r = *state;
	struct errbuf eb = { 0 };
	struct json_object *resp = NULL, *env, *v;
	assert_int_equal(agent_client_call_text(r->other,
						"{\"type\":\"group_env\",\"container_id\":\"app\"}",
						5000, &resp, &eb), 0);
	assert_false(json_object_object_get_ex(resp, "seen_id", NULL));
	assert_true(json_object_object_get_ex(resp, "env", &env));
	assert_true(json_object_object_get_ex(env, "TOKEN", &v));
	assert_string_equal(json_object_get_string(v), "s3cret");
	json_object_put(resp);
	resp = NULL;
	assert_int_equal(agent_client_call_text(r->other,
						"{\"type\":\"group_env\",\"container_id\":\"db\"}",
						5000, &resp, &eb), 0);
	assert_true(json_object_object_get_ex(resp, "env", &env));
	assert_int_equal(json_object_object_length(env), 0);
	assert_false(json_object_object_get_ex(resp, "seen_id", NULL));
	json_object_put(resp);
}

static void relay_sends_agent_requests_to_owner(void **state)
{
	struct rig *r = *state;
	struct errbuf eb = { 0 };
	/* ask_dev: the fake agent sends a dev_report request before answering */
	assert_int_equal(agent_client_call_text(r->other, "{\"type\":\"ask_dev\",\"tag\":\"d\"}", 5000,
						NULL, &eb), 0);
	for (int i = 0; i < 50 && !r->owner_st.dev_requests; i++)
		agent_client_pump(r->owner, 100, &eb);
	assert_int_equal(r->owner_st.dev_requests, 1);
	assert_int_equal(r->other_st.dev_requests, 0);
	for (int i = 0; i < 50 && !r->agent.dev_answers; i++)
		usleep(20000);
	assert_int_equal(r->agent.dev_answers, 1);
	assert_true(strlen(r->agent.dev_report_b64) > 1500); /* base64 of 1184 bytes */
}

static void relay_survives_garbage_from_a_client(void **state)
{
	struct rig *r = *state;
	struct errbuf eb = { 0 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	strcpy(addr.sun_path, r->sock);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	const char junk[] = "GET / HTTP/1.1\r\n\r\nPRMA\x01\x01\x00\x00garbage-garbage";
	assert_int_equal(write_full(fd, junk, sizeof(junk)), 0);
	/* a stream frame for a process it does not own is dropped, not forwarded */
	send_raw(fd, PROTO_STREAM, PROTO_STDIN, FAKE_PID_BASE, "not yours");
	close(fd);
	struct json_object *resp = NULL;
	assert_int_equal(agent_client_call_text(r->owner, "{\"type\":\"ping\",\"tag\":\"after\"}",
						5000, &resp, &eb), 0);
	assert_string_equal(answer_tag(resp), "after");
	json_object_put(resp);
}

/* Connect a raw socket; read what the relay says before closing (or NULL if nothing). */
static int raw_connect(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	strcpy(addr.sun_path, path);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* Bytes the relay sent before it closed fd (up to cap), or -1 if it kept the line open. */
static ssize_t read_until_closed(int fd, char *buf, size_t cap)
{
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	size_t got = 0;
	for (;;) {
		ssize_t n = read(fd, buf + got, cap - 1 - got);
		if (n == 0)
			break;
		if (n < 0)
			return -1;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return (ssize_t)got;
}

static void relay_refuses_other_users(void **state)
{
	struct rig *r = *state;
	struct errbuf eb = { 0 };
	if (geteuid() != 0) {
		print_message("(needs root to connect as another uid: only the mode is checked)\n");
		struct stat st;
		assert_int_equal(stat(r->sock, &st), 0);
		assert_int_equal(st.st_mode & 0077, 0);
		return;
	}
	struct stat st;
	assert_int_equal(stat(r->sock, &st), 0);
	assert_int_equal(st.st_mode & 0077, 0); /* mode 0600: others cannot even connect */
	for (int open_mode = 0; open_mode < 2; open_mode++) {
		/* open_mode 1: the socket made world-writable by mistake: the peer check refuses */
		if (open_mode) {
			assert_int_equal(chmod(r->sock, 0666), 0);
			assert_int_equal(chmod(r->dir, 0755), 0);
		}
		int p[2];
		assert_int_equal(pipe(p), 0);
		pid_t pid = fork();
		if (pid == 0) {
			close(p[0]);
			signal(SIGPIPE, SIG_IGN); /* the relay may close before our request lands */
			if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
				_exit(3);
			char buf[512];
			int fd = raw_connect(r->sock);
			if (fd < 0) {
				dprintf(p[1], "connect: %s", strerror(-fd));
				_exit(fd == -EACCES ? 0 : 4);
			}
			/* the relay answers with one error frame and hangs up */
			ssize_t n = read_until_closed(fd, buf, sizeof(buf));
			/* whatever is sent now must not reach the agent */
			static const char req[] = "{\"type\":\"ping\",\"tag\":\"intruder\"}";
			uint8_t *frame;
			size_t flen;
			if (proto_frame_encode(PROTO_REQUEST, 0, 1, req, sizeof(req) - 1, &frame,
					       &flen) == 0 && write(fd, frame, flen) < 0)
				(void)0; /* refused: the write may fail */
			dprintf(p[1], "%s", n > 20 ? buf + 20 : "(nothing)");
			_exit(n > 20 && memmem(buf, (size_t)n, "another user", 12) ? 0 : 5);
		}
		close(p[1]);
		char msg[512] = "";
		ssize_t n = read(p[0], msg, sizeof(msg) - 1);
		msg[n > 0 ? n : 0] = '\0';
		close(p[0]);
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("mode %s: another uid was not refused (status 0x%x): %s",
				 open_mode ? "0666" : "0600", status, msg);
		assert_int_equal(r->agent.seen_intruder, 0);
	}
	/* the owner is untouched */
	assert_int_equal(agent_client_call_text(r->owner, "{\"type\":\"ping\",\"tag\":\"ok\"}", 5000,
						NULL, &eb), 0);
}

static void relay_refuses_clients_beyond_the_cap(void **state)
{
	struct rig *r = *state;
	struct errbuf eb = { 0 };
	int fds[GROUP_RELAY_MAX_CLIENTS];
	int n = 0;
	/* the rig holds two clients: fill the rest, then one more */
	for (; n < GROUP_RELAY_MAX_CLIENTS - 2; n++) {
		fds[n] = raw_connect(r->sock);
		assert_true(fds[n] >= 0);
	}
	/* all accepted before the next one: a ping through the owner orders them */
	assert_int_equal(agent_client_call_text(r->owner, "{\"type\":\"ping\",\"tag\":\"f\"}", 5000,
						NULL, &eb), 0);
	int extra = raw_connect(r->sock);
	assert_true(extra >= 0);
	char buf[512];
	ssize_t got = read_until_closed(extra, buf, sizeof(buf));
	assert_true(got > 20);
	assert_non_null(memmem(buf, (size_t)got, "already has 16 clients", 22));
	close(extra);
	/* a slot freed is a slot usable again */
	close(fds[--n]);
	struct agent_client *again = NULL;
	for (int i = 0; i < 50 && !again; i++) {
		struct agent_client *c = NULL;
		if (agent_client_connect(r->sock, AGENT_CONNECT_SERIAL, 5000, &c, &eb) == 0 &&
		    agent_client_call_text(c, "{\"type\":\"ping\",\"tag\":\"g\"}", 2000, NULL,
					   &eb) == 0)
			again = c;
		else
			agent_client_close(c), usleep(20000);
	}
	assert_non_null(again);
	agent_client_close(again);
	while (n > 0)
		close(fds[--n]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(relay_routes_answers_by_client, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(relay_routes_output_to_process_owner, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(relay_answers_group_env_itself, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(relay_sends_agent_requests_to_owner, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(relay_survives_garbage_from_a_client, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(relay_refuses_other_users, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(relay_refuses_clients_beyond_the_cap, rig_setup,
						rig_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
