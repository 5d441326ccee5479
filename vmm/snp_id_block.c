/* ID block and ID authentication structure for SNP_LAUNCH_FINISH (SNP ABI;
 * layout in the SNP facts notes §2.6). Signatures are ECDSA P-384 over
 * SHA-384; R and S are stored as 72-byte little-endian integers. */
#include <errno.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "common/byteorder.h"
#include "vmm/snp_launch.h"

#define AUTH_ID_SIG 0x040
#define AUTH_ID_KEY 0x240
#define AUTH_ID_KEY_SIG 0x680
#define AUTH_AUTHOR_KEY 0x880
#define PUBKEY_LEN 0x404
#define ALGO_ECDSA_P384_SHA384 1u
#define CURVE_P384 2u

static int is_p384(EVP_PKEY *key)
{
	char group[64] = "";
	size_t n = 0;
	return EVP_PKEY_is_a(key, "EC") &&
	       EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
					      sizeof(group), &n) == 1 &&
	       !strcmp(group, "secp384r1");
}

/* The SNP public key structure: curve u32, Qx[72] LE, Qy[72] LE, zero. */
static int pubkey_struct(EVP_PKEY *key, uint8_t out[PUBKEY_LEN])
{
	BIGNUM *x = NULL, *y = NULL;
	int ok;

	memset(out, 0, PUBKEY_LEN);
	ok = EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
	     EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1 &&
	     BN_bn2lebinpad(x, out + 4, 72) == 72 && BN_bn2lebinpad(y, out + 4 + 72, 72) == 72;
	le_put32(out, CURVE_P384);
	BN_free(x);
	BN_free(y);
	return ok ? 0 : -EIO;
}

static int sign(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t sig[0x200])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	uint8_t der[160];
	size_t dlen = sizeof(der);
	const unsigned char *p = der;
	ECDSA_SIG *s = NULL;
	const BIGNUM *r, *sv;
	int rc = -EIO;

	memset(sig, 0, 0x200);
	if (!c || EVP_DigestSignInit(c, NULL, EVP_sha384(), NULL, key) != 1 ||
	    EVP_DigestSign(c, der, &dlen, msg, len) != 1)
		goto out;
	s = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
	if (!s)
		goto out;
	ECDSA_SIG_get0(s, &r, &sv);
	if (BN_bn2lebinpad(r, sig, 72) == 72 && BN_bn2lebinpad(sv, sig + 72, 72) == 72)
		rc = 0;
out:
	ECDSA_SIG_free(s);
	EVP_MD_CTX_free(c);
	return rc;
}

int snp_id_block_build(const struct snp_id_config *id, const uint8_t ld[SNP_LD_LEN],
		       uint64_t policy, uint8_t block[96], uint8_t auth[4096],
		       struct errbuf *eb)
{
	memset(block, 0, 96);
	memset(auth, 0, 4096);
	if (!id->id_key || !is_p384(id->id_key))
		return errbuf_set(eb, EINVAL, "the ID key must be an ECDSA P-384 private key");
	if (id->author_key && !is_p384(id->author_key))
		return errbuf_set(eb, EINVAL, "the author key must be an ECDSA P-384 private key");
	memcpy(block, ld, SNP_LD_LEN);
	memcpy(block + 0x30, id->family_id, 16);
	memcpy(block + 0x40, id->image_id, 16);
	le_put32(block + 0x50, 1); /* ID block version */
	le_put32(block + 0x54, id->guest_svn);
	le_put64(block + 0x58, policy);

	le_put32(auth, ALGO_ECDSA_P384_SHA384);
	if (sign(id->id_key, block, 96, auth + AUTH_ID_SIG) ||
	    pubkey_struct(id->id_key, auth + AUTH_ID_KEY))
		return errbuf_set(eb, EIO, "signing the ID block failed");
	if (id->author_key) {
		le_put32(auth + 4, ALGO_ECDSA_P384_SHA384);
		if (sign(id->author_key, auth + AUTH_ID_KEY, PUBKEY_LEN, auth + AUTH_ID_KEY_SIG) ||
		    pubkey_struct(id->author_key, auth + AUTH_AUTHOR_KEY))
			return errbuf_set(eb, EIO, "signing the ID key with the author key failed");
	}
	return 0;
}
