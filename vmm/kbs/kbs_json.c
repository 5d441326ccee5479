/* kbs_json: strict JSON reading with path-naming errors. */
#include "vmm/kbs/kbs_json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

int kbs_json_parse(const char *text, size_t len, struct json_object **out, struct errbuf *eb)
{
	*out = NULL;
	if (len > INT32_MAX)
		return errbuf_set(eb, E2BIG, "document too large");
	struct json_tokener *tok = json_tokener_new_ex(KBS_JSON_MAX_DEPTH);
	if (!tok)
		return errbuf_set(eb, ENOMEM, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	struct json_object *obj = json_tokener_parse_ex(tok, text, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	int ret = 0;
	if (jerr == json_tokener_continue)
		ret = errbuf_set(eb, EINVAL, "invalid JSON: unexpected end of input");
	else if (jerr != json_tokener_success)
		ret = errbuf_set(eb, EINVAL, "invalid JSON at byte %zu: %s", end,
				 json_tokener_error_desc(jerr));
	for (size_t i = end; !ret && i < len; i++)
		if (!strchr(" \t\r\n", text[i]))
			ret = errbuf_set(eb, EINVAL, "invalid JSON: trailing data at byte %zu", i);
	json_tokener_free(tok);
	if (ret) {
		json_object_put(obj);
		return ret;
	}
	*out = obj;
	return 0;
}

void kbs_jpath_init(struct kbs_jpath *p, const char *root, struct errbuf *eb)
{
	snprintf(p->path, sizeof(p->path), "%s", root);
	p->len = strlen(p->path);
	p->eb = eb;
}

static size_t jpath_append(struct kbs_jpath *p, const char *fmt, const char *s, size_t i)
{
	size_t old = p->len;
	if (p->len < sizeof(p->path)) {
		int n = s ? snprintf(p->path + p->len, sizeof(p->path) - p->len, fmt, s)
			  : snprintf(p->path + p->len, sizeof(p->path) - p->len, fmt, i);
		p->len = n < 0 ? p->len : p->len + (size_t)n;
		if (p->len >= sizeof(p->path))
			p->len = sizeof(p->path) - 1;
	}
	return old;
}

size_t kbs_jpath_key(struct kbs_jpath *p, const char *key)
{
	return jpath_append(p, p->len ? ".%s" : "%s", key, 0);
}

size_t kbs_jpath_index(struct kbs_jpath *p, size_t i)
{
	return jpath_append(p, "[%zu]", NULL, i);
}

void kbs_jpath_pop(struct kbs_jpath *p, size_t old)
{
	p->len = old;
	p->path[old] = 0;
}

int kbs_jerr(struct kbs_jpath *p, int errnum, const char *fmt, ...)
{
	char msg[ERRBUF_SIZE];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return errbuf_set(p->eb, errnum, "%s: %s", p->len ? p->path : "(top)", msg);
}

int kbs_jobject(struct kbs_jpath *p, struct json_object *obj, const char *const *allowed)
{
	if (!json_object_is_type(obj, json_type_object))
		return kbs_jerr(p, EINVAL, "expected an object");
	json_object_object_foreach(obj, key, val)
	{
		(void)val;
		bool ok = false;
		for (size_t i = 0; allowed[i] && !ok; i++)
			ok = !strcmp(allowed[i], key);
		if (!ok) {
			size_t old = kbs_jpath_key(p, key);
			int r = kbs_jerr(p, EINVAL, "unknown member");
			kbs_jpath_pop(p, old);
			return r;
		}
	}
	return 0;
}

int kbs_jmember(struct kbs_jpath *p, struct json_object *obj, const char *key, bool required,
		struct json_object **out)
{
	struct json_object *v;
	if (!json_object_object_get_ex(obj, key, &v)) {
		if (!required)
			return 0;
		size_t old = kbs_jpath_key(p, key);
		int r = kbs_jerr(p, EINVAL, "required member missing");
		kbs_jpath_pop(p, old);
		return r;
	}
	*out = v;
	return 1;
}

int kbs_jstring(struct kbs_jpath *p, struct json_object *obj, const char *key, bool required,
		size_t max_len, const char **out)
{
	struct json_object *v;
	int r = kbs_jmember(p, obj, key, required, &v);
	if (r <= 0)
		return r;
	size_t old = kbs_jpath_key(p, key);
	if (!json_object_is_type(v, json_type_string))
		r = kbs_jerr(p, EINVAL, "expected a string");
	else if ((size_t)json_object_get_string_len(v) > max_len)
		r = kbs_jerr(p, EINVAL, "longer than %zu bytes", max_len);
	else if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
		r = kbs_jerr(p, EINVAL, "contains a NUL character");
	else {
		*out = json_object_get_string(v);
		r = 0;
	}
	kbs_jpath_pop(p, old);
	return r;
}

int kbs_jbool(struct kbs_jpath *p, struct json_object *obj, const char *key, bool *out)
{
	struct json_object *v;
	int r = kbs_jmember(p, obj, key, false, &v);
	if (r <= 0)
		return r;
	size_t old = kbs_jpath_key(p, key);
	if (!json_object_is_type(v, json_type_boolean))
		r = kbs_jerr(p, EINVAL, "expected true or false");
	else {
		*out = json_object_get_boolean(v);
		r = 0;
	}
	kbs_jpath_pop(p, old);
	return r;
}

int kbs_ju64(struct kbs_jpath *p, struct json_object *obj, const char *key, bool required,
	     uint64_t max, uint64_t *out)
{
	struct json_object *v;
	int r = kbs_jmember(p, obj, key, required, &v);
	if (r <= 0)
		return r;
	size_t old = kbs_jpath_key(p, key);
	errno = 0;
	int64_t x = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : -1;
	if (x < 0 || errno || (uint64_t)x > max)
		r = kbs_jerr(p, EINVAL, "expected an integer 0-%" PRIu64, max);
	else {
		*out = (uint64_t)x;
		r = 0;
	}
	kbs_jpath_pop(p, old);
	return r;
}

int kbs_jarray(struct kbs_jpath *p, struct json_object *obj, const char *key, bool required,
	       size_t max_n, struct json_object **out, size_t *n)
{
	struct json_object *v;
	int r = kbs_jmember(p, obj, key, required, &v);
	if (r <= 0)
		return r;
	size_t old = kbs_jpath_key(p, key);
	if (!json_object_is_type(v, json_type_array))
		r = kbs_jerr(p, EINVAL, "expected an array");
	else if (json_object_array_length(v) > max_n)
		r = kbs_jerr(p, EINVAL, "more than %zu entries", max_n);
	else {
		*out = v;
		*n = json_object_array_length(v);
		r = 0;
	}
	kbs_jpath_pop(p, old);
	return r;
}
