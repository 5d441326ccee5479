/* `parma measure`: the expected SEV-SNP launch MEASUREMENT of a launch config.
 *
 * Two modes:
 *   parma (default)  stage0 firmware + boot descriptor + ACPI tables, as the
 *                    Parma VMM launches them (policy/measure/parma_launch.h);
 *   ovmf             QEMU + OVMF with the semantics of sev-snp-measure, to
 *                    cross-check against that standard tool.
 * HOST_DATA is not part of the MEASUREMENT (it is a LAUNCH_FINISH input); it is
 * printed alongside when a policy or host data is given. */
#include "policy/measure/measure_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/digest.h"
#include "common/encoding.h"
#include "common/errbuf.h"
#include "common/fileio.h"
#include "policy/measure/launch_digest.h"
#include "policy/measure/ovmf.h"
#include "policy/measure/parma_launch.h"
#include "policy/measure/vcpu_types.h"
#include "common/guest_abi/layout.h"
#include "common/guest_abi/snp_layout.h"

#define MAX_INPUT (1ull << 32)
/* The help text states these defaults. */
_Static_assert(LAYOUT_BOOT_DESC == 0x30000, "update --boot-descriptor-gpa's default in usage");
_Static_assert(LAYOUT_ACPI == 0xe0000, "update --acpi-gpa's default in usage");

static const char usage[] =
	"Usage: parma measure [options]\n"
	"Compute the expected SEV-SNP launch MEASUREMENT (and HOST_DATA).\n"
	"\n"
	"Parma launch (default mode):\n"
	"  --firmware FILE          stage0 firmware ELF\n"
	"  --boot-descriptor FILE   boot descriptor blob (FDT) as the VMM loads it\n"
	"  --acpi FILE              ACPI tables blob as the VMM loads it (optional)\n"
	"  --boot-descriptor-gpa A  (default 0x30000)   --acpi-gpa A (default 0xe0000)\n"
	"OVMF launch (sev-snp-measure semantics):\n"
	"  --ovmf FILE              OVMF image (its footer table is always read)\n"
	"  --ovmf-hash HEX          digest of the OVMF pages: start the chain there\n"
	"  --kernel FILE --initrd FILE --append STR   measured direct boot (the firmware must\n"
	"                           have an SNP_KERNEL_HASHES section; otherwise an error)\n"
	"  --vcpu-type NAME | --vcpu-sig N | --vcpu-family F --vcpu-model M --vcpu-stepping S\n"
	"Common:\n"
	"  --vcpus N                number of vCPUs (default 1)\n"
	"  --guest-features N       VMSA SEV_FEATURES (default 0x1 = SNPActive)\n"
	"  --policy FILE | --host-data HEX   HOST_DATA = SHA-256(policy bytes)\n"
	"  --output-format hex|base64 (default hex)\n"
	"  --json                   JSON with every measured page (gpa, type, digest)\n"
	"Exit: 0 ok, 2 usage, 3 invalid input, 5 internal error.\n"
	"\n"
	"The descriptor and ACPI blobs are what `parma boot --snp --snp-launch-dir DIR` writes;\n"
	"`parma boot --snp-predict <boot options>` computes the same MEASUREMENT straight from\n"
	"a kernel, initrd and command line, without SNP hardware.\n";

struct measure_args {
	const char *firmware, *boot_desc, *acpi, *ovmf, *ovmf_hash, *kernel, *initrd, *append;
	const char *vcpu_type, *policy, *host_data;
	uint64_t boot_desc_gpa, acpi_gpa, guest_features, vcpu_sig;
	long vcpu_family, vcpu_model, vcpu_stepping;
	bool have_sig;
	unsigned vcpus;
	bool base64, json;
};

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;
	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static void encode(const struct measure_args *a, const uint8_t *in, size_t len, char *out)
{
	if (a->base64)
		base64_encode(in, len, out);
	else
		hex_encode(in, len, out);
}

