/* Unit tests for vmm/machine.c over the fake KVM: setup order and state, entry
 * registers and page tables, exit dispatch to the buses, exit codes, hooks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_kvm.h"
#include "vmm/cpuid.h"
#include "devices/event_loop.h"
#include "common/guest_abi/layout.h"
#include "vmm/machine.h"

struct fixture {
	struct fake_kvm fake;
	struct event_loop *loop;
	struct machine *m;
};

static struct fixture *setup_machine(unsigned vcpus, enum machine_ap_start ap,
				     const struct machine_hooks *hooks)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct errbuf eb = { 0 };
	fx->loop = event_loop_create(&eb);
	assert_non_null(fx->loop);
	struct machine_config cfg = { .mem_size = 64ull << 20, .n_vcpus = vcpus, .ap_start = ap,
				      .kvm = &fake_kvm_ops, .kvm_ctx = &fx->fake, .hooks = hooks,
				      .loop = fx->loop };
	int rc = machine_create(&cfg, &fx->m, &eb);
	if (rc)
		fail_msg("machine_create: %s", errbuf_msg(&eb));
	return fx;
}

static void teardown_machine(struct fixture *fx)
{
	machine_destroy(fx->m);
	event_loop_destroy(fx->loop);
	free(fx);
}

static void vmm_machine_setup_order_and_memory(void **state)
{
	(void)state;
	struct fixture *fx = setup_machine(2, MACHINE_AP_SIPI, NULL);
	struct fake_kvm *f = &fx->fake;
	/* irqchip before PIT before vCPUs; memory before vCPUs. */
	int irq = fake_kvm_call_index(f, KVM_CREATE_IRQCHIP);
	int pit = fake_kvm_call_index(f, KVM_CREATE_PIT2);
	int mem = fake_kvm_call_index(f, KVM_SET_USER_MEMORY_REGION);
	int vcpu = fake_kvm_call_index(f, KVM_CREATE_VCPU);
	assert_true(irq >= 0 && pit > irq && vcpu > pit && mem >= 0 && mem < vcpu);
	assert_int_equal(f->n_vcpus, 2);
	assert_int_equal(f->n_slots, 1);
	assert_int_equal(f->slot_gpa[0], 0);
	assert_int_equal(f->slot_size[0], 64ull << 20);
	/* Guest RAM is visible to devices through guest_mem. */
	assert_non_null(guest_mem_ptr(machine_mem(fx->m), 0, 64ull << 20));
	assert_null(guest_mem_ptr(machine_mem(fx->m), (64ull << 20) - 4, 8));
	/* Every vCPU got MSRs and a filtered CPUID with its own APIC ID. */
	for (unsigned i = 0; i < 2; i++) {
		struct fake_vcpu *v = &f->vcpu[i];
		assert_true(v->nmsrs >= 8);
		bool seen1 = false;
		for (unsigned j = 0; j < v->ncpuid; j++) {
			if (v->cpuid[j].function == 1) {
				seen1 = true;
				assert_int_equal(v->cpuid[j].ebx >> 24, i);
				assert_int_equal((v->cpuid[j].ebx >> 16) & 0xff, 2);
				assert_true(v->cpuid[j].ecx & (1u << 31)); /* hypervisor */
				assert_false(v->cpuid[j].ecx & (1u << 3)); /* no MONITOR */
			}
			if (v->cpuid[j].function == 0xa)
				assert_int_equal(v->cpuid[j].eax | v->cpuid[j].ebx, 0); /* no PMU */
		}
		assert_true(seen1);
	}
	teardown_machine(fx);
}

