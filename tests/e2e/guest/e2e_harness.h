/* e2e_harness: what the agent e2e test and benchmark share — a booted guest with the real
 * parma-agent, a connected client that answers dev-report requests with the development
 * signer, the locally built and converted container image, and small request helpers. */
#ifndef PARMA_TESTS_E2E_AGENT_HARNESS_H
#define PARMA_TESTS_E2E_AGENT_HARNESS_H

#include <stddef.h>
#include <stdint.h>

struct json_object;
struct agent_client;
struct qemu_vm;

#define HARNESS_MAX_PROCS 16
#define HARNESS_OUT_MAX (256 * 1024)

struct harness_output {
	uint32_t process_id;
	char data[2][HARNESS_OUT_MAX]; /* [0] stdout, [1] stderr, NUL-terminated */
	size_t len[2];
	int eof[2];
};

struct harness_layer {
	char image[512];   /* the converted layer image file */
	char root_hash[65];
	unsigned long long hash_offset;
};

struct harness {
	char dir[64];                 /* temporary directory, removed by harness_finish on success */
	char parma[512];              /* the parma binary */
	struct harness_layer layers[4];
	int n_layers;
	char policy_path[600];
	uint8_t *policy;              /* policy bytes */
	size_t policy_len;
	uint8_t host_data[32];        /* SHA-256 of the policy */
	struct qemu_vm *vm;
	struct agent_client *client;
	void *dev_ca;                 /* struct snp_dev_ca */
	char certs_dir[600];
	int dev_reports;              /* dev-report requests answered */
	struct harness_output out[HARNESS_MAX_PROCS];
	int failures;
};

/* Exit 77 with a message unless everything the e2e needs is here (QEMU, kernel, agent initrd,
 * parma, python3). */
void harness_require(void);

/* Build the OCI layout (make_image.py, with its --bench layer if bench), convert it with
 * `parma image convert`; fills layers[] base first. */
int harness_image(struct harness *h, int bench);

/* Milliseconds on CLOCK_MONOTONIC. */
double harness_now_ms(void);

/* Write the policy (text) to the policy file and load its bytes and digest. */
int harness_set_policy(struct harness *h, const char *policy_text);

/* Write the group spec (text) to DIR/group.json (its images are relative to DIR: "oci:latest")
 * and generate the policy with `parma policy gen`; load it as harness_set_policy does. */
int harness_policy_gen(struct harness *h, const char *spec_text);

/* The request a host derives from the policy, as `parma run` would: create_container (or, with
 * exec_command non-NULL, exec_in_container of that command) for policy container `name` as
 * container `id`: command, env (the policy's exact env rules), working_dir, user,
 * capabilities (the policy's, or the engine's defaults), no_new_privileges, stdio. extra_env
 * entries are appended; extra (a JSON object, may be NULL) is merged in. Returns a malloc'd
 * JSON string or NULL. */
char *harness_request(struct harness *h, const char *name, const char *id,
		      const char *const *exec_command, const char *const *extra_env,
		      const char *extra);

/* Boot with disks (paths, read_only flags) and connect the client. */
int harness_boot(struct harness *h, const char *const *disks, const int *read_only, size_t n);

/* Send a request (JSON text) and wait; returns the client's rc (0, -EACCES denied, ...);
 * *resp (may be NULL) gets the answer object. msg (may be NULL) gets the error message. */
int harness_call(struct harness *h, const char *json, int timeout_ms, struct json_object **resp,
		 char *msg, size_t msg_size);

/* Pump the connection until process `pid`'s stdout and stderr are at EOF or timeout. */
void harness_drain(struct harness *h, uint32_t pid, int timeout_ms);
struct harness_output *harness_out(struct harness *h, uint32_t pid);

void harness_check(struct harness *h, int ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Stop the guest, close the client, remove the directory unless something failed. */
int harness_finish(struct harness *h);

#endif
