/* stage0_abi: the numbers the stage0 firmware shares with the VMM, the tests
 * and docs/firmware.md. Plain #defines (also included from assembly); addresses
 * and ports come from the guest ABI headers (common/guest_abi/). */
#ifndef PARMA_FIRMWARE_STAGE0_ABI_H
#define PARMA_FIRMWARE_STAGE0_ABI_H

#include "common/guest_abi/layout.h"
#include "common/guest_abi/snp_layout.h"

/* Where the firmware is linked and loaded (stage0.ld asserts it at link time). */
#define STAGE0_LOAD_ADDR LAYOUT_STAGE0

/* Ports: debug log bytes, and the debug-exit device that ends
 * the VM with status 16 + code in Parma's VMM. Not used on SEV-SNP, where
 * port I/O would need a #VC handler: there the firmware halts through the
 * GHCB MSR protocol termination request with reason set STAGE0_GHCB_REASON_SET
 * and the code as reason (KVM reports KVM_SYSTEM_EVENT_SEV_TERM). */
#define STAGE0_DEBUGCON_PORT LAYOUT_PORT_DEBUGCON
#define STAGE0_DEBUG_EXIT_PORT LAYOUT_PORT_DEBUG_EXIT
#define STAGE0_GHCB_REASON_SET 2

/* Halt codes (the VM's exit status under `parma boot` is 16 + code). */
#define STAGE0_HALT_BAD_DESCRIPTOR 0x31   /* boot descriptor missing or malformed */
#define STAGE0_HALT_KERNEL_HASH 0x32      /* kernel SHA-256 differs from the descriptor */
#define STAGE0_HALT_INITRD_HASH 0x33      /* initrd SHA-256 differs */
#define STAGE0_HALT_CMDLINE_HASH 0x34     /* command line SHA-256 differs */
#define STAGE0_HALT_BAD_KERNEL 0x35       /* kernel is neither a 64-bit bzImage nor an ELF */
#define STAGE0_HALT_LAYOUT 0x36           /* images do not fit in RAM / overlap */
#define STAGE0_HALT_SNP 0x37              /* SEV-SNP setup failed (C-bit, PVALIDATE, PSC) */
#define STAGE0_HALT_EXCEPTION 0x38        /* unexpected CPU exception */

#endif
