/* Unit tests of the wire protocol codec: round trips, split input, limits, resynchronisation. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "guest/proto/proto.h"

/* A growing byte string. */
struct bytes {
	uint8_t *p;
	size_t n;
};

static void bytes_add(struct bytes *b, const void *data, size_t len)
{
	b->p = realloc(b->p, b->n + len + 1);
	assert_non_null(b->p);
	memcpy(b->p + b->n, data, len);
	b->n += len;
}

static void add_frame(struct bytes *b, uint8_t type, uint16_t flags, uint32_t id,
		      const void *body, uint32_t len)
{
	uint8_t *f;
	size_t fl;
	assert_int_equal(proto_frame_encode(type, flags, id, body, len, &f, &fl), 0);
	bytes_add(b, f, fl);
	free(f);
}

/* A header with arbitrary (possibly invalid) fields and a correct CRC. */
static void add_raw_header(struct bytes *b, uint8_t version, uint8_t type, uint16_t flags,
			   uint32_t id, uint32_t len)
{
	uint8_t h[PROTO_HEADER_SIZE] = { 'P', 'R', 'M', 'A', version, type, (uint8_t)flags,
					 (uint8_t)(flags >> 8) };
	for (int i = 0; i < 4; i++) {
		h[8 + i] = (uint8_t)(id >> (8 * i));
		h[12 + i] = (uint8_t)(len >> (8 * i));
	}
	uint32_t crc = proto_crc32(h, 16);
	for (int i = 0; i < 4; i++)
		h[16 + i] = (uint8_t)(crc >> (8 * i));
	bytes_add(b, h, sizeof(h));
}

struct event {
	int status;
	uint8_t type;
	uint16_t flags;
	uint32_t id;
	uint32_t len;
	char body[256];
	int has_id;
	uint64_t skipped;
};

/* Feed `in` in chunks of `chunk` bytes and collect every event. */
static size_t decode_all(const struct bytes *in, size_t chunk, struct event *ev, size_t max)
{
	struct proto_decoder d;
	size_t n = 0, off = 0;
	proto_decoder_init(&d);
	while (off < in->n) {
		size_t len = in->n - off < chunk ? in->n - off : chunk;
		assert_int_equal(proto_decoder_feed(&d, in->p + off, len), 0);
		off += len;
		for (;;) {
			struct proto_frame f;
			struct proto_fault fault;
			int st = proto_decoder_next(&d, &f, &fault);
			if (st == PROTO_NEED_MORE)
				break;
			assert_true(n < max);
			memset(&ev[n], 0, sizeof(ev[n]));
			ev[n].status = st;
			if (st == PROTO_FRAME) {
				ev[n].type = f.type;
				ev[n].flags = f.flags;
				ev[n].id = f.id;
				ev[n].len = f.length;
				memcpy(ev[n].body, f.body,
				       f.length < sizeof(ev[n].body) - 1 ? f.length
									 : sizeof(ev[n].body) - 1);
				if (f.type <= PROTO_ERROR)
					assert_int_equal(f.body[f.length], 0);
			} else {
				ev[n].has_id = fault.has_id;
				ev[n].id = fault.id;
				ev[n].type = fault.type;
				ev[n].skipped = fault.skipped;
				assert_true(fault.reason[0] != 0);
			}
			n++;
		}
	}
	proto_decoder_destroy(&d);
	return n;
}

