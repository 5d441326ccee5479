#include "policy/measure/vcpu_types.h"

#include <errno.h>
#include <string.h>

uint32_t vcpu_signature(unsigned family, unsigned model, unsigned stepping)
{
	unsigned base_family = family > 0xf ? 0xf : family;
	unsigned ext_family = family > 0xf ? family - 0xf : 0;
	return (stepping & 0xf) | (model & 0xf) << 4 | (base_family & 0xf) << 8 |
	       ((model >> 4) & 0xf) << 16 | (ext_family & 0xff) << 20;
}

static const struct {
	const char *name;
	unsigned family, model, stepping;
} vcpu_types[] = {
	{ "EPYC", 23, 1, 2 },         { "EPYC-v1", 23, 1, 2 },      { "EPYC-v2", 23, 1, 2 },
	{ "EPYC-IBPB", 23, 1, 2 },    { "EPYC-v3", 23, 1, 2 },      { "EPYC-v4", 23, 1, 2 },
	{ "EPYC-Rome", 23, 49, 0 },   { "EPYC-Rome-v1", 23, 49, 0 }, { "EPYC-Rome-v2", 23, 49, 0 },
	{ "EPYC-Rome-v3", 23, 49, 0 }, { "EPYC-Milan", 25, 1, 1 },   { "EPYC-Milan-v1", 25, 1, 1 },
	{ "EPYC-Milan-v2", 25, 1, 1 }, { "EPYC-Genoa", 25, 17, 0 },  { "EPYC-Genoa-v1", 25, 17, 0 },
	{ "EPYC-Turin", 26, 0, 0 },    { "EPYC-Turin-v1", 26, 0, 0 },
};

int vcpu_type_signature(const char *name, uint32_t *sig)
{
	for (size_t i = 0; i < sizeof(vcpu_types) / sizeof(vcpu_types[0]); i++) {
		if (!strcmp(vcpu_types[i].name, name)) {
			*sig = vcpu_signature(vcpu_types[i].family, vcpu_types[i].model,
					      vcpu_types[i].stepping);
			return 0;
		}
	}
	return -ENOENT;
}
