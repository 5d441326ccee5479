#!/usr/bin/env python3
"""The stage0 pages an SNP launch measures, derived from the ELF of this build.

The page count depends on the compiler (the image is the page hull of the ELF's
PT_LOAD segments, bss included), so the docs do not hard-code it; this test
derives it from the program headers with its own ELF reader and checks that
  1. `parma measure --json` measures exactly those pages, in order, as NORMAL
     pages of the "firmware" item;
  2. no page count the docs state for the firmware image disagrees with it.
Arguments: the parma executable and the stage0 ELF."""
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

PAGE = 4096
PT_LOAD = 1


def hull_pages(path):
    data = open(path, "rb").read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        sys.exit(f"{path}: not a little-endian ELF64 file")
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    lo, hi = None, None
    for i in range(phnum):
        p_type, _flags, _off, _vaddr, paddr, _filesz, memsz, _align = struct.unpack_from(
            "<IIQQQQQQ", data, phoff + i * phentsize)
        if p_type != PT_LOAD or memsz == 0:
            continue
        lo = paddr if lo is None else min(lo, paddr)
        hi = paddr + memsz if hi is None else max(hi, paddr + memsz)
    if lo is None:
        sys.exit(f"{path}: no PT_LOAD segment")
    start = lo & ~(PAGE - 1)
    end = (hi + PAGE - 1) & ~(PAGE - 1)
    return [start + k * PAGE for k in range((end - start) // PAGE)]


def main():
    parma, elf = sys.argv[1], sys.argv[2]
    if not os.path.exists(elf):
        print(f"SKIP: {elf} not built (meson option firmware=false)")
        sys.exit(77)
    want = hull_pages(elf)
    with tempfile.NamedTemporaryFile(suffix=".dtb") as desc:
        desc.write(b"\xd0\x0d\xfe\xed" + bytes(60))
        desc.flush()
        out = subprocess.run([parma, "measure", "--firmware", elf, "--boot-descriptor", desc.name,
                              "--json"], check=True, capture_output=True, text=True).stdout
    pages = json.loads(out)["pages"]
    got = [int(p["gpa"], 16) for p in pages if p["item"] == "firmware"]
    types = {p["type"] for p in pages if p["item"] == "firmware"}
    assert got == want, f"parma measure measured {len(got)} firmware pages, the ELF hull has {len(want)}"
    assert len(types) == 1, f"firmware pages of several types: {types}"
    print(f"stage0: {len(want)} pages, 0x{want[0]:x}-0x{want[-1] + PAGE:x}, measured as {types.pop()}")

    root = os.environ.get("PARMA_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    claim = re.compile(r"(\d+) pages")
    bad = []
    for doc in ("docs/snp-launch.md", "docs/firmware.md"):
        for n, line in enumerate(open(os.path.join(root, doc)), 1):
            if not re.search(r"stage0|firmware", line, re.I):
                continue
            for m in claim.finditer(line):
                if int(m.group(1)) != len(want):
                    bad.append(f"{doc}:{n}: says {m.group(0)}, this build's stage0 has {len(want)}")
    if bad:
        sys.exit("\n".join(bad))


main()
