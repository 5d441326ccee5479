#!/bin/busybox sh
# /init of the nested benchmark's reader guest: load the virtio-mmio and virtio-blk drivers,
# run blk-reader on the first disk, power off.
/bin/busybox mkdir -p /proc /sys /dev
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
for m in $(/bin/busybox cat /modules.load); do /bin/busybox insmod /$m; done
for _ in $(/bin/busybox seq 100); do [ -b /dev/vda ] && break; /bin/busybox sleep 0.1; done
/blk-reader /dev/vda 3 4
/bin/busybox poweroff -f
