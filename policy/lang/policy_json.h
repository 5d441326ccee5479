/* policy_json: strict reading of json-c trees with errors that name the JSON
 * path ("containers[2].env_rules[0].strategy: expected \"string\" or
 * \"regex\""). Internal to policy/lang. */
#ifndef PARMA_POLICY_LANG_POLICY_JSON_H
#define PARMA_POLICY_LANG_POLICY_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "common/errbuf.h"

struct jctx {
	char path[256];
	size_t len;
	struct errbuf *eb;
};

void policy_jctx_init(struct jctx *c, struct errbuf *eb);
/* Append ".key" or "[i]" to the path; return the old length for policy_jctx_pop(). */
size_t policy_jctx_key(struct jctx *c, const char *key);
size_t policy_jctx_index(struct jctx *c, size_t i);
void policy_jctx_pop(struct jctx *c, size_t old);

/* errbuf_set(EINVAL) with "<path>: " in front (or "policy: " at the top). */
int policy_jerr(struct jctx *c, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* obj must be an object whose keys are all in `allowed` (NULL-terminated). */
int policy_jobject(struct jctx *c, struct json_object *obj, const char *const *allowed);

/* Field readers: `c` points at the object; they push the key for errors.
 * A missing optional field leaves *out at its default and returns 0. */
int policy_jfield_string(struct jctx *c, struct json_object *obj, const char *key, bool required,
			 size_t max_len, const char **out);
int policy_jfield_bool(struct jctx *c, struct json_object *obj, const char *key, bool *out);
int policy_jfield_u64(struct jctx *c, struct json_object *obj, const char *key, bool required,
		      uint64_t max, uint64_t *out);
int policy_jfield_array(struct jctx *c, struct json_object *obj, const char *key, bool required,
			size_t max_n, struct json_object **out, size_t *n);
int policy_jfield_object(struct jctx *c, struct json_object *obj, const char *key, bool required,
			 struct json_object **out);

/* "umask": an octal string of at most 4 digits ("0022"), at most 0777; absent: 022. The one
 * reading of a umask, for policy documents and requests alike. */
int policy_jfield_umask(struct jctx *c, struct json_object *obj, uint32_t *out);
/* The optional "capabilities" member of obj (policies and requests alike): five sets of
 * "CAP_*" names, each without duplicates; absent → containerd's default set for bounding,
 * effective and permitted, empty inheritable and ambient. */
struct policy_caps;
int policy_jfield_caps(struct jctx *c, struct json_object *obj, struct policy_caps *caps);

/* Value checks at the current path. */
int policy_jstring(struct jctx *c, struct json_object *v, size_t max_len, const char **out);
int policy_ju64(struct jctx *c, struct json_object *v, uint64_t max, uint64_t *out);

#endif
