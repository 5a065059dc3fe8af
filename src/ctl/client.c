/* The control socket client (client.h). Both connections are non-blocking
 * and every wait is a poll(2) with a deadline on CLOCK_MONOTONIC, so a
 * stopped daemon never hangs a script. Writes use MSG_NOSIGNAL: a daemon
 * that went away is an error, not a SIGPIPE. */
#define _GNU_SOURCE 1
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

struct conn {
	int fd;
	struct dpp_proto_reader rd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct dpp_ctl_peer peer;
};

struct dpp_ctlclient {
	struct conn cn;
	int64_t next_id;
	int broken;
};

struct dpp_ctlsub {
	struct conn cn;
	cJSON *last; /* the line msg->json points into */
	int bye;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 4, 5))) static void set_err(struct dpp_ctl_error *err,
							enum dpp_ctl_error_kind kind,
							const char *code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	err->kind = kind;
	snprintf(err->code, sizeof(err->code), "%s", code != NULL ? code : "");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

void dpp_ctl_connect_error(struct dpp_ctl_error *err, const char *path, int e)
{
	if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR)
		set_err(err, DPP_CTL_NO_DAEMON, NULL, "no daemon answers on %s", path);
	else if (e == EACCES || e == EPERM)
		set_err(err, DPP_CTL_PERMISSION, NULL,
			"permission denied on %s: %s (run as the daemon's user, root, or a member of "
			"global.control_group)",
			path, strerror(e));
	else
		set_err(err, DPP_CTL_SYSTEM, NULL, "cannot connect to %s: %s", path, strerror(e));
}

int dpp_ctl_exit_code(const struct dpp_ctl_error *e)
{
	switch (e->kind) {
	case DPP_CTL_OK:
		return EX_OK;
	case DPP_CTL_NO_DAEMON:
	case DPP_CTL_GONE:
	case DPP_CTL_TIMEOUT:
		return EX_UNAVAILABLE;
	case DPP_CTL_PERMISSION:
		return EX_NOPERM;
	case DPP_CTL_REFUSED:
		if (strcmp(e->code, DPP_PROTO_E_INTERNAL) == 0)
			return EX_SOFTWARE;
		if (strcmp(e->code, DPP_PROTO_E_FORBIDDEN) == 0)
			return EX_NOPERM;
		return EX_DATAERR;
	case DPP_CTL_PROTOCOL:
		return EX_PROTOCOL;
	case DPP_CTL_SYSTEM:
		return EX_OSERR;
	}
	return EX_SOFTWARE;
}

void dpp_ctl_on_behalf_of(char *buf, size_t len)
{
	const char *su = getenv("SUDO_USER");

	if (geteuid() == 0 && su != NULL && su[0] != '\0')
		snprintf(buf, len, "%s", su);
	else if (len > 0)
		buf[0] = '\0';
}

/* ---- one connection --------------------------------------------------------- */

static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		int64_t left = deadline - mono_ms();
		int n;

		if (left < 0)
			left = 0;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n == 0)
			return 1; /* timed out */
		if (errno != EINTR)
			return -1;
	}
}

static int send_obj(struct conn *cn, const cJSON *obj, int64_t deadline, struct dpp_ctl_error *err)
{
	size_t len = 0, off = 0;
	char *line = dpp_proto_print(obj, &len);

	if (line == NULL) {
		set_err(err, DPP_CTL_SYSTEM, NULL, "out of memory");
		return -1;
	}
	while (off < len) {
		ssize_t n = send(cn->fd, line + off, len - off, MSG_NOSIGNAL);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int w = wait_fd(cn->fd, POLLOUT, deadline);

			if (w == 0)
				continue;
			set_err(err, w > 0 ? DPP_CTL_TIMEOUT : DPP_CTL_SYSTEM, NULL,
				"%s: %s", cn->path, w > 0 ? "the daemon does not read (timed out)"
						       : strerror(errno));
			free(line);
			return -1;
		}
		set_err(err, DPP_CTL_GONE, NULL, "the daemon on %s closed the connection (%s)", cn->path,
			n < 0 ? strerror(errno) : "EOF");
		free(line);
		return -1;
	}
	free(line);
	return 0;
}

/* The next line as an object: 1 (*obj), 0 (nothing complete now and
 * deadline < 0 asked not to wait), -1 with *err. */
