/* encoding: hex and base64 conversions used for digests, keys and reports. */
#ifndef PARMA_COMMON_ENCODING_H
#define PARMA_COMMON_ENCODING_H

#include <stddef.h>
#include <stdint.h>

/* Write 2*len lowercase hex digits plus NUL into out (size >= 2*len+1). */
void hex_encode(const uint8_t *in, size_t len, char *out);

/* Decode exactly `len` bytes from a string of exactly 2*len hex digits (either
 * case, nothing else). Returns 0, or -EINVAL on a wrong length or digit. */
int hex_decode(const char *in, uint8_t *out, size_t len);

/* Decode a hex string of any even length up to max bytes; *out_len receives
 * the byte count. Returns 0 or -EINVAL / -E2BIG. */
int hex_decode_var(const char *in, uint8_t *out, size_t max, size_t *out_len);

/* Standard base64 with padding; out must hold base64_encoded_len(len) bytes. */
size_t base64_encoded_len(size_t len);
void base64_encode(const uint8_t *in, size_t len, char *out);

/* Strict base64 decode (padding required, no whitespace). Returns the decoded
 * length, or -EINVAL / -E2BIG if it does not fit in max. */
long base64_decode(const char *in, uint8_t *out, size_t max);

#endif
