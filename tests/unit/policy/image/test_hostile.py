#!/usr/bin/env python3
"""Hostile layers and images: each gives a clear error (exit 3, message naming the problem) and
leaves nothing behind - no image, no sidecar, no temporary file, nothing outside the output."""
import gzip
import io
import os
import shutil
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import erofs_check as ec  # noqa: E402
import ocitool  # noqa: E402

PARMA = ec.parma_bin()
failures = []


def huge_header_tar(size):
    """A tar whose only entry claims `size` bytes (GNU base-256) and holds almost nothing."""
    ti = tarfile.TarInfo("huge")
    ti.size = 10
    h = bytearray(ti.tobuf(format=tarfile.GNU_FORMAT))
    h[124:136] = b"\x80" + size.to_bytes(11, "big")
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h[:512])
    return bytes(h[:512]) + b"\0" * 512


def case_layers():
    f = lambda name, **kw: dict(name=name, **kw)
    gz = gzip.compress(ocitool.tar_bytes([f("a", data=b"x" * 100000)]), mtime=0)
    return [
        ("dotdot", [f("../evil", data=b"x")], "leaves the layer root"),
        ("dotdot-inner", [f("a/../../evil", data=b"x")], "leaves the layer root"),
        ("absolute", [f("/etc/evil", data=b"x")], "absolute path"),
        ("symlink-escape", [f("link", type="symlink", target="/etc"),
                            f("link/passwd", data=b"x")], "through a symlink"),
        ("symlink-escape-rel", [f("link", type="symlink", target="../../.."),
                                f("link/x/y", data=b"x")], "through a symlink"),
        ("hardlink-outside", [f("x", type="hardlink", target="../../etc/passwd")],
         "leaves the layer root"),
        ("hardlink-absolute", [f("x", type="hardlink", target="/etc/passwd")], "absolute path"),
        ("hardlink-missing", [f("x", type="hardlink", target="etc/passwd")],
         "not earlier in the layer"),
        ("hardlink-dir", [f("d", type="dir"), f("x", type="hardlink", target="d")],
         "hardlink to a directory"),
        ("through-file", [f("file", data=b"x"), f("file/sub", data=b"y")],
         "through a non-directory"),
        ("long-name", [f("x" * 256, data=b"x")], "longer than 255"),
        ("overlay-xattr", [f("d", type="dir", xattrs={"trusted.overlay.redirect": b"/x"})],
         "overlayfs attributes are not allowed"),
        ("huge-size", huge_header_tar(1 << 40), "unpacks to more than"),
        ("truncated-data", huge_header_tar(1 << 20), "truncated"),
        ("truncated-gzip", gz[:len(gz) // 2], None),
        ("corrupt-gzip", gz[:40] + bytes(b ^ 0x5a for b in gz[40:80]) + gz[80:], None),
        ("not-a-tar", b"this is not a tar archive at all" * 40, None),
    ]


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def leftovers(d):
    return [os.path.join(r, n) for r, _, files in os.walk(d) for n in files]


def main():
    work = tempfile.mkdtemp(prefix="parma-hostile-")
    try:
        for name, layer, msg in case_layers():
            lay = os.path.join(work, "oci-" + name)
            comp = "none" if isinstance(layer, bytes) else "gzip"
            if name.endswith("gzip"):
                # a consistent manifest around a damaged gzip stream
                ocitool.write_oci(lay, [layer], compression="none")
            else:
                ocitool.write_oci(lay, [layer], compression=comp)
            out = os.path.join(work, "sandbox", "out")
            os.makedirs(out)
            r = ec.run([PARMA, "image", "convert", "--output", out, lay])
            check(r.returncode == 3, "%s: exit %d (expected 3): %s" % (name, r.returncode,
                                                                     r.stderr.strip()))
            check("layers[0]" in r.stderr, "%s: error names the layer: %s" % (name, r.stderr))
            if msg:
                check(msg in r.stderr, "%s: error says %r: %s" % (name, msg, r.stderr.strip()))
            check(leftovers(os.path.join(work, "sandbox")) == [],
                  "%s: nothing left behind: %s" % (name, leftovers(os.path.join(work, "sandbox"))))
            check(not os.path.exists(os.path.join(work, "evil")) and
                  not os.path.exists("/etc/evil"), name + ": nothing written outside")
            shutil.rmtree(os.path.join(work, "sandbox"))

        # digest and size mismatches
        base = ocitool.busybox_layer()
        lay = os.path.join(work, "oci-tampered")
        ocitool.write_oci(lay, [base], tamper=0)
        out = os.path.join(work, "out-tampered")
        r = ec.run([PARMA, "image", "convert", "--output", out, lay])
        check(r.returncode == 3 and "digest mismatch" in r.stderr,
              "tampered blob: digest mismatch: " + r.stderr)
        check(leftovers(out) == [], "tampered blob: nothing left")

        # a tampered config or manifest is caught before any conversion
        lay = os.path.join(work, "oci-badcfg")
        m = ocitool.write_oci(lay, [base])
        p = os.path.join(lay, "blobs", "sha256", m["config"]["digest"][7:])
        open(p, "ab").write(b" ")
        r = ec.run([PARMA, "image", "convert", "--output", out, lay])
        check(r.returncode == 3 and "config" in r.stderr and "mismatch" in r.stderr,
              "tampered config: " + r.stderr)

        # docker save archive whose layer does not match the config's diff_ids
        ds = os.path.join(work, "bad.tar")
        ocitool.write_docker_save(ds, [base])
        raw = bytearray(open(ds, "rb").read())
        i = raw.find(b"root:x:0:0:root")
        raw[i] ^= 1
        open(ds, "wb").write(bytes(raw))
        r = ec.run([PARMA, "image", "convert", "--output", out, ds])
        check(r.returncode == 3 and "digest mismatch" in r.stderr,
              "docker-save layer mismatch: " + r.stderr)
        check(leftovers(out) == [], "docker-save mismatch: scratch removed")

        # docker-save member symlink leaving the archive
        ds = os.path.join(work, "escape.tar")
        ocitool.write_docker_save(ds, [base, base], link=(1, "../../../etc/passwd"))
        r = ec.run([PARMA, "image", "convert", "--output", out, ds])
        check(r.returncode == 3 and "link leaves the archive" in r.stderr,
              "docker-save link escape: " + r.stderr)
        check(leftovers(out) == [], "docker-save link escape: nothing left")

        # unknown tag, unknown layer media type
        lay = os.path.join(work, "oci-ok")
        ocitool.write_oci(lay, [base], tag="v1")
        r = ec.run([PARMA, "image", "convert", "--output", out, lay + ":v2"])
        check(r.returncode == 3 and 'no manifest tagged "v2"' in r.stderr, "unknown tag: " + r.stderr)
        r = ec.run([PARMA, "image", "convert", "--output", out, os.path.join(work, "nope")])
        check(r.returncode == 3 and "no such image" in r.stderr, "missing image: " + r.stderr)
        r = ec.run([PARMA, "image", "convert", "--bogus", lay])
        check(r.returncode == 2, "unknown option is a usage error")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print("%d check(s) failed" % len(failures))
        sys.exit(1)
    print("all checks passed")


main()
