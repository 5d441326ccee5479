#!/usr/bin/env python3
"""parma image convert on crafted layers: the erofs listing and metadata match the tar after
whiteout conversion; dm-verity matches veritysetup; conversions are deterministic; the cache
and both input formats (OCI layout, docker save) work."""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import erofs_check as ec  # noqa: E402
import ocitool  # noqa: E402

ec.need("dump.erofs", "fsck.erofs", "veritysetup", "zstd")
PARMA = ec.parma_bin()
T = 1700000000
LONG = "n" * 255
big = bytes((i * 7) & 0xff for i in range(10000))

crafted = [
    {"name": "./", "type": "dir", "mode": 0o755, "mtime": T},
    {"name": "etc/", "type": "dir", "mode": 0o755},
    {"name": "etc/hosts", "data": b"127.0.0.1 localhost\n"},
    {"name": "etc/dup", "data": b"first"},
    {"name": "etc/dup", "data": b"second wins"},
    {"name": "etc/.wh.removed"},
    {"name": "etc/.wh..wh.plnk"},  # aufs bookkeeping: dropped
    {"name": "usr/bin/big", "data": big, "mode": 0o4755},
    {"name": "usr/bin/exact", "data": b"x" * 4096, "mode": 0o2711},
    {"name": "usr/bin/hard", "type": "hardlink", "target": "usr/bin/big"},
    {"name": "usr/bin/empty", "data": b""},
    {"name": "usr/bin/abs", "type": "symlink", "target": "/usr/bin/big"},
    {"name": "usr/bin/rel", "type": "symlink", "target": "../../etc/hosts"},
    {"name": "usr/bin/longlink", "type": "symlink", "target": "t" * 3000},
    {"name": "usr/" + LONG, "data": b"long name"},
    {"name": "dev/null", "type": "chr", "major": 1, "minor": 3, "mode": 0o666},
    {"name": "dev/sda", "type": "blk", "major": 8, "minor": 300, "mode": 0o660},
    {"name": "dev/fifo", "type": "fifo", "mode": 0o600},
    {"name": "opq/", "type": "dir", "mode": 0o750},
    {"name": "opq/.wh..wh..opq"},
    {"name": "opq/keep", "data": b"kept"},
    {"name": "home/user/file", "data": b"owned", "uid": 100000, "gid": 70000,
     "mtime": 2208988800},
    {"name": "tmp/", "type": "dir", "mode": 0o1777, "xattrs": {"user.note": b"sticky"}},
    {"name": "usr/bin/ping", "data": b"ping", "mode": 0o755,
     "xattrs": {"security.capability": b"\x01\x00\x00\x02\x00\x20\x00\x00" + b"\x00" * 12}},
    {"name": "many/", "type": "dir"},
] + [{"name": "many/entry-%04d-with-a-longer-name" % i, "data": b"%d" % i} for i in range(400)]

# what the image must hold: path -> (dirent type, full mode, content / target / rdev)
S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO = (0o100000, 0o40000, 0o120000, 0o20000,
                                                     0o60000, 0o10000)
