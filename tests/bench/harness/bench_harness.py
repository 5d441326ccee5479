"""bench_harness: the Python benchmarks' side of tests/bench/harness/bench_harness.h.

compare() runs the peer and ours alternately (peer, ours, peer, ours, ...), at least five
times each (PARMA_BENCH_REPS raises it), and prints min / median / max of both, the ratio of
the medians and the load average before and after, in the same format as the C harness. A
side's measure() returns a number, or raises Unavailable(reason) when it cannot run here."""
import os
import statistics

MIN_REPS = 5


class Unavailable(Exception):
    """This side cannot run on this machine; the message says what it needs."""


def reps(default=MIN_REPS):
    """PARMA_BENCH_REPS if set, else default; never fewer than MIN_REPS."""
    try:
        n = int(os.environ.get("PARMA_BENCH_REPS", default))
    except ValueError:
        n = default
    return min(max(n, MIN_REPS), 1000)


def seconds(default):
    try:
        v = float(os.environ.get("PARMA_BENCH_SECONDS", default))
    except ValueError:
        v = default
    return v if v > 0 else default


def _load():
    try:
        return "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "unknown"


def _side(role, name, values, unit, why):
    if not values:
        print("  %-4s %-44s not measured: %s" % (role, name, why))
        return None
    med = statistics.median(values)
    print("  %-4s %-44s min %-10.4g median %-10.4g max %-10.4g %s"
          % (role, name, min(values), med, max(values), unit))
    return med


def compare(what, unit, higher_is_better, peer, ours, runs=None):
    """peer and ours are (name, measure) pairs; runs is this comparison's default number of
    repetitions (PARMA_BENCH_REPS overrides it). Returns (peer median, our median), None for a
    side that was not measured."""
    n = reps(runs or MIN_REPS)
    better = "higher" if higher_is_better else "lower"
    before = _load()
    print("== %s (%s, %s is better): %d runs each, peer and ours interleaved"
          % (what, unit, better, n), flush=True)
    values = {"peer": [], "ours": []}
    why = {"peer": "", "ours": ""}
    for _ in range(n):
        for role, (name, measure) in (("peer", peer), ("ours", ours)):
            if why[role]:
                continue
            try:
                values[role].append(float(measure()))
            except Unavailable as e:
                why[role] = str(e) or "unavailable on this machine"
    after = _load()
    pmed = _side("peer", peer[0], values["peer"], unit, why["peer"])
    omed = _side("ours", ours[0], values["ours"], unit, why["ours"])
    if pmed and omed is not None:
        print("  ours/peer = %.2fx (medians; %s is better)" % (omed / pmed, better))
    else:
        print("  ours/peer: no ratio (a side was not measured)")
    print("  load average %s before, %s after" % (before, after), flush=True)
    return pmed, omed
