/* cose_sign1: decode a COSE_Sign1 document with libcbor and verify it with OpenSSL.
 *
 * Hostile input never reaches cbor_load() unchecked: a streaming pre-pass bounds the nesting,
 * the item count and every declared length by the bytes that are actually there, and refuses
 * indefinite lengths and trailing bytes, so decoding allocates at most a small multiple of the
 * input. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "policy/cose/cose_sign1.h"
#include "policy/cose/did_x509.h"

#define MAX_MAP_PAIRS 64
#define MAX_CRIT      16

static const struct {
	int alg;
	const char *name;
	const char *digest;
	const char *curve; /* NULL: RSASSA-PSS */
	size_t sig_len;	   /* raw r||s for ECDSA; 0 = the RSA modulus size */
} algs[] = {
	{COSE_ALG_ES256, "ES256", "SHA256", "prime256v1", 64},
	{COSE_ALG_ES384, "ES384", "SHA384", "secp384r1", 96},
	{COSE_ALG_PS256, "PS256", "SHA256", NULL, 0},
	{COSE_ALG_PS384, "PS384", "SHA384", NULL, 0},
};

#define MIN_RSA_BITS 2048

struct priv {
	cbor_item_t *root, *protected_map;
	char *strings[8]; /* NUL-terminated copies of the text headers */
	size_t n_strings;
	const char *cwt_iss, *cwt_sub, *hdr_iss, *hdr_feed;
	bool has_svn;
	cbor_item_t *crit;
};

static int fault(struct cose_fault *f, const char *field, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fault(struct cose_fault *f, const char *field, int err, const char *fmt, ...)
{
	char msg[ERRBUF_SIZE];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!f)
		return -err;
	snprintf(f->field, sizeof(f->field), "%s", field);
	return errbuf_set(&f->eb, err, "%s: %s", field, msg);
}

const char *cose_alg_name(int alg)
{
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (algs[i].alg == alg)
			return algs[i].name;
	return NULL;
}

int cose_alg_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (!strcmp(algs[i].name, name))
			return algs[i].alg;
	return 0;
}

/* ---- the pre-pass ---- */

struct scan {
	size_t len; /* bytes of the whole input: no count may exceed it */
	size_t rem[COSE_MAX_DEPTH + 1];
	size_t depth, items;
	const char *bad;
};

static void scan_item(struct scan *s)
{
	if (s->bad)
		return;
	if (++s->items > COSE_MAX_ITEMS) {
		s->bad = "more CBOR items than a fragment may have";
		return;
	}
	if (!s->depth) {
		s->bad = "more than one top-level item";
		return;
	}
	s->rem[s->depth - 1]--;
	while (s->depth && !s->rem[s->depth - 1])
		s->depth--;
}

static void scan_push(struct scan *s, size_t n)
{
	if (s->bad || !n)
		return;
	if (n > s->len)
		s->bad = "a declared length exceeds the document";
	else if (s->depth == COSE_MAX_DEPTH)
		s->bad = "nested too deeply";
	else
		s->rem[s->depth++] = n;
}

static void cb_item(void *ctx)
{
	scan_item(ctx);
}
static void cb_u8(void *ctx, uint8_t v)
{
	(void)v;
	scan_item(ctx);
}
static void cb_u16(void *ctx, uint16_t v)
{
	(void)v;
	scan_item(ctx);
}
static void cb_u32(void *ctx, uint32_t v)
{
	(void)v;
	scan_item(ctx);
}
static void cb_u64(void *ctx, uint64_t v)
{
	(void)v;
	scan_item(ctx);
}
static void cb_string(void *ctx, cbor_data d, size_t n)
{
	(void)d;
	(void)n;
	scan_item(ctx);
}
static void cb_array(void *ctx, size_t n)
{
	scan_item(ctx);
	scan_push(ctx, n);
}
static void cb_map(void *ctx, size_t n)
{
	scan_item(ctx);
	scan_push(ctx, n > SIZE_MAX / 2 ? SIZE_MAX : 2 * n);
}
static void cb_tag(void *ctx, uint64_t v)
{
	struct scan *s = ctx;
	(void)v;
	if (!s->bad && ++s->items > COSE_MAX_ITEMS)
		s->bad = "more CBOR items than a fragment may have";
}
static void cb_float(void *ctx, float v)
{
	(void)v;
	scan_item(ctx);
}
static void cb_double(void *ctx, double v)
{
	(void)v;
	scan_item(ctx);
}
static void cb_bool(void *ctx, bool v)
{
	(void)v;
	scan_item(ctx);
}
static void cb_indefinite(void *ctx)
{
	struct scan *s = ctx;
	if (!s->bad)
		s->bad = "indefinite-length items are not accepted";
}

