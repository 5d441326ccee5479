/* policy_process: the enforcement points that start or touch processes —
 * create_container, exec_in_container, exec_external, signal_process,
 * shutdown_container — with Parma's candidate narrowing, environment and
 * capability dropping to a unique largest set, and stdio ambiguity. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/encoding.h"
#include "policy/lang/policy_engine_internal.h"

/* ---- process checks shared by create, exec and exec_external ---- */

bool engine_strv_equal(const struct strlist *a, const struct policy_strv *b)
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
	return policy_regex_full_match(&r->re, var, strlen(var), &e->rm) == 1;
}

static bool env_var_allowed(struct policy_engine *e, const struct env_rules *rules, const char *var)
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
			engine_render_env(got, sizeof(got), var);
			engine_deny(d, POLICY_RULE_ENV, field, "a variable matching an env rule",
				    got, "environment variable not allowed by the policy");
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
				snprintf(want, sizeof(want),
					 "a variable matching required regex rule %zu", i);
			else
				engine_render_env(want, sizeof(want), rules->v[i].pattern);
			engine_deny(d, POLICY_RULE_ENV_REQUIRED, "env", want, NULL,
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
			return engine_deny(
				d, POLICY_RULE_ENV_AMBIGUOUS, "env", "one largest allowed set",
				NULL,
				"candidate containers allow different environment subsets of "
				"equal size");
	}
	struct cands next = {0};
	CANDS_FOREACH(c, i, n)
	if (envlist_ok(e, rule_of(e, i).env, env, best, n_best, NULL))
		cands_set(&next, i);
	if (cands_empty(&next)) {
		envlist_ok(e, rule_of(e, cands_first(c)).env, env, best, n_best, d);
		if (d->allowed || d->reason.rule == POLICY_RULE_NONE)
			engine_deny(d, POLICY_RULE_ENV, "env", NULL, NULL,
				    "environment not allowed");
		return -EACCES;
	}
	*c = next;
	memcpy(d->env_keep, best, n_best * sizeof(best[0]));
	d->n_env_keep = n_best;
	return 0;
}

static uint64_t *caps_set(struct policy_caps *c, int i)
{
	uint64_t *v[] = {&c->bounding, &c->effective, &c->inheritable, &c->permitted, &c->ambient};
	return v[i];
}

static const char *const caps_set_names[] = {"bounding", "effective", "inheritable", "permitted",
					     "ambient"};

static int caps_count(struct policy_caps c)
{
	return __builtin_popcountll(c.bounding) + __builtin_popcountll(c.effective) +
	       __builtin_popcountll(c.inheritable) + __builtin_popcountll(c.permitted) +
	       __builtin_popcountll(c.ambient);
}

static bool caps_equal(struct policy_caps a, struct policy_caps b)
{
	return a.bounding == b.bounding && a.effective == b.effective &&
	       a.inheritable == b.inheritable && a.permitted == b.permitted &&
	       a.ambient == b.ambient;
}

static struct policy_caps caps_and(struct policy_caps a, struct policy_caps b)
{
	return (struct policy_caps){a.bounding & b.bounding, a.effective & b.effective,
				    a.inheritable & b.inheritable, a.permitted & b.permitted,
				    a.ambient & b.ambient};
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
			return engine_deny(
				d, POLICY_RULE_CAPABILITIES_AMBIGUOUS, "capabilities",
				"one largest allowed set", NULL,
				"candidate containers allow different capability sets of equal "
				"size");
	}
	struct cands next = {0};
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
			engine_render_caps(exp, sizeof(exp), *caps_set(&pc, s));
			engine_render_caps(got, sizeof(got), *caps_set(&req, s));
			return engine_deny(d, POLICY_RULE_CAPABILITIES, field, exp, got,
					   "capabilities differ from the policy");
		}
		return engine_deny(d, POLICY_RULE_CAPABILITIES, "capabilities", NULL, NULL,
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
			return engine_deny(
				d, POLICY_RULE_STDIO_AMBIGUOUS, "allow_stdio_access", NULL, NULL,
				"candidate containers differ in stdio access: request is "
				"ambiguous");
		v = s;
		first = false;
	}
	d->allow_stdio_access = v;
	return 0;
}

static struct proc_rule container_proc(const struct policy_engine *e, size_t i)
{
	const struct container_rule *c = &e->containers[i];
	return (struct proc_rule){&c->env, &c->caps, c->allow_stdio_access};
}

