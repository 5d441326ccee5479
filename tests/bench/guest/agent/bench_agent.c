/* bench_agent: container create+start through parma-agent vs crun run directly, in the same
 * guest (QEMU TCG, one boot), and the policy engine's share of the agent path.
 *
 *   agent   create_container + start_container of a /bin/true container (host-measured round
 *           trips: frame, JSON, policy engine, OCI config written from checked fields, crun
 *           create, crun start)
 *   direct  `crun run` of the same kind of bundle (crun spec's defaults, /bin/true, an overlay
 *           rootfs on the same layers) as a policy-listed exec_external; the host measures
 *           exec_external + wait and subtracts two ping round trips (the transport)
 *   engine  estimate of the policy engine per create: median(the same create_container, denied
 *           by its env rule: request JSON + the engine's matching of command, working dir, user,
 *           capabilities and env, no effect) - median(ping); its share of the agent's
 *           create+start path. (The agent does not time the engine itself; this difference also
 *           contains request parsing, so it overstates the engine.) Parma's bound is <= 1%.
 *
 * Each pair of sides alternates (tests/bench/harness), PARMA_BENCH_REPS runs each (default 8,
 * at least 5; TCG makes each container cost ~100 ms-1 s). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/encoding.h"
#include "vmm/group/agent_client.h"
#include "vmm/group/qemu_launch.h"

#include "e2e_harness.h"
#include "tests/bench/harness/bench_harness.h"

#define T 120000
#define K 10 /* ping / denied-create pairs per iteration */

static struct harness h;

/* Send and wait; say so when the answer is not the expected one (0, or -EACCES). */
static int call_expect(const char *json, struct json_object **resp, int expect)
{
	char msg[600];
	int rc = harness_call(&h, json, T, resp, msg, sizeof(msg));
	if (rc != expect)
		printf("unexpected answer to %s: %s\n", json, rc ? msg : "ok");
	return rc;
}

static int call(const char *json, struct json_object **resp)
{
	return call_expect(json, resp, 0);
}

static uint32_t pid_of(struct json_object *resp)
{
	struct json_object *v;
	return resp && json_object_object_get_ex(resp, "process_id", &v)
		       ? (uint32_t)json_object_get_int64(v) : 0;
}

static int wait_pid(uint32_t pid)
{
	char req[96];
	snprintf(req, sizeof(req), "{\"type\":\"wait\",\"process_id\":%u}", pid);
	return call(req, NULL);
}

static int next_id;       /* container ids b0, b1, ...: each create uses a fresh one */
static double last_ping;  /* the latest ping round trip (ms), subtracted from crun run */

/* create_container + start_container of a /bin/true container through the agent (ms); the
 * overlay it needs is mounted first, untimed, and the container is waited for after. */
static int agent_create_start(void *ctx, double *v, char *why, size_t why_size)
{
	char id[32], req[2048];
	struct json_object *resp = NULL;
	(void)ctx;
	snprintf(id, sizeof(id), "b%d", next_id++);
	snprintf(req, sizeof(req),
		 "{\"type\":\"mount_overlay\",\"container_id\":\"%s\",\"layer_targets\":["
		 "\"/run/parma/layers/0\",\"/run/parma/layers/1\",\"/run/parma/layers/2\"],"
		 "\"target\":\"/run/parma/containers/%s/rootfs\",\"scratch\":\"/run/parma/scratch\"}", id, id);
	if (call(req, NULL) != 0)
		return snprintf(why, why_size, "mount_overlay %s failed", id), -EIO;
	snprintf(req, sizeof(req),
		 "{\"type\":\"create_container\",\"container_id\":\"%s\",\"command\":[\"/bin/true\"],"
		 "\"env\":[\"PATH=/bin\"],\"working_dir\":\"/\",\"no_new_privileges\":true,"
		 "\"capabilities\":{\"bounding\":[],\"effective\":[],\"inheritable\":[],"
		 "\"permitted\":[],\"ambient\":[]}}", id);
	double t0 = harness_now_ms();
	int ok = call(req, &resp) == 0;
	uint32_t pid = pid_of(resp);
	json_object_put(resp);
	snprintf(req, sizeof(req), "{\"type\":\"start_container\",\"container_id\":\"%s\"}", id);
	ok &= call(req, NULL) == 0;
	*v = harness_now_ms() - t0;
	if (pid)
		wait_pid(pid);
	if (!ok)
		return snprintf(why, why_size, "create/start %s failed", id), -EIO;
	return 0;
}

