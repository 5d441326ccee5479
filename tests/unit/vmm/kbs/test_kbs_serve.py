#!/usr/bin/env python3
"""`parma kbs` end to end on the host: put/list/rm/policy check exit codes, then `serve`
over HTTP and HTTPS with an independent client written here (canonical JSON, REPORT_DATA,
JWE decryption by python3-jwcrypto), a report from the development signer, a release, a
refusal naming its claim, and the secret absent from every log, output and error."""
import base64
import hashlib
import http.client
import json
import os
import signal
import ssl
import stat
import subprocess
import sys
import tempfile

try:
    from jwcrypto import jwe, jwk
except ImportError:
    print("SKIP: needs python3-jwcrypto (Debian package python3-jwcrypto)")
    sys.exit(77)

parma, schema_file = sys.argv[1], sys.argv[2]
SECRET = b"kbs-e2e-secret-9d41c0"
failures = 0


def check(cond, what):
    global failures
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures += 1


def run(*args, stdin=None):
    p = subprocess.run([parma, *args], input=stdin, capture_output=True)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def jcs(v):
    # RFC 8785 for strings and objects (all this client sends)
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def session(conn_factory, policy_hd, host_data, measurement, ca, tmp, key):
    """auth → attest → GET; returns (status, body) of the resource request."""
    c = conn_factory()
    c.request("POST", "/kbs/v0/auth", json.dumps({"version": "0.1.0", "tee": "snp",
                                                   "extra-params": ""}))
    r = c.getresponse()
    body = json.loads(r.read())
    cookie = r.getheader("Set-Cookie").split(";")[0]
    nonce = body["nonce"]
    pub = json.loads(key.export_public())
    pub["alg"] = "RSA-OAEP-256"
    runtime = {"nonce": nonce, "tee-pubkey": pub}
    rd = hashlib.sha384(jcs(runtime)).digest().ljust(64, b"\0")
    rep = os.path.join(tmp, "report.bin")
    code, _, err = run("report", "dev-sign", "--ca", ca, "-o", rep, "--host-data", host_data,
                       "--measurement", measurement, "--report-data", rd.hex())
    assert code == 0, err
    with open(rep, "rb") as f:
        report = f.read()
    att = {"runtime_data": runtime,
           "tee_evidence": {"primary_evidence": {
               "attestation_report": base64.b64encode(report).decode()}}}
    c.request("POST", "/kbs/v0/attest", json.dumps(att), {"Cookie": cookie})
    r = c.getresponse()
    att_body = r.read()
    if r.status != 200:
        return r.status, att_body
    c.request("GET", "/kbs/v0/resource/default/db/password", headers={"Cookie": cookie})
    r = c.getresponse()
    return r.status, r.read()


