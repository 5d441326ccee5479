/* virtio_mmio: register state machine and wiring of the virtio-mmio v2 transport. */
#include "devices/virtio_mmio.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/event_loop.h"

/* Feature bits every device gets from the transport. */
#define TRANSPORT_FEATURES                                                               \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_ACCESS_PLATFORM) |             \
	 (1ull << VIRTIO_F_INDIRECT_DESC) | (1ull << VIRTIO_F_EVENT_IDX))

void virtio_mmio_lock(struct virtio_mmio *m)
{
	pthread_mutex_lock(&m->lock);
}

void virtio_mmio_unlock(struct virtio_mmio *m)
{
	pthread_mutex_unlock(&m->lock);
}

uint64_t virtio_mmio_offered(const struct virtio_mmio *m)
{
	return m->ops->features | TRANSPORT_FEATURES;
}

bool virtio_mmio_has_feature(const struct virtio_mmio *m, unsigned bit)
{
	return bit < 64 && (m->driver_features & (1ull << bit));
}

bool virtio_mmio_running(const struct virtio_mmio *m)
{
	return m->activated && !m->failed && (m->status & VIRTIO_STATUS_DRIVER_OK);
}

int virtio_mmio_irq_fd(const struct virtio_mmio *m)
{
	return m->irq_fd;
}

/* Set interrupt bits; an edge goes out only when the line goes from idle to
 * pending, since the driver reads and acks all pending bits in one handler. */
static void raise_interrupt(struct virtio_mmio *m, uint32_t bits)
{
	uint32_t before = m->interrupt_status;
	m->interrupt_status |= bits;
	if (before == 0 && m->irq_fd >= 0) {
		uint64_t one = 1;
		ssize_t r = write(m->irq_fd, &one, sizeof(one));
		(void)r; /* EAGAIN only if the counter is saturated: already pending */
	}
}

void virtio_mmio_notify_used(struct virtio_mmio *m, uint16_t q)
{
	if (q < m->ops->num_queues && virtq_should_notify(&m->queue[q]))
		raise_interrupt(m, VIRTIO_MMIO_INT_VRING);
}

void virtio_mmio_config_changed(struct virtio_mmio *m)
{
	m->config_generation++;
	raise_interrupt(m, VIRTIO_MMIO_INT_CONFIG);
}

void virtio_mmio_fail(struct virtio_mmio *m)
{
	if (m->failed)
		return;
	m->failed = true;
	m->status |= VIRTIO_STATUS_NEEDS_RESET;
	raise_interrupt(m, VIRTIO_MMIO_INT_CONFIG);
}

static void queue_kick(struct virtio_mmio *m, uint32_t q)
{
	if (q < m->ops->num_queues && m->queue_ready[q] && virtio_mmio_running(m))
		m->ops->notify(m->dev, (uint16_t)q);
}

/* Event-loop callback of a queue's ioeventfd. */
static void on_doorbell(void *ctx, uint32_t events)
{
	struct virtio_mmio *m = ctx;
	(void)events;
	for (uint32_t q = 0; q < m->ops->num_queues; q++) {
		uint64_t v;
		if (m->notify_fd[q] < 0 || read(m->notify_fd[q], &v, sizeof(v)) != sizeof(v))
			continue;
		virtio_mmio_lock(m);
		queue_kick(m, q);
		virtio_mmio_unlock(m);
	}
}

static void device_reset(struct virtio_mmio *m)
{
	if (m->ops->reset)
		m->ops->reset(m->dev);
	for (unsigned q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++) {
		virtq_reset(&m->queue[q]);
		m->queue[q].size = m->ops->queue_max;
		m->queue_ready[q] = false;
	}
	m->status = 0;
	m->device_features_sel = 0;
	m->driver_features_sel = 0;
	m->driver_features = 0;
	m->queue_sel = 0;
	m->interrupt_status = 0;
	m->activated = false;
	m->failed = false;
}

