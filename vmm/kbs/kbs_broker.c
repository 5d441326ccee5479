/* kbs_broker: sessions, attestation, release decisions and the audit log. */
#include "vmm/kbs/kbs_broker.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/encoding.h"
#include "vmm/kbs/kbs_jwe.h"
#include "vmm/kbs/kbs_protocol.h"

enum session_state {
	SESSION_FREE = 0,
	SESSION_CHALLENGED, /* nonce issued, not yet used */
	SESSION_SPENT,	    /* nonce used by a failed attestation: the session is dead */
	SESSION_ATTESTED,
};

struct kbs_session {
	enum session_state state;
	char id[KBS_SESSION_ID_LEN + 1];
	char nonce[64];
	enum kbs_hash hash;
	time_t expires;
	struct kbs_tee_key key;
	uint8_t report[SNP_REPORT_SIZE];
	uint8_t report_data[SNP_REPORT_DATA_SIZE];
	bool dev_chain;
};

struct kbs_broker {
	struct kbs_broker_config cfg;
	struct kbs_store store;
	struct snp_certs *certs;
	EVP_PKEY *token_key; /* ephemeral ES256 key signing attestation tokens */
	struct kbs_session *sessions;
	struct kbs_broker_stats stats;
};

__attribute__((format(printf, 2, 3))) static void blog(struct kbs_broker *b, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	if (!b->cfg.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	b->cfg.log(b->cfg.log_ctx, line);
}

static time_t now(const struct kbs_broker *b)
{
	return b->cfg.now ? b->cfg.now(b->cfg.now_ctx) : time(NULL);
}

int kbs_broker_new(const struct kbs_broker_config *cfg, struct kbs_broker **out, struct errbuf *eb)
{
	struct kbs_broker *b = calloc(1, sizeof(*b));
	int r;
	*out = NULL;
	if (!b)
		return errbuf_set(eb, ENOMEM, "out of memory");
	b->cfg = *cfg;
	if (!b->cfg.session_ttl)
		b->cfg.session_ttl = 300;
	if (!b->cfg.max_sessions)
		b->cfg.max_sessions = 1024;
	r = kbs_store_open(&b->store, cfg->store_dir, false, eb);
	if (r)
		goto fail;
	b->certs = snp_certs_new();
	b->sessions = calloc(b->cfg.max_sessions, sizeof(*b->sessions));
	b->token_key = EVP_EC_gen("P-256");
	if (!b->certs || !b->sessions || !b->token_key) {
		r = errbuf_set(eb, ENOMEM, "out of memory");
		goto fail;
	}
	r = snp_certs_add_dir(b->certs, cfg->certs_dir, eb);
	if (r < 0)
		goto fail;
	*out = b;
	return 0;
fail:
	kbs_broker_free(b);
	return r;
}

static void session_end(struct kbs_session *s)
{
	kbs_tee_key_clear(&s->key);
	OPENSSL_cleanse(s, sizeof(*s));
}

void kbs_broker_free(struct kbs_broker *b)
{
	if (!b)
		return;
	for (unsigned i = 0; b->sessions && i < b->cfg.max_sessions; i++)
		session_end(&b->sessions[i]);
	free(b->sessions);
	snp_certs_free(b->certs);
	EVP_PKEY_free(b->token_key);
	free(b);
}

void kbs_broker_stats(const struct kbs_broker *b, struct kbs_broker_stats *out)
{
	*out = b->stats;
}

void kbs_response_clear(struct kbs_response *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

static int respond_error(struct kbs_response *resp, unsigned status, const char *type,
			 const char *detail)
{
	resp->status = status;
	resp->body = kbs_error_body(type, detail);
	return resp->body ? 0 : -ENOMEM;
}

static int respond_json(struct kbs_response *resp, struct json_object *o)
{
	resp->status = 200;
	resp->body = o ? strdup(json_object_to_json_string_ext(
				 o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE))
		       : NULL;
	json_object_put(o);
	return resp->body ? 0 : -ENOMEM;
}

/* A free slot, reclaiming expired sessions first; NULL when all are live. */
static struct kbs_session *session_alloc(struct kbs_broker *b)
{
	time_t t = now(b);
	struct kbs_session *free_slot = NULL;
	for (unsigned i = 0; i < b->cfg.max_sessions; i++) {
		struct kbs_session *s = &b->sessions[i];
		if (s->state != SESSION_FREE && s->expires <= t)
			session_end(s);
		if (s->state == SESSION_FREE && !free_slot)
			free_slot = s;
	}
	return free_slot;
}

/* The live session named by the cookie, or NULL with the response filled. */
static struct kbs_session *session_find(struct kbs_broker *b, const char *cookie,
					struct kbs_response *resp)
{
	if (!cookie) {
		respond_error(resp, 401, "MissingCookie",
			      "no kbs-session-id cookie: POST /auth first");
		return NULL;
	}
	if (strlen(cookie) == KBS_SESSION_ID_LEN)
		for (unsigned i = 0; i < b->cfg.max_sessions; i++) {
			struct kbs_session *s = &b->sessions[i];
			if (s->state == SESSION_FREE ||
			    CRYPTO_memcmp(s->id, cookie, KBS_SESSION_ID_LEN))
				continue;
			if (s->expires <= now(b)) {
				blog(b, "session %.8s: expired", s->id);
				session_end(s);
				respond_error(resp, 401, "ExpiredCookie",
					      "the session has expired: POST /auth again");
				return NULL;
			}
			return s;
		}
	respond_error(resp, 401, "InvalidCookie", "unknown kbs-session-id");
	return NULL;
}

static int handle_auth(struct kbs_broker *b, const uint8_t *body, size_t len,
		       struct kbs_response *resp)
{
	struct kbs_auth_request req;
	struct errbuf eb = {0};
	uint8_t raw[KBS_NONCE_BYTES > 16 ? KBS_NONCE_BYTES : 16];
	if (kbs_parse_auth((const char *)body, len, &req, &eb) < 0) {
		blog(b, "auth refused: %s", eb.msg);
		return respond_error(resp, 400, "InvalidRequest", eb.msg);
	}
	struct kbs_session *s = session_alloc(b);
	if (!s) {
		blog(b, "auth refused: all %u sessions are in use", b->cfg.max_sessions);
		return respond_error(resp, 503, "TooManySessions", "all sessions are in use");
	}
	if (RAND_bytes(raw, 16) != 1)
		return respond_error(resp, 500, "InternalError", "no randomness");
	hex_encode(raw, 16, s->id);
	if (RAND_bytes(raw, KBS_NONCE_BYTES) != 1)
		return respond_error(resp, 500, "InternalError", "no randomness");
	base64_encode(raw, KBS_NONCE_BYTES, s->nonce);
	s->hash = req.hash;
	s->expires = now(b) + b->cfg.session_ttl;
	s->state = SESSION_CHALLENGED;
	b->stats.sessions++;
	snprintf(resp->set_cookie, sizeof(resp->set_cookie), "%s=%s; Max-Age=%u; HttpOnly",
		 KBS_COOKIE_NAME, s->id, b->cfg.session_ttl);
	blog(b, "session %.8s: challenge issued (client %s, tee snp, hash %s)", s->id, req.version,
	     kbs_hash_name(req.hash));
	struct json_object *o = json_object_new_object(), *extra = json_object_new_object();
	json_object_object_add(extra, "selected-hash-algorithm",
			       json_object_new_string(kbs_hash_name(req.hash)));
	json_object_object_add(o, "nonce", json_object_new_string(s->nonce));
	json_object_object_add(o, "extra-params", extra);
	return respond_json(resp, o);
}

/* JWS ES256 over a JSON claims object: header.payload.signature. */
static char *sign_token(struct kbs_broker *b, struct json_object *claims)
{
	static const char hdr[] = "{\"alg\":\"ES256\",\"typ\":\"JWT\"}";
	const char *payload = json_object_to_json_string_ext(
		claims, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	char *h64 = kbs_b64url_encode((const uint8_t *)hdr, strlen(hdr));
	char *p64 = kbs_b64url_encode((const uint8_t *)payload, strlen(payload));
	char *input = NULL, *sig64 = NULL, *out = NULL;
	uint8_t der[128], rs[64];
	size_t der_len = sizeof(der);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	ECDSA_SIG *sig = NULL;
	if (!h64 || !p64 || !md || asprintf(&input, "%s.%s", h64, p64) < 0) {
		input = NULL;
		goto out;
	}
	const uint8_t *dp = der;
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, b->token_key) <= 0 ||
	    EVP_DigestSign(md, der, &der_len, (const uint8_t *)input, strlen(input)) <= 0 ||
	    !(sig = d2i_ECDSA_SIG(NULL, &dp, (long)der_len)) ||
	    BN_bn2binpad(ECDSA_SIG_get0_r(sig), rs, 32) != 32 ||
	    BN_bn2binpad(ECDSA_SIG_get0_s(sig), rs + 32, 32) != 32 ||
	    !(sig64 = kbs_b64url_encode(rs, 64)))
		goto out;
	if (asprintf(&out, "%s.%s", input, sig64) < 0)
		out = NULL;
out:
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(md);
	free(h64);
	free(p64);
	free(input);
	free(sig64);
	return out;
}

static int handle_attest(struct kbs_broker *b, const char *cookie, const uint8_t *body, size_t len,
			 struct kbs_response *resp)
{
	struct kbs_session *s = session_find(b, cookie, resp);
	struct kbs_attestation a;
	struct errbuf eb = {0};
	if (!s)
		return resp->body ? 0 : -ENOMEM;
	if (s->state != SESSION_CHALLENGED) {
		blog(b, "session %.8s: attestation refused: the challenge nonce was already used",
		     s->id);
		return respond_error(resp, 401, "AttestationFailed",
				     "this session's nonce was already used: POST /auth again");
	}
	/* the nonce is single use whatever the outcome */
	s->state = SESSION_SPENT;
	if (kbs_parse_attestation((const char *)body, len, &a, &eb) < 0) {
		blog(b, "session %.8s: attestation refused: %s", s->id, eb.msg);
		return respond_error(resp, 400, "InvalidRequest", eb.msg);
	}
	int r = kbs_tee_key_from_jwk(a.tee_pubkey, "attestation.tee-pubkey", &s->key, &eb);
	if (!r)
		r = kbs_binding(&a, s->nonce, s->hash, s->report_data, &eb);
	if (r) {
		kbs_attestation_clear(&a);
		blog(b, "session %.8s: attestation refused: %s", s->id, eb.msg);
		return respond_error(resp, r == -EACCES ? 401 : 400,
				     r == -EACCES ? "AttestationFailed" : "InvalidRequest", eb.msg);
	}
	/* the evidence itself: signature, chain, binding. Debug and dev chains are
	 * decided per resource by its release policy. */
	struct snp_claims cl = {.allow_debug = true, .allow_dev = true, .check_report_data = true};
	struct snp_verdict *v = calloc(1, sizeof(*v));
	if (!v) {
		kbs_attestation_clear(&a);
		return -ENOMEM;
	}
	memcpy(cl.report_data, s->report_data, sizeof(cl.report_data));
	r = snp_verify_report(b->certs, a.report, SNP_REPORT_SIZE, &cl, v, &eb);
	if (r == 0) {
		memcpy(s->report, a.report, SNP_REPORT_SIZE);
		s->dev_chain = v->dev_chain;
	}
	free(v);
	if (r) {
		kbs_attestation_clear(&a);
		kbs_tee_key_clear(&s->key);
		b->stats.refused++;
		blog(b, "session %.8s: attestation refused: %s", s->id, eb.msg);
		return respond_error(resp, 401, "AttestationFailed", eb.msg);
	}
	s->state = SESSION_ATTESTED;
	s->expires = now(b) + b->cfg.session_ttl;
	b->stats.attested++;
	blog(b, "session %.8s: attested%s", s->id,
	     s->dev_chain ? " with a DEVELOPMENT signer (NOT AMD hardware): only resources whose "
			    "policy sets allow_dev will be released"
			  : "");
	struct json_object *claims = json_object_new_object();
	json_object_object_add(claims, "iss", json_object_new_string("parma-kbs"));
	json_object_object_add(claims, "iat", json_object_new_int64(now(b)));
	json_object_object_add(claims, "exp", json_object_new_int64(s->expires));
	json_object_object_add(claims, "tee", json_object_new_string("snp"));
	json_object_object_add(claims, "tee-pubkey", json_object_get(a.tee_pubkey));
	char *token = sign_token(b, claims);
	json_object_put(claims);
	kbs_attestation_clear(&a);
	if (!token)
		return respond_error(resp, 500, "InternalError", "cannot sign the token");
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "token", json_object_new_string(token));
	free(token);
	return respond_json(resp, o);
}