static void vmm_machine_high_ram_above_hole(void **state)
{
	(void)state;
	struct fake_kvm fake = { 0 };
	struct errbuf eb = { 0 };
	struct event_loop *loop = event_loop_create(&eb);
	struct machine *m;
	struct machine_config cfg = { .mem_size = 4ull << 30, .n_vcpus = 1, .kvm = &fake_kvm_ops,
				      .kvm_ctx = &fake, .loop = loop };
	assert_int_equal(machine_create(&cfg, &m, &eb), 0);
	assert_int_equal(fake.n_slots, 2);
	assert_int_equal(fake.slot_size[0], LAYOUT_MMIO_GAP);
	assert_int_equal(fake.slot_gpa[1], LAYOUT_MMIO_GAP_END);
	assert_int_equal(fake.slot_size[1], (4ull << 30) - LAYOUT_MMIO_GAP);
	assert_null(guest_mem_ptr(machine_mem(m), LAYOUT_MMIO_GAP, 1));
	machine_destroy(m);
	event_loop_destroy(loop);
}

static void vmm_machine_rejects_bad_config(void **state)
{
	(void)state;
	struct fake_kvm fake = { 0 };
	struct errbuf eb = { 0 };
	struct event_loop *loop = event_loop_create(&eb);
	struct machine *m;
	struct machine_config cfg = { .mem_size = 3ull << 20, .n_vcpus = 1, .kvm = &fake_kvm_ops,
				      .kvm_ctx = &fake, .loop = loop };
	assert_int_equal(machine_create(&cfg, &m, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "memory size"));
	cfg.mem_size = 64ull << 20;
	cfg.n_vcpus = 0;
	assert_int_equal(machine_create(&cfg, &m, &eb), -EINVAL);
	cfg.n_vcpus = 1;
	fake.fail_request = (int)KVM_CREATE_IRQCHIP;
	assert_int_equal(machine_create(&cfg, &m, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "KVM_CREATE_IRQCHIP"));
	assert_null(m);
	event_loop_destroy(loop);
}

static void vmm_machine_entry_64bit_state_and_page_tables(void **state)
{
	(void)state;
	struct fixture *fx = setup_machine(2, MACHINE_AP_DIRECT, NULL);
	struct machine_entry e = { .mode = MACHINE_ENTRY_64BIT, .rip = 0x100000,
				   .rsi = LAYOUT_ZERO_PAGE, .rdi = LAYOUT_BOOT_DESC };
	struct errbuf eb = { 0 };
	assert_int_equal(machine_set_entry(fx->m, &e, &eb), 0);
	for (unsigned i = 0; i < 2; i++) {
		struct fake_vcpu *v = &fx->fake.vcpu[i];
		assert_int_equal(v->regs.rip, 0x100000);
		assert_int_equal(v->regs.rsi, LAYOUT_ZERO_PAGE);
		assert_int_equal(v->regs.rdi, LAYOUT_BOOT_DESC);
		assert_int_equal(v->regs.rdx, i);
		assert_true(v->sregs.cr0 & (1u << 31));
		assert_true(v->sregs.efer & (1u << 10));
		assert_int_equal(v->sregs.cs.l, 1);
		assert_int_equal(v->sregs.cs.selector, LAYOUT_BOOT_CS);
		assert_int_equal(v->sregs.cr3, LAYOUT_PAGE_TABLES);
	}
	assert_true(fx->fake.vcpu[1].mp_state_set);
	assert_int_equal(fx->fake.vcpu[1].mp_state, KVM_MP_STATE_RUNNABLE);
	/* PD entry for 3 GiB + 2 MiB maps that address, 2 MiB page, present+writable. */
	uint64_t *pd = guest_mem_ptr(machine_mem(fx->m), LAYOUT_PAGE_TABLES + 0x2000, 0x4000);
	uint64_t want = ((3ull << 30) + (2ull << 20)) | 0x83;
	assert_int_equal(pd[3 * 512 + 1], want);
	/* Both blobs recorded for a measured launch. */
	unsigned n;
	const struct machine_blob *b = machine_blobs(fx->m, &n);
	assert_int_equal(n, 2);
	assert_int_equal(b[1].gpa, LAYOUT_PAGE_TABLES);
	teardown_machine(fx);
}

