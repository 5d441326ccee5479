/* snp_report: parse/serialize/render the SEV-SNP attestation report. */
#include "policy/attest/snp_report.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "common/encoding.h"

/* Field offsets (SNP ABI, ATTESTATION_REPORT). */
enum {
	OFF_VERSION = 0x000,
	OFF_GUEST_SVN = 0x004,
	OFF_POLICY = 0x008,
	OFF_FAMILY_ID = 0x010,
	OFF_IMAGE_ID = 0x020,
	OFF_VMPL = 0x030,
	OFF_SIG_ALGO = 0x034,
	OFF_CURRENT_TCB = 0x038,
	OFF_PLATFORM_INFO = 0x040,
	OFF_SIGNER_INFO = 0x048,
	OFF_REPORT_DATA = 0x050,
	OFF_MEASUREMENT = 0x090,
	OFF_HOST_DATA = 0x0C0,
	OFF_ID_KEY_DIGEST = 0x0E0,
	OFF_AUTHOR_KEY_DIGEST = 0x110,
	OFF_REPORT_ID = 0x140,
	OFF_REPORT_ID_MA = 0x160,
	OFF_REPORTED_TCB = 0x180,
	OFF_CPUID_FAM = 0x188,
	OFF_CPUID_MOD = 0x189,
	OFF_CPUID_STEP = 0x18A,
	OFF_CHIP_ID = 0x1A0,
	OFF_COMMITTED_TCB = 0x1E0,
	OFF_CURRENT_BUILD = 0x1E8,
	OFF_COMMITTED_BUILD = 0x1EC,
	OFF_LAUNCH_TCB = 0x1F0,
	OFF_LAUNCH_MIT = 0x1F8,
	OFF_CURRENT_MIT = 0x200,
	OFF_SIG_R = 0x2A0,
	OFF_SIG_S = 0x2E8,
	OFF_SIG_END = 0x330,
};

/* Reserved (must-be-zero) byte ranges, [start, end), what they are, and the
 * first report version in which the range carries a field instead. */
static const struct reserved_range {
	unsigned start, end;
	uint32_t used_from_version; /* 0: reserved in every version */
	const char *what;
} reserved_ranges[] = {
	{ 0x04C, 0x050, 0, "reserved word after the signer info" },
	{ 0x188, 0x18B, 3, "CPUID_FAM_ID/MOD_ID/STEP (reserved before version 3)" },
	{ 0x18B, 0x1A0, 0, "reserved bytes after REPORTED_TCB" },
	{ 0x1EB, 0x1EC, 0, "reserved byte after CURRENT_MAJOR" },
	{ 0x1EF, 0x1F0, 0, "reserved byte after COMMITTED_MAJOR" },
	{ 0x1F8, 0x208, 5, "LAUNCH/CURRENT_MIT_VECTOR (reserved before version 5)" },
	{ 0x208, 0x2A0, 0, "reserved bytes before the signature" },
	{ OFF_SIG_END, SNP_REPORT_SIZE, 0, "signature padding after R and S" },
};

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static const char *const product_names[] = {
	[SNP_PRODUCT_UNKNOWN] = "unknown",
	[SNP_PRODUCT_MILAN] = "Milan",
	[SNP_PRODUCT_GENOA] = "Genoa",
	[SNP_PRODUCT_TURIN] = "Turin",
	[SNP_PRODUCT_DEV] = "Parma-Dev",
};

const char *snp_product_name(enum snp_product p)
{
	if ((unsigned)p >= sizeof(product_names) / sizeof(product_names[0]))
		return "unknown";
	return product_names[p];
}

enum snp_product snp_product_from_name(const char *name)
{
	if (!name)
		return SNP_PRODUCT_UNKNOWN;
	for (unsigned p = SNP_PRODUCT_MILAN; p <= SNP_PRODUCT_DEV; p++)
		if (strcasecmp(name, product_names[p]) == 0)
			return (enum snp_product)p;
	if (strcasecmp(name, "dev") == 0)
		return SNP_PRODUCT_DEV;
	return SNP_PRODUCT_UNKNOWN;
}

