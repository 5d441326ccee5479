/* group_request: the agent requests an honest host sends for a group, built from the policy.
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

/* The policy's container entry named `name` (borrowed), or NULL. */
struct json_object *group_policy_container(struct json_object *policy, const char *name);

/* create_container for the policy entry `pc`, as container id `id`. Its env: the policy's
 * exact values, then the run-time values `values` ({"NAME": "VALUE"}, may be NULL; a name
 * given there replaces the policy's exact value). New reference. */
struct json_object *group_req_create(struct json_object *pc, const char *id,
				     struct json_object *values, bool stdio);

/* exec_in_container of argv[0..argc) in container `id` whose policy entry is `pc`: the
 * container's environment (as for create), user and capabilities, and the working directory
 * of the matching exec_processes entry (else the container's). New reference. */
struct json_object *group_req_exec(struct json_object *pc, const char *id,
				   struct json_object *values, char *const *argv, size_t argc);

/* The policy engine's JSON form (docs/policy.md, "Requests") of a request sent on the wire, so
 * `parma policy explain POLICY REQUESTS.json` can replay what the host sent. NULL for requests
 * the engine does not decide by themselves (install_policy: explain installs the policy file
 * itself; start_container, wait, ...). New reference. */
struct json_object *group_req_for_explain(struct json_object *wire);

/* A denial's structured reason (rule, field, expected, got) on `out`, two-space indented;
 * nothing if `resp` carries none. */
void group_print_reason(FILE *out, struct json_object *resp);

/* The exit status a `wait` answer reports: its exit_code, or 128 + its signal; -1 if neither. */
int group_wait_status(struct json_object *resp);

#endif
