/* The daemon's control socket (docs/control.md): a Unix stream socket that
 * `docker-policy-proxy console` and `ctl` attach to. One poll(2)-driven
 * thread serves every connection with non-blocking sockets; each
 * subscriber has its own bounded bus subscription and a bounded output
 * buffer, so a client that stops reading loses events (counted, reported in
 * `dropped` lines) and never slows a request. Changes go through
 * dpp/control.h's mutating calls (one lock with SIGHUP and the console);
 * history commands through hooks the embedding program supplies (main.c
 * owns the store; this library never links it). */
#ifndef DPP_CTL_SERVER_H
#define DPP_CTL_SERVER_H

#include <stddef.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "dpp/bus.h"
#include "dpp/control.h"

struct dpp_ctlsrv; /* opaque */

/* history_* commands (NULL member: answered `internal`, "no store").
 * cmd is "history_list", "history_show", "history_rollback" or
 * "history_confirm"; req the request object (borrowed); source and author
 * as for changes. On success add the result members to `result` and return
 * 0; on failure return -1 with code (a docs/control.md error code) and
 * *message (malloc'd). Called on the control thread, without the control
 * lock held: the hook takes it (dpp_control_lock) around a rollback's
 * write and reload, so they are one change like any other. */
struct dpp_ctlsrv_hooks {
	void *ctx;
	int (*history)(void *ctx, const char *cmd, const cJSON *req, const char *source,
		       const char *author, cJSON *result, char code[32], char **message);
};

struct dpp_ctlsrv_opts {
	const char *path;           /* socket path (< 108 bytes) */
	const char *group;          /* control_group; "" or NULL: none (mode 0600) */
	struct dpp_control *ctl;    /* borrowed: outlives the server */
	struct dpp_bus *bus;        /* the proxy's bus (auth_failure events); borrowed */
	struct dpp_ctlsrv_hooks hooks; /* copied */
};

#define DPP_CTLSRV_IN_USE (-2) /* another live daemon answers on the path */

/* Creates the socket (stale one replaced, parent directory made 0755 when
 * it is /run/docker-policy-proxy), starts the thread. Returns 0 with *out,
 * -1 with *err (malloc'd), or DPP_CTLSRV_IN_USE with *err when a live
 * daemon owns the socket (never stolen). */
int dpp_ctlsrv_start(const struct dpp_ctlsrv_opts *opts, struct dpp_ctlsrv **out, char **err);

/* Sends `bye` to every connection, closes them, joins the thread, removes
 * the socket file (when it is still the one created). NULL is a no-op.
 * Threads: start and stop are called by the embedding program's main
 * thread (not concurrently); everything else runs on the server's own
 * thread. Call stop before the proxy server (and its bus) is freed. */
void dpp_ctlsrv_stop(struct dpp_ctlsrv *srv);

/* The access decision of docs/control.md, as a pure function: peer_uid 0,
 * the daemon's uid, or (group_set) a member of `group`, where member_gids
 * are the peer's user's groups as getgrouplist(3) lists them (primary and
 * supplementary). The peer's own egid is not an input on purpose: a setgid
 * program must not get control. Returns 1 allow, 0 deny. */
int dpp_ctl_peer_allowed(uid_t peer_uid, uid_t daemon_uid, int group_set, gid_t group,
			 const gid_t *member_gids, size_t n_member_gids);

#endif
