/* libparma: the group API's C binding and the host tools behind one header (parma.h). */
#include "vmm/lib/parma.h"

#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/encoding.h"
#include "common/fileio.h"
#include "policy/attest/snp_verify.h"
#include "policy/image/group_spec.h"
#include "policy/image/image_convert.h"
#include "policy/image/policy_gen.h"
#include "policy/lang/policy.h"
#include "vmm/group/group_api.h"
#include "vmm/group/group_api_client.h"

struct parma_group {
	char *sock;
	struct parma_callbacks cbs;
	pthread_mutex_t lock; /* one call at a time per handle */
};

static int set_error(struct parma_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int set_error(struct parma_error *err, int code, const char *fmt, ...)
{
	if (err) {
		memset(err, 0, sizeof(*err));
		err->code = code;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	return code;
}

static int ok(struct parma_error *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
	return PARMA_OK;
}

static int code_of_errno(int e)
{
	switch (e) {
	case EINVAL:
		return PARMA_ERR_INVALID;
	case ENOENT:
		return PARMA_ERR_NOT_FOUND;
	case EACCES:
		return PARMA_ERR_DENIED;
	case ECONNREFUSED:
	case ETIMEDOUT:
	case EPIPE:
		return PARMA_ERR_UNAVAILABLE;
	default:
		return PARMA_ERR_INTERNAL;
	}
}

/* An API error answer into err: its message, and a denial's rule, field and reproduce. */
static int api_error(struct parma_error *err, unsigned status, struct json_object *answer)
{
	static const struct {
		unsigned status;
		int code;
	} map[] = {{400, PARMA_ERR_INVALID},	 {403, PARMA_ERR_DENIED},
		   {404, PARMA_ERR_NOT_FOUND},	 {409, PARMA_ERR_STATE},
		   {413, PARMA_ERR_INVALID},	 {502, PARMA_ERR_UNAVAILABLE},
		   {503, PARMA_ERR_UNAVAILABLE}, {504, PARMA_ERR_UNAVAILABLE}};
	int code = PARMA_ERR_INTERNAL;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].status == status)
			code = map[i].code;
	set_error(err, code, "%s (HTTP %u)", group_api_error_message(answer), status);
	struct json_object *e, *reason, *v;
	if (err && json_object_object_get_ex(answer, "error", &e)) {
		if (json_object_object_get_ex(e, "reason", &reason)) {
			if (json_object_object_get_ex(reason, "rule", &v))
				snprintf(err->rule, sizeof(err->rule), "%s",
					 json_object_get_string(v));
			if (json_object_object_get_ex(reason, "field", &v))
				snprintf(err->field, sizeof(err->field), "%s",
					 json_object_get_string(v));
		}
		if (json_object_object_get_ex(e, "reproduce", &v))
			snprintf(err->reproduce, sizeof(err->reproduce), "%s",
				 json_object_get_string(v));
	}
	return code;
}

/* One request, its JSON answer: PARMA_OK when the status is `want`. */
static int call(struct parma_group *g, const char *method, const char *path,
		struct json_object *body, unsigned want, struct json_object **answer,
		struct parma_error *err)
{
	struct errbuf eb = {0};
	unsigned status = 0;
	struct json_object *a = NULL;
	int ret = group_api_call(g->sock, method, path, body, &status, &a, &eb);
	if (ret < 0)
		return set_error(err,
				 code_of_errno(-ret) == PARMA_ERR_NOT_FOUND ? PARMA_ERR_UNAVAILABLE
									    : code_of_errno(-ret),
				 "%s", errbuf_msg(&eb));
	if (status != want) {
		ret = api_error(err, status, a);
		json_object_put(a);
		return ret;
	}
	if (answer)
		*answer = a;
	else
		json_object_put(a);
	return ok(err);
}

const char *parma_version(void)
{
	return PARMA_VERSION;
}

int parma_group_open(const char *api_sock, const struct parma_callbacks *callbacks,
		     struct parma_group **out, struct parma_error *err)
{
	if (!api_sock || !out)
		return set_error(err, PARMA_ERR_INVALID, "api_sock and out are required");
	*out = NULL;
	struct parma_group *g = calloc(1, sizeof(*g));
	if (!g || !(g->sock = strdup(api_sock))) {
		free(g);
		return set_error(err, PARMA_ERR_INTERNAL, "out of memory");
	}
	if (callbacks)
		g->cbs = *callbacks;
	pthread_mutex_init(&g->lock, NULL);
	int ret = call(g, "GET", "/" GROUP_API_VERSION "/group", NULL, 200, NULL, err);
	if (ret != PARMA_OK) {
		parma_group_close(g);
		return ret;
	}
	*out = g;
	return PARMA_OK;
}

