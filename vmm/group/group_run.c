/* `parma run GROUP.json`: from a group spec to running confidential containers.
 *
 * 1. validate the spec and the run-time environment values (nothing boots on a bad spec);
 * 2. convert the images' layers (cached by digest) and generate the policy, or take --policy;
 * 3. HOST_DATA = SHA-256(policy bytes); replay the whole request sequence in a policy engine
 *    on the host, so a request the guest would deny (a run-time value its rule refuses) is
 *    reported before anything boots; pick the backend and the attestation mode;
 * 4. boot the guest with one read-only disk per layer and an encrypted scratch disk;
 * 5. share the agent stream through the relay (vmm/group/group_relay.h) with the group's API
 *    (vmm/group/group_api.h), which serves ps/exec/logs/stop/attest and control planes;
 * 6. install the policy, mount layers, scratch and overlays, create and start the containers
 *    in spec order, streaming their output prefixed with their names;
 * 7. print a verified attestation summary; exit with the main (first) container's exit code.
 * Every request goes through the agent's policy engine; a denial prints the rule that failed
 * and the `parma policy explain` command that replays it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/cli.h"
#include "common/encoding.h"
#include "common/fileio.h"
#include "vmm/group/agent_client.h"
#include "guest/proto/proto.h"
#include "vmm/group/qemu_launch.h"
#include "policy/attest/snp_dev.h"
#include "policy/attest/snp_verify.h"
#include "policy/image/group_spec.h"
#include "policy/image/image_convert.h"
#include "policy/cose/cose_sign1.h"
#include "policy/image/policy_gen.h"
#include "policy/lang/policy.h"
#include "policy/lang/policy_cli.h"
#include "policy/lang/policy_runenv.h"
#include "vmm/group/group_api.h"
#include "vmm/group/group_backend.h"
#include "vmm/group/group_cli.h"
#include "vmm/group/group_console.h"
#include "vmm/group/group_log.h"
#include "vmm/group/group_relay.h"
#include "vmm/group/group_request.h"
#include "vmm/group/group_state.h"
#include "vmm/group/group_vmm.h"
#include "vmm/seccomp_filter.h"
#include "vmm/vmm_cli.h"

#define RUN_MAX_LAYERS 64
#define RUN_BOOT_TIMEOUT_S 180 /* first answer from the agent (default): TCG boots take a while */
#define RUN_BOOT_TIMEOUT_MAX_S 86400
#define RUN_REQUEST_TIMEOUT_MS 120000
#define RUN_SCRATCH_BYTES (1ull << 30) /* sparse; the guest formats it under dm-crypt */
/* `parma run`'s exit status when the guest or its VM process died under the containers. */
#define RUN_EXIT_GUEST_DIED 125

struct run_layer {
	char root_hash[65];
	char image[PATH_MAX];
	uint64_t hash_offset;
	char device[16]; /* /dev/vdX in the guest */
	char target[64]; /* where the agent mounts it */
};

struct run_container {
	const char *name;                /* = container id */
	const struct policy *rules; /* run->loaded, or the fragment rules that bring it */
	size_t policy_idx;	    /* its entry there */
	size_t layer[RUN_MAX_LAYERS];     /* indices into run->layers, base first */
	size_t n_layers;
	uint32_t process_id;
	uint32_t wait_id; /* the pending `wait` request */
	bool overlay_mounted; /* kept for a start that a later request retries */
	bool started, exited;
	int exit_code; /* 128+signal when killed */
	struct group_log *log;
	bool at_line_start[3];
};

struct run {
	const char *prog;
	int boot_timeout_ms; /* --boot-timeout */
	struct group_spec *spec;
	struct group_paths paths;
	enum group_backend backend;
	enum group_tee tee;
	uint8_t *policy;
	size_t policy_len;
	struct policy *loaded; /* the policy, for typed queries */
	struct policy_digest digest;
	struct run_layer layers[RUN_MAX_LAYERS];
	size_t n_layers;
	struct run_container *containers;
	size_t n_containers;
	char scratch[PATH_MAX];
	char initrd[PATH_MAX];
	char kernel[PATH_MAX];
	struct qemu_vm *vm;   /* qemu backend */
	pid_t vmm_pid;        /* kvm backend: the `parma boot` child */
	char firmware[PATH_MAX]; /* kvm backend: the stage0 ELF, or "" to enter the kernel */
	struct group_relay *relay;
	struct group_console *console; /* drains the VM's console into console.log */
	struct agent_client *client;
	struct snp_dev_ca *dev_ca;
	uint8_t measurement[48]; /* what dev reports claim: an SNP launch of this config */
	bool have_measurement;
	struct json_object *requests; /* every request sent, for `parma policy explain` */
	struct policy_runenv *env;    /* --env / --env-file values: memory only */
	struct policy_engine *dry;    /* set while the sequence is checked on the host */
	struct json_object *decisions; /* the agent's decision for each of them */
	/* signed policy fragments (--fragment), loaded after the policy, before any container */
	const char *fragment_paths[POLICY_MAX_FRAGMENTS];
	uint8_t *fragments[POLICY_MAX_FRAGMENTS];
	size_t fragment_len[POLICY_MAX_FRAGMENTS], n_fragments;
	/* rules of containers that a fragment, not the policy, allows — from the --fragment
	 * payloads, then generated from the spec — to build their requests from through the same
	 * typed queries (the guest decides; this is only the host's plan) */
	struct policy *fragment_rules[2 * POLICY_MAX_FRAGMENTS];
	size_t n_fragment_rules;
	bool quiet;
	/* the group's API (group_api.h): where, whether the spec's containers start at once
	 * (--start none: only through POST /v1/containers), and what it asked for */
	const char *api_sock;
	struct group_api *api;
	bool start_none;
	bool stop_requested;
	struct json_object *last_denial; /* the agent's answer to the last denied request */
	const char *info_state;		  /* the last state written, for state events */
	bool seccomp_off; /* kvm backend: the VMM runs without its seccomp filters (debugging) */
	bool jail_off;    /* kvm backend as root: the VMM runs unjailed (debugging) */
	char jail_dir[PATH_MAX];
};

static volatile sig_atomic_t run_interrupted;

static void run_on_signal(int sig)
{
	run_interrupted = sig;
}

/* ---- output ---- */

static struct run_container *container_by_process(struct run *r, uint32_t pid)
{
	for (size_t i = 0; i < r->n_containers; i++)
		if (r->containers[i].process_id == pid && r->containers[i].process_id)
			return &r->containers[i];
	return NULL;
}

/* Container output: to our stdout/stderr with a "name | " prefix at each line start, and to
 * the container's log file unprefixed. */
static void run_on_output(void *opaque, uint32_t pid, int stream, const uint8_t *data,
			  size_t len, bool eof)
{
	struct run *r = opaque;
	struct run_container *c = container_by_process(r, pid);
	if (!c || eof || stream < 1 || stream > 2)
		return;
	FILE *out = stream == 1 ? stdout : stderr;
	if (c->log)
		group_log_write(c->log, data, len);
	for (size_t i = 0; i < len; i++) {
		if (c->at_line_start[stream])
			fprintf(out, "%s | ", c->name);
		fputc(data[i], out);
		c->at_line_start[stream] = data[i] == '\n';
	}
	fflush(out);
}

/* Dev mode: the agent has no TEE and asks us for a report. We sign one with the local
 * development key, binding HOST_DATA to the policy this group was launched with. */
static int run_on_dev_report(void *opaque, const uint8_t report_data[AGENT_REPORT_DATA_SIZE],
			     uint8_t report[AGENT_REPORT_SIZE], struct json_object **certs_json)
{
	struct run *r = opaque;
	struct errbuf eb = { 0 };
	if (r->tee != GROUP_TEE_DEV || !r->dev_ca)
		return -EPERM;
	int ret = snp_dev_make_report(r->dev_ca, r->measurement, r->digest.sha256, report_data,
				      report, &eb);
	if (ret < 0)
		return ret;
	const char *names[] = { "ark", "ask", "vcek" };
	struct json_object *certs = json_object_new_object();
	for (size_t i = 0; i < 3; i++) {
		char path[GROUP_PATH_MAX + 16];
		uint8_t *pem;
		size_t len;
		snprintf(path, sizeof(path), "%s/%s.pem", r->paths.certs, names[i]);
		if (file_read_all(path, 1 << 20, &pem, &len, NULL) == 0) {
			json_object_object_add(certs, names[i],
					       json_object_new_string_len((char *)pem, (int)len));
			free(pem);
		}
	}
	*certs_json = certs;
	return 0;
}

/* ---- requests ---- */

static void run_save_requests(struct run *r)
{
	const char *text = json_object_to_json_string_ext(r->requests, JSON_C_TO_STRING_PRETTY);
	file_write_atomic(r->paths.requests, text, strlen(text), 0600, NULL);
	text = json_object_to_json_string_ext(r->decisions, JSON_C_TO_STRING_PRETTY);
	file_write_atomic(r->paths.decisions, text, strlen(text), 0600, NULL);
}

/* What the agent decided for a recorded request, in explain's decision form ("request",
 * "allowed", "reason": {"rule"}); "failed" when it was allowed but its effect failed. */
static struct json_object *agent_decision(const char *type, int ret, struct json_object *resp)
{
	struct json_object *o = json_object_new_object(), *err, *reason, *rule;
	json_object_object_add(o, "request", json_object_new_string(type));
	bool denied = ret == -EACCES;
	json_object_object_add(o, "allowed", json_object_new_boolean(!denied));
	if (denied && json_object_object_get_ex(resp, "error", &err) &&
	    json_object_object_get_ex(err, "reason", &reason) &&
	    json_object_object_get_ex(reason, "rule", &rule)) {
		struct json_object *ro = json_object_new_object();
		json_object_object_add(ro, "rule", json_object_get(rule));
		json_object_object_add(o, "reason", ro);
	}
	if (ret < 0 && !denied)
		json_object_object_add(o, "failed", json_object_new_boolean(true));
	return o;
}

