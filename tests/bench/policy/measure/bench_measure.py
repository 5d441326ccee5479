#!/usr/bin/env python3
"""parma measure throughput vs the machine's SHA-384 speed (openssl speed), same run.

The measured set is a 64 MiB boot-descriptor blob (16384 NORMAL pages) plus the
stage0 firmware: every 4 KiB page costs one SHA-384 of the page and one of the
112-byte PAGE_INFO, so the ideal is a little below raw SHA-384 speed.
Goal: >= 80% of `openssl speed -evp sha384` (16 KiB blocks).
Both sides are rated per second of CPU time (user + sys), as `openssl speed` rates itself
unless -elapsed: the machine's cores are shared, so wall time mostly measures the neighbours.
PARMA_BENCH_MEASURE_MIB overrides the size (default 64); PARMA_BENCH_SECONDS openssl's
duration per run (default 2); PARMA_BENCH_REPS the runs per side (default 5)."""
import os
import re
import resource
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
import bench_harness  # noqa: E402

parma, firmware, sanitize = sys.argv[1], sys.argv[2], sys.argv[3]
mib = int(os.environ.get("PARMA_BENCH_MEASURE_MIB", "64"))
size = mib << 20
if sanitize not in ("none", ""):
    print(f"NOTE: this build uses sanitizers ({sanitize}); parma's numbers are inflated "
          "(scripts/bench.sh uses a release build)")


def openssl_sha384():
    secs = max(1, int(bench_harness.seconds(2)))
    r = subprocess.run(["openssl", "speed", "-evp", "sha384", "-bytes", "16384", "-seconds",
                        str(secs)], capture_output=True, text=True)
    if r.returncode != 0:
        raise bench_harness.Unavailable("openssl speed failed: " + r.stderr.strip()[:200])
    m = re.search(r"^sha384\s+([\d.]+)k", r.stdout, re.M | re.I)
    if not m:
        raise bench_harness.Unavailable("could not parse `openssl speed` output")
    return float(m.group(1)) * 1000 / 1e6


with tempfile.TemporaryDirectory() as d:
    blob = os.path.join(d, "set.bin")
    with open(blob, "wb") as f:
        f.write(os.urandom(size))
    cmd = [parma, "measure", "--firmware", firmware, "--boot-descriptor", blob,
           "--boot-descriptor-gpa", "0x1000000"]
    subprocess.run(cmd, check=True, capture_output=True)  # warm the page cache

    def parma_measure():
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if not out.startswith("measurement: "):
            sys.exit(f"parma measure printed no measurement: {out[:200]}")
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        return size / max(cpu, 1e-6) / 1e6

    print(f"measured set: {mib} MiB ({size // 4096} pages) plus stage0; goal: ours/peer >= 0.80")
    bench_harness.compare("SHA-384 over the measured set", "MB per CPU-second", True,
                          ("openssl speed -evp sha384 (16 KiB blocks)", openssl_sha384),
                          (f"parma measure ({mib} MiB, whole command)", parma_measure))
