#!/usr/bin/env python3
"""make_image.py OUT_DIR [--bench]: the e2e container image, built locally (no network).

An OCI image layout at OUT_DIR/oci (tag "latest") with two gzip layers, base first:
  0  busybox-static as /bin/busybox with applet symlinks (the image tests' base layer)
  1  /data/hello.txt and /data/big.txt (4096 lines "BIGFILE-LINE-%06d\\n", 80 KiB) — big.txt
     is stored as whole uncompressed blocks, so the test can flip one byte of it on disk.
With --bench a third layer holds /bundle/config.json: `crun spec`'s default OCI config running
/bin/true on the rootfs the benchmark mounts at /run/parma/containers/cdirect/rootfs, so crun can be run
directly in the guest on the same kind of rootfs the agent uses.
Uses the image tests' builder (tests/unit/policy/image/ocitool.py)."""
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("PARMA_SOURCE_ROOT", "."), "tests", "unit", "policy", "image"))
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
layers = [base, data]
if "--bench" in sys.argv[2:]:
    import json
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["crun", "spec"], cwd=tmp, check=True)
        spec = json.load(open(os.path.join(tmp, "config.json")))
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["/bin/true"]
    spec["process"]["env"] = ["PATH=/bin"]
    spec["root"] = {"path": "/run/parma/containers/cdirect/rootfs", "readonly": False}
    layers.append([{"name": "bundle", "type": "dir"},
                   {"name": "bundle/config.json", "data": json.dumps(spec, indent=1).encode()}])
ocitool.write_oci(os.path.join(out, "oci"), layers, tag="latest",
                  process={"Cmd": ["/bin/sh"], "WorkingDir": "/"})
