#!/bin/sh
# The nested rig's scenarios, run in L1 on its KVM (kvm_amd with nested paging) through our own
# VMM. `scenarios.sh` runs every "NAME SECONDS" line of /nested/scenarios.list, each in its own process group
# under a deadline, and prints "NESTED PASS <name> <seconds>s" or "NESTED FAIL <name> ..."
# followed by the scenario's log; `scenarios.sh --one NAME` runs one scenario (its exit
# status is the verdict). Scenarios reuse the kvm and e2e tests' own scripts where they exist.
. /nested/env.sh

now() { cut -d' ' -f1 /proc/uptime; }
fail=0
check() { # check DESCRIPTION COMMAND...: one "ok"/"FAIL" line per assertion
	desc=$1; shift
	if "$@"; then echo "ok   $desc"; else echo "FAIL $desc"; fail=1; fi
}
has() { grep -q -- "$1" "$2"; }

# ---- the KVM payload suite and stage0, through the kvm tests' own script ----
payload() { sh "$SRC/tests/kvm/vmm/test_payload_boot.sh" "$PARMA" "$PAYLOAD" "$1"; }
sc_payload_single() { payload single; }
sc_payload_smp() { payload smp; }
sc_payload_sipi() { payload sipi; }
sc_payload_exits() { payload exits; }
sc_payload_hostile() { payload hostile; }
sc_stage0_payload() { PARMA_BUILD_ROOT=$BUILD sh "$SRC/tests/kvm/firmware/test_firmware_vmm.sh"; }

# ---- Debian's kernel to userspace, and how a real Linux guest stops ----
l2_boot() { # l2_boot WANT_RC VCPUS ACTION: the busybox guest; asserts parma boot's exit code
	want=$1 vcpus=$2 action=$3
	"$PARMA" boot --kernel "$KERNEL" --initrd "$L2_INITRD" --mem 256 --vcpus "$vcpus" \
		--cmdline "console=ttyS0 panic=-1 pci=off $L2_QUIET nested.do=$action" \
		--serial file:/tmp/$SC.console.log --debug-log none 2>/tmp/$SC.stderr.log
	rc=$?
	check "$action with $vcpus vCPU(s): parma boot exits $want (got $rc)" [ "$rc" = "$want" ]
	check "Linux reached userspace with $vcpus CPU(s)" has "L2 userspace nproc=$vcpus " /tmp/$SC.console.log
	[ $fail = 0 ] || { cat /tmp/$SC.stderr.log; tail -n 40 /tmp/$SC.console.log; }
}
sc_linux_1vcpu_poweroff() { l2_boot 0 1 poweroff; }
sc_linux_1vcpu_reboot() { l2_boot 6 1 reboot; }
sc_linux_2vcpu_panic() {
	l2_boot 7 2 panic
	check "the pvpanic driver bound to our QEMU0001 device" has "L2 pvpanic loaded" /tmp/$SC.console.log
}

# ---- the guest initrd's agent over hybrid vsock; SIGTERM to parma ----
agent_boot() { # agent_boot [--firmware FILE]
	rm -f /tmp/agent.sock /tmp/$SC.console.log
	"$PARMA" boot "$@" --kernel "$KERNEL" --initrd "$INITRD" --mem 512 \
		--cmdline "console=ttyS0 panic=-1 pci=off $L2_QUIET" --vsock "3,/tmp/agent.sock" \
		--serial file:/tmp/$SC.console.log --debug-log none 2>/tmp/$SC.stderr.log &
	pid=$!
	start=$(now)
	ok=0
	for _ in $(seq 240); do
		if "$PARMA" agent --sock /tmp/agent.sock --vsock --timeout 5000 \
			request '{"type":"ping"}' >/tmp/$SC.ping.log 2>/tmp/$SC.ping-stderr.log; then
			ok=1
			break
		fi
		kill -0 $pid 2>/dev/null || break
		sleep 0.5
	done
	echo "agent answered after $(awk "BEGIN{print $(now) - $start}") s"
	check "the agent answered a ping over hybrid vsock" [ $ok = 1 ]
	check "the answer is the agent's (protocol, no policy yet)" \
		grep -q '"policy_installed": *false' /tmp/$SC.ping.log
	kill -TERM $pid 2>/dev/null
	wait $pid
	rc=$?
	check "SIGTERM to parma boot: exit 8 (got $rc)" [ "$rc" = 8 ]
	[ $fail = 0 ] || { cat /tmp/$SC.ping.log /tmp/$SC.ping-stderr.log /tmp/$SC.stderr.log; tail -n 40 /tmp/$SC.console.log; }
}
sc_agent_vsock() { agent_boot; }
sc_agent_vsock_stage0() { agent_boot --firmware "$STAGE0"; }

