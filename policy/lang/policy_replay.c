/* policy_replay: decide a sequence of requests as the agent does, without the agent. The agent
 * numbers the processes it starts (1, 2, ... for each allowed create_container,
 * exec_in_container and exec_external) and resolves a signal's process_id through that table
 * before deciding; a replay keeps the same table, so `parma policy explain` and the attack
 * corpus reach the decision the agent made for the same requests. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "policy/lang/policy.h"

#define REPLAY_MAX_PROCS 4096

struct replay_proc {
	char container_id[POLICY_MAX_ID + 1]; /* "" for external processes */
	bool init;
	char **argv;
	size_t argc;
};

struct policy_replay {
	struct policy_engine *e;
	struct replay_proc *procs; /* procs[i] has process id i + 1 */
	size_t n;
};

struct policy_replay *policy_replay_new(struct policy_engine *e)
{
	struct policy_replay *r = calloc(1, sizeof(*r));
	if (r)
		r->e = e;
	return r;
}

void policy_replay_free(struct policy_replay *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		for (size_t k = 0; k < r->procs[i].argc; k++)
			free(r->procs[i].argv[k]);
		free(r->procs[i].argv);
	}
	free(r->procs);
	free(r);
}

static void record(struct policy_replay *r, const char *cid, bool init,
		   const struct policy_strv *cmd)
{
	if (r->n == REPLAY_MAX_PROCS)
		return;
	struct replay_proc *np = realloc(r->procs, (r->n + 1) * sizeof(*np));
	if (!np)
		return;
	r->procs = np;
	struct replay_proc *p = &np[r->n];
	memset(p, 0, sizeof(*p));
	snprintf(p->container_id, sizeof(p->container_id), "%s", cid ? cid : "");
	p->init = init;
	p->argv = calloc(cmd->n + 1, sizeof(char *));
	for (size_t k = 0; p->argv && k < cmd->n; k++)
		if ((p->argv[k] = strdup(cmd->v[k])))
			p->argc = k + 1;
	r->n++;
}

/* The process a signal names (default: the container's latest init process). */
static const struct replay_proc *signal_target(const struct policy_replay *r,
					       const struct policy_req_signal_process *s)
{
	if (s->has_process_id) {
		if (s->process_id == 0 || s->process_id > r->n)
			return NULL;
		const struct replay_proc *p = &r->procs[s->process_id - 1];
		return strcmp(p->container_id, s->container_id) || !p->container_id[0] ? NULL : p;
	}
	for (size_t i = r->n; i-- > 0;)
		if (r->procs[i].init && !strcmp(r->procs[i].container_id, s->container_id))
			return &r->procs[i];
	return NULL;
}

int policy_replay_decide(struct policy_replay *r, struct json_object *obj,
			 struct policy_request *q, struct policy_decision *d)
{
	struct errbuf eb = {0};
	int ret = policy_request_from_json(obj, q, &eb);
	if (ret) {
		policy_request_denial(d, q->type, ret, &eb);
		return ret == -ENOMEM ? ret : -EACCES;
	}
	if (q->type == POLICY_REQ_SIGNAL_PROCESS && policy_engine_policy(r->e)) {
		struct policy_req_signal_process *s = &q->u.signal_process;
		const struct replay_proc *p = signal_target(r, s);
		if (!p && s->has_process_id)
			return policy_signal_unknown(d, s);
		if (p) /* else the init process of an unknown container: the engine says so */
			policy_signal_resolve(s, p->init, (const char *const *)p->argv, p->argc);
	}
	ret = policy_decide(r->e, q, d);
	if (ret == 0 && q->type == POLICY_REQ_CREATE_CONTAINER)
		record(r, q->u.create_container.container_id, true, &q->u.create_container.command);
	else if (ret == 0 && q->type == POLICY_REQ_EXEC_IN_CONTAINER)
		record(r, q->u.exec_in_container.container_id, false,
		       &q->u.exec_in_container.command);
	else if (ret == 0 && q->type == POLICY_REQ_EXEC_EXTERNAL)
		record(r, NULL, false, &q->u.exec_external.command);
	return ret;
}
