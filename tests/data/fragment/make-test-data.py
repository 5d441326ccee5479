#!/usr/bin/python3
"""Regenerate the signed-fragment test data (run by hand from the repository root, then commit):
a test PKI valid from 2000 for 100 years (tests/data/fragment/), the issuer DID in the policies under
tests/, and the load_fragment cases of the attack corpus (tests/data/policy/attacks/095-100,
112-119). Everything is made with the independent implementation in tests/unit/policy/cose/indep_cose.py,
so the corpus also checks Parma's verifier against code it shares nothing with.
The keys here are test keys: they protect nothing."""
import base64, datetime, glob, json, os, sys

sys.path.insert(0, os.path.join("tests", "unit", "policy", "cose"))
import indep_cose as ic  # noqa: E402

OUT = os.path.join("tests", "data", "fragment")
ATTACKS = os.path.join("tests", "data", "policy", "attacks")
FEED = "example/sidecars"
H = "e6c65c655ca8172ab7a2b634dab3220a45472dd6571b6efd956ccc05e229a201"
DAYS = 36500
# A fixed start in the past: a PKI dated "now" fails on any machine whose clock is behind
# the one that made it (CI's clock is not ours).
START = datetime.datetime(2000, 1, 1)


def pki(tag):
    ca_key, key = ic.key("P-256"), ic.key("P-256")
    ca = ic.cert(ca_key, [("CN", "Parma Test Fragment CA " + tag), ("O", "Parma Tests")],
                 ca=True, days=DAYS, start=START)
    leaf = ic.cert(key, [("CN", "Parma Test Fragment Signer"), ("O", "Parma Tests")], ca, ca_key,
                   eku=["1.3.6.1.5.5.7.3.3"], days=DAYS, start=START)
    return [leaf, ca], key, ca_key


def save(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


chain, key, ca_key = pki("A")
other_chain, other_key, _ = pki("B")
save("ca.pem", ic.pem(chain[1:]))
save("chain.pem", ic.pem(chain))
save("signer.key", ic.key_pem(key))
save("other-chain.pem", ic.pem(other_chain))
save("other-signer.key", ic.key_pem(other_key))
DID = ic.did(chain, [("subject", [("CN", None)])])
OTHER_DID = ic.did(other_chain, [("subject", [("CN", None)])])
with open(os.path.join(OUT, "issuer.did"), "w") as f:
    f.write(DID + "\n")

# the issuer every test policy imports
for path in [os.path.join("tests", "data", "policy", "base.json"),
             os.path.join("tests", "fuzz", "policy", "lang", "seeds_parse", "base.json"),
             os.path.join(ATTACKS, "111-create-mount-source-traversal.json")]:
    d = json.load(open(path))
    p = d.get("policy_inline", d)
    for imp in p.get("fragments", []):
        imp["issuer"] = DID
    with open(path, "w") as f:
        json.dump(d, f, indent=2 if path.endswith("base.json") else 1)
        f.write("\n")


def payload(svn=3, issuer=DID, feed=FEED, name="sidecar", extra=None, containers=None):
    d = {"version": 1, "fragment": {"issuer": issuer, "feed": feed, "svn": svn},
         "containers": containers if containers is not None else
         [{"name": name, "layers": [H], "command": ["/sidecar"]}]}
    d.update(extra or {})
    return json.dumps(d).encode()


def frag(body, svn=3, iss=DID, signer=(chain, key), hdr_extra=None):
    return ic.sign(body, signer[0], signer[1], iss, FEED, svn, -7, hdr_extra)


def req(doc):
    return {"type": "load_fragment", "fragment_base64": base64.b64encode(doc).decode()}


def attack(name, description, docs):
    with open(os.path.join(ATTACKS, name + ".json"), "w") as f:
        json.dump({"description": description, "policy": "../base.json",
                   "requests": [req(d) for d in docs], "expect_rule": "fragment"}, f, indent=1)
        f.write("\n")


good = frag(payload())
save("sidecar-svn3.cose", good)
attack("095-fragment-unknown-issuer", "a fragment from an issuer the policy does not import",
       [frag(payload(issuer=OTHER_DID), iss=OTHER_DID, signer=(other_chain, other_key))])
attack("096-fragment-old-svn", "a fragment below minimum_svn (rollback)",
       [frag(payload(svn=1), svn=1)])
attack("097-fragment-not-included", "a fragment adding external processes it may not",
       [frag(payload(extra={"external_processes": [{"command": ["/bin/sh"]}]}))])
attack("098-fragment-issuer-mismatch", "fragment body claims another issuer than its signature",
       [frag(payload(issuer=OTHER_DID))])
attack("099-fragment-twice", "a different fragment with the SVN of one already loaded",
       [good, frag(payload(name="sidecar2"))])
attack("100-fragment-name-clash", "a fragment redefining an existing container",
       [frag(payload(name="web"))])
attack("112-fragment-widens-stdio", "a fragment container granting stdio the import does not",
       [frag(payload(containers=[{"name": "sidecar", "layers": [H], "command": ["/sidecar"],
                                  "allow_stdio_access": True}]))])
attack("113-fragment-sets-policy-flag", "a fragment turning on unencrypted scratch",
       [frag(payload(extra={"allow_unencrypted_scratch": True}))])
attack("114-fragment-debug-form", "a fragment carrying the allow-all debug marker",
       [frag(payload(extra={"insecure_allow_all": "INSECURE-DEBUG-ALLOW-ALL"}))])
tampered = bytearray(good)
i = tampered.find(b'"/sidecar"')
tampered[i + 2] ^= 0x20
attack("115-fragment-tampered-payload", "a signed fragment whose payload was changed",
       [bytes(tampered)])
attack("116-fragment-replay-older", "replay of an older fragment after a newer one",
       [frag(payload(svn=4), svn=4), good])
attack("117-fragment-svn-header-mismatch", "signed SVN header differs from the payload's",
       [frag(payload(svn=3), svn=5)])
attack("118-fragment-other-ca-same-did", "another CA's valid chain claiming the policy's DID",
       [frag(payload(), signer=(other_chain, other_key))])
attack("119-fragment-unknown-critical-header", "a critical header the verifier cannot understand",
       [frag(payload(), hdr_extra={2: ["x-policy"], "x-policy": "allow-all"})])
print("issuer", DID)