static const struct cbor_callbacks scan_callbacks = {
	.uint8 = cb_u8,
	.uint16 = cb_u16,
	.uint32 = cb_u32,
	.uint64 = cb_u64,
	.negint8 = cb_u8,
	.negint16 = cb_u16,
	.negint32 = cb_u32,
	.negint64 = cb_u64,
	.byte_string_start = cb_indefinite,
	.byte_string = cb_string,
	.string = cb_string,
	.string_start = cb_indefinite,
	.indef_array_start = cb_indefinite,
	.array_start = cb_array,
	.indef_map_start = cb_indefinite,
	.map_start = cb_map,
	.tag = cb_tag,
	.float2 = cb_float,
	.float4 = cb_float,
	.float8 = cb_double,
	.undefined = cb_item,
	.null = cb_item,
	.boolean = cb_bool,
	.indef_break = cb_indefinite,
};

/* Exactly one well-formed, bounded CBOR item fills buf; then build its tree. */
static int load_item(const uint8_t *buf, size_t len, const char *field, cbor_item_t **out,
		     struct cose_fault *f)
{
	struct scan s = {.len = len, .rem = {1}, .depth = 1};
	size_t off = 0;
	*out = NULL;
	if (!len)
		return fault(f, field, EINVAL, "empty");
	while (s.depth && !s.bad) {
		if (off == len)
			return fault(f, field, EINVAL, "truncated CBOR");
		struct cbor_decoder_result r =
			cbor_stream_decode(buf + off, len - off, &scan_callbacks, &s);
		if (r.status == CBOR_DECODER_NEDATA)
			return fault(f, field, EINVAL, "truncated CBOR");
		if (r.status != CBOR_DECODER_FINISHED || !r.read)
			return fault(f, field, EINVAL, "malformed CBOR");
		off += r.read;
	}
	if (s.bad)
		return fault(f, field, EINVAL, "%s", s.bad);
	if (off != len)
		return fault(f, field, EINVAL, "%zu bytes after the CBOR item", len - off);
	struct cbor_load_result res;
	*out = cbor_load(buf, len, &res);
	if (!*out)
		return res.error.code == CBOR_ERR_MEMERROR
			       ? fault(f, field, ENOMEM, "out of memory")
			       : fault(f, field, EINVAL, "malformed CBOR");
	return 0;
}

/* ---- header values ---- */

static bool is_int(cbor_item_t *it)
{
	return cbor_isa_uint(it) || cbor_isa_negint(it);
}

/* An integer label or value within int64; false when out of range. */
static bool int_value(cbor_item_t *it, int64_t *v)
{
	uint64_t n = cbor_get_int(it);
	if (n > INT64_MAX)
		return false;
	*v = cbor_isa_uint(it) ? (int64_t)n : -1 - (int64_t)n;
	return true;
}

/* Does `label` name integer i / text t? */
static bool label_is(cbor_item_t *label, int64_t i, const char *t)
{
	int64_t v;
	if (t)
		return cbor_isa_string(label) && cbor_string_length(label) == strlen(t) &&
		       !memcmp(cbor_string_handle(label), t, strlen(t));
	return is_int(label) && int_value(label, &v) && v == i;
}

