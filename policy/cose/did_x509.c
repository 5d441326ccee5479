/* did_x509: parse a did:x509 DID and resolve it against a validated certificate chain. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "policy/cose/did_x509.h"

#define DID_PREFIX   "did:x509:"
#define MAX_PREDS    16
#define MAX_SEGMENTS 32 /* ':'-separated parts of one predicate value */
#define MAX_DIGEST   64

enum pred_kind { PRED_SUBJECT, PRED_SAN, PRED_EKU };

struct pred {
	enum pred_kind kind;
	const char *seg[MAX_SEGMENTS]; /* into the parser's copy, NUL-terminated, decoded */
	size_t n_seg;
};

struct did {
	char buf[DID_X509_MAX + 1]; /* a copy of the DID cut into NUL-terminated pieces */
	const EVP_MD *md;
	const char *md_name;
	uint8_t fp[MAX_DIGEST];
	size_t fp_len;
	struct pred preds[MAX_PREDS];
	size_t n_preds;
};

static const char *const fingerprint_algs[] = {"sha256", "sha384", "sha512"};

/* RFC 4514 labels the subject predicate may use instead of an OID. */
static const struct {
	const char *label;
	int nid;
} subject_labels[] = {
	{"CN", NID_commonName},
	{"L", NID_localityName},
	{"ST", NID_stateOrProvinceName},
	{"O", NID_organizationName},
	{"OU", NID_organizationalUnitName},
	{"C", NID_countryName},
	{"STREET", NID_streetAddress},
};

static const struct {
	const char *type;
	int gen;
} san_types[] = {
	{"email", GEN_EMAIL},
	{"dns", GEN_DNS},
	{"uri", GEN_URI},
};

