/* TLS termination: real sockets on 127.0.0.1, real GnuTLS on both ends, test
 * certificates from make_certs.sh (certtool). The plain-text side is an
 * upper-casing echo server running on the fd hand_off receives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "dpp/tls.h"

#define WAIT_MS 5000
#define MAX_THREADS 64

static char g_dir[256]; /* certificates */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *path_of(const char *name, char *buf, size_t n)
{
	snprintf(buf, n, "%s/%s", g_dir, name);
	return buf;
}

/* ---- the plain-text side ---- */

enum mode {
	MODE_ECHO,  /* upper-case echo; at EOF write "<EOF>" and close */
	MODE_GREET, /* write "hi", shut down writing, record all input until EOF */
	MODE_FAIL,  /* hand_off refuses */
};

/* What the callbacks saw; read it with observe(). */
struct observed {
	int handoffs, dones, rejects, plain_eofs, peer_ok, bad_tokens;
	struct dpp_peer id; /* of the last hand_off */
	char reason[256];            /* of the last rejection */
	char received[256];          /* MODE_GREET input */
	size_t received_len;
};

struct harness {
	struct dpp_tls *tls;
	int port;
	enum mode mode;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct observed o; /* under lock */
	pthread_t threads[MAX_THREADS];
	int nthreads;
};

struct plain {
	struct harness *h;
	int fd;
};

static void bump(struct harness *h, int *field)
{
	pthread_mutex_lock(&h->lock);
	(*field)++;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

/* Waits until *field >= want. Returns 0, or -1 after WAIT_MS. */
static int wait_for(struct harness *h, const int *field, int want)
{
	int64_t until = mono_ms() + WAIT_MS;
	int ok;

	pthread_mutex_lock(&h->lock);
	while (*field < want && mono_ms() < until) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&h->cond, &h->lock, &ts);
	}
	ok = *field >= want;
	pthread_mutex_unlock(&h->lock);
	return ok ? 0 : -1;
}

static struct observed observe(struct harness *h)
{
	struct observed o;

	pthread_mutex_lock(&h->lock);
	o = h->o;
	pthread_mutex_unlock(&h->lock);
	return o;
}

