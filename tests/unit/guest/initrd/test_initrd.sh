#!/bin/sh
# initrd_reproducible: build-initrd.sh twice from the same inputs (at different times, from
# different working directories) must give identical bytes; the archive holds /init, the
# modules with their dependencies in a valid load order, crun and mkfs.ext4 with their
# libraries, and /dev/console.
#   test_initrd.sh BUILD_INITRD MKCPIO MODULES_TXT PARMA_INIT
set -u
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
build=$(abs "$1") mkcpio=$(abs "$2") modules=$(abs "$3") preinit=$(abs "$4")
kver=$("$(dirname "$build")/find-kernel.sh")
if [ -z "$kver" ]; then
	echo "SKIP: needs a guest kernel: /boot/vmlinuz-VERSION with /lib/modules/VERSION (Debian linux-image-amd64)"
	exit 77
fi
for t in crun mkfs.ext4 cpio; do
	command -v $t >/dev/null 2>&1 || PATH=$PATH:/usr/sbin command -v $t >/dev/null 2>&1 ||
		{ echo "SKIP: needs $t"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if eval "$2"; then echo "ok  : $1"; else echo "FAIL: $1"; fail=1; fi; }

cp /bin/true "$tmp/init-a"
"$build" --kver "$kver" --init "$tmp/init-a" --preinit "$preinit" --mkcpio "$mkcpio" --modules "$modules" --output "$tmp/one.img" || exit 1
touch -d '2001-01-01' "$tmp/init-a"      # a different mtime on an input changes nothing
sleep 1
(cd / && "$build" --kver "$kver" --init "$tmp/init-a" --preinit "$preinit" --mkcpio "$mkcpio" --modules "$modules" --output "$tmp/two.img") || exit 1
check "same inputs give the same bytes" 'cmp -s "$tmp/one.img" "$tmp/two.img"'
echo "sha256 $(sha256sum < "$tmp/one.img" | cut -c1-64)"

cp /bin/false "$tmp/init-b"
"$build" --kver "$kver" --init "$tmp/init-b" --preinit "$preinit" --mkcpio "$mkcpio" --modules "$modules" --output "$tmp/three.img" || exit 1
check "a different agent gives a different image" '! cmp -s "$tmp/one.img" "$tmp/three.img"'

mkdir "$tmp/x" && (cd "$tmp/x" && gzip -dc "$tmp/one.img" | cpio -idm --quiet 2>/dev/null)
gzip -dc "$tmp/one.img" | cpio -tv --quiet 2>/dev/null > "$tmp/list"
check "/init is parma-init" 'cmp -s "$tmp/x/init" "$preinit"'
check "/sbin/parma-agent is the agent" 'cmp -s "$tmp/x/sbin/parma-agent" /bin/true'
check "/dev/console is a char device 5,1" 'grep -Eq "^crw------- .* 5, +1 .* dev/console$" "$tmp/list"'
check "owner fields are 0" '[ "$(awk "{print \$3, \$4}" "$tmp/list" | sort -u)" = "root root" ] || [ "$(awk "{print \$3, \$4}" "$tmp/list" | sort -u)" = "0 0" ]'
check "crun and its loader are present" '[ -x "$tmp/x/usr/bin/crun" ] && [ -f "$tmp/x/lib64/ld-linux-x86-64.so.2" ]'
check "mkfs.ext4 and libext2fs are present" '[ -x "$tmp/x/sbin/mkfs.ext4" ] && ls "$tmp"/x/lib/x86_64-linux-gnu/libext2fs.so.* >/dev/null 2>&1'
for lib in $(ldd /usr/bin/crun | awk '/=>/ && $3 ~ /^\// { print $3 }'); do
	check "crun library $lib present" '[ -f "$tmp/x$lib" ]'
done
load=$tmp/x/etc/parma/modules.load
check "modules.load lists existing files" 'while read -r m; do [ -f "$tmp/x$m" ] || exit 1; done < "$load"'
pos() { grep -n "/$1\.ko$" "$load" | head -1 | cut -d: -f1; }
before() { a=$(pos "$1"); b=$(pos "$2"); [ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ]; }
check "virtio_ring before virtio before virtio_mmio" 'before virtio_ring virtio && before virtio virtio_mmio'
check "dm-mod and dm-bufio before dm-verity" 'before dm-mod dm-verity && before dm-bufio dm-verity'
check "crc32c before libcrc32c before erofs" 'before crc32c_generic libcrc32c && before libcrc32c erofs'
check "ecb before xts before dm-crypt" 'before ecb xts && before xts dm-crypt'
check "jbd2 and mbcache before ext4" 'before jbd2 ext4 && before mbcache ext4'
check "overlay, sev-guest, virtio_console, vsock transport listed" 'pos overlay >/dev/null && [ -n "$(pos overlay)" ] && [ -n "$(pos sev-guest)" ] && [ -n "$(pos virtio_console)" ] && [ -n "$(pos vmw_vsock_virtio_transport)" ]'
check "each module listed once" '[ "$(sort "$load" | uniq -d | wc -l)" = 0 ]'
check "kernel release recorded" '[ "$(cat "$tmp/x/etc/parma/kernel-release")" = "$kver" ]'

printf 'dir /a 0755\nfile /a/b /nonexistent 0644\n' > "$tmp/bad.spec"
check "mkcpio names a missing source" '"$mkcpio" "$tmp/bad.spec" "$tmp/bad.cpio" 2>&1 | grep -q "/nonexistent"'
printf 'dir /a 0755\ndir /a 0755\n' > "$tmp/dup.spec"
check "mkcpio refuses duplicate entries" '! "$mkcpio" "$tmp/dup.spec" "$tmp/dup.cpio" 2>/dev/null'
printf 'frob /a 0755\n' > "$tmp/unk.spec"
check "mkcpio refuses unknown entry types" '! "$mkcpio" "$tmp/unk.spec" "$tmp/unk.cpio" 2>/dev/null'
exit $fail
