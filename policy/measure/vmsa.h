/* vmsa: the initial VMSA page of a vCPU, as the secure processor measures it.
 *
 * For an SNP VM, KVM builds each vCPU's VMSA at KVM_SEV_SNP_LAUNCH_FINISH from
 * the vCPU's register state (kernel sev_es_sync_vmsa): the VMCB save area
 * (segments in packed-attribute form, control and debug registers, EFER with
 * SVME, G_PAT), the GPRs, XCR0/XSS/PKRU, and for INIT2 VMs the x87/SSE state.
 * `struct snp_vcpu_state` is that state in VMSA terms; snp_vmsa_build() lays it
 * out at the VMSA offsets (AMD APM vol. 2, "VMSA layout"), everything else 0. */
#ifndef PARMA_MEASURE_VMSA_H
#define PARMA_MEASURE_VMSA_H

#include <stdint.h>

#include <linux/kvm.h>

/* Segment in VMCB form: attrib = type[3:0] S[4] DPL[6:5] P[7] AVL[8] L[9] DB[10] G[11]. */
struct snp_segment {
	uint16_t selector;
	uint16_t attrib;
	uint32_t limit;
	uint64_t base;
};

enum snp_gpr {
	SNP_RAX, SNP_RCX, SNP_RDX, SNP_RBX, SNP_RSP, SNP_RBP, SNP_RSI, SNP_RDI,
	SNP_R8, SNP_R9, SNP_R10, SNP_R11, SNP_R12, SNP_R13, SNP_R14, SNP_R15,
	SNP_NR_GPRS,
};

struct snp_vcpu_state {
	struct snp_segment es, cs, ss, ds, fs, gs, gdtr, ldtr, idtr, tr;
	uint8_t cpl;
	uint64_t efer, cr0, cr2, cr3, cr4, dr6, dr7, rflags, rip;
	uint64_t gpr[SNP_NR_GPRS];
	uint64_t g_pat, xcr0, xss;
	uint32_t pkru;
	uint32_t mxcsr;
	uint16_t x87_fcw, x87_fsw, x87_ftw;
	uint64_t sev_features;
};

#define SNP_DEFAULT_G_PAT 0x0007040600070406ull
#define SNP_DEFAULT_MXCSR 0x1f80u
#define SNP_DEFAULT_FCW 0x037fu
#define SNP_SEV_FEAT_SNP_ACTIVE 0x1ull

/* Write the 4 KiB VMSA page for `s`. */
void snp_vmsa_build(const struct snp_vcpu_state *s, uint8_t page[4096]);

/* The x86 reset state (what QEMU's reset gives KVM, as KVM stores it): real
 * mode at CS base eip & 0xFFFF0000, IP eip & 0xFFFF, EDX = vCPU signature. */
void snp_vcpu_state_reset(struct snp_vcpu_state *s, uint32_t eip, uint32_t vcpu_sig,
			  uint64_t sev_features);

/* Model KVM: the state a vCPU of an INIT2 VM measures after the VMM set
 * `regs`/`sregs` with KVM_SET_REGS/KVM_SET_SREGS and nothing else (default
 * FPU, XCR0, PAT, debug registers): EFER gains SVME, CR4 gains MCE (set on
 * every host we know), CR0 loses CD/NW (KVM's CD_NW_CLEARED quirk), CPL is
 * SS.DPL. `features` is the VMSA SEV_FEATURES (KVM ORs in SNPActive). */
void snp_vcpu_state_from_kvm(struct snp_vcpu_state *s, const struct kvm_regs *regs,
			     const struct kvm_sregs *sregs, uint64_t features);

#endif
