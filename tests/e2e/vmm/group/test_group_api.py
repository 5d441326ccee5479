#!/usr/bin/python3
"""The group API end to end under QEMU TCG (dev attestation): one group started with
`parma run --api-sock S --start none`, every resource of docs/group-api.yaml driven through
the socket, errors included (bad JSON, unknown field, unknown container, a denied start and
exec, a client leaving mid-stream, a huge body, too many clients), and every operation the
OpenAPI document lists checked off as exercised.

Usage: test_group_api.py PARMA [EMBED] (EMBED: examples/embed linked with libparma, run
against the same group). Exits 77 without QEMU, a guest kernel or the guest initrd."""
import base64
import glob
import http.client
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time

import yaml

PARMA = os.path.abspath(sys.argv[1])
EMBED = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[0].endswith(
    "test_group_api.py") else None
SRC = os.environ["PARMA_SOURCE_ROOT"]
TOKEN = "A" * 16 + "b" * 16  # matches [A-Za-z0-9]{32}
BAD_TOKEN = "too-short-secret"

failures = []
exercised = set()  # (METHOD, path template)


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else f": {detail}"), flush=True)
    if not cond:
        failures.append(name)


def skip(msg):
    print("SKIP: " + msg)
    sys.exit(77)


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def template(method, path):
    """The OpenAPI path template a concrete path is an instance of."""
    p = path.split("?")[0].split("/")
    if len(p) >= 4 and p[2] == "containers":
        p[3] = "{id}"
    return (method, "/".join(p))


def call(sock, method, path, body=None, raw=None, timeout=300):
    c = UnixConnection(sock, timeout)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Content-Type": "application/json"} if data is not None else {}
    c.request(method, path, body=data, headers=headers)
    r = c.getresponse()
    text = r.read()
    c.close()
    exercised.add(template(method, path))
    try:
        doc = json.loads(text) if text and r.getheader("Content-Type", "").startswith(
            "application/json") else text
    except ValueError:
        doc = text
    return r.status, doc


