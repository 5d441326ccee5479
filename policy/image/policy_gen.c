/* Group spec + images -> policy JSON (docs/group-spec.md, "From spec to policy"). The result
 * is always checked with the policy engine's own loader before it is returned. */
#include "policy/image/policy_gen.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/encoding.h"
#include "policy/image/oci_image.h"
#include "policy/lang/policy.h"

#define ETC_FILE_MAX    (4u << 20)
#define SIGTERM_NUM     15
#define SIGKILL_NUM     9

static const char *const debug_shell[] = { "/bin/sh" };

static struct json_object *strv_json(char *const *v, size_t n)
{
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; a && i < n; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

static struct json_object *signals_json(uint64_t set)
{
	struct json_object *a = json_object_new_array();
	for (int s = 1; a && s <= 64; s++)
		if (set & (1ull << (s - 1)))
			json_object_array_add(a, json_object_new_int(s));
	return a;
}

/* ---- users ------------------------------------------------------------------------------- */

static bool parse_num(const char *s, uint32_t *out)
{
	if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 10)
		return false;
	unsigned long long v = strtoull(s, NULL, 10);
	if (v >= UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* Find a line of /etc/passwd or /etc/group: by name (field 0) or by id (field 2). */
static bool etc_lookup(const char *text, const char *name, const uint32_t *id, uint32_t *f2,
		       uint32_t *f3)
{
	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char buf[1024];
		if (len < sizeof(buf)) {
			memcpy(buf, line, len);
			buf[len] = 0;
			char *fields[5] = { 0 }, *p = buf;
			int nf = 0;
			/* strsep keeps empty fields (the password field is often empty) */
			for (char *t; nf < 5 && (t = strsep(&p, ":"));)
				fields[nf++] = t;
			uint32_t a, b = 0;
			/* field 3 is the gid in passwd, the member list in group */
			if (nf >= 3 && parse_num(fields[2], &a) &&
			    (!f3 || (nf >= 4 && parse_num(fields[3], &b)))) {
				bool match = name ? !strcmp(fields[0], name) : a == *id;
				if (match) {
					*f2 = a;
					if (f3)
						*f3 = b;
					return true;
				}
			}
		}
		line = end ? end + 1 : NULL;
	}
	return false;
}

static int user_resolve(const struct oci_image *img, const char *user, const char *where,
			struct policy_gen_user *u, struct errbuf *eb)
{
	uint8_t *passwd = NULL, *group = NULL;
	size_t len;
	char *spec = strdup(user ? user : "");
	int ret = 0;
	u->uid = u->gid = 0;
	if (!spec)
		return errbuf_set(eb, ENOMEM, "out of memory");
	if (!spec[0])
		goto out; /* root */
	char *colon = strchr(spec, ':');
	const char *uname = spec, *gname = colon ? colon + 1 : NULL;
	if (colon)
		*colon = 0;
	bool uid_num = parse_num(uname, &u->uid);
	bool need_passwd = !uid_num || !gname;
	if (need_passwd) {
		ret = oci_image_read_file(img, "etc/passwd", ETC_FILE_MAX, &passwd, &len, eb);
		if (ret && ret != -ENOENT)
			goto out;
		ret = 0;
	}
	if (!uid_num) {
		uint32_t gid = 0;
		if (!passwd || !etc_lookup((char *)passwd, uname, NULL, &u->uid, &gid)) {
			ret = errbuf_set(eb, ENOENT, "%s: user \"%s\" is not in the image's "
					 "/etc/passwd", where, uname);
			goto out;
		}
		u->gid = gid;
	} else if (!gname) {
		uint32_t uid, gid = 0;
		/* a numeric user without an entry runs with gid 0, as container runtimes do */
		if (passwd && etc_lookup((char *)passwd, NULL, &u->uid, &uid, &gid))
			u->gid = gid;
	}
	if (gname && !parse_num(gname, &u->gid)) {
		ret = oci_image_read_file(img, "etc/group", ETC_FILE_MAX, &group, &len, eb);
		if (ret && ret != -ENOENT)
			goto out;
		ret = 0;
		if (!group || !etc_lookup((char *)group, gname, NULL, &u->gid, NULL))
			ret = errbuf_set(eb, ENOENT, "%s: group \"%s\" is not in the image's "
					 "/etc/group", where, gname);
	}
out:
	free(passwd);
	free(group);
	free(spec);
	return ret;
}

/* Absolute, no ".", "..", empty components or trailing slash; relative paths are taken from
 * "/". Returns -EINVAL for ".." or a result that does not fit. */
static int path_normalise(const char *in, char *out, size_t size)
{
	size_t n = 0;
	for (const char *p = in; *p;) {
		while (*p == '/')
			p++;
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return -EINVAL;
		if (len && !(len == 1 && p[0] == '.')) {
			if (n + 1 + len + 1 > size)
				return -EINVAL;
			out[n++] = '/';
			memcpy(out + n, p, len);
			n += len;
		}
		p = end;
	}
	if (!n) {
		if (size < 2)
			return -EINVAL;
		out[n++] = '/';
	}
	out[n] = 0;
	return 0;
}

/* ---- one container ------------------------------------------------------------------------- */

static bool env_overridden(const struct group_container *c, const char *img_env)
{
	size_t n = (size_t)(strchr(img_env, '=') - img_env);
	for (size_t i = 0; i < c->n_env; i++)
		if (strlen(c->env[i].name) == n && !strncmp(c->env[i].name, img_env, n))
			return true;
	return false;
}

static struct json_object *env_rule(const char *pattern, bool regex, bool required)
{
	struct json_object *r = json_object_new_object();
	json_object_object_add(r, "pattern", json_object_new_string(pattern));
	json_object_object_add(r, "strategy", json_object_new_string(regex ? "regex" : "string"));
	json_object_object_add(r, "required", json_object_new_boolean(required));
	return r;
}

static int env_rules(const struct group_container *c, const struct oci_image *img,
		     struct json_object *arr, struct errbuf *eb)
{
	/* the image's variables, unless the spec sets the same name */
	for (size_t i = 0; i < img->process.n_env; i++)
		if (!env_overridden(c, img->process.env[i]))
			json_object_array_add(arr, env_rule(img->process.env[i], false, false));
	for (size_t i = 0; i < c->n_env; i++) {
		const struct group_env *e = &c->env[i];
		size_t n = strlen(e->name) + strlen(e->value) + 2;
		char *p = malloc(n);
		if (!p)
			return errbuf_set(eb, ENOMEM, "out of memory");
		snprintf(p, n, "%s=%s", e->name, e->value);
		json_object_array_add(arr, env_rule(p, e->is_regex, e->required));
		free(p);
	}
	return 0;
}

/* Scratch mounts are the container's own directory on the scratch disk (scratch://NAME,
 * resolved by the guest), created owned by the container's user with mode 0700; a tmpfs is
 * the container's own too (tmpfs://), world-writable with the sticky bit as /tmp is. The
 * ownership options are part of the mount rule, so the host cannot change them. */
static struct json_object *mount_json(const struct group_mount *m,
				      const struct policy_gen_user *u)
{
	struct json_object *o = json_object_new_object(), *opts = json_object_new_array();
	char src[POLICY_MAX_MOUNT_NAME + 16], opt[32];
	if (m->type == GROUP_MOUNT_SCRATCH) {
		snprintf(src, sizeof(src), POLICY_SOURCE_SCRATCH "%s", m->name);
		json_object_object_add(o, "source", json_object_new_string(src));
		json_object_object_add(o, "destination", json_object_new_string(m->destination));
		json_object_object_add(o, "type", json_object_new_string("bind"));
		json_object_array_add(opts, json_object_new_string("rbind"));
		snprintf(opt, sizeof(opt), "uid=%u", u->uid);
		json_object_array_add(opts, json_object_new_string(opt));
		snprintf(opt, sizeof(opt), "gid=%u", u->gid);
		json_object_array_add(opts, json_object_new_string(opt));
		json_object_array_add(opts, json_object_new_string("mode=0700"));
	} else {
		json_object_object_add(o, "source", json_object_new_string(POLICY_SOURCE_TMPFS));
		json_object_object_add(o, "destination", json_object_new_string(m->destination));
		json_object_object_add(o, "type", json_object_new_string("tmpfs"));
		json_object_array_add(opts, json_object_new_string("nosuid"));
		json_object_array_add(opts, json_object_new_string("nodev"));
		json_object_array_add(opts, json_object_new_string("mode=1777"));
	}
	json_object_array_add(opts, json_object_new_string(m->read_only ? "ro" : "rw"));
	json_object_object_add(o, "options", opts);
	return o;
}

static int plan_record(struct policy_gen_container *pc, const char *name, const char *dir,
		       const struct oci_image *img, const struct layer_image_info *infos,
		       struct errbuf *eb)
{
	char path[PATH_MAX];
	if (!(pc->name = strdup(name)) ||
	    !(pc->layers = calloc(img->n_layers, sizeof(*pc->layers))))
		return errbuf_set(eb, ENOMEM, "out of memory");
	for (size_t i = 0; i < img->n_layers; i++) {
		if (layer_image_path(dir, img->layers[i].digest, ".img", path, sizeof(path)) ||
		    !(pc->layers[i].image_path = strdup(path)))
			return errbuf_set(eb, ENOMEM, "out of memory");
		pc->layers[i].info = infos[i];
		pc->n_layers++;
	}
	return 0;
}

void policy_gen_plan_free(struct policy_gen_plan *plan)
{
	if (!plan)
		return;
	for (size_t i = 0; i < plan->n_containers; i++) {
		struct policy_gen_container *pc = &plan->containers[i];
		for (size_t l = 0; l < pc->n_layers; l++)
			free(pc->layers[l].image_path);
		free(pc->layers);
		free(pc->name);
	}
	free(plan->containers);
	memset(plan, 0, sizeof(*plan));
}

static int container_gen(const struct group_spec *g, size_t ci, const struct policy_gen_opts *o,
			 const struct group_debug *dbg, size_t *layer_base,
			 struct policy_gen_container *pc, struct json_object **out,
			 struct errbuf *eb)
{
	const struct group_container *c = &g->containers[ci];
	struct oci_image *img = NULL;
	struct layer_image_info *infos = NULL;
	bool *cached = NULL;
	struct json_object *j = NULL, *arr;
	char where[64];
	int ret;

