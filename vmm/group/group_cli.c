/* `parma ps | exec | logs | stop | attest`: commands on a group that `parma run` owns.
 * They find it through its state directory (vmm/group/group_state.h) and talk to its agent through
 * the group's relay socket, so every request still goes through the guest's policy engine. */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/cli.h"
#include "common/encoding.h"
#include "common/fileio.h"
#include "policy/lang/policy.h"
#include "policy/lang/policy_runenv.h"
#include "vmm/group/agent_client.h"
#include "vmm/group/group_cli.h"
#include "vmm/group/group_request.h"
#include "vmm/group/group_state.h"

#define GROUP_CALL_TIMEOUT_MS 60000

static int connect_group(const char *prog, const char *name, struct group_paths *p,
			 struct agent_client **c)
{
	struct errbuf eb = { 0 };
	if (group_find_running(name, p, &eb) < 0)
		return cli_error(prog, CLI_FAILED, "%s", errbuf_msg(&eb));
	if (agent_client_connect(p->relay_sock, AGENT_CONNECT_SERIAL, 5000, c, &eb) < 0)
		return cli_error(prog, CLI_FAILED, "group '%s': %s", name, errbuf_msg(&eb));
	return 0;
}

static struct json_object *load_json_file(const char *path, struct errbuf *eb)
{
	uint8_t *data;
	size_t len;
	if (file_read_all(path, 8u << 20, &data, &len, eb) < 0)
		return NULL;
	struct json_object *o = json_tokener_parse((char *)data);
	free(data);
	if (!o)
		errbuf_set(eb, EINVAL, "%s: not valid JSON", path);
	return o;
}

static struct policy *load_policy_file(const char *path, struct errbuf *eb)
{
	uint8_t *data;
	size_t len;
	struct policy *p = NULL;
	if (file_read_all(path, POLICY_MAX_BYTES, &data, &len, eb) < 0)
		return NULL;
	if (policy_load(data, len, &p, eb) < 0)
		errbuf_prefix(eb, "%s", path);
	free(data);
	return p;
}

static void ps_header(void)
{
	printf("%-20s %-10s %-8s %-5s %-8s %s\n", "GROUP", "CONTAINER", "STATE", "EXIT", "BACKEND",
	       "POLICY SHA-256");
}

/* Only options: -h/--help. Returns the index of the first operand, or -1 after printing help
 * (exit 0) / a usage error (*code set). */
static int simple_args(int argc, char **argv, const char *usage, int min, int max, int *code)
{
	const struct cli_spec spec = {.usage = usage, .min_operands = min, .max_operands = max,
				      .operands_error = "too many arguments",
				      .missing_error = "missing argument"};
	return cli_start(argv[0], &spec, argc, argv, code);
}

/* ---- ps ---- */

int group_cli_ps(int argc, char **argv)
{
	int code, first = simple_args(argc, argv,
				      "Usage: parma ps [GROUP]\n\nList running groups and their "
				      "containers (from each group's state directory).\n",
				      0, 1, &code);
	if (first < 0)
		return code;
	char root[GROUP_PATH_MAX];
	struct errbuf eb = { 0 };
	if (group_state_root(root, sizeof(root), &eb) < 0)
		return cli_error(argv[0], CLI_INTERNAL, "%s", errbuf_msg(&eb));
	DIR *d = opendir(root);
	struct dirent *e;
	int shown = 0;
	/* `parma ps NAME` of a group that is gone prints only the error, not an empty table */
	if (first >= argc)
		ps_header();
	while (d && (e = readdir(d))) {
		struct group_paths p;
		if (e->d_name[0] == '.' || (first < argc && strcmp(e->d_name, argv[first])))
			continue;
		if (group_paths_get(e->d_name, &p, NULL) < 0 || !group_owner_pid(&p))
			continue;
		struct json_object *info = load_json_file(p.info, NULL), *cs, *v;
		if (!info)
			continue;
		const char *backend = "", *digest = "";
		if (first < argc && !shown)
			ps_header();
		if (json_object_object_get_ex(info, "backend", &v))
			backend = json_object_get_string(v);
		if (json_object_object_get_ex(info, "policy_sha256", &v))
			digest = json_object_get_string(v);
		if (json_object_object_get_ex(info, "containers", &cs))
			for (size_t i = 0; i < json_object_array_length(cs); i++) {
				struct json_object *c = json_object_array_get_idx(cs, i), *n, *s, *x;
				json_object_object_get_ex(c, "name", &n);
				json_object_object_get_ex(c, "state", &s);
				char exit_code[16] = "-";
				if (json_object_object_get_ex(c, "exit_code", &x))
					snprintf(exit_code, sizeof(exit_code), "%d",
						 json_object_get_int(x));
				printf("%-20s %-10s %-8s %-5s %-8s %.16s…\n", e->d_name,
				       json_object_get_string(n), json_object_get_string(s), exit_code,
				       backend, digest);
			}
		json_object_put(info);
		shown++;
	}
	if (d)
		closedir(d);
	if (first < argc && !shown) {
		struct group_paths p;
		struct stat st;
		if (group_paths_get(argv[first], &p, NULL) == 0 && stat(p.logs, &st) == 0)
			return cli_error(argv[0], CLI_FAILED, "group '%s' is not running (no parma run "
					 "owns it; the logs of its last run are in %s)", argv[first],
					 p.logs);
		return cli_error(argv[0], CLI_FAILED, "group '%s' is not running", argv[first]);
	}
	return CLI_OK;
}

