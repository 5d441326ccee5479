/* event_loop: io_uring implementation of devices/event_loop.h.
 *
 * fds are watched with multishot IORING_OP_POLL_ADD (re-armed when the kernel
 * ends a multishot poll on its own); timers are IORING_OP_TIMEOUT requests on
 * CLOCK_MONOTONIC with absolute deadlines so periodic timers do not drift;
 * event_loop_stop() writes an eventfd that the loop watches like any fd.
 *
 * Every in-flight request carries a pointer to its `struct watch` as user_data.
 * A watch is freed only once the kernel can no longer complete a request that
 * names it (the final CQE without IORING_CQE_F_MORE has been reaped), and never
 * while a callback may still look at it: removed watches go to a `dead` list
 * that is emptied after each completion is handled. Registration calls take a
 * mutex around the submission queue, so other threads may call them; callbacks
 * only ever run on the thread inside event_loop_run(). */
#include "devices/event_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define EVENT_LOOP_RING_ENTRIES 128
/* user_data of requests whose completion carries no news (poll/timeout removals). */
#define EVENT_LOOP_TAG_IGNORE 0

enum watch_kind { WATCH_FD, WATCH_TIMER };

struct watch {
	enum watch_kind kind;
	bool armed;         /* a request naming this watch is in the kernel */
	bool removed;       /* the user removed/cancelled it: no more callbacks */
	event_fn fn;
	void *ctx;
	int fd;             /* WATCH_FD */
	uint32_t mask;      /* WATCH_FD */
	int id;             /* WATCH_TIMER */
	bool periodic;      /* WATCH_TIMER */
	uint64_t period_ns; /* WATCH_TIMER */
	struct __kernel_timespec deadline; /* WATCH_TIMER: read by the kernel at submit */
	struct watch *next; /* in `live` or `dead` */
};

struct event_loop {
	struct io_uring ring;
	pthread_mutex_t lock; /* guards the SQ, `live`, `dead` and next_timer_id */
	struct watch *live;
	struct watch *dead;
	int next_timer_id;
	int stop_fd;               /* eventfd written by event_loop_stop() */
	atomic_bool stop_claimed;   /* a stop() call has picked the code */
	atomic_bool stop_requested; /* ...and stored it: run() may return */
	atomic_int stop_code;
};

static struct io_uring_sqe *sqe_get(struct event_loop *loop)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);
	if (!sqe) {
		/* SQ full: hand what we have to the kernel and try once more. */
		io_uring_submit(&loop->ring);
		sqe = io_uring_get_sqe(&loop->ring);
	}
	return sqe;
}

static void list_unlink(struct watch **head, struct watch *w)
{
	for (struct watch **p = head; *p; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			w->next = NULL;
			return;
		}
	}
}

/* Called with the lock held. */
static void watch_bury(struct event_loop *loop, struct watch *w)
{
	list_unlink(&loop->live, w);
	w->next = loop->dead;
	loop->dead = w;
}

static int fd_arm(struct event_loop *loop, struct watch *w)
{
	struct io_uring_sqe *sqe = sqe_get(loop);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_multishot(sqe, w->fd, w->mask);
	io_uring_sqe_set_data(sqe, w);
	w->armed = true;
	int rc = io_uring_submit(&loop->ring);
	return rc < 0 ? rc : 0;
}

static int timer_arm(struct event_loop *loop, struct watch *w)
{
	struct io_uring_sqe *sqe = sqe_get(loop);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_timeout(sqe, &w->deadline, 0, IORING_TIMEOUT_ABS);
	io_uring_sqe_set_data(sqe, w);
	w->armed = true;
	int rc = io_uring_submit(&loop->ring);
	return rc < 0 ? rc : 0;
}

static struct watch *fd_find(struct event_loop *loop, int fd)
{
	for (struct watch *w = loop->live; w; w = w->next)
		if (w->kind == WATCH_FD && w->fd == fd && !w->removed)
			return w;
	return NULL;
}

