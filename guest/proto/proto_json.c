/* proto_json: strict JSON bodies for frames (json-c). */
#include "guest/proto/proto.h"

#include <errno.h>
#include <json-c/json.h>
#include <string.h>

int proto_json_parse(const struct proto_frame *f, struct json_object **out, struct errbuf *eb)
{
	struct json_tokener *tok;
	struct json_object *obj;
	int ret = 0;

	*out = NULL;
	if (f->type != PROTO_REQUEST && f->type != PROTO_RESPONSE && f->type != PROTO_ERROR)
		return errbuf_set(eb, EINVAL, "frame type %u has no JSON body", f->type);
	if (f->length == 0)
		return errbuf_set(eb, EINVAL, "empty JSON body");
	if (memchr(f->body, 0, f->length))
		return errbuf_set(eb, EINVAL, "JSON body contains a NUL byte");
	tok = json_tokener_new_ex(PROTO_JSON_DEPTH);
	if (!tok)
		return errbuf_set(eb, ENOMEM, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, (const char *)f->body, (int)f->length);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	if (!obj || jerr != json_tokener_success) {
		ret = errbuf_set(eb, EINVAL, "body is not valid JSON: %s",
				 jerr == json_tokener_continue ? "unexpected end of body"
							       : json_tokener_error_desc(jerr));
		goto out;
	}
	if (json_tokener_get_parse_end(tok) != f->length) {
		ret = errbuf_set(eb, EINVAL, "trailing bytes after the JSON object at offset %zu",
				 json_tokener_get_parse_end(tok));
		goto out;
	}
	if (!json_object_is_type(obj, json_type_object)) {
		ret = errbuf_set(eb, EINVAL, "body is JSON but not an object");
		goto out;
	}
	*out = obj;
	obj = NULL;
out:
	json_object_put(obj);
	json_tokener_free(tok);
	return ret;
}

int proto_json_frame(uint8_t type, uint32_t id, struct json_object *obj, uint8_t **out,
		     size_t *out_len)
{
	size_t len;
	const char *text = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN, &len);
	if (!text)
		return -ENOMEM;
	if (len > PROTO_JSON_MAX)
		return -E2BIG;
	return proto_frame_encode(type, 0, id, text, (uint32_t)len, out, out_len);
}

struct json_object *proto_error_object(const char *code, const char *message)
{
	struct json_object *o = json_object_new_object();
	struct json_object *e = json_object_new_object();
	if (!o || !e) {
		json_object_put(o);
		json_object_put(e);
		return NULL;
	}
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(e, "code", json_object_new_string(code));
	json_object_object_add(e, "message", json_object_new_string(message ? message : ""));
	json_object_object_add(o, "error", e);
	return o;
}
