/* attest_flow: attestation jobs, the policy install that depends on one, and the workload
 * attestation socket in the security-context directory (see attest_flow.h). */
#include "guest/agent/attest_flow.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/digest.h"
#include "common/encoding.h"
#include "common/fileio.h"
#include "guest/agent/server_internal.h"
#include "policy/attest/snp_report.h"

#define CERTS_JSON_MAX (64u << 10)

void attest_init(struct agent_attest *a)
{
	*a = (struct agent_attest){.tee = AGENT_TEE_UNKNOWN, .next_host_req = 1, .listen_fd = -1};
}

const char *attest_tee_name(const struct agent_attest *a)
{
	return a->tee == AGENT_TEE_SNP ? "snp" : a->tee == AGENT_TEE_NONE ? "none" : "unknown";
}

const uint8_t *attest_install_host_data(const struct agent_attest *a)
{
	return a->install_report + 0xC0;
}

bool attest_install_pending(const struct agent_attest *a)
{
	for (const struct agent_job *j = a->jobs; j; j = j->next)
		if (j->kind == JOB_INSTALL)
			return true;
	return false;
}

void security_context_dir(const struct agent_server *s, char *out, size_t size)
{
	snprintf(out, size, "%s/security-context", s->state_dir);
}

static void job_unlink(struct agent_attest *a, struct agent_job *j)
{
	for (struct agent_job **pp = &a->jobs; *pp; pp = &(*pp)->next) {
		if (*pp == j) {
			*pp = j->next;
			a->n_jobs--;
			return;
		}
	}
}

static void job_free(struct agent_job *j)
{
	if (!j)
		return;
	if (j->conn_fd >= 0)
		close(j->conn_fd);
	free(j->policy);
	free(j);
}

static void job_fail(struct agent_server *s, struct agent_job *j, const char *code,
		     const char *msg)
{
	if (j->kind == JOB_WORKLOAD) {
		char line[320];
		int n = snprintf(line, sizeof(line), "error: %s\n", msg);
		(void)write_full(j->conn_fd, line, (size_t)n);
	} else {
		server_answer(s, j->host_req, server_error(code, "%s", msg));
	}
	job_free(j);
}

/* Write the read-only security-context directory every container sees. */
static int write_security_context(struct agent_server *s, const uint8_t *policy, size_t len,
				  struct errbuf *eb)
{
	char dir[300], path[400];
	security_context_dir(s, dir, sizeof(dir));
	int ret = mkdir_p(dir, 0755);
	if (ret < 0)
		return errbuf_set(eb, -ret, "%s: %s", dir, strerror(-ret));
	snprintf(path, sizeof(path), "%s/policy.json", dir);
	if ((ret = file_write_atomic(path, policy, len, 0444, eb)) < 0)
		return ret;
	snprintf(path, sizeof(path), "%s/report.bin", dir);
	if ((ret = file_write_atomic(path, s->attest.install_report, AGENT_REPORT_SIZE, 0444, eb)) < 0)
		return ret;
	snprintf(path, sizeof(path), "%s/tee", dir);
	char tee[16];
	int n = snprintf(tee, sizeof(tee), "%s\n", attest_tee_name(&s->attest));
	if ((ret = file_write_atomic(path, tee, (size_t)n, 0444, eb)) < 0)
		return ret;
	if (s->attest.certs_json) {
		snprintf(path, sizeof(path), "%s/certs.json", dir);
		if ((ret = file_write_atomic(path, s->attest.certs_json, strlen(s->attest.certs_json), 0444,
					     eb)) < 0)
			return ret;
	}
	return 0;
}

int security_context_add_fragment(struct agent_server *s, const uint8_t *doc, size_t len,
					 struct errbuf *eb)
{
	char dir[300], path[420], hex[2 * 32 + 1];
	uint8_t h[32];
	security_context_dir(s, dir, sizeof(dir));
	strncat(dir, "/fragments", sizeof(dir) - strlen(dir) - 1);
	int ret = mkdir_p(dir, 0755);
	if (ret < 0)
		return errbuf_set(eb, -ret, "%s: %s", dir, strerror(-ret));
	if ((ret = digest_sha256(doc, len, h)) < 0)
		return errbuf_set(eb, EIO, "SHA-256 failed");
	hex_encode(h, sizeof(h), hex);
	snprintf(path, sizeof(path), "%s/%s.cose", dir, hex);
	return file_write_atomic(path, doc, len, 0444, eb);
}

