# The nested benchmark's scenario, sourced by the rig's scenarios.sh in L1 (as /nested/extra.sh):
# parma against QEMU microvm (-accel kvm), both on L1's KVM, booting the same kernel.
#  - agent: the guest initrd; milliseconds from starting the VMM to the agent's first answer
#    to a ping, and the VMM's RSS beyond guest RAM (RssAnon + RssFile: guest RAM is a memfd in
#    both, so it is RssShmem) once the agent answered;
#  - blk: the reader initrd; 4 KiB random-read IOPS and 1 MiB sequential MiB/s in the guest
#    (O_DIRECT) on each VMM's virtio-blk, both backed by the same file (QEMU: aio=io_uring).
# Each side runs BENCH_REPS times, interleaved; every sample is one "NESTED BENCH" line on the
# console for the host to summarise.
QEMU=/usr/bin/qemu-system-x86_64
BENCH_REPS=${BENCH_REPS:-5}
result() { echo "NESTED BENCH $*" >/dev/console; echo "BENCH $*"; }

rss_kib() { # RssAnon + RssFile of a process, KiB
	awk '/^RssAnon:|^RssFile:/ {s += $2} END {print s}' /proc/$1/status
}

agent_once() { # agent_once parma|qemu
	side=$1 sock=/tmp/bench-agent.sock
	rm -f $sock
	start=$(now)
	if [ $side = parma ]; then
		"$PARMA" boot --kernel "$KERNEL" --initrd "$INITRD" --mem 512 \
			--cmdline "console=ttyS0 panic=-1 pci=off quiet" --vsock "3,$sock" \
			--serial file:/tmp/bench.console.log --debug-log none &
		pid=$!
		vsock=--vsock
	else
		$QEMU -M microvm,accel=kvm -cpu host -m 512 -smp 1 -nodefaults -no-user-config \
			-no-reboot -display none -monitor none \
			-object memory-backend-memfd,id=ram,size=512M -M memory-backend=ram \
			-kernel "$KERNEL" -initrd "$INITRD" -append "console=ttyS0 panic=-1 pci=off quiet" \
			-serial file:/tmp/bench.console.log -device virtio-serial-device \
			-chardev socket,id=agent,path=$sock,server=on,wait=off \
			-device virtserialport,chardev=agent,name=parma.agent &
		pid=$!
		vsock=
	fi
	ok=0
	for _ in $(seq 1500); do
		if "$PARMA" agent --sock $sock $vsock --timeout 2000 request '{"type":"ping"}' \
			>/dev/null 2>&1; then
			ok=1
			break
		fi
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
	done
	ms=$(awk "BEGIN{printf \"%d\", ($(now) - $start) * 1000}")
	rss=$(rss_kib $pid)
	kill -TERM $pid
	wait $pid
	if [ $ok = 1 ]; then
		result "$side agent_ready_ms $ms"
		result "$side rss_beyond_guest_kib $rss"
	else
		echo "FAIL $side: the agent never answered"
		tail -n 30 /tmp/bench.console.log
		fail=1
	fi
}

blk_once() { # blk_once parma|qemu: the reader guest powers off when done
	side=$1
	if [ $side = parma ]; then
		"$PARMA" boot --kernel "$KERNEL" --initrd /nested/reader-initrd.img --mem 512 \
			--cmdline "console=ttyS0 panic=-1 pci=off quiet" --drive /tmp/bench-disk.img,ro \
			--serial file:/tmp/bench.console.log --debug-log none
	else
		$QEMU -M microvm,accel=kvm -cpu host -m 512 -smp 1 -nodefaults -no-user-config \
			-no-reboot -display none -monitor none \
			-kernel "$KERNEL" -initrd /nested/reader-initrd.img \
			-append "console=ttyS0 panic=-1 pci=off quiet" -serial file:/tmp/bench.console.log \
			-drive id=d0,file=/tmp/bench-disk.img,format=raw,if=none,aio=io_uring,readonly=on \
			-device virtio-blk-device,drive=d0
	fi
	iops=$(sed -n 's/^BENCH randread_iops=\([0-9]*\).*/\1/p' /tmp/bench.console.log)
	mibps=$(sed -n 's/^BENCH seqread_mibps=\([0-9.]*\).*/\1/p' /tmp/bench.console.log)
	if [ -n "$iops" ] && [ -n "$mibps" ]; then
		result "$side randread_iops $iops"
		result "$side seqread_mibps $mibps"
	else
		echo "FAIL $side: the reader printed no result"
		tail -n 30 /tmp/bench.console.log
		fail=1
	fi
}

sc_bench() {
	[ -x $QEMU ] || { echo "FAIL: no QEMU in L1"; return 1; }
	truncate -s 128M /tmp/bench-disk.img
	for i in $(seq $BENCH_REPS); do # each repetition measures everything, both sides
		agent_once parma
		agent_once qemu
		blk_once qemu
		blk_once parma
	done
	result "l1 loadavg $(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)"
}
