/* What the console (console.c) talks to: the proxy it shows and steers.
 *
 * Two implementations: LOCAL (backend_local.c) wraps struct dpp_control of
 * the proxy running in this process, exactly as the embedded console always
 * did; REMOTE (backend_remote.c) speaks the control socket protocol
 * (docs/control.md) to a running daemon. The console never knows which one
 * it has except through `remote` and `pid` (the header and the quit key).
 *
 * Every call runs on the console's thread. Functions returning int return 0
 * on success and -1 with the out-parameter error text (malloc'd, caller
 * frees) unless said otherwise. */
#ifndef DPP_TUI_BACKEND_H
#define DPP_TUI_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "dpp/control.h"
#include "dpp/event.h"
#include "dpp/log.h"

struct tui_backend;

struct tui_backend_ops {
	/* A malloc'd snapshot (free with snapshot_free), or NULL when none
	 * could be had (allocation failure, the daemon gone). */
	struct dpp_control_snapshot *(*snapshot)(struct tui_backend *b);
	void (*snapshot_free)(struct tui_backend *b, struct dpp_control_snapshot *s);
	/* fn(arg, name, dropped) for every event subscriber of the proxy. */
	void (*foreach_sub)(struct tui_backend *b,
			    void (*fn)(void *arg, const char *name, uint64_t dropped), void *arg);
	/* dpp_control_cond_text's contract. */
	int (*cond_text)(struct tui_backend *b, uint64_t ruleset_id, size_t rule, size_t cond,
			 char *name, size_t namelen, char *buf, size_t len);
	int (*read_config)(struct tui_backend *b, char **text,
			   char version[DPP_CONTROL_VERSION_LEN], char **err);
	int (*validate)(struct tui_backend *b, const char *text, const char *source,
			const char *author, char **errors);
	int (*apply)(struct tui_backend *b, const char *text, const char *based_on,
		     const char *source, const char *author,
		     char new_version[DPP_CONTROL_VERSION_LEN], char **errors);
	int (*reload)(struct tui_backend *b, char **errors);
	/* Starts the event feed (capacity: events the proxy queues for us).
	 * Returns 0, or -1 with *err (static text). */
	int (*subscribe)(struct tui_backend *b, size_t capacity, const char **err);
	/* Takes the next event: 1 (in *ev), 0 none waiting, -1 the feed ended
	 * (the daemon went away: see gone). Never blocks. *ev is written only
	 * when it returns 1 (the console pops straight into its history ring). */
	int (*pop)(struct tui_backend *b, struct dpp_event *ev);
	/* The descriptor to poll for POLLIN while subscribed (-1: none). */
	int (*fd)(struct tui_backend *b);
	void (*unsubscribe)(struct tui_backend *b);
	/* 1 once the peer is gone (remote: bye or EOF); the local one never is. */
	int (*gone)(struct tui_backend *b);
	/* Remote only (NULL for local): connects again after gone. 0, or -1
	 * with *err (malloc'd). */
	int (*reconnect)(struct tui_backend *b, char **err);
	void (*destroy)(struct tui_backend *b);
};

struct tui_backend {
	const struct tui_backend_ops *ops;
	int remote;   /* attached to a daemon over its control socket */
	long pid;     /* remote: the daemon's PID (hello) */
	/* Remote: where the daemon's log lines go (the Log view); set by the
	 * console before subscribe. */
	void (*log_sink)(void *arg, enum dpp_log_level level, const char *line);
	void *log_arg;
	/* Remote: the daemon's own subscription name and lost-event total
	 * (the `dropped` line), for the badges. */
	uint64_t self_dropped;
	/* Remote: why the subscription was refused ("" when it was not) and
	 * the exit status for it, so that `console` can say so instead of
	 * blaming the terminal. */
	char fail[256];
	int fail_exit;
};

/* The local backend over ctl (borrowed: must outlive the backend). Returns
 * NULL on allocation failure. Free with b->ops->destroy(b). */
struct tui_backend *tui_backend_local(struct dpp_control *ctl);

#endif
