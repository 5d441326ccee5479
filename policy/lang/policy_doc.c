/* policy_doc: parse and validate a policy document into struct policy.
 * Strict: unknown fields, wrong types, malformed hashes and paths, duplicate
 * names, invalid regexes and oversized values are errors naming the JSON
 * path. Defaults are documented in docs/policy.md. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/digest.h"
#include "common/encoding.h"
#include "policy/lang/policy.h"
#include "policy/cose/did_x509.h"
#include "policy/lang/policy_internal.h"
#include "policy/lang/policy_json.h"


/* Identical patterns (common across containers) are compiled once. */
struct regex_cache_slot {
	const char *pattern;
	pcre2_code *code;
};

struct parser {
	struct policy *p;
	struct jctx c;
	pcre2_compile_context *cc;
	struct regex_cache_slot *cache;
	size_t cache_cap, cache_used;
};

static int oom(struct parser *ps)
{
	return policy_jerr(&ps->c, ENOMEM, "out of memory");
}

static void parser_fini(struct parser *ps)
{
	pcre2_compile_context_free(ps->cc);
	free(ps->cache);
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static struct regex_cache_slot *cache_find(struct parser *ps, const char *pattern)
{
	if (!ps->cache_cap)
		return NULL;
	size_t i = hash_str(pattern) & (ps->cache_cap - 1);
	while (ps->cache[i].pattern && strcmp(ps->cache[i].pattern, pattern))
		i = (i + 1) & (ps->cache_cap - 1);
	return &ps->cache[i];
}

static int cache_add(struct parser *ps, const char *pattern, pcre2_code *code)
{
	if (2 * (ps->cache_used + 1) > ps->cache_cap) {
		struct parser grown = *ps;
		grown.cache_cap = ps->cache_cap ? 2 * ps->cache_cap : 64;
		grown.cache_used = 0;
		grown.cache = calloc(grown.cache_cap, sizeof(*grown.cache));
		if (!grown.cache)
			return -ENOMEM;
		for (size_t i = 0; i < ps->cache_cap; i++)
			if (ps->cache[i].pattern)
				*cache_find(&grown, ps->cache[i].pattern) = ps->cache[i];
		free(ps->cache);
		ps->cache = grown.cache;
		ps->cache_cap = grown.cache_cap;
	}
	struct regex_cache_slot *slot = cache_find(ps, pattern);
	slot->pattern = pattern;
	slot->code = code;
	ps->cache_used++;
	return 0;
}

bool policy_path_is_normalised(const char *s)
{
	if (s[0] != '/')
		return false;
	if (!s[1])
		return true;
	for (const char *seg = s + 1;;) {
		const char *end = strchr(seg, '/');
		size_t n = end ? (size_t)(end - seg) : strlen(seg);
		if (n == 0 || (n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return false;
		if (!end)
			return true;
		seg = end + 1;
	}
}

static int add_regex(struct parser *ps, struct regex *re)
{
	struct policy *p = ps->p;
	if (p->n_regexes == p->cap_regexes) {
		size_t cap = p->cap_regexes ? 2 * p->cap_regexes : 64;
		struct regex **v = realloc(p->regexes, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		p->regexes = v;
		p->cap_regexes = cap;
	}
	p->regexes[p->n_regexes++] = re;
	return 0;
}

/* `pattern` must live as long as the policy (arena) since the cache keys on it. */
static int compile_at(struct parser *ps, struct regex *re, const char *pattern)
{
	struct errbuf local = {0};
	struct regex_cache_slot *hit = cache_find(ps, pattern);
	if (hit && hit->pattern) {
		re->code = hit->code; /* shared; freed once through the first owner */
		return 0;
	}
	if (!ps->cc && !(ps->cc = policy_regex_compile_context()))
		return oom(ps);
	int ret = policy_regex_compile(re, pattern, ps->cc, &local);
	if (ret)
		return policy_jerr(&ps->c, -ret, "%s", errbuf_msg(&local));
	if (add_regex(ps, re)) {
		policy_regex_free(re);
		return oom(ps);
	}
	if (cache_add(ps, pattern, re->code))
		return oom(ps);
	return 0;
}

static void *palloc(struct parser *ps, size_t n, size_t size)
{
	return policy_arena_alloc(&ps->p->arena, n * size); /* n, size bounded by POLICY_MAX_* */
}

static int parse_hash(struct parser *ps, const char *s, uint8_t out[POLICY_SHA256_LEN])
{
	if (strlen(s) != 2 * POLICY_SHA256_LEN || strspn(s, "0123456789abcdef") != strlen(s))
		return policy_jerr(&ps->c, EINVAL, "expected 64 lowercase hex digits (a SHA-256)");
	return hex_decode(s, out, POLICY_SHA256_LEN) ? policy_jerr(&ps->c, EINVAL, "bad hex") : 0;
}

static int parse_abs_path(struct parser *ps, const char *s)
{
	if (!policy_path_is_normalised(s))
		return policy_jerr(
			&ps->c, EINVAL,
			"expected a normalised absolute path (no '.', '..', '//' or trailing '/')");
	return 0;
}

/* An array of strings; element count in [min_n, max_n]. */
static int parse_strlist(struct parser *ps, struct json_object *obj, const char *key, bool required,
			 size_t min_n, size_t max_n, struct strlist *out)
{
	struct json_object *arr;
	size_t n;
	int ret = policy_jfield_array(&ps->c, obj, key, required, max_n, &arr, &n);
	if (ret)
		return ret;
	size_t old = policy_jctx_key(&ps->c, key);
	if (arr && n < min_n) {
		ret = policy_jerr(&ps->c, EINVAL, "needs at least %zu element(s)", min_n);
		goto out;
	}
	out->n = n;
	out->v = palloc(ps, n + 1, sizeof(char *));
	if (!out->v) {
		ret = oom(ps);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		size_t o2 = policy_jctx_index(&ps->c, i);
		const char *s;
		ret = policy_jstring(&ps->c, json_object_array_get_idx(arr, i), POLICY_MAX_STRING,
				     &s);
		if (!ret && !(out->v[i] = policy_arena_strdup(&ps->p->arena, s)))
			ret = oom(ps);
		policy_jctx_pop(&ps->c, o2);
		if (ret)
			goto out;
	}
out:
	policy_jctx_pop(&ps->c, old);
	return ret;
}

static int parse_command(struct parser *ps, struct json_object *obj, struct strlist *out)
{
	int ret = parse_strlist(ps, obj, "command", true, 1, POLICY_MAX_ARGS, out);
	if (ret)
		return ret;
	if (!out->v[0][0]) {
		size_t old = policy_jctx_key(&ps->c, "command");
		policy_jctx_index(&ps->c, 0);
		ret = policy_jerr(&ps->c, EINVAL, "the program must not be empty");
		policy_jctx_pop(&ps->c, old);
	}
	return ret;
}

static int parse_strategy(struct parser *ps, struct json_object *obj, const char *key,
			  bool *is_regex)
{
	const char *s = "string";
	int ret = policy_jfield_string(&ps->c, obj, key, false, 16, &s);
	if (ret)
		return ret;
	*is_regex = !strcmp(s, "regex");
	if (*is_regex || !strcmp(s, "string"))
		return 0;
	size_t old = policy_jctx_key(&ps->c, key);
	ret = policy_jerr(&ps->c, EINVAL, "expected \"string\" or \"regex\"");
	policy_jctx_pop(&ps->c, old);
	return ret;
}

static int parse_env_rule(struct parser *ps, struct json_object *obj, struct env_rule *r)
{
	static const char *const keys[] = {"pattern", "strategy", "required", NULL};
	const char *pattern;
	int ret = policy_jobject(&ps->c, obj, keys);
	if (!ret)
		ret = policy_jfield_string(&ps->c, obj, "pattern", true, POLICY_MAX_PATTERN,
					   &pattern);
	if (!ret)
		ret = parse_strategy(ps, obj, "strategy", &r->is_regex);
	if (!ret)
		ret = policy_jfield_bool(&ps->c, obj, "required", &r->required);
	if (ret)
		return ret;
	size_t old = policy_jctx_key(&ps->c, "pattern");
	if (!(r->pattern = policy_arena_strdup(&ps->p->arena, pattern)))
		ret = oom(ps);
	else if (r->is_regex)
		ret = compile_at(ps, &r->re, r->pattern);
	else if (!strchr(pattern, '=') || pattern[0] == '=')
		ret = policy_jerr(&ps->c, EINVAL, "a string rule must be NAME=value");
	policy_jctx_pop(&ps->c, old);
	return ret;
}

static int parse_env_rules(struct parser *ps, struct json_object *obj, struct env_rules *out)
{
	struct json_object *arr;
	size_t n;
	int ret = policy_jfield_array(&ps->c, obj, "env_rules", false, POLICY_MAX_ENV_RULES, &arr,
				      &n);
	if (ret || !arr)
		return ret;
	out->v = palloc(ps, n, sizeof(*out->v));
	if (!out->v)
		return oom(ps);
	out->n = n;
	size_t old = policy_jctx_key(&ps->c, "env_rules");
	for (size_t i = 0; i < n && !ret; i++) {
		size_t o2 = policy_jctx_index(&ps->c, i);
		ret = parse_env_rule(ps, json_object_array_get_idx(arr, i), &out->v[i]);
		policy_jctx_pop(&ps->c, o2);
	}
	policy_jctx_pop(&ps->c, old);
	return ret;
}

static int parse_working_dir(struct parser *ps, struct json_object *obj, const char *dflt,
			     char **out)
{
	const char *s = dflt;
	int ret = policy_jfield_string(&ps->c, obj, "working_dir", false, POLICY_MAX_STRING, &s);
	if (ret || !s) {
		*out = NULL;
		return ret;
	}
	size_t old = policy_jctx_key(&ps->c, "working_dir");
	ret = parse_abs_path(ps, s);
	policy_jctx_pop(&ps->c, old);
	if (!ret && !(*out = policy_arena_strdup(&ps->p->arena, s)))
		ret = oom(ps);
	return ret;
}

static int parse_signals(struct parser *ps, struct json_object *obj, uint64_t *out)
{
	struct json_object *arr;
	size_t n;
	int ret = policy_jfield_array(&ps->c, obj, "signals", false, 64, &arr, &n);
	*out = 0;
	if (ret || !arr)
		return ret;
	size_t old = policy_jctx_key(&ps->c, "signals");
	for (size_t i = 0; i < n && !ret; i++) {
		uint64_t sig = 0;
		size_t o2 = policy_jctx_index(&ps->c, i);
		ret = policy_ju64(&ps->c, json_object_array_get_idx(arr, i), 64, &sig);
		if (!ret && sig == 0)
			ret = policy_jerr(&ps->c, EINVAL, "signal numbers are 1..64");
		if (!ret && (*out & (1ull << (sig - 1))))
			ret = policy_jerr(&ps->c, EINVAL, "duplicate signal %u", (unsigned)sig);
		if (!ret)
			*out |= 1ull << (sig - 1);
		policy_jctx_pop(&ps->c, o2);
	}
	policy_jctx_pop(&ps->c, old);
	return ret;
}

static int parse_user(struct parser *ps, struct json_object *obj, struct user_rule *u)
{
	static const char *const keys[] = {"uid", "gid", "additional_gids", "umask", NULL};
	struct json_object *uo, *arr;
	uint64_t uid = 0, gid = 0;
	size_t n;
	u->umask = 022;
	int ret = policy_jfield_object(&ps->c, obj, "user", false, &uo);
	if (ret || !uo)
		return ret;
	size_t old = policy_jctx_key(&ps->c, "user");
	ret = policy_jobject(&ps->c, uo, keys);
	if (!ret)
		ret = policy_jfield_u64(&ps->c, uo, "uid", false, UINT32_MAX - 1, &uid);
	if (!ret)
		ret = policy_jfield_u64(&ps->c, uo, "gid", false, UINT32_MAX - 1, &gid);
	if (!ret)
		ret = policy_jfield_umask(&ps->c, uo, &u->umask);
	if (!ret)
		ret = policy_jfield_array(&ps->c, uo, "additional_gids", false, POLICY_MAX_GROUPS,
					  &arr, &n);
	if (!ret && arr) {
		u->gids = palloc(ps, n + 1, sizeof(uint32_t));
		u->n_gids = n;
		if (!u->gids)
			ret = oom(ps);
		size_t o2 = policy_jctx_key(&ps->c, "additional_gids");
		for (size_t i = 0; i < n && !ret; i++) {
			uint64_t g = 0;
			size_t o3 = policy_jctx_index(&ps->c, i);
			ret = policy_ju64(&ps->c, json_object_array_get_idx(arr, i), UINT32_MAX - 1,
					  &g);
			for (size_t j = 0; j < i && !ret; j++)
				if (u->gids[j] == g)
					ret = policy_jerr(&ps->c, EINVAL, "duplicate gid");
			if (!ret)
				u->gids[i] = (uint32_t)g;
			policy_jctx_pop(&ps->c, o3);
		}
		policy_jctx_pop(&ps->c, o2);
	}
	u->uid = (uint32_t)uid;
	u->gid = (uint32_t)gid;
	policy_jctx_pop(&ps->c, old);
	return ret;
}


static int parse_mount(struct parser *ps, struct json_object *obj, struct mount_rule *m)
{
	static const char *const keys[] = {"source", "source_strategy", "destination",
					   "type",   "options",		NULL};
	const char *source, *dest, *type;
	int ret = policy_jobject(&ps->c, obj, keys);
	if (!ret)
		ret = policy_jfield_string(&ps->c, obj, "source", true, POLICY_MAX_STRING, &source);
	if (!ret)
		ret = parse_strategy(ps, obj, "source_strategy", &m->source_is_regex);
	if (!ret)
		ret = policy_jfield_string(&ps->c, obj, "destination", true, POLICY_MAX_STRING,
					   &dest);
	if (!ret)
		ret = policy_jfield_string(&ps->c, obj, "type", true, 64, &type);
	if (!ret)
		ret = parse_strlist(ps, obj, "options", false, 0, POLICY_MAX_MOUNT_OPTIONS,
				    &m->options);
	if (ret)
		return ret;
	size_t old = policy_jctx_key(&ps->c, "source");
	if (!(m->source = policy_arena_strdup(&ps->p->arena, source)))
		ret = oom(ps);
	else if (m->source_is_regex && strlen(source) > POLICY_MAX_PATTERN)
		ret = policy_jerr(&ps->c, E2BIG, "pattern longer than %d bytes",
				  POLICY_MAX_PATTERN);
	else if (m->source_is_regex)
		ret = compile_at(ps, &m->source_re, m->source);
	policy_jctx_pop(&ps->c, old);
	if (!ret) {
		old = policy_jctx_key(&ps->c, "destination");
		ret = parse_abs_path(ps, dest);
		policy_jctx_pop(&ps->c, old);
	}
	if (!ret && !type[0]) {
		old = policy_jctx_key(&ps->c, "type");
		ret = policy_jerr(&ps->c, EINVAL, "must not be empty");
		policy_jctx_pop(&ps->c, old);
	}
	if (ret)
		return ret;
	m->destination = policy_arena_strdup(&ps->p->arena, dest);
	m->type = policy_arena_strdup(&ps->p->arena, type);
	return m->source && m->destination && m->type ? 0 : oom(ps);
}

static int parse_exec(struct parser *ps, struct json_object *obj, struct exec_rule *x)
{
	static const char *const keys[] = {"command", "working_dir", "signals", NULL};
	int ret = policy_jobject(&ps->c, obj, keys);
	if (!ret)
		ret = parse_command(ps, obj, &x->command);
	if (!ret)
		ret = parse_working_dir(ps, obj, NULL, &x->working_dir);
	if (!ret)
		ret = parse_signals(ps, obj, &x->signals);
	return ret;
}

/* Parse the array `key` of objects with `parse_one` into a fresh array. */
static int parse_objects(struct parser *ps, struct json_object *obj, const char *key, size_t max_n,
			 size_t elem_size, void **out, size_t *n_out,
			 int (*parse_one)(struct parser *, struct json_object *, void *))
{
	struct json_object *arr;
	size_t n;
	*out = NULL;
	*n_out = 0;
	int ret = policy_jfield_array(&ps->c, obj, key, false, max_n, &arr, &n);
	if (ret || !arr)
		return ret;
	unsigned char *v = palloc(ps, n + 1, elem_size);
	if (!v)
		return oom(ps);
	size_t old = policy_jctx_key(&ps->c, key);
	for (size_t i = 0; i < n && !ret; i++) {
		size_t o2 = policy_jctx_index(&ps->c, i);
		ret = parse_one(ps, json_object_array_get_idx(arr, i), v + i * elem_size);
		policy_jctx_pop(&ps->c, o2);
	}
	policy_jctx_pop(&ps->c, old);
	*out = v;
	*n_out = n;
	return ret;
}

static int parse_mount_v(struct parser *ps, struct json_object *o, void *x)
{
	return parse_mount(ps, o, x);
}

static int parse_exec_v(struct parser *ps, struct json_object *o, void *x)
{
	return parse_exec(ps, o, x);
}

static int parse_container(struct parser *ps, struct json_object *obj, void *out)
{
	static const char *const keys[] = {"name",
					   "layers",
					   "command",
					   "env_rules",
					   "working_dir",
					   "user",
					   "capabilities",
					   "no_new_privileges",
					   "allow_elevated",
					   "allow_stdio_access",
					   "mounts",
					   "exec_processes",
					   "signals",
					   "seccomp_profile_sha256",
					   NULL};
	struct container_rule *c = out;
	const char *name, *seccomp = "";
	struct json_object *arr;
	size_t n;
	int ret = policy_jobject(&ps->c, obj, keys);
	if (!ret)
		ret = policy_jfield_string(&ps->c, obj, "name", true, 256, &name);
	if (!ret && !name[0]) {
		size_t old = policy_jctx_key(&ps->c, "name");
		ret = policy_jerr(&ps->c, EINVAL, "must not be empty");
		policy_jctx_pop(&ps->c, old);
	}
	if (!ret && !(c->name = policy_arena_strdup(&ps->p->arena, name)))
		ret = oom(ps);
	if (!ret)
		ret = policy_jfield_array(&ps->c, obj, "layers", true, POLICY_MAX_LAYERS, &arr, &n);
	if (!ret) {
		size_t old = policy_jctx_key(&ps->c, "layers");
		if (n == 0)
			ret = policy_jerr(&ps->c, EINVAL, "needs at least one layer");
		if (!ret && !(c->layers = palloc(ps, n, POLICY_SHA256_LEN)))
			ret = oom(ps);
		c->n_layers = n;
		for (size_t i = 0; i < n && !ret; i++) {
			const char *h;
			size_t o2 = policy_jctx_index(&ps->c, i);
			ret = policy_jstring(&ps->c, json_object_array_get_idx(arr, i), 64, &h);
			if (!ret)
				ret = parse_hash(ps, h, c->layers[i]);
			policy_jctx_pop(&ps->c, o2);
		}
		policy_jctx_pop(&ps->c, old);
	}
	if (!ret)
		ret = parse_command(ps, obj, &c->command);
	if (!ret)
		ret = parse_env_rules(ps, obj, &c->env);
	if (!ret)
		ret = parse_working_dir(ps, obj, "/", &c->working_dir);
	if (!ret)
		ret = parse_user(ps, obj, &c->user);
	if (!ret)
		ret = policy_jfield_caps(&ps->c, obj, &c->caps);
	if (!ret)
		ret = policy_jfield_bool(&ps->c, obj, "no_new_privileges", &c->no_new_privileges);
	if (!ret)
		ret = policy_jfield_bool(&ps->c, obj, "allow_elevated", &c->allow_elevated);
	if (!ret)
		ret = policy_jfield_bool(&ps->c, obj, "allow_stdio_access", &c->allow_stdio_access);
	if (!ret)
		ret = parse_objects(ps, obj, "mounts", POLICY_MAX_MOUNTS, sizeof(struct mount_rule),
				    (void **)&c->mounts, &c->n_mounts, parse_mount_v);
	if (!ret)
		ret = parse_objects(ps, obj, "exec_processes", POLICY_MAX_EXEC,
				    sizeof(struct exec_rule), (void **)&c->execs, &c->n_execs,
				    parse_exec_v);
	if (!ret)
		ret = parse_signals(ps, obj, &c->signals);
	if (!ret)
		ret = policy_jfield_string(&ps->c, obj, "seccomp_profile_sha256", false, 64,
					   &seccomp);
	if (!ret && seccomp[0]) {
		size_t old = policy_jctx_key(&ps->c, "seccomp_profile_sha256");
		c->has_seccomp = true;
		ret = parse_hash(ps, seccomp, c->seccomp);
		policy_jctx_pop(&ps->c, old);
	}
	return ret;
}

static int parse_external(struct parser *ps, struct json_object *obj, void *out)
{
	static const char *const keys[] = {"command", "env_rules", "working_dir",
					   "allow_stdio_access", NULL};
	struct external_rule *x = out;
	int ret = policy_jobject(&ps->c, obj, keys);
	if (!ret)
		ret = parse_command(ps, obj, &x->command);
	if (!ret)
		ret = parse_env_rules(ps, obj, &x->env);
	if (!ret)
		ret = parse_working_dir(ps, obj, "/", &x->working_dir);
	if (!ret)
		ret = policy_jfield_bool(&ps->c, obj, "allow_stdio_access", &x->allow_stdio_access);
	return ret;
}

static int parse_fragment_import(struct parser *ps, struct json_object *obj, void *out)
{
	static const char *const keys[] = {"issuer",		 "feed",	   "minimum_svn",
					   "includes",		 "allow_stdio_access", "allow_elevated",
					   NULL};
	static const char *const include_names[] = {"containers", "external_processes",
						    "fragments"};
	struct fragment_import *f = out;
	bool *include_flags[] = {&f->include_containers, &f->include_external,
				 &f->include_fragments};
	const char *issuer, *feed;
	struct strlist inc = {0};
	int ret = policy_jobject(&ps->c, obj, keys);
	if (!ret)
		ret = policy_jfield_string(&ps->c, obj, "issuer", true, 1024, &issuer);
	if (!ret) {
		struct errbuf deb = {0};
		if (did_x509_check_syntax(issuer, &deb)) {
			size_t old = policy_jctx_key(&ps->c, "issuer");
			ret = policy_jerr(&ps->c, EINVAL, "not a did:x509 issuer: %s",
					  errbuf_msg(&deb));
			policy_jctx_pop(&ps->c, old);
		}
	}
	if (!ret)
		ret = policy_jfield_string(&ps->c, obj, "feed", true, 1024, &feed);
	if (!ret)
		ret = policy_jfield_u64(&ps->c, obj, "minimum_svn", true, UINT64_MAX,
					&f->minimum_svn);
	if (!ret)
		ret = parse_strlist(ps, obj, "includes", true, 1, 3, &inc);
	for (size_t i = 0; i < inc.n && !ret; i++) {
		bool *flag = NULL;
		for (size_t k = 0; k < sizeof(include_names) / sizeof(include_names[0]); k++)
			if (!strcmp(inc.v[i], include_names[k]))
				flag = include_flags[k];
		size_t old = policy_jctx_key(&ps->c, "includes");
		policy_jctx_index(&ps->c, i);
		if (!flag)
			ret = policy_jerr(&ps->c, EINVAL,
					  "expected \"containers\", \"external_processes\" or "
					  "\"fragments\"");
		else if (*flag)
			ret = policy_jerr(&ps->c, EINVAL, "listed twice");
		else
			*flag = true;
		policy_jctx_pop(&ps->c, old);
	}
	if (!ret)
		ret = policy_jfield_bool(&ps->c, obj, "allow_stdio_access", &f->allow_stdio_access);
	if (!ret)
		ret = policy_jfield_bool(&ps->c, obj, "allow_elevated", &f->allow_elevated);
	if (!ret && !feed[0]) {
		size_t old = policy_jctx_key(&ps->c, "feed");
		ret = policy_jerr(&ps->c, EINVAL, "must not be empty");
		policy_jctx_pop(&ps->c, old);
	}
	if (!ret) {
		f->issuer = policy_arena_strdup(&ps->p->arena, issuer);
		f->feed = policy_arena_strdup(&ps->p->arena, feed);
		if (!f->issuer || !f->feed)
			ret = oom(ps);
	}
	return ret;
}

static int cmp_name_ptr(const void *a, const void *b)
{
	const struct container_rule *x = *(const struct container_rule *const *)a;
	const struct container_rule *y = *(const struct container_rule *const *)b;
	int c = strcmp(x->name, y->name);
	return c ? c : (x < y ? -1 : x > y);
}

/* Container names are unique across the policy and everything merged in
 * (sorted, so a 1000-container policy costs n log n comparisons). */
static int check_names(struct parser *ps, const struct container_rule *v, size_t n,
		       const struct container_rule *existing, size_t n_existing)
{
	size_t total = n + n_existing;
	if (total < 2)
		return 0;
	const struct container_rule **all = malloc(total * sizeof(*all));
	if (!all)
		return oom(ps);
	for (size_t i = 0; i < n_existing; i++)
		all[i] = &existing[i];
	for (size_t i = 0; i < n; i++)
		all[n_existing + i] = &v[i];
	qsort(all, total, sizeof(*all), cmp_name_ptr);
	const struct container_rule *dup = NULL;
	for (size_t i = 1; i < total && !dup; i++)
		if (!strcmp(all[i - 1]->name, all[i]->name))
			dup = all[i] >= v && all[i] < v + n ? all[i] : all[i - 1];
	free(all);
	if (!dup)
		return 0;
	size_t old = policy_jctx_key(&ps->c, "containers");
	policy_jctx_index(&ps->c, (size_t)(dup - v));
	policy_jctx_key(&ps->c, "name");
	int ret = policy_jerr(&ps->c, EINVAL, "duplicate container name '%s'", dup->name);
	policy_jctx_pop(&ps->c, old);
	return ret;
}

static int check_version(struct parser *ps, struct json_object *root)
{
	uint64_t version = 0;
	int ret = policy_jfield_u64(&ps->c, root, "version", true, UINT32_MAX, &version);
	if (!ret && version != POLICY_VERSION) {
		size_t old = policy_jctx_key(&ps->c, "version");
		ret = policy_jerr(&ps->c, EINVAL, "unsupported version %u (this build reads %d)",
				  (unsigned)version, POLICY_VERSION);
		policy_jctx_pop(&ps->c, old);
	}
	return ret;
}

static int parse_debug_form(struct parser *ps, struct json_object *root)
{
	static const char *const keys[] = {"version", "insecure_allow_all", NULL};
	const char *marker;
	int ret = policy_jobject(&ps->c, root, keys);
	if (ret) {
		errbuf_prefix(ps->c.eb,
			      "debug allow-all form (only version and insecure_allow_all)");
		return ret;
	}
	ret = policy_jfield_string(&ps->c, root, "insecure_allow_all", true, 64, &marker);
	if (!ret && strcmp(marker, POLICY_DEBUG_MARKER)) {
		size_t old = policy_jctx_key(&ps->c, "insecure_allow_all");
		ret = policy_jerr(&ps->c, EINVAL, "must be exactly \"%s\"", POLICY_DEBUG_MARKER);
		policy_jctx_pop(&ps->c, old);
	}
	ps->p->debug = true;
	ps->p->flags = (struct policy_flags){true, true, true, true, true, true};
	return ret;
}

static int parse_root(struct parser *ps, struct json_object *root)
{
	static const char *const keys[] = {"version",
					   "allow_properties_access",
					   "allow_dump_stacks",
					   "allow_runtime_logging",
					   "allow_environment_variable_dropping",
					   "allow_capability_dropping",
					   "allow_unencrypted_scratch",
					   "containers",
					   "external_processes",
					   "fragments",
					   NULL};
	struct policy *p = ps->p;
	if (!json_object_is_type(root, json_type_object))
		return policy_jerr(&ps->c, EINVAL, "a policy is a JSON object");
	int ret = check_version(ps, root);
	if (ret)
		return ret;
	if (json_object_object_get_ex(root, "insecure_allow_all", NULL))
		return parse_debug_form(ps, root);
	ret = policy_jobject(&ps->c, root, keys);
	struct {
		const char *key;
		bool *flag;
	} flags[] = {
		{"allow_properties_access", &p->flags.allow_properties_access},
		{"allow_dump_stacks", &p->flags.allow_dump_stacks},
		{"allow_runtime_logging", &p->flags.allow_runtime_logging},
		{"allow_environment_variable_dropping",
		 &p->flags.allow_environment_variable_dropping},
		{"allow_capability_dropping", &p->flags.allow_capability_dropping},
		{"allow_unencrypted_scratch", &p->flags.allow_unencrypted_scratch},
	};
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]) && !ret; i++)
		ret = policy_jfield_bool(&ps->c, root, flags[i].key, flags[i].flag);
	if (!ret)
		ret = parse_objects(ps, root, "containers", POLICY_MAX_CONTAINERS,
				    sizeof(struct container_rule), (void **)&p->containers,
				    &p->n_containers, parse_container);
	if (!ret)
		ret = check_names(ps, p->containers, p->n_containers, NULL, 0);
	if (!ret)
		ret = parse_objects(ps, root, "external_processes", POLICY_MAX_EXTERNAL,
				    sizeof(struct external_rule), (void **)&p->externals,
				    &p->n_externals, parse_external);
	if (!ret)
		ret = parse_objects(ps, root, "fragments", POLICY_MAX_FRAGMENTS,
				    sizeof(struct fragment_import), (void **)&p->fragments,
				    &p->n_fragments, parse_fragment_import);
	return ret;
}

int policy_digest(const uint8_t *bytes, size_t len, struct policy_digest *out)
{
	int ret = digest_sha256(bytes, len, out->sha256);
	if (ret)
		return ret;
	hex_encode(out->sha256, POLICY_SHA256_LEN, out->hex);
	base64_encode(out->sha256, POLICY_SHA256_LEN, out->base64);
	return 0;
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_regexes; i++)
		policy_regex_free(p->regexes[i]);
	free(p->regexes);
	policy_arena_free(&p->arena);
	free(p);
}