void parma_group_close(struct parma_group *g)
{
	if (!g)
		return;
	pthread_mutex_destroy(&g->lock);
	free(g->sock);
	free(g);
}

int parma_group_state(struct parma_group *g, char **json, struct parma_error *err)
{
	if (!g || !json)
		return set_error(err, PARMA_ERR_INVALID, "group and json are required");
	struct json_object *a = NULL;
	pthread_mutex_lock(&g->lock);
	int ret = call(g, "GET", "/" GROUP_API_VERSION "/group", NULL, 200, &a, err);
	pthread_mutex_unlock(&g->lock);
	if (ret == PARMA_OK) {
		*json = strdup(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN));
		if (!*json)
			ret = set_error(err, PARMA_ERR_INTERNAL, "out of memory");
	}
	json_object_put(a);
	return ret;
}

int parma_group_start(struct parma_group *g, const char *name, const char *const *env,
		      struct parma_error *err)
{
	if (!g || !name)
		return set_error(err, PARMA_ERR_INVALID, "group and name are required");
	struct json_object *body = json_object_new_object(), *values = json_object_new_object();
	json_object_object_add(body, "name", json_object_new_string(name));
	for (size_t i = 0; env && env[i]; i++) {
		const char *eq = strchr(env[i], '=');
		if (!eq) {
			json_object_put(values);
			json_object_put(body);
			return set_error(err, PARMA_ERR_INVALID, "env[%zu]: expected NAME=VALUE",
					 i);
		}
		char var[256];
		snprintf(var, sizeof(var), "%.*s", (int)(eq - env[i]), env[i]);
		json_object_object_add(values, var, json_object_new_string(eq + 1));
	}
	json_object_object_add(body, "env", values);
	pthread_mutex_lock(&g->lock);
	int ret = call(g, "POST", "/" GROUP_API_VERSION "/containers", body, 201, NULL, err);
	pthread_mutex_unlock(&g->lock);
	json_object_put(body);
	return ret;
}

static int send_frame(int fd, uint8_t type, const void *data, size_t len)
{
	uint8_t h[8] = {type,
			0,
			0,
			0,
			(uint8_t)(len >> 24),
			(uint8_t)(len >> 16),
			(uint8_t)(len >> 8),
			(uint8_t)len};
	if (write_full(fd, h, 8) < 0 || (len && write_full(fd, data, len) < 0))
		return -EPIPE;
	return 0;
}

