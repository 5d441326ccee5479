/* snp_certs: load AMD endorsement certificates (PEM/DER, single or bundled,
 * any file names), identify each by content, and verify leaf → CA → ARK
 * chains once (results cached by store index). */
#include "policy/attest/snp_certs_priv.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "common/digest.h"
#include "common/encoding.h"
#include "common/fileio.h"
#include "policy/attest/snp_dev.h"

#define CERT_FILE_MAX (1u << 20)
#define STORE_MAX_CERTS 4096

/* SHA-256 of the DER of AMD's root keys (AMD KDS cert_chain; identical in
 * go-sev-guest and virtee/sev). Only these roots are trusted for real SNP. */
static const struct pinned_ark {
	enum snp_product product;
	const char *sha256_hex;
} pinned_arks[] = {
	{ SNP_PRODUCT_MILAN, "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd" },
	{ SNP_PRODUCT_GENOA, "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1" },
	{ SNP_PRODUCT_TURIN, "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a" },
};

static const char *const role_names[] = {
	[SNP_ROLE_ARK] = "ARK", [SNP_ROLE_ASK] = "ASK", [SNP_ROLE_ASVK] = "ASVK",
	[SNP_ROLE_VCEK] = "VCEK", [SNP_ROLE_VLEK] = "VLEK",
};

struct snp_certs *snp_certs_new(void)
{
	return calloc(1, sizeof(struct snp_certs));
}

void snp_certs_free(struct snp_certs *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		EVP_PKEY_CTX_free(c->certs[i].verify_ctx);
		X509_free(c->certs[i].x509);
	}
	for (size_t i = 0; i < c->n_crls; i++)
		X509_CRL_free(c->crls[i]);
	free(c->crls);
	EVP_MD_free(c->sha384);
	free(c->certs);
	free(c->chains);
	free(c);
}

size_t snp_certs_count(const struct snp_certs *c)
{
	return c ? c->n : 0;
}

const char *snp_certs_describe(const struct snp_certs *c, size_t i)
{
	return c && i < c->n ? c->certs[i].desc : NULL;
}

static int asn1_time_to_time_t(const ASN1_TIME *t, time_t *out)
{
	struct tm tm;
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return -EINVAL;
	*out = timegm(&tm);
	return 0;
}

static void name_cn(const X509_NAME *name, char *out, size_t n)
{
	out[0] = '\0';
	int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (idx < 0)
		return;
	const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
	int len = ASN1_STRING_length(s);
	const unsigned char *d = ASN1_STRING_get0_data(s);
	size_t k = 0;
	for (int i = 0; i < len && k + 1 < n; i++)
		out[k++] = (d[i] >= 0x20 && d[i] < 0x7f) ? (char)d[i] : '?';
	out[k] = '\0';
}

/* The AMD extension with OID `oid`, as its raw contents; NULL if absent. */
static const ASN1_OCTET_STRING *amd_ext(X509 *x, const char *oid)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	if (!obj)
		return NULL;
	int idx = X509_get_ext_by_OBJ(x, obj, -1);
	ASN1_OBJECT_free(obj);
	if (idx < 0)
		return NULL;
	return X509_EXTENSION_get_data(X509_get_ext(x, idx));
}

/* Parse the VCEK/VLEK extensions: SPLs (DER INTEGERs 0-255), productName
 * (IA5String), hwID (raw CHIP_ID bytes, not wrapped). */
