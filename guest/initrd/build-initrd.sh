#!/bin/sh
# build-initrd.sh: the reproducible guest initrd (see docs/guest-image.md).
#
#   build-initrd.sh --kver VERSION --init AGENT --mkcpio TOOL --modules LIST --output IMG
#                   [--preinit PARMA_INIT] [--moddir /lib/modules] [--mtime SECONDS]
#
# Contents: AGENT as /init, or with --preinit, PARMA_INIT as /init and AGENT as
# /sbin/parma-agent (parma-init moves the root onto a tmpfs so crun can pivot_root); the kernel modules named in LIST with their modules.dep
# dependencies, at their usual /lib/modules/VERSION/... paths, plus /etc/parma/modules.load
# (their load order, one absolute path per line); crun and mkfs.ext4 with every shared library
# ldd names; a few directories and /dev/console. The archive itself is written by parma-mkcpio
# (sorted, owner 0:0, fixed mtime, sequential inodes) and compressed with `gzip -n -6`, so the
# same inputs give the same bytes.
set -eu

kver= init= preinit= mkcpio= modules= output= moddir=/lib/modules mtime=${SOURCE_DATE_EPOCH:-0}
while [ $# -gt 0 ]; do
	case $1 in
	--kver) kver=$2 ;;
	--init) init=$2 ;;
	--preinit) preinit=$2 ;;
	--mkcpio) mkcpio=$2 ;;
	--modules) modules=$2 ;;
	--output) output=$2 ;;
	--moddir) moddir=$2 ;;
	--mtime) mtime=$2 ;;
	*) echo "build-initrd.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift 2
done
for v in kver init mkcpio modules output; do
	eval "val=\$$v"
	[ -n "$val" ] || { echo "build-initrd.sh: --$v is required" >&2; exit 2; }
done
kdir=$moddir/$kver
[ -f "$kdir/modules.dep" ] || { echo "build-initrd.sh: $kdir/modules.dep: missing (install linux-image-$kver)" >&2; exit 4; }
[ -x "$init" ] || { echo "build-initrd.sh: $init: not an executable" >&2; exit 3; }

# Host binaries the agent runs inside the guest: SOURCE DESTINATION.
binaries="/usr/bin/crun /usr/bin/crun
/usr/sbin/mkfs.ext4 /sbin/mkfs.ext4"

export LC_ALL=C
work=$(mktemp -d "${output}.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
spec=$work/spec

# --- modules: name -> path from modules.dep ('-' and '_' are the same in module names) ---
# Output: relative module paths in load order, each once.
awk -v list="$modules" -v builtin="$kdir/modules.builtin" '
	function norm(s) { gsub("-", "_", s); return s }
	function base(p,  n) { n = p; sub(".*/", "", n); sub("\\.ko(\\.(xz|zst|gz))?$", "", n); return norm(n) }
	function emit(p) { if (!(p in done)) { done[p] = 1; print p } }
	BEGIN {
		while ((getline line < builtin) > 0) isbuiltin[base(line)] = 1
	}
	FNR == NR {
		split($0, parts, ":"); path = parts[1]
		deps[path] = parts[2]; bypath[base(path)] = path
		next
	}
	END {
		while ((getline line < list) > 0) {
			sub("#.*", "", line); gsub("[ \t]", "", line)
			if (line == "") continue
			n = norm(line)
			if (n in isbuiltin) continue
			if (!(n in bypath)) { print "build-initrd.sh: module " line " not found in modules.dep" > "/dev/stderr"; exit 3 }
			p = bypath[n]
			# modules.dep lists all dependencies, each before its own dependencies:
			# load them in reverse.
			k = split(deps[p], d, " ")
			for (i = k; i >= 1; i--) emit(d[i])
			emit(p)
		}
	}' "$kdir/modules.dep" > "$work/modules.rel"

mkdir -p "$work/etc"
: > "$work/modules.load"
while read -r rel; do
	echo "/lib/modules/$kver/$rel" >> "$work/modules.load"
	echo "file /lib/modules/$kver/$rel $kdir/$rel 0644" >> "$work/entries"
done < "$work/modules.rel"
echo "file /etc/parma/modules.load $work/modules.load 0644" >> "$work/entries"
printf '%s\n' "$kver" > "$work/kernel-release"
echo "file /etc/parma/kernel-release $work/kernel-release 0644" >> "$work/entries"

# --- binaries and their shared libraries (ldd gives the transitive closure) ---
echo "$binaries" | while read -r src dst; do
	[ -x "$src" ] || { echo "build-initrd.sh: $src: missing (see scripts/packages.txt)" >&2; exit 4; }
	echo "file $dst $(readlink -f "$src") 0755" >> "$work/entries"
	ldd "$src" | awk '/=>/ { if ($3 ~ /^\//) print $3; next } $1 ~ /^\// { print $1 }' |
	while read -r lib; do
		echo "file $lib $(readlink -f "$lib") 0755" >> "$work/entries"
	done
done

# a static agent needs nothing; one built against shared libraries (libcbor) brings them
for prog in "$init" $preinit; do
	ldd "$prog" 2>/dev/null | awk '/=>/ { if ($3 ~ /^\//) print $3; next } $1 ~ /^\// { print $1 }' |
	while read -r lib; do
		echo "file $lib $(readlink -f "$lib") 0755" >> "$work/entries"
	done
done

if [ -n "$preinit" ]; then
	echo "file /init $preinit 0755" >> "$work/entries"
	echo "file /sbin/parma-agent $init 0755" >> "$work/entries"
else
	echo "file /init $init 0755" >> "$work/entries"
fi
echo "nod /dev/console 0600 c 5 1" >> "$work/entries"
echo "nod /dev/null 0666 c 1 3" >> "$work/entries"
for d in /dev /proc /sys /tmp /run /mnt /etc /etc/parma /sbin /usr/bin /var; do
	echo "dir $d 0755" >> "$work/entries"
done

# Every parent directory of every entry, then the whole list without duplicates.
awk '{ p = $2; while (sub("/[^/]*$", "", p) && p != "") print "dir " p " 0755" }' "$work/entries" >> "$work/entries"
sort -u "$work/entries" | awk '{ if (seen[$2]++) next; print }' > "$spec"

"$mkcpio" --mtime "$mtime" "$spec" "$work/initrd.cpio"
gzip -n -6 -c "$work/initrd.cpio" > "$work/initrd.img"
mv "$work/initrd.img" "$output"
