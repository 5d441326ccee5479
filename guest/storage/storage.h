/* storage: the guest's block-device plumbing, linked into the statically linked parma-agent.
 *
 *   layer disk ──dm-verity (root hash from the policy)──▶ /dev/mapper/<name> ──erofs, ro──▶ dir
 *   scratch disk ──dm-crypt aes-xts-plain64 (key from getrandom, never leaves the guest)──▶ ext4
 *   lower dirs (policy order, base first) + upper/work on scratch ──overlayfs──▶ container rootfs
 *
 * Device-mapper is driven through its raw ioctls on /dev/mapper/control (no libdevmapper, no
 * udev): create, load table, resume; remove on teardown. Every argument that ends up in a
 * device-mapper table or a mount option string is validated first (the host chooses device
 * names and paths, the policy chooses hashes), so no host byte can add a table argument or a
 * mount option. Table and option construction are pure functions, unit-tested on the host;
 * everything that touches the kernel runs only in the guest (tests/e2e/guest).
 *
 * Errors: 0 or a negative errno; the errbuf names the device, path or field at fault.
 * I/O semantics: a dm-verity mismatch makes the read fail with EIO (the kernel default, no
 * restart/panic/ignore_zero_blocks option), so a container sees an I/O error, never altered
 * data. Nothing here prints. */
#ifndef PARMA_GUEST_STORAGE_STORAGE_H
#define PARMA_GUEST_STORAGE_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include "common/errbuf.h"

#define STORAGE_VERITY_BLOCK_SIZE 4096u
#define STORAGE_VERITY_ROOT_LEN 32u   /* SHA-256 */
#define STORAGE_VERITY_SALT_MAX 256u  /* veritysetup superblock limit */
#define STORAGE_VERITY_SB_SIZE 512u   /* on-disk veritysetup superblock (padded to a block) */
#define STORAGE_DM_NAME_MAX 127u      /* DM_NAME_LEN - 1 */
#define STORAGE_PATH_MAX 256u         /* longest device/mount path we accept */
#define STORAGE_TABLE_MAX 1024u       /* longest table string we ever build */
#define STORAGE_CRYPT_KEY_LEN 64u     /* aes-xts-plain64 with AES-256: two 256-bit keys */
#define STORAGE_OVERLAY_LOWER_MAX 128u

/* One dm-verity mapping: data blocks on data_dev, hash tree on hash_dev (the same device when
 * the tree is appended to the data) starting at hash_start_block (in 4096-byte blocks, i.e.
 * just after the veritysetup superblock). SHA-256, 4096-byte data and hash blocks, format 1. */
struct storage_verity {
	char data_dev[STORAGE_PATH_MAX];  /* "/dev/vda" or "254:0" */
	char hash_dev[STORAGE_PATH_MAX];
	uint64_t data_blocks;
	uint64_t hash_start_block;
	uint8_t root_hash[STORAGE_VERITY_ROOT_LEN];
	uint8_t salt[STORAGE_VERITY_SALT_MAX];
	size_t salt_len;
};

/* What a veritysetup (format 1) superblock says. Host-supplied and therefore untrusted; but the
 * salt and the block count both feed the root hash, so a lie only makes every read fail. */
struct storage_verity_sb {
	uint64_t data_blocks;
	uint8_t salt[STORAGE_VERITY_SALT_MAX];
	size_t salt_len;
};

/* ---- pure functions (host-testable) ---- */

/* A device-mapper device name we accept: 1..127 chars of [A-Za-z0-9._-], not "." or "..". */
int storage_dm_name_check(const char *name, struct errbuf *eb);

/* A device argument for a table: an absolute path of [A-Za-z0-9._/-] (no "..", < 256 chars) or
 * "MAJOR:MINOR" in decimal. */
int storage_device_check(const char *dev, struct errbuf *eb);

/* Parse the 512-byte veritysetup superblock in buf (len >= 512): signature "verity", version 1,
 * hash type 1, algorithm "sha256", 4096-byte blocks, salt <= 256 bytes, data_blocks != 0. */
int storage_verity_sb_parse(const uint8_t *buf, size_t len, struct storage_verity_sb *sb,
			    struct errbuf *eb);

/* The dm-verity table parameters ("1 DATA HASH 4096 4096 N START sha256 ROOT SALT|-") and the
 * mapped length in 512-byte sectors. out_size >= STORAGE_TABLE_MAX is always enough. */
int storage_verity_table(const struct storage_verity *v, char *out, size_t out_size,
			 uint64_t *sectors, struct errbuf *eb);

/* The dm-crypt table parameters ("aes-xts-plain64 HEXKEY 0 DEV 0"); key is
 * STORAGE_CRYPT_KEY_LEN bytes. out holds the key in hex: the caller wipes it (explicit_bzero). */
int storage_crypt_table(const char *dev, const uint8_t key[STORAGE_CRYPT_KEY_LEN], char *out,
			size_t out_size, struct errbuf *eb);

/* The overlayfs option string for lower dirs given in policy order (base layer first; overlayfs
 * wants the top first, so this reverses them), upper and work dirs: absolute paths without ',',
 * ':', '\\', whitespace or "..". upper and work may both be NULL for a read-only overlay. */