	*out = NULL;
	snprintf(where, sizeof(where), "containers[%zu]", ci);
	ret = oci_image_open(c->image_ref, o->cache_dir, &img, eb);
	if (ret) {
		errbuf_prefix(eb, "%s.image", where);
		return ret;
	}
	infos = calloc(img->n_layers + 1, sizeof(*infos));
	cached = calloc(img->n_layers + 1, sizeof(*cached));
	if (!infos || !cached) {
		ret = errbuf_set(eb, ENOMEM, "out of memory");
		goto out;
	}
	if (!img->n_layers) {
		ret = errbuf_set(eb, EINVAL, "%s.image: the image has no layers", where);
		goto out;
	}
	struct image_convert_opts co = { .threads = o->threads, .no_cache = o->no_cache,
					 .progress = o->progress,
					 .progress_ctx = o->progress_ctx };
	ret = image_convert_layers(img, o->cache_dir, &co, infos, cached, eb);
	if (ret) {
		errbuf_prefix(eb, "%s.image", where);
		goto out;
	}
	*layer_base += img->n_layers;
	if (pc && (ret = plan_record(pc, c->name, o->cache_dir, img, infos, eb)))
		goto out;

	/* command: (spec command or image Entrypoint) + (spec args, or image Cmd unless the spec
	 * replaced the entrypoint) */
	char *const *entry = c->has_command ? c->command : img->process.entrypoint;
	size_t n_entry = c->has_command ? c->n_command : img->process.n_entrypoint;
	char *const *args = c->has_args ? c->args : (c->has_command ? NULL : img->process.cmd);
	size_t n_args = c->has_args ? c->n_args : (c->has_command ? 0 : img->process.n_cmd);
	if (n_entry + n_args == 0) {
		ret = errbuf_set(eb, EINVAL, "%s: no command: the image has no Entrypoint or Cmd "
				 "and the spec gives neither \"command\" nor \"args\"", where);
		goto out;
	}
	if (n_entry + n_args > POLICY_MAX_ARGS) {
		ret = errbuf_set(eb, E2BIG, "%s: command longer than %d arguments", where,
				 POLICY_MAX_ARGS);
		goto out;
	}

