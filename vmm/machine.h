/* machine: one KVM virtual machine — guest RAM, in-kernel irqchip and PIT, vCPU
 * threads, the MMIO and port-I/O buses, and how the VM ends.
 *
 * Life cycle:
 *   machine_create()            VM, RAM (memfd), irqchip, PIT, vCPUs (CPUID, MSRs, LAPIC)
 *   ...attach devices (machine_device_host(), machine_alloc_mmio(), machine_add_device())
 *   ...load images into RAM (vmm/boot.h), machine_set_entry()
 *   machine_start()             hooks->before_run (SNP launch finish), one thread per vCPU
 *   event_loop_run()            returns a MACHINE_EXIT_* code when the guest ends
 *   machine_stop(); machine_destroy()
 *
 * All KVM calls go through cfg->kvm (vmm/kvm_ops.h). SEV-SNP plugs in through
 * `struct machine_hooks` without changing this file's logic: a VM type, a
 * memory-slot setup (guest_memfd), a launch step before the first KVM_RUN, and
 * a handler for exits this file does not know. */
#ifndef PARMA_VMM_MACHINE_H
#define PARMA_VMM_MACHINE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/errbuf.h"
#include "devices/bus.h"
#include "devices/device.h"
#include "devices/guest_mem.h"
#include "vmm/kvm_ops.h"

struct event_loop;
struct kvm_run;
struct machine;

#define MACHINE_MAX_VCPUS 64
#define MACHINE_MAX_DEVICES 32
#define MACHINE_MAX_LOADED 32
#define MACHINE_MIN_MEM (4ull << 20)
#define MACHINE_MAX_MEM (1ull << 40)

/* How the VM ended: the value event_loop_run() returns and the exit status of
 * `parma boot` (documented in docs/vmm.md, "Exit codes"). Values 1-5 are the
 * common CLI codes and never mean a guest event. */
enum machine_exit {
	MACHINE_EXIT_POWEROFF = 0,     /* guest powered off (ACPI/KVM system event) */
	MACHINE_EXIT_RESET = 6,        /* guest asked to reset (i8042, triple fault) */
	MACHINE_EXIT_PANIC = 7,        /* guest crashed (KVM crash event) */
	MACHINE_EXIT_STOPPED = 8,      /* host stopped it: signal or control API */
	MACHINE_EXIT_VCPU_ERROR = 9,   /* KVM_RUN failed or an exit we cannot handle */
	MACHINE_EXIT_DEBUG_BASE = 16,  /* debug-exit port: 16 + byte (1..239); byte 0 → 0 */
};

/* Map a debug-exit byte to a machine exit code (0 stays 0, others 16+v, capped at 255). */
int machine_exit_for_debug_byte(uint8_t v);
const char *machine_exit_name(int code);

/* How vCPUs other than the boot vCPU start. */
enum machine_ap_start {
	MACHINE_AP_SIPI = 0,    /* wait for INIT-SIPI from the BSP (what Linux expects) */
	MACHINE_AP_DIRECT = 1,  /* enter at the entry point like the BSP, RDX = vCPU index */
};

/* CPU mode at the entry point. */
enum machine_entry_mode {
	MACHINE_ENTRY_64BIT = 0, /* long mode, identity-mapped 4 GiB, Linux 64-bit boot protocol */
	MACHINE_ENTRY_32BIT = 1, /* flat protected mode, paging off (PVH-like) */
};

struct machine_entry {
	enum machine_entry_mode mode;
	uint64_t rip;
	uint64_t rsi; /* zero page GPA (Linux) or 0 */
	uint64_t rdi; /* boot descriptor GPA or 0 */
	uint64_t rsp; /* 0: none (the guest sets its own stack) */
};

/* What a loader put into guest RAM: the record the SNP launch measures from. */
enum machine_blob_kind {
	MACHINE_BLOB_FIRMWARE, MACHINE_BLOB_KERNEL, MACHINE_BLOB_INITRD, MACHINE_BLOB_CMDLINE,
	MACHINE_BLOB_ZERO_PAGE, MACHINE_BLOB_BOOT_DESC, MACHINE_BLOB_ACPI,
	MACHINE_BLOB_PAGE_TABLES,
};

struct machine_blob {
	enum machine_blob_kind kind;
	uint64_t gpa;
	uint64_t size;
};

/* A device the guest discovers through ACPI and the boot descriptor. */
struct machine_device {
	char name[32];     /* "virtio-blk0" */
	char hid[9];       /* ACPI _HID, "LNRO0005" for virtio-mmio */
	uint64_t mmio_base;
	uint64_t mmio_size;
	uint32_t gsi;      /* edge-triggered, active-high */
	uint32_t virtio_id;/* virtio device type, 0 if not virtio */
};

