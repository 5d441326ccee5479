/* qemu_launch: boot the Parma guest image (Debian kernel + our initrd) under QEMU TCG microvm.
 *
 * The development backend of `parma run --backend qemu` and the rig of tests/e2e/guest: one
 * QEMU process in its own process group, N virtio-blk disks (read-only or writable), one
 * virtio-serial port named "parma.agent" on a Unix socket (the agent's transport where there
 * is no vsock), the serial console to a file or an fd, memory and vCPUs. Host-side, untrusted
 * by design: nothing here is part of the guest's trusted base.
 *
 *   qemu-system-x86_64 -M microvm,accel=tcg -cpu max -m MEM -smp N -nodefaults -no-reboot
 *     -display none -kernel K -initrd I -append "console=ttyS0 panic=-1 ..."
 *     -serial file:LOG | stdio
 *     -drive id=diskI,file=DISK,format=raw,if=none[,readonly=on] -device virtio-blk-device,drive=diskI
 *     -device virtio-serial-device -chardev socket,id=agent,path=SOCK,server=on,wait=off
 *     -device virtserialport,chardev=agent,name=parma.agent
 *
 * Disk I appears in the guest as /dev/vd<'a'+I> (virtio-mmio devices enumerate in command-line
 * order). QEMU dies with its launcher (PR_SET_PDEATHSIG) and qemu_vm_stop() kills the whole
 * process group. */
#ifndef PARMA_VMM_GROUP_QEMU_LAUNCH_H
#define PARMA_VMM_GROUP_QEMU_LAUNCH_H

#include <stddef.h>
#include <sys/types.h>

#include "common/errbuf.h"

#define QEMU_LAUNCH_MAX_DISKS 16
#define QEMU_AGENT_PORT_NAME "parma.agent"

struct qemu_disk {
	const char *path;   /* raw image file */
	int read_only;      /* readonly=on: the guest cannot write it (layers) */
};

struct qemu_launch_config {
	const char *qemu;          /* NULL: "qemu-system-x86_64" from PATH */
	const char *kernel;        /* NULL: qemu_launch_default_kernel() */
	const char *initrd;        /* required */
	const char *cmdline_extra; /* appended to "console=ttyS0 panic=-1 quiet"; may be NULL */
	unsigned memory_mib;       /* 0: 512 */
	unsigned vcpus;            /* 0: 1 */
	const struct qemu_disk *disks;
	size_t n_disks;
	const char *agent_socket;  /* Unix socket path QEMU listens on for the agent port */
	const char *console_log;   /* serial console appended to this file, or ... */
	int console_fd;            /* ... written to this fd (console_log NULL); -1: discarded */
};

struct qemu_vm;

/* The guest kernel: $PARMA_GUEST_KERNEL if set, else the /boot/vmlinuz-VERSION with the highest
 * VERSION (version order) that also has /lib/modules/VERSION/modules.dep — the same rule
 * guest/initrd/find-kernel.sh applies when the initrd is built. -ENOENT if there is none. */
int qemu_launch_default_kernel(char *out, size_t size, struct errbuf *eb);

/* Whether QEMU can run here: 0, or -ENOENT with a message saying what is missing (QEMU binary,
 * kernel). Tests exit 77 with that message. */
int qemu_launch_available(const struct qemu_launch_config *cfg, struct errbuf *eb);

/* Start QEMU. Returns 0 and *out once the process is running and the agent socket exists. */
int qemu_vm_start(const struct qemu_launch_config *cfg, struct qemu_vm **out, struct errbuf *eb);

/* Connect to the agent port's socket: a connected stream fd (caller closes) or -errno. QEMU
 * holds bytes the host writes until the guest opens the port. */
int qemu_vm_agent_connect(struct qemu_vm *vm, struct errbuf *eb);

pid_t qemu_vm_pid(const struct qemu_vm *vm);

/* Wait up to timeout_ms (-1: forever) for QEMU to exit by itself (guest poweroff, panic with
 * panic=-1 and -no-reboot). Returns 0 with *status (waitpid status), or -ETIMEDOUT. */
int qemu_vm_wait(struct qemu_vm *vm, int timeout_ms, int *status);

/* Stop QEMU: SIGTERM to its process group, SIGKILL after grace_ms; reaps it. Idempotent. */
void qemu_vm_stop(struct qemu_vm *vm, int grace_ms);

/* Stop (if still running) and free. NULL is fine. */
void qemu_vm_free(struct qemu_vm *vm);

#endif