static void print_denial(struct run *r, const char *what, struct json_object *resp,
			 const struct errbuf *eb)
{
	fprintf(stderr, "%s: %s denied by the policy: %s\n", r->prog, what, errbuf_msg(eb));
	group_print_reason(stderr, resp);
	fprintf(stderr, "  reproduce: parma policy explain %s %s%s\n", r->paths.policy,
		r->paths.requests,
		policy_runenv_empty(r->env) ? "" : " --env-file FILE (the run-time values)");
}

/* The run-time values of container `id` ({"NAME": "VALUE"}, borrowed) or NULL. */
static struct json_object *run_values(struct run *r, const char *id)
{
	struct json_object *v;
	if (!r->env || !json_object_object_get_ex(policy_runenv_json(r->env), id, &v))
		return NULL;
	return v;
}

static const char *req_member(struct json_object *req, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(req, key, &v) ? json_object_get_string(v) : NULL;
}

/* The policy document's entry for container `name`, only to show a denial's rule: *doc owns
 * it (json_object_put it). */
static struct json_object *policy_entry(struct run *r, const char *name, struct json_object **doc)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *cs, *n;
	*doc = tok ? json_tokener_parse_ex(tok, (const char *)r->policy, (int)r->policy_len) : NULL;
	if (tok)
		json_tokener_free(tok);
	if (!*doc || !json_object_object_get_ex(*doc, "containers", &cs) ||
	    !json_object_is_type(cs, json_type_array))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(cs); i++) {
		struct json_object *pc = json_object_array_get_idx(cs, i);
		if (json_object_object_get_ex(pc, "name", &n) &&
		    !strcmp(json_object_get_string(n), name))
			return pc;
	}
	return NULL;
}

/* The policy's env rules that name variable `name` ("NAME=..."), for a pre-boot denial. */
static void print_env_rules_for(struct run *r, const char *container, const char *name)
{
	struct json_object *doc, *pc = policy_entry(r, container, &doc), *rules;
	size_t n = strlen(name), shown = 0;
	if (!pc || !json_object_object_get_ex(pc, "env_rules", &rules)) {
		json_object_put(doc);
		return;
	}
	for (size_t i = 0; i < json_object_array_length(rules); i++) {
		struct json_object *rule = json_object_array_get_idx(rules, i);
		const char *pattern = req_member(rule, "pattern");
		if (!pattern || strncmp(pattern, name, n) || pattern[n] != '=')
			continue;
		const char *strategy = req_member(rule, "strategy");
		bool regex = strategy && !strcmp(strategy, "regex");
		/* an exact rule's value is a value too: shown only when it is not a run-time one */
		fprintf(stderr, "  policy    containers['%s'].env_rules[%zu]: %s %s%s\n", container, i,
			regex ? "regex" : "exact value", regex ? pattern : name,
			regex ? "" : "=...");
		shown++;
	}
	if (!shown)
		fprintf(stderr, "  policy    containers['%s'] has no env rule for %s\n", container, name);
	json_object_put(doc);
}

/* The host's own engine decides a request of the sequence before boot. A denial is printed
 * with the rule (never a value) and changes nothing. */
static int run_dry_call(struct run *r, const char *what, struct json_object *req)
{
	struct policy_decision d;
	const char *type = req_member(req, "type");
	/* what the engine does not decide by itself (start_container, wait) is not replayed */
	if (!type || !strcmp(type, "start_container") || !strcmp(type, "wait"))
		return 0;
	int ret = policy_decide_json(r->dry, req, &d);
	if (ret == 0 && d.allowed)
		return 0;
	const char *id = req_member(req, "container_id");
	fprintf(stderr, "%s: before boot: %s%s%s%s would be denied by the policy: %s\n", r->prog,
		what, id ? " for '" : "", id ? id : "", id ? "'" : "", d.reason.message);
	const char *const reason[][2] = { { "rule", policy_rule_name(d.reason.rule) },
					  { "field", d.reason.field },
					  { "expected", d.reason.expected },
					  { "got", d.reason.got },
					  { "source", d.source } };
	for (size_t i = 0; i < sizeof(reason) / sizeof(reason[0]); i++)
		if (reason[i][1] && reason[i][1][0])
			fprintf(stderr, "  %-9s %s\n", reason[i][0], reason[i][1]);
	/* Name the variable and its rule: env[i] of the request, or a required rule's index. */
	struct json_object *env;
	unsigned idx;
	if (id && json_object_object_get_ex(req, "env", &env)) {
		if (sscanf(d.reason.field, "env[%u]", &idx) == 1 &&
		    idx < json_object_array_length(env)) {
			const char *var = json_object_get_string(json_object_array_get_idx(env, idx));
			char name[256];
			snprintf(name, sizeof(name), "%.*s", (int)strcspn(var, "="), var);
			fprintf(stderr, "  variable  %s%s\n", name,
				policy_runenv_get(r->env, id, name) ? " (given with --env/--env-file)"
								     : " (the policy's exact value)");
			print_env_rules_for(r, id, name);
		} else if (sscanf(d.reason.expected, "a variable matching required regex rule %u",
				  &idx) == 1) {
			struct json_object *doc, *pc = policy_entry(r, id, &doc), *rules;
			if (pc && json_object_object_get_ex(pc, "env_rules", &rules) &&
			    idx < json_object_array_length(rules)) {
				const char *pattern =
					req_member(json_object_array_get_idx(rules, idx), "pattern");
				fprintf(stderr, "  policy    containers['%s'].env_rules[%u]: required "
					"regex %s\n  give it with --env %s:%.*s=VALUE or --env-file\n",
					id, idx, pattern ? pattern : "?", id,
					pattern ? (int)strcspn(pattern, "=") : 4, pattern ? pattern : "NAME");
			}
			json_object_put(doc);
		}
	}
	return -EACCES;
}

/* Send one request (recorded for explain, run-time values redacted), wait for its answer.
 * 0, -EACCES (denied: printed with its reason), or another negative errno (printed). While
 * r->dry is set the host's engine decides instead and nothing is sent or recorded. */
static int run_call(struct run *r, const char *what, struct json_object *req,
		    struct json_object **resp_out)
{
	struct errbuf eb = { 0 };
	struct json_object *resp = NULL;

	if (r->dry)
		return run_dry_call(r, what, req);
	int ret = agent_client_call(r->client, req, RUN_REQUEST_TIMEOUT_MS, &resp, &eb);
	/* the request as sent, and the agent's decision: `parma policy explain` reads the same
	 * form and must reach the same decision (install_policy is explain's own first step);
	 * run-time env values are recorded as NAME=<<redacted>> (a copy: req goes on the wire) */
	if (strcmp(what, "install_policy")) {
		struct json_object *t = json_object_object_get(req, "type"), *rec = NULL;
		if (json_object_deep_copy(req, &rec, NULL) < 0)
			rec = json_object_new_object();
		policy_runenv_redact(r->env, req_member(req, "container_id"), rec);
		json_object_array_add(r->requests, rec);
		json_object_array_add(r->decisions,
				      agent_decision(json_object_get_string(t), ret, resp));
		run_save_requests(r);
	}
	if (ret == -EACCES) {
		print_denial(r, what, resp, &eb);
		json_object_put(r->last_denial);
		r->last_denial = json_object_get(resp);
		struct json_object *ev = json_object_new_object(), *err;
		json_object_object_add(ev, "request", json_object_new_string(what));
		const char *cid = req_member(req, "container_id");
		if (cid)
			json_object_object_add(ev, "container_id", json_object_new_string(cid));
		if (json_object_object_get_ex(resp, "error", &err))
			json_object_object_add(ev, "error", json_object_get(err));
		group_api_event(r->api, "denied", ev);
	} else if (ret < 0)
		fprintf(stderr, "%s: %s failed: %s\n", r->prog, what, errbuf_msg(&eb));
	if (resp_out && ret == 0)
		*resp_out = resp;
	else
		json_object_put(resp);
	return ret;
}

static void req_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

/* ---- preparing: spec, images, policy, disks ---- */

static int find_layer(struct run *r, const char *root_hash)
{
	for (size_t i = 0; i < r->n_layers; i++)
		if (!strcmp(r->layers[i].root_hash, root_hash))
			return (int)i;
	return -1;
}

/* Index the plan's layer images by root hash, so that the policy's layers (generated or
 * given) map to disk images. */
static int run_collect_layers(struct run *r, const struct policy_gen_plan *plan,
			      struct errbuf *eb)
{
	for (size_t c = 0; c < plan->n_containers; c++) {
		const struct policy_gen_container *pc = &plan->containers[c];
		for (size_t i = 0; i < pc->n_layers; i++) {
			const struct policy_gen_layer *pl = &pc->layers[i];
			char hex[65];
			hex_encode(pl->info.root_hash, 32, hex);
			if (find_layer(r, hex) >= 0)
				continue;
			if (r->n_layers == RUN_MAX_LAYERS)
				return errbuf_set(eb, E2BIG, "more than %d distinct layers in the group",
						  RUN_MAX_LAYERS);
			struct run_layer *l = &r->layers[r->n_layers++];
			memcpy(l->root_hash, hex, sizeof(hex));
			l->hash_offset = pl->info.hash_offset;
			if (snprintf(l->image, sizeof(l->image), "%s", pl->image_path) >=
			    (int)sizeof(l->image))
				return errbuf_set(eb, ENAMETOOLONG, "%s: path too long", pl->image_path);
		}
	}
	return 0;
}