static int exec_locked(struct parma_group *g, const char *name, const char *const *argv,
		       const uint8_t *in, size_t in_len, int *exit_code, struct parma_error *err)
{
	struct json_object *body = json_object_new_object(), *cmd = json_object_new_array();
	for (size_t i = 0; argv[i]; i++)
		json_object_array_add(cmd, json_object_new_string(argv[i]));
	json_object_object_add(body, "command", cmd);
	json_object_object_add(body, "stdin", json_object_new_boolean(in != NULL));
	char path[256];
	snprintf(path, sizeof(path), "/%s/containers/%.64s/exec", GROUP_API_VERSION, name);
	struct group_api_reply r;
	struct errbuf eb = {0};
	int ret = group_api_request(g->sock, "POST", path,
				    json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN),
				    "Connection: Upgrade\r\nUpgrade: parma-stdio\r\n", &r, &eb);
	json_object_put(body);
	if (ret < 0)
		return set_error(err, PARMA_ERR_UNAVAILABLE, "%s", errbuf_msg(&eb));
	if (r.status != 101) {
		struct json_object *a = NULL;
		group_api_reply_json(&r, &a, NULL);
		group_api_reply_close(&r);
		ret = api_error(err, r.status, a);
		json_object_put(a);
		return ret;
	}
	uint8_t *buf = malloc(8 + GROUP_API_FRAME_MAX);
	if (!buf) {
		group_api_reply_close(&r);
		return set_error(err, PARMA_ERR_INTERNAL, "out of memory");
	}
	size_t len = group_api_take_upgraded(&r, buf, 8 + GROUP_API_FRAME_MAX);
	/* stdin first, in frames, then its end: the process reads it as a pipe */
	for (size_t off = 0; in && off < in_len && ret == 0;) {
		size_t n = in_len - off > GROUP_API_FRAME_MAX ? GROUP_API_FRAME_MAX : in_len - off;
		ret = send_frame(r.fd, GROUP_API_FRAME_STDIN, in + off, n);
		off += n;
	}
	if (in && ret == 0)
		ret = send_frame(r.fd, GROUP_API_FRAME_STDIN, NULL, 0);
	ret = set_error(err, PARMA_ERR_UNAVAILABLE, "the exec stream ended without an exit code");
	for (;;) {
		while (len >= 8) {
			uint32_t n = (uint32_t)buf[4] << 24 | (uint32_t)buf[5] << 16 |
				     (uint32_t)buf[6] << 8 | buf[7];
			if (n > GROUP_API_FRAME_MAX) {
				ret = set_error(err, PARMA_ERR_INTERNAL, "exec: a %u-byte frame",
						n);
				goto out;
			}
			if (len < 8 + n)
				break;
			if ((buf[0] == GROUP_API_FRAME_STDOUT ||
			     buf[0] == GROUP_API_FRAME_STDERR) &&
			    g->cbs.output)
				g->cbs.output(g->cbs.opaque, buf[0], buf + 8, n);
			if (buf[0] == GROUP_API_FRAME_EXIT) {
				struct json_tokener *tok = json_tokener_new();
				struct json_object *o = tok ? json_tokener_parse_ex(
								      tok, (char *)buf + 8, (int)n)
							    : NULL,
						   *v;
				if (tok)
					json_tokener_free(tok);
				if (json_object_object_get_ex(o, "exit_code", &v)) {
					if (exit_code)
						*exit_code = json_object_get_int(v);
					ret = ok(err);
				} else {
					ret = set_error(err, PARMA_ERR_UNAVAILABLE, "exec: %s",
							json_object_object_get_ex(o, "error", &v)
								? json_object_get_string(v)
								: "no exit code");
				}
				json_object_put(o);
				goto out;
			}
			memmove(buf, buf + 8 + n, len - 8 - n);
			len -= 8 + n;
		}
		ssize_t got = recv(r.fd, buf + len, 8 + GROUP_API_FRAME_MAX - len, 0);
		if (got <= 0)
			goto out;
		len += (size_t)got;
	}
out:
	free(buf);
	group_api_reply_close(&r);
	return ret;
}

int parma_group_exec(struct parma_group *g, const char *name, const char *const *argv,
		     const void *stdin_data, size_t stdin_len, int *exit_code,
		     struct parma_error *err)
{
	if (!g || !name || !argv || !argv[0])
		return set_error(err, PARMA_ERR_INVALID, "group, name and argv are required");
	pthread_mutex_lock(&g->lock);
	int ret = exec_locked(g, name, argv, stdin_data, stdin_len, exit_code, err);
	pthread_mutex_unlock(&g->lock);
	return ret;
}

int parma_group_attest(struct parma_group *g, const uint8_t *report_data, size_t report_data_len,
		       uint8_t report[PARMA_REPORT_SIZE], char **certs_json,
		       struct parma_error *err)
{
	if (!g || !report || report_data_len > PARMA_REPORT_DATA_SIZE)
		return set_error(err, PARMA_ERR_INVALID,
				 "group and report are required; "
				 "report_data is at most 64 bytes");
	char hex[2 * PARMA_REPORT_DATA_SIZE + 1] = "";
	if (report_data)
		hex_encode(report_data, report_data_len, hex);
	struct json_object *body = json_object_new_object(), *a = NULL, *v;
	json_object_object_add(body, "report_data", json_object_new_string(hex));
	pthread_mutex_lock(&g->lock);
	int ret = call(g, "POST", "/" GROUP_API_VERSION "/attest", body, 200, &a, err);
	pthread_mutex_unlock(&g->lock);
	json_object_put(body);
	if (ret == PARMA_OK) {
		long n = json_object_object_get_ex(a, "report", &v)
				 ? base64_decode(json_object_get_string(v), report,
						 PARMA_REPORT_SIZE)
				 : -1;
		if (n != PARMA_REPORT_SIZE)
			ret = set_error(err, PARMA_ERR_INTERNAL,
					"the answer holds no %d-byte report", PARMA_REPORT_SIZE);
		else if (certs_json)
			*certs_json = strdup(json_object_object_get_ex(a, "certs", &v)
						     ? json_object_to_json_string(v)
						     : "{}");
	}
	json_object_put(a);
	return ret;
}

