#!/usr/bin/env bash
# Soak the nested-KVM rig: run its whole scenario set N times, each in a fresh L1 machine
# (meson test nested_kvm_rig), and print every run's verdict, the scenarios that failed, and
# the flake rate. A hang counts as a failure (the rig dumps the vCPU registers into that
# run's log); nothing is retried. Logs: BUILD/meson-logs/nested-soak/run-<i>.log.
# Usage: scripts/nested-soak.sh N   (PARMA_TEST_BUILDDIR: the build, default build-test)
# Exit status: 0 only if every run passed.
set -uo pipefail
cd "$(dirname "$0")/.."
n=${1:-}
[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "usage: scripts/nested-soak.sh N (runs, >= 1)"; exit 2; }
builddir=${PARMA_TEST_BUILDDIR:-build-test}
[ -f "$builddir/build.ninja" ] || { echo "$builddir is not configured: run scripts/test.sh first"; exit 2; }
meson compile -C "$builddir" >/dev/null || { echo "build failed"; exit 1; }
logs=$builddir/meson-logs/nested-soak
rm -rf "$logs"
mkdir -p "$logs"

passed=0 failed=0 hangs=0 skipped=0
declare -A scenario_fails=()
for i in $(seq 1 "$n"); do
	log=$logs/run-$i.log
	start=$SECONDS
	meson test -C "$builddir" nested_kvm_rig --no-rebuild -v >"$log" 2>&1
	rc=$?
	wall=$((SECONDS - start))
	if grep -q "SKIP: " "$log" && ! grep -q "scenario results" "$log"; then
		skipped=$((skipped + 1))
		echo "run $i/$n: SKIP ($(grep -m1 -o 'SKIP: .*' "$log"))"
		continue
	fi
	bad=$(grep -E '^ *FAIL [a-z0-9-]+ ' "$log" | awk '{print $2}' | sort -u | tr '\n' ' ')
	for s in $bad; do scenario_fails[$s]=$(( ${scenario_fails[$s]:-0} + 1 )); done
	if [ $rc = 0 ]; then
		passed=$((passed + 1))
		echo "run $i/$n: PASS (${wall}s)"
	else
		failed=$((failed + 1))
		what="FAIL"
		if grep -q "^HANG:" "$log"; then
			hangs=$((hangs + 1))
			what="HANG ($(grep -m1 '^HANG:' "$log" | cut -c7-))"
		fi
		echo "run $i/$n: $what (${wall}s) scenarios: ${bad:-none reported}; log $log"
	fi
done
ran=$((passed + failed))
echo "scenario failures:"
if [ ${#scenario_fails[@]} = 0 ]; then echo "  none"; fi
for s in "${!scenario_fails[@]}"; do echo "  $s: ${scenario_fails[$s]}/$ran runs"; done
if [ $ran = 0 ]; then
	echo "flake rate: no run completed ($skipped skipped)"
	exit 1
fi
echo "flake rate: $failed/$ran runs failed ($(awk "BEGIN{printf \"%.1f\", 100 * $failed / $ran}")%), $hangs hang(s), $skipped skipped"
[ $failed = 0 ]
