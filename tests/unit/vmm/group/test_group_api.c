/* The group API server (group_api.c) and its client (group_api_client.c) without a guest:
 * routing, errors, bounds, commands to the group's thread, events, logs, a client leaving a
 * stream, and stopping with streams open. The agent side (exec, signal, attest reaching the
 * guest) is the e2e test's (tests/e2e/run/test_group_api.py). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "vmm/api.h"
#include "vmm/group/group_api.h"
#include "vmm/group/group_api_client.h"

struct fixture {
	char dir[64], sock[128], logs[128];
	struct group_api *api;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/parma-test-api-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/api.sock", f->dir);
	snprintf(f->logs, sizeof(f->logs), "%s/logs", f->dir);
	mkdir(f->logs, 0700);
	char path[256];
	snprintf(path, sizeof(path), "%s/app.log", f->logs);
	FILE *l = fopen(path, "w");
	fputs("line one\nline two\n", l);
	fclose(l);
	char relay[128], policy[128];
	snprintf(relay, sizeof(relay), "%s/no-agent.sock", f->dir);
	snprintf(policy, sizeof(policy), "%s/policy.json", f->dir);
	struct group_api_config cfg = {f->sock, relay, policy, f->logs, f->dir};
	struct errbuf eb = {0};
	assert_int_equal(group_api_start(&cfg, &f->api, &eb), 0);
	struct json_object *g = json_tokener_parse(
		"{\"name\": \"g\", \"state\": \"running\", \"tee\": \"dev\", \"containers\": "
		"[{\"name\": \"app\", \"state\": \"running\", \"process_id\": 5}]}");
	group_api_set_group(f->api, g);
	json_object_put(g);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	group_api_stop(f->api);
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static unsigned call(struct fixture *f, const char *method, const char *path, const char *body,
		     struct json_object **answer)
{
	struct group_api_reply r;
	struct errbuf eb = {0};
	assert_int_equal(group_api_request(f->sock, method, path, body, NULL, &r, &eb), 0);
	struct json_object *o = NULL;
	assert_int_equal(group_api_reply_json(&r, &o, &eb), 0);
	group_api_reply_close(&r);
	if (answer)
		*answer = o;
	else
		json_object_put(o);
	return r.status;
}

static void group_api_serves_group_and_containers(void **state)
{
	struct fixture *f = *state;
	struct json_object *o;
	struct stat st;
	assert_int_equal(stat(f->sock, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(call(f, "GET", "/v1/group", NULL, &o), 200);
	assert_string_equal(json_object_get_string(json_object_object_get(o, "api_version")), "v1");
	assert_string_equal(json_object_get_string(json_object_object_get(o, "tee")), "dev");
	json_object_put(o);
	assert_int_equal(call(f, "GET", "/v1/containers/app", NULL, &o), 200);
	assert_int_equal(json_object_get_int(json_object_object_get(o, "process_id")), 5);
	json_object_put(o);
	assert_int_equal(call(f, "GET", "/v1/containers/nope", NULL, &o), 404);
	assert_non_null(strstr(group_api_error_message(o), "nope"));
	json_object_put(o);
}

static void group_api_errors_name_the_problem(void **state)
{
	struct fixture *f = *state;
	struct json_object *o;
	assert_int_equal(call(f, "POST", "/v1/containers", "{\"name\": ", &o), 400);
	assert_non_null(strstr(group_api_error_message(o), "JSON"));
	json_object_put(o);
	assert_int_equal(call(f, "POST", "/v1/containers", "{\"name\": \"app\", \"x\": 1}", &o),
			 400);
	assert_non_null(strstr(group_api_error_message(o), "x: unknown field"));
	json_object_put(o);
	assert_int_equal(call(f, "POST", "/v1/containers", "{\"name\": 3}", &o), 400);
	json_object_put(o);
	assert_int_equal(call(f, "POST", "/v1/containers", "{} trailing", &o), 400);
	json_object_put(o);
	assert_int_equal(call(f, "POST", "/v1/containers/app/signal", "{\"signal\": 99}", &o), 400);
	json_object_put(o);
	assert_int_equal(
		call(f, "POST", "/v1/containers/app/signal", "{\"signal\": \"SIGNOPE\"}", &o), 400);
	json_object_put(o);
	assert_int_equal(call(f, "PUT", "/v1/group", NULL, NULL), 405);
	assert_int_equal(call(f, "GET", "/group", NULL, &o), 404);
	assert_non_null(strstr(group_api_error_message(o), "/v1/"));
	json_object_put(o);
	assert_int_equal(call(f, "GET", "/v1/containers/a%2Fb", NULL, NULL), 404);
	assert_int_equal(call(f, "GET", "/v1/group", "{}", NULL), 400); /* takes no body */
	char *huge = malloc(API_MAX_BODY + 100);
	memset(huge, 'a', API_MAX_BODY + 99);
	huge[API_MAX_BODY + 99] = 0;
	assert_int_equal(call(f, "POST", "/v1/containers", huge, &o), 413);
	json_object_put(o);
	free(huge);
	/* the agent is not there: an honest 504 naming it once the connect gives up */
	unsigned status = call(f, "POST", "/v1/attest", "{\"report_data\": \"00ff\"}", &o);
	bool names_agent = strstr(group_api_error_message(o), "no-agent.sock") != NULL;
	json_object_put(o);
	assert_int_equal(status, 504);
	assert_true(names_agent);
	assert_int_equal(call(f, "POST", "/v1/attest", "{\"report_data\": \"xyz\"}", NULL), 400);
	/* exec needs the upgrade */
	assert_int_equal(
		call(f, "POST", "/v1/containers/app/exec", "{\"command\": [\"/bin/true\"]}", &o),
		400);
	assert_non_null(strstr(group_api_error_message(o), "Upgrade"));
	json_object_put(o);
}

