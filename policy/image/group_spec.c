/* Group spec parser and validator. Every error names the JSON path of the offending value. */
#include "policy/image/group_spec.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"

/* JSON path of the value being checked, e.g. "containers[1].env[0].name". */
struct spath {
	char buf[512];
	size_t len;
	const char *what;
	struct errbuf *eb;
};

static size_t sp_key(struct spath *p, const char *key)
{
	size_t old = p->len;
	int n = snprintf(p->buf + p->len, sizeof(p->buf) - p->len, "%s%s", p->len ? "." : "", key);
	if (n > 0 && (size_t)n < sizeof(p->buf) - p->len)
		p->len += (size_t)n;
	return old;
}

static size_t sp_index(struct spath *p, size_t i)
{
	size_t old = p->len;
	int n = snprintf(p->buf + p->len, sizeof(p->buf) - p->len, "[%zu]", i);
	if (n > 0 && (size_t)n < sizeof(p->buf) - p->len)
		p->len += (size_t)n;
	return old;
}

static void sp_pop(struct spath *p, size_t old)
{
	p->len = old;
	p->buf[old] = 0;
}

__attribute__((format(printf, 3, 4))) static int sp_err(struct spath *p, int err,
							 const char *fmt, ...)
{
	char msg[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return errbuf_set(p->eb, err, "%s: %s: %s", p->what, p->len ? p->buf : "(top level)",
			  msg);
}

static int oom(struct spath *p)
{
	return errbuf_set(p->eb, ENOMEM, "out of memory");
}

/* Unknown keys are errors: a typo must not silently drop a setting. */
static int keys_check(struct spath *p, struct json_object *o, const char *const *keys)
{
	json_object_object_foreach(o, k, v) {
		(void)v;
		bool known = false;
		for (size_t i = 0; keys[i]; i++)
			known |= !strcmp(k, keys[i]);
		if (!known) {
			size_t old = sp_key(p, k);
			int ret = sp_err(p, EINVAL, "unknown field");
			sp_pop(p, old);
			return ret;
		}
	}
	return 0;
}

static struct json_object *field(struct json_object *o, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static int get_string(struct spath *p, struct json_object *o, const char *key, bool required,
		      size_t max, char **out)
{
	struct json_object *v = field(o, key);
	*out = NULL;
	if (!v) {
		if (!required)
			return 0;
		size_t old = sp_key(p, key);
		int ret = sp_err(p, EINVAL, "missing");
		sp_pop(p, old);
		return ret;
	}
	size_t old = sp_key(p, key);
	int ret = 0;
	if (!json_object_is_type(v, json_type_string))
		ret = sp_err(p, EINVAL, "expected a string");
	else if (!json_object_get_string_len(v))
		ret = sp_err(p, EINVAL, "must not be empty");
	else if ((size_t)json_object_get_string_len(v) > max)
		ret = sp_err(p, EINVAL, "longer than %zu bytes", max);
	else if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
		ret = sp_err(p, EINVAL, "contains a NUL byte");
	else if (!(*out = strdup(json_object_get_string(v))))
		ret = oom(p);
	sp_pop(p, old);
	return ret;
}

static int get_bool(struct spath *p, struct json_object *o, const char *key, bool dflt,
		    bool *out)
{
	struct json_object *v = field(o, key);
	*out = dflt;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_boolean)) {
		size_t old = sp_key(p, key);
		int ret = sp_err(p, EINVAL, "expected true or false");
		sp_pop(p, old);
		return ret;
	}
	*out = json_object_get_boolean(v);
	return 0;
}

static int get_u32(struct spath *p, struct json_object *o, const char *key, uint32_t lo,
		   uint32_t hi, uint32_t dflt, uint32_t *out)
{
	struct json_object *v = field(o, key);
	*out = dflt;
	if (!v)
		return 0;
	size_t old = sp_key(p, key);
	int ret = 0;
	int64_t x = json_object_get_int64(v);
	if (!json_object_is_type(v, json_type_int) || x < lo || x > hi)
		ret = sp_err(p, EINVAL, "expected an integer %u..%u", lo, hi);
	else
		*out = (uint32_t)x;
	sp_pop(p, old);
	return ret;
}