/* Byte index of each SPL in a TCB_VERSION, per layout; -1 = absent. */
struct tcb_layout {
	int fmc, bootloader, tee, snp, microcode;
	uint8_t reserved_mask; /* bit i set: byte i is reserved */
};

static const struct tcb_layout tcb_legacy = { -1, 0, 1, 6, 7, 0x3c };
static const struct tcb_layout tcb_turin = { 0, 1, 2, 3, 7, 0x70 };

static const struct tcb_layout *tcb_layout_for(enum snp_product p)
{
	return p == SNP_PRODUCT_TURIN ? &tcb_turin : &tcb_legacy;
}

int snp_tcb_decode(uint64_t raw, enum snp_product p, struct snp_tcb *out)
{
	const struct tcb_layout *l = tcb_layout_for(p);
	uint8_t b[8];
	put_u64(b, raw);
	out->fmc = l->fmc >= 0 ? b[l->fmc] : 0;
	out->bootloader = b[l->bootloader];
	out->tee = b[l->tee];
	out->snp = b[l->snp];
	out->microcode = b[l->microcode];
	for (int i = 0; i < 8; i++)
		if ((l->reserved_mask >> i & 1) && b[i])
			return -EINVAL;
	return 0;
}

uint64_t snp_tcb_encode(const struct snp_tcb *tcb, enum snp_product p)
{
	const struct tcb_layout *l = tcb_layout_for(p);
	uint8_t b[8] = { 0 };
	if (l->fmc >= 0)
		b[l->fmc] = tcb->fmc;
	b[l->bootloader] = tcb->bootloader;
	b[l->tee] = tcb->tee;
	b[l->snp] = tcb->snp;
	b[l->microcode] = tcb->microcode;
	return get_u64(b);
}

