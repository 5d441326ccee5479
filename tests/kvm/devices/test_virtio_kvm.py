#!/usr/bin/env python3
"""KVM test of the virtio devices: `parma boot` runs the test payload with a
virtio-blk disk and a hybrid vsock device on /dev/kvm. The guest verifies a
1 MiB pattern read from the disk, writes another MiB that this script checks,
flushes; over vsock it connects to a host echo server (guest-initiated, through
<uds>_5000) and echoes what this script sends through `CONNECT 1234`
(host-initiated). Exit 77 without /dev/kvm.

Usage: test_virtio_kvm.py PARMA PAYLOAD"""
import array
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

MIB = 1 << 20


READ_KEY = 0x5041524D41000000   # firmware/payload/test_virtio_blk.c
WRITE_KEY = 0x7061726D61000001


def pattern(key, n):  # every 64-bit little-endian word = key ^ its byte offset
    return array.array("Q", (key ^ (8 * i) for i in range(n // 8))).tobytes()


def echo_server(lsock, stop):
    lsock.settimeout(0.2)
    while not stop.is_set():
        try:
            conn, _ = lsock.accept()
        except socket.timeout:
            continue
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)


def main():
    parma, payload = sys.argv[1], sys.argv[2]
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: needs read-write /dev/kvm (hardware or nested KVM)")
        return 77
    failures = []
    with tempfile.TemporaryDirectory(prefix="parma-kvm-dev-") as tmp:
        disk = os.path.join(tmp, "disk.img")
        with open(disk, "wb") as f:
            f.write(pattern(READ_KEY, MIB))
            f.write(bytes(MIB))
        uds = os.path.join(tmp, "v.sock")
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lsock.bind(uds + "_5000")
        lsock.listen(4)
        stop = threading.Event()
        srv = threading.Thread(target=echo_server, args=(lsock, stop), daemon=True)
        srv.start()
        log = os.path.join(tmp, "log")
        proc = subprocess.Popen(
            [parma, "boot", "--kernel", payload, "--mem", "64", "--serial", "none",
             "--debug-log", log, "--drive", disk + ",queues=2", "--vsock", "3," + uds,
             "--cmdline", "virtio.blk virtio.vsock"],
            stderr=subprocess.PIPE)

        # Host-initiated connection once the guest says it listens.
        deadline = time.time() + 60
        echoed = b""
        sent = os.urandom(10000)
        while time.time() < deadline and proc.poll() is None:
            if os.path.exists(log) and b"vsock ready-for-host 1234" in open(log, "rb").read():
                break
            time.sleep(0.05)
        else:
            failures.append("guest never announced its vsock listener")
        if not failures:
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.settimeout(20)
            c.connect(uds)
            c.sendall(b"CONNECT 1234\n")
            line = b""
            while not line.endswith(b"\n"):
                ch = c.recv(1)
                if not ch:
                    break
                line += ch
            if not line.startswith(b"OK ") or int(line[3:-1]) < (1 << 30):
                failures.append("CONNECT 1234 answered %r" % line)
            else:
                c.sendall(sent)
                while len(echoed) < len(sent):
                    d = c.recv(65536)
                    if not d:
                        break
                    echoed += d
                if echoed != sent:
                    failures.append("host-initiated echo returned %d of %d bytes (equal: %s)"
                                    % (len(echoed), len(sent), echoed == sent[:len(echoed)]))
            c.close()

        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            failures.append("parma boot did not finish")
        stop.set()
        srv.join()
        out = open(log).read() if os.path.exists(log) else ""
        if proc.returncode != 0:
            failures.append("parma boot exited %d: %s" % (proc.returncode, err.decode(errors="replace")))
        for want in ["virtio-blk read 1048576 errors 0 word-mismatches 0",
                     "virtio-blk write 1048576 errors 0",
                     "virtio-blk flush errors 0",
                     "test virtio-blk 0",
                     "vsock guest-initiated echo 6000 bytes mismatches 0 rst 1",
                     "vsock host-initiated echo 10000 bytes",
                     "test virtio-vsock 0",
                     "payload done failures 0"]:
            if not any(l.startswith(want) for l in out.splitlines()):
                failures.append("guest did not report '%s'" % want)
        with open(disk, "rb") as f:
            f.seek(MIB)
            if f.read(MIB) != pattern(WRITE_KEY, MIB):
                failures.append("the second MiB of the disk is not the guest's pattern")
        if failures:
            print(out)
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
