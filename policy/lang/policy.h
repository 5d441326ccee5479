/* policy: Parma's execution policy — load, validate, digest, and enforce.
 *
 * The policy is the root of trust of a container group: its SHA-256 over the
 * exact bytes is the SNP HOST_DATA, and the guest agent checks every host
 * request against it through one entry point per enforcement point below.
 * This library runs inside the guest (trusted base): it depends only on
 * json-c, PCRE2, libcrypto and common/, bounds every size (POLICY_MAX_*), and
 * treats every request as hostile. Language reference: docs/policy.md.
 *
 * Life of an engine:
 *   e = policy_engine_new();                 closed: every request is denied
 *   policy_engine_install(e, bytes, len, host_data, &d)   exactly once
 *   policy_mount_device(e, &req, &d) ...      allow → state recorded; deny →
 *                                             nothing changed, d.reason says why
 *   policy_engine_revert(e)                   the effect of the last allowed
 *                                             request failed: undo its state
 *
 * Return convention of every enforcement entry point: 0 when allowed, -EACCES
 * when denied (the decision carries the reason), or another negative errno on
 * an internal failure (the decision is then a denial with rule "internal").
 * A denial never changes the engine's state.
 *
 * An engine is not thread-safe (the agent serialises requests); it allocates
 * about 1 MiB of fixed state tables at creation. */
#ifndef PARMA_POLICY_LANG_POLICY_H
#define PARMA_POLICY_LANG_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/errbuf.h"

struct json_object;

/* ---- Limits (documented in docs/policy.md, "Limits") ---- */
#define POLICY_VERSION		    1
#define POLICY_MAX_BYTES	    (4u << 20) /* a policy document */
#define POLICY_MAX_JSON_DEPTH	    16
#define POLICY_MAX_STRING	    4096 /* any string in a policy or request */
#define POLICY_MAX_PATTERN	    1024 /* a regex pattern */
#define POLICY_MAX_TARGET	    255	 /* a guest mount target path */
#define POLICY_MAX_ID		    128	 /* a container id */
#define POLICY_MAX_CONTAINERS	    1024 /* containers in a policy (fragments included) */
#define POLICY_MAX_LAYERS	    128
#define POLICY_MAX_ARGS		    256 /* command arguments */
#define POLICY_MAX_ENV_RULES	    512
#define POLICY_MAX_ENV		    256 /* environment variables in a request */
#define POLICY_MAX_MOUNTS	    128
#define POLICY_MAX_MOUNT_OPTIONS    32
#define POLICY_MAX_EXEC		    64 /* exec_processes per container */
#define POLICY_MAX_GROUPS	    64 /* additional gids */
#define POLICY_MAX_EXTERNAL	    256
#define POLICY_MAX_FRAGMENTS	    64
#define POLICY_MAX_STATE_DEVICES    1024  /* mounted devices + scratch at once */
#define POLICY_MAX_STATE_CONTAINERS 1024  /* container ids with an overlay at once */
#define POLICY_MAX_RETIRED_IDS	    65536 /* ids shut down and unmounted, never used again */
#define POLICY_MAX_REQUEST_BYTES    (1u << 20)

/* The guest owns every path: each mount target is the path-map entry of what it names (a
 * layer slot, the scratch disk, a container id), below this directory; see "The path map"
 * below and docs/policy.md. */
#define POLICY_MOUNT_ROOT "/run/parma/"

/* The only value of the debug form's marker (see docs/policy.md, "Debug form"). */
#define POLICY_DEBUG_MARKER "INSECURE-DEBUG-ALLOW-ALL"

#define POLICY_SHA256_LEN 32

/* ---- Documents ---- */
struct policy; /* a loaded, validated policy (opaque) */

struct policy_digest {
	uint8_t sha256[POLICY_SHA256_LEN]; /* = SNP HOST_DATA */
	char hex[2 * POLICY_SHA256_LEN + 1];
	char base64[45];
};

struct policy_flags {
	bool allow_properties_access;
	bool allow_dump_stacks;
	bool allow_runtime_logging;
	bool allow_environment_variable_dropping;
	bool allow_capability_dropping;
	bool allow_unencrypted_scratch;
};

