/* event_loop: the VMM's single io_uring-driven loop.
 *
 * Everything asynchronous in the VMM — device eventfds (ioeventfd doorbells,
 * block completions), sockets (vsock, control API, serial), timers, signals —
 * is a callback registered here and run on the loop thread. vCPU threads never
 * run callbacks; they only signal eventfds. Callbacks must not block. */
#ifndef PARMA_DEVICES_EVENT_LOOP_H
#define PARMA_DEVICES_EVENT_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "common/errbuf.h"

struct event_loop;

/* `events` is the poll(2) revents mask for fds, 0 for timers. */
typedef void (*event_fn)(void *ctx, uint32_t events);

struct event_loop *event_loop_create(struct errbuf *eb);
void event_loop_destroy(struct event_loop *loop);

/* Call fn whenever fd is ready for any of poll_mask (POLLIN, POLLOUT, ...),
 * until removed. One registration per fd: -EEXIST otherwise. */
int event_loop_add_fd(struct event_loop *loop, int fd, uint32_t poll_mask,
		      event_fn fn, void *ctx);
int event_loop_modify_fd(struct event_loop *loop, int fd, uint32_t poll_mask);
/* Safe to call from inside any callback, including fd's own. */
int event_loop_remove_fd(struct event_loop *loop, int fd);

/* Timer after `ns` nanoseconds (repeating if periodic). Returns id > 0 or -errno. */
int event_loop_add_timer(struct event_loop *loop, uint64_t ns, bool periodic,
			 event_fn fn, void *ctx);
int event_loop_cancel_timer(struct event_loop *loop, int id);

/* Run callbacks until event_loop_stop(); returns the code given to it. */
int event_loop_run(struct event_loop *loop);

/* Make event_loop_run() return `code` once the current callback finishes.
 * Thread-safe and async-signal-safe (vCPU threads call it on guest exit). */
void event_loop_stop(struct event_loop *loop, int code);

#endif
