/* The client side of the control socket (docs/control.md): what
 * `docker-policy-proxy console` (attached) and `docker-policy-proxy ctl`
 * use to reach a running daemon.
 *
 * Two kinds of connection, so events never interleave with answers:
 *   - a request connection (struct dpp_ctlclient): hello, then one
 *     synchronous request/response at a time, each with a timeout;
 *   - a subscription connection (struct dpp_ctlsub): hello, subscribe,
 *     then only unasked lines (event, log, dropped, bye), read without
 *     blocking from a pollable descriptor.
 *
 * Errors come back as struct dpp_ctl_error: a kind a CLI maps to its exit
 * status, the daemon's error code when it answered one, and a message for
 * people ("no daemon answers on PATH", "permission denied on PATH: ...").
 *
 * Threads: a connection is used by one thread at a time; nothing global. */
#ifndef DPP_CTL_CLIENT_H
#define DPP_CTL_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "dpp/event.h"
#include "dpp/log.h"

#define DPP_CTL_TIMEOUT_MS 10000 /* default per request */

enum dpp_ctl_error_kind {
	DPP_CTL_OK = 0,
	DPP_CTL_NO_DAEMON,   /* nothing listens on the path (ENOENT, ECONNREFUSED) */
	DPP_CTL_PERMISSION,  /* EACCES on the socket, or the daemon said forbidden */
	DPP_CTL_REFUSED,     /* the daemon answered ok: false (code says why) */
	DPP_CTL_PROTOCOL,    /* a malformed or unexpected line, a version mismatch */
	DPP_CTL_TIMEOUT,     /* no answer in time */
	DPP_CTL_GONE,        /* the daemon closed the connection or said bye */
	DPP_CTL_SYSTEM,      /* socket(2), memory, ... */
};

struct dpp_ctl_error {
	enum dpp_ctl_error_kind kind;
	char code[32];     /* the daemon's error code ("conflict"), "" otherwise */
	char message[4096]; /* for people; the loader's lines for invalid */
};

/* The CLI's exit status for an error (sysexits.h): 0 ok; 69 no daemon,
 * gone or timed out; 77 permission denied; 65 refused (conflict, invalid,
 * not_found, ...); 70 the daemon's internal error; 76 protocol; 71 system. */
int dpp_ctl_exit_code(const struct dpp_ctl_error *e);

/* Fills buf with who the changes are made on behalf of: $SUDO_USER when
 * running as root and it is set, else "" (the daemon then uses the peer's
 * own name). */
void dpp_ctl_on_behalf_of(char *buf, size_t len);

/* ---- requests ------------------------------------------------------------ */

struct dpp_ctlclient; /* opaque */

/* Facts from the daemon's hello. */
struct dpp_ctl_peer {
	long pid;
	char server[64];
	char version[32];
	char user[64]; /* the name the daemon records our changes under */
};

/* Connects to the socket at path and exchanges the hello as `client`
 * ("console" or "ctl"); on_behalf_of is added when not empty (see
 * dpp_ctl_on_behalf_of). timeout_ms bounds the connect and the hello.
 * Returns the connection (free with dpp_ctlclient_close), or NULL with *err
 * filled. *peer (may be NULL) gets the hello's facts. */
struct dpp_ctlclient *dpp_ctlclient_connect(const char *path, const char *client,
					    const char *on_behalf_of, int timeout_ms,
					    struct dpp_ctl_peer *peer, struct dpp_ctl_error *err);
/* NULL is a no-op. */
void dpp_ctlclient_close(struct dpp_ctlclient *c);
const struct dpp_ctl_peer *dpp_ctlclient_peer(const struct dpp_ctlclient *c);
/* The socket path it was connected to (borrowed). */
const char *dpp_ctlclient_path(const struct dpp_ctlclient *c);

/* Sends {"id": N, "cmd": cmd, ...args} and waits up to timeout_ms (0: the
 * default) for the answer with that id. args (may be NULL) is an object
 * whose members are moved into the request; it is consumed in every case.
 * Returns 0 with *resp (the whole response object; caller cJSON_Deletes)
 * when ok is true; -1 with *err otherwise (REFUSED with the daemon's code
 * and message when ok is false; *resp NULL). After GONE, TIMEOUT or
 * PROTOCOL the connection is unusable (close it). */
int dpp_ctlclient_request(struct dpp_ctlclient *c, const char *cmd, cJSON *args, int timeout_ms,
			  cJSON **resp, struct dpp_ctl_error *err);

/* ---- the subscription ---------------------------------------------------- */

struct dpp_ctlsub; /* opaque */

enum dpp_ctlsub_type {
	DPP_CTLSUB_EVENT = 1,
	DPP_CTLSUB_LOG,
	DPP_CTLSUB_DROPPED,
	DPP_CTLSUB_BYE,
};

struct dpp_ctlsub_msg {
	enum dpp_ctlsub_type type;
	struct dpp_event ev;      /* EVENT */
	const cJSON *json;        /* EVENT: the event object as received (borrowed,
				   * valid until the next call) */
	enum dpp_log_level level; /* LOG */
	char line[4096];          /* LOG: the line; BYE: the reason */
	uint64_t dropped;         /* DROPPED: the running total */
};

/* Opens a second connection and subscribes: kinds (n_kinds names of event
 * kinds; 0: all), log lines too when log. Returns NULL with *err. */
struct dpp_ctlsub *dpp_ctlsub_open(const char *path, const char *client, const char *on_behalf_of,
				   const char *const *kinds, size_t n_kinds, int log, int timeout_ms,
				   struct dpp_ctl_error *err);
void dpp_ctlsub_close(struct dpp_ctlsub *s);
/* The descriptor to poll for POLLIN (non-blocking; borrowed). */
int dpp_ctlsub_fd(const struct dpp_ctlsub *s);
/* The next line: 1 with *msg, 0 when nothing complete is waiting (poll
 * again), -1 when the connection ended (EOF, an error, an over-long or
 * malformed line: *err says which; a BYE was returned before when the
 * daemon said goodbye). Never blocks. A line of a type this client does
 * not know is skipped (newer daemons may add some). */
int dpp_ctlsub_next(struct dpp_ctlsub *s, struct dpp_ctlsub_msg *msg, struct dpp_ctl_error *err);

/* ---- line handling (exposed for the unit tests) ------------------------- */

/* Classifies one unasked line's object into msg (as dpp_ctlsub_next).
 * Returns 1 (msg filled), 0 (an unknown line type: skip), -1 (malformed). */
int dpp_ctl_decode_unasked(const cJSON *obj, struct dpp_ctlsub_msg *msg);
/* The error texts of a failed connect(2) (errno e) on path, into err. */
void dpp_ctl_connect_error(struct dpp_ctl_error *err, const char *path, int e);

#endif
