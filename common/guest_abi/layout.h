/* layout: the guest-physical memory map and I/O ports of a Parma x86-64 machine.
 *
 * One table for every component that must agree on where things are: the VMM
 * places them, the stage0 firmware and the test payload find them, the docs
 * (docs/vmm.md, "Guest memory map") describe them. Plain constants only, so
 * freestanding guest code and assembly may include this header too. */
#ifndef PARMA_COMMON_GUEST_ABI_LAYOUT_H
#define PARMA_COMMON_GUEST_ABI_LAYOUT_H

/* 64-bit constants: unsigned long long in C, a plain number in assembly. */
#ifdef __ASSEMBLER__
#define GUEST_ABI_U64(x) x
#else
#define GUEST_ABI_U64(x) x##ull
#endif

/* Low memory (below 1 MiB). */
#define LAYOUT_GDT             GUEST_ABI_U64(0x00000500) /* boot GDT (4 entries) */
#define LAYOUT_ZERO_PAGE       GUEST_ABI_U64(0x00007000) /* Linux boot_params (4 KiB) */
#define LAYOUT_AP_TRAMPOLINE   GUEST_ABI_U64(0x00008000) /* free page for an INIT-SIPI trampoline */
#define LAYOUT_PAGE_TABLES     GUEST_ABI_U64(0x00009000) /* PML4, PDPT, 4 PDs: identity map of 4 GiB */
#define LAYOUT_PAGE_TABLES_END GUEST_ABI_U64(0x0000f000)
#define LAYOUT_CMDLINE         GUEST_ABI_U64(0x00020000) /* kernel command line, NUL-terminated */
#define LAYOUT_CMDLINE_MAX     GUEST_ABI_U64(0x00010000)
#define LAYOUT_BOOT_DESC       GUEST_ABI_U64(0x00030000) /* boot descriptor (flattened device tree) */
#define LAYOUT_BOOT_DESC_MAX   GUEST_ABI_U64(0x00010000)
/* 0x40000-0x43000: SNP pages (snp_layout.h). */
#define LAYOUT_FW_CMDLINE      GUEST_ABI_U64(0x00050000) /* stage0's private copy of the cmdline */
#define LAYOUT_FW_CMDLINE_MAX  GUEST_ABI_U64(0x00010000)
#define LAYOUT_LOW_RAM_END     GUEST_ABI_U64(0x0009fc00) /* usable RAM below the EBDA */
#define LAYOUT_ACPI            GUEST_ABI_U64(0x000e0000) /* RSDP first, then the other tables */
#define LAYOUT_ACPI_MAX        GUEST_ABI_U64(0x0001f000) /* up to 0xff000, below the reset vector */
#define LAYOUT_RESET_VECTOR    GUEST_ABI_U64(0x000ffff0) /* real-mode reset vector: resets via the i8042 */
#define LAYOUT_HIGH_MEM        GUEST_ABI_U64(0x00100000) /* 1 MiB: firmware, kernel, payload */
#define LAYOUT_PAYLOAD         LAYOUT_HIGH_MEM           /* the test payload's link address */
#define LAYOUT_STAGE0          GUEST_ABI_U64(0x00400000) /* 4 MiB: the stage0 firmware image */

/* The 32-bit hole: RAM stops at LAYOUT_MMIO_GAP; RAM beyond it continues at 4 GiB. */
#define LAYOUT_MMIO_GAP        GUEST_ABI_U64(0xc0000000)
#define LAYOUT_MMIO_GAP_END    GUEST_ABI_U64(0x100000000)
#define LAYOUT_DEVICE_MMIO     GUEST_ABI_U64(0xd0000000) /* virtio-mmio and other MMIO devices, 4 KiB each */
#define LAYOUT_DEVICE_MMIO_END GUEST_ABI_U64(0xfec00000)
#define LAYOUT_DEVICE_MMIO_STRIDE GUEST_ABI_U64(0x1000)
#define LAYOUT_IOAPIC          GUEST_ABI_U64(0xfec00000)
#define LAYOUT_LAPIC           GUEST_ABI_U64(0xfee00000)

/* GSIs: 0-15 legacy ISA (serial 4), 16-23 the rest of the IOAPIC; devices get
 * LAYOUT_FIRST_DEVICE_GSI.. in order of creation. */
#define LAYOUT_SERIAL_GSI      4u
#define LAYOUT_FIRST_DEVICE_GSI 5u
#define LAYOUT_LAST_DEVICE_GSI 23u

/* I/O ports of the small devices. */
#define LAYOUT_PORT_I8042_DATA 0x60
#define LAYOUT_PORT_I8042_CMD  0x64
#define LAYOUT_PORT_DEBUGCON   0xe9  /* bytes written here go to the VMM's debug log */
#define LAYOUT_PORT_DEBUG_EXIT 0xf4  /* a byte written here ends the VM with that status */
#define LAYOUT_PORT_SERIAL     0x3f8 /* COM1, 8 ports */
#define LAYOUT_PORT_BOOT_TIMER 0x440 /* 32-bit milestone id: the VMM timestamps it */
#define LAYOUT_PORT_PVPANIC    0x505 /* pvpanic: the guest panicked */
#define LAYOUT_PORT_ACPI_SLEEP_CTL 0x600 /* FADT SLEEP_CONTROL_REG (S5 = power off) */
#define LAYOUT_PORT_ACPI_SLEEP_STS 0x601 /* FADT SLEEP_STATUS_REG */
#define LAYOUT_ACPI_SLP_TYP_S5 5      /* the \_S5 value the DSDT declares */

/* Boot GDT selectors (Linux boot protocol: __BOOT_CS / __BOOT_DS). */
#define LAYOUT_BOOT_CS 0x10
#define LAYOUT_BOOT_DS 0x18

#ifndef __ASSEMBLER__
/* The low-memory areas, in order, do not overlap (snp_layout.h checks the SNP pages). */
_Static_assert(LAYOUT_PAGE_TABLES_END <= LAYOUT_CMDLINE, "page tables run into the cmdline");
_Static_assert(LAYOUT_CMDLINE + LAYOUT_CMDLINE_MAX <= LAYOUT_BOOT_DESC,
	       "cmdline runs into the boot descriptor");
_Static_assert(LAYOUT_FW_CMDLINE + LAYOUT_FW_CMDLINE_MAX <= LAYOUT_LOW_RAM_END,
	       "firmware cmdline copy runs past low RAM");
_Static_assert(LAYOUT_ACPI + LAYOUT_ACPI_MAX <= LAYOUT_HIGH_MEM, "ACPI runs past 1 MiB");
#endif

#endif
