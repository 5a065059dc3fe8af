/* libmicrohttpd front end. Per-request state lives in struct request (the
 * MHD request context), created by the URI log callback and freed in exactly
 * one place: on_completed. Lock order: none held across calls here; the
 * upstream pool and hijack tracker have their own. */
#include "dpp/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "dpp/headers.h"
#include "dpp/hijack.h"
#include "dpp/log.h"
#include "dpp/upstream.h"

#define MAX_REQ_FIELDS 128
#define HEAD_MAX (128 * 1024)
#define SMALL_BODY_MAX (64 * 1024)
#define RESPONSE_BLOCK (64 * 1024)
#define POOL_IDLE_MAX 32

struct dpp_server {
	struct MHD_Daemon *mhd;
	int listen_fd;
	char bind[64];
	int port;
	struct dpp_upstream *up;
	struct dpp_hijacks *hijacks;
	atomic_int inflight;
	atomic_int docker_up;
};

enum req_mode {
	MODE_FORWARD = 0, /* body streamed to Docker as it arrives */
	MODE_BUFFER,      /* small body read first (legacy hijack check) */
	MODE_DONE,        /* a response was queued early (error) */
};

struct request {
	struct dpp_server *srv;
	char *target; /* raw request-target as sent */
	int started;
	enum req_mode mode;
	const char *method;
	int head_request;
	const char *upgrade; /* client's Upgrade value when it asked for one */
	long long content_length;
	int chunked;
	int has_body;
	char *head; /* request head as written upstream (for one retry) */
	size_t head_len;
	int body_sent;
	struct dpp_uconn *uc;
	int reused;
	struct dpp_uresponse resp;
	int client_fd;
	char *buf;
	size_t buf_len;
	int status;
	long long t_start;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- Docker-style errors ------------------------------------------------ */

static enum MHD_Result queue_error(struct MHD_Connection *c, struct request *r, unsigned status,
				   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum MHD_Result queue_error(struct MHD_Connection *c, struct request *r, unsigned status,
				   const char *fmt, ...)
{
	char msg[1024];
	char *text = NULL;
	cJSON *obj = NULL;
	struct MHD_Response *resp = NULL;
	enum MHD_Result ret = MHD_NO;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r != NULL) {
		r->mode = MODE_DONE;
		r->status = (int)status;
	}
	if (status >= 500)
		dpp_log_warn("%s %s -> %u: %s", r != NULL && r->method != NULL ? r->method : "-",
			     r != NULL ? r->target : "-", status, msg);
	obj = cJSON_CreateObject();
	if (obj == NULL || cJSON_AddStringToObject(obj, "message", msg) == NULL)
		goto cleanup;
	text = cJSON_PrintUnformatted(obj);
	if (text == NULL)
		goto cleanup;
	/* Docker ends its JSON error bodies with a newline. */
	char *body = malloc(strlen(text) + 2);
	if (body == NULL)
		goto cleanup;
	sprintf(body, "%s\n", text);
	resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(body);
		goto cleanup;
	}
	if (MHD_add_response_header(resp, "Content-Type", "application/json") != MHD_YES)
		goto cleanup;
	ret = MHD_queue_response(c, status, resp);
cleanup:
	if (resp != NULL)
		MHD_destroy_response(resp);
	cJSON_free(text);
	cJSON_Delete(obj);
	return ret;
}

/* --- request classification ------------------------------------------- */

/* Strips a leading /v<digits and dots> the way dockerd's router does. */
static const char *strip_version(const char *path)
{
	const char *p = path;

	if (p[0] != '/' || p[1] != 'v')
		return path;
	p += 2;
	if (*p == '\0' || strspn(p, "0123456789.") == 0)
		return path;
	p += strspn(p, "0123456789.");
	return *p == '/' ? p : path;
}

/* POST /containers/{id}/attach or /exec/{id}/start: Docker hijacks these. */
static int is_hijack_endpoint(const char *method, const char *url, int *is_exec)
{
	const char *p = strip_version(url);
	const char *slash;

	if (strcmp(method, "POST") != 0)
		return 0;
	if (strncmp(p, "/containers/", 12) == 0) {
		slash = strchr(p + 12, '/');
		*is_exec = 0;
		return slash != NULL && slash > p + 12 && strcmp(slash, "/attach") == 0;
	}
	if (strncmp(p, "/exec/", 6) == 0) {
		slash = strchr(p + 6, '/');
		*is_exec = 1;
		return slash != NULL && slash > p + 6 && strcmp(slash, "/start") == 0;
	}
	return 0;
}

