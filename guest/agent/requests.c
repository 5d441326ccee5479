/* requests: the agent's side of every host request. One mechanism for all of them:
 * server_dispatch() parses the request with the policy library's one parser
 * (policy_request_from_json: the same form `parma policy explain` reads), asks the engine,
 * and only when it is allowed calls the type's act helper; an act that fails reverts the
 * engine's state, so a denial or a failure never leaves anything changed. */
#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fileio.h"
#include "guest/agent/container_mounts.h"
#include "guest/agent/oci_spec.h"
#include "guest/agent/server_internal.h"

/* One request in flight through dispatch. */
struct req_ctx {
	uint32_t id;		 /* the host's request id */
	struct policy_request q; /* parsed: what the engine decides and the act performs */
	struct policy_decision d;
	struct errbuf eb;
	bool failed;	   /* the act failed after an allowed decision: revert */
	bool deferred;	   /* answered later (wait, install, get_report) */
	int64_t policy_ns; /* time spent in the policy engine (reported, for the benchmark) */
	void *allocs[4];   /* freed after the request */
	size_t n_allocs;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *ctx_alloc(struct req_ctx *c, size_t size)
{
	if (c->n_allocs >= sizeof(c->allocs) / sizeof(c->allocs[0]))
		return NULL;
	void *p = calloc(1, size ? size : 1);
	if (p)
		c->allocs[c->n_allocs++] = p;
	return p;
}

/* An allowed request whose effect failed: the answer, and the engine is reverted. */
static struct json_object *act_failed(struct req_ctx *c, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static struct json_object *act_failed(struct req_ctx *c, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->failed = true;
	return server_error(code, "%s: %s", policy_request_type_name(c->q.type), msg);
}

/* ---- act helpers: called only for allowed requests ---- */

typedef struct json_object *(*act_fn)(struct agent_server *s, struct req_ctx *c);

static struct json_object *act_ping(struct agent_server *s, struct req_ctx *c)
{
	struct json_object *o = server_ok();
	(void)c;
	json_object_object_add(o, "agent", json_object_new_string(PARMA_VERSION));
	json_object_object_add(o, "protocol", json_object_new_int(PROTO_VERSION));
	json_object_object_add(o, "tee", json_object_new_string(attest_tee_name(&s->attest)));
	json_object_object_add(o, "policy_installed",
			       json_object_new_boolean(policy_engine_policy(s->engine) != NULL));
	return o;
}

/* install_policy is decided once the fresh report is here (attest_flow.c), since the engine
 * needs HOST_DATA from it; a second install is answered by the engine right away. */
static struct json_object *act_install_policy(struct agent_server *s, struct req_ctx *c)
{
	const struct policy_req_install_policy *r = &c->q.u.install_policy;
	if (policy_engine_policy(s->engine)) {
		struct policy_req_install_policy again = {r->policy, r->len,
							  attest_install_host_data(&s->attest)};
		if (policy_engine_install(s->engine, &again, &c->d) == 0)
			return server_error(PROTO_ERR_FAILED, "internal: second install allowed");
		return server_decision_denial(&c->d);
	}
	if (attest_install_pending(&s->attest))
		return server_error(PROTO_ERR_BUSY, "a policy install is in progress");
	uint8_t *bytes = malloc(r->len ? r->len : 1);
	if (!bytes)
		return server_error(PROTO_ERR_FAILED, "out of memory");
	memcpy(bytes, r->policy, r->len);
	int ret = attest_install_begin(s, c->id, bytes, r->len);
	if (ret < 0) {
		free(bytes);
		return server_error(PROTO_ERR_FAILED, "install_policy: %s", strerror(-ret));
	}
	c->deferred = true;
	return NULL;
}

static struct json_object *act_get_report(struct agent_server *s, struct req_ctx *c)
{
	int ret = attest_host_report(s, c->id, c->q.u.get_report.report_data);
	if (ret < 0)
		return server_error(PROTO_ERR_BUSY, "get_report: %s", strerror(-ret));
	c->deferred = true;
	return NULL;
}

static struct json_object *act_mount_device(struct agent_server *s, struct req_ctx *c)
{
	const struct policy_req_mount_device *r = &c->q.u.mount_device;
	if (s->fx.ops->mount_layer(s->fx.ctx, r->device, r->hash_offset, r->device_hash, r->target,
				   &c->eb) < 0)
		return act_failed(c, PROTO_ERR_FAILED, "%s", errbuf_msg(&c->eb));
	server_log(s, "layer mounted at %s", r->target);
	return server_ok();
}

static struct json_object *act_mount_scratch(struct agent_server *s, struct req_ctx *c)
{
	const struct policy_req_mount_scratch *r = &c->q.u.mount_scratch;
	if (s->fx.ops->mount_scratch(s->fx.ctx, r->device, r->encrypted, r->target, &c->eb) < 0)
		return act_failed(c, PROTO_ERR_FAILED, "%s", errbuf_msg(&c->eb));
	return server_ok();
}

static struct json_object *act_mount_overlay(struct agent_server *s, struct req_ctx *c)
{
	const struct policy_req_mount_overlay *r = &c->q.u.mount_overlay;
	if (container_find(&s->ctrs, r->container_id))
		return act_failed(c, PROTO_ERR_BUSY, "container %s already has a root file system",
				  r->container_id);
	struct agent_container *k = container_new(r->container_id, r->target, r->scratch);
	if (!k)
		return act_failed(c, PROTO_ERR_FAILED, "out of memory");
	char upper[sizeof(k->scratch_dir) + 8], work[sizeof(upper)];
	container_layer_dir(k, "upper", upper, sizeof(upper));
	container_layer_dir(k, "work", work, sizeof(work));
	if (s->fx.ops->mount_overlay(s->fx.ctx, r->layer_targets.v, r->layer_targets.n,
				     r->scratch ? upper : NULL, r->scratch ? work : NULL, r->target,
				     &c->eb) < 0) {
		free(k);
		return act_failed(c, PROTO_ERR_FAILED, "%s", errbuf_msg(&c->eb));
	}
	container_add(&s->ctrs, k);
	return server_ok();
}

static struct json_object *act_unmount_device(struct agent_server *s, struct req_ctx *c)
{
	if (s->fx.ops->unmount(s->fx.ctx, c->q.u.unmount_device.target, &c->eb) < 0)
		return act_failed(c, PROTO_ERR_FAILED, "%s", errbuf_msg(&c->eb));
	return server_ok();
}

static struct json_object *act_unmount_overlay(struct agent_server *s, struct req_ctx *c)
{
	const char *target = c->q.u.unmount_overlay.target;
	struct agent_container *k = container_by_rootfs(&s->ctrs, target);
	if (k && container_running(s, k))
		return act_failed(c, PROTO_ERR_BUSY, "container %s is still running on %s", k->id,
				  target);
	if (s->fx.ops->unmount(s->fx.ctx, target, &c->eb) < 0)
		return act_failed(c, PROTO_ERR_FAILED, "%s", errbuf_msg(&c->eb));
	if (k)
		container_forget(s, k);
	return server_ok();
}

/* The env entries the decision keeps, in request order. */
static const char **kept_env(struct req_ctx *c, const struct policy_strv *env, size_t *n)
{
	const char **v = ctx_alloc(c, (c->d.n_env_keep + 1) * sizeof(char *));
	*n = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < c->d.n_env_keep; i++)
		if (c->d.env_keep[i] < env->n)
			v[(*n)++] = env->v[c->d.env_keep[i]];
	return v;
}

/* A process to start: what the effect needs, and what the process table records. */
struct launch {
	enum agent_proc_kind kind;
	const char *container_id; /* NULL for an external process */
	const struct policy_strv *command;
	bool want_stdio;  /* asked for, and allowed by the decision */
	const char *spec; /* INIT: the bundle; EXEC: the process spec */
	const char *const *env; /* EXTERNAL: the kept environment, NULL-terminated */
	const char *cwd;	/* EXTERNAL */
};

static int launch_effect(struct agent_server *s, const struct launch *l,
			 const struct agent_stdio *io, pid_t *pid, struct errbuf *eb)
{
	const struct agent_effects_ops *ops = s->fx.ops;
	if (l->kind == AGENT_PROC_INIT)
		return ops->container_create(s->fx.ctx, l->container_id, l->spec, io, pid, eb);
	if (l->kind == AGENT_PROC_EXEC)
		return ops->container_exec(s->fx.ctx, l->container_id, l->spec, io, pid, eb);
	return ops->spawn(s->fx.ctx, l->command->v, l->env, l->cwd, io, pid, eb);
}

/* Start the process with its stdio and record it; a process the agent cannot record is
 * undone (a container deleted, a process killed). The answer is {process_id, stdio}, or the
 * act's failure; *out is the process when started. */
static struct json_object *launch(struct agent_server *s, struct req_ctx *c,
				  const struct launch *l, struct agent_proc **out)
{
	struct agent_stdio io;
	int ours[3] = {-1, -1, -1};
	pid_t pid;
	*out = NULL;
	if (process_stdio_open(&io, ours, l->want_stdio) < 0 ||
	    launch_effect(s, l, &io, &pid, &c->eb) < 0) {
		process_stdio_close(&io, ours);
		return act_failed(c, PROTO_ERR_FAILED, "%s", errbuf_msg(&c->eb));
	}
	process_stdio_close(&io, NULL);
	struct agent_proc *p = process_add(&s->procs, pid, l->kind, l->container_id,
					   l->command->v, l->command->n, ours);
	if (!p) {
		process_stdio_close(&io, ours);
		if (l->kind == AGENT_PROC_INIT)
			s->fx.ops->container_delete(s->fx.ctx, l->container_id, &c->eb);
		else
			s->fx.ops->kill(s->fx.ctx, pid, SIGKILL);
		return act_failed(c, PROTO_ERR_FAILED, "out of memory");
	}
	*out = p;
	struct json_object *o = server_ok();
	json_object_object_add(o, "process_id", json_object_new_int64(p->id));
	json_object_object_add(o, "stdio", json_object_new_boolean(p->stdio));
	return o;
}

static struct oci_process oci_process_of(const struct policy_strv *command, const char **env,
					 size_t n_env, const char *cwd,
					 const struct policy_user *u, bool nnp,
					 const struct policy_caps *caps)
{
	struct oci_process p = {.argv = command->v, .argc = command->n, .env = env,
				.n_env = n_env, .cwd = cwd, .uid = u->uid, .gid = u->gid,
				.umask = u->umask, .gids = u->additional_gids,
				.n_gids = u->n_additional_gids, .no_new_privileges = nnp};
	p.caps = (struct oci_caps){caps->bounding, caps->effective, caps->inheritable,
				   caps->permitted, caps->ambient};
	return p;
}

static struct json_object *act_create_container(struct agent_server *s, struct req_ctx *c)
{
	const struct policy_req_create_container *r = &c->q.u.create_container;
	const struct policy_resources *rs = &r->resources;
	struct agent_container *k = container_find(&s->ctrs, r->container_id);
	struct json_object *seccomp = NULL, *resp = NULL;
	char bundle[512], path[600], sc[300];
	char *config = NULL;
	size_t n_env;
	const char **env = kept_env(c, &r->env, &n_env);
	struct container_mounts om = {0};

