#include "vmm/group/group_relay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "guest/proto/proto.h"

#define RELAY_MAX_CLIENTS GROUP_RELAY_MAX_CLIENTS
#define RELAY_MAX_PENDING 1024
#define RELAY_MAX_PROCS 4096
/* A client that lets this much output pile up is not reading: it is disconnected. The agent's
 * own queue is bounded the same way by not reading clients while it is full. */
#define RELAY_OUT_MAX (8u << 20)

struct relay_conn {
	int fd; /* -1: unused slot */
	struct proto_decoder dec;
	uint8_t *out;
	size_t out_len, out_cap;
};

struct relay_pending {
	bool used;
	uint32_t relay_id;  /* the id the agent sees */
	int client;         /* slot of the client that sent it */
	uint32_t client_id; /* the id that client chose */
};

struct relay_proc {
	uint32_t process_id;
	int client;
};

struct group_relay {
	pthread_t thread;
	int stop_fd;
	int listen_fd;
	char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct relay_conn agent;
	struct relay_conn client[RELAY_MAX_CLIENTS];
	int owner; /* slot of the first client (the group's `parma run`), -1 once it left */
	bool had_owner;
	struct relay_pending pending[RELAY_MAX_PENDING];
	uint32_t next_id;
	struct relay_proc proc[RELAY_MAX_PROCS];
	size_t n_procs;
	atomic_int agent_gone;
	struct json_object *env; /* run-time values {"container": {"NAME": "VALUE"}}, or NULL */
	uid_t owner_uid; /* who may connect (and root) */
};

static void conn_init(struct relay_conn *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	proto_decoder_init(&c->dec);
}

static void conn_close(struct relay_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	proto_decoder_destroy(&c->dec);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Queue bytes and write what the socket takes now. Returns -ENOBUFS past RELAY_OUT_MAX. */
static int conn_send(struct relay_conn *c, const uint8_t *data, size_t len)
{
	if (c->fd < 0)
		return -EPIPE;
	if (c->out_len == 0) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (n > 0) {
			data += n;
			len -= (size_t)n;
		}
	}
	if (!len)
		return 0;
	if (c->out_len + len > RELAY_OUT_MAX)
		return -ENOBUFS;
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 65536;
		while (cap < c->out_len + len)
			cap *= 2;
		uint8_t *p = realloc(c->out, cap);
		if (!p)
			return -ENOMEM;
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	return 0;
}