/* --- upstream request head ---------------------------------------------- */

struct field_list {
	struct dpp_header f[MAX_REQ_FIELDS];
	size_t n;
	int overflow;
};

static enum MHD_Result collect_field(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *value)
{
	struct field_list *l = cls;

	(void)kind;
	if (l->n >= MAX_REQ_FIELDS) {
		l->overflow = 1;
		return MHD_NO;
	}
	l->f[l->n].name = key;
	l->f[l->n].value = value != NULL ? value : "";
	l->n++;
	return MHD_YES;
}

static int append(char *buf, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int append(char *buf, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + *len, HEAD_MAX - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= HEAD_MAX - *len)
		return -1;
	*len += (size_t)n;
	return 0;
}

static int build_head(struct request *r, const struct field_list *l, long long body_len)
{
	const char *connection = NULL;
	int has_host = 0;
	size_t len = 0;

	r->head = malloc(HEAD_MAX);
	if (r->head == NULL)
		return -1;
	for (size_t i = 0; i < l->n; i++) {
		if (strcasecmp(l->f[i].name, "Connection") == 0)
			connection = l->f[i].value;
	}
	if (append(r->head, &len, "%s %s HTTP/1.1\r\n", r->method, r->target) != 0)
		return -1;
	for (size_t i = 0; i < l->n; i++) {
		if (!dpp_headers_forward_request(l->f[i].name, connection))
			continue;
		if (strcasecmp(l->f[i].name, "Host") == 0)
			has_host = 1;
		if (append(r->head, &len, "%s: %s\r\n", l->f[i].name, l->f[i].value) != 0)
			return -1;
	}
	if (!has_host && append(r->head, &len, "Host: docker\r\n") != 0)
		return -1;
	if (body_len >= 0) {
		if (append(r->head, &len, "Content-Length: %lld\r\n", body_len) != 0)
			return -1;
	} else if (r->chunked) {
		if (append(r->head, &len, "Transfer-Encoding: chunked\r\n") != 0)
			return -1;
	}
	if (r->upgrade != NULL &&
	    append(r->head, &len, "Connection: Upgrade\r\nUpgrade: %s\r\n", r->upgrade) != 0)
		return -1;
	if (append(r->head, &len, "\r\n") != 0)
		return -1;
	r->head_len = len;
	return 0;
}

static void note_docker_down(struct dpp_server *srv, const char *why)
{
	if (atomic_exchange(&srv->docker_up, 0) == 1)
		dpp_log_warn("Docker is not answering at %s: %s; requests get 502 until it is back",
			     dpp_upstream_socket(srv->up), why);
}

static void note_docker_up(struct dpp_server *srv)
{
	if (atomic_exchange(&srv->docker_up, 1) == 0)
		dpp_log_info("Docker answers again at %s", dpp_upstream_socket(srv->up));
}

/* Takes a pooled connection (or a new one when fresh) and writes the head.
 * A pooled connection that fails on write is replaced by a new one once. */
static int open_upstream(struct request *r, int fresh, const char **err)
{
	struct dpp_server *srv = r->srv;

	for (int attempt = 0; attempt < 2; attempt++) {
		int rc;

		if (fresh || attempt > 0) {
			r->reused = 0;
			rc = dpp_upstream_connect(srv->up, &r->uc, err);
		} else {
			rc = dpp_upstream_acquire(srv->up, &r->uc, &r->reused, err);
		}
		if (rc != 0) {
			note_docker_down(srv, *err);
			return -1;
		}
		if (dpp_uconn_write(r->uc, r->head, r->head_len) == 0) {
			note_docker_up(srv);
			return 0;
		}
		dpp_upstream_release(srv->up, r->uc, 0);
		r->uc = NULL;
		*err = "the connection to Docker broke while sending the request";
	}
	return -1;
}

static int send_body_piece(struct request *r, const char *data, size_t len)
{
	char hdr[32];

	if (len == 0)
		return 0;
	r->body_sent = 1;
	if (r->chunked) {
		snprintf(hdr, sizeof(hdr), "%zx\r\n", len);
		if (dpp_uconn_write(r->uc, hdr, strlen(hdr)) != 0 ||
		    dpp_uconn_write(r->uc, data, len) != 0 || dpp_uconn_write(r->uc, "\r\n", 2) != 0)
			return -1;
		return 0;
	}
	return dpp_uconn_write(r->uc, data, len);
}

