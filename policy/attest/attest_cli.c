/* `parma verify` (check a report and claims) and `parma report` (show a
 * report; development CA and signer). */
#include "policy/attest/attest_cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "common/cli.h"
#include "common/digest.h"
#include "common/encoding.h"
#include "common/fileio.h"
#include "policy/attest/snp_dev.h"
#include "policy/attest/snp_report.h"
#include "policy/attest/snp_verify.h"

#define REPORT_FILE_MAX (64 * 1024)
#define POLICY_FILE_MAX (16 * 1024 * 1024)

static const char dev_warning[] =
	"WARNING: DEVELOPMENT attestation. This report is signed by a local Parma dev key, not "
	"by AMD hardware: it proves nothing about the machine, its memory encryption or what "
	"it runs. Never release secrets on it.";

/* A report file: the raw 1184 bytes, or their hex (whitespace allowed).
 * Returns 0 with *len = byte count (which parse then checks), or -errno. */
static int read_report_file(const char *path, uint8_t **out, size_t *len, struct errbuf *eb)
{
	uint8_t *data;
	size_t n;
	int ret = file_read_all(path, REPORT_FILE_MAX, &data, &n, eb);
	if (ret < 0)
		return ret;
	size_t hex_digits = 0;
	bool all_hex = n > 0;
	for (size_t i = 0; i < n && all_hex; i++) {
		if (isxdigit(data[i]))
			hex_digits++;
		else if (!isspace(data[i]))
			all_hex = false;
	}
	if (all_hex && hex_digits % 2 == 0 && hex_digits >= 2 * 64) {
		char *compact = malloc(hex_digits + 1);
		size_t k = 0;
		if (!compact) {
			free(data);
			return errbuf_set(eb, ENOMEM, "out of memory");
		}
		for (size_t i = 0; i < n; i++)
			if (isxdigit(data[i]))
				compact[k++] = (char)data[i];
		compact[k] = '\0';
		ret = hex_decode_var(compact, data, n, len);
		free(compact);
		if (ret < 0) {
			free(data);
			return errbuf_set(eb, EINVAL, "%s: malformed hex", path);
		}
	} else {
		*len = n;
	}
	*out = data;
	return 0;
}

static int parse_hex_arg(const char *prog, const char *opt, const char *arg, uint8_t *out,
			 size_t len, bool allow_shorter)
{
	size_t n = 0;
	memset(out, 0, len);
	if (allow_shorter ? hex_decode_var(arg, out, len, &n) < 0 || n == 0
			  : hex_decode(arg, out, len) < 0)
		return cli_usage_error(prog, "%s: expected %s%zu hex-encoded bytes", opt,
				       allow_shorter ? "up to " : "", len);
	return 0;
}

static int parse_u32(const char *s, uint32_t max, uint32_t *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 0);
	if (errno || !*s || *end || v > max || s[0] == '-')
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* Option parse functions (common/cli.h). */

/* A hex option of a fixed size (or up to it, zero-padded); sets *given when present. */
struct hex_opt {
	const char *name; /* "--host-data" */
	uint8_t *out;
	size_t len;
	bool up_to;
	bool *given;
};

static int opt_hex(const char *prog, char *value, void *dest)
{
	const struct hex_opt *h = dest;
	if (parse_hex_arg(prog, h->name, value, h->out, h->len, h->up_to))
		return CLI_USAGE;
	if (h->given)
		*h->given = true;
	return 0;
}

/* A 32-bit number up to max, with the message it fails with; sets *given when present. */
struct u32_opt {
	uint32_t *out;
	uint32_t max;
	const char *error;
	bool *given;
};

static int opt_u32(const char *prog, char *value, void *dest)
{
	const struct u32_opt *u = dest;
	if (parse_u32(value, u->max, u->out) < 0)
		return cli_usage_error(prog, u->error, value);
	if (u->given)
		*u->given = true;
	return 0;
}