static void proto_roundtrip_every_split(void **state)
{
	(void)state;
	struct bytes in = { 0 };
	const char *req = "{\"type\":\"ping\"}";
	add_frame(&in, PROTO_REQUEST, 0, 7, req, (uint32_t)strlen(req));
	add_frame(&in, PROTO_STREAM, PROTO_STDOUT, 3, "hello", 5);
	add_frame(&in, PROTO_EOF, PROTO_STDERR, 3, NULL, 0);
	uint8_t credit[4] = { 0, 0x10, 0, 0 };
	add_frame(&in, PROTO_CREDIT, PROTO_STDIN, 9, credit, 4);
	add_frame(&in, PROTO_RESPONSE, 0, 0xffffffffu, "{}", 2);

	for (size_t chunk = 1; chunk <= in.n; chunk++) {
		struct event ev[8];
		size_t n = decode_all(&in, chunk, ev, 8);
		assert_int_equal(n, 5);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(ev[i].status, PROTO_FRAME);
		assert_int_equal(ev[0].type, PROTO_REQUEST);
		assert_int_equal(ev[0].id, 7);
		assert_string_equal(ev[0].body, req);
		assert_int_equal(ev[1].type, PROTO_STREAM);
		assert_int_equal(ev[1].flags, PROTO_STDOUT);
		assert_int_equal(ev[1].len, 5);
		assert_memory_equal(ev[1].body, "hello", 5);
		assert_int_equal(ev[2].type, PROTO_EOF);
		assert_int_equal(ev[2].flags, PROTO_STDERR);
		assert_int_equal(ev[3].type, PROTO_CREDIT);
		assert_memory_equal(ev[3].body, credit, 4);
		assert_int_equal(ev[4].id, 0xffffffffu);
		assert_string_equal(ev[4].body, "{}");
	}
	free(in.p);
}

static void proto_encoder_refuses_limits(void **state)
{
	(void)state;
	uint8_t *f = NULL;
	size_t fl;
	static uint8_t big[PROTO_STREAM_MAX + 1];
	assert_int_equal(proto_frame_encode(PROTO_STREAM, 1, 1, big, sizeof(big), &f, &fl), -EINVAL);
	assert_int_equal(proto_frame_encode(PROTO_STREAM, 3, 1, "x", 1, &f, &fl), -EINVAL);
	assert_int_equal(proto_frame_encode(PROTO_REQUEST, 1, 1, "{}", 2, &f, &fl), -EINVAL);
	assert_int_equal(proto_frame_encode(PROTO_CREDIT, 0, 1, "abc", 3, &f, &fl), -EINVAL);
	assert_int_equal(proto_frame_encode(9, 0, 1, NULL, 0, &f, &fl), -EINVAL);
	assert_int_equal(proto_frame_encode(PROTO_STREAM, 0, 1, NULL, 0, &f, &fl), -EINVAL);
	assert_null(f);
}

/* Garbage before, between and after frames: every good frame still arrives, each garbage run
 * is reported once with its exact length. */
static void proto_resyncs_after_garbage(void **state)
{
	(void)state;
	struct bytes in = { 0 };
	bytes_add(&in, "xxPRMAjunk", 10); /* includes a fake magic with a bad CRC */
	add_frame(&in, PROTO_REQUEST, 0, 1, "{\"a\":1}", 7);
	uint8_t noise[100];
	for (size_t i = 0; i < sizeof(noise); i++)
		noise[i] = (uint8_t)(i * 37 + 11);
	bytes_add(&in, noise, sizeof(noise));
	add_frame(&in, PROTO_REQUEST, 0, 2, "{\"b\":2}", 7);

	for (size_t chunk = 1; chunk <= in.n; chunk += 3) {
		struct event ev[8];
		size_t n = decode_all(&in, chunk, ev, 8);
		assert_int_equal(n, 4);
		assert_int_equal(ev[0].status, PROTO_FAULT);
		assert_int_equal(ev[0].has_id, 0);
		assert_int_equal(ev[0].skipped, 10);
		assert_int_equal(ev[1].status, PROTO_FRAME);
		assert_int_equal(ev[1].id, 1);
		assert_int_equal(ev[2].status, PROTO_FAULT);
		assert_int_equal(ev[2].skipped, 100);
		assert_int_equal(ev[3].status, PROTO_FRAME);
		assert_int_equal(ev[3].id, 2);
		assert_string_equal(ev[3].body, "{\"b\":2}");
	}
	free(in.p);
}