static bool features_acceptable(const struct virtio_mmio *m)
{
	uint64_t f = m->driver_features;
	return !(f & ~virtio_mmio_offered(m)) && (f & (1ull << VIRTIO_F_VERSION_1));
}

static void status_write(struct virtio_mmio *m, uint32_t v)
{
	if (v == 0) {
		device_reset(m);
		return;
	}
	v &= 0xff & ~VIRTIO_STATUS_NEEDS_RESET;
	uint32_t old = m->status & ~VIRTIO_STATUS_NEEDS_RESET;
	/* The driver only ever adds bits (2.1.1); anything else is ignored. */
	if ((v & old) != old)
		return;
	uint32_t added = v & ~old;
	if (added & VIRTIO_STATUS_FEATURES_OK) {
		if (!(v & VIRTIO_STATUS_DRIVER) || !features_acceptable(m))
			v &= ~VIRTIO_STATUS_FEATURES_OK; /* the driver reads it back and gives up */
		else
			for (unsigned q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++) {
				m->queue[q].event_idx = virtio_mmio_has_feature(m, VIRTIO_F_EVENT_IDX);
				m->queue[q].indirect =
					virtio_mmio_has_feature(m, VIRTIO_F_INDIRECT_DESC);
			}
	}
	if ((added & VIRTIO_STATUS_DRIVER_OK) && !(v & VIRTIO_STATUS_FEATURES_OK))
		v &= ~VIRTIO_STATUS_DRIVER_OK;
	m->status = v | (m->status & VIRTIO_STATUS_NEEDS_RESET);
	if ((added & VIRTIO_STATUS_DRIVER_OK) && (v & VIRTIO_STATUS_DRIVER_OK) && !m->failed) {
		m->activated = true;
		if (m->ops->activate && m->ops->activate(m->dev) < 0)
			virtio_mmio_fail(m);
		/* Buffers may have been made available before DRIVER_OK. */
		for (uint32_t q = 0; q < m->ops->num_queues; q++)
			queue_kick(m, q);
	}
}

static void set_half(uint64_t *reg, bool high, uint32_t v)
{
	if (high)
		*reg = (*reg & 0xffffffffull) | ((uint64_t)v << 32);
	else
		*reg = (*reg & ~0xffffffffull) | v;
}

/* Queue registers may only change while the selected queue is not live. */
static struct virtq *queue_for_setup(struct virtio_mmio *m)
{
	if (m->queue_sel >= m->ops->num_queues || m->queue_ready[m->queue_sel])
		return NULL;
	if (!(m->status & VIRTIO_STATUS_FEATURES_OK) || (m->status & VIRTIO_STATUS_DRIVER_OK))
		return NULL;
	return &m->queue[m->queue_sel];
}

static void queue_ready_write(struct virtio_mmio *m, uint32_t v)
{
	uint32_t q = m->queue_sel;
	if (q >= m->ops->num_queues)
		return;
	if (v == 0) {
		/* Only before DRIVER_OK: a live queue is torn down by reset. */
		if (!(m->status & VIRTIO_STATUS_DRIVER_OK))
			m->queue_ready[q] = false;
		return;
	}
	struct virtq *vq = queue_for_setup(m);
	if (!vq)
		return;
	if (virtq_activate(vq, m->host.mem, m->ops->queue_max) < 0) {
		virtio_mmio_fail(m);
		return;
	}
	m->queue_ready[q] = true;
}

static uint32_t reg_read(struct virtio_mmio *m, uint32_t off)
{
	uint64_t feat = virtio_mmio_offered(m);
	uint32_t q = m->queue_sel;
	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE: return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION: return 2;
	case VIRTIO_MMIO_DEVICE_ID: return m->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID: return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return m->device_features_sel == 0 ? (uint32_t)feat
		     : m->device_features_sel == 1 ? (uint32_t)(feat >> 32) : 0;
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return q < m->ops->num_queues ? m->ops->queue_max : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return q < m->ops->num_queues ? m->queue_ready[q] : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS: return m->interrupt_status;
	case VIRTIO_MMIO_STATUS: return m->status;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
		return 0xffffffffu; /* no shared memory regions */
	case VIRTIO_MMIO_CONFIG_GENERATION: return m->config_generation;
	default: return 0;
	}
}