static int get_strv(struct spath *p, struct json_object *o, const char *key, size_t min,
		    char ***out, size_t *n, bool *present)
{
	struct json_object *v = field(o, key);
	*out = NULL;
	*n = 0;
	if (present)
		*present = v != NULL;
	if (!v)
		return 0;
	size_t old = sp_key(p, key);
	int ret = 0;
	size_t len = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 0;
	if (!json_object_is_type(v, json_type_array) || len < min || len > GROUP_MAX_ARGS) {
		ret = sp_err(p, EINVAL, "expected an array of %zu..%d strings", min, GROUP_MAX_ARGS);
		goto out;
	}
	if (!(*out = calloc(len + 1, sizeof(char *)))) {
		ret = oom(p);
		goto out;
	}
	for (size_t i = 0; i < len && !ret; i++) {
		struct json_object *s = json_object_array_get_idx(v, i);
		size_t o2 = sp_index(p, i);
		if (!json_object_is_type(s, json_type_string) ||
		    (size_t)json_object_get_string_len(s) > GROUP_MAX_STRING ||
		    strlen(json_object_get_string(s)) != (size_t)json_object_get_string_len(s))
			ret = sp_err(p, EINVAL, "expected a string of at most %d bytes",
				     GROUP_MAX_STRING);
		else if (!((*out)[i] = strdup(json_object_get_string(s))))
			ret = oom(p);
		else
			(*n)++;
		sp_pop(p, o2);
	}
out:
	sp_pop(p, old);
	return ret;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static bool env_name_ok(const char *s)
{
	if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") ==
	       strlen(s);
}

static bool abs_path_ok(const char *s)
{
	if (s[0] != '/')
		return false;
	for (const char *seg = s + 1; *seg;) {
		const char *end = strchr(seg, '/');
		size_t n = end ? (size_t)(end - seg) : strlen(seg);
		if (!n || (n == 1 && seg[0] == '.') || (n == 2 && !strncmp(seg, "..", 2)))
			return false;
		if (!end)
			break;
		seg = end + 1;
		if (!*seg)
			return false; /* trailing slash */
	}
	return true;
}

/* ---- signals ------------------------------------------------------------------------------ */

static const struct {
	const char *name;
	int num;
} signal_names[] = {
	{ "HUP", 1 },   { "INT", 2 },   { "QUIT", 3 },  { "KILL", 9 },   { "USR1", 10 },
	{ "USR2", 12 }, { "PIPE", 13 }, { "ALRM", 14 }, { "TERM", 15 },  { "CONT", 18 },
	{ "STOP", 19 }, { "TSTP", 20 }, { "WINCH", 28 },
};

static int get_signals(struct spath *p, struct json_object *o, uint64_t dflt, uint64_t *out)
{
	struct json_object *v = field(o, "signals");
	*out = dflt;
	if (!v)
		return 0;
	size_t old = sp_key(p, "signals");
	int ret = 0;
	if (!json_object_is_type(v, json_type_array)) {
		ret = sp_err(p, EINVAL, "expected an array of signal numbers or names");
		goto out;
	}
	*out = 0;
	for (size_t i = 0; i < json_object_array_length(v) && !ret; i++) {
		struct json_object *s = json_object_array_get_idx(v, i);
		size_t o2 = sp_index(p, i);
		int num = 0;
		if (json_object_is_type(s, json_type_int)) {
			int64_t x = json_object_get_int64(s);
			num = (x >= 1 && x <= 64) ? (int)x : 0;
		} else if (json_object_is_type(s, json_type_string)) {
			const char *n = json_object_get_string(s);
			if (!strncmp(n, "SIG", 3))
				n += 3;
			for (size_t k = 0; k < sizeof(signal_names) / sizeof(*signal_names); k++)
				if (!strcmp(n, signal_names[k].name))
					num = signal_names[k].num;
		}
		if (!num)
			ret = sp_err(p, EINVAL, "expected a signal number 1..64 or a name like "
				     "\"SIGTERM\"");
		else if (*out & (1ull << (num - 1)))
			ret = sp_err(p, EINVAL, "duplicate signal %d", num);
		else
			*out |= 1ull << (num - 1);
		sp_pop(p, o2);
	}
out:
	sp_pop(p, old);
	return ret;
}

/* ---- containers --------------------------------------------------------------------------- */

static int parse_env(struct spath *p, struct json_object *o, struct group_container *c)
{
	static const char *const keys[] = { "name", "value", "regex", "required", NULL };
	struct json_object *v = field(o, "env");
	if (!v)
		return 0;
	size_t old = sp_key(p, "env");
	int ret = 0;
	size_t n = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 0;
	if (!json_object_is_type(v, json_type_array) || n > GROUP_MAX_ENV) {
		ret = sp_err(p, EINVAL, "expected an array of at most %d objects", GROUP_MAX_ENV);
		goto out;
	}
	if (!(c->env = calloc(n + 1, sizeof(*c->env)))) {
		ret = oom(p);
		goto out;
	}
	for (size_t i = 0; i < n && !ret; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);
		struct group_env *ge = &c->env[c->n_env];
		char *value = NULL, *regex = NULL;
		size_t o2 = sp_index(p, i);
		if (!json_object_is_type(e, json_type_object)) {
			ret = sp_err(p, EINVAL, "expected an object {\"name\", \"value\" or "
				     "\"regex\"}");
		} else if (!(ret = keys_check(p, e, keys)) &&
			   !(ret = get_string(p, e, "name", true, 256, &ge->name))) {
			c->n_env++;
			size_t o3 = sp_key(p, "name");
			if (!env_name_ok(ge->name))
				ret = sp_err(p, EINVAL, "expected a variable name "
					     "([A-Za-z_][A-Za-z0-9_]*)");
			for (size_t j = 0; j < c->n_env - 1 && !ret; j++)
				if (!strcmp(c->env[j].name, ge->name))
					ret = sp_err(p, EINVAL, "duplicate variable %s", ge->name);
			sp_pop(p, o3);
			struct json_object *vv = field(e, "value");
			if (!ret && vv && json_object_is_type(vv, json_type_string) &&
			    !json_object_get_string_len(vv)) {
				/* an empty value is legitimate: NAME= */
				value = strdup("");
				if (!value)
					ret = oom(p);
			} else if (!ret) {
				ret = get_string(p, e, "value", false, GROUP_MAX_STRING, &value);
			}
			if (!ret)
				ret = get_string(p, e, "regex", false, 1024, &regex);
			if (!ret && !!value == !!regex)
				ret = sp_err(p, EINVAL, "give exactly one of \"value\" and \"regex\"");
			if (!ret)
				ret = get_bool(p, e, "required", false, &ge->required);
			ge->is_regex = regex != NULL;
			ge->value = regex ? regex : value;
			if (ret && value != ge->value)
				free(value);
			if (ret && regex != ge->value)
				free(regex);
		}
		sp_pop(p, o2);
	}
out:
	sp_pop(p, old);
	return ret;
}

