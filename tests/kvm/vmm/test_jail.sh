#!/bin/sh
# The VMM's jail: `parma boot --jail DIR --uid U --gid G` runs the test payload confined, and
# a probe entering the same jail checks from inside what it can and cannot open or do.
# Usage: test_jail.sh PARMA PAYLOAD PROBE. Skips (77) without root, /dev/kvm or namespaces.
set -u
parma=$1 payload=$2 probe=$3
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (namespaces, mounts)"; exit 77; }
[ -c /dev/kvm ] || { echo "SKIP: needs /dev/kvm"; exit 77; }
unshare -m -p -f -i -u -n true 2>/dev/null || { echo "SKIP: needs mount/PID/IPC/UTS/net namespaces"; exit 77; }
gid=$(stat -c %g /dev/kvm)
[ "$gid" != 0 ] || { echo "SKIP: /dev/kvm is owned by group root: no unprivileged group opens it"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
mkdir "$tmp/out"
"$parma" boot --jail "$tmp/root" --uid 65534 --gid "$gid" --kernel "$payload" --serial none \
	--debug-log "$tmp/out/log" --mem 64 --cmdline parma.test=single 2>"$tmp/err"
rc=$?
if [ $rc = 0 ] && grep -q "payload start" "$tmp/out/log"; then
	echo "ok   the payload boots in the jail (exit 0)"
else
	echo "FAIL parma boot --jail exited $rc"; cat "$tmp/err"; fail=1
fi
grep -q "warning: --jail: no cgroup v2" "$tmp/err" && echo "note: this host has no cgroup v2 hierarchy: the cgroup limits were not applied (and are not tested here)"
"$parma" boot --jail "$tmp/root2" --uid 65534 --kernel "$payload" >/dev/null 2>&1
[ $? = 2 ] && echo "ok   --jail without --gid is a usage error" || { echo "FAIL --jail without --gid"; fail=1; }
"$parma" boot --jail "$tmp/root3" --uid 65534 --gid 65534 --kernel "$payload" --serial none \
	--debug-log none 2>"$tmp/err3"
rc=$?
if [ $rc = 4 ] && grep -q "cannot open /dev/kvm" "$tmp/err3"; then
	echo "ok   a gid that cannot open /dev/kvm is refused clearly (exit 4)"
else
	echo "FAIL gid without /dev/kvm access: exit $rc: $(cat "$tmp/err3")"; fail=1
fi
mkdir "$tmp/probe-out"
# a kernel file everyone may write: only the jail's read-only bind mount stops the write
cp "$payload" "$tmp/kernel" && chmod 666 "$tmp/kernel"
"$probe" "$tmp/kernel" "$tmp/probe-out" 65534 "$gid" "$tmp/root4" || fail=1
exit $fail
