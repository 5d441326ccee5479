/* examples/embed: a program that links libparma (built with only pkg-config):
 *
 *   cc embed.c $(pkg-config --cflags --libs parma) -o embed
 *   ./embed policy GROUP.json [CACHE_DIR]   # the group's policy digest (its HOST_DATA)
 *   ./embed group API_SOCK [CONTAINER CMD...] # the group's state; an exec in it
 *   ./embed verify REPORT CERTS_DIR POLICY   # check a report (development chains accepted)
 */
#include <parma.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_output(void *opaque, int stream, const uint8_t *data, size_t len)
{
	(void)opaque;
	fwrite(data, 1, len, stream == 1 ? stdout : stderr);
}

static int fail(const char *what, const struct parma_error *err)
{
	fprintf(stderr, "embed: %s: %s (code %d)\n", what, err->message, err->code);
	if (err->code == PARMA_ERR_DENIED)
		fprintf(stderr, "  rule %s, field %s\n  reproduce: %s\n", err->rule, err->field,
			err->reproduce);
	return 1;
}

int main(int argc, char **argv)
{
	struct parma_error err;
	if (argc >= 3 && !strcmp(argv[1], "policy")) {
		char *policy, hex[65];
		size_t len;
		if (parma_policy_gen(argv[2], argc > 3 ? argv[3] : NULL, &policy, &len, hex, &err))
			return fail("policy", &err);
		printf("%s\n", hex);
		parma_free(policy);
		return 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "group")) {
		struct parma_callbacks cbs = {.output = on_output};
		struct parma_group *g;
		char *state;
		if (parma_group_open(argv[2], &cbs, &g, &err))
			return fail("open", &err);
		if (parma_group_state(g, &state, &err)) {
			parma_group_close(g);
			return fail("state", &err);
		}
		printf("%s\n", state);
		parma_free(state);
		int code = 0;
		if (argc >= 5 && parma_group_exec(g, argv[3], (const char *const *)argv + 4, NULL,
						  0, &code, &err)) {
			parma_group_close(g);
			return fail("exec", &err);
		}
		parma_group_close(g);
		return code;
	}
	if (argc == 5 && !strcmp(argv[1], "verify")) {
		uint8_t report[PARMA_REPORT_SIZE];
		FILE *f = fopen(argv[2], "rb");
		size_t n = f ? fread(report, 1, sizeof(report), f) : 0;
		if (f)
			fclose(f);
		if (parma_verify(report, n, argv[3], argv[4], NULL, 0, 1, &err))
			return fail("verify", &err);
		printf("verified\n");
		return 0;
	}
	fprintf(stderr,
		"usage: embed policy GROUP.json [CACHE] | group API_SOCK [C CMD...] | "
		"verify REPORT CERTS POLICY (libparma %s)\n",
		parma_version());
	return 2;
}