/* SHA-256 over exactly these bytes, in hex and base64. Returns 0 or -EIO. */
int policy_digest(const uint8_t *bytes, size_t len, struct policy_digest *out);

/* Parse and validate a policy document (or the debug form). Errors name the
 * JSON path: "containers[2].layers[0]: expected 64 hex digits". Caller frees
 * *out with policy_free(). Returns 0, -EINVAL (invalid), -E2BIG (too large),
 * -ENOMEM. */
int policy_load(const uint8_t *bytes, size_t len, struct policy **out, struct errbuf *eb);
void policy_free(struct policy *p);

/* Validate a fragment payload (docs/policy.md, "Fragments") and check that it declares this
 * issuer, feed and svn (the values its signature will carry). Returns 0, -EINVAL naming the
 * JSON path or the mismatch, -E2BIG, -ENOMEM. */
int policy_fragment_check(const uint8_t *bytes, size_t len, const char *issuer, const char *feed,
			  uint64_t svn, struct errbuf *eb);

/* A fragment payload's rules as a struct policy, for the typed queries below (a host planning
 * the requests for containers a fragment brings). Validated as policy_fragment_check() does,
 * without checking who signed it: that is the agent's load_fragment. Caller policy_free()s. */
int policy_fragment_rules(const uint8_t *bytes, size_t len, struct policy **out,
			  struct errbuf *eb);

/* True for the allow-all debug form: never use one for a real deployment. */
bool policy_is_debug(const struct policy *p);
const struct policy_digest *policy_get_digest(const struct policy *p);
struct policy_flags policy_get_flags(const struct policy *p);
size_t policy_container_count(const struct policy *p);

/* ---- Requests (one typed struct per request of the wire protocol) ----
 * The agent, the engine, `parma policy explain` and the host share these structs and their
 * one JSON form (policy_request_from_json / policy_request_to_json). Fields the engine does
 * not judge (a device path, stdio wanted, resource limits) ride along so that the agent acts
 * on exactly the message the engine checked. Pointers are borrowed from the caller for the
 * duration of the call. */
enum policy_request_type {
	POLICY_REQ_INSTALL_POLICY,
	POLICY_REQ_MOUNT_DEVICE,
	POLICY_REQ_UNMOUNT_DEVICE,
	POLICY_REQ_MOUNT_SCRATCH,
	POLICY_REQ_MOUNT_OVERLAY,
	POLICY_REQ_UNMOUNT_OVERLAY,
	POLICY_REQ_CREATE_CONTAINER,
	POLICY_REQ_EXEC_IN_CONTAINER,
	POLICY_REQ_EXEC_EXTERNAL,
	POLICY_REQ_SIGNAL_PROCESS,
	POLICY_REQ_SHUTDOWN_CONTAINER,
	POLICY_REQ_GET_PROPERTIES,
	POLICY_REQ_DUMP_STACKS,
	POLICY_REQ_RUNTIME_LOGGING,
	POLICY_REQ_LOAD_FRAGMENT,
	/* Requests of the wire protocol that are no enforcement point of their own: the
	 * engine allows them once a policy is installed (start_container: create was the
	 * gated step; wait, close_stdin: a process the host already started). */
	POLICY_REQ_START_CONTAINER,
	POLICY_REQ_WAIT,
	POLICY_REQ_CLOSE_STDIN,
	/* ... and two the agent answers even while closed (POLICY_REQ_FIRST_OPEN and up). */
	POLICY_REQ_PING,
	POLICY_REQ_GET_REPORT,
	POLICY_REQ_COUNT,
	POLICY_REQ_UNKNOWN = POLICY_REQ_COUNT, /* only ever in a decision */
};
#define POLICY_REQ_FIRST_OPEN POLICY_REQ_PING

/* Capability sets: bit n = Linux capability number n (CAP_CHOWN = 0 ...). */
struct policy_caps {
	uint64_t bounding, effective, inheritable, permitted, ambient;
};

