#!/bin/bash
# nested_kvm_rig: our own VMM booting the real guest on a real KVM. QEMU TCG emulates an AMD
# CPU with SVM and nested paging (L1); kvm_amd in L1 is an ordinary, complete KVM on which
# `parma` runs the scenarios of scenarios.sh: the KVM payload suite, stage0, Debian's kernel
# with 1 and 2 vCPUs and each way it stops, the agent over hybrid vsock, dm-verity and
# dm-crypt on our virtio-blk, and `parma run --backend kvm` through stage0.
#
# Usage: test_nested.sh PARMA PAYLOAD STAGE0 GUEST_INITRD PROBE_INITRD KERNEL
# Environment: NESTED_SCENARIOS="name ..." runs only those (NAME:SECONDS for one that an extra
# file defines); NESTED_EXTRA="path=source ..." adds files to L1 (/nested/extra.sh, if there,
# is sourced by scenarios.sh: the benchmark's scenarios); NESTED_KEEP=1 keeps the work
# directory; NESTED_REPEAT=N runs the set N times in the one L1 (the soak); NESTED_L2_QUIET= shows the L2 kernel's boot messages in its logs;
# NESTED_DEADLINE: seconds for the whole L1 run (default 3300); NESTED_LOCK_WAIT: seconds to
# wait for another nested run to finish (default 900, then skip).
# Exit: 0 every scenario printed PASS; 1 a FAIL, a missing scenario, or a hang (the vCPU
# registers are dumped through the QEMU monitor first); 77 QEMU without SVM emulation, no
# kernel, busybox-static or kvm_amd module, or the machine-wide nested lock stayed taken.
set -u
parma=$1 payload=$2 stage0=$3 initrd=$4 probe_initrd=$5 kernel=$6
src=${PARMA_SOURCE_ROOT:?}
here=$src/tests/nested

# name and deadline (seconds, on L1's clock) of every scenario, in the order they run
all_scenarios="payload-single 60
payload-smp 60
payload-sipi 60
payload-exits 120
payload-hostile 60
stage0-payload 90
linux-1vcpu-reboot 600
linux-2vcpu-panic 600
agent-vsock 600
agent-vsock-stage0 600
storage-2vcpu-mq 900
run-hello-world 900
run-e2e-stage0 2400"

skip() { echo "SKIP: $*"; exit 77; }
command -v qemu-system-x86_64 >/dev/null || skip "needs qemu-system-x86_64 (Debian qemu-system-x86)"
flags=$(qemu-system-x86_64 -cpu help 2>/dev/null)
for f in svm npt; do
	grep -qw "$f" <<<"$flags" || skip "this QEMU does not emulate AMD $f (needs QEMU >= 7 with TCG SVM)"
