#include "common/digest.h"

#include <errno.h>

#include <openssl/evp.h>

static int digest_oneshot(const EVP_MD *md, const void *data, size_t len, uint8_t *out)
{
	unsigned int n = 0;
	return EVP_Digest(data, len, out, &n, md, NULL) == 1 ? 0 : -EIO;
}

int digest_sha256(const void *data, size_t len, uint8_t out[SHA256_LEN])
{
	return digest_oneshot(EVP_sha256(), data, len, out);
}

int digest_sha384(const void *data, size_t len, uint8_t out[SHA384_LEN])
{
	return digest_oneshot(EVP_sha384(), data, len, out);
}