static int parse_mounts(struct spath *p, struct json_object *o, struct group_container *c)
{
	static const char *const keys[] = { "name", "destination", "type", "read_only", NULL };
	struct json_object *v = field(o, "mounts");
	if (!v)
		return 0;
	size_t old = sp_key(p, "mounts");
	int ret = 0;
	size_t n = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 0;
	if (!json_object_is_type(v, json_type_array) || n > GROUP_MAX_MOUNTS) {
		ret = sp_err(p, EINVAL, "expected an array of at most %d mounts", GROUP_MAX_MOUNTS);
		goto out;
	}
	if (!(c->mounts = calloc(n + 1, sizeof(*c->mounts)))) {
		ret = oom(p);
		goto out;
	}
	for (size_t i = 0; i < n && !ret; i++) {
		struct json_object *m = json_object_array_get_idx(v, i);
		struct group_mount *gm = &c->mounts[i];
		char *type = NULL;
		size_t o2 = sp_index(p, i);
		if (!json_object_is_type(m, json_type_object)) {
			ret = sp_err(p, EINVAL, "expected an object");
			sp_pop(p, o2);
			break;
		}
		c->n_mounts++;
		if (!(ret = keys_check(p, m, keys)) &&
		    !(ret = get_string(p, m, "name", true, 63, &gm->name)) &&
		    !(ret = get_string(p, m, "destination", true, 255, &gm->destination)) &&
		    !(ret = get_string(p, m, "type", false, 16, &type)) &&
		    !(ret = get_bool(p, m, "read_only", false, &gm->read_only))) {
			size_t o3 = sp_key(p, "name");
			if (!name_ok(gm->name))
				ret = sp_err(p, EINVAL, "expected lowercase letters, digits and '-'");
			sp_pop(p, o3);
			o3 = sp_key(p, "destination");
			if (!ret && !abs_path_ok(gm->destination))
				ret = sp_err(p, EINVAL, "expected a normalised absolute path");
			for (size_t j = 0; j < i && !ret; j++)
				if (!strcmp(c->mounts[j].destination, gm->destination))
					ret = sp_err(p, EINVAL, "duplicate destination");
			sp_pop(p, o3);
			for (size_t j = 0; j < i && !ret; j++)
				if (!strcmp(c->mounts[j].name, gm->name)) {
					o3 = sp_key(p, "name");
					ret = sp_err(p, EINVAL, "duplicate mount name");
					sp_pop(p, o3);
				}
			o3 = sp_key(p, "type");
			if (!ret && (!type || !strcmp(type, "scratch")))
				gm->type = GROUP_MOUNT_SCRATCH;
			else if (!ret && !strcmp(type, "tmpfs"))
				gm->type = GROUP_MOUNT_TMPFS;
			else if (!ret)
				ret = sp_err(p, EINVAL, "expected \"scratch\" or \"tmpfs\"");
			sp_pop(p, o3);
		}
		free(type);
		sp_pop(p, o2);
	}
out:
	sp_pop(p, old);
	return ret;
}