int policy_load(const uint8_t *bytes, size_t len, struct policy **out, struct errbuf *eb)
{
	struct json_object *root = NULL;
	*out = NULL;
	if (len > POLICY_MAX_BYTES)
		return errbuf_set(eb, E2BIG, "policy is larger than %u bytes", POLICY_MAX_BYTES);
	struct policy *p = calloc(1, sizeof(*p));
	if (!p)
		return errbuf_set(eb, ENOMEM, "out of memory");
	int ret = policy_digest(bytes, len, &p->digest);
	if (ret) {
		errbuf_set(eb, -ret, "SHA-256 failed");
		goto fail;
	}
	ret = policy_json_parse((const char *)bytes, len, &root, eb);
	if (ret)
		goto fail;
	struct parser ps = {.p = p};
	policy_jctx_init(&ps.c, eb);
	ret = parse_root(&ps, root);
	parser_fini(&ps);
	json_object_put(root);
	if (ret)
		goto fail;
	*out = p;
	return 0;
fail:
	policy_free(p);
	return ret;
}

/* Top-level keys of a policy that a fragment may never carry: it joins a policy, it cannot
 * change what the policy allows globally. */
static const char *const policy_only_keys[] = {
	"insecure_allow_all",	     "allow_properties_access",
	"allow_dump_stacks",	     "allow_runtime_logging",
	"allow_environment_variable_dropping", "allow_capability_dropping",
	"allow_unencrypted_scratch",
};

