/* The adversarial corpus (tests/data/policy/attacks/): every file is a
 * request sequence a malicious host might send. All requests but the last
 * must be allowed; the last must be denied by the expected rule, leave the
 * engine state byte-for-byte unchanged, and never echo a secret value.
 *
 * Large values are written compactly: an object {"$fill": "a", "len": N,
 * "prefix": P, "suffix": S} stands for the string P + N copies of the
 * character + S, and an array element {"$repeat": X, "times": N} for N
 * copies of X, where "%i" in a prefix becomes the copy's index. */
#include <dirent.h>
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

#include "common/fileio.h"
#include "policy/lang/policy.h"

static char dir[4096];

/* "%i" in s replaced by index (when index >= 0); caller frees. */
static char *subst_index(const char *s, int index)
{
	const char *at = index >= 0 ? strstr(s, "%i") : NULL;
	char *out;
	if (!at)
		return strdup(s);
	if (asprintf(&out, "%.*s%d%s", (int)(at - s), s, index, at + 2) < 0)
		return NULL;
	return out;
}

static struct json_object *expand(struct json_object *v, int index);

static struct json_object *expand_fill(struct json_object *v, int index)
{
	struct json_object *c, *n, *p, *sfx;
	if (!json_object_object_get_ex(v, "$fill", &c) || !json_object_object_get_ex(v, "len", &n))
		return NULL;
	const char *prefix =
		json_object_object_get_ex(v, "prefix", &p) ? json_object_get_string(p) : "";
	const char *suffix =
		json_object_object_get_ex(v, "suffix", &sfx) ? json_object_get_string(sfx) : "";
	char *pre = subst_index(prefix, index);
	size_t len = (size_t)json_object_get_int(n), lp = pre ? strlen(pre) : 0;
	char *s = malloc(lp + len + strlen(suffix) + 1);
	struct json_object *out = NULL;
	if (pre && s) {
		memcpy(s, pre, lp);
		memset(s + lp, json_object_get_string(c)[0], len);
		strcpy(s + lp + len, suffix);
		out = json_object_new_string(s);
	}
	free(pre);
	free(s);
	return out;
}

static struct json_object *expand(struct json_object *v, int index)
{
	struct json_object *out, *x, *t;
	if (json_object_is_type(v, json_type_object)) {
		if (json_object_object_get_ex(v, "$fill", &x))
			return expand_fill(v, index);
		out = json_object_new_object();
		json_object_object_foreach(v, key, val)
			json_object_object_add(out, key, expand(val, index));
		return out;
	}
	if (!json_object_is_type(v, json_type_array))
		return json_object_get(v);
	out = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		struct json_object *el = json_object_array_get_idx(v, i);
		if (json_object_is_type(el, json_type_object) &&
		    json_object_object_get_ex(el, "$repeat", &x) &&
		    json_object_object_get_ex(el, "times", &t)) {
			for (int k = 0; k < json_object_get_int(t); k++)
				json_object_array_add(out, expand(x, k));
		} else {
			json_object_array_add(out, expand(el, index));
		}
	}
	return out;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Returns NULL on success, or a malloc'd failure message. */