static int attest_listen_open(struct agent_server *s, struct errbuf *eb)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[300];
	security_context_dir(s, dir, sizeof(dir));
	int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/attest.sock", dir);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return errbuf_set(eb, ENAMETOOLONG, "%s/attest.sock: path too long", dir);
	unlink(sa.sun_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errbuf_set(eb, errno, "attestation socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(sa.sun_path, 0666) < 0 ||
	    listen(fd, 8) < 0) {
		int e = errno;
		close(fd);
		return errbuf_set(eb, e, "%s: %s", sa.sun_path, strerror(e));
	}
	s->attest.listen_fd = fd;
	return 0;
}

static void finish_install(struct agent_server *s, struct agent_job *j, const uint8_t *report,
			   const struct snp_report *r)
{
	struct policy_req_install_policy req = { j->policy, j->policy_len, r->host_data };
	struct policy_decision d;
	struct errbuf eb = { 0 };

	int ret = policy_engine_install(s->engine, &req, &d);
	if (ret != 0 || !d.allowed) {
		server_answer(s, j->host_req, server_decision_denial(&d));
		job_free(j);
		return;
	}
	memcpy(s->attest.install_report, report, AGENT_REPORT_SIZE);
	/* The policy is in force from here on; failing to publish the security context only
	 * costs workloads their evidence, so it is reported, not undone. */
	struct json_object *o = server_ok();
	const struct policy_digest *dg = policy_get_digest(policy_engine_policy(s->engine));
	json_object_object_add(o, "digest", json_object_new_string(dg->hex));
	json_object_object_add(o, "tee", json_object_new_string(attest_tee_name(&s->attest)));
	json_object_object_add(o, "debug_policy",
			       json_object_new_boolean(policy_is_debug(policy_engine_policy(s->engine))));
	if (write_security_context(s, j->policy, j->policy_len, &eb) < 0 ||
	    attest_listen_open(s, &eb) < 0)
		json_object_object_add(o, "warning", json_object_new_string(errbuf_msg(&eb)));
	server_log(s, "policy %s installed (tee: %s)", dg->hex, attest_tee_name(&s->attest));
	server_answer(s, j->host_req, o);
	job_free(j);
}

/* A report arrived for job j (which is no longer listed). certs: JSON text or NULL. */
static void job_complete(struct agent_server *s, struct agent_job *j, const uint8_t *report,
			 const char *certs)
{
	struct snp_report r;
	struct errbuf eb = { 0 };

	if (snp_report_parse(report, AGENT_REPORT_SIZE, &r, &eb) < 0) {
		char msg[600];
		snprintf(msg, sizeof(msg), "attestation report rejected: %s", errbuf_msg(&eb));
		job_fail(s, j, PROTO_ERR_FAILED, msg);
		return;
	}
	if (memcmp(r.report_data, j->report_data, AGENT_REPORT_DATA_SIZE)) {
		job_fail(s, j, PROTO_ERR_FAILED,
			 "attestation report does not carry the REPORT_DATA the agent asked for");
		return;
	}
	if (certs && !s->attest.certs_json)
		s->attest.certs_json = strdup(certs);
	switch (j->kind) {
	case JOB_INSTALL:
		finish_install(s, j, report, &r);
		return;
	case JOB_HOST_REPORT: {
		char b64[((AGENT_REPORT_SIZE + 2) / 3) * 4 + 1];
		base64_encode(report, AGENT_REPORT_SIZE, b64);
		struct json_object *o = server_ok();
		json_object_object_add(o, "report", json_object_new_string(b64));
		json_object_object_add(o, "tee", json_object_new_string(attest_tee_name(&s->attest)));
		if (s->attest.certs_json)
			json_object_object_add(o, "certs", json_tokener_parse(s->attest.certs_json));
		server_answer(s, j->host_req, o);
		job_free(j);
		return;
	}
	default:
		(void)write_full(j->conn_fd, report, AGENT_REPORT_SIZE);
		job_free(j);
		return;
	}
}

