/* fragment_cli: `parma policy fragment sign|verify|inspect|did` — the signer's and the
 * operator's tools for signed policy fragments (host only). `verify --policy` asks a fresh
 * policy engine exactly what the guest's engine will decide. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/cli.h"
#include "common/digest.h"
#include "common/encoding.h"
#include "common/errbuf.h"
#include "common/fileio.h"
#include "policy/cose/cose_sign1.h"
#include "policy/cose/did_x509.h"
#include "policy/fragment/cose_sign.h"
#include "policy/fragment/fragment_cli.h"
#include "policy/lang/policy.h"

#define MAX_PEM (1u << 20)

static STACK_OF(X509) * read_chain(const char *prog, const char *path, int *code)
{
	BIO *bio = BIO_new_file(path, "r");
	STACK_OF(X509) *chain = sk_X509_new_null();
	X509 *x;
	*code = CLI_BAD_INPUT;
	if (!bio || !chain) {
		cli_error(prog, CLI_BAD_INPUT, "%s: cannot read the certificate chain", path);
		goto fail;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		if (!sk_X509_push(chain, x)) {
			X509_free(x);
			goto fail;
		}
	if (!sk_X509_num(chain)) {
		cli_error(prog, CLI_BAD_INPUT, "%s: no PEM certificate found", path);
		goto fail;
	}
	BIO_free(bio);
	*code = 0;
	return chain;
fail:
	BIO_free(bio);
	sk_X509_pop_free(chain, X509_free);
	return NULL;
}

static const char *b64url(const uint8_t *in, size_t len, char *out)
{
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) |
			     (i + 2 < len ? in[i + 2] : 0);
		out[o++] = tbl[v >> 18 & 63];
		out[o++] = tbl[v >> 12 & 63];
		if (i + 1 < len)
			out[o++] = tbl[v >> 6 & 63];
		if (i + 2 < len)
			out[o++] = tbl[v & 63];
	}
	out[o] = 0;
	return out;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-')
		return -1;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

/* ---- sign ---- */

static int fragment_sign(int argc, char **argv)
{
	const char *key_path = NULL, *chain_path = NULL, *issuer = NULL, *feed = NULL,
		   *svn_s = NULL, *alg_s = NULL, *input = NULL;
	const struct cli_opt opts[] = {
		CLI_STRING("key", 0, &key_path),     CLI_STRING("chain", 0, &chain_path),
		CLI_STRING("issuer", 0, &issuer),    CLI_STRING("feed", 0, &feed),
		CLI_STRING("svn", 0, &svn_s),        CLI_STRING("alg", 0, &alg_s),
	};
	const struct cli_spec spec = {
		.usage = "Usage: %s --key KEY.pem --chain CHAIN.pem --issuer DID --feed FEED --svn "
			 "N\n"
			 "       [--alg ES256|ES384|PS256|PS384] FRAGMENT.json > FRAGMENT.cose\n\n"
			 "Sign a policy fragment as a COSE_Sign1 document. CHAIN.pem holds the\n"
			 "leaf certificate (the key's) first, then its CA certificates; DID is the\n"
			 "did:x509 issuer the importing policy names. The fragment must be valid "
			 "and\n"
			 "declare the same issuer, feed and svn. The default algorithm follows the\n"
			 "key: ES256 (P-256), ES384 (P-384), PS256 (RSA).\n",
		.opts = opts, .n_opts = CLI_ARRAY_SIZE(opts),
		.max_operands = 1, .operands_error = "expected one FRAGMENT.json",
	};
	int rc, first = cli_start(argv[0], &spec, argc, argv, &rc);
	if (first < 0)
		return rc;
	if (first < argc)
		input = argv[first];
	if (!key_path || !chain_path || !issuer || !feed || !svn_s || !input)
		return cli_usage_error(argv[0], "--key, --chain, --issuer, --feed, --svn and "
						"FRAGMENT.json are required");
	uint64_t svn;
	if (parse_u64(svn_s, &svn))
		return cli_usage_error(argv[0], "--svn: expected an unsigned integer");
	int alg = 0;
	if (alg_s && !(alg = cose_alg_from_name(alg_s)))
		return cli_usage_error(argv[0], "--alg: expected ES256, ES384, PS256 or PS384");
	struct errbuf eb = {0};
	if (did_x509_check_syntax(issuer, &eb))
		return cli_error(argv[0], CLI_BAD_INPUT, "--issuer: %s", errbuf_msg(&eb));
	uint8_t *payload = NULL, *doc = NULL;
	size_t payload_len, doc_len;
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *key = NULL;
	int code = CLI_BAD_INPUT;
	if (file_read_all(input, POLICY_MAX_BYTES, &payload, &payload_len, &eb)) {
		cli_error(argv[0], code, "%s", errbuf_msg(&eb));
		goto out;
	}
	if (policy_fragment_check(payload, payload_len, issuer, feed, svn, &eb)) {
		cli_error(argv[0], code, "%s: %s", input, errbuf_msg(&eb));
		goto out;
	}
	if (!(chain = read_chain(argv[0], chain_path, &code)))
		goto out;
	code = CLI_BAD_INPUT;
	BIO *kb = BIO_new_file(key_path, "r");
	key = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
	BIO_free(kb);
	if (!key) {
		cli_error(argv[0], code, "%s: no PEM private key found", key_path);
		goto out;
	}
	struct cose_sign_input in = {payload, payload_len, issuer, feed, svn, chain, key, alg};
	if (cose_sign_fragment(&in, &doc, &doc_len, &eb)) {
		cli_error(argv[0], code, "%s", errbuf_msg(&eb));
		goto out;
	}
	code = fwrite(doc, 1, doc_len, stdout) == doc_len && !fflush(stdout)
		       ? CLI_OK
		       : cli_error(argv[0], CLI_INTERNAL, "writing the document failed");
out:
	free(payload);
	free(doc);
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(key);
	return code;
}

