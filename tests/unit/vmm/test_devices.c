/* Unit tests for the VMM's small devices, driven through the port bus as a vCPU would:
 * 16550 serial (TX, interrupts, loopback, divisor latch, RX FIFO flow control), debug
 * ports, boot timer, i8042 reset, ACPI sleep registers. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/acpi_sleep.h"
#include "devices/boot_timer.h"
#include "devices/debug_port.h"
#include "devices/i8042.h"
#include "devices/pvpanic.h"
#include "devices/serial.h"
#include "devices/event_loop.h"
#include "common/guest_abi/layout.h"

struct host {
	struct bus pio, mmio;
	struct device_host dh;
	int irq_level[24];
	int irq_changes;
};

static int rec_irq_line(void *vm, uint32_t gsi, int level)
{
	struct host *h = vm;
	if (gsi < 24) {
		h->irq_level[gsi] = level;
		h->irq_changes++;
	}
	return 0;
}

static void host_init(struct host *h, struct event_loop *loop)
{
	memset(h, 0, sizeof(*h));
	h->dh = (struct device_host){ .vm = h, .loop = loop, .mmio_bus = &h->mmio,
				      .pio_bus = &h->pio, .irq_line = rec_irq_line };
}

static uint8_t in8(struct host *h, uint16_t port)
{
	uint8_t v = 0;
	assert_true(bus_access(&h->pio, port, &v, 1, false));
	return v;
}

static void out8(struct host *h, uint16_t port, uint8_t v)
{
	assert_true(bus_access(&h->pio, port, &v, 1, true));
}

#define COM1 LAYOUT_PORT_SERIAL

static void vmm_serial_transmit_interrupts_and_registers(void **state)
{
	(void)state;
	struct host h;
	host_init(&h, NULL);
	int p[2];
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	struct serial *s;
	assert_int_equal(serial_create(&h.dh, COM1, 4, -1, p[1], &s), 0);
	out8(&h, COM1, 'A');
	char c;
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(c, 'A');
	assert_int_equal(in8(&h, COM1 + 5) & 0x60, 0x60); /* THRE | TEMT */
	assert_int_equal(in8(&h, COM1 + 2) & 0x0f, 0x01); /* no interrupt */
	/* Enabling THRE interrupts raises the line at once; reading IIR acknowledges. */
	out8(&h, COM1 + 1, 0x02);
	assert_int_equal(h.irq_level[4], 1);
	assert_int_equal(in8(&h, COM1 + 2) & 0x0f, 0x02);
	assert_int_equal(h.irq_level[4], 0);
	/* Divisor latch. */
	out8(&h, COM1 + 3, 0x80);
	out8(&h, COM1 + 0, 0x0c);
	out8(&h, COM1 + 1, 0x00);
	assert_int_equal(in8(&h, COM1 + 0), 0x0c);
	out8(&h, COM1 + 3, 0x03);
	assert_int_equal(in8(&h, COM1 + 3), 0x03);
	assert_int_equal(in8(&h, COM1 + 1), 0x02); /* IER back, not DLM */
	/* Scratch register. */
	out8(&h, COM1 + 7, 0x5a);
	assert_int_equal(in8(&h, COM1 + 7), 0x5a);
	/* Loopback: TX comes back as RX, MSR mirrors MCR; overrun drops beyond 64 bytes. */
	out8(&h, COM1 + 1, 0x01); /* RX interrupts only */
	out8(&h, COM1 + 4, 0x10 | 0x03);
	assert_int_equal(in8(&h, COM1 + 6) & 0x30, 0x30); /* DTR→DSR, RTS→CTS */
	for (int i = 0; i < 100; i++)
		out8(&h, COM1, (uint8_t)i);
	assert_int_equal(h.irq_level[4], 1);
	assert_int_equal(in8(&h, COM1 + 2) & 0x0f, 0x04);
	int n = 0;
	while (in8(&h, COM1 + 5) & 0x01) {
		assert_int_equal(in8(&h, COM1), n);
		n++;
	}
	assert_int_equal(n, 64);
	assert_int_equal(h.irq_level[4], 0);
	assert_int_equal(read(p[0], &c, 1), -1); /* nothing leaked to the output */
	serial_destroy(s);
	close(p[0]);
	close(p[1]);
}

