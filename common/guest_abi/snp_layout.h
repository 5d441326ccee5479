/* snp_layout: where an SEV-SNP launch puts the pages only SNP guests have.
 *
 * Plain constants (the stage0 firmware includes this header too). They sit in
 * low RAM between the boot descriptor and the EBDA (see common/guest_abi/layout.h); the
 * firmware also finds both GPAs in the boot descriptor and reports them to
 * Linux through SETUP_CC_BLOB, and marks them reserved in the e820 map. */
#ifndef PARMA_COMMON_GUEST_ABI_SNP_LAYOUT_H
#define PARMA_COMMON_GUEST_ABI_SNP_LAYOUT_H

#define SNP_LAYOUT_SECRETS 0x00040000ull /* SNP secrets page (filled by the secure processor) */
#define SNP_LAYOUT_CPUID   0x00041000ull /* SNP CPUID page (checked by the secure processor) */

/* Default guest policy: ABI 0.0, SMT allowed (16), reserved-must-be-one (17);
 * no DEBUG (19), no migration agent. QEMU uses the same default. */
#define SNP_DEFAULT_POLICY 0x30000ull

#endif
