/* TLS termination with GnuTLS; see dpp/tls.h.
 *
 * Lock order: only dpp_tls.lock (creds pointer, connection count), never held
 * during I/O or while a handler callback runs.
 *
 * Every socket is non-blocking; each thread waits in poll(2) on its sockets
 * plus the read end of the acceptor's wake pipe, which dpp_tls_stop makes
 * readable once and nobody drains, so every poller sees it. */
#include "dpp/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "dpp/log.h"

#define PUMP_BUF 16384               /* one TLS record of plaintext */
#define PEM_FILE_MAX (1024 * 1024)   /* bytes of a certificate or key file */
#define SAN_BUF 4096                 /* bytes of one subjectAltName while reading it */
#define SERIAL_MAX 31                /* octets; RFC 5280 4.1.2.2 allows 20 */
#define ACCEPT_BACKOFF_MS 100        /* after EMFILE and similar accept errors */
#define REASON_MAX 256

struct dpp_tls_creds {
	atomic_int refs;
	gnutls_certificate_credentials_t x509;
	gnutls_priority_t prio;
	gnutls_certificate_request_t request; /* IGNORE, REQUEST or REQUIRE */
	int handshake_timeout_ms;
	int max_connections;
};

struct dpp_tls {
	pthread_mutex_t lock;
	pthread_cond_t idle;
	struct dpp_tls_creds *creds; /* under lock */
	int active;                  /* connection threads; under lock */
	atomic_int stopping;
	int listen_fd;
	int wake[2];                 /* pipe; [1] written once by stop */
	pthread_t acceptor;
	struct dpp_tls_handler h;
};

