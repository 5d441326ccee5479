/* Fuzz target for the group relay (vmm/group/group_relay.c): the framed agent protocol arriving from
 * both of its untrusted sides, local clients and the agent's stream.
 *
 * The input is a series of chunks: one byte saying who sends (0: the agent, 1: client A,
 * 2: client B, 3: client B hangs up and reconnects), a 16-bit little-endian length, then
 * the bytes. Client A connects first, so it is the group's owner. After each chunk the harness
 * waits briefly for the relay to pass it on and reads whatever the other side got, so agent
 * answers can follow the requests they answer (the relay numbers requests 1, 2, ... in the
 * order it forwards them). Properties checked: the relay never crashes or hangs, and whatever
 * it sends anyone is a sequence of frames starting with the protocol magic. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "guest/proto/proto.h"
#include "vmm/group/group_relay.h"

static int connect_to(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	if (fd < 0)
		abort();
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) { /* backlog full: try later */
		close(fd);
		return -1;
	}
	return fd;
}

/* Read what fd has (waiting up to ms for the first byte); check the first frame's magic. */
static void drain(int fd, int ms, bool *first)
{
	struct pollfd p = { fd, POLLIN, 0 };
	uint8_t buf[65536];
	while (poll(&p, 1, ms) > 0) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n <= 0)
			return;
		if (*first && n >= 4 && memcmp(buf, "PRMA", 4) != 0)
			abort();
		*first = false;
		ms = 0;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 256 * 1024)
		return 0;
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0)
		abort();
	char path[64];
	snprintf(path, sizeof(path), "/tmp/parma-fuzz-relay-%d.sock", (int)getpid());
	struct group_relay *r;
	struct errbuf eb = { 0 };
	/* run-time values, so that client bytes also reach the relay's own group_env answer */
	struct json_object *env = json_tokener_parse("{\"app\": {\"TOKEN\": \"x\"}}");
	int started = group_relay_start(sp[1], path, env, &r, &eb);
	json_object_put(env);
	if (started < 0) {
		fprintf(stderr, "group_relay_start: %s\n", errbuf_msg(&eb));
		abort();
	}
	int agent = sp[0];
	int client[2] = { connect_to(path), -1 };
	if (client[0] < 0)
		abort();
	bool first[3] = { true, true, true }; /* agent, A, B: nothing read yet */
	drain(client[0], 2, &first[1]);        /* let the relay accept A first: the owner */
	client[1] = connect_to(path);

	for (size_t i = 0; i + 3 <= size;) {
		uint8_t who = data[i] & 3;
		size_t len = (size_t)data[i + 1] | (size_t)data[i + 2] << 8;
		i += 3;
		if (len > size - i)
			len = size - i;
		if (who == 3) {
			close(client[1]);
			client[1] = connect_to(path);
			first[2] = true;
			continue;
		}
		int fd = who == 0 ? agent : client[who - 1];
		for (size_t off = 0; fd >= 0 && off < len;) {
			ssize_t n = send(fd, data + i + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n <= 0)
				break;
			off += (size_t)n;
		}
		i += len;
		if (who == 0) {
			drain(client[0], 2, &first[1]);
			if (client[1] >= 0)
				drain(client[1], 0, &first[2]);
		} else if (fd >= 0) {
			drain(agent, 2, &first[0]);
			drain(fd, 0, &first[who]);
		}
	}
	close(client[0]);
	if (client[1] >= 0)
		close(client[1]);
	close(agent);
	group_relay_stop(r);
	return 0;
}