/* --json: one entry per measured page. */
static void record_page(void *opaque, const struct launch_page_record *rec)
{
	json_object *pages = opaque, *o = json_object_new_object();
	char hex[2 * SNP_LD_LEN + 1], gpa[24];

	snprintf(gpa, sizeof(gpa), "0x%llx", (unsigned long long)rec->gpa);
	json_object_object_add(o, "index", json_object_new_int64((int64_t)rec->index));
	json_object_object_add(o, "gpa", json_object_new_string(gpa));
	json_object_object_add(o, "type", json_object_new_string(snp_page_type_name(rec->type)));
	json_object_object_add(o, "item", json_object_new_string(rec->label));
	hex_encode(rec->contents, SNP_LD_LEN, hex);
	json_object_object_add(o, "contents", json_object_new_string(hex));
	hex_encode(rec->digest, SNP_LD_LEN, hex);
	json_object_object_add(o, "digest", json_object_new_string(hex));
	json_object_array_add(pages, o);
}

static int read_file(const char *prog, const char *path, uint8_t **data, size_t *len)
{
	struct errbuf eb = { 0 };
	if (file_read_all(path, MAX_INPUT, data, len, &eb))
		return cli_error(prog, CLI_BAD_INPUT, "%s", errbuf_msg(&eb));
	return 0;
}

/* Measured images can be large: map regular files instead of copying them
 * (the digest reads every byte once). Falls back to reading (pipes, empty
 * files). Release with unmap_file(). */
struct mapped {
	uint8_t *data;
	size_t len;
	bool is_map;
};

static int map_file(const char *prog, const char *path, struct mapped *m)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	memset(m, 0, sizeof(*m));
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (uint64_t)st.st_size <= MAX_INPUT) {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
		close(fd);
		if (p != MAP_FAILED) {
			m->data = p;
			m->len = (size_t)st.st_size;
			m->is_map = true;
			return 0;
		}
	} else if (fd >= 0) {
		close(fd);
	}
	return read_file(prog, path, &m->data, &m->len);
}

static void unmap_file(struct mapped *m)
{
	if (m->is_map)
		munmap(m->data, m->len);
	else
		free(m->data);
	memset(m, 0, sizeof(*m));
}

static int file_sha256(const char *prog, const char *path, uint8_t out[32])
{
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = read_file(prog, path, &data, &len);
	if (rc)
		return rc;
	rc = digest_sha256(data, len, out) ? cli_error(prog, CLI_INTERNAL, "SHA-256 failed") : 0;
	free(data);
	return rc;
}

static int measure_ovmf(const char *prog, const struct measure_args *a, struct launch_digest *d)
{
	struct ovmf_measure_input in = { 0 };
	struct ovmf_info info;
	struct errbuf eb = { 0 };
	struct mapped map;
	uint8_t *img, seed[SNP_LD_LEN];
	size_t len;
	int rc;

	rc = map_file(prog, a->ovmf, &map);
	if (rc)
		return rc;
	img = map.data;
	len = map.len;
	if (ovmf_parse(img, len, &info, &eb)) {
		rc = cli_error(prog, CLI_BAD_INPUT, "%s: %s", a->ovmf, errbuf_msg(&eb));
		goto out;
	}
	if (a->ovmf_hash) {
		if (hex_decode(a->ovmf_hash, seed, sizeof(seed))) {
			rc = cli_usage_error(prog, "--ovmf-hash: expected 96 hex digits");
			goto out;
		}
		in.seed = seed;
	}
	in.ovmf = img;
	in.ovmf_len = len;
	in.info = &info;
	in.vcpus = a->vcpus;
	in.vcpu_sig = (uint32_t)a->vcpu_sig;
	in.guest_features = a->guest_features;
	if (a->kernel) {
		in.has_kernel = true;
		rc = file_sha256(prog, a->kernel, in.kernel_sha256);
		if (!rc && a->initrd)
			rc = file_sha256(prog, a->initrd, in.initrd_sha256);
		else if (!rc)
			rc = digest_sha256("", 0, in.initrd_sha256);
		/* QEMU hashes the command line with its terminating NUL. */
		if (!rc)
			rc = digest_sha256(a->append ? a->append : "",
					   a->append ? strlen(a->append) + 1 : 1, in.cmdline_sha256);
		if (rc)
			goto out;
	}
	if (ovmf_measure(d, &in, &eb))
		rc = cli_error(prog, CLI_BAD_INPUT, "%s: %s", a->ovmf, errbuf_msg(&eb));
out:
	unmap_file(&map);
	return rc;
}