/* ---- exec ---- */

struct exec_state {
	uint32_t pid;
};

static void exec_on_output(void *opaque, uint32_t pid, int stream, const uint8_t *data,
			   size_t len, bool eof)
{
	struct exec_state *s = opaque;
	/* The process's first output can be read in the same batch as the exec's answer,
	 * before the caller took its process id from it. The relay sends a client only the
	 * output of processes it started, and this connection starts one: take its id. */
	if (!s->pid)
		s->pid = pid;
	if (pid != s->pid || stream < 1 || stream > 2)
		return;
	if (eof)
		return;
	fwrite(data, 1, len, stream == 1 ? stdout : stderr);
	fflush(stream == 1 ? stdout : stderr);
}

/* Keep a replayable record of a denied request next to the group's own history. */
/* The run-time values `parma run` was given for container `id`, from the group's relay
 * ({"NAME": "VALUE"}, new reference), or NULL if there are none. */
static struct json_object *exec_values(struct agent_client *c, const char *id)
{
	struct json_object *req = group_req_new("group_env"), *resp = NULL, *env, *out = NULL;
	json_object_object_add(req, "container_id", json_object_new_string(id));
	if (agent_client_call(c, req, GROUP_CALL_TIMEOUT_MS, &resp, NULL) == 0 &&
	    json_object_object_get_ex(resp, "env", &env) &&
	    json_object_is_type(env, json_type_object) && json_object_object_length(env))
		out = json_object_get(env);
	json_object_put(req);
	json_object_put(resp);
	return out;
}

/* Keep a replayable record of a denied request next to the group's own history, with the
 * run-time values (`values` of container `id`) redacted. */
