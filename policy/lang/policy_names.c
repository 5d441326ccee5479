/* policy_names: the names of capabilities, request types and rules, as
 * they appear in policies, request JSON and decisions. */
#include <string.h>

#include "policy/lang/policy.h"

/* Linux capability numbers (include/uapi/linux/capability.h). */
static const char *const cap_names[] = {
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_DAC_READ_SEARCH",
	"CAP_FOWNER",
	"CAP_FSETID",
	"CAP_KILL",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST",
	"CAP_NET_ADMIN",
	"CAP_NET_RAW",
	"CAP_IPC_LOCK",
	"CAP_IPC_OWNER",
	"CAP_SYS_MODULE",
	"CAP_SYS_RAWIO",
	"CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE",
	"CAP_SYS_PACCT",
	"CAP_SYS_ADMIN",
	"CAP_SYS_BOOT",
	"CAP_SYS_NICE",
	"CAP_SYS_RESOURCE",
	"CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG",
	"CAP_MKNOD",
	"CAP_LEASE",
	"CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL",
	"CAP_SETFCAP",
	"CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN",
	"CAP_SYSLOG",
	"CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND",
	"CAP_AUDIT_READ",
	"CAP_PERFMON",
	"CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
};

#define N_CAPS ((int)(sizeof(cap_names) / sizeof(cap_names[0])))

int policy_cap_from_name(const char *name)
{
	for (int i = 0; i < N_CAPS; i++)
		if (!strcmp(cap_names[i], name))
			return i;
	return -1;
}

const char *policy_cap_name(int cap)
{
	return cap >= 0 && cap < N_CAPS ? cap_names[cap] : NULL;
}

static const char *const type_names[POLICY_REQ_COUNT + 1] = {
	[POLICY_REQ_INSTALL_POLICY] = "install_policy",
	[POLICY_REQ_MOUNT_DEVICE] = "mount_device",
	[POLICY_REQ_UNMOUNT_DEVICE] = "unmount_device",
	[POLICY_REQ_MOUNT_SCRATCH] = "mount_scratch",
	[POLICY_REQ_MOUNT_OVERLAY] = "mount_overlay",
	[POLICY_REQ_UNMOUNT_OVERLAY] = "unmount_overlay",
	[POLICY_REQ_CREATE_CONTAINER] = "create_container",
	[POLICY_REQ_EXEC_IN_CONTAINER] = "exec_in_container",
	[POLICY_REQ_EXEC_EXTERNAL] = "exec_external",
	[POLICY_REQ_SIGNAL_PROCESS] = "signal_process",
	[POLICY_REQ_SHUTDOWN_CONTAINER] = "shutdown_container",
	[POLICY_REQ_GET_PROPERTIES] = "get_properties",
	[POLICY_REQ_DUMP_STACKS] = "dump_stacks",
	[POLICY_REQ_RUNTIME_LOGGING] = "runtime_logging",
	[POLICY_REQ_LOAD_FRAGMENT] = "load_fragment",
	[POLICY_REQ_START_CONTAINER] = "start_container",
	[POLICY_REQ_WAIT] = "wait",
	[POLICY_REQ_CLOSE_STDIN] = "close_stdin",
	[POLICY_REQ_PING] = "ping",
	[POLICY_REQ_GET_REPORT] = "get_report",
	[POLICY_REQ_UNKNOWN] = "unknown",
};

const char *policy_request_type_name(enum policy_request_type type)
{
	return (unsigned)type <= POLICY_REQ_UNKNOWN ? type_names[type] : "unknown";
}

enum policy_request_type policy_request_type_from_name(const char *name)
{
	for (int i = 0; i < POLICY_REQ_COUNT; i++)
		if (!strcmp(type_names[i], name))
			return (enum policy_request_type)i;
	return POLICY_REQ_UNKNOWN;
}

static const char *const rule_names[POLICY_RULE_COUNT] = {
	[POLICY_RULE_NONE] = "none",
	[POLICY_RULE_CLOSED] = "closed",
	[POLICY_RULE_ALREADY_INSTALLED] = "already_installed",
	[POLICY_RULE_HOST_DATA] = "host_data",
	[POLICY_RULE_INVALID_POLICY] = "invalid_policy",
	[POLICY_RULE_UNKNOWN_REQUEST] = "unknown_request",
	[POLICY_RULE_MALFORMED_REQUEST] = "malformed_request",
	[POLICY_RULE_TARGET_PATH] = "target_path",
	[POLICY_RULE_TARGET_IN_USE] = "target_in_use",
	[POLICY_RULE_DEVICE_HASH] = "device_hash",
	[POLICY_RULE_NO_DEVICE] = "no_device",
	[POLICY_RULE_DEVICE_IN_USE] = "device_in_use",
	[POLICY_RULE_SCRATCH_UNENCRYPTED] = "scratch_unencrypted",
	[POLICY_RULE_OVERLAY_EXISTS] = "overlay_exists",
	[POLICY_RULE_OVERLAY_LAYERS] = "overlay_layers",
	[POLICY_RULE_NO_OVERLAY] = "no_overlay",
	[POLICY_RULE_OVERLAY_IN_USE] = "overlay_in_use",
	[POLICY_RULE_CONTAINER_STARTED] = "container_started",
	[POLICY_RULE_CONTAINER_NOT_STARTED] = "container_not_started",
	[POLICY_RULE_PRIVILEGED] = "privileged",
	[POLICY_RULE_NO_NEW_PRIVILEGES] = "no_new_privileges",
	[POLICY_RULE_USER] = "user",
	[POLICY_RULE_WORKING_DIR] = "working_dir",
	[POLICY_RULE_COMMAND] = "command",
	[POLICY_RULE_MOUNTS] = "mounts",
	[POLICY_RULE_SECCOMP] = "seccomp",
	[POLICY_RULE_ENV] = "env",
	[POLICY_RULE_ENV_REQUIRED] = "env_required",
	[POLICY_RULE_ENV_AMBIGUOUS] = "env_ambiguous",
	[POLICY_RULE_CAPABILITIES] = "capabilities",
	[POLICY_RULE_CAPABILITIES_AMBIGUOUS] = "capabilities_ambiguous",
	[POLICY_RULE_STDIO_AMBIGUOUS] = "stdio_ambiguous",
	[POLICY_RULE_EXEC_PROCESS] = "exec_process",
	[POLICY_RULE_EXTERNAL_PROCESS] = "external_process",
	[POLICY_RULE_SIGNAL] = "signal",
	[POLICY_RULE_PROPERTIES] = "properties",
	[POLICY_RULE_DUMP_STACKS] = "dump_stacks",
	[POLICY_RULE_RUNTIME_LOGGING] = "runtime_logging",
	[POLICY_RULE_FRAGMENT] = "fragment",
	[POLICY_RULE_ID_REUSED] = "id_reused",
	[POLICY_RULE_AGENT_STATE] = "agent_state",
	[POLICY_RULE_SOURCE_IN_USE] = "source_in_use",
	[POLICY_RULE_MOUNT_SOURCE] = "mount_source",
	[POLICY_RULE_LIMIT] = "limit",
	[POLICY_RULE_STATE_FULL] = "state_full",
	[POLICY_RULE_INTERNAL] = "internal",
	[POLICY_RULE_NO_PROCESS] = "no_process",
};

const char *policy_rule_name(enum policy_rule rule)
{
	return (unsigned)rule < POLICY_RULE_COUNT && rule_names[rule] ? rule_names[rule]
								      : "unknown";
}