static int parse_execs(struct spath *p, struct json_object *o, struct group_container *c)
{
	static const char *const keys[] = { "command", "signals", NULL };
	struct json_object *v = field(o, "exec_processes");
	if (!v)
		return 0;
	size_t old = sp_key(p, "exec_processes");
	int ret = 0;
	size_t n = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 0;
	if (!json_object_is_type(v, json_type_array) || n > GROUP_MAX_EXEC) {
		ret = sp_err(p, EINVAL, "expected an array of at most %d objects", GROUP_MAX_EXEC);
		goto out;
	}
	if (!(c->execs = calloc(n + 1, sizeof(*c->execs)))) {
		ret = oom(p);
		goto out;
	}
	for (size_t i = 0; i < n && !ret; i++) {
		struct json_object *x = json_object_array_get_idx(v, i);
		struct group_exec *ge = &c->execs[i];
		size_t o2 = sp_index(p, i);
		c->n_execs++;
		bool present;
		if (!json_object_is_type(x, json_type_object))
			ret = sp_err(p, EINVAL, "expected an object");
		else if (!(ret = keys_check(p, x, keys)) &&
			 !(ret = get_strv(p, x, "command", 1, &ge->command, &ge->n_command,
					  &present)) &&
			 !present) {
			size_t o3 = sp_key(p, "command");
			ret = sp_err(p, EINVAL, "missing");
			sp_pop(p, o3);
		}
		if (!ret)
			ret = get_signals(p, x, 0, &ge->signals);
		sp_pop(p, o2);
	}
out:
	sp_pop(p, old);
	return ret;
}

static int parse_resources(struct spath *p, struct json_object *o, const struct group_spec *g,
			   struct group_container *c)
{
	static const char *const keys[] = { "cpu_millis", "memory_mib", "pids_max", NULL };
	struct json_object *v = field(o, "resources");
	if (!v)
		return 0;
	size_t old = sp_key(p, "resources");
	int ret;
	if (!json_object_is_type(v, json_type_object))
		ret = sp_err(p, EINVAL, "expected an object");
	else if (!(ret = keys_check(p, v, keys)) &&
		 !(ret = get_u32(p, v, "cpu_millis", 1, g->vcpus * 1000, 0, &c->cpu_millis)) &&
		 !(ret = get_u32(p, v, "memory_mib", 1, g->memory_mib, 0, &c->memory_mib)))
		ret = get_u32(p, v, "pids_max", 1, 1u << 22, 0, &c->pids_max);
	sp_pop(p, old);
	return ret;
}

