#include "policy/lang/policy_json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/lang/policy.h"
#include "policy/lang/policy_internal.h"

void policy_jctx_init(struct jctx *c, struct errbuf *eb)
{
	c->path[0] = '\0';
	c->len = 0;
	c->eb = eb;
}

/* Appends without printf: the parser pushes a path element for every field. */
static size_t jctx_append(struct jctx *c, const char *pre, const char *s, size_t n,
			  const char *post)
{
	size_t old = c->len, room = sizeof(c->path) - 1;
	const char *parts[] = {pre, s, post};
	size_t lens[] = {strlen(pre), n, strlen(post)};
	for (size_t i = 0; i < 3; i++) {
		size_t k = lens[i] < room - c->len ? lens[i] : room - c->len;
		memcpy(c->path + c->len, parts[i], k);
		c->len += k;
	}
	c->path[c->len] = '\0';
	return old;
}

size_t policy_jctx_key(struct jctx *c, const char *key)
{
	size_t n = strlen(key);
	return jctx_append(c, c->len ? "." : "", key, n > 64 ? 64 : n, "");
}

size_t policy_jctx_index(struct jctx *c, size_t i)
{
	char digits[24];
	size_t n = sizeof(digits);
	do {
		digits[--n] = (char)('0' + i % 10);
		i /= 10;
	} while (i && n);
	return jctx_append(c, "[", digits + n, sizeof(digits) - n, "]");
}

void policy_jctx_pop(struct jctx *c, size_t old)
{
	c->len = old;
	c->path[old] = '\0';
}

int policy_jerr(struct jctx *c, int errnum, const char *fmt, ...)
{
	char msg[ERRBUF_SIZE];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return errbuf_set(c->eb, errnum, "%s: %s", c->len ? c->path : "(top level)", msg);
}

static const char *jtype_name(struct json_object *v)
{
	return v ? json_type_to_name(json_object_get_type(v)) : "null";
}

int policy_jobject(struct jctx *c, struct json_object *obj, const char *const *allowed)
{
	if (!json_object_is_type(obj, json_type_object))
		return policy_jerr(c, EINVAL, "expected an object, got %s", jtype_name(obj));
	json_object_object_foreach(obj, key, val)
	{
		(void)val;
		bool known = false;
		for (size_t i = 0; allowed[i]; i++)
			known = known || !strcmp(key, allowed[i]);
		if (!known) {
			size_t old = policy_jctx_key(c, key);
			int ret = policy_jerr(c, EINVAL, "unknown field");
			policy_jctx_pop(c, old);
			return ret;
		}
	}
	return 0;
}

int policy_jstring(struct jctx *c, struct json_object *v, size_t max_len, const char **out)
{
	if (!json_object_is_type(v, json_type_string))
		return policy_jerr(c, EINVAL, "expected a string, got %s", jtype_name(v));
	const char *s = json_object_get_string(v);
	size_t len = (size_t)json_object_get_string_len(v);
	if (strlen(s) != len)
		return policy_jerr(c, EINVAL, "string contains a NUL character");
	if (len > max_len)
		return policy_jerr(c, E2BIG, "string longer than %zu bytes", max_len);
	*out = s;
	return 0;
}

int policy_ju64(struct jctx *c, struct json_object *v, uint64_t max, uint64_t *out)
{
	if (!json_object_is_type(v, json_type_int))
		return policy_jerr(c, EINVAL, "expected an integer, got %s", jtype_name(v));
	/* json-c keeps non-negative integers up to UINT64_MAX as uint64 */
	if (json_object_get_int64(v) < 0)
		return policy_jerr(c, EINVAL, "expected a non-negative integer");
	errno = 0;
	uint64_t x = json_object_get_uint64(v);
	if (errno || x > max)
		return policy_jerr(c, ERANGE, "integer out of range (maximum %" PRIu64 ")", max);
	*out = x;
	return 0;
}