/* --- responses ---------------------------------------------------------- */

static ssize_t read_body_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct request *r = cls;
	ssize_t n;

	(void)pos;
	n = dpp_uconn_read_body(r->uc, buf, max, r->client_fd);
	if (n > 0)
		return n;
	if (n == 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (n == DPP_UWAIT_ERROR)
		dpp_log_warn("%s %s: Docker's response stream broke off", r->method, r->target);
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

static ssize_t no_body_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls;
	(void)pos;
	(void)buf;
	(void)max;
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

static int copy_response_fields(struct MHD_Response *resp, const struct dpp_uresponse *u,
				int keep_upgrade)
{
	const char *connection = NULL;

	for (size_t i = 0; i < u->n_fields; i++) {
		if (strcasecmp(u->fields[i].name, "Connection") == 0)
			connection = u->fields[i].value;
	}
	for (size_t i = 0; i < u->n_fields; i++) {
		const char *name = u->fields[i].name;

		if (keep_upgrade && strcasecmp(name, "Upgrade") == 0) {
			/* MHD adds "Connection: Upgrade" itself. */
		} else if (!dpp_headers_forward_response(name, connection)) {
			continue;
		}
		if (MHD_add_response_header(resp, name, u->fields[i].value) != MHD_YES) {
			dpp_log_debug("cannot add response field '%s'", name);
			return -1;
		}
	}
	return 0;
}

struct upgrade_ctx {
	struct dpp_server *srv;
	int upstream_fd;
	char *extra; /* bytes from Docker after its 101 head */
	size_t extra_len;
};

static void close_upgraded(void *ctx)
{
	MHD_upgrade_action(ctx, MHD_UPGRADE_ACTION_CLOSE);
}

static void on_upgraded(void *cls, struct MHD_Connection *c, void *req_cls, const char *extra_in,
			size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	struct upgrade_ctx *u = cls;

	(void)c;
	(void)req_cls;
	if (dpp_hijacks_start(u->srv->hijacks, u->srv->up, sock, u->upstream_fd, u->extra,
			      u->extra_len, extra_in, extra_in_size, close_upgraded, urh) != 0) {
		close(u->upstream_fd);
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
	}
	free(u->extra);
	free(u);
}

static enum MHD_Result queue_upgrade(struct MHD_Connection *c, struct request *r)
{
	struct upgrade_ctx *u = calloc(1, sizeof(*u));
	struct MHD_Response *resp = NULL;
	enum MHD_Result ret;
	int fd;

	if (u == NULL)
		return queue_error(c, r, 500, "out of memory");
	u->srv = r->srv;
	u->upstream_fd = -1;
	/* The head's fields live in the connection: copy them before taking
	 * the stream (which frees it). */
	resp = MHD_create_response_for_upgrade(on_upgraded, u);
	if (resp == NULL || copy_response_fields(resp, &r->resp, 1) != 0)
		goto fail;
	fd = dpp_uconn_take_stream(r->uc, &u->extra, &u->extra_len);
	r->uc = NULL;
	if (fd < 0)
		goto fail;
	u->upstream_fd = fd;
	r->status = 101;
	ret = MHD_queue_response(c, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
	MHD_destroy_response(resp);
	if (ret != MHD_YES) {
		/* MHD will not call on_upgraded: nothing else owns u. */
		close(u->upstream_fd);
		free(u->extra);
		free(u);
	}
	return ret;
fail:
	if (resp != NULL)
		MHD_destroy_response(resp);
	free(u->extra);
	free(u);
	return queue_error(c, r, 502, "cannot relay the upgraded stream");
}

static enum MHD_Result queue_forwarded(struct MHD_Connection *c, struct request *r)
{
	struct dpp_uresponse *u = &r->resp;
	struct MHD_Response *resp = NULL;
	enum MHD_Result ret;
	int no_body = r->head_request || u->status == 204 || u->status == 304;
	uint64_t size;

	if (u->upgrade) {
		if (r->upgrade == NULL)
			return queue_error(c, r, 502, "Docker switched protocols without being asked");
		return queue_upgrade(c, r);
	}
	if (no_body) {
		/* Fixed size: MHD would emit a stray chunk terminator for HEAD. */
		size = u->content_length > 0 && r->head_request ? (uint64_t)u->content_length : 0;
		resp = MHD_create_response_from_callback(size, RESPONSE_BLOCK, no_body_cb, r, NULL);
	} else if (u->content_length >= 0) {
		resp = MHD_create_response_from_callback((uint64_t)u->content_length, RESPONSE_BLOCK,
							 read_body_cb, r, NULL);
	} else {
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, RESPONSE_BLOCK,
							 read_body_cb, r, NULL);
	}
	if (resp == NULL)
		return queue_error(c, r, 500, "out of memory");
	if (copy_response_fields(resp, u, 0) != 0) {
		MHD_destroy_response(resp);
		return queue_error(c, r, 502, "cannot copy Docker's response header fields");
	}
	r->status = u->status;
	ret = MHD_queue_response(c, (unsigned)u->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Body complete: finish the upload, read Docker's answer, queue it. */
static enum MHD_Result finish_request(struct MHD_Connection *c, struct request *r)
{
	const char *err = NULL;
	int w;

	if (r->chunked && dpp_uconn_write(r->uc, "0\r\n\r\n", 5) != 0)
		return queue_error(c, r, 502, "the connection to Docker broke while sending the request body");
	for (int attempt = 0;; attempt++) {
		w = dpp_uconn_read_head(r->uc, r->head_request, r->client_fd, &r->resp);
		if (w == DPP_UWAIT_OK)
			break;
		if (w == DPP_UWAIT_CLIENT_GONE) {
			r->status = 499; /* closed by the client before Docker answered */
			return MHD_NO;
		}
		if (w == DPP_UWAIT_STOPPED)
			return queue_error(c, r, 503, "docker-policy-proxy is shutting down");
		/* A pooled connection Docker closed meanwhile: retry once when no
		 * body bytes were sent, so nothing can be executed twice. */
		if (attempt == 0 && r->reused && !r->body_sent) {
			dpp_upstream_release(r->srv->up, r->uc, 0);
			r->uc = NULL;
			if (open_upstream(r, 1, &err) != 0)
				return queue_error(c, r, 502, "cannot reach Docker at %s: %s",
						   dpp_upstream_socket(r->srv->up), err);
			continue;
		}
		return queue_error(c, r, 502, "the connection to Docker broke before it answered");
	}
	if (!r->head_request && (r->resp.status == 204 || r->resp.status == 304)) {
		char scratch[16];

		(void)dpp_uconn_read_body(r->uc, scratch, sizeof(scratch), -1);
	}
	return queue_forwarded(c, r);
}

/* Exec start without Upgrade: allowed only when detached (no stream). */
static enum MHD_Result finish_buffered(struct MHD_Connection *c, struct request *r,
				       const struct field_list *l)
{
	const char *err = NULL;
	cJSON *doc = cJSON_ParseWithLength(r->buf != NULL ? r->buf : "", r->buf_len);
	const cJSON *detach = cJSON_IsObject(doc) ? cJSON_GetObjectItem(doc, "Detach") : NULL;
	int detached = cJSON_IsTrue(detach);

	cJSON_Delete(doc);
	if (!detached)
		return queue_error(c, r, 400,
				   "docker-policy-proxy relays attach and exec streams only over HTTP Upgrade: "
				   "send 'Connection: Upgrade' and 'Upgrade: tcp' (every current Docker client does)");
	if (build_head(r, l, (long long)r->buf_len) != 0)
		return queue_error(c, r, 431, "request header fields too large");
	if (open_upstream(r, 0, &err) != 0)
		return queue_error(c, r, 502, "cannot reach Docker at %s: %s",
				   dpp_upstream_socket(r->srv->up), err);
	r->chunked = 0;
	if (send_body_piece(r, r->buf, r->buf_len) != 0)
		return queue_error(c, r, 502, "the connection to Docker broke while sending the request body");
	return finish_request(c, r);
}

static enum MHD_Result start_request(struct MHD_Connection *c, struct request *r,
				     const char *url, const char *method, const char *version,
				     struct field_list *l)
{
	const union MHD_ConnectionInfo *ci;
	const char *reason = NULL, *err = NULL, *connection = NULL, *upgrade = NULL;
	int is_exec = 0;

	r->started = 1;
	r->method = method;
	r->t_start = now_ms();
	atomic_fetch_add(&r->srv->inflight, 1);
	r->head_request = strcmp(method, "HEAD") == 0;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	r->client_fd = ci != NULL ? ci->connect_fd : -1;
	if (dpp_upstream_draining(r->srv->up))
		return queue_error(c, r, 503, "docker-policy-proxy is shutting down");
	if (l->overflow)
		return queue_error(c, r, 431, "too many request header fields");
	if (dpp_headers_check_framing(l->f, l->n, &r->content_length, &r->chunked, &reason) != 0)
		return queue_error(c, r, 400, "bad request framing: %s", reason);
	r->has_body = r->content_length > 0 || r->chunked;
	for (size_t i = 0; i < l->n; i++) {
		if (strcasecmp(l->f[i].name, "Connection") == 0)
			connection = l->f[i].value;
		else if (strcasecmp(l->f[i].name, "Upgrade") == 0)
			upgrade = l->f[i].value;
	}
	if (upgrade != NULL && dpp_headers_list_has(connection, "upgrade")) {
		if (strcmp(version, MHD_HTTP_VERSION_1_1) != 0)
			return queue_error(c, r, 400, "protocol upgrade needs HTTP/1.1");
		r->upgrade = upgrade;
	}
	if (r->upgrade == NULL && is_hijack_endpoint(method, url, &is_exec)) {
		if (!is_exec || !r->has_body)
			return queue_error(c, r, 400,
					   "docker-policy-proxy relays attach and exec streams only over HTTP Upgrade: "
					   "send 'Connection: Upgrade' and 'Upgrade: tcp' (every current Docker client does)");
		r->mode = MODE_BUFFER;
		return MHD_YES;
	}
	if (build_head(r, l, r->chunked ? -1 : (r->content_length > 0 ? r->content_length :
						 (r->content_length == 0 ? 0 : -1))) != 0)
		return queue_error(c, r, 431, "request header fields too large");
	if (open_upstream(r, 0, &err) != 0)
		return queue_error(c, r, 502, "cannot reach Docker at %s: %s",
				   dpp_upstream_socket(r->srv->up), err);
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	struct request *r = *req_cls;
	struct field_list *l = NULL;
	enum MHD_Result ret;

	(void)cls;
	if (r == NULL)
		return MHD_NO; /* out of memory in the URI callback */
	if (!r->started || (r->mode == MODE_BUFFER && *upload_data_size == 0)) {
		l = calloc(1, sizeof(*l));
		if (l == NULL)
			return queue_error(c, r, 500, "out of memory");
		MHD_get_connection_values(c, MHD_HEADER_KIND, collect_field, l);
		if (!r->started)
			ret = start_request(c, r, url, method, version, l);
		else
			ret = finish_buffered(c, r, l);
		free(l);
		return ret;
	}
	if (r->mode == MODE_DONE) {
		*upload_data_size = 0; /* a response is queued; MHD discards the rest */
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (r->mode == MODE_BUFFER) {
			char *nb;

			if (r->buf_len + n > SMALL_BODY_MAX)
				return queue_error(c, r, 413, "request body too large");
			nb = realloc(r->buf, r->buf_len + n);
			if (nb == NULL)
				return queue_error(c, r, 500, "out of memory");
			r->buf = nb;
			memcpy(r->buf + r->buf_len, upload_data, n);
			r->buf_len += n;
			return MHD_YES;
		}
		if (send_body_piece(r, upload_data, n) != 0)
			return queue_error(c, r, 502,
					   "the connection to Docker broke while sending the request body");
		return MHD_YES;
	}
	return finish_request(c, r);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct request *r = calloc(1, sizeof(*r));

	(void)c;
	if (r == NULL)
		return NULL;
	r->srv = cls;
	r->client_fd = -1;
	r->target = strdup(uri != NULL ? uri : "");
	if (r->target == NULL) {
		free(r);
		return NULL;
	}
	return r;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct dpp_server *srv = cls;
	struct request *r = *req_cls;
	int reusable;

	(void)c;
	if (r == NULL)
		return;
	if (r->started) {
		atomic_fetch_sub(&srv->inflight, 1);
		dpp_log_debug("%s %s -> %d (%lld ms)%s", r->method, r->target, r->status,
			      now_ms() - r->t_start,
			      toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : ", ended early");
	}
	reusable = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK && r->uc != NULL &&
		   dpp_uconn_complete(r->uc);
	dpp_upstream_release(srv->up, r->uc, reusable);
	free(r->head);
	free(r->buf);
	free(r->target);
	free(r);
	*req_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[1024];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	dpp_log_debug("http: %s", msg);
}

/* Our own listen socket: precise errors, and IPV6_V6ONLY under our control. */
static int open_listener(const char *bind_addr, int port, int *is_v6, char **err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = -1, one = 1;

	memset(&ss, 0, sizeof(ss));
	*is_v6 = 0;
	if (inet_pton(AF_INET, bind_addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		len = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, bind_addr, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		len = sizeof(struct sockaddr_in6);
		*is_v6 = 1;
	} else {
		if (asprintf(err, "cannot listen on %s: not an IPv4 or IPv6 address", bind_addr) < 0)
			*err = NULL;
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
		goto fail;
	if (*is_v6) {
		/* "::" means every address, IPv4 included (dual-stack). */
		int v6only = strcmp(bind_addr, "::") != 0;

		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) != 0)
			goto fail;
	}
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 256) != 0)
		goto fail;
	return fd;
fail: {
	int saved = errno;
	const char *hint = saved == EADDRINUSE ? " (another process holds this port; choose another "
						 "with --port, DOCKER_PROXY_PORT or global.port)"
						 : "";

	if (fd >= 0)
		close(fd);
	if (asprintf(err, *is_v6 ? "cannot listen on [%s]:%d: %s%s" : "cannot listen on %s:%d: %s%s",
		     bind_addr, port, strerror(saved), hint) < 0)
		*err = NULL;
	return -1;
}
}

int dpp_server_start(const struct dpp_server_options *opts, struct dpp_server **out, char **err)
{
	struct dpp_server *srv = calloc(1, sizeof(*srv));
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			     MHD_ALLOW_UPGRADE | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	int is_v6 = 0;

	*out = NULL;
	*err = NULL;
	if (srv == NULL)
		goto oom;
	srv->listen_fd = -1;
	snprintf(srv->bind, sizeof(srv->bind), "%s", opts->bind);
	srv->port = opts->port;
	atomic_store(&srv->docker_up, opts->docker_up ? 1 : 0);
	srv->up = dpp_upstream_create(opts->socket_path, POOL_IDLE_MAX);
	srv->hijacks = dpp_hijacks_create();
	if (srv->up == NULL || srv->hijacks == NULL)
		goto oom;
	srv->listen_fd = open_listener(opts->bind, opts->port, &is_v6, err);
	if (srv->listen_fd < 0)
		goto fail;
	if (is_v6)
		flags |= MHD_USE_IPv6;
	srv->mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
		MHD_OPTION_LISTEN_SOCKET, srv->listen_fd,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
		srv,
		/* No idle timeout: a quiet `events` or `logs -f` stream must live. */
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)0,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024),
		MHD_OPTION_END);
	if (srv->mhd == NULL) {
		if (asprintf(err, "cannot start the HTTP server on %s:%d", opts->bind, opts->port) < 0)
			*err = NULL;
		goto fail;
	}
	*out = srv;
	return 0;
