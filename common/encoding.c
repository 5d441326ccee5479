#include "common/encoding.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

void hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int hex_decode_n(const char *in, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		int hi = hex_value(in[2 * i]), lo = hex_value(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int hex_decode(const char *in, uint8_t *out, size_t len)
{
	if (!in || strlen(in) != 2 * len)
		return -EINVAL;
	return hex_decode_n(in, out, len);
}

int hex_decode_var(const char *in, uint8_t *out, size_t max, size_t *out_len)
{
	size_t n = in ? strlen(in) : 1;
	if (n % 2)
		return -EINVAL;
	if (n / 2 > max)
		return -E2BIG;
	*out_len = n / 2;
	return hex_decode_n(in, out, n / 2);
}

size_t base64_encoded_len(size_t len)
{
	return 4 * ((len + 2) / 3) + 1;
}

void base64_encode(const uint8_t *in, size_t len, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

long base64_decode(const char *in, uint8_t *out, size_t max)
{
	size_t n = strlen(in);
	if (n == 0)
		return 0;
	if (n % 4 || n > (size_t)0x7fffffff)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			 (c >= '0' && c <= '9') || c == '+' || c == '/' ||
			 (c == '=' && i >= n - 2 && (i == n - 1 || in[n - 1] == '='));
		if (!ok)
			return -EINVAL;
	}
	size_t pad = (in[n - 1] == '=') + (in[n - 2] == '=');
	size_t out_len = n / 4 * 3 - pad;
	if (out_len > max)
		return -E2BIG;
	/* EVP_DecodeBlock writes whole 3-byte groups, padding included. */
	unsigned char tmp[3 * 1024];
	size_t done = 0;
	for (size_t off = 0; off < n; off += 4096) {
		size_t chunk = n - off < 4096 ? n - off : 4096;
		int got = EVP_DecodeBlock(tmp, (const unsigned char *)in + off, (int)chunk);
		if (got < 0)
			return -EINVAL;
		size_t useful = (off + chunk == n) ? (size_t)got - pad : (size_t)got;
		memcpy(out + done, tmp, useful);
		done += useful;
	}
	return (long)done;
}