/* Match the policy's containers to the spec's by name and their layers to disk images. */
static int run_bind_policy(struct run *r, struct errbuf *eb)
{
	r->n_containers = r->spec->n_containers;
	r->containers = calloc(r->n_containers, sizeof(*r->containers));
	if (!r->containers)
		return errbuf_set(eb, ENOMEM, "out of memory");
	for (size_t c = 0; c < r->n_containers; c++) {
		struct run_container *rc = &r->containers[c];
		rc->name = r->spec->containers[c].name;
		for (size_t k = 0; k < 3; k++)
			rc->at_line_start[k] = true;
		/* the policy's own entry, else (for a container a fragment brings) the fragment's */
		const struct policy *src = r->loaded;
		long idx = policy_container_find(src, rc->name);
		for (size_t k = 0; idx < 0 && r->spec->containers[c].fragment; k++) {
			if (k == r->n_fragment_rules)
				break;
			src = r->fragment_rules[k];
			idx = policy_container_find(src, rc->name);
		}
		if (idx < 0)
			return errbuf_set(eb, ENOENT, "the policy has no container named '%s'",
					  rc->name);
		rc->rules = src;
		rc->policy_idx = (size_t)idx;
		const uint8_t(*layers)[POLICY_SHA256_LEN];
		size_t n = policy_container_layers(src, rc->policy_idx, &layers);
		for (size_t i = 0; i < n; i++) {
			char h[65];
			hex_encode(layers[i], POLICY_SHA256_LEN, h);
			int li = find_layer(r, h);
			if (li < 0)
				return errbuf_set(eb, ENOENT,
						  "policy container '%s' layers[%zu] = %s: no image in "
						  "the spec has this layer",
						  rc->name, i, h);
			if (rc->n_layers == RUN_MAX_LAYERS)
				return errbuf_set(eb, E2BIG, "too many layers");
			rc->layer[rc->n_layers++] = (size_t)li;
		}
	}
	return 0;
}

static int host_memory_check(const struct group_spec *spec, struct errbuf *eb)
{
	struct sysinfo si;
	if (sysinfo(&si) == 0) {
		uint64_t total_mib = (uint64_t)si.totalram * si.mem_unit >> 20;
		if (spec->memory_mib > total_mib)
			return errbuf_set(eb, ENOMEM,
					  "memory_mib: %u MiB is more than this host has (%llu MiB)",
					  spec->memory_mib, (unsigned long long)total_mib);
	}
	return 0;
}

/* The run-time values against the spec: every container and variable they name exists, and
 * every required regex variable has a value. The message names what is wrong, never a value. */
static int run_check_env(struct run *r, struct errbuf *eb)
{
	struct json_object *all = r->env ? policy_runenv_json(r->env) : NULL;
	if (all) {
		json_object_object_foreach(all, cname, vars)
		{
			const struct group_container *gc = NULL;
			for (size_t i = 0; i < r->spec->n_containers && !gc; i++)
				if (!strcmp(r->spec->containers[i].name, cname))
					gc = &r->spec->containers[i];
			if (!gc)
				return errbuf_set(eb, ENOENT, "--env/--env-file: the group has no "
						  "container '%s'", cname);
			json_object_object_foreach(vars, name, value)
			{
				(void)value;
				bool known = false;
				for (size_t k = 0; k < gc->n_env && !known; k++)
					known = !strcmp(gc->env[k].name, name);
				if (!known)
					return errbuf_set(eb, ENOENT, "--env/--env-file: container '%s' "
							  "has no variable %s in the spec's env",
							  cname, name);
			}
		}
	}
	for (size_t i = 0; i < r->spec->n_containers && !r->start_none; i++) {
		const struct group_container *gc = &r->spec->containers[i];
		for (size_t k = 0; k < gc->n_env; k++)
			if (gc->env[k].required && gc->env[k].is_regex &&
			    !policy_runenv_get(r->env, gc->name, gc->env[k].name))
				return errbuf_set(eb, ENOENT, "container '%s' requires %s (a value "
						  "matching %s): give it with --env %s:%s=VALUE or "
						  "--env-file FILE", gc->name, gc->env[k].name,
						  gc->env[k].value, gc->name, gc->env[k].name);
	}
	return 0;
}

/* The guest initrd: $PARMA_INITRD, the build tree's, or the installed one. */
static int find_initrd(char *out, size_t size, struct errbuf *eb)
{
	if (group_find_guest_file("PARMA_INITRD", "guest/initrd/parma-initrd.img", out, size) < 0)
		return errbuf_set(eb, ENOENT,
				  "%s: guest initrd not found (build it with meson, or set PARMA_INITRD)",
				  out);
	return 0;
}

/* The kvm backend's firmware: --firmware FILE, --firmware none (the VMM enters the kernel
 * directly: no measured boot, so dev only), or by default the stage0 built or installed next
 * to parma, if there. */
static int find_firmware(struct run *r, const char *requested, struct errbuf *eb)
{
	r->firmware[0] = '\0';
	if (!requested) {
		const char *env = getenv("PARMA_FIRMWARE");
		if (r->backend != GROUP_BACKEND_KVM)
			return 0;
		if (group_vmm_find_firmware(r->firmware, sizeof(r->firmware)) == 0)
			return 0;
		r->firmware[0] = '\0';
		if (env && *env) /* named but not there: not silently a boot without firmware */
			return errbuf_set(eb, ENOENT, "PARMA_FIRMWARE=%s: %s", env, strerror(ENOENT));
		return 0;
	}
	if (r->backend != GROUP_BACKEND_KVM)
		return errbuf_set(eb, EINVAL, "--firmware needs the kvm backend (QEMU boots with its "
				  "own firmware)");
	if (!strcmp(requested, "none")) {
		if (r->tee == GROUP_TEE_SNP)
			return errbuf_set(eb, EINVAL, "--firmware none: an SEV-SNP launch needs the "
					  "measured firmware");
		return 0;
	}
	if (snprintf(r->firmware, sizeof(r->firmware), "%s", requested) >= (int)sizeof(r->firmware))
		return errbuf_set(eb, ENAMETOOLONG, "--firmware: path too long");
	if (access(r->firmware, R_OK) < 0) {
		int err = errno;
		return errbuf_set(eb, err, "--firmware %s: %s", requested, strerror(err));
	}
	return 0;
}

/* ---- the group's life ---- */

/* Send a typed request in the one request form. */
static int run_send(struct run *r, const struct policy_request *q, struct json_object **resp)
{
	struct json_object *req = policy_request_to_json(q);
	if (!req)
		return -ENOMEM;
	int ret = run_call(r, policy_request_type_name(q->type), req, resp);
	json_object_put(req);
	return ret;
}

static int run_mount_all(struct run *r)
{
	int ret;
	for (size_t i = 0; i < r->n_layers; i++) {
		struct run_layer *l = &r->layers[i];
		struct policy_request q = {.type = POLICY_REQ_MOUNT_DEVICE};
		q.u.mount_device = (struct policy_req_mount_device){
			.target = l->target, .device = l->device, .hash_offset = l->hash_offset};
		hex_decode(l->root_hash, q.u.mount_device.device_hash, POLICY_SHA256_LEN);
		if ((ret = run_send(r, &q, NULL)) < 0)
			return ret;
	}
	char dev[16];
	snprintf(dev, sizeof(dev), "/dev/vd%c", (char)('a' + r->n_layers));
	struct policy_request q = {.type = POLICY_REQ_MOUNT_SCRATCH};
	q.u.mount_scratch = (struct policy_req_mount_scratch){
		.target = POLICY_PATH_SCRATCH, .encrypted = true, .device = dev};
	return run_send(r, &q, NULL);
}

/* The spec's cgroup limits as create_container's "resources" (the agent's, not the policy's:
 * docs/policy.md); cpu_millis is CPU time per 100 ms period. */
static void run_add_resources(struct json_object *req, const struct group_container *gc)
{
	if (!gc->cpu_millis && !gc->memory_mib && !gc->pids_max)
		return;
	struct json_object *o = json_object_new_object();
	if (gc->memory_mib)
		json_object_object_add(o, "memory_bytes",
				       json_object_new_int64((int64_t)gc->memory_mib << 20));
	if (gc->cpu_millis) {
		json_object_object_add(o, "cpu_quota_us",
				       json_object_new_int64((int64_t)gc->cpu_millis * 100));
		json_object_object_add(o, "cpu_period_us", json_object_new_int64(100000));
	}
	if (gc->pids_max)
		json_object_object_add(o, "pids_max", json_object_new_int64(gc->pids_max));
	json_object_object_add(req, "resources", o);
}

