/* Unit tests for vmm/api.c over a real Unix socket: configure, status, start and
 * stop (on the fake KVM), and bad requests → 4xx with a JSON error, never a crash. */
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_kvm.h"
#include "vmm/api.h"
#include "devices/event_loop.h"
#include "vmm/vm.h"

struct server {
	struct event_loop *loop;
	struct api_server *api;
	struct fake_kvm fake;
	struct vm_config defaults;
	pthread_t thread;
	int code;
	char path[108];
};

static void *loop_thread(void *arg)
{
	struct server *s = arg;
	s->code = event_loop_run(s->loop);
	return NULL;
}

static struct server *server_start(void)
{
	struct server *s = calloc(1, sizeof(*s));
	struct errbuf eb = { 0 };
	s->loop = event_loop_create(&eb);
	assert_non_null(s->loop);
	snprintf(s->path, sizeof(s->path), "/tmp/parma-api-test-%d.sock", getpid());
	s->defaults = (struct vm_config){ .kvm = &fake_kvm_ops, .kvm_ctx = &s->fake,
					  .serial = "none", .debug_log = "none" };
	struct api_options o = { .socket_path = s->path, .loop = s->loop, .defaults = &s->defaults };
	if (api_server_create(&o, &s->api, &eb))
		fail_msg("api_server_create: %s", errbuf_msg(&eb));
	assert_int_equal(pthread_create(&s->thread, NULL, loop_thread, s), 0);
	return s;
}

static int server_stop(struct server *s)
{
	event_loop_stop(s->loop, 1000);
	pthread_join(s->thread, NULL);
	int code = s->code;
	struct vm *vm = api_server_take_vm(s->api);
	api_server_destroy(s->api);
	vm_destroy(vm);
	event_loop_destroy(s->loop);
	free(s);
	return code;
}

