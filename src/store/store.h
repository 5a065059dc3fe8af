/* The SQLite store: a bus subscriber (like the JSONL audit writer) that
 * records every audit event and every config version in one SQLite file,
 * plus the `audit` and `history` subcommands over it. main.c wires it; the
 * proxy core never includes this header.
 *
 * Threads: dpp_store_start/apply/stop are called from the main thread; the
 * store's one writer thread owns the only read-write connection (it opens
 * the file itself, so a slow open or a migration never delays the proxy).
 * Request threads only publish on the bus: they never wait for the store.
 * The store records, it never decides: every failure leaves the proxy
 * serving, is logged (at most once a minute per kind of trouble) and shows
 * in docker_proxy_store_up and the other docker_proxy_store_* series. */
#ifndef DPP_STORE_STORE_H
#define DPP_STORE_STORE_H

#include <stddef.h>

#include "dpp/bus.h"
#include "dpp/config.h"
#include "dpp/metrics.h"

struct dpp_store; /* opaque */

struct dpp_store_options {
	const char *path;          /* database file (copied) */
	const char *config_path;   /* the daemon's config file, for the confirm-deadline
				    * revert (copied); NULL: none, no revert possible */
	int requests_all;          /* 1: plain request events too */
	long long retention_s;     /* security events */
	long long request_retention_s;
};

/* Resolves global.store.path as documented: the value when set in the file
 * ("" = off: returns 0), else docker-policy-proxy.db beside config_path
 * (NULL: in the working directory). Returns 1 with the path in out, 0 when
 * the store is off. Pure. */
int dpp_store_resolve_path(const struct dpp_settings *s, const char *config_path, char *out,
			   size_t outlen);

/* Subscribes to `bus` and starts the writer thread, which opens (creates,
 * migrates) the file. Test hooks read from the environment:
 * DPP_STORE_QUEUE (events kept while the file cannot be written, default
 * 8192) and DPP_STORE_SWEEP_MS (retention sweep interval, default 15 min).
 * Returns NULL with *err (static text) only when memory, the subscription
 * or the thread cannot be had; a file that cannot be used gives a store
 * that reports itself down. `bus` must outlive the store. Registers the
 * store's metrics on `m` (may be NULL). */
struct dpp_store *dpp_store_start(struct dpp_bus *bus, struct dpp_metrics *m,
				  const struct dpp_store_options *o, const char **err);

/* Reloaded settings (requests, retentions). Thread-safe (atomics). */
void dpp_store_apply(struct dpp_store *s, int requests_all, long long retention_s,
		     long long request_retention_s);

/* The config-version hook (dpp_config_set_version_hook(dpp_store_config_hook,
 * store)): copies *v and queues it for the writer thread. Never blocks on
 * SQLite. */
void dpp_store_config_hook(void *store, const struct dpp_config_version *v);

/* Drains what is queued (up to 2 s), records the last config versions,
 * checkpoints (TRUNCATE), runs PRAGMA optimize, closes the file, removes
 * the pid file, unsubscribes and frees. NULL is a no-op. */
void dpp_store_stop(struct dpp_store *s);

/* The subcommands: argv[0] is "audit" or "history". Returns a sysexits(3)
 * code. dpp_store_cli_is_command: 1 when argv[1] of the program names one. */
int dpp_store_cli_is_command(const char *word);
int dpp_store_cli_main(int argc, char **argv);

/* The control socket's history_list / history_show / history_rollback /
 * history_confirm (docs/control.md) over the store at db_path, with the
 * same code as `history` (secrets masked in content, rollback checked with
 * the loader, hand edits recorded, the request row naming author). The
 * rollback's reload is reload(reload_arg, &errors) (the daemon's own: the
 * SIGHUP path under the control lock) instead of a signal. config_path: the
 * configuration file (NULL: as recorded). Adds the result members to
 * result; returns 0, or -1 with code and *message (malloc'd). Arguments:
 * limit (list), version_id (show, rollback), confirm_ms, comment. */
struct cJSON;
int dpp_store_history_ctl(const char *db_path, const char *config_path, const char *cmd,
			  const struct cJSON *req, const char *author, struct cJSON *result,
			  char code[32], char **message, int (*reload)(void *arg, char **errors),
			  void *reload_arg);

#endif
