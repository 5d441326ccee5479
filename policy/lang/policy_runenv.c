/* policy_runenv: run-time environment values, their redacted records and their replay. */
#include "policy/lang/policy_runenv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/fileio.h"

#define RUNENV_FILE_MAX (1u << 20)
#define RUNENV_NAME_MAX 256
#define RUNENV_VALUE_MAX (64u << 10)

struct policy_runenv {
	struct json_object *values; /* {"container": {"NAME": "VALUE"}} */
};

struct policy_runenv *policy_runenv_new(void)
{
	struct policy_runenv *rv = calloc(1, sizeof(*rv));
	if (rv && !(rv->values = json_object_new_object())) {
		free(rv);
		return NULL;
	}
	return rv;
}

void policy_runenv_free(struct policy_runenv *rv)
{
	if (!rv)
		return;
	json_object_put(rv->values);
	free(rv);
}

static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || n > RUNENV_NAME_MAX || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == '_' || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

static bool container_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == '.' || s[i] == '_' || s[i] == '-' || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

int policy_runenv_set(struct policy_runenv *rv, const char *container, const char *name,
		      const char *value, struct errbuf *eb)
{
	if (!container_ok(container))
		return errbuf_set(eb, EINVAL, "'%.128s': not a container name", container);
	if (!name_ok(name, strlen(name)))
		return errbuf_set(eb, EINVAL, "%s: '%.256s': not a variable name "
				  "([A-Za-z_][A-Za-z0-9_]*)", container, name);
	if (strlen(value) > RUNENV_VALUE_MAX)
		return errbuf_set(eb, E2BIG, "%s:%s: the value is longer than %u bytes", container,
				  name, RUNENV_VALUE_MAX);
	struct json_object *c;
	if (!json_object_object_get_ex(rv->values, container, &c)) {
		c = json_object_new_object();
		if (!c || json_object_object_add(rv->values, container, c)) {
			json_object_put(c);
			return errbuf_set(eb, ENOMEM, "out of memory");
		}
	}
	if (json_object_object_get_ex(c, name, NULL))
		return errbuf_set(eb, EEXIST, "%s:%s is given twice", container, name);
	struct json_object *v = json_object_new_string(value);
	if (!v || json_object_object_add(c, name, v)) {
		json_object_put(v);
		return errbuf_set(eb, ENOMEM, "out of memory");
	}
	return 0;
}

int policy_runenv_add_arg(struct policy_runenv *rv, const char *arg, struct errbuf *eb)
{
	const char *colon = strchr(arg, ':');
	if (!colon || colon == arg)
		return errbuf_set(eb, EINVAL, "--env %.*s...: expected CONTAINER:NAME=VALUE or "
				  "CONTAINER:NAME", (int)strcspn(arg, ":="), arg);
	char container[129], name[RUNENV_NAME_MAX + 1];
	size_t cn = (size_t)(colon - arg), nn = strcspn(colon + 1, "=");
	if (cn >= sizeof(container))
		return errbuf_set(eb, EINVAL, "--env: container name longer than 128 characters");
	if (nn >= sizeof(name))
		return errbuf_set(eb, EINVAL, "--env: variable name longer than %d characters",
				  RUNENV_NAME_MAX);
	memcpy(container, arg, cn);
	container[cn] = '\0';
	memcpy(name, colon + 1, nn);
	name[nn] = '\0';
	const char *value;
	if (colon[1 + nn] == '=') {
		value = colon + 2 + nn;
	} else {
		value = getenv(name);
		if (!value)
			return errbuf_set(eb, ENOENT, "--env %s:%s: no value given and %s is not set "
					  "in parma's environment", container, name, name);
	}
	int ret = policy_runenv_set(rv, container, name, value, eb);
	if (ret < 0)
		errbuf_prefix(eb, "--env");
	return ret;
}

int policy_runenv_add_file(struct policy_runenv *rv, const char *path, struct errbuf *eb)
{
	uint8_t *data = NULL;
	size_t len;
	int ret = file_read_all(path, RUNENV_FILE_MAX, &data, &len, eb);
	if (ret < 0)
		return ret;
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = tok ? json_tokener_parse_ex(tok, (char *)data, (int)len) : NULL;
	/* The position, never the text: the file holds secrets. */
	if (!o || json_tokener_get_parse_end(tok) != len) {
		ret = errbuf_set(eb, EINVAL, "%s: not valid JSON (%s at byte %zu)", path,
				 tok ? json_tokener_error_desc(json_tokener_get_error(tok)) : "no memory",
				 tok ? json_tokener_get_parse_end(tok) : 0);
		goto out;
	}
	if (!json_object_is_type(o, json_type_object)) {
		ret = errbuf_set(eb, EINVAL, "%s: expected an object {\"CONTAINER\": {\"NAME\": "
				 "\"VALUE\"}}", path);
		goto out;
	}
	json_object_object_foreach(o, container, vars)
	{
		if (!json_object_is_type(vars, json_type_object)) {
			ret = errbuf_set(eb, EINVAL, "%s: %.128s: expected an object of NAME: \"VALUE\"",
					 path, container);
			goto out;
		}
		json_object_object_foreach(vars, name, value)
		{
			if (!json_object_is_type(value, json_type_string)) {
				ret = errbuf_set(eb, EINVAL, "%s: %.128s.%.256s: expected a string value",
						 path, container, name);
				goto out;
			}
			if ((ret = policy_runenv_set(rv, container, name, json_object_get_string(value),
						     eb)) < 0) {
				errbuf_prefix(eb, "%s", path);
				goto out;
			}
		}
	}
	ret = 0;
out:
	json_object_put(o);
	if (tok)
		json_tokener_free(tok);
	if (data)
		explicit_bzero(data, len);
	free(data);
	return ret;
}

