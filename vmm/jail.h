/* jail: confine the VMM process before it opens anything a guest could reach
 * (`parma boot --jail DIR --uid U --gid G`), in the manner of Firecracker's jailer.
 *
 * jail_enter() makes the calling process:
 *   - a member of a new cgroup v2 group with memory, CPU and pids limits (when the host has a
 *     cgroup v2 hierarchy with those controllers at /sys/fs/cgroup; otherwise it says so);
 *   - the first process of new mount, PID, IPC, UTS and network namespaces (it forks: the
 *     parent only waits and passes the child's exit status and SIGTERM/SIGINT/SIGHUP on);
 *   - rooted (pivot_root) in a fresh tmpfs at DIR that holds only /dev/kvm, the files it
 *     is given (read-only bind mounts at their own absolute paths, or read-write for
 *     writable drives and the console file: created if missing and chowned to U:G) and the
 *     directories it is given for sockets (chowned to U:G);
 *   - without capabilities (bounding, ambient, permitted, effective, inheritable: libcap),
 *     with no_new_privs, running as U:G with no supplementary groups.
 * U:G must be able to open /dev/kvm (e.g. G = the kvm group). Returns 0 in the jailed child;
 * the parent never returns (it exits with the child's status). */
#ifndef PARMA_VMM_JAIL_H
#define PARMA_VMM_JAIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/errbuf.h"

#define JAIL_MAX_PATHS 24

struct jail_config {
	const char *dir;                   /* where the new root is built (created if missing) */
	uid_t uid;
	gid_t gid;
	const char *ro_files[JAIL_MAX_PATHS]; /* kernel, initrd, firmware, read-only drives */
	size_t n_ro_files;
	const char *rw_files[JAIL_MAX_PATHS]; /* writable drives, the console file */
	size_t n_rw_files;
	char rw_dirs[JAIL_MAX_PATHS][512];   /* where sockets and logs are created */
	size_t n_rw_dirs;
	uint64_t mem_max;  /* cgroup memory.max in bytes (0: none) */
	unsigned cpus;     /* cgroup cpu.max in whole CPUs (0: none) */
	unsigned pids_max; /* cgroup pids.max (0: none) */
};

/* Add path (or, for sockets and logs, its directory) to the right list; -E2BIG if full. */
int jail_add_ro_file(struct jail_config *c, const char *path);
int jail_add_rw_file(struct jail_config *c, const char *path);
int jail_add_dir_of(struct jail_config *c, const char *path);

int jail_enter(const struct jail_config *c, struct errbuf *eb);

#endif
