/* sim_guest: a simulated guest for device tests and benchmarks — malloc'd RAM
 * in a struct guest_mem, an MMIO bus, and a tiny virtio-mmio driver that
 * speaks to the device only through register accesses and shared rings, as a
 * guest kernel would. Not a device model: test code only. */
#ifndef PARMA_TESTS_SIM_GUEST_H
#define PARMA_TESTS_SIM_GUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/device.h"
#include "devices/guest_mem.h"
#include "devices/virtqueue.h"

#define SIM_RAM_BASE 0x100000ull /* gpa 0 is outside RAM on purpose */

#define SIM_MAX_IOEVENTFDS 16

struct sim_ioeventfd {
	uint64_t gpa, value;
	int fd;
};

struct sim_guest {
	struct guest_mem mem;
	struct bus mmio;
	struct device_host host;
	uint8_t *ram;
	uint64_t size;
	uint64_t next; /* bump allocator (gpa) */
	struct sim_ioeventfd ioeventfd[SIM_MAX_IOEVENTFDS];
	unsigned n_ioeventfd;
};

struct sim_queue {
	uint16_t size;
	uint64_t desc, avail, used; /* gpas */
	uint16_t avail_idx;
	uint16_t last_used;
	uint16_t next_desc; /* simple descriptor allocator: round robin */
};

int sim_guest_init(struct sim_guest *g, uint64_t size);
void sim_guest_free(struct sim_guest *g);
/* Offer devices ioeventfd doorbells, as KVM does: sim_kick() then signals the
 * queue's eventfd and the device runs on the event loop, not in the caller.
 * Call before creating devices; host.vm points back to g. */
void sim_guest_enable_ioeventfd(struct sim_guest *g);
uint64_t sim_alloc(struct sim_guest *g, uint64_t size, uint64_t align);
void *sim_ptr(struct sim_guest *g, uint64_t gpa);

uint32_t sim_read32(struct sim_guest *g, uint64_t base, uint32_t off);
void sim_write32(struct sim_guest *g, uint64_t base, uint32_t off, uint32_t v);

/* Allocate rings for a queue of `size` entries in guest RAM. */
void sim_queue_alloc(struct sim_guest *g, struct sim_queue *q, uint16_t size);

/* Full driver init: reset, ACK, DRIVER, negotiate (device features & want),
 * FEATURES_OK, set up nq queues, DRIVER_OK. Returns the status read back. */
uint32_t sim_driver_init(struct sim_guest *g, uint64_t base, uint64_t want,
			 struct sim_queue *qs, unsigned nq);

void sim_desc(struct sim_guest *g, struct sim_queue *q, uint16_t i, uint64_t addr,
	      uint32_t len, uint16_t flags, uint16_t next);
/* Publish `head` in the avail ring (does not kick). */
void sim_publish(struct sim_guest *g, struct sim_queue *q, uint16_t head);
void sim_kick(struct sim_guest *g, uint64_t base, uint16_t qi);
/* Next used element: returns true and fills id/len if one is there. */
bool sim_used(struct sim_guest *g, struct sim_queue *q, uint32_t *id, uint32_t *len);

/* Block until queue q has a used element (true) or timeout_ms passes (false),
 * the way a guest driver does it: check the ring, then (event index already
 * asks for an interrupt on the next entry) check again after a full fence,
 * and only then sleep on the interrupt eventfd, acknowledging it on wake. */
bool sim_wait_used(struct sim_guest *g, struct sim_queue *q, uint64_t base, int irq_fd,
		   int timeout_ms);

/* Submit a chain of n buffers (gpa, len, writable) as descriptors
 * [first, first+n) and publish it; returns the head. */
uint16_t sim_chain(struct sim_guest *g, struct sim_queue *q, const uint64_t *gpa,
		   const uint32_t *len, const bool *writable, unsigned n);

#endif