	const char *user = c->user ? c->user : img->process.user;
	char uwhere[96];
	snprintf(uwhere, sizeof(uwhere), c->user ? "%s.user" : "%s.image: config User", where);
	struct policy_gen_user u;
	if ((ret = user_resolve(img, user, uwhere, &u, eb)))
		goto out;
	char wd_buf[POLICY_MAX_TARGET + 1];
	const char *wd = c->working_dir;
	if (!wd && img->process.working_dir) {
		/* image configs say "/app/", "app" or "/a//b": the policy wants "/app", "/a/b" */
		if (path_normalise(img->process.working_dir, wd_buf, sizeof(wd_buf))) {
			ret = errbuf_set(eb, EINVAL, "%s.image: config WorkingDir: not a usable path",
					 where);
			goto out;
		}
		wd = wd_buf;
	}
	if (!wd)
		wd = "/";

	j = json_object_new_object();
	json_object_object_add(j, "name", json_object_new_string(c->name));
	arr = json_object_new_array();
	for (size_t i = 0; i < img->n_layers; i++) {
		char hex[2 * LAYER_HASH_LEN + 1];
		hex_encode(infos[i].root_hash, LAYER_HASH_LEN, hex);
		json_object_array_add(arr, json_object_new_string(hex));
	}
	json_object_object_add(j, "layers", arr);
	arr = strv_json(entry, n_entry);
	for (size_t i = 0; i < n_args; i++)
		json_object_array_add(arr, json_object_new_string(args[i]));
	json_object_object_add(j, "command", arr);
	arr = json_object_new_array();
	json_object_object_add(j, "env_rules", arr);
	if ((ret = env_rules(c, img, arr, eb)))
		goto out;
	json_object_object_add(j, "working_dir", json_object_new_string(wd));
	struct json_object *uo = json_object_new_object();
	json_object_object_add(uo, "uid", json_object_new_int64(u.uid));
	json_object_object_add(uo, "gid", json_object_new_int64(u.gid));
	json_object_object_add(j, "user", uo);
	json_object_object_add(j, "no_new_privileges",
			       json_object_new_boolean(c->no_new_privileges));
	json_object_object_add(j, "allow_elevated", json_object_new_boolean(false));
	json_object_object_add(j, "allow_stdio_access",
			       json_object_new_boolean(c->allow_stdio_access || dbg->stdio));
	arr = json_object_new_array();
	for (size_t i = 0; i < c->n_mounts; i++)
		json_object_array_add(arr, mount_json(&c->mounts[i], &u));
	json_object_object_add(j, "mounts", arr);
	arr = json_object_new_array();
	for (size_t i = 0; i < c->n_execs; i++) {
		struct json_object *x = json_object_new_object();
		json_object_object_add(x, "command", strv_json(c->execs[i].command,
							      c->execs[i].n_command));
		json_object_object_add(x, "working_dir", json_object_new_string(wd));
		json_object_object_add(x, "signals", signals_json(c->execs[i].signals));
		json_object_array_add(arr, x);
	}
	if (dbg->shell) {
		struct json_object *x = json_object_new_object();
		json_object_object_add(x, "command", strv_json((char *const *)debug_shell, 1));
		json_object_object_add(x, "working_dir", json_object_new_string(wd));
		json_object_object_add(x, "signals", signals_json((1ull << (SIGTERM_NUM - 1)) |
								  (1ull << (SIGKILL_NUM - 1))));
		json_object_array_add(arr, x);
	}
	json_object_object_add(j, "exec_processes", arr);
	json_object_object_add(j, "signals", signals_json(c->signals));
	*out = j;
	j = NULL;
out:
	json_object_put(j);
	free(infos);
	free(cached);
	oci_image_free(img);
	return ret;
}

static struct json_object *imports_json(const struct group_spec *g)
{
	struct json_object *arr = json_object_new_array();
	for (size_t i = 0; i < g->n_fragments; i++) {
		const struct group_fragment_import *f = &g->fragments[i];
		struct json_object *x = json_object_new_object();
		json_object_object_add(x, "issuer", json_object_new_string(f->issuer));
		json_object_object_add(x, "feed", json_object_new_string(f->feed));
		json_object_object_add(x, "minimum_svn", json_object_new_int64(f->minimum_svn));
		json_object_object_add(x, "includes", strv_json(f->includes, f->n_includes));
		if (f->allow_stdio_access)
			json_object_object_add(x, "allow_stdio_access", json_object_new_boolean(true));
		if (f->allow_elevated)
			json_object_object_add(x, "allow_elevated", json_object_new_boolean(true));
		json_object_array_add(arr, x);
	}
	return arr;
}

/* The import of o->fragment_feed, or NULL. */
static const struct group_fragment_import *feed_import(const struct group_spec *g,
						       const char *feed)
{
	for (size_t i = 0; feed && i < g->n_fragments; i++)
		if (!strcmp(g->fragments[i].feed, feed))
			return &g->fragments[i];
	return NULL;
}

int policy_gen(const struct group_spec *g, const struct policy_gen_opts *o, char **policy,
	       size_t *len, bool *debug_used, struct errbuf *eb)
{
	return policy_gen_with_plan(g, o, policy, len, debug_used, NULL, eb);
}

int policy_gen_with_plan(const struct group_spec *g, const struct policy_gen_opts *o,
			 char **policy, size_t *len, bool *debug_used,
			 struct policy_gen_plan *plan, struct errbuf *eb)
{
	struct group_debug dbg = g->debug;
	struct json_object *root = json_object_new_object(), *cs = json_object_new_array();
	size_t layer_base = 0;
	int ret = 0;