static bool labels_equal(cbor_item_t *a, cbor_item_t *b)
{
	if (is_int(a) && is_int(b))
		return cbor_isa_uint(a) == cbor_isa_uint(b) && cbor_get_int(a) == cbor_get_int(b);
	return cbor_isa_string(a) && cbor_isa_string(b) &&
	       cbor_string_length(a) == cbor_string_length(b) &&
	       !memcmp(cbor_string_handle(a), cbor_string_handle(b), cbor_string_length(a));
}

static void label_text(cbor_item_t *label, char *buf, size_t size)
{
	int64_t v;
	if (is_int(label) && int_value(label, &v))
		snprintf(buf, size, "%lld", (long long)v);
	else if (cbor_isa_string(label))
		snprintf(buf, size, "\"%.*s\"",
			 (int)(cbor_string_length(label) > 40 ? 40 : cbor_string_length(label)),
			 (const char *)cbor_string_handle(label));
	else
		snprintf(buf, size, "(not an integer or text)");
}

/* A text value as a NUL-terminated copy kept in the priv struct. */
static int text_value(struct priv *pv, cbor_item_t *v, const char *field, const char **out,
		      struct cose_fault *f)
{
	if (!cbor_isa_string(v))
		return fault(f, field, EINVAL, "expected a text string");
	size_t n = cbor_string_length(v);
	if (!n || n > COSE_MAX_TEXT)
		return fault(f, field, EINVAL, "must be 1 to %d bytes", COSE_MAX_TEXT);
	if (memchr(cbor_string_handle(v), 0, n))
		return fault(f, field, EINVAL, "contains a NUL byte");
	if (pv->n_strings == sizeof(pv->strings) / sizeof(pv->strings[0]))
		return fault(f, field, EINVAL, "given more than once");
	char *s = malloc(n + 1);
	if (!s)
		return fault(f, field, ENOMEM, "out of memory");
	memcpy(s, cbor_string_handle(v), n);
	s[n] = 0;
	pv->strings[pv->n_strings++] = s;
	*out = s;
	return 0;
}

static int read_chain(struct cose_sign1 *m, cbor_item_t *v, struct cose_fault *f)
{
	cbor_item_t *single[1] = {v};
	cbor_item_t **certs = single;
	size_t n = 1;
	if (cbor_isa_array(v)) {
		n = cbor_array_size(v);
		certs = cbor_array_handle(v);
		if (!n)
			return fault(f, "x5chain", EINVAL, "empty certificate array");
	}
	if (n > COSE_MAX_CHAIN)
		return fault(f, "x5chain", E2BIG, "more than %d certificates", COSE_MAX_CHAIN);
	for (size_t i = 0; i < n; i++) {
		if (!cbor_isa_bytestring(certs[i]))
			return fault(
				f, "x5chain", EINVAL,
				"expected a DER certificate (byte string) or an array of them");
		size_t len = cbor_bytestring_length(certs[i]);
		if (!len || len > COSE_MAX_CERT)
			return fault(f, "x5chain", E2BIG, "certificate %zu: 1 to %u bytes", i,
				     COSE_MAX_CERT);
		m->chain[i] = cbor_bytestring_handle(certs[i]);
		m->chain_len[i] = len;
	}
	m->n_chain = n;
	return 0;
}

static int read_cwt_claims(struct priv *pv, cbor_item_t *v, struct cose_fault *f)
{
	if (!cbor_isa_map(v))
		return fault(f, "cwt_claims", EINVAL, "expected a map");
	struct cbor_pair *pairs = cbor_map_handle(v);
	for (size_t i = 0; i < cbor_map_size(v); i++) {
		for (size_t j = 0; j < i; j++)
			if (labels_equal(pairs[i].key, pairs[j].key))
				return fault(f, "cwt_claims", EINVAL, "a claim appears twice");
		int ret = 0;
		if (label_is(pairs[i].key, 1, NULL))
			ret = text_value(pv, pairs[i].value, "cwt_claims", &pv->cwt_iss, f);
		else if (label_is(pairs[i].key, 2, NULL))
			ret = text_value(pv, pairs[i].value, "cwt_claims", &pv->cwt_sub, f);
		if (ret)
			return ret;
	}
	return 0;
}

