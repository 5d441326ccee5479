/* oci_spec: the OCI runtime config (config.json) and exec process specs parma-agent hands to
 * crun, built only from fields the policy engine has checked plus the agent's own fixed
 * defaults. Nothing host-supplied is copied through wholesale: no hooks, no devices beyond
 * the standard set, no extra mounts, no privileged flags. Pure functions (host-testable). */
#ifndef PARMA_GUEST_AGENT_OCI_SPEC_H
#define PARMA_GUEST_AGENT_OCI_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/errbuf.h"

struct json_object;

/* Where the security-context directory appears inside every container (read-only). */
#define OCI_SECURITY_CONTEXT_DEST "/parma/security-context"

struct oci_caps {
	uint64_t bounding, effective, inheritable, permitted, ambient;
};

struct oci_mount {
	const char *source, *destination, *type;
	const char *const *options;
	size_t n_options;
};

struct oci_resources {
	uint64_t memory_bytes; /* 0 = unlimited */
	uint64_t cpu_quota_us, cpu_period_us; /* quota 0 = unlimited */
	uint64_t pids_max; /* 0 = unlimited */
};

struct oci_process {
	const char *const *argv;
	size_t argc;
	const char *const *env; /* "NAME=value", already filtered by the policy's decision */
	size_t n_env;
	const char *cwd;
	uint32_t uid, gid, umask;
	const uint32_t *gids;
	size_t n_gids;
	struct oci_caps caps;
	bool no_new_privileges;
	bool terminal; /* always false for now */
};

struct oci_config {
	const char *container_id;
	const char *rootfs;                /* overlay mount target */
	const char *security_context_dir;  /* bind-mounted read-only; NULL = none */
	struct oci_process process;
	const struct oci_mount *mounts;    /* policy-checked */
	size_t n_mounts;
	struct json_object *seccomp;       /* OCI linux.seccomp object, digest checked; or NULL */
	struct oci_resources resources;
	bool privileged;                   /* allowed by the policy (allow_elevated) */
};

/* config.json text (malloc'd, caller frees). */
int oci_config_build(const struct oci_config *c, char **json, struct errbuf *eb);
/* A process spec for `crun exec --process` (malloc'd, caller frees). */
int oci_process_build(const struct oci_process *p, char **json, struct errbuf *eb);

#endif
