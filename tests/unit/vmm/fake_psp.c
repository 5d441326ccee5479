#include "fake_psp.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "vmm/snp_kvm.h"

struct fake F;


/* --- independent digest: PAGE_INFO per the facts table --- */
static void fake_measure(const uint8_t *page, uint64_t gpa, uint8_t type)
{
	uint8_t info[0x70] = { 0 };
	unsigned n;
	memcpy(info, F.ld, 48);
	if (type == 1 || type == 2)
		EVP_Digest(page, 4096, info + 48, &n, EVP_sha384(), NULL);
	info[0x60] = 0x70;
	info[0x62] = type;
	memcpy(info + 0x68, &gpa, 8);
	EVP_Digest(info, sizeof(info), F.ld, &n, EVP_sha384(), NULL);
}

/* --- independent VMSA: what KVM's sev_es_sync_vmsa writes for an INIT2 VM --- */
static void w(uint8_t *p, unsigned off, uint64_t v, int bytes)
{
	memcpy(p + off, &v, (size_t)bytes);
}

static void wseg(uint8_t *p, unsigned off, const struct kvm_segment *s)
{
	uint16_t attr = (uint16_t)(s->type | s->s << 4 | s->dpl << 5 |
				   (s->present && !s->unusable) << 7 | s->avl << 8 | s->l << 9 |
				   s->db << 10 | s->g << 11);
	w(p, off, s->selector, 2);
	w(p, off + 2, attr, 2);
	w(p, off + 4, s->limit, 4);
	w(p, off + 8, s->base, 8);
}

static void fake_vmsa(int v, uint8_t p[4096])
{
	const struct kvm_regs *r = &F.regs[v];
	const struct kvm_sregs *s = &F.sregs[v];
	memset(p, 0, 4096);
	wseg(p, 0x00, &s->es);
	wseg(p, 0x10, &s->cs);
	wseg(p, 0x20, &s->ss);
	wseg(p, 0x30, &s->ds);
	wseg(p, 0x40, &s->fs);
	wseg(p, 0x50, &s->gs);
	w(p, 0x64, s->gdt.limit, 4);
	w(p, 0x68, s->gdt.base, 8);
	wseg(p, 0x70, &s->ldt);
	w(p, 0x84, s->idt.limit, 4);
	w(p, 0x88, s->idt.base, 8);
	wseg(p, 0x90, &s->tr);
	p[0xcb] = s->ss.dpl;
	w(p, 0xd0, s->efer | 0x1000, 8);
	w(p, 0x148, s->cr4 | 0x40, 8);
	w(p, 0x150, s->cr3, 8);
	w(p, 0x158, s->cr0 & ~0x60000000ull, 8);
	w(p, 0x160, 0x400, 8);
	w(p, 0x168, 0xffff0ff0, 8);
	w(p, 0x170, r->rflags, 8);
	w(p, 0x178, r->rip, 8);
	w(p, 0x1d8, r->rsp, 8);
	w(p, 0x1f8, r->rax, 8);
	w(p, 0x240, s->cr2, 8);
	w(p, 0x268, 0x0007040600070406ull, 8);
	w(p, 0x308, r->rcx, 8);
	w(p, 0x310, r->rdx, 8);
	w(p, 0x318, r->rbx, 8);
	w(p, 0x328, r->rbp, 8);
	w(p, 0x330, r->rsi, 8);
	w(p, 0x338, r->rdi, 8);
	const uint64_t hi[8] = { r->r8, r->r9, r->r10, r->r11, r->r12, r->r13, r->r14, r->r15 };
	for (int i = 0; i < 8; i++)
		w(p, 0x340 + 8 * i, hi[i], 8);
	w(p, 0x3b0, F.vmsa_features | 1, 8);
	w(p, 0x3e8, 1, 8);
	w(p, 0x408, 0x1f80, 4);
	w(p, 0x410, 0x37f, 2);
}

