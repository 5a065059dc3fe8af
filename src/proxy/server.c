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
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "dpp/auth.h"
#include "dpp/body.h"
#include "dpp/bus.h"
#include "dpp/canon.h"
#include "dpp/headers.h"
#include "dpp/hijack.h"
#include "dpp/listen.h"
#include "dpp/log.h"
#include "dpp/mediatype.h"
#include "dpp/metrics.h"
#include "dpp/peer.h"
#include "dpp/policy.h"
#include "dpp/ratelimit.h"
#include "dpp/redact.h"
#include "dpp/route.h"
#include "dpp/runtime.h"
#include "dpp/tls.h"
#include "dpp/upstream.h"
#include "dpp/watch.h"

#define MAX_REQ_FIELDS 128
#define HEAD_MAX (128 * 1024)
#define SMALL_BODY_MAX (64 * 1024)
#define RESPONSE_BLOCK (64 * 1024)
#define SMALL_RESPONSE_MAX (16 * 1024) /* read whole before answering */
/* Streamed uploads (archive PUT, image load, build context) reach us in
 * pieces bounded by libmicrohttpd's read buffer (~12 KiB of CONN_POOL); one
 * send per piece woke dockerd per piece. Pieces are gathered up to this many
 * bytes and sent when the stage is full, when the client has nothing more
 * waiting, and at the end of the body (bench/NOTES.md section 8). */
#define UPLOAD_STAGE (256 * 1024)
/* libmicrohttpd's per-connection memory pool (request head, read and write
 * buffers). MHD 0.9.75 zeroes the whole pool after every request, so its size
 * is paid per request in memset and per idle keep-alive connection in RSS
 * (bench/NOTES.md: 24 KiB keeps 1,000 idle connections plus 200 event streams
 * under 64 MiB). It takes request heads up to ~22 KiB (larger gets 431),
 * more than HAProxy's default 16 KiB buffer admits; Docker's largest,
 * X-Registry-Auth and X-Registry-Config, are a few KiB. */
#define CONN_POOL (24 * 1024)
#define POOL_IDLE_MAX 32
#define RATELIMIT_BUCKETS 65536
#define PENDING_PEERS_MAX 1024
#define DEFAULT_CONNECTION_LIMIT 4096
/* An over-long buffered body is read to its end and dropped, so the 413 can
 * be sent: libmicrohttpd accepts a response only before the body or after
 * all of it. Past this many dropped bytes the connection is closed instead. */
#define DISCARD_MAX (256ULL * 1024 * 1024)

struct dpp_server {
	struct MHD_Daemon *mhd;
	int listen_fd;
	char bind[64];
	int port;
	struct dpp_upstream *up;
	struct dpp_hijacks *hijacks;
	atomic_int inflight;
	atomic_int docker_up;
	unsigned int client_timeout_s;
	atomic_uint_fast64_t next_id;
	atomic_uint_fast64_t n_done;   /* finished requests (the console's req/s) */
	atomic_uint_fast64_t n_denied; /* of which refused: rules, limits, authentication */
	pthread_mutex_t rt_lock; /* guards rt (the pointer only) */
	int rt_lock_ok;
	struct dpp_runtime *rt;
	struct dpp_bus *bus;
	struct dpp_metrics *metrics;
	struct dpp_ratelimit *ratelimit;
	struct dpp_lockout *lockout;
	struct dpp_unix_listener *unix_listener;
	struct dpp_tls *tls; /* TLS acceptor on the TCP port, or NULL (MHD listens) */
	struct dpp_watch *watch; /* request-head deadline (slowloris) */
	atomic_int tls_refusals_suppressed;
	atomic_llong tls_refusal_logged_ms;
	/* Identities of handed-off connections (TLS, Unix socket) between the
	 * hand-off and MHD's STARTED notification, keyed by the MHD-side fd. */
	pthread_mutex_t pending_lock;
	int pending_lock_ok;
	struct pending_peer {
		int fd;
		struct dpp_peer peer;
	} *pending;
	size_t n_pending;
};

enum req_mode {
	MODE_FORWARD = 0, /* body streamed to Docker as it arrives */
	MODE_BUFFER,      /* JSON body read completely for the rules first */
	MODE_DONE,        /* a response was queued early (error) */
	MODE_DRAIN,       /* a denial waits until the client's upload is read */
};

/* A denial of a streamed upload (build context, archive, image load) waits
 * for the end of the body, read and discarded, so that clients which write
 * the whole body before reading (the docker CLI's build) see the rule's
 * message instead of a broken pipe; MHD closes the connection when a response
 * is queued before the upload is complete. Past this many bytes the denial
 * goes out at once. */
#define DRAIN_MAX_BYTES (64LL * 1024 * 1024)

struct field_list {
	struct dpp_header f[MAX_REQ_FIELDS];
	size_t n;
	int overflow;
};

struct upgrade_ctx;

struct request {
	struct dpp_server *srv;
	uint64_t id;
	char *target; /* raw request-target as sent */
	uint64_t bytes_in;  /* request body bytes received from the client */
	uint64_t bytes_out; /* response body bytes handed to the client (not after a 101) */
	struct dpp_runtime *rt;  /* the policy this request is judged by (a reference) */
	struct dpp_target *canon;
	struct dpp_route_match route; /* dockerd's route for the canonical path */
	const char *endpoint;         /* its template, or NULL: no route (404) */
	struct field_list *fields;
	char peer_ip[46];   /* the direct TCP peer ("" for a Unix-socket peer) */
	char client_ip[46]; /* after global.trusted_proxies */
	const struct dpp_peer *peer; /* connection identity (TLS, Unix socket) or NULL */
	struct dpp_auth_result auth;
	struct dpp_policy_decision dec;
	enum dpp_event_kind ev_kind;
	char ev_message[192];
	const char *ev_rule;
	const char *ev_action; /* the deciding rule's action (static), or NULL */
	int is_exec_start_plain; /* POST /exec/{id}/start without Upgrade */
	int streaming;           /* a long-lived response (events, logs -f, hijack) */
	int stream_counted;      /* counted in docker_proxy_active_streams */
	int timeout_off;         /* MHD's client timeout suspended while forwarding */
	struct upgrade_ctx *up_ctx; /* 101 queued: owned here until on_upgraded runs */
	int upgrade_taken;          /* on_upgraded ran: the relay owns up_ctx */
	int docker_down;            /* the 502 is "Docker not reachable" (logged once) */
	int started;
	enum req_mode mode;
	const char *method;
	int head_request;
	const char *upgrade; /* client's Upgrade value when it asked for one */
	long long content_length;
	int chunked;
	int has_body;
	int too_large;             /* buffered body went over max_body_bytes */
	unsigned long long discarded; /* bytes of it read and dropped since */
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
	int defer_denial;               /* a denial now waits for the upload (MODE_DRAIN) */
	struct MHD_Response *deferred;  /* that denial, queued when the body has ended */
	unsigned deferred_status;
	long long drained;              /* upload bytes discarded meanwhile */
	long long t_forwarded; /* the head went to Docker (upstream_latency_ms) */
	int http11;       /* the client spoke HTTP/1.1 (MHD answers unknown sizes chunked) */
	int relay_direct; /* chunked body written to the client here (relay_chunked) */
	char *stage;      /* upload bytes gathered, not yet sent (UPLOAD_STAGE) */
	size_t stage_len;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- Docker-style errors ------------------------------------------------ */

static enum MHD_Result queue_json_error(struct MHD_Connection *c, struct request *r,
					unsigned status, const char *hname, const char *hvalue,
					const char *msg)
{
	char *text = NULL, *body = NULL;
	cJSON *obj = NULL;
	struct MHD_Response *resp = NULL;
	enum MHD_Result ret = MHD_NO;

	if (r != NULL) {
		r->mode = MODE_DONE;
		r->status = (int)status;
		if (r->ev_kind == DPP_EVENT_REQUEST)
			r->ev_kind = DPP_EVENT_ERROR;
		snprintf(r->ev_message, sizeof(r->ev_message), "%s", msg);
	}
	/* Docker being down is said once (note_docker_down), not per request. */
	if (status >= 500 && !(r != NULL && r->docker_down))
		dpp_log_warn("%s %s -> %u: %s", r != NULL && r->method != NULL ? r->method : "-",
			     r != NULL ? r->target : "-", status, msg);
	obj = cJSON_CreateObject();
	if (obj == NULL || cJSON_AddStringToObject(obj, "message", msg) == NULL)
		goto cleanup;
	text = cJSON_PrintUnformatted(obj);
	if (text == NULL || asprintf(&body, "%s\n", text) < 0) {
		body = NULL;
		goto cleanup; /* Docker ends its JSON error bodies with a newline */
	}
	if (r != NULL)
		r->bytes_out = strlen(body);
	resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL)
		goto cleanup;
	body = NULL;
	if (MHD_add_response_header(resp, "Content-Type", "application/json") != MHD_YES)
		goto cleanup;
	if (hname != NULL && MHD_add_response_header(resp, hname, hvalue) != MHD_YES)
		goto cleanup;
	if (r != NULL && r->defer_denial && r->deferred == NULL) {
		r->mode = MODE_DRAIN;
		r->deferred = resp;
		r->deferred_status = status;
		resp = NULL;
		ret = MHD_YES;
		goto cleanup;
	}
	ret = MHD_queue_response(c, status, resp);
cleanup:
	if (resp != NULL)
		MHD_destroy_response(resp);
	free(body);
	cJSON_free(text);
	cJSON_Delete(obj);
	return ret;
}