static int recv_obj(struct conn *cn, int64_t deadline, cJSON **obj, struct dpp_ctl_error *err)
{
	for (;;) {
		char *line = NULL;
		size_t len = 0;
		int r = dpp_proto_reader_next(&cn->rd, &line, &len);
		long got;

		if (r < 0) {
			set_err(err, DPP_CTL_PROTOCOL, NULL, "the daemon on %s sent a line over %u bytes",
				cn->path, DPP_PROTO_LINE_MAX);
			return -1;
		}
		if (r == 1) {
			if (len == 0)
				continue; /* an empty line: nothing */
			*obj = dpp_proto_parse(line, len);
			if (*obj == NULL) {
				set_err(err, DPP_CTL_PROTOCOL, NULL,
					"the daemon on %s sent a line that is not a JSON object", cn->path);
				return -1;
			}
			return 1;
		}
		if (cn->rd.eof) {
			set_err(err, DPP_CTL_GONE, NULL, "the daemon on %s closed the connection", cn->path);
			return -1;
		}
		got = dpp_proto_reader_fill(&cn->rd, cn->fd);
		if (got > 0 || (got == 0 && cn->rd.eof))
			continue;
		if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			set_err(err, errno == ECONNRESET ? DPP_CTL_GONE : DPP_CTL_SYSTEM, NULL,
				"reading from %s: %s", cn->path, strerror(errno));
			return -1;
		}
		if (deadline < 0)
			return 0;
		r = wait_fd(cn->fd, POLLIN, deadline);
		if (r != 0) {
			set_err(err, r > 0 ? DPP_CTL_TIMEOUT : DPP_CTL_SYSTEM, NULL, "%s: %s", cn->path,
				r > 0 ? "the daemon did not answer in time" : strerror(errno));
			return -1;
		}
	}
}

/* An {"error": {...}} object into err, with kind from its code. */
static void error_from(struct dpp_ctl_error *err, const cJSON *e, const char *path)
{
	char code[32] = "";
	char *msg = NULL;

	if (e == NULL || dpp_proto_error_from_json(e, code, sizeof(code), &msg) != 0) {
		set_err(err, DPP_CTL_PROTOCOL, NULL, "the daemon on %s sent a malformed error", path);
		return;
	}
	if (strcmp(code, DPP_PROTO_E_FORBIDDEN) == 0)
		set_err(err, DPP_CTL_PERMISSION, code, "permission denied on %s: %s", path,
			msg[0] ? msg : "the daemon refused this user");
	else if (strcmp(code, DPP_PROTO_E_UNSUPPORTED_VERSION) == 0)
		set_err(err, DPP_CTL_PROTOCOL, code, "the daemon on %s does not speak protocol %d: %s",
			path, DPP_PROTO_VERSION, msg);
	else
		set_err(err, DPP_CTL_REFUSED, code, "%s", msg[0] ? msg : code);
	free(msg);
}

