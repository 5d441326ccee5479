/* The enforcement engine: every enforcement point allows what the policy
 * lists and denies the rest with the right rule; the full lifecycle; state
 * rollback; install-once; dropping and ambiguity semantics; regex safety. */
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

#define HA "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HB "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define HC "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

/* Two containers share layers A,B (so an overlay leaves both as candidates);
 * a third uses A,C. */
static const char *policy_text =
	"{\"version\":1,%s"
	"\"containers\":["
	"{\"name\":\"api\",\"layers\":[\"" HA "\",\"" HB "\"],\"command\":[\"/api\",\"serve\"],"
	" \"env_rules\":[{\"pattern\":\"PATH=/bin\",\"required\":true},"
	"                {\"pattern\":\"SECRET=[a-z]{4,}\",\"strategy\":\"regex\"}],"
	" \"working_dir\":\"/app\",\"allow_stdio_access\":true,"
	" \"user\":{\"uid\":100,\"gid\":100},"
	" \"capabilities\":{\"bounding\":[\"CAP_KILL\"],\"effective\":[\"CAP_KILL\"],\"permitted\":"
	"[\"CAP_KILL\"]},"
	" \"exec_processes\":[{\"command\":[\"/bin/ps\"],\"signals\":[9]},"
	"                     {\"command\":[\"/bin/top\"],\"working_dir\":\"/tmp\"}],"
	" \"signals\":[15],"
	" \"mounts\":[{\"source\":\"scratch://[a-z0-9]+"
	"\",\"source_strategy\":\"regex\","
	"             "
	"\"destination\":\"/data\",\"type\":\"bind\",\"options\":[\"rbind\",\"rw\"]}]},"
	"{\"name\":\"worker\",\"layers\":[\"" HA "\",\"" HB "\"],\"command\":[\"/api\",\"work\"],"
	" \"env_rules\":[{\"pattern\":\"PATH=/bin\"}],\"working_dir\":\"/"
	"app\",\"allow_stdio_access\":true,"
	" \"user\":{\"uid\":100,\"gid\":100},"
	" \"capabilities\":{\"bounding\":[\"CAP_KILL\"],\"effective\":[\"CAP_KILL\"],\"permitted\":"
	"[\"CAP_KILL\"]},"
	" \"signals\":[2]},"
	"{\"name\":\"db\",\"layers\":[\"" HA "\",\"" HC
	"\"],\"command\":[\"/db\"],\"allow_elevated\":true,"
	" \"no_new_privileges\":true}"
	"],"
	"\"external_processes\":[{\"command\":[\"/bin/"
	"date\"],\"env_rules\":[{\"pattern\":\"TZ=UTC\"}]}],"
	"\"fragments\":[{\"issuer\":\"did:x509:0:sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA::subject:CN:Test\",\"feed\":\"f\",\"minimum_svn\":2,\"includes\":["
	"\"containers\"]}]"
	"}";

struct fx {
	struct policy_engine *e;
	struct policy_decision d;
	char *policy;
};

static struct fx *fx_new(const char *flags)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_true(asprintf(&f->policy, policy_text, flags) > 0);
	f->e = policy_engine_new();
	assert_non_null(f->e);
	struct policy_digest dg;
	assert_int_equal(policy_digest((uint8_t *)f->policy, strlen(f->policy), &dg), 0);
	struct policy_req_install_policy in = {(uint8_t *)f->policy, strlen(f->policy), dg.sha256};
	int ret = policy_engine_install(f->e, &in, &f->d);
	if (ret)
		fail_msg("install: %s", f->d.reason.message);
	return f;
}

static void fx_free(struct fx *f)
{
	policy_engine_free(f->e);
	free(f->policy);
	free(f);
}