static enum MHD_Result queue_error(struct MHD_Connection *c, struct request *r, unsigned status,
				   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Counts a failure talking to Docker (docker_proxy_upstream_errors_total);
 * returns r for use inside a queue_error call. */
static struct request *upstream_failed(struct request *r)
{
	dpp_metrics_upstream_error(r->srv->metrics);
	return r;
}

static enum MHD_Result queue_error(struct MHD_Connection *c, struct request *r, unsigned status,
				   const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* The proxy's own refusals (a rule's status never comes this way). */
	if (r != NULL && status == 400)
		dpp_metrics_bad_request(r->srv->metrics);
	else if (r != NULL && status == 413)
		dpp_metrics_body_too_large(r->srv->metrics);
	return queue_json_error(c, r, status, NULL, NULL, msg);
}

/* --- request classification ------------------------------------------- */

static unsigned route_flags(const struct request *r)
{
	return r->route.route != NULL ? r->route.route->flags : 0;
}

static int is_endpoint(const struct request *r, const char *endpoint)
{
	return r->endpoint != NULL && strcmp(r->endpoint, endpoint) == 0;
}

static int query_true(const struct dpp_target *t, const char *name)
{
	const char *v = dpp_target_query_get(t, name);

	return v != NULL && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0);
}

/* Responses that never end by themselves: no response filter can apply. */
static int is_stream_endpoint(const struct request *r)
{
	const struct dpp_target *t = r->canon;
	const char *stream = dpp_target_query_get(t, "stream");

	if (route_flags(r) & DPP_ROUTE_STREAM)
		return 1;
	if ((is_endpoint(r, DPP_EP_CONTAINER_LOGS) || is_endpoint(r, DPP_EP_SERVICE_LOGS) ||
	     is_endpoint(r, DPP_EP_TASK_LOGS)) && query_true(t, "follow"))
		return 1;
	if (is_endpoint(r, DPP_EP_CONTAINER_STATS))
		return stream == NULL || !(strcmp(stream, "0") == 0 || strcasecmp(stream, "false") == 0);
	return 0;
}

/* --- upstream request head ---------------------------------------------- */

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

/* Appends "a" "b" "c" (c may be NULL) to the head with the bound of append()
 * (the result and a NUL must fit HEAD_MAX), by memcpy: a vsnprintf per field
 * line was ~8% of the instructions of a small request (bench/NOTES.md 10). */
static int append3(char *buf, size_t *len, const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = c != NULL ? strlen(c) : 0;

	if (la + lb + lc >= HEAD_MAX - *len)
		return -1;
	memcpy(buf + *len, a, la);
	memcpy(buf + *len + la, b, lb);
	if (lc > 0)
		memcpy(buf + *len + la + lb, c, lc);
	*len += la + lb + lc;
	return 0;
}

static int append_field(char *buf, size_t *len, const char *name, const char *value)
{
	size_t ln = strlen(name), lv = strlen(value);

	if (ln + lv + 4 >= HEAD_MAX - *len)
		return -1;
	memcpy(buf + *len, name, ln);
	memcpy(buf + *len + ln, ": ", 2);
	memcpy(buf + *len + ln + 2, value, lv);
	memcpy(buf + *len + ln + 2 + lv, "\r\n", 2);
	*len += ln + lv + 4;
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
	/* Docker executes exactly what the rules saw: the canonical target. */
	if (append3(r->head, &len, r->method, " ",
		    r->canon != NULL ? dpp_target_forward(r->canon) : r->target) != 0 ||
	    append3(r->head, &len, " HTTP/1.1\r\n", "", NULL) != 0)
		return -1;
	for (size_t i = 0; i < l->n; i++) {
		if (!dpp_headers_forward_request(l->f[i].name, connection))
			continue;
		if (strcasecmp(l->f[i].name, "Host") == 0)
			has_host = 1;
		if (append_field(r->head, &len, l->f[i].name, l->f[i].value) != 0)
			return -1;
	}
	if (!has_host && append3(r->head, &len, "Host: docker\r\n", "", NULL) != 0)
		return -1;
	if (body_len >= 0) {
		if (append(r->head, &len, "Content-Length: %lld\r\n", body_len) != 0)
			return -1;
	} else if (r->chunked) {
		if (append3(r->head, &len, "Transfer-Encoding: chunked\r\n", "", NULL) != 0)
			return -1;
	}
	if (r->upgrade != NULL &&
	    append3(r->head, &len, "Connection: Upgrade\r\nUpgrade: ", r->upgrade, "\r\n") != 0)
		return -1;
	if (append3(r->head, &len, "\r\n", "", NULL) != 0)
		return -1;
	r->head_len = len;
	return 0;
}

static void note_docker_down(struct dpp_server *srv, const char *why)
{
	dpp_metrics_set_up(srv->metrics, 0);
	if (atomic_exchange(&srv->docker_up, 0) == 1)
		dpp_log_warn("Docker is not answering at %s: %s; requests get 502 until it is back",
			     dpp_upstream_socket(srv->up), why);
}

static void note_docker_up(struct dpp_server *srv)
{
	dpp_metrics_set_up(srv->metrics, 1);
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
		/* Plain requests keep the shutdown grace; streams end at once. */
		dpp_uconn_set_stream(r->uc, r->streaming);
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

/* Sends the gathered upload bytes (one chunk when the body is chunked);
 * last: the body ends here (the chunked terminator goes in the same send). */
static int flush_upload(struct request *r, int last)
{
	static const char crlf_end[] = "\r\n0\r\n\r\n";
	char hdr[32];
	struct iovec iov[3];
	int n = 0;

	if (r->stage_len == 0)
		return last && r->chunked ? dpp_uconn_write(r->uc, crlf_end + 2, 5) : 0;
	if (r->chunked) {
		int h = snprintf(hdr, sizeof(hdr), "%zx\r\n", r->stage_len);

		iov[n].iov_base = hdr;
		iov[n++].iov_len = (size_t)h;
	}
	iov[n].iov_base = r->stage;
	iov[n++].iov_len = r->stage_len;
	if (r->chunked) {
		iov[n].iov_base = (void *)crlf_end;
		iov[n++].iov_len = last ? 7 : 2;
	}
	r->stage_len = 0;
	return dpp_uconn_writev(r->uc, iov, n);
}

/* 1 when more request bytes already wait in the client socket (so libmicrohttpd
 * hands over the next piece at once): the stage may wait for it. */
static int client_has_more(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0 &&
	       (p.revents & (POLLHUP | POLLERR)) == 0;
}

/* One piece of a streamed upload: gathered into r->stage, sent by
 * flush_upload. Without a stage (out of memory) pieces go as they come. */
static int stage_body_piece(struct request *r, const char *data, size_t len)
{
	if (len == 0)
		return 0;
	if (r->stage == NULL && (r->stage = malloc(UPLOAD_STAGE)) == NULL)
		return send_body_piece(r, data, len);
	r->body_sent = 1; /* never retried from here: bytes are on their way */
	if (r->stage_len + len > UPLOAD_STAGE && flush_upload(r, 0) != 0)
		return -1;
	if (len >= UPLOAD_STAGE)
		return send_body_piece(r, data, len);
	memcpy(r->stage + r->stage_len, data, len);
	r->stage_len += len;
	/* Sent now when the next piece of this size would not fit, or when
	 * nothing more is waiting: a slow client's bytes are never held back. */
	if (r->stage_len + len > UPLOAD_STAGE || !client_has_more(r->client_fd))
		return flush_upload(r, 0);
	return 0;
}

/* --- responses ---------------------------------------------------------- */

static ssize_t body_ended(struct request *r, ssize_t n)
{
	if (n == 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (n == DPP_UWAIT_ERROR) {
		dpp_metrics_upstream_error(r->srv->metrics);
		dpp_log_warn("%s %s: Docker's response stream broke off", r->method, r->target);
	}
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

/* Writes one chunk (RFC 9112 section 7.1) to the client socket: size line,
 * data and CRLF in one sendmsg where the socket takes it. Waits for room in
 * slices so that a stop is noticed. Returns 0, or -1 (client gone, stop). */
static int send_client_chunk(struct request *r, const char *data, size_t len)
{
	char hdr[32];
	struct iovec iov[3];
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = 3};
	int h = snprintf(hdr, sizeof(hdr), "%zx\r\n", len);

	iov[0].iov_base = hdr;
	iov[0].iov_len = (size_t)h;
	iov[1].iov_base = (void *)data;
	iov[1].iov_len = len;
	iov[2].iov_base = (void *)"\r\n";
	iov[2].iov_len = 2;
	while (m.msg_iovlen > 0) {
		ssize_t n = sendmsg(r->client_fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			struct pollfd p = {.fd = r->client_fd, .events = POLLOUT};

			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -1;
			if (dpp_upstream_stopping(r->srv->up))
				return -1;
			if (poll(&p, 1, 250) < 0 && errno != EINTR)
				return -1;
			if (p.revents & (POLLERR | POLLHUP | POLLNVAL))
				return -1;
			continue;
		}
		dpp_msg_consume(&m, (size_t)n);
	}
	return 0;
}

/* A bulk chunked response (archive GET, image save, export): libmicrohttpd
 * 0.9.75 builds each chunk in the connection pool's write buffer (~24 KiB
 * with CONN_POOL) and polls before every send. Here the first callback,
 * which MHD makes once the response head is sent, writes the whole body
 * itself in chunks of what each upstream read brings (up to RELAY_BLOCK),
 * then returns END_OF_STREAM so that MHD sends the last chunk and keeps the
 * connection (bench/NOTES.md section 9). The bytes on the wire are the
 * chunked encoding MHD would have produced, in larger chunks. */
#define RELAY_BLOCK (64 * 1024)
static ssize_t relay_chunked(struct request *r)
{
	char *blk = malloc(RELAY_BLOCK);
	ssize_t n;

	if (blk == NULL)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	for (;;) {
		n = dpp_uconn_read_body(r->uc, blk, RELAY_BLOCK, r->client_fd);
		if (n <= 0)
			break;
		if (send_client_chunk(r, blk, (size_t)n) != 0) {
			n = DPP_UWAIT_CLIENT_GONE;
			break;
		}
		r->bytes_out += (uint64_t)n;
	}
	free(blk);
	return body_ended(r, n);
}

static ssize_t read_body_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct request *r = cls;
	ssize_t n;

	(void)pos;
	if (r->relay_direct)
		return relay_chunked(r);
	n = dpp_uconn_read_body(r->uc, buf, max, r->client_fd);
	if (n > 0) {
		r->bytes_out += (uint64_t)n;
		return n;
	}
	return body_ended(r, n);
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
	struct MHD_UpgradeResponseHandle *urh;
	int upstream_fd;
	char *extra; /* bytes from Docker after its 101 head */
	size_t extra_len;
	struct dpp_event ev;  /* the stream's open event, re-sent as its close */
	long long t_open;     /* monotonic ms the splice began */
};

/* The open event of a hijacked stream (its close re-sends it). */
static void stream_opened(struct request *r, struct upgrade_ctx *u);

static void close_upgraded(void *ctx)
{
	struct upgrade_ctx *u = ctx;

	MHD_upgrade_action(u->urh, MHD_UPGRADE_ACTION_CLOSE);
	dpp_metrics_stream_end(u->srv->metrics);
	if (u->t_open > 0) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		u->ev.kind = DPP_EVENT_STREAM_CLOSE;
		u->ev.time_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		u->ev.duration_ms = (uint32_t)(now_ms() - u->t_open);
		snprintf(u->ev.message, sizeof(u->ev.message), "hijacked stream closed");
		dpp_bus_publish(u->srv->bus, &u->ev);
	}
	free(u);
}

