/* snp_dev: Parma's development ARK/ASK/VCEK chain and report signer. */
#include "policy/attest/snp_dev.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "common/digest.h"
#include "common/fileio.h"
#include "policy/attest/snp_certs_priv.h"

/* The dev leaf's TCB (Milan/Genoa layout): every SPL 1. */
static const struct snp_tcb dev_tcb = { .bootloader = 1, .tee = 1, .snp = 1, .microcode = 1 };

struct snp_dev_ca {
	EVP_PKEY *vcek_key;
	uint8_t chip_id[SNP_CHIP_ID_SIZE];
	uint64_t tcb;
};

void snp_dev_ca_free(struct snp_dev_ca *ca)
{
	if (!ca)
		return;
	EVP_PKEY_free(ca->vcek_key);
	free(ca);
}

const uint8_t *snp_dev_ca_chip_id(const struct snp_dev_ca *ca)
{
	return ca->chip_id;
}

uint64_t snp_dev_ca_tcb(const struct snp_dev_ca *ca)
{
	return ca->tcb;
}

/* ---- creating the chain ---- */

static int add_ext_nid(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	int ok = ext && X509_add_ext(x, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* An AMD-style extension whose value is the given raw DER bytes. */
static int add_ext_raw(X509 *x, const char *oid, const uint8_t *der, size_t len)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext = NULL;
	int ok = obj && os && ASN1_OCTET_STRING_set(os, der, (int)len) == 1 &&
		 (ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os)) &&
		 X509_add_ext(x, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(obj);
	return ok ? 0 : -1;
}

static int add_ext_int(X509 *x, const char *oid, unsigned v)
{
	/* DER INTEGER: values >= 128 need a leading zero byte */
	uint8_t der[4] = { 0x02, 0x01, (uint8_t)v };
	if (v >= 0x80) {
		der[1] = 2;
		der[2] = 0;
		der[3] = (uint8_t)v;
		return add_ext_raw(x, oid, der, 4);
	}
	return add_ext_raw(x, oid, der, 3);
}

static int add_leaf_extensions(X509 *x, const uint8_t chip_id[SNP_CHIP_ID_SIZE])
{
	static const char name[] = SNP_DEV_PRODUCT_NAME;
	uint8_t ia5[2 + sizeof(name)];
	char oid[64];
	const uint8_t spl[SNP_SPL_MAX + 1] = {
		[SNP_SPL_BOOTLOADER] = dev_tcb.bootloader,
		[SNP_SPL_TEE] = dev_tcb.tee,
		[SNP_SPL_SNP] = dev_tcb.snp,
		[SNP_SPL_MICROCODE] = dev_tcb.microcode,
	};
	ia5[0] = 0x16; /* IA5String */
	ia5[1] = (uint8_t)(sizeof(name) - 1);
	memcpy(ia5 + 2, name, sizeof(name) - 1);
	if (add_ext_int(x, "1.3.6.1.4.1.3704.1.1", 0) < 0 ||
	    add_ext_raw(x, "1.3.6.1.4.1.3704.1.2", ia5, 2 + sizeof(name) - 1) < 0)
		return -1;
	for (int i = 1; i <= 8; i++) {
		snprintf(oid, sizeof(oid), "1.3.6.1.4.1.3704.1.3.%d", i);
		if (add_ext_int(x, oid, spl[i]) < 0)
			return -1;
	}
	return add_ext_raw(x, "1.3.6.1.4.1.3704.1.4", chip_id, SNP_CHIP_ID_SIZE);
}

/* Sign like AMD: RSASSA-PSS, SHA-384, MGF1-SHA-384, salt 48. */
static int sign_pss(X509 *x, EVP_PKEY *key)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int ok = mctx && EVP_DigestSignInit(mctx, &pctx, EVP_sha384(), NULL, key) == 1 &&
		 EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
		 EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 48) == 1 &&
		 EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha384()) == 1 &&
		 X509_sign_ctx(x, mctx) > 0;
	EVP_MD_CTX_free(mctx);
	return ok ? 0 : -1;
}

static X509_NAME *dev_name(const char *cn)
{
	X509_NAME *n = X509_NAME_new();
	if (!n ||
	    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)SNP_DEV_ORGANIZATION,
				       -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
				       0) != 1) {
		X509_NAME_free(n);
		return NULL;
	}
	return n;
}

