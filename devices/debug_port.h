/* debug_port: the test-only ports a guest uses to report and to end the VM.
 *
 *  - 0xe9 (debugcon, as in Bochs/QEMU): every byte written is appended to the
 *    VMM's debug log (a file or stdout), flushed at each newline; reads 0xe9
 *    (how a guest detects the port).
 *  - 0xf4 (debug exit): a byte written ends the VM; the VMM turns it into its
 *    exit status (machine_exit_for_debug_byte()).
 * KVM-selftests style: tiny guests print "key value" lines and exit with a code. */
#ifndef PARMA_DEVICES_DEBUG_PORT_H
#define PARMA_DEVICES_DEBUG_PORT_H

#include <stdint.h>

#include "devices/device.h"

struct debug_port;

/* log_fd: where debugcon bytes go (-1: dropped; not closed by the device).
 * on_exit runs on the vCPU thread that wrote port 0xf4. */
int debug_port_create(const struct device_host *host, int log_fd,
		      void (*on_exit)(void *ctx, uint8_t value), void *ctx,
		      struct debug_port **out);
/* Flush any partial line; accepts NULL. Only after the vCPUs have stopped:
 * the bus keeps pointing at the device. */
void debug_port_destroy(struct debug_port *d);

#endif
