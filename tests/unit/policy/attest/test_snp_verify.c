/* The verifier: every real AMD-signed report verifies with its certificates;
 * tampered reports, wrong or forged certificates, mismatched VCEKs, stale
 * times, debug policies and development chains are rejected with the
 * precise check that failed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "common/encoding.h"
#include "policy/attest/snp_dev.h"
#include "policy/attest/snp_verify.h"
#include "vectors.h"

static char tmp_root[256];

/* ---- helpers ---- */

static struct snp_certs *certs_for(const char *set)
{
	struct snp_certs *c = snp_certs_new();
	static const char *const files[] = { "ask_ark.pem", "vcek.der", "vcek.pem" };
	assert_non_null(c);
	for (size_t i = 0; i < 3; i++) {
		size_t len;
		uint8_t *d = vector_read(set, files[i], &len);
		if (!d)
			continue;
		assert_true(snp_certs_add_buffer(c, d, len, files[i], NULL) > 0);
		free(d);
	}
	assert_int_equal(snp_certs_count(c), 3);
	return c;
}

static uint8_t *report_for(const char *set)
{
	size_t len;
	uint8_t *b = vector_read(set, "report.bin", &len);
	assert_non_null(b);
	assert_int_equal(len, SNP_REPORT_SIZE);
	return b;
}

static const struct snp_check *find_check(const struct snp_verdict *v, const char *name)
{
	for (size_t i = 0; i < v->n_checks; i++)
		if (strcmp(v->checks[i].name, name) == 0)
			return &v->checks[i];
	return NULL;
}

/* Assert that the verdict failed, first at `claim`, with `needle` in the detail. */
static void expect_rejected(const struct snp_verdict *v, const char *claim, const char *needle)
{
	assert_false(v->verified);
	assert_non_null(v->first_failure);
	if (strcmp(v->first_failure->name, claim) != 0 ||
	    (needle && !strstr(v->first_failure->detail, needle)))
		fail_msg("expected %s (\"%s\"), got %s: %s", claim, needle ? needle : "",
			 v->first_failure->name, v->first_failure->detail);
}

static void assert_check_held(const struct snp_verdict *v, const char *claim, bool held)
{
	const struct snp_check *c = find_check(v, claim);
	if (!c)
		fail_msg("no check %s in the verdict", claim);
	if (c->held != held)
		fail_msg("check %s: expected held=%d, got %d (%s)", claim, held, c->held, c->detail);
}

static time_t at(const char *s)
{
	time_t t;
	assert_int_equal(snp_parse_rfc3339(s, &t, NULL), 0);
	return t;
}

/* A certificate with the given names and key, RSASSA-PSS-SHA384-signed by
 * sign_key — the shape of an AMD CA certificate, forged. */
static X509 *forge_cert(const X509_NAME *subject, const X509_NAME *issuer, EVP_PKEY *key,
			EVP_PKEY *sign_key)
{
	X509 *x = X509_new();
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
	assert_int_equal(X509_set_subject_name(x, subject), 1);
	assert_int_equal(X509_set_issuer_name(x, issuer), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -86400L * 365 * 10);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365 * 20);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	assert_int_equal(EVP_DigestSignInit(mctx, &pctx, EVP_sha384(), NULL, sign_key), 1);
	EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
	EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 48);
	EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha384());
	assert_true(X509_sign_ctx(x, mctx) > 0);
	EVP_MD_CTX_free(mctx);
	return x;
}

static void add_x509(struct snp_certs *c, X509 *x)
{
	unsigned char *der = NULL;
	int len = i2d_X509(x, &der);
	assert_true(len > 0);
	assert_true(snp_certs_add_buffer(c, der, (size_t)len, "forged", NULL) > 0);
	OPENSSL_free(der);
}

/* The ARK and ASK of a vector set's chain file. */
static void load_chain(const char *set, X509 **ask, X509 **ark)
{
	size_t len;
	uint8_t *d = vector_read(set, "ask_ark.pem", &len);
	BIO *b = BIO_new_mem_buf(d, (int)len);
	*ask = PEM_read_bio_X509(b, NULL, NULL, NULL);
	*ark = PEM_read_bio_X509(b, NULL, NULL, NULL);
	assert_non_null(*ask);
	assert_non_null(*ark);
	BIO_free(b);
	free(d);
}

static void add_vector_file(struct snp_certs *c, const char *set, const char *file)
{
	size_t len;
	uint8_t *d = vector_read(set, file, &len);
	assert_non_null(d);
	assert_true(snp_certs_add_buffer(c, d, len, file, NULL) > 0);
	free(d);
}

/* ---- real reports ---- */

static void verify_real_reports_accepted(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_VECTOR_SETS; i++) {
		struct snp_certs *c = certs_for(vector_sets[i]);
		uint8_t *b = report_for(vector_sets[i]);
		struct snp_verdict v;
		struct snp_claims cl = { 0 };
		struct errbuf eb = { 0 };
		/* go-sev-guest's report allows debugging: only with allow_debug */
		cl.allow_debug = strcmp(vector_sets[i], "milan-go-sev-guest") == 0;
		int ret = snp_verify_report(c, b, SNP_REPORT_SIZE, &cl, &v, &eb);
		if (ret != 0)
			fail_msg("%s: %s", vector_sets[i], eb.msg);
		assert_true(v.verified);
		assert_false(v.dev_chain);
		assert_check_held(&v, "report_signature", true);
		assert_check_held(&v, "chip_id_matches_vcek", true);
		assert_check_held(&v, "tcb_matches_endorsement_key", true);
		assert_int_equal(v.product, strstr(vector_sets[i], "genoa") ? SNP_PRODUCT_GENOA
									     : SNP_PRODUCT_MILAN);
		free(b);
		snp_certs_free(c);
	}
}

