/* container_mounts: a create_container's policy-checked mounts as crun gets them. Symbolic
 * sources resolve through the guest's path map (policy/lang/policy.h) to the container's
 * own places: scratch://NAME to a directory created on the scratch disk, owned as the mount
 * rule says (its uid=, gid=, mode= options; default the container's uid:gid, 0700), and
 * tmpfs:// to a fresh tmpfs. The host never chooses where a container's files live. */
#ifndef PARMA_GUEST_AGENT_CONTAINER_MOUNTS_H
#define PARMA_GUEST_AGENT_CONTAINER_MOUNTS_H

#include <stddef.h>
#include <stdint.h>

#include "common/errbuf.h"
#include "guest/agent/effects.h"
#include "guest/agent/oci_spec.h"
#include "policy/lang/policy.h"

struct container_mounts {
	struct oci_mount *v; /* n entries, for oci_config.mounts */
	size_t n;
	void *storage;
};

/* Resolve (and create) the mounts of container id, whose process runs as uid:gid. */
int container_mounts_resolve(const struct agent_effects *fx, const char *id,
			     const struct policy_mount *mounts, size_t n, uint32_t uid,
			     uint32_t gid, struct container_mounts *out, struct errbuf *eb);
void container_mounts_free(struct container_mounts *cm);

#endif
