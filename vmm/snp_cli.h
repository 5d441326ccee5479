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

#include <stdbool.h>

#include "common/cli.h"
#include "vmm/snp_machine.h"
#include "vmm/vm.h"

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

/* The SNP options' rows of `parma boot`'s option table (common/cli.h), writing into the
 * struct snp_boot_opts at o; the parse functions below take that struct as dest. */
#define SNP_BOOT_OPTIONS(o)                                               \
	CLI_FLAG("snp", 0, &(o)->enabled),                                \
	CLI_FUNC("snp-policy", 0, snp_opt_policy, (o)),                   \
	CLI_FUNC("host-data", 0, snp_opt_host_data, (o)),                 \
	CLI_STRING("policy", 0, &(o)->policy_file),                       \
	CLI_STRING("snp-launch-dir", 0, &(o)->cfg.launch_dir),            \
	CLI_FUNC_FLAG("snp-predict", 0, snp_opt_predict, (o)),            \
	CLI_STRING("id-key", 0, &(o)->id_key_path),                       \
	CLI_STRING("author-key", 0, &(o)->author_key_path),               \
	CLI_FUNC("family-id", 0, snp_opt_family_id, (o)),                 \
	CLI_FUNC("image-id", 0, snp_opt_image_id, (o)),                   \
	CLI_FUNC("guest-svn", 0, snp_opt_guest_svn, (o))
int snp_opt_policy(const char *prog, char *arg, void *o);
int snp_opt_host_data(const char *prog, char *arg, void *o);
int snp_opt_predict(const char *prog, char *arg, void *o);
int snp_opt_family_id(const char *prog, char *arg, void *o);
int snp_opt_image_id(const char *prog, char *arg, void *o);
int snp_opt_guest_svn(const char *prog, char *arg, void *o);
/* After parsing: set up the SNP hooks in cfg (if --snp). 0: boot; 1: done
 * (--snp-predict printed its answer), exit 0; or -(exit code). */
int snp_boot_prepare(const char *prog, struct snp_boot_opts *o, struct vm_config *cfg);
/* After the launch: print the MEASUREMENT and HOST_DATA on stderr. */
void snp_boot_report(const char *prog, const struct snp_boot_opts *o);
void snp_boot_cleanup(struct snp_boot_opts *o);

#endif
