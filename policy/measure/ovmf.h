/* ovmf: the launch digest of a QEMU + OVMF SEV-SNP guest, with the semantics
 * of the public sev-snp-measure tool, so users can cross-check Parma's digest
 * code against that standard tool.
 *
 * OVMF describes its SNP needs in a GUIDed table that ends 0x20 bytes before
 * the end of the image (footer GUID 96b582de-…, preceded by the u16 table
 * length; entries are `data | u16 length | GUID`, read backwards). The SEV
 * metadata entry points at an "ASEV" header listing sections {gpa, size, type}
 * that QEMU launches as ZERO, SECRETS, CPUID or kernel-hashes pages. */
#ifndef PARMA_MEASURE_OVMF_H
#define PARMA_MEASURE_OVMF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/errbuf.h"
#include "policy/measure/launch_digest.h"

#define OVMF_MAX_SECTIONS 32
#define SEV_HASHES_TABLE_LEN 176u

enum ovmf_section_type {
	OVMF_SECTION_SNP_SEC_MEM = 1,
	OVMF_SECTION_SNP_SECRETS = 2,
	OVMF_SECTION_CPUID = 3,
	OVMF_SECTION_SVSM_CAA = 4,
	OVMF_SECTION_SNP_KERNEL_HASHES = 0x10,
};

struct ovmf_section {
	uint32_t gpa;
	uint32_t size;
	uint32_t type;
};

struct ovmf_info {
	uint64_t gpa;                   /* where the image is loaded: 4 GiB - size */
	bool has_ap_eip;
	uint32_t ap_eip;                /* SEV-ES reset block */
	bool has_hashes_table;
	uint32_t hashes_table_gpa;      /* SEV hash table base / size */
	uint32_t hashes_table_size;
	unsigned n_sections;
	struct ovmf_section section[OVMF_MAX_SECTIONS];
};

/* Parse the footer table and SEV metadata of an OVMF image (hostile input:
 * every offset is bounds-checked). The image need not be complete: the last
 * 4 KiB (which holds the table) suffices, as in sev-snp-measure's fixtures. */
int ovmf_parse(const uint8_t *img, size_t len, struct ovmf_info *info, struct errbuf *eb);

/* The 176-byte SEV hashes table QEMU gives OVMF for measured direct boot:
 * SHA-256 of cmdline+NUL, initrd and kernel, in that order (GUIDed entries). */
void sev_hashes_table_build(const uint8_t cmdline_sha256[32], const uint8_t initrd_sha256[32],
			    const uint8_t kernel_sha256[32], uint8_t out[SEV_HASHES_TABLE_LEN]);

struct ovmf_measure_input {
	const uint8_t *ovmf;            /* whole image, or NULL with `seed` */
	size_t ovmf_len;
	const uint8_t *seed;            /* 48-byte digest of the OVMF pages: the chain
					 * restarts there and the image is skipped */
	const struct ovmf_info *info;   /* parsed table (required) */
	unsigned vcpus;
	uint32_t vcpu_sig;
	uint64_t guest_features;
	bool has_kernel;                /* direct boot: fill the kernel-hashes page */
	uint8_t kernel_sha256[32], initrd_sha256[32], cmdline_sha256[32];
};

/* Run the QEMU/OVMF launch sequence through `d` (initialised by the caller,
 * which may have set on_page). */
int ovmf_measure(struct launch_digest *d, const struct ovmf_measure_input *in,
		 struct errbuf *eb);

#endif
