#!/bin/busybox sh
# /init of the L1 guest of the nested rig: a QEMU TCG machine with emulated AMD SVM + nested
# paging, so kvm_amd gives a complete KVM in here. Loads the kvm_amd module closure, keeps one
# idle VM open for the whole session (repeated VM create/destroy with no VM left open froze
# multi-threaded TCG: both L1 vCPUs looping at the code-patching sites KVM's static keys flip
# on the first create and last destroy), runs the scenarios and powers off. Every line the host
# asserts starts with "NESTED ".
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mkdir -p /proc /sys /dev /tmp /run
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o size=2g tmpfs /tmp
echo "NESTED L1 userspace at $(cut -d' ' -f1 /proc/uptime)s, $(grep -c ^processor /proc/cpuinfo) CPUs"
for m in $(cat /nested/modules.load); do
	insmod "/nested/modules/$m" || echo "NESTED SETUP-ERROR insmod $m failed"
done
if [ ! -c /dev/kvm ]; then
	dmesg | grep -i -E 'kvm|svm' | sed 's/^/NESTED | /'
	echo "NESTED NO-KVM: /dev/kvm did not appear in L1"
	poweroff -f
fi
echo "NESTED KVM: nested=$(cat /sys/module/kvm_amd/parameters/nested) npt=$(cat /sys/module/kvm_amd/parameters/npt)"

. /nested/env.sh
# The idle VM: the test payload parked in `cli; hlt` until the session ends.
"$PARMA" boot --kernel "$PAYLOAD" --cmdline payload.hang --mem 16 --serial none \
	--debug-log /tmp/idle-vm.log &
idle=$!
for _ in $(seq 100); do grep -q "payload hang" /tmp/idle-vm.log 2>/dev/null && break; sleep 0.1; done
if grep -q "payload hang" /tmp/idle-vm.log 2>/dev/null; then
	echo "NESTED idle VM parked"
else
	echo "NESTED SETUP-ERROR the idle VM did not park"
fi

sh /nested/scenarios.sh
kill "$idle" 2>/dev/null
wait "$idle"
echo "NESTED idle VM exit $? (8: stopped by a signal)"
echo "NESTED DONE at $(cut -d' ' -f1 /proc/uptime)s"
if [ -e /nested/export-logs ]; then # every scenario's log and guest console, for the host
	echo "NESTED-LOGS-BEGIN"
	cd /tmp && tar czf - *.log | base64
	echo "NESTED-LOGS-END"
fi
sync
poweroff -f
