/* e2e_harness: see e2e_harness.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/digest.h"
#include "common/errbuf.h"
#include "common/fileio.h"
#include "vmm/group/agent_client.h"
#include "vmm/group/qemu_launch.h"
#include "policy/attest/snp_dev.h"

#include "e2e_harness.h"

static int run_capture(const char *cmd, char *out, size_t size)
{
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	size_t n = fread(out, 1, size - 1, p);
	out[n] = 0;
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void harness_check(struct harness *h, int ok, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%s: ", ok ? "ok  " : "FAIL");
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
	if (!ok)
		h->failures++;
}

void harness_require(void)
{
	struct errbuf eb = { 0 };
	struct qemu_launch_config cfg = { .console_fd = -1 };
	const char *initrd = getenv("PARMA_AGENT_INITRD");
	const char *parma = getenv("PARMA_BINARY");
	if (!initrd || access(initrd, R_OK) != 0) {
		printf("SKIP: needs the agent initrd (PARMA_AGENT_INITRD; built when a guest kernel "
		       "is installed: Debian linux-image-amd64)\n");
		exit(77);
	}
	if (qemu_launch_available(&cfg, &eb) < 0) {
		printf("SKIP: %s\n", errbuf_msg(&eb));
		exit(77);
	}
	if (!parma || access(parma, X_OK) != 0 || system("command -v python3 >/dev/null") != 0) {
		printf("SKIP: needs the parma binary (PARMA_BINARY) and python3\n");
		exit(77);
	}
}

double harness_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int harness_image(struct harness *h, int bench)
{
	char cmd[2048], out[4096];
	snprintf(h->parma, sizeof(h->parma), "%s", getenv("PARMA_BINARY"));
	snprintf(cmd, sizeof(cmd), "python3 %s/tests/e2e/guest/make_image.py %s%s 2>&1",
		 getenv("PARMA_SOURCE_ROOT"), h->dir, bench ? " --bench" : "");
	if (run_capture(cmd, out, sizeof(out)) != 0) {
		printf("make_image.py: %s\n", out);
		return -1;
	}
	snprintf(cmd, sizeof(cmd),
		 "%s image convert --json --output %s/cache %s/oci:latest 2>&1 | python3 -c '"
		 "import json,sys\n"
		 "for l in json.load(sys.stdin)[\"layers\"]: print(l[\"image\"], l[\"hash_offset\"], "
		 "l[\"root_hash\"])'",
		 h->parma, h->dir, h->dir);
	if (run_capture(cmd, out, sizeof(out)) != 0) {
		printf("parma image convert: %s\n", out);
		return -1;
	}
	char *p = out;
	int want = bench ? 3 : 2;
	for (h->n_layers = 0; h->n_layers < want; h->n_layers++) {
		int used = 0;
		struct harness_layer *l = &h->layers[h->n_layers];
		if (sscanf(p, "%511s %llu %64s%n", l->image, &l->hash_offset, l->root_hash, &used) != 3 ||
		    strlen(l->root_hash) != 64) {
			printf("parma image convert: unexpected output: %s\n", out);
			return -1;
		}
		p += used;
	}
	return 0;
}

int harness_set_policy(struct harness *h, const char *policy_text)
{
	struct errbuf eb = { 0 };
	snprintf(h->policy_path, sizeof(h->policy_path), "%s/policy.json", h->dir);
	if (file_write_atomic(h->policy_path, policy_text, strlen(policy_text), 0644, &eb) < 0)
		return -1;
	free(h->policy);
	h->policy = NULL;
	if (file_read_all(h->policy_path, 4u << 20, &h->policy, &h->policy_len, &eb) < 0)
		return -1;
	return digest_sha256(h->policy, h->policy_len, h->host_data);
}

int harness_policy_gen(struct harness *h, const char *spec_text)
{
	char spec[600], cmd[2048], out[4096];
	struct errbuf eb = { 0 };
	snprintf(spec, sizeof(spec), "%s/group.json", h->dir);
	snprintf(h->policy_path, sizeof(h->policy_path), "%s/policy.json", h->dir);
	if (file_write_atomic(spec, spec_text, strlen(spec_text), 0644, &eb) < 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "%s policy gen --cache-dir %s/cache -o %s %s 2>&1", h->parma,
		 h->dir, h->policy_path, spec);
	if (run_capture(cmd, out, sizeof(out)) != 0) {
		printf("parma policy gen: %s\n", out);
		return -1;
	}
	free(h->policy);
	h->policy = NULL;
	if (file_read_all(h->policy_path, 4u << 20, &h->policy, &h->policy_len, &eb) < 0)
		return -1;
	return digest_sha256(h->policy, h->policy_len, h->host_data);
}

/* The engine's default capability sets (docs/policy.md: containerd's defaults) for a policy
 * container without a "capabilities" object: bounding/effective/permitted; the others empty. */
static const char *const default_caps[] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
	"CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_CHROOT",
	"CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP",
};

