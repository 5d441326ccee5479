/* policy_request: the one JSON form of requests and decisions, shared by the
 * agent's wire protocol and `parma policy explain` (docs/policy.md,
 * "Requests"). Parsing is as strict as the policy parser: unknown fields,
 * wrong types and oversized values are errors naming the field. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/digest.h"
#include "common/encoding.h"
#include "policy/lang/policy.h"
#include "policy/lang/policy_internal.h"
#include "policy/lang/policy_json.h"

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
		ret = policy_jfield_umask(&rp->c, uo, &u->umask);
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
		       bool required, const uint8_t **out, size_t *len)
{
	const char *s = NULL;
	int ret = policy_jfield_string(&rp->c, obj, key, required, (POLICY_MAX_BYTES / 3 + 1) * 4,
				       &s);
	if (ret || !s)
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
	buf[n] = '\0';
	*out = buf;
	*len = (size_t)n;
	return 0;
}

static int r_field_err(struct rparser *rp, const char *key, const char *what)
{
	size_t old = policy_jctx_key(&rp->c, key);
	int ret = policy_jerr(&rp->c, EINVAL, "%s", what);
	policy_jctx_pop(&rp->c, old);
	return ret;
}

/* A container id names directories and a crun container: [A-Za-z0-9][A-Za-z0-9._-]*. */
static int r_container_id(struct rparser *rp, struct json_object *obj, const char **out)
{
	int ret = policy_jfield_string(&rp->c, obj, "container_id", true, POLICY_MAX_ID, out);
	if (ret)
		return ret;
	const char *id = *out;
	bool ok = id[0] != '\0';
	for (size_t i = 0; ok && id[i]; i++) {
		char ch = id[i];
		ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		     (i > 0 && strchr("._-", ch));
	}
	return ok ? 0
		  : r_field_err(rp, "container_id",
				"expected 1-128 of [A-Za-z0-9._-], not starting with . _ -");
}

static int r_target(struct rparser *rp, struct json_object *obj, const char **out)
{
	return policy_jfield_string(&rp->c, obj, "target", true, POLICY_MAX_TARGET, out);
}

/* The path map's entry for a name (policy.h, "The path map"), kept in the request's arena:
 * the typed form carries paths, the wire names things. */
static int r_keep(struct rparser *rp, const char *path, const char **out)
{
	return (*out = policy_arena_strdup(rp->a, path)) ? 0 : room(rp);
}

static bool r_has(struct json_object *obj, const char *key)
{
	return json_object_object_get_ex(obj, key, NULL);
}

/* A layer slot: "layer": N names /run/parma/layers/N. */
static int r_layer_slot(struct rparser *rp, struct json_object *v, const char **out)
{
	uint64_t slot;
	char path[POLICY_MAX_TARGET + 1];
	int ret = policy_ju64(&rp->c, v, POLICY_MAX_STATE_DEVICES - 1, &slot);
	if (ret)
		return ret;
	policy_path_layer(path, sizeof(path), (uint32_t)slot);
	return r_keep(rp, path, out);
}

/* "layer": N, or the compatibility form "target": PATH (which the engine checks against the
 * map). Exactly one. */
static int r_layer_or_target(struct rparser *rp, struct json_object *obj, bool scratch_ok,
			     const char **out)
{
	bool scratch = false;
	int n = r_has(obj, "layer") + r_has(obj, "target") + (scratch_ok && r_has(obj, "scratch"));
	if (n != 1)
		return r_field_err(rp, "layer",
				   scratch_ok ? "expected exactly one of layer, scratch, target"
					      : "expected exactly one of layer, target");
	if (r_has(obj, "target"))
		return r_target(rp, obj, out);
	if (r_has(obj, "scratch")) {
		int ret = policy_jfield_bool(&rp->c, obj, "scratch", &scratch);
		if (!ret && !scratch)
			ret = r_field_err(rp, "scratch", "expected true");
		return ret ? ret : r_keep(rp, POLICY_PATH_SCRATCH, out);
	}
	struct json_object *v;
	json_object_object_get_ex(obj, "layer", &v);
	size_t old = policy_jctx_key(&rp->c, "layer");
	int ret = r_layer_slot(rp, v, out);
	policy_jctx_pop(&rp->c, old);
	return ret;
}

