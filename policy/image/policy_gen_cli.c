/* `parma policy gen GROUP.json`: group spec -> execution policy. */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/encoding.h"
#include "common/fileio.h"
#include "policy/image/group_spec.h"
#include "policy/image/image_cli.h"
#include "policy/image/policy_gen.h"
#include "policy/lang/policy.h"

#define DEBUG_WARNING                                                                        \
	"WARNING: this policy carries DEBUG allowances (shell exec, stdio, properties, dump " \
	"stacks, runtime logging): the host can look inside and run commands in the group. "   \
	"Never deploy it for confidential workloads."

static void progress(void *ctx, size_t index, size_t count, uint64_t done, uint64_t total)
{
	(void)count;
	int *last = ctx;
	int pct = total ? (int)(done * 100 / total) : 0;
	if (*last == (int)(index * 1000 + (size_t)pct))
		return;
	*last = (int)(index * 1000 + (size_t)pct);
	fprintf(stderr, "\rconverting layer %zu: %3d%%", index + 1, pct);
	fflush(stderr);
}

static int plan_write(const char *path, const struct group_spec *g,
		      const struct policy_gen_plan *plan, struct errbuf *eb)
{
	struct json_object *o = json_object_new_object(), *cs = json_object_new_array();
	json_object_object_add(o, "group", json_object_new_string(g->name));
	json_object_object_add(o, "vcpus", json_object_new_int((int32_t)g->vcpus));
	json_object_object_add(o, "memory_mib", json_object_new_int((int32_t)g->memory_mib));
	for (size_t i = 0; i < plan->n_containers; i++) {
		const struct policy_gen_container *pc = &plan->containers[i];
		struct json_object *c = json_object_new_object(), *ls = json_object_new_array();
		json_object_object_add(c, "name", json_object_new_string(pc->name));
		for (size_t l = 0; l < pc->n_layers; l++) {
			const struct layer_image_info *in = &pc->layers[l].info;
			struct json_object *lo = json_object_new_object();
			char root[2 * LAYER_HASH_LEN + 1], salt[2 * LAYER_SALT_LEN + 1];
			hex_encode(in->root_hash, LAYER_HASH_LEN, root);
			hex_encode(in->salt, LAYER_SALT_LEN, salt);
			json_object_object_add(lo, "image", json_object_new_string(pc->layers[l].image_path));
			json_object_object_add(lo, "layer_digest", json_object_new_string(in->layer_digest));
			json_object_object_add(lo, "root_hash", json_object_new_string(root));
			json_object_object_add(lo, "salt", json_object_new_string(salt));
			json_object_object_add(lo, "data_blocks",
					       json_object_new_int64((int64_t)in->data_blocks));
			json_object_object_add(lo, "hash_offset",
					       json_object_new_int64((int64_t)in->hash_offset));
			json_object_object_add(lo, "hash_start_block",
					       json_object_new_int64((int64_t)in->hash_start_block));
			json_object_object_add(lo, "image_size",
					       json_object_new_int64((int64_t)in->image_size));
			json_object_array_add(ls, lo);
		}
		json_object_object_add(c, "layers", ls);
		json_object_array_add(cs, c);
	}
	json_object_object_add(o, "containers", cs);
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							      JSON_C_TO_STRING_NOSLASHESCAPE);
	int ret = s ? file_write_atomic(path, s, strlen(s), 0644, eb)
		    : errbuf_set(eb, ENOMEM, "out of memory");
	json_object_put(o);
	return ret;
}

struct svn_opt {
	uint64_t value;
	bool set;
};

static int parse_svn(const char *prog, char *value, void *dest)
{
	char *end;
	errno = 0;
	unsigned long long v = value[0] == '-' ? 0 : strtoull(value, &end, 10);
	if (value[0] == '-' || errno || !value[0] || *end)
		return cli_usage_error(prog, "--svn: expected an unsigned integer");
	*(struct svn_opt *)dest = (struct svn_opt){v, true};
	return 0;
}