static struct json_object *default_caps_json(void)
{
	static const char *const sets[] = { "bounding", "effective", "inheritable", "permitted",
					    "ambient" };
	struct json_object *caps = json_object_new_object();
	for (int s = 0; s < 5; s++) {
		struct json_object *arr = json_object_new_array();
		if (s != 2 && s != 4)
			for (size_t i = 0; i < sizeof(default_caps) / sizeof(default_caps[0]); i++)
				json_object_array_add(arr, json_object_new_string(default_caps[i]));
		json_object_object_add(caps, sets[s], arr);
	}
	return caps;
}

static struct json_object *copy(struct json_object *o)
{
	struct json_object *c = NULL;
	return json_object_deep_copy(o, &c, NULL) == 0 ? c : NULL;
}

char *harness_request(struct harness *h, const char *name, const char *id,
		      const char *const *exec_command, const char *const *extra_env,
		      const char *extra)
{
	struct json_object *pol = json_tokener_parse((const char *)h->policy), *arr, *pc = NULL, *v;
	char *text = NULL;
	if (!pol || !json_object_object_get_ex(pol, "containers", &arr))
		goto out;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *c = json_object_array_get_idx(arr, i);
		if (json_object_object_get_ex(c, "name", &v) && !strcmp(json_object_get_string(v), name))
			pc = c;
	}
	if (!pc)
		goto out;
	struct json_object *req = json_object_new_object();
	json_object_object_add(req, "type", json_object_new_string(exec_command ? "exec_in_container"
										 : "create_container"));
	json_object_object_add(req, "container_id", json_object_new_string(id));
	if (exec_command) {
		struct json_object *cmd = json_object_new_array();
		for (size_t i = 0; exec_command[i]; i++)
			json_object_array_add(cmd, json_object_new_string(exec_command[i]));
		json_object_object_add(req, "command", cmd);
	} else if (json_object_object_get_ex(pc, "command", &v)) {
		json_object_object_add(req, "command", copy(v));
	}
	struct json_object *env = json_object_new_array();
	if (json_object_object_get_ex(pc, "env_rules", &v))
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			struct json_object *rule = json_object_array_get_idx(v, i), *st, *pat;
			if (json_object_object_get_ex(rule, "strategy", &st) &&
			    !strcmp(json_object_get_string(st), "string") &&
			    json_object_object_get_ex(rule, "pattern", &pat))
				json_object_array_add(env, copy(pat));
		}
	for (size_t i = 0; extra_env && extra_env[i]; i++)
		json_object_array_add(env, json_object_new_string(extra_env[i]));
	json_object_object_add(req, "env", env);
	if (json_object_object_get_ex(pc, "working_dir", &v))
		json_object_object_add(req, "working_dir", copy(v));
	if (json_object_object_get_ex(pc, "user", &v))
		json_object_object_add(req, "user", copy(v));
	/* the policy's mounts (policy gen writes fixed, symbolic sources) */
	if (!exec_command && json_object_object_get_ex(pc, "mounts", &v))
		json_object_object_add(req, "mounts", copy(v));
	json_object_object_add(req, "capabilities",
			       json_object_object_get_ex(pc, "capabilities", &v) ? copy(v)
										  : default_caps_json());
	json_object_object_add(req, "no_new_privileges",
			       json_object_new_boolean(json_object_object_get_ex(pc, "no_new_privileges", &v) &&
						       json_object_get_boolean(v)));
	json_object_object_add(req, "stdio",
			       json_object_new_boolean(!json_object_object_get_ex(pc, "allow_stdio_access", &v) ||
						       json_object_get_boolean(v)));
	if (extra) {
		struct json_object *x = json_tokener_parse(extra);
		if (x && json_object_is_type(x, json_type_object)) {
			json_object_object_foreach(x, key, val)
				json_object_object_add(req, key, copy(val));
		}
		json_object_put(x);
	}
	text = strdup(json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN));
	json_object_put(req);
out:
	json_object_put(pol);
	return text;
}

static void on_output(void *opaque, uint32_t pid, int stream, const uint8_t *data, size_t len,
		      bool eof)
{
	struct harness *h = opaque;
	struct harness_output *o = harness_out(h, pid);
	if (!o || stream < 1 || stream > 2)
		return;
	int s = stream - 1;
	size_t room = HARNESS_OUT_MAX - 1 - o->len[s];
	size_t n = len < room ? len : room;
	memcpy(o->data[s] + o->len[s], data, n);
	o->len[s] += n;
	o->data[s][o->len[s]] = 0;
	if (eof)
		o->eof[s] = 1;
}

/* The development signer: a report over the agent's REPORT_DATA with HOST_DATA = SHA-256 of
 * the policy this harness launched the guest for (what the VMM would have set on SNP). */
