#include "devices/serial.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"
#include "devices/event_loop.h"

#define UART_FIFO 64
enum { RBR = 0, IER = 1, IIR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };
#define IER_RDI 0x01
#define IER_THRI 0x02
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO 0xc0
#define LCR_DLAB 0x80
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

struct serial {
	const struct device_host *host;
	uint32_t gsi;
	int in_fd, out_fd;
	bool in_watched;
	pthread_mutex_t lock;
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	bool thri_pending;
	int irq_level;
	uint8_t fifo[UART_FIFO];
	unsigned head, count;
	uint8_t backlog[SERIAL_BACKLOG]; /* output while nothing is attached (a ring) */
	size_t backlog_start, backlog_len;
};

static void backlog_push_locked(struct serial *s, uint8_t b)
{
	size_t end = (s->backlog_start + s->backlog_len) % SERIAL_BACKLOG;
	s->backlog[end] = b;
	if (s->backlog_len < SERIAL_BACKLOG)
		s->backlog_len++;
	else
		s->backlog_start = (s->backlog_start + 1) % SERIAL_BACKLOG; /* drop the oldest */
}

static void backlog_flush_locked(struct serial *s)
{
	while (s->backlog_len && s->out_fd >= 0) {
		size_t n = SERIAL_BACKLOG - s->backlog_start;
		if (n > s->backlog_len)
			n = s->backlog_len;
		if (write_full(s->out_fd, s->backlog + s->backlog_start, n) < 0)
			break; /* a non-blocking client that is full: the rest is dropped */
		s->backlog_start = (s->backlog_start + n) % SERIAL_BACKLOG;
		s->backlog_len -= n;
	}
	s->backlog_start = s->backlog_len = 0;
}

static uint8_t iir_locked(struct serial *s)
{
	uint8_t fifo = (s->fcr & 1) ? IIR_FIFO : 0;
	if ((s->ier & IER_RDI) && s->count)
		return IIR_RDI | fifo;
	if ((s->ier & IER_THRI) && s->thri_pending)
		return IIR_THRI | fifo;
	return IIR_NONE | fifo;
}

static void update_irq_locked(struct serial *s)
{
	int level = !(iir_locked(s) & IIR_NONE);
	if (level != s->irq_level) {
		s->irq_level = level;
		if (s->host->irq_line)
			s->host->irq_line(s->host->vm, s->gsi, level);
	}
}

static void fifo_push_locked(struct serial *s, uint8_t b)
{
	if (s->count == UART_FIFO)
		return; /* overrun: drop, as hardware does */
	s->fifo[(s->head + s->count) % UART_FIFO] = b;
	s->count++;
}

static void watch_input_locked(struct serial *s, bool want)
{
	if (s->in_fd < 0 || !s->host->loop || want == s->in_watched)
		return;
	if (event_loop_modify_fd(s->host->loop, s->in_fd, want ? POLLIN : 0) == 0)
		s->in_watched = want;
}

static void serial_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct serial *s = opaque;
	uint8_t v = 0;
	memset(data, 0, len);
	pthread_mutex_lock(&s->lock);
	switch (off) {
	case RBR:
		if (s->lcr & LCR_DLAB) {
			v = s->dll;
		} else if (s->count) {
			v = s->fifo[s->head];
			s->head = (s->head + 1) % UART_FIFO;
			s->count--;
			if (s->count == 0)
				watch_input_locked(s, true);
		}
		break;
	case IER:
		v = (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
		break;
	case IIR:
		v = iir_locked(s);
		if ((v & 0x0f) == IIR_THRI)
			s->thri_pending = false; /* reading IIR acknowledges THRE */
		break;
	case LCR: v = s->lcr; break;
	case MCR: v = s->mcr; break;
	case LSR: v = LSR_THRE | LSR_TEMT | (s->count ? LSR_DR : 0); break;
	case MSR:
		if (s->mcr & MCR_LOOP) /* loopback: DTR→DSR, RTS→CTS, OUT1→RI, OUT2→DCD */
			v = (uint8_t)(((s->mcr & 0x01) << 5) | ((s->mcr & 0x02) << 3) |
				      ((s->mcr & 0x04) << 4) | ((s->mcr & 0x08) << 4));
		else
			v = 0xb0; /* DCD, DSR, CTS: a terminal is attached */
		break;
	case SCR: v = s->scr; break;
	}
	data[0] = v;
	update_irq_locked(s);
	pthread_mutex_unlock(&s->lock);
}