static void print_json(struct json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* ---- parma verify ---- */

/* --certs: a directory (every file in it) or a single bundle file. */
static int load_certs(struct snp_certs *certs, const char *path, struct errbuf *eb)
{
	struct stat st;
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
		uint8_t *data;
		size_t len;
		int ret = file_read_all(path, 1 << 20, &data, &len, eb);
		if (ret < 0)
			return ret;
		ret = snp_certs_add_buffer(certs, data, len, path, eb);
		free(data);
		if (ret == 0 && snp_certs_count(certs) == 0)
			return errbuf_set(eb, ENOENT, "%s: no SEV-SNP certificates found", path);
		return ret;
	}
	return snp_certs_add_dir(certs, path, eb);
}

static const char verify_usage[] =
	"Usage: %s REPORT --certs DIR [options]\n\n"
	"Verify an SEV-SNP attestation report (raw 1184 bytes or hex) against AMD's\n"
	"endorsement chain in DIR (ARK, ASK/ASVK, VCEK/VLEK; PEM or DER, single or bundled,\n"
	"any file names) and check the requested claims. Prints a JSON verdict.\n\n"
	"Options:\n"
	"  --certs DIR|FILE     certificates and CRLs (required): a directory, or one bundle\n"
	"  --policy FILE        HOST_DATA must equal SHA-256 of this file's bytes\n"
	"  --host-data HEX      HOST_DATA must equal these 32 bytes\n"
	"  --measurement HEX    MEASUREMENT must equal these 48 bytes\n"
	"  --report-data HEX    REPORT_DATA must equal these bytes (up to 64, zero-padded)\n"
	"  --min-tcb TCB        REPORTED_TCB must be at least bl=N,tee=N,snp=N,ucode=N[,fmc=N]\n"
	"                       (or 16 hex digits of a raw TCB_VERSION)\n"
	"  --vmpl N             VMPL must equal N\n"
	"  --family-id HEX      FAMILY_ID (ID block) must equal these 16 bytes\n"
	"  --image-id HEX       IMAGE_ID (ID block) must equal these 16 bytes\n"
	"  --id-key-digest HEX  ID_KEY_DIGEST must equal these 48 bytes\n"
	"  --min-guest-svn N    GUEST_SVN must be at least N\n"
	"  --product NAME       the chain must be for milan, genoa or turin\n"
	"  --at TIME            check certificate validity at this RFC 3339 time, not now\n"
	"  --require-crl        fail unless a CRL of the chain's ARK is among the certificates\n"
	"  --allow-debug        accept a guest policy that allows debugging\n"
	"  --allow-dev          accept a Parma DEVELOPMENT chain (no security!)\n"
	"  -q, --quiet          no JSON on stdout; only the exit status and errors\n\n"
	"Exit status: 0 every check and claim held; 1 rejected; 2 usage; 3 bad input.\n";

static int opt_min_tcb(const char *prog, char *value, void *dest)
{
	struct errbuf eb = { 0 };
	if (snp_claims_set_min_tcb(dest, value, &eb) < 0)
		return cli_usage_error(prog, "--min-tcb: %s", errbuf_msg(&eb));
	return 0;
}

static int opt_at(const char *prog, char *value, void *dest)
{
	struct snp_claims *claims = dest;
	struct errbuf eb = { 0 };
	if (snp_parse_rfc3339(value, &claims->time, &eb) < 0)
		return cli_usage_error(prog, "--at: %s", errbuf_msg(&eb));
	claims->have_time = true;
	return 0;
}

static int opt_chain_product(const char *prog, char *value, void *dest)
{
	enum snp_product *product = dest;
	*product = snp_product_from_name(value);
	if (*product == SNP_PRODUCT_UNKNOWN || *product == SNP_PRODUCT_DEV)
		return cli_usage_error(prog, "--product: expected milan, genoa or turin, got \"%s\"",
				       value);
	return 0;
}