static void vmm_serial_backlog_reaches_late_output(void **state)
{
	(void)state;
	struct host h;
	host_init(&h, NULL);
	struct serial *s;
	assert_int_equal(serial_create(&h.dh, COM1, 4, -1, -1, &s), 0);
	/* More than the backlog holds: only the newest SERIAL_BACKLOG bytes survive. */
	for (int i = 0; i < SERIAL_BACKLOG + 100; i++)
		out8(&h, COM1, (uint8_t)('a' + i % 26));
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(fcntl(p[1], F_SETPIPE_SZ, 1 << 20) > 0, 1);
	serial_set_fds(s, -1, p[1]);
	static uint8_t buf[SERIAL_BACKLOG + 200];
	ssize_t n = read(p[0], buf, sizeof(buf));
	assert_int_equal(n, SERIAL_BACKLOG);
	assert_int_equal(buf[0], 'a' + 100 % 26);
	assert_int_equal(buf[n - 1], 'a' + (SERIAL_BACKLOG + 99) % 26);
	/* Delivered once: new output goes straight through. */
	out8(&h, COM1, '!');
	assert_int_equal(read(p[0], buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], '!');
	serial_destroy(s);
	close(p[0]);
	close(p[1]);
}

static void stop_loop(void *ctx, uint32_t events)
{
	(void)events;
	event_loop_stop(ctx, 0);
}

static void run_briefly(struct event_loop *loop)
{
	assert_true(event_loop_add_timer(loop, 30000000, false, stop_loop, loop) > 0);
	event_loop_run(loop);
}