struct conn {
	struct dpp_tls *t;
	struct dpp_tls_creds *creds;
	int fd;   /* TCP, non-blocking */
	int pair; /* our end of the socketpair, non-blocking; -1 before hand-off */
	struct sockaddr_storage peer;
	socklen_t peer_len;
	gnutls_session_t s;
	struct dpp_peer id;
	char reason[REASON_MAX]; /* why verification failed, set by verify_client */
	int tcp_eof;             /* the client's TCP stream ended (set by pull) */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_rc;

static void global_init(void)
{
	global_rc = gnutls_global_init();
}

static void set_err(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(char **err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(err, fmt, ap) < 0)
		*err = NULL;
	va_end(ap);
}

static int set_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- credentials ---- */

/* Reads a whole file (at most PEM_FILE_MAX bytes) into *out (gnutls_free). */
static int read_pem(const char *path, const char *what, gnutls_datum_t *out, char **err)
{
	struct stat st;
	FILE *f = NULL;
	int rc = -1;

	out->data = NULL;
	out->size = 0;
	f = fopen(path, "rbe");
	if (f == NULL) {
		set_err(err, "%s: cannot open the %s: %s", path, what, strerror(errno));
		goto cleanup;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		set_err(err, "%s: the %s is not a regular file", path, what);
		goto cleanup;
	}
	if (st.st_size <= 0 || st.st_size > PEM_FILE_MAX) {
		set_err(err, "%s: the %s is %s", path, what,
			st.st_size <= 0 ? "empty" : "larger than 1 MiB");
		goto cleanup;
	}
	out->data = gnutls_malloc((size_t)st.st_size + 1);
	if (out->data == NULL) {
		set_err(err, "%s: out of memory", path);
		goto cleanup;
	}
	out->size = (unsigned)fread(out->data, 1, (size_t)st.st_size, f);
	if (out->size != (unsigned)st.st_size) {
		set_err(err, "%s: cannot read the %s", path, what);
		goto cleanup;
	}
	out->data[out->size] = '\0';
	rc = 0;
cleanup:
	if (f != NULL)
		fclose(f);
	if (rc != 0) {
		gnutls_free(out->data);
		out->data = NULL;
		out->size = 0;
	}
	return rc;
}

static void free_datum(gnutls_datum_t *d, int secret)
{
	if (d->data != NULL && secret)
		gnutls_memset(d->data, 0, d->size);
	gnutls_free(d->data);
	d->data = NULL;
	d->size = 0;
}

static int verify_client(gnutls_session_t s);

int dpp_tls_creds_load(const struct dpp_tls_options *o, struct dpp_tls_creds **out, char **err)
{
	struct dpp_tls_creds *c = NULL;
	gnutls_datum_t cert = {NULL, 0}, key = {NULL, 0}, ca = {NULL, 0};
	gnutls_x509_crt_t *chain = NULL;
	unsigned int nchain = 0;
	gnutls_x509_privkey_t pk = NULL;
	const char *errpos = NULL;
	int rc = -1, r;

	*out = NULL;
	if (err != NULL)
		*err = NULL;
	if (o == NULL || o->cert == NULL || o->key == NULL) {
		set_err(err, "TLS needs a certificate file and a key file");
		goto cleanup;
	}
	if (o->require_client_cert && o->client_ca == NULL) {
		set_err(err, "requiring client certificates needs a client CA file");
		goto cleanup;
	}
	if (o->handshake_timeout_ms < 0 || o->max_connections < 0) {
		set_err(err, "TLS handshake timeout and connection limit must not be negative");
		goto cleanup;
	}
	pthread_once(&global_once, global_init);
	if (global_rc < 0) {
		set_err(err, "cannot initialise GnuTLS: %s", gnutls_strerror(global_rc));
		goto cleanup;
	}
	if (read_pem(o->cert, "certificate file", &cert, err) != 0 ||
	    read_pem(o->key, "key file", &key, err) != 0)
		goto cleanup;
	/* Parse each file on its own first, so an error names the right one. */
	r = gnutls_x509_crt_list_import2(&chain, &nchain, &cert, GNUTLS_X509_FMT_PEM,
					 GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
	if (r < 0) {
		set_err(err, "%s: not a PEM certificate chain with the leaf first: %s", o->cert,
			gnutls_strerror(r));
		goto cleanup;
	}
	if (nchain == 0) {
		set_err(err, "%s: no certificate found", o->cert);
		goto cleanup;
	}
	r = gnutls_x509_privkey_init(&pk);
	if (r >= 0)
		r = gnutls_x509_privkey_import2(pk, &key, GNUTLS_X509_FMT_PEM, NULL,
						GNUTLS_PKCS_PLAIN);
	if (r < 0) {
		set_err(err, "%s: not an unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1): %s",
			o->key, gnutls_strerror(r));
		goto cleanup;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		set_err(err, "out of memory");
		goto cleanup;
	}
	atomic_init(&c->refs, 1);
	r = gnutls_certificate_allocate_credentials(&c->x509);
	if (r < 0) {
		c->x509 = NULL;
		set_err(err, "cannot allocate TLS credentials: %s", gnutls_strerror(r));
		goto cleanup;
	}
	r = gnutls_certificate_set_x509_key_mem2(c->x509, &cert, &key, GNUTLS_X509_FMT_PEM, NULL,
						 0);
	if (r == GNUTLS_E_CERTIFICATE_KEY_MISMATCH) {
		set_err(err, "%s: the private key does not match the certificate %s (%s)", o->key,
			o->cert, gnutls_strerror(r));
		goto cleanup;
	}
	if (r < 0) {
		set_err(err, "%s, %s: %s", o->cert, o->key, gnutls_strerror(r));
		goto cleanup;
	}
	c->request = GNUTLS_CERT_IGNORE;
	if (o->client_ca != NULL) {
		if (read_pem(o->client_ca, "client CA file", &ca, err) != 0)
			goto cleanup;
		r = gnutls_certificate_set_x509_trust_mem(c->x509, &ca, GNUTLS_X509_FMT_PEM);
		if (r < 0) {
			set_err(err, "%s: not a PEM CA certificate: %s", o->client_ca,
				gnutls_strerror(r));
			goto cleanup;
		}
		if (r == 0) {
			set_err(err, "%s: no CA certificate found", o->client_ca);
			goto cleanup;
		}
		c->request = o->require_client_cert ? GNUTLS_CERT_REQUIRE : GNUTLS_CERT_REQUEST;
		gnutls_certificate_set_verify_function(c->x509, verify_client);
	}
	r = gnutls_priority_init(&c->prio, DPP_TLS_PRIORITY, &errpos);
	if (r < 0) {
		c->prio = NULL;
		set_err(err, "GnuTLS rejects the priority string at \"%s\": %s",
			errpos != NULL ? errpos : "", gnutls_strerror(r));
		goto cleanup;
	}
	c->handshake_timeout_ms =
		o->handshake_timeout_ms > 0 ? o->handshake_timeout_ms : DPP_TLS_HANDSHAKE_TIMEOUT_MS;
	c->max_connections = o->max_connections > 0 ? o->max_connections : DPP_TLS_MAX_CONNECTIONS;
	*out = c;
	c = NULL;
	rc = 0;
cleanup:
	dpp_tls_creds_unref(c);
	if (pk != NULL)
		gnutls_x509_privkey_deinit(pk);
	for (unsigned int i = 0; i < nchain; i++)
		gnutls_x509_crt_deinit(chain[i]);
	gnutls_free(chain);
	free_datum(&cert, 0);
	free_datum(&key, 1);
	free_datum(&ca, 0);
	if (rc != 0 && err != NULL && *err == NULL)
		set_err(err, "out of memory");
	return rc;
}

struct dpp_tls_creds *dpp_tls_creds_ref(struct dpp_tls_creds *c)
{
	atomic_fetch_add(&c->refs, 1);
	return c;
}

void dpp_tls_creds_unref(struct dpp_tls_creds *c)
{
	if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	if (c->prio != NULL)
		gnutls_priority_deinit(c->prio);
	if (c->x509 != NULL)
		gnutls_certificate_free_credentials(c->x509);
	free(c);
}

/* ---- client certificate verification ---- */

/* The first matching bit names the failure; the order puts the most telling
 * reason first (a foreign certificate may also be expired). */
static const struct {
	unsigned int bit;
	const char *text;
} verify_reasons[] = {
	{GNUTLS_CERT_SIGNER_NOT_FOUND, "client certificate signed by an unknown CA"},
	{GNUTLS_CERT_SIGNER_NOT_CA, "client certificate signed by a certificate that is not a CA"},
	{GNUTLS_CERT_SIGNATURE_FAILURE, "client certificate signature does not verify"},
	{GNUTLS_CERT_INSECURE_ALGORITHM, "client certificate signed with an insecure algorithm"},
	{GNUTLS_CERT_REVOKED, "client certificate revoked"},
	{GNUTLS_CERT_EXPIRED, "client certificate expired"},
	{GNUTLS_CERT_NOT_ACTIVATED, "client certificate not yet valid"},
	{GNUTLS_CERT_PURPOSE_MISMATCH, "client certificate not valid for TLS client authentication"},
	{GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE, "client certificate violates its CA's constraints"},
	{GNUTLS_CERT_UNEXPECTED_OWNER, "client certificate has an unexpected owner"},
};

/* A name is usable as an identity when it is non-empty text without control
 * bytes (UTF-8 passes through). */
static int name_ok(const char *s, size_t len)
{
	if (len == 0 || strlen(s) != len)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch == 0x7f)
			return 0;
	}
	return 1;
}

