/* seccomp_tables: the allowlists of the VMM's thread roles (vmm/seccomp_filter.h).
 *
 * Derived by tracing `parma boot` per thread (strace -f) over the KVM test suite (the test
 * payload's exits, SMP, serial, hostile guest, virtio-blk and hybrid vsock, stage0), the
 * control API unit and e2e tests, then trimmed to what the code paths named in each comment
 * need; SEV-SNP entries come from reading the SNP exit handlers (no SNP host here). Every
 * addition must say which code path makes the call. docs/security.md lists the method. */
#include <linux/fs.h>
#include <linux/io_uring.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "vmm/seccomp_filter.h"
#include "vmm/snp_kvm.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define CALL(name) { name, NULL, 0, 0 }
#define IOCTLS(list) { "ioctl", list, N(list), 1 }
/* Every socket the VMM makes is AF_UNIX: the hybrid vsock (the host side of virtio-vsock is a
 * Unix socket), the serial console and the control API. No role may open an IP, netlink,
 * packet or AF_VSOCK socket, so a compromised device model cannot reach the network. */
static const unsigned long socket_families[] = { AF_UNIX };
#define SOCKET { "socket", socket_families, N(socket_families), 0 }
/* io_uring_register: the block backend's setup (its disk as the one fixed file, its completion
 * eventfd, the opcode restrictions, enabling the ring) and the event loop's (restrictions,
 * enabling). Buffers, personalities, probes and the like are never registered. */
static const unsigned long uring_register_ops[] = {
	IORING_REGISTER_FILES, IORING_REGISTER_EVENTFD, IORING_REGISTER_RESTRICTIONS,
	IORING_REGISTER_ENABLE_RINGS,
};
#define IO_URING_REGISTER { "io_uring_register", uring_register_ops, N(uring_register_ops), 1 }

/* Common to every thread: memory (malloc), locks, signals, time, thread and process exit. */
#define COMMON_RULES                                                                     \
	CALL("futex"), CALL("mmap"), CALL("munmap"), CALL("madvise"), CALL("mremap"),     \
	CALL("brk"), CALL("rt_sigprocmask"), CALL("rt_sigreturn"), CALL("restart_syscall"), \
	CALL("clock_gettime"), CALL("clock_nanosleep"), CALL("nanosleep"), CALL("gettid"), \
	CALL("getpid"), CALL("tgkill"), CALL("sched_yield"), CALL("exit"), CALL("exit_group"), \
	CALL("write"), CALL("writev"), CALL("read"), CALL("close"), CALL("newfstatat"),   \
	CALL("fstat"), CALL("lseek")

/* vCPU threads: KVM_RUN, and exit handlers that touch the interrupt controller, configure
 * doorbells when the guest activates a virtqueue (KVM_IOEVENTFD / KVM_IRQFD), convert pages
 * for SEV-SNP (memory attributes; guest_memfd holes), and the hybrid vsock's tx path, which
 * runs on the vCPU that rang the doorbell and may connect to a host socket. */
static const unsigned long vcpu_ioctls[] = {
	KVM_RUN, KVM_IRQ_LINE, KVM_IRQ_LINE_STATUS, KVM_IOEVENTFD, KVM_IRQFD,
	KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS, KVM_SET_SREGS,
	SNP_KVM_SET_MEMORY_ATTRIBUTES,
};
static const struct seccomp_rule vcpu_rules[] = {
	COMMON_RULES,
	IOCTLS(vcpu_ioctls),
	CALL("eventfd2"), CALL("fcntl"), CALL("fallocate"), CALL("io_uring_enter"),
	CALL("pwrite64"), CALL("pread64"), CALL("preadv"), CALL("pwritev"), CALL("fdatasync"),
	SOCKET, CALL("connect"), CALL("sendto"), CALL("sendmsg"), CALL("recvfrom"),
	CALL("recvmsg"), CALL("shutdown"), CALL("getsockopt"),
};

/* The event-loop thread: io_uring (polls, timers, block I/O), eventfds, the serial console and
 * hybrid vsock sockets (host connects: accept, CONNECT lines, data), signalfd, interrupt
 * injection (KVM_IRQ_LINE for edge devices), and the teardown after the loop returns (joining
 * the vCPUs, unmapping RAM, removing socket files). */
static const unsigned long device_ioctls[] = {
	KVM_IRQ_LINE, KVM_IRQ_LINE_STATUS, KVM_IOEVENTFD, KVM_IRQFD, FIONBIO, FIONREAD,
};
static const struct seccomp_rule device_rules[] = {
	COMMON_RULES,
	IOCTLS(device_ioctls),
	CALL("io_uring_enter"), IO_URING_REGISTER, CALL("eventfd2"), CALL("fcntl"),
	CALL("accept4"), SOCKET, CALL("connect"), CALL("sendto"), CALL("sendmsg"),
	CALL("recvfrom"), CALL("recvmsg"), CALL("shutdown"), CALL("getsockopt"),
	CALL("setsockopt"), CALL("readv"), CALL("pread64"), CALL("pwrite64"), CALL("preadv"),
	CALL("pwritev"), CALL("fdatasync"), CALL("fsync"), CALL("fallocate"), CALL("unlink"),
	CALL("poll"), CALL("ppoll"), CALL("dup"),
};

