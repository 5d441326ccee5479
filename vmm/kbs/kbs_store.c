/* kbs_store: directory store of secrets and their release policies. */
#include "vmm/kbs/kbs_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"

static int part_check(const char *what, const char *s, struct errbuf *eb)
{
	size_t n = strlen(s);
	if (n == 0 || n > KBS_ID_PART_MAX)
		return errbuf_set(eb, EINVAL, "resource %s: must be 1-%d characters", what,
				  KBS_ID_PART_MAX);
	if (s[0] == '.')
		return errbuf_set(eb, EINVAL, "resource %s: must not start with '.'", what);
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
			    s[i]))
			return errbuf_set(
				eb, EINVAL,
				"resource %s: character %zu is not one of A-Z a-z 0-9 . _ -", what,
				i + 1);
	return 0;
}

int kbs_resource_id_set(struct kbs_resource_id *id, const char *repo, const char *type,
			const char *tag, struct errbuf *eb)
{
	int r = part_check("repository", repo, eb);
	if (!r)
		r = part_check("type", type, eb);
	if (!r)
		r = part_check("tag", tag, eb);
	if (r)
		return r;
	snprintf(id->repo, sizeof(id->repo), "%s", repo);
	snprintf(id->type, sizeof(id->type), "%s", type);
	snprintf(id->tag, sizeof(id->tag), "%s", tag);
	return 0;
}

int kbs_resource_id_parse(const char *s, struct kbs_resource_id *id, struct errbuf *eb)
{
	char buf[3 * (KBS_ID_PART_MAX + 1)];
	if (strlen(s) >= sizeof(buf))
		return errbuf_set(eb, EINVAL, "resource id: too long");
	snprintf(buf, sizeof(buf), "%s", s);
	char *a = buf, *b = strchr(a, '/'), *c = b ? strchr(b + 1, '/') : NULL;
	if (!b || !c || strchr(c + 1, '/'))
		return errbuf_set(eb, EINVAL,
				  "resource id '%s': expected <repository>/<type>/<tag>", s);
	*b++ = 0;
	*c++ = 0;
	return kbs_resource_id_set(id, a, b, c, eb);
}

int kbs_store_open(struct kbs_store *s, const char *dir, bool create, struct errbuf *eb)
{
	struct stat st;
	if (strlen(dir) >= sizeof(s->dir))
		return errbuf_set(eb, ENAMETOOLONG, "store path longer than %d bytes",
				  KBS_STORE_DIR_MAX - 1);
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	if (create && mkdir_p(dir, 0700) < 0)
		return errbuf_set(eb, errno, "%s: cannot create: %s", dir, strerror(errno));
	if (stat(dir, &st) < 0)
		return errbuf_set(eb, errno, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return errbuf_set(eb, ENOTDIR, "%s: not a directory", dir);
	if (st.st_mode & 077)
		return errbuf_set(
			eb, EPERM,
			"%s: store directory is accessible to group or others (mode %03o); "
			"chmod 700 it",
			dir, (unsigned)(st.st_mode & 0777));
	return 0;
}

static void path_of(const struct kbs_store *s, const struct kbs_resource_id *id, bool policy,
		    char *out, size_t n)
{
	snprintf(out, n, "%s/%s/%s/%s/%s%s", s->dir, policy ? "policies" : "resources", id->repo,
		 id->type, id->tag, policy ? ".json" : "");
}

static int make_parent(const char *path, struct errbuf *eb)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = 0;
	if (mkdir_p(dir, 0700) < 0)
		return errbuf_set(eb, errno, "%s: cannot create: %s", dir, strerror(errno));
	return 0;
}

int kbs_store_put(const struct kbs_store *s, const struct kbs_resource_id *id,
		  const uint8_t *secret, size_t len, const char *policy_text, size_t policy_len,
		  struct errbuf *eb)
{
	struct kbs_policy *p = malloc(sizeof(*p));
	char sp[PATH_MAX], pp[PATH_MAX];
	if (!p)
		return errbuf_set(eb, ENOMEM, "out of memory");
	int r = kbs_policy_parse(policy_text, policy_len, p, eb);
	free(p);
	if (r)
		return r;
	if (len == 0) /* meaningless as a key, and some JWE readers reject an empty ciphertext */
		return errbuf_set(eb, EINVAL, "secret is empty");
	if (len > KBS_SECRET_MAX)
		return errbuf_set(eb, E2BIG, "secret larger than %d bytes", KBS_SECRET_MAX);
	path_of(s, id, false, sp, sizeof(sp));
	path_of(s, id, true, pp, sizeof(pp));
	r = make_parent(sp, eb);
	if (!r)
		r = make_parent(pp, eb);
	/* policy first: a secret is never on disk without the policy that guards it */
	if (!r)
		r = file_write_atomic(pp, policy_text, policy_len, 0600, eb);
	if (!r)
		r = file_write_atomic(sp, secret, len, 0600, eb);
	return r;
}