static int measure_parma(const char *prog, const struct measure_args *a, uint8_t out[SNP_LD_LEN],
			 json_object *pages)
{
	struct parma_launch_input in = { 0 };
	struct parma_firmware fw = { 0 };
	struct errbuf eb = { 0 };
	struct mapped elf = { 0 }, desc = { 0 }, acpi = { 0 };
	int rc;

	rc = map_file(prog, a->firmware, &elf);
	if (!rc)
		rc = map_file(prog, a->boot_desc, &desc);
	if (!rc && a->acpi)
		rc = map_file(prog, a->acpi, &acpi);
	if (rc)
		goto out;
	if (parma_firmware_load(elf.data, elf.len, &fw, &eb)) {
		rc = cli_error(prog, CLI_BAD_INPUT, "%s: %s", a->firmware, errbuf_msg(&eb));
		goto out;
	}
	in.fw = &fw;
	in.boot_desc = desc.data;
	in.boot_desc_len = desc.len;
	in.boot_desc_gpa = a->boot_desc_gpa;
	in.acpi = acpi.data;
	in.acpi_len = acpi.len;
	in.acpi_gpa = a->acpi_gpa;
	in.secrets_gpa = SNP_LAYOUT_SECRETS;
	in.cpuid_gpa = SNP_LAYOUT_CPUID;
	in.vcpus = a->vcpus;
	in.guest_features = a->guest_features;
	if (parma_launch_measure(&in, pages ? record_page : NULL, pages, out, &eb))
		rc = cli_error(prog, CLI_BAD_INPUT, "%s", errbuf_msg(&eb));
out:
	parma_firmware_free(&fw);
	unmap_file(&elf);
	unmap_file(&desc);
	unmap_file(&acpi);
	return rc;
}

/* Option parse functions (common/cli.h). */

static int opt_format(const char *prog, char *value, void *dest)
{
	if (strcmp(value, "hex") && strcmp(value, "base64"))
		return cli_usage_error(prog, "--output-format: expected hex or base64");
	*(bool *)dest = !strcmp(value, "base64");
	return 0;
}

static int page_gpa(const char *prog, const char *name, const char *value, uint64_t *out)
{
	uint64_t v;
	if (parse_u64(value, 0xffffffffull, &v) || (v & (SNP_PAGE_SIZE - 1)))
		return cli_usage_error(prog, "%s: expected a page-aligned address", name);
	*out = v;
	return 0;
}

static int opt_boot_desc_gpa(const char *prog, char *value, void *dest)
{
	return page_gpa(prog, "--boot-descriptor-gpa", value, dest);
}

static int opt_acpi_gpa(const char *prog, char *value, void *dest)
{
	return page_gpa(prog, "--acpi-gpa", value, dest);
}

static int opt_vcpus(const char *prog, char *value, void *dest)
{
	uint64_t v;
	if (parse_u64(value, SNP_PLAN_MAX_VCPUS, &v) || v == 0)
		return cli_usage_error(prog, "--vcpus: expected 1..%u", SNP_PLAN_MAX_VCPUS);
	*(unsigned *)dest = (unsigned)v;
	return 0;
}

static int opt_features(const char *prog, char *value, void *dest)
{
	if (parse_u64(value, UINT64_MAX, dest))
		return cli_usage_error(prog, "--guest-features: expected a number");
	return 0;
}

