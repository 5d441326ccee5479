/* Fuzz the key broker's request parsing: the first byte picks the message
 * (0 auth Request, 1 Attestation, 2 resource path, 3 release policy), the rest
 * is the body. Requests go through kbs_broker_handle() as the server passes
 * them, and straight into the parsers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "policy/attest/snp_dev.h"
#include "vmm/kbs/kbs_broker.h"
#include "vmm/kbs/kbs_policy.h"
#include "vmm/kbs/kbs_protocol.h"
#include "vmm/kbs/kbs_store.h"

static struct kbs_broker *broker;
static char root[64];

static void cleanup(void)
{
	char cmd[128];
	kbs_broker_free(broker);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_kbs: cannot remove %s\n", root);
}

static void init(void)
{
	char store[128], ca_dir[128];
	struct snp_dev_ca *ca;
	struct snp_dev_ca_options o = {.rsa_bits = 2048};
	snprintf(root, sizeof(root), "/tmp/parma-kbs-fuzz-XXXXXX");
	if (!mkdtemp(root))
		abort();
	snprintf(store, sizeof(store), "%s/store", root);
	snprintf(ca_dir, sizeof(ca_dir), "%s/ca", root);
	mkdir(store, 0700);
	if (snp_dev_ca_open(ca_dir, true, &o, &ca, NULL))
		abort();
	snp_dev_ca_free(ca);
	struct kbs_broker_config c = {.store_dir = store, .certs_dir = ca_dir, .max_sessions = 8};
	if (kbs_broker_new(&c, &broker, NULL))
		abort();
	atexit(cleanup);
}

static void auth(char cookie[64])
{
	static const char req[] = "{\"version\":\"0.1.0\",\"tee\":\"snp\"}";
	struct kbs_response r;
	cookie[0] = 0;
	kbs_broker_handle(broker, "POST", "/kbs/v0/auth", NULL, (const uint8_t *)req,
			  sizeof(req) - 1, &r);
	if (sscanf(r.set_cookie, "kbs-session-id=%63[0-9a-f]", cookie) != 1)
		cookie[0] = 0;
	kbs_response_clear(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!broker)
		init();
	if (size < 1)
		return 0;
	const uint8_t *body = data + 1;
	size_t len = size - 1;
	struct kbs_response r;
	struct errbuf eb = {0};
	char cookie[64];
	switch (data[0] % 4) {
	case 0: {
		struct kbs_auth_request a;
		kbs_parse_auth((const char *)body, len, &a, &eb);
		kbs_broker_handle(broker, "POST", "/kbs/v0/auth", NULL, body, len, &r);
		kbs_response_clear(&r);
		break;
	}
	case 1: {
		struct kbs_attestation a;
		if (kbs_parse_attestation((const char *)body, len, &a, &eb) == 0) {
			uint8_t rd[SNP_REPORT_DATA_SIZE];
			char *canon = NULL;
			kbs_binding(&a, "bm9uY2U=", KBS_HASH_SHA384, rd, &eb);
			if (kbs_jcs(a.root, &canon, &eb) == 0)
				free(canon);
			kbs_attestation_clear(&a);
		}
		auth(cookie);
		kbs_broker_handle(broker, "POST", "/kbs/v0/attest", cookie, body, len, &r);
		kbs_response_clear(&r);
		break;
	}
	case 2: {
		char path[512], *id = path + strlen("/kbs/v0/resource/");
		struct kbs_resource_id rid;
		size_t n = len < 400 ? len : 400;
		snprintf(path, sizeof(path), "/kbs/v0/resource/");
		memcpy(id, body, n);
		id[n] = 0;
		kbs_resource_id_parse(id, &rid, &eb);
		auth(cookie);
		kbs_broker_handle(broker, "GET", path, cookie, NULL, 0, &r);
		kbs_response_clear(&r);
		break;
	}
	default: {
		struct kbs_policy *p = malloc(sizeof(*p));
		if (p)
			kbs_policy_parse((const char *)body, len, p, &eb);
		free(p);
		break;
	}
	}
	return 0;
}