def serve(config, tmp):
    proc = subprocess.Popen([parma, "kbs", "serve", "--config", config],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = proc.stdout.readline().decode()
    if "listening" not in line:
        proc.kill()
        out, err = proc.communicate()
        raise SystemExit(f"FAIL: serve did not start: {line} {err.decode()}")
    return proc, int(line.split()[-1])


with tempfile.TemporaryDirectory() as tmp:
    store, ca = os.path.join(tmp, "store"), os.path.join(tmp, "ca")
    code, _, err = run("report", "dev-ca", ca, "--rsa-bits", "2048")
    assert code == 0, err
    hd, ms = "ab" * 32, "cd" * 48
    good = os.path.join(tmp, "good.json")
    with open(good, "w") as f:
        json.dump({"host_data": [hd], "measurement": [ms], "allow_dev": True}, f)
    bad = os.path.join(tmp, "bad.json")
    with open(bad, "w") as f:
        f.write('{"host_data": ["%s"], "chain": ["ask"]}' % hd)
    nodev = os.path.join(tmp, "nodev.json")
    with open(nodev, "w") as f:
        json.dump({"host_data": [hd]}, f)

    # the documented schema agrees with the parser on these documents
    try:
        import jsonschema
        with open(schema_file) as f:
            schema = json.load(f)
        for path, want in ((good, True), (bad, False), (nodev, True)):
            with open(path) as f:
                doc = json.load(f)
            try:
                jsonschema.validate(doc, schema)
                valid = True
            except jsonschema.ValidationError:
                valid = False
            check(valid == want, f"schema: {os.path.basename(path)} valid={valid}")
    except ImportError:
        print("note: python3-jsonschema missing, schema not checked")
    code, out, _ = run("kbs", "policy", "check", good)
    check(code == 0 and "valid" in out, "policy check accepts a valid policy")
    code, _, err = run("kbs", "policy", "check", bad)
    check(code == 3 and "release.chain[0]" in err, "policy check names the JSON path: " + err.strip())

    code, _, err = run("kbs", "put", "--store", store, "default/db/password", "-", stdin=SECRET)
    check(code == 2 and "--policy" in err, "put without --policy is a usage error")
    code, out, err = run("kbs", "put", "--store", store, "--policy", bad, "default/db/password",
                         "-", stdin=SECRET)
    check(code == 3 and "release.chain[0]" in err, "put refuses an invalid policy")
    code, out, err = run("kbs", "put", "--store", store, "--policy", good, "default/db/password",
                         "-", stdin=SECRET)
    check(code == 0, "put stores a secret")
    check(SECRET.decode() not in out + err, "put never prints the secret")
    mode = stat.S_IMODE(os.stat(os.path.join(store, "resources/default/db/password")).st_mode)
    check(mode == 0o600, f"secret file is 0600 ({oct(mode)})")
    run("kbs", "put", "--store", store, "--policy", nodev, "other/db/nodev", "-", stdin=SECRET)
    code, out, _ = run("kbs", "list", "--store", store)
    check(code == 0 and out.split() == ["default/db/password", "other/db/nodev"]
          or sorted(out.split()) == ["default/db/password", "other/db/nodev"],
          "list shows the ids")
    code, _, _ = run("kbs", "rm", "--store", store, "other/db/nodev")
    check(code == 0, "rm removes a resource")
    code, _, err = run("kbs", "rm", "--store", store, "other/db/nodev")
    check(code == 1 and "no resource" in err, "rm of a missing resource fails")
    code, _, err = run("kbs", "put", "--store", store, "--policy", good, "a/../b", "-", stdin=b"x")
    check(code == 3, "put refuses a path-like id")

    log = os.path.join(tmp, "kbs.log")
    cfg = {"listen": "127.0.0.1", "port": 0, "store": store, "certs": ca, "log": log,
           "session_ttl": 60}
    config = os.path.join(tmp, "kbs.json")
    with open(config, "w") as f:
        json.dump(dict(cfg, listen="0.0.0.0"), f)
    code, _, err = run("kbs", "serve", "--config", config)
    check(code == 3 and "loopback" in err, "plain HTTP off loopback is refused")
    with open(config, "w") as f:
        json.dump(dict(cfg, bogus=1), f)
    code, _, err = run("kbs", "serve", "--config", config)
    check(code == 3 and "config.bogus" in err, "config errors name the member")

    key = jwk.JWK.generate(kty="RSA", size=2048)
    for tls in (False, True):
        c = dict(cfg)
        if tls:
            crt, k = os.path.join(tmp, "kbs.crt"), os.path.join(tmp, "kbs.key")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", k, "-out", crt, "-days", "1", "-subj", "/CN=localhost"],
                           check=True, capture_output=True)
            c["tls"] = {"cert": crt, "key": k}
        with open(config, "w") as f:
            json.dump(c, f)
        proc, port = serve(config, tmp)
        ctx = ssl.create_default_context(cafile=crt) if tls else None
        if tls:
            ctx.check_hostname = False
        factory = ((lambda: http.client.HTTPSConnection("127.0.0.1", port, context=ctx))
                   if tls else (lambda: http.client.HTTPConnection("127.0.0.1", port)))
        scheme = "https" if tls else "http"
        status, body = session(factory, [hd], hd, ms, ca, tmp, key)
        ok = status == 200
        if ok:
            t = jwe.JWE()
            t.deserialize(body.decode(), key=key)
            ok = t.payload == SECRET
        check(ok, f"{scheme}: attested client gets the secret, decrypted by jwcrypto ({status})")
        status, body = session(factory, [hd], "ee" * 32, ms, ca, tmp, key)
        check(status == 403 and b"host_data" in body,
              f"{scheme}: a group with another policy is refused, naming host_data")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        check(proc.returncode == 0, f"{scheme}: serve stops cleanly on SIGTERM")
        check(SECRET not in out + err, f"{scheme}: the secret is not in serve's output")
    with open(log, "rb") as f:
        text = f.read()
    check(b"RELEASED" in text and b"REFUSED: claim host_data" in text and b"DEVELOPMENT" in text,
          "the log records the release, the refusal and the dev chain")
    check(SECRET not in text, "the secret is not in the log")
    check(stat.S_IMODE(os.stat(log).st_mode) == 0o600, "the log file is 0600")

sys.exit(1 if failures else 0)