static void vmm_machine_entry_sipi_leaves_aps_alone(void **state)
{
	(void)state;
	struct fixture *fx = setup_machine(2, MACHINE_AP_SIPI, NULL);
	struct machine_entry e = { .mode = MACHINE_ENTRY_32BIT, .rip = 0x200000 };
	struct errbuf eb = { 0 };
	assert_int_equal(machine_set_entry(fx->m, &e, &eb), 0);
	assert_int_equal(fx->fake.vcpu[0].regs.rip, 0x200000);
	assert_int_equal(fx->fake.vcpu[0].sregs.cs.l, 0);
	assert_int_equal(fx->fake.vcpu[0].sregs.cs.db, 1);
	assert_false(fx->fake.vcpu[0].sregs.cr0 & (1u << 31));
	assert_int_equal(fx->fake.vcpu[1].regs.rip, 0);
	assert_false(fx->fake.vcpu[1].mp_state_set);
	teardown_machine(fx);
}

/* A device on each bus that records accesses and ends the VM on a magic write. */
struct probe {
	struct machine *m;
	uint64_t off;
	uint8_t data[8];
	uint32_t len;
	int writes, reads;
};

static void probe_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct probe *p = opaque;
	p->reads++;
	p->off = off;
	for (uint32_t i = 0; i < len; i++)
		data[i] = (uint8_t)(0xa0 + i);
}

static void probe_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct probe *p = opaque;
	p->writes++;
	p->off = off;
	p->len = len;
	memcpy(p->data, data, len);
	if (data[0] == 0x42)
		machine_request_exit(p->m, machine_exit_for_debug_byte(data[0]));
}

static const struct bus_ops probe_ops = { probe_read, probe_write };

static void vmm_machine_exits_reach_buses_and_end_the_vm(void **state)
{
	(void)state;
	struct fixture *fx = setup_machine(1, MACHINE_AP_SIPI, NULL);
	struct probe pio = { .m = fx->m }, mmio = { .m = fx->m };
	assert_int_equal(bus_register(machine_pio_bus(fx->m), 0x500, 8, "p", &probe_ops, &pio), 0);
	assert_int_equal(bus_register(machine_mmio_bus(fx->m), 0xd0000000, 0x1000, "m", &probe_ops,
				      &mmio), 0);
	struct fake_vcpu *v = &fx->fake.vcpu[0];
	v->script[0] = (struct fake_exit){ .reason = KVM_EXIT_MMIO, .addr = 0xd0000010,
					   .data = { 1, 2, 3, 4 }, .len = 4, .is_write = true };
	v->script[1] = (struct fake_exit){ .reason = KVM_EXIT_IO, .port = 0x502, .len = 2 };
	v->script[2] = (struct fake_exit){ .reason = KVM_EXIT_IO, .port = 0x600, .len = 1,
					   .data = { 9 }, .is_write = true }; /* unclaimed */
	v->script[3] = (struct fake_exit){ .reason = KVM_EXIT_IO, .port = 0x504, .len = 1,
					   .data = { 0x42 }, .is_write = true };
	v->n_script = 4;
	struct errbuf eb = { 0 };
	assert_int_equal(machine_start(fx->m, &eb), 0);
	assert_int_equal(event_loop_run(fx->loop), MACHINE_EXIT_DEBUG_BASE + 0x42);
	machine_stop(fx->m);
	assert_int_equal(mmio.writes, 1);
	assert_int_equal(mmio.off, 0x10);
	assert_memory_equal(mmio.data, ((uint8_t[]){ 1, 2, 3, 4 }), 4);
	assert_int_equal(pio.reads, 1);
	assert_int_equal(pio.writes, 1);
	assert_int_equal(pio.off, 4);
	assert_int_equal(machine_exit_code(fx->m), MACHINE_EXIT_DEBUG_BASE + 0x42);
	assert_int_equal(machine_exit_count(fx->m), 4);
	teardown_machine(fx);
}

