/* policy_request: the one JSON form of requests and decisions, shared by the
 * agent's wire protocol and `parma policy explain` (docs/policy.md,
 * "Requests"). Parsing is as strict as the policy parser: unknown fields,
 * wrong types and oversized values are errors naming the field. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/encoding.h"
#include "policy/lang/policy.h"
#include "policy/lang/policy_internal.h"
#include "policy/lang/policy_json.h"

struct req_storage {
	struct arena arena;
	struct json_object *obj;
};

struct rparser {
	struct jctx c;
	struct arena *a;
};

static int room(struct rparser *rp)
{
	return policy_jerr(&rp->c, ENOMEM, "out of memory");
}

static int r_strv(struct rparser *rp, struct json_object *obj, const char *key, bool required,
		  size_t max_n, struct policy_strv *out)
{
	struct json_object *arr;
	size_t n;
	out->v = NULL;
	out->n = 0;
	int ret = policy_jfield_array(&rp->c, obj, key, required, max_n, &arr, &n);
	if (ret || !arr)
		return ret;
	const char **v = policy_arena_alloc(rp->a, (n + 1) * sizeof(*v));
	if (!v)
		return room(rp);
	size_t old = policy_jctx_key(&rp->c, key);
	for (size_t i = 0; i < n && !ret; i++) {
		size_t o2 = policy_jctx_index(&rp->c, i);
		ret = policy_jstring(&rp->c, json_object_array_get_idx(arr, i), POLICY_MAX_STRING,
				     &v[i]);
		policy_jctx_pop(&rp->c, o2);
	}
	policy_jctx_pop(&rp->c, old);
	out->v = v;
	out->n = n;
	return ret;
}

static int r_command(struct rparser *rp, struct json_object *obj, struct policy_strv *out)
{
	int ret = r_strv(rp, obj, "command", true, POLICY_MAX_ARGS, out);
	if (!ret && out->n == 0) {
		size_t old = policy_jctx_key(&rp->c, "command");
		ret = policy_jerr(&rp->c, EINVAL, "needs at least one element");
		policy_jctx_pop(&rp->c, old);
	}
	return ret;
}

static int r_env(struct rparser *rp, struct json_object *obj, struct policy_strv *out)
{
	int ret = r_strv(rp, obj, "env", false, POLICY_MAX_ENV, out);
	for (size_t i = 0; i < out->n && !ret; i++) {
		if (out->v[i][0] != '=' && strchr(out->v[i], '='))
			continue;
		size_t old = policy_jctx_key(&rp->c, "env");
		policy_jctx_index(&rp->c, i);
		ret = policy_jerr(&rp->c, EINVAL, "expected NAME=value");
		policy_jctx_pop(&rp->c, old);
	}
	return ret;
}

static int r_hash(struct rparser *rp, struct json_object *obj, const char *key, bool required,
		  bool *present, uint8_t out[POLICY_SHA256_LEN])
{
	const char *s = NULL;
	int ret = policy_jfield_string(&rp->c, obj, key, required, 64, &s);
	if (present)
		*present = s && s[0];
	if (ret || !s || (!required && !s[0]))
		return ret;
	size_t old = policy_jctx_key(&rp->c, key);
	if (strlen(s) != 64 || strspn(s, "0123456789abcdef") != 64 || hex_decode(s, out, 32))
		ret = policy_jerr(&rp->c, EINVAL, "expected 64 lowercase hex digits (a SHA-256)");
	policy_jctx_pop(&rp->c, old);
	return ret;
}

static int r_user(struct rparser *rp, struct json_object *obj, struct policy_user *u)
{
	static const char *const keys[] = {"uid", "gid", "additional_gids", "umask", NULL};
	struct json_object *uo, *arr;
	uint64_t uid = 0, gid = 0;
	const char *umask = "0022";
	size_t n;
	*u = (struct policy_user){.umask = 022};
	int ret = policy_jfield_object(&rp->c, obj, "user", false, &uo);
	if (ret || !uo)
		return ret;
	size_t old = policy_jctx_key(&rp->c, "user");
	ret = policy_jobject(&rp->c, uo, keys);
	if (!ret)
		ret = policy_jfield_u64(&rp->c, uo, "uid", false, UINT32_MAX - 1, &uid);
	if (!ret)
		ret = policy_jfield_u64(&rp->c, uo, "gid", false, UINT32_MAX - 1, &gid);
	if (!ret)
		ret = policy_jfield_string(&rp->c, uo, "umask", false, 4, &umask);
	if (!ret) {
		char *end;
		unsigned long m = strtoul(umask, &end, 8);
		if (!umask[0] || *end || strspn(umask, "01234567") != strlen(umask) || m > 0777) {
			size_t o2 = policy_jctx_key(&rp->c, "umask");
			ret = policy_jerr(&rp->c, EINVAL,
					  "expected an octal umask such as \"0022\"");
			policy_jctx_pop(&rp->c, o2);
		}
		u->umask = (uint32_t)m;
	}
	if (!ret)
		ret = policy_jfield_array(&rp->c, uo, "additional_gids", false, POLICY_MAX_GROUPS,
					  &arr, &n);
	if (!ret && arr) {
		uint32_t *g = policy_arena_alloc(rp->a, (n + 1) * sizeof(*g));
		if (!g)
			ret = room(rp);
		size_t o2 = policy_jctx_key(&rp->c, "additional_gids");
		for (size_t i = 0; i < n && !ret; i++) {
			uint64_t x = 0;
			size_t o3 = policy_jctx_index(&rp->c, i);
			ret = policy_ju64(&rp->c, json_object_array_get_idx(arr, i), UINT32_MAX - 1,
					  &x);
			if (!ret)
				g[i] = (uint32_t)x;
			policy_jctx_pop(&rp->c, o3);
		}
		policy_jctx_pop(&rp->c, o2);
		u->additional_gids = g;
		u->n_additional_gids = n;
	}
	u->uid = (uint32_t)uid;
	u->gid = (uint32_t)gid;
	policy_jctx_pop(&rp->c, old);
	return ret;
}


static int r_mounts(struct rparser *rp, struct json_object *obj,
		    struct policy_req_create_container *cc)
{
	static const char *const keys[] = {"source", "destination", "type", "options", NULL};
	struct json_object *arr;
	size_t n;
	int ret = policy_jfield_array(&rp->c, obj, "mounts", false, POLICY_MAX_MOUNTS, &arr, &n);
	if (ret || !arr)
		return ret;
	struct policy_mount *m = policy_arena_alloc(rp->a, (n + 1) * sizeof(*m));
	if (!m)
		return room(rp);
	size_t old = policy_jctx_key(&rp->c, "mounts");
	for (size_t i = 0; i < n && !ret; i++) {
		struct json_object *mo = json_object_array_get_idx(arr, i);
		struct policy_strv opts;
		size_t o2 = policy_jctx_index(&rp->c, i);
		ret = policy_jobject(&rp->c, mo, keys);
		if (!ret)
			ret = policy_jfield_string(&rp->c, mo, "source", true, POLICY_MAX_STRING,
						   &m[i].source);
		if (!ret)
			ret = policy_jfield_string(&rp->c, mo, "destination", true,
						   POLICY_MAX_STRING, &m[i].destination);
		if (!ret)
			ret = policy_jfield_string(&rp->c, mo, "type", true, 64, &m[i].type);
		if (!ret)
			ret = r_strv(rp, mo, "options", false, POLICY_MAX_MOUNT_OPTIONS, &opts);
		if (!ret) {
			m[i].options = opts.v;
			m[i].n_options = opts.n;
		}
		policy_jctx_pop(&rp->c, o2);
	}
	policy_jctx_pop(&rp->c, old);
	cc->mounts = m;
	cc->n_mounts = n;
	return ret;
}

static int r_bytes_b64(struct rparser *rp, struct json_object *obj, const char *key,
		       const uint8_t **out, size_t *len)
{
	const char *s;
	int ret = policy_jfield_string(&rp->c, obj, key, true, (POLICY_MAX_BYTES / 3 + 1) * 4, &s);
	if (ret)
		return ret;
	size_t max = strlen(s) / 4 * 3 + 3;
	uint8_t *buf = policy_arena_alloc(rp->a, max + 1);
	if (!buf)
		return room(rp);
	long n = base64_decode(s, buf, max);
	if (n < 0) {
		size_t old = policy_jctx_key(&rp->c, key);
		ret = policy_jerr(&rp->c, EINVAL, "expected standard base64");
		policy_jctx_pop(&rp->c, old);
		return ret;
	}
	*out = buf;
	*len = (size_t)n;
	return 0;
}

static int r_container_id(struct rparser *rp, struct json_object *obj, const char **out)
{
	return policy_jfield_string(&rp->c, obj, "container_id", true, POLICY_MAX_ID, out);
}

static int r_target(struct rparser *rp, struct json_object *obj, const char **out)
{
	return policy_jfield_string(&rp->c, obj, "target", true, POLICY_MAX_TARGET, out);
}

/* One parser per request type; keys lists each type's allowed fields. */
struct req_form {
	const char *const keys[12];
	int (*parse)(struct rparser *rp, struct json_object *obj, struct policy_request *q);
};

