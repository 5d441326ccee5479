/* Fuzz target for the control API (vmm/api.c behind libmicrohttpd): the input is a series of
 * HTTP requests from a local client, each on its own connection to a fresh server.
 *
 * Requests are separated by a NUL byte. A request's first byte picks the method (low 3 bits:
 * GET, PUT, PATCH, POST, DELETE) and, with bit 7 set, sends the rest raw (to reach the HTTP
 * parser); otherwise the URL runs to the first '\n' and the rest is the JSON body, sent with
 * a correct Content-Length. The machine is a fake KVM that refuses KVM_GET_API_VERSION, so
 * "InstanceStart" runs the whole configuration check but never opens a host file the fuzzer
 * named. Properties checked: every answer is an HTTP response (or the connection closes), and
 * the server never crashes, hangs or leaks. */
#include <errno.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../unit/vmm/fake_kvm.h"
#include "vmm/api.h"
#include "devices/event_loop.h"
#include "vmm/vm.h"

#define PUMPS 40

static void stop_loop(void *ctx, uint32_t events)
{
	(void)events;
	event_loop_stop(ctx, 0);
}

/* Run the loop for about a millisecond. */
static void pump(struct event_loop *loop)
{
	if (event_loop_add_timer(loop, 1000000, false, stop_loop, loop) < 0)
		abort();
	event_loop_run(loop);
}

static void exchange(struct event_loop *loop, const char *path, const uint8_t *req, size_t len)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		abort();
	size_t off = 0, got = 0;
	char resp[256];
	for (int i = 0; i < PUMPS; i++) {
		while (off < len) {
			ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);
			if (n <= 0)
				break;
			off += (size_t)n;
		}
		pump(loop);
		ssize_t n;
		char sink[4096];
		while ((n = recv(fd, got < sizeof(resp) ? resp + got : sink,
				 got < sizeof(resp) ? sizeof(resp) - got : sizeof(sink), 0)) > 0)
			got += (size_t)n;
		if (n == 0) /* the server closed: the exchange is over */
			break;
		if (n < 0 && errno != EAGAIN)
			break;
	}
	if (got >= 12 && memcmp(resp, "HTTP/1.", 7) != 0) {
		fprintf(stderr, "not an HTTP response: %.*s\n", (int)(got < 64 ? got : 64), resp);
		abort(); /* whatever came back must be an HTTP response */
	}
	close(fd);
}

static const char *const methods[] = { "GET", "PUT", "PATCH", "POST", "DELETE", "PUT", "GET",
				       "PUT" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 128 * 1024)
		return 0;
	struct errbuf eb = { 0 };
	struct event_loop *loop = event_loop_create(&eb);
	if (!loop)
		abort();
	struct fake_kvm fake = { .fail_request = (int)KVM_GET_API_VERSION };
	struct vm_config defaults = { .kvm = &fake_kvm_ops, .kvm_ctx = &fake, .serial = "none",
				      .debug_log = "none" };
	char path[64];
	snprintf(path, sizeof(path), "/tmp/parma-fuzz-api-%d.sock", (int)getpid());
	struct api_options o = { .socket_path = path, .loop = loop, .defaults = &defaults };
	struct api_server *api;
	if (api_server_create(&o, &api, &eb) < 0) {
		fprintf(stderr, "api_server_create: %s\n", errbuf_msg(&eb));
		abort();
	}
	const uint8_t *p = data, *end = data + size;
	for (int n = 0; p < end && n < 16; n++) {
		const uint8_t *nul = memchr(p, 0, (size_t)(end - p));
		const uint8_t *rq_end = nul ? nul : end;
		size_t rlen = (size_t)(rq_end - p);
		if (rlen > 0) {
			uint8_t sel = p[0];
			const uint8_t *rest = p + 1;
			size_t rest_len = rlen - 1;
			if (sel & 0x80) {
				exchange(loop, path, rest, rest_len);
			} else {
				const uint8_t *nl = memchr(rest, '\n', rest_len);
				size_t ulen = nl ? (size_t)(nl - rest) : rest_len;
				const uint8_t *body = nl ? nl + 1 : rest + rest_len;
				size_t blen = (size_t)(rest + rest_len - body);
				char head[512];
				int hl = snprintf(head, sizeof(head),
						  "%s %.*s HTTP/1.1\r\nHost: localhost\r\n"
						  "Connection: close\r\nContent-Type: application/json\r\n"
						  "Content-Length: %zu\r\n\r\n",
						  methods[sel & 7], (int)(ulen > 300 ? 300 : ulen),
						  (const char *)rest, blen);
				uint8_t *req = malloc((size_t)hl + blen);
				if (!req)
					abort();
				memcpy(req, head, (size_t)hl);
				memcpy(req + hl, body, blen);
				exchange(loop, path, req, (size_t)hl + blen);
				free(req);
			}
		}
		p = nul ? nul + 1 : end;
	}
	vm_destroy(api_server_take_vm(api));
	api_server_destroy(api);
	event_loop_destroy(loop);
	return 0;
}
