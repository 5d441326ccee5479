/* policy_engine_internal: the engine's state and the helpers its files share
 * (policy_engine.c: state, mounts, fragments; policy_process.c: create, exec,
 * signals; policy_reason.c: decisions and reasons). Internal to policy/lang. */
#ifndef PARMA_POLICY_LANG_POLICY_ENGINE_INTERNAL_H
#define PARMA_POLICY_LANG_POLICY_ENGINE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/lang/policy.h"
#include "policy/lang/policy_internal.h"

/* One bit per container rule (or external process rule) in force. */
#define CAND_WORDS (POLICY_MAX_CONTAINERS / 64)
_Static_assert(POLICY_MAX_EXTERNAL <= POLICY_MAX_CONTAINERS, "candidate sets index externals too");

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
	bool has_scratch;     /* the writable layer is on a scratch disk: */
	uint16_t scratch_dev; /* its dev slot */
	struct cands cands;
};

struct loaded_fragment {
	struct policy *doc;
	const struct rule_source *src; /* in doc's arena */
	uint8_t payload_sha256[POLICY_SHA256_LEN];
	bool superseded; /* a higher SVN of the same issuer and feed was loaded */
	size_t first_ctr, n_ctr, first_ext, n_ext; /* its rules in the merged arrays */
};

/* A fragment import in force: the policy's, or one a loaded fragment added. */
struct import_ref {
	const struct fragment_import *imp;
	long from; /* index into frags, -1 = the policy */
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
	bool retired; /* UNDO_CTR: the entry's id was retired */
	/* fragments */
	struct container_rule *old_containers;
	size_t old_n_containers;
	struct external_rule *old_externals;
	size_t old_n_externals;
	size_t old_n_imports;
	long superseded; /* frags index the load superseded, -1 none */
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
	struct import_ref imports[POLICY_MAX_FRAGMENTS];
	size_t n_imports;
	struct dev_entry *devs;
	size_t dev_hw; /* slots [0, dev_hw) may be used */
	struct ctr_entry *ctrs;
	size_t ctr_hw;
	/* Ids of containers that were created, shut down and unmounted, sorted: such an
	 * id never gets an overlay again (its container's files must never reappear). */
	char **retired;
	size_t n_retired, cap_retired;
	struct regex_matcher rm;
	struct undo undo;
};

/* ---- candidate sets ---- */

static inline void cands_set(struct cands *c, size_t i)
{
	c->w[i / 64] |= 1ull << (i % 64);
}

static inline bool cands_has(const struct cands *c, size_t i)
{
	return c->w[i / 64] & (1ull << (i % 64));
}

static inline bool cands_empty(const struct cands *c)
{
	for (size_t i = 0; i < CAND_WORDS; i++)
		if (c->w[i])
			return false;
	return true;
}

/* First index in c, or SIZE_MAX. */
static inline size_t cands_first(const struct cands *c)
{
	for (size_t i = 0; i < CAND_WORDS; i++)
		if (c->w[i])
			return i * 64 + (size_t)__builtin_ctzll(c->w[i]);
	return SIZE_MAX;
}

#define CANDS_FOREACH(c, i, n)                                                                     \
	for (size_t i = 0; i < (n); i++)                                                           \
		if (cands_has((c), i))

/* ---- decisions and reasons (policy_reason.c) ---- */
void engine_decision_init(struct policy_decision *d, enum policy_request_type type);
int engine_allow(struct policy_decision *d); /* returns 0 */
/* Fill the reason (expected/got may be NULL); returns -EACCES. */
int engine_deny(struct policy_decision *d, enum policy_rule rule, const char *field,
		const char *expected, const char *got, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/* Bounded text building for reasons: truncation is marked with "...". */
struct text {
	char *buf;
	size_t size, len;
};
void engine_text_add(struct text *t, const char *s, size_t n);
void engine_text_str(struct text *t, const char *s);
void engine_render_strv(char *buf, size_t size, const char *const *v, size_t n);
void engine_render_env(char *buf, size_t size, const char *var); /* NAME=<<redacted>> */
void engine_render_caps(char *buf, size_t size, uint64_t set);
void engine_render_hash(char *buf, size_t size, const uint8_t h[POLICY_SHA256_LEN]);

/* ---- shared by the entry points (policy_engine.c) ---- */
bool engine_str_ok(const char *s, size_t max);
bool engine_strv_ok(const struct policy_strv *v, size_t max_n);
bool engine_env_ok(const struct policy_strv *env);
bool engine_user_ok(const struct policy_user *u);
bool engine_id_ok(const char *id);

/* Checks against the path map (policy_paths.c); each returns 0 or a denial. */
enum engine_path_kind { ENGINE_PATH_LAYER, ENGINE_PATH_SCRATCH, ENGINE_PATH_ROOTFS };
int engine_check_not_agent_state(struct policy_decision *d, const char *field, const char *path);
/* target must be the map's path for its kind (ROOTFS: of container id). */
int engine_check_kind(struct policy_decision *d, const char *field, const char *target,
		      enum engine_path_kind kind, const char *id);
int engine_check_source(const struct policy_engine *e, struct policy_decision *d,
			const char *field, const struct policy_mount *m);
int engine_malformed(struct policy_decision *d, const char *field, const char *what);
void engine_undo_clear(struct policy_engine *e);
void engine_undo_save_ctr(struct policy_engine *e, size_t slot);
long engine_ctr_find_id(const struct policy_engine *e, const char *id);
/* Start a decision: denies when closed; *debug tells if the policy is the debug form. */
int engine_begin(struct policy_engine *e, struct policy_decision *d, enum policy_request_type t,
		 bool *debug);
int engine_allow_debug(struct policy_decision *d);
/* Say in d->source where the rules of candidate set c came from ("policy", "fragment ISSUER
 * feed F svn N"); externals selects the external process rules. */
void engine_note_source(const struct policy_engine *e, struct policy_decision *d,
			const struct cands *c, bool externals);
bool engine_strv_equal(const struct strlist *a, const struct policy_strv *b);

#endif
