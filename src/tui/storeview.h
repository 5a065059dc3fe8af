/* The console's read side of the SQLite store (Audit and History views): its
 * own read-only connection (the store's writer owns the only read-write
 * one; WAL lets readers run beside it). No curses here. */
#ifndef DPP_TUI_STOREVIEW_H
#define DPP_TUI_STOREVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "dpp/event.h"
#include "model.h"

struct tui_store; /* opaque */

/* Opens path read-only. Returns NULL with *err (static text) when the file
 * cannot be opened (not created yet, permissions). */
struct tui_store *tui_store_open(const char *path, const char **err);
void tui_store_close(struct tui_store *s);

struct tui_version {
	int64_t id;
	char timestamp[40];
	char source[24];
	char author[64];
	int applied;
	char comment[160];
};

/* The newest `max` config versions, newest first, into out (caller's
 * array). Returns the count, or -1 (error text in *err, static or the
 * store's: valid until the next call). */
int tui_store_versions(struct tui_store *s, struct tui_version *out, size_t max, const char **err);

/* The text of version id (malloc'd, caller frees), or NULL. */
char *tui_store_version_text(struct tui_store *s, int64_t id);

/* One page of audit events, newest first, older than before_id (INT64_MAX:
 * from the newest), that pass f: at most max rows into out/ids. Reads the
 * table in batches by id and stops after scanning `scan_max` rows, so a
 * filter that matches little never loads the whole table. *next_before
 * gets the id to continue from (0: the table's start was reached). Returns
 * the count, or -1 with *err. */
int tui_store_audit_page(struct tui_store *s, int64_t before_id, const struct tui_filter *f,
			 struct dpp_event *out, int64_t *ids, size_t max, size_t scan_max,
			 int64_t *next_before, const char **err);

#endif