int parma_group_events(struct parma_group *g, int follow, struct parma_error *err)
{
	if (!g)
		return set_error(err, PARMA_ERR_INVALID, "group is required");
	struct group_api_reply r;
	struct errbuf eb = {0};
	/* its own connection, and it may last: other calls on the handle go on meanwhile */
	int ret = group_api_request(g->sock, "GET",
				    follow ? "/" GROUP_API_VERSION "/events"
					   : "/" GROUP_API_VERSION "/events?follow=0",
				    NULL, NULL, &r, &eb);
	if (ret < 0)
		return set_error(err, PARMA_ERR_UNAVAILABLE, "%s", errbuf_msg(&eb));
	char line[65536];
	size_t len = 0;
	ssize_t n;
	ret = ok(err);
	while ((n = group_api_read(&r, line + len, sizeof(line) - 1 - len)) > 0) {
		len += (size_t)n;
		char *nl;
		while ((nl = memchr(line, '\n', len))) {
			*nl = 0;
			if (g->cbs.event)
				g->cbs.event(g->cbs.opaque, line);
			len -= (size_t)(nl + 1 - line);
			memmove(line, nl + 1, len);
		}
		if (len == sizeof(line) - 1)
			len = 0; /* a line longer than any event: dropped */
	}
	if (n < 0)
		ret = set_error(err, PARMA_ERR_UNAVAILABLE, "events: %s", strerror((int)-n));
	group_api_reply_close(&r);
	return ret;
}

int parma_group_stop(struct parma_group *g, struct parma_error *err)
{
	if (!g)
		return set_error(err, PARMA_ERR_INVALID, "group is required");
	pthread_mutex_lock(&g->lock);
	int ret = call(g, "POST", "/" GROUP_API_VERSION "/stop", NULL, 202, NULL, err);
	pthread_mutex_unlock(&g->lock);
	return ret;
}

int parma_policy_gen(const char *spec_path, const char *cache_dir, char **policy, size_t *len,
		     char sha256_hex[65], struct parma_error *err)
{
	if (!spec_path || !policy || !len)
		return set_error(err, PARMA_ERR_INVALID, "spec_path, policy and len are required");
	struct errbuf eb = {0};
	char cache[4096];
	struct group_spec *spec = NULL;
	int ret;
	if (cache_dir) {
		snprintf(cache, sizeof(cache), "%s", cache_dir);
		if ((ret = mkdir_p(cache, 0700)) < 0)
			return set_error(err, PARMA_ERR_INVALID, "%s: %s", cache, strerror(-ret));
	} else if ((ret = image_cache_dir(cache, sizeof(cache), &eb)) < 0) {
		return set_error(err, code_of_errno(-ret), "%s", errbuf_msg(&eb));
	}
	if ((ret = group_spec_load(spec_path, &spec, &eb)) < 0)
		return set_error(err, ret == -ENOENT ? PARMA_ERR_NOT_FOUND : PARMA_ERR_INVALID,
				 "%s", errbuf_msg(&eb));
	struct policy_gen_opts opts = {.cache_dir = cache};
	bool debug_used = false;
	ret = policy_gen(spec, &opts, policy, len, &debug_used, &eb);
	group_spec_free(spec);
	if (ret < 0)
		return set_error(err, ret == -ENOMEM ? PARMA_ERR_INTERNAL : PARMA_ERR_INVALID, "%s",
				 errbuf_msg(&eb));
	if (sha256_hex) {
		struct policy_digest d;
		policy_digest((const uint8_t *)*policy, *len, &d);
		memcpy(sha256_hex, d.hex, 65);
	}
	return ok(err);
}

