/* The key broker: protocol messages, the REPORT_DATA binding (nonce reuse,
 * wrong key, expired session), each release-policy claim refusing on its own,
 * the JWE decrypting to the secret, the store, and no secret in any log. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "common/encoding.h"
#include "policy/attest/snp_dev.h"
#include "vmm/kbs/kbs_broker.h"
#include "vmm/kbs/kbs_jwe.h"
#include "vmm/kbs/kbs_policy.h"
#include "vmm/kbs/kbs_protocol.h"
#include "vmm/kbs/kbs_store.h"

static char tmp_root[256], store_dir[300], ca_dir[300];
static struct snp_dev_ca *ca;
static EVP_PKEY *tee_key, *other_key;
static char log_buf[1 << 16];
static size_t log_len;
static time_t fake_now = 1800000000;

static const char secret[] = "s3cr3t-db-password-7f2a";
static const uint8_t host_data[32] = {0xaa, 1, 2, 3};
static const uint8_t measurement[48] = {0xbb, 4, 5, 6};

static void capture_log(void *ctx, const char *line)
{
	(void)ctx;
	int n = snprintf(log_buf + log_len, sizeof(log_buf) - log_len, "%s\n", line);
	if (n > 0 && log_len + (size_t)n < sizeof(log_buf))
		log_len += (size_t)n;
}

static time_t clock_now(void *ctx)
{
	(void)ctx;
	return fake_now;
}

static char *b64url_bn(EVP_PKEY *k, const char *name)
{
	BIGNUM *bn = NULL;
	assert_int_equal(EVP_PKEY_get_bn_param(k, name, &bn), 1);
	uint8_t buf[1024];
	int n = BN_bn2bin(bn, buf);
	BN_free(bn);
	return kbs_b64url_encode(buf, (size_t)n);
}

/* {"kty":"RSA","alg":alg,"n":..,"e":..} and its RFC 8785 form (members sorted). */
static struct json_object *jwk_of(EVP_PKEY *k, const char *alg, char *canon, size_t canon_size)
{
	char *n = b64url_bn(k, OSSL_PKEY_PARAM_RSA_N), *e = b64url_bn(k, OSSL_PKEY_PARAM_RSA_E);
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "kty", json_object_new_string("RSA"));
	json_object_object_add(o, "alg", json_object_new_string(alg));
	json_object_object_add(o, "n", json_object_new_string(n));
	json_object_object_add(o, "e", json_object_new_string(e));
	if (canon)
		snprintf(canon, canon_size,
			 "{\"alg\":\"%s\",\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", alg, e, n);
	free(n);
	free(e);
	return o;
}

struct report_opts {
	uint64_t policy_bits; /* OR'ed into POLICY */
	uint64_t tcb;	      /* 0 = the CA's */
	const uint8_t *host_data, *measurement;
};

/* A signed report whose REPORT_DATA = SHA-384 of the canonical runtime data
 * {"nonce": nonce, "tee-pubkey": jwk(bound_key)}, computed here by hand. */
static void make_report(const char *nonce, EVP_PKEY *bound_key, const struct report_opts *o,
			uint8_t out[SNP_REPORT_SIZE])
{
	char jwk[2048], canon[2300];
	struct snp_report r;
	json_object_put(jwk_of(bound_key, "RSA-OAEP-256", jwk, sizeof(jwk)));
	snprintf(canon, sizeof(canon), "{\"nonce\":\"%s\",\"tee-pubkey\":%s}", nonce, jwk);
	snp_dev_report_init(ca, &r);
	r.policy |= o ? o->policy_bits : 0;
	if (o && o->tcb)
		r.reported_tcb = r.current_tcb = r.committed_tcb = r.launch_tcb = o->tcb;
	memcpy(r.host_data, o && o->host_data ? o->host_data : host_data, 32);
	memcpy(r.measurement, o && o->measurement ? o->measurement : measurement, 48);
	unsigned n = 0;
	memset(r.report_data, 0, 64);
	assert_int_equal(EVP_Digest(canon, strlen(canon), r.report_data, &n, EVP_sha384(), NULL),
			 1);
	assert_int_equal(snp_dev_sign_report(ca, &r, out, NULL), 0);
}

