/* policy_internal: the loaded policy's representation, shared by the parser,
 * the engine and the tools of policy/lang only (not a public header). */
#ifndef PARMA_POLICY_LANG_POLICY_INTERNAL_H
#define PARMA_POLICY_LANG_POLICY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "common/errbuf.h"
#include "policy/lang/policy.h"

struct json_object;

/* ---- arena: every allocation of a policy, freed at once ---- */
struct arena_block;
struct arena {
	struct arena_block *head;
	size_t total;
};
void *policy_arena_alloc(struct arena *a, size_t size); /* zeroed; NULL on ENOMEM */
char *policy_arena_strdup(struct arena *a, const char *s);
void policy_arena_free(struct arena *a);

/* ---- regex: PCRE2, compiled once, full-string match with the interpreter.
 * Work is counted in units as the match runs: every pattern item PCRE2 tries
 * (an automatic callout before each) is one unit, and every
 * REGEX_BYTES_PER_UNIT bytes the match moves through the subject between two
 * items (the scanning of a repeat or a lookaround) is one more; each match is
 * also charged 1 + length / REGEX_SCAN_BYTES_PER_UNIT up front (the call, and
 * a scan after its last item). A match may use at most
 * REGEX_UNITS_PER_BYTE x (length + 64) units, a request at most
 * REGEX_REQUEST_BUDGET over all its matches: it pays for the work its matches
 * did, and anything a limit stops fails the whole request. */
struct regex {
	pcre2_code *code;
};
#define REGEX_UNITS_PER_BYTE	  16	     /* a match's ceiling: 16 x (length + 64) units */
#define REGEX_BYTES_PER_UNIT	  16	     /* of movement in the subject between two items */
#define REGEX_SCAN_BYTES_PER_UNIT 64	     /* of the one scan charged up front */
#define REGEX_REQUEST_BUDGET	  (1u << 24) /* units per request, over all its matches */
#define REGEX_HEAP_LIMIT_KIB	  8192	     /* backtracking memory of one match */

enum regex_stop {
	REGEX_STOP_NONE,
	REGEX_STOP_STEPS,  /* a match needed more than its ceiling */
	REGEX_STOP_BUDGET, /* the request's budget ran out during a match */
	REGEX_STOP_HEAP,   /* a match needed more than REGEX_HEAP_LIMIT_KIB */
	REGEX_STOP_ERROR,  /* another PCRE2 error (out of memory) */
};

struct regex_matcher {
	pcre2_match_context *mctx;
	pcre2_match_data *mdata;
	uint64_t budget; /* units left for this request */
	uint64_t spent;	 /* units charged so far in this request */
	/* the first stop of this request; once stopped, every match returns -1 */
	enum regex_stop stop;
	const char *stop_subject; /* the subject it stopped on (the caller's pointer) */
	size_t stop_len;
	uint64_t stop_limit; /* the units the stopped match could use */
	/* the match in progress (see regex_callout) */
	uint64_t run_items, run_bytes, run_limit;
	size_t run_pos;
};
int policy_regex_matcher_init(struct regex_matcher *m);
void policy_regex_matcher_fini(struct regex_matcher *m);
/* A new request: full budget, no stop. */
void policy_regex_matcher_reset(struct regex_matcher *m);
uint64_t policy_regex_work_limit(size_t len); /* a match's ceiling in units */
/* A compile context with the pattern limits; NULL on ENOMEM. */
pcre2_compile_context *policy_regex_compile_context(void);
int policy_regex_compile(struct regex *re, const char *pattern, pcre2_compile_context *cc,
			 struct errbuf *eb);
/* 1 = the whole subject matches; 0 = no match; -1 = a limit stopped this match
 * (or an earlier one of the request): the caller must deny the request. */
int policy_regex_full_match(const struct regex *re, const char *subject, size_t len,
			    struct regex_matcher *m);
void policy_regex_free(struct regex *re);

struct strlist {
	char **v;
	size_t n;
};

struct env_rule {
	char *pattern;
	bool is_regex;
	bool required;
	struct regex re;
};

struct env_rules {
	struct env_rule *v;
	size_t n;
};

struct mount_rule {
	char *source;
	bool source_is_regex;
	struct regex source_re;
	char *destination;
	char *type;
	struct strlist options;
};

struct exec_rule {
	struct strlist command;
	char *working_dir; /* NULL: the container's */
	uint64_t signals;  /* bit s-1 = signal s */
};

struct user_rule {
	uint32_t uid, gid, umask;
	uint32_t *gids;
	size_t n_gids;
};

/* Where a rule came from: a loaded fragment's verified issuer, feed and SVN. Rules of the
 * policy itself have no source (NULL). */
struct rule_source {
	const char *issuer, *feed;
	uint64_t svn;
};

struct container_rule {
	char *name;
	const struct rule_source *source; /* NULL: the policy */
	bool retired; /* its fragment was superseded: no new overlay may match it */
	uint8_t (*layers)[POLICY_SHA256_LEN];
	size_t n_layers;
	struct strlist command;
	struct env_rules env;
	char *working_dir;
	struct user_rule user;
	struct policy_caps caps;
	bool no_new_privileges, allow_elevated, allow_stdio_access;
	struct mount_rule *mounts;
	size_t n_mounts;
	struct exec_rule *execs;
	size_t n_execs;
	uint64_t signals;
	bool has_seccomp;
	uint8_t seccomp[POLICY_SHA256_LEN];
};

struct external_rule {
	const struct rule_source *source; /* NULL: the policy */
	bool retired;
	struct strlist command;
	struct env_rules env;
	char *working_dir;
	bool allow_stdio_access;
};

struct fragment_import {
	char *issuer, *feed; /* issuer: a did:x509 DID */
	uint64_t minimum_svn;
	bool include_containers, include_external, include_fragments;
	/* what the fragment's rules may grant beyond the default (false: never) */
	bool allow_stdio_access, allow_elevated;
};

struct policy {
	bool debug;
	struct policy_flags flags;
	struct container_rule *containers;
	size_t n_containers;
	struct external_rule *externals;
	size_t n_externals;
	struct fragment_import *fragments;
	size_t n_fragments;
	struct policy_digest digest;
	struct arena arena;
	struct regex **regexes; /* every compiled regex, to free them */
	size_t n_regexes, cap_regexes;
};

/* Parse a fragment payload (docs/policy.md, "Fragments") into a new struct policy holding its
 * containers, external processes and fragment imports (its own arena), and the issuer, feed
 * and svn it declares (*src, in that arena). Container names must not clash with
 * `existing`. Caller policy_free()s *out. */
int policy_parse_fragment(const uint8_t *bytes, size_t len, const struct container_rule *existing,
			  size_t n_existing, struct policy **out, struct rule_source **src,
			  struct errbuf *eb);

/* What a struct policy_request's `storage` points to: the arena its arrays live in, and the
 * JSON object its strings are borrowed from (NULL for requests built by policy_query.c). */
struct req_storage {
	struct arena arena;
	struct json_object *obj;
};

/* Parse text into a json-c tree with the depth limit, strict syntax and
 * checked UTF-8; the whole input must be consumed. Caller puts *out. */
int policy_json_parse(const char *text, size_t len, struct json_object **out, struct errbuf *eb);

/* Path checks shared by the parser and the engine. */
bool policy_path_is_normalised(const char *p); /* "/", "/a/b"; no ".", "..", "//", trailing "/" */

#endif
