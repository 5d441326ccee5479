/* bench_harness: how every benchmark compares Parma with its named peer.
 *
 * One comparison runs the peer and ours alternately (peer, ours, peer, ours, ...), at least
 * five times each (PARMA_BENCH_REPS raises it), so that a burst of load on a shared machine
 * hits both sides alike. It prints min / median / max of each side, the ratio of the medians
 * and the load average before and after, so a reader can tell noise from a result. A side
 * that cannot run here (tool missing) says why, and the other side is still measured.
 * tests/bench/harness/bench_harness.py prints the same for the Python benchmarks. */
#ifndef PARMA_TESTS_BENCH_HARNESS_H
#define PARMA_TESTS_BENCH_HARNESS_H

#include <stdbool.h>
#include <stddef.h>

#define BENCH_MIN_REPS 5

/* One measurement of one side into *value: 0, -ENOTSUP if this side cannot run here (with a
 * reason in why[0..why_size)), or another negative errno (the benchmark fails). */
typedef int (*bench_measure_fn)(void *ctx, double *value, char *why, size_t why_size);

struct bench_side {
	const char *name; /* what is measured: "openssl speed ecdsap384", "parma verify" */
	bench_measure_fn measure;
	void *ctx;
};

struct bench_comparison {
	const char *what; /* "report verification rate" */
	const char *unit; /* "verifications/s" */
	bool higher_is_better;
	struct bench_side peer, ours;
	int reps; /* default repetitions per side (PARMA_BENCH_REPS overrides; at least 5) */
	double peer_median, ours_median; /* filled in by bench_compare (0: not measured) */
};

/* Repetitions per side: PARMA_BENCH_REPS if set, else dflt; never fewer than BENCH_MIN_REPS. */
int bench_reps(int dflt);

/* Seconds each timed measurement should last: PARMA_BENCH_SECONDS (default `dflt`). */
double bench_seconds(double dflt);

/* Monotonic wall time and this process's user CPU time, in seconds. */
double bench_wall(void);
double bench_user_cpu(void);

/* Run and print one comparison. 0, or the first negative errno a side returned (a side
 * that returns -ENOTSUP is reported, not an error). */
int bench_compare(struct bench_comparison *c);

/* min / median / max of v[0..n) (sorts v). */
void bench_stats(double *v, size_t n, double *min, double *median, double *max);

#endif
