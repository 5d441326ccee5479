#include <elf.h>
#include <errno.h>
/* Launch digest tests against independent truth: the step-by-step PAGE_INFO
 * chain and VMSA digests computed with sev-snp-measure, and the tool's
 * published OVMF measurements (SNP facts notes §2.3, §2.7). The OVMF image
 * itself is not in the repository: its last page only feeds the chain through
 * the digest after the OVMF pages (published as the `snp:ovmf-hash` value), so
 * the test builds a synthetic last page carrying the same documented footer
 * table and SEV metadata and starts the chain at that published digest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/encoding.h"
#include "policy/measure/launch_digest.h"
#include "policy/measure/ovmf.h"
#include "policy/measure/parma_launch.h"
#include "policy/measure/snp_plan.h"
#include "policy/measure/vcpu_types.h"
#include "policy/measure/vmsa.h"

#include <openssl/evp.h>

#define OVMF_HASH "086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74"

static void assert_hex(const uint8_t *got, size_t len, const char *want)
{
	char hex[256];
	hex_encode(got, len, hex);
	assert_string_equal(hex, want);
}

static void sha384(const void *d, size_t n, uint8_t out[48])
{
	unsigned len = 0;
	assert_int_equal(EVP_Digest(d, n, out, &len, EVP_sha384(), NULL), 1);
}

/* §2.7 (b): each step continues the chain of the previous one. */
static void measure_chain_matches_reference_steps(void **state)
{
	(void)state;
	struct launch_digest d;
	uint8_t page[4096], vmsa[4096], h[48];
	struct snp_vcpu_state st;

	assert_int_equal(launch_digest_init(&d, NULL), 0);
	memset(page, 0, sizeof(page));
	sha384(page, sizeof(page), h);
	assert_hex(h, 48, "c0e59a3e3ffbd3b5c75428fb36432facabc745944296ff515f737c4fef4efc64586809f7a16f56354a1eaecf2aa8d774");
	assert_int_equal(launch_digest_page(&d, 0, SNP_PAGE_NORMAL, page, "p"), 0);
	assert_hex(d.ld, 48, "9d13634b6014bb21cf059b2dc694e7bff01a8a7137041100cd2b695f3d10fb687267b97808b27f8f471d943bc6f53a20");
	for (int i = 0; i < 4096; i++)
		page[i] = (uint8_t)i;
	assert_int_equal(launch_digest_page(&d, 0x1000, SNP_PAGE_NORMAL, page, "p"), 0);
	assert_hex(d.ld, 48, "9ad33f2ba9aeec887218fc7490658cd9fc900741e153113e292ef837f3ad181e7138c17f5b21240aab7ebbb0ac40d79c");
	assert_int_equal(launch_digest_page(&d, 0x2000, SNP_PAGE_ZERO, NULL, "p"), 0);
	assert_hex(d.ld, 48, "bb204b39d1b85e4957588823dc28882eb79786747f15ddfbec33bbbafedb86118d772d917ed4d5acb335833285497e34");
	assert_int_equal(launch_digest_page(&d, 0x3000, SNP_PAGE_UNMEASURED, NULL, "p"), 0);
	assert_hex(d.ld, 48, "bdb3472c0645cd96528ec8d70111b8af44e3c1f019a37be89ade20b299be45f7784fc7bd642ae9e63ac3d4df51347b64");
	assert_int_equal(launch_digest_page(&d, 0x4000, SNP_PAGE_SECRETS, NULL, "p"), 0);
	assert_hex(d.ld, 48, "5c3155f43f1ba358c2555ef13e36f5806c13c231cc45d091e28e1c61e2b6bae4fa0e75f77579cbd5504c3adbd30cd565");
	assert_int_equal(launch_digest_page(&d, 0x5000, SNP_PAGE_CPUID, NULL, "p"), 0);
	assert_hex(d.ld, 48, "51f7aeb1aa8cfd892f21f3fe95b2a598756317f3101cdbdd154379dd7f5a23a3d4e995041183f1083d69c5cd979b7c3f");
	snp_vcpu_state_reset(&st, 0xfffffff0u, 0x00800f12, 0x1);
	snp_vmsa_build(&st, vmsa);
	assert_int_equal(launch_digest_page(&d, SNP_VMSA_GPA, SNP_PAGE_VMSA, vmsa, "v"), 0);
	assert_hex(d.ld, 48, "3bda1dbba32a2b4b3794b162e9dc6d86c2ff781511a8e32f96e3a242f327d3041f404604996412d78e0ec2ea3b22d837");
	assert_int_equal(d.pages, 7);
	launch_digest_fini(&d);
}