static void reg_write(struct virtio_mmio *m, uint32_t off, uint32_t v)
{
	struct virtq *vq;
	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL: m->device_features_sel = v; break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL: m->driver_features_sel = v; break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if ((m->status & VIRTIO_STATUS_DRIVER) && !(m->status & VIRTIO_STATUS_FEATURES_OK) &&
		    m->driver_features_sel < 2)
			set_half(&m->driver_features, m->driver_features_sel == 1, v);
		break;
	case VIRTIO_MMIO_QUEUE_SEL: m->queue_sel = v; break;
	case VIRTIO_MMIO_QUEUE_NUM:
		if ((vq = queue_for_setup(m)))
			vq->size = v > 0xffff ? 0 : (uint16_t)v; /* checked at QueueReady */
		break;
	case VIRTIO_MMIO_QUEUE_READY: queue_ready_write(m, v); break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		/* With ioeventfd KVM never exits for this write; without, kick here. */
		queue_kick(m, v);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK: m->interrupt_status &= ~v; break;
	case VIRTIO_MMIO_STATUS: status_write(m, v); break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		if ((vq = queue_for_setup(m)))
			set_half(&vq->desc_gpa, off == VIRTIO_MMIO_QUEUE_DESC_HIGH, v);
		break;
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
		if ((vq = queue_for_setup(m)))
			set_half(&vq->avail_gpa, off == VIRTIO_MMIO_QUEUE_DRIVER_HIGH, v);
		break;
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		if ((vq = queue_for_setup(m)))
			set_half(&vq->used_gpa, off == VIRTIO_MMIO_QUEUE_DEVICE_HIGH, v);
		break;
	default: break; /* read-only or unknown: ignored */
	}
}

void virtio_mmio_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct virtio_mmio *m = opaque;
	memset(data, 0, len);
	virtio_mmio_lock(m);
	if (off >= VIRTIO_MMIO_CONFIG) {
		uint64_t c = off - VIRTIO_MMIO_CONFIG;
		if (len <= 8 && c < m->ops->config_size && len <= m->ops->config_size - c)
			m->ops->config_read(m->dev, (uint32_t)c, data, len);
	} else if (len == 4 && !(off & 3)) {
		uint32_t v = htole32(reg_read(m, (uint32_t)off));
		memcpy(data, &v, 4);
	}
	virtio_mmio_unlock(m);
}

void virtio_mmio_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct virtio_mmio *m = opaque;
	virtio_mmio_lock(m);
	if (off >= VIRTIO_MMIO_CONFIG) {
		uint64_t c = off - VIRTIO_MMIO_CONFIG;
		if (m->ops->config_write && len <= 8 && c < m->ops->config_size &&
		    len <= m->ops->config_size - c)
			m->ops->config_write(m->dev, (uint32_t)c, data, len);
	} else if (len == 4 && !(off & 3)) {
		uint32_t v;
		memcpy(&v, data, 4);
		reg_write(m, (uint32_t)off, le32toh(v));
	}
	virtio_mmio_unlock(m);
}

static const struct bus_ops virtio_mmio_bus_ops = {
	.read = virtio_mmio_read,
	.write = virtio_mmio_write,
};