static const struct policy_caps no_caps;

static struct proc_rule external_proc(const struct policy_engine *e, size_t i)
{
	const struct external_rule *x = &e->externals[i];
	return (struct proc_rule){&x->env, &no_caps, x->allow_stdio_access};
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
		engine_deny(d, POLICY_RULE_PRIVILEGED, "privileged", "false", "true",
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
		engine_deny(d, POLICY_RULE_NO_NEW_PRIVILEGES, "no_new_privileges", "true", "false",
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
	const char *field = u->uid != r->user->uid	 ? "user.uid"
			    : u->gid != r->user->gid	 ? "user.gid"
			    : u->umask != r->user->umask ? "user.umask"
			    : !gids_equal(u, r->user)	 ? "user.additional_gids"
							 : NULL;
	if (!field)
		return true;
	if (d) {
		char exp[64], got[64];
		snprintf(exp, sizeof(exp), "uid %u gid %u umask %04o", u->uid, u->gid, u->umask);
		snprintf(got, sizeof(got), "uid %u gid %u umask %04o", r->user->uid, r->user->gid,
			 r->user->umask);
		engine_deny(d, POLICY_RULE_USER, field, exp, got, "user does not match the policy");
	}
	return false;
}

static bool check_working_dir(struct policy_engine *e, const struct container_rule *c,
			      const struct proc_req *r, struct policy_decision *d)
{
	(void)e;
	if (r->exec) {
		for (size_t i = 0; i < c->n_execs; i++) {
			const char *wd =
				c->execs[i].working_dir ? c->execs[i].working_dir : c->working_dir;
			if (engine_strv_equal(&c->execs[i].command, r->command) &&
			    !strcmp(wd, r->working_dir))
				return true;
		}
		if (d)
			engine_deny(d, POLICY_RULE_WORKING_DIR, "working_dir", NULL, r->working_dir,
				    "working directory not allowed for this exec process");
		return false;
	}
	if (!strcmp(c->working_dir, r->working_dir))
		return true;
	if (d)
		engine_deny(d, POLICY_RULE_WORKING_DIR, "working_dir", c->working_dir,
			    r->working_dir, "working directory differs from the policy");
	return false;
}

static bool check_command(struct policy_engine *e, const struct container_rule *c,
			  const struct proc_req *r, struct policy_decision *d)
{
	(void)e;
	char exp[POLICY_REASON_TEXT], got[POLICY_REASON_TEXT];
	if (r->exec) {
		for (size_t i = 0; i < c->n_execs; i++)
			if (engine_strv_equal(&c->execs[i].command, r->command))
				return true;
		if (d) {
			engine_render_strv(got, sizeof(got), r->command->v, r->command->n);
			engine_deny(d, POLICY_RULE_EXEC_PROCESS, "command",
				    "a command in exec_processes", got,
				    "the policy lists no such exec process for this container");
		}
		return false;
	}
	if (engine_strv_equal(&c->command, r->command))
		return true;
	if (d) {
		engine_render_strv(exp, sizeof(exp), (const char *const *)c->command.v,
				   c->command.n);
		engine_render_strv(got, sizeof(got), r->command->v, r->command->n);
		engine_deny(d, POLICY_RULE_COMMAND, "command", exp, got,
			    "command differs from the policy");
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
	return policy_regex_full_match(&mr->source_re, m->source, strlen(m->source), &e->rm) == 1;
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
			engine_deny(d, POLICY_RULE_MOUNTS, field, "a mount listed in the policy",
				    got, "mount not allowed by the policy");
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
			engine_render_hash(exp, sizeof(exp), c->seccomp);
		if (r->has_seccomp)
			engine_render_hash(got, sizeof(got), r->seccomp);
		engine_deny(d, POLICY_RULE_SECCOMP, "seccomp_profile_sha256",
			    c->has_seccomp ? exp : "(none)", r->has_seccomp ? got : "(none)",
			    "seccomp profile differs from the policy");
	}
	return false;
}

/* Narrow c by each check in order; deny with the check that empties it. */
static int narrow(struct policy_engine *e, struct cands *c, const struct check *checks,
		  size_t n_checks, const struct proc_req *r, struct policy_decision *d)
{
	for (size_t k = 0; k < n_checks; k++) {
		struct cands next = {0};
		CANDS_FOREACH(c, i, e->n_containers)
		if (checks[k].ok(e, &e->containers[i], r, NULL))
			cands_set(&next, i);
		if (cands_empty(&next)) {
			struct cands first = {0};
			cands_set(&first, cands_first(c));
			checks[k].ok(e, &e->containers[cands_first(c)], r, d);
			engine_note_source(e, d, &first, false);
			return -EACCES;
		}
		*c = next;
	}
	return 0;
}

static const struct check create_checks[] = {
	{POLICY_RULE_PRIVILEGED, "privileged", check_privileged},
	{POLICY_RULE_NO_NEW_PRIVILEGES, "no_new_privileges", check_nnp},
	{POLICY_RULE_USER, "user", check_user},
	{POLICY_RULE_COMMAND, "command", check_command},
	{POLICY_RULE_WORKING_DIR, "working_dir", check_working_dir},
	{POLICY_RULE_MOUNTS, "mounts", check_mounts},
	{POLICY_RULE_SECCOMP, "seccomp_profile_sha256", check_seccomp},
};

static const struct check exec_checks[] = {
	{POLICY_RULE_EXEC_PROCESS, "command", check_command},
	{POLICY_RULE_WORKING_DIR, "working_dir", check_working_dir},
	{POLICY_RULE_NO_NEW_PRIVILEGES, "no_new_privileges", check_nnp},
	{POLICY_RULE_USER, "user", check_user},
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* A regex match stopped by a work limit decides the request: denied with rule
 * "limit", whichever candidate it was on and whatever the other checks said.
 * Counting it as "no match" would let the host drop a candidate (and with it,
 * say, an ambiguity) by making that candidate's check expensive. The field
 * names the subject (env[i], mounts[i].source), never its value. */
static int deny_limit(struct policy_engine *e, struct policy_decision *d,
		      const struct policy_strv *env, const struct policy_mount *mounts,
		      size_t n_mounts)
{
	const struct regex_matcher *m = &e->rm;
	char field[48] = "", exp[POLICY_REASON_TEXT], got[POLICY_REASON_TEXT];
	const char *what;
	for (size_t i = 0; i < env->n && !field[0]; i++)
		if (env->v[i] == m->stop_subject)
			snprintf(field, sizeof(field), "env[%zu]", i);
	for (size_t i = 0; i < n_mounts && !field[0]; i++)
		if (mounts[i].source == m->stop_subject)
			snprintf(field, sizeof(field), "mounts[%zu].source", i);
	switch (m->stop) {
	case REGEX_STOP_STEPS:
		snprintf(exp, sizeof(exp), "a match within %llu units of work (%d x (%zu + 64))",
			 (unsigned long long)m->stop_limit, REGEX_UNITS_PER_BYTE, m->stop_len);
		snprintf(got, sizeof(got), "more than %llu units",
			 (unsigned long long)m->stop_limit);
		what = "a regex match needed more work than its limit";
		break;
	case REGEX_STOP_BUDGET:
		snprintf(exp, sizeof(exp), "at most %u units of regex work per request",
			 REGEX_REQUEST_BUDGET);
		snprintf(got, sizeof(got), "more (%llu spent when a match ran out)",
			 (unsigned long long)m->spent);
		what = "the request's regex work budget is spent";
		break;
	case REGEX_STOP_HEAP:
		snprintf(exp, sizeof(exp), "a match within %d KiB of backtracking memory",
			 REGEX_HEAP_LIMIT_KIB);
		snprintf(got, sizeof(got), "more");
		what = "a regex match needed more memory than its limit";
		break;
	default:
		snprintf(exp, sizeof(exp), "a completed match");
		snprintf(got, sizeof(got), "a PCRE2 error");
		what = "a regex match failed";
		break;
	}
	return engine_deny(d, POLICY_RULE_LIMIT, field[0] ? field : NULL, exp, got,
			   "%s: the request is denied whichever candidate it was on", what);
}

static int check_process_fields(struct policy_decision *d, const struct policy_strv *command,
				const struct policy_strv *env, const char *working_dir)
{
	if (!engine_strv_ok(command, POLICY_MAX_ARGS) || command->n == 0)
		return engine_malformed(d, "command", "expected 1 to 256 strings");
	if (!engine_env_ok(env))
		return engine_malformed(d, "env", "expected at most 256 NAME=value strings");
	if (!engine_str_ok(working_dir, POLICY_MAX_STRING))
		return engine_malformed(d, "working_dir", "missing or too long");
	return 0;
}

/* The container entry for id, which must be started (or, for create, not). */
static int find_container(struct policy_engine *e, struct policy_decision *d, const char *id,
			  bool want_started, long *slot)
{
	if (!engine_id_ok(id))
		return engine_malformed(d, "container_id", "expected 1-128 of [A-Za-z0-9._-]");
	*slot = engine_ctr_find_id(e, id);
	if (*slot < 0)
		return engine_deny(d,
				   want_started ? POLICY_RULE_CONTAINER_NOT_STARTED
						: POLICY_RULE_NO_OVERLAY,
				   "container_id", NULL, id,
				   want_started ? "no such container"
						: "no overlay is mounted for this container id");
	const struct ctr_entry *ce = &e->ctrs[*slot];
	if (want_started && !ce->started)
		return engine_deny(d, POLICY_RULE_CONTAINER_NOT_STARTED, "container_id", NULL, id,
				   "the container is not running");
	if (!want_started && ce->started)
		return engine_deny(d, POLICY_RULE_CONTAINER_STARTED, "container_id", NULL, id,
				   "the container was already created");
	if (!want_started && ce->shut_down)
		return engine_deny(d, POLICY_RULE_ID_REUSED, "container_id", "an unused id", id,
				   "container %s was shut down; a container id is used once", id);
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
	int ret = engine_begin(e, d, POLICY_REQ_CREATE_CONTAINER, &debug);
	if (ret)
		return ret;
	if ((ret = check_process_fields(d, &r->command, &r->env, r->working_dir)))
		return ret;
	if (!engine_user_ok(&r->user))
		return engine_malformed(d, "user", "bad additional_gids or umask");
	if (r->n_mounts > POLICY_MAX_MOUNTS || (r->n_mounts && !r->mounts))
		return engine_malformed(d, "mounts", "more than 128 mounts");
	for (size_t i = 0; i < r->n_mounts; i++) {
		const struct policy_mount *m = &r->mounts[i];
		bool ok = engine_str_ok(m->source, POLICY_MAX_STRING) &&
			  engine_str_ok(m->type, 64) &&
			  engine_str_ok(m->destination, POLICY_MAX_STRING) &&
			  m->n_options <= POLICY_MAX_MOUNT_OPTIONS && (!m->n_options || m->options);
		for (size_t j = 0; ok && j < m->n_options; j++)
			ok = engine_str_ok(m->options[j], POLICY_MAX_STRING);
		if (!ok)
			return engine_malformed(d, "mounts", "bad mount entry");
		if (!policy_path_is_normalised(m->destination)) {
			char field[64];
			snprintf(field, sizeof(field), "mounts[%zu].destination", i);
			return engine_deny(d, POLICY_RULE_MOUNTS, field,
					   "a normalised absolute path", m->destination,
					   "mount destination is not a normalised absolute path");
		}
		/* a path source never traverses, whatever a policy regex would accept */
		if (m->source[0] == '/' && !policy_path_is_normalised(m->source)) {
			char field[64];
			snprintf(field, sizeof(field), "mounts[%zu].source", i);
			return engine_deny(d, POLICY_RULE_MOUNTS, field,
					   "a normalised absolute path", m->source,
					   "mount source is not a normalised absolute path");
		}
		/* the debug form keeps no mount state, but never exposes the agent's own */
		if (debug && m->source[0] == '/' &&
		    (ret = engine_check_not_agent_state(d, "mounts", m->source)))
			return ret;
	}
	if (debug) {
		if (!engine_id_ok(r->container_id))
			return engine_malformed(d, "container_id",
						"expected 1-128 of [A-Za-z0-9._-]");
		debug_effective(d, &r->env, r->caps);
		return engine_allow_debug(d);
	}
	long slot;
	if ((ret = find_container(e, d, r->container_id, false, &slot)))
		return ret;
	for (size_t i = 0; i < r->n_mounts; i++) {
		char field[64];
		snprintf(field, sizeof(field), "mounts[%zu].source", i);
		if ((ret = engine_check_source(e, d, field, &r->mounts[i])))
			return ret;
	}
	struct cands c = e->ctrs[slot].cands;
	struct proc_req pr = {.command = &r->command,
			      .working_dir = r->working_dir,
			      .user = &r->user,
			      .no_new_privileges = r->no_new_privileges,
			      .privileged = r->privileged,
			      .mounts = r->mounts,
			      .n_mounts = r->n_mounts,
			      .has_seccomp = r->has_seccomp_profile,
			      .seccomp = r->seccomp_profile_sha256};
	ret = narrow(e, &c, create_checks, N_ELEMS(create_checks), &pr, d);
	bool narrowed = !ret; /* narrow() names the source of a denial itself */
	if (!ret)
		ret = decide_env(e, &c, e->n_containers, container_proc, &r->env, d);
	if (!ret)
		ret = decide_caps(e, &c, e->n_containers, container_proc, r->caps, d);
	if (!ret)
		ret = decide_stdio(e, &c, e->n_containers, container_proc, d);
	if (e->rm.stop)
		return deny_limit(e, d, &r->env, r->mounts, r->n_mounts);
	if (ret) {
		if (narrowed)
			engine_note_source(e, d, &c, false);
		return ret;
	}
	engine_note_source(e, d, &c, false);
	engine_undo_save_ctr(e, (size_t)slot);
	e->ctrs[slot].cands = c;
	e->ctrs[slot].started = true;
	return engine_allow(d);
}

int policy_exec_in_container(struct policy_engine *e, const struct policy_req_exec_in_container *r,
			     struct policy_decision *d)
{
	bool debug;
	int ret = engine_begin(e, d, POLICY_REQ_EXEC_IN_CONTAINER, &debug);
	if (ret)
		return ret;
	if ((ret = check_process_fields(d, &r->command, &r->env, r->working_dir)))
		return ret;
	if (!engine_user_ok(&r->user))
		return engine_malformed(d, "user", "bad additional_gids or umask");
	if (debug) {
		if (!engine_id_ok(r->container_id))
			return engine_malformed(d, "container_id",
						"expected 1-128 of [A-Za-z0-9._-]");
		debug_effective(d, &r->env, r->caps);
		return engine_allow_debug(d);
	}
	long slot;
	if ((ret = find_container(e, d, r->container_id, true, &slot)))
		return ret;
	struct cands c = e->ctrs[slot].cands;
	struct proc_req pr = {.command = &r->command,
			      .working_dir = r->working_dir,
			      .user = &r->user,
			      .no_new_privileges = r->no_new_privileges,
			      .exec = true};
	ret = narrow(e, &c, exec_checks, N_ELEMS(exec_checks), &pr, d);
	bool narrowed = !ret; /* narrow() names the source of a denial itself */
	if (!ret)
		ret = decide_env(e, &c, e->n_containers, container_proc, &r->env, d);
	if (!ret)
		ret = decide_caps(e, &c, e->n_containers, container_proc, r->caps, d);
	if (!ret)
		ret = decide_stdio(e, &c, e->n_containers, container_proc, d);
	if (e->rm.stop)
		return deny_limit(e, d, &r->env, NULL, 0);
	if (ret) {
		if (narrowed)
			engine_note_source(e, d, &c, false);
		return ret;
	}
	engine_note_source(e, d, &c, false);
	engine_undo_save_ctr(e, (size_t)slot);
	e->ctrs[slot].cands = c;
	return engine_allow(d);
}

int policy_exec_external(struct policy_engine *e, const struct policy_req_exec_external *r,
			 struct policy_decision *d)
{
	bool debug;
	int ret = engine_begin(e, d, POLICY_REQ_EXEC_EXTERNAL, &debug);
	if (ret)
		return ret;
	if ((ret = check_process_fields(d, &r->command, &r->env, r->working_dir)))
		return ret;
	if (debug) {
		debug_effective(d, &r->env, no_caps);
		return engine_allow_debug(d);
	}
	struct cands c = {0};
	char got[POLICY_REASON_TEXT];
	for (size_t i = 0; i < e->n_externals; i++)
		if (!e->externals[i].retired &&
		    engine_strv_equal(&e->externals[i].command, &r->command))
			cands_set(&c, i);
	if (cands_empty(&c)) {
		engine_render_strv(got, sizeof(got), r->command.v, r->command.n);
		return engine_deny(d, POLICY_RULE_EXTERNAL_PROCESS, "command",
				   "a command in external_processes", got,
				   "the policy lists no such external process");
	}
	struct cands next = {0};
	CANDS_FOREACH(&c, i, e->n_externals)
	if (!strcmp(e->externals[i].working_dir, r->working_dir))
		cands_set(&next, i);
	if (cands_empty(&next))
		return engine_deny(d, POLICY_RULE_WORKING_DIR, "working_dir",
				   e->externals[cands_first(&c)].working_dir, r->working_dir,
				   "working directory differs from the policy");
	c = next;
	ret = decide_env(e, &c, e->n_externals, external_proc, &r->env, d);
	if (!ret)
		ret = decide_stdio(e, &c, e->n_externals, external_proc, d);
	if (e->rm.stop)
		return deny_limit(e, d, &r->env, NULL, 0);
	if (ret) {
		engine_note_source(e, d, &c, true);
		return ret;
	}
	engine_note_source(e, d, &c, true);
	engine_undo_clear(e);
	return engine_allow(d);
}

int policy_signal_process(struct policy_engine *e, const struct policy_req_signal_process *r,
			  struct policy_decision *d)
{
	bool debug;
	int ret = engine_begin(e, d, POLICY_REQ_SIGNAL_PROCESS, &debug);
	if (ret)
		return ret;
	if (r->signal < 1 || r->signal > 64)
		return engine_malformed(d, "signal", "expected a signal number 1..64");
	if (!r->init_process && (!engine_strv_ok(&r->command, POLICY_MAX_ARGS) || !r->command.n))
		return engine_malformed(d, "command", "expected the exec'd process's command");
	if (debug)
		return engine_allow_debug(d);
	long slot;
	if ((ret = find_container(e, d, r->container_id, true, &slot)))
		return ret;
	/* as in Parma's framework, a signal also narrows the candidates to those
	 * that allow it */
	uint64_t bit = 1ull << (r->signal - 1);
	struct cands next = {0};
	CANDS_FOREACH(&e->ctrs[slot].cands, i, e->n_containers)
	{
		const struct container_rule *c = &e->containers[i];
		bool ok = r->init_process && (c->signals & bit);
		for (size_t x = 0; !r->init_process && x < c->n_execs && !ok; x++)
			ok = (c->execs[x].signals & bit) &&
			     engine_strv_equal(&c->execs[x].command, &r->command);
		if (ok)
			cands_set(&next, i);
	}
	if (!cands_empty(&next)) {
		engine_undo_save_ctr(e, (size_t)slot);
		e->ctrs[slot].cands = next;
		return engine_allow(d);
	}
	char got[16];
	snprintf(got, sizeof(got), "%d", r->signal);
	return engine_deny(d, POLICY_RULE_SIGNAL, "signal",
			   r->init_process ? "a signal in the container's signals"
					   : "a signal in the exec process's signals",
			   got, "the policy does not allow this signal for this %s",
			   r->init_process ? "container" : "exec process");
}

int policy_shutdown_container(struct policy_engine *e,
			      const struct policy_req_shutdown_container *r,
			      struct policy_decision *d)
{
	bool debug;
	int ret = engine_begin(e, d, POLICY_REQ_SHUTDOWN_CONTAINER, &debug);
	if (ret)
		return ret;
	if (debug) {
		if (!engine_id_ok(r->container_id))
			return engine_malformed(d, "container_id",
						"expected 1-128 of [A-Za-z0-9._-]");
		return engine_allow_debug(d);
	}
	long slot;
	/* Shutting down again is allowed until the overlay is unmounted: a container that
	 * ignored SIGTERM must stay killable. It changes nothing in the engine (reverting it
	 * restores the same state). */
	slot = engine_id_ok(r->container_id) ? engine_ctr_find_id(e, r->container_id) : -1;
	if (slot >= 0 && e->ctrs[slot].shut_down) {
		engine_undo_save_ctr(e, (size_t)slot);
		return engine_allow(d);
	}
	if ((ret = find_container(e, d, r->container_id, true, &slot)))
		return ret;
	engine_undo_save_ctr(e, (size_t)slot);
	e->ctrs[slot].started = false;
	e->ctrs[slot].shut_down = true;
	memset(&e->ctrs[slot].cands, 0, sizeof(e->ctrs[slot].cands));
	return engine_allow(d);
}
