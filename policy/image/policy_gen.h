/* policy_gen: a group spec + its images -> an execution policy (docs/policy.md language),
 * as docs/group-spec.md describes ("From spec to policy"). */
#ifndef PARMA_IMAGE_POLICY_GEN_H
#define PARMA_IMAGE_POLICY_GEN_H

#include <stdbool.h>
#include <stddef.h>

#include "common/errbuf.h"
#include "policy/image/group_spec.h"
#include "policy/image/image_convert.h"

struct policy_gen_opts {
	bool debug;                /* all debug allowances, whatever the spec says */
	const char *cache_dir;     /* layer cache (converted layers land here) */
	unsigned threads;
	bool no_cache;             /* re-convert layers even if cached */
	image_progress_fn progress; /* may be NULL; `index` counts layers over all containers */
	void *progress_ctx;
	/* Non-NULL: generate the signed fragment's payload for this feed instead of the policy:
	 * the spec's containers whose "fragment" is this feed, declaring the issuer the spec
	 * imports the feed from and fragment_svn (docs/group-spec.md, "Fragments"). */
	const char *fragment_feed;
	uint64_t fragment_svn;
};

/* User and group as the container will run: from the spec's "user", else the image's
 * User, else root; names resolved through the image's /etc/passwd and /etc/group. */
struct policy_gen_user {
	uint32_t uid, gid;
};

/* What the host needs to run the group: per container (spec order), its layer images base
 * first (the file to attach as a read-only disk, and the verity parameters). */
struct policy_gen_layer {
	char *image_path;              /* <cache>/<hex>.img */
	struct layer_image_info info;  /* root hash, salt, sizes, offsets */
};

struct policy_gen_container {
	char *name;
	struct policy_gen_layer *layers;
	size_t n_layers;
};

struct policy_gen_plan {
	struct policy_gen_container *containers;
	size_t n_containers;
};

void policy_gen_plan_free(struct policy_gen_plan *plan); /* frees the contents; NULL ok */

/* Generate the policy. *policy receives a malloc'd JSON document (NUL-terminated, *len bytes
 * without the NUL) that policy_load() accepts; *debug_used tells whether any debug allowance
 * is in it. Errors name the spec path ("containers[0].image: ...") or the layer at fault. */
int policy_gen(const struct group_spec *spec, const struct policy_gen_opts *opts,
	       char **policy, size_t *len, bool *debug_used, struct errbuf *eb);

/* The same, also filling *plan (zeroed first; free with policy_gen_plan_free even on error). */
int policy_gen_with_plan(const struct group_spec *spec, const struct policy_gen_opts *opts,
			 char **policy, size_t *len, bool *debug_used,
			 struct policy_gen_plan *plan, struct errbuf *eb);

#endif
