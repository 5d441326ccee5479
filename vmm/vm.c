/* vm: assemble machine + small devices + images + ACPI + boot descriptor. */
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/digest.h"
#include "common/fileio.h"
#include "devices/acpi_sleep.h"
#include "devices/boot_timer.h"
#include "devices/debug_port.h"
#include "devices/i8042.h"
#include "devices/pvpanic.h"
#include "devices/serial.h"
#include "devices/virtio_blk.h"
#include "devices/virtio_vsock.h"
#include "devices/virtio_mmio.h"
#include "vmm/acpi.h"
#include "vmm/boot.h"
#include "vmm/boot_desc.h"
#include "devices/event_loop.h"
#include "common/guest_abi/layout.h"

#define VM_MAX_KERNEL (512ull << 20)
#define VM_MAX_INITRD (2048ull << 20)
#define VM_MAX_FIRMWARE (16ull << 20)

struct vm {
	struct event_loop *loop;
	struct machine *m;
	struct debug_port *debug;
	struct boot_timer *timer;
	struct serial *serial;
	struct i8042 *i8042;
	struct acpi_sleep *sleep;
	struct pvpanic *pvpanic;
	struct virtio_blk *blk[VM_MAX_DRIVES];
	unsigned n_blk;
	struct virtio_vsock *vsock;
	int debug_fd;       /* owned if != STDERR_FILENO */
	int serial_out_fd;  /* owned if a file */
	int serial_listen_fd, serial_client_fd;
	char *serial_sock_path;
};

static void on_debug_exit(void *ctx, uint8_t v)
{
	struct vm *vm = ctx;
	machine_request_exit(vm->m, machine_exit_for_debug_byte(v));
}

static void on_reset(void *ctx)
{
	struct vm *vm = ctx;
	machine_request_exit(vm->m, MACHINE_EXIT_RESET);
}

static void on_poweroff(void *ctx)
{
	struct vm *vm = ctx;
	machine_request_exit(vm->m, MACHINE_EXIT_POWEROFF);
}

static void on_panic(void *ctx)
{
	struct vm *vm = ctx;
	machine_request_exit(vm->m, MACHINE_EXIT_PANIC);
}

static void serial_client_gone(struct vm *vm)
{
	if (vm->serial_client_fd >= 0) {
		serial_set_fds(vm->serial, -1, -1);
		close(vm->serial_client_fd);
		vm->serial_client_fd = -1;
	}
}

static void serial_accept(void *ctx, uint32_t events)
{
	struct vm *vm = ctx;
	(void)events;
	int fd = accept4(vm->serial_listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	/* One console client at a time: a new one replaces the old. */
	serial_client_gone(vm);
	vm->serial_client_fd = fd;
	serial_set_fds(vm->serial, fd, fd);
}

static int serial_setup(struct vm *vm, const char *spec, struct errbuf *eb)
{
	const struct device_host *host = machine_device_host(vm->m);
	int in = -1, out = -1;
	if (!spec || !strcmp(spec, "stdout")) {
		out = STDOUT_FILENO;
		if (isatty(STDIN_FILENO))
			in = STDIN_FILENO;
	} else if (!strcmp(spec, "none")) {
		return 0;
	} else if (!strncmp(spec, "file:", 5)) {
		out = open(spec + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (out < 0)
			return errbuf_set(eb, errno, "--serial %s: %s", spec, strerror(errno));
		vm->serial_out_fd = out;
	} else if (!strncmp(spec, "unix:", 5)) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		if (strlen(spec + 5) >= sizeof(sa.sun_path))
			return errbuf_set(eb, ENAMETOOLONG, "--serial %s: socket path too long", spec);
		strcpy(sa.sun_path, spec + 5);
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return errbuf_set(eb, errno, "--serial: socket: %s", strerror(errno));
		unlink(sa.sun_path);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
			int e = errno;
			close(fd);
			return errbuf_set(eb, e, "--serial %s: %s", spec, strerror(e));
		}
		vm->serial_listen_fd = fd;
		vm->serial_sock_path = strdup(sa.sun_path);
		int rc = event_loop_add_fd(vm->loop, fd, POLLIN, serial_accept, vm);
		if (rc < 0)
			return errbuf_set(eb, -rc, "--serial: cannot watch the socket");
	} else {
		return errbuf_set(eb, EINVAL,
				  "--serial %s: expected stdout, none, file:PATH or unix:PATH", spec);
	}
	int rc = serial_create(host, LAYOUT_PORT_SERIAL, LAYOUT_SERIAL_GSI, in, out, &vm->serial);
	if (rc < 0)
		return errbuf_set(eb, -rc, "serial: %s", strerror(-rc));
	return 0;
}