static int handle_resource(struct kbs_broker *b, const char *cookie, const char *rest,
			   struct kbs_response *resp)
{
	struct kbs_session *s = session_find(b, cookie, resp);
	struct kbs_resource_id id;
	struct kbs_policy *p = NULL;
	struct kbs_decision d;
	struct errbuf eb = {0};
	uint8_t *secret = NULL;
	size_t len = 0;
	char *jwe = NULL;
	char hd[2 * SNP_HOST_DATA_SIZE + 1];
	int r = 0;
	if (!s)
		return resp->body ? 0 : -ENOMEM;
	if (s->state != SESSION_ATTESTED) {
		blog(b, "session %.8s: resource %.200s refused: not attested", s->id, rest);
		return respond_error(resp, 401, "UnAuthenticated",
				     "the session is not attested: POST /attest first");
	}
	if (kbs_resource_id_parse(rest, &id, &eb) < 0) {
		blog(b, "session %.8s: resource request refused: %s", s->id, eb.msg);
		return respond_error(resp, 400, "InvalidRequest", eb.msg);
	}
	if (!(p = malloc(sizeof(*p))))
		return -ENOMEM;
	r = kbs_store_policy(&b->store, &id, p, &eb);
	if (r == -ENOENT) {
		blog(b, "session %.8s: %s/%s/%s refused: no such resource", s->id, id.repo, id.type,
		     id.tag);
		r = respond_error(resp, 404, "ResourceNotFound", "no such resource");
		goto out;
	}
	if (r < 0) {
		b->stats.refused++;
		blog(b, "session %.8s: %s/%s/%s refused: its release policy is unusable: %s", s->id,
		     id.repo, id.type, id.tag, eb.msg);
		r = respond_error(resp, 403, "PolicyDeny",
				  "the resource's release policy is unusable");
		goto out;
	}
	r = kbs_policy_evaluate(p, b->certs, s->report, s->report_data, &d);
	if (r < 0)
		goto out;
	hex_encode(s->report + 0xC0, SNP_HOST_DATA_SIZE, hd); /* HOST_DATA, for the log */
	if (!d.release) {
		char detail[sizeof(d.detail) + 64];
		b->stats.refused++;
		blog(b, "session %.8s: %s/%s/%s REFUSED: claim %s failed: %s (HOST_DATA %s)", s->id,
		     id.repo, id.type, id.tag, d.claim, d.detail, hd);
		snprintf(detail, sizeof(detail), "%s: %s", d.claim, d.detail);
		r = respond_error(resp, 403, "PolicyDeny", detail);
		goto out;
	}
	r = kbs_store_secret(&b->store, &id, &secret, &len, &eb);
	if (r < 0) {
		blog(b, "session %.8s: %s/%s/%s refused: %s", s->id, id.repo, id.type, id.tag,
		     eb.msg);
		r = respond_error(resp, r == -ENOENT ? 404 : 500,
				  r == -ENOENT ? "ResourceNotFound" : "InternalError",
				  r == -ENOENT ? "no such resource" : "cannot read the resource");
		goto out;
	}
	r = kbs_jwe_encrypt(&s->key, secret, len, &jwe, &eb);
	if (r < 0) {
		blog(b, "session %.8s: %s/%s/%s not released: %s", s->id, id.repo, id.type, id.tag,
		     eb.msg);
		r = respond_error(resp, 500, "InternalError", "encryption failed");
		goto out;
	}
	b->stats.released++;
	blog(b, "session %.8s: %s/%s/%s RELEASED (%zu bytes, HOST_DATA %s)%s", s->id, id.repo,
	     id.type, id.tag, len, hd,
	     d.dev_chain ? " on a DEVELOPMENT attestation (NOT AMD hardware): allowed by the "
			   "resource's allow_dev"
			 : "");
	resp->status = 200;
	resp->body = jwe;
	jwe = NULL;
out:
	if (secret) {
		OPENSSL_cleanse(secret, len);
		free(secret);
	}
	free(jwe);
	free(p);
	return r;
}