static struct json_object *jget(struct json_object *obj, const char *key)
{
	struct json_object *v = NULL;
	return json_object_object_get_ex(obj, key, &v) ? v : NULL;
}

static int jmissing(struct jctx *c, struct json_object *obj, const char *key, bool required,
		    struct json_object **v)
{
	*v = jget(obj, key);
	if (*v || !json_object_object_get_ex(obj, key, NULL)) {
		if (!*v && required) {
			size_t old = policy_jctx_key(c, key);
			int ret = policy_jerr(c, EINVAL, "missing (required)");
			policy_jctx_pop(c, old);
			return ret;
		}
		return *v ? 0 : 1;
	}
	/* present but JSON null: a type error, never "absent" */
	size_t old = policy_jctx_key(c, key);
	int ret = policy_jerr(c, EINVAL, "null is not allowed here");
	policy_jctx_pop(c, old);
	return ret;
}

int policy_jfield_string(struct jctx *c, struct json_object *obj, const char *key, bool required,
			 size_t max_len, const char **out)
{
	struct json_object *v;
	int ret = jmissing(c, obj, key, required, &v);
	if (ret)
		return ret < 0 ? ret : 0;
	size_t old = policy_jctx_key(c, key);
	ret = policy_jstring(c, v, max_len, out);
	policy_jctx_pop(c, old);
	return ret;
}

int policy_jfield_bool(struct jctx *c, struct json_object *obj, const char *key, bool *out)
{
	struct json_object *v;
	int ret = jmissing(c, obj, key, false, &v);
	if (ret)
		return ret < 0 ? ret : 0;
	if (!json_object_is_type(v, json_type_boolean)) {
		size_t old = policy_jctx_key(c, key);
		ret = policy_jerr(c, EINVAL, "expected true or false, got %s", jtype_name(v));
		policy_jctx_pop(c, old);
		return ret;
	}
	*out = json_object_get_boolean(v);
	return 0;
}

int policy_jfield_u64(struct jctx *c, struct json_object *obj, const char *key, bool required,
		      uint64_t max, uint64_t *out)
{
	struct json_object *v;
	int ret = jmissing(c, obj, key, required, &v);
	if (ret)
		return ret < 0 ? ret : 0;
	size_t old = policy_jctx_key(c, key);
	ret = policy_ju64(c, v, max, out);
	policy_jctx_pop(c, old);
	return ret;
}

int policy_jfield_array(struct jctx *c, struct json_object *obj, const char *key, bool required,
			size_t max_n, struct json_object **out, size_t *n)
{
	struct json_object *v;
	*out = NULL;
	*n = 0;
	int ret = jmissing(c, obj, key, required, &v);
	if (ret)
		return ret < 0 ? ret : 0;
	size_t old = policy_jctx_key(c, key);
	if (!json_object_is_type(v, json_type_array))
		ret = policy_jerr(c, EINVAL, "expected an array, got %s", jtype_name(v));
	else if (json_object_array_length(v) > max_n)
		ret = policy_jerr(c, E2BIG, "more than %zu elements", max_n);
	policy_jctx_pop(c, old);
	if (ret)
		return ret;
	*out = v;
	*n = json_object_array_length(v);
	return 0;
}

int policy_jfield_object(struct jctx *c, struct json_object *obj, const char *key, bool required,
			 struct json_object **out)
{
	struct json_object *v;
	*out = NULL;
	int ret = jmissing(c, obj, key, required, &v);
	if (ret)
		return ret < 0 ? ret : 0;
	if (!json_object_is_type(v, json_type_object)) {
		size_t old = policy_jctx_key(c, key);
		ret = policy_jerr(c, EINVAL, "expected an object, got %s", jtype_name(v));
		policy_jctx_pop(c, old);
		return ret;
	}
	*out = v;
	return 0;
}

/* json-c silently keeps the last of duplicate keys; a reviewer reading the
 * document may see the first. Reject duplicates (and escaped keys, so that a
 * byte comparison is exact) in text json-c has already accepted. */