static void verify_debug_policy_rejected(void **state)
{
	(void)state;
	struct snp_certs *c = certs_for("milan-go-sev-guest");
	uint8_t *b = report_for("milan-go-sev-guest");
	struct snp_verdict v;
	struct snp_claims cl = { 0 };
	assert_int_equal(snp_verify_report(c, b, SNP_REPORT_SIZE, &cl, &v, NULL), -EACCES);
	expect_rejected(&v, "debug_disabled", "allows debugging");
	assert_check_held(&v, "report_signature", true);
	free(b);
	snp_certs_free(c);
}

/* Every single-bit flip in the signed area (672 x 8) is rejected: either the
 * parser refuses a reserved field or the signature no longer verifies. */
static void verify_every_bit_flip_rejected(void **state)
{
	(void)state;
	static const char *const sets[] = { "genoa-oak", "milan-virtee-sev" };
	for (size_t s = 0; s < 2; s++) {
		struct snp_certs *c = certs_for(sets[s]);
		uint8_t *b = report_for(sets[s]);
		struct snp_claims cl = { 0 };
		struct snp_verdict v;
		size_t parse_rejects = 0, sig_rejects = 0;
		for (size_t bit = 0; bit < SNP_REPORT_SIGNED_SIZE * 8; bit++) {
			b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			int ret = snp_verify_report(c, b, SNP_REPORT_SIZE, &cl, &v, NULL);
			b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			if (ret == 0 || v.verified)
				fail_msg("%s: flipping bit %zu of byte 0x%03zx verified", sets[s],
					 bit % 8, bit / 8);
			if (!v.report_parsed) {
				parse_rejects++;
				continue;
			}
			const struct snp_check *sig = find_check(&v, "report_signature");
			if (!sig || sig->held)
				fail_msg("%s: bit %zu of 0x%03zx: signature still verifies", sets[s],
					 bit % 8, bit / 8);
			sig_rejects++;
		}
		assert_int_equal(parse_rejects + sig_rejects, SNP_REPORT_SIGNED_SIZE * 8);
		assert_true(parse_rejects > 0 && sig_rejects > 0);
		/* unflipped, it still verifies (the loop restored every bit) */
		assert_int_equal(snp_verify_report(c, b, SNP_REPORT_SIZE, &cl, &v, NULL), 0);
		free(b);
		snp_certs_free(c);
	}
}

static void verify_signature_bytes_matter(void **state)
{
	(void)state;
	struct snp_certs *c = certs_for("aci-milan-ccf");
	uint8_t *b = report_for("aci-milan-ccf");
	struct snp_verdict v;
	b[0x2a0] ^= 1; /* R */
	assert_int_equal(snp_verify_report(c, b, SNP_REPORT_SIZE, NULL, &v, NULL), -EACCES);
	expect_rejected(&v, "report_signature", "does not verify");
	b[0x2a0] ^= 1;
	b[0x2e8 + 60] = 1; /* S beyond its 48 bytes */
	assert_int_equal(snp_verify_report(c, b, SNP_REPORT_SIZE, NULL, &v, NULL), -EACCES);
	expect_rejected(&v, "report_signature", "beyond the 48");
	free(b);
	snp_certs_free(c);
}

static void verify_truncated_report_rejected(void **state)
{
	(void)state;
	struct snp_certs *c = certs_for("genoa-oak");
	uint8_t *b = report_for("genoa-oak");
	struct snp_verdict v;
	struct errbuf eb = { 0 };
	assert_int_equal(snp_verify_report(c, b, 1000, NULL, &v, &eb), -EINVAL);
	assert_false(v.report_parsed);
	expect_rejected(&v, "report_format", "1000 bytes, expected 1184");
	free(b);
	snp_certs_free(c);
}

/* ---- wrong certificates ---- */

static void verify_swapped_vcek_rejected(void **state)
{
	(void)state;
	/* milan-virtee-sev's report with milan-trustee's VCEK (same ASK and ARK) */
	struct snp_certs *c = snp_certs_new();
	add_vector_file(c, "milan-virtee-sev", "ask_ark.pem");
	add_vector_file(c, "milan-trustee", "vcek.der");
	uint8_t *b = report_for("milan-virtee-sev");
	struct snp_verdict v;
	assert_int_equal(snp_verify_report(c, b, SNP_REPORT_SIZE, NULL, &v, NULL), -EACCES);
	expect_rejected(&v, "chip_id_matches_vcek", "differs from the VCEK hwID");
	assert_check_held(&v, "endorsement_chain", true);
	assert_check_held(&v, "report_signature", false);
	/* with both VCEKs present the right one is chosen */
	add_vector_file(c, "milan-virtee-sev", "vcek.der");
	assert_int_equal(snp_verify_report(c, b, SNP_REPORT_SIZE, NULL, &v, NULL), 0);
	free(b);
	snp_certs_free(c);
}

static void verify_wrong_product_chain_rejected(void **state)
{
	(void)state;
	/* a Milan report and VCEK with the Genoa ASK/ARK */
	struct snp_certs *c = snp_certs_new();
	add_vector_file(c, "genoa-oak", "ask_ark.pem");
	add_vector_file(c, "milan-virtee-sev", "vcek.der");
	uint8_t *b = report_for("milan-virtee-sev");
	struct snp_verdict v;
	assert_int_equal(snp_verify_report(c, b, SNP_REPORT_SIZE, NULL, &v, NULL), -EACCES);
	expect_rejected(&v, "endorsement_chain", "no ASK \"SEV-Milan\"");
	free(b);
	snp_certs_free(c);

	/* the right chain, but the caller requires Genoa */
	c = certs_for("milan-virtee-sev");
	b = report_for("milan-virtee-sev");
	struct snp_claims cl = { .product = SNP_PRODUCT_GENOA };
	assert_int_equal(snp_verify_report(c, b, SNP_REPORT_SIZE, &cl, &v, NULL), -EACCES);
	expect_rejected(&v, "product", "Genoa was required");
	free(b);
	snp_certs_free(c);
}

