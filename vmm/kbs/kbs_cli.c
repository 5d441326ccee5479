/* kbs_cli: the key broker's commands. */
#include "vmm/kbs/kbs_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "common/cli.h"
#include "common/fileio.h"
#include "vmm/kbs/kbs_broker.h"
#include "vmm/kbs/kbs_json.h"
#include "vmm/kbs/kbs_policy.h"
#include "vmm/kbs/kbs_server.h"
#include "vmm/kbs/kbs_store.h"

static int exit_for(int err)
{
	return err == -ENOENT || err == -EINVAL || err == -E2BIG || err == -ENOTDIR ? CLI_BAD_INPUT
	       : err == -ENOMEM							    ? CLI_INTERNAL
										    : CLI_FAILED;
}

/* ---- parma kbs policy check ---- */

static int policy_check_main(int argc, char **argv)
{
	const char *prog = argv[0];
	struct errbuf eb = {0};
	static const struct cli_spec spec = {
		.usage = "Usage: %s FILE\n\nCheck a resource release policy; errors name the "
			 "JSON path. See docs/key-release.md for the schema.\n",
		.min_operands = 1, .max_operands = 1,
		.operands_error = "expected one release policy file",
	};
	int rc, first = cli_start(prog, &spec, argc, argv, &rc);
	if (first < 0)
		return rc;
	struct kbs_policy *p = malloc(sizeof(*p));
	if (!p)
		return cli_error(prog, CLI_INTERNAL, "out of memory");
	int r = kbs_policy_load(argv[first], p, &eb);
	if (r == 0)
		printf("%s: valid release policy (%zu HOST_DATA, %zu MEASUREMENT%s%s%s)\n",
		       argv[first], p->n_host_data, p->n_measurement,
		       p->allow_debug ? ", DEBUG ALLOWED" : "",
		       p->allow_dev ? ", DEVELOPMENT ATTESTATION ALLOWED" : "",
		       p->check_min_tcb ? ", minimum TCB" : "");
	free(p);
	return r ? cli_error(prog, CLI_BAD_INPUT, "%s", eb.msg) : CLI_OK;
}

static const struct cli_command policy_commands[] = {
	{"check", "validate a resource release policy", policy_check_main},
};

static int policy_main(int argc, char **argv)
{
	return cli_dispatch(argv[0], "Release policies of the key broker's resources.",
			    policy_commands, CLI_ARRAY_SIZE(policy_commands), argc, argv);
}

/* ---- put / list / rm ---- */

static int open_store(const char *prog, const char *dir, bool create, struct kbs_store *s)
{
	struct errbuf eb = {0};
	if (!dir)
		return cli_usage_error(prog, "--store DIR is required");
	int r = kbs_store_open(s, dir, create, &eb);
	return r ? cli_error(prog, exit_for(r), "%s", eb.msg) : CLI_OK;
}

