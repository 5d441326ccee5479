/* seccomp_filter: the VMM's system-call allowlists, one per thread role, via libseccomp.
 *
 * A guest that takes over a device model or a vCPU exit handler runs code in a thread of ours;
 * the filter bounds what that code can ask the kernel for. Each role's list is data
 * (vmm/seccomp_tables.c) naming the system calls that role makes, and for ioctl the request
 * numbers it uses; docs/security.md says how the lists were derived.
 *
 * Roles:
 *   vcpu    the vCPU threads: KVM_RUN and the exit handlers (device register accesses).
 *   device  the event-loop thread: io_uring, eventfds, the vsock/serial sockets, signals.
 *   api     added to the event-loop thread when it serves the control API: accepting
 *           connections, and building and starting a VM (the vCPU threads it starts inherit
 *           its filter and stack the vcpu one on top, so this role holds the vcpu list too).
 *
 * A call outside the list raises SIGSYS; the handler writes one line naming the role, the
 * system call (and the ioctl request) to stderr and ends the process with exit status
 * SECCOMP_FILTER_EXIT. Filters only narrow: once installed a thread keeps its filter. */
#ifndef PARMA_VMM_SECCOMP_FILTER_H
#define PARMA_VMM_SECCOMP_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/errbuf.h"

/* `parma boot` exit status after a filter violation (docs/vmm.md). */
#define SECCOMP_FILTER_EXIT 10

enum seccomp_role {
	SECCOMP_ROLE_VCPU,
	SECCOMP_ROLE_DEVICE,
	SECCOMP_ROLE_API,
	SECCOMP_ROLE_COUNT,
};

/* One allowed system call. values: NULL for any arguments, else the call is allowed only when
 * its argument number `arg` (low 32 bits) is one of them: ioctl request numbers (arg 1),
 * socket address families (arg 0), io_uring_register opcodes (arg 1). */
struct seccomp_rule {
	const char *syscall;
	const unsigned long *values;
	size_t n_values;
	unsigned arg;
};

struct seccomp_role_table {
	const char *name;
	const struct seccomp_rule *rules;
	size_t n_rules;
};

/* The allowlists (vmm/seccomp_tables.c): the role's own list. */
const struct seccomp_role_table *seccomp_role_table(enum seccomp_role role);
/* What sanitizer runtimes (ASan/LSan/UBSan test builds only) add to every role. */
const struct seccomp_role_table *seccomp_sanitizer_table(void);

/* Install on the calling thread the filter for the union of the roles in `roles` (a bit mask
 * of 1 << SECCOMP_ROLE_*); `label` names the thread in the violation message. Threads it
 * creates afterwards inherit the filter. */
int seccomp_filter_install(unsigned roles, const char *label, struct errbuf *eb);

/* Whether this build runs under a sanitizer (and so allows seccomp_sanitizer_table()). */
bool seccomp_filter_sanitized(void);

#endif
