#include "vmm/group/group_request.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "policy/lang/policy.h"

struct json_object *group_req_new(const char *type)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string(type));
	return o;
}

struct json_object *group_req_create(const struct policy *p, const char *name)
{
	struct policy_request q;
	long idx = policy_container_find(p, name);
	if (idx < 0 || policy_request_for_create(p, (size_t)idx, name, &q) < 0)
		return NULL;
	struct json_object *req = policy_request_to_json(&q);
	policy_request_clear(&q);
	return req;
}

struct json_object *group_req_exec(const struct policy *p, const char *name, char *const *argv,
				   size_t argc)
{
	struct policy_request q;
	long idx = policy_container_find(p, name);
	if (idx < 0 || policy_request_for_exec(p, (size_t)idx, name, (const char *const *)argv,
					       argc, &q) < 0)
		return NULL;
	struct json_object *req = policy_request_to_json(&q);
	policy_request_clear(&q);
	return req;
}

void group_print_reason(FILE *out, struct json_object *resp)
{
	static const char *const keys[] = { "rule", "field", "expected", "got", "source" };
	struct json_object *err, *reason, *v;
	if (!resp || !json_object_object_get_ex(resp, "error", &err) ||
	    !json_object_object_get_ex(err, "reason", &reason))
		return;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (json_object_object_get_ex(reason, keys[i], &v) && json_object_get_string_len(v))
			fprintf(out, "  %-9s %s\n", keys[i], json_object_get_string(v));
}

int group_wait_status(struct json_object *resp)
{
	struct json_object *v;
	if (json_object_object_get_ex(resp, "exit_code", &v))
		return json_object_get_int(v);
	if (json_object_object_get_ex(resp, "signal", &v))
		return 128 + json_object_get_int(v);
	return -1;
}

void group_req_add_env_values(struct json_object *req, struct json_object *values)
{
	struct json_object *env, *out;
	if (!values || !json_object_object_get_ex(req, "env", &env) ||
	    !json_object_is_type(env, json_type_array) || !(out = json_object_new_array()))
		return;
	for (size_t i = 0; i < json_object_array_length(env); i++) {
		struct json_object *item = json_object_array_get_idx(env, i);
		const char *var = json_object_get_string(item), *eq = var ? strchr(var, '=') : NULL;
		bool replaced = false;
		json_object_object_foreach(values, name, value)
		{
			(void)value;
			replaced |= eq && strlen(name) == (size_t)(eq - var) &&
				    !strncmp(name, var, (size_t)(eq - var));
		}
		if (!replaced)
			json_object_array_add(out, json_object_get(item));
	}
	json_object_object_foreach(values, name, value)
	{
		size_t len = strlen(name) + 1 + (size_t)json_object_get_string_len(value) + 1;
		char *var = malloc(len);
		if (!var)
			continue;
		snprintf(var, len, "%s=%s", name, json_object_get_string(value));
		json_object_array_add(out, json_object_new_string(var));
		explicit_bzero(var, len);
		free(var);
	}
	json_object_object_add(req, "env", out);
}

struct json_object *group_denial_json(struct json_object *resp, const char *reproduce)
{
	struct json_object *err, *o = json_object_new_object(), *e = NULL;
	if (json_object_object_get_ex(resp, "error", &err))
		json_object_deep_copy(err, &e, NULL);
	if (!e) {
		e = json_object_new_object();
		json_object_object_add(e, "message", json_object_new_string("denied by the policy"));
	}
	json_object_object_del(e, "code");
	json_object_object_add(e, "code", json_object_new_string("denied"));
	if (reproduce)
		json_object_object_add(e, "reproduce", json_object_new_string(reproduce));
	json_object_object_add(o, "error", e);
	return o;
}
