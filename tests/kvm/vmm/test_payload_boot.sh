#!/bin/sh
# KVM boots of the test payload through `parma boot`, asserting what the guest reports.
# Usage: test_payload_boot.sh PARMA PAYLOAD CASE   (CASE: single, smp, sipi, exits, serial, hostile)
set -u
parma=$1 payload=$2 case=$3
if [ ! -c /dev/kvm ] || ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
	echo "SKIP: needs read-write /dev/kvm (hardware or nested KVM)"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
expect() { # expect LINE: the debug log has exactly this line
	if grep -qxF -- "$1" "$tmp/log"; then :; else echo "FAIL: guest did not report '$1'"; fail=1; fi
}
boot() { # boot RC ARGS...: run parma boot, check its exit status
	want=$1; shift
	"$parma" boot --kernel "$payload" --serial none --debug-log "$tmp/log" "$@" 2>"$tmp/err"
	rc=$?
	if [ "$rc" != "$want" ]; then
		echo "FAIL: parma boot $* exited $rc, expected $want"; cat "$tmp/err"; cat "$tmp/log"; fail=1
	fi
}
sha() { sha256sum "$1" | cut -d' ' -f1; }

case $case in
single)
	head -c 300000 /dev/urandom >"$tmp/initrd"
	cmdline="console=ttyS0 parma.test=single x=1"
	printf '%s' "$cmdline" >"$tmp/cmdline"
	head -c 1048576 /dev/zero >"$tmp/disk"
	boot 0 --mem 64 --initrd "$tmp/initrd" --cmdline "$cmdline" --boot-times --serial "file:$tmp/serial" \
		--drive "$tmp/disk,ro"
	expect "payload start entry=64"
	expect "cmdline $cmdline"
	# --mem 64: low RAM, the reserved BIOS hole, RAM from 1 MiB to 64 MiB.
	expect "e820 0 9fc00 1"
	expect "e820 9fc00 60400 2"
	expect "e820 100000 3f00000 1"
	# The initrd sits page-aligned at the top of RAM.
	size=$(stat -c %s "$tmp/initrd")
	addr=$(printf '%x' $(( (0x4000000 - size) & ~0xfff )))
	expect "initrd $addr $(printf '%x' "$size")"
	expect "fdt / compatible parma,boot-descriptor"
	expect "fdt /boot mode kernel"
	expect "fdt /boot cmdline $cmdline"
	expect "fdt /boot cmdline-sha256 $(sha "$tmp/cmdline")"
	expect "fdt /boot kernel-sha256 $(sha "$payload")"
	expect "fdt /boot initrd-sha256 $(sha "$tmp/initrd")"
	expect "fdt /cpus count 1"
	expect "fdt /devices/serial@3f8 acpi-hid PNP0501"
	expect "acpi rsdp e0000 ok"
	for t in XSDT FACP APIC DSDT; do
		grep -q "^acpi $t [0-9a-f]* [0-9]* ok\$" "$tmp/log" || { echo "FAIL: ACPI $t not reported ok"; fail=1; }
	done
	expect "acpi madt lapics 1 ioapic fec00000"
	expect "acpi dsdt lnro0005 1 pnp0501 1 qemu0001 1"
	expect "fdt /devices/virtio-blk0@d0000000 acpi-hid LNRO0005"
	expect "fdt /devices/virtio-blk0@d0000000 interrupts 5"
	expect "fdt /devices/virtio-blk0@d0000000 virtio-id 2"
	expect "vcpus 1 expected 1"
	expect "payload done failures 0"
	expect "serial ok"
	grep -qxF "parma payload on ttyS0" "$tmp/serial" || { echo "FAIL: serial output missing"; cat "$tmp/serial"; fail=1; }
	grep -q "boot-timer milestone 1 at" "$tmp/err" || { echo "FAIL: no first-instruction milestone"; fail=1; }
	;;
smp)
	boot 0 --mem 64 --vcpus 4 --ap-direct --cmdline "parma.test=smp"
	expect "vcpus 4 expected 4"
	for i in 0 1 2 3; do expect "cpu $i apic $i"; done
	expect "acpi madt lapics 4 ioapic fec00000"
	expect "fdt /cpus count 4"
	expect "fdt /cpus ap-start direct"
	expect "payload done failures 0"
	;;