int snp_report_parse(const uint8_t *buf, size_t len, struct snp_report *r, struct errbuf *eb)
{
	memset(r, 0, sizeof(*r));
	if (len != SNP_REPORT_SIZE)
		return errbuf_set(eb, EINVAL, "report: %zu bytes, expected %d", len,
				  SNP_REPORT_SIZE);

	r->version = get_u32(buf + OFF_VERSION);
	if (r->version < SNP_REPORT_MIN_VERSION || r->version > SNP_REPORT_MAX_VERSION)
		return errbuf_set(eb, EINVAL, "report: version %u is not supported (%d-%d)",
				  r->version, SNP_REPORT_MIN_VERSION, SNP_REPORT_MAX_VERSION);

	for (size_t i = 0; i < sizeof(reserved_ranges) / sizeof(reserved_ranges[0]); i++) {
		const struct reserved_range *rr = &reserved_ranges[i];
		if (rr->used_from_version && r->version >= rr->used_from_version)
			continue;
		for (unsigned o = rr->start; o < rr->end; o++)
			if (buf[o])
				return errbuf_set(eb, EINVAL,
						  "report: reserved byte at 0x%03x is not zero (%s, "
						  "0x%03x-0x%03x; version %u)",
						  o, rr->what, rr->start, rr->end - 1, r->version);
	}

	r->guest_svn = get_u32(buf + OFF_GUEST_SVN);
	r->policy = get_u64(buf + OFF_POLICY);
	if (r->policy & SNP_POLICY_MBZ_MASK)
		return errbuf_set(eb, EINVAL, "report: policy 0x%llx: reserved bits 63:26 are not zero",
				  (unsigned long long)r->policy);
	if (!(r->policy & SNP_POLICY_RESERVED_MBO))
		return errbuf_set(eb, EINVAL, "report: policy 0x%llx: reserved bit 17 must be one",
				  (unsigned long long)r->policy);
	memcpy(r->family_id, buf + OFF_FAMILY_ID, sizeof(r->family_id));
	memcpy(r->image_id, buf + OFF_IMAGE_ID, sizeof(r->image_id));
	r->vmpl = get_u32(buf + OFF_VMPL);
	r->signature_algo = get_u32(buf + OFF_SIG_ALGO);
	r->current_tcb = get_u64(buf + OFF_CURRENT_TCB);
	/* PLATFORM_INFO describes the host and gains bits with new firmware
	 * (real Turin reports set bit 6): kept, shown, never rejected. */
	r->platform_info = get_u64(buf + OFF_PLATFORM_INFO);
	r->signer_info = get_u32(buf + OFF_SIGNER_INFO);
	if (r->signer_info & SNP_SIGNER_MBZ_MASK)
		return errbuf_set(eb, EINVAL,
				  "report: signer info 0x%x at 0x048: reserved bits 31:5 are not zero",
				  r->signer_info);
	unsigned key = (r->signer_info & SNP_SIGNER_SIGNING_KEY_MASK) >> SNP_SIGNER_SIGNING_KEY_SHIFT;
	if (key != SNP_SIGNING_KEY_VCEK && key != SNP_SIGNING_KEY_VLEK && key != SNP_SIGNING_KEY_NONE)
		return errbuf_set(eb, EINVAL, "report: signing_key %u is reserved (0 VCEK, 1 VLEK, 7 none)",
				  key);
	memcpy(r->report_data, buf + OFF_REPORT_DATA, sizeof(r->report_data));
	memcpy(r->measurement, buf + OFF_MEASUREMENT, sizeof(r->measurement));
	memcpy(r->host_data, buf + OFF_HOST_DATA, sizeof(r->host_data));
	memcpy(r->id_key_digest, buf + OFF_ID_KEY_DIGEST, sizeof(r->id_key_digest));
	memcpy(r->author_key_digest, buf + OFF_AUTHOR_KEY_DIGEST, sizeof(r->author_key_digest));
	memcpy(r->report_id, buf + OFF_REPORT_ID, sizeof(r->report_id));
	memcpy(r->report_id_ma, buf + OFF_REPORT_ID_MA, sizeof(r->report_id_ma));
	r->reported_tcb = get_u64(buf + OFF_REPORTED_TCB);
	if (r->version >= 3) {
		r->cpuid_fam_id = buf[OFF_CPUID_FAM];
		r->cpuid_mod_id = buf[OFF_CPUID_MOD];
		r->cpuid_step = buf[OFF_CPUID_STEP];
	}
	memcpy(r->chip_id, buf + OFF_CHIP_ID, sizeof(r->chip_id));
	r->committed_tcb = get_u64(buf + OFF_COMMITTED_TCB);
	r->current_build = buf[OFF_CURRENT_BUILD];
	r->current_minor = buf[OFF_CURRENT_BUILD + 1];
	r->current_major = buf[OFF_CURRENT_BUILD + 2];
	r->committed_build = buf[OFF_COMMITTED_BUILD];
	r->committed_minor = buf[OFF_COMMITTED_BUILD + 1];
	r->committed_major = buf[OFF_COMMITTED_BUILD + 2];
	r->launch_tcb = get_u64(buf + OFF_LAUNCH_TCB);
	if (r->version >= 5) {
		r->launch_mit_vector = get_u64(buf + OFF_LAUNCH_MIT);
		r->current_mit_vector = get_u64(buf + OFF_CURRENT_MIT);
	}
	memcpy(r->sig_r, buf + OFF_SIG_R, sizeof(r->sig_r));
	memcpy(r->sig_s, buf + OFF_SIG_S, sizeof(r->sig_s));
	return 0;
}

