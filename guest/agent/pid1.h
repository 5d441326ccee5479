/* pid1: what parma-agent does as the guest's init before serving: mount the kernel file
 * systems, enable cgroup controllers, load the initrd's modules. And the transport: the
 * virtio-serial port named parma.agent, or a vsock listener. */
#ifndef PARMA_GUEST_AGENT_PID1_H
#define PARMA_GUEST_AGENT_PID1_H

#include <stddef.h>

#include "common/errbuf.h"

/* The initrd's module list (docs/guest-image.md): one absolute .ko path per line. */
#define PID1_MODULES_LIST "/etc/parma/modules.load"

/* The initramfs root cannot be pivot_root'ed away from, and crun pivots every container's
 * root. So, as PID 1 on the initial rootfs, move the initrd's files into a fresh tmpfs, make it
 * "/" (MS_MOVE + chroot, as switch_root does) and free the old copies. Returns 0, or a
 * negative errno (the agent then keeps running on the initramfs; containers will fail). */
int pid1_switch_root(void (*warn)(const char *msg));

/* Mount proc, sys, devtmpfs, devpts, shm, cgroup2, configfs, /run, /tmp. Problems are
 * reported through `warn` (may be NULL) and do not stop the boot. */
void pid1_mount_all(void (*warn)(const char *msg));
/* Load every module in list in order (finit_module); EEXIST/ENODEV are not failures.
 * Returns the number of modules that failed. */
int pid1_load_modules(const char *list, void (*warn)(const char *msg));
/* +cpu +memory +pids +io in the root cgroup's subtree_control (for container limits). */
void pid1_enable_cgroup_controllers(void (*warn)(const char *msg));
/* Bring up the loopback interface that the group's containers share. */
void pid1_loopback_up(void (*warn)(const char *msg));

/* The transport. kind receives "virtio-serial" or "vsock". Returns the byte-stream fd
 * (virtio-serial) or -EAGAIN when nothing is available yet. For vsock, *listen_fd receives
 * a listening socket (the caller accepts); the return is then 0. */
int pid1_transport_open(int *listen_fd, const char **kind, char *path, size_t path_size);

#endif
