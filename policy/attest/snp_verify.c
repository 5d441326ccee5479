/* snp_verify: check a report against its endorsement chain and the claims. */
#include "policy/attest/snp_verify.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "common/digest.h"
#include "common/encoding.h"
#include "policy/attest/snp_certs_priv.h"

static const char *const role_names[] = {
	[SNP_ROLE_ARK] = "ARK", [SNP_ROLE_ASK] = "ASK", [SNP_ROLE_ASVK] = "ASVK",
	[SNP_ROLE_VCEK] = "VCEK", [SNP_ROLE_VLEK] = "VLEK",
};

__attribute__((format(printf, 4, 5))) static void add_check(struct snp_verdict *v, const char *name,
							    bool held, const char *fmt, ...)
{
	if (v->n_checks >= SNP_MAX_CHECKS)
		return;
	struct snp_check *c = &v->checks[v->n_checks++];
	va_list ap;
	c->name = name;
	c->held = held;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
}

static void format_time(time_t t, char *out, size_t n)
{
	struct tm tm;
	if (!gmtime_r(&t, &tm) || strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, n, "@%lld", (long long)t);
}

static void tcb_text(const struct snp_tcb *t, enum snp_product p, char *out, size_t n)
{
	if (p == SNP_PRODUCT_TURIN)
		snprintf(out, n, "fmc=%u bl=%u tee=%u snp=%u ucode=%u", t->fmc, t->bootloader,
			 t->tee, t->snp, t->microcode);
	else
		snprintf(out, n, "bl=%u tee=%u snp=%u ucode=%u", t->bootloader, t->tee, t->snp,
			 t->microcode);
}

/* REPORTED_TCB against the leaf's SPL extensions. */
static bool tcb_matches(const struct snp_cert *leaf, const struct snp_report *r,
			enum snp_product p, char *why, size_t n)
{
	struct snp_tcb t;
	char rt[80], ct[80];
	if (snp_tcb_decode(r->reported_tcb, p, &t) < 0) {
		snprintf(why, n, "REPORTED_TCB %016llx has a non-zero reserved byte for %s",
			 (unsigned long long)__builtin_bswap64(r->reported_tcb), snp_product_name(p));
		return false;
	}
	static const struct {
		int arc;
		const char *name;
	} required[] = {
		{ SNP_SPL_BOOTLOADER, "blSPL" },
		{ SNP_SPL_TEE, "teeSPL" },
		{ SNP_SPL_SNP, "snpSPL" },
		{ SNP_SPL_MICROCODE, "ucodeSPL" },
		{ SNP_SPL_FMC, "fmcSPL" },
	};
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (required[i].arc == SNP_SPL_FMC && p != SNP_PRODUCT_TURIN)
			continue;
		if (!leaf->spl_present[required[i].arc]) {
			snprintf(why, n, "%s has no %s extension (1.3.6.1.4.1.3704.1.3.%d)",
				 role_names[leaf->role], required[i].name, required[i].arc);
			return false;
		}
	}
	for (int arc = 4; arc <= 7; arc++)
		if (leaf->spl_present[arc] && leaf->spl[arc] != 0) {
			snprintf(why, n, "%s reserved SPL extension .3.%d is %u, expected 0",
				 role_names[leaf->role], arc, leaf->spl[arc]);
			return false;
		}
	struct snp_tcb c = {
		.fmc = p == SNP_PRODUCT_TURIN ? leaf->spl[SNP_SPL_FMC] : 0,
		.bootloader = leaf->spl[SNP_SPL_BOOTLOADER],
		.tee = leaf->spl[SNP_SPL_TEE],
		.snp = leaf->spl[SNP_SPL_SNP],
		.microcode = leaf->spl[SNP_SPL_MICROCODE],
	};
	tcb_text(&t, p, rt, sizeof(rt));
	tcb_text(&c, p, ct, sizeof(ct));
	if (memcmp(&t, &c, sizeof(t)) != 0) {
		snprintf(why, n, "REPORTED_TCB (%s) differs from the %s's TCB (%s)", rt,
			 role_names[leaf->role], ct);
		return false;
	}
	snprintf(why, n, "REPORTED_TCB %s equals the %s's TCB extensions", rt,
		 role_names[leaf->role]);
	return true;
}