void snp_report_serialize(const struct snp_report *r, uint8_t out[SNP_REPORT_SIZE])
{
	memset(out, 0, SNP_REPORT_SIZE);
	put_u32(out + OFF_VERSION, r->version);
	put_u32(out + OFF_GUEST_SVN, r->guest_svn);
	put_u64(out + OFF_POLICY, r->policy);
	memcpy(out + OFF_FAMILY_ID, r->family_id, sizeof(r->family_id));
	memcpy(out + OFF_IMAGE_ID, r->image_id, sizeof(r->image_id));
	put_u32(out + OFF_VMPL, r->vmpl);
	put_u32(out + OFF_SIG_ALGO, r->signature_algo);
	put_u64(out + OFF_CURRENT_TCB, r->current_tcb);
	put_u64(out + OFF_PLATFORM_INFO, r->platform_info);
	put_u32(out + OFF_SIGNER_INFO, r->signer_info);
	memcpy(out + OFF_REPORT_DATA, r->report_data, sizeof(r->report_data));
	memcpy(out + OFF_MEASUREMENT, r->measurement, sizeof(r->measurement));
	memcpy(out + OFF_HOST_DATA, r->host_data, sizeof(r->host_data));
	memcpy(out + OFF_ID_KEY_DIGEST, r->id_key_digest, sizeof(r->id_key_digest));
	memcpy(out + OFF_AUTHOR_KEY_DIGEST, r->author_key_digest, sizeof(r->author_key_digest));
	memcpy(out + OFF_REPORT_ID, r->report_id, sizeof(r->report_id));
	memcpy(out + OFF_REPORT_ID_MA, r->report_id_ma, sizeof(r->report_id_ma));
	put_u64(out + OFF_REPORTED_TCB, r->reported_tcb);
	if (r->version >= 3) {
		out[OFF_CPUID_FAM] = r->cpuid_fam_id;
		out[OFF_CPUID_MOD] = r->cpuid_mod_id;
		out[OFF_CPUID_STEP] = r->cpuid_step;
	}
	memcpy(out + OFF_CHIP_ID, r->chip_id, sizeof(r->chip_id));
	put_u64(out + OFF_COMMITTED_TCB, r->committed_tcb);
	out[OFF_CURRENT_BUILD] = r->current_build;
	out[OFF_CURRENT_BUILD + 1] = r->current_minor;
	out[OFF_CURRENT_BUILD + 2] = r->current_major;
	out[OFF_COMMITTED_BUILD] = r->committed_build;
	out[OFF_COMMITTED_BUILD + 1] = r->committed_minor;
	out[OFF_COMMITTED_BUILD + 2] = r->committed_major;
	put_u64(out + OFF_LAUNCH_TCB, r->launch_tcb);
	if (r->version >= 5) {
		put_u64(out + OFF_LAUNCH_MIT, r->launch_mit_vector);
		put_u64(out + OFF_CURRENT_MIT, r->current_mit_vector);
	}
	memcpy(out + OFF_SIG_R, r->sig_r, sizeof(r->sig_r));
	memcpy(out + OFF_SIG_S, r->sig_s, sizeof(r->sig_s));
}

enum snp_signing_key snp_report_signing_key(const struct snp_report *r)
{
	return (enum snp_signing_key)((r->signer_info & SNP_SIGNER_SIGNING_KEY_MASK) >>
				      SNP_SIGNER_SIGNING_KEY_SHIFT);
}

enum snp_product snp_report_product(const struct snp_report *r)
{
	if (r->version < 3)
		return SNP_PRODUCT_UNKNOWN;
	if (r->cpuid_fam_id == 0x19 && r->cpuid_mod_id <= 0x0f)
		return SNP_PRODUCT_MILAN;
	if (r->cpuid_fam_id == 0x19 && r->cpuid_mod_id >= 0x10 && r->cpuid_mod_id <= 0x1f)
		return SNP_PRODUCT_GENOA;
	if (r->cpuid_fam_id == 0x1a)
		return SNP_PRODUCT_TURIN;
	return SNP_PRODUCT_UNKNOWN;
}

/* ---- JSON rendering ---- */

static int add_hex(struct json_object *o, const char *key, const uint8_t *b, size_t n)
{
	char s[2 * 72 + 1];
	hex_encode(b, n, s);
	return json_object_object_add(o, key, json_object_new_string(s));
}

