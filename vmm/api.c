/* api: control API server (libmicrohttpd driven by our event loop, json-c bodies). */
#include "vmm/api.h"

#include <errno.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/event_loop.h"
#include "vmm/http_json.h"
#include "vmm/vm.h"

#define API_MAX_DRIVES VM_MAX_DRIVES
#define API_MAX_STRING 4096
#define API_TICK_NS 1000000000ull

enum api_state { API_CONFIGURING, API_RUNNING, API_EXITED };

struct api_drive {
	char *id, *path;
	bool read_only;
};

struct api_server {
	struct MHD_Daemon *d;
	struct event_loop *loop;
	int listen_fd, epoll_fd, tick_id;
	char *path;
	struct vm_config cfg;
	/* Owned copies of the strings cfg points at. */
	char *kernel, *initrd, *cmdline, *firmware, *serial;
	struct api_drive drive[API_MAX_DRIVES];
	unsigned n_drives;
	char *vsock_uds;
	uint32_t vsock_cid;
	struct vm *vm;
	bool vm_owned; /* started through the API: we hand it over in take_vm */
};

/* ---- responses ---- */

static enum MHD_Result respond_json(struct MHD_Connection *c, unsigned status,
				    struct json_object *o)
{
	return (enum MHD_Result)http_respond_json(c, status, o);
}

static enum MHD_Result fault(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum MHD_Result fault(struct MHD_Connection *c, unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "fault_message", json_object_new_string(msg));
	return respond_json(c, status, o);
}

/* ---- field helpers: each names the field at fault ---- */

#define field http_field

static const char *check_fields(struct json_object *o, const struct field *f, size_t n,
				char *buf, size_t cap)
{
	return http_check_fields(o, f, n, API_MAX_STRING, buf, cap);
}

