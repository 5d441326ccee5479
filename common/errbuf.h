/* errbuf: how a library reports *what* went wrong without printing.
 *
 * Library functions return 0 or a negative errno; when they also take a
 * `struct errbuf *`, they fill it with one human-readable line that names the
 * file, field or argument at fault ("policy.json: containers[2].layers[0]: not a
 * 64-digit hex SHA-256"). Callers add context with errbuf_prefix() and the
 * command-line layer prints it. A NULL errbuf is allowed everywhere. */
#ifndef PARMA_COMMON_ERRBUF_H
#define PARMA_COMMON_ERRBUF_H

#include <stddef.h>

#define ERRBUF_SIZE 512

struct errbuf {
	int code;               /* positive errno of the first error, 0 if none */
	char msg[ERRBUF_SIZE];  /* NUL-terminated, truncated if too long */
};

/* Record an error (replacing any earlier one) and return -errnum, so that
 * `return errbuf_set(eb, EINVAL, "...");` reads naturally. */
int errbuf_set(struct errbuf *eb, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepend "<context>: " to the recorded message (no-op if none recorded). */
void errbuf_prefix(struct errbuf *eb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void errbuf_clear(struct errbuf *eb);

/* The message, or a generic one derived from `code` if none was recorded. */
const char *errbuf_msg(const struct errbuf *eb);

#endif