int verify_cli_main(int argc, char **argv)
{
	const char *prog = argv[0];
	struct snp_claims claims;
	struct errbuf eb = { 0 };
	const char *certs_dir = NULL, *policy_file = NULL;
	bool quiet = false;
	int ret;

	memset(&claims, 0, sizeof(claims));
	struct hex_opt host_data = { "--host-data", claims.host_data, SNP_HOST_DATA_SIZE, false,
				     &claims.check_host_data },
		measurement = { "--measurement", claims.measurement, SNP_MEASUREMENT_SIZE, false,
				&claims.check_measurement },
		report_data = { "--report-data", claims.report_data, SNP_REPORT_DATA_SIZE, true,
				&claims.check_report_data },
		family_id = { "--family-id", claims.family_id, SNP_FAMILY_ID_SIZE, false,
			      &claims.check_family_id },
		image_id = { "--image-id", claims.image_id, SNP_FAMILY_ID_SIZE, false,
			     &claims.check_image_id },
		id_key = { "--id-key-digest", claims.id_key_digest, SNP_ID_DIGEST_SIZE, false,
			   &claims.check_id_key_digest };
	struct u32_opt vmpl = { &claims.vmpl, 3, "--vmpl: expected 0-3, got \"%s\"",
				&claims.check_vmpl },
		svn = { &claims.min_guest_svn, UINT32_MAX, "--min-guest-svn: expected a 32-bit number",
			&claims.check_min_guest_svn };
	const struct cli_opt opts[] = {
		CLI_STRING("certs", 0, &certs_dir),
		CLI_STRING("policy", 0, &policy_file),
		CLI_FUNC("host-data", 0, opt_hex, &host_data),
		CLI_FUNC("measurement", 0, opt_hex, &measurement),
		CLI_FUNC("report-data", 0, opt_hex, &report_data),
		CLI_FUNC("min-tcb", 0, opt_min_tcb, &claims),
		CLI_FUNC("vmpl", 0, opt_u32, &vmpl),
		CLI_FUNC("at", 0, opt_at, &claims),
		CLI_FLAG("allow-debug", 0, &claims.allow_debug),
		CLI_FLAG("allow-dev", 0, &claims.allow_dev),
		CLI_FUNC("product", 0, opt_chain_product, &claims.product),
		CLI_FLAG("require-crl", 0, &claims.require_crl),
		CLI_FUNC("family-id", 0, opt_hex, &family_id),
		CLI_FUNC("image-id", 0, opt_hex, &image_id),
		CLI_FUNC("id-key-digest", 0, opt_hex, &id_key),
		CLI_FUNC("min-guest-svn", 0, opt_u32, &svn),
		CLI_FLAG("quiet", 'q', &quiet),
	};
	const struct cli_spec spec = {
		.usage = verify_usage, .opts = opts, .n_opts = CLI_ARRAY_SIZE(opts),
		.min_operands = 1, .max_operands = 1,
		.operands_error = "too many arguments", .missing_error = "missing REPORT",
	};
	int first = cli_start(prog, &spec, argc, argv, &ret);
	if (first < 0)
		return ret;
	if (!certs_dir)
		return cli_usage_error(prog, "--certs DIR is required");
	if (policy_file && claims.check_host_data)
		return cli_usage_error(prog, "--policy and --host-data are mutually exclusive");
	const char *report_path = argv[first];

	if (policy_file) {
		uint8_t *pol;
		size_t plen;
		if (file_read_all(policy_file, POLICY_FILE_MAX, &pol, &plen, &eb) < 0)
			return cli_error(prog, CLI_BAD_INPUT, "%s", errbuf_msg(&eb));
		ret = digest_sha256(pol, plen, claims.host_data);
		free(pol);
		if (ret < 0)
			return cli_error(prog, CLI_INTERNAL, "SHA-256 failed");
		claims.check_host_data = true;
		claims.host_data_source = policy_file;
	}

	uint8_t *report;
	size_t rlen;
	if (read_report_file(report_path, &report, &rlen, &eb) < 0)
		return cli_error(prog, CLI_BAD_INPUT, "%s", errbuf_msg(&eb));

	struct snp_certs *certs = snp_certs_new();
	if (!certs) {
		free(report);
		return cli_error(prog, CLI_INTERNAL, "out of memory");
	}
	if (load_certs(certs, certs_dir, &eb) < 0) {
		free(report);
		snp_certs_free(certs);
		return cli_error(prog, CLI_BAD_INPUT, "%s", errbuf_msg(&eb));
	}

	struct snp_verdict *v = malloc(sizeof(*v));
	if (!v) {
		free(report);
		snp_certs_free(certs);
		return cli_error(prog, CLI_INTERNAL, "out of memory");
	}
	ret = snp_verify_report(certs, report, rlen, &claims, v, &eb);
	if (!quiet) {
		struct json_object *j = snp_verdict_to_json(v);
		if (j)
			print_json(j);
		json_object_put(j);
	}
	if (v->dev_chain)
		fprintf(stderr, "%s: %s\n", prog, dev_warning);
	int code = CLI_OK;
	if (ret == -EINVAL)
		code = cli_error(prog, CLI_BAD_INPUT, "%s: %s", report_path, errbuf_msg(&eb));
	else if (ret == -ENOMEM)
		code = cli_error(prog, CLI_INTERNAL, "out of memory");
	else if (ret < 0)
		code = cli_error(prog, CLI_FAILED, "REJECTED: %s: %s", v->first_failure->name,
				 v->first_failure->detail);
	free(v);
	free(report);
	snp_certs_free(certs);
	return code;
}