static int fake_check_id_block(const struct snp_kvm_launch_finish *f)
{
	const uint8_t *blk = (const uint8_t *)(uintptr_t)f->id_block_uaddr;
	const uint8_t *auth = (const uint8_t *)(uintptr_t)f->id_auth_uaddr;
	uint8_t xy[97] = { 4 }, der[200], *pd = der;
	BIGNUM *r = BN_lebin2bn(auth + 0x40, 72, NULL), *s = BN_lebin2bn(auth + 0x40 + 72, 72, NULL);
	ECDSA_SIG *sig = ECDSA_SIG_new();
	EVP_PKEY *pk = NULL;
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	OSSL_PARAM params[3];
	EVP_MD_CTX *mc = EVP_MD_CTX_new();
	int ok, len;

	/* public key struct: curve 2, Qx, Qy little-endian 72 bytes each */
	assert_int_equal(auth[0x240], 2);
	for (int i = 0; i < 48; i++) {
		xy[1 + i] = auth[0x244 + 47 - i];
		xy[49 + i] = auth[0x244 + 72 + 47 - i];
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "secp384r1", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, xy, sizeof(xy));
	params[2] = OSSL_PARAM_construct_end();
	assert_int_equal(EVP_PKEY_fromdata_init(pc), 1);
	assert_int_equal(EVP_PKEY_fromdata(pc, &pk, EVP_PKEY_PUBLIC_KEY, params), 1);
	ECDSA_SIG_set0(sig, r, s);
	len = i2d_ECDSA_SIG(sig, &pd);
	ok = EVP_DigestVerifyInit(mc, NULL, EVP_sha384(), NULL, pk) == 1 &&
	     EVP_DigestVerify(mc, der, (size_t)len, blk, 96) == 1;
	EVP_MD_CTX_free(mc);
	ECDSA_SIG_free(sig);
	EVP_PKEY_free(pk);
	EVP_PKEY_CTX_free(pc);
	if (!ok)
		return 10; /* BAD_SIGNATURE */
	if (memcmp(blk, F.ld, 48))
		return 11; /* BAD_MEASUREMENT */
	uint64_t pol;
	memcpy(&pol, blk + 0x58, 8);
	F.id_block_checked = 1;
	return 0;
}

static int fake_sev(struct snp_kvm_sev_cmd *c)
{
	switch (c->id) {
	case SNP_KVM_SEV_INIT2: {
		struct snp_kvm_sev_init *in = (void *)(uintptr_t)c->data;
		if (F.vcpus || F.init2 || in->flags)
			return -EINVAL;
		F.init2 = 1;
		F.vmsa_features = in->vmsa_features;
		return 0;
	}
	case SNP_KVM_SEV_SNP_LAUNCH_START: {
		struct snp_kvm_launch_start *st = (void *)(uintptr_t)c->data;
		/* KVM: bits outside its supported set (6.11: ABI, SMT, 17, DEBUG,
		 * SINGLE_SOCKET; newer: KVM_X86_SNP_POLICY_BITS) and bit 17 clear. */
		uint64_t ok = F.policy_bits ? F.policy_bits : 0x1bffffull;
		if (!F.init2 || F.started || st->flags || !(st->policy & (1ull << 17)) ||
		    (st->policy & ~ok))
			return -EINVAL;
		F.started = 1;
		return 0;
	}
	case SNP_KVM_SEV_SNP_LAUNCH_UPDATE: {
		struct snp_kvm_launch_update *u = (void *)(uintptr_t)c->data;
		unsigned done = 0;
		if (!F.started || F.finished || u->flags || u->pad0 || (u->len & 4095) || !u->len)
			return -EINVAL;
		if (u->type != 1 && !(u->type >= 3 && u->type <= 6))
			return -EINVAL;
		if (u->type != 3 && (u->uaddr & 4095))
			return -EINVAL;
		if (F.eagain_every && ++F.n_calls % F.eagain_every == 0)
			return -EAGAIN;
		while (u->len && done < 3) { /* partial progress, like KVM */
			uint64_t gpa = u->gfn_start * 4096;
			if (!F.slot_set || gpa < F.slot_gpa || gpa >= F.slot_gpa + F.slot_size)
				return -EINVAL;
			uint64_t pg = (gpa - F.slot_gpa) / 4096;
			if (F.attr[pg] != ATTR_PRIVATE || F.launched[pg])
				return -EINVAL;
			const uint8_t *src = (const uint8_t *)(uintptr_t)u->uaddr;
			if (u->type == 6) {
				/* The "CPU" allows only some leaf 7.0 EBX bits. */
				uint8_t *pgp = (uint8_t *)(uintptr_t)u->uaddr;
				uint32_t n, leaf, sub, ebx;
				int bad = 0;
				memcpy(&n, pgp, 4);
				for (uint32_t i = 0; i < n && i < 64; i++) {
					memcpy(&leaf, pgp + 16 + 48 * i, 4);
					memcpy(&sub, pgp + 20 + 48 * i, 4);
					memcpy(&ebx, pgp + 16 + 48 * i + 28, 4);
					if (leaf == 7 && sub == 0 && (ebx & ~F.cpuid_ebx_allowed)) {
						ebx &= F.cpuid_ebx_allowed;
						memcpy(pgp + 16 + 48 * i + 28, &ebx, 4);
						bad = 1;
					}
				}
				if (bad) {
					c->error = SNP_FW_INVALID_PARAM;
					return -EIO;
				}
			}
			fake_measure(src, gpa, u->type);
			F.launched[pg] = 1;
			F.types_seen[u->type] = 1;
			F.n_updates++;
			u->gfn_start++;
			if (u->type != 3)
				u->uaddr += 4096;
			u->len -= 4096;
			done++;
		}
		return 0;
	}
	case SNP_KVM_SEV_SNP_LAUNCH_FINISH: {
		struct snp_kvm_launch_finish *f = (void *)(uintptr_t)c->data;
		uint8_t vmsa[4096];
		if (!F.started || F.finished || f->flags)
			return -EINVAL;
		if (F.sync_vcpus)
			F.sync_vcpus();
		for (int v = 0; v < F.vcpus; v++) {
			fake_vmsa(v, vmsa);
			fake_measure(vmsa, 0xFFFFFFFFF000ull, 2);
		}
		if (f->id_block_en) {
			int e = fake_check_id_block(f);
			if (e) {
				c->error = (uint32_t)e;
				return -EIO;
			}
		}
		memcpy(F.host_data, f->host_data, 32);
		F.finished = 1;
		return 0;
	}
	}
	return -EINVAL;
}

int fake_psp_ioctl(void *ctx, int fd, unsigned long req, void *arg)
{
	(void)ctx;
	if (req == SNP_KVM_CHECK_EXTENSION) {
		if (F.kvm_fd >= 0 && fd != F.kvm_fd && fd != F.vm_fd)
			return -EBADF;
		switch ((uintptr_t)arg) {
		case SNP_KVM_CAP_VM_TYPES: return F.caps_ok ? 0x1f : 0x1;
		case SNP_KVM_CAP_MEMORY_ATTRIBUTES: return 8;
		case SNP_KVM_CAP_EXIT_HYPERCALL: return 1 << 12;
		default: return 1;
		}
	}
	if (req == KVM_GET_DEVICE_ATTR && fd != F.vm_fd) {
		struct kvm_device_attr *a = arg;
		if (!F.policy_bits)
			return -ENXIO; /* a kernel before KVM_X86_SNP_POLICY_BITS */
		if (a->group != 1 || a->attr != 1)
			return -ENXIO;
		memcpy((void *)(uintptr_t)a->addr, &F.policy_bits, 8);
		return 0;
	}
	if (fd != F.vm_fd)
		return -ENOTTY;
	switch (req) {
	case SNP_KVM_MEMORY_ENCRYPT_OP:
		return fake_sev(arg);
	case SNP_KVM_CREATE_GUEST_MEMFD: {
		struct snp_kvm_create_guest_memfd *g = arg;
		if (g->flags || g->size & 4095)
			return -EINVAL;
		F.gmem_fd = 77;
		return 77;
	}
	case SNP_KVM_SET_USER_MEMORY_REGION2: {
		struct snp_kvm_memory_region2 *r = arg;
		if (!(r->flags & SNP_KVM_MEM_GUEST_MEMFD) || (int)r->guest_memfd != F.gmem_fd ||
		    r->memory_size > MEM_SIZE)
			return -EINVAL;
		F.slot_set = 1;
		F.slot_gpa = r->guest_phys_addr;
		F.slot_size = r->memory_size;
		return 0;
	}
	case SNP_KVM_SET_MEMORY_ATTRIBUTES: {
		struct snp_kvm_memory_attributes *a = arg;
		if (a->flags || ((a->address | a->size) & 4095) || a->address < F.slot_gpa ||
		    a->address + a->size > F.slot_gpa + F.slot_size)
			return -EINVAL;
		for (uint64_t p = 0; p < a->size / 4096; p++)
			F.attr[(a->address - F.slot_gpa) / 4096 + p] =
				a->attributes ? ATTR_PRIVATE : ATTR_SHARED;
		return 0;
	}
	case SNP_KVM_ENABLE_CAP: {
		struct snp_kvm_enable_cap *c = arg;
		if (c->cap == SNP_KVM_CAP_EXIT_HYPERCALL && c->args[0] == (1u << 12))
			F.hypercall_cap = 1;
		return 0;
	}
	}
	return -ENOTTY;
}

/* What the machine does for each vCPU: create it, set its entry registers. */
int fake_create_vcpu(const struct kvm_regs *r, const struct kvm_sregs *s)
{
	if (F.vcpus >= MAX_VCPUS || F.finished)
		return -EINVAL;
	F.regs[F.vcpus] = *r;
	F.sregs[F.vcpus] = *s;
	return F.vcpus++;
}