	if (!k || k->init_proc)
		return act_failed(c, PROTO_ERR_FAILED, "%s",
				  k ? "container already created" : "no root file system");
	if (!env)
		return act_failed(c, PROTO_ERR_FAILED, "out of memory");
	if (container_mounts_resolve(&s->fx, r->container_id, r->mounts, r->n_mounts,
				     r->user.uid, r->user.gid, &om, &c->eb) < 0) {
		resp = act_failed(c, PROTO_ERR_FAILED, "%s", errbuf_msg(&c->eb));
		goto out;
	}
	if (r->seccomp_profile) /* the parser checked it is a JSON object */
		seccomp = json_tokener_parse((const char *)r->seccomp_profile);
	security_context_dir(s, sc, sizeof(sc));
	struct oci_config cfg = {
		.container_id = r->container_id,
		.rootfs = k->rootfs,
		.security_context_dir = sc,
		.process = oci_process_of(&r->command, env, n_env, r->working_dir, &r->user,
					  r->no_new_privileges, &c->d.caps),
		.mounts = om.v,
		.n_mounts = om.n,
		.seccomp = seccomp,
		.resources = {rs->memory_bytes, rs->cpu_quota_us, rs->cpu_period_us, rs->pids_max},
		.privileged = r->privileged,
	};
	container_bundle_dir(s, r->container_id, bundle, sizeof(bundle));
	snprintf(path, sizeof(path), "%s/config.json", bundle);
	if ((r->seccomp_profile && !seccomp) || oci_config_build(&cfg, &config, &c->eb) < 0 ||
	    mkdir_p(bundle, 0700) < 0 ||
	    file_write_atomic(path, config, strlen(config), 0600, &c->eb) < 0) {
		resp = act_failed(c, PROTO_ERR_FAILED, "%s", errbuf_msg(&c->eb));
		goto out;
	}
	struct launch l = {AGENT_PROC_INIT, r->container_id, &r->command,
			   r->stdio && c->d.allow_stdio_access, bundle, NULL, NULL};
	struct agent_proc *p;
	resp = launch(s, c, &l, &p);
	if (p) {
		k->init_proc = p->id;
		server_log(s, "container %s created (process %u)", r->container_id, p->id);
	}
out:
	container_mounts_free(&om);
	free(config);
	json_object_put(seccomp);
	return resp;
}

static struct json_object *act_start_container(struct agent_server *s, struct req_ctx *c)
{
	const char *cid = c->q.u.start_container.container_id;
	struct agent_container *k = container_find(&s->ctrs, cid);
	if (!k || !k->init_proc)
		return server_error(PROTO_ERR_NOT_FOUND, "start_container: %s was not created "
				    "(create_container is the gated step)", cid);
	if (k->start_issued)
		return server_error(PROTO_ERR_BUSY, "start_container: %s already started", cid);
	if (s->fx.ops->container_start(s->fx.ctx, cid, &c->eb) < 0)
		return server_error(PROTO_ERR_FAILED, "start_container: %s", errbuf_msg(&c->eb));
	k->start_issued = true;
	return server_ok();
}

static struct json_object *act_exec_in_container(struct agent_server *s, struct req_ctx *c)
{
	const struct policy_req_exec_in_container *r = &c->q.u.exec_in_container;
	struct agent_container *k = container_find(&s->ctrs, r->container_id);
	char bundle[512], path[640];
	char *spec = NULL;
	size_t n_env;
	const char **env = kept_env(c, &r->env, &n_env);
	if (!k || !k->start_issued || !container_running(s, k))
		return act_failed(c, PROTO_ERR_NOT_FOUND, "%s is not running", r->container_id);
	struct oci_process proc = oci_process_of(&r->command, env, n_env, r->working_dir, &r->user,
						 r->no_new_privileges, &c->d.caps);
	container_bundle_dir(s, r->container_id, bundle, sizeof(bundle));
	snprintf(path, sizeof(path), "%s/exec-%u.json", bundle, s->procs.next_id);
	if (!env || oci_process_build(&proc, &spec, &c->eb) < 0 ||
	    file_write_atomic(path, spec, strlen(spec), 0600, &c->eb) < 0) {
		free(spec);
		return act_failed(c, PROTO_ERR_FAILED, "%s", errbuf_msg(&c->eb));
	}
	free(spec);
	struct launch l = {AGENT_PROC_EXEC, r->container_id, &r->command,
			   r->stdio && c->d.allow_stdio_access, path, NULL, NULL};
	struct agent_proc *p;
	return launch(s, c, &l, &p);
}

static struct json_object *act_exec_external(struct agent_server *s, struct req_ctx *c)
{
	const struct policy_req_exec_external *r = &c->q.u.exec_external;
	size_t n_env;
	const char **env = kept_env(c, &r->env, &n_env);
	if (!env)
		return act_failed(c, PROTO_ERR_FAILED, "out of memory");
	struct launch l = {AGENT_PROC_EXTERNAL, NULL, &r->command,
			   r->stdio && c->d.allow_stdio_access, NULL, env, r->working_dir};
	struct agent_proc *p;
	return launch(s, c, &l, &p);
}

/* The process a signal names (default: the container's init), if it is one of the
 * container's; NULL otherwise. */
static struct agent_proc *signal_target(struct agent_server *s,
					const struct policy_req_signal_process *r)
{
	struct agent_container *k = container_find(&s->ctrs, r->container_id);
	if (!k || !k->init_proc)
		return NULL;
	struct agent_proc *p =
		process_find(&s->procs, r->has_process_id ? r->process_id : k->init_proc);
	if (!p || strcmp(p->container_id, r->container_id) || p->kind == AGENT_PROC_EXTERNAL)
		return NULL;
	return p;
}

/* A mount names the block device the host attached; explain's replays may leave it out, the
 * agent cannot. */
static struct json_object *require_device(struct agent_server *s, struct req_ctx *c)
{
	const char *dev = c->q.type == POLICY_REQ_MOUNT_DEVICE ? c->q.u.mount_device.device
							       : c->q.u.mount_scratch.device;
	(void)s;
	if (!dev)
		return server_error(PROTO_ERR_INVALID, "%s: device: required field missing",
				    policy_request_type_name(c->q.type));
	return NULL;
}

/* Before deciding: the facts about the named process come from the agent's table. */
static struct json_object *resolve_signal(struct agent_server *s, struct req_ctx *c)
{
	struct policy_req_signal_process *r = &c->q.u.signal_process;
	if (!policy_engine_policy(s->engine))
		return NULL; /* the engine answers: closed */
	struct agent_proc *p = signal_target(s, r);
	if (!p && !r->has_process_id)
		return NULL; /* the init of a container not created: the engine says so */
	if (!p) {
		policy_signal_unknown(&c->d, r);
		return server_decision_denial(&c->d);
	}
	policy_signal_resolve(r, p->kind == AGENT_PROC_INIT, (const char *const *)p->argv,
			      p->argc);
	return NULL;
}

static struct json_object *act_signal_process(struct agent_server *s, struct req_ctx *c)
{
	const struct policy_req_signal_process *r = &c->q.u.signal_process;
	struct agent_proc *p = signal_target(s, r);
	if (!p || p->exited)
		return act_failed(c, PROTO_ERR_NOT_FOUND, "process %u has exited",
				  p ? p->id : r->process_id);
	int ret = s->fx.ops->kill(s->fx.ctx, p->pid, r->signal);
	if (ret < 0)
		return act_failed(c, PROTO_ERR_FAILED, "%s", strerror(-ret));
	return server_ok();
}

static struct json_object *act_wait(struct agent_server *s, struct req_ctx *c)
{
	uint32_t pid = c->q.u.process.process_id;
	struct agent_proc *p = process_find(&s->procs, pid);
	if (!p)
		return server_error(PROTO_ERR_NOT_FOUND, "wait: no process %u", pid);
	int ret = process_wait(s, p, c->id);
	if (ret < 0)
		return server_error(PROTO_ERR_BUSY, "wait: %s", strerror(-ret));
	c->deferred = true;
	return NULL;
}

static struct json_object *act_close_stdin(struct agent_server *s, struct req_ctx *c)
{
	uint32_t pid = c->q.u.process.process_id;
	struct agent_proc *p = process_find(&s->procs, pid);
	if (!p || process_close_stdin(p) < 0)
		return server_error(PROTO_ERR_NOT_FOUND, "close_stdin: no open stdin for %u", pid);
	return server_ok();
}

static struct json_object *act_get_properties(struct agent_server *s, struct req_ctx *c)
{
	struct json_object *o = server_ok(), *cs = json_object_new_array(),
			   *ps = json_object_new_array();
	(void)c;
	json_object_object_add(o, "tee", json_object_new_string(attest_tee_name(&s->attest)));
	json_object_object_add(
		o, "policy_digest",
		json_object_new_string(policy_get_digest(policy_engine_policy(s->engine))->hex));
	for (struct agent_container *k = s->ctrs.head; k; k = k->next) {
		struct json_object *e = json_object_new_object();
		const char *state = container_state_name(s, k);
		json_object_object_add(e, "id", json_object_new_string(k->id));
		json_object_object_add(e, "state", json_object_new_string(state));
		if (k->init_proc)
			json_object_object_add(e, "init_process_id",
					       json_object_new_int64(k->init_proc));
		if (!strcmp(state, "running"))
			s->fx.ops->container_stats(s->fx.ctx, k->id, e);
		json_object_array_add(cs, e);
	}
	for (struct agent_proc *p = s->procs.head; p; p = p->next) {
		struct json_object *e = json_object_new_object();
		static const char *const kinds[] = {"init", "exec", "external"};
		json_object_object_add(e, "process_id", json_object_new_int64(p->id));
		json_object_object_add(e, "kind", json_object_new_string(kinds[p->kind]));
		if (p->container_id[0])
			json_object_object_add(e, "container_id",
					       json_object_new_string(p->container_id));
		json_object_object_add(e, "running", json_object_new_boolean(!p->exited));
		json_object_array_add(ps, e);
	}
	json_object_object_add(o, "containers", cs);
	json_object_object_add(o, "processes", ps);
	return o;
}

static struct json_object *act_dump_stacks(struct agent_server *s, struct req_ctx *c)
{
	char *text = NULL;
	(void)c;
	if (s->fx.ops->dump_stacks(s->fx.ctx, &text) < 0 || !text)
		return server_error(PROTO_ERR_FAILED, "dump_stacks: not available");
	struct json_object *o = server_ok();
	json_object_object_add(o, "stacks", json_object_new_string(text));
	free(text);
	return o;
}

static struct json_object *act_shutdown_container(struct agent_server *s, struct req_ctx *c)
{
	const struct policy_req_shutdown_container *r = &c->q.u.shutdown_container;
	struct agent_container *k = container_find(&s->ctrs, r->container_id);
	if (!k || !k->init_proc)
		return act_failed(c, PROTO_ERR_NOT_FOUND, "%s was not created", r->container_id);
	struct agent_proc *p = process_find(&s->procs, k->init_proc);
	k->shutting_down = true;
	if (p && !p->exited) {
		int ret = s->fx.ops->kill(s->fx.ctx, p->pid, r->force ? SIGKILL : SIGTERM);
		if (ret < 0 && ret != -ESRCH) {
			k->shutting_down = false;
			return act_failed(c, PROTO_ERR_FAILED, "%s", strerror(-ret));
		}
	} else {
		s->fx.ops->container_delete(s->fx.ctx, k->id, &c->eb);
	}
	return server_ok();
}

/* load_fragment: the engine verifies the signed fragment (chain, did:x509, signature, SVN)
 * against the policy's imports; an accepted one is published in the security context. */
static struct json_object *act_load_fragment(struct agent_server *s, struct req_ctx *c)
{
	const struct policy_req_load_fragment *r = &c->q.u.load_fragment;
	if (security_context_add_fragment(s, r->fragment, r->len, &c->eb) < 0)
		return act_failed(c, PROTO_ERR_FAILED, "%s", errbuf_msg(&c->eb));
	struct json_object *o = server_ok();
	json_object_object_add(o, "source", json_object_new_string(c->d.source));
	return o;
}

/* Every request type the agent serves. Types without an entry (runtime_logging is the
 * agent's own question) are unknown on the wire. */
static const struct {
	act_fn act;
	/* runs before the decision: fills in what the agent knows about the request (the signal
	 * target's kind and command) or answers without deciding */
	struct json_object *(*resolve)(struct agent_server *s, struct req_ctx *c);
	bool decided_by_act; /* install_policy: the engine decides once the report is in */
} handlers[POLICY_REQ_COUNT] = {
	[POLICY_REQ_PING] = {act_ping, NULL, false},
	[POLICY_REQ_INSTALL_POLICY] = {act_install_policy, NULL, true},
	[POLICY_REQ_GET_REPORT] = {act_get_report, NULL, false},
	[POLICY_REQ_MOUNT_DEVICE] = {act_mount_device, require_device, false},
	[POLICY_REQ_UNMOUNT_DEVICE] = {act_unmount_device, NULL, false},
	[POLICY_REQ_MOUNT_SCRATCH] = {act_mount_scratch, require_device, false},
	[POLICY_REQ_MOUNT_OVERLAY] = {act_mount_overlay, NULL, false},
	[POLICY_REQ_UNMOUNT_OVERLAY] = {act_unmount_overlay, NULL, false},
	[POLICY_REQ_CREATE_CONTAINER] = {act_create_container, NULL, false},
	[POLICY_REQ_START_CONTAINER] = {act_start_container, NULL, false},
	[POLICY_REQ_EXEC_IN_CONTAINER] = {act_exec_in_container, NULL, false},
	[POLICY_REQ_EXEC_EXTERNAL] = {act_exec_external, NULL, false},
	[POLICY_REQ_SIGNAL_PROCESS] = {act_signal_process, resolve_signal, false},
	[POLICY_REQ_WAIT] = {act_wait, NULL, false},
	[POLICY_REQ_CLOSE_STDIN] = {act_close_stdin, NULL, false},
	[POLICY_REQ_GET_PROPERTIES] = {act_get_properties, NULL, false},
	[POLICY_REQ_DUMP_STACKS] = {act_dump_stacks, NULL, false},
	[POLICY_REQ_SHUTDOWN_CONTAINER] = {act_shutdown_container, NULL, false},
	[POLICY_REQ_LOAD_FRAGMENT] = {act_load_fragment, NULL, false},
};

/* parse → (resolve) → decide → act → revert when the act failed. */
static struct json_object *handle(struct agent_server *s, struct req_ctx *c, struct json_object *req)
{
	struct json_object *resp;
	int ret = policy_request_from_json(req, &c->q, &c->eb);
	enum policy_request_type t = c->q.type;
	if (ret == 0 && (t >= POLICY_REQ_COUNT || !handlers[t].act))
		ret = errbuf_set(&c->eb, ENOTSUP, "type: the agent serves no %s requests",
				 policy_request_type_name(t));
	if (ret < 0) {
		policy_request_denial(&c->d, t, ret, &c->eb);
		return server_decision_denial(&c->d);
	}
	if (handlers[t].resolve && (resp = handlers[t].resolve(s, c)))
		return resp;
	if (!handlers[t].decided_by_act) {
		int64_t t0 = now_ns();
		ret = policy_decide(s->engine, &c->q, &c->d);
		c->policy_ns += now_ns() - t0;
		if (ret != 0)
			return server_decision_denial(&c->d);
	}
	resp = handlers[t].act(s, c);
	if (c->failed)
		policy_engine_revert(s->engine);
	return resp;
}

void server_dispatch(struct agent_server *s, uint32_t id, struct json_object *req)
{
	struct req_ctx *c = calloc(1, sizeof(*c));
	if (!c) {
		server_answer(s, id, server_error(PROTO_ERR_FAILED, "out of memory"));
		return;
	}
	c->id = id;
	struct json_object *resp = handle(s, c, req);
	bool ok = resp && json_object_get_boolean(json_object_object_get(resp, "ok"));
	if (!c->deferred) {
		if (ok && c->policy_ns)
			json_object_object_add(resp, "policy_ns",
					       json_object_new_int64(c->policy_ns));
		server_log(s, "request %s: %s", policy_request_type_name(c->q.type),
			   ok ? "allowed" : "refused");
		server_answer(s, id, resp);
	}
	policy_request_clear(&c->q);
	for (size_t k = 0; k < c->n_allocs; k++)
		free(c->allocs[k]);
	free(c);
}
