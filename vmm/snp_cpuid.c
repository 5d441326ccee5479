/* The SNP CPUID page (SNP ABI "CPUID function table"; facts §1.5): count u32,
 * 12 reserved bytes, then 48-byte entries {eax_in, ecx_in, xcr0_in u64,
 * xss_in u64, eax, ebx, ecx, edx, reserved u64}. The secure processor checks
 * each entry against what the CPU allows and rejects the page otherwise. */
#include <errno.h>
#include <string.h>

#include <linux/kvm.h>

#include "common/byteorder.h"
#include "vmm/snp_launch.h"

#define CPUID_MAX_ENTRIES 64u
#define ANY_SUBLEAF UINT32_MAX

enum cpuid_reg { REG_EAX, REG_EBX, REG_ECX, REG_EDX };

/* Features KVM reports but the secure processor refuses in an SNP guest's
 * CPUID page, cleared before the launch. Source: QEMU's SNP path
 * (target/i386/sev.c, sev_snp_mask_cpuid_features, QEMU >= 9.1); bit numbers
 * are the architectural CPUID bits (QEMU target/i386/cpu.h names). */
static const struct snp_cpuid_mask {
	uint32_t leaf, subleaf;
	enum cpuid_reg reg;
	uint32_t bits;
	const char *names;
} snp_cpuid_masks[] = {
	{ 0x1, ANY_SUBLEAF, REG_ECX, 1u << 24, "TSC_DEADLINE" },
	{ 0x7, 0, REG_EBX, 1u << 1, "TSC_ADJUST" },
	{ 0x7, 0, REG_EDX,
	  1u << 26 | 1u << 27 | 1u << 28 | 1u << 29 | 1u << 30 | 1u << 31,
	  "SPEC_CTRL STIBP FLUSH_L1D ARCH_CAPABILITIES CORE_CAPABILITY SSBD" },
	{ 0x80000008, ANY_SUBLEAF, REG_EBX, 1u << 25, "VIRT_SSBD" },
};

static uint32_t masked(const struct kvm_cpuid_entry2 *e, enum cpuid_reg reg, uint32_t v)
{
	for (size_t i = 0; i < sizeof(snp_cpuid_masks) / sizeof(snp_cpuid_masks[0]); i++) {
		const struct snp_cpuid_mask *m = &snp_cpuid_masks[i];
		if (m->leaf == e->function && m->reg == reg &&
		    (m->subleaf == ANY_SUBLEAF || m->subleaf == e->index))
			v &= ~m->bits;
	}
	return v;
}

int snp_cpuid_page_build(const struct kvm_cpuid_entry2 *e, unsigned n, uint8_t page[4096],
			 struct errbuf *eb)
{
	memset(page, 0, 4096);
	if (n > CPUID_MAX_ENTRIES)
		return errbuf_set(eb, E2BIG, "%u CPUID entries (the SNP CPUID page holds %u)", n,
				  CPUID_MAX_ENTRIES);
	le_put32(page, n);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *o = page + 16 + 48 * i;
		uint32_t ebx = masked(&e[i], REG_EBX, e[i].ebx);
		le_put32(o, e[i].function);
		if (e[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX)
			le_put32(o + 4, e[i].index);
		if (e[i].function == 0xd && e[i].index <= 1) {
			/* XSAVE area size for XCR0 = x87 only: legacy area + header. */
			o[8] = 1;
			ebx = 0x240;
		}
		le_put32(o + 24, masked(&e[i], REG_EAX, e[i].eax));
		le_put32(o + 28, ebx);
		le_put32(o + 32, masked(&e[i], REG_ECX, e[i].ecx));
		le_put32(o + 36, masked(&e[i], REG_EDX, e[i].edx));
	}
	return 0;
}
