/* bench_harness: interleaved repetitions, min / median / max, ratio of medians, load. */
#include "bench_harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define BENCH_MAX_REPS 1000

int bench_reps(int dflt)
{
	const char *s = getenv("PARMA_BENCH_REPS");
	int n = s ? atoi(s) : dflt;
	if (n < BENCH_MIN_REPS)
		n = BENCH_MIN_REPS;
	return n > BENCH_MAX_REPS ? BENCH_MAX_REPS : n;
}

double bench_seconds(double dflt)
{
	const char *s = getenv("PARMA_BENCH_SECONDS");
	double v = s ? strtod(s, NULL) : dflt;
	return v > 0 ? v : dflt;
}

double bench_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double bench_user_cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

void bench_stats(double *v, size_t n, double *min, double *median, double *max)
{
	qsort(v, n, sizeof(v[0]), cmp_double);
	*min = v[0];
	*max = v[n - 1];
	*median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void load_average(char *out, size_t size)
{
	double l[3];
	if (getloadavg(l, 3) == 3)
		snprintf(out, size, "%.2f %.2f %.2f", l[0], l[1], l[2]);
	else
		snprintf(out, size, "unknown");
}

static void print_side(const char *role, const struct bench_side *s, double *v, size_t n,
		       const char *unit, const char *why, double *median)
{
	if (n == 0) {
		printf("  %-4s %-44s not measured: %s\n", role, s->name, why);
		return;
	}
	double min, max;
	bench_stats(v, n, &min, median, &max);
	printf("  %-4s %-44s min %-10.4g median %-10.4g max %-10.4g %s\n", role, s->name, min,
	       *median, max, unit);
}

int bench_compare(struct bench_comparison *c)
{
	int reps = bench_reps(c->reps), ret = 0;
	double *pv = calloc((size_t)reps, sizeof(double)), *ov = calloc((size_t)reps, sizeof(double));
	size_t np = 0, no = 0;
	bool peer_ok = true, ours_ok = true;
	char why_peer[256] = "", why_ours[256] = "", load_before[64], load_after[64];
	if (!pv || !ov) {
		free(pv);
		free(ov);
		return -ENOMEM;
	}
	load_average(load_before, sizeof(load_before));
	printf("== %s (%s, %s is better): %d runs each, peer and ours interleaved\n", c->what,
	       c->unit, c->higher_is_better ? "higher" : "lower", reps);
	fflush(stdout);
	for (int i = 0; i < reps && ret == 0; i++) {
		const struct bench_side *sides[2] = { &c->peer, &c->ours };
		for (int s = 0; s < 2 && ret == 0; s++) {
			bool *ok = s ? &ours_ok : &peer_ok;
			char *why = s ? why_ours : why_peer;
			if (!*ok)
				continue;
			double value = 0;
			int r = sides[s]->measure(sides[s]->ctx, &value, why, 256);
			if (r == -ENOTSUP) {
				*ok = false;
				if (!why[0])
					snprintf(why, 256, "unavailable on this machine");
			} else if (r < 0) {
				fprintf(stderr, "bench: %s: %s: %s\n", c->what, sides[s]->name,
					why[0] ? why : strerror(-r));
				ret = r;
			} else if (s) {
				ov[no++] = value;
			} else {
				pv[np++] = value;
			}
		}
	}
	load_average(load_after, sizeof(load_after));
	double pmed = 0, omed = 0;
	print_side("peer", &c->peer, pv, np, c->unit, why_peer, &pmed);
	print_side("ours", &c->ours, ov, no, c->unit, why_ours, &omed);
	c->peer_median = pmed;
	c->ours_median = omed;
	if (np && no && pmed > 0 && ret == 0)
		printf("  ours/peer = %.2fx (medians; %s is better)\n", omed / pmed,
		       c->higher_is_better ? "higher" : "lower");
	else
		printf("  ours/peer: no ratio (a side was not measured)\n");
	printf("  load average %s before, %s after\n", load_before, load_after);
	fflush(stdout);
	free(pv);
	free(ov);
	return ret;
}
