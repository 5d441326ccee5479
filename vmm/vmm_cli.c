/* `parma boot`: boot a kernel or firmware directly in the KVM VMM. */
#include "vmm/vmm_cli.h"

#include <errno.h>
#include <getopt.h>
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
#include "devices/event_loop.h"
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
	SNP_BOOT_USAGE
	"\n"
	"Exit status: 0 guest powered off · 1-5 parma errors (README) · 6 guest reset ·\n"
	"7 guest panic · 8 stopped by a signal or the API · 9 vCPU error ·\n"
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

static int parse_uint(const char *prog, const char *opt, const char *s, uint64_t max,
		      uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || !*s || *end || v > max || s[0] == '-')
		return cli_usage_error(prog, "%s %s: expected a number up to %llu", opt, s,
				       (unsigned long long)max);
	*out = v;
	return 0;
}

int vmm_cli_boot(int argc, char **argv)
{
	const char *prog = argv[0];
	uint64_t t0 = now_ns();
	if (cli_wants_help(argc, argv)) {
		fputs(boot_usage, stdout);
		return CLI_OK;
	}
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "firmware", required_argument, NULL, 'f' },
		{ "mem", required_argument, NULL, 'm' },
		{ "vcpus", required_argument, NULL, 'n' },
		{ "hugepages", no_argument, NULL, 'H' },
		{ "serial", required_argument, NULL, 's' },
		{ "debug-log", required_argument, NULL, 'd' },
		{ "ap-direct", no_argument, NULL, 'a' },
		{ "boot-times", no_argument, NULL, 't' },
		{ "api-sock", required_argument, NULL, 'A' },
		{ "drive", required_argument, NULL, 'D' },
		{ "vsock", required_argument, NULL, 'V' },
		SNP_BOOT_OPTIONS,
		{ 0 },
	};
	struct vm_config cfg = { .t0_ns = t0 };
	struct snp_boot_opts snp_opts = { 0 };
	struct vm_drive drives[VM_MAX_DRIVES];
	const char *api_sock = NULL;
	bool boot_times = false;
	uint64_t v = 0;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'k': cfg.kernel = optarg; break;
		case 'i': cfg.initrd = optarg; break;
		case 'c': cfg.cmdline = optarg; break;
		case 'f': cfg.firmware = optarg; break;
		case 'm':
			if (parse_uint(prog, "--mem", optarg, 1u << 20, &v))
				return CLI_USAGE;
			cfg.mem_mib = v;
			break;
		case 'n':
			if (parse_uint(prog, "--vcpus", optarg, MACHINE_MAX_VCPUS, &v))
				return CLI_USAGE;
			if (!v)
				return cli_usage_error(prog, "--vcpus: at least 1");
			cfg.vcpus = (unsigned)v;
			break;
		case 'H': cfg.hugepages = true; break;
		case 's': cfg.serial = optarg; break;
		case 'd': cfg.debug_log = optarg; break;
		case 'a': cfg.ap_direct = true; break;
		case 't': boot_times = true; break;
		case 'A': api_sock = optarg; break;
		case 'D': {
			if (cfg.n_drives == VM_MAX_DRIVES)
				return cli_usage_error(prog, "--drive: at most %d", VM_MAX_DRIVES);
			/* PATH[,ro][,queues=N]: options are peeled off the end, so a path may
			 * hold commas (argv strings are ours to modify) */
			bool ro = false;
			unsigned long queues = 0;
			for (char *comma; (comma = strrchr(optarg, ','));) {
				char *opt = comma + 1, *end;
				if (!strcmp(opt, "ro")) {
					ro = true;
				} else if (!strncmp(opt, "queues=", 7)) {
					queues = strtoul(opt + 7, &end, 10);
					if (*end || queues < 1 || queues > VIRTIO_BLK_MAX_QUEUES)
						return cli_usage_error(prog, "--drive: queues=%s: expected "
								       "1 to %u", opt + 7,
								       VIRTIO_BLK_MAX_QUEUES);
				} else {
					break;
				}
				*comma = '\0';
			}
			drives[cfg.n_drives] = (struct vm_drive){ optarg, ro, (unsigned)queues };
			cfg.n_drives++;
			cfg.drives = drives;
			break;
		}
		case 'V': {
			char *comma = strchr(optarg, ',');
			if (!comma || !comma[1])
				return cli_usage_error(prog, "--vsock: expected CID,PATH");
			*comma = 0;
			if (parse_uint(prog, "--vsock CID", optarg, UINT32_MAX - 1, &v))
				return CLI_USAGE;
			cfg.vsock_cid = v;
			cfg.vsock_uds = comma + 1;
			break;
		}
		default: {
			int snp_rc = snp_boot_option(prog, c, optarg, &snp_opts);
			if (snp_rc < 0)
				return -snp_rc;
			if (snp_rc)
				break;
			return cli_usage_error(prog, "unknown or incomplete option '%s'",
					       argv[optind - 1]);
		}
		}
	}
	if (optind < argc)
		return cli_usage_error(prog, "unexpected argument '%s'", argv[optind]);
	if (!api_sock && !cfg.kernel && !cfg.firmware)
		return cli_usage_error(prog, "give --kernel, --firmware or --api-sock");
	if (cfg.initrd && !cfg.kernel)
		return cli_usage_error(prog, "--initrd needs --kernel");

	int snp_rc = snp_boot_prepare(prog, &snp_opts, &cfg);
	if (snp_rc)
		return snp_rc < 0 ? -snp_rc : CLI_OK;

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
