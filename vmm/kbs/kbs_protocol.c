/* kbs_protocol: RCAR message parsing, canonical JSON and the REPORT_DATA binding. */
#include "vmm/kbs/kbs_protocol.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "common/encoding.h"
#include "vmm/kbs/kbs_json.h"

static const char *const hash_names[] = {"sha384", "sha512", "sha256"};

const char *kbs_hash_name(enum kbs_hash h)
{
	return hash_names[h];
}

int kbs_parse_auth(const char *body, size_t len, struct kbs_auth_request *out, struct errbuf *eb)
{
	static const char *const keys[] = {"version", "tee", "extra-params", NULL};
	struct json_object *root, *extra = NULL, *algs = NULL;
	const char *version = NULL, *tee = NULL;
	struct kbs_jpath jp;
	size_t n = 0;
	memset(out, 0, sizeof(*out));
	int r = kbs_json_parse(body, len, &root, eb);
	if (r)
		return r;
	kbs_jpath_init(&jp, "request", eb);
	r = kbs_jobject(&jp, root, keys);
	if (!r)
		r = kbs_jstring(&jp, root, "version", true, sizeof(out->version) - 1, &version);
	if (!r)
		r = kbs_jstring(&jp, root, "tee", true, 32, &tee);
	if (!r && strcmp(tee, "snp"))
		r = errbuf_set(eb, ENOTSUP, "request.tee: \"%s\" is not served (only \"snp\")",
			       tee);
	if (!r && kbs_jmember(&jp, root, "extra-params", false, &extra) == 1) {
		size_t old = kbs_jpath_key(&jp, "extra-params");
		/* extra-params is open-ended (a string or an object in the wild); only
		 * supported-hash-algorithms is read */
		if (json_object_is_type(extra, json_type_object))
			r = kbs_jarray(&jp, extra, "supported-hash-algorithms", false, 16, &algs,
				       &n);
		kbs_jpath_pop(&jp, old);
	}
	if (!r) {
		snprintf(out->version, sizeof(out->version), "%s", version);
		out->hash = KBS_HASH_SHA384;
		if (algs) {
			int best = -1;
			for (size_t i = 0; i < n; i++) {
				const char *s =
					json_object_get_string(json_object_array_get_idx(algs, i));
				for (int h = 0; h < 3 && s; h++)
					if (!strcasecmp(s, hash_names[h]) && (best < 0 || h < best))
						best = h;
			}
			if (best < 0)
				r = errbuf_set(
					eb, ENOTSUP,
					"request.extra-params.supported-hash-algorithms: none of "
					"sha384, sha512, sha256");
			else
				out->hash = (enum kbs_hash)best;
		}
	}
	json_object_put(root);
	return r;
}

void kbs_attestation_clear(struct kbs_attestation *a)
{
	json_object_put(a->root);
	memset(a, 0, sizeof(*a));
}

static int parse_snp_evidence(struct kbs_jpath *jp, struct json_object *ev, uint8_t *report)
{
	static const char *const keys[] = {"attestation_report", "cert_chain", NULL};
	const char *b64 = NULL;
	int r = kbs_jobject(jp, ev, keys);
	if (!r)
		r = kbs_jstring(jp, ev, "attestation_report", true, 4 * SNP_REPORT_SIZE, &b64);
	if (r)
		return r;
	uint8_t buf[SNP_REPORT_SIZE + 3];
	long n = base64_decode(b64, buf, sizeof(buf));
	if (n != SNP_REPORT_SIZE) {
		size_t old = kbs_jpath_key(jp, "attestation_report");
		r = kbs_jerr(jp, EINVAL, "expected base64 of a %d-byte SNP report",
			     SNP_REPORT_SIZE);
		kbs_jpath_pop(jp, old);
		return r;
	}
	memcpy(report, buf, SNP_REPORT_SIZE);
	return 0;
}