static size_t hwid_len_for(enum snp_product p)
{
	return p == SNP_PRODUCT_TURIN ? SNP_CHIP_ID_TURIN_SIZE : SNP_CHIP_ID_SIZE;
}

static bool chip_id_matches(const struct snp_cert *leaf, const struct snp_report *r,
			    enum snp_product p, char *why, size_t n)
{
	size_t want = hwid_len_for(p);
	char rh[2 * 8 + 1], ch[2 * 8 + 1];
	if (r->signer_info & SNP_SIGNER_MASK_CHIP_KEY) {
		snprintf(why, n, "CHIP_ID is masked (MASK_CHIP_KEY set): cannot bind the report to "
				 "the VCEK");
		return false;
	}
	if (leaf->hwid_len == 0) {
		snprintf(why, n, "VCEK has no hwID extension (1.3.6.1.4.1.3704.1.4)");
		return false;
	}
	if (leaf->hwid_len != want) {
		snprintf(why, n, "VCEK hwID has %zu bytes, expected %zu for %s", leaf->hwid_len,
			 want, snp_product_name(p));
		return false;
	}
	hex_encode(r->chip_id, 8, rh);
	hex_encode(leaf->hwid, 8, ch);
	if (memcmp(leaf->hwid, r->chip_id, want) != 0) {
		snprintf(why, n, "CHIP_ID %s... differs from the VCEK hwID %s...", rh, ch);
		return false;
	}
	for (size_t i = want; i < SNP_CHIP_ID_SIZE; i++)
		if (r->chip_id[i]) {
			snprintf(why, n, "CHIP_ID byte %zu is not zero (a %s chip id has %zu bytes)", i,
				 snp_product_name(p), want);
			return false;
		}
	snprintf(why, n, "CHIP_ID %s... equals the VCEK hwID (%zu bytes)", rh, want);
	return true;
}

/* SHA-384 of the signed bytes with the store's pre-fetched digest. */
static int signed_digest(struct snp_certs *c, const uint8_t *raw, uint8_t out[SHA384_LEN])
{
	unsigned int n = 0;
	if (!c->sha384)
		c->sha384 = EVP_MD_fetch(NULL, "SHA384", NULL);
	if (!c->sha384)
		return -EIO;
	return EVP_Digest(raw, SNP_REPORT_SIGNED_SIZE, out, &n, c->sha384, NULL) == 1 ? 0 : -EIO;
}

/* The leaf's verify context, initialised once and reused: EVP_PKEY_verify
 * may be called repeatedly on one initialised context. */
static EVP_PKEY_CTX *leaf_verify_ctx(struct snp_cert *leaf)
{
	if (leaf->verify_ctx)
		return leaf->verify_ctx;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(leaf->pkey, NULL);
	if (!ctx || EVP_PKEY_verify_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha384()) != 1) {
		EVP_PKEY_CTX_free(ctx);
		return NULL;
	}
	leaf->verify_ctx = ctx;
	return ctx;
}