static void on_upgraded(void *cls, struct MHD_Connection *c, void *req_cls, const char *extra_in,
			size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	struct upgrade_ctx *u = cls;
	struct request *r = req_cls;

	(void)c;
	if (r != NULL)
		r->upgrade_taken = 1;
	u->urh = urh;
	dpp_metrics_stream_begin(u->srv->metrics);
	if (r != NULL)
		stream_opened(r, u);
	/* On success the splice owns u and frees it in close_upgraded. */
	if (dpp_hijacks_start(u->srv->hijacks, u->srv->up, sock, u->upstream_fd, u->extra,
			      u->extra_len, extra_in, extra_in_size, close_upgraded, u) != 0) {
		close(u->upstream_fd);
		free(u->extra);
		u->extra = NULL;
		close_upgraded(u);
		return;
	}
	free(u->extra);
	u->extra = NULL;
	dpp_metrics_upgrade(u->srv->metrics);
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
	if (ret == MHD_YES)
		r->up_ctx = u; /* freed in on_completed if the client leaves before the 101 */
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

/* Reads Docker's whole JSON response (bounded), applies the response filters
 * and queues the result with a new Content-Length. */
static enum MHD_Result queue_filtered(struct MHD_Connection *c, struct request *r)
{
	size_t max = (size_t)dpp_runtime_settings(r->rt)->max_filter_bytes;
	size_t len = 0, cap = 64 * 1024, out_len = 0;
	char *buf = malloc(cap), *out = NULL;
	struct dpp_filter *f = NULL;
	cJSON **values = NULL;
	struct MHD_Response *resp = NULL;
	enum MHD_Result ret;
	const char *err = NULL;
	size_t n = r->dec.n_filters;

	if (buf == NULL)
		goto oom;
	for (;;) {
		ssize_t got;

		if (len == cap) {
			char *nb;

			if (cap >= max + 1)
				break;
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			nb = realloc(buf, cap);
			if (nb == NULL)
				goto oom;
			buf = nb;
		}
		got = dpp_uconn_read_body(r->uc, buf + len, cap - len, r->client_fd);
		if (got == 0)
			break;
		if (got < 0) {
			free(buf);
			return got == DPP_UWAIT_CLIENT_GONE ? MHD_NO
							    : queue_error(c, upstream_failed(r), 502, "Docker's response broke off");
		}
		len += (size_t)got;
	}
	if (len > max) {
		free(buf);
		return queue_error(c, r, 502, "response larger than %zu bytes cannot be filtered (global.max_filter_bytes); refused rather than passed on unfiltered", max);
	}
	f = calloc(n, sizeof(*f));
	values = calloc(n, sizeof(*values));
	if (f == NULL || values == NULL)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		f[i].field = r->dec.filters[i].field;
		f[i].action = r->dec.filters[i].action;
		if (r->dec.filters[i].value != NULL) {
			values[i] = cJSON_CreateString(r->dec.filters[i].value);
			if (values[i] == NULL)
				goto oom;
			f[i].value = values[i];
		}
	}
	if (dpp_redact_apply(buf, len, f, n, &out, &out_len, &err) != 0) {
		ret = queue_error(c, r, 502, "cannot filter Docker's response: %s", err);
		goto done;
	}
	r->bytes_out = out_len;
	resp = MHD_create_response_from_buffer(out_len, out, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(out);
		goto oom;
	}
	if (copy_response_fields(resp, &r->resp, 0) != 0) {
		MHD_destroy_response(resp);
		ret = queue_error(c, r, 502, "cannot copy Docker's response header fields");
		goto done;
	}
	r->status = r->resp.status;
	ret = MHD_queue_response(c, (unsigned)r->resp.status, resp);
	MHD_destroy_response(resp);
	goto done;
oom:
	ret = queue_error(c, r, 500, "out of memory filtering the response");
done:
	for (size_t i = 0; values != NULL && i < n; i++)
		cJSON_Delete(values[i]);
	free(values);
	free(f);
	free(buf);
	return ret;
}

static int is_json_type(const struct dpp_uresponse *u)
{
	for (size_t i = 0; i < u->n_fields; i++) {
		if (strcasecmp(u->fields[i].name, "Content-Type") == 0)
			return strncasecmp(u->fields[i].value, "application/json", 16) == 0;
	}
	return 0;
}

/* libmicrohttpd callocs the response's block whole, per response: a small
 * body of known length gets a block of its own size, not RESPONSE_BLOCK. */
static size_t block_for(long long content_length)
{
	if (content_length < 256)
		return 256;
	return content_length < RESPONSE_BLOCK ? (size_t)content_length : RESPONSE_BLOCK;
}

/* A small body of known length is read whole first: libmicrohttpd sends a
 * buffer response's head and body in one sendmsg, a callback response's in
 * two. Returns NULL when Docker's body breaks off (or out of memory). */
static struct MHD_Response *buffered_response(struct request *r, size_t len)
{
	struct MHD_Response *resp;
	char *buf = malloc(len > 0 ? len : 1);
	size_t got = 0;