static void serial_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct serial *s = opaque;
	uint8_t v = data[0];
	(void)len;
	pthread_mutex_lock(&s->lock);
	switch (off) {
	case RBR:
		if (s->lcr & LCR_DLAB) {
			s->dll = v;
			break;
		}
		if (s->mcr & MCR_LOOP)
			fifo_push_locked(s, v);
		else if (s->out_fd >= 0)
			write_full(s->out_fd, &v, 1);
		else
			backlog_push_locked(s, v);
		s->thri_pending = true;
		break;
	case IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
		} else {
			if (!(s->ier & IER_THRI) && (v & IER_THRI))
				s->thri_pending = true; /* THR is empty: interrupt right away */
			s->ier = v & 0x0f;
		}
		break;
	case IIR:
		s->fcr = v;
		if (v & 0x02) { /* clear receive FIFO */
			s->head = s->count = 0;
			watch_input_locked(s, true);
		}
		break;
	case LCR: s->lcr = v; break;
	case MCR: s->mcr = v & 0x1f; break;
	case SCR: s->scr = v; break;
	default: break; /* LSR, MSR: read-only */
	}
	update_irq_locked(s);
	pthread_mutex_unlock(&s->lock);
}

static void input_ready(void *ctx, uint32_t events)
{
	struct serial *s = ctx;
	uint8_t buf[UART_FIFO];
	pthread_mutex_lock(&s->lock);
	size_t room = UART_FIFO - s->count;
	ssize_t n = room ? read(s->in_fd, buf, room) : 0;
	if (n > 0) {
		for (ssize_t i = 0; i < n; i++)
			fifo_push_locked(s, buf[i]);
		update_irq_locked(s);
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR) || (events & (POLLHUP | POLLERR))) {
		/* EOF or error: stop watching (a socket owner re-attaches via serial_set_fds). */
		if (s->in_fd >= 0 && s->host->loop)
			event_loop_remove_fd(s->host->loop, s->in_fd);
		s->in_fd = -1;
		s->in_watched = false;
	}
	if (s->count == UART_FIFO)
		watch_input_locked(s, false);
	pthread_mutex_unlock(&s->lock);
}

static const struct bus_ops serial_ops = { .read = serial_read, .write = serial_write };

void serial_set_fds(struct serial *s, int in_fd, int out_fd)
{
	pthread_mutex_lock(&s->lock);
	if (s->in_fd >= 0 && s->host->loop)
		event_loop_remove_fd(s->host->loop, s->in_fd);
	s->in_fd = in_fd;
	s->out_fd = out_fd;
	s->in_watched = false;
	backlog_flush_locked(s);
	if (in_fd >= 0 && s->host->loop &&
	    event_loop_add_fd(s->host->loop, in_fd, POLLIN, input_ready, s) == 0)
		s->in_watched = true;
	pthread_mutex_unlock(&s->lock);
}

int serial_create(const struct device_host *host, uint16_t port, uint32_t gsi, int in_fd,
		  int out_fd, struct serial **out)
{
	struct serial *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->host = host;
	s->gsi = gsi;
	s->in_fd = s->out_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	int rc = bus_register(host->pio_bus, port, 8, "serial", &serial_ops, s);
	if (rc < 0) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return rc;
	}
	serial_set_fds(s, in_fd, out_fd);
	*out = s;
	return 0;
}

void serial_destroy(struct serial *s)
{
	if (!s)
		return;
	if (s->in_fd >= 0 && s->host->loop)
		event_loop_remove_fd(s->host->loop, s->in_fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
