#include "vmm/snp_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/digest.h"
#include "common/encoding.h"
#include "common/fileio.h"

#include <openssl/pem.h>
#include "vmm/snp_predict.h"

int snp_opt_policy(const char *prog, char *arg, void *dest)
{
	struct snp_boot_opts *o = dest;
	struct errbuf eb = { 0 };
	char *end;
	errno = 0;
	o->cfg.launch.policy = strtoull(arg, &end, 0);
	if (errno || *end || !*arg || *arg == '-')
		return cli_usage_error(prog, "--snp-policy: expected a number (e.g. 0x30000)");
	/* What no kernel accepts; the launch checks the host's own set. */
	if (snp_policy_check(o->cfg.launch.policy, SNP_KVM_POLICY_ANY, &eb))
		return cli_usage_error(prog, "--snp-policy: %s", errbuf_msg(&eb));
	return 0;
}

int snp_opt_host_data(const char *prog, char *arg, void *dest)
{
	struct snp_boot_opts *o = dest;
	if (hex_decode(arg, o->cfg.launch.host_data, 32))
		return cli_usage_error(prog, "--host-data: expected 64 hex digits");
	o->have_host_data = true;
	return 0;
}

int snp_opt_predict(const char *prog, char *arg, void *dest)
{
	struct snp_boot_opts *o = dest;
	(void)prog;
	(void)arg;
	o->predict = o->enabled = true;
	return 0;
}

int snp_opt_family_id(const char *prog, char *arg, void *dest)
{
	struct snp_boot_opts *o = dest;
	if (hex_decode(arg, o->cfg.launch.id.family_id, 16))
		return cli_usage_error(prog, "--family-id: expected 32 hex digits");
	return 0;
}

int snp_opt_image_id(const char *prog, char *arg, void *dest)
{
	struct snp_boot_opts *o = dest;
	if (hex_decode(arg, o->cfg.launch.id.image_id, 16))
		return cli_usage_error(prog, "--image-id: expected 32 hex digits");
	return 0;
}

int snp_opt_guest_svn(const char *prog, char *arg, void *dest)
{
	struct snp_boot_opts *o = dest;
	char *end;
	errno = 0;
	unsigned long svn = strtoul(arg, &end, 0);
	if (errno || *end || !*arg || svn > UINT32_MAX)
		return cli_usage_error(prog, "--guest-svn: expected a 32-bit number");
	o->cfg.launch.id.guest_svn = (uint32_t)svn;
	return 0;
}

static EVP_PKEY *load_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	return k;
}

static int prepare(const char *prog, struct snp_boot_opts *o, struct vm_config *cfg)
{
	struct errbuf eb = { 0 };
	uint8_t *data = NULL;
	size_t len = 0;

	if (!o->enabled) {
		if (o->have_host_data || o->policy_file || o->cfg.launch.policy || o->cfg.launch_dir ||
		    o->id_key_path || o->author_key_path)
			return -cli_usage_error(prog, "--snp-policy, --policy and --host-data need --snp");
		return 0;
	}
	if (!cfg->firmware)
		return -cli_usage_error(prog, "--snp boots the stage0 firmware: give --firmware");
	if (o->have_host_data && o->policy_file)
		return -cli_usage_error(prog, "give --policy or --host-data, not both");
	if (o->author_key_path && !o->id_key_path)
		return -cli_usage_error(prog, "--author-key needs --id-key");
	if (o->id_key_path) {
		o->cfg.launch.id.id_key = load_key(o->id_key_path);
		if (!o->cfg.launch.id.id_key)
			return -cli_error(prog, CLI_BAD_INPUT, "%s: not a PEM private key",
					  o->id_key_path);
	}
	if (o->author_key_path) {
		o->cfg.launch.id.author_key = load_key(o->author_key_path);
		if (!o->cfg.launch.id.author_key)
			return -cli_error(prog, CLI_BAD_INPUT, "%s: not a PEM private key",
					  o->author_key_path);
	}
	if (o->policy_file) {
		if (file_read_all(o->policy_file, 16u << 20, &data, &len, &eb))
			return -cli_error(prog, CLI_BAD_INPUT, "%s", errbuf_msg(&eb));
		digest_sha256(data, len, o->cfg.launch.host_data);
		free(data);
	}
	if (o->predict) {
		uint8_t ld[48];
		char hex[97];
		if (snp_predict_measurement(cfg, &o->cfg, ld, &eb))
			return -cli_error(prog, CLI_BAD_INPUT, "%s", errbuf_msg(&eb));
		hex_encode(ld, sizeof(ld), hex);
		printf("measurement: %s\n", hex);
		if (o->have_host_data || o->policy_file) {
			hex_encode(o->cfg.launch.host_data, 32, hex);
			printf("host_data: %s\n", hex);
		}
		return 1;
	}
	if (snp_machine_create(&o->cfg, &o->sm, &eb))
		return -cli_error(prog, CLI_UNAVAILABLE, "%s", errbuf_msg(&eb));
	cfg->hooks = snp_machine_hooks(o->sm);
	return 0;
}

int snp_boot_prepare(const char *prog, struct snp_boot_opts *o, struct vm_config *cfg)
{
	int rc = prepare(prog, o, cfg);
	if (rc) /* not booting: nothing else will clean up */
		snp_boot_cleanup(o);
	return rc;
}

void snp_boot_report(const char *prog, const struct snp_boot_opts *o)
{
	uint8_t ld[48];
	char hex[97], hd[65];
	if (!o->sm || snp_machine_measurement(o->sm, ld))
		return;
	hex_encode(ld, sizeof(ld), hex);
	hex_encode(o->cfg.launch.host_data, 32, hd);
	fprintf(stderr, "%s: SEV-SNP launch finished: MEASUREMENT %s HOST_DATA %s\n", prog, hex, hd);
}

void snp_boot_cleanup(struct snp_boot_opts *o)
{
	EVP_PKEY_free(o->cfg.launch.id.id_key);
	EVP_PKEY_free(o->cfg.launch.id.author_key);
	o->cfg.launch.id.id_key = o->cfg.launch.id.author_key = NULL;
	snp_machine_destroy(o->sm);
	o->sm = NULL;
}
