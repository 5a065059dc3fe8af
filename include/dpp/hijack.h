/* Hijacked streams: after Docker answers 101 (attach, exec start, BuildKit
 * session/grpc), bytes are copied both ways until both sides are done.
 * Half-close is honoured: a client that shuts down its write side (stdin
 * EOF) has that passed to Docker while output keeps flowing back. */
#ifndef DPP_HIJACK_H
#define DPP_HIJACK_H

#include <stddef.h>

struct dpp_upstream;
struct dpp_hijacks; /* tracker of running splice threads; thread-safe */

/* Called once when a splice ends, from its thread, to close the client side
 * (for libmicrohttpd: MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE)). */
typedef void (*dpp_hijack_close_fn)(void *ctx);

/* Returns a tracker (caller owns; dpp_hijacks_free), or NULL when memory or a
 * mutex is short. */
struct dpp_hijacks *dpp_hijacks_create(void);
/* Frees the tracker; call only after dpp_hijacks_wait returned 0. */
void dpp_hijacks_free(struct dpp_hijacks *h);

/* Docker answers attach and exec start with 101 and then speaks a raw or
 * multiplexed stream on the same connection (Engine API, "Hijacking"; RFC
 * 9110 section 7.8 Upgrade). Thread-safe; `up` and close_ctx must outlive the
 * splice (close_fn is the last use of close_ctx).
 * Starts a detached splice thread between client_fd (borrowed; closed through
 * close_fn) and upstream_fd (owned: closed when the splice ends).
 * to_client / to_upstream: bytes already read from the other side that must be
 * delivered first (copied; may be NULL). `up` supplies the shutdown state.
 * Returns 0, or -1 (nothing started; the caller still owns both fds). */
int dpp_hijacks_start(struct dpp_hijacks *h, const struct dpp_upstream *up, int client_fd,
		      int upstream_fd, const char *to_client, size_t to_client_len,
		      const char *to_upstream, size_t to_upstream_len,
		      dpp_hijack_close_fn close_fn, void *close_ctx);

/* Number of running splices. */
int dpp_hijacks_active(struct dpp_hijacks *h);

/* Waits until no splice runs, up to timeout_ms (>= 0). Returns 0, or -1 on
 * timeout with the splices still running (set the upstream's stopping flag
 * first: each splice notices it within 250 ms). Thread-safe. */
int dpp_hijacks_wait(struct dpp_hijacks *h, int timeout_ms);

#endif