/* Wire queue doorbells to ioeventfds serviced by the event loop, if both exist. */
static int wire_doorbells(struct virtio_mmio *m, struct errbuf *eb)
{
	if (!m->host.ioeventfd_add || !m->host.loop)
		return 0;
	for (uint32_t q = 0; q < m->ops->num_queues; q++) {
		int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (fd < 0)
			return errbuf_set(eb, errno, "virtio-mmio: eventfd: %s", strerror(errno));
		int r = m->host.ioeventfd_add(m->host.vm, m->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, q, fd);
		if (r == -ENOTSUP || r == -EOPNOTSUPP) {
			close(fd);
			return 0; /* fall back to the bus write */
		}
		if (r < 0) {
			close(fd);
			return errbuf_set(eb, -r, "virtio-mmio at %#llx: ioeventfd for queue %u: %s",
					  (unsigned long long)m->base, q, strerror(-r));
		}
		m->notify_fd[q] = fd;
		r = event_loop_add_fd(m->host.loop, fd, POLLIN, on_doorbell, m);
		if (r < 0)
			return errbuf_set(eb, -r, "virtio-mmio: event loop: %s", strerror(-r));
	}
	m->use_ioeventfd = true;
	return 0;
}

int virtio_mmio_init(struct virtio_mmio *m, const struct device_host *host, uint64_t base,
		     uint32_t gsi, const struct virtio_device_ops *ops, void *dev,
		     struct errbuf *eb)
{
	if (ops->num_queues == 0 || ops->num_queues > VIRTIO_MMIO_MAX_QUEUES ||
	    ops->queue_max == 0 || ops->queue_max > VIRTQ_MAX_SIZE ||
	    (ops->queue_max & (ops->queue_max - 1)) ||
	    ops->config_size > VIRTIO_MMIO_WINDOW - VIRTIO_MMIO_CONFIG || !ops->notify ||
	    (ops->config_size && !ops->config_read))
		return errbuf_set(eb, EINVAL, "virtio-mmio: invalid device description");
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	m->ops = ops;
	m->dev = dev;
	m->host = *host;
	m->base = base;
	m->gsi = gsi;
	m->irq_fd = -1;
	for (unsigned q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++) {
		m->notify_fd[q] = -1;
		m->queue[q].size = ops->queue_max;
	}
	int r;
	if (host->irqfd_create) {
		m->irq_fd = host->irqfd_create(host->vm, gsi);
		if (m->irq_fd < 0) {
			r = errbuf_set(eb, -m->irq_fd, "virtio-mmio: irqfd for GSI %u: %s", gsi,
				       strerror(-m->irq_fd));
			goto fail;
		}
	} else {
		m->irq_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (m->irq_fd < 0) {
			r = errbuf_set(eb, errno, "virtio-mmio: eventfd: %s", strerror(errno));
			goto fail;
		}
	}
	r = wire_doorbells(m, eb);
	if (r < 0)
		goto fail;
	if (host->mmio_bus) {
		r = bus_register(host->mmio_bus, base, VIRTIO_MMIO_WINDOW, "virtio-mmio",
				 &virtio_mmio_bus_ops, m);
		if (r < 0) {
			errbuf_set(eb, -r, "virtio-mmio: window %#llx+%#x is taken or invalid",
				   (unsigned long long)base, VIRTIO_MMIO_WINDOW);
			goto fail;
		}
	}
	return 0;
fail:
	virtio_mmio_destroy(m);
	return r;
}

void virtio_mmio_destroy(struct virtio_mmio *m)
{
	if (!m || !m->ops)
		return;
	for (uint32_t q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++) {
		if (m->notify_fd[q] < 0)
			continue;
		if (m->host.loop)
			event_loop_remove_fd(m->host.loop, m->notify_fd[q]);
		if (m->host.ioeventfd_del)
			m->host.ioeventfd_del(m->host.vm, m->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, q,
					      m->notify_fd[q]);
		close(m->notify_fd[q]);
		m->notify_fd[q] = -1;
	}
	if (m->irq_fd >= 0)
		close(m->irq_fd);
	m->irq_fd = -1;
	pthread_mutex_destroy(&m->lock);
	m->ops = NULL;
}