/* Added when the event-loop thread serves the control API: libmicrohttpd's connections
 * (epoll, accept, send/recv), and InstanceStart: opening the kernel, initrd, firmware and
 * drives, creating the VM (every KVM ioctl of machine.c and the SNP launch), guest RAM
 * (memfd), the vsock and serial sockets, and the vCPU threads. */
static const unsigned long api_ioctls[] = {
	KVM_GET_API_VERSION, KVM_CHECK_EXTENSION, KVM_CREATE_VM, KVM_GET_VCPU_MMAP_SIZE,
	KVM_GET_SUPPORTED_CPUID, KVM_SET_TSS_ADDR, KVM_SET_IDENTITY_MAP_ADDR, KVM_CREATE_IRQCHIP,
	KVM_CREATE_PIT2, KVM_SET_USER_MEMORY_REGION, KVM_CREATE_VCPU, KVM_SET_CPUID2,
	KVM_GET_LAPIC, KVM_SET_LAPIC, KVM_SET_MSRS, KVM_SET_MP_STATE, KVM_GET_SREGS,
	KVM_SET_SREGS, KVM_GET_REGS, KVM_SET_REGS, KVM_GET_CPUID2, KVM_IRQ_LINE,
	KVM_IOEVENTFD, KVM_IRQFD, KVM_RUN, SNP_KVM_ENABLE_CAP, SNP_KVM_MEMORY_ENCRYPT_OP,
	SNP_KVM_SET_USER_MEMORY_REGION2, SNP_KVM_SET_MEMORY_ATTRIBUTES, SNP_KVM_CREATE_GUEST_MEMFD,
	BLKGETSIZE64, BLKSSZGET, FIONBIO, FIONREAD,
};
static const struct seccomp_rule api_rules[] = {
	COMMON_RULES,
	IOCTLS(api_ioctls),
	CALL("epoll_create1"), CALL("epoll_ctl"), CALL("epoll_wait"), CALL("epoll_pwait"),
	CALL("accept4"), CALL("sendto"), CALL("recvfrom"), CALL("sendmsg"), CALL("recvmsg"),
	CALL("shutdown"), CALL("setsockopt"), CALL("getsockopt"), CALL("fcntl"),
	CALL("openat"), CALL("pread64"), CALL("statx"), CALL("memfd_create"), CALL("ftruncate"),
	CALL("mprotect"), SOCKET, CALL("bind"), CALL("listen"), CALL("unlink"),
	CALL("eventfd2"), CALL("rt_sigaction"), CALL("clone3"), CALL("clone"),
	CALL("set_robust_list"), CALL("rseq"), CALL("prctl"), CALL("sched_getaffinity"),
	CALL("io_uring_setup"), IO_URING_REGISTER, CALL("getrandom"),
};

/* Sanitizer builds only (the test build: ASan, LSan, UBSan): reports read /proc/self/maps,
 * and LeakSanitizer's check at exit stops the world by cloning a tracer process that lists
 * /proc/PID/task (open, getdents) and ptraces every thread. None of this is in a release
 * build's filter. */
static const struct seccomp_rule sanitizer_rules[] = {
	CALL("mprotect"), CALL("openat"), CALL("open"), CALL("readlink"), CALL("getdents"),
	CALL("getdents64"), CALL("prctl"),
	CALL("clone"), CALL("clone3"), CALL("ptrace"), CALL("wait4"), CALL("waitid"),
	CALL("sigaltstack"), CALL("rt_sigaction"), CALL("prlimit64"), CALL("getrlimit"),
	CALL("sched_getaffinity"), CALL("pipe2"), CALL("getppid"), CALL("kill"),
	CALL("process_vm_readv"), CALL("setrlimit"),
};

static const struct seccomp_role_table tables[SECCOMP_ROLE_COUNT] = {
	[SECCOMP_ROLE_VCPU] = { "vcpu", vcpu_rules, N(vcpu_rules) },
	[SECCOMP_ROLE_DEVICE] = { "device", device_rules, N(device_rules) },
	[SECCOMP_ROLE_API] = { "api", api_rules, N(api_rules) },
};
static const struct seccomp_role_table sanitizer = { "sanitizer", sanitizer_rules,
						     N(sanitizer_rules) };

const struct seccomp_role_table *seccomp_role_table(enum seccomp_role role)
{
	return role < SECCOMP_ROLE_COUNT ? &tables[role] : NULL;
}

const struct seccomp_role_table *seccomp_sanitizer_table(void)
{
	return &sanitizer;
}
