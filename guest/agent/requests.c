/* requests: one handler per request type. Each parses its fields strictly, builds the policy
 * engine's typed request, asks the engine, and only then acts; a failed effect reverts the
 * engine's state so a denial or failure never leaves anything changed. */
#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/encoding.h"
#include "common/fileio.h"
#include "common/digest.h"
#include "guest/agent/oci_spec.h"
#include "guest/agent/server_internal.h"

int server_install_begin(struct agent_server *s, uint32_t id, uint8_t *policy, size_t len);

#define MALFORMED_RULE (policy_rule_name(POLICY_RULE_MALFORMED_REQUEST))

/* ---- strict field access ---- */

/* A field problem: the handler answers `invalid` naming the field. */
struct req_ctx {
	struct json_object *req;
	const char *type;
	struct errbuf eb;
	/* arrays we allocated for borrowed string pointers, freed after the handler */
	void *allocs[POLICY_MAX_MOUNTS + 32]; /* one per mount's options, plus a few */
	size_t n_allocs;
	int64_t policy_ns; /* time spent in the policy engine (reported, for the benchmark) */
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *ctx_alloc(struct req_ctx *c, size_t size)
{
	if (c->n_allocs >= sizeof(c->allocs) / sizeof(c->allocs[0]))
		return NULL;
	void *p = calloc(1, size ? size : 1);
	if (p)
		c->allocs[c->n_allocs++] = p;
	return p;
}

static int get_field(struct req_ctx *c, struct json_object *obj, const char *key, bool required,
		     enum json_type type, struct json_object **out)
{
	*out = NULL;
	if (!json_object_object_get_ex(obj, key, out) || !*out) {
		*out = NULL;
		if (json_object_object_get_ex(obj, key, out))
			return errbuf_set(&c->eb, EINVAL, "%s: must not be null", key);
		return required ? errbuf_set(&c->eb, EINVAL, "%s: required field missing", key) : 0;
	}
	if (!json_object_is_type(*out, type))
		return errbuf_set(&c->eb, EINVAL, "%s: expected %s", key, json_type_to_name(type));
	return 0;
}

static int get_str(struct req_ctx *c, struct json_object *obj, const char *key, bool required,
		   size_t max, const char **out)
{
	struct json_object *v;
	*out = NULL;
	int ret = get_field(c, obj, key, required, json_type_string, &v);
	if (ret < 0 || !v)
		return ret;
	size_t len = (size_t)json_object_get_string_len(v);
	const char *s = json_object_get_string(v);
	if (len > max)
		return errbuf_set(&c->eb, E2BIG, "%s: longer than %zu bytes", key, max);
	if (strlen(s) != len)
		return errbuf_set(&c->eb, EINVAL, "%s: contains a NUL character", key);
	*out = s;
	return 0;
}

static int get_bool(struct req_ctx *c, struct json_object *obj, const char *key, bool dflt,
		    bool *out)
{
	struct json_object *v;
	*out = dflt;
	int ret = get_field(c, obj, key, false, json_type_boolean, &v);
	if (ret == 0 && v)
		*out = json_object_get_boolean(v);
	return ret;
}

static int get_u64(struct req_ctx *c, struct json_object *obj, const char *key, bool required,
		   uint64_t max, uint64_t *out)
{
	struct json_object *v;
	*out = 0;
	int ret = get_field(c, obj, key, required, json_type_int, &v);
	if (ret < 0 || !v)
		return ret;
	int64_t x = json_object_get_int64(v);
	if (x < 0 || (uint64_t)x > max)
		return errbuf_set(&c->eb, ERANGE, "%s: must be between 0 and %llu", key,
				  (unsigned long long)max);
	*out = (uint64_t)x;
	return 0;
}

static int get_strv(struct req_ctx *c, struct json_object *obj, const char *key, bool required,
		    size_t max_n, size_t max_len, struct policy_strv *out)
{
	struct json_object *v;
	out->v = NULL;
	out->n = 0;
	int ret = get_field(c, obj, key, required, json_type_array, &v);
	if (ret < 0 || !v)
		return ret;
	size_t n = json_object_array_length(v);
	if (n > max_n)
		return errbuf_set(&c->eb, E2BIG, "%s: more than %zu entries", key, max_n);
	const char **a = ctx_alloc(c, (n + 1) * sizeof(char *));
	if (!a)
		return errbuf_set(&c->eb, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);
		if (!json_object_is_type(e, json_type_string))
			return errbuf_set(&c->eb, EINVAL, "%s[%zu]: expected a string", key, i);
		a[i] = json_object_get_string(e);
		if (strlen(a[i]) != (size_t)json_object_get_string_len(e) ||
		    strlen(a[i]) > max_len)
			return errbuf_set(&c->eb, EINVAL, "%s[%zu]: NUL character or too long",
					  key, i);
	}
	out->v = a;
	out->n = n;
	return 0;
}

/* Fields a host must never send (they would bypass the policy if passed to crun). */
static const struct {
	const char *name, *why;
} forbidden_fields[] = {
	{ "hooks", "host-supplied OCI hooks are never accepted" },
	{ "devices", "host-supplied devices are never accepted" },
	{ "annotations", "host-supplied OCI annotations are never accepted" },
	{ "oci_spec", "host-supplied OCI specs are never accepted: the agent writes its own" },
	{ "spec", "host-supplied OCI specs are never accepted: the agent writes its own" },
};

/* Every member of obj must be "type" or listed; anything else is a denial naming it. */
static struct json_object *check_fields(struct req_ctx *c, const char *const *allowed)
{
	json_object_object_foreach(c->req, key, val)
	{
		(void)val;
		if (!strcmp(key, "type"))
			continue;
		bool ok = false;
		for (size_t i = 0; allowed[i] && !ok; i++)
			ok = !strcmp(allowed[i], key);
		if (ok)
			continue;
		const char *why = "field not accepted in this request";
		for (size_t i = 0; i < sizeof(forbidden_fields) / sizeof(forbidden_fields[0]); i++)
			if (!strcmp(forbidden_fields[i].name, key))
				why = forbidden_fields[i].why;
		char msg[400];
		snprintf(msg, sizeof(msg), "%s: %s: %s", c->type, key, why);
		return server_denial(MALFORMED_RULE, key, "absent", "present", msg);
	}
	return NULL;
}

static struct json_object *invalid(struct req_ctx *c)
{
	return server_error(PROTO_ERR_INVALID, "%s: %s", c->type, errbuf_msg(&c->eb));
}

/* A container id names directories and a crun container: [A-Za-z0-9][A-Za-z0-9._-]*. */
static int check_container_id(struct req_ctx *c, const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > POLICY_MAX_ID)
		return errbuf_set(&c->eb, EINVAL, "container_id: must be 1 to %d characters",
				  POLICY_MAX_ID);
	for (size_t i = 0; i < n; i++) {
		char ch = id[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || (i > 0 && strchr("._-", ch));
		if (!ok)
			return errbuf_set(&c->eb, EINVAL,
					  "container_id: only letters, digits and ._- "
					  "(not first) are allowed");
	}
	return 0;
}

