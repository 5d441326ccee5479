/* Key releases per second with cached certificates: GET /resource in an attested
 * session (the release policy evaluated through the SNP verifier, whose chain
 * results are cached, then the JWE), against OpenSSL doing the same cryptography
 * directly in the same run (one ECDSA P-384 verify of the report's signed bytes,
 * one RSA-2048 OAEP-256 key wrap, one AES-256-GCM of the secret): the peer is the
 * floor our parsing, policy, store and JSON sit on.
 * Five interleaved rounds per side, each PARMA_BENCH_SECONDS/5 of CPU time
 * (default 5 s in all); min/median/max, the ratio of medians and the load average. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "common/encoding.h"
#include "policy/attest/snp_dev.h"
#include "vmm/kbs/kbs_broker.h"
#include "vmm/kbs/kbs_jwe.h"
#include "vmm/kbs/kbs_store.h"

#define ROUNDS 5

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_kbs: %s\n", what);
	exit(1);
}

static char *b64url_param(EVP_PKEY *k, const char *name)
{
	BIGNUM *bn = NULL;
	uint8_t buf[1024];
	if (EVP_PKEY_get_bn_param(k, name, &bn) != 1)
		die("key parameter");
	int n = BN_bn2bin(bn, buf);
	BN_free(bn);
	return kbs_b64url_encode(buf, (size_t)n);
}

static struct kbs_broker *b;
static char cookie[64];
static const char secret[] = "0123456789abcdef0123456789abcdef"; /* a 256-bit key */

/* auth + attest with a dev-signed report bound to `k`. */
static void attested_session(struct snp_dev_ca *ca, EVP_PKEY *k)
{
	struct kbs_response r;
	const char *req = "{\"version\":\"0.1.0\",\"tee\":\"snp\"}";
	kbs_broker_handle(b, "POST", "/kbs/v0/auth", NULL, (const uint8_t *)req, strlen(req), &r);
	if (r.status != 200 || sscanf(r.set_cookie, "kbs-session-id=%63[0-9a-f]", cookie) != 1)
		die("auth");
	struct json_object *o = json_tokener_parse(r.body);
	char nonce[128], jwk[2048], canon[2300], rep_b64[2 * SNP_REPORT_SIZE], *body;
	snprintf(nonce, sizeof(nonce), "%s",
		 json_object_get_string(json_object_object_get(o, "nonce")));
	json_object_put(o);
	kbs_response_clear(&r);
	char *n = b64url_param(k, OSSL_PKEY_PARAM_RSA_N),
	     *e = b64url_param(k, OSSL_PKEY_PARAM_RSA_E);
	snprintf(jwk, sizeof(jwk),
		 "{\"alg\":\"RSA-OAEP-256\",\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", e, n);
	free(n);
	free(e);
	snprintf(canon, sizeof(canon), "{\"nonce\":\"%s\",\"tee-pubkey\":%s}", nonce, jwk);
	struct snp_report rep;
	uint8_t raw[SNP_REPORT_SIZE];
	unsigned dl = 0;
	snp_dev_report_init(ca, &rep);
	memset(rep.host_data, 0xaa, sizeof(rep.host_data));
	EVP_Digest(canon, strlen(canon), rep.report_data, &dl, EVP_sha384(), NULL);
	if (snp_dev_sign_report(ca, &rep, raw, NULL))
		die("sign");
	base64_encode(raw, SNP_REPORT_SIZE, rep_b64);
	if (asprintf(&body,
		     "{\"runtime_data\":%s,\"tee_evidence\":{\"primary_evidence\":"
		     "{\"attestation_report\":\"%s\"}}}",
		     canon, rep_b64) < 0)
		die("oom");
	kbs_broker_handle(b, "POST", "/kbs/v0/attest", cookie, (const uint8_t *)body, strlen(body),
			  &r);
	if (r.status != 200)
		die(r.body ? r.body : "attest");
	kbs_response_clear(&r);
	free(body);
}

static double rate_parma(double seconds)
{
	double t0 = cpu_now(), t;
	unsigned long n = 0;
	do {
		struct kbs_response r;
		kbs_broker_handle(b, "GET", "/kbs/v0/resource/bench/key/k1", cookie, NULL, 0, &r);
		if (r.status != 200)
			die(r.body ? r.body : "release");
		kbs_response_clear(&r);
		n++;
	} while ((t = cpu_now() - t0) < seconds);
	return (double)n / t;
}

