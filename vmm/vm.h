/* vm: a whole guest — a machine (vmm/machine.h) plus the small devices, the
 * loaded kernel or firmware, ACPI and the boot descriptor. `parma boot` and the
 * control API (vmm/api.h) both build one from a `struct vm_config`. */
#ifndef PARMA_VMM_VM_H
#define PARMA_VMM_VM_H

#include <stdbool.h>
#include <stdint.h>

#include "common/errbuf.h"
#include "vmm/machine.h"

struct event_loop;
struct vm;

#define VM_DEFAULT_MEM_MIB 256
#define VM_MAX_CMDLINE 4095

#define VM_MAX_DRIVES 8

struct vm_drive {
	const char *path;          /* raw image file or block device */
	bool read_only;
	unsigned queues;           /* request queues (VIRTIO_BLK_F_MQ); 0 = 1 */
};

struct vm_config {
	uint64_t mem_mib;          /* guest RAM in MiB (multiple of 2) */
	unsigned vcpus;
	bool hugepages;
	bool ap_direct;            /* APs enter at the entry point (test payloads) */
	const char *kernel;        /* vmlinux ELF or bzImage path */
	const char *initrd;        /* NULL: none */
	const char *cmdline;       /* NULL: "" */
	const char *firmware;      /* firmware ELF: kernel/initrd/cmdline are staged for it */
	const char *serial;        /* "stdout" (default), "none", "file:PATH", "unix:PATH" */
	const char *debug_log;     /* debugcon output file, NULL: stderr, "none": dropped */
	const struct vm_drive *drives; /* virtio-blk disks, in order: /dev/vda, vdb, ... */
	unsigned n_drives;
	const char *vsock_uds;     /* hybrid vsock: host socket path; NULL: no vsock device */
	uint64_t vsock_cid;        /* guest CID (>= 3) */
	uint64_t t0_ns;            /* CLOCK_MONOTONIC origin of the boot timer */
	const struct kvm_ops *kvm; /* NULL: host KVM */
	void *kvm_ctx;
	const struct machine_hooks *hooks;
	/* First thing on each vCPU thread (machine_config.vcpu_thread_init). */
	int (*vcpu_thread_init)(void *ctx, unsigned index, struct errbuf *eb);
	void *thread_ctx;
};

/* Build the guest (nothing runs yet). Errors name the file or option at fault. */
int vm_create(const struct vm_config *cfg, struct event_loop *loop, struct vm **out,
	      struct errbuf *eb);
/* Start the vCPUs; the event loop then returns the machine exit code. */
int vm_start(struct vm *vm, struct errbuf *eb);
/* Stop (if running) and free; accepts NULL. */
void vm_destroy(struct vm *vm);

struct machine *vm_machine(struct vm *vm);
/* Boot-timer milestones so far: fills up to max (id, ns since t0); returns the count. */
unsigned vm_boot_marks(struct vm *vm, uint32_t *ids, uint64_t *ns, unsigned max);

#endif
