#!/bin/sh
# `parma run` rejects bad group specs with a clear error naming the problem, before anything
# boots (exit 3, no guest started, no state left behind).
set -u
parma=$1
dir=$(mktemp -d /tmp/parma-run-specs-XXXXXX)
export PARMA_STATE_DIR="$dir/state" PARMA_CACHE_DIR="$dir/cache"
fail=0
expect() { # name, expected message fragment, spec json
	name=$1 want=$2
	printf '%s\n' "$3" > "$dir/$name.json"
	"$parma" run --backend qemu "$dir/$name.json" > "$dir/out" 2>&1
	code=$?
	if [ "$code" != 3 ] || ! grep -q -- "$want" "$dir/out"; then
		echo "FAIL $name: exit $code (want 3), output:"; cat "$dir/out"; fail=1
	elif pgrep -f "qemu-system.*$dir" >/dev/null; then
		echo "FAIL $name: a guest was started"; fail=1
	else
		echo "ok   $name: $(head -1 "$dir/out")"
	fi
}
expect missing-image "containers\[0\].image" \
	'{"name":"g","containers":[{"name":"c","image":"does/not/exist"}]}'
expect unknown-field "frobnicate" \
	'{"name":"g","frobnicate":1,"containers":[{"name":"c","image":"x"}]}'
expect impossible-memory "memory_mib" \
	'{"name":"g","memory_mib":1048576,"containers":[{"name":"c","image":"x"}]}'
expect no-containers "containers" '{"name":"g","containers":[]}'
expect not-json "" '{"name": "g", '
if [ -e "$dir/state/g/pid" ]; then echo "FAIL: state left behind"; fail=1; fi
rm -rf "$dir"
exit $fail