/* Waits until no connection thread runs. */
static int wait_idle(struct harness *h)
{
	int64_t until = mono_ms() + WAIT_MS;

	while (dpp_tls_active(h->tls) > 0) {
		if (mono_ms() > until)
			return -1;
		poll(NULL, 0, 5);
	}
	return 0;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void *plain_main(void *arg)
{
	struct plain *pl = arg;
	struct harness *h = pl->h;
	char buf[8192];
	ssize_t n;

	if (h->mode == MODE_GREET) {
		if (send_all(pl->fd, "hi", 2) != 0 || shutdown(pl->fd, SHUT_WR) != 0)
			goto out;
	}
	for (;;) {
		n = read(pl->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (h->mode == MODE_GREET) {
			pthread_mutex_lock(&h->lock);
			if (h->o.received_len + (size_t)n < sizeof(h->o.received)) {
				memcpy(h->o.received + h->o.received_len, buf, (size_t)n);
				h->o.received_len += (size_t)n;
			}
			pthread_mutex_unlock(&h->lock);
			continue;
		}
		for (ssize_t i = 0; i < n; i++)
			buf[i] = (char)toupper((unsigned char)buf[i]);
		if (send_all(pl->fd, buf, (size_t)n) != 0)
			break;
	}
	if (n == 0) {
		bump(h, &h->o.plain_eofs);
		if (h->mode == MODE_ECHO)
			(void)send_all(pl->fd, "<EOF>", 5);
	}
out:
	close(pl->fd);
	free(pl);
	return NULL;
}

static int on_hand_off(void *ctx, int plain_fd, const struct sockaddr *peer, socklen_t peer_len,
		       const struct dpp_peer *id, void **token)
{
	struct harness *h = ctx;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)peer;
	struct plain *pl;
	int ok;

	pthread_mutex_lock(&h->lock);
	h->o.id = *id;
	h->o.peer_ok = peer_len == sizeof(*sin) && sin->sin_family == AF_INET &&
		     sin->sin_addr.s_addr == htonl(INADDR_LOOPBACK) && sin->sin_port != 0;
	pthread_mutex_unlock(&h->lock);
	*token = h;
	if (h->mode == MODE_FAIL) {
		close(plain_fd);
		bump(h, &h->o.handoffs);
		return -1;
	}
	pl = malloc(sizeof(*pl));
	if (pl == NULL) {
		close(plain_fd);
		return -1;
	}
	pl->h = h;
	pl->fd = plain_fd;
	pthread_mutex_lock(&h->lock);
	ok = h->nthreads < MAX_THREADS &&
	     pthread_create(&h->threads[h->nthreads], NULL, plain_main, pl) == 0;
	if (ok)
		h->nthreads++;
	pthread_mutex_unlock(&h->lock);
	if (!ok) {
		free(pl);
		close(plain_fd);
		return -1;
	}
	bump(h, &h->o.handoffs);
	return 0;
}

static void on_done(void *ctx, void *token)
{
	struct harness *h = ctx;

	/* No cmocka assertion off the main thread: count, check later. */
	if (token != h)
		bump(h, &h->o.bad_tokens);
	bump(h, &h->o.dones);
}

static void on_rejected(void *ctx, const struct sockaddr *peer, socklen_t peer_len,
			const char *reason)
{
	struct harness *h = ctx;

	(void)peer;
	(void)peer_len;
	pthread_mutex_lock(&h->lock);
	snprintf(h->o.reason, sizeof(h->o.reason), "%s", reason);
	pthread_mutex_unlock(&h->lock);
	bump(h, &h->o.rejects);
}

struct srv_opts {
	const char *cert, *key, *client_ca; /* file names inside g_dir */
	int require, timeout_ms, max_conn;
};

static struct dpp_tls_creds *load_creds(const struct srv_opts *so)
{
	char cert[512], key[512], ca[512];
	struct dpp_tls_options o = {
		.cert = path_of(so->cert != NULL ? so->cert : "server.pem", cert, sizeof(cert)),
		.key = path_of(so->key != NULL ? so->key : "server.key", key, sizeof(key)),
		.client_ca = so->client_ca != NULL ? path_of(so->client_ca, ca, sizeof(ca)) : NULL,
		.require_client_cert = so->require,
		.handshake_timeout_ms = so->timeout_ms,
		.max_connections = so->max_conn,
	};
	struct dpp_tls_creds *c = NULL;
	char *err = NULL;

	if (dpp_tls_creds_load(&o, &c, &err) != 0)
		fail_msg("creds_load: %s", err != NULL ? err : "(null)");
	assert_null(err);
	return c;
}

static struct harness *harness_start(const struct srv_opts *so, enum mode mode)
{
	struct harness *h = calloc(1, sizeof(*h));
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	struct dpp_tls_handler hd = {on_hand_off, on_done, on_rejected, NULL};
	struct dpp_tls_creds *creds;
	char *err = NULL;
	int fd;

	assert_non_null(h);
	h->mode = mode;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	hd.ctx = h;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 64), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	h->port = ntohs(sin.sin_port);
	creds = load_creds(so);
	if (dpp_tls_start(fd, creds, &hd, &h->tls, &err) != 0)
		fail_msg("tls_start: %s", err);
	dpp_tls_creds_unref(creds); /* the acceptor holds its own reference */
	return h;
}

static void harness_stop(struct harness *h)
{
	dpp_tls_stop(h->tls);
	for (int i = 0; i < h->nthreads; i++)
		pthread_join(h->threads[i], NULL);
	assert_int_equal(h->o.bad_tokens, 0);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* ---- the TLS client ---- */

struct client {
	int fd;
	gnutls_session_t s;
	gnutls_certificate_credentials_t cred;
	int handshake_rc;
	gnutls_pcert_st pcert; /* force_cert only */
	gnutls_privkey_t pkey;
};

struct cli_opts {
	const char *cert;        /* client certificate base name ("alice"), or NULL */
	int force_cert;          /* send it even when its CA is not among those the
				    server names (GnuTLS and Go clients would not) */
	const char *prio;        /* NULL: GnuTLS defaults */
	const char *verify_name; /* NULL: "localhost" */
};

static int tcp_connect(int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_sec = WAIT_MS / 1000};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	/* No test may hang: reads and writes give up after WAIT_MS. */
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
	return fd;
}

static int always_send(gnutls_session_t s, const gnutls_datum_t *req_ca, int nreq,
		       const gnutls_pk_algorithm_t *algos, int nalgos, gnutls_pcert_st **pcert,
		       unsigned int *npcert, gnutls_privkey_t *pkey)
{
	struct client *cl = gnutls_session_get_ptr(s);

	(void)req_ca;
	(void)nreq;
	(void)algos;
	(void)nalgos;
	*pcert = &cl->pcert;
	*npcert = 1;
	*pkey = cl->pkey;
	return 0;
}

static void load_forced(struct client *cl, const char *cert, const char *key)
{
	gnutls_datum_t c, k;

	assert_int_equal(gnutls_load_file(cert, &c), 0);
	assert_int_equal(gnutls_load_file(key, &k), 0);
	assert_int_equal(gnutls_pcert_import_x509_raw(&cl->pcert, &c, GNUTLS_X509_FMT_PEM, 0), 0);
	assert_int_equal(gnutls_privkey_init(&cl->pkey), 0);
	assert_int_equal(gnutls_privkey_import_x509_raw(cl->pkey, &k, GNUTLS_X509_FMT_PEM, NULL, 0),
			 0);
	gnutls_free(c.data);
	gnutls_free(k.data);
	gnutls_certificate_set_retrieve_function2(cl->cred, always_send);
}

