/* virtqueue: split-ring device side. See virtqueue.h for the rules.
 *
 * Memory ordering (virtio 1.2, 2.7.7 / 2.7.13): the avail index is read with
 * acquire semantics before the ring entry and descriptors it publishes; a used
 * element is written before the used index is stored with release semantics;
 * a full fence separates publishing used.idx (or avail_event) from reading the
 * driver's suppression fields, so neither side can miss the other's update. */
#include "devices/virtqueue.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

static inline uint16_t load16(const void *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED));
}

static inline uint16_t load16_acquire(const void *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE));
}

static inline void store16(void *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)p, htole16(v), __ATOMIC_RELAXED);
}

static inline void store32(void *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)p, htole32(v), __ATOMIC_RELAXED);
}

/* Read one descriptor exactly once into host memory. */
static struct virtq_desc desc_read(const struct virtq_desc *table, uint16_t i)
{
	const volatile struct virtq_desc *d = &table[i];
	return (struct virtq_desc){
		.addr = le64toh(d->addr),
		.len = le32toh(d->len),
		.flags = le16toh(d->flags),
		.next = le16toh(d->next),
	};
}

int virtq_activate(struct virtq *q, const struct guest_mem *mem, uint16_t max_size)
{
	uint16_t n = q->size;
	q->active = false;
	if (!n || n > max_size || n > VIRTQ_MAX_SIZE || (n & (n - 1)))
		return -EINVAL;
	if ((q->desc_gpa & 15) || (q->avail_gpa & 1) || (q->used_gpa & 3))
		return -EINVAL;
	q->desc = guest_mem_ptr(mem, q->desc_gpa, 16ull * n);
	q->avail = guest_mem_ptr(mem, q->avail_gpa, 6ull + 2ull * n);
	q->used = guest_mem_ptr(mem, q->used_gpa, 6ull + 8ull * n);
	if (!q->desc || !q->avail || !q->used)
		return -EINVAL;
	/* Host mappings keep the guest's alignment only if regions are aligned. */
	if (((uintptr_t)q->desc & 7) || ((uintptr_t)q->avail & 1) || ((uintptr_t)q->used & 3))
		return -EINVAL;
	q->mem = mem;
	q->last_avail = 0;
	q->used_idx = 0;
	q->signalled_used = 0;
	q->signalled_valid = false;
	q->active = true;
	return 0;
}

void virtq_reset(struct virtq *q)
{
	memset(q, 0, sizeof(*q));
}

/* Walk the chain starting at `head` into c. */
static int chain_walk(struct virtq *q, uint16_t head, struct virtq_chain *c)
{
	const struct virtq_desc *table = q->desc;
	uint32_t table_size = q->size;
	uint32_t count = 0;
	uint64_t out_len = 0, in_len = 0;
	unsigned n = 0;
	bool indirect = false;
	uint16_t i = head;

	c->head = head;
	c->n_out = c->n_in = 0;
	for (;;) {
		/* A chain visits each descriptor of its table at most once: more
		 * steps than entries means a loop. */
		if (++count > table_size)
			return -EINVAL;
		struct virtq_desc d = desc_read(table, i);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			/* Only as the sole descriptor of a chain, never nested. */
			if (!q->indirect || indirect || count != 1 || (d.flags & VIRTQ_DESC_F_NEXT))
				return -EINVAL;
			if (d.len == 0 || d.len % sizeof(struct virtq_desc) ||
			    d.len / sizeof(struct virtq_desc) > VIRTQ_MAX_CHAIN)
				return -EINVAL;
			table = guest_mem_ptr(q->mem, d.addr, d.len);
			if (!table || ((uintptr_t)table & 7))
				return -EINVAL;
			table_size = d.len / sizeof(struct virtq_desc);
			indirect = true;
			count = 0;
			i = 0;
			continue;
		}
		if (d.len) {
			void *p = guest_mem_ptr(q->mem, d.addr, d.len);
			if (!p || n >= VIRTQ_MAX_CHAIN)
				return -EINVAL;
			if (d.flags & VIRTQ_DESC_F_WRITE) {
				in_len += d.len;
				if (in_len > VIRTQ_MAX_CHAIN_BYTES)
					return -EINVAL;
				c->n_in++;
			} else {
				/* Device-readable buffers must all precede writable ones. */
				if (c->n_in)
					return -EINVAL;
				out_len += d.len;
				if (out_len > VIRTQ_MAX_CHAIN_BYTES)
					return -EINVAL;
				c->n_out++;
			}
			c->iov[n].iov_base = p;
			c->iov[n].iov_len = d.len;
			n++;
		} else if (!(d.flags & VIRTQ_DESC_F_WRITE) && c->n_in) {
			return -EINVAL;
		}
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		i = d.next;
		if (i >= table_size)
			return -EINVAL;
	}
	c->out_len = (uint32_t)out_len;
	c->in_len = (uint32_t)in_len;
	return 0;
}

