#include "vmm/cpuid.h"

#include <linux/kvm.h>

#define CPUID_1_ECX_MONITOR (1u << 3)
#define CPUID_1_ECX_HYPERVISOR (1u << 31)

void cpuid_filter(struct kvm_cpuid_entry2 *e, uint32_t n, uint32_t index, uint32_t n_vcpus)
{
	uint32_t apic_id = index; /* APIC ID == vCPU index (KVM_CREATE_VCPU id) */
	for (uint32_t i = 0; i < n; i++) {
		struct kvm_cpuid_entry2 *c = &e[i];
		switch (c->function) {
		case 0x1:
			c->ebx = (c->ebx & 0x0000ffffu) | (apic_id << 24) | ((n_vcpus & 0xff) << 16);
			c->ecx = (c->ecx & ~CPUID_1_ECX_MONITOR) | CPUID_1_ECX_HYPERVISOR;
			break;
		case 0x4:
			c->eax = (c->eax & 0x03ffffffu) | (((n_vcpus - 1) & 0x3f) << 26);
			break;
		case 0x6:
		case 0xa:
			c->eax = c->ebx = c->ecx = c->edx = 0;
			break;
		case 0xb:
		case 0x1f:
			c->edx = apic_id;
			/* Level 0 (SMT): 1 thread per core; level 1 (core): all vCPUs. */
			if (c->index == 0) {
				c->eax = 0;
				c->ebx = 1;
				c->ecx = (1u << 8) | 0;
			} else if (c->index == 1) {
				uint32_t shift = 0;
				while ((1u << shift) < n_vcpus)
					shift++;
				c->eax = shift;
				c->ebx = n_vcpus;
				c->ecx = (2u << 8) | 1;
			} else {
				c->eax = c->ebx = 0;
				c->ecx = c->index;
			}
			break;
		default:
			break;
		}
	}
}