static void parse_leaf_extensions(struct snp_cert *sc)
{
	char oid[64];
	for (int i = 1; i <= SNP_SPL_MAX; i++) {
		snprintf(oid, sizeof(oid), "1.3.6.1.4.1.3704.1.3.%d", i);
		const ASN1_OCTET_STRING *v = amd_ext(sc->x509, oid);
		if (!v)
			continue;
		const unsigned char *p = ASN1_STRING_get0_data(v);
		long len = ASN1_STRING_length(v);
		const unsigned char *end = p + len;
		ASN1_INTEGER *ai = d2i_ASN1_INTEGER(NULL, &p, len);
		int64_t val = -1;
		if (!ai || p != end || ASN1_INTEGER_get_int64(&val, ai) != 1 || val < 0 || val > 255) {
			ASN1_INTEGER_free(ai);
			snprintf(sc->ext_error, sizeof(sc->ext_error),
				 "extension %s is not an INTEGER 0-255", oid);
			continue;
		}
		ASN1_INTEGER_free(ai);
		sc->spl_present[i] = true;
		sc->spl[i] = (uint8_t)val;
	}

	const ASN1_OCTET_STRING *pn = amd_ext(sc->x509, "1.3.6.1.4.1.3704.1.2");
	if (pn) {
		const unsigned char *p = ASN1_STRING_get0_data(pn);
		long len = ASN1_STRING_length(pn);
		const unsigned char *end = p + len;
		ASN1_IA5STRING *s = d2i_ASN1_IA5STRING(NULL, &p, len);
		if (!s || p != end || ASN1_STRING_length(s) <= 0 ||
		    (size_t)ASN1_STRING_length(s) >= sizeof(sc->product)) {
			snprintf(sc->ext_error, sizeof(sc->ext_error),
				 "productName extension is not a short IA5String");
		} else {
			const unsigned char *d = ASN1_STRING_get0_data(s);
			int n = ASN1_STRING_length(s);
			for (int i = 0; i < n; i++)
				sc->product[i] = (d[i] >= 0x20 && d[i] < 0x7f) ? (char)d[i] : '?';
			sc->product[n] = '\0';
		}
		ASN1_IA5STRING_free(s);
	}

	const ASN1_OCTET_STRING *hw = amd_ext(sc->x509, "1.3.6.1.4.1.3704.1.4");
	if (hw) {
		int len = ASN1_STRING_length(hw);
		if (len <= 0 || (size_t)len > sizeof(sc->hwid)) {
			snprintf(sc->ext_error, sizeof(sc->ext_error),
				 "hwID extension has %d bytes (expected 64, or 8 on Turin)", len);
		} else {
			memcpy(sc->hwid, ASN1_STRING_get0_data(hw), (size_t)len);
			sc->hwid_len = (size_t)len;
		}
	}
}

/* Decide what a certificate is from its names. Returns -1 if none of ours. */
static int identify(struct snp_cert *sc)
{
	X509_NAME *subj = X509_get_subject_name(sc->x509);
	X509_NAME *iss = X509_get_issuer_name(sc->x509);
	name_cn(subj, sc->cn, sizeof(sc->cn));

	if (X509_NAME_cmp(subj, iss) == 0) {
		sc->role = SNP_ROLE_ARK;
		snprintf(sc->product, sizeof(sc->product), "%s",
			 strncmp(sc->cn, "ARK-", 4) == 0 ? sc->cn + 4 : "");
		return 0;
	}
	if (strcmp(sc->cn, "SEV-VCEK") == 0 || strcmp(sc->cn, "SEV-VLEK") == 0) {
		sc->role = strcmp(sc->cn, "SEV-VCEK") == 0 ? SNP_ROLE_VCEK : SNP_ROLE_VLEK;
		parse_leaf_extensions(sc);
		return 0;
	}
	if (strncmp(sc->cn, "SEV-VLEK-", 9) == 0 && sc->cn[9]) {
		sc->role = SNP_ROLE_ASVK;
		snprintf(sc->product, sizeof(sc->product), "%s", sc->cn + 9);
		return 0;
	}
	if (strncmp(sc->cn, "SEV-", 4) == 0 && sc->cn[4]) {
		sc->role = SNP_ROLE_ASK;
		snprintf(sc->product, sizeof(sc->product), "%s", sc->cn + 4);
		return 0;
	}
	return -1;
}

static void describe(struct snp_cert *sc)
{
	char h[65], hw[17] = "";
	hex_encode(sc->sha256, 8, h);
	if (sc->hwid_len >= 8)
		hex_encode(sc->hwid, 8, hw);
	snprintf(sc->desc, sizeof(sc->desc), "%s %s \"%s\" (sha256 %s...%s%s)", role_names[sc->role],
		 sc->product[0] ? sc->product : "?", sc->cn, h, hw[0] ? ", hwid " : "", hw);
}

/* Take ownership of x (freed on any outcome). Returns 1 if added, 0 if a
 * duplicate or not an SNP certificate, negative errno on failure. */
