/* containers: the runtime facts parma-agent keeps about each container it mounted a root file
 * system for: its paths (rootfs, writable layer, bundle), its init process and whether crun
 * was told to start it or shut it down.
 *
 * The policy engine is the only record of what the policy governs (which ids have an overlay,
 * which were created, shut down or retired, which layers are mounted): the agent asks it, and
 * never keeps a copy of it here. Running/stopped is read from the process table (the init's
 * exit), never stored. */
#ifndef PARMA_GUEST_AGENT_CONTAINERS_H
#define PARMA_GUEST_AGENT_CONTAINERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/lang/policy.h"

struct agent_server;
struct agent_proc;

struct agent_container {
	char id[POLICY_MAX_ID + 1];
	char rootfs[POLICY_MAX_TARGET + 1]; /* overlay target */
	/* its writable layer's directory on scratch (upper/ and work/), "" if read-only */
	char scratch_dir[POLICY_MAX_TARGET + POLICY_MAX_ID + 2];
	uint32_t init_proc;  /* process id of the container's init; 0 until crun created it */
	bool start_issued;   /* `crun start` ran */
	bool shutting_down;  /* shutdown_container: crun delete once the init has ended */
	struct agent_container *next;
};

struct agent_containers {
	struct agent_container *head;
};

void containers_free(struct agent_containers *t);
struct agent_container *container_find(struct agent_containers *t, const char *id);
struct agent_container *container_by_rootfs(struct agent_containers *t, const char *rootfs);
/* A record for a root file system about to be mounted at rootfs (scratch: non-NULL when its
 * writable layer lives on the scratch disk, at the path map's scratch/containers/ID; NULL for a
 * read-only one); not yet in any table. NULL on ENOMEM or an id the map refuses. */
struct agent_container *container_new(const char *id, const char *rootfs, const char *scratch);
/* Its writable layer's upper/ or work/ directory (sub), "" when read-only. */
void container_layer_dir(const struct agent_container *k, const char *sub, char *out,
			 size_t size);
/* The root file system is mounted: k joins the table. */
void container_add(struct agent_containers *t, struct agent_container *k);
/* The bundle directory crun gets for container id. */
void container_bundle_dir(const struct agent_server *s, const char *id, char *out, size_t size);
/* The overlay is gone: remove what the container wrote and forget it. */
void container_forget(struct agent_server *s, struct agent_container *k);
/* The container's init runs (created, and not ended). */
bool container_running(struct agent_server *s, const struct agent_container *k);
/* "rootfs", "created", "running" or "stopped", for get_properties. */
const char *container_state_name(struct agent_server *s, const struct agent_container *k);
/* A container's init ended: finish a shutdown (crun delete). */
void container_init_exited(struct agent_server *s, const struct agent_proc *p);

#endif
