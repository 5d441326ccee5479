/* kbs_policy: release policies, parsed strictly and evaluated through the verifier. */
#include "vmm/kbs/kbs_policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/encoding.h"
#include "common/fileio.h"
#include "vmm/kbs/kbs_json.h"

static int hex_set(struct kbs_jpath *jp, struct json_object *obj, const char *key, bool required,
		   size_t width, uint8_t *out, size_t *n)
{
	struct json_object *arr = NULL;
	size_t count = 0;
	int r = kbs_jarray(jp, obj, key, required, KBS_POLICY_MAX_SET, &arr, &count);
	if (r < 0 || !arr)
		return r;
	size_t old = kbs_jpath_key(jp, key);
	if (count == 0)
		r = kbs_jerr(jp, EINVAL, "empty set: nothing could ever be released");
	for (size_t i = 0; i < count && !r; i++) {
		size_t o2 = kbs_jpath_index(jp, i);
		struct json_object *v = json_object_array_get_idx(arr, i);
		uint8_t *dst = out + i * width;
		const char *s = json_object_get_string(v);
		if (!json_object_is_type(v, json_type_string) || strlen(s) != width * 2 ||
		    hex_decode(s, dst, width) < 0)
			r = kbs_jerr(jp, EINVAL, "expected %zu hex digits", width * 2);
		for (size_t j = 0; j < i && !r; j++)
			if (!memcmp(out + j * width, dst, width))
				r = kbs_jerr(jp, EINVAL, "duplicate of entry %zu", j);
		kbs_jpath_pop(jp, o2);
	}
	kbs_jpath_pop(jp, old);
	*n = count;
	return r;
}

static int parse_min_tcb(struct kbs_jpath *jp, struct json_object *root, struct kbs_policy *p)
{
	static const char *const keys[] = {"bootloader", "tee", "snp", "microcode", "fmc", NULL};
	struct json_object *o;
	int r = kbs_jmember(jp, root, "min_tcb", false, &o);
	if (r <= 0)
		return r;
	size_t old = kbs_jpath_key(jp, "min_tcb");
	uint64_t v[5] = {0};
	r = kbs_jobject(jp, o, keys);
	for (size_t i = 0; i < 5 && !r; i++)
		r = kbs_ju64(jp, o, keys[i], i < 4, 255, &v[i]);
	kbs_jpath_pop(jp, old);
	if (r)
		return r;
	p->check_min_tcb = true;
	p->min_tcb = (struct snp_tcb){.bootloader = (uint8_t)v[0],
				      .tee = (uint8_t)v[1],
				      .snp = (uint8_t)v[2],
				      .microcode = (uint8_t)v[3],
				      .fmc = (uint8_t)v[4]};
	return 0;
}

static int parse_names(struct kbs_jpath *jp, struct json_object *root, const char *key, size_t max,
		       struct json_object **arr, size_t *n)
{
	*arr = NULL;
	*n = 0;
	int r = kbs_jarray(jp, root, key, false, max, arr, n);
	if (r < 0 || !*arr)
		return r;
	if (*n == 0) {
		size_t old = kbs_jpath_key(jp, key);
		r = kbs_jerr(jp, EINVAL, "empty set: nothing could ever be released");
		kbs_jpath_pop(jp, old);
	}
	return r;
}

static int parse_products(struct kbs_jpath *jp, struct json_object *root, struct kbs_policy *p)
{
	struct json_object *arr;
	size_t n;
	int r = parse_names(jp, root, "product", 8, &arr, &n);
	if (r < 0 || !arr)
		return r;
	size_t old = kbs_jpath_key(jp, "product");
	for (size_t i = 0; i < n && !r; i++) {
		struct json_object *v = json_object_array_get_idx(arr, i);
		enum snp_product prod = json_object_is_type(v, json_type_string)
						? snp_product_from_name(json_object_get_string(v))
						: SNP_PRODUCT_UNKNOWN;
		size_t o2 = kbs_jpath_index(jp, i);
		if (prod == SNP_PRODUCT_UNKNOWN)
			r = kbs_jerr(jp, EINVAL,
				     "expected \"Milan\", \"Genoa\", \"Turin\" or \"Parma-Dev\"");
		kbs_jpath_pop(jp, o2);
		p->product[i] = prod;
	}
	kbs_jpath_pop(jp, old);
	p->n_product = n;
	return r;
}

