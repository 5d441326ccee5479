/* Fuzz target for the kernel/firmware loaders (vmm/boot.c): the input is a file given to
 * `parma boot --kernel` or `--firmware`. The first byte picks the loader (ELF kernel above
 * high memory, firmware ELF anywhere, bzImage, or by magic), the rest is the file. A loaded
 * image also gets a zero page built from it, as `parma boot` does.
 * Properties checked (beyond ASan/UBSan): whatever loads lies inside guest RAM, and every
 * refusal carries a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vmm/boot.h"
#include "common/guest_abi/layout.h"

#define RAM (8u << 20)

static uint8_t *ram;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ram) {
		ram = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (ram == MAP_FAILED)
			abort();
	}
	if (size < 1)
		return 0;
	uint8_t mode = data[0] & 3;
	data++, size--;
	struct guest_mem gm = { 0 };
	if (guest_mem_add(&gm, 0, RAM, ram) < 0)
		abort();
	struct boot_image img = { 0 };
	struct errbuf eb = { 0 };
	int rc;
	switch (mode) {
	case 0: rc = boot_load_elf(&gm, data, size, "fuzz", LAYOUT_HIGH_MEM, &img, &eb); break;
	case 1: rc = boot_load_elf(&gm, data, size, "fuzz", 0, &img, &eb); break;
	case 2: rc = boot_load_bzimage(&gm, data, size, "fuzz", &img, &eb); break;
	default: rc = boot_load_kernel(&gm, data, size, "fuzz", &img, &eb); break;
	}
	if (rc < 0) {
		if (!errbuf_msg(&eb)[0])
			abort(); /* every refusal names its reason */
		return 0;
	}
	if (img.hi > RAM || img.lo > img.hi)
		abort();
	if (img.setup_header_len > sizeof(img.setup_header))
		abort();
	struct boot_zero_page_args za = {
		.kernel = &img, .mem_size = RAM, .cmdline_addr = LAYOUT_CMDLINE, .cmdline_len = 4,
		.initrd_addr = 0, .initrd_size = 0,
	};
	boot_write_zero_page(&gm, &za, &eb);
	return 0;
}