/* Fills id (cn, dns_sans, serial_hex) from the leaf certificate. Returns 0, or
 * -1 with a static *why. */
static int identity_from_cert(const gnutls_datum_t *der, struct dpp_peer *id,
			      const char **why)
{
	gnutls_x509_crt_t crt = NULL;
	unsigned char serial[SERIAL_MAX];
	char *san = NULL;
	size_t sz;
	int rc = -1, r;

	*why = "client certificate cannot be parsed";
	if (gnutls_x509_crt_init(&crt) < 0) {
		crt = NULL;
		goto cleanup;
	}
	if (gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) < 0)
		goto cleanup;
	sz = sizeof(id->cn);
	r = gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, id->cn, &sz);
	if (r == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) {
		id->cn[0] = '\0';
	} else if (r < 0 || !name_ok(id->cn, sz)) {
		*why = r == GNUTLS_E_SHORT_MEMORY_BUFFER ? "client certificate CN too long"
							 : "client certificate CN is not plain text";
		id->cn[0] = '\0';
		goto cleanup;
	}
	san = malloc(SAN_BUF);
	if (san == NULL) {
		*why = "out of memory";
		goto cleanup;
	}
	id->n_dns_sans = 0;
	for (unsigned int seq = 0;; seq++) {
		sz = SAN_BUF;
		r = gnutls_x509_crt_get_subject_alt_name(crt, seq, san, &sz, NULL);
		if (r == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (r < 0) {
			*why = "client certificate subjectAltName cannot be read";
			goto cleanup;
		}
		if (r != GNUTLS_SAN_DNSNAME)
			continue;
		if (id->n_dns_sans == DPP_TLS_MAX_DNS_SANS) {
			*why = "client certificate has too many DNS subjectAltNames";
			goto cleanup;
		}
		if (sz >= DPP_TLS_NAME_MAX || !name_ok(san, sz)) {
			*why = "client certificate DNS subjectAltName too long or not plain text";
			goto cleanup;
		}
		memcpy(id->dns_sans[id->n_dns_sans++], san, sz + 1);
	}
	sz = sizeof(serial);
	if (gnutls_x509_crt_get_serial(crt, serial, &sz) < 0 || sz == 0) {
		*why = "client certificate serial number missing or too long";
		goto cleanup;
	}
	for (size_t i = 0; i < sz; i++)
		snprintf(id->serial_hex + 2 * i, 3, "%02x", serial[i]);
	rc = 0;
	*why = NULL;
cleanup:
	free(san);
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
	return rc;
}