static int run_start_container(struct run *r, struct run_container *c)
{
	char target[POLICY_MAX_TARGET + 1];
	const char *layers[RUN_MAX_LAYERS];
	int ret;

	for (size_t i = 0; i < c->n_layers; i++)
		layers[i] = r->layers[c->layer[i]].target;
	/* the guest's path map names the rootfs; the request goes out as names */
	if (policy_path_rootfs(target, sizeof(target), c->name))
		return -EINVAL;
	struct policy_request q = {.type = POLICY_REQ_MOUNT_OVERLAY};
	q.u.mount_overlay = (struct policy_req_mount_overlay){
		.container_id = c->name, .target = target, .layer_targets = {layers, c->n_layers},
		.scratch = POLICY_PATH_SCRATCH};
	if (!c->overlay_mounted && (ret = run_send(r, &q, NULL)) < 0)
		return ret;
	c->overlay_mounted = !r->dry;

	struct json_object *resp = NULL, *v, *req = group_req_create(c->rules, c->name);
	if (!req)
		return -ENOMEM;
	group_req_add_env_values(req, run_values(r, c->name));
	run_add_resources(req, &r->spec->containers[c - r->containers]);
	ret = run_call(r, "create_container", req, &resp);
	json_object_put(req);
	if (ret < 0 || r->dry)
		return ret;
	if (json_object_object_get_ex(resp, "process_id", &v))
		c->process_id = (uint32_t)json_object_get_int64(v);
	json_object_put(resp);

	req = group_req_new("start_container");
	req_str(req, "container_id", c->name);
	ret = run_call(r, "start_container", req, NULL);
	json_object_put(req);
	if (ret < 0)
		return ret;
	c->started = true;
	struct json_object *ev = json_object_new_object();
	json_object_object_add(ev, "container_id", json_object_new_string(c->name));
	json_object_object_add(ev, "process_id", json_object_new_int64(c->process_id));
	group_api_event(r->api, "container_started", ev);

	/* Ask now to be told when it ends; the answer arrives while we pump. */
	struct errbuf eb = { 0 };
	req = group_req_new("wait");
	json_object_object_add(req, "process_id", json_object_new_int64(c->process_id));
	ret = agent_client_send(r->client, req, &c->wait_id, &eb);
	json_object_put(req);
	if (ret < 0)
		fprintf(stderr, "%s: wait for '%s': %s\n", r->prog, c->name, errbuf_msg(&eb));
	return ret;
}

static void run_write_info(struct run *r, const char *state)
{
	struct json_object *o = json_object_new_object(), *cs = json_object_new_array();
	req_str(o, "name", r->spec->name);
	req_str(o, "state", state);
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	req_str(o, "backend", group_backend_name(r->backend));
	req_str(o, "tee", group_tee_name(r->tee));
	req_str(o, "policy_sha256", r->digest.hex);
	for (size_t i = 0; i < r->n_containers; i++) {
		struct run_container *c = &r->containers[i];
		struct json_object *j = json_object_new_object();
		req_str(j, "name", c->name);
		json_object_object_add(j, "process_id", json_object_new_int64(c->process_id));
		req_str(j, "state", c->exited ? "exited" : c->started ? "running" : "created");
		if (c->exited)
			json_object_object_add(j, "exit_code", json_object_new_int(c->exit_code));
		json_object_array_add(cs, j);
	}
	json_object_object_add(o, "containers", cs);
	if (r->api)
		req_str(o, "api_sock", r->api_sock);
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	file_write_atomic(r->paths.info, text, strlen(text), 0600, NULL);
	group_api_set_group(r->api, o);
	json_object_put(o);
	if (!r->info_state || strcmp(r->info_state, state)) {
		struct json_object *ev = json_object_new_object();
		req_str(ev, "state", state);
		group_api_event(r->api, "group_state", ev);
	}
	r->info_state = state;
}

/* Ask the agent for a fresh report bound to a random nonce and verify it: the summary a user
 * (or a verifier) checks before trusting the group. */
static int run_attest_summary(struct run *r)
{
	uint8_t nonce[64], report[1184];
	char hex[129];
	struct errbuf eb = { 0 };
	struct json_object *resp = NULL, *v;
	int ret;

	if (getrandom(nonce, sizeof(nonce), 0) != sizeof(nonce))
		return -EIO;
	hex_encode(nonce, sizeof(nonce), hex);
	struct json_object *req = group_req_new("get_report");
	req_str(req, "report_data", hex);
	ret = agent_client_call(r->client, req, RUN_REQUEST_TIMEOUT_MS, &resp, &eb);
	json_object_put(req);
	if (ret < 0) {
		fprintf(stderr, "%s: attestation report: %s\n", r->prog, errbuf_msg(&eb));
		return ret;
	}
	long n = -1;
	if (json_object_object_get_ex(resp, "report", &v))
		n = base64_decode(json_object_get_string(v), report, sizeof(report));
	json_object_put(resp);
	if (n != (long)sizeof(report)) {
		fprintf(stderr, "%s: attestation report: the agent's answer holds no 1184-byte report\n",
			r->prog);
		return -EINVAL;
	}

	struct snp_certs *certs = snp_certs_new();
	struct snp_claims claims = { .allow_dev = r->tee == GROUP_TEE_DEV,
				     .check_host_data = true,
				     .host_data_source = r->paths.policy,
				     .check_report_data = true };
	memcpy(claims.host_data, r->digest.sha256, 32);
	memcpy(claims.report_data, nonce, 64);
	struct snp_verdict *verdict = calloc(1, sizeof(*verdict));
	if (!certs || !verdict || snp_certs_add_dir(certs, r->paths.certs, &eb) < 0) {
		fprintf(stderr, "%s: attestation: %s\n", r->prog, errbuf_msg(&eb));
		snp_certs_free(certs);
		free(verdict);
		return -EIO;
	}
	ret = snp_verify_report(certs, report, sizeof(report), &claims, verdict, &eb);
	char mhex[97];
	hex_encode(verdict->report.measurement, 48, mhex);
	printf("== attestation (%s): %s\n", group_tee_name(r->tee),
	       ret == 0 ? "VERIFIED" : "NOT VERIFIED");
	if (verdict->dev_chain)
		printf("   WARNING: development signer, not AMD: this proves nothing about the host\n");
	printf("   HOST_DATA   %s (policy %s)\n", r->digest.hex, r->paths.policy);
	printf("   MEASUREMENT %s\n", mhex);
	for (size_t i = 0; i < verdict->n_checks; i++)
		printf("   %-4s %s%s%s\n", verdict->checks[i].held ? "ok" : "FAIL",
		       verdict->checks[i].name, verdict->checks[i].detail[0] ? ": " : "",
		       verdict->checks[i].detail);
	printf("   check it yourself: parma attest %s > report.bin && parma verify report.bin "
	       "--certs %s --policy %s%s\n",
	       r->spec->name, r->paths.certs, r->paths.policy,
	       r->tee == GROUP_TEE_DEV ? " --allow-dev" : "");
	fflush(stdout);
	snp_certs_free(certs);
	free(verdict);
	return ret;
}

/* Why a VM process ended by itself. The agent is the guest's PID 1: if it dies, the guest
 * kernel panics, and with panic=-1 the VM ends. */
static const char *guest_end_reason(bool our_vmm, int code)
{
	if (!our_vmm) /* QEMU -no-reboot: 0 for a poweroff, a reset or a panic alike */
		return "the guest powered off, reset or panicked: the agent (PID 1) died or the "
		       "guest kernel failed";
	switch (code) {
	case 0: return "the guest powered off";
	case 6: return "the guest reset";
	case 7: return "the guest kernel panicked: the agent (PID 1) died or the kernel failed";
	case 9: return "a vCPU failed";
	case SECCOMP_FILTER_EXIT: return "a seccomp filter violation in the VMM";
	default: return "the VMM failed";
	}
}

/* The agent's stream ended: say whether the VM process died (and how) or the agent went
 * away inside a VM that still runs. */
static void run_report_guest_gone(struct run *r)
{
	int status = 0, gone = 0;
	const char *what = r->vm ? "QEMU" : "the VMM (parma boot)";
	pid_t pid = r->vm ? qemu_vm_pid(r->vm) : r->vmm_pid;
	/* A dead agent panics the guest kernel, which then ends the VM at once (panic=-1). */
	for (int waited = 0; waited < 10000 && !gone; waited += 100) {
		if (r->vm)
			gone = qemu_vm_wait(r->vm, 100, &status) == 0;
		else if (r->vmm_pid > 0 && waitpid(r->vmm_pid, &status, WNOHANG) == r->vmm_pid)
			gone = 1, r->vmm_pid = 0;
		else
			usleep(100000);
	}
	int agent = -1;
	if (gone) { /* the console's last bytes are in once the drain has ended */
		group_console_finish(r->console);
		r->console = NULL;
		agent = group_console_init_death(r->paths.console);
	}
	if (gone && WIFSIGNALED(status))
		fprintf(stderr, "%s: the guest is gone: %s (pid %d) was killed by signal %d (%s); "
			"console: %s\n", r->prog, what, (int)pid, WTERMSIG(status),
			strsignal(WTERMSIG(status)), r->paths.console);
	else if (gone && agent >= 0 && WIFSIGNALED(agent))
		fprintf(stderr, "%s: the guest is gone: the guest agent (PID 1) was killed by signal "
			"%d (%s), so the guest kernel panicked and %s (pid %d) ended the VM; its "
			"containers and policy state are gone with it (the agent is never restarted); "
			"console: %s\n", r->prog, WTERMSIG(agent), strsignal(WTERMSIG(agent)), what,
			(int)pid, r->paths.console);
	else if (gone && agent >= 0)
		fprintf(stderr, "%s: the guest is gone: the guest agent (PID 1) exited with status "
			"%d, so the guest kernel panicked and %s (pid %d) ended the VM; its "
			"containers and policy state are gone with it (the agent is never restarted); "
			"console: %s\n", r->prog, WEXITSTATUS(agent), what, (int)pid,
			r->paths.console);
	else if (gone)
		fprintf(stderr, "%s: the guest is gone: %s (pid %d) exited with status %d (%s); "
			"console: %s\n", r->prog, what, (int)pid, WEXITSTATUS(status),
			guest_end_reason(!r->vm, WEXITSTATUS(status)), r->paths.console);
	else
		fprintf(stderr, "%s: the guest agent closed its connection while %s still runs: "
			"the agent crashed or the guest kernel failed; console: %s\n", r->prog, what,
			r->paths.console);
}

/* ---- requests of the group's API that need the group's own state ---- */

static struct json_object *api_error(const char *code, const char *message)
{
	struct json_object *o = json_object_new_object(), *e = json_object_new_object();
	req_str(e, "code", code);
	req_str(e, "message", message);
	json_object_object_add(o, "error", e);
	return o;
}

