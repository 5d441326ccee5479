#!/usr/bin/env python3
"""make_image.py OUT_DIR: the e2e container image, built locally (no network).

An OCI image layout at OUT_DIR/oci (tag "latest") with two gzip layers, base first:
  0  busybox-static as /bin/busybox with applet symlinks (the image tests' base layer)
  1  /data/hello.txt and /data/big.txt (4096 lines "BIGFILE-LINE-%06d\\n", 80 KiB) — big.txt
     is stored as whole uncompressed blocks, so the test can flip one byte of it on disk.
Uses the image tests' builder (tests/unit/image/ocitool.py)."""
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("PARMA_SOURCE_ROOT", "."), "tests", "unit", "image"))
import ocitool  # noqa: E402

out = sys.argv[1]
base = ocitool.busybox_layer("/bin/busybox")
for app in ("sync", "head", "dd", "sha256sum", "wc", "tr", "stat", "grep"):
    base.append({"name": "bin/" + app, "type": "symlink", "target": "busybox"})
big = b"".join(b"BIGFILE-LINE-%06d\n" % i for i in range(4096))
data = [
    {"name": "data", "type": "dir"},
    {"name": "data/hello.txt", "data": b"hello from a verity layer\n"},
    {"name": "data/big.txt", "data": big},
]
ocitool.write_oci(os.path.join(out, "oci"), [base, data], tag="latest",
                  process={"Cmd": ["/bin/sh"], "WorkingDir": "/"})