/* A certificate for `key` named `cn`, issued by (issuer, issuer_key), or
 * self-signed when issuer is NULL. */
static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
		       unsigned days, bool ca, const uint8_t *chip_id)
{
	X509 *x = X509_new();
	X509_NAME *name = dev_name(cn);
	uint8_t serial[8];
	BIGNUM *bn = NULL;
	bool ok = x && name && RAND_bytes(serial, sizeof(serial)) == 1;
	if (ok) {
		serial[0] &= 0x7f;
		bn = BN_bin2bn(serial, sizeof(serial), NULL);
		ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
		     X509_set_version(x, X509_VERSION_3) == 1 &&
		     X509_set_subject_name(x, name) == 1 &&
		     X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) == 1 &&
		     X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
		     X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400) &&
		     X509_set_pubkey(x, key) == 1;
	}
	if (ok && ca)
		ok = add_ext_nid(x, issuer ? issuer : x, NID_basic_constraints, "critical,CA:TRUE") == 0 &&
		     add_ext_nid(x, issuer ? issuer : x, NID_key_usage,
				 "critical,keyCertSign,cRLSign") == 0 &&
		     add_ext_nid(x, issuer ? issuer : x, NID_subject_key_identifier, "hash") == 0;
	if (ok && chip_id)
		ok = add_leaf_extensions(x, chip_id) == 0;
	if (ok)
		ok = sign_pss(x, issuer_key) == 0;
	BN_free(bn);
	X509_NAME_free(name);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static int write_pem(const char *path, X509 *cert, EVP_PKEY *key, struct errbuf *eb)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long len;
	int ret;
	if (!bio)
		return errbuf_set(eb, ENOMEM, "out of memory");
	if ((cert && PEM_write_bio_X509(bio, cert) != 1) ||
	    (key && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)) {
		BIO_free(bio);
		return errbuf_set(eb, EIO, "%s: cannot encode PEM", path);
	}
	len = BIO_get_mem_data(bio, &data);
	ret = file_write_atomic(path, data, (size_t)len, key ? 0600 : 0644, eb);
	BIO_free(bio);
	return ret;
}

static int dev_ca_create(const char *dir, const struct snp_dev_ca_options *opts,
			 struct errbuf *eb)
{
	unsigned bits = opts && opts->rsa_bits ? opts->rsa_bits : 4096;
	unsigned days = opts && opts->valid_days ? opts->valid_days : 3650;
	char path[4096];
	uint8_t chip_id[SNP_CHIP_ID_SIZE];
	EVP_PKEY *ark_key = NULL, *ask_key = NULL, *vcek_key = NULL;
	X509 *ark = NULL, *ask = NULL, *vcek = NULL;
	int ret;

	if ((ret = mkdir_p(dir, 0755)) < 0)
		return errbuf_set(eb, -ret, "%s: cannot create directory: %s", dir, strerror(-ret));
	snprintf(path, sizeof(path), "%s/private", dir);
	if ((ret = mkdir_p(path, 0700)) < 0 || (ret = chmod(path, 0700) < 0 ? -errno : 0) < 0)
		return errbuf_set(eb, -ret, "%s: cannot create directory: %s", path,
				  strerror(-ret));

	ark_key = EVP_RSA_gen(bits);
	ask_key = EVP_RSA_gen(bits);
	vcek_key = EVP_EC_gen("P-384");
	if (!ark_key || !ask_key || !vcek_key || RAND_bytes(chip_id, sizeof(chip_id)) != 1) {
		ret = errbuf_set(eb, EIO, "cannot generate the development keys");
		goto out;
	}
	ark = make_cert("ARK-" SNP_DEV_PRODUCT_NAME, ark_key, NULL, ark_key, days, true, NULL);
	ask = ark ? make_cert("SEV-" SNP_DEV_PRODUCT_NAME, ask_key, ark, ark_key, days, true, NULL)
		  : NULL;
	vcek = ask ? make_cert("SEV-VCEK", vcek_key, ask, ask_key, days, false, chip_id) : NULL;
	if (!vcek) {
		ret = errbuf_set(eb, EIO, "cannot create the development certificates");
		goto out;
	}
	static const char *const cert_files[] = { "ark.pem", "ask.pem", "vcek.pem" };
	static const char *const key_files[] = { "private/ark.key", "private/ask.key",
						 "private/vcek.key" };
	X509 *certs[] = { ark, ask, vcek };
	EVP_PKEY *keys[] = { ark_key, ask_key, vcek_key };
	/* keys first: a directory with certificates is one that loads */
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, key_files[i]);
		if ((ret = write_pem(path, NULL, keys[i], eb)) < 0)
			goto out;
	}
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, cert_files[i]);
		if ((ret = write_pem(path, certs[i], NULL, eb)) < 0)
			goto out;
	}
	ret = 0;