/* ---- parma report show ---- */

static int opt_report_product(const char *prog, char *value, void *dest)
{
	enum snp_product *product = dest;
	*product = snp_product_from_name(value);
	if (*product == SNP_PRODUCT_UNKNOWN)
		return cli_usage_error(prog, "--product: unknown product \"%s\"", value);
	return 0;
}

static int report_show_main(int argc, char **argv)
{
	const char *prog = argv[0];
	enum snp_product product = SNP_PRODUCT_UNKNOWN;
	bool json = false;
	struct errbuf eb = { 0 };

	const struct cli_opt opts[] = {
		CLI_FLAG("json", 0, &json),
		CLI_FUNC("product", 0, opt_report_product, &product),
	};
	const struct cli_spec spec = {
		.usage = "Usage: %s REPORT [--json] [--product milan|genoa|turin]\n\n"
			 "Print every field of an SEV-SNP report (raw or hex). Does NOT verify\n"
			 "it: use `parma verify` for that. --product picks the TCB layout for\n"
			 "version-2 reports, which do not name their product.\n",
		.opts = opts, .n_opts = CLI_ARRAY_SIZE(opts),
		.min_operands = 1, .max_operands = 1,
		.operands_error = "expected one REPORT file",
	};
	int rc, first = cli_start(prog, &spec, argc, argv, &rc);
	if (first < 0)
		return rc;
	const char *path = argv[first];

	uint8_t *raw;
	size_t len;
	struct snp_report r;
	if (read_report_file(path, &raw, &len, &eb) < 0)
		return cli_error(prog, CLI_BAD_INPUT, "%s", errbuf_msg(&eb));
	int ret = snp_report_parse(raw, len, &r, &eb);
	free(raw);
	if (ret < 0)
		return cli_error(prog, CLI_BAD_INPUT, "%s: %s", path, errbuf_msg(&eb));
	struct json_object *j = snp_report_to_json(&r, product);
	if (!j)
		return cli_error(prog, CLI_INTERNAL, "out of memory");
	if (json) {
		print_json(j);
	} else {
		json_object_object_foreach(j, key, val) {
			printf("%-32s %s\n", key,
			       json_object_is_type(val, json_type_string)
				       ? json_object_get_string(val)
				       : json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN));
		}
	}
	json_object_put(j);
	return CLI_OK;
}

/* ---- parma report dev-ca / dev-sign ---- */

