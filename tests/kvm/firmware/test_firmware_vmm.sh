#!/bin/sh
# stage0 through the real VMM: `parma boot --firmware stage0 --kernel <test payload>`
# boots the payload as the firmware's "kernel"; the payload reports what it got.
# (This machine's nested KVM executes guest code very slowly, so the staged
# images are small; tampering is covered by test_firmware_boot.)
set -u
build=${PARMA_BUILD_ROOT:?}
parma=$build/vmm/parma
fw=$build/firmware/stage0/parma-stage0.elf
payload=$build/firmware/payload/parma-payload.elf
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "SKIP: needs read/write access to /dev/kvm"; exit 77
fi
if [ ! -f "$payload" ]; then
	echo "SKIP: the KVM test payload was not built"; exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -c 3000 /dev/urandom > "$tmp/initrd"
timeout 120 "$parma" boot --firmware "$fw" --kernel "$payload" --initrd "$tmp/initrd" \
	--cmdline "parma.firmware.test=1 console=ttyS0" --serial none --debug-log "$tmp/log"
rc=$?
fail=0
check() { grep -q -- "$1" "$tmp/log" || { echo "FAIL: no '$1' in the guest log"; fail=1; }; }
[ "$rc" -eq 0 ] || { echo "FAIL: parma boot exited $rc"; fail=1; }
check "stage0: kernel hash ok"
check "stage0: initrd hash ok"
check "stage0: cmdline hash ok"
check "payload start entry=64"
check "cmdline parma.firmware.test=1 console=ttyS0"
check "initrd [0-9a-f]* bb8"
check "acpi rsdp e0000 ok"
check "payload done failures 0"
[ "$fail" -eq 0 ] || { echo "--- guest log:"; cat "$tmp/log"; exit 1; }
echo "ok: stage0 booted the test payload through parma boot"