/* The labels this decoder understands (and so may be listed in crit). */
static bool label_known(cbor_item_t *l)
{
	return label_is(l, COSE_HDR_ALG, NULL) || label_is(l, COSE_HDR_CONTENT_TYPE, NULL) ||
	       label_is(l, COSE_HDR_CWT_CLAIMS, NULL) || label_is(l, COSE_HDR_X5CHAIN, NULL) ||
	       label_is(l, 0, COSE_HDR_ISS) || label_is(l, 0, COSE_HDR_FEED) ||
	       label_is(l, 0, COSE_HDR_SVN) || label_is(l, COSE_HDR_CRIT, NULL);
}

static int read_protected(struct cose_sign1 *m, struct priv *pv, cbor_item_t *map,
			  struct cose_fault *f)
{
	if (!cbor_isa_map(map))
		return fault(f, "protected", EINVAL, "the protected header is not a map");
	size_t n = cbor_map_size(map);
	if (n > MAX_MAP_PAIRS)
		return fault(f, "protected", E2BIG, "more than %d header parameters",
			     MAX_MAP_PAIRS);
	struct cbor_pair *pairs = cbor_map_handle(map);
	bool has_alg = false;
	for (size_t i = 0; i < n; i++) {
		cbor_item_t *k = pairs[i].key, *v = pairs[i].value;
		char lt[64];
		int ret = 0;
		if (!is_int(k) && !cbor_isa_string(k))
			return fault(f, "protected", EINVAL, "a label is neither integer nor text");
		for (size_t j = 0; j < i; j++)
			if (labels_equal(k, pairs[j].key)) {
				label_text(k, lt, sizeof(lt));
				return fault(f, "protected", EINVAL, "label %s appears twice", lt);
			}
		if (label_is(k, COSE_HDR_ALG, NULL)) {
			int64_t a;
			if (!is_int(v) || !int_value(v, &a))
				return fault(f, "alg", EINVAL, "expected an integer");
			if (a < INT32_MIN || a > INT32_MAX || !cose_alg_name((int)a))
				return fault(f, "alg", EINVAL,
					     "algorithm %lld is not ES256, ES384, PS256 or PS384",
					     (long long)a);
			m->alg = (int)a;
			has_alg = true;
		} else if (label_is(k, COSE_HDR_CRIT, NULL)) {
			if (!cbor_isa_array(v) || !cbor_array_size(v) ||
			    cbor_array_size(v) > MAX_CRIT)
				return fault(f, "crit", EINVAL, "expected 1 to %d labels",
					     MAX_CRIT);
			pv->crit = v;
		} else if (label_is(k, COSE_HDR_CONTENT_TYPE, NULL)) {
			ret = text_value(pv, v, "content_type", &m->content_type, f);
			if (!ret && strcmp(m->content_type, "application/json"))
				ret = fault(f, "content_type", EINVAL,
					    "'%s' is not application/json", m->content_type);
		} else if (label_is(k, COSE_HDR_CWT_CLAIMS, NULL)) {
			ret = read_cwt_claims(pv, v, f);
		} else if (label_is(k, COSE_HDR_X5CHAIN, NULL)) {
			ret = read_chain(m, v, f);
		} else if (label_is(k, 0, COSE_HDR_ISS)) {
			ret = text_value(pv, v, "iss", &pv->hdr_iss, f);
		} else if (label_is(k, 0, COSE_HDR_FEED)) {
			ret = text_value(pv, v, "feed", &pv->hdr_feed, f);
		} else if (label_is(k, 0, COSE_HDR_SVN)) {
			if (!cbor_isa_uint(v))
				return fault(f, "svn", EINVAL, "expected an unsigned integer");
			m->svn = cbor_get_int(v);
			pv->has_svn = true;
		}
		if (ret)
			return ret;
	}
	if (!has_alg)
		return fault(f, "alg", EINVAL, "missing from the protected header");
	if (!m->n_chain)
		return fault(f, "x5chain", EINVAL, "missing from the protected header");
	if (pv->hdr_iss && pv->cwt_iss && strcmp(pv->hdr_iss, pv->cwt_iss))
		return fault(f, "iss", EINVAL, "\"iss\" and the CWT issuer claim differ");
	if (pv->hdr_feed && pv->cwt_sub && strcmp(pv->hdr_feed, pv->cwt_sub))
		return fault(f, "feed", EINVAL, "\"feed\" and the CWT subject claim differ");
	m->issuer = pv->hdr_iss ? pv->hdr_iss : pv->cwt_iss;
	m->feed = pv->hdr_feed ? pv->hdr_feed : pv->cwt_sub;
	if (!m->issuer)
		return fault(f, "iss", EINVAL, "missing from the protected header");
	if (!m->feed)
		return fault(f, "feed", EINVAL, "missing from the protected header");
	if (!pv->has_svn)
		return fault(f, "svn", EINVAL, "missing from the protected header");
	if (pv->crit) {
		cbor_item_t **c = cbor_array_handle(pv->crit);
		for (size_t i = 0; i < cbor_array_size(pv->crit); i++) {
			char lt[64];
			bool present = false;
			label_text(c[i], lt, sizeof(lt));
			if (!is_int(c[i]) && !cbor_isa_string(c[i]))
				return fault(f, "crit", EINVAL,
					     "a label is neither integer nor text");
			if (!label_known(c[i]))
				return fault(f, "crit", EINVAL,
					     "critical header %s is not understood", lt);
			for (size_t j = 0; j < n && !present; j++)
				present = labels_equal(c[i], pairs[j].key);
			if (!present)
				return fault(f, "crit", EINVAL,
					     "critical header %s is not in the protected header",
					     lt);
		}
	}
	return 0;
}