static int put_main(int argc, char **argv)
{
	const char *prog = argv[0], *store_dir = NULL, *policy_file = NULL;
	struct kbs_store s;
	struct kbs_resource_id id;
	struct errbuf eb = {0};
	const struct cli_opt opts[] = {
		CLI_STRING("store", 0, &store_dir),
		CLI_STRING("policy", 0, &policy_file),
	};
	const struct cli_spec spec = {
		.usage = "Usage: %s --store DIR --policy FILE REPO/TYPE/TAG SECRET-FILE|-\n\n"
			 "Store a secret (read from a file, or stdin with -) with its release "
			 "policy.\n"
			 "Files are written 0600 in a 0700 store; an existing resource is "
			 "replaced.\n"
			 "The secret is never printed.\n",
		.opts = opts, .n_opts = CLI_ARRAY_SIZE(opts),
		.min_operands = 2, .max_operands = 2,
		.operands_error = "expected REPO/TYPE/TAG and SECRET-FILE",
	};
	int rc, first = cli_start(prog, &spec, argc, argv, &rc);
	if (first < 0)
		return rc;
	if (!policy_file)
		return cli_usage_error(prog, "--policy FILE is required: a resource without a "
					     "release policy is never released");
	if (kbs_resource_id_parse(argv[first], &id, &eb) < 0)
		return cli_error(prog, CLI_BAD_INPUT, "%s", eb.msg);
	if ((rc = open_store(prog, store_dir, true, &s)))
		return rc;
	uint8_t *secret = NULL, *policy = NULL;
	size_t slen = 0, plen = 0;
	int r = file_read_all(policy_file, KBS_POLICY_MAX_SIZE, &policy, &plen, &eb);
	if (!r)
		r = file_read_all(argv[first + 1], KBS_SECRET_MAX, &secret, &slen, &eb);
	if (!r) {
		r = kbs_store_put(&s, &id, secret, slen, (const char *)policy, plen, &eb);
		if (r && eb.msg[0] && !strncmp(eb.msg, "release", 7))
			errbuf_prefix(&eb, "%s", policy_file);
	}
	if (secret) {
		OPENSSL_cleanse(secret, slen);
		free(secret);
	}
	free(policy);
	if (r)
		return cli_error(prog, exit_for(r), "%s", eb.msg);
	printf("stored %s/%s/%s (%zu bytes)\n", id.repo, id.type, id.tag, slen);
	return CLI_OK;
}

static void print_id(void *ctx, const struct kbs_resource_id *id)
{
	(void)ctx;
	printf("%s/%s/%s\n", id->repo, id->type, id->tag);
}

static int list_main(int argc, char **argv)
{
	const char *prog = argv[0], *store_dir = NULL;
	struct kbs_store s;
	struct errbuf eb = {0};
	const struct cli_opt opts[] = {CLI_STRING("store", 0, &store_dir)};
	const struct cli_spec spec = {
		.usage = "Usage: %s --store DIR\n\nList the resource ids in a store (never their "
			 "values).\n",
		.opts = opts, .n_opts = CLI_ARRAY_SIZE(opts),
	};
	int rc, first = cli_start(prog, &spec, argc, argv, &rc);
	if (first < 0)
		return rc;
	if ((rc = open_store(prog, store_dir, false, &s)))
		return rc;
	int r = kbs_store_list(&s, print_id, NULL, &eb);
	return r ? cli_error(prog, exit_for(r), "%s", eb.msg) : CLI_OK;
}

static int rm_main(int argc, char **argv)
{
	const char *prog = argv[0], *store_dir = NULL;
	struct kbs_store s;
	struct kbs_resource_id id;
	struct errbuf eb = {0};
	const struct cli_opt opts[] = {CLI_STRING("store", 0, &store_dir)};
	const struct cli_spec spec = {
		.usage = "Usage: %s --store DIR REPO/TYPE/TAG\n\nRemove a resource and its "
			 "release policy.\n",
		.opts = opts, .n_opts = CLI_ARRAY_SIZE(opts),
		.min_operands = 1, .max_operands = 1,
		.operands_error = "expected REPO/TYPE/TAG",
	};
	int rc, first = cli_start(prog, &spec, argc, argv, &rc);
	if (first < 0)
		return rc;
	if (kbs_resource_id_parse(argv[first], &id, &eb) < 0)
		return cli_error(prog, CLI_BAD_INPUT, "%s", eb.msg);
	if ((rc = open_store(prog, store_dir, false, &s)))
		return rc;
	int r = kbs_store_rm(&s, &id, &eb);
	if (r)
		return cli_error(prog, r == -ENOENT ? CLI_FAILED : exit_for(r), "%s", eb.msg);
	printf("removed %s/%s/%s\n", id.repo, id.type, id.tag);
	return CLI_OK;
}

/* ---- serve ---- */

