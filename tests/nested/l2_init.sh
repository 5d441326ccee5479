#!/bin/busybox sh
# /init of the small L2 test guest (busybox): reports that userspace runs and how many CPUs the
# kernel brought up, then ends the way nested.do= on the command line says, so the L1 side can
# assert `parma boot`'s exit code for each way a real Linux guest stops.
/bin/busybox mkdir -p /proc /sys /dev
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
# The lines the L1 side asserts go through the kernel log (printed at once, at a level `quiet`
# shows): written to the tty they could still sit in the UART's transmit buffer when the guest
# panics or reboots right after, and be lost (seen once in three runs).
say() { echo "<2>$*" >/dev/kmsg; }
cpus=$(/bin/busybox grep -c ^processor /proc/cpuinfo)
action=$(/bin/busybox sed -n 's/.*nested\.do=\([a-z]*\).*/\1/p' /proc/cmdline)
say "L2 userspace nproc=$cpus action=$action"
case $action in
poweroff) /bin/busybox poweroff -f ;;
reboot) /bin/busybox reboot -f ;;
panic)
	# pvpanic (QEMU0001 in our DSDT) turns the panic into the VMM's "guest panicked" exit.
	/bin/busybox insmod /pvpanic.ko && /bin/busybox insmod /pvpanic-mmio.ko &&
		[ -d /sys/bus/platform/drivers/pvpanic-mmio ] && say "L2 pvpanic loaded"
	echo c > /proc/sysrq-trigger ;;
esac
echo "L2 waiting"
while :; do /bin/busybox sleep 1000; done
