/* Upstream client for the Docker socket. Lock order: only pool_lock, never
 * held while doing I/O. */
#include "dpp/upstream.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <http_parser.h>

#define RBUF_SIZE (64 * 1024)
#define POLL_SLICE_MS 250
#define DRAIN_IDLE_MS 500

struct dpp_upstream {
	char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	pthread_mutex_t pool_lock;
	struct dpp_uconn **idle;
	size_t n_idle, max_idle;
	atomic_int draining;
	atomic_int stopping;
};

enum field_state { FS_NONE, FS_NAME, FS_VALUE };

struct dpp_uconn {
	struct dpp_upstream *up;
	int fd;
	http_parser parser;
	char *rbuf;
	size_t rstart, rlen;
	char *head;
	size_t head_len;
	enum field_state fstate;
	struct dpp_uresponse *resp;
	int headers_done, message_done, interim, head_request, broken;
	int stream; /* ends as soon as the upstream drains */
	int last_full; /* the last read filled rbuf (more is probably waiting) */
	long long deadline; /* ms (monotonic) after which waits fail; 0 = none */
	long long idle_since; /* ms (monotonic) when it went back to the pool */
	int timed_recv; /* SO_RCVTIMEO is POLL_SLICE_MS: fill() may block in recv */
	char *out;
	size_t out_len, out_max;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct dpp_upstream *dpp_upstream_create(const char *socket_path, size_t max_idle)
{
	struct dpp_upstream *up = calloc(1, sizeof(*up));

	if (up == NULL)
		return NULL;
	snprintf(up->socket_path, sizeof(up->socket_path), "%s", socket_path);
	up->max_idle = max_idle;
	up->idle = calloc(max_idle > 0 ? max_idle : 1, sizeof(*up->idle));
	if (up->idle == NULL || pthread_mutex_init(&up->pool_lock, NULL) != 0) {
		free(up->idle);
		free(up);
		return NULL;
	}
	return up;
}

static void uconn_close(struct dpp_uconn *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->rbuf);
	free(c->head);
	free(c);
}

void dpp_upstream_free(struct dpp_upstream *up)
{
	if (up == NULL)
		return;
	for (size_t i = 0; i < up->n_idle; i++)
		uconn_close(up->idle[i]);
	pthread_mutex_destroy(&up->pool_lock);
	free(up->idle);
	free(up);
}

const char *dpp_upstream_socket(const struct dpp_upstream *up) { return up->socket_path; }
void dpp_upstream_set_draining(struct dpp_upstream *up) { atomic_store(&up->draining, 1); }
void dpp_upstream_set_stopping(struct dpp_upstream *up) { atomic_store(&up->stopping, 1); }
int dpp_upstream_stopping(const struct dpp_upstream *up)
{
	return atomic_load(&((struct dpp_upstream *)up)->stopping);
}
int dpp_upstream_draining(const struct dpp_upstream *up)
{
	return atomic_load(&((struct dpp_upstream *)up)->draining);
}

static const char *connect_error(int err)
{
	switch (err) {
	case ENOENT:
		return "the Docker socket does not exist (is dockerd running?)";
	case ECONNREFUSED:
		return "connection refused (dockerd is not listening)";
	case EACCES:
	case EPERM:
		return "permission denied on the Docker socket";
	case ENOTSOCK:
		return "the configured Docker socket path is not a socket";
	default:
		return "cannot connect to the Docker socket";
	}
}

static struct dpp_uconn *uconn_new(struct dpp_upstream *up, const char **err)
{
	struct sockaddr_un sa;
	struct dpp_uconn *c = calloc(1, sizeof(*c));
	int saved;

	if (c == NULL) {
		*err = "out of memory";
		return NULL;
	}
	c->up = up;
	c->fd = -1;
	c->rbuf = malloc(RBUF_SIZE);
	c->head = malloc(DPP_UPSTREAM_HEAD_MAX);
	if (c->rbuf == NULL || c->head == NULL) {
		*err = "out of memory";
		goto fail;
	}
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		*err = "cannot create a Unix socket";
		goto fail;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, up->socket_path, strlen(up->socket_path));
	while (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		if (errno == EINTR)
			continue;
		*err = connect_error(errno);
		goto fail;
	}
	{
		struct timeval tv = {.tv_sec = 0, .tv_usec = POLL_SLICE_MS * 1000};

		/* Without it fill() polls before every read (one syscall more). */
		c->timed_recv = setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0;
	}
	return c;