/* ---- verify ---- */

static int verify_with_policy(const char *prog, const char *policy_path, const uint8_t *doc,
			      size_t len)
{
	struct errbuf eb = {0};
	uint8_t *pbytes = NULL;
	size_t plen;
	if (file_read_all(policy_path, POLICY_MAX_BYTES, &pbytes, &plen, &eb))
		return cli_error(prog, CLI_BAD_INPUT, "%s", errbuf_msg(&eb));
	struct policy_digest dg;
	struct policy_engine *e = policy_engine_new();
	struct policy_decision d;
	int code = CLI_INTERNAL;
	if (!e || policy_digest(pbytes, plen, &dg))
		goto out;
	struct policy_req_install_policy ip = {pbytes, plen, dg.sha256};
	if (policy_engine_install(e, &ip, &d)) {
		code = cli_error(prog, CLI_BAD_INPUT, "%s: %s", policy_path, d.reason.message);
		goto out;
	}
	struct policy_req_load_fragment lf = {doc, len};
	int ret = policy_load_fragment(e, &lf, &d);
	if (ret == -EACCES) {
		printf("DENIED by rule '%s' at %s: %s\n", policy_rule_name(d.reason.rule),
		       d.reason.field, d.reason.message);
		if (d.reason.expected[0])
			printf("    expected: %s\n", d.reason.expected);
		if (d.reason.got[0])
			printf("    got:      %s\n", d.reason.got);
		code = CLI_FAILED;
	} else if (ret) {
		code = cli_error(prog, CLI_INTERNAL, "%s", d.reason.message);
	} else {
		printf("allowed: %s\n", d.source);
		code = CLI_OK;
	}
out:
	policy_engine_free(e);
	free(pbytes);
	return code;
}