static char *attestation_body(const char *nonce, EVP_PKEY *key, const uint8_t *report,
			      bool old_form)
{
	char b64[2 * SNP_REPORT_SIZE];
	base64_encode(report, SNP_REPORT_SIZE, b64);
	struct json_object *o = json_object_new_object(), *ev = json_object_new_object();
	json_object_object_add(ev, "attestation_report", json_object_new_string(b64));
	if (old_form) {
		json_object_object_add(o, "tee-pubkey", jwk_of(key, "RSA-OAEP-256", NULL, 0));
		/* old clients send the evidence as JSON text */
		json_object_object_add(o, "tee-evidence",
				       json_object_new_string(json_object_to_json_string(ev)));
		json_object_put(ev);
	} else {
		struct json_object *rd = json_object_new_object(), *te = json_object_new_object();
		json_object_object_add(rd, "nonce", json_object_new_string(nonce));
		json_object_object_add(rd, "tee-pubkey", jwk_of(key, "RSA-OAEP-256", NULL, 0));
		json_object_object_add(te, "primary_evidence", ev);
		json_object_object_add(o, "runtime_data", rd);
		json_object_object_add(o, "tee_evidence", te);
	}
	char *s = strdup(json_object_to_json_string(o));
	json_object_put(o);
	return s;
}

static struct kbs_broker *broker(void)
{
	struct kbs_broker_config c = {.store_dir = store_dir,
				      .certs_dir = ca_dir,
				      .session_ttl = 60,
				      .log = capture_log,
				      .now = clock_now};
	struct kbs_broker *b;
	struct errbuf eb = {0};
	if (kbs_broker_new(&c, &b, &eb))
		fail_msg("broker: %s", eb.msg);
	return b;
}

static unsigned req(struct kbs_broker *b, const char *method, const char *path, const char *cookie,
		    const char *body, struct kbs_response *resp)
{
	assert_int_equal(kbs_broker_handle(b, method, path, cookie, (const uint8_t *)body,
					   body ? strlen(body) : 0, resp),
			 0);
	return resp->status;
}

/* POST /auth: returns the cookie value and the nonce. */
static void auth(struct kbs_broker *b, char cookie[64], char nonce[128])
{
	struct kbs_response r;
	assert_int_equal(req(b, "POST", "/kbs/v0/auth", NULL,
			     "{\"version\":\"0.1.0\",\"tee\":\"snp\",\"extra-params\":\"\"}", &r),
			 200);
	assert_true(sscanf(r.set_cookie, "kbs-session-id=%63[0-9a-f];", cookie) == 1);
	struct json_object *o = json_tokener_parse(r.body);
	snprintf(nonce, 128, "%s", json_object_get_string(json_object_object_get(o, "nonce")));
	json_object_put(o);
	kbs_response_clear(&r);
}

static unsigned attest(struct kbs_broker *b, const char *cookie, const char *body,
		       struct kbs_response *r)
{
	return req(b, "POST", "/kbs/v0/attest", cookie, body, r);
}

/* auth + attest with a good report (opts) bound to tee_key; asserts 200. */
static void session(struct kbs_broker *b, const struct report_opts *o, char cookie[64])
{
	char nonce[128];
	uint8_t rep[SNP_REPORT_SIZE];
	struct kbs_response r;
	auth(b, cookie, nonce);
	make_report(nonce, tee_key, o, rep);
	char *body = attestation_body(nonce, tee_key, rep, false);
	unsigned st = attest(b, cookie, body, &r);
	if (st != 200)
		fail_msg("attest: %u %s", st, r.body);
	free(body);
	kbs_response_clear(&r);
}

static void put(const char *id, const char *policy)
{
	struct kbs_store s;
	struct kbs_resource_id rid;
	struct errbuf eb = {0};
	assert_int_equal(kbs_store_open(&s, store_dir, true, &eb), 0);
	assert_int_equal(kbs_resource_id_parse(id, &rid, &eb), 0);
	if (kbs_store_put(&s, &rid, (const uint8_t *)secret, strlen(secret), policy, strlen(policy),
			  &eb))
		fail_msg("put: %s", eb.msg);
}

static char hd_hex[65], ms_hex[97];

/* The base policy every refusal test changes in exactly one claim. */
static void base_policy(char *out, size_t n, const char *extra)
{
	snprintf(out, n,
		 "{\"host_data\": [\"%s\"], \"measurement\": [\"%s\"], \"allow_dev\": true%s%s}",
		 hd_hex, ms_hex, extra ? ", " : "", extra ? extra : "");
}