struct policy_user {
	uint32_t uid, gid;
	const uint32_t *additional_gids; /* compared as a set */
	size_t n_additional_gids;
	uint32_t umask; /* e.g. 022 */
};

struct policy_mount {
	const char *source, *destination, *type;
	const char *const *options; /* compared as a set */
	size_t n_options;
};

struct policy_strv {
	const char *const *v;
	size_t n;
};

/* install_policy: the policy bytes, and HOST_DATA taken by the agent from a
 * fresh attestation report (never from the host). host_data NULL → denied. */
struct policy_req_install_policy {
	const uint8_t *policy;
	size_t len;
	const uint8_t *host_data; /* POLICY_SHA256_LEN bytes */
};

/* mount_device: the dm-verity layer device `device` (a /dev/ path) with this root hash,
 * its hash tree at byte hash_offset, at target. */
struct policy_req_mount_device {
	const char *target;
	uint8_t device_hash[POLICY_SHA256_LEN];
	const char *device;
	uint64_t hash_offset;
};

/* unmount_device: the layer device or scratch mounted at target. */
struct policy_req_unmount_device {
	const char *target;
};

/* mount_scratch: writable scratch at target; encrypted = dm-crypt beneath. */
struct policy_req_mount_scratch {
	const char *target;
	bool encrypted;
	const char *device; /* a /dev/ path */
};

/* mount_overlay: rootfs of container_id at target from the layer devices
 * mounted at layer_targets, BASE LAYER FIRST (the reverse of overlayfs'
 * lowerdir order). */
struct policy_req_mount_overlay {
	const char *container_id;
	const char *target;
	struct policy_strv layer_targets;
	const char *scratch; /* target of a mounted scratch for the writable layer; NULL: read-only */
};

struct policy_req_unmount_overlay {
	const char *target;
};

/* cgroup limits the agent applies (the policy does not restrict them); 0 = none. */
struct policy_resources {
	uint64_t memory_bytes, cpu_quota_us, cpu_period_us, pids_max;
};

struct policy_req_create_container {
	const char *container_id;
	struct policy_strv command;
	struct policy_strv env; /* "NAME=value" */
	const char *working_dir;
	struct policy_user user;
	struct policy_caps caps;
	bool no_new_privileges;
	bool privileged;
	const struct policy_mount *mounts;
	size_t n_mounts;
	bool has_seccomp_profile; /* false = no seccomp profile */
	uint8_t seccomp_profile_sha256[POLICY_SHA256_LEN]; /* of the profile's bytes */
	const uint8_t *seccomp_profile; /* the OCI linux.seccomp JSON the agent gives crun */
	size_t seccomp_profile_len;
	bool stdio; /* the host asks to attach (granted only if the decision allows it) */
	struct policy_resources resources;
};

struct policy_req_exec_in_container {
	const char *container_id;
	struct policy_strv command;
	struct policy_strv env;
	const char *working_dir;
	struct policy_user user;
	struct policy_caps caps;
	bool no_new_privileges;
	bool stdio;
};

struct policy_req_exec_external {
	struct policy_strv command;
	struct policy_strv env;
	const char *working_dir;
	bool stdio;
};

/* signal_process: to process_id of the container (default: its init process). The
 * JSON carries only container_id, signal and process_id; init_process and command are
 * facts about that process which whoever started it fills in before deciding
 * (policy_signal_resolve), as hcsshim's agent does: the host cannot claim them. */
struct policy_req_signal_process {
	const char *container_id;
	int signal; /* 1..64 */
	bool has_process_id;
	uint32_t process_id;
	bool init_process;
	struct policy_strv command; /* when !init_process */
};

struct policy_req_shutdown_container {
	const char *container_id;
	bool force; /* SIGKILL instead of SIGTERM */
};

struct policy_req_start_container {
	const char *container_id;
};

/* wait, close_stdin */
struct policy_req_process {
	uint32_t process_id;
};

struct policy_req_get_report {
	uint8_t report_data[64]; /* zeros when absent */
};

/* load_fragment: a signed policy fragment, the COSE_Sign1 document exactly as the host sent
 * it. The engine verifies it (chain, did:x509 issuer, signature, headers) against the
 * policy's fragment imports before anything of it is used. */
