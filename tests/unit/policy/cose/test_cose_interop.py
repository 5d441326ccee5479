#!/usr/bin/python3
"""Interop: fragments made by an independent implementation (indep_cose.py: Debian's
python3-cryptography + python3-cbor2) verify with Parma's verifier and engine, Parma's signed
fragments verify with the independent code, and both derive and resolve the same did:x509."""
import json, os, subprocess, sys, tempfile

try:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import indep_cose as ic
except ImportError as e:
    print("needs Debian's python3-cryptography and python3-cbor2 (%s)" % e)
    sys.exit(77)

parma = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="parma-cose-interop-")
failures = 0


def run(*args):
    r = subprocess.run([parma, *args], capture_output=True, text=True)
    return r.returncode, r.stdout.strip(), r.stderr.strip()


def expect(what, cond, detail=""):
    global failures
    print(("ok   " if cond else "FAIL ") + what + ("" if cond else ": " + detail))
    failures += not cond


def write(name, data):
    path = os.path.join(tmp, name)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return path


FEED = "example/sidecars"
H = "e6c65c655ca8172ab7a2b634dab3220a45472dd6571b6efd956ccc05e229a201"

for kind, alg in (("P-256", -7), ("P-384", -35), ("RSA", -37), ("RSA", -38)):
    ca_key, leaf_key = ic.key("P-256"), ic.key(kind)
    ca = ic.cert(ca_key, [("CN", "Interop Root CA"), ("O", "Independent")], ca=True)
    leaf = ic.cert(leaf_key, [("CN", "Interop Signer, Inc."), ("O", "Independent")], ca, ca_key,
                   eku=["1.3.6.1.5.5.7.3.3", "1.3.6.1.4.1.311.76.59.1.2"])
    chain = [leaf, ca]
    chain_pem = write("chain.pem", ic.pem(chain))
    key_pem = write("key.pem", ic.key_pem(leaf_key))
    name = ic.ALGS[alg][0]

    # the same DID from both sides, for subject and EKU predicates
    did_subject = ic.did(chain, [("subject", [("CN", None), ("O", None)])])
    rc, out, err = run("policy", "fragment", "did", "--chain", chain_pem, "--subject", "CN,O")
    expect(name + ": subject did:x509 identical", rc == 0 and out == did_subject,
           "%s vs %s %s" % (out, did_subject, err))
    did_eku = ic.did(chain, [("eku", "1.3.6.1.4.1.311.76.59.1.2")])
    rc, out, err = run("policy", "fragment", "did", "--chain", chain_pem, "--eku",
                       "1.3.6.1.4.1.311.76.59.1.2")
    expect(name + ": eku did:x509 identical", rc == 0 and out == did_eku, out + err)
    expect(name + ": independent code resolves both", ic.resolve(did_subject, chain) and
           ic.resolve(did_eku, chain))

    # an independently signed fragment verifies with parma, by DID and through the engine
    payload = json.dumps({"version": 1, "fragment": {"issuer": did_subject, "feed": FEED, "svn": 3},
                          "containers": [{"name": "sidecar", "layers": [H],
                                          "command": ["/sidecar"]}]}).encode()
    doc = write("indep.cose", ic.sign(payload, chain, leaf_key, did_subject, FEED, 3, alg))
    rc, out, err = run("policy", "fragment", "verify", "--did", did_subject, doc)
    expect(name + ": parma verifies the independent fragment", rc == 0, out + err)
    policy = write("policy.json", json.dumps({"version": 1, "fragments": [
        {"issuer": did_subject, "feed": FEED, "minimum_svn": 2, "includes": ["containers"]}]}))
    rc, out, err = run("policy", "fragment", "verify", "--policy", policy, doc)
    expect(name + ": parma's engine loads it", rc == 0 and "svn 3" in out, out + err)

    # a DID the independent code rejects, parma rejects too
    wrong = ic.did(chain, [("subject", [("CN", "Someone Else")])])
    rc, out, err = run("policy", "fragment", "verify", "--did", wrong, write(
        "wrong.cose", ic.sign(payload, chain, leaf_key, wrong, FEED, 3, alg)))
    expect(name + ": both reject a DID the chain does not match",
           rc == 1 and not ic.resolve(wrong, chain), out + err)

    # a tampered independent document is rejected
    bad = bytearray(open(doc, "rb").read())
    i = bad.find(b'"/sidecar"')
    bad[i + 2] ^= 0x20
    rc, out, err = run("policy", "fragment", "verify", "--did", did_subject,
                       write("bad.cose", bytes(bad)))
    expect(name + ": parma rejects the tampered payload", rc == 1 and "signature" in out,
           out + err)

    # parma's signature verifies with the independent code
    frag = write("frag.json", payload.decode())
    args = ["policy", "fragment", "sign", "--key", key_pem, "--chain", chain_pem, "--issuer",
            did_subject, "--feed", FEED, "--svn", "3", "--alg", name, frag]
    r = subprocess.run([parma, *args], capture_output=True)
    ok = r.returncode == 0
    try:
        got = ic.verify(r.stdout, did_subject) if ok else None
    except Exception as e:  # noqa: BLE001 - report any failure of the independent verifier
        ok, got = False, repr(e)
    expect(name + ": independent code verifies parma's fragment",
           ok and got == (did_subject, FEED, 3, payload), str(got) + r.stderr.decode())

sys.exit(1 if failures else 0)