static int store_add(struct snp_certs *c, X509 *x, const char *name, struct errbuf *eb)
{
	struct snp_cert sc;
	unsigned char *der = NULL;
	int der_len = i2d_X509(x, &der);
	int ret;

	memset(&sc, 0, sizeof(sc));
	sc.x509 = x;
	if (der_len <= 0) {
		ret = errbuf_set(eb, EINVAL, "%s: certificate cannot be re-encoded", name);
		goto fail;
	}
	ret = digest_sha256(der, (size_t)der_len, sc.sha256);
	OPENSSL_free(der);
	if (ret < 0)
		goto fail;
	for (size_t i = 0; i < c->n; i++)
		if (memcmp(c->certs[i].sha256, sc.sha256, 32) == 0) {
			ret = 0;
			goto fail;
		}
	if (identify(&sc) < 0) {
		ret = 0;
		goto fail;
	}
	sc.pkey = X509_get0_pubkey(x);
	if (!sc.pkey) {
		ret = errbuf_set(eb, EINVAL, "%s: certificate \"%s\" has an unusable public key",
				 name, sc.cn);
		goto fail;
	}
	if (asn1_time_to_time_t(X509_get0_notBefore(x), &sc.not_before) < 0 ||
	    asn1_time_to_time_t(X509_get0_notAfter(x), &sc.not_after) < 0) {
		ret = errbuf_set(eb, EINVAL, "%s: certificate \"%s\" has a malformed validity time",
				 name, sc.cn);
		goto fail;
	}
	describe(&sc);
	if (c->n == c->cap) {
		if (c->cap >= STORE_MAX_CERTS) {
			ret = errbuf_set(eb, E2BIG, "%s: more than %d certificates", name,
					 STORE_MAX_CERTS);
			goto fail;
		}
		size_t cap = c->cap ? 2 * c->cap : 8;
		struct snp_cert *n = realloc(c->certs, cap * sizeof(*n));
		if (!n) {
			ret = errbuf_set(eb, ENOMEM, "out of memory");
			goto fail;
		}
		c->certs = n;
		c->cap = cap;
	}
	c->certs[c->n++] = sc;
	return 1;
fail:
	X509_free(x);
	return ret;
}

/* Take ownership of a CRL. Returns 1 if added, 0 if a duplicate, -errno. */
static int store_add_crl(struct snp_certs *c, X509_CRL *crl, const char *name, struct errbuf *eb)
{
	for (size_t i = 0; i < c->n_crls; i++)
		if (X509_CRL_match(c->crls[i], crl) == 0) {
			X509_CRL_free(crl);
			return 0;
		}
	if (c->n_crls == c->cap_crls) {
		size_t cap = c->cap_crls ? 2 * c->cap_crls : 4;
		X509_CRL **n = cap <= STORE_MAX_CERTS ? realloc(c->crls, cap * sizeof(*n)) : NULL;
		if (!n) {
			X509_CRL_free(crl);
			return errbuf_set(eb, ENOMEM, "%s: too many revocation lists", name);
		}
		c->crls = n;
		c->cap_crls = cap;
	}
	c->crls[c->n_crls++] = crl;
	return 1;
}

size_t snp_certs_crl_count(const struct snp_certs *c)
{
	return c ? c->n_crls : 0;
}

/* The GHCB certificate table that SNP_GET_EXT_REPORT and configfs-tsm's
 * `auxblob` return: 24-byte entries {GUID[16], offset u32, length u32} ended
 * by an all-zero entry, each (offset, length) a DER certificate in the same
 * buffer. The GUIDs (VCEK, VLEK, ASK, ARK) are not trusted: every blob is
 * identified by its content like any other. Returns the number added, or 0
 * if the buffer is not such a table. */
#define CERT_TABLE_ENTRY 24
static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int add_cert_table(struct snp_certs *c, const uint8_t *data, size_t len, const char *name,
			  struct errbuf *eb)
{
	static const uint8_t zero[CERT_TABLE_ENTRY];
	size_t n = 0;
	int added = 0;

