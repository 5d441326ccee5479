/* oci_image: read a container image from an OCI image layout directory or a `docker save`
 * archive: index -> manifest -> config -> layers, every blob checked against the digest (and
 * size) that names it. See docs/images.md, "Input images". */
#ifndef PARMA_IMAGE_OCI_IMAGE_H
#define PARMA_IMAGE_OCI_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "common/errbuf.h"
#include "policy/image/layer_image.h"

#define OCI_MAX_LAYERS 128

struct oci_layer {
	char digest[LAYER_DIGEST_STR_MAX];  /* blob digest: the cache key */
	char diff_id[LAYER_DIGEST_STR_MAX]; /* uncompressed digest from the config */
	char *media_type;
	uint64_t size;                      /* blob bytes (0 = not given) */
	char *blob_path;                    /* where the blob is on this machine */
};

/* What the image config says about the process (all may be empty/NULL). */
struct oci_process {
	char **entrypoint;
	size_t n_entrypoint;
	char **cmd;
	size_t n_cmd;
	char **env; /* "NAME=value" */
	size_t n_env;
	char *working_dir;
	char *user;
};

struct oci_image {
	char *path;                 /* the layout directory or archive */
	char *tag;                  /* NULL if none was given */
	char *kind;                 /* "oci-layout" or "docker-archive" */
	char manifest_digest[LAYER_DIGEST_STR_MAX]; /* "" for docker archives */
	char config_digest[LAYER_DIGEST_STR_MAX];
	char *architecture, *os;
	struct oci_layer layers[OCI_MAX_LAYERS]; /* base layer first */
	size_t n_layers;
	struct oci_process process;
	char *scratch_dir;          /* docker archives: extracted members (removed on free) */
};

/* Open `ref` = PATH or PATH:TAG (OCI layout dir, or docker-save tar). `work_dir` is where a
 * docker archive's members are copied (a fresh subdirectory, removed by oci_image_free;
 * work_dir itself is created if missing).
 * Errors name the file and JSON path ("index.json: manifests[1].digest: ..."). */
int oci_image_open(const char *ref, const char *work_dir, struct oci_image **out,
		   struct errbuf *eb);
void oci_image_free(struct oci_image *img);

/* Read file `path` (relative, e.g. "etc/passwd") as the container would see it: from the
 * top-most layer that has it, honouring OCI whiteouts and opaque directories. Each layer blob
 * read is first checked against its digest. -ENOENT if absent (or not a regular file).
 * Caller frees *data (NUL-terminated). */
int oci_image_read_file(const struct oci_image *img, const char *path, size_t max,
			uint8_t **data, size_t *len, struct errbuf *eb);

#endif
