#!/usr/bin/env python3
"""parma measure throughput vs the machine's SHA-384 speed (openssl speed), same run.

The measured set is a 64 MiB boot-descriptor blob (16384 NORMAL pages) plus the
stage0 firmware: every 4 KiB page costs one SHA-384 of the page and one of the
112-byte PAGE_INFO, so the ideal is a little below raw SHA-384 speed.
Goal: >= 80% of `openssl speed -evp sha384` (16 KiB blocks).
PARMA_BENCH_MEASURE_MIB overrides the size (default 64)."""
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

parma, firmware, sanitize = sys.argv[1], sys.argv[2], sys.argv[3]
mib = int(os.environ.get("PARMA_BENCH_MEASURE_MIB", "64"))
size = mib << 20

with tempfile.TemporaryDirectory() as d:
    blob = os.path.join(d, "set.bin")
    with open(blob, "wb") as f:
        f.write(os.urandom(size))
    cmd = [parma, "measure", "--firmware", firmware, "--boot-descriptor", blob,
           "--boot-descriptor-gpa", "0x1000000"]
    subprocess.run(cmd, check=True, capture_output=True)  # warm the page cache
    # CPU time (user + sys) of the child, like `openssl speed` (which counts
    # user CPU time unless -elapsed): the machine's 2 cores are shared, so
    # wall time mostly measures the neighbours. Wall time is printed too.
    best = best_wall = None
    for _ in range(3):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        wall = time.perf_counter() - t
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        best = cpu if best is None else min(best, cpu)
        best_wall = wall if best_wall is None else min(best_wall, wall)
    assert out.startswith("measurement: "), out
parma_mbs = size / best / 1e6

sp = subprocess.run(["openssl", "speed", "-evp", "sha384", "-bytes", "16384", "-seconds", "3"],
                    check=True, capture_output=True, text=True).stdout
m = re.search(r"^sha384\s+([\d.]+)k", sp, re.M)
if not m:
    m = re.search(r"^SHA384\s+([\d.]+)k", sp, re.M | re.I)
if not m:
    print(sp)
    sys.exit("could not parse openssl speed output")
openssl_mbs = float(m.group(1)) * 1000 / 1e6

ratio = parma_mbs / openssl_mbs
print(f"measured set: {mib} MiB ({size // 4096} pages){' (reduced by PARMA_BENCH_MEASURE_MIB)' if mib != 64 else ''}")
print(f"parma measure: {parma_mbs:.0f} MB/s of CPU time (best of 3, whole command incl. "
      f"reading the file; wall {size / best_wall / 1e6:.0f} MB/s)")
print(f"openssl speed -evp sha384 (16 KiB blocks, CPU time): {openssl_mbs:.0f} MB/s")
print(f"parma/openssl = {ratio:.2f} (goal >= 0.80)")
if sanitize not in ("none", ""):
    print(f"note: this build uses sanitizers ({sanitize}); use a plain build for release numbers")