/* Decrypt a JWE with the TEE's private key (OpenSSL directly). */
static size_t jwe_decrypt(EVP_PKEY *k, const char *jwe, uint8_t *out, size_t max)
{
	struct json_object *o = json_tokener_parse(jwe);
	assert_non_null(o);
	const char *f[5] = {"protected", "encrypted_key", "iv", "ciphertext", "tag"};
	uint8_t bin[4][1024];
	long len[4];
	for (int i = 1; i < 5; i++) {
		len[i - 1] = kbs_b64url_decode(
			json_object_get_string(json_object_object_get(o, f[i])), bin[i - 1], 1024);
		assert_true(len[i - 1] > 0);
	}
	const char *prot = json_object_get_string(json_object_object_get(o, "protected"));
	uint8_t hdr[128];
	long hl = kbs_b64url_decode(prot, hdr, sizeof(hdr) - 1);
	assert_true(hl > 0);
	hdr[hl] = 0;
	assert_string_equal((char *)hdr, "{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\"}");
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
	uint8_t cek[512];
	size_t cek_len = sizeof(cek);
	assert_int_equal(EVP_PKEY_decrypt_init(c), 1);
	EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING);
	EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256());
	EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256());
	assert_int_equal(EVP_PKEY_decrypt(c, cek, &cek_len, bin[0], (size_t)len[0]), 1);
	assert_int_equal(cek_len, 32);
	EVP_PKEY_CTX_free(c);
	EVP_CIPHER_CTX *g = EVP_CIPHER_CTX_new();
	int n1 = 0, n2 = 0;
	assert_true((size_t)len[2] <= max);
	EVP_DecryptInit_ex(g, EVP_aes_256_gcm(), NULL, cek, bin[1]);
	EVP_DecryptUpdate(g, NULL, &n1, (const uint8_t *)prot, (int)strlen(prot));
	EVP_DecryptUpdate(g, out, &n1, bin[2], (int)len[2]);
	EVP_CIPHER_CTX_ctrl(g, EVP_CTRL_GCM_SET_TAG, 16, bin[3]);
	assert_int_equal(EVP_DecryptFinal_ex(g, out + n1, &n2), 1);
	EVP_CIPHER_CTX_free(g);
	json_object_put(o);
	return (size_t)(n1 + n2);
}

static void assert_no_secret_in_log(void)
{
	assert_null(memmem(log_buf, log_len, secret, strlen(secret)));
}

/* ---- protocol messages ---- */

static void kbs_auth_request_spec_examples(void **state)
{
	(void)state;
	struct kbs_auth_request a;
	struct errbuf eb = {0};
	/* the protocol document's Request, with an empty extra-params */
	const char *doc =
		"{\n  \"version\": \"0.1.0\",\n  \"tee\": \"snp\",\n  \"extra-params\": \"\"\n}";
	assert_int_equal(kbs_parse_auth(doc, strlen(doc), &a, &eb), 0);
	assert_string_equal(a.version, "0.1.0");
	assert_int_equal(a.hash, KBS_HASH_SHA384);
	const char *algs = "{\"version\":\"0.4.0\",\"tee\":\"snp\",\"extra-params\":"
			   "{\"supported-hash-algorithms\":[\"sha256\",\"sha512\"]}}";
	assert_int_equal(kbs_parse_auth(algs, strlen(algs), &a, &eb), 0);
	assert_int_equal(a.hash, KBS_HASH_SHA512);
	const char *tdx = "{\"version\":\"0.1.0\",\"tee\":\"tdx\",\"extra-params\":\"\"}";
	assert_int_equal(kbs_parse_auth(tdx, strlen(tdx), &a, &eb), -ENOTSUP);
	assert_non_null(strstr(eb.msg, "request.tee"));
	const char *nover = "{\"tee\":\"snp\"}";
	assert_int_equal(kbs_parse_auth(nover, strlen(nover), &a, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "request.version"));
	const char *extra = "{\"version\":\"0.1.0\",\"tee\":\"snp\",\"bogus\":1}";
	assert_int_equal(kbs_parse_auth(extra, strlen(extra), &a, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "request.bogus"));
}