int storage_overlay_options(const char *const *lowers, size_t n_lowers, const char *upper,
			    const char *work, char *out, size_t out_size, struct errbuf *eb);

/* The data size of a converted layer (docs/images.md): buf holds the first 2048 bytes of the
 * image; the erofs superblock at byte 1024 must have magic 0xE0F5E1E2 and 4096-byte blocks;
 * *blocks receives its block count (the erofs image, and so the verity data, ends there). */
int storage_erofs_sb_blocks(const uint8_t *buf, size_t len, uint64_t *blocks, struct errbuf *eb);

/* ---- kernel operations (guest only) ---- */

/* Create device-mapper device `name` with one target of `type` ("verity", "crypt") spanning
 * `sectors`, load `params`, and resume it; then make sure /dev/mapper/<name> is a block node
 * for it. read_only sets DM_READONLY_FLAG; secret adds DM_SECURE_DATA_FLAG so the kernel wipes
 * its copies of the table (keys). On any failure the half-made device is removed.
 * dev_path (may be NULL) receives "/dev/mapper/<name>". */
int storage_dm_create(const char *name, const char *type, uint64_t sectors, const char *params,
		      int read_only, int secret, char *dev_path, size_t dev_path_size,
		      struct errbuf *eb);

/* Remove device-mapper device `name` and its /dev/mapper node. -ENXIO if it does not exist,
 * -EBUSY while it is mounted or open. */
int storage_dm_remove(const char *name, struct errbuf *eb);

/* Read the veritysetup superblock at byte offset sb_offset of device (a multiple of 4096) and
 * open a dm-verity mapping `name` for root_hash whose data is blocks [0, data_blocks) of the
 * device and whose tree follows the superblock: the layout of a `veritysetup format
 * --hash-offset=sb_offset` image with the tree appended to the data. Checks that the data
 * ends at or before sb_offset and that the device is large enough. */
int storage_verity_open(const char *name, const char *device, uint64_t sb_offset,
			const uint8_t root_hash[STORAGE_VERITY_ROOT_LEN], char *dev_path,
			size_t dev_path_size, struct errbuf *eb);

/* Open a layer disk in the `parma image convert` format (docs/images.md): erofs data, then at
 * data_size the veritysetup superblock and the tree. data_size comes from the erofs superblock
 * and must equal the verity superblock's block count. Nothing the host says about the layout
 * can make unverified data readable: every block served is checked against root_hash (which
 * must come from the policy). */
int storage_layer_open(const char *name, const char *device,
		       const uint8_t root_hash[STORAGE_VERITY_ROOT_LEN], char *dev_path,
		       size_t dev_path_size, struct errbuf *eb);

/* storage_layer_open + storage_erofs_mount on target; on a mount failure (e.g. EIO from a wrong
 * root hash) the mapping is removed again. */
int storage_layer_mount(const char *name, const char *device,
			const uint8_t root_hash[STORAGE_VERITY_ROOT_LEN], const char *target,
			struct errbuf *eb);

/* Unmount target and remove the mapping `name` (the reverse of storage_layer_mount). */
int storage_layer_unmount(const char *name, const char *target, struct errbuf *eb);

/* Mount a layer: erofs, read-only, nodev, from the dm-verity device dev_path on target (created
 * if missing). */
int storage_erofs_mount(const char *dev_path, const char *target, struct errbuf *eb);

/* Writable scratch on `device`: when encrypted, a dm-crypt mapping `name` (aes-xts-plain64,
 * fresh 512-bit key from getrandom(), wiped from our memory once the kernel has it); then a
 * fresh ext4 (mkfs_path, e.g. "/sbin/mkfs.ext4", run with a fixed argv and no environment; the
 * host's old contents are never trusted or mounted) mounted nodev,nosuid on target.
 * Unencrypted scratch (policy flag) is formatted and mounted directly. */
int storage_scratch_open(const char *name, const char *device, int encrypted, const char *mkfs_path,
			 const char *target, struct errbuf *eb);

/* Mount an overlay on target (created if missing) from lower dirs in policy order (base
 * first), with upper/work on scratch (both created if missing; both NULL = read-only). */
int storage_overlay_mount(const char *const *lowers, size_t n_lowers, const char *upper,
			  const char *work, const char *target, struct errbuf *eb);

/* Unmount target (-EBUSY while in use; -EINVAL if it is not a mount point). */
int storage_unmount(const char *target, struct errbuf *eb);

/* Remove path and everything below it (a container's writable layer or scratch): symlinks are
 * removed, never followed, a file system mounted inside is left alone (-EXDEV), and nesting
 * deeper than STORAGE_TREE_DEPTH_MAX levels is left (-ELOOP). A missing path is success. */
#define STORAGE_TREE_DEPTH_MAX 128u
#define STORAGE_TREE_PATH_MAX 1024u /* of path itself */
int storage_remove_tree(const char *path, struct errbuf *eb);

/* Size of a block device in bytes (BLKGETSIZE64). */
int storage_block_size(const char *device, uint64_t *bytes, struct errbuf *eb);

#endif