/* Decide one JSON request (printf-formatted). Returns 0 or -EACCES. */
static int req(struct fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int req(struct fx *f, const char *fmt, ...)
{
	char *s;
	va_list ap;
	va_start(ap, fmt);
	assert_true(vasprintf(&s, fmt, ap) > 0);
	va_end(ap);
	struct json_object *o = json_tokener_parse(s);
	if (!o)
		fail_msg("test bug: bad JSON %s", s);
	int ret = policy_decide_json(f->e, o, &f->d);
	json_object_put(o);
	free(s);
	return ret;
}

static char *snap(struct fx *f)
{
	char *s;
	assert_int_equal(policy_engine_state_json(f->e, &s), 0);
	return s;
}

#define assert_denied(f, rule_str, call)                                                           \
	do {                                                                                       \
		char *before_ = snap(f);                                                           \
		int r_ = (call);                                                                   \
		if (r_ != -EACCES || strcmp(policy_rule_name((f)->d.reason.rule), rule_str))       \
			fail_msg("line %d: wanted denial by %s, got ret %d rule %s (%s)",          \
				 __LINE__, rule_str, r_, policy_rule_name((f)->d.reason.rule),     \
				 (f)->d.reason.message);                                           \
		char *after_ = snap(f);                                                            \
		assert_string_equal(before_, after_);                                              \
		free(before_);                                                                     \
		free(after_);                                                                      \
	} while (0)

#define assert_allowed(f, call)                                                                    \
	do {                                                                                       \
		int r_ = (call);                                                                   \
		if (r_ != 0)                                                                       \
			fail_msg("line %d: denied by %s: %s (field %s, got %s)", __LINE__,         \
				 policy_rule_name((f)->d.reason.rule), (f)->d.reason.message,      \
				 (f)->d.reason.field, (f)->d.reason.got);                          \
		assert_true((f)->d.allowed);                                                       \
	} while (0)

#define MOUNT(t, h)                                                                                \
	"{\"type\":\"mount_device\",\"target\":\"/run/parma/layers/" t "\",\"device_hash\":\"" h   \
	"\"}"
#define OVERLAY(id, layers)                                                                        \
	"{\"type\":\"mount_overlay\",\"container_id\":\"" id "\",\"target\":\"/run/parma/containers/" id \
	"/rootfs\",\"layer_targets\":[" layers "]}"
#define LT(t)	"\"/run/parma/layers/" t "\""
#define USER100 "\"user\":{\"uid\":100,\"gid\":100}"
#define CAPKILL                                                                                    \
	"\"capabilities\":{\"bounding\":[\"CAP_KILL\"],\"effective\":[\"CAP_KILL\"],"              \
	"\"permitted\":[\"CAP_KILL\"]}"
#define CREATE_API(id, env)                                                                        \
	"{\"type\":\"create_container\",\"container_id\":\"" id                                    \
	"\",\"command\":[\"/api\",\"serve\"],\"env\":[" env "],\"working_dir\":\"/app\"," USER100  \
	"," CAPKILL "}"

static void setup_overlay(struct fx *f, const char *id)
{
	(void)id;
	assert_allowed(f, req(f, MOUNT("0", HA)));
	assert_allowed(f, req(f, MOUNT("1", HB)));
	assert_allowed(f, req(f, OVERLAY("c1", LT("0") "," LT("1"))));
}

static void policy_closed_engine_denies_everything(void **state)
{
	(void)state;
	struct policy_engine *e = policy_engine_new();
	struct policy_decision d;
	for (int t = POLICY_REQ_MOUNT_DEVICE; t < POLICY_REQ_FIRST_OPEN; t++) {
		struct policy_request q = {.type = (enum policy_request_type)t};
		assert_int_equal(policy_decide(e, &q, &d), -EACCES);
		assert_int_equal(d.reason.rule, POLICY_RULE_CLOSED);
	}
	struct policy_request q = {.type = (enum policy_request_type)99};
	assert_int_equal(policy_decide(e, &q, &d), -EACCES);
	assert_int_equal(d.reason.rule, POLICY_RULE_UNKNOWN_REQUEST);
	policy_engine_free(e);
}

static void policy_install_checks_host_data_and_happens_once(void **state)
{
	(void)state;
	struct policy_engine *e = policy_engine_new();
	struct policy_decision d;
	const char *p = "{\"version\":1}";
	struct policy_digest dg;
	policy_digest((const uint8_t *)p, strlen(p), &dg);
	uint8_t wrong[32];
	memcpy(wrong, dg.sha256, 32);
	wrong[31] ^= 1;
	struct policy_req_install_policy in = {(const uint8_t *)p, strlen(p), wrong};
	assert_int_equal(policy_engine_install(e, &in, &d), -EACCES);
	assert_int_equal(d.reason.rule, POLICY_RULE_HOST_DATA);
	in.host_data = NULL;
	assert_int_equal(policy_engine_install(e, &in, &d), -EACCES);
	assert_int_equal(d.reason.rule, POLICY_RULE_HOST_DATA);
	/* matching HOST_DATA but an invalid document */
	const char *bad = "{\"version\":1,\"oops\":1}";
	struct policy_digest bd;
	policy_digest((const uint8_t *)bad, strlen(bad), &bd);
	struct policy_req_install_policy inb = {(const uint8_t *)bad, strlen(bad), bd.sha256};
	assert_int_equal(policy_engine_install(e, &inb, &d), -EACCES);
	assert_int_equal(d.reason.rule, POLICY_RULE_INVALID_POLICY);
	assert_null(policy_engine_policy(e));
	in.host_data = dg.sha256;
	assert_int_equal(policy_engine_install(e, &in, &d), 0);
	assert_non_null(policy_engine_policy(e));
	assert_int_equal(policy_engine_install(e, &in, &d), -EACCES);
	assert_int_equal(d.reason.rule, POLICY_RULE_ALREADY_INSTALLED);
	assert_int_equal(policy_engine_revert(e), -ENOENT); /* install cannot be undone */
	policy_engine_free(e);
}

static void policy_mount_device_allows_policy_layers_only(void **state)
{
	(void)state;
	struct fx *f = fx_new("");
	assert_allowed(f, req(f, MOUNT("0", HA)));
	assert_allowed(f, req(f, MOUNT("2", HC)));
	assert_denied(
		f, "device_hash",
		req(f, MOUNT("3",
			     "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd")));
	assert_denied(f, "target_in_use", req(f, MOUNT("0", HB)));
	/* the guest owns every path: a layer goes only to layers/N */
	assert_denied(f, "target_path", req(f, MOUNT("0/sub", HB)));
	assert_denied(f, "target_path", req(f, MOUNT("01", HB)));
	assert_denied(f, "target_path", req(f, MOUNT("1024", HB)));
	assert_denied(f, "agent_state",
		      req(f, "{\"type\":\"mount_device\",\"target\":\"/run/parma/agent/x\","
			     "\"device_hash\":\"" HA "\"}"));
	/* the name form: layer slot 1 is layers/1 */
	assert_allowed(f, req(f, "{\"type\":\"mount_device\",\"layer\":1,\"device_hash\":\"" HB
				 "\"}"));
	assert_denied(f, "target_in_use", req(f, MOUNT("1", HB)));
	assert_denied(f, "malformed_request",
		      req(f, "{\"type\":\"mount_device\",\"layer\":1024,\"device_hash\":\"" HB
			     "\"}"));
	assert_denied(f, "malformed_request",
		      req(f, "{\"type\":\"mount_device\",\"layer\":3,\"target\":\"/run/parma/"
			     "layers/3\",\"device_hash\":\"" HB "\"}"));
	assert_denied(f, "target_path",
		      req(f,
			  "{\"type\":\"mount_device\",\"target\":\"/tmp/x\",\"device_hash\":\"" HA
			  "\"}"));
	assert_denied(f, "malformed_request",
		      req(f, "{\"type\":\"mount_device\",\"target\":\"/run/parma/x\"}"));
	/* the typed API is checked as strictly */
	struct policy_req_mount_device md = {.target = NULL};
	assert_int_equal(policy_mount_device(f->e, &md, &f->d), -EACCES);
	assert_int_equal(f->d.reason.rule, POLICY_RULE_MALFORMED_REQUEST);
	fx_free(f);
}

static void policy_unmount_device_and_scratch(void **state)
{
	(void)state;
	struct fx *f = fx_new("");
	assert_allowed(f, req(f, MOUNT("0", HA)));
	assert_denied(f, "no_device",
		      req(f, "{\"type\":\"unmount_device\",\"target\":\"/run/parma/layers/1\"}"));
	assert_allowed(f,
		       req(f, "{\"type\":\"unmount_device\",\"target\":\"/run/parma/layers/0\"}"));
	assert_denied(f, "no_device",
		      req(f, "{\"type\":\"unmount_device\",\"target\":\"/run/parma/layers/0\"}"));
	assert_denied(f, "scratch_unencrypted",
		      req(f, "{\"type\":\"mount_scratch\",\"target\":\"/run/parma/"
			     "scratch\",\"encrypted\":false}"));
	assert_allowed(
		f,
		req(f,
		    "{\"type\":\"mount_scratch\",\"target\":\"/run/parma/scratch\",\"encrypted\":true}"));
	assert_denied(f, "target_in_use",
		      req(f, "{\"type\":\"mount_scratch\",\"target\":\"/run/parma/scratch\"}"));
	assert_allowed(f, req(f, "{\"type\":\"unmount_device\",\"target\":\"/run/parma/scratch\"}"));
	/* an overlay whose writable layer is on the scratch disk keeps it mounted, the layers
	 * too, until the overlay is gone */
	assert_allowed(f, req(f, MOUNT("0", HA)));
	assert_allowed(f, req(f, MOUNT("1", HB)));
	assert_allowed(f, req(f, "{\"type\":\"mount_scratch\",\"encrypted\":true}"));
	assert_allowed(f, req(f, "{\"type\":\"mount_overlay\",\"container_id\":\"c1\","
				 "\"layers\":[0,1],\"scratch\":true}"));
	assert_denied(f, "device_in_use",
		      req(f, "{\"type\":\"unmount_device\",\"target\":\"/run/parma/scratch\"}"));
	assert_denied(f, "device_in_use",
		      req(f, "{\"type\":\"unmount_device\",\"target\":\"/run/parma/layers/1\"}"));
	assert_allowed(f, req(f, "{\"type\":\"unmount_overlay\",\"container_id\":\"c1\"}"));
	assert_allowed(f, req(f, "{\"type\":\"unmount_device\",\"target\":\"/run/parma/scratch\"}"));
	/* a read-only overlay does not hold the scratch disk */
	assert_allowed(f, req(f, "{\"type\":\"mount_scratch\",\"encrypted\":true}"));
	assert_allowed(f, req(f, "{\"type\":\"mount_overlay\",\"container_id\":\"c2\","
				 "\"layers\":[0,1]}"));
	assert_allowed(f, req(f, "{\"type\":\"unmount_device\",\"target\":\"/run/parma/scratch\"}"));
	fx_free(f);
	f = fx_new("\"allow_unencrypted_scratch\":true,");
	assert_allowed(f, req(f, "{\"type\":\"mount_scratch\",\"target\":\"/run/parma/"
				 "scratch\",\"encrypted\":false}"));
	fx_free(f);
}

static void policy_overlay_requires_exact_layer_order(void **state)
{
	(void)state;
	struct fx *f = fx_new("");
	assert_allowed(f, req(f, MOUNT("0", HA)));
	assert_allowed(f, req(f, MOUNT("1", HB)));
	assert_allowed(f, req(f, MOUNT("2", HC)));
	assert_denied(f, "overlay_layers", req(f, OVERLAY("c1", LT("1") "," LT("0"))));
	assert_denied(f, "overlay_layers", req(f, OVERLAY("c1", LT("0"))));
	assert_denied(f, "overlay_layers", req(f, OVERLAY("c1", LT("0") "," LT("1") "," LT("2"))));
	assert_denied(f, "no_device", req(f, OVERLAY("c1", LT("0") "," LT("9"))));
	assert_allowed(f, req(f, OVERLAY("c1", LT("0") "," LT("1"))));
	char *s = snap(f);
	assert_non_null(strstr(s, "\"candidates\":[\"api\",\"worker\"]")); /* both share A,B */
	free(s);
	assert_allowed(f, req(f, OVERLAY("c2", LT("0") "," LT("2"))));
	s = snap(f);
	assert_non_null(strstr(s, "\"candidates\":[\"db\"]"));
	free(s);
	assert_denied(f, "overlay_exists",
		      req(f, "{\"type\":\"mount_overlay\",\"container_id\":\"c1\",\"layers\":[0,1]}"));
	/* a rootfs is named by its own id: c3's overlay cannot go to c1's, nor elsewhere */
	assert_denied(f, "target_path",
		      req(f, "{\"type\":\"mount_overlay\",\"container_id\":\"c3\",\"target\":\"/"
			     "run/parma/containers/c1/rootfs\",\"layers\":[0,1]}"));
	assert_denied(f, "target_path",
		      req(f, "{\"type\":\"mount_overlay\",\"container_id\":\"c3\",\"target\":\"/"
			     "run/parma/other\",\"layers\":[0,1]}"));
	assert_denied(f, "target_path",
		      req(f, "{\"type\":\"mount_overlay\",\"container_id\":\"c3\",\"layers\":[0,1],"
			     "\"scratch\":\"/run/parma/layers/0\"}"));
	assert_denied(f, "device_in_use",
		      req(f, "{\"type\":\"unmount_device\",\"target\":\"/run/parma/layers/0\"}"));
	/* unmount overlay, then the layer can go */
	assert_allowed(
		f, req(f, "{\"type\":\"unmount_overlay\",\"target\":\"/run/parma/containers/c2/rootfs\"}"));
	assert_denied(f, "no_overlay",
		      req(f, "{\"type\":\"unmount_overlay\",\"target\":\"/run/parma/containers/c2/rootfs\"}"));
	assert_allowed(f,
		       req(f, "{\"type\":\"unmount_device\",\"target\":\"/run/parma/layers/2\"}"));
	fx_free(f);
}

static void policy_create_narrows_candidates_and_returns_effective_values(void **state)
{
	(void)state;
	struct fx *f = fx_new("");
	setup_overlay(f, "c1");
	assert_denied(f, "command",
		      req(f, "{\"type\":\"create_container\",\"container_id\":\"c1\",\"command\":["
			     "\"/api\"],\"env\":[\"PATH=/bin\"],\"working_dir\":\"/app\"," USER100
			     "," CAPKILL "}"));
	assert_denied(
		f, "user",
		req(f, "{\"type\":\"create_container\",\"container_id\":\"c1\",\"command\":[\"/"
		       "api\",\"serve\"],\"env\":[\"PATH=/bin\"],\"working_dir\":\"/app\"," CAPKILL
		       "}"));
	assert_denied(f, "working_dir",
		      req(f,
			  "{\"type\":\"create_container\",\"container_id\":\"c1\",\"command\":[\"/"
			  "api\",\"serve\"],\"env\":[\"PATH=/bin\"],\"working_dir\":\"/\"," USER100
			  "," CAPKILL "}"));
	assert_denied(f, "env", req(f, CREATE_API("c1", "\"PATH=/bin\",\"SECRET=UPPER\"")));
	assert_non_null(strstr(f->d.reason.got, "SECRET=<<redacted>>"));
	assert_null(strstr(f->d.reason.got, "UPPER"));
	assert_denied(f, "env_required", req(f, CREATE_API("c1", "\"SECRET=abcd\"")));
	assert_denied(
		f, "capabilities",
		req(f, "{\"type\":\"create_container\",\"container_id\":\"c1\",\"command\":[\"/"
		       "api\",\"serve\"],\"env\":[\"PATH=/bin\"],\"working_dir\":\"/app\"," USER100
		       "}"));
	assert_string_equal(f->d.reason.field, "capabilities.bounding");
	assert_denied(f, "privileged",
		      req(f, "{\"type\":\"create_container\",\"container_id\":\"c1\",\"command\":["
			     "\"/api\",\"serve\"],\"env\":[\"PATH=/bin\"],\"working_dir\":\"/"
			     "app\",\"privileged\":true," USER100 "," CAPKILL "}"));
	assert_denied(
		f, "mounts",
		req(f, "{\"type\":\"create_container\",\"container_id\":\"c1\",\"command\":[\"/"
		       "api\",\"serve\"],\"env\":[\"PATH=/bin\"],\"working_dir\":\"/app\"," USER100
		       "," CAPKILL ",\"mounts\":[{\"source\":\"/run/parma/scratch/../../etc/"
		       "data\",\"destination\":\"/"
		       "data\",\"type\":\"bind\",\"options\":[\"rw\",\"rbind\"]}]}"));
	assert_denied(
		f, "seccomp",
		req(f, "{\"type\":\"create_container\",\"container_id\":\"c1\",\"command\":[\"/"
		       "api\",\"serve\"],\"env\":[\"PATH=/bin\"],\"working_dir\":\"/app\"," USER100
		       "," CAPKILL ",\"seccomp_profile\":\"e30=\"}"));
	assert_denied(f, "no_overlay", req(f, CREATE_API("c9", "\"PATH=/bin\"")));
	/* a scratch:// source lives on the scratch disk */
#define CREATE_DATA                                                                                \
	"{\"type\":\"create_container\",\"container_id\":\"c1\",\"command\":[\"/"          \
	"api\",\"serve\"],\"env\":[\"PATH=/bin\"],\"working_dir\":\"/app\"," USER100        \
	"," CAPKILL ",\"mounts\":[{\"source\":\"scratch://data\",\"destination\":\"/"         \
	"data\",\"type\":\"bind\",\"options\":[\"rw\",\"rbind\"]}]}"
	assert_denied(f, "no_device", req(f, CREATE_DATA));
	assert_allowed(f, req(f, "{\"type\":\"mount_scratch\"}"));
	/* allowed: regex mount source, env kept in order, caps and stdio from the policy */
	assert_allowed(
		f,
		req(f, "{\"type\":\"create_container\",\"container_id\":\"c1\",\"command\":[\"/"
		       "api\",\"serve\"],\"env\":[\"PATH=/"
		       "bin\",\"SECRET=abcd\"],\"working_dir\":\"/app\"," USER100 "," CAPKILL
		       ",\"mounts\":[{\"source\":\"scratch://data\",\"destination\":\"/"
		       "data\",\"type\":\"bind\",\"options\":[\"rw\",\"rbind\"]}]}"));
	assert_int_equal(f->d.n_env_keep, 2);
	assert_int_equal(f->d.env_keep[0], 0);
	assert_int_equal(f->d.env_keep[1], 1);
	assert_int_equal(f->d.caps.bounding, 1ull << 5); /* CAP_KILL */
	assert_int_equal(f->d.caps.ambient, 0);
	assert_true(f->d.allow_stdio_access);
	char *s = snap(f);
	assert_non_null(strstr(s, "\"started\":true"));
	assert_non_null(strstr(s, "\"candidates\":[\"api\"]")); /* narrowed from api+worker */
	free(s);
	assert_denied(f, "container_started", req(f, CREATE_API("c1", "\"PATH=/bin\"")));
	fx_free(f);
}

static void policy_env_dropping_keeps_unique_largest_set(void **state)
{
	(void)state;
	struct fx *f = fx_new("\"allow_environment_variable_dropping\":true,");
	setup_overlay(f, "c1");
	/* EXTRA matches no rule: dropped, not denied */
	assert_allowed(f, req(f, CREATE_API("c1", "\"EXTRA=1\",\"PATH=/bin\",\"SECRET=abcd\"")));
	assert_int_equal(f->d.n_env_keep, 2);
	assert_int_equal(f->d.env_keep[0], 1);
	assert_int_equal(f->d.env_keep[1], 2);
	struct json_object *o =
		json_tokener_parse(CREATE_API("c1", "\"EXTRA=1\",\"PATH=/bin\",\"SECRET=abcd\""));
	struct policy_request q;
	assert_int_equal(policy_request_from_json(o, &q, NULL), 0);
	struct json_object *dj = policy_decision_to_json(&f->d, &q);
	const char *txt = json_object_to_json_string_ext(dj, JSON_C_TO_STRING_PLAIN);
	assert_non_null(strstr(txt, "\"env_keep\":[\"PATH\",\"SECRET\"]"));
	assert_non_null(strstr(txt, "\"env_dropped\":[\"EXTRA\"]"));
	assert_null(strstr(txt, "abcd")); /* never a value */
	json_object_put(dj);
	policy_request_clear(&q);
	json_object_put(o);
	fx_free(f);
	/* without the flag the same request is denied */
	f = fx_new("");
	setup_overlay(f, "c1");
	assert_denied(f, "env",
		      req(f, CREATE_API("c1", "\"EXTRA=1\",\"PATH=/bin\",\"SECRET=abcd\"")));
	fx_free(f);
}

static void policy_caps_dropping_reduces_to_policy_set(void **state)
{
	(void)state;
	struct fx *f = fx_new("\"allow_capability_dropping\":true,");
	setup_overlay(f, "c1");
	assert_allowed(
		f,
		req(f, "{\"type\":\"create_container\",\"container_id\":\"c1\",\"command\":[\"/"
		       "api\",\"serve\"],\"env\":[\"PATH=/bin\"],\"working_dir\":\"/app\"," USER100
		       ",\"capabilities\":{\"bounding\":[\"CAP_KILL\",\"CAP_SYS_ADMIN\"],"
		       "\"effective\":[\"CAP_KILL\",\"CAP_SYS_ADMIN\"],\"permitted\":[\"CAP_KILL\"]"
		       "}}"));
	assert_int_equal(f->d.caps.bounding, 1ull << 5);
	assert_int_equal(f->d.caps.effective, 1ull << 5);
	fx_free(f);
	/* dropping cannot add what the request lacks */
	f = fx_new("\"allow_capability_dropping\":true,");
	setup_overlay(f, "c1");
	assert_denied(
		f, "capabilities",
		req(f, "{\"type\":\"create_container\",\"container_id\":\"c1\",\"command\":[\"/"
		       "api\",\"serve\"],\"env\":[\"PATH=/bin\"],\"working_dir\":\"/app\"," USER100
		       ",\"capabilities\":{\"bounding\":[\"CAP_SYS_ADMIN\"]}}"));
	fx_free(f);
}

static void policy_exec_in_container_checks_exec_processes(void **state)
{
	(void)state;
	struct fx *f = fx_new("");
	setup_overlay(f, "c1");
	const char *exec_ps =
		"{\"type\":\"exec_in_container\",\"container_id\":\"c1\",\"command\":[\"/bin/"
		"ps\"],\"env\":[\"PATH=/bin\"],\"working_dir\":\"/app\"," USER100 "," CAPKILL "}";
	assert_denied(f, "container_not_started", req(f, "%s", exec_ps));
	assert_allowed(f, req(f, CREATE_API("c1", "\"PATH=/bin\"")));
	assert_allowed(f, req(f, "%s", exec_ps));
	assert_true(f->d.allow_stdio_access);
	assert_denied(f, "exec_process",
		      req(f,
			  "{\"type\":\"exec_in_container\",\"container_id\":\"c1\",\"command\":[\"/"
			  "bin/sh\"],\"env\":[\"PATH=/bin\"],\"working_dir\":\"/app\"," USER100
			  "," CAPKILL "}"));
	assert_denied(f, "working_dir",
		      req(f,
			  "{\"type\":\"exec_in_container\",\"container_id\":\"c1\",\"command\":[\"/"
			  "bin/top\"],\"env\":[\"PATH=/bin\"],\"working_dir\":\"/app\"," USER100
			  "," CAPKILL "}"));
	assert_allowed(
		f, req(f, "{\"type\":\"exec_in_container\",\"container_id\":\"c1\",\"command\":[\"/"
			  "bin/top\"],\"env\":[\"PATH=/bin\"],\"working_dir\":\"/tmp\"," USER100
			  "," CAPKILL "}"));
	assert_denied(
		f, "env",
		req(f, "{\"type\":\"exec_in_container\",\"container_id\":\"c1\",\"command\":[\"/"
		       "bin/ps\"],\"env\":[\"PATH=/bin\",\"X=1\"],\"working_dir\":\"/app\"," USER100
		       "," CAPKILL "}"));
	assert_denied(
		f, "user",
		req(f, "{\"type\":\"exec_in_container\",\"container_id\":\"c1\",\"command\":[\"/"
		       "bin/ps\"],\"env\":[\"PATH=/bin\"],\"working_dir\":\"/app\"," CAPKILL "}"));
	assert_denied(
		f, "capabilities",
		req(f, "{\"type\":\"exec_in_container\",\"container_id\":\"c1\",\"command\":[\"/"
		       "bin/ps\"],\"env\":[\"PATH=/bin\"],\"working_dir\":\"/app\"," USER100 "}"));
	fx_free(f);
}

static void policy_exec_external_checks_external_processes(void **state)
{
	(void)state;
	struct fx *f = fx_new("");
	assert_allowed(f, req(f, "{\"type\":\"exec_external\",\"command\":[\"/bin/"
				 "date\"],\"env\":[\"TZ=UTC\"],\"working_dir\":\"/\"}"));
	assert_false(f->d.allow_stdio_access);
	assert_denied(f, "external_process",
		      req(f, "{\"type\":\"exec_external\",\"command\":[\"/bin/"
			     "sh\"],\"working_dir\":\"/\"}"));
	assert_denied(f, "working_dir",
		      req(f, "{\"type\":\"exec_external\",\"command\":[\"/bin/"
			     "date\"],\"working_dir\":\"/tmp\"}"));
	assert_denied(f, "env",
		      req(f, "{\"type\":\"exec_external\",\"command\":[\"/bin/"
			     "date\"],\"env\":[\"TZ=CET\"],\"working_dir\":\"/\"}"));
	assert_denied(f, "malformed_request",
		      req(f, "{\"type\":\"exec_external\",\"command\":[],\"working_dir\":\"/\"}"));
	fx_free(f);
}

/* signal_process to an exec'd process whose command the caller knows (NULL: none given). */
static int signal_exec(struct fx *f, int sig, const char *cmd)
{
	const char *argv[] = {cmd};
	struct policy_req_signal_process r = {.container_id = "c1", .signal = sig,
					      .has_process_id = true, .process_id = 2};
	policy_signal_resolve(&r, false, argv, cmd ? 1 : 0);
	return policy_signal_process(f->e, &r, &f->d);
}

static void policy_signals_per_container_and_exec_process(void **state)
{
	(void)state;
	struct fx *f = fx_new("");
	setup_overlay(f, "c1");
	assert_denied(
		f, "container_not_started",
		req(f, "{\"type\":\"signal_process\",\"container_id\":\"c1\",\"signal\":15}"));
	assert_allowed(f, req(f, CREATE_API("c1", "\"PATH=/bin\"")));
	assert_allowed(
		f, req(f, "{\"type\":\"signal_process\",\"container_id\":\"c1\",\"signal\":15}"));
	/* SIGINT is worker's, and c1 was narrowed to api */
	assert_denied(f, "signal",
		      req(f, "{\"type\":\"signal_process\",\"container_id\":\"c1\",\"signal\":2}"));
	assert_denied(f, "signal",
		      req(f, "{\"type\":\"signal_process\",\"container_id\":\"c1\",\"signal\":9}"));
	/* an exec'd process: the agent resolves process_id to its command (typed API) */
	assert_int_equal(signal_exec(f, 9, "/bin/ps"), 0);
	assert_int_equal(signal_exec(f, 15, "/bin/ps"), -EACCES);
	assert_int_equal(f->d.reason.rule, POLICY_RULE_SIGNAL);
	assert_int_equal(signal_exec(f, 9, "/bin/top"), -EACCES);
	assert_int_equal(f->d.reason.rule, POLICY_RULE_SIGNAL);
	assert_denied(f, "malformed_request",
		      req(f, "{\"type\":\"signal_process\",\"container_id\":\"c1\",\"signal\":0}"));
	assert_denied(f, "malformed_request",
		      req(f, "{\"type\":\"signal_process\",\"container_id\":\"c1\",\"signal\":9,"
			     "\"init_process\":false}"));
	assert_int_equal(signal_exec(f, 9, NULL), -EACCES);
	assert_int_equal(f->d.reason.rule, POLICY_RULE_MALFORMED_REQUEST);
	fx_free(f);
}

static void policy_signal_narrows_candidates(void **state)
{
	(void)state;
	/* two indistinguishable containers until a signal picks one */
	const char *p =
		"{\"version\":1,\"containers\":["
		"{\"name\":\"t\",\"layers\":[\"" HA "\"],\"command\":[\"/x\"],\"signals\":[15]},"
		"{\"name\":\"i\",\"layers\":[\"" HA "\"],\"command\":[\"/x\"],\"signals\":[2]}]}";
	struct fx *f = calloc(1, sizeof(*f));
	f->policy = strdup(p);
	f->e = policy_engine_new();
	struct policy_digest dg;
	policy_digest((uint8_t *)p, strlen(p), &dg);
	struct policy_req_install_policy in = {(uint8_t *)p, strlen(p), dg.sha256};
	assert_int_equal(policy_engine_install(f->e, &in, &f->d), 0);
	assert_allowed(f, req(f, MOUNT("0", HA)));
	assert_allowed(f, req(f, OVERLAY("c1", LT("0"))));
	assert_allowed(f, req(f, "{\"type\":\"create_container\",\"container_id\":\"c1\","
				 "\"command\":[\"/x\"],\"working_dir\":\"/\"}"));
	char *s0 = snap(f);
	assert_non_null(strstr(s0, "\"candidates\":[\"t\",\"i\"]"));
	assert_allowed(
		f, req(f, "{\"type\":\"signal_process\",\"container_id\":\"c1\",\"signal\":15}"));
	char *s1 = snap(f);
	assert_non_null(strstr(s1, "\"candidates\":[\"t\"]"));
	assert_denied(f, "signal",
		      req(f, "{\"type\":\"signal_process\",\"container_id\":\"c1\",\"signal\":2}"));
	/* the kill(2) failed: revert restores both candidates */
	assert_int_equal(policy_engine_revert(f->e), 0);
	char *s2 = snap(f);
	assert_string_equal(s0, s2);
	assert_allowed(
		f, req(f, "{\"type\":\"signal_process\",\"container_id\":\"c1\",\"signal\":2}"));
	free(s0), free(s1), free(s2);
	fx_free(f);
}

static void policy_flag_points_follow_flags(void **state)
{
	(void)state;
	struct fx *f = fx_new("");
	assert_denied(f, "properties", req(f, "{\"type\":\"get_properties\"}"));
	assert_denied(f, "dump_stacks", req(f, "{\"type\":\"dump_stacks\"}"));
	assert_denied(f, "runtime_logging", req(f, "{\"type\":\"runtime_logging\"}"));
	assert_denied(f, "malformed_request",
		      req(f, "{\"type\":\"get_properties\",\"container_id\":\"x\"}"));
	fx_free(f);
	f = fx_new("\"allow_properties_access\":true,\"allow_dump_stacks\":true,\"allow_runtime_"
		   "logging\":true,");
	assert_allowed(f, req(f, "{\"type\":\"get_properties\"}"));
	assert_allowed(f, req(f, "{\"type\":\"dump_stacks\"}"));
	assert_allowed(f, req(f, "{\"type\":\"runtime_logging\"}"));
	fx_free(f);
}

static void policy_full_lifecycle(void **state)
{
	(void)state;
	struct fx *f = fx_new("");
	char *empty = snap(f);
	assert_allowed(f, req(f, MOUNT("0", HA)));
	assert_allowed(f, req(f, MOUNT("1", HB)));
	assert_allowed(f,
		       req(f, "{\"type\":\"mount_scratch\",\"target\":\"/run/parma/scratch\"}"));
	assert_allowed(f, req(f, OVERLAY("c1", LT("0") "," LT("1"))));
	assert_allowed(f, req(f, CREATE_API("c1", "\"PATH=/bin\"")));
	assert_allowed(
		f, req(f, "{\"type\":\"exec_in_container\",\"container_id\":\"c1\",\"command\":[\"/"
			  "bin/ps\"],\"env\":[\"PATH=/bin\"],\"working_dir\":\"/app\"," USER100
			  "," CAPKILL "}"));
	assert_allowed(
		f, req(f, "{\"type\":\"signal_process\",\"container_id\":\"c1\",\"signal\":15}"));
	assert_denied(f, "overlay_in_use",
		      req(f, "{\"type\":\"unmount_overlay\",\"target\":\"/run/parma/containers/c1/rootfs\"}"));
	assert_allowed(f, req(f, "{\"type\":\"shutdown_container\",\"container_id\":\"c1\"}"));
	/* a second shutdown (the host forcing a container that ignored SIGTERM) is allowed
	 * and changes nothing; exec and create are not */
	char *down = snap(f);
	assert_allowed(f, req(f, "{\"type\":\"shutdown_container\",\"container_id\":\"c1\"}"));
	char *down2 = snap(f);
	assert_string_equal(down, down2);
	assert_int_equal(policy_engine_revert(f->e), 0); /* the kill failed: nothing to undo */
	free(down2);
	down2 = snap(f);
	assert_string_equal(down, down2);
	assert_denied(
		f, "container_not_started",
		req(f, "{\"type\":\"signal_process\",\"container_id\":\"c1\",\"signal\":15}"));
	assert_denied(f, "id_reused", req(f, CREATE_API("c1", "\"PATH=/bin\"")));
	assert_allowed(
		f, req(f, "{\"type\":\"unmount_overlay\",\"target\":\"/run/parma/containers/c1/rootfs\"}"));
	/* once unmounted, the container is gone: no shutdown, and the id is retired */
	assert_denied(f, "container_not_started",
		      req(f, "{\"type\":\"shutdown_container\",\"container_id\":\"c1\"}"));
	assert_allowed(
		f, req(f, "{\"type\":\"unmount_device\",\"target\":\"/run/parma/scratch\"}"));
	assert_allowed(f,
		       req(f, "{\"type\":\"unmount_device\",\"target\":\"/run/parma/layers/1\"}"));
	assert_allowed(f,
		       req(f, "{\"type\":\"unmount_device\",\"target\":\"/run/parma/layers/0\"}"));
	char *end = snap(f);
	/* everything undone, nothing left behind but the retired id */
	assert_non_null(strstr(end, "\"devices\":[],\"containers\":[]"));
	assert_non_null(strstr(end, "\"retired_ids\":[\"c1\"]"));
	assert_non_null(strstr(empty, "\"retired_ids\":[]"));
	/* the id can never get an overlay again, on these layers or any others */
	assert_allowed(f, req(f, MOUNT("0", HA)));
	assert_allowed(f, req(f, MOUNT("1", HB)));
	assert_allowed(f, req(f, MOUNT("2", HC)));
	assert_denied(f, "id_reused", req(f, OVERLAY("c1", LT("0") "," LT("1"))));
	assert_denied(f, "id_reused", req(f, OVERLAY("c1", LT("0") "," LT("2"))));
	/* a new id starts from scratch */
	assert_allowed(f, req(f, OVERLAY("c2", LT("0") "," LT("1"))));
	assert_allowed(f, req(f, CREATE_API("c2", "\"PATH=/bin\"")));
	free(empty);
	free(end);
	free(down);
	free(down2);
	fx_free(f);
}

/* An overlay unmounted before its container was created does not retire the id (the host
 * may retry a failed setup); unmounting a shut-down container's overlay does, and reverting
 * that unmount un-retires it. */
static void policy_ids_retire_with_their_container(void **state)
{
	(void)state;
	struct fx *f = fx_new("");
	setup_overlay(f, "c1");
	assert_allowed(
		f, req(f, "{\"type\":\"unmount_overlay\",\"target\":\"/run/parma/containers/c1/rootfs\"}"));
	assert_allowed(f, req(f, OVERLAY("c1", LT("0") "," LT("1"))));
	assert_allowed(f, req(f, CREATE_API("c1", "\"PATH=/bin\"")));
	assert_allowed(f, req(f, "{\"type\":\"shutdown_container\",\"container_id\":\"c1\"}"));
	char *before = snap(f);
	assert_allowed(
		f, req(f, "{\"type\":\"unmount_overlay\",\"target\":\"/run/parma/containers/c1/rootfs\"}"));
	assert_int_equal(policy_engine_revert(f->e), 0); /* the unmount failed in the guest */
	char *after = snap(f);
	assert_string_equal(before, after);
	assert_allowed(
		f, req(f, "{\"type\":\"unmount_overlay\",\"target\":\"/run/parma/containers/c1/rootfs\"}"));
	assert_denied(f, "id_reused", req(f, OVERLAY("c1", LT("0") "," LT("1"))));
	/* many retired ids stay sorted and each one found */
	char id[32];
	for (int i = 0; i < 300; i++) {
		snprintf(id, sizeof(id), "x%d", (i * 7919) % 1000);
		char *o;
		assert_true(asprintf(&o,
				     "{\"type\":\"mount_overlay\",\"container_id\":\"%s\","
				     "\"target\":\"/run/parma/containers/%s/rootfs\",\"layer_targets\":[" LT("0") "," LT("1") "]}",
				     id, id) > 0);
		assert_allowed(f, req(f, "%s", o));
		assert_allowed(f, req(f,
				      "{\"type\":\"create_container\",\"container_id\":\"%s\","
				      "\"command\":[\"/api\",\"serve\"],\"env\":[\"PATH=/bin\"],"
				      "\"working_dir\":\"/app\"," USER100 "," CAPKILL "}",
				      id));
		assert_allowed(f, req(f,
				      "{\"type\":\"shutdown_container\",\"container_id\":"
				      "\"%s\"}",
				      id));
		assert_allowed(f, req(f,
				      "{\"type\":\"unmount_overlay\",\"target\":"
				      "\"/run/parma/containers/%s/rootfs\"}",
				      id));
		assert_denied(f, "id_reused", req(f, "%s", o));
		free(o);
	}
	for (int i = 0; i < 300; i++) {
		snprintf(id, sizeof(id), "x%d", (i * 7919) % 1000);
		assert_denied(f, "id_reused",
			      req(f,
				  "{\"type\":\"mount_overlay\",\"container_id\":\"%s\","
				  "\"target\":\"/run/parma/containers/%s/rootfs\",\"layer_targets\":[" LT("0") "," LT("1") "]}",
				  id, id));
	}
	free(before);
	free(after);
	fx_free(f);
}

static void policy_revert_restores_state_before_last_allowed(void **state)
{
	(void)state;
	struct fx *f = fx_new("");
	assert_int_equal(policy_engine_revert(f->e), -ENOENT);
	char *s0 = snap(f);
	assert_allowed(f, req(f, MOUNT("0", HA)));
	assert_int_equal(policy_engine_revert(f->e), 0); /* the device mount failed */
	char *s1 = snap(f);
	assert_string_equal(s0, s1);
	assert_int_equal(policy_engine_revert(f->e), -ENOENT); /* only once */
	setup_overlay(f, "c1");
	char *s2 = snap(f);
	assert_allowed(f, req(f, CREATE_API("c1", "\"PATH=/bin\"")));
	assert_int_equal(policy_engine_revert(f->e), 0); /* crun failed */
	char *s3 = snap(f);
	assert_string_equal(s2, s3); /* not started, candidates not narrowed */
	assert_allowed(f, req(f, CREATE_API("c1", "\"PATH=/bin\"")));
	char *s4 = snap(f);
	assert_allowed(f, req(f, "{\"type\":\"shutdown_container\",\"container_id\":\"c1\"}"));
	assert_int_equal(policy_engine_revert(f->e), 0);
	char *s5 = snap(f);
	assert_string_equal(s4, s5);
	free(s0), free(s1), free(s2), free(s3), free(s4), free(s5);
	fx_free(f);
}

static void policy_debug_form_allows_and_says_so(void **state)
{
	(void)state;
	const char *p = "{\"version\":1,\"insecure_allow_all\":\"" POLICY_DEBUG_MARKER "\"}";
	struct policy_engine *e = policy_engine_new();
	struct policy_decision d;
	struct policy_digest dg;
	policy_digest((const uint8_t *)p, strlen(p), &dg);
	struct policy_req_install_policy in = {(const uint8_t *)p, strlen(p), dg.sha256};
	assert_int_equal(policy_engine_install(e, &in, &d), 0);
	assert_true(d.debug);
	const char *cmd[] = {"/bin/sh"}, *env[] = {"ANY=thing"};
	struct policy_req_create_container cc = {.container_id = "x",
						 .command = {cmd, 1},
						 .env = {env, 1},
						 .working_dir = "/",
						 .privileged = true};
	assert_int_equal(policy_create_container(e, &cc, &d), 0);
	assert_true(d.allowed && d.debug);
	assert_int_equal(d.n_env_keep, 1);
	struct json_object *dj = policy_decision_to_json(&d, NULL);
	assert_non_null(strstr(json_object_to_json_string(dj), "\"debug\""));
	json_object_put(dj);
	/* even debug cannot be replaced by a second policy */
	assert_int_equal(policy_engine_install(e, &in, &d), -EACCES);
	/* and a malformed request is still malformed */
	struct policy_req_mount_device md = {.target = "relative"};
	assert_int_equal(policy_mount_device(e, &md, &d), -EACCES);
	assert_int_equal(d.reason.rule, POLICY_RULE_TARGET_PATH);
	policy_engine_free(e);
}

/* An engine with `pol` installed and container id "c" on one layer (hash HA). */
static struct policy_engine *engine_with(const char *pol)
{
	struct policy_engine *e = policy_engine_new();
	struct policy_decision d;
	struct policy_digest dg;
	assert_non_null(e);
	policy_digest((const uint8_t *)pol, strlen(pol), &dg);
	struct policy_req_install_policy in = {(const uint8_t *)pol, strlen(pol), dg.sha256};
	if (policy_engine_install(e, &in, &d))
		fail_msg("install: %s", d.reason.message);
	struct policy_req_mount_device md = {.target = "/run/parma/layers/0"};
	memset(md.device_hash, 0xaa, 32);
	assert_int_equal(policy_mount_device(e, &md, &d), 0);
	const char *lt[] = {"/run/parma/layers/0"};
	struct policy_req_mount_overlay mo = {"c", "/run/parma/containers/c/rootfs", {lt, 1}, NULL};
	assert_int_equal(policy_mount_overlay(e, &mo, &d), 0);
	return e;
}

/* A policy of containers on layer HA running /r; each entry of `containers` is the rest of a
 * container object ("\"name\":\"a\",..."). Caller frees. */
static char *policy_of(const char *const *containers, size_t n)
{
	size_t size = 64;
	for (size_t i = 0; i < n; i++)
		size += strlen(containers[i]) + 128;
	char *p = malloc(size);
	assert_non_null(p);
	size_t len = (size_t)snprintf(p, size, "{\"version\":1,\"containers\":[");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(p + len, size - len,
					"%s{\"layers\":[\"" HA "\"],\"command\":[\"/r\"],%s}",
					i ? "," : "", containers[i]);
	snprintf(p + len, size - len, "]}");
	return p;
}

static int create_with_env(struct policy_engine *e, const char *const *env, size_t n,
			   struct policy_decision *d)
{
	const char *cmd[] = {"/r"};
	struct policy_req_create_container cc = {.container_id = "c",
						 .command = {cmd, 1},
						 .env = {env, n},
						 .working_dir = "/",
						 .user = {.umask = 022}};
	policy_caps_default(&cc.caps);
	return policy_create_container(e, &cc, d);
}

/* "NAME=" then n copies of c then suffix (caller frees). */
static char *fill(const char *name, char c, size_t n, const char *suffix)
{
	size_t ln = strlen(name), ls = strlen(suffix);
	char *s = malloc(ln + n + ls + 1);
	assert_non_null(s);
	memcpy(s, name, ln);
	memset(s + ln, c, n);
	memcpy(s + ln + n, suffix, ls + 1);
	return s;
}

static void policy_regex_is_bounded_on_hostile_subjects(void **state)
{
	(void)state;
	/* catastrophic patterns: the match stops at its step limit and the request is
	 * denied by "limit", instead of running for an exponential time (the test's
	 * timeout would catch a hang); where PCRE2 sees at once that a required
	 * character is missing, it is a plain no match ("env") */
	const struct {
		const char *pattern, *rule;
	} cases[] = {
		{"X=(a+)+$", "limit"},
		{"X=(a|a)*b", "env"},
		{"X=(a|aa)+$", "limit"},
		{"X=(.*a){12}", "limit"},
		{"X=((a+)+)+b", "env"},
		/* few backtracking steps, but each rescans the rest of the subject: counted too */
		{"X=(?:a*b|a)*", "limit"},
		{"X=(?:a(?=a*!))*!", "limit"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *c, *pol;
		assert_true(asprintf(&c,
				     "\"name\":\"r\",\"env_rules\":[{\"pattern\":\"%s\","
				     "\"strategy\":\"regex\"}]",
				     cases[i].pattern) > 0);
		const char *cs[] = {c};
		pol = policy_of(cs, 1);
		struct policy_engine *e = engine_with(pol);
		struct policy_decision d;
		char *env = fill("X=", 'a', 4000, "!");
		const char *envs[POLICY_MAX_ENV];
		for (size_t k = 0; k < POLICY_MAX_ENV; k++)
			envs[k] = env;
		char *before, *after;
		assert_int_equal(policy_engine_state_json(e, &before), 0);
		assert_int_equal(create_with_env(e, envs, POLICY_MAX_ENV, &d), -EACCES);
		if (strcmp(policy_rule_name(d.reason.rule), cases[i].rule))
			fail_msg("%s: denied by %s (%s), expected %s", cases[i].pattern,
				 policy_rule_name(d.reason.rule), d.reason.message, cases[i].rule);
		if (d.reason.rule == POLICY_RULE_LIMIT) {
			assert_string_equal(d.reason.field, "env[0]"); /* stopped on the first */
			assert_non_null(strstr(d.reason.message, "more work than its limit"));
		}
		assert_int_equal(policy_engine_state_json(e, &after), 0);
		assert_string_equal(before, after);
		policy_engine_free(e);
		free(before), free(after), free(env), free(pol), free(c);
	}
	/* the limits must not refuse an honest long match */
	struct fx *f = fx_new("");
	setup_overlay(f, "c1");
	char big[4000];
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_allowed(f, req(f, CREATE_API("c1", "\"PATH=/bin\",\"SECRET=%s\""), big));
	fx_free(f);
}

/* Two candidates that differ only in stdio access: whichever of them a match stops on,
 * the request is denied by "limit" (never narrowed to the other one, which would then
 * decide stdio access by policy order). */
static void policy_limit_denies_whichever_candidate_it_stops_on(void **state)
{
	(void)state;
	const char *cheap = "\"env_rules\":[{\"pattern\":\"E=a*\",\"strategy\":\"regex\"}]";
	const char *costly =
		"\"env_rules\":[{\"pattern\":\"E=(a|aa)+[bc]|E=a{1,8}\",\"strategy\":\"regex\"}]";
	for (int order = 0; order < 2; order++) {
		char *c0, *c1;
		assert_true(asprintf(&c0, "\"name\":\"v0\",\"allow_stdio_access\":%s,%s",
				     order ? "true" : "false", order ? cheap : costly) > 0);
		assert_true(asprintf(&c1, "\"name\":\"v1\",\"allow_stdio_access\":%s,%s",
				     order ? "false" : "true", order ? costly : cheap) > 0);
		const char *cs[] = {c0, c1};
		char *pol = policy_of(cs, 2);
		struct policy_engine *e = engine_with(pol);
		struct policy_decision d;
		char *env = fill("E=", 'a', 4000, "");
		const char *envs[] = {env};
		char *before, *after;
		assert_int_equal(policy_engine_state_json(e, &before), 0);
		assert_int_equal(create_with_env(e, envs, 1, &d), -EACCES);
		assert_int_equal(d.reason.rule, POLICY_RULE_LIMIT);
		assert_string_equal(d.reason.field, "env[0]");
		assert_null(strstr(d.reason.got, "aaaa")); /* never the value */
		assert_int_equal(policy_engine_state_json(e, &after), 0);
		assert_string_equal(before, after);
		/* a short value both accept is decided on its merits: ambiguous */
		const char *small[] = {"E=aaaa"};
		assert_int_equal(create_with_env(e, small, 1, &d), -EACCES);
		assert_int_equal(d.reason.rule, POLICY_RULE_STDIO_AMBIGUOUS);
		policy_engine_free(e);
		free(before), free(after), free(env), free(pol), free(c0), free(c1);
	}
}

/* The request's budget pays for the work done: 256 values each needing ~36,000 units (nine
 * pattern items per byte; under a match's limit of 65,000) exhaust it within the second
 * candidate, and the request is denied by "limit", not narrowed to the first candidate. */
static void policy_limit_budget_is_per_request(void **state)
{
	(void)state;
	const char *cs[] = {
		"\"name\":\"v0\",\"allow_stdio_access\":true,\"env_rules\":[{\"pattern\":"
		"\"E[0-9]+=(?:(?:(a)|b)(?:c|))*\",\"strategy\":\"regex\"}]",
		"\"name\":\"v1\",\"allow_stdio_access\":false,\"env_rules\":[{\"pattern\":"
		"\"E[0-9]+=(?:(?:(a)|b)(?:c|))*\",\"strategy\":\"regex\"}]",
	};
	char *pol = policy_of(cs, 2);
	struct policy_engine *e = engine_with(pol);
	struct policy_decision d;
	char *vals[POLICY_MAX_ENV];
	const char *envs[POLICY_MAX_ENV];
	for (size_t i = 0; i < POLICY_MAX_ENV; i++) {
		char name[16];
		snprintf(name, sizeof(name), "E%zu=", i);
		envs[i] = vals[i] = fill(name, i % 2 ? 'a' : 'b', 4000, "");
	}
	assert_int_equal(create_with_env(e, envs, POLICY_MAX_ENV, &d), -EACCES);
	assert_int_equal(d.reason.rule, POLICY_RULE_LIMIT);
	assert_non_null(strstr(d.reason.message, "budget"));
	/* a quarter of it is decided (ambiguous), and each request has its own budget */
	for (int k = 0; k < 3; k++) {
		assert_int_equal(create_with_env(e, envs, POLICY_MAX_ENV / 4, &d), -EACCES);
		assert_int_equal(d.reason.rule, POLICY_RULE_STDIO_AMBIGUOUS);
	}
	for (size_t i = 0; i < POLICY_MAX_ENV; i++)
		free(vals[i]);
	policy_engine_free(e);
	free(pol);
}

/* Realistic large requests are decided on their merits: 64 regex rules x 256 values of
 * 4 KiB, each value accepted only by the last rule it is tried against (the most matching
 * work), and the 21-rule, 16 x 4,000-byte create that the up-front charging used to deny. */
static void policy_limit_allows_realistic_large_requests(void **state)
{
	(void)state;
	size_t size = 64 * 96 + 256;
	char *rules = malloc(size);
	size_t len = (size_t)snprintf(rules, size, "\"name\":\"big\",\"env_rules\":[");
	for (int i = 0; i < 64; i++)
		len += (size_t)snprintf(rules + len, size - len,
					"%s{\"pattern\":\"V%02d_[0-9]+=[A-Za-z0-9+/=._-]*\","
					"\"strategy\":\"regex\",\"required\":%s}",
					i ? "," : "", i, i < 8 ? "true" : "false");
	snprintf(rules + len, size - len, "]");
	const char *cs[] = {rules};
	char *pol = policy_of(cs, 1);
	struct policy_engine *e = engine_with(pol);
	struct policy_decision d;
	char *vals[POLICY_MAX_ENV];
	const char *envs[POLICY_MAX_ENV];
	for (size_t i = 0; i < POLICY_MAX_ENV; i++) {
		char name[24];
		/* rules are tried in order: values of V63 go through all 64 */
		snprintf(name, sizeof(name), "V%02zu_%zu=", i < 8 ? i : 63, i);
		envs[i] = vals[i] = fill(name, "aZ9+/=._-"[i % 9], 4096 - strlen(name), "");
	}
	if (create_with_env(e, envs, POLICY_MAX_ENV, &d))
		fail_msg("denied by %s: %s", policy_rule_name(d.reason.rule), d.reason.message);
	assert_int_equal(d.n_env_keep, POLICY_MAX_ENV);
	for (size_t i = 0; i < POLICY_MAX_ENV; i++)
		free(vals[i]);
	policy_engine_free(e);
	free(pol);

	/* 21 regex rules, 16 values of 4,000 bytes */
	size = 21 * 64 + 64;
	len = (size_t)snprintf(rules, size, "\"name\":\"mid\",\"env_rules\":[");
	for (int i = 0; i < 21; i++)
		len += (size_t)snprintf(rules + len, size - len,
					"%s{\"pattern\":\"R%02d=.*\",\"strategy\":\"regex\"}",
					i ? "," : "", i);
	snprintf(rules + len, size - len, "]");
	pol = policy_of(cs, 1);
	e = engine_with(pol);
	for (size_t i = 0; i < 16; i++) {
		char name[8];
		snprintf(name, sizeof(name), "R%02zu=", 20 - i % 21);
		envs[i] = vals[i] = fill(name, 'v', 4000 - strlen(name), "");
	}
	if (create_with_env(e, envs, 16, &d))
		fail_msg("denied by %s: %s", policy_rule_name(d.reason.rule), d.reason.message);
	for (size_t i = 0; i < 16; i++)
		free(vals[i]);
	policy_engine_free(e);
	free(pol);
	free(rules);
}

static void policy_request_json_is_strict(void **state)
{
	(void)state;
	struct policy_request q;
	struct errbuf eb = {0};
	const char *s = "{\"type\":\"teleport\"}";
	assert_int_equal(policy_request_parse(s, strlen(s), &q, &eb), -ENOTSUP);
	assert_int_equal(q.type, POLICY_REQ_UNKNOWN);
	s = "{\"type\":\"create_container\",\"container_id\":\"c\",\"command\":[\"/"
	    "a\"],\"working_dir\":\"/\",\"hooks\":{}}";
	assert_int_equal(policy_request_parse(s, strlen(s), &q, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "hooks: unknown field"));
	s = "{\"type\":\"create_container\",\"container_id\":\"c\",\"command\":[\"/"
	    "a\"],\"working_dir\":\"/\",\"env\":[\"NOEQ\"]}";
	assert_int_equal(policy_request_parse(s, strlen(s), &q, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "env[0]: expected NAME=value"));
	s = "{\"type\":\"mount_device\",\"target\":\"/run/parma/a\",\"device_hash\":\"" HA
	    "\",\"target\":\"/x\"}";
	assert_int_equal(policy_request_parse(s, strlen(s), &q, &eb), -EINVAL);
	assert_non_null(strstr(eb.msg, "duplicate key"));
	s = "{\"type\":\"exec_external\",\"command\":[\"/a\"],\"working_dir\":\"/"
	    "\",\"env\":[\"A=1\"]}";
	assert_int_equal(policy_request_parse(s, strlen(s), &q, &eb), 0);
	assert_int_equal(q.type, POLICY_REQ_EXEC_EXTERNAL);
	assert_int_equal(q.u.exec_external.env.n, 1);
	assert_string_equal(q.u.exec_external.env.v[0], "A=1");
	policy_request_clear(&q);
	s = "{\"type\":\"load_fragment\",\"fragment_base64\":\"e30=\"}";
	assert_int_equal(policy_request_parse(s, strlen(s), &q, &eb), 0);
	assert_int_equal(q.u.load_fragment.len, 2);
	assert_memory_equal(q.u.load_fragment.fragment, "{}", 2);
	policy_request_clear(&q);
	for (int t = 0; t < POLICY_REQ_COUNT; t++)
		assert_int_equal(policy_request_type_from_name(
					 policy_request_type_name((enum policy_request_type)t)),
				 t);
	for (int r = 0; r < POLICY_RULE_COUNT; r++)
		assert_string_not_equal(policy_rule_name((enum policy_rule)r), "unknown");
	assert_int_equal(policy_cap_from_name("CAP_SYS_ADMIN"), 21);
	assert_string_equal(policy_cap_name(40), "CAP_CHECKPOINT_RESTORE");
	assert_null(policy_cap_name(41));
}

/* Requests name things: the parser fills in the path map's entries, to_json writes names
 * back, and a compatibility path that is not the map's entry is kept as sent (so the engine
 * judges exactly it). */
static char *reparse(const char *text, struct policy_request *q)
{
	struct errbuf eb = {0};
	if (policy_request_parse(text, strlen(text), q, &eb))
		fail_msg("%s: %s", text, errbuf_msg(&eb));
	struct json_object *o = policy_request_to_json(q);
	assert_non_null(o);
	char *out = strdup(json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return out;
}

static void policy_requests_name_things_through_the_path_map(void **state)
{
	(void)state;
	struct policy_request q;
	char *s = reparse("{\"type\":\"mount_overlay\",\"container_id\":\"layers\","
			  "\"layers\":[3,0],\"scratch\":true}",
			  &q);
	/* a container named "layers" still gets containers/layers/rootfs */
	assert_string_equal(q.u.mount_overlay.target, "/run/parma/containers/layers/rootfs");
	assert_string_equal(q.u.mount_overlay.layer_targets.v[0], "/run/parma/layers/3");
	assert_string_equal(q.u.mount_overlay.scratch, POLICY_PATH_SCRATCH);
	assert_non_null(strstr(s, "\"layers\":[3,0]"));
	assert_non_null(strstr(s, "\"scratch\":true"));
	assert_null(strstr(s, "target"));
	policy_request_clear(&q);
	free(s);
	s = reparse("{\"type\":\"mount_overlay\",\"container_id\":\"c1\",\"target\":\"/run/"
		    "parma/elsewhere\",\"layer_targets\":[\"/run/parma/layers/x\"]}",
		    &q);
	assert_non_null(strstr(s, "\"target\":\"/run/parma/elsewhere\""));
	assert_non_null(strstr(s, "\"layer_targets\":[\"/run/parma/layers/x\"]"));
	policy_request_clear(&q);
	free(s);
	s = reparse("{\"type\":\"unmount_device\",\"scratch\":true}", &q);
	assert_string_equal(q.u.unmount_device.target, POLICY_PATH_SCRATCH);
	assert_string_equal(s, "{\"type\":\"unmount_device\",\"scratch\":true}");
	policy_request_clear(&q);
	free(s);
	s = reparse("{\"type\":\"unmount_overlay\",\"container_id\":\"c1\"}", &q);
	assert_string_equal(q.u.unmount_overlay.target, "/run/parma/containers/c1/rootfs");
	assert_string_equal(s, "{\"type\":\"unmount_overlay\",\"container_id\":\"c1\"}");
	policy_request_clear(&q);
	free(s);
	/* the map's own edges */
	char buf[64];
	assert_int_equal(policy_path_layer_slot("/run/parma/layers/1023"), 1023);
	assert_int_equal(policy_path_layer_slot("/run/parma/layers/1024"), -1);
	assert_int_equal(policy_path_layer_slot("/run/parma/layers/007"), -1);
	assert_int_equal(policy_path_layer_slot("/run/parma/layers/"), -1);
	assert_int_equal(policy_path_rootfs(buf, sizeof(buf), "../x"), -EINVAL);
	assert_int_equal(policy_path_scratch_mount(buf, sizeof(buf), "c1", ".."), -EINVAL);
	assert_int_equal(policy_path_scratch_mount(buf, sizeof(buf), "c1", "a/b"), -EINVAL);
	assert_int_equal(policy_path_scratch_mount(buf, sizeof(buf), "c1", "data"), 0);
	assert_string_equal(buf, "/run/parma/scratch/mounts/c1/data");
	assert_int_equal(policy_path_upper(buf, 8, "c1"), -ENAMETOOLONG);
	assert_true(policy_path_overlap("/run/parma", "/run/parma/agent"));
	assert_false(policy_path_overlap("/run/parma/agent2", "/run/parma/agent"));
	assert_true(policy_path_overlap("/", "/etc"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(policy_closed_engine_denies_everything),
		cmocka_unit_test(policy_install_checks_host_data_and_happens_once),
		cmocka_unit_test(policy_mount_device_allows_policy_layers_only),
		cmocka_unit_test(policy_unmount_device_and_scratch),
		cmocka_unit_test(policy_overlay_requires_exact_layer_order),
		cmocka_unit_test(policy_create_narrows_candidates_and_returns_effective_values),
		cmocka_unit_test(policy_env_dropping_keeps_unique_largest_set),
		cmocka_unit_test(policy_caps_dropping_reduces_to_policy_set),
		cmocka_unit_test(policy_exec_in_container_checks_exec_processes),
		cmocka_unit_test(policy_exec_external_checks_external_processes),
		cmocka_unit_test(policy_signals_per_container_and_exec_process),
		cmocka_unit_test(policy_signal_narrows_candidates),
		cmocka_unit_test(policy_flag_points_follow_flags),
		cmocka_unit_test(policy_full_lifecycle),
		cmocka_unit_test(policy_ids_retire_with_their_container),
		cmocka_unit_test(policy_revert_restores_state_before_last_allowed),
		cmocka_unit_test(policy_debug_form_allows_and_says_so),
		cmocka_unit_test(policy_regex_is_bounded_on_hostile_subjects),
		cmocka_unit_test(policy_limit_denies_whichever_candidate_it_stops_on),
		cmocka_unit_test(policy_limit_budget_is_per_request),
		cmocka_unit_test(policy_limit_allows_realistic_large_requests),
		cmocka_unit_test(policy_request_json_is_strict),
		cmocka_unit_test(policy_requests_name_things_through_the_path_map),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