static void exec_explain_hint(const char *prog, const struct group_paths *p,
			      struct json_object *req, const char *id, struct json_object *values)
{
	struct json_object *history = load_json_file(p->requests, NULL), *rec = NULL;
	if (!history || !json_object_is_type(history, json_type_array)) {
		json_object_put(history);
		history = json_object_new_array();
	}
	struct policy_runenv *rv = policy_runenv_new();
	if (values && rv) {
		json_object_object_foreach(values, name, value)
			policy_runenv_set(rv, id, name, json_object_get_string(value), NULL);
	}
	if (json_object_deep_copy(req, &rec, NULL) == 0) { /* a copy: req is not ours to change */
		policy_runenv_redact(rv, id, rec);
		json_object_array_add(history, rec);
	}
	policy_runenv_free(rv);
	char path[GROUP_PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/denied-exec.json", p->dir);
	const char *text = json_object_to_json_string_ext(history, JSON_C_TO_STRING_PRETTY);
	if (file_write_atomic(path, text, strlen(text), 0600, NULL) == 0)
		fprintf(stderr, "  reproduce: parma policy explain %s %s%s\n", p->policy, path,
			values ? " --env-file FILE (the run-time values)" : "");
	json_object_put(history);
	(void)prog;
}

static const char exec_usage[] =
	"Usage: parma exec GROUP CONTAINER [-i] -- COMMAND [ARG...]\n"
	"\n"
	"Run a command inside a running container. The guest's policy decides: only commands\n"
	"listed in the container's exec_processes are allowed; a denial prints the rule.\n"
	"The command gets the container's environment, including the run-time values given\n"
	"to `parma run --env/--env-file` (asked from the running group, never stored).\n"
	"  -i, --stdin   forward this command's standard input\n"
	"Exit status: the command's exit code; 1 if denied or failed.\n";

int group_cli_exec(int argc, char **argv)
{
	bool forward_stdin = false;
	if (cli_wants_help(argc, argv)) {
		printf("%s", exec_usage);
		return CLI_OK;
	}
	/* Options and GROUP CONTAINER come before "--"; everything after it is the command. */
	int dashdash = 1;
	while (dashdash < argc && strcmp(argv[dashdash], "--"))
		dashdash++;
	const struct cli_opt opts[] = {
		CLI_FLAG("stdin", 'i', &forward_stdin),
	};
	int first, rc = cli_parse_options(argv[0], opts, CLI_ARRAY_SIZE(opts), 0, dashdash, argv,
					  &first);
	if (rc)
		return rc;
	if (dashdash - first > 2)
		return cli_usage_error(argv[0], "put the command after '--'");
	if (dashdash - first < 2)
		return cli_usage_error(argv[0], "GROUP and CONTAINER are required");
	if (dashdash >= argc - 1)
		return cli_usage_error(argv[0], "missing '-- COMMAND'");
	const char *operands[2] = { argv[first], argv[first + 1] };
	char **cmd = argv + dashdash + 1;
	size_t n_cmd = (size_t)(argc - dashdash - 1);

	struct group_paths p;
	struct agent_client *c;
	struct errbuf eb = { 0 };
	int ret = connect_group(argv[0], operands[0], &p, &c);
	if (ret)
		return ret;
	struct policy *policy = load_policy_file(p.policy, &eb);
	struct json_object *req = policy ? group_req_exec(policy, operands[1], cmd, n_cmd) : NULL;
	if (!req) {
		policy_free(policy);
		agent_client_close(c);
		return cli_error(argv[0], CLI_FAILED, "group '%s' has no container '%s'%s%s",
				 operands[0], operands[1], eb.code ? ": " : "",
				 eb.code ? errbuf_msg(&eb) : "");
	}
	struct exec_state st = { 0 };
	struct agent_client_callbacks cbs = { .on_output = exec_on_output, .opaque = &st };
	agent_client_set_callbacks(c, &cbs);

	struct json_object *resp = NULL, *v, *values = exec_values(c, operands[1]);
	group_req_add_env_values(req, values);
	ret = agent_client_call(c, req, GROUP_CALL_TIMEOUT_MS, &resp, &eb);
	int code = CLI_FAILED;
	if (ret == -EACCES) {
		fprintf(stderr, "%s: denied by the policy: %s\n", argv[0], errbuf_msg(&eb));
		group_print_reason(stderr, resp);
		exec_explain_hint(argv[0], &p, req, operands[1], values);
		goto out;
	}
	if (ret < 0) {
		cli_error(argv[0], CLI_FAILED, "%s", errbuf_msg(&eb));
		goto out;
	}
	uint32_t started = json_object_object_get_ex(resp, "process_id", &v)
				   ? (uint32_t)json_object_get_int64(v)
				   : 0;
	json_object_put(resp);
	resp = NULL;
	if (st.pid && st.pid != started) {
		cli_error(argv[0], CLI_FAILED, "output of process %u arrived for exec process %u",
			  st.pid, started);
		goto out;
	}
	st.pid = started;

	if (forward_stdin) {
		uint8_t buf[16384];
		for (;;) {
			ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n <= 0)
				break;
			if (agent_client_write_stdin(c, st.pid, buf, (size_t)n, GROUP_CALL_TIMEOUT_MS,
						     &eb) < 0)
				break;
		}
	}
	agent_client_close_stdin(c, st.pid, &eb);