static void verify_forged_ark_rejected(void **state)
{
	(void)state;
	/* A self-signed root with AMD's exact name but another key. */
	X509 *ask, *ark;
	load_chain("milan-virtee-sev", &ask, &ark);
	EVP_PKEY *k = EVP_RSA_gen(2048);
	assert_non_null(k);
	X509 *fake_ark = forge_cert(X509_get_subject_name(ark), X509_get_subject_name(ark), k, k);
	struct snp_certs *c = snp_certs_new();
	add_x509(c, fake_ark);
	add_x509(c, ask);
	add_vector_file(c, "milan-virtee-sev", "vcek.der");
	uint8_t *b = report_for("milan-virtee-sev");
	struct snp_verdict v;
	assert_int_equal(snp_verify_report(c, b, SNP_REPORT_SIZE, NULL, &v, NULL), -EACCES);
	expect_rejected(&v, "endorsement_chain", "is not one of AMD's root keys");
	/* the genuine root next to the forged one is found */
	add_x509(c, ark);
	assert_int_equal(snp_verify_report(c, b, SNP_REPORT_SIZE, NULL, &v, NULL), 0);
	free(b);
	snp_certs_free(c);
	X509_free(fake_ark);
	X509_free(ask);
	X509_free(ark);
	EVP_PKEY_free(k);
}

static void verify_ask_not_signed_by_ark_rejected(void **state)
{
	(void)state;
	/* An ASK with AMD's names and key, but signed by some other key. */
	X509 *ask, *ark;
	load_chain("milan-virtee-sev", &ask, &ark);
	EVP_PKEY *other = EVP_RSA_gen(2048);
	assert_non_null(other);
	X509 *fake_ask = forge_cert(X509_get_subject_name(ask), X509_get_issuer_name(ask),
				    X509_get0_pubkey(ask), other);
	struct snp_certs *c = snp_certs_new();
	add_x509(c, ark);
	add_x509(c, fake_ask);
	add_vector_file(c, "milan-virtee-sev", "vcek.der");
	uint8_t *b = report_for("milan-virtee-sev");
	struct snp_verdict v;
	assert_int_equal(snp_verify_report(c, b, SNP_REPORT_SIZE, NULL, &v, NULL), -EACCES);
	expect_rejected(&v, "endorsement_chain",
			"ASK \"SEV-Milan\" is not signed by ARK \"ARK-Milan\"");
	free(b);
	snp_certs_free(c);
	X509_free(fake_ask);
	X509_free(ask);
	X509_free(ark);
	EVP_PKEY_free(other);
}

static void verify_tampered_vcek_rejected(void **state)
{
	(void)state;
	size_t len;
	uint8_t *vcek = vector_read("genoa-oak", "vcek.der", &len);
	struct snp_certs *c = snp_certs_new();
	add_vector_file(c, "genoa-oak", "ask_ark.pem");
	vcek[len - 1] ^= 1; /* last byte of the ASK's signature over the VCEK */
	assert_int_equal(snp_certs_add_buffer(c, vcek, len, "vcek.der", NULL), 1);
	uint8_t *b = report_for("genoa-oak");
	struct snp_verdict v;
	assert_int_equal(snp_verify_report(c, b, SNP_REPORT_SIZE, NULL, &v, NULL), -EACCES);
	expect_rejected(&v, "endorsement_chain", "VCEK \"SEV-VCEK\" is not signed by ASK \"SEV-Genoa\"");
	free(b);
	free(vcek);
	snp_certs_free(c);
}

static void verify_missing_certs_rejected(void **state)
{
	(void)state;
	uint8_t *b = report_for("genoa-oak");
	struct snp_verdict v;
	struct snp_certs *c = snp_certs_new();
	add_vector_file(c, "genoa-oak", "ask_ark.pem");
	assert_int_equal(snp_verify_report(c, b, SNP_REPORT_SIZE, NULL, &v, NULL), -EACCES);
	expect_rejected(&v, "endorsement_chain", "no VCEK among the certificates");
	snp_certs_free(c);
	c = snp_certs_new();
	add_vector_file(c, "genoa-oak", "vcek.der");
	assert_int_equal(snp_verify_report(c, b, SNP_REPORT_SIZE, NULL, &v, NULL), -EACCES);
	expect_rejected(&v, "endorsement_chain", "no ASK \"SEV-Genoa\"");
	snp_certs_free(c);
	free(b);
}

/* ---- time ---- */

