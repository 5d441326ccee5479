/* Stand-in for libFuzzer's main when the compiler has none (gcc builds):
 * runs every file under the given seed directories through the target, then
 * a fixed number of deterministic mutations of them (bit flips, truncations,
 * byte splices). Reproducible: the same seeds give the same inputs. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SEEDS 512
#define FUZZ_MAX_INPUT (1u << 20)
#define MUTATIONS 20000

static uint8_t *seed_data[MAX_SEEDS];
static size_t seed_len[MAX_SEEDS];
static size_t n_seeds;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void load_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	if (!d) {
		fprintf(stderr, "fuzz_driver: %s: cannot open seed directory\n", dir);
		exit(1);
	}
	while ((e = readdir(d)) && n_seeds < MAX_SEEDS) {
		char path[4096];
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (file_read_all(path, FUZZ_MAX_INPUT, &seed_data[n_seeds], &seed_len[n_seeds], NULL) == 0)
			n_seeds++;
	}
	closedir(d);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (argv[i][0] != '-')
			load_dir(argv[i]);
	for (size_t i = 0; i < n_seeds; i++)
		LLVMFuzzerTestOneInput(seed_data[i], seed_len[i]);
	if (n_seeds == 0)
		LLVMFuzzerTestOneInput((const uint8_t *)"", 0);

	uint8_t *buf = malloc(FUZZ_MAX_INPUT);
	if (!buf)
		return 1;
	for (unsigned m = 0; m < MUTATIONS && n_seeds; m++) {
		size_t s = rng() % n_seeds, len = seed_len[s];
		memcpy(buf, seed_data[s], len);
		switch (rng() % 4) {
		case 0: /* flip bits */
			for (int k = 0; k < 4 && len; k++)
				buf[rng() % len] ^= (uint8_t)(1u << (rng() % 8));
			break;
		case 1: /* truncate */
			len = len ? rng() % len : 0;
			break;
		case 2: /* overwrite a byte with an interesting value */
			if (len)
				buf[rng() % len] = (uint8_t[]){ 0, 0xff, 0x7f, 0x80, '"', '\\', '{' }[rng() % 7];
			break;
		case 3: { /* splice from another seed */
			size_t o = rng() % n_seeds;
			size_t at = len ? rng() % len : 0, take = seed_len[o] ? rng() % seed_len[o] : 0;
			if (at + take > FUZZ_MAX_INPUT)
				take = FUZZ_MAX_INPUT - at;
			memcpy(buf + at, seed_data[o], take);
			if (at + take > len)
				len = at + take;
			break;
		}
		}
		LLVMFuzzerTestOneInput(buf, len);
	}
	printf("fuzz_driver: %zu seeds, %u mutations, no crash\n", n_seeds, MUTATIONS);
	free(buf);
	for (size_t i = 0; i < n_seeds; i++)
		free(seed_data[i]);
	return 0;
}
