/* Layer cache directory and whole-image conversion. */
#include "policy/image/image_convert.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"

int image_cache_dir(char *out, size_t size, struct errbuf *eb)
{
	const char *env = getenv("PARMA_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	int n;
	if (env && *env)
		n = snprintf(out, size, "%s", env);
	else if (xdg && *xdg)
		n = snprintf(out, size, "%s/parma/layers", xdg);
	else if (home && *home)
		n = snprintf(out, size, "%s/.cache/parma/layers", home);
	else
		return errbuf_set(eb, ENOENT, "no cache directory: set PARMA_CACHE_DIR or HOME");
	if (n < 0 || (size_t)n >= size)
		return errbuf_set(eb, ENAMETOOLONG, "cache directory path too long");
	int ret = mkdir_p(out, 0755);
	if (ret)
		return errbuf_set(eb, -ret, "%s: %s", out, strerror(-ret));
	return 0;
}

struct layer_progress {
	const struct image_convert_opts *opts;
	size_t index, count;
};

static void layer_progress_cb(void *ctx, uint64_t done, uint64_t total)
{
	struct layer_progress *lp = ctx;
	lp->opts->progress(lp->opts->progress_ctx, lp->index, lp->count, done, total);
}

int image_convert_layers(const struct oci_image *img, const char *dir,
			 const struct image_convert_opts *opts, struct layer_image_info *infos,
			 bool *cached, struct errbuf *eb)
{
	static const struct image_convert_opts defaults = { 0 };
	if (!opts)
		opts = &defaults;
	for (size_t i = 0; i < img->n_layers; i++) {
		const struct oci_layer *l = &img->layers[i];
		struct errbuf oeb = { 0 };
		if (!opts->no_cache && !layer_image_open(dir, l->digest, &infos[i], &oeb)) {
			/* Served to a guest only after its hash tree matches the sidecar again. */
			int ret = layer_image_verify(dir, &infos[i], eb);
			if (ret) {
				errbuf_prefix(eb, "layers[%zu]", i);
				return ret;
			}
			cached[i] = true;
			continue;
		}
		cached[i] = false;
		struct layer_progress lp = { opts, i, img->n_layers };
		struct layer_convert_opts lo = {
			.expected_digest = l->digest,
			.expected_size = l->size,
			.max_unpacked = opts->max_unpacked,
			.threads = opts->threads,
			.progress = opts->progress ? layer_progress_cb : NULL,
			.progress_ctx = &lp,
		};
		int ret = layer_image_convert(l->blob_path, dir, &lo, &infos[i], eb);
		if (ret) {
			errbuf_prefix(eb, "layers[%zu]", i);
			return ret;
		}
	}
	return 0;
}