static int run_script(const struct fake_exit *steps, unsigned n, const struct machine_hooks *h,
		      struct fixture **out)
{
	struct fixture *fx = setup_machine(1, MACHINE_AP_SIPI, h);
	memcpy(fx->fake.vcpu[0].script, steps, n * sizeof(*steps));
	fx->fake.vcpu[0].n_script = n;
	struct errbuf eb = { 0 };
	assert_int_equal(machine_start(fx->m, &eb), 0);
	int code = event_loop_run(fx->loop);
	machine_stop(fx->m);
	*out = fx;
	return code;
}

static void vmm_machine_guest_events_map_to_exit_codes(void **state)
{
	(void)state;
	static const struct { struct fake_exit e; int code; } cases[] = {
		{ { .reason = KVM_EXIT_SYSTEM_EVENT, .event = KVM_SYSTEM_EVENT_SHUTDOWN }, MACHINE_EXIT_POWEROFF },
		{ { .reason = KVM_EXIT_SYSTEM_EVENT, .event = KVM_SYSTEM_EVENT_RESET }, MACHINE_EXIT_RESET },
		{ { .reason = KVM_EXIT_SYSTEM_EVENT, .event = KVM_SYSTEM_EVENT_CRASH }, MACHINE_EXIT_PANIC },
		{ { .reason = KVM_EXIT_SHUTDOWN }, MACHINE_EXIT_RESET },
		{ { .reason = KVM_EXIT_INTERNAL_ERROR }, MACHINE_EXIT_VCPU_ERROR },
		{ { .reason = 0xffffffffu }, MACHINE_EXIT_VCPU_ERROR },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fixture *fx;
		assert_int_equal(run_script(&cases[i].e, 1, NULL, &fx), cases[i].code);
		if (cases[i].code == MACHINE_EXIT_VCPU_ERROR)
			assert_non_null(strstr(machine_exit_detail(fx->m), "vCPU 0"));
		teardown_machine(fx);
	}
	assert_int_equal(machine_exit_for_debug_byte(0), 0);
	assert_int_equal(machine_exit_for_debug_byte(1), 17);
	assert_int_equal(machine_exit_for_debug_byte(255), 255);
}

struct hook_log {
	int vm_created, set_memory, before_run, handled;
	int irqchip_calls_at_vm_created;
	struct fake_kvm *fake;
};

static int hook_vm_created(void *ctx, struct machine *m, struct errbuf *eb)
{
	struct hook_log *h = ctx;
	(void)m;
	(void)eb;
	h->vm_created++;
	return 0;
}

static int hook_set_memory(void *ctx, struct machine *m, uint32_t slot, uint64_t gpa,
			   uint64_t size, void *host, struct errbuf *eb)
{
	struct hook_log *h = ctx;
	(void)m, (void)slot, (void)gpa, (void)size, (void)host, (void)eb;
	h->set_memory++;
	return 0;
}

static int hook_before_run(void *ctx, struct machine *m, struct errbuf *eb)
{
	struct hook_log *h = ctx;
	(void)m;
	(void)eb;
	h->before_run++;
	return 0;
}

static int hook_exit(void *ctx, struct machine *m, unsigned vcpu, struct kvm_run *run)
{
	struct hook_log *h = ctx;
	(void)vcpu;
	if (run->exit_reason == KVM_EXIT_HYPERCALL) {
		h->handled++;
		machine_request_exit(m, MACHINE_EXIT_POWEROFF);
		return 0;
	}
	return -ENOTSUP;
}