static int add_word(struct json_object *o, const char *key, uint64_t v)
{
	char s[24];
	snprintf(s, sizeof(s), "0x%llx", (unsigned long long)v);
	return json_object_object_add(o, key, json_object_new_string(s));
}

static void add_tcb(struct json_object *o, const char *key, uint64_t raw, enum snp_product p)
{
	uint8_t b[8];
	char parts_key[64];
	struct snp_tcb t;
	put_u64(b, raw);
	add_hex(o, key, b, 8);
	snp_tcb_decode(raw, p, &t);
	struct json_object *parts = json_object_new_object();
	if (p == SNP_PRODUCT_TURIN)
		json_object_object_add(parts, "fmc", json_object_new_int(t.fmc));
	json_object_object_add(parts, "bl", json_object_new_int(t.bootloader));
	json_object_object_add(parts, "tee", json_object_new_int(t.tee));
	json_object_object_add(parts, "snp", json_object_new_int(t.snp));
	json_object_object_add(parts, "ucode", json_object_new_int(t.microcode));
	snprintf(parts_key, sizeof(parts_key), "%s_parts", key);
	json_object_object_add(o, parts_key, parts);
}

struct flag_name {
	uint64_t bit;
	const char *name;
};

static const struct flag_name policy_flags[] = {
	{ SNP_POLICY_SMT, "smt" },
	{ SNP_POLICY_MIGRATE_MA, "migrate_ma" },
	{ SNP_POLICY_DEBUG, "debug" },
	{ SNP_POLICY_SINGLE_SOCKET, "single_socket" },
	{ SNP_POLICY_CXL_ALLOW, "cxl_allow" },
	{ SNP_POLICY_MEM_AES_256_XTS, "mem_aes_256_xts" },
	{ SNP_POLICY_RAPL_DIS, "rapl_dis" },
	{ SNP_POLICY_CIPHERTEXT_HIDING, "ciphertext_hiding" },
	{ SNP_POLICY_PAGE_SWAP_DISABLE, "page_swap_disable" },
};

static const struct flag_name platform_flags[] = {
	{ SNP_PLATFORM_SMT_EN, "smt_en" },
	{ SNP_PLATFORM_TSME_EN, "tsme_en" },
	{ SNP_PLATFORM_ECC_EN, "ecc_en" },
	{ SNP_PLATFORM_RAPL_DIS, "rapl_dis" },
	{ SNP_PLATFORM_CIPHERTEXT_HIDING_EN, "ciphertext_hiding_en" },
	{ SNP_PLATFORM_ALIAS_CHECK_COMPLETE, "alias_check_complete" },
	{ SNP_PLATFORM_SEV_TIO_EN, "sev_tio_en" },
};

static struct json_object *flags_json(uint64_t v, const struct flag_name *f, size_t n)
{
	struct json_object *o = json_object_new_object();
	for (size_t i = 0; i < n; i++)
		json_object_object_add(o, f[i].name, json_object_new_boolean((v & f[i].bit) != 0));
	return o;
}

static struct json_object *fw_json(uint8_t major, uint8_t minor, uint8_t build)
{
	struct json_object *a = json_object_new_array();
	json_object_array_add(a, json_object_new_int(major));
	json_object_array_add(a, json_object_new_int(minor));
	json_object_array_add(a, json_object_new_int(build));
	return a;
}

static const char *signing_key_name(enum snp_signing_key k)
{
	switch (k) {
	case SNP_SIGNING_KEY_VCEK:
		return "vcek";
	case SNP_SIGNING_KEY_VLEK:
		return "vlek";
	case SNP_SIGNING_KEY_NONE:
		return "none";
	}
	return "reserved";
}

struct json_object *snp_report_to_json(const struct snp_report *r, enum snp_product p)
{
	struct json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	if (p == SNP_PRODUCT_UNKNOWN)
		p = snp_report_product(r);

