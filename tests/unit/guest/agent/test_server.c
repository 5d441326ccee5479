/* The request server on the host: a real server (policy engine included) over a socketpair,
 * driven through the real client library, with fake effects that record what they were asked
 * and run container commands as ordinary processes. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/digest.h"
#include "common/encoding.h"
#include "common/fileio.h"
#include "guest/agent/server.h"
#include "vmm/group/agent_client.h"
#include "guest/proto/proto.h"
#include "policy/attest/snp_dev.h"
#include "policy/attest/snp_report.h"
#include "policy/lang/policy.h"
#include "tests/unit/policy/cose/test_pki.h"

#define HASH_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HASH_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define HASH_X "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

static const char policy_text[] =
	"{\"version\":1,\"allow_properties_access\":true,\"allow_dump_stacks\":false,"
	"\"allow_runtime_logging\":false,\"allow_environment_variable_dropping\":false,"
	"\"allow_capability_dropping\":false,\"allow_unencrypted_scratch\":false,"
	"\"containers\":[{\"name\":\"app\",\"layers\":[\"" HASH_A "\",\"" HASH_B "\"],"
	"\"command\":[\"/bin/sh\",\"-c\",\"echo hello; echo oops >&2; read x; exit 3\"],"
	"\"env_rules\":[{\"pattern\":\"PATH=/usr/bin:/bin\",\"strategy\":\"string\",\"required\":true},"
	"{\"pattern\":\"GREETING=.*\",\"strategy\":\"regex\",\"required\":false}],"
	"\"working_dir\":\"/\","
	"\"no_new_privileges\":true,\"allow_elevated\":false,\"allow_stdio_access\":true,"
	"\"exec_processes\":[{\"command\":[\"/bin/cat\"],\"signals\":[15]}],\"signals\":[15]}],"
	"\"external_processes\":[{\"command\":[\"/bin/echo\",\"external\"],\"env_rules\":[],"
	"\"working_dir\":\"/\",\"allow_stdio_access\":true}]}";

/* ---- fake effects ---- */

struct fake_ctr {
	char id[64];
	pid_t pid;
	int go_fd;
};

struct fake {
	int mount_layer, unmount, scratch, overlay, create, start, exec, spawn, kill, del;
	bool tee;                  /* pretend to be SNP hardware */
	uint8_t tee_host_data[32];
	struct fake_ctr ctrs[8];
	size_t n_ctrs;
	char removed[8][256]; /* remove_tree paths */
	char made[8][256];    /* make_dir: "path uid:gid mode" */
	size_t n_made;
	size_t n_removed;
	int late_go; /* >= 0: spawn leaves a writer that waits for a byte here (the test's end) */
};

static struct fake fk;
#define LATE_BYTES (256u * 4096u)

static void make_report(const uint8_t host_data[32], const uint8_t report_data[64],
			uint8_t out[SNP_REPORT_SIZE])
{
	struct snp_report r;
	memset(&r, 0, sizeof(r));
	r.version = 5;
	r.policy = SNP_POLICY_RESERVED_MBO;
	r.signature_algo = SNP_SIG_ALGO_ECDSA_P384_SHA384;
	memcpy(r.host_data, host_data, 32);
	memcpy(r.report_data, report_data, 64);
	memset(r.report_id_ma, 0xff, sizeof(r.report_id_ma));
	snp_report_serialize(&r, out);
}

static int f_mount_layer(void *ctx, const char *device, uint64_t off, const uint8_t h[32],
			 const char *target, struct errbuf *eb)
{
	(void)ctx, (void)off, (void)h, (void)target;
	if (!strcmp(device, "/dev/fail"))
		return errbuf_set(eb, EIO, "%s: simulated I/O error", device);
	fk.mount_layer++;
	return 0;
}

static int f_unmount(void *ctx, const char *target, struct errbuf *eb)
{
	(void)ctx, (void)target, (void)eb;
	fk.unmount++;
	return 0;
}

static int f_scratch(void *ctx, const char *device, bool enc, const char *target,
		     struct errbuf *eb)
{
	(void)ctx, (void)device, (void)enc, (void)target, (void)eb;
	fk.scratch++;
	return 0;
}

static int f_overlay(void *ctx, const char *const *lowers, size_t n, const char *upper,
		     const char *work, const char *target, struct errbuf *eb)
{
	(void)ctx, (void)lowers, (void)n, (void)upper, (void)work, (void)target, (void)eb;
	fk.overlay++;
	return 0;
}

/* argv/envp from an OCI process object (strings owned by obj). */
static void process_args(struct json_object *proc, const char **argv, const char **envp)
{
	struct json_object *a = json_object_object_get(proc, "args");
	struct json_object *e = json_object_object_get(proc, "env");
	size_t i;
	for (i = 0; i < json_object_array_length(a) && i < 15; i++)
		argv[i] = json_object_get_string(json_object_array_get_idx(a, i));
	argv[i] = NULL;
	for (i = 0; i < json_object_array_length(e) && i < 15; i++)
		envp[i] = json_object_get_string(json_object_array_get_idx(e, i));
	envp[i] = NULL;
}

/* go_fd >= 0: the child waits for a byte on it before exec; go_write is the pipe's other end,
 * closed in the child so that the test closing its end (or exiting) ends the wait. */
static pid_t fork_exec(const struct agent_stdio *io, int go_fd, int go_write, const char **argv,
		       const char **envp)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (go_write >= 0)
			close(go_write);
		int null = open("/dev/null", O_RDWR);
		dup2(io->in >= 0 ? io->in : null, 0);
		dup2(io->out >= 0 ? io->out : null, 1);
		dup2(io->err >= 0 ? io->err : null, 2);
		if (go_fd >= 0) {
			char b;
			if (read(go_fd, &b, 1) != 1)
				_exit(120);
		}
		execve(argv[0], (char *const *)argv, (char *const *)envp);
		_exit(127);
	}
	return pid;
}

