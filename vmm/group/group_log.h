/* group_log: a container's output log on the host, bounded by rotation.
 *
 * A guest decides how much its containers print; the host keeps at most two files per
 * container: <name>.log (the newest output, at most max_bytes) and <name>.log.1 (the
 * previous max_bytes). When a write would take the current file past max_bytes, it becomes
 * <name>.log.1 (replacing the older one) and a fresh <name>.log starts. */
#ifndef PARMA_VMM_GROUP_GROUP_LOG_H
#define PARMA_VMM_GROUP_GROUP_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "common/errbuf.h"

/* Per container file; PARMA_LOG_MAX_BYTES overrides it (at least 4096). */
#define GROUP_LOG_MAX_BYTES (8u << 20)

struct group_log;

/* Create (truncate) path. max_bytes 0: GROUP_LOG_MAX_BYTES or $PARMA_LOG_MAX_BYTES. */
int group_log_open(const char *path, uint64_t max_bytes, struct group_log **out,
		   struct errbuf *eb);
/* Append; rotates first if needed. A chunk larger than max_bytes keeps only its tail. */
int group_log_write(struct group_log *l, const uint8_t *data, size_t len);
/* Flush and close; accepts NULL. */
void group_log_close(struct group_log *l);

#endif