#define JSON_MAX_KEYS_PER_OBJECT 64

struct key_span {
	size_t off, len;
};

static int check_duplicate_keys(const char *t, size_t len, struct errbuf *eb)
{
	struct key_span keys[POLICY_MAX_JSON_DEPTH + 1][JSON_MAX_KEYS_PER_OBJECT];
	size_t n_keys[POLICY_MAX_JSON_DEPTH + 1];
	bool is_obj[POLICY_MAX_JSON_DEPTH + 1], want_key[POLICY_MAX_JSON_DEPTH + 1];
	int depth = -1;
	for (size_t i = 0; i < len; i++) {
		char ch = t[i];
		if (ch == '{' || ch == '[') {
			if (++depth > POLICY_MAX_JSON_DEPTH)
				return errbuf_set(eb, EINVAL, "invalid JSON: nesting too deep");
			is_obj[depth] = ch == '{';
			want_key[depth] = ch == '{';
			n_keys[depth] = 0;
		} else if (ch == '}' || ch == ']') {
			depth--;
		} else if (ch == ',' && depth >= 0 && is_obj[depth]) {
			want_key[depth] = true;
		} else if (ch == '"') {
			size_t start = ++i;
			bool escaped = false;
			while (i < len && t[i] != '"') {
				if (t[i] == '\\') {
					escaped = true;
					i++;
				}
				i++;
			}
			if (depth < 0 || !is_obj[depth] || !want_key[depth])
				continue;
			want_key[depth] = false;
			size_t klen = i - start;
			if (escaped)
				return errbuf_set(eb, EINVAL,
						  "invalid JSON: escape sequence in an object key "
						  "at byte %zu",
						  start);
			for (size_t k = 0; k < n_keys[depth]; k++)
				if (keys[depth][k].len == klen &&
				    !memcmp(t + keys[depth][k].off, t + start, klen))
					return errbuf_set(
						eb, EINVAL,
						"invalid JSON: duplicate key \"%.*s\" at byte %zu",
						(int)(klen > 64 ? 64 : klen), t + start, start);
			if (n_keys[depth] == JSON_MAX_KEYS_PER_OBJECT)
				return errbuf_set(
					eb, E2BIG,
					"invalid JSON: object with more than %d keys at byte %zu",
					JSON_MAX_KEYS_PER_OBJECT, start);
			keys[depth][n_keys[depth]++] = (struct key_span){start, klen};
		}
	}
	return 0;
}