static int p_install(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	return r_bytes_b64(rp, o, "policy_base64", &q->u.install_policy.policy,
			   &q->u.install_policy.len);
}

static int p_mount_device(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	int ret = r_target(rp, o, &q->u.mount_device.target);
	return ret ? ret : r_hash(rp, o, "device_hash", true, NULL, q->u.mount_device.device_hash);
}

static int p_unmount_device(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	return r_target(rp, o, &q->u.unmount_device.target);
}

static int p_mount_scratch(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	int ret = r_target(rp, o, &q->u.mount_scratch.target);
	q->u.mount_scratch.encrypted = true;
	return ret ? ret
		   : policy_jfield_bool(&rp->c, o, "encrypted", &q->u.mount_scratch.encrypted);
}

static int p_mount_overlay(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	struct policy_req_mount_overlay *r = &q->u.mount_overlay;
	int ret = r_container_id(rp, o, &r->container_id);
	if (!ret)
		ret = r_target(rp, o, &r->target);
	if (!ret)
		ret = r_strv(rp, o, "layer_targets", true, POLICY_MAX_LAYERS, &r->layer_targets);
	return ret;
}

static int p_unmount_overlay(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	return r_target(rp, o, &q->u.unmount_overlay.target);
}

static int p_create(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	struct policy_req_create_container *r = &q->u.create_container;
	int ret = r_container_id(rp, o, &r->container_id);
	if (!ret)
		ret = r_command(rp, o, &r->command);
	if (!ret)
		ret = r_env(rp, o, &r->env);
	if (!ret)
		ret = policy_jfield_string(&rp->c, o, "working_dir", true, POLICY_MAX_STRING,
					   &r->working_dir);
	if (!ret)
		ret = r_user(rp, o, &r->user);
	if (!ret)
		ret = policy_jfield_caps(&rp->c, o, &r->caps);
	if (!ret)
		ret = policy_jfield_bool(&rp->c, o, "no_new_privileges", &r->no_new_privileges);
	if (!ret)
		ret = policy_jfield_bool(&rp->c, o, "privileged", &r->privileged);
	if (!ret)
		ret = r_mounts(rp, o, r);
	if (!ret)
		ret = r_hash(rp, o, "seccomp_profile_sha256", false, &r->has_seccomp_profile,
			     r->seccomp_profile_sha256);
	return ret;
}