static void verify_at_time(void **state)
{
	(void)state;
	struct snp_certs *c = certs_for("genoa-oak"); /* VCEK 2025-08-07 .. 2032-08-07 */
	uint8_t *b = report_for("genoa-oak");
	struct snp_verdict v;
	struct snp_claims cl = { .have_time = true };
	cl.time = at("2030-01-01T00:00:00Z");
	assert_int_equal(snp_verify_report(c, b, SNP_REPORT_SIZE, &cl, &v, NULL), 0);
	cl.time = at("2025-08-07T17:21:40Z"); /* one second before notBefore */
	assert_int_equal(snp_verify_report(c, b, SNP_REPORT_SIZE, &cl, &v, NULL), -EACCES);
	expect_rejected(&v, "certificates_valid", "VCEK \"SEV-VCEK\" is not valid at 2025-08-07T17:21:40Z");
	cl.time = at("2025-08-07T19:21:41+02:00"); /* exactly notBefore */
	assert_int_equal(snp_verify_report(c, b, SNP_REPORT_SIZE, &cl, &v, NULL), 0);
	cl.time = at("2032-08-07T17:21:42Z");
	assert_int_equal(snp_verify_report(c, b, SNP_REPORT_SIZE, &cl, &v, NULL), -EACCES);
	expect_rejected(&v, "certificates_valid", "valid 2025-08-07T17:21:41Z to 2032-08-07T17:21:41Z");
	free(b);
	snp_certs_free(c);
}