static int report_start(struct agent_server *s, enum agent_job_kind kind, uint32_t host_req,
			const uint8_t report_data[AGENT_REPORT_DATA_SIZE], uint8_t *policy,
			size_t policy_len, int conn_fd)
{
	if (s->attest.n_jobs >= AGENT_MAX_JOBS)
		return -EBUSY;
	struct agent_job *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->kind = kind;
	j->host_req = host_req;
	j->conn_fd = conn_fd;
	j->policy = policy;
	j->policy_len = policy_len;
	memcpy(j->report_data, report_data, AGENT_REPORT_DATA_SIZE);

	if (s->attest.tee != AGENT_TEE_NONE) {
		uint8_t report[AGENT_REPORT_SIZE];
		struct errbuf eb = { 0 };
		int ret = s->fx.ops->tee_report(s->fx.ctx, report_data, report, &eb);
		if (ret == 0) {
			s->attest.tee = AGENT_TEE_SNP;
			job_complete(s, j, report, NULL);
			return 0;
		}
		if (ret != -ENODEV) {
			char msg[600];
			snprintf(msg, sizeof(msg), "attestation report: %s", errbuf_msg(&eb));
			job_fail(s, j, PROTO_ERR_FAILED, msg);
			return 0;
		}
		/* No TEE in this guest: development mode, recorded for every report answer. */
		s->attest.tee = AGENT_TEE_NONE;
		server_log(s, "no TEE found: development mode (reports signed by the host)");
	}
	char hex[2 * AGENT_REPORT_DATA_SIZE + 1];
	hex_encode(report_data, AGENT_REPORT_DATA_SIZE, hex);
	struct json_object *req = json_object_new_object();
	if (!req) {
		j->policy = NULL;
		j->conn_fd = -1;
		job_free(j);
		return -ENOMEM;
	}
	json_object_object_add(req, "type", json_object_new_string(PROTO_REQ_DEV_REPORT));
	json_object_object_add(req, "report_data", json_object_new_string(hex));
	j->dev_req = s->attest.next_host_req++;
	if (s->attest.next_host_req == 0)
		s->attest.next_host_req = 1;
	server_send_json(s, PROTO_REQUEST, j->dev_req, req);
	json_object_put(req);
	j->next = s->attest.jobs;
	s->attest.jobs = j;
	s->attest.n_jobs++;
	return 0;
}

void attest_host_answer(struct agent_server *s, uint32_t id, struct json_object *answer)
{
	struct agent_job *j;
	for (j = s->attest.jobs; j; j = j->next)
		if (j->dev_req == id)
			break;
	if (!j)
		return; /* an answer to nothing we asked: ignore */
	job_unlink(&s->attest, j);

	struct json_object *ok, *rep, *certs = NULL;
	uint8_t report[AGENT_REPORT_SIZE + 3];
	if (!json_object_object_get_ex(answer, "ok", &ok) || !json_object_get_boolean(ok)) {
		struct json_object *e, *m;
		const char *why = "no reason given";
		if (json_object_object_get_ex(answer, "error", &e) &&
		    json_object_object_get_ex(e, "message", &m))
			why = json_object_get_string(m);
		char msg[400];
		snprintf(msg, sizeof(msg), "the host did not provide a development report: %.300s",
			 why);
		job_fail(s, j, PROTO_ERR_FAILED, msg);
		return;
	}
	if (!json_object_object_get_ex(answer, "report", &rep) ||
	    !json_object_is_type(rep, json_type_string) ||
	    base64_decode(json_object_get_string(rep), report, sizeof(report)) !=
		    AGENT_REPORT_SIZE) {
		job_fail(s, j, PROTO_ERR_FAILED,
			 "the host's dev_report answer has no base64 1184-byte report");
		return;
	}
	const char *certs_text = NULL;
	if (json_object_object_get_ex(answer, "certs", &certs) &&
	    json_object_is_type(certs, json_type_object)) {
		certs_text = json_object_to_json_string_ext(certs, JSON_C_TO_STRING_PLAIN);
		if (certs_text && strlen(certs_text) > CERTS_JSON_MAX)
			certs_text = NULL;
	}
	job_complete(s, j, report, certs_text);
}

