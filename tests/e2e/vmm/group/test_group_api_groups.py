#!/usr/bin/python3
"""Three groups at once through their APIs (QEMU TCG, dev attestation): started together,
each exercised (start with its own run-time value, exec with its own stdin, attest bound to
its own data, events), and stopped, with nothing of one reaching another.

Usage: test_group_api_groups.py PARMA. Exits 77 without QEMU, a guest kernel or the initrd."""
import base64
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_group_api as t  # noqa: E402  (the same client helpers)

N = 3


def main():
    parma = t.PARMA
    src = t.SRC
    if not shutil.which("qemu-system-x86_64"):
        t.skip("needs qemu-system-x86_64 (Debian qemu-system-x86)")
    if not glob.glob("/boot/vmlinuz-*"):
        t.skip("needs a guest kernel (Debian linux-image-amd64)")
    initrd = os.environ.get("PARMA_INITRD",
                            os.path.join(os.path.dirname(parma), "../guest/initrd/parma-initrd.img"))
    if not os.access(initrd, os.R_OK):
        t.skip(f"needs the guest initrd ({initrd}): build parma-agent")
    work = tempfile.mkdtemp(prefix="parma-e2e-groups-")
    env = dict(os.environ, PARMA_STATE_DIR=f"{work}/state", PARMA_CACHE_DIR=f"{work}/cache",
               PARMA_DEV_CA=f"{work}/dev-ca")
    images = os.environ.get("PARMA_E2E_IMAGES")
    if images:
        shutil.copytree(images, f"{work}/images")
    elif subprocess.run(["/usr/bin/python3", f"{src}/examples/make-images.py", f"{work}/images"],
                        stdout=subprocess.DEVNULL).returncode:
        t.check("make-images", False)
        return 1
    with open(f"{src}/tests/e2e/vmm/group/api.json") as f:
        spec = f.read().replace('"images/busybox', f'"{work}/images/busybox')
    runs, socks, logs = [], [], []
    try:
        for i in range(N):
            with open(f"{work}/g{i}.json", "w") as f:
                f.write(spec.replace('"e2e-api"', f'"e2e-api-{i}"'))
            socks.append(f"{work}/api{i}.sock")
            logs.append(open(f"{work}/run{i}.out", "w"))
            runs.append(subprocess.Popen(
                [parma, "run", "--api-sock", socks[i], "--start", "none", f"{work}/g{i}.json"],
                stdout=logs[i], stderr=subprocess.STDOUT, env=env))
        scenario(runs, socks, work, env)
    finally:
        for r in runs:
            if r.poll() is None:
                r.terminate()
                try:
                    r.wait(60)
                except subprocess.TimeoutExpired:
                    r.kill()
        for log in logs:
            log.close()
    if t.failures:
        for i in range(len(runs)):
            print(f"--- run {i}\n" + open(f"{work}/run{i}.out").read()[-2000:])
        print(f"(kept {work})")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


def scenario(runs, socks, work, env):
    deadline = time.time() + 900
    up = [False] * N
    while time.time() < deadline and not all(up):
        for i in range(N):
            if up[i] or runs[i].poll() is not None:
                continue
            try:
                code, g = t.call(socks[i], "GET", "/v1/group")
                up[i] = code == 200 and g.get("state") == "running"
            except OSError:
                pass
        if any(r.poll() is not None for r in runs):
            break
        time.sleep(2)
    t.check(f"{N} groups started at once all run", all(up), up)
    if not all(up):
        return
    digests = set()
    for i in range(N):
        code, g = t.call(socks[i], "GET", "/v1/group")
        t.check(f"group {i} answers as itself", g.get("name") == f"e2e-api-{i}", g.get("name"))
        digests.add(g.get("policy_sha256"))
        token = f"{i}" * 32
        code, d = t.call(socks[i], "POST", "/v1/containers",
                         {"name": "app", "env": {"API_TOKEN": token}})
        t.check(f"group {i}: app starts", code == 201, d)
    for i in range(N):
        marker = f"only-for-group-{i}\n".encode()
        status, io, end = t.exec_stream(socks[i], "app", ["/bin/cat"], stdin=marker)
        t.check(f"group {i}: exec echoes its own stdin and nothing else",
                status == 101 and io == (marker, b"") and end == {"exit_code": 0},
                (status, io, end))
        rd = f"{i:02x}" * 64
        code, d = t.call(socks[i], "POST", "/v1/attest", {"report_data": rd})
        report = base64.b64decode(d.get("report", "")) if code == 200 else b""
        t.check(f"group {i}: its report carries its own report_data",
                len(report) == 1184 and report[0x50:0x90] == bytes.fromhex(rd), code)
    for i in range(N):
        code, text = t.call(socks[i], "GET", "/v1/events?follow=0")
        events = [json.loads(x) for x in text.decode().splitlines() if x.strip()]
        execs = [e for e in events if e["type"] == "exec_exited"]
        t.check(f"group {i}: its events hold its one exec, numbered from 0",
                len(execs) == 1 and events[0]["seq"] == 0, [e["type"] for e in events])
        with open(f"{work}/state/e2e-api-{i}/logs/app.log", "rb") as f:
            t.check(f"group {i}: its log is its own container's",
                    f.read().startswith(b"token-length 32"))
    for i in range(N):
        code, d = t.call(socks[i], "POST", "/v1/stop")
        t.check(f"group {i}: POST /v1/stop", code == 202, d)
    for i in range(N):
        try:
            rc = runs[i].wait(300)
        except subprocess.TimeoutExpired:
            rc = None
        t.check(f"group {i}: parma run exits 0", rc == 0, rc)
    t.check("no VM of these groups is left",
            subprocess.run(["pgrep", "-f", f"qemu-system.*{work}"],
                           stdout=subprocess.DEVNULL).returncode != 0)


if __name__ == "__main__":
    sys.exit(main())