static void kbs_challenge_sets_cookie_and_nonce(void **state)
{
	(void)state;
	struct kbs_broker *b = broker();
	struct kbs_response r;
	assert_int_equal(req(b, "POST", "/kbs/v0/auth", NULL,
			     "{\"version\":\"0.1.0\",\"tee\":\"snp\",\"extra-params\":\"\"}", &r),
			 200);
	assert_non_null(strstr(r.set_cookie, "kbs-session-id="));
	struct json_object *o = json_tokener_parse(r.body), *x;
	assert_true(json_object_object_get_ex(o, "nonce", &x));
	uint8_t raw[64];
	assert_int_equal(base64_decode(json_object_get_string(x), raw, sizeof(raw)),
			 KBS_NONCE_BYTES);
	assert_true(json_object_object_get_ex(o, "extra-params", &x));
	assert_string_equal(
		json_object_get_string(json_object_object_get(x, "selected-hash-algorithm")),
		"sha384");
	json_object_put(o);
	kbs_response_clear(&r);
	/* an error body is ErrorInformation */
	assert_int_equal(req(b, "POST", "/kbs/v0/auth", NULL, "{", &r), 400);
	o = json_tokener_parse(r.body);
	assert_string_equal(json_object_get_string(json_object_object_get(o, "type")),
			    KBS_ERROR_TYPE_PREFIX "InvalidRequest");
	json_object_put(o);
	kbs_response_clear(&r);
	assert_int_equal(req(b, "GET", "/kbs/v0/auth", NULL, NULL, &r), 405);
	kbs_response_clear(&r);
	assert_int_equal(req(b, "GET", "/kbs/v1/other", NULL, NULL, &r), 404);
	kbs_response_clear(&r);
	kbs_broker_free(b);
}

static void kbs_jcs_sorts_and_escapes(void **state)
{
	(void)state;
	struct errbuf eb = {0};
	char *s;
	struct json_object *o =
		json_tokener_parse("{\"b\": [1, true, null], \"a\": \"x\\n\\u0001\\u00e9\\\"/\"}");
	assert_int_equal(kbs_jcs(o, &s, &eb), 0);
	assert_string_equal(s, "{\"a\":\"x\\n\\u0001\xc3\xa9\\\"/\",\"b\":[1,true,null]}");
	free(s);
	json_object_put(o);
	o = json_tokener_parse("{\"a\": 1.5}");
	assert_int_equal(kbs_jcs(o, &s, &eb), -ENOTSUP);
	json_object_put(o);
}

/* ---- the whole exchange ---- */

static void kbs_release_decrypts_to_the_secret(void **state)
{
	(void)state;
	char pol[1024], cookie[64];
	base_policy(pol, sizeof(pol), NULL);
	put("default/db/password", pol);
	struct kbs_broker *b = broker();
	log_len = 0;
	session(b, NULL, cookie);
	struct kbs_response r;
	assert_int_equal(req(b, "GET", "/kbs/v0/resource/default/db/password", cookie, NULL, &r),
			 200);
	assert_null(strstr(r.body, secret));
	uint8_t plain[256];
	size_t n = jwe_decrypt(tee_key, r.body, plain, sizeof(plain));
	assert_int_equal(n, strlen(secret));
	assert_memory_equal(plain, secret, n);
	kbs_response_clear(&r);
	assert_non_null(strstr(log_buf, "default/db/password RELEASED"));
	assert_non_null(strstr(log_buf, "DEVELOPMENT"));
	/* the attestation token is an ES256 JWT carrying the TEE key */
	assert_no_secret_in_log();
	/* unknown resource and malformed ids */
	assert_int_equal(req(b, "GET", "/kbs/v0/resource/default/db/nope", cookie, NULL, &r), 404);
	kbs_response_clear(&r);
	assert_int_equal(req(b, "GET", "/kbs/v0/resource/default/../password", cookie, NULL, &r),
			 400);
	kbs_response_clear(&r);
	assert_int_equal(req(b, "GET", "/kbs/v0/resource/a/b/c/d", cookie, NULL, &r), 400);
	kbs_response_clear(&r);
	kbs_broker_free(b);
}