/* A corrupted length field breaks the CRC: the decoder must not believe it. */
static void proto_corrupt_length_does_not_eat_next_frame(void **state)
{
	(void)state;
	struct bytes in = { 0 };
	add_frame(&in, PROTO_REQUEST, 0, 1, "{\"a\":1}", 7);
	in.p[14] ^= 0x40; /* length byte 2: claims ~4 MiB */
	add_frame(&in, PROTO_REQUEST, 0, 2, "{\"b\":2}", 7);
	struct event ev[8];
	size_t n = decode_all(&in, 5, ev, 8);
	assert_int_equal(n, 2);
	assert_int_equal(ev[0].status, PROTO_FAULT);
	assert_int_equal(ev[0].skipped, 27);
	assert_int_equal(ev[1].status, PROTO_FRAME);
	assert_int_equal(ev[1].id, 2);
	free(in.p);
}

/* Intact headers that we refuse: their id is reported and the body is skipped without being
 * buffered, even when it is far larger than any frame we accept. */
static void proto_refused_frames_keep_stream(void **state)
{
	(void)state;
	struct bytes in = { 0 };
	uint32_t huge = PROTO_JSON_MAX + 100;
	add_raw_header(&in, PROTO_VERSION, PROTO_REQUEST, 0, 41, huge);
	uint8_t *filler = calloc(1, huge);
	assert_non_null(filler);
	memcpy(filler, "PRMA", 4); /* a fake magic inside the skipped body must not matter */
	bytes_add(&in, filler, huge);
	free(filler);
	add_raw_header(&in, 2, PROTO_REQUEST, 0, 42, 3);
	bytes_add(&in, "abc", 3);
	add_raw_header(&in, PROTO_VERSION, 77, 0, 43, 1);
	bytes_add(&in, "z", 1);
	add_raw_header(&in, PROTO_VERSION, PROTO_STREAM, 5, 44, 1);
	bytes_add(&in, "z", 1);
	add_raw_header(&in, PROTO_VERSION, PROTO_REQUEST, 1, 45, 2);
	bytes_add(&in, "{}", 2);
	add_raw_header(&in, PROTO_VERSION, PROTO_STREAM, 0, 46, PROTO_STREAM_MAX + 1);
	uint8_t *sbig = calloc(1, PROTO_STREAM_MAX + 1);
	bytes_add(&in, sbig, PROTO_STREAM_MAX + 1);
	free(sbig);
	add_frame(&in, PROTO_REQUEST, 0, 47, "{}", 2);

	struct proto_decoder d;
	proto_decoder_init(&d);
	struct event ev[10];
	size_t n = decode_all(&in, 65536, ev, 10);
	assert_int_equal(n, 7);
	const uint32_t want_ids[] = { 41, 42, 43, 44, 45, 46 };
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(ev[i].status, PROTO_FAULT);
		assert_int_equal(ev[i].has_id, 1);
		assert_int_equal(ev[i].id, want_ids[i]);
	}
	assert_int_equal(ev[0].skipped, PROTO_HEADER_SIZE + (uint64_t)huge);
	assert_int_equal(ev[6].status, PROTO_FRAME);
	assert_int_equal(ev[6].id, 47);
	proto_decoder_destroy(&d);
	free(in.p);
}

