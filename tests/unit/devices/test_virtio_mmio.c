/* virtio-mmio transport: registers, negotiation, queue setup, reset, interrupts,
 * NEEDS_RESET, and the ioeventfd doorbell path, with a dummy device. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/virtio_mmio.h"
#include "sim_guest.h"
#include "devices/event_loop.h"

#define BASE 0xd0000000ull
#define ALL_FEATURES (~0ull)

struct dummy {
	struct virtio_mmio m;
	unsigned notified[2];
	unsigned resets;
	unsigned activations;
	int activate_result;
	uint8_t config[8];
};

static void dummy_config_read(void *dev, uint32_t off, void *data, uint32_t len)
{
	struct dummy *d = dev;
	memcpy(data, d->config + off, len);
}

static int dummy_activate(void *dev)
{
	struct dummy *d = dev;
	d->activations++;
	return d->activate_result;
}

static void dummy_notify(void *dev, uint16_t q)
{
	struct dummy *d = dev;
	d->notified[q]++;
}

static void dummy_reset(void *dev)
{
	struct dummy *d = dev;
	d->resets++;
}

static const struct virtio_device_ops dummy_ops = {
	.device_id = 42,
	.features = 1ull << 3,
	.num_queues = 2,
	.queue_max = 64,
	.config_read = dummy_config_read,
	.config_size = 8,
	.activate = dummy_activate,
	.notify = dummy_notify,
	.reset = dummy_reset,
};

struct fixture {
	struct sim_guest g;
	struct dummy d;
	struct sim_queue q[2];
};

static int setup(void **state)
{
	static struct fixture f;
	memset(&f, 0, sizeof(f));
	if (sim_guest_init(&f.g, 4u << 20) < 0)
		return -1;
	memcpy(f.d.config, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	struct errbuf eb = { 0 };
	if (virtio_mmio_init(&f.d.m, &f.g.host, BASE, 7, &dummy_ops, &f.d, &eb) < 0)
		return -1;
	sim_queue_alloc(&f.g, &f.q[0], 64);
	sim_queue_alloc(&f.g, &f.q[1], 32);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	virtio_mmio_destroy(&f->d.m);
	sim_guest_free(&f->g);
	return 0;
}

static uint64_t irq_count(struct fixture *f)
{
	uint64_t v = 0;
	if (read(virtio_mmio_irq_fd(&f->d.m), &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

static void mmio_identifies_modern_device(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(sim_read32(&f->g, BASE, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(sim_read32(&f->g, BASE, VIRTIO_MMIO_VERSION), 2);
	assert_int_equal(sim_read32(&f->g, BASE, VIRTIO_MMIO_DEVICE_ID), 42);
	sim_write32(&f->g, BASE, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	uint32_t hi = sim_read32(&f->g, BASE, VIRTIO_MMIO_DEVICE_FEATURES);
	assert_true(hi & (1u << (VIRTIO_F_VERSION_1 - 32)));
	assert_true(hi & (1u << (VIRTIO_F_ACCESS_PLATFORM - 32)));
	sim_write32(&f->g, BASE, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	uint32_t lo = sim_read32(&f->g, BASE, VIRTIO_MMIO_DEVICE_FEATURES);
	assert_true(lo & (1u << 3));
	assert_true(lo & (1u << VIRTIO_F_EVENT_IDX));
	/* Config space: byte, word and out-of-range reads. */
	uint8_t b[4] = { 0 };
	bus_access(&f->g.mmio, BASE + 0x100 + 6, b, 2, false);
	assert_int_equal(b[0], 7);
	assert_int_equal(b[1], 8);
	memset(b, 0xaa, 4);
	bus_access(&f->g.mmio, BASE + 0x100 + 6, b, 4, false); /* runs past config */
	assert_int_equal(b[0], 0);
	/* Misaligned or narrow register reads read as zero. */
	bus_access(&f->g.mmio, BASE + 1, b, 2, false);
	assert_int_equal(b[0] | b[1], 0);
}

