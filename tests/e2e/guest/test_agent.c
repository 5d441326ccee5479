/* agent_guest_acceptance: the acceptance in the real guest, one QEMU TCG boot.
 *
 * A busybox-static image built locally is converted by `parma image convert`; `parma policy
 * gen` turns a group spec with two containers ("main" and "reader") into the policy; every
 * request is derived from that policy as `parma run` would; the guest boots Debian's kernel with
 * our initrd and the real parma-agent as PID 1; the policy installs through dev attestation
 * (this harness answers the agent's dev_report with the development signer). Then:
 *   - wrong layer hash, reordered layers, an extra env var, an unlisted exec, an unlisted
 *     signal, a second policy, host-supplied hooks → each denied with a reason, and the very
 *     next legitimate request still succeeds (the agent keeps serving, state unchanged);
 *   - the guest owns every path (docs/policy.md, "The path map"): a mount over the agent's
 *     state, an overlay or layer where a container's bind source or rootfs lives, a bind source
 *     aliasing another container's rootfs, the scratch disk's writable layers or the agent's
 *     state → each denied by its rule; "reader" neither sees what "main" wrote to its writable
 *     layer nor to its scratch mount of the same name, and still sees the security context;
 *   - container ids are single use: c1, shut down and unmounted, gets no overlay again;
 *   - "main" runs: its stdout and exit code come back to the host;
 *   - a layer disk with one flipped byte: "reader" gets an I/O error reading the file and
 *     every byte it did get is genuine;
 *   - scratch is dm-crypt: the marker "main" wrote is absent from the host's scratch image.
 * Disks: vda layer 0, vdb layer 1, vdc layer 1 with a flipped byte, vdd scratch. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/digest.h"
#include "common/encoding.h"
#include "common/fileio.h"
#include "vmm/group/agent_client.h"
#include "vmm/group/qemu_launch.h"

#include "e2e_harness.h"

#define MARKER "PARMA-E2E-SCRATCH-MARKER-51c2e9"
#define T 60000 /* ms: one request under TCG */

static struct harness h;

/* The group spec; `parma policy gen` turns it into the policy (layers, env from the image). */
static const char *spec =
	"{\n"
	"  \"name\": \"e2e\",\n"
	"  \"debug\": {\"properties\": true},\n"
	"  \"containers\": [\n"
	"    {\"name\": \"main\", \"image\": \"oci:latest\",\n"
	"     \"command\": [\"/bin/sh\", \"-c\", \"cat /data/hello.txt; echo " MARKER
	" > /marker.txt; echo main > /shared/from-main && echo SHARED-WRITTEN; sync; read line; echo got:$line; exit 7\"],\n"
	"     \"mounts\": [{\"name\": \"shared\", \"destination\": \"/shared\"}],\n"
	"     \"no_new_privileges\": true, \"signals\": [15],\n"
	"     \"exec_processes\": [{\"command\": [\"/bin/echo\", \"exec-ok\"], \"signals\": []}]},\n"
	"    {\"name\": \"reader\", \"image\": \"oci:latest\",\n"
	"     \"command\": [\"/bin/sh\", \"-c\", \"test -e /marker.txt && echo SEES-MAIN-UPPER; "
	"test -e /shared/from-main && echo SEES-MAIN-SCRATCH; "
	"test -s /parma/security-context/policy.json && echo SECURITY-CONTEXT-OK; "
	"cat /data/big.txt > /tmp/copy && echo READ-OK "
	"|| echo READ-FAILED; stat -c %s /tmp/copy; sha256sum /tmp/copy\"],\n"
	"     \"mounts\": [{\"name\": \"shared\", \"destination\": \"/shared\"}],\n"
	"     \"no_new_privileges\": true, \"signals\": []}\n"
	"  ]\n"
	"}\n";

/* The agent's visible state (get_properties: containers and their states, processes and
 * whether they run; stats left out), or "" before the policy allows asking. */
static void state_snapshot(char *out, size_t size)
{
	struct json_object *resp = NULL, *arr, *v;
	size_t pos = 0;
	out[0] = 0;
	if (harness_call(&h, "{\"type\":\"get_properties\"}", T, &resp, NULL, 0) != 0) {
		json_object_put(resp);
		return;
	}
	static const char *const lists[] = { "containers", "processes" };
	static const char *const keys[] = { "id", "state", "process_id", "running", "container_id" };
	for (int l = 0; l < 2; l++) {
		if (!json_object_object_get_ex(resp, lists[l], &arr))
			continue;
		for (size_t i = 0; i < json_object_array_length(arr); i++) {
			struct json_object *e = json_object_array_get_idx(arr, i);
			for (int k = 0; k < 5; k++)
				if (json_object_object_get_ex(e, keys[k], &v) && pos < size)
					pos += (size_t)snprintf(out + pos, size - pos, "%s=%s ", keys[k],
								json_object_get_string(v));
		}
	}
	json_object_put(resp);
}

