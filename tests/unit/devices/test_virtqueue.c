/* Virtqueue chain handling against a simulated guest, hostile chains included. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "devices/virtqueue.h"
#include "sim_guest.h"

#define QSIZE 16

struct fixture {
	struct sim_guest g;
	struct sim_queue sq;
	struct virtq q;
	struct virtq_chain c;
	uint64_t buf; /* 64 KiB of buffers */
};

static int setup(void **state)
{
	static struct fixture f;
	memset(&f, 0, sizeof(f));
	if (sim_guest_init(&f.g, 32u << 20) < 0)
		return -1;
	sim_queue_alloc(&f.g, &f.sq, QSIZE);
	f.buf = sim_alloc(&f.g, 65536, 4096);
	f.q.size = QSIZE;
	f.q.desc_gpa = f.sq.desc;
	f.q.avail_gpa = f.sq.avail;
	f.q.used_gpa = f.sq.used;
	f.q.indirect = true;
	if (virtq_activate(&f.q, &f.g.mem, 256) < 0)
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	sim_guest_free(&f->g);
	return 0;
}

static void virtq_pops_out_then_in_chain(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(virtq_pop(&f->q, &f->c), 0); /* empty */
	sim_desc(&f->g, &f->sq, 3, f->buf, 16, VIRTQ_DESC_F_NEXT, 7);
	sim_desc(&f->g, &f->sq, 7, f->buf + 100, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	sim_desc(&f->g, &f->sq, 1, f->buf + 1000, 1, VIRTQ_DESC_F_WRITE, 0);
	sim_publish(&f->g, &f->sq, 3);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.head, 3);
	assert_int_equal(f->c.n_out, 1);
	assert_int_equal(f->c.n_in, 2);
	assert_int_equal(f->c.out_len, 16);
	assert_int_equal(f->c.in_len, 513);
	assert_ptr_equal(f->c.iov[1].iov_base, sim_ptr(&f->g, f->buf + 100));
	assert_int_equal(virtq_pop(&f->q, &f->c), 0);

	virtq_push(&f->q, 3, 513);
	uint32_t id, len;
	assert_true(sim_used(&f->g, &f->sq, &id, &len));
	assert_int_equal(id, 3);
	assert_int_equal(len, 513);
}

static void expect_bad(struct fixture *f)
{
	assert_int_equal(virtq_pop(&f->q, &f->c), -EINVAL);
}

static void virtq_refuses_descriptor_loop(void **state)
{
	struct fixture *f = *state;
	sim_desc(&f->g, &f->sq, 0, f->buf, 8, VIRTQ_DESC_F_NEXT, 1);
	sim_desc(&f->g, &f->sq, 1, f->buf, 8, VIRTQ_DESC_F_NEXT, 0);
	sim_publish(&f->g, &f->sq, 0);
	expect_bad(f);
}

static void virtq_refuses_self_loop(void **state)
{
	struct fixture *f = *state;
	sim_desc(&f->g, &f->sq, 5, f->buf, 8, VIRTQ_DESC_F_NEXT, 5);
	sim_publish(&f->g, &f->sq, 5);
	expect_bad(f);
}

static void virtq_refuses_buffer_outside_ram(void **state)
{
	struct fixture *f = *state;
	sim_desc(&f->g, &f->sq, 0, 0x1000, 8, 0, 0); /* below RAM */
	sim_publish(&f->g, &f->sq, 0);
	expect_bad(f);
}

static void virtq_refuses_buffer_crossing_end_of_ram(void **state)
{
	struct fixture *f = *state;
	sim_desc(&f->g, &f->sq, 0, SIM_RAM_BASE + f->g.size - 8, 16, 0, 0);
	sim_publish(&f->g, &f->sq, 0);
	expect_bad(f);
}

static void virtq_refuses_wrapping_address(void **state)
{
	struct fixture *f = *state;
	sim_desc(&f->g, &f->sq, 0, UINT64_MAX - 4, 0xffffffffu, 0, 0);
	sim_publish(&f->g, &f->sq, 0);
	expect_bad(f);
}

