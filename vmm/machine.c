/* machine: KVM VM, guest RAM, irqchip/PIT, vCPU threads and their exits. */
#include "vmm/machine.h"

#include <errno.h>
#include <linux/kvm.h>
#include <linux/memfd.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/cpuid.h"
#include "devices/event_loop.h"
#include "common/guest_abi/layout.h"

#define KVM_API_VERSION_EXPECTED 12
#define KVM_TSS_ADDR 0xfffbd000ul
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ull
#define CPUID_MAX_ENTRIES 256

/* MSR numbers (Intel SDM vol. 4). */
#define MSR_IA32_TSC 0x10
#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102

#define MISC_ENABLE_FAST_STRING 1ull
#define MTRR_ENABLE (1ull << 11)
#define MTRR_TYPE_WB 6ull

/* LAPIC register offsets and delivery modes. */
#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

struct vcpu {
	struct machine *m;
	unsigned index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
};

struct machine {
	const struct kvm_ops *ops;
	void *kctx;
	const struct machine_hooks *hooks;
	struct event_loop *loop;
	int (*vcpu_thread_init)(void *ctx, unsigned index, struct errbuf *eb);
	void *thread_ctx;
	int sys_fd, vm_fd, mem_fd;
	uint8_t *ram;           /* one mapping of the whole memfd */
	uint64_t mem_size;
	size_t run_size;
	unsigned n_vcpus;
	enum machine_ap_start ap_start;
	struct vcpu vcpu[MACHINE_MAX_VCPUS];
	struct guest_mem mem;
	struct bus mmio, pio;
	struct device_host host;
	struct kvm_cpuid2 *cpuid; /* KVM's supported CPUID, unfiltered */
	uint64_t next_mmio;
	uint32_t next_gsi;
	struct machine_device devices[MACHINE_MAX_DEVICES];
	unsigned n_devices;
	struct machine_blob blobs[MACHINE_MAX_LOADED];
	unsigned n_blobs;
	pthread_mutex_t lock;   /* allocation tables */
	atomic_int exit_code;   /* -1 until the first machine_request_exit */
	char exit_detail[160];  /* why a vCPU failed (set once, before the exit request) */
	atomic_bool detail_set;
	atomic_bool exiting;
	atomic_uint_fast64_t exits;
	bool started, stopped;
};

static int kick_signal(void)
{
	return SIGRTMIN + 1;
}

static int kvm_sys(struct machine *m, unsigned long req, void *arg)
{
	return m->ops->ioctl(m->kctx, m->sys_fd, req, arg);
}

static int kvm_vm(struct machine *m, unsigned long req, void *arg)
{
	return m->ops->ioctl(m->kctx, m->vm_fd, req, arg);
}

static int kvm_vcpu(struct vcpu *v, unsigned long req, void *arg)
{
	return v->m->ops->ioctl(v->m->kctx, v->fd, req, arg);
}

int machine_kvm_ioctl(struct machine *m, int fd, unsigned long request, void *arg)
{
	return m->ops->ioctl(m->kctx, fd, request, arg);
}

int machine_exit_for_debug_byte(uint8_t v)
{
	if (v == 0)
		return MACHINE_EXIT_POWEROFF;
	int code = MACHINE_EXIT_DEBUG_BASE + v;
	return code > 255 ? 255 : code;
}

const char *machine_exit_name(int code)
{
	switch (code) {
	case MACHINE_EXIT_POWEROFF: return "guest powered off";
	case MACHINE_EXIT_RESET: return "guest reset";
	case MACHINE_EXIT_PANIC: return "guest panicked";
	case MACHINE_EXIT_STOPPED: return "stopped by the host";
	case MACHINE_EXIT_VCPU_ERROR: return "vCPU error";
	default: return code >= MACHINE_EXIT_DEBUG_BASE ? "debug-exit port" : "unknown";
	}
}

/* ---- device host: how device models reach KVM without calling it ---- */