/* Runs inside gnutls_handshake once the client's Certificate message arrived
 * (credentials with a client CA only). Returns 0 to go on, nonzero to fail the
 * handshake; the reason goes to c->reason. */
static int verify_client(gnutls_session_t s)
{
	struct conn *c = gnutls_session_get_ptr(s);
	gnutls_typed_vdata_st purpose = {.type = GNUTLS_DT_KEY_PURPOSE_OID,
					  .data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT};
	const gnutls_datum_t *certs;
	unsigned int n = 0, status = 0;
	const char *why = NULL;
	int r;

	certs = gnutls_certificate_get_peers(s, &n);
	if (certs == NULL || n == 0) {
		if (c->creds->request != GNUTLS_CERT_REQUIRE)
			return 0;
		snprintf(c->reason, sizeof(c->reason), "no client certificate");
		return -1;
	}
	r = gnutls_certificate_verify_peers(s, &purpose, 1, &status);
	if (r < 0) {
		snprintf(c->reason, sizeof(c->reason), "client certificate: %s", gnutls_strerror(r));
		return -1;
	}
	if (status != 0) {
		gnutls_datum_t text = {NULL, 0};

		for (size_t i = 0; i < sizeof(verify_reasons) / sizeof(verify_reasons[0]); i++) {
			if (status & verify_reasons[i].bit) {
				snprintf(c->reason, sizeof(c->reason), "%s",
					 verify_reasons[i].text);
				return -1;
			}
		}
		if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text,
								 0) >= 0) {
			snprintf(c->reason, sizeof(c->reason), "client certificate: %s",
				 (const char *)text.data);
			gnutls_free(text.data);
		} else {
			snprintf(c->reason, sizeof(c->reason), "client certificate not trusted");
		}
		return -1;
	}
	if (identity_from_cert(&certs[0], &c->id, &why) != 0) {
		snprintf(c->reason, sizeof(c->reason), "%s", why);
		return -1;
	}
	c->id.has_cert = 1;
	return 0;
}

/* ---- connection thread ---- */

static int stopping(const struct dpp_tls *t)
{
	return atomic_load(&t->stopping);
}

static void reject(struct dpp_tls *t, const struct sockaddr_storage *peer, socklen_t len,
		   const char *reason)
{
	if (t->h.rejected != NULL)
		t->h.rejected(t->h.ctx, (const struct sockaddr *)peer, len, reason);
}

/* Transport callbacks. TCP EOF is reported to GnuTLS as EAGAIN and noted in
 * c->tcp_eof instead of as a 0 read: GnuTLS would call that a premature
 * termination and invalidate the session, and then nothing more could be
 * sent, while a client that half-closes its TCP stream without a
 * close_notify (Python's SSLSocket.shutdown) still waits for output. GnuTLS
 * pulls only when it needs bytes for the record it is reading, so every
 * complete record before the EOF has been delivered; a partial one is lost,
 * as with any truncation. */
