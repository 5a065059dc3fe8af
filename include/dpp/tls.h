/* TLS termination with GnuTLS, in front of a plain-text HTTP layer.
 *
 * libmicrohttpd's own TLS mode breaks Docker's hijacked streams (upgrade data
 * stalls, half-close is lost; see docs/PROTOCOL-NOTES.md), so this module terminates
 * TLS itself: an acceptor thread accepts TCP connections, one thread per
 * connection runs the handshake (with a deadline), verifies the client
 * certificate, then hands the plain-text end of a socketpair to the HTTP layer
 * (e.g. MHD_add_connection) and pumps bytes between the TLS session and its
 * own end of the pair until both directions are done. Half-close propagates
 * both ways: a TLS close_notify or TCP EOF from the client becomes
 * shutdown(SHUT_WR) on the pair; EOF on the pair becomes a close_notify
 * (gnutls_bye(GNUTLS_SHUT_WR)) while client data keeps flowing in.
 * After the handshake there is no idle timeout (quiet `docker events` and
 * `logs -f` streams must live).
 *
 * Protocol: TLS 1.3 and 1.2 only (RFC 8446, RFC 5246), ECDHE key exchange,
 * AEAD ciphers only (AES-GCM, ChaCha20-Poly1305), no SHA-1 signatures, server
 * cipher preference; no session tickets or renegotiation (a renegotiation
 * attempt closes the connection, so the verified identity cannot change).
 *
 * Threads: gnutls_global_init runs once (pthread_once) and is never undone;
 * there is no other global state. Lock order: only dpp_tls.lock, never held
 * during I/O or while calling a handler callback. */
#ifndef DPP_TLS_H
#define DPP_TLS_H

#include <stddef.h>
#include <sys/socket.h>

#include "dpp/peer.h"

#define DPP_TLS_NAME_MAX 256          /* bytes of cn / one DNS SAN, with the NUL */
#define DPP_TLS_MAX_DNS_SANS 8        /* more DNS SANs than this fail the handshake */
#define DPP_TLS_SERIAL_MAX 64         /* bytes of serial_hex, with the NUL */
#define DPP_TLS_HANDSHAKE_TIMEOUT_MS 10000 /* default handshake deadline */
#define DPP_TLS_MAX_CONNECTIONS 1024  /* default limit of concurrent connections */
/* The rejected() reason for a connection over the limit (a flood, not a
 * client's fault: callers may count it instead of auditing each). */
#define DPP_TLS_REASON_TOO_MANY "too many connections"

/* The priority string given to GnuTLS (gnutls_priority_init(3)). */
#define DPP_TLS_PRIORITY                                                                  \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:" \
	"+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-RSA:+ECDHE-ECDSA:"                 \
	"-SIGN-RSA-SHA1:-SIGN-ECDSA-SHA1:%SERVER_PRECEDENCE"

/* What the TLS layer learned about the peer is a struct dpp_peer (peer.h)
 * with tls = 1: has_cert, cn, dns_sans, serial_hex. A certificate whose CN or
 * DNS SAN does not fit, contains a NUL byte or a control character, or that
 * carries more than DPP_TLS_MAX_DNS_SANS DNS SANs fails the handshake (fail
 * closed: nothing is truncated). */

/* Configuration of one set of credentials. Strings are borrowed for the call
 * of dpp_tls_creds_load only. */
struct dpp_tls_options {
	const char *cert;        /* PEM certificate chain, leaf first (required) */
	const char *key;         /* PEM private key of the leaf: PKCS#8 (unencrypted),
				    PKCS#1 (RSA) or SEC1 (EC) (required) */
	const char *client_ca;   /* PEM CA certificate(s) for client certificates;
				    NULL: no client certificate is requested */
	int require_client_cert; /* 1: a client without a valid certificate fails the
				    handshake (needs client_ca); 0: a certificate is
				    requested, and verified when one is sent */
	int handshake_timeout_ms; /* 0: DPP_TLS_HANDSHAKE_TIMEOUT_MS */
	int max_connections;     /* 0: DPP_TLS_MAX_CONNECTIONS; connections accepted
				    beyond it are closed at once (rejected callback) */
};

