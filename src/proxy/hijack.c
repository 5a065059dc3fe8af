/* Splice threads. Lock order: only h->lock, never held during I/O. */
#include "dpp/hijack.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dpp/log.h"
#include "dpp/upstream.h"

#define SPLICE_BUF (64 * 1024)
#define POLL_SLICE_MS 250

struct dpp_hijacks {
	pthread_mutex_t lock;
	pthread_cond_t idle;
	int active;
};

/* One direction of the copy. */
struct pipe_dir {
	char *buf;
	size_t off, len;
	int eof;       /* source reached EOF */
	int shut_done; /* EOF passed on to the sink with shutdown(SHUT_WR) */
};

struct splice {
	struct dpp_hijacks *h;
	const struct dpp_upstream *up;
	int cfd, ufd;
	struct pipe_dir c2u, u2c;
	dpp_hijack_close_fn close_fn;
	void *close_ctx;
};

struct dpp_hijacks *dpp_hijacks_create(void)
{
	struct dpp_hijacks *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	if (pthread_mutex_init(&h->lock, NULL) != 0) {
		free(h);
		return NULL;
	}
	if (pthread_cond_init(&h->idle, NULL) != 0) {
		pthread_mutex_destroy(&h->lock);
		free(h);
		return NULL;
	}
	return h;
}

void dpp_hijacks_free(struct dpp_hijacks *h)
{
	if (h == NULL)
		return;
	pthread_cond_destroy(&h->idle);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

int dpp_hijacks_active(struct dpp_hijacks *h)
{
	int n;

	pthread_mutex_lock(&h->lock);
	n = h->active;
	pthread_mutex_unlock(&h->lock);
	return n;
}

int dpp_hijacks_wait(struct dpp_hijacks *h, int timeout_ms)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&h->lock);
	while (h->active > 0 && rc == 0)
		rc = pthread_cond_timedwait(&h->idle, &h->lock, &until);
	rc = h->active > 0 ? -1 : 0;
	pthread_mutex_unlock(&h->lock);
	return rc;
}

static int set_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Reads from src into an empty direction buffer. Returns -1 on a fatal error. */
static int pump_in(int src, struct pipe_dir *d)
{
	ssize_t n;

	if (d->eof || d->len > 0)
		return 0;
	n = recv(src, d->buf, SPLICE_BUF, 0);
	if (n > 0) {
		d->off = 0;
		d->len = (size_t)n;
	} else if (n == 0) {
		d->eof = 1;
	} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		return -1;
	}
	return 0;
}

/* Writes pending bytes to dst; passes EOF on once the buffer is empty. */
static int pump_out(int dst, struct pipe_dir *d)
{
	while (d->len > 0) {
		ssize_t n = send(dst, d->buf + d->off, d->len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			return -1;
		}
		d->off += (size_t)n;
		d->len -= (size_t)n;
	}
	if (d->eof && !d->shut_done) {
		/* ENOTCONN: the peer is already gone; nothing more to tell it. */
		if (shutdown(dst, SHUT_WR) != 0 && errno != ENOTCONN)
			return -1;
		d->shut_done = 1;
	}
	return 0;
}

static void *splice_main(void *arg)
{
	struct splice *s = arg;
	struct dpp_hijacks *h = s->h;

	for (;;) {
		struct pollfd p[2] = {{.fd = s->cfd}, {.fd = s->ufd}};
		int n;

		if (pump_out(s->ufd, &s->c2u) != 0 || pump_out(s->cfd, &s->u2c) != 0)
			break;
		/* Docker closing its side ends the stream once its output is
		 * delivered: nothing the client sends after that can reach it. */
		if (s->u2c.shut_done && (s->c2u.shut_done || s->c2u.len == 0))
			break;
		if (dpp_upstream_stopping(s->up) || dpp_upstream_draining(s->up))
			break;
		if (!s->c2u.eof && s->c2u.len == 0)
			p[0].events |= POLLIN;
		if (s->u2c.len > 0)
			p[0].events |= POLLOUT;
		if (!s->u2c.eof && s->u2c.len == 0)
			p[1].events |= POLLIN;
		if (s->c2u.len > 0)
			p[1].events |= POLLOUT;
		n = poll(p, 2, POLL_SLICE_MS);
		if (n < 0 && errno != EINTR)
			break;
		if (n <= 0)
			continue;
		if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) && pump_in(s->cfd, &s->c2u) != 0)
			break;
		if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) && pump_in(s->ufd, &s->u2c) != 0)
			break;
		/* POLLHUP means both directions are closed: after its EOF the
		 * client can take no more output. */
		if ((p[0].revents & (POLLHUP | POLLERR)) && s->c2u.eof)
			break;
		if ((p[1].revents & (POLLHUP | POLLERR)) && s->u2c.eof && s->c2u.len > 0)
			break;
	}
	close(s->ufd);
	s->close_fn(s->close_ctx);
	free(s->c2u.buf);
	free(s->u2c.buf);
	free(s);
	pthread_mutex_lock(&h->lock);
	if (--h->active == 0)
		pthread_cond_broadcast(&h->idle);
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int dpp_hijacks_start(struct dpp_hijacks *h, const struct dpp_upstream *up, int client_fd,
		      int upstream_fd, const char *to_client, size_t to_client_len,
		      const char *to_upstream, size_t to_upstream_len,
		      dpp_hijack_close_fn close_fn, void *close_ctx)
{
	struct splice *s = NULL;
	pthread_attr_t attr;
	pthread_t tid;
	int attr_ok = 0;

	if (to_client_len > SPLICE_BUF || to_upstream_len > SPLICE_BUF)
		return -1;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -1;
	s->h = h;
	s->up = up;
	s->cfd = client_fd;
	s->ufd = upstream_fd;
	s->close_fn = close_fn;
	s->close_ctx = close_ctx;
	s->c2u.buf = malloc(SPLICE_BUF);
	s->u2c.buf = malloc(SPLICE_BUF);
	if (s->c2u.buf == NULL || s->u2c.buf == NULL)
		goto fail;
	if (to_client_len > 0)
		memcpy(s->u2c.buf, to_client, to_client_len);
	s->u2c.len = to_client_len;
	if (to_upstream_len > 0)
		memcpy(s->c2u.buf, to_upstream, to_upstream_len);
	s->c2u.len = to_upstream_len;
	if (set_nonblocking(client_fd) != 0 || set_nonblocking(upstream_fd) != 0)
		goto fail;
	if (pthread_attr_init(&attr) != 0)
		goto fail;
	attr_ok = 1;
	if (pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) != 0)
		goto fail;
	pthread_mutex_lock(&h->lock);
	h->active++;
	pthread_mutex_unlock(&h->lock);
	if (pthread_create(&tid, &attr, splice_main, s) != 0) {
		pthread_mutex_lock(&h->lock);
		h->active--;
		pthread_mutex_unlock(&h->lock);
		goto fail;
	}
	pthread_attr_destroy(&attr);
	return 0;
fail:
	if (attr_ok)
		pthread_attr_destroy(&attr);
	if (s != NULL) {
		free(s->c2u.buf);
		free(s->u2c.buf);
		free(s);
	}
	dpp_log_error("cannot start the stream relay thread");
	return -1;
}