static ssize_t pull(gnutls_transport_ptr_t ptr, void *buf, size_t len)
{
	struct conn *c = ptr;
	ssize_t n = recv(c->fd, buf, len, 0);

	if (n == 0 && len > 0) {
		c->tcp_eof = 1;
		gnutls_transport_set_errno(c->s, EAGAIN);
		return -1;
	}
	if (n < 0)
		gnutls_transport_set_errno(c->s, errno);
	return n;
}

static ssize_t push(gnutls_transport_ptr_t ptr, const void *buf, size_t len)
{
	struct conn *c = ptr;
	ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);

	if (n < 0)
		gnutls_transport_set_errno(c->s, errno);
	return n;
}

static int pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
	struct conn *c = ptr;
	struct pollfd p = {.fd = c->fd, .events = POLLIN};
	int n = poll(&p, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);

	if (n < 0)
		gnutls_transport_set_errno(c->s, errno);
	return n;
}

/* Runs the handshake until done, failed, timed out or stopped. Returns 0, or
 * -1 with the reason in buf. */
static int handshake(struct conn *c, char *buf, size_t bufsz)
{
	int64_t deadline = mono_ms() + c->creds->handshake_timeout_ms;
	int r;

	for (;;) {
		struct pollfd p[2] = {{.fd = c->fd}, {.fd = c->t->wake[0], .events = POLLIN}};
		int64_t left;

		r = gnutls_handshake(c->s);
		if (r == GNUTLS_E_SUCCESS)
			return 0;
		if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED) {
			if (!gnutls_error_is_fatal(r))
				continue; /* a warning alert */
			break;
		}
		if (c->tcp_eof) {
			snprintf(buf, bufsz, "handshake: the client closed the connection");
			return -1;
		}
		left = deadline - mono_ms();
		if (left <= 0) {
			snprintf(buf, bufsz, "handshake timed out");
			return -1;
		}
		p[0].events = gnutls_record_get_direction(c->s) == 1 ? POLLOUT : POLLIN;
		if (poll(p, 2, (int)left) < 0 && errno != EINTR) {
			snprintf(buf, bufsz, "handshake: poll: %s", strerror(errno));
			return -1;
		}
		if (stopping(c->t)) {
			snprintf(buf, bufsz, "server stopping");
			return -1;
		}
	}
	if (c->reason[0] != '\0')
		snprintf(buf, bufsz, "%s", c->reason);
	else if (r == GNUTLS_E_NO_CERTIFICATE_FOUND || r == GNUTLS_E_CERTIFICATE_REQUIRED)
		snprintf(buf, bufsz, "no client certificate");
	else if (r == GNUTLS_E_FATAL_ALERT_RECEIVED)
		snprintf(buf, bufsz, "handshake: the client sent the alert \"%s\"",
			 gnutls_alert_get_name(gnutls_alert_get(c->s)));
	else if (r == GNUTLS_E_PREMATURE_TERMINATION || r == GNUTLS_E_PULL_ERROR ||
		 r == GNUTLS_E_PUSH_ERROR)
		snprintf(buf, bufsz, "handshake: the client closed the connection");
	else
		snprintf(buf, bufsz, "handshake: %s", gnutls_strerror(r));
	/* Best effort: one non-blocking try to tell the client why. */
	gnutls_alert_send_appropriate(c->s, r);
	return -1;
}

/* Copies bytes both ways between the TLS session and c->pair until both
 * directions are done, an error occurs or the acceptor stops. */
