/* stage0 entry (docs/firmware.md, "Entry state").
 *
 * Entered in 32-bit flat protected mode, paging off, interrupts off, with
 * EDI = boot descriptor GPA and EDX = vCPU index. Only vCPU 0 boots; others
 * park. With paging off every access is private on SEV-SNP, so this code may
 * read the (measured) CPUID page before it knows the C-bit. It:
 *   1. loads its own GDT and a 32-bit IDT;
 *   2. reads SEV_STATUS (MSR C001_0131); a #GP means "not an SEV guest";
 *   3. on SNP takes the C-bit position from the SNP CPUID page (checked by
 *      the secure processor), never from the hypervisor's CPUID answer;
 *   4. builds page tables: 0-4 GiB identity mapped private (C-bit set), and
 *      4-8 GiB an alias of 0-4 GiB with the C-bit clear (the shared view);
 *   5. enters long mode and calls stage0_main(boot_desc, sev_status, c_bit). */
#include "firmware/stage0/stage0_abi.h"

/* The guest ABI's load address as a symbol: stage0.ld asserts it links the image there. */
	.globl stage0_abi_load_addr
	.set stage0_abi_load_addr, STAGE0_LOAD_ADDR

#define MSR_SEV_STATUS 0xc0010131
#define MSR_GHCB 0xc0010130
#define MSR_EFER 0xc0000080
#define STACK_SIZE 16384

	.section .text.entry, "ax"
	.code32
	.globl stage0_entry
stage0_entry:
	cli
	test %edx, %edx
	jnz park
	mov %edi, %ebp
	lgdt gdt_desc
	ljmp $0x08, $1f
1:	mov $0x18, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov %eax, %fs
	mov %eax, %gs
	mov $stack_top, %esp

	/* IDT: every vector halts with STAGE0_HALT_EXCEPTION except #GP, which
	 * the SEV_STATUS probe below expects on machines without SEV. */
	mov $idt32, %edi
	xor %ecx, %ecx
2:	mov $fault32, %eax
	cmp $13, %ecx
	jne 3f
	mov $gp32, %eax
3:	mov %ax, (%edi)
	movw $0x08, 2(%edi)
	movw $0x8e00, 4(%edi)
	shr $16, %eax
	mov %ax, 6(%edi)
	add $8, %edi
	inc %ecx
	cmp $32, %ecx
	jb 2b
	lidt idt32_desc

	xor %eax, %eax
	xor %edx, %edx
	mov $MSR_SEV_STATUS, %ecx
	rdmsr                           /* #GP without SEV: gp32 resumes at no_sev */
	mov %eax, sev_status
	mov %edx, sev_status + 4
no_sev:

	/* C-bit: only if SEV-SNP is active (SEV_STATUS bit 2). */
	xor %ebx, %ebx                  /* high dword of the C-bit mask */
	xor %esi, %esi                  /* C-bit position, 0 = none */
	testl $4, sev_status
	jz 6f
	mov $SNP_LAYOUT_CPUID, %edi
	mov (%edi), %ecx                /* entry count */
	cmp $64, %ecx
	ja no_cbit
	lea 16(%edi), %edi
4:	test %ecx, %ecx
	jz no_cbit
	cmpl $0x8000001f, (%edi)
	je 5f
	add $48, %edi
	dec %ecx
	jmp 4b
5:	mov 28(%edi), %esi              /* EBX[5:0] = C-bit position */
	and $0x3f, %esi
	cmp $32, %esi                   /* must lie in the high dword */
	jb no_cbit
	mov %esi, %ecx
	sub $32, %ecx
	mov $1, %ebx
	shl %cl, %ebx
6:	mov %esi, c_bit
	mov %ebx, c_mask_hi

	/* Page tables (bss, zeroed by the loader / measured as zero pages). */
	mov $pml4, %edi
	mov $pdpt, %eax
	or $0x3, %eax
	mov %eax, (%edi)
	mov %ebx, 4(%edi)
	/* PDPT[0..3] -> pd[0..3] (private), PDPT[4..7] -> pd[4..7] (shared alias) */
	mov $pdpt, %edi
	mov $pd, %eax
	or $0x3, %eax
	xor %ecx, %ecx
