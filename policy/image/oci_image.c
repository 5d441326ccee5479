/* OCI image layouts and docker-save archives -> struct oci_image (checked digests). */
#include "policy/image/oci_image.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/digest.h"
#include "common/encoding.h"
#include "common/fileio.h"

#define JSON_DOC_MAX   (4u << 20)
#define MEDIA_INDEX    "application/vnd.oci.image.index.v1+json"
#define MEDIA_DLIST    "application/vnd.docker.distribution.manifest.list.v2+json"
#define MEDIA_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"
#define REF_NAME       "org.opencontainers.image.ref.name"

static const char *const layer_media_types[] = {
	"application/vnd.oci.image.layer.v1.tar",
	"application/vnd.oci.image.layer.v1.tar+gzip",
	"application/vnd.oci.image.layer.v1.tar+zstd",
	"application/vnd.oci.image.layer.nondistributable.v1.tar",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
	"application/vnd.docker.image.rootfs.diff.tar",
	"application/vnd.docker.image.rootfs.diff.tar.gzip",
	"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
};

/* ---- small JSON helpers ---------------------------------------------------------------- */

static struct json_object *jget(struct json_object *o, const char *key, enum json_type type)
{
	struct json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type))
		return NULL;
	return v;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v = jget(o, key, json_type_string);
	return v ? json_object_get_string(v) : NULL;
}