static int parse_chain(struct kbs_jpath *jp, struct json_object *root, struct kbs_policy *p)
{
	struct json_object *arr;
	size_t n;
	p->chain_vcek = p->chain_vlek = true;
	int r = parse_names(jp, root, "chain", 2, &arr, &n);
	if (r < 0 || !arr)
		return r;
	p->chain_vcek = p->chain_vlek = false;
	size_t old = kbs_jpath_key(jp, "chain");
	for (size_t i = 0; i < n && !r; i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(arr, i));
		size_t o2 = kbs_jpath_index(jp, i);
		bool *slot =
			!json_object_is_type(json_object_array_get_idx(arr, i), json_type_string)
				? NULL
			: !strcmp(s, "vcek") ? &p->chain_vcek
			: !strcmp(s, "vlek") ? &p->chain_vlek
					     : NULL;
		if (!slot)
			r = kbs_jerr(jp, EINVAL, "expected \"vcek\" or \"vlek\"");
		else if (*slot)
			r = kbs_jerr(jp, EINVAL, "duplicate \"%s\"", s);
		else
			*slot = true;
		kbs_jpath_pop(jp, o2);
	}
	kbs_jpath_pop(jp, old);
	return r;
}

int kbs_policy_parse(const char *text, size_t len, struct kbs_policy *out, struct errbuf *eb)
{
	static const char *const keys[] = {"host_data", "measurement", "allow_debug", "min_tcb",
					   "product",	"chain",       "allow_dev",   NULL};
	struct json_object *root;
	struct kbs_jpath jp;
	memset(out, 0, sizeof(*out));
	if (len > KBS_POLICY_MAX_SIZE)
		return errbuf_set(eb, E2BIG, "release policy larger than %d bytes",
				  KBS_POLICY_MAX_SIZE);
	int r = kbs_json_parse(text, len, &root, eb);
	if (r)
		return r;
	kbs_jpath_init(&jp, "release", eb);
	r = kbs_jobject(&jp, root, keys);
	if (!r)
		r = hex_set(&jp, root, "host_data", true, SNP_HOST_DATA_SIZE, &out->host_data[0][0],
			    &out->n_host_data);
	if (!r)
		r = hex_set(&jp, root, "measurement", false, SNP_MEASUREMENT_SIZE,
			    &out->measurement[0][0], &out->n_measurement);
	if (!r)
		r = kbs_jbool(&jp, root, "allow_debug", &out->allow_debug);
	if (!r)
		r = kbs_jbool(&jp, root, "allow_dev", &out->allow_dev);
	if (!r)
		r = parse_min_tcb(&jp, root, out);
	if (!r)
		r = parse_products(&jp, root, out);
	if (!r)
		r = parse_chain(&jp, root, out);
	json_object_put(root);
	return r;
}

int kbs_policy_load(const char *path, struct kbs_policy *out, struct errbuf *eb)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int r = file_read_all(path, KBS_POLICY_MAX_SIZE, &data, &len, eb);
	if (r < 0)
		return r;
	r = kbs_policy_parse((const char *)data, len, out, eb);
	free(data);
	if (r)
		errbuf_prefix(eb, "%s", path);
	return r;
}

/* Verifier check → the release-policy claim that asked for it. */
static const struct {
	const char *check, *claim;
} claim_of_check[] = {
	{"production_root", "allow_dev"},
	{"debug_disabled", "allow_debug"},
	{"min_tcb", "min_tcb"},
	{"report_data", "report_data"},
};