static void kbs_old_form_attestation_releases(void **state)
{
	(void)state;
	char pol[1024], cookie[64], nonce[128];
	uint8_t rep[SNP_REPORT_SIZE];
	struct kbs_response r;
	base_policy(pol, sizeof(pol), NULL);
	put("default/db/old", pol);
	struct kbs_broker *b = broker();
	auth(b, cookie, nonce);
	make_report(nonce, tee_key, NULL, rep);
	char *body = attestation_body(nonce, tee_key, rep, true);
	assert_int_equal(attest(b, cookie, body, &r), 200);
	struct json_object *o = json_tokener_parse(r.body);
	const char *tok = json_object_get_string(json_object_object_get(o, "token"));
	assert_non_null(tok);
	assert_non_null(strchr(strchr(tok, '.') + 1, '.')); /* header.payload.signature */
	json_object_put(o);
	kbs_response_clear(&r);
	free(body);
	assert_int_equal(req(b, "GET", "/kbs/v0/resource/default/db/old", cookie, NULL, &r), 200);
	kbs_response_clear(&r);
	kbs_broker_free(b);
}

/* ---- REPORT_DATA binding ---- */

static void kbs_nonce_is_single_use(void **state)
{
	(void)state;
	char cookie[64], cookie2[64], nonce[128], nonce2[128];
	uint8_t rep[SNP_REPORT_SIZE];
	struct kbs_response r;
	struct kbs_broker *b = broker();
	auth(b, cookie, nonce);
	make_report(nonce, tee_key, NULL, rep);
	char *body = attestation_body(nonce, tee_key, rep, false);
	assert_int_equal(attest(b, cookie, body, &r), 200);
	kbs_response_clear(&r);
	/* the same session again */
	assert_int_equal(attest(b, cookie, body, &r), 401);
	assert_non_null(strstr(r.body, "already used"));
	kbs_response_clear(&r);
	/* the same evidence replayed into a fresh session */
	auth(b, cookie2, nonce2);
	assert_int_equal(attest(b, cookie2, body, &r), 401);
	assert_non_null(strstr(r.body, "nonce"));
	kbs_response_clear(&r);
	free(body);
	/* old form: the nonce is not in the message, so the report's REPORT_DATA must fail */
	auth(b, cookie2, nonce2);
	body = attestation_body(nonce, tee_key, rep, true);
	assert_int_equal(attest(b, cookie2, body, &r), 401);
	assert_non_null(strstr(r.body, "report_data"));
	kbs_response_clear(&r);
	free(body);
	/* a failed attestation spends the nonce too */
	make_report(nonce2, tee_key, NULL, rep);
	body = attestation_body(nonce2, tee_key, rep, true);
	assert_int_equal(attest(b, cookie2, body, &r), 401);
	kbs_response_clear(&r);
	free(body);
	kbs_broker_free(b);
}

static void kbs_wrong_key_is_rejected(void **state)
{
	(void)state;
	char cookie[64], nonce[128];
	uint8_t rep[SNP_REPORT_SIZE];
	struct kbs_response r;
	struct kbs_broker *b = broker();
	auth(b, cookie, nonce);
	/* the report binds tee_key, the message offers other_key */
	make_report(nonce, tee_key, NULL, rep);
	char *body = attestation_body(nonce, other_key, rep, false);
	assert_int_equal(attest(b, cookie, body, &r), 401);
	assert_non_null(strstr(r.body, "report_data"));
	kbs_response_clear(&r);
	free(body);
	/* and the session is not usable for resources */
	assert_int_equal(req(b, "GET", "/kbs/v0/resource/default/db/password", cookie, NULL, &r),
			 401);
	kbs_response_clear(&r);
	kbs_broker_free(b);
}

static void kbs_expired_session_is_rejected(void **state)
{
	(void)state;
	char pol[1024], cookie[64], nonce[128];
	uint8_t rep[SNP_REPORT_SIZE];
	struct kbs_response r;
	base_policy(pol, sizeof(pol), NULL);
	put("default/db/password", pol);
	struct kbs_broker *b = broker();
	session(b, NULL, cookie);
	fake_now += 61;
	assert_int_equal(req(b, "GET", "/kbs/v0/resource/default/db/password", cookie, NULL, &r),
			 401);
	assert_non_null(strstr(r.body, "ExpiredCookie"));
	kbs_response_clear(&r);
	/* an expired challenge cannot be answered either */
	auth(b, cookie, nonce);
	fake_now += 61;
	make_report(nonce, tee_key, NULL, rep);
	char *body = attestation_body(nonce, tee_key, rep, false);
	assert_int_equal(attest(b, cookie, body, &r), 401);
	assert_non_null(strstr(r.body, "ExpiredCookie"));
	kbs_response_clear(&r);
	free(body);
	/* no cookie, unknown cookie */
	assert_int_equal(req(b, "GET", "/kbs/v0/resource/default/db/password", NULL, NULL, &r),
			 401);
	kbs_response_clear(&r);
	assert_int_equal(req(b, "GET", "/kbs/v0/resource/default/db/password",
			     "0123456789abcdef0123456789abcdef", NULL, &r),
			 401);
	kbs_response_clear(&r);
	kbs_broker_free(b);
}