static int check_device(struct req_ctx *c, const char *dev)
{
	if (strncmp(dev, "/dev/", 5) || strstr(dev, "..") || strlen(dev) > 128)
		return errbuf_set(&c->eb, EINVAL, "device: expected a /dev/ path");
	for (const char *p = dev; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-", *p))
			return errbuf_set(&c->eb, EINVAL, "device: unexpected character");
	return 0;
}

/* ---- containers ---- */

static struct agent_container *container_find(struct agent_server *s, const char *id)
{
	for (struct agent_container *k = s->containers; k; k = k->next)
		if (!strcmp(k->id, id))
			return k;
	return NULL;
}

static struct agent_container *container_by_rootfs(struct agent_server *s, const char *target)
{
	for (struct agent_container *k = s->containers; k; k = k->next)
		if (!strcmp(k->rootfs, target))
			return k;
	return NULL;
}

static void container_remove(struct agent_server *s, struct agent_container *k)
{
	for (struct agent_container **pp = &s->containers; *pp; pp = &(*pp)->next)
		if (*pp == k) {
			*pp = k->next;
			free(k);
			return;
		}
}

void server_containers_free(struct agent_server *s)
{
	while (s->containers) {
		struct agent_container *k = s->containers;
		s->containers = k->next;
		free(k);
	}
}

static void bundle_dir(struct agent_server *s, const char *id, char *out, size_t size)
{
	snprintf(out, size, "%s/bundles/%s", s->state_dir, id);
}

void server_container_init_exited(struct agent_server *s, struct agent_proc *p)
{
	struct agent_container *k = container_find(s, p->container_id);
	if (!k || k->init_proc != p->id)
		return;
	k->stopped = true;
	if (k->shutting_down) {
		struct errbuf eb = { 0 };
		s->fx.ops->container_delete(s->fx.ctx, k->id, &eb);
	}
}

/* ---- handlers ---- */

typedef struct json_object *(*handler_fn)(struct agent_server *s, uint32_t id, struct req_ctx *c,
					  bool *deferred);

static struct json_object *h_ping(struct agent_server *s, uint32_t id, struct req_ctx *c,
				  bool *deferred)
{
	static const char *const allowed[] = { NULL };
	struct json_object *bad = check_fields(c, allowed), *o;
	(void)id;
	(void)deferred;
	if (bad)
		return bad;
	o = server_ok();
	json_object_object_add(o, "agent", json_object_new_string(PARMA_VERSION));
	json_object_object_add(o, "protocol", json_object_new_int(PROTO_VERSION));
	json_object_object_add(o, "tee", json_object_new_string(server_tee_name(s)));
	json_object_object_add(o, "policy_installed",
			       json_object_new_boolean(policy_engine_policy(s->engine) != NULL));
	return o;
}

static struct json_object *h_install_policy(struct agent_server *s, uint32_t id,
					    struct req_ctx *c, bool *deferred)
{
	static const char *const allowed[] = { "policy", NULL };
	struct json_object *bad = check_fields(c, allowed);
	const char *b64;
	if (bad)
		return bad;
	if (get_str(c, c->req, "policy", true, PROTO_JSON_MAX, &b64) < 0)
		return invalid(c);
	size_t max = POLICY_MAX_BYTES;
	uint8_t *bytes = malloc(max + 3);
	if (!bytes)
		return server_error(PROTO_ERR_FAILED, "out of memory");
	long n = base64_decode(b64, bytes, max + 3);
	if (n <= 0 || (size_t)n > max) {
		free(bytes);
		return server_error(PROTO_ERR_INVALID, "install_policy: policy: expected the "
				    "policy bytes in base64 (at most %zu bytes)", max);
	}
	if (policy_engine_policy(s->engine)) {
		/* Ask the engine anyway: its reason (already installed) is the answer. */
		struct snp_host_data_view {
			uint8_t b[32];
		} hd;
		memcpy(hd.b, s->agent_report + 0xC0, sizeof(hd.b));
		struct policy_req_install_policy r = { bytes, (size_t)n, hd.b };
		struct policy_decision d;
		int ret = policy_engine_install(s->engine, &r, &d);
		free(bytes);
		if (ret == 0 && d.allowed)
			return server_error(PROTO_ERR_FAILED, "internal: second install allowed");
		return server_decision_denial(&d);
	}
	for (struct agent_job *j = s->jobs; j; j = j->next)
		if (j->kind == JOB_INSTALL) {
			free(bytes);
			return server_error(PROTO_ERR_BUSY, "a policy install is in progress");
		}
	int ret = server_install_begin(s, id, bytes, (size_t)n);
	if (ret < 0) {
		free(bytes);
		return server_error(PROTO_ERR_FAILED, "install_policy: %s", strerror(-ret));
	}
	*deferred = true;
	return NULL;
}

static struct json_object *h_get_report(struct agent_server *s, uint32_t id, struct req_ctx *c,
					bool *deferred)
{
	static const char *const allowed[] = { "report_data", NULL };
	struct json_object *bad = check_fields(c, allowed);
	const char *hex;
	uint8_t data[AGENT_REPORT_DATA_SIZE] = { 0 };
	if (bad)
		return bad;
	if (get_str(c, c->req, "report_data", false, 128, &hex) < 0)
		return invalid(c);
	if (hex && hex_decode(hex, data, sizeof(data)) < 0)
		return server_error(PROTO_ERR_INVALID,
				    "get_report: report_data: expected 128 hex digits");
	int ret = server_report_start(s, JOB_HOST_REPORT, id, data, NULL, 0, -1);
	if (ret < 0)
		return server_error(PROTO_ERR_BUSY, "get_report: %s", strerror(-ret));
	*deferred = true;
	return NULL;
}

static struct json_object *h_mount_layer(struct agent_server *s, uint32_t id, struct req_ctx *c,
					 bool *deferred)
{
	static const char *const allowed[] = { "device", "target", "root_hash", "hash_offset",
					       NULL };
	struct json_object *bad = check_fields(c, allowed);
	const char *dev, *target, *hash;
	uint64_t off;
	struct policy_req_mount_device r = { 0 };
	struct policy_decision d;
	(void)id;
	(void)deferred;
	if (bad)
		return bad;
	if (get_str(c, c->req, "device", true, 128, &dev) < 0 ||
	    get_str(c, c->req, "target", true, POLICY_MAX_TARGET, &target) < 0 ||
	    get_str(c, c->req, "root_hash", true, 64, &hash) < 0 ||
	    get_u64(c, c->req, "hash_offset", true, UINT64_MAX >> 1, &off) < 0 ||
	    check_device(c, dev) < 0)
		return invalid(c);
	if (hex_decode(hash, r.device_hash, sizeof(r.device_hash)) < 0)
		return server_error(PROTO_ERR_INVALID, "mount_layer: root_hash: expected 64 hex "
				    "digits");
	r.target = target;
	int64_t t0 = now_ns();
	int decided = policy_mount_device(s->engine, &r, &d);
	c->policy_ns += now_ns() - t0;
	if (decided != 0)
		return server_decision_denial(&d);
	if (s->fx.ops->mount_layer(s->fx.ctx, dev, off, r.device_hash, target, &c->eb) < 0) {
		policy_engine_revert(s->engine);
		return server_error(PROTO_ERR_FAILED, "mount_layer: %s", errbuf_msg(&c->eb));
	}
	server_log(s, "layer %s mounted at %s", hash, target);
	return server_ok();
}

static struct json_object *h_mount_scratch(struct agent_server *s, uint32_t id,
					   struct req_ctx *c, bool *deferred)
{
	static const char *const allowed[] = { "device", "target", "encrypted", NULL };
	struct json_object *bad = check_fields(c, allowed);
	const char *dev, *target;
	struct policy_req_mount_scratch r;
	struct policy_decision d;
	(void)id;
	(void)deferred;
	if (bad)
		return bad;
	if (get_str(c, c->req, "device", true, 128, &dev) < 0 ||
	    get_str(c, c->req, "target", true, POLICY_MAX_TARGET, &target) < 0 ||
	    get_bool(c, c->req, "encrypted", true, &r.encrypted) < 0 || check_device(c, dev) < 0)
		return invalid(c);
	r.target = target;
	if (s->n_scratch >= sizeof(s->scratch) / sizeof(s->scratch[0]))
		return server_error(PROTO_ERR_BUSY, "mount_scratch: too many scratch mounts");
	if (policy_mount_scratch(s->engine, &r, &d) != 0)
		return server_decision_denial(&d);
	if (s->fx.ops->mount_scratch(s->fx.ctx, dev, r.encrypted, target, &c->eb) < 0) {
		policy_engine_revert(s->engine);
		return server_error(PROTO_ERR_FAILED, "mount_scratch: %s", errbuf_msg(&c->eb));
	}
	snprintf(s->scratch[s->n_scratch++], sizeof(s->scratch[0]), "%s", target);
	return server_ok();
}

static int scratch_index(struct agent_server *s, const char *target)
{
	for (size_t i = 0; i < s->n_scratch; i++)
		if (!strcmp(s->scratch[i], target))
			return (int)i;
	return -1;
}

static struct json_object *h_mount_overlay(struct agent_server *s, uint32_t id,
					   struct req_ctx *c, bool *deferred)
{
	static const char *const allowed[] = { "container_id", "layers", "target", "scratch",
					       NULL };
	struct json_object *bad = check_fields(c, allowed);
	const char *cid, *target, *scratch;
	struct policy_req_mount_overlay r;
	struct policy_decision d;
	(void)id;
	(void)deferred;
	if (bad)
		return bad;
	if (get_str(c, c->req, "container_id", true, POLICY_MAX_ID, &cid) < 0 ||
	    check_container_id(c, cid) < 0 ||
	    get_str(c, c->req, "target", true, POLICY_MAX_TARGET, &target) < 0 ||
	    get_str(c, c->req, "scratch", false, POLICY_MAX_TARGET, &scratch) < 0 ||
	    get_strv(c, c->req, "layers", true, POLICY_MAX_LAYERS, POLICY_MAX_TARGET,
		     &r.layer_targets) < 0)
		return invalid(c);
	if (scratch && scratch_index(s, scratch) < 0)
		return server_error(PROTO_ERR_INVALID,
				    "mount_overlay: scratch: no scratch is mounted at that target");
	r.container_id = cid;
	r.target = target;
	int64_t t0 = now_ns();
	int decided = policy_mount_overlay(s->engine, &r, &d);
	c->policy_ns += now_ns() - t0;
	if (decided != 0)
		return server_decision_denial(&d);
	struct agent_container *k = container_find(s, cid);
	if (k) {
		policy_engine_revert(s->engine);
		return server_error(PROTO_ERR_BUSY, "mount_overlay: container %s already has a "
				    "root file system", cid);
	}
	char upper[POLICY_MAX_TARGET + POLICY_MAX_ID + 16], work[sizeof(upper)];
	if (scratch) {
		snprintf(upper, sizeof(upper), "%s/%s/upper", scratch, cid);
		snprintf(work, sizeof(work), "%s/%s/work", scratch, cid);
	}
	k = calloc(1, sizeof(*k));
	if (!k || s->fx.ops->mount_overlay(s->fx.ctx, r.layer_targets.v, r.layer_targets.n,
					   scratch ? upper : NULL, scratch ? work : NULL, target,
					   &c->eb) < 0) {
		free(k);
		policy_engine_revert(s->engine);
		return server_error(PROTO_ERR_FAILED, "mount_overlay: %s",
				    k ? errbuf_msg(&c->eb) : "out of memory");
	}
	snprintf(k->id, sizeof(k->id), "%s", cid);
	snprintf(k->rootfs, sizeof(k->rootfs), "%s", target);
	k->next = s->containers;
	s->containers = k;
	return server_ok();
}

static struct json_object *h_unmount(struct agent_server *s, uint32_t id, struct req_ctx *c,
				     bool *deferred)
{
	static const char *const allowed[] = { "target", NULL };
	struct json_object *bad = check_fields(c, allowed);
	const char *target;
	struct policy_decision d;
	(void)id;
	(void)deferred;
	if (bad)
		return bad;
	if (get_str(c, c->req, "target", true, POLICY_MAX_TARGET, &target) < 0)
		return invalid(c);
	struct agent_container *k = container_by_rootfs(s, target);
	int ret;
	if (k) {
		if (k->created && !k->stopped)
			return server_error(PROTO_ERR_BUSY, "unmount: container %s is still "
					    "running on %s", k->id, target);
		struct policy_req_unmount_overlay r = { target };
		ret = policy_unmount_overlay(s->engine, &r, &d);
	} else {
		struct policy_req_unmount_device r = { target };
		ret = policy_unmount_device(s->engine, &r, &d);
	}
	if (ret != 0)
		return server_decision_denial(&d);
	if (s->fx.ops->unmount(s->fx.ctx, target, &c->eb) < 0) {
		policy_engine_revert(s->engine);
		return server_error(PROTO_ERR_FAILED, "unmount: %s", errbuf_msg(&c->eb));
	}
	if (k) {
		container_remove(s, k);
	} else {
		int i = scratch_index(s, target);
		if (i >= 0)
			memcpy(s->scratch[i], s->scratch[--s->n_scratch], sizeof(s->scratch[0]));
	}
	return server_ok();
}

/* user: {"uid","gid","additional_gids","umask"}; umask as a number or an octal string. */
static int parse_user(struct req_ctx *c, struct policy_user *u)
{
	struct json_object *obj, *v;
	uint64_t x;
	memset(u, 0, sizeof(*u));
	u->umask = 022;
	if (get_field(c, c->req, "user", false, json_type_object, &obj) < 0)
		return -EINVAL;
	if (!obj)
		return 0;
	json_object_object_foreach(obj, key, val)
	{
		(void)val;
		if (strcmp(key, "uid") && strcmp(key, "gid") && strcmp(key, "additional_gids") &&
		    strcmp(key, "umask"))
			return errbuf_set(&c->eb, EINVAL, "user.%s: unknown field", key);
	}
	if (get_u64(c, obj, "uid", false, UINT32_MAX - 1, &x) < 0)
		return -EINVAL;
	u->uid = (uint32_t)x;
	if (get_u64(c, obj, "gid", false, UINT32_MAX - 1, &x) < 0)
		return -EINVAL;
	u->gid = (uint32_t)x;
	if (json_object_object_get_ex(obj, "umask", &v)) {
		if (json_object_is_type(v, json_type_string)) {
			char *end;
			unsigned long m = strtoul(json_object_get_string(v), &end, 8);
			if (*end || m > 0777)
				return errbuf_set(&c->eb, EINVAL, "user.umask: expected octal");
			u->umask = (uint32_t)m;
		} else if (get_u64(c, obj, "umask", false, 0777, &x) == 0) {
			u->umask = (uint32_t)x;
		} else {
			return -EINVAL;
		}
	}
	if (get_field(c, obj, "additional_gids", false, json_type_array, &v) < 0)
		return -EINVAL;
	if (v) {
		size_t n = json_object_array_length(v);
		if (n > POLICY_MAX_GROUPS)
			return errbuf_set(&c->eb, E2BIG, "user.additional_gids: too many");
		uint32_t *g = ctx_alloc(c, (n + 1) * sizeof(uint32_t));
		if (!g)
			return errbuf_set(&c->eb, ENOMEM, "out of memory");
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(v, i);
			int64_t gv = json_object_get_int64(e);
			if (!json_object_is_type(e, json_type_int) || gv < 0 || gv >= UINT32_MAX)
				return errbuf_set(&c->eb, EINVAL,
						  "user.additional_gids[%zu]: expected a gid", i);
			g[i] = (uint32_t)gv;
		}
		u->additional_gids = g;
		u->n_additional_gids = n;
	}
	return 0;
}