static int f_create(void *ctx, const char *id, const char *bundle, const struct agent_stdio *io,
		    pid_t *pid, struct errbuf *eb)
{
	(void)ctx;
	char path[600];
	snprintf(path, sizeof(path), "%s/config.json", bundle);
	struct json_object *cfg = json_object_from_file(path);
	if (!cfg)
		return errbuf_set(eb, EIO, "no config.json");
	const char *argv[16], *envp[16];
	process_args(json_object_object_get(cfg, "process"), argv, envp);
	int go[2];
	if (pipe2(go, O_CLOEXEC) < 0)
		return -errno;
	*pid = fork_exec(io, go[0], go[1], argv, envp);
	close(go[0]);
	json_object_put(cfg);
	struct fake_ctr *c = &fk.ctrs[fk.n_ctrs++];
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->pid = *pid;
	c->go_fd = go[1];
	fk.create++;
	return 0;
}

static int f_start(void *ctx, const char *id, struct errbuf *eb)
{
	(void)ctx;
	for (size_t i = 0; i < fk.n_ctrs; i++) {
		if (strcmp(fk.ctrs[i].id, id) || fk.ctrs[i].go_fd < 0)
			continue;
		(void)!write(fk.ctrs[i].go_fd, "g", 1);
		close(fk.ctrs[i].go_fd);
		fk.ctrs[i].go_fd = -1;
		fk.start++;
		return 0;
	}
	return errbuf_set(eb, ENOENT, "no such container");
}

static int f_exec(void *ctx, const char *id, const char *process_json,
		  const struct agent_stdio *io, pid_t *pid, struct errbuf *eb)
{
	(void)ctx, (void)id;
	struct json_object *proc = json_object_from_file(process_json);
	if (!proc)
		return errbuf_set(eb, EIO, "no process spec");
	const char *argv[16], *envp[16];
	process_args(proc, argv, envp);
	*pid = fork_exec(io, -1, -1, argv, envp);
	json_object_put(proc);
	fk.exec++;
	return 0;
}

static int f_delete(void *ctx, const char *id, struct errbuf *eb)
{
	(void)ctx, (void)id, (void)eb;
	fk.del++;
	return 0;
}

static int f_spawn(void *ctx, const char *const *argv, const char *const *envp, const char *cwd,
		   const struct agent_stdio *io, pid_t *pid, struct errbuf *eb)
{
	(void)ctx, (void)cwd, (void)eb;
	fk.spawn++;
	if (fk.late_go == -1) {
		*pid = fork_exec(io, -1, -1, (const char **)argv, (const char **)envp);
		return 0;
	}
	/* The process exits at once and leaves a child holding its stdout/stderr that writes
	 * LATE_BYTES once the test says so: its output ends well after its exit. */
	int go[2];
	if (pipe2(go, O_CLOEXEC) < 0)
		return -errno;
	pid_t p = fork();
	if (p < 0)
		return -errno;
	if (p == 0) {
		if (fork() == 0) {
			char b, chunk[4096];
			memset(chunk, 'x', sizeof(chunk));
			close(go[1]);
			if (read(go[0], &b, 1) != 1)
				_exit(120);
			for (size_t n = 0; n < LATE_BYTES; n += sizeof(chunk))
				if (write(io->out, chunk, sizeof(chunk)) != (ssize_t)sizeof(chunk))
					_exit(121);
			(void)!write(io->err, "done\n", 5);
			_exit(0);
		}
		_exit(0);
	}
	close(go[0]);
	fk.late_go = go[1];
	*pid = p;
	return 0;
}

static int f_kill(void *ctx, pid_t pid, int sig)
{
	(void)ctx;
	fk.kill++;
	return kill(pid, sig) < 0 ? -errno : 0;
}

static int f_tee(void *ctx, const uint8_t data[64], uint8_t out[1184], struct errbuf *eb)
{
	(void)ctx, (void)eb;
	if (!fk.tee)
		return -ENODEV;
	make_report(fk.tee_host_data, data, out);
	return 0;
}

static int f_stats(void *ctx, const char *id, struct json_object *obj)
{
	(void)ctx, (void)id;
	json_object_object_add(obj, "memory_bytes", json_object_new_int(4096));
	return 0;
}

static int f_stacks(void *ctx, char **text)
{
	(void)ctx;
	*text = strdup("stacks");
	return 0;
}

/* Records what the agent removed (newest last). */
static int f_remove_tree(void *ctx, const char *path, struct errbuf *eb)
{
	(void)ctx, (void)eb;
	if (fk.n_removed < sizeof(fk.removed) / sizeof(fk.removed[0]))
		snprintf(fk.removed[fk.n_removed++], sizeof(fk.removed[0]), "%s", path);
	return 0;
}

/* Records the container directories the agent made (newest last). */
static int f_make_dir(void *ctx, const char *path, uint32_t uid, uint32_t gid, uint32_t mode,
		      struct errbuf *eb)
{
	(void)ctx, (void)eb;
	if (fk.n_made < sizeof(fk.made) / sizeof(fk.made[0]))
		snprintf(fk.made[fk.n_made++], sizeof(fk.made[0]), "%s %u:%u %o", path, uid, gid,
			 mode);
	return 0;
}

static const struct agent_effects_ops fake_ops = {
	f_mount_layer, f_unmount, f_scratch, f_overlay, f_create,      f_start,    f_exec,
	f_delete,      f_spawn,   f_kill,    f_tee,     f_stats,       f_stacks,   f_remove_tree,
	f_make_dir,
};

/* ---- harness: server thread + client ---- */

struct rig {
	struct agent_server *srv;
	struct agent_client *cli;
	pthread_t thread;
	volatile int stop;
	char state_dir[64];
	char out[2][4096]; /* stdout, stderr of all processes */
	size_t out_len[2];
	size_t out_total[2]; /* every byte, also beyond out[] */
	int eofs;
	uint32_t watch;      /* process whose stdout also goes to watched[] */
	char watched[256];
	size_t watched_len;
	uint8_t dev_host_data[32];
	int dev_reports;
};

static void *server_main(void *arg)
{
	struct rig *r = arg;
	while (!r->stop) {
		agent_server_poll(r->srv, 10);
		int st;
		pid_t p;
		while ((p = waitpid(-1, &st, WNOHANG)) > 0)
			agent_server_child_exited(r->srv, p, st);
	}
	return NULL;
}