static void virtq_refuses_readable_after_writable(void **state)
{
	struct fixture *f = *state;
	sim_desc(&f->g, &f->sq, 0, f->buf, 8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	sim_desc(&f->g, &f->sq, 1, f->buf, 8, 0, 0);
	sim_publish(&f->g, &f->sq, 0);
	expect_bad(f);
}

static void virtq_refuses_next_out_of_table(void **state)
{
	struct fixture *f = *state;
	sim_desc(&f->g, &f->sq, 0, f->buf, 8, VIRTQ_DESC_F_NEXT, QSIZE);
	sim_publish(&f->g, &f->sq, 0);
	expect_bad(f);
}

static void virtq_refuses_head_out_of_table(void **state)
{
	struct fixture *f = *state;
	sim_publish(&f->g, &f->sq, 999);
	expect_bad(f);
}

static void virtq_refuses_avail_index_jump(void **state)
{
	struct fixture *f = *state;
	uint16_t *avail = sim_ptr(&f->g, f->sq.avail);
	avail[1] = QSIZE + 1; /* more outstanding than the queue can hold */
	expect_bad(f);
}

static void virtq_refuses_chain_over_byte_cap(void **state)
{
	struct fixture *f = *state;
	/* 16 descriptors of 17 MiB each (all over the same RAM) = 272 MiB > 256 MiB. */
	for (uint16_t i = 0; i < QSIZE; i++)
		sim_desc(&f->g, &f->sq, i, SIM_RAM_BASE, 17u << 20,
			 i + 1 < QSIZE ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	sim_publish(&f->g, &f->sq, 0);
	expect_bad(f);
}

static void virtq_accepts_indirect_table(void **state)
{
	struct fixture *f = *state;
	uint64_t tbl = sim_alloc(&f->g, 3 * 16, 16);
	struct virtq_desc *t = sim_ptr(&f->g, tbl);
	t[0] = (struct virtq_desc){ f->buf, 16, VIRTQ_DESC_F_NEXT, 2 };
	t[2] = (struct virtq_desc){ f->buf + 64, 100, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1 };
	t[1] = (struct virtq_desc){ f->buf + 512, 1, VIRTQ_DESC_F_WRITE, 0 };
	sim_desc(&f->g, &f->sq, 4, tbl, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	sim_publish(&f->g, &f->sq, 4);
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_int_equal(f->c.head, 4);
	assert_int_equal(f->c.n_out, 1);
	assert_int_equal(f->c.n_in, 2);
	assert_int_equal(f->c.in_len, 101);
}

static void virtq_refuses_hostile_indirect_tables(void **state)
{
	struct fixture *f = *state;
	uint64_t tbl = sim_alloc(&f->g, 4 * 16, 16);
	struct virtq_desc *t = sim_ptr(&f->g, tbl);
	struct {
		uint64_t addr;
		uint32_t len;
		uint16_t flags;
		struct virtq_desc entry0;
	} cases[] = {
		/* table outside RAM */
		{ 0x2000, 32, VIRTQ_DESC_F_INDIRECT, { f->buf, 8, 0, 0 } },
		/* table straddles the end of RAM */
		{ SIM_RAM_BASE + f->g.size - 16, 32, VIRTQ_DESC_F_INDIRECT, { f->buf, 8, 0, 0 } },
		/* length not a multiple of a descriptor */
		{ tbl, 20, VIRTQ_DESC_F_INDIRECT, { f->buf, 8, 0, 0 } },
		/* empty table */
		{ tbl, 0, VIRTQ_DESC_F_INDIRECT, { f->buf, 8, 0, 0 } },
		/* too many entries */
		{ tbl, 16 * (VIRTQ_MAX_CHAIN + 1), VIRTQ_DESC_F_INDIRECT, { f->buf, 8, 0, 0 } },
		/* INDIRECT together with NEXT */
		{ tbl, 32, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, { f->buf, 8, 0, 0 } },
		/* nested indirect */
		{ tbl, 32, VIRTQ_DESC_F_INDIRECT, { tbl, 32, VIRTQ_DESC_F_INDIRECT, 0 } },
		/* loop inside the table */
		{ tbl, 32, VIRTQ_DESC_F_INDIRECT, { f->buf, 8, VIRTQ_DESC_F_NEXT, 0 } },
		/* next beyond the table */
		{ tbl, 32, VIRTQ_DESC_F_INDIRECT, { f->buf, 8, VIRTQ_DESC_F_NEXT, 2 } },
		/* buffer outside RAM */
		{ tbl, 32, VIRTQ_DESC_F_INDIRECT, { 0x10, 8, 0, 0 } },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t[0] = cases[i].entry0;
		t[1] = (struct virtq_desc){ f->buf, 8, 0, 0 };
		sim_desc(&f->g, &f->sq, 0, cases[i].addr, cases[i].len, cases[i].flags, 1);
		sim_publish(&f->g, &f->sq, 0);
		assert_int_equal(virtq_pop(&f->q, &f->c), -EINVAL);
		f->q.last_avail++; /* skip it and try the next case */
	}
	/* Not negotiated: refused even if well-formed. */
	f->q.indirect = false;
	t[0] = (struct virtq_desc){ f->buf, 8, 0, 0 };
	sim_desc(&f->g, &f->sq, 0, tbl, 16, VIRTQ_DESC_F_INDIRECT, 0);
	sim_publish(&f->g, &f->sq, 0);
	assert_int_equal(virtq_pop(&f->q, &f->c), -EINVAL);
}

static void virtq_activate_checks_rings(void **state)
{
	struct fixture *f = *state;
	struct virtq q = f->q;
	q.size = 12; /* not a power of two */
	assert_int_equal(virtq_activate(&q, &f->g.mem, 256), -EINVAL);
	q.size = 512;
	assert_int_equal(virtq_activate(&q, &f->g.mem, 256), -EINVAL);
	q.size = 0;
	assert_int_equal(virtq_activate(&q, &f->g.mem, 256), -EINVAL);
	q = f->q;
	q.desc_gpa += 8; /* misaligned */
	assert_int_equal(virtq_activate(&q, &f->g.mem, 256), -EINVAL);
	q = f->q;
	q.used_gpa = SIM_RAM_BASE + f->g.size - 8; /* runs off RAM */
	assert_int_equal(virtq_activate(&q, &f->g.mem, 256), -EINVAL);
	q = f->q;
	q.avail_gpa = 0;
	assert_int_equal(virtq_activate(&q, &f->g.mem, 256), -EINVAL);
	q = f->q;
	assert_int_equal(virtq_activate(&q, &f->g.mem, 256), 0);
}

static void virtq_event_idx_suppresses_interrupts(void **state)
{
	struct fixture *f = *state;
	f->q.event_idx = true;
	uint16_t *avail = sim_ptr(&f->g, f->sq.avail);
	uint16_t *used_event = &avail[2 + QSIZE];
	*used_event = 2; /* interrupt when used idx passes 2, i.e. after the 3rd */
	virtq_push(&f->q, 0, 0);
	assert_true(virtq_should_notify(&f->q)); /* the first one always signals */
	virtq_push(&f->q, 0, 0);
	assert_false(virtq_should_notify(&f->q)); /* idx 2: not past used_event */
	virtq_push(&f->q, 0, 0);
	assert_true(virtq_should_notify(&f->q)); /* idx 3 crosses used_event=2 */
	assert_false(virtq_should_notify(&f->q)); /* nothing new */

	/* avail_event follows last_avail when notifications are re-enabled. */
	sim_desc(&f->g, &f->sq, 0, f->buf, 8, 0, 0);
	sim_publish(&f->g, &f->sq, 0);
	assert_true(virtq_enable_notify(&f->q)); /* work pending */
	assert_int_equal(virtq_pop(&f->q, &f->c), 1);
	assert_false(virtq_enable_notify(&f->q));
	uint16_t *avail_event = (uint16_t *)((uint8_t *)sim_ptr(&f->g, f->sq.used) + 4 + 8 * QSIZE);
	assert_int_equal(*avail_event, 1);
}

static void virtq_no_interrupt_flag_suppresses_without_event_idx(void **state)
{
	struct fixture *f = *state;
	uint16_t *avail = sim_ptr(&f->g, f->sq.avail);
	avail[0] = VIRTQ_AVAIL_F_NO_INTERRUPT;
	virtq_push(&f->q, 0, 0);
	assert_false(virtq_should_notify(&f->q));
	avail[0] = 0;
	virtq_push(&f->q, 0, 0);
	assert_true(virtq_should_notify(&f->q));
}

static void iov_slice_and_copies(void **state)
{
	(void)state;
	uint8_t a[4] = { 1, 2, 3, 4 }, b[4] = { 5, 6, 7, 8 }, out[8];
	struct iovec iov[2] = { { a, 4 }, { b, 4 } }, s[2];
	assert_int_equal(iov_slice(iov, 2, 3, 3, s, 2), 2);
	assert_int_equal(s[0].iov_len, 1);
	assert_int_equal(*(uint8_t *)s[0].iov_base, 4);
	assert_int_equal(s[1].iov_len, 2);
	assert_int_equal(iov_slice(iov, 2, 3, 6, s, 2), -EINVAL);
	assert_int_equal(iov_slice(iov, 2, 0, 8, s, 1), -E2BIG);
	assert_int_equal(iov_to_buf(iov, 2, 2, out, 8), 6);
	assert_int_equal(out[0], 3);
	assert_int_equal(out[5], 8);
	assert_int_equal(iov_from_buf(iov, 2, 7, "xy", 2), 1);
	assert_int_equal(b[3], 'x');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(virtq_pops_out_then_in_chain),
		T(virtq_refuses_descriptor_loop),
		T(virtq_refuses_self_loop),
		T(virtq_refuses_buffer_outside_ram),
		T(virtq_refuses_buffer_crossing_end_of_ram),
		T(virtq_refuses_wrapping_address),
		T(virtq_refuses_readable_after_writable),
		T(virtq_refuses_next_out_of_table),
		T(virtq_refuses_head_out_of_table),
		T(virtq_refuses_avail_index_jump),
		T(virtq_refuses_chain_over_byte_cap),
		T(virtq_accepts_indirect_table),
		T(virtq_refuses_hostile_indirect_tables),
		T(virtq_activate_checks_rings),
		T(virtq_event_idx_suppresses_interrupts),
		T(virtq_no_interrupt_flag_suppresses_without_event_idx),
		T(iov_slice_and_copies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