static int conn_flush(struct relay_conn *c)
{
	while (c->out_len) {
		ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -errno;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	return 0;
}

static int send_frame(struct relay_conn *c, uint8_t type, uint16_t flags, uint32_t id,
		      const void *body, uint32_t length)
{
	uint8_t *buf;
	size_t len;
	int ret = proto_frame_encode(type, flags, id, body, length, &buf, &len);
	if (ret < 0)
		return ret;
	ret = conn_send(c, buf, len);
	free(buf);
	return ret;
}

static void send_error(struct relay_conn *c, uint32_t id, const char *code, const char *message)
{
	struct json_object *err = json_object_new_object(), *obj = json_object_new_object();
	json_object_object_add(err, "code", json_object_new_string(code));
	json_object_object_add(err, "message", json_object_new_string(message));
	json_object_object_add(obj, "error", err);
	uint8_t *buf;
	size_t len;
	if (proto_json_frame(PROTO_ERROR, id, obj, &buf, &len) == 0) {
		conn_send(c, buf, len);
		free(buf);
	}
	json_object_put(obj);
}

static void drop_client(struct group_relay *r, int slot)
{
	for (size_t i = 0; i < RELAY_MAX_PENDING; i++)
		if (r->pending[i].used && r->pending[i].client == slot)
			r->pending[i].client = -1; /* its answer is dropped when it comes */
	for (size_t i = 0; i < r->n_procs; i++)
		if (r->proc[i].client == slot)
			r->proc[i].client = -1;
	if (r->owner == slot)
		r->owner = -1;
	conn_close(&r->client[slot]);
}

static int proc_owner(const struct group_relay *r, uint32_t process_id)
{
	for (size_t i = 0; i < r->n_procs; i++)
		if (r->proc[i].process_id == process_id)
			return r->proc[i].client;
	return -1;
}

static void proc_record(struct group_relay *r, uint32_t process_id, int client)
{
	for (size_t i = 0; i < r->n_procs; i++) {
		if (r->proc[i].process_id == process_id) {
			r->proc[i].client = client;
			return;
		}
	}
	if (r->n_procs == RELAY_MAX_PROCS) { /* forget the oldest */
		memmove(r->proc, r->proc + 1, sizeof(r->proc[0]) * (RELAY_MAX_PROCS - 1));
		r->n_procs--;
	}
	r->proc[r->n_procs++] = (struct relay_proc){ process_id, client };
}

/* A client's request: give it a relay id the agent has not seen in flight and forward it. */
static void client_request(struct group_relay *r, int slot, const struct proto_frame *f)
{
	struct relay_pending *p = NULL;
	for (size_t i = 0; i < RELAY_MAX_PENDING && !p; i++)
		if (!r->pending[i].used)
			p = &r->pending[i];
	if (!p) {
		send_error(&r->client[slot], f->id, PROTO_ERR_BUSY, "too many requests in flight");
		return;
	}
	if (++r->next_id == 0)
		r->next_id = 1;
	*p = (struct relay_pending){ true, r->next_id, slot, f->id };
	if (send_frame(&r->agent, f->type, f->flags, p->relay_id, f->body, f->length) < 0) {
		p->used = false;
		send_error(&r->client[slot], f->id, PROTO_ERR_BUSY, "agent stream is not writable");
	}
}

/* "group_env" is answered here, never forwarded: the run-time values of one container, so
 * `parma exec` sends what `parma run` sent without the values being written on the host.
 * Whoever can open the socket (mode 0600) controls the group anyway. True if answered. */
static bool local_request(struct group_relay *r, int slot, const struct proto_frame *f)
{
	struct proto_frame copy = *f;
	struct json_object *req = NULL, *t, *id, *vars;
	bool mine = false;
	if (f->length > 4096 || proto_json_parse(&copy, &req, NULL) < 0)
		return false;
	if (json_object_object_get_ex(req, "type", &t) &&
	    !strcmp(json_object_get_string(t), "group_env")) {
		mine = true;
		struct json_object *resp = json_object_new_object(), *env = json_object_new_object();
		if (json_object_object_get_ex(req, "container_id", &id) && r->env &&
		    json_object_object_get_ex(r->env, json_object_get_string(id), &vars)) {
			json_object_object_foreach(vars, name, value)
				json_object_object_add(
					env, name,
					json_object_new_string(json_object_get_string(value)));
		}
		json_object_object_add(resp, "ok", json_object_new_boolean(1));
		json_object_object_add(resp, "env", env);
		uint8_t *buf;
		size_t len;
		if (proto_json_frame(PROTO_RESPONSE, f->id, resp, &buf, &len) == 0) {
			conn_send(&r->client[slot], buf, len);
			explicit_bzero(buf, len);
			free(buf);
		}
		json_object_put(resp);
	}
	json_object_put(req);
	return mine;
}

static void client_frame(struct group_relay *r, int slot, const struct proto_frame *f)
{
	switch (f->type) {
	case PROTO_REQUEST:
		if (!local_request(r, slot, f))
			client_request(r, slot, f);
		break;
	case PROTO_RESPONSE:
	case PROTO_ERROR:
		/* An answer to a request the agent sent to the host: only the owner answers. */
		if (slot == r->owner)
			send_frame(&r->agent, f->type, f->flags, f->id, f->body, f->length);
		break;
	case PROTO_STREAM:
	case PROTO_EOF:
		/* stdin of a process: only the client that started it may write to it. */
		if (proc_owner(r, f->id) == slot)
			send_frame(&r->agent, f->type, f->flags, f->id, f->body, f->length);
		break;
	default:
		break;
	}
}

static void agent_answer(struct group_relay *r, const struct proto_frame *f)
{
	struct relay_pending *p = NULL;
	for (size_t i = 0; i < RELAY_MAX_PENDING && !p; i++)
		if (r->pending[i].used && r->pending[i].relay_id == f->id)
			p = &r->pending[i];
	if (!p)
		return;
	int slot = p->client;
	uint32_t client_id = p->client_id;
	p->used = false;
	if (slot < 0)
		return;
	if (f->type == PROTO_RESPONSE) {
		struct proto_frame copy = *f;
		struct json_object *obj = NULL, *pid;
		if (proto_json_parse(&copy, &obj, NULL) == 0 &&
		    json_object_object_get_ex(obj, "process_id", &pid) &&
		    json_object_is_type(pid, json_type_int))
			proc_record(r, (uint32_t)json_object_get_int64(pid), slot);
		json_object_put(obj);
	}
	if (send_frame(&r->client[slot], f->type, f->flags, client_id, f->body, f->length) < 0)
		drop_client(r, slot);
}

static void agent_frame(struct group_relay *r, const struct proto_frame *f)
{
	int slot;
	switch (f->type) {
	case PROTO_RESPONSE:
	case PROTO_ERROR:
		agent_answer(r, f);
		break;
	case PROTO_REQUEST: /* dev-mode report requests go to the group's owner */
		if (r->owner >= 0)
			send_frame(&r->client[r->owner], f->type, f->flags, f->id, f->body, f->length);
		else
			send_error(&r->agent, f->id, PROTO_ERR_FAILED, "no host client answers requests");
		break;
	case PROTO_STREAM:
	case PROTO_EOF:
	case PROTO_CREDIT:
		slot = proc_owner(r, f->id);
		if (slot >= 0 &&
		    send_frame(&r->client[slot], f->type, f->flags, f->id, f->body, f->length) < 0)
			drop_client(r, slot);
		break;
	default:
		break;
	}
}

/* Read what is there and handle every complete frame. Returns -EPIPE on EOF. */
static int conn_read(struct group_relay *r, struct relay_conn *c, int slot)
{
	uint8_t *area;
	size_t avail;
	int ret = proto_decoder_space(&c->dec, 65536, &area, &avail);
	if (ret < 0)
		return ret;
	ssize_t n = recv(c->fd, area, avail, MSG_DONTWAIT);
	if (n == 0)
		return -EPIPE;
	if (n < 0)
		return (errno == EAGAIN || errno == EINTR) ? 0 : -errno;
	proto_decoder_commit(&c->dec, (size_t)n);

	for (;;) {
		struct proto_frame f;
		struct proto_fault fault;
		enum proto_decode_status st = proto_decoder_next(&c->dec, &f, &fault);
		if (st == PROTO_NEED_MORE)
			break;
		if (st == PROTO_FAULT) {
			if (slot >= 0 && fault.has_id)
				send_error(c, fault.id, PROTO_ERR_MALFORMED, fault.reason);
			continue;
		}
		if (slot < 0)
			agent_frame(r, &f);
		else
			client_frame(r, slot, &f);
		if (c->fd < 0) /* dropped while handling */
			return 0;
	}
	return 0;
}

/* Refuse a connection before reading from it, with one error frame the client can print. */
static void refuse(int fd, const char *message)
{
	struct relay_conn c;
	conn_init(&c, fd);
	send_error(&c, 0, PROTO_ERR_FAILED, message);
	conn_close(&c);
}

static void accept_client(struct group_relay *r)
{
	int fd = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	/* The socket's mode (0600) keeps other users out; the peer's credentials are checked too,
	 * so a socket made reachable by mistake (a copied path, a chmod) still grants nothing. */
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ||
	    (cred.uid != r->owner_uid && cred.uid != 0)) {
		refuse(fd, "refused: this group belongs to another user");
		return;
	}
	for (int i = 0; i < RELAY_MAX_CLIENTS; i++) {
		if (r->client[i].fd >= 0)
			continue;
		conn_init(&r->client[i], fd);
		if (!r->had_owner) {
			r->owner = i;
			r->had_owner = true;
		}
		return;
	}
	char msg[80];
	snprintf(msg, sizeof(msg), "refused: the group already has %d clients", RELAY_MAX_CLIENTS);
	refuse(fd, msg);
}

