/* effects: everything parma-agent does to the guest — mounts, crun, processes, the TEE.
 *
 * The request server (server.h) calls these only after the policy engine has allowed the
 * request, with arguments it built from policy-checked fields. The real implementation
 * (effects_linux.c) drives guest/storage, crun and /dev/sev-guest or configfs-tsm; unit tests
 * substitute a fake so the server's logic runs on the host without a kernel or crun.
 * Every operation returns 0 or a negative errno and fills eb with what failed. */
#ifndef PARMA_GUEST_AGENT_EFFECTS_H
#define PARMA_GUEST_AGENT_EFFECTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/errbuf.h"

struct json_object;

#define AGENT_REPORT_SIZE 1184
#define AGENT_REPORT_DATA_SIZE 64

/* A child's stdio: fds the child gets as 0, 1, 2 (the effect dups them; the caller closes
 * its copies). -1 means /dev/null. */
struct agent_stdio {
	int in, out, err;
};

struct agent_effects_ops {
	/* dm-verity over device (tree after the data: veritysetup superblock at hash_offset
	 * bytes) with root_hash, erofs read-only on target. */
	int (*mount_layer)(void *ctx, const char *device, uint64_t hash_offset,
			   const uint8_t root_hash[32], const char *target, struct errbuf *eb);
	int (*unmount)(void *ctx, const char *target, struct errbuf *eb);
	/* Fresh ext4 on device (through dm-crypt with a guest-born key when encrypted). */
	int (*mount_scratch)(void *ctx, const char *device, bool encrypted, const char *target,
			     struct errbuf *eb);
	/* lowers in policy order (base first); upper/work both NULL for a read-only overlay. */
	int (*mount_overlay)(void *ctx, const char *const *lowers, size_t n_lowers,
			     const char *upper, const char *work, const char *target,
			     struct errbuf *eb);
	/* `crun create` of bundle (config.json written by the server); *init_pid: the
	 * container's init, which will be reaped by the agent (PID 1 / subreaper). */
	int (*container_create)(void *ctx, const char *id, const char *bundle,
				const struct agent_stdio *io, pid_t *init_pid, struct errbuf *eb);
	int (*container_start)(void *ctx, const char *id, struct errbuf *eb);
	/* `crun exec --detach` of the OCI process spec at process_json. */
	int (*container_exec)(void *ctx, const char *id, const char *process_json,
			      const struct agent_stdio *io, pid_t *pid, struct errbuf *eb);
	/* `crun delete --force`. */
	int (*container_delete)(void *ctx, const char *id, struct errbuf *eb);
	/* A process in the guest, outside any container. */
	int (*spawn)(void *ctx, const char *const *argv, const char *const *envp,
		     const char *cwd, const struct agent_stdio *io, pid_t *pid,
		     struct errbuf *eb);
	int (*kill)(void *ctx, pid_t pid, int sig);
	/* A hardware report for report_data; -ENODEV when the guest has no TEE. */
	int (*tee_report)(void *ctx, const uint8_t report_data[AGENT_REPORT_DATA_SIZE],
			  uint8_t report[AGENT_REPORT_SIZE], struct errbuf *eb);
	/* Add cgroup statistics of a container to obj (memory, cpu, pids). */
	int (*container_stats)(void *ctx, const char *id, struct json_object *obj);
	/* Kernel stacks of the agent and its children, as text (caller frees). */
	int (*dump_stacks)(void *ctx, char **text);
	/* Remove a directory tree the agent made for a container (its writable layer, its
	 * bundle) and everything the container put there, following no symlink inside it. */
	int (*remove_tree)(void *ctx, const char *path, struct errbuf *eb);
	/* A container's own directory at path (parents as needed), owned by uid:gid with mode. */
	int (*make_dir)(void *ctx, const char *path, uint32_t uid, uint32_t gid, uint32_t mode,
			struct errbuf *eb);
};

struct agent_effects {
	const struct agent_effects_ops *ops;
	void *ctx;
};

/* The real effects (effects_linux.c): crun at crun_path, mkfs.ext4 at mkfs_path. */
struct agent_effects agent_effects_linux(const char *crun_path, const char *mkfs_path);

#endif