static int opt_vcpu_sig(const char *prog, char *value, void *dest)
{
	struct measure_args *a = dest;
	if (parse_u64(value, 0xffffffffull, &a->vcpu_sig))
		return cli_usage_error(prog, "--vcpu-sig: expected a 32-bit number");
	a->have_sig = true;
	return 0;
}

static int vcpu_byte(const char *prog, const char *name, const char *value, long *out)
{
	uint64_t v;
	if (parse_u64(value, 255, &v))
		return cli_usage_error(prog, "%s: expected 0..255", name);
	*out = (long)v;
	return 0;
}

static int opt_vcpu_family(const char *prog, char *value, void *dest)
{
	return vcpu_byte(prog, "--vcpu-family", value, dest);
}

static int opt_vcpu_model(const char *prog, char *value, void *dest)
{
	return vcpu_byte(prog, "--vcpu-model", value, dest);
}

static int opt_vcpu_stepping(const char *prog, char *value, void *dest)
{
	return vcpu_byte(prog, "--vcpu-stepping", value, dest);
}

static int parse_args(const char *prog, int argc, char **argv, struct measure_args *a)
{
	memset(a, 0, sizeof(*a));
	a->vcpus = 1;
	a->guest_features = SNP_SEV_FEAT_SNP_ACTIVE;
	a->boot_desc_gpa = LAYOUT_BOOT_DESC;
	a->acpi_gpa = LAYOUT_ACPI;
	a->vcpu_family = a->vcpu_model = a->vcpu_stepping = -1;
	const struct cli_opt opts[] = {
		CLI_STRING("firmware", 0, &a->firmware),
		CLI_STRING("boot-descriptor", 0, &a->boot_desc),
		CLI_STRING("acpi", 0, &a->acpi),
		CLI_FUNC("boot-descriptor-gpa", 0, opt_boot_desc_gpa, &a->boot_desc_gpa),
		CLI_FUNC("acpi-gpa", 0, opt_acpi_gpa, &a->acpi_gpa),
		CLI_STRING("ovmf", 0, &a->ovmf),
		CLI_STRING("ovmf-hash", 0, &a->ovmf_hash),
		CLI_STRING("kernel", 0, &a->kernel),
		CLI_STRING("initrd", 0, &a->initrd),
		CLI_STRING("append", 0, &a->append),
		CLI_STRING("vcpu-type", 0, &a->vcpu_type),
		CLI_FUNC("vcpu-sig", 0, opt_vcpu_sig, a),
		CLI_FUNC("vcpu-family", 0, opt_vcpu_family, &a->vcpu_family),
		CLI_FUNC("vcpu-model", 0, opt_vcpu_model, &a->vcpu_model),
		CLI_FUNC("vcpu-stepping", 0, opt_vcpu_stepping, &a->vcpu_stepping),
		CLI_FUNC("vcpus", 0, opt_vcpus, &a->vcpus),
		CLI_FUNC("guest-features", 0, opt_features, &a->guest_features),
		CLI_STRING("policy", 0, &a->policy),
		CLI_STRING("host-data", 0, &a->host_data),
		CLI_FUNC("output-format", 0, opt_format, &a->base64),
		CLI_FLAG("json", 0, &a->json),
	};
	int first, rc = cli_parse_options(prog, opts, CLI_ARRAY_SIZE(opts), 0, argc, argv, &first);
	if (rc)
		return rc;
	if (first < argc)
		return cli_usage_error(prog, "unexpected argument '%s'", argv[first]);
	if (!a->ovmf == !a->firmware)
		return cli_usage_error(prog, "give exactly one of --firmware (Parma) or --ovmf");
	if (a->policy && a->host_data)
		return cli_usage_error(prog, "give --policy or --host-data, not both");
	if (a->firmware) {
		if (!a->boot_desc)
			return cli_usage_error(prog, "--firmware needs --boot-descriptor");
		if (a->kernel || a->initrd || a->append || a->ovmf_hash || a->vcpu_type ||
		    a->have_sig || a->vcpu_family >= 0)
			return cli_usage_error(prog,
					       "kernel/initrd/append and vCPU type options belong to "
					       "--ovmf mode (Parma binds them via the boot descriptor)");
		return 0;
	}
	if (a->vcpu_type) {
		uint32_t sig;
		if (vcpu_type_signature(a->vcpu_type, &sig))
			return cli_usage_error(prog, "--vcpu-type: unknown type '%s'", a->vcpu_type);
		a->vcpu_sig = sig;
		a->have_sig = true;
	} else if (a->vcpu_family >= 0 || a->vcpu_model >= 0 || a->vcpu_stepping >= 0) {
		if (a->vcpu_family < 0 || a->vcpu_model < 0 || a->vcpu_stepping < 0)
			return cli_usage_error(prog, "--vcpu-family, --vcpu-model and "
						     "--vcpu-stepping go together");
		a->vcpu_sig = vcpu_signature((unsigned)a->vcpu_family, (unsigned)a->vcpu_model,
					     (unsigned)a->vcpu_stepping);
		a->have_sig = true;
	}
	if (!a->have_sig)
		return cli_usage_error(prog, "--ovmf needs --vcpu-type, --vcpu-sig or "
					     "--vcpu-family/--vcpu-model/--vcpu-stepping");
	if ((a->initrd || a->append) && !a->kernel)
		return cli_usage_error(prog, "--initrd and --append need --kernel");
	return 0;
}

