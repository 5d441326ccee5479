#!/bin/sh
# parma run end to end under QEMU TCG (dev attestation):
#  1. the two-container example (examples/web-and-client) runs and exits 0 with the page;
#  2. on a running group: a container whose user is a name from the image's passwd (www,
#     uid 33) writes and reads its scratch and tmpfs mounts; another container's scratch mount
#     of the same name is its own; an unlisted `parma exec` is denied with its rule and an
#     explain hint, a listed one runs; `parma attest` + `parma verify --policy` holds, and fails for
#     another policy; `parma ps` lists it; the main container's exit code becomes run's;
#  3. `parma stop` ends a running group; its output, piped, arrives line by line meanwhile.
# Exits 77 (skip) without QEMU, a guest kernel or the guest initrd.
# The nested rig runs it on a real KVM: PARMA_E2E_RUN_ARGS="--backend kvm" goes to every
# `parma run`, PARMA_E2E_IMAGES is the examples' images already built, and
# PARMA_E2E_FIRMWARE=1 asserts the measured firmware path (a non-zero MEASUREMENT).
set -u
parma=$1
src=${PARMA_SOURCE_ROOT:?}
run_args=${PARMA_E2E_RUN_ARGS:-}
case " $run_args " in
*" --backend kvm "*) ;;
*) command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: needs qemu-system-x86_64 (Debian qemu-system-x86)"; exit 77; } ;;
esac
ls /boot/vmlinuz-* >/dev/null 2>&1 || { echo "SKIP: needs a guest kernel (Debian linux-image-amd64)"; exit 77; }
initrd=${PARMA_INITRD:-$(dirname "$parma")/../guest/initrd/parma-initrd.img}
[ -r "$initrd" ] || { echo "SKIP: needs the guest initrd ($initrd): build parma-agent"; exit 77; }

work=$(mktemp -d /tmp/parma-e2e-run-XXXXXX)
export PARMA_STATE_DIR="$work/state" PARMA_CACHE_DIR="$work/cache" PARMA_DEV_CA="$work/dev-ca"
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
vm_left() { # a process (QEMU, or our VMM) whose command line names this run's state
	for f in /proc/[0-9]*/cmdline; do
		case $(tr '\0' ' ' <"$f" 2>/dev/null) in *"$work/state/"*) return 0 ;; esac
	done
	return 1
}
finish() {
	[ -n "${runpid:-}" ] && kill "$runpid" 2>/dev/null
	if [ $fail = 0 ]; then rm -rf "$work"; else echo "(kept $work)"; fi
	exit $fail
}

if [ -n "${PARMA_E2E_IMAGES:-}" ]; then
	cp -r "$PARMA_E2E_IMAGES" "$work/images"
else
	python3 "$src/examples/make-images.py" "$work/images" >/dev/null || { echo "FAIL make-images"; fail=1; finish; }
fi

# 1. the example as written (its images path is relative to the spec)
mkdir -p "$work/ex/web-and-client"
cp "$src/examples/web-and-client/group.json" "$work/ex/web-and-client/"
ln -s "$work/images" "$work/ex/images"
"$parma" run $run_args "$work/ex/web-and-client/group.json" > "$work/ex.out" 2>&1
code=$?
check "example web-and-client exits 0 (got $code)" '[ $code = 0 ]'
check "client printed the page served by web over loopback" \
	'grep -q "client | hello from the web container" "$work/ex.out"'
check "attestation summary verified" 'grep -q "attestation (dev): VERIFIED" "$work/ex.out"'
if [ "${PARMA_E2E_FIRMWARE:-0}" = 1 ]; then
	check "booted through stage0 (measured boot)" 'grep -q "^== firmware .*(measured boot)" "$work/ex.out"'
	check "booted through stage0: the report claims a launch MEASUREMENT" \
		'grep "MEASUREMENT" "$work/ex.out" | grep -q "[1-9a-f]"'
fi
[ $fail = 0 ] || cat "$work/ex.out"

# 2. a group that keeps running until told to stop
cp "$src/tests/e2e/vmm/group/interactive.json" "$work/g.json"
sed -i "s#\"images/busybox#\"$work/images/busybox#" "$work/g.json"
"$parma" run $run_args "$work/g.json" > "$work/run.out" 2>&1 &
runpid=$!
for i in $(seq 1 300); do
	grep -q "waiter | waiting" "$work/run.out" && grep -q "attestation (dev)" "$work/run.out" && break
	kill -0 $runpid 2>/dev/null || break
	sleep 1
done
check "group is up" 'grep -q "waiter | waiting" "$work/run.out"'
check "the waiter runs as the image's user www (uid 33)" 'grep -q "waiter | uid 33" "$work/run.out"'
check "a scratch mount from the spec is writable by that non-root user" 'grep -q "waiter | scratch-ok" "$work/run.out"'
check "a tmpfs mount from the spec is writable by that non-root user" 'grep -q "waiter | tmpfs-ok" "$work/run.out"'
# the exit code says it (0: web has a /data of its own, without the waiter's probe)
"$parma" exec e2e-run web -- /bin/sh -c "test -d /data && test ! -e /data/probe" \
	> "$work/web-data.out" 2>&1
code=$?
check "web's scratch mount of the same name is its own: waiter's probe is not there (exit $code)" \
	'[ $code = 0 ]'