	/* validate the whole table before using any of it */
	for (;; n++) {
		if ((n + 1) * CERT_TABLE_ENTRY > len)
			return 0; /* no terminator */
		const uint8_t *e = data + n * CERT_TABLE_ENTRY;
		if (memcmp(e, zero, CERT_TABLE_ENTRY) == 0)
			break;
		uint32_t off = le32(e + 16), blen = le32(e + 20);
		if (blen == 0 || off > len || blen > len - off)
			return 0;
	}
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *e = data + i * CERT_TABLE_ENTRY;
		uint32_t off = le32(e + 16), blen = le32(e + 20);
		const unsigned char *p = data + off;
		X509 *x = d2i_X509(NULL, &p, blen);
		if (!x || p != data + off + blen) {
			X509_free(x);
			ERR_clear_error();
			return errbuf_set(eb, EINVAL,
					  "%s: certificate table entry %zu is not one DER certificate",
					  name, i);
		}
		int ret = store_add(c, x, name, eb);
		if (ret < 0)
			return ret;
		added += ret;
	}
	return added;
}

/* Occurrences of a PEM begin line in the buffer. */
static int count_marker(const uint8_t *data, size_t len, const char *marker)
{
	size_t mlen = strlen(marker);
	int n = 0;
	for (const uint8_t *p = data; (p = memmem(p, len - (size_t)(p - data), marker, mlen));
	     p += mlen)
		n++;
	return n;
}

static bool looks_like_pem(const uint8_t *data, size_t len)
{
	static const char marker[] = "-----BEGIN ";
	return memmem(data, len, marker, sizeof(marker) - 1) != NULL;
}

int snp_certs_add_buffer(struct snp_certs *c, const uint8_t *data, size_t len, const char *name,
			 struct errbuf *eb)
{
	int added = 0, ret;
	if (len > INT32_MAX)
		return errbuf_set(eb, E2BIG, "%s: too large", name);

	if (looks_like_pem(data, len)) {
		/* Count the blocks so a malformed one is an error, not a silently
		 * shorter chain. Other PEM blocks (keys, reports) are skipped. */
		int expected = count_marker(data, len, "-----BEGIN CERTIFICATE-----");
		int expected_crls = count_marker(data, len, "-----BEGIN X509 CRL-----");
		int found = 0, found_crls = 0;
		BIO *bio = BIO_new_mem_buf(data, (int)len);
		X509 *x;
		if (!bio)
			return errbuf_set(eb, ENOMEM, "out of memory");
		while (found < expected && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
			found++;
			ret = store_add(c, x, name, eb);
			if (ret < 0) {
				BIO_free(bio);
				return ret;
			}
			added += ret;
		}
		BIO_free(bio);
		/* second pass: reading certificates skipped over the CRL blocks */
		bio = expected_crls ? BIO_new_mem_buf(data, (int)len) : NULL;
		X509_CRL *crl;
		while (bio && found_crls < expected_crls &&
		       (crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL))) {
			found_crls++;
			ret = store_add_crl(c, crl, name, eb);
			if (ret < 0) {
				BIO_free(bio);
				return ret;
			}
			added += ret;
		}
		BIO_free(bio);
		ERR_clear_error();
		if (found < expected)
			return errbuf_set(eb, EINVAL, "%s: PEM certificate #%d is malformed", name,
					  found + 1);
		if (found_crls < expected_crls)
			return errbuf_set(eb, EINVAL, "%s: PEM CRL #%d is malformed", name,
					  found_crls + 1);
		return added;
	}

	/* DER: one or more concatenated certificates; a buffer that is not a
	 * certificate at all holds none (a report, a key): not an error. */
	const unsigned char *p = data, *end = data + len;
	int index = 0;
	while (p < end) {
		const unsigned char *start = p;
		X509 *x = d2i_X509(NULL, &p, end - p);
		if (!x) {
			ERR_clear_error();
			if (index == 0) {
				/* not a certificate: a DER CRL (as AMD's KDS serves it)? */
				const unsigned char *q = data;
				X509_CRL *crl = d2i_X509_CRL(NULL, &q, (long)len);
				if (crl && q == end)
					return store_add_crl(c, crl, name, eb);
				X509_CRL_free(crl);
				ERR_clear_error();
				return add_cert_table(c, data, len, name, eb);
			}
			return errbuf_set(eb, EINVAL, "%s: DER data after certificate #%d (offset %td) "
					  "is not a certificate", name, index, start - data);
		}
		index++;
		ret = store_add(c, x, name, eb);
		if (ret < 0)
			return ret;
		added += ret;
	}
	return added;
}