/* `crun run` of the same kind of bundle as a policy-listed exec_external, waited for (ms),
 * minus two ping round trips (the transport the agent path also pays once per request). */
static int crun_run_direct(void *ctx, double *v, char *why, size_t why_size)
{
	struct json_object *resp = NULL;
	(void)ctx;
	double t0 = harness_now_ms();
	if (call("{\"type\":\"ping\"}", NULL) != 0)
		return snprintf(why, why_size, "ping failed"), -EIO;
	last_ping = harness_now_ms() - t0;
	t0 = harness_now_ms();
	int ok = call("{\"type\":\"exec_external\",\"command\":[\"/usr/bin/crun\",\"--root\","
		      "\"/run/parma/crun-direct\",\"run\",\"--bundle\",\"/run/parma/layers/2/bundle\","
		      "\"direct\"],\"working_dir\":\"/\"}", &resp) == 0;
	uint32_t pid = pid_of(resp);
	json_object_put(resp);
	ok &= pid != 0 && wait_pid(pid) == 0;
	double d = harness_now_ms() - t0;
	*v = d - 2 * last_ping > 0 ? d - 2 * last_ping : d;
	if (!ok)
		return snprintf(why, why_size, "exec_external crun run failed"), -EIO;
	return 0;
}

/* The median of K round trips of one request (ms): `expect` is its answer (0 or -EACCES). */
static int median_round_trip(const char *req, int expect, double *v, char *why, size_t why_size)
{
	double t[K], min, max;
	for (int k = 0; k < K; k++) {
		double t0 = harness_now_ms();
		if (call_expect(req, NULL, expect) != expect)
			return snprintf(why, why_size, "unexpected answer"), -EIO;
		t[k] = harness_now_ms() - t0;
	}
	bench_stats(t, K, &min, v, &max);
	return 0;
}

static int ping_round_trip(void *ctx, double *v, char *why, size_t why_size)
{
	(void)ctx;
	return median_round_trip("{\"type\":\"ping\"}", 0, v, why, why_size);
}

/* The create of container "cdirect" (overlay mounted, never created) denied at its env check:
 * transport + framing + JSON + the engine's matching of every field, no effect. */
static int denied_create_round_trip(void *ctx, double *v, char *why, size_t why_size)
{
	(void)ctx;
	return median_round_trip(
		"{\"type\":\"create_container\",\"container_id\":\"cdirect\",\"command\":[\"/bin/true\"],"
		"\"env\":[\"PATH=/bin\",\"EXTRA=1\"],\"working_dir\":\"/\",\"no_new_privileges\":true,"
		"\"capabilities\":{\"bounding\":[],\"effective\":[],\"inheritable\":[],"
		"\"permitted\":[],\"ambient\":[]}}", -EACCES, v, why, why_size);
}