/* Connects and runs the handshake; cl->handshake_rc tells how it went. */
static void client_open(struct client *cl, int port, const struct cli_opts *co)
{
	char ca[512], cert[512], key[512], base[256];
	int rc;

	memset(cl, 0, sizeof(*cl));
	cl->fd = tcp_connect(port);
	assert_int_equal(gnutls_certificate_allocate_credentials(&cl->cred), 0);
	assert_true(gnutls_certificate_set_x509_trust_file(cl->cred, path_of("ca.pem", ca, sizeof(ca)),
							  GNUTLS_X509_FMT_PEM) == 1);
	if (co->cert != NULL) {
		snprintf(base, sizeof(base), "%s.pem", co->cert);
		path_of(base, cert, sizeof(cert));
		snprintf(base, sizeof(base), "%s.key", co->cert);
		path_of(base, key, sizeof(key));
		if (co->force_cert)
			load_forced(cl, cert, key);
		else
			assert_int_equal(gnutls_certificate_set_x509_key_file(
						 cl->cred, cert, key, GNUTLS_X509_FMT_PEM),
					 0);
	}
	assert_int_equal(gnutls_init(&cl->s, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL), 0);
	gnutls_session_set_ptr(cl->s, cl);
	if (co->prio != NULL)
		assert_int_equal(gnutls_priority_set_direct(cl->s, co->prio, NULL), 0);
	else
		assert_int_equal(gnutls_set_default_priority(cl->s), 0);
	assert_int_equal(gnutls_credentials_set(cl->s, GNUTLS_CRD_CERTIFICATE, cl->cred), 0);
	gnutls_session_set_verify_cert(cl->s, co->verify_name ? co->verify_name : "localhost", 0);
	gnutls_transport_set_int(cl->s, cl->fd);
	gnutls_handshake_set_timeout(cl->s, WAIT_MS);
	do
		rc = gnutls_handshake(cl->s);
	while (rc < 0 && !gnutls_error_is_fatal(rc));
	cl->handshake_rc = rc;
}

static void client_close(struct client *cl)
{
	gnutls_deinit(cl->s);
	gnutls_certificate_free_credentials(cl->cred);
	if (cl->pkey != NULL) {
		gnutls_privkey_deinit(cl->pkey);
		gnutls_pcert_deinit(&cl->pcert);
	}
	close(cl->fd);
}

static void client_send(struct client *cl, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = gnutls_record_send(cl->s, p, n);

		if (w == GNUTLS_E_INTERRUPTED)
			continue;
		if (w < 0)
			fail_msg("client send: %s", gnutls_strerror((int)w));
		p += w;
		n -= (size_t)w;
	}
}

/* Reads until len bytes, EOF (close_notify) or an error. Returns the byte
 * count, with *end 0 (still open), 1 (EOF) or a GnuTLS error code. */
static size_t client_read(struct client *cl, char *buf, size_t len, int *end)
{
	size_t got = 0;

	*end = 0;
	while (got < len) {
		ssize_t r = gnutls_record_recv(cl->s, buf + got, len - got);

		if (r == GNUTLS_E_INTERRUPTED)
			continue;
		if (r == 0) {
			*end = 1;
			break;
		}
		if (r < 0) {
			*end = (int)r;
			break;
		}
		got += (size_t)r;
	}
	return got;
}

