/* serial: a 16550A UART (COM1, port 0x3f8, IRQ 4) for the guest console.
 *
 * Transmit goes straight to `out_fd` (stdout, a file, or a connected Unix
 * socket client); received bytes come from `in_fd` through the event loop into
 * a 64-byte FIFO with flow control (the fd is not read while the FIFO is full),
 * so a flood of input cannot grow memory. While no output is attached (a socket
 * console nobody has connected to yet) the last SERIAL_BACKLOG bytes are kept
 * and handed to the next output attached, so a late client still sees the boot log. Implements the registers Linux's
 * 8250 driver and firmware use: RBR/THR, IER, IIR/FCR, LCR (DLAB), MCR
 * (loopback), LSR, MSR, SCR, and DLL/DLM; the interrupt is a level on the
 * in-kernel IOAPIC via device_host.irq_line. */
#ifndef PARMA_DEVICES_SERIAL_H
#define PARMA_DEVICES_SERIAL_H

#include <stdint.h>

#include "devices/device.h"

#define SERIAL_BACKLOG 16384

struct serial;

/* in_fd/out_fd: -1 for none. The device does not close them. */
int serial_create(const struct device_host *host, uint16_t port, uint32_t gsi, int in_fd,
		  int out_fd, struct serial **out);
/* Swap the output/input fds (a socket client connected or left); -1 for none. */
void serial_set_fds(struct serial *s, int in_fd, int out_fd);
/* Only after the vCPUs stopped (the bus keeps pointing at it); accepts NULL. */
void serial_destroy(struct serial *s);

#endif
