/* policy_engine: the enforcement points. Every entry point first checks the
 * request against the policy and the recorded state without touching
 * anything, and only when it is allowed records the new state (saving what
 * it overwrote, so policy_engine_revert() can undo it if the agent's effect
 * fails). A denial therefore never changes the state.
 *
 * Container matching follows Parma's framework: a container id's candidate
 * policy containers are fixed by its overlay (layers must equal a
 * container's layers exactly, base first) and narrowed by every later
 * request for that id. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/digest.h"
#include "common/encoding.h"
#include "policy/cose/cose_sign1.h"
#include "policy/lang/policy.h"
#include "policy/lang/policy_engine_internal.h"
#include "policy/lang/policy_internal.h"

/* ---- request well-formedness (the typed API is used directly by the agent,
 * so the engine re-checks what the JSON parser checks) ---- */

bool engine_str_ok(const char *s, size_t max)
{
	return s && strnlen(s, max + 1) <= max;
}

bool engine_strv_ok(const struct policy_strv *v, size_t max_n)
{
	if (v->n > max_n || (v->n && !v->v))
		return false;
	for (size_t i = 0; i < v->n; i++)
		if (!engine_str_ok(v->v[i], POLICY_MAX_STRING))
			return false;
	return true;
}

bool engine_env_ok(const struct policy_strv *env)
{
	if (!engine_strv_ok(env, POLICY_MAX_ENV))
		return false;
	for (size_t i = 0; i < env->n; i++)
		if (env->v[i][0] == '=' || !strchr(env->v[i], '='))
			return false;
	return true;
}

bool engine_user_ok(const struct policy_user *u)
{
	return u->n_additional_gids <= POLICY_MAX_GROUPS &&
	       (!u->n_additional_gids || u->additional_gids) && u->umask <= 0777;
}

bool engine_id_ok(const char *id)
{
	if (!engine_str_ok(id, POLICY_MAX_ID) || !id[0])
		return false;
	for (const char *p = id; *p; p++) {
		bool alnum = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9');
		if (!alnum && (p == id || !strchr("._-", *p)))
			return false;
	}
	return true;
}

int engine_malformed(struct policy_decision *d, const char *field, const char *what)
{
	return engine_deny(d, POLICY_RULE_MALFORMED_REQUEST, field, NULL, NULL, "%s: %s", field,
			   what);
}

/* Mount targets end up in mount options (overlayfs "lowerdir=a:b,upperdir=...")
 * and device-mapper names: only letters, digits, '.', '_', '-' and '/'. */
static bool path_chars_plain(const char *p)
{
	return strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/") ==
	       strlen(p);
}

/* A guest mount target: normalised, absolute, strictly below POLICY_MOUNT_ROOT,
 * plain characters only. */
static int check_target(struct policy_decision *d, const char *field, const char *target)
{
	if (!engine_str_ok(target, POLICY_MAX_TARGET))
		return engine_malformed(d, field, "missing or longer than 255 bytes");
	size_t root = strlen(POLICY_MOUNT_ROOT);
	if (!policy_path_is_normalised(target) || strncmp(target, POLICY_MOUNT_ROOT, root) ||
	    !target[root] || !path_chars_plain(target))
		return engine_deny(
			d, POLICY_RULE_TARGET_PATH, field,
			"a normalised path of [A-Za-z0-9._/-] below " POLICY_MOUNT_ROOT, target,
			"mount target is not a normalised path of plain characters below %s",
			POLICY_MOUNT_ROOT);
	return engine_check_not_agent_state(d, field, target);
}

/* check_target, then the path map's entry for the kind of thing the target names. */
static int check_target_kind(struct policy_decision *d, const char *field, const char *target,
			     enum engine_path_kind kind, const char *id)
{
	int ret = check_target(d, field, target);
	return ret ? ret : engine_check_kind(d, field, target, kind, id);
}

static int check_target_free(struct policy_engine *e, struct policy_decision *d, const char *field,
			     const char *target)
{
	for (size_t i = 0; i < e->dev_hw; i++)
		if (e->devs[i].used && policy_path_overlap(e->devs[i].target, target))
			return engine_deny(d, POLICY_RULE_TARGET_IN_USE, field, "a free target",
					   target, "target overlaps the mount at %s",
					   e->devs[i].target);
	for (size_t i = 0; i < e->ctr_hw; i++)
		if (e->ctrs[i].used && policy_path_overlap(e->ctrs[i].target, target))
			return engine_deny(d, POLICY_RULE_TARGET_IN_USE, field, "a free target",
					   target,
					   "target overlaps the overlay of container %s at %s",
					   e->ctrs[i].id, e->ctrs[i].target);
	return 0;
}

/* ---- state slots and undo ---- */

/* Forget the undo record, releasing arrays only it still references. */
static void undo_forget(struct policy_engine *e)
{
	if (e->undo.kind == UNDO_FRAGMENT) {
		if (e->undo.old_containers != (e->policy ? e->policy->containers : NULL))
			free(e->undo.old_containers);
		if (e->undo.old_externals != (e->policy ? e->policy->externals : NULL))
			free(e->undo.old_externals);
	}
	e->undo.kind = UNDO_NONE;
	e->undo.retired = false;
}

void engine_undo_clear(struct policy_engine *e)
{
	undo_forget(e);
}

static void undo_save_dev(struct policy_engine *e, size_t slot)
{
	undo_forget(e);
	e->undo.kind = UNDO_DEV;
	e->undo.slot = slot;
	e->undo.old.dev = e->devs[slot];
	e->undo.old_hw = e->dev_hw;
}

void engine_undo_save_ctr(struct policy_engine *e, size_t slot)
{
	undo_forget(e);
	e->undo.kind = UNDO_CTR;
	e->undo.slot = slot;
	e->undo.old.ctr = e->ctrs[slot];
	e->undo.old_hw = e->ctr_hw;
}

static long dev_find(const struct policy_engine *e, const char *target)
{
	for (size_t i = 0; i < e->dev_hw; i++)
		if (e->devs[i].used && !strcmp(e->devs[i].target, target))
			return (long)i;
	return -1;
}