static int fragment_verify(int argc, char **argv)
{
	const char *policy = NULL, *did = NULL, *input = NULL;
	const struct cli_opt opts[] = {
		CLI_STRING("policy", 0, &policy),
		CLI_STRING("did", 0, &did),
	};
	const struct cli_spec spec = {
		.usage = "Usage: %s (--policy POLICY.json | --did DID) FRAGMENT.cose\n\n"
			 "--policy: decide load_fragment with a fresh policy engine that has POLICY\n"
			 "installed, exactly as the guest does (import, chain, did:x509, signature,\n"
			 "headers, SVN, payload, includes, no widening).\n"
			 "--did: check the chain, the DID and the signature only.\n"
			 "Exit: 0 verified, 1 rejected, 3 invalid input.\n",
		.opts = opts, .n_opts = CLI_ARRAY_SIZE(opts),
		.max_operands = 1, .operands_error = "expected one FRAGMENT.cose",
	};
	int rc, first = cli_start(argv[0], &spec, argc, argv, &rc);
	if (first < 0)
		return rc;
	if (first < argc)
		input = argv[first];
	if (!input || !!policy == !!did)
		return cli_usage_error(argv[0], "expected --policy or --did, and FRAGMENT.cose");
	struct errbuf eb = {0};
	uint8_t *doc;
	size_t len;
	if (file_read_all(input, COSE_MAX_DOCUMENT, &doc, &len, &eb))
		return cli_error(argv[0], CLI_BAD_INPUT, "%s", errbuf_msg(&eb));
	int code;
	if (policy) {
		code = verify_with_policy(argv[0], policy, doc, len);
	} else {
		struct cose_fault f = {0};
		struct cose_sign1 *m = NULL;
		int ret = cose_sign1_decode(doc, len, &m, &f);
		if (!ret)
			ret = cose_sign1_verify(m, did, 0, &f);
		if (!ret)
			printf("verified: issuer %s feed %s svn %llu (%s)\n", m->issuer, m->feed,
			       (unsigned long long)m->svn, cose_alg_name(m->alg));
		else
			printf("REJECTED at %s: %s\n", f.field, errbuf_msg(&f.eb));
		code = !ret ? CLI_OK : ret == -EACCES ? CLI_FAILED : CLI_BAD_INPUT;
		cose_sign1_free(m);
	}
	free(doc);
	return code;
}

/* ---- inspect ---- */