struct json_object *policy_runenv_json(const struct policy_runenv *rv)
{
	return rv->values;
}

const char *policy_runenv_get(const struct policy_runenv *rv, const char *container,
			      const char *name)
{
	struct json_object *c, *v;
	if (!rv || !container || !json_object_object_get_ex(rv->values, container, &c) ||
	    !json_object_object_get_ex(c, name, &v))
		return NULL;
	return json_object_get_string(v);
}

bool policy_runenv_empty(const struct policy_runenv *rv)
{
	return !rv || json_object_object_length(rv->values) == 0;
}

static const char *req_container(struct json_object *req)
{
	struct json_object *v;
	return json_object_object_get_ex(req, "container_id", &v) ? json_object_get_string(v) : NULL;
}

void policy_runenv_redact(const struct policy_runenv *rv, const char *container,
			  struct json_object *req)
{
	struct json_object *env, *c;
	if (!rv || !container || !json_object_object_get_ex(rv->values, container, &c) ||
	    !json_object_object_get_ex(req, "env", &env) || !json_object_is_type(env, json_type_array))
		return;
	/* A new array: the request's may be shared with the one that goes on the wire. */
	struct json_object *out = json_object_new_array();
	if (!out)
		return;
	for (size_t i = 0; i < json_object_array_length(env); i++) {
		struct json_object *item = json_object_array_get_idx(env, i);
		const char *var = json_object_get_string(item);
		const char *eq = var ? strchr(var, '=') : NULL;
		char name[RUNENV_NAME_MAX + 1];
		size_t n = eq ? (size_t)(eq - var) : 0;
		if (eq && n < sizeof(name)) {
			memcpy(name, var, n);
			name[n] = '\0';
		}
		if (!eq || n >= sizeof(name) || !json_object_object_get_ex(c, name, NULL)) {
			json_object_array_add(out, json_object_get(item));
			continue;
		}
		char rec[RUNENV_NAME_MAX + sizeof(POLICY_REDACTED) + 2];
		snprintf(rec, sizeof(rec), "%s=%s", name, POLICY_REDACTED);
		json_object_array_add(out, json_object_new_string(rec));
	}
	json_object_object_add(req, "env", out);
}

bool policy_runenv_is_redacted(const char *var)
{
	const char *eq = var ? strchr(var, '=') : NULL;
	return eq && !strcmp(eq + 1, POLICY_REDACTED);
}

int policy_runenv_restore(const struct policy_runenv *rv, struct json_object *req,
			  struct errbuf *eb)
{
	struct json_object *env, *t;
	if (!json_object_object_get_ex(req, "env", &env) || !json_object_is_type(env, json_type_array))
		return 0;
	const char *container = req_container(req);
	struct json_object *out = json_object_new_array();
	if (!out)
		return errbuf_set(eb, ENOMEM, "out of memory");
	for (size_t i = 0; i < json_object_array_length(env); i++) {
		struct json_object *item = json_object_array_get_idx(env, i);
		const char *var = json_object_get_string(item);
		if (!policy_runenv_is_redacted(var)) {
			json_object_array_add(out, json_object_get(item));
			continue;
		}
		size_t n = (size_t)(strchr(var, '=') - var);
		char name[RUNENV_NAME_MAX + 1];
		const char *value = NULL;
		if (n < sizeof(name)) {
			memcpy(name, var, n);
			name[n] = '\0';
			value = policy_runenv_get(rv, container, name);
		}
		if (!value) {
			json_object_put(out);
			json_object_object_get_ex(req, "type", &t);
			return errbuf_set(eb, ENOENT,
					  "%s '%s': %.*s was given at run time and is not recorded: "
					  "pass --env %s:%.*s=VALUE or --env-file FILE",
					  t ? json_object_get_string(t) : "request",
					  container ? container : "", (int)(n > 256 ? 256 : n), var,
					  container ? container : "C", (int)(n > 256 ? 256 : n), var);
		}
		size_t len = n + 1 + strlen(value) + 1;
		char *full = malloc(len);
		if (!full) {
			json_object_put(out);
			return errbuf_set(eb, ENOMEM, "out of memory");
		}
		snprintf(full, len, "%s=%s", name, value);
		json_object_array_add(out, json_object_new_string(full));
		explicit_bzero(full, len);
		free(full);
	}
	json_object_object_add(req, "env", out);
	return 0;
}
