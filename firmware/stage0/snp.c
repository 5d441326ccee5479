/* SEV-SNP guest side: PVALIDATE and the GHCB MSR protocol (AMD GHCB spec,
 * "MSR protocol": page state change request 0x014 / response 0x015, and
 * termination request 0x100). No GHCB page is needed for these. */
#include "firmware/stage0/stage0.h"

#define MSR_GHCB 0xc0010130
#define GHCB_MSR_PSC_REQ 0x014ull
#define GHCB_MSR_PSC_RESP 0x015ull
#define GHCB_MSR_TERM_REQ 0x100ull
#define PSC_OP_PRIVATE 1ull
#define PSC_OP_SHARED 2ull
#define PVALIDATE_FAIL_SIZEMISMATCH 6

bool snp_active;
uint64_t snp_shared_alias = 0x100000000ull;

static void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}

static uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr) : "memory");
	return (uint64_t)hi << 32 | lo;
}

static void vmgexit(void)
{
	__asm__ volatile(".byte 0xf3, 0x0f, 0x01, 0xd9" : : : "memory"); /* VMGEXIT */
}

_Noreturn void snp_terminate(uint8_t code)
{
	wrmsr(MSR_GHCB, GHCB_MSR_TERM_REQ | (uint64_t)STAGE0_GHCB_REASON_SET << 12 |
				(uint64_t)code << 16);
	vmgexit();
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* Ask the hypervisor to make one 4 KiB page private or shared. */
int snp_psc(uint64_t gpa, bool to_private)
{
	uint64_t req = GHCB_MSR_PSC_REQ | (gpa & 0x000ffffffffff000ull) |
		       (to_private ? PSC_OP_PRIVATE : PSC_OP_SHARED) << 52;
	uint64_t resp;

	wrmsr(MSR_GHCB, req);
	vmgexit();
	resp = rdmsr(MSR_GHCB);
	if ((resp & 0xfff) != GHCB_MSR_PSC_RESP || (resp >> 32))
		return -1;
	return 0;
}

/* PVALIDATE (F2 0F 01 FF): RAX = VA, ECX = size (0: 4 KiB, 1: 2 MiB), EDX =
 * validate. EAX = 0 on success; CF = 1 means the page already was in that
 * state (fine: pages of the launch are validated by the secure processor). */
static int pvalidate(uint64_t va, int huge)
{
	int rc;
	__asm__ volatile(".byte 0xf2, 0x0f, 0x01, 0xff"
			 : "=a"(rc)
			 : "a"(va), "c"(huge), "d"(1)
			 : "memory", "cc");
	return rc;
}

/* Validate [start, end) (page aligned), with 2 MiB pages where the RMP has
 * them and 4 KiB pages elsewhere. */
int snp_pvalidate_range(uint64_t start, uint64_t end)
{
	for (uint64_t a = start; a < end;) {
		if (!(a & 0x1fffff) && end - a >= 0x200000) {
			int rc = pvalidate(a, 1);
			if (rc == 0) {
				a += 0x200000;
				continue;
			}
			if (rc != PVALIDATE_FAIL_SIZEMISMATCH)
				return -1;
			for (uint64_t e = a + 0x200000; a < e; a += 0x1000)
				if (pvalidate(a, 0))
					return -1;
			continue;
		}
		if (pvalidate(a, 0))
			return -1;
		a += 0x1000;
	}
	return 0;
}
