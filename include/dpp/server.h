/* The HTTP side: libmicrohttpd in thread-per-connection mode, forwarding every
 * request to Docker through dpp_upstream, hijacked streams through
 * dpp_hijacks. */
#ifndef DPP_SERVER_H
#define DPP_SERVER_H

struct dpp_server;

struct dpp_server_options {
	const char *bind;        /* IPv4 or IPv6 literal; "::" listens dual-stack */
	int port;                /* TCP port */
	const char *socket_path; /* Docker's Unix socket */
	int docker_up;           /* 1 when the start-up probe reached Docker */
};

/* Binds the listen socket and starts serving. Borrowed strings are copied.
 * Returns 0 and *out (caller owns; dpp_server_stop), or -1 with *err set to a
 * malloc'd one-line operator message (caller frees), e.g. when the port is
 * taken. Not thread-safe; call from the main thread. */
int dpp_server_start(const struct dpp_server_options *opts, struct dpp_server **out,
		     char **err);

/* Graceful stop (SIGTERM): stops accepting, lets in-flight plain requests
 * finish for up to grace_ms, ends event/log streams and hijacked streams at
 * once, then frees everything. Returns the number of requests that had to be
 * cut after the grace period (0 when all finished). NULL is a no-op. */
int dpp_server_stop(struct dpp_server *srv, int grace_ms);

#endif