static int conn_open(struct conn *cn, const char *path, const char *client, const char *on_behalf_of,
		     int timeout_ms, struct dpp_ctl_error *err)
{
	struct sockaddr_un sa;
	struct dpp_proto_hello h;
	struct dpp_proto_hello_reply rep;
	int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : DPP_CTL_TIMEOUT_MS);
	cJSON *obj = NULL;
	int rc = -1, cerr = 0;

	memset(cn, 0, sizeof(*cn));
	cn->fd = -1;
	dpp_proto_reader_init(&cn->rd, 0);
	if (strlen(path) >= sizeof(sa.sun_path)) {
		set_err(err, DPP_CTL_SYSTEM, NULL, "control socket path too long: %s", path);
		return -1;
	}
	snprintf(cn->path, sizeof(cn->path), "%s", path);
	cn->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (cn->fd < 0) {
		set_err(err, DPP_CTL_SYSTEM, NULL, "socket: %s", strerror(errno));
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	/* A full backlog: Linux answers a non-blocking AF_UNIX connect(2) with
	 * EAGAIN and queues nothing (the socket stays unconnected and polls
	 * writable at once, so the hello's send failed with ENOTCONN): try
	 * again every 10 ms until the deadline. */
	for (;;) {
		if (connect(cn->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			cerr = 0;
			break;
		}
		cerr = errno;
		if (cerr != EAGAIN || mono_ms() >= deadline)
			break;
		poll(NULL, 0, 10);
	}
	if (cerr == EAGAIN) {
		set_err(err, DPP_CTL_TIMEOUT, NULL, "%s: the daemon does not accept (timed out)", path);
		return -1;
	}
	if (cerr == EINPROGRESS) {
		/* Not what Linux does for AF_UNIX, but POSIX allows it: wait. */
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		if (wait_fd(cn->fd, POLLOUT, deadline) != 0) {
			set_err(err, DPP_CTL_TIMEOUT, NULL, "%s: the daemon does not accept (timed out)",
				path);
			return -1;
		}
		if (getsockopt(cn->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
			dpp_ctl_connect_error(err, path, soerr != 0 ? soerr : errno);
			return -1;
		}
	} else if (cerr != 0) {
		dpp_ctl_connect_error(err, path, cerr);
		return -1;
	}
	memset(&h, 0, sizeof(h));
	h.version = DPP_PROTO_VERSION;
	snprintf(h.client, sizeof(h.client), "%s", client);
	snprintf(h.on_behalf_of, sizeof(h.on_behalf_of), "%s", on_behalf_of != NULL ? on_behalf_of : "");
	obj = dpp_proto_hello_to_json(&h);
	if (obj == NULL) {
		set_err(err, DPP_CTL_SYSTEM, NULL, "out of memory");
		return -1;
	}
	if (send_obj(cn, obj, deadline, err) != 0) {
		/* A refused peer may be closed before it reads: its error line
		 * may still be there. */
		cJSON_Delete(obj);
		obj = NULL;
		if (recv_obj(cn, deadline, &obj, NULL) == 1 && cJSON_GetObjectItem(obj, "error") != NULL)
			error_from(err, cJSON_GetObjectItem(obj, "error"), path);
		goto cleanup;
	}
	cJSON_Delete(obj);
	obj = NULL;
	if (recv_obj(cn, deadline, &obj, err) != 1) {
		if (err != NULL && err->kind == DPP_CTL_GONE)
			set_err(err, DPP_CTL_PROTOCOL, NULL,
				"the daemon on %s closed the connection before its hello", path);
		goto cleanup;
	}
	if (cJSON_GetObjectItem(obj, "error") != NULL) {
		error_from(err, cJSON_GetObjectItem(obj, "error"), path);
		goto cleanup;
	}
	if (dpp_proto_hello_reply_from_json(obj, &rep) != 0 || rep.version != DPP_PROTO_VERSION) {
		set_err(err, DPP_CTL_PROTOCOL, NULL, "%s does not answer a version %d hello", path,
			DPP_PROTO_VERSION);
		goto cleanup;
	}
	cn->peer.pid = rep.pid;
	snprintf(cn->peer.server, sizeof(cn->peer.server), "%s", rep.server);
	snprintf(cn->peer.version, sizeof(cn->peer.version), "%s", rep.version_str);
	snprintf(cn->peer.user, sizeof(cn->peer.user), "%s", rep.user);
	rc = 0;
cleanup:
	cJSON_Delete(obj);
	return rc;
}

static void conn_close(struct conn *cn)
{
	if (cn->fd >= 0)
		close(cn->fd);
	cn->fd = -1;
	dpp_proto_reader_free(&cn->rd);
}

/* ---- requests ----------------------------------------------------------------- */

struct dpp_ctlclient *dpp_ctlclient_connect(const char *path, const char *client,
					    const char *on_behalf_of, int timeout_ms,
					    struct dpp_ctl_peer *peer, struct dpp_ctl_error *err)
{
	struct dpp_ctlclient *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		set_err(err, DPP_CTL_SYSTEM, NULL, "out of memory");
		return NULL;
	}
	if (conn_open(&c->cn, path, client, on_behalf_of, timeout_ms, err) != 0) {
		conn_close(&c->cn);
		free(c);
		return NULL;
	}
	c->next_id = 1;
	if (peer != NULL)
		*peer = c->cn.peer;
	return c;
}

void dpp_ctlclient_close(struct dpp_ctlclient *c)
{
	if (c == NULL)
		return;
	conn_close(&c->cn);
	free(c);
}

const struct dpp_ctl_peer *dpp_ctlclient_peer(const struct dpp_ctlclient *c)
{
	return &c->cn.peer;
}

const char *dpp_ctlclient_path(const struct dpp_ctlclient *c)
{
	return c->cn.path;
}

int dpp_ctlclient_request(struct dpp_ctlclient *c, const char *cmd, cJSON *args, int timeout_ms,
			  cJSON **resp, struct dpp_ctl_error *err)
{
	int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : DPP_CTL_TIMEOUT_MS);
	int64_t id = c->next_id++;
	cJSON *req = cJSON_CreateObject(), *obj = NULL;
	int rc = -1;

	*resp = NULL;
	if (c->broken) {
		set_err(err, DPP_CTL_GONE, NULL, "the connection to %s is closed", c->cn.path);
		goto cleanup;
	}
	if (req == NULL || cJSON_AddNumberToObject(req, "id", (double)id) == NULL ||
	    cJSON_AddStringToObject(req, "cmd", cmd) == NULL) {
		set_err(err, DPP_CTL_SYSTEM, NULL, "out of memory");
		goto cleanup;
	}
	if (args != NULL) {
		while (args->child != NULL) {
			cJSON *it = cJSON_DetachItemViaPointer(args, args->child);

			if (cJSON_GetObjectItemCaseSensitive(req, it->string) != NULL) {
				cJSON_Delete(it); /* id and cmd are ours */
				continue;
			}
			cJSON_AddItemToObject(req, it->string, it);
		}
	}
	if (send_obj(&c->cn, req, deadline, err) != 0) {
		c->broken = 1;
		goto cleanup;
	}
	for (;;) {
		const cJSON *jid;

		if (recv_obj(&c->cn, deadline, &obj, err) != 1) {
			c->broken = 1;
			goto cleanup;
		}
		if (cJSON_GetObjectItem(obj, "bye") != NULL) {
			char reason[128] = "";

			(void)dpp_proto_bye_from_json(cJSON_GetObjectItem(obj, "bye"), reason,
						      sizeof(reason));
			set_err(err, DPP_CTL_GONE, NULL, "the daemon (PID %ld) is stopping%s%s",
				c->cn.peer.pid, reason[0] ? ": " : "", reason);
			c->broken = 1;
			goto cleanup;
		}
		jid = cJSON_GetObjectItem(obj, "id");
		if (jid == NULL) {
			if (cJSON_GetObjectItem(obj, "error") != NULL) {
				/* Unasked: the daemon closes after it. */
				error_from(err, cJSON_GetObjectItem(obj, "error"), c->cn.path);
				c->broken = 1;
				goto cleanup;
			}
			cJSON_Delete(obj); /* an unasked line we do not need here */
			obj = NULL;
			continue;
		}
		if (!cJSON_IsNumber(jid) || (int64_t)jid->valuedouble != id) {
			set_err(err, DPP_CTL_PROTOCOL, NULL, "the daemon on %s answered another request",
				c->cn.path);
			c->broken = 1;
			goto cleanup;
		}
		break;
	}
	{
		const cJSON *ok = cJSON_GetObjectItem(obj, "ok");

		if (cJSON_IsTrue(ok)) {
			*resp = obj;
			obj = NULL;
			rc = 0;
		} else if (cJSON_IsFalse(ok)) {
			error_from(err, cJSON_GetObjectItem(obj, "error"), c->cn.path);
		} else {
			set_err(err, DPP_CTL_PROTOCOL, NULL, "the daemon on %s answered without \"ok\"",
				c->cn.path);
			c->broken = 1;
		}
	}
cleanup:
	cJSON_Delete(args);
	cJSON_Delete(req);
	cJSON_Delete(obj);
	return rc;
}

