/* `parma boot`: boot a kernel or firmware directly in the KVM VMM. */
#include "vmm/vmm_cli.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "common/cli.h"
#include "devices/boot_timer.h"
#include "devices/virtio_blk.h"
#include "vmm/api.h"
#include "vmm/jail.h"
#include "devices/event_loop.h"
#include "vmm/seccomp_filter.h"
#include "vmm/snp_cli.h"
#include "vmm/vm.h"

static const char boot_usage[] =
	"Usage: parma boot --kernel FILE [--initrd FILE] [--cmdline TEXT] [options]\n"
	"       parma boot --firmware FILE [--kernel FILE --initrd FILE --cmdline TEXT] [options]\n"
	"       parma boot --api-sock PATH   (configure and start through the control API)\n"
	"\n"
	"Boot a Linux kernel (vmlinux ELF or bzImage, 64-bit boot protocol) or a firmware\n"
	"ELF in a KVM virtual machine. The guest finds its devices through generated\n"
	"ACPI tables and a boot descriptor (docs/vmm.md).\n"
	"\n"
	"  --kernel FILE      vmlinux or bzImage (with --firmware: staged for the firmware)\n"
	"  --initrd FILE      initial ramdisk\n"
	"  --cmdline TEXT     kernel command line\n"
	"  --firmware FILE    firmware ELF, loaded at its link addresses and entered first\n"
	"  --mem MIB          guest RAM in MiB (even; default 256)\n"
	"  --vcpus N          vCPUs (default 1)\n"
	"  --hugepages        back guest RAM with 2 MiB hugepages\n"
	"  --drive PATH[,ro][,queues=N]\n"
	"                     virtio-blk disk (repeat for more: /dev/vda, vdb, ...);\n"
	"                     ro: read-only; queues: request queues, 1-8 (default 1)\n"
	"  --vsock CID,PATH   virtio-vsock, Firecracker-style hybrid: host connects to PATH\n"
	"                     and sends \"CONNECT <port>\\n\"; guest connects reach PATH_<port>\n"
	"  --serial SPEC      console: stdout (default), none, file:PATH, unix:PATH\n"
	"  --debug-log FILE   where bytes written to port 0xe9 go (default stderr; none)\n"
	"  --ap-direct        start every vCPU at the entry point (test payloads)\n"
	"  --boot-times       print boot-timer milestones on exit\n"
	"  --api-sock PATH    serve the control API (docs/api.md) on this Unix socket\n"
	"  --seccomp=on|off   per-thread system-call filters (default on; off: debugging\n"
	"                     only, the VMM then runs unconfined: docs/security.md)\n"
	"  --jail DIR --uid U --gid G\n"
	"                     run confined (as root): new namespaces, a root at DIR holding\n"
	"                     only /dev/kvm and the files above, a cgroup, no capabilities,\n"
	"                     then uid U and gid G (G must open /dev/kvm, e.g. kvm)\n"
	SNP_BOOT_USAGE
	"\n"
	"Exit status: 0 guest powered off · 1-5 parma errors (README) · 6 guest reset ·\n"
	"7 guest panic · 8 stopped by a signal or the API · 9 vCPU error ·\n"
	"10 a thread made a system call its seccomp filter does not allow ·\n"
	"16+N the guest wrote N (1-239) to the debug-exit port 0xf4.\n";

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct boot_run {
	struct event_loop *loop;
	struct vm *vm;
	int sig_fd;
};