int main(void)
{
	char policy[8192], req[2048];

	harness_require();
	setvbuf(stdout, NULL, _IOLBF, 0);
	strcpy(h.dir, "/tmp/parma-bench-agent-XXXXXX");
	if (!mkdtemp(h.dir) || harness_image(&h, 1) < 0)
		return 1;
	const char *l0 = h.layers[0].root_hash, *l1 = h.layers[1].root_hash,
		   *l2 = h.layers[2].root_hash;
	snprintf(policy, sizeof(policy),
		 "{\"version\":1,\"containers\":[{\"name\":\"bench\",\"layers\":[\"%s\",\"%s\",\"%s\"],"
		 "\"command\":[\"/bin/true\"],"
		 "\"env_rules\":[{\"pattern\":\"PATH=/bin\",\"strategy\":\"string\",\"required\":true}],"
		 "\"working_dir\":\"/\",\"signals\":[],\"capabilities\":{\"bounding\":[],"
		 "\"effective\":[],\"inheritable\":[],\"permitted\":[],\"ambient\":[]}}],"
		 "\"external_processes\":[{\"command\":[\"/usr/bin/crun\",\"--root\","
		 "\"/run/parma/crun-direct\",\"run\",\"--bundle\",\"/run/parma/layers/2/bundle\","
		 "\"direct\"],\"working_dir\":\"/\"}]}\n",
		 l0, l1, l2);
	if (harness_set_policy(&h, policy) < 0)
		return 1;
	char scratch[600];
	snprintf(scratch, sizeof(scratch), "%s/scratch.img", h.dir);
	if (truncate(scratch, 0) < 0) {
		FILE *f = fopen(scratch, "w");
		if (f)
			fclose(f);
	}
	if (truncate(scratch, 256 << 20) != 0)
		return 1;
	const char *disks[] = { h.layers[0].image, h.layers[1].image, h.layers[2].image, scratch };
	const int ro[] = { 1, 1, 1, 0 };
	double t_boot = harness_now_ms();
	if (harness_boot(&h, disks, ro, 4) < 0 || call("{\"type\":\"ping\"}", NULL) != 0) {
		h.failures++;
		return harness_finish(&h);
	}
	printf("guest up and agent answering after %.0f ms\n", harness_now_ms() - t_boot);

	size_t b64n = base64_encoded_len(h.policy_len);
	char *install = malloc(b64n + 64), *b64 = malloc(b64n + 1);
	base64_encode(h.policy, h.policy_len, b64);
	sprintf(install, "{\"type\":\"install_policy\",\"policy_base64\":\"%s\"}", b64);
	int rc = call(install, NULL);
	free(install);
	free(b64);
	for (int i = 0; i < 3 && rc == 0; i++) {
		snprintf(req, sizeof(req),
			 "{\"type\":\"mount_device\",\"device\":\"/dev/vd%c\",\"target\":\"/run/parma/layers/%d\","
			 "\"device_hash\":\"%s\",\"hash_offset\":%llu}",
			 'a' + i, i, h.layers[i].root_hash, h.layers[i].hash_offset);
		rc = call(req, NULL);
	}
	if (rc == 0)
		rc = call("{\"type\":\"mount_scratch\",\"device\":\"/dev/vdd\",\"target\":"
			  "\"/run/parma/scratch\",\"encrypted\":true}", NULL);
	if (rc == 0)
		rc = call("{\"type\":\"mount_overlay\",\"container_id\":\"cdirect\",\"layer_targets\":["
			  "\"/run/parma/layers/0\",\"/run/parma/layers/1\",\"/run/parma/layers/2\"],"
			  "\"target\":\"/run/parma/containers/cdirect/rootfs\",\"scratch\":\"/run/parma/scratch\"}",
			  NULL);
	harness_check(&h, rc == 0, "policy installed, layers, scratch and the direct rootfs mounted");
	if (rc != 0)
		return harness_finish(&h);

	struct bench_comparison cmp = {
		.what = "container create + start (/bin/true), QEMU TCG guest, 1 vCPU",
		.unit = "ms",
		.higher_is_better = false,
		.peer = { "crun run in the guest (exec_external - 2 pings)", crun_run_direct, NULL },
		.ours = { "parma-agent create_container + start_container", agent_create_start, NULL },
		.reps = 8,
	};
	printf("the agent runs crun twice (create, then start); crun run is one process\n");
	rc = bench_compare(&cmp);
	double create_start = cmp.ours_median;
	harness_check(&h, rc == 0, "every create/start and crun run answered as expected");
	if (rc == 0) {
		cmp = (struct bench_comparison){
			.what = "request round trip: ping vs a create denied at its env check (median of 10)",
			.unit = "ms",
			.higher_is_better = false,
			.peer = { "ping (transport + framing)", ping_round_trip, NULL },
			.ours = { "denied create_container (+ JSON + engine)", denied_create_round_trip,
				  NULL },
			.reps = 8,
		};
		rc = bench_compare(&cmp);
		harness_check(&h, rc == 0, "every ping and denied create answered as expected");
		double engine = cmp.ours_median - cmp.peer_median;
		if (engine < 0)
			engine = 0;
		printf("policy engine per create (estimate: median denied create - median ping) "
		       "%.2f ms = %.2f%% of the create+start median (goal <= 1%%; overstated: it also "
		       "holds request parsing)\n", engine,
		       create_start > 0 ? 100.0 * engine / create_start : 0);
	}
	return harness_finish(&h);
}