static bool signature_valid(struct snp_certs *c, struct snp_cert *leaf, const uint8_t *raw,
			    const struct snp_report *r, char *why, size_t n)
{
	uint8_t digest[SHA384_LEN];
	unsigned char *der = NULL;
	int der_len;
	bool ok = false;

	if (r->signature_algo != SNP_SIG_ALGO_ECDSA_P384_SHA384) {
		snprintf(why, n, "SIGNATURE_ALGO %u is not 1 (ECDSA P-384 with SHA-384)",
			 r->signature_algo);
		return false;
	}
	for (size_t i = 48; i < SNP_SIG_COMPONENT_SIZE; i++)
		if (r->sig_r[i] || r->sig_s[i]) {
			snprintf(why, n, "signature %s has a non-zero byte %zu beyond the 48 P-384 bytes",
				 r->sig_r[i] ? "R" : "S", i);
			return false;
		}
	if (signed_digest(c, raw, digest) < 0) {
		snprintf(why, n, "SHA-384 failed");
		return false;
	}
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *br = BN_lebin2bn(r->sig_r, 48, NULL), *bs = BN_lebin2bn(r->sig_s, 48, NULL);
	if (!sig || !br || !bs || ECDSA_SIG_set0(sig, br, bs) != 1) {
		BN_free(br);
		BN_free(bs);
		ECDSA_SIG_free(sig);
		snprintf(why, n, "out of memory");
		return false;
	}
	der_len = i2d_ECDSA_SIG(sig, &der);
	ECDSA_SIG_free(sig);
	EVP_PKEY_CTX *ctx = leaf_verify_ctx(leaf);
	if (der_len > 0 && ctx)
		ok = EVP_PKEY_verify(ctx, der, (size_t)der_len, digest, sizeof(digest)) == 1;
	OPENSSL_free(der);
	ERR_clear_error();
	if (ok)
		snprintf(why, n, "ECDSA P-384/SHA-384 signature over bytes 0x000-0x29f verifies "
				 "with the %s", role_names[leaf->role]);
	else
		snprintf(why, n, "ECDSA P-384/SHA-384 signature over bytes 0x000-0x29f does not "
				 "verify with the %s", role_names[leaf->role]);
	return ok;
}

/* The leaf that fits the report best: right kind, then hwID, then TCB. */
static long select_leaf(const struct snp_certs *c, const struct snp_report *r,
			enum snp_cert_role role)
{
	long best = -1;
	int best_score = -1;
	char why[SNP_CHECK_DETAIL_SIZE];
	for (size_t i = 0; i < c->n; i++) {
		const struct snp_cert *leaf = &c->certs[i];
		if (leaf->role != role)
			continue;
		enum snp_product p = snp_cert_leaf_product(leaf);
		int score = 0;
		if (role == SNP_ROLE_VCEK && chip_id_matches(leaf, r, p, why, sizeof(why)))
			score += 2;
		if (tcb_matches(leaf, r, p, why, sizeof(why)))
			score += 1;
		if (score > best_score) {
			best = (long)i;
			best_score = score;
		}
	}
	return best;
}

static bool cert_valid_at(const struct snp_cert *sc, time_t t, char *why, size_t n)
{
	char a[32], b[32], at[32];
	if (t >= sc->not_before && t <= sc->not_after)
		return true;
	format_time(sc->not_before, a, sizeof(a));
	format_time(sc->not_after, b, sizeof(b));
	format_time(t, at, sizeof(at));
	snprintf(why, n, "%s \"%s\" is not valid at %s (valid %s to %s)", role_names[sc->role],
		 sc->cn, at, a, b);
	return false;
}

static void hex_pair(char *why, size_t n, const char *what, const uint8_t *want,
		     const uint8_t *got, size_t len)
{
	char w[2 * 64 + 1], g[2 * 64 + 1];
	hex_encode(want, len, w);
	hex_encode(got, len, g);
	if (memcmp(want, got, len) == 0)
		snprintf(why, n, "%s is %s", what, g);
	else
		snprintf(why, n, "%s: expected %s, got %s", what, w, g);
}

/* An equality claim over a byte field. */
static void bytes_claim(struct snp_verdict *v, const char *name, const char *field,
			const uint8_t *want, const uint8_t *got, size_t len)
{
	char why[SNP_CHECK_DETAIL_SIZE];
	hex_pair(why, sizeof(why), field, want, got, len);
	add_check(v, name, memcmp(want, got, len) == 0, "%s", why);
}