	if (buf == NULL)
		return NULL;
	while (got < len) {
		ssize_t n = dpp_uconn_read_body(r->uc, buf + got, len - got, r->client_fd);

		if (n <= 0) {
			if (n == DPP_UWAIT_ERROR)
				dpp_metrics_upstream_error(r->srv->metrics);
			free(buf);
			return NULL;
		}
		got += (size_t)n;
	}
	resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL)
		free(buf);
	else
		r->bytes_out = len; /* the event's bytes_out: read_body_cb never runs here */
	return resp;
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
	if (r->dec.n_filters > 0 && !no_body) {
		if (r->streaming)
			return queue_error(c, r, 502, "response filters cannot apply to a streamed response (rule %s)",
					   r->dec.filters[0].rule);
		if (is_json_type(u))
			return queue_filtered(c, r);
	}
	if (no_body) {
		/* Fixed size: MHD would emit a stray chunk terminator for HEAD. */
		size = u->content_length > 0 && r->head_request ? (uint64_t)u->content_length : 0;
		resp = MHD_create_response_from_callback(size, block_for(0), no_body_cb, r, NULL);
	} else if (u->content_length >= 0 && u->content_length <= SMALL_RESPONSE_MAX && !r->streaming) {
		resp = buffered_response(r, (size_t)u->content_length);
		if (resp == NULL)
			return queue_error(c, r, 502, "Docker's response broke off before its %lld bytes",
					   u->content_length);
	} else if (u->content_length >= 0) {
		resp = MHD_create_response_from_callback((uint64_t)u->content_length,
							 block_for(u->content_length), read_body_cb, r,
							 NULL);
	} else {
		/* Streams (events, logs -f) keep MHD's own writes; a bulk body
		 * to an HTTP/1.1 client is relayed by relay_chunked. */
		r->relay_direct = !r->streaming && r->http11 && r->client_fd >= 0;
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN,
							 r->relay_direct ? 256 : RESPONSE_BLOCK,
							 read_body_cb, r, NULL);
		if (resp != NULL && r->streaming && !r->stream_counted) {
			r->stream_counted = 1;
			dpp_metrics_stream_begin(r->srv->metrics);
		}
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

	if (flush_upload(r, 1) != 0)
		return queue_error(c, upstream_failed(r), 502, "the connection to Docker broke while sending the request body");
	for (int attempt = 0;; attempt++) {
		w = dpp_uconn_read_head(r->uc, r->head_request, r->client_fd, &r->resp);
		if (w == DPP_UWAIT_OK) {
			dpp_metrics_upstream_latency(r->srv->metrics,
						     (uint32_t)(now_ms() - r->t_forwarded));
			break;
		}
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
				return queue_error(c, upstream_failed(r), 502, "cannot reach Docker at %s: %s",
						   dpp_upstream_socket(r->srv->up), err);
			continue;
		}
		return queue_error(c, upstream_failed(r), 502, "the connection to Docker broke before it answered");
	}
	if (!r->head_request && (r->resp.status == 204 || r->resp.status == 304)) {
		char scratch[16];

		(void)dpp_uconn_read_body(r->uc, scratch, sizeof(scratch), -1);
	}
	return queue_forwarded(c, r);
}

/* --- events, metrics ----------------------------------------------------- */

/* Copies src (NULL: "") into dst of len bytes, cut to fit and terminated.
 * Called ~12 times per request for its event: a snprintf("%s") each was
 * ~5% of a small request's instructions (bench/NOTES.md section 10). */
static void copy_str(char *dst, size_t len, const char *src)
{
	size_t n = src != NULL ? strnlen(src, len - 1) : 0;

	memcpy(dst, src != NULL ? src : "", n);
	dst[n] = '\0';
}

static const char *field_get(const struct field_list *l, const char *name);
static void fill_details(const struct request *r, struct dpp_event *ev);

static int is_credential_field(const char *name)
{
	return strcasecmp(name, "Authorization") == 0 ||
	       strcasecmp(name, "Proxy-Authorization") == 0 ||
	       strcasecmp(name, "X-Registry-Auth") == 0 ||
	       strcasecmp(name, "X-Registry-Config") == 0;
}

/* Bounded excerpts for the console: headers (credentials redacted), query,
 * body start, bytes sent, the rule trace. */
static void fill_details(const struct request *r, struct dpp_event *ev)
{
	size_t used = 0;

	ev->bytes_out = r->bytes_out; /* the query is fill_event's */
	for (size_t i = 0; r->fields != NULL && i < r->fields->n; i++) {
		const struct dpp_header *h = &r->fields->f[i];
		const char *v = is_credential_field(h->name) ? "(redacted)" : h->value;
		size_t ln = strlen(h->name), lv = strlen(v);

		/* "Name: value\n" by memcpy (a snprintf per field was hot). */
		if (ln + lv + 3 >= sizeof(ev->headers) - used) {
			ev->headers[used] = '\0'; /* no half field: a cut value could leak */
			break;
		}
		memcpy(ev->headers + used, h->name, ln);
		memcpy(ev->headers + used + ln, ": ", 2);
		memcpy(ev->headers + used + ln + 2, v, lv);
		ev->headers[used + ln + 2 + lv] = '\n';
		used += ln + lv + 3;
		ev->headers[used] = '\0';
	}
	if (r->buf != NULL && r->buf_len > 0 && r->mode != MODE_FORWARD) {
		size_t n = r->buf_len < sizeof(ev->body) - 1 ? r->buf_len : sizeof(ev->body) - 1;

		for (size_t i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)r->buf[i];

			ev->body[i] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
		}
		ev->body[n] = '\0';
	}
	ev->trace = r->dec.trace;
}

static void fill_event(const struct request *r, enum dpp_event_kind kind, int status,
		       const char *rule, const char *action, const char *message,
		       struct dpp_event *ev)
{
	struct timespec ts;

	memset(ev, 0, sizeof(*ev));
	clock_gettime(CLOCK_REALTIME, &ts);
	ev->id = r->id;
	ev->time_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	ev->kind = kind;
	ev->status = status;
	ev->duration_ms = (uint32_t)(now_ms() - r->t_start);
	copy_str(ev->method, sizeof(ev->method), r->method);
	copy_str(ev->path, sizeof(ev->path), r->canon != NULL ? dpp_target_path(r->canon) : r->target);
	if (r->target != NULL && strchr(r->target, '?') != NULL)
		copy_str(ev->query, sizeof(ev->query), strchr(r->target, '?') + 1);
	copy_str(ev->peer_ip, sizeof(ev->peer_ip), r->peer_ip);
	copy_str(ev->client_ip, sizeof(ev->client_ip), r->client_ip);
	copy_str(ev->user_agent, sizeof(ev->user_agent),
		 r->fields != NULL ? field_get(r->fields, "User-Agent") : NULL);
	/* "anonymous" on a failed authentication is no identity (null in the
	 * audit record); a wrong token keeps its token:<hash> for forensics. */
	copy_str(ev->identity, sizeof(ev->identity),
		 r->auth.status != DPP_AUTH_OK &&
				 strcmp(r->auth.identity, DPP_AUTH_IDENTITY_ANONYMOUS) == 0
			 ? NULL
			 : r->auth.identity);
	copy_str(ev->user_role, sizeof(ev->user_role), r->auth.role);
	copy_str(ev->rule_name, sizeof(ev->rule_name), rule);
	copy_str(ev->rule_action, sizeof(ev->rule_action), rule != NULL ? action : NULL);
	copy_str(ev->message, sizeof(ev->message), message);
	ev->dry_run = kind == DPP_EVENT_DRY_RUN;
	ev->bytes_in = r->bytes_in;
	fill_details(r, ev); /* bytes_out and the console's excerpts */
}

static void stream_opened(struct request *r, struct upgrade_ctx *u)
{
	fill_event(r, DPP_EVENT_STREAM_OPEN, 101, r->ev_rule, r->ev_action,
		   "hijacked stream opened", &u->ev);
	u->t_open = now_ms();
	dpp_bus_publish(u->srv->bus, &u->ev);
}

/* Publishes an event now (dry-run, lockout: several per request). */
static void emit(struct request *r, enum dpp_event_kind kind, int status, const char *rule,
		 const char *action, const char *message)
{
	struct dpp_event ev;

	fill_event(r, kind, status, rule, action, message, &ev);
	dpp_bus_publish(r->srv->bus, &ev);
}

static enum MHD_Result serve_metrics(struct MHD_Connection *c, struct request *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *text = NULL;
	size_t len = 0;

	const char *err = NULL;

	if (dpp_metrics_render(r->srv->metrics, &text, &len, &err) != 0)
		return queue_error(c, r, 500, "cannot render the metrics: %s", err != NULL ? err : "error");
	r->bytes_out = len;
	resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(text);
		return queue_error(c, r, 500, "out of memory");
	}
	r->mode = MODE_DONE;
	r->status = 200;
	r->ev_kind = DPP_EVENT_REQUEST;
	if (MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8") != MHD_YES) {
		MHD_destroy_response(resp);
		return queue_error(c, r, 500, "out of memory");
	}
	ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* --- policy --------------------------------------------------------------- */

/* Evaluates the rules. Returns 1 when the request may go on; 0 when a denial
 * was queued (*ret holds MHD's answer). */
static int judge(struct MHD_Connection *c, struct request *r, struct dpp_body_doc *body,
		 enum MHD_Result *ret)
{
	struct dpp_request_view view = {
		.method = r->method,
		.path = dpp_target_path(r->canon),
		.endpoint = r->endpoint,
		.headers = r->fields->f,
		.n_headers = r->fields->n,
		.client_ip = r->client_ip,
		.role = r->auth.role,
		.identity = r->auth.identity,
	};
	struct dpp_policy_decision *d = &r->dec;
	char retry[24];

