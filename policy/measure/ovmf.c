#include "policy/measure/ovmf.h"

#include <errno.h>
#include <string.h>

#include "common/byteorder.h"
#include "policy/measure/vmsa.h"

#define GUID_ENTRY_HDR 18u /* u16 length + 16-byte GUID */

/* GUIDs in text form; guid_le() gives the on-disk (Microsoft bytes_le) order. */
#define GUID_FOOTER "96b582de-1fb2-45f7-baea-a366c55a082d"
#define GUID_SEV_ES_RESET_BLOCK "00f771de-1a7e-4fcb-890e-68c77e2fb44e"
#define GUID_SEV_HASH_TABLE "7255371f-3a3b-4b04-927b-1da6efa8d454"
#define GUID_SEV_METADATA "dc886566-984a-4798-a75e-5585a7bf67cc"
#define GUID_HASHES_HEADER "9438d606-4f22-4cc9-b479-a793d411fd21"
#define GUID_HASH_CMDLINE "97d02dd8-bd20-4c94-aa78-e7714d36ab2a"
#define GUID_HASH_INITRD "44baf731-3a2f-4bd7-9af1-41e29169781d"
#define GUID_HASH_KERNEL "4de79437-abd2-427f-b835-d5b172d2045b"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Text GUID → 16 bytes, first three fields little-endian. The inputs are the
 * constants above, always well formed. */
static void guid_le(const char *text, uint8_t out[16])
{
	uint8_t be[16];
	unsigned n = 0;
	for (const char *p = text; *p && n < 16; p++) {
		if (*p == '-')
			continue;
		be[n++] = (uint8_t)(hexval(p[0]) << 4 | hexval(p[1]));
		p++;
	}
	static const uint8_t order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
	for (int i = 0; i < 16; i++)
		out[i] = be[order[i]];
}

static int parse_metadata(const uint8_t *img, size_t len, uint32_t off_from_end,
			  struct ovmf_info *info, struct errbuf *eb)
{
	if (off_from_end > len || off_from_end < 16)
		return errbuf_set(eb, EINVAL, "SEV metadata offset %u is outside the image",
				  off_from_end);
	const uint8_t *h = img + len - off_from_end;
	if (memcmp(h, "ASEV", 4))
		return errbuf_set(eb, EINVAL, "SEV metadata has no \"ASEV\" signature");
	uint32_t size = le_get32(h + 4), version = le_get32(h + 8), n = le_get32(h + 12);
	if (version != 1)
		return errbuf_set(eb, EINVAL, "SEV metadata version %u (expected 1)", version);
	if (n > OVMF_MAX_SECTIONS)
		return errbuf_set(eb, EINVAL, "SEV metadata lists %u sections (at most %u)", n,
				  OVMF_MAX_SECTIONS);
	if (size < 16 + 12 * n || size > off_from_end)
		return errbuf_set(eb, EINVAL, "SEV metadata size %u does not hold %u sections",
				  size, n);
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = h + 16 + 12 * i;
		struct ovmf_section *s = &info->section[i];
		s->gpa = le_get32(e);
		s->size = le_get32(e + 4);
		s->type = le_get32(e + 8);
		if ((s->gpa & (SNP_PAGE_SIZE - 1)) || (s->size & (SNP_PAGE_SIZE - 1)) || !s->size)
			return errbuf_set(eb, EINVAL,
					  "SEV metadata section %u (gpa 0x%x size 0x%x) is not page "
					  "aligned", i, s->gpa, s->size);
		if ((uint64_t)s->gpa + s->size > 0x100000000ull)
			return errbuf_set(eb, EINVAL, "SEV metadata section %u crosses 4 GiB", i);
	}
	info->n_sections = n;
	return 0;
}

