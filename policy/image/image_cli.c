/* `parma image convert|inspect` (policy gen lives in policy_gen_cli.c). */
#include "policy/image/image_cli.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/encoding.h"
#include "common/errbuf.h"
#include "common/fileio.h"
#include "policy/image/image_convert.h"
#include "policy/image/oci_image.h"

struct image_args {
	bool json;
	bool no_cache;
	const char *output;
	unsigned threads;
	const char *ref;
};

int image_cli_parse_threads(const char *prog, char *value, void *dest)
{
	uint64_t v;
	if (cli_parse_uint(value, 1, 64, &v))
		return cli_usage_error(prog, "--threads: expected 1..64");
	*(unsigned *)dest = (unsigned)v;
	return 0;
}

/* Options and the one IMAGE operand; usage is printed for --help. Returns 0 to go on, or -1
 * with *code the exit code to end with (after the help, or a usage error). */
static int args_parse(int argc, char **argv, const char *usage, bool with_threads,
		      struct image_args *a, int *code)
{
	memset(a, 0, sizeof(*a));
	const struct cli_opt opts[] = {
		CLI_FLAG("json", 'j', &a->json),
		CLI_STRING("output", 'o', &a->output),
		CLI_FUNC("threads", 't', image_cli_parse_threads, &a->threads), /* convert only */
		CLI_FLAG("no-cache", 'n', &a->no_cache),                       /* convert only */
	};
	const struct cli_spec spec = {
		.usage = usage, .opts = opts, .n_opts = with_threads ? 4 : 2,
		.min_operands = 1, .max_operands = 1,
		.operands_error = "expected exactly one IMAGE (PATH or PATH:TAG)",
	};
	int first = cli_start(argv[0], &spec, argc, argv, code);
	if (first < 0)
		return -1;
	a->ref = argv[first];
	return 0;
}

static int exit_code_for(int err)
{
	return (err == -ENOMEM || err == -EIO || err == -ENOSPC) ? CLI_INTERNAL : CLI_BAD_INPUT;
}

/* ---- progress bar (stderr, TTY only) ------------------------------------------------------ */

struct bar {
	int last_permille;
	size_t last_index;
	bool drawn;
};

static void bar_draw(void *ctx, size_t index, size_t count, uint64_t done, uint64_t total)
{
	struct bar *b = ctx;
	int permille = total ? (int)(done * 1000 / total) : 0;
	if (b->drawn && index == b->last_index && permille == b->last_permille)
		return;
	b->last_permille = permille;
	b->last_index = index;
	b->drawn = true;
	char bar[31];
	int fill = permille * 30 / 1000;
	for (int i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[30] = 0;
	fprintf(stderr, "\rlayer %zu/%zu [%s] %3d%% %7.1f/%.1f MiB", index + 1, count, bar,
		permille / 10, (double)done / 1048576.0, (double)total / 1048576.0);
	fflush(stderr);
}

static void bar_end(struct bar *b)
{
	if (b->drawn)
		fprintf(stderr, "\r\033[K");
}

/* ---- output ------------------------------------------------------------------------------ */

static struct json_object *strv_json(char **v, size_t n)
{
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

static struct json_object *layer_json(const struct oci_layer *l, const char *dir,
				      const struct layer_image_info *info, const bool *cached)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "digest", json_object_new_string(l->digest));
	json_object_object_add(o, "diff_id", json_object_new_string(l->diff_id));
	json_object_object_add(o, "media_type", json_object_new_string(l->media_type));
	json_object_object_add(o, "blob_size", json_object_new_int64((int64_t)l->size));
	if (info) {
		char root[65], salt[65], path[PATH_MAX];
		hex_encode(info->root_hash, LAYER_HASH_LEN, root);
		hex_encode(info->salt, LAYER_SALT_LEN, salt);
		layer_image_path(dir, l->digest, ".img", path, sizeof(path));
		json_object_object_add(o, "root_hash", json_object_new_string(root));
		json_object_object_add(o, "salt", json_object_new_string(salt));
		json_object_object_add(o, "image", json_object_new_string(path));
		json_object_object_add(o, "data_size",
				       json_object_new_int64((int64_t)info->data_size));
		json_object_object_add(o, "hash_offset",
				       json_object_new_int64((int64_t)info->hash_offset));
		json_object_object_add(o, "hash_start_block",
				       json_object_new_int64((int64_t)info->hash_start_block));
		json_object_object_add(o, "image_size",
				       json_object_new_int64((int64_t)info->image_size));
		if (cached)
			json_object_object_add(o, "cached", json_object_new_boolean(*cached));
	}
	return o;
}

