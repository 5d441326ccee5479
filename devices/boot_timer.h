/* boot_timer: a probe that timestamps guest boot milestones (Firecracker's boot
 * timer, on a port). The guest writes a 32-bit milestone id to port 0x440
 * (common/guest_abi/layout.h); the device records the id and the nanoseconds elapsed since
 * `t0_ns` (CLOCK_MONOTONIC, usually the VMM process start). Milestone ids are
 * the guest's choice; the test payload writes 1 as its very first instruction
 * ("first guest instruction") and Linux userspace may write any id via
 * /dev/port. At most BOOT_TIMER_MAX records are kept; later ones are counted
 * but dropped. */
#ifndef PARMA_DEVICES_BOOT_TIMER_H
#define PARMA_DEVICES_BOOT_TIMER_H

#include <stdint.h>

#include "devices/device.h"

#define BOOT_TIMER_MAX 64

struct boot_timer_mark {
	uint32_t id;
	uint64_t ns; /* since t0 */
};

struct boot_timer;

int boot_timer_create(const struct device_host *host, uint64_t t0_ns, struct boot_timer **out);
void boot_timer_destroy(struct boot_timer *t);

/* Copy up to max records (in arrival order) and return how many were recorded
 * in total (may exceed max). */
unsigned boot_timer_marks(struct boot_timer *t, struct boot_timer_mark *out, unsigned max);

/* CLOCK_MONOTONIC now, in ns. */
uint64_t boot_timer_now_ns(void);

#endif