static void verify_rfc3339_parser(void **state)
{
	(void)state;
	time_t t;
	assert_int_equal(at("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(at("1970-01-01T01:00:00+01:00"), 0);
	assert_int_equal(at("1969-12-31T23:00:00.123456-01:00"), 0);
	assert_int_equal(at("2024-02-29t12:00:00z"), 1709208000);
	static const char *const bad[] = {
		"", "2024-02-30T00:00:00Z", "2023-02-29T00:00:00Z", "2024-01-01", "2024-01-01T00:00:00",
		"2024-01-01T24:00:00Z", "2024-1-01T00:00:00Z", "2024-01-01T00:00:00Zjunk",
		"2024-01-01T00:00:00.Z", "2024-01-01T00:00:00+0100", "yesterday",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct errbuf eb = { 0 };
		if (snp_parse_rfc3339(bad[i], &t, &eb) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(strstr(eb.msg, "RFC 3339"));
	}
}

/* ---- claims ---- */

static void verify_claims(void **state)
{
	(void)state;
	struct snp_certs *c = certs_for("aci-genoa-ccf");
	uint8_t *b = report_for("aci-genoa-ccf");
	struct snp_verdict v;
	struct snp_claims cl = { 0 };
	static const char meas[] = "5feee30d6d7e1a29f403d70a4198237ddfb13051a2d6976439487c609388ed7f"
				   "98189887920ab2fa0096903a0c23fca1";
	static const char host[] = "4f4448c67f3c8dfc8de8a5e37125d807dadcc41f06cf23f615dbd52eec777d10";
	cl.check_measurement = cl.check_host_data = cl.check_report_data = cl.check_vmpl = true;
	assert_int_equal(hex_decode(meas, cl.measurement, 48), 0);
	assert_int_equal(hex_decode(host, cl.host_data, 32), 0);
	assert_int_equal(snp_claims_set_min_tcb(&cl, "bl=10,tee=0,snp=23,ucode=84", NULL), 0);
	assert_int_equal(snp_verify_report(c, b, SNP_REPORT_SIZE, &cl, &v, NULL), 0);
	assert_check_held(&v, "measurement", true);
	assert_check_held(&v, "host_data", true);
	assert_check_held(&v, "report_data", true);
	assert_check_held(&v, "vmpl", true);
	assert_check_held(&v, "min_tcb", true);

	cl.measurement[47] ^= 1;
	assert_int_equal(snp_verify_report(c, b, SNP_REPORT_SIZE, &cl, &v, NULL), -EACCES);
	expect_rejected(&v, "measurement", "expected 5feee30d");
	cl.measurement[47] ^= 1;
	cl.host_data[0] ^= 1;
	cl.host_data_source = "policy.json";
	assert_int_equal(snp_verify_report(c, b, SNP_REPORT_SIZE, &cl, &v, NULL), -EACCES);
	expect_rejected(&v, "host_data", "HOST_DATA (SHA-256 of policy.json): expected 4e4448");
	cl.host_data[0] ^= 1;
	cl.report_data[63] = 1;
	assert_int_equal(snp_verify_report(c, b, SNP_REPORT_SIZE, &cl, &v, NULL), -EACCES);
	expect_rejected(&v, "report_data", "REPORT_DATA: expected");
	cl.report_data[63] = 0;
	cl.vmpl = 1;
	assert_int_equal(snp_verify_report(c, b, SNP_REPORT_SIZE, &cl, &v, NULL), -EACCES);
	expect_rejected(&v, "vmpl", "expected 1, got 0");
	cl.vmpl = 0;
	assert_int_equal(snp_claims_set_min_tcb(&cl, "snp=24", NULL), 0);
	assert_int_equal(snp_verify_report(c, b, SNP_REPORT_SIZE, &cl, &v, NULL), -EACCES);
	expect_rejected(&v, "min_tcb", "is below the minimum bl=0 tee=0 snp=24 ucode=0");
	/* raw TCB_VERSION bytes in report order: 0a 00 00 00 00 00 17 54 */
	assert_int_equal(snp_claims_set_min_tcb(&cl, "0a00000000001754", NULL), 0);
	assert_int_equal(snp_verify_report(c, b, SNP_REPORT_SIZE, &cl, &v, NULL), 0);
	assert_int_equal(snp_claims_set_min_tcb(&cl, "0a00000000001755", NULL), 0);
	assert_int_equal(snp_verify_report(c, b, SNP_REPORT_SIZE, &cl, &v, NULL), -EACCES);
	expect_rejected(&v, "min_tcb", "ucode=85");

	static const char *const bad_tcb[] = { "", "bl=", "bl=256", "bl=1,", "x=1", "bl=1;tee=2",
					       "0a0000000000175", "bl=-1" };
	for (size_t i = 0; i < sizeof(bad_tcb) / sizeof(bad_tcb[0]); i++)
		if (snp_claims_set_min_tcb(&cl, bad_tcb[i], NULL) != -EINVAL)
			fail_msg("accepted min TCB \"%s\"", bad_tcb[i]);
	free(b);
	snp_certs_free(c);
}

/* ---- certificate directories ---- */

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(file_write_atomic(path, data, len, 0644, NULL), 0);
}

static void verify_cert_dir_any_format(void **state)
{
	(void)state;
	char dir[300];
	size_t len;
	snprintf(dir, sizeof(dir), "%s/certs", tmp_root);
	assert_int_equal(mkdir_p(dir, 0755), 0);
	/* the PEM bundle under an odd name, the VCEK as DER, a report and a
	 * text file as noise, the same bundle twice */
	uint8_t *d = vector_read("milan-trustee", "ask_ark.pem", &len);
	write_file(dir, "cert_chain", d, len);
	write_file(dir, "chain-copy.txt", d, len);
	free(d);
	d = vector_read("milan-trustee", "vcek.der", &len);
	write_file(dir, "0.crt", d, len);
	free(d);
	d = vector_read("milan-trustee", "report.bin", &len);
	write_file(dir, "report.bin", d, len);
	write_file(dir, "README", "not a certificate\n", 18);

	struct snp_certs *c = snp_certs_new();
	struct errbuf eb = { 0 };
	assert_int_equal(snp_certs_add_dir(c, dir, &eb), 3);
	assert_int_equal(snp_certs_count(c), 3);
	bool seen_ark = false, seen_ask = false, seen_vcek = false;
	for (size_t i = 0; i < 3; i++) {
		const char *desc = snp_certs_describe(c, i);
		seen_ark |= strncmp(desc, "ARK Milan", 9) == 0;
		seen_ask |= strncmp(desc, "ASK Milan", 9) == 0;
		seen_vcek |= strncmp(desc, "VCEK Milan-B0", 13) == 0 && strstr(desc, "c38427a3");
	}
	assert_true(seen_ark && seen_ask && seen_vcek);
	struct snp_verdict v;
	assert_int_equal(snp_verify_report(c, d, len, NULL, &v, NULL), 0);
	snp_certs_free(c);
	free(d);

	/* ASVK chains are identified too */
	c = snp_certs_new();
	d = vector_read("amd-roots", "asvk_ark_turin.pem", &len);
	assert_int_equal(snp_certs_add_buffer(c, d, len, "asvk", NULL), 2);
	assert_non_null(strstr(snp_certs_describe(c, 0), "ASVK Turin \"SEV-VLEK-Turin\""));
	assert_non_null(strstr(snp_certs_describe(c, 1), "ARK Turin"));
	free(d);
	snp_certs_free(c);

	/* a malformed PEM certificate is an error naming the file */
	static const char broken[] = "-----BEGIN CERTIFICATE-----\nMIIBroken\n-----END CERTIFICATE-----\n";
	write_file(dir, "broken.pem", broken, sizeof(broken) - 1);
	c = snp_certs_new();
	assert_int_equal(snp_certs_add_dir(c, dir, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "broken.pem: PEM certificate #1 is malformed"));
	snp_certs_free(c);

	/* an empty directory has no certificates */
	snprintf(dir, sizeof(dir), "%s/empty", tmp_root);
	assert_int_equal(mkdir_p(dir, 0755), 0);
	c = snp_certs_new();
	assert_int_equal(snp_certs_add_dir(c, dir, &eb), -ENOENT);
	snp_certs_free(c);
}

/* The certificate table of an extended report (GHCB layout) as one buffer. */
static void verify_cert_table(void **state)
{
	(void)state;
	X509 *ask, *ark;
	size_t vlen;
	load_chain("genoa-oak", &ask, &ark);
	uint8_t *vcek = vector_read("genoa-oak", "vcek.der", &vlen);
	unsigned char *ask_der = NULL, *ark_der = NULL;
	int ask_len = i2d_X509(ask, &ask_der), ark_len = i2d_X509(ark, &ark_der);
	const uint8_t *blobs[] = { vcek, ask_der, ark_der };
	size_t lens[] = { vlen, (size_t)ask_len, (size_t)ark_len };
	size_t hdr = 4 * 24, total = hdr + lens[0] + lens[1] + lens[2];
	uint8_t *table = calloc(1, total);
	size_t off = hdr;
	for (int i = 0; i < 3; i++) {
		uint8_t *e = table + i * 24;
		memset(e, 0xa0 + i, 16); /* GUIDs: ignored, content decides */
		for (int k = 0; k < 4; k++) {
			e[16 + k] = (uint8_t)(off >> (8 * k));
			e[20 + k] = (uint8_t)(lens[i] >> (8 * k));
		}
		memcpy(table + off, blobs[i], lens[i]);
		off += lens[i];
	}
	struct snp_certs *c = snp_certs_new();
	struct errbuf eb = { 0 };
	assert_int_equal(snp_certs_add_buffer(c, table, total, "auxblob", &eb), 3);
	uint8_t *b = report_for("genoa-oak");
	struct snp_verdict v;
	assert_int_equal(snp_verify_report(c, b, SNP_REPORT_SIZE, NULL, &v, NULL), 0);
	snp_certs_free(c);

	/* an entry pointing outside the buffer: not a table at all */
	table[20 + 2] = 0x7f;
	c = snp_certs_new();
	assert_int_equal(snp_certs_add_buffer(c, table, total, "auxblob", &eb), 0);
	snp_certs_free(c);
	/* an entry that is not a certificate */
	table[20 + 2] = 0;
	table[hdr] ^= 0xff;
	c = snp_certs_new();
	assert_int_equal(snp_certs_add_buffer(c, table, total, "auxblob", &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "auxblob: certificate table entry 0 is not one DER certificate"));
	snp_certs_free(c);

	free(b);
	free(table);
	free(vcek);
	OPENSSL_free(ask_der);
	OPENSSL_free(ark_der);
	X509_free(ask);
	X509_free(ark);
}

/* ---- development chain ---- */

static struct snp_dev_ca *dev_ca;
static struct snp_certs *dev_certs;

static void dev_setup(void)
{
	char dir[300];
	struct errbuf eb = { 0 };
	struct snp_dev_ca_options o = { .rsa_bits = 2048 };
	snprintf(dir, sizeof(dir), "%s/devca", tmp_root);
	if (snp_dev_ca_open(dir, true, &o, &dev_ca, &eb) != 0)
		fail_msg("dev CA: %s", eb.msg);
	dev_certs = snp_certs_new();
	assert_int_equal(snp_certs_add_dir(dev_certs, dir, &eb), 3);
	/* loading it again gives the same chip id */
	struct snp_dev_ca *again;
	assert_int_equal(snp_dev_ca_open(dir, false, NULL, &again, NULL), 0);
	assert_memory_equal(snp_dev_ca_chip_id(again), snp_dev_ca_chip_id(dev_ca), 64);
	snp_dev_ca_free(again);
}

static void verify_dev_report_needs_allow_dev(void **state)
{
	(void)state;
	uint8_t raw[SNP_REPORT_SIZE], meas[48], host[32], rdata[64];
	struct snp_verdict v;
	struct snp_claims cl = { 0 };
	memset(meas, 0x11, sizeof(meas));
	memset(host, 0x22, sizeof(host));
	memset(rdata, 0x33, sizeof(rdata));
	assert_int_equal(snp_dev_make_report(dev_ca, meas, host, rdata, raw, NULL), 0);

	assert_int_equal(snp_verify_report(dev_certs, raw, sizeof(raw), &cl, &v, NULL), -EACCES);
	expect_rejected(&v, "production_root", "DEVELOPMENT chain");
	assert_true(v.dev_chain);
	assert_check_held(&v, "report_signature", true);

	cl.allow_dev = true;
	cl.check_measurement = cl.check_host_data = cl.check_report_data = true;
	memcpy(cl.measurement, meas, 48);
	memcpy(cl.host_data, host, 32);
	memcpy(cl.report_data, rdata, 64);
	assert_int_equal(snp_verify_report(dev_certs, raw, sizeof(raw), &cl, &v, NULL), 0);
	assert_true(v.dev_chain);
	assert_int_equal(v.product, SNP_PRODUCT_DEV);
	struct json_object *j = snp_verdict_to_json(&v);
	assert_true(json_object_get_boolean(json_object_object_get(j, "dev_chain")));
	assert_non_null(strstr(json_object_get_string(json_object_object_get(j, "warning")),
			       "DEVELOPMENT"));
	json_object_put(j);

	/* a dev report never verifies against AMD's chains */
	struct snp_certs *amd = certs_for("genoa-oak");
	assert_int_equal(snp_verify_report(amd, raw, sizeof(raw), &cl, &v, NULL), -EACCES);
	assert_false(v.dev_chain);
	assert_check_held(&v, "chip_id_matches_vcek", false);
	assert_check_held(&v, "report_signature", false);
	snp_certs_free(amd);
}

static void verify_vcek_tcb_mismatch_rejected(void **state)
{
	(void)state;
	struct snp_report r;
	uint8_t raw[SNP_REPORT_SIZE];
	struct snp_verdict v;
	struct snp_claims cl = { .allow_dev = true };
	snp_dev_report_init(dev_ca, &r);
	struct snp_tcb t;
	assert_int_equal(snp_tcb_decode(r.reported_tcb, SNP_PRODUCT_DEV, &t), 0);
	t.snp++;
	r.reported_tcb = snp_tcb_encode(&t, SNP_PRODUCT_DEV);
	assert_int_equal(snp_dev_sign_report(dev_ca, &r, raw, NULL), 0);
	assert_int_equal(snp_verify_report(dev_certs, raw, sizeof(raw), &cl, &v, NULL), -EACCES);
	expect_rejected(&v, "tcb_matches_endorsement_key",
			"REPORTED_TCB (bl=1 tee=1 snp=2 ucode=1) differs from the VCEK's TCB "
			"(bl=1 tee=1 snp=1 ucode=1)");
	assert_check_held(&v, "report_signature", true);
	/* a reserved TCB byte set */
	snp_dev_report_init(dev_ca, &r);
	r.reported_tcb |= 1ull << 24;
	assert_int_equal(snp_dev_sign_report(dev_ca, &r, raw, NULL), 0);
	assert_int_equal(snp_verify_report(dev_certs, raw, sizeof(raw), &cl, &v, NULL), -EACCES);
	expect_rejected(&v, "tcb_matches_endorsement_key", "non-zero reserved byte");
}

static void verify_vcek_hwid_mismatch_rejected(void **state)
{
	(void)state;
	struct snp_report r;
	uint8_t raw[SNP_REPORT_SIZE];
	struct snp_verdict v;
	struct snp_claims cl = { .allow_dev = true };
	snp_dev_report_init(dev_ca, &r);
	r.chip_id[63] ^= 0x40;
	assert_int_equal(snp_dev_sign_report(dev_ca, &r, raw, NULL), 0);
	assert_int_equal(snp_verify_report(dev_certs, raw, sizeof(raw), &cl, &v, NULL), -EACCES);
	expect_rejected(&v, "chip_id_matches_vcek", "differs from the VCEK hwID");
	assert_check_held(&v, "report_signature", true);
	/* masked chip id */
	snp_dev_report_init(dev_ca, &r);
	r.signer_info |= SNP_SIGNER_MASK_CHIP_KEY;
	memset(r.chip_id, 0, sizeof(r.chip_id));
	assert_int_equal(snp_dev_sign_report(dev_ca, &r, raw, NULL), 0);
	assert_int_equal(snp_verify_report(dev_certs, raw, sizeof(raw), &cl, &v, NULL), -EACCES);
	expect_rejected(&v, "chip_id_matches_vcek", "masked");
}

static void verify_dev_debug_and_unsigned(void **state)
{
	(void)state;
	struct snp_report r;
	uint8_t raw[SNP_REPORT_SIZE];
	struct snp_verdict v;
	struct snp_claims cl = { .allow_dev = true };
	snp_dev_report_init(dev_ca, &r);
	r.policy |= SNP_POLICY_DEBUG;
	assert_int_equal(snp_dev_sign_report(dev_ca, &r, raw, NULL), 0);
	assert_int_equal(snp_verify_report(dev_certs, raw, sizeof(raw), &cl, &v, NULL), -EACCES);
	expect_rejected(&v, "debug_disabled", NULL);
	cl.allow_debug = true;
	assert_int_equal(snp_verify_report(dev_certs, raw, sizeof(raw), &cl, &v, NULL), 0);

	snp_dev_report_init(dev_ca, &r);
	r.signer_info = SNP_SIGNING_KEY_NONE << SNP_SIGNER_SIGNING_KEY_SHIFT;
	assert_int_equal(snp_dev_sign_report(dev_ca, &r, raw, NULL), 0);
	assert_int_equal(snp_verify_report(dev_certs, raw, sizeof(raw), &cl, &v, NULL), -EACCES);
	expect_rejected(&v, "endorsement_chain", "not signed");

	/* a VLEK-signed report needs a VLEK */
	snp_dev_report_init(dev_ca, &r);
	r.signer_info = SNP_SIGNING_KEY_VLEK << SNP_SIGNER_SIGNING_KEY_SHIFT;
	assert_int_equal(snp_dev_sign_report(dev_ca, &r, raw, NULL), 0);
	assert_int_equal(snp_verify_report(dev_certs, raw, sizeof(raw), &cl, &v, NULL), -EACCES);
	expect_rejected(&v, "endorsement_chain", "no VLEK among the certificates");
}

/* A CRL issued under `issuer`'s name, signed by `key`, revoking `revoked` (or nothing). */
static X509_CRL *make_crl(X509 *issuer, EVP_PKEY *key, X509 *revoked)
{
	X509_CRL *crl = X509_CRL_new();
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	ASN1_TIME *t = ASN1_TIME_set(NULL, time(NULL) - 3600);
	assert_non_null(crl);
	assert_int_equal(X509_CRL_set_version(crl, X509_CRL_VERSION_2), 1);
	assert_int_equal(X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)), 1);
	assert_int_equal(X509_CRL_set1_lastUpdate(crl, t), 1);
	if (revoked) {
		X509_REVOKED *r = X509_REVOKED_new();
		assert_int_equal(X509_REVOKED_set_serialNumber(
					 r, (ASN1_INTEGER *)X509_get0_serialNumber(revoked)), 1);
		assert_int_equal(X509_REVOKED_set_revocationDate(r, t), 1);
		assert_int_equal(X509_CRL_add0_revoked(crl, r), 1);
	}
	assert_int_equal(EVP_DigestSignInit(mctx, &pctx, EVP_sha384(), NULL, key), 1);
	EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
	EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 48);
	EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha384());
	assert_true(X509_CRL_sign_ctx(crl, mctx) > 0);
	EVP_MD_CTX_free(mctx);
	ASN1_TIME_free(t);
	return crl;
}

