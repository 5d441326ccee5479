#!/usr/bin/env bash
# SEV-SNP hardware checklist: run once on an AMD host with SEV-SNP. Every step prints what
# it proves; the first failure stops the list (exit 1). Without the hardware or tools it
# exits 77 and lists everything it needs.
#
#   tests/snp/snp_checklist.sh [BUILD_DIR]        (or: meson test -C BUILD_DIR snp_hardware_launch)
#
# Steps:
#   1. `parma boot --snp-predict`: the MEASUREMENT the launch will get, without hardware.
#   2. `parma boot --snp` through the stage0 firmware; inside the guest, a report is
#      fetched through configfs-tsm with a fresh nonce as REPORT_DATA.
#   3. report MEASUREMENT == `parma measure` on the blobs the launch wrote
#      (--snp-launch-dir) == the prediction == what the VMM announced.
#   4. report HOST_DATA == SHA-256 of the policy file; REPORT_DATA == the nonce;
#      POLICY == the launched policy (no DEBUG).
#   5. AMD KDS: ARK and ASK from kdsintf.amd.com (ARK pinned by SHA-256), the chip's VCEK for
#      the report's CHIP_ID and REPORTED_TCB; the chain checked by openssl, then the report
#      signature and all claims by `parma verify`.
# Environment: PARMA_SNP_KERNEL (guest kernel with sev-guest and configfs-tsm; default: the
# newest /boot/vmlinuz-*), PARMA_SNP_CERTS (a directory with ark.pem, ask.pem and vcek.der to
# use instead of downloading them from AMD's KDS).
set -uo pipefail
build=${1:-${PARMA_BUILD_ROOT:-}}
[ -n "$build" ] || { echo "usage: $0 BUILD_DIR"; exit 2; }
parma=$build/vmm/parma
fw=$build/firmware/stage0/parma-stage0.elf
policy_bits=0x30000

# --- 0. prerequisites: collect every missing one, then skip with the whole list ---
need=()
[ -x "$parma" ] || need+=("the parma binary ($parma: build the tree)")
[ -r "$fw" ] || need+=("the stage0 firmware ($fw: meson option firmware=true)")
[ -c /dev/sev ] || need+=("/dev/sev (an AMD EPYC host with SEV-SNP enabled in the BIOS and the ccp driver loaded)")
{ [ -r /dev/kvm ] && [ -w /dev/kvm ]; } || need+=("read/write access to /dev/kvm")
grep -qw sev_snp /proc/cpuinfo 2>/dev/null || need+=("a CPU that reports sev_snp in /proc/cpuinfo")
kmaj=$(uname -r | cut -d. -f1); kmin=$(uname -r | cut -d. -f2 | tr -dc 0-9)
{ [ "$kmaj" -gt 6 ] || { [ "$kmaj" -eq 6 ] && [ "${kmin:-0}" -ge 11 ]; }; } ||
	need+=("a host kernel >= 6.11 (KVM_X86_SNP_VM; this one is $(uname -r))")
kernel=${PARMA_SNP_KERNEL:-$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1)}
{ [ -n "$kernel" ] && [ -r "$kernel" ]; } ||
	need+=("a guest kernel with sev-guest and configfs-tsm (set PARMA_SNP_KERNEL)")
busybox=$(command -v busybox || true)
[ -n "$busybox" ] || need+=("a static busybox for the guest initrd")
for tool in cpio gzip openssl sha256sum od; do
	command -v $tool >/dev/null || need+=("$tool")
done
[ -n "${PARMA_SNP_CERTS:-}" ] || command -v curl >/dev/null ||
	need+=("curl and access to https://kdsintf.amd.com (or PARMA_SNP_CERTS=DIR with ark.pem, ask.pem, vcek.der)")
if [ ${#need[@]} -gt 0 ]; then
	echo "SKIP: the SEV-SNP hardware checklist needs:"
	printf '  - %s\n' "${need[@]}"
	exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
step=0
ok() { step=$((step + 1)); echo "[$step] ok: $*"; }
fail() { echo "[$((step + 1))] FAIL: $*"; exit 1; }
# Report field at byte offset $1, $2 bytes, as hex (the report is a hex string).
field() { echo "${report:$(($1 * 2)):$(($2 * 2))}"; }
# Little-endian hex -> big-endian hex.
le() { echo "$1" | sed 's/../& /g' | awk '{for (i = NF; i > 0; i--) printf "%s", $i}'; }

# --- guest: busybox init that fetches one report with the nonce from the command line ---
mkdir -p "$tmp/root/bin" "$tmp/root/lib/modules" "$tmp/launch"
cp "$busybox" "$tmp/root/bin/busybox"
kver=$(basename "$kernel" | sed 's/^vmlinuz-//')
for m in tsm sev-guest; do
	for p in $(modprobe -S "$kver" --show-depends "$m" 2>/dev/null | awk '/^insmod/ {print $2}'); do
		cp "$p" "$tmp/root/lib/modules/" && basename "$p" >> "$tmp/root/lib/modules/order"
	done
done
cat > "$tmp/root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t configfs none /sys/kernel/config
[ -f /lib/modules/order ] && for m in $(cat /lib/modules/order); do
	case $m in *.xz) xz -d "/lib/modules/$m"; m=${m%.xz};; *.zst) zstd -d -q "/lib/modules/$m"; m=${m%.zst};; esac
	insmod "/lib/modules/$m" 2>/dev/null
