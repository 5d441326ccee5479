#include "policy/measure/vmsa.h"

#include <string.h>

#include "common/byteorder.h"

/* VMSA field offsets (AMD APM vol. 2 "VMSA layout"; the SNP facts notes §2.3). */
enum {
	VMSA_ES = 0x000, VMSA_CS = 0x010, VMSA_SS = 0x020, VMSA_DS = 0x030, VMSA_FS = 0x040,
	VMSA_GS = 0x050, VMSA_GDTR = 0x060, VMSA_LDTR = 0x070, VMSA_IDTR = 0x080,
	VMSA_TR = 0x090, VMSA_CPL = 0x0cb, VMSA_EFER = 0x0d0, VMSA_XSS = 0x140,
	VMSA_CR4 = 0x148, VMSA_CR3 = 0x150, VMSA_CR0 = 0x158, VMSA_DR7 = 0x160,
	VMSA_DR6 = 0x168, VMSA_RFLAGS = 0x170, VMSA_RIP = 0x178, VMSA_RSP = 0x1d8,
	VMSA_RAX = 0x1f8, VMSA_CR2 = 0x240, VMSA_G_PAT = 0x268, VMSA_PKRU = 0x2e8,
	VMSA_RCX = 0x308, VMSA_RDX = 0x310, VMSA_RBX = 0x318, VMSA_RBP = 0x328,
	VMSA_RSI = 0x330, VMSA_RDI = 0x338, VMSA_R8 = 0x340, VMSA_SEV_FEATURES = 0x3b0,
	VMSA_XCR0 = 0x3e8, VMSA_MXCSR = 0x408, VMSA_X87_FTW = 0x40c, VMSA_X87_FSW = 0x40e,
	VMSA_X87_FCW = 0x410,
};

static void put_seg(uint8_t *p, const struct snp_segment *s)
{
	le_put16(p, s->selector);
	le_put16(p + 2, s->attrib);
	le_put32(p + 4, s->limit);
	le_put64(p + 8, s->base);
}

void snp_vmsa_build(const struct snp_vcpu_state *s, uint8_t page[4096])
{
	/* Where each GPR lives; RSP and RAX sit apart from the others. */
	static const uint16_t gpr_off[SNP_NR_GPRS] = {
		[SNP_RAX] = VMSA_RAX, [SNP_RCX] = VMSA_RCX, [SNP_RDX] = VMSA_RDX,
		[SNP_RBX] = VMSA_RBX, [SNP_RSP] = VMSA_RSP, [SNP_RBP] = VMSA_RBP,
		[SNP_RSI] = VMSA_RSI, [SNP_RDI] = VMSA_RDI,
		[SNP_R8] = VMSA_R8, [SNP_R9] = VMSA_R8 + 8, [SNP_R10] = VMSA_R8 + 16,
		[SNP_R11] = VMSA_R8 + 24, [SNP_R12] = VMSA_R8 + 32, [SNP_R13] = VMSA_R8 + 40,
		[SNP_R14] = VMSA_R8 + 48, [SNP_R15] = VMSA_R8 + 56,
	};

	memset(page, 0, 4096);
	put_seg(page + VMSA_ES, &s->es);
	put_seg(page + VMSA_CS, &s->cs);
	put_seg(page + VMSA_SS, &s->ss);
	put_seg(page + VMSA_DS, &s->ds);
	put_seg(page + VMSA_FS, &s->fs);
	put_seg(page + VMSA_GS, &s->gs);
	put_seg(page + VMSA_GDTR, &s->gdtr);
	put_seg(page + VMSA_LDTR, &s->ldtr);
	put_seg(page + VMSA_IDTR, &s->idtr);
	put_seg(page + VMSA_TR, &s->tr);
	page[VMSA_CPL] = s->cpl;
	le_put64(page + VMSA_EFER, s->efer);
	le_put64(page + VMSA_XSS, s->xss);
	le_put64(page + VMSA_CR4, s->cr4);
	le_put64(page + VMSA_CR3, s->cr3);
	le_put64(page + VMSA_CR0, s->cr0);
	le_put64(page + VMSA_DR7, s->dr7);
	le_put64(page + VMSA_DR6, s->dr6);
	le_put64(page + VMSA_RFLAGS, s->rflags);
	le_put64(page + VMSA_RIP, s->rip);
	le_put64(page + VMSA_CR2, s->cr2);
	le_put64(page + VMSA_G_PAT, s->g_pat);
	le_put32(page + VMSA_PKRU, s->pkru);
	for (int i = 0; i < SNP_NR_GPRS; i++)
		le_put64(page + gpr_off[i], s->gpr[i]);
	le_put64(page + VMSA_SEV_FEATURES, s->sev_features);
	le_put64(page + VMSA_XCR0, s->xcr0);
	le_put32(page + VMSA_MXCSR, s->mxcsr);
	le_put16(page + VMSA_X87_FTW, s->x87_ftw);
	le_put16(page + VMSA_X87_FSW, s->x87_fsw);
	le_put16(page + VMSA_X87_FCW, s->x87_fcw);
}

