/* A minimal reader of the boot descriptor FDT (devicetree spec v17 format):
 * walks the structure block once and picks the /memory-map and /boot
 * properties of docs/vmm.md "Boot descriptor". The descriptor is measured, but
 * it is still parsed defensively: every offset and length is bounds-checked. */
#include "firmware/stage0/stage0.h"

#include "common/guest_abi/boot_desc.h"
#include "common/guest_abi/layout.h"

#define FDT_MAGIC 0xd00dfeed
#define FDT_MAX_SIZE LAYOUT_BOOT_DESC_MAX
#define TOK_BEGIN 1
#define TOK_END_NODE 2
#define TOK_PROP 3
#define TOK_NOP 4
#define TOK_END 9

enum node { NODE_OTHER, NODE_ROOT, NODE_MEMMAP, NODE_BOOT };

static int prop_u64(const uint8_t *v, uint32_t len, uint64_t *out)
{
	if (len != 8)
		return -1;
	*out = be64(v);
	return 0;
}

static int boot_prop(struct boot_info *bi, const char *name, const uint8_t *v, uint32_t len)
{
	static const struct { const char *name; size_t off; } u64s[] = {
		{ BOOT_DESC_PROP_KERNEL_SIZE, offsetof(struct boot_info, kernel_size) },
		{ BOOT_DESC_PROP_INITRD_SIZE, offsetof(struct boot_info, initrd_size) },
		{ BOOT_DESC_PROP_KERNEL_ADDR, offsetof(struct boot_info, kernel_addr) },
		{ BOOT_DESC_PROP_INITRD_ADDR, offsetof(struct boot_info, initrd_addr) },
		{ BOOT_DESC_PROP_CMDLINE_ADDR, offsetof(struct boot_info, cmdline_addr) },
		{ BOOT_DESC_PROP_ACPI_RSDP, offsetof(struct boot_info, acpi_rsdp) },
	};
	static const struct { const char *name; size_t off; } hashes[] = {
		{ BOOT_DESC_PROP_CMDLINE_SHA256, offsetof(struct boot_info, cmdline_sha256) },
		{ BOOT_DESC_PROP_KERNEL_SHA256, offsetof(struct boot_info, kernel_sha256) },
		{ BOOT_DESC_PROP_INITRD_SHA256, offsetof(struct boot_info, initrd_sha256) },
	};
	for (size_t i = 0; i < sizeof(u64s) / sizeof(u64s[0]); i++)
		if (streq(name, u64s[i].name))
			return prop_u64(v, len, (uint64_t *)((uint8_t *)bi + u64s[i].off));
	for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++) {
		if (streq(name, hashes[i].name)) {
			if (len != BOOT_DESC_SHA256_SIZE)
				return -1;
			*(const uint8_t **)((uint8_t *)bi + hashes[i].off) = v;
			return 0;
		}
	}
	if (streq(name, BOOT_DESC_PROP_MODE)) {
		if (!len || v[len - 1])
			return -1;
		bi->firmware_mode = streq((const char *)v, BOOT_DESC_MODE_FIRMWARE);
	} else if (streq(name, BOOT_DESC_PROP_CMDLINE)) {
		if (!len || v[len - 1])
			return -1;
		bi->cmdline = (const char *)v;
	}
	return 0;
}

static int memmap_prop(struct boot_info *bi, const char *name, const uint8_t *v, uint32_t len)
{
	if (!streq(name, BOOT_DESC_PROP_ENTRIES))
		return 0;
	if (len % BOOT_DESC_E820_ENTRY_SIZE || len / BOOT_DESC_E820_ENTRY_SIZE > DESC_MAX_E820)
		return -1;
	bi->n_e820 = len / BOOT_DESC_E820_ENTRY_SIZE;
	for (unsigned i = 0; i < bi->n_e820; i++) {
		bi->e820[i].addr = be64(v + BOOT_DESC_E820_ENTRY_SIZE * i);
		bi->e820[i].size = be64(v + BOOT_DESC_E820_ENTRY_SIZE * i + 8);
		bi->e820[i].type = be32(v + BOOT_DESC_E820_ENTRY_SIZE * i + 16);
	}
	return 0;
}

int desc_parse(const uint8_t *fdt, struct boot_info *bi)
{
	uint32_t total, off_struct, off_strings, size_struct, size_strings, pos, depth = 0;
	enum node cur = NODE_OTHER;

	memset(bi, 0, sizeof(*bi));
	if (be32(fdt) != FDT_MAGIC)
		return -1;
	total = be32(fdt + 4);
	off_struct = be32(fdt + 8);
	off_strings = be32(fdt + 12);
	size_strings = be32(fdt + 32);
	size_struct = be32(fdt + 36);
	if (total > FDT_MAX_SIZE || be32(fdt + 20) < 17 || off_struct > total ||
	    size_struct > total - off_struct || off_strings > total ||
	    size_strings > total - off_strings)
		return -1;
	const uint8_t *s = fdt + off_struct;
	for (pos = 0; pos + 4 <= size_struct;) {
		uint32_t tok = be32(s + pos);
		pos += 4;
		if (tok == TOK_BEGIN) {
			uint32_t n = (uint32_t)strnlen((const char *)s + pos, size_struct - pos);
			if (pos + n >= size_struct)
				return -1;
			const char *name = (const char *)s + pos;
			depth++;
			cur = depth == 1 ? NODE_ROOT
			      : depth == 2 && streq(name, BOOT_DESC_NODE_MEMORY_MAP) ? NODE_MEMMAP
			      : depth == 2 && streq(name, BOOT_DESC_NODE_BOOT) ? NODE_BOOT : NODE_OTHER;
			pos += (n + 1 + 3) & ~3u;
		} else if (tok == TOK_END_NODE) {
			if (!depth)
				return -1;
			depth--;
			cur = depth == 1 ? NODE_ROOT : NODE_OTHER;
		} else if (tok == TOK_PROP) {
			if (pos + 8 > size_struct)
				return -1;
			uint32_t len = be32(s + pos), nameoff = be32(s + pos + 4);
			pos += 8;
			if (len > size_struct - pos || nameoff >= size_strings)
				return -1;
			const char *name = (const char *)fdt + off_strings + nameoff;
			if (strnlen(name, size_strings - nameoff) == size_strings - nameoff)
				return -1;
			int rc = cur == NODE_BOOT ? boot_prop(bi, name, s + pos, len)
				 : cur == NODE_MEMMAP ? memmap_prop(bi, name, s + pos, len) : 0;
			if (rc)
				return -1;
			pos += (len + 3) & ~3u;
		} else if (tok == TOK_NOP) {
			continue;
		} else if (tok == TOK_END) {
			return depth == 0 && bi->n_e820 ? 0 : -1;
		} else {
			return -1;
		}
	}
	return -1;
}
