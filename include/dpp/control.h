/* The control interface: the one narrow way an operator front end (the
 * ncurses console today, a control socket later) reaches the proxy core.
 *
 *   in:  events (a bounded bus subscription) and snapshots (status, rules
 *        with their counters, rate-limit buckets, lockouts);
 *   out: apply a configuration text (based on a version id), set one rule's
 *        dry-run flag, reload.
 *
 * Every type here is a plain value or opaque; nothing curses or store
 * specific, so the same calls can be put behind a Unix socket.
 *
 * Config versions are SHA-256 hex digests of the file's bytes
 * (dpp_cfgedit_version). An apply names the version it was based on; when
 * the file on disk is no longer that version (edited by hand meanwhile) the
 * apply is refused, so no edit is ever lost.
 *
 * Threads: every function is thread-safe. The mutating calls (apply,
 * set_dry_run, reload) and validate run the embedding program's hooks in
 * the calling thread while holding the control's one lock, so the embedded
 * console, the control socket's thread and SIGHUP never overlap: a change
 * is read-version / validate / write / reload as one step. A program that
 * reloads by other means (headless SIGHUP) takes the same lock with
 * dpp_control_lock, or calls dpp_control_reload_as. */
#ifndef DPP_CONTROL_H
#define DPP_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "dpp/auth.h"
#include "dpp/bus.h"
#include "dpp/ratelimit.h"

struct dpp_server;
struct dpp_control; /* opaque */

#define DPP_CONTROL_VERSION_LEN 65 /* 64 hex digits + NUL */

/* Callbacks into the embedding program (main.c), which owns reload. */
struct dpp_control_hooks {
	void *ctx;
	/* Checks the configuration at `path` exactly as a reload would (same
	 * loader, same build, same TLS checks), changing nothing. Returns 0,
	 * or -1 with *errors (malloc'd, one "FILE:LINE:COL: message" per line). */
	int (*validate)(void *ctx, const char *path, char **errors);
	/* Re-reads the configured file and swaps it in live: the SIGHUP path.
	 * source names the cause for config history ("sighup", "console",
	 * "rollback", "ctl"); author names who asked (a control socket peer's
	 * user; NULL: the operator of the daemon's own environment). Called
	 * with the control's lock held. Returns 0 when the new configuration
	 * took effect, -1 with *errors. */
	int (*reload)(void *ctx, const char *source, const char *author, char **errors);
	/* Optional (NULL: none): records a proposal refused before it was
	 * written (the store's config_versions, applied 0 with the errors).
	 * A text that was written is recorded by the reload hook, which runs
	 * the same path as SIGHUP, so no version is recorded twice. Failures
	 * are the hook's to log. */
	void (*record)(void *ctx, const char *text, const char *version, const char *based_on,
		       const char *source, const char *author, int applied, const char *errors);
};

/* Fixed facts of the running proxy, given at create (copied). */
struct dpp_control_info {
	const char *listen;   /* "127.0.0.1:2376", "https://[::]:2376 and unix:/run/x.sock" */
	const char *upstream; /* Docker socket path */
	const char *docker;   /* start-up probe: "Docker 20.10.24, API 1.41" */
	const char *config_path; /* NULL: running on built-in defaults (no editing) */
};

struct dpp_control_status {
	char listen[256];
	char upstream[108];
	char docker[128];          /* probe text; see docker_up for now */
	int docker_up;
	int tls;
	char auth[128];            /* dpp_auth_describe */
	char config_path[1024];    /* "" without a file */
	char version[DPP_CONTROL_VERSION_LEN]; /* of the text last applied or read */
	int64_t started_ms;        /* wall clock, ms since the epoch */
	uint64_t requests;         /* finished requests since start */
	uint64_t denials;          /* refused by rules, limits or authentication */
	int streams;               /* hijacked streams open now */
	size_t n_rules, n_dry_run; /* rules, and how many are dry-run */
	uint64_t ruleset_id;       /* dpp_ruleset_id of the rules in effect */
	int default_deny;          /* global.default_action is deny */
};

struct dpp_control_rule {
	char name[64];
	long priority;
	char action[16];
	int dry_run;
	size_t n_conds;
	uint64_t hits, denials, dry_runs;
	int64_t last_hit_ago_ms; /* -1: never */
};

struct dpp_control_snapshot {
	struct dpp_control_status status;
	struct dpp_control_rule *rules; /* evaluation order */
	size_t n_rules;
	struct dpp_ratelimit_state *buckets; /* sorted by rule, then client */
	size_t n_buckets;
	struct dpp_lockout_state *lockouts;
	size_t n_lockouts;
};

/* Creates the interface over a running server (borrowed: must outlive the
 * control). hooks and info are copied. Returns NULL on allocation failure. */
struct dpp_control *dpp_control_create(struct dpp_server *srv, const struct dpp_control_hooks *hooks,
				       const struct dpp_control_info *info);
