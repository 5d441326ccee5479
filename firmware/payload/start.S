/* Payload entry points.
 *
 * payload_entry64 (the ELF e_entry): the VMM's 64-bit entry (Linux 64-bit boot
 *   protocol shape): long mode, identity-mapped low 4 GiB, RSI = zero page,
 *   RDI = boot descriptor (0 if none), RDX = vCPU index (0 on the BSP; APs
 *   entered directly get their index).
 * payload_entry32 (the PVH ELF note, for QEMU's `-kernel`): 32-bit flat
 *   protected mode, paging off, EBX = hvm_start_info. Builds its own identity
 *   map and switches to long mode.
 * Both first write milestone 1 to the boot-timer port ("first guest
 * instruction") — on machines without the probe the write is ignored. */
#include "common/guest_abi/layout.h"

#define BOOT_TIMER_PORT LAYOUT_PORT_BOOT_TIMER
#define STACK_SIZE 8192

/* The guest ABI's load address as a symbol: payload.ld asserts it links the image there. */
	.globl payload_abi_load_addr
	.set payload_abi_load_addr, LAYOUT_PAYLOAD
#define MAX_VCPUS 64

	.section .note.pvh, "a"
	.balign 4
	.long 4                 /* namesz: "Xen\0" */
	.long 4                 /* descsz */
	.long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.balign 4
	.long payload_entry32
	.balign 4

	.section .text.entry, "ax"
	.code64
	.globl payload_entry64
payload_entry64:
	mov %edx, %r8d
	mov $BOOT_TIMER_PORT, %dx
	mov $1, %eax
	outl %eax, %dx
	mov %r8d, %edx
	xor %ecx, %ecx          /* entered through the 64-bit path */
common64:
	/* Stack: one STACK_SIZE slice per vCPU index (bounded). */
	mov %edx, %eax
	cmp $MAX_VCPUS, %eax
	jb 1f
	mov $(MAX_VCPUS - 1), %eax
1:	inc %eax
	imul $STACK_SIZE, %eax
	lea payload_stacks(%rip), %rsp
	add %rax, %rsp
	xor %ebp, %ebp
	/* payload_start(zero_page, boot_desc, vcpu_index, pvh_start_info) */
	call payload_start
2:	cli
	hlt
	jmp 2b

	.code32
	.globl payload_entry32
payload_entry32:
	mov %ebx, %esi          /* start_info */
	mov $BOOT_TIMER_PORT, %dx
	mov $1, %eax
	outl %eax, %dx
	/* PML4[0] -> PDPT, PDPT[0..3] -> PD0..3, each PD maps 1 GiB with 2 MiB pages. */
	mov $pvh_pml4, %edi
	lea 0x1003(%edi), %eax          /* pvh_pml4 + 4096 = PDPT */
	mov %eax, (%edi)
	movl $0, 4(%edi)
	xor %ecx, %ecx
3:	lea 0x2003(%edi), %eax          /* PD base */
	mov %ecx, %ebx
	shl $12, %ebx
	add %ebx, %eax
	mov %eax, 0x1000(%edi,%ecx,8)
	movl $0, 0x1004(%edi,%ecx,8)
	inc %ecx
	cmp $4, %ecx
	jb 3b
	xor %ecx, %ecx                  /* 2048 entries of 2 MiB */
4:	mov %ecx, %eax
	shl $21, %eax
	or $0x83, %eax
	mov %eax, 0x2000(%edi,%ecx,8)
	mov %ecx, %eax
	shr $11, %eax
	mov %eax, 0x2004(%edi,%ecx,8)
	inc %ecx
	cmp $2048, %ecx
	jb 4b
	mov %edi, %cr3
	mov %cr4, %eax
	or $0x20, %eax                  /* PAE */
	mov %eax, %cr4
	mov $0xc0000080, %ecx           /* EFER.LME */
	rdmsr
	or $0x100, %eax
	wrmsr
	lgdt pvh_gdt_desc
	mov %cr0, %eax
	or $0x80000001, %eax            /* PG | PE */
	mov %eax, %cr0
	ljmp $0x08, $pvh_long

	.code64
pvh_long:
	mov $0x10, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov %esi, %ecx                  /* start_info */
	xor %esi, %esi                  /* no zero page */
	xor %edi, %edi                  /* no boot descriptor */
	xor %edx, %edx                  /* BSP */
	jmp common64

	/* APs woken by INIT-SIPI land here from the trampoline in long mode,
	 * EDX = APIC ID (== vCPU index on our VMM and QEMU's). */
	.globl payload_sipi64
payload_sipi64:
	mov $0x10, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	xor %esi, %esi
	xor %edi, %edi
	xor %ecx, %ecx
	jmp common64

/* The INIT-SIPI trampoline: copied by the BSP to TRAMP (a page below 1 MiB), so
 * every address inside is computed relative to TRAMP. Real mode → protected
 * mode → long mode with the BSP's CR3 (stored at tramp_cr3 by the BSP). */
#define TRAMP 0x8000
#define T(sym) (TRAMP + (sym) - payload_trampoline)
	.section .rodata
	.globl payload_trampoline, payload_trampoline_end, payload_trampoline_cr3
	.code16
payload_trampoline:
	cli
	xor %ax, %ax
	mov %ax, %ds
	lgdtl T(tramp_gdt_desc)
	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	ljmpl $0x08, $T(tramp32)
	.code32
tramp32:
	mov $0x10, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov %cr4, %eax
	or $0x20, %eax
	mov %eax, %cr4
	mov T(payload_trampoline_cr3), %eax
	mov %eax, %cr3
	mov $0xc0000080, %ecx
	rdmsr
	or $0x100, %eax
	wrmsr
	mov %cr0, %eax
	or $0x80000000, %eax
	mov %eax, %cr0
	ljmp $0x18, $T(tramp64)
	.code64
tramp64:
	mov $1, %eax
	cpuid
	shr $24, %ebx
	mov %ebx, %edx
	movabs $payload_sipi64, %rax
	jmp *%rax
	.balign 8
tramp_gdt:
	.quad 0
	.quad 0x00cf9a000000ffff        /* 0x08: 32-bit code */
	.quad 0x00cf92000000ffff        /* 0x10: data */
	.quad 0x00af9a000000ffff        /* 0x18: 64-bit code */
tramp_gdt_desc:
	.word tramp_gdt_desc - tramp_gdt - 1
	.long T(tramp_gdt)
payload_trampoline_cr3:
	.long 0
payload_trampoline_end:

	.section .rodata
	.balign 8
pvh_gdt:
	.quad 0
	.quad 0x00af9b000000ffff        /* 0x08: 64-bit code */
	.quad 0x00cf93000000ffff        /* 0x10: data */
pvh_gdt_desc:
	.word pvh_gdt_desc - pvh_gdt - 1
	.long pvh_gdt

	.section .bss
	.balign 4096
pvh_pml4:
	.skip 4096 * 6
	.balign 16
	.globl payload_stacks
payload_stacks:
	.skip STACK_SIZE * MAX_VCPUS
