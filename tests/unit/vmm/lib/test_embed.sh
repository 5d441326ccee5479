#!/bin/sh
# examples/embed builds against the installed libparma with only pkg-config and runs: its
# policy digest for a group spec equals `parma policy gen`'s; a group that is not there is an
# error code and message (the library itself prints nothing).
# Usage: test_embed.sh BUILD_DIR CC SANITIZE   (SANITIZE: meson's b_sanitize, or none)
set -u
build=$1 cc=$2 sanitize=$3
src=${PARMA_SOURCE_ROOT:?}
command -v pkg-config >/dev/null || { echo "SKIP: needs pkg-config"; exit 77; }
work=$(mktemp -d /tmp/parma-embed-XXXXXX)
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
meson install -C "$build" --no-rebuild --destdir "$work/root" >"$work/install.log" 2>&1 ||
	{ tail -20 "$work/install.log"; echo "FAIL meson install"; exit 1; }
prefix=$(meson introspect "$build" --buildoptions | /usr/bin/python3 -c \
	'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
pc=$(dirname "$(find "$work/root" -name parma.pc | head -1)")
check "the pkg-config file is installed" '[ -f "$pc/parma.pc" ]'
check "the header is installed" '[ -n "$(find "$work/root" -name parma.h)" ]'
flags=$(PKG_CONFIG_PATH="$pc" pkg-config --define-variable=prefix="$work/root$prefix" \
	--cflags --libs parma)
san=
[ "$sanitize" != none ] && san="-fsanitize=$sanitize"
$cc $san -Wall -Wextra -Werror "$src/examples/embed/embed.c" $flags -o "$work/embed" \
	2>"$work/cc.log"
check "examples/embed builds with only pkg-config" '[ -x "$work/embed" ]' || cat "$work/cc.log"
libdir=$(dirname "$(find "$work/root" -name 'libparma.so' | head -1)")
export LD_LIBRARY_PATH="$libdir"
/usr/bin/python3 "$src/examples/make-images.py" "$work/images" >/dev/null ||
	{ echo "FAIL make-images"; exit 1; }
sed "s#\"images/busybox#\"$work/images/busybox#" "$src/tests/e2e/vmm/group/api.json" > "$work/g.json"
"$work/embed" policy "$work/g.json" "$work/cache" > "$work/digest.out" 2>"$work/embed.err"
check "embed generates the policy (exit $?)" '[ -s "$work/digest.out" ]'
"$build/vmm/parma" policy gen --cache-dir "$work/cache" -o "$work/policy.json" "$work/g.json" \
	>/dev/null 2>&1
want=$(sha256sum "$work/policy.json" | cut -d' ' -f1)
check "its digest is parma policy gen's" '[ "$(cat "$work/digest.out")" = "$want" ]'
"$work/embed" group "$work/none.sock" > "$work/open.out" 2>&1
code=$?
check "a group that is not there: an error code and a message naming it (exit $code)" \
	'[ $code = 1 ] && grep -q "embed: open: .*none.sock" "$work/open.out"'
check "the library printed nothing of its own" '! grep -v "^embed: \|^  " "$work/open.out"'
"$work/embed" policy "$work/nope.json" > "$work/bad.out" 2>&1
check "a missing spec is an error naming it" 'grep -q "nope.json" "$work/bad.out"'
if [ $fail = 0 ]; then rm -rf "$work"; else echo "(kept $work)"; fi
exit $fail