static void measure_vmsa_pages_match_reference(void **state)
{
	(void)state;
	uint8_t vmsa[4096], h[48];
	struct snp_vcpu_state st;

	snp_vcpu_state_reset(&st, 0xfffffff0u, 0x00800f12, 0x21);
	snp_vmsa_build(&st, vmsa);
	sha384(vmsa, sizeof(vmsa), h);
	assert_hex(h, 48, "ae79efa6efbe1594a2717dfd42af495a0e4ed37b00e529a5fdf349bea04c3513962ffb0c74cf65b0d9a1857271833d6e");
	snp_vcpu_state_reset(&st, 0x0080b004u, 0x00800f12, 0x21);
	snp_vmsa_build(&st, vmsa);
	sha384(vmsa, sizeof(vmsa), h);
	assert_hex(h, 48, "180ef2675dc01615d31b3e84ef27a0a69d08bfbbb58ea4f6a0188f08884ab6407591ada42f99749ce9a406fb4e5d8355");
}

static void measure_rejects_bad_pages(void **state)
{
	(void)state;
	struct launch_digest d;
	uint8_t page[4096] = { 0 };

	assert_int_equal(launch_digest_init(&d, NULL), 0);
	assert_int_equal(launch_digest_page(&d, 0x1001, SNP_PAGE_NORMAL, page, "x"), -EINVAL);
	assert_int_equal(launch_digest_page(&d, 0x1000, SNP_PAGE_NORMAL, NULL, "x"), -EINVAL);
	assert_int_equal(launch_digest_page(&d, 0x1000, (enum snp_page_type)0, page, "x"), -EINVAL);
	assert_int_equal(launch_digest_page(&d, 0x1000, (enum snp_page_type)7, page, "x"), -EINVAL);
	assert_int_equal(launch_digest_range(&d, 0x1000, SNP_PAGE_ZERO, NULL, 100, "x"), -EINVAL);
	assert_int_equal(d.pages, 0);
	launch_digest_fini(&d);
}

/* A NORMAL range's partial last page is measured zero-padded. */
static void measure_range_pads_last_page(void **state)
{
	(void)state;
	struct launch_digest a, b;
	uint8_t page[4096] = { 0 }, data[5000];

	memset(data, 0xa5, sizeof(data));
	memcpy(page, data + 4096, 5000 - 4096);
	assert_int_equal(launch_digest_init(&a, NULL), 0);
	assert_int_equal(launch_digest_init(&b, NULL), 0);
	assert_int_equal(launch_digest_range(&a, 0x10000, SNP_PAGE_NORMAL, data, sizeof(data), "r"), 0);
	assert_int_equal(launch_digest_page(&b, 0x10000, SNP_PAGE_NORMAL, data, "r"), 0);
	assert_int_equal(launch_digest_page(&b, 0x11000, SNP_PAGE_NORMAL, page, "r"), 0);
	assert_memory_equal(a.ld, b.ld, 48);
	launch_digest_fini(&a);
	launch_digest_fini(&b);
}

/* --- synthetic OVMF last page with the documented table (facts §2.4) --- */

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void guid_bytes(const char *s, uint8_t out[16])
{
	unsigned v[16], n = 0;
	for (; *s && n < 16; s++) {
		if (*s == '-')
			continue;
		sscanf(s, "%2x", &v[n++]);
		s++;
	}
	/* Microsoft GUID layout: u32, u16, u16 little-endian, then 8 bytes. */
	uint8_t le[16] = { v[3], v[2], v[1], v[0], v[5], v[4], v[7], v[6] };
	for (int i = 8; i < 16; i++)
		le[i] = (uint8_t)v[i];
	memcpy(out, le, 16);
}