/* POST /v1/containers: start the spec's container `name` with run-time values `env`
 * (checked against the spec as --env is; the guest's policy decides them). */
static unsigned run_api_start(struct run *r, struct json_object *cmd, struct json_object **body)
{
	const char *name = req_member(cmd, "name");
	char msg[512];
	struct run_container *c = NULL;
	const struct group_container *gc = NULL;
	for (size_t i = 0; i < r->n_containers && name; i++)
		if (!strcmp(r->containers[i].name, name)) {
			c = &r->containers[i];
			gc = &r->spec->containers[i];
		}
	if (!c) {
		snprintf(msg, sizeof(msg), "name: the group has no container '%.64s'",
			 name ? name : "");
		*body = api_error("not_found", msg);
		return 404;
	}
	if (c->started) {
		snprintf(msg, sizeof(msg), "container '%s' was already started (%s)", c->name,
			 c->exited ? "it exited" : "it runs");
		*body = api_error("conflict", msg);
		return 409;
	}
	struct json_object *env = NULL;
	json_object_object_get_ex(cmd, "env", &env);
	if (env) {
		json_object_object_foreach(env, var, value) {
			(void)value;
			bool known = false;
			for (size_t k = 0; k < gc->n_env && !known; k++)
				known = !strcmp(gc->env[k].name, var);
			if (!known) {
				snprintf(msg, sizeof(msg), "env.%.64s: container '%s' has no variable "
					 "%.64s in the spec's env", var, c->name, var);
				*body = api_error("invalid", msg);
				return 400;
			}
		}
	}
	/* The values now: the command line's, with the request's replacing those it names (a
	 * refused start may be retried with other values). */
	struct policy_runenv *rv = policy_runenv_new();
	struct errbuf eb = { 0 };
	int ret = rv ? 0 : -ENOMEM;
	json_object_object_foreach(policy_runenv_json(r->env), cname, vars) {
		json_object_object_foreach(vars, var, value) {
			if (ret == 0 && !(env && !strcmp(cname, c->name) &&
					  json_object_object_get_ex(env, var, NULL)))
				ret = policy_runenv_set(rv, cname, var, json_object_get_string(value),
							&eb);
		}
	}
	if (env) {
		json_object_object_foreach(env, var, value) {
			if (ret == 0)
				ret = policy_runenv_set(rv, c->name, var, json_object_get_string(value),
							&eb);
		}
	}
	if (ret < 0) {
		policy_runenv_free(rv);
		*body = api_error(ret == -ENOMEM ? "internal" : "invalid",
				  eb.code ? errbuf_msg(&eb) : "out of memory");
		return ret == -ENOMEM ? 500 : 400;
	}
	policy_runenv_free(r->env);
	r->env = rv;
	for (size_t k = 0; k < gc->n_env; k++)
		if (gc->env[k].required && gc->env[k].is_regex &&
		    !policy_runenv_get(r->env, gc->name, gc->env[k].name)) {
			snprintf(msg, sizeof(msg), "env.%s: container '%s' requires it (a value "
				 "matching %s)", gc->env[k].name, gc->name, gc->env[k].value);
			*body = api_error("invalid", msg);
			return 400;
		}
	if (!r->quiet)
		printf("== starting container %s (API)\n", c->name);
	ret = run_start_container(r, c);
	run_write_info(r, "running");
	if (ret == -EACCES) {
		char reproduce[2 * GROUP_PATH_MAX + 64];
		snprintf(reproduce, sizeof(reproduce), "parma policy explain %s %s%s",
			 r->paths.policy, r->paths.requests,
			 policy_runenv_empty(r->env) ? "" : " --env-file FILE (the run-time values)");
		*body = group_denial_json(r->last_denial, reproduce);
		return 403;
	}
	if (ret < 0) {
		snprintf(msg, sizeof(msg), "starting '%s' failed: %s", c->name, strerror(-ret));
		*body = api_error("agent", msg);
		return 502;
	}
	struct json_object *o = json_object_new_object();
	req_str(o, "name", c->name);
	req_str(o, "state", "running");
	json_object_object_add(o, "process_id", json_object_new_int64(c->process_id));
	*body = o;
	return 201;
}

/* Answer what the API's threads handed to this one. */
static void run_serve_api(struct run *r)
{
	struct json_object *cmd;
	while ((cmd = group_api_next_command(r->api))) {
		const char *op = req_member(cmd, "op");
		struct json_object *body = NULL, *v;
		unsigned status = 400;
		if (op && !strcmp(op, "stop")) {
			r->stop_requested = true;
			body = json_object_new_object();
			req_str(body, "state", "stopping");
			status = 202;
		} else if (op && !strcmp(op, "env")) {
			/* the run-time values of one container, for an exec: memory to memory */
			v = run_values(r, req_member(cmd, "name"));
			body = json_object_new_object();
			if (v) {
				json_object_object_foreach(v, name, value)
					req_str(body, name, json_object_get_string(value));
			}
			status = 200;
		} else if (op && !strcmp(op, "start")) {
			status = run_api_start(r, cmd, &body);
		}
		group_api_finish_command(r->api, status, body);
		json_object_put(cmd);
	}
}

/* Pump until the main container exits (or the guest dies, or a signal). */
static int run_supervise(struct run *r)
{
	struct run_container *main_c = &r->containers[0];
	struct errbuf eb = { 0 };
	while (!run_interrupted) {
		run_serve_api(r);
		if (r->stop_requested)
			return -ECANCELED;
		int ret = agent_client_pump(r->client, 100, &eb);
		if (ret == -EPIPE || group_relay_agent_gone(r->relay)) {
			run_report_guest_gone(r);
			return -EPIPE;
		}
		for (size_t i = 0; i < r->n_containers; i++) {
			struct run_container *c = &r->containers[i];
			struct json_object *resp = NULL;
			if (!c->started || c->exited || !c->wait_id)
				continue;
			ret = agent_client_wait(r->client, c->wait_id, 0, &resp, &eb);
			if (ret == -ETIMEDOUT) {
				json_object_put(resp);
				continue;
			}
			c->exited = true;
			int status = ret == 0 ? group_wait_status(resp) : -1;
			c->exit_code = status >= 0 ? status : 255;
			json_object_put(resp);
			if (!r->quiet)
				fprintf(stderr, "%s: container '%s' exited with code %d\n", r->prog,
					c->name, c->exit_code);
			struct json_object *ev = json_object_new_object();
			req_str(ev, "container_id", c->name);
			json_object_object_add(ev, "exit_code", json_object_new_int(c->exit_code));
			group_api_event(r->api, "container_exited", ev);
			run_write_info(r, "running");
		}
		if (main_c->exited && !r->start_none)
			return 0;
	}
	return -EINTR;
}

static void run_shutdown(struct run *r)
{
	for (size_t i = r->n_containers; i-- > 0;) {
		struct run_container *c = &r->containers[i];
		if (!c->started || c->exited || !r->client)
			continue;
		struct json_object *req = group_req_new("shutdown_container"), *resp = NULL;
		struct errbuf eb = { 0 };
		req_str(req, "container_id", c->name);
		json_object_object_add(req, "force", json_object_new_boolean(1));
		agent_client_call(r->client, req, 10000, &resp, &eb);
		json_object_put(req);
		json_object_put(resp);
	}
}

static void run_usage(FILE *out)
{
	fprintf(out,
		"Usage: parma run GROUP.json [options]\n"
		"       parma run --kernel FILE [--initrd FILE] [--cmdline TEXT] [parma boot options]\n"
		"\n"
		"Convert the group's images, generate its policy (unless --policy), boot the group's\n"
		"confidential VM with HOST_DATA = SHA-256(policy), install the policy, start the\n"
		"containers in order and stream their output. Exits with the first container's code.\n"
		"\n"
		"Options:\n"
		"  --policy FILE        use this policy instead of generating one\n"
		"  --tee snp|dev        attestation: SEV-SNP, or a local development signer (default:\n"
		"                       snp where the host launches SNP guests, else dev)\n"
		"  --backend kvm|qemu   hypervisor (default: kvm on bare metal, else QEMU TCG)\n"
		"  --debug              generate the policy with the debug allowances (insecure)\n"
		"  --env C:NAME=VALUE   a run-time value for variable NAME of container C (repeatable);\n"
		"                       C:NAME alone takes NAME's value from parma's environment, so\n"
		"                       the value is not on the command line\n"
		"  --env-file FILE      run-time values from a JSON file {\"C\": {\"NAME\": \"VALUE\"}}\n"
		"  --initrd FILE        guest initrd (default: the one built next to parma)\n"
		"  --kernel FILE        guest kernel (default: the installed linux-image-amd64)\n"
		"  --firmware FILE|none kvm backend: the stage0 firmware that checks and enters the\n"
		"                       kernel (default: the one built or installed next to parma,\n"
		"                       if there); none enters the kernel directly (dev only)\n"
		"  --cache-dir DIR      layer cache (default: ~/.cache/parma/layers)\n"
		"  --boot-timeout S     seconds to wait for the guest's agent to answer (default 180;\n"
		"                       more on slow hosts, e.g. nested virtualization)\n"
		"  --fragment F.cose    load this signed policy fragment right after the policy,\n"
		"                       before any container starts (repeatable; see\n"
		"                       parma policy fragment --help)\n"
		"  -q, --quiet          only the containers' output and errors\n"
		"  --api-sock PATH      serve the group's API here (default: api.sock in the group's\n"
		"                       state directory; docs/group-api.md)\n"
		"  --start all|none     all: start the spec's containers in order (default); none:\n"
		"                       start them only through the API (POST /v1/containers), and\n"
		"                       run until POST /v1/stop or a signal\n"
		"  --seccomp=off        kvm backend: the VMM without its system-call filters\n"
		"                       (debugging only; it says so loudly)\n"
		"  --jail=off           kvm backend as root: the VMM without its jail (by default\n"
		"                       it runs as nobody in its own namespaces: docs/security.md)\n"
		"\n"
		"With --kernel and no GROUP.json it boots that kernel directly in the KVM VMM, as\n"
		"`parma boot` does (see parma boot --help).\n"
		"\n"
		"Run-time values fill the spec's env entries (those with a regex are meant for them);\n"
		"the guest's policy checks them like any value, and a value its rule refuses is\n"
		"reported before boot. They stay in memory: records show them as NAME=<<redacted>>.\n"
		"\n"
		"While it runs: parma ps, parma exec GROUP CONTAINER -- CMD, parma logs GROUP,\n"
		"parma attest GROUP, parma stop GROUP: clients of the group's API (--api-sock).\n"
		"Exit codes: the main container's exit code; 1 a request was denied or failed;\n"
		"2 usage; 3 invalid spec or policy; 4 no backend; 5 internal error; 125 the guest\n"
		"or its VM process died under the containers (the message says which); 130 interrupted.\n");
}

