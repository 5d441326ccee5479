/* proto: the framed byte stream between the host and parma-agent (docs/protocol.md).
 *
 * Used on both sides (libc + json-c only). Every frame is a fixed 20-byte little-endian header
 * followed by `length` body bytes:
 *
 *   off size field
 *   0   4    magic   "PRMA" (bytes 50 52 4d 41)
 *   4   1    version PROTO_VERSION
 *   5   1    type    enum proto_type
 *   6   2    flags   stream frames: the stream (0 stdin, 1 stdout, 2 stderr); ERROR:
 *                    PROTO_ERROR_STREAM when it concerns a stream frame; else 0
 *   8   4    id      request id (REQUEST/RESPONSE/ERROR) or process id (stream frames, and
 *                    ERROR with PROTO_ERROR_STREAM)
 *   12  4    length  body length, at most proto_body_max(type)
 *   16  4    hcrc    CRC-32 (IEEE) of bytes 0..15
 *
 * REQUEST/RESPONSE/ERROR bodies are one JSON object; STREAM bodies are raw bytes; EOF bodies are
 * empty; CREDIT bodies are a 4-byte little-endian byte count.
 *
 * The decoder is incremental (feed any split of the stream, pull frames) and never trusts the
 * peer: a header whose magic or CRC is wrong starts a resynchronisation (scan for the next
 * "PRMA" whose header CRC holds); a header that is intact but says something we refuse
 * (version, type, flags, length over the type's limit) has its body skipped without buffering
 * and is reported as a fault carrying the frame's id, so the receiver answers with an ERROR
 * frame and the stream goes on. Nothing here prints or allocates beyond the configured limits. */
#ifndef PARMA_GUEST_PROTO_PROTO_H
#define PARMA_GUEST_PROTO_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "common/errbuf.h"

#define PROTO_MAGIC 0x414d5250u /* "PRMA" read as a little-endian u32 */
#define PROTO_VERSION 1u
#define PROTO_HEADER_SIZE 20u

/* vsock port the agent listens on (guest CID 3 by convention; the host connects). */
#define PROTO_VSOCK_PORT 1024u
/* Name of the virtio-serial port used where vsock is absent. */
#define PROTO_SERIAL_PORT_NAME "parma.agent"

/* Size limits, per frame type. A JSON body holds at most one policy (1 MiB) in base64 plus
 * the envelope, hence 2 MiB. */
#define PROTO_JSON_MAX (2u << 20)
#define PROTO_STREAM_MAX (64u << 10)
#define PROTO_CREDIT_SIZE 4u
/* Initial stdin window per process; the agent grants more with CREDIT frames. */
#define PROTO_STDIN_WINDOW (256u << 10)

enum proto_type {
	PROTO_REQUEST = 1,  /* JSON {"type": "...", ...}; answered by RESPONSE or ERROR, same id */
	PROTO_RESPONSE = 2, /* JSON {"ok": true, ...} or {"ok": false, "error": {...}} */
	PROTO_ERROR = 3,    /* JSON {"error": {...}}: the frame with this id was malformed */
	PROTO_STREAM = 4,   /* raw stdio bytes of process `id`, stream in flags */
	PROTO_EOF = 5,      /* stream `flags` of process `id` is closed (empty body) */
	PROTO_CREDIT = 6,   /* the agent accepts `body` more stdin bytes for process `id` */
};
#define PROTO_TYPE_MAX 6

/* ERROR flag: the rejected frame was a stream frame and `id` is its process id. */
#define PROTO_ERROR_STREAM 1u

enum proto_stream {
	PROTO_STDIN = 0,
	PROTO_STDOUT = 1,
	PROTO_STDERR = 2,
};

struct proto_header {
	uint8_t version;
	uint8_t type;
	uint16_t flags;
	uint32_t id;
	uint32_t length;
};

/* A decoded frame. body points into the decoder and stays valid until the next call to any
 * decoder function. JSON bodies are followed by a NUL (not counted in length). */
struct proto_frame {
	uint8_t type;
	uint16_t flags;
	uint32_t id;
	uint32_t length;
	const uint8_t *body;
};

/* The largest body a frame of `type` may carry (0 for unknown types). */
uint32_t proto_body_max(uint8_t type);

/* CRC-32 (IEEE 802.3, reflected, as zlib's crc32) of data. */
uint32_t proto_crc32(const void *data, size_t len);

/* Encode a header (computing hcrc) into out. Returns 0, or -EINVAL if the header violates a
 * limit (unknown type, length over the type's limit, flags not allowed for the type). */