static void expect_read(struct client *cl, const char *want)
{
	char buf[256];
	size_t n = strlen(want);
	int end;

	assert_true(n < sizeof(buf));
	assert_int_equal(client_read(cl, buf, n, &end), n);
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

static void expect_eof(struct client *cl)
{
	char c;
	int end;

	assert_int_equal(client_read(cl, &c, 1, &end), 0);
	assert_int_equal(end, 1);
}

/* The serial of the certificate the server presented, as hex. */
static void server_serial(struct client *cl, char *out, size_t outsz)
{
	const gnutls_datum_t *certs;
	unsigned int n = 0;
	gnutls_x509_crt_t crt;
	unsigned char raw[32];
	size_t sz = sizeof(raw);

	certs = gnutls_certificate_get_peers(cl->s, &n);
	assert_non_null(certs);
	assert_int_equal(gnutls_x509_crt_init(&crt), 0);
	assert_int_equal(gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER), 0);
	assert_int_equal(gnutls_x509_crt_get_serial(crt, raw, &sz), 0);
	gnutls_x509_crt_deinit(crt);
	assert_true(2 * sz < outsz);
	for (size_t i = 0; i < sz; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

/* A client the server must turn away: either the handshake fails, or (TLS 1.3
 * client certificates are checked after the client's handshake ended) the
 * first read does. Then the rejection reason must contain `want`. */
static void expect_rejected(struct harness *h, const struct cli_opts *co, const char *want)
{
	struct client cl;
	struct observed o;
	int before = observe(h).rejects;

	client_open(&cl, h->port, co);
	if (cl.handshake_rc == 0) {
		char c;
		int end;

		/* The server may have closed already: the send may fail. */
		(void)gnutls_record_send(cl.s, "x", 1);
		if (client_read(&cl, &c, 1, &end) != 0 || end >= 0)
			fail_msg("%s accepted (has_cert %d, cn \"%s\"), \"%s\" expected", co->cert,
				 observe(h).id.has_cert, observe(h).id.cn, want);
	}
	client_close(&cl);
	assert_int_equal(wait_for(h, &h->o.rejects, before + 1), 0);
	o = observe(h);
	if (strstr(o.reason, want) == NULL)
		fail_msg("rejection reason \"%s\" lacks \"%s\"", o.reason, want);
	if (o.handoffs != 0)
		fail_msg("handed off (%s, cn \"%s\") though \"%s\" expected", co->cert, o.id.cn,
			 want);
}

/* ---- tests ---- */

static const char *const tls13 = "NORMAL:-VERS-ALL:+VERS-TLS1.3";
static const char *const tls12 = "NORMAL:-VERS-ALL:+VERS-TLS1.2";

static void test_round_trip(void **state)
{
	const char *const prios[] = {NULL, tls13, tls12};

	(void)state;
	for (size_t i = 0; i < sizeof(prios) / sizeof(prios[0]); i++) {
		struct harness *h = harness_start(&(struct srv_opts){0}, MODE_ECHO);
		struct client cl;

		client_open(&cl, h->port, &(struct cli_opts){.prio = prios[i]});
		assert_int_equal(cl.handshake_rc, 0);
		client_send(&cl, "hello", 5);
		expect_read(&cl, "HELLO");
		client_send(&cl, "again", 5);
		expect_read(&cl, "AGAIN");
		assert_int_equal(observe(h).handoffs, 1);
		assert_int_equal(observe(h).id.tls, 1);
		assert_int_equal(observe(h).id.has_cert, 0);
		assert_string_equal(observe(h).id.cn, "");
		assert_int_equal(observe(h).id.n_dns_sans, 0);
		assert_true(observe(h).peer_ok);
		assert_int_equal(dpp_tls_active(h->tls), 1);
		client_close(&cl); /* TCP close without close_notify */
		assert_int_equal(wait_for(h, &h->o.dones, 1), 0);
		assert_int_equal(observe(h).rejects, 0);
		assert_int_equal(wait_idle(h), 0);
		harness_stop(h);
	}
}

/* Client sends close_notify (gnutls_bye SHUT_WR): the plain side sees EOF,
 * and what it writes after that still reaches the client, then the client
 * gets close_notify. */
static void test_half_close_client_first(void **state)
{
	const char *const prios[] = {tls13, tls12};

	(void)state;
	for (size_t i = 0; i < sizeof(prios) / sizeof(prios[0]); i++) {
		struct harness *h = harness_start(&(struct srv_opts){0}, MODE_ECHO);
		struct client cl;

		client_open(&cl, h->port, &(struct cli_opts){.prio = prios[i]});
		assert_int_equal(cl.handshake_rc, 0);
		client_send(&cl, "abc", 3);
		expect_read(&cl, "ABC");
		assert_int_equal(gnutls_bye(cl.s, GNUTLS_SHUT_WR), 0);
		assert_int_equal(wait_for(h, &h->o.plain_eofs, 1), 0);
		expect_read(&cl, "<EOF>");
		expect_eof(&cl);
		assert_int_equal(wait_for(h, &h->o.dones, 1), 0);
		client_close(&cl);
		harness_stop(h);
	}
}

/* A client that half-closes TCP without close_notify: still EOF for the
 * plain side, and its answer still arrives. */
static void test_half_close_tcp_eof(void **state)
{
	struct harness *h = harness_start(&(struct srv_opts){0}, MODE_ECHO);
	struct client cl;

	(void)state;
	client_open(&cl, h->port, &(struct cli_opts){0});
	assert_int_equal(cl.handshake_rc, 0);
	client_send(&cl, "tcp", 3);
	expect_read(&cl, "TCP");
	assert_int_equal(shutdown(cl.fd, SHUT_WR), 0);
	assert_int_equal(wait_for(h, &h->o.plain_eofs, 1), 0);
	expect_read(&cl, "<EOF>");
	expect_eof(&cl);
	assert_int_equal(wait_for(h, &h->o.dones, 1), 0);
	client_close(&cl);
	harness_stop(h);
}

/* The plain side shuts down writing first: the client gets close_notify and
 * can still send; that data reaches the plain side. */
static void test_half_close_server_first(void **state)
{
	const char *const prios[] = {tls13, tls12};

	(void)state;
	for (size_t i = 0; i < sizeof(prios) / sizeof(prios[0]); i++) {
		struct harness *h = harness_start(&(struct srv_opts){0}, MODE_GREET);
		struct client cl;

		client_open(&cl, h->port, &(struct cli_opts){.prio = prios[i]});
		assert_int_equal(cl.handshake_rc, 0);
		expect_read(&cl, "hi");
		expect_eof(&cl);
		client_send(&cl, "late data", 9);
		assert_int_equal(gnutls_bye(cl.s, GNUTLS_SHUT_WR), 0);
		assert_int_equal(wait_for(h, &h->o.plain_eofs, 1), 0);
		assert_int_equal(observe(h).received_len, 9);
		assert_memory_equal(observe(h).received, "late data", 9);
		assert_int_equal(wait_for(h, &h->o.dones, 1), 0);
		client_close(&cl);
		harness_stop(h);
	}
}

struct bulk {
	struct client *cl;
	size_t len;
};

static void *bulk_writer(void *arg)
{
	struct bulk *b = arg;
	char chunk[7000];

	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (char)('a' + i % 26);
	for (size_t sent = 0; sent < b->len;) {
		size_t n = b->len - sent < sizeof(chunk) ? b->len - sent : sizeof(chunk);

		client_send(b->cl, chunk, n);
		sent += n;
	}
	return NULL;
}

/* 8 MiB each way at once through bounded buffers: both directions must flow
 * together (the client reads only while it is still writing). */
static void test_bulk_full_duplex(void **state)
{
	struct harness *h = harness_start(&(struct srv_opts){0}, MODE_ECHO);
	struct client cl;
	struct bulk b = {&cl, 8u << 20};
	pthread_t tid;
	char *buf = malloc(b.len);
	int end;

	(void)state;
	assert_non_null(buf);
	client_open(&cl, h->port, &(struct cli_opts){0});
	assert_int_equal(cl.handshake_rc, 0);
	assert_int_equal(pthread_create(&tid, NULL, bulk_writer, &b), 0);
	assert_int_equal(client_read(&cl, buf, b.len, &end), b.len);
	pthread_join(tid, NULL);
	for (size_t i = 0; i < b.len; i += 4099)
		assert_int_equal(buf[i], 'A' + (i % 7000) % 26);
	free(buf);
	client_close(&cl);
	assert_int_equal(wait_for(h, &h->o.dones, 1), 0);
	harness_stop(h);
}

static void test_client_identity(void **state)
{
	static const struct {
		const char *cert, *cn, *serial;
		size_t nsans;
		const char *sans[2];
	} cases[] = {
		{"alice", "alice", "0a0001", 0, {NULL, NULL}},
		{"bob", "bob", "0b0001", 1, {"ci.example.com", NULL}},
		{"node1", "node1.build.example.com", "0c0001", 2,
		 {"node1.build.example.com", "*.build.example.com"}},
		{NULL, "", "", 0, {NULL, NULL}},
	};
	const char *const prios[] = {tls13, tls12};

	(void)state;
	for (size_t p = 0; p < 2; p++) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct harness *h =
				harness_start(&(struct srv_opts){.client_ca = "ca.pem"}, MODE_ECHO);
			struct client cl;

			client_open(&cl, h->port,
				    &(struct cli_opts){.cert = cases[i].cert, .prio = prios[p]});
			assert_int_equal(cl.handshake_rc, 0);
			client_send(&cl, "who", 3);
			expect_read(&cl, "WHO");
			assert_int_equal(observe(h).handoffs, 1);
			assert_int_equal(observe(h).id.tls, 1);
			assert_int_equal(observe(h).id.has_cert, cases[i].cert != NULL);
			assert_string_equal(observe(h).id.cn, cases[i].cn);
			assert_string_equal(observe(h).id.serial_hex, cases[i].serial);
			assert_int_equal(observe(h).id.n_dns_sans, cases[i].nsans);
			for (size_t k = 0; k < cases[i].nsans; k++)
				assert_string_equal(observe(h).id.dns_sans[k], cases[i].sans[k]);
			client_close(&cl);
			assert_int_equal(wait_for(h, &h->o.dones, 1), 0);
			harness_stop(h);
		}
	}
}

