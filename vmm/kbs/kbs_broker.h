/* kbs_broker: the key broker's request handling, independent of HTTP: sessions
 * (auth → challenge nonce, attest → attested, expiry), the REPORT_DATA binding,
 * release decisions and the audit log. kbs_server.c puts it behind HTTP(S).
 *
 * One broker is used from one thread at a time (the server runs one thread).
 *
 * Every auth, attest, release and refusal is logged through `log` with its
 * reasons; secret bytes never reach the log or an error body. */
#ifndef PARMA_KBS_KBS_BROKER_H
#define PARMA_KBS_KBS_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/errbuf.h"
#include "policy/attest/snp_verify.h"
#include "vmm/kbs/kbs_store.h"

#define KBS_SESSION_ID_LEN 32 /* hex characters */
#define KBS_COOKIE_NAME	   "kbs-session-id"
#define KBS_PATH_PREFIX	   "/kbs/v0/"

struct kbs_broker_config {
	const char *store_dir;
	const char *certs_dir; /* AMD (or dev) certificates for the verifier */
	unsigned session_ttl;  /* seconds; 0 = 300 */
	unsigned max_sessions; /* 0 = 1024 */
	void (*log)(void *ctx, const char *line);
	void *log_ctx;
	time_t (*now)(void *ctx); /* NULL = time(NULL); tests move the clock */
	void *now_ctx;
};

struct kbs_broker;

int kbs_broker_new(const struct kbs_broker_config *cfg, struct kbs_broker **out, struct errbuf *eb);
void kbs_broker_free(struct kbs_broker *b);

struct kbs_response {
	unsigned status;
	char *body;	     /* JSON, malloc'd (may be NULL for an empty body) */
	char set_cookie[96]; /* "kbs-session-id=<id>; …" or "" */
};

void kbs_response_clear(struct kbs_response *r);

/* Handle one request: method ("GET"/"POST"), path ("/kbs/v0/auth"), the
 * kbs-session-id cookie value (NULL if none), the body. Always fills `resp`;
 * returns 0, or -ENOMEM (resp is then a bare 500). */
int kbs_broker_handle(struct kbs_broker *b, const char *method, const char *path,
		      const char *session_cookie, const uint8_t *body, size_t len,
		      struct kbs_response *resp);

/* Counters for `serve`'s summary and the bench. */
struct kbs_broker_stats {
	uint64_t sessions, attested, released, refused;
};
void kbs_broker_stats(const struct kbs_broker *b, struct kbs_broker_stats *out);

#endif
