/* Extra listeners that hand accepted connections to the HTTP layer: the
 * Unix-socket listener (global.listen_unix), identified by SO_PEERCRED. The
 * TLS listener lives in tls.h. */
#ifndef DPP_LISTEN_H
#define DPP_LISTEN_H

#include <sys/socket.h>

#include "dpp/peer.h"

/* Called from the accept thread with an accepted connection. Always takes
 * ownership of fd (closing it itself on failure). Returns 0, or -1 when the
 * connection was refused. */
typedef int (*dpp_listen_hand_off_fn)(void *ctx, int fd, const struct sockaddr *addr,
				      socklen_t len, const struct dpp_peer *peer);

struct dpp_unix_listener;

/* Binds `path` (a stale socket file there is replaced; any other file is an
 * error), sets its permission bits (`mode`, octal string) and group (`group`,
 * name or number; "" leaves it), listens, and starts the accept thread.
 * Strings are copied; ctx must outlive the listener; hand_off runs on the
 * accept thread. Returns 0 and *out, or -1 with *err (malloc'd one-line
 * message, caller frees). */
int dpp_unix_listen_start(const char *path, const char *mode, const char *group,
			  dpp_listen_hand_off_fn hand_off, void *ctx,
			  struct dpp_unix_listener **out, char **err);

/* Stops accepting, joins the thread, removes the socket file. NULL is a
 * no-op. Connections already handed off are not affected. Call once, from
 * the thread that started it. */
void dpp_unix_listen_stop(struct dpp_unix_listener *l);

/* Fills peer from SO_PEERCRED of a connected Unix socket (socket(7)).
 * Returns 0, or -1 leaving uid/gid at (uint32_t)-1 (no map entry matches). */
int dpp_unix_peer_credentials(int fd, struct dpp_peer *peer);

#endif
