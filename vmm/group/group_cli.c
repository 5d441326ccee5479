/* `parma ps | exec | logs | stop | attest`: commands on a group that `parma run` owns.
 * They find it through its state directory (vmm/group/group_state.h) and are clients of the
 * group's API (vmm/group/group_api.h, docs/group-api.md), like any control plane: every
 * request that reaches the guest is still its policy engine's to decide. */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/cli.h"
#include "common/encoding.h"
#include "common/fileio.h"
#include "policy/lang/policy.h"
#include "policy/lang/policy_runenv.h"
#include "vmm/group/group_api.h"
#include "vmm/group/group_api_client.h"
#include "vmm/group/group_cli.h"
#include "vmm/group/group_request.h"
#include "vmm/group/group_state.h"

#define GROUP_CALL_TIMEOUT_MS 60000

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

/* The API socket of the running group `name`: where group.json says (--api-sock), else the
 * state directory's. */
static int api_of(const char *prog, const char *name, struct group_paths *p, char *sock,
		  size_t cap)
{
	struct errbuf eb = { 0 };
	if (group_find_running(name, p, &eb) < 0)
		return cli_error(prog, CLI_FAILED, "%s", errbuf_msg(&eb));
	struct json_object *info = load_json_file(p->info, NULL), *v;
	const char *path = info && json_object_object_get_ex(info, "api_sock", &v)
				   ? json_object_get_string(v)
				   : p->api_sock;
	snprintf(sock, cap, "%s", path);
	json_object_put(info);
	return 0;
}

/* Print an API error answer: a denial as `parma run` prints one (rule, field, expected,
 * got, and the command that replays it), anything else as its message. */
