/* parma_launch: the measured launch of a Parma guest (stage0 firmware boot).
 *
 * What the secure processor measures, in order (docs/snp-launch.md):
 *   1. the firmware ELF's loaded image (page hull of its PT_LOAD segments,
 *      file bytes, zero elsewhere) at its link addresses — NORMAL pages;
 *   2. the boot descriptor (FDT with the SHA-256 of kernel, initrd and
 *      cmdline) — NORMAL pages;
 *   3. the ACPI tables — NORMAL pages;
 *   4. the SNP secrets page, 5. the SNP CPUID page;
 *   6. one VMSA per vCPU, from the entry state the VMM sets.
 * Kernel and initrd are not measured page by page: the firmware checks their
 * hashes against the measured descriptor.
 *
 * The VMM and `parma measure` both build this plan; the dev-mode attestation
 * uses parma_launch_measure() for the MEASUREMENT it claims. */
#ifndef PARMA_MEASURE_PARMA_LAUNCH_H
#define PARMA_MEASURE_PARMA_LAUNCH_H

#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "common/errbuf.h"
#include "policy/measure/launch_digest.h"
#include "policy/measure/snp_plan.h"

#define PARMA_FIRMWARE_MAX (2u << 20)

/* The firmware ELF as the VMM loads it. */
struct parma_firmware {
	uint64_t gpa;       /* first page of the image */
	uint64_t len;       /* bytes, page multiple */
	uint64_t entry;     /* e_entry: 32-bit entry point */
	uint8_t *image;     /* len bytes (malloc'd) */
};

/* Parse a firmware ELF (hostile: every header is bounds-checked): x86-64,
 * PT_LOAD segments at physical addresses below 4 GiB, total hull at most
 * PARMA_FIRMWARE_MAX. */
int parma_firmware_load(const uint8_t *elf, size_t len, struct parma_firmware *fw,
			struct errbuf *eb);
void parma_firmware_free(struct parma_firmware *fw);

/* The registers the VMM gives vCPU `index` at the firmware entry (32-bit flat
 * protected mode, paging off; RDI = boot descriptor GPA; RDX = vCPU index;
 * see docs/firmware.md "Entry state"), as KVM_SET_REGS / KVM_SET_SREGS values. */
void parma_entry_regs(uint64_t entry, uint64_t boot_desc_gpa, unsigned index,
		      struct kvm_regs *regs, struct kvm_sregs *sregs);

struct parma_launch_input {
	const struct parma_firmware *fw;
	const uint8_t *boot_desc;
	size_t boot_desc_len;
	uint64_t boot_desc_gpa;
	const uint8_t *acpi;       /* may be NULL (no ACPI tables) */
	size_t acpi_len;
	uint64_t acpi_gpa;
	uint64_t secrets_gpa;
	uint64_t cpuid_gpa;
	unsigned vcpus;
	uint64_t guest_features;   /* VMSA SEV_FEATURES requested (SNPActive is implied) */
};

/* Build the plan (items point into the input buffers; keep them alive). */
int parma_launch_plan(const struct parma_launch_input *in, struct snp_plan *plan,
		      struct errbuf *eb);

/* Plan + digest in one step: the expected MEASUREMENT of a launch config.
 * `on_page` may be NULL. */
int parma_launch_measure(const struct parma_launch_input *in, launch_page_fn on_page,
			 void *opaque, uint8_t measurement[SNP_LD_LEN], struct errbuf *eb);

#endif