int policy_gen_cli_main(int argc, char **argv)
{
	const char *out_path = NULL, *cache = NULL, *plan_path = NULL;
	struct policy_gen_opts o = { 0 };
	struct svn_opt svn = { 0 };
	const struct cli_opt opts[] = {
		CLI_FLAG("debug", 'd', &o.debug),
		CLI_STRING("output", 'o', &out_path),
		CLI_STRING("cache-dir", 'c', &cache),
		CLI_FUNC("threads", 't', image_cli_parse_threads, &o.threads),
		CLI_FLAG("no-cache", 'n', &o.no_cache),
		CLI_STRING("plan", 'p', &plan_path),
		CLI_STRING("fragment", 'f', &o.fragment_feed),
		CLI_FUNC("svn", 's', parse_svn, &svn),
	};
	const struct cli_spec spec = {
		.usage = "Usage: %s [--debug] [-o POLICY.json] [--plan PLAN.json] [--cache-dir DIR]\n"
			 "       [--no-cache] [--threads N] [--fragment FEED --svn N] GROUP.json\n\n"
			 "Validate a group spec (docs/group-spec.md), convert its images' layers into\n"
			 "the layer cache, and write the execution policy (docs/policy.md) to\n"
			 "POLICY.json or stdout. --debug adds the debug allowances (shell exec, stdio,\n"
			 "properties, dump stacks, logging) and prints a warning. --no-cache converts\n"
			 "every layer again instead of trusting the cache's root hashes. --plan writes,\n"
			 "per container, the layer image files (base first) with their dm-verity\n"
			 "parameters: what the host attaches to the guest. --fragment FEED --svn N\n"
			 "writes instead the payload of a signed fragment for FEED (a feed the spec\n"
			 "imports): the containers whose \"fragment\" is FEED, ready for\n"
			 "'parma policy fragment sign'; the policy then leaves them out.\n"
			 "Exit: 0 written, 3 invalid spec or image, 5 internal error.\n",
		.opts = opts, .n_opts = CLI_ARRAY_SIZE(opts),
		.min_operands = 1, .max_operands = 1,
		.operands_error = "expected exactly one GROUP.json",
	};
	int rc, first = cli_start(argv[0], &spec, argc, argv, &rc);
	if (first < 0)
		return rc;
	if (!o.fragment_feed != !svn.set)
		return cli_usage_error(argv[0], "--fragment and --svn go together");
	o.fragment_svn = svn.value;
	const char *spec_path = argv[first];

	struct errbuf eb = { 0 };
	struct group_spec *g = NULL;
	char dir[PATH_MAX];
	int ret = group_spec_load(spec_path, &g, &eb);
	if (ret)
		return cli_error(argv[0], ret == -ENOMEM ? CLI_INTERNAL : CLI_BAD_INPUT, "%s",
				 errbuf_msg(&eb));
	if (cache) {
		snprintf(dir, sizeof(dir), "%s", cache);
		ret = mkdir_p(dir, 0755);
		if (ret) {
			group_spec_free(g);
			return cli_error(argv[0], CLI_BAD_INPUT, "%s: %s", dir, strerror(-ret));
		}
	} else if ((ret = image_cache_dir(dir, sizeof(dir), &eb))) {
		group_spec_free(g);
		return cli_error(argv[0], CLI_BAD_INPUT, "%s", errbuf_msg(&eb));
	}
	o.cache_dir = dir;
	int last = -1;
	if (isatty(STDERR_FILENO)) {
		o.progress = progress;
		o.progress_ctx = &last;
	}
	char *policy = NULL;
	size_t len = 0;
	bool debug_used = false;
	struct policy_gen_plan plan = { 0 };
	ret = policy_gen_with_plan(g, &o, &policy, &len, &debug_used, &plan, &eb);
	if (last != -1)
		fprintf(stderr, "\r\033[K");
	if (ret) {
		int code = (ret == -ENOMEM || ret == -EIO || ret == -ENOSPC) ? CLI_INTERNAL
									   : CLI_BAD_INPUT;
		group_spec_free(g);
		policy_gen_plan_free(&plan);
		return cli_error(argv[0], code, "%s: %s", spec_path, errbuf_msg(&eb));
	}
	if (debug_used)
		fprintf(stderr, "%s: %s\n", argv[0], DEBUG_WARNING);
	int code = CLI_OK;
	if (out_path) {
		struct policy_digest d;
		if ((ret = file_write_atomic(out_path, policy, len, 0644, &eb))) {
			code = cli_error(argv[0], CLI_INTERNAL, "%s", errbuf_msg(&eb));
		} else if (policy_digest((const uint8_t *)policy, len, &d)) {
			code = cli_error(argv[0], CLI_INTERNAL, "SHA-256 failed");
		} else {
			size_t n = 0; /* the containers this document holds */
			for (size_t i = 0; i < g->n_containers; i++)
				n += o.fragment_feed ? g->containers[i].fragment &&
							       !strcmp(g->containers[i].fragment,
								       o.fragment_feed)
						     : !g->containers[i].fragment;
			printf("%s: %s for group %s, %zu container(s)%s, digest %s%s\n", out_path,
			       o.fragment_feed ? "fragment payload" : "policy", g->name, n,
			       debug_used ? ", DEBUG" : "", o.fragment_feed ? "" : "(HOST_DATA) ",
			       d.hex);
		}
	} else if (fwrite(policy, 1, len, stdout) != len) {
		code = cli_error(argv[0], CLI_INTERNAL, "writing the policy: %s", strerror(errno));
	}
	if (code == CLI_OK && plan_path && (ret = plan_write(plan_path, g, &plan, &eb)))
		code = cli_error(argv[0], CLI_INTERNAL, "%s", errbuf_msg(&eb));
	free(policy);
	policy_gen_plan_free(&plan);
	group_spec_free(g);
	return code;
}
