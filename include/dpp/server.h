/* The HTTP side: libmicrohttpd in thread-per-connection mode, forwarding every
 * request to Docker through dpp_upstream, hijacked streams through
 * dpp_hijacks. */
#ifndef DPP_SERVER_H
#define DPP_SERVER_H

#include <stdint.h>

struct dpp_server;
struct dpp_runtime;
struct dpp_bus;
struct dpp_metrics;
struct dpp_tls_creds;
struct dpp_ratelimit;
struct dpp_lockout;

struct dpp_server_options {
	const char *bind;        /* IPv4 or IPv6 literal; "::" listens dual-stack */
	int port;                /* TCP port */
	const char *socket_path; /* Docker's Unix socket */
	int docker_up;           /* 1 when the start-up probe reached Docker */
	struct dpp_runtime *rt;  /* initial policy; the server takes its own reference */
	const char *listen_unix; /* extra Unix-socket listener path, NULL/"" = none */
	const char *listen_unix_mode;  /* octal string, e.g. "0660" */
	const char *listen_unix_group; /* "" = unchanged */
	struct dpp_tls_creds *tls_creds; /* TLS on the TCP port (reference taken), or NULL */
	int client_timeout_s;    /* silence allowed mid-request or idle; 0 = never */
	int max_connections;     /* 0 = 4096 */
	int max_connections_per_ip; /* 0 = no limit */
	/* Bus subscribers that must see the very first request (the audit
	 * writer, the store): attach is called once the bus and metrics exist
	 * and before anything is accepted. When dpp_server_start fails after
	 * attach, detach is called (no request runs any more) before the bus is
	 * freed: unsubscribe there. Both run on the calling thread; NULL: none.
	 * attach returns 0, or -1 to make dpp_server_start fail before anything
	 * is accepted (detach is still called, so undo partial work there). */
	int (*attach)(void *arg, struct dpp_bus *bus, struct dpp_metrics *metrics);
	void (*detach)(void *arg);
	void *attach_arg;
	int listen_fd;           /* > 0: a listening TCP socket to serve instead of binding
				    bind:port (systemd socket activation; ownership passes
				    to the server); 0 = bind it ourselves */
};

/* Binds the listen socket and starts serving. Borrowed strings are copied.
 * Returns 0 and *out (caller owns; dpp_server_stop_accepting, then dpp_server_free), or -1 with *err set to a
 * malloc'd one-line operator message (caller frees), e.g. when the port is
 * taken. Not thread-safe; call from the main thread. */
int dpp_server_start(const struct dpp_server_options *opts, struct dpp_server **out,
		     char **err);

/* Installs a new runtime (SIGHUP): requests that started keep theirs; new
 * ones use rt. Takes its own reference. Drops rate-limit buckets of rules
 * that no longer exist (buckets of rules whose name is unchanged survive).
 * Thread-safe. */
void dpp_server_swap_runtime(struct dpp_server *srv, struct dpp_runtime *rt);

/* SIGHUP: new TLS handshakes use creds (a reference is taken); established
 * connections keep theirs. No-op when the server runs without TLS.
 * dpp_server_has_tls: 1 when the TCP listener is TLS. Both thread-safe. */
void dpp_server_swap_tls(struct dpp_server *srv, struct dpp_tls_creds *creds);
int dpp_server_has_tls(const struct dpp_server *srv);

/* The event bus every request publishes to (audit writer, later the store
 * and the console subscribe). Borrowed; lives until dpp_server_free. */
struct dpp_bus *dpp_server_bus(struct dpp_server *srv);

/* Read-only views for the operator console (dpp/control.h). Borrowed
 * pointers live until dpp_server_free; both objects lock themselves.
 * dpp_server_runtime returns a new reference to the runtime in effect
 * (caller unrefs). streams: hijacked streams open now. docker_up: 1 when
 * the last contact with Docker worked. All thread-safe. */
struct dpp_ratelimit *dpp_server_ratelimit(struct dpp_server *srv);
struct dpp_lockout *dpp_server_lockout(struct dpp_server *srv);
struct dpp_runtime *dpp_server_runtime(struct dpp_server *srv);
int dpp_server_streams(struct dpp_server *srv);
int dpp_server_docker_up(struct dpp_server *srv);
/* Finished requests and, of those, the ones refused (deny, rate_limited,
 * auth_failure) since start. Thread-safe (atomics). */
void dpp_server_counts(struct dpp_server *srv, uint64_t *requests, uint64_t *denials);

/* The metrics registry (to feed counters owned elsewhere, e.g. audit drops).
 * Borrowed; lives until dpp_server_free. */
struct dpp_metrics *dpp_server_metrics(struct dpp_server *srv);

/* Call once, from the thread that started the server.
 * Graceful stop (SIGTERM): stops accepting, lets in-flight plain requests
 * finish for up to grace_ms, ends event/log streams and hijacked streams at
 * once, and stops the HTTP threads. The bus and metrics stay valid (so
 * subscribers can drain) until dpp_server_free. Returns the number of requests
 * that had to be cut after the grace period (0 when all finished). */
int dpp_server_stop_accepting(struct dpp_server *srv, int grace_ms);

/* Frees a stopped server. Unsubscribe every bus subscriber first. NULL is a
 * no-op. */
void dpp_server_free(struct dpp_server *srv);

#endif