static long dev_free_slot(const struct policy_engine *e)
{
	for (size_t i = 0; i < POLICY_MAX_STATE_DEVICES; i++)
		if (!e->devs[i].used)
			return (long)i;
	return -1;
}

long engine_ctr_find_id(const struct policy_engine *e, const char *id)
{
	for (size_t i = 0; i < e->ctr_hw; i++)
		if (e->ctrs[i].used && !strcmp(e->ctrs[i].id, id))
			return (long)i;
	return -1;
}

static long ctr_find_target(const struct policy_engine *e, const char *target)
{
	for (size_t i = 0; i < e->ctr_hw; i++)
		if (e->ctrs[i].used && !strcmp(e->ctrs[i].target, target))
			return (long)i;
	return -1;
}

/* ---- retired container ids (sorted) ---- */

static size_t retired_pos(const struct policy_engine *e, const char *id, bool *found)
{
	size_t lo = 0, hi = e->n_retired;
	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(e->retired[mid], id);
		if (!c) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool id_retired(const struct policy_engine *e, const char *id)
{
	bool found;
	retired_pos(e, id, &found);
	return found;
}

/* Add id (not yet retired): 0, or -ENOMEM with nothing changed. */
static int retired_add(struct policy_engine *e, const char *id)
{
	bool found;
	size_t pos = retired_pos(e, id, &found);
	if (e->n_retired == e->cap_retired) {
		size_t cap = e->cap_retired ? 2 * e->cap_retired : 64;
		char **v = realloc(e->retired, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		e->retired = v;
		e->cap_retired = cap;
	}
	char *copy = strdup(id);
	if (!copy)
		return -ENOMEM;
	memmove(&e->retired[pos + 1], &e->retired[pos], (e->n_retired - pos) * sizeof(char *));
	e->retired[pos] = copy;
	e->n_retired++;
	return 0;
}

static void retired_remove(struct policy_engine *e, const char *id)
{
	bool found;
	size_t pos = retired_pos(e, id, &found);
	if (!found)
		return;
	free(e->retired[pos]);
	memmove(&e->retired[pos], &e->retired[pos + 1], (e->n_retired - pos - 1) * sizeof(char *));
	e->n_retired--;
}

static long ctr_free_slot(const struct policy_engine *e)
{
	for (size_t i = 0; i < POLICY_MAX_STATE_CONTAINERS; i++)
		if (!e->ctrs[i].used)
			return (long)i;
	return -1;
}

/* ---- engine life ---- */

struct policy_engine *policy_engine_new(void)
{
	struct policy_engine *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->devs = calloc(POLICY_MAX_STATE_DEVICES, sizeof(*e->devs));
	e->ctrs = calloc(POLICY_MAX_STATE_CONTAINERS, sizeof(*e->ctrs));
	if (!e->devs || !e->ctrs || policy_regex_matcher_init(&e->rm)) {
		policy_engine_free(e);
		return NULL;
	}
	return e;
}

void policy_engine_free(struct policy_engine *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n_frags; i++)
		policy_free(e->frags[i].doc);
	undo_forget(e);
	free(e->merged_containers);
	free(e->merged_externals);
	policy_free(e->policy);
	free(e->devs);
	free(e->ctrs);
	for (size_t i = 0; i < e->n_retired; i++)
		free(e->retired[i]);
	free(e->retired);
	policy_regex_matcher_fini(&e->rm);
	free(e);
}

const struct policy *policy_engine_policy(const struct policy_engine *e)
{
	return e->policy;
}

/* Common entry: closed engines deny everything; debug policies allow it. */
int engine_begin(struct policy_engine *e, struct policy_decision *d, enum policy_request_type t,
		 bool *debug)
{
	engine_decision_init(d, t);
	*debug = false;
	if (!e->policy)
		return engine_deny(d, POLICY_RULE_CLOSED, NULL, "an installed policy", NULL,
				   "no policy is installed: every request is denied");
	policy_regex_matcher_reset(&e->rm);
	*debug = e->policy->debug;
	return 0;
}

int engine_allow_debug(struct policy_decision *d)
{
	d->debug = true;
	return engine_allow(d);
}

int policy_engine_install(struct policy_engine *e, const struct policy_req_install_policy *r,
			  struct policy_decision *d)
{
	struct errbuf eb = {0};
	struct policy_digest dg;
	engine_decision_init(d, POLICY_REQ_INSTALL_POLICY);
	if (e->policy)
		return engine_deny(d, POLICY_RULE_ALREADY_INSTALLED, NULL, NULL, NULL,
				   "a policy is already installed; it can be installed only once");
	if (!r->policy && r->len)
		return engine_malformed(d, "policy", "missing");
	if (r->len > POLICY_MAX_BYTES)
		return engine_deny(d, POLICY_RULE_INVALID_POLICY, "policy", NULL, NULL,
				   "policy is larger than %u bytes", POLICY_MAX_BYTES);
	if (!r->host_data)
		return engine_deny(d, POLICY_RULE_HOST_DATA, "host_data",
				   "HOST_DATA from an attestation report", NULL,
				   "no HOST_DATA to check the policy against");
	int ret = policy_digest(r->policy ? r->policy : (const uint8_t *)"", r->len, &dg);
	if (ret) {
		engine_deny(d, POLICY_RULE_INTERNAL, NULL, NULL, NULL, "SHA-256 failed");
		return ret;
	}
	if (memcmp(dg.sha256, r->host_data, POLICY_SHA256_LEN)) {
		char want[65];
		engine_render_hash(want, sizeof(want), r->host_data);
		return engine_deny(d, POLICY_RULE_HOST_DATA, "policy", want, dg.hex,
				   "SHA-256 of the policy differs from HOST_DATA");
	}
	struct policy *p;
	ret = policy_load(r->policy ? r->policy : (const uint8_t *)"", r->len, &p, &eb);
	if (ret == -ENOMEM) {
		engine_deny(d, POLICY_RULE_INTERNAL, NULL, NULL, NULL, "out of memory");
		return ret;
	}
	if (ret)
		return engine_deny(d, POLICY_RULE_INVALID_POLICY, "policy", NULL, NULL, "%s",
				   errbuf_msg(&eb));
	e->policy = p;
	e->containers = p->containers;
	e->n_containers = p->n_containers;
	e->externals = p->externals;
	e->n_externals = p->n_externals;
	for (size_t i = 0; i < p->n_fragments; i++)
		e->imports[e->n_imports++] = (struct import_ref){&p->fragments[i], -1};
	engine_undo_clear(e);
	d->debug = p->debug;
	return engine_allow(d);
}

/* ---- mount_device / unmount_device / mount_scratch ---- */

static bool hash_in_policy(const struct policy_engine *e, const uint8_t h[POLICY_SHA256_LEN])
{
	for (size_t i = 0; i < e->n_containers; i++)
		for (size_t j = 0; !e->containers[i].retired && j < e->containers[i].n_layers; j++)
			if (!memcmp(e->containers[i].layers[j], h, POLICY_SHA256_LEN))
				return true;
	return false;
}

static int add_device(struct policy_engine *e, struct policy_decision *d, const char *target,
		      const uint8_t *hash, bool scratch, bool encrypted)
{
	long slot = dev_free_slot(e);
	if (slot < 0)
		return engine_deny(d, POLICY_RULE_STATE_FULL, "target", NULL, NULL,
				   "more than %d devices mounted", POLICY_MAX_STATE_DEVICES);
	undo_save_dev(e, (size_t)slot);
	struct dev_entry *dev = &e->devs[slot];
	memset(dev, 0, sizeof(*dev));
	dev->used = true;
	dev->scratch = scratch;
	dev->encrypted = encrypted;
	if (hash)
		memcpy(dev->hash, hash, POLICY_SHA256_LEN);
	snprintf(dev->target, sizeof(dev->target), "%s", target);
	if ((size_t)slot >= e->dev_hw)
		e->dev_hw = (size_t)slot + 1;
	return engine_allow(d);
}

int policy_mount_device(struct policy_engine *e, const struct policy_req_mount_device *r,
			struct policy_decision *d)
{
	bool debug;
	int ret = engine_begin(e, d, POLICY_REQ_MOUNT_DEVICE, &debug);
	if (ret)
		return ret;
	if ((ret = check_target_kind(d, "target", r->target, ENGINE_PATH_LAYER, NULL)))
		return ret;
	if (debug)
		return engine_allow_debug(d);
	if ((ret = check_target_free(e, d, "target", r->target)))
		return ret;
	if (!hash_in_policy(e, r->device_hash)) {
		char got[65];
		engine_render_hash(got, sizeof(got), r->device_hash);
		return engine_deny(d, POLICY_RULE_DEVICE_HASH, "device_hash",
				   "the root hash of a layer in the policy", got,
				   "no container in the policy has a layer with this root hash");
	}
	return add_device(e, d, r->target, r->device_hash, false, false);
}

/* An overlay uses its layer devices and the scratch disk its writable layer is on. */
static bool device_used_by_overlay(const struct policy_engine *e, size_t slot)
{
	for (size_t i = 0; i < e->ctr_hw; i++) {
		const struct ctr_entry *ce = &e->ctrs[i];
		if (ce->used && ce->has_scratch && ce->scratch_dev == slot)
			return true;
		for (size_t j = 0; ce->used && j < ce->n_layers; j++)
			if (ce->layer_dev[j] == slot)
				return true;
	}
	return false;
}

int policy_unmount_device(struct policy_engine *e, const struct policy_req_unmount_device *r,
			  struct policy_decision *d)
{
	bool debug;
	int ret = engine_begin(e, d, POLICY_REQ_UNMOUNT_DEVICE, &debug);
	if (ret)
		return ret;
	if ((ret = check_target(d, "target", r->target)))
		return ret;
	if (debug)
		return engine_allow_debug(d);
	long slot = dev_find(e, r->target);
	if (slot < 0)
		return engine_deny(d, POLICY_RULE_NO_DEVICE, "target", "a mounted device",
				   r->target, "no device is mounted at this target");
	if (device_used_by_overlay(e, (size_t)slot))
		return engine_deny(d, POLICY_RULE_DEVICE_IN_USE, "target", NULL, r->target,
				   e->devs[slot].scratch
					   ? "a container overlay's writable layer is on this scratch"
					   : "a container overlay still uses this layer");
	undo_save_dev(e, (size_t)slot);
	e->devs[slot].used = false;
	return engine_allow(d);
}

int policy_mount_scratch(struct policy_engine *e, const struct policy_req_mount_scratch *r,
			 struct policy_decision *d)
{
	bool debug;
	int ret = engine_begin(e, d, POLICY_REQ_MOUNT_SCRATCH, &debug);
	if (ret)
		return ret;
	if ((ret = check_target_kind(d, "target", r->target, ENGINE_PATH_SCRATCH, NULL)))
		return ret;
	if (debug)
		return engine_allow_debug(d);
	if (!r->encrypted && !e->policy->flags.allow_unencrypted_scratch)
		return engine_deny(d, POLICY_RULE_SCRATCH_UNENCRYPTED, "encrypted", "true", "false",
				   "the policy does not allow unencrypted scratch");
	if ((ret = check_target_free(e, d, "target", r->target)))
		return ret;
	return add_device(e, d, r->target, NULL, true, r->encrypted);
}

/* ---- mount_overlay / unmount_overlay ---- */

int policy_mount_overlay(struct policy_engine *e, const struct policy_req_mount_overlay *r,
			 struct policy_decision *d)
{
	bool debug;
	char field[64];
	int ret = engine_begin(e, d, POLICY_REQ_MOUNT_OVERLAY, &debug);
	if (ret)
		return ret;
	if (!engine_id_ok(r->container_id))
		return engine_malformed(
			d, "container_id",
			"expected 1-128 of [A-Za-z0-9._-], not starting with . _ -");
	if ((ret = check_target_kind(d, "target", r->target, ENGINE_PATH_ROOTFS, r->container_id)))
		return ret;
	if (r->layer_targets.n == 0 || r->layer_targets.n > POLICY_MAX_LAYERS ||
	    !r->layer_targets.v)
		return engine_malformed(d, "layer_targets", "expected 1 to 128 layer targets");
	for (size_t i = 0; i < r->layer_targets.n; i++) {
		snprintf(field, sizeof(field), "layer_targets[%zu]", i);
		if ((ret = check_target_kind(d, field, r->layer_targets.v[i], ENGINE_PATH_LAYER,
					     NULL)))
			return ret;
	}
	if (r->scratch &&
	    (ret = check_target_kind(d, "scratch", r->scratch, ENGINE_PATH_SCRATCH, NULL)))
		return ret;
	if (debug)
		return engine_allow_debug(d);
	long scratch_slot = -1;
	if (r->scratch) {
		scratch_slot = dev_find(e, r->scratch);
		if (scratch_slot < 0 || !e->devs[scratch_slot].scratch)
			return engine_deny(d, POLICY_RULE_NO_DEVICE, "scratch", "a mounted scratch",
					   r->scratch, "no scratch is mounted at this target");
	}
	if (engine_ctr_find_id(e, r->container_id) >= 0)
		return engine_deny(d, POLICY_RULE_OVERLAY_EXISTS, "container_id", NULL,
				   r->container_id, "this container id already has an overlay");
	if (id_retired(e, r->container_id))
		return engine_deny(
			d, POLICY_RULE_ID_REUSED, "container_id", "an unused id", r->container_id,
			"container %s was shut down; a container id is used once", r->container_id);
	if ((ret = check_target_free(e, d, "target", r->target)))
		return ret;
	uint16_t slots[POLICY_MAX_LAYERS];
	for (size_t i = 0; i < r->layer_targets.n; i++) {
		snprintf(field, sizeof(field), "layer_targets[%zu]", i);
		long s = dev_find(e, r->layer_targets.v[i]);
		if (s < 0 || e->devs[s].scratch)
			return engine_deny(d, POLICY_RULE_NO_DEVICE, field,
					   "a mounted layer device", r->layer_targets.v[i],
					   "no layer device is mounted at this target");
		for (size_t j = 0; j < i; j++)
			if (slots[j] == s)
				return engine_deny(d, POLICY_RULE_OVERLAY_LAYERS, field, NULL,
						   r->layer_targets.v[i],
						   "layer target listed twice");
		slots[i] = (uint16_t)s;
	}
	struct cands c = {0};
	for (size_t i = 0; i < e->n_containers; i++) {
		const struct container_rule *cr = &e->containers[i];
		bool eq = !cr->retired && cr->n_layers == r->layer_targets.n;
		for (size_t j = 0; eq && j < cr->n_layers; j++)
			eq = !memcmp(cr->layers[j], e->devs[slots[j]].hash, POLICY_SHA256_LEN);
		if (eq)
			cands_set(&c, i);
	}
	if (cands_empty(&c)) {
		char got[POLICY_REASON_TEXT];
		struct text t = {got, sizeof(got), 0};
		got[0] = '\0';
		for (size_t i = 0; i < r->layer_targets.n; i++) {
			char h[65];
			engine_render_hash(h, sizeof(h), e->devs[slots[i]].hash);
			engine_text_str(&t, i ? ", " : "");
			engine_text_add(&t, h, 12);
		}
		return engine_deny(d, POLICY_RULE_OVERLAY_LAYERS, "layer_targets",
				   "exactly the layers of a policy container, base first", got,
				   "the layer order does not equal any policy container's layers");
	}
	long slot = ctr_free_slot(e);
	if (slot < 0)
		return engine_deny(d, POLICY_RULE_STATE_FULL, "container_id", NULL, NULL,
				   "more than %d containers", POLICY_MAX_STATE_CONTAINERS);
	engine_undo_save_ctr(e, (size_t)slot);
	struct ctr_entry *ce = &e->ctrs[slot];
	memset(ce, 0, sizeof(*ce));
	ce->used = true;
	snprintf(ce->id, sizeof(ce->id), "%s", r->container_id);
	snprintf(ce->target, sizeof(ce->target), "%s", r->target);
	ce->n_layers = (uint16_t)r->layer_targets.n;
	memcpy(ce->layer_dev, slots, r->layer_targets.n * sizeof(slots[0]));
	ce->has_scratch = scratch_slot >= 0;
	ce->scratch_dev = scratch_slot >= 0 ? (uint16_t)scratch_slot : 0;
	ce->cands = c;
	if ((size_t)slot >= e->ctr_hw)
		e->ctr_hw = (size_t)slot + 1;
	engine_note_source(e, d, &c, false);
	return engine_allow(d);
}

int policy_unmount_overlay(struct policy_engine *e, const struct policy_req_unmount_overlay *r,
			   struct policy_decision *d)
{
	bool debug;
	int ret = engine_begin(e, d, POLICY_REQ_UNMOUNT_OVERLAY, &debug);
	if (ret)
		return ret;
	if ((ret = check_target(d, "target", r->target)))
		return ret;
	if (debug)
		return engine_allow_debug(d);
	long slot = ctr_find_target(e, r->target);
	if (slot < 0)
		return engine_deny(d, POLICY_RULE_NO_OVERLAY, "target", "a mounted overlay",
				   r->target, "no overlay is mounted at this target");
	if (e->ctrs[slot].started)
		return engine_deny(d, POLICY_RULE_OVERLAY_IN_USE, "target", NULL, e->ctrs[slot].id,
				   "container %s is running on this overlay", e->ctrs[slot].id);
	/* a container that ran retires its id with its overlay */
	bool retire = e->ctrs[slot].shut_down;
	if (retire && e->n_retired >= POLICY_MAX_RETIRED_IDS)
		return engine_deny(d, POLICY_RULE_STATE_FULL, "target", NULL, NULL,
				   "more than %d container ids used", POLICY_MAX_RETIRED_IDS);
	if (retire && retired_add(e, e->ctrs[slot].id)) {
		engine_deny(d, POLICY_RULE_INTERNAL, NULL, NULL, NULL, "out of memory");
		return -ENOMEM;
	}
	engine_undo_save_ctr(e, (size_t)slot);
	e->undo.retired = retire;
	e->ctrs[slot].used = false;
	return engine_allow(d);
}

static int flag_point(struct policy_engine *e, struct policy_decision *d,
		      enum policy_request_type t, size_t flag_off, enum policy_rule rule,
		      const char *flag)
{
	bool debug;
	int ret = engine_begin(e, d, t, &debug);
	if (ret)
		return ret;
	if (debug)
		return engine_allow_debug(d);
	if (!*(const bool *)((const char *)&e->policy->flags + flag_off))
		return engine_deny(d, rule, NULL, flag, NULL, "the policy does not set %s", flag);
	engine_undo_clear(e);
	return engine_allow(d);
}

int policy_get_properties(struct policy_engine *e, struct policy_decision *d)
{
	return flag_point(e, d, POLICY_REQ_GET_PROPERTIES,
			  offsetof(struct policy_flags, allow_properties_access),
			  POLICY_RULE_PROPERTIES, "allow_properties_access");
}

int policy_dump_stacks(struct policy_engine *e, struct policy_decision *d)
{
	return flag_point(e, d, POLICY_REQ_DUMP_STACKS,
			  offsetof(struct policy_flags, allow_dump_stacks), POLICY_RULE_DUMP_STACKS,
			  "allow_dump_stacks");
}

int policy_runtime_logging(struct policy_engine *e, struct policy_decision *d)
{
	return flag_point(e, d, POLICY_REQ_RUNTIME_LOGGING,
			  offsetof(struct policy_flags, allow_runtime_logging),
			  POLICY_RULE_RUNTIME_LOGGING, "allow_runtime_logging");
}

/* ---- fragments ---- */

static void *concat(const void *a, size_t na, const void *b, size_t nb, size_t size)
{
	void *v = malloc((na + nb + 1) * size);
	if (!v)
		return NULL;
	if (na)
		memcpy(v, a, na * size);
	if (nb)
		memcpy((char *)v + na * size, b, nb * size);
	return v;
}

static bool import_in_force(const struct policy_engine *e, const struct import_ref *ir)
{
	return ir->from < 0 || !e->frags[ir->from].superseded;
}

/* The loaded, not superseded fragment of this issuer and feed, or -1. */
static long frag_current(const struct policy_engine *e, const char *issuer, const char *feed)
{
	for (size_t i = 0; i < e->n_frags; i++)
		if (!e->frags[i].superseded && !strcmp(e->frags[i].src->issuer, issuer) &&
		    !strcmp(e->frags[i].src->feed, feed))
			return (long)i;
	return -1;
}

static int frag_deny(struct policy_decision *d, const char *field, const char *expected,
		     const char *got, const char *msg)
{
	return engine_deny(d, POLICY_RULE_FRAGMENT, field, expected, got, "%s", msg);
}

/* Which rule of the fragment would widen what the import allows, or NULL. */
static const char *fragment_widens(const struct policy *f, const struct fragment_import *imp,
				   char *field, size_t size)
{
	for (size_t i = 0; i < f->n_containers; i++) {
		if (f->containers[i].allow_stdio_access && !imp->allow_stdio_access) {
			snprintf(field, size, "containers[%zu].allow_stdio_access", i);
			return "stdio access";
		}
		if (f->containers[i].allow_elevated && !imp->allow_elevated) {
			snprintf(field, size, "containers[%zu].allow_elevated", i);
			return "privileged containers";
		}
	}
	for (size_t i = 0; i < f->n_externals; i++)
		if (f->externals[i].allow_stdio_access && !imp->allow_stdio_access) {
			snprintf(field, size, "external_processes[%zu].allow_stdio_access", i);
			return "stdio access";
		}
	return NULL;
}

/* The payload names the issuer, feed and SVN the signed headers carry, and holds only what
 * the import includes. Returns the field at fault (*why says how), or NULL. */
static const char *fragment_mismatch(const struct policy *f, const struct rule_source *rs,
				     const struct cose_sign1 *m, const struct fragment_import *imp,
				     const char **why)
{
	static const char *const differs = "differs from the signed header";
	static const char *const excluded = "not in the import's includes";
	const struct {
		bool bad;
		const char *field, *why;
	} checks[] = {
		{strcmp(rs->issuer, m->issuer) != 0, "fragment.issuer", differs},
		{strcmp(rs->feed, m->feed) != 0, "fragment.feed", differs},
		{rs->svn != m->svn, "fragment.svn", differs},
		{f->n_containers && !imp->include_containers, "containers", excluded},
		{f->n_externals && !imp->include_external, "external_processes", excluded},
		{f->n_fragments && !imp->include_fragments, "fragments", excluded},
	};
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
		if (checks[i].bad) {
			*why = checks[i].why;
			return checks[i].field;
		}
	return NULL;
}

/* Every verification step, in order; 0 with *mp, *impp set, or a denial. */
static int fragment_verify(struct policy_engine *e, const struct policy_req_load_fragment *r,
			   struct policy_decision *d, struct cose_sign1 **mp,
			   const struct fragment_import **impp)
{
	struct cose_fault f = {0};
	struct cose_sign1 *m = NULL;
	int ret = cose_sign1_decode(r->fragment, r->len, &m, &f);
	if (ret == -ENOMEM)
		return engine_deny(d, POLICY_RULE_INTERNAL, NULL, NULL, NULL, "out of memory"),
		       ret;
	if (ret)
		return frag_deny(d, f.field, "a well-formed COSE_Sign1 fragment", NULL,
				 errbuf_msg(&f.eb));
	const struct fragment_import *imp = NULL;
	for (size_t i = 0; i < e->n_imports && !imp; i++)
		if (import_in_force(e, &e->imports[i]) &&
		    !strcmp(e->imports[i].imp->issuer, m->issuer) &&
		    !strcmp(e->imports[i].imp->feed, m->feed))
			imp = e->imports[i].imp;
	if (!imp) {
		char got[POLICY_REASON_TEXT];
		snprintf(got, sizeof(got), "%s feed %s", m->issuer, m->feed);
		cose_sign1_free(m);
		return frag_deny(d, "iss", "an issuer and feed listed in fragments", got,
				 "the policy imports no fragment from this issuer and feed");
	}
	ret = cose_sign1_verify(m, imp->issuer, 0, &f);
	if (ret) {
		cose_sign1_free(m);
		if (ret == -ENOMEM)
			return engine_deny(d, POLICY_RULE_INTERNAL, NULL, NULL, NULL,
					   "out of memory"),
			       ret;
		return frag_deny(d, f.field, NULL, NULL, errbuf_msg(&f.eb));
	}
	if (m->svn < imp->minimum_svn) {
		char exp[32], got[32];
		snprintf(exp, sizeof(exp), ">= %llu", (unsigned long long)imp->minimum_svn);
		snprintf(got, sizeof(got), "%llu", (unsigned long long)m->svn);
		cose_sign1_free(m);
		return frag_deny(d, "svn", exp, got, "fragment SVN is below the policy's minimum_svn");
	}
	*mp = m;
	*impp = imp;
	return 0;
}

/* The active container rules other than those of fragment `skip` (for the name check). */
static struct container_rule *active_rules(const struct policy_engine *e, long skip, size_t *n)
{
	struct container_rule *v = malloc((e->n_containers + 1) * sizeof(*v));
	*n = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < e->n_containers; i++) {
		bool skipped = skip >= 0 && i >= e->frags[skip].first_ctr &&
			       i < e->frags[skip].first_ctr + e->frags[skip].n_ctr;
		if (!e->containers[i].retired && !skipped)
			v[(*n)++] = e->containers[i];
	}
	return v;
}

