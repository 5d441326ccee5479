/* digest: one-shot SHA-256 / SHA-384 (OpenSSL EVP) for small buffers. */
#ifndef PARMA_COMMON_DIGEST_H
#define PARMA_COMMON_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define SHA384_LEN 48

/* Return 0, or -EIO if OpenSSL fails (it should not). */
int digest_sha256(const void *data, size_t len, uint8_t out[SHA256_LEN]);
int digest_sha384(const void *data, size_t len, uint8_t out[SHA384_LEN]);

#endif
