/* Verifications per second on one core with the certificates cached (one
 * store, many reports), against OpenSSL's own ECDSA P-384 verify rate
 * (`openssl speed ecdsap384`) measured in the same run: a report verification
 * is one SHA-384 + one P-384 verify + checks, so the peer is the ceiling.
 * Also compared: the uncached rate (a fresh store per report: PEM/DER parsing
 * and three RSA-4096 PSS verifications each time).
 * Rates are per second of CPU user time, like `openssl speed` (without
 * -elapsed) reports them, so other jobs on the machine do not skew the ratio.
 * Peer and ours alternate, 5 runs each (tests/bench/harness); PARMA_BENCH_SECONDS
 * (default 2) sets each run's duration. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "policy/attest/snp_verify.h"
#include "tests/bench/harness/bench_harness.h"

static uint8_t *read_vector(const char *root, const char *file, size_t *len)
{
	char path[2048];
	uint8_t *d = NULL;
	snprintf(path, sizeof(path), "%s/genoa-oak/%s", root, file);
	if (file_read_all(path, 1 << 20, &d, len, NULL) < 0) {
		/* the AMD-signed report vectors are not part of the repository */
		printf("SKIP: needs the SNP report vectors: %s is not readable (PARMA_SHARED_DIR)\n",
		       path);
		exit(77);
	}
	return d;
}

/* OpenSSL's verify/s for P-384, from one `openssl speed` run. */
static int openssl_p384_verify_rate(void *ctx, double *rate, char *why, size_t why_size)
{
	char cmd[128], line[512];
	(void)ctx;
	*rate = 0;
	snprintf(cmd, sizeof(cmd), "openssl speed -seconds %d ecdsap384 2>/dev/null",
		 bench_seconds(2) < 1 ? 1 : (int)(bench_seconds(2) + 0.5));
	FILE *p = popen(cmd, "r");
	if (!p)
		return snprintf(why, why_size, "cannot run openssl"), -ENOTSUP;
	while (fgets(line, sizeof(line), p)) {
		double sign_s, verify_s, sign_rate, verify_rate;
		const char *at = strstr(line, "(nistp384)");
		if (at && sscanf(at + strlen("(nistp384)"), "%lfs %lfs %lf %lf", &sign_s, &verify_s,
				 &sign_rate, &verify_rate) == 4)
			*rate = verify_rate;
	}
	pclose(p);
	if (*rate <= 0)
		return snprintf(why, why_size, "`openssl speed ecdsap384` printed no verify rate"),
		       -ENOTSUP;
	return 0;
}

struct vectors {
	uint8_t *report, *chain, *vcek;
	size_t rlen, clen, vlen;
	bool cached;
};

/* Verifications per CPU-second for bench_seconds(); cached: one store for every report. */
static int parma_verify_rate(void *ctx, double *rate, char *why, size_t why_size)
{
	struct vectors *v = ctx;
	struct snp_claims claims = { .check_vmpl = true, .check_measurement = false };
	struct snp_verdict verdict;
	struct snp_certs *store = NULL;
	double seconds = bench_seconds(2), t0 = bench_user_cpu(), t;
	long n = 0;
	if (v->cached) {
		store = snp_certs_new();
		snp_certs_add_buffer(store, v->chain, v->clen, "chain", NULL);
		snp_certs_add_buffer(store, v->vcek, v->vlen, "vcek", NULL);
	}
	do {
		struct snp_certs *c = store;
		if (!v->cached) {
			c = snp_certs_new();
			snp_certs_add_buffer(c, v->chain, v->clen, "chain", NULL);
			snp_certs_add_buffer(c, v->vcek, v->vlen, "vcek", NULL);
		}
		int ret = snp_verify_report(c, v->report, v->rlen, &claims, &verdict, NULL);
		if (!v->cached)
			snp_certs_free(c);
		if (ret != 0) {
			snp_certs_free(store);
			snprintf(why, why_size, "the Genoa vector stopped verifying");
			return -EINVAL;
		}
		n++;
		t = bench_user_cpu() - t0;
	} while (t < seconds);
	snp_certs_free(store);
	*rate = (double)n / t;
	return 0;
}

int main(void)
{
	const char *shared = getenv("PARMA_SHARED_DIR");
	char root[1024];
	if (!shared) {
		printf("SKIP: PARMA_SHARED_DIR is not set (needs the SNP report vectors)\n");
		return 77;
	}
	snprintf(root, sizeof(root), "%s/snp/vectors", shared);
	struct vectors v = { 0 };
	v.report = read_vector(root, "report.bin", &v.rlen);
	v.chain = read_vector(root, "ask_ark.pem", &v.clen);
	v.vcek = read_vector(root, "vcek.der", &v.vlen);
	struct snp_claims claims = { .check_vmpl = true, .check_measurement = false };
	struct snp_verdict verdict;
	struct errbuf eb = { 0 };
	struct snp_certs *c = snp_certs_new();
	snp_certs_add_buffer(c, v.chain, v.clen, "chain", NULL);
	snp_certs_add_buffer(c, v.vcek, v.vlen, "vcek", NULL);
	int ret = snp_verify_report(c, v.report, v.rlen, &claims, &verdict, &eb);
	snp_certs_free(c);
	if (ret != 0) {
		fprintf(stderr, "bench: the Genoa vector does not verify: %s\n", eb.msg);
		return 1;
	}

	printf("rates per CPU-second (user time), single thread; goal: cached >= 2000/s\n");
	struct vectors uncached = v;
	v.cached = true;
	struct bench_comparison cmp = {
		.what = "SNP report verification, certificates cached",
		.unit = "verifications/s",
		.higher_is_better = true,
		.peer = { "openssl speed ecdsap384 (verify)", openssl_p384_verify_rate, NULL },
		.ours = { "parma verify (one store)", parma_verify_rate, &v },
	};
	ret = bench_compare(&cmp);
	if (ret == 0) {
		cmp.what = "SNP report verification, fresh certificate store per report";
		cmp.ours = (struct bench_side){ "parma verify (fresh store)", parma_verify_rate,
						&uncached };
		ret = bench_compare(&cmp);
	}
	free(v.report);
	free(v.chain);
	free(v.vcek);
	return ret < 0 ? 1 : 0;
}
