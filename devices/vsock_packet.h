/* vsock_packet: the virtio-vsock packet header (virtio spec 5.10.6), host byte order in
 * struct vsock_hdr, little-endian on the wire (VSOCK_HDR_LEN bytes). */
#ifndef PARMA_DEVICES_VSOCK_PACKET_H
#define PARMA_DEVICES_VSOCK_PACKET_H

#include <stdint.h>

#include "devices/virtio_vsock.h"

struct vsock_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
};

void vsock_hdr_put(const struct vsock_hdr *h, uint8_t out[VSOCK_HDR_LEN]);
void vsock_hdr_get(const uint8_t in[VSOCK_HDR_LEN], struct vsock_hdr *h);

#endif