int kbs_broker_handle(struct kbs_broker *b, const char *method, const char *path,
		      const char *session_cookie, const uint8_t *body, size_t len,
		      struct kbs_response *resp)
{
	int r;
	memset(resp, 0, sizeof(*resp));
	bool post = !strcmp(method, "POST"), get = !strcmp(method, "GET");
	size_t pl = strlen(KBS_PATH_PREFIX);
	if (strncmp(path, KBS_PATH_PREFIX, pl))
		r = respond_error(resp, 404, "NotFound", "no such endpoint");
	else if (len > KBS_BODY_MAX)
		r = respond_error(resp, 413, "InvalidRequest", "request body too large");
	else if (!strcmp(path + pl, "auth"))
		r = post ? handle_auth(b, body, len, resp)
			 : respond_error(resp, 405, "InvalidRequest", "auth takes POST");
	else if (!strcmp(path + pl, "attest"))
		r = post ? handle_attest(b, session_cookie, body, len, resp)
			 : respond_error(resp, 405, "InvalidRequest", "attest takes POST");
	else if (!strncmp(path + pl, "resource/", 9))
		r = get ? handle_resource(b, session_cookie, path + pl + 9, resp)
			: respond_error(resp, 405, "InvalidRequest", "resource takes GET");
	else
		r = respond_error(resp, 404, "NotFound", "no such endpoint");
	if (r < 0) {
		kbs_response_clear(resp);
		resp->status = 500;
	}
	return r;
}
