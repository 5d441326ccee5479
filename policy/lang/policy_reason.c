/* policy_reason: decisions and the short, bounded renderings used in denial
 * reasons. Environment values are never rendered: "NAME=<<redacted>>". */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/encoding.h"
#include "policy/lang/policy_engine_internal.h"

/* ---- decisions ---- */

void engine_decision_init(struct policy_decision *d, enum policy_request_type type)
{
	d->type = type;
	d->allowed = false;
	d->debug = false;
	memset(&d->reason, 0, sizeof(d->reason));
	d->n_env_keep = 0;
	memset(&d->caps, 0, sizeof(d->caps));
	d->allow_stdio_access = false;
	d->source[0] = '\0';
}

int engine_allow(struct policy_decision *d)
{
	d->allowed = true;
	d->reason.rule = POLICY_RULE_NONE;
	return 0;
}

/* Fill the reason; expected/got may be NULL. Returns -EACCES. */
int engine_deny(struct policy_decision *d, enum policy_rule rule, const char *field,
		const char *expected, const char *got, const char *fmt, ...)
{
	va_list ap;
	d->allowed = false;
	d->n_env_keep = 0;
	d->reason.rule = rule;
	snprintf(d->reason.field, sizeof(d->reason.field), "%s", field ? field : "");
	snprintf(d->reason.expected, sizeof(d->reason.expected), "%s", expected ? expected : "");
	snprintf(d->reason.got, sizeof(d->reason.got), "%s", got ? got : "");
	va_start(ap, fmt);
	vsnprintf(d->reason.message, sizeof(d->reason.message), fmt, ap);
	va_end(ap);
	return -EACCES;
}

/* ---- short renderings for reasons (bounded, env values redacted) ---- */

void engine_text_add(struct text *t, const char *s, size_t n)
{
	if (t->len + 1 >= t->size)
		return;
	size_t room = t->size - t->len - 1;
	if (n > room) {
		n = room;
		memcpy(t->buf + t->len, s, n);
		t->len += n;
		if (t->size >= 4)
			memcpy(t->buf + t->size - 4, "...", 4);
		t->buf[t->size - 1] = '\0';
		return;
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

void engine_text_str(struct text *t, const char *s)
{
	engine_text_add(t, s, strlen(s));
}

void engine_render_strv(char *buf, size_t size, const char *const *v, size_t n)
{
	struct text t = {buf, size, 0};
	buf[0] = '\0';
	engine_text_str(&t, "[");
	for (size_t i = 0; i < n; i++) {
		engine_text_str(&t, i ? ", \"" : "\"");
		engine_text_str(&t, v[i]);
		engine_text_str(&t, "\"");
	}
	engine_text_str(&t, "]");
}

void engine_render_env(char *buf, size_t size, const char *var)
{
	const char *eq = strchr(var, '=');
	size_t n = eq ? (size_t)(eq - var) : strlen(var);
	snprintf(buf, size, "%.*s=" POLICY_REDACTED, (int)(n > 100 ? 100 : n), var);
}

void engine_render_caps(char *buf, size_t size, uint64_t set)
{
	struct text t = {buf, size, 0};
	buf[0] = '\0';
	engine_text_str(&t, "[");
	for (int i = 0, first = 1; i < 64; i++) {
		if (!(set & (1ull << i)))
			continue;
		const char *name = policy_cap_name(i);
		char num[16];
		snprintf(num, sizeof(num), "%d", i);
		engine_text_str(&t, first ? "" : ", ");
		engine_text_str(&t, name ? name : num);
		first = 0;
	}
	engine_text_str(&t, "]");
}

void engine_render_hash(char *buf, size_t size, const uint8_t h[POLICY_SHA256_LEN])
{
	char hex[2 * POLICY_SHA256_LEN + 1];
	hex_encode(h, POLICY_SHA256_LEN, hex);
	snprintf(buf, size, "%s", hex);
}

void engine_note_source(const struct policy_engine *e, struct policy_decision *d,
			const struct cands *c, bool externals)
{
	const struct rule_source *seen[8];
	size_t n_seen = 0, n = externals ? e->n_externals : e->n_containers;
	struct text t = {d->source, sizeof(d->source), 0};
	d->source[0] = '\0';
	CANDS_FOREACH(c, i, n)
	{
		const struct rule_source *rs =
			externals ? e->externals[i].source : e->containers[i].source;
		bool dup = false;
		for (size_t k = 0; k < n_seen && !dup; k++)
			dup = seen[k] == rs;
		if (dup || n_seen == sizeof(seen) / sizeof(seen[0]))
			continue;
		seen[n_seen++] = rs;
		engine_text_str(&t, t.len ? "; " : "");
		if (!rs) {
			engine_text_str(&t, "policy");
			continue;
		}
		char svn[32];
		snprintf(svn, sizeof(svn), " svn %llu", (unsigned long long)rs->svn);
		engine_text_str(&t, "fragment ");
		engine_text_str(&t, rs->issuer);
		engine_text_str(&t, " feed ");
		engine_text_str(&t, rs->feed);
		engine_text_str(&t, svn);
	}
}