/* Place an entry `data | u16 len | GUID` ending at *end; move *end down. */
static void put_entry(uint8_t *page, size_t *end, const char *guid, const uint8_t *data,
		      size_t dlen)
{
	size_t len = dlen + 18;
	*end -= len;
	memcpy(page + *end, data, dlen);
	page[*end + dlen] = (uint8_t)len;
	page[*end + dlen + 1] = (uint8_t)(len >> 8);
	guid_bytes(guid, page + *end + dlen + 2);
}

/* The AmdSev OVMF fixture's SEV metadata (facts §2.4): {gpa, size, type}. */
static const uint32_t fixture_sections[7][3] = {
	{ 0x800000, 0x9000, 1 }, { 0x80a000, 0x3000, 1 }, { 0x80d000, 0x1000, 2 },
	{ 0x80e000, 0x1000, 3 }, { 0x80f000, 0x1000, 4 }, { 0x810000, 0x1000, 0x10 },
	{ 0x811000, 0xf000, 1 },
};

/* A last OVMF page whose footer table lists `n` metadata sections. */
/* `sections`: n rows of {gpa, size, type}. */
static void synthetic_ovmf_sections(uint8_t page[4096], const uint32_t *sections, unsigned n)
{
	uint8_t d[8];
	size_t top = 4096 - 0x20, end = top - 18, meta = 0x100;

	memset(page, 0xcc, 4096);
	memcpy(page + meta, "ASEV", 4);
	put32(page + meta + 4, 16 + 12 * n);
	put32(page + meta + 8, 1);
	put32(page + meta + 12, n);
	for (unsigned i = 0; i < n; i++)
		for (int j = 0; j < 3; j++)
			put32(page + meta + 16 + 12 * i + 4 * j, sections[3 * i + j]);
	put32(d, 0x0080b004);
	put_entry(page, &end, "00f771de-1a7e-4fcb-890e-68c77e2fb44e", d, 4);
	put32(d, 0x810c00);
	put32(d + 4, 0x400);
	put_entry(page, &end, "7255371f-3a3b-4b04-927b-1da6efa8d454", d, 8);
	put32(d, 4096 - (uint32_t)meta);
	put_entry(page, &end, "dc886566-984a-4798-a75e-5585a7bf67cc", d, 4);
	guid_bytes("96b582de-1fb2-45f7-baea-a366c55a082d", page + top - 16);
	page[top - 18] = (uint8_t)(top - end);
	page[top - 17] = 0;
}

static void synthetic_ovmf(uint8_t page[4096])
{
	synthetic_ovmf_sections(page, &fixture_sections[0][0], 7);
}

struct ovmf_case {
	unsigned vcpus;
	uint32_t sig;
	uint64_t features;
	const char *kernel_append; /* NULL: no kernel; else kernel=/dev/null with this append */
	const char *want;
};

static void run_ovmf_case(const struct ovmf_case *c)
{
	uint8_t page[4096], seed[48], empty[32];
	struct ovmf_info info;
	struct ovmf_measure_input in = { 0 };
	struct launch_digest d;
	unsigned n = 0;

	synthetic_ovmf(page);
	assert_int_equal(ovmf_parse(page, sizeof(page), &info, NULL), 0);
	assert_int_equal(hex_decode(OVMF_HASH, seed, 48), 0);
	in.seed = seed;
	in.info = &info;
	in.vcpus = c->vcpus;
	in.vcpu_sig = c->sig;
	in.guest_features = c->features;
	if (c->kernel_append) {
		in.has_kernel = true;
		EVP_Digest("", 0, empty, &n, EVP_sha256(), NULL);
		memcpy(in.kernel_sha256, empty, 32);
		memcpy(in.initrd_sha256, empty, 32);
		EVP_Digest(c->kernel_append, strlen(c->kernel_append) + 1, in.cmdline_sha256, &n,
			   EVP_sha256(), NULL);
	}
	assert_int_equal(launch_digest_init(&d, NULL), 0);
	assert_int_equal(ovmf_measure(&d, &in, NULL), 0);
	assert_hex(d.ld, 48, c->want);
	launch_digest_fini(&d);
}