/* ---- each release-policy claim refuses on its own ---- */

struct claim_case {
	const char *name;	/* the claim the refusal must name */
	const char *extra;	/* added to the base policy (NULL: none) */
	const char *policy;	/* or a whole policy (overrides) */
	struct report_opts rep; /* the report's deviation */
};

static void check_refusal(const struct claim_case *c)
{
	char pol[1024], cookie[64], id[128];
	struct kbs_response r;
	if (c->policy)
		snprintf(pol, sizeof(pol), c->policy, hd_hex, ms_hex);
	else
		base_policy(pol, sizeof(pol), c->extra);
	snprintf(id, sizeof(id), "claims/%s/key", c->name);
	put(id, pol);
	struct kbs_broker *b = broker();
	log_len = 0;
	session(b, &c->rep, cookie);
	char path[200];
	snprintf(path, sizeof(path), "/kbs/v0/resource/%s", id);
	unsigned st = req(b, "GET", path, cookie, NULL, &r);
	if (st != 403)
		fail_msg("%s: expected 403, got %u %s", c->name, st, r.body ? r.body : "");
	struct json_object *o = json_tokener_parse(r.body);
	const char *detail = json_object_get_string(json_object_object_get(o, "detail"));
	char want[64];
	snprintf(want, sizeof(want), "%s: ", c->name);
	if (strncmp(detail, want, strlen(want)))
		fail_msg("%s: refusal names another claim: %s", c->name, detail);
	json_object_put(o);
	kbs_response_clear(&r);
	snprintf(want, sizeof(want), "REFUSED: claim %s failed", c->name);
	assert_non_null(strstr(log_buf, want));
	assert_no_secret_in_log();
	kbs_broker_free(b);
}

static const uint8_t other_hd[32] = {0xcc};
static const uint8_t other_ms[48] = {0xdd};

static void kbs_claim_host_data(void **state)
{
	(void)state;
	check_refusal(&(struct claim_case){"host_data", .rep = {.host_data = other_hd}});
}

static void kbs_claim_measurement(void **state)
{
	(void)state;
	check_refusal(&(struct claim_case){"measurement", .rep = {.measurement = other_ms}});
}

static void kbs_claim_debug(void **state)
{
	(void)state;
	check_refusal(
		&(struct claim_case){"allow_debug", .rep = {.policy_bits = SNP_POLICY_DEBUG}});
}

static void kbs_claim_min_tcb(void **state)
{
	(void)state;
	/* the dev CA's TCB is bl 1, tee 1, snp 1, ucode 1 */
	check_refusal(&(struct claim_case){"min_tcb",
					   .extra = "\"min_tcb\": {\"bootloader\": 1, \"tee\": 1, "
						    "\"snp\": 2, \"microcode\": 1}"});
}

static void kbs_claim_product(void **state)
{
	(void)state;
	check_refusal(
		&(struct claim_case){"product", .extra = "\"product\": [\"Genoa\", \"Turin\"]"});
}

static void kbs_claim_chain(void **state)
{
	(void)state;
	check_refusal(&(struct claim_case){"chain", .extra = "\"chain\": [\"vlek\"]"});
}

static void kbs_claim_allow_dev(void **state)
{
	(void)state;
	check_refusal(&(struct claim_case){
		"allow_dev", .policy = "{\"host_data\": [\"%s\"], \"measurement\": [\"%s\"]}"});
}

/* The same claims, satisfied, release: the refusals above are not an artefact. */
static void kbs_claims_satisfied_release(void **state)
{
	(void)state;
	char pol[1024], cookie[64];
	struct kbs_response r;
	base_policy(pol, sizeof(pol),
		    "\"min_tcb\": {\"bootloader\": 1, \"tee\": 1, \"snp\": 1, \"microcode\": 1}, "
		    "\"product\": [\"Parma-Dev\"], \"chain\": [\"vcek\"], \"allow_debug\": true");
	put("claims/all/key", pol);
	struct kbs_broker *b = broker();
	session(b, &(struct report_opts){.policy_bits = SNP_POLICY_DEBUG}, cookie);
	assert_int_equal(req(b, "GET", "/kbs/v0/resource/claims/all/key", cookie, NULL, &r), 200);
	kbs_response_clear(&r);
	kbs_broker_free(b);
}