static void mmio_negotiates_and_activates(void **state)
{
	struct fixture *f = *state;
	uint32_t st = sim_driver_init(&f->g, BASE, ALL_FEATURES, f->q, 2);
	assert_int_equal(st, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(f->d.activations, 1);
	assert_true(virtio_mmio_running(&f->d.m));
	assert_true(f->d.m.queue[0].event_idx);
	assert_int_equal(f->d.notified[0], 1); /* queues are looked at once on DRIVER_OK */
	assert_int_equal(f->d.notified[1], 1);
	sim_kick(&f->g, BASE, 1);
	sim_kick(&f->g, BASE, 1);
	sim_kick(&f->g, BASE, 5); /* no such queue: ignored */
	assert_int_equal(f->d.notified[1], 3);
	assert_int_equal(f->d.notified[0], 1);
	/* Queue registers are frozen once live. */
	sim_write32(&f->g, BASE, VIRTIO_MMIO_QUEUE_SEL, 0);
	sim_write32(&f->g, BASE, VIRTIO_MMIO_QUEUE_DESC_LOW, 0);
	assert_int_equal(f->d.m.queue[0].desc_gpa, f->q[0].desc);
}

static void mmio_refuses_features_without_version_1(void **state)
{
	struct fixture *f = *state;
	uint32_t st = sim_driver_init(&f->g, BASE, ~(1ull << VIRTIO_F_VERSION_1), f->q, 2);
	assert_false(st & VIRTIO_STATUS_FEATURES_OK);
	/* DRIVER_OK cannot be set without FEATURES_OK. */
	sim_write32(&f->g, BASE, VIRTIO_MMIO_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
	assert_false(sim_read32(&f->g, BASE, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(f->d.activations, 0);
}

static void mmio_refuses_unoffered_feature(void **state)
{
	struct fixture *f = *state;
	sim_write32(&f->g, BASE, VIRTIO_MMIO_STATUS, 1);
	sim_write32(&f->g, BASE, VIRTIO_MMIO_STATUS, 3);
	sim_write32(&f->g, BASE, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	sim_write32(&f->g, BASE, VIRTIO_MMIO_DRIVER_FEATURES, 1u | (1u << 20));
	sim_write32(&f->g, BASE, VIRTIO_MMIO_STATUS, 3 | VIRTIO_STATUS_FEATURES_OK);
	assert_false(sim_read32(&f->g, BASE, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
}

static void mmio_bad_queue_sets_needs_reset(void **state)
{
	struct fixture *f = *state;
	f->q[1].used = 0x10; /* outside guest RAM */
	uint32_t st = sim_driver_init(&f->g, BASE, ALL_FEATURES, f->q, 2);
	assert_true(st & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(sim_read32(&f->g, BASE, VIRTIO_MMIO_INTERRUPT_STATUS) & 2, 2);
	assert_int_equal(irq_count(f), 1);
	sim_kick(&f->g, BASE, 0);
	assert_int_equal(f->d.notified[0], 0); /* failed: no processing */
	/* Reset clears it and calls the device. */
	sim_write32(&f->g, BASE, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(sim_read32(&f->g, BASE, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(sim_read32(&f->g, BASE, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	assert_true(f->d.resets >= 1);
	f->q[1].used = sim_alloc(&f->g, 6 + 8 * 32, 4096);
	st = sim_driver_init(&f->g, BASE, ALL_FEATURES, f->q, 2);
	assert_false(st & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(st & VIRTIO_STATUS_DRIVER_OK);
}

static void mmio_bad_queue_size_sets_needs_reset(void **state)
{
	struct fixture *f = *state;
	f->q[0].size = 48; /* not a power of two */
	uint32_t st = sim_driver_init(&f->g, BASE, ALL_FEATURES, f->q, 2);
	assert_true(st & VIRTIO_STATUS_NEEDS_RESET);
}

static void mmio_activate_failure_sets_needs_reset(void **state)
{
	struct fixture *f = *state;
	f->d.activate_result = -EIO;
	uint32_t st = sim_driver_init(&f->g, BASE, ALL_FEATURES, f->q, 2);
	assert_true(st & VIRTIO_STATUS_NEEDS_RESET);
	assert_false(virtio_mmio_running(&f->d.m));
}

static void mmio_interrupt_edges_and_ack(void **state)
{
	struct fixture *f = *state;
	sim_driver_init(&f->g, BASE, ALL_FEATURES & ~(1ull << VIRTIO_F_EVENT_IDX), f->q, 2);
	virtio_mmio_lock(&f->d.m);
	virtq_push(&f->d.m.queue[0], 0, 0);
	virtio_mmio_notify_used(&f->d.m, 0);
	virtq_push(&f->d.m.queue[0], 0, 0);
	virtio_mmio_notify_used(&f->d.m, 0); /* still pending: no second edge */
	virtio_mmio_unlock(&f->d.m);
	assert_int_equal(irq_count(f), 1);
	assert_int_equal(sim_read32(&f->g, BASE, VIRTIO_MMIO_INTERRUPT_STATUS), 1);
	sim_write32(&f->g, BASE, VIRTIO_MMIO_INTERRUPT_ACK, 1);
	assert_int_equal(sim_read32(&f->g, BASE, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	virtio_mmio_lock(&f->d.m);
	virtio_mmio_config_changed(&f->d.m);
	virtio_mmio_unlock(&f->d.m);
	assert_int_equal(irq_count(f), 1);
	assert_int_equal(sim_read32(&f->g, BASE, VIRTIO_MMIO_INTERRUPT_STATUS), 2);
	assert_int_equal(sim_read32(&f->g, BASE, VIRTIO_MMIO_CONFIG_GENERATION), 1);
}

static void mmio_status_only_adds_bits(void **state)
{
	struct fixture *f = *state;
	sim_driver_init(&f->g, BASE, ALL_FEATURES, f->q, 2);
	sim_write32(&f->g, BASE, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	assert_true(sim_read32(&f->g, BASE, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
	/* The driver cannot claim NEEDS_RESET itself. */
	sim_write32(&f->g, BASE, VIRTIO_MMIO_STATUS, 0x4f);
	assert_false(sim_read32(&f->g, BASE, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
}

/* ioeventfd doorbells: the host hands KVM the fd; here the test plays KVM. */
static int ioeventfd_fds[2];
static int fake_ioeventfd_add(void *vm, uint64_t gpa, uint32_t len, uint64_t value, int fd)
{
	(void)vm;
	if (gpa != BASE + VIRTIO_MMIO_QUEUE_NOTIFY || len != 4 || value > 1)
		return -EINVAL;
	ioeventfd_fds[value] = fd;
	return 0;
}

static void stop_loop(void *ctx, uint32_t events)
{
	(void)events;
	event_loop_stop(ctx, 0);
}

static void mmio_doorbell_through_ioeventfd(void **state)
{
	(void)state;
	struct sim_guest g;
	struct dummy d;
	memset(&d, 0, sizeof(d));
	assert_int_equal(sim_guest_init(&g, 1u << 20), 0);
	struct errbuf eb = { 0 };
	struct event_loop *loop = event_loop_create(&eb);
	assert_non_null(loop);
	g.host.loop = loop;
	g.host.ioeventfd_add = fake_ioeventfd_add;
	assert_int_equal(virtio_mmio_init(&d.m, &g.host, BASE, 7, &dummy_ops, &d, &eb), 0);
	assert_true(d.m.use_ioeventfd);
	struct sim_queue q[2];
	sim_queue_alloc(&g, &q[0], 64);
	sim_queue_alloc(&g, &q[1], 64);
	sim_driver_init(&g, BASE, ALL_FEATURES, q, 2);
	unsigned before = d.notified[1];
	uint64_t one = 1;
	assert_int_equal(write(ioeventfd_fds[1], &one, 8), 8);
	for (int i = 0; i < 100 && d.notified[1] == before; i++) {
		event_loop_add_timer(loop, 1000000, false, stop_loop, loop);
		event_loop_run(loop);
	}
	assert_int_equal(d.notified[1], before + 1);
	virtio_mmio_destroy(&d.m);
	event_loop_destroy(loop);
	sim_guest_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(mmio_identifies_modern_device),
		T(mmio_negotiates_and_activates),
		T(mmio_refuses_features_without_version_1),
		T(mmio_refuses_unoffered_feature),
		T(mmio_bad_queue_sets_needs_reset),
		T(mmio_bad_queue_size_sets_needs_reset),
		T(mmio_activate_failure_sets_needs_reset),
		T(mmio_interrupt_edges_and_ack),
		T(mmio_status_only_adds_bits),
		cmocka_unit_test(mmio_doorbell_through_ioeventfd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