	struct json_object *wait = group_req_new("wait");
	json_object_object_add(wait, "process_id", json_object_new_int64(st.pid));
	ret = agent_client_call(c, wait, -1, &resp, &eb);
	json_object_put(wait);
	/* The agent answers the wait only after both streams' EOF, on this ordered connection
	 * (the relay keeps the order): all output is written by now. */
	int status = ret == 0 ? group_wait_status(resp) : -1;
	if (status >= 0)
		code = status;
	else
		cli_error(argv[0], CLI_FAILED, "wait: %s", errbuf_msg(&eb));
out:
	json_object_put(resp);
	json_object_put(req);
	json_object_put(values);
	policy_free(policy);
	agent_client_close(c);
	return code;
}

/* ---- logs ---- */

int group_cli_logs(int argc, char **argv)
{
	bool follow = false;
	const struct cli_opt opts[] = {
		CLI_FLAG("follow", 'f', &follow),
	};
	const struct cli_spec spec = {
		.usage = "Usage: parma logs GROUP [CONTAINER] [-f]\n\nPrint a container's output "
			 "(default: every container, prefixed with its name). -f follows it.\n",
		.opts = opts, .n_opts = CLI_ARRAY_SIZE(opts),
		.min_operands = 1, .max_operands = 2,
		.operands_error = "too many arguments", .missing_error = "missing GROUP",
	};
	int rc, first = cli_start(argv[0], &spec, argc, argv, &rc);
	if (first < 0)
		return rc;
	int n = argc - first;
	const char *operands[2] = { argv[first], n > 1 ? argv[first + 1] : NULL };
	struct group_paths p;
	struct errbuf eb = { 0 };
	if (group_paths_get(operands[0], &p, &eb) < 0)
		return cli_usage_error(argv[0], "%s", errbuf_msg(&eb));

	FILE *files[64];
	char names[64][64];
	size_t nf = 0;
	DIR *d = opendir(p.logs);
	struct dirent *e;
	while (d && (e = readdir(d)) && nf < 64) {
		size_t len = strlen(e->d_name);
		if (len < 5 || strcmp(e->d_name + len - 4, ".log") || len - 4 >= sizeof(names[0]))
			continue;
		snprintf(names[nf], sizeof(names[nf]), "%.*s", (int)(len - 4), e->d_name);
		if (operands[1] && strcmp(names[nf], operands[1]))
			continue;
		char path[GROUP_PATH_MAX + 80];
		snprintf(path, sizeof(path), "%s/%s", p.logs, e->d_name);
		if ((files[nf] = fopen(path, "re")))
			nf++;
	}
	if (d)
		closedir(d);
	if (!nf)
		return cli_error(argv[0], CLI_FAILED, "no logs for %s%s%s in %s", operands[0],
				 operands[1] ? "/" : "", operands[1] ? operands[1] : "", p.logs);
	char line[8192];
	for (;;) {
		bool any = false;
		for (size_t i = 0; i < nf; i++)
			while (fgets(line, sizeof(line), files[i])) {
				any = true;
				if (operands[1])
					fputs(line, stdout);
				else
					printf("%s | %s", names[i], line);
			}
		fflush(stdout);
		if (!follow || (!any && !group_owner_pid(&p)))
			break;
		if (!any)
			usleep(200000);
		for (size_t i = 0; i < nf; i++)
			clearerr(files[i]);
	}
	for (size_t i = 0; i < nf; i++)
		fclose(files[i]);
	return CLI_OK;
}

/* ---- stop ---- */

int group_cli_stop(int argc, char **argv)
{
	int code, first = simple_args(argc, argv,
				      "Usage: parma stop GROUP\n\nStop a running group cleanly: its "
				      "containers are shut down and the VM stops.\n",
				      1, 1, &code);
	if (first < 0)
		return code;
	struct group_paths p;
	struct errbuf eb = { 0 };
	if (group_find_running(argv[first], &p, &eb) < 0)
		return cli_error(argv[0], CLI_FAILED, "%s", errbuf_msg(&eb));
	pid_t pid = group_owner_pid(&p);
	if (kill(pid, SIGTERM) < 0)
		return cli_error(argv[0], CLI_FAILED, "cannot signal parma run (pid %d): %s", (int)pid,
				 strerror(errno));
	for (int i = 0; i < 300 && group_owner_pid(&p); i++)
		usleep(100000);
	if (group_owner_pid(&p))
		return cli_error(argv[0], CLI_FAILED, "group '%s' did not stop within 30 s (pid %d)",
				 argv[first], (int)pid);
	printf("stopped %s\n", argv[first]);
	return CLI_OK;
}