int snp_certs_add_dir(struct snp_certs *c, const char *dir, struct errbuf *eb)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int total = 0, ret = 0;
	if (!d)
		return errbuf_set(eb, errno, "%s: %s", dir, strerror(errno));
	while ((e = readdir(d))) {
		char path[4096];
		struct stat st;
		uint8_t *data = NULL;
		size_t len = 0;
		if (e->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
			continue;
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > CERT_FILE_MAX)
			continue;
		ret = file_read_all(path, CERT_FILE_MAX, &data, &len, eb);
		if (ret < 0)
			break;
		ret = snp_certs_add_buffer(c, data, len, path, eb);
		free(data);
		if (ret < 0)
			break;
		total += ret;
	}
	closedir(d);
	if (ret < 0)
		return ret;
	if (c->n == 0)
		return errbuf_set(eb, ENOENT, "%s: no SEV-SNP certificates found", dir);
	return total;
}

/* ---- chain verification ---- */

static enum snp_product product_from_family(const char *name)
{
	char fam[40];
	snprintf(fam, sizeof(fam), "%s", name);
	/* "Milan-B0" → "Milan"; "Parma-Dev" is a whole name */
	if (strcmp(fam, SNP_DEV_PRODUCT_NAME) == 0)
		return SNP_PRODUCT_DEV;
	char *dash = strchr(fam, '-');
	if (dash)
		*dash = '\0';
	enum snp_product p = snp_product_from_name(fam);
	return p == SNP_PRODUCT_DEV ? SNP_PRODUCT_UNKNOWN : p;
}

enum snp_product snp_cert_leaf_product(const struct snp_cert *leaf)
{
	return product_from_family(leaf->product);
}

/* Certificate signatures must be RSASSA-PSS, SHA-384, MGF1-SHA-384, salt 48. */
static int check_pss_sha384(const struct snp_cert *sc, char *why, size_t n)
{
	const ASN1_BIT_STRING *sig;
	const X509_ALGOR *alg;
	const ASN1_OBJECT *obj;
	const void *pval;
	int ptype, ok = 0;

	X509_get0_signature(&sig, &alg, sc->x509);
	X509_ALGOR_get0(&obj, &ptype, &pval, alg);
	if (OBJ_obj2nid(obj) != NID_rsassaPss || ptype != V_ASN1_SEQUENCE) {
		snprintf(why, n, "%s \"%s\" is not signed with RSASSA-PSS", role_names[sc->role],
			 sc->cn);
		return -1;
	}
	const ASN1_STRING *seq = pval;
	const unsigned char *p = ASN1_STRING_get0_data(seq);
	RSA_PSS_PARAMS *pss = d2i_RSA_PSS_PARAMS(NULL, &p, ASN1_STRING_length(seq));
	if (pss && pss->hashAlgorithm && OBJ_obj2nid(pss->hashAlgorithm->algorithm) == NID_sha384 &&
	    pss->maskGenAlgorithm &&
	    OBJ_obj2nid(pss->maskGenAlgorithm->algorithm) == NID_mgf1 && pss->saltLength &&
	    ASN1_INTEGER_get(pss->saltLength) == 48) {
		const ASN1_OBJECT *mobj;
		const void *mval;
		int mtype;
		X509_ALGOR_get0(&mobj, &mtype, &mval, pss->maskGenAlgorithm);
		if (mtype == V_ASN1_SEQUENCE) {
			const ASN1_STRING *ms = mval;
			const unsigned char *mp = ASN1_STRING_get0_data(ms);
			X509_ALGOR *mh = d2i_X509_ALGOR(NULL, &mp, ASN1_STRING_length(ms));
			ok = mh && OBJ_obj2nid(mh->algorithm) == NID_sha384;
			X509_ALGOR_free(mh);
		}
	}
	RSA_PSS_PARAMS_free(pss);
	if (!ok) {
		snprintf(why, n, "%s \"%s\": signature parameters are not SHA-384/MGF1-SHA-384/salt 48",
			 role_names[sc->role], sc->cn);
		return -1;
	}
	return 0;
}