static void print_name(const char *label, X509_NAME *name)
{
	BIO *out = BIO_new_fp(stdout, BIO_NOCLOSE);
	printf("%s", label);
	X509_NAME_print_ex(out, name, 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
	BIO_free(out);
	printf("\n");
}

static void print_cert(size_t i, const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	uint8_t h[32];
	char fp[48];
	digest_sha256(der, len, h);
	printf("  [%zu] sha256 fingerprint %s\n", i, b64url(h, sizeof(h), fp));
	if (!x) {
		printf("      (not a DER certificate)\n");
		return;
	}
	print_name("      subject ", X509_get_subject_name(x));
	print_name("      issuer  ", X509_get_issuer_name(x));
	BIO *out = BIO_new_fp(stdout, BIO_NOCLOSE);
	printf("      valid   ");
	ASN1_TIME_print(out, X509_get0_notBefore(x));
	BIO_flush(out);
	printf(" .. ");
	ASN1_TIME_print(out, X509_get0_notAfter(x));
	BIO_flush(out);
	BIO_free(out);
	printf("\n");
	X509_free(x);
}

static int fragment_inspect(int argc, char **argv)
{
	const struct cli_spec spec = {
		.usage = "Usage: %s FRAGMENT.cose\n\n"
			 "Print a fragment's headers, certificate chain (with the base64url SHA-256\n"
			 "fingerprints a did:x509 pins) and payload. Nothing is verified: use\n"
			 "'parma policy fragment verify'.\n",
		.min_operands = 1, .max_operands = 1,
		.operands_error = "expected one FRAGMENT.cose",
	};
	int rc, first = cli_start(argv[0], &spec, argc, argv, &rc);
	if (first < 0)
		return rc;
	const char *path = argv[first];
	struct errbuf eb = {0};
	uint8_t *doc;
	size_t len;
	if (file_read_all(path, COSE_MAX_DOCUMENT, &doc, &len, &eb))
		return cli_error(argv[0], CLI_BAD_INPUT, "%s", errbuf_msg(&eb));
	struct cose_fault f = {0};
	struct cose_sign1 *m;
	if (cose_sign1_decode(doc, len, &m, &f)) {
		free(doc);
		return cli_error(argv[0], CLI_BAD_INPUT, "%s: %s", path, errbuf_msg(&f.eb));
	}
	uint8_t h[32];
	char hex[65];
	digest_sha256(m->payload, m->payload_len, h);
	hex_encode(h, sizeof(h), hex);
	printf("COSE_Sign1 %s (NOT verified)\n", path);
	printf("alg          %s\n", cose_alg_name(m->alg));
	printf("iss          %s\n", m->issuer);
	printf("feed         %s\n", m->feed);
	printf("svn          %llu\n", (unsigned long long)m->svn);
	printf("content type %s\n", m->content_type ? m->content_type : "(none)");
	printf("x5chain      %zu certificate(s), leaf first\n", m->n_chain);
	for (size_t i = 0; i < m->n_chain; i++)
		print_cert(i, m->chain[i], m->chain_len[i]);
	printf("payload      %zu bytes, sha256 %s\n", m->payload_len, hex);
	fwrite(m->payload, 1, m->payload_len, stdout);
	if (m->payload[m->payload_len - 1] != '\n')
		printf("\n");
	cose_sign1_free(m);
	free(doc);
	return CLI_OK;
}

/* ---- did ---- */

static void pct_encode(const char *in, char *out, size_t size)
{
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 < size; p++) {
		bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			     (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_';
		if (plain)
			out[o++] = (char)*p;
		else
			o += (size_t)snprintf(out + o, size - o, "%%%02X", *p);
	}
	out[o] = 0;
}

static const struct {
	const char *key;
	int nid;
} did_subject_keys[] = {
	{"CN", NID_commonName},
	{"L", NID_localityName},
	{"ST", NID_stateOrProvinceName},
	{"O", NID_organizationName},
	{"OU", NID_organizationalUnitName},
	{"C", NID_countryName},
	{"STREET", NID_streetAddress},
};

static int add_subject(const char *prog, X509 *leaf, const char *keys, char *did, size_t size)
{
	char list[256];
	snprintf(list, sizeof(list), "%s", keys);
	size_t len = strlen(did);
	snprintf(did + len, size - len, "::subject");
	for (char *save, *k = strtok_r(list, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
		int nid = NID_undef;
		for (size_t i = 0; i < CLI_ARRAY_SIZE(did_subject_keys); i++)
			if (!strcmp(did_subject_keys[i].key, k))
				nid = did_subject_keys[i].nid;
		if (nid == NID_undef)
			return cli_usage_error(prog,
					       "--subject: '%s' is not CN, L, ST, O, OU, C "
					       "or STREET",
					       k);
		X509_NAME *name = X509_get_subject_name(leaf);
		int idx = X509_NAME_get_index_by_NID(name, nid, -1);
		if (idx < 0)
			return cli_error(prog, CLI_BAD_INPUT, "the leaf certificate has no %s", k);
		unsigned char *utf8 = NULL;
		int n = ASN1_STRING_to_UTF8(
			&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
		if (n < 0)
			return cli_error(prog, CLI_BAD_INPUT, "the leaf's %s is not a string", k);
		char val[1024];
		pct_encode((const char *)utf8, val, sizeof(val));
		OPENSSL_free(utf8);
		len = strlen(did);
		snprintf(did + len, size - len, ":%s:%s", k, val);
	}
	return 0;
}

/* The leaf's names, in command-line order: each adds "::subject:...", "::eku:..." or
 * "::san:..." to the DID. */
enum leaf_name_kind { LEAF_SUBJECT, LEAF_EKU, LEAF_SAN };
struct leaf_names {
	struct {
		enum leaf_name_kind kind;
		const char *value;
	} item[32];
	size_t n;
};

static int leaf_name_add(const char *prog, struct leaf_names *names, enum leaf_name_kind kind,
			 const char *value)
{
	if (names->n == sizeof(names->item) / sizeof(names->item[0]))
		return cli_usage_error(prog, "at most %zu --subject/--eku/--san",
				       sizeof(names->item) / sizeof(names->item[0]));
	names->item[names->n].kind = kind;
	names->item[names->n++].value = value;
	return 0;
}

static int opt_subject(const char *prog, char *value, void *dest)
{
	return leaf_name_add(prog, dest, LEAF_SUBJECT, value);
}

static int opt_eku(const char *prog, char *value, void *dest)
{
	return leaf_name_add(prog, dest, LEAF_EKU, value);
}

static int opt_san(const char *prog, char *value, void *dest)
{
	return leaf_name_add(prog, dest, LEAF_SAN, value);
}

static int opt_ca(const char *prog, char *value, void *dest)
{
	uint64_t v;
	if (cli_parse_uint(value, 0, 1000, &v))
		return cli_usage_error(prog, "--ca: expected a certificate index");
	*(long *)dest = (long)v;
	return 0;
}

static int fragment_did(int argc, char **argv)
{
	const char *chain_path = NULL, *hash = "sha256";
	long ca = -1;
	int code = 0;
	struct leaf_names names = { 0 };
	const struct cli_opt opts[] = {
		CLI_STRING("chain", 0, &chain_path),
		CLI_STRING("hash", 0, &hash),
		CLI_FUNC("ca", 0, opt_ca, &ca),
		CLI_FUNC("subject", 0, opt_subject, &names),
		CLI_FUNC("eku", 0, opt_eku, &names),
		CLI_FUNC("san", 0, opt_san, &names),
	};
	const struct cli_spec spec = {
		.usage = "Usage: %s --chain CHAIN.pem [--ca N] [--hash sha256|sha384|sha512]\n"
			 "       (--subject KEY[,KEY...] | --eku OID | --san TYPE:VALUE)...\n\n"
			 "Print the did:x509 issuer that pins CA certificate N of the chain "
			 "(default:\n"
			 "the last) and names the leaf by the leaf's own subject fields (KEY: CN, "
			 "L,\n"
			 "ST, O, OU, C, STREET), an extended key usage OID or a SAN (email, dns,\n"
			 "uri). The DID is resolved against the chain before it is printed.\n",
		.opts = opts, .n_opts = CLI_ARRAY_SIZE(opts),
	};
	if (cli_start(argv[0], &spec, argc, argv, &code) < 0)
		return code;
	if (!chain_path)
		return cli_usage_error(argv[0], "--chain is required");
	const EVP_MD *md = EVP_get_digestbyname(hash);
	if (!md || (strcmp(hash, "sha256") && strcmp(hash, "sha384") && strcmp(hash, "sha512")))
		return cli_usage_error(argv[0], "--hash: expected sha256, sha384 or sha512");
	STACK_OF(X509) *chain = read_chain(argv[0], chain_path, &code);
	if (!chain)
		return code;
	int n = sk_X509_num(chain);
	if (ca < 0)
		ca = n - 1;
	if (n < 2 || ca < 1 || ca >= n) {
		sk_X509_pop_free(chain, X509_free);
		return cli_usage_error(argv[0], "--ca: the chain has no CA certificate %ld", ca);
	}
	uint8_t fp[EVP_MAX_MD_SIZE];
	unsigned int fp_len = 0;
	char fp64[100], did[DID_X509_MAX + 512];
	X509_digest(sk_X509_value(chain, (int)ca), md, fp, &fp_len);
	snprintf(did, sizeof(did), "did:x509:0:%s:%s", hash, b64url(fp, fp_len, fp64));
	bool any = names.n > 0;
	for (size_t i = 0; i < names.n && !code; i++) {
		size_t len = strlen(did);
		const char *v = names.item[i].value;
		if (names.item[i].kind == LEAF_SUBJECT) {
			code = add_subject(argv[0], sk_X509_value(chain, 0), v, did, sizeof(did));
		} else if (names.item[i].kind == LEAF_EKU) {
			snprintf(did + len, sizeof(did) - len, "::eku:%s", v);
		} else {
			char type[16], val[1024];
			const char *colon = strchr(v, ':');
			if (!colon || colon - v >= (long)sizeof(type)) {
				code = cli_usage_error(argv[0], "--san: expected TYPE:VALUE");
				break;
			}
			snprintf(type, sizeof(type), "%.*s", (int)(colon - v), v);
			pct_encode(colon + 1, val, sizeof(val));
			snprintf(did + len, sizeof(did) - len, "::san:%s:%s", type, val);
		}
	}
	if (!code && !any)
		code = cli_usage_error(argv[0], "name the leaf: --subject, --eku or --san");
	struct errbuf eb = {0};
	if (!code && did_x509_resolve(did, chain, &eb))
		code = cli_error(argv[0], CLI_FAILED, "%s does not resolve against the chain: %s",
				 did, errbuf_msg(&eb));
	if (!code)
		printf("%s\n", did);
	sk_X509_pop_free(chain, X509_free);
	return code;
}

int fragment_cli_main(int argc, char **argv)
{
	static const struct cli_command commands[] = {
		{"sign", "sign a policy fragment (COSE_Sign1) with a key and its chain",
		 fragment_sign},
		{"verify", "verify a fragment against a policy (as the guest does) or a DID",
		 fragment_verify},
		{"inspect", "print a fragment's headers, chain and payload (unverified)",
		 fragment_inspect},
		{"did", "print the did:x509 issuer for a certificate chain", fragment_did},
	};
	return cli_dispatch(argv[0],
			    "Signed policy fragments: pieces of policy a named issuer may sign "
			    "later, which a policy imports by issuer, feed and minimum SVN.",
			    commands, CLI_ARRAY_SIZE(commands), argc, argv);
}
