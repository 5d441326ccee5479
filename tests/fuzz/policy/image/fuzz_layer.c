/* Fuzz the layer converter (tar reader, whiteouts, erofs writer, verity tree) with arbitrary
 * blob bytes: it must either convert or fail with an error, never crash, leak or write outside
 * its output directory. The blob's real digest is passed so that conversion goes all the way. */
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/digest.h"
#include "common/encoding.h"
#include "policy/image/layer_image.h"

static char out_dir[] = "/tmp/parma-fuzz-layer-XXXXXX";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		if (!mkdtemp(out_dir))
			abort();
		ready = 1;
	}
	char blob[PATH_MAX + 64], digest[LAYER_DIGEST_STR_MAX], path[PATH_MAX];
	uint8_t md[SHA256_LEN];
	snprintf(blob, sizeof(blob), "%s/blob", out_dir);
	int fd = open(blob, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
		abort();
	close(fd);
	digest_sha256(data, size, md);
	memcpy(digest, "sha256:", 7);
	hex_encode(md, SHA256_LEN, digest + 7);

	struct layer_convert_opts o = {
		.expected_digest = digest,
		.expected_size = size,
		.max_unpacked = 64u << 20, /* keep hostile sizes cheap */
		.threads = 2,
	};
	struct layer_image_info info;
	struct errbuf eb = { 0 };
	int ret = layer_image_convert(blob, out_dir, &o, &info, &eb);
	if (ret == 0) {
		struct layer_image_info again;
		if (layer_image_open(out_dir, digest, &again, &eb) ||
		    memcmp(again.root_hash, info.root_hash, sizeof(info.root_hash)))
			abort(); /* a converted layer must read back */
	} else if (!eb.msg[0]) {
		abort(); /* every failure says why */
	}
	layer_image_path(out_dir, digest, ".img", path, sizeof(path));
	unlink(path);
	layer_image_path(out_dir, digest, ".json", path, sizeof(path));
	unlink(path);
	unlink(blob);
	return 0;
}
