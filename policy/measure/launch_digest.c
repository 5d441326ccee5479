#include "policy/measure/launch_digest.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

static const char *const page_type_names[] = {
	[SNP_PAGE_NORMAL] = "normal",   [SNP_PAGE_VMSA] = "vmsa",
	[SNP_PAGE_ZERO] = "zero",       [SNP_PAGE_UNMEASURED] = "unmeasured",
	[SNP_PAGE_SECRETS] = "secrets", [SNP_PAGE_CPUID] = "cpuid",
};

const char *snp_page_type_name(int type)
{
	if (type < 0 || (size_t)type >= sizeof(page_type_names) / sizeof(page_type_names[0]))
		return NULL;
	return page_type_names[type];
}

int launch_digest_init(struct launch_digest *d, const uint8_t *seed)
{
	memset(d, 0, sizeof(*d));
	if (seed)
		memcpy(d->ld, seed, SNP_LD_LEN);
	/* Fetch the algorithm once: per-page EVP_sha384() lookups cost ~10% at 4 KiB. */
	d->md = EVP_MD_fetch(NULL, "SHA384", NULL);
	d->md_ctx = EVP_MD_CTX_new();
	if (!d->md || !d->md_ctx) {
		launch_digest_fini(d);
		return -ENOMEM;
	}
	return 0;
}

void launch_digest_fini(struct launch_digest *d)
{
	if (!d)
		return;
	EVP_MD_CTX_free(d->md_ctx);
	EVP_MD_free(d->md);
	d->md_ctx = NULL;
	d->md = NULL;
}

static int sha384(struct launch_digest *d, const void *data, size_t len, uint8_t out[SNP_LD_LEN])
{
	unsigned int n = 0;
	if (EVP_DigestInit_ex2(d->md_ctx, d->md, NULL) != 1 ||
	    EVP_DigestUpdate(d->md_ctx, data, len) != 1 ||
	    EVP_DigestFinal_ex(d->md_ctx, out, &n) != 1 || n != SNP_LD_LEN)
		return -EIO;
	return 0;
}

static int type_has_contents(enum snp_page_type type)
{
	return type == SNP_PAGE_NORMAL || type == SNP_PAGE_VMSA;
}

int launch_digest_page(struct launch_digest *d, uint64_t gpa, enum snp_page_type type,
		       const uint8_t *page, const char *label)
{
	uint8_t info[SNP_PAGE_INFO_LEN] = { 0 };
	struct launch_page_record rec;
	int rc;

	if (!snp_page_type_name((int)type) || (gpa & (SNP_PAGE_SIZE - 1)))
		return -EINVAL;
	if (type_has_contents(type) && !page)
		return -EINVAL;
	if (!d->md_ctx)
		return -EINVAL;

	memcpy(info, d->ld, SNP_LD_LEN);
	if (type_has_contents(type)) {
		rc = sha384(d, page, SNP_PAGE_SIZE, info + 0x30);
		if (rc)
			return rc;
	}
	info[0x60] = SNP_PAGE_INFO_LEN & 0xff;
	info[0x61] = SNP_PAGE_INFO_LEN >> 8;
	info[0x62] = (uint8_t)type;
	/* 0x63 IMI_PAGE, 0x64..0x66 VMPL3..1 permissions, 0x67 reserved: all 0. */
	for (int i = 0; i < 8; i++)
		info[0x68 + i] = (uint8_t)(gpa >> (8 * i));
	rc = sha384(d, info, sizeof(info), d->ld);
	if (rc)
		return rc;

	if (d->on_page) {
		rec.index = d->pages;
		rec.gpa = gpa;
		rec.type = type;
		rec.label = label ? label : "";
		memcpy(rec.contents, info + 0x30, SNP_LD_LEN);
		memcpy(rec.digest, d->ld, SNP_LD_LEN);
		d->on_page(d->opaque, &rec);
	}
	d->pages++;
	return 0;
}

int launch_digest_range(struct launch_digest *d, uint64_t gpa, enum snp_page_type type,
			const uint8_t *data, size_t len, const char *label)
{
	uint8_t last[SNP_PAGE_SIZE];

	if (gpa & (SNP_PAGE_SIZE - 1))
		return -EINVAL;
	if (gpa + len < gpa)
		return -EINVAL;
	if (type_has_contents(type) && len && !data)
		return -EINVAL;
	if (!type_has_contents(type) && (len & (SNP_PAGE_SIZE - 1)))
		return -EINVAL;
	for (size_t off = 0; off < len; off += SNP_PAGE_SIZE) {
		const uint8_t *page = data ? data + off : NULL;
		int rc;
		if (page && len - off < SNP_PAGE_SIZE) {
			memset(last, 0, sizeof(last));
			memcpy(last, page, len - off);
			page = last;
		}
		rc = launch_digest_page(d, gpa + off, type, page, label);
		if (rc)
			return rc;
	}
	return 0;
}
