/* Fuzz target: a hostile host's byte stream into the agent's request server — frame decoding,
 * resynchronisation, JSON parsing, every request handler and the policy engine behind it —
 * with inert effects (nothing forks or mounts). The fake TEE reports HOST_DATA = SHA-256 of
 * the seed policy, so inputs that install it reach the post-install handlers. Invariants:
 * no crash or sanitizer finding; everything the agent sends back decodes as valid frames. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/digest.h"
#include "guest/agent/server.h"
#include "guest/proto/proto.h"
#include "policy/attest/snp_report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Keep in step with seeds (make_seeds.py): the policy whose digest the fake TEE reports. */
static const char seed_policy[] =
	"{\"version\":1,\"allow_properties_access\":true,\"containers\":[{\"name\":\"app\","
	"\"layers\":[\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"],"
	"\"command\":[\"/bin/true\"],\"env_rules\":[{\"pattern\":\"A=.*\",\"strategy\":\"regex\","
	"\"required\":false}],\"working_dir\":\"/\",\"allow_stdio_access\":true,"
	"\"exec_processes\":[{\"command\":[\"/bin/true\"],\"signals\":[15]}],\"signals\":[15]}]}";

static int ok_mount(void *c, const char *d, uint64_t o, const uint8_t h[32], const char *t,
		    struct errbuf *eb)
{
	(void)c, (void)d, (void)o, (void)h, (void)t, (void)eb;
	return 0;
}
static int ok_unmount(void *c, const char *t, struct errbuf *eb)
{
	(void)c, (void)t, (void)eb;
	return 0;
}
static int ok_scratch(void *c, const char *d, bool e, const char *t, struct errbuf *eb)
{
	(void)c, (void)d, (void)e, (void)t, (void)eb;
	return 0;
}
static int ok_overlay(void *c, const char *const *l, size_t n, const char *u, const char *w,
		      const char *t, struct errbuf *eb)
{
	(void)c, (void)l, (void)n, (void)u, (void)w, (void)t, (void)eb;
	return 0;
}
static pid_t next_pid = 1000000;
static int ok_create(void *c, const char *id, const char *b, const struct agent_stdio *io,
		     pid_t *pid, struct errbuf *eb)
{
	(void)c, (void)id, (void)b, (void)io, (void)eb;
	*pid = next_pid++;
	return 0;
}
static int ok_start(void *c, const char *id, struct errbuf *eb)
{
	(void)c, (void)id, (void)eb;
	return 0;
}
static int ok_exec(void *c, const char *id, const char *p, const struct agent_stdio *io,
		   pid_t *pid, struct errbuf *eb)
{
	(void)c, (void)id, (void)p, (void)io, (void)eb;
	*pid = next_pid++;
	return 0;
}
static int ok_delete(void *c, const char *id, struct errbuf *eb)
{
	(void)c, (void)id, (void)eb;
	return 0;
}
static int ok_spawn(void *c, const char *const *a, const char *const *e, const char *w,
		    const struct agent_stdio *io, pid_t *pid, struct errbuf *eb)
{
	(void)c, (void)a, (void)e, (void)w, (void)io, (void)eb;
	*pid = next_pid++;
	return 0;
}
static int ok_kill(void *c, pid_t pid, int sig)
{
	(void)c, (void)pid, (void)sig;
	return 0;
}
static int fake_tee(void *c, const uint8_t rd[64], uint8_t out[1184], struct errbuf *eb)
{
	struct snp_report r;
	(void)c, (void)eb;
	memset(&r, 0, sizeof(r));
	r.version = 5;
	r.policy = SNP_POLICY_RESERVED_MBO;
	r.signature_algo = SNP_SIG_ALGO_ECDSA_P384_SHA384;
	digest_sha256(seed_policy, strlen(seed_policy), r.host_data);
	memcpy(r.report_data, rd, 64);
	snp_report_serialize(&r, out);
	return 0;
}
static int ok_stats(void *c, const char *id, struct json_object *o)
{
	(void)c, (void)id, (void)o;
	return 0;
}
static int ok_stacks(void *c, char **t)
{
	(void)c;
	*t = strdup("");
	return 0;
}

static int ok_remove(void *c, const char *p, struct errbuf *eb)
{
	(void)c, (void)p, (void)eb;
	return 0;
}

static int ok_make_dir(void *c, const char *p, uint32_t uid, uint32_t gid, uint32_t mode,
		       struct errbuf *eb)
{
	(void)c, (void)p, (void)uid, (void)gid, (void)mode, (void)eb;
	return 0;
}

static const struct agent_effects_ops inert = {
	ok_mount, ok_unmount, ok_scratch, ok_overlay, ok_create, ok_start,  ok_exec,
	ok_delete, ok_spawn,  ok_kill,    fake_tee,   ok_stats,  ok_stacks, ok_remove,
	ok_make_dir,
};

static char state_dir[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void remove_state_dir(void)
{
	nftw(state_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Read everything the agent sent and check that it is a clean frame stream. */
static void drain(int fd, struct proto_decoder *d)
{
	uint8_t buf[65536];
	ssize_t n;
	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		if (proto_decoder_feed(d, buf, (size_t)n) < 0)
			abort();
		struct proto_frame f;
		struct proto_fault fault;
		int st;
		while ((st = proto_decoder_next(d, &f, &fault)) != PROTO_NEED_MORE) {
			if (st == PROTO_FAULT)
				abort(); /* the agent must never emit a malformed frame */
			if (f.type <= PROTO_ERROR) {
				struct json_object *o;
				if (proto_json_parse(&f, &o, NULL) < 0)
					abort();
				json_object_put(o);
			}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	if (!state_dir[0]) {
		strcpy(state_dir, "/tmp/parma-fuzz-agent-XXXXXX");
		if (!mkdtemp(state_dir))
			abort();
		atexit(remove_state_dir);
		signal(SIGPIPE, SIG_IGN); /* as the agent's main(): a closed stdin pipe is an EPIPE */
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	int big = 4 << 20;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	struct agent_server *s;
	struct agent_server_config cfg = { .fd = sv[0], .effects = { &inert, NULL },
					   .state_dir = state_dir };
	if (agent_server_new(&cfg, &s, NULL) < 0)
		abort();
	struct proto_decoder out;
	proto_decoder_init(&out);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	size_t off = 0;
	for (int rounds = 0; rounds < 10000 && off < size; rounds++) {
		ssize_t n = send(sv[1], data + off, size - off, MSG_DONTWAIT);
		if (n > 0)
			off += (size_t)n;
		agent_server_poll(s, 0);
		drain(sv[1], &out);
	}
	for (int i = 0; i < 4; i++) {
		agent_server_poll(s, 0);
		drain(sv[1], &out);
	}
	/* Every process "exits", so waits and init exits are exercised too. */
	for (pid_t p = 1000000; p < next_pid; p++)
		agent_server_child_exited(s, p, 0);
	agent_server_poll(s, 0);
	drain(sv[1], &out);
	agent_server_free(s);
	proto_decoder_destroy(&out);
	close(sv[1]);
	return 0;
}
