/* group_spec: what a user writes for a container group (docs/group-spec.md): parsed and
 * validated strictly, with errors naming the JSON path ("containers[1].env[0].name: ..."). */
#ifndef PARMA_IMAGE_GROUP_SPEC_H
#define PARMA_IMAGE_GROUP_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/errbuf.h"

#define GROUP_MAX_CONTAINERS 64
#define GROUP_MAX_ARGS       256
#define GROUP_MAX_ENV        256
#define GROUP_MAX_MOUNTS     64
#define GROUP_MAX_EXEC       64
#define GROUP_MAX_STRING     4096
#define GROUP_MAX_BYTES      (1u << 20)

struct group_env {
	char *name;
	char *value;      /* exact value, or a regex when is_regex */
	bool is_regex;
	bool required;
};

enum group_mount_type {
	GROUP_MOUNT_SCRATCH, /* a directory on the group's (encrypted) scratch disk */
	GROUP_MOUNT_TMPFS,   /* memory-backed */
};

struct group_mount {
	char *name;
	char *destination;
	enum group_mount_type type;
	bool read_only;
};

struct group_exec {
	char **command;
	size_t n_command;
	uint64_t signals; /* bit n-1 = signal n */
};

struct group_container {
	char *name;
	char *image;      /* as written */
	char *image_ref;  /* resolved against the spec's directory (PATH or PATH:TAG) */
	char **command;   /* replaces the image's Entrypoint when has_command */
	size_t n_command;
	bool has_command;
	char **args;      /* replaces the image's Cmd when has_args */
	size_t n_args;
	bool has_args;
	struct group_env *env;
	size_t n_env;
	char *working_dir; /* NULL: the image's */
	char *user;        /* NULL: the image's */
	struct group_mount *mounts;
	size_t n_mounts;
	uint32_t cpu_millis;  /* 0 = no limit */
	uint32_t memory_mib;  /* 0 = no limit */
	uint32_t pids_max;    /* 0 = no limit */
	bool no_new_privileges;
	bool allow_stdio_access;
	uint64_t signals;
	struct group_exec *execs;
	size_t n_execs;
	char *fragment; /* the feed whose signed fragment allows this container; NULL: the policy */
};

/* A feed of signed policy fragments the group's policy imports (docs/policy.md, "Fragments"). */
struct group_fragment_import {
	char *issuer; /* did:x509 */
	char *feed;
	uint32_t minimum_svn;
	char **includes; /* default: containers */
	size_t n_includes;
	bool allow_stdio_access, allow_elevated;
};

#define GROUP_MAX_FRAGMENTS 64

struct group_debug {
	bool shell, stdio, properties, dump_stacks, logging;
};

struct group_spec {
	char *name;
	uint32_t vcpus;
	uint32_t memory_mib;
	bool allow_unencrypted_scratch;
	struct group_debug debug;
	struct group_container *containers;
	size_t n_containers;
	struct group_fragment_import *fragments;
	size_t n_fragments;
};

/* Parse a spec document; `what` names it in errors, relative image paths are resolved
 * against `base_dir`. Caller frees *out with group_spec_free(). */
int group_spec_parse(const char *text, size_t len, const char *what, const char *base_dir,
		     struct group_spec **out, struct errbuf *eb);

/* Read and parse a spec file (images relative to its directory). */
int group_spec_load(const char *path, struct group_spec **out, struct errbuf *eb);

void group_spec_free(struct group_spec *spec);

/* True if any debug allowance is on. */
bool group_debug_any(const struct group_debug *d);

#endif
