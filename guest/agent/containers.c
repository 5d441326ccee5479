/* containers: runtime facts of the containers the agent mounted (see containers.h). */
#include "guest/agent/containers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest/agent/server_internal.h"

void containers_free(struct agent_containers *t)
{
	while (t->head) {
		struct agent_container *k = t->head;
		t->head = k->next;
		free(k);
	}
}

struct agent_container *container_find(struct agent_containers *t, const char *id)
{
	for (struct agent_container *k = t->head; k; k = k->next)
		if (!strcmp(k->id, id))
			return k;
	return NULL;
}

struct agent_container *container_by_rootfs(struct agent_containers *t, const char *rootfs)
{
	for (struct agent_container *k = t->head; k; k = k->next)
		if (!strcmp(k->rootfs, rootfs))
			return k;
	return NULL;
}

struct agent_container *container_new(const char *id, const char *rootfs, const char *scratch)
{
	struct agent_container *k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	snprintf(k->id, sizeof(k->id), "%s", id);
	snprintf(k->rootfs, sizeof(k->rootfs), "%s", rootfs);
	/* the writable layer's place comes from the path map, never from the request */
	if (scratch && policy_path_scratch_layer_dir(k->scratch_dir, sizeof(k->scratch_dir), id)) {
		free(k);
		return NULL;
	}
	return k;
}

void container_layer_dir(const struct agent_container *k, const char *sub, char *out,
			 size_t size)
{
	if (k->scratch_dir[0])
		snprintf(out, size, "%s/%s", k->scratch_dir, sub);
	else if (size)
		out[0] = '\0';
}

void container_add(struct agent_containers *t, struct agent_container *k)
{
	k->next = t->head;
	t->head = k;
}

static void container_remove(struct agent_containers *t, struct agent_container *k)
{
	for (struct agent_container **pp = &t->head; *pp; pp = &(*pp)->next)
		if (*pp == k) {
			*pp = k->next;
			free(k);
			return;
		}
}

void container_bundle_dir(const struct agent_server *s, const char *id, char *out, size_t size)
{
	snprintf(out, size, "%s/bundles/%s", s->state_dir, id);
}

/* What the container wrote (its writable layer, its scratch mounts, its bundle) is removed, so
 * nothing of it can reappear under a new overlay (the engine also retires the id of a
 * container that ran). A removal that fails leaves files behind, not a way back in: it is
 * logged, not fatal. */
void container_forget(struct agent_server *s, struct agent_container *k)
{
	char bundle[512], mounts[POLICY_MAX_TARGET + 1] = "";
	struct errbuf eb = { 0 };
	container_bundle_dir(s, k->id, bundle, sizeof(bundle));
	policy_path_scratch_mounts_dir(mounts, sizeof(mounts), k->id);
	const char *dirs[] = { k->scratch_dir, mounts, bundle };
	for (size_t i = 0; i < 3; i++)
		if (dirs[i][0] && s->fx.ops->remove_tree(s->fx.ctx, dirs[i], &eb) < 0)
			server_log(s, "container %s: %s", k->id, errbuf_msg(&eb));
	container_remove(&s->ctrs, k);
}

bool container_running(struct agent_server *s, const struct agent_container *k)
{
	return k->init_proc && process_running(&s->procs, k->init_proc);
}

const char *container_state_name(struct agent_server *s, const struct agent_container *k)
{
	if (!k->init_proc)
		return "rootfs";
	if (!container_running(s, k))
		return "stopped";
	return k->start_issued ? "running" : "created";
}

void container_init_exited(struct agent_server *s, const struct agent_proc *p)
{
	struct agent_container *k = container_find(&s->ctrs, p->container_id);
	if (!k || k->init_proc != p->id || !k->shutting_down)
		return;
	struct errbuf eb = { 0 };
	s->fx.ops->container_delete(s->fx.ctx, k->id, &eb);
}
