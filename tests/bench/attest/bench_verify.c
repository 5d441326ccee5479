/* Verifications per second on one core with the certificates cached (one
 * store, many reports), against OpenSSL's own ECDSA P-384 verify rate
 * (`openssl speed ecdsap384`) measured in the same run: a report verification
 * is one SHA-384 + one P-384 verify + checks, so the peer is the ceiling.
 * Also prints the uncached rate (a fresh store per report: PEM/DER parsing
 * and three RSA-4096 PSS verifications each time).
 * Rates are per second of CPU user time, like `openssl speed` (without
 * -elapsed) reports them, so other jobs on the machine do not skew the ratio.
 * PARMA_BENCH_SECONDS (default 3) sets each measurement's duration. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "common/fileio.h"
#include "policy/attest/snp_verify.h"

/* CPU user time of this process: `openssl speed` divides by user time too
 * (unless -elapsed), so the ratio holds on a machine shared with other jobs. */
static double now(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
}

static uint8_t *read_vector(const char *root, const char *file, size_t *len)
{
	char path[2048];
	uint8_t *d = NULL;
	snprintf(path, sizeof(path), "%s/genoa-oak/%s", root, file);
	if (file_read_all(path, 1 << 20, &d, len, NULL) < 0) {
		fprintf(stderr, "bench: cannot read %s\n", path);
		exit(1);
	}
	return d;
}

/* OpenSSL's verify/s for P-384, from `openssl speed`; 0 if unavailable. */
static double openssl_p384_verify_rate(int seconds)
{
	char cmd[128], line[512];
	double rate = 0;
	snprintf(cmd, sizeof(cmd), "openssl speed -seconds %d ecdsap384 2>/dev/null", seconds);
	FILE *p = popen(cmd, "r");
	if (!p)
		return 0;
	while (fgets(line, sizeof(line), p)) {
		double sign_s, verify_s, sign_rate, verify_rate;
		const char *at = strstr(line, "(nistp384)");
		if (at && sscanf(at + strlen("(nistp384)"), "%lfs %lfs %lf %lf", &sign_s, &verify_s,
				 &sign_rate, &verify_rate) == 4)
			rate = verify_rate;
	}
	pclose(p);
	return rate;
}

int main(void)
{
	const char *shared = getenv("PARMA_SHARED_DIR");
	const char *secs_env = getenv("PARMA_BENCH_SECONDS");
	int seconds = secs_env ? atoi(secs_env) : 3;
	char root[1024];
	if (seconds <= 0)
		seconds = 3;
	if (!shared) {
		printf("SKIP: PARMA_SHARED_DIR is not set (needs the SNP report vectors)\n");
		return 77;
	}
	snprintf(root, sizeof(root), "%s/snp/vectors", shared);
	size_t rlen, clen, vlen;
	uint8_t *report = read_vector(root, "report.bin", &rlen);
	uint8_t *chain = read_vector(root, "ask_ark.pem", &clen);
	uint8_t *vcek = read_vector(root, "vcek.der", &vlen);
	struct snp_claims claims = { .check_vmpl = true, .check_measurement = false };
	struct snp_verdict v;
	struct errbuf eb = { 0 };

	/* cached: one store */
	struct snp_certs *c = snp_certs_new();
	snp_certs_add_buffer(c, chain, clen, "chain", NULL);
	snp_certs_add_buffer(c, vcek, vlen, "vcek", NULL);
	if (snp_verify_report(c, report, rlen, &claims, &v, &eb) != 0) {
		fprintf(stderr, "bench: the Genoa vector does not verify: %s\n", eb.msg);
		return 1;
	}
	long n = 0;
	double t0 = now(), t;
	do {
		for (int i = 0; i < 50; i++)
			if (snp_verify_report(c, report, rlen, &claims, &v, NULL) != 0)
				return 1;
		n += 50;
		t = now() - t0;
	} while (t < seconds);
	double cached = (double)n / t;
	snp_certs_free(c);

	/* uncached: parse certificates and verify the chain every time */
	n = 0;
	t0 = now();
	do {
		struct snp_certs *fresh = snp_certs_new();
		snp_certs_add_buffer(fresh, chain, clen, "chain", NULL);
		snp_certs_add_buffer(fresh, vcek, vlen, "vcek", NULL);
		if (snp_verify_report(fresh, report, rlen, &claims, &v, NULL) != 0)
			return 1;
		snp_certs_free(fresh);
		n++;
		t = now() - t0;
	} while (t < seconds);
	double uncached = (double)n / t;

	double peer = openssl_p384_verify_rate(seconds);
	printf("rates per CPU-second (user time), single thread\n");
	printf("parma verify (certificates cached, 1 core): %.0f verifications/s (goal >= 2000)\n",
	       cached);
	printf("parma verify (fresh store per report):      %.0f verifications/s\n", uncached);
	if (peer > 0) {
		printf("peer: openssl speed ecdsap384 verify:        %.0f verifications/s\n", peer);
		printf("parma/peer = %.2fx (cached)\n", cached / peer);
	} else {
		printf("peer: `openssl speed ecdsap384` unavailable; no ratio\n");
	}
	free(report);
	free(chain);
	free(vcek);
	return 0;
}
