/* HTTP/1.1 client for the Docker Engine's Unix socket: connection pool,
 * request writing, response parsing (Debian's libhttp-parser) and streaming
 * body reads that watch the client side and the shutdown state.
 *
 * Why not libcurl: it cannot relay Docker's 101 hijack (see
 * docs/PROTOCOL-NOTES.md). */
#ifndef DPP_UPSTREAM_H
#define DPP_UPSTREAM_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "dpp/headers.h"

#define DPP_UPSTREAM_HEAD_MAX (256 * 1024) /* bytes of response head accepted */
#define DPP_UPSTREAM_MAX_FIELDS 128

struct dpp_upstream; /* the socket path + idle pool; thread-safe */
struct dpp_uconn;    /* one connection; owned by one thread at a time */

/* Parsed response head. Strings point into the connection's buffer and stay
 * valid until the connection is released or the next head is read. */
struct dpp_uresponse {
	int status;
	int http_major, http_minor;
	struct dpp_header fields[DPP_UPSTREAM_MAX_FIELDS];
	size_t n_fields;
	long long content_length; /* -1 when the body is chunked or read to EOF */
	int upgrade;              /* 101 Switching Protocols */
	int keep_alive;
};

/* Why a blocking call returned early. */
enum dpp_uwait {
	DPP_UWAIT_OK = 0,
	DPP_UWAIT_ERROR = -1,       /* upstream I/O or protocol error */
	DPP_UWAIT_CLIENT_GONE = -2, /* the client hung up */
	DPP_UWAIT_STOPPED = -3,     /* shutdown asked streams to end */
};

/* Creates a pool for `socket_path` (copied). max_idle: idle connections kept.
 * Returns NULL on allocation failure. */
struct dpp_upstream *dpp_upstream_create(const char *socket_path, size_t max_idle);
/* Frees the pool and its idle connections; connections still acquired must
 * have been released. NULL is a no-op. */
void dpp_upstream_free(struct dpp_upstream *up);
/* The socket path (borrowed, valid until dpp_upstream_free). Thread-safe. */
const char *dpp_upstream_socket(const struct dpp_upstream *up);

/* Shutdown phases, read by every blocking call. draining: streams (connections
 * marked with dpp_uconn_set_stream) end at their next wait, busy or not; other
 * responses end once their body has been silent for 500 ms; requests still
 * waiting for their response head and busy transfers go on (the shutdown
 * grace); stopping: everything ends. Thread-safe (atomics). */
void dpp_upstream_set_draining(struct dpp_upstream *up);
void dpp_upstream_set_stopping(struct dpp_upstream *up);
int dpp_upstream_stopping(const struct dpp_upstream *up);
int dpp_upstream_draining(const struct dpp_upstream *up);

/* Takes an idle pooled connection that still looks alive, or connects anew.
 * *reused is 1 for a pooled one (a request without body may be retried once
 * on a fresh connection if it fails before any response byte). Returns 0, or
 * -1 with *err set to a static description (errno kept). Thread-safe. */
int dpp_upstream_acquire(struct dpp_upstream *up, struct dpp_uconn **out, int *reused,
			 const char **err);

/* Always connects anew (bypassing the pool). Same returns as acquire. */
int dpp_upstream_connect(struct dpp_upstream *up, struct dpp_uconn **out, const char **err);

/* Gives a connection back: pooled when `reusable` and its last response was
 * complete and keep-alive, else closed. Takes ownership. NULL is a no-op.
 * Thread-safe (the pool has its own mutex). */
void dpp_upstream_release(struct dpp_upstream *up, struct dpp_uconn *c, int reusable);

/* Writes all of buf (blocking: Docker's reading pace is the backpressure).
 * Returns 0 or -1 (errno set). */
int dpp_uconn_write(struct dpp_uconn *c, const void *buf, size_t len);

/* Like dpp_uconn_write for n_iov pieces in order, in as few sendmsg calls as
 * the socket takes. The iovec array is modified (consumed). Returns 0 or -1. */
int dpp_uconn_writev(struct dpp_uconn *c, struct iovec *iov, int n_iov);

/* Reads and parses a response head. head_request: the request was HEAD (no
 * body follows, RFC 9112 section 6.3). client_fd: watched for hang-up while
 * waiting (-1 for none), noticed within one 250 ms wait slice. Interim 1xx responses other than 101 are skipped.
 * Returns DPP_UWAIT_OK with *resp filled, or a negative dpp_uwait. */
int dpp_uconn_read_head(struct dpp_uconn *c, int head_request, int client_fd,
			struct dpp_uresponse *resp);

/* Reads the next piece of response body into buf (up to max bytes), blocking
 * until data arrives; client_fd is watched for hang-up (-1: nobody to watch),
 * noticed within one 250 ms wait slice.
 * Returns bytes (> 0), 0 at the end of the message, or a negative dpp_uwait.
 * Only the thread that holds the connection may call it. */
ssize_t dpp_uconn_read_body(struct dpp_uconn *c, char *buf, size_t max, int client_fd);

/* 1 when the last response was read completely (safe to reuse if keep-alive). */
int dpp_uconn_complete(const struct dpp_uconn *c);

/* After a 101: moves out the file descriptor and copies the bytes that already
 * followed the head (they belong to the raw stream) into a malloc'd buffer
 * (*extra, caller frees; NULL when none). The connection object is freed.
 * Returns the fd, or -1 on allocation failure (everything closed). */
int dpp_uconn_take_stream(struct dpp_uconn *c, char **extra, size_t *extra_len);

/* Marks the connection as carrying a response that never ends by itself
 * (`events`, `logs -f`, `stats`): once the upstream drains, its next wait ends
 * it (within one 250 ms poll slice), instead of the shutdown grace that plain
 * requests get (README: SIGTERM ends such streams at once). Reset by
 * acquire/connect. Not thread-safe: call from the thread that owns c. */
void dpp_uconn_set_stream(struct dpp_uconn *c, int stream);

/* GETs `target` on a fresh connection and returns the body (malloc'd,
 * NUL-terminated, at most max bytes; caller frees) for start-up checks such
 * as /version; a longer body is cut at max bytes. Gives up after timeout_ms
 * (a daemon that accepts but never answers must not hang start-up). Returns the
 * HTTP status, or -1 on failure with *err set to a static message.
 * Thread-safe. */
int dpp_upstream_get(struct dpp_upstream *up, const char *target, size_t max, int timeout_ms,
		     char **body, const char **err);

/* Asks the Docker Engine on socket_path for GET /version (Engine API
 * SystemVersion) on a fresh connection and writes "Docker VERSION, API
 * APIVERSION" into desc (len bytes, cut to fit; "?" for a missing field).
 * Returns the HTTP status (200: desc filled), or -1 when Docker did not
 * answer within timeout_ms, with *err a static reason. Thread-safe. */
int dpp_upstream_docker_version(const char *socket_path, int timeout_ms, char *desc, size_t len,
				const char **err);

/* After a partial sendmsg(2) of n bytes: drops the iovecs that went and
 * moves into the one cut short, so the next sendmsg resumes exactly there.
 * Changes *m's iov pointer, count and the current iovec (caller's). */
struct msghdr;
void dpp_msg_consume(struct msghdr *m, size_t n);

#endif