struct policy_req_load_fragment {
	const uint8_t *fragment;
	size_t len;
};

struct policy_request {
	enum policy_request_type type;
	union {
		struct policy_req_install_policy install_policy;
		struct policy_req_mount_device mount_device;
		struct policy_req_unmount_device unmount_device;
		struct policy_req_mount_scratch mount_scratch;
		struct policy_req_mount_overlay mount_overlay;
		struct policy_req_unmount_overlay unmount_overlay;
		struct policy_req_create_container create_container;
		struct policy_req_exec_in_container exec_in_container;
		struct policy_req_exec_external exec_external;
		struct policy_req_signal_process signal_process;
		struct policy_req_shutdown_container shutdown_container;
		struct policy_req_load_fragment load_fragment;
		struct policy_req_start_container start_container;
		struct policy_req_process process; /* wait, close_stdin */
		struct policy_req_get_report get_report;
		/* get_properties, dump_stacks, runtime_logging, ping carry no fields */
	} u;
	void *storage; /* owned by policy_request_from_json(); see policy_request_clear() */
};

/* ---- Decisions ---- */
enum policy_rule {
	POLICY_RULE_NONE = 0, /* allowed */
	POLICY_RULE_CLOSED,   /* no policy installed yet */
	POLICY_RULE_ALREADY_INSTALLED,
	POLICY_RULE_HOST_DATA, /* policy digest differs from HOST_DATA */
	POLICY_RULE_INVALID_POLICY,
	POLICY_RULE_UNKNOWN_REQUEST,
	POLICY_RULE_MALFORMED_REQUEST,
	POLICY_RULE_TARGET_PATH, /* mount target not the path map's entry for what it names */
	POLICY_RULE_TARGET_IN_USE,
	POLICY_RULE_DEVICE_HASH, /* root hash not in any candidate container */
	POLICY_RULE_NO_DEVICE,
	POLICY_RULE_DEVICE_IN_USE,
	POLICY_RULE_SCRATCH_UNENCRYPTED,
	POLICY_RULE_OVERLAY_EXISTS,
	POLICY_RULE_OVERLAY_LAYERS,
	POLICY_RULE_NO_OVERLAY,
	POLICY_RULE_OVERLAY_IN_USE,
	POLICY_RULE_CONTAINER_STARTED,
	POLICY_RULE_CONTAINER_NOT_STARTED,
	POLICY_RULE_PRIVILEGED,
	POLICY_RULE_NO_NEW_PRIVILEGES,
	POLICY_RULE_USER,
	POLICY_RULE_WORKING_DIR,
	POLICY_RULE_COMMAND,
	POLICY_RULE_MOUNTS,
	POLICY_RULE_SECCOMP,
	POLICY_RULE_ENV,
	POLICY_RULE_ENV_REQUIRED,
	POLICY_RULE_ENV_AMBIGUOUS,
	POLICY_RULE_CAPABILITIES,
	POLICY_RULE_CAPABILITIES_AMBIGUOUS,
	POLICY_RULE_STDIO_AMBIGUOUS,
	POLICY_RULE_EXEC_PROCESS,
	POLICY_RULE_EXTERNAL_PROCESS,
	POLICY_RULE_SIGNAL,
	POLICY_RULE_PROPERTIES,
	POLICY_RULE_DUMP_STACKS,
	POLICY_RULE_RUNTIME_LOGGING,
	POLICY_RULE_FRAGMENT,
	POLICY_RULE_ID_REUSED, /* container ids are single use */
	POLICY_RULE_LIMIT,     /* a work limit stopped the decision */
	POLICY_RULE_STATE_FULL,
	POLICY_RULE_INTERNAL,
	POLICY_RULE_NO_PROCESS, /* a signal names no process of that container */
	POLICY_RULE_AGENT_STATE,   /* a target or bind source over the agent's own state */
	POLICY_RULE_SOURCE_IN_USE, /* a path bind source overlaps a live mount target */
	POLICY_RULE_MOUNT_SOURCE,  /* a bind source the guest does not hand out (path map) */
	POLICY_RULE_COUNT,
};

