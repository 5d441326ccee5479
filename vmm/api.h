/* api: the control API — HTTP/1.1 + JSON on a Unix socket (libmicrohttpd, json-c),
 * shaped like Firecracker's. Served from the VMM's event loop thread.
 *
 *   GET  /                    status: {"state": "configuring|running|exited", ...}
 *   PUT  /machine-config      {"vcpu_count": n, "mem_size_mib": n, "hugepages": bool}
 *   PUT  /boot-source         {"kernel_image_path": p, "initrd_path": p, "boot_args": s,
 *                              "firmware_path": p}
 *   PUT  /drives/{id}         {"drive_id": id, "path_on_host": p, "is_read_only": bool}
 *   PUT  /vsock               {"guest_cid": n, "uds_path": p}
 *   PUT  /serial              {"output": "stdout|none|file:PATH|unix:PATH"}
 *   PUT  /actions             {"action_type": "InstanceStart" | "SendCtrlAltDel" | "Stop"}
 * Errors: 4xx with {"fault_message": "..."} naming the field; never a crash.
 * Full reference: docs/api.md. */
#ifndef PARMA_VMM_API_H
#define PARMA_VMM_API_H

#include "common/errbuf.h"

/* Bounds on what a local client can make the VMM hold: bigger bodies get 413, connections
 * beyond the limit are closed at once, idle ones after the timeout. */
#define API_MAX_BODY (64 * 1024)
#define API_MAX_CONNECTIONS 32
#define API_CONNECTION_TIMEOUT_S 30

struct event_loop;
struct vm;
struct vm_config;
struct api_server;

struct api_options {
	const char *socket_path;
	struct event_loop *loop;
	const struct vm_config *defaults; /* starting configuration (copied), may be NULL */
};

int api_server_create(const struct api_options *o, struct api_server **out, struct errbuf *eb);
/* Tell the server about a VM started outside it (e.g. from the command line). */
void api_server_attach(struct api_server *s, struct vm *vm);
/* Hand over the VM the API started (NULL if none); the caller destroys it. */
struct vm *api_server_take_vm(struct api_server *s);
void api_server_destroy(struct api_server *s);

#endif
