"""Read back a converted layer for the tests: listings through erofs-utils (dump.erofs,
fsck.erofs), and the few raw inode fields erofs-utils 1.5 does not print (full mode with
setuid bits, inline xattrs), read straight from the documented on-disk format."""
import os
import re
import shutil
import struct
import subprocess
import sys


def need(*tools):
    for t in tools:
        if not shutil.which(t):
            print("needs %s (Debian: erofs-utils, cryptsetup-bin, zstd)" % t)
            sys.exit(77)


def parma_bin():
    root = os.environ.get("PARMA_BUILD_ROOT")
    if not root:
        print("PARMA_BUILD_ROOT is not set (run through meson test)")
        sys.exit(77)
    return os.path.join(root, "vmm", "parma")


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def dump_ls(img, path):
    """{name: (nid, type)} of a directory, '.' and '..' excluded."""
    r = run(["dump.erofs", "--ls", "--path=" + path, img])
    assert r.returncode == 0, (path, r.stderr)
    out = {}
    for line in r.stdout.splitlines():
        m = re.match(r"^\s*(\d+)\s+(\d+)\s+(.+)$", line)
        if m and m.group(3) not in (".", ".."):
            out[m.group(3)] = (int(m.group(1)), int(m.group(2)))
    return out


def dump_stat(img, path):
    r = run(["dump.erofs", "--path=" + path, img])
    assert r.returncode == 0, (path, r.stderr)
    t = r.stdout
    g = lambda pat: re.search(pat, t).group(1)
    return {"size": int(g(r"Size: (\d+)")), "nid": int(g(r"NID: (\d+)")),
            "links": int(g(r"Links: (\d+)")), "uid": int(g(r"Uid: (\d+)")),
            "gid": int(g(r"Gid: (\d+)"))}


def walk(img, path="/"):
    """Every path in the image -> erofs dirent type, via dump.erofs --ls."""
    out = {}
    for name, (nid, typ) in sorted(dump_ls(img, path).items()):
        p = path.rstrip("/") + "/" + name
        out[p] = typ
        if typ == 2:
            out.update(walk(img, p))
    return out


def raw_inode(img, nid):
    """(mode, nlink, uid, gid, mtime, xattrs dict) from the inode at nid (meta_blkaddr 0)."""
    with open(img, "rb") as f:
        f.seek(nid * 32)
        b = f.read(64)
        fmt, icount, mode = struct.unpack_from("<HHH", b, 0)
        if fmt & 1:  # extended
            nlink = struct.unpack_from("<I", b, 44)[0]
            uid, gid = struct.unpack_from("<II", b, 24)
            mtime = struct.unpack_from("<q", b, 32)[0]
            isize = 64
        else:
            nlink = struct.unpack_from("<H", b, 6)[0]
            uid, gid = struct.unpack_from("<HH", b, 24)
            mtime = None  # the superblock's build time
            isize = 32
        xattrs = {}
        if icount:
            f.seek(nid * 32 + isize)
            x = f.read(12 + (icount - 1) * 4)
            off = 12 + 4 * x[4]  # skip header and shared ids
            prefixes = {1: "user.", 4: "trusted.", 6: "security."}
            while off + 4 <= len(x):
                nlen, idx, vlen = struct.unpack_from("<BBH", x, off)
                name = prefixes[idx] + x[off + 4:off + 4 + nlen].decode()
                xattrs[name] = x[off + 4 + nlen:off + 4 + nlen + vlen]
                off += (4 + nlen + vlen + 3) & ~3
        return mode, nlink, uid, gid, mtime, xattrs


def build_time(img):
    with open(img, "rb") as f:
        f.seek(1024 + 24)
        return struct.unpack("<q", f.read(8))[0]


def veritysetup_root(data_path, blocks, salt_hex):
    r = run(["veritysetup", "format", "--salt=" + salt_hex, "--hash-offset=%d" % (blocks * 4096),
             "--data-blocks=%d" % blocks, data_path, data_path])
    assert r.returncode == 0, r.stderr
    return re.search(r"Root hash:\s+([0-9a-f]{64})", r.stdout).group(1)


def verity_verify(img, info):
    r = run(["veritysetup", "verify", "--hash-offset=%d" % info["hash_offset"],
             "--data-blocks=%d" % info["data_blocks"], img, img, info["root_hash"]])
    return r.returncode == 0