/* Load a fragment payload's rules for typed queries; one that does not parse adds nothing
 * (the agent will refuse it anyway). */
static void add_fragment_rules(struct run *r, const uint8_t *payload, size_t len)
{
	struct policy *f = NULL;
	if (r->n_fragment_rules < sizeof(r->fragment_rules) / sizeof(r->fragment_rules[0]) &&
	    policy_fragment_rules(payload, len, &f, NULL) == 0)
		r->fragment_rules[r->n_fragment_rules++] = f;
}

/* Read each --fragment file and check that it is a well-formed COSE_Sign1 fragment; whether
 * the policy accepts it is the agent's decision (load_fragment) once the policy is in. */
static int run_read_fragments(struct run *r, struct errbuf *eb)
{
	for (size_t i = 0; i < r->n_fragments; i++) {
		struct cose_fault f = { 0 };
		struct cose_sign1 *m = NULL;
		int ret = file_read_all(r->fragment_paths[i], COSE_MAX_DOCUMENT, &r->fragments[i],
					&r->fragment_len[i], eb);
		if (ret < 0)
			return ret;
		if ((ret = cose_sign1_decode(r->fragments[i], r->fragment_len[i], &m, &f)) < 0)
			return errbuf_set(eb, -ret, "%s: not a signed policy fragment: %s",
					  r->fragment_paths[i], errbuf_msg(&f.eb));
		add_fragment_rules(r, m->payload, m->payload_len);
		cose_sign1_free(m);
	}
	return 0;
}

static int run_prepare(struct run *r, const char *policy_file, bool debug, const char *cache_arg,
		       struct errbuf *eb)
{
	char cache[PATH_MAX];
	int ret;

	if (cache_arg)
		snprintf(cache, sizeof(cache), "%s", cache_arg);
	else if ((ret = image_cache_dir(cache, sizeof(cache), eb)) < 0)
		return ret;

	/* The images are converted (or found in the cache) either way: the plan says which layer
	 * image files hold the root hashes the policy names. */
	char *text = NULL;
	size_t len = 0;
	bool debug_used = false;
	struct policy_gen_opts opts = { .debug = debug, .cache_dir = cache };
	struct policy_gen_plan plan = { 0 };
	if (!r->quiet)
		printf("== converting images%s\n", policy_file ? "" : " and generating the policy");
	ret = policy_gen_with_plan(r->spec, &opts, &text, &len, &debug_used, &plan, eb);
	if (ret == 0)
		ret = run_collect_layers(r, &plan, eb);
	policy_gen_plan_free(&plan);
	/* the rules the spec expects its fragments to bring (after any --fragment's own) */
	for (size_t i = 0; i < r->spec->n_containers && ret == 0; i++) {
		const char *feed = r->spec->containers[i].fragment;
		bool seen = false;
		for (size_t j = 0; j < i && feed; j++)
			seen |= r->spec->containers[j].fragment &&
				!strcmp(r->spec->containers[j].fragment, feed);
		if (!feed || seen)
			continue;
		struct policy_gen_opts fo = opts;
		char *ftext = NULL;
		size_t flen = 0;
		bool fdebug;
		fo.fragment_feed = feed;
		ret = policy_gen(r->spec, &fo, &ftext, &flen, &fdebug, eb);
		if (ret == 0)
			add_fragment_rules(r, (const uint8_t *)ftext, flen);
		free(ftext);
	}
	if (ret < 0) {
		free(text);
		return ret;
	}
	if (policy_file) {
		free(text);
		if ((ret = file_read_all(policy_file, POLICY_MAX_BYTES, &r->policy, &r->policy_len,
					 eb)) < 0)
			return ret;
	} else {
		r->policy = (uint8_t *)text;
		r->policy_len = len;
		if (debug_used)
			fprintf(stderr, "%s: WARNING: the policy carries debug allowances: the host can "
				"look inside this group\n", r->prog);
	}
	struct policy *p = NULL;
	if ((ret = policy_load(r->policy, r->policy_len, &p, eb)) < 0) {
		errbuf_prefix(eb, "%s", policy_file ? policy_file : "generated policy");
		return ret;
	}
	r->digest = *policy_get_digest(p);
	if (policy_is_debug(p))
		fprintf(stderr, "%s: WARNING: %s is the allow-all DEBUG policy\n", r->prog,
			policy_file);
	r->loaded = p;
	return run_bind_policy(r, eb);
}

/* Where each layer appears in the guest: vda, vdb, ... in order, mounted under layers/. */
static void run_name_layers(struct run *r)
{
	for (size_t i = 0; i < r->n_layers; i++) {
		struct run_layer *l = &r->layers[i];
		snprintf(l->device, sizeof(l->device), "/dev/vd%c", (char)('a' + i));
		policy_path_layer(l->target, sizeof(l->target), (uint32_t)i);
	}
}

/* Disks: every distinct layer read-only (vda, vdb, ...), then the scratch disk. */
static int run_disks(struct run *r, struct qemu_disk *disks, struct errbuf *eb)
{
	for (size_t i = 0; i < r->n_layers; i++)
		disks[i] = (struct qemu_disk){ r->layers[i].image, 1 };
	snprintf(r->scratch, sizeof(r->scratch), "%s/scratch.img", r->paths.vm);
	int fd = open(r->scratch, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)RUN_SCRATCH_BYTES) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return errbuf_set(eb, e, "%s: %s", r->scratch, strerror(e));
	}
	close(fd);
	disks[r->n_layers] = (struct qemu_disk){ r->scratch, 0 };
	return 0;
}

