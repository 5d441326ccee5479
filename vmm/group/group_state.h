/* group_state: where a running group lives on the host, so that `parma ps/exec/logs/stop/attest`
 * find what `parma run` started.
 *
 * Every group has a directory under the state root ($PARMA_STATE_DIR, else /run/parma as root,
 * else $XDG_RUNTIME_DIR/parma, else /tmp/parma-<uid>), named after the group:
 *   lock           held (flock) by the `parma run` that owns the group, for its whole life:
 *                  two runs of one group cannot both claim it, and a killed run frees it
 *   pid            the `parma run` process that owns the group
 *   group.json     status: backend, tee, policy digest, containers (id, process, state, exit)
 *   agent.sock     the relay socket (vmm/group/group_relay.h): speaks the agent protocol
 *   api.sock       the group's API (vmm/group/group_api.h), unless --api-sock puts it elsewhere
 *   policy.json    the exact policy bytes installed (HOST_DATA = its SHA-256)
 *   requests.json  every request `parma run` sent, for `parma policy explain`, with run-time
 *                  env values (--env, --env-file) as NAME=<<redacted>>: no value is on disk
 *   denied-exec.json  the same plus the last denied `parma exec`, values redacted alike
 *   certs/         the certificate chain that verifies the group's reports
 *   logs/<c>.log   each container's output
 *   console.log    the guest's serial console
 *   vm/            backend files (VMM/QEMU sockets, scratch disk) */
#ifndef PARMA_VMM_GROUP_GROUP_STATE_H
#define PARMA_VMM_GROUP_GROUP_STATE_H

#include <stddef.h>
#include <sys/types.h>

#include "common/errbuf.h"

#define GROUP_PATH_MAX 512

struct group_paths {
	char dir[GROUP_PATH_MAX];
	char pid[GROUP_PATH_MAX];
	char info[GROUP_PATH_MAX];
	char relay_sock[GROUP_PATH_MAX];
	char api_sock[GROUP_PATH_MAX];
	char policy[GROUP_PATH_MAX];
	char requests[GROUP_PATH_MAX];
	char decisions[GROUP_PATH_MAX]; /* the agent's decision for each recorded request */
	char certs[GROUP_PATH_MAX];
	char logs[GROUP_PATH_MAX];
	char console[GROUP_PATH_MAX];
	char vm[GROUP_PATH_MAX];
	char lock[GROUP_PATH_MAX];
	int lock_fd; /* -1 unless this process claimed the group */
};

/* The state root (not created). */
int group_state_root(char *out, size_t size, struct errbuf *eb);

/* Paths of group `name` (validated: the group-spec name rules, so it is a safe file name). */
int group_paths_get(const char *name, struct group_paths *p, struct errbuf *eb);

/* The pid of the `parma run` that owns the group if it is still running, else 0. */
pid_t group_owner_pid(const struct group_paths *p);

/* Create the group's directories for a new run and take its lock: -EBUSY (naming the pid) if
 * another run holds it; stale files of an earlier (crashed) run are replaced. Writes the pid
 * file. The lock is held until group_state_release() or this process ends. */
int group_state_claim(struct group_paths *p, struct errbuf *eb);

/* Remove the runtime files (sockets, pid, vm/) but keep logs, policy and requests; then drop
 * the lock. */
void group_state_release(struct group_paths *p);

/* For commands other than run: resolve `name` to a running group, or fail with a message
 * that says so ("group 'shop' is not running (no parma run owns /run/parma/shop)"). */
int group_find_running(const char *name, struct group_paths *p, struct errbuf *eb);

#endif
