#!/usr/bin/env python3
"""Start-up and memory of `parma boot` against QEMU microvm, booting the same test payload.

start: process start (fork/exec) -> first guest output: the payload's first line on the
       debugcon port 0xe9, written a few instructions after entry, seen by polling the log
       file both VMMs write it to. Also reported: start -> process exit (includes KVM's VM
       teardown, ~20 ms on this nested host, paid by both), and parma's own boot timer
       (process start -> first guest instruction, exact).
rss:   with the payload parked in a halt loop (`payload.hang`), RssAnon + RssFile of the VMM
       process from /proc (guest RAM is a memfd in both VMMs, so it is RssShmem and excluded).
Goals (issue 5): parma starts >= 5x faster than QEMU microvm and uses <= 2 MiB of RSS
beyond guest RAM. Usage: bench_start.py PARMA_VMM PAYLOAD SANITIZE (PARMA_VMM: the parma-vmm binary, i.e. `parma boot`
without the other tools linked in)  (PARMA_BENCH_RUNS: runs, default 20)
"""
import os, re, shutil, signal, statistics, subprocess, sys, tempfile, time

parma, payload, sanitize = sys.argv[1], sys.argv[2], sys.argv[3]
runs = int(os.environ.get("PARMA_BENCH_RUNS", "20"))
qemu = shutil.which("qemu-system-x86_64")
if not os.access("/dev/kvm", os.R_OK | os.W_OK):
    print("SKIP: needs read-write /dev/kvm"); sys.exit(77)
if not qemu:
    print("SKIP: needs qemu-system-x86_64 (Debian: qemu-system-x86) as the peer"); sys.exit(77)
if sanitize != "none":
    print(f"NOTE: this build uses sanitizers ({sanitize}); parma's numbers are inflated. "
          "For real numbers: meson setup build-rel --buildtype=release && meson test -C build-rel --suite bench")

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

def time_runs(cmd, want_rc):
    outs, exits, timer = [], [], []
    for _ in range(runs):
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
        exits.append(time.perf_counter() - t0)
        if first is None and os.path.exists(log) and os.stat(log).st_size > 0:
            first = exits[-1]
        if p.returncode != want_rc or first is None:
            print(f"FAIL: {cmd[0]} exited {p.returncode} (expected {want_rc}), output seen: {first is not None}: {err.strip()}")
            sys.exit(1)
        outs.append(first)
        m = re.search(r"milestone 1 at (\d+) us", err)
        if m:
            timer.append(int(m.group(1)) / 1e6)
    med = statistics.median
    return med(outs), med(exits), (med(timer) if timer else None)

def rss_parked(cmd):
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
        return fields
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait()

parma_out, parma_exit, parma_timer = time_runs(parma_cmd("bench", ["--boot-times"]), 0)
qemu_out, qemu_exit, _ = time_runs(qemu_cmd("bench"), 1)  # isa-debug-exit: (0 << 1) | 1
pr = rss_parked(parma_cmd("payload.hang"))
qr = rss_parked(qemu_cmd("payload.hang"))
shutil.rmtree(tmp, ignore_errors=True)

mib = lambda kb: kb / 1024
p_over, q_over = pr["RssAnon"] + pr["RssFile"], qr["RssAnon"] + qr["RssFile"]
print(f"runs: {runs} each, median wall time, same payload ({os.path.basename(payload)}), 64 MiB guest")
print(f"start -> first guest output: parma-vmm {parma_out*1e3:7.2f} ms   qemu microvm {qemu_out*1e3:7.2f} ms   "
      f"qemu/parma = {qemu_out/parma_out:.1f}x (goal >= 5x)")
print(f"start -> process exit:      parma-vmm {parma_exit*1e3:7.2f} ms   qemu microvm {qemu_exit*1e3:7.2f} ms   "
      f"qemu/parma = {qemu_exit/parma_exit:.1f}x")
if parma_timer is not None:
    print(f"parma process start -> first guest instruction (its boot timer): {parma_timer*1e3:.2f} ms")
print(f"RSS beyond guest RAM (RssAnon+RssFile): parma {mib(p_over):6.2f} MiB "
      f"(anon {mib(pr['RssAnon']):.2f}, file {mib(pr['RssFile']):.2f})   "
      f"qemu {mib(q_over):6.2f} MiB (anon {mib(qr['RssAnon']):.2f}, file {mib(qr['RssFile']):.2f})   "
      f"qemu/parma = {q_over/p_over:.1f}x (goal: parma <= 2 MiB)")
print(f"guest RAM touched (RssShmem): parma {mib(pr['RssShmem']):.2f} MiB, qemu {mib(qr['RssShmem']):.2f} MiB")