static void on_signal(void *ctx, uint32_t events)
{
	struct boot_run *r = ctx;
	struct signalfd_siginfo si;
	(void)events;
	if (read(r->sig_fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (r->vm)
		machine_request_exit(vm_machine(r->vm), MACHINE_EXIT_STOPPED);
	else
		event_loop_stop(r->loop, MACHINE_EXIT_STOPPED);
}

static int vcpu_sandbox(void *ctx, unsigned index, struct errbuf *eb)
{
	(void)ctx;
	(void)index;
	return seccomp_filter_install(1u << SECCOMP_ROLE_VCPU, "vCPU", eb);
}

static int parse_uint(const char *prog, const char *opt, const char *s, uint64_t max,
		      uint64_t *out)
{
	if (cli_parse_uint(s, 0, max, out))
		return cli_usage_error(prog, "%s %s: expected a number up to %llu", opt, s,
				       (unsigned long long)max);
	return 0;
}

/* What the options fill in: the VM configuration and `parma boot`'s own settings. */
struct boot_args {
	struct vm_config cfg;
	struct vm_drive drives[VM_MAX_DRIVES];
	const char *api_sock;
	bool boot_times;
	bool seccomp_off;
	const char *jail_dir;
	uint64_t jail_uid, jail_gid;
	bool have_uid, have_gid;
};

static int opt_mem(const char *prog, char *value, void *dest)
{
	struct boot_args *a = dest;
	return parse_uint(prog, "--mem", value, 1u << 20, &a->cfg.mem_mib);
}

static int opt_vcpus(const char *prog, char *value, void *dest)
{
	struct boot_args *a = dest;
	uint64_t v;
	int rc = parse_uint(prog, "--vcpus", value, MACHINE_MAX_VCPUS, &v);
	if (rc)
		return rc;
	if (!v)
		return cli_usage_error(prog, "--vcpus: at least 1");
	a->cfg.vcpus = (unsigned)v;
	return 0;
}

/* --drive PATH[,ro][,queues=N]: options are peeled off the end, so a path may hold commas
 * (argv strings are ours to modify). */
static int opt_drive(const char *prog, char *value, void *dest)
{
	struct boot_args *a = dest;
	if (a->cfg.n_drives == VM_MAX_DRIVES)
		return cli_usage_error(prog, "--drive: at most %d", VM_MAX_DRIVES);
	bool ro = false;
	unsigned long queues = 0;
	for (char *comma; (comma = strrchr(value, ','));) {
		char *opt = comma + 1, *end;
		if (!strcmp(opt, "ro")) {
			ro = true;
		} else if (!strncmp(opt, "queues=", 7)) {
			queues = strtoul(opt + 7, &end, 10);
			if (*end || queues < 1 || queues > VIRTIO_BLK_MAX_QUEUES)
				return cli_usage_error(prog, "--drive: queues=%s: expected 1 to %u",
						       opt + 7, VIRTIO_BLK_MAX_QUEUES);
		} else {
			break;
		}
		*comma = '\0';
	}
	a->drives[a->cfg.n_drives++] = (struct vm_drive){ value, ro, (unsigned)queues };
	a->cfg.drives = a->drives;
	return 0;
}

/* --vsock CID,PATH */
static int opt_vsock(const char *prog, char *value, void *dest)
{
	struct boot_args *a = dest;
	char *comma = strchr(value, ',');
	if (!comma || !comma[1])
		return cli_usage_error(prog, "--vsock: expected CID,PATH");
	*comma = 0;
	int rc = parse_uint(prog, "--vsock CID", value, UINT32_MAX - 1, &a->cfg.vsock_cid);
	if (rc)
		return rc;
	a->cfg.vsock_uds = comma + 1;
	return 0;
}

static int opt_uid(const char *prog, char *value, void *dest)
{
	struct boot_args *a = dest;
	struct passwd *pw = getpwnam(value);
	a->have_uid = true;
	if (pw) {
		a->jail_uid = pw->pw_uid;
		return 0;
	}
	return parse_uint(prog, "--uid", value, UINT32_MAX - 1, &a->jail_uid);
}

static int opt_gid(const char *prog, char *value, void *dest)
{
	struct boot_args *a = dest;
	struct group *gr = getgrnam(value);
	a->have_gid = true;
	if (gr) {
		a->jail_gid = gr->gr_gid;
		return 0;
	}
	return parse_uint(prog, "--gid", value, UINT32_MAX - 1, &a->jail_gid);
}

/* What the jailed VMM may see: the boot files and drives, /dev/kvm, and the directories its
 * sockets and logs go to. */
static int jail_setup(const char *prog, const struct boot_args *a, const struct vm_config *cfg,
		      struct jail_config *j)
{
	memset(j, 0, sizeof(*j));
	j->dir = a->jail_dir;
	j->uid = (uid_t)a->jail_uid;
	j->gid = (gid_t)a->jail_gid;
	uint64_t mib = cfg->mem_mib ? cfg->mem_mib : VM_DEFAULT_MEM_MIB;
	j->mem_max = (mib + 256) << 20; /* guest RAM + the VMM's own */
	j->cpus = (cfg->vcpus ? cfg->vcpus : 1) + 1;
	j->pids_max = (cfg->vcpus ? cfg->vcpus : 1) + 16;
	int rc = 0;
	const char *ro[] = { cfg->kernel, cfg->initrd, cfg->firmware };
	for (size_t i = 0; i < 3 && !rc; i++)
		if (ro[i])
			rc = jail_add_ro_file(j, ro[i]);
	for (unsigned i = 0; i < cfg->n_drives && !rc; i++)
		rc = cfg->drives[i].read_only ? jail_add_ro_file(j, cfg->drives[i].path)
					      : jail_add_rw_file(j, cfg->drives[i].path);
	/* Log files are bound one by one (not their directories, which may hold more). */
	const char *serial = cfg->serial;
	if (!rc && serial && !strncmp(serial, "file:", 5))
		rc = jail_add_rw_file(j, serial + 5);
	if (!rc && serial && !strncmp(serial, "unix:", 5))
		rc = jail_add_dir_of(j, serial + 5);
	if (!rc && cfg->debug_log && strcmp(cfg->debug_log, "none"))
		rc = jail_add_rw_file(j, cfg->debug_log);
	if (!rc && cfg->vsock_uds)
		rc = jail_add_dir_of(j, cfg->vsock_uds);
	if (!rc && a->api_sock)
		rc = jail_add_dir_of(j, a->api_sock);
	if (rc)
		return cli_usage_error(prog, "--jail: too many files or a path too long");
	return 0;
}

static int opt_seccomp(const char *prog, char *value, void *dest)
{
	struct boot_args *a = dest;
	if (strcmp(value, "on") && strcmp(value, "off"))
		return cli_usage_error(prog, "--seccomp: expected on or off");
	a->seccomp_off = !strcmp(value, "off");
	return 0;
}

int vmm_cli_boot(int argc, char **argv)
{
	const char *prog = argv[0];
	uint64_t t0 = now_ns();
	struct boot_args a = { .cfg = { .t0_ns = t0 } };
	struct snp_boot_opts snp_opts = { 0 };
	const struct cli_opt opts[] = {
		CLI_STRING("kernel", 0, &a.cfg.kernel),
		CLI_STRING("initrd", 0, &a.cfg.initrd),
		CLI_STRING("cmdline", 0, &a.cfg.cmdline),
		CLI_STRING("firmware", 0, &a.cfg.firmware),
		CLI_FUNC("mem", 0, opt_mem, &a),
		CLI_FUNC("vcpus", 0, opt_vcpus, &a),
		CLI_FLAG("hugepages", 0, &a.cfg.hugepages),
		CLI_STRING("serial", 0, &a.cfg.serial),
		CLI_STRING("debug-log", 0, &a.cfg.debug_log),
		CLI_FLAG("ap-direct", 0, &a.cfg.ap_direct),
		CLI_FLAG("boot-times", 0, &a.boot_times),
		CLI_STRING("api-sock", 0, &a.api_sock),
		CLI_FUNC("drive", 0, opt_drive, &a),
		CLI_FUNC("vsock", 0, opt_vsock, &a),
		CLI_FUNC("seccomp", 0, opt_seccomp, &a),
		CLI_STRING("jail", 0, &a.jail_dir),
		CLI_FUNC("uid", 0, opt_uid, &a),
		CLI_FUNC("gid", 0, opt_gid, &a),
		SNP_BOOT_OPTIONS(&snp_opts),
	};
	const struct cli_spec spec = {.usage = boot_usage, .opts = opts,
				      .n_opts = CLI_ARRAY_SIZE(opts)};
	int rc;
	if (cli_start(prog, &spec, argc, argv, &rc) < 0)
		return rc;
	struct vm_config cfg = a.cfg; /* its drives stay in a.drives */
	const char *api_sock = a.api_sock;
	bool boot_times = a.boot_times, seccomp = !a.seccomp_off;
	if (!api_sock && !cfg.kernel && !cfg.firmware)
		return cli_usage_error(prog, "give --kernel, --firmware or --api-sock");
	if (cfg.initrd && !cfg.kernel)
		return cli_usage_error(prog, "--initrd needs --kernel");

	if ((a.have_uid || a.have_gid) && !a.jail_dir)
		return cli_usage_error(prog, "--uid and --gid go with --jail DIR");
	if (a.jail_dir && (!a.have_uid || !a.have_gid))
		return cli_usage_error(prog, "--jail needs --uid and --gid (unprivileged)");
	if (a.jail_dir && snp_opts.enabled)
		return cli_usage_error(prog, "--jail does not support --snp yet");

	int snp_rc = snp_boot_prepare(prog, &snp_opts, &cfg);
	if (snp_rc)
		return snp_rc < 0 ? -snp_rc : CLI_OK;

	if (a.jail_dir) {
		struct jail_config j;
		struct errbuf jeb = { 0 };
		if ((rc = jail_setup(prog, &a, &cfg, &j)))
			return rc;
		if (jail_enter(&j, &jeb) < 0)
			return cli_error(prog, jeb.code == EACCES || jeb.code == EPERM ? CLI_UNAVAILABLE
											: CLI_INTERNAL,
					 "%s", errbuf_msg(&jeb));
	}

	if (seccomp)
		cfg.vcpu_thread_init = vcpu_sandbox;
	else
		fprintf(stderr, "%s: WARNING: --seccomp=off: the VMM's threads run without "
			"system-call filters; a guest that compromises a device model can make any "
			"system call this process may. Debugging only.\n", prog);

	struct errbuf eb = { 0 };
	struct boot_run r = { .sig_fd = -1 };
	int code = CLI_INTERNAL;
	struct api_server *api = NULL;
	r.loop = event_loop_create(&eb);
	if (!r.loop)
		return cli_error(prog, CLI_INTERNAL, "%s", errbuf_msg(&eb));
	/* A console or API client that goes away must cost a write error, not the VMM. */
	signal(SIGPIPE, SIG_IGN);
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	r.sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (r.sig_fd < 0 || event_loop_add_fd(r.loop, r.sig_fd, POLLIN, on_signal, &r) < 0) {
		code = cli_error(prog, CLI_INTERNAL, "signalfd: %s", strerror(errno));
		goto out;
	}
	if (api_sock) {
		struct api_options ao = { .socket_path = api_sock, .loop = r.loop, .defaults = &cfg };
		if (api_server_create(&ao, &api, &eb) < 0) {
			code = cli_error(prog, CLI_BAD_INPUT, "%s", errbuf_msg(&eb));
			goto out;
		}
	}
	if (cfg.kernel || cfg.firmware) {
		int rc = vm_create(&cfg, r.loop, &r.vm, &eb);
		if (rc < 0) {
			code = cli_error(prog,
					 (rc == -ENOENT && strstr(errbuf_msg(&eb), "/dev/kvm")) ||
					 rc == -ENOTSUP || rc == -ENOMEM ? CLI_UNAVAILABLE : CLI_BAD_INPUT,
					 "%s", errbuf_msg(&eb));
			goto out;
		}
		if (api)
			api_server_attach(api, r.vm);
		if (vm_start(r.vm, &eb) < 0) {
			code = cli_error(prog, CLI_INTERNAL, "%s", errbuf_msg(&eb));
			goto out;
		}
		snp_boot_report(prog, &snp_opts);
	}
	/* From here on the loop thread only serves devices (and the API, which may still build
	 * and start a VM whose vCPU threads inherit this filter). */
	if (seccomp) {
		unsigned roles = 1u << SECCOMP_ROLE_DEVICE;
		if (api)
			roles |= 1u << SECCOMP_ROLE_API | 1u << SECCOMP_ROLE_VCPU;
		if (seccomp_filter_install(roles, api ? "event-loop/API" : "event-loop", &eb) < 0) {
			code = cli_error(prog, CLI_INTERNAL, "%s", errbuf_msg(&eb));
			if (r.vm)
				machine_stop(vm_machine(r.vm));
			goto out;
		}
	}
	code = event_loop_run(r.loop);
	if (api && !r.vm)
		r.vm = api_server_take_vm(api);
	if (r.vm) {
		machine_stop(vm_machine(r.vm));
		if (boot_times) {
			uint32_t ids[64];
			uint64_t ns[64];
			unsigned n = vm_boot_marks(r.vm, ids, ns, 64);
			for (unsigned i = 0; i < n; i++)
				fprintf(stderr, "%s: boot-timer milestone %u at %llu us\n", prog, ids[i],
					(unsigned long long)(ns[i] / 1000));
		}
	}
	if (code != 0) {
		const char *detail = r.vm ? machine_exit_detail(vm_machine(r.vm)) : "";
		fprintf(stderr, "%s: %s%s%s (exit %d)\n", prog, machine_exit_name(code),
			*detail ? ": " : "", detail, code);
	}
out:
	api_server_destroy(api);
	vm_destroy(r.vm);
	if (r.sig_fd >= 0) {
		event_loop_remove_fd(r.loop, r.sig_fd);
		close(r.sig_fd);
	}
	event_loop_destroy(r.loop);
	snp_boot_cleanup(&snp_opts);
	return code;
}
