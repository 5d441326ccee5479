/* container_mounts: symbolic mount sources to the container's own places (container_mounts.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest/agent/container_mounts.h"

/* Ownership options of a scratch:// rule: for the directory the agent creates, not for the
 * bind mount (which has no such options). */
struct owner {
	uint32_t uid, gid, mode;
};

static int parse_num(const char *s, int base, uint64_t max, uint64_t *out)
{
	char *end;
	if (!*s || strspn(s, base == 8 ? "01234567" : "0123456789") != strlen(s))
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, base);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* 1 if opt is an ownership option (taken into o), 0 if not, <0 if malformed. */
static int owner_option(const char *opt, struct owner *o)
{
	static const struct {
		const char *key;
		int base;
		uint64_t max;
		size_t off;
	} keys[] = {
		{"uid=", 10, UINT32_MAX - 1, offsetof(struct owner, uid)},
		{"gid=", 10, UINT32_MAX - 1, offsetof(struct owner, gid)},
		{"mode=", 8, 07777, offsetof(struct owner, mode)},
	};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		size_t n = strlen(keys[i].key);
		if (strncmp(opt, keys[i].key, n))
			continue;
		uint64_t v;
		if (parse_num(opt + n, keys[i].base, keys[i].max, &v))
			return -EINVAL;
		*(uint32_t *)((char *)o + keys[i].off) = (uint32_t)v;
		return 1;
	}
	return 0;
}

int container_mounts_resolve(const struct agent_effects *fx, const char *id,
			     const struct policy_mount *mounts, size_t n, uint32_t uid,
			     uint32_t gid, struct container_mounts *out, struct errbuf *eb)
{
	size_t n_opts = 0;
	for (size_t i = 0; i < n; i++)
		n_opts += mounts[i].n_options;
	/* one block: the oci_mount array, option pointers, resolved paths */
	size_t path_size = POLICY_MAX_TARGET + 1;
	size_t size = n * sizeof(struct oci_mount) + (n_opts + 1) * sizeof(char *) + n * path_size;
	char *block = calloc(1, size);
	if (!block)
		return errbuf_set(eb, ENOMEM, "out of memory");
	struct oci_mount *v = (struct oci_mount *)block;
	const char **opts = (const char **)(block + n * sizeof(struct oci_mount));
	char *paths = (char *)(opts + n_opts + 1);
	*out = (struct container_mounts){v, n, block};

	for (size_t i = 0; i < n; i++) {
		const struct policy_mount *m = &mounts[i];
		const char *name = policy_source_scratch_name(m->source);
		char *path = paths + i * path_size;
		v[i] = (struct oci_mount){m->source, m->destination, m->type, opts, 0};
		if (!strcmp(m->source, POLICY_SOURCE_TMPFS))
			v[i].source = "tmpfs";
		struct owner o = {uid, gid, 0700};
		for (size_t j = 0; j < m->n_options; j++) {
			int r = name ? owner_option(m->options[j], &o) : 0;
			if (r < 0)
				return errbuf_set(eb, EINVAL, "mounts[%zu]: bad option %.40s", i,
						  m->options[j]);
			if (r == 0)
				opts[v[i].n_options++] = m->options[j];
		}
		opts += v[i].n_options;
		if (!name)
			continue;
		int ret = policy_path_scratch_mount(path, path_size, id, name);
		if (ret < 0)
			return errbuf_set(eb, -ret, "mounts[%zu]: no scratch path for %s", i,
					  m->source);
		if ((ret = fx->ops->make_dir(fx->ctx, path, o.uid, o.gid, o.mode, eb)) < 0)
			return ret;
		v[i].source = path;
	}
	return 0;
}

void container_mounts_free(struct container_mounts *cm)
{
	if (!cm)
		return;
	free(cm->storage);
	*cm = (struct container_mounts){0};
}
