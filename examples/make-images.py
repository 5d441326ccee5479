#!/usr/bin/env python3
"""make-images.py [OUT_DIR]: build the examples' container image locally, with no network.

Writes an OCI image layout (as `skopeo copy ... oci:DIR:TAG` would) at OUT_DIR/busybox with tag
"latest": one gzip layer holding Debian's statically linked busybox (package busybox-static) and
a symlink per applet the examples use. Deterministic: fixed mtimes and owners, gzip mtime 0, so
the same busybox always gives the same layer digest and dm-verity root hash."""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

APPLETS = ["sh", "echo", "cat", "ls", "sleep", "uname", "hostname", "id", "httpd", "wget",
           "nc", "seq", "mkdir", "date", "head", "grep", "true", "false", "env", "ps", "kill"]
MTIME = 1700000000


def add(tf, name, kind=tarfile.DIRTYPE, data=b"", mode=0o755, target=""):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime, ti.linkname = kind, mode, MTIME, target
    ti.size = len(data) if kind == tarfile.REGTYPE else 0
    tf.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def blob(root, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(root, "blobs", "sha256", digest)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "images")
    busybox = "/bin/busybox"
    with open(busybox, "rb") as f:
        bb = f.read()
    if b"GLIBC" in bb[:4096] or not bb.startswith(b"\x7fELF"):
        sys.exit(f"{busybox}: expected a static busybox (apt-get install busybox-static)")

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for d in ["bin", "etc", "tmp", "var", "var/www"]:
            add(tf, d, mode=0o1777 if d == "tmp" else 0o755)
        add(tf, "bin/busybox", tarfile.REGTYPE, bb)
        for app in APPLETS:
            add(tf, "bin/" + app, tarfile.SYMTYPE, target="busybox")
        add(tf, "etc/passwd", tarfile.REGTYPE, b"root:x:0:0:root:/:/bin/sh\n"
            b"www:x:33:33:www:/var/www:/bin/sh\n", 0o644)
        add(tf, "etc/group", tarfile.REGTYPE, b"root:x:0:\nwww:x:33:\n", 0o644)
        add(tf, "var/www/index.html", tarfile.REGTYPE,
            b"hello from the web container, served over the group's loopback\n", 0o644)
    tar = raw.getvalue()
    layer = gzip.compress(tar, mtime=0)

    root = os.path.join(out, "busybox")
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    config = {
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]},
    }
    cfg = blob(root, json.dumps(config, sort_keys=True).encode())
    lay = blob(root, layer)
    manifest = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(cfg, mediaType="application/vnd.oci.image.config.v1+json"),
        "layers": [dict(lay, mediaType="application/vnd.oci.image.layer.v1.tar+gzip")],
    }
    man = blob(root, json.dumps(manifest, sort_keys=True).encode())
    index = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [dict(man, mediaType="application/vnd.oci.image.manifest.v1+json",
                           annotations={"org.opencontainers.image.ref.name": "latest"})],
    }
    with open(os.path.join(root, "index.json"), "w") as f:
        json.dump(index, f, sort_keys=True)
    print(f"{root}: busybox image, layer {lay['digest']}")


if __name__ == "__main__":
    main()
