/* snp_plan: the ordered list of what an SNP launch hands the secure processor.
 *
 * A plan is the contract between the two users of the launch digest: the VMM
 * executes it (KVM_SEV_SNP_LAUNCH_UPDATE per item in order, then one VMSA per
 * vCPU at LAUNCH_FINISH) and `parma measure` hashes it. Items are page-aligned
 * GPA ranges of one page type; NORMAL items carry their bytes. */
#ifndef PARMA_MEASURE_SNP_PLAN_H
#define PARMA_MEASURE_SNP_PLAN_H

#include <stdint.h>

#include "common/errbuf.h"
#include "policy/measure/launch_digest.h"
#include "policy/measure/vmsa.h"

#define SNP_PLAN_MAX_ITEMS 16
#define SNP_PLAN_MAX_VCPUS 64

struct snp_plan_item {
	uint64_t gpa;          /* page aligned */
	uint64_t len;          /* bytes; a NORMAL item's last page is zero-padded */
	enum snp_page_type type;
	const uint8_t *data;   /* NORMAL: len bytes (not owned); others NULL */
	char label[24];
};

struct snp_plan {
	unsigned n_items;
	struct snp_plan_item item[SNP_PLAN_MAX_ITEMS];
	unsigned n_vcpus;
	struct snp_vcpu_state vcpu[SNP_PLAN_MAX_VCPUS];
};

/* Append an item. Refuses (-EINVAL, message names the label) an unaligned GPA,
 * an empty or wrapping range, a type KVM does not accept from userspace
 * (VMSA), a NORMAL item without data, and any overlap with an earlier item
 * (the secure processor accepts each page once). */
int snp_plan_add(struct snp_plan *p, uint64_t gpa, uint64_t len, enum snp_page_type type,
		 const uint8_t *data, const char *label, struct errbuf *eb);

/* Pages an item covers. */
uint64_t snp_plan_item_pages(const struct snp_plan_item *it);

/* Feed the plan through `d`: items in order, then the VMSA of every vCPU. */
int snp_plan_measure(const struct snp_plan *p, struct launch_digest *d, struct errbuf *eb);

#endif