static int resolve_image(struct spath *p, const char *base_dir, struct group_container *c)
{
	if (c->image[0] == '/' || !base_dir || !base_dir[0]) {
		c->image_ref = strdup(c->image);
	} else {
		size_t n = strlen(base_dir) + strlen(c->image) + 2;
		c->image_ref = malloc(n);
		if (c->image_ref)
			snprintf(c->image_ref, n, "%s/%s", base_dir, c->image);
	}
	return c->image_ref ? 0 : oom(p);
}

static int parse_container(struct spath *p, struct json_object *o, const struct group_spec *g,
			   const char *base_dir, struct group_container *c)
{
	static const char *const keys[] = {
		"name", "image", "command", "args", "env", "working_dir", "user", "mounts",
		"resources", "no_new_privileges", "allow_stdio_access", "signals",
		"exec_processes", "fragment", NULL,
	};
	int ret;
	if (!json_object_is_type(o, json_type_object))
		return sp_err(p, EINVAL, "expected an object");
	if ((ret = keys_check(p, o, keys)) ||
	    (ret = get_string(p, o, "name", true, 63, &c->name)))
		return ret;
	if (!name_ok(c->name)) {
		size_t old = sp_key(p, "name");
		ret = sp_err(p, EINVAL, "expected 1..63 lowercase letters, digits and '-'");
		sp_pop(p, old);
		return ret;
	}
	if ((ret = get_string(p, o, "image", true, PATH_MAX / 2, &c->image)) ||
	    (ret = resolve_image(p, base_dir, c)) ||
	    (ret = get_strv(p, o, "command", 1, &c->command, &c->n_command, &c->has_command)) ||
	    (ret = get_strv(p, o, "args", 0, &c->args, &c->n_args, &c->has_args)) ||
	    (ret = parse_env(p, o, c)) ||
	    (ret = get_string(p, o, "working_dir", false, 255, &c->working_dir)) ||
	    (ret = get_string(p, o, "user", false, 256, &c->user)) ||
	    (ret = parse_mounts(p, o, c)) || (ret = parse_resources(p, o, g, c)) ||
	    (ret = get_bool(p, o, "no_new_privileges", false, &c->no_new_privileges)) ||
	    (ret = get_bool(p, o, "allow_stdio_access", true, &c->allow_stdio_access)) ||
	    (ret = get_signals(p, o, 1ull << (15 - 1) /* SIGTERM */, &c->signals)) ||
	    (ret = parse_execs(p, o, c)) ||
	    (ret = get_string(p, o, "fragment", false, 1024, &c->fragment)))
		return ret;
	if (c->working_dir && !abs_path_ok(c->working_dir)) {
		size_t old = sp_key(p, "working_dir");
		ret = sp_err(p, EINVAL, "expected a normalised absolute path");
		sp_pop(p, old);
	}
	if (!ret && c->user && (strchr(c->user, ' ') || c->user[0] == ':' ||
				c->user[strlen(c->user) - 1] == ':' ||
				strchr(strchr(c->user, ':') ? strchr(c->user, ':') + 1 : "", ':'))) {
		size_t old = sp_key(p, "user");
		ret = sp_err(p, EINVAL, "expected \"user\", \"uid\", \"user:group\" or \"uid:gid\"");
		sp_pop(p, old);
	}
	return ret;
}

static int parse_fragment_import(struct spath *p, struct json_object *o,
				 struct group_fragment_import *f)
{
	static const char *const keys[] = { "issuer", "feed", "minimum_svn", "includes",
					    "allow_stdio_access", "allow_elevated", NULL };
	bool has_includes = false;
	if (!json_object_is_type(o, json_type_object))
		return sp_err(p, EINVAL, "expected an object");
	int ret;
	if ((ret = keys_check(p, o, keys)) ||
	    (ret = get_string(p, o, "issuer", true, 1024, &f->issuer)) ||
	    (ret = get_string(p, o, "feed", true, 1024, &f->feed)) ||
	    (ret = get_u32(p, o, "minimum_svn", 0, UINT32_MAX, 0, &f->minimum_svn)) ||
	    (ret = get_strv(p, o, "includes", 1, &f->includes, &f->n_includes, &has_includes)) ||
	    (ret = get_bool(p, o, "allow_stdio_access", false, &f->allow_stdio_access)) ||
	    (ret = get_bool(p, o, "allow_elevated", false, &f->allow_elevated)))
		return ret;
	if (!has_includes) {
		f->includes = calloc(1, sizeof(char *));
		if (!f->includes || !(f->includes[0] = strdup("containers")))
			return sp_err(p, ENOMEM, "out of memory");
		f->n_includes = 1;
	}
	return 0;
}

