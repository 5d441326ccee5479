#!/usr/bin/env bash
# Benchmarks (not part of the test command): an optimised build without sanitizers, then every
# test in the `bench` suite, verbose. Each prints its measurements next to the named peer tool
# measured in the same run (fio, veritysetup, openssl speed, QEMU microvm, crun, ...) and the
# ratio. Extra arguments go to `meson test` (e.g. a single benchmark's name).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
builddir=${PARMA_BENCH_BUILDDIR:-build-bench}
[ -f "$builddir/build.ninja" ] || meson setup "$builddir" --buildtype=release -Dtests=true >/dev/null
meson compile -C "$builddir" >/dev/null
exec meson test -C "$builddir" --suite bench --num-processes 1 -v "$@"