struct serve_config {
	struct json_object *root;
	const char *listen, *store, *certs, *tls_cert, *tls_key, *log;
	uint64_t port, ttl, max_sessions;
};

static int config_load(const char *path, struct serve_config *c, struct errbuf *eb)
{
	static const char *const keys[] = {"listen",	  "port",	  "store", "certs", "tls",
					   "session_ttl", "max_sessions", "log",   NULL};
	static const char *const tls_keys[] = {"cert", "key", NULL};
	uint8_t *text = NULL;
	size_t len = 0;
	struct kbs_jpath jp;
	struct json_object *tls = NULL;
	memset(c, 0, sizeof(*c));
	c->listen = "127.0.0.1";
	c->port = 8080;
	c->ttl = 300;
	c->max_sessions = 1024;
	int r = file_read_all(path, 1 << 20, &text, &len, eb);
	if (!r)
		r = kbs_json_parse((const char *)text, len, &c->root, eb);
	free(text);
	if (r)
		goto out;
	kbs_jpath_init(&jp, "config", eb);
	r = kbs_jobject(&jp, c->root, keys);
	if (!r)
		r = kbs_jstring(&jp, c->root, "listen", false, 64, &c->listen);
	if (!r)
		r = kbs_ju64(&jp, c->root, "port", false, 65535, &c->port);
	if (!r)
		r = kbs_jstring(&jp, c->root, "store", true, 1024, &c->store);
	if (!r)
		r = kbs_jstring(&jp, c->root, "certs", true, 1024, &c->certs);
	if (!r)
		r = kbs_jstring(&jp, c->root, "log", false, 1024, &c->log);
	if (!r)
		r = kbs_ju64(&jp, c->root, "session_ttl", false, 86400, &c->ttl);
	if (!r)
		r = kbs_ju64(&jp, c->root, "max_sessions", false, 1 << 20, &c->max_sessions);
	if (!r && (c->ttl == 0 || c->max_sessions == 0))
		r = errbuf_set(eb, EINVAL, "config: session_ttl and max_sessions must be positive");
	if (!r && kbs_jmember(&jp, c->root, "tls", false, &tls) == 1) {
		size_t old = kbs_jpath_key(&jp, "tls");
		r = kbs_jobject(&jp, tls, tls_keys);
		if (!r)
			r = kbs_jstring(&jp, tls, "cert", true, 1024, &c->tls_cert);
		if (!r)
			r = kbs_jstring(&jp, tls, "key", true, 1024, &c->tls_key);
		kbs_jpath_pop(&jp, old);
	}
out:
	if (r)
		errbuf_prefix(eb, "%s", path);
	return r;
}

static volatile sig_atomic_t serve_stop;

static void on_signal(int sig)
{
	(void)sig;
	serve_stop = 1;
}

static void log_line(void *ctx, const char *line)
{
	FILE *f = ctx;
	char ts[32];
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(f, "%s kbs: %s\n", ts, line);
	fflush(f);
}

static void on_ready(void *ctx, uint16_t port)
{
	const char *addr = ctx;
	printf("parma kbs: listening on %s port %u\n", addr, port);
	fflush(stdout);
}

