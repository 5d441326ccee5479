/* kbs_json: strict JSON reading for the key broker (config, release policies,
 * protocol messages), with errors that name the JSON path
 * ("release.min_tcb.snp: expected an integer 0-255"). */
#ifndef PARMA_KBS_KBS_JSON_H
#define PARMA_KBS_KBS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/errbuf.h"

struct json_object;

#define KBS_JSON_MAX_DEPTH 16

/* Parse exactly one JSON value (strict RFC 8259, valid UTF-8, nothing but
 * whitespace after it). Caller puts *out. -EINVAL with the byte offset. */
int kbs_json_parse(const char *text, size_t len, struct json_object **out, struct errbuf *eb);

/* A JSON path for error messages: "<root>.a.b[2]". */
struct kbs_jpath {
	char path[256];
	size_t len;
	struct errbuf *eb;
};

void kbs_jpath_init(struct kbs_jpath *p, const char *root, struct errbuf *eb);
size_t kbs_jpath_key(struct kbs_jpath *p, const char *key);
size_t kbs_jpath_index(struct kbs_jpath *p, size_t i);
void kbs_jpath_pop(struct kbs_jpath *p, size_t old);
/* errbuf_set(errnum, "<path>: <message>"); returns -errnum. */
int kbs_jerr(struct kbs_jpath *p, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* obj must be an object whose keys all appear in `allowed` (NULL-terminated). */
int kbs_jobject(struct kbs_jpath *p, struct json_object *obj, const char *const *allowed);
/* Members: a missing optional member leaves *out unchanged and returns 0; a
 * missing required one is an error naming it. */
int kbs_jstring(struct kbs_jpath *p, struct json_object *obj, const char *key, bool required,
		size_t max_len, const char **out);
int kbs_jbool(struct kbs_jpath *p, struct json_object *obj, const char *key, bool *out);
int kbs_ju64(struct kbs_jpath *p, struct json_object *obj, const char *key, bool required,
	     uint64_t max, uint64_t *out);
int kbs_jarray(struct kbs_jpath *p, struct json_object *obj, const char *key, bool required,
	       size_t max_n, struct json_object **out, size_t *n);
int kbs_jmember(struct kbs_jpath *p, struct json_object *obj, const char *key, bool required,
		struct json_object **out);

#endif
