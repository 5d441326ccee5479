/* fileio: whole-file reads with a size cap, and atomic writes. */
#ifndef PARMA_COMMON_FILEIO_H
#define PARMA_COMMON_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/errbuf.h"

/* Read a whole regular file (or "-" for stdin) of at most max_size bytes into a
 * malloc'd, NUL-terminated buffer (the NUL is not counted in *len).
 * Errors name the path: "policy.json: file is larger than 1048576 bytes". */
int file_read_all(const char *path, size_t max_size, uint8_t **data, size_t *len,
		  struct errbuf *eb);

/* Write data to path through a temporary file in the same directory and
 * rename(2), so readers never see a partial file. */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		      struct errbuf *eb);

/* write(2)/read(2) until done or error (EINTR retried). Return 0 / -errno;
 * read_full returns -EPIPE on early EOF. */
int write_full(int fd, const void *buf, size_t len);
int read_full(int fd, void *buf, size_t len);

/* mkdir -p with mode for each created component. */
int mkdir_p(const char *path, mode_t mode);

#endif