int ovmf_parse(const uint8_t *img, size_t len, struct ovmf_info *info, struct errbuf *eb)
{
	uint8_t footer[16], g[16];
	bool have_metadata = false;
	uint32_t metadata_off = 0;

	memset(info, 0, sizeof(*info));
	if (len < SNP_PAGE_SIZE || (len & (SNP_PAGE_SIZE - 1)) || len > 0x100000000ull)
		return errbuf_set(eb, EINVAL,
				  "image size %zu is not a whole number of 4 KiB pages below 4 GiB",
				  len);
	info->gpa = 0x100000000ull - len;

	size_t end = len - 0x20; /* the table ends 0x20 bytes before the image end */
	guid_le(GUID_FOOTER, footer);
	if (memcmp(img + end - 16, footer, 16))
		return errbuf_set(eb, EINVAL, "no OVMF footer table GUID at offset 0x%zx",
				  end - 16);
	size_t table_len = le_get16(img + end - GUID_ENTRY_HDR);
	if (table_len < GUID_ENTRY_HDR || table_len > end)
		return errbuf_set(eb, EINVAL, "OVMF footer table length %zu is invalid", table_len);
	size_t start = end - table_len;
	end -= GUID_ENTRY_HDR;
	while (end > start) {
		if (end - start < GUID_ENTRY_HDR)
			return errbuf_set(eb, EINVAL, "truncated entry in the OVMF footer table");
		size_t elen = le_get16(img + end - GUID_ENTRY_HDR);
		if (elen < GUID_ENTRY_HDR || elen > end - start)
			return errbuf_set(eb, EINVAL, "OVMF footer entry length %zu is invalid", elen);
		const uint8_t *data = img + end - elen, *guid = img + end - 16;
		size_t dlen = elen - GUID_ENTRY_HDR;

		guid_le(GUID_SEV_ES_RESET_BLOCK, g);
		if (!memcmp(guid, g, 16) && dlen >= 4) {
			info->has_ap_eip = true;
			info->ap_eip = le_get32(data);
		}
		guid_le(GUID_SEV_HASH_TABLE, g);
		if (!memcmp(guid, g, 16) && dlen >= 8) {
			info->has_hashes_table = true;
			info->hashes_table_gpa = le_get32(data);
			info->hashes_table_size = le_get32(data + 4);
		}
		guid_le(GUID_SEV_METADATA, g);
		if (!memcmp(guid, g, 16) && dlen >= 4) {
			have_metadata = true;
			metadata_off = le_get32(data);
		}
		end -= elen;
	}
	if (!have_metadata)
		return errbuf_set(eb, EINVAL, "the OVMF image has no SEV metadata (not an SNP build)");
	return parse_metadata(img, len, metadata_off, info, eb);
}

void sev_hashes_table_build(const uint8_t cmdline_sha256[32], const uint8_t initrd_sha256[32],
			    const uint8_t kernel_sha256[32], uint8_t out[SEV_HASHES_TABLE_LEN])
{
	const char *guids[3] = { GUID_HASH_CMDLINE, GUID_HASH_INITRD, GUID_HASH_KERNEL };
	const uint8_t *hashes[3] = { cmdline_sha256, initrd_sha256, kernel_sha256 };
	uint8_t *p = out;

	memset(out, 0, SEV_HASHES_TABLE_LEN);
	guid_le(GUID_HASHES_HEADER, p);
	p[16] = 168; /* header + three 50-byte entries, before padding to 16 */
	p += 18;
	for (int i = 0; i < 3; i++) {
		guid_le(guids[i], p);
		p[16] = 50;
		memcpy(p + 18, hashes[i], 32);
		p += 50;
	}
}

static int section_pages(struct launch_digest *d, const struct ovmf_section *s,
			 enum snp_page_type type)
{
	return launch_digest_range(d, s->gpa, type, NULL, s->size, "ovmf-section");
}

/* Measured direct boot: the whole kernel-hashes section is launched as NORMAL
 * pages, the SEV hashes table at its page offset in the first page and zeros
 * elsewhere (QEMU's kernel-hashes launch update; sev-snp-measure handles only
 * one-page sections). The table must lie in that first page, where OVMF reads
 * it; otherwise the measured bytes would not be the ones the firmware checks. */
static int kernel_hashes_pages(struct launch_digest *d, const struct ovmf_info *info,
			       const struct ovmf_section *s, const struct ovmf_measure_input *in,
			       struct errbuf *eb)
{
	uint8_t page[SNP_PAGE_SIZE];
	uint32_t off = info->hashes_table_gpa & (SNP_PAGE_SIZE - 1);
	int rc;