	dpp_request_view_bind(&view, r->canon, body);
	if (dpp_policy_evaluate(dpp_runtime_rules(r->rt), &view, r->srv->ratelimit,
				dpp_ratelimit_now_ms(), d) != 0)
		dpp_log_error("%s %s: rule evaluation failed (%s): denied", r->method, r->target,
			      d->error != NULL ? d->error : "internal error");
	for (size_t i = 0; i < d->n_dry_run; i++) {
		emit(r, DPP_EVENT_DRY_RUN, 0, d->dry_run[i], d->dry_run_actions[i],
		     d->dry_run_messages[i] != NULL ? d->dry_run_messages[i]
						    : "would have been denied (dry run)");
		dpp_metrics_rule_decision(r->srv->metrics, d->dry_run[i], 1);
	}
	if (d->n_dry_run > 0)
		dpp_metrics_dry_run(r->srv->metrics);
	if (d->rule != NULL)
		dpp_metrics_rule_decision(r->srv->metrics, d->rule, 0);
	if (d->verdict == DPP_POLICY_ALLOW)
		return 1;
	r->ev_rule = d->rule;
	r->ev_action = d->rule_action;
	if (d->rule_action != NULL && strcmp(d->rule_action, "rate_limit") == 0) {
		r->ev_kind = DPP_EVENT_RATE_LIMITED;
		dpp_metrics_rate_limited(r->srv->metrics, d->rule != NULL ? d->rule : "");
		snprintf(retry, sizeof(retry), "%u", d->retry_after > 0 ? d->retry_after : 1);
		/* The rule's status (default 429), with Retry-After either way. */
		*ret = queue_json_error(c, r, (unsigned)(d->status > 0 ? d->status : 429),
					"Retry-After", retry,
					d->message != NULL ? d->message : "rate limit exceeded");
		return 0;
	}
	r->ev_kind = DPP_EVENT_DENY;
	dpp_metrics_denied(r->srv->metrics, d->rule); /* NULL: the default action, "default" */
	*ret = queue_json_error(c, r, (unsigned)(d->status > 0 ? d->status : 403), NULL, NULL,
				d->message != NULL ? d->message : "denied by policy");
	return 0;
}

/* Authenticates; returns 1 to go on, 0 when a refusal was queued. */
static int authenticate(struct MHD_Connection *c, struct request *r, enum MHD_Result *ret)
{
	const char *authz = NULL;
	char retry[24];

	for (size_t i = 0; i < r->fields->n; i++) {
		if (strcasecmp(r->fields->f[i].name, "Authorization") == 0)
			authz = r->fields->f[i].value;
	}
	dpp_auth_authenticate_request(dpp_runtime_auth(r->rt), r->srv->lockout, authz,
				      r->client_ip, dpp_lockout_now_ms(), r->peer, &r->auth);
	if (r->auth.lockout_started) {
		emit(r, DPP_EVENT_LOCKOUT, 429, NULL, NULL,
		     "client address locked out after repeated authentication failures");
		dpp_metrics_lockout(r->srv->metrics);
		dpp_log_warn("client %s locked out for %d s after %d failed authentications",
			     r->client_ip, DPP_LOCKOUT_DURATION_MS / 1000, DPP_LOCKOUT_FAILURES);
	}
	switch (r->auth.status) {
	case DPP_AUTH_OK:
		return 1;
	case DPP_AUTH_LOCKED_OUT:
		r->ev_kind = DPP_EVENT_AUTH_FAILURE;
		dpp_metrics_auth_failure(r->srv->metrics);
		snprintf(retry, sizeof(retry), "%u", r->auth.retry_after_s);
		*ret = queue_json_error(c, r, 429, "Retry-After", retry,
					"too many failed authentications from this address; try again later");
		return 0;
	case DPP_AUTH_MISSING:
	case DPP_AUTH_INVALID:
		r->ev_kind = DPP_EVENT_AUTH_FAILURE;
		dpp_metrics_auth_failure(r->srv->metrics);
		if (dpp_auth_get_type(dpp_runtime_auth(r->rt)) == DPP_AUTH_MTLS) {
			*ret = queue_json_error(c, r, 401, NULL, NULL,
						r->auth.status == DPP_AUTH_MISSING
							? "authentication required: connect with a client certificate issued by the configured client CA"
							: "the client certificate maps to no valid role");
			return 0;
		}
		*ret = queue_json_error(c, r, 401, "WWW-Authenticate",
					dpp_auth_challenge(r->auth.status),
					r->auth.status == DPP_AUTH_MISSING
						? "authentication required: send Authorization: Bearer <token>"
						: "invalid credentials");
		return 0;
	default:
		*ret = queue_error(c, r, 500, "authentication failed internally");
		return 0;
	}
}

/* Allowed: connect, write the head (and a buffered body), and for a body-less
 * or buffered request read Docker's answer. */
static enum MHD_Result forward(struct MHD_Connection *c, struct request *r, long long body_len,
			       int complete)
{
	const char *err = NULL;

	/* Allowed: from here the connection waits on Docker (a stop with a
	 * long grace period, `wait`, a quiet `events` stream) or on a big
	 * upload Docker reads slowly. MHD would count that as client silence
	 * once our callback returns, so its timeout is off until the request
	 * completes (on_completed restores it for the keep-alive wait). */
	r->timeout_off = 1;
	MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned int)0);
	if (build_head(r, r->fields, body_len) != 0)
		return queue_error(c, r, 431, "request header fields too large");
	if (open_upstream(r, 0, &err) != 0) {
		dpp_metrics_upstream_error(r->srv->metrics);
		r->docker_down = 1;
		return queue_error(c, r, 502, "cannot reach Docker at %s: %s",
				   dpp_upstream_socket(r->srv->up), err);
	}
	r->t_forwarded = now_ms();
	if (r->buf_len > 0 && send_body_piece(r, r->buf, r->buf_len) != 0)
		return queue_error(c, upstream_failed(r), 502, "the connection to Docker broke while sending the request body");
	return complete ? finish_request(c, r) : MHD_YES;
}

static const char *const hijack_refusal =
	"docker-policy-proxy relays attach and exec streams only over HTTP Upgrade: send "
	"'Connection: Upgrade' and 'Upgrade: tcp' (every current Docker client does)";

/* A JSON body is complete: parse it as Docker will, judge, forward. */
static enum MHD_Result finish_buffered(struct MHD_Connection *c, struct request *r)
{
	struct dpp_body_doc *doc = NULL;
	char *err = NULL;
	enum MHD_Result ret = MHD_NO;
	enum dpp_body_status st;
	st = dpp_body_parse(r->buf != NULL ? r->buf : "", r->buf_len, DPP_BODY_DEFAULT_MAX_DEPTH,
			    &doc, &err);
	if (st == DPP_BODY_NOMEM) {
		ret = queue_error(c, r, 500, "out of memory reading the request body");
		goto cleanup;
	}
	if (st == DPP_BODY_INVALID) {
		ret = queue_error(c, r, 400, "invalid JSON request body: %s",
				  err != NULL ? err : "cannot parse");
		goto cleanup;
	}
	if (st == DPP_BODY_OK && is_endpoint(r, DPP_EP_CONTAINER_CREATE)) {
		free(err);
		err = NULL;
		if (dpp_body_check_create(doc, &err) != 0) {
			ret = queue_error(c, r, 400, "refused container create body: %s",
					  err != NULL ? err : "ambiguous fields");
			goto cleanup;
		}
	}
	if (r->is_exec_start_plain) {
		static const char *const detach[] = {"Detach"};
		const cJSON *d = doc != NULL ? dpp_body_lookup(doc, detach, 1) : NULL;

		if (!cJSON_IsTrue(d)) {
			ret = queue_error(c, r, 400, "%s", hijack_refusal);
			goto cleanup;
		}
	}
	if (!judge(c, r, doc, &ret))
		goto cleanup;
	r->chunked = 0; /* the whole body is known: send it with a length */
	ret = forward(c, r, (long long)r->buf_len, 1);
cleanup:
	free(err);
	dpp_body_free(doc);
	return ret;
}

static struct dpp_runtime *current_runtime(struct dpp_server *srv)
{
	struct dpp_runtime *rt;

	pthread_mutex_lock(&srv->rt_lock);
	rt = dpp_runtime_ref(srv->rt);
	pthread_mutex_unlock(&srv->rt_lock);
	return rt;
}

static void addr_text(const struct sockaddr *sa, char *out, size_t len);

static void peer_address(struct MHD_Connection *c, char *out, size_t len)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	addr_text(ci != NULL ? ci->client_addr : NULL, out, len);
}

static const char *field_get(const struct field_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++) {
		if (strcasecmp(l->f[i].name, name) == 0)
			return l->f[i].value;
	}
	return NULL;
}