static void measure_ovmf_reproduces_sev_snp_measure(void **state)
{
	(void)state;
	static const struct ovmf_case cases[] = {
		{ 1, 0x00800f12, 0x21, "console=ttyS0 loglevel=7",
		  "803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977" },
		{ 1, 0x00800f12, 0x1, "console=ttyS0 loglevel=7",
		  "6d287813eb5222d770f75005c664e34c204f385ce832cc2ce7d0d6f354454362f390ef83a92046c042e706363b4b08fa" },
		{ 1, 0x00800f12, 0x21, NULL,
		  "e1e1ca029dd7973ab9513295be68198472dcd4fc834bd9af9b63f6e8a1674dbf281a9278a4a2ebe0eed9f22adbcd0e2b" },
		{ 1, 0x00800f12, 0x1, NULL,
		  "19358ba9a7615534a9a1e2f0dfc29384dcd4dcb7062ff9c6013b26869a5fc6ecabe033c48dd6f6db5d6d76e7c5df632d" },
		{ 4, 0x00800f12, 0x21, "",
		  "4953b1fb416fa874980e8442b3706d345926d5f38879134e00813c5d7abcbe78eafe7b422907be0b4698e2414a631942" },
		{ 4, 0x00800f12, 0x1, "",
		  "5061fffb019493a903613d56d54b94912a1a2f9e4502385f5c194616753720a92441310ba6c4933de877c36e23046ad5" },
		{ 1, 0x00800f12, 0x21, "",
		  "329c8ce0972ae52343b64d34a434a86f245dfd74f5ed7aae15d22efc78fb9683632b9b50e4e1d7fa41179ef98a7ef198" },
		{ 1, 0x00800f12, 0x1, "",
		  "ddc5224521617a536ee7ce9dd6224d1b58a8d4fda1c741f3ac99fc4bfa04ba6e9fc98646d4a07a9079397fa3852819b5" },
		{ 1, 0x00a00f11, 0x1, NULL,
		  "93f767a2bff8fc050ed48cfe6e2dc9bb4c45b2313c48df0159a6b22fdc5633307f93a7ec31cf6fc92a61a2ace3cb9679" },
		{ 1, 0x00a10f10, 0x1, NULL,
		  "454918270eabb57fe9588d00df1c3935f71fde1e4ab922981376247b5a3be1eb6faf5cc74c9274c2f54286f09c001698" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_ovmf_case(&cases[i]);
}

static void measure_ovmf_parse_reads_documented_table(void **state)
{
	(void)state;
	uint8_t page[4096];
	struct ovmf_info info;

	synthetic_ovmf(page);
	assert_int_equal(ovmf_parse(page, sizeof(page), &info, NULL), 0);
	assert_true(info.has_ap_eip);
	assert_int_equal(info.ap_eip, 0x80b004);
	assert_int_equal(info.hashes_table_gpa, 0x810c00);
	assert_int_equal(info.n_sections, 7);
	assert_int_equal(info.section[5].type, OVMF_SECTION_SNP_KERNEL_HASHES);
	assert_true(info.gpa == 0xfffff000ull);
}

static void measure_ovmf_parse_rejects_hostile_tables(void **state)
{
	(void)state;
	uint8_t page[4096], bad[4096];
	struct ovmf_info info;
	struct errbuf eb = { 0 };
	size_t top = 4096 - 0x20;

	synthetic_ovmf(page);
	/* footer GUID missing */
	memcpy(bad, page, 4096);
	bad[top - 1] ^= 1;
	assert_int_equal(ovmf_parse(bad, 4096, &info, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "footer"));
	/* table length larger than the image */
	memcpy(bad, page, 4096);
	bad[top - 18] = 0xff;
	bad[top - 17] = 0xff;
	assert_int_equal(ovmf_parse(bad, 4096, &info, &eb), -EINVAL);
	/* every possible single-byte corruption of the table region: never crash */
	for (size_t off = 0x100; off < 4096; off++) {
		memcpy(bad, page, 4096);
		bad[off] ^= 0xff;
		(void)ovmf_parse(bad, 4096, &info, NULL);
	}
	/* size not a page multiple */
	assert_int_equal(ovmf_parse(page, 4000, &info, &eb), -EINVAL);
}

/* Direct boot input of sev-snp-measure's test cases: kernel = initrd = empty. */
static void kernel_input(struct ovmf_measure_input *in, const char *append)
{
	uint8_t empty[32];
	unsigned n = 0;
	in->has_kernel = true;
	EVP_Digest("", 0, empty, &n, EVP_sha256(), NULL);
	memcpy(in->kernel_sha256, empty, 32);
	memcpy(in->initrd_sha256, empty, 32);
	EVP_Digest(append, strlen(append) + 1, in->cmdline_sha256, &n, EVP_sha256(), NULL);
}

/* A kernel given for firmware without an SNP_KERNEL_HASHES section would not
 * be bound by the launch: refused (sev-snp-measure and QEMU refuse it too). */
static void measure_ovmf_refuses_unbound_kernel(void **state)
{
	(void)state;
	uint32_t sections[6][3];
	uint8_t page[4096], seed[48];
	struct ovmf_info info;
	struct ovmf_measure_input in = { 0 };
	struct launch_digest d;
	struct errbuf eb = { 0 };

	/* the fixture's sections without the kernel-hashes one */
	memcpy(sections, fixture_sections, 5 * sizeof(sections[0]));
	memcpy(sections[5], fixture_sections[6], sizeof(sections[0]));
	synthetic_ovmf_sections(page, &sections[0][0], 6);
	assert_int_equal(ovmf_parse(page, sizeof(page), &info, NULL), 0);
	assert_int_equal(hex_decode(OVMF_HASH, seed, 48), 0);
	in.seed = seed;
	in.info = &info;
	in.vcpus = 1;
	in.vcpu_sig = 0x00800f12;
	in.guest_features = 1;
	kernel_input(&in, "console=ttyS0");
	assert_int_equal(launch_digest_init(&d, NULL), 0);
	assert_int_equal(ovmf_measure(&d, &in, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "SNP_KERNEL_HASHES"));
	launch_digest_fini(&d);

	/* without a kernel the same firmware measures fine */
	in.has_kernel = false;
	assert_int_equal(launch_digest_init(&d, NULL), 0);
	assert_int_equal(ovmf_measure(&d, &in, &eb), 0);
	launch_digest_fini(&d);
}

struct page_log {
	unsigned n;
	uint64_t gpa[64];
	int type[64];
	uint8_t contents[64][48];
};

static void log_page(void *opaque, const struct launch_page_record *rec)
{
	struct page_log *l = opaque;
	if (l->n < 64) {
		l->gpa[l->n] = rec->gpa;
		l->type[l->n] = (int)rec->type;
		memcpy(l->contents[l->n], rec->contents, 48);
	}
	l->n++;
}

/* A kernel-hashes section of more than one page is launched whole, every page
 * NORMAL (QEMU: the section's bytes with the table at its page offset, rest
 * zero): measuring only its first page would predict a digest no launch gets. */
static void measure_ovmf_kernel_hashes_section_measured_whole(void **state)
{
	(void)state;
	uint32_t sections[7][3];
	uint8_t page[4096], seed[48], want[4096], zero[4096] = { 0 }, h[48];
	struct ovmf_info info;
	struct ovmf_measure_input in = { 0 };
	struct launch_digest d;
	static struct page_log log_store;
	struct page_log *log = &log_store;
	struct errbuf eb = { 0 };
	unsigned n_hash_pages = 0;

	memset(log, 0, sizeof(*log));
	memcpy(sections, fixture_sections, sizeof(sections));
	sections[5][1] = 0x3000;  /* kernel hashes: 0x810000 + 3 pages */
	sections[6][0] = 0x813000; /* the SEC_MEM after it moves up */
	sections[6][1] = 0xd000;
	synthetic_ovmf_sections(page, &sections[0][0], 7);
	assert_int_equal(ovmf_parse(page, sizeof(page), &info, NULL), 0);
	assert_int_equal(hex_decode(OVMF_HASH, seed, 48), 0);
	in.seed = seed;
	in.info = &info;
	in.vcpus = 1;
	in.vcpu_sig = 0x00800f12;
	in.guest_features = 1;
	kernel_input(&in, "console=ttyS0 loglevel=7");
	assert_int_equal(launch_digest_init(&d, NULL), 0);
	d.on_page = log_page;
	d.opaque = log;
	if (ovmf_measure(&d, &in, &eb))
		fail_msg("ovmf_measure: %s", eb.msg);
	launch_digest_fini(&d);

	memset(want, 0, sizeof(want));
	sev_hashes_table_build(in.cmdline_sha256, in.initrd_sha256, in.kernel_sha256,
			       want + 0xc00);
	for (unsigned i = 0; i < log->n && i < 64; i++) {
		if (log->gpa[i] < 0x810000 || log->gpa[i] >= 0x813000)
			continue;
		assert_int_equal(log->type[i], SNP_PAGE_NORMAL);
		assert_int_equal(log->gpa[i], 0x810000 + 0x1000 * n_hash_pages);
		sha384(n_hash_pages ? zero : want, 4096, h);
		assert_memory_equal(log->contents[i], h, 48);
		n_hash_pages++;
	}
	assert_int_equal(n_hash_pages, 3);

	/* a table that is not in the section's first page is refused */
	sections[5][0] = 0x80f000; /* 0x80f000 + 3 pages: the table sits in its second page */
	synthetic_ovmf_sections(page, &sections[5][0], 2);
	assert_int_equal(ovmf_parse(page, sizeof(page), &info, NULL), 0);
	assert_int_equal(launch_digest_init(&d, NULL), 0);
	assert_int_equal(ovmf_measure(&d, &in, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "hash table"));
	launch_digest_fini(&d);
}

static void measure_sev_hashes_table_matches_reference(void **state)
{
	(void)state;
	uint8_t t[SEV_HASHES_TABLE_LEN], cmd[32], empty[32];
	unsigned n;
	char hex[2 * SEV_HASHES_TABLE_LEN + 1];
	const char *cmdline = "console=ttyS0 loglevel=7";

	EVP_Digest(cmdline, strlen(cmdline) + 1, cmd, &n, EVP_sha256(), NULL);
	EVP_Digest("", 0, empty, &n, EVP_sha256(), NULL);
	sev_hashes_table_build(cmd, empty, empty, t);
	hex_encode(t, sizeof(t), hex);
	assert_string_equal(hex, "06d63894224fc94cb479a793d411fd21a800d82dd09720bd944caa78e7714d36ab2a3200321c8eec6a77bad179511397f913a083067ad8cb737bb260aacbfe8df70fc50a31f7ba442f3ad74b9af141e29169781d3200e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8553794e74dd2ab7f42b835d5b172d2045b3200e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8550000000000000000");
}

static void measure_vcpu_types_match_reference(void **state)
{
	(void)state;
	uint32_t sig = 0;
	assert_int_equal(vcpu_type_signature("EPYC-v4", &sig), 0);
	assert_int_equal(sig, 0x00800f12);
	assert_int_equal(vcpu_type_signature("EPYC-Rome", &sig), 0);
	assert_int_equal(sig, 0x00830f10);
	assert_int_equal(vcpu_type_signature("EPYC-Milan-v2", &sig), 0);
	assert_int_equal(sig, 0x00a00f11);
	assert_int_equal(vcpu_type_signature("EPYC-Genoa", &sig), 0);
	assert_int_equal(sig, 0x00a10f10);
	assert_int_equal(vcpu_type_signature("EPYC-Turin", &sig), 0);
	assert_int_equal(sig, 0x00b00f00);
	assert_int_equal(vcpu_type_signature("Skylake", &sig), -ENOENT);
}

/* KVM's view of the x86 reset state must give the same VMSA as the reference
 * reset model (the two paths are written independently). */
static void measure_kvm_model_matches_reset_model(void **state)
{
	(void)state;
	struct kvm_regs r = { 0 };
	struct kvm_sregs s = { 0 };
	struct snp_vcpu_state a, b;
	uint8_t pa[4096], pb[4096];
	struct kvm_segment data = { .limit = 0xffff, .type = 3, .present = 1, .s = 1 };

	r.rip = 0xfff0;
	r.rflags = 2;
	r.rdx = 0x00a00f11;
	s.cs = (struct kvm_segment){ .base = 0xffff0000, .limit = 0xffff, .selector = 0xf000,
				     .type = 0xb, .present = 1, .s = 1 };
	s.ds = s.es = s.fs = s.gs = s.ss = data;
	s.ldt = (struct kvm_segment){ .limit = 0xffff, .type = 2, .present = 1 };
	s.tr = (struct kvm_segment){ .limit = 0xffff, .type = 0xb, .present = 1 };
	s.gdt.limit = s.idt.limit = 0xffff;
	s.cr0 = 0x60000010; /* reset value: CD | NW | ET */
	snp_vcpu_state_from_kvm(&a, &r, &s, 0);
	snp_vcpu_state_reset(&b, 0xfffffff0u, 0x00a00f11, 0x1);
	snp_vmsa_build(&a, pa);
	snp_vmsa_build(&b, pb);
	assert_memory_equal(pa, pb, 4096);
}

static void measure_plan_rejects_overlap_and_bad_items(void **state)
{
	(void)state;
	static struct snp_plan plan;
	uint8_t data[8192] = { 0 };
	struct errbuf eb = { 0 };

	memset(&plan, 0, sizeof(plan));
	assert_int_equal(snp_plan_add(&plan, 0x10000, 8192, SNP_PAGE_NORMAL, data, "a", &eb), 0);
	assert_int_equal(snp_plan_add(&plan, 0x11000, 4096, SNP_PAGE_ZERO, NULL, "b", &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "overlaps a"));
	assert_int_equal(snp_plan_add(&plan, 0x20800, 4096, SNP_PAGE_ZERO, NULL, "c", &eb), -EINVAL);
	assert_int_equal(snp_plan_add(&plan, 0x20000, 4096, SNP_PAGE_VMSA, NULL, "d", &eb), -EINVAL);
	assert_int_equal(snp_plan_add(&plan, 0x20000, 4096, SNP_PAGE_NORMAL, NULL, "e", &eb), -EINVAL);
	assert_int_equal(snp_plan_add(&plan, 0x20000, 4096, SNP_PAGE_SECRETS, data, "f", &eb), -EINVAL);
	assert_int_equal(snp_plan_add(&plan, 0x20000, 0, SNP_PAGE_ZERO, NULL, "g", &eb), -EINVAL);
	assert_int_equal(snp_plan_add(&plan, 0x20000, 4096, SNP_PAGE_CPUID, NULL, "h", &eb), 0);
	assert_int_equal(plan.n_items, 2);
}

/* A tiny ELF with one PT_LOAD of 3 bytes at 0x100000 and 0x2000 bytes of bss. */
static size_t tiny_elf(uint8_t *buf, uint64_t paddr, uint64_t entry)
{
	Elf64_Ehdr eh = { 0 };
	Elf64_Phdr ph = { 0 };
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_machine = EM_X86_64;
	eh.e_type = ET_EXEC;
	eh.e_entry = entry;
	eh.e_phoff = sizeof(eh);
	eh.e_phentsize = sizeof(ph);
	eh.e_phnum = 1;
	ph.p_type = PT_LOAD;
	ph.p_offset = sizeof(eh) + sizeof(ph);
	ph.p_paddr = paddr;
	ph.p_filesz = 3;
	ph.p_memsz = 0x2000;
	memcpy(buf, &eh, sizeof(eh));
	memcpy(buf + sizeof(eh), &ph, sizeof(ph));
	memcpy(buf + ph.p_offset, "\xf4\xeb\xfd", 3);
	return ph.p_offset + 3;
}

static void measure_firmware_load_checks_elf(void **state)
{
	(void)state;
	uint8_t elf[512] = { 0 };
	struct parma_firmware fw;
	struct errbuf eb = { 0 };
	size_t n = tiny_elf(elf, 0x100000, 0x100000);

	assert_int_equal(parma_firmware_load(elf, n, &fw, &eb), 0);
	assert_true(fw.gpa == 0x100000 && fw.len == 0x2000 && fw.entry == 0x100000);
	assert_int_equal(fw.image[0], 0xf4);
	assert_int_equal(fw.image[3], 0);
	parma_firmware_free(&fw);
	assert_int_equal(parma_firmware_load(elf, n - 1, &fw, &eb), -EINVAL); /* truncated */
	n = tiny_elf(elf, 0xffffff000ull, 0xffffff000ull);
	assert_int_equal(parma_firmware_load(elf, n, &fw, &eb), -EINVAL);     /* above 4 GiB */
	n = tiny_elf(elf, 0x100000, 0x200000);
	assert_int_equal(parma_firmware_load(elf, n, &fw, &eb), -EINVAL);     /* entry outside */
	for (size_t i = 0; i < n; i++) { /* no single-byte corruption may crash */
		uint8_t bad[512];
		memcpy(bad, elf, sizeof(bad));
		bad[i] ^= 0x80;
		if (parma_firmware_load(bad, n, &fw, NULL) == 0)
			parma_firmware_free(&fw);
	}
}

/* Parma launch: every vCPU's VMSA follows the documented entry state. */
static void measure_parma_launch_plan_order_and_vmsa(void **state)
{
	(void)state;
	uint8_t elf[512] = { 0 }, desc[100], vmsa[4096], ld1[48], ld2[48];
	struct parma_firmware fw;
	static struct snp_plan plan;
	struct parma_launch_input in = { 0 };
	size_t n = tiny_elf(elf, 0x100000, 0x100000);

	memset(desc, 0x5a, sizeof(desc));
	assert_int_equal(parma_firmware_load(elf, n, &fw, NULL), 0);
	in.fw = &fw;
	in.boot_desc = desc;
	in.boot_desc_len = sizeof(desc);
	in.boot_desc_gpa = 0x30000;
	in.secrets_gpa = 0x40000;
	in.cpuid_gpa = 0x41000;
	in.vcpus = 2;
	assert_int_equal(parma_launch_plan(&in, &plan, NULL), 0);
	assert_int_equal(plan.n_items, 4);
	assert_string_equal(plan.item[0].label, "firmware");
	assert_int_equal(plan.item[3].type, SNP_PAGE_CPUID);
	snp_vmsa_build(&plan.vcpu[1], vmsa);
	assert_int_equal(vmsa[0x178], 0x00);          /* rip = 0x100000 */
	assert_int_equal(vmsa[0x17a], 0x10);
	assert_int_equal(vmsa[0x310], 1);             /* rdx = vCPU index */
	assert_int_equal(vmsa[0x338 + 1], 0x00);      /* rdi = 0x30000 */
	assert_int_equal(vmsa[0x338 + 2], 0x03);
	assert_int_equal(vmsa[0x0d1], 0x10);          /* EFER.SVME */
	assert_int_equal(vmsa[0x158], 0x11);          /* CR0 = PE|ET */
	assert_int_equal(vmsa[0x3b0], 0x01);          /* SNPActive */
	assert_int_equal(vmsa[0x012] | vmsa[0x013] << 8, 0xc9b); /* CS attrib: 32-bit code */
	assert_int_equal(parma_launch_measure(&in, NULL, NULL, ld1, NULL), 0);
	desc[99] ^= 1; /* the descriptor is measured */
	assert_int_equal(parma_launch_measure(&in, NULL, NULL, ld2, NULL), 0);
	assert_memory_not_equal(ld1, ld2, 48);
	in.guest_features = 0x20; /* and the VMSA features */
	desc[99] ^= 1;
	assert_int_equal(parma_launch_measure(&in, NULL, NULL, ld2, NULL), 0);
	assert_memory_not_equal(ld1, ld2, 48);
	parma_firmware_free(&fw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(measure_chain_matches_reference_steps),
		cmocka_unit_test(measure_vmsa_pages_match_reference),
		cmocka_unit_test(measure_rejects_bad_pages),
		cmocka_unit_test(measure_range_pads_last_page),
		cmocka_unit_test(measure_ovmf_reproduces_sev_snp_measure),
		cmocka_unit_test(measure_ovmf_parse_reads_documented_table),
		cmocka_unit_test(measure_ovmf_parse_rejects_hostile_tables),
		cmocka_unit_test(measure_ovmf_refuses_unbound_kernel),
		cmocka_unit_test(measure_ovmf_kernel_hashes_section_measured_whole),
		cmocka_unit_test(measure_sev_hashes_table_matches_reference),
		cmocka_unit_test(measure_vcpu_types_match_reference),
		cmocka_unit_test(measure_kvm_model_matches_reset_model),
		cmocka_unit_test(measure_plan_rejects_overlap_and_bad_items),
		cmocka_unit_test(measure_firmware_load_checks_elf),
		cmocka_unit_test(measure_parma_launch_plan_order_and_vmsa),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