int proto_header_encode(const struct proto_header *h, uint8_t out[PROTO_HEADER_SIZE]);

/* Encode a whole frame into a malloc'd buffer (*out, *out_len; caller frees). */
int proto_frame_encode(uint8_t type, uint16_t flags, uint32_t id, const void *body,
		       uint32_t length, uint8_t **out, size_t *out_len);

enum proto_decode_status {
	PROTO_NEED_MORE = 0, /* no complete frame buffered: feed more bytes */
	PROTO_FRAME = 1,     /* *frame holds one frame */
	PROTO_FAULT = 2,     /* *fault describes rejected input; keep pulling */
};

/* A rejected frame or a run of garbage. has_id: the header was intact, so `id` and `type`
 * are the peer's and the receiver should answer with an ERROR frame for that id. */
struct proto_fault {
	int has_id;
	uint32_t id;
	uint8_t type;
	uint64_t skipped; /* bytes discarded (garbage run, or header + body of a refused frame) */
	char reason[160];
};

struct proto_decoder {
	uint8_t *buf;
	size_t cap;        /* allocated */
	size_t start, end; /* unconsumed bytes are buf[start, end) */
	uint64_t discard;  /* body bytes of a refused frame still to drop */
	uint64_t garbage;  /* bytes skipped in the current resynchronisation run */
	int has_saved;     /* a JSON body's NUL overwrote buf[start]: restore saved_byte */
	uint8_t saved_byte;
	uint64_t frames, faults; /* counters, for stats */
};

void proto_decoder_init(struct proto_decoder *d);
void proto_decoder_destroy(struct proto_decoder *d);

/* Append bytes. Returns 0, or -ENOBUFS if the buffered-but-unpulled data would exceed one
 * maximal frame (the caller must pull until PROTO_NEED_MORE between feeds), -ENOMEM. */
int proto_decoder_feed(struct proto_decoder *d, const void *data, size_t len);

/* Zero-copy variant for read(2): get a writable area of at least `want` bytes (or less if
 * the limit is near; *avail says how much), read into it, then commit what was read. */
int proto_decoder_space(struct proto_decoder *d, size_t want, uint8_t **area, size_t *avail);
void proto_decoder_commit(struct proto_decoder *d, size_t n);

/* Pull the next frame or fault. */
enum proto_decode_status proto_decoder_next(struct proto_decoder *d, struct proto_frame *frame,
					    struct proto_fault *fault);

/* Bytes buffered and not yet returned (for tests and stats). */
size_t proto_decoder_buffered(const struct proto_decoder *d);

/* ---- JSON bodies ---- */

struct json_object;

/* Parse the body of a REQUEST/RESPONSE/ERROR frame: exactly one JSON object (nesting at most
 * PROTO_JSON_DEPTH, no NUL byte, nothing after it). *out is a new reference. */
#define PROTO_JSON_DEPTH 32
int proto_json_parse(const struct proto_frame *f, struct json_object **out, struct errbuf *eb);

/* Serialise obj compactly into a whole frame of `type` (malloc'd, caller frees).
 * -E2BIG if the text exceeds PROTO_JSON_MAX. */
int proto_json_frame(uint8_t type, uint32_t id, struct json_object *obj, uint8_t **out,
		     size_t *out_len);

/* A new {"ok": false, "error": {"code": code, "message": message}} object. */
struct json_object *proto_error_object(const char *code, const char *message);

/* ---- request/response vocabulary ---- */

/* Host → agent requests are the one request form of policy/lang/policy.h
 * (policy_request_from_json; names from policy_request_type_name): not repeated here. */
/* Agent → host, dev mode only: {"type":"dev_report","report_data":HEX128}; the host answers
 * {"ok":true,"report":BASE64(1184 bytes),"certs":{"ark":PEM,"ask":PEM,"vcek":PEM}}. */
#define PROTO_REQ_DEV_REPORT "dev_report"

/* Error codes, the "code" member of an error object. */
#define PROTO_ERR_DENIED "denied"           /* the policy engine said no; "reason" attached */
#define PROTO_ERR_MALFORMED "malformed"     /* frame or JSON could not be understood */
#define PROTO_ERR_INVALID "invalid"         /* well-formed JSON, wrong fields or values */
#define PROTO_ERR_UNKNOWN_TYPE "unknown_type"
#define PROTO_ERR_FAILED "failed"           /* allowed, but the effect failed (state rolled back) */
#define PROTO_ERR_NOT_FOUND "not_found"     /* no such container/process */
#define PROTO_ERR_BUSY "busy"

#endif
