/* parma: the host command. One table of subcommands; each lives in its component. */
#include <stdio.h>
#include <string.h>

#include "common/cli.h"
#include "policy/attest/attest_cli.h"
#include "policy/fragment/fragment_cli.h"
#include "policy/image/image_cli.h"
#include "policy/lang/policy_cli.h"
#include "policy/measure/measure_cli.h"
#include "vmm/group/agent_cli.h"
#include "vmm/group/group_cli.h"
#include "vmm/kbs/kbs_cli.h"
#include "vmm/vmm_cli.h"

static const struct cli_command policy_commands[] = {
	{ "check", "validate a policy; errors name the JSON path", policy_cli_check },
	{ "digest", "print the policy digest (SNP HOST_DATA) in hex and base64", policy_cli_digest },
	{ "explain", "replay a request sequence and print each decision and reason", policy_cli_explain },
	{ "diff", "show what differs between two policies", policy_cli_diff },
	{ "gen", "generate a policy from a group spec", policy_gen_cli_main },
	{ "fragment", "sign, verify and inspect signed policy fragments", fragment_cli_main },
};

static int policy_main(int argc, char **argv)
{
	return cli_dispatch(argv[0], "Execution policies: the root of trust of a container group.",
			    policy_commands, CLI_ARRAY_SIZE(policy_commands), argc, argv);
}

static const struct cli_command parma_commands[] = {
	{ "run", "run a container group from its spec in a confidential VM", group_cli_run },
	{ "ps", "list running groups and their containers", group_cli_ps },
	{ "exec", "run a command in a running container (policy-gated)", group_cli_exec },
	{ "logs", "print (or follow) a group's container output", group_cli_logs },
	{ "stop", "stop a running group cleanly", group_cli_stop },
	{ "attest", "fetch a fresh attestation report from a running group", group_cli_attest },
	{ "boot", "boot a kernel or firmware directly in the KVM VMM", vmm_cli_boot },
	{ "policy", "check, digest, explain, diff and generate execution policies; signed fragments", policy_main },
	{ "image", "convert OCI images to dm-verity protected layer images", image_cli_main },
	{ "measure", "compute the expected SEV-SNP launch MEASUREMENT", measure_cli_main },
	{ "verify", "verify an SEV-SNP attestation report and its claims", verify_cli_main },
	{ "report", "show SNP reports; development signer for machines without SNP", report_cli_main },
	{ "kbs", "key broker: release secrets to attested groups (Trustee KBS protocol)", kbs_cli_main },
	{ "agent", "talk to a running parma-agent (low-level client)", agent_cli_main },
};

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("parma %s\n", PARMA_VERSION);
		return CLI_OK;
	}
	return cli_dispatch("parma",
			    "Parma runs container groups in SEV-SNP confidential VMs whose every\n"
			    "host request is checked against an attested execution policy.",
			    parma_commands, CLI_ARRAY_SIZE(parma_commands), argc, argv);
}