# ---- dm-verity layers and encrypted scratch on our virtio-blk, read by the real driver ----
sc_storage_2vcpu_mq() {
	read -r root sboff root0 < /nested/storage/args
	rm -f /tmp/scratch.img
	truncate -s 64M /tmp/scratch.img
	"$PARMA" boot --kernel "$KERNEL" --initrd "$PROBE_INITRD" --mem 512 --vcpus 2 \
		--cmdline "console=ttyS0 panic=-1 pci=off quiet parma.root=$root parma.sboff=$sboff parma.root0=$root0" \
		--drive /nested/storage/layer.img,ro,queues=2 --drive /nested/storage/flipped.img,ro \
		--drive /tmp/scratch.img --drive /nested/storage/busybox.img,ro \
		--serial file:/tmp/$SC.console.log --debug-log none 2>/tmp/$SC.stderr.log
	rc=$?
	check "the probe guest powered off (exit $rc)" [ "$rc" = 0 ]
	for line in "blk_queues vda=2" "verity_open rc=0" "erofs_mount rc=0" \
		"hello text=hello from a verity layer" "big_good rc=0 bytes=81920" \
		"wrong_root open=0 mount=-5" "flipped open=0 mount=0" "flipped_read rc=-5" \
		"scratch_open rc=0" "overlay rc=0" "upper_has_marker rc=0" "scratch_remove rc=0" \
		"crun rc=0 status=0" "layer_remove rc=0" "done"; do
		check "guest: $line" has "PROBE $line" /tmp/$SC.console.log
	done
	check "the flipped byte never reached the guest as data" not_has "PROBE flipped_read rc=1" /tmp/$SC.console.log
	check "the scratch marker is not plaintext on the host's disk" \
		not_has PARMA-SCRATCH-MARKER-7f3a9c /tmp/scratch.img
	[ $fail = 0 ] || { cat /tmp/$SC.stderr.log; tail -n 60 /tmp/$SC.console.log; }
}
not_has() { ! grep -q -- "$1" "$2"; }

# ---- parma run --backend kvm ----
sc_run_hello_world() {
	# --firmware none: our VMM enters the kernel directly (run-e2e-stage0 boots through stage0).
	w=/tmp/hello
	rm -rf $w
	mkdir -p $w/ex/hello-world
	cp "$SRC/examples/hello-world/group.json" $w/ex/hello-world/
	ln -s "$IMAGES" $w/ex/images
	PARMA_STATE_DIR=$w/state PARMA_CACHE_DIR=$w/cache PARMA_DEV_CA=$w/ca \
		"$PARMA" run --backend kvm --firmware none --boot-timeout 900 $w/ex/hello-world/group.json \
		>$w/out 2>&1
	rc=$?
	check "parma run hello-world exits 0 (got $rc)" [ "$rc" = 0 ]
	check "it booted without firmware, as asked" has "== no firmware: the VMM enters the kernel" $w/out
	check "the container's output" has "hello | Hello from a confidential container!" $w/out
	check "dev attestation verified" has "attestation (dev): VERIFIED" $w/out
	[ $fail = 0 ] || cat $w/out
}
sc_run_e2e_stage0() {
	# The e2e script as on QEMU: web-and-client; ps, exec allowed/denied, logs, attest +
	# verify --policy, the main container's exit code; parma stop. Every boot here goes
	# through stage0 (--firmware), the measured firmware path.
	PARMA_E2E_RUN_ARGS="--backend kvm --firmware $STAGE0 --boot-timeout 900" \
		PARMA_E2E_IMAGES=$IMAGES PARMA_E2E_FIRMWARE=1 \
		PARMA_SOURCE_ROOT=$SRC sh "$SRC/tests/e2e/vmm/group/test_run_e2e.sh" "$PARMA"
}

[ -r /nested/extra.sh ] && . /nested/extra.sh

if [ "${1:-}" = --one ]; then
	SC=$2
	"sc_$(echo "$2" | tr - _)"
	status=$?
	[ $status = 0 ] && [ $fail = 0 ]
	exit $?
fi

# The set runs $(cat /nested/repeat) times in this one L1 (the soak): "NESTED REP i/N PASS|FAIL".
reps=$(cat /nested/repeat 2>/dev/null || echo 1)
for rep in $(seq "$reps"); do
	rep_ok=1
	while read -r name limit; do
		start=$(now)
		setsid sh /nested/scenarios.sh --one "$name" </dev/null >/tmp/$name.log 2>&1 &
		pid=$!
		verdict=
		beat=0
		while kill -0 $pid 2>/dev/null; do
			beat=$((beat + 1))
			[ $((beat % 50)) = 0 ] && echo "NESTED . $name running for $(awk "BEGIN{printf \"%d\", $(now) - $start}")s"
			if [ "$(awk "BEGIN{print ($(now) - $start > $limit)}")" = 1 ]; then
				verdict="timeout after ${limit}s (hang)"
				kill -TERM -- -$pid 2>/dev/null
				sleep 3
				kill -KILL -- -$pid 2>/dev/null
				break
			fi
			sleep 0.5
		done
		wait $pid
		rc=$?
		secs=$(awk "BEGIN{printf \"%.1f\", $(now) - $start}")
		if [ -z "$verdict" ] && [ $rc = 0 ]; then
			echo "NESTED PASS $name ${secs}s"
		else
			rep_ok=0
			echo "NESTED FAIL $name ${secs}s ${verdict:-exit $rc}"
			sed 's/^/NESTED | /' /tmp/$name.log | tail -n 120
			if [ -n "$verdict" ]; then # the consoles of the guests it was running
				for f in /tmp/$name.*.log; do
					[ -e "$f" ] || continue
					echo "NESTED | --- $f (last lines)"
					tail -n 40 "$f" | sed 's/^/NESTED | /'
				done
			fi
		fi
	done < /nested/scenarios.list
	if [ $rep_ok = 1 ]; then echo "NESTED REP $rep/$reps PASS"; else echo "NESTED REP $rep/$reps FAIL"; fi
done
