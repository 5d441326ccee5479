/* kbs_server: the key broker behind HTTP(S) (libmicrohttpd; TLS through its
 * GnuTLS build when a certificate and key are configured). Plain HTTP is only
 * served on a loopback address (tests, or a TLS-terminating proxy on the same
 * machine): the TEE must be able to authenticate the broker.
 *
 * One internal polling thread handles every connection, so the broker is used
 * from one thread only. */
#ifndef PARMA_KBS_KBS_SERVER_H
#define PARMA_KBS_KBS_SERVER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/errbuf.h"
#include "vmm/kbs/kbs_broker.h"

struct kbs_server_config {
	const char *address;			/* IPv4 or IPv6 literal */
	uint16_t port;				/* 0: pick one (reported through *bound_port) */
	const char *tls_cert_pem, *tls_key_pem; /* file contents, or NULL for plain HTTP */
};

/* True if libmicrohttpd was built with TLS. */
bool kbs_server_tls_available(void);

/* Serve until *stop becomes nonzero (checked every 200 ms). *bound_port
 * receives the port (useful with port 0) before serving; `ready`, if set, is
 * called once the socket listens. */
int kbs_server_run(struct kbs_broker *b, const struct kbs_server_config *c,
		   volatile sig_atomic_t *stop, void (*ready)(void *ctx, uint16_t port),
		   void *ready_ctx, struct errbuf *eb);

#endif