int policy_parse_fragment(const uint8_t *bytes, size_t len, const struct container_rule *existing,
			  size_t n_existing, struct policy **out, struct rule_source **src,
			  struct errbuf *eb)
{
	static const char *const keys[] = {"version", "fragment", "containers",
					   "external_processes", "fragments", NULL};
	static const char *const fkeys[] = {"issuer", "feed", "svn", NULL};
	struct json_object *root = NULL, *fo;
	const char *issuer, *feed;
	*out = NULL;
	*src = NULL;
	if (len > POLICY_MAX_BYTES)
		return errbuf_set(eb, E2BIG, "fragment is larger than %u bytes", POLICY_MAX_BYTES);
	struct policy *f = calloc(1, sizeof(*f));
	if (!f)
		return errbuf_set(eb, ENOMEM, "out of memory");
	struct rule_source *rs = NULL;
	int ret = policy_json_parse((const char *)bytes, len, &root, eb);
	if (ret)
		goto out;
	struct parser ps = {.p = f};
	policy_jctx_init(&ps.c, eb);
	if (!json_object_is_type(root, json_type_object))
		ret = policy_jerr(&ps.c, EINVAL, "a fragment is a JSON object");
	for (size_t i = 0; !ret && i < sizeof(policy_only_keys) / sizeof(policy_only_keys[0]); i++)
		if (json_object_object_get_ex(root, policy_only_keys[i], NULL)) {
			size_t old = policy_jctx_key(&ps.c, policy_only_keys[i]);
			ret = policy_jerr(&ps.c, EINVAL,
					  "a fragment cannot set policy flags: only the policy "
					  "decides them");
			policy_jctx_pop(&ps.c, old);
		}
	if (!ret)
		ret = check_version(&ps, root);
	if (!ret)
		ret = policy_jobject(&ps.c, root, keys);
	if (!ret)
		ret = policy_jfield_object(&ps.c, root, "fragment", true, &fo);
	if (!ret && !(rs = policy_arena_alloc(&f->arena, sizeof(*rs))))
		ret = oom(&ps);
	if (!ret) {
		size_t old = policy_jctx_key(&ps.c, "fragment");
		ret = policy_jobject(&ps.c, fo, fkeys);
		if (!ret)
			ret = policy_jfield_string(&ps.c, fo, "issuer", true, 1024, &issuer);
		if (!ret)
			ret = policy_jfield_string(&ps.c, fo, "feed", true, 1024, &feed);
		if (!ret)
			ret = policy_jfield_u64(&ps.c, fo, "svn", true, UINT64_MAX, &rs->svn);
		if (!ret && (!(rs->issuer = policy_arena_strdup(&f->arena, issuer)) ||
			     !(rs->feed = policy_arena_strdup(&f->arena, feed))))
			ret = oom(&ps);
		policy_jctx_pop(&ps.c, old);
	}
	if (!ret)
		ret = parse_objects(&ps, root, "containers", POLICY_MAX_CONTAINERS,
				    sizeof(struct container_rule), (void **)&f->containers,
				    &f->n_containers, parse_container);
	if (!ret)
		ret = check_names(&ps, f->containers, f->n_containers, existing, n_existing);
	if (!ret)
		ret = parse_objects(&ps, root, "external_processes", POLICY_MAX_EXTERNAL,
				    sizeof(struct external_rule), (void **)&f->externals,
				    &f->n_externals, parse_external);
	if (!ret)
		ret = parse_objects(&ps, root, "fragments", POLICY_MAX_FRAGMENTS,
				    sizeof(struct fragment_import), (void **)&f->fragments,
				    &f->n_fragments, parse_fragment_import);
	parser_fini(&ps);
out:
	json_object_put(root);
	if (ret) {
		policy_free(f);
		return ret;
	}
	*out = f;
	*src = rs;
	return 0;
}