static void check_claims(const struct snp_claims *cl, const struct snp_report *r,
			 enum snp_product p, struct snp_verdict *v)
{
	if (cl->check_min_tcb) {
		struct snp_tcb have, min = cl->min_tcb;
		char ht[80], mt[80];
		if (cl->min_tcb_is_raw)
			snp_tcb_decode(cl->min_tcb_raw, p, &min);
		snp_tcb_decode(r->reported_tcb, p, &have);
		tcb_text(&have, p, ht, sizeof(ht));
		tcb_text(&min, p, mt, sizeof(mt));
		bool ok = have.bootloader >= min.bootloader && have.tee >= min.tee &&
			  have.snp >= min.snp && have.microcode >= min.microcode &&
			  (p != SNP_PRODUCT_TURIN || have.fmc >= min.fmc);
		add_check(v, "min_tcb", ok, "REPORTED_TCB %s %s the minimum %s", ht,
			  ok ? "meets" : "is below", mt);
	}
	if (cl->check_vmpl)
		add_check(v, "vmpl", r->vmpl == cl->vmpl, "VMPL: expected %u, got %u", cl->vmpl,
			  r->vmpl);
	if (cl->check_measurement)
		bytes_claim(v, "measurement", "MEASUREMENT", cl->measurement, r->measurement,
			    SNP_MEASUREMENT_SIZE);
	if (cl->check_host_data) {
		char what[160];
		snprintf(what, sizeof(what), "HOST_DATA%s%s%s",
			 cl->host_data_source ? " (SHA-256 of " : "",
			 cl->host_data_source ? cl->host_data_source : "",
			 cl->host_data_source ? ")" : "");
		bytes_claim(v, "host_data", what, cl->host_data, r->host_data, SNP_HOST_DATA_SIZE);
	}
	if (cl->check_report_data)
		bytes_claim(v, "report_data", "REPORT_DATA", cl->report_data, r->report_data,
			    SNP_REPORT_DATA_SIZE);
	if (cl->check_family_id)
		bytes_claim(v, "family_id", "FAMILY_ID", cl->family_id, r->family_id,
			    SNP_FAMILY_ID_SIZE);
	if (cl->check_image_id)
		bytes_claim(v, "image_id", "IMAGE_ID", cl->image_id, r->image_id,
			    SNP_FAMILY_ID_SIZE);
	if (cl->check_id_key_digest)
		bytes_claim(v, "id_key_digest", "ID_KEY_DIGEST", cl->id_key_digest,
			    r->id_key_digest, SNP_ID_DIGEST_SIZE);
	if (cl->check_min_guest_svn)
		add_check(v, "min_guest_svn", r->guest_svn >= cl->min_guest_svn,
			  "GUEST_SVN %u %s the minimum %u", r->guest_svn,
			  r->guest_svn >= cl->min_guest_svn ? "meets" : "is below",
			  cl->min_guest_svn);
}

static void finish(struct snp_verdict *v)
{
	v->verified = v->n_checks > 0;
	v->first_failure = NULL;
	for (size_t i = 0; i < v->n_checks; i++)
		if (!v->checks[i].held) {
			v->verified = false;
			if (!v->first_failure)
				v->first_failure = &v->checks[i];
		}
}