static struct json_object *json_parse(const uint8_t *text, size_t len, const char *what,
				      struct errbuf *eb)
{
	struct json_tokener *tok = json_tokener_new_ex(64);
	struct json_object *o = NULL;
	if (!tok) {
		errbuf_set(eb, ENOMEM, "out of memory");
		return NULL;
	}
	o = json_tokener_parse_ex(tok, (const char *)text, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object)) {
		errbuf_set(eb, EINVAL, "%s: not a JSON object", what);
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

static bool digest_valid(const char *d)
{
	if (!d || strncmp(d, "sha256:", 7) || strlen(d) != 71)
		return false;
	for (const char *p = d + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static int strv_from_json(struct json_object *arr, char ***out, size_t *n, const char *what,
			  struct errbuf *eb)
{
	*out = NULL;
	*n = 0;
	if (!arr || json_object_is_type(arr, json_type_null))
		return 0;
	if (!json_object_is_type(arr, json_type_array))
		return errbuf_set(eb, EINVAL, "%s: expected an array of strings", what);
	size_t len = json_object_array_length(arr);
	*out = calloc(len + 1, sizeof(char *));
	if (!*out)
		return errbuf_set(eb, ENOMEM, "out of memory");
	for (size_t i = 0; i < len; i++) {
		struct json_object *s = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(s, json_type_string))
			return errbuf_set(eb, EINVAL, "%s[%zu]: expected a string", what, i);
		if (!((*out)[i] = strdup(json_object_get_string(s))))
			return errbuf_set(eb, ENOMEM, "out of memory");
		(*n)++;
	}
	return 0;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* ---- blobs ------------------------------------------------------------------------------ */

static int sha256_check(const uint8_t *data, size_t len, const char *digest, const char *what,
			struct errbuf *eb)
{
	uint8_t md[SHA256_LEN];
	char hex[2 * SHA256_LEN + 1];
	if (digest_sha256(data, len, md))
		return errbuf_set(eb, EIO, "SHA-256 failed");
	hex_encode(md, SHA256_LEN, hex);
	if (strcmp(hex, digest + 7))
		return errbuf_set(eb, EBADMSG, "%s: digest mismatch: content is sha256:%s, "
				  "expected %s", what, hex, digest);
	return 0;
}

static int blob_path(const char *layout, const char *digest, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/blobs/sha256/%s", layout, digest + 7);
	return (n < 0 || (size_t)n >= size) ? -ENAMETOOLONG : 0;
}

/* Read a small blob (manifest, config) and check its digest and size. */
static int blob_read_checked(const char *layout, const char *digest, int64_t size,
			     const char *what, uint8_t **data, size_t *len, struct errbuf *eb)
{
	char path[PATH_MAX];
	if (!digest_valid(digest))
		return errbuf_set(eb, EINVAL, "%s.digest: expected sha256:<64 lowercase hex>",
				  what);
	if (blob_path(layout, digest, path, sizeof(path)))
		return errbuf_set(eb, ENAMETOOLONG, "%s: path too long", layout);
	int ret = file_read_all(path, JSON_DOC_MAX, data, len, eb);
	if (ret)
		return ret;
	if (size >= 0 && (uint64_t)size != *len)
		ret = errbuf_set(eb, EBADMSG, "%s: size mismatch: blob has %zu bytes, "
				 "descriptor says %lld", what, *len, (long long)size);
	if (!ret)
		ret = sha256_check(*data, *len, digest, what, eb);
	if (ret) {
		free(*data);
		*data = NULL;
	}
	return ret;
}

/* ---- config (shared by both inputs) ------------------------------------------------------ */

static int config_parse(struct oci_image *img, const uint8_t *text, size_t len, const char *what,
			struct errbuf *eb)
{
	struct json_object *o = json_parse(text, len, what, eb), *c, *rootfs, *ids;
	char path[256];
	int ret = 0;
	if (!o)
		return -EINVAL;
	const char *arch = jstr(o, "architecture"), *os = jstr(o, "os");
	img->architecture = strdup(arch ? arch : "");
	img->os = strdup(os ? os : "");
	if (!img->architecture || !img->os) {
		ret = errbuf_set(eb, ENOMEM, "out of memory");
		goto out;
	}
	c = jget(o, "config", json_type_object);
	if (c) {
		struct oci_process *p = &img->process;
		struct json_object *v;
		snprintf(path, sizeof(path), "%s: config.Entrypoint", what);
		if ((ret = strv_from_json(json_object_object_get_ex(c, "Entrypoint", &v) ? v : NULL,
					  &p->entrypoint, &p->n_entrypoint, path, eb)))
			goto out;
		snprintf(path, sizeof(path), "%s: config.Cmd", what);
		if ((ret = strv_from_json(json_object_object_get_ex(c, "Cmd", &v) ? v : NULL,
					  &p->cmd, &p->n_cmd, path, eb)))
			goto out;
		snprintf(path, sizeof(path), "%s: config.Env", what);
		if ((ret = strv_from_json(json_object_object_get_ex(c, "Env", &v) ? v : NULL,
					  &p->env, &p->n_env, path, eb)))
			goto out;
		for (size_t i = 0; i < p->n_env; i++) {
			if (!strchr(p->env[i], '=') || p->env[i][0] == '=') {
				ret = errbuf_set(eb, EINVAL, "%s: config.Env[%zu]: expected "
						 "NAME=value", what, i);
				goto out;
			}
		}
		const char *wd = jstr(c, "WorkingDir"), *user = jstr(c, "User");
		if ((wd && *wd && !(p->working_dir = strdup(wd))) ||
		    (user && *user && !(p->user = strdup(user)))) {
			ret = errbuf_set(eb, ENOMEM, "out of memory");
			goto out;
		}
	}
	rootfs = jget(o, "rootfs", json_type_object);
	ids = jget(rootfs, "diff_ids", json_type_array);
	if (!ids) {
		ret = errbuf_set(eb, EINVAL, "%s: rootfs.diff_ids: missing", what);
		goto out;
	}
	if (json_object_array_length(ids) != img->n_layers) {
		ret = errbuf_set(eb, EINVAL, "%s: rootfs.diff_ids: %zu entries for %zu layers", what,
				 json_object_array_length(ids), img->n_layers);
		goto out;
	}
	for (size_t i = 0; i < img->n_layers; i++) {
		struct json_object *d = json_object_array_get_idx(ids, i);
		const char *s = json_object_is_type(d, json_type_string) ? json_object_get_string(d)
									  : NULL;
		if (!digest_valid(s)) {
			ret = errbuf_set(eb, EINVAL, "%s: rootfs.diff_ids[%zu]: expected "
					 "sha256:<64 lowercase hex>", what, i);
			goto out;
		}
		snprintf(img->layers[i].diff_id, sizeof(img->layers[i].diff_id), "%s", s);
	}
out:
	json_object_put(o);
	return ret;
}

/* ---- OCI image layout --------------------------------------------------------------------- */

/* From an index, pick the manifest: by ref name when tagged, else the only one; for a nested
 * index, the linux/amd64 entry. */
static int index_select(struct json_object *index, const char *tag, bool nested,
			const char *what, struct json_object **sel, struct errbuf *eb)
{
	struct json_object *ms = jget(index, "manifests", json_type_array);
	if (!ms || !json_object_array_length(ms))
		return errbuf_set(eb, EINVAL, "%s: manifests: missing or empty", what);
	size_t n = json_object_array_length(ms), found = 0;
	*sel = NULL;
	for (size_t i = 0; i < n; i++) {
		struct json_object *m = json_object_array_get_idx(ms, i);
		if (!json_object_is_type(m, json_type_object))
			return errbuf_set(eb, EINVAL, "%s: manifests[%zu]: expected an object",
					  what, i);
		bool match;
		if (nested) {
			struct json_object *pf = jget(m, "platform", json_type_object);
			const char *arch = jstr(pf, "architecture"), *os = jstr(pf, "os");
			match = arch && os && !strcmp(arch, "amd64") && !strcmp(os, "linux");
		} else if (tag) {
			const char *name = jstr(jget(m, "annotations", json_type_object), REF_NAME);
			match = name && !strcmp(name, tag);
		} else {
			match = true;
		}
		if (match && !found++)
			*sel = m;
	}
	if (!found && nested)
		return errbuf_set(eb, ENOENT, "%s: no linux/amd64 manifest", what);
	if (!found)
		return errbuf_set(eb, ENOENT, "%s: no manifest tagged \"%s\"", what, tag);
	if (found > 1 && !nested && !tag)
		return errbuf_set(eb, EINVAL, "%s: %zu manifests; name one as PATH:TAG", what,
				  found);
	return 0;
}

static int layout_open(struct oci_image *img, struct errbuf *eb)
{
	char path[PATH_MAX];
	uint8_t *text = NULL;
	size_t len;
	struct json_object *index = NULL, *manifest = NULL, *sel;
	int ret;

	snprintf(path, sizeof(path), "%s/oci-layout", img->path);
	if (access(path, R_OK))
		return errbuf_set(eb, ENOENT, "%s: not an OCI image layout (no oci-layout file)",
				  img->path);
	snprintf(path, sizeof(path), "%s/index.json", img->path);
	if ((ret = file_read_all(path, JSON_DOC_MAX, &text, &len, eb)))
		return ret;
	index = json_parse(text, len, "index.json", eb);
	free(text);
	text = NULL;
	if (!index)
		return -EINVAL;
	ret = index_select(index, img->tag, false, "index.json", &sel, eb);
	char what[64] = "index.json";
	struct json_object *parent = NULL; /* owns `sel` while its child is read */
	for (int depth = 0; !ret; depth++) {
		const char *mt = jstr(sel, "mediaType"), *digest = jstr(sel, "digest");
		struct json_object *sz = jget(sel, "size", json_type_int);
		ret = blob_read_checked(img->path, digest, sz ? json_object_get_int64(sz) : -1,
					"manifest", &text, &len, eb);
		if (ret)
			break;
		json_object_put(parent);
		parent = manifest;
		manifest = json_parse(text, len, "manifest", eb);
		free(text);
		text = NULL;
		if (!manifest) {
			ret = -EINVAL;
			break;
		}
		if (!mt)
			mt = jstr(manifest, "mediaType");
		if (!(mt && (!strcmp(mt, MEDIA_INDEX) || !strcmp(mt, MEDIA_DLIST)))) {
			snprintf(img->manifest_digest, sizeof(img->manifest_digest), "%s", digest);
			break;
		}
		if (depth) {
			ret = errbuf_set(eb, EINVAL, "%s: nested image indexes", what);
			break;
		}
		snprintf(what, sizeof(what), "index %.19s..", digest);
		ret = index_select(manifest, NULL, true, what, &sel, eb);
	}
	json_object_put(parent);
	if (ret)
		goto out;

	struct json_object *cfg = jget(manifest, "config", json_type_object);
	struct json_object *layers = jget(manifest, "layers", json_type_array);
	if (!cfg || !layers) {
		ret = errbuf_set(eb, EINVAL, "manifest %s: config or layers missing",
				 img->manifest_digest);
		goto out;
	}
	img->n_layers = json_object_array_length(layers);
	if (img->n_layers > OCI_MAX_LAYERS) {
		ret = errbuf_set(eb, E2BIG, "manifest: more than %d layers", OCI_MAX_LAYERS);
		img->n_layers = 0;
		goto out;
	}
	for (size_t i = 0; i < img->n_layers; i++) {
		struct json_object *l = json_object_array_get_idx(layers, i);
		const char *d = jstr(l, "digest"), *mt = jstr(l, "mediaType");
		struct json_object *sz = jget(l, "size", json_type_int);
		struct oci_layer *ol = &img->layers[i];
		if (!digest_valid(d)) {
			ret = errbuf_set(eb, EINVAL, "manifest: layers[%zu].digest: expected "
					 "sha256:<64 lowercase hex>", i);
			goto out;
		}
		bool known = false;
		for (size_t k = 0; mt && k < sizeof(layer_media_types) / sizeof(*layer_media_types);
		     k++)
			known |= !strcmp(mt, layer_media_types[k]);
		if (!known) {
			ret = errbuf_set(eb, ENOTSUP, "manifest: layers[%zu].mediaType: %s is not a "
					 "plain, gzip or zstd tar layer", i, mt ? mt : "(missing)");
			goto out;
		}
		if (!sz || json_object_get_int64(sz) < 0) {
			ret = errbuf_set(eb, EINVAL, "manifest: layers[%zu].size: expected a "
					 "non-negative integer", i);
			goto out;
		}
		snprintf(ol->digest, sizeof(ol->digest), "%s", d);
		ol->size = (uint64_t)json_object_get_int64(sz);
		ol->media_type = strdup(mt);
		ol->blob_path = malloc(PATH_MAX);
		if (!ol->media_type || !ol->blob_path ||
		    blob_path(img->path, d, ol->blob_path, PATH_MAX)) {
			ret = errbuf_set(eb, ENOMEM, "out of memory");
			goto out;
		}
		struct stat st;
		if (stat(ol->blob_path, &st) || (uint64_t)st.st_size != ol->size) {
			ret = errbuf_set(eb, ENOENT, "manifest: layers[%zu]: blob %s missing or "
					 "not %llu bytes", i, d, (unsigned long long)ol->size);
			goto out;
		}
	}
	const char *cd = jstr(cfg, "digest");
	struct json_object *csz = jget(cfg, "size", json_type_int);
	ret = blob_read_checked(img->path, cd, csz ? json_object_get_int64(csz) : -1, "config",
				&text, &len, eb);
	if (ret)
		goto out;
	snprintf(img->config_digest, sizeof(img->config_digest), "%s", cd);
	ret = config_parse(img, text, len, "config", eb);
out:
	free(text);
	json_object_put(index);
	json_object_put(manifest);
	return ret;
}

/* ---- docker save archives ------------------------------------------------------------------ */

static struct archive *archive_open_file(const char *path, struct errbuf *eb)
{
	struct archive *a = archive_read_new();
	if (!a || archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
	    archive_read_support_format_tar(a) != ARCHIVE_OK ||
	    archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
		errbuf_set(eb, EINVAL, "%s: %s", path,
			   a && archive_error_string(a) ? archive_error_string(a)
							: "cannot open archive");
		if (a)
			archive_read_free(a);
		return NULL;
	}
	return a;
}

static const char *member_name(struct archive_entry *e)
{
	const char *n = archive_entry_pathname(e);
	while (n && n[0] == '.' && n[1] == '/')
		n += 2;
	return n;
}

/* Resolve a member symlink ("<id>/layer.tar" -> "../<id2>/layer.tar") inside the archive. */
static int link_resolve(const char *name, const char *target, char *out, size_t size)
{
	char buf[PATH_MAX];
	const char *slash = strrchr(name, '/');
	int n = target[0] == '/' ? -1
				 : snprintf(buf, sizeof(buf), "%.*s%s",
					    slash ? (int)(slash - name + 1) : 0, name, target);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -EINVAL;
	/* normalise: drop "." and resolve ".." without ever leaving the archive root */
	char *parts[PATH_MAX / 2];
	size_t np = 0;
	for (char *save = NULL, *t = strtok_r(buf, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (!strcmp(t, "."))
			continue;
		if (!strcmp(t, "..")) {
			if (!np)
				return -EINVAL;
			np--;
			continue;
		}
		parts[np++] = t;
	}
	size_t used = 0;
	out[0] = 0;
	for (size_t i = 0; i < np; i++) {
		n = snprintf(out + used, size - used, "%s%s", i ? "/" : "", parts[i]);
		if (n < 0 || (size_t)n >= size - used)
			return -ENAMETOOLONG;
		used += (size_t)n;
	}
	return np ? 0 : -EINVAL;
}

struct wanted {
	char name[PATH_MAX];      /* member to copy */
	char file[PATH_MAX];      /* where it went */
	char digest[LAYER_DIGEST_STR_MAX]; /* its SHA-256 once copied */
	uint64_t size;
	bool done;
};

static int member_copy(struct archive *a, const char *dest, struct wanted *w, struct errbuf *eb)
{
	int fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	uint8_t *buf = malloc(1u << 20);
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	int ret = 0;
	if (fd < 0 || !buf || !sha || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1) {
		ret = errbuf_set(eb, errno ? errno : ENOMEM, "%s: cannot create", dest);
		goto out;
	}
	for (;;) {
		la_ssize_t n = archive_read_data(a, buf, 1u << 20);
		if (n < 0) {
			ret = errbuf_set(eb, EBADMSG, "%s: %s", w->name, archive_error_string(a));
			goto out;
		}
		if (n == 0)
			break;
		if ((ret = write_full(fd, buf, (size_t)n))) {
			errbuf_set(eb, -ret, "%s: %s", dest, strerror(-ret));
			goto out;
		}
		EVP_DigestUpdate(sha, buf, (size_t)n);
		w->size += (uint64_t)n;
	}
	uint8_t md[SHA256_LEN];
	EVP_DigestFinal_ex(sha, md, NULL);
	memcpy(w->digest, "sha256:", 7);
	hex_encode(md, SHA256_LEN, w->digest + 7);
	snprintf(w->file, sizeof(w->file), "%s", dest);
	w->done = true;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	EVP_MD_CTX_free(sha);
	return ret;
}

/* The digest a docker-save member name promises: "<hex>.json" or "blobs/sha256/<hex>". */
static bool name_digest(const char *name, char out[LAYER_DIGEST_STR_MAX])
{
	const char *base = strrchr(name, '/');
	base = base ? base + 1 : name;
	char d[LAYER_DIGEST_STR_MAX];
	snprintf(d, sizeof(d), "sha256:%.64s", base);
	bool ok = digest_valid(d) && (!strcmp(base + 64, ".json") ||
				      (!base[64] && !strncmp(name, "blobs/sha256/", 13)));
	if (ok)
		memcpy(out, d, LAYER_DIGEST_STR_MAX);
	return ok;
}

/* docker-save pass 1: the bytes of manifest.json (*text, malloc'd, NUL not added). */
static int archive_read_manifest(const struct oci_image *img, uint8_t **text, size_t *len,
				 struct errbuf *eb)
{
	struct archive *a = archive_open_file(img->path, eb);
	struct archive_entry *e;
	uint8_t *mtext = NULL;
	int ret;
	if (!a)
		return -EINVAL;
	while ((ret = archive_read_next_header(a, &e)) == ARCHIVE_OK || ret == ARCHIVE_WARN) {
		const char *n = member_name(e);
		if (!n || strcmp(n, "manifest.json"))
			continue;
		int64_t sz = archive_entry_size(e);
		if (sz < 0 || sz > JSON_DOC_MAX) {
			ret = errbuf_set(eb, E2BIG, "%s: manifest.json too large", img->path);
			goto out;
		}
		mtext = malloc((size_t)sz + 1);
		if (!mtext || archive_read_data(a, mtext, (size_t)sz) != sz) {
			ret = errbuf_set(eb, EBADMSG, "%s: manifest.json: cannot read", img->path);
			goto out;
		}
		*len = (size_t)sz;
		break;
	}
	if (ret != ARCHIVE_OK && ret != ARCHIVE_WARN && ret != ARCHIVE_EOF) {
		ret = errbuf_set(eb, EBADMSG, "%s: %s", img->path, archive_error_string(a));
		goto out;
	}
	ret = 0;
	if (!mtext)
		ret = errbuf_set(eb, ENOENT, "%s: no manifest.json (not a docker save archive)",
				 img->path);
out:
	archive_read_free(a);
	if (ret)
		free(mtext);
	else
		*text = mtext;
	return ret;
}

/* The manifest entry img->tag names (any, if the archive holds exactly one image). */
static int manifest_select(const struct oci_image *img, struct json_object *mf,
			   struct json_object **sel, size_t *sel_i, struct errbuf *eb)
{
	if (!mf || !json_object_is_type(mf, json_type_array) || !json_object_array_length(mf))
		return errbuf_set(eb, EINVAL, "%s: manifest.json: expected a non-empty array",
				  img->path);
	size_t n = json_object_array_length(mf), found = 0;
	for (size_t i = 0; i < n; i++) {
		struct json_object *m = json_object_array_get_idx(mf, i);
		bool match = !img->tag;
		struct json_object *tags = jget(m, "RepoTags", json_type_array);
		for (size_t t = 0; img->tag && tags && t < json_object_array_length(tags); t++) {
			struct json_object *s = json_object_array_get_idx(tags, t);
			const char *ts = json_object_is_type(s, json_type_string)
						 ? json_object_get_string(s) : "";
			size_t tl = strlen(img->tag);
			/* "busybox" also matches "busybox:latest" */
			match |= !strcmp(ts, img->tag) ||
				 (!strchr(img->tag, ':') && !strncmp(ts, img->tag, tl) &&
				  !strcmp(ts + tl, ":latest"));
		}
		if (match && !found++) {
			*sel = m;
			*sel_i = i;
		}
	}
	if (!found)
		return errbuf_set(eb, ENOENT, "%s: manifest.json: no image tagged \"%s\"",
				  img->path, img->tag);
	if (found > 1 && !img->tag)
		return errbuf_set(eb, EINVAL, "%s: manifest.json: %zu images; name one as PATH:TAG",
				  img->path, found);
	return 0;
}

/* The members the selected manifest entry names: want[0] its config, want[1..] its layers
 * (base first); sets img->n_layers. */
static int manifest_members(struct oci_image *img, struct json_object *sel, size_t sel_i,
			    struct wanted **out, size_t *n_out, struct errbuf *eb)
{
	const char *cfg = jstr(sel, "Config");
	struct json_object *layers = jget(sel, "Layers", json_type_array);
	if (!cfg || !layers)
		return errbuf_set(eb, EINVAL, "%s: manifest.json[%zu]: Config or Layers missing",
				  img->path, sel_i);
	size_t n_layers = json_object_array_length(layers);
	if (n_layers > OCI_MAX_LAYERS)
		return errbuf_set(eb, E2BIG, "%s: more than %d layers", img->path, OCI_MAX_LAYERS);
	struct wanted *want = calloc(n_layers + 1, sizeof(*want));
	if (!want)
		return errbuf_set(eb, ENOMEM, "out of memory");
	snprintf(want[0].name, sizeof(want[0].name), "%s", cfg);
	for (size_t i = 0; i < n_layers; i++) {
		struct json_object *s = json_object_array_get_idx(layers, i);
		if (!json_object_is_type(s, json_type_string)) {
			free(want);
			return errbuf_set(eb, EINVAL, "%s: manifest.json[%zu].Layers[%zu]: expected "
					  "a string", img->path, sel_i, i);
		}
		const char *ln = json_object_get_string(s);
		while (ln[0] == '.' && ln[1] == '/')
			ln += 2;
		snprintf(want[i + 1].name, sizeof(want[i + 1].name), "%s", ln);
	}
	img->n_layers = n_layers;
	*out = want;
	*n_out = n_layers + 1;
	return 0;
}

/* A wanted member that is a link: point w at its target (inside the archive) instead. */
static int member_follow_link(const struct oci_image *img, struct archive_entry *e,
			      const char *name, struct wanted *w, struct errbuf *eb)
{
	const char *t = archive_entry_hardlink(e);
	while (t && t[0] == '.' && t[1] == '/')
		t += 2;
	char res[PATH_MAX];
	int lr = t ? (snprintf(res, sizeof(res), "%s", t), 0)
		   : link_resolve(name, archive_entry_symlink(e), res, sizeof(res));
	if (lr)
		return errbuf_set(eb, EINVAL, "%s: %s: link leaves the archive", img->path, name);
	snprintf(w->name, sizeof(w->name), "%s", res);
	return 0;
}

/* One read of the archive: copy every wanted member seen; *pending if a link was followed. */
static int archive_copy_round(struct oci_image *img, struct wanted *want, size_t n_want,
			      bool *pending, struct errbuf *eb)
{
	struct archive *a = archive_open_file(img->path, eb);
	struct archive_entry *e;
	int ret;
	if (!a)
		return -EINVAL;
	while ((ret = archive_read_next_header(a, &e)) == ARCHIVE_OK || ret == ARCHIVE_WARN) {
		const char *name = member_name(e);
		for (size_t i = 0; name && i < n_want; i++) {
			if (want[i].done || strcmp(want[i].name, name))
				continue;
			if (archive_entry_filetype(e) == AE_IFLNK || archive_entry_hardlink(e)) {
				if ((ret = member_follow_link(img, e, name, &want[i], eb)))
					goto out;
				*pending = true;
				continue;
			}
			if (archive_entry_filetype(e) != AE_IFREG) {
				ret = errbuf_set(eb, EINVAL, "%s: %s: not a regular file", img->path,
						 name);
				goto out;
			}
			char dest[PATH_MAX];
			snprintf(dest, sizeof(dest), "%s/%zu", img->scratch_dir, i);
			if ((ret = member_copy(a, dest, &want[i], eb)))
				goto out;
		}
	}
	ret = ret == ARCHIVE_EOF ? 0
				 : errbuf_set(eb, EBADMSG, "%s: %s", img->path, archive_error_string(a));
out:
	archive_read_free(a);
	return ret;
}

/* docker-save pass 2: copy the wanted members into a scratch directory under work_dir,
 * following member links inside the archive (a few rounds: a link may point backwards). */
static int archive_copy_members(struct oci_image *img, const char *work_dir,
				struct wanted *want, size_t n_want, struct errbuf *eb)
{
	size_t plen = strlen(work_dir) + 32;
	img->scratch_dir = malloc(plen);
	if (!img->scratch_dir)
		return errbuf_set(eb, ENOMEM, "out of memory");
	snprintf(img->scratch_dir, plen, "%s/.docker-XXXXXX", work_dir);
	if (mkdir_p(work_dir, 0755) || !mkdtemp(img->scratch_dir)) {
		int ret = errbuf_set(eb, errno, "%s: %s", work_dir, strerror(errno));
		free(img->scratch_dir);
		img->scratch_dir = NULL;
		return ret;
	}
	for (int round = 0; round < 4; round++) {
		bool pending = false;
		int ret = archive_copy_round(img, want, n_want, &pending, eb);
		if (ret)
			return ret;
		/* members that point at a member already copied */
		for (size_t i = 0; i < n_want; i++)
			for (size_t j = 0; !want[i].done && j < n_want; j++)
				if (want[j].done && !strcmp(want[i].name, want[j].name))
					want[i] = want[j];
		if (!pending)
			break;
	}
	for (size_t i = 0; i < n_want; i++)
		if (!want[i].done)
			return errbuf_set(eb, ENOENT, "%s: member %s missing", img->path,
					  want[i].name);
	return 0;
}

/* Check the copied members against the digests that name them (the config by its file
 * name, each layer by the config's rootfs.diff_ids), then fill in img's config and layers. */
static int archive_check_members(struct oci_image *img, const struct wanted *want,
				 struct errbuf *eb)
{
	char cdig[LAYER_DIGEST_STR_MAX];
	if (!name_digest(want[0].name, cdig))
		return errbuf_set(eb, EINVAL, "%s: config %s: name carries no digest to check",
				  img->path, want[0].name);
	if (strcmp(cdig, want[0].digest))
		return errbuf_set(eb, EBADMSG, "%s: config %s: digest mismatch (content is %s)",
				  img->path, want[0].name, want[0].digest);
	snprintf(img->config_digest, sizeof(img->config_digest), "%s", cdig);
	uint8_t *ctext = NULL;
	size_t clen;
	int ret = file_read_all(want[0].file, JSON_DOC_MAX, &ctext, &clen, eb);
	if (ret)
		return ret;
	ret = config_parse(img, ctext, clen, "config", eb);
	free(ctext);
	if (ret)
		return ret;
	for (size_t i = 0; i < img->n_layers; i++) {
		struct oci_layer *ol = &img->layers[i];
		const struct wanted *w = &want[i + 1];
		if (strcmp(w->digest, ol->diff_id))
			return errbuf_set(eb, EBADMSG, "%s: layer %s: digest mismatch: content is "
					  "%s, config rootfs.diff_ids[%zu] says %s", img->path,
					  w->name, w->digest, i, ol->diff_id);
		snprintf(ol->digest, sizeof(ol->digest), "%s", w->digest);
		ol->size = w->size;
		ol->media_type = strdup(MEDIA_DOCKER_LAYER);
		ol->blob_path = strdup(w->file);
		if (!ol->media_type || !ol->blob_path)
			return errbuf_set(eb, ENOMEM, "out of memory");
	}
	return 0;
}

/* A `docker save` archive: read its manifest, pick the image, copy the config and layers
 * out, and check each against its digest. */
static int archive_open_image(struct oci_image *img, const char *work_dir, struct errbuf *eb)
{
	uint8_t *mtext = NULL;
	size_t mlen = 0, sel_i = 0, n_want = 0;
	struct json_object *mf = NULL, *sel = NULL;
	struct wanted *want = NULL;
	int ret = archive_read_manifest(img, &mtext, &mlen, eb);
	if (ret)
		return ret;
	struct json_tokener *tok = json_tokener_new_ex(64);
	mf = tok ? json_tokener_parse_ex(tok, (const char *)mtext, (int)mlen) : NULL;
	json_tokener_free(tok);
	if (!(ret = manifest_select(img, mf, &sel, &sel_i, eb)) &&
	    !(ret = manifest_members(img, sel, sel_i, &want, &n_want, eb)) &&
	    !(ret = archive_copy_members(img, work_dir, want, n_want, eb)))
		ret = archive_check_members(img, want, eb);
	free(mtext);
	free(want);
	json_object_put(mf);
	return ret;
}

/* ---- entry points ------------------------------------------------------------------------ */

static int ref_split(struct oci_image *img, const char *ref, struct errbuf *eb)
{
	struct stat st;
	if (!stat(ref, &st)) {
		img->path = strdup(ref);
		return img->path ? 0 : -ENOMEM;
	}
	for (const char *c = strchr(ref, ':'); c; c = strchr(c + 1, ':')) {
		char *p = strndup(ref, (size_t)(c - ref));
		if (!p)
			return -ENOMEM;
		if (!stat(p, &st)) {
			img->path = p;
			img->tag = strdup(c + 1);
			if (!img->tag || !*img->tag)
				return errbuf_set(eb, EINVAL, "%s: empty tag", ref);
			return 0;
		}
		free(p);
	}
	return errbuf_set(eb, ENOENT, "%s: no such image layout directory or archive", ref);
}

int oci_image_open(const char *ref, const char *work_dir, struct oci_image **out,
		   struct errbuf *eb)
{
	struct oci_image *img = calloc(1, sizeof(*img));
	struct stat st;
	int ret;
	*out = NULL;
	if (!img)
		return errbuf_set(eb, ENOMEM, "out of memory");
	ret = ref_split(img, ref, eb);
	if (ret == -ENOMEM)
		errbuf_set(eb, ENOMEM, "out of memory");
	if (ret)
		goto fail;
	if (stat(img->path, &st)) {
		ret = errbuf_set(eb, errno, "%s: %s", img->path, strerror(errno));
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		img->kind = strdup("oci-layout");
		ret = img->kind ? layout_open(img, eb) : -ENOMEM;
	} else {
		img->kind = strdup("docker-archive");
		ret = img->kind ? archive_open_image(img, work_dir, eb) : -ENOMEM;
	}
	if (ret)
		goto fail;
	*out = img;
	return 0;
fail:
	if (ret == -ENOMEM && eb && !eb->msg[0])
		errbuf_set(eb, ENOMEM, "out of memory");
	oci_image_free(img);
	return ret;
}

static void dir_remove(const char *dir)
{
	char path[PATH_MAX];
	for (int i = 0; i <= OCI_MAX_LAYERS; i++) {
		snprintf(path, sizeof(path), "%s/%d", dir, i);
		unlink(path);
	}
	rmdir(dir);
}

void oci_image_free(struct oci_image *img)
{
	if (!img)
		return;
	for (size_t i = 0; i < img->n_layers; i++) {
		free(img->layers[i].media_type);
		free(img->layers[i].blob_path);
	}
	struct oci_process *p = &img->process;
	strv_free(p->entrypoint, p->n_entrypoint);
	strv_free(p->cmd, p->n_cmd);
	strv_free(p->env, p->n_env);
	free(p->working_dir);
	free(p->user);
	if (img->scratch_dir)
		dir_remove(img->scratch_dir);
	free(img->scratch_dir);
	free(img->path);
	free(img->tag);
	free(img->kind);
	free(img->architecture);
	free(img->os);
	free(img);
}

/* ---- reading one file through the layers -------------------------------------------------- */

static int file_sha256_check(const char *path, const char *digest, struct errbuf *eb)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint8_t *buf = malloc(1u << 20), md[SHA256_LEN];
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	char hex[2 * SHA256_LEN + 1];
	int ret = 0;
	if (fd < 0 || !buf || !sha || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1) {
		ret = errbuf_set(eb, fd < 0 ? errno : ENOMEM, "%s: cannot read", path);
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf, 1u << 20);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = errbuf_set(eb, errno, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (!n)
			break;
		EVP_DigestUpdate(sha, buf, (size_t)n);
	}
	EVP_DigestFinal_ex(sha, md, NULL);
	hex_encode(md, SHA256_LEN, hex);
	if (strcmp(hex, digest + 7))
		ret = errbuf_set(eb, EBADMSG, "layer %s: digest mismatch (content is sha256:%s)",
				 digest, hex);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	EVP_MD_CTX_free(sha);
	return ret;
}

/* Compare a tar member name with `path` after dropping "./" and "/" prefixes. */
static const char *tar_rel(const char *n)
{
	while (n && (n[0] == '/' || (n[0] == '.' && n[1] == '/')))
		n += n[0] == '/' ? 1 : 2;
	return n;
}

/* 1 found, 0 not in this layer, -1 hidden by a whiteout or opaque dir in this layer. */
static int layer_find(struct archive *a, const char *path, size_t max, uint8_t **data,
		      size_t *len, struct errbuf *eb, int *err)
{
	struct archive_entry *e;
	int hidden = 0, r;
	bool found = false, seen = false;
	size_t plen = strlen(path);
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *n = tar_rel(archive_entry_pathname(e));
		if (!n)
			continue;
		if (!strcmp(n, path)) {
			/* the last entry for a path wins within one layer */
			free(*data);
			*data = NULL;
			*len = 0;
			found = archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e);
			seen = true;
			if (!found)
				continue;
			int64_t sz = archive_entry_size(e);
			if (sz < 0 || (uint64_t)sz > max) {
				*err = errbuf_set(eb, EFBIG, "%s: larger than %zu bytes", path, max);
				return 0;
			}
			*data = malloc((size_t)sz + 1);
			if (!*data || archive_read_data(a, *data, (size_t)sz) != sz) {
				*err = errbuf_set(eb, EBADMSG, "%s: cannot read from the layer", path);
				return 0;
			}
			(*data)[sz] = 0;
			*len = (size_t)sz;
			continue;
		}
		/* a whiteout of the path or of one of its directories */
		const char *slash = strrchr(n, '/');
		const char *base = slash ? slash + 1 : n;
		size_t dlen = slash ? (size_t)(slash - n) : 0;
		if (strncmp(base, ".wh.", 4))
			continue;
		bool in_ancestor = dlen == 0 || (dlen < plen && !strncmp(n, path, dlen) &&
						 path[dlen] == '/');
		if (!in_ancestor)
			continue;
		if (!strcmp(base, ".wh..wh..opq")) {
			hidden = -1;
			continue;
		}
		size_t blen = strlen(base + 4), off = dlen ? dlen + 1 : 0;
		if (!strncmp(path + off, base + 4, blen) &&
		    (path[off + blen] == 0 || path[off + blen] == '/'))
			hidden = -1;
	}
	if (r != ARCHIVE_EOF)
		*err = errbuf_set(eb, EBADMSG, "reading a layer: %s", archive_error_string(a));
	if (found)
		return 1;
	return seen ? -1 : hidden;
}

int oci_image_read_file(const struct oci_image *img, const char *path, size_t max,
			uint8_t **data, size_t *len, struct errbuf *eb)
{
	*data = NULL;
	*len = 0;
	for (size_t i = img->n_layers; i-- > 0;) {
		const struct oci_layer *l = &img->layers[i];
		int ret = file_sha256_check(l->blob_path, l->digest, eb);
		if (ret)
			return ret;
		struct archive *a = archive_read_new();
		if (!a || archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
		    archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
		    archive_read_support_format_tar(a) != ARCHIVE_OK ||
		    archive_read_open_filename(a, l->blob_path, 65536) != ARCHIVE_OK) {
			ret = errbuf_set(eb, EBADMSG, "layer %s: cannot open", l->digest);
			if (a)
				archive_read_free(a);
			return ret;
		}
		int err = 0;
		int found = layer_find(a, path, max, data, len, eb, &err);
		archive_read_free(a);
		if (err) {
			free(*data);
			*data = NULL;
			return err;
		}
		if (found == 1)
			return 0;
		if (found < 0)
			break;
	}
	return -ENOENT;
}
