/* load_fragment in the engine: a verified fragment's rules join the candidate set attributed
 * to their issuer and feed; every way a fragment could widen the policy, replay an old version
 * or come from another signer is denied without changing anything. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "policy/lang/policy.h"
#include "tests/unit/policy/cose/test_pki.h"

#define FEED "example/sidecars"
#define HS   "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
#define HT   "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
#define SIDECAR(name, layer, extra)                                                                \
	",\"containers\":[{\"name\":\"" name "\",\"layers\":[\"" layer "\"],"                      \
	"\"command\":[\"/sidecar\"]" extra "}]"

static struct test_pki pki, other;

struct fx {
	struct policy_engine *e;
	struct policy_decision d;
};

/* A policy with one container of its own and an import of FEED from pki's DID. */
static struct fx *fx_new_includes(uint64_t minimum_svn, const char *includes,
				  const char *import_extra)
{
	struct fx *f = calloc(1, sizeof(*f));
	char *p = NULL;
	assert_true(
		asprintf(
			&p,
			"{\"version\":1,\"containers\":[{\"name\":\"main\",\"layers\":[\"%s\"],"
			"\"command\":[\"/main\"]}],\"external_processes\":[{\"command\":[\"/x\"]}],"
			"\"fragments\":[{\"issuer\":\"%s\",\"feed\":\"" FEED "\","
			"\"minimum_svn\":%llu,\"includes\":[%s]%s}]}",
			HT, pki.did, (unsigned long long)minimum_svn, includes,
			import_extra ? import_extra : "") > 0);
	f->e = policy_engine_new();
	struct policy_digest dg;
	policy_digest((const uint8_t *)p, strlen(p), &dg);
	struct policy_req_install_policy in = {(const uint8_t *)p, strlen(p), dg.sha256};
	if (policy_engine_install(f->e, &in, &f->d))
		fail_msg("install: %s", f->d.reason.message);
	free(p);
	return f;
}

static struct fx *fx_new(uint64_t minimum_svn, const char *import_extra)
{
	return fx_new_includes(minimum_svn, "\"containers\"", import_extra);
}

static void fx_free(struct fx *f)
{
	policy_engine_free(f->e);
	free(f);
}

static char *snap(struct fx *f)
{
	char *s;
	assert_int_equal(policy_engine_state_json(f->e, &s), 0);
	return s;
}

/* Load a fragment signed by `signer` with header issuer/svn and this payload body. */
static int load_signed(struct fx *f, const struct test_pki *signer, const char *iss,
		       uint64_t hdr_svn, uint64_t payload_svn, const char *body)
{
	char *payload = pki_payload(iss, FEED, payload_svn, body);
	size_t len;
	uint8_t *doc = pki_sign(signer, iss, FEED, hdr_svn, payload, &len);
	struct policy_req_load_fragment lf = {doc, len};
	int ret = policy_load_fragment(f->e, &lf, &f->d);
	free(doc);
	free(payload);
	return ret;
}

static int load(struct fx *f, uint64_t svn, const char *body)
{
	return load_signed(f, &pki, pki.did, svn, svn, body);
}