static void test_require_rejects_bare_client(void **state)
{
	const char *const prios[] = {tls13, tls12};

	(void)state;
	for (size_t p = 0; p < 2; p++) {
		struct harness *h = harness_start(
			&(struct srv_opts){.client_ca = "ca.pem", .require = 1}, MODE_ECHO);
		struct client cl;

		expect_rejected(h, &(struct cli_opts){.prio = prios[p]}, "no client certificate");
		/* With a good certificate the same server accepts. */
		client_open(&cl, h->port, &(struct cli_opts){.cert = "alice", .prio = prios[p]});
		assert_int_equal(cl.handshake_rc, 0);
		client_send(&cl, "ok", 2);
		expect_read(&cl, "OK");
		assert_string_equal(observe(h).id.cn, "alice");
		client_close(&cl);
		harness_stop(h);
	}
}

/* A bad certificate fails the handshake whether certificates are required
 * or only requested. */
static void test_bad_client_certs(void **state)
{
	static const struct {
		const char *cert, *reason;
	} cases[] = {
		{"expired", "client certificate expired"},
		{"foreign", "client certificate signed by an unknown CA"},
		{"serveronly", "not valid for TLS client authentication"},
	};
	const char *const prios[] = {tls13, tls12};

	(void)state;
	for (int require = 0; require <= 1; require++) {
		for (size_t p = 0; p < 2; p++) {
			for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
				struct harness *h = harness_start(
					&(struct srv_opts){.client_ca = "ca.pem", .require = require},
					MODE_ECHO);

				expect_rejected(h,
						&(struct cli_opts){.cert = cases[i].cert,
								   .force_cert = 1,
								   .prio = prios[p]},
						cases[i].reason);
				harness_stop(h);
			}
		}
	}
}

