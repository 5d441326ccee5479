/* Fuzz the group spec parser: any bytes give a spec or an error naming the problem. */
#include <stdint.h>
#include <stdlib.h>

#include "policy/image/group_spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct group_spec *g = NULL;
	struct errbuf eb = { 0 };
	int ret = group_spec_parse((const char *)data, size, "fuzz.json", "/images", &g, &eb);
	if (ret == 0) {
		if (!g || !g->n_containers || !g->containers[0].image_ref)
			abort();
	} else if (g || !eb.msg[0]) {
		abort();
	}
	group_spec_free(g);
	return 0;
}
