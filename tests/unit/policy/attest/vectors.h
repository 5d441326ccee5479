/* Helpers shared by the attest tests: locate the real AMD-signed report sets
 * (PARMA_SHARED_DIR/snp/vectors) and read files from them. */
#ifndef PARMA_TESTS_ATTEST_VECTORS_H
#define PARMA_TESTS_ATTEST_VECTORS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fileio.h"

/* The report sets with a report.bin, expected.json and a VCEK. */
static const char *const vector_sets[] = {
	"milan-virtee-sev", "milan-go-sev-guest", "milan-trustee",
	"genoa-oak",	    "aci-milan-ccf",	  "aci-genoa-ccf",
};
#define N_VECTOR_SETS (sizeof(vector_sets) / sizeof(vector_sets[0]))

static char vectors_root[1024];

/* Returns 0 if the vectors exist; otherwise prints why and returns 77. */
static int vectors_locate(void)
{
	const char *shared = getenv("PARMA_SHARED_DIR");
	struct stat st;
	if (!shared) {
		fprintf(stderr, "SKIP: PARMA_SHARED_DIR is not set (needs the SNP report vectors)\n");
		return 77;
	}
	snprintf(vectors_root, sizeof(vectors_root), "%s/snp/vectors", shared);
	if (stat(vectors_root, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "SKIP: %s is missing (needs the SNP report vectors)\n", vectors_root);
		return 77;
	}
	return 0;
}

static void vector_path(char *out, size_t n, const char *set, const char *file)
{
	snprintf(out, n, "%s/%s%s%s", vectors_root, set, file ? "/" : "", file ? file : "");
}

/* Read a vector file (malloc'd; NULL if missing). */
static uint8_t *vector_read(const char *set, const char *file, size_t *len)
{
	char path[1200];
	uint8_t *data = NULL;
	vector_path(path, sizeof(path), set, file);
	if (file_read_all(path, 1 << 20, &data, len, NULL) != 0)
		return NULL;
	return data;
}

#endif
