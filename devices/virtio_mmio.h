/* virtio_mmio: the virtio-mmio version 2 ("modern") transport (virtio 1.2, 4.2.2).
 *
 * One 4 KiB register window per device on the MMIO bus. The transport owns the
 * register state machine (status, feature negotiation, queue setup, reset,
 * interrupt status/ack, config generation) and the wiring: queue doorbells
 * arrive through one ioeventfd per queue when the host offers KVM_IOEVENTFD
 * (handled on the event loop), otherwise inside the bus write on the vCPU
 * thread; interrupts go out through an irqfd (edge-triggered GSI).
 *
 * A device model (virtio_blk, virtio_vsock) embeds a `struct virtio_mmio`, fills
 * a `struct virtio_device_ops` and is called back with the transport lock held:
 * register accesses, doorbells and the device's own completions (which take the
 * lock with virtio_mmio_lock()) never run concurrently. Every feature set
 * includes VIRTIO_F_VERSION_1 and VIRTIO_F_ACCESS_PLATFORM; legacy (version 1)
 * drivers are not served. */
#ifndef PARMA_DEVICES_VIRTIO_MMIO_H
#define PARMA_DEVICES_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/errbuf.h"
#include "devices/device.h"
#include "devices/virtqueue.h"

#define VIRTIO_MMIO_WINDOW 0x1000u
#define VIRTIO_MMIO_CONFIG 0x100u
#define VIRTIO_MMIO_MAX_QUEUES 9u  /* virtio-blk: up to 8 request queues; vsock: 3 */

#define VIRTIO_MMIO_MAGIC 0x74726976u /* "virt" */
#define VIRTIO_MMIO_VENDOR 0x4d524150u /* "PARM" */

/* Register offsets (virtio 1.2, table 4.1). */
enum virtio_mmio_reg {
	VIRTIO_MMIO_MAGIC_VALUE = 0x000,
	VIRTIO_MMIO_VERSION = 0x004,
	VIRTIO_MMIO_DEVICE_ID = 0x008,
	VIRTIO_MMIO_VENDOR_ID = 0x00c,
	VIRTIO_MMIO_DEVICE_FEATURES = 0x010,
	VIRTIO_MMIO_DEVICE_FEATURES_SEL = 0x014,
	VIRTIO_MMIO_DRIVER_FEATURES = 0x020,
	VIRTIO_MMIO_DRIVER_FEATURES_SEL = 0x024,
	VIRTIO_MMIO_QUEUE_SEL = 0x030,
	VIRTIO_MMIO_QUEUE_NUM_MAX = 0x034,
	VIRTIO_MMIO_QUEUE_NUM = 0x038,
	VIRTIO_MMIO_QUEUE_READY = 0x044,
	VIRTIO_MMIO_QUEUE_NOTIFY = 0x050,
	VIRTIO_MMIO_INTERRUPT_STATUS = 0x060,
	VIRTIO_MMIO_INTERRUPT_ACK = 0x064,
	VIRTIO_MMIO_STATUS = 0x070,
	VIRTIO_MMIO_QUEUE_DESC_LOW = 0x080,
	VIRTIO_MMIO_QUEUE_DESC_HIGH = 0x084,
	VIRTIO_MMIO_QUEUE_DRIVER_LOW = 0x090,
	VIRTIO_MMIO_QUEUE_DRIVER_HIGH = 0x094,
	VIRTIO_MMIO_QUEUE_DEVICE_LOW = 0x0a0,
	VIRTIO_MMIO_QUEUE_DEVICE_HIGH = 0x0a4,
	VIRTIO_MMIO_SHM_SEL = 0x0ac,
	VIRTIO_MMIO_SHM_LEN_LOW = 0x0b0,
	VIRTIO_MMIO_SHM_LEN_HIGH = 0x0b4,
	VIRTIO_MMIO_SHM_BASE_LOW = 0x0b8,
	VIRTIO_MMIO_SHM_BASE_HIGH = 0x0bc,
	VIRTIO_MMIO_QUEUE_RESET = 0x0c0,
	VIRTIO_MMIO_CONFIG_GENERATION = 0x0fc,
};

