/* Unit tests for devices/event_loop.c: fds, modify/remove (also from inside callbacks),
 * one-shot and periodic timers, cancellation, stop from threads and signal handlers. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/event_loop.h"

#include <dirent.h>
#include <liburing.h>
#include <stdio.h>

static struct event_loop *new_loop(void)
{
	struct errbuf eb = { 0 };
	struct event_loop *loop = event_loop_create(&eb);
	if (!loop)
		fail_msg("event_loop_create: %s", errbuf_msg(&eb));
	return loop;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A watchdog so that a broken loop fails the test instead of hanging it. */
static void watchdog_fire(void *ctx, uint32_t events)
{
	(void)events;
	event_loop_stop(ctx, -1000);
}

static void arm_watchdog(struct event_loop *loop)
{
	assert_true(event_loop_add_timer(loop, 5000000000ull, false, watchdog_fire, loop) > 0);
}

struct counter {
	struct event_loop *loop;
	int fd;
	int calls;
	uint32_t last_events;
	int stop_after;   /* stop the loop after this many calls (0: never) */
	bool remove_self; /* remove its own fd on the first call */
};

static void counter_fd(void *ctx, uint32_t events)
{
	struct counter *c = ctx;
	c->calls++;
	c->last_events = events;
	uint64_t v;
	if (events & POLLIN)
		assert_int_equal(read(c->fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	if (c->remove_self && c->calls == 1)
		assert_int_equal(event_loop_remove_fd(c->loop, c->fd), 0);
	if (c->stop_after && c->calls == c->stop_after)
		event_loop_stop(c->loop, 42);
}

static void vmm_evloop_eventfd_callback_and_stop_code(void **state)
{
	(void)state;
	struct event_loop *loop = new_loop();
	arm_watchdog(loop);
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct counter c = { .loop = loop, .fd = efd, .stop_after = 1 };
	assert_int_equal(event_loop_add_fd(loop, efd, POLLIN, counter_fd, &c), 0);
	assert_int_equal(event_loop_add_fd(loop, efd, POLLIN, counter_fd, &c), -EEXIST);
	uint64_t one = 1;
	assert_int_equal(write(efd, &one, sizeof(one)), (ssize_t)sizeof(one));
	assert_int_equal(event_loop_run(loop), 42);
	assert_int_equal(c.calls, 1);
	assert_true(c.last_events & POLLIN);

	/* Multishot: the same registration fires again without re-adding. */
	c.stop_after = 2;
	assert_int_equal(write(efd, &one, sizeof(one)), (ssize_t)sizeof(one));
	assert_int_equal(event_loop_run(loop), 42);
	assert_int_equal(c.calls, 2);
	event_loop_destroy(loop);
	close(efd);
}

static void vmm_evloop_rejects_bad_arguments(void **state)
{
	(void)state;
	struct event_loop *loop = new_loop();
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	close(fds[1]);
	assert_int_equal(event_loop_add_fd(loop, fds[1], POLLIN, counter_fd, NULL), -EBADF);
	assert_int_equal(event_loop_add_fd(loop, -1, POLLIN, counter_fd, NULL), -EINVAL);
	assert_int_equal(event_loop_add_fd(loop, fds[0], POLLIN, NULL, NULL), -EINVAL);
	assert_int_equal(event_loop_remove_fd(loop, fds[0]), -ENOENT);
	assert_int_equal(event_loop_modify_fd(loop, fds[0], POLLIN), -ENOENT);
	assert_int_equal(event_loop_cancel_timer(loop, 12345), -ENOENT);
	assert_int_equal(event_loop_cancel_timer(loop, 0), -EINVAL);
	assert_int_equal(event_loop_add_timer(loop, 0, true, watchdog_fire, loop), -EINVAL);
	close(fds[0]);
	event_loop_destroy(loop);
	event_loop_destroy(NULL);
}

struct pair {
	struct counter a, b;
};

static void stop_soon(void *ctx, uint32_t events)
{
	(void)events;
	event_loop_stop(ctx, 7);
}

static void vmm_evloop_remove_inside_own_callback(void **state)
{
	(void)state;
	struct event_loop *loop = new_loop();
	arm_watchdog(loop);
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct counter c = { .loop = loop, .fd = efd, .remove_self = true };
	assert_int_equal(event_loop_add_fd(loop, efd, POLLIN, counter_fd, &c), 0);
	uint64_t one = 1;
	assert_int_equal(write(efd, &one, sizeof(one)), (ssize_t)sizeof(one));
	/* Let the loop run a while after the removal: more writes must not call back. */
	assert_true(event_loop_add_timer(loop, 50000000, false, stop_soon, loop) > 0);
	assert_int_equal(event_loop_run(loop), 7);
	assert_int_equal(c.calls, 1);
	assert_int_equal(write(efd, &one, sizeof(one)), (ssize_t)sizeof(one));
	assert_true(event_loop_add_timer(loop, 30000000, false, stop_soon, loop) > 0);
	assert_int_equal(event_loop_run(loop), 7);
	assert_int_equal(c.calls, 1);
	/* The fd can be registered again after removal. */
	c.remove_self = false;
	c.stop_after = 2;
	assert_int_equal(event_loop_add_fd(loop, efd, POLLIN, counter_fd, &c), 0);
	assert_int_equal(event_loop_run(loop), 42);
	assert_int_equal(c.calls, 2);
	event_loop_destroy(loop);
	close(efd);
}

struct pipe_writer {
	struct event_loop *loop;
	int rfd, wfd;
	int out_calls, in_calls;
};

static void pipe_in(void *ctx, uint32_t events)
{
	struct pipe_writer *p = ctx;
	char buf[16];
	assert_true(events & POLLIN);
	assert_true(read(p->rfd, buf, sizeof(buf)) > 0);
	p->in_calls++;
	event_loop_stop(p->loop, 3);
}

static void pipe_out(void *ctx, uint32_t events)
{
	struct pipe_writer *p = ctx;
	assert_true(events & POLLOUT);
	p->out_calls++;
	assert_int_equal(write(p->wfd, "x", 1), 1);
	/* Writable forever: stop asking for POLLOUT or we would spin. */
	assert_int_equal(event_loop_modify_fd(p->loop, p->wfd, 0), 0);
}

static void vmm_evloop_modify_mask(void **state)
{
	(void)state;
	struct event_loop *loop = new_loop();
	arm_watchdog(loop);
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	struct pipe_writer p = { .loop = loop, .rfd = fds[0], .wfd = fds[1] };
	assert_int_equal(event_loop_add_fd(loop, fds[1], 0, pipe_out, &p), 0);
	assert_int_equal(event_loop_add_fd(loop, fds[0], POLLIN, pipe_in, &p), 0);
	assert_int_equal(event_loop_modify_fd(loop, fds[1], POLLOUT), 0);
	assert_int_equal(event_loop_run(loop), 3);
	assert_int_equal(p.out_calls, 1);
	assert_int_equal(p.in_calls, 1);
	close(fds[0]);
	close(fds[1]);
	event_loop_destroy(loop);
}

struct tick {
	struct event_loop *loop;
	int calls;
	int stop_at;
	int cancel_id;
	uint64_t first_ns;
};

static void tick_fn(void *ctx, uint32_t events)
{
	struct tick *t = ctx;
	assert_int_equal(events, 0);
	if (!t->calls)
		t->first_ns = now_ns();
	t->calls++;
	if (t->cancel_id && t->calls == t->stop_at)
		assert_int_equal(event_loop_cancel_timer(t->loop, t->cancel_id), 0);
	if (t->calls == t->stop_at)
		event_loop_stop(t->loop, 9);
}

static void vmm_evloop_timers_oneshot_periodic_cancel(void **state)
{
	(void)state;
	struct event_loop *loop = new_loop();
	arm_watchdog(loop);
	uint64_t start = now_ns();
	struct tick once = { .loop = loop, .stop_at = 1 };
	int id = event_loop_add_timer(loop, 20000000, false, tick_fn, &once);
	assert_true(id > 0);
	assert_int_equal(event_loop_run(loop), 9);
	assert_int_equal(once.calls, 1);
	assert_true(once.first_ns - start >= 20000000);
	/* A fired one-shot timer is gone. */
	assert_int_equal(event_loop_cancel_timer(loop, id), -ENOENT);

	/* A cancelled timer never fires; a periodic one fires repeatedly and
	 * can cancel itself from its own callback. */
	struct tick never = { .loop = loop };
	int nid = event_loop_add_timer(loop, 10000000, false, tick_fn, &never);
	assert_true(nid > 0 && nid != id);
	assert_int_equal(event_loop_cancel_timer(loop, nid), 0);
	struct tick per = { .loop = loop, .stop_at = 5 };
	per.cancel_id = event_loop_add_timer(loop, 2000000, true, tick_fn, &per);
	assert_true(per.cancel_id > 0);
	assert_int_equal(event_loop_run(loop), 9);
	assert_int_equal(per.calls, 5);
	assert_int_equal(never.calls, 0);
	/* After self-cancel, it stays quiet. */
	assert_true(event_loop_add_timer(loop, 20000000, false, stop_soon, loop) > 0);
	assert_int_equal(event_loop_run(loop), 7);
	assert_int_equal(per.calls, 5);
	assert_int_equal(never.calls, 0);
	event_loop_destroy(loop);
}

static void *stop_from_thread(void *arg)
{
	usleep(20000);
	event_loop_stop(arg, 55);
	return NULL;
}

static void vmm_evloop_stop_from_other_thread(void **state)
{
	(void)state;
	struct event_loop *loop = new_loop();
	arm_watchdog(loop);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, stop_from_thread, loop), 0);
	assert_int_equal(event_loop_run(loop), 55);
	pthread_join(t, NULL);
	event_loop_destroy(loop);
}