int kbs_parse_attestation(const char *body, size_t len, struct kbs_attestation *out,
			  struct errbuf *eb)
{
	static const char *const keys[] = {"runtime_data", "tee_evidence", "init_data",
					   "tee-pubkey",   "tee-evidence", NULL};
	static const char *const rd_keys[] = {"nonce", "tee-pubkey", NULL};
	static const char *const te_keys[] = {"primary_evidence", "additional_evidence", NULL};
	struct json_object *ev = NULL, *parsed_ev = NULL, *te;
	struct kbs_jpath jp;
	memset(out, 0, sizeof(*out));
	int r = kbs_json_parse(body, len, &out->root, eb);
	if (r)
		return r;
	struct json_object *root = out->root;
	kbs_jpath_init(&jp, "attestation", eb);
	r = kbs_jobject(&jp, root, keys);
	if (r)
		goto out;
	bool new_form = json_object_object_get_ex(root, "runtime_data", NULL);
	if (new_form) {
		const char *nonce;
		kbs_jmember(&jp, root, "runtime_data", true, &out->runtime_data);
		size_t old = kbs_jpath_key(&jp, "runtime_data");
		r = kbs_jobject(&jp, out->runtime_data, rd_keys);
		if (!r)
			r = kbs_jstring(&jp, out->runtime_data, "nonce", true, 128, &nonce);
		if (!r &&
		    kbs_jmember(&jp, out->runtime_data, "tee-pubkey", true, &out->tee_pubkey) < 0)
			r = -EINVAL;
		kbs_jpath_pop(&jp, old);
		if (!r && kbs_jmember(&jp, root, "tee_evidence", true, &te) < 0)
			r = -EINVAL;
		if (!r) {
			old = kbs_jpath_key(&jp, "tee_evidence");
			r = kbs_jobject(&jp, te, te_keys);
			if (!r && kbs_jmember(&jp, te, "primary_evidence", true, &ev) < 0)
				r = -EINVAL;
			if (!r)
				kbs_jpath_key(&jp, "primary_evidence");
		}
	} else {
		if (kbs_jmember(&jp, root, "tee-pubkey", true, &out->tee_pubkey) < 0 ||
		    kbs_jmember(&jp, root, "tee-evidence", true, &ev) < 0)
			r = -EINVAL;
		else
			kbs_jpath_key(&jp, "tee-evidence");
	}
	if (r)
		goto out;
	/* older clients send the evidence as JSON text inside a string */
	if (json_object_is_type(ev, json_type_string)) {
		r = kbs_json_parse(json_object_get_string(ev),
				   (size_t)json_object_get_string_len(ev), &parsed_ev, eb);
		if (r) {
			errbuf_prefix(eb, "%s", jp.path);
			goto out;
		}
		ev = parsed_ev;
	}
	r = parse_snp_evidence(&jp, ev, out->report);
out:
	json_object_put(parsed_ev);
	if (r)
		kbs_attestation_clear(out);
	return r;
}

/* ---- RFC 8785 canonical JSON ---- */

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->cap ? b->cap * 2 : 256) + n;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void jcs_string(struct sbuf *b, const char *s, size_t n)
{
	sb_put(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		const char *e = c == '"'    ? "\\\""
				: c == '\\' ? "\\\\"
				: c == '\b' ? "\\b"
				: c == '\f' ? "\\f"
				: c == '\n' ? "\\n"
				: c == '\r' ? "\\r"
				: c == '\t' ? "\\t"
					    : NULL;
		if (!e && c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			e = esc;
		}
		if (e)
			sb_put(b, e, strlen(e));
		else
			sb_put(b, (const char *)&s[i], 1);
	}
	sb_put(b, "\"", 1);
}