/* capabilities: {"bounding": ["CAP_..."], "effective": [...], ...} */
static int parse_caps(struct req_ctx *c, struct policy_caps *caps)
{
	static const char *const sets[] = { "bounding", "effective", "inheritable", "permitted",
					    "ambient" };
	uint64_t *dst[] = { &caps->bounding, &caps->effective, &caps->inheritable,
			    &caps->permitted, &caps->ambient };
	struct json_object *obj;
	memset(caps, 0, sizeof(*caps));
	if (get_field(c, c->req, "capabilities", false, json_type_object, &obj) < 0)
		return -EINVAL;
	if (!obj)
		return 0;
	json_object_object_foreach(obj, key, val)
	{
		size_t i;
		for (i = 0; i < 5 && strcmp(sets[i], key); i++)
			;
		if (i == 5)
			return errbuf_set(&c->eb, EINVAL, "capabilities.%s: unknown set", key);
		if (!json_object_is_type(val, json_type_array) ||
		    json_object_array_length(val) > 64)
			return errbuf_set(&c->eb, EINVAL, "capabilities.%s: expected an array of "
					  "capability names", key);
		for (size_t k = 0; k < json_object_array_length(val); k++) {
			struct json_object *e = json_object_array_get_idx(val, k);
			int bit = json_object_is_type(e, json_type_string)
					  ? policy_cap_from_name(json_object_get_string(e))
					  : -1;
			if (bit < 0 || bit > 63)
				return errbuf_set(&c->eb, EINVAL,
						  "capabilities.%s[%zu]: unknown capability", key,
						  k);
			*dst[i] |= 1ull << bit;
		}
	}
	return 0;
}

