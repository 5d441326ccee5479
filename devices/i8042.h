/* i8042: just enough of the PC keyboard controller for a guest to reset the
 * machine: writing command 0xfe (pulse reset line) to port 0x64 ends the VM
 * with "reset" (Linux `reboot=k`, the default fallback). Status reads return
 * "input buffer empty", data reads 0; every other command is ignored. */
#ifndef PARMA_DEVICES_I8042_H
#define PARMA_DEVICES_I8042_H

#include "devices/device.h"

struct i8042;

int i8042_create(const struct device_host *host, void (*on_reset)(void *ctx), void *ctx,
		 struct i8042 **out);
void i8042_destroy(struct i8042 *k);

#endif
