#!/bin/sh
# run_fuzz.sh TARGET SEED_DIR [SECONDS]
# Runs a fuzz target for a bounded time. libFuzzer builds write new corpus entries
# into a scratch directory in the build tree (or under $TMPDIR when run by hand outside
# meson), never into the seed directory or anywhere else in the source tree.
set -eu
target=$1 seeds=$2 seconds=${3:-${PARMA_FUZZ_SECONDS:-15}}
work="${MESON_BUILD_ROOT:-${PARMA_BUILD_ROOT:-${TMPDIR:-/tmp}}}/fuzz-work/$(basename "$target")"
mkdir -p "$work"
if "$target" -help=1 2>&1 | grep -q 'max_total_time'; then
	# libFuzzer exits 77 on a crash by default, which meson counts as a skip: make it a failure
	exec "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-error_exitcode=1 -timeout_exitcode=1 \
		-print_final_stats=1 -artifact_prefix="$work/" "$work" "$seeds"
fi
exec "$target" "$seeds"
