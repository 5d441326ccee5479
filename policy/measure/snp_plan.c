#include "policy/measure/snp_plan.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

uint64_t snp_plan_item_pages(const struct snp_plan_item *it)
{
	return (it->len + SNP_PAGE_SIZE - 1) / SNP_PAGE_SIZE;
}

int snp_plan_add(struct snp_plan *p, uint64_t gpa, uint64_t len, enum snp_page_type type,
		 const uint8_t *data, const char *label, struct errbuf *eb)
{
	struct snp_plan_item *it;
	uint64_t end;

	if (p->n_items >= SNP_PLAN_MAX_ITEMS)
		return errbuf_set(eb, ENOSPC, "%s: more than %u launch items", label,
				  SNP_PLAN_MAX_ITEMS);
	if (type == SNP_PAGE_VMSA || !snp_page_type_name((int)type))
		return errbuf_set(eb, EINVAL, "%s: page type %d cannot be launched by the VMM",
				  label, (int)type);
	if (gpa & (SNP_PAGE_SIZE - 1))
		return errbuf_set(eb, EINVAL, "%s: GPA 0x%llx is not 4 KiB aligned", label,
				  (unsigned long long)gpa);
	if (!len || len > (1ull << 40))
		return errbuf_set(eb, EINVAL, "%s: size %llu is empty or too large", label,
				  (unsigned long long)len);
	if (type == SNP_PAGE_NORMAL ? !data : data != NULL)
		return errbuf_set(eb, EINVAL, "%s: only NORMAL pages carry data", label);
	if (type != SNP_PAGE_NORMAL && (len & (SNP_PAGE_SIZE - 1)))
		return errbuf_set(eb, EINVAL, "%s: size %llu is not a page multiple", label,
				  (unsigned long long)len);
	end = gpa + (len + SNP_PAGE_SIZE - 1) / SNP_PAGE_SIZE * SNP_PAGE_SIZE;
	if (end < gpa || end > SNP_VMSA_GPA)
		return errbuf_set(eb, EINVAL, "%s: range wraps or exceeds the guest address space",
				  label);
	for (unsigned i = 0; i < p->n_items; i++) {
		const struct snp_plan_item *o = &p->item[i];
		uint64_t oend = o->gpa + snp_plan_item_pages(o) * SNP_PAGE_SIZE;
		if (gpa < oend && o->gpa < end)
			return errbuf_set(eb, EINVAL,
					  "%s: [0x%llx, 0x%llx) overlaps %s [0x%llx, 0x%llx)", label,
					  (unsigned long long)gpa, (unsigned long long)end, o->label,
					  (unsigned long long)o->gpa, (unsigned long long)oend);
	}
	it = &p->item[p->n_items++];
	it->gpa = gpa;
	it->len = len;
	it->type = type;
	it->data = data;
	snprintf(it->label, sizeof(it->label), "%s", label);
	return 0;
}

int snp_plan_measure(const struct snp_plan *p, struct launch_digest *d, struct errbuf *eb)
{
	uint8_t page[SNP_PAGE_SIZE];
	char label[24];
	int rc;

	for (unsigned i = 0; i < p->n_items; i++) {
		const struct snp_plan_item *it = &p->item[i];
		rc = launch_digest_range(d, it->gpa, it->type, it->data,
					 it->type == SNP_PAGE_NORMAL ? it->len
								     : snp_plan_item_pages(it) * SNP_PAGE_SIZE,
					 it->label);
		if (rc)
			return errbuf_set(eb, -rc, "%s: measuring failed", it->label);
	}
	if (!p->n_vcpus || p->n_vcpus > SNP_PLAN_MAX_VCPUS)
		return errbuf_set(eb, EINVAL, "%u vCPUs (need 1..%u)", p->n_vcpus,
				  SNP_PLAN_MAX_VCPUS);
	for (unsigned v = 0; v < p->n_vcpus; v++) {
		snp_vmsa_build(&p->vcpu[v], page);
		snprintf(label, sizeof(label), "vmsa%u", v);
		rc = launch_digest_page(d, SNP_VMSA_GPA, SNP_PAGE_VMSA, page, label);
		if (rc)
			return errbuf_set(eb, -rc, "%s: measuring failed", label);
	}
	return 0;
}