static void on_output(void *opaque, uint32_t pid, int stream, const uint8_t *data, size_t len,
		      bool eof)
{
	struct rig *r = opaque;
	if (eof) {
		r->eofs++;
		return;
	}
	size_t i = stream == PROTO_STDERR;
	r->out_total[i] += len;
	if (pid == r->watch && stream == PROTO_STDOUT && r->watched_len + len < sizeof(r->watched)) {
		memcpy(r->watched + r->watched_len, data, len);
		r->watched_len += len;
	}
	if (r->out_len[i] + len < sizeof(r->out[i])) {
		memcpy(r->out[i] + r->out_len[i], data, len);
		r->out_len[i] += len;
	}
}

static int on_dev_report(void *opaque, const uint8_t report_data[64], uint8_t report[1184],
			 struct json_object **certs)
{
	struct rig *r = opaque;
	r->dev_reports++;
	make_report(r->dev_host_data, report_data, report);
	*certs = json_object_new_object();
	json_object_object_add(*certs, "vcek", json_object_new_string("dev-vcek-pem"));
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int rig_setup(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));
	int sv[2];
	assert_non_null(r);
	memset(&fk, 0, sizeof(fk));
	fk.late_go = -1;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	strcpy(r->state_dir, "/tmp/parma-agent-test-XXXXXX");
	assert_non_null(mkdtemp(r->state_dir));
	struct agent_server_config cfg = { .fd = sv[0],
					   .effects = { &fake_ops, NULL },
					   .state_dir = r->state_dir };
	assert_int_equal(agent_server_new(&cfg, &r->srv, NULL), 0);
	assert_int_equal(agent_client_from_fd(sv[1], &r->cli), 0);
	struct agent_client_callbacks cbs = { on_output, on_dev_report, r };
	agent_client_set_callbacks(r->cli, &cbs);
	assert_int_equal(digest_sha256(policy_text, strlen(policy_text), r->dev_host_data), 0);
	assert_int_equal(pthread_create(&r->thread, NULL, server_main, r), 0);
	*state = r;
	return 0;
}

