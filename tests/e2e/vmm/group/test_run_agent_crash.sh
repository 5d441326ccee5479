#!/bin/sh
# The guest agent (PID 1) crashing while containers run, under QEMU TCG. The guest: its kernel
# panics and the VM ends (panic=-1); nothing restarts the agent, whose policy state would be
# lost. The host: `parma run` exits 125 within bounded time saying the agent was killed by
# SIGSEGV; `parma ps` no longer lists the group; runtime state, sockets and processes are
# released; the logs, the console and requests.json are kept; the next run of the group
# works. The crash is brought in by a test initrd: the real one with agent-crasher appended
# as /usr/bin/crun (see agent_crasher.c). Exits 77 (skip) without QEMU, a guest kernel, the
# guest initrd or the test tools.
set -u
parma=$1 crasher=$2 mkcpio=$3
src=${PARMA_SOURCE_ROOT:?}
command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: needs qemu-system-x86_64 (Debian qemu-system-x86)"; exit 77; }
ls /boot/vmlinuz-* >/dev/null 2>&1 || { echo "SKIP: needs a guest kernel (Debian linux-image-amd64)"; exit 77; }
initrd=${PARMA_INITRD:-$(dirname "$parma")/../guest/initrd/parma-initrd.img}
[ -r "$initrd" ] || { echo "SKIP: needs the guest initrd ($initrd): build parma-agent"; exit 77; }
[ -x /usr/bin/crun ] || { echo "SKIP: needs crun (Debian crun) for the test initrd"; exit 77; }

work=$(mktemp -d /tmp/parma-e2e-crash-XXXXXX)
export PARMA_STATE_DIR="$work/state" PARMA_CACHE_DIR="$work/cache" PARMA_DEV_CA="$work/dev-ca"
state="$work/state/e2e-crash"
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
finish() {
	[ -n "${runpid:-}" ] && kill -9 "$runpid" 2>/dev/null
	pkill -9 -f "qemu-system.*$work/state" 2>/dev/null
	if [ $fail = 0 ]; then rm -rf "$work"; else echo "(kept $work)"; fi
	exit $fail
}
python3 "$src/examples/make-images.py" "$work/images" >/dev/null || { echo "FAIL make-images"; fail=1; finish; }
sed "s#\"images/busybox#\"$work/images/busybox#" "$src/tests/e2e/vmm/group/agent-crash.json" > "$work/g.json"

# the test initrd: the real one, then an archive that replaces /usr/bin/crun
printf 'dir /usr 0755\ndir /usr/bin 0755\nfile /usr/bin/crun %s 0755\nfile /usr/bin/crun.real /usr/bin/crun 0755\n' \
	"$crasher" > "$work/overlay.spec"
"$mkcpio" "$work/overlay.spec" "$work/overlay.cpio" || { echo "FAIL mkcpio"; fail=1; finish; }
{ cat "$initrd"; gzip -n -c "$work/overlay.cpio"; } > "$work/crash-initrd.img"

"$parma" run --backend qemu --initrd "$work/crash-initrd.img" "$work/g.json" > "$work/run.out" 2>&1 &
runpid=$!
for i in $(seq 1 900); do kill -0 $runpid 2>/dev/null || break; sleep 1; done
check "parma run ends by itself (nothing hangs)" '! kill -0 $runpid 2>/dev/null'
wait $runpid; code=$?
runpid=
check "both containers ran before the crash" \
	'grep -q "main | main up" "$work/run.out" && grep -q "victim | victim up" "$work/run.out"'
check "parma run exits 125 when the agent dies (got $code)" '[ $code = 125 ]'
check "it says the agent was killed by SIGSEGV and the VM ended" \
	'grep -q "the guest agent (PID 1) was killed by signal 11 (Segmentation fault), so the guest kernel panicked" "$work/run.out"'
check "the guest kernel says init died (the console is kept)" \
	'grep -q "Attempted to kill init! exitcode=0x0000000b" "$state/console.log"'
check "the agent was never restarted (one start on the console)" \
	'[ "$(grep -c "serving the host" "$state/console.log")" = 1 ]'
check "parma ps does not list the group" '! "$parma" ps e2e-crash >/dev/null 2>&1'
"$parma" ps e2e-crash > "$work/ps.out" 2>&1
check "parma ps says it is gone and where its logs are" \
	'grep -q "group .e2e-crash. is not running (no parma run owns it; the logs of its last run are in $state/logs)" "$work/ps.out"'
check "runtime state, sockets and processes are released" \
	'[ ! -e "$state/pid" ] && [ ! -e "$state/vm" ] && [ -z "$(find "$work/state" -type s)" ] &&
	 ! pgrep -f "qemu-system.*$work/state" >/dev/null'
check "records are kept (container logs, requests.json)" \
	'grep -q "main up" "$state/logs/main.log" && [ -s "$state/requests.json" ]'

# the next run of the group, on the real initrd, works
"$parma" run --backend qemu "$work/g.json" > "$work/run2.out" 2>&1 &
runpid=$!
for i in $(seq 1 600); do
	grep -q "victim | victim up" "$work/run2.out" && break
	kill -0 $runpid 2>/dev/null || break
	sleep 1
done
"$parma" stop e2e-crash >/dev/null 2>&1
for i in $(seq 1 60); do kill -0 $runpid 2>/dev/null || break; sleep 1; done
wait $runpid; code=$?
runpid=
check "the next run comes up and stops cleanly (exit $code)" \
	'grep -q "victim | victim up" "$work/run2.out" && [ $code = 143 ]'
[ $fail = 0 ] || { tail -20 "$work/run.out"; tail -20 "$state/console.log"; }
finish
