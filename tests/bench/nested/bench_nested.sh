#!/bin/bash
# nested_bench_vs_qemu: parma against `qemu-system-x86_64 -M microvm -accel kvm` on the same
# L1 KVM of the nested rig (tests/nested), booting the same kernel. See bench_l1.sh for what
# is measured. Prints min/median/max of each side and the ratios against the goals:
#   agent ready: parma <= 0.5x QEMU's time;  in-guest random-read IOPS: parma >= 1.0x QEMU's.
# Usage: bench_nested.sh PARMA PAYLOAD STAGE0 GUEST_INITRD PROBE_INITRD KERNEL BLK_READER
# (BENCH_REPS: repetitions per side, default 5). Exits 77 where the rig does.
set -u
reader=${7:?usage: bench_nested.sh PARMA PAYLOAD STAGE0 GUEST_INITRD PROBE_INITRD KERNEL BLK_READER}
src=${PARMA_SOURCE_ROOT:?}
kernel=$6
kver=${kernel##*/vmlinuz-}
moddir=/lib/modules/$kver
qemu=$(command -v qemu-system-x86_64) || { echo "SKIP: needs qemu-system-x86_64 (the peer)"; exit 77; }
[ -r "$moddir/modules.dep" ] || { echo "SKIP: needs the modules of $kver"; exit 77; }
[ -x /bin/busybox ] || { echo "SKIP: needs busybox-static"; exit 77; }
work=$(mktemp -d /tmp/parma-nested-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

# the reader guest: busybox, blk-reader, the virtio-mmio and virtio-blk drivers
r=$work/reader
mkdir -p "$r/bin"
cp /bin/busybox "$r/bin/"
cp "$reader" "$r/blk-reader"
cp "$src/tests/bench/nested/reader_init.sh" "$r/init"
chmod 755 "$r/init" "$r/blk-reader"
# each driver after what it needs (modules.dep lists a module's dependencies nearest first;
# virtio.ko itself needs virtio_ring.ko): a module loaded too early leaves the guest diskless
for target in kernel/drivers/virtio/virtio_mmio.ko kernel/drivers/block/virtio_blk.ko; do
	deps=$(grep "^$target:" "$moddir/modules.dep" | cut -d: -f2)
	for m in $(tr ' ' '\n' <<<"$deps" | tac) $target; do
		[ -e "$r/$(basename "$m")" ] && continue
		cp "$moddir/$m" "$r/" || { echo "FAIL: no $moddir/$m"; exit 1; }
		basename "$m" >>"$r/modules.load"
	done
done
(cd "$r" && find . | cpio -o -H newc --quiet) >"$work/reader-initrd.img"

# QEMU in L1: the binary, its library closure, its microvm firmware
extra="nested/extra.sh=$src/tests/bench/nested/bench_l1.sh nested/reader-initrd.img=$work/reader-initrd.img"
extra+=" usr/bin/qemu-system-x86_64=$qemu usr/share/qemu/bios-microvm.bin=/usr/share/qemu/bios-microvm.bin"
for lib in $(ldd "$qemu" | grep -o '/[^ ]*' | sort -u); do extra+=" ${lib#/}=$lib"; done

host_load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "host load average before: $(host_load)"
NESTED_EXTRA=$extra NESTED_SCENARIOS="bench:3000" \
	"$src/tests/nested/test_nested.sh" "$1" "$2" "$3" "$4" "$5" "$6" | tee "$work/out"
rc=${PIPESTATUS[0]}
echo "host load average after: $(host_load)"
[ "$rc" = 77 ] && exit 77 # the rig could not run here (it said why)
[ "$rc" = 0 ] || { echo "FAIL: the benchmark run in L1 failed"; exit 1; }

python3 - "$work/out" <<'PY'
import statistics, sys
samples = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) == 5 and f[:2] == ["NESTED", "BENCH"] and f[2] in ("parma", "qemu"):
        samples.setdefault((f[2], f[3]), []).append(float(f[4]))
    elif len(f) == 5 and f[:3] == ["NESTED", "BENCH", "l1"]:
        print(f"L1 load average at the end: {f[4]}")
def show(side, metric):
    v = samples.get((side, metric), [])
    if not v:
        print(f"  {side:5} {metric}: no samples"); return None
    print(f"  {side:5} {metric:22} min {min(v):10.1f}  median {statistics.median(v):10.1f}  "
          f"max {max(v):10.1f}  (n={len(v)})")
    return statistics.median(v)
print("nested benchmark: parma vs QEMU microvm -accel kvm, same L1 KVM, same kernel")
ratios = {}
for metric in ("agent_ready_ms", "rss_beyond_guest_kib", "randread_iops", "seqread_mibps"):
    p, q = show("parma", metric), show("qemu", metric)
    if p is not None and q:
        ratios[metric] = p / q
goals = {"agent_ready_ms": ("<=", 0.5), "randread_iops": (">=", 1.0)}
for metric, r in ratios.items():
    goal = goals.get(metric)
    verdict = ""
    if goal:
        met = r <= goal[1] if goal[0] == "<=" else r >= goal[1]
        verdict = f"  (goal {goal[0]} {goal[1]}x: {'met' if met else 'NOT met'})"
    print(f"parma/qemu {metric} = {r:.2f}x (medians){verdict}")
if len(ratios) < 4:
    print("FAIL: samples missing"); sys.exit(1)
PY