static void *relay_thread(void *arg)
{
	struct group_relay *r = arg;
	struct pollfd pfd[3 + RELAY_MAX_CLIENTS];
	int slot_of[3 + RELAY_MAX_CLIENTS];

	for (;;) {
		size_t n = 0;
		pfd[n] = (struct pollfd){ r->stop_fd, POLLIN, 0 };
		slot_of[n++] = -3;
		pfd[n] = (struct pollfd){ r->listen_fd, POLLIN, 0 };
		slot_of[n++] = -2;
		if (r->agent.fd >= 0) {
			pfd[n] = (struct pollfd){ r->agent.fd,
				(short)(POLLIN | (r->agent.out_len ? POLLOUT : 0)), 0 };
			slot_of[n++] = -1;
		}
		/* Backpressure: while the agent's queue is full, clients are not read. */
		bool read_clients = r->agent.out_len < RELAY_OUT_MAX / 2;
		for (int i = 0; i < RELAY_MAX_CLIENTS; i++) {
			struct relay_conn *c = &r->client[i];
			if (c->fd < 0)
				continue;
			short ev = (short)((read_clients ? POLLIN : 0) | (c->out_len ? POLLOUT : 0));
			pfd[n] = (struct pollfd){ c->fd, ev, 0 };
			slot_of[n++] = i;
		}
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents)
			break;
		for (size_t k = 1; k < n; k++) {
			short rev = pfd[k].revents;
			int slot = slot_of[k];
			if (!rev)
				continue;
			if (slot == -2) {
				accept_client(r);
				continue;
			}
			struct relay_conn *c = slot == -1 ? &r->agent : &r->client[slot];
			if (c->fd < 0)
				continue;
			int ret = 0;
			if (rev & POLLOUT)
				ret = conn_flush(c);
			if (ret == 0 && (rev & (POLLIN | POLLHUP | POLLERR)))
				ret = conn_read(r, c, slot);
			if (ret < 0 && c->fd >= 0) {
				if (slot == -1) {
					atomic_store(&r->agent_gone, 1);
					conn_close(&r->agent);
					for (int i = 0; i < RELAY_MAX_CLIENTS; i++)
						if (r->client[i].fd >= 0)
							drop_client(r, i);
				} else {
					drop_client(r, slot);
				}
			}
		}
	}
	return NULL;
}

