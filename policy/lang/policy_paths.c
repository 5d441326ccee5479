/* policy_paths: the guest's path map (policy.h, "The path map"). The host names things; only
 * these functions turn a name into a guest path, so the engine decides on exactly the
 * directories the agent then mounts, and no two kinds of thing ever share a directory:
 * a container named "layers" still gets containers/layers/rootfs, and scratch mounts and
 * writable layers live in separate trees of the scratch disk. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "policy/lang/policy.h"
#include "policy/lang/policy_engine_internal.h"

#define LAYERS_DIR     POLICY_MOUNT_ROOT "layers/"
#define CONTAINERS_DIR POLICY_MOUNT_ROOT "containers/"
#define ROOTFS_LEAF    "/rootfs"

static int put(int n, size_t size)
{
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static bool mount_name_ok(const char *name)
{
	size_t n = strnlen(name, POLICY_MAX_MOUNT_NAME + 1);
	if (n == 0 || n > POLICY_MAX_MOUNT_NAME || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
	       n;
}

int policy_path_layer(char *buf, size_t size, uint32_t slot)
{
	if (slot >= POLICY_MAX_STATE_DEVICES)
		return -EINVAL;
	return put(snprintf(buf, size, LAYERS_DIR "%u", slot), size);
}

int policy_path_rootfs(char *buf, size_t size, const char *id)
{
	if (!engine_id_ok(id))
		return -EINVAL;
	return put(snprintf(buf, size, CONTAINERS_DIR "%s" ROOTFS_LEAF, id), size);
}

int policy_path_upper(char *buf, size_t size, const char *id)
{
	if (!engine_id_ok(id))
		return -EINVAL;
	return put(snprintf(buf, size, POLICY_PATH_SCRATCH "/containers/%s/upper", id), size);
}

int policy_path_work(char *buf, size_t size, const char *id)
{
	if (!engine_id_ok(id))
		return -EINVAL;
	return put(snprintf(buf, size, POLICY_PATH_SCRATCH "/containers/%s/work", id), size);
}

int policy_path_scratch_mount(char *buf, size_t size, const char *id, const char *name)
{
	if (!engine_id_ok(id) || !name || !mount_name_ok(name))
		return -EINVAL;
	return put(snprintf(buf, size, POLICY_PATH_SCRATCH "/mounts/%s/%s", id, name), size);
}

int policy_path_scratch_layer_dir(char *buf, size_t size, const char *id)
{
	if (!engine_id_ok(id))
		return -EINVAL;
	return put(snprintf(buf, size, POLICY_PATH_SCRATCH "/containers/%s", id), size);
}

int policy_path_scratch_mounts_dir(char *buf, size_t size, const char *id)
{
	if (!engine_id_ok(id))
		return -EINVAL;
	return put(snprintf(buf, size, POLICY_PATH_SCRATCH "/mounts/%s", id), size);
}

long policy_path_layer_slot(const char *path)
{
	size_t n = strlen(LAYERS_DIR);
	if (!path || strncmp(path, LAYERS_DIR, n))
		return -1;
	const char *d = path + n;
	size_t len = strspn(d, "0123456789");
	if (len == 0 || len > 5 || d[len] || (len > 1 && d[0] == '0'))
		return -1;
	long slot = 0;
	for (size_t i = 0; i < len; i++)
		slot = slot * 10 + (d[i] - '0');
	return slot < POLICY_MAX_STATE_DEVICES ? slot : -1;
}

int policy_path_rootfs_id(const char *path, char *id, size_t size)
{
	size_t n = strlen(CONTAINERS_DIR), leaf = strlen(ROOTFS_LEAF);
	if (!path || strncmp(path, CONTAINERS_DIR, n))
		return -EINVAL;
	size_t len = strlen(path + n);
	if (len <= leaf || strcmp(path + n + len - leaf, ROOTFS_LEAF) || len - leaf >= size)
		return -EINVAL;
	memcpy(id, path + n, len - leaf);
	id[len - leaf] = '\0';
	return engine_id_ok(id) ? 0 : -EINVAL;
}

const char *policy_source_scratch_name(const char *source)
{
	size_t n = strlen(POLICY_SOURCE_SCRATCH);
	if (!source || strncmp(source, POLICY_SOURCE_SCRATCH, n))
		return NULL;
	return mount_name_ok(source + n) ? source + n : NULL;
}

bool policy_path_overlap(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	/* "/" contains every path */
	if ((la == 1 && a[0] == '/') || (lb == 1 && b[0] == '/'))
		return true;
	size_t n = la < lb ? la : lb;
	if (strncmp(a, b, n))
		return false;
	return la == lb || (la < lb ? b[la] == '/' : a[lb] == '/');
}

/* ---- The engine's checks against the map ---- */