out:
	ERR_clear_error();
	X509_free(ark);
	X509_free(ask);
	X509_free(vcek);
	EVP_PKEY_free(ark_key);
	EVP_PKEY_free(ask_key);
	EVP_PKEY_free(vcek_key);
	return ret;
}

/* ---- loading ---- */

static int dev_ca_load(const char *dir, struct snp_dev_ca *ca, struct errbuf *eb)
{
	char path[4096];
	uint8_t *data = NULL;
	size_t len = 0;
	struct snp_certs *store = NULL;
	int ret;

	snprintf(path, sizeof(path), "%s/vcek.pem", dir);
	if ((ret = file_read_all(path, 1 << 20, &data, &len, eb)) < 0)
		return ret;
	store = snp_certs_new();
	if (!store) {
		free(data);
		return errbuf_set(eb, ENOMEM, "out of memory");
	}
	ret = snp_certs_add_buffer(store, data, len, path, eb);
	free(data);
	if (ret >= 0 && (store->n != 1 || store->certs[0].role != SNP_ROLE_VCEK ||
			 strcmp(store->certs[0].product, SNP_DEV_PRODUCT_NAME) != 0 ||
			 store->certs[0].hwid_len != SNP_CHIP_ID_SIZE))
		ret = errbuf_set(eb, EINVAL, "%s: not a Parma development VCEK", path);
	if (ret < 0)
		goto out;
	const struct snp_cert *leaf = &store->certs[0];
	memcpy(ca->chip_id, leaf->hwid, SNP_CHIP_ID_SIZE);
	struct snp_tcb t = {
		.bootloader = leaf->spl[SNP_SPL_BOOTLOADER],
		.tee = leaf->spl[SNP_SPL_TEE],
		.snp = leaf->spl[SNP_SPL_SNP],
		.microcode = leaf->spl[SNP_SPL_MICROCODE],
	};
	ca->tcb = snp_tcb_encode(&t, SNP_PRODUCT_DEV);

	snprintf(path, sizeof(path), "%s/private/vcek.key", dir);
	if ((ret = file_read_all(path, 1 << 20, &data, &len, eb)) < 0)
		goto out;
	BIO *bio = BIO_new_mem_buf(data, (int)len);
	ca->vcek_key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	OPENSSL_cleanse(data, len);
	free(data);
	if (!ca->vcek_key) {
		ret = errbuf_set(eb, EINVAL, "%s: not a PEM private key", path);
		goto out;
	}
	if (EVP_PKEY_eq(ca->vcek_key, leaf->pkey) != 1) {
		ret = errbuf_set(eb, EINVAL, "%s: does not belong to %s/vcek.pem", path, dir);
		goto out;
	}
	ret = 0;
out:
	ERR_clear_error();
	snp_certs_free(store);
	return ret;
}

int snp_dev_ca_open(const char *dir, bool create, const struct snp_dev_ca_options *opts,
		    struct snp_dev_ca **out, struct errbuf *eb)
{
	char path[4096];
	struct stat st;
	int lock_fd = -1, ret;

	*out = NULL;
	snprintf(path, sizeof(path), "%s/vcek.pem", dir);
	if (stat(path, &st) != 0) {
		if (!create)
			return errbuf_set(eb, ENOENT,
					  "%s: no development CA here (create one with "
					  "`parma report dev-ca %s`)",
					  dir, dir);
		/* Two `parma run`s may race to create the same CA: the lock makes
		 * the second one wait and then load the first one's chain. */
		if ((ret = mkdir_p(dir, 0755)) < 0)
			return errbuf_set(eb, -ret, "%s: cannot create directory: %s", dir,
					  strerror(-ret));
		snprintf(path, sizeof(path), "%s/.dev-ca.lock", dir);
		lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (lock_fd < 0 || flock(lock_fd, LOCK_EX) < 0) {
			ret = errbuf_set(eb, errno, "%s: %s", path, strerror(errno));
			goto out;
		}
		snprintf(path, sizeof(path), "%s/vcek.pem", dir);
		if (stat(path, &st) != 0 && (ret = dev_ca_create(dir, opts, eb)) < 0)
			goto out;
	}
	struct snp_dev_ca *ca = calloc(1, sizeof(*ca));
	if (!ca) {
		ret = errbuf_set(eb, ENOMEM, "out of memory");
		goto out;
	}
	if ((ret = dev_ca_load(dir, ca, eb)) < 0) {
		snp_dev_ca_free(ca);
		goto out;
	}
	*out = ca;
	ret = 0;
out:
	if (lock_fd >= 0)
		close(lock_fd); /* releases the lock */
	return ret;
}