done
[ -r "$kernel" ] || skip "needs a Debian kernel (linux-image-amd64) in /boot"
kver=${kernel##*/vmlinuz-}
moddir=/lib/modules/$kver
[ -r "$moddir/modules.dep" ] || skip "needs the modules of $kver ($moddir)"
busybox=/bin/busybox
[ -x $busybox ] && ! ldd $busybox >/dev/null 2>&1 ||
	skip "needs a static busybox at /bin/busybox (Debian busybox-static)"
command -v cpio >/dev/null || skip "needs cpio"
for f in "$parma" "$payload" "$stage0" "$initrd" "$probe_initrd"; do
	[ -r "$f" ] || skip "needs $f (build the tree first)"
done

work=$(mktemp -d /tmp/parma-nested-XXXXXX)
root=$work/root
keep=${NESTED_KEEP:-0}
qpid=
cleanup() {
	[ -n "$qpid" ] && kill -KILL "$qpid" 2>/dev/null
	[ -n "${tailpid:-}" ] && kill "$tailpid" 2>/dev/null
	if [ "$keep" = 1 ]; then echo "(kept $work)"; else rm -rf "$work"; fi
}
trap cleanup EXIT
die() { echo "FAIL: $*"; keep=1; exit 1; }

# ---- what L1 holds ----
mkdir -p "$root"/{bin,boot,nested/build/vmm,nested/build/firmware/stage0,nested/modules} \
	"$root"/nested/build/firmware/payload "$root"/nested/build/guest/initrd "$root"/nested/storage
cp $busybox "$root/bin/busybox"
cp "$here/l1_init.sh" "$root/init"
cp "$here/scenarios.sh" "$root/nested/scenarios.sh"
chmod 755 "$root/init"
cp "$kernel" "$root/boot/"
cp "$parma" "$root/nested/build/vmm/parma"
cp "$stage0" "$root/nested/build/firmware/stage0/parma-stage0.elf"
cp "$payload" "$root/nested/build/firmware/payload/parma-payload.elf"
cp "$initrd" "$root/nested/build/guest/initrd/parma-initrd.img"
cp "$probe_initrd" "$root/nested/probe-initrd.img"

# parma's library closure, the dynamic loader included, at the same paths
ldd "$parma" | grep -o '/[^ ]*' | sort -u | while read -r lib; do
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done
[ -e "$root/lib64/ld-linux-x86-64.so.2" ] || die "no dynamic loader in parma's ldd closure"

# kvm_amd and its dependencies, deepest first (modules.dep lists them nearest first)
deps=$(grep "^kernel/arch/x86/kvm/kvm-amd.ko:" "$moddir/modules.dep" | cut -d: -f2)
[ -n "$deps" ] || skip "$moddir has no kvm-amd module"
for m in $(tr ' ' '\n' <<<"$deps" | tac) kernel/arch/x86/kvm/kvm-amd.ko; do
	cp "$moddir/$m" "$root/nested/modules/"
	basename "$m" >>"$root/nested/modules.load"
done

# the small L2 guest for exit codes: busybox as /init, the pvpanic driver
l2=$work/l2
mkdir -p "$l2/bin"
cp $busybox "$l2/bin/busybox"
cp "$here/l2_init.sh" "$l2/init"
chmod 755 "$l2/init"
cp "$moddir/kernel/drivers/misc/pvpanic/pvpanic.ko" "$moddir/kernel/drivers/misc/pvpanic/pvpanic-mmio.ko" "$l2/"
(cd "$l2" && find . | cpio -o -H newc --quiet) >"$root/nested/l2-initrd.img" || die "cpio (L2)"

# python3 for the scripts the scenarios reuse (the run e2e's explain replay checks): the
# binary, its library closure and the standard library without its tests and tools
py=$(readlink -f /usr/bin/python3)
pylib=$(/usr/bin/python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
[ -x "$py" ] && [ -d "$pylib" ] || skip "needs /usr/bin/python3 (Debian python3)"
mkdir -p "$root/usr/bin" "$root$pylib"
cp "$py" "$root/usr/bin/python3"
ldd "$py" | grep -o '/[^ ]*' | sort -u | while read -r lib; do
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done
tar -C "$pylib" --exclude=__pycache__ --exclude=./test --exclude=./idlelib --exclude=./tkinter \
	--exclude=./lib2to3 --exclude=./ensurepip --exclude=./pydoc_data --exclude=./turtledemo \
	--exclude=./distutils --exclude=./unittest --exclude=./site-packages \
	--exclude=./dist-packages --exclude='./config-*' -cf - . | tar -C "$root$pylib" -xf - ||
	die "copying python3's standard library"

# the scripts and specs the scenarios reuse
for f in tests/kvm/vmm/test_payload_boot.sh tests/kvm/firmware/test_firmware_vmm.sh \
	tests/e2e/vmm/group/test_run_e2e.sh tests/e2e/vmm/group/interactive.json tests/e2e/vmm/group/same_decisions.py \
	examples/hello-world/group.json examples/web-and-client/group.json; do
	mkdir -p "$root/nested/src/$(dirname $f)"
	cp "$src/$f" "$root/nested/src/$f"
done

# images: the examples' busybox image; the storage probe's layer (converted by the real
# `parma image convert`), a copy with one byte of big.txt flipped, and the busybox layer
python3 "$src/examples/make-images.py" "$root/nested/images" >/dev/null || die "make-images.py"
python3 "$src/tests/e2e/guest/make_image.py" "$work" >/dev/null || die "make_image.py"
"$parma" image convert --json --output "$work/cache" "$work/oci:latest" >"$work/convert.json" ||
	die "parma image convert"
python3 - "$work/convert.json" "$root/nested/storage" <<'PY' || die "layer images"
import json, shutil, sys
layers = json.load(open(sys.argv[1]))["layers"]
out = sys.argv[2]
base, data = layers[0], layers[1]
shutil.copy(base["image"], out + "/busybox.img")
shutil.copy(data["image"], out + "/layer.img")
img = bytearray(open(data["image"], "rb").read())
hit = img.find(b"BIGFILE-LINE-002000")
assert hit > 0, "big.txt is not stored uncompressed"
img[hit + 5] ^= 0x20
open(out + "/flipped.img", "wb").write(img)
open(out + "/args", "w").write(f'{data["root_hash"]} {data["hash_offset"]} {base["root_hash"]}\n')
PY

repeat=${NESTED_REPEAT:-1}
echo "$repeat" >"$root/nested/repeat"
[ "$keep" = 1 ] && touch "$root/nested/export-logs"
for extra in ${NESTED_EXTRA:-}; do
	mkdir -p "$root/$(dirname "${extra%%=*}")"
	cp -rL "${extra#*=}" "$root/${extra%%=*}"
done

list=${NESTED_SCENARIOS:-$(cut -d' ' -f1 <<<"$all_scenarios")}
: >"$root/nested/scenarios.list"
for name in $list; do
	case $name in
	*:*) line="${name%%:*} ${name#*:}" ;; # a scenario NESTED_EXTRA defines, with its deadline
	*) line=$(grep "^$name " <<<"$all_scenarios") || die "no scenario '$name'" ;;
	esac
	echo "$line" >>"$root/nested/scenarios.list"