fail:
	saved = errno;
	uconn_close(c);
	errno = saved;
	return NULL;
}

/* An idle keep-alive connection must have nothing to read: readable means
 * Docker closed it (EOF) or sent something unexpected. A connection back in
 * the pool for less than POOL_FRESH_MS is taken without the poll (one
 * syscall of seven per small request): servers close idle connections on
 * timeouts of seconds (Go's net/http: IdleTimeout), and one closed anyway
 * fails the head's send at once with EPIPE (AF_UNIX), which open_upstream
 * answers with a fresh connection. */
#define POOL_FRESH_MS 1000

static int idle_alive(const struct dpp_uconn *c)
{
	struct pollfd p = {.fd = c->fd, .events = POLLIN};

	if (now_ms() - c->idle_since < POOL_FRESH_MS)
		return 1;
	return poll(&p, 1, 0) == 0;
}

int dpp_upstream_acquire(struct dpp_upstream *up, struct dpp_uconn **out, int *reused,
			 const char **err)
{
	struct dpp_uconn *c = NULL;

	*out = NULL;
	*reused = 0;
	for (;;) {
		pthread_mutex_lock(&up->pool_lock);
		c = up->n_idle > 0 ? up->idle[--up->n_idle] : NULL;
		pthread_mutex_unlock(&up->pool_lock);
		if (c == NULL)
			break;
		if (idle_alive(c)) {
			*reused = 1;
			break;
		}
		uconn_close(c);
	}
	if (c == NULL)
		c = uconn_new(up, err);
	if (c == NULL)
		return -1;
	c->rstart = c->rlen = 0;
	c->head_len = 0;
	c->headers_done = c->message_done = c->interim = c->broken = 0;
	c->stream = 0;
	c->last_full = 0;
	*out = c;
	return 0;
}

void dpp_uconn_set_stream(struct dpp_uconn *c, int stream) { c->stream = stream != 0; }

int dpp_upstream_connect(struct dpp_upstream *up, struct dpp_uconn **out, const char **err)
{
	*out = uconn_new(up, err);
	return *out != NULL ? 0 : -1;
}

void dpp_upstream_release(struct dpp_upstream *up, struct dpp_uconn *c, int reusable)
{
	if (c == NULL)
		return;
	if (reusable && !c->broken && c->message_done && c->rlen == 0 &&
	    c->resp != NULL && c->resp->keep_alive && !atomic_load(&up->stopping)) {
		pthread_mutex_lock(&up->pool_lock);
		if (up->n_idle < up->max_idle) {
			c->resp = NULL;
			c->idle_since = now_ms();
			up->idle[up->n_idle++] = c;
			c = NULL;
		}
		pthread_mutex_unlock(&up->pool_lock);
	}
	uconn_close(c);
}

int dpp_uconn_write(struct dpp_uconn *c, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			c->broken = 1;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int dpp_uconn_writev(struct dpp_uconn *c, struct iovec *iov, int n_iov)
{
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n_iov};

	while (m.msg_iovlen > 0) {
		ssize_t n = sendmsg(c->fd, &m, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			c->broken = 1;
			return -1;
		}
		dpp_msg_consume(&m, (size_t)n);
	}
	return 0;
}

/* --- response parsing ------------------------------------------------ */