oom:
	if (asprintf(err, "out of memory") < 0)
		*err = NULL;
fail:
	if (srv != NULL) {
		if (srv->listen_fd >= 0)
			close(srv->listen_fd);
		dpp_hijacks_free(srv->hijacks);
		dpp_upstream_free(srv->up);
		free(srv);
	}
	return -1;
}

int dpp_server_stop(struct dpp_server *srv, int grace_ms)
{
	long long deadline;
	int cut = 0;
	MHD_socket lfd;

	if (srv == NULL)
		return 0;
	lfd = MHD_quiesce_daemon(srv->mhd);
	if (lfd != MHD_INVALID_SOCKET)
		close(lfd);
	dpp_upstream_set_draining(srv->up);
	deadline = now_ms() + grace_ms;
	while (atomic_load(&srv->inflight) > 0 && now_ms() < deadline) {
		struct timespec ts = {0, 50 * 1000000L};

		nanosleep(&ts, NULL);
	}
	cut = atomic_load(&srv->inflight);
	dpp_upstream_set_stopping(srv->up);
	if (dpp_hijacks_wait(srv->hijacks, 5000) != 0)
		dpp_log_warn("some hijacked streams did not end in time");
	MHD_stop_daemon(srv->mhd);
	dpp_hijacks_free(srv->hijacks);
	dpp_upstream_free(srv->up);
	free(srv);
	return cut;
}
