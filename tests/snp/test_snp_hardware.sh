#!/bin/sh
# SEV-SNP hardware test: launch a real SNP guest with `parma boot --snp`, fetch an
# attestation report from inside (configfs-tsm), and check
#   report MEASUREMENT == `parma measure` on the launch's own inputs, and
#   report HOST_DATA   == SHA-256 of the policy file.
# Needs: an AMD host with SEV-SNP enabled (/dev/sev, KVM with KVM_X86_SNP_VM,
# Linux >= 6.11), a guest kernel with sev-guest + configfs-tsm (modules from the
# host's /lib/modules are used), and a static busybox. Skips (77) otherwise.
set -u
build=${PARMA_BUILD_ROOT:?}
parma=$build/vmm/parma
fw=$build/firmware/stage0/parma-stage0.elf
skip() { echo "SKIP: $*"; exit 77; }

[ -c /dev/sev ] || skip "needs /dev/sev (an AMD host with SEV-SNP enabled and the ccp driver)"
[ -r /dev/kvm ] && [ -w /dev/kvm ] || skip "needs read/write access to /dev/kvm"
grep -qw sev_snp /proc/cpuinfo || skip "the CPU does not report sev_snp"
kernel=${PARMA_SNP_KERNEL:-$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1)}
[ -n "$kernel" ] && [ -r "$kernel" ] || skip "needs a guest kernel (set PARMA_SNP_KERNEL)"
kver=$(basename "$kernel" | sed 's/^vmlinuz-//')
moddir=/lib/modules/$kver
busybox=$(command -v busybox || true)
[ -n "$busybox" ] || skip "needs a static busybox for the guest initrd"
command -v cpio >/dev/null || skip "needs cpio"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/root/bin" "$tmp/root/lib/modules" "$tmp/launch"
cp "$busybox" "$tmp/root/bin/busybox"
# sev-guest and its dependencies, in modules.dep order (skip if built in).
for m in tsm sev-guest; do
	path=$(modprobe -S "$kver" --show-depends "$m" 2>/dev/null | awk '/^insmod/ {print $2}')
	for p in $path; do cp "$p" "$tmp/root/lib/modules/"; echo "$(basename "$p")" >> "$tmp/root/lib/modules/order"; done
done
cat > "$tmp/root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t configfs none /sys/kernel/config
[ -f /lib/modules/order ] && for m in $(cat /lib/modules/order); do
	case $m in *.xz) xz -d "/lib/modules/$m"; m=${m%.xz};; *.zst) zstd -d -q "/lib/modules/$m"; m=${m%.zst};; esac
	insmod "/lib/modules/$m" 2>/dev/null
done
r=/sys/kernel/config/tsm/report/parma
mkdir "$r" && head -c 64 /dev/zero > "$r/inblob" && {
	echo PARMA-REPORT-BEGIN; od -An -v -tx1 "$r/outblob" | tr -d ' \n'; echo; echo PARMA-REPORT-END; }
poweroff -f
INIT
chmod +x "$tmp/root/init"
(cd "$tmp/root" && find . | cpio -o -H newc 2>/dev/null | gzip -9) > "$tmp/initrd"
printf '{"version":"1.0","containers":[]}\n' > "$tmp/policy.json"

"$parma" boot --snp --policy "$tmp/policy.json" --snp-launch-dir "$tmp/launch" \
	--firmware "$fw" --kernel "$kernel" --initrd "$tmp/initrd" --mem 1024 \
	--cmdline "console=ttyS0 panic=-1" --serial "file:$tmp/console" 2> "$tmp/stderr"
rc=$?
if grep -q "KVM lacks\|/dev/sev" "$tmp/stderr"; then
	skip "$(cat "$tmp/stderr")"
fi
[ "$rc" -eq 0 ] || { echo "FAIL: parma boot --snp exited $rc"; cat "$tmp/stderr"; tail -50 "$tmp/console"; exit 1; }
report=$(sed -n '/PARMA-REPORT-BEGIN/{n;p}' "$tmp/console" | tr -d '\r')
[ ${#report} -eq 2368 ] || { echo "FAIL: no 1184-byte report on the console"; tail -50 "$tmp/console"; exit 1; }
got_meas=$(echo "$report" | cut -c $((0x90 * 2 + 1))-$((0x90 * 2 + 96)))
got_host=$(echo "$report" | cut -c $((0xc0 * 2 + 1))-$((0xc0 * 2 + 64)))
want=$("$parma" measure --firmware "$fw" --boot-descriptor "$tmp/launch/boot-descriptor.dtb" \
	--acpi "$tmp/launch/acpi.bin" --vcpus 1 --policy "$tmp/policy.json")
want_meas=$(echo "$want" | awk '/^measurement:/ {print $2}')
want_host=$(echo "$want" | awk '/^host_data:/ {print $2}')
fail=0
[ "$got_meas" = "$want_meas" ] || { echo "FAIL: MEASUREMENT $got_meas != parma measure $want_meas"; fail=1; }
[ "$got_host" = "$want_host" ] || { echo "FAIL: HOST_DATA $got_host != policy digest $want_host"; fail=1; }
grep -q "MEASUREMENT $want_meas" "$tmp/stderr" || { echo "FAIL: the VMM predicted another digest"; cat "$tmp/stderr"; fail=1; }
[ "$fail" -eq 0 ] && echo "ok: SNP report MEASUREMENT and HOST_DATA match parma measure"
exit $fail
