#!/bin/sh
# `parma verify` and `parma report` end to end: exit codes (0 verified, 1 rejected,
# 2 usage, 3 bad input), the JSON verdict, the dev-mode warning, --policy, --at.
set -u
parma=$1
vectors=${PARMA_SHARED_DIR:-}/snp/vectors
if [ -z "${PARMA_SHARED_DIR:-}" ] || [ ! -d "$vectors" ]; then
	echo "SKIP: needs the SNP report vectors under \$PARMA_SHARED_DIR/snp/vectors"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

# expect CODE DESCRIPTION -- COMMAND...: run, compare the exit status
expect() {
	want=$1 what=$2
	shift 3
	"$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	if [ "$got" != "$want" ]; then
		echo "FAIL: $what: exit $got, expected $want"
		sed 's/^/  stdout: /' "$tmp/out" | head -5
		sed 's/^/  stderr: /' "$tmp/err" | head -5
		failures=$((failures + 1))
	else
		echo "ok: $what"
	fi
}
# contains FILE TEXT DESCRIPTION
contains() {
	if grep -q -- "$2" "$1"; then
		echo "ok: $3"
	else
		echo "FAIL: $3: '$2' not in $1:"
		head -20 "$1" | sed 's/^/  /'
		failures=$((failures + 1))
	fi
}

certs() { # certs SET -> a directory as snpguest would write it
	d=$tmp/certs-$1
	mkdir -p "$d"
	cp "$vectors/$1/ask_ark.pem" "$d/cert_chain.pem"
	for f in "$vectors/$1"/vcek.*; do cp "$f" "$d/"; done
	echo "$d"
}

for set in milan-virtee-sev milan-trustee genoa-oak aci-milan-ccf aci-genoa-ccf; do
	expect 0 "$set verifies" -- "$parma" verify "$vectors/$set/report.bin" --certs "$(certs $set)"
	contains "$tmp/out" '"verified":true' "$set verdict says verified"
done
expect 0 "hex report file verifies" -- "$parma" verify "$vectors/milan-virtee-sev/report.hex" \
	--certs "$(certs milan-virtee-sev)" --product milan -q
expect 1 "debug policy rejected" -- "$parma" verify "$vectors/milan-go-sev-guest/report.bin" \
	--certs "$(certs milan-go-sev-guest)"
contains "$tmp/err" "REJECTED: debug_disabled" "debug rejection names the check"
contains "$tmp/out" '"verified":false' "rejected verdict says so"
expect 0 "--allow-debug accepts it" -- "$parma" verify "$vectors/milan-go-sev-guest/report.bin" \
	--certs "$(certs milan-go-sev-guest)" --allow-debug -q

g=$vectors/aci-genoa-ccf/report.bin
gc=$(certs aci-genoa-ccf)
m=5feee30d6d7e1a29f403d70a4198237ddfb13051a2d6976439487c609388ed7f98189887920ab2fa0096903a0c23fca1
h=4f4448c67f3c8dfc8de8a5e37125d807dadcc41f06cf23f615dbd52eec777d10
expect 0 "claims hold" -- "$parma" verify "$g" --certs "$gc" --measurement $m --host-data $h \
	--report-data 00 --vmpl 0 --min-tcb bl=10,snp=23,ucode=84 --product genoa -q
expect 0 "ID block claims hold" -- "$parma" verify "$g" --certs "$gc" --min-guest-svn 2 \
	--family-id 01000000000000000000000000000000 --image-id 02000000000000000000000000000000 \
	--id-key-digest 0ad79ceb0b648b0e6a90d8aa9f6ea24c33a968b6632085353145e8b19a4741a2dab9ba342e13be4fc0d225e889cc1a58 -q
expect 1 "GUEST_SVN below the minimum" -- "$parma" verify "$g" --certs "$gc" --min-guest-svn 3 -q
contains "$tmp/err" "REJECTED: min_guest_svn: GUEST_SVN 2 is below the minimum 3" "svn rejection"
expect 1 "wrong IMAGE_ID" -- "$parma" verify "$g" --certs "$gc" --image-id 03000000000000000000000000000000 -q
contains "$tmp/err" "REJECTED: image_id: IMAGE_ID: expected 03" "image id rejection"
expect 1 "wrong measurement" -- "$parma" verify "$g" --certs "$gc" --measurement "$(echo $m | sed 's/^5/6/')"
contains "$tmp/err" "REJECTED: measurement: MEASUREMENT: expected 6feee30d" "measurement rejection shows both values"
expect 1 "min TCB too high" -- "$parma" verify "$g" --certs "$gc" --min-tcb snp=24 -q
expect 1 "wrong product" -- "$parma" verify "$g" --certs "$gc" --product milan -q
expect 0 "--at inside validity" -- "$parma" verify "$g" --certs "$gc" --at 2026-01-01T00:00:00Z -q
expect 1 "--at after expiry" -- "$parma" verify "$g" --certs "$gc" --at 2033-01-01T00:00:00+01:00 -q
contains "$tmp/err" "certificates_valid" "expiry names the check"