7:	mov %eax, (%edi,%ecx,8)
	mov %ebx, 4(%edi,%ecx,8)
	add $0x1000, %eax
	inc %ecx
	cmp $8, %ecx
	jb 7b
	/* 8 PDs x 512 entries of 2 MiB: entry i maps (i mod 2048) << 21. */
	mov $pd, %edi
	xor %ecx, %ecx
8:	mov %ecx, %eax
	and $2047, %eax
	shl $21, %eax
	or $0x83, %eax                  /* present, writable, 2 MiB */
	mov %eax, (%edi,%ecx,8)
	xor %edx, %edx
	cmp $2048, %ecx
	jae 9f
	mov %ebx, %edx                  /* private half: C-bit */
9:	mov %edx, 4(%edi,%ecx,8)
	inc %ecx
	cmp $4096, %ecx
	jb 8b

	mov %cr4, %eax
	or $0x20, %eax                  /* PAE */
	mov %eax, %cr4
	mov $pml4, %eax
	mov %eax, %cr3
	mov $MSR_EFER, %ecx
	rdmsr
	or $0x100, %eax                 /* LME */
	wrmsr
	mov %cr0, %eax
	or $0x80000001, %eax            /* PG | PE */
	mov %eax, %cr0
	ljmp $0x10, $long_mode

no_cbit:
	mov $STAGE0_HALT_SNP, %al
	jmp halt32

/* Halt with code %al: SNP → GHCB MSR termination request; else debug-exit port. */
halt32:
	movzbl %al, %esi
	testl $4, sev_status
	jz 1f
	mov $MSR_GHCB, %ecx
	mov %esi, %eax
	shl $16, %eax
	or $0x100 | (STAGE0_GHCB_REASON_SET << 12), %eax
	xor %edx, %edx
	wrmsr
	.byte 0xf3, 0x0f, 0x01, 0xd9     /* VMGEXIT (rep; vmmcall) */
1:	mov %esi, %eax
	mov $STAGE0_DEBUG_EXIT_PORT, %dx
	outb %al, %dx
2:	cli
	hlt
	jmp 2b

/* #GP: only the SEV_STATUS probe can raise it; no IRET (not every KVM
 * emulates a protected-mode IRET): reset the stack and continue as non-SEV. */
gp32:
	mov $stack_top, %esp
	movl $0, sev_status
	movl $0, sev_status + 4
	jmp no_sev

fault32:
	mov $STAGE0_HALT_EXCEPTION, %al
	jmp halt32

park:
	cli
	hlt
	jmp park

	.code64
long_mode:
	mov $0x18, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov %eax, %fs
	mov %eax, %gs
	/* Put the C-bit into CR3 too, now that 64-bit values fit. */
	mov c_mask_hi(%rip), %eax
	shl $32, %rax
	lea pml4(%rip), %rdx
	or %rdx, %rax
	mov %rax, %cr3
	lea stack_top(%rip), %rsp
	mov %ebp, %edi                  /* boot descriptor */
	mov sev_status(%rip), %rsi
	mov c_bit(%rip), %edx
	call stage0_main
1:	cli
	hlt
	jmp 1b

	.section .rodata
	.balign 16
gdt:
	.quad 0
	.quad 0x00cf9b000000ffff        /* 0x08: 32-bit code */
	.quad 0x00af9b000000ffff        /* 0x10: 64-bit code (Linux __BOOT_CS) */
	.quad 0x00cf93000000ffff        /* 0x18: data (Linux __BOOT_DS) */
gdt_end:
	.globl stage0_gdt_desc
stage0_gdt_desc:
gdt_desc:
	.word gdt_end - gdt - 1
	.quad gdt
idt32_desc:
	.word 32 * 8 - 1
	.long idt32

	.section .data
	.balign 8
	.globl sev_status
sev_status: .quad 0
c_bit: .long 0
c_mask_hi: .long 0

	.section .bss.pagetables, "aw", @nobits
	.balign 4096
pml4: .skip 4096
pdpt: .skip 4096
pd: .skip 8 * 4096
idt32: .skip 32 * 8
	.balign 16
stack: .skip STACK_SIZE
stack_top:
