#include "policy/measure/parma_launch.h"

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Boot GDT selectors of the 32-bit entry (Linux boot protocol __BOOT_CS/__BOOT_DS). */
#define ENTRY_CS 0x10
#define ENTRY_DS 0x18

int parma_firmware_load(const uint8_t *elf, size_t len, struct parma_firmware *fw,
			struct errbuf *eb)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)elf;
	uint64_t lo = UINT64_MAX, hi = 0;
	unsigned n_load = 0;

	memset(fw, 0, sizeof(*fw));
	if (len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG))
		return errbuf_set(eb, EINVAL, "not an ELF file");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_X86_64)
		return errbuf_set(eb, EINVAL, "not a little-endian x86-64 ELF");
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phnum > 64 ||
	    eh->e_phoff > len || (len - eh->e_phoff) / sizeof(Elf64_Phdr) < eh->e_phnum)
		return errbuf_set(eb, EINVAL, "program headers are missing or truncated");

	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < eh->e_phnum; i++) {
			Elf64_Phdr ph;
			memcpy(&ph, elf + eh->e_phoff + i * sizeof(ph), sizeof(ph));
			if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
				continue;
			if (pass == 0) {
				if (ph.p_filesz > ph.p_memsz || ph.p_offset > len ||
				    len - ph.p_offset < ph.p_filesz)
					return errbuf_set(eb, EINVAL,
							  "segment %u: file range outside the file", i);
				if (ph.p_paddr >= 0x100000000ull ||
				    ph.p_memsz > 0x100000000ull - ph.p_paddr)
					return errbuf_set(eb, EINVAL,
							  "segment %u: not below 4 GiB", i);
				lo = ph.p_paddr < lo ? ph.p_paddr : lo;
				hi = ph.p_paddr + ph.p_memsz > hi ? ph.p_paddr + ph.p_memsz : hi;
				n_load++;
				continue;
			}
			memcpy(fw->image + (ph.p_paddr - fw->gpa), elf + ph.p_offset, ph.p_filesz);
		}
		if (pass == 0) {
			if (!n_load)
				return errbuf_set(eb, EINVAL, "no loadable segment");
			fw->gpa = lo & ~(uint64_t)(SNP_PAGE_SIZE - 1);
			fw->len = ((hi + SNP_PAGE_SIZE - 1) & ~(uint64_t)(SNP_PAGE_SIZE - 1)) - fw->gpa;
			if (fw->len > PARMA_FIRMWARE_MAX)
				return errbuf_set(eb, EFBIG,
						  "loaded image spans %llu bytes (at most %u)",
						  (unsigned long long)fw->len, PARMA_FIRMWARE_MAX);
			if (eh->e_entry < lo || eh->e_entry >= hi)
				return errbuf_set(eb, EINVAL, "entry point 0x%llx outside the image",
						  (unsigned long long)eh->e_entry);
			fw->entry = eh->e_entry;
			fw->image = calloc(1, fw->len);
			if (!fw->image)
				return errbuf_set(eb, ENOMEM, "out of memory");
		}
	}
	return 0;
}

void parma_firmware_free(struct parma_firmware *fw)
{
	if (!fw)
		return;
	free(fw->image);
	fw->image = NULL;
}

static struct kvm_segment flat_segment(uint16_t selector, uint8_t type)
{
	return (struct kvm_segment){ .base = 0, .limit = 0xffffffff, .selector = selector,
				     .type = type, .present = 1, .dpl = 0, .db = 1, .s = 1,
				     .l = 0, .g = 1 };
}

void parma_entry_regs(uint64_t entry, uint64_t boot_desc_gpa, unsigned index,
		      struct kvm_regs *regs, struct kvm_sregs *sregs)
{
	memset(regs, 0, sizeof(*regs));
	memset(sregs, 0, sizeof(*sregs));
	regs->rip = entry;
	regs->rflags = 0x2;
	regs->rdi = boot_desc_gpa;
	regs->rdx = index;
	sregs->cs = flat_segment(ENTRY_CS, 0xb);
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = flat_segment(ENTRY_DS, 0x3);
	sregs->tr = (struct kvm_segment){ .limit = 0xffff, .type = 0xb, .present = 1 };
	sregs->ldt = (struct kvm_segment){ .limit = 0xffff, .type = 0x2, .present = 1 };
	sregs->gdt.base = 0x500; /* the machine's boot GDT (unused: stage0 loads its own) */
	sregs->gdt.limit = 31;
	sregs->idt.limit = 0xffff;
	sregs->cr0 = 0x11; /* PE | ET */
}

int parma_launch_plan(const struct parma_launch_input *in, struct snp_plan *plan,
		      struct errbuf *eb)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	int rc;

	memset(plan, 0, sizeof(*plan));
	if (!in->fw || !in->fw->image)
		return errbuf_set(eb, EINVAL, "no firmware");
	if (!in->boot_desc || !in->boot_desc_len)
		return errbuf_set(eb, EINVAL, "no boot descriptor");
	if (!in->vcpus || in->vcpus > SNP_PLAN_MAX_VCPUS)
		return errbuf_set(eb, EINVAL, "%u vCPUs (need 1..%u)", in->vcpus,
				  SNP_PLAN_MAX_VCPUS);
	rc = snp_plan_add(plan, in->fw->gpa, in->fw->len, SNP_PAGE_NORMAL, in->fw->image,
			  "firmware", eb);
	if (!rc)
		rc = snp_plan_add(plan, in->boot_desc_gpa, in->boot_desc_len, SNP_PAGE_NORMAL,
				  in->boot_desc, "boot-descriptor", eb);
	if (!rc && in->acpi && in->acpi_len)
		rc = snp_plan_add(plan, in->acpi_gpa, in->acpi_len, SNP_PAGE_NORMAL, in->acpi,
				  "acpi", eb);
	if (!rc)
		rc = snp_plan_add(plan, in->secrets_gpa, SNP_PAGE_SIZE, SNP_PAGE_SECRETS, NULL,
				  "secrets", eb);
	if (!rc)
		rc = snp_plan_add(plan, in->cpuid_gpa, SNP_PAGE_SIZE, SNP_PAGE_CPUID, NULL,
				  "cpuid", eb);
	if (rc)
		return rc;
	plan->n_vcpus = in->vcpus;
	for (unsigned v = 0; v < in->vcpus; v++) {
		parma_entry_regs(in->fw->entry, in->boot_desc_gpa, v, &regs, &sregs);
		snp_vcpu_state_from_kvm(&plan->vcpu[v], &regs, &sregs, in->guest_features);
	}
	return 0;
}

int parma_launch_measure(const struct parma_launch_input *in, launch_page_fn on_page,
			 void *opaque, uint8_t measurement[SNP_LD_LEN], struct errbuf *eb)
{
	struct snp_plan *plan = malloc(sizeof(*plan));
	struct launch_digest d;
	int rc;

	if (!plan)
		return errbuf_set(eb, ENOMEM, "out of memory");
	rc = parma_launch_plan(in, plan, eb);
	if (rc)
		goto out;
	rc = launch_digest_init(&d, NULL);
	if (rc) {
		errbuf_set(eb, -rc, "cannot start a SHA-384 digest");
		goto out;
	}
	d.on_page = on_page;
	d.opaque = opaque;
	rc = snp_plan_measure(plan, &d, eb);
	if (!rc)
		memcpy(measurement, d.ld, SNP_LD_LEN);
	launch_digest_fini(&d);
out:
	free(plan);
	return rc;
}