#define POLICY_REASON_TEXT 256

/* What reasons and records show instead of an environment value (hcsshim's marker). */
#define POLICY_REDACTED "<<redacted>>"

/* Why a request was denied. `field` is the JSON path in the request
 * ("env[2]"); `expected`/`got` are short renderings with environment
 * values redacted ("SECRET=<<redacted>>"). */
struct policy_reason {
	enum policy_rule rule;
	char field[128];
	char expected[POLICY_REASON_TEXT];
	char got[POLICY_REASON_TEXT];
	char message[POLICY_REASON_TEXT];
};

struct policy_decision {
	enum policy_request_type type;
	bool allowed;
	bool debug; /* allowed only because the policy is the debug allow-all form */
	struct policy_reason reason; /* when !allowed */
	/* Effective values for create_container, exec_in_container, exec_external
	 * (valid when allowed): which request env entries to keep (indices, in
	 * request order; others are dropped), the capability sets to apply, and
	 * whether the host may attach to the process's stdio. */
	uint16_t env_keep[POLICY_MAX_ENV];
	size_t n_env_keep;
	struct policy_caps caps;
	bool allow_stdio_access;
	/* Where the rules behind the decision came from: "policy", or "fragment ISSUER feed F
	 * svn N" for rules a signed fragment added (for a denial: the rule compared against).
	 * Empty when no rule was involved. */
	char source[POLICY_REASON_TEXT];
};

const char *policy_rule_name(enum policy_rule rule);
const char *policy_request_type_name(enum policy_request_type type);
/* POLICY_REQ_UNKNOWN if the name is not a request type. */
enum policy_request_type policy_request_type_from_name(const char *name);

/* ---- Engine ---- */
struct policy_engine;

struct policy_engine *policy_engine_new(void); /* NULL on ENOMEM */
void policy_engine_free(struct policy_engine *e);

/* The installed policy, or NULL while closed. */
const struct policy *policy_engine_policy(const struct policy_engine *e);

/* Install exactly once: the SHA-256 of the bytes must equal host_data. */
int policy_engine_install(struct policy_engine *e, const struct policy_req_install_policy *r,
			  struct policy_decision *d);
int policy_mount_device(struct policy_engine *e, const struct policy_req_mount_device *r,
			struct policy_decision *d);
int policy_unmount_device(struct policy_engine *e, const struct policy_req_unmount_device *r,
			  struct policy_decision *d);
int policy_mount_scratch(struct policy_engine *e, const struct policy_req_mount_scratch *r,
			 struct policy_decision *d);
int policy_mount_overlay(struct policy_engine *e, const struct policy_req_mount_overlay *r,
			 struct policy_decision *d);
int policy_unmount_overlay(struct policy_engine *e, const struct policy_req_unmount_overlay *r,
			   struct policy_decision *d);
int policy_create_container(struct policy_engine *e, const struct policy_req_create_container *r,
			    struct policy_decision *d);
int policy_exec_in_container(struct policy_engine *e, const struct policy_req_exec_in_container *r,
			     struct policy_decision *d);
int policy_exec_external(struct policy_engine *e, const struct policy_req_exec_external *r,
			 struct policy_decision *d);
int policy_signal_process(struct policy_engine *e, const struct policy_req_signal_process *r,
			  struct policy_decision *d);
int policy_shutdown_container(struct policy_engine *e,
			      const struct policy_req_shutdown_container *r,
			      struct policy_decision *d);
int policy_get_properties(struct policy_engine *e, struct policy_decision *d);
int policy_dump_stacks(struct policy_engine *e, struct policy_decision *d);
int policy_runtime_logging(struct policy_engine *e, struct policy_decision *d);
int policy_load_fragment(struct policy_engine *e, const struct policy_req_load_fragment *r,
			 struct policy_decision *d);

/* Dispatch on req->type (unknown types are denied). */
int policy_decide(struct policy_engine *e, const struct policy_request *req,
		  struct policy_decision *d);