static int req(struct fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int req(struct fx *f, const char *fmt, ...)
{
	char *s;
	va_list ap;
	va_start(ap, fmt);
	assert_true(vasprintf(&s, fmt, ap) > 0);
	va_end(ap);
	struct json_object *o = json_tokener_parse(s);
	assert_non_null(o);
	int ret = policy_decide_json(f->e, o, &f->d);
	json_object_put(o);
	free(s);
	return ret;
}

/* The call is denied by rule "fragment" at `field` and the state is unchanged. */
#define assert_frag_denied(f, field_str, call)                                                     \
	do {                                                                                       \
		char *before_ = snap(f);                                                           \
		int r_ = (call);                                                                   \
		if (r_ != -EACCES || (f)->d.reason.rule != POLICY_RULE_FRAGMENT ||                 \
		    strcmp((f)->d.reason.field, field_str))                                        \
			fail_msg("line %d: wanted fragment denial at %s, got %d %s at '%s': %s",   \
				 __LINE__, field_str, r_, policy_rule_name((f)->d.reason.rule),    \
				 (f)->d.reason.field, (f)->d.reason.message);                      \
		char *after_ = snap(f);                                                            \
		assert_string_equal(before_, after_);                                              \
		free(before_);                                                                     \
		free(after_);                                                                      \
	} while (0)

#define assert_ok(f, call)                                                                         \
	do {                                                                                       \
		int r_ = (call);                                                                   \
		if (r_)                                                                            \
			fail_msg("line %d: denied by %s at %s: %s", __LINE__,                      \
				 policy_rule_name((f)->d.reason.rule), (f)->d.reason.field,        \
				 (f)->d.reason.message);                                           \
	} while (0)

#define MOUNT(t, h)                                                                                \
	"{\"type\":\"mount_device\",\"target\":\"/run/parma/layers/" t "\",\"device_hash\":\"" h   \
	"\"}"
#define OVERLAY(id, t)                                                                             \
	"{\"type\":\"mount_overlay\",\"container_id\":\"" id "\",\"target\":\"/run/parma/containers/" id \
	"/rootfs\",\"layer_targets\":[\"/run/parma/layers/" t "\"]}"
#define CREATE(id, cmd)                                                                            \
	"{\"type\":\"create_container\",\"container_id\":\"" id "\",\"command\":[\"" cmd "\"],"    \
	"\"working_dir\":\"/\"}"

static int setup(void **state)
{
	(void)state;
	pki_make(&pki, "A", NULL);
	pki_make(&other, "B", NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	pki_free(&pki);
	pki_free(&other);
	return 0;
}

static void fragment_rules_join_attributed_to_issuer_and_feed(void **state)
{
	(void)state;
	struct fx *f = fx_new(2, NULL);
	assert_int_equal(req(f, MOUNT("5", HS)), -EACCES); /* not in the policy yet */
	assert_ok(f, load(f, 3, SIDECAR("sidecar", HS, "")));
	assert_non_null(strstr(f->d.source, pki.did));
	assert_non_null(strstr(f->d.source, "feed " FEED " svn 3"));
	assert_ok(f, req(f, MOUNT("5", HS)));
	assert_ok(f, req(f, OVERLAY("c1", "5")));
	assert_ok(f, req(f, CREATE("c1", "/sidecar")));
	char want[1200];
	snprintf(want, sizeof(want), "fragment %s feed " FEED " svn 3", pki.did);
	assert_string_equal(f->d.source, want);
	/* the decision JSON says where the allowance came from */
	struct json_object *j = policy_decision_to_json(&f->d, NULL), *src;
	assert_true(json_object_object_get_ex(j, "source", &src));
	assert_string_equal(json_object_get_string(src), want);
	json_object_put(j);
	/* a denial names the fragment rule it compared against */
	assert_ok(f, req(f, MOUNT("6", HT)));
	assert_ok(f, req(f, OVERLAY("c2", "6")));
	assert_int_equal(req(f, CREATE("c2", "/sidecar")), -EACCES);
	assert_string_equal(f->d.source, "policy");
	assert_ok(f, req(f, CREATE("c2", "/main")));
	assert_string_equal(f->d.source, "policy");
	fx_free(f);
}

static void fragment_load_reverts_exactly(void **state)
{
	(void)state;
	struct fx *f = fx_new(2, NULL);
	char *s0 = snap(f);
	assert_ok(f, load(f, 3, SIDECAR("sidecar", HS, "")));
	assert_int_equal(policy_engine_revert(f->e), 0);
	char *s1 = snap(f);
	assert_string_equal(s0, s1);
	assert_int_equal(req(f, MOUNT("5", HS)), -EACCES);
	/* and a superseding load reverts to the older fragment in force */
	assert_ok(f, load(f, 3, SIDECAR("sidecar", HS, "")));
	char *s2 = snap(f);
	assert_ok(f, load(f, 4, SIDECAR("sidecar", HT, "")));
	assert_int_equal(policy_engine_revert(f->e), 0);
	char *s3 = snap(f);
	assert_string_equal(s2, s3);
	assert_ok(f, req(f, MOUNT("5", HS)));
	free(s0), free(s1), free(s2), free(s3);
	fx_free(f);
}

static void fragment_denied_without_an_import_for_issuer_and_feed(void **state)
{
	(void)state;
	struct fx *f = fx_new(2, NULL);
	/* another issuer's own, valid DID and chain */
	assert_frag_denied(f, "iss", load_signed(f, &other, other.did, 3, 3, ""));
	/* another CA's valid chain claiming the imported DID: the CA fingerprint differs */
	assert_frag_denied(f, "did", load_signed(f, &other, pki.did, 3, 3, ""));
	fx_free(f);
}

static void fragment_svn_checks(void **state)
{
	(void)state;
	struct fx *f = fx_new(2, NULL);
	assert_frag_denied(f, "svn", load(f, 1, SIDECAR("sidecar", HS, "")));
	assert_string_equal(f->d.reason.expected, ">= 2");
	assert_frag_denied(f, "fragment.svn",
			   load_signed(f, &pki, pki.did, 3, 4, SIDECAR("sidecar", HS, "")));
	assert_ok(f, load(f, 2, SIDECAR("sidecar", HS, ""))); /* = minimum */
	fx_free(f);
}

static void fragment_payload_must_match_headers_and_includes(void **state)
{
	(void)state;
	struct fx *f = fx_new(2, NULL);
	char *payload = pki_payload(other.did, FEED, 3, "");
	size_t len;
	uint8_t *doc = pki_sign(&pki, pki.did, FEED, 3, payload, &len);
	struct policy_req_load_fragment lf = {doc, len};
	assert_frag_denied(f, "fragment.issuer", policy_load_fragment(f->e, &lf, &f->d));
	free(doc), free(payload);
	assert_frag_denied(f, "external_processes",
			   load(f, 3, ",\"external_processes\":[{\"command\":[\"/sh\"]}]"));
	char nested[1400];
	snprintf(nested, sizeof(nested),
		 ",\"fragments\":[{\"issuer\":\"%s\",\"feed\":\"more\",\"minimum_svn\":0,"
		 "\"includes\":[\"containers\"]}]",
		 pki.did);
	assert_frag_denied(f, "fragments", load(f, 3, nested));
	assert_frag_denied(f, "payload", load(f, 3, ",\"containers\":[{\"name\":\"x\"}]"));
	/* names are unique across the policy and fragments */
	assert_frag_denied(f, "payload", load(f, 3, SIDECAR("main", HS, "")));
	fx_free(f);
}

static void fragment_never_widens_policy_flags(void **state)
{
	(void)state;
	struct fx *f = fx_new(2, NULL);
	static const char *const flags[] = {",\"allow_unencrypted_scratch\":true",
					    ",\"allow_properties_access\":true",
					    ",\"allow_dump_stacks\":true",
					    ",\"allow_runtime_logging\":true",
					    ",\"allow_environment_variable_dropping\":true",
					    ",\"allow_capability_dropping\":true",
					    ",\"insecure_allow_all\":\"" POLICY_DEBUG_MARKER "\""};
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		assert_frag_denied(f, "payload", load(f, 3, flags[i]));
		assert_non_null(strstr(f->d.reason.message, "cannot set policy flags"));
	}
	assert_frag_denied(f, "containers[0].allow_stdio_access",
			   load(f, 3, SIDECAR("s", HS, ",\"allow_stdio_access\":true")));
	assert_frag_denied(f, "containers[0].allow_elevated",
			   load(f, 3, SIDECAR("s", HS, ",\"allow_elevated\":true")));
	/* the engine's flags are the policy's after any fragment */
	assert_ok(f, load(f, 3, SIDECAR("s", HS, "")));
	assert_int_equal(req(f, "{\"type\":\"mount_scratch\",\"target\":\"/run/parma/scratch\","
				"\"encrypted\":false}"),
			 -EACCES);
	fx_free(f);
	/* an import that allows stdio lets its fragments grant it */
	f = fx_new(2, ",\"allow_stdio_access\":true");
	assert_ok(f, load(f, 3, SIDECAR("s", HS, ",\"allow_stdio_access\":true")));
	fx_free(f);
}

static void fragment_loading_is_idempotent(void **state)
{
	(void)state;
	struct fx *f = fx_new(2, NULL);
	char *payload = pki_payload(pki.did, FEED, 3, SIDECAR("sidecar", HS, ""));
	size_t len;
	uint8_t *doc = pki_sign(&pki, pki.did, FEED, 3, payload, &len);
	struct policy_req_load_fragment lf = {doc, len};
	assert_ok(f, policy_load_fragment(f->e, &lf, &f->d));
	char *s0 = snap(f);
	assert_ok(f, policy_load_fragment(f->e, &lf, &f->d));
	char *s1 = snap(f);
	assert_string_equal(s0, s1);
	assert_int_equal(policy_engine_revert(f->e), -ENOENT); /* nothing to undo */
	free(s0), free(s1), free(doc), free(payload);
	fx_free(f);
}

static void fragment_replay_of_an_older_svn_is_denied(void **state)
{
	(void)state;
	struct fx *f = fx_new(2, NULL);
	assert_ok(f, load(f, 5, SIDECAR("sidecar", HS, "")));
	assert_frag_denied(f, "svn", load(f, 4, SIDECAR("sidecar", HS, "")));
	assert_string_equal(f->d.reason.expected, ">= 5");
	/* equivocation: another payload with the same SVN */
	assert_frag_denied(f, "svn", load(f, 5, SIDECAR("sidecar", HT, "")));
	fx_free(f);
}

static void fragment_higher_svn_supersedes_the_older(void **state)
{
	(void)state;
	struct fx *f = fx_new(2, NULL);
	assert_ok(f, load(f, 3, SIDECAR("sidecar", HS, "")));
	assert_ok(f, req(f, MOUNT("5", HS)));
	assert_ok(f, req(f, OVERLAY("old", "5")));
	assert_ok(f, req(f, CREATE("old", "/sidecar")));
	/* version 4 moves the sidecar to another image under the same name */
	assert_ok(f, load(f, 4, SIDECAR("sidecar", HT, "")));
	/* the old image no longer matches a new container; the running one keeps its rules */
	assert_int_equal(req(f, OVERLAY("new", "5")), -EACCES);
	assert_int_equal(f->d.reason.rule, POLICY_RULE_OVERLAY_LAYERS);
	assert_int_equal(req(f, MOUNT("s2", HS)), -EACCES);
	assert_ok(f, req(f, MOUNT("6", HT)));
	assert_ok(f, req(f, OVERLAY("new", "6")));
	assert_ok(f, req(f, CREATE("new", "/sidecar")));
	assert_non_null(strstr(f->d.source, "svn 4"));
	assert_ok(f, req(f, "{\"type\":\"shutdown_container\",\"container_id\":\"old\"}"));
	/* and version 3 cannot come back */
	assert_frag_denied(f, "svn", load(f, 3, SIDECAR("sidecar", HS, "")));
	fx_free(f);
}

static void fragment_imports_of_a_fragment_follow_it(void **state)
{
	(void)state;
	/* the policy lets FEED add imports; FEED's fragment imports "more" */
	char *p = NULL;
	assert_true(asprintf(&p,
			     "{\"version\":1,\"fragments\":[{\"issuer\":\"%s\",\"feed\":\"" FEED
			     "\",\"minimum_svn\":0,\"includes\":[\"fragments\"]}]}",
			     pki.did) > 0);
	struct fx *f = calloc(1, sizeof(*f));
	f->e = policy_engine_new();
	struct policy_digest dg;
	policy_digest((const uint8_t *)p, strlen(p), &dg);
	struct policy_req_install_policy in = {(const uint8_t *)p, strlen(p), dg.sha256};
	assert_ok(f, policy_engine_install(f->e, &in, &f->d));
	char nested[1400];
	snprintf(nested, sizeof(nested),
		 ",\"fragments\":[{\"issuer\":\"%s\",\"feed\":\"more\",\"minimum_svn\":0,"
		 "\"includes\":[\"containers\"]}]",
		 other.did);
	assert_ok(f, load(f, 1, nested));
	/* other may now sign feed "more" */
	char *payload = pki_payload(other.did, "more", 1, SIDECAR("more", HS, ""));
	size_t len;
	uint8_t *doc = pki_sign(&other, other.did, "more", 1, payload, &len);
	struct policy_req_load_fragment lf = {doc, len};
	assert_ok(f, policy_load_fragment(f->e, &lf, &f->d));
	assert_int_equal(policy_engine_revert(f->e), 0);
	/* once FEED's newer version drops the import, "more" is no longer accepted */
	assert_ok(f, load(f, 2, ""));
	assert_frag_denied(f, "iss", policy_load_fragment(f->e, &lf, &f->d));
	free(doc), free(payload), free(p);
	fx_free(f);
}

static void fragment_totals_stay_within_limits(void **state)
{
	(void)state;
	for (int n = POLICY_MAX_EXTERNAL - 1; n <= POLICY_MAX_EXTERNAL; n++) {
		struct fx *f = fx_new_includes(0, "\"external_processes\"", NULL);
		size_t cap = 64 + (size_t)n * 40, len = 0;
		char *body = malloc(cap);
		len += (size_t)snprintf(body, cap, ",\"external_processes\":[");
		for (int k = 0; k < n; k++)
			len += (size_t)snprintf(body + len, cap - len, "%s{\"command\":[\"/p%d\"]}",
						k ? "," : "", k);
		snprintf(body + len, cap - len, "]");
		(void)len;
		int ret = load(f, 1, body);
		if (n < POLICY_MAX_EXTERNAL) {
			assert_int_equal(ret, 0); /* 1 + 255 = 256 in force */
		} else {
			assert_int_equal(ret, -EACCES); /* 257 would overflow the limit */
			assert_int_equal(f->d.reason.rule, POLICY_RULE_STATE_FULL);
		}
		free(body);
		fx_free(f);
	}
}

static void fragment_request_json_carries_the_document(void **state)
{
	(void)state;
	struct fx *f = fx_new(2, NULL);
	assert_int_equal(req(f, "{\"type\":\"load_fragment\",\"fragment_base64\":\"e30=\"}"),
			 -EACCES);
	assert_int_equal(f->d.reason.rule, POLICY_RULE_FRAGMENT);
	assert_string_equal(f->d.reason.field, "document");
	/* the old form with unsigned issuer/feed/svn fields is refused */
	assert_int_equal(req(f, "{\"type\":\"load_fragment\",\"issuer\":\"x\",\"feed\":\"f\","
				"\"svn\":3,\"fragment_base64\":\"e30=\"}"),
			 -EACCES);
	assert_int_equal(f->d.reason.rule, POLICY_RULE_MALFORMED_REQUEST);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fragment_rules_join_attributed_to_issuer_and_feed),
		cmocka_unit_test(fragment_load_reverts_exactly),
		cmocka_unit_test(fragment_denied_without_an_import_for_issuer_and_feed),
		cmocka_unit_test(fragment_svn_checks),
		cmocka_unit_test(fragment_payload_must_match_headers_and_includes),
		cmocka_unit_test(fragment_never_widens_policy_flags),
		cmocka_unit_test(fragment_loading_is_idempotent),
		cmocka_unit_test(fragment_replay_of_an_older_svn_is_denied),
		cmocka_unit_test(fragment_higher_svn_supersedes_the_older),
		cmocka_unit_test(fragment_imports_of_a_fragment_follow_it),
		cmocka_unit_test(fragment_totals_stay_within_limits),
		cmocka_unit_test(fragment_request_json_carries_the_document),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