static enum MHD_Result start_request(struct MHD_Connection *c, struct request *r,
				     const char *method, const char *version)
{
	const union MHD_ConnectionInfo *ci;
	const struct dpp_settings *set;
	const char *reason = NULL, *connection, *upgrade, *ctype, *path, *ref;
	char peer[64];
	enum MHD_Result ret = MHD_NO;
	enum dpp_body_kind kind;
	enum dpp_form_kind form;
	size_t ref_len;

	r->started = 1;
	r->method = method;
	r->t_start = now_ms();
	r->id = atomic_fetch_add(&r->srv->next_id, 1) + 1;
	atomic_fetch_add(&r->srv->inflight, 1);
	r->head_request = strcmp(method, "HEAD") == 0;
	r->http11 = strcmp(version, MHD_HTTP_VERSION_1_1) == 0;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	r->client_fd = ci != NULL ? ci->connect_fd : -1;
	dpp_watch_busy(r->srv->watch, r->client_fd); /* the head arrived in time */
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	r->peer = ci != NULL ? ci->socket_context : NULL;
	r->rt = current_runtime(r->srv);
	set = dpp_runtime_settings(r->rt);
	peer_address(c, peer, sizeof(peer));
	copy_str(r->peer_ip, sizeof(r->peer_ip), peer);
	r->fields = calloc(1, sizeof(*r->fields));
	if (r->fields == NULL)
		return queue_error(c, r, 500, "out of memory");
	MHD_get_connection_values(c, MHD_HEADER_KIND, collect_field, r->fields);
	dpp_runtime_client_ip(r->rt, peer, field_get(r->fields, "X-Forwarded-For"), r->client_ip,
			      sizeof(r->client_ip));
	if (dpp_upstream_draining(r->srv->up))
		return queue_error(c, r, 503, "docker-policy-proxy is shutting down");
	if (r->fields->overflow)
		return queue_error(c, r, 431, "too many request header fields");
	if (dpp_headers_check_fields(r->fields->f, r->fields->n, &reason) != 0)
		return queue_error(c, r, 400, "bad request header: %s", reason);
	if (dpp_headers_check_framing(r->fields->f, r->fields->n, &r->content_length, &r->chunked,
				      &reason) != 0)
		return queue_error(c, r, 400, "bad request framing: %s", reason);
	r->has_body = r->content_length > 0 || r->chunked;
	if (dpp_canon_parse(r->target, strlen(r->target), &r->canon, &reason) != 0)
		return queue_error(c, r, 400, "refused request target: %s",
				   reason != NULL ? reason : "invalid");
	path = dpp_target_path(r->canon);
	dpp_route_match(method, path, dpp_target_version_prefix(r->canon)[0] != '\0', &r->route);
	r->endpoint = r->route.route != NULL ? r->route.route->endpoint : NULL;
	/* The metrics path is the proxy's own: never forwarded, whatever the method. */
	if (set->metrics_enabled && dpp_target_version(r->canon)[0] == '\0' &&
	    strcmp(path, set->metrics_path) == 0) {
		if ((strcmp(method, "GET") != 0 && !r->head_request) || r->has_body)
			return queue_json_error(c, r, 405, "Allow", "GET, HEAD",
						"only GET and HEAD are allowed on the metrics path");
		return serve_metrics(c, r);
	}
	if (!authenticate(c, r, &ret))
		return ret;

	/* dockerd's {name:.*} is greedy: "/containers/PARENT/alias/start" starts
	 * the container a legacy link alias names. No current client sends such
	 * a path, and rules written as "^/containers/[^/]+/start$" would miss it. */
	if (dpp_route_bad_reference(&r->route, path, &ref, &ref_len))
		return queue_error(c, r, 400,
				   "refused container reference \"%.*s\": it contains '/' (a legacy link alias); address the container by its name or ID",
				   (int)(ref_len > 256 ? 256 : ref_len), ref);
	connection = field_get(r->fields, "Connection");
	upgrade = field_get(r->fields, "Upgrade");
	/* Only routes that switch protocols get the Upgrade request; elsewhere
	 * it is ignored (RFC 9110 7.8) and not forwarded. */
	if (upgrade != NULL && dpp_headers_list_has(connection, "upgrade") &&
	    (route_flags(r) & DPP_ROUTE_UPGRADE)) {
		if (strcmp(version, MHD_HTTP_VERSION_1_1) != 0)
			return queue_error(c, r, 400, "protocol upgrade needs HTTP/1.1");
		r->upgrade = upgrade;
		r->streaming = 1;
	}
	if ((route_flags(r) & DPP_ROUTE_HIJACK) && r->upgrade == NULL) {
		if (!is_endpoint(r, DPP_EP_EXEC_START) || !r->has_body)
			return queue_error(c, r, 400, "%s", hijack_refusal);
		r->is_exec_start_plain = 1; /* allowed only with "Detach": true */
	}
	/* Go's ParseForm merges a urlencoded body into the form Docker reads
	 * query parameters from, and r.FormValue reads multipart fields: the
	 * rules would not see those values. The media type is read as Go's
	 * mime.ParseMediaType reads it (Unicode spaces and case). */
	ctype = field_get(r->fields, "Content-Type");
	form = dpp_media_form_kind(ctype);
	if (form == DPP_FORM_MULTIPART)
		return queue_error(c, r, 400, "multipart/form-data request bodies are refused (Docker would read form fields from them instead of the query parameters)");
	if (r->endpoint == NULL || (route_flags(r) & DPP_ROUTE_FORM)) {
		if (form == DPP_FORM_URLENCODED)
			return queue_error(c, r, 400, "urlencoded request bodies are refused (Docker would merge them into the query parameters)");
		if (!dpp_media_printable(ctype))
			return queue_error(c, r, 400, "refused Content-Type: only printable ASCII is accepted (Docker reads it with Unicode rules)");
	}
	if (is_endpoint(r, DPP_EP_CONTAINER_START) && r->has_body)
		return queue_error(c, r, 400, "a request body on container start is refused (old API versions read it as host configuration)");
	kind = dpp_body_kind_endpoint(method, r->endpoint);
	if (kind == DPP_BODY_NONE && r->has_body)
		return queue_error(c, r, 400, "a request body is not allowed on %s", method);
	if (kind == DPP_BODY_JSON && r->has_body) {
		if (r->content_length > set->max_body_bytes)
			return queue_error(c, r, 413, "request body larger than %d bytes (global.max_body_bytes)",
					   set->max_body_bytes);
		r->mode = MODE_BUFFER; /* judged once the whole body is here */
		/* A JSON body the proxy holds before anything is forwarded is due
		 * within the head deadline too, counted from the head: a client
		 * dripping it a byte at a time is never silent, so MHD's timeout
		 * alone would let it hold a thread for ever (slowloris bodies). */
		dpp_watch_waiting(r->srv->watch, r->client_fd);
		return MHD_YES;
	}
	r->defer_denial = r->has_body;
	if (!judge(c, r, NULL, &ret))
		return ret;
	r->defer_denial = 0;
	r->streaming |= is_stream_endpoint(r);
	/* Streamed bodies (build context, archive, image load) keep their
	 * framing: a length, or chunked. */
	/* Docker's answer is queued in a later call even without a body: MHD
	 * closes the connection after a response queued in the first call. */
	return forward(c, r, r->chunked ? -1 : (r->content_length >= 0 ? r->content_length : -1), 0);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	struct request *r = *req_cls;

	(void)cls;
	(void)url; /* already percent-decoded by MHD: the raw target is used instead */
	if (r == NULL)
		return MHD_NO; /* out of memory in the URI callback */
	if (!r->started)
		return start_request(c, r, method, version);
	r->bytes_in += *upload_data_size;
	if (r->mode == MODE_DONE) {
		*upload_data_size = 0; /* a response is queued; MHD discards the rest */
		return MHD_YES;
	}
	if (r->mode == MODE_DRAIN) {
		struct MHD_Response *resp = r->deferred;
		enum MHD_Result ret;

		r->drained += (long long)*upload_data_size;
		if (*upload_data_size > 0 && r->drained <= DRAIN_MAX_BYTES) {
			*upload_data_size = 0;
			return MHD_YES;
		}
		*upload_data_size = 0;
		r->deferred = NULL;
		r->mode = MODE_DONE;
		ret = MHD_queue_response(c, r->deferred_status, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (r->mode == MODE_BUFFER) {
			size_t max = (size_t)dpp_runtime_settings(r->rt)->max_body_bytes;
			char *nb;

			if (r->too_large || r->buf_len + n > max) {
				/* A chunked body: its length was not known up front. */
				r->too_large = 1;
				r->discarded += n;
				free(r->buf);
				r->buf = NULL;
				r->buf_len = 0;
				if (r->discarded > DISCARD_MAX) {
					r->status = 413;
					r->ev_kind = DPP_EVENT_ERROR;
					snprintf(r->ev_message, sizeof(r->ev_message),
						 "request body larger than %zu bytes (global.max_body_bytes); connection closed after %llu more bytes",
						 max, DISCARD_MAX);
					dpp_log_warn("%s %s: %s", r->method, r->target, r->ev_message);
					dpp_metrics_body_too_large(r->srv->metrics);
					return MHD_NO;
				}
				return MHD_YES;
			}
			nb = realloc(r->buf, r->buf_len + n);
			if (nb == NULL)
				return queue_error(c, r, 500, "out of memory");
			r->buf = nb;
			memcpy(r->buf + r->buf_len, upload_data, n);
			r->buf_len += n;
			return MHD_YES;
		}
		if (stage_body_piece(r, upload_data, n) != 0)
			return queue_error(c, upstream_failed(r), 502,
					   "the connection to Docker broke while sending the request body");
		return MHD_YES;
	}
	if (r->mode == MODE_BUFFER)
		dpp_watch_busy(r->srv->watch, r->client_fd); /* the whole body arrived in time */
	if (r->mode == MODE_BUFFER && r->too_large)
		return queue_error(c, r, 413, "request body larger than %d bytes (global.max_body_bytes)",
				   dpp_runtime_settings(r->rt)->max_body_bytes);
	if (r->mode == MODE_BUFFER)
		return finish_buffered(c, r);
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
	r->ev_kind = DPP_EVENT_REQUEST;
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

	if (r == NULL)
		return;
	if (toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED)
		dpp_metrics_request_timeout(srv->metrics); /* silent mid-request (client_timeout) */
	if (r->timeout_off && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, srv->client_timeout_s);
	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK && r->client_fd >= 0 && !r->upgrade_taken)
		dpp_watch_waiting(srv->watch, r->client_fd); /* keep-alive: the next head is due */
	if (r->started) {
		struct dpp_event ev;

		atomic_fetch_sub(&srv->inflight, 1);
		atomic_fetch_add(&srv->n_done, 1);
		if (r->ev_kind == DPP_EVENT_DENY || r->ev_kind == DPP_EVENT_RATE_LIMITED ||
		    r->ev_kind == DPP_EVENT_AUTH_FAILURE)
			atomic_fetch_add(&srv->n_denied, 1);
		fill_event(r, r->ev_kind, r->status, r->ev_rule, r->ev_action, r->ev_message, &ev);
		dpp_bus_publish(srv->bus, &ev);
		dpp_metrics_request_done(srv->metrics, r->method, r->status, ev.duration_ms);
		if (r->ev_kind == DPP_EVENT_REQUEST)
			dpp_metrics_allowed(srv->metrics);
		if (r->stream_counted)
			dpp_metrics_stream_end(srv->metrics);
		dpp_log_debug("%s %s -> %d (%u ms)%s", r->method, r->target, r->status,
			      ev.duration_ms,
			      toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : ", ended early");
	}
	if (r->up_ctx != NULL && !r->upgrade_taken) {
		close(r->up_ctx->upstream_fd);
		free(r->up_ctx->extra);
		free(r->up_ctx);
	}
	reusable = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK && r->uc != NULL &&
		   dpp_uconn_complete(r->uc);
	dpp_upstream_release(srv->up, r->uc, reusable);
	dpp_policy_decision_done(&r->dec);
	dpp_target_free(r->canon);
	dpp_runtime_unref(r->rt);
	free(r->fields);
	free(r->head);
	free(r->buf);
	free(r->stage);
	free(r->target);
	if (r->deferred != NULL)
		MHD_destroy_response(r->deferred); /* the client left during the drain */
	free(r);
	*req_cls = NULL;
}

