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
		uint32_t ebx = e[i].ebx;
		le_put32(o, e[i].function);
		if (e[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX)
			le_put32(o + 4, e[i].index);
		if (e[i].function == 0xd && e[i].index <= 1) {
			/* XSAVE area size for XCR0 = x87 only: legacy area + header. */
			o[8] = 1;
			ebx = 0x240;
		}
		le_put32(o + 24, e[i].eax);
		le_put32(o + 28, ebx);
		le_put32(o + 32, e[i].ecx);
		le_put32(o + 36, e[i].edx);
	}
	return 0;
}
