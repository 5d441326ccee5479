/* group_vmm: a group's guest in our own VMM (the kvm backend of `parma run`), and the SNP
 * MEASUREMENT that guest's launch gets.
 *
 * The VMM runs as a child `parma boot` process in its own process group (as QEMU does for the
 * qemu backend), so a crash of either side never takes the other's state with it. The agent is
 * reached over hybrid vsock: connect to the VMM's Unix socket, send "CONNECT <port>\n". */
#ifndef PARMA_VMM_GROUP_GROUP_VMM_H
#define PARMA_VMM_GROUP_GROUP_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/errbuf.h"

#define GROUP_VMM_MAX_DRIVES 8
#define GROUP_VSOCK_CID 3

struct group_vmm_config {
	const char *firmware;  /* stage0 ELF, or NULL to enter the kernel directly */
	const char *kernel, *initrd, *cmdline;
	unsigned mem_mib, vcpus;
	const char *drives[GROUP_VMM_MAX_DRIVES];
	bool drive_ro[GROUP_VMM_MAX_DRIVES];
	size_t n_drives;
	const char *vsock_uds; /* the VMM's hybrid vsock socket */
	int console_fd;        /* the VM's console goes to this fd (its stdout); -1: none */
	bool snp;              /* SEV-SNP launch with HOST_DATA = SHA-256(policy_file) */
	const char *policy_file;
	bool seccomp_off;      /* `parma boot --seccomp=off` (debugging) */
	const char *jail_dir;  /* non-NULL: `parma boot --jail jail_dir` as an unprivileged uid
				* ("nobody") and the group that owns /dev/kvm (needs root) */
};

/* A file the guest needs (initrd, firmware): $env if set, else where the build tree puts it
 * next to this binary (<bindir>/../build_path), else where `meson install` puts it
 * (<bindir>/../share/parma/<basename of build_path>). 0, or -ENOENT with *out = the last
 * path tried. */
int group_find_guest_file(const char *env, const char *build_path, char *out, size_t size);

/* The stage0 firmware ($PARMA_FIRMWARE, built or installed); -ENOENT if absent. */
int group_vmm_find_firmware(char *out, size_t size);

/* Start `parma boot` for cfg; *pid receives the child. */
int group_vmm_start(const struct group_vmm_config *cfg, pid_t *pid, struct errbuf *eb);

/* Connect to the agent's vsock port through the VMM's socket, retrying until the guest
 * listens, timeout_ms passes, the VMM exits or *cancel becomes non-zero (a signal).
 * Returns a connected stream fd or -errno. */
int group_vmm_agent_connect(const char *vsock_uds, uint32_t port, pid_t vmm, int timeout_ms,
			    const volatile sig_atomic_t *cancel, struct errbuf *eb);

/* SIGTERM the VMM's process group, SIGKILL after grace_ms; reap it. */
void group_vmm_stop(pid_t pid, int grace_ms);

/* The MEASUREMENT an SEV-SNP launch of cfg gets (firmware required), computed the way the
 * VMM's SNP path would measure it, without hardware: what dev-mode reports claim. */
int group_vmm_measurement(const struct group_vmm_config *cfg, uint8_t out[48],
			  struct errbuf *eb);

#endif