/* Expect a denial by `rule` (the reason's rule name): rc -EACCES and a reason in the answer,
 * and the agent's visible state the same before and after. */
static void expect_denied(const char *what, const char *rule, const char *json)
{
	char msg[600], before[2048], after[2048];
	state_snapshot(before, sizeof(before));
	struct json_object *resp = NULL;
	int rc = harness_call(&h, json, T, &resp, msg, sizeof(msg));
	struct json_object *err = NULL, *reason = NULL;
	if (resp && json_object_object_get_ex(resp, "error", &err))
		json_object_object_get_ex(err, "reason", &reason);
	struct json_object *r = NULL;
	const char *got = reason && json_object_object_get_ex(reason, "rule", &r)
				  ? json_object_get_string(r) : "";
	harness_check(&h, rc == -EACCES && reason && !strcmp(got, rule),
		      "%s: denied by rule %s (%s)", what, rule, msg);
	state_snapshot(after, sizeof(after));
	harness_check(&h, !strcmp(before, after), "%s: state unchanged [%s]", what, after);
	json_object_put(resp);
}

static int expect_ok(const char *what, const char *json, struct json_object **resp)
{
	char msg[600];
	int rc = harness_call(&h, json, T, resp, msg, sizeof(msg));
	harness_check(&h, rc == 0, "%s%s%s", what, rc ? ": " : "", msg);
	return rc;
}

static uint32_t get_pid(struct json_object *resp)
{
	struct json_object *v;
	if (resp && json_object_object_get_ex(resp, "process_id", &v))
		return (uint32_t)json_object_get_int64(v);
	return 0;
}

static int wait_exit(uint32_t pid, int *code)
{
	char req[128];
	struct json_object *resp = NULL, *v;
	snprintf(req, sizeof(req), "{\"type\":\"wait\",\"process_id\":%u}", pid);
	int rc = harness_call(&h, req, 120000, &resp, NULL, 0);
	*code = -1;
	if (rc == 0 && json_object_object_get_ex(resp, "exit_code", &v))
		*code = json_object_get_int(v);
	json_object_put(resp);
	return rc;
}

static void mount_layer(const char *what, const char *dev, int layer, const char *root, int slot)
{
	char req[512];
	snprintf(req, sizeof(req),
		 "{\"type\":\"mount_device\",\"device\":\"%s\",\"layer\":%d,\"device_hash\":\"%s\","
		 "\"hash_offset\":%llu}",
		 dev, slot, root, h.layers[layer].hash_offset);
	expect_ok(what, req, NULL);
}

/* expect_denied / expect_ok on a request harness_request() built (and free it). */
static void denied_req(const char *what, const char *rule, char *req)
{
	expect_denied(what, rule, req ? req : "{}");
	free(req);
}

static int ok_req(const char *what, char *req, struct json_object **resp)
{
	int rc = expect_ok(what, req ? req : "{}", resp);
	free(req);
	return rc;
}

