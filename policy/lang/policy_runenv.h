/* policy_runenv: environment values given when a group runs, not written in its spec.
 *
 * A policy's regex env rules describe values that vary per deployment (tokens, endpoints,
 * replica ids); the user gives them to `parma run` with `--env CONTAINER:NAME=VALUE`,
 * `--env CONTAINER:NAME` (the value of NAME in parma's own environment) or `--env-file FILE`
 * (a JSON object {"CONTAINER": {"NAME": "VALUE"}}). They are secrets: kept in memory only,
 * never printed, and recorded requests carry them as NAME=<<redacted>>. Replaying a record
 * (`parma policy explain --env-file FILE`) takes the values again. Host side only: the guest
 * sees the values in the requests it checks, never this module. */
#ifndef PARMA_POLICY_POLICY_RUNENV_H
#define PARMA_POLICY_POLICY_RUNENV_H

#include <stdbool.h>
#include <stddef.h>

#include "common/errbuf.h"
#include "policy/lang/policy.h" /* POLICY_REDACTED */

struct json_object;
struct policy_runenv;

struct policy_runenv *policy_runenv_new(void);
void policy_runenv_free(struct policy_runenv *rv);

/* One value. Names are [A-Za-z_][A-Za-z0-9_]*, containers 1-128 of [A-Za-z0-9._-]; a value
 * given twice is an error naming it (never the value). */
int policy_runenv_set(struct policy_runenv *rv, const char *container, const char *name,
		      const char *value, struct errbuf *eb);

/* "CONTAINER:NAME=VALUE", or "CONTAINER:NAME" for the value of NAME in this process's
 * environment (so the value need not appear in a command line). */
int policy_runenv_add_arg(struct policy_runenv *rv, const char *arg, struct errbuf *eb);

/* A JSON file {"CONTAINER": {"NAME": "VALUE", ...}, ...}. */
int policy_runenv_add_file(struct policy_runenv *rv, const char *path, struct errbuf *eb);

/* Every value as {"CONTAINER": {"NAME": "VALUE"}} (borrowed; read-only). */
struct json_object *policy_runenv_json(const struct policy_runenv *rv);

/* The value for container's NAME, or NULL. */
const char *policy_runenv_get(const struct policy_runenv *rv, const char *container,
			      const char *name);

/* True if no value was given. */
bool policy_runenv_empty(const struct policy_runenv *rv);

/* The record of a request: in req's "env" array (NAME=VALUE strings), every variable that
 * has a run-time value for `container` becomes NAME=<<redacted>>. */
void policy_runenv_redact(const struct policy_runenv *rv, const char *container,
			  struct json_object *req);

/* True if the NAME=VALUE string is a redacted record. */
bool policy_runenv_is_redacted(const char *var);

/* Put the values back into a recorded request (its "env" and "container_id"): 0, or -ENOENT
 * naming the first variable whose value was not given again (rv may be NULL). */
int policy_runenv_restore(const struct policy_runenv *rv, struct json_object *req,
			  struct errbuf *eb);

#endif