/* mounts: [{"source","destination","type","options":[...]}] */
static int parse_mounts(struct req_ctx *c, struct policy_mount **out, size_t *n_out)
{
	struct json_object *arr;
	*out = NULL;
	*n_out = 0;
	if (get_field(c, c->req, "mounts", false, json_type_array, &arr) < 0)
		return -EINVAL;
	if (!arr)
		return 0;
	size_t n = json_object_array_length(arr);
	if (n > POLICY_MAX_MOUNTS)
		return errbuf_set(&c->eb, E2BIG, "mounts: more than %d", POLICY_MAX_MOUNTS);
	struct policy_mount *m = ctx_alloc(c, (n + 1) * sizeof(*m));
	if (!m)
		return errbuf_set(&c->eb, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		struct policy_strv opts;
		if (!json_object_is_type(e, json_type_object))
			return errbuf_set(&c->eb, EINVAL, "mounts[%zu]: expected an object", i);
		json_object_object_foreach(e, key, val)
		{
			(void)val;
			if (strcmp(key, "source") && strcmp(key, "destination") &&
			    strcmp(key, "type") && strcmp(key, "options"))
				return errbuf_set(&c->eb, EINVAL, "mounts[%zu].%s: unknown field",
						  i, key);
		}
		if (get_str(c, e, "source", true, POLICY_MAX_STRING, &m[i].source) < 0 ||
		    get_str(c, e, "destination", true, POLICY_MAX_STRING, &m[i].destination) < 0 ||
		    get_str(c, e, "type", true, 64, &m[i].type) < 0 ||
		    get_strv(c, e, "options", false, POLICY_MAX_MOUNT_OPTIONS, 256, &opts) < 0) {
			errbuf_prefix(&c->eb, "mounts[%zu]", i);
			return -EINVAL;
		}
		m[i].options = opts.v;
		m[i].n_options = opts.n;
	}
	*out = m;
	*n_out = n;
	return 0;
}

static int parse_resources(struct req_ctx *c, struct oci_resources *r)
{
	struct json_object *obj;
	memset(r, 0, sizeof(*r));
	if (get_field(c, c->req, "resources", false, json_type_object, &obj) < 0)
		return -EINVAL;
	if (!obj)
		return 0;
	json_object_object_foreach(obj, key, val)
	{
		(void)val;
		if (strcmp(key, "memory_bytes") && strcmp(key, "cpu_quota_us") &&
		    strcmp(key, "cpu_period_us") && strcmp(key, "pids_max"))
			return errbuf_set(&c->eb, EINVAL, "resources.%s: unknown field", key);
	}
	if (get_u64(c, obj, "memory_bytes", false, 1ull << 50, &r->memory_bytes) < 0 ||
	    get_u64(c, obj, "cpu_quota_us", false, 1ull << 40, &r->cpu_quota_us) < 0 ||
	    get_u64(c, obj, "cpu_period_us", false, 1000000, &r->cpu_period_us) < 0 ||
	    get_u64(c, obj, "pids_max", false, 1u << 22, &r->pids_max) < 0)
		return -EINVAL;
	return 0;
}

/* The env entries the decision keeps, in request order. */
static const char **kept_env(struct req_ctx *c, const struct policy_strv *env,
			     const struct policy_decision *d, size_t *n)
{
	const char **v = ctx_alloc(c, (d->n_env_keep + 1) * sizeof(char *));
	*n = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < d->n_env_keep; i++)
		if (d->env_keep[i] < env->n)
			v[(*n)++] = env->v[d->env_keep[i]];
	return v;
}