int snp_verify_report(struct snp_certs *certs, const uint8_t *raw, size_t len,
		      const struct snp_claims *cl, struct snp_verdict *v, struct errbuf *eb)
{
	static const struct snp_claims no_claims;
	char why[SNP_CHECK_DETAIL_SIZE];
	struct snp_report *r = &v->report;
	int ret;

	memset(v, 0, sizeof(*v));
	if (!cl)
		cl = &no_claims;
	ret = snp_report_parse(raw, len, r, eb);
	if (ret < 0) {
		add_check(v, "report_format", false, "%s", errbuf_msg(eb));
		finish(v);
		return ret;
	}
	v->report_parsed = true;
	add_check(v, "report_format", true, "version %u report, %d bytes, reserved fields zero",
		  r->version, SNP_REPORT_SIZE);

	time_t t = cl->have_time ? cl->time : time(NULL);
	enum snp_signing_key key = snp_report_signing_key(r);
	enum snp_cert_role role = key == SNP_SIGNING_KEY_VLEK ? SNP_ROLE_VLEK : SNP_ROLE_VCEK;
	struct snp_cert *leaf = NULL;
	const struct snp_chain *chain = NULL;

	if (key == SNP_SIGNING_KEY_NONE) {
		add_check(v, "endorsement_chain", false,
			  "report is not signed (SIGNING_KEY = none)");
	} else if (!certs) {
		add_check(v, "endorsement_chain", false, "no certificates given");
	} else {
		long li = select_leaf(certs, r, role);
		if (li < 0) {
			add_check(v, "endorsement_chain", false,
				  "the report is signed by a %s but there is no %s among the "
				  "certificates",
				  role_names[role], role_names[role]);
		} else {
			leaf = &certs->certs[li];
			chain = snp_certs_chain_for(certs, (size_t)li);
			if (!chain)
				return errbuf_set(eb, ENOMEM, "out of memory");
		}
	}

	enum snp_product p = SNP_PRODUCT_UNKNOWN;
	if (chain) {
		if (chain->ok) {
			const struct snp_cert *ca = &certs->certs[chain->ca];
			const struct snp_cert *ark = &certs->certs[chain->ark];
			p = chain->product;
			v->product = p;
			v->dev_chain = chain->dev;
			add_check(v, "endorsement_chain", true,
				  "%s <- %s \"%s\" <- ARK \"%s\" (%s); RSASSA-PSS SHA-384 signatures "
				  "verify",
				  role_names[leaf->role], role_names[ca->role], ca->cn, ark->cn,
				  chain->dev ? "Parma DEVELOPMENT root, not AMD"
					     : "pinned AMD root key");
			char at[32];
			format_time(t, at, sizeof(at));
			bool valid = cert_valid_at(leaf, t, why, sizeof(why)) &&
				     cert_valid_at(ca, t, why, sizeof(why)) &&
				     cert_valid_at(ark, t, why, sizeof(why));
			if (valid)
				snprintf(why, sizeof(why), "%s, %s and ARK are valid at %s%s",
					 role_names[leaf->role], role_names[ca->role], at,
					 cl->have_time ? " (--at)" : " (now)");
			add_check(v, "certificates_valid", valid, "%s", why);
			if (chain->n_crls_checked > 0)
				add_check(v, "not_revoked", true, "%s (%d CRL%s checked)",
					  chain->crl_detail, chain->n_crls_checked,
					  chain->n_crls_checked == 1 ? "" : "s");
			else if (cl->require_crl)
				add_check(v, "not_revoked", false,
					  "no revocation list (CRL) of ARK \"%s\" among the "
					  "certificates, and one is required",
					  ark->cn);
			if (chain->dev)
				add_check(v, "production_root", cl->allow_dev,
					  cl->allow_dev
						  ? "DEVELOPMENT chain accepted because dev mode was "
						    "allowed: this report proves nothing about AMD "
						    "hardware"
						  : "report is signed by a Parma DEVELOPMENT chain; "
						    "refused unless dev mode is allowed (--allow-dev)");
			else
				add_check(v, "production_root", true, "chain ends in AMD's %s root key",
					  snp_product_name(p));
		} else {
			add_check(v, "endorsement_chain", false, "%s", chain->reason);
		}
	}
	if (p == SNP_PRODUCT_UNKNOWN && leaf)
		p = snp_cert_leaf_product(leaf);
	if (p == SNP_PRODUCT_UNKNOWN)
		p = snp_report_product(r);

	/* product: chain vs what the caller requires vs the report's CPUID */
	if (chain && chain->ok) {
		enum snp_product rp = snp_report_product(r);
		if (cl->product != SNP_PRODUCT_UNKNOWN && cl->product != p)
			add_check(v, "product", false, "chain is for %s, but %s was required",
				  snp_product_name(p), snp_product_name(cl->product));
		else if (rp != SNP_PRODUCT_UNKNOWN && rp != p)
			add_check(v, "product", false,
				  "report CPUID (family 0x%02x model 0x%02x) is %s, but the chain is "
				  "for %s",
				  r->cpuid_fam_id, r->cpuid_mod_id, snp_product_name(rp),
				  snp_product_name(p));
		else
			add_check(v, "product", true, "%s (%s productName \"%s\")%s",
				  snp_product_name(p), role_names[leaf->role], leaf->product,
				  rp != SNP_PRODUCT_UNKNOWN ? ", matching the report's CPUID" : "");
	}

	if (leaf) {
		bool ok = tcb_matches(leaf, r, p, why, sizeof(why));
		add_check(v, "tcb_matches_endorsement_key", ok, "%s", why);
		if (leaf->role == SNP_ROLE_VCEK) {
			ok = chip_id_matches(leaf, r, p, why, sizeof(why));
			add_check(v, "chip_id_matches_vcek", ok, "%s", why);
		}
		ok = signature_valid(certs, leaf, raw, r, why, sizeof(why));
		add_check(v, "report_signature", ok, "%s", why);
	} else {
		add_check(v, "report_signature", false,
			  "not checked: no endorsement key for this report");
	}

	bool debug = (r->policy & SNP_POLICY_DEBUG) != 0;
	add_check(v, "debug_disabled", !debug || cl->allow_debug,
		  !debug		? "guest policy does not allow debugging"
		  : cl->allow_debug ? "guest policy ALLOWS DEBUGGING (accepted: --allow-debug); "
				      "the host can read and change guest memory"
				    : "guest policy allows debugging (POLICY bit 19): the host can "
				      "read and change guest memory");

	check_claims(cl, r, p, v);
	finish(v);
	if (!v->verified) {
		errbuf_set(eb, EACCES, "%s: %s", v->first_failure->name, v->first_failure->detail);
		return -EACCES;
	}
	return 0;
}