static int read_unprotected(cbor_item_t *map, struct cose_fault *f)
{
	if (!cbor_isa_map(map))
		return fault(f, "unprotected", EINVAL, "the unprotected header is not a map");
	if (cbor_map_size(map) > MAX_MAP_PAIRS)
		return fault(f, "unprotected", E2BIG, "more than %d header parameters",
			     MAX_MAP_PAIRS);
	struct cbor_pair *pairs = cbor_map_handle(map);
	for (size_t i = 0; i < cbor_map_size(map); i++) {
		char lt[64];
		label_text(pairs[i].key, lt, sizeof(lt));
		if (label_known(pairs[i].key))
			return fault(f, "unprotected", EINVAL,
				     "header %s must be in the protected header", lt);
		for (size_t j = 0; j < i; j++)
			if (labels_equal(pairs[i].key, pairs[j].key))
				return fault(f, "unprotected", EINVAL, "label %s appears twice",
					     lt);
	}
	return 0;
}

void cose_sign1_free(struct cose_sign1 *m)
{
	if (!m)
		return;
	struct priv *pv = m->priv;
	if (pv) {
		for (size_t i = 0; i < pv->n_strings; i++)
			free(pv->strings[i]);
		if (pv->protected_map)
			cbor_decref(&pv->protected_map);
		if (pv->root)
			cbor_decref(&pv->root);
		free(pv);
	}
	free(m);
}