/* ---- release policy parser ---- */

static void kbs_policy_errors_name_the_path(void **state)
{
	(void)state;
	static const struct {
		const char *doc, *msg;
	} cases[] = {
		{"[]", "release: expected an object"},
		{"{}", "release.host_data: required member missing"},
		{"{\"host_data\": []}", "release.host_data: empty set"},
		{"{\"host_data\": [\"zz\"]}", "release.host_data[0]: expected 64 hex digits"},
		{"{\"host_data\": [\"%1$s\", \"%1$s\"]}",
		 "release.host_data[1]: duplicate of entry 0"},
		{"{\"host_data\": [\"%1$s\"], \"measurment\": []}",
		 "release.measurment: unknown member"},
		{"{\"host_data\": [\"%1$s\"], \"measurement\": [\"%1$s\"]}",
		 "release.measurement[0]: expected 96 hex digits"},
		{"{\"host_data\": [\"%1$s\"], \"allow_debug\": 0}",
		 "release.allow_debug: expected true or false"},
		{"{\"host_data\": [\"%1$s\"], \"min_tcb\": {\"bootloader\": 1}}",
		 "release.min_tcb.tee: required member missing"},
		{"{\"host_data\": [\"%1$s\"], \"min_tcb\": {\"bootloader\": 1, \"tee\": 1, "
		 "\"snp\": 300, "
		 "\"microcode\": 1}}",
		 "release.min_tcb.snp: expected an integer 0-255"},
		{"{\"host_data\": [\"%1$s\"], \"product\": [\"Naples\"]}",
		 "release.product[0]: expected"},
		{"{\"host_data\": [\"%1$s\"], \"chain\": [\"vcek\", \"vcek\"]}",
		 "release.chain[1]: duplicate \"vcek\""},
		{"{\"host_data\": [\"%1$s\"], \"chain\": [\"ask\"]}", "release.chain[0]: expected"},
		{"{\"host_data\": [\"%1$s\"]} x", "invalid JSON"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char doc[512];
		struct kbs_policy p;
		struct errbuf eb = {0};
		snprintf(doc, sizeof(doc), cases[i].doc, hd_hex);
		if (kbs_policy_parse(doc, strlen(doc), &p, &eb) != -EINVAL ||
		    !strstr(eb.msg, cases[i].msg))
			fail_msg("case %zu: want \"%s\", got \"%s\"", i, cases[i].msg, eb.msg);
	}
	char doc[512];
	struct kbs_policy p;
	snprintf(doc, sizeof(doc), "{\"host_data\": [\"%s\"]}", hd_hex);
	assert_int_equal(kbs_policy_parse(doc, strlen(doc), &p, NULL), 0);
	assert_int_equal(p.n_host_data, 1);
	assert_false(p.allow_dev);
	assert_false(p.allow_debug);
	assert_true(p.chain_vcek && p.chain_vlek);
}

/* ---- the store ---- */

static void count_id(void *ctx, const struct kbs_resource_id *id)
{
	(void)id;
	(*(int *)ctx)++;
}

static void kbs_store_modes_and_ids(void **state)
{
	(void)state;
	char pol[1024], path[600];
	struct kbs_store s;
	struct kbs_resource_id id;
	struct errbuf eb = {0};
	struct stat st;
	base_policy(pol, sizeof(pol), NULL);
	put("store/t/x", pol);
	snprintf(path, sizeof(path), "%s/resources/store/t/x", store_dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/policies/store/t/x.json", store_dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/resources/store", store_dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(kbs_store_open(&s, store_dir, false, &eb), 0);
	int before = 0, after = 0;
	assert_int_equal(kbs_store_list(&s, count_id, &before, &eb), 0);
	assert_true(before >= 1);
	assert_int_equal(kbs_resource_id_parse("store/t/x", &id, &eb), 0);
	assert_int_equal(kbs_store_rm(&s, &id, &eb), 0);
	assert_int_equal(kbs_store_rm(&s, &id, &eb), -ENOENT);
	assert_int_equal(kbs_store_list(&s, count_id, &after, &eb), 0);
	assert_int_equal(after, before - 1);
	/* ids */
	assert_int_equal(kbs_resource_id_parse("a/../b", &id, &eb), -EINVAL);
	assert_int_equal(kbs_resource_id_parse("a/b", &id, &eb), -EINVAL);
	assert_int_equal(kbs_resource_id_parse("a/b/.hidden", &id, &eb), -EINVAL);
	assert_int_equal(kbs_resource_id_parse("a/b c/d", &id, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "resource type"));
	/* a bad policy is refused and nothing is written */
	assert_int_equal(kbs_resource_id_parse("store/t/bad", &id, &eb), 0);
	assert_int_equal(kbs_store_put(&s, &id, (const uint8_t *)"v", 1, "{}", 2, &eb), -EINVAL);
	snprintf(path, sizeof(path), "%s/resources/store/t/bad", store_dir);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(kbs_store_put(&s, &id, (const uint8_t *)"", 0, pol, strlen(pol), &eb),
			 -EINVAL);
	assert_non_null(strstr(eb.msg, "empty"));
	/* a store readable by others is refused */
	char open_dir[400];
	snprintf(open_dir, sizeof(open_dir), "%s/open", tmp_root);
	mkdir(open_dir, 0755);
	chmod(open_dir, 0755);
	assert_int_equal(kbs_store_open(&s, open_dir, false, &eb), -EPERM);
}

static void kbs_jwk_refusals(void **state)
{
	(void)state;
	struct kbs_tee_key k;
	struct errbuf eb = {0};
	struct json_object *j = jwk_of(tee_key, "RSA1_5", NULL, 0);
	assert_int_equal(kbs_tee_key_from_jwk(j, "k", &k, &eb), -ENOTSUP);
	assert_non_null(strstr(eb.msg, "k.alg"));
	json_object_put(j);
	j = json_tokener_parse("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}");
	assert_int_equal(kbs_tee_key_from_jwk(j, "k", &k, &eb), -ENOTSUP);
	json_object_put(j);
	j = json_tokener_parse(
		"{\"kty\":\"RSA\",\"alg\":\"RSA-OAEP\",\"n\":\"AQAB\",\"e\":\"AQAB\"}");
	assert_int_equal(kbs_tee_key_from_jwk(j, "k", &k, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "k.n"));
	json_object_put(j);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmp_root, sizeof(tmp_root), "/tmp/parma-kbs-test-XXXXXX");
	if (!mkdtemp(tmp_root))
		return -1;
	snprintf(store_dir, sizeof(store_dir), "%s/store", tmp_root);
	snprintf(ca_dir, sizeof(ca_dir), "%s/devca", tmp_root);
	mkdir(store_dir, 0700);
	struct snp_dev_ca_options o = {.rsa_bits = 2048};
	if (snp_dev_ca_open(ca_dir, true, &o, &ca, NULL))
		return -1;
	tee_key = EVP_RSA_gen(2048);
	other_key = EVP_RSA_gen(2048);
	hex_encode(host_data, 32, hd_hex);
	hex_encode(measurement, 48, ms_hex);
	return tee_key && other_key ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[400];
	snp_dev_ca_free(ca);
	EVP_PKEY_free(tee_key);
	EVP_PKEY_free(other_key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_root);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kbs_auth_request_spec_examples),
		cmocka_unit_test(kbs_challenge_sets_cookie_and_nonce),
		cmocka_unit_test(kbs_jcs_sorts_and_escapes),
		cmocka_unit_test(kbs_release_decrypts_to_the_secret),
		cmocka_unit_test(kbs_old_form_attestation_releases),
		cmocka_unit_test(kbs_nonce_is_single_use),
		cmocka_unit_test(kbs_wrong_key_is_rejected),
		cmocka_unit_test(kbs_expired_session_is_rejected),
		cmocka_unit_test(kbs_claim_host_data),
		cmocka_unit_test(kbs_claim_measurement),
		cmocka_unit_test(kbs_claim_debug),
		cmocka_unit_test(kbs_claim_min_tcb),
		cmocka_unit_test(kbs_claim_product),
		cmocka_unit_test(kbs_claim_chain),
		cmocka_unit_test(kbs_claim_allow_dev),
		cmocka_unit_test(kbs_claims_satisfied_release),
		cmocka_unit_test(kbs_policy_errors_name_the_path),
		cmocka_unit_test(kbs_store_modes_and_ids),
		cmocka_unit_test(kbs_jwk_refusals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