static struct json_object *started_process(struct agent_server *s, struct agent_proc *p)
{
	struct json_object *o = server_ok();
	json_object_object_add(o, "process_id", json_object_new_int64(p->id));
	json_object_object_add(o, "stdio", json_object_new_boolean(p->stdio));
	(void)s;
	return o;
}

static struct json_object *h_create_container(struct agent_server *s, uint32_t id,
					      struct req_ctx *c, bool *deferred)
{
	static const char *const allowed[] = { "container_id", "command", "env", "working_dir",
					       "user", "capabilities", "no_new_privileges",
					       "privileged", "mounts", "seccomp_profile", "stdio",
					       "resources", NULL };
	struct json_object *bad = check_fields(c, allowed), *seccomp = NULL;
	struct policy_req_create_container r;
	struct policy_decision d;
	struct oci_resources res;
	const char *cid, *b64 = NULL;
	bool want_stdio;
	(void)id;
	(void)deferred;
	if (bad)
		return bad;
	memset(&r, 0, sizeof(r));
	if (get_str(c, c->req, "container_id", true, POLICY_MAX_ID, &cid) < 0 ||
	    check_container_id(c, cid) < 0 ||
	    get_strv(c, c->req, "command", true, POLICY_MAX_ARGS, POLICY_MAX_STRING,
		     &r.command) < 0 ||
	    get_strv(c, c->req, "env", false, POLICY_MAX_ENV, POLICY_MAX_STRING, &r.env) < 0 ||
	    get_str(c, c->req, "working_dir", false, POLICY_MAX_STRING, &r.working_dir) < 0 ||
	    parse_user(c, &r.user) < 0 || parse_caps(c, &r.caps) < 0 ||
	    get_bool(c, c->req, "no_new_privileges", true, &r.no_new_privileges) < 0 ||
	    get_bool(c, c->req, "privileged", false, &r.privileged) < 0 ||
	    parse_mounts(c, (struct policy_mount **)&r.mounts, &r.n_mounts) < 0 ||
	    get_str(c, c->req, "seccomp_profile", false, PROTO_JSON_MAX, &b64) < 0 ||
	    get_bool(c, c->req, "stdio", false, &want_stdio) < 0 || parse_resources(c, &res) < 0)
		return invalid(c);
	if (r.command.n == 0)
		return server_error(PROTO_ERR_INVALID, "create_container: command: empty");
	if (!r.working_dir)
		r.working_dir = "/";
	r.container_id = cid;
	if (b64) {
		/* The profile's digest is what the policy names; its content is what crun gets. */
		size_t cap = strlen(b64) / 4 * 3 + 3;
		uint8_t *prof = ctx_alloc(c, cap + 1);
		long n = prof ? base64_decode(b64, prof, cap) : -ENOMEM;
		if (n <= 0)
			return server_error(PROTO_ERR_INVALID,
					    "create_container: seccomp_profile: expected base64");
		seccomp = json_tokener_parse((const char *)prof);
		if (!seccomp || !json_object_is_type(seccomp, json_type_object)) {
			json_object_put(seccomp);
			return server_error(PROTO_ERR_INVALID, "create_container: seccomp_profile: "
					    "expected an OCI linux.seccomp JSON object");
		}
		r.has_seccomp_profile = true;
		digest_sha256(prof, (size_t)n, r.seccomp_profile_sha256);
	}
	int64_t t0 = now_ns();
	int decided = policy_create_container(s->engine, &r, &d);
	c->policy_ns += now_ns() - t0;
	if (decided != 0) {
		json_object_put(seccomp);
		return server_decision_denial(&d);
	}

	struct json_object *fail = NULL;
	struct agent_container *k = container_find(s, cid);
	char bundle[512], path[600], sc[300];
	char *config = NULL;
	struct agent_stdio io;
	int ours[3] = { -1, -1, -1 };
	pid_t pid;
	size_t n_env;
	const char **env = kept_env(c, &r.env, &d, &n_env);

	if (!k || k->created) {
		fail = server_error(PROTO_ERR_FAILED, "create_container: %s",
				    k ? "container already created" : "no root file system");
		goto out;
	}
	server_security_context_dir(s, sc, sizeof(sc));
	struct oci_config cfg = {
		.container_id = cid,
		.rootfs = k->rootfs,
		.security_context_dir = sc,
		.process = { .argv = r.command.v, .argc = r.command.n, .env = env,
			     .n_env = n_env, .cwd = r.working_dir, .uid = r.user.uid,
			     .gid = r.user.gid, .umask = r.user.umask,
			     .gids = r.user.additional_gids,
			     .n_gids = r.user.n_additional_gids, .no_new_privileges =
								  r.no_new_privileges },
		.n_mounts = r.n_mounts,
		.seccomp = seccomp,
		.resources = res,
		.privileged = r.privileged,
	};
	memcpy(&cfg.process.caps, &d.caps, sizeof(d.caps));
	struct oci_mount *om = ctx_alloc(c, (r.n_mounts + 1) * sizeof(*om));
	if (!env || !om) {
		fail = server_error(PROTO_ERR_FAILED, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < r.n_mounts; i++)
		om[i] = (struct oci_mount){ r.mounts[i].source, r.mounts[i].destination,
					    r.mounts[i].type, r.mounts[i].options,
					    r.mounts[i].n_options };
	cfg.mounts = om;
	bundle_dir(s, cid, bundle, sizeof(bundle));
	snprintf(path, sizeof(path), "%s/config.json", bundle);
	if (oci_config_build(&cfg, &config, &c->eb) < 0 || mkdir_p(bundle, 0700) < 0 ||
	    file_write_atomic(path, config, strlen(config), 0600, &c->eb) < 0 ||
	    server_stdio_open(&io, ours, want_stdio && d.allow_stdio_access) < 0 ||
	    s->fx.ops->container_create(s->fx.ctx, cid, bundle, &io, &pid, &c->eb) < 0) {
		fail = server_error(PROTO_ERR_FAILED, "create_container: %s", errbuf_msg(&c->eb));
		server_stdio_close(&io, ours);
		goto out;
	}
	server_stdio_close(&io, NULL);
	struct agent_proc *p = server_proc_add(s, pid, AGENT_PROC_INIT, cid, r.command.v,
					       r.command.n, ours);
	if (!p) {
		server_stdio_close(&io, ours);
		s->fx.ops->container_delete(s->fx.ctx, cid, &c->eb);
		fail = server_error(PROTO_ERR_FAILED, "out of memory");
		goto out;
	}
	k->created = true;
	k->init_proc = p->id;
	server_log(s, "container %s created (process %u)", cid, p->id);
	free(config);
	json_object_put(seccomp);
	return started_process(s, p);
out:
	policy_engine_revert(s->engine);
	free(config);
	json_object_put(seccomp);
	return fail;
}

static struct json_object *h_start_container(struct agent_server *s, uint32_t id,
					     struct req_ctx *c, bool *deferred)
{
	static const char *const allowed[] = { "container_id", NULL };
	struct json_object *bad = check_fields(c, allowed);
	const char *cid;
	(void)id;
	(void)deferred;
	if (bad)
		return bad;
	if (get_str(c, c->req, "container_id", true, POLICY_MAX_ID, &cid) < 0)
		return invalid(c);
	if (!policy_engine_policy(s->engine))
		return server_denial(policy_rule_name(POLICY_RULE_CLOSED), "", "", "",
				     "no policy installed");
	struct agent_container *k = container_find(s, cid);
	if (!k || !k->created)
		return server_error(PROTO_ERR_NOT_FOUND, "start_container: %s was not created "
				    "(create_container is the gated step)", cid);
	if (k->started)
		return server_error(PROTO_ERR_BUSY, "start_container: %s already started", cid);
	if (s->fx.ops->container_start(s->fx.ctx, cid, &c->eb) < 0)
		return server_error(PROTO_ERR_FAILED, "start_container: %s", errbuf_msg(&c->eb));
	k->started = true;
	return server_ok();
}

static struct json_object *h_exec_in_container(struct agent_server *s, uint32_t id,
					       struct req_ctx *c, bool *deferred)
{
	static const char *const allowed[] = { "container_id", "command", "env", "working_dir",
					       "user", "capabilities", "no_new_privileges",
					       "stdio", NULL };
	struct json_object *bad = check_fields(c, allowed);
	struct policy_req_exec_in_container r;
	struct policy_decision d;
	bool want_stdio;
	(void)id;
	(void)deferred;
	if (bad)
		return bad;
	memset(&r, 0, sizeof(r));
	if (get_str(c, c->req, "container_id", true, POLICY_MAX_ID, &r.container_id) < 0 ||
	    get_strv(c, c->req, "command", true, POLICY_MAX_ARGS, POLICY_MAX_STRING,
		     &r.command) < 0 ||
	    get_strv(c, c->req, "env", false, POLICY_MAX_ENV, POLICY_MAX_STRING, &r.env) < 0 ||
	    get_str(c, c->req, "working_dir", false, POLICY_MAX_STRING, &r.working_dir) < 0 ||
	    parse_user(c, &r.user) < 0 || parse_caps(c, &r.caps) < 0 ||
	    get_bool(c, c->req, "no_new_privileges", true, &r.no_new_privileges) < 0 ||
	    get_bool(c, c->req, "stdio", false, &want_stdio) < 0)
		return invalid(c);
	if (r.command.n == 0)
		return server_error(PROTO_ERR_INVALID, "exec_in_container: command: empty");
	if (!r.working_dir)
		r.working_dir = "/";
	int64_t t0 = now_ns();
	int decided = policy_exec_in_container(s->engine, &r, &d);
	c->policy_ns += now_ns() - t0;
	if (decided != 0)
		return server_decision_denial(&d);