cat "$vectors/aci-genoa-ccf/vcek.pem" "$vectors/aci-genoa-ccf/ask_ark.pem" >"$tmp/bundle.pem"
expect 0 "--certs with one bundle file" -- "$parma" verify "$g" --certs "$tmp/bundle.pem" -q
expect 1 "--require-crl without a CRL" -- "$parma" verify "$g" --certs "$gc" --require-crl -q
contains "$tmp/err" "REJECTED: not_revoked" "missing CRL names the check"

head -c 1000 "$g" >"$tmp/short.bin"
expect 3 "truncated report" -- "$parma" verify "$tmp/short.bin" --certs "$gc" -q
contains "$tmp/err" "1000 bytes, expected 1184" "truncation reason"
expect 3 "missing certificate directory" -- "$parma" verify "$g" --certs "$tmp/nope" -q
expect 2 "no --certs" -- "$parma" verify "$g"
expect 2 "bad --at" -- "$parma" verify "$g" --certs "$gc" --at yesterday
expect 2 "bad --measurement" -- "$parma" verify "$g" --certs "$gc" --measurement abc
expect 2 "--policy with --host-data" -- "$parma" verify "$g" --certs "$gc" --policy /dev/null --host-data $h
expect 2 "unknown option" -- "$parma" verify "$g" --certs "$gc" --frobnicate

expect 0 "report show --json" -- "$parma" report show "$g" --json
contains "$tmp/out" "\"measurement\":\"$m\"" "show prints the measurement"
expect 0 "report show (text)" -- "$parma" report show "$vectors/genoa-oak/report.bin"
contains "$tmp/out" "launch_mit_vector *0x1" "text show has v5 fields"
expect 3 "report show truncated" -- "$parma" report show "$tmp/short.bin"

# development CA and signer
printf '{"version":"1","containers":[]}' >"$tmp/policy.json"
expect 0 "dev-ca" -- "$parma" report dev-ca "$tmp/dev" --rsa-bits 2048
expect 0 "dev-sign" -- "$parma" report dev-sign --ca "$tmp/dev" -o "$tmp/dev.bin" \
	--policy "$tmp/policy.json" --measurement $m --report-data abcd
expect 1 "dev report without --allow-dev" -- "$parma" verify "$tmp/dev.bin" --certs "$tmp/dev"
contains "$tmp/err" "WARNING: DEVELOPMENT attestation" "dev warning on stderr"
contains "$tmp/err" "REJECTED: production_root" "dev rejection names the check"
expect 0 "dev report with --allow-dev and claims" -- "$parma" verify "$tmp/dev.bin" \
	--certs "$tmp/dev" --allow-dev --policy "$tmp/policy.json" --measurement $m --report-data abcd
contains "$tmp/out" '"dev_chain":true' "dev verdict says dev_chain"
contains "$tmp/err" "WARNING: DEVELOPMENT attestation" "dev warning even when accepted"
printf ' ' >>"$tmp/policy.json"
expect 1 "another policy file" -- "$parma" verify "$tmp/dev.bin" --certs "$tmp/dev" --allow-dev \
	--policy "$tmp/policy.json" -q
contains "$tmp/err" "SHA-256 of $tmp/policy.json" "host_data rejection names the policy file"
expect 1 "dev report against AMD's chain" -- "$parma" verify "$tmp/dev.bin" --certs "$gc" -q
expect 3 "dev-sign with a reserved policy bit" -- "$parma" report dev-sign --ca "$tmp/dev" \
	-o "$tmp/bad.bin" --guest-policy 0x4000000

if [ "$failures" -ne 0 ]; then
	echo "$failures failure(s)"
	exit 1
fi
echo "all parma verify/report CLI checks passed"