/* A well-behaved client holding only a certificate from another CA sends
 * none (the server names its CA): when certificates are merely requested,
 * that is an anonymous TLS client, when required a rejection. */
static void test_foreign_cert_not_sent(void **state)
{
	struct harness *h = harness_start(&(struct srv_opts){.client_ca = "ca.pem"}, MODE_ECHO);
	struct client cl;

	(void)state;
	client_open(&cl, h->port, &(struct cli_opts){.cert = "foreign"});
	assert_int_equal(cl.handshake_rc, 0);
	client_send(&cl, "anon", 4);
	expect_read(&cl, "ANON");
	assert_int_equal(observe(h).id.has_cert, 0);
	assert_string_equal(observe(h).id.cn, "");
	client_close(&cl);
	harness_stop(h);
	h = harness_start(&(struct srv_opts){.client_ca = "ca.pem", .require = 1}, MODE_ECHO);
	expect_rejected(h, &(struct cli_opts){.cert = "foreign"}, "no client certificate");
	harness_stop(h);
}

/* TLS 1.1 and TLS 1.2 with CBC/SHA-1 or RSA key exchange only: refused. */
static void test_weak_protocols_refused(void **state)
{
	static const char *const prios[] = {
		"NORMAL:-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0",
		"NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-CBC:+AES-256-CBC:-MAC-ALL:+SHA1",
		"NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+RSA",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(prios) / sizeof(prios[0]); i++) {
		struct harness *h = harness_start(&(struct srv_opts){0}, MODE_ECHO);
		struct client cl;

		client_open(&cl, h->port, &(struct cli_opts){.prio = prios[i]});
		assert_true(cl.handshake_rc < 0);
		client_close(&cl);
		assert_int_equal(wait_for(h, &h->o.rejects, 1), 0);
		assert_non_null(strstr(observe(h).reason, "handshake"));
		assert_int_equal(observe(h).handoffs, 0);
		harness_stop(h);
	}
}

/* PKCS#8, PKCS#1 and SEC1 keys all serve; the client checks the server
 * certificate for both its DNS and its IP subjectAltName. */
static void test_key_formats(void **state)
{
	static const struct {
		const char *cert, *key, *serial, *verify_name;
	} cases[] = {
		{"server.pem", "server.key", "5e0001", "localhost"},      /* PKCS#8 */
		{"server.pem", "server-rsa.key", "5e0001", "127.0.0.1"},  /* PKCS#1 */
		{"server-ec.pem", "server-ec.key", "5e0003", "localhost"}, /* SEC1 */
	};
	char path[512], line[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		static const char *const heads[] = {"-----BEGIN PRIVATE KEY-----",
						    "-----BEGIN RSA PRIVATE KEY-----",
						    "-----BEGIN EC PRIVATE KEY-----"};
		struct harness *h;
		struct client cl;
		char serial[64];
		FILE *f = fopen(path_of(cases[i].key, path, sizeof(path)), "r");

		/* The fixture really is in the format this case claims. */
		assert_non_null(f);
		assert_non_null(fgets(line, sizeof(line), f));
		fclose(f);
		assert_memory_equal(line, heads[i], strlen(heads[i]));
		h = harness_start(&(struct srv_opts){.cert = cases[i].cert, .key = cases[i].key},
				  MODE_ECHO);
		client_open(&cl, h->port, &(struct cli_opts){.verify_name = cases[i].verify_name});
		assert_int_equal(cl.handshake_rc, 0);
		server_serial(&cl, serial, sizeof(serial));
		assert_string_equal(serial, cases[i].serial);
		client_send(&cl, "k", 1);
		expect_read(&cl, "K");
		client_close(&cl);
		harness_stop(h);
	}
}