static int head_append(struct dpp_uconn *c, const char *at, size_t len)
{
	if (c->head_len + len + 1 > DPP_UPSTREAM_HEAD_MAX)
		return -1;
	memcpy(c->head + c->head_len, at, len);
	c->head_len += len;
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct dpp_uconn *c = p->data;
	struct dpp_uresponse *r = c->resp;

	if (c->fstate != FS_NAME) {
		if (c->fstate == FS_VALUE && head_append(c, "", 1) != 0)
			return -1;
		if (r->n_fields >= DPP_UPSTREAM_MAX_FIELDS)
			return -1;
		r->fields[r->n_fields].name = c->head + c->head_len;
		r->fields[r->n_fields].value = "";
		r->n_fields++;
		c->fstate = FS_NAME;
	}
	return head_append(c, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct dpp_uconn *c = p->data;
	struct dpp_uresponse *r = c->resp;

	if (c->fstate != FS_VALUE) {
		if (c->fstate != FS_NAME || head_append(c, "", 1) != 0)
			return -1;
		r->fields[r->n_fields - 1].value = c->head + c->head_len;
		c->fstate = FS_VALUE;
	}
	return head_append(c, at, len);
}

static int on_headers_complete(http_parser *p)
{
	struct dpp_uconn *c = p->data;
	struct dpp_uresponse *r = c->resp;

	if (c->fstate == FS_VALUE && head_append(c, "", 1) != 0)
		return -1;
	c->fstate = FS_NONE;
	r->status = p->status_code;
	r->http_major = p->http_major;
	r->http_minor = p->http_minor;
	if (r->status >= 100 && r->status < 200 && r->status != 101) {
		c->interim = 1;
		return 0;
	}
	c->headers_done = 1;
	r->keep_alive = http_should_keep_alive(p);
	r->upgrade = r->status == 101;
	r->content_length = -1;
	if (!(p->flags & F_CHUNKED) && p->content_length != ULLONG_MAX)
		r->content_length = (long long)p->content_length;
	if (c->head_request)
		return 1; /* no body follows a HEAD response */
	if (r->status != 101)
		http_parser_pause(p, 1); /* leave the body for dpp_uconn_read_body */
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct dpp_uconn *c = p->data;

	/* Never more body than raw bytes fed, and we feed at most the room left. */
	if (c->out == NULL || c->out_len + len > c->out_max)
		return -1;
	memcpy(c->out + c->out_len, at, len);
	c->out_len += len;
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct dpp_uconn *c = p->data;

	if (!c->interim)
		c->message_done = 1;
	return 0;
}

static const http_parser_settings parser_settings = {
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* Waits until the upstream fd is readable. Watches the client for hang-up
 * (POLLRDHUP: like Go's net/http, a client that closed its side is gone). */
static int wait_readable(struct dpp_uconn *c, int client_fd)
{
	long long idle_since = now_ms();

	for (;;) {
		struct pollfd p[2] = {
			{.fd = c->fd, .events = POLLIN},
			{.fd = client_fd, .events = POLLRDHUP},
		};
		int n;

		/* Checked before every read, so a busy stream ends too. */
		if (c->stream && atomic_load(&c->up->draining))
			return DPP_UWAIT_STOPPED;
		n = poll(p, client_fd >= 0 ? 2 : 1, POLL_SLICE_MS);
		if (n < 0 && errno != EINTR)
			return DPP_UWAIT_ERROR;
		if (n > 0 && p[0].revents != 0)
			return DPP_UWAIT_OK;
		if (n > 0 && client_fd >= 0 && (p[1].revents & (POLLHUP | POLLERR | POLLRDHUP)))
			return DPP_UWAIT_CLIENT_GONE;
		if (atomic_load(&c->up->stopping))
			return DPP_UWAIT_STOPPED;
		if (c->deadline != 0 && now_ms() >= c->deadline)
			return DPP_UWAIT_ERROR;
		/* A response whose head arrived and whose body is silent (`wait`
		 * once dockerd flushed its head, a quiet stream) ends too; a request
		 * still waiting for its head (a long `stop`) keeps the grace. */
		if (c->headers_done && atomic_load(&c->up->draining) &&
		    now_ms() - idle_since >= DRAIN_IDLE_MS)
			return DPP_UWAIT_STOPPED;
	}
}

/* Reads more raw bytes into rbuf. Returns bytes read, 0 on EOF, or a negative
 * dpp_uwait. */
static ssize_t fill(struct dpp_uconn *c, int client_fd)
{
	ssize_t n = -1;
	int w;

	/* The last read filled the buffer: Docker is ahead of us (a bulk
	 * body), so the next bytes are most likely there already and the poll
	 * would only cost a syscall. Not for streams during a drain. */
	if (c->last_full && !(c->stream && atomic_load(&c->up->draining))) {
		do {
			n = recv(c->fd, c->rbuf, RBUF_SIZE, MSG_DONTWAIT);
		} while (n < 0 && errno == EINTR);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return DPP_UWAIT_ERROR;
	}
	/* Docker has not answered yet (the usual case right after a request):
	 * one recv that blocks for at most one slice instead of poll + read.
	 * The checks wait_readable makes per slice (client gone, stop, deadline)
	 * then run after that slice, so they come at most POLL_SLICE_MS later
	 * than with the poll, as between two of its slices. A draining stream
	 * goes straight to wait_readable, which ends it before any read. */
	if (n < 0 && c->timed_recv && !(c->stream && atomic_load(&c->up->draining))) {
		do {
			n = recv(c->fd, c->rbuf, RBUF_SIZE, 0);
		} while (n < 0 && errno == EINTR);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return DPP_UWAIT_ERROR;
	}
	if (n < 0) {
		w = wait_readable(c, client_fd);
		if (w != DPP_UWAIT_OK)
			return w;
		do {
			n = read(c->fd, c->rbuf, RBUF_SIZE);
		} while (n < 0 && errno == EINTR);
		if (n < 0)
			return DPP_UWAIT_ERROR;
	}
	c->last_full = (size_t)n == RBUF_SIZE;
	c->rstart = 0;
	c->rlen = (size_t)n;
	return n;
}

static int parser_ok(const http_parser *p)
{
	enum http_errno e = HTTP_PARSER_ERRNO(p);

	return e == HPE_OK || e == HPE_PAUSED;
}

int dpp_uconn_read_head(struct dpp_uconn *c, int head_request, int client_fd,
			struct dpp_uresponse *resp)
{
	memset(resp, 0, sizeof(*resp));
	resp->content_length = -1;
	c->resp = resp;
	c->head_request = head_request;
	c->head_len = 0;
	c->fstate = FS_NONE;
	c->headers_done = c->message_done = c->interim = 0;
	c->out = NULL;
	http_parser_init(&c->parser, HTTP_RESPONSE);
	c->parser.data = c;

	while (!c->headers_done) {
		size_t n;

		if (c->rlen == 0) {
			ssize_t got = fill(c, client_fd);

			if (got <= 0) {
				c->broken = 1;
				return got == 0 ? DPP_UWAIT_ERROR : (int)got;
			}
		}
		n = http_parser_execute(&c->parser, &parser_settings, c->rbuf + c->rstart, c->rlen);
		c->rstart += n;
		c->rlen -= n;
		if (!parser_ok(&c->parser)) {
			c->broken = 1;
			return DPP_UWAIT_ERROR;
		}
		if (c->interim && !c->headers_done) {
			/* 1xx other than 101: drop it and parse the next head. */
			memset(resp, 0, sizeof(*resp));
			resp->content_length = -1;
			c->head_len = 0;
			c->interim = 0;
			c->message_done = 0;
			http_parser_init(&c->parser, HTTP_RESPONSE);
			c->parser.data = c;
		}
	}
	if (HTTP_PARSER_ERRNO(&c->parser) == HPE_PAUSED)
		http_parser_pause(&c->parser, 0);
	return DPP_UWAIT_OK;
}

ssize_t dpp_uconn_read_body(struct dpp_uconn *c, char *buf, size_t max, int client_fd)
{
	c->out = buf;
	c->out_len = 0;
	c->out_max = max;
	while (!c->message_done) {
		if (c->rlen > 0) {
			size_t room = max - c->out_len;
			size_t feed = c->rlen < room ? c->rlen : room;
			size_t n = http_parser_execute(&c->parser, &parser_settings,
						       c->rbuf + c->rstart, feed);

			c->rstart += n;
			c->rlen -= n;
			if (!parser_ok(&c->parser) || (n < feed && !c->message_done)) {
				c->broken = 1;
				c->out = NULL;
				return DPP_UWAIT_ERROR;
			}
			/* Keep feeding what is buffered while there is room: the
			 * parser leaves the head's last byte (paused there) and
			 * chunk framing in the feed, so one pass can come out a few
			 * bytes short, which cost a send of its own per response. */
			if (c->out_len == max || (c->out_len > 0 && c->rlen == 0))
				break;
			continue;
		}
		ssize_t got = fill(c, client_fd);

		if (got < 0) {
			c->broken = 1;
			c->out = NULL;
			return got;
		}
		if (got == 0) {
			/* EOF: completes a read-until-close body, else truncation. */
			http_parser_execute(&c->parser, &parser_settings, NULL, 0);
			c->broken = 1;
			if (!c->message_done) {
				c->out = NULL;
				return DPP_UWAIT_ERROR;
			}
		}
	}
	c->out = NULL;
	if (c->message_done && c->rlen > 0)
		c->broken = 1; /* bytes after the message: never reuse */
	return (ssize_t)c->out_len;
}

int dpp_uconn_complete(const struct dpp_uconn *c) { return c->message_done; }

int dpp_uconn_take_stream(struct dpp_uconn *c, char **extra, size_t *extra_len)
{
	int fd = c->fd;

	*extra = NULL;
	*extra_len = 0;
	if (c->rlen > 0) {
		*extra = malloc(c->rlen);
		if (*extra == NULL) {
			uconn_close(c);
			return -1;
		}
		memcpy(*extra, c->rbuf + c->rstart, c->rlen);
		*extra_len = c->rlen;
	}
	c->fd = -1;
	uconn_close(c);
	return fd;
}

int dpp_upstream_get(struct dpp_upstream *up, const char *target, size_t max, int timeout_ms,
		     char **body, const char **err)
{
	struct dpp_uconn *c = NULL;
	struct dpp_uresponse resp;
	char req[512];
	char *buf = NULL;
	size_t len = 0;
	int status = -1;

	*body = NULL;
	c = uconn_new(up, err);
	if (c == NULL)
		return -1;
	c->deadline = now_ms() + timeout_ms;
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: docker\r\nUser-Agent: docker-policy-proxy/%s\r\nConnection: close\r\n\r\n",
		 target, DPP_VERSION);
	if (dpp_uconn_write(c, req, strlen(req)) != 0) {
		*err = "cannot write to the Docker socket";
		goto cleanup;
	}
	if (dpp_uconn_read_head(c, 0, -1, &resp) != DPP_UWAIT_OK) {
		*err = "no valid HTTP response from the Docker socket in time";
		goto cleanup;
	}
	buf = malloc(max + 1);
	if (buf == NULL) {
		*err = "out of memory";
		goto cleanup;
	}
	for (;;) {
		ssize_t n = dpp_uconn_read_body(c, buf + len, max - len, -1);

		if (n < 0) {
			*err = "truncated response from the Docker socket";
			goto cleanup;
		}
		if (n == 0 || (len += (size_t)n) >= max)
			break;
	}
	buf[len] = '\0';
	*body = buf;
	buf = NULL;
	status = resp.status;
cleanup:
	free(buf);
	uconn_close(c);
	return status;
}

int dpp_upstream_docker_version(const char *socket_path, int timeout_ms, char *desc, size_t len,
				const char **err)
{
	struct dpp_upstream *up = dpp_upstream_create(socket_path, 0);
	char *body = NULL;
	int status = -1;

	*err = "out of memory";
	if (len > 0)
		desc[0] = '\0';
	if (up != NULL)
		status = dpp_upstream_get(up, "/version", 64 * 1024, timeout_ms, &body, err);
	if (status == 200) {
		cJSON *doc = cJSON_Parse(body);
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "Version");
		const cJSON *api = cJSON_GetObjectItemCaseSensitive(doc, "ApiVersion");

		snprintf(desc, len, "Docker %s, API %s", cJSON_IsString(v) ? v->valuestring : "?",
			 cJSON_IsString(api) ? api->valuestring : "?");
		cJSON_Delete(doc);
	}
	free(body);
	dpp_upstream_free(up);
	return status;
}

void dpp_msg_consume(struct msghdr *m, size_t n)
{
	while (m->msg_iovlen > 0 && n >= m->msg_iov->iov_len) {
		n -= m->msg_iov->iov_len;
		m->msg_iov++;
		m->msg_iovlen--;
	}
	if (m->msg_iovlen > 0) {
		m->msg_iov->iov_base = (char *)m->msg_iov->iov_base + n;
		m->msg_iov->iov_len -= n;
	}
}
