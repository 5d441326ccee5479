#include "common/errbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int errbuf_set(struct errbuf *eb, int errnum, const char *fmt, ...)
{
	if (errnum < 0)
		errnum = -errnum;
	if (eb) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(eb->msg, sizeof(eb->msg), fmt, ap);
		va_end(ap);
		eb->code = errnum;
	}
	return -errnum;
}

void errbuf_prefix(struct errbuf *eb, const char *fmt, ...)
{
	char ctx[ERRBUF_SIZE], old[ERRBUF_SIZE];
	va_list ap;

	if (!eb || !eb->code)
		return;
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	memcpy(old, eb->msg, sizeof(old));
	if (snprintf(eb->msg, sizeof(eb->msg), "%s: %s", ctx, old) >= (int)sizeof(eb->msg))
		memcpy(eb->msg + sizeof(eb->msg) - 4, "...", 4); /* mark the truncation */
}

void errbuf_clear(struct errbuf *eb)
{
	if (eb) {
		eb->code = 0;
		eb->msg[0] = '\0';
	}
}

const char *errbuf_msg(const struct errbuf *eb)
{
	if (!eb)
		return "unknown error";
	if (eb->msg[0])
		return eb->msg;
	return eb->code ? strerror(eb->code) : "no error";
}
