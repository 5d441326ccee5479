/* acpi_sleep: the hardware-reduced ACPI sleep registers (ACPI 6.5, 4.8.3.7).
 * The FADT points SLEEP_CONTROL_REG at port 0x600 and SLEEP_STATUS_REG at 0x601
 * (common/guest_abi/layout.h); a guest powering off writes SLP_EN | (SLP_TYP << 2) with the
 * \_S5 value, which ends the VM with "powered off". Other sleep states are not
 * offered (no wake sources); writes naming them are ignored. */
#ifndef PARMA_DEVICES_ACPI_SLEEP_H
#define PARMA_DEVICES_ACPI_SLEEP_H

#include "devices/device.h"

struct acpi_sleep;

int acpi_sleep_create(const struct device_host *host, void (*on_poweroff)(void *ctx), void *ctx,
		      struct acpi_sleep **out);
void acpi_sleep_destroy(struct acpi_sleep *s);

#endif