static void *answer_commands(void *arg)
{
	struct group_api *api = arg;
	for (int i = 0; i < 500; i++) {
		struct json_object *cmd = group_api_next_command(api);
		if (!cmd) {
			usleep(10000);
			continue;
		}
		/* echo the command back, as the group's thread would answer it */
		group_api_finish_command(api, 201, cmd);
		return NULL;
	}
	return NULL;
}

static void group_api_hands_starts_to_the_group_thread(void **state)
{
	struct fixture *f = *state;
	pthread_t t;
	pthread_create(&t, NULL, answer_commands, f->api);
	struct json_object *o;
	assert_int_equal(call(f, "POST", "/v1/containers",
			      "{\"name\": \"app\", \"env\": {\"TOKEN\": \"v\"}}", &o),
			 201);
	pthread_join(t, NULL);
	assert_string_equal(json_object_get_string(json_object_object_get(o, "op")), "start");
	assert_string_equal(json_object_get_string(json_object_object_get(o, "name")), "app");
	assert_string_equal(json_object_get_string(json_object_object_get(
				    json_object_object_get(o, "env"), "TOKEN")),
			    "v");
	json_object_put(o);
	assert_int_equal(call(f, "POST", "/v1/containers",
			      "{\"name\": \"app\", \"env\": "
			      "{\"TOKEN\": 3}}",
			      &o),
			 400);
	json_object_put(o);
}

