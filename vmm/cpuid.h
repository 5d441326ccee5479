/* cpuid: the CPUID the guest sees — KVM_GET_SUPPORTED_CPUID, filtered per vCPU.
 *
 * The filter (docs/vmm.md, "CPUID") is a short list of per-leaf rules applied to
 * every entry; it never adds a feature KVM did not report:
 *  - leaf 0x1: EBX[31:24] = this vCPU's APIC ID, EBX[23:16] = vCPU count,
 *    ECX[31] (hypervisor present) set; ECX[3] MONITOR/MWAIT cleared (KVM does
 *    not emulate it);
 *  - leaves 0xb / 0x1f (x2APIC topology): EDX = APIC ID; one thread per core,
 *    all vCPUs in one package;
 *  - leaf 0x4: EAX[31:26] = vCPU count - 1 (cores per package);
 *  - leaf 0x6 (thermal/power) and 0xa (architectural PMU) are zeroed: the VM
 *    offers neither, and a PMU is a side channel in confidential guests;
 *  - leaf 0x80000001 ECX: nothing changed; leaf 0x40000000.. (KVM) kept.
 * The result is the same for the same KVM answer, vCPU index and count. */
#ifndef PARMA_VMM_CPUID_H
#define PARMA_VMM_CPUID_H

#include <stdint.h>

struct kvm_cpuid_entry2;

/* Filter `n` entries in place for vCPU `index` of `n_vcpus`. */
void cpuid_filter(struct kvm_cpuid_entry2 *e, uint32_t n, uint32_t index, uint32_t n_vcpus);

#endif