	struct json_object *fail = NULL;
	struct agent_container *k = container_find(s, r.container_id);
	char bundle[512], path[640];
	char *spec = NULL;
	struct agent_stdio io;
	int ours[3] = { -1, -1, -1 };
	pid_t pid;
	size_t n_env;
	const char **env = kept_env(c, &r.env, &d, &n_env);
	if (!k || !k->started || k->stopped) {
		fail = server_error(PROTO_ERR_NOT_FOUND, "exec_in_container: %s is not running",
				    r.container_id);
		goto out;
	}
	struct oci_process proc = { .argv = r.command.v, .argc = r.command.n, .env = env,
				    .n_env = n_env, .cwd = r.working_dir, .uid = r.user.uid,
				    .gid = r.user.gid, .umask = r.user.umask,
				    .gids = r.user.additional_gids,
				    .n_gids = r.user.n_additional_gids,
				    .no_new_privileges = r.no_new_privileges };
	memcpy(&proc.caps, &d.caps, sizeof(d.caps));
	bundle_dir(s, r.container_id, bundle, sizeof(bundle));
	snprintf(path, sizeof(path), "%s/exec-%u.json", bundle, s->next_proc_id);
	if (!env || oci_process_build(&proc, &spec, &c->eb) < 0 ||
	    file_write_atomic(path, spec, strlen(spec), 0600, &c->eb) < 0 ||
	    server_stdio_open(&io, ours, want_stdio && d.allow_stdio_access) < 0 ||
	    s->fx.ops->container_exec(s->fx.ctx, r.container_id, path, &io, &pid, &c->eb) < 0) {
		fail = server_error(PROTO_ERR_FAILED, "exec_in_container: %s", errbuf_msg(&c->eb));
		server_stdio_close(&io, ours);
		goto out;
	}
	server_stdio_close(&io, NULL);
	struct agent_proc *p = server_proc_add(s, pid, AGENT_PROC_EXEC, r.container_id,
					       r.command.v, r.command.n, ours);
	if (!p) {
		server_stdio_close(&io, ours);
		s->fx.ops->kill(s->fx.ctx, pid, SIGKILL);
		fail = server_error(PROTO_ERR_FAILED, "out of memory");
		goto out;
	}
	free(spec);
	return started_process(s, p);
out:
	policy_engine_revert(s->engine);
	free(spec);
	return fail;
}

static struct json_object *h_exec_external(struct agent_server *s, uint32_t id,
					   struct req_ctx *c, bool *deferred)
{
	static const char *const allowed[] = { "command", "env", "working_dir", "stdio", NULL };
	struct json_object *bad = check_fields(c, allowed);
	struct policy_req_exec_external r;
	struct policy_decision d;
	bool want_stdio;
	(void)id;
	(void)deferred;
	if (bad)
		return bad;
	memset(&r, 0, sizeof(r));
	if (get_strv(c, c->req, "command", true, POLICY_MAX_ARGS, POLICY_MAX_STRING,
		     &r.command) < 0 ||
	    get_strv(c, c->req, "env", false, POLICY_MAX_ENV, POLICY_MAX_STRING, &r.env) < 0 ||
	    get_str(c, c->req, "working_dir", false, POLICY_MAX_STRING, &r.working_dir) < 0 ||
	    get_bool(c, c->req, "stdio", false, &want_stdio) < 0)
		return invalid(c);
	if (r.command.n == 0)
		return server_error(PROTO_ERR_INVALID, "exec_external: command: empty");
	if (!r.working_dir)
		r.working_dir = "/";
	int64_t t0 = now_ns();
	int decided = policy_exec_external(s->engine, &r, &d);
	c->policy_ns += now_ns() - t0;
	if (decided != 0)
		return server_decision_denial(&d);
	size_t n_env;
	const char **env = kept_env(c, &r.env, &d, &n_env);
	struct agent_stdio io;
	int ours[3] = { -1, -1, -1 };
	pid_t pid;
	if (!env || server_stdio_open(&io, ours, want_stdio && d.allow_stdio_access) < 0 ||
	    s->fx.ops->spawn(s->fx.ctx, r.command.v, env, r.working_dir, &io, &pid, &c->eb) < 0) {
		server_stdio_close(&io, ours);
		policy_engine_revert(s->engine);
		return server_error(PROTO_ERR_FAILED, "exec_external: %s", errbuf_msg(&c->eb));
	}
	server_stdio_close(&io, NULL);
	struct agent_proc *p = server_proc_add(s, pid, AGENT_PROC_EXTERNAL, NULL, r.command.v,
					       r.command.n, ours);
	if (!p) {
		server_stdio_close(&io, ours);
		s->fx.ops->kill(s->fx.ctx, pid, SIGKILL);
		policy_engine_revert(s->engine);
		return server_error(PROTO_ERR_FAILED, "out of memory");
	}
	return started_process(s, p);
}

static struct json_object *h_signal(struct agent_server *s, uint32_t id, struct req_ctx *c,
				    bool *deferred)
{
	static const char *const allowed[] = { "container_id", "process_id", "signal", NULL };
	struct json_object *bad = check_fields(c, allowed);
	struct policy_req_signal_process r = { 0 };
	struct policy_decision d;
	uint64_t pid_field = 0, sig;
	struct json_object *v;
	(void)id;
	(void)deferred;
	if (bad)
		return bad;
	if (get_str(c, c->req, "container_id", true, POLICY_MAX_ID, &r.container_id) < 0 ||
	    get_u64(c, c->req, "process_id", false, UINT32_MAX, &pid_field) < 0 ||
	    get_u64(c, c->req, "signal", true, 64, &sig) < 0)
		return invalid(c);
	if (sig < 1)
		return server_error(PROTO_ERR_INVALID, "signal: signal: must be 1 to 64");
	if (!policy_engine_policy(s->engine))
		return server_denial(policy_rule_name(POLICY_RULE_CLOSED), "", "", "",
				     "no policy installed");
	struct agent_container *k = container_find(s, r.container_id);
	struct agent_proc *p = NULL;
	bool has_pid = json_object_object_get_ex(c->req, "process_id", &v);
	if (k && k->created)
		p = server_proc_find(s, has_pid ? (uint32_t)pid_field : k->init_proc);
	if (!p || strcmp(p->container_id, r.container_id) || p->kind == AGENT_PROC_EXTERNAL)
		return server_error(PROTO_ERR_NOT_FOUND, "signal: no such process in container %s",
				    r.container_id);
	r.signal = (int)sig;
	r.init_process = p->kind == AGENT_PROC_INIT;
	r.command.v = (const char *const *)p->argv;
	r.command.n = p->argc;
	if (policy_signal_process(s->engine, &r, &d) != 0)
		return server_decision_denial(&d);
	if (p->exited)
		return server_error(PROTO_ERR_NOT_FOUND, "signal: process %u has exited", p->id);
	int ret = s->fx.ops->kill(s->fx.ctx, p->pid, (int)sig);
	if (ret < 0) {
		policy_engine_revert(s->engine);
		return server_error(PROTO_ERR_FAILED, "signal: %s", strerror(-ret));
	}
	return server_ok();
}

static struct json_object *h_wait(struct agent_server *s, uint32_t id, struct req_ctx *c,
				  bool *deferred)
{
	static const char *const allowed[] = { "process_id", NULL };
	struct json_object *bad = check_fields(c, allowed);
	uint64_t pid;
	if (bad)
		return bad;
	if (get_u64(c, c->req, "process_id", true, UINT32_MAX, &pid) < 0)
		return invalid(c);
	struct agent_proc *p = server_proc_find(s, (uint32_t)pid);
	if (!p)
		return server_error(PROTO_ERR_NOT_FOUND, "wait: no process %llu",
				    (unsigned long long)pid);
	int ret = server_proc_wait(s, p, id);
	if (ret < 0)
		return server_error(PROTO_ERR_BUSY, "wait: %s", strerror(-ret));
	*deferred = true;
	return NULL;
}

static struct json_object *h_close_stdin(struct agent_server *s, uint32_t id, struct req_ctx *c,
					 bool *deferred)
{
	static const char *const allowed[] = { "process_id", NULL };
	struct json_object *bad = check_fields(c, allowed);
	uint64_t pid;
	(void)id;
	(void)deferred;
	if (bad)
		return bad;
	if (get_u64(c, c->req, "process_id", true, UINT32_MAX, &pid) < 0)
		return invalid(c);
	struct agent_proc *p = server_proc_find(s, (uint32_t)pid);
	if (!p || p->in_fd < 0)
		return server_error(PROTO_ERR_NOT_FOUND, "close_stdin: no open stdin for %llu",
				    (unsigned long long)pid);
	p->in_eof = true;
	if (!p->in_len) {
		close(p->in_fd);
		p->in_fd = -1;
	}
	return server_ok();
}

static struct json_object *h_get_properties(struct agent_server *s, uint32_t id,
					    struct req_ctx *c, bool *deferred)
{
	static const char *const allowed[] = { NULL };
	struct json_object *bad = check_fields(c, allowed);
	struct policy_decision d;
	(void)id;
	(void)deferred;
	if (bad)
		return bad;
	if (policy_get_properties(s->engine, &d) != 0)
		return server_decision_denial(&d);
	struct json_object *o = server_ok(), *cs = json_object_new_array(),
			   *ps = json_object_new_array();
	json_object_object_add(o, "tee", json_object_new_string(server_tee_name(s)));
	json_object_object_add(
		o, "policy_digest",
		json_object_new_string(policy_get_digest(policy_engine_policy(s->engine))->hex));
	for (struct agent_container *k = s->containers; k; k = k->next) {
		struct json_object *e = json_object_new_object();
		const char *state = k->stopped ? "stopped" : k->started ? "running"
					       : k->created	   ? "created"
								   : "rootfs";
		json_object_object_add(e, "id", json_object_new_string(k->id));
		json_object_object_add(e, "state", json_object_new_string(state));
		if (k->created)
			json_object_object_add(e, "init_process_id",
					       json_object_new_int64(k->init_proc));
		if (k->started && !k->stopped)
			s->fx.ops->container_stats(s->fx.ctx, k->id, e);
		json_object_array_add(cs, e);
	}
	for (struct agent_proc *p = s->procs; p; p = p->next) {
		struct json_object *e = json_object_new_object();
		static const char *const kinds[] = { "init", "exec", "external" };
		json_object_object_add(e, "process_id", json_object_new_int64(p->id));
		json_object_object_add(e, "kind", json_object_new_string(kinds[p->kind]));
		if (p->container_id[0])
			json_object_object_add(e, "container_id",
					       json_object_new_string(p->container_id));
		json_object_object_add(e, "running", json_object_new_boolean(!p->exited));
		json_object_array_add(ps, e);
	}
	json_object_object_add(o, "containers", cs);
	json_object_object_add(o, "processes", ps);
	return o;
}

static struct json_object *h_dump_stacks(struct agent_server *s, uint32_t id, struct req_ctx *c,
					 bool *deferred)
{
	static const char *const allowed[] = { NULL };
	struct json_object *bad = check_fields(c, allowed);
	struct policy_decision d;
	char *text = NULL;
	(void)id;
	(void)deferred;
	if (bad)
		return bad;
	if (policy_dump_stacks(s->engine, &d) != 0)
		return server_decision_denial(&d);
	if (s->fx.ops->dump_stacks(s->fx.ctx, &text) < 0 || !text)
		return server_error(PROTO_ERR_FAILED, "dump_stacks: not available");
	struct json_object *o = server_ok();
	json_object_object_add(o, "stacks", json_object_new_string(text));
	free(text);
	return o;
}

static struct json_object *h_shutdown_container(struct agent_server *s, uint32_t id,
						struct req_ctx *c, bool *deferred)
{
	static const char *const allowed[] = { "container_id", "force", NULL };
	struct json_object *bad = check_fields(c, allowed);
	struct policy_req_shutdown_container r;
	struct policy_decision d;
	bool force;
	(void)id;
	(void)deferred;
	if (bad)
		return bad;
	if (get_str(c, c->req, "container_id", true, POLICY_MAX_ID, &r.container_id) < 0 ||
	    get_bool(c, c->req, "force", false, &force) < 0)
		return invalid(c);
	if (policy_shutdown_container(s->engine, &r, &d) != 0)
		return server_decision_denial(&d);
	struct agent_container *k = container_find(s, r.container_id);
	if (!k || !k->created) {
		policy_engine_revert(s->engine);
		return server_error(PROTO_ERR_NOT_FOUND, "shutdown_container: %s was not created",
				    r.container_id);
	}
	struct agent_proc *p = server_proc_find(s, k->init_proc);
	k->shutting_down = true;
	if (p && !p->exited) {
		int ret = s->fx.ops->kill(s->fx.ctx, p->pid, force ? SIGKILL : SIGTERM);
		if (ret < 0 && ret != -ESRCH) {
			k->shutting_down = false;
			policy_engine_revert(s->engine);
			return server_error(PROTO_ERR_FAILED, "shutdown_container: %s",
					    strerror(-ret));
		}
	} else {
		s->fx.ops->container_delete(s->fx.ctx, k->id, &c->eb);
	}
	return server_ok();
}

/* load_fragment: the engine verifies the signed fragment (chain, did:x509, signature, SVN)
 * against the policy's imports; an accepted one is published in the security context. */
static struct json_object *h_load_fragment(struct agent_server *s, uint32_t id, struct req_ctx *c,
					   bool *deferred)
{
	static const char *const allowed[] = { "fragment_base64", NULL };
	struct json_object *bad = check_fields(c, allowed);
	const char *b64;
	struct policy_decision d;
	(void)id;
	(void)deferred;
	if (bad)
		return bad;
	if (get_str(c, c->req, "fragment_base64", true, PROTO_JSON_MAX, &b64) < 0)
		return invalid(c);
	size_t max = POLICY_MAX_REQUEST_BYTES; /* the engine bounds the document itself */
	uint8_t *doc = malloc(max + 3);
	if (!doc)
		return server_error(PROTO_ERR_FAILED, "out of memory");
	long n = base64_decode(b64, doc, max + 3);
	if (n <= 0 || (size_t)n > max) {
		free(doc);
		return server_error(PROTO_ERR_INVALID, "load_fragment: fragment_base64: expected a "
				    "COSE_Sign1 document in base64 (at most %zu bytes)", max);
	}
	struct policy_req_load_fragment r = { doc, (size_t)n };
	if (policy_load_fragment(s->engine, &r, &d) != 0) {
		free(doc);
		return server_decision_denial(&d);
	}
	int ret = server_security_context_add_fragment(s, doc, (size_t)n, &c->eb);
	free(doc);
	if (ret < 0) {
		policy_engine_revert(s->engine);
		return server_error(PROTO_ERR_FAILED, "load_fragment: %s", errbuf_msg(&c->eb));
	}
	struct json_object *o = server_ok();
	json_object_object_add(o, "source", json_object_new_string(d.source));
	return o;
}

static const struct {
	const char *name;
	handler_fn fn;
	/* No engine entry point: the agent itself keeps the door closed before the install
	 * (every other handler asks the engine, which denies while closed). */
	bool agent_closed_check;
} handlers[] = {
	{ PROTO_REQ_PING, h_ping, false },
	{ PROTO_REQ_INSTALL_POLICY, h_install_policy, false },
	{ PROTO_REQ_GET_REPORT, h_get_report, false },
	{ PROTO_REQ_MOUNT_LAYER, h_mount_layer, false },
	{ PROTO_REQ_UNMOUNT, h_unmount, false },
	{ PROTO_REQ_MOUNT_SCRATCH, h_mount_scratch, false },
	{ PROTO_REQ_MOUNT_OVERLAY, h_mount_overlay, false },
	{ PROTO_REQ_CREATE_CONTAINER, h_create_container, false },
	{ PROTO_REQ_START_CONTAINER, h_start_container, true },
	{ PROTO_REQ_EXEC_IN_CONTAINER, h_exec_in_container, false },
	{ PROTO_REQ_EXEC_EXTERNAL, h_exec_external, false },
	{ PROTO_REQ_SIGNAL, h_signal, true },
	{ PROTO_REQ_WAIT, h_wait, true },
	{ PROTO_REQ_CLOSE_STDIN, h_close_stdin, true },
	{ PROTO_REQ_GET_PROPERTIES, h_get_properties, false },
	{ PROTO_REQ_DUMP_STACKS, h_dump_stacks, false },
	{ PROTO_REQ_SHUTDOWN_CONTAINER, h_shutdown_container, false },
	{ PROTO_REQ_LOAD_FRAGMENT, h_load_fragment, false },
};

void server_dispatch(struct agent_server *s, uint32_t id, struct json_object *req)
{
	struct json_object *t, *resp = NULL;
	struct req_ctx c = { .req = req };
	bool deferred = false;

	if (!json_object_object_get_ex(req, "type", &t) || !json_object_is_type(t, json_type_string)) {
		server_answer(s, id, server_error(PROTO_ERR_INVALID, "type: required string "
						  "field missing"));
		return;
	}
	c.type = json_object_get_string(t);
	size_t i, n = sizeof(handlers) / sizeof(handlers[0]);
	for (i = 0; i < n && strcmp(handlers[i].name, c.type); i++)
		;
	if (i == n) {
		char msg[200];
		snprintf(msg, sizeof(msg), "unknown request type \"%.64s\"", c.type);
		resp = server_denial(policy_rule_name(POLICY_RULE_UNKNOWN_REQUEST), "type",
				     "a known request type", "", msg);
	} else if (handlers[i].agent_closed_check && !policy_engine_policy(s->engine)) {
		resp = server_denial(policy_rule_name(POLICY_RULE_CLOSED), "", "a policy",
				     "none installed", "no policy installed yet: closed");
	} else {
		resp = handlers[i].fn(s, id, &c, &deferred);
	}
	if (!deferred && resp && c.policy_ns && json_object_get_boolean(json_object_object_get(resp, "ok")))
		json_object_object_add(resp, "policy_ns", json_object_new_int64(c.policy_ns));
	if (!deferred) {
		server_log(s, "request %s: %s", c.type, resp && json_object_get_boolean(
							   json_object_object_get(resp, "ok"))
								? "allowed"
								: "refused");
		server_answer(s, id, resp);
	}
	for (size_t k = 0; k < c.n_allocs; k++)
		free(c.allocs[k]);
}