/* ---- attest ---- */

int group_cli_attest(int argc, char **argv)
{
	const char *report_data = NULL, *certs_out = NULL;
	const struct cli_opt opts[] = {
		CLI_STRING("report-data", 0, &report_data),
		CLI_STRING("certs-out", 0, &certs_out),
	};
	const struct cli_spec spec = {
		.usage = "Usage: parma attest GROUP [--report-data HEX] [--certs-out DIR] "
			 "> report.bin\n\n"
			 "Fetch a fresh SEV-SNP attestation report from the group's agent and "
			 "write its 1184 bytes to\nstandard output (refuses a terminal). "
			 "--report-data binds up to 64 bytes (hex) of your own;\n"
			 "--certs-out writes the chain that verifies it. Then: parma verify "
			 "report.bin --certs DIR ...\n",
		.opts = opts, .n_opts = CLI_ARRAY_SIZE(opts),
		.min_operands = 1, .max_operands = 1,
		.operands_error = "exactly one GROUP expected",
	};
	int rc, first = cli_start(argv[0], &spec, argc, argv, &rc);
	if (first < 0)
		return rc;
	const char *group = argv[first];
	uint8_t rd[64] = { 0 };
	size_t rd_len = 0;
	if (report_data && hex_decode_var(report_data, rd, sizeof(rd), &rd_len) < 0)
		return cli_usage_error(argv[0], "--report-data: expected at most 128 hex digits");
	if (isatty(STDOUT_FILENO))
		return cli_usage_error(argv[0], "the report is binary: redirect standard output "
					       "(parma attest %s > report.bin)", group);

	struct group_paths p;
	struct agent_client *c;
	struct errbuf eb = { 0 };
	int ret = connect_group(argv[0], group, &p, &c);
	if (ret)
		return ret;
	char hex[129];
	hex_encode(rd, sizeof(rd), hex);
	struct json_object *req = group_req_new("get_report"), *resp = NULL, *v, *certs;
	json_object_object_add(req, "report_data", json_object_new_string(hex));
	ret = agent_client_call(c, req, GROUP_CALL_TIMEOUT_MS, &resp, &eb);
	json_object_put(req);
	int code = CLI_FAILED;
	uint8_t report[1184];
	long n = -1;
	if (ret < 0) {
		cli_error(argv[0], CLI_FAILED, "get_report: %s", errbuf_msg(&eb));
		goto out;
	}
	if (json_object_object_get_ex(resp, "report", &v))
		n = base64_decode(json_object_get_string(v), report, sizeof(report));
	if (n != (long)sizeof(report)) {
		cli_error(argv[0], CLI_FAILED, "the agent's answer holds no 1184-byte report");
		goto out;
	}
	if (certs_out && json_object_object_get_ex(resp, "certs", &certs)) {
		if (mkdir_p(certs_out, 0755) < 0) {
			cli_error(argv[0], CLI_FAILED, "%s: cannot create", certs_out);
			goto out;
		}
		json_object_object_foreach(certs, key, pem)
		{
			char path[4096];
			if (strspn(key, "abcdefghijklmnopqrstuvwxyz") != strlen(key) || strlen(key) > 8)
				continue; /* names come from the guest: only plain ones */
			snprintf(path, sizeof(path), "%s/%s.pem", certs_out, key);
			const char *text = json_object_get_string(pem);
			file_write_atomic(path, text, strlen(text), 0644, NULL);
		}
	}
	if (write_full(STDOUT_FILENO, report, sizeof(report)) < 0) {
		cli_error(argv[0], CLI_FAILED, "writing the report: %s", strerror(errno));
		goto out;
	}
	if (json_object_object_get_ex(resp, "tee", &v) && strcmp(json_object_get_string(v), "snp"))
		fprintf(stderr, "%s: WARNING: tee '%s': this report is development-signed; verify "
			"it with --allow-dev and the chain in %s\n",
			argv[0], json_object_get_string(v), p.certs);
	code = CLI_OK;
out:
	json_object_put(resp);
	agent_client_close(c);
	return code;
}
