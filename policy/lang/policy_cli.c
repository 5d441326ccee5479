/* `parma policy check|digest|explain|diff`. */
#include "policy/lang/policy_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/errbuf.h"
#include "common/fileio.h"
#include "policy/lang/policy.h"

#define DEBUG_WARNING                                                                    \
	"WARNING: this is the DEBUG allow-all policy (insecure_allow_all): it allows every " \
	"request. Never deploy it."

/* Read and validate a policy file; prints the error and returns an exit code. */
static int load_file(const char *prog, const char *path, uint8_t **bytes, size_t *len,
		     struct policy **p)
{
	struct errbuf eb = { 0 };
	*bytes = NULL;
	*p = NULL;
	int ret = file_read_all(path, POLICY_MAX_BYTES, bytes, len, &eb);
	if (ret)
		return cli_error(prog, ret == -E2BIG ? CLI_BAD_INPUT : CLI_BAD_INPUT, "%s",
				 errbuf_msg(&eb));
	ret = policy_load(*bytes, *len, p, &eb);
	if (ret) {
		free(*bytes);
		*bytes = NULL;
		return cli_error(prog, ret == -ENOMEM ? CLI_INTERNAL : CLI_BAD_INPUT, "%s: %s", path,
				 errbuf_msg(&eb));
	}
	return CLI_OK;
}

int policy_cli_check(int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		printf("Usage: %s FILE\n\nValidate an execution policy. Errors name the JSON path.\n"
		       "Exit: 0 valid, 3 invalid.\n",
		       argv[0]);
		return CLI_OK;
	}
	if (argc != 2)
		return cli_usage_error(argv[0], "expected exactly one policy FILE");
	uint8_t *bytes;
	size_t len;
	struct policy *p;
	int code = load_file(argv[0], argv[1], &bytes, &len, &p);
	if (code)
		return code;
	if (policy_is_debug(p)) {
		fprintf(stderr, "%s: %s: %s\n", argv[0], argv[1], DEBUG_WARNING);
		printf("%s: valid DEBUG allow-all policy (insecure), digest %s\n", argv[1],
		       policy_get_digest(p)->hex);
	} else {
		printf("%s: valid policy, %zu container(s), digest %s\n", argv[1],
		       policy_container_count(p), policy_get_digest(p)->hex);
	}
	policy_free(p);
	free(bytes);
	return CLI_OK;
}

int policy_cli_digest(int argc, char **argv)
{
	if (cli_wants_help(argc, argv)) {
		printf("Usage: %s [--hex|--base64] FILE\n\n"
		       "Print the policy digest: SHA-256 over the file's exact bytes, which is the\n"
		       "SNP HOST_DATA of the group. The policy is validated first (exit 3 if invalid).\n",
		       argv[0]);
		return CLI_OK;
	}
	const char *path = NULL;
	bool only_hex = false, only_b64 = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--hex"))
			only_hex = true;
		else if (!strcmp(argv[i], "--base64"))
			only_b64 = true;
		else if (argv[i][0] == '-' && argv[i][1])
			return cli_usage_error(argv[0], "unknown option '%s'", argv[i]);
		else if (path)
			return cli_usage_error(argv[0], "expected exactly one policy FILE");
		else
			path = argv[i];
	}
	if (!path)
		return cli_usage_error(argv[0], "expected a policy FILE");
	if (only_hex && only_b64)
		return cli_usage_error(argv[0], "--hex and --base64 exclude each other");
	uint8_t *bytes;
	size_t len;
	struct policy *p;
	int code = load_file(argv[0], path, &bytes, &len, &p);
	if (code)
		return code;
	const struct policy_digest *d = policy_get_digest(p);
	if (policy_is_debug(p))
		fprintf(stderr, "%s: %s: %s\n", argv[0], path, DEBUG_WARNING);
	if (only_hex)
		printf("%s\n", d->hex);
	else if (only_b64)
		printf("%s\n", d->base64);
	else
		printf("sha256 %s\nbase64 %s\n%s", d->hex, d->base64,
		       policy_is_debug(p) ? "kind   DEBUG-ALLOW-ALL (insecure)\n" : "");
	policy_free(p);
	free(bytes);
	return CLI_OK;
}

int policy_cli_explain(int argc, char **argv)
{
	(void)argc;
	return cli_error(argv[0], CLI_UNAVAILABLE, "not available in this build yet");
}

int policy_cli_diff(int argc, char **argv)
{
	(void)argc;
	return cli_error(argv[0], CLI_UNAVAILABLE, "not available in this build yet");
}