static void *read_pem(const char *file, bool key)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/devca/%s", tmp_root, file);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	void *o = key ? (void *)PEM_read_PrivateKey(f, NULL, NULL, NULL)
		      : (void *)PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(o);
	return o;
}

/* A certificate store of the dev chain plus one CRL (as a DER file would bring it). */
static struct snp_certs *dev_certs_with_crl(X509_CRL *crl)
{
	char dir[300];
	unsigned char *der = NULL;
	struct snp_certs *c = snp_certs_new();
	snprintf(dir, sizeof(dir), "%s/devca", tmp_root);
	assert_int_equal(snp_certs_add_dir(c, dir, NULL), 3);
	int len = i2d_X509_CRL(crl, &der);
	assert_true(len > 0);
	assert_int_equal(snp_certs_add_buffer(c, der, (size_t)len, "crl.der", NULL), 1);
	OPENSSL_free(der);
	assert_int_equal(snp_certs_crl_count(c), 1);
	return c;
}

static void verify_revocation_lists(void **state)
{
	(void)state;
	uint8_t raw[SNP_REPORT_SIZE];
	struct snp_verdict v;
	struct snp_claims cl = { .allow_dev = true };
	X509 *ark = read_pem("ark.pem", false), *ask = read_pem("ask.pem", false);
	EVP_PKEY *ark_key = read_pem("private/ark.key", true);
	EVP_PKEY *other = EVP_RSA_gen(2048);
	assert_int_equal(snp_dev_make_report(dev_ca, NULL, NULL, NULL, raw, NULL), 0);

	/* no CRL: nothing to say, unless one is required */
	assert_int_equal(snp_verify_report(dev_certs, raw, sizeof(raw), &cl, &v, NULL), 0);
	assert_null(find_check(&v, "not_revoked"));
	cl.require_crl = true;
	assert_int_equal(snp_verify_report(dev_certs, raw, sizeof(raw), &cl, &v, NULL), -EACCES);
	expect_rejected(&v, "not_revoked", "no revocation list");

	/* an ARK CRL that does not list the ASK */
	X509_CRL *crl = make_crl(ark, ark_key, NULL);
	struct snp_certs *c = dev_certs_with_crl(crl);
	assert_int_equal(snp_verify_report(c, raw, sizeof(raw), &cl, &v, NULL), 0);
	assert_check_held(&v, "not_revoked", true);
	snp_certs_free(c);
	X509_CRL_free(crl);

	/* the ASK revoked */
	crl = make_crl(ark, ark_key, ask);
	c = dev_certs_with_crl(crl);
	assert_int_equal(snp_verify_report(c, raw, sizeof(raw), &cl, &v, NULL), -EACCES);
	expect_rejected(&v, "endorsement_chain",
			"ASK \"SEV-Parma-Dev\" is revoked by the CRL of ARK \"ARK-Parma-Dev\"");
	snp_certs_free(c);
	X509_CRL_free(crl);

	/* a CRL in the ARK's name but signed by someone else */
	crl = make_crl(ark, other, NULL);
	c = dev_certs_with_crl(crl);
	assert_int_equal(snp_verify_report(c, raw, sizeof(raw), &cl, &v, NULL), -EACCES);
	expect_rejected(&v, "endorsement_chain", "is not signed by it");
	snp_certs_free(c);
	X509_CRL_free(crl);

	/* PEM CRLs are read from bundles too */
	crl = make_crl(ark, ark_key, NULL);
	BIO *b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(b, ark);
	PEM_write_bio_X509_CRL(b, crl);
	PEM_write_bio_X509(b, ask);
	char *pem;
	long pem_len = BIO_get_mem_data(b, &pem);
	c = snp_certs_new();
	assert_int_equal(snp_certs_add_buffer(c, (uint8_t *)pem, (size_t)pem_len, "b.pem", NULL), 3);
	assert_int_equal(snp_certs_count(c), 2);
	assert_int_equal(snp_certs_crl_count(c), 1);
	snp_certs_free(c);
	BIO_free(b);
	X509_CRL_free(crl);

	X509_free(ark);
	X509_free(ask);
	EVP_PKEY_free(ark_key);
	EVP_PKEY_free(other);
}