expect = {
    "/etc": (2, S_IFDIR | 0o755, None),
    "/etc/hosts": (1, S_IFREG | 0o644, b"127.0.0.1 localhost\n"),
    "/etc/dup": (1, S_IFREG | 0o644, b"second wins"),
    "/etc/removed": (3, S_IFCHR, (0, 0)),
    "/usr": (2, S_IFDIR | 0o755, None),
    "/usr/bin": (2, S_IFDIR | 0o755, None),
    "/usr/bin/big": (1, S_IFREG | 0o4755, big),
    "/usr/bin/exact": (1, S_IFREG | 0o2711, b"x" * 4096),
    "/usr/bin/hard": (1, S_IFREG | 0o4755, big),
    "/usr/bin/empty": (1, S_IFREG | 0o644, b""),
    "/usr/bin/abs": (7, S_IFLNK | 0o644, "/usr/bin/big"),
    "/usr/bin/rel": (7, S_IFLNK | 0o644, "../../etc/hosts"),
    "/usr/bin/longlink": (7, S_IFLNK | 0o644, "t" * 3000),
    "/usr/bin/ping": (1, S_IFREG | 0o755, b"ping"),
    "/usr/" + LONG: (1, S_IFREG | 0o644, b"long name"),
    "/dev": (2, S_IFDIR | 0o755, None),
    "/dev/null": (3, S_IFCHR | 0o666, (1, 3)),
    "/dev/sda": (4, S_IFBLK | 0o660, (8, 300)),
    "/dev/fifo": (5, S_IFIFO | 0o600, None),
    "/opq": (2, S_IFDIR | 0o750, None),
    "/opq/keep": (1, S_IFREG | 0o644, b"kept"),
    "/home": (2, S_IFDIR | 0o755, None),
    "/home/user": (2, S_IFDIR | 0o755, None),
    "/home/user/file": (1, S_IFREG | 0o644, b"owned"),
    "/tmp": (2, S_IFDIR | 0o1777, None),
    "/many": (2, S_IFDIR | 0o755, None),
}
for i in range(400):
    expect["/many/entry-%04d-with-a-longer-name" % i] = (1, S_IFREG | 0o644, b"%d" % i)

failures = []
GOLDEN_DIGEST = "sha256:2a1bd3c09de67a67c6721f25efb82671a043786ce1f6cc63443367768fa46781"
GOLDEN_ROOT = "40958182a706f7c977a82ec2db08e382a3eaa223d1ba9498a2661919fd0c07c3"


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def convert(ref, out, extra=()):
    r = ec.run([PARMA, "image", "convert", "--json", "--output", out] + list(extra) + [ref])
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr  # --json: quiet
    return json.loads(r.stdout)


def sidecar(out, digest):
    return json.load(open(os.path.join(out, digest[7:] + ".json")))


def check_erofs(img, data_size):
    data = img + ".data"
    with open(img, "rb") as f, open(data, "wb") as g:
        g.write(f.read(data_size))
    r = ec.run(["fsck.erofs", data])
    check(r.returncode == 0, "fsck.erofs accepts the image: " + r.stderr)
    listing = ec.walk(data)
    check(set(listing) == set(expect),
          "listing matches the tar after whiteout conversion: extra %s missing %s" % (
              sorted(set(listing) - set(expect))[:5], sorted(set(expect) - set(listing))[:5]))
    ext = tempfile.mkdtemp(dir=os.path.dirname(img))
    r = ec.run(["fsck.erofs", "--extract=" + ext + "/x", data])
    check(r.returncode == 0, "fsck.erofs --extract: " + r.stderr)
    bt = ec.build_time(data)
    for path, (typ, mode, content) in expect.items():
        if path not in listing:
            continue
        check(listing[path] == typ, "%s: dirent type %d, expected %d" % (path, listing[path], typ))
        st = ec.dump_stat(data, path)
        rmode, nlink, uid, gid, mtime, xattrs = ec.raw_inode(data, st["nid"])
        check(rmode == mode, "%s: mode %o, expected %o" % (path, rmode, mode))
        local = ext + "/x" + path
        if typ == 1:
            check(open(local, "rb").read() == content, path + ": content")
            check(st["size"] == len(content), path + ": size")
        elif typ == 7:
            check(os.readlink(local) == content, path + ": symlink target")
        elif typ in (3, 4):
            rdev = os.lstat(local).st_rdev
            check((os.major(rdev), os.minor(rdev)) == content,
                  "%s: device %d:%d" % (path, os.major(rdev), os.minor(rdev)))
        if path == "/home/user/file":
            check((uid, gid) == (100000, 70000), path + ": 32-bit uid/gid kept")
            check(mtime == 2208988800, path + ": mtime kept (extended inode)")
        elif typ != 2 or path == "/etc":
            check((uid, gid) == (0, 0), path + ": owner")
            check((mtime if mtime is not None else bt) == T, path + ": mtime")
    check(ec.raw_inode(data, ec.dump_stat(data, "/usr/bin/big")["nid"])[1] == 2,
          "hardlinked inode has nlink 2")
    check(ec.dump_stat(data, "/usr/bin/big")["nid"] == ec.dump_stat(data, "/usr/bin/hard")["nid"],
          "hardlinks share one inode")
    check(ec.raw_inode(data, ec.dump_stat(data, "/opq")["nid"])[5] ==
          {"trusted.overlay.opaque": b"y"}, "opaque dir has trusted.overlay.opaque=y")
    check(ec.raw_inode(data, ec.dump_stat(data, "/tmp")["nid"])[5] == {"user.note": b"sticky"},
          "user xattr kept")
    check(ec.raw_inode(data, ec.dump_stat(data, "/usr/bin/ping")["nid"])[5] ==
          {"security.capability": b"\x01\x00\x00\x02\x00\x20\x00\x00" + b"\x00" * 12},
          "security.capability kept")
    check(ec.raw_inode(data, ec.dump_stat(data, "/etc/removed")["nid"])[5] == {},
          "whiteout has no xattrs")
    shutil.rmtree(ext)
    os.unlink(data)