	if (!info->has_hashes_table)
		return errbuf_set(eb, EINVAL, "the OVMF image has an SNP_KERNEL_HASHES section but "
				  "no SEV hash table entry in its footer table");
	if (info->hashes_table_size < SEV_HASHES_TABLE_LEN ||
	    off + SEV_HASHES_TABLE_LEN > SNP_PAGE_SIZE ||
	    info->hashes_table_gpa - off != s->gpa)
		return errbuf_set(eb, EINVAL,
				  "the SEV hash table (gpa 0x%x size 0x%x) does not fit in the first "
				  "page of the SNP_KERNEL_HASHES section (gpa 0x%x)",
				  info->hashes_table_gpa, info->hashes_table_size, s->gpa);
	memset(page, 0, sizeof(page));
	sev_hashes_table_build(in->cmdline_sha256, in->initrd_sha256, in->kernel_sha256,
			       page + off);
	for (uint32_t at = 0; at < s->size; at += SNP_PAGE_SIZE) {
		rc = launch_digest_page(d, s->gpa + at, SNP_PAGE_NORMAL, page, "kernel-hashes");
		if (rc)
			return errbuf_set(eb, -rc, "measuring the SNP_KERNEL_HASHES section failed");
		if (at == 0)
			memset(page, 0, sizeof(page)); /* the rest of the section is zero */
	}
	return 0;
}

int ovmf_measure(struct launch_digest *d, const struct ovmf_measure_input *in,
		 struct errbuf *eb)
{
	const struct ovmf_info *info = in->info;
	uint8_t page[SNP_PAGE_SIZE];
	struct snp_vcpu_state st;
	bool have_hashes = false;
	int rc;

	if (in->seed) {
		memcpy(d->ld, in->seed, SNP_LD_LEN);
	} else {
		if (!in->ovmf)
			return errbuf_set(eb, EINVAL, "need the OVMF image or its digest");
		rc = launch_digest_range(d, info->gpa, SNP_PAGE_NORMAL, in->ovmf, in->ovmf_len,
					 "ovmf");
		if (rc)
			return errbuf_set(eb, -rc, "measuring the OVMF image failed");
	}
	for (unsigned i = 0; i < info->n_sections; i++) {
		const struct ovmf_section *s = &info->section[i];
		switch (s->type) {
		case OVMF_SECTION_SNP_SEC_MEM:
		case OVMF_SECTION_SVSM_CAA:
			rc = section_pages(d, s, SNP_PAGE_ZERO);
			break;
		case OVMF_SECTION_SNP_SECRETS:
			rc = launch_digest_page(d, s->gpa, SNP_PAGE_SECRETS, NULL, "secrets");
			break;
		case OVMF_SECTION_CPUID:
			rc = launch_digest_page(d, s->gpa, SNP_PAGE_CPUID, NULL, "cpuid");
			break;
		case OVMF_SECTION_SNP_KERNEL_HASHES:
			if (!in->has_kernel) {
				rc = section_pages(d, s, SNP_PAGE_ZERO);
				break;
			}
			rc = kernel_hashes_pages(d, info, s, in, eb);
			if (rc)
				return rc;
			have_hashes = true;
			break;
		default:
			return errbuf_set(eb, EINVAL, "SEV metadata section %u has unknown type 0x%x",
					  i, s->type);
		}
		if (rc)
			return errbuf_set(eb, -rc, "measuring SEV metadata section %u failed", i);
	}
	/* A kernel the launch does not bind must not get a digest (QEMU and
	 * sev-snp-measure refuse this too). */
	if (in->has_kernel && !have_hashes)
		return errbuf_set(eb, EINVAL,
				  "a kernel was given but the OVMF SEV metadata has no "
				  "SNP_KERNEL_HASHES section: the launch would not bind the kernel, "
				  "initrd or command line");
	if (in->vcpus == 0)
		return errbuf_set(eb, EINVAL, "at least one vCPU is needed");
	if (in->vcpus > 1 && !info->has_ap_eip)
		return errbuf_set(eb, EINVAL, "the OVMF image has no SEV-ES reset block for APs");
	for (unsigned v = 0; v < in->vcpus; v++) {
		uint32_t eip = v == 0 ? 0xfffffff0u : info->ap_eip;
		snp_vcpu_state_reset(&st, eip, in->vcpu_sig, in->guest_features);
		snp_vmsa_build(&st, page);
		rc = launch_digest_page(d, SNP_VMSA_GPA, SNP_PAGE_VMSA, page,
					v == 0 ? "vmsa-bsp" : "vmsa-ap");
		if (rc)
			return errbuf_set(eb, -rc, "measuring the VMSA of vCPU %u failed", v);
	}
	return 0;
}