static void group_api_streams_events_and_logs(void **state)
{
	struct fixture *f = *state;
	for (int i = 0; i < 3; i++) {
		struct json_object *d = json_object_new_object();
		json_object_object_add(d, "n", json_object_new_int(i));
		group_api_event(f->api, "test_event", d);
	}
	struct group_api_reply r;
	struct errbuf eb = {0};
	char buf[4096];
	size_t len = 0;
	ssize_t n;
	assert_int_equal(
		group_api_request(f->sock, "GET", "/v1/events?follow=0", NULL, NULL, &r, &eb), 0);
	assert_int_equal(r.status, 200);
	while ((n = group_api_read(&r, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = 0;
	group_api_reply_close(&r);
	assert_non_null(strstr(buf, "\"n\":0,\"type\":\"test_event\""));
	assert_non_null(strstr(buf, "\"seq\":2}\n"));
	assert_ptr_equal(strchr(strchr(strchr(buf, '\n') + 1, '\n') + 1, '\n') + 1, buf + len);
	assert_int_equal(group_api_request(f->sock, "GET", "/v1/events?since=2&follow=0", NULL,
					   NULL, &r, &eb),
			 0);
	len = 0;
	while ((n = group_api_read(&r, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = 0;
	group_api_reply_close(&r);
	assert_null(strstr(buf, "\"seq\":1"));
	assert_non_null(strstr(buf, "\"seq\":2"));

	assert_int_equal(
		group_api_request(f->sock, "GET", "/v1/containers/app/logs", NULL, NULL, &r, &eb),
		0);
	len = 0;
	while ((n = group_api_read(&r, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = 0;
	group_api_reply_close(&r);
	assert_string_equal(buf, "line one\nline two\n");
	assert_int_equal(call(f, "GET", "/v1/containers/app/logs?follow=maybe", NULL, NULL), 400);
	assert_int_equal(call(f, "GET", "/v1/events?since=x", NULL, NULL), 400);

	/* a follower that leaves mid-stream: the server carries on */
	assert_int_equal(group_api_request(f->sock, "GET", "/v1/containers/app/logs?follow=1", NULL,
					   NULL, &r, &eb),
			 0);
	assert_true(group_api_read(&r, buf, sizeof(buf)) > 0);
	group_api_reply_close(&r);
	assert_int_equal(call(f, "GET", "/v1/group", NULL, NULL), 200);
}

static void group_api_refuses_clients_beyond_the_limit(void **state)
{
	struct fixture *f = *state;
	int fds[API_MAX_CONNECTIONS];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, f->sock);
	for (int i = 0; i < API_MAX_CONNECTIONS; i++) {
		fds[i] = socket(AF_UNIX, SOCK_STREAM, 0);
		assert_int_equal(connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	usleep(300000);
	int extra = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(extra, (struct sockaddr *)&sa, sizeof(sa)), 0);
	const char req[] = "GET /v1/group HTTP/1.1\r\nHost: x\r\n\r\n";
	send(extra, req, sizeof(req) - 1, MSG_NOSIGNAL);
	struct timeval tv = {.tv_sec = 10};
	setsockopt(extra, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char buf[64];
	ssize_t n = recv(extra, buf, sizeof(buf), 0);
	assert_true(n <= 0 && !(n < 0 && errno == EAGAIN)); /* closed, not answered */
	close(extra);
	for (int i = 0; i < API_MAX_CONNECTIONS; i++)
		close(fds[i]);
	usleep(300000);
	assert_int_equal(call(f, "GET", "/v1/group", NULL, NULL), 200);
}

static void *stop_later(void *arg)
{
	usleep(300000);
	group_api_stop(arg);
	return NULL;
}

static void group_api_stop_ends_streams(void **state)
{
	struct fixture *f = *state;
	struct group_api_reply r;
	struct errbuf eb = {0};
	char buf[4096];
	assert_int_equal(group_api_request(f->sock, "GET", "/v1/events", NULL, NULL, &r, &eb), 0);
	pthread_t t;
	pthread_create(&t, NULL, stop_later, f->api);
	while (group_api_read(&r, buf, sizeof(buf)) > 0)
		; /* ends when the server stops */
	group_api_reply_close(&r);
	pthread_join(t, NULL);
	f->api = NULL;
	struct stat st;
	assert_int_not_equal(stat(f->sock, &st), 0); /* the socket is gone */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(group_api_serves_group_and_containers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(group_api_errors_name_the_problem, setup, teardown),
		cmocka_unit_test_setup_teardown(group_api_hands_starts_to_the_group_thread, setup,
						teardown),
		cmocka_unit_test_setup_teardown(group_api_streams_events_and_logs, setup, teardown),
		cmocka_unit_test_setup_teardown(group_api_refuses_clients_beyond_the_limit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(group_api_stop_ends_streams, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