static int report_dev_ca_main(int argc, char **argv)
{
	const char *prog = argv[0];
	struct snp_dev_ca_options o = { 0 };
	struct errbuf eb = { 0 };
	struct snp_dev_ca *ca;
	uint32_t bits = 0;

	bool have_bits = false;
	struct u32_opt rsa_bits = { &bits, 16384, "--rsa-bits: expected 2048-16384", &have_bits };
	const struct cli_opt opts[] = {
		CLI_FUNC("rsa-bits", 0, opt_u32, &rsa_bits),
	};
	const struct cli_spec spec = {
		.usage = "Usage: %s DIR [--rsa-bits N]\n\n"
			 "Create (or load, if present) a Parma DEVELOPMENT attestation CA in DIR:\n"
			 "ark.pem, ask.pem, vcek.pem (pass DIR to `parma verify --certs`) and\n"
			 "private/*.key. Reports it signs verify only with --allow-dev.\n",
		.opts = opts, .n_opts = CLI_ARRAY_SIZE(opts),
		.min_operands = 1, .max_operands = 1,
		.operands_error = "expected one DIR",
	};
	int rc, first = cli_start(prog, &spec, argc, argv, &rc);
	if (first < 0)
		return rc;
	if (have_bits && bits < 2048)
		return cli_usage_error(prog, "--rsa-bits: expected 2048-16384");
	o.rsa_bits = bits;
	const char *dir = argv[first];
	if (snp_dev_ca_open(dir, true, &o, &ca, &eb) < 0)
		return cli_error(prog, CLI_BAD_INPUT, "%s", errbuf_msg(&eb));
	char chip[2 * SNP_CHIP_ID_SIZE + 1];
	hex_encode(snp_dev_ca_chip_id(ca), SNP_CHIP_ID_SIZE, chip);
	printf("development CA: %s (certificates: ark.pem ask.pem vcek.pem)\nchip_id: %s\n",
	       dir, chip);
	fprintf(stderr, "%s: this is a DEVELOPMENT CA, not AMD: its reports prove nothing\n", prog);
	snp_dev_ca_free(ca);
	return CLI_OK;
}

static int opt_guest_policy(const char *prog, char *value, void *dest)
{
	char *end;
	errno = 0;
	*(uint64_t *)dest = strtoull(value, &end, 0);
	if (errno || *end || !*value)
		return cli_usage_error(prog, "--guest-policy: not a number");
	return 0;
}

