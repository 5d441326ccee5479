#!/usr/bin/env bash
# The README demo: install dependencies, build, build the example image locally, and run the
# hello-world group end to end with `parma run`: images converted to dm-verity layers, policy
# generated, guest booted (our KVM VMM on bare metal, else QEMU TCG), policy installed against
# HOST_DATA, container started, its output streamed, and a fresh attestation report verified.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
builddir=${PARMA_DEMO_BUILDDIR:-build}
[ -f "$builddir/build.ninja" ] || meson setup "$builddir" -Dtests=false >/dev/null
meson compile -C "$builddir" >/dev/null
parma="$builddir/vmm/parma"
echo "== $("$parma" --version)"
python3 examples/make-images.py
exec "$parma" run "$@" examples/hello-world/group.json
