#!/bin/sh
# A group whose policy allows its second container only through a signed fragment
# (parma run --fragment), under QEMU TCG with dev attestation:
#  1. without the fragment, creating the sidecar is denied (rule and source named);
#  2. with the fragment signed by the imported issuer, both containers run and the fragment
#     reaches the workload's security context;
#  3. with a fragment signed by another issuer, load_fragment is denied and nothing runs.
# The fragment payload comes from `parma policy gen --fragment`, the signature from
# `parma policy fragment sign` with the test PKI in tests/data/fragment.
# Exits 77 (skip) without QEMU, a guest kernel or the guest initrd.
set -u
parma=$1
src=${PARMA_SOURCE_ROOT:?}
command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: needs qemu-system-x86_64 (Debian qemu-system-x86)"; exit 77; }
ls /boot/vmlinuz-* >/dev/null 2>&1 || { echo "SKIP: needs a guest kernel (Debian linux-image-amd64)"; exit 77; }
initrd=${PARMA_INITRD:-$(dirname "$parma")/../guest/initrd/parma-initrd.img}
[ -r "$initrd" ] || { echo "SKIP: needs the guest initrd ($initrd): build parma-agent"; exit 77; }

work=$(mktemp -d /tmp/parma-e2e-fragment-XXXXXX)
export PARMA_STATE_DIR="$work/state" PARMA_CACHE_DIR="$work/cache" PARMA_DEV_CA="$work/dev-ca"
pki="$src/tests/data/fragment"
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
finish() {
	if [ $fail = 0 ]; then rm -rf "$work"; else echo "(kept $work)"; fi
	exit $fail
}

python3 "$src/examples/make-images.py" "$work/images" >/dev/null || { echo "FAIL make-images"; fail=1; finish; }
did=$(cat "$pki/issuer.did")
other_did=$("$parma" policy fragment did --chain "$pki/other-chain.pem" --subject CN)
feed=example/sidecars
cat > "$work/group.json" <<JSON
{ "name": "e2e-fragment", "memory_mib": 512,
  "fragments": [ { "issuer": "$did", "feed": "$feed", "minimum_svn": 2,
                   "allow_stdio_access": true } ],
  "containers": [
    { "name": "main", "image": "$work/images/busybox:latest",
      "command": ["/bin/sh", "-c", "echo main-ran; sleep 8"] },
    { "name": "sidecar", "image": "$work/images/busybox:latest", "fragment": "$feed",
      "command": ["/bin/sh", "-c", "echo sidecar-ran; ls /parma/security-context/fragments"] }
  ] }
JSON

"$parma" policy gen --fragment "$feed" --svn 3 "$work/group.json" > "$work/sidecar.json" 2>"$work/gen.err"
check "policy gen writes the fragment payload" 'grep -q "\"svn\": 3" "$work/sidecar.json"'
"$parma" policy fragment sign --key "$pki/signer.key" --chain "$pki/chain.pem" --issuer "$did" \
	--feed "$feed" --svn 3 "$work/sidecar.json" > "$work/sidecar.cose" 2>"$work/sign.err"
check "signed by the imported issuer" '[ -s "$work/sidecar.cose" ]'
sed "s#$did#$other_did#" "$work/sidecar.json" > "$work/other.json"
"$parma" policy fragment sign --key "$pki/other-signer.key" --chain "$pki/other-chain.pem" \
	--issuer "$other_did" --feed "$feed" --svn 3 "$work/other.json" > "$work/other.cose" 2>>"$work/sign.err"
check "signed by another issuer" '[ -s "$work/other.cose" ]'
[ $fail = 0 ] || { cat "$work/gen.err" "$work/sign.err"; finish; }

# 1. no fragment: the sidecar's rule is not in force
"$parma" run "$work/group.json" > "$work/none.out" 2>&1
code=$?
check "without the fragment run fails (exit $code)" '[ $code != 0 ]'
check "creating the sidecar is denied (before boot, by the host's replay of the policy)" \
	'grep -q "create_container for .sidecar. would be denied" "$work/none.out" && ! grep -q "sidecar | sidecar-ran" "$work/none.out"'
check "the denial names the rule it was compared against" 'grep -q "source *policy" "$work/none.out"'

# 2. the imported issuer's fragment: both containers run
"$parma" run --fragment "$work/sidecar.cose" "$work/group.json" > "$work/with.out" 2>&1
code=$?
check "with the fragment run exits 0 (got $code)" '[ $code = 0 ]'
check "the sidecar ran" 'grep -q "sidecar | sidecar-ran" "$work/with.out"'
check "main ran" 'grep -q "main | main-ran" "$work/with.out"'
check "the fragment is in the security context" 'grep -q "sidecar | .*cose" "$work/with.out"'
check "the load names the fragment's issuer, feed and SVN" \
	'grep -q "== loaded .*sidecar.cose: fragment did:x509:.* feed $feed svn 3" "$work/with.out"'

# 3. another issuer's fragment: denied
"$parma" run --fragment "$work/other.cose" "$work/group.json" > "$work/other.out" 2>&1
code=$?
check "another issuer's fragment fails the run (exit $code)" '[ $code != 0 ]'
check "load_fragment is denied" 'grep -q "load_fragment" "$work/other.out" && grep -qi "denied" "$work/other.out"'
check "the sidecar did not run" '! grep -q "sidecar | sidecar-ran" "$work/other.out"'
[ $fail = 0 ] || { echo "--- none"; cat "$work/none.out"; echo "--- with"; cat "$work/with.out"; echo "--- other"; cat "$work/other.out"; }
finish