/* One virtio-blk device per drive: an MMIO window and a GSI from the machine,
 * described to the guest through ACPI and the boot descriptor. */
static int drives_setup(struct vm *vm, const struct vm_config *cfg, struct errbuf *eb)
{
	if (cfg->n_drives > VM_MAX_DRIVES)
		return errbuf_set(eb, EINVAL, "at most %d drives", VM_MAX_DRIVES);
	for (unsigned i = 0; i < cfg->n_drives; i++) {
		uint64_t base;
		uint32_t gsi;
		int rc = machine_alloc_mmio(vm->m, VIRTIO_MMIO_WINDOW, &base);
		if (rc == 0)
			rc = machine_alloc_gsi(vm->m, &gsi);
		if (rc < 0)
			return errbuf_set(eb, -rc, "drive %u: no MMIO window or interrupt left", i);
		struct virtio_blk_opts o = { .path = cfg->drives[i].path,
					     .read_only = cfg->drives[i].read_only,
					     .num_queues = cfg->drives[i].queues ? cfg->drives[i].queues : 1 };
		vm->blk[i] = virtio_blk_create(machine_device_host(vm->m), base, gsi, &o, eb);
		if (!vm->blk[i]) {
			errbuf_prefix(eb, "--drive %s", cfg->drives[i].path);
			return -EINVAL;
		}
		vm->n_blk = i + 1;
		struct machine_device d = { .hid = "LNRO0005", .mmio_base = base,
					    .mmio_size = VIRTIO_MMIO_WINDOW, .gsi = gsi,
					    .virtio_id = VIRTIO_ID_BLOCK };
		snprintf(d.name, sizeof(d.name), "virtio-blk%u", i);
		if ((rc = machine_add_device(vm->m, &d)) < 0)
			return errbuf_set(eb, -rc, "drive %u: too many devices", i);
	}
	return 0;
}

/* The hybrid vsock device (devices/virtio_vsock.h), if configured. */
static int vsock_setup(struct vm *vm, const struct vm_config *cfg, struct errbuf *eb)
{
	uint64_t base;
	uint32_t gsi;
	if (!cfg->vsock_uds)
		return 0;
	int rc = machine_alloc_mmio(vm->m, VIRTIO_MMIO_WINDOW, &base);
	if (rc == 0)
		rc = machine_alloc_gsi(vm->m, &gsi);
	if (rc < 0)
		return errbuf_set(eb, -rc, "vsock: no MMIO window or interrupt left");
	struct virtio_vsock_opts o = { .guest_cid = cfg->vsock_cid, .uds_path = cfg->vsock_uds };
	vm->vsock = virtio_vsock_create(machine_device_host(vm->m), base, gsi, &o, eb);
	if (!vm->vsock) {
		errbuf_prefix(eb, "--vsock");
		return -EINVAL;
	}
	struct machine_device d = { .name = "virtio-vsock0", .hid = "LNRO0005", .mmio_base = base,
				    .mmio_size = VIRTIO_MMIO_WINDOW, .gsi = gsi,
				    .virtio_id = VIRTIO_ID_VSOCK };
	if ((rc = machine_add_device(vm->m, &d)) < 0)
		return errbuf_set(eb, -rc, "vsock: too many devices");
	return 0;
}

static int read_file(const char *path, uint64_t max, const char *what, uint8_t **data,
		     size_t *len, struct errbuf *eb)
{
	int rc = file_read_all(path, max, data, len, eb);
	if (rc < 0)
		errbuf_prefix(eb, "%s", what);
	return rc;
}

static int note(struct vm *vm, enum machine_blob_kind kind, uint64_t gpa, uint64_t size,
		struct errbuf *eb)
{
	int rc = machine_note_blob(vm->m, kind, gpa, size);
	return rc < 0 ? errbuf_set(eb, -rc, "cannot record loaded image") : 0;
}