static void pump(struct conn *c)
{
	gnutls_session_t s = c->s;
	char *t2p = malloc(PUMP_BUF), *p2t = malloc(PUMP_BUF);
	size_t t2p_off = 0, t2p_len = 0, p2t_off = 0, p2t_len = 0;
	int tls_eof = 0, tcp_hup = 0;       /* TLS side: no more input; both ways closed */
	int pair_eof = 0, pair_hup = 0;     /* pair side: no more input; both ways closed */
	int pair_shut = 0, t2p_dead = 0;    /* EOF passed to the pair; pair takes no data */
	int bye_done = 0, tls_want_out = 0; /* close_notify sent; a send waits for POLLOUT */
	int recv_want_out = 0;              /* a TLS 1.3 recv must send (e.g. KeyUpdate) */
	ssize_t n;

	if (t2p == NULL || p2t == NULL)
		goto cleanup;
	for (;;) {
		struct pollfd p[3] = {{.fd = c->fd}, {.fd = c->pair}, {.fd = c->t->wake[0]}};
		int pending, r;

		/* TLS -> pair */
		while (t2p_len > 0) {
			n = send(c->pair, t2p + t2p_off, t2p_len, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			if (n < 0) {
				/* The HTTP layer closed: drop client input from now
				 * on, but still deliver what it wrote before. */
				t2p_dead = 1;
				pair_shut = 1;
				t2p_len = 0;
				break;
			}
			t2p_off += (size_t)n;
			t2p_len -= (size_t)n;
		}
		if (t2p_len == 0 && tls_eof && !pair_shut) {
			if (shutdown(c->pair, SHUT_WR) != 0 && errno != ENOTCONN)
				goto cleanup;
			pair_shut = 1;
		}
		/* pair -> TLS; after GNUTLS_E_AGAIN the same call is repeated. */
		tls_want_out = 0;
		while (p2t_len > 0) {
			r = (int)gnutls_record_send(s, p2t + p2t_off, p2t_len);
			if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
				tls_want_out = 1;
				break;
			}
			if (r < 0)
				goto cleanup;
			p2t_off += (size_t)r;
			p2t_len -= (size_t)r;
		}
		if (p2t_len == 0 && pair_eof && !bye_done) {
			r = gnutls_bye(s, GNUTLS_SHUT_WR);
			if (r == GNUTLS_E_SUCCESS)
				bye_done = 1;
			else if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
				tls_want_out = 1;
			else
				goto cleanup;
		}
		/* Done both ways, or one side is gone and the other has
		 * nothing more it could deliver. */
		if (pair_shut && bye_done)
			break;
		if (pair_hup && pair_eof && bye_done)
			break;
		if (tcp_hup && tls_eof && pair_shut)
			break;

		pending = !tls_eof && t2p_len == 0 && gnutls_record_check_pending(s) > 0;
		if (!tls_eof && t2p_len == 0)
			p[0].events |= POLLIN;
		if (tls_want_out || recv_want_out)
			p[0].events |= POLLOUT;
		if (tcp_hup && p[0].events == 0)
			p[0].fd = -1; /* would report POLLHUP forever */
		if (!pair_eof && p2t_len == 0)
			p[1].events |= POLLIN;
		if (t2p_len > 0)
			p[1].events |= POLLOUT;
		if (pair_hup && p[1].events == 0)
			p[1].fd = -1;
		p[2].events = POLLIN;
		if (poll(p, 3, pending ? 0 : -1) < 0 && errno != EINTR)
			goto cleanup;
		if (stopping(c->t))
			goto cleanup;
		if (p[0].revents & (POLLHUP | POLLERR))
			tcp_hup = 1;
		if (p[1].revents & (POLLHUP | POLLERR))
			pair_hup = 1;
		if (!tls_eof && t2p_len == 0 &&
		    (pending || (p[0].revents & (POLLIN | POLLHUP | POLLERR)) ||
		     (recv_want_out && (p[0].revents & POLLOUT)))) {
			recv_want_out = 0;
			r = (int)gnutls_record_recv(s, t2p, PUMP_BUF);
			if (r > 0) {
				t2p_off = 0;
				t2p_len = t2p_dead ? 0 : (size_t)r;
			} else if (r == 0) {
				tls_eof = 1; /* close_notify */
			} else if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
				tls_eof = c->tcp_eof; /* see pull() */
				recv_want_out = gnutls_record_get_direction(s) == 1;
			} else if (r == GNUTLS_E_REHANDSHAKE || gnutls_error_is_fatal(r)) {
				goto cleanup; /* renegotiation is refused: close */
			}
		}
		if (!pair_eof && p2t_len == 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			n = recv(c->pair, p2t, PUMP_BUF, 0);
			if (n > 0) {
				p2t_off = 0;
				p2t_len = (size_t)n;
			} else if (n == 0 || errno == ECONNRESET) {
				pair_eof = 1;
			} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				goto cleanup;
			}
		}
	}
cleanup:
	free(t2p);
	free(p2t);
}