int policy_json_parse(const char *text, size_t len, struct json_object **out, struct errbuf *eb)
{
	*out = NULL;
	if (len > INT32_MAX)
		return errbuf_set(eb, E2BIG, "document too large");
	struct json_tokener *tok = json_tokener_new_ex(POLICY_MAX_JSON_DEPTH);
	if (!tok)
		return errbuf_set(eb, ENOMEM, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	struct json_object *obj = json_tokener_parse_ex(tok, text, (int)len);
	enum json_tokener_error jerr_code = json_tokener_get_error(tok);
	size_t consumed = json_tokener_get_parse_end(tok);
	int ret = 0;
	if (jerr_code == json_tokener_continue)
		ret = errbuf_set(eb, EINVAL, "invalid JSON: unexpected end of input");
	else if (jerr_code != json_tokener_success)
		ret = errbuf_set(eb, EINVAL, "invalid JSON at byte %zu: %s", consumed,
				 json_tokener_error_desc(jerr_code));
	else {
		for (size_t i = consumed; i < len && !ret; i++)
			if (!strchr(" \t\r\n", text[i]))
				ret = errbuf_set(eb, EINVAL,
						 "invalid JSON: trailing data at byte %zu", i);
	}
	json_tokener_free(tok);
	if (!ret)
		ret = check_duplicate_keys(text, len, eb);
	if (ret) {
		json_object_put(obj);
		return ret;
	}
	*out = obj;
	return 0;
}

/* The default capability sets (containerd's defaults for an unprivileged
 * container) for bounding/effective/permitted when a container has no
 * "capabilities" object; inheritable and ambient default to empty. */
static const int default_caps[] = {0 /* CHOWN */,
				   1 /* DAC_OVERRIDE */,
				   3 /* FOWNER */,
				   4 /* FSETID */,
				   5 /* KILL */,
				   6 /* SETGID */,
				   7 /* SETUID */,
				   8 /* SETPCAP */,
				   10 /* NET_BIND_SERVICE */,
				   13 /* NET_RAW */,
				   18 /* SYS_CHROOT */,
				   27 /* MKNOD */,
				   29 /* AUDIT_WRITE */,
				   31 /* SETFCAP */};

void policy_caps_default(struct policy_caps *caps)
{
	uint64_t dflt = 0;
	for (size_t i = 0; i < sizeof(default_caps) / sizeof(default_caps[0]); i++)
		dflt |= 1ull << default_caps[i];
	*caps = (struct policy_caps){ .bounding = dflt, .effective = dflt, .permitted = dflt };
}

static const char *const cap_set_names[] = {"bounding",	 "effective", "inheritable",
					    "permitted", "ambient",   NULL};

static uint64_t *cap_set(struct policy_caps *c, size_t i)
{
	uint64_t *sets[] = {&c->bounding, &c->effective, &c->inheritable, &c->permitted,
			    &c->ambient};
	return sets[i];
}

/* Adds one named capability to a set; unknown and repeated names are errors. */
static int cap_set_add(struct jctx *c, uint64_t *set, const char *name)
{
	int cap = policy_cap_from_name(name);
	if (cap < 0)
		return policy_jerr(c, EINVAL, "unknown capability '%s'", name);
	if (*set & (1ull << cap))
		return policy_jerr(c, EINVAL, "duplicate capability '%s'", name);
	*set |= 1ull << cap;
	return 0;
}

int policy_jfield_umask(struct jctx *c, struct json_object *obj, uint32_t *out)
{
	const char *umask = "0022";
	*out = 022;
	int ret = policy_jfield_string(c, obj, "umask", false, 8, &umask);
	if (ret)
		return ret;
	char *end;
	unsigned long m = strtoul(umask, &end, 8);
	if (!umask[0] || *end || strspn(umask, "01234567") != strlen(umask) || m > 0777 ||
	    strlen(umask) > 4) {
		size_t old = policy_jctx_key(c, "umask");
		ret = policy_jerr(c, EINVAL, "expected an octal umask such as \"0022\"");
		policy_jctx_pop(c, old);
		return ret;
	}
	*out = (uint32_t)m;
	return 0;
}

int policy_jfield_caps(struct jctx *c, struct json_object *obj, struct policy_caps *caps)
{
	struct json_object *co;
	*caps = (struct policy_caps){ 0 };
	int ret = policy_jfield_object(c, obj, "capabilities", false, &co);
	if (ret)
		return ret;
	if (!co) {
		policy_caps_default(caps);
		return 0;
	}
	size_t old = policy_jctx_key(c, "capabilities");
	ret = policy_jobject(c, co, cap_set_names);
	for (size_t s = 0; cap_set_names[s] && !ret; s++) {
		struct json_object *arr;
		size_t n;
		uint64_t *set = cap_set(caps, s);
		ret = policy_jfield_array(c, co, cap_set_names[s], false, 64, &arr, &n);
		size_t o2 = policy_jctx_key(c, cap_set_names[s]);
		for (size_t i = 0; i < n && !ret; i++) {
			const char *name = NULL;
			size_t o3 = policy_jctx_index(c, i);
			ret = policy_jstring(c, json_object_array_get_idx(arr, i), 64, &name);
			if (!ret)
				ret = cap_set_add(c, set, name);
			policy_jctx_pop(c, o3);
		}
		policy_jctx_pop(c, o2);
	}
	policy_jctx_pop(c, old);
	return ret;
}
