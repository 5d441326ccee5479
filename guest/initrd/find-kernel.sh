#!/bin/sh
# find-kernel.sh: print the release of the guest kernel (Debian's linux-image-amd64): the
# highest version that has both /boot/vmlinuz-VERSION and /lib/modules/VERSION/modules.dep.
# PARMA_GUEST_KVER overrides. Prints nothing (exit 0) if there is none.
if [ -n "${PARMA_GUEST_KVER:-}" ]; then
	echo "$PARMA_GUEST_KVER"
	exit 0
fi
for k in /boot/vmlinuz-*; do
	v=${k#/boot/vmlinuz-}
	[ -f "$k" ] && [ -f "/lib/modules/$v/modules.dep" ] && echo "$v"
done | sort -V | tail -n 1