int policy_load_fragment(struct policy_engine *e, const struct policy_req_load_fragment *r,
			 struct policy_decision *d)
{
	bool debug;
	struct errbuf eb = {0};
	int ret = engine_begin(e, d, POLICY_REQ_LOAD_FRAGMENT, &debug);
	if (ret)
		return ret;
	if (!r->fragment || !r->len || r->len > COSE_MAX_DOCUMENT)
		return engine_malformed(d, "fragment", "missing or larger than the fragment limit");
	if (debug)
		return engine_allow_debug(d);
	struct cose_sign1 *m = NULL; /* set when fragment_verify succeeds (gcc -O3 cannot tell) */
	const struct fragment_import *imp = NULL;
	if ((ret = fragment_verify(e, r, d, &m, &imp)))
		return ret;
	uint8_t digest[POLICY_SHA256_LEN];
	if (digest_sha256(m->payload, m->payload_len, digest)) {
		cose_sign1_free(m);
		engine_deny(d, POLICY_RULE_INTERNAL, NULL, NULL, NULL, "SHA-256 failed");
		return -EIO;
	}
	long prev = frag_current(e, m->issuer, m->feed);
	if (prev >= 0) {
		const struct loaded_fragment *pf = &e->frags[prev];
		char exp[48], got[32];
		snprintf(exp, sizeof(exp), ">= %llu", (unsigned long long)pf->src->svn);
		snprintf(got, sizeof(got), "%llu", (unsigned long long)m->svn);
		bool same = !memcmp(pf->payload_sha256, digest, sizeof(digest));
		if (m->svn == pf->src->svn && same) {
			/* loading the same fragment again changes nothing */
			cose_sign1_free(m);
			engine_undo_clear(e);
			return engine_allow(d);
		}
		ret = m->svn < pf->src->svn
			      ? frag_deny(d, "svn", exp, got,
					  "a fragment with a higher SVN from this issuer and feed "
					  "is loaded: an older one never replaces it")
		      : m->svn == pf->src->svn
			      ? frag_deny(d, "svn", NULL, got,
					  "a different fragment with the same SVN from this issuer "
					  "and feed is already loaded")
			      : 0;
		if (ret) {
			cose_sign1_free(m);
			return ret;
		}
	}
	if (e->n_frags == POLICY_MAX_FRAGMENTS) {
		cose_sign1_free(m);
		return engine_deny(d, POLICY_RULE_STATE_FULL, NULL, NULL, NULL,
				   "more than %d fragments loaded", POLICY_MAX_FRAGMENTS);
	}
	size_t n_active;
	struct container_rule *active = active_rules(e, prev, &n_active);
	if (!active) {
		cose_sign1_free(m);
		engine_deny(d, POLICY_RULE_INTERNAL, NULL, NULL, NULL, "out of memory");
		return -ENOMEM;
	}
	struct policy *f;
	struct rule_source *rs;
	ret = policy_parse_fragment(m->payload, m->payload_len, active, n_active, &f, &rs, &eb);
	free(active);
	if (ret) {
		cose_sign1_free(m);
		if (ret == -ENOMEM) {
			engine_deny(d, POLICY_RULE_INTERNAL, NULL, NULL, NULL, "out of memory");
			return ret;
		}
		return frag_deny(d, "payload", "a valid policy fragment", NULL, errbuf_msg(&eb));
	}
	char field[64];
	const char *why = NULL;
	const char *bad = fragment_mismatch(f, rs, m, imp, &why);
	const char *widens = bad ? NULL : fragment_widens(f, imp, field, sizeof(field));
	cose_sign1_free(m);
	if (bad || widens) {
		policy_free(f);
		if (bad)
			return engine_deny(d, POLICY_RULE_FRAGMENT, bad, NULL, NULL, "%s: %s", bad,
					   why);
		return engine_deny(d, POLICY_RULE_FRAGMENT, field, "false", "true",
				   "the policy does not let fragments from this feed grant %s",
				   widens);
	}
	/* the totals stay within the policy limits (candidate sets are sized by them) */
	if (e->n_containers + f->n_containers > POLICY_MAX_CONTAINERS ||
	    e->n_externals + f->n_externals > POLICY_MAX_EXTERNAL ||
	    e->n_imports + f->n_fragments > POLICY_MAX_FRAGMENTS) {
		policy_free(f);
		return engine_deny(d, POLICY_RULE_STATE_FULL, "fragment", NULL, NULL,
				   "more than %d containers, %d external processes or %d fragment "
				   "imports in force",
				   POLICY_MAX_CONTAINERS, POLICY_MAX_EXTERNAL, POLICY_MAX_FRAGMENTS);
	}
	struct container_rule *mc =
		concat(e->containers, e->n_containers, f->containers, f->n_containers, sizeof(*mc));
	struct external_rule *mx =
		concat(e->externals, e->n_externals, f->externals, f->n_externals, sizeof(*mx));
	if (!mc || !mx) {
		free(mc);
		free(mx);
		policy_free(f);
		engine_deny(d, POLICY_RULE_INTERNAL, NULL, NULL, NULL, "out of memory");
		return -ENOMEM;
	}
	struct loaded_fragment *lf = &e->frags[e->n_frags];
	*lf = (struct loaded_fragment){.doc = f,
				       .src = rs,
				       .first_ctr = e->n_containers,
				       .n_ctr = f->n_containers,
				       .first_ext = e->n_externals,
				       .n_ext = f->n_externals};
	memcpy(lf->payload_sha256, digest, sizeof(digest));
	for (size_t i = 0; i < f->n_containers; i++)
		mc[lf->first_ctr + i].source = rs;
	for (size_t i = 0; i < f->n_externals; i++)
		mx[lf->first_ext + i].source = rs;
	if (prev >= 0) {
		const struct loaded_fragment *pf = &e->frags[prev];
		for (size_t i = 0; i < pf->n_ctr; i++)
			mc[pf->first_ctr + i].retired = true;
		for (size_t i = 0; i < pf->n_ext; i++)
			mx[pf->first_ext + i].retired = true;
	}
	/* the previous arrays stay with the undo record until it is forgotten */
	undo_forget(e);
	e->undo.kind = UNDO_FRAGMENT;
	e->undo.old_containers = (struct container_rule *)e->containers;
	e->undo.old_n_containers = e->n_containers;
	e->undo.old_externals = (struct external_rule *)e->externals;
	e->undo.old_n_externals = e->n_externals;
	e->undo.old_n_imports = e->n_imports;
	e->undo.superseded = prev;
	e->merged_containers = mc;
	e->merged_externals = mx;
	e->containers = mc;
	e->n_containers += f->n_containers;
	e->externals = mx;
	e->n_externals += f->n_externals;
	for (size_t i = 0; i < f->n_fragments; i++)
		e->imports[e->n_imports++] = (struct import_ref){&f->fragments[i], (long)e->n_frags};
	if (prev >= 0)
		e->frags[prev].superseded = true;
	e->n_frags++;
	snprintf(d->source, sizeof(d->source), "fragment %s feed %s svn %llu", rs->issuer,
		 rs->feed, (unsigned long long)rs->svn);
	return engine_allow(d);
}

