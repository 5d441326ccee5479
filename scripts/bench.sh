#!/usr/bin/env bash
# Benchmarks (not part of the test command): an optimised build without sanitizers (gcc, the
# release configuration that scripts/test.sh also compiles), then every test in the `bench`
# suite, verbose, one at a time. Each runs its named peer tool (fio, veritysetup, openssl speed,
# QEMU microvm, crun, ...) and Parma interleaved, at least 5 times each, and prints min / median /
# max for both, the ratio of medians and the load average (tests/bench/harness). Extra arguments
# go to `meson test` (e.g. a single benchmark's name).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
builddir=${PARMA_BENCH_BUILDDIR:-build-bench}
if [ ! -f "$builddir/build.ninja" ]; then
	# A failed setup prints meson's own message; a failed build prints the compiler's errors.
	setup_log=$(mktemp)
	CC=${CC:-gcc} meson setup "$builddir" --buildtype=release -Dwerror=true -Dtests=true \
		>"$setup_log" 2>&1 || { cat "$setup_log"; rm -f "$setup_log"; echo "meson setup failed"; exit 1; }
	rm -f "$setup_log"
fi
if ! meson compile -C "$builddir" >"$builddir/compile.log" 2>&1; then
	grep -E -B2 -A12 'error:|warning:|FAILED' "$builddir/compile.log" | head -120
	echo "bench build failed (full log: $builddir/compile.log)"
	exit 1
fi
exec meson test -C "$builddir" --suite bench --num-processes 1 -v "$@"
