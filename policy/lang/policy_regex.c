/* regex: policy patterns through PCRE2, always matched against the whole
 * subject. Patterns are compiled once at load, with an automatic callout
 * before every item: the callout counts the items a match tries and how far
 * it moves through the subject, so the engine charges each request for the
 * work its matches actually did (PCRE2 itself reports no such count), and
 * stops a match the moment it exceeds its ceiling (linear in the subject) or
 * the request's budget. A stopped match is not a "no match": it stops the
 * matcher for the rest of the request, and the engine denies the request
 * (rule "limit"). PCRE2's own match and depth limits (set to the ceiling)
 * and a heap limit stay as a second fence. */
#include <errno.h>
#include <string.h>

#include "policy/lang/policy_internal.h"

#define REGEX_PARENS_NEST_LIMIT 32

uint64_t policy_regex_work_limit(size_t len)
{
	return REGEX_UNITS_PER_BYTE * ((uint64_t)len + 64);
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
					 PCRE2_DOLLAR_ENDONLY | PCRE2_AUTO_CALLOUT,
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

static int regex_stopped(struct regex_matcher *m, enum regex_stop why, const char *subject,
			 size_t len, uint64_t limit)
{
	m->stop = why;
	m->stop_subject = subject;
	m->stop_len = len;
	m->stop_limit = limit;
	return -1;
}

static uint64_t run_units(const struct regex_matcher *m)
{
	return m->run_items + m->run_bytes / REGEX_BYTES_PER_UNIT;
}

/* Called by PCRE2 before every pattern item it tries (automatic callouts): counts the item and
 * how far the match moved in the subject since the last one (the scanning in between), and
 * stops the match once that exceeds the run's limit. */
static int regex_callout(pcre2_callout_block *cb, void *data)
{
	struct regex_matcher *m = data;
	size_t pos = cb->current_position;
	m->run_bytes += pos > m->run_pos ? pos - m->run_pos : m->run_pos - pos;
	m->run_pos = pos;
	m->run_items++;
	return run_units(m) > m->run_limit ? PCRE2_ERROR_CALLOUT : 0;
}

int policy_regex_full_match(const struct regex *re, const char *subject, size_t len,
			    struct regex_matcher *m)
{
	if (m->stop)
		return -1;
	uint64_t ceiling = policy_regex_work_limit(len);
	bool by_budget = m->budget < ceiling;
	/* the call, and one scan of the subject that may happen after the last callout (a
	 * required-character check, a failing repeat), charged up front */
	m->run_items = 1 + len / REGEX_SCAN_BYTES_PER_UNIT;
	m->run_bytes = 0;
	m->run_pos = 0;
	m->run_limit = by_budget ? m->budget : ceiling;
	pcre2_set_callout(m->mctx, regex_callout, m);
	/* PCRE2's own step and depth counts are below the items counted: a second fence */
	pcre2_set_match_limit(m->mctx, (uint32_t)ceiling);
	pcre2_set_depth_limit(m->mctx, (uint32_t)ceiling);
	int rc = pcre2_match(re->code, (PCRE2_SPTR)subject, len, 0, 0, m->mdata, m->mctx);
	uint64_t used = run_units(m);
	if (used > m->run_limit)
		used = m->run_limit;
	m->budget -= used;
	m->spent += used;
	if (rc >= 0) /* 0: matched, the one-pair ovector is just too small */
		return 1;
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	if (rc == PCRE2_ERROR_CALLOUT && by_budget)
		return regex_stopped(m, REGEX_STOP_BUDGET, subject, len, m->run_limit);
	if (rc == PCRE2_ERROR_CALLOUT || rc == PCRE2_ERROR_MATCHLIMIT ||
	    rc == PCRE2_ERROR_DEPTHLIMIT)
		return regex_stopped(m, REGEX_STOP_STEPS, subject, len, ceiling);
	return regex_stopped(m, rc == PCRE2_ERROR_HEAPLIMIT ? REGEX_STOP_HEAP : REGEX_STOP_ERROR,
			     subject, len, ceiling);
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
	pcre2_set_heap_limit(m->mctx, REGEX_HEAP_LIMIT_KIB);
	policy_regex_matcher_reset(m);
	return 0;
}

void policy_regex_matcher_reset(struct regex_matcher *m)
{
	m->budget = REGEX_REQUEST_BUDGET;
	m->spent = 0;
	m->stop = REGEX_STOP_NONE;
	m->stop_subject = NULL;
	m->stop_len = 0;
	m->stop_limit = 0;
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
