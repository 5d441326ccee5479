#include "devices/vsock_packet.h"

#include <endian.h>
#include <string.h>

void vsock_hdr_put(const struct vsock_hdr *h, uint8_t out[VSOCK_HDR_LEN])
{
	uint64_t q;
	uint32_t d;
	uint16_t w;
	q = htole64(h->src_cid), memcpy(out + 0, &q, 8);
	q = htole64(h->dst_cid), memcpy(out + 8, &q, 8);
	d = htole32(h->src_port), memcpy(out + 16, &d, 4);
	d = htole32(h->dst_port), memcpy(out + 20, &d, 4);
	d = htole32(h->len), memcpy(out + 24, &d, 4);
	w = htole16(h->type), memcpy(out + 28, &w, 2);
	w = htole16(h->op), memcpy(out + 30, &w, 2);
	d = htole32(h->flags), memcpy(out + 32, &d, 4);
	d = htole32(h->buf_alloc), memcpy(out + 36, &d, 4);
	d = htole32(h->fwd_cnt), memcpy(out + 40, &d, 4);
}

void vsock_hdr_get(const uint8_t in[VSOCK_HDR_LEN], struct vsock_hdr *h)
{
	memcpy(&h->src_cid, in + 0, 8), h->src_cid = le64toh(h->src_cid);
	memcpy(&h->dst_cid, in + 8, 8), h->dst_cid = le64toh(h->dst_cid);
	memcpy(&h->src_port, in + 16, 4), h->src_port = le32toh(h->src_port);
	memcpy(&h->dst_port, in + 20, 4), h->dst_port = le32toh(h->dst_port);
	memcpy(&h->len, in + 24, 4), h->len = le32toh(h->len);
	memcpy(&h->type, in + 28, 2), h->type = le16toh(h->type);
	memcpy(&h->op, in + 30, 2), h->op = le16toh(h->op);
	memcpy(&h->flags, in + 32, 4), h->flags = le32toh(h->flags);
	memcpy(&h->buf_alloc, in + 36, 4), h->buf_alloc = le32toh(h->buf_alloc);
	memcpy(&h->fwd_cnt, in + 40, 4), h->fwd_cnt = le32toh(h->fwd_cnt);
}