static void test_load_errors(void **state)
{
	static const struct {
		const char *cert, *key, *ca;
		int require;
		const char *want1, *want2; /* substrings of the message */
	} cases[] = {
		{"server.pem", "server-ec.key", NULL, 0, "server-ec.key", "does not match"},
		{"missing.pem", "server.key", NULL, 0, "missing.pem", "No such file"},
		{"server.pem", "missing.key", NULL, 0, "missing.key", "No such file"},
		{"ca.key", "server.key", NULL, 0, "ca.key", "certificate"},
		{"server.pem", "server.pem", NULL, 0, "server.pem", "private key"},
		{"server.pem", "server.key", "missing-ca.pem", 0, "missing-ca.pem", "No such file"},
		{"server.pem", "server.key", "server.key", 0, "server.key", "CA"},
		{"server.pem", "server.key", NULL, 1, "client CA", "requir"},
	};
	char cert[512], key[512], ca[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dpp_tls_options o = {
			.cert = path_of(cases[i].cert, cert, sizeof(cert)),
			.key = path_of(cases[i].key, key, sizeof(key)),
			.client_ca = cases[i].ca ? path_of(cases[i].ca, ca, sizeof(ca)) : NULL,
			.require_client_cert = cases[i].require,
		};
		struct dpp_tls_creds *c = (struct dpp_tls_creds *)&o; /* must become NULL */
		char *err = NULL;

		assert_int_equal(dpp_tls_creds_load(&o, &c, &err), -1);
		assert_null(c);
		assert_non_null(err);
		if (strstr(err, cases[i].want1) == NULL || strstr(err, cases[i].want2) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\" or \"%s\"", i, err, cases[i].want1,
				 cases[i].want2);
		free(err);
	}
}

/* New handshakes use the new certificate; an established connection keeps
 * working. */
static void test_swap_creds(void **state)
{
	struct harness *h = harness_start(&(struct srv_opts){0}, MODE_ECHO);
	struct dpp_tls_creds *next = load_creds(&(struct srv_opts){.cert = "server2.pem",
								    .key = "server2.key"});
	struct client a, b;
	char serial[64];

	(void)state;
	client_open(&a, h->port, &(struct cli_opts){0});
	assert_int_equal(a.handshake_rc, 0);
	server_serial(&a, serial, sizeof(serial));
	assert_string_equal(serial, "5e0001");
	client_send(&a, "one", 3);
	expect_read(&a, "ONE");

	dpp_tls_swap_creds(h->tls, next);
	dpp_tls_creds_unref(next); /* the acceptor keeps its own reference */

	client_open(&b, h->port, &(struct cli_opts){0});
	assert_int_equal(b.handshake_rc, 0);
	server_serial(&b, serial, sizeof(serial));
	assert_string_equal(serial, "5e0002");
	client_send(&b, "two", 3);
	expect_read(&b, "TWO");
	client_send(&a, "still", 5);
	expect_read(&a, "STILL");
	client_close(&a);
	client_close(&b);
	assert_int_equal(wait_for(h, &h->o.dones, 2), 0);
	harness_stop(h);
}

/* Stop with idle established connections and a silent client in the
 * handshake returns promptly; every handed-off connection gets `done`. */
static void test_stop_with_open_connections(void **state)
{
	struct harness *h = harness_start(&(struct srv_opts){0}, MODE_ECHO);
	struct client cl[3];
	int silent = tcp_connect(h->port);
	int64_t t0;
	char c;
	int end;

	(void)state;
	for (int i = 0; i < 3; i++) {
		client_open(&cl[i], h->port, &(struct cli_opts){0});
		assert_int_equal(cl[i].handshake_rc, 0);
		client_send(&cl[i], "x", 1);
		expect_read(&cl[i], "X");
	}
	assert_int_equal(dpp_tls_active(h->tls), 4);
	t0 = mono_ms();
	dpp_tls_stop(h->tls);
	assert_true(mono_ms() - t0 < 1000);
	h->tls = NULL;
	assert_int_equal(observe(h).dones, 3);
	assert_int_equal(observe(h).rejects, 1);
	assert_string_equal(observe(h).reason, "server stopping");
	for (int i = 0; i < 3; i++) {
		/* The server side is gone: EOF or an error, never data. */
		assert_int_equal(client_read(&cl[i], &c, 1, &end), 0);
		assert_true(end != 0);
		client_close(&cl[i]);
	}
	close(silent);
	harness_stop(h);
}

