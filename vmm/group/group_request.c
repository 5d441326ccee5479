#include "vmm/group/group_request.h"

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

struct json_object *group_policy_container(struct json_object *policy, const char *name)
{
	struct json_object *containers, *n;
	if (!json_object_object_get_ex(policy, "containers", &containers) ||
	    !json_object_is_type(containers, json_type_array))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(containers); i++) {
		struct json_object *pc = json_object_array_get_idx(containers, i);
		if (json_object_object_get_ex(pc, "name", &n) &&
		    !strcmp(json_object_get_string(n), name))
			return pc;
	}
	return NULL;
}

static void copy_member(struct json_object *req, struct json_object *pc, const char *key)
{
	struct json_object *v;
	if (json_object_object_get_ex(pc, key, &v))
		json_object_object_add(req, key, json_object_get(v));
}

static bool has_value_for(struct json_object *values, const char *var)
{
	const char *eq = strchr(var, '=');
	if (!values || !eq)
		return false;
	json_object_object_foreach(values, name, value)
	{
		(void)value;
		if (strlen(name) == (size_t)(eq - var) && !strncmp(name, var, (size_t)(eq - var)))
			return true;
	}
	return false;
}

/* Every exact (string) env rule, except those the run-time values replace, then the run-time
 * values ({"NAME": "VALUE"}, may be NULL): regex rules describe values the user supplies when
 * the group runs. */
static struct json_object *policy_env(struct json_object *pc, struct json_object *values)
{
	struct json_object *env = json_object_new_array(), *rules, *v;
	if (json_object_object_get_ex(pc, "env_rules", &rules))
		for (size_t i = 0; i < json_object_array_length(rules); i++) {
			struct json_object *rule = json_object_array_get_idx(rules, i);
			const char *strategy = "string";
			if (json_object_object_get_ex(rule, "strategy", &v))
				strategy = json_object_get_string(v);
			if (strcmp(strategy, "string") ||
			    !json_object_object_get_ex(rule, "pattern", &v) ||
			    has_value_for(values, json_object_get_string(v)))
				continue;
			json_object_array_add(env, json_object_get(v));
		}
	if (values) {
		json_object_object_foreach(values, name, value)
		{
			size_t len = strlen(name) + 1 + (size_t)json_object_get_string_len(value) + 1;
			char *var = malloc(len);
			if (!var)
				continue;
			snprintf(var, len, "%s=%s", name, json_object_get_string(value));
			json_object_array_add(env, json_object_new_string(var));
			explicit_bzero(var, len);
			free(var);
		}
	}
	return env;
}

/* A policy entry without "capabilities" means the engine's default sets (docs/policy.md); the
 * host states them explicitly rather than rely on each side's default. */
static struct json_object *default_capabilities(void)
{
	struct policy_caps caps;
	policy_caps_default(&caps);
	const struct {
		const char *name;
		uint64_t set;
	} sets[] = {
		{ "bounding", caps.bounding },	     { "effective", caps.effective },
		{ "inheritable", caps.inheritable }, { "permitted", caps.permitted },
		{ "ambient", caps.ambient },
	};
	struct json_object *obj = json_object_new_object();
	for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
		struct json_object *arr = json_object_new_array();
		for (int cap = 0; cap < 64; cap++)
			if ((sets[s].set >> cap & 1) && policy_cap_name(cap))
				json_object_array_add(arr, json_object_new_string(policy_cap_name(cap)));
		json_object_object_add(obj, sets[s].name, arr);
	}
	return obj;
}

static void add_process_fields(struct json_object *req, struct json_object *pc, const char *id,
			       struct json_object *values)
{
	struct json_object *v;
	json_object_object_add(req, "container_id", json_object_new_string(id));
	json_object_object_add(req, "env", policy_env(pc, values));
	copy_member(req, pc, "user");
	if (json_object_object_get_ex(pc, "capabilities", &v))
		json_object_object_add(req, "capabilities", json_object_get(v));
	else
		json_object_object_add(req, "capabilities", default_capabilities());
	copy_member(req, pc, "no_new_privileges");
}