static int print_api_error(const char *prog, const char *what, unsigned status,
			   struct json_object *answer)
{
	struct json_object *e, *rep;
	if (status == 403 && json_object_object_get_ex(answer, "error", &e) &&
	    json_object_object_get_ex(e, "reason", NULL)) {
		fprintf(stderr, "%s: denied by the policy: %s\n", prog,
			group_api_error_message(answer));
		group_print_reason(stderr, answer);
		if (json_object_object_get_ex(e, "reproduce", &rep))
			fprintf(stderr, "  reproduce: %s\n", json_object_get_string(rep));
		return CLI_FAILED;
	}
	return cli_error(prog, CLI_FAILED, "%s: %s (HTTP %u)", what,
			 group_api_error_message(answer), status);
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
		/* the group's own answer (its API), not a file it may be rewriting */
		struct json_object *info = load_json_file(p.info, NULL), *cs, *v, *live = NULL;
		char sock[GROUP_PATH_MAX];
		unsigned status = 0;
		snprintf(sock, sizeof(sock), "%s",
			 info && json_object_object_get_ex(info, "api_sock", &v)
				 ? json_object_get_string(v)
				 : p.api_sock);
		json_object_put(info);
		if (group_api_call(sock, "GET", "/" GROUP_API_VERSION "/group", NULL, &status, &live,
				   NULL) < 0 ||
		    status != 200) {
			json_object_put(live);
			continue;
		}
		info = live;
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

/* Copy the exec stream's frames to our stdout/stderr until the exit frame; forward our stdin
 * when asked. Returns the command's exit code, or -1 (a message printed). */
static int exec_stream(const char *prog, struct group_api_reply *r, bool forward_stdin)
{
	static uint8_t in[8 + GROUP_API_FRAME_MAX];
	size_t len = group_api_take_upgraded(r, in, sizeof(in));
	bool stdin_open = forward_stdin;
	for (;;) {
		while (len >= 8) {
			uint32_t n = (uint32_t)in[4] << 24 | (uint32_t)in[5] << 16 |
				     (uint32_t)in[6] << 8 | in[7];
			if (n > GROUP_API_FRAME_MAX) {
				cli_error(prog, CLI_FAILED, "exec: a frame of %u bytes from the group", n);
				return -1;
			}
			if (len < 8 + n)
				break;
			if (in[0] == GROUP_API_FRAME_STDOUT || in[0] == GROUP_API_FRAME_STDERR) {
				FILE *out = in[0] == GROUP_API_FRAME_STDOUT ? stdout : stderr;
				fwrite(in + 8, 1, n, out);
				fflush(out);
			} else if (in[0] == GROUP_API_FRAME_EXIT) {
				struct json_tokener *tok = json_tokener_new();
				struct json_object *o = tok ? json_tokener_parse_ex(tok, (char *)in + 8,
										   (int)n) : NULL, *v;
				if (tok)
					json_tokener_free(tok);
				int code = -1;
				if (json_object_object_get_ex(o, "exit_code", &v))
					code = json_object_get_int(v);
				else
					cli_error(prog, CLI_FAILED, "exec: %s",
						  json_object_object_get_ex(o, "error", &v)
							  ? json_object_get_string(v)
							  : "the stream ended without an exit code");
				json_object_put(o);
				return code;
			}
			memmove(in, in + 8 + n, len - 8 - n);
			len -= 8 + n;
		}
		struct pollfd p[2] = { { r->fd, POLLIN, 0 }, { STDIN_FILENO, POLLIN, 0 } };
		if (poll(p, stdin_open ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (stdin_open && p[1].revents) {
			uint8_t buf[16384], h[8] = { GROUP_API_FRAME_STDIN };
			ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n <= 0)
				stdin_open = false;
			h[4] = (uint8_t)((n > 0 ? n : 0) >> 24);
			h[5] = (uint8_t)((n > 0 ? n : 0) >> 16);
			h[6] = (uint8_t)((n > 0 ? n : 0) >> 8);
			h[7] = (uint8_t)(n > 0 ? n : 0);
			if (write_full(r->fd, h, 8) < 0 || (n > 0 && write_full(r->fd, buf, (size_t)n) < 0))
				stdin_open = false;
		}
		if (p[0].revents) {
			ssize_t n = recv(r->fd, in + len, sizeof(in) - len, 0);
			if (n <= 0) {
				cli_error(prog, CLI_FAILED, "exec: the group closed the stream");
				return -1;
			}
			len += (size_t)n;
		}
	}
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
	char sock[GROUP_PATH_MAX], path[256];
	struct errbuf eb = { 0 };
	int ret = api_of(argv[0], operands[0], &p, sock, sizeof(sock));
	if (ret)
		return ret;
	struct json_object *body = json_object_new_object(), *cmdv = json_object_new_array();
	for (size_t i = 0; i < n_cmd; i++)
		json_object_array_add(cmdv, json_object_new_string(cmd[i]));
	json_object_object_add(body, "command", cmdv);
	json_object_object_add(body, "stdin", json_object_new_boolean(forward_stdin));
	snprintf(path, sizeof(path), "/%s/containers/%.64s/exec", GROUP_API_VERSION, operands[1]);
	struct group_api_reply r;
	ret = group_api_request(sock, "POST", path,
				json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN),
				"Connection: Upgrade\r\nUpgrade: parma-stdio\r\n", &r, &eb);
	json_object_put(body);
	if (ret < 0)
		return cli_error(argv[0], CLI_FAILED, "group '%s': %s", operands[0], errbuf_msg(&eb));
	int code = CLI_FAILED;
	if (r.status == 101) {
		code = exec_stream(argv[0], &r, forward_stdin);
		if (code < 0)
			code = CLI_FAILED;
	} else {
		struct json_object *answer = NULL;
		group_api_reply_json(&r, &answer, NULL);
		if (r.status == 404)
			cli_error(argv[0], CLI_FAILED, "group '%s' has no container '%s': %s",
				  operands[0], operands[1], group_api_error_message(answer));
		else
			print_api_error(argv[0], "exec", r.status, answer);
		json_object_put(answer);
	}
	group_api_reply_close(&r);
	return code;
}

/* ---- logs ---- */

struct log_stream {
	struct group_api_reply r;
	char name[65];
	bool at_line_start, open;
};

/* The output of one container (name) or of all, prefixed, from the group's API; -1 when the
 * API does not answer (the caller reads the files instead). */
static int logs_from_api(const char *prog, const struct group_paths *p, const char *name,
			 bool follow)
{
	struct json_object *info = load_json_file(p->info, NULL), *v, *group = NULL, *cs;
	char sock[GROUP_PATH_MAX], path[256];
	snprintf(sock, sizeof(sock), "%s",
		 info && json_object_object_get_ex(info, "api_sock", &v) ? json_object_get_string(v)
									   : p->api_sock);
	json_object_put(info);
	unsigned status = 0;
	if (group_api_call(sock, "GET", "/" GROUP_API_VERSION "/group", NULL, &status, &group,
			   NULL) < 0 ||
	    status != 200 || !json_object_object_get_ex(group, "containers", &cs)) {
		json_object_put(group);
		return -1;
	}
	struct log_stream st[64];
	size_t n = 0;
	for (size_t i = 0; i < json_object_array_length(cs) && n < 64; i++) {
		const char *c = json_object_get_string(
			json_object_object_get(json_object_array_get_idx(cs, i), "name"));
		if (!c || (name && strcmp(c, name)))
			continue;
		snprintf(path, sizeof(path), "/%s/containers/%.64s/logs%s", GROUP_API_VERSION, c,
			 follow ? "?follow=1" : "");
		if (group_api_request(sock, "GET", path, NULL, NULL, &st[n].r, NULL) < 0)
			continue;
		if (st[n].r.status != 200) {
			group_api_reply_close(&st[n].r);
			continue;
		}
		snprintf(st[n].name, sizeof(st[n].name), "%s", c);
		st[n].at_line_start = st[n].open = true;
		n++;
	}
	json_object_put(group);
	if (!n) {
		cli_error(prog, CLI_FAILED, "no logs for %s%s%s", p->dir, name ? "/" : "",
			  name ? name : "");
		return CLI_FAILED;
	}
	size_t open = n;
	while (open) {
		struct pollfd pf[64];
		for (size_t i = 0; i < n; i++)
			pf[i] = (struct pollfd){ st[i].open ? st[i].r.fd : -1, POLLIN, 0 };
		if (poll(pf, n, -1) < 0 && errno != EINTR)
			break;
		for (size_t i = 0; i < n; i++) {
			if (!st[i].open || !pf[i].revents)
				continue;
			uint8_t buf[16384];
			ssize_t got = group_api_read(&st[i].r, buf, sizeof(buf));
			if (got <= 0) {
				st[i].open = false;
				open--;
				continue;
			}
			for (ssize_t k = 0; k < got; k++) {
				if (!name && st[i].at_line_start)
					printf("%s | ", st[i].name);
				putchar(buf[k]);
				st[i].at_line_start = buf[k] == '\n';
			}
			fflush(stdout);
		}
	}
	for (size_t i = 0; i < n; i++)
		group_api_reply_close(&st[i].r);
	return CLI_OK;
}


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
	/* a running group answers through its API; a stopped one's logs stay in its files */
	if (group_owner_pid(&p)) {
		int code = logs_from_api(argv[0], &p, operands[1], follow);
		if (code >= 0)
			return code;
	}

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
	char sock[GROUP_PATH_MAX];
	struct json_object *answer = NULL;
	unsigned status = 0;
	int ret = api_of(argv[0], argv[first], &p, sock, sizeof(sock));
	if (ret)
		return ret;
	if (group_api_call(sock, "POST", "/" GROUP_API_VERSION "/stop", NULL, &status, &answer,
			   &eb) < 0) {
		json_object_put(answer);
		return cli_error(argv[0], CLI_FAILED, "group '%s': %s", argv[first], errbuf_msg(&eb));
	}
	if (status != 202) {
		ret = print_api_error(argv[0], "stop", status, answer);
		json_object_put(answer);
		return ret;
	}
	json_object_put(answer);
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
	char sock[GROUP_PATH_MAX];
	struct errbuf eb = { 0 };
	int ret = api_of(argv[0], group, &p, sock, sizeof(sock));
	if (ret)
		return ret;
	char hex[129];
	hex_encode(rd, sizeof(rd), hex);
	struct json_object *req = json_object_new_object(), *resp = NULL, *v, *certs;
	json_object_object_add(req, "report_data", json_object_new_string(hex));
	unsigned status = 0;
	ret = group_api_call(sock, "POST", "/" GROUP_API_VERSION "/attest", req, &status, &resp,
			     &eb);
	json_object_put(req);
	int code = CLI_FAILED;
	uint8_t report[1184];
	long n = -1;
	if (ret < 0) {
		cli_error(argv[0], CLI_FAILED, "attest: %s", errbuf_msg(&eb));
		goto out;
	}
	if (status != 200) {
		print_api_error(argv[0], "attest", status, resp);
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
	return code;
}
