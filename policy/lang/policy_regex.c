/* regex: policy patterns through PCRE2, always matched against the whole
 * subject. Patterns are compiled once at load. Matching uses the
 * backtracking interpreter with limits proportional to the subject's length
 * (REGEX_STEPS_PER_BYTE), so the work for one match is linear in the subject
 * whatever the pattern; callers also charge every match against a
 * per-request budget (policy_engine.c). A match that hits a limit counts as
 * "no match": the request is denied, never stalled. */
#include <errno.h>
#include <string.h>

#include "policy/lang/policy_internal.h"

#define REGEX_DEPTH_LIMIT	1000
#define REGEX_HEAP_LIMIT_KIB	1024
#define REGEX_PARENS_NEST_LIMIT 32

uint64_t policy_regex_step_limit(size_t len)
{
	return REGEX_STEPS_PER_BYTE * ((uint64_t)len + 64);
}

pcre2_compile_context *policy_regex_compile_context(void)
{
	pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
	if (cc) {
		pcre2_set_parens_nest_limit(cc, REGEX_PARENS_NEST_LIMIT);
		pcre2_set_max_pattern_length(cc, POLICY_MAX_PATTERN);
	}
	return cc;
}

int policy_regex_compile(struct regex *re, const char *pattern, pcre2_compile_context *cc,
			 struct errbuf *eb)
{
	int err = 0;
	PCRE2_SIZE off = 0;
	re->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
				 PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_NEVER_BACKSLASH_C |
					 PCRE2_DOLLAR_ENDONLY,
				 &err, &off, cc);
	if (!re->code) {
		PCRE2_UCHAR msg[120];
		pcre2_get_error_message(err, msg, sizeof(msg));
		return errbuf_set(eb, EINVAL, "invalid regex at offset %zu: %s", (size_t)off,
				  (const char *)msg);
	}
	uint32_t backrefs = 0;
	pcre2_pattern_info(re->code, PCRE2_INFO_BACKREFMAX, &backrefs);
	if (backrefs) {
		policy_regex_free(re);
		return errbuf_set(eb, EINVAL, "regex back-references are not allowed");
	}
	return 0;
}

int policy_regex_full_match(const struct regex *re, const char *subject, size_t len,
			    struct regex_matcher *m)
{
	uint64_t cost = policy_regex_step_limit(len);
	if (m->budget < cost) {
		m->exhausted = true;
		return -1;
	}
	m->budget -= cost;
	pcre2_set_match_limit(m->mctx, (uint32_t)cost);
	int rc = pcre2_match(re->code, (PCRE2_SPTR)subject, len, 0, 0, m->mdata, m->mctx);
	if (rc >= 0)
		return 1;
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	m->limit_hits++;
	return -1;
}

int policy_regex_matcher_init(struct regex_matcher *m)
{
	memset(m, 0, sizeof(*m));
	m->mctx = pcre2_match_context_create(NULL);
	m->mdata = pcre2_match_data_create(1, NULL);
	if (!m->mctx || !m->mdata) {
		policy_regex_matcher_fini(m);
		return -ENOMEM;
	}
	pcre2_set_depth_limit(m->mctx, REGEX_DEPTH_LIMIT);
	pcre2_set_heap_limit(m->mctx, REGEX_HEAP_LIMIT_KIB);
	return 0;
}

void policy_regex_matcher_fini(struct regex_matcher *m)
{
	pcre2_match_context_free(m->mctx);
	pcre2_match_data_free(m->mdata);
	m->mctx = NULL;
	m->mdata = NULL;
}

void policy_regex_free(struct regex *re)
{
	pcre2_code_free(re->code);
	re->code = NULL;
}
