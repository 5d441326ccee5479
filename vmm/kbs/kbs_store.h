/* kbs_store: the key broker's resources in a directory, each secret beside its
 * release policy:
 *   STORE/resources/<repo>/<type>/<tag>        the secret bytes (0600)
 *   STORE/policies/<repo>/<type>/<tag>.json    its release policy (0600)
 * Directories are 0700. A resource without a valid policy is never released. */
#ifndef PARMA_KBS_KBS_STORE_H
#define PARMA_KBS_KBS_STORE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/errbuf.h"
#include "vmm/kbs/kbs_policy.h"

#define KBS_ID_PART_MAX 128
#define KBS_SECRET_MAX	(1024 * 1024)

/* <repository>/<type>/<tag>, each part 1-128 of [A-Za-z0-9._-], not starting with '.'. */
struct kbs_resource_id {
	char repo[KBS_ID_PART_MAX + 1];
	char type[KBS_ID_PART_MAX + 1];
	char tag[KBS_ID_PART_MAX + 1];
};

/* Parse "repo/type/tag"; errors name the part at fault. */
int kbs_resource_id_parse(const char *s, struct kbs_resource_id *id, struct errbuf *eb);
/* Three path parts (as the URL carries them). */
int kbs_resource_id_set(struct kbs_resource_id *id, const char *repo, const char *type,
			const char *tag, struct errbuf *eb);

#define KBS_STORE_DIR_MAX 1024 /* so every path under it fits in PATH_MAX */

struct kbs_store {
	char dir[KBS_STORE_DIR_MAX];
};

/* Open (and with `create`, make) the store directory. */
int kbs_store_open(struct kbs_store *s, const char *dir, bool create, struct errbuf *eb);

/* Store a non-empty secret with its release policy (checked first; the message names the
 * JSON path). Replaces an existing resource atomically, file by file. */
int kbs_store_put(const struct kbs_store *s, const struct kbs_resource_id *id,
		  const uint8_t *secret, size_t len, const char *policy_text, size_t policy_len,
		  struct errbuf *eb);

/* Read a resource's release policy. -ENOENT if there is no such resource. */
int kbs_store_policy(const struct kbs_store *s, const struct kbs_resource_id *id,
		     struct kbs_policy *p, struct errbuf *eb);
/* Read the secret (caller wipes and frees *data). -ENOENT if none. */
int kbs_store_secret(const struct kbs_store *s, const struct kbs_resource_id *id, uint8_t **data,
		     size_t *len, struct errbuf *eb);

/* Call fn for each resource id that has a secret, in directory order. */
int kbs_store_list(const struct kbs_store *s,
		   void (*fn)(void *ctx, const struct kbs_resource_id *id), void *ctx,
		   struct errbuf *eb);

/* Remove a resource (secret and policy). -ENOENT if none. */
int kbs_store_rm(const struct kbs_store *s, const struct kbs_resource_id *id, struct errbuf *eb);

#endif