/* "fragments": the feeds the policy imports; every container's "fragment" names one. */
static int parse_fragment_imports(struct spath *p, struct json_object *o, struct group_spec *g)
{
	struct json_object *v = field(o, "fragments");
	if (!v)
		return 0;
	size_t old = sp_key(p, "fragments");
	size_t n = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 0;
	int ret = 0;
	if (!json_object_is_type(v, json_type_array) || n > GROUP_MAX_FRAGMENTS)
		ret = sp_err(p, EINVAL, "expected an array of at most %d imports",
			     GROUP_MAX_FRAGMENTS);
	else if (n && !(g->fragments = calloc(n, sizeof(*g->fragments))))
		ret = sp_err(p, ENOMEM, "out of memory");
	for (size_t i = 0; i < n && !ret; i++) {
		size_t o2 = sp_index(p, i);
		g->n_fragments++;
		ret = parse_fragment_import(p, json_object_array_get_idx(v, i), &g->fragments[i]);
		sp_pop(p, o2);
	}
	sp_pop(p, old);
	return ret;
}

static int parse_debug(struct spath *p, struct json_object *o, struct group_debug *d)
{
	static const char *const keys[] = { "shell", "stdio", "properties", "dump_stacks",
					    "logging", NULL };
	struct json_object *v = field(o, "debug");
	memset(d, 0, sizeof(*d));
	if (!v)
		return 0;
	size_t old = sp_key(p, "debug");
	int ret = 0;
	if (json_object_is_type(v, json_type_boolean)) {
		bool on = json_object_get_boolean(v);
		*d = (struct group_debug){ on, on, on, on, on };
	} else if (!json_object_is_type(v, json_type_object)) {
		ret = sp_err(p, EINVAL, "expected true, false or an object of booleans");
	} else if (!(ret = keys_check(p, v, keys)) &&
		   !(ret = get_bool(p, v, "shell", false, &d->shell)) &&
		   !(ret = get_bool(p, v, "stdio", false, &d->stdio)) &&
		   !(ret = get_bool(p, v, "properties", false, &d->properties)) &&
		   !(ret = get_bool(p, v, "dump_stacks", false, &d->dump_stacks))) {
		ret = get_bool(p, v, "logging", false, &d->logging);
	}
	sp_pop(p, old);
	return ret;
}