static void proto_decoder_bounds_buffering(void **state)
{
	(void)state;
	struct proto_decoder d;
	proto_decoder_init(&d);
	uint8_t *big = malloc(PROTO_JSON_MAX * 2);
	assert_non_null(big);
	memset(big, 'P', PROTO_JSON_MAX * 2);
	assert_int_equal(proto_decoder_feed(&d, big, PROTO_JSON_MAX * 2), -ENOBUFS);
	/* Pure garbage never accumulates: after pulling, at most 3 bytes stay buffered. */
	assert_int_equal(proto_decoder_feed(&d, big, 1 << 20), 0);
	struct proto_frame f;
	struct proto_fault fault;
	assert_int_equal(proto_decoder_next(&d, &f, &fault), PROTO_NEED_MORE);
	assert_true(proto_decoder_buffered(&d) <= 3);
	/* A maximal JSON frame is accepted. */
	struct bytes in = { 0 };
	big[0] = '"';
	big[PROTO_JSON_MAX - 1] = '"';
	add_frame(&in, PROTO_REQUEST, 0, 5, big, PROTO_JSON_MAX);
	proto_decoder_destroy(&d);
	proto_decoder_init(&d);
	size_t off = 0;
	int got = 0;
	while (off < in.n) {
		uint8_t *area;
		size_t avail;
		assert_int_equal(proto_decoder_space(&d, 70000, &area, &avail), 0);
		size_t take = in.n - off < avail ? in.n - off : avail;
		memcpy(area, in.p + off, take);
		proto_decoder_commit(&d, take);
		off += take;
		int st;
		while ((st = proto_decoder_next(&d, &f, &fault)) != PROTO_NEED_MORE) {
			assert_int_equal(st, PROTO_FRAME);
			assert_int_equal(f.length, PROTO_JSON_MAX);
			assert_int_equal(f.body[f.length], 0);
			got++;
		}
	}
	assert_int_equal(got, 1);
	proto_decoder_destroy(&d);
	free(in.p);
	free(big);
}

static void proto_json_parse_is_strict(void **state)
{
	(void)state;
	const char *bad[] = { "[1]", "{\"a\":1} x", "{\"a\":", "{\"a\":tru}", "nul", "{\"a\":1}{}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct proto_frame f = { PROTO_REQUEST, 0, 1, (uint32_t)strlen(bad[i]),
					 (const uint8_t *)bad[i] };
		struct json_object *o = (struct json_object *)1;
		struct errbuf eb = { 0 };
		assert_int_equal(proto_json_parse(&f, &o, &eb), -EINVAL);
		assert_null(o);
		assert_true(eb.msg[0] != 0);
	}
	/* Nesting deeper than the limit. */
	char deep[200];
	size_t k = 0;
	for (int i = 0; i < 40; i++)
		deep[k++] = i == 0 ? '{' : '[';
	deep[k] = 0;
	struct proto_frame f = { PROTO_REQUEST, 0, 1, (uint32_t)k, (const uint8_t *)deep };
	struct json_object *o;
	assert_int_equal(proto_json_parse(&f, &o, NULL), -EINVAL);
	/* NUL inside. */
	struct proto_frame fz = { PROTO_REQUEST, 0, 1, 9, (const uint8_t *)"{\"a\":\"\0\"}" };
	assert_int_equal(proto_json_parse(&fz, &o, NULL), -EINVAL);
	const char *good = "{\"type\":\"ping\",\"n\":[1,2]}";
	struct proto_frame fg = { PROTO_REQUEST, 0, 1, (uint32_t)strlen(good), (const uint8_t *)good };
	assert_int_equal(proto_json_parse(&fg, &o, NULL), 0);
	assert_string_equal(json_object_get_string(json_object_object_get(o, "type")), "ping");
	json_object_put(o);
}

static void proto_crc32_matches_reference(void **state)
{
	(void)state;
	/* The standard check value of CRC-32/ISO-HDLC. */
	assert_int_equal(proto_crc32("123456789", 9), 0xcbf43926u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(proto_crc32_matches_reference),
		cmocka_unit_test(proto_roundtrip_every_split),
		cmocka_unit_test(proto_encoder_refuses_limits),
		cmocka_unit_test(proto_resyncs_after_garbage),
		cmocka_unit_test(proto_corrupt_length_does_not_eat_next_frame),
		cmocka_unit_test(proto_refused_frames_keep_stream),
		cmocka_unit_test(proto_decoder_bounds_buffering),
		cmocka_unit_test(proto_json_parse_is_strict),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
