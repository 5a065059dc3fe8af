/* Read-only queries of the store for the console (storeview.h). */
#include "storeview.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#define BATCH 500

struct tui_store {
	sqlite3 *db;
};

struct tui_store *tui_store_open(const char *path, const char **err)
{
	struct tui_store *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		*err = "out of memory";
		return NULL;
	}
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		*err = "cannot open the store read-only (not created yet, or no permission)";
		sqlite3_close(s->db);
		free(s);
		return NULL;
	}
	sqlite3_busy_timeout(s->db, 200);
	return s;
}

void tui_store_close(struct tui_store *s)
{
	if (s == NULL)
		return;
	sqlite3_close(s->db);
	free(s);
}

static void col(sqlite3_stmt *st, int i, char *out, size_t len)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	snprintf(out, len, "%s", t != NULL ? (const char *)t : "");
}

int tui_store_versions(struct tui_store *s, struct tui_version *out, size_t max, const char **err)
{
	sqlite3_stmt *st = NULL;
	size_t n = 0;
	int rc;

	if (sqlite3_prepare_v2(s->db,
			       "SELECT id, timestamp, source, author, applied, comment FROM config_versions"
			       " ORDER BY id DESC LIMIT ?1",
			       -1, &st, NULL) != SQLITE_OK) {
		*err = sqlite3_errmsg(s->db);
		return -1;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
	while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct tui_version *v = &out[n++];

		v->id = sqlite3_column_int64(st, 0);
		col(st, 1, v->timestamp, sizeof(v->timestamp));
		col(st, 2, v->source, sizeof(v->source));
		col(st, 3, v->author, sizeof(v->author));
		v->applied = sqlite3_column_int(st, 4);
		col(st, 5, v->comment, sizeof(v->comment));
	}
	sqlite3_finalize(st);
	return (int)n;
}

char *tui_store_version_text(struct tui_store *s, int64_t id)
{
	sqlite3_stmt *st = NULL;
	char *text = NULL;

	if (sqlite3_prepare_v2(s->db, "SELECT content FROM config_versions WHERE id = ?1", -1, &st,
			       NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
		text = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return text;
}

static enum dpp_event_kind kind_of(const char *name)
{
	static const struct {
		const char *n;
		enum dpp_event_kind k;
	} t[] = {
		{"request", DPP_EVENT_REQUEST}, {"deny", DPP_EVENT_DENY},
		{"dry_run", DPP_EVENT_DRY_RUN}, {"auth_failure", DPP_EVENT_AUTH_FAILURE},
		{"lockout", DPP_EVENT_LOCKOUT}, {"rate_limited", DPP_EVENT_RATE_LIMITED},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(name, t[i].n) == 0)
			return t[i].k;
	return DPP_EVENT_ERROR;
}

int tui_store_audit_page(struct tui_store *s, int64_t before_id, const struct tui_filter *f,
			 struct dpp_event *out, int64_t *ids, size_t max, size_t scan_max,
			 int64_t *next_before, const char **err)
{
	sqlite3_stmt *st = NULL;
	size_t n = 0, scanned = 0;
	int64_t cursor = before_id;

	*next_before = 0;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT id, time_ms, event, client_ip, peer_ip, method, path, user_agent,"
			       " user_role, identity, rule_name, rule_action, status, message, request_id,"
			       " duration_ms, query FROM audit_events WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
			       -1, &st, NULL) != SQLITE_OK) {
		*err = sqlite3_errmsg(s->db);
		return -1;
	}
	while (n < max && scanned < scan_max) {
		size_t got = 0;
		int rc;

		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, cursor);
		sqlite3_bind_int64(st, 2, BATCH);
		while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			struct dpp_event ev;
			char kind[32];

			got++;
			scanned++;
			cursor = sqlite3_column_int64(st, 0);
			memset(&ev, 0, sizeof(ev));
			ev.time_ms = sqlite3_column_int64(st, 1);
			col(st, 2, kind, sizeof(kind));
			ev.kind = kind_of(kind);
			ev.dry_run = ev.kind == DPP_EVENT_DRY_RUN;
			col(st, 3, ev.client_ip, sizeof(ev.client_ip));
			col(st, 4, ev.peer_ip, sizeof(ev.peer_ip));
			col(st, 5, ev.method, sizeof(ev.method));
			col(st, 6, ev.path, sizeof(ev.path));
			col(st, 7, ev.user_agent, sizeof(ev.user_agent));
			col(st, 8, ev.user_role, sizeof(ev.user_role));
			col(st, 9, ev.identity, sizeof(ev.identity));
			col(st, 10, ev.rule_name, sizeof(ev.rule_name));
			col(st, 11, ev.rule_action, sizeof(ev.rule_action));
			ev.status = sqlite3_column_int(st, 12);
			col(st, 13, ev.message, sizeof(ev.message));
			ev.id = (uint64_t)sqlite3_column_int64(st, 14);
			ev.duration_ms = (uint32_t)sqlite3_column_int64(st, 15);
			col(st, 16, ev.query, sizeof(ev.query));
			if (!tui_filter_match(f, &ev))
				continue;
			ids[n] = cursor;
			out[n++] = ev;
		}
		if (got == 0) {
			cursor = 0; /* the start of the table */
			break;
		}
	}
	sqlite3_finalize(st);
	*next_before = cursor;
	return (int)n;
}
