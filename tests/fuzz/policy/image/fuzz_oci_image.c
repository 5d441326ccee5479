/* Fuzz target for the OCI image reader's JSON (policy/image/oci_image.c): index.json, the
 * manifest (or a nested index) and the image config of an OCI layout directory.
 *
 * The input is three documents separated by "\n--\n": index, manifest, config. Blobs are
 * named by their SHA-256, which a fuzzer cannot forge, so the harness writes each document
 * as the blob its digest names and substitutes placeholders first: "@C" / "@c" in the
 * manifest become the config's digest / size, "@M" / "@m" in the index the manifest's, and
 * "@L" anywhere the digest of a fixed 1024-byte layer blob that exists in the layout.
 * Properties checked: an accepted image has at most OCI_MAX_LAYERS layers with valid digests
 * whose blobs exist, and every refusal carries a message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/fileio.h"
#include "policy/image/oci_image.h"

static char dir[64], blobs[96];
static char layer_digest[72];

static void hexdigest(const uint8_t *data, size_t len, char out[72])
{
	uint8_t md[32];
	unsigned n;
	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	strcpy(out, "sha256:");
	for (int i = 0; i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

static void put_blob(const uint8_t *data, size_t len, char digest[72])
{
	char path[256];
	hexdigest(data, len, digest);
	snprintf(path, sizeof(path), "%s/%s", blobs, digest + 7);
	if (file_write_atomic(path, data, len, 0644, NULL) < 0)
		abort();
}

static void cleanup(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_oci_image: could not remove %s\n", dir);
}

static void init_once(void)
{
	if (dir[0])
		return;
	snprintf(dir, sizeof(dir), "/dev/shm/parma-fuzz-oci-%d", (int)getpid());
	snprintf(blobs, sizeof(blobs), "%s/blobs/sha256", dir);
	char layout[128];
	snprintf(layout, sizeof(layout), "%s/oci-layout", dir);
	static const char marker[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	if (mkdir_p(blobs, 0755) < 0 ||
	    file_write_atomic(layout, marker, sizeof(marker) - 1, 0644, NULL) < 0)
		abort();
	static uint8_t layer[1024];
	put_blob(layer, sizeof(layer), layer_digest);
	atexit(cleanup);
}

/* Copy src with placeholders replaced; caller frees. */
static char *substitute(const uint8_t *src, size_t len, const char *const subst[][2], size_t n,
			size_t *out_len)
{
	size_t cap = len * 80 + 1, o = 0;
	char *out = malloc(cap);
	if (!out)
		abort();
	for (size_t i = 0; i < len;) {
		size_t k;
		for (k = 0; k < n; k++)
			if (i + 2 <= len && src[i] == '@' && src[i + 1] == subst[k][0][1])
				break;
		if (k < n) {
			size_t l = strlen(subst[k][1]);
			memcpy(out + o, subst[k][1], l);
			o += l;
			i += 2;
		} else {
			out[o++] = (char)src[i++];
		}
	}
	out[o] = 0;
	*out_len = o;
	return out;
}

static const uint8_t *next_part(const uint8_t **p, const uint8_t *end, size_t *len)
{
	const uint8_t *start = *p;
	const uint8_t *sep = memmem(start, (size_t)(end - start), "\n--\n", 4);
	if (!sep) {
		*len = (size_t)(end - start);
		*p = end;
	} else {
		*len = (size_t)(sep - start);
		*p = sep + 4;
	}
	return start;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init_once();
	if (size > 256 * 1024)
		return 0;
	const uint8_t *p = data, *end = data + size;
	size_t ilen, mlen, clen;
	const uint8_t *ix = next_part(&p, end, &ilen);
	const uint8_t *mf = next_part(&p, end, &mlen);
	const uint8_t *cf = next_part(&p, end, &clen);

	char cdig[72], mdig[72], csz[24], msz[24], path[256];
	const char *const s_cfg[][2] = { { "@L", layer_digest } };
	size_t n;
	char *c = substitute(cf, clen, s_cfg, 1, &n);
	put_blob((uint8_t *)c, n, cdig);
	snprintf(csz, sizeof(csz), "%zu", n);
	free(c);
	const char *const s_man[][2] = { { "@L", layer_digest }, { "@C", cdig }, { "@c", csz } };
	char *m = substitute(mf, mlen, s_man, 3, &n);
	put_blob((uint8_t *)m, n, mdig);
	snprintf(msz, sizeof(msz), "%zu", n);
	free(m);
	const char *const s_idx[][2] = { { "@L", layer_digest }, { "@C", cdig }, { "@c", csz },
					 { "@M", mdig }, { "@m", msz } };
	char *ixs = substitute(ix, ilen, s_idx, 5, &n);
	snprintf(path, sizeof(path), "%s/index.json", dir);
	if (file_write_atomic(path, ixs, n, 0644, NULL) < 0)
		abort();
	free(ixs);

	struct oci_image *img = NULL;
	struct errbuf eb = { 0 };
	char ref[128];
	snprintf(ref, sizeof(ref), "%s%s", dir, (size & 1) ? ":latest" : "");
	if (oci_image_open(ref, dir, &img, &eb) == 0) {
		if (img->n_layers > OCI_MAX_LAYERS)
			abort();
		for (size_t i = 0; i < img->n_layers; i++) {
			struct stat st;
			if (strncmp(img->layers[i].digest, "sha256:", 7) ||
			    strlen(img->layers[i].digest) != 71 || stat(img->layers[i].blob_path, &st))
				abort();
		}
		oci_image_free(img);
	} else if (!errbuf_msg(&eb)[0]) {
		abort();
	}
	return 0;
}