static int p_exec(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	struct policy_req_exec_in_container *r = &q->u.exec_in_container;
	int ret = r_container_id(rp, o, &r->container_id);
	if (!ret)
		ret = r_command(rp, o, &r->command);
	if (!ret)
		ret = r_env(rp, o, &r->env);
	if (!ret)
		ret = policy_jfield_string(&rp->c, o, "working_dir", true, POLICY_MAX_STRING,
					   &r->working_dir);
	if (!ret)
		ret = r_user(rp, o, &r->user);
	if (!ret)
		ret = policy_jfield_caps(&rp->c, o, &r->caps);
	if (!ret)
		ret = policy_jfield_bool(&rp->c, o, "no_new_privileges", &r->no_new_privileges);
	return ret;
}

static int p_external(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	struct policy_req_exec_external *r = &q->u.exec_external;
	int ret = r_command(rp, o, &r->command);
	if (!ret)
		ret = r_env(rp, o, &r->env);
	if (!ret)
		ret = policy_jfield_string(&rp->c, o, "working_dir", true, POLICY_MAX_STRING,
					   &r->working_dir);
	return ret;
}

static int p_signal(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	struct policy_req_signal_process *r = &q->u.signal_process;
	uint64_t sig = 0;
	int ret = r_container_id(rp, o, &r->container_id);
	if (!ret)
		ret = policy_jfield_u64(&rp->c, o, "signal", true, 64, &sig);
	r->signal = (int)sig;
	if (!ret && sig == 0) {
		size_t old = policy_jctx_key(&rp->c, "signal");
		ret = policy_jerr(&rp->c, EINVAL, "signal numbers are 1..64");
		policy_jctx_pop(&rp->c, old);
	}
	r->init_process = true;
	if (!ret)
		ret = policy_jfield_bool(&rp->c, o, "init_process", &r->init_process);
	if (!ret)
		ret = r_strv(rp, o, "command", !r->init_process, POLICY_MAX_ARGS, &r->command);
	return ret;
}