/* Registers the identity of a connection about to be added to MHD. */
static int pending_add(struct dpp_server *srv, int fd, const struct dpp_peer *peer)
{
	int rc = -1;

	pthread_mutex_lock(&srv->pending_lock);
	if (srv->n_pending < PENDING_PEERS_MAX) {
		srv->pending[srv->n_pending].fd = fd;
		srv->pending[srv->n_pending].peer = *peer;
		srv->n_pending++;
		rc = 0;
	}
	pthread_mutex_unlock(&srv->pending_lock);
	return rc;
}

/* Takes the identity registered for fd; returns a malloc'd copy or NULL. */
static struct dpp_peer *pending_take(struct dpp_server *srv, int fd)
{
	struct dpp_peer *copy = NULL;

	pthread_mutex_lock(&srv->pending_lock);
	for (size_t i = 0; i < srv->n_pending; i++) {
		if (srv->pending[i].fd != fd)
			continue;
		copy = malloc(sizeof(*copy));
		if (copy != NULL)
			*copy = srv->pending[i].peer;
		srv->pending[i] = srv->pending[--srv->n_pending];
		break;
	}
	pthread_mutex_unlock(&srv->pending_lock);
	return copy;
}

/* Any thread: hands an accepted (plaintext) connection to MHD with the
 * identity the transport established. Returns 0 when MHD took fd. */
static int hand_off(void *ctx, int fd, const struct sockaddr *addr, socklen_t len,
		    const struct dpp_peer *peer)
{
	struct dpp_server *srv = ctx;

	if (dpp_upstream_draining(srv->up) || pending_add(srv, fd, peer) != 0) {
		close(fd);
		return -1;
	}
	if (MHD_add_connection(srv->mhd, fd, addr, len) != MHD_YES) {
		/* MHD closed fd itself on failure. */
		struct dpp_peer *p = pending_take(srv, fd);

		free(p);
		dpp_log_warn("cannot hand a connection to the HTTP server: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void addr_text(const struct sockaddr *sa, char *out, size_t len)
{
	out[0] = '\0';
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		/* Dotted decimal as inet_ntop writes it, without its sprintf
		 * (once per request). */
		const unsigned char *b = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
		char t[16];
		size_t n = 0;

		for (int i = 0; i < 4; i++) {
			if (b[i] >= 100)
				t[n++] = (char)('0' + b[i] / 100);
			if (b[i] >= 10)
				t[n++] = (char)('0' + b[i] / 10 % 10);
			t[n++] = (char)('0' + b[i] % 10);
			t[n++] = i < 3 ? '.' : '\0';
		}
		if (n <= len)
			memcpy(out, t, n);
	} else if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)len);
	}
}

/* TLS connection thread: the handshake and certificate check passed. */
static int tls_hand_off(void *ctx, int plain_fd, const struct sockaddr *addr, socklen_t len,
			const struct dpp_peer *id, void **token)
{
	(void)token;
	return hand_off(ctx, plain_fd, addr, len, id);
}

/* A TLS client was refused before HTTP (bad or missing certificate, failed
 * handshake): logged and audited as an authentication failure. */
static void tls_rejected(void *ctx, const struct sockaddr *addr, socklen_t len, const char *reason)
{
	struct dpp_server *srv = ctx;
	struct dpp_event ev;
	struct timespec ts;
	char ip[64];

	(void)len;
	addr_text(addr, ip, sizeof(ip));
	if (strcmp(reason, DPP_TLS_REASON_TOO_MANY) == 0) {
		/* A flood: counted and logged at most every 10 s, not audited
		 * one by one (that would flood the audit queue instead). */
		long long now = now_ms();

		atomic_fetch_add(&srv->tls_refusals_suppressed, 1);
		if (now - atomic_load(&srv->tls_refusal_logged_ms) >= 10000) {
			atomic_store(&srv->tls_refusal_logged_ms, now);
			dpp_log_warn("TLS connections refused: too many connections (global.max_connections); %d refused since the last report, latest from %s",
				     atomic_exchange(&srv->tls_refusals_suppressed, 0), ip[0] != '\0' ? ip : "?");
		}
		return;
	}
	memset(&ev, 0, sizeof(ev));
	clock_gettime(CLOCK_REALTIME, &ts);
	ev.time_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	ev.kind = DPP_EVENT_AUTH_FAILURE;
	copy_str(ev.peer_ip, sizeof(ev.peer_ip), ip);
	copy_str(ev.client_ip, sizeof(ev.client_ip), ip);
	snprintf(ev.message, sizeof(ev.message), "TLS connection refused: %s", reason);
	dpp_bus_publish(srv->bus, &ev);
	dpp_metrics_auth_failure(srv->metrics);
	dpp_log_warn("TLS connection from %s refused: %s", ip[0] != '\0' ? ip : "?", reason);
}

void dpp_server_swap_tls(struct dpp_server *srv, struct dpp_tls_creds *creds)
{
	if (srv->tls != NULL)
		dpp_tls_swap_creds(srv->tls, creds);
}

int dpp_server_has_tls(const struct dpp_server *srv) { return srv->tls != NULL; }

/* STARTED: attach the transport identity (if any) to the connection; it is
 * taken before MHD can close (and the kernel reuse) the fd. CLOSED: free it. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct dpp_server *srv = cls;

	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	int fd = ci != NULL ? ci->connect_fd : -1;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		*socket_context = fd >= 0 ? pending_take(srv, fd) : NULL;
		dpp_watch_waiting(srv->watch, fd);
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		dpp_watch_forget(srv->watch, fd);
		free(*socket_context);
		*socket_context = NULL;
	}
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
	if (fd < 0 && *is_v6 && strcmp(bind_addr, "::") == 0 && errno == EAFNOSUPPORT) {
		/* "::" means every address: on a host without IPv6 that is 0.0.0.0. */
		dpp_log_warn("this host has no IPv6: listening on 0.0.0.0:%d (IPv4 only) instead of [::]:%d",
			     port, port);
		return open_listener("0.0.0.0", port, is_v6, err);
	}
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

static void collect_sub(void *arg, const char *name, uint64_t dropped)
{
	struct dpp_metrics *m = arg;

	dpp_metrics_set_bus_dropped(m, name, dropped);
	if (strcmp(name, "audit") == 0)
		dpp_metrics_set_audit_dropped(m, dropped);
}

/* At each scrape: drop counters owned by the bus subscriptions. */
static void collect_metrics(struct dpp_metrics *m, void *arg)
{
	struct dpp_server *srv = arg;

	dpp_bus_foreach_sub(srv->bus, collect_sub, m);
	dpp_metrics_set_head_timeouts(m, dpp_watch_cut_total(srv->watch));
}