static struct event_loop *signal_loop;
static void on_alarm(int sig)
{
	(void)sig;
	event_loop_stop(signal_loop, 128 + SIGALRM);
}

static void vmm_evloop_stop_from_signal_handler_first_code_wins(void **state)
{
	(void)state;
	struct event_loop *loop = new_loop();
	arm_watchdog(loop);
	signal_loop = loop;
	struct sigaction sa = { .sa_handler = on_alarm };
	sigaction(SIGALRM, &sa, NULL);
	ualarm(20000, 0);
	assert_int_equal(event_loop_run(loop), 128 + SIGALRM);
	signal(SIGALRM, SIG_DFL);

	/* Two stops before run: the first code is returned. */
	event_loop_stop(loop, 1);
	event_loop_stop(loop, 2);
	assert_int_equal(event_loop_run(loop), 1);
	event_loop_destroy(loop);
}

/* More registrations than the ring has entries: the SQ must drain, not fail. */
static void vmm_evloop_many_fds(void **state)
{
	(void)state;
	enum { N = 300 };
	struct event_loop *loop = new_loop();
	arm_watchdog(loop);
	static struct counter c[N];
	static int fds[N];
	for (int i = 0; i < N; i++) {
		fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		assert_true(fds[i] >= 0);
		c[i] = (struct counter){ .loop = loop, .fd = fds[i] };
		assert_int_equal(event_loop_add_fd(loop, fds[i], POLLIN, counter_fd, &c[i]), 0);
	}
	uint64_t one = 1;
	for (int i = 0; i < N; i++)
		assert_int_equal(write(fds[i], &one, sizeof(one)), (ssize_t)sizeof(one));
	assert_true(event_loop_add_timer(loop, 100000000, false, stop_soon, loop) > 0);
	assert_int_equal(event_loop_run(loop), 7);
	for (int i = 0; i < N; i++) {
		assert_int_equal(c[i].calls, 1);
		assert_int_equal(event_loop_remove_fd(loop, fds[i]), 0);
	}
	event_loop_destroy(loop);
	for (int i = 0; i < N; i++)
		close(fds[i]);
}