static int p_shutdown(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	return r_container_id(rp, o, &q->u.shutdown_container.container_id);
}

static int p_none(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	(void)rp, (void)o, (void)q;
	return 0;
}

static int p_fragment(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	struct policy_req_load_fragment *r = &q->u.load_fragment;
	return r_bytes_b64(rp, o, "fragment_base64", &r->fragment, &r->len);
}

static const struct req_form forms[POLICY_REQ_COUNT] = {
	[POLICY_REQ_INSTALL_POLICY] = {{"type", "policy_base64"}, p_install},
	[POLICY_REQ_MOUNT_DEVICE] = {{"type", "target", "device_hash"}, p_mount_device},
	[POLICY_REQ_UNMOUNT_DEVICE] = {{"type", "target"}, p_unmount_device},
	[POLICY_REQ_MOUNT_SCRATCH] = {{"type", "target", "encrypted"}, p_mount_scratch},
	[POLICY_REQ_MOUNT_OVERLAY] = {{"type", "container_id", "target", "layer_targets"},
				      p_mount_overlay},
	[POLICY_REQ_UNMOUNT_OVERLAY] = {{"type", "target"}, p_unmount_overlay},
	[POLICY_REQ_CREATE_CONTAINER] = {{"type", "container_id", "command", "env", "working_dir",
					  "user", "capabilities", "no_new_privileges", "privileged",
					  "mounts", "seccomp_profile_sha256"},
					 p_create},
	[POLICY_REQ_EXEC_IN_CONTAINER] = {{"type", "container_id", "command", "env", "working_dir",
					   "user", "capabilities", "no_new_privileges"},
					  p_exec},
	[POLICY_REQ_EXEC_EXTERNAL] = {{"type", "command", "env", "working_dir"}, p_external},
	[POLICY_REQ_SIGNAL_PROCESS] = {{"type", "container_id", "signal", "init_process",
					"command"},
				       p_signal},
	[POLICY_REQ_SHUTDOWN_CONTAINER] = {{"type", "container_id"}, p_shutdown},
	[POLICY_REQ_GET_PROPERTIES] = {{"type"}, p_none},
	[POLICY_REQ_DUMP_STACKS] = {{"type"}, p_none},
	[POLICY_REQ_RUNTIME_LOGGING] = {{"type"}, p_none},
	[POLICY_REQ_LOAD_FRAGMENT] = {{"type", "fragment_base64"}, p_fragment},
};

