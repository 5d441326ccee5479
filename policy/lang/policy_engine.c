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
#include "policy/lang/policy.h"
#include "policy/lang/policy_internal.h"

#define CAND_WORDS (POLICY_MAX_CONTAINERS / 64)

struct cands {
	uint64_t w[CAND_WORDS];
};

struct dev_entry {
	bool used;
	bool scratch, encrypted;
	uint8_t hash[POLICY_SHA256_LEN]; /* layer devices only */
	char target[POLICY_MAX_TARGET + 1];
};

struct ctr_entry {
	bool used;
	bool started;
	bool shut_down; /* started once and shut down: needs a fresh overlay */
	char id[POLICY_MAX_ID + 1];
	char target[POLICY_MAX_TARGET + 1]; /* the overlay's mount target */
	uint16_t n_layers;
	uint16_t layer_dev[POLICY_MAX_LAYERS]; /* dev slots, base first */
	struct cands cands;
};

struct loaded_fragment {
	struct policy *doc;
	char *issuer, *feed;
	uint64_t svn;
};

enum undo_kind { UNDO_NONE, UNDO_DEV, UNDO_CTR, UNDO_FRAGMENT };

struct undo {
	enum undo_kind kind;
	size_t slot;
	union {
		struct dev_entry dev;
		struct ctr_entry ctr;
	} old;
	size_t old_hw;
	/* fragments */
	struct container_rule *old_containers;
	size_t old_n_containers;
	struct external_rule *old_externals;
	size_t old_n_externals;
};

struct policy_engine {
	struct policy *policy; /* NULL while closed */
	/* the rules in force: the policy's plus loaded fragments' */
	const struct container_rule *containers;
	size_t n_containers;
	const struct external_rule *externals;
	size_t n_externals;
	struct container_rule *merged_containers; /* owned when fragments merged */
	struct external_rule *merged_externals;
	struct loaded_fragment frags[POLICY_MAX_FRAGMENTS];
	size_t n_frags;
	struct dev_entry *devs;
	size_t dev_hw; /* slots [0, dev_hw) may be used */
	struct ctr_entry *ctrs;
	size_t ctr_hw;
	struct regex_matcher rm;
	struct undo undo;
};

/* ---- decisions ---- */

static void decision_init(struct policy_decision *d, enum policy_request_type type)
{
	d->type = type;
	d->allowed = false;
	d->debug = false;
	memset(&d->reason, 0, sizeof(d->reason));
	d->n_env_keep = 0;
	memset(&d->caps, 0, sizeof(d->caps));
	d->allow_stdio_access = false;
}

static int allow(struct policy_decision *d)
{
	d->allowed = true;
	d->reason.rule = POLICY_RULE_NONE;
	return 0;
}

