/* snp_layout: where an SEV-SNP launch puts the pages only SNP guests have.
 *
 * Plain constants (the stage0 firmware and its assembly include this header too). They sit in
 * low RAM between the boot descriptor and the EBDA (see common/guest_abi/layout.h); the
 * firmware also finds both GPAs in the boot descriptor and reports them to
 * Linux through SETUP_CC_BLOB, and marks them reserved in the e820 map. */
#ifndef PARMA_COMMON_GUEST_ABI_SNP_LAYOUT_H
#define PARMA_COMMON_GUEST_ABI_SNP_LAYOUT_H

#include "common/guest_abi/layout.h"

#define SNP_LAYOUT_SECRETS GUEST_ABI_U64(0x00040000) /* SNP secrets page (filled by the secure processor) */
#define SNP_LAYOUT_CPUID   GUEST_ABI_U64(0x00041000) /* SNP CPUID page (checked by the secure processor) */
#define SNP_LAYOUT_CC_BLOB GUEST_ABI_U64(0x00042000) /* stage0's SETUP_CC_BLOB setup_data for Linux */

#ifndef __ASSEMBLER__
_Static_assert(SNP_LAYOUT_SECRETS >= LAYOUT_BOOT_DESC + LAYOUT_BOOT_DESC_MAX &&
		       SNP_LAYOUT_CC_BLOB + 0x1000 <= LAYOUT_FW_CMDLINE,
	       "SNP pages overlap the boot descriptor or the firmware's cmdline copy");
#endif

/* Default guest policy: ABI 0.0, SMT allowed (16), reserved-must-be-one (17);
 * no DEBUG (19), no migration agent. QEMU uses the same default. */
#define SNP_DEFAULT_POLICY GUEST_ABI_U64(0x30000)

#endif