static struct watch *timer_find(struct event_loop *loop, int id)
{
	for (struct watch *w = loop->live; w; w = w->next)
		if (w->kind == WATCH_TIMER && w->id == id && !w->removed)
			return w;
	return NULL;
}

/* Stop the watch: ask the kernel to drop its request, or bury it now if none. */
static int watch_remove_locked(struct event_loop *loop, struct watch *w)
{
	w->removed = true;
	if (!w->armed) {
		watch_bury(loop, w);
		return 0;
	}
	struct io_uring_sqe *sqe = sqe_get(loop);
	if (!sqe)
		return -EBUSY;
	if (w->kind == WATCH_FD)
		io_uring_prep_poll_remove(sqe, (__u64)(uintptr_t)w);
	else
		io_uring_prep_timeout_remove(sqe, (__u64)(uintptr_t)w, 0);
	io_uring_sqe_set_data64(sqe, EVENT_LOOP_TAG_IGNORE);
	int rc = io_uring_submit(&loop->ring);
	/* The watch stays in `live` until its final completion arrives. */
	return rc < 0 ? rc : 0;
}

static void stop_fd_ready(void *ctx, uint32_t events)
{
	struct event_loop *loop = ctx;
	uint64_t v;
	(void)events;
	/* Drain the counter; the request itself lives in stop_requested. */
	while (read(loop->stop_fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
}

/* The ring only ever carries polls and timers. Seccomp cannot see io_uring operations, so
 * without this a thread that can call io_uring_enter could open, read, write or connect
 * through the ring whatever its filter says. */
static const uint8_t allowed_ops[] = {
	IORING_OP_POLL_ADD, IORING_OP_POLL_REMOVE, IORING_OP_TIMEOUT, IORING_OP_TIMEOUT_REMOVE,
};

static int restrict_ring(int ring_fd)
{
	struct io_uring_restriction res[sizeof(allowed_ops) + 1];
	unsigned n = 0;
	memset(res, 0, sizeof(res));
	for (unsigned i = 0; i < sizeof(allowed_ops); i++) {
		res[n].opcode = IORING_RESTRICTION_SQE_OP;
		res[n++].sqe_op = allowed_ops[i];
	}
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED; /* none: no links, no fixed files */
	res[n++].sqe_flags = 0;
	/* the raw calls: Debian's liburing 2.3 does not export the restriction helpers */
	int rc = io_uring_register(ring_fd, IORING_REGISTER_RESTRICTIONS, res, n);
	if (rc == 0)
		rc = io_uring_register(ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	return rc;
}

struct event_loop *event_loop_create(struct errbuf *eb)
{
	struct event_loop *loop = calloc(1, sizeof(*loop));
	if (!loop) {
		errbuf_set(eb, ENOMEM, "event loop: out of memory");
		return NULL;
	}
	struct io_uring_params p = { .flags = IORING_SETUP_CQSIZE | IORING_SETUP_R_DISABLED,
				     .cq_entries = 4 * EVENT_LOOP_RING_ENTRIES };
	int rc = io_uring_queue_init_params(EVENT_LOOP_RING_ENTRIES, &loop->ring, &p);
	if (rc < 0) {
		errbuf_set(eb, -rc, "event loop: io_uring_setup: %s%s", strerror(-rc),
			   rc == -EPERM || rc == -ENOSYS ? " (io_uring disabled on this host?)" : "");
		free(loop);
		return NULL;
	}
	pthread_mutex_init(&loop->lock, NULL);
	loop->stop_fd = -1;
	if ((rc = restrict_ring(loop->ring.ring_fd)) < 0) {
		errbuf_set(eb, -rc, "event loop: io_uring restrictions (Linux 5.10+): %s",
			   strerror(-rc));
		goto fail;
	}
	loop->next_timer_id = 1;
	loop->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->stop_fd < 0) {
		errbuf_set(eb, errno, "event loop: eventfd: %s", strerror(errno));
		goto fail;
	}
	rc = event_loop_add_fd(loop, loop->stop_fd, POLLIN, stop_fd_ready, loop);
	if (rc < 0) {
		errbuf_set(eb, -rc, "event loop: cannot watch the stop eventfd: %s", strerror(-rc));
		goto fail;
	}
	return loop;
fail:
	event_loop_destroy(loop);
	return NULL;
}

static void list_free(struct watch *w)
{
	while (w) {
		struct watch *next = w->next;
		free(w);
		w = next;
	}
}

void event_loop_destroy(struct event_loop *loop)
{
	if (!loop)
		return;
	/* Tearing down the ring cancels every request, so no completion can name a watch. */
	io_uring_queue_exit(&loop->ring);
	list_free(loop->live);
	list_free(loop->dead);
	if (loop->stop_fd >= 0)
		close(loop->stop_fd);
	pthread_mutex_destroy(&loop->lock);
	free(loop);
}

int event_loop_add_fd(struct event_loop *loop, int fd, uint32_t poll_mask, event_fn fn, void *ctx)
{
	if (!loop || fd < 0 || !fn)
		return -EINVAL;
	if (fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	struct watch *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	*w = (struct watch){ .kind = WATCH_FD, .fn = fn, .ctx = ctx, .fd = fd, .mask = poll_mask };
	pthread_mutex_lock(&loop->lock);
	int rc = -EEXIST;
	if (fd_find(loop, fd))
		goto out;
	rc = fd_arm(loop, w);
	if (rc < 0 && !w->armed)
		goto out;
	w->next = loop->live;
	loop->live = w;
	w = NULL;
	rc = 0;
out:
	pthread_mutex_unlock(&loop->lock);
	free(w);
	return rc;
}

int event_loop_modify_fd(struct event_loop *loop, int fd, uint32_t poll_mask)
{
	if (!loop)
		return -EINVAL;
	pthread_mutex_lock(&loop->lock);
	struct watch *old = fd_find(loop, fd);
	if (!old) {
		pthread_mutex_unlock(&loop->lock);
		return -ENOENT;
	}
	event_fn fn = old->fn;
	void *ctx = old->ctx;
	/* Replace the watch rather than update the poll in place: one mechanism,
	 * and a stale completion of the old request can never reach the new one. */
	int rc = watch_remove_locked(loop, old);
	pthread_mutex_unlock(&loop->lock);
	if (rc < 0)
		return rc;
	return event_loop_add_fd(loop, fd, poll_mask, fn, ctx);
}

int event_loop_remove_fd(struct event_loop *loop, int fd)
{
	if (!loop)
		return -EINVAL;
	pthread_mutex_lock(&loop->lock);
	struct watch *w = fd_find(loop, fd);
	int rc = w ? watch_remove_locked(loop, w) : -ENOENT;
	pthread_mutex_unlock(&loop->lock);
	return rc;
}

static void deadline_advance(struct __kernel_timespec *ts, uint64_t ns)
{
	uint64_t nsec = (uint64_t)ts->tv_nsec + ns % 1000000000ull;
	ts->tv_sec += (long long)(ns / 1000000000ull + nsec / 1000000000ull);
	ts->tv_nsec = (long long)(nsec % 1000000000ull);
}

int event_loop_add_timer(struct event_loop *loop, uint64_t ns, bool periodic, event_fn fn,
			 void *ctx)
{
	if (!loop || !fn || (periodic && ns == 0))
		return -EINVAL;
	struct watch *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	*w = (struct watch){ .kind = WATCH_TIMER, .fn = fn, .ctx = ctx, .periodic = periodic,
			     .period_ns = ns,
			     .deadline = { .tv_sec = now.tv_sec, .tv_nsec = now.tv_nsec } };
	deadline_advance(&w->deadline, ns);
	pthread_mutex_lock(&loop->lock);
	if (loop->next_timer_id == INT32_MAX)
		loop->next_timer_id = 1;
	w->id = loop->next_timer_id++;
	int rc = timer_arm(loop, w);
	if (rc < 0 && !w->armed) {
		pthread_mutex_unlock(&loop->lock);
		free(w);
		return rc;
	}
	w->next = loop->live;
	loop->live = w;
	rc = w->id;
	pthread_mutex_unlock(&loop->lock);
	return rc;
}

int event_loop_cancel_timer(struct event_loop *loop, int id)
{
	if (!loop || id <= 0)
		return -EINVAL;
	pthread_mutex_lock(&loop->lock);
	struct watch *w = timer_find(loop, id);
	int rc = w ? watch_remove_locked(loop, w) : -ENOENT;
	pthread_mutex_unlock(&loop->lock);
	return rc;
}

/* Handle one completion. Returns with the lock held, as it was called. */
static void handle_cqe(struct event_loop *loop, struct watch *w, int res, unsigned flags)
{
	bool final = !(flags & IORING_CQE_F_MORE);
	if (final)
		w->armed = false;
	if (w->removed) {
		if (final)
			watch_bury(loop, w);
		return;
	}
	uint32_t events;
	if (w->kind == WATCH_FD) {
		if (res >= 0) {
			events = (uint32_t)res;
			if (final && fd_arm(loop, w) < 0) {
				/* Cannot re-arm: report it rather than go silent. */
				events |= POLLERR;
			}
		} else {
			/* The poll itself failed (fd closed under us?): tell the owner once. */
			events = POLLERR | POLLNVAL;
		}
	} else {
		events = 0;
		if (res == -ECANCELED)
			return; /* only happens for removed timers, handled above */
		if (w->periodic) {
			deadline_advance(&w->deadline, w->period_ns);
			timer_arm(loop, w);
		} else {
			w->removed = true;
			watch_bury(loop, w);
		}
	}
	pthread_mutex_unlock(&loop->lock);
	w->fn(w->ctx, events);
	pthread_mutex_lock(&loop->lock);
}

int event_loop_run(struct event_loop *loop)
{
	while (!atomic_load(&loop->stop_requested)) {
		pthread_mutex_lock(&loop->lock);
		io_uring_submit(&loop->ring);
		pthread_mutex_unlock(&loop->lock);

		struct io_uring_cqe *cqe;
		int rc = io_uring_wait_cqe(&loop->ring, &cqe);
		if (rc == -EINTR || rc == -EAGAIN || rc == -ETIME)
			continue;
		if (rc < 0)
			return rc;
		/* Handle what is ready, one completion at a time, so a stop
		 * request takes effect right after the current callback. */
		while (!atomic_load(&loop->stop_requested) &&
		       io_uring_peek_cqe(&loop->ring, &cqe) == 0) {
			uint64_t data = io_uring_cqe_get_data64(cqe);
			int res = cqe->res;
			unsigned flags = cqe->flags;
			io_uring_cqe_seen(&loop->ring, cqe);
			if (data == EVENT_LOOP_TAG_IGNORE)
				continue;
			pthread_mutex_lock(&loop->lock);
			handle_cqe(loop, (struct watch *)(uintptr_t)data, res, flags);
			struct watch *dead = loop->dead;
			loop->dead = NULL;
			pthread_mutex_unlock(&loop->lock);
			list_free(dead);
		}
	}
	int code = atomic_load(&loop->stop_code);
	atomic_store(&loop->stop_requested, false);
	atomic_store(&loop->stop_claimed, false);
	return code;
}

void event_loop_stop(struct event_loop *loop, int code)
{
	/* First stop wins until run() returns: a guest exit code must not be
	 * overwritten by the signal that arrives while we shut down. */
	bool expected = false;
	if (atomic_compare_exchange_strong(&loop->stop_claimed, &expected, true)) {
		atomic_store(&loop->stop_code, code);
		atomic_store(&loop->stop_requested, true);
	}
	uint64_t one = 1;
	int saved = errno; /* async-signal-safe: keep errno intact */
	ssize_t n = write(loop->stop_fd, &one, sizeof(one));
	(void)n;
	errno = saved;
}