struct json_object *group_req_create(struct json_object *pc, const char *id,
				     struct json_object *values, bool stdio)
{
	struct json_object *req = group_req_new("create_container");
	add_process_fields(req, pc, id, values);
	copy_member(req, pc, "command");
	copy_member(req, pc, "working_dir");
	copy_member(req, pc, "mounts");
	json_object_object_add(req, "stdio", json_object_new_boolean(stdio));
	return req;
}

static bool command_equal(struct json_object *cmd, char *const *argv, size_t argc)
{
	if (!json_object_is_type(cmd, json_type_array) || json_object_array_length(cmd) != argc)
		return false;
	for (size_t i = 0; i < argc; i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(cmd, i));
		if (!s || strcmp(s, argv[i]))
			return false;
	}
	return true;
}

struct json_object *group_req_exec(struct json_object *pc, const char *id,
				   struct json_object *values, char *const *argv, size_t argc)
{
	struct json_object *req = group_req_new("exec_in_container"), *cmd, *execs, *wd = NULL, *v;
	add_process_fields(req, pc, id, values);
	cmd = json_object_new_array();
	for (size_t i = 0; i < argc; i++)
		json_object_array_add(cmd, json_object_new_string(argv[i]));
	json_object_object_add(req, "command", cmd);
	if (json_object_object_get_ex(pc, "exec_processes", &execs))
		for (size_t i = 0; i < json_object_array_length(execs) && !wd; i++) {
			struct json_object *e = json_object_array_get_idx(execs, i);
			if (json_object_object_get_ex(e, "command", &v) && command_equal(v, argv, argc))
				json_object_object_get_ex(e, "working_dir", &wd);
		}
	if (!wd)
		json_object_object_get_ex(pc, "working_dir", &wd);
	if (wd)
		json_object_object_add(req, "working_dir", json_object_get(wd));
	json_object_object_add(req, "stdio", json_object_new_boolean(1));
	return req;
}

/* Wire request → engine request: the engine's type name, the fields it takes (same name on
 * both sides unless renamed), and the renames. */
struct explain_map {
	const char *wire, *engine;
	const char *keep[11];
	const char *rename[2][2]; /* {wire name, engine name} */
};

static const struct explain_map explain_maps[] = {
	{ "mount_layer", "mount_device", { "target" }, { { "root_hash", "device_hash" } } },
	{ "mount_scratch", "mount_scratch", { "target", "encrypted" }, { { 0 } } },
	{ "mount_overlay", "mount_overlay", { "container_id", "target" },
	  { { "layers", "layer_targets" } } },
	{ "create_container", "create_container",
	  { "container_id", "command", "env", "working_dir", "user", "capabilities",
	    "no_new_privileges", "privileged", "mounts", "seccomp_profile_sha256" },
	  { { 0 } } },
	{ "exec_in_container", "exec_in_container",
	  { "container_id", "command", "env", "working_dir", "user", "capabilities",
	    "no_new_privileges" },
	  { { 0 } } },
	{ "exec_external", "exec_external", { "command", "env", "working_dir" }, { { 0 } } },
	{ "shutdown_container", "shutdown_container", { "container_id" }, { { 0 } } },
	{ "get_properties", "get_properties", { 0 }, { { 0 } } },
	{ "dump_stacks", "dump_stacks", { 0 }, { { 0 } } },
	{ "load_fragment", "load_fragment", { "fragment_base64" }, { { 0 } } },
};

struct json_object *group_req_for_explain(struct json_object *wire)
{
	struct json_object *t, *v;
	if (!json_object_object_get_ex(wire, "type", &t))
		return NULL;
	const char *type = json_object_get_string(t);
	for (size_t i = 0; i < sizeof(explain_maps) / sizeof(explain_maps[0]); i++) {
		const struct explain_map *m = &explain_maps[i];
		if (strcmp(m->wire, type))
			continue;
		struct json_object *out = group_req_new(m->engine);
		for (size_t k = 0; k < 11 && m->keep[k]; k++)
			if (json_object_object_get_ex(wire, m->keep[k], &v))
				json_object_object_add(out, m->keep[k], json_object_get(v));
		for (size_t k = 0; k < 2 && m->rename[k][0]; k++)
			if (json_object_object_get_ex(wire, m->rename[k][0], &v))
				json_object_object_add(out, m->rename[k][1], json_object_get(v));
		return out;
	}
	return NULL;
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