def check_verity(img, info):
    check(ec.verity_verify(img, info), "veritysetup verify accepts our tree")
    copy = img + ".copy"
    with open(img, "rb") as f, open(copy, "wb") as g:
        g.write(f.read(info["data_size"]))
    root = ec.veritysetup_root(copy, info["data_blocks"], info["salt"])
    check(root == info["root_hash"], "veritysetup format gives our root hash")
    os.unlink(copy)
    flipped = img + ".flip"
    shutil.copy(img, flipped)
    with open(flipped, "r+b") as f:
        f.seek(info["data_size"] // 2)
        b = f.read(1)
        f.seek(info["data_size"] // 2)
        f.write(bytes([b[0] ^ 0x40]))
    check(not ec.verity_verify(flipped, info), "one flipped data byte -> verify fails")
    os.unlink(flipped)


def check_disk_full(work):
    """A conversion into a full file system fails naming the path, leaves no layer the cache
    would serve, and succeeds once there is room (needs root to mount a small tmpfs)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        print("note: disk-full case skipped (needs root to mount a tmpfs)")
        return
    small = os.path.join(work, "small")
    os.makedirs(small)
    if ec.run(["mount", "-t", "tmpfs", "-o", "size=256k", "parma-test", small]).returncode:
        print("note: disk-full case skipped (mount -t tmpfs failed)")
        return
    try:
        r = ec.run([PARMA, "image", "convert", "--json", "--output", small,
                    os.path.join(work, "oci-gzip")])
        check(r.returncode != 0 and small in r.stderr and "No space left" in r.stderr,
              "disk full: the error names the path: " + r.stderr.strip())
        left = sorted(os.listdir(small))
        check(not [f for f in left if f.startswith(".")], "disk full: no temporary left: %s" % left)
        served = [f for f in left if f.endswith(".json")]
        for f in served:  # whatever sidecar exists must describe a complete image
            info = json.load(open(os.path.join(small, f)))
            check(os.path.getsize(os.path.join(small, f[:-5] + ".img")) == info["image_size"],
                  "disk full: a sidecar only for a complete image")
        check(ec.run(["mount", "-o", "remount,size=64m", small]).returncode == 0, "remount")
        res = convert(os.path.join(work, "oci-gzip"), small)
        check(len(res["layers"]) == 2 and all(
            open(a["image"], "rb").read() == open(b["image"], "rb").read()
            for a, b in zip(res["layers"], convert(os.path.join(work, "oci-gzip"),
                                                   os.path.join(work, "again"))["layers"])),
              "after freeing space the retry converts the same layers")
    finally:
        ec.run(["umount", small])


def main():
    work = tempfile.mkdtemp(prefix="parma-image-")
    try:
        base = ocitool.busybox_layer()
        layers = {}
        for comp in ("gzip", "zstd", "none"):
            lay = os.path.join(work, "oci-" + comp)
            ocitool.write_oci(lay, [base, crafted], compression=comp)
            out = os.path.join(work, "out-" + comp)
            res = convert(lay + ":latest", out)
            check(len(res["layers"]) == 2, comp + ": two layers")
            layers[comp] = res["layers"]
            for l in res["layers"]:
                info = sidecar(out, l["digest"])
                check(info["root_hash"] == l["root_hash"], "sidecar and output agree")
                check(info["hash_offset"] == info["data_size"] and
                      info["hash_start_block"] == info["data_size"] // 4096 + 1,
                      "documented offsets")
                check(os.path.getsize(l["image"]) == info["image_size"], "image size")
        # the crafted layer, checked in depth once
        l = layers["gzip"][1]
        info = sidecar(os.path.join(work, "out-gzip"), l["digest"])
        check_erofs(l["image"], info["data_size"])
        for comp in ("gzip", "zstd", "none"):
            for l in layers[comp]:
                out = os.path.dirname(l["image"])
                check_verity(l["image"], sidecar(out, l["digest"]))
        # same tar, any compression: the same erofs bytes (the salt follows the blob digest)
        for i in (0, 1):
            datas = []
            for comp in ("gzip", "zstd", "none"):
                l = layers[comp][i]
                n = l["data_size"]
                datas.append(open(l["image"], "rb").read()[:n])
            check(datas[0] == datas[1] == datas[2], "layer %d: erofs independent of compression" % i)

        # determinism: a second conversion elsewhere gives identical bytes
        again = convert(os.path.join(work, "oci-gzip"), os.path.join(work, "again"),
                        ["--threads", "1"])
        for a, b in zip(layers["gzip"], again["layers"]):
            check(open(a["image"], "rb").read() == open(b["image"], "rb").read(),
                  "deterministic image bytes")
            check(a["root_hash"] == b["root_hash"], "deterministic root hash")

        # the cache: nothing converted twice, files untouched
        mt = [os.stat(l["image"]).st_mtime_ns for l in again["layers"]]
        third = convert(os.path.join(work, "oci-gzip"), os.path.join(work, "again"))
        check(all(l["cached"] for l in third["layers"]), "second run served from the cache")
        check(mt == [os.stat(l["image"]).st_mtime_ns for l in third["layers"]], "cache untouched")
        nc = convert(os.path.join(work, "oci-gzip"), os.path.join(work, "again"), ["--no-cache"])
        check([l["cached"] for l in nc["layers"]] == [False, False] and
              [l["root_hash"] for l in nc["layers"]] == [l["root_hash"] for l in third["layers"]],
              "--no-cache converts again, same result")
        # a damaged cache entry (sidecar edited, or image truncated) is converted again
        side = os.path.join(work, "again", third["layers"][1]["digest"][7:] + ".json")
        doc = json.load(open(side))
        doc["hash_start_block"] += 1
        json.dump(doc, open(side, "w"))
        with open(third["layers"][0]["image"], "r+b") as f:
            f.truncate(4096)
        fourth = convert(os.path.join(work, "oci-gzip"), os.path.join(work, "again"))
        check([l["cached"] for l in fourth["layers"]] == [False, False],
              "inconsistent cache entries are not trusted")
        for a, b in zip(layers["gzip"], fourth["layers"]):
            check(open(a["image"], "rb").read() == open(b["image"], "rb").read(),
                  "re-conversion restores identical bytes")
        # a cached image modified in place (same size, one data byte) is refused before use:
        # the dm-verity root of its data no longer matches the sidecar
        img0 = fourth["layers"][0]["image"]
        info0 = sidecar(os.path.join(work, "again"), fourth["layers"][0]["digest"])
        with open(img0, "r+b") as f:
            f.seek(info0["data_size"] // 3)
            b = f.read(1)
            f.seek(info0["data_size"] // 3)
            f.write(bytes([b[0] ^ 0x01]))
        r = ec.run([PARMA, "image", "convert", "--json", "--output", os.path.join(work, "again"),
                    os.path.join(work, "oci-gzip")])
        check(r.returncode != 0 and "modified on disk" in r.stderr and img0 in r.stderr,
              "a modified cache entry is refused, naming it: " + r.stderr.strip())
        os.unlink(img0)
        fifth = convert(os.path.join(work, "oci-gzip"), os.path.join(work, "again"))
        check(fifth["layers"][0]["cached"] is False and
              open(img0, "rb").read() == open(layers["gzip"][0]["image"], "rb").read(),
              "after removing it the layer converts again")
        check_disk_full(work)

        # the default cache location follows PARMA_CACHE_DIR
        env = dict(os.environ, PARMA_CACHE_DIR=os.path.join(work, "cache"))
        r = ec.run([PARMA, "image", "convert", os.path.join(work, "oci-gzip")], env=env)
        check(r.returncode == 0 and len(os.listdir(os.path.join(work, "cache"))) == 4,
              "PARMA_CACHE_DIR used")

        # docker save archive: uncompressed layers, digest = diff id = the OCI "none" blob
        ds = os.path.join(work, "image.tar")
        ocitool.write_docker_save(ds, [base, crafted], tag="crafted:1")
        res = convert(ds + ":crafted:1", os.path.join(work, "out-docker"))
        check([l["root_hash"] for l in res["layers"]] == [l["root_hash"] for l in layers["none"]],
              "docker-save and OCI layout give the same layers")
        check(not [f for f in os.listdir(os.path.join(work, "out-docker")) if f.startswith(".")],
              "docker-save scratch removed")

        # the on-disk format is pinned: a fixed tar must keep its root hash across versions
        # (a change here changes every deployed policy; bump the format name if intended)
        golden = os.path.join(os.environ["PARMA_SOURCE_ROOT"], "tests", "data", "image",
                              "golden.tar")
        ocitool.write_oci(os.path.join(work, "golden"), [open(golden, "rb").read()],
                          compression="none")
        g = convert(os.path.join(work, "golden"), os.path.join(work, "out-golden"))["layers"][0]
        check(g["digest"] == GOLDEN_DIGEST and g["root_hash"] == GOLDEN_ROOT,
              "golden layer: root hash %s" % g["root_hash"])

        # docker's layer dedup (a member symlinked to another layer's tar), gzip'd archives
        ds2 = os.path.join(work, "dedup.tar.gz")
        ocitool.write_docker_save(ds2, [base, crafted, base], tag="dd:1", gz=True,
                                  link=(2, "../%064x/layer.tar" % 1))
        res2 = convert(ds2, os.path.join(work, "out-docker"))
        check([l["root_hash"] for l in res2["layers"]] ==
              [l["root_hash"] for l in layers["none"]] + [layers["none"][0]["root_hash"]],
              "docker-save member symlink and gzip'd archive")
        # a multi-platform OCI index: the linux/amd64 manifest is chosen
        ocitool.write_oci(os.path.join(work, "multi"), [base, crafted], nested=True)
        res3 = convert(os.path.join(work, "multi"), os.path.join(work, "out-gzip"))
        check([l["root_hash"] for l in res3["layers"]] == [l["root_hash"] for l in layers["gzip"]],
              "nested index: linux/amd64 selected")

        # inspect shows the root hashes and never environment values
        r = ec.run([PARMA, "image", "inspect", "--json", "--output", os.path.join(work, "again"),
                    os.path.join(work, "oci-gzip")])
        doc = json.loads(r.stdout)
        check([l["root_hash"] for l in doc["layers"]] == [l["root_hash"] for l in layers["gzip"]],
              "inspect lists root hashes")
        check(doc["process"]["env_names"] == ["PATH"] and "/usr/local/sbin" not in r.stdout,
              "inspect prints env names only")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print("%d check(s) failed" % len(failures))
        sys.exit(1)
    print("all checks passed")


main()
