/* snp_cli: the SEV-SNP options of `parma boot` (kept here so the SNP launch
 * stays in vmm/snp_*):
 *   --snp                launch as an SEV-SNP guest (needs --firmware stage0)
 *   --snp-policy N       guest policy (default 0x30000)
 *   --policy FILE        HOST_DATA = SHA-256 of the execution policy file
 *   --host-data HEX      HOST_DATA given directly (64 hex digits)
 *   --snp-launch-dir DIR create DIR; write boot-descriptor.dtb and acpi.bin as
 *                        measured and cpuid-page.bin as launched
 *   --snp-predict        print the expected MEASUREMENT and exit (no hardware) */
#ifndef PARMA_VMM_SNP_CLI_H
#define PARMA_VMM_SNP_CLI_H

#include <getopt.h>
#include <stdbool.h>

#include "vmm/snp_machine.h"
#include "vmm/vm.h"

#define SNP_OPT_SNP 0x5301
#define SNP_OPT_POLICY_BITS 0x5302
#define SNP_OPT_HOST_DATA 0x5303
#define SNP_OPT_POLICY_FILE 0x5304
#define SNP_OPT_LAUNCH_DIR 0x5305
#define SNP_OPT_PREDICT 0x5306
#define SNP_OPT_ID_KEY 0x5307
#define SNP_OPT_AUTHOR_KEY 0x5308
#define SNP_OPT_FAMILY_ID 0x5309
#define SNP_OPT_IMAGE_ID 0x530a
#define SNP_OPT_GUEST_SVN 0x530b

#define SNP_BOOT_OPTIONS                                                   \
	{ "snp", no_argument, NULL, SNP_OPT_SNP },                         \
	{ "snp-policy", required_argument, NULL, SNP_OPT_POLICY_BITS },    \
	{ "host-data", required_argument, NULL, SNP_OPT_HOST_DATA },       \
	{ "policy", required_argument, NULL, SNP_OPT_POLICY_FILE },        \
	{ "snp-launch-dir", required_argument, NULL, SNP_OPT_LAUNCH_DIR }, \
	{ "snp-predict", no_argument, NULL, SNP_OPT_PREDICT },            \
	{ "id-key", required_argument, NULL, SNP_OPT_ID_KEY },             \
	{ "author-key", required_argument, NULL, SNP_OPT_AUTHOR_KEY },     \
	{ "family-id", required_argument, NULL, SNP_OPT_FAMILY_ID },       \
	{ "image-id", required_argument, NULL, SNP_OPT_IMAGE_ID },         \
	{ "guest-svn", required_argument, NULL, SNP_OPT_GUEST_SVN }

#define SNP_BOOT_USAGE                                                                  \
	"  --snp              launch as an AMD SEV-SNP guest (with --firmware stage0)\n"   \
	"  --snp-policy N     SNP guest policy (default 0x30000)\n"                        \
	"  --policy FILE      HOST_DATA = SHA-256 of this execution policy\n"              \
	"  --host-data HEX    HOST_DATA as 64 hex digits\n"                               \
	"  --snp-launch-dir D create D; write the measured descriptor and ACPI blobs and\n"  \
	"                     the CPUID page there\n"                                      \
	"  --snp-predict      print the MEASUREMENT (and HOST_DATA) this --snp launch\n"   \
	"                     would get, without SNP hardware or /dev/kvm; do not boot\n"  \
	"  --id-key PEM       sign an ID block (ECDSA P-384) checked at LAUNCH_FINISH\n"   \
	"  --author-key PEM   sign the ID key with this author key\n"                      \
	"  --family-id HEX / --image-id HEX (32 hex digits) / --guest-svn N  ID block fields\n"

struct snp_boot_opts {
	bool enabled;
	struct snp_machine_config cfg;
	bool have_host_data;
	bool predict;
	const char *id_key_path, *author_key_path;
	const char *policy_file;
	struct snp_machine *sm;
};

/* One getopt result: 1 if it was an SNP option (ok), 0 if not ours, or
 * -(exit code) after printing a usage error. */
int snp_boot_option(const char *prog, int opt, const char *arg, struct snp_boot_opts *o);
/* After parsing: set up the SNP hooks in cfg (if --snp). 0: boot; 1: done
 * (--snp-predict printed its answer), exit 0; or -(exit code). */
int snp_boot_prepare(const char *prog, struct snp_boot_opts *o, struct vm_config *cfg);
/* After the launch: print the MEASUREMENT and HOST_DATA on stderr. */
void snp_boot_report(const char *prog, const struct snp_boot_opts *o);
void snp_boot_cleanup(struct snp_boot_opts *o);

#endif