struct json_object *snp_verdict_to_json(const struct snp_verdict *v)
{
	struct json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "verified", json_object_new_boolean(v->verified));
	json_object_object_add(o, "dev_chain", json_object_new_boolean(v->dev_chain));
	if (v->dev_chain)
		json_object_object_add(
			o, "warning",
			json_object_new_string("DEVELOPMENT attestation: signed by a local Parma "
					       "dev key, not by AMD hardware; proves nothing"));
	json_object_object_add(o, "product",
			       v->product != SNP_PRODUCT_UNKNOWN
				       ? json_object_new_string(snp_product_name(v->product))
				       : NULL);
	json_object_object_add(
		o, "reason",
		v->first_failure ? json_object_new_string(v->first_failure->detail) : NULL);
	struct json_object *checks = json_object_new_array();
	for (size_t i = 0; i < v->n_checks; i++) {
		struct json_object *c = json_object_new_object();
		json_object_object_add(c, "claim", json_object_new_string(v->checks[i].name));
		json_object_object_add(c, "held", json_object_new_boolean(v->checks[i].held));
		json_object_object_add(c, "detail", json_object_new_string(v->checks[i].detail));
		json_object_array_add(checks, c);
	}
	json_object_object_add(o, "checks", checks);
	if (v->report_parsed)
		json_object_object_add(o, "report", snp_report_to_json(&v->report, v->product));
	return o;
}

/* ---- RFC 3339 and TCB strings ---- */

static int digits(const char **s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*s)[i]))
			return -1;
		v = v * 10 + ((*s)[i] - '0');
	}
	*s += n;
	*out = v;
	return 0;
}