size_t attest_pollfds(const struct agent_attest *a, struct pollfd *pfd, size_t max)
{
	size_t n = 0;
	if (a->listen_fd >= 0 && n < max)
		pfd[n++] = (struct pollfd){ .fd = a->listen_fd, .events = POLLIN };
	for (size_t i = 0; i < a->n_conns && n < max; i++)
		pfd[n++] = (struct pollfd){ .fd = a->conns[i].fd, .events = POLLIN };
	return n;
}

static void conn_drop(struct agent_attest *a, size_t i, bool close_fd)
{
	if (close_fd)
		close(a->conns[i].fd);
	a->conns[i] = a->conns[--a->n_conns];
}

void attest_handle(struct agent_server *s, struct pollfd *pfd, size_t n)
{
	struct agent_attest *a = &s->attest;
	size_t k = 0;
	int accept_ready = 0;
	if (a->listen_fd >= 0 && k < n)
		accept_ready = pfd[k++].revents != 0;
	/* Connections: walk backwards so dropping one does not skip another. */
	size_t n_conns_polled = n - k;
	for (size_t i = n_conns_polled; i-- > 0;) {
		if (!pfd[k + i].revents || i >= a->n_conns)
			continue;
		struct attest_conn *c = &a->conns[i];
		ssize_t r = read(c->fd, c->buf + c->got, sizeof(c->buf) - c->got);
		if (r < 0 && errno == EAGAIN)
			continue;
		if (r <= 0) {
			conn_drop(a, i, true);
			continue;
		}
		c->got += (size_t)r;
		if (c->got < sizeof(c->buf))
			continue;
		int fd = c->fd;
		uint8_t data[AGENT_REPORT_DATA_SIZE];
		memcpy(data, c->buf, sizeof(data));
		conn_drop(a, i, false);
		/* Answer with a blocking write (1184 bytes to a local socket), bounded in time. */
		int fl = fcntl(fd, F_GETFL);
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
		struct timeval tv = { 2, 0 };
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (report_start(s, JOB_WORKLOAD, 0, data, NULL, 0, fd) < 0) {
			static const char busy[] = "error: too many report requests in flight\n";
			(void)write_full(fd, busy, sizeof(busy) - 1);
			close(fd);
		}
	}
	if (accept_ready) {
		int fd = accept4(a->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			if (a->n_conns >= AGENT_MAX_ATTEST_CONNS) {
				close(fd);
			} else {
				a->conns[a->n_conns].fd = fd;
				a->conns[a->n_conns].got = 0;
				a->n_conns++;
			}
		}
	}
}

void attest_host_gone(struct agent_server *s)
{
	/* Reports the old connection was to sign will never come: fail those jobs, so a new
	 * connection can install the policy (or a workload gets its error now). */
	while (s->attest.jobs) {
		struct agent_job *j = s->attest.jobs;
		job_unlink(&s->attest, j);
		job_fail(s, j, PROTO_ERR_FAILED, "the host disconnected before answering dev_report");
	}
}

void attest_free(struct agent_attest *a)
{
	while (a->jobs) {
		struct agent_job *j = a->jobs;
		a->jobs = j->next;
		job_free(j);
	}
	for (size_t i = 0; i < a->n_conns; i++)
		close(a->conns[i].fd);
	a->n_conns = 0;
	if (a->listen_fd >= 0)
		close(a->listen_fd);
	a->listen_fd = -1;
	free(a->certs_json);
	a->certs_json = NULL;
}

int attest_install_begin(struct agent_server *s, uint32_t host_req, uint8_t *policy,
			 size_t len)
{
	uint8_t report_data[AGENT_REPORT_DATA_SIZE];
	/* REPORT_DATA = SHA-256(policy) || 32 fresh random bytes: binds the report to this
	 * install and makes a replayed report useless. */
	if (digest_sha256(policy, len, report_data) < 0 ||
	    getrandom(report_data + 32, 32, 0) != 32)
		return -EIO;
	return report_start(s, JOB_INSTALL, host_req, report_data, policy, len, -1);
}

int attest_host_report(struct agent_server *s, uint32_t host_req,
		       const uint8_t report_data[AGENT_REPORT_DATA_SIZE])
{
	return report_start(s, JOB_HOST_REPORT, host_req, report_data, NULL, 0, -1);
}