static void refuse(struct kbs_decision *d, const char *claim, const char *fmt, const char *a,
		   const char *b)
{
	d->release = false;
	d->claim = claim;
	/* a long verifier message is cut, which is fine for a refusal's detail */
	if (snprintf(d->detail, sizeof(d->detail), fmt, a, b) >= (int)sizeof(d->detail))
		d->detail[sizeof(d->detail) - 1] = 0;
}

static bool in_set(const uint8_t *set, size_t n, size_t width, const uint8_t *v)
{
	for (size_t i = 0; i < n; i++)
		if (!memcmp(set + i * width, v, width))
			return true;
	return false;
}

int kbs_policy_evaluate(const struct kbs_policy *p, struct snp_certs *certs,
			const uint8_t report[SNP_REPORT_SIZE],
			const uint8_t report_data[SNP_REPORT_DATA_SIZE], struct kbs_decision *d)
{
	struct snp_claims cl = {.allow_debug = p->allow_debug,
				.allow_dev = p->allow_dev,
				.check_min_tcb = p->check_min_tcb,
				.min_tcb = p->min_tcb,
				.check_report_data = true};
	struct snp_verdict *v = calloc(1, sizeof(*v));
	struct errbuf eb = {0};
	char hex[2 * SNP_MEASUREMENT_SIZE + 1];
	memset(d, 0, sizeof(*d));
	if (!v)
		return -ENOMEM;
	memcpy(cl.report_data, report_data, SNP_REPORT_DATA_SIZE);
	int r = snp_verify_report(certs, report, SNP_REPORT_SIZE, &cl, v, &eb);
	if (r == -ENOMEM)
		goto out;
	r = 0;
	d->dev_chain = v->dev_chain;
	if (!v->verified) {
		const struct snp_check *f = v->first_failure;
		const char *claim = "evidence";
		for (size_t i = 0; f && i < sizeof(claim_of_check) / sizeof(claim_of_check[0]); i++)
			if (!strcmp(f->name, claim_of_check[i].check))
				claim = claim_of_check[i].claim;
		refuse(d, claim, "%s: %s", f ? f->name : "report", f ? f->detail : eb.msg);
		goto out;
	}
	const struct snp_report *rep = &v->report;
	if (p->n_product) {
		bool ok = false;
		for (size_t i = 0; i < p->n_product; i++)
			ok |= p->product[i] == v->product;
		if (!ok) {
			refuse(d, "product", "the chain's product %s is not in the policy's set%s",
			       snp_product_name(v->product), "");
			goto out;
		}
	}
	enum snp_signing_key key = snp_report_signing_key(rep);
	if ((key == SNP_SIGNING_KEY_VCEK && !p->chain_vcek) ||
	    (key == SNP_SIGNING_KEY_VLEK && !p->chain_vlek)) {
		refuse(d, "chain", "report is signed by a %s, which the policy does not accept%s",
		       key == SNP_SIGNING_KEY_VCEK ? "VCEK" : "VLEK", "");
		goto out;
	}
	if (!in_set(&p->host_data[0][0], p->n_host_data, SNP_HOST_DATA_SIZE, rep->host_data)) {
		hex_encode(rep->host_data, SNP_HOST_DATA_SIZE, hex);
		refuse(d, "host_data", "HOST_DATA %s is not in the policy's set%s", hex, "");
		goto out;
	}
	if (p->n_measurement && !in_set(&p->measurement[0][0], p->n_measurement,
					SNP_MEASUREMENT_SIZE, rep->measurement)) {
		hex_encode(rep->measurement, SNP_MEASUREMENT_SIZE, hex);
		refuse(d, "measurement", "MEASUREMENT %s is not in the policy's set%s", hex, "");
		goto out;
	}
	d->release = true;
out:
	free(v);
	return r;
}