static struct json_object *image_json(const struct oci_image *img, const char *dir,
				      const struct layer_image_info *infos, const bool *have,
				      const bool *cached)
{
	struct json_object *o = json_object_new_object(), *layers = json_object_new_array();
	json_object_object_add(o, "image", json_object_new_string(img->path));
	json_object_object_add(o, "tag", img->tag ? json_object_new_string(img->tag) : NULL);
	json_object_object_add(o, "kind", json_object_new_string(img->kind));
	if (img->manifest_digest[0])
		json_object_object_add(o, "manifest_digest",
				       json_object_new_string(img->manifest_digest));
	json_object_object_add(o, "config_digest", json_object_new_string(img->config_digest));
	json_object_object_add(o, "architecture", json_object_new_string(img->architecture));
	json_object_object_add(o, "os", json_object_new_string(img->os));
	json_object_object_add(o, "cache_dir", json_object_new_string(dir));
	for (size_t i = 0; i < img->n_layers; i++)
		json_object_array_add(layers, layer_json(&img->layers[i], dir,
							 have[i] ? &infos[i] : NULL,
							 cached ? &cached[i] : NULL));
	json_object_object_add(o, "layers", layers);
	return o;
}

static void json_print(struct json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* ---- commands ----------------------------------------------------------------------------- */

static int open_image(const char *prog, const struct image_args *a, char *dir, size_t dsize,
		      struct oci_image **img)
{
	struct errbuf eb = { 0 };
	int ret;
	if (a->output) {
		snprintf(dir, dsize, "%s", a->output);
		ret = mkdir_p(dir, 0755);
		if (ret)
			return cli_error(prog, CLI_BAD_INPUT, "%s: %s", dir, strerror(-ret));
	} else if ((ret = image_cache_dir(dir, dsize, &eb))) {
		return cli_error(prog, CLI_BAD_INPUT, "%s", errbuf_msg(&eb));
	}
	ret = oci_image_open(a->ref, dir, img, &eb);
	if (ret)
		return cli_error(prog, exit_code_for(ret), "%s", errbuf_msg(&eb));
	return CLI_OK;
}

static int cmd_convert(int argc, char **argv)
{
	static const char usage[] =
		"Usage: %s [--json] [--output DIR] [--threads N] [--no-cache] IMAGE\n\n"
		"Convert every layer of IMAGE (an OCI image layout directory or a docker-save\n"
		"archive, optionally PATH:TAG) into an erofs image with an appended dm-verity\n"
		"hash tree (docs/images.md). Layers already in the cache are not converted\n"
		"again (--no-cache: convert anyway). The cache is $PARMA_CACHE_DIR,\n"
		"$XDG_CACHE_HOME/parma/layers or\n"
		"~/.cache/parma/layers unless --output names a directory.\n"
		"Exit: 0 converted, 3 invalid or hostile input, 5 internal error.\n";
	struct image_args a;
	int code;
	if (args_parse(argc, argv, usage, true, &a, &code) < 0)
		return code;
	char dir[PATH_MAX];
	struct oci_image *img;
	if ((code = open_image(argv[0], &a, dir, sizeof(dir), &img)))
		return code;
	struct layer_image_info *infos = calloc(img->n_layers + 1, sizeof(*infos));
	bool *cached = calloc(img->n_layers + 1, sizeof(bool));
	bool *have = calloc(img->n_layers + 1, sizeof(bool));
	struct bar bar = { 0 };
	struct image_convert_opts o = { .threads = a.threads, .no_cache = a.no_cache };
	struct errbuf eb = { 0 };
	if (!infos || !cached || !have) {
		code = cli_error(argv[0], CLI_INTERNAL, "out of memory");
		goto out;
	}
	if (!a.json && isatty(STDERR_FILENO)) {
		o.progress = bar_draw;
		o.progress_ctx = &bar;
	}
	int ret = image_convert_layers(img, dir, &o, infos, cached, &eb);
	bar_end(&bar);
	if (ret) {
		code = cli_error(argv[0], exit_code_for(ret), "%s: %s", a.ref, errbuf_msg(&eb));
		goto out;
	}
	for (size_t i = 0; i < img->n_layers; i++)
		have[i] = true;
	if (a.json) {
		json_print(image_json(img, dir, infos, have, cached));
	} else {
		for (size_t i = 0; i < img->n_layers; i++) {
			char root[65], path[PATH_MAX];
			hex_encode(infos[i].root_hash, LAYER_HASH_LEN, root);
			layer_image_path(dir, img->layers[i].digest, ".img", path, sizeof(path));
			printf("layer %zu %s root_hash %s %s (%llu bytes%s)\n", i,
			       img->layers[i].digest, root, path,
			       (unsigned long long)infos[i].image_size,
			       cached[i] ? ", cached" : "");
		}
	}
	code = CLI_OK;
out:
	free(infos);
	free(cached);
	free(have);
	oci_image_free(img);
	return code;
}

static int cmd_inspect(int argc, char **argv)
{
	static const char usage[] =
		"Usage: %s [--json] [--output DIR] IMAGE\n\n"
		"Show an image's layers (digest, media type, size, and root hash if already\n"
		"converted), entrypoint, cmd, environment variable names, working dir and\n"
		"user, without converting anything.\n"
		"Exit: 0 ok, 3 invalid input.\n";
	struct image_args a;
	int code;
	if (args_parse(argc, argv, usage, false, &a, &code) < 0)
		return code;
	char dir[PATH_MAX];
	struct oci_image *img;
	if ((code = open_image(argv[0], &a, dir, sizeof(dir), &img)))
		return code;
	struct layer_image_info *infos = calloc(img->n_layers + 1, sizeof(*infos));
	bool *have = calloc(img->n_layers + 1, sizeof(bool));
	if (!infos || !have) {
		code = cli_error(argv[0], CLI_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < img->n_layers; i++) {
		struct errbuf eb = { 0 };
		have[i] = !layer_image_open(dir, img->layers[i].digest, &infos[i], &eb);
	}
	const struct oci_process *p = &img->process;
	/* environment values are never printed (they may be secrets): names only */
	char **names = calloc(p->n_env + 1, sizeof(char *));
	if (!names) {
		code = cli_error(argv[0], CLI_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < p->n_env; i++)
		names[i] = strndup(p->env[i], (size_t)(strchr(p->env[i], '=') - p->env[i]));
	if (a.json) {
		struct json_object *o = image_json(img, dir, infos, have, NULL);
		struct json_object *proc = json_object_new_object();
		json_object_object_add(proc, "entrypoint", strv_json(p->entrypoint,
								      p->n_entrypoint));
		json_object_object_add(proc, "cmd", strv_json(p->cmd, p->n_cmd));
		json_object_object_add(proc, "env_names", strv_json(names, p->n_env));
		json_object_object_add(proc, "working_dir", json_object_new_string(
					       p->working_dir ? p->working_dir : ""));
		json_object_object_add(proc, "user", json_object_new_string(p->user ? p->user
											: ""));
		json_object_object_add(o, "process", proc);
		json_print(o);
	} else {
		printf("image:        %s%s%s (%s)\n", img->path, img->tag ? ":" : "",
		       img->tag ? img->tag : "", img->kind);
		if (img->manifest_digest[0])
			printf("manifest:     %s\n", img->manifest_digest);
		printf("config:       %s\nplatform:     %s/%s\n", img->config_digest, img->os,
		       img->architecture);
		printf("entrypoint:  ");
		for (size_t i = 0; i < p->n_entrypoint; i++)
			printf(" %s", p->entrypoint[i]);
		printf("\ncmd:         ");
		for (size_t i = 0; i < p->n_cmd; i++)
			printf(" %s", p->cmd[i]);
		printf("\nenv names:   ");
		for (size_t i = 0; i < p->n_env; i++)
			printf(" %s", names[i] ? names[i] : "?");
		printf("\nworking dir:  %s\nuser:         %s\nlayers:       %zu (base first)\n",
		       p->working_dir ? p->working_dir : "", p->user ? p->user : "", img->n_layers);
		for (size_t i = 0; i < img->n_layers; i++) {
			char root[65] = "(not converted)";
			if (have[i])
				hex_encode(infos[i].root_hash, LAYER_HASH_LEN, root);
			printf("  %zu %s %llu bytes %s\n    root_hash %s\n", i,
			       img->layers[i].digest, (unsigned long long)img->layers[i].size,
			       img->layers[i].media_type, root);
		}
	}
	for (size_t i = 0; i < p->n_env; i++)
		free(names[i]);
	free(names);
	code = CLI_OK;
out:
	free(infos);
	free(have);
	oci_image_free(img);
	return code;
}

static const struct cli_command image_commands[] = {
	{ "convert", "convert an image's layers to erofs + dm-verity images", cmd_convert },
	{ "inspect", "show an image's layers, root hashes and process defaults", cmd_inspect },
};

int image_cli_main(int argc, char **argv)
{
	return cli_dispatch(argv[0], "OCI images -> dm-verity protected erofs layer images.",
			    image_commands, CLI_ARRAY_SIZE(image_commands), argc, argv);
}