int kbs_store_policy(const struct kbs_store *s, const struct kbs_resource_id *id,
		     struct kbs_policy *p, struct errbuf *eb)
{
	char pp[PATH_MAX];
	path_of(s, id, true, pp, sizeof(pp));
	if (access(pp, F_OK) < 0)
		return errbuf_set(eb, ENOENT, "no release policy for %s/%s/%s", id->repo, id->type,
				  id->tag);
	return kbs_policy_load(pp, p, eb);
}

int kbs_store_secret(const struct kbs_store *s, const struct kbs_resource_id *id, uint8_t **data,
		     size_t *len, struct errbuf *eb)
{
	char sp[PATH_MAX];
	path_of(s, id, false, sp, sizeof(sp));
	if (access(sp, F_OK) < 0)
		return errbuf_set(eb, ENOENT, "no resource %s/%s/%s", id->repo, id->type, id->tag);
	return file_read_all(sp, KBS_SECRET_MAX, data, len, eb);
}

/* Visit the valid names in a directory (skips '.'-prefixed and invalid ones). */
static int each_entry(const char *dir, int (*fn)(void *ctx, const char *name), void *ctx)
{
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	struct dirent *e;
	int r = 0;
	while (!r && (e = readdir(d)))
		if (part_check("", e->d_name, NULL) == 0)
			r = fn(ctx, e->d_name);
	closedir(d);
	return r;
}

struct list_ctx {
	const struct kbs_store *s;
	struct kbs_resource_id id;
	void (*fn)(void *ctx, const struct kbs_resource_id *id);
	void *ctx;
	int depth;
};

static int list_visit(void *vctx, const char *name)
{
	struct list_ctx *c = vctx;
	char dir[PATH_MAX];
	char *slot = c->depth == 0 ? c->id.repo : c->depth == 1 ? c->id.type : c->id.tag;
	snprintf(slot, KBS_ID_PART_MAX + 1, "%s", name);
	if (c->depth == 2) {
		c->fn(c->ctx, &c->id);
		return 0;
	}
	if (c->depth == 0)
		snprintf(dir, sizeof(dir), "%s/resources/%s", c->s->dir, c->id.repo);
	else
		snprintf(dir, sizeof(dir), "%s/resources/%s/%s", c->s->dir, c->id.repo, c->id.type);
	c->depth++;
	int r = each_entry(dir, list_visit, c);
	c->depth--;
	return r == -ENOTDIR ? 0 : r;
}

int kbs_store_list(const struct kbs_store *s,
		   void (*fn)(void *ctx, const struct kbs_resource_id *id), void *ctx,
		   struct errbuf *eb)
{
	struct list_ctx c = {.s = s, .fn = fn, .ctx = ctx};
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/resources", s->dir);
	int r = each_entry(dir, list_visit, &c);
	if (r < 0)
		return errbuf_set(eb, -r, "%s: %s", dir, strerror(-r));
	return 0;
}

int kbs_store_rm(const struct kbs_store *s, const struct kbs_resource_id *id, struct errbuf *eb)
{
	char sp[PATH_MAX], pp[PATH_MAX];
	path_of(s, id, false, sp, sizeof(sp));
	path_of(s, id, true, pp, sizeof(pp));
	/* secret first: a policy without its secret releases nothing */
	if (unlink(sp) < 0) {
		int e = errno;
		if (e == ENOENT)
			return errbuf_set(eb, e, "no resource %s/%s/%s", id->repo, id->type,
					  id->tag);
		return errbuf_set(eb, e, "%s: %s", sp, strerror(e));
	}
	if (unlink(pp) < 0 && errno != ENOENT)
		return errbuf_set(eb, errno, "%s: %s", pp, strerror(errno));
	return 0;
}
