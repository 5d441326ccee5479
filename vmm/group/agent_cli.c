/* `parma agent`: low-level client of a running parma-agent (see docs/agent.md). */
#include "vmm/group/agent_cli.h"

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/digest.h"
#include "common/encoding.h"
#include "common/errbuf.h"
#include "common/fileio.h"
#include "vmm/group/agent_client.h"
#include "guest/proto/proto.h"

static const char usage[] =
	"Usage: parma agent --sock PATH [OPTIONS] request JSON\n"
	"       parma agent --sock PATH [OPTIONS] install POLICY_FILE\n"
	"       parma agent --sock PATH [OPTIONS] attach PROCESS_ID\n"
	"\n"
	"  request JSON       send one request object, print the answer as JSON\n"
	"                     (exit 0 ok, 1 denied or failed)\n"
	"  install FILE       send install_policy with the exact bytes of FILE\n"
	"  attach PROCESS_ID  copy stdin to the process and its stdout/stderr here until both\n"
	"                     end, then print its exit status (exit code = the process's)\n"
	"\n"
	"  --sock PATH   the agent's socket (QEMU virtio-serial chardev, or the VMM's vsock\n"
	"                socket with --vsock)\n"
	"  --timeout MS  how long to wait for the socket and each answer (default 30000)\n"
	"  --dev-ca DIR  answer the agent's dev_report requests with the DEVELOPMENT signer\n"
	"                in DIR (created if missing): for guests without a TEE only\n"
	"  --host-data HEX  the HOST_DATA those dev reports carry (default: SHA-256 of the\n"
	"                POLICY_FILE of install)\n";

static void print_output(void *opaque, uint32_t process_id, int stream, const uint8_t *data,
			 size_t len, bool eof)
{
	int *open_streams = opaque;
	(void)process_id;
	if (eof) {
		(*open_streams)--;
		return;
	}
	if (write(stream == 2 ? STDERR_FILENO : STDOUT_FILENO, data, len) < 0)
		return;
}

static int cmd_request(const char *prog, struct agent_client *c, const char *json, int timeout)
{
	struct errbuf eb = { 0 };
	struct json_object *resp = NULL;
	int ret = agent_client_call_text(c, json, timeout, &resp, &eb);
	if (resp)
		printf("%s\n", json_object_to_json_string_ext(resp, JSON_C_TO_STRING_PRETTY |
								      JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(resp);
	if (ret == 0)
		return CLI_OK;
	if (ret == -EINVAL && !strcmp(eb.msg, "request is not a JSON object"))
		return cli_error(prog, CLI_BAD_INPUT, "%s", eb.msg);
	cli_error(prog, CLI_FAILED, "%s", errbuf_msg(&eb));
	return ret == -ETIMEDOUT || ret == -EPIPE ? CLI_INTERNAL : CLI_FAILED;
}

static int cmd_attach(const char *prog, struct agent_client *c, uint32_t pid, int timeout)
{
	struct errbuf eb = { 0 };
	int open_streams = 2, stdin_open = 1;
	struct agent_client_callbacks cbs = { .on_output = print_output, .opaque = &open_streams };
	char req[96];
	uint32_t wait_id;

	agent_client_set_callbacks(c, &cbs);
	snprintf(req, sizeof(req), "{\"type\":\"wait\",\"process_id\":%u}", pid);
	struct json_object *wreq = json_tokener_parse(req);
	int ret = agent_client_send(c, wreq, &wait_id, &eb);
	json_object_put(wreq);
	if (ret < 0)
		return cli_error(prog, CLI_INTERNAL, "%s", errbuf_msg(&eb));
	for (;;) {
		struct pollfd p[2] = { { .fd = agent_client_fd(c), .events = POLLIN },
				       { .fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN } };
		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents) {
			char buf[16384];
			ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n > 0)
				ret = agent_client_write_stdin(c, pid, buf, (size_t)n, timeout, &eb);
			else {
				stdin_open = 0;
				ret = agent_client_close_stdin(c, pid, &eb);
			}
			if (ret < 0)
				return cli_error(prog, CLI_INTERNAL, "%s", errbuf_msg(&eb));
		}
		if (p[0].revents) {
			ret = agent_client_pump(c, 0, &eb);
			if (ret < 0)
				return cli_error(prog, CLI_INTERNAL, "%s", errbuf_msg(&eb));
		}
		struct json_object *resp = NULL;
		ret = agent_client_wait(c, wait_id, 0, &resp, &eb);
		if (ret == -ETIMEDOUT)
			continue;
		if (ret < 0) {
			json_object_put(resp);
			return cli_error(prog, CLI_FAILED, "%s", errbuf_msg(&eb));
		}
		/* Drain output that raced with the exit notice. */
		while (open_streams > 0 && agent_client_pump(c, 200, NULL) == 0 && open_streams > 0)
			;
		struct json_object *v;
		int code = 0;
		if (json_object_object_get_ex(resp, "exit_code", &v))
			code = json_object_get_int(v);
		else if (json_object_object_get_ex(resp, "signal", &v))
			code = 128 + json_object_get_int(v);
		json_object_put(resp);
		return code;
	}
}

