/* policy_query: typed questions a host asks of a loaded policy, and the requests an honest
 * host builds from its answers. The host never digs in the policy's JSON: it asks here, and
 * sends what policy_request_to_json() makes of the typed request, so what it sends is the
 * form the agent parses and the engine decides. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy/lang/policy.h"
#include "policy/lang/policy_internal.h"

long policy_container_find(const struct policy *p, const char *name)
{
	for (size_t i = 0; p && i < p->n_containers; i++)
		if (!strcmp(p->containers[i].name, name))
			return (long)i;
	return -1;
}

size_t policy_container_layers(const struct policy *p, size_t idx,
			       const uint8_t (**layers)[POLICY_SHA256_LEN])
{
	*layers = p->containers[idx].layers;
	return p->containers[idx].n_layers;
}

bool policy_container_stdio(const struct policy *p, size_t idx)
{
	return p->containers[idx].allow_stdio_access;
}

/* Request memory lives in an arena owned by the request (policy_request_clear frees it). */
static struct arena *request_arena(struct policy_request *q)
{
	struct req_storage *st = calloc(1, sizeof(*st));
	q->storage = st;
	return st ? &st->arena : NULL;
}

static struct policy_strv strv_of(const struct strlist *l)
{
	return (struct policy_strv){(const char *const *)l->v, l->n};
}

/* Every exact (string) env rule: regex rules describe values a user supplies at run time. */
static int env_of(struct arena *a, const struct env_rules *rules, struct policy_strv *out)
{
	const char **v = policy_arena_alloc(a, (rules->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t n = 0;
	for (size_t i = 0; i < rules->n && n < POLICY_MAX_ENV; i++)
		if (!rules->v[i].is_regex)
			v[n++] = rules->v[i].pattern;
	*out = (struct policy_strv){v, n};
	return 0;
}

static struct policy_user user_of(const struct user_rule *u)
{
	return (struct policy_user){u->uid, u->gid, u->gids, u->n_gids, u->umask};
}

int policy_request_for_create(const struct policy *p, size_t idx, const char *container_id,
			      struct policy_request *q)
{
	const struct container_rule *c = &p->containers[idx];
	memset(q, 0, sizeof(*q));
	q->type = POLICY_REQ_CREATE_CONTAINER;
	struct arena *a = request_arena(q);
	struct policy_req_create_container *r = &q->u.create_container;
	struct policy_mount *m = a ? policy_arena_alloc(a, (c->n_mounts + 1) * sizeof(*m)) : NULL;
	if (!m || env_of(a, &c->env, &r->env) < 0) {
		policy_request_clear(q);
		return -ENOMEM;
	}
	r->container_id = container_id;
	r->command = strv_of(&c->command);
	r->working_dir = c->working_dir;
	r->user = user_of(&c->user);
	r->caps = c->caps;
	r->no_new_privileges = c->no_new_privileges;
	/* a regex source names no one path: an honest host cannot pick one for the user */
	size_t n = 0;
	for (size_t i = 0; i < c->n_mounts; i++) {
		if (c->mounts[i].source_is_regex)
			continue;
		m[n++] = (struct policy_mount){c->mounts[i].source, c->mounts[i].destination,
					       c->mounts[i].type,
					       (const char *const *)c->mounts[i].options.v,
					       c->mounts[i].options.n};
	}
	r->mounts = m;
	r->n_mounts = n;
	r->stdio = c->allow_stdio_access;
	return 0;
}

int policy_request_for_exec(const struct policy *p, size_t idx, const char *container_id,
			    const char *const *argv, size_t argc, struct policy_request *q)
{
	const struct container_rule *c = &p->containers[idx];
	memset(q, 0, sizeof(*q));
	q->type = POLICY_REQ_EXEC_IN_CONTAINER;
	struct arena *a = request_arena(q);
	struct policy_req_exec_in_container *r = &q->u.exec_in_container;
	if (!a || env_of(a, &c->env, &r->env) < 0) {
		policy_request_clear(q);
		return -ENOMEM;
	}
	r->container_id = container_id;
	r->command = (struct policy_strv){argv, argc};
	r->working_dir = c->working_dir;
	for (size_t i = 0; i < c->n_execs; i++) {
		const struct exec_rule *x = &c->execs[i];
		bool same = x->command.n == argc;
		for (size_t k = 0; same && k < argc; k++)
			same = !strcmp(x->command.v[k], argv[k]);
		if (same) {
			if (x->working_dir)
				r->working_dir = x->working_dir;
			break;
		}
	}
	r->user = user_of(&c->user);
	r->caps = c->caps;
	r->no_new_privileges = c->no_new_privileges;
	r->stdio = true;
	return 0;
}