static char *run_attack(const char *path)
{
	char *msg = NULL, *before = NULL, *after = NULL;
	uint8_t *text = NULL, *pbytes = NULL;
	size_t len, plen;
	struct json_object *doc = NULL, *v, *reqs;
	struct policy_engine *e = policy_engine_new();
	struct policy_replay *replay = policy_replay_new(e);
	struct errbuf eb = {0};
	if (!e || file_read_all(path, 1u << 24, &text, &len, &eb)) {
		msg = strdup(errbuf_msg(&eb));
		goto out;
	}
	doc = json_tokener_parse((const char *)text);
	if (!doc || !json_object_object_get_ex(doc, "requests", &reqs) ||
	    !json_object_object_get_ex(doc, "expect_rule", &v)) {
		msg = strdup("not an attack file");
		goto out;
	}
	const char *rule = json_object_get_string(v);
	const char *secret = NULL;
	if (json_object_object_get_ex(doc, "secret", &v))
		secret = json_object_get_string(v);
	bool install = true;
	if (json_object_object_get_ex(doc, "install", &v))
		install = json_object_get_boolean(v);
	if (json_object_object_get_ex(doc, "policy_inline", &v)) {
		struct json_object *pol = expand(v, -1);
		const char *s = json_object_to_json_string_ext(pol, JSON_C_TO_STRING_PLAIN);
		plen = strlen(s);
		pbytes = (uint8_t *)strdup(s);
		json_object_put(pol);
	} else {
		char ppath[8192];
		json_object_object_get_ex(doc, "policy", &v);
		snprintf(ppath, sizeof(ppath), "%s/attacks/%s", dir, json_object_get_string(v));
		if (file_read_all(ppath, POLICY_MAX_BYTES, &pbytes, &plen, &eb)) {
			msg = strdup(errbuf_msg(&eb));
			goto out;
		}
	}
	struct policy_decision d;
	if (install) {
		struct policy_digest dg;
		policy_digest(pbytes, plen, &dg);
		struct policy_req_install_policy inst = {pbytes, plen, dg.sha256};
		if (policy_engine_install(e, &inst, &d)) {
			if (asprintf(&msg, "policy not installed: %s", d.reason.message) < 0)
				msg = NULL;
			goto out;
		}
	}
	size_t n = json_object_array_length(reqs);
	for (size_t i = 0; i < n; i++) {
		struct json_object *rq = expand(json_object_array_get_idx(reqs, i), -1);
		bool last = i + 1 == n;
		if (last && policy_engine_state_json(e, &before)) {
			json_object_put(rq);
			goto out;
		}
		struct policy_request q;
		int ret = policy_replay_decide(replay, rq, &q, &d);
		policy_request_clear(&q);
		json_object_put(rq);
		if (!last && ret != 0) {
			if (asprintf(&msg, "setup request %zu denied by %s: %s", i,
				     policy_rule_name(d.reason.rule), d.reason.message) < 0)
				msg = NULL;
			goto out;
		}
		if (!last)
			continue;
		if (ret != -EACCES || d.allowed) {
			if (asprintf(&msg, "attack request was not denied (ret %d)", ret) < 0)
				msg = NULL;
			goto out;
		}
		if (strcmp(policy_rule_name(d.reason.rule), rule)) {
			if (asprintf(&msg, "denied by '%s' (%s), expected '%s'",
				     policy_rule_name(d.reason.rule), d.reason.message, rule) < 0)
				msg = NULL;
			goto out;
		}
		if (policy_engine_state_json(e, &after))
			goto out;
		if (strcmp(before, after)) {
			if (asprintf(&msg, "state changed by a denied request:\n%s\n%s", before,
				     after) < 0)
				msg = NULL;
			goto out;
		}
		if (policy_engine_revert(e) == 0) {
			/* the denial left the previous allowed request revertible: fine, but
			 * the denial itself must not have become revertible */
		}
		struct json_object *dj = policy_decision_to_json(&d, NULL);
		const char *dt = json_object_to_json_string(dj);
		if (secret && strstr(dt, secret)) {
			if (asprintf(&msg, "decision leaks a secret value: %s", dt) < 0)
				msg = NULL;
		}
		json_object_put(dj);
	}
out:
	free(before);
	free(after);
	free(text);
	free(pbytes);
	json_object_put(doc);
	policy_replay_free(replay);
	policy_engine_free(e);
	return msg;
}

static void policy_attack_corpus_all_denied_by_expected_rule(void **state)
{
	(void)state;
	char adir[4096 + 16];
	snprintf(adir, sizeof(adir), "%s/attacks", dir);
	DIR *dp = opendir(adir);
	assert_non_null(dp);
	char *names[1024];
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(dp)) && n < 1024)
		if (strstr(de->d_name, ".json"))
			names[n++] = strdup(de->d_name);
	closedir(dp);
	qsort(names, n, sizeof(names[0]), cmp_names);
	size_t failed = 0;
	for (size_t i = 0; i < n; i++) {
		char path[8192 + 300];
		snprintf(path, sizeof(path), "%s/%s", adir, names[i]);
		char *msg = run_attack(path);
		if (msg) {
			fprintf(stderr, "FAIL %s: %s\n", names[i], msg);
			failed++;
			free(msg);
		}
		free(names[i]);
	}
	fprintf(stderr, "%zu attack sequences, %zu failed\n", n, failed);
	assert_true(n >= 60);
	assert_int_equal(failed, 0);
}

int main(void)
{
	const char *root = getenv("PARMA_SOURCE_ROOT");
	snprintf(dir, sizeof(dir), "%s/tests/data/policy", root ? root : ".");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(policy_attack_corpus_all_denied_by_expected_rule),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
