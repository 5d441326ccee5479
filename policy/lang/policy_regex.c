/* regex: policy patterns through PCRE2, always matched against the whole
 * subject. Patterns are compiled once at load. A match runs PCRE2's
 * interpreter with a step limit, first REGEX_FIRST_STEPS, doubled while PCRE2
 * stops at it, up to REGEX_STEPS_PER_BYTE x (length + 64): PCRE2 does not say
 * how many steps a match took, but the runs' limits, summed, are at most
 * four times what it needed. Each run is charged to the request's budget
 * before it starts (its step limit plus the subject's length in units), so a
 * request pays for the work its matches did, and the budget bounds the CPU a
 * request can take whatever its patterns and subjects. A match that the
 * ceiling, the budget or the heap limit stops is not a "no match": it stops
 * the matcher for the rest of the request, and the engine denies the request
 * (rule "limit"). */
#include <errno.h>
#include <string.h>

#include "policy/lang/policy_internal.h"

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

static int regex_stopped(struct regex_matcher *m, enum regex_stop why, const char *subject,
			 size_t len, uint64_t steps)
{
	m->stop = why;
	m->stop_subject = subject;
	m->stop_len = len;
	m->stop_steps = steps;
	return -1;
}

int policy_regex_full_match(const struct regex *re, const char *subject, size_t len,
			    struct regex_matcher *m)
{
	if (m->stop)
		return -1;
	uint64_t ceiling = policy_regex_step_limit(len);
	uint64_t scan = (uint64_t)len / REGEX_BYTES_PER_UNIT + 1;
	for (uint64_t steps = REGEX_FIRST_STEPS;; steps *= 2) {
		if (steps > ceiling)
			steps = ceiling;
		if (m->budget < steps + scan)
			return regex_stopped(m, REGEX_STOP_BUDGET, subject, len, steps);
		m->budget -= steps + scan;
		m->spent += steps + scan;
		/* the depth of backtracking never exceeds the steps taken: one limit */
		pcre2_set_match_limit(m->mctx, (uint32_t)steps);
		pcre2_set_depth_limit(m->mctx, (uint32_t)steps);
		int rc = pcre2_match(re->code, (PCRE2_SPTR)subject, len, 0, 0, m->mdata, m->mctx);
		if (rc >= 0) /* 0: matched, the one-pair ovector is just too small */
			return 1;
		if (rc == PCRE2_ERROR_NOMATCH)
			return 0;
		if (rc != PCRE2_ERROR_MATCHLIMIT && rc != PCRE2_ERROR_DEPTHLIMIT)
			return regex_stopped(
				m, rc == PCRE2_ERROR_HEAPLIMIT ? REGEX_STOP_HEAP : REGEX_STOP_ERROR,
				subject, len, steps);
		if (steps == ceiling)
			return regex_stopped(m, REGEX_STOP_STEPS, subject, len, steps);
	}
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
	m->stop_steps = 0;
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