static const char *get_str(struct json_object *o, const char *k)
{
	struct json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

static bool get_int(struct json_object *o, const char *k, int64_t *out)
{
	struct json_object *v;
	if (!json_object_object_get_ex(o, k, &v))
		return false;
	*out = json_object_get_int64(v);
	return true;
}

static void replace(char **dst, const char *src)
{
	free(*dst);
	*dst = src ? strdup(src) : NULL;
}

/* ---- handlers ---- */

static enum MHD_Result get_status(struct api_server *s, struct MHD_Connection *c)
{
	struct json_object *o = json_object_new_object();
	int code = s->vm ? machine_exit_code(vm_machine(s->vm)) : -1;
	const char *state = !s->vm ? "configuring" : code < 0 ? "running" : "exited";
	json_object_object_add(o, "state", json_object_new_string(state));
	if (code >= 0) {
		json_object_object_add(o, "exit_code", json_object_new_int(code));
		json_object_object_add(o, "exit_reason", json_object_new_string(machine_exit_name(code)));
	}
	json_object_object_add(o, "vcpu_count", json_object_new_int((int)(s->cfg.vcpus ? s->cfg.vcpus : 1)));
	json_object_object_add(o, "mem_size_mib", json_object_new_int64((int64_t)(s->cfg.mem_mib ? s->cfg.mem_mib : VM_DEFAULT_MEM_MIB)));
	if (s->kernel)
		json_object_object_add(o, "kernel_image_path", json_object_new_string(s->kernel));
	if (s->firmware)
		json_object_object_add(o, "firmware_path", json_object_new_string(s->firmware));
	json_object_object_add(o, "drives", json_object_new_int((int)s->n_drives));
	return respond_json(c, 200, o);
}

static enum MHD_Result put_machine(struct api_server *s, struct MHD_Connection *c,
				   struct json_object *o)
{
	static const struct field f[] = { { "vcpu_count", json_type_int },
					  { "mem_size_mib", json_type_int },
					  { "hugepages", json_type_boolean },
					  { "smt", json_type_boolean } };
	char buf[256];
	const char *err = check_fields(o, f, 4, buf, sizeof(buf));
	if (err)
		return fault(c, 400, "%s", err);
	int64_t v;
	if (get_int(o, "vcpu_count", &v)) {
		if (v < 1 || v > MACHINE_MAX_VCPUS)
			return fault(c, 400, "vcpu_count: must be 1..%d", MACHINE_MAX_VCPUS);
		s->cfg.vcpus = (unsigned)v;
	}
	if (get_int(o, "mem_size_mib", &v)) {
		if (v < 4 || v > (int64_t)(MACHINE_MAX_MEM >> 20) || v % 2)
			return fault(c, 400, "mem_size_mib: must be an even number from 4 to %llu",
				     (unsigned long long)(MACHINE_MAX_MEM >> 20));
		s->cfg.mem_mib = (uint64_t)v;
	}
	struct json_object *h;
	if (json_object_object_get_ex(o, "hugepages", &h))
		s->cfg.hugepages = json_object_get_boolean(h);
	return respond_json(c, 204, NULL);
}

static enum MHD_Result put_boot(struct api_server *s, struct MHD_Connection *c,
				struct json_object *o)
{
	static const struct field f[] = { { "kernel_image_path", json_type_string },
					  { "initrd_path", json_type_string },
					  { "boot_args", json_type_string },
					  { "firmware_path", json_type_string } };
	char buf[256];
	const char *err = check_fields(o, f, 4, buf, sizeof(buf));
	if (err)
		return fault(c, 400, "%s", err);
	const char *k = get_str(o, "kernel_image_path"), *fw = get_str(o, "firmware_path");
	if (!k && !fw)
		return fault(c, 400, "kernel_image_path: required (or firmware_path)");
	const char *args = get_str(o, "boot_args");
	if (args && strlen(args) > VM_MAX_CMDLINE)
		return fault(c, 400, "boot_args: longer than %d bytes", VM_MAX_CMDLINE);
	replace(&s->kernel, k);
	replace(&s->initrd, get_str(o, "initrd_path"));
	replace(&s->cmdline, args);
	replace(&s->firmware, fw);
	return respond_json(c, 204, NULL);
}

static enum MHD_Result put_drive(struct api_server *s, struct MHD_Connection *c, const char *id,
				 struct json_object *o)
{
	static const struct field f[] = { { "drive_id", json_type_string },
					  { "path_on_host", json_type_string },
					  { "is_read_only", json_type_boolean },
					  { "is_root_device", json_type_boolean } };
	char buf[256];
	const char *err = check_fields(o, f, 4, buf, sizeof(buf));
	if (err)
		return fault(c, 400, "%s", err);
	const char *did = get_str(o, "drive_id"), *path = get_str(o, "path_on_host");
	if (!did || strcmp(did, id))
		return fault(c, 400, "drive_id: must equal the id in the URL (%s)", id);
	if (!path)
		return fault(c, 400, "path_on_host: required");
	if (!*id || strlen(id) > 64)
		return fault(c, 400, "drive id: 1 to 64 characters");
	struct json_object *ro;
	bool read_only = json_object_object_get_ex(o, "is_read_only", &ro) &&
			 json_object_get_boolean(ro);
	unsigned i;
	for (i = 0; i < s->n_drives; i++)
		if (!strcmp(s->drive[i].id, id))
			break;
	if (i == s->n_drives) {
		if (s->n_drives == API_MAX_DRIVES)
			return fault(c, 400, "drives: at most %d", API_MAX_DRIVES);
		s->drive[s->n_drives++] = (struct api_drive){ strdup(id), NULL, false };
	}
	replace(&s->drive[i].path, path);
	s->drive[i].read_only = read_only;
	return respond_json(c, 204, NULL);
}

static enum MHD_Result put_vsock(struct api_server *s, struct MHD_Connection *c,
				 struct json_object *o)
{
	static const struct field f[] = { { "guest_cid", json_type_int },
					  { "uds_path", json_type_string },
					  { "vsock_id", json_type_string } };
	char buf[256];
	const char *err = check_fields(o, f, 3, buf, sizeof(buf));
	if (err)
		return fault(c, 400, "%s", err);
	int64_t cid;
	if (!get_int(o, "guest_cid", &cid) || cid < 3 || cid > UINT32_MAX)
		return fault(c, 400, "guest_cid: required, 3 or more");
	const char *uds = get_str(o, "uds_path");
	if (!uds || !*uds || strlen(uds) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return fault(c, 400, "uds_path: required, a Unix socket path");
	replace(&s->vsock_uds, uds);
	s->vsock_cid = (uint32_t)cid;
	return respond_json(c, 204, NULL);
}

static enum MHD_Result put_serial(struct api_server *s, struct MHD_Connection *c,
				  struct json_object *o)
{
	static const struct field f[] = { { "output", json_type_string } };
	char buf[256];
	const char *err = check_fields(o, f, 1, buf, sizeof(buf));
	if (err)
		return fault(c, 400, "%s", err);
	const char *out = get_str(o, "output");
	if (!out || (strcmp(out, "stdout") && strcmp(out, "none") && strncmp(out, "file:", 5) &&
		     strncmp(out, "unix:", 5)))
		return fault(c, 400, "output: expected stdout, none, file:PATH or unix:PATH");
	replace(&s->serial, out);
	return respond_json(c, 204, NULL);
}

static enum MHD_Result start(struct api_server *s, struct MHD_Connection *c)
{
	if (s->vm)
		return fault(c, 409, "action_type: the VM was already started");
	if (!s->kernel && !s->firmware)
		return fault(c, 400, "boot-source: not configured (PUT /boot-source first)");
	struct vm_drive drives[API_MAX_DRIVES];
	for (unsigned i = 0; i < s->n_drives; i++)
		drives[i] = (struct vm_drive){ .path = s->drive[i].path,
					     .read_only = s->drive[i].read_only };
	s->cfg.drives = drives;
	s->cfg.n_drives = s->n_drives;
	s->cfg.kernel = s->kernel;
	s->cfg.initrd = s->initrd;
	s->cfg.cmdline = s->cmdline;
	s->cfg.firmware = s->firmware;
	s->cfg.serial = s->serial;
	s->cfg.vsock_uds = s->vsock_uds;
	s->cfg.vsock_cid = s->vsock_cid;
	struct errbuf eb = { 0 };
	struct vm *vm;
	int rc = vm_create(&s->cfg, s->loop, &vm, &eb);
	s->cfg.drives = NULL; /* pointed at this stack frame */
	if (rc < 0)
		return fault(c, 400, "%s", errbuf_msg(&eb));
	if (vm_start(vm, &eb) < 0) {
		vm_destroy(vm);
		return fault(c, 500, "%s", errbuf_msg(&eb));
	}
	s->vm = vm;
	s->vm_owned = true;
	return respond_json(c, 204, NULL);
}

static enum MHD_Result put_actions(struct api_server *s, struct MHD_Connection *c,
				   struct json_object *o)
{
	static const struct field f[] = { { "action_type", json_type_string } };
	char buf[256];
	const char *err = check_fields(o, f, 1, buf, sizeof(buf));
	if (err)
		return fault(c, 400, "%s", err);
	const char *a = get_str(o, "action_type");
	if (!a)
		return fault(c, 400, "action_type: required");
	if (!strcmp(a, "InstanceStart"))
		return start(s, c);
	if (!strcmp(a, "Stop")) {
		if (!s->vm) {
			/* Nothing to stop: end the VMM (the caller asked us to go away). */
			event_loop_stop(s->loop, MACHINE_EXIT_STOPPED);
			return respond_json(c, 204, NULL);
		}
		machine_request_exit(vm_machine(s->vm), MACHINE_EXIT_STOPPED);
		return respond_json(c, 204, NULL);
	}
	return fault(c, 400, "action_type: unknown action '%.64s' (InstanceStart, Stop)", a);
}

static enum MHD_Result route(struct api_server *s, struct MHD_Connection *c, const char *url,
			     const char *method, struct http_request *rq)
{
	if (rq->body.too_large)
		return fault(c, 413, "body: larger than %d bytes", API_MAX_BODY);
	if (!strcmp(url, "/") || !strcmp(url, "/status")) {
		if (strcmp(method, "GET"))
			return fault(c, 405, "%s %s: only GET", method, url);
		return get_status(s, c);
	}
	if (strcmp(method, "PUT") && strcmp(method, "PATCH"))
		return fault(c, 405, "%s %s: only PUT", method, url);
	bool configuring = !s->vm;
	char err[256];
	struct json_object *o = http_body_json(&rq->body, err, sizeof(err));
	if (!o)
		return fault(c, 400, "%s", err);
	enum MHD_Result ret;
	if (!strcmp(url, "/actions"))
		ret = put_actions(s, c, o);
	else if (!configuring)
		ret = fault(c, 409, "%s: the VM is already running", url);
	else if (!strcmp(url, "/machine-config"))
		ret = put_machine(s, c, o);
	else if (!strcmp(url, "/boot-source"))
		ret = put_boot(s, c, o);
	else if (!strncmp(url, "/drives/", 8))
		ret = put_drive(s, c, url + 8, o);
	else if (!strcmp(url, "/vsock"))
		ret = put_vsock(s, c, o);
	else if (!strcmp(url, "/serial"))
		ret = put_serial(s, c, o);
	else
		ret = fault(c, 404, "%s: no such resource", url);
	json_object_put(o);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct api_server *s = cls;
	(void)version;
	struct http_request *rq = NULL;
	switch (http_request_receive(c, con_cls, upload, upload_size, API_MAX_BODY, &rq)) {
	case HTTP_RECEIVE_AGAIN:
		return MHD_YES;
	case HTTP_RECEIVE_FAILED:
		return MHD_NO;
	case HTTP_RECEIVE_FORBIDDEN:
		return fault(c, 403, "refused: this VMM belongs to another user");
	case HTTP_RECEIVE_COMPLETE:
		break;
	}
	return route(s, c, url, method, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	http_request_free(con_cls);
}

static void mhd_ready(void *ctx, uint32_t events)
{
	struct api_server *s = ctx;
	(void)events;
	MHD_run(s->d);
}

int api_server_create(const struct api_options *o, struct api_server **out, struct errbuf *eb)
{
	*out = NULL;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (!o->socket_path || strlen(o->socket_path) >= sizeof(sa.sun_path))
		return errbuf_set(eb, ENAMETOOLONG, "--api-sock: socket path missing or too long");
	struct api_server *s = calloc(1, sizeof(*s));
	if (!s)
		return errbuf_set(eb, ENOMEM, "out of memory");
	s->loop = o->loop;
	s->listen_fd = -1;
	s->tick_id = -1;
	if (o->defaults) {
		s->cfg = *o->defaults;
		s->cfg.kernel = s->cfg.initrd = s->cfg.cmdline = s->cfg.firmware = NULL;
		s->cfg.serial = NULL;
		replace(&s->serial, o->defaults->serial);
	}
	int rc;
	strcpy(sa.sun_path, o->socket_path);
	s->listen_fd = http_unix_listen(o->socket_path, "--api-sock", eb);
	if (s->listen_fd < 0) {
		rc = s->listen_fd;
		goto fail;
	}
	s->path = strdup(sa.sun_path);
	s->d = MHD_start_daemon(MHD_USE_EPOLL, 0, NULL, NULL,
				on_request, s, MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_CONNECTION_TIMEOUT_S,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)API_MAX_CONNECTIONS,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024),
				MHD_OPTION_END);
	if (!s->d) {
		rc = errbuf_set(eb, EIO, "control API: libmicrohttpd failed to start");
		goto fail;
	}
	s->listen_fd = -1; /* libmicrohttpd owns (and closes) it now */
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info) {
		rc = errbuf_set(eb, EIO, "control API: libmicrohttpd has no epoll fd");
		goto fail;
	}
	s->epoll_fd = info->epoll_fd;
	if ((rc = event_loop_add_fd(s->loop, s->epoll_fd, POLLIN, mhd_ready, s)) < 0) {
		errbuf_set(eb, -rc, "control API: cannot watch its sockets");
		goto fail;
	}
	/* libmicrohttpd also needs a periodic turn to expire idle connections. */
	s->tick_id = event_loop_add_timer(s->loop, API_TICK_NS, true, mhd_ready, s);
	if (s->tick_id < 0) {
		rc = errbuf_set(eb, -s->tick_id, "control API: timer");
		goto fail;
	}
	*out = s;
	return 0;
fail:
	api_server_destroy(s);
	return rc;
}

void api_server_attach(struct api_server *s, struct vm *vm)
{
	if (s && !s->vm) {
		s->vm = vm;
		s->vm_owned = false;
	}
}

struct vm *api_server_take_vm(struct api_server *s)
{
	if (!s || !s->vm_owned)
		return NULL;
	struct vm *vm = s->vm;
	s->vm_owned = false;
	return vm;
}

void api_server_destroy(struct api_server *s)
{
	if (!s)
		return;
	if (s->tick_id > 0)
		event_loop_cancel_timer(s->loop, s->tick_id);
	if (s->d) {
		event_loop_remove_fd(s->loop, s->epoll_fd);
		MHD_stop_daemon(s->d);
	}
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->path) {
		unlink(s->path);
		free(s->path);
	}
	if (s->vm_owned)
		vm_destroy(s->vm);
	for (unsigned i = 0; i < s->n_drives; i++) {
		free(s->drive[i].id);
		free(s->drive[i].path);
	}
	free(s->kernel);
	free(s->initrd);
	free(s->cmdline);
	free(s->firmware);
	free(s->serial);
	free(s->vsock_uds);
	free(s);
}
