#!/usr/bin/env python3
"""The source tree's include rules: folders show the trust boundary.

Usage: test_layout.py SOURCE_ROOT [TRUSTED_FILE...]

1. Every C/assembly file in a code folder includes project headers only from the folders
   its row of ALLOWED names (the most specific row wins; a file's own folder is always
   allowed).
2. Nothing lower includes a higher layer (LAYERS, lowest first).
3. Freestanding code (firmware/, common/guest_abi/) includes no system header beyond the
   compiler's own (FREESTANDING_SYSTEM).
4. Every file of the guest's trusted base (the TRUSTED_FILE arguments: the sources of
   meson's guest_trusted_lib) lies in a guest-side place (TRUSTED_PLACES), so the trusted
   base cannot silently pick up host code; with rule 1 this means no trusted file includes
   a host header.
"""
import os
import re
import sys
import tempfile

# Folder (or file) -> the project folders (or headers) it may include besides its own.
ALLOWED = {
    "common": [],
    "common/guest_abi": [],
    "firmware/stage0": ["common/guest_abi/"],
    "firmware/payload": ["common/guest_abi/"],
    "policy/cose": ["common/"],
    "policy/lang": ["policy/cose/", "common/"],
    # Host-only fragment tools: the signer and `parma policy fragment`.
    "policy/fragment": ["policy/cose/", "policy/lang/", "common/"],
    "policy/attest": ["common/"],
    "policy/measure": ["common/"],
    "policy/image": ["policy/lang/", "common/"],
    "guest/proto": ["common/"],
    "guest/storage": ["common/"],
    "guest/initrd": ["common/"],
    # The agent links only the report parser from policy/attest (the rest is host code).
    "guest/agent": ["guest/proto/", "guest/storage/", "policy/lang/",
                    "policy/attest/snp_report.h", "common/"],
    "devices": ["common/"],
    "vmm": ["devices/", "policy/measure/", "policy/attest/", "common/"],
    "vmm/group": ["vmm/", "devices/", "policy/", "guest/proto/", "common/"],
    # libparma binds the group API client and the host tools (policy gen, images, verify).
    "vmm/lib": ["vmm/", "policy/", "common/"],
    # `parma`'s entry point dispatches to every command.
    "vmm/main.c": ["vmm/", "policy/", "common/"],
}

# Lowest first: a folder may include its own layer and the ones before it.
LAYERS = ["common", "firmware", "policy", "guest", "devices", "vmm"]

FREESTANDING = ["firmware", "common/guest_abi"]
FREESTANDING_SYSTEM = {"stdint.h", "stddef.h", "stdbool.h", "stdarg.h"}

# Where the guest's trusted base may come from: guest code and the guest-side parts of
# policy/ and common/.
TRUSTED_PLACES = ["guest/agent/", "guest/proto/", "guest/storage/", "policy/lang/", "policy/cose/",
                  "policy/attest/snp_report.c", "common/"]
HOST_ONLY = ["common/cli.c"]

CODE_FOLDERS = ["common", "firmware", "policy", "guest", "devices", "vmm"]
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def row(path):
    """The most specific ALLOWED key for path (a file key beats its folder)."""
    best = None
    for key in ALLOWED:
        if path == key or path.startswith(key + "/"):
            if best is None or len(key) > len(best):
                best = key
    return best


def own_folder(path):
    key = row(path)
    return (os.path.dirname(path) if key == path else key) + "/"


def layer(path):
    top = path.split("/", 1)[0]
    return LAYERS.index(top) if top in LAYERS else None


def check(root, trusted):
    """Return (problems, files, includes) for the tree at root."""
    errors = []
    n_files = n_includes = 0
    for top in CODE_FOLDERS:
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for name in sorted(names):
                if not name.endswith((".c", ".h", ".S")):
                    continue
                path = os.path.relpath(os.path.join(dirpath, name), root)
                key = row(path)
                if key is None:
                    errors.append(f"{path}: its folder has no row in ALLOWED (test_layout.py)")
                    continue
                n_files += 1
                with open(os.path.join(root, path), encoding="utf-8") as f:
                    text = f.read()
                for kind, inc in INCLUDE.findall(text):
                    n_includes += 1
                    if kind == "<":
                        if (any(path.startswith(p + "/") for p in FREESTANDING)
                                and inc not in FREESTANDING_SYSTEM):
                            errors.append(f"{path}: freestanding code includes <{inc}>")
                        continue
                    if "/" not in inc:
                        continue  # a header beside the file
                    allowed = [own_folder(path)] + ALLOWED[key]
                    if not any(inc == a or (a.endswith("/") and inc.startswith(a))
                               for a in allowed):
                        errors.append(f"{path}: includes \"{inc}\", outside its allow-list "
                                      f"({', '.join(allowed)})")
                    lf, li = layer(path), layer(inc)
                    if lf is not None and li is not None and li > lf:
                        errors.append(f"{path}: includes \"{inc}\" from a higher layer "
                                      f"({LAYERS[li]} above {LAYERS[lf]})")
    if not trusted:
        errors.append("no trusted-base files given (meson passes guest_trusted_sources)")
    for path in trusted:
        if path in HOST_ONLY or not any(path == p or (p.endswith("/") and path.startswith(p))
                                        for p in TRUSTED_PLACES):
            errors.append(f"{path}: in the guest's trusted base but not guest-side code")
    return errors, n_files, n_includes


def self_test():
    """The checker must catch each kind of violation (a check that cannot fail proves nothing)."""
    bad = {
        "devices/d.c": '#include "vmm/vm.h"\n',                      # higher layer
        "firmware/stage0/s.c": "#include <stdio.h>\n",               # libc in firmware
        "guest/agent/a.c": '#include "vmm/group/agent_client.h"\n',  # host header in guest
        "policy/lang/p.c": '#include "policy/image/oci_image.h"\n',  # outside allow-list
        "vmm/v.c": '#include "vmm/group/group_cli.h"\n',             # core -> group runtime
        "common/ok.c": '#include "common/errbuf.h"\n#include <stdio.h>\n',
    }
    with tempfile.TemporaryDirectory() as tmp:
        for path, text in bad.items():
            os.makedirs(os.path.join(tmp, os.path.dirname(path)), exist_ok=True)
            with open(os.path.join(tmp, path), "w", encoding="utf-8") as f:
                f.write(text)
        errors, _, _ = check(tmp, ["guest/agent/a.c", "vmm/v.c"])
    flagged = {e.split(":", 1)[0] for e in errors}
    want = set(bad) - {"common/ok.c"}
    if flagged != want | {"vmm/v.c"} or len(errors) < len(want) + 1:
        print("FAIL self-test: the checker flagged", sorted(flagged), "expected", sorted(want))
        return False
    return True


def main():
    root = sys.argv[1]
    trusted = [os.path.relpath(os.path.realpath(p), os.path.realpath(root))
               for p in sys.argv[2:]]
    if not self_test():
        return 1
    errors, n_files, n_includes = check(root, trusted)
    for e in errors:
        print("FAIL", e)
    print(f"{n_files} files, {n_includes} includes, {len(trusted)} trusted-base files, "
          f"{len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