static int rig_teardown(void **state)
{
	struct rig *r = *state;
	r->stop = 1;
	pthread_join(r->thread, NULL);
	agent_client_close(r->cli);
	agent_server_free(r->srv);
	for (size_t i = 0; i < fk.n_ctrs; i++)
		if (fk.ctrs[i].go_fd >= 0)
			close(fk.ctrs[i].go_fd);
	if (fk.late_go >= 0)
		close(fk.late_go);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	nftw(r->state_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(r);
	return 0;
}

/* Send a request; return the client's verdict and keep the answer in *resp. */
static int call(struct rig *r, struct json_object **resp, const char *fmt, ...)
{
	char text[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	struct errbuf eb = { 0 };
	return agent_client_call_text(r->cli, text, 10000, resp, &eb);
}

static void expect_ok(struct rig *r, const char *text)
{
	struct json_object *resp = NULL;
	int rc = call(r, &resp, "%s", text);
	if (rc != 0)
		fail_msg("%s -> %s", text, resp ? json_object_to_json_string(resp) : "(no answer)");
	json_object_put(resp);
}

static void expect_denied(struct rig *r, const char *rule, const char *text)
{
	struct json_object *resp = NULL, *err, *reason, *v;
	int rc = call(r, &resp, "%s", text);
	if (rc != -EACCES)
		fail_msg("%s: expected a denial, got %d: %s", text, rc,
			 resp ? json_object_to_json_string(resp) : "(no answer)");
	assert_true(json_object_object_get_ex(resp, "error", &err));
	assert_true(json_object_object_get_ex(err, "reason", &reason));
	assert_true(json_object_object_get_ex(reason, "rule", &v));
	if (strcmp(json_object_get_string(v), rule))
		fail_msg("%s: expected rule %s, got %s", text, rule,
			 json_object_to_json_string(resp));
	json_object_put(resp);
}

static char *state_json(struct rig *r)
{
	char *s = NULL;
	/* The server thread only touches the engine while handling requests; none is in
	 * flight when a test looks. */
	assert_int_equal(agent_server_state_json(r->srv, &s), 0);
	return s;
}

static void install_text(struct rig *r, const char *text)
{
	size_t n = strlen(text);
	char *b64 = malloc(base64_encoded_len(n));
	assert_int_equal(digest_sha256(text, n, r->dev_host_data), 0);
	base64_encode((const uint8_t *)text, n, b64);
	char *req = malloc(strlen(b64) + 64);
	sprintf(req, "{\"type\":\"install_policy\",\"policy_base64\":\"%s\"}", b64);
	expect_ok(r, req);
	free(req);
	free(b64);
}

static void install(struct rig *r)
{
	install_text(r, policy_text);
}

#define MOUNT_A "{\"type\":\"mount_device\",\"device\":\"/dev/vdb\",\"target\":\"/run/parma/layers/0\",\"device_hash\":\"" HASH_A "\",\"hash_offset\":4096}"
#define MOUNT_B "{\"type\":\"mount_device\",\"device\":\"/dev/vdc\",\"target\":\"/run/parma/layers/1\",\"device_hash\":\"" HASH_B "\",\"hash_offset\":4096}"
#define SCRATCH "{\"type\":\"mount_scratch\",\"device\":\"/dev/vdd\",\"target\":\"/run/parma/scratch\",\"encrypted\":true}"
#define OVERLAY "{\"type\":\"mount_overlay\",\"container_id\":\"c1\",\"layer_targets\":[\"/run/parma/layers/0\",\"/run/parma/layers/1\"],\"target\":\"/run/parma/containers/c1/rootfs\",\"scratch\":\"/run/parma/scratch\"}"
#define CREATE_FIELDS "\"container_id\":\"c1\",\"command\":[\"/bin/sh\",\"-c\",\"echo hello; echo oops >&2; read x; exit 3\"],\"working_dir\":\"/\",\"no_new_privileges\":true,\"stdio\":true"
#define CREATE "{\"type\":\"create_container\"," CREATE_FIELDS ",\"env\":[\"PATH=/usr/bin:/bin\",\"GREETING=hi\"]}"

static void mount_all(struct rig *r)
{
	expect_ok(r, MOUNT_A);
	expect_ok(r, MOUNT_B);
	expect_ok(r, SCRATCH);
	expect_ok(r, OVERLAY);
}

/* ---- tests ---- */

static void agent_closed_until_policy(void **state)
{
	struct rig *r = *state;
	expect_ok(r, "{\"type\":\"ping\"}");
	expect_denied(r, "closed", MOUNT_A);
	expect_denied(r, "closed", "{\"type\":\"start_container\",\"container_id\":\"c1\"}");
	expect_denied(r, "closed", "{\"type\":\"exec_external\",\"command\":[\"/bin/echo\",\"external\"]}");
	assert_int_equal(fk.mount_layer + fk.spawn, 0);
}

static void agent_policy_install_checks_host_data_once(void **state)
{
	struct rig *r = *state;
	/* A policy that is not the one HOST_DATA names. */
	const char *other = "{\"version\":1,\"containers\":[]}";
	char b64[128], req[256];
	base64_encode((const uint8_t *)other, strlen(other), b64);
	snprintf(req, sizeof(req), "{\"type\":\"install_policy\",\"policy_base64\":\"%s\"}", b64);
	expect_denied(r, "host_data", req);
	expect_denied(r, "closed", MOUNT_A);
	install(r);
	assert_int_equal(r->dev_reports, 2); /* dev mode: the host signed both reports */
	struct json_object *resp = NULL, *v;
	assert_int_equal(call(r, &resp, "{\"type\":\"ping\"}"), 0);
	assert_true(json_object_object_get_ex(resp, "tee", &v));
	assert_string_equal(json_object_get_string(v), "none");
	json_object_put(resp);
	char *before = state_json(r);
	expect_denied(r, "already_installed", req);
	char *after = state_json(r);
	assert_string_equal(before, after);
	free(before);
	free(after);
	/* The security context holds the exact policy bytes. */
	char path[128];
	uint8_t *data;
	size_t len;
	snprintf(path, sizeof(path), "%s/security-context/policy.json", r->state_dir);
	assert_int_equal(file_read_all(path, 1 << 20, &data, &len, NULL), 0);
	assert_int_equal(len, strlen(policy_text));
	assert_memory_equal(data, policy_text, len);
	free(data);
}

static void agent_snp_mode_uses_hardware_report(void **state)
{
	struct rig *r = *state;
	fk.tee = true;
	memcpy(fk.tee_host_data, r->dev_host_data, 32);
	install(r);
	assert_int_equal(r->dev_reports, 0);
	struct json_object *resp = NULL, *v;
	assert_int_equal(call(r, &resp, "{\"type\":\"get_report\",\"report_data\":\"%0128d\"}", 7),
			 0);
	assert_true(json_object_object_get_ex(resp, "tee", &v));
	assert_string_equal(json_object_get_string(v), "snp");
	assert_true(json_object_object_get_ex(resp, "report", &v));
	uint8_t rep[SNP_REPORT_SIZE + 3];
	assert_int_equal(base64_decode(json_object_get_string(v), rep, sizeof(rep)), SNP_REPORT_SIZE);
	assert_int_equal(rep[0x50 + 63], 7);
	json_object_put(resp);
}

static void agent_denials_change_nothing(void **state)
{
	struct rig *r = *state;
	install(r);
	char *before = state_json(r);
	expect_denied(r, "device_hash",
		      "{\"type\":\"mount_device\",\"device\":\"/dev/vdb\",\"target\":\"/run/parma/layers/9\",\"device_hash\":\"" HASH_X "\",\"hash_offset\":4096}");
	char *after = state_json(r);
	assert_string_equal(before, after);
	free(after);
	assert_int_equal(fk.mount_layer, 0);
	mount_all(r);
	free(before);
	before = state_json(r);
	/* Reordered layers for a second container. */
	expect_denied(r, "overlay_layers", "{\"type\":\"mount_overlay\",\"container_id\":\"c2\",\"layer_targets\":[\"/run/parma/layers/1\",\"/run/parma/layers/0\"],\"target\":\"/run/parma/containers/c2/rootfs\"}");
	/* Host-supplied hooks never pass. */
	expect_denied(r, "malformed_request", "{\"type\":\"create_container\"," CREATE_FIELDS ",\"env\":[\"PATH=/usr/bin:/bin\"],\"hooks\":{\"prestart\":[{\"path\":\"/bin/evil\"}]}}");
	/* An extra environment variable. */
	expect_denied(r, "env", "{\"type\":\"create_container\"," CREATE_FIELDS ",\"env\":[\"PATH=/usr/bin:/bin\",\"LD_PRELOAD=/evil.so\"]}");
	/* Privileged. */
	expect_denied(r, "privileged", "{\"type\":\"create_container\"," CREATE_FIELDS ",\"env\":[\"PATH=/usr/bin:/bin\"],\"privileged\":true}");
	expect_denied(r, "unknown_request", "{\"type\":\"format_disk\"}");
	expect_denied(r, "dump_stacks", "{\"type\":\"dump_stacks\"}");
	after = state_json(r);
	assert_string_equal(before, after);
	free(before);
	free(after);
	assert_int_equal(fk.create, 0);
	assert_int_equal(fk.overlay, 1);
}

static void agent_failed_effect_rolls_back(void **state)
{
	struct rig *r = *state;
	install(r);
	char *before = state_json(r);
	struct json_object *resp = NULL;
	int rc = call(r, &resp, "{\"type\":\"mount_device\",\"device\":\"/dev/fail\",\"target\":\"/run/parma/layers/0\",\"device_hash\":\"" HASH_A "\",\"hash_offset\":4096}");
	assert_int_equal(rc, -EIO);
	json_object_put(resp);
	char *after = state_json(r);
	assert_string_equal(before, after);
	free(before);
	free(after);
	/* The target is free again. */
	expect_ok(r, MOUNT_A);
}

static void wait_for_eofs(struct rig *r, int n)
{
	for (int i = 0; i < 200 && r->eofs < n; i++)
		agent_client_pump(r->cli, 20, NULL);
	assert_true(r->eofs >= n);
}

static void agent_container_lifecycle(void **state)
{
	struct rig *r = *state;
	install(r);
	mount_all(r);
	struct json_object *resp = NULL, *v;
	assert_int_equal(call(r, &resp, "%s", CREATE), 0);
	assert_true(json_object_object_get_ex(resp, "process_id", &v));
	uint32_t init = (uint32_t)json_object_get_int64(v);
	assert_true(json_object_object_get_ex(resp, "stdio", &v));
	assert_true(json_object_get_boolean(v));
	assert_true(json_object_object_get_ex(resp, "policy_ns", &v));
	assert_true(json_object_get_int64(v) > 0);
	json_object_put(resp);

	/* The config crun gets: the agent's own, with only policy-checked fields. */
	char path[200];
	snprintf(path, sizeof(path), "%s/bundles/c1/config.json", r->state_dir);
	struct json_object *cfg = json_object_from_file(path), *proc, *linux_;
	assert_non_null(cfg);
	assert_false(json_object_object_get_ex(cfg, "hooks", NULL));
	assert_true(json_object_object_get_ex(cfg, "linux", &linux_));
	assert_false(json_object_object_get_ex(linux_, "devices", NULL));
	assert_true(json_object_object_get_ex(cfg, "process", &proc));
	assert_true(json_object_get_boolean(json_object_object_get(proc, "noNewPrivileges")));
	assert_int_equal(json_object_array_length(json_object_object_get(proc, "env")), 2);
	/* neither the policy nor the request names capabilities: both mean the documented
	 * default, policy_caps_default(), not empty sets */
	struct json_object *caps = json_object_object_get(proc, "capabilities");
	struct policy_caps dflt;
	policy_caps_default(&dflt);
	assert_int_equal(json_object_array_length(json_object_object_get(caps, "bounding")),
			 __builtin_popcountll(dflt.bounding));
	assert_int_equal(json_object_array_length(json_object_object_get(caps, "ambient")), 0);
	assert_string_equal(json_object_get_string(json_object_object_get(
				    json_object_object_get(cfg, "root"), "path")),
			    "/run/parma/containers/c1/rootfs");
	json_object_put(cfg);

	expect_ok(r, "{\"type\":\"start_container\",\"container_id\":\"c1\"}");
	/* The init waits for stdin to end. */
	assert_int_equal(agent_client_close_stdin(r->cli, init, NULL), 0);
	assert_int_equal(call(r, &resp, "{\"type\":\"wait\",\"process_id\":%u}", init), 0);
	assert_true(json_object_object_get_ex(resp, "exit_code", &v));
	assert_int_equal(json_object_get_int(v), 3);
	json_object_put(resp);
	wait_for_eofs(r, 2);
	assert_int_equal(r->out_len[0], 6);
	assert_memory_equal(r->out[0], "hello\n", 6);
	assert_memory_equal(r->out[1], "oops\n", 5);

	/* Properties (allowed by this policy). */
	assert_int_equal(call(r, &resp, "{\"type\":\"get_properties\"}"), 0);
	assert_true(json_object_object_get_ex(resp, "containers", &v));
	assert_int_equal(json_object_array_length(v), 1);
	json_object_put(resp);

	/* Shutdown then unmount the overlay. */
	expect_ok(r, "{\"type\":\"shutdown_container\",\"container_id\":\"c1\"}");
	assert_int_equal(fk.del, 1);
	expect_ok(r, "{\"type\":\"unmount_overlay\",\"target\":\"/run/parma/containers/c1/rootfs\"}");
	assert_int_equal(fk.unmount, 1);
}

/* A second shutdown is allowed (the host forcing a container that ignored SIGTERM); the
 * overlay's unmount removes the container's writable layer and bundle; its id never gets an
 * overlay again. */
static void agent_shutdown_twice_then_id_retired(void **state)
{
	struct rig *r = *state;
	struct json_object *resp = NULL, *v;
	install(r);
	mount_all(r);
	assert_int_equal(call(r, &resp, "%s", CREATE), 0);
	assert_true(json_object_object_get_ex(resp, "process_id", &v));
	uint32_t init = (uint32_t)json_object_get_int64(v);
	json_object_put(resp);
	expect_ok(r, "{\"type\":\"start_container\",\"container_id\":\"c1\"}");
	expect_ok(r, "{\"type\":\"shutdown_container\",\"container_id\":\"c1\"}");
	expect_ok(r, "{\"type\":\"shutdown_container\",\"container_id\":\"c1\",\"force\":true}");
	assert_true(fk.kill + fk.del >= 2); /* SIGTERM, then SIGKILL or crun delete */
	assert_int_equal(call(r, &resp, "{\"type\":\"wait\",\"process_id\":%u}", init), 0);
	json_object_put(resp);
	fk.n_removed = 0;
	expect_ok(r, "{\"type\":\"unmount_overlay\",\"target\":\"/run/parma/containers/c1/rootfs\"}");
	assert_int_equal(fk.n_removed, 3);
	assert_string_equal(fk.removed[0], "/run/parma/scratch/containers/c1");
	assert_string_equal(fk.removed[1], "/run/parma/scratch/mounts/c1");
	char bundle[300];
	snprintf(bundle, sizeof(bundle), "%s/bundles/c1", r->state_dir);
	assert_string_equal(fk.removed[2], bundle);
	expect_denied(r, "container_not_started",
		      "{\"type\":\"shutdown_container\",\"container_id\":\"c1\"}");
	expect_denied(r, "id_reused", OVERLAY);
}

/* The guest owns every path: scratch://NAME becomes the container's own directory, created
 * with the owner and mode the rule names (default: the container's user, 0700) and bound
 * without those options; tmpfs:// a tmpfs; nothing of the request names a guest path. */
#define MOUNTS_RULES                                                                               \
	"[{\"source\":\"scratch://data\",\"destination\":\"/data\",\"type\":\"bind\","        \
	"\"options\":[\"rbind\",\"rw\",\"uid=33\",\"gid=34\",\"mode=0750\"]},"               \
	"{\"source\":\"scratch://cache\",\"destination\":\"/cache\",\"type\":\"bind\","      \
	"\"options\":[\"rbind\",\"rw\"]},"                                                     \
	"{\"source\":\"tmpfs://\",\"destination\":\"/scratchtmp\",\"type\":\"tmpfs\","       \
	"\"options\":[\"nosuid\",\"mode=1777\"]}]"

static void agent_scratch_mounts_are_the_containers_own(void **state)
{
	struct rig *r = *state;
	char *pol = strdup(policy_text);
	const char *at = strstr(pol, "\"working_dir\":\"/\",");
	assert_non_null(at);
	char *text = NULL;
	assert_true(asprintf(&text, "%.*s\"user\":{\"uid\":1000,\"gid\":1001},\"mounts\":" MOUNTS_RULES
				    ",%s", (int)(at - pol), pol, at) > 0);
	install_text(r, text);
	mount_all(r);
	fk.n_made = 0;
	expect_ok(r, "{\"type\":\"create_container\"," CREATE_FIELDS
		     ",\"env\":[\"PATH=/usr/bin:/bin\"],\"user\":{\"uid\":1000,\"gid\":1001},"
		     "\"mounts\":" MOUNTS_RULES "}");
	assert_int_equal(fk.n_made, 2);
	assert_string_equal(fk.made[0], "/run/parma/scratch/mounts/c1/data 33:34 750");
	assert_string_equal(fk.made[1], "/run/parma/scratch/mounts/c1/cache 1000:1001 700");
	char path[200];
	snprintf(path, sizeof(path), "%s/bundles/c1/config.json", r->state_dir);
	struct json_object *cfg = json_object_from_file(path), *mounts;
	assert_non_null(cfg);
	assert_true(json_object_object_get_ex(cfg, "mounts", &mounts));
	const char *cfg_text = json_object_to_json_string_ext(
		mounts, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	assert_non_null(strstr(cfg_text, "\"source\":\"/run/parma/scratch/mounts/c1/data\""));
	assert_null(strstr(cfg_text, "scratch:"));
	assert_null(strstr(cfg_text, "tmpfs:"));
	assert_null(strstr(cfg_text, "uid=")); /* ownership is the directory's, not the bind's */
	assert_non_null(strstr(cfg_text, "mode=1777")); /* a tmpfs keeps its options */
	json_object_put(cfg);
	free(text);
	free(pol);
}

static void agent_exec_signal_and_stdin(void **state)
{
	struct rig *r = *state;
	install(r);
	mount_all(r);
	/* The init blocks reading its stdin, so the container keeps running. */
	expect_ok(r, CREATE);
	expect_ok(r, "{\"type\":\"start_container\",\"container_id\":\"c1\"}");
	expect_denied(r, "exec_process", "{\"type\":\"exec_in_container\",\"container_id\":\"c1\",\"command\":[\"/bin/sh\"],\"env\":[\"PATH=/usr/bin:/bin\"],\"no_new_privileges\":true}");
	struct json_object *resp = NULL, *v;
	int rc = call(r, &resp, "{\"type\":\"exec_in_container\",\"container_id\":\"c1\",\"command\":[\"/bin/cat\"],\"env\":[\"PATH=/usr/bin:/bin\"],\"no_new_privileges\":true,\"stdio\":true}");
	if (rc)
		fail_msg("exec: %s", json_object_to_json_string(resp));
	assert_true(json_object_object_get_ex(resp, "process_id", &v));
	uint32_t cat = (uint32_t)json_object_get_int64(v);
	json_object_put(resp);
	/* Signal 9 is not listed for /bin/cat; 15 is. */
	char req[128];
	snprintf(req, sizeof(req), "{\"type\":\"signal_process\",\"container_id\":\"c1\",\"process_id\":%u,\"signal\":9}", cat);
	expect_denied(r, "signal", req);
	r->watch = cat;
	assert_int_equal(agent_client_write_stdin(r->cli, cat, "ping\n", 5, 5000, NULL), 0);
	for (int i = 0; i < 200 && r->watched_len < 5; i++)
		agent_client_pump(r->cli, 20, NULL);
	assert_int_equal(r->watched_len, 5);
	assert_memory_equal(r->watched, "ping\n", 5);
	snprintf(req, sizeof(req), "{\"type\":\"signal_process\",\"container_id\":\"c1\",\"process_id\":%u,\"signal\":15}", cat);
	expect_ok(r, req);
	assert_int_equal(call(r, &resp, "{\"type\":\"wait\",\"process_id\":%u}", cat), 0);
	assert_true(json_object_object_get_ex(resp, "signal", &v));
	assert_int_equal(json_object_get_int(v), 15);
	json_object_put(resp);
}

static void agent_exec_external_and_unlisted(void **state)
{
	struct rig *r = *state;
	install(r);
	expect_denied(r, "external_process", "{\"type\":\"exec_external\",\"command\":[\"/bin/sh\",\"-c\",\"id\"]}");
	assert_int_equal(fk.spawn, 0);
	struct json_object *resp = NULL, *v;
	assert_int_equal(call(r, &resp, "{\"type\":\"exec_external\",\"command\":[\"/bin/echo\",\"external\"],\"stdio\":true}"), 0);
	assert_true(json_object_object_get_ex(resp, "process_id", &v));
	uint32_t p = (uint32_t)json_object_get_int64(v);
	json_object_put(resp);
	assert_int_equal(call(r, &resp, "{\"type\":\"wait\",\"process_id\":%u}", p), 0);
	json_object_put(resp);
	wait_for_eofs(r, 2);
	assert_memory_equal(r->out[0], "external\n", 9);
}

/* Whether the agent already recorded that process pid ended (get_properties). */
static bool process_ended(struct rig *r, uint32_t pid)
{
	struct json_object *resp = NULL, *ps, *v;
	bool ended = false;
	assert_int_equal(call(r, &resp, "{\"type\":\"get_properties\"}"), 0);
	assert_true(json_object_object_get_ex(resp, "processes", &ps));
	for (size_t i = 0; i < json_object_array_length(ps); i++) {
		struct json_object *e = json_object_array_get_idx(ps, i);
		if (json_object_object_get_ex(e, "process_id", &v) &&
		    (uint32_t)json_object_get_int64(v) == pid &&
		    json_object_object_get_ex(e, "running", &v))
			ended = !json_object_get_boolean(v);
	}
	json_object_put(resp);
	return ended;
}

/* The exit status follows all of the process's output: a process that has ended while its
 * output is still being written (here by a child it left behind, released only after the
 * wait was asked) gets its status only after every byte and both EOFs. */
static void agent_exit_status_follows_all_output(void **state)
{
	struct rig *r = *state;
	install(r);
	fk.late_go = -2; /* the next spawn leaves the late writer */
	struct json_object *resp = NULL, *v;
	assert_int_equal(call(r, &resp, "{\"type\":\"exec_external\",\"command\":[\"/bin/echo\",\"external\"],\"stdio\":true}"), 0);
	assert_true(json_object_object_get_ex(resp, "process_id", &v));
	uint32_t p = (uint32_t)json_object_get_int64(v);
	json_object_put(resp);
	assert_true(fk.late_go >= 0);
	bool ended = false;
	for (int i = 0; i < 500 && !(ended = process_ended(r, p)); i++)
		usleep(10000);
	assert_true(ended);
	uint32_t wait_id;
	char req[96];
	snprintf(req, sizeof(req), "{\"type\":\"wait\",\"process_id\":%u}", p);
	struct json_object *wreq = json_tokener_parse(req);
	assert_int_equal(agent_client_send(r->cli, wreq, &wait_id, NULL), 0);
	json_object_put(wreq);
	assert_int_equal(write(fk.late_go, "g", 1), 1);
	assert_int_equal(agent_client_wait(r->cli, wait_id, 20000, &resp, NULL), 0);
	/* Nothing pumped after the answer: what arrived before it is all there is. */
	assert_int_equal(r->out_total[0], LATE_BYTES);
	assert_int_equal(r->out_total[1], 5);
	assert_int_equal(r->eofs, 2);
	assert_true(json_object_object_get_ex(resp, "exit_code", &v));
	assert_int_equal(json_object_get_int(v), 0);
	json_object_put(resp);
}

static void agent_malformed_frames_keep_serving(void **state)
{
	struct rig *r = *state;
	int fd = agent_client_fd(r->cli);
	/* Garbage, a refused oversized header, a frame whose body is not JSON. */
	assert_int_equal(write_full(fd, "garbage!garbage!garbage!", 24), 0);
	uint8_t *f;
	size_t fl;
	assert_int_equal(proto_frame_encode(PROTO_REQUEST, 0, 77, "not json", 8, &f, &fl), 0);
	assert_int_equal(write_full(fd, f, fl), 0);
	free(f);
	/* A request with a JSON array body, and one with fields of the wrong type. */
	assert_int_equal(proto_frame_encode(PROTO_REQUEST, 0, 78, "[1,2]", 5, &f, &fl), 0);
	assert_int_equal(write_full(fd, f, fl), 0);
	free(f);
	struct json_object *resp = NULL;
	assert_int_equal(agent_client_wait(r->cli, 77, 5000, &resp, NULL), -EBADMSG);
	json_object_put(resp);
	assert_int_equal(agent_client_wait(r->cli, 78, 5000, &resp, NULL), -EBADMSG);
	json_object_put(resp);
	/* a malformed request is a denial by the parser explain uses too */
	expect_denied(r, "malformed_request", "{\"type\":\"mount_device\",\"device\":7}");
	expect_ok(r, "{\"type\":\"ping\"}");
	/* Many requests in flight, answered by id. */
	uint32_t ids[20];
	for (int i = 0; i < 20; i++) {
		struct json_object *req = json_tokener_parse("{\"type\":\"ping\"}");
		assert_int_equal(agent_client_send(r->cli, req, &ids[i], NULL), 0);
		json_object_put(req);
	}
	for (int i = 19; i >= 0; i--)
		assert_int_equal(agent_client_wait(r->cli, ids[i], 5000, NULL, NULL), 0);
}

static void agent_workload_attestation_socket(void **state)
{
	struct rig *r = *state;
	install(r);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/security-context/attest.sock",
		 r->state_dir);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	uint8_t data[64];
	for (int i = 0; i < 64; i++)
		data[i] = (uint8_t)(i * 3);
	assert_int_equal(write_full(fd, data, 64), 0);
	/* In dev mode the agent asks the host; the client answers while we pump. */
	uint8_t rep[SNP_REPORT_SIZE];
	size_t got = 0;
	while (got < sizeof(rep)) {
		agent_client_pump(r->cli, 20, NULL);
		ssize_t n = recv(fd, rep + got, sizeof(rep) - got, MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n > 0)
			got += (size_t)n;
	}
	close(fd);
	assert_int_equal(got, SNP_REPORT_SIZE);
	struct snp_report parsed;
	assert_int_equal(snp_report_parse(rep, sizeof(rep), &parsed, NULL), 0);
	assert_memory_equal(parsed.report_data, data, 64);
	assert_memory_equal(parsed.host_data, r->dev_host_data, 32);
}

/* The seccomp profile's digest is what the policy names; its content is what crun gets. */
static void agent_seccomp_profile_must_match_digest(void **state)
{
	struct rig *r = *state;
	const char *profile = "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[]}";
	const char *other = "{\"defaultAction\":\"SCMP_ACT_ALLOW\"}";
	uint8_t dg[32];
	char hex[65], b64[128], b64_other[128], policy[2048], req[4096];
	digest_sha256(profile, strlen(profile), dg);
	hex_encode(dg, 32, hex);
	base64_encode((const uint8_t *)profile, strlen(profile), b64);
	base64_encode((const uint8_t *)other, strlen(other), b64_other);
	snprintf(policy, sizeof(policy),
		 "{\"version\":1,\"containers\":[{\"name\":\"app\",\"layers\":[\"" HASH_A "\"],"
		 "\"command\":[\"/bin/true\"],\"working_dir\":\"/\","
		 "\"seccomp_profile_sha256\":\"%s\"}]}", hex);
	install_text(r, policy);
	expect_ok(r, MOUNT_A);
	expect_ok(r, "{\"type\":\"mount_overlay\",\"container_id\":\"c1\",\"layer_targets\":[\"/run/parma/layers/0\"],\"target\":\"/run/parma/containers/c1/rootfs\"}");
	const char *base = "{\"type\":\"create_container\",\"container_id\":\"c1\",\"command\":[\"/bin/true\"]";
	snprintf(req, sizeof(req), "%s}", base);
	expect_denied(r, "seccomp", req);
	snprintf(req, sizeof(req), "%s,\"seccomp_profile\":\"%s\"}", base, b64_other);
	expect_denied(r, "seccomp", req);
	assert_int_equal(fk.create, 0);
	snprintf(req, sizeof(req), "%s,\"seccomp_profile\":\"%s\"}", base, b64);
	expect_ok(r, req);
	char path[200];
	snprintf(path, sizeof(path), "%s/bundles/c1/config.json", r->state_dir);
	struct json_object *cfg = json_object_from_file(path), *linux_, *sc, *v;
	assert_true(json_object_object_get_ex(cfg, "linux", &linux_));
	assert_true(json_object_object_get_ex(linux_, "seccomp", &sc));
	assert_true(json_object_object_get_ex(sc, "defaultAction", &v));
	assert_string_equal(json_object_get_string(v), "SCMP_ACT_ERRNO");
	json_object_put(cfg);
}

/* The client's built-in development signer answers the agent's dev_report requests. */
static void agent_client_dev_signer_answers(void **state)
{
	struct rig *r = *state;
	char ca_dir[128];
	snprintf(ca_dir, sizeof(ca_dir), "%s/dev-ca", r->state_dir);
	struct snp_dev_ca_options opts = { .rsa_bits = 2048, .valid_days = 2 };
	struct snp_dev_ca *ca;
	assert_int_equal(snp_dev_ca_open(ca_dir, true, &opts, &ca, NULL), 0); /* small keys: fast */
	snp_dev_ca_free(ca);
	uint8_t host_data[32];
	assert_int_equal(digest_sha256(policy_text, strlen(policy_text), host_data), 0);
	assert_int_equal(agent_client_use_dev_signer(r->cli, ca_dir, host_data, NULL, NULL), 0);
	install(r);
	assert_int_equal(r->dev_reports, 0); /* the signer, not the callback, answered */
	char path[200];
	uint8_t *data;
	size_t len;
	snprintf(path, sizeof(path), "%s/security-context/certs.json", r->state_dir);
	assert_int_equal(file_read_all(path, 1 << 20, &data, &len, NULL), 0);
	assert_non_null(strstr((char *)data, "\"vcek\":\"-----BEGIN CERTIFICATE"));
	free(data);
	snprintf(path, sizeof(path), "%s/security-context/report.bin", r->state_dir);
	assert_int_equal(file_read_all(path, 4096, &data, &len, NULL), 0);
	struct snp_report rep;
	assert_int_equal(snp_report_parse(data, len, &rep, NULL), 0);
	assert_memory_equal(rep.host_data, host_data, 32);
	free(data);
}

/* load_fragment: the engine decides on the signed document; an accepted fragment is in the
 * security context and its layers are in force; another issuer's is denied and leaves
 * nothing behind. */
static void agent_load_fragment_publishes_in_security_context(void **state)
{
	struct rig *r = *state;
	struct test_pki pki, other;
	pki_make(&pki, "agent", NULL);
	pki_make(&other, "agent-other", NULL);
	char *policy = NULL, *body = NULL, *req = NULL;
	assert_true(asprintf(&policy,
			     "{\"version\":1,\"fragments\":[{\"issuer\":\"%s\",\"feed\":\"side\","
			     "\"minimum_svn\":1,\"includes\":[\"containers\"]}]}",
			     pki.did) > 0);
	install_text(r, policy);
	const char *rules = ",\"containers\":[{\"name\":\"side\",\"layers\":[\"" HASH_X
			    "\"],\"command\":[\"/side\"]}]";
	const struct test_pki *signers[] = {&other, &pki};
	for (int k = 0; k < 2; k++) {
		const struct test_pki *p = signers[k];
		body = pki_payload(p->did, "side", 2, rules);
		size_t len;
		uint8_t *doc = pki_sign(p, p->did, "side", 2, body, &len), h[32];
		char *b64 = malloc(base64_encoded_len(len)), hex[65], path[256];
		base64_encode(doc, len, b64);
		assert_true(asprintf(&req, "{\"type\":\"load_fragment\",\"fragment_base64\":\"%s\"}",
				     b64) > 0);
		digest_sha256(doc, len, h);
		hex_encode(h, sizeof(h), hex);
		snprintf(path, sizeof(path), "%s/security-context/fragments/%s.cose", r->state_dir,
			 hex);
		if (p == &other) {
			expect_denied(r, "fragment", req);
			assert_int_equal(access(path, F_OK), -1);
		} else {
			expect_ok(r, req);
			uint8_t *data;
			size_t n;
			assert_int_equal(file_read_all(path, 1 << 20, &data, &n, NULL), 0);
			assert_int_equal(n, len);
			assert_memory_equal(data, doc, len);
			free(data);
			expect_ok(r, "{\"type\":\"mount_device\",\"device\":\"/dev/vdb\",\"target\":"
				     "\"/run/parma/layers/9\",\"device_hash\":\"" HASH_X
				     "\",\"hash_offset\":4096}");
		}
		free(req), free(b64), free(doc), free(body);
	}
	free(policy);
	pki_free(&pki);
	pki_free(&other);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(agent_closed_until_policy, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(agent_policy_install_checks_host_data_once, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(agent_snp_mode_uses_hardware_report, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(agent_denials_change_nothing, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(agent_failed_effect_rolls_back, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(agent_container_lifecycle, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(agent_shutdown_twice_then_id_retired, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(agent_scratch_mounts_are_the_containers_own, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(agent_exec_signal_and_stdin, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(agent_exec_external_and_unlisted, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(agent_exit_status_follows_all_output, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(agent_malformed_frames_keep_serving, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(agent_workload_attestation_socket, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(agent_seccomp_profile_must_match_digest, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(agent_client_dev_signer_answers, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(agent_load_fragment_publishes_in_security_context,
						rig_setup, rig_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