/* ---- the subscription ------------------------------------------------------- */

int dpp_ctl_decode_unasked(const cJSON *obj, struct dpp_ctlsub_msg *msg)
{
	const cJSON *v;

	if (!cJSON_IsObject(obj))
		return -1;
	msg->json = NULL;
	if ((v = cJSON_GetObjectItem(obj, "event")) != NULL) {
		msg->type = DPP_CTLSUB_EVENT;
		msg->json = v;
		return dpp_proto_event_from_json(v, &msg->ev) == 0 ? 1 : -1;
	}
	if ((v = cJSON_GetObjectItem(obj, "log")) != NULL) {
		msg->type = DPP_CTLSUB_LOG;
		return dpp_proto_log_from_json(v, &msg->level, msg->line, sizeof(msg->line)) == 0 ? 1
												   : -1;
	}
	if ((v = cJSON_GetObjectItem(obj, "dropped")) != NULL) {
		msg->type = DPP_CTLSUB_DROPPED;
		return dpp_proto_dropped_from_json(v, &msg->dropped) == 0 ? 1 : -1;
	}
	if ((v = cJSON_GetObjectItem(obj, "bye")) != NULL) {
		msg->type = DPP_CTLSUB_BYE;
		return dpp_proto_bye_from_json(v, msg->line, sizeof(msg->line)) == 0 ? 1 : -1;
	}
	return 0;
}