check "parma ps lists it" '"$parma" ps e2e-run | grep -q "e2e-run *web *running"'
check "parma logs has the container's output" '"$parma" logs e2e-run waiter | grep -q "^waiting"'

"$parma" exec e2e-run web -- /bin/sh -c id > "$work/deny.out" 2>&1
code=$?
check "unlisted exec is denied (exit $code)" '[ $code = 1 ] && grep -q "denied" "$work/deny.out"'
check "denial names the rule" 'grep -qi "exec_process" "$work/deny.out"'
check "denial gives the explain command" 'grep -q "parma policy explain" "$work/deny.out"'
# every request run recorded, replayed by explain, reaches the decision the agent made
"$parma" policy explain --json "$work/state/e2e-run/policy.json" "$work/state/e2e-run/requests.json" \
	> "$work/explain.json" 2>"$work/explain.err"
check "explain replays every recorded request to the agent's decision" \
	'python3 "$src/tests/e2e/vmm/group/same_decisions.py" "$work/explain.json" "$work/state/e2e-run/decisions.json"'
"$parma" policy explain --json "$work/state/e2e-run/policy.json" "$work/state/e2e-run/denied-exec.json" \
	> "$work/explain-exec.json" 2>&1
check "explain replays the denied exec to the agent's rule (exec_process)" \
	'python3 -c "import json,sys; d=json.load(open(sys.argv[1]))[-1]; sys.exit(d[\"allowed\"] or d[\"reason\"][\"rule\"] != \"exec_process\")" "$work/explain-exec.json"'
"$parma" exec e2e-run web -- /bin/wget -q -O - http://127.0.0.1:8080/index.html > "$work/exec.out" 2>&1
code=$?
check "listed exec runs (exit $code)" '[ $code = 0 ] && grep -q "hello from the web container" "$work/exec.out"'
# every byte of an exec's output arrives before its exit status, every time (a short command's
# output can come in the same read as the exec's answer)
same=0
for i in 1 2 3 4 5 6 7 8; do
	"$parma" exec e2e-run web -- /bin/wget -q -O - http://127.0.0.1:8080/index.html \
		> "$work/exec-$i.out" 2>&1 && cmp -s "$work/exec.out" "$work/exec-$i.out" &&
		same=$((same + 1))
done
check "8 more execs each print the whole page ($same of 8)" '[ $same = 8 ]'

"$parma" attest e2e-run --report-data 0123abcd --certs-out "$work/certs" > "$work/report.bin" 2>"$work/attest.err"
check "attest wrote a 1184-byte report" '[ "$(stat -c %s "$work/report.bin")" = 1184 ]'
policy="$work/state/e2e-run/policy.json"
"$parma" verify "$work/report.bin" --certs "$work/certs" --policy "$policy" --allow-dev \
	--report-data 0123abcd > "$work/verify.out" 2>&1
code=$?
check "verify --policy holds (exit $code)" '[ $code = 0 ]'
sed 's/"waiter"/"waiter2"/' "$policy" > "$work/other-policy.json"
"$parma" verify "$work/report.bin" --certs "$work/certs" --policy "$work/other-policy.json" \
	--allow-dev > "$work/verify2.out" 2>&1
code=$?
check "verify with another policy fails (exit $code)" '[ $code = 1 ]'
"$parma" verify "$work/report.bin" --certs "$work/certs" --policy "$policy" > "$work/verify3.out" 2>&1
code=$?
check "a dev report without --allow-dev fails (exit $code)" '[ $code != 0 ]'

"$parma" exec e2e-run waiter -- /bin/sh -c ': > /tmp/stop' > "$work/stop.out" 2>&1
check "listed exec in the main container" '[ $? = 0 ]'
wait $runpid
code=$?
runpid=
check "parma run exits with the main container's code 3 (got $code)" '[ $code = 3 ]'
check "no parma run owns the group any more" '! "$parma" ps e2e-run >/dev/null 2>&1'
[ $fail = 0 ] || { echo "--- run output"; cat "$work/run.out"; }

# 3. `parma stop` (SIGTERM to parma run): containers shut down, the VM stops, state released.
# Its output goes through a pipe, as to a log collector: each line must arrive as printed,
# while the group runs, not in one burst at exit.
mkfifo "$work/run2.pipe"
cat "$work/run2.pipe" > "$work/run2.out" &
catpid=$!
"$parma" run $run_args "$work/g.json" > "$work/run2.pipe" 2>&1 &
runpid=$!
live=0
for i in $(seq 1 300); do
	if grep -q "waiter | waiting" "$work/run2.out"; then
		kill -0 $runpid 2>/dev/null && live=1
		break
	fi
	kill -0 $runpid 2>/dev/null || break
	sleep 1
done
check "parma run's output reaches a pipe line by line while the group runs" '[ $live = 1 ]'
"$parma" stop e2e-run > "$work/stop2.out" 2>&1
check "parma stop stops the group" '[ $? = 0 ] && grep -q "stopped e2e-run" "$work/stop2.out"'
wait $runpid
code=$?
runpid=
check "parma run exits 143 (128+SIGTERM) when stopped (got $code)" '[ $code = 143 ]'
wait $catpid
check "no VM is left running" '! vm_left'
check "the runtime state is released" '[ ! -e "$work/state/e2e-run/pid" ] && [ ! -e "$work/state/e2e-run/vm" ]'
[ $fail = 0 ] || { echo "--- run 2 output"; cat "$work/run2.out"; }
finish
