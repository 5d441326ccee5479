/* snp_report: the 1184-byte AMD SEV-SNP attestation report (ATTESTATION_REPORT
 * in the SNP firmware ABI), versions 2 to 5: parse, serialize, render as JSON.
 *
 * Used by the guest agent (to read HOST_DATA from its own report) as well as by
 * the verifier, so it depends only on common/ and json-c. Parsing checks the
 * size, the version and every reserved/must-be-zero field and names the field
 * at fault; it does not check the signature (see snp_verify.h).
 *
 * Layout (little-endian; offsets from the SNP ABI, cross-checked against real
 * AMD-signed reports):
 *   0x000 VERSION · 0x004 GUEST_SVN · 0x008 POLICY · 0x010 FAMILY_ID[16] ·
 *   0x020 IMAGE_ID[16] · 0x030 VMPL · 0x034 SIGNATURE_ALGO · 0x038 CURRENT_TCB ·
 *   0x040 PLATFORM_INFO · 0x048 signer info · 0x04C reserved ·
 *   0x050 REPORT_DATA[64] · 0x090 MEASUREMENT[48] · 0x0C0 HOST_DATA[32] ·
 *   0x0E0 ID_KEY_DIGEST[48] · 0x110 AUTHOR_KEY_DIGEST[48] · 0x140 REPORT_ID[32] ·
 *   0x160 REPORT_ID_MA[32] · 0x180 REPORTED_TCB · 0x188 CPUID FAM/MOD/STEP (v3+) ·
 *   0x1A0 CHIP_ID[64] · 0x1E0 COMMITTED_TCB · 0x1E8 CURRENT build/minor/major ·
 *   0x1EC COMMITTED build/minor/major · 0x1F0 LAUNCH_TCB ·
 *   0x1F8 LAUNCH_MIT_VECTOR (v5) · 0x200 CURRENT_MIT_VECTOR (v5) ·
 *   0x2A0 SIGNATURE (R[72] and S[72], little-endian, rest zero).
 * The signature covers bytes 0x000-0x29F. */
#ifndef PARMA_ATTEST_SNP_REPORT_H
#define PARMA_ATTEST_SNP_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/errbuf.h"

struct json_object;

#define SNP_REPORT_SIZE 1184
#define SNP_REPORT_SIGNED_SIZE 0x2A0 /* bytes covered by the signature */
#define SNP_REPORT_MIN_VERSION 2
#define SNP_REPORT_MAX_VERSION 5
#define SNP_REPORT_DATA_SIZE 64
#define SNP_MEASUREMENT_SIZE 48
#define SNP_HOST_DATA_SIZE 32
#define SNP_ID_DIGEST_SIZE 48
#define SNP_FAMILY_ID_SIZE 16
#define SNP_REPORT_ID_SIZE 32
#define SNP_CHIP_ID_SIZE 64
#define SNP_CHIP_ID_TURIN_SIZE 8 /* Turin VCEKs certify only the first 8 bytes */
#define SNP_SIG_COMPONENT_SIZE 72 /* R and S, little-endian, zero-extended */

#define SNP_SIG_ALGO_ECDSA_P384_SHA384 1

/* Guest POLICY bits. */
#define SNP_POLICY_ABI_MINOR_MASK 0xffull
#define SNP_POLICY_ABI_MAJOR_SHIFT 8
#define SNP_POLICY_SMT (1ull << 16)
#define SNP_POLICY_RESERVED_MBO (1ull << 17) /* reserved, must be one */
#define SNP_POLICY_MIGRATE_MA (1ull << 18)
#define SNP_POLICY_DEBUG (1ull << 19)
#define SNP_POLICY_SINGLE_SOCKET (1ull << 20)
#define SNP_POLICY_CXL_ALLOW (1ull << 21)
#define SNP_POLICY_MEM_AES_256_XTS (1ull << 22)
#define SNP_POLICY_RAPL_DIS (1ull << 23)
#define SNP_POLICY_CIPHERTEXT_HIDING (1ull << 24)
#define SNP_POLICY_PAGE_SWAP_DISABLE (1ull << 25)
#define SNP_POLICY_MBZ_MASK (~0ull << 26)

/* PLATFORM_INFO bits. Bits without a name here (6, 63:8) are not rejected:
 * newer firmware defines more of them (real Turin reports set bit 6). */
#define SNP_PLATFORM_SMT_EN (1ull << 0)
#define SNP_PLATFORM_TSME_EN (1ull << 1)
#define SNP_PLATFORM_ECC_EN (1ull << 2)
#define SNP_PLATFORM_RAPL_DIS (1ull << 3)
#define SNP_PLATFORM_CIPHERTEXT_HIDING_EN (1ull << 4)
#define SNP_PLATFORM_ALIAS_CHECK_COMPLETE (1ull << 5)
#define SNP_PLATFORM_SEV_TIO_EN (1ull << 7)
#define SNP_PLATFORM_UNNAMED_MASK (~0ull << 8 | 1ull << 6)

/* Signer info word at 0x048. */
#define SNP_SIGNER_AUTHOR_KEY_EN (1u << 0)
#define SNP_SIGNER_MASK_CHIP_KEY (1u << 1)
#define SNP_SIGNER_SIGNING_KEY_SHIFT 2
#define SNP_SIGNER_SIGNING_KEY_MASK (7u << 2)
#define SNP_SIGNER_MBZ_MASK (~0u << 5)