/* Immutable, reference-counted credentials: certificate chain + key + client
 * CA + flags + priorities. Thread-safe to share. */
struct dpp_tls_creds;

/* Loads credentials. Returns 0 with *out set (one reference, the caller's), or
 * -1 with *out NULL and *err a malloc'd message (caller frees; NULL when memory
 * is short) naming the file at fault and GnuTLS's reason, e.g.
 * "/etc/dpp/server.key: private key does not match the certificate
 * /etc/dpp/server.pem (...)". Thread-safe. */
int dpp_tls_creds_load(const struct dpp_tls_options *o, struct dpp_tls_creds **out, char **err);

/* Takes one more reference. Thread-safe (atomic). Returns c. */
struct dpp_tls_creds *dpp_tls_creds_ref(struct dpp_tls_creds *c);

/* Drops one reference; the last one frees. NULL is a no-op. Thread-safe. */
void dpp_tls_creds_unref(struct dpp_tls_creds *c);

/* The HTTP layer's side of a terminated connection. All callbacks run on the
 * connection's own thread (rejected may also run on the acceptor thread) and
 * may run concurrently for different connections. */
struct dpp_tls_handler {
	/* Called after a successful handshake and verification with the
	 * plain-text end of an AF_UNIX SOCK_STREAM socketpair (blocking,
	 * close-on-exec; ownership passes to the callee, e.g. to
	 * MHD_add_connection, even when it fails), the real TCP peer address
	 * and the identity (borrowed for the call; copy it). Returns 0: the TLS
	 * layer pumps bytes until the connection ends, then calls done with
	 * *token; or -1: the TLS layer closes the connection and done is not
	 * called. Required. */
	int (*hand_off)(void *ctx, int plain_fd, const struct sockaddr *peer, socklen_t peer_len,
			const struct dpp_peer *id, void **token);
	/* Called once when the pump of a connection handed off with success
	 * ended (its TLS side is closed). Optional. */
	void (*done)(void *ctx, void *token);
	/* Called when a connection ends before hand_off: handshake failure,
	 * client certificate verification failure, handshake timeout,
	 * connection limit, stop. reason is static or valid for the call only,
	 * e.g. "client certificate expired", "client certificate signed by an
	 * unknown CA", "no client certificate", "handshake timed out",
	 * "handshake: <GnuTLS message>". For audit and log. Optional. */
	void (*rejected)(void *ctx, const struct sockaddr *peer, socklen_t peer_len,
			 const char *reason);
	void *ctx;
};

/* Acceptor: one thread accepting on a listening socket, one thread per
 * connection. */
struct dpp_tls;

/* Starts the acceptor on listen_fd (a bound, listening TCP socket; owned from
 * now on, also on failure; closed by dpp_tls_stop). Takes its own reference
 * on creds. *h is copied. Returns 0 with *out set, or -1 with *out NULL and
 * *err malloc'd (caller frees; may be NULL when memory is short). */
int dpp_tls_start(int listen_fd, struct dpp_tls_creds *creds, const struct dpp_tls_handler *h,
		  struct dpp_tls **out, char **err);

/* Hot reload: handshakes that start after this call use creds (a reference is
 * taken; the caller keeps its own); established connections and handshakes in
 * progress keep the credentials they started with. Thread-safe. */
void dpp_tls_swap_creds(struct dpp_tls *t, struct dpp_tls_creds *creds);

/* Stops accepting, closes the listening socket, ends every connection (TLS
 * side closed without close_notify, pair end closed, done called for those
 * handed off), waits for every thread to finish, and frees t. Returns after
 * the slowest connection thread noticed the stop (milliseconds, unless a
 * handler callback blocks). NULL is a no-op. Not concurrently with other
 * calls on t. */
void dpp_tls_stop(struct dpp_tls *t);

/* Number of connection threads running (handshaking or pumping). Thread-safe. */
int dpp_tls_active(struct dpp_tls *t);

#endif