/* An ASK with the right key and a valid ARK signature but no CA:TRUE. */
static void verify_non_ca_ask_rejected(void **state)
{
	(void)state;
	X509 *ark = read_pem("ark.pem", false), *ask = read_pem("ask.pem", false);
	X509 *vcek = read_pem("vcek.pem", false);
	EVP_PKEY *ark_key = read_pem("private/ark.key", true);
	X509 *plain = forge_cert(X509_get_subject_name(ask), X509_get_issuer_name(ask),
				 X509_get0_pubkey(ask), ark_key);
	struct snp_certs *c = snp_certs_new();
	add_x509(c, ark);
	add_x509(c, plain);
	add_x509(c, vcek);
	uint8_t raw[SNP_REPORT_SIZE];
	struct snp_verdict v;
	struct snp_claims cl = { .allow_dev = true };
	assert_int_equal(snp_dev_make_report(dev_ca, NULL, NULL, NULL, raw, NULL), 0);
	assert_int_equal(snp_verify_report(c, raw, sizeof(raw), &cl, &v, NULL), -EACCES);
	expect_rejected(&v, "endorsement_chain", "ASK \"SEV-Parma-Dev\" is not a CA certificate");
	snp_certs_free(c);
	X509_free(plain);
	X509_free(ark);
	X509_free(ask);
	X509_free(vcek);
	EVP_PKEY_free(ark_key);
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(tmp_root, sizeof(tmp_root), "/tmp/parma-attest-test-XXXXXX");
	if (!mkdtemp(tmp_root))
		return -1;
	dev_setup();
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	char cmd[400];
	snp_dev_ca_free(dev_ca);
	snp_certs_free(dev_certs);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_root);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	int skip = vectors_locate();
	if (skip)
		return skip;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(verify_real_reports_accepted),
		cmocka_unit_test(verify_debug_policy_rejected),
		cmocka_unit_test(verify_every_bit_flip_rejected),
		cmocka_unit_test(verify_signature_bytes_matter),
		cmocka_unit_test(verify_truncated_report_rejected),
		cmocka_unit_test(verify_swapped_vcek_rejected),
		cmocka_unit_test(verify_wrong_product_chain_rejected),
		cmocka_unit_test(verify_forged_ark_rejected),
		cmocka_unit_test(verify_ask_not_signed_by_ark_rejected),
		cmocka_unit_test(verify_tampered_vcek_rejected),
		cmocka_unit_test(verify_missing_certs_rejected),
		cmocka_unit_test(verify_at_time),
		cmocka_unit_test(verify_rfc3339_parser),
		cmocka_unit_test(verify_claims),
		cmocka_unit_test(verify_cert_dir_any_format),
		cmocka_unit_test(verify_cert_table),
		cmocka_unit_test(verify_dev_report_needs_allow_dev),
		cmocka_unit_test(verify_vcek_tcb_mismatch_rejected),
		cmocka_unit_test(verify_vcek_hwid_mismatch_rejected),
		cmocka_unit_test(verify_dev_debug_and_unsigned),
		cmocka_unit_test(verify_revocation_lists),
		cmocka_unit_test(verify_non_ca_ask_rejected),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