/* The effect of the last allowed request failed: restore the state from
 * before it. Returns 0, or -ENOENT if there is nothing to revert (only the
 * last allowed request can be reverted, once; install cannot be reverted). */
int policy_engine_revert(struct policy_engine *e);

/* Canonical JSON of the engine state (sorted, deterministic): equal strings
 * ⇔ equal states. Caller frees *out. Returns 0 or -ENOMEM. */
int policy_engine_state_json(const struct policy_engine *e, char **out);

/* ---- The JSON form of requests and decisions ----
 * Shared by the agent's wire protocol and `parma policy explain`; the
 * request JSON is specified in docs/policy.md, "Requests". */

/* Parse one request object. Strings stay owned by `obj` (a reference is
 * taken) and by req->storage; release with policy_request_clear(). Returns 0,
 * -ENOTSUP for an unknown "type" (req->type = POLICY_REQ_UNKNOWN), or
 * -EINVAL / -E2BIG for a malformed or oversized request (eb names the field). */
int policy_request_from_json(struct json_object *obj, struct policy_request *req,
			     struct errbuf *eb);
/* Same from text (at most POLICY_MAX_REQUEST_BYTES). */
int policy_request_parse(const char *text, size_t len, struct policy_request *req,
			 struct errbuf *eb);
void policy_request_clear(struct policy_request *req);

/* The JSON form of a typed request: what the host sends and records, what
 * policy_request_from_json() reads back to an equal request. Values are not
 * redacted (env values are part of the request). NULL on ENOMEM. */
struct json_object *policy_request_to_json(const struct policy_request *req);

/* Fill a signal_process request's init_process and command from what the caller knows of
 * the process it names (the agent's process table, or explain's replay of it). */
void policy_signal_resolve(struct policy_req_signal_process *r, bool init_process,
			   const char *const *command, size_t n_command);

/* The denial for a request that failed to parse (err from policy_request_from_json:
 * -ENOTSUP unknown_request, -ENOMEM internal, else malformed_request naming the field). */
void policy_request_denial(struct policy_decision *d, enum policy_request_type type, int err,
			   const struct errbuf *eb);

/* Parse `obj` and decide; a malformed request is denied with rule
 * "malformed_request", an unknown type with "unknown_request". */
int policy_decide_json(struct policy_engine *e, struct json_object *obj, struct policy_decision *d);

/* {"allowed":..., "request":..., "reason":{rule,field,expected,got,message}}
 * plus, when allowed, "env_keep" (names only, never values), "capabilities"
 * and "allow_stdio_access". `req` (may be NULL) supplies env names. Caller
 * json_object_put()s the result; NULL on ENOMEM. */
struct json_object *policy_decision_to_json(const struct policy_decision *d,
					    const struct policy_request *req);

/* The denial of a signal whose process_id names no process of its container (rule
 * no_process). Returns -EACCES. */
int policy_signal_unknown(struct policy_decision *d, const struct policy_req_signal_process *r);

/* ---- Replaying requests as the agent decides them (explain, the attack corpus) ----
 * The agent numbers the processes it starts 1, 2, ... (each allowed create_container,
 * exec_in_container, exec_external) and resolves a signal's process_id through them; a replay
 * does the same. */
struct policy_replay;
struct policy_replay *policy_replay_new(struct policy_engine *e); /* NULL on ENOMEM */
void policy_replay_free(struct policy_replay *r);
/* Parse obj into *q (caller policy_request_clear()s it), resolve, decide: the return
 * convention of policy_decide; a malformed request is a denial. */
int policy_replay_decide(struct policy_replay *r, struct json_object *obj,
			 struct policy_request *q, struct policy_decision *d);