done
nonce=$(sed -n 's/.*parma.nonce=\([0-9a-f]*\).*/\1/p' /proc/cmdline)
hex2bin() { h=$1; while [ -n "$h" ]; do p=${h%"${h#??}"}; h=${h#??}; printf "\\$(printf %03o $((0x$p)))"; done; }
r=/sys/kernel/config/tsm/report/parma
mkdir "$r" && hex2bin "$nonce" > "$r/inblob" && {
	echo PARMA-REPORT-BEGIN; od -An -v -tx1 "$r/outblob" | tr -d ' \n'; echo; echo PARMA-REPORT-END; }
poweroff -f
INIT
chmod +x "$tmp/root/init"
(cd "$tmp/root" && find . | cpio -o -H newc 2>/dev/null | gzip -9) > "$tmp/initrd"
printf '{"version":"1.0","containers":[]}\n' > "$tmp/policy.json"
nonce=$(head -c 64 /dev/urandom | od -An -v -tx1 | tr -d ' \n')
boot_args=(--firmware "$fw" --kernel "$kernel" --initrd "$tmp/initrd" --mem 1024
	--cmdline "console=ttyS0 panic=-1 parma.nonce=$nonce" --snp-policy "$policy_bits"
	--policy "$tmp/policy.json")

# --- 1. prediction without hardware ---
predicted=$("$parma" boot --snp-predict "${boot_args[@]}" | awk '/^measurement:/ {print $2}')
[ ${#predicted} -eq 96 ] || fail "parma boot --snp-predict printed no MEASUREMENT"
ok "predicted MEASUREMENT $predicted (computed without SNP hardware: the value a verifier can pin ahead of time)"

# --- 2. the launch through stage0 and a report from inside ---
"$parma" boot --snp --snp-launch-dir "$tmp/launch" "${boot_args[@]}" \
	--serial "file:$tmp/console" 2> "$tmp/stderr"
rc=$?
[ "$rc" -eq 0 ] || { cat "$tmp/stderr"; tail -50 "$tmp/console"; fail "parma boot --snp exited $rc"; }
announced=$(sed -n 's/.*MEASUREMENT \([0-9a-f]*\).*/\1/p' "$tmp/stderr")
report=$(sed -n '/PARMA-REPORT-BEGIN/{n;p}' "$tmp/console" | tr -d '\r')
[ ${#report} -eq 2368 ] || { tail -50 "$tmp/console"; fail "no 1184-byte report on the guest console (sev-guest/configfs-tsm in the guest kernel?)"; }
echo "$report" > "$tmp/report.hex"
ok "the secure processor accepted the launch (KVM_SEV_SNP_LAUNCH_START/UPDATE/FINISH, masked CPUID page) and stage0 booted Linux, which fetched report version $((16#$(le "$(field 0 4)")))"

# --- 3. MEASUREMENT ---
meas=$(field 0x90 48)
measured=$("$parma" measure --firmware "$fw" --boot-descriptor "$tmp/launch/boot-descriptor.dtb" \
	--acpi "$tmp/launch/acpi.bin" --vcpus 1 | awk '/^measurement:/ {print $2}')
[ "$meas" = "$measured" ] || fail "report MEASUREMENT $meas != parma measure $measured (diff 'parma measure --json' pages to find the item)"
ok "MEASUREMENT equals parma measure on the launched blobs: the firmware, descriptor (kernel/initrd/cmdline hashes), ACPI and VMSAs are exactly what Parma's model says"
[ "$meas" = "$predicted" ] || fail "report MEASUREMENT $meas != the prediction $predicted"
[ "$meas" = "$announced" ] || fail "report MEASUREMENT $meas != what the VMM announced ($announced)"
ok "MEASUREMENT equals --snp-predict and the VMM's own prediction: dev-mode claims and ID blocks use the digest real hardware produces"

# --- 4. HOST_DATA, REPORT_DATA, POLICY ---
host=$(field 0xc0 32)
want_host=$(sha256sum "$tmp/policy.json" | cut -c1-64)
[ "$host" = "$want_host" ] || fail "HOST_DATA $host != SHA-256(policy) $want_host"
ok "HOST_DATA is SHA-256 of the policy file: the report binds the execution policy"
[ "$(field 0x50 64)" = "$nonce" ] || fail "REPORT_DATA is not the nonce the guest was given"
ok "REPORT_DATA is this run's nonce: the report is fresh and came from this guest"
pol=$((16#$(le "$(field 8 8)")))
[ "$pol" -eq $((policy_bits)) ] || fail "POLICY 0x$(printf %x $pol) != launched $policy_bits"
[ $((pol & (1 << 19))) -eq 0 ] || fail "POLICY allows DEBUG"
ok "POLICY is 0x$(printf %x $pol) as launched (no DEBUG, no migration agent)"

# --- 5. AMD's endorsement chain from the KDS ---
signer=$(( (16#$(le "$(field 0x48 4)") >> 2) & 7 ))
[ "$signer" -eq 0 ] || fail "the report is signed with key type $signer (VLEK or none), not a VCEK: the KDS VCEK cannot verify it (give PARMA_SNP_CERTS with the VLEK chain)"
family=$(awk '/^cpu family/ {print $4; exit}' /proc/cpuinfo)
model=$(awk '/^model[[:space:]]*:/ {print $3; exit}' /proc/cpuinfo)
case "$family" in
25) if [ "$model" -lt 16 ]; then product=Milan; else product=Genoa; fi ;;
26) product=Turin ;;
*) fail "CPU family $family is not an SNP product this checklist knows (Milan, Genoa, Turin)" ;;
esac
tcb=$(field 0x180 8)
spl() { echo $((16#${tcb:$(($1 * 2)):2})); }
chip=$(field 0x1a0 64)
if [ "$product" = Turin ]; then
	hwid=${chip:0:16}
	query="fmcSPL=$(spl 0)&blSPL=$(spl 1)&teeSPL=$(spl 2)&snpSPL=$(spl 3)&ucodeSPL=$(spl 7)"
else
	hwid=$chip
	query="blSPL=$(spl 0)&teeSPL=$(spl 1)&snpSPL=$(spl 6)&ucodeSPL=$(spl 7)"
fi
mkdir -p "$tmp/certs"
if [ -n "${PARMA_SNP_CERTS:-}" ]; then
	cp "$PARMA_SNP_CERTS"/ark.pem "$PARMA_SNP_CERTS"/ask.pem "$PARMA_SNP_CERTS"/vcek.der "$tmp/certs/" ||
		fail "PARMA_SNP_CERTS must hold ark.pem, ask.pem and vcek.der"
else
	kds=https://kdsintf.amd.com/vcek/v1/$product
	curl -sfS "$kds/cert_chain" -o "$tmp/chain.pem" || fail "cannot download $kds/cert_chain"
	# The chain is the ASK first, then the ARK.
	awk -v d="$tmp/certs" '/BEGIN CERT/ {n++} {print > (d "/" (n == 1 ? "ask.pem" : "ark.pem"))}' "$tmp/chain.pem"
	curl -sfS "$kds/$hwid?$query" -o "$tmp/certs/vcek.der" ||
		fail "cannot download the VCEK from $kds/$hwid?$query (KDS rate limit? retry, or set PARMA_SNP_CERTS)"
fi
# AMD's roots (SHA-256 of the DER), as published in AMD's KDS chains.
case $product in
Milan) ark_sha=69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd ;;
Genoa) ark_sha=4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1 ;;
Turin) ark_sha=1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a ;;
esac
got_sha=$(openssl x509 -in "$tmp/certs/ark.pem" -outform DER | sha256sum | cut -c1-64)
[ "$got_sha" = "$ark_sha" ] || fail "the ARK's SHA-256 $got_sha is not AMD's $product root $ark_sha"
ok "the ARK is AMD's $product root (pinned SHA-256)"
openssl x509 -inform DER -in "$tmp/certs/vcek.der" -out "$tmp/vcek.pem" || fail "vcek.der is not a certificate"
openssl verify -CAfile "$tmp/certs/ark.pem" -untrusted "$tmp/certs/ask.pem" "$tmp/vcek.pem" >/dev/null ||
	fail "openssl: the VCEK does not chain to the ARK through the ASK"
ok "openssl: VCEK <- ASK <- ARK (RSA-PSS signatures), independent of Parma's verifier"
product_lc=$(echo "$product" | tr 'A-Z' 'a-z')
"$parma" verify "$tmp/report.hex" --certs "$tmp/certs" --product "$product_lc" \
	--measurement "$measured" --policy "$tmp/policy.json" --report-data "$nonce" --vmpl 0 \
	> "$tmp/verdict.json" || { cat "$tmp/verdict.json"; fail "parma verify rejected the report"; }
ok "parma verify: the report signature is the VCEK's (chip $hwid, TCB $tcb) and MEASUREMENT, HOST_DATA, REPORT_DATA, VMPL hold"
echo "all $step checks passed on $(uname -r), $product"