/* The loop's ring is restricted (polls and timers only): seccomp cannot see io_uring
 * operations, so an unrestricted ring would let a thread open or connect whatever its filter
 * says. A restricted ring also refuses every registration not allowed: probing it is EACCES,
 * where an unrestricted ring answers. */
static void vmm_evloop_ring_is_restricted(void **state)
{
	(void)state;
	struct event_loop *loop = new_loop();
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	struct dirent *de;
	int rings = 0;
	while ((de = readdir(d))) {
		char target[64];
		ssize_t n = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, "anon_inode:[io_uring]"))
			continue;
		struct io_uring_probe *probe = calloc(1, sizeof(*probe) + 256 * sizeof(probe->ops[0]));
		assert_non_null(probe);
		int rc = io_uring_register(atoi(de->d_name), IORING_REGISTER_PROBE, probe, 256);
		free(probe);
		if (rc != -EACCES)
			fail_msg("ring fd %s: probe answered %d, expected -EACCES (restricted)",
				 de->d_name, rc);
		rings++;
	}
	closedir(d);
	assert_int_equal(rings, 1);
	event_loop_destroy(loop);

	/* the control: an unrestricted ring answers the same probe */
	struct io_uring ring;
	assert_int_equal(io_uring_queue_init(4, &ring, 0), 0);
	struct io_uring_probe *probe = calloc(1, sizeof(*probe) + 256 * sizeof(probe->ops[0]));
	assert_non_null(probe);
	assert_true(io_uring_register(ring.ring_fd, IORING_REGISTER_PROBE, probe, 256) >= 0);
	free(probe);
	io_uring_queue_exit(&ring);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vmm_evloop_eventfd_callback_and_stop_code),
		cmocka_unit_test(vmm_evloop_rejects_bad_arguments),
		cmocka_unit_test(vmm_evloop_remove_inside_own_callback),
		cmocka_unit_test(vmm_evloop_modify_mask),
		cmocka_unit_test(vmm_evloop_timers_oneshot_periodic_cancel),
		cmocka_unit_test(vmm_evloop_stop_from_other_thread),
		cmocka_unit_test(vmm_evloop_stop_from_signal_handler_first_code_wins),
		cmocka_unit_test(vmm_evloop_many_fds),
		cmocka_unit_test(vmm_evloop_ring_is_restricted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