int group_spec_parse(const char *text, size_t len, const char *what, const char *base_dir,
		     struct group_spec **out, struct errbuf *eb)
{
	static const char *const keys[] = { "name", "vcpus", "memory_mib",
					    "allow_unencrypted_scratch", "debug", "containers",
					    "fragments", NULL };
	struct spath p = { .what = what, .eb = eb };
	struct group_spec *g = calloc(1, sizeof(*g));
	struct json_tokener *tok = json_tokener_new_ex(32);
	struct json_object *o = NULL, *cs;
	int ret = 0;
	*out = NULL;
	if (!g || !tok) {
		ret = errbuf_set(eb, ENOMEM, "out of memory");
		goto out;
	}
	if (len > GROUP_MAX_BYTES) {
		ret = errbuf_set(eb, E2BIG, "%s: larger than %u bytes", what, GROUP_MAX_BYTES);
		goto out;
	}
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success) {
		ret = errbuf_set(eb, EINVAL, "%s: not valid JSON: %s", what,
				 json_tokener_error_desc(json_tokener_get_error(tok)));
		goto out;
	}
	if (!json_object_is_type(o, json_type_object)) {
		ret = errbuf_set(eb, EINVAL, "%s: expected a JSON object", what);
		goto out;
	}
	if ((ret = keys_check(&p, o, keys)) || (ret = get_string(&p, o, "name", true, 63, &g->name)))
		goto out;
	if (!name_ok(g->name)) {
		size_t old = sp_key(&p, "name");
		ret = sp_err(&p, EINVAL, "expected 1..63 lowercase letters, digits and '-'");
		sp_pop(&p, old);
		goto out;
	}
	if ((ret = get_u32(&p, o, "vcpus", 1, 64, 1, &g->vcpus)) ||
	    (ret = get_u32(&p, o, "memory_mib", 64, 1u << 20, 512, &g->memory_mib)) ||
	    (ret = get_bool(&p, o, "allow_unencrypted_scratch", false,
			    &g->allow_unencrypted_scratch)) ||
	    (ret = parse_debug(&p, o, &g->debug)) || (ret = parse_fragment_imports(&p, o, g)))
		goto out;
	cs = field(o, "containers");
	size_t old = sp_key(&p, "containers");
	size_t n = cs && json_object_is_type(cs, json_type_array) ? json_object_array_length(cs) : 0;
	if (!n || n > GROUP_MAX_CONTAINERS) {
		ret = sp_err(&p, EINVAL, "expected an array of 1..%d containers",
			     GROUP_MAX_CONTAINERS);
		goto out;
	}
	if (!(g->containers = calloc(n, sizeof(*g->containers)))) {
		ret = errbuf_set(eb, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n && !ret; i++) {
		size_t o2 = sp_index(&p, i);
		g->n_containers++;
		ret = parse_container(&p, json_object_array_get_idx(cs, i), g, base_dir,
				      &g->containers[i]);
		for (size_t j = 0; j < i && !ret; j++) {
			if (!strcmp(g->containers[j].name, g->containers[i].name)) {
				size_t o3 = sp_key(&p, "name");
				ret = sp_err(&p, EINVAL, "duplicate container name %s",
					     g->containers[i].name);
				sp_pop(&p, o3);
			}
		}
		bool imported = !g->containers[i].fragment;
		for (size_t f = 0; f < g->n_fragments && !imported; f++)
			imported = !strcmp(g->fragments[f].feed, g->containers[i].fragment);
		if (!ret && !imported) {
			size_t o3 = sp_key(&p, "fragment");
			ret = sp_err(&p, EINVAL, "feed '%s' is not in the spec's fragments",
				     g->containers[i].fragment);
			sp_pop(&p, o3);
		}
		sp_pop(&p, o2);
	}
	sp_pop(&p, old);
out:
	json_object_put(o);
	json_tokener_free(tok);
	if (ret)
		group_spec_free(g);
	else
		*out = g;
	return ret;
}

int group_spec_load(const char *path, struct group_spec **out, struct errbuf *eb)
{
	uint8_t *text;
	size_t len;
	*out = NULL;
	int ret = file_read_all(path, GROUP_MAX_BYTES, &text, &len, eb);
	if (ret)
		return ret;
	char *dir = strdup(path);
	if (!dir) {
		free(text);
		return errbuf_set(eb, ENOMEM, "out of memory");
	}
	char *slash = strrchr(dir, '/');
	if (slash)
		slash == dir ? (void)(slash[1] = 0) : (void)(*slash = 0);
	ret = group_spec_parse((const char *)text, len, path, slash ? dir : ".", out, eb);
	free(dir);
	free(text);
	return ret;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

void group_spec_free(struct group_spec *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n_containers; i++) {
		struct group_container *c = &g->containers[i];
		free(c->name);
		free(c->image);
		free(c->image_ref);
		strv_free(c->command, c->n_command);
		strv_free(c->args, c->n_args);
		for (size_t e = 0; e < c->n_env; e++) {
			free(c->env[e].name);
			free(c->env[e].value);
		}
		free(c->env);
		free(c->working_dir);
		free(c->user);
		for (size_t m = 0; m < c->n_mounts; m++) {
			free(c->mounts[m].name);
			free(c->mounts[m].destination);
		}
		free(c->mounts);
		for (size_t x = 0; x < c->n_execs; x++)
			strv_free(c->execs[x].command, c->execs[x].n_command);
		free(c->execs);
		free(c->fragment);
	}
	free(g->containers);
	for (size_t i = 0; i < g->n_fragments; i++) {
		free(g->fragments[i].issuer);
		free(g->fragments[i].feed);
		strv_free(g->fragments[i].includes, g->fragments[i].n_includes);
	}
	free(g->fragments);
	free(g->name);
	free(g);
}

bool group_debug_any(const struct group_debug *d)
{
	return d->shell || d->stdio || d->properties || d->dump_stacks || d->logging;
}