done
cat >"$root/nested/env.sh" <<ENV
BUILD=/nested/build
PARMA=/nested/build/vmm/parma
PAYLOAD=/nested/build/firmware/payload/parma-payload.elf
STAGE0=/nested/build/firmware/stage0/parma-stage0.elf
INITRD=/nested/build/guest/initrd/parma-initrd.img
PROBE_INITRD=/nested/probe-initrd.img
L2_INITRD=/nested/l2-initrd.img
KERNEL=/boot/${kernel##*/}
SRC=/nested/src
IMAGES=/nested/images
L2_QUIET=${NESTED_L2_QUIET-quiet}
export PARMA_GUEST_KERNEL=/boot/${kernel##*/}
BENCH_REPS=${BENCH_REPS:-}
export ASAN_OPTIONS='${ASAN_OPTIONS:-}' UBSAN_OPTIONS='${UBSAN_OPTIONS:-}'
ENV
(cd "$root" && find . | cpio -o -H newc --quiet) >"$work/l1.cpio" || die "cpio (L1)"
echo "L1 initramfs: $(( $(stat -c %s "$work/l1.cpio") >> 20 )) MiB; scenarios: $(echo $list)"

# ---- boot L1: one SVM-emulating QEMU machine-wide (it needs both cores) ----
exec 9>/tmp/parma-nested.lock
if ! flock -n 9; then
	wait_s=${NESTED_LOCK_WAIT:-900}
	echo "waiting up to ${wait_s}s for /tmp/parma-nested.lock (another nested QEMU is running)"
	flock -w "$wait_s" 9 ||
		skip "another SVM-emulating QEMU held /tmp/parma-nested.lock for ${wait_s}s (one runs machine-wide)"
fi
log=$work/l1.log
: >"$log"
qemu-system-x86_64 -accel tcg,thread=multi -M q35 -cpu max,vendor=AuthenticAMD,+svm,+npt,-la57 \
	-smp 2 -m 4G -nodefaults -no-reboot -display none -serial "file:$log" \
	-monitor "unix:$work/monitor.sock,server=on,wait=off" \
	-kernel "$kernel" -initrd "$work/l1.cpio" \
	-append "console=ttyS0 rdinit=/init panic=-1 no_timer_check" 2>"$work/qemu.err" &
qpid=$!
tail -n +1 -f "$log" 2>/dev/null | grep --line-buffered '^NESTED' &
tailpid=$!

# The deadline is the scenarios' sum plus boot; a frozen L1 prints nothing (its kernel logs
# while it boots, L1 prints a line at least every ~30 s while a scenario runs), so 180 s of
# silence is a hang.
total=0
while read -r _ limit; do total=$((total + limit)); done <"$root/nested/scenarios.list"
total=$((120 + total * repeat))
(( total > ${NESTED_DEADLINE:-3300} )) && total=${NESTED_DEADLINE:-3300} # inside meson's timeout
start=$SECONDS last_size=0 last_change=$SECONDS hang=
while kill -0 $qpid 2>/dev/null; do
	sleep 2
	size=$(stat -c %s "$log")
	if [ "$size" != "$last_size" ]; then last_size=$size last_change=$SECONDS; fi
	if (( SECONDS - start > total )); then hang="no end after ${total}s"; break; fi
	if (( SECONDS - last_change > 180 )); then hang="L1 silent for 180s"; break; fi
done
if [ -n "$hang" ]; then
	echo "HANG: $hang; vCPU registers from the QEMU monitor:"
	python3 - "$work/monitor.sock" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(5)
def cmd(c):
    s.sendall(c.encode() + b"\n")
    time.sleep(1.5)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
            if len(chunk) < 65536:
                break
    except socket.timeout:
        pass
    sys.stdout.write(out.decode(errors="replace"))
cmd("info status")
cmd("info registers -a")
cmd("info registers -a")  # a second sample: a loop shows the same RIPs
PY
	kill -KILL $qpid
	keep=1
fi
wait $qpid
qrc=$?
sleep 0.5
kill $tailpid 2>/dev/null
tailpid=
if grep -q "^NESTED-LOGS-END" "$log"; then
	mkdir -p "$work/logs"
	sed -n '/^NESTED-LOGS-BEGIN/,/^NESTED-LOGS-END/p' "$log" | sed '1d;$d' | tr -d "\r" | base64 -d |
		tar xzf - -C "$work/logs" && echo "L1's logs: $work/logs"
fi
sed '/^NESTED-LOGS-BEGIN/,/^NESTED-LOGS-END/d' "$log" | grep -v "^NESTED" | tail -n 20 | sed 's/^/L1: /'
[ -s "$work/qemu.err" ] && grep -v "doesn't support requested feature" "$work/qemu.err" | sed 's/^/qemu: /'

# ---- the verdict: every listed scenario PASSed ----
grep -q "^NESTED NO-KVM" "$log" && die "QEMU lists SVM but kvm_amd gave L1 no /dev/kvm"
grep -q "^NESTED SETUP-ERROR" "$log" && die "L1 setup failed: $(grep '^NESTED SETUP-ERROR' "$log")"
failed=0
echo "scenario results (L1 clock):"
while read -r name _; do
	passes=$(grep -c "^NESTED PASS $name " "$log")
	if [ "$repeat" -gt 1 ]; then
		times=$(grep "^NESTED PASS $name " "$log" | awk '{print $4}' | tr '\n' ' ')
		echo "  $([ "$passes" = "$repeat" ] && echo PASS || echo FAIL) $name: $passes/$repeat passed ($times)"
		[ "$passes" = "$repeat" ] || failed=1
	elif line=$(grep -m1 "^NESTED PASS $name " "$log"); then
		echo "  PASS ${line#NESTED PASS }"
	elif line=$(grep -m1 "^NESTED FAIL $name " "$log"); then
		echo "  FAIL ${line#NESTED FAIL }"
		failed=1
	else
		echo "  FAIL $name: no result (L1 ${hang:-stopped, QEMU exit $qrc})"
		failed=1
	fi
done <"$root/nested/scenarios.list"
if [ "$repeat" -gt 1 ]; then
	grep "^NESTED REP " "$log" | sed 's/^NESTED /  /'
	echo "  repetitions: $(grep -c "^NESTED REP .* PASS" "$log")/$repeat passed"
fi
grep -q "^NESTED DONE" "$log" || { echo "FAIL: L1 did not finish its scenarios"; failed=1; }
[ -n "$hang" ] && echo "FAIL: hang ($hang)" && failed=1
echo "wall time: $((SECONDS - start)) s"
[ $failed = 0 ] || { keep=1; exit 1; }
echo "PASS: every scenario"