int cose_sign1_decode(const uint8_t *doc, size_t len, struct cose_sign1 **out, struct cose_fault *f)
{
	*out = NULL;
	if (len > COSE_MAX_DOCUMENT)
		return fault(f, "document", E2BIG, "larger than %u bytes", COSE_MAX_DOCUMENT);
	struct cose_sign1 *m = calloc(1, sizeof(*m));
	struct priv *pv = calloc(1, sizeof(*pv));
	if (!m || !pv) {
		free(m);
		free(pv);
		return fault(f, "document", ENOMEM, "out of memory");
	}
	m->priv = pv;
	cbor_item_t *top = NULL;
	/* libcbor 0.8 (Debian 12) refuses the one-byte form of tags 6..20, which is how tag 18
	 * is written: take it off here (the two-byte form 0xd8 0x12 reaches the check below). */
	bool tagged = len && doc[0] == 0xc0 + COSE_CBOR_TAG_SIGN1;
	int ret = load_item(doc + tagged, len - tagged, "document", &pv->root, f);
	if (ret)
		goto fail;
	top = pv->root;
	if (cbor_isa_tag(top)) {
		if (tagged || cbor_tag_value(top) != COSE_CBOR_TAG_SIGN1) {
			ret = fault(f, "document", EINVAL, "CBOR tag %llu is not COSE_Sign1 (18)",
				    (unsigned long long)cbor_tag_value(top));
			goto fail;
		}
		top = cbor_tag_item(top); /* a new reference */
		cbor_decref(&pv->root);
		pv->root = top;
	}
	if (!cbor_isa_array(top) || cbor_array_size(top) != 4) {
		ret = fault(f, "document", EINVAL,
			    "not a COSE_Sign1 array [protected, unprotected, payload, signature]");
		goto fail;
	}
	cbor_item_t **parts = cbor_array_handle(top);
	if (!cbor_isa_bytestring(parts[0])) {
		ret = fault(f, "protected", EINVAL, "expected a byte string");
		goto fail;
	}
	m->protected_hdr = cbor_bytestring_handle(parts[0]);
	m->protected_len = cbor_bytestring_length(parts[0]);
	if (!m->protected_len) {
		ret = fault(f, "alg", EINVAL, "missing: the protected header is empty");
		goto fail;
	}
	ret = load_item(m->protected_hdr, m->protected_len, "protected", &pv->protected_map, f);
	if (!ret)
		ret = read_protected(m, pv, pv->protected_map, f);
	if (!ret)
		ret = read_unprotected(parts[1], f);
	if (ret)
		goto fail;
	if (cbor_is_null(parts[2])) {
		ret = fault(f, "payload", EINVAL, "detached payloads are not accepted");
		goto fail;
	}
	if (!cbor_isa_bytestring(parts[2]) || !cbor_bytestring_length(parts[2])) {
		ret = fault(f, "payload", EINVAL, "expected a non-empty byte string");
		goto fail;
	}
	m->payload = cbor_bytestring_handle(parts[2]);
	m->payload_len = cbor_bytestring_length(parts[2]);
	if (!cbor_isa_bytestring(parts[3]) || !cbor_bytestring_length(parts[3])) {
		ret = fault(f, "signature", EINVAL, "expected a non-empty byte string");
		goto fail;
	}
	m->signature = cbor_bytestring_handle(parts[3]);
	m->signature_len = cbor_bytestring_length(parts[3]);
	*out = m;
	return 0;
fail:
	cose_sign1_free(m);
	return ret;
}

/* ---- verification ---- */

static size_t cbor_head(uint8_t major, uint64_t n, uint8_t out[9])
{
	major <<= 5;
	if (n < 24) {
		out[0] = major | (uint8_t)n;
		return 1;
	}
	size_t bytes = n <= 0xff ? 1 : n <= 0xffff ? 2 : n <= 0xffffffffu ? 4 : 8;
	out[0] = major | (bytes == 1 ? 24 : bytes == 2 ? 25 : bytes == 4 ? 26 : 27);
	for (size_t i = 0; i < bytes; i++)
		out[1 + i] = (uint8_t)(n >> (8 * (bytes - 1 - i)));
	return 1 + bytes;
}

