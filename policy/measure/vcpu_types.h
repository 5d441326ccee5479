/* vcpu_types: CPUID Fn0000_0001 EAX signatures of QEMU's EPYC vCPU models
 * (the names sev-snp-measure accepts for --vcpu-type). */
#ifndef PARMA_MEASURE_VCPU_TYPES_H
#define PARMA_MEASURE_VCPU_TYPES_H

#include <stdint.h>

/* Returns 0 and the signature, or -ENOENT for an unknown name. */
int vcpu_type_signature(const char *name, uint32_t *sig);

/* family/model/stepping → signature (extended family/model encoding). */
uint32_t vcpu_signature(unsigned family, unsigned model, unsigned stepping);

#endif