/* A client that never speaks is dropped at the handshake deadline. */
static void test_handshake_timeout(void **state)
{
	struct harness *h = harness_start(&(struct srv_opts){.timeout_ms = 300}, MODE_ECHO);
	int fd = tcp_connect(h->port);
	int64_t t0 = mono_ms();
	char c;

	(void)state;
	assert_int_equal(wait_for(h, &h->o.rejects, 1), 0);
	assert_true(mono_ms() - t0 >= 250);
	assert_true(mono_ms() - t0 < 3000);
	assert_string_equal(observe(h).reason, "handshake timed out");
	assert_int_equal(read(fd, &c, 1), 0); /* closed by the server */
	close(fd);
	assert_int_equal(wait_idle(h), 0);
	harness_stop(h);
}

/* The handshake deadline does not apply afterwards: an idle stream lives. */
static void test_no_idle_timeout(void **state)
{
	struct harness *h = harness_start(&(struct srv_opts){.timeout_ms = 200}, MODE_ECHO);
	struct client cl;

	(void)state;
	client_open(&cl, h->port, &(struct cli_opts){0});
	assert_int_equal(cl.handshake_rc, 0);
	poll(NULL, 0, 800);
	client_send(&cl, "quiet", 5);
	expect_read(&cl, "QUIET");
	assert_int_equal(observe(h).rejects, 0);
	client_close(&cl);
	harness_stop(h);
}

/* hand_off refusing closes the connection, and done is not called. */
static void test_hand_off_failure(void **state)
{
	struct harness *h = harness_start(&(struct srv_opts){0}, MODE_FAIL);
	struct client cl;
	char c;
	int end;

	(void)state;
	client_open(&cl, h->port, &(struct cli_opts){0});
	assert_int_equal(cl.handshake_rc, 0);
	assert_int_equal(client_read(&cl, &c, 1, &end), 0);
	assert_true(end != 0);
	client_close(&cl);
	assert_int_equal(observe(h).handoffs, 1);
	assert_int_equal(wait_idle(h), 0);
	assert_int_equal(observe(h).dones, 0);
	harness_stop(h);
}

static void test_connection_limit(void **state)
{
	struct harness *h = harness_start(&(struct srv_opts){.max_conn = 1}, MODE_ECHO);
	struct client a, b;

	(void)state;
	client_open(&a, h->port, &(struct cli_opts){0});
	assert_int_equal(a.handshake_rc, 0);
	client_open(&b, h->port, &(struct cli_opts){0});
	assert_true(b.handshake_rc < 0);
	client_close(&b);
	assert_int_equal(wait_for(h, &h->o.rejects, 1), 0);
	assert_string_equal(observe(h).reason, "too many connections");
	client_send(&a, "a", 1);
	expect_read(&a, "A");
	client_close(&a);
	harness_stop(h);
}

/* ---- fixture ---- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int group_setup(void **state)
{
	const char *src = getenv("DPP_SOURCE_DIR");
	const char *tmp = getenv("TMPDIR");
	char script[1024], cmd[2048];

	(void)state;
	if (src != NULL) {
		snprintf(script, sizeof(script), "%s/tests/unit/make_certs.sh", src);
	} else {
		const char *slash = strrchr(__FILE__, '/');
		int dirlen = slash != NULL ? (int)(slash - __FILE__) : 1;

		snprintf(script, sizeof(script), "%.*s/make_certs.sh", dirlen,
			 slash != NULL ? __FILE__ : ".");
	}
	snprintf(g_dir, sizeof(g_dir), "%s/dpp-test-tls-XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(g_dir) == NULL)
		return -1;
	snprintf(cmd, sizeof(cmd), "sh '%s' '%s'", script, g_dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "%s failed\n", cmd);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	return nftw(g_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_half_close_client_first),
		cmocka_unit_test(test_half_close_tcp_eof),
		cmocka_unit_test(test_half_close_server_first),
		cmocka_unit_test(test_bulk_full_duplex),
		cmocka_unit_test(test_client_identity),
		cmocka_unit_test(test_require_rejects_bare_client),
		cmocka_unit_test(test_bad_client_certs),
		cmocka_unit_test(test_foreign_cert_not_sent),
		cmocka_unit_test(test_weak_protocols_refused),
		cmocka_unit_test(test_key_formats),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_swap_creds),
		cmocka_unit_test(test_stop_with_open_connections),
		cmocka_unit_test(test_handshake_timeout),
		cmocka_unit_test(test_no_idle_timeout),
		cmocka_unit_test(test_hand_off_failure),
		cmocka_unit_test(test_connection_limit),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