int main(void)
{
	char req[4096];
	struct json_object *resp = NULL;

	harness_require();
	setvbuf(stdout, NULL, _IOLBF, 0);
	strcpy(h.dir, "/tmp/parma-e2e-agent-XXXXXX");
	if (!mkdtemp(h.dir))
		return 1;
	if (harness_image(&h, 0) < 0)
		return 1;
	const char *l0 = h.layers[0].root_hash, *l1 = h.layers[1].root_hash;
	if (harness_policy_gen(&h, spec) < 0)
		return 1;
	harness_check(&h, strstr((char *)h.policy, l0) && strstr((char *)h.policy, l1),
		      "parma policy gen names both converted layers");

	/* the flipped copy of layer 1: one byte inside big.txt */
	char flipped[600], scratch[600];
	uint8_t *img = NULL;
	size_t len = 0;
	struct errbuf eb = { 0 };
	if (file_read_all(h.layers[1].image, 64u << 20, &img, &len, &eb) < 0)
		return 1;
	uint8_t *hit = memmem(img, len, "BIGFILE-LINE-002000", 19);
	harness_check(&h, hit != NULL, "big.txt is stored in plain blocks of layer 1");
	if (hit)
		hit[5] ^= 0x20;
	snprintf(flipped, sizeof(flipped), "%s/flipped.img", h.dir);
	file_write_atomic(flipped, img, len, 0644, &eb);
	free(img);
	snprintf(scratch, sizeof(scratch), "%s/scratch.img", h.dir);
	int fd = open(scratch, O_CREAT | O_RDWR | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 128 << 20) != 0)
		return 1;
	close(fd);

	const char *disks[] = { h.layers[0].image, h.layers[1].image, flipped, scratch };
	const int ro[] = { 1, 1, 1, 0 };
	if (harness_boot(&h, disks, ro, 4) < 0) {
		h.failures++;
		return harness_finish(&h);
	}

	if (expect_ok("ping", "{\"type\":\"ping\"}", NULL) != 0)
		return harness_finish(&h); /* no agent: nothing else can pass */
	/* closed door: nothing but ping/install/report before the policy */
	snprintf(req, sizeof(req),
		 "{\"type\":\"mount_device\",\"device\":\"/dev/vda\",\"layer\":0,"
		 "\"device_hash\":\"%s\",\"hash_offset\":%llu}", l0, h.layers[0].hash_offset);
	expect_denied("mount before any policy", "closed", req);

	/* install: base64 of the exact bytes; the agent checks them against a fresh report */
	size_t b64_len = base64_encoded_len(h.policy_len);
	char *b64 = malloc(b64_len + 1);
	base64_encode(h.policy, h.policy_len, b64);
	char *install = malloc(b64_len + 64);
	sprintf(install, "{\"type\":\"install_policy\",\"policy_base64\":\"%s\"}", b64);
	if (expect_ok("install_policy (dev attestation)", install, &resp) == 0) {
		struct json_object *v;
		char hex[65];
		hex_encode(h.host_data, 32, hex);
		harness_check(&h, json_object_object_get_ex(resp, "digest", &v) &&
				      !strcmp(json_object_get_string(v), hex),
			      "installed digest is SHA-256 of the policy bytes");
	}
	json_object_put(resp);
	resp = NULL;
	harness_check(&h, h.dev_reports >= 1, "the agent asked the host for a dev report");
	/* a second policy (even the same bytes) is refused */
	expect_denied("second install_policy", "already_installed", install);
	free(install);
	free(b64);

	/* layers: a hash the policy does not name, then the right ones */
	expect_denied("mount_layer with a root hash not in the policy", "device_hash",
		      "{\"type\":\"mount_device\",\"device\":\"/dev/vda\",\"layer\":0,"
		      "\"device_hash\":\"00000000000000000000000000000000000000000000000000000000000000aa\","
		      "\"hash_offset\":4096}");
	mount_layer("mount_layer 0 (after the denial)", "/dev/vda", 0, l0, 0);
	mount_layer("mount_layer 1", "/dev/vdb", 1, l1, 1);
	expect_denied("unencrypted scratch without allow_unencrypted_scratch", "scratch_unencrypted",
		      "{\"type\":\"mount_scratch\",\"device\":\"/dev/vdd\",\"encrypted\":false}");
	/* the guest owns every path: nothing the host sends lands on the agent's state */
	expect_denied("mount_scratch over the agent's state", "agent_state",
		      "{\"type\":\"mount_scratch\",\"device\":\"/dev/vdd\","
		      "\"target\":\"/run/parma/agent\",\"encrypted\":true}");
	snprintf(req, sizeof(req),
		 "{\"type\":\"mount_device\",\"device\":\"/dev/vdc\","
		 "\"target\":\"/run/parma/agent/security-context\",\"device_hash\":\"%s\","
		 "\"hash_offset\":%llu}", l1, h.layers[1].hash_offset);
	expect_denied("layer mounted over the security context", "agent_state", req);
	expect_ok("mount_scratch (dm-crypt)",
		  "{\"type\":\"mount_scratch\",\"device\":\"/dev/vdd\",\"encrypted\":true}", NULL);

	/* overlay: reordered layers denied, policy order accepted */
	expect_denied("mount_overlay with reordered layers", "overlay_layers",
		      "{\"type\":\"mount_overlay\",\"container_id\":\"c1\",\"layers\":[1,0],"
		      "\"scratch\":true}");
	expect_ok("mount_overlay in policy order",
		  "{\"type\":\"mount_overlay\",\"container_id\":\"c1\",\"layers\":[0,1],"
		  "\"scratch\":true}", NULL);
	/* an overlay or a layer where c1's scratch mount or rootfs lives: the map says where each
	 * kind goes, so neither can alias another container's files */
	expect_denied("overlay of c2 at c1's scratch mount", "target_path",
		      "{\"type\":\"mount_overlay\",\"container_id\":\"c2\",\"layers\":[0,1],"
		      "\"target\":\"/run/parma/scratch/mounts/c1/shared\"}");
	expect_denied("overlay of c2 at c1's rootfs", "target_path",
		      "{\"type\":\"mount_overlay\",\"container_id\":\"c2\",\"layers\":[0,1],"
		      "\"target\":\"/run/parma/containers/c1/rootfs\"}");
	snprintf(req, sizeof(req),
		 "{\"type\":\"mount_device\",\"device\":\"/dev/vdc\","
		 "\"target\":\"/run/parma/scratch/containers/c1/upper\",\"device_hash\":\"%s\","
		 "\"hash_offset\":%llu}", l1, h.layers[1].hash_offset);
	expect_denied("layer over c1's writable layer", "target_path", req);

	/* create: extra env and hooks refused, then the policy's own container */
	const char *const evil[] = { "EVIL=1", NULL };
	denied_req("create_container with an extra env var", "env",
		   harness_request(&h, "main", "c1", NULL, evil, NULL));
	denied_req("create_container with host-supplied hooks", "malformed_request",
		   harness_request(&h, "main", "c1", NULL, NULL,
				   "{\"hooks\":{\"prestart\":[{\"path\":\"/bin/sh\"}]}}"));
	/* bind sources aliasing what the guest owns for a container, or the agent's state */
	denied_req("create_container binding c1's own rootfs path", "source_in_use",
		   harness_request(&h, "main", "c1", NULL, NULL,
				   "{\"mounts\":[{\"source\":\"/run/parma/containers/c1/rootfs\","
				   "\"destination\":\"/x\",\"type\":\"bind\",\"options\":[\"rbind\"]}]}"));
	denied_req("create_container binding the scratch disk's writable layers", "source_in_use",
		   harness_request(&h, "main", "c1", NULL, NULL,
				   "{\"mounts\":[{\"source\":\"/run/parma/scratch/containers\","
				   "\"destination\":\"/x\",\"type\":\"bind\",\"options\":[\"rbind\"]}]}"));
	denied_req("create_container binding the agent's state", "agent_state",
		   harness_request(&h, "main", "c1", NULL, NULL,
				   "{\"mounts\":[{\"source\":\"/run/parma/agent\","
				   "\"destination\":\"/x\",\"type\":\"bind\",\"options\":[\"rbind\"]}]}"));
	uint32_t main_pid = 0;
	if (ok_req("create_container main", harness_request(&h, "main", "c1", NULL, NULL, NULL),
		   &resp) == 0)
		main_pid = get_pid(resp);
	json_object_put(resp);
	resp = NULL;
	harness_out(&h, main_pid);
	expect_ok("start_container main", "{\"type\":\"start_container\",\"container_id\":\"c1\"}",
		  NULL);

	/* while main waits on stdin: unlisted exec and signal denied, listed exec runs */
	const char *const shell[] = { "/bin/sh", NULL };
	denied_req("exec_in_container of an unlisted command", "exec_process",
		   harness_request(&h, "main", "c1", shell, NULL, NULL));
	snprintf(req, sizeof(req),
		 "{\"type\":\"signal_process\",\"container_id\":\"c1\",\"signal\":9}");
	expect_denied("signal 9 (policy lists only 15)", "signal", req);
	uint32_t exec_pid = 0;
	const char *const echo[] = { "/bin/echo", "exec-ok", NULL };
	if (ok_req("exec_in_container of the listed command",
		   harness_request(&h, "main", "c1", echo, NULL, NULL), &resp) == 0)
		exec_pid = get_pid(resp);
	json_object_put(resp);
	resp = NULL;
	int code = -1;
	if (exec_pid) {
		harness_out(&h, exec_pid);
		wait_exit(exec_pid, &code);
		harness_drain(&h, exec_pid, 10000);
		harness_check(&h, code == 0 && strstr(harness_out(&h, exec_pid)->data[0], "exec-ok"),
			      "exec output and exit code come back (code %d)", code);
	}

	/* main: stdin line, then its stdout and exit code */
	struct errbuf ceb = { 0 };
	if (main_pid) {
		agent_client_write_stdin(h.client, main_pid, "ping\n", 5, T, &ceb);
		agent_client_close_stdin(h.client, main_pid, &ceb);
		wait_exit(main_pid, &code);
		harness_drain(&h, main_pid, 10000);
		const char *o = harness_out(&h, main_pid)->data[0];
		harness_check(&h, strstr(o, "hello from a verity layer") != NULL,
			      "main's stdout carries the layer's file");
		harness_check(&h, strstr(o, "got:ping") != NULL, "main read its stdin");
		harness_check(&h, strstr(o, "SHARED-WRITTEN") != NULL,
			      "main wrote to its scratch mount \"shared\"");
		harness_check(&h, code == 7, "main's exit code is 7 (got %d)", code);
	}

	/* the flipped layer: verity passes the mount, the bad block reads as EIO */
	mount_layer("mount_layer of the flipped copy (policy's hash)", "/dev/vdc", 1, l1, 2);
	expect_ok("mount_overlay reader on the flipped copy",
		  "{\"type\":\"mount_overlay\",\"container_id\":\"c2\",\"layers\":[0,2],"
		  "\"scratch\":true}", NULL);
	uint32_t reader_pid = 0;
	if (ok_req("create_container reader", harness_request(&h, "reader", "c2", NULL, NULL, NULL),
		   &resp) == 0)
		reader_pid = get_pid(resp);
	json_object_put(resp);
	resp = NULL;
	harness_out(&h, reader_pid);
	expect_ok("start_container reader", "{\"type\":\"start_container\",\"container_id\":\"c2\"}",
		  NULL);
	if (reader_pid) {
		wait_exit(reader_pid, &code);
		harness_drain(&h, reader_pid, 10000);
		struct harness_output *o = harness_out(&h, reader_pid);
		unsigned long size = 0;
		char sum[65] = "";
		char *line = strstr(o->data[0], "READ-FAILED");
		harness_check(&h, line && !strstr(o->data[0], "READ-OK"),
			      "reader sees a failed read, not success");
		harness_check(&h, !strstr(o->data[0], "SEES-MAIN-UPPER"),
			      "reader does not see what main wrote to its writable layer");
		harness_check(&h, !strstr(o->data[0], "SEES-MAIN-SCRATCH"),
			      "reader's scratch mount \"shared\" is its own, not main's");
		harness_check(&h, strstr(o->data[0], "SECURITY-CONTEXT-OK") != NULL,
			      "reader still sees the security context (policy.json)");
		harness_check(&h, strstr(o->data[1], "Input/output error") != NULL,
			      "reader's error is an I/O error (stderr: %.80s)", o->data[1]);
		if (line && sscanf(line, "READ-FAILED %lu %64s", &size, sum) == 2) {
			/* every byte the reader got is the genuine prefix of big.txt */
			char *genuine = malloc(4096 * 20 + 1);
			for (int i = 0; i < 4096; i++)
				snprintf(genuine + i * 20, 21, "BIGFILE-LINE-%06d\n", i);
			uint8_t d[32];
			char hex[65];
			digest_sha256(genuine, size <= 4096 * 20 ? size : 0, d);
			hex_encode(d, 32, hex);
			harness_check(&h, size < 4096 * 20 && !strcmp(hex, sum),
				      "the %lu bytes read before the error are genuine", size);
			free(genuine);
		} else {
			harness_check(&h, 0, "reader printed size and sha256 (%s)", o->data[0]);
		}
	}

	/* ids are single use: c1, shut down and unmounted, never gets an overlay again */
	expect_ok("shutdown_container main", "{\"type\":\"shutdown_container\",\"container_id\":\"c1\"}",
		  NULL);
	expect_ok("unmount_overlay c1", "{\"type\":\"unmount_overlay\",\"container_id\":\"c1\"}",
		  NULL);
	expect_denied("mount_overlay reusing the retired id c1", "id_reused",
		      "{\"type\":\"mount_overlay\",\"container_id\":\"c1\",\"layers\":[0,2],"
		      "\"scratch\":true}");

	/* still serving after everything above */
	expect_ok("ping after all denials", "{\"type\":\"ping\"}", NULL);

	/* scratch: the marker main wrote (and synced) must not be on the host in plaintext */
	qemu_vm_stop(h.vm, 2000);
	uint8_t *sc = NULL;
	size_t sc_len = 0;
	if (file_read_all(scratch, 256u << 20, &sc, &sc_len, &eb) == 0) {
		harness_check(&h, memmem(sc, sc_len, MARKER, strlen(MARKER)) == NULL,
			      "scratch marker absent from the host's scratch image");
		size_t nonzero = 0;
		for (size_t i = 0; i < sc_len; i++)
			nonzero += sc[i] != 0;
		harness_check(&h, nonzero > 65536, "scratch image holds ciphertext (%zu bytes)", nonzero);
		free(sc);
	}
	return harness_finish(&h);
}