/* Send raw bytes, read the whole answer (the server closes: Connection: close). */
static int http_raw(const char *path, const char *req, size_t req_len, char *resp, size_t cap)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -errno;
	}
	for (size_t off = 0; off < req_len;) {
		ssize_t n = write(fd, req + off, req_len - off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	size_t got = 0;
	for (;;) {
		ssize_t n = read(fd, resp + got, cap - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	resp[got] = 0;
	close(fd);
	return (int)got;
}

/* Returns the status code; *body points into resp. */
static int http(struct server *s, const char *method, const char *url, const char *body,
		char *resp, size_t cap, const char **json)
{
	char req[4096];
	size_t bl = body ? strlen(body) : 0;
	int n = snprintf(req, sizeof(req),
			 "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			 method, url, bl, body ? body : "");
	assert_true(http_raw(s->path, req, (size_t)n, resp, cap) > 0);
	int status = 0;
	sscanf(resp, "HTTP/1.1 %d", &status);
	const char *b = strstr(resp, "\r\n\r\n");
	*json = b ? b + 4 : "";
	return status;
}

/* Assert a 4xx with a JSON fault_message containing `needle`. */
static void expect_fault(struct server *s, const char *method, const char *url, const char *body,
			 int status, const char *needle)
{
	char resp[8192];
	const char *json;
	int st = http(s, method, url, body, resp, sizeof(resp), &json);
	if (st != status)
		fail_msg("%s %s %s: status %d, expected %d\n%s", method, url, body ? body : "", st,
			 status, resp);
	struct json_object *o = json_tokener_parse(json);
	assert_non_null(o);
	struct json_object *m;
	assert_true(json_object_object_get_ex(o, "fault_message", &m));
	if (!strstr(json_object_get_string(m), needle))
		fail_msg("fault '%s' does not mention '%s'", json_object_get_string(m), needle);
	json_object_put(o);
}

static const char *status_field(struct server *s, const char *field, char *out, size_t cap)
{
	char resp[8192];
	const char *json;
	assert_int_equal(http(s, "GET", "/", NULL, resp, sizeof(resp), &json), 200);
	struct json_object *o = json_tokener_parse(json), *v;
	assert_non_null(o);
	out[0] = 0;
	if (json_object_object_get_ex(o, field, &v))
		snprintf(out, cap, "%s", json_object_get_string(v));
	json_object_put(o);
	return out;
}

static void vmm_api_configure_and_status(void **state)
{
	(void)state;
	struct server *s = server_start();
	char resp[8192], v[64];
	const char *json;
	assert_string_equal(status_field(s, "state", v, sizeof(v)), "configuring");
	assert_int_equal(http(s, "PUT", "/machine-config", "{\"vcpu_count\": 2, \"mem_size_mib\": 128}",
			      resp, sizeof(resp), &json), 204);
	assert_string_equal(status_field(s, "vcpu_count", v, sizeof(v)), "2");
	assert_string_equal(status_field(s, "mem_size_mib", v, sizeof(v)), "128");
	assert_int_equal(http(s, "PUT", "/boot-source",
			      "{\"kernel_image_path\": \"/nonexistent/vmlinux\", \"boot_args\": \"console=ttyS0\"}",
			      resp, sizeof(resp), &json), 204);
	assert_string_equal(status_field(s, "kernel_image_path", v, sizeof(v)), "/nonexistent/vmlinux");
	assert_int_equal(http(s, "PUT", "/drives/rootfs",
			      "{\"drive_id\": \"rootfs\", \"path_on_host\": \"/tmp/x\", \"is_read_only\": true}",
			      resp, sizeof(resp), &json), 204);
	assert_string_equal(status_field(s, "drives", v, sizeof(v)), "1");
	assert_int_equal(server_stop(s), 1000);
}

static void vmm_api_bad_requests_get_4xx_json(void **state)
{
	(void)state;
	struct server *s = server_start();
	expect_fault(s, "PUT", "/machine-config", "{\"vcpu_count\": \"two\"}", 400, "vcpu_count");
	expect_fault(s, "PUT", "/machine-config", "{\"vcpu_count\": 0}", 400, "vcpu_count");
	expect_fault(s, "PUT", "/machine-config", "{\"mem_size_mib\": 3}", 400, "mem_size_mib");
	expect_fault(s, "PUT", "/machine-config", "{\"cpus\": 2}", 400, "cpus: unknown field");
	expect_fault(s, "PUT", "/machine-config", "[1, 2]", 400, "JSON object");
	expect_fault(s, "PUT", "/machine-config", "{\"vcpu_count\": ", 400, "not valid JSON");
	expect_fault(s, "PUT", "/machine-config", NULL, 400, "empty");
	expect_fault(s, "PUT", "/boot-source", "{\"boot_args\": \"x\"}", 400, "kernel_image_path");
	expect_fault(s, "PUT", "/drives/a", "{\"drive_id\": \"b\", \"path_on_host\": \"/x\"}", 400, "drive_id");
	expect_fault(s, "PUT", "/vsock", "{\"guest_cid\": 1, \"uds_path\": \"/x\"}", 400, "guest_cid");
	expect_fault(s, "PUT", "/serial", "{\"output\": \"tcp:1\"}", 400, "output");
	expect_fault(s, "PUT", "/nowhere", "{}", 404, "/nowhere");
	expect_fault(s, "DELETE", "/", NULL, 405, "only GET");
	expect_fault(s, "POST", "/machine-config", "{}", 405, "only PUT");
	expect_fault(s, "PUT", "/actions", "{\"action_type\": \"Explode\"}", 400, "Explode");
	expect_fault(s, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}", 400, "boot-source");
	/* A body larger than the limit. */
	size_t big = 70 * 1024;
	char *body = malloc(big + 1);
	memset(body, ' ', big);
	body[0] = '{';
	body[big - 1] = '}';
	body[big] = 0;
	char *req = malloc(big + 256), resp[4096];
	int n = snprintf(req, big + 256, "PUT /machine-config HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
			 "Content-Length: %zu\r\n\r\n%s", big, body);
	assert_true(http_raw(s->path, req, (size_t)n, resp, sizeof(resp)) > 0);
	assert_non_null(strstr(resp, " 413 "));
	assert_non_null(strstr(resp, "fault_message"));
	free(body);
	free(req);
	/* Garbage that is not HTTP: the connection is dropped, the server lives on. */
	static const char junk[] = "\x01\x02\xff garbage\r\n\r\n";
	http_raw(s->path, junk, sizeof(junk) - 1, resp, sizeof(resp));
	char v[64];
	assert_string_equal(status_field(s, "state", v, sizeof(v)), "configuring");
	assert_int_equal(server_stop(s), 1000);
}

/* More connections than the limit: the VMM holds at most API_MAX_CONNECTIONS; one beyond
 * waits unserved in the listen backlog (bounded by the kernel) until a slot frees, and the
 * held ones are never dropped to make room. */
static void vmm_api_limits_connections(void **state)
{
	(void)state;
	struct server *s = server_start();
	int fds[API_MAX_CONNECTIONS];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, s->path);
	for (int i = 0; i < API_MAX_CONNECTIONS; i++) {
		fds[i] = socket(AF_UNIX, SOCK_STREAM, 0);
		assert_int_equal(connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(write(fds[i], "GET", 3), 3); /* an unfinished request */
	}
	char resp[1024];
	int extra = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(extra, (struct sockaddr *)&sa, sizeof(sa)), 0);
	static const char get[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	assert_int_equal(write(extra, get, sizeof(get) - 1), (ssize_t)sizeof(get) - 1);
	struct timeval tv = { .tv_sec = 1 };
	setsockopt(extra, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ssize_t n;
	do
		n = read(extra, resp, sizeof(resp) - 1);
	while (n < 0 && errno == EINTR);
	if (!(n < 0 && errno == EAGAIN))
		fail_msg("a connection beyond the limit was served at once: read %zd", n);
	/* the held connections are still open: none was dropped to make room */
	for (int i = 0; i < API_MAX_CONNECTIONS; i++) {
		struct timeval t0 = { .tv_usec = 1000 };
		setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &t0, sizeof(t0));
		ssize_t r = read(fds[i], resp, sizeof(resp));
		if (!(r < 0 && (errno == EAGAIN || errno == EINTR)))
			fail_msg("connection %d of %d: read %zd (%s)", i, API_MAX_CONNECTIONS, r,
				 r < 0 ? strerror(errno) : "data or EOF");
	}
	close(fds[0]);
	/* a slot is free: the waiting connection is served */
	tv.tv_sec = 10;
	setsockopt(extra, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	size_t got = 0;
	for (;;) {
		n = read(extra, resp + got, sizeof(resp) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	resp[got] = '\0';
	assert_non_null(strstr(resp, " 200 "));
	assert_non_null(strstr(resp, "configuring"));
	close(extra);
	for (int i = 1; i < API_MAX_CONNECTIONS; i++)
		close(fds[i]);
	assert_int_equal(server_stop(s), 1000);
}

static void vmm_api_start_errors_name_the_file(void **state)
{
	(void)state;
	struct server *s = server_start();
	char resp[8192];
	const char *json;
	assert_int_equal(http(s, "PUT", "/machine-config", "{\"mem_size_mib\": 64}", resp,
			      sizeof(resp), &json), 204);
	assert_int_equal(http(s, "PUT", "/boot-source", "{\"kernel_image_path\": \"/nonexistent/vmlinux\"}",
			      resp, sizeof(resp), &json), 204);
	expect_fault(s, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}", 400,
		     "/nonexistent/vmlinux");
	char v[64];
	assert_string_equal(status_field(s, "state", v, sizeof(v)), "configuring");
	assert_int_equal(server_stop(s), 1000);
}

static void vmm_api_start_and_stop_on_fake_kvm(void **state)
{
	(void)state;
	const char *root = getenv("PARMA_BUILD_ROOT");
	char kernel[512];
	snprintf(kernel, sizeof(kernel), "%s/firmware/payload/parma-payload.elf", root ? root : ".");
	if (access(kernel, R_OK)) {
		print_message("SKIP: %s not built (-Dfirmware=false?)\n", kernel);
		skip();
	}
	struct server *s = server_start();
	char resp[8192], body[1024], v[64];
	const char *json;
	assert_int_equal(http(s, "PUT", "/machine-config", "{\"mem_size_mib\": 64, \"vcpu_count\": 1}",
			      resp, sizeof(resp), &json), 204);
	snprintf(body, sizeof(body), "{\"kernel_image_path\": \"%s\", \"boot_args\": \"x\"}", kernel);
	assert_int_equal(http(s, "PUT", "/boot-source", body, resp, sizeof(resp), &json), 204);
	char vsock[128];
	snprintf(vsock, sizeof(vsock), "/tmp/parma-api-vsock-%d", getpid());
	snprintf(body, sizeof(body), "{\"guest_cid\": 3, \"uds_path\": \"%s\"}", vsock);
	assert_int_equal(http(s, "PUT", "/vsock", body, resp, sizeof(resp), &json), 204);
	assert_int_equal(http(s, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}", resp,
			      sizeof(resp), &json), 204);
	/* The vsock device listens where the API said. */
	assert_int_equal(access(vsock, F_OK), 0);
	/* The fake vCPU has no script: it idles like a halted guest. */
	assert_string_equal(status_field(s, "state", v, sizeof(v)), "running");
	expect_fault(s, "PUT", "/machine-config", "{\"vcpu_count\": 2}", 409, "already running");
	expect_fault(s, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}", 409, "already");
	assert_int_equal(http(s, "PUT", "/actions", "{\"action_type\": \"Stop\"}", resp,
			      sizeof(resp), &json), 204);
	pthread_join(s->thread, NULL);
	assert_int_equal(s->code, 8); /* MACHINE_EXIT_STOPPED */
	/* The registers the fake saw: 64-bit entry at the payload's e_entry. */
	assert_int_equal(s->fake.vcpu[0].regs.rip, 0x100000);
	s->thread = pthread_self();
	struct vm *vm = api_server_take_vm(s->api);
	assert_non_null(vm);
	api_server_destroy(s->api);
	vm_destroy(vm);
	event_loop_destroy(s->loop);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vmm_api_configure_and_status),
		cmocka_unit_test(vmm_api_bad_requests_get_4xx_json),
		cmocka_unit_test(vmm_api_limits_connections),
		cmocka_unit_test(vmm_api_start_errors_name_the_file),
		cmocka_unit_test(vmm_api_start_and_stop_on_fake_kvm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