int group_relay_start(int agent_fd, const char *sock_path, struct json_object *env,
		      struct group_relay **out, struct errbuf *eb)
{
	struct group_relay *r = calloc(1, sizeof(*r));
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int ret;

	if (!r) {
		close(agent_fd);
		return errbuf_set(eb, ENOMEM, "out of memory");
	}
	if (strlen(sock_path) >= sizeof(addr.sun_path)) {
		close(agent_fd);
		free(r);
		return errbuf_set(eb, ENAMETOOLONG, "%s: socket path too long", sock_path);
	}
	/* A copy of its own: the relay thread never shares json-c objects with the caller. */
	if (env && json_object_deep_copy(env, &r->env, NULL) < 0) {
		close(agent_fd);
		free(r);
		return errbuf_set(eb, ENOMEM, "out of memory");
	}
	conn_init(&r->agent, agent_fd);
	for (int i = 0; i < RELAY_MAX_CLIENTS; i++)
		conn_init(&r->client[i], -1);
	r->owner = -1;
	r->stop_fd = -1;
	r->owner_uid = geteuid();
	fcntl(agent_fd, F_SETFL, fcntl(agent_fd, F_GETFL) | O_NONBLOCK);
	strcpy(r->sock_path, sock_path);
	strcpy(addr.sun_path, sock_path);

	r->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (r->listen_fd < 0) {
		ret = errbuf_set(eb, errno, "socket: %s", strerror(errno));
		goto fail;
	}
	unlink(sock_path);
	mode_t old = umask(0077); /* the socket grants full control of the group */
	ret = bind(r->listen_fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old);
	if (ret < 0 || listen(r->listen_fd, 16) < 0) {
		ret = errbuf_set(eb, errno, "%s: %s", sock_path, strerror(errno));
		goto fail;
	}
	r->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (r->stop_fd < 0) {
		ret = errbuf_set(eb, errno, "eventfd: %s", strerror(errno));
		goto fail;
	}
	ret = -pthread_create(&r->thread, NULL, relay_thread, r);
	if (ret < 0) {
		errbuf_set(eb, -ret, "pthread_create: %s", strerror(-ret));
		goto fail;
	}
	*out = r;
	return 0;
fail:
	if (r->listen_fd >= 0) {
		close(r->listen_fd);
		unlink(sock_path);
	}
	if (r->stop_fd >= 0)
		close(r->stop_fd);
	conn_close(&r->agent);
	for (int i = 0; i < RELAY_MAX_CLIENTS; i++)
		conn_close(&r->client[i]);
	json_object_put(r->env);
	free(r);
	return ret;
}

int group_relay_agent_gone(const struct group_relay *r)
{
	return atomic_load(&((struct group_relay *)r)->agent_gone);
}

void group_relay_stop(struct group_relay *r)
{
	if (!r)
		return;
	uint64_t one = 1;
	if (write(r->stop_fd, &one, sizeof(one)) == sizeof(one))
		pthread_join(r->thread, NULL);
	close(r->stop_fd);
	close(r->listen_fd);
	unlink(r->sock_path);
	conn_close(&r->agent);
	for (int i = 0; i < RELAY_MAX_CLIENTS; i++)
		conn_close(&r->client[i]);
	json_object_put(r->env);
	free(r);
}
