/* vsock_internal: what the virtio-vsock device (virtio_vsock.c), its connections
 * (vsock_conn.c) and its muxer (vsock_muxer.c) share; nothing outside them includes it.
 *
 * Everything runs under the transport lock: tx-queue doorbells (vCPU thread or
 * event loop), socket readiness callbacks (event loop). Connection slots are
 * allocated once and never freed before the device, so a readiness callback
 * that races with a connection's teardown sees a free or reused slot, never
 * freed memory; its events are only hints (every socket call is non-blocking).
 *
 * Socket readiness is treated as edge-triggered: `readable` stays set until a
 * read returns EAGAIN, so data the guest has no credit or buffers for yet is
 * picked up again when credit or buffers arrive. */
#ifndef PARMA_DEVICES_VSOCK_INTERNAL_H
#define PARMA_DEVICES_VSOCK_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>

#include "devices/virtio_mmio.h"
#include "devices/virtio_vsock.h"
#include "devices/vsock_packet.h"

enum { VSOCK_RXQ, VSOCK_TXQ, VSOCK_EVQ, VSOCK_NUM_QUEUES };

#define VSOCK_HASH 256u
#define VSOCK_RST_BACKLOG 64u
#define VSOCK_CONNECT_LINE_MAX 32u
/* Tell the guest about drained buffer space once this much has been forwarded. */
#define VSOCK_CREDIT_THRESHOLD (VSOCK_CONN_BUF / 4)
/* How long the guest has to answer a REQUEST or a host-side close, and a host
 * client to send its CONNECT line. */
#define VSOCK_ANSWER_TIMEOUT_MS 2000u

enum conn_state {
	CONN_FREE,
	CONN_HOST_LINE,   /* host socket accepted, waiting for "CONNECT <port>\n" */
	CONN_LOCAL_INIT,  /* REQUEST sent to the guest, waiting for RESPONSE */
	CONN_ESTABLISHED,
};

#define PEND_REQUEST 1u
#define PEND_RESPONSE 2u
#define PEND_SHUTDOWN 4u
#define PEND_CREDIT_UPDATE 8u

struct vsock_conn {
	struct virtio_vsock *v;
	enum conn_state state;
	int fd;
	uint32_t poll_mask;
	uint32_t local_port; /* host side (src_port of what we send) */
	uint32_t peer_port;  /* guest side */
	struct vsock_conn *hash_next;
	struct vsock_conn *rx_next;
	bool rx_listed;
	unsigned pending;
	bool readable;
	bool host_eof;
	bool shut_wr_after_flush;
	uint32_t peer_buf_alloc, peer_fwd_cnt; /* the guest's receive credit */
	uint32_t rx_cnt;            /* bytes sent to the guest */
	uint32_t fwd_cnt;           /* guest bytes delivered to the host socket */
	uint32_t last_fwd_cnt_sent;
	uint8_t *buf;               /* guest bytes the host socket has not taken yet */
	uint32_t buf_head, buf_len;
	uint64_t deadline_ns;       /* kill with RST if the guest has not answered by then */
};

struct rst_entry {
	uint32_t local_port, peer_port;
};

struct virtio_vsock {
	struct virtio_mmio mmio;
	struct virtio_device_ops ops;
	struct event_loop *loop;
	uint64_t guest_cid;
	uint8_t config[8];
	char uds_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd;
	unsigned max_conns, n_conns;
	struct vsock_conn *conns;
	struct vsock_conn *hash[VSOCK_HASH];
	struct vsock_conn *rx_head, *rx_tail;
	struct rst_entry rst[VSOCK_RST_BACKLOG];
	unsigned rst_head, rst_len;
	uint32_t next_port;
	uint64_t buffered;
	bool event_pending;
	int timer_id;
	uint64_t timeout_ns;
	struct virtq_chain chain; /* scratch, used under the lock */
};

static inline uint64_t vsock_now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* vsock_conn.c: one connection's state machine, credit and buffering. */
bool vsock_conn_wants_rx(const struct vsock_conn *c);
bool vsock_conn_flush(struct vsock_conn *c);
bool vsock_conn_send_host(struct vsock_conn *c, const struct iovec *iov, unsigned n, uint32_t len);
uint32_t vsock_conn_fill_rx(struct vsock_conn *c, struct virtq_chain *ch);
int vsock_parse_connect(const char *s, size_t len, uint32_t *port);

/* vsock_muxer.c: connections by port pair, the rx schedule, host sockets and the tx path. */
void vsock_rx_list_add(struct vsock_conn *c);
void vsock_conn_kill(struct vsock_conn *c, bool rst);
void vsock_muxer_rx(struct virtio_vsock *v);
void vsock_muxer_tx(struct virtio_vsock *v, struct virtq_chain *ch);
void vsock_muxer_on_tick(void *ctx, uint32_t events);
void vsock_muxer_kill_all(struct virtio_vsock *v, bool rst);
int vsock_muxer_listen(struct virtio_vsock *v, const char *path, struct errbuf *eb);

#endif
