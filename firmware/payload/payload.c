/* payload: boots, reports what the machine gave it, runs registered tests, exits.
 *
 * Lines (all through debugcon; the kvm tests parse them):
 *   payload start entry=<64|pvh>
 *   cmdline <text>
 *   e820 <addr-hex> <size-hex> <type>              (one per entry)
 *   initrd <addr-hex> <size-hex>
 *   fdt <path> <property> <value>                   (every boot descriptor property)
 *   acpi rsdp <addr-hex> ok|bad
 *   acpi <SIG> <addr-hex> <length> ok|bad           (every XSDT table, and the DSDT)
 *   acpi madt lapics <n> ioapic <addr-hex>
 *   acpi dsdt lnro0005 <n> pnp0501 <n> qemu0001 <n>
 *   vcpus <online> expected <n>
 *   cpu <index> apic <id>                           (every vCPU that reached us)
 *   test <name> <failures>                          (every PAYLOAD_TEST)
 *   payload done failures <n>
 * then exits with status min(failures, 255). Command-line switches (for the
 * VMM's exit-path tests): `payload.exit=early` exits with 0 right after entry
 * (start-up benchmarks); `payload.fail` adds one failure; `payload.serial-echo` reads a line from COM1 and
 * reports it; `payload.panic` reports a panic through pvpanic; `payload.poweroff` powers off through
 * the FADT's sleep control register; `payload.hang` stops
 * in a halt loop before exiting; `payload.reset` resets through the i8042. */
#include "payload.h"

#include "common/guest_abi/boot_desc.h"

#define ZP_ACPI_RSDP 0x070
#define ZP_EXT_RAMDISK_IMAGE 0x0c0
#define ZP_EXT_RAMDISK_SIZE 0x0c4
#define ZP_EXT_CMD_LINE_PTR 0x0c8
#define ZP_E820_ENTRIES 0x1e8
#define ZP_RAMDISK_IMAGE 0x218
#define ZP_RAMDISK_SIZE 0x21c
#define ZP_CMD_LINE_PTR 0x228
#define ZP_E820_TABLE 0x2d0
#define ZP_E820_MAX 128

#define PVH_MAGIC 0x336ec578u

static unsigned failures;
static int ap_start_direct; /* the boot descriptor says APs enter by themselves */
static volatile uint32_t cpus_arrived;
static volatile uint32_t cpu_apic[64];

static void check(int ok, const char *what)
{
	if (!ok) {
		failures++;
		pr("check failed: %s\n", what);
	}
}

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static uint32_t apic_id(void)
{
	uint32_t a = 1, b, c = 0, d;
	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	return b >> 24;
}

static uint32_t cpuid_logical_count(void)
{
	uint32_t a = 1, b, c = 0, d;
	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	return (b >> 16) & 0xff;
}

/* ---- boot information ---- */

static void report_zero_page(const uint8_t *zp)
{
	unsigned n = zp[ZP_E820_ENTRIES];
	check(n > 0 && n <= ZP_E820_MAX, "e820 entry count");
	if (n > ZP_E820_MAX)
		n = ZP_E820_MAX;
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *e = zp + ZP_E820_TABLE + 20 * i;
		pr("e820 %lx %lx %u\n", rd64(e), rd64(e + 8), rd32(e + 16));
	}
	uint64_t rd = rd32(zp + ZP_RAMDISK_IMAGE) | (uint64_t)rd32(zp + ZP_EXT_RAMDISK_IMAGE) << 32;
	uint64_t rs = rd32(zp + ZP_RAMDISK_SIZE) | (uint64_t)rd32(zp + ZP_EXT_RAMDISK_SIZE) << 32;
	if (rs)
		pr("initrd %lx %lx\n", rd, rs);
}

static void report_pvh(const uint8_t *si)
{
	check(rd32(si) == PVH_MAGIC, "hvm_start_info magic");
	uint64_t mm = rd64(si + 40);
	uint32_t n = rd32(si + 48);
	for (uint32_t i = 0; i < n && i < ZP_E820_MAX; i++) {
		const uint8_t *e = (const uint8_t *)(uintptr_t)mm + 24 * i;
		if (!rd64(e + 8))
			continue; /* QEMU pads the table with an empty entry */
		pr("e820 %lx %lx %u\n", rd64(e), rd64(e + 8), rd32(e + 16));
	}
}