def raw_request(sock_path, method, path, body=b"", extra_headers=""):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(120)
    s.connect(sock_path)
    head = (f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n{extra_headers}"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    s.sendall(head + body)
    exercised.add(template(method, path))
    return s


def read_head(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.1") else 0
    return status, head.decode(errors="replace"), rest


def frame(kind, payload=b""):
    return bytes([kind, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


def read_frames(s, rest, until_exit=True):
    """Frames from an exec stream: (stdout, stderr, exit document or None)."""
    out, err, buf = b"", b"", rest
    while True:
        while len(buf) >= 8:
            n = int.from_bytes(buf[4:8], "big")
            if len(buf) < 8 + n:
                break
            kind, payload, buf = buf[0], buf[8:8 + n], buf[8 + n:]
            if kind == 1:
                out += payload
            elif kind == 2:
                err += payload
            elif kind == 3:
                return out, err, json.loads(payload)
        chunk = s.recv(65536)
        if not chunk:
            return out, err, None
        buf += chunk


def exec_stream(sock_path, cid, command, stdin=None, resize=False):
    body = json.dumps({"command": command, "stdin": stdin is not None}).encode()
    s = raw_request(sock_path, "POST", f"/v1/containers/{cid}/exec", body,
                    "Connection: Upgrade\r\nUpgrade: parma-stdio\r\n"
                    "Content-Type: application/json\r\n")
    status, head, rest = read_head(s)
    if status != 101:
        length = 0
        for line in head.split("\r\n"):
            if line.lower().startswith("content-length:"):
                length = int(line.split(":")[1])
        while len(rest) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
        s.close()
        return status, rest, None
    if resize:
        s.sendall(frame(4, b'{"rows": 40, "cols": 120}'))
    if stdin is not None:
        if stdin:
            s.sendall(frame(0, stdin))
        s.sendall(frame(0))
    out, err, end = read_frames(s, rest)
    s.close()
    return status, (out, err), end


def main():
    if not shutil.which("qemu-system-x86_64"):
        skip("needs qemu-system-x86_64 (Debian qemu-system-x86)")
    if not glob.glob("/boot/vmlinuz-*"):
        skip("needs a guest kernel (Debian linux-image-amd64)")
    initrd = os.environ.get("PARMA_INITRD",
                            os.path.join(os.path.dirname(PARMA), "../guest/initrd/parma-initrd.img"))
    if not os.access(initrd, os.R_OK):
        skip(f"needs the guest initrd ({initrd}): build parma-agent")

    with open(os.path.join(SRC, "docs/group-api.yaml")) as f:
        spec = yaml.safe_load(f)
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops
                  if m in ("get", "post", "put", "delete", "patch")}

    work = tempfile.mkdtemp(prefix="parma-e2e-api-")
    env = dict(os.environ, PARMA_STATE_DIR=f"{work}/state", PARMA_CACHE_DIR=f"{work}/cache",
               PARMA_DEV_CA=f"{work}/dev-ca")
    images = os.environ.get("PARMA_E2E_IMAGES")
    if images:
        shutil.copytree(images, f"{work}/images")
    elif subprocess.run(["/usr/bin/python3", f"{SRC}/examples/make-images.py", f"{work}/images"],
                        stdout=subprocess.DEVNULL).returncode:
        check("make-images", False)
        return 1
    with open(f"{SRC}/tests/e2e/vmm/group/api.json") as f:
        group = f.read().replace('"images/busybox', f'"{work}/images/busybox')
    with open(f"{work}/g.json", "w") as f:
        f.write(group)

    sock = f"{work}/api.sock"
    log = open(f"{work}/run.out", "w")
    run = subprocess.Popen([PARMA, "run", "--api-sock", sock, "--start", "none", f"{work}/g.json"]
                           + os.environ.get("PARMA_E2E_RUN_ARGS", "").split(),
                           stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        rc = scenario(sock, run, work, env, documented)
    finally:
        if run.poll() is None:
            run.terminate()
            try:
                run.wait(60)
            except subprocess.TimeoutExpired:
                run.kill()
        log.close()
    if failures or rc:
        print(open(f"{work}/run.out").read()[-4000:])
        print(f"(kept {work})")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


def scenario(sock, run, work, env, documented):
    # the API is up while the guest boots, and says so
    for _ in range(100):
        if os.path.exists(sock):
            break
        time.sleep(0.2)
    check("API socket is mode 0600", os.path.exists(sock) and
          stat.S_IMODE(os.stat(sock).st_mode) == 0o600)
    state = None
    for _ in range(600):
        if run.poll() is not None:
            break
        try:
            code, g = call(sock, "GET", "/v1/group")
            state = g.get("state") if code == 200 else None
        except OSError:
            state = None
        if state == "running":
            break
        time.sleep(1)
    check("group reaches state running through GET /v1/group", state == "running", state)
    if state != "running":
        return 1
    code, g = call(sock, "GET", "/v1/group")
    check("GET /v1/group: policy digest, backend, TEE, containers, version",
          code == 200 and len(g.get("policy_sha256", "")) == 64 and g.get("tee") == "dev"
          and g.get("backend") and len(g.get("containers", [])) == 2
          and g.get("api_version") == "v1", g)
    check("--start none: nothing started",
          all(c["state"] == "created" for c in g.get("containers", [])), g)

    # errors: every one a JSON body naming the problem, nothing changed
    code, d = call(sock, "POST", "/v1/containers", raw=b'{"name": "app",')
    check("bad JSON is 400 naming the body", code == 400 and "JSON" in d["error"]["message"], d)
    code, d = call(sock, "POST", "/v1/containers", {"name": "app", "colour": "red"})
    check("unknown field is 400 naming it", code == 400 and "colour" in d["error"]["message"], d)
    code, d = call(sock, "POST", "/v1/containers", {"name": "nope"})
    check("starting an unknown container is 404", code == 404, d)
    code, d = call(sock, "GET", "/v1/containers/nope")
    check("GET of an unknown container is 404", code == 404 and "nope" in d["error"]["message"], d)
    code, d = call(sock, "POST", "/v1/containers/nope/signal", {"signal": 15})
    check("signal to an unknown container is 404", code == 404, d)
    code, d = call(sock, "POST", "/v1/containers", raw=b'{"name": "' + b"x" * (100 * 1024) + b'"}')
    check("a huge body is 413", code == 413, d)
    code, d = call(sock, "GET", "/containers")
    check("an unversioned path is 404 naming the version", code == 404 and "/v1/" in
          d["error"]["message"], d)
    code, d = call(sock, "PUT", "/v1/group")
    check("a wrong method is 405", code == 405, d)
    code, d = call(sock, "POST", "/v1/containers", {"name": "app", "env": {"NOT_IN_SPEC": "x"}})
    check("a variable the spec lacks is 400", code == 400 and "NOT_IN_SPEC" in
          d["error"]["message"], d)

    # a denied start: 403 with the rule, field, expected and the replay command; no value shown
    code, d = call(sock, "POST", "/v1/containers", {"name": "app", "env": {"API_TOKEN": BAD_TOKEN}})
    err = d.get("error", {}) if isinstance(d, dict) else {}
    check("a start the policy refuses is 403 'denied'", code == 403 and err.get("code") == "denied", d)
    reason = err.get("reason", {})
    check("the denial carries rule, field and expected", reason.get("rule") and
          reason.get("field") and reason.get("expected"), d)
    check("the denial carries the reproduce command", "parma policy explain" in
          err.get("reproduce", ""), d)
    check("the refused value appears nowhere in the answer", BAD_TOKEN not in json.dumps(d), d)
    # the allowed start
    code, d = call(sock, "POST", "/v1/containers", {"name": "app", "env": {"API_TOKEN": TOKEN}})
    check("POST /v1/containers starts app (201)", code == 201 and d.get("state") == "running", d)
    code, d = call(sock, "POST", "/v1/containers", {"name": "worker"})
    check("POST /v1/containers starts worker", code == 201, d)
    code, d = call(sock, "POST", "/v1/containers", {"name": "worker"})
    check("starting it again is 409", code == 409, d)
    code, d = call(sock, "GET", "/v1/containers/app")
    check("GET /v1/containers/app: running with a process id", code == 200 and
          d.get("state") == "running" and d.get("process_id", 0) > 0, d)

    # logs, then a follower that leaves mid-stream
    text = b""
    for _ in range(120):
        code, text = call(sock, "GET", "/v1/containers/app/logs")
        if b"waiting" in text:
            break
        time.sleep(1)
    check("GET logs has the container's output", b"token-length 32" in text, text[:200])
    s = raw_request(sock, "GET", "/v1/containers/worker/logs?follow=1")
    status, head, rest = read_head(s)
    while b"worker-up" not in rest:
        chunk = s.recv(4096)
        if not chunk:
            break
        rest += chunk
    check("logs?follow=1 streams the output", status == 200 and b"worker-up" in rest, head)
    s.close()  # leave mid-stream

    # exec: stdin in, stdout and stderr out, the exit code, a resize
    status, io, end = exec_stream(sock, "app", ["/bin/cat"], stdin=b"hello through stdin\n",
                                  resize=True)
    check("exec streams stdin to the process and its stdout back", status == 101 and
          io[0] == b"hello through stdin\n", (status, io))
    check("exec ends with the exit code", end == {"exit_code": 0}, end)
    status, io, end = exec_stream(sock, "app", ["/bin/sh", "-c", "echo out; echo err >&2; exit 7"])
    check("exec separates stdout and stderr", status == 101 and io == (b"out\n", b"err\n"),
          (status, io))
    check("exec reports a non-zero exit code", end == {"exit_code": 7}, end)
    status, io, end = exec_stream(sock, "app", ["/bin/sh", "-c",
                                                "[ ${#API_TOKEN} = 32 ] && echo exec-token-length-32"])
    check("exec gets the run-time values given at start", io and
          io[0] == b"exec-token-length-32\n" and end == {"exit_code": 0}, (status, io, end))
    status, body, _ = exec_stream(sock, "app", ["/bin/sh", "-c", "id"])
    try:
        d = json.loads(body)
    except ValueError:
        d = {"error": {}}
    check("an unlisted exec is 403 with its rule and reproduce command", status == 403 and
          d["error"]["reason"].get("rule") and "parma policy explain" in
          d["error"].get("reproduce", ""), (status, body))
    # a client that leaves an exec mid-stream: the process is killed, the server carries on
    body = json.dumps({"command": ["/bin/cat"], "stdin": True}).encode()
    s = raw_request(sock, "POST", "/v1/containers/app/exec", body,
                    "Connection: Upgrade\r\nUpgrade: parma-stdio\r\nContent-Type: application/json\r\n")
    status, head, rest = read_head(s)
    s.sendall(frame(0, b"partial"))
    s.close()
    check("exec upgrade accepted before the client leaves", status == 101, head)
    code, d = call(sock, "POST", "/v1/containers/app/exec", {"command": ["/bin/cat"]})
    check("exec without Upgrade is 400 saying how", code == 400 and "Upgrade" in
          d["error"]["message"], d)

    # libparma (examples/embed) on the same group: state, an exec's output and exit code, and a
    # denial as a code with its rule
    if EMBED:
        e = subprocess.run([EMBED, "group", sock, "app", "/bin/sh", "-c",
                            "echo out; echo err >&2; exit 7"], capture_output=True)
        check("libparma: exec output and exit code through parma_group_exec",
              e.returncode == 7 and e.stdout.endswith(b"out\n") and e.stderr == b"err\n"
              and b'"api_version":"v1"' in e.stdout, e)
        e = subprocess.run([EMBED, "group", sock, "app", "/bin/sh", "-c", "id"],
                           capture_output=True)
        check("libparma: a denied exec is PARMA_ERR_DENIED with its rule",
              e.returncode == 1 and b"code -2" in e.stderr and b"rule exec_process" in e.stderr,
              e)

    # attestation: a fresh report bound to our data, with the chain that verifies it
    rd = "ab" * 64
    code, d = call(sock, "POST", "/v1/attest", {"report_data": rd})
    report = base64.b64decode(d.get("report", "")) if code == 200 else b""
    check("POST /v1/attest returns a 1184-byte report", len(report) == 1184, d)
    if report:
        os.makedirs(f"{work}/certs", exist_ok=True)
        for k, pem in d.get("certs", {}).items():
            with open(f"{work}/certs/{k}.pem", "w") as f:
                f.write(pem)
        with open(f"{work}/report.bin", "wb") as f:
            f.write(report)
        v = subprocess.run([PARMA, "verify", f"{work}/report.bin", "--certs", f"{work}/certs",
                            "--policy", f"{work}/state/e2e-api/policy.json", "--report-data", rd,
                            "--allow-dev"], capture_output=True, env=env)
        check("the report verifies against the group's policy and our report_data",
              v.returncode == 0, v.stdout[-500:] + v.stderr[-500:])
    code, d = call(sock, "POST", "/v1/attest", {"report_data": "xyz"})
    check("attest with bad report_data is 400", code == 400, d)

    # too many clients: the 33rd connection is closed at once, and the API recovers
    idle = []
    for _ in range(32):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(sock)
        idle.append(c)
    time.sleep(1)
    extra = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    extra.settimeout(10)
    extra.connect(sock)
    try:
        extra.sendall(b"GET /v1/group HTTP/1.1\r\nHost: x\r\n\r\n")
        refused = extra.recv(4096) == b""
    except (ConnectionResetError, BrokenPipeError):
        refused = True
    except socket.timeout:
        refused = False
    extra.close()
    check("a client beyond 32 is refused", refused)
    for c in idle:
        c.close()
    time.sleep(1)
    code, _ = call(sock, "GET", "/v1/group")
    check("the API serves again once clients leave", code == 200)

    # signal and delete
    code, d = call(sock, "POST", "/v1/containers/worker/signal", {"signal": "SIGTERM"})
    check("POST signal SIGTERM is 204", code == 204, d)
    st = None
    for _ in range(60):
        code, d = call(sock, "GET", "/v1/containers/worker")
        st = d.get("state")
        if st == "exited":
            break
        time.sleep(1)
    check("the signalled container exits with 143", st == "exited" and d.get("exit_code") == 143, d)
    code, d = call(sock, "POST", "/v1/containers/app/signal", {"signal": "SIGKILL"})
    check("a signal the policy does not allow is 403 with its rule", code == 403 and
          d["error"].get("reason", {}).get("rule"), d)
    code, d = call(sock, "DELETE", "/v1/containers/app")
    check("DELETE /v1/containers/app is 204", code == 204, d)
    for _ in range(60):
        code, d = call(sock, "GET", "/v1/containers/app")
        if d.get("state") == "exited":
            break
        time.sleep(1)
    check("the deleted container has exited", d.get("state") == "exited", d)

    # the event stream: lifecycle and denials with reasons, no secret
    code, text = call(sock, "GET", "/v1/events?follow=0")
    events = [json.loads(line) for line in text.decode().splitlines() if line.strip()]
    types = [e["type"] for e in events]
    check("events: group states, starts, exits, exec, abandonment",
          {"group_state", "container_started", "container_exited", "exec_started",
           "exec_exited", "exec_abandoned"} <= set(types), types)
    denied = [e for e in events if e["type"] == "denied"]
    check("events: denials carry their reason",
          len(denied) >= 3 and all(e.get("error", {}).get("reason", {}).get("rule")
                                   for e in denied), denied)
    check("events: no secret value", TOKEN not in text.decode() and BAD_TOKEN not in text.decode())
    seqs = [e["seq"] for e in events]
    check("events are numbered in order", seqs == sorted(seqs) and len(set(seqs)) == len(seqs))
    for path in (f"{work}/state/e2e-api/requests.json", f"{work}/state/e2e-api/denied-exec.json",
                 f"{work}/run.out"):
        if not os.path.exists(path):
            check(f"{os.path.basename(path)} exists", False)
            continue
        with open(path) as f:
            t = f.read()
        check(f"no run-time value in {os.path.basename(path)}", TOKEN not in t and BAD_TOKEN not in t)

    # a follower of events sees the stop; stop ends the group with 0 and removes the socket
    s = raw_request(sock, "GET", "/v1/events")
    status, head, rest = read_head(s)
    code, d = call(sock, "POST", "/v1/stop")
    check("POST /v1/stop is 202", code == 202, d)
    s.settimeout(120)
    while b'"stopped"' not in rest:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    s.close()
    check("an event follower sees the group stop", b'"stopped"' in rest, rest[-300:])
    try:
        rc = run.wait(180)
    except subprocess.TimeoutExpired:
        rc = None
    check("parma run exits 0 after POST /v1/stop", rc == 0, rc)
    check("the API socket is removed", not os.path.exists(sock))

    missing = sorted(documented - exercised)
    check("every operation of docs/group-api.yaml was exercised", not missing, missing)
    undocumented = sorted(t for t in exercised if t[1].startswith("/v1/") and t not in documented
                          and t != ("PUT", "/v1/group"))
    check("every operation exercised is documented", not undocumented, undocumented)
    return 0


if __name__ == "__main__":
    sys.exit(main())