/* The same cryptography straight through OpenSSL. */
static double rate_openssl(EVP_PKEY *sign_key, const uint8_t *sig, size_t sig_len,
			   const uint8_t *signed_bytes, EVP_PKEY *tee, double seconds)
{
	double t0 = cpu_now(), t;
	unsigned long n = 0;
	do {
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		if (EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL, sign_key) != 1 ||
		    EVP_DigestVerify(md, sig, sig_len, signed_bytes, SNP_REPORT_SIGNED_SIZE) != 1)
			die("verify");
		EVP_MD_CTX_free(md);
		uint8_t cek[32], iv[12], wrapped[512], ct[64], tag[16];
		size_t wl = sizeof(wrapped);
		int l = 0;
		RAND_bytes(cek, 32);
		RAND_bytes(iv, 12);
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(tee, NULL);
		EVP_PKEY_encrypt_init(c);
		EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING);
		EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256());
		EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256());
		if (EVP_PKEY_encrypt(c, wrapped, &wl, cek, 32) != 1)
			die("wrap");
		EVP_PKEY_CTX_free(c);
		EVP_CIPHER_CTX *g = EVP_CIPHER_CTX_new();
		EVP_EncryptInit_ex(g, EVP_aes_256_gcm(), NULL, cek, iv);
		EVP_EncryptUpdate(g, ct, &l, (const uint8_t *)secret, (int)strlen(secret));
		EVP_EncryptFinal_ex(g, ct + l, &l);
		EVP_CIPHER_CTX_ctrl(g, EVP_CTRL_GCM_GET_TAG, 16, tag);
		EVP_CIPHER_CTX_free(g);
		n++;
	} while ((t = cpu_now() - t0) < seconds);
	return (double)n / t;
}

static int cmp(const void *a, const void *b2)
{
	double x = *(const double *)a, y = *(const double *)b2;
	return (x > y) - (x < y);
}

int main(void)
{
	char root[] = "/tmp/parma-bench-kbs-XXXXXX", store[128], ca_dir[128], pol[256], cmd[200];
	struct snp_dev_ca *ca;
	struct snp_dev_ca_options o = {.rsa_bits = 2048};
	double total = getenv("PARMA_BENCH_SECONDS") ? atof(getenv("PARMA_BENCH_SECONDS")) : 5;
	if (!mkdtemp(root))
		die("mkdtemp");
	snprintf(store, sizeof(store), "%s/store", root);
	snprintf(ca_dir, sizeof(ca_dir), "%s/ca", root);
	mkdir(store, 0700);
	if (snp_dev_ca_open(ca_dir, true, &o, &ca, NULL))
		die("dev CA");
	struct kbs_store s;
	struct kbs_resource_id id;
	snprintf(pol, sizeof(pol), "{\"host_data\": [\"%064d\", \"%s\"], \"allow_dev\": true}", 0,
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	if (kbs_store_open(&s, store, false, NULL) ||
	    kbs_resource_id_parse("bench/key/k1", &id, NULL) ||
	    kbs_store_put(&s, &id, (const uint8_t *)secret, strlen(secret), pol, strlen(pol), NULL))
		die("store");
	struct kbs_broker_config bc = {.store_dir = store, .certs_dir = ca_dir};
	if (kbs_broker_new(&bc, &b, NULL))
		die("broker");
	EVP_PKEY *tee = EVP_RSA_gen(2048), *p384 = EVP_EC_gen("P-384");
	attested_session(ca, tee);
	uint8_t signed_bytes[SNP_REPORT_SIGNED_SIZE], sig[128];
	size_t sig_len = sizeof(sig);
	RAND_bytes(signed_bytes, sizeof(signed_bytes));
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, p384) != 1 ||
	    EVP_DigestSign(md, sig, &sig_len, signed_bytes, sizeof(signed_bytes)) != 1)
		die("peer sign");
	EVP_MD_CTX_free(md);

	double rp[ROUNDS], ro[ROUNDS], each = total / (2 * ROUNDS);
	for (int i = 0; i < ROUNDS; i++) {
		rp[i] = rate_parma(each);
		ro[i] = rate_openssl(p384, sig, sig_len, signed_bytes, tee, each);
	}
	qsort(rp, ROUNDS, sizeof(double), cmp);
	qsort(ro, ROUNDS, sizeof(double), cmp);
	char load[64] = "?";
	FILE *f = fopen("/proc/loadavg", "r");
	if (f) {
		if (!fgets(load, sizeof(load), f))
			snprintf(load, sizeof(load), "?");
		fclose(f);
		load[strcspn(load, "\n")] = 0;
	}
	printf("kbs releases/s (cached certificates, CPU time, %d interleaved rounds):\n", ROUNDS);
	printf("  parma kbs  min %.0f  median %.0f  max %.0f\n", rp[0], rp[ROUNDS / 2],
	       rp[ROUNDS - 1]);
	printf("  openssl    min %.0f  median %.0f  max %.0f   (P-384 verify + RSA-OAEP-256 wrap + "
	       "AES-256-GCM)\n",
	       ro[0], ro[ROUNDS / 2], ro[ROUNDS - 1]);
	printf("  parma/openssl = %.2fx (medians)   load average: %s\n",
	       rp[ROUNDS / 2] / ro[ROUNDS / 2], load);
	kbs_broker_free(b);
	snp_dev_ca_free(ca);
	EVP_PKEY_free(tee);
	EVP_PKEY_free(p384);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : 1;
}