static int run_dev_ca(struct run *r, struct errbuf *eb)
{
	char dir[PATH_MAX], cache[PATH_MAX];
	const char *env = getenv("PARMA_DEV_CA");
	int ret;
	if (env && *env) {
		snprintf(dir, sizeof(dir), "%s", env);
	} else {
		if ((ret = image_cache_dir(cache, sizeof(cache), eb)) < 0)
			return ret;
		if (snprintf(dir, sizeof(dir), "%s/../dev-ca", cache) >= (int)sizeof(dir))
			return errbuf_set(eb, ENAMETOOLONG, "%s: path too long", cache);
	}
	if ((ret = snp_dev_ca_open(dir, true, NULL, &r->dev_ca, eb)) < 0)
		return ret;
	/* The group's certs/ directory holds the public chain that verifies its reports. */
	const char *names[] = { "ark.pem", "ask.pem", "vcek.pem" };
	for (size_t i = 0; i < 3; i++) {
		char from[PATH_MAX + 16], to[GROUP_PATH_MAX + 16];
		uint8_t *pem;
		size_t len;
		snprintf(from, sizeof(from), "%s/%s", dir, names[i]);
		snprintf(to, sizeof(to), "%s/%s", r->paths.certs, names[i]);
		if ((ret = file_read_all(from, 1 << 20, &pem, &len, eb)) < 0)
			return ret;
		ret = file_write_atomic(to, pem, len, 0644, eb);
		free(pem);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* pci=off: the machine has no PCI, and without it Linux probes PCI configuration space at
 * boot (8192 slots for the AMD aperture check alone), each access an exit to the VMM; it also
 * keeps the host from offering the guest PCI devices at all. */
#define RUN_CMDLINE "console=ttyS0 panic=-1 pci=off quiet"

/* The guest as our VMM would run it: also what an SNP launch of the group measures. */
static void run_vmm_config(struct run *r, const struct qemu_disk *disks, size_t n_disks,
			   const char *vsock, struct group_vmm_config *vc)
{
	*vc = (struct group_vmm_config){
		.firmware = r->firmware[0] ? r->firmware : NULL,
		.kernel = r->kernel,
		.initrd = r->initrd,
		.cmdline = RUN_CMDLINE,
		.mem_mib = r->spec->memory_mib,
		.vcpus = r->spec->vcpus,
		.vsock_uds = vsock,
		.console_fd = -1,
		.snp = r->tee == GROUP_TEE_SNP,
		.policy_file = r->paths.policy,
		.seccomp_off = r->seccomp_off,
	};
	/* As root the VMM is jailed by default (SEV-SNP launches: not yet, /dev/sev is not
	 * passed in). */
	if (geteuid() == 0 && !r->jail_off && r->tee != GROUP_TEE_SNP &&
	    snprintf(r->jail_dir, sizeof(r->jail_dir), "%s/jail", r->paths.vm) <
		    (int)sizeof(r->jail_dir))
		vc->jail_dir = r->jail_dir;
	for (size_t i = 0; i < n_disks && i < GROUP_VMM_MAX_DRIVES; i++) {
		vc->drives[i] = disks[i].path;
		vc->drive_ro[i] = disks[i].read_only;
		vc->n_drives++;
	}
}

static int run_boot(struct run *r, struct errbuf *eb)
{
	struct qemu_disk disks[RUN_MAX_LAYERS + 1];
	char agent_port[GROUP_PATH_MAX + 32], vsock[GROUP_PATH_MAX + 32];
	size_t n_disks = r->n_layers + 1;
	struct group_vmm_config vc;
	int fd, ret;

	if ((ret = run_disks(r, disks, eb)) < 0)
		return ret;
	if (!r->kernel[0] && (ret = qemu_launch_default_kernel(r->kernel, sizeof(r->kernel), eb)) < 0)
		return ret;
	snprintf(vsock, sizeof(vsock), "%s/vsock.sock", r->paths.vm);
	run_vmm_config(r, disks, n_disks, vsock, &vc);

	if (r->tee == GROUP_TEE_DEV && vc.firmware && n_disks <= GROUP_VMM_MAX_DRIVES) {
		/* Dev reports claim the MEASUREMENT an SNP launch of this exact guest would get. */
		char predict[GROUP_PATH_MAX + 32];
		struct errbuf peb = { 0 };
		snprintf(predict, sizeof(predict), "%s/predict-vsock.sock", r->paths.vm);
		vc.vsock_uds = predict;
		r->have_measurement = group_vmm_measurement(&vc, r->measurement, &peb) == 0;
		vc.vsock_uds = vsock;
		unlink(predict);
		if (!r->have_measurement)
			fprintf(stderr, "%s: dev MEASUREMENT not computed: %s\n", r->prog,
				errbuf_msg(&peb));
	}

	int console_fd;
	if ((ret = group_console_start(r->paths.console, 0, &console_fd, &r->console, eb)) < 0)
		return ret;
	if (r->backend == GROUP_BACKEND_KVM) {
		if (n_disks > GROUP_VMM_MAX_DRIVES)
			return errbuf_set(eb, E2BIG, "the kvm backend takes at most %d disks (%zu layers "
					  "+ scratch)", GROUP_VMM_MAX_DRIVES, r->n_layers);
		vc.console_fd = console_fd;
		ret = group_vmm_start(&vc, &r->vmm_pid, eb);
		group_console_release_writer(r->console);
		if (ret < 0)
			return ret;
		fd = group_vmm_agent_connect(vsock, PROTO_VSOCK_PORT, r->vmm_pid, r->boot_timeout_ms,
					     &run_interrupted, eb);
	} else {
		snprintf(agent_port, sizeof(agent_port), "%s/agent-port.sock", r->paths.vm);
		struct qemu_launch_config cfg = {
			.kernel = r->kernel,
			.initrd = r->initrd,
			.memory_mib = r->spec->memory_mib,
			.vcpus = r->spec->vcpus,
			.disks = disks,
			.n_disks = n_disks,
			.agent_socket = agent_port,
			.console_fd = console_fd,
		};
		if ((ret = qemu_launch_available(&cfg, eb)) < 0)
			return ret;
		ret = qemu_vm_start(&cfg, &r->vm, eb);
		group_console_release_writer(r->console);
		if (ret < 0)
			return ret;
		fd = qemu_vm_agent_connect(r->vm, eb);
	}
	if (fd < 0)
		return fd;
	if ((ret = group_relay_start(fd, r->paths.relay_sock, policy_runenv_json(r->env), &r->relay,
				     eb)) < 0)
		return ret;
	if ((ret = agent_client_connect(r->paths.relay_sock, AGENT_CONNECT_SERIAL, 10000,
					&r->client, eb)) < 0)
		return ret;
	struct agent_client_callbacks cbs = { run_on_output, run_on_dev_report, r };
	agent_client_set_callbacks(r->client, &cbs);
	struct json_object *resp = NULL;
	ret = agent_client_call_text(r->client, "{\"type\":\"ping\"}", r->boot_timeout_ms, &resp,
				     eb);
	json_object_put(resp);
	if (ret < 0)
		errbuf_prefix(eb, "the agent did not answer (guest console: %s)", r->paths.console);
	return ret;
}

static int run_install_policy(struct run *r)
{
	char *b64 = malloc(base64_encoded_len(r->policy_len));
	if (!b64)
		return -ENOMEM;
	base64_encode(r->policy, r->policy_len, b64);
	struct json_object *req = group_req_new("install_policy");
	req_str(req, "policy_base64", b64);
	free(b64);
	int ret = run_call(r, "install_policy", req, NULL);
	json_object_put(req);
	return ret;
}

static int run_load_fragments(struct run *r)
{
	for (size_t i = 0; i < r->n_fragments; i++) {
		char *b64 = malloc(base64_encoded_len(r->fragment_len[i]));
		if (!b64)
			return -ENOMEM;
		base64_encode(r->fragments[i], r->fragment_len[i], b64);
		struct json_object *req = group_req_new("load_fragment"), *resp = NULL;
		req_str(req, "fragment_base64", b64);
		free(b64);
		int ret = run_call(r, "load_fragment", req, &resp);
		json_object_put(req);
		struct json_object *src;
		if (ret == 0 && !r->quiet && json_object_object_get_ex(resp, "source", &src))
			printf("== loaded %s: %s\n", r->fragment_paths[i], json_object_get_string(src));
		json_object_put(resp);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Replay the sequence `parma run` will send (fragments, mounts, overlays, creates with the
 * run-time values) in a policy engine on the host: a request the guest's engine would deny is reported
 * before boot, with its rule. Same policy bytes, same engine, same requests. */
static int run_check_before_boot(struct run *r)
{
	struct policy_decision d;
	struct policy_req_install_policy inst = { r->policy, r->policy_len, r->digest.sha256 };
	r->dry = policy_engine_new();
	if (!r->dry)
		return -ENOMEM;
	int ret = policy_engine_install(r->dry, &inst, &d);
	if (ret < 0)
		fprintf(stderr, "%s: before boot: the policy does not install: %s\n", r->prog,
			d.reason.message);
	if (ret == 0)
		ret = run_load_fragments(r);
	if (ret == 0)
		ret = run_mount_all(r);
	for (size_t i = 0; i < r->n_containers && ret == 0 && !r->start_none; i++)
		ret = run_start_container(r, &r->containers[i]);
	policy_engine_free(r->dry);
	r->dry = NULL;
	return ret;
}

static int run_opt_fragment(const char *prog, char *value, void *dest)
{
	struct run *r = dest;
	if (r->n_fragments == POLICY_MAX_FRAGMENTS)
		return cli_usage_error(prog, "--fragment: at most %d fragments",
				       POLICY_MAX_FRAGMENTS);
	r->fragment_paths[r->n_fragments++] = value;
	return CLI_OK;
}

static void run_free(struct run *r)
{
	group_api_stop(r->api);
	json_object_put(r->last_denial);
	agent_client_close(r->client);
	group_relay_stop(r->relay);
	if (r->vm) {
		qemu_vm_stop(r->vm, 3000);
		qemu_vm_free(r->vm);
	}
	group_vmm_stop(r->vmm_pid, 3000);
	group_console_finish(r->console); /* the VM is gone: its console's last bytes are in */
	for (size_t i = 0; i < r->n_containers; i++)
		group_log_close(r->containers[i].log);
	free(r->containers);
	for (size_t i = 0; i < r->n_fragments; i++)
		free(r->fragments[i]);
	for (size_t i = 0; i < r->n_fragment_rules; i++)
		policy_free(r->fragment_rules[i]);
	policy_free(r->loaded);
	json_object_put(r->requests);
	policy_runenv_free(r->env);
	json_object_put(r->decisions);
	free(r->policy);
	snp_dev_ca_free(r->dev_ca);
	group_spec_free(r->spec);
}

static int opt_boot_timeout(const char *prog, char *value, void *dest)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(value, &end, 10);
	if (errno || end == value || *end || v < 1 || v > RUN_BOOT_TIMEOUT_MAX_S)
		return cli_usage_error(prog, "--boot-timeout: expected seconds, 1-%d",
				       RUN_BOOT_TIMEOUT_MAX_S);
	*(int *)dest = (int)v * 1000;
	return 0;
}

/* --start all|none */
static int run_opt_start(const char *prog, char *value, void *dest)
{
	if (strcmp(value, "all") && strcmp(value, "none"))
		return cli_usage_error(prog, "--start: expected all or none");
	*(bool *)dest = !strcmp(value, "none");
	return 0;
}

/* --seccomp=on|off, --jail=on|off: dest is the "off" flag. */
static int run_opt_off(const char *prog, char *value, void *dest)
{
	if (strcmp(value, "on") && strcmp(value, "off"))
		return cli_usage_error(prog, "--seccomp, --jail: expected on or off");
	*(bool *)dest = !strcmp(value, "off");
	return 0;
}

/* `parma run --kernel K [--initrd I] [--cmdline C] ...` with no group spec boots that kernel
 * (or firmware) directly in the VMM, the same as `parma boot`. */
static const char *const boot_options[] = {"--kernel", "--firmware"};

static bool run_boots_directly(int argc, char **argv)
{
	bool boots = false;
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		size_t n = strlen(argv[i]);
		if (argv[i][0] != '-' && n > 5 && !strcmp(argv[i] + n - 5, ".json"))
			return false; /* a GROUP.json */
		for (size_t k = 0; k < CLI_ARRAY_SIZE(boot_options); k++) {
			size_t len = strlen(boot_options[k]);
			if (!strncmp(argv[i], boot_options[k], len) &&
			    (argv[i][len] == '\0' || argv[i][len] == '='))
				boots = true;
		}
	}
	return boots;
}

int group_cli_run(int argc, char **argv)
{
	const char *policy_file = NULL, *tee = NULL, *backend = NULL, *initrd = NULL;
	const char *kernel = NULL, *cache = NULL, *firmware = NULL;
	bool debug = false;
	struct run r = { .prog = argv[0], .boot_timeout_ms = RUN_BOOT_TIMEOUT_S * 1000 };
	struct errbuf eb = { 0 };
	char why_backend[256], why_tee[256];
	int ret, code = CLI_INTERNAL;

	/* Each line (ours and the containers') reaches a pipe or file as it is printed, not in
	 * bursts when stdio's buffer fills: whoever reads it follows the group live. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (run_boots_directly(argc, argv))
		return vmm_cli_boot(argc, argv);

	r.env = policy_runenv_new();
	if (!r.env)
		return cli_error(argv[0], CLI_INTERNAL, "out of memory");
	bool help = false;
	const struct cli_opt opts[] = {
		CLI_STRING("policy", 0, &policy_file),
		CLI_STRING("tee", 0, &tee),
		CLI_STRING("backend", 0, &backend),
		CLI_FLAG("debug", 0, &debug),
		CLI_STRING("initrd", 0, &initrd),
		CLI_STRING("kernel", 0, &kernel),
		CLI_STRING("firmware", 0, &firmware),
		CLI_STRING("cache-dir", 0, &cache),
		CLI_FUNC("boot-timeout", 0, opt_boot_timeout, &r.boot_timeout_ms),
		CLI_FLAG("quiet", 'q', &r.quiet),
		CLI_FUNC("env", 0, policy_cli_opt_env, r.env),
		CLI_FUNC("env-file", 0, policy_cli_opt_env_file, r.env),
		CLI_FUNC("seccomp", 0, run_opt_off, &r.seccomp_off),
		CLI_FUNC("jail", 0, run_opt_off, &r.jail_off),
		CLI_FUNC("fragment", 0, run_opt_fragment, &r),
		CLI_STRING("api-sock", 0, &r.api_sock),
		CLI_FUNC("start", 0, run_opt_start, &r.start_none),
		CLI_FLAG("help", 'h', &help),
	};
	int first;
	if ((code = cli_parse_options(argv[0], opts, CLI_ARRAY_SIZE(opts), 0, argc, argv,
				      &first)) != CLI_OK)
		goto out;
	if (help) {
		run_usage(stdout);
		code = CLI_OK;
		goto out;
	}
	code = CLI_INTERNAL;
	if (first != argc - 1) {
		code = cli_usage_error(argv[0], first >= argc ? "missing GROUP.json"
							      : "exactly one GROUP.json expected");
		goto out;
	}
	const char *spec_path = argv[first];
	if (policy_file && debug) {
		code = cli_usage_error(argv[0], "--debug generates a policy; it cannot go with "
				       "--policy");
		goto out;
	}

	/* Everything that can be wrong with the input is checked before anything boots. */
	if ((ret = group_spec_load(spec_path, &r.spec, &eb)) < 0 ||
	    (ret = host_memory_check(r.spec, &eb)) < 0 || (ret = run_read_fragments(&r, &eb)) < 0) {
		code = cli_error(argv[0], CLI_BAD_INPUT, "%s", errbuf_msg(&eb));
		goto out;
	}
	if (run_check_env(&r, &eb) < 0) {
		code = cli_usage_error(argv[0], "%s", errbuf_msg(&eb));
		goto out;
	}
	if (group_paths_get(r.spec->name, &r.paths, &eb) < 0 ||
	    group_state_claim(&r.paths, &eb) < 0) {
		code = cli_error(argv[0], CLI_FAILED, "%s", errbuf_msg(&eb));
		goto out;
	}
	r.requests = json_object_new_array();
	r.decisions = json_object_new_array();
	if ((ret = run_prepare(&r, policy_file, debug, cache, &eb)) < 0) {
		code = cli_error(argv[0], ret == -ENOMEM ? CLI_INTERNAL : CLI_BAD_INPUT, "%s",
				 errbuf_msg(&eb));
		goto out_release;
	}
	run_name_layers(&r);
	if ((ret = run_check_before_boot(&r)) < 0) {
		code = ret == -EACCES ? CLI_FAILED : CLI_INTERNAL;
		if (ret != -EACCES)
			cli_error(argv[0], code, "before boot: %s", strerror(-ret));
		goto out_release;
	}
	if ((ret = group_backend_choose(backend, &r.backend, why_backend, sizeof(why_backend),
					&eb)) < 0 ||
	    (ret = group_tee_choose(tee, r.backend, &r.tee, why_tee, sizeof(why_tee), &eb)) < 0) {
		code = cli_error(argv[0], ret == -EINVAL ? CLI_USAGE : CLI_UNAVAILABLE, "%s",
				 errbuf_msg(&eb));
		goto out_release;
	}
	if ((ret = find_firmware(&r, firmware, &eb)) < 0) {
		code = cli_error(argv[0], ret == -EINVAL ? CLI_USAGE : CLI_UNAVAILABLE, "%s",
				 errbuf_msg(&eb));
		goto out_release;
	}
	if (initrd)
		snprintf(r.initrd, sizeof(r.initrd), "%s", initrd);
	if (kernel)
		snprintf(r.kernel, sizeof(r.kernel), "%s", kernel);
	if (!initrd && find_initrd(r.initrd, sizeof(r.initrd), &eb) < 0) {
		code = cli_error(argv[0], CLI_UNAVAILABLE, "%s", errbuf_msg(&eb));
		goto out_release;
	}
	file_write_atomic(r.paths.policy, r.policy, r.policy_len, 0644, NULL);
	if (r.tee == GROUP_TEE_DEV && run_dev_ca(&r, &eb) < 0) {
		code = cli_error(argv[0], CLI_INTERNAL, "development signer: %s", errbuf_msg(&eb));
		goto out_release;
	}
	for (size_t i = 0; i < r.n_containers; i++) {
		char path[GROUP_PATH_MAX + 80];
		snprintf(path, sizeof(path), "%s/%s.log", r.paths.logs, r.containers[i].name);
		if (group_log_open(path, 0, &r.containers[i].log, &eb) < 0)
			fprintf(stderr, "%s: warning: %s: container output is not logged\n", argv[0],
				errbuf_msg(&eb));
	}

	/* The group's API, up while the guest boots (it says "booting" until it runs). */
	if (!r.api_sock)
		r.api_sock = r.paths.api_sock;
	struct group_api_config api_cfg = { .socket_path = r.api_sock,
					    .relay_sock = r.paths.relay_sock,
					    .policy = r.paths.policy,
					    .logs_dir = r.paths.logs,
					    .state_dir = r.paths.dir };
	if (group_api_start(&api_cfg, &r.api, &eb) < 0) {
		code = cli_error(argv[0], CLI_FAILED, "group API: %s", errbuf_msg(&eb));
		goto out_release;
	}

	if (!r.quiet) {
		printf("== group %s: %zu container(s), %u vCPU(s), %u MiB\n", r.spec->name,
		       r.n_containers, r.spec->vcpus, r.spec->memory_mib);
		printf("== %s\n== %s\n", why_backend, why_tee);
		if (r.backend == GROUP_BACKEND_KVM && r.firmware[0])
			printf("== firmware %s (measured boot)\n", r.firmware);
		else if (r.backend == GROUP_BACKEND_KVM)
			printf("== no firmware: the VMM enters the kernel directly\n");
		printf("== policy %s  HOST_DATA %s\n", r.paths.policy, r.digest.hex);
		printf("== API %s\n", r.api_sock);
		fflush(stdout);
	}
	if (r.tee == GROUP_TEE_DEV)
		fprintf(stderr, "%s: WARNING: running WITHOUT a TEE (dev attestation)\n", argv[0]);

	struct sigaction sa = { .sa_handler = run_on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN); /* a vanished guest or client is an error return, not death */
	run_write_info(&r, "booting");
	if ((ret = run_boot(&r, &eb)) < 0) {
		code = cli_error(argv[0], ret == -ENOTSUP || ret == -ENOENT ? CLI_UNAVAILABLE
									     : CLI_FAILED,
				 "boot: %s", errbuf_msg(&eb));
		goto out_release;
	}
	if (!r.quiet)
		printf("== guest up; installing the policy\n");
	code = CLI_FAILED;
	if (run_install_policy(&r) < 0 || run_load_fragments(&r) < 0 || run_mount_all(&r) < 0)
		goto out_stop;
	for (size_t i = 0; i < r.n_containers && !r.start_none; i++) {
		if (!r.quiet)
			printf("== starting container %s\n", r.containers[i].name);
		fflush(stdout);
		if (run_start_container(&r, &r.containers[i]) < 0)
			goto out_stop;
		run_write_info(&r, "running");
	}
	if (!r.quiet && run_attest_summary(&r) < 0)
		goto out_stop;
	run_write_info(&r, "running");

	ret = run_supervise(&r);
	if (ret == 0)
		code = r.containers[0].exit_code;
	else if (ret == -ECANCELED) /* POST /v1/stop: as SIGTERM would end a running group */
		code = r.start_none		? 0
		       : r.containers[0].exited ? r.containers[0].exit_code
						: 128 + SIGTERM;
	else if (ret == -EPIPE)
		code = RUN_EXIT_GUEST_DIED;
	else if (ret == -EINTR)
		code = 128 + (int)run_interrupted;
out_stop:
	if (run_interrupted && !r.quiet)
		fprintf(stderr, "%s: stopping group %s\n", argv[0], r.spec->name);
	run_write_info(&r, "stopping");
	run_shutdown(&r);
	run_write_info(&r, "stopped");
	group_api_stop(r.api);
	r.api = NULL;
out_release:
	group_state_release(&r.paths);
out:
	run_free(&r);
	return code;
}
