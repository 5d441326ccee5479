/* kvm_ops_host: kvm_ops on the real /dev/kvm. */
#include "vmm/kvm_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/kvm.h>

static int host_open_system(void *ctx)
{
	(void)ctx;
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int host_ioctl(void *ctx, int fd, unsigned long request, void *arg)
{
	(void)ctx;
	int rc;
	do
		rc = ioctl(fd, request, arg);
	while (rc < 0 && errno == EINTR && request != KVM_RUN /* a vCPU kick must reach the caller */);
	return rc < 0 ? -errno : rc;
}

static void *host_map_run(void *ctx, int vcpu_fd, size_t size)
{
	(void)ctx;
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void host_unmap_run(void *ctx, void *run, size_t size)
{
	(void)ctx;
	if (run)
		munmap(run, size);
}

static void host_close(void *ctx, int fd)
{
	(void)ctx;
	if (fd >= 0)
		close(fd);
}

const struct kvm_ops kvm_ops_host = {
	.name = "kvm",
	.open_system = host_open_system,
	.ioctl = host_ioctl,
	.map_run = host_map_run,
	.unmap_run = host_unmap_run,
	.close = host_close,
};
