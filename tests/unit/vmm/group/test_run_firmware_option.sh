#!/bin/sh
# `parma run --firmware FILE|none`: a firmware that is not there, --firmware with the qemu
# backend, and PARMA_FIRMWARE naming a missing file are refused with a message naming the
# problem before anything boots (no VM process, no group left claimed). The booting cases
# (stage0 given explicitly, and none) run on a real KVM in the nested rig (tests/nested).
# Exits 77 without /dev/kvm (the kvm backend is what --firmware is for).
set -u
parma=$1
src=${PARMA_SOURCE_ROOT:?}
[ -w /dev/kvm ] || { echo "SKIP: needs /dev/kvm (the kvm backend)"; exit 77; }
dir=$(mktemp -d /tmp/parma-run-firmware-XXXXXX)
trap 'rm -rf "$dir"' EXIT
export PARMA_STATE_DIR="$dir/state" PARMA_CACHE_DIR="$dir/cache" PARMA_DEV_CA="$dir/ca"
mkdir -p "$dir/ex/hello-world"
cp "$src/examples/hello-world/group.json" "$dir/ex/hello-world/"
python3 "$src/examples/make-images.py" "$dir/ex/images" >/dev/null || { echo "FAIL make-images"; exit 1; }
spec=$dir/ex/hello-world/group.json
fail=0
expect() { # name, exit code, message fragment, command...
	name=$1 want_code=$2 want=$3
	shift 3
	"$@" > "$dir/out" 2>&1
	code=$?
	if [ "$code" != "$want_code" ] || ! grep -q -- "$want" "$dir/out"; then
		echo "FAIL $name: exit $code (want $want_code, \"$want\"), output:"; cat "$dir/out"; fail=1
	elif grep -q "^== guest up" "$dir/out" || pgrep -f "parma boot.*$dir" >/dev/null; then
		echo "FAIL $name: a guest was started"; fail=1
	elif [ -e "$dir/state/hello-world/pid" ]; then
		echo "FAIL $name: the group is left claimed"; fail=1
	else
		echo "ok   $name: $(grep "parma" "$dir/out" | head -1)"
	fi
}
expect missing-file 4 "firmware $dir/nope: No such file" \
	"$parma" run --backend kvm --firmware "$dir/nope" "$spec"
command -v qemu-system-x86_64 >/dev/null && # the qemu backend is there to be chosen
	expect qemu-backend 2 "firmware needs the kvm backend" \
		"$parma" run --backend qemu --firmware none "$spec"
expect missing-env 4 "PARMA_FIRMWARE=$dir/nope: No such file" \
	env PARMA_FIRMWARE="$dir/nope" "$parma" run --backend kvm "$spec"
"$parma" run --help | grep -q -- "--firmware FILE|none" ||
	{ echo "FAIL: parma run --help does not describe --firmware"; fail=1; }
exit $fail