static int expect_char(const char **s, const char *allowed)
{
	if (!**s || !strchr(allowed, **s))
		return -1;
	(*s)++;
	return 0;
}

int snp_parse_rfc3339(const char *str, time_t *out, struct errbuf *eb)
{
	const char *s = str;
	int y, mo, d, h, mi, se, oh = 0, om = 0, sign = 0;
	if (digits(&s, 4, &y) || expect_char(&s, "-") || digits(&s, 2, &mo) ||
	    expect_char(&s, "-") || digits(&s, 2, &d) || expect_char(&s, "Tt ") ||
	    digits(&s, 2, &h) || expect_char(&s, ":") || digits(&s, 2, &mi) ||
	    expect_char(&s, ":") || digits(&s, 2, &se))
		goto bad;
	if (*s == '.') {
		s++;
		if (!isdigit((unsigned char)*s))
			goto bad;
		while (isdigit((unsigned char)*s))
			s++;
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s == '+' ? 1 : -1;
		s++;
		if (digits(&s, 2, &oh) || expect_char(&s, ":") || digits(&s, 2, &om))
			goto bad;
	} else {
		goto bad;
	}
	if (*s)
		goto bad;
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 60 ||
	    oh > 23 || om > 59)
		goto bad;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo == 2 && d == 29 && !leap)
		goto bad;
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
			 .tm_min = mi, .tm_sec = se == 60 ? 59 : se };
	*out = timegm(&tm) - (time_t)sign * (oh * 3600 + om * 60);
	return 0;
bad:
	return errbuf_set(eb, EINVAL,
			  "\"%s\" is not an RFC 3339 date-time (like 2025-06-01T12:00:00Z)", str);
}

int snp_claims_set_min_tcb(struct snp_claims *c, const char *s, struct errbuf *eb)
{
	uint8_t raw[8];
	memset(&c->min_tcb, 0, sizeof(c->min_tcb));
	c->min_tcb_is_raw = false;
	if (strlen(s) == 16 && hex_decode(s, raw, 8) == 0) {
		c->min_tcb_is_raw = true;
		c->min_tcb_raw = 0;
		for (int i = 7; i >= 0; i--)
			c->min_tcb_raw = c->min_tcb_raw << 8 | raw[i];
		c->check_min_tcb = true;
		return 0;
	}
	static const struct {
		const char *name;
		size_t off;
	} parts[] = {
		{ "fmc", offsetof(struct snp_tcb, fmc) },
		{ "bl", offsetof(struct snp_tcb, bootloader) },
		{ "tee", offsetof(struct snp_tcb, tee) },
		{ "snp", offsetof(struct snp_tcb, snp) },
		{ "ucode", offsetof(struct snp_tcb, microcode) },
	};
	const char *p = s;
	if (!*p)
		goto bad;
	while (*p) {
		size_t i, klen = strcspn(p, "=");
		for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
			if (strlen(parts[i].name) == klen && strncmp(p, parts[i].name, klen) == 0)
				break;
		if (i == sizeof(parts) / sizeof(parts[0]) || p[klen] != '=')
			goto bad;
		p += klen + 1;
		char *end;
		if (!isdigit((unsigned char)*p))
			goto bad;
		unsigned long v = strtoul(p, &end, 10);
		if (v > 255 || (*end && *end != ','))
			goto bad;
		*((uint8_t *)&c->min_tcb + parts[i].off) = (uint8_t)v;
		p = *end ? end + 1 : end;
		if (*end && !*p)
			goto bad;
	}
	c->check_min_tcb = true;
	return 0;
bad:
	return errbuf_set(eb, EINVAL,
			  "minimum TCB \"%s\": expected bl=N,tee=N,snp=N,ucode=N[,fmc=N] (0-255) "
			  "or 16 hex digits",
			  s);
}