int engine_check_not_agent_state(struct policy_decision *d, const char *field, const char *path)
{
	if (!policy_path_overlap(path, POLICY_AGENT_STATE))
		return 0;
	return engine_deny(d, POLICY_RULE_AGENT_STATE, field, "a path clear of " POLICY_AGENT_STATE,
			   path, "%.80s overlaps the agent's own state (bundles, security context)",
			   path);
}

int engine_check_kind(struct policy_decision *d, const char *field, const char *target,
		      enum engine_path_kind kind, const char *id)
{
	char want[POLICY_MAX_TARGET + 1];
	const char *expected = want;
	bool ok;
	switch (kind) {
	case ENGINE_PATH_LAYER:
		ok = policy_path_layer_slot(target) >= 0;
		expected = POLICY_MOUNT_ROOT "layers/N";
		break;
	case ENGINE_PATH_SCRATCH:
		ok = !strcmp(target, POLICY_PATH_SCRATCH);
		expected = POLICY_PATH_SCRATCH;
		break;
	default: /* ENGINE_PATH_ROOTFS */
		ok = policy_path_rootfs(want, sizeof(want), id) == 0 && !strcmp(target, want);
		if (!ok && policy_path_rootfs(want, sizeof(want), id))
			expected = POLICY_MOUNT_ROOT "containers/ID/rootfs";
		break;
	}
	if (ok)
		return 0;
	return engine_deny(d, POLICY_RULE_TARGET_PATH, field, expected, target,
			   "the guest owns every path: this request's target must be %s", expected);
}

/* A bind source of create_container. Symbolic sources name the container's own directory
 * (scratch://NAME, on the scratch disk) or a fresh tmpfs (tmpfs://): nothing the host mounted
 * can be there. A path source (the compatibility form) must stay clear of every directory
 * the guest hands out, and of every live mount. */
int engine_check_source(const struct policy_engine *e, struct policy_decision *d, const char *field,
			const struct policy_mount *m)
{
	const char *src = m->source;
	if (!strncmp(src, POLICY_SOURCE_SCRATCH, strlen(POLICY_SOURCE_SCRATCH))) {
		if (!policy_source_scratch_name(src))
			return engine_deny(d, POLICY_RULE_MOUNT_SOURCE, field,
					   "scratch://NAME, NAME 1-64 of [A-Za-z0-9._-]", src,
					   "not a scratch mount name");
		for (size_t i = 0; i < e->dev_hw; i++)
			if (e->devs[i].used && e->devs[i].scratch)
				return 0;
		return engine_deny(d, POLICY_RULE_NO_DEVICE, field, "a mounted scratch disk", src,
				   "scratch mounts live on the scratch disk, which is not mounted");
	}
	if (!strncmp(src, POLICY_SOURCE_TMPFS, strlen(POLICY_SOURCE_TMPFS))) {
		if (src[strlen(POLICY_SOURCE_TMPFS)] || strcmp(m->type, "tmpfs"))
			return engine_deny(d, POLICY_RULE_MOUNT_SOURCE, field,
					   "tmpfs:// with type tmpfs", src,
					   "a tmpfs source carries no path and needs type tmpfs");
		return 0;
	}
	if (strstr(src, "://"))
		return engine_deny(d, POLICY_RULE_MOUNT_SOURCE, field, "scratch://NAME or tmpfs://",
				   src, "unknown symbolic mount source");
	if (src[0] != '/')
		return 0; /* "proc", "tmpfs", ...: a file system type's name, not a place */
	int ret = engine_check_not_agent_state(d, field, src);
	if (ret)
		return ret;
	for (size_t i = 0; i < e->dev_hw; i++)
		if (e->devs[i].used && policy_path_overlap(e->devs[i].target, src))
			return engine_deny(d, POLICY_RULE_SOURCE_IN_USE, field,
					   "a path clear of mounts", src,
					   "bind source overlaps the %s mounted at %s",
					   e->devs[i].scratch ? "scratch disk" : "layer device",
					   e->devs[i].target);
	for (size_t i = 0; i < e->ctr_hw; i++)
		if (e->ctrs[i].used && policy_path_overlap(e->ctrs[i].target, src))
			return engine_deny(
				d, POLICY_RULE_SOURCE_IN_USE, field, "a path clear of mounts", src,
				"bind source overlaps the overlay of container %s", e->ctrs[i].id);
	if (policy_path_overlap(src, "/run/parma"))
		return engine_deny(d, POLICY_RULE_MOUNT_SOURCE, field,
				   "scratch://NAME, tmpfs://, or a path outside " POLICY_MOUNT_ROOT,
				   src,
				   "the guest owns " POLICY_MOUNT_ROOT
				   ": name a scratch mount (scratch://NAME) instead of its path");
	return 0;
}
