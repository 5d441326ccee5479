/* virtio_vsock: a virtio socket device (virtio 1.2, 5.10) served inside the
 * VMM on Unix sockets — byte-compatible with Firecracker's "hybrid vsock":
 *
 *  - host → guest: a host program connects to `uds_path` and sends
 *    "CONNECT <port>\n"; the VMM opens a stream to guest port <port> and, once
 *    the guest accepts, answers "OK <host_port>\n" (the VMM-assigned source
 *    port the guest sees); from then on the socket is the byte stream. If the
 *    guest refuses, the socket is closed.
 *  - guest → host: a guest connect to CID 2 port P becomes a connect to the
 *    Unix socket "<uds_path>_P"; no listener there → the guest gets RST.
 *
 * Flow control is virtio-vsock's credit scheme: the VMM never sends the guest
 * more than the guest's advertised buf_alloc allows, advertises its own
 * per-connection buffer (VSOCK_CONN_BUF) and sends CREDIT_UPDATEs as it drains
 * it; a guest that overruns its credit gets RST. Connections and buffered
 * bytes are capped; anything malformed from the guest is dropped or answered
 * with RST, and a broken descriptor chain puts the device in NEEDS_RESET. */
#ifndef PARMA_DEVICES_VIRTIO_VSOCK_H
#define PARMA_DEVICES_VIRTIO_VSOCK_H

#include <stdint.h>

#include "common/errbuf.h"
#include "devices/device.h"

#define VSOCK_HOST_CID 2u
#define VSOCK_CONN_BUF (256u * 1024u)       /* per-connection buffer we advertise */
#define VSOCK_MAX_CONNS_DEFAULT 1024u
#define VSOCK_MAX_BUFFERED (64u << 20)      /* all connections together */
#define VSOCK_FIRST_HOST_PORT (1u << 30)    /* host-initiated source ports */
#define VSOCK_QUEUE_SIZE 256u

/* Packet header and operations (virtio 1.2, 5.10.6). */
#define VSOCK_HDR_LEN 44u
#define VSOCK_TYPE_STREAM 1u
enum vsock_op {
	VSOCK_OP_INVALID = 0,
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE = 2,
	VSOCK_OP_RST = 3,
	VSOCK_OP_SHUTDOWN = 4,
	VSOCK_OP_RW = 5,
	VSOCK_OP_CREDIT_UPDATE = 6,
	VSOCK_OP_CREDIT_REQUEST = 7,
};
#define VSOCK_SHUTDOWN_RCV 1u
#define VSOCK_SHUTDOWN_SEND 2u
#define VSOCK_EVENT_TRANSPORT_RESET 0u

struct virtio_vsock_opts {
	uint64_t guest_cid;   /* >= 3 */
	const char *uds_path; /* listening socket for host-initiated connections */
	unsigned max_conns;   /* 0: VSOCK_MAX_CONNS_DEFAULT */
	unsigned answer_timeout_ms; /* guest answer / host CONNECT line; 0: 2000 */
};

struct virtio_vsock;

/* Create the device, bind and listen on uds_path (a stale socket file there is
 * replaced; anything else is an error). Needs host->loop. NULL + eb on error. */
struct virtio_vsock *virtio_vsock_create(const struct device_host *host, uint64_t base,
					 uint32_t gsi, const struct virtio_vsock_opts *opts,
					 struct errbuf *eb);
/* Close every connection and the listener, unlink uds_path. */
void virtio_vsock_destroy(struct virtio_vsock *v);

/* Drop every connection and tell the guest (VIRTIO_VSOCK_EVENT_TRANSPORT_RESET),
 * e.g. after the VMM lost its host-side state. */
void virtio_vsock_reset_transport(struct virtio_vsock *v);

/* Number of live connections (tests, status). */
unsigned virtio_vsock_conn_count(struct virtio_vsock *v);

struct virtio_mmio *virtio_vsock_transport(struct virtio_vsock *v);

#endif
