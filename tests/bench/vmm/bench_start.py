#!/usr/bin/env python3
"""Start-up and memory of `parma boot` against QEMU microvm, booting the same test payload.

start: process start (fork/exec) -> first guest output: the payload's first line on the
       debugcon port 0xe9, written a few instructions after entry, seen by polling the log
       file both VMMs write it to. Also reported: start -> process exit (includes KVM's VM
       teardown, ~20 ms on this nested host, paid by both), and parma's own boot timer
       (process start -> first guest instruction, exact).
rss:   with the payload parked in a halt loop (`payload.hang`), RssAnon + RssFile of the VMM
       process from /proc (guest RAM is a memfd in both VMMs, so it is RssShmem and excluded).
Each comparison runs QEMU and parma alternately (tests/bench/harness): start-up 20 times
each, exit 10, RSS 5 (PARMA_BENCH_REPS overrides all three, at least 5).
Goals (issue 5): parma starts >= 5x faster than QEMU microvm (ours/peer <= 0.2) and uses
<= 2 MiB of RSS beyond guest RAM. Usage: bench_start.py PARMA_VMM PAYLOAD SANITIZE (PARMA_VMM:
the parma-vmm binary, i.e. `parma boot` without the other tools linked in)
"""
import os, re, shutil, signal, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
import bench_harness  # noqa: E402

parma, payload, sanitize = sys.argv[1], sys.argv[2], sys.argv[3]
qemu = shutil.which("qemu-system-x86_64")
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    print("SKIP: needs read-write /dev/kvm"); sys.exit(77)
if not qemu:
    print("SKIP: needs qemu-system-x86_64 (Debian: qemu-system-x86) as the peer"); sys.exit(77)
if sanitize != "none":
    print(f"NOTE: this build uses sanitizers ({sanitize}); parma's numbers are inflated "
          "(scripts/bench.sh uses a release build)")

tmp = tempfile.mkdtemp(prefix="parma-bench-")
log = os.path.join(tmp, "debug.log")

def parma_cmd(cmdline, extra=()):
    return [parma, "--kernel", payload, "--mem", "64", "--serial", "none",
            "--debug-log", log, "--cmdline", cmdline, *extra]

def qemu_cmd(cmdline):
    return [qemu, "-M", "microvm,accel=kvm", "-cpu", "kvm64", "-m", "64", "-nodefaults",
            "-no-user-config", "-display", "none",
            "-object", "memory-backend-memfd,id=ram,size=64M", "-M", "memory-backend=ram",
            "-device", "isa-debug-exit,iobase=0xf4",
            "-chardev", f"file,id=dc,path={log}", "-device", "isa-debugcon,iobase=0xe9,chardev=dc",
            "-kernel", payload, "-append", cmdline]

boot_timer = []  # parma's own process start -> first guest instruction, per run

def one_run(cmd, want_rc):
    """(start -> first guest output, start -> process exit) of one run, in ms."""
    if os.path.exists(log):
        os.unlink(log)
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    first = None
    while p.poll() is None:
        try:
            if os.stat(log).st_size > 0:
                first = time.perf_counter() - t0
                break
        except FileNotFoundError:
            pass
        time.sleep(0.0001)
    err = p.communicate()[1]
    exited = time.perf_counter() - t0
    if first is None and os.path.exists(log) and os.stat(log).st_size > 0:
        first = exited
    if p.returncode != want_rc or first is None:
        print(f"FAIL: {cmd[0]} exited {p.returncode} (expected {want_rc}), output seen: {first is not None}: {err.strip()}")
        sys.exit(1)
    m = re.search(r"milestone 1 at (\d+) us", err)
    if m:
        boot_timer.append(int(m.group(1)) / 1e3)
    return first * 1e3, exited * 1e3

def rss_parked(cmd):
    """RssAnon + RssFile (MiB) of the VMM with the payload parked in its halt loop."""
    if os.path.exists(log):
        os.unlink(log)
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if os.path.exists(log) and "payload hang" in open(log, errors="replace").read():
                break
            time.sleep(0.02)
        else:
            print(f"FAIL: {cmd[0]}: payload never reached its halt loop"); sys.exit(1)
        time.sleep(0.1)
        fields = {}
        for line in open(f"/proc/{p.pid}/status"):
            k, _, v = line.partition(":")
            if k in ("RssAnon", "RssFile", "RssShmem", "VmHWM"):
                fields[k] = int(v.split()[0])
        return (fields["RssAnon"] + fields["RssFile"]) / 1024
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait()

parma_run = parma_cmd("bench", ["--boot-times"])
qemu_run = qemu_cmd("bench")  # isa-debug-exit: (0 << 1) | 1 = exit status 1
print(f"same payload ({os.path.basename(payload)}), 64 MiB guest")
try:
    bench_harness.compare("start -> first guest output", "ms", False,
                          ("qemu microvm", lambda: one_run(qemu_run, 1)[0]),
                          ("parma-vmm", lambda: one_run(parma_run, 0)[0]), runs=20)
    if boot_timer:
        print(f"  parma process start -> first guest instruction (its boot timer): median "
              f"{statistics.median(boot_timer):.2f} ms")
    bench_harness.compare("start -> process exit (incl. KVM teardown)", "ms", False,
                          ("qemu microvm", lambda: one_run(qemu_run, 1)[1]),
                          ("parma-vmm", lambda: one_run(parma_run, 0)[1]), runs=10)
    bench_harness.compare("RSS beyond guest RAM (RssAnon+RssFile), payload parked", "MiB",
                          False, ("qemu microvm", lambda: rss_parked(qemu_cmd("payload.hang"))),
                          ("parma-vmm", lambda: rss_parked(parma_cmd("payload.hang"))))
finally:
    shutil.rmtree(tmp, ignore_errors=True)