/* Load everything and set the entry state. */
static int load(struct vm *vm, const struct vm_config *cfg, struct errbuf *eb)
{
	struct guest_mem *gm = machine_mem(vm->m);
	uint8_t *kernel = NULL, *initrd = NULL, *fw = NULL;
	size_t kernel_len = 0, initrd_len = 0, fw_len = 0;
	uint8_t kernel_sha[SHA256_LEN], initrd_sha[SHA256_LEN];
	const char *cmdline = cfg->cmdline ? cfg->cmdline : "";
	struct boot_image kimg, fimg;
	uint64_t initrd_addr = 0, kernel_stage = 0;
	int rc;

	if (!cfg->kernel && !cfg->firmware)
		return errbuf_set(eb, EINVAL, "nothing to boot: give --kernel or --firmware");
	if (strlen(cmdline) > VM_MAX_CMDLINE)
		return errbuf_set(eb, E2BIG, "--cmdline: longer than %d bytes", VM_MAX_CMDLINE);
	if (cfg->kernel && (rc = read_file(cfg->kernel, VM_MAX_KERNEL, "--kernel", &kernel,
					   &kernel_len, eb)) < 0)
		goto out;
	if (cfg->initrd && (rc = read_file(cfg->initrd, VM_MAX_INITRD, "--initrd", &initrd,
					   &initrd_len, eb)) < 0)
		goto out;
	if (cfg->initrd && !initrd_len) {
		rc = errbuf_set(eb, EINVAL, "--initrd %s: empty file", cfg->initrd);
		goto out;
	}
	if (kernel)
		digest_sha256(kernel, kernel_len, kernel_sha);
	if (initrd)
		digest_sha256(initrd, initrd_len, initrd_sha);

	struct machine_entry entry = { .mode = MACHINE_ENTRY_64BIT, .rdi = LAYOUT_BOOT_DESC };
	uint64_t low_top = 0;
	if (cfg->firmware) {
		if ((rc = read_file(cfg->firmware, VM_MAX_FIRMWARE, "--firmware", &fw, &fw_len,
				    eb)) < 0)
			goto out;
		if ((rc = boot_load_elf(gm, fw, fw_len, cfg->firmware, LAYOUT_HIGH_MEM, &fimg, eb)) < 0)
			goto out;
		if ((rc = note(vm, MACHINE_BLOB_FIRMWARE, fimg.lo, fimg.hi - fimg.lo, eb)) < 0)
			goto out;
		entry.rip = fimg.entry;
		entry.mode = MACHINE_ENTRY_32BIT; /* stage0 entry state: docs/firmware.md */
		/* Stage the kernel file verbatim above the firmware for it to check and load. */
		low_top = (fimg.hi + 0x1fffff) & ~0x1fffffull;
		if (kernel) {
			uint8_t *dst = guest_mem_ptr(gm, low_top, kernel_len);
			if (!dst) {
				rc = errbuf_set(eb, ENOSPC, "--kernel: %zu bytes do not fit in guest RAM above the firmware",
						kernel_len);
				goto out;
			}
			memcpy(dst, kernel, kernel_len);
			kernel_stage = low_top;
			low_top += kernel_len;
			if ((rc = note(vm, MACHINE_BLOB_KERNEL, kernel_stage, kernel_len, eb)) < 0)
				goto out;
		}
		if ((rc = boot_write_cmdline(gm, cmdline, VM_MAX_CMDLINE, eb)) < 0)
			goto out;
	} else {
		if ((rc = boot_load_kernel(gm, kernel, kernel_len, cfg->kernel, &kimg, eb)) < 0)
			goto out;
		if ((rc = note(vm, MACHINE_BLOB_KERNEL, kimg.lo, kimg.hi - kimg.lo, eb)) < 0)
			goto out;
		entry.rip = kimg.entry;
		entry.rsi = LAYOUT_ZERO_PAGE;
		low_top = kimg.hi;
		if ((rc = boot_write_cmdline(gm, cmdline, kimg.cmdline_max, eb)) < 0) {
			errbuf_prefix(eb, "--cmdline");
			goto out;
		}
	}
	if ((rc = note(vm, MACHINE_BLOB_CMDLINE, LAYOUT_CMDLINE, strlen(cmdline) + 1, eb)) < 0)
		goto out;
	if (initrd) {
		uint64_t max_end = cfg->firmware ? 0 : kimg.initrd_addr_max;
		if ((rc = boot_place_high(gm, initrd, initrd_len, low_top, max_end, "--initrd",
					  &initrd_addr, eb)) < 0)
			goto out;
		if ((rc = note(vm, MACHINE_BLOB_INITRD, initrd_addr, initrd_len, eb)) < 0)
			goto out;
	}

	/* ACPI: COM1 and every virtio-mmio device registered with the machine. */
	unsigned n_dev;
	const struct machine_device *devs = machine_devices(vm->m, &n_dev);
	struct acpi_virtio av[ACPI_MAX_VIRTIO];
	struct boot_desc_device bd[MACHINE_MAX_DEVICES + 1];
	unsigned n_av = 0, n_bd = 0;
	for (unsigned i = 0; i < n_dev; i++) {
		if (!strcmp(devs[i].hid, "LNRO0005") && n_av < ACPI_MAX_VIRTIO)
			av[n_av++] = (struct acpi_virtio){ devs[i].mmio_base,
							   (uint32_t)devs[i].mmio_size, devs[i].gsi };
		bd[n_bd++] = (struct boot_desc_device){
			devs[i].name, devs[i].virtio_id ? "virtio,mmio" : devs[i].name,
			devs[i].hid[0] ? devs[i].hid : NULL, devs[i].mmio_base, devs[i].mmio_size,
			devs[i].gsi, devs[i].virtio_id };
	}
	if (vm->serial)
		bd[n_bd++] = (struct boot_desc_device){ "serial", "ns16550a", "PNP0501",
							LAYOUT_PORT_SERIAL, 8, LAYOUT_SERIAL_GSI, 0 };
	struct acpi_config ac = { .n_vcpus = machine_vcpu_count(vm->m), .virtio = av,
				  .n_virtio = n_av, .serial = vm->serial != NULL,
				  .pvpanic = 1 };
	size_t acpi_len;
	uint8_t *acpi = guest_mem_ptr(gm, LAYOUT_ACPI, LAYOUT_ACPI_MAX);
	if (!acpi || (rc = acpi_build(&ac, LAYOUT_ACPI, acpi, LAYOUT_ACPI_MAX, &acpi_len, eb)) < 0) {
		rc = acpi ? rc : errbuf_set(eb, ERANGE, "ACPI area outside guest RAM");
		goto out;
	}
	if ((rc = note(vm, MACHINE_BLOB_ACPI, LAYOUT_ACPI, acpi_len, eb)) < 0)
		goto out;
	if ((rc = boot_write_reset_vector(gm, eb)) < 0)
		goto out;

	if (!cfg->firmware) {
		struct boot_zero_page_args zp = {
			.kernel = &kimg, .mem_size = machine_mem_size(vm->m),
			.cmdline_addr = LAYOUT_CMDLINE, .cmdline_len = (uint32_t)strlen(cmdline),
			.initrd_addr = initrd_addr, .initrd_size = initrd_len, .rsdp_addr = LAYOUT_ACPI,
		};
		if ((rc = boot_write_zero_page(gm, &zp, eb)) < 0)
			goto out;
		if ((rc = note(vm, MACHINE_BLOB_ZERO_PAGE, LAYOUT_ZERO_PAGE, 4096, eb)) < 0)
			goto out;
	}

	struct boot_e820 e820[BOOT_E820_MAX];
	struct boot_desc d = {
		.mode = cfg->firmware ? "firmware" : "kernel",
		.e820 = e820, .n_e820 = boot_e820_build(machine_mem_size(vm->m), e820),
		.n_vcpus = machine_vcpu_count(vm->m), .cmdline = cmdline,
		.ap_start = cfg->ap_direct ? "direct" : "sipi",
		.kernel_sha256 = kernel ? kernel_sha : NULL, .kernel_size = kernel_len,
		.initrd_sha256 = initrd ? initrd_sha : NULL, .initrd_size = initrd_len,
		.kernel_addr = kernel_stage, .initrd_addr = cfg->firmware ? initrd_addr : 0,
		.cmdline_addr = cfg->firmware ? LAYOUT_CMDLINE : 0,
		.acpi_rsdp = LAYOUT_ACPI, .devices = bd, .n_devices = n_bd,
	};
	size_t bd_len;
	uint8_t *bdp = guest_mem_ptr(gm, LAYOUT_BOOT_DESC, LAYOUT_BOOT_DESC_MAX);
	if (!bdp || (rc = boot_desc_build(&d, bdp, LAYOUT_BOOT_DESC_MAX, &bd_len, eb)) < 0) {
		rc = bdp ? rc : errbuf_set(eb, ERANGE, "boot descriptor area outside guest RAM");
		goto out;
	}
	if ((rc = note(vm, MACHINE_BLOB_BOOT_DESC, LAYOUT_BOOT_DESC, bd_len, eb)) < 0)
		goto out;
	rc = machine_set_entry(vm->m, &entry, eb);
out:
	free(kernel);
	free(initrd);
	free(fw);
	return rc;
}

