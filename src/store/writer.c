/* The store's write path; see writer.h. */
#include "writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "dpp/log.h"

static const char insert_sql[] =
	"INSERT INTO audit_events (time_ms, timestamp, event, peer_ip, method, path, user_agent,"
	" user_role, identity, rule_name, rule_action, status, dry_run, message, request_id,"
	" client_ip, duration_ms, config_version, query, bytes_in, bytes_out)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,"
	" ?20, ?21)";
static const char gap_sql[] =
	"INSERT INTO store_gaps (start_ms, end_ms, start_time, end_time, dropped, detail, reason)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

static int64_t count_rows(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t n = 0;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

int sw_init(struct store_writer *w, sqlite3 *db, size_t cap, char *err, size_t errlen)
{
	w->db = db;
	w->cap = cap > 0 ? cap : SW_QUEUE_DEFAULT;
	w->q = calloc(w->cap, sizeof(*w->q));
	if (w->q == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (sqlite3_prepare_v3(db, insert_sql, -1, SQLITE_PREPARE_PERSISTENT, &w->ins_event, NULL) !=
		    SQLITE_OK ||
	    sqlite3_prepare_v3(db, gap_sql, -1, SQLITE_PREPARE_PERSISTENT, &w->ins_gap, NULL) !=
		    SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		sw_done(w);
		return -1;
	}
	w->live_version = count_rows(db, "SELECT coalesce(max(id), 0) FROM config_versions WHERE applied = 1");
	atomic_store(&w->rows_audit, count_rows(db, "SELECT count(*) FROM audit_events"));
	atomic_store(&w->rows_versions, count_rows(db, "SELECT count(*) FROM config_versions"));
	atomic_store(&w->rows_gaps, count_rows(db, "SELECT count(*) FROM store_gaps"));
	return 0;
}

void sw_done(struct store_writer *w)
{
	sqlite3_finalize(w->ins_event);
	sqlite3_finalize(w->ins_gap);
	w->ins_event = w->ins_gap = NULL;
	free(w->q);
	w->q = NULL;
}

static void why_reason(struct store_writer *w, char *out, size_t len)
{
	int rc = w->last_rc & 0xff;

	if (!w->failing)
		snprintf(out, len, "queue full");
	else if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		snprintf(out, len, "database locked by another process");
	else if (rc == SQLITE_FULL)
		snprintf(out, len, "disk full");
	else
		snprintf(out, len, "write failed: %s", w->last_error);
}

static void count_drop(struct store_writer *w, int kind, uint64_t n, int64_t now_ms)
{
	if (kind < 0 || kind >= SW_KINDS || n == 0)
		return;
	atomic_fetch_add(&w->dropped[kind], n);
	if (w->gap_start_ms == 0) {
		w->gap_start_ms = now_ms;
		why_reason(w, w->gap_reason, sizeof(w->gap_reason));
	}
	w->gap_end_ms = now_ms;
	w->gap_dropped[kind] += n;
}

int sw_admit(struct store_writer *w, const struct dpp_event *ev, int64_t now_ms)
{
	size_t limit = ev->kind == DPP_EVENT_REQUEST ? w->cap - w->cap / 4 : w->cap;

	if (w->count >= limit) {
		count_drop(w, (int)ev->kind, 1, now_ms);
		return 0;
	}
	w->q[(w->head + w->count) % w->cap] = *ev;
	w->count++;
	atomic_store(&w->depth, w->count);
	return 1;
}

void sw_note_lost(struct store_writer *w, int kind, uint64_t n, int64_t now_ms)
{
	count_drop(w, kind, n, now_ms);
}

static int bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL || s[0] == '\0')
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

static int insert_event(struct store_writer *w, const struct dpp_event *ev)
{
	sqlite3_stmt *st = w->ins_event;
	char ts[40];
	int rc;

	dpp_store_iso_time(ev->time_ms, ts, sizeof(ts));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	sqlite3_bind_int64(st, 1, ev->time_ms);
	sqlite3_bind_text(st, 2, ts, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, dpp_event_kind_name(ev->kind), -1, SQLITE_STATIC);
	bind_text_or_null(st, 4, ev->peer_ip);
	bind_text_or_null(st, 5, ev->method);
	bind_text_or_null(st, 6, ev->path);
	/* As the audit record: "-" when the request had no User-Agent. */
	sqlite3_bind_text(st, 7, ev->user_agent[0] != '\0' ? ev->user_agent : "-", -1, SQLITE_STATIC);
	bind_text_or_null(st, 8, ev->user_role);
	bind_text_or_null(st, 9, ev->identity);
	bind_text_or_null(st, 10, ev->rule_name);
	bind_text_or_null(st, 11, ev->rule_action);
	/* As the audit record (audit.c): a dry-run event refused nothing, so
	 * status 0 and dry_run 1 whatever the event carries. */
	sqlite3_bind_int(st, 12, ev->kind == DPP_EVENT_DRY_RUN ? 0 : ev->status);
	sqlite3_bind_int(st, 13, ev->dry_run != 0 || ev->kind == DPP_EVENT_DRY_RUN);
	bind_text_or_null(st, 14, ev->message);
	if (ev->id != 0)
		sqlite3_bind_int64(st, 15, (sqlite3_int64)ev->id);
	bind_text_or_null(st, 16, ev->client_ip);
	sqlite3_bind_int64(st, 17, ev->duration_ms);
	if (w->live_version > 0)
		sqlite3_bind_int64(st, 18, w->live_version);
	bind_text_or_null(st, 19, ev->query);
	sqlite3_bind_int64(st, 20, (sqlite3_int64)ev->bytes_in);
	sqlite3_bind_int64(st, 21, (sqlite3_int64)ev->bytes_out);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int insert_gap(struct store_writer *w)
{
	sqlite3_stmt *st = w->ins_gap;
	char a[40], b[40], detail[512];
	size_t off = 0;
	uint64_t total = 0;
	int rc;

	off += (size_t)snprintf(detail + off, sizeof(detail) - off, "{");
	for (int k = 0; k < SW_KINDS; k++) {
		if (w->gap_dropped[k] == 0)
			continue;
		total += w->gap_dropped[k];
		off += (size_t)snprintf(detail + off, sizeof(detail) - off, "%s\"%s\":%llu",
					off > 1 ? "," : "", dpp_event_kind_name((enum dpp_event_kind)k),
					(unsigned long long)w->gap_dropped[k]);
	}
	snprintf(detail + off, sizeof(detail) - off, "}");
	dpp_store_iso_time(w->gap_start_ms, a, sizeof(a));
	dpp_store_iso_time(w->gap_end_ms, b, sizeof(b));
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, w->gap_start_ms);
	sqlite3_bind_int64(st, 2, w->gap_end_ms);
	sqlite3_bind_text(st, 3, a, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, b, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)total);
	sqlite3_bind_text(st, 6, detail, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 7, w->gap_reason, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void note_failure(struct store_writer *w, int rc)
{
	w->failing = 1;
	w->last_rc = rc;
	snprintf(w->last_error, sizeof(w->last_error), "%s", sqlite3_errmsg(w->db));
	if (w->last_error[0] == '\0' || strcmp(w->last_error, "not an error") == 0)
		snprintf(w->last_error, sizeof(w->last_error), "%s", sqlite3_errstr(rc));
	atomic_fetch_add(&w->write_failures, 1);
	/* Drops seen just before the first failed attempt (the writer was
	 * still waiting in busy_timeout) have this failure as their cause. */
	if (w->gap_start_ms != 0 && strcmp(w->gap_reason, "queue full") == 0)
		why_reason(w, w->gap_reason, sizeof(w->gap_reason));
}

/* After any error inside a write transaction: "it is recommended that
 * applications respond to the errors listed above by explicitly issuing a
 * ROLLBACK command" (sqlite.org/lang_transaction.html). A COMMIT that
 * failed (busy, a deferred constraint) leaves the transaction open. */
static void rollback(struct store_writer *w)
{
	if (sqlite3_get_autocommit(w->db) == 0)
		dpp_store_exec(w->db, "ROLLBACK", NULL, 0);
}

int sw_flush(struct store_writer *w, int64_t now_ms)
{
	size_t n = w->count < SW_BATCH_MAX ? w->count : SW_BATCH_MAX;
	int gap = w->gap_start_ms != 0, rc;

	(void)now_ms;
	if (n == 0 && !gap)
		return 0;
	rc = dpp_store_exec(w->db, "BEGIN IMMEDIATE", NULL, 0);
	if (rc != SQLITE_OK)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		rc = insert_event(w, &w->q[(w->head + i) % w->cap]);
		if (rc != SQLITE_OK)
			goto fail;
	}
	if (gap && (rc = insert_gap(w)) != SQLITE_OK)
		goto fail;
	rc = dpp_store_exec(w->db, "COMMIT", NULL, 0);
	if (rc != SQLITE_OK)
		goto fail;
	w->head = (w->head + n) % w->cap;
	w->count -= n;
	atomic_store(&w->depth, w->count);
	atomic_fetch_add(&w->written, n);
	atomic_fetch_add(&w->rows_audit, (int64_t)n);
	if (gap) {
		atomic_fetch_add(&w->rows_gaps, 1);
		memset(w->gap_dropped, 0, sizeof(w->gap_dropped));
		w->gap_start_ms = w->gap_end_ms = 0;
	}
	w->failing = 0;
	return (int)n;
fail:
	note_failure(w, rc);
	rollback(w);
	return rc > 0 ? -rc : -1;
}

void sw_version_free(struct sw_version *sv)
{
	free(sv->origin);
	free(sv->path);
	free(sv->text);
	free(sv->errors);
	free(sv->author);
	memset(sv, 0, sizeof(*sv));
}

struct row_ref {
	int64_t id;
	char sha[65];
	int applied;
};

static int latest(sqlite3 *db, const char *sql, struct row_ref *r)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	memset(r, 0, sizeof(*r));
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			r->id = sqlite3_column_int64(st, 0);
			snprintf(r->sha, sizeof(r->sha), "%s",
				 (const char *)sqlite3_column_text(st, 1));
			r->applied = sqlite3_column_int(st, 2);
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE) {
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	return rc;
}