/* Fill the reason; expected/got may be NULL. Returns -EACCES. */
static int deny(struct policy_decision *d, enum policy_rule rule, const char *field,
		const char *expected, const char *got, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
static int deny(struct policy_decision *d, enum policy_rule rule, const char *field,
		const char *expected, const char *got, const char *fmt, ...)
{
	va_list ap;
	d->allowed = false;
	d->n_env_keep = 0;
	d->reason.rule = rule;
	snprintf(d->reason.field, sizeof(d->reason.field), "%s", field ? field : "");
	snprintf(d->reason.expected, sizeof(d->reason.expected), "%s", expected ? expected : "");
	snprintf(d->reason.got, sizeof(d->reason.got), "%s", got ? got : "");
	va_start(ap, fmt);
	vsnprintf(d->reason.message, sizeof(d->reason.message), fmt, ap);
	va_end(ap);
	return -EACCES;
}

/* ---- short renderings for reasons (bounded, env values redacted) ---- */

struct text {
	char *buf;
	size_t size, len;
};

static void text_add(struct text *t, const char *s, size_t n)
{
	if (t->len + 1 >= t->size)
		return;
	size_t room = t->size - t->len - 1;
	if (n > room) {
		n = room;
		memcpy(t->buf + t->len, s, n);
		t->len += n;
		if (t->size >= 4)
			memcpy(t->buf + t->size - 4, "...", 4);
		t->buf[t->size - 1] = '\0';
		return;
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

static void text_str(struct text *t, const char *s)
{
	text_add(t, s, strlen(s));
}

static void render_strv(char *buf, size_t size, const char *const *v, size_t n)
{
	struct text t = { buf, size, 0 };
	buf[0] = '\0';
	text_str(&t, "[");
	for (size_t i = 0; i < n; i++) {
		text_str(&t, i ? ", \"" : "\"");
		text_str(&t, v[i]);
		text_str(&t, "\"");
	}
	text_str(&t, "]");
}

static void render_env(char *buf, size_t size, const char *var)
{
	const char *eq = strchr(var, '=');
	size_t n = eq ? (size_t)(eq - var) : strlen(var);
	snprintf(buf, size, "%.*s=<redacted>", (int)(n > 100 ? 100 : n), var);
}

static void render_caps(char *buf, size_t size, uint64_t set)
{
	struct text t = { buf, size, 0 };
	buf[0] = '\0';
	text_str(&t, "[");
	for (int i = 0, first = 1; i < 64; i++) {
		if (!(set & (1ull << i)))
			continue;
		const char *name = policy_cap_name(i);
		char num[16];
		snprintf(num, sizeof(num), "%d", i);
		text_str(&t, first ? "" : ", ");
		text_str(&t, name ? name : num);
		first = 0;
	}
	text_str(&t, "]");
}

static void render_hash(char *buf, size_t size, const uint8_t h[POLICY_SHA256_LEN])
{
	char hex[2 * POLICY_SHA256_LEN + 1];
	hex_encode(h, POLICY_SHA256_LEN, hex);
	snprintf(buf, size, "%s", hex);
}

/* ---- candidate sets ---- */

static void cands_set(struct cands *c, size_t i)
{
	c->w[i / 64] |= 1ull << (i % 64);
}

static bool cands_has(const struct cands *c, size_t i)
{
	return c->w[i / 64] & (1ull << (i % 64));
}

static bool cands_empty(const struct cands *c)
{
	for (size_t i = 0; i < CAND_WORDS; i++)
		if (c->w[i])
			return false;
	return true;
}

/* First index in c, or SIZE_MAX. */
static size_t cands_first(const struct cands *c)
{
	for (size_t i = 0; i < CAND_WORDS; i++)
		if (c->w[i])
			return i * 64 + (size_t)__builtin_ctzll(c->w[i]);
	return SIZE_MAX;
}

#define CANDS_FOREACH(c, i, n)                \
	for (size_t i = 0; i < (n); i++)      \
		if (cands_has((c), i))

/* ---- request well-formedness (the typed API is used directly by the agent,
 * so the engine re-checks what the JSON parser checks) ---- */

static bool str_ok(const char *s, size_t max)
{
	return s && strnlen(s, max + 1) <= max;
}

static bool strv_ok(const struct policy_strv *v, size_t max_n)
{
	if (v->n > max_n || (v->n && !v->v))
		return false;
	for (size_t i = 0; i < v->n; i++)
		if (!str_ok(v->v[i], POLICY_MAX_STRING))
			return false;
	return true;
}

static bool env_ok(const struct policy_strv *env)
{
	if (!strv_ok(env, POLICY_MAX_ENV))
		return false;
	for (size_t i = 0; i < env->n; i++)
		if (env->v[i][0] == '=' || !strchr(env->v[i], '='))
			return false;
	return true;
}

static bool user_ok(const struct policy_user *u)
{
	return u->n_additional_gids <= POLICY_MAX_GROUPS &&
	       (!u->n_additional_gids || u->additional_gids) && u->umask <= 0777;
}

static bool id_ok(const char *id)
{
	if (!str_ok(id, POLICY_MAX_ID) || !id[0])
		return false;
	for (const char *p = id; *p; p++) {
		bool alnum = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9');
		if (!alnum && (p == id || !strchr("._-", *p)))
			return false;
	}
	return true;
}

static int malformed(struct policy_decision *d, const char *field, const char *what)
{
	return deny(d, POLICY_RULE_MALFORMED_REQUEST, field, NULL, NULL, "%s: %s", field, what);
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
	if (!str_ok(target, POLICY_MAX_TARGET))
		return malformed(d, field, "missing or longer than 255 bytes");
	size_t root = strlen(POLICY_MOUNT_ROOT);
	if (!path_is_normalised_absolute(target) || strncmp(target, POLICY_MOUNT_ROOT, root) ||
	    !target[root] || !path_chars_plain(target))
		return deny(d, POLICY_RULE_TARGET_PATH, field,
			    "a normalised path of [A-Za-z0-9._/-] below " POLICY_MOUNT_ROOT, target,
			    "mount target is not a normalised path of plain characters below %s",
			    POLICY_MOUNT_ROOT);
	return 0;
}

/* Paths overlap when equal or one is inside the other. */
static bool paths_overlap(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t n = la < lb ? la : lb;
	if (strncmp(a, b, n))
		return false;
	return la == lb || (la < lb ? b[la] == '/' : a[lb] == '/');
}

static int check_target_free(struct policy_engine *e, struct policy_decision *d,
			     const char *field, const char *target)
{
	for (size_t i = 0; i < e->dev_hw; i++)
		if (e->devs[i].used && paths_overlap(e->devs[i].target, target))
			return deny(d, POLICY_RULE_TARGET_IN_USE, field, "a free target", target,
				    "target overlaps the mount at %s", e->devs[i].target);
	for (size_t i = 0; i < e->ctr_hw; i++)
		if (e->ctrs[i].used && paths_overlap(e->ctrs[i].target, target))
			return deny(d, POLICY_RULE_TARGET_IN_USE, field, "a free target", target,
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
}


static void undo_clear(struct policy_engine *e)
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

static void undo_save_ctr(struct policy_engine *e, size_t slot)
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

static long ctr_find_id(const struct policy_engine *e, const char *id)
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
	if (!e->devs || !e->ctrs || regex_matcher_init(&e->rm)) {
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
	regex_matcher_fini(&e->rm);
	free(e);
}

const struct policy *policy_engine_policy(const struct policy_engine *e)
{
	return e->policy;
}

/* Common entry: closed engines deny everything; debug policies allow it. */
static int begin(struct policy_engine *e, struct policy_decision *d, enum policy_request_type t,
		 bool *debug)
{
	decision_init(d, t);
	*debug = false;
	if (!e->policy)
		return deny(d, POLICY_RULE_CLOSED, NULL, "an installed policy", NULL,
			    "no policy is installed: every request is denied");
	e->rm.budget = REGEX_REQUEST_BUDGET;
	e->rm.exhausted = false;
	e->rm.limit_hits = 0;
	*debug = e->policy->debug;
	return 0;
}

static int allow_debug(struct policy_decision *d)
{
	d->debug = true;
	return allow(d);
}

int policy_engine_install(struct policy_engine *e, const struct policy_req_install_policy *r,
			  struct policy_decision *d)
{
	struct errbuf eb = { 0 };
	struct policy_digest dg;
	decision_init(d, POLICY_REQ_INSTALL_POLICY);
	if (e->policy)
		return deny(d, POLICY_RULE_ALREADY_INSTALLED, NULL, NULL, NULL,
			    "a policy is already installed; it can be installed only once");
	if (!r->policy && r->len)
		return malformed(d, "policy", "missing");
	if (r->len > POLICY_MAX_BYTES)
		return deny(d, POLICY_RULE_INVALID_POLICY, "policy", NULL, NULL,
			    "policy is larger than %u bytes", POLICY_MAX_BYTES);
	if (!r->host_data)
		return deny(d, POLICY_RULE_HOST_DATA, "host_data", "HOST_DATA from an attestation report",
			    NULL, "no HOST_DATA to check the policy against");
	int ret = policy_digest(r->policy ? r->policy : (const uint8_t *)"", r->len, &dg);
	if (ret) {
		deny(d, POLICY_RULE_INTERNAL, NULL, NULL, NULL, "SHA-256 failed");
		return ret;
	}
	if (memcmp(dg.sha256, r->host_data, POLICY_SHA256_LEN)) {
		char want[65];
		render_hash(want, sizeof(want), r->host_data);
		return deny(d, POLICY_RULE_HOST_DATA, "policy", want, dg.hex,
			    "SHA-256 of the policy differs from HOST_DATA");
	}
	struct policy *p;
	ret = policy_load(r->policy ? r->policy : (const uint8_t *)"", r->len, &p, &eb);
	if (ret == -ENOMEM) {
		deny(d, POLICY_RULE_INTERNAL, NULL, NULL, NULL, "out of memory");
		return ret;
	}
	if (ret)
		return deny(d, POLICY_RULE_INVALID_POLICY, "policy", NULL, NULL, "%s",
			    errbuf_msg(&eb));
	e->policy = p;
	e->containers = p->containers;
	e->n_containers = p->n_containers;
	e->externals = p->externals;
	e->n_externals = p->n_externals;
	undo_clear(e);
	d->debug = p->debug;
	return allow(d);
}

/* ---- mount_device / unmount_device / mount_scratch ---- */

static bool hash_in_policy(const struct policy_engine *e, const uint8_t h[POLICY_SHA256_LEN])
{
	for (size_t i = 0; i < e->n_containers; i++)
		for (size_t j = 0; j < e->containers[i].n_layers; j++)
			if (!memcmp(e->containers[i].layers[j], h, POLICY_SHA256_LEN))
				return true;
	return false;
}

static int add_device(struct policy_engine *e, struct policy_decision *d, const char *target,
		      const uint8_t *hash, bool scratch, bool encrypted)
{
	long slot = dev_free_slot(e);
	if (slot < 0)
		return deny(d, POLICY_RULE_STATE_FULL, "target", NULL, NULL,
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
	return allow(d);
}

int policy_mount_device(struct policy_engine *e, const struct policy_req_mount_device *r,
			struct policy_decision *d)
{
	bool debug;
	int ret = begin(e, d, POLICY_REQ_MOUNT_DEVICE, &debug);
	if (ret)
		return ret;
	if ((ret = check_target(d, "target", r->target)))
		return ret;
	if (debug)
		return allow_debug(d);
	if ((ret = check_target_free(e, d, "target", r->target)))
		return ret;
	if (!hash_in_policy(e, r->device_hash)) {
		char got[65];
		render_hash(got, sizeof(got), r->device_hash);
		return deny(d, POLICY_RULE_DEVICE_HASH, "device_hash",
			    "the root hash of a layer in the policy", got,
			    "no container in the policy has a layer with this root hash");
	}
	return add_device(e, d, r->target, r->device_hash, false, false);
}

static bool device_used_by_overlay(const struct policy_engine *e, size_t slot)
{
	for (size_t i = 0; i < e->ctr_hw; i++)
		for (size_t j = 0; e->ctrs[i].used && j < e->ctrs[i].n_layers; j++)
			if (e->ctrs[i].layer_dev[j] == slot)
				return true;
	return false;
}

int policy_unmount_device(struct policy_engine *e, const struct policy_req_unmount_device *r,
			  struct policy_decision *d)
{
	bool debug;
	int ret = begin(e, d, POLICY_REQ_UNMOUNT_DEVICE, &debug);
	if (ret)
		return ret;
	if ((ret = check_target(d, "target", r->target)))
		return ret;
	if (debug)
		return allow_debug(d);
	long slot = dev_find(e, r->target);
	if (slot < 0)
		return deny(d, POLICY_RULE_NO_DEVICE, "target", "a mounted device", r->target,
			    "no device is mounted at this target");
	if (device_used_by_overlay(e, (size_t)slot))
		return deny(d, POLICY_RULE_DEVICE_IN_USE, "target", NULL, r->target,
			    "a container overlay still uses this layer");
	undo_save_dev(e, (size_t)slot);
	e->devs[slot].used = false;
	return allow(d);
}

int policy_mount_scratch(struct policy_engine *e, const struct policy_req_mount_scratch *r,
			 struct policy_decision *d)
{
	bool debug;
	int ret = begin(e, d, POLICY_REQ_MOUNT_SCRATCH, &debug);
	if (ret)
		return ret;
	if ((ret = check_target(d, "target", r->target)))
		return ret;
	if (debug)
		return allow_debug(d);
	if (!r->encrypted && !e->policy->flags.allow_unencrypted_scratch)
		return deny(d, POLICY_RULE_SCRATCH_UNENCRYPTED, "encrypted", "true", "false",
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
	int ret = begin(e, d, POLICY_REQ_MOUNT_OVERLAY, &debug);
	if (ret)
		return ret;
	if (!id_ok(r->container_id))
		return malformed(d, "container_id", "expected 1-128 of [A-Za-z0-9._-], not starting with . _ -");
	if ((ret = check_target(d, "target", r->target)))
		return ret;
	if (r->layer_targets.n == 0 || r->layer_targets.n > POLICY_MAX_LAYERS ||
	    !r->layer_targets.v)
		return malformed(d, "layer_targets", "expected 1 to 128 layer targets");
	for (size_t i = 0; i < r->layer_targets.n; i++) {
		snprintf(field, sizeof(field), "layer_targets[%zu]", i);
		if ((ret = check_target(d, field, r->layer_targets.v[i])))
			return ret;
	}
	if (debug)
		return allow_debug(d);
	if (ctr_find_id(e, r->container_id) >= 0)
		return deny(d, POLICY_RULE_OVERLAY_EXISTS, "container_id", NULL, r->container_id,
			    "this container id already has an overlay");
	if ((ret = check_target_free(e, d, "target", r->target)))
		return ret;
	uint16_t slots[POLICY_MAX_LAYERS];
	for (size_t i = 0; i < r->layer_targets.n; i++) {
		snprintf(field, sizeof(field), "layer_targets[%zu]", i);
		long s = dev_find(e, r->layer_targets.v[i]);
		if (s < 0 || e->devs[s].scratch)
			return deny(d, POLICY_RULE_NO_DEVICE, field, "a mounted layer device",
				    r->layer_targets.v[i], "no layer device is mounted at this target");
		for (size_t j = 0; j < i; j++)
			if (slots[j] == s)
				return deny(d, POLICY_RULE_OVERLAY_LAYERS, field, NULL,
					    r->layer_targets.v[i], "layer target listed twice");
		slots[i] = (uint16_t)s;
	}
	struct cands c = { 0 };
	for (size_t i = 0; i < e->n_containers; i++) {
		const struct container_rule *cr = &e->containers[i];
		bool eq = cr->n_layers == r->layer_targets.n;
		for (size_t j = 0; eq && j < cr->n_layers; j++)
			eq = !memcmp(cr->layers[j], e->devs[slots[j]].hash, POLICY_SHA256_LEN);
		if (eq)
			cands_set(&c, i);
	}
	if (cands_empty(&c)) {
		char got[POLICY_REASON_TEXT];
		struct text t = { got, sizeof(got), 0 };
		got[0] = '\0';
		for (size_t i = 0; i < r->layer_targets.n; i++) {
			char h[65];
			render_hash(h, sizeof(h), e->devs[slots[i]].hash);
			text_str(&t, i ? ", " : "");
			text_add(&t, h, 12);
		}
		return deny(d, POLICY_RULE_OVERLAY_LAYERS, "layer_targets",
			    "exactly the layers of a policy container, base first", got,
			    "the layer order does not equal any policy container's layers");
	}
	long slot = ctr_free_slot(e);
	if (slot < 0)
		return deny(d, POLICY_RULE_STATE_FULL, "container_id", NULL, NULL,
			    "more than %d containers", POLICY_MAX_STATE_CONTAINERS);
	undo_save_ctr(e, (size_t)slot);
	struct ctr_entry *ce = &e->ctrs[slot];
	memset(ce, 0, sizeof(*ce));
	ce->used = true;
	snprintf(ce->id, sizeof(ce->id), "%s", r->container_id);
	snprintf(ce->target, sizeof(ce->target), "%s", r->target);
	ce->n_layers = (uint16_t)r->layer_targets.n;
	memcpy(ce->layer_dev, slots, r->layer_targets.n * sizeof(slots[0]));
	ce->cands = c;
	if ((size_t)slot >= e->ctr_hw)
		e->ctr_hw = (size_t)slot + 1;
	return allow(d);
}

int policy_unmount_overlay(struct policy_engine *e, const struct policy_req_unmount_overlay *r,
			   struct policy_decision *d)
{
	bool debug;
	int ret = begin(e, d, POLICY_REQ_UNMOUNT_OVERLAY, &debug);
	if (ret)
		return ret;
	if ((ret = check_target(d, "target", r->target)))
		return ret;
	if (debug)
		return allow_debug(d);
	long slot = ctr_find_target(e, r->target);
	if (slot < 0)
		return deny(d, POLICY_RULE_NO_OVERLAY, "target", "a mounted overlay", r->target,
			    "no overlay is mounted at this target");
	if (e->ctrs[slot].started)
		return deny(d, POLICY_RULE_OVERLAY_IN_USE, "target", NULL, e->ctrs[slot].id,
			    "container %s is running on this overlay", e->ctrs[slot].id);
	undo_save_ctr(e, (size_t)slot);
	e->ctrs[slot].used = false;
	return allow(d);
}

/* ---- process checks shared by create, exec and exec_external ---- */

static bool strv_equal(const struct strlist *a, const struct policy_strv *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]))
			return false;
	return true;
}

static bool env_rule_matches(struct policy_engine *e, const struct env_rule *r, const char *var)
{
	if (!r->is_regex)
		return !strcmp(r->pattern, var);
	return regex_full_match(&r->re, var, strlen(var), &e->rm) == 1;
}

static bool env_var_allowed(struct policy_engine *e, const struct env_rules *rules,
			    const char *var)
{
	for (size_t i = 0; i < rules->n; i++)
		if (env_rule_matches(e, &rules->v[i], var))
			return true;
	return false;
}

/* Every kept variable matches a rule, and every required rule is matched.
 * On failure and when d is given, the reason is filled. */
static bool envlist_ok(struct policy_engine *e, const struct env_rules *rules,
		       const struct policy_strv *env, const uint16_t *keep, size_t n_keep,
		       struct policy_decision *d)
{
	char field[32], got[128];
	for (size_t k = 0; k < n_keep; k++) {
		const char *var = env->v[keep[k]];
		if (env_var_allowed(e, rules, var))
			continue;
		if (d) {
			snprintf(field, sizeof(field), "env[%u]", keep[k]);
			render_env(got, sizeof(got), var);
			deny(d, POLICY_RULE_ENV, field, "a variable matching an env rule", got,
			     "environment variable not allowed by the policy%s",
			     e->rm.exhausted || e->rm.limit_hits ? " (regex work limit reached)" : "");
		}
		return false;
	}
	for (size_t i = 0; i < rules->n; i++) {
		if (!rules->v[i].required)
			continue;
		bool found = false;
		for (size_t k = 0; k < n_keep && !found; k++)
			found = env_rule_matches(e, &rules->v[i], env->v[keep[k]]);
		if (found)
			continue;
		if (d) {
			char want[128];
			if (rules->v[i].is_regex)
				snprintf(want, sizeof(want), "a variable matching required regex rule %zu", i);
			else
				render_env(want, sizeof(want), rules->v[i].pattern);
			deny(d, POLICY_RULE_ENV_REQUIRED, "env", want, NULL,
			     "a required environment variable is missing");
		}
		return false;
	}
	return true;
}

/* A view of the process-relevant parts of a policy entry. */
struct proc_rule {
	const struct env_rules *env;
	const struct policy_caps *caps;
	bool stdio;
};

typedef struct proc_rule (*proc_rule_fn)(const struct policy_engine *e, size_t i);

/* Decide the env list: with dropping, the unique largest allowed subset over
 * the candidates; then narrow the candidates to those accepting it. */
static int decide_env(struct policy_engine *e, struct cands *c, size_t n, proc_rule_fn rule_of,
		      const struct policy_strv *env, struct policy_decision *d)
{
	uint16_t keep[POLICY_MAX_ENV], best[POLICY_MAX_ENV];
	size_t n_best = 0;
	bool have_best = false, ambiguous = false;
	if (!e->policy->flags.allow_environment_variable_dropping) {
		for (size_t i = 0; i < env->n; i++)
			best[i] = (uint16_t)i;
		n_best = env->n;
	} else {
		CANDS_FOREACH(c, i, n)
		{
			const struct env_rules *rules = rule_of(e, i).env;
			size_t nk = 0;
			for (size_t v = 0; v < env->n; v++)
				if (env_var_allowed(e, rules, env->v[v]))
					keep[nk++] = (uint16_t)v;
			if (!have_best || nk > n_best) {
				memcpy(best, keep, nk * sizeof(keep[0]));
				n_best = nk;
				have_best = true;
				ambiguous = false;
			} else if (nk == n_best && memcmp(best, keep, nk * sizeof(keep[0]))) {
				ambiguous = true;
			}
		}
		if (ambiguous)
			return deny(d, POLICY_RULE_ENV_AMBIGUOUS, "env", "one largest allowed set", NULL,
				    "candidate containers allow different environment subsets of equal size");
	}
	struct cands next = { 0 };
	CANDS_FOREACH(c, i, n)
	if (envlist_ok(e, rule_of(e, i).env, env, best, n_best, NULL))
		cands_set(&next, i);
	if (cands_empty(&next)) {
		envlist_ok(e, rule_of(e, cands_first(c)).env, env, best, n_best, d);
		if (d->allowed || d->reason.rule == POLICY_RULE_NONE)
			deny(d, POLICY_RULE_ENV, "env", NULL, NULL, "environment not allowed");
		return -EACCES;
	}
	*c = next;
	memcpy(d->env_keep, best, n_best * sizeof(best[0]));
	d->n_env_keep = n_best;
	return 0;
}

static uint64_t *caps_set(struct policy_caps *c, int i)
{
	uint64_t *v[] = { &c->bounding, &c->effective, &c->inheritable, &c->permitted, &c->ambient };
	return v[i];
}

static const char *const caps_set_names[] = { "bounding", "effective", "inheritable", "permitted",
					      "ambient" };

static int caps_count(struct policy_caps c)
{
	return __builtin_popcountll(c.bounding) + __builtin_popcountll(c.effective) +
	       __builtin_popcountll(c.inheritable) + __builtin_popcountll(c.permitted) +
	       __builtin_popcountll(c.ambient);
}

static bool caps_equal(struct policy_caps a, struct policy_caps b)
{
	return a.bounding == b.bounding && a.effective == b.effective &&
	       a.inheritable == b.inheritable && a.permitted == b.permitted && a.ambient == b.ambient;
}

static struct policy_caps caps_and(struct policy_caps a, struct policy_caps b)
{
	return (struct policy_caps){ a.bounding & b.bounding, a.effective & b.effective,
				     a.inheritable & b.inheritable, a.permitted & b.permitted,
				     a.ambient & b.ambient };
}

/* Capabilities must equal the policy's sets; with dropping, the request's
 * sets are first reduced to the unique largest allowed sets. */
static int decide_caps(struct policy_engine *e, struct cands *c, size_t n, proc_rule_fn rule_of,
		       struct policy_caps req, struct policy_decision *d)
{
	struct policy_caps want = req;
	if (e->policy->flags.allow_capability_dropping) {
		bool have = false, ambiguous = false;
		int best_n = -1;
		CANDS_FOREACH(c, i, n)
		{
			struct policy_caps k = caps_and(req, *rule_of(e, i).caps);
			int cnt = caps_count(k);
			if (!have || cnt > best_n) {
				want = k;
				best_n = cnt;
				have = true;
				ambiguous = false;
			} else if (cnt == best_n && !caps_equal(k, want)) {
				ambiguous = true;
			}
		}
		if (ambiguous)
			return deny(d, POLICY_RULE_CAPABILITIES_AMBIGUOUS, "capabilities",
				    "one largest allowed set", NULL,
				    "candidate containers allow different capability sets of equal size");
	}
	struct cands next = { 0 };
	CANDS_FOREACH(c, i, n)
	if (caps_equal(*rule_of(e, i).caps, want))
		cands_set(&next, i);
	if (cands_empty(&next)) {
		struct policy_caps pc = *rule_of(e, cands_first(c)).caps;
		for (int s = 0; s < 5; s++) {
			if (*caps_set(&pc, s) == *caps_set(&want, s))
				continue;
			char field[40], exp[POLICY_REASON_TEXT], got[POLICY_REASON_TEXT];
			snprintf(field, sizeof(field), "capabilities.%s", caps_set_names[s]);
			render_caps(exp, sizeof(exp), *caps_set(&pc, s));
			render_caps(got, sizeof(got), *caps_set(&req, s));
			return deny(d, POLICY_RULE_CAPABILITIES, field, exp, got,
				    "capabilities differ from the policy");
		}
		return deny(d, POLICY_RULE_CAPABILITIES, "capabilities", NULL, NULL,
			    "capabilities differ from the policy");
	}
	*c = next;
	d->caps = want;
	return 0;
}

static int decide_stdio(struct policy_engine *e, const struct cands *c, size_t n,
			proc_rule_fn rule_of, struct policy_decision *d)
{
	bool first = true, v = false;
	CANDS_FOREACH(c, i, n)
	{
		bool s = rule_of(e, i).stdio;
		if (!first && s != v)
			return deny(d, POLICY_RULE_STDIO_AMBIGUOUS, "allow_stdio_access", NULL, NULL,
				    "candidate containers differ in stdio access: request is ambiguous");
		v = s;
		first = false;
	}
	d->allow_stdio_access = v;
	return 0;
}

static struct proc_rule container_proc(const struct policy_engine *e, size_t i)
{
	const struct container_rule *c = &e->containers[i];
	return (struct proc_rule){ &c->env, &c->caps, c->allow_stdio_access };
}

static const struct policy_caps no_caps;

static struct proc_rule external_proc(const struct policy_engine *e, size_t i)
{
	const struct external_rule *x = &e->externals[i];
	return (struct proc_rule){ &x->env, &no_caps, x->allow_stdio_access };
}

/* ---- narrowing by simple per-candidate checks (data-driven) ---- */

struct proc_req {
	const struct policy_strv *command;
	const char *working_dir;
	const struct policy_user *user;
	bool no_new_privileges, privileged;
	const struct policy_mount *mounts;
	size_t n_mounts;
	bool has_seccomp;
	const uint8_t *seccomp;
	bool exec; /* exec_in_container: command/working_dir come from exec_processes */
};

struct check {
	enum policy_rule rule;
	const char *field;
	/* true if candidate i passes; when d is given, fill the reason on failure */
	bool (*ok)(struct policy_engine *e, const struct container_rule *c,
		   const struct proc_req *r, struct policy_decision *d);
};

static bool check_privileged(struct policy_engine *e, const struct container_rule *c,
			     const struct proc_req *r, struct policy_decision *d)
{
	(void)e;
	if (!r->privileged || c->allow_elevated)
		return true;
	if (d)
		deny(d, POLICY_RULE_PRIVILEGED, "privileged", "false", "true",
		     "the policy does not allow a privileged container");
	return false;
}

static bool check_nnp(struct policy_engine *e, const struct container_rule *c,
		      const struct proc_req *r, struct policy_decision *d)
{
	(void)e;
	if (!c->no_new_privileges || r->no_new_privileges)
		return true;
	if (d)
		deny(d, POLICY_RULE_NO_NEW_PRIVILEGES, "no_new_privileges", "true", "false",
		     "the policy requires no_new_privileges");
	return false;
}

static bool gids_equal(const struct user_rule *u, const struct policy_user *r)
{
	if (u->n_gids != r->n_additional_gids)
		return false;
	for (size_t i = 0; i < r->n_additional_gids; i++) {
		bool found = false;
		for (size_t j = 0; j < u->n_gids && !found; j++)
			found = u->gids[j] == r->additional_gids[i];
		if (!found)
			return false;
		for (size_t j = 0; j < i; j++) /* a set: no duplicates in the request */
			if (r->additional_gids[j] == r->additional_gids[i])
				return false;
	}
	return true;
}

static bool check_user(struct policy_engine *e, const struct container_rule *c,
		       const struct proc_req *r, struct policy_decision *d)
{
	(void)e;
	const struct user_rule *u = &c->user;
	const char *field = u->uid != r->user->uid	  ? "user.uid"
			    : u->gid != r->user->gid	  ? "user.gid"
			    : u->umask != r->user->umask	  ? "user.umask"
			    : !gids_equal(u, r->user) ? "user.additional_gids"
						  : NULL;
	if (!field)
		return true;
	if (d) {
		char exp[64], got[64];
		snprintf(exp, sizeof(exp), "uid %u gid %u umask %04o", u->uid, u->gid, u->umask);
		snprintf(got, sizeof(got), "uid %u gid %u umask %04o", r->user->uid, r->user->gid,
			 r->user->umask);
		deny(d, POLICY_RULE_USER, field, exp, got, "user does not match the policy");
	}
	return false;
}

static bool check_working_dir(struct policy_engine *e, const struct container_rule *c,
			      const struct proc_req *r, struct policy_decision *d)
{
	(void)e;
	if (r->exec) {
		for (size_t i = 0; i < c->n_execs; i++) {
			const char *wd = c->execs[i].working_dir ? c->execs[i].working_dir
								 : c->working_dir;
			if (strv_equal(&c->execs[i].command, r->command) && !strcmp(wd, r->working_dir))
				return true;
		}
		if (d)
			deny(d, POLICY_RULE_WORKING_DIR, "working_dir", NULL, r->working_dir,
			     "working directory not allowed for this exec process");
		return false;
	}
	if (!strcmp(c->working_dir, r->working_dir))
		return true;
	if (d)
		deny(d, POLICY_RULE_WORKING_DIR, "working_dir", c->working_dir, r->working_dir,
		     "working directory differs from the policy");
	return false;
}

static bool check_command(struct policy_engine *e, const struct container_rule *c,
			  const struct proc_req *r, struct policy_decision *d)
{
	(void)e;
	char exp[POLICY_REASON_TEXT], got[POLICY_REASON_TEXT];
	if (r->exec) {
		for (size_t i = 0; i < c->n_execs; i++)
			if (strv_equal(&c->execs[i].command, r->command))
				return true;
		if (d) {
			render_strv(got, sizeof(got), r->command->v, r->command->n);
			deny(d, POLICY_RULE_EXEC_PROCESS, "command", "a command in exec_processes", got,
			     "the policy lists no such exec process for this container");
		}
		return false;
	}
	if (strv_equal(&c->command, r->command))
		return true;
	if (d) {
		render_strv(exp, sizeof(exp), (const char *const *)c->command.v, c->command.n);
		render_strv(got, sizeof(got), r->command->v, r->command->n);
		deny(d, POLICY_RULE_COMMAND, "command", exp, got, "command differs from the policy");
	}
	return false;
}

static bool options_equal(const struct strlist *a, const struct policy_mount *m)
{
	if (a->n != m->n_options)
		return false;
	for (size_t i = 0; i < m->n_options; i++) {
		bool found = false;
		for (size_t j = 0; j < a->n && !found; j++)
			found = !strcmp(a->v[j], m->options[i]);
		for (size_t j = 0; j < i && found; j++)
			found = strcmp(m->options[j], m->options[i]) != 0;
		if (!found)
			return false;
	}
	return true;
}

static bool mount_matches(struct policy_engine *e, const struct mount_rule *mr,
			  const struct policy_mount *m)
{
	if (strcmp(mr->destination, m->destination) || strcmp(mr->type, m->type) ||
	    !options_equal(&mr->options, m))
		return false;
	if (!mr->source_is_regex)
		return !strcmp(mr->source, m->source);
	return regex_full_match(&mr->source_re, m->source, strlen(m->source), &e->rm) == 1;
}

static bool check_mounts(struct policy_engine *e, const struct container_rule *c,
			 const struct proc_req *r, struct policy_decision *d)
{
	for (size_t i = 0; i < r->n_mounts; i++) {
		bool found = false;
		for (size_t j = 0; j < c->n_mounts && !found; j++)
			found = mount_matches(e, &c->mounts[j], &r->mounts[i]);
		if (found)
			continue;
		if (d) {
			char field[32], got[POLICY_REASON_TEXT];
			snprintf(field, sizeof(field), "mounts[%zu]", i);
			snprintf(got, sizeof(got), "%.80s -> %.80s (%.32s)", r->mounts[i].source,
				 r->mounts[i].destination, r->mounts[i].type);
			deny(d, POLICY_RULE_MOUNTS, field, "a mount listed in the policy", got,
			     "mount not allowed by the policy");
		}
		return false;
	}
	return true;
}

static bool check_seccomp(struct policy_engine *e, const struct container_rule *c,
			  const struct proc_req *r, struct policy_decision *d)
{
	(void)e;
	if (c->has_seccomp == r->has_seccomp &&
	    (!c->has_seccomp || !memcmp(c->seccomp, r->seccomp, POLICY_SHA256_LEN)))
		return true;
	if (d) {
		char exp[65] = "", got[65] = "";
		if (c->has_seccomp)
			render_hash(exp, sizeof(exp), c->seccomp);
		if (r->has_seccomp)
			render_hash(got, sizeof(got), r->seccomp);
		deny(d, POLICY_RULE_SECCOMP, "seccomp_profile_sha256", c->has_seccomp ? exp : "(none)",
		     r->has_seccomp ? got : "(none)", "seccomp profile differs from the policy");
	}
	return false;
}

/* Narrow c by each check in order; deny with the check that empties it. */
static int narrow(struct policy_engine *e, struct cands *c, const struct check *checks,
		  size_t n_checks, const struct proc_req *r, struct policy_decision *d)
{
	for (size_t k = 0; k < n_checks; k++) {
		struct cands next = { 0 };
		CANDS_FOREACH(c, i, e->n_containers)
		if (checks[k].ok(e, &e->containers[i], r, NULL))
			cands_set(&next, i);
		if (cands_empty(&next)) {
			checks[k].ok(e, &e->containers[cands_first(c)], r, d);
			return -EACCES;
		}
		*c = next;
	}
	return 0;
}

static const struct check create_checks[] = {
	{ POLICY_RULE_PRIVILEGED, "privileged", check_privileged },
	{ POLICY_RULE_NO_NEW_PRIVILEGES, "no_new_privileges", check_nnp },
	{ POLICY_RULE_USER, "user", check_user },
	{ POLICY_RULE_COMMAND, "command", check_command },
	{ POLICY_RULE_WORKING_DIR, "working_dir", check_working_dir },
	{ POLICY_RULE_MOUNTS, "mounts", check_mounts },
	{ POLICY_RULE_SECCOMP, "seccomp_profile_sha256", check_seccomp },
};

static const struct check exec_checks[] = {
	{ POLICY_RULE_EXEC_PROCESS, "command", check_command },
	{ POLICY_RULE_WORKING_DIR, "working_dir", check_working_dir },
	{ POLICY_RULE_NO_NEW_PRIVILEGES, "no_new_privileges", check_nnp },
	{ POLICY_RULE_USER, "user", check_user },
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static int check_process_fields(struct policy_decision *d, const struct policy_strv *command,
				const struct policy_strv *env, const char *working_dir)
{
	if (!strv_ok(command, POLICY_MAX_ARGS) || command->n == 0)
		return malformed(d, "command", "expected 1 to 256 strings");
	if (!env_ok(env))
		return malformed(d, "env", "expected at most 256 NAME=value strings");
	if (!str_ok(working_dir, POLICY_MAX_STRING))
		return malformed(d, "working_dir", "missing or too long");
	return 0;
}

/* The container entry for id, which must be started (or, for create, not). */
static int find_container(struct policy_engine *e, struct policy_decision *d, const char *id,
			  bool want_started, long *slot)
{
	if (!id_ok(id))
		return malformed(d, "container_id", "expected 1-128 of [A-Za-z0-9._-]");
	*slot = ctr_find_id(e, id);
	if (*slot < 0)
		return deny(d, want_started ? POLICY_RULE_CONTAINER_NOT_STARTED : POLICY_RULE_NO_OVERLAY,
			    "container_id", NULL, id,
			    want_started ? "no such container" : "no overlay is mounted for this container id");
	const struct ctr_entry *ce = &e->ctrs[*slot];
	if (want_started && !ce->started)
		return deny(d, POLICY_RULE_CONTAINER_NOT_STARTED, "container_id", NULL, id,
			    "the container is not running");
	if (!want_started && ce->started)
		return deny(d, POLICY_RULE_CONTAINER_STARTED, "container_id", NULL, id,
			    "the container was already created");
	if (!want_started && ce->shut_down)
		return deny(d, POLICY_RULE_NO_OVERLAY, "container_id", NULL, id,
			    "the container was shut down; unmount and mount its overlay again");
	return 0;
}

static void debug_effective(struct policy_decision *d, const struct policy_strv *env,
			    struct policy_caps caps)
{
	for (size_t i = 0; i < env->n; i++)
		d->env_keep[i] = (uint16_t)i;
	d->n_env_keep = env->n;
	d->caps = caps;
	d->allow_stdio_access = true;
}

int policy_create_container(struct policy_engine *e, const struct policy_req_create_container *r,
			    struct policy_decision *d)
{
	bool debug;
	int ret = begin(e, d, POLICY_REQ_CREATE_CONTAINER, &debug);
	if (ret)
		return ret;
	if ((ret = check_process_fields(d, &r->command, &r->env, r->working_dir)))
		return ret;
	if (!user_ok(&r->user))
		return malformed(d, "user", "bad additional_gids or umask");
	if (r->n_mounts > POLICY_MAX_MOUNTS || (r->n_mounts && !r->mounts))
		return malformed(d, "mounts", "more than 128 mounts");
	for (size_t i = 0; i < r->n_mounts; i++) {
		const struct policy_mount *m = &r->mounts[i];
		bool ok = str_ok(m->source, POLICY_MAX_STRING) && str_ok(m->type, 64) &&
			  str_ok(m->destination, POLICY_MAX_STRING) &&
			  m->n_options <= POLICY_MAX_MOUNT_OPTIONS && (!m->n_options || m->options);
		for (size_t j = 0; ok && j < m->n_options; j++)
			ok = str_ok(m->options[j], POLICY_MAX_STRING);
		if (!ok)
			return malformed(d, "mounts", "bad mount entry");
		if (!path_is_normalised_absolute(m->destination)) {
			char field[64];
			snprintf(field, sizeof(field), "mounts[%zu].destination", i);
			return deny(d, POLICY_RULE_MOUNTS, field, "a normalised absolute path",
				    m->destination, "mount destination is not a normalised absolute path");
		}
		/* a path source never traverses, whatever a policy regex would accept */
		if (m->source[0] == '/' && !path_is_normalised_absolute(m->source)) {
			char field[64];
			snprintf(field, sizeof(field), "mounts[%zu].source", i);
			return deny(d, POLICY_RULE_MOUNTS, field, "a normalised absolute path",
				    m->source, "mount source is not a normalised absolute path");
		}
	}
	if (debug) {
		if (!id_ok(r->container_id))
			return malformed(d, "container_id", "expected 1-128 of [A-Za-z0-9._-]");
		debug_effective(d, &r->env, r->caps);
		return allow_debug(d);
	}
	long slot;
	if ((ret = find_container(e, d, r->container_id, false, &slot)))
		return ret;
	struct cands c = e->ctrs[slot].cands;
	struct proc_req pr = { .command = &r->command,
			       .working_dir = r->working_dir,
			       .user = &r->user,
			       .no_new_privileges = r->no_new_privileges,
			       .privileged = r->privileged,
			       .mounts = r->mounts,
			       .n_mounts = r->n_mounts,
			       .has_seccomp = r->has_seccomp_profile,
			       .seccomp = r->seccomp_profile_sha256 };
	if ((ret = narrow(e, &c, create_checks, N_ELEMS(create_checks), &pr, d)))
		return ret;
	if ((ret = decide_env(e, &c, e->n_containers, container_proc, &r->env, d)))
		return ret;
	if ((ret = decide_caps(e, &c, e->n_containers, container_proc, r->caps, d)))
		return ret;
	if ((ret = decide_stdio(e, &c, e->n_containers, container_proc, d)))
		return ret;
	undo_save_ctr(e, (size_t)slot);
	e->ctrs[slot].cands = c;
	e->ctrs[slot].started = true;
	return allow(d);
}

int policy_exec_in_container(struct policy_engine *e, const struct policy_req_exec_in_container *r,
			     struct policy_decision *d)
{
	bool debug;
	int ret = begin(e, d, POLICY_REQ_EXEC_IN_CONTAINER, &debug);
	if (ret)
		return ret;
	if ((ret = check_process_fields(d, &r->command, &r->env, r->working_dir)))
		return ret;
	if (!user_ok(&r->user))
		return malformed(d, "user", "bad additional_gids or umask");
	if (debug) {
		if (!id_ok(r->container_id))
			return malformed(d, "container_id", "expected 1-128 of [A-Za-z0-9._-]");
		debug_effective(d, &r->env, r->caps);
		return allow_debug(d);
	}
	long slot;
	if ((ret = find_container(e, d, r->container_id, true, &slot)))
		return ret;
	struct cands c = e->ctrs[slot].cands;
	struct proc_req pr = { .command = &r->command,
			       .working_dir = r->working_dir,
			       .user = &r->user,
			       .no_new_privileges = r->no_new_privileges,
			       .exec = true };
	if ((ret = narrow(e, &c, exec_checks, N_ELEMS(exec_checks), &pr, d)))
		return ret;
	if ((ret = decide_env(e, &c, e->n_containers, container_proc, &r->env, d)))
		return ret;
	if ((ret = decide_caps(e, &c, e->n_containers, container_proc, r->caps, d)))
		return ret;
	if ((ret = decide_stdio(e, &c, e->n_containers, container_proc, d)))
		return ret;
	undo_save_ctr(e, (size_t)slot);
	e->ctrs[slot].cands = c;
	return allow(d);
}

int policy_exec_external(struct policy_engine *e, const struct policy_req_exec_external *r,
			 struct policy_decision *d)
{
	bool debug;
	int ret = begin(e, d, POLICY_REQ_EXEC_EXTERNAL, &debug);
	if (ret)
		return ret;
	if ((ret = check_process_fields(d, &r->command, &r->env, r->working_dir)))
		return ret;
	if (debug) {
		debug_effective(d, &r->env, no_caps);
		return allow_debug(d);
	}
	struct cands c = { 0 };
	char got[POLICY_REASON_TEXT];
	for (size_t i = 0; i < e->n_externals; i++)
		if (strv_equal(&e->externals[i].command, &r->command))
			cands_set(&c, i);
	if (cands_empty(&c)) {
		render_strv(got, sizeof(got), r->command.v, r->command.n);
		return deny(d, POLICY_RULE_EXTERNAL_PROCESS, "command",
			    "a command in external_processes", got,
			    "the policy lists no such external process");
	}
	struct cands next = { 0 };
	CANDS_FOREACH(&c, i, e->n_externals)
	if (!strcmp(e->externals[i].working_dir, r->working_dir))
		cands_set(&next, i);
	if (cands_empty(&next))
		return deny(d, POLICY_RULE_WORKING_DIR, "working_dir",
			    e->externals[cands_first(&c)].working_dir, r->working_dir,
			    "working directory differs from the policy");
	c = next;
	if ((ret = decide_env(e, &c, e->n_externals, external_proc, &r->env, d)))
		return ret;
	if ((ret = decide_stdio(e, &c, e->n_externals, external_proc, d)))
		return ret;
	undo_clear(e);
	return allow(d);
}

int policy_signal_process(struct policy_engine *e, const struct policy_req_signal_process *r,
			  struct policy_decision *d)
{
	bool debug;
	int ret = begin(e, d, POLICY_REQ_SIGNAL_PROCESS, &debug);
	if (ret)
		return ret;
	if (r->signal < 1 || r->signal > 64)
		return malformed(d, "signal", "expected a signal number 1..64");
	if (!r->init_process && (!strv_ok(&r->command, POLICY_MAX_ARGS) || !r->command.n))
		return malformed(d, "command", "expected the exec'd process's command");
	if (debug)
		return allow_debug(d);
	long slot;
	if ((ret = find_container(e, d, r->container_id, true, &slot)))
		return ret;
	/* as in Parma's framework, a signal also narrows the candidates to those
	 * that allow it */
	uint64_t bit = 1ull << (r->signal - 1);
	struct cands next = { 0 };
	CANDS_FOREACH(&e->ctrs[slot].cands, i, e->n_containers)
	{
		const struct container_rule *c = &e->containers[i];
		bool ok = r->init_process && (c->signals & bit);
		for (size_t x = 0; !r->init_process && x < c->n_execs && !ok; x++)
			ok = (c->execs[x].signals & bit) && strv_equal(&c->execs[x].command, &r->command);
		if (ok)
			cands_set(&next, i);
	}
	if (!cands_empty(&next)) {
		undo_save_ctr(e, (size_t)slot);
		e->ctrs[slot].cands = next;
		return allow(d);
	}
	char got[16];
	snprintf(got, sizeof(got), "%d", r->signal);
	return deny(d, POLICY_RULE_SIGNAL, "signal",
		    r->init_process ? "a signal in the container's signals"
				    : "a signal in the exec process's signals",
		    got, "the policy does not allow this signal for this %s",
		    r->init_process ? "container" : "exec process");
}

int policy_shutdown_container(struct policy_engine *e,
			      const struct policy_req_shutdown_container *r, struct policy_decision *d)
{
	bool debug;
	int ret = begin(e, d, POLICY_REQ_SHUTDOWN_CONTAINER, &debug);
	if (ret)
		return ret;
	if (debug) {
		if (!id_ok(r->container_id))
			return malformed(d, "container_id", "expected 1-128 of [A-Za-z0-9._-]");
		return allow_debug(d);
	}
	long slot;
	if ((ret = find_container(e, d, r->container_id, true, &slot)))
		return ret;
	undo_save_ctr(e, (size_t)slot);
	e->ctrs[slot].started = false;
	e->ctrs[slot].shut_down = true;
	memset(&e->ctrs[slot].cands, 0, sizeof(e->ctrs[slot].cands));
	return allow(d);
}

static int flag_point(struct policy_engine *e, struct policy_decision *d,
		      enum policy_request_type t, size_t flag_off, enum policy_rule rule,
		      const char *flag)
{
	bool debug;
	int ret = begin(e, d, t, &debug);
	if (ret)
		return ret;
	if (debug)
		return allow_debug(d);
	if (!*(const bool *)((const char *)&e->policy->flags + flag_off))
		return deny(d, rule, NULL, flag, NULL, "the policy does not set %s", flag);
	undo_clear(e);
	return allow(d);
}

int policy_get_properties(struct policy_engine *e, struct policy_decision *d)
{
	return flag_point(e, d, POLICY_REQ_GET_PROPERTIES,
			  offsetof(struct policy_flags, allow_properties_access), POLICY_RULE_PROPERTIES,
			  "allow_properties_access");
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

int policy_load_fragment(struct policy_engine *e, const struct policy_req_load_fragment *r,
			 struct policy_decision *d)
{
	bool debug;
	struct errbuf eb = { 0 };
	int ret = begin(e, d, POLICY_REQ_LOAD_FRAGMENT, &debug);
	if (ret)
		return ret;
	if (!str_ok(r->issuer, 1024) || !str_ok(r->feed, 1024))
		return malformed(d, "issuer", "issuer and feed are strings of at most 1024 bytes");
	if (!r->fragment || r->len > POLICY_MAX_BYTES)
		return malformed(d, "fragment", "missing or larger than the policy size limit");
	if (debug)
		return allow_debug(d);
	const struct fragment_import *imp = NULL;
	for (size_t i = 0; i < e->policy->n_fragments && !imp; i++)
		if (!strcmp(e->policy->fragments[i].issuer, r->issuer) &&
		    !strcmp(e->policy->fragments[i].feed, r->feed))
			imp = &e->policy->fragments[i];
	if (!imp)
		return deny(d, POLICY_RULE_FRAGMENT, "feed", "an issuer and feed listed in fragments",
			    r->feed, "the policy imports no fragment from this issuer and feed");
	if (r->svn < imp->minimum_svn) {
		char exp[32], got[32];
		snprintf(exp, sizeof(exp), ">= %llu", (unsigned long long)imp->minimum_svn);
		snprintf(got, sizeof(got), "%llu", (unsigned long long)r->svn);
		return deny(d, POLICY_RULE_FRAGMENT, "svn", exp, got,
			    "fragment SVN is below the policy's minimum_svn");
	}
	for (size_t i = 0; i < e->n_frags; i++)
		if (!strcmp(e->frags[i].issuer, r->issuer) && !strcmp(e->frags[i].feed, r->feed))
			return deny(d, POLICY_RULE_FRAGMENT, "feed", NULL, r->feed,
				    "a fragment from this issuer and feed is already loaded");
	if (e->n_frags == POLICY_MAX_FRAGMENTS)
		return deny(d, POLICY_RULE_STATE_FULL, NULL, NULL, NULL, "too many fragments");
	struct policy *f;
	struct fragment_meta meta;
	ret = policy_parse_fragment(r->fragment, r->len, e->containers, e->n_containers, &f, &meta,
				    &eb);
	if (ret == -ENOMEM) {
		deny(d, POLICY_RULE_INTERNAL, NULL, NULL, NULL, "out of memory");
		return ret;
	}
	if (ret)
		return deny(d, POLICY_RULE_FRAGMENT, "fragment", NULL, NULL, "%s", errbuf_msg(&eb));
	const char *bad = strcmp(meta.issuer, r->issuer) ? "issuer"
			  : strcmp(meta.feed, r->feed)	 ? "feed"
			  : meta.svn != r->svn		 ? "svn"
			  : f->n_containers && !imp->include_containers ? "containers"
			  : f->n_externals && !imp->include_external   ? "external_processes"
			  : e->n_containers + f->n_containers > POLICY_MAX_CONTAINERS
				  ? "containers"
				  : NULL;
	if (bad) {
		policy_free(f);
		return deny(d, POLICY_RULE_FRAGMENT, bad, NULL, NULL,
			    "fragment %s does not match the signature or the import's includes", bad);
	}
	struct container_rule *mc = concat(e->containers, e->n_containers, f->containers,
					   f->n_containers, sizeof(*mc));
	struct external_rule *mx = concat(e->externals, e->n_externals, f->externals,
					  f->n_externals, sizeof(*mx));
	if (!mc || !mx) {
		free(mc);
		free(mx);
		policy_free(f);
		deny(d, POLICY_RULE_INTERNAL, NULL, NULL, NULL, "out of memory");
		return -ENOMEM;
	}
	/* the previous arrays stay with the undo record until it is forgotten */
	undo_forget(e);
	e->undo.kind = UNDO_FRAGMENT;
	e->undo.old_containers = (struct container_rule *)e->containers;
	e->undo.old_n_containers = e->n_containers;
	e->undo.old_externals = (struct external_rule *)e->externals;
	e->undo.old_n_externals = e->n_externals;
	e->merged_containers = mc;
	e->merged_externals = mx;
	e->containers = mc;
	e->n_containers += f->n_containers;
	e->externals = mx;
	e->n_externals += f->n_externals;
	e->frags[e->n_frags++] = (struct loaded_fragment){ f, meta.issuer, meta.feed, meta.svn };
	return allow(d);
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
		/* the restored arrays are the merged ones of an earlier fragment, or the policy's */
		e->merged_containers = u->old_containers != e->policy->containers ? u->old_containers : NULL;
		e->merged_externals = u->old_externals != e->policy->externals ? u->old_externals : NULL;
		break;
	}
	case UNDO_NONE:
	default:
		return -ENOENT;
	}
	u->kind = UNDO_NONE;
	return 0;
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
	default:
		decision_init(d, POLICY_REQ_UNKNOWN);
		ret = deny(d, POLICY_RULE_UNKNOWN_REQUEST, "type", NULL, NULL, "unknown request type");
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
			   *ctrs = json_object_new_array(), *frags = json_object_new_array();
	if (!root || !devs || !ctrs || !frags)
		goto oom;
	json_object_object_add(root, "installed", json_object_new_boolean(e->policy != NULL));
	if (e->policy)
		json_object_object_add(root, "policy", json_object_new_string(e->policy->digest.hex));
	for (size_t i = 0; i < e->dev_hw; i++) {
		const struct dev_entry *dv = &e->devs[i];
		if (!dv->used)
			continue;
		struct json_object *o = json_object_new_object();
		char h[65];
		render_hash(h, sizeof(h), dv->hash);
		json_object_object_add(o, "key", json_object_new_string(dv->target));
		json_object_object_add(o, "target", json_object_new_string(dv->target));
		json_object_object_add(o, "kind",
				       json_object_new_string(!dv->scratch	 ? "layer"
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
			json_object_array_add(layers,
					      json_object_new_string(e->devs[ce->layer_dev[j]].target));
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
		json_object_object_add(o, "issuer", json_object_new_string(e->frags[i].issuer));
		json_object_object_add(o, "feed", json_object_new_string(e->frags[i].feed));
		json_object_object_add(o, "svn", json_object_new_uint64(e->frags[i].svn));
		json_object_array_add(frags, o);
	}
	json_object_object_add(root, "devices", devs);
	json_object_object_add(root, "containers", ctrs);
	json_object_object_add(root, "fragments", frags);
	json_object_object_add(root, "n_container_rules", json_object_new_uint64(e->n_containers));
	json_object_object_add(root, "n_external_rules", json_object_new_uint64(e->n_externals));
	*out = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return *out ? 0 : -ENOMEM;
oom:
	json_object_put(root);
	json_object_put(devs);
	json_object_put(ctrs);
	json_object_put(frags);
	return -ENOMEM;
}