static void vmm_serial_input_flow_control(void **state)
{
	(void)state;
	struct errbuf eb = { 0 };
	struct event_loop *loop = event_loop_create(&eb);
	struct host h;
	host_init(&h, loop);
	int p[2];
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	struct serial *s;
	assert_int_equal(serial_create(&h.dh, COM1, 4, p[0], -1, &s), 0);
	uint8_t buf[200];
	for (int i = 0; i < 200; i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(write(p[1], buf, sizeof(buf)), (ssize_t)sizeof(buf));
	run_briefly(loop);
	/* The FIFO holds 64; the rest waits in the pipe (not dropped, not buffered). */
	int got = 0;
	while (in8(&h, COM1 + 5) & 0x01) {
		assert_int_equal(in8(&h, COM1), got);
		got++;
	}
	assert_int_equal(got, 64);
	for (int round = 0; round < 4 && got < 200; round++) {
		run_briefly(loop);
		while (in8(&h, COM1 + 5) & 0x01) {
			assert_int_equal(in8(&h, COM1), got);
			got++;
		}
	}
	assert_int_equal(got, 200);
	serial_destroy(s);
	close(p[0]);
	close(p[1]);
	event_loop_destroy(loop);
}

struct events {
	int exits, resets, poweroffs, panics;
	uint8_t exit_value;
};

static void on_exit_cb(void *ctx, uint8_t v)
{
	struct events *e = ctx;
	e->exits++;
	e->exit_value = v;
}

static void on_reset_cb(void *ctx)
{
	((struct events *)ctx)->resets++;
}

static void on_poweroff_cb(void *ctx)
{
	((struct events *)ctx)->poweroffs++;
}

static void on_panic_cb(void *ctx)
{
	((struct events *)ctx)->panics++;
}

static void vmm_debug_port_timer_i8042_sleep(void **state)
{
	(void)state;
	struct host h;
	host_init(&h, NULL);
	struct events ev = { 0 };
	int p[2];
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	struct debug_port *d;
	struct boot_timer *t;
	struct i8042 *k;
	struct acpi_sleep *sl;
	assert_int_equal(debug_port_create(&h.dh, p[1], on_exit_cb, &ev, &d), 0);
	assert_int_equal(boot_timer_create(&h.dh, boot_timer_now_ns(), &t), 0);
	assert_int_equal(i8042_create(&h.dh, on_reset_cb, &ev, &k), 0);
	assert_int_equal(acpi_sleep_create(&h.dh, on_poweroff_cb, &ev, &sl), 0);

	/* debugcon: whole lines reach the log, partial ones on exit. */
	assert_int_equal(in8(&h, LAYOUT_PORT_DEBUGCON), 0xe9);
	for (const char *c = "hi\npart"; *c; c++)
		out8(&h, LAYOUT_PORT_DEBUGCON, (uint8_t)*c);
	char buf[32] = { 0 };
	assert_int_equal(read(p[0], buf, sizeof(buf)), 3);
	assert_string_equal(buf, "hi\n");
	out8(&h, LAYOUT_PORT_DEBUG_EXIT, 7);
	assert_int_equal(ev.exits, 1);
	assert_int_equal(ev.exit_value, 7);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(read(p[0], buf, sizeof(buf)), 4);
	assert_string_equal(buf, "part");

	/* boot timer: ids in order, reads count them. */
	uint32_t id = 1;
	assert_true(bus_access(&h.pio, LAYOUT_PORT_BOOT_TIMER, (uint8_t *)&id, 4, true));
	id = 77;
	assert_true(bus_access(&h.pio, LAYOUT_PORT_BOOT_TIMER, (uint8_t *)&id, 4, true));
	struct boot_timer_mark m[4];
	assert_int_equal(boot_timer_marks(t, m, 4), 2);
	assert_int_equal(m[0].id, 1);
	assert_int_equal(m[1].id, 77);
	assert_true(m[1].ns >= m[0].ns);
	uint32_t count = 0;
	assert_true(bus_access(&h.pio, LAYOUT_PORT_BOOT_TIMER, (uint8_t *)&count, 4, false));
	assert_int_equal(count, 2);

	/* i8042: only command 0xfe on port 0x64 resets. */
	out8(&h, LAYOUT_PORT_I8042_DATA, 0xfe);
	out8(&h, LAYOUT_PORT_I8042_CMD, 0xd1);
	assert_int_equal(ev.resets, 0);
	assert_int_equal(in8(&h, LAYOUT_PORT_I8042_CMD) & 0x02, 0); /* input buffer empty */
	out8(&h, LAYOUT_PORT_I8042_CMD, 0xfe);
	assert_int_equal(ev.resets, 1);

	/* ACPI sleep: only SLP_EN with SLP_TYP = S5 powers off. */
	out8(&h, LAYOUT_PORT_ACPI_SLEEP_CTL, 5 << 2);
	out8(&h, LAYOUT_PORT_ACPI_SLEEP_CTL, (3 << 2) | 0x20);
	out8(&h, LAYOUT_PORT_ACPI_SLEEP_STS, (5 << 2) | 0x20);
	assert_int_equal(ev.poweroffs, 0);
	out8(&h, LAYOUT_PORT_ACPI_SLEEP_CTL, (5 << 2) | 0x20);
	assert_int_equal(ev.poweroffs, 1);

	/* pvpanic: offers PANICKED; only that bit ends the VM. */
	struct pvpanic *pv;
	assert_int_equal(pvpanic_create(&h.dh, on_panic_cb, &ev, &pv), 0);
	assert_int_equal(in8(&h, LAYOUT_PORT_PVPANIC), 1);
	out8(&h, LAYOUT_PORT_PVPANIC, 2);
	assert_int_equal(ev.panics, 0);
	out8(&h, LAYOUT_PORT_PVPANIC, 1);
	assert_int_equal(ev.panics, 1);
	pvpanic_destroy(pv);

	/* Ports claimed once: a second device on the same port is refused. */
	struct i8042 *k2;
	assert_int_equal(i8042_create(&h.dh, on_reset_cb, &ev, &k2), -EINVAL);

	debug_port_destroy(d);
	boot_timer_destroy(t);
	i8042_destroy(k);
	acpi_sleep_destroy(sl);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vmm_serial_transmit_interrupts_and_registers),
		cmocka_unit_test(vmm_serial_input_flow_control),
		cmocka_unit_test(vmm_serial_backlog_reaches_late_output),
		cmocka_unit_test(vmm_debug_port_timer_i8042_sleep),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