static int key_cmp(const void *a, const void *b)
{
	/* UTF-8 byte order equals code point order; it differs from RFC 8785's
	 * UTF-16 order only for keys mixing U+E000-U+FFFF with supplementary
	 * characters, which no protocol member uses */
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int jcs_value(struct sbuf *b, struct json_object *v, int depth)
{
	char num[32];
	if (depth > KBS_JSON_MAX_DEPTH)
		return -E2BIG;
	switch (json_object_get_type(v)) {
	case json_type_null:
		sb_put(b, "null", 4);
		return 0;
	case json_type_boolean:
		sb_put(b, json_object_get_boolean(v) ? "true" : "false",
		       json_object_get_boolean(v) ? 4 : 5);
		return 0;
	case json_type_int:
		if (json_object_get_int64(v) == INT64_MAX)
			snprintf(num, sizeof(num), "%" PRIu64, json_object_get_uint64(v));
		else
			snprintf(num, sizeof(num), "%" PRId64, json_object_get_int64(v));
		sb_put(b, num, strlen(num));
		return 0;
	case json_type_double:
		return -ENOTSUP;
	case json_type_string:
		jcs_string(b, json_object_get_string(v), (size_t)json_object_get_string_len(v));
		return 0;
	case json_type_array: {
		sb_put(b, "[", 1);
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			if (i)
				sb_put(b, ",", 1);
			int r = jcs_value(b, json_object_array_get_idx(v, i), depth + 1);
			if (r)
				return r;
		}
		sb_put(b, "]", 1);
		return 0;
	}
	case json_type_object: {
		size_t n = (size_t)json_object_object_length(v), i = 0;
		const char **keys = calloc(n ? n : 1, sizeof(*keys));
		if (!keys)
			return -ENOMEM;
		json_object_object_foreach(v, k, val)
		{
			(void)val;
			keys[i++] = k;
		}
		qsort(keys, n, sizeof(*keys), key_cmp);
		sb_put(b, "{", 1);
		int r = 0;
		for (i = 0; i < n && !r; i++) {
			if (i)
				sb_put(b, ",", 1);
			jcs_string(b, keys[i], strlen(keys[i]));
			sb_put(b, ":", 1);
			r = jcs_value(b, json_object_object_get(v, keys[i]), depth + 1);
		}
		sb_put(b, "}", 1);
		free(keys);
		return r;
	}
	}
	return -EINVAL;
}

int kbs_jcs(struct json_object *v, char **out, struct errbuf *eb)
{
	struct sbuf b = {0};
	int r = jcs_value(&b, v, 0);
	if (!r && b.oom)
		r = -ENOMEM;
	if (r) {
		free(b.p);
		*out = NULL;
		return errbuf_set(eb, -r,
				  r == -ENOTSUP
					  ? "canonical JSON: non-integer numbers are not supported"
				  : r == -ENOMEM ? "out of memory"
						 : "canonical JSON: nested too deeply");
	}
	*out = b.p;
	return 0;
}

int kbs_binding(const struct kbs_attestation *a, const char *nonce, enum kbs_hash h,
		uint8_t out[SNP_REPORT_DATA_SIZE], struct errbuf *eb)
{
	struct json_object *rd = a->runtime_data, *own = NULL;
	char *text = NULL;
	unsigned int n = 0;
	if (rd) {
		const char *got = json_object_get_string(json_object_object_get(rd, "nonce"));
		if (strcmp(got, nonce))
			return errbuf_set(eb, EACCES,
					  "attestation.runtime_data.nonce: not this session's "
					  "challenge (stale or replayed)");
	} else {
		own = json_object_new_object();
		if (!own || json_object_object_add(own, "nonce", json_object_new_string(nonce)) ||
		    json_object_object_add(own, "tee-pubkey", json_object_get(a->tee_pubkey))) {
			json_object_put(own);
			return errbuf_set(eb, ENOMEM, "out of memory");
		}
		rd = own;
	}
	int r = kbs_jcs(rd, &text, eb);
	memset(out, 0, SNP_REPORT_DATA_SIZE);
	if (!r &&
	    !EVP_Digest(text, strlen(text), out, &n, EVP_get_digestbyname(hash_names[h]), NULL))
		r = errbuf_set(eb, EIO, "%s failed", hash_names[h]);
	free(text);
	json_object_put(own);
	return r;
}

char *kbs_error_body(const char *type, const char *detail)
{
	struct json_object *o = json_object_new_object();
	char t[160];
	char *s = NULL;
	if (!o)
		return NULL;
	snprintf(t, sizeof(t), "%s%s", KBS_ERROR_TYPE_PREFIX, type);
	json_object_object_add(o, "type", json_object_new_string(t));
	json_object_object_add(o, "detail", json_object_new_string(detail));
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}