static int host_irqfd_create(void *vm, uint32_t gsi)
{
	struct machine *m = vm;
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct kvm_irqfd irqfd = { .fd = (uint32_t)fd, .gsi = gsi };
	int rc = kvm_vm(m, KVM_IRQFD, &irqfd);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

static int host_irq_line(void *vm, uint32_t gsi, int level)
{
	struct kvm_irq_level irq = { .irq = gsi, .level = (uint32_t)!!level };
	return kvm_vm(vm, KVM_IRQ_LINE, &irq);
}

static int ioeventfd(struct machine *m, uint64_t gpa, uint32_t len, uint64_t value, int fd,
		     uint32_t flags)
{
	struct kvm_ioeventfd io = { .datamatch = value, .addr = gpa, .len = len, .fd = fd,
				    .flags = KVM_IOEVENTFD_FLAG_DATAMATCH | flags };
	return kvm_vm(m, KVM_IOEVENTFD, &io);
}

static int host_ioeventfd_add(void *vm, uint64_t gpa, uint32_t len, uint64_t value, int fd)
{
	return ioeventfd(vm, gpa, len, value, fd, 0);
}

static int host_ioeventfd_del(void *vm, uint64_t gpa, uint32_t len, uint64_t value, int fd)
{
	return ioeventfd(vm, gpa, len, value, fd, KVM_IOEVENTFD_FLAG_DEASSIGN);
}

/* ---- RAM ---- */

static int ram_create(struct machine *m, bool huge, struct errbuf *eb)
{
	unsigned flags = MFD_CLOEXEC | (huge ? MFD_HUGETLB | MFD_HUGE_2MB : 0);
	m->mem_fd = memfd_create("parma-guest-ram", flags);
	if (m->mem_fd < 0)
		return errbuf_set(eb, errno, "guest RAM: memfd_create%s: %s",
				  huge ? " (hugetlb 2 MiB)" : "", strerror(errno));
	if (ftruncate(m->mem_fd, (off_t)m->mem_size) < 0)
		return errbuf_set(eb, errno, "guest RAM: cannot size to %llu bytes%s: %s",
				  (unsigned long long)m->mem_size,
				  huge ? " (enough hugepages reserved?)" : "", strerror(errno));
	/* Hugetlb pages are reserved at mmap time (no MAP_NORESERVE), so a host
	 * without enough of them fails here instead of with SIGBUS on first touch. */
	int mflags = MAP_SHARED | (huge ? 0 : MAP_NORESERVE);
	void *p = mmap(NULL, m->mem_size, PROT_READ | PROT_WRITE, mflags, m->mem_fd, 0);
	if (p == MAP_FAILED)
		return errbuf_set(eb, errno, "guest RAM: mmap %llu bytes%s: %s",
				  (unsigned long long)m->mem_size,
				  huge ? " of 2 MiB hugepages (reserve them in /proc/sys/vm/nr_hugepages)"
				       : "",
				  strerror(errno));
	m->ram = p;
	/* Guest RAM is not worth a core dump, and must not be inherited. */
	madvise(p, m->mem_size, MADV_DONTDUMP);
	madvise(p, m->mem_size, MADV_DONTFORK);

	uint64_t low = m->mem_size < LAYOUT_MMIO_GAP ? m->mem_size : LAYOUT_MMIO_GAP;
	struct { uint64_t gpa, size, off; } slot[2] = {
		{ 0, low, 0 },
		{ LAYOUT_MMIO_GAP_END, m->mem_size - low, low },
	};
	for (uint32_t i = 0; i < 2; i++) {
		if (!slot[i].size)
			continue;
		uint8_t *host = m->ram + slot[i].off;
		int rc = guest_mem_add(&m->mem, slot[i].gpa, slot[i].size, host);
		if (rc < 0)
			return errbuf_set(eb, -rc, "guest RAM: bad region");
		if (m->hooks && m->hooks->set_memory) {
			rc = m->hooks->set_memory(m->hooks->ctx, m, i, slot[i].gpa, slot[i].size,
						  host, eb);
			if (rc < 0)
				return rc;
			continue;
		}
		struct kvm_userspace_memory_region r = {
			.slot = i, .guest_phys_addr = slot[i].gpa, .memory_size = slot[i].size,
			.userspace_addr = (uint64_t)(uintptr_t)host,
		};
		rc = kvm_vm(m, KVM_SET_USER_MEMORY_REGION, &r);
		if (rc < 0)
			return errbuf_set(eb, -rc, "KVM_SET_USER_MEMORY_REGION slot %u: %s", i,
					  strerror(-rc));
	}
	return 0;
}

/* ---- vCPUs ---- */

static int vcpu_set_msrs(struct vcpu *v, struct errbuf *eb)
{
	static const struct { uint32_t index; uint64_t value; } msrs[] = {
		{ MSR_IA32_SYSENTER_CS, 0 }, { MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 }, { MSR_STAR, 0 }, { MSR_CSTAR, 0 },
		{ MSR_KERNEL_GS_BASE, 0 }, { MSR_SYSCALL_MASK, 0 }, { MSR_LSTAR, 0 },
		{ MSR_IA32_TSC, 0 }, /* all vCPUs start their TSC together */
		{ MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING },
		{ MSR_MTRR_DEF_TYPE, MTRR_ENABLE | MTRR_TYPE_WB },
	};
	enum { N = sizeof(msrs) / sizeof(msrs[0]) };
	struct kvm_msrs *buf = calloc(1, sizeof(*buf) + N * sizeof(struct kvm_msr_entry));
	if (!buf)
		return errbuf_set(eb, ENOMEM, "out of memory");
	buf->nmsrs = N;
	for (unsigned i = 0; i < N; i++) {
		buf->entries[i].index = msrs[i].index;
		buf->entries[i].data = msrs[i].value;
	}
	int rc = kvm_vcpu(v, KVM_SET_MSRS, buf);
	free(buf);
	if (rc < 0)
		return errbuf_set(eb, -rc, "vCPU %u: KVM_SET_MSRS: %s", v->index, strerror(-rc));
	if (rc < N)
		return errbuf_set(eb, EINVAL, "vCPU %u: KVM_SET_MSRS: KVM refused MSR 0x%x",
				  v->index, msrs[rc].index);
	return 0;
}

static int vcpu_set_lapic(struct vcpu *v, struct errbuf *eb)
{
	struct kvm_lapic_state lapic;
	int rc = kvm_vcpu(v, KVM_GET_LAPIC, &lapic);
	if (rc < 0)
		return errbuf_set(eb, -rc, "vCPU %u: KVM_GET_LAPIC: %s", v->index, strerror(-rc));
	/* LINT0 = ExtINT (the PIC), LINT1 = NMI, as firmware leaves them on a PC. */
	uint32_t lint0, lint1;
	memcpy(&lint0, &lapic.regs[APIC_LVT_LINT0], 4);
	memcpy(&lint1, &lapic.regs[APIC_LVT_LINT1], 4);
	lint0 = (lint0 & ~0x700u) | (APIC_MODE_EXTINT << 8);
	lint1 = (lint1 & ~0x700u) | (APIC_MODE_NMI << 8);
	memcpy(&lapic.regs[APIC_LVT_LINT0], &lint0, 4);
	memcpy(&lapic.regs[APIC_LVT_LINT1], &lint1, 4);
	rc = kvm_vcpu(v, KVM_SET_LAPIC, &lapic);
	if (rc < 0)
		return errbuf_set(eb, -rc, "vCPU %u: KVM_SET_LAPIC: %s", v->index, strerror(-rc));
	return 0;
}

static int vcpu_set_cpuid(struct vcpu *v, struct errbuf *eb)
{
	struct machine *m = v->m;
	size_t sz = sizeof(struct kvm_cpuid2) + m->cpuid->nent * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *c = malloc(sz);
	if (!c)
		return errbuf_set(eb, ENOMEM, "vCPU %u: out of memory", v->index);
	memcpy(c, m->cpuid, sz);
	cpuid_filter(c->entries, c->nent, v->index, m->n_vcpus);
	int rc = kvm_vcpu(v, KVM_SET_CPUID2, c);
	free(c);
	if (rc < 0)
		return errbuf_set(eb, -rc, "vCPU %u: KVM_SET_CPUID2: %s", v->index, strerror(-rc));
	return 0;
}

static int vcpu_create(struct machine *m, unsigned index, struct errbuf *eb)
{
	struct vcpu *v = &m->vcpu[index];
	v->m = m;
	v->index = index;
	v->fd = kvm_vm(m, KVM_CREATE_VCPU, (void *)(uintptr_t)index);
	if (v->fd < 0) {
		int rc = v->fd;
		v->fd = -1;
		return errbuf_set(eb, -rc, "KVM_CREATE_VCPU %u: %s", index, strerror(-rc));
	}
	v->run = m->ops->map_run(m->kctx, v->fd, m->run_size);
	if (!v->run)
		return errbuf_set(eb, ENOMEM, "vCPU %u: cannot map kvm_run", index);
	int rc = vcpu_set_cpuid(v, eb);
	if (!rc)
		rc = vcpu_set_msrs(v, eb);
	if (!rc)
		rc = vcpu_set_lapic(v, eb);
	return rc;
}

static int supported_cpuid(struct machine *m, struct errbuf *eb)
{
	size_t sz = sizeof(struct kvm_cpuid2) + CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2);
	m->cpuid = calloc(1, sz);
	if (!m->cpuid)
		return errbuf_set(eb, ENOMEM, "out of memory");
	m->cpuid->nent = CPUID_MAX_ENTRIES;
	int rc = kvm_sys(m, KVM_GET_SUPPORTED_CPUID, m->cpuid);
	if (rc < 0)
		return errbuf_set(eb, -rc, "KVM_GET_SUPPORTED_CPUID: %s", strerror(-rc));
	return 0;
}