static void conn_free(struct conn *c)
{
	struct dpp_tls *t = c->t;

	if (c->s != NULL)
		gnutls_deinit(c->s);
	if (c->pair >= 0)
		close(c->pair);
	if (c->fd >= 0)
		close(c->fd);
	dpp_tls_creds_unref(c->creds);
	free(c);
	pthread_mutex_lock(&t->lock);
	if (--t->active == 0)
		pthread_cond_broadcast(&t->idle);
	pthread_mutex_unlock(&t->lock);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct dpp_tls *t = c->t;
	char reason[REASON_MAX] = "";
	int sv[2] = {-1, -1};
	void *token = NULL;
	int r;

	r = gnutls_init(&c->s, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
	if (r < 0) {
		c->s = NULL;
		snprintf(reason, sizeof(reason), "cannot start a TLS session: %s",
			 gnutls_strerror(r));
		goto rejected;
	}
	r = gnutls_priority_set(c->s, c->creds->prio);
	if (r >= 0)
		r = gnutls_credentials_set(c->s, GNUTLS_CRD_CERTIFICATE, c->creds->x509);
	if (r < 0) {
		snprintf(reason, sizeof(reason), "cannot set up a TLS session: %s",
			 gnutls_strerror(r));
		goto rejected;
	}
	gnutls_certificate_server_set_request(c->s, c->creds->request);
	gnutls_session_set_ptr(c->s, c);
	gnutls_transport_set_ptr(c->s, c);
	gnutls_transport_set_pull_function(c->s, pull);
	gnutls_transport_set_push_function(c->s, push);
	gnutls_transport_set_pull_timeout_function(c->s, pull_timeout);
	c->id.tls = 1;
	if (handshake(c, reason, sizeof(reason)) != 0)
		goto rejected;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 ||
	    set_nonblocking(sv[0]) != 0) {
		snprintf(reason, sizeof(reason), "cannot create a socketpair: %s", strerror(errno));
		goto rejected;
	}
	c->pair = sv[0];
	sv[0] = -1;
	/* sv[1] belongs to the handler from here on, whatever it returns. */
	if (t->h.hand_off(t->h.ctx, sv[1], (const struct sockaddr *)&c->peer, c->peer_len, &c->id,
			  &token) != 0) {
		conn_free(c);
		return NULL;
	}
	pump(c);
	/* Close both ends before `done`, so the handler sees the end. */
	close(c->pair);
	c->pair = -1;
	gnutls_deinit(c->s);
	c->s = NULL;
	close(c->fd);
	c->fd = -1;
	if (t->h.done != NULL)
		t->h.done(t->h.ctx, token);
	conn_free(c);
	return NULL;
rejected:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	reject(t, &c->peer, c->peer_len, reason);
	conn_free(c);
	return NULL;
}

/* ---- acceptor ---- */

static void start_conn(struct dpp_tls *t, int fd, const struct sockaddr_storage *peer,
		       socklen_t peer_len)
{
	struct conn *c = NULL;
	struct dpp_tls_creds *creds;
	pthread_attr_t attr;
	pthread_t tid;
	int over, ok = 0;

	pthread_mutex_lock(&t->lock);
	creds = dpp_tls_creds_ref(t->creds);
	over = t->active >= creds->max_connections;
	if (!over)
		t->active++;
	pthread_mutex_unlock(&t->lock);
	if (over) {
		dpp_tls_creds_unref(creds);
		close(fd);
		reject(t, peer, peer_len, DPP_TLS_REASON_TOO_MANY);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c != NULL) {
		c->t = t;
		c->creds = creds;
		c->fd = fd;
		c->pair = -1;
		memcpy(&c->peer, peer, peer_len);
		c->peer_len = peer_len;
		if (pthread_attr_init(&attr) == 0) {
			ok = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
			     pthread_create(&tid, &attr, conn_main, c) == 0;
			pthread_attr_destroy(&attr);
		}
	}
	if (ok)
		return;
	if (c != NULL) {
		conn_free(c); /* closes fd, drops creds, counts down */
	} else {
		dpp_tls_creds_unref(creds);
		close(fd);
		pthread_mutex_lock(&t->lock);
		if (--t->active == 0)
			pthread_cond_broadcast(&t->idle);
		pthread_mutex_unlock(&t->lock);
	}
	reject(t, peer, peer_len, "cannot start a connection thread");
}