/* Feed Sig_structure = ["Signature1", protected, h'' (external_aad), payload] to a digest. */
static int digest_sig_structure(EVP_MD_CTX *mctx, const struct cose_sign1 *m)
{
	static const uint8_t prefix[] = {0x84, 0x6a, 'S', 'i', 'g', 'n',
					 'a',  't',  'u', 'r', 'e', '1'};
	static const uint8_t empty_bstr = 0x40;
	uint8_t h[9];
	size_t n;
	if (EVP_DigestVerifyUpdate(mctx, prefix, sizeof(prefix)) != 1)
		return -1;
	n = cbor_head(2, m->protected_len, h);
	if (EVP_DigestVerifyUpdate(mctx, h, n) != 1 ||
	    EVP_DigestVerifyUpdate(mctx, m->protected_hdr, m->protected_len) != 1 ||
	    EVP_DigestVerifyUpdate(mctx, &empty_bstr, 1) != 1)
		return -1;
	n = cbor_head(2, m->payload_len, h);
	if (EVP_DigestVerifyUpdate(mctx, h, n) != 1 ||
	    EVP_DigestVerifyUpdate(mctx, m->payload, m->payload_len) != 1)
		return -1;
	return 0;
}

/* Raw r||s (RFC 9053) to the DER ECDSA-Sig-Value OpenSSL verifies. */
static int ecdsa_der(const uint8_t *raw, size_t len, uint8_t **der, int *der_len)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, (int)(len / 2), NULL);
	BIGNUM *s = BN_bin2bn(raw + len / 2, (int)(len / 2), NULL);
	if (!sig || !r || !s || !ECDSA_SIG_set0(sig, r, s)) {
		ECDSA_SIG_free(sig);
		BN_free(r);
		BN_free(s);
		return -ENOMEM;
	}
	*der = NULL;
	*der_len = i2d_ECDSA_SIG(sig, der);
	ECDSA_SIG_free(sig);
	return *der_len > 0 ? 0 : -ENOMEM;
}

static int verify_signature(const struct cose_sign1 *m, EVP_PKEY *key, struct cose_fault *f)
{
	size_t a = 0;
	while (algs[a].alg != m->alg)
		a++;
	if (algs[a].curve) {
		char group[64] = "";
		size_t gl = 0;
		if (!EVP_PKEY_is_a(key, "EC") ||
		    !EVP_PKEY_get_group_name(key, group, sizeof(group), &gl) ||
		    strcmp(group, algs[a].curve))
			return fault(f, "alg", EACCES, "%s needs an EC %s leaf key", algs[a].name,
				     algs[a].curve);
		if (m->signature_len != algs[a].sig_len)
			return fault(f, "signature", EACCES, "%s signatures are %zu bytes, not %zu",
				     algs[a].name, algs[a].sig_len, m->signature_len);
	} else {
		if (!EVP_PKEY_is_a(key, "RSA") && !EVP_PKEY_is_a(key, "RSA-PSS"))
			return fault(f, "alg", EACCES, "%s needs an RSA leaf key", algs[a].name);
		if (EVP_PKEY_get_bits(key) < MIN_RSA_BITS)
			return fault(f, "alg", EACCES, "RSA keys of fewer than %d bits are refused",
				     MIN_RSA_BITS);
		if (m->signature_len != (size_t)EVP_PKEY_get_size(key))
			return fault(f, "signature", EACCES,
				     "%s signature is %zu bytes, the key's modulus %d",
				     algs[a].name, m->signature_len, EVP_PKEY_get_size(key));
	}
	const EVP_MD *md = EVP_get_digestbyname(algs[a].digest);
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	uint8_t *der = NULL;
	int der_len = 0, ret = -ENOMEM;
	if (!md || !mctx || EVP_DigestVerifyInit(mctx, &pctx, md, NULL, key) != 1)
		goto out;
	if (!algs[a].curve &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1))
		goto out;
	if (digest_sig_structure(mctx, m))
		goto out;
	const uint8_t *sig = m->signature;
	size_t sig_len = m->signature_len;
	if (algs[a].curve) {
		if (ecdsa_der(m->signature, m->signature_len, &der, &der_len))
			goto out;
		sig = der;
		sig_len = (size_t)der_len;
	}
	ret = EVP_DigestVerifyFinal(mctx, sig, sig_len) == 1
		      ? 0
		      : fault(f, "signature", EACCES,
			      "does not verify with the leaf certificate's key (%s)", algs[a].name);