/* Device status bits (virtio 1.2, 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1u
#define VIRTIO_STATUS_DRIVER 2u
#define VIRTIO_STATUS_DRIVER_OK 4u
#define VIRTIO_STATUS_FEATURES_OK 8u
#define VIRTIO_STATUS_NEEDS_RESET 64u
#define VIRTIO_STATUS_FAILED 128u

#define VIRTIO_MMIO_INT_VRING 1u
#define VIRTIO_MMIO_INT_CONFIG 2u

#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33

#define VIRTIO_ID_BLOCK 2u
#define VIRTIO_ID_VSOCK 19u

struct virtio_device_ops {
	uint32_t device_id;
	uint64_t features;      /* device-specific bits offered (transport adds its own) */
	uint16_t num_queues;
	uint16_t queue_max;     /* <= VIRTQ_MAX_SIZE, power of two */
	/* Read `len` bytes of config space at `off` (the transport checked the range). */
	void (*config_read)(void *dev, uint32_t off, void *data, uint32_t len);
	/* Optional: driver writes to config space (range checked). */
	void (*config_write)(void *dev, uint32_t off, const void *data, uint32_t len);
	uint32_t config_size;
	/* DRIVER_OK: queues are mapped; negative return puts the device in NEEDS_RESET. */
	int (*activate)(void *dev);
	/* The driver kicked queue `q` (only after activate, never when failed). */
	void (*notify)(void *dev, uint16_t q);
	/* Device reset: stop all I/O that could still touch guest memory, then
	 * forget all state. Must not fail. */
	void (*reset)(void *dev);
};

struct virtio_mmio {
	pthread_mutex_t lock;
	const struct virtio_device_ops *ops;
	void *dev;
	struct device_host host;
	uint64_t base;
	uint32_t gsi;
	int irq_fd;
	int notify_fd[VIRTIO_MMIO_MAX_QUEUES]; /* ioeventfds, -1 when not used */
	bool use_ioeventfd;

	uint32_t status;
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint64_t driver_features;
	uint32_t queue_sel;
	uint32_t interrupt_status;
	uint32_t config_generation;
	bool activated;
	bool failed; /* DEVICE_NEEDS_RESET set: no more queue processing */
	struct virtq queue[VIRTIO_MMIO_MAX_QUEUES];
	bool queue_ready[VIRTIO_MMIO_MAX_QUEUES];
};

/* Set up the transport for a device and claim [base, base+4 KiB) on the MMIO
 * bus. Interrupts go to `gsi`. Returns 0 or -errno with a message in eb. */
int virtio_mmio_init(struct virtio_mmio *m, const struct device_host *host, uint64_t base,
		     uint32_t gsi, const struct virtio_device_ops *ops, void *dev,
		     struct errbuf *eb);

/* Release fds and event-loop registrations (the bus range stays claimed). */
void virtio_mmio_destroy(struct virtio_mmio *m);

void virtio_mmio_lock(struct virtio_mmio *m);
void virtio_mmio_unlock(struct virtio_mmio *m);

/* All offered feature bits (device + transport). */
uint64_t virtio_mmio_offered(const struct virtio_mmio *m);
/* True if the driver negotiated feature bit `bit`. */
bool virtio_mmio_has_feature(const struct virtio_mmio *m, unsigned bit);

/* Lock held. After pushing used buffers on queue q: raise the vring
 * interrupt if the driver's suppression settings ask for one. */
void virtio_mmio_notify_used(struct virtio_mmio *m, uint16_t q);
/* Lock held. Config space changed: bump the generation, raise the config interrupt. */
void virtio_mmio_config_changed(struct virtio_mmio *m);
/* Lock held. The driver broke the protocol: set DEVICE_NEEDS_RESET, raise the
 * config interrupt, stop processing until the driver resets the device. */
void virtio_mmio_fail(struct virtio_mmio *m);
/* True if the device is running (DRIVER_OK, activated, not failed). */
bool virtio_mmio_running(const struct virtio_mmio *m);

/* The irqfd (or test eventfd) written on every interrupt edge. */
int virtio_mmio_irq_fd(const struct virtio_mmio *m);

/* Bus callbacks, exposed for tests that drive the registers directly. */
void virtio_mmio_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
void virtio_mmio_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);

#endif
