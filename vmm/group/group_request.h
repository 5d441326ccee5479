/* group_request: the agent requests an honest host sends for a group, built from the loaded
 * policy through its typed queries (policy/lang/policy.h) and sent in the one request form
 * (policy_request_to_json) that the agent parses and `parma policy explain` replays.
 *
 * The host asks for exactly what the installed policy allows (the command, environment, user,
 * capabilities and mounts of the policy's container entry), so a correctly configured group
 * starts, and anything else is the agent's engine's to deny. */
#ifndef PARMA_VMM_GROUP_GROUP_REQUEST_H
#define PARMA_VMM_GROUP_GROUP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct json_object;

/* A new {"type": type} object. */
struct json_object *group_req_new(const char *type);

struct policy;

/* create_container for the container `name` of the loaded policy p, as container id `name`
 * (policy_request_for_create: the entry's command, exact env, user, capabilities, mounts and
 * stdio). New reference; NULL if p has no such container or on ENOMEM. */
struct json_object *group_req_create(const struct policy *p, const char *name);

/* exec_in_container of argv[0..argc) in container `name` (policy_request_for_exec). New
 * reference; NULL if p has no such container or on ENOMEM. */
struct json_object *group_req_exec(const struct policy *p, const char *name, char *const *argv,
				   size_t argc);

/* Put the run-time values `values` ({"NAME": "VALUE"}, may be NULL) into the "env" of a
 * create_container or exec_in_container request: a name given there replaces the policy's
 * exact value of that name; the others are appended. */
void group_req_add_env_values(struct json_object *req, struct json_object *values);

/* A denial's structured reason (rule, field, expected, got) on `out`, two-space indented;
 * nothing if `resp` carries none. */
void group_print_reason(FILE *out, struct json_object *resp);

/* A denial as an API answer body: {"error": {"code": "denied", "message", "reason": {"rule",
 * "field", "expected", "got"}, "reproduce"}} from the agent's answer `resp` (values already
 * redacted by the agent); reproduce (may be NULL) is the `parma policy explain` command that
 * replays it. New reference. */
struct json_object *group_denial_json(struct json_object *resp, const char *reproduce);

/* The exit status a `wait` answer reports: its exit_code, or 128 + its signal; -1 if neither. */
int group_wait_status(struct json_object *resp);

#endif