void policy_request_clear(struct policy_request *req)
{
	struct req_storage *st = req->storage;
	if (st) {
		policy_arena_free(&st->arena);
		json_object_put(st->obj);
		free(st);
	}
	memset(req, 0, sizeof(*req));
}

int policy_request_from_json(struct json_object *obj, struct policy_request *req, struct errbuf *eb)
{
	memset(req, 0, sizeof(*req));
	req->type = POLICY_REQ_UNKNOWN;
	struct rparser rp;
	policy_jctx_init(&rp.c, eb);
	const char *type;
	if (!json_object_is_type(obj, json_type_object))
		return policy_jerr(&rp.c, EINVAL, "a request is a JSON object");
	int ret = policy_jfield_string(&rp.c, obj, "type", true, 64, &type);
	if (ret)
		return ret;
	enum policy_request_type t = policy_request_type_from_name(type);
	if (t == POLICY_REQ_UNKNOWN) {
		errbuf_set(eb, ENOTSUP, "type: unknown request type");
		return -ENOTSUP;
	}
	struct req_storage *st = calloc(1, sizeof(*st));
	if (!st)
		return errbuf_set(eb, ENOMEM, "out of memory");
	st->obj = json_object_get(obj);
	req->storage = st;
	req->type = t;
	rp.a = &st->arena;
	const char *keys[13];
	size_t nk = 0;
	for (; nk < 12 && forms[t].keys[nk]; nk++)
		keys[nk] = forms[t].keys[nk];
	keys[nk] = NULL;
	ret = policy_jobject(&rp.c, obj, keys);
	if (!ret)
		ret = forms[t].parse(&rp, obj, req);
	if (ret) {
		policy_request_clear(req);
		req->type = t;
	}
	return ret;
}

int policy_request_parse(const char *text, size_t len, struct policy_request *req,
			 struct errbuf *eb)
{
	struct json_object *obj;
	memset(req, 0, sizeof(*req));
	req->type = POLICY_REQ_UNKNOWN;
	if (len > POLICY_MAX_REQUEST_BYTES)
		return errbuf_set(eb, E2BIG, "request larger than %u bytes",
				  POLICY_MAX_REQUEST_BYTES);
	int ret = policy_json_parse(text, len, &obj, eb);
	if (ret)
		return ret;
	ret = policy_request_from_json(obj, req, eb);
	json_object_put(obj);
	return ret;
}

int policy_decide_json(struct policy_engine *e, struct json_object *obj, struct policy_decision *d)
{
	struct policy_request req;
	struct errbuf eb = {0};
	int ret = policy_request_from_json(obj, &req, &eb);
	if (ret) {
		memset(d, 0, sizeof(*d));
		d->type = req.type;
		d->reason.rule = ret == -ENOTSUP  ? POLICY_RULE_UNKNOWN_REQUEST
				 : ret == -ENOMEM ? POLICY_RULE_INTERNAL
						  : POLICY_RULE_MALFORMED_REQUEST;
		snprintf(d->reason.message, sizeof(d->reason.message), "%s", errbuf_msg(&eb));
		/* the field is the message's leading JSON path */
		size_t n = strcspn(d->reason.message, ":");
		if (n < sizeof(d->reason.field) && d->reason.message[n])
			memcpy(d->reason.field, d->reason.message, n);
		policy_request_clear(&req);
		return ret == -ENOMEM ? ret : -EACCES;
	}
	ret = policy_decide(e, &req, d);
	policy_request_clear(&req);
	return ret;
}