int parma_image_convert(const char *image_ref, const char *cache_dir, char **root_hashes_json,
			struct parma_error *err)
{
	if (!image_ref || !root_hashes_json)
		return set_error(err, PARMA_ERR_INVALID,
				 "image_ref and root_hashes_json are required");
	struct errbuf eb = {0};
	char cache[4096];
	int ret;
	if (cache_dir) {
		snprintf(cache, sizeof(cache), "%s", cache_dir);
		if ((ret = mkdir_p(cache, 0700)) < 0)
			return set_error(err, PARMA_ERR_INVALID, "%s: %s", cache, strerror(-ret));
	} else if ((ret = image_cache_dir(cache, sizeof(cache), &eb)) < 0) {
		return set_error(err, code_of_errno(-ret), "%s", errbuf_msg(&eb));
	}
	char work[4200];
	snprintf(work, sizeof(work), "%s/.work", cache);
	struct oci_image *img = NULL;
	if ((ret = oci_image_open(image_ref, work, &img, &eb)) < 0)
		return set_error(err, ret == -ENOENT ? PARMA_ERR_NOT_FOUND : PARMA_ERR_INVALID,
				 "%s", errbuf_msg(&eb));
	struct layer_image_info *infos = calloc(img->n_layers ? img->n_layers : 1, sizeof(*infos));
	bool *cached = calloc(img->n_layers ? img->n_layers : 1, sizeof(*cached));
	if (!infos || !cached)
		ret = -ENOMEM;
	else
		ret = image_convert_layers(img, cache, NULL, infos, cached, &eb);
	if (ret == 0) {
		struct json_object *a = json_object_new_array();
		for (size_t i = 0; i < img->n_layers; i++) {
			char hex[65];
			hex_encode(infos[i].root_hash, 32, hex);
			json_object_array_add(a, json_object_new_string(hex));
		}
		*root_hashes_json =
			strdup(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN));
		json_object_put(a);
	}
	free(infos);
	free(cached);
	oci_image_free(img);
	if (ret < 0)
		return set_error(err, ret == -ENOMEM ? PARMA_ERR_INTERNAL : PARMA_ERR_INVALID, "%s",
				 ret == -ENOMEM ? "out of memory" : errbuf_msg(&eb));
	return ok(err);
}

int parma_verify(const uint8_t *report, size_t len, const char *certs_dir, const char *policy_path,
		 const uint8_t *report_data, size_t report_data_len, int allow_dev,
		 struct parma_error *err)
{
	if (!report || !certs_dir || report_data_len > PARMA_REPORT_DATA_SIZE)
		return set_error(err, PARMA_ERR_INVALID,
				 "report and certs_dir are required; "
				 "report_data is at most 64 bytes");
	struct errbuf eb = {0};
	struct snp_claims claims = {.allow_dev = allow_dev != 0};
	if (policy_path) {
		uint8_t *bytes;
		size_t n;
		if (file_read_all(policy_path, POLICY_MAX_BYTES, &bytes, &n, &eb) < 0)
			return set_error(err, PARMA_ERR_NOT_FOUND, "%s", errbuf_msg(&eb));
		struct policy_digest d;
		policy_digest(bytes, n, &d);
		free(bytes);
		claims.check_host_data = true;
		claims.host_data_source = policy_path;
		memcpy(claims.host_data, d.sha256, 32);
	}
	if (report_data) {
		claims.check_report_data = true;
		memcpy(claims.report_data, report_data, report_data_len);
	}
	struct snp_certs *certs = snp_certs_new();
	struct snp_verdict *v = calloc(1, sizeof(*v));
	int ret;
	if (!certs || !v) {
		ret = set_error(err, PARMA_ERR_INTERNAL, "out of memory");
	} else if (snp_certs_add_dir(certs, certs_dir, &eb) < 0) {
		ret = set_error(err, PARMA_ERR_NOT_FOUND, "%s", errbuf_msg(&eb));
	} else {
		int rc = snp_verify_report(certs, report, len, &claims, v, &eb);
		if (rc == 0)
			ret = ok(err);
		else if (rc == -ENOMEM)
			ret = set_error(err, PARMA_ERR_INTERNAL, "out of memory");
		else
			ret = set_error(err, PARMA_ERR_NOT_VERIFIED, "%s: %s",
					v->first_failure ? v->first_failure->name : "report_format",
					v->first_failure ? v->first_failure->detail
							 : errbuf_msg(&eb));
	}
	snp_certs_free(certs);
	free(v);
	return ret;
}

void parma_free(void *p)
{
	free(p);
}
