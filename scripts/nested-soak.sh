#!/usr/bin/env bash
# Soak the nested-KVM rig: one L1 machine runs the scenario set N times back to back (the VM
# create/destroy churn that froze multi-threaded TCG before L1 kept an idle VM open), and this
# prints every repetition's verdict, the scenarios that failed and the flake rate. Nothing is
# retried: a failed scenario fails its repetition; a hang (L1 frozen: the rig dumps the vCPU
# registers into the log) ends the soak and every repetition it did not finish counts as failed.
# Usage: scripts/nested-soak.sh N   (N >= 1; NESTED_SCENARIOS="name ..." soaks a subset;
# PARMA_TEST_BUILDDIR: the build, default build-test). Log: BUILD/meson-logs/nested-soak.log.
# Exit status: 0 only if every repetition passed.
set -uo pipefail
cd "$(dirname "$0")/.."
n=${1:-}
[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "usage: scripts/nested-soak.sh N (repetitions, >= 1)"; exit 2; }
builddir=${PARMA_TEST_BUILDDIR:-build-test}
[ -f "$builddir/build.ninja" ] || { echo "$builddir is not configured: run scripts/test.sh first"; exit 2; }
meson compile -C "$builddir" >/dev/null || { echo "build failed"; exit 1; }
log=$builddir/meson-logs/nested-soak.log

start=$SECONDS
NESTED_REPEAT=$n NESTED_DEADLINE=$((3300 * n)) \
	meson test -C "$builddir" nested_kvm_rig --no-rebuild -v --timeout-multiplier "$n" >"$log" 2>&1
rc=$?
if grep -q "^SKIP: " "$log" && ! grep -q "scenario results" "$log"; then
	grep -m1 "^SKIP: " "$log"
	exit 77
fi
grep -E "^  (PASS|FAIL) " "$log"
passed=$(grep -c "^NESTED REP [0-9]*/$n PASS" "$log")
failed=$((n - passed))
hang=$(grep -m1 "^HANG:" "$log")
echo "repetitions: $passed/$n passed${hang:+; $hang}"
echo "flake rate: $failed/$n repetitions failed ($(awk "BEGIN{printf \"%.1f\", 100 * $failed / $n}")%), wall $((SECONDS - start)) s; log: $log"
[ $rc = 0 ] && [ $failed = 0 ]