int64_t sw_record_version(struct store_writer *w, const struct sw_version *v)
{
	struct row_ref live, last;
	sqlite3_stmt *st = NULL;
	char sha[65], ts[40], author[128];
	const char *text = v->text != NULL ? v->text : "";
	size_t len = v->text != NULL ? v->len : 0;
	int64_t req_id = 0, rollback_of = 0, deadline = 0, id = 0;
	char *req_source = NULL, *req_author = NULL, *req_comment = NULL;
	int rc;

	if (dpp_store_sha256_hex(text, len, sha) != 0)
		return -SQLITE_NOMEM;
	dpp_store_exec(w->db, "PRAGMA synchronous = FULL", NULL, 0);
	rc = dpp_store_exec(w->db, "BEGIN IMMEDIATE", NULL, 0);
	if (rc != SQLITE_OK)
		goto fail;
	rc = latest(w->db, "SELECT id, sha256, applied FROM config_versions WHERE applied = 1 ORDER BY id DESC LIMIT 1",
		    &live);
	if (rc == SQLITE_OK)
		rc = latest(w->db, "SELECT id, sha256, applied FROM config_versions ORDER BY id DESC LIMIT 1",
			    &last);
	if (rc != SQLITE_OK)
		goto fail;
	/* A request of the CLI (rollback) names who and why. */
	rc = sqlite3_prepare_v2(w->db,
				"SELECT id, source, author, comment, rollback_of, confirm_deadline_ms"
				" FROM config_requests WHERE consumed = 0 AND sha256 = ?1 AND time_ms >= ?2"
				" ORDER BY id DESC LIMIT 1",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	sqlite3_bind_text(st, 1, sha, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, v->time_ms - 600000);
	if (sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *c;

		req_id = sqlite3_column_int64(st, 0);
		req_source = strdup((const char *)sqlite3_column_text(st, 1));
		req_author = strdup((const char *)sqlite3_column_text(st, 2));
		c = sqlite3_column_text(st, 3);
		req_comment = c != NULL ? strdup((const char *)c) : NULL;
		rollback_of = sqlite3_column_int64(st, 4);
		deadline = sqlite3_column_int64(st, 5);
	}
	sqlite3_finalize(st);
	st = NULL;
	if (req_id > 0) {
		rc = sqlite3_prepare_v2(w->db, "UPDATE config_requests SET consumed = 1 WHERE id = ?1",
					-1, &st, NULL);
		if (rc != SQLITE_OK)
			goto fail;
		sqlite3_bind_int64(st, 1, req_id);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		st = NULL;
		if (rc != SQLITE_DONE)
			goto fail;
	}
	if ((v->applied && live.id > 0 && strcmp(live.sha, sha) == 0) ||
	    (!v->applied && last.id > 0 && !last.applied && strcmp(last.sha, sha) == 0)) {
		id = 0; /* unchanged: no row */
	} else {
		dpp_store_iso_time(v->time_ms, ts, sizeof(ts));
		if (req_author == NULL && v->author != NULL)
			snprintf(author, sizeof(author), "%s", v->author);
		else if (req_author == NULL)
			dpp_store_author(author, sizeof(author));
		rc = sqlite3_prepare_v2(
			w->db,
			"INSERT INTO config_versions (time_ms, timestamp, source, author, sha256, content,"
			" applied, errors, based_on, rollback_of, comment, path, confirm_deadline_ms,"
			" confirm_state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
			-1, &st, NULL);
		if (rc != SQLITE_OK)
			goto fail;
		sqlite3_bind_int64(st, 1, v->time_ms);
		sqlite3_bind_text(st, 2, ts, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, req_source != NULL ? req_source : v->origin, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, req_author != NULL ? req_author : author, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, sha, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, text, (int)len, SQLITE_STATIC);
		sqlite3_bind_int(st, 7, v->applied ? 1 : 0);
		bind_text_or_null(st, 8, v->errors);
		if (live.id > 0)
			sqlite3_bind_int64(st, 9, live.id);
		if (rollback_of > 0)
			sqlite3_bind_int64(st, 10, rollback_of);
		bind_text_or_null(st, 11, req_comment);
		bind_text_or_null(st, 12, v->path);
		if (v->applied && deadline > 0) {
			sqlite3_bind_int64(st, 13, deadline);
			sqlite3_bind_text(st, 14, "pending", -1, SQLITE_STATIC);
		}
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		st = NULL;
		if (rc != SQLITE_DONE)
			goto fail;
		id = sqlite3_last_insert_rowid(w->db);
		if (v->applied) {
			/* A newer live version ends any confirmation window. */
			char sql[160];

			snprintf(sql, sizeof(sql),
				 "UPDATE config_versions SET confirm_state = 'superseded'"
				 " WHERE confirm_state = 'pending' AND id <> %lld",
				 (long long)id);
			rc = dpp_store_exec(w->db, sql, NULL, 0);
			if (rc != SQLITE_OK)
				goto fail;
		}
	}
	rc = dpp_store_exec(w->db, "COMMIT", NULL, 0);
	if (rc != SQLITE_OK)
		goto fail;
	dpp_store_exec(w->db, "PRAGMA synchronous = NORMAL", NULL, 0);
	if (id > 0) {
		atomic_fetch_add(&w->rows_versions, 1);
		if (v->applied)
			w->live_version = id;
	}
	free(req_source);
	free(req_author);
	free(req_comment);
	return id;
fail:
	sqlite3_finalize(st);
	note_failure(w, rc);
	rollback(w);
	dpp_store_exec(w->db, "PRAGMA synchronous = NORMAL", NULL, 0);
	free(req_source);
	free(req_author);
	free(req_comment);
	return rc > 0 ? -rc : -1;
}

/* One chunked DELETE; returns rows deleted or a negative code. */
static long delete_chunks(struct store_writer *w, const char *sql, int64_t cutoff,
			  _Atomic int64_t *rows)
{
	sqlite3_stmt *st = NULL;
	long total = 0;
	int rc = sqlite3_prepare_v2(w->db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return -rc;
	for (int round = 0; round < 500; round++) {
		int n;

		rc = dpp_store_exec(w->db, "BEGIN IMMEDIATE", NULL, 0);
		if (rc != SQLITE_OK)
			break;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, cutoff);
		sqlite3_bind_int(st, 2, SW_DELETE_CHUNK);
		rc = sqlite3_step(st);
		if (rc != SQLITE_DONE) {
			rollback(w);
			break;
		}
		n = sqlite3_changes(w->db);
		rc = dpp_store_exec(w->db, "COMMIT", NULL, 0);
		if (rc != SQLITE_OK) {
			rollback(w);
			break;
		}
		rc = SQLITE_OK;
		total += n;
		if (rows != NULL)
			atomic_fetch_sub(rows, n);
		if (n < SW_DELETE_CHUNK)
			break;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK) {
		note_failure(w, rc);
		return total > 0 ? total : -rc;
	}
	return total;
}

long sw_sweep(struct store_writer *w, int64_t sec_cutoff_ms, int64_t req_cutoff_ms)
{
	long a, b, c, d;

	/* The partial index audit_notable_time serves the first, audit_event_time the second. */
	a = delete_chunks(w,
			  "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events"
			  " WHERE event <> 'request' AND time_ms < ?1 LIMIT ?2)",
			  sec_cutoff_ms, &w->rows_audit);
	b = delete_chunks(w,
			  "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events"
			  " WHERE event = 'request' AND time_ms < ?1 LIMIT ?2)",
			  req_cutoff_ms, &w->rows_audit);
	c = delete_chunks(w,
			  "DELETE FROM store_gaps WHERE id IN (SELECT id FROM store_gaps"
			  " WHERE end_ms < ?1 LIMIT ?2)",
			  sec_cutoff_ms, &w->rows_gaps);
	d = delete_chunks(w,
			  "DELETE FROM config_requests WHERE id IN (SELECT id FROM config_requests"
			  " WHERE time_ms < ?1 LIMIT ?2)",
			  sec_cutoff_ms < req_cutoff_ms ? sec_cutoff_ms : req_cutoff_ms, NULL);
	if (a < 0)
		return a;
	if (b < 0)
		return b;
	/* Give the freed pages back to the filesystem, a bounded number per sweep. */
	if (a + b + (c > 0 ? c : 0) > 0)
		dpp_store_exec(w->db, "PRAGMA incremental_vacuum(4096)", NULL, 0);
	return a + b + (c > 0 ? c : 0) + (d > 0 ? d : 0);
}