static int opt_timeout(const char *prog, char *value, void *dest)
{
	uint64_t v;
	if (cli_parse_uint(value, 0, 86400000, &v))
		return cli_usage_error(prog, "--timeout: expected milliseconds");
	*(int *)dest = (int)v;
	return 0;
}

int agent_cli_main(int argc, char **argv)
{
	const char *prog = argv[0], *sock = NULL, *dev_ca = NULL, *host_data_hex = NULL;
	enum agent_connect_mode mode = AGENT_CONNECT_SERIAL;
	bool vsock = false, help = false;
	int timeout = 30000;

	/* Options end at the command: what follows it is its argument, whatever it looks like. */
	const struct cli_opt opts[] = {
		CLI_STRING("sock", 's', &sock),
		CLI_FLAG("vsock", 0, &vsock),
		CLI_FUNC("timeout", 't', opt_timeout, &timeout),
		CLI_STRING("dev-ca", 0, &dev_ca),
		CLI_STRING("host-data", 0, &host_data_hex),
		CLI_FLAG("help", 'h', &help),
	};
	int first, rc = cli_parse_options(prog, opts, CLI_ARRAY_SIZE(opts), CLI_PARSE_IN_ORDER,
					  argc, argv, &first);
	if (rc)
		return rc;
	if (help) {
		fputs(usage, stdout);
		return CLI_OK;
	}
	if (vsock)
		mode = AGENT_CONNECT_VSOCK_UDS;
	if (!sock)
		return cli_usage_error(prog, "--sock PATH is required");
	if (first + 2 != argc)
		return cli_usage_error(prog, "expected 'request JSON' or 'attach PROCESS_ID'");
	const char *cmd = argv[first], *arg = argv[first + 1];
	if (strcmp(cmd, "request") && strcmp(cmd, "attach") && strcmp(cmd, "install"))
		return cli_usage_error(prog, "unknown command '%s'", cmd);

	struct errbuf eb = { 0 };
	uint8_t *policy = NULL;
	size_t policy_len = 0;
	uint8_t host_data[32];
	if (!strcmp(cmd, "install") &&
	    file_read_all(arg, PROTO_JSON_MAX / 4 * 3, &policy, &policy_len, &eb) < 0)
		return cli_error(prog, CLI_BAD_INPUT, "%s", errbuf_msg(&eb));
	if (host_data_hex && hex_decode(host_data_hex, host_data, 32) < 0) {
		free(policy);
		return cli_usage_error(prog, "--host-data: expected 64 hex digits");
	}
	if (!host_data_hex && policy)
		digest_sha256(policy, policy_len, host_data);
	if (dev_ca && !host_data_hex && !policy)
		return cli_usage_error(prog, "--dev-ca needs --host-data HEX (or install FILE)");

	struct agent_client *c;
	if (agent_client_connect(sock, mode, timeout, &c, &eb) < 0) {
		free(policy);
		return cli_error(prog, CLI_UNAVAILABLE, "%s", errbuf_msg(&eb));
	}
	if (dev_ca && agent_client_use_dev_signer(c, dev_ca, host_data, NULL, &eb) < 0) {
		free(policy);
		agent_client_close(c);
		return cli_error(prog, CLI_UNAVAILABLE, "--dev-ca: %s", errbuf_msg(&eb));
	}
	int ret;
	if (!strcmp(cmd, "install")) {
		char *b64 = malloc(base64_encoded_len(policy_len));
		struct json_object *req = json_object_new_object();
		if (!b64 || !req) {
			ret = cli_error(prog, CLI_INTERNAL, "out of memory");
		} else {
			base64_encode(policy, policy_len, b64);
			json_object_object_add(req, "type", json_object_new_string("install_policy"));
			json_object_object_add(req, "policy_base64", json_object_new_string(b64));
			ret = cmd_request(prog, c, json_object_to_json_string(req), timeout);
		}
		json_object_put(req);
		free(b64);
	} else if (!strcmp(cmd, "request")) {
		ret = cmd_request(prog, c, arg, timeout);
	} else {
		char *end;
		unsigned long pid = strtoul(arg, &end, 10);
		if (*end || !*arg || pid > UINT32_MAX)
			ret = cli_usage_error(prog, "PROCESS_ID: expected a number");
		else
			ret = cmd_attach(prog, c, (uint32_t)pid, timeout);
	}
	agent_client_close(c);
	free(policy);
	return ret;
}