/* Extension points for the SEV-SNP launch (vmm/snp_*). Any may be NULL. */
struct machine_hooks {
	void *ctx;
	unsigned long vm_type; /* KVM_CREATE_VM argument (0: default VM) */
	/* After KVM_CREATE_VM, before irqchip, memory and vCPUs (SNP: KVM_SEV_INIT2). */
	int (*vm_created)(void *ctx, struct machine *m, struct errbuf *eb);
	/* Register one RAM slot instead of KVM_SET_USER_MEMORY_REGION (SNP:
	 * guest_memfd + KVM_SET_USER_MEMORY_REGION2 + private attributes). */
	int (*set_memory)(void *ctx, struct machine *m, uint32_t slot, uint64_t gpa,
			  uint64_t size, void *host, struct errbuf *eb);
	/* After images are loaded and vCPU registers are set, before the first
	 * KVM_RUN (SNP: LAUNCH_START/UPDATE over machine_blobs()/FINISH). */
	int (*before_run)(void *ctx, struct machine *m, struct errbuf *eb);
	/* Exits this file does not handle (SNP: KVM_EXIT_HYPERCALL map-GPA-range,
	 * KVM_EXIT_MEMORY_FAULT). Return 0 if handled, -ENOTSUP if not, else -errno. */
	int (*handle_exit)(void *ctx, struct machine *m, unsigned vcpu, struct kvm_run *run);
};

struct machine_config {
	uint64_t mem_size;         /* bytes: a multiple of 2 MiB, MACHINE_MIN_MEM..MACHINE_MAX_MEM */
	unsigned n_vcpus;          /* 1..MACHINE_MAX_VCPUS */
	bool hugepages;            /* back RAM with 2 MiB hugetlb pages */
	enum machine_ap_start ap_start;
	const struct kvm_ops *kvm; /* NULL: kvm_ops_host */
	void *kvm_ctx;
	const struct machine_hooks *hooks; /* NULL: plain KVM */
	struct event_loop *loop;   /* where the machine reports its end (required) */
	/* Run first on each vCPU thread (the VMM installs its seccomp filter there); a failure
	 * stops the machine with MACHINE_EXIT_VCPU_ERROR and the message as its detail. */
	int (*vcpu_thread_init)(void *ctx, unsigned index, struct errbuf *eb);
	void *thread_ctx;
};

/* Create the VM. Errors name the step and the KVM error ("KVM_CREATE_IRQCHIP: ..."). */
int machine_create(const struct machine_config *cfg, struct machine **out, struct errbuf *eb);
/* Stops the vCPUs if running; accepts NULL. */
void machine_destroy(struct machine *m);

/* Guest RAM, the buses and the device host that device models are created with. */
struct guest_mem *machine_mem(struct machine *m);
struct bus *machine_mmio_bus(struct machine *m);
struct bus *machine_pio_bus(struct machine *m);
const struct device_host *machine_device_host(struct machine *m);
uint64_t machine_mem_size(const struct machine *m);
unsigned machine_vcpu_count(const struct machine *m);

/* Hand out the next free MMIO window (LAYOUT_DEVICE_MMIO_STRIDE each) and GSI. */
int machine_alloc_mmio(struct machine *m, uint64_t size, uint64_t *base);
int machine_alloc_gsi(struct machine *m, uint32_t *gsi);
/* Record a device for ACPI and the boot descriptor (call before the tables are built). */
int machine_add_device(struct machine *m, const struct machine_device *dev);
const struct machine_device *machine_devices(const struct machine *m, unsigned *n);

/* Record / list what loaders put in RAM (for the SNP launch and the docs of a boot). */
int machine_note_blob(struct machine *m, enum machine_blob_kind kind, uint64_t gpa,
		      uint64_t size);
const struct machine_blob *machine_blobs(const struct machine *m, unsigned *n);

/* Set every vCPU's initial registers (writes the boot GDT and, for 64-bit
 * entry, identity page tables into guest RAM). */
int machine_set_entry(struct machine *m, const struct machine_entry *entry, struct errbuf *eb);

/* Run hooks->before_run, then start one thread per vCPU. */
int machine_start(struct machine *m, struct errbuf *eb);

/* End the VM with `code` (first call wins): kicks every vCPU out of KVM_RUN
 * and stops the event loop. Thread-safe; devices call it (debug-exit, i8042). */
void machine_request_exit(struct machine *m, int code);
/* The code given to the first machine_request_exit(), or -1. */
int machine_exit_code(const struct machine *m);

/* Why the VM ended with MACHINE_EXIT_VCPU_ERROR ("vCPU 0: unhandled exit reason 17"), or "". */
const char *machine_exit_detail(const struct machine *m);

/* Join the vCPU threads (after machine_request_exit). Idempotent. */
void machine_stop(struct machine *m);

/* Total KVM_RUN exits handled so far, over all vCPUs (for tests and stats). */
uint64_t machine_exit_count(const struct machine *m);

/* Direct KVM access for the SNP work: the VM fd and the ops behind it. */
int machine_vm_fd(const struct machine *m);
/* The /dev/kvm fd (system ioctls such as KVM_GET_DEVICE_ATTR). */
int machine_sys_fd(const struct machine *m);
int machine_vcpu_fd(const struct machine *m, unsigned index);
int machine_kvm_ioctl(struct machine *m, int fd, unsigned long request, void *arg);

#endif