static void vmm_machine_hooks_for_snp(void **state)
{
	(void)state;
	struct hook_log log = { 0 };
	struct machine_hooks h = { .ctx = &log, .vm_type = 4, .vm_created = hook_vm_created,
				   .set_memory = hook_set_memory, .before_run = hook_before_run,
				   .handle_exit = hook_exit };
	struct fake_exit e = { .reason = KVM_EXIT_HYPERCALL };
	struct fixture *fx;
	assert_int_equal(run_script(&e, 1, &h, &fx), MACHINE_EXIT_POWEROFF);
	assert_int_equal(fx->fake.vm_type, 4);
	assert_int_equal(log.vm_created, 1);
	assert_int_equal(log.set_memory, 1);
	assert_int_equal(fx->fake.n_slots, 0); /* the hook registered memory instead */
	assert_int_equal(log.before_run, 1);
	assert_int_equal(log.handled, 1);
	teardown_machine(fx);
}

static void vmm_machine_device_host_and_allocators(void **state)
{
	(void)state;
	struct fixture *fx = setup_machine(1, MACHINE_AP_SIPI, NULL);
	const struct device_host *h = machine_device_host(fx->m);
	int fd = h->irqfd_create(h->vm, 5);
	assert_true(fd >= 0);
	assert_int_equal(fx->fake.irqfd_count, 1);
	assert_int_equal(h->ioeventfd_add(h->vm, 0xd0000050, 4, 0, fd), 0);
	assert_int_equal(fx->fake.ioeventfd_count, 1);
	close(fd);
	uint64_t a, b;
	uint32_t g1, g2;
	assert_int_equal(machine_alloc_mmio(fx->m, 0x200, &a), 0);
	assert_int_equal(machine_alloc_mmio(fx->m, 0x1000, &b), 0);
	assert_int_equal(a, LAYOUT_DEVICE_MMIO);
	assert_int_equal(b, LAYOUT_DEVICE_MMIO + LAYOUT_DEVICE_MMIO_STRIDE);
	assert_int_equal(machine_alloc_gsi(fx->m, &g1), 0);
	assert_int_equal(machine_alloc_gsi(fx->m, &g2), 0);
	assert_int_equal(g1, LAYOUT_FIRST_DEVICE_GSI);
	assert_int_equal(g2, LAYOUT_FIRST_DEVICE_GSI + 1);
	uint32_t g;
	while (machine_alloc_gsi(fx->m, &g) == 0)
		assert_true(g <= LAYOUT_LAST_DEVICE_GSI);
	assert_int_equal(machine_alloc_gsi(fx->m, &g), -ENOSPC);
	/* Blobs outside RAM are refused. */
	assert_int_equal(machine_note_blob(fx->m, MACHINE_BLOB_KERNEL, 63ull << 20, 2ull << 20), -EINVAL);
	teardown_machine(fx);
}

static void vmm_cpuid_filter_topology(void **state)
{
	(void)state;
	struct kvm_cpuid_entry2 e[3] = {
		{ .function = 0xb, .index = 0 },
		{ .function = 0xb, .index = 1 },
		{ .function = 0x4, .eax = 0xfc000121 },
	};
	cpuid_filter(e, 3, 5, 6);
	assert_int_equal(e[0].edx, 5);
	assert_int_equal(e[0].ebx, 1);
	assert_int_equal(e[1].eax, 3); /* 6 vCPUs need 3 bits */
	assert_int_equal(e[1].ebx, 6);
	assert_int_equal(e[2].eax >> 26, 5);
	assert_int_equal(e[2].eax & 0x3ffffff, 0x121);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vmm_machine_setup_order_and_memory),
		cmocka_unit_test(vmm_machine_high_ram_above_hole),
		cmocka_unit_test(vmm_machine_rejects_bad_config),
		cmocka_unit_test(vmm_machine_entry_64bit_state_and_page_tables),
		cmocka_unit_test(vmm_machine_entry_sipi_leaves_aps_alone),
		cmocka_unit_test(vmm_machine_exits_reach_buses_and_end_the_vm),
		cmocka_unit_test(vmm_machine_guest_events_map_to_exit_codes),
		cmocka_unit_test(vmm_machine_hooks_for_snp),
		cmocka_unit_test(vmm_machine_device_host_and_allocators),
		cmocka_unit_test(vmm_cpuid_filter_topology),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