int policy_fragment_check(const uint8_t *bytes, size_t len, const char *issuer, const char *feed,
			  uint64_t svn, struct errbuf *eb)
{
	struct policy *f;
	struct rule_source *rs;
	int ret = policy_parse_fragment(bytes, len, NULL, 0, &f, &rs, eb);
	if (ret)
		return ret;
	if (strcmp(rs->issuer, issuer))
		ret = errbuf_set(eb, EINVAL, "fragment.issuer: '%s' differs from the signing issuer",
				 rs->issuer);
	else if (strcmp(rs->feed, feed))
		ret = errbuf_set(eb, EINVAL, "fragment.feed: '%s' differs from the signing feed",
				 rs->feed);
	else if (rs->svn != svn)
		ret = errbuf_set(eb, EINVAL, "fragment.svn: %llu differs from the signing SVN %llu",
				 (unsigned long long)rs->svn, (unsigned long long)svn);
	policy_free(f);
	return ret;
}

int policy_fragment_rules(const uint8_t *bytes, size_t len, struct policy **out,
			  struct errbuf *eb)
{
	struct errbuf local = {0};
	struct rule_source *rs;
	return policy_parse_fragment(bytes, len, NULL, 0, out, &rs, eb ? eb : &local);
}

bool policy_is_debug(const struct policy *p)
{
	return p->debug;
}

const struct policy_digest *policy_get_digest(const struct policy *p)
{
	return &p->digest;
}

struct policy_flags policy_get_flags(const struct policy *p)
{
	return p->flags;
}

size_t policy_container_count(const struct policy *p)
{
	return p->n_containers;
}