enum snp_signing_key {
	SNP_SIGNING_KEY_VCEK = 0,
	SNP_SIGNING_KEY_VLEK = 1,
	SNP_SIGNING_KEY_NONE = 7,
};

/* Processor generation; decides the TCB_VERSION byte layout and the hwID size.
 * SNP_PRODUCT_DEV is Parma's development signer (never real hardware); it uses
 * the Milan/Genoa TCB layout. */
enum snp_product {
	SNP_PRODUCT_UNKNOWN = 0,
	SNP_PRODUCT_MILAN,
	SNP_PRODUCT_GENOA,
	SNP_PRODUCT_TURIN,
	SNP_PRODUCT_DEV,
};

/* The product name used in AMD certificates ("Milan", "Genoa", "Turin") or
 * "Parma-Dev"; "unknown" for SNP_PRODUCT_UNKNOWN. */
const char *snp_product_name(enum snp_product p);
/* Case-insensitive name (also accepts "dev") → product; UNKNOWN if none. */
enum snp_product snp_product_from_name(const char *name);

/* A TCB_VERSION decomposed into its security patch levels (SPLs).
 * Milan/Genoa: byte0 BOOT_LOADER, byte1 TEE, bytes2-5 reserved, byte6 SNP,
 * byte7 MICROCODE. Turin: byte0 FMC, byte1 BOOT_LOADER, byte2 TEE, byte3 SNP,
 * bytes4-6 reserved, byte7 MICROCODE. `fmc` is 0 and unused before Turin. */
struct snp_tcb {
	uint8_t fmc;
	uint8_t bootloader;
	uint8_t tee;
	uint8_t snp;
	uint8_t microcode;
};

/* Raw TCB_VERSION value (as read little-endian from the report) → parts.
 * Returns 0, or -EINVAL if a reserved byte of that layout is not zero (the
 * parts are filled either way). UNKNOWN uses the Milan/Genoa layout. */
int snp_tcb_decode(uint64_t raw, enum snp_product p, struct snp_tcb *out);
uint64_t snp_tcb_encode(const struct snp_tcb *tcb, enum snp_product p);

/* Every field of the report, in report order. TCB values are the raw 64-bit
 * little-endian words (decode with snp_tcb_decode for the right product). */
struct snp_report {
	uint32_t version;
	uint32_t guest_svn;
	uint64_t policy;
	uint8_t family_id[SNP_FAMILY_ID_SIZE];
	uint8_t image_id[SNP_FAMILY_ID_SIZE];
	uint32_t vmpl;
	uint32_t signature_algo;
	uint64_t current_tcb;
	uint64_t platform_info;
	uint32_t signer_info; /* AUTHOR_KEY_EN, MASK_CHIP_KEY, SIGNING_KEY */
	uint8_t report_data[SNP_REPORT_DATA_SIZE];
	uint8_t measurement[SNP_MEASUREMENT_SIZE];
	uint8_t host_data[SNP_HOST_DATA_SIZE];
	uint8_t id_key_digest[SNP_ID_DIGEST_SIZE];
	uint8_t author_key_digest[SNP_ID_DIGEST_SIZE];
	uint8_t report_id[SNP_REPORT_ID_SIZE];
	uint8_t report_id_ma[SNP_REPORT_ID_SIZE];
	uint64_t reported_tcb;
	uint8_t cpuid_fam_id; /* v3+ (zero in v2) */
	uint8_t cpuid_mod_id;
	uint8_t cpuid_step;
	uint8_t chip_id[SNP_CHIP_ID_SIZE];
	uint64_t committed_tcb;
	uint8_t current_build, current_minor, current_major;
	uint8_t committed_build, committed_minor, committed_major;
	uint64_t launch_tcb;
	uint64_t launch_mit_vector; /* v5+ (zero before) */
	uint64_t current_mit_vector;
	uint8_t sig_r[SNP_SIG_COMPONENT_SIZE]; /* little-endian, as in the report */
	uint8_t sig_s[SNP_SIG_COMPONENT_SIZE];
};

/* Parse a raw report. Errors (-EINVAL, message names the field):
 * "report: 1000 bytes, expected 1184", "report: version 1 is not supported (2-5)",
 * "report: reserved field at 0x04c is not zero", "report: policy: reserved bit 17
 * must be one", ... */
int snp_report_parse(const uint8_t *buf, size_t len, struct snp_report *out, struct errbuf *eb);

/* Write the report's 1184 bytes; reserved fields are written as zero. For any
 * report that parsed, serialize(parse(b)) == b. */
void snp_report_serialize(const struct snp_report *r, uint8_t out[SNP_REPORT_SIZE]);

/* The SIGNING_KEY field of signer_info. */
enum snp_signing_key snp_report_signing_key(const struct snp_report *r);

/* The product named by CPUID_FAM_ID/CPUID_MOD_ID (v3+): family 0x19 model
 * 0x00-0x0f Milan, 0x10-0x1f Genoa, family 0x1a Turin; UNKNOWN for v2 reports
 * or other values. */
enum snp_product snp_report_product(const struct snp_report *r);

/* All fields as a new JSON object (caller puts it). Byte strings are lowercase
 * hex, TCBs the hex of their 8 bytes in report order plus a `*_parts` object
 * decoded for `p` (UNKNOWN: snp_report_product(r), else Milan/Genoa layout),
 * policy/platform/signer words as "0x…" plus decoded flag objects.
 * Returns NULL only when out of memory. */
struct json_object *snp_report_to_json(const struct snp_report *r, enum snp_product p);

#endif