static int serve_main(int argc, char **argv)
{
	const char *prog = argv[0], *config = NULL;
	struct serve_config c;
	struct errbuf eb = {0};
	const struct cli_opt opts[] = {CLI_STRING("config", 0, &config)};
	const struct cli_spec spec = {
		.usage = "Usage: %s --config FILE\n\n"
			 "Serve Trustee's KBS protocol (/kbs/v0/auth, /attest, /resource/R/T/G).\n"
			 "FILE: {\"listen\": \"127.0.0.1\", \"port\": 8080, \"store\": DIR, "
			 "\"certs\": DIR,\n"
			 "       \"tls\": {\"cert\": PEM, \"key\": PEM}, \"session_ttl\": 300,\n"
			 "       \"max_sessions\": 1024, \"log\": FILE}\n"
			 "Without tls only a loopback address is served. Every release and refusal\n"
			 "is logged (stderr, or the log file) with its reasons; never a secret.\n"
			 "Stops on SIGINT/SIGTERM.\n",
		.opts = opts, .n_opts = CLI_ARRAY_SIZE(opts),
	};
	int rc, first = cli_start(prog, &spec, argc, argv, &rc);
	if (first < 0)
		return rc;
	if (!config)
		return cli_usage_error(prog, "--config FILE is required");
	int r = config_load(config, &c, &eb);
	if (r) {
		json_object_put(c.root);
		return cli_error(prog, CLI_BAD_INPUT, "%s", eb.msg);
	}
	FILE *log = stderr;
	uint8_t *cert = NULL, *key = NULL;
	size_t n;
	struct kbs_broker *b = NULL;
	if (c.log) {
		int fd = open(c.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		log = fd >= 0 ? fdopen(fd, "a") : NULL;
		if (!log) {
			rc = cli_error(prog, CLI_BAD_INPUT, "%s: %s", c.log, strerror(errno));
			goto out;
		}
	}
	if (c.tls_cert && ((r = file_read_all(c.tls_cert, 1 << 20, &cert, &n, &eb)) < 0 ||
			   (r = file_read_all(c.tls_key, 1 << 20, &key, &n, &eb)) < 0)) {
		rc = cli_error(prog, CLI_BAD_INPUT, "%s", eb.msg);
		goto out;
	}
	struct kbs_broker_config bc = {.store_dir = c.store,
				       .certs_dir = c.certs,
				       .session_ttl = (unsigned)c.ttl,
				       .max_sessions = (unsigned)c.max_sessions,
				       .log = log_line,
				       .log_ctx = log};
	r = kbs_broker_new(&bc, &b, &eb);
	if (r) {
		rc = cli_error(prog, exit_for(r), "%s", eb.msg);
		goto out;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	struct kbs_server_config sc = {.address = c.listen,
				       .port = (uint16_t)c.port,
				       .tls_cert_pem = (const char *)cert,
				       .tls_key_pem = (const char *)key};
	log_line(log, c.tls_cert ? "starting (HTTPS)" : "starting (plain HTTP on loopback)");
	r = kbs_server_run(b, &sc, &serve_stop, on_ready, (void *)c.listen, &eb);
	if (r) {
		rc = cli_error(prog, r == -EPERM || r == -EINVAL ? CLI_BAD_INPUT : CLI_UNAVAILABLE,
			       "%s", eb.msg);
		goto out;
	}
	struct kbs_broker_stats st;
	kbs_broker_stats(b, &st);
	char line[200];
	snprintf(line, sizeof(line),
		 "stopping: %llu sessions, %llu attested, %llu released, %llu refused",
		 (unsigned long long)st.sessions, (unsigned long long)st.attested,
		 (unsigned long long)st.released, (unsigned long long)st.refused);
	log_line(log, line);
	rc = CLI_OK;
out:
	kbs_broker_free(b);
	if (key) {
		OPENSSL_cleanse(key, strlen((char *)key));
		free(key);
	}
	free(cert);
	if (log && log != stderr)
		fclose(log);
	json_object_put(c.root);
	return rc;
}

static const struct cli_command kbs_commands[] = {
	{"serve", "serve Trustee's KBS protocol: attested key release", serve_main},
	{"put", "store a secret with its release policy", put_main},
	{"list", "list the stored resource ids", list_main},
	{"rm", "remove a resource", rm_main},
	{"policy", "check a resource release policy", policy_main},
};

int kbs_cli_main(int argc, char **argv)
{
	return cli_dispatch(argv[0],
			    "The key broker: releases secrets to attested groups (Trustee KBS "
			    "protocol).",
			    kbs_commands, CLI_ARRAY_SIZE(kbs_commands), argc, argv);
}
