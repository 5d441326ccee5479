#!/usr/bin/env python3
"""Start-up and memory of `parma boot` against QEMU microvm, booting the same test payload.

start: wall time from fork/exec until the process exits, for a payload that leaves through
       the debug-exit port as soon as it runs (`payload.exit=early`): process start -> first
       guest instruction, plus the teardown both VMMs do. parma's own boot timer also
       reports process start -> first guest instruction exactly.
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
    times, first = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        times.append(time.perf_counter() - t0)
        if p.returncode != want_rc:
            print(f"FAIL: {cmd[0]} exited {p.returncode}, expected {want_rc}: {p.stderr.strip()}")
            sys.exit(1)
        m = re.search(r"milestone 1 at (\d+) us", p.stderr)
        if m:
            first.append(int(m.group(1)) / 1e6)
    return statistics.median(times), (statistics.median(first) if first else None)

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

parma_wall, parma_first = time_runs(parma_cmd("payload.exit=early", ["--boot-times"]), 0)
qemu_wall, _ = time_runs(qemu_cmd("payload.exit=early"), 1)  # isa-debug-exit: (0 << 1) | 1
pr = rss_parked(parma_cmd("payload.hang"))
qr = rss_parked(qemu_cmd("payload.hang"))
shutil.rmtree(tmp, ignore_errors=True)

mib = lambda kb: kb / 1024
p_over, q_over = pr["RssAnon"] + pr["RssFile"], qr["RssAnon"] + qr["RssFile"]
print(f"runs: {runs} each, median wall time, same payload ({os.path.basename(payload)}), 64 MiB guest")
print(f"start to exit:   parma-vmm {parma_wall*1e3:7.2f} ms   qemu microvm {qemu_wall*1e3:7.2f} ms   "
      f"qemu/parma = {qemu_wall/parma_wall:.1f}x (goal >= 5x)")
if parma_first is not None:
    print(f"parma process start -> first guest instruction (boot timer): {parma_first*1e3:.2f} ms")
print(f"RSS beyond guest RAM (RssAnon+RssFile): parma {mib(p_over):6.2f} MiB "
      f"(anon {mib(pr['RssAnon']):.2f}, file {mib(pr['RssFile']):.2f})   "
      f"qemu {mib(q_over):6.2f} MiB (anon {mib(qr['RssAnon']):.2f}, file {mib(qr['RssFile']):.2f})   "
      f"qemu/parma = {q_over/p_over:.1f}x (goal: parma <= 2 MiB)")
print(f"guest RAM touched (RssShmem): parma {mib(pr['RssShmem']):.2f} MiB, qemu {mib(qr['RssShmem']):.2f} MiB")