/* NULL is a no-op. */
void dpp_control_free(struct dpp_control *ctl);

/* Events in: a subscription of `capacity` events on the server's bus
 * (dpp_bus_subscribe's contract: never blocks a request; full = dropped and
 * counted). Release with dpp_control_unsubscribe. */
struct dpp_bus_sub *dpp_control_subscribe(struct dpp_control *ctl, const char *name,
					  size_t capacity, const char **err);
void dpp_control_unsubscribe(struct dpp_control *ctl, struct dpp_bus_sub *sub);
/* Calls fn for every bus subscriber (name, dropped): the console's badges. */
void dpp_control_foreach_sub(struct dpp_control *ctl,
			     void (*fn)(void *arg, const char *name, uint64_t dropped), void *arg);

/* Snapshot in: a malloc'd copy of everything (caller frees with
 * dpp_control_snapshot_free). Returns NULL on allocation failure. */
struct dpp_control_snapshot *dpp_control_snapshot(struct dpp_control *ctl);
void dpp_control_snapshot_free(struct dpp_control_snapshot *s);

/* Text of condition `cond` of rule `rule` of the ruleset whose id is
 * ruleset_id (a trace's), into buf. Returns 0, or -1 when that ruleset is no
 * longer in effect or the indexes are out of range (buf = ""). Also the
 * rule's name into name (namelen bytes) when name is not NULL. */
int dpp_control_cond_text(struct dpp_control *ctl, uint64_t ruleset_id, size_t rule,
			  size_t cond, char *name, size_t namelen, char *buf, size_t len);

/* The configuration file as it is on disk now: *text (malloc'd, caller
 * frees) and its version. Returns 0, or -1 with *err (malloc'd) when there
 * is no file or it cannot be read. */
int dpp_control_read_config(struct dpp_control *ctl, char **text, char version[DPP_CONTROL_VERSION_LEN],
			    char **err);

/* Validates `text` as the configuration file, with the real loader (the
 * validate hook, on a private temporary copy beside the file). Errors name
 * the configuration file, not the copy. A refused text is a refused
 * proposal: it is recorded (record hook) with `source` (NULL: not
 * recorded). Returns 0, or -1 with *errors. */
int dpp_control_validate(struct dpp_control *ctl, const char *text, const char *source,
			 const char *author, char **errors);

/* Out: makes `text` the configuration. Refuses (-1, *errors) when the file's
 * version on disk is not based_on, when text does not validate, or when it
 * cannot be written. Otherwise writes it atomically (temporary file in the
 * same directory, fsync, rename; the file's mode and owner kept; the
 * directory fsynced), records the version (hook), and reloads it live
 * through the SIGHUP path. new_version (may be NULL) gets the new id.
 * Returns 0 when the new configuration is live; -1 with *errors otherwise
 * (when the reload itself failed after the write, *errors says so). */
int dpp_control_apply(struct dpp_control *ctl, const char *text, const char *based_on,
		      const char *source, const char *author,
		      char new_version[DPP_CONTROL_VERSION_LEN], char **errors);

/* Out: sets rule `rule`'s dry_run to on (0/1) in the file and applies it
 * (dpp_cfgedit_set_rule_key + dpp_control_apply with source "console"). */
int dpp_control_set_dry_run(struct dpp_control *ctl, const char *rule, int on,
			    const char *based_on, const char *author,
			    char new_version[DPP_CONTROL_VERSION_LEN], char **errors);

/* Out: reloads the file as SIGHUP does. Returns 0, or -1 with *errors. */
int dpp_control_reload(struct dpp_control *ctl, char **errors);

/* The same with the history's source and author (NULL: the daemon's
 * operator): the control socket's reload ("ctl" or "console"). */
int dpp_control_reload_as(struct dpp_control *ctl, const char *source, const char *author,
			  char **errors);

/* dpp_control_set_dry_run with the history's source (the control socket:
 * "ctl" or "console"). based_on NULL: whatever is live. */
int dpp_control_set_dry_run_as(struct dpp_control *ctl, const char *rule, int on,
			       const char *based_on, const char *source, const char *author,
			       char new_version[DPP_CONTROL_VERSION_LEN], char **errors);

/* The one lock of the mutating calls, for a program that changes the
 * configuration outside them (SIGHUP without a console) or runs the
 * store's rollback. Not recursive: never call a mutating call while
 * holding it. */
void dpp_control_lock(struct dpp_control *ctl);
void dpp_control_unlock(struct dpp_control *ctl);

/* dpp_control_reload_as for a caller that holds dpp_control_lock (a
 * rollback that wrote the file under the lock). */
int dpp_control_reload_locked(struct dpp_control *ctl, const char *source, const char *author,
			      char **errors);

/* The operator's name for config history: $SUDO_USER, else the login name,
 * else "uid:N", into buf. */
void dpp_control_author(char *buf, size_t len);

#endif
