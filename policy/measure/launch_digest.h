/* launch_digest: the SEV-SNP launch digest (the report's MEASUREMENT).
 *
 * The AMD secure processor starts the digest LD at 48 zero bytes and, for every
 * 4 KiB page handed to SNP_LAUNCH_UPDATE, replaces it with SHA-384(PAGE_INFO),
 * where PAGE_INFO (0x70 bytes, SNP ABI "PAGE_INFO" table) is
 *   DIGEST_CUR[48] | CONTENTS[48] | LENGTH u16 = 0x70 | PAGE_TYPE u8 | IMI u8 |
 *   VMPL3/2/1 perms u8 ×3 | reserved u8 | GPA u64
 * CONTENTS is SHA-384 of the page for NORMAL and VMSA pages and zero otherwise;
 * VMSA pages use the GPA 0xFFFFFFFFF000 (KVM's INITIAL_VMSA_GPA).
 *
 * This is the one implementation used by `parma measure`, by the VMM's SNP
 * launch (expected digest, ID block) and by dev-mode attestation. */
#ifndef PARMA_MEASURE_LAUNCH_DIGEST_H
#define PARMA_MEASURE_LAUNCH_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define SNP_PAGE_SIZE 4096u
#define SNP_LD_LEN 48u
#define SNP_PAGE_INFO_LEN 0x70u
#define SNP_VMSA_GPA 0xFFFFFFFFF000ull

/* Firmware page types (also the values of KVM's kvm_sev_snp_launch_update.type,
 * except VMSA which only KVM itself issues). */
enum snp_page_type {
	SNP_PAGE_NORMAL = 1,
	SNP_PAGE_VMSA = 2,
	SNP_PAGE_ZERO = 3,
	SNP_PAGE_UNMEASURED = 4,
	SNP_PAGE_SECRETS = 5,
	SNP_PAGE_CPUID = 6,
};

/* "normal", "vmsa", ... or NULL for a value that is not a page type. */
const char *snp_page_type_name(int type);

/* What one measured page contributed, for debugging mismatches. */
struct launch_page_record {
	uint64_t index;                 /* 0-based position in the chain */
	uint64_t gpa;
	enum snp_page_type type;
	const char *label;              /* which launch item the page belongs to */
	uint8_t contents[SNP_LD_LEN];   /* PAGE_INFO.CONTENTS */
	uint8_t digest[SNP_LD_LEN];     /* LD after this page */
};

typedef void (*launch_page_fn)(void *opaque, const struct launch_page_record *rec);

struct launch_digest {
	uint8_t ld[SNP_LD_LEN];
	uint64_t pages;         /* pages measured so far */
	launch_page_fn on_page; /* optional, called after every page */
	void *opaque;
	void *md_ctx;           /* OpenSSL digest context, reused for speed */
	void *md;
};

/* Start a chain at 48 zero bytes, or at `seed` (a digest of a prefix of the
 * chain, as sev-snp-measure's --snp-ovmf-hash). Returns 0 or -ENOMEM. */
int launch_digest_init(struct launch_digest *d, const uint8_t *seed);
void launch_digest_fini(struct launch_digest *d);

/* Measure one page. `page` (4096 bytes) is read only for NORMAL and VMSA and
 * may be NULL otherwise. Returns 0, -EINVAL for a bad type, NULL contents, or
 * a GPA that is not page aligned, -EIO if OpenSSL fails. */
int launch_digest_page(struct launch_digest *d, uint64_t gpa, enum snp_page_type type,
		       const uint8_t *page, const char *label);

/* Measure `len` bytes (page multiple; a NORMAL range's last partial page is
 * zero-padded, as the loader pads it in guest memory) starting at `gpa`. */
int launch_digest_range(struct launch_digest *d, uint64_t gpa, enum snp_page_type type,
			const uint8_t *data, size_t len, const char *label);

#endif
