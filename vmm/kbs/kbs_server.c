/* kbs_server: libmicrohttpd glue around kbs_broker_handle(). */
#include "vmm/kbs/kbs_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "vmm/kbs/kbs_protocol.h"

#if MHD_VERSION >= 0x00097002
typedef enum MHD_Result mhd_result;
#else
typedef int mhd_result;
#endif

bool kbs_server_tls_available(void)
{
	return MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES;
}

struct upload {
	uint8_t *data;
	size_t len;
	bool too_big;
};

static mhd_result on_request(void *cls, struct MHD_Connection *conn, const char *url,
			     const char *method, const char *version, const char *upload_data,
			     size_t *upload_size, void **con_cls)
{
	struct kbs_broker *b = cls;
	struct upload *up = *con_cls;
	(void)version;
	if (!up) {
		up = calloc(1, sizeof(*up));
		if (!up)
			return MHD_NO;
		*con_cls = up;
		return MHD_YES;
	}
	if (*upload_size) {
		if (up->len + *upload_size > KBS_BODY_MAX) {
			up->too_big = true;
		} else {
			uint8_t *p = realloc(up->data, up->len + *upload_size);
			if (!p)
				return MHD_NO;
			memcpy(p + up->len, upload_data, *upload_size);
			up->data = p;
			up->len += *upload_size;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	struct kbs_response resp;
	const char *cookie = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, KBS_COOKIE_NAME);
	kbs_broker_handle(b, method, url, cookie, up->data,
			  up->too_big ? KBS_BODY_MAX + 1 : up->len, &resp);
	const char *body = resp.body ? resp.body : "";
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	mhd_result ret = MHD_NO;
	if (r) {
		MHD_add_response_header(r, "Content-Type", "application/json");
		if (resp.set_cookie[0])
			MHD_add_response_header(r, "Set-Cookie", resp.set_cookie);
		ret = MHD_queue_response(conn, resp.status, r);
		MHD_destroy_response(r);
	}
	/* the body may be a JWE: ciphertext only, but do not leave it around */
	if (resp.body)
		memset(resp.body, 0, strlen(resp.body));
	kbs_response_clear(&resp);
	return ret;
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
		    enum MHD_RequestTerminationCode toe)
{
	struct upload *up = *con_cls;
	(void)cls;
	(void)conn;
	(void)toe;
	if (up) {
		free(up->data);
		free(up);
	}
	*con_cls = NULL;
}

int kbs_server_run(struct kbs_broker *b, const struct kbs_server_config *c,
		   volatile sig_atomic_t *stop, void (*ready)(void *ctx, uint16_t port),
		   void *ready_ctx, struct errbuf *eb)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	bool v6 = false, loopback;
	if (inet_pton(AF_INET, c->address, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(c->port);
		loopback = (ntohl(in4->sin_addr.s_addr) >> 24) == 127;
	} else if (inet_pton(AF_INET6, c->address, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(c->port);
		loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
		v6 = true;
	} else {
		return errbuf_set(eb, EINVAL, "listen: \"%s\" is not an IP address", c->address);
	}
	bool tls = c->tls_cert_pem && c->tls_key_pem;
	if (!tls && !loopback)
		return errbuf_set(
			eb, EPERM,
			"listen: plain HTTP is only served on loopback; configure tls.cert "
			"and tls.key to listen on %s",
			c->address);
	if (tls && !kbs_server_tls_available())
		return errbuf_set(eb, ENOTSUP, "TLS: this libmicrohttpd was built without TLS");
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
			 (v6 ? MHD_USE_IPv6 : 0) | (tls ? MHD_USE_TLS : 0);
	struct MHD_OptionItem tls_opts[] = {
		{MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)c->tls_cert_pem},
		{MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)c->tls_key_pem},
		{MHD_OPTION_END, 0, NULL},
	};
	struct MHD_Daemon *d = MHD_start_daemon(
		flags, c->port, NULL, NULL, on_request, b, MHD_OPTION_SOCK_ADDR, &ss,
		MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024, MHD_OPTION_ARRAY,
		tls ? tls_opts : tls_opts + 2, MHD_OPTION_END);
	if (!d)
		return errbuf_set(
			eb, EADDRNOTAVAIL,
			"cannot listen on %s port %u (in use, or a bad TLS key/certificate)",
			c->address, c->port);
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	uint16_t port = info ? info->port : c->port;
	if (ready)
		ready(ready_ctx, port);
	while (!*stop) {
		struct timespec ts = {0, 200 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	MHD_stop_daemon(d);
	return 0;
}