int measure_cli_main(int argc, char **argv)
{
	const char *prog = argv[0];
	struct measure_args a;
	struct launch_digest d = { 0 };
	uint8_t ld[SNP_LD_LEN], host_data[SHA256_LEN];
	bool have_host_data = false;
	json_object *root = NULL, *pages = NULL;
	char text[128];
	int rc;

	if (cli_wants_help(argc, argv)) {
		fputs(usage, stdout);
		return CLI_OK;
	}
	rc = parse_args(prog, argc, argv, &a);
	if (rc)
		return rc;
	if (a.host_data) {
		if (hex_decode(a.host_data, host_data, sizeof(host_data)))
			return cli_usage_error(prog, "--host-data: expected 64 hex digits");
		have_host_data = true;
	} else if (a.policy) {
		rc = file_sha256(prog, a.policy, host_data);
		if (rc)
			return rc;
		have_host_data = true;
	}
	if (a.json) {
		root = json_object_new_object();
		pages = json_object_new_array();
	}

	if (a.ovmf) {
		if (launch_digest_init(&d, NULL)) {
			rc = cli_error(prog, CLI_INTERNAL, "cannot start a SHA-384 digest");
			goto out;
		}
		d.on_page = pages ? record_page : NULL;
		d.opaque = pages;
		rc = measure_ovmf(prog, &a, &d);
		memcpy(ld, d.ld, sizeof(ld));
		launch_digest_fini(&d);
	} else {
		rc = measure_parma(prog, &a, ld, pages);
	}
	if (rc)
		goto out;

	if (a.json) {
		json_object_object_add(root, "mode",
				       json_object_new_string(a.ovmf ? "ovmf" : "parma"));
		encode(&a, ld, sizeof(ld), text);
		json_object_object_add(root, "measurement", json_object_new_string(text));
		if (have_host_data) {
			encode(&a, host_data, sizeof(host_data), text);
			json_object_object_add(root, "host_data", json_object_new_string(text));
		}
		json_object_object_add(root, "vcpus", json_object_new_int((int)a.vcpus));
		snprintf(text, sizeof(text), "0x%llx", (unsigned long long)a.guest_features);
		json_object_object_add(root, "guest_features", json_object_new_string(text));
		json_object_object_add(root, "pages", json_object_get(pages));
		puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
							    JSON_C_TO_STRING_NOSLASHESCAPE));
	} else {
		encode(&a, ld, sizeof(ld), text);
		printf("measurement: %s\n", text);
		if (have_host_data) {
			encode(&a, host_data, sizeof(host_data), text);
			printf("host_data: %s\n", text);
		}
	}
out:
	json_object_put(pages);
	json_object_put(root);
	return rc;
}