int virtq_pop(struct virtq *q, struct virtq_chain *c)
{
	if (!q->active)
		return 0;
	uint16_t avail_idx = load16_acquire(&q->avail[1]);
	if (avail_idx == q->last_avail)
		return 0;
	/* The driver cannot have more than `size` entries outstanding. */
	if ((uint16_t)(avail_idx - q->last_avail) > q->size)
		return -EINVAL;
	uint16_t head = load16(&q->avail[2 + (q->last_avail & (q->size - 1))]);
	if (head >= q->size)
		return -EINVAL;
	int r = chain_walk(q, head, c);
	if (r < 0)
		return r;
	q->last_avail++;
	return 1;
}

void virtq_unpop(struct virtq *q)
{
	q->last_avail--;
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t written)
{
	if (!q->active)
		return;
	uint8_t *elem = q->used + 4 + 8u * (q->used_idx & (q->size - 1));
	store32(elem, head);
	store32(elem + 4, written);
	q->used_idx++;
	__atomic_store_n((uint16_t *)(q->used + 2), htole16(q->used_idx), __ATOMIC_RELEASE);
}

bool virtq_should_notify(struct virtq *q)
{
	if (!q->active)
		return false;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint16_t old = q->signalled_used, new = q->used_idx;
	bool valid = q->signalled_valid;
	q->signalled_used = new;
	q->signalled_valid = true;
	if (old == new)
		return false; /* nothing pushed since the last signal (or since activation) */
	if (!q->event_idx)
		return !(load16(&q->avail[0]) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	if (!valid)
		return true;
	uint16_t used_event = load16(&q->avail[2 + q->size]);
	/* vring_need_event(): did new pass used_event since old? */
	return (uint16_t)(new - used_event - 1) < (uint16_t)(new - old);
}

bool virtq_enable_notify(struct virtq *q)
{
	if (!q->active)
		return false;
	if (q->event_idx)
		store16(q->used + 4 + 8u * q->size, q->last_avail);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return load16_acquire(&q->avail[1]) != q->last_avail;
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len)
{
	size_t done = 0;
	for (unsigned i = 0; i < n && done < len; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		size_t take = iov[i].iov_len - skip;
		if (take > len - done)
			take = len - done;
		memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + skip, take);
		done += take;
		skip = 0;
	}
	return done;
}

size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t skip, const void *buf,
		    size_t len)
{
	size_t done = 0;
	for (unsigned i = 0; i < n && done < len; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		size_t take = iov[i].iov_len - skip;
		if (take > len - done)
			take = len - done;
		memcpy((uint8_t *)iov[i].iov_base + skip, (const uint8_t *)buf + done, take);
		done += take;
		skip = 0;
	}
	return done;
}

int iov_slice(const struct iovec *iov, unsigned n, size_t skip, size_t len,
	      struct iovec *out, unsigned max)
{
	unsigned k = 0;
	for (unsigned i = 0; i < n && len; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		size_t take = iov[i].iov_len - skip;
		if (take > len)
			take = len;
		if (k >= max)
			return -E2BIG;
		out[k].iov_base = (uint8_t *)iov[i].iov_base + skip;
		out[k].iov_len = take;
		k++;
		len -= take;
		skip = 0;
	}
	return len ? -EINVAL : (int)k;
}