static int check_caps(struct machine *m, struct errbuf *eb)
{
	static const struct { long cap; const char *name; } need[] = {
		{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
		{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
		{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
		{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
		{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
		{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
		{ KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE" },
	};
	int rc = kvm_sys(m, KVM_GET_API_VERSION, NULL);
	if (rc != KVM_API_VERSION_EXPECTED)
		return errbuf_set(eb, ENOTSUP, "KVM API version %d, expected %d", rc,
				  KVM_API_VERSION_EXPECTED);
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (kvm_sys(m, KVM_CHECK_EXTENSION, (void *)need[i].cap) <= 0)
			return errbuf_set(eb, ENOTSUP, "KVM lacks %s", need[i].name);
	int max = kvm_sys(m, KVM_CHECK_EXTENSION, (void *)(long)KVM_CAP_MAX_VCPUS);
	if (max > 0 && m->n_vcpus > (unsigned)max)
		return errbuf_set(eb, EINVAL, "%u vCPUs requested, KVM allows %d", m->n_vcpus, max);
	return 0;
}

static void kick_handler(int sig)
{
	(void)sig; /* only there to make KVM_RUN return -EINTR */
}

int machine_create(const struct machine_config *cfg, struct machine **out, struct errbuf *eb)
{
	*out = NULL;
	if (!cfg->n_vcpus || cfg->n_vcpus > MACHINE_MAX_VCPUS)
		return errbuf_set(eb, EINVAL, "vCPU count %u: must be 1..%u", cfg->n_vcpus,
				  MACHINE_MAX_VCPUS);
	if (cfg->mem_size < MACHINE_MIN_MEM || cfg->mem_size > MACHINE_MAX_MEM ||
	    cfg->mem_size % (2u << 20))
		return errbuf_set(eb, EINVAL,
				  "memory size %llu: must be a multiple of 2 MiB between 4 MiB and 1 TiB",
				  (unsigned long long)cfg->mem_size);
	if (!cfg->loop)
		return errbuf_set(eb, EINVAL, "machine needs an event loop");
	struct machine *m = calloc(1, sizeof(*m));
	if (!m)
		return errbuf_set(eb, ENOMEM, "out of memory");
	m->ops = cfg->kvm ? cfg->kvm : &kvm_ops_host;
	m->kctx = cfg->kvm_ctx;
	m->hooks = cfg->hooks;
	m->loop = cfg->loop;
	m->vcpu_thread_init = cfg->vcpu_thread_init;
	m->thread_ctx = cfg->thread_ctx;
	m->sys_fd = m->vm_fd = m->mem_fd = -1;
	m->mem_size = cfg->mem_size;
	m->n_vcpus = cfg->n_vcpus;
	m->ap_start = cfg->ap_start;
	m->next_mmio = LAYOUT_DEVICE_MMIO;
	m->next_gsi = LAYOUT_FIRST_DEVICE_GSI;
	atomic_init(&m->exit_code, -1);
	pthread_mutex_init(&m->lock, NULL);
	for (unsigned i = 0; i < MACHINE_MAX_VCPUS; i++)
		m->vcpu[i].fd = -1;
	m->host = (struct device_host){
		.vm = m, .mem = &m->mem, .loop = cfg->loop, .mmio_bus = &m->mmio,
		.pio_bus = &m->pio, .irqfd_create = host_irqfd_create,
		.irq_line = host_irq_line, .ioeventfd_add = host_ioeventfd_add,
		.ioeventfd_del = host_ioeventfd_del,
	};

	struct sigaction sa = { .sa_handler = kick_handler };
	sigemptyset(&sa.sa_mask);
	sigaction(kick_signal(), &sa, NULL);

	int rc = m->ops->open_system(m->kctx);
	if (rc < 0) {
		errbuf_set(eb, -rc, "/dev/kvm: %s", strerror(-rc));
		goto fail;
	}
	m->sys_fd = rc;
	if ((rc = check_caps(m, eb)) < 0)
		goto fail;
	unsigned long type = m->hooks ? m->hooks->vm_type : 0;
	rc = kvm_sys(m, KVM_CREATE_VM, (void *)type);
	if (rc < 0) {
		errbuf_set(eb, -rc, "KVM_CREATE_VM (type %lu): %s", type, strerror(-rc));
		goto fail;
	}
	m->vm_fd = rc;
	if (m->hooks && m->hooks->vm_created && (rc = m->hooks->vm_created(m->hooks->ctx, m, eb)) < 0)
		goto fail;
	/* Intel VMX needs these two pages above RAM for real-mode emulation. */
	if ((rc = kvm_vm(m, KVM_SET_TSS_ADDR, (void *)KVM_TSS_ADDR)) < 0) {
		errbuf_set(eb, -rc, "KVM_SET_TSS_ADDR: %s", strerror(-rc));
		goto fail;
	}
	uint64_t idmap = KVM_IDENTITY_MAP_ADDR;
	if ((rc = kvm_vm(m, KVM_SET_IDENTITY_MAP_ADDR, &idmap)) < 0) {
		errbuf_set(eb, -rc, "KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(-rc));
		goto fail;
	}
	if ((rc = ram_create(m, cfg->hugepages, eb)) < 0)
		goto fail;
	if ((rc = kvm_vm(m, KVM_CREATE_IRQCHIP, NULL)) < 0) {
		errbuf_set(eb, -rc, "KVM_CREATE_IRQCHIP: %s", strerror(-rc));
		goto fail;
	}
	struct kvm_pit_config pit = { .flags = 0 };
	if ((rc = kvm_vm(m, KVM_CREATE_PIT2, &pit)) < 0) {
		errbuf_set(eb, -rc, "KVM_CREATE_PIT2: %s", strerror(-rc));
		goto fail;
	}
	rc = kvm_sys(m, KVM_GET_VCPU_MMAP_SIZE, NULL);
	if (rc < (int)sizeof(struct kvm_run)) {
		errbuf_set(eb, rc < 0 ? -rc : EINVAL, "KVM_GET_VCPU_MMAP_SIZE: %d", rc);
		rc = rc < 0 ? rc : -EINVAL;
		goto fail;
	}
	m->run_size = (size_t)rc;
	if ((rc = supported_cpuid(m, eb)) < 0)
		goto fail;
	for (unsigned i = 0; i < m->n_vcpus; i++)
		if ((rc = vcpu_create(m, i, eb)) < 0)
			goto fail;
	*out = m;
	return 0;
fail:
	machine_destroy(m);
	return rc < 0 ? rc : -EINVAL;
}

/* ---- entry state ---- */

static void write_u64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

static int write_boot_tables(struct machine *m, const struct machine_entry *e, struct errbuf *eb)
{
	/* GDT: null, null, code (64- or 32-bit), data — the Linux boot selectors. */
	uint8_t *gdt = guest_mem_ptr(&m->mem, LAYOUT_GDT, 32);
	if (!gdt)
		return errbuf_set(eb, EINVAL, "boot GDT outside guest RAM");
	write_u64(gdt + 0, 0);
	write_u64(gdt + 8, 0);
	write_u64(gdt + 16, e->mode == MACHINE_ENTRY_64BIT ? 0x00af9b000000ffffull
							   : 0x00cf9b000000ffffull);
	write_u64(gdt + 24, 0x00cf93000000ffffull);
	if (e->mode != MACHINE_ENTRY_64BIT)
		return machine_note_blob(m, MACHINE_BLOB_PAGE_TABLES, LAYOUT_GDT, 32);

	/* Identity map of the first 4 GiB with 2 MiB pages: PML4 → PDPT → 4 PDs. */
	uint64_t pml4 = LAYOUT_PAGE_TABLES, pdpt = pml4 + 0x1000, pd = pdpt + 0x1000;
	uint8_t *t = guest_mem_ptr(&m->mem, pml4, LAYOUT_PAGE_TABLES_END - LAYOUT_PAGE_TABLES);
	if (!t)
		return errbuf_set(eb, EINVAL, "boot page tables outside guest RAM");
	memset(t, 0, LAYOUT_PAGE_TABLES_END - LAYOUT_PAGE_TABLES);
	write_u64(t, pdpt | 0x3);
	for (uint64_t i = 0; i < 4; i++) {
		write_u64(t + 0x1000 + i * 8, (pd + i * 0x1000) | 0x3);
		for (uint64_t j = 0; j < 512; j++)
			write_u64(t + 0x2000 + i * 0x1000 + j * 8,
				  ((i * 512 + j) << 21) | 0x83 /* present, writable, 2 MiB */);
	}
	int rc = machine_note_blob(m, MACHINE_BLOB_PAGE_TABLES, LAYOUT_GDT, 32);
	if (!rc)
		rc = machine_note_blob(m, MACHINE_BLOB_PAGE_TABLES, LAYOUT_PAGE_TABLES,
				       LAYOUT_PAGE_TABLES_END - LAYOUT_PAGE_TABLES);
	return rc;
}

static void segment(struct kvm_segment *s, uint16_t sel, bool code, bool is64)
{
	*s = (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = code ? 0xb : 0x3,
		.present = 1, .dpl = 0, .db = (code && is64) ? 0 : 1, .s = 1,
		.l = (code && is64) ? 1 : 0, .g = 1,
	};
}

static int vcpu_set_entry(struct vcpu *v, const struct machine_entry *e, struct errbuf *eb)
{
	struct kvm_sregs sregs;
	int rc = kvm_vcpu(v, KVM_GET_SREGS, &sregs);
	if (rc < 0)
		return errbuf_set(eb, -rc, "vCPU %u: KVM_GET_SREGS: %s", v->index, strerror(-rc));
	bool is64 = e->mode == MACHINE_ENTRY_64BIT;
	segment(&sregs.cs, LAYOUT_BOOT_CS, true, is64);
	segment(&sregs.ds, LAYOUT_BOOT_DS, false, is64);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.gdt.base = LAYOUT_GDT;
	sregs.gdt.limit = 31;
	sregs.cr0 = 0x11; /* PE | ET */
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (is64) {
		sregs.cr3 = LAYOUT_PAGE_TABLES;
		sregs.cr4 = 1u << 5;                    /* PAE */
		sregs.cr0 |= 1u << 31;                  /* PG */
		sregs.efer = (1u << 8) | (1u << 10);    /* LME | LMA */
	}
	rc = kvm_vcpu(v, KVM_SET_SREGS, &sregs);
	if (rc < 0)
		return errbuf_set(eb, -rc, "vCPU %u: KVM_SET_SREGS: %s", v->index, strerror(-rc));
	struct kvm_regs regs = { .rflags = 2, .rip = e->rip, .rsi = e->rsi, .rdi = e->rdi,
				 .rsp = e->rsp, .rdx = v->index };
	rc = kvm_vcpu(v, KVM_SET_REGS, &regs);
	if (rc < 0)
		return errbuf_set(eb, -rc, "vCPU %u: KVM_SET_REGS: %s", v->index, strerror(-rc));
	if (v->index) {
		struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };
		rc = kvm_vcpu(v, KVM_SET_MP_STATE, &mp);
		if (rc < 0)
			return errbuf_set(eb, -rc, "vCPU %u: KVM_SET_MP_STATE: %s", v->index,
					  strerror(-rc));
	}
	return 0;
}

int machine_set_entry(struct machine *m, const struct machine_entry *e, struct errbuf *eb)
{
	int rc = write_boot_tables(m, e, eb);
	if (rc < 0)
		return rc;
	unsigned n = m->ap_start == MACHINE_AP_DIRECT ? m->n_vcpus : 1;
	for (unsigned i = 0; i < n; i++)
		if ((rc = vcpu_set_entry(&m->vcpu[i], e, eb)) < 0)
			return rc;
	return 0;
}

/* ---- running ---- */

static int handle_io(struct machine *m, struct kvm_run *run)
{
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	uint32_t size = run->io.size;
	if (size != 1 && size != 2 && size != 4)
		return -EINVAL;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
	/* data_offset + count*size lies inside the kvm_run page KVM mapped. */
	for (uint32_t i = 0; i < run->io.count; i++)
		bus_access(&m->pio, run->io.port, data + (size_t)i * size, size, is_write);
	return 0;
}

static int handle_mmio(struct machine *m, struct kvm_run *run)
{
	uint32_t len = run->mmio.len;
	if (len != 1 && len != 2 && len != 4 && len != 8)
		return -EINVAL;
	bus_access(&m->mmio, run->mmio.phys_addr, run->mmio.data, len, run->mmio.is_write);
	return 0;
}

static int handle_system_event(struct machine *m, struct kvm_run *run)
{
	switch (run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		machine_request_exit(m, MACHINE_EXIT_POWEROFF);
		return 0;
	case KVM_SYSTEM_EVENT_RESET:
		machine_request_exit(m, MACHINE_EXIT_RESET);
		return 0;
	case KVM_SYSTEM_EVENT_CRASH:
		machine_request_exit(m, MACHINE_EXIT_PANIC);
		return 0;
	default:
		return -ENOTSUP;
	}
}

static void set_detail(struct machine *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_detail(struct machine *m, const char *fmt, ...)
{
	bool expected = false;
	if (!atomic_compare_exchange_strong(&m->detail_set, &expected, true))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m->exit_detail, sizeof(m->exit_detail), fmt, ap);
	va_end(ap);
}

const char *machine_exit_detail(const struct machine *m)
{
	return atomic_load(&((struct machine *)m)->detail_set) ? m->exit_detail : "";
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct machine *m = v->m;
	/* Only the kick signal may interrupt KVM_RUN; everything else goes to
	 * the main thread. */
	sigset_t set;
	sigfillset(&set);
	sigdelset(&set, kick_signal());
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	if (m->vcpu_thread_init) {
		struct errbuf eb = { 0 };
		if (m->vcpu_thread_init(m->thread_ctx, v->index, &eb) < 0) {
			set_detail(m, "vCPU %u: %s", v->index, errbuf_msg(&eb));
			machine_request_exit(m, MACHINE_EXIT_VCPU_ERROR);
			return NULL;
		}
	}

	while (!atomic_load(&m->exiting)) {
		int rc = kvm_vcpu(v, KVM_RUN, NULL);
		if (rc == -EINTR || rc == -EAGAIN)
			continue;
		/* SEV-SNP: an implicit private<->shared conversion comes back as
		 * -EFAULT with KVM_EXIT_MEMORY_FAULT (39); the SNP hook handles it. */
		if (rc == -EFAULT && v->run->exit_reason == 39 && m->hooks && m->hooks->handle_exit)
			rc = m->hooks->handle_exit(m->hooks->ctx, m, v->index, v->run) < 0 ? -EFAULT : 0;
		if (rc == 0 && v->run->exit_reason == 39)
			continue;
		if (rc < 0) {
			set_detail(m, "vCPU %u: KVM_RUN: %s", v->index, strerror(-rc));
			machine_request_exit(m, MACHINE_EXIT_VCPU_ERROR);
			break;
		}
		atomic_fetch_add(&m->exits, 1);
		struct kvm_run *run = v->run;
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			rc = handle_io(m, run);
			break;
		case KVM_EXIT_MMIO:
			rc = handle_mmio(m, run);
			break;
		case KVM_EXIT_INTR:
			rc = 0;
			break;
		case KVM_EXIT_SHUTDOWN: /* triple fault: what a PC does is reset */
			machine_request_exit(m, MACHINE_EXIT_RESET);
			rc = 0;
			break;
		case KVM_EXIT_SYSTEM_EVENT:
			rc = handle_system_event(m, run);
			break;
		default:
			rc = -ENOTSUP;
			break;
		}
		if (rc == -ENOTSUP && m->hooks && m->hooks->handle_exit)
			rc = m->hooks->handle_exit(m->hooks->ctx, m, v->index, run);
		if (rc < 0) {
			if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
				set_detail(m, "vCPU %u: KVM internal error, suberror %u", v->index,
					   run->internal.suberror);
			else if (run->exit_reason == KVM_EXIT_FAIL_ENTRY)
				set_detail(m, "vCPU %u: VM entry failed, reason 0x%llx", v->index,
					   (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
			else
				set_detail(m, "vCPU %u: unhandled exit reason %u", v->index,
					   run->exit_reason);
			machine_request_exit(m, MACHINE_EXIT_VCPU_ERROR);
			break;
		}
	}
	return NULL;
}

int machine_start(struct machine *m, struct errbuf *eb)
{
	if (m->started)
		return errbuf_set(eb, EALREADY, "machine already started");
	if (m->hooks && m->hooks->before_run) {
		int rc = m->hooks->before_run(m->hooks->ctx, m, eb);
		if (rc < 0)
			return rc;
	}
	m->started = true;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 128 * 1024);
	for (unsigned i = 0; i < m->n_vcpus; i++) {
		struct vcpu *v = &m->vcpu[i];
		int rc = pthread_create(&v->thread, &attr, vcpu_thread, v);
		if (rc) {
			pthread_attr_destroy(&attr);
			machine_request_exit(m, MACHINE_EXIT_VCPU_ERROR);
			return errbuf_set(eb, rc, "vCPU %u: pthread_create: %s", i, strerror(rc));
		}
		v->thread_started = true;
		char name[16];
		snprintf(name, sizeof(name), "vcpu%u", i);
		pthread_setname_np(v->thread, name);
	}
	pthread_attr_destroy(&attr);
	return 0;
}

void machine_request_exit(struct machine *m, int code)
{
	int expected = -1;
	atomic_compare_exchange_strong(&m->exit_code, &expected, code);
	atomic_store(&m->exiting, true);
	for (unsigned i = 0; i < m->n_vcpus; i++) {
		struct vcpu *v = &m->vcpu[i];
		if (v->run)
			__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		if (v->thread_started)
			pthread_kill(v->thread, kick_signal());
	}
	event_loop_stop(m->loop, atomic_load(&m->exit_code));
}

int machine_exit_code(const struct machine *m)
{
	return atomic_load(&((struct machine *)m)->exit_code);
}

uint64_t machine_exit_count(const struct machine *m)
{
	return atomic_load(&((struct machine *)m)->exits);
}

void machine_stop(struct machine *m)
{
	if (!m || !m->started || m->stopped)
		return;
	if (!atomic_load(&m->exiting))
		machine_request_exit(m, MACHINE_EXIT_STOPPED);
	for (unsigned i = 0; i < m->n_vcpus; i++) {
		struct vcpu *v = &m->vcpu[i];
		if (!v->thread_started)
			continue;
		/* A vCPU may have been between its exiting check and KVM_RUN when
		 * kicked: immediate_exit covers that, so one join suffices. */
		pthread_join(v->thread, NULL);
		v->thread_started = false;
	}
	m->stopped = true;
}

void machine_destroy(struct machine *m)
{
	if (!m)
		return;
	machine_stop(m);
	for (unsigned i = 0; i < MACHINE_MAX_VCPUS; i++) {
		struct vcpu *v = &m->vcpu[i];
		if (v->run)
			m->ops->unmap_run(m->kctx, v->run, m->run_size);
		if (v->fd >= 0)
			m->ops->close(m->kctx, v->fd);
	}
	if (m->vm_fd >= 0)
		m->ops->close(m->kctx, m->vm_fd);
	if (m->sys_fd >= 0)
		m->ops->close(m->kctx, m->sys_fd);
	if (m->ram)
		munmap(m->ram, m->mem_size);
	if (m->mem_fd >= 0)
		close(m->mem_fd);
	free(m->cpuid);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* ---- accessors and tables ---- */

struct guest_mem *machine_mem(struct machine *m) { return &m->mem; }
struct bus *machine_mmio_bus(struct machine *m) { return &m->mmio; }
struct bus *machine_pio_bus(struct machine *m) { return &m->pio; }
const struct device_host *machine_device_host(struct machine *m) { return &m->host; }
uint64_t machine_mem_size(const struct machine *m) { return m->mem_size; }
unsigned machine_vcpu_count(const struct machine *m) { return m->n_vcpus; }
int machine_vm_fd(const struct machine *m) { return m->vm_fd; }

int machine_sys_fd(const struct machine *m) { return m->sys_fd; }

int machine_vcpu_fd(const struct machine *m, unsigned index)
{
	return index < m->n_vcpus ? m->vcpu[index].fd : -EINVAL;
}

int machine_alloc_mmio(struct machine *m, uint64_t size, uint64_t *base)
{
	if (!size || size > LAYOUT_DEVICE_MMIO_END - LAYOUT_DEVICE_MMIO)
		return -EINVAL;
	uint64_t stride = (size + LAYOUT_DEVICE_MMIO_STRIDE - 1) & ~(LAYOUT_DEVICE_MMIO_STRIDE - 1);
	pthread_mutex_lock(&m->lock);
	int rc = -ENOSPC;
	if (stride <= LAYOUT_DEVICE_MMIO_END - m->next_mmio) {
		*base = m->next_mmio;
		m->next_mmio += stride;
		rc = 0;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int machine_alloc_gsi(struct machine *m, uint32_t *gsi)
{
	pthread_mutex_lock(&m->lock);
	int rc = -ENOSPC;
	if (m->next_gsi <= LAYOUT_LAST_DEVICE_GSI) {
		*gsi = m->next_gsi++;
		rc = 0;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int machine_add_device(struct machine *m, const struct machine_device *dev)
{
	pthread_mutex_lock(&m->lock);
	int rc = -ENOSPC;
	if (m->n_devices < MACHINE_MAX_DEVICES) {
		m->devices[m->n_devices++] = *dev;
		rc = 0;
	}
	pthread_mutex_unlock(&m->lock);
	return rc;
}

const struct machine_device *machine_devices(const struct machine *m, unsigned *n)
{
	*n = m->n_devices;
	return m->devices;
}

int machine_note_blob(struct machine *m, enum machine_blob_kind kind, uint64_t gpa,
		      uint64_t size)
{
	if (!size || !guest_mem_ptr(&m->mem, gpa, size))
		return -EINVAL;
	if (m->n_blobs >= MACHINE_MAX_LOADED)
		return -ENOSPC;
	m->blobs[m->n_blobs++] = (struct machine_blob){ kind, gpa, size };
	return 0;
}

const struct machine_blob *machine_blobs(const struct machine *m, unsigned *n)
{
	*n = m->n_blobs;
	return m->blobs;
}
