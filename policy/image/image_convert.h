/* image_convert: every layer of an image into the content-addressed layer cache. */
#ifndef PARMA_IMAGE_IMAGE_CONVERT_H
#define PARMA_IMAGE_IMAGE_CONVERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/errbuf.h"
#include "policy/image/layer_image.h"
#include "policy/image/oci_image.h"

/* Progress of layer `index` (0-based, base first) of `count`; bytes of its blob read. */
typedef void (*image_progress_fn)(void *ctx, size_t index, size_t count, uint64_t done,
				  uint64_t total);

struct image_convert_opts {
	unsigned threads;            /* hashing threads; 0 = online CPUs */
	uint64_t max_unpacked;       /* per layer; 0 = default (64 GiB) */
	bool no_cache;               /* convert even layers already in the cache */
	image_progress_fn progress;  /* may be NULL */
	void *progress_ctx;
};

/* The layer cache directory: $PARMA_CACHE_DIR, else $XDG_CACHE_HOME/parma/layers, else
 * $HOME/.cache/parma/layers; created if missing. */
int image_cache_dir(char *out, size_t size, struct errbuf *eb);

/* Convert each layer of img not yet in `dir` (infos[i] and cached[i] for layer i, base
 * first; both arrays hold img->n_layers entries). `opts` may be NULL (defaults). Stops at the
 * first failing layer. */
int image_convert_layers(const struct oci_image *img, const char *dir,
			 const struct image_convert_opts *opts, struct layer_image_info *infos,
			 bool *cached, struct errbuf *eb);

#endif
