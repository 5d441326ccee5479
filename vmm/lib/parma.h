/* parma.h: libparma, Parma for programs that link rather than spawn.
 *
 * A container group runs in its own `parma run` process (one binary per group); a control
 * plane drives it through the group's API socket (docs/group-api.md), and this library is a
 * C binding of that API plus the host-side tools: policy generation, image conversion and
 * report verification.
 *
 *   struct parma_group *g;
 *   struct parma_error err;
 *   if (parma_group_open("/run/shop.sock", &callbacks, &g, &err) != PARMA_OK)
 *           fprintf(stderr, "%s\n", err.message);
 *   parma_group_start(g, "app", (const char *[]){"API_TOKEN=...", NULL}, &err);
 *   parma_group_exec(g, "app", (const char *[]){"/bin/cat", NULL}, "hi\n", 3, &code, &err);
 *   parma_group_close(g);
 *
 * Rules: no global state; one handle may be used from several threads (its calls are
 * serialised, except parma_group_events, which may follow the group while others go on);
 * the library never prints: output and events reach the callbacks, errors come
 * back as a code plus a message that never holds a secret (run-time values). Link with
 * `pkg-config --cflags --libs parma`. */
#ifndef PARMA_H
#define PARMA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PARMA_REPORT_SIZE      1184
#define PARMA_REPORT_DATA_SIZE 64

enum parma_code {
	PARMA_OK = 0,
	PARMA_ERR_INVALID = -1,	     /* bad argument or input (the message names it) */
	PARMA_ERR_DENIED = -2,	     /* the group's policy refused the request */
	PARMA_ERR_NOT_FOUND = -3,    /* no such group, container or file */
	PARMA_ERR_STATE = -4,	     /* not in a state for this (not running, already started) */
	PARMA_ERR_UNAVAILABLE = -5,  /* the group or its guest did not answer */
	PARMA_ERR_NOT_VERIFIED = -6, /* a report check failed */
	PARMA_ERR_INTERNAL = -7,     /* out of memory, I/O, protocol */
};

struct parma_error {
	int code; /* an enum parma_code */
	char message[512];
	/* PARMA_ERR_DENIED: the policy's reason (empty strings when absent) */
	char rule[64], field[128], reproduce[1024];
};

/* Callbacks of a group handle; any may be NULL. They run on the calling thread. */
struct parma_callbacks {
	/* stdout (stream 1) or stderr (stream 2) bytes of an exec */
	void (*output)(void *opaque, int stream, const uint8_t *data, size_t len);
	/* one event of parma_group_events: a JSON object as text (docs/group-api.md) */
	void (*event)(void *opaque, const char *json);
	void *opaque;
};

struct parma_group;

/* The library's version ("0.1.0"). */
const char *parma_version(void);

/* Attach to the group whose API listens at api_sock (`parma run --api-sock`). */
int parma_group_open(const char *api_sock, const struct parma_callbacks *callbacks,
		     struct parma_group **out, struct parma_error *err);
/* The group's state as JSON text (GET /v1/group); free with parma_free. */
int parma_group_state(struct parma_group *g, char **json, struct parma_error *err);
/* Start container `name` of the group's spec with run-time values env ("NAME=VALUE",
 * NULL-terminated, may be NULL). */
int parma_group_start(struct parma_group *g, const char *name, const char *const *env,
		      struct parma_error *err);
/* Run argv (NULL-terminated) in container `name`, feeding it stdin_data (NULL: no stdin);
 * its output goes to the output callback; *exit_code receives its exit code. */
int parma_group_exec(struct parma_group *g, const char *name, const char *const *argv,
		     const void *stdin_data, size_t stdin_len, int *exit_code,
		     struct parma_error *err);
/* A fresh report bound to report_data (up to 64 bytes); *certs_json (may be NULL) receives
 * the chain {"ark", "ask", "vcek": PEM} (free with parma_free). */
int parma_group_attest(struct parma_group *g, const uint8_t *report_data, size_t report_data_len,
		       uint8_t report[PARMA_REPORT_SIZE], char **certs_json,
		       struct parma_error *err);
/* The group's kept events through the event callback (follow: until the group stops). */
int parma_group_events(struct parma_group *g, int follow, struct parma_error *err);
/* Stop the group (its containers and VM); the handle stays to be closed. */
int parma_group_stop(struct parma_group *g, struct parma_error *err);
void parma_group_close(struct parma_group *g);

/* The execution policy for the group spec at spec_path (converting its images into
 * cache_dir, NULL: the default cache); *policy is the JSON document (free with parma_free),
 * *len its size, sha256_hex (65 bytes) its digest = the group's HOST_DATA. */
int parma_policy_gen(const char *spec_path, const char *cache_dir, char **policy, size_t *len,
		     char sha256_hex[65], struct parma_error *err);
/* Convert every layer of an OCI image (PATH or PATH:TAG) into cache_dir (NULL: default);
 * *root_hashes_json receives ["hex", ...] base layer first (free with parma_free). */
int parma_image_convert(const char *image_ref, const char *cache_dir, char **root_hashes_json,
			struct parma_error *err);
/* Verify a report against the chain in certs_dir: the signature chain, and HOST_DATA =
 * SHA-256 of the policy file (policy_path, may be NULL), REPORT_DATA (may be NULL).
 * allow_dev accepts Parma's development chain. PARMA_OK or PARMA_ERR_NOT_VERIFIED (the
 * message names the first failed check). */
int parma_verify(const uint8_t *report, size_t len, const char *certs_dir, const char *policy_path,
		 const uint8_t *report_data, size_t report_data_len, int allow_dev,
		 struct parma_error *err);

void parma_free(void *p);

#ifdef __cplusplus
}
#endif

#endif