static int check_signed_by(const struct snp_cert *child, const struct snp_cert *parent, char *why,
			   size_t n)
{
	if (check_pss_sha384(child, why, n) < 0)
		return -1;
	if (EVP_PKEY_get_base_id(parent->pkey) != EVP_PKEY_RSA) {
		snprintf(why, n, "%s \"%s\" does not have an RSA key", role_names[parent->role],
			 parent->cn);
		return -1;
	}
	if (X509_verify(child->x509, parent->pkey) != 1) {
		ERR_clear_error();
		if (child == parent)
			snprintf(why, n, "ARK \"%s\" is not correctly self-signed", child->cn);
		else
			snprintf(why, n, "%s \"%s\" is not signed by %s \"%s\"",
				 role_names[child->role], child->cn, role_names[parent->role],
				 parent->cn);
		return -1;
	}
	return 0;
}

static bool leaf_key_is_p384(const struct snp_cert *leaf)
{
	char group[32];
	size_t len = 0;
	if (EVP_PKEY_get_base_id(leaf->pkey) != EVP_PKEY_EC)
		return false;
	if (EVP_PKEY_get_utf8_string_param(leaf->pkey, "group", group, sizeof(group), &len) != 1)
		return false;
	return strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0;
}

/* `child` must not be listed by any CRL that `parent` issued; a CRL naming
 * `parent` as issuer must carry its valid signature. Returns 0, or -1 with
 * the reason. Counts the CRLs consulted. */
static int check_revocation(const struct snp_certs *c, const struct snp_cert *child,
			    const struct snp_cert *parent, struct snp_chain *ch)
{
	for (size_t i = 0; i < c->n_crls; i++) {
		X509_CRL *crl = c->crls[i];
		X509_REVOKED *rev = NULL;
		if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(parent->x509)))
			continue;
		if (X509_CRL_verify(crl, parent->pkey) != 1) {
			ERR_clear_error();
			snprintf(ch->reason, sizeof(ch->reason),
				 "a CRL names %s \"%s\" as issuer but is not signed by it",
				 role_names[parent->role], parent->cn);
			return -1;
		}
		ch->n_crls_checked++;
		if (X509_CRL_get0_by_serial(crl, &rev,
					    (ASN1_INTEGER *)X509_get0_serialNumber(child->x509)) == 1) {
			snprintf(ch->reason, sizeof(ch->reason),
				 "%s \"%s\" is revoked by the CRL of %s \"%s\"",
				 role_names[child->role], child->cn, role_names[parent->role],
				 parent->cn);
			return -1;
		}
		snprintf(ch->crl_detail, sizeof(ch->crl_detail),
			 "%s \"%s\" is not on the CRL of %s \"%s\"", role_names[child->role],
			 child->cn, role_names[parent->role], parent->cn);
	}
	return 0;
}

/* The time-independent checks of one leaf → ca → ark triple. */
static void chain_check(struct snp_certs *c, struct snp_chain *ch)
{
	const struct snp_cert *leaf = &c->certs[ch->leaf], *ca = &c->certs[ch->ca],
			      *ark = &c->certs[ch->ark];
	char *why = ch->reason;
	size_t n = sizeof(ch->reason);
	char h[65];

	ch->ok = false;
	ch->dev = false;
	ch->product = SNP_PRODUCT_UNKNOWN;
	hex_encode(ark->sha256, 32, h);
	for (size_t i = 0; i < sizeof(pinned_arks) / sizeof(pinned_arks[0]); i++)
		if (strcmp(h, pinned_arks[i].sha256_hex) == 0)
			ch->product = pinned_arks[i].product;
	if (ch->product == SNP_PRODUCT_UNKNOWN) {
		if (strcmp(ark->product, SNP_DEV_PRODUCT_NAME) != 0) {
			snprintf(why, n, "ARK \"%s\" (sha256 %.16s...) is not one of AMD's root keys",
				 ark->cn, h);
			return;
		}
		ch->dev = true;
		ch->product = SNP_PRODUCT_DEV;
	}
	const char *pname = snp_product_name(ch->product);
	if (strcmp(ark->product, pname) != 0) {
		snprintf(why, n, "ARK \"%s\" does not name product %s", ark->cn, pname);
		return;
	}
	if (check_signed_by(ark, ark, why, n) < 0 || check_signed_by(ca, ark, why, n) < 0 ||
	    check_signed_by(leaf, ca, why, n) < 0)
		return;
	/* AMD's ARK/ASK/ASVK all say CA:TRUE; no X509_verify_cert() here (AMD VCEKs
	 * lack the AKID strict mode wants), so check what it would have checked */
	const struct snp_cert *cas[] = { ark, ca };
	for (int i = 0; i < 2; i++)
		if (X509_check_ca(cas[i]->x509) < 1) {
			snprintf(why, n, "%s \"%s\" is not a CA certificate (basicConstraints)",
				 role_names[cas[i]->role], cas[i]->cn);
			return;
		}
	ch->n_crls_checked = 0;
	ch->crl_detail[0] = '\0';
	if (check_revocation(c, ca, ark, ch) < 0 || check_revocation(c, leaf, ca, ch) < 0)
		return;
	if (strcmp(ca->product, pname) != 0) {
		snprintf(why, n, "%s \"%s\" names another product than its root %s",
			 role_names[ca->role], ca->cn, pname);
		return;
	}
	if (leaf->ext_error[0]) {
		snprintf(why, n, "%s: %s", role_names[leaf->role], leaf->ext_error);
		return;
	}
	if (product_from_family(leaf->product) != ch->product) {
		snprintf(why, n, "%s productName \"%s\" does not match the %s chain",
			 role_names[leaf->role], leaf->product, pname);
		return;
	}
	if (!leaf_key_is_p384(leaf)) {
		snprintf(why, n, "%s key is not ECDSA P-384", role_names[leaf->role]);
		return;
	}
	why[0] = '\0';
	ch->ok = true;
}