/* A block device the host attached: a plain /dev/ path (it names a device, never a place). */
static int r_device(struct rparser *rp, struct json_object *obj, const char **out)
{
	int ret = policy_jfield_string(&rp->c, obj, "device", false, 128, out);
	if (ret || !*out)
		return ret;
	const char *dev = *out;
	if (strncmp(dev, "/dev/", 5) || !dev[5] || strstr(dev, "..") ||
	    strspn(dev, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-") !=
		    strlen(dev))
		return r_field_err(rp, "device", "expected a /dev/ path of [A-Za-z0-9/._-]");
	return 0;
}

static int r_bool(struct rparser *rp, struct json_object *obj, const char *key, bool dflt,
		  bool *out)
{
	*out = dflt;
	return policy_jfield_bool(&rp->c, obj, key, out);
}

/* working_dir: optional, "/" when absent (the policy's default too). */
static int r_working_dir(struct rparser *rp, struct json_object *obj, const char **out)
{
	*out = NULL;
	int ret = policy_jfield_string(&rp->c, obj, "working_dir", false, POLICY_MAX_STRING, out);
	if (!ret && !*out)
		*out = "/";
	return ret;
}

static int r_resources(struct rparser *rp, struct json_object *obj, struct policy_resources *r)
{
	static const char *const keys[] = {"memory_bytes", "cpu_quota_us", "cpu_period_us",
					   "pids_max", NULL};
	struct json_object *ro;
	memset(r, 0, sizeof(*r));
	int ret = policy_jfield_object(&rp->c, obj, "resources", false, &ro);
	if (ret || !ro)
		return ret;
	size_t old = policy_jctx_key(&rp->c, "resources");
	ret = policy_jobject(&rp->c, ro, keys);
	if (!ret)
		ret = policy_jfield_u64(&rp->c, ro, "memory_bytes", false, 1ull << 50,
					&r->memory_bytes);
	if (!ret)
		ret = policy_jfield_u64(&rp->c, ro, "cpu_quota_us", false, 1ull << 40,
					&r->cpu_quota_us);
	if (!ret)
		ret = policy_jfield_u64(&rp->c, ro, "cpu_period_us", false, 1000000,
					&r->cpu_period_us);
	if (!ret)
		ret = policy_jfield_u64(&rp->c, ro, "pids_max", false, 1u << 22, &r->pids_max);
	policy_jctx_pop(&rp->c, old);
	return ret;
}

/* seccomp_profile: base64 of an OCI linux.seccomp JSON object. The policy names its digest;
 * crun gets exactly these bytes. */
static int r_seccomp(struct rparser *rp, struct json_object *obj,
		     struct policy_req_create_container *r)
{
	int ret = r_bytes_b64(rp, obj, "seccomp_profile", false, &r->seccomp_profile,
			      &r->seccomp_profile_len);
	if (ret || !r->seccomp_profile)
		return ret;
	struct json_object *prof = NULL;
	struct errbuf eb = {0};
	if (!r->seccomp_profile_len ||
	    policy_json_parse((const char *)r->seccomp_profile, r->seccomp_profile_len, &prof,
			      &eb) ||
	    !json_object_is_type(prof, json_type_object)) {
		json_object_put(prof);
		return r_field_err(rp, "seccomp_profile",
				   "expected base64 of an OCI linux.seccomp JSON object");
	}
	json_object_put(prof);
	r->has_seccomp_profile = true;
	digest_sha256(r->seccomp_profile, r->seccomp_profile_len, r->seccomp_profile_sha256);
	return 0;
}

/* One parser per request type; keys lists each type's allowed fields. */
#define REQ_MAX_KEYS 16
struct req_form {
	const char *const keys[REQ_MAX_KEYS];
	int (*parse)(struct rparser *rp, struct json_object *obj, struct policy_request *q);
};

/* "layers": [N, ...], base first: layer slots, each named as its map path. */
static int r_layer_slots(struct rparser *rp, struct json_object *obj, struct policy_strv *out)
{
	struct json_object *arr;
	size_t n;
	out->v = NULL;
	out->n = 0;
	int ret = policy_jfield_array(&rp->c, obj, "layers", true, POLICY_MAX_LAYERS, &arr, &n);
	if (ret || !arr)
		return ret;
	const char **v = policy_arena_alloc(rp->a, (n + 1) * sizeof(*v));
	if (!v)
		return room(rp);
	size_t old = policy_jctx_key(&rp->c, "layers");
	for (size_t i = 0; i < n && !ret; i++) {
		size_t o2 = policy_jctx_index(&rp->c, i);
		ret = r_layer_slot(rp, json_object_array_get_idx(arr, i), &v[i]);
		policy_jctx_pop(&rp->c, o2);
	}
	policy_jctx_pop(&rp->c, old);
	out->v = v;
	out->n = n;
	return ret;
}

static int p_install(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	return r_bytes_b64(rp, o, "policy_base64", true, &q->u.install_policy.policy,
			   &q->u.install_policy.len);
}

static int p_mount_device(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	struct policy_req_mount_device *r = &q->u.mount_device;
	int ret = r_layer_or_target(rp, o, false, &r->target);
	if (!ret)
		ret = r_hash(rp, o, "device_hash", true, NULL, r->device_hash);
	if (!ret) /* the agent needs device and hash_offset to act; a replay may leave them out */
		ret = r_device(rp, o, &r->device);
	if (!ret)
		ret = policy_jfield_u64(&rp->c, o, "hash_offset", false, UINT64_MAX >> 1,
					&r->hash_offset);
	return ret;
}

static int p_unmount_device(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	return r_layer_or_target(rp, o, true, &q->u.unmount_device.target);
}

static int p_mount_scratch(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	struct policy_req_mount_scratch *r = &q->u.mount_scratch;
	int ret = r_has(o, "target") ? r_target(rp, o, &r->target)
				     : r_keep(rp, POLICY_PATH_SCRATCH, &r->target);
	if (!ret)
		ret = r_bool(rp, o, "encrypted", true, &r->encrypted);
	if (!ret)
		ret = r_device(rp, o, &r->device);
	return ret;
}

static int p_mount_overlay(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	struct policy_req_mount_overlay *r = &q->u.mount_overlay;
	char path[POLICY_MAX_TARGET + 1];
	int ret = r_container_id(rp, o, &r->container_id);
	if (!ret && r_has(o, "target"))
		ret = r_target(rp, o, &r->target);
	else if (!ret && policy_path_rootfs(path, sizeof(path), r->container_id))
		ret = r_field_err(rp, "container_id", "no rootfs path for this id");
	else if (!ret)
		ret = r_keep(rp, path, &r->target);
	if (!ret)
		ret = r_has(o, "layers") == r_has(o, "layer_targets")
			      ? r_field_err(rp, "layers",
					    "expected exactly one of layers, layer_targets")
		      : r_has(o, "layer_targets") ? r_strv(rp, o, "layer_targets", true,
							   POLICY_MAX_LAYERS, &r->layer_targets)
						  : r_layer_slots(rp, o, &r->layer_targets);
	struct json_object *sv;
	if (!ret && json_object_object_get_ex(o, "scratch", &sv) &&
	    json_object_is_type(sv, json_type_boolean)) {
		bool scratch = json_object_get_boolean(sv);
		if (scratch)
			ret = r_keep(rp, POLICY_PATH_SCRATCH, &r->scratch);
	} else if (!ret) {
		ret = policy_jfield_string(&rp->c, o, "scratch", false, POLICY_MAX_TARGET,
					   &r->scratch);
	}
	return ret;
}

static int p_unmount_overlay(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	char path[POLICY_MAX_TARGET + 1];
	const char *id;
	if (r_has(o, "target") == r_has(o, "container_id"))
		return r_field_err(rp, "container_id",
				   "expected exactly one of container_id, target");
	if (r_has(o, "target"))
		return r_target(rp, o, &q->u.unmount_overlay.target);
	int ret = r_container_id(rp, o, &id);
	if (!ret && policy_path_rootfs(path, sizeof(path), id))
		ret = r_field_err(rp, "container_id", "no rootfs path for this id");
	return ret ? ret : r_keep(rp, path, &q->u.unmount_overlay.target);
}

/* The fields every process request has (command, env, working_dir) and, for a process in a
 * container (user given), its identity: user, capabilities, no_new_privileges. */
static int r_process(struct rparser *rp, struct json_object *o, struct policy_strv *command,
		     struct policy_strv *env, const char **working_dir, struct policy_user *user,
		     struct policy_caps *caps, bool *no_new_privileges)
{
	int ret = r_command(rp, o, command);
	if (!ret)
		ret = r_env(rp, o, env);
	if (!ret)
		ret = r_working_dir(rp, o, working_dir);
	if (!ret && user)
		ret = r_user(rp, o, user);
	if (!ret && user)
		ret = policy_jfield_caps(&rp->c, o, caps);
	if (!ret && user)
		ret = r_bool(rp, o, "no_new_privileges", true, no_new_privileges);
	return ret;
}

static int p_create(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	struct policy_req_create_container *r = &q->u.create_container;
	int ret = r_container_id(rp, o, &r->container_id);
	if (!ret)
		ret = r_process(rp, o, &r->command, &r->env, &r->working_dir, &r->user, &r->caps,
				&r->no_new_privileges);
	if (!ret)
		ret = r_bool(rp, o, "privileged", false, &r->privileged);
	if (!ret)
		ret = r_mounts(rp, o, r);
	if (!ret)
		ret = r_seccomp(rp, o, r);
	if (!ret)
		ret = r_bool(rp, o, "stdio", false, &r->stdio);
	if (!ret)
		ret = r_resources(rp, o, &r->resources);
	return ret;
}

static int p_exec(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	struct policy_req_exec_in_container *r = &q->u.exec_in_container;
	int ret = r_container_id(rp, o, &r->container_id);
	if (!ret)
		ret = r_process(rp, o, &r->command, &r->env, &r->working_dir, &r->user, &r->caps,
				&r->no_new_privileges);
	if (!ret)
		ret = r_bool(rp, o, "stdio", false, &r->stdio);
	return ret;
}

static int p_external(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	struct policy_req_exec_external *r = &q->u.exec_external;
	int ret = r_process(rp, o, &r->command, &r->env, &r->working_dir, NULL, NULL, NULL);
	if (!ret)
		ret = r_bool(rp, o, "stdio", false, &r->stdio);
	return ret;
}

static int p_signal(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	struct policy_req_signal_process *r = &q->u.signal_process;
	uint64_t sig = 0, pid = 0;
	struct json_object *v;
	int ret = r_container_id(rp, o, &r->container_id);
	if (!ret)
		ret = policy_jfield_u64(&rp->c, o, "signal", true, 64, &sig);
	r->signal = (int)sig;
	if (!ret && sig == 0)
		ret = r_field_err(rp, "signal", "signal numbers are 1..64");
	if (!ret)
		ret = policy_jfield_u64(&rp->c, o, "process_id", false, UINT32_MAX, &pid);
	r->has_process_id = json_object_object_get_ex(o, "process_id", &v);
	r->process_id = (uint32_t)pid;
	/* without process_id: the init process; with one, whoever knows it says (resolve) */
	r->init_process = !r->has_process_id;
	return ret;
}

static int p_shutdown(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	int ret = r_container_id(rp, o, &q->u.shutdown_container.container_id);
	return ret ? ret : r_bool(rp, o, "force", false, &q->u.shutdown_container.force);
}

static int p_start(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	return r_container_id(rp, o, &q->u.start_container.container_id);
}

static int p_process(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	uint64_t pid = 0;
	int ret = policy_jfield_u64(&rp->c, o, "process_id", true, UINT32_MAX, &pid);
	q->u.process.process_id = (uint32_t)pid;
	return ret;
}

static int p_get_report(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	const char *hex = NULL;
	int ret = policy_jfield_string(&rp->c, o, "report_data", false, 128, &hex);
	if (ret || !hex)
		return ret;
	if (strlen(hex) != 128 || hex_decode(hex, q->u.get_report.report_data, 64) < 0)
		return r_field_err(rp, "report_data", "expected 128 hex digits");
	return 0;
}

static int p_none(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	(void)rp, (void)o, (void)q;
	return 0;
}

static int p_fragment(struct rparser *rp, struct json_object *o, struct policy_request *q)
{
	struct policy_req_load_fragment *r = &q->u.load_fragment;
	return r_bytes_b64(rp, o, "fragment_base64", true, &r->fragment, &r->len);
}

static const struct req_form forms[POLICY_REQ_COUNT] = {
	[POLICY_REQ_INSTALL_POLICY] = {{"type", "policy_base64"}, p_install},
	[POLICY_REQ_MOUNT_DEVICE] = {{"type", "layer", "target", "device_hash", "device",
				      "hash_offset"},
				     p_mount_device},
	[POLICY_REQ_UNMOUNT_DEVICE] = {{"type", "layer", "scratch", "target"}, p_unmount_device},
	[POLICY_REQ_MOUNT_SCRATCH] = {{"type", "target", "encrypted", "device"}, p_mount_scratch},
	[POLICY_REQ_MOUNT_OVERLAY] = {{"type", "container_id", "target", "layers", "layer_targets",
				       "scratch"},
				      p_mount_overlay},
	[POLICY_REQ_UNMOUNT_OVERLAY] = {{"type", "container_id", "target"}, p_unmount_overlay},
	[POLICY_REQ_CREATE_CONTAINER] = {{"type", "container_id", "command", "env", "working_dir",
					  "user", "capabilities", "no_new_privileges", "privileged",
					  "mounts", "seccomp_profile", "stdio", "resources"},
					 p_create},
	[POLICY_REQ_EXEC_IN_CONTAINER] = {{"type", "container_id", "command", "env", "working_dir",
					   "user", "capabilities", "no_new_privileges", "stdio"},
					  p_exec},
	[POLICY_REQ_EXEC_EXTERNAL] = {{"type", "command", "env", "working_dir", "stdio"},
				      p_external},
	[POLICY_REQ_SIGNAL_PROCESS] = {{"type", "container_id", "signal", "process_id"}, p_signal},
	[POLICY_REQ_SHUTDOWN_CONTAINER] = {{"type", "container_id", "force"}, p_shutdown},
	[POLICY_REQ_GET_PROPERTIES] = {{"type"}, p_none},
	[POLICY_REQ_DUMP_STACKS] = {{"type"}, p_none},
	[POLICY_REQ_RUNTIME_LOGGING] = {{"type"}, p_none},
	[POLICY_REQ_LOAD_FRAGMENT] = {{"type", "fragment_base64"}, p_fragment},
	[POLICY_REQ_START_CONTAINER] = {{"type", "container_id"}, p_start},
	[POLICY_REQ_WAIT] = {{"type", "process_id"}, p_process},
	[POLICY_REQ_CLOSE_STDIN] = {{"type", "process_id"}, p_process},
	[POLICY_REQ_PING] = {{"type"}, p_none},
	[POLICY_REQ_GET_REPORT] = {{"type", "report_data"}, p_get_report},
};

/* Fields a host must never send: they would bypass the policy if they reached crun. */
static const struct {
	const char *name, *why;
} forbidden_fields[] = {
	{"hooks", "host-supplied OCI hooks are never accepted"},
	{"devices", "host-supplied devices are never accepted"},
	{"annotations", "host-supplied OCI annotations are never accepted"},
	{"oci_spec", "host-supplied OCI specs are never accepted: the agent writes its own"},
	{"spec", "host-supplied OCI specs are never accepted: the agent writes its own"},
};

/* Every member must be one of the type's keys; the error names the first other one. */
static int check_keys(struct rparser *rp, struct json_object *obj, const char *const *keys)
{
	json_object_object_foreach(obj, key, val)
	{
		(void)val;
		bool known = false;
		for (size_t i = 0; i < REQ_MAX_KEYS && keys[i] && !known; i++)
			known = !strcmp(keys[i], key);
		if (known)
			continue;
		char why[128] = "unknown field";
		for (size_t i = 0; i < sizeof(forbidden_fields) / sizeof(forbidden_fields[0]); i++)
			if (!strcmp(forbidden_fields[i].name, key))
				snprintf(why, sizeof(why), "unknown field: %s", forbidden_fields[i].why);
		return r_field_err(rp, key, why);
	}
	return 0;
}

void policy_signal_resolve(struct policy_req_signal_process *r, bool init_process,
			   const char *const *command, size_t n_command)
{
	r->init_process = init_process;
	r->command.v = command;
	r->command.n = init_process ? 0 : n_command;
}

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
	ret = check_keys(&rp, obj, forms[t].keys);
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

void policy_request_denial(struct policy_decision *d, enum policy_request_type type, int err,
			   const struct errbuf *eb)
{
	memset(d, 0, sizeof(*d));
	d->type = type;
	d->reason.rule = err == -ENOTSUP  ? POLICY_RULE_UNKNOWN_REQUEST
			 : err == -ENOMEM ? POLICY_RULE_INTERNAL
					  : POLICY_RULE_MALFORMED_REQUEST;
	snprintf(d->reason.message, sizeof(d->reason.message), "%s", errbuf_msg(eb));
	/* the field is the message's leading JSON path */
	size_t n = strcspn(d->reason.message, ":");
	if (n < sizeof(d->reason.field) && d->reason.message[n])
		memcpy(d->reason.field, d->reason.message, n);
}

int policy_decide_json(struct policy_engine *e, struct json_object *obj, struct policy_decision *d)
{
	struct policy_request req;
	struct errbuf eb = {0};
	int ret = policy_request_from_json(obj, &req, &eb);
	if (ret) {
		policy_request_denial(d, req.type, ret, &eb);
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

/* ---- typed request → JSON (the host's side of the one form) ---- */

static void put_str(struct json_object *o, const char *key, const char *v)
{
	if (v)
		json_object_object_add(o, key, json_object_new_string(v));
}

static void put_strv(struct json_object *o, const char *key, const struct policy_strv *v)
{
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; a && i < v->n; i++)
		json_object_array_add(a, json_object_new_string(v->v[i]));
	json_object_object_add(o, key, a);
}

static void put_bool(struct json_object *o, const char *key, bool v)
{
	json_object_object_add(o, key, json_object_new_boolean(v));
}

static void put_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static void put_hash(struct json_object *o, const char *key, const uint8_t h[POLICY_SHA256_LEN])
{
	char hex[2 * POLICY_SHA256_LEN + 1];
	hex_encode(h, POLICY_SHA256_LEN, hex);
	put_str(o, key, hex);
}

static void put_b64(struct json_object *o, const char *key, const uint8_t *b, size_t n)
{
	char *text = malloc(base64_encoded_len(n));
	if (!text)
		return;
	base64_encode(b, n, text);
	put_str(o, key, text);
	free(text);
}

static void put_user(struct json_object *o, const struct policy_user *u)
{
	struct json_object *uo = json_object_new_object(), *g = json_object_new_array();
	char umask[8];
	snprintf(umask, sizeof(umask), "%04o", u->umask & 0777);
	put_u64(uo, "uid", u->uid);
	put_u64(uo, "gid", u->gid);
	for (size_t i = 0; g && i < u->n_additional_gids; i++)
		json_object_array_add(g, json_object_new_uint64(u->additional_gids[i]));
	json_object_object_add(uo, "additional_gids", g);
	put_str(uo, "umask", umask);
	json_object_object_add(o, "user", uo);
}

static struct json_object *caps_json(const struct policy_caps *c);

static void put_process(struct json_object *o, const struct policy_strv *command,
			const struct policy_strv *env, const char *working_dir)
{
	put_strv(o, "command", command);
	put_strv(o, "env", env);
	put_str(o, "working_dir", working_dir);
}

/* Names where a path is the map's entry for one, the path otherwise (so that a
 * compatibility request reads back equal, and is judged as sent). */
static bool is_scratch(const char *path)
{
	return path && !strcmp(path, POLICY_PATH_SCRATCH);
}

static void put_layer(struct json_object *o, const char *target)
{
	long slot = target ? policy_path_layer_slot(target) : -1;
	if (slot >= 0)
		put_u64(o, "layer", (uint64_t)slot);
	else
		put_str(o, "target", target);
}

static void put_overlay(struct json_object *o, const struct policy_req_mount_overlay *r)
{
	char want[POLICY_MAX_TARGET + 1];
	bool slots = r->layer_targets.n > 0;
	put_str(o, "container_id", r->container_id);
	if (!r->target || !r->container_id ||
	    policy_path_rootfs(want, sizeof(want), r->container_id) || strcmp(want, r->target))
		put_str(o, "target", r->target);
	for (size_t i = 0; i < r->layer_targets.n && slots; i++)
		slots = r->layer_targets.v[i] && policy_path_layer_slot(r->layer_targets.v[i]) >= 0;
	if (slots) {
		struct json_object *a = json_object_new_array();
		for (size_t i = 0; i < r->layer_targets.n; i++)
			json_object_array_add(a, json_object_new_int64(policy_path_layer_slot(
							 r->layer_targets.v[i])));
		json_object_object_add(o, "layers", a);
	} else {
		put_strv(o, "layer_targets", &r->layer_targets);
	}
	if (is_scratch(r->scratch))
		put_bool(o, "scratch", true);
	else
		put_str(o, "scratch", r->scratch);
}

static void put_container_process(struct json_object *o, const struct policy_strv *command,
				  const struct policy_strv *env, const char *working_dir,
				  const struct policy_user *user, const struct policy_caps *caps,
				  bool no_new_privileges)
{
	put_process(o, command, env, working_dir);
	put_user(o, user);
	json_object_object_add(o, "capabilities", caps_json(caps));
	put_bool(o, "no_new_privileges", no_new_privileges);
}

static void put_create(struct json_object *o, const struct policy_req_create_container *r)
{
	put_str(o, "container_id", r->container_id);
	put_container_process(o, &r->command, &r->env, r->working_dir, &r->user, &r->caps,
			      r->no_new_privileges);
	put_bool(o, "privileged", r->privileged);
	struct json_object *ms = json_object_new_array();
	for (size_t i = 0; ms && i < r->n_mounts; i++) {
		const struct policy_mount *m = &r->mounts[i];
		struct json_object *mo = json_object_new_object();
		put_str(mo, "source", m->source);
		put_str(mo, "destination", m->destination);
		put_str(mo, "type", m->type);
		put_strv(mo, "options", &(struct policy_strv){m->options, m->n_options});
		json_object_array_add(ms, mo);
	}
	json_object_object_add(o, "mounts", ms);
	if (r->seccomp_profile)
		put_b64(o, "seccomp_profile", r->seccomp_profile, r->seccomp_profile_len);
	put_bool(o, "stdio", r->stdio);
	const struct policy_resources *res = &r->resources;
	if (res->memory_bytes || res->cpu_quota_us || res->cpu_period_us || res->pids_max) {
		struct json_object *ro = json_object_new_object();
		if (res->memory_bytes)
			put_u64(ro, "memory_bytes", res->memory_bytes);
		if (res->cpu_quota_us)
			put_u64(ro, "cpu_quota_us", res->cpu_quota_us);
		if (res->cpu_period_us)
			put_u64(ro, "cpu_period_us", res->cpu_period_us);
		if (res->pids_max)
			put_u64(ro, "pids_max", res->pids_max);
		json_object_object_add(o, "resources", ro);
	}
}

struct json_object *policy_request_to_json(const struct policy_request *q)
{
	if ((unsigned)q->type >= POLICY_REQ_COUNT)
		return NULL;
	struct json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	put_str(o, "type", policy_request_type_name(q->type));
	switch (q->type) {
	case POLICY_REQ_INSTALL_POLICY:
		put_b64(o, "policy_base64", q->u.install_policy.policy, q->u.install_policy.len);
		break;
	case POLICY_REQ_MOUNT_DEVICE:
		put_str(o, "device", q->u.mount_device.device);
		put_layer(o, q->u.mount_device.target);
		put_hash(o, "device_hash", q->u.mount_device.device_hash);
		put_u64(o, "hash_offset", q->u.mount_device.hash_offset);
		break;
	case POLICY_REQ_UNMOUNT_DEVICE:
		if (is_scratch(q->u.unmount_device.target))
			put_bool(o, "scratch", true);
		else
			put_layer(o, q->u.unmount_device.target);
		break;
	case POLICY_REQ_MOUNT_SCRATCH:
		put_str(o, "device", q->u.mount_scratch.device);
		if (!is_scratch(q->u.mount_scratch.target))
			put_str(o, "target", q->u.mount_scratch.target);
		put_bool(o, "encrypted", q->u.mount_scratch.encrypted);
		break;
	case POLICY_REQ_MOUNT_OVERLAY:
		put_overlay(o, &q->u.mount_overlay);
		break;
	case POLICY_REQ_UNMOUNT_OVERLAY: {
		char id[POLICY_MAX_ID + 1];
		if (q->u.unmount_overlay.target &&
		    !policy_path_rootfs_id(q->u.unmount_overlay.target, id, sizeof(id)))
			put_str(o, "container_id", id);
		else
			put_str(o, "target", q->u.unmount_overlay.target);
		break;
	}
	case POLICY_REQ_CREATE_CONTAINER:
		put_create(o, &q->u.create_container);
		break;
	case POLICY_REQ_EXEC_IN_CONTAINER: {
		const struct policy_req_exec_in_container *r = &q->u.exec_in_container;
		put_str(o, "container_id", r->container_id);
		put_container_process(o, &r->command, &r->env, r->working_dir, &r->user, &r->caps,
				      r->no_new_privileges);
		put_bool(o, "stdio", r->stdio);
		break;
	}
	case POLICY_REQ_EXEC_EXTERNAL:
		put_process(o, &q->u.exec_external.command, &q->u.exec_external.env,
			    q->u.exec_external.working_dir);
		put_bool(o, "stdio", q->u.exec_external.stdio);
		break;
	case POLICY_REQ_SIGNAL_PROCESS:
		put_str(o, "container_id", q->u.signal_process.container_id);
		put_u64(o, "signal", (uint64_t)q->u.signal_process.signal);
		if (q->u.signal_process.has_process_id)
			put_u64(o, "process_id", q->u.signal_process.process_id);
		break;
	case POLICY_REQ_SHUTDOWN_CONTAINER:
		put_str(o, "container_id", q->u.shutdown_container.container_id);
		if (q->u.shutdown_container.force)
			put_bool(o, "force", true);
		break;
	case POLICY_REQ_LOAD_FRAGMENT:
		put_b64(o, "fragment_base64", q->u.load_fragment.fragment, q->u.load_fragment.len);
		break;
	case POLICY_REQ_START_CONTAINER:
		put_str(o, "container_id", q->u.start_container.container_id);
		break;
	case POLICY_REQ_WAIT:
	case POLICY_REQ_CLOSE_STDIN:
		put_u64(o, "process_id", q->u.process.process_id);
		break;
	case POLICY_REQ_GET_REPORT: {
		char hex[129];
		hex_encode(q->u.get_report.report_data, 64, hex);
		put_str(o, "report_data", hex);
		break;
	}
	default:
		break;
	}
	return o;
}