int policy_engine_revert(struct policy_engine *e)
{
	struct undo *u = &e->undo;
	switch (u->kind) {
	case UNDO_DEV:
		e->devs[u->slot] = u->old.dev;
		e->dev_hw = u->old_hw;
		break;
	case UNDO_CTR:
		e->ctrs[u->slot] = u->old.ctr;
		e->ctr_hw = u->old_hw;
		if (u->retired)
			retired_remove(e, u->old.ctr.id);
		break;
	case UNDO_FRAGMENT: {
		struct loaded_fragment *lf = &e->frags[--e->n_frags];
		policy_free(lf->doc);
		memset(lf, 0, sizeof(*lf));
		free(e->merged_containers);
		free(e->merged_externals);
		e->containers = u->old_containers;
		e->n_containers = u->old_n_containers;
		e->externals = u->old_externals;
		e->n_externals = u->old_n_externals;
		e->n_imports = u->old_n_imports;
		if (u->superseded >= 0)
			e->frags[u->superseded].superseded = false;
		/* the restored arrays are the merged ones of an earlier fragment, or the policy's
		 */
		e->merged_containers =
			u->old_containers != e->policy->containers ? u->old_containers : NULL;
		e->merged_externals =
			u->old_externals != e->policy->externals ? u->old_externals : NULL;
		break;
	}
	case UNDO_NONE:
	default:
		return -ENOENT;
	}
	u->kind = UNDO_NONE;
	u->retired = false;
	return 0;
}

