#!/usr/bin/env python3
"""docs/policy.schema.json agrees with the policy parser: it is a valid JSON Schema draft 2020-12,
every policy the tests use validates, and documents `parma policy check` rejects for reasons a
schema can express are rejected by the schema too (and vice versa for the accepted ones)."""
import json, os, subprocess, sys, glob

try:
    from jsonschema import Draft202012Validator
except ImportError:
    print("needs python3-jsonschema (Debian package) for Draft202012Validator")
    sys.exit(77)

root = os.environ.get("PARMA_SOURCE_ROOT", ".")
build = os.environ.get("PARMA_BUILD_ROOT", "build")
parma = sys.argv[1] if len(sys.argv) > 1 else os.path.join(build, "vmm", "parma")
schema = json.load(open(os.path.join(root, "docs", "policy.schema.json")))
Draft202012Validator.check_schema(schema)
v = Draft202012Validator(schema)

def check(doc):
    path = os.path.join(build, "schema-check.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    r = subprocess.run([parma, "policy", "check", path], capture_output=True, text=True)
    return r.returncode

good = [json.load(open(os.path.join(root, "tests", "data", "policy", "base.json"))),
        {"version": 1, "insecure_allow_all": "INSECURE-DEBUG-ALLOW-ALL"},
        {"version": 1}]
for f in sorted(glob.glob(os.path.join(root, "tests", "data", "policy", "attacks", "*.json"))):
    d = json.load(open(f))
    if "policy_inline" in d:
        good.append(d["policy_inline"])

H = "a" * 64
DID = "did:x509:0:sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA::subject:CN:Test"
good.append({"version": 1, "fragments": [{"issuer": DID + "::eku:1.3.6.1.5.5.7.3.3", "feed": "f",
             "minimum_svn": 0, "includes": ["containers", "external_processes", "fragments"],
             "allow_stdio_access": True, "allow_elevated": False}]})
C = {"name": "a", "layers": [H], "command": ["/a"]}
def c(**kw):
    x = dict(C); x.update(kw); return {"version": 1, "containers": [x]}
bad = [
    {}, {"version": 2}, {"version": 1, "extra": 1},
    {"version": 1, "insecure_allow_all": "yes"},
    {"version": 1, "insecure_allow_all": "INSECURE-DEBUG-ALLOW-ALL", "containers": []},
    c(layers=[]), c(layers=["A" * 64]), c(layers=["a" * 63]), c(command=[]), c(command=[""]),
    c(working_dir="srv"), c(working_dir="/srv/"), c(working_dir="/a/../b"), c(working_dir="/a//b"),
    c(user={"uid": -1}), c(user={"umask": "9"}), c(capabilities={"bounding": ["CAP_FLY"]}),
    c(capabilities={"bounding": ["CAP_KILL", "CAP_KILL"]}), c(signals=[0]), c(signals=[65]),
    c(env_rules=[{"pattern": "A=1", "strategy": "glob"}]), c(env_rules=[{"strategy": "regex"}]),
    c(mounts=[{"source": "/x", "destination": "/a/../b", "type": "bind"}]),
    c(mounts=[{"source": "/x", "destination": "/b", "type": ""}]),
    c(seccomp_profile_sha256="zz"), c(bogus=1),
    {"version": 1, "fragments": [{"issuer": DID, "feed": "f", "minimum_svn": 1, "includes": ["x"]}]},
    {"version": 1, "fragments": [{"issuer": "did:web:registry.example", "feed": "f", "minimum_svn": 1, "includes": ["containers"]}]},
    {"version": 1, "fragments": [{"issuer": DID, "feed": "", "minimum_svn": 1, "includes": ["containers"]}]},
    {"version": 1, "fragments": [{"issuer": DID, "feed": "f", "minimum_svn": 1, "includes": ["containers"], "allow_debug": True}]},
    {"version": 1, "external_processes": [{"command": ["/x"], "working_dir": "x"}]},
]
failures = 0
for d in good:
    errs = list(v.iter_errors(d))
    if errs or check(d) != 0:
        print("should be valid:", json.dumps(d)[:200], [e.message for e in errs][:2]); failures += 1
for d in bad:
    if v.is_valid(d):
        print("schema accepts an invalid policy:", json.dumps(d)); failures += 1
    if check(d) == 0:
        print("parser accepts an invalid policy:", json.dumps(d)); failures += 1
print(f"{len(good)} valid and {len(bad)} invalid documents checked, {failures} disagreements")
sys.exit(1 if failures else 0)