sipi)
	# APs wait for INIT-SIPI, as Linux expects; the payload wakes them through its LAPIC.
	boot 0 --mem 64 --vcpus 3 --cmdline "parma.test=sipi"
	expect "fdt /cpus ap-start sipi"
	expect "aps start sipi"
	expect "vcpus 3 expected 3"
	for i in 0 1 2; do expect "cpu $i apic $i"; done
	expect "payload done failures 0"
	;;
exits)
	boot 17 --mem 64 --cmdline "payload.fail"        # debug-exit byte 1 -> 16+1
	expect "check failed: payload.fail requested"
	boot 0 --mem 64 --cmdline "payload.poweroff payload.fail"  # ACPI S5 before the failing exit
	expect "payload poweroff port 600"
	boot 7 --mem 64 --cmdline "payload.panic"        # pvpanic
	expect "payload panic"
	boot 6 --mem 64 --cmdline "payload.reset"        # i8042 reset
	expect "payload reset"
	"$parma" boot --kernel "$payload" --serial none --debug-log "$tmp/log" --mem 64 \
		--cmdline payload.hang 2>"$tmp/err" &
	pid=$!
	for _ in $(seq 50); do grep -q "payload hang" "$tmp/log" 2>/dev/null && break; sleep 0.1; done
	kill -TERM $pid
	wait $pid
	rc=$?
	[ "$rc" = 8 ] || { echo "FAIL: SIGTERM gave exit $rc, expected 8"; fail=1; }
	;;
serial)
	# Console on a Unix socket: what a client sends reaches the guest's COM1.
	"$parma" boot --kernel "$payload" --debug-log "$tmp/log" --mem 64 --serial "unix:$tmp/con" \
		--cmdline payload.serial-echo 2>"$tmp/err" &
	pid=$!
	python3 - "$tmp/con" "$tmp/console-out" <<'PY'
import socket, sys, time
for _ in range(100):
    try:
        s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); break
    except OSError:
        time.sleep(0.05)
s.sendall(b"ping from host\n")
s.settimeout(0.2)
out = b""
deadline = time.time() + 3
while time.time() < deadline and b"ttyS0\n" not in out:
    try:
        chunk = s.recv(4096)
    except socket.timeout:
        continue
    if not chunk:
        break
    out += chunk
open(sys.argv[2], "wb").write(out)
PY
	wait $pid
	rc=$?
	[ "$rc" = 0 ] || { echo "FAIL: serial-echo run exited $rc"; cat "$tmp/err"; fail=1; }
	expect "serial in ping from host"
	# Written before the client connected: kept in the backlog and delivered on connect.
	grep -qxF "parma payload on ttyS0" "$tmp/console-out" || { echo "FAIL: console backlog not delivered"; cat "$tmp/console-out"; fail=1; }
	[ -e "$tmp/con" ] && { echo "FAIL: console socket left behind"; fail=1; }
	;;
hostile)
	head -c 200 "$payload" >"$tmp/trunc"
	"$parma" boot --kernel "$tmp/trunc" --serial none 2>"$tmp/err"
	rc=$?
	[ "$rc" = 3 ] || { echo "FAIL: truncated kernel gave exit $rc, expected 3"; fail=1; }
	grep -q "trunc" "$tmp/err" || { echo "FAIL: error does not name the file"; cat "$tmp/err"; fail=1; }
	# --hugepages on a host without enough reserved hugepages: a clear error, no SIGBUS.
	if [ "$(cat /proc/sys/vm/nr_hugepages)" -lt 32 ]; then
		"$parma" boot --kernel "$payload" --mem 64 --hugepages --serial none 2>"$tmp/err"
		rc=$?
		[ "$rc" = 4 ] || { echo "FAIL: --hugepages without hugepages gave exit $rc, expected 4"; cat "$tmp/err"; fail=1; }
		grep -q "nr_hugepages" "$tmp/err" || { echo "FAIL: hugepage error does not say what to do"; cat "$tmp/err"; fail=1; }
	fi
	"$parma" boot --kernel "$payload" --mem 3 --serial none 2>"$tmp/err"
	rc=$?
	[ "$rc" = 3 ] || { echo "FAIL: --mem 3 gave exit $rc, expected 3"; cat "$tmp/err"; fail=1; }
	;;
*)
	echo "unknown case $case"; exit 2 ;;
esac
[ $fail = 0 ] && echo "PASS: $case"
exit $fail
