/* proto: frame header codec and the incremental, resynchronising frame decoder. */
#include "guest/proto/proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/byteorder.h"

/* Most bytes the decoder ever holds: one maximal frame plus the NUL after a JSON body. */
#define DECODER_LIMIT ((size_t)PROTO_HEADER_SIZE + PROTO_JSON_MAX + 1)

static const uint8_t magic_bytes[4] = { 'P', 'R', 'M', 'A' };

uint32_t proto_crc32(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t crc = 0xffffffffu;
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

/* Per type: body limit, largest flags value, exact body size if fixed (-1 none). */
struct type_rule {
	uint32_t body_max;
	uint16_t flags_max;
	int64_t exact_len;
};

static const struct type_rule type_rules[PROTO_TYPE_MAX + 1] = {
	[PROTO_REQUEST] = { PROTO_JSON_MAX, 0, -1 },
	[PROTO_RESPONSE] = { PROTO_JSON_MAX, 0, -1 },
	[PROTO_ERROR] = { PROTO_JSON_MAX, PROTO_ERROR_STREAM, -1 },
	[PROTO_STREAM] = { PROTO_STREAM_MAX, PROTO_STDERR, -1 },
	[PROTO_EOF] = { 0, PROTO_STDERR, 0 },
	[PROTO_CREDIT] = { PROTO_CREDIT_SIZE, PROTO_STDERR, PROTO_CREDIT_SIZE },
};

static int type_known(uint8_t type)
{
	return type >= 1 && type <= PROTO_TYPE_MAX;
}

uint32_t proto_body_max(uint8_t type)
{
	return type_known(type) ? type_rules[type].body_max : 0;
}

static int is_json_type(uint8_t type)
{
	return type == PROTO_REQUEST || type == PROTO_RESPONSE || type == PROTO_ERROR;
}

/* Why an intact header is refused, or NULL if it is acceptable. */
static const char *header_problem(const struct proto_header *h, char *buf, size_t size)
{
	if (h->version != PROTO_VERSION) {
		snprintf(buf, size, "unsupported protocol version %u (want %u)", h->version,
			 PROTO_VERSION);
		return buf;
	}
	if (!type_known(h->type)) {
		snprintf(buf, size, "unknown frame type %u", h->type);
		return buf;
	}
	const struct type_rule *r = &type_rules[h->type];
	if (h->length > r->body_max) {
		snprintf(buf, size, "frame type %u: body of %u bytes exceeds the limit of %u",
			 h->type, h->length, r->body_max);
		return buf;
	}
	if (r->exact_len >= 0 && h->length != (uint64_t)r->exact_len) {
		snprintf(buf, size, "frame type %u: body must be %lld bytes, got %u", h->type,
			 (long long)r->exact_len, h->length);
		return buf;
	}
	if (h->flags > r->flags_max) {
		snprintf(buf, size, "frame type %u: invalid flags 0x%x", h->type, h->flags);
		return buf;
	}
	if (h->type == PROTO_STREAM && h->length == 0) {
		snprintf(buf, size, "stream frame with an empty body (use an EOF frame)");
		return buf;
	}
	return NULL;
}

int proto_header_encode(const struct proto_header *h, uint8_t out[PROTO_HEADER_SIZE])
{
	char why[160];
	if (header_problem(h, why, sizeof(why)))
		return -EINVAL;
	memcpy(out, magic_bytes, 4);
	out[4] = h->version;
	out[5] = h->type;
	le_put16(out + 6, h->flags);
	le_put32(out + 8, h->id);
	le_put32(out + 12, h->length);
	le_put32(out + 16, proto_crc32(out, 16));
	return 0;
}

int proto_frame_encode(uint8_t type, uint16_t flags, uint32_t id, const void *body,
		       uint32_t length, uint8_t **out, size_t *out_len)
{
	struct proto_header h = { PROTO_VERSION, type, flags, id, length };
	uint8_t *buf = malloc((size_t)PROTO_HEADER_SIZE + length + 1);
	int ret;

	if (!buf)
		return -ENOMEM;
	ret = proto_header_encode(&h, buf);
	if (ret < 0) {
		free(buf);
		return ret;
	}
	if (length)
		memcpy(buf + PROTO_HEADER_SIZE, body, length);
	*out = buf;
	*out_len = PROTO_HEADER_SIZE + (size_t)length;
	return 0;
}

/* ---- decoder ---- */

void proto_decoder_init(struct proto_decoder *d)
{
	memset(d, 0, sizeof(*d));
}

void proto_decoder_destroy(struct proto_decoder *d)
{
	if (!d)
		return;
	free(d->buf);
	memset(d, 0, sizeof(*d));
}

size_t proto_decoder_buffered(const struct proto_decoder *d)
{
	return d->end - d->start;
}

/* Restore the byte a JSON body's NUL terminator overwrote, then move live data to the front. */
static void decoder_settle(struct proto_decoder *d)
{
	if (d->has_saved) {
		d->buf[d->start] = d->saved_byte;
		d->has_saved = 0;
	}
	if (d->start == d->end) {
		d->start = d->end = 0;
	} else if (d->start > 0) {
		memmove(d->buf, d->buf + d->start, d->end - d->start);
		d->end -= d->start;
		d->start = 0;
	}
}

static int decoder_reserve(struct proto_decoder *d, size_t need)
{
	if (need > DECODER_LIMIT)
		return -ENOBUFS;
	if (need <= d->cap)
		return 0;
	size_t ncap = d->cap ? d->cap : 4096;
	while (ncap < need)
		ncap *= 2;
	if (ncap > DECODER_LIMIT)
		ncap = DECODER_LIMIT;
	uint8_t *nbuf = realloc(d->buf, ncap);
	if (!nbuf)
		return -ENOMEM;
	d->buf = nbuf;
	d->cap = ncap;
	return 0;
}

int proto_decoder_space(struct proto_decoder *d, size_t want, uint8_t **area, size_t *avail)
{
	decoder_settle(d);
	size_t room = DECODER_LIMIT - d->end;
	if (room == 0)
		return -ENOBUFS;
	if (want > room)
		want = room;
	int ret = decoder_reserve(d, d->end + want);
	if (ret < 0)
		return ret;
	*area = d->buf + d->end;
	*avail = d->cap - d->end;
	return 0;
}

void proto_decoder_commit(struct proto_decoder *d, size_t n)
{
	if (n > d->cap - d->end)
		n = d->cap - d->end;
	d->end += n;
}

int proto_decoder_feed(struct proto_decoder *d, const void *data, size_t len)
{
	decoder_settle(d);
	if (len > DECODER_LIMIT - d->end)
		return -ENOBUFS;
	int ret = decoder_reserve(d, d->end + len);
	if (ret < 0)
		return ret;
	memcpy(d->buf + d->end, data, len);
	d->end += len;
	return 0;
}

/* Is there an intact header at p (magic and CRC)? */
static int header_intact(const uint8_t *p)
{
	return !memcmp(p, magic_bytes, 4) && le_get32(p + 16) == proto_crc32(p, 16);
}

/* During resynchronisation: drop bytes up to the next possible magic. */
static void skip_to_magic(struct proto_decoder *d)
{
	const uint8_t *from = d->buf + d->start + 1;
	size_t left = d->end - d->start - 1;
	const uint8_t *hit = memmem(from, left, magic_bytes, 4);
	size_t drop;

	if (hit) {
		drop = (size_t)(hit - (d->buf + d->start));
	} else {
		/* Keep a tail that could be the start of a magic split across reads. */
		size_t keep = left < 3 ? left : 3;
		drop = d->end - d->start - keep;
	}
	d->start += drop;
	d->garbage += drop;
}

enum proto_decode_status proto_decoder_next(struct proto_decoder *d, struct proto_frame *frame,
					    struct proto_fault *fault)
{
	decoder_settle(d);
	for (;;) {
		size_t avail = d->end - d->start;

		if (d->discard) {
			size_t n = avail < d->discard ? avail : (size_t)d->discard;
			d->start += n;
			d->discard -= n;
			if (d->discard)
				return PROTO_NEED_MORE;
			continue;
		}
		if (avail < PROTO_HEADER_SIZE) {
			/* Garbage that cannot begin a magic is dropped now, so a long run of
			 * garbage never sits in the buffer. */
			if (avail && memcmp(d->buf + d->start, magic_bytes, avail < 4 ? avail : 4))
				skip_to_magic(d);
			return PROTO_NEED_MORE;
		}
		const uint8_t *p = d->buf + d->start;
		if (!header_intact(p)) {
			skip_to_magic(d);
			continue;
		}
		memset(fault, 0, sizeof(*fault));
		if (d->garbage) {
			fault->skipped = d->garbage;
			snprintf(fault->reason, sizeof(fault->reason),
				 "skipped %llu bytes that were not a valid frame header",
				 (unsigned long long)d->garbage);
			d->garbage = 0;
			d->faults++;
			return PROTO_FAULT;
		}
		struct proto_header h = { p[4], p[5], le_get16(p + 6), le_get32(p + 8),
					  le_get32(p + 12) };
		if (header_problem(&h, fault->reason, sizeof(fault->reason))) {
			fault->has_id = 1;
			fault->id = h.id;
			fault->type = h.type;
			fault->skipped = PROTO_HEADER_SIZE + (uint64_t)h.length;
			d->start += PROTO_HEADER_SIZE;
			d->discard = h.length;
			d->faults++;
			return PROTO_FAULT;
		}
		if (avail < PROTO_HEADER_SIZE + (size_t)h.length) {
			/* Make sure the whole frame (and a NUL) will fit when it arrives. */
			size_t need = PROTO_HEADER_SIZE + (size_t)h.length + 1;
			if (d->start) {
				memmove(d->buf, d->buf + d->start, avail);
				d->end = avail;
				d->start = 0;
			}
			(void)decoder_reserve(d, need); /* -ENOMEM resurfaces on feed */
			return PROTO_NEED_MORE;
		}
		frame->type = h.type;
		frame->flags = h.flags;
		frame->id = h.id;
		frame->length = h.length;
		frame->body = p + PROTO_HEADER_SIZE;
		d->start += PROTO_HEADER_SIZE + h.length;
		if (is_json_type(h.type)) {
			/* NUL-terminate in place; the overwritten byte is restored next call. */
			if (d->start == d->cap && decoder_reserve(d, d->cap + 1) < 0)
				return PROTO_NEED_MORE;
			frame->body = d->buf + d->start - h.length;
			d->has_saved = d->start < d->end;
			d->saved_byte = d->has_saved ? d->buf[d->start] : 0;
			d->buf[d->start] = 0;
		}
		d->frames++;
		return PROTO_FRAME;
	}
}