/* KVM's defaults for everything the VMM does not set on an INIT2 VM. */
static void kvm_defaults(struct snp_vcpu_state *s, uint64_t features)
{
	s->dr6 = 0xffff0ff0;
	s->dr7 = 0x400;
	s->g_pat = SNP_DEFAULT_G_PAT;
	s->xcr0 = 1;
	s->mxcsr = SNP_DEFAULT_MXCSR;
	s->x87_fcw = SNP_DEFAULT_FCW;
	s->sev_features = features | SNP_SEV_FEAT_SNP_ACTIVE;
}

void snp_vcpu_state_reset(struct snp_vcpu_state *s, uint32_t eip, uint32_t vcpu_sig,
			  uint64_t sev_features)
{
	const struct snp_segment data = { 0, 0x93, 0xffff, 0 };

	memset(s, 0, sizeof(*s));
	s->es = s->ss = s->ds = s->fs = s->gs = data;
	s->cs = (struct snp_segment){ 0xf000, 0x9b, 0xffff, eip & 0xffff0000u };
	s->gdtr.limit = s->idtr.limit = 0xffff;
	s->ldtr = (struct snp_segment){ 0, 0x82, 0xffff, 0 };
	s->tr = (struct snp_segment){ 0, 0x8b, 0xffff, 0 };
	s->efer = 0x1000;
	s->cr4 = 0x40;
	s->cr0 = 0x10;
	s->rflags = 0x2;
	s->rip = eip & 0xffff;
	s->gpr[SNP_RDX] = vcpu_sig;
	kvm_defaults(s, 0);
	/* sev-snp-measure semantics: the given features are used as is. */
	s->sev_features = sev_features;
}

static struct snp_segment seg_from_kvm(const struct kvm_segment *k)
{
	struct snp_segment s;
	s.selector = k->selector;
	s.limit = k->limit;
	s.base = k->base;
	/* KVM svm_set_segment: an unusable segment is stored not-present. */
	s.attrib = (uint16_t)((k->type & 0xf) | (k->s & 1) << 4 | (k->dpl & 3) << 5 |
			      ((k->present & 1) && !k->unusable) << 7 | (k->avl & 1) << 8 |
			      (k->l & 1) << 9 | (k->db & 1) << 10 | (k->g & 1) << 11);
	return s;
}

void snp_vcpu_state_from_kvm(struct snp_vcpu_state *s, const struct kvm_regs *r,
			     const struct kvm_sregs *sr, uint64_t features)
{
	const uint64_t gprs[SNP_NR_GPRS] = {
		r->rax, r->rcx, r->rdx, r->rbx, r->rsp, r->rbp, r->rsi, r->rdi,
		r->r8, r->r9, r->r10, r->r11, r->r12, r->r13, r->r14, r->r15,
	};

	memset(s, 0, sizeof(*s));
	s->es = seg_from_kvm(&sr->es);
	s->cs = seg_from_kvm(&sr->cs);
	s->ss = seg_from_kvm(&sr->ss);
	s->ds = seg_from_kvm(&sr->ds);
	s->fs = seg_from_kvm(&sr->fs);
	s->gs = seg_from_kvm(&sr->gs);
	s->ldtr = seg_from_kvm(&sr->ldt);
	s->tr = seg_from_kvm(&sr->tr);
	s->gdtr = (struct snp_segment){ 0, 0, sr->gdt.limit, sr->gdt.base };
	s->idtr = (struct snp_segment){ 0, 0, sr->idt.limit, sr->idt.base };
	s->cpl = sr->ss.dpl & 3;
	s->efer = sr->efer | 0x1000;                 /* EFER.SVME */
	s->cr0 = sr->cr0 & ~0x60000000ull;           /* clear CD, NW */
	s->cr2 = sr->cr2;
	s->cr3 = sr->cr3;
	s->cr4 = sr->cr4 | 0x40;                     /* host CR4.MCE */
	s->rflags = r->rflags;
	s->rip = r->rip;
	memcpy(s->gpr, gprs, sizeof(gprs));
	kvm_defaults(s, features);
}