int vm_create(const struct vm_config *cfg, struct event_loop *loop, struct vm **out,
	      struct errbuf *eb)
{
	*out = NULL;
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return errbuf_set(eb, ENOMEM, "out of memory");
	vm->loop = loop;
	vm->debug_fd = STDERR_FILENO;
	vm->serial_out_fd = vm->serial_listen_fd = vm->serial_client_fd = -1;
	uint64_t mib = cfg->mem_mib ? cfg->mem_mib : VM_DEFAULT_MEM_MIB;
	int rc;
	if (mib > (MACHINE_MAX_MEM >> 20) || mib % 2) {
		rc = errbuf_set(eb, EINVAL, "--mem %llu: must be an even number of MiB up to %llu",
				(unsigned long long)mib, (unsigned long long)(MACHINE_MAX_MEM >> 20));
		goto fail;
	}
	struct machine_config mc = {
		.mem_size = mib << 20, .n_vcpus = cfg->vcpus ? cfg->vcpus : 1,
		.hugepages = cfg->hugepages,
		.ap_start = cfg->ap_direct ? MACHINE_AP_DIRECT : MACHINE_AP_SIPI,
		.kvm = cfg->kvm, .kvm_ctx = cfg->kvm_ctx, .hooks = cfg->hooks, .loop = loop,
		.vcpu_thread_init = cfg->vcpu_thread_init, .thread_ctx = cfg->thread_ctx,
	};
	if ((rc = machine_create(&mc, &vm->m, eb)) < 0)
		goto fail;
	const struct device_host *host = machine_device_host(vm->m);
	if (cfg->debug_log && !strcmp(cfg->debug_log, "none")) {
		vm->debug_fd = -1;
	} else if (cfg->debug_log) {
		vm->debug_fd = open(cfg->debug_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (vm->debug_fd < 0) {
			rc = errbuf_set(eb, errno, "--debug-log %s: %s", cfg->debug_log, strerror(errno));
			goto fail;
		}
	}
	if ((rc = debug_port_create(host, vm->debug_fd, on_debug_exit, vm, &vm->debug)) < 0 ||
	    (rc = boot_timer_create(host, cfg->t0_ns, &vm->timer)) < 0 ||
	    (rc = i8042_create(host, on_reset, vm, &vm->i8042)) < 0 ||
	    (rc = acpi_sleep_create(host, on_poweroff, vm, &vm->sleep)) < 0 ||
	    (rc = pvpanic_create(host, on_panic, vm, &vm->pvpanic)) < 0) {
		errbuf_set(eb, -rc, "small devices: %s", strerror(-rc));
		goto fail;
	}
	if ((rc = serial_setup(vm, cfg->serial, eb)) < 0)
		goto fail;
	if ((rc = drives_setup(vm, cfg, eb)) < 0)
		goto fail;
	if ((rc = vsock_setup(vm, cfg, eb)) < 0)
		goto fail;
	if ((rc = load(vm, cfg, eb)) < 0)
		goto fail;
	*out = vm;
	return 0;
fail:
	vm_destroy(vm);
	return rc;
}

int vm_start(struct vm *vm, struct errbuf *eb)
{
	return machine_start(vm->m, eb);
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	machine_stop(vm->m);
	serial_client_gone(vm);
	if (vm->serial_listen_fd >= 0) {
		event_loop_remove_fd(vm->loop, vm->serial_listen_fd);
		close(vm->serial_listen_fd);
	}
	if (vm->serial_sock_path) {
		unlink(vm->serial_sock_path);
		free(vm->serial_sock_path);
	}
	serial_destroy(vm->serial);
	for (unsigned i = 0; i < vm->n_blk; i++)
		virtio_blk_destroy(vm->blk[i]);
	virtio_vsock_destroy(vm->vsock);
	debug_port_destroy(vm->debug);
	boot_timer_destroy(vm->timer);
	i8042_destroy(vm->i8042);
	acpi_sleep_destroy(vm->sleep);
	pvpanic_destroy(vm->pvpanic);
	machine_destroy(vm->m);
	if (vm->debug_fd >= 0 && vm->debug_fd != STDERR_FILENO)
		close(vm->debug_fd);
	if (vm->serial_out_fd >= 0)
		close(vm->serial_out_fd);
	free(vm);
}

struct machine *vm_machine(struct vm *vm)
{
	return vm->m;
}

unsigned vm_boot_marks(struct vm *vm, uint32_t *ids, uint64_t *ns, unsigned max)
{
	struct boot_timer_mark marks[BOOT_TIMER_MAX];
	unsigned n = boot_timer_marks(vm->timer, marks, BOOT_TIMER_MAX);
	unsigned k = n < BOOT_TIMER_MAX ? n : BOOT_TIMER_MAX;
	if (k > max)
		k = max;
	for (unsigned i = 0; i < k; i++) {
		ids[i] = marks[i].id;
		ns[i] = marks[i].ns;
	}
	return k;
}