int policy_signal_unknown(struct policy_decision *d, const struct policy_req_signal_process *r)
{
	char got[16];
	engine_decision_init(d, POLICY_REQ_SIGNAL_PROCESS);
	snprintf(got, sizeof(got), "%u", r->process_id);
	return engine_deny(d, POLICY_RULE_NO_PROCESS, "process_id",
			   "a process the agent started in this container", got,
			   "container %s has no such process", r->container_id);
}

/* ---- dispatch ---- */

int policy_decide(struct policy_engine *e, const struct policy_request *q,
		  struct policy_decision *d)
{
	int ret;
	switch (q->type) {
	case POLICY_REQ_INSTALL_POLICY:
		return policy_engine_install(e, &q->u.install_policy, d);
	case POLICY_REQ_MOUNT_DEVICE:
		return policy_mount_device(e, &q->u.mount_device, d);
	case POLICY_REQ_UNMOUNT_DEVICE:
		return policy_unmount_device(e, &q->u.unmount_device, d);
	case POLICY_REQ_MOUNT_SCRATCH:
		return policy_mount_scratch(e, &q->u.mount_scratch, d);
	case POLICY_REQ_MOUNT_OVERLAY:
		return policy_mount_overlay(e, &q->u.mount_overlay, d);
	case POLICY_REQ_UNMOUNT_OVERLAY:
		return policy_unmount_overlay(e, &q->u.unmount_overlay, d);
	case POLICY_REQ_CREATE_CONTAINER:
		return policy_create_container(e, &q->u.create_container, d);
	case POLICY_REQ_EXEC_IN_CONTAINER:
		return policy_exec_in_container(e, &q->u.exec_in_container, d);
	case POLICY_REQ_EXEC_EXTERNAL:
		return policy_exec_external(e, &q->u.exec_external, d);
	case POLICY_REQ_SIGNAL_PROCESS:
		return policy_signal_process(e, &q->u.signal_process, d);
	case POLICY_REQ_SHUTDOWN_CONTAINER:
		return policy_shutdown_container(e, &q->u.shutdown_container, d);
	case POLICY_REQ_GET_PROPERTIES:
		return policy_get_properties(e, d);
	case POLICY_REQ_DUMP_STACKS:
		return policy_dump_stacks(e, d);
	case POLICY_REQ_RUNTIME_LOGGING:
		return policy_runtime_logging(e, d);
	case POLICY_REQ_LOAD_FRAGMENT:
		return policy_load_fragment(e, &q->u.load_fragment, d);
	case POLICY_REQ_START_CONTAINER:
	case POLICY_REQ_WAIT:
	case POLICY_REQ_CLOSE_STDIN: {
		/* no rule of their own: open once installed; they record nothing */
		bool debug;
		if ((ret = engine_begin(e, d, q->type, &debug)))
			return ret;
		engine_undo_clear(e);
		return debug ? engine_allow_debug(d) : engine_allow(d);
	}
	case POLICY_REQ_PING:
	case POLICY_REQ_GET_REPORT:
		/* answered even while closed: they change nothing the policy governs */
		engine_decision_init(d, q->type);
		engine_undo_clear(e);
		return engine_allow(d);
	default:
		engine_decision_init(d, POLICY_REQ_UNKNOWN);
		ret = engine_deny(d, POLICY_RULE_UNKNOWN_REQUEST, "type", NULL, NULL,
				  "unknown request type");
		return ret;
	}
}