	json_object_object_add(o, "version", json_object_new_int64(r->version));
	json_object_object_add(o, "guest_svn", json_object_new_int64(r->guest_svn));
	add_word(o, "policy", r->policy);
	struct json_object *pol = flags_json(r->policy, policy_flags,
					     sizeof(policy_flags) / sizeof(policy_flags[0]));
	json_object_object_add(pol, "abi_major",
			       json_object_new_int((int)(r->policy >> SNP_POLICY_ABI_MAJOR_SHIFT & 0xff)));
	json_object_object_add(pol, "abi_minor",
			       json_object_new_int((int)(r->policy & SNP_POLICY_ABI_MINOR_MASK)));
	json_object_object_add(o, "policy_flags", pol);
	add_hex(o, "family_id", r->family_id, sizeof(r->family_id));
	add_hex(o, "image_id", r->image_id, sizeof(r->image_id));
	json_object_object_add(o, "vmpl", json_object_new_int64(r->vmpl));
	json_object_object_add(o, "signature_algo", json_object_new_int64(r->signature_algo));
	add_tcb(o, "current_tcb", r->current_tcb, p);
	add_word(o, "platform_info", r->platform_info);
	struct json_object *pf = flags_json(r->platform_info, platform_flags,
					    sizeof(platform_flags) / sizeof(platform_flags[0]));
	add_word(pf, "other_bits", r->platform_info & SNP_PLATFORM_UNNAMED_MASK);
	json_object_object_add(o, "platform_info_flags", pf);
	add_word(o, "signer_info", r->signer_info);
	struct json_object *si = json_object_new_object();
	json_object_object_add(si, "author_key_en",
			       json_object_new_boolean(r->signer_info & SNP_SIGNER_AUTHOR_KEY_EN));
	json_object_object_add(si, "mask_chip_key",
			       json_object_new_boolean(r->signer_info & SNP_SIGNER_MASK_CHIP_KEY));
	json_object_object_add(si, "signing_key",
			       json_object_new_string(signing_key_name(snp_report_signing_key(r))));
	json_object_object_add(o, "signer_info_flags", si);
	add_hex(o, "report_data", r->report_data, sizeof(r->report_data));
	add_hex(o, "measurement", r->measurement, sizeof(r->measurement));
	add_hex(o, "host_data", r->host_data, sizeof(r->host_data));
	add_hex(o, "id_key_digest", r->id_key_digest, sizeof(r->id_key_digest));
	add_hex(o, "author_key_digest", r->author_key_digest, sizeof(r->author_key_digest));
	add_hex(o, "report_id", r->report_id, sizeof(r->report_id));
	add_hex(o, "report_id_ma", r->report_id_ma, sizeof(r->report_id_ma));
	add_tcb(o, "reported_tcb", r->reported_tcb, p);
	if (r->version >= 3) {
		uint8_t fms[3] = { r->cpuid_fam_id, r->cpuid_mod_id, r->cpuid_step };
		add_hex(o, "cpuid_fam_mod_step", fms, 3);
	} else {
		json_object_object_add(o, "cpuid_fam_mod_step", NULL);
	}
	json_object_object_add(o, "product", json_object_new_string(snp_product_name(p)));
	add_hex(o, "chip_id", r->chip_id, sizeof(r->chip_id));
	add_tcb(o, "committed_tcb", r->committed_tcb, p);
	json_object_object_add(o, "current_fw_major_minor_build",
			       fw_json(r->current_major, r->current_minor, r->current_build));
	json_object_object_add(o, "committed_fw_major_minor_build",
			       fw_json(r->committed_major, r->committed_minor, r->committed_build));
	add_tcb(o, "launch_tcb", r->launch_tcb, p);
	add_word(o, "launch_mit_vector", r->launch_mit_vector);
	add_word(o, "current_mit_vector", r->current_mit_vector);
	add_hex(o, "sig_r_le", r->sig_r, sizeof(r->sig_r));
	add_hex(o, "sig_s_le", r->sig_s, sizeof(r->sig_s));
	return o;
}