static void *acceptor_main(void *arg)
{
	struct dpp_tls *t = arg;

	while (!stopping(t)) {
		struct pollfd p[2] = {{.fd = t->listen_fd, .events = POLLIN},
				      {.fd = t->wake[0], .events = POLLIN}};
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int fd;

		if (poll(p, 2, -1) < 0 && errno != EINTR) {
			dpp_log_error("tls: poll on the listening socket: %s", strerror(errno));
			poll(NULL, 0, ACCEPT_BACKOFF_MS);
			continue;
		}
		if (stopping(t))
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		fd = accept4(t->listen_fd, (struct sockaddr *)&peer, &len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
			    errno == ECONNABORTED)
				continue;
			/* EMFILE, ENFILE, ENOBUFS, ENOMEM: wait, do not spin. */
			dpp_log_warn("tls: accept: %s", strerror(errno));
			poll(NULL, 0, ACCEPT_BACKOFF_MS);
			continue;
		}
		start_conn(t, fd, &peer, len);
	}
	return NULL;
}

int dpp_tls_start(int listen_fd, struct dpp_tls_creds *creds, const struct dpp_tls_handler *h,
		  struct dpp_tls **out, char **err)
{
	struct dpp_tls *t = NULL;
	int locks = 0;

	*out = NULL;
	if (err != NULL)
		*err = NULL;
	if (creds == NULL || h == NULL || h->hand_off == NULL) {
		set_err(err, "TLS acceptor needs credentials and a hand-off callback");
		goto fail;
	}
	if (set_nonblocking(listen_fd) != 0) {
		set_err(err, "TLS listening socket: %s", strerror(errno));
		goto fail;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		set_err(err, "out of memory");
		goto fail;
	}
	t->wake[0] = t->wake[1] = -1;
	t->listen_fd = listen_fd;
	t->h = *h;
	atomic_init(&t->stopping, 0);
	if (pthread_mutex_init(&t->lock, NULL) != 0)
		goto fail_sys;
	locks = 1;
	if (pthread_cond_init(&t->idle, NULL) != 0)
		goto fail_sys;
	locks = 2;
	if (pipe2(t->wake, O_CLOEXEC | O_NONBLOCK) != 0)
		goto fail_sys;
	t->creds = dpp_tls_creds_ref(creds);
	if (pthread_create(&t->acceptor, NULL, acceptor_main, t) != 0) {
		dpp_tls_creds_unref(t->creds);
		goto fail_sys;
	}
	*out = t;
	return 0;
fail_sys:
	set_err(err, "cannot start the TLS acceptor: %s", strerror(errno));
fail:
	if (t != NULL) {
		if (t->wake[0] >= 0)
			close(t->wake[0]);
		if (t->wake[1] >= 0)
			close(t->wake[1]);
		if (locks >= 2)
			pthread_cond_destroy(&t->idle);
		if (locks >= 1)
			pthread_mutex_destroy(&t->lock);
		free(t);
	}
	close(listen_fd);
	return -1;
}

void dpp_tls_swap_creds(struct dpp_tls *t, struct dpp_tls_creds *creds)
{
	struct dpp_tls_creds *old;

	dpp_tls_creds_ref(creds);
	pthread_mutex_lock(&t->lock);
	old = t->creds;
	t->creds = creds;
	pthread_mutex_unlock(&t->lock);
	dpp_tls_creds_unref(old);
}

void dpp_tls_stop(struct dpp_tls *t)
{
	ssize_t n;

	if (t == NULL)
		return;
	atomic_store(&t->stopping, 1);
	do
		n = write(t->wake[1], "x", 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		dpp_log_error("tls: cannot wake the connection threads: %s", strerror(errno));
	pthread_join(t->acceptor, NULL);
	close(t->listen_fd);
	pthread_mutex_lock(&t->lock);
	while (t->active > 0)
		pthread_cond_wait(&t->idle, &t->lock);
	pthread_mutex_unlock(&t->lock);
	dpp_tls_creds_unref(t->creds);
	close(t->wake[0]);
	close(t->wake[1]);
	pthread_cond_destroy(&t->idle);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

int dpp_tls_active(struct dpp_tls *t)
{
	int n;

	pthread_mutex_lock(&t->lock);
	n = t->active;
	pthread_mutex_unlock(&t->lock);
	return n;
}
