/* group_console: the guest's serial console on the host, bounded like the containers' logs.
 *
 * The guest decides how much it prints on its console, so the VM process (QEMU or `parma boot`)
 * never writes the console file itself: it writes a pipe, and a thread of `parma run` drains
 * that pipe into a rotating group_log (console.log and console.log.1, each at most
 * GROUP_LOG_MAX_BYTES or $PARMA_LOG_MAX_BYTES). */
#ifndef PARMA_VMM_GROUP_GROUP_CONSOLE_H
#define PARMA_VMM_GROUP_GROUP_CONSOLE_H

#include <stdint.h>

#include "common/errbuf.h"

struct group_console;

/* Create (truncate) path and a pipe; *write_fd is the end to give the VM process as its
 * console (close-on-exec: dup it onto the child's stdout). max_bytes 0: the default. */
int group_console_start(const char *path, uint64_t max_bytes, int *write_fd,
			struct group_console **out, struct errbuf *eb);

/* Close our write end (after the VM process has been started with its copy). */
void group_console_release_writer(struct group_console *c);

/* Wait for the drain to end (all writers closed, or the pipe quiet for 200 ms), then close
 * the log; accepts NULL. Call it after the VM process has ended. */
void group_console_finish(struct group_console *c);

/* What the guest kernel said about the death of PID 1 (the agent) in the newest console
 * output at path: the wait status from "Attempted to kill init! exitcode=0x…" (e.g. 0xb:
 * killed by SIGSEGV), or -1 if the console does not say so. Read it after
 * group_console_finish. */
int group_console_init_death(const char *path);

#endif