struct dpp_ctlsub *dpp_ctlsub_open(const char *path, const char *client, const char *on_behalf_of,
				   const char *const *kinds, size_t n_kinds, int log, int timeout_ms,
				   struct dpp_ctl_error *err)
{
	struct dpp_ctlsub *s = calloc(1, sizeof(*s));
	int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : DPP_CTL_TIMEOUT_MS);
	cJSON *req = NULL, *obj = NULL, *arr;

	if (s == NULL) {
		set_err(err, DPP_CTL_SYSTEM, NULL, "out of memory");
		return NULL;
	}
	if (conn_open(&s->cn, path, client, on_behalf_of, timeout_ms, err) != 0)
		goto fail;
	req = cJSON_CreateObject();
	if (req == NULL || cJSON_AddNumberToObject(req, "id", 1) == NULL ||
	    cJSON_AddStringToObject(req, "cmd", "subscribe") == NULL ||
	    cJSON_AddBoolToObject(req, "log", log ? 1 : 0) == NULL) {
		set_err(err, DPP_CTL_SYSTEM, NULL, "out of memory");
		goto fail;
	}
	if (n_kinds > 0) {
		arr = cJSON_AddArrayToObject(req, "kinds");
		for (size_t i = 0; arr != NULL && i < n_kinds; i++)
			cJSON_AddItemToArray(arr, cJSON_CreateString(kinds[i]));
		if (arr == NULL || (size_t)cJSON_GetArraySize(arr) != n_kinds) {
			set_err(err, DPP_CTL_SYSTEM, NULL, "out of memory");
			goto fail;
		}
	}
	if (send_obj(&s->cn, req, deadline, err) != 0)
		goto fail;
	/* Events may follow the answer at once; they stay in the reader. */
	for (;;) {
		const cJSON *jid;

		if (recv_obj(&s->cn, deadline, &obj, err) != 1)
			goto fail;
		jid = cJSON_GetObjectItem(obj, "id");
		if (jid != NULL)
			break;
		if (cJSON_GetObjectItem(obj, "error") != NULL) {
			error_from(err, cJSON_GetObjectItem(obj, "error"), path);
			goto fail;
		}
		cJSON_Delete(obj);
		obj = NULL;
	}
	if (!cJSON_IsTrue(cJSON_GetObjectItem(obj, "ok"))) {
		error_from(err, cJSON_GetObjectItem(obj, "error"), path);
		goto fail;
	}
	cJSON_Delete(req);
	cJSON_Delete(obj);
	return s;
fail:
	cJSON_Delete(req);
	cJSON_Delete(obj);
	dpp_ctlsub_close(s);
	return NULL;
}

void dpp_ctlsub_close(struct dpp_ctlsub *s)
{
	if (s == NULL)
		return;
	conn_close(&s->cn);
	cJSON_Delete(s->last);
	free(s);
}

int dpp_ctlsub_fd(const struct dpp_ctlsub *s)
{
	return s->cn.fd;
}

int dpp_ctlsub_next(struct dpp_ctlsub *s, struct dpp_ctlsub_msg *msg, struct dpp_ctl_error *err)
{
	cJSON_Delete(s->last);
	s->last = NULL;
	for (;;) {
		cJSON *obj = NULL;
		int r;

		if (s->bye) {
			set_err(err, DPP_CTL_GONE, NULL, "the daemon (PID %ld) said goodbye",
				s->cn.peer.pid);
			return -1;
		}
		r = recv_obj(&s->cn, -1, &obj, err);
		if (r <= 0)
			return r;
		r = dpp_ctl_decode_unasked(obj, msg);
		if (r == 0 && cJSON_GetObjectItem(obj, "error") != NULL) {
			error_from(err, cJSON_GetObjectItem(obj, "error"), s->cn.path);
			cJSON_Delete(obj);
			return -1;
		}
		if (r == 0 || (r == 1 && cJSON_GetObjectItem(obj, "id") != NULL)) {
			cJSON_Delete(obj); /* unknown type, or a late answer */
			continue;
		}
		if (r < 0) {
			set_err(err, DPP_CTL_PROTOCOL, NULL, "the daemon on %s sent a malformed line",
				s->cn.path);
			cJSON_Delete(obj);
			return -1;
		}
		if (msg->type == DPP_CTLSUB_BYE)
			s->bye = 1;
		s->last = obj;
		return 1;
	}
}