static int b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Unpadded base64url; returns the decoded length or -1. */
static long b64url_decode(const char *s, uint8_t *out, size_t max)
{
	size_t n = strlen(s), o = 0;
	uint32_t acc = 0;
	int bits = 0;
	if (n % 4 == 1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int v = b64url_value(s[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == max)
				return -1;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* the unused low bits of the last character must be zero (one encoding per value) */
	if (bits && (acc & ((1u << bits) - 1)))
		return -1;
	return (long)o;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool unreserved(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_';
}

/* Decode one percent-encoded segment in place. */
static int pct_decode(char *s, struct errbuf *eb, const char *what)
{
	char *w = s;
	if (!*s)
		return errbuf_set(eb, EINVAL, "%s: empty value", what);
	for (const char *r = s; *r;) {
		if (*r == '%') {
			int hi = hexval(r[1]), lo = hi < 0 ? -1 : hexval(r[2]);
			if (hi < 0 || lo < 0)
				return errbuf_set(eb, EINVAL, "%s: bad percent-encoding", what);
			if (!hi && !lo)
				return errbuf_set(eb, EINVAL, "%s: encodes a NUL byte", what);
			*w++ = (char)(hi << 4 | lo);
			r += 3;
		} else if (unreserved(*r)) {
			*w++ = *r++;
		} else {
			return errbuf_set(eb, EINVAL, "%s: character '%c' must be percent-encoded",
					  what, *r);
		}
	}
	*w = 0;
	return 0;
}

static bool is_oid(const char *s)
{
	bool digit = false;
	for (; *s; s++) {
		if (*s >= '0' && *s <= '9')
			digit = true;
		else if (*s == '.' && digit)
			digit = false;
		else
			return false;
	}
	return digit;
}

static int subject_nid(const char *key)
{
	for (size_t i = 0; i < sizeof(subject_labels) / sizeof(subject_labels[0]); i++)
		if (!strcmp(subject_labels[i].label, key))
			return subject_labels[i].nid;
	return NID_undef;
}

static int parse_pred(struct did *d, char *text, struct errbuf *eb)
{
	if (d->n_preds == MAX_PREDS)
		return errbuf_set(eb, EINVAL, "more than %d predicates", MAX_PREDS);
	struct pred *p = &d->preds[d->n_preds];
	char *colon = strchr(text, ':');
	if (!colon || colon == text || !colon[1])
		return errbuf_set(eb, EINVAL, "predicate '%s': expected NAME:VALUE", text);
	*colon = 0;
	const char *name = text;
	if (!strcmp(name, "subject"))
		p->kind = PRED_SUBJECT;
	else if (!strcmp(name, "san"))
		p->kind = PRED_SAN;
	else if (!strcmp(name, "eku"))
		p->kind = PRED_EKU;
	else if (!strcmp(name, "fulcio-issuer"))
		return errbuf_set(eb, EINVAL, "predicate fulcio-issuer is not supported");
	else
		return errbuf_set(eb, EINVAL, "unknown predicate '%s'", name);
	/* split the value at ':' into non-empty segments */
	p->n_seg = 0;
	for (char *s = colon + 1;;) {
		if (p->n_seg == MAX_SEGMENTS)
			return errbuf_set(eb, EINVAL, "%s: too many parts", name);
		char *next = strchr(s, ':');
		if (next)
			*next = 0;
		if (!*s)
			return errbuf_set(eb, EINVAL, "%s: empty part", name);
		p->seg[p->n_seg++] = s;
		if (!next)
			break;
		s = next + 1;
	}
	switch (p->kind) {
	case PRED_SUBJECT:
		if (p->n_seg % 2)
			return errbuf_set(eb, EINVAL, "subject: expected KEY:VALUE pairs");
		for (size_t i = 0; i < p->n_seg; i += 2) {
			if (subject_nid(p->seg[i]) == NID_undef && !is_oid(p->seg[i]))
				return errbuf_set(
					eb, EINVAL,
					"subject: key '%s' is neither CN, L, ST, O, OU, C, "
					"STREET nor an OID",
					p->seg[i]);
			for (size_t j = 0; j < i; j += 2)
				if (!strcmp(p->seg[i], p->seg[j]))
					return errbuf_set(eb, EINVAL, "subject: key '%s' twice",
							  p->seg[i]);
			int ret = pct_decode((char *)p->seg[i + 1], eb, "subject");
			if (ret)
				return ret;
		}
		break;
	case PRED_SAN: {
		bool known = false;
		if (p->n_seg != 2)
			return errbuf_set(eb, EINVAL, "san: expected TYPE:VALUE");
		for (size_t i = 0; i < sizeof(san_types) / sizeof(san_types[0]); i++)
			known |= !strcmp(san_types[i].type, p->seg[0]);
		if (!known)
			return errbuf_set(eb, EINVAL, "san: type '%s' is not email, dns or uri",
					  p->seg[0]);
		int ret = pct_decode((char *)p->seg[1], eb, "san");
		if (ret)
			return ret;
		break;
	}
	case PRED_EKU:
		if (p->n_seg != 1 || !is_oid(p->seg[0]))
			return errbuf_set(eb, EINVAL, "eku: expected one dotted OID");
		break;
	}
	d->n_preds++;
	return 0;
}

static int did_parse(const char *text, struct did *d, struct errbuf *eb)
{
	memset(d, 0, sizeof(*d));
	size_t len = text ? strlen(text) : 0;
	if (!text || !len)
		return errbuf_set(eb, EINVAL, "empty DID");
	if (len > DID_X509_MAX)
		return errbuf_set(eb, EINVAL, "DID longer than %d bytes", DID_X509_MAX);
	if (strncmp(text, DID_PREFIX, strlen(DID_PREFIX)))
		return errbuf_set(eb, EINVAL, "not a did:x509 DID (expected '%s...')", DID_PREFIX);
	memcpy(d->buf, text, len + 1);
	char *s = d->buf + strlen(DID_PREFIX);
	char *sep = strstr(s, "::");
	if (!sep)
		return errbuf_set(eb, EINVAL,
				  "no predicate (expected '::subject:...' or '::eku:...')");
	*sep = 0;
	char *rest = sep + 2;
	/* version:alg:fingerprint */
	char *alg = strchr(s, ':');
	char *fp = alg ? strchr(alg + 1, ':') : NULL;
	if (!alg || !fp)
		return errbuf_set(eb, EINVAL, "expected did:x509:0:ALG:FINGERPRINT::...");
	*alg++ = 0;
	*fp++ = 0;
	if (strcmp(s, "0"))
		return errbuf_set(eb, EINVAL, "unsupported did:x509 version '%s' (only 0)", s);
	for (size_t i = 0; i < sizeof(fingerprint_algs) / sizeof(fingerprint_algs[0]); i++)
		if (!strcmp(fingerprint_algs[i], alg))
			d->md_name = fingerprint_algs[i];
	if (!d->md_name)
		return errbuf_set(eb, EINVAL,
				  "fingerprint algorithm '%s' is not sha256, sha384 or sha512",
				  alg);
	d->md = EVP_get_digestbyname(d->md_name);
	if (!d->md)
		return errbuf_set(eb, ENOMEM, "digest %s unavailable", d->md_name);
	long n = b64url_decode(fp, d->fp, sizeof(d->fp));
	if (n < 0 || (size_t)n != (size_t)EVP_MD_get_size(d->md))
		return errbuf_set(eb, EINVAL,
				  "CA fingerprint is not the unpadded base64url of a %s digest",
				  d->md_name);
	d->fp_len = (size_t)n;
	for (;;) {
		char *next = strstr(rest, "::");
		if (next)
			*next = 0;
		int ret = parse_pred(d, rest, eb);
		if (ret)
			return ret;
		if (!next)
			break;
		rest = next + 2;
	}
	return 0;
}

int did_x509_check_syntax(const char *did, struct errbuf *eb)
{
	struct did d;
	return did_parse(did, &d, eb);
}

/* The single value of attribute `obj` in `name`, as UTF-8; 1 = equal to want. */
static int subject_has(X509_NAME *name, const char *key, const char *want, struct errbuf *eb)
{
	int nid = subject_nid(key);
	ASN1_OBJECT *obj = nid != NID_undef ? OBJ_nid2obj(nid) : OBJ_txt2obj(key, 1);
	if (!obj)
		return errbuf_set(eb, EACCES, "subject: OID %s unknown", key);
	int idx = X509_NAME_get_index_by_OBJ(name, obj, -1);
	int again = idx < 0 ? -1 : X509_NAME_get_index_by_OBJ(name, obj, idx);
	if (nid == NID_undef)
		ASN1_OBJECT_free(obj);
	if (idx < 0)
		return errbuf_set(eb, EACCES, "subject: the leaf certificate has no %s", key);
	if (again >= 0)
		return errbuf_set(eb, EACCES, "subject: the leaf certificate has %s more than once",
				  key);
	X509_NAME_ENTRY *e = X509_NAME_get_entry(name, idx);
	unsigned char *utf8 = NULL;
	int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
	if (n < 0)
		return errbuf_set(eb, EACCES, "subject: %s is not a valid string", key);
	bool eq = (size_t)n == strlen(want) && !memcmp(utf8, want, (size_t)n);
	OPENSSL_free(utf8);
	if (!eq)
		return errbuf_set(eb, EACCES, "subject: the leaf certificate's %s differs", key);
	return 0;
}

static int check_subject(X509 *leaf, const struct pred *p, struct errbuf *eb)
{
	X509_NAME *name = X509_get_subject_name(leaf);
	for (size_t i = 0; i < p->n_seg; i += 2) {
		int ret = subject_has(name, p->seg[i], p->seg[i + 1], eb);
		if (ret)
			return ret;
	}
	return 0;
}

static int check_san(X509 *leaf, const struct pred *p, struct errbuf *eb)
{
	int gen = -1, crit = 0;
	for (size_t i = 0; i < sizeof(san_types) / sizeof(san_types[0]); i++)
		if (!strcmp(san_types[i].type, p->seg[0]))
			gen = san_types[i].gen;
	GENERAL_NAMES *names = X509_get_ext_d2i(leaf, NID_subject_alt_name, &crit, NULL);
	if (!names)
		return errbuf_set(eb, EACCES,
				  "san: the leaf certificate has no (single) "
				  "subject alternative name extension");
	bool found = false;
	size_t want = strlen(p->seg[1]);
	for (int i = 0; i < sk_GENERAL_NAME_num(names) && !found; i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		if (g->type != gen)
			continue;
		ASN1_IA5STRING *s = gen == GEN_EMAIL ? g->d.rfc822Name
				    : gen == GEN_DNS ? g->d.dNSName
						     : g->d.uniformResourceIdentifier;
		found = (size_t)ASN1_STRING_length(s) == want &&
			!memcmp(ASN1_STRING_get0_data(s), p->seg[1], want);
	}
	GENERAL_NAMES_free(names);
	if (!found)
		return errbuf_set(eb, EACCES, "san: the leaf certificate has no %s SAN '%s'",
				  p->seg[0], p->seg[1]);
	return 0;
}

static int check_eku(X509 *leaf, const struct pred *p, struct errbuf *eb)
{
	int crit = 0;
	EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(leaf, NID_ext_key_usage, &crit, NULL);
	if (!eku)
		return errbuf_set(eb, EACCES,
				  "eku: the leaf certificate has no (single) extended key usage");
	ASN1_OBJECT *want = OBJ_txt2obj(p->seg[0], 1);
	bool found = false;
	for (int i = 0; want && i < sk_ASN1_OBJECT_num(eku) && !found; i++)
		found = !OBJ_cmp(sk_ASN1_OBJECT_value(eku, i), want);
	ASN1_OBJECT_free(want);
	EXTENDED_KEY_USAGE_free(eku);
	if (!found)
		return errbuf_set(eb, EACCES, "eku: the leaf certificate does not have EKU %s",
				  p->seg[0]);
	return 0;
}

int did_x509_resolve(const char *did_text, struct stack_st_X509 *chain, struct errbuf *eb)
{
	struct did *d = OPENSSL_zalloc(sizeof(*d));
	if (!d)
		return errbuf_set(eb, ENOMEM, "out of memory");
	int ret = did_parse(did_text, d, eb);
	if (ret)
		goto out;
	int n = sk_X509_num(chain);
	if (n < 2) {
		ret = errbuf_set(eb, EACCES, "the chain has no CA certificate");
		goto out;
	}
	bool pinned = false;
	for (int i = 1; i < n && !pinned; i++) {
		uint8_t md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0;
		if (!X509_digest(sk_X509_value(chain, i), d->md, md, &mdlen)) {
			ret = errbuf_set(eb, ENOMEM, "certificate digest failed");
			goto out;
		}
		pinned = mdlen == d->fp_len && !memcmp(md, d->fp, mdlen);
	}
	if (!pinned) {
		ret = errbuf_set(eb, EACCES,
				 "CA fingerprint: no CA certificate in the chain has the %s "
				 "fingerprint the DID pins",
				 d->md_name);
		goto out;
	}
	X509 *leaf = sk_X509_value(chain, 0);
	for (size_t i = 0; i < d->n_preds && !ret; i++) {
		const struct pred *p = &d->preds[i];
		ret = p->kind == PRED_SUBJECT ? check_subject(leaf, p, eb)
		      : p->kind == PRED_SAN   ? check_san(leaf, p, eb)
					      : check_eku(leaf, p, eb);
	}
out:
	OPENSSL_free(d);
	return ret;
}
