#!/bin/sh
# libparma exports exactly the symbols its version script lists: one that leaks (a helper of
# a static library it links) or one that is missing fails.
# Usage: test_symbols.sh LIBPARMA.so libparma.map
set -u
lib=$1 map=$2
command -v nm >/dev/null || { echo "SKIP: needs nm (Debian binutils)"; exit 77; }
exported=$(nm -D --defined-only "$lib" | awk '$2 != "A" { print $3 }' | sed 's/@.*//' | sort -u)
listed=$(sed -n '/global:/,/local:/p' "$map" | grep -o '^ *parma_[a-z_]*' | tr -d ' ' | sort -u)
[ -n "$listed" ] || { echo "FAIL: no symbols listed in $map"; exit 1; }
leaked=$(printf '%s\n' "$exported" | grep -vxF "$listed")
missing=$(printf '%s\n' "$listed" | grep -vxF "$exported")
[ -z "$leaked" ] || { echo "FAIL: exported but not listed in $map:"; echo "$leaked" | head -20; }
[ -z "$missing" ] || { echo "FAIL: listed but not exported:"; echo "$missing"; }
[ -z "$leaked$missing" ] || exit 1
echo "ok   libparma exports exactly the $(echo "$listed" | wc -l) listed symbols"
