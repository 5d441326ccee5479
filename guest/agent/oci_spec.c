/* oci_spec: build crun's config.json and exec process specs from checked fields only. */
#include "guest/agent/oci_spec.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "policy/lang/policy.h"

static struct json_object *strv(const char *const *v, size_t n)
{
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; a && i < n; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

static struct json_object *cap_list(uint64_t set)
{
	struct json_object *a = json_object_new_array();
	for (int bit = 0; a && bit < 64; bit++) {
		const char *name = (set >> bit) & 1 ? policy_cap_name(bit) : NULL;
		if (name)
			json_object_array_add(a, json_object_new_string(name));
	}
	return a;
}

static struct json_object *process_object(const struct oci_process *p)
{
	struct json_object *o = json_object_new_object(), *user, *caps, *gids;
	if (!o)
		return NULL;
	json_object_object_add(o, "terminal", json_object_new_boolean(p->terminal));
	user = json_object_new_object();
	json_object_object_add(user, "uid", json_object_new_int64(p->uid));
	json_object_object_add(user, "gid", json_object_new_int64(p->gid));
	json_object_object_add(user, "umask", json_object_new_int64(p->umask));
	gids = json_object_new_array();
	for (size_t i = 0; i < p->n_gids; i++)
		json_object_array_add(gids, json_object_new_int64(p->gids[i]));
	json_object_object_add(user, "additionalGids", gids);
	json_object_object_add(o, "user", user);
	json_object_object_add(o, "args", strv(p->argv, p->argc));
	json_object_object_add(o, "env", strv(p->env, p->n_env));
	json_object_object_add(o, "cwd", json_object_new_string(p->cwd && *p->cwd ? p->cwd : "/"));
	caps = json_object_new_object();
	json_object_object_add(caps, "bounding", cap_list(p->caps.bounding));
	json_object_object_add(caps, "effective", cap_list(p->caps.effective));
	json_object_object_add(caps, "inheritable", cap_list(p->caps.inheritable));
	json_object_object_add(caps, "permitted", cap_list(p->caps.permitted));
	json_object_object_add(caps, "ambient", cap_list(p->caps.ambient));
	json_object_object_add(o, "capabilities", caps);
	json_object_object_add(o, "noNewPrivileges", json_object_new_boolean(p->no_new_privileges));
	return o;
}

static struct json_object *mount_object(const char *dest, const char *type, const char *source,
					const char *const *opts, size_t n_opts)
{
	struct json_object *m = json_object_new_object();
	json_object_object_add(m, "destination", json_object_new_string(dest));
	json_object_object_add(m, "type", json_object_new_string(type));
	json_object_object_add(m, "source", json_object_new_string(source));
	json_object_object_add(m, "options", strv(opts, n_opts));
	return m;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The standard container mounts (as runc's and crun's default specs have them). */
static void add_default_mounts(struct json_object *mounts)
{
	static const char *const proc_o[] = { "nosuid", "noexec", "nodev" };
	static const char *const dev_o[] = { "nosuid", "strictatime", "mode=755", "size=65536k" };
	static const char *const pts_o[] = { "nosuid", "noexec", "newinstance", "ptmxmode=0666",
					     "mode=0620" };
	static const char *const shm_o[] = { "nosuid", "noexec", "nodev", "mode=1777",
					     "size=65536k" };
	static const char *const mq_o[] = { "nosuid", "noexec", "nodev" };
	static const char *const sys_o[] = { "nosuid", "noexec", "nodev", "ro" };
	static const char *const cg_o[] = { "nosuid", "noexec", "nodev", "relatime", "ro" };
	json_object_array_add(mounts, mount_object("/proc", "proc", "proc", proc_o, N(proc_o)));
	json_object_array_add(mounts, mount_object("/dev", "tmpfs", "tmpfs", dev_o, N(dev_o)));
	json_object_array_add(mounts, mount_object("/dev/pts", "devpts", "devpts", pts_o, N(pts_o)));
	json_object_array_add(mounts, mount_object("/dev/shm", "tmpfs", "shm", shm_o, N(shm_o)));
	json_object_array_add(mounts, mount_object("/dev/mqueue", "mqueue", "mqueue", mq_o,
						   N(mq_o)));
	json_object_array_add(mounts, mount_object("/sys", "sysfs", "sysfs", sys_o, N(sys_o)));
	json_object_array_add(mounts, mount_object("/sys/fs/cgroup", "cgroup", "cgroup", cg_o,
						   N(cg_o)));
}

static struct json_object *resources_object(const struct oci_resources *r)
{
	struct json_object *o = json_object_new_object();
	if (r->memory_bytes) {
		struct json_object *m = json_object_new_object();
		json_object_object_add(m, "limit", json_object_new_int64((int64_t)r->memory_bytes));
		json_object_object_add(o, "memory", m);
	}
	if (r->cpu_quota_us) {
		struct json_object *c = json_object_new_object();
		json_object_object_add(c, "quota", json_object_new_int64((int64_t)r->cpu_quota_us));
		json_object_object_add(c, "period",
				       json_object_new_int64((int64_t)(r->cpu_period_us
								       ? r->cpu_period_us
								       : 100000)));
		json_object_object_add(o, "cpu", c);
	}
	if (r->pids_max) {
		struct json_object *p = json_object_new_object();
		json_object_object_add(p, "limit", json_object_new_int64((int64_t)r->pids_max));
		json_object_object_add(o, "pids", p);
	}
	return o;
}

static int to_text(struct json_object *o, char **json, struct errbuf *eb)
{
	const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							      JSON_C_TO_STRING_NOSLASHESCAPE);
	*json = t ? strdup(t) : NULL;
	json_object_put(o);
	if (!*json)
		return errbuf_set(eb, ENOMEM, "out of memory building the OCI spec");
	return 0;
}

int oci_process_build(const struct oci_process *p, char **json, struct errbuf *eb)
{
	struct json_object *o = process_object(p);
	if (!o)
		return errbuf_set(eb, ENOMEM, "out of memory building the OCI spec");
	return to_text(o, json, eb);
}

int oci_config_build(const struct oci_config *c, char **json, struct errbuf *eb)
{
	static const char *const ns_types[] = { "pid", "ipc", "uts", "mount", "cgroup" };
	static const char *const masked[] = { "/proc/acpi", "/proc/kcore", "/proc/keys",
					      "/proc/latency_stats", "/proc/timer_list",
					      "/proc/timer_stats", "/proc/sched_debug",
					      "/sys/firmware", "/proc/scsi" };
	static const char *const readonly[] = { "/proc/asound", "/proc/bus", "/proc/fs",
						"/proc/irq", "/proc/sys", "/proc/sysrq-trigger" };
	static const char *const sc_opts[] = { "rbind", "ro", "nosuid", "nodev", "noexec" };
	struct json_object *o = json_object_new_object(), *root, *mounts, *linux_, *ns;

	if (!o)
		return errbuf_set(eb, ENOMEM, "out of memory building the OCI spec");
	json_object_object_add(o, "ociVersion", json_object_new_string("1.0.2"));
	json_object_object_add(o, "process", process_object(&c->process));
	root = json_object_new_object();
	json_object_object_add(root, "path", json_object_new_string(c->rootfs));
	json_object_object_add(root, "readonly", json_object_new_boolean(0));
	json_object_object_add(o, "root", root);
	json_object_object_add(o, "hostname", json_object_new_string(c->container_id));

	mounts = json_object_new_array();
	add_default_mounts(mounts);
	for (size_t i = 0; i < c->n_mounts; i++) {
		const struct oci_mount *m = &c->mounts[i];
		json_object_array_add(mounts, mount_object(m->destination, m->type, m->source,
							   m->options, m->n_options));
	}
	if (c->security_context_dir)
		json_object_array_add(mounts, mount_object(OCI_SECURITY_CONTEXT_DEST, "bind",
							   c->security_context_dir, sc_opts,
							   N(sc_opts)));
	json_object_object_add(o, "mounts", mounts);

	linux_ = json_object_new_object();
	ns = json_object_new_array();
	for (size_t i = 0; i < N(ns_types); i++) {
		struct json_object *n = json_object_new_object();
		json_object_object_add(n, "type", json_object_new_string(ns_types[i]));
		json_object_array_add(ns, n);
	}
	json_object_object_add(linux_, "namespaces", ns);
	json_object_object_add(linux_, "resources", resources_object(&c->resources));
	json_object_object_add(linux_, "cgroupsPath",
			       json_object_new_string(c->container_id)); /* under crun's root */
	if (!c->privileged) {
		json_object_object_add(linux_, "maskedPaths", strv(masked, N(masked)));
		json_object_object_add(linux_, "readonlyPaths", strv(readonly, N(readonly)));
	}
	if (c->seccomp)
		json_object_object_add(linux_, "seccomp", json_object_get(c->seccomp));
	json_object_object_add(o, "linux", linux_);
	/* Deliberately absent: "hooks", "linux.devices", "annotations" — nothing of the
	 * host's reaches them. */
	return to_text(o, json, eb);
}