out:
	if (ret == -ENOMEM)
		fault(f, "signature", ENOMEM, "OpenSSL failed (out of memory?)");
	OPENSSL_free(der);
	EVP_MD_CTX_free(mctx);
	return ret;
}

int cose_sign1_verify(const struct cose_sign1 *m, const char *did, time_t now, struct cose_fault *f)
{
	X509 *certs[COSE_MAX_CHAIN] = {0};
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) *untrusted = NULL, *verified = NULL;
	int ret;
	if (!did || strcmp(m->issuer, did))
		return fault(f, "iss", EACCES,
			     "the document's issuer is not the DID the policy "
			     "trusts for this feed");
	if (m->n_chain < 2)
		return fault(f, "x5chain", EACCES,
			     "a chain needs the leaf and at least one CA certificate");
	for (size_t i = 0; i < m->n_chain; i++) {
		const unsigned char *p = m->chain[i];
		certs[i] = d2i_X509(NULL, &p, (long)m->chain_len[i]);
		if (!certs[i] || p != m->chain[i] + m->chain_len[i]) {
			ret = fault(f, "x5chain", EINVAL,
				    "certificate %zu is not one DER certificate", i);
			goto out;
		}
	}
	store = X509_STORE_new();
	ctx = X509_STORE_CTX_new();
	untrusted = sk_X509_new_null();
	if (!store || !ctx || !untrusted || !X509_STORE_add_cert(store, certs[m->n_chain - 1]))
		goto oom;
	for (size_t i = 1; i + 1 < m->n_chain; i++)
		if (!sk_X509_push(untrusted, certs[i]))
			goto oom;
	if (!X509_STORE_CTX_init(ctx, store, certs[0], untrusted))
		goto oom;
	X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
	/* RFC 5280 path validation; the last certificate is the anchor even when it is an
	 * intermediate (did:x509 pins the CA by fingerprint, not by a trust store) */
	X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
	X509_VERIFY_PARAM_set_depth(param, COSE_MAX_CHAIN);
	if (now)
		X509_VERIFY_PARAM_set_time(param, now);
	if (X509_verify_cert(ctx) != 1) {
		int err = X509_STORE_CTX_get_error(ctx);
		ret = fault(f, "x5chain", EACCES, "certificate %d: %s",
			    X509_STORE_CTX_get_error_depth(ctx),
			    X509_verify_cert_error_string(err));
		goto out;
	}
	verified = X509_STORE_CTX_get1_chain(ctx);
	if (!verified)
		goto oom;
	uint32_t ku = X509_get_key_usage(certs[0]);
	if (ku != UINT32_MAX && !(ku & KU_DIGITAL_SIGNATURE)) {
		ret = fault(f, "x5chain", EACCES,
			    "the leaf certificate's key usage does not allow digital signatures");
		goto out;
	}
	struct errbuf eb = {0};
	ret = did_x509_resolve(did, verified, &eb);
	if (ret) {
		ret = fault(f, "did", ret == -ENOMEM ? ENOMEM : EACCES, "%s", errbuf_msg(&eb));
		goto out;
	}
	ret = verify_signature(m, X509_get0_pubkey(certs[0]), f);
	goto out;
oom:
	ret = fault(f, "x5chain", ENOMEM, "out of memory");
out:
	sk_X509_pop_free(verified, X509_free);
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	for (size_t i = 0; i < m->n_chain; i++)
		X509_free(certs[i]);
	return ret;
}