static int report_dev_sign_main(int argc, char **argv)
{
	const char *prog = argv[0];
	const char *ca_dir = NULL, *out = NULL, *policy_file = NULL;
	struct snp_report r;
	struct snp_dev_ca *ca = NULL;
	struct errbuf eb = { 0 };
	uint8_t meas[SNP_MEASUREMENT_SIZE] = { 0 }, host[SNP_HOST_DATA_SIZE] = { 0 },
		rdata[SNP_REPORT_DATA_SIZE] = { 0 };
	bool have_host = false;
	uint64_t gpol = SNP_POLICY_RESERVED_MBO | SNP_POLICY_SMT;
	uint32_t vmpl = 0, svn = 0;

	struct hex_opt meas_opt = { "--measurement", meas, sizeof(meas), false, NULL },
		host_opt = { "--host-data", host, sizeof(host), false, &have_host },
		rdata_opt = { "--report-data", rdata, sizeof(rdata), true, NULL };
	struct u32_opt vmpl_opt = { &vmpl, 3, "--vmpl: expected 0-3", NULL },
		svn_opt = { &svn, UINT32_MAX, "--guest-svn: expected a 32-bit number", NULL };
	const struct cli_opt opts[] = {
		CLI_STRING("ca", 0, &ca_dir),
		CLI_FUNC("measurement", 0, opt_hex, &meas_opt),
		CLI_FUNC("host-data", 0, opt_hex, &host_opt),
		CLI_STRING("policy", 0, &policy_file),
		CLI_FUNC("report-data", 0, opt_hex, &rdata_opt),
		CLI_FUNC("guest-policy", 0, opt_guest_policy, &gpol),
		CLI_FUNC("vmpl", 0, opt_u32, &vmpl_opt),
		CLI_FUNC("guest-svn", 0, opt_u32, &svn_opt),
		CLI_STRING("output", 'o', &out),
	};
	const struct cli_spec spec = {
		.usage = "Usage: %s --ca DIR -o OUT [--measurement HEX] [--host-data HEX | "
			 "--policy FILE]\n"
			 "        [--report-data HEX] [--guest-policy 0xN] [--vmpl N] "
			 "[--guest-svn N]\n\n"
			 "Sign an SNP-format report with the DEVELOPMENT CA in DIR (created if\n"
			 "missing). --policy sets HOST_DATA to the SHA-256 of the file's bytes.\n"
			 "The guest policy defaults to 0x30000 (debug off).\n",
		.opts = opts, .n_opts = CLI_ARRAY_SIZE(opts),
	};
	int rc, first = cli_start(prog, &spec, argc, argv, &rc);
	if (first < 0)
		return rc;
	if (!ca_dir || !out)
		return cli_usage_error(prog, "--ca DIR and -o OUT are required");
	if (have_host && policy_file)
		return cli_usage_error(prog, "--policy and --host-data are mutually exclusive");
	if (policy_file) {
		uint8_t *pol;
		size_t plen;
		if (file_read_all(policy_file, POLICY_FILE_MAX, &pol, &plen, &eb) < 0)
			return cli_error(prog, CLI_BAD_INPUT, "%s", errbuf_msg(&eb));
		int ret = digest_sha256(pol, plen, host);
		free(pol);
		if (ret < 0)
			return cli_error(prog, CLI_INTERNAL, "SHA-256 failed");
	}
	if (snp_dev_ca_open(ca_dir, true, NULL, &ca, &eb) < 0)
		return cli_error(prog, CLI_BAD_INPUT, "%s", errbuf_msg(&eb));
	snp_dev_report_init(ca, &r);
	memcpy(r.measurement, meas, sizeof(meas));
	memcpy(r.host_data, host, sizeof(host));
	memcpy(r.report_data, rdata, sizeof(rdata));
	r.policy = gpol;
	r.vmpl = vmpl;
	r.guest_svn = svn;
	uint8_t bytes[SNP_REPORT_SIZE];
	struct snp_report parsed;
	int code = CLI_OK;
	if (snp_dev_sign_report(ca, &r, bytes, &eb) < 0)
		code = cli_error(prog, CLI_INTERNAL, "%s", errbuf_msg(&eb));
	else if (snp_report_parse(bytes, sizeof(bytes), &parsed, &eb) < 0)
		/* e.g. a guest policy with reserved bits: refuse to write a report
		 * that no parser accepts */
		code = cli_error(prog, CLI_BAD_INPUT, "%s", errbuf_msg(&eb));
	else if (file_write_atomic(out, bytes, sizeof(bytes), 0644, &eb) < 0)
		code = cli_error(prog, CLI_BAD_INPUT, "%s", errbuf_msg(&eb));
	if (code == CLI_OK)
		fprintf(stderr, "%s: wrote a DEVELOPMENT-signed report to %s\n", prog, out);
	snp_dev_ca_free(ca);
	return code;
}

int report_cli_main(int argc, char **argv)
{
	static const struct cli_command commands[] = {
		{ "show", "print every field of an SNP report (no verification)", report_show_main },
		{ "dev-ca", "create a DEVELOPMENT attestation CA (not AMD)", report_dev_ca_main },
		{ "dev-sign", "sign an SNP-format report with a DEVELOPMENT CA", report_dev_sign_main },
	};
	return cli_dispatch(argv[0], "SEV-SNP attestation reports.", commands,
			    CLI_ARRAY_SIZE(commands), argc, argv);
}