static struct snp_chain *chain_cached(struct snp_certs *c, size_t leaf, size_t ca, size_t ark)
{
	for (size_t i = 0; i < c->n_chains; i++) {
		struct snp_chain *ch = &c->chains[i];
		if (ch->leaf == leaf && ch->ca == ca && ch->ark == ark)
			return ch;
	}
	if (c->n_chains == c->cap_chains) {
		size_t cap = c->cap_chains ? 2 * c->cap_chains : 8;
		struct snp_chain *nc = realloc(c->chains, cap * sizeof(*nc));
		if (!nc)
			return NULL;
		c->chains = nc;
		c->cap_chains = cap;
	}
	struct snp_chain *ch = &c->chains[c->n_chains++];
	memset(ch, 0, sizeof(*ch));
	ch->leaf = leaf;
	ch->ca = ca;
	ch->ark = ark;
	chain_check(c, ch);
	return ch;
}

const struct snp_chain *snp_certs_chain_for(struct snp_certs *c, size_t leaf)
{
	const struct snp_cert *lf = &c->certs[leaf];
	enum snp_cert_role ca_role = lf->role == SNP_ROLE_VLEK ? SNP_ROLE_ASVK : SNP_ROLE_ASK;
	const struct snp_chain *first = NULL;
	bool any_ca = false;
	char issuer[80];

	for (size_t i = 0; i < c->n; i++) {
		const struct snp_cert *ca = &c->certs[i];
		if (ca->role != ca_role ||
		    X509_NAME_cmp(X509_get_subject_name(ca->x509), X509_get_issuer_name(lf->x509)))
			continue;
		any_ca = true;
		for (size_t j = 0; j < c->n; j++) {
			const struct snp_cert *ark = &c->certs[j];
			if (ark->role != SNP_ROLE_ARK ||
			    X509_NAME_cmp(X509_get_subject_name(ark->x509),
					  X509_get_issuer_name(ca->x509)))
				continue;
			const struct snp_chain *ch = chain_cached(c, leaf, i, j);
			if (!ch)
				return NULL;
			if (ch->ok)
				return ch;
			if (!first)
				first = ch;
		}
	}
	if (first)
		return first;
	struct snp_chain *nc = &c->no_chain;
	memset(nc, 0, sizeof(*nc));
	nc->leaf = leaf;
	if (!any_ca) {
		name_cn(X509_get_issuer_name(lf->x509), issuer, sizeof(issuer));
		snprintf(nc->reason, sizeof(nc->reason),
			 "no %s \"%s\" (issuer of the %s) among the certificates", role_names[ca_role],
			 issuer, role_names[lf->role]);
	} else {
		snprintf(nc->reason, sizeof(nc->reason),
			 "no ARK that issued the %s among the certificates", role_names[ca_role]);
	}
	return nc;
}