/* ---- canonical state ---- */

static int cmp_json_key(const void *a, const void *b)
{
	struct json_object *const *x = a, *const *y = b;
	struct json_object *kx, *ky;
	json_object_object_get_ex(*x, "key", &kx);
	json_object_object_get_ex(*y, "key", &ky);
	return strcmp(json_object_get_string(kx), json_object_get_string(ky));
}

/* Sort an array of objects by their "key" member, then drop "key". */
static void sort_by_key(struct json_object *arr)
{
	json_object_array_sort(arr, cmp_json_key);
	for (size_t i = 0; i < json_object_array_length(arr); i++)
		json_object_object_del(json_object_array_get_idx(arr, i), "key");
}

int policy_engine_state_json(const struct policy_engine *e, char **out)
{
	*out = NULL;
	struct json_object *root = json_object_new_object(), *devs = json_object_new_array(),
			   *ctrs = json_object_new_array(), *frags = json_object_new_array(),
			   *retired = json_object_new_array();
	if (!root || !devs || !ctrs || !frags || !retired)
		goto oom;
	json_object_object_add(root, "installed", json_object_new_boolean(e->policy != NULL));
	if (e->policy)
		json_object_object_add(root, "policy",
				       json_object_new_string(e->policy->digest.hex));
	for (size_t i = 0; i < e->dev_hw; i++) {
		const struct dev_entry *dv = &e->devs[i];
		if (!dv->used)
			continue;
		struct json_object *o = json_object_new_object();
		char h[65];
		engine_render_hash(h, sizeof(h), dv->hash);
		json_object_object_add(o, "key", json_object_new_string(dv->target));
		json_object_object_add(o, "target", json_object_new_string(dv->target));
		json_object_object_add(o, "kind",
				       json_object_new_string(!dv->scratch    ? "layer"
							      : dv->encrypted ? "scratch-encrypted"
									      : "scratch"));
		if (!dv->scratch)
			json_object_object_add(o, "device_hash", json_object_new_string(h));
		json_object_array_add(devs, o);
	}
	for (size_t i = 0; i < e->ctr_hw; i++) {
		const struct ctr_entry *ce = &e->ctrs[i];
		if (!ce->used)
			continue;
		struct json_object *o = json_object_new_object(), *layers = json_object_new_array(),
				   *cands = json_object_new_array();
		json_object_object_add(o, "key", json_object_new_string(ce->id));
		json_object_object_add(o, "container_id", json_object_new_string(ce->id));
		json_object_object_add(o, "overlay", json_object_new_string(ce->target));
		json_object_object_add(o, "started", json_object_new_boolean(ce->started));
		json_object_object_add(o, "shut_down", json_object_new_boolean(ce->shut_down));
		for (size_t j = 0; j < ce->n_layers; j++)
			json_object_array_add(
				layers, json_object_new_string(e->devs[ce->layer_dev[j]].target));
		json_object_object_add(o, "layers", layers);
		CANDS_FOREACH(&ce->cands, k, e->n_containers)
		json_object_array_add(cands, json_object_new_string(e->containers[k].name));
		json_object_object_add(o, "candidates", cands);
		json_object_array_add(ctrs, o);
	}
	sort_by_key(devs);
	sort_by_key(ctrs);
	for (size_t i = 0; i < e->n_frags; i++) {
		struct json_object *o = json_object_new_object();
		const struct loaded_fragment *lf = &e->frags[i];
		char h[65];
		engine_render_hash(h, sizeof(h), lf->payload_sha256);
		json_object_object_add(o, "issuer", json_object_new_string(lf->src->issuer));
		json_object_object_add(o, "feed", json_object_new_string(lf->src->feed));
		json_object_object_add(o, "svn", json_object_new_uint64(lf->src->svn));
		json_object_object_add(o, "payload_sha256", json_object_new_string(h));
		json_object_object_add(o, "superseded", json_object_new_boolean(lf->superseded));
		json_object_array_add(frags, o);
	}
	json_object_object_add(root, "devices", devs);
	json_object_object_add(root, "containers", ctrs);
	json_object_object_add(root, "fragments", frags);
	for (size_t i = 0; i < e->n_retired; i++)
		json_object_array_add(retired, json_object_new_string(e->retired[i]));
	json_object_object_add(root, "retired_ids", retired);
	json_object_object_add(root, "n_container_rules", json_object_new_uint64(e->n_containers));
	json_object_object_add(root, "n_external_rules", json_object_new_uint64(e->n_externals));
	json_object_object_add(root, "n_fragment_imports", json_object_new_uint64(e->n_imports));
	*out = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return *out ? 0 : -ENOMEM;
oom:
	json_object_put(root);
	json_object_put(devs);
	json_object_put(ctrs);
	json_object_put(frags);
	json_object_put(retired);
	return -ENOMEM;
}
