#!/usr/bin/env bash
# The README demo: install dependencies, build, and run the most complete real flow Parma has.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
builddir=${PARMA_DEMO_BUILDDIR:-build}
[ -f "$builddir/build.ninja" ] || meson setup "$builddir" -Dtests=false >/dev/null
meson compile -C "$builddir" >/dev/null
parma="$builddir/vmm/parma"
echo "== parma $("$parma" --version)"
"$parma" --help