static int on_dev_report(void *opaque, const uint8_t report_data[AGENT_REPORT_DATA_SIZE],
			 uint8_t report[AGENT_REPORT_SIZE], struct json_object **certs)
{
	struct harness *h = opaque;
	struct errbuf eb = { 0 };
	uint8_t measurement[SNP_MEASUREMENT_SIZE] = { 0 };
	if (snp_dev_make_report(h->dev_ca, measurement, h->host_data, report_data, report, &eb) < 0)
		return -EIO;
	static const char *const names[] = { "ark", "ask", "vcek" };
	*certs = json_object_new_object();
	for (int i = 0; i < 3; i++) {
		char path[700];
		uint8_t *pem = NULL;
		size_t len = 0;
		snprintf(path, sizeof(path), "%s/%s.pem", h->certs_dir, names[i]);
		if (file_read_all(path, 65536, &pem, &len, &eb) == 0)
			json_object_object_add(*certs, names[i],
					       json_object_new_string_len((char *)pem, (int)len));
		free(pem);
	}
	h->dev_reports++;
	return 0;
}

int harness_boot(struct harness *h, const char *const *disks, const int *read_only, size_t n)
{
	struct errbuf eb = { 0 };
	struct qemu_disk qd[QEMU_LAUNCH_MAX_DISKS];
	char sock[600], log[600];
	struct snp_dev_ca *ca = NULL;

	snprintf(h->certs_dir, sizeof(h->certs_dir), "%s/devca", h->dir);
	struct snp_dev_ca_options opts = { .rsa_bits = 2048, .valid_days = 30 };
	if (snp_dev_ca_open(h->certs_dir, true, &opts, &ca, &eb) < 0) {
		printf("dev CA: %s\n", errbuf_msg(&eb));
		return -1;
	}
	h->dev_ca = ca;
	for (size_t i = 0; i < n; i++) {
		qd[i].path = disks[i];
		qd[i].read_only = read_only[i];
	}
	snprintf(sock, sizeof(sock), "%s/agent.sock", h->dir);
	snprintf(log, sizeof(log), "%s/console.log", h->dir);
	struct qemu_launch_config cfg = {
		.initrd = getenv("PARMA_AGENT_INITRD"), .memory_mib = 1024, .vcpus = 1,
		.disks = qd, .n_disks = n, .agent_socket = sock, .console_log = log,
		.console_fd = -1,
	};
	if (qemu_vm_start(&cfg, &h->vm, &eb) < 0) {
		printf("qemu: %s\n", errbuf_msg(&eb));
		return -1;
	}
	if (agent_client_connect(sock, AGENT_CONNECT_SERIAL, 60000, &h->client, &eb) < 0) {
		printf("connect: %s\n", errbuf_msg(&eb));
		return -1;
	}
	struct agent_client_callbacks cbs = {
		.on_output = on_output, .on_dev_report = on_dev_report, .opaque = h,
	};
	agent_client_set_callbacks(h->client, &cbs);
	return 0;
}

int harness_call(struct harness *h, const char *json, int timeout_ms, struct json_object **resp,
		 char *msg, size_t msg_size)
{
	struct errbuf eb = { 0 };
	struct json_object *r = NULL;
	int rc = agent_client_call_text(h->client, json, timeout_ms, &r, &eb);
	if (msg)
		snprintf(msg, msg_size, "%s", rc ? errbuf_msg(&eb) : "");
	if (resp)
		*resp = r;
	else
		json_object_put(r);
	return rc;
}

struct harness_output *harness_out(struct harness *h, uint32_t pid)
{
	for (int i = 0; i < HARNESS_MAX_PROCS; i++)
		if (h->out[i].process_id == pid && pid != 0)
			return &h->out[i];
	for (int i = 0; i < HARNESS_MAX_PROCS; i++)
		if (h->out[i].process_id == 0) {
			h->out[i].process_id = pid;
			return &h->out[i];
		}
	return NULL;
}

void harness_drain(struct harness *h, uint32_t pid, int timeout_ms)
{
	struct harness_output *o = harness_out(h, pid);
	struct errbuf eb = { 0 };
	for (int waited = 0; o && !(o->eof[0] && o->eof[1]) && waited < timeout_ms; waited += 100)
		if (agent_client_pump(h->client, 100, &eb) == -EPIPE)
			break;
}

int harness_finish(struct harness *h)
{
	char cmd[128];
	if (h->client)
		agent_client_close(h->client);
	qemu_vm_free(h->vm);
	snp_dev_ca_free(h->dev_ca);
	free(h->policy);
	if (h->failures) {
		char log[600];
		uint8_t *text = NULL;
		size_t len = 0;
		struct errbuf eb = { 0 };
		snprintf(log, sizeof(log), "%s/console.log", h->dir);
		if (file_read_all(log, 1u << 20, &text, &len, &eb) == 0)
			printf("---- guest console ----\n%s\n", (char *)text);
		free(text);
		printf("kept %s for inspection\n", h->dir);
	} else {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", h->dir);
		if (system(cmd) != 0)
			printf("could not remove %s\n", h->dir);
	}
	printf("%d failure(s)\n", h->failures);
	return h->failures ? 1 : 0;
}