/* ---- The path map: the guest owns every path ----
 * Host requests name things (a layer slot, the scratch disk, a container id, a mount by the
 * symbolic source its policy entry gives); these functions are the only place a name becomes a
 * guest path, for the engine (which records and compares those paths) and the agent (which
 * mounts there) alike. One directory per kind, never shared between kinds:
 *
 *   /run/parma/layers/N                      layer slot N (erofs on dm-verity, read-only)
 *   /run/parma/containers/ID/rootfs          container ID's overlay
 *   /run/parma/scratch                       the scratch disk (ext4 on dm-crypt)
 *   /run/parma/scratch/containers/ID/upper   ID's writable layer (and .../work)
 *   /run/parma/scratch/mounts/ID/NAME        ID's "scratch://NAME" bind source
 *   /run/parma/agent                         the agent's state: no request names it
 *
 * Each builder writes into buf and returns 0, -EINVAL for a name that is no container id
 * (or mount name), or -ENAMETOOLONG. */
#define POLICY_AGENT_STATE    "/run/parma/agent"
#define POLICY_PATH_SCRATCH   "/run/parma/scratch"
#define POLICY_SOURCE_SCRATCH "scratch://" /* + NAME: the container's own scratch directory */
#define POLICY_SOURCE_TMPFS   "tmpfs://"   /* a fresh tmpfs of the container's own */
#define POLICY_MAX_MOUNT_NAME 64
int policy_path_layer(char *buf, size_t size, uint32_t slot);
int policy_path_rootfs(char *buf, size_t size, const char *id);
int policy_path_upper(char *buf, size_t size, const char *id);
int policy_path_work(char *buf, size_t size, const char *id);
int policy_path_scratch_mount(char *buf, size_t size, const char *id, const char *name);
/* The per-container trees on the scratch disk that the agent removes with the overlay:
 * scratch/containers/ID (writable layer) and scratch/mounts/ID (scratch mounts). */
int policy_path_scratch_layer_dir(char *buf, size_t size, const char *id);
int policy_path_scratch_mounts_dir(char *buf, size_t size, const char *id);
/* Slot N when path is exactly layers/N (decimal, no leading zero, < POLICY_MAX_STATE_DEVICES),
 * else -1. */
long policy_path_layer_slot(const char *path);
/* The container id whose rootfs path this is (copied into id, POLICY_MAX_ID + 1 bytes), or
 * -EINVAL. */
int policy_path_rootfs_id(const char *path, char *id, size_t size);
/* NAME of a "scratch://NAME" source; NULL when source is not one or NAME is not 1-64 of
 * [A-Za-z0-9._-] other than "." and "..". */
const char *policy_source_scratch_name(const char *source);
/* Paths overlap when equal or one lies inside the other ("/a" and "/a/b", not "/a/bc"). */
bool policy_path_overlap(const char *a, const char *b);

/* ---- Typed queries of a loaded policy (what a host needs to build honest requests) ---- */

/* Index of the container entry named `name`, or -1. */
long policy_container_find(const struct policy *p, const char *name);
/* Its layers' root hashes, base first (borrowed from p); returns how many. */
size_t policy_container_layers(const struct policy *p, size_t idx,
			       const uint8_t (**layers)[POLICY_SHA256_LEN]);
bool policy_container_stdio(const struct policy *p, size_t idx);
/* create_container for entry idx as container_id: its command, every exact env rule, working
 * dir, user, capabilities, no_new_privileges, mounts with a fixed source, and stdio when the
 * entry allows it. Strings are borrowed from p and container_id; release with
 * policy_request_clear(). Returns 0 or -ENOMEM. */
int policy_request_for_create(const struct policy *p, size_t idx, const char *container_id,
			      struct policy_request *q);
/* exec_in_container of argv in container_id (entry idx): the container's env, user and
 * capabilities, the working dir of the matching exec_processes entry (else the container's),
 * stdio. argv is borrowed. Returns 0 or -ENOMEM. */
int policy_request_for_exec(const struct policy *p, size_t idx, const char *container_id,
			    const char *const *argv, size_t argc, struct policy_request *q);

/* Capability name ("CAP_SYS_ADMIN") ↔ number; -1 / NULL when unknown. */
int policy_cap_from_name(const char *name);

/* The sets a container gets when its policy entry or request has no "capabilities":
 * containerd's defaults for an unprivileged container in bounding, effective and permitted;
 * inheritable and ambient empty. */
void policy_caps_default(struct policy_caps *caps);
const char *policy_cap_name(int cap);

#endif
