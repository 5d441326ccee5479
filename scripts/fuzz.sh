#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS] [NAME...]: a fuzzing campaign. Runs every fuzz target of the test
# build (or only those whose test name contains one of NAME) for SECONDS each (default 600),
# one after another at the lowest CPU priority, keeping each target's growing corpus in
# BUILD/fuzz-work/<target>/. Prints, per target, how long it ran, how many inputs it tried,
# its coverage, and the crash, leak, timeout or out-of-memory inputs it found in this run
# (libFuzzer's reproducers). Exit status 1 if any target found one. Needs the clang build
# that scripts/test.sh makes (libFuzzer); the gcc build only replays seeds.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
builddir=${PARMA_TEST_BUILDDIR:-build-test}
[ -f "$builddir/build.ninja" ] || { echo "no build in $builddir: run scripts/test.sh first"; exit 2; }
case $seconds in ''|*[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS] [NAME...]"; exit 2;; esac
builddir=$(cd "$builddir" && pwd)

# name <TAB> executable <TAB> seed directory, for every test in the fuzz suite
targets=$(meson introspect --tests "$builddir" | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    if "fuzz" in t["suite"] or "parma:fuzz" in t["suite"]:
        print("%s\t%s\t%s" % (t["name"], t["cmd"][1], t["cmd"][2]))
')
# Build only the fuzz targets (not `parma` itself, which tests may be running meanwhile).
exes=$(printf '%s\n' "$targets" | cut -f2 | sed "s#^$builddir/##")
# shellcheck disable=SC2086
ninja -C "$builddir" $exes >/dev/null || { echo "build of the fuzz targets failed"; exit 1; }
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export PARMA_SOURCE_ROOT=$PWD PARMA_BUILD_ROOT=$builddir MESON_BUILD_ROOT=$builddir
found=0
summary=""
while IFS=$'\t' read -r name exe seeds; do
	[ -n "$name" ] || continue
	if [ $# -gt 0 ]; then
		want=0
		for n in "$@"; do case $name in *"$n"*) want=1;; esac; done
		[ $want = 1 ] || continue
	fi
	case $exe in /*) ;; *) exe="$builddir/$exe";; esac
	work="$builddir/fuzz-work/$(basename "$exe")"
	mkdir -p "$work"
	marker=$(mktemp)
	log="$work/campaign.log"
	start=$(date +%s)
	echo "== $name: ${seconds}s (log: $log)"
	nice -n 19 tests/fuzz/run_fuzz.sh "$exe" "$seeds" "$seconds" > "$log" 2>&1
	rc=$?
	ran=$(( $(date +%s) - start ))
	execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
	new=$(find "$work" -maxdepth 1 -newer "$marker" -type f \
		\( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sort)
	rm -f "$marker"
	line="$name: ran ${ran}s, ${execs:-?} inputs, coverage ${cov:-?} edges"
	if [ -n "$new" ] || [ $rc -ne 0 ]; then
		found=1
		line="$line, FOUND (exit $rc): $(echo $new)"
		grep -E '^==[0-9]+==ERROR|^SUMMARY|deadly signal' "$log" | head -3
	else
		line="$line, no crash"
	fi
	echo "$line"
	summary="$summary$line"$'\n'
done <<< "$targets"
echo
echo "campaign summary (${seconds}s per target):"
printf '%s' "$summary"
exit $found