	*policy = NULL;
	*len = 0;
	if (plan) {
		memset(plan, 0, sizeof(*plan));
		plan->containers = calloc(g->n_containers, sizeof(*plan->containers));
		if (!plan->containers) {
			json_object_put(root);
			json_object_put(cs);
			return errbuf_set(eb, ENOMEM, "out of memory");
		}
	}
	if (o->debug)
		dbg = (struct group_debug){ true, true, true, true, true };
	*debug_used = group_debug_any(&dbg);
	if (!root || !cs) {
		json_object_put(root);
		json_object_put(cs);
		return errbuf_set(eb, ENOMEM, "out of memory");
	}
	json_object_object_add(root, "version", json_object_new_int(POLICY_VERSION));
	json_object_object_add(root, "allow_properties_access",
			       json_object_new_boolean(dbg.properties));
	json_object_object_add(root, "allow_dump_stacks", json_object_new_boolean(dbg.dump_stacks));
	json_object_object_add(root, "allow_runtime_logging", json_object_new_boolean(dbg.logging));
	json_object_object_add(root, "allow_environment_variable_dropping",
			       json_object_new_boolean(false));
	json_object_object_add(root, "allow_capability_dropping", json_object_new_boolean(false));
	json_object_object_add(root, "allow_unencrypted_scratch",
			       json_object_new_boolean(g->allow_unencrypted_scratch));
	json_object_object_add(root, "containers", cs);
	for (size_t i = 0; i < g->n_containers && !ret; i++) {
		struct json_object *c;
		struct policy_gen_container *pc = plan ? &plan->containers[i] : NULL;
		if (plan)
			plan->n_containers = i + 1;
		ret = container_gen(g, i, o, &dbg, &layer_base, pc, &c, eb);
		/* a policy holds the containers no fragment supplies; a fragment those of its feed */
		const char *feed = g->containers[i].fragment;
		bool wanted = o->fragment_feed ? feed && !strcmp(feed, o->fragment_feed) : !feed;
		if (!ret && wanted)
			json_object_array_add(cs, c);
		else if (!ret)
			json_object_put(c);
	}
	if (!ret && dbg.shell) {
		/* a shell in the guest itself, outside every container */
		struct json_object *ext = json_object_new_array(), *x = json_object_new_object();
		struct json_object *env = json_object_new_array();
		json_object_object_add(x, "command", strv_json((char *const *)debug_shell, 1));
		/* debug only: any environment, and the shell's stdio reaches the host */
		json_object_array_add(env, env_rule("[A-Za-z_][A-Za-z0-9_]*=.*", true, false));
		json_object_object_add(x, "env_rules", env);
		json_object_object_add(x, "working_dir", json_object_new_string("/"));
		json_object_object_add(x, "allow_stdio_access", json_object_new_boolean(true));
		json_object_array_add(ext, x);
		json_object_object_add(root, "external_processes", ext);
	}
	if (!ret && g->n_fragments && !o->fragment_feed)
		json_object_object_add(root, "fragments", imports_json(g));
	if (!ret && o->fragment_feed) {
		/* the fragment form: version, fragment{issuer,feed,svn} and its containers only */
		const struct group_fragment_import *imp = feed_import(g, o->fragment_feed);
		if (!imp) {
			ret = errbuf_set(eb, EINVAL, "the spec imports no feed '%s' (fragments)",
					 o->fragment_feed);
			goto out;
		}
		struct json_object *frag = json_object_new_object(), *meta = json_object_new_object();
		json_object_object_add(meta, "issuer", json_object_new_string(imp->issuer));
		json_object_object_add(meta, "feed", json_object_new_string(imp->feed));
		json_object_object_add(meta, "svn", json_object_new_uint64(o->fragment_svn));
		json_object_object_add(frag, "version", json_object_new_int(POLICY_VERSION));
		json_object_object_add(frag, "fragment", meta);
		json_object_object_add(frag, "containers", json_object_get(cs));
		if (!imp->allow_stdio_access) /* a fragment may not grant what its import does not */
			for (size_t i = 0; i < json_object_array_length(cs); i++)
				json_object_object_add(json_object_array_get_idx(cs, i),
						       "allow_stdio_access",
						       json_object_new_boolean(false));
		json_object_put(root);
		root = frag;
	}
	if (ret)
		goto out;

	const char *s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
								 JSON_C_TO_STRING_SPACED |
								 JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t n = s ? strlen(s) : 0;
	*policy = s ? malloc(n + 2) : NULL;
	if (!*policy) {
		ret = errbuf_set(eb, ENOMEM, "out of memory");
		goto out;
	}
	memcpy(*policy, s, n);
	(*policy)[n] = '\n';
	(*policy)[n + 1] = 0;
	*len = n + 1;

	/* never hand out a policy (or fragment) the engine would refuse */
	struct policy *p = NULL;
	struct errbuf peb = { 0 };
	if (o->fragment_feed) {
		const struct group_fragment_import *imp = feed_import(g, o->fragment_feed);
		ret = policy_fragment_check((const uint8_t *)*policy, *len, imp->issuer, imp->feed,
					    o->fragment_svn, &peb);
	} else {
		ret = policy_load((const uint8_t *)*policy, *len, &p, &peb);
		policy_free(p);
	}
	if (ret) {
		ret = errbuf_set(eb, EINVAL, "the generated policy does not load: %s",
				 errbuf_msg(&peb));
		free(*policy);
		*policy = NULL;
		*len = 0;
	}
out:
	json_object_put(root);
	return ret;
}