static void free_parts(struct dpp_server *srv)
{
	dpp_hijacks_free(srv->hijacks);
	dpp_upstream_free(srv->up);
	dpp_runtime_unref(srv->rt);
	dpp_bus_free(srv->bus);
	dpp_metrics_free(srv->metrics);
	dpp_ratelimit_free(srv->ratelimit);
	dpp_lockout_free(srv->lockout);
	dpp_watch_stop(srv->watch);
	if (srv->rt_lock_ok)
		pthread_mutex_destroy(&srv->rt_lock);
	if (srv->pending_lock_ok)
		pthread_mutex_destroy(&srv->pending_lock);
	free(srv->pending);
	free(srv);
}

int dpp_server_start(const struct dpp_server_options *opts, struct dpp_server **out, char **err)
{
	struct dpp_server *srv = calloc(1, sizeof(*srv));
	/* poll(), not select(): no FD_SETSIZE ceiling on connections. */
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			     MHD_ALLOW_UPGRADE | MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_USE_POLL;
	int is_v6 = 0, attached = 0;
	const char *berr = NULL;
	int max_conn = opts->max_connections > 0 ? opts->max_connections : DEFAULT_CONNECTION_LIMIT;

	*out = NULL;
	*err = NULL;
	if (srv == NULL)
		goto oom;
	srv->listen_fd = -1;
	snprintf(srv->bind, sizeof(srv->bind), "%s", opts->bind);
	srv->port = opts->port;
	srv->client_timeout_s = (unsigned int)opts->client_timeout_s;
	atomic_store(&srv->docker_up, opts->docker_up ? 1 : 0);
	srv->up = dpp_upstream_create(opts->socket_path, POOL_IDLE_MAX);
	srv->hijacks = dpp_hijacks_create();
	if (srv->up == NULL || srv->hijacks == NULL)
		goto oom;
	if (pthread_mutex_init(&srv->rt_lock, NULL) != 0)
		goto oom;
	srv->rt_lock_ok = 1;
	if (pthread_mutex_init(&srv->pending_lock, NULL) != 0)
		goto oom;
	srv->pending_lock_ok = 1;
	srv->pending = calloc(PENDING_PEERS_MAX, sizeof(*srv->pending));
	if (srv->pending == NULL)
		goto oom;
	srv->rt = dpp_runtime_ref(opts->rt);
	srv->bus = dpp_bus_create(&berr);
	srv->metrics = dpp_metrics_create(&berr);
	srv->ratelimit = dpp_ratelimit_create(RATELIMIT_BUCKETS);
	srv->lockout = dpp_lockout_create(0);
	srv->watch = dpp_watch_start(opts->client_timeout_s);
	if (srv->watch == NULL)
		goto oom;
	if (srv->bus == NULL || srv->metrics == NULL || srv->ratelimit == NULL ||
	    srv->lockout == NULL)
		goto oom;
	dpp_metrics_set_up(srv->metrics, opts->docker_up);
	dpp_metrics_set_collector(srv->metrics, collect_metrics, srv);
	if (opts->listen_fd > 0) {
		/* Socket activation: systemd bound and listens; we only serve. */
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		if (getsockname(opts->listen_fd, (struct sockaddr *)&ss, &sl) != 0) {
			if (asprintf(err, "the socket passed by systemd is unusable: %s",
				     strerror(errno)) < 0)
				*err = NULL;
			goto fail;
		}
		srv->listen_fd = opts->listen_fd;
		is_v6 = ss.ss_family == AF_INET6;
	} else {
		srv->listen_fd = open_listener(opts->bind, opts->port, &is_v6, err);
	}
	if (srv->listen_fd < 0)
		goto fail;
	if (opts->attach != NULL) {
		attached = 1;
		if (opts->attach(opts->attach_arg, srv->bus, srv->metrics) != 0) {
			if (asprintf(err, "cannot start the event subscribers") < 0)
				*err = NULL;
			goto fail;
		}
	}
	if (is_v6)
		flags |= MHD_USE_IPv6;
	/* With TLS the TCP socket belongs to the TLS acceptor: MHD only gets
	 * the plaintext ends of socketpairs (MHD_add_connection). */
	if (opts->tls_creds != NULL)
		flags |= MHD_USE_NO_LISTEN_SOCKET;
	srv->mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
		/* Without TLS MHD accepts on our socket; with TLS this slot
		 * repeats the connection limit instead. */
		opts->tls_creds != NULL ? MHD_OPTION_CONNECTION_LIMIT : MHD_OPTION_LISTEN_SOCKET,
		opts->tls_creds != NULL ? max_conn : srv->listen_fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)max_conn,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)opts->max_connections_per_ip,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
		srv, MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
		/* Applies only while MHD waits for the client (headers, body,
		 * idle keep-alive): a quiet `events` or `logs -f` stream runs
		 * inside our response callback and is never cut by it. */
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)opts->client_timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_POOL,
		MHD_OPTION_END);
	if (srv->mhd == NULL) {
		if (asprintf(err, "cannot start the HTTP server on %s:%d", opts->bind, opts->port) < 0)
			*err = NULL;
		goto fail;
	}
	if (opts->tls_creds != NULL) {
		struct dpp_tls_handler h = {
			.hand_off = tls_hand_off, .rejected = tls_rejected, .ctx = srv,
		};
		int lfd = srv->listen_fd;

		srv->listen_fd = -1; /* the TLS acceptor owns it, even on failure */
		if (dpp_tls_start(lfd, opts->tls_creds, &h, &srv->tls, err) != 0) {
			MHD_stop_daemon(srv->mhd);
			srv->mhd = NULL;
			goto fail;
		}
	}
	if (opts->listen_unix != NULL && opts->listen_unix[0] != '\0' &&
	    dpp_unix_listen_start(opts->listen_unix, opts->listen_unix_mode,
				  opts->listen_unix_group, hand_off, srv, &srv->unix_listener,
				  err) != 0) {
		dpp_tls_stop(srv->tls);
		srv->tls = NULL;
		MHD_stop_daemon(srv->mhd);
		srv->mhd = NULL;
		srv->listen_fd = -1; /* MHD closed it */
		goto fail;
	}
	*out = srv;
	return 0;
oom:
	if (asprintf(err, "out of memory") < 0)
		*err = NULL;
fail:
	if (attached && opts->detach != NULL)
		opts->detach(opts->attach_arg);
	if (srv != NULL) {
		if (srv->listen_fd >= 0)
			close(srv->listen_fd);
		free_parts(srv);
	}
	return -1;
}

void dpp_server_swap_runtime(struct dpp_server *srv, struct dpp_runtime *rt)
{
	struct dpp_runtime *old;

	dpp_runtime_ref(rt);
	pthread_mutex_lock(&srv->rt_lock);
	old = srv->rt;
	if (old != rt)
		dpp_ruleset_carry_stats(dpp_runtime_rules(rt), dpp_runtime_rules(old));
	srv->rt = rt;
	pthread_mutex_unlock(&srv->rt_lock);
	if (dpp_ruleset_retain_buckets(dpp_runtime_rules(rt), srv->ratelimit) < 0)
		dpp_log_warn("reload: could not prune rate-limit buckets");
	dpp_runtime_unref(old);
}

struct dpp_bus *dpp_server_bus(struct dpp_server *srv) { return srv->bus; }
struct dpp_ratelimit *dpp_server_ratelimit(struct dpp_server *srv) { return srv->ratelimit; }
struct dpp_lockout *dpp_server_lockout(struct dpp_server *srv) { return srv->lockout; }
int dpp_server_streams(struct dpp_server *srv) { return dpp_hijacks_active(srv->hijacks); }
int dpp_server_docker_up(struct dpp_server *srv) { return atomic_load(&srv->docker_up); }

void dpp_server_counts(struct dpp_server *srv, uint64_t *requests, uint64_t *denials)
{
	*requests = atomic_load(&srv->n_done);
	*denials = atomic_load(&srv->n_denied);
}

struct dpp_runtime *dpp_server_runtime(struct dpp_server *srv)
{
	struct dpp_runtime *rt;

	pthread_mutex_lock(&srv->rt_lock);
	rt = dpp_runtime_ref(srv->rt);
	pthread_mutex_unlock(&srv->rt_lock);
	return rt;
}
struct dpp_metrics *dpp_server_metrics(struct dpp_server *srv) { return srv->metrics; }

int dpp_server_stop_accepting(struct dpp_server *srv, int grace_ms)
{
	long long deadline;
	int cut = 0;
	MHD_socket lfd;

	if (srv == NULL)
		return 0;
	dpp_unix_listen_stop(srv->unix_listener);
	srv->unix_listener = NULL;
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
	dpp_tls_stop(srv->tls); /* ends the TLS side of every remaining connection */
	srv->tls = NULL;
	if (dpp_hijacks_wait(srv->hijacks, 5000) != 0)
		dpp_log_warn("some hijacked streams did not end in time");
	MHD_stop_daemon(srv->mhd);
	srv->mhd = NULL;
	return cut;
}

void dpp_server_free(struct dpp_server *srv)
{
	if (srv == NULL)
		return;
	if (srv->mhd != NULL)
		(void)dpp_server_stop_accepting(srv, 0);
	free_parts(srv);
}