static struct json_object *caps_json(const struct policy_caps *c)
{
	static const char *const names[] = {"bounding", "effective", "inheritable", "permitted",
					    "ambient"};
	const uint64_t sets[] = {c->bounding, c->effective, c->inheritable, c->permitted,
				 c->ambient};
	struct json_object *o = json_object_new_object();
	for (size_t s = 0; o && s < 5; s++) {
		struct json_object *arr = json_object_new_array();
		for (int i = 0; arr && i < 64; i++)
			if (sets[s] & (1ull << i))
				json_object_array_add(
					arr, json_object_new_string(policy_cap_name(i)
									    ? policy_cap_name(i)
									    : "?"));
		json_object_object_add(o, names[s], arr);
	}
	return o;
}

static const struct policy_strv *request_env(const struct policy_request *q)
{
	if (!q)
		return NULL;
	switch (q->type) {
	case POLICY_REQ_CREATE_CONTAINER:
		return &q->u.create_container.env;
	case POLICY_REQ_EXEC_IN_CONTAINER:
		return &q->u.exec_in_container.env;
	case POLICY_REQ_EXEC_EXTERNAL:
		return &q->u.exec_external.env;
	default:
		return NULL;
	}
}

/* "NAME" of "NAME=value": never the value. */
static struct json_object *env_name(const char *var)
{
	const char *eq = strchr(var, '=');
	return json_object_new_string_len(var, eq ? (int)(eq - var) : (int)strlen(var));
}

struct json_object *policy_decision_to_json(const struct policy_decision *d,
					    const struct policy_request *req)
{
	struct json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "request",
			       json_object_new_string(policy_request_type_name(d->type)));
	json_object_object_add(o, "allowed", json_object_new_boolean(d->allowed));
	if (d->debug)
		json_object_object_add(o, "debug", json_object_new_boolean(true));
	if (d->source[0])
		json_object_object_add(o, "source", json_object_new_string(d->source));
	if (!d->allowed) {
		struct json_object *r = json_object_new_object();
		json_object_object_add(r, "rule",
				       json_object_new_string(policy_rule_name(d->reason.rule)));
		json_object_object_add(r, "field", json_object_new_string(d->reason.field));
		json_object_object_add(r, "expected", json_object_new_string(d->reason.expected));
		json_object_object_add(r, "got", json_object_new_string(d->reason.got));
		json_object_object_add(r, "message", json_object_new_string(d->reason.message));
		json_object_object_add(o, "reason", r);
		return o;
	}
	bool process = d->type == POLICY_REQ_CREATE_CONTAINER ||
		       d->type == POLICY_REQ_EXEC_IN_CONTAINER ||
		       d->type == POLICY_REQ_EXEC_EXTERNAL;
	if (!process)
		return o;
	const struct policy_strv *env = request_env(req);
	if (env && req->type == d->type) {
		struct json_object *keep = json_object_new_array(), *drop = json_object_new_array();
		size_t k = 0;
		for (size_t i = 0; i < env->n; i++) {
			bool kept = k < d->n_env_keep && d->env_keep[k] == i;
			k += kept;
			json_object_array_add(kept ? keep : drop, env_name(env->v[i]));
		}
		json_object_object_add(o, "env_keep", keep);
		json_object_object_add(o, "env_dropped", drop);
	} else {
		struct json_object *idx = json_object_new_array();
		for (size_t i = 0; i < d->n_env_keep; i++)
			json_object_array_add(idx, json_object_new_int(d->env_keep[i]));
		json_object_object_add(o, "env_keep_indices", idx);
	}
	if (d->type != POLICY_REQ_EXEC_EXTERNAL)
		json_object_object_add(o, "capabilities", caps_json(&d->caps));
	json_object_object_add(o, "allow_stdio_access",
			       json_object_new_boolean(d->allow_stdio_access));
	return o;
}
