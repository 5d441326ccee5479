/* Guest side of the virtio-blk KVM test (enabled by "virtio.blk" on the
 * command line): read the first MiB of the first disk and verify the host's
 * pattern, write another pattern to the second MiB for the host to check,
 * flush, and report the disk's serial. Several requests are kept in flight. */
#include "payload.h"
#include "virtio_drv.h"

#define BLK_T_IN 0u
#define BLK_T_OUT 1u
#define BLK_T_FLUSH 4u
#define BLK_T_GET_ID 8u
#define MIB (1u << 20)
#define CHUNK (64u * 1024u)
#define SPINS 400000000ull

/* The host writes READ_KEY ^ offset into every 64-bit word of the first MiB
 * and checks WRITE_KEY ^ offset in the second (tests/kvm/devices uses the same
 * keys). Words, not bytes: guest CPU time is precious under nested KVM. */
#define READ_KEY 0x5041524d41000000ull
#define WRITE_KEY 0x7061726d61000001ull

struct blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

static struct vdrv_dev dev;
static uint64_t hdrs, statuses, data;

/* Queue request slot s (3 descriptors: 3s..3s+2). */
static void submit(uint16_t s, uint32_t type, uint64_t sector, uint64_t buf, uint32_t len,
		   int writable)
{
	struct vdrv_queue *q = &dev.q[0];
	volatile struct blk_hdr *h = (volatile struct blk_hdr *)(uintptr_t)(hdrs + 16u * s);
	h->type = type;
	h->reserved = 0;
	h->sector = sector;
	volatile uint8_t *st = (volatile uint8_t *)(uintptr_t)(statuses + s);
	*st = 0xff;
	uint16_t d = (uint16_t)(3 * s);
	vdrv_set_desc(q, d, hdrs + 16u * s, 16, 1, (uint16_t)(d + 1));
	if (len) {
		vdrv_set_desc(q, (uint16_t)(d + 1), buf, len, (uint16_t)(1 | (writable ? 2 : 0)),
			      (uint16_t)(d + 2));
		vdrv_set_desc(q, (uint16_t)(d + 2), statuses + s, 1, 2, 0);
	} else {
		vdrv_set_desc(q, (uint16_t)(d + 1), statuses + s, 1, 2, 0);
	}
	vdrv_publish(q, d);
}

/* Wait for n completions; count those with a bad status. */
static int complete(unsigned n)
{
	int bad = 0;
	for (unsigned i = 0; i < n; i++) {
		uint32_t id, len;
		if (vdrv_wait_used(&dev.q[0], &id, &len, SPINS) < 0) {
			pr("virtio-blk: request timed out\n");
			return bad + (int)(n - i);
		}
		uint8_t st = *(volatile uint8_t *)(uintptr_t)(statuses + id / 3);
		if (id % 3 || st != 0) {
			pr("virtio-blk: request %u status %u\n", id / 3, st);
			bad++;
		}
	}
	return bad;
}

/* Move one MiB at `sector` in 16 chunks, 4 requests in flight. */
static int transfer(uint32_t type, uint64_t sector)
{
	int bad = 0;
	for (uint32_t c = 0; c < MIB / CHUNK; c += 4) {
		for (uint16_t s = 0; s < 4; s++) {
			uint32_t off = (c + s) * CHUNK;
			submit(s, type, sector + off / 512, data + off, CHUNK, type == BLK_T_IN);
		}
		vdrv_kick(&dev, 0);
		bad += complete(4);
	}
	return bad;
}

static int blk_test(const struct payload_info *info)
{
	if (!cmdline_has(info->cmdline, "virtio.blk"))
		return 0;
	int fail = 0;
	if (vdrv_find(2, 0, &dev) < 0 || vdrv_init(&dev, 0, 1) < 0) {
		pr("virtio-blk: no usable device\n");
		return 1;
	}
	pr("virtio-blk at %lx capacity %lu\n", dev.base, vdrv_config64(&dev, 0));
	hdrs = vdrv_alloc(16 * 8, 16);
	statuses = vdrv_alloc(8, 8);
	data = vdrv_alloc_raw(MIB, 4096);
	if (!hdrs || !statuses || !data)
		return 1;

	int bad = transfer(BLK_T_IN, 0);
	uint32_t wrong = 0;
	const uint64_t *p = (const uint64_t *)(uintptr_t)data;
	for (uint32_t i = 0; i < MIB / 8; i++)
		wrong += p[i] != (READ_KEY ^ (8ull * i));
	pr("virtio-blk read 1048576 errors %d word-mismatches %u\n", bad, wrong);
	fail += bad || wrong;

	uint64_t *w = (uint64_t *)(uintptr_t)data;
	for (uint32_t i = 0; i < MIB / 8; i++)
		w[i] = WRITE_KEY ^ (8ull * i);
	bad = transfer(BLK_T_OUT, MIB / 512);
	pr("virtio-blk write 1048576 errors %d\n", bad);
	fail += bad != 0;

	submit(0, BLK_T_FLUSH, 0, 0, 0, 0);
	vdrv_kick(&dev, 0);
	bad = complete(1);
	pr("virtio-blk flush errors %d\n", bad);
	fail += bad != 0;

	char id[21];
	memset(id, 0, sizeof(id));
	submit(0, BLK_T_GET_ID, 0, data, 20, 1);
	vdrv_kick(&dev, 0);
	bad = complete(1);
	memcpy(id, (const void *)(uintptr_t)data, 20);
	pr("virtio-blk id %s\n", id);
	fail += bad != 0;
	pr("virtio-blk status %x\n", vdrv_status(&dev));
	return fail;
}

PAYLOAD_TEST("virtio-blk", blk_test);
