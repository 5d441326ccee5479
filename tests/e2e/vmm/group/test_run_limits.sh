#!/bin/sh
# cgroup v2 limits of a group spec's containers, enforced in the guest under QEMU TCG: the
# container "limited" (memory_mib 32, pids_max 16, cpu_millis 500) reads its own cgroup's
# limits, is OOM-killed past 32 MiB, throttled past half a CPU and refused forks past 16 tasks,
# each seen from inside; the container "free" (no resources) does the same 64 MiB allocation
# and succeeds, so the limit is what stopped it. Exits 77 (skip) without QEMU, a guest kernel
# or the guest initrd.
set -u
parma=$1
src=${PARMA_SOURCE_ROOT:?}
command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: needs qemu-system-x86_64 (Debian qemu-system-x86)"; exit 77; }
ls /boot/vmlinuz-* >/dev/null 2>&1 || { echo "SKIP: needs a guest kernel (Debian linux-image-amd64)"; exit 77; }
initrd=${PARMA_INITRD:-$(dirname "$parma")/../guest/initrd/parma-initrd.img}
[ -r "$initrd" ] || { echo "SKIP: needs the guest initrd ($initrd): build parma-agent"; exit 77; }

work=$(mktemp -d /tmp/parma-e2e-limits-XXXXXX)
export PARMA_STATE_DIR="$work/state" PARMA_CACHE_DIR="$work/cache" PARMA_DEV_CA="$work/dev-ca"
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
python3 "$src/examples/make-images.py" "$work/images" >/dev/null || { echo "FAIL make-images"; exit 1; }
sed "s#\"images/busybox#\"$work/images/busybox#" "$src/tests/e2e/vmm/group/limits.json" > "$work/g.json"

"$parma" run --backend qemu "$work/g.json" > "$work/run.out" 2>&1 &
runpid=$!
for i in $(seq 1 600); do
	grep -q "limits-done" "$work/run.out" && grep -q "dd-free=" "$work/run.out" && break
	kill -0 $runpid 2>/dev/null || break
	sleep 1
done
"$parma" stop e2e-limits >/dev/null 2>&1
for i in $(seq 1 60); do kill -0 $runpid 2>/dev/null || break; sleep 1; done
kill -9 $runpid 2>/dev/null
wait $runpid
out="$work/run.out"
check "parma run asked the agent for the limits (requests.json)" \
	'grep -q "pids_max" "$work/state/e2e-limits/requests.json"'
check "the container sees its cgroup v2 limits" \
	'grep -q "limited | limits: memory.max=33554432 pids.max=16 cpu.max=50000 100000" "$out"'
check "an allocation past memory_mib is OOM-killed in the container" 'grep -q "limited | dd-limited=137" "$out"'
check "the kernel counted the OOM kill in the container's cgroup" \
	'grep -q "limited | memory-events: oom_kill [1-9]" "$out"'
check "the same allocation without a limit succeeds" 'grep -q "free | dd-free=0" "$out"'
check "a busy loop past cpu_millis is throttled" 'grep -q "limited | cpu-stat: nr_throttled [1-9]" "$out"'
check "forks past pids_max are refused" 'grep -q "limited | pids-events: max=[1-9]" "$out"'
if [ $fail = 0 ]; then rm -rf "$work"; else tail -40 "$out"; echo "(kept $work)"; fi
exit $fail