static int printable(const uint8_t *p, uint32_t len)
{
	if (!len || p[len - 1])
		return 0;
	for (uint32_t i = 0; i + 1 < len; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return 0;
	return 1;
}

/* Walk the flattened device tree and print every property (bounded by totalsize). */
static void report_fdt(const uint8_t *fdt)
{
	if (be32(fdt) != 0xd00dfeed) {
		check(0, "boot descriptor magic");
		return;
	}
	uint32_t total = be32(fdt + 4), off_struct = be32(fdt + 8), off_strings = be32(fdt + 12);
	uint32_t size_struct = be32(fdt + 36);
	check(total <= LAYOUT_BOOT_DESC_MAX, "boot descriptor size");
	if (total > LAYOUT_BOOT_DESC_MAX || off_struct > total || size_struct > total - off_struct)
		return;
	char path[256] = "";
	size_t plen = 0;
	size_t stack[16];
	int depth = 0;
	uint32_t pos = off_struct, end = off_struct + size_struct;
	while (pos + 4 <= end) {
		uint32_t tok = be32(fdt + pos);
		pos += 4;
		if (tok == 1) { /* BEGIN_NODE */
			const char *name = (const char *)fdt + pos;
			size_t nl = 0;
			while (pos + nl < end && name[nl])
				nl++;
			pos += (uint32_t)((nl + 4) & ~3u);
			if (depth >= 16 || plen + nl + 2 >= sizeof(path)) {
				check(0, "boot descriptor nesting");
				return;
			}
			stack[depth++] = plen;
			if (depth > 1 || nl) {
				path[plen++] = '/';
				memcpy(path + plen, name, nl);
				plen += nl;
			}
			path[plen] = 0;
		} else if (tok == 2) { /* END_NODE */
			if (!depth)
				return;
			plen = stack[--depth];
			path[plen] = 0;
		} else if (tok == 3) { /* PROP */
			if (pos + 8 > end)
				return;
			uint32_t len = be32(fdt + pos), nameoff = be32(fdt + pos + 4);
			pos += 8;
			if (len > end - pos)
				return;
			const uint8_t *val = fdt + pos;
			const char *pname = (const char *)fdt + off_strings + nameoff;
			if (!memcmp(path, "/" BOOT_DESC_NODE_CPUS, sizeof("/" BOOT_DESC_NODE_CPUS)) &&
			    !memcmp(pname, BOOT_DESC_PROP_AP_START, sizeof(BOOT_DESC_PROP_AP_START)) &&
			    len == sizeof(BOOT_DESC_AP_START_DIRECT) &&
			    !memcmp(val, BOOT_DESC_AP_START_DIRECT, len))
				ap_start_direct = 1;
			pr("fdt %s %s ", plen ? path : "/", pname);
			if (printable(val, len))
				pr("%s\n", (const char *)val);
			else if (len == 4)
				pr("%u\n", be32(val));
			else if (len == 8)
				pr("%lx\n", (uint64_t)be32(val) << 32 | be32(val + 4));
			else {
				pr_hex(val, len > 64 ? 64 : len);
				pr("\n");
			}
			pos += (len + 3) & ~3u;
		} else if (tok == 4) { /* NOP */
		} else {
			break; /* END or garbage */
		}
	}
}

static int acpi_sum_ok(const uint8_t *p, uint32_t len)
{
	uint8_t s = 0;
	for (uint32_t i = 0; i < len; i++)
		s = (uint8_t)(s + p[i]);
	return s == 0;
}

static unsigned count_str(const uint8_t *p, uint32_t len, const char *s)
{
	size_t sl = strlen(s);
	unsigned n = 0;
	for (uint32_t i = 0; i + sl <= len; i++)
		if (!memcmp(p + i, s, sl))
			n++;
	return n;
}

static uint16_t sleep_ctl_port; /* from the FADT, 0 if none */

static void report_table(const uint8_t *t)
{
	uint32_t len = rd32(t + 4);
	int ok = len >= 36 && len < (1u << 20) && acpi_sum_ok(t, len);
	pr("acpi %c%c%c%c %lx %u %s\n", t[0], t[1], t[2], t[3], (uint64_t)(uintptr_t)t, len,
	   ok ? "ok" : "bad");
	check(ok, "acpi table checksum");
	if (!ok)
		return;
	if (!memcmp(t, "APIC", 4)) {
		unsigned lapics = 0;
		uint32_t ioapic = 0;
		for (uint32_t off = 44; off + 2 <= len;) {
			uint8_t type = t[off], elen = t[off + 1];
			if (elen < 2 || off + elen > len)
				break;
			if (type == 0 && elen >= 8 && (rd32(t + off + 4) & 1))
				lapics++;
			if (type == 1 && elen >= 12)
				ioapic = rd32(t + off + 4);
			off += elen;
		}
		pr("acpi madt lapics %u ioapic %x\n", lapics, ioapic);
	} else if (!memcmp(t, "FACP", 4) && len >= 148) {
		if (len >= 256 && t[244] == 1) /* SLEEP_CONTROL_REG in system I/O space */
			sleep_ctl_port = (uint16_t)rd64(t + 248);
		uint64_t dsdt = rd64(t + 140);
		if (dsdt)
			report_table((const uint8_t *)(uintptr_t)dsdt);
	} else if (!memcmp(t, "DSDT", 4)) {
		pr("acpi dsdt lnro0005 %u pnp0501 %u qemu0001 %u\n", count_str(t, len, "LNRO0005"),
		   count_str(t, len, "PNP0501") + count_str(t, len, "\x41\xd0\x05\x01"),
		   count_str(t, len, "QEMU0001"));
	}
}

static const uint8_t *find_rsdp(const struct payload_info *info)
{
	uint64_t a = 0;
	if (info->zero_page)
		a = rd64(info->zero_page + ZP_ACPI_RSDP);
	else if (info->pvh_start)
		a = rd64(info->pvh_start + 32);
	if (a)
		return (const uint8_t *)(uintptr_t)a;
	for (uint64_t p = 0xe0000; p < 0x100000; p += 16)
		if (!memcmp((const void *)(uintptr_t)p, "RSD PTR ", 8))
			return (const uint8_t *)(uintptr_t)p;
	return NULL;
}

static void report_acpi(const struct payload_info *info)
{
	const uint8_t *rsdp = find_rsdp(info);
	if (!rsdp) {
		pr("acpi none\n");
		return;
	}
	int ok = !memcmp(rsdp, "RSD PTR ", 8) && acpi_sum_ok(rsdp, 20) && rsdp[15] >= 2 &&
		 acpi_sum_ok(rsdp, 36);
	pr("acpi rsdp %lx %s\n", (uint64_t)(uintptr_t)rsdp, ok ? "ok" : "bad");
	check(ok, "rsdp checksum");
	if (!ok)
		return;
	const uint8_t *xsdt = (const uint8_t *)(uintptr_t)rd64(rsdp + 24);
	report_table(xsdt);
	uint32_t len = rd32(xsdt + 4);
	for (uint32_t off = 36; off + 8 <= len && off < 36 + 8 * 32; off += 8)
		report_table((const uint8_t *)(uintptr_t)rd64(xsdt + off));
}

/* ---- serial console ---- */

/* Write a line to COM1 if there is one (LSR reads all-ones on an empty port). */
static void report_serial(void)
{
	uint16_t com1 = LAYOUT_PORT_SERIAL;
	if (inb(com1 + 5) == 0xff) {
		pr("serial none\n");
		return;
	}
	outb(com1 + 3, 0x03); /* 8N1 */
	for (const char *c = "parma payload on ttyS0\n"; *c; c++) {
		for (int spin = 0; spin < 100000 && !(inb(com1 + 5) & 0x20); spin++)
			;
		outb(com1, (uint8_t)*c);
	}
	pr("serial ok\n");
}

/* Read one line from COM1 (bounded wait) and report it: the console's input path. */
static void serial_echo(void)
{
	uint16_t com1 = LAYOUT_PORT_SERIAL;
	char line[64];
	size_t n = 0;
	for (uint32_t spin = 0; spin < 2000000 && n + 1 < sizeof(line); spin++) {
		if (!(inb(com1 + 5) & 0x01))
			continue;
		char c = (char)inb(com1);
		if (c == '\n')
			break;
		line[n++] = c;
	}
	line[n] = 0;
	pr("serial in %s\n", line);
}

/* ---- application processors ---- */

extern const uint8_t payload_trampoline[], payload_trampoline_end[], payload_trampoline_cr3[];

#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define ICR_ALL_BUT_SELF (3u << 18)
#define ICR_ASSERT (1u << 14)
#define ICR_INIT (5u << 8)
#define ICR_SIPI (6u << 8)

static void spin(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		__asm__ volatile("pause");
}

/* Wake every AP the way Linux does: INIT, then SIPI twice, to the trampoline page. */
static void start_aps_sipi(void)
{
	size_t len = (size_t)(payload_trampoline_end - payload_trampoline);
	uint8_t *page = (uint8_t *)(uintptr_t)LAYOUT_AP_TRAMPOLINE;
	memcpy(page, payload_trampoline, len);
	uint64_t cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	uint32_t cr3_32 = (uint32_t)cr3;
	memcpy(page + (payload_trampoline_cr3 - payload_trampoline), &cr3_32, 4);
	mmio_write32(LAYOUT_LAPIC + LAPIC_ICR_HI, 0);
	mmio_write32(LAYOUT_LAPIC + LAPIC_ICR_LO, ICR_ALL_BUT_SELF | ICR_ASSERT | ICR_INIT);
	spin(100000);
	for (int i = 0; i < 2; i++) {
		mmio_write32(LAYOUT_LAPIC + LAPIC_ICR_LO, ICR_ALL_BUT_SELF | ICR_ASSERT | ICR_SIPI |
							  (uint32_t)(LAYOUT_AP_TRAMPOLINE >> 12));
		spin(10000);
	}
}

/* ---- entry ---- */

static void ap_main(uint32_t index)
{
	if (index < 64)
		cpu_apic[index] = apic_id();
	__atomic_fetch_add(&cpus_arrived, 1, __ATOMIC_SEQ_CST);
	for (;;)
		__asm__ volatile("cli; hlt");
}

extern const struct payload_test payload_tests_start[], payload_tests_end[];

void payload_start(uint64_t boot_desc, uint64_t zero_page, uint64_t index, uint64_t pvh);

void payload_start(uint64_t boot_desc, uint64_t zero_page, uint64_t index, uint64_t pvh)
{
	if (index)
		ap_main((uint32_t)index);
	struct payload_info info = {
		.zero_page = (const uint8_t *)(uintptr_t)zero_page,
		.boot_desc = (const uint8_t *)(uintptr_t)boot_desc,
		.pvh_start = (const uint8_t *)(uintptr_t)pvh,
		.cmdline = "",
	};
	if (info.zero_page) {
		uint64_t c = rd32(info.zero_page + ZP_CMD_LINE_PTR) |
			     (uint64_t)rd32(info.zero_page + ZP_EXT_CMD_LINE_PTR) << 32;
		if (c)
			info.cmdline = (const char *)(uintptr_t)c;
	} else if (info.pvh_start && rd32(info.pvh_start) == PVH_MAGIC && rd64(info.pvh_start + 24)) {
		info.cmdline = (const char *)(uintptr_t)rd64(info.pvh_start + 24);
	}
	if (cmdline_has(info.cmdline, "payload.exit=early"))
		payload_exit(0);

	pr("payload start entry=%s\n", info.pvh_start ? "pvh" : "64");
	pr("cmdline %s\n", info.cmdline);
	if (info.zero_page)
		report_zero_page(info.zero_page);
	else if (info.pvh_start)
		report_pvh(info.pvh_start);
	if (info.boot_desc)
		report_fdt(info.boot_desc);
	report_acpi(&info);
	report_serial();

	/* vCPUs: the BSP counts itself; APs entered directly count themselves. */
	cpu_apic[0] = apic_id();
	__atomic_fetch_add(&cpus_arrived, 1, __ATOMIC_SEQ_CST);
	uint32_t expected = cpuid_logical_count();
	if (!expected)
		expected = 1;
	if (expected > 1 && !ap_start_direct) {
		pr("aps start sipi\n");
		start_aps_sipi();
	}
	for (uint64_t spin = 0; spin < 200000000ull && cpus_arrived < expected; spin++)
		__asm__ volatile("pause");
	info.vcpus_online = cpus_arrived;
	pr("vcpus %u expected %u\n", info.vcpus_online, expected);
	for (uint32_t i = 0; i < 64 && i < expected; i++)
		if (i == 0 || cpu_apic[i])
			pr("cpu %u apic %u\n", i, cpu_apic[i]);
	check(info.vcpus_online == expected, "all vCPUs online");

	for (const struct payload_test *t = payload_tests_start; t < payload_tests_end; t++) {
		int f = t->run(&info);
		pr("test %s %d\n", t->name, f);
		if (f > 0)
			failures += (unsigned)f;
	}
	boot_mark(2);
	if (cmdline_has(info.cmdline, "payload.serial-echo"))
		serial_echo();
	if (cmdline_has(info.cmdline, "payload.fail"))
		check(0, "payload.fail requested");
	if (cmdline_has(info.cmdline, "payload.reset")) {
		pr("payload reset\n");
		outb(LAYOUT_PORT_I8042_CMD, 0xfe);
	}
	if (cmdline_has(info.cmdline, "payload.poweroff") && sleep_ctl_port) {
		/* ACPI S5 the way Linux does it on hardware-reduced ACPI. */
		pr("payload poweroff port %x\n", sleep_ctl_port);
		outb(sleep_ctl_port, (uint8_t)((LAYOUT_ACPI_SLP_TYP_S5 << 2) | 0x20));
	}
	if (cmdline_has(info.cmdline, "payload.panic")) {
		pr("payload panic\n");
		outb(LAYOUT_PORT_PVPANIC, 1);
	}
	if (cmdline_has(info.cmdline, "payload.hang")) {
		pr("payload hang\n");
		for (;;)
			__asm__ volatile("cli; hlt");
	}
	pr("payload done failures %u\n", failures);
	payload_exit((uint8_t)(failures > 255 ? 255 : failures));
}