/* ---- reports ---- */

void snp_dev_report_init(const struct snp_dev_ca *ca, struct snp_report *r)
{
	memset(r, 0, sizeof(*r));
	r->version = 5;
	r->policy = SNP_POLICY_RESERVED_MBO | SNP_POLICY_SMT;
	r->vmpl = 0;
	r->signature_algo = SNP_SIG_ALGO_ECDSA_P384_SHA384;
	r->current_tcb = r->reported_tcb = r->committed_tcb = r->launch_tcb = ca->tcb;
	r->signer_info = SNP_SIGNING_KEY_VCEK << SNP_SIGNER_SIGNING_KEY_SHIFT;
	memcpy(r->chip_id, ca->chip_id, SNP_CHIP_ID_SIZE);
	if (RAND_bytes(r->report_id, sizeof(r->report_id)) != 1)
		memset(r->report_id, 0x5a, sizeof(r->report_id));
	memset(r->report_id_ma, 0xff, sizeof(r->report_id_ma));
	r->current_major = r->committed_major = 1;
	r->current_minor = r->committed_minor = 55;
}

int snp_dev_sign_report(const struct snp_dev_ca *ca, struct snp_report *r,
			uint8_t out[SNP_REPORT_SIZE], struct errbuf *eb)
{
	uint8_t digest[SHA384_LEN];
	unsigned char sig_der[160];
	size_t sig_len = sizeof(sig_der);
	int ret = -EIO;

	r->signature_algo = SNP_SIG_ALGO_ECDSA_P384_SHA384;
	memset(r->sig_r, 0, sizeof(r->sig_r));
	memset(r->sig_s, 0, sizeof(r->sig_s));
	snp_report_serialize(r, out);
	if (digest_sha384(out, SNP_REPORT_SIGNED_SIZE, digest) < 0)
		return errbuf_set(eb, EIO, "SHA-384 failed");

	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(ca->vcek_key, NULL);
	if (!ctx || EVP_PKEY_sign_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha384()) != 1 ||
	    EVP_PKEY_sign(ctx, sig_der, &sig_len, digest, sizeof(digest)) != 1)
		goto out;
	const unsigned char *p = sig_der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
	if (!sig)
		goto out;
	const BIGNUM *br, *bs;
	ECDSA_SIG_get0(sig, &br, &bs);
	/* R and S go into the report as 72-byte little-endian integers */
	if (BN_bn2lebinpad(br, r->sig_r, 48) == 48 && BN_bn2lebinpad(bs, r->sig_s, 48) == 48) {
		snp_report_serialize(r, out);
		ret = 0;
	}
	ECDSA_SIG_free(sig);
out:
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	if (ret < 0)
		return errbuf_set(eb, EIO, "signing the report with the development VCEK failed");
	return 0;
}

int snp_dev_make_report(const struct snp_dev_ca *ca, const uint8_t measurement[SNP_MEASUREMENT_SIZE],
			const uint8_t host_data[SNP_HOST_DATA_SIZE],
			const uint8_t report_data[SNP_REPORT_DATA_SIZE],
			uint8_t out[SNP_REPORT_SIZE], struct errbuf *eb)
{
	struct snp_report r;
	snp_dev_report_init(ca, &r);
	if (measurement)
		memcpy(r.measurement, measurement, SNP_MEASUREMENT_SIZE);
	if (host_data)
		memcpy(r.host_data, host_data, SNP_HOST_DATA_SIZE);
	if (report_data)
		memcpy(r.report_data, report_data, SNP_REPORT_DATA_SIZE);
	return snp_dev_sign_report(ca, &r, out, eb);
}
