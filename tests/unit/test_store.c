/* SQLite store, without its thread: schema and migrations, refusals, corrupt
 * files, batching, the rollback of a failed COMMIT, busy files, drop
 * accounting with gap rows, retention, config versions, config keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "db.h"
#include "dpp/config.h"
#include "dpp/log.h"
#include "store.h"
#include "writer.h"

struct fx {
	char dir[64];
	char path[128];
	sqlite3 *db;
	struct store_writer w;
	FILE *log;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/dpp-store-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/s.db", f->dir);
	f->log = tmpfile();
	dpp_log_set_stream(f->log);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[200];

	if (f->w.q != NULL)
		sw_done(&f->w);
	sqlite3_close(f->db);
	dpp_log_set_stream(NULL);
	fclose(f->log);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static long long q_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	long long v = -12345;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static char *q_text(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	char *v = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return v;
}

static void open_writer(struct fx *f, size_t cap)
{
	char err[512];

	assert_int_equal(dpp_store_db_open(f->path, 0, &f->db, err, sizeof(err)), DPP_STORE_OPEN_OK);
	memset(&f->w, 0, sizeof(f->w));
	assert_int_equal(sw_init(&f->w, f->db, cap, err, sizeof(err)), 0);
}

static struct dpp_event mk_event(enum dpp_event_kind kind, uint64_t id, int64_t t)
{
	struct dpp_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.id = id;
	ev.time_ms = t;
	ev.kind = kind;
	ev.status = kind == DPP_EVENT_REQUEST ? 200 : 403;
	snprintf(ev.method, sizeof(ev.method), "POST");
	snprintf(ev.path, sizeof(ev.path), "/containers/create");
	snprintf(ev.query, sizeof(ev.query), "name=x");
	snprintf(ev.peer_ip, sizeof(ev.peer_ip), "127.0.0.1");
	snprintf(ev.client_ip, sizeof(ev.client_ip), "10.1.2.3");
	ev.bytes_in = 17;
	ev.bytes_out = 44;
	if (kind == DPP_EVENT_DENY) {
		snprintf(ev.rule_name, sizeof(ev.rule_name), "no-create");
		snprintf(ev.rule_action, sizeof(ev.rule_action), "deny");
		snprintf(ev.message, sizeof(ev.message), "refused");
		snprintf(ev.identity, sizeof(ev.identity), "token:1a2b3c4d");
		snprintf(ev.user_role, sizeof(ev.user_role), "user");
	}
	return ev;
}

static int64_t now_ms(void)
{
	return (int64_t)time(NULL) * 1000;
}

/* ---- schema -------------------------------------------------------------- */

static void test_schema_created(void **state)
{
	struct fx *f = *state;
	struct stat st;
	char err[512], *mode;

	assert_int_equal(dpp_store_db_open(f->path, 0, &f->db, err, sizeof(err)), DPP_STORE_OPEN_OK);
	assert_int_equal(dpp_store_user_version(f->db), DPP_STORE_SCHEMA_VERSION);
	assert_int_equal(q_int(f->db, "PRAGMA application_id"), DPP_STORE_APPLICATION_ID);
	assert_int_equal(q_int(f->db, "PRAGMA auto_vacuum"), 2); /* incremental */
	assert_int_equal(q_int(f->db, "PRAGMA foreign_keys"), 1);
	assert_int_equal(q_int(f->db, "PRAGMA synchronous"), 1); /* NORMAL */
	mode = q_text(f->db, "PRAGMA journal_mode");
	assert_string_equal(mode, "wal");
	free(mode);
	assert_int_equal(q_int(f->db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN"
				      " ('audit_events', 'config_versions', 'store_gaps', 'store_events', 'config_requests')"),
			 5);
	assert_int_equal(q_int(f->db, "SELECT count(*) FROM sqlite_schema WHERE name = 'audit_notable_time'"
				      " AND sql LIKE '%WHERE event <> ''request''%'"),
			 1);
	/* The seed's thirteen fields are columns of the same names. */
	assert_int_equal(q_int(f->db, "SELECT count(*) FROM pragma_table_info('audit_events') WHERE name IN"
				      " ('timestamp', 'event', 'peer_ip', 'method', 'path', 'user_agent', 'user_role',"
				      " 'identity', 'rule_name', 'rule_action', 'status', 'dry_run', 'message',"
				      " 'time_ms', 'request_id', 'client_ip', 'query', 'duration_ms', 'bytes_in', 'bytes_out')"),
			 20);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* STRICT: a wrong type is refused, not coerced. */
	assert_int_not_equal(dpp_store_exec(f->db, "INSERT INTO audit_events (time_ms, timestamp, event, status, dry_run)"
						   " VALUES ('soon', 'x', 'deny', 403, 0)", NULL, 0),
			     SQLITE_OK);
}

static void test_migration_from_older(void **state)
{
	struct fx *f = *state;
	char err[512], bak[160];
	sqlite3 *old = NULL;

	/* A version-1 file with one event, as an older binary wrote it. */
	assert_int_equal(sqlite3_open(f->path, &old), SQLITE_OK);
	assert_int_equal(dpp_store_exec(old, "PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL", err, sizeof(err)),
			 SQLITE_OK);
	assert_int_equal(dpp_store_schema_migrate(old, 1, err, sizeof(err)), 0);
	assert_int_equal(dpp_store_user_version(old), 1);
	assert_int_equal(q_int(old, "SELECT count(*) FROM pragma_table_info('audit_events') WHERE name = 'query'"), 0);
	assert_int_equal(dpp_store_exec(old, "INSERT INTO audit_events (time_ms, timestamp, event, status, dry_run, rule_name)"
					     " VALUES (1, '1970-01-01T00:00:00.001Z', 'deny', 403, 0, 'kept')",
					err, sizeof(err)),
			 SQLITE_OK);
	sqlite3_close(old);

	assert_int_equal(dpp_store_db_open(f->path, 0, &f->db, err, sizeof(err)), DPP_STORE_OPEN_OK);
	assert_int_equal(dpp_store_user_version(f->db), DPP_STORE_SCHEMA_VERSION);
	assert_int_equal(q_int(f->db, "SELECT count(*) FROM audit_events WHERE rule_name = 'kept'"), 1);
	assert_int_equal(q_int(f->db, "SELECT count(*) FROM pragma_table_info('audit_events') WHERE name IN ('query', 'bytes_in', 'bytes_out')"), 3);
	assert_int_equal(q_int(f->db, "SELECT count(*) FROM store_gaps"), 0);
	/* The file as it was before the upgrade is kept once. */
	snprintf(bak, sizeof(bak), "%s.bak", f->path);
	assert_int_equal(access(bak, F_OK), 0);
	assert_int_equal(sqlite3_open_v2(bak, &old, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(dpp_store_user_version(old), 1);
	sqlite3_close(old);
}

static void test_migration_step_is_atomic(void **state)
{
	struct fx *f = *state;
	char err[512];
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(dpp_store_schema_migrate(db, 1, err, sizeof(err)), 0);
	/* Step 2 collides with a table of that name: it fails, and the file stays at 1. */
	assert_int_equal(dpp_store_exec(db, "CREATE TABLE store_gaps (x)", err, sizeof(err)), SQLITE_OK);
	assert_int_equal(dpp_store_schema_migrate(db, DPP_STORE_SCHEMA_VERSION, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "step 2"));
	assert_int_equal(dpp_store_user_version(db), 1);
	assert_int_equal(sqlite3_get_autocommit(db), 1);
	assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'store_events'"), 0);
	sqlite3_close(db);
}

static void test_newer_refused(void **state)
{
	struct fx *f = *state;
	char err[512];
	sqlite3 *db = NULL;
	struct stat a, b;

	assert_int_equal(dpp_store_db_open(f->path, 0, &db, err, sizeof(err)), DPP_STORE_OPEN_OK);
	assert_int_equal(dpp_store_exec(db, "PRAGMA user_version = 99; PRAGMA wal_checkpoint(TRUNCATE)", err, sizeof(err)),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(stat(f->path, &a), 0);
	assert_int_equal(dpp_store_db_open(f->path, 0, &f->db, err, sizeof(err)), DPP_STORE_OPEN_NEWER);
	assert_null(f->db);
	assert_non_null(strstr(err, "newer"));
	assert_int_equal(dpp_store_db_open_readonly(f->path, &db, err, sizeof(err)), DPP_STORE_OPEN_NEWER);
	/* Not touched: same size, still 99. */
	assert_int_equal(stat(f->path, &b), 0);
	assert_int_equal(a.st_size, b.st_size);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(dpp_store_user_version(db), 99);
	sqlite3_close(db);
}

static void test_foreign_refused(void **state)
{
	struct fx *f = *state;
	char err[512];
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(dpp_store_exec(db, "CREATE TABLE t (x); PRAGMA user_version = 2", err, sizeof(err)), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(dpp_store_db_open(f->path, 0, &f->db, err, sizeof(err)), DPP_STORE_OPEN_FOREIGN);
}

static void test_corrupt_set_aside(void **state)
{
	struct fx *f = *state;
	char err[512], aside[256];
	int fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	char junk[8192];

	memset(junk, 'Z', sizeof(junk));
	assert_true(fd >= 0);
	assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);
	assert_int_equal(dpp_store_db_open(f->path, 0, &f->db, err, sizeof(err)), DPP_STORE_OPEN_CORRUPT);
	assert_int_equal(dpp_store_set_aside(f->path, aside, sizeof(aside)), 0);
	assert_non_null(strstr(aside, ".corrupt-"));
	assert_int_equal(access(aside, F_OK), 0);
	assert_int_not_equal(access(f->path, F_OK), 0);
	/* Once: a second set-aside in the same second refuses to overwrite. */
	fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	close(fd);
	assert_int_equal(dpp_store_set_aside(f->path, aside, sizeof(aside)), -1);
	unlink(f->path);
	assert_int_equal(dpp_store_db_open(f->path, 0, &f->db, err, sizeof(err)), DPP_STORE_OPEN_OK);
}

/* ---- writer -------------------------------------------------------------- */

static void test_batching(void **state)
{
	struct fx *f = *state;
	int64_t t = 1764583200123; /* 2025-12-01T10:00:00.123Z */
	char *s;

	open_writer(f, 1024);
	for (uint64_t i = 1; i <= 600; i++) {
		struct dpp_event ev = mk_event(i % 2 ? DPP_EVENT_DENY : DPP_EVENT_AUTH_FAILURE, i, t);

		assert_int_equal(sw_admit(&f->w, &ev, t), 1);
	}
	assert_int_equal(f->w.count, 600);
	/* At most SW_BATCH_MAX per transaction. */
	assert_int_equal(sw_flush(&f->w, t), SW_BATCH_MAX);
	assert_int_equal(q_int(f->db, "SELECT count(*) FROM audit_events"), SW_BATCH_MAX);
	assert_int_equal(sw_flush(&f->w, t), SW_BATCH_MAX);
	assert_int_equal(sw_flush(&f->w, t), 600 - 2 * SW_BATCH_MAX);
	assert_int_equal(sw_flush(&f->w, t), 0);
	assert_int_equal(q_int(f->db, "SELECT count(*) FROM audit_events"), 600);
	assert_int_equal(atomic_load(&f->w.written), 600);
	assert_int_equal(atomic_load(&f->w.rows_audit), 600);
	assert_int_equal(q_int(f->db, "SELECT min(request_id) + max(request_id) FROM audit_events"), 601);
	s = q_text(f->db, "SELECT timestamp || '|' || event || '|' || user_agent || '|' || rule_name || '|' ||"
			  " identity || '|' || query || '|' || client_ip || '|' || status || '|' || bytes_in || '|' ||"
			  " bytes_out FROM audit_events WHERE request_id = 1");
	assert_string_equal(s, "2025-12-01T10:00:00.123Z|deny|-|no-create|token:1a2b3c4d|name=x|10.1.2.3|403|17|44");
	free(s);
	/* Empty strings are NULL, as the audit record writes null. */
	assert_int_equal(q_int(f->db, "SELECT count(*) FROM audit_events WHERE request_id = 2 AND identity IS NULL"
				      " AND rule_name IS NULL AND user_role IS NULL AND dry_run = 0"),
			 1);
}

/* Found by tests/fuzz/fuzz_store.c: a row must say what the event's JSONL
 * audit record says. Before the fix a time before 1970 was stored as
 * "1970-01-01T00:00:00.-01Z" (the record: "1969-12-31T23:59:59.999Z"), a
 * time gmtime_r cannot represent formatted an uninitialized struct tm, and a
 * dry-run event kept its status and dry_run 0 where the record writes 0 and
 * true. */
static void test_row_matches_audit_record(void **state)
{
	struct fx *f = *state;
	struct dpp_event ev;
	char ts[40], *s;

	dpp_store_iso_time(-1, ts, sizeof(ts));
	assert_string_equal(ts, "1969-12-31T23:59:59.999Z");
	dpp_store_iso_time(-1001, ts, sizeof(ts));
	assert_string_equal(ts, "1969-12-31T23:59:58.999Z");
	dpp_store_iso_time(INT64_MAX, ts, sizeof(ts));
	assert_string_equal(ts, "1970-01-01T00:00:00.000Z");
	dpp_store_iso_time(INT64_MIN, ts, sizeof(ts));
	assert_string_equal(ts, "1970-01-01T00:00:00.000Z");
	dpp_store_iso_time(253402300799999, ts, sizeof(ts)); /* last ms of 9999 */
	assert_string_equal(ts, "9999-12-31T23:59:59.999Z");

	open_writer(f, 16);
	ev = mk_event(DPP_EVENT_DRY_RUN, 1, -1);
	ev.status = 403;
	ev.dry_run = 0;
	assert_int_equal(sw_admit(&f->w, &ev, 1), 1);
	assert_int_equal(sw_flush(&f->w, 1), 1);
	s = q_text(f->db, "SELECT timestamp || '|' || event || '|' || status || '|' || dry_run"
			  " FROM audit_events WHERE request_id = 1");
	assert_string_equal(s, "1969-12-31T23:59:59.999Z|dry_run|0|1");
	free(s);
}

static void test_failed_commit_rolled_back(void **state)
{
	struct fx *f = *state;
	int64_t t = now_ms();
	sqlite3 *other = NULL;
	int rc;

	open_writer(f, 64);
	for (uint64_t i = 1; i <= 10; i++) {
		struct dpp_event ev = mk_event(DPP_EVENT_DENY, i, t);

		sw_admit(&f->w, &ev, t);
	}
	/* config_version is a deferred foreign key: every INSERT succeeds and
	 * the COMMIT fails, leaving the transaction open (sqlite.org
	 * foreignkeys.html 4.2): the classic lock-holding bug if not rolled back. */
	f->w.live_version = 999;
	rc = sw_flush(&f->w, t);
	assert_true(rc < 0);
	assert_int_equal(-rc & 0xff, SQLITE_CONSTRAINT);
	assert_int_equal(sqlite3_get_autocommit(f->db), 1); /* rolled back */
	assert_int_equal(f->w.count, 10);                   /* the batch is kept */
	assert_int_equal(atomic_load(&f->w.write_failures), 1);
	/* The write lock is free: another process can write at once. */
	assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
	sqlite3_busy_timeout(other, 0);
	assert_int_equal(dpp_store_exec(other, "BEGIN IMMEDIATE", NULL, 0), SQLITE_OK);
	assert_int_equal(dpp_store_exec(other, "ROLLBACK", NULL, 0), SQLITE_OK);
	sqlite3_close(other);
	assert_int_equal(q_int(f->db, "SELECT count(*) FROM audit_events"), 0);
	/* The retry lands the kept batch. */
	f->w.live_version = 0;
	assert_int_equal(sw_flush(&f->w, t), 10);
	assert_int_equal(q_int(f->db, "SELECT count(*) FROM audit_events"), 10);
	assert_int_equal(f->w.failing, 0);
}

static void test_busy_file_keeps_batch(void **state)
{
	struct fx *f = *state;
	int64_t t = now_ms();
	sqlite3 *other = NULL;
	struct dpp_event ev = mk_event(DPP_EVENT_DENY, 1, t);
	int rc;

	open_writer(f, 64);
	assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
	assert_int_equal(dpp_store_exec(other, "BEGIN IMMEDIATE", NULL, 0), SQLITE_OK);
	sw_admit(&f->w, &ev, t);
	rc = sw_flush(&f->w, t);
	assert_true(rc < 0);
	assert_int_equal(-rc & 0xff, SQLITE_BUSY);
	assert_int_equal(sqlite3_get_autocommit(f->db), 1);
	assert_int_equal(f->w.count, 1);
	assert_int_equal(dpp_store_exec(other, "ROLLBACK", NULL, 0), SQLITE_OK);
	sqlite3_close(other);
	assert_int_equal(sw_flush(&f->w, t), 1);
	assert_int_equal(q_int(f->db, "SELECT count(*) FROM audit_events"), 1);
}

static void test_drops_counted_and_gap_row(void **state)
{
	struct fx *f = *state;
	int64_t t = now_ms();
	char *s;

	open_writer(f, 8);
	/* Plain requests stop at three quarters (6 of 8), the rest at 8. */
	for (uint64_t i = 0; i < 7; i++) {
		struct dpp_event ev = mk_event(DPP_EVENT_REQUEST, i + 1, t);

		assert_int_equal(sw_admit(&f->w, &ev, t), i < 6 ? 1 : 0);
	}
	for (uint64_t i = 0; i < 3; i++) {
		struct dpp_event ev = mk_event(DPP_EVENT_DENY, i + 10, t + 5);

		assert_int_equal(sw_admit(&f->w, &ev, t + 5), i < 2 ? 1 : 0);
	}
	sw_note_lost(&f->w, DPP_EVENT_LOCKOUT, 4, t + 9);
	assert_int_equal(atomic_load(&f->w.dropped[DPP_EVENT_REQUEST]), 1);
	assert_int_equal(atomic_load(&f->w.dropped[DPP_EVENT_DENY]), 1);
	assert_int_equal(atomic_load(&f->w.dropped[DPP_EVENT_LOCKOUT]), 4);
	assert_int_equal(sw_flush(&f->w, t), 8);
	assert_int_equal(q_int(f->db, "SELECT count(*) FROM store_gaps"), 1);
	assert_int_equal(q_int(f->db, "SELECT dropped FROM store_gaps"), 6);
	assert_int_equal(q_int(f->db, "SELECT end_ms - start_ms FROM store_gaps"), 9);
	s = q_text(f->db, "SELECT detail || '|' || reason FROM store_gaps");
	assert_string_equal(s, "{\"request\":1,\"deny\":1,\"lockout\":4}|queue full");
	free(s);
	assert_int_equal(q_int(f->db, "SELECT detail ->> '$.lockout' FROM store_gaps"), 4);
	/* The gap is written once. */
	assert_int_equal(sw_flush(&f->w, t), 0);
	assert_int_equal(q_int(f->db, "SELECT count(*) FROM store_gaps"), 1);
}

static void test_gap_reason_when_failing(void **state)
{
	struct fx *f = *state;
	int64_t t = now_ms();
	sqlite3 *other = NULL;
	char *s;

	open_writer(f, 4);
	assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
	assert_int_equal(dpp_store_exec(other, "BEGIN IMMEDIATE", NULL, 0), SQLITE_OK);
	for (uint64_t i = 0; i < 4; i++) {
		struct dpp_event ev = mk_event(DPP_EVENT_DENY, i + 1, t);

		sw_admit(&f->w, &ev, t);
	}
	assert_true(sw_flush(&f->w, t) < 0);
	{
		struct dpp_event ev = mk_event(DPP_EVENT_DENY, 99, t + 1);

		assert_int_equal(sw_admit(&f->w, &ev, t + 1), 0);
	}
	dpp_store_exec(other, "ROLLBACK", NULL, 0);
	sqlite3_close(other);
	assert_int_equal(sw_flush(&f->w, t), 4);
	s = q_text(f->db, "SELECT reason FROM store_gaps");
	assert_string_equal(s, "database locked by another process");
	free(s);
}

static void test_retention(void **state)
{
	struct fx *f = *state;
	int64_t now = now_ms(), day = 86400000LL;
	const int64_t ages[] = {100 * day, 10 * day, 1000};

	open_writer(f, 64);
	for (size_t i = 0; i < 3; i++) {
		struct dpp_event a = mk_event(DPP_EVENT_DENY, 1, now - ages[i]);
		struct dpp_event b = mk_event(DPP_EVENT_REQUEST, 2, now - ages[i]);

		sw_admit(&f->w, &a, now);
		sw_admit(&f->w, &b, now);
	}
	assert_int_equal(sw_flush(&f->w, now), 6);
	assert_int_equal(dpp_store_exec(f->db, "INSERT INTO store_gaps (start_ms, end_ms, start_time, end_time, dropped, reason)"
					       " VALUES (1, 2, 'a', 'b', 1, 'queue full')", NULL, 0),
			 SQLITE_OK);
	/* 90 days for security events, 7 for requests. */
	assert_int_equal(sw_sweep(&f->w, now - 90 * day, now - 7 * day), 4);
	assert_int_equal(q_int(f->db, "SELECT count(*) FROM audit_events WHERE event = 'deny'"), 2);
	assert_int_equal(q_int(f->db, "SELECT count(*) FROM audit_events WHERE event = 'request'"), 1);
	assert_int_equal(q_int(f->db, "SELECT min(time_ms) FROM audit_events WHERE event = 'deny'"), now - 10 * day);
	assert_int_equal(q_int(f->db, "SELECT count(*) FROM store_gaps"), 0);
	assert_int_equal(atomic_load(&f->w.rows_audit), 3);
	assert_int_equal(sqlite3_get_autocommit(f->db), 1);
}

static void test_config_versions(void **state)
{
	struct fx *f = *state;
	struct sw_version v = {0};
	char sha[65], sql[512], *s;
	const char *text2 = "rules: []\n";

	open_writer(f, 64);
	v.origin = "startup";
	v.path = "/etc/dpp/config.yaml";
	v.text = (char *)"global: {}\n";
	v.len = strlen(v.text);
	v.applied = 1;
	v.time_ms = now_ms();
	assert_int_equal(sw_record_version(&f->w, &v), 1);
	assert_int_equal(f->w.live_version, 1);
	/* An unchanged reload adds no row. */
	v.origin = "sighup";
	assert_int_equal(sw_record_version(&f->w, &v), 0);
	/* A refused one is recorded with its errors, once. */
	v.text = (char *)"global: [\n";
	v.len = strlen(v.text);
	v.applied = 0;
	v.errors = (char *)"config.yaml:1:9: did not find expected node content\n";
	assert_int_equal(sw_record_version(&f->w, &v), 2);
	assert_int_equal(sw_record_version(&f->w, &v), 0);
	assert_int_equal(f->w.live_version, 1);
	assert_int_equal(q_int(f->db, "SELECT applied + 10 * based_on FROM config_versions WHERE id = 2"), 10);
	/* A CLI request gives source, author, comment and the deadline. */
	assert_int_equal(dpp_store_sha256_hex(text2, strlen(text2), sha), 0);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO config_requests (time_ms, sha256, source, author, comment, rollback_of, confirm_deadline_ms)"
		 " VALUES (%lld, '%s', 'rollback', 'alice', 'undo', 1, %lld)",
		 (long long)now_ms(), sha, (long long)now_ms() + 600000);
	assert_int_equal(dpp_store_exec(f->db, sql, NULL, 0), SQLITE_OK);
	v.text = (char *)text2;
	v.len = strlen(text2);
	v.applied = 1;
	v.errors = NULL;
	assert_int_equal(sw_record_version(&f->w, &v), 3);
	s = q_text(f->db, "SELECT source || '|' || author || '|' || comment || '|' || rollback_of || '|' ||"
			  " based_on || '|' || confirm_state || '|' || path FROM config_versions WHERE id = 3");
	assert_string_equal(s, "rollback|alice|undo|1|1|pending|/etc/dpp/config.yaml");
	free(s);
	assert_int_equal(q_int(f->db, "SELECT consumed FROM config_requests"), 1);
	s = q_text(f->db, "SELECT sha256 FROM config_versions WHERE id = 3");
	assert_string_equal(s, sha);
	free(s);
	/* A newer live version ends the confirmation window. */
	v.text = (char *)"rules: [{name: a}]\n";
	v.len = strlen(v.text);
	assert_int_equal(sw_record_version(&f->w, &v), 4);
	s = q_text(f->db, "SELECT confirm_state FROM config_versions WHERE id = 3");
	assert_string_equal(s, "superseded");
	free(s);
	assert_int_equal(atomic_load(&f->w.rows_versions), 4);
	/* synchronous went back to NORMAL after the FULL transaction. */
	assert_int_equal(q_int(f->db, "PRAGMA synchronous"), 1);
}

/* ---- config keys ------------------------------------------------------- */

static int load_yaml(struct fx *f, const char *yaml, struct dpp_config **cfg, char **errors)
{
	char p[160];
	FILE *o;
	struct dpp_config_flags flags = {0};

	snprintf(p, sizeof(p), "%s/c.yaml", f->dir);
	o = fopen(p, "w");
	fputs(yaml, o);
	fclose(o);
	flags.config_path = p;
	return dpp_config_load(&flags, cfg, errors);
}

static void test_config_keys(void **state)
{
	struct fx *f = *state;
	struct dpp_config *cfg = NULL;
	char *errors = NULL, out[256], want[256];
	long long secs;

	/* null is "not set": beside the config file. */
	assert_int_equal(load_yaml(f, "global:\n  store:\n    path:\n    retention: 12h\n", &cfg, &errors), 0);
	assert_int_equal(dpp_config_settings(cfg)->store_path_source, DPP_SOURCE_DEFAULT);
	assert_int_equal(dpp_store_resolve_path(dpp_config_settings(cfg), dpp_config_path(cfg), out, sizeof(out)), 1);
	snprintf(want, sizeof(want), "%s/docker-policy-proxy.db", f->dir);
	assert_string_equal(out, want);
	assert_string_equal(dpp_config_settings(cfg)->store_retention, "12h");
	assert_string_equal(dpp_config_settings(cfg)->store_request_retention, "7d");
	assert_int_equal(dpp_config_settings(cfg)->store_requests, 0);
	dpp_config_free(cfg);
	/* "" turns it off; requests: all. */
	assert_int_equal(load_yaml(f, "global:\n  store: {path: \"\", requests: all}\n", &cfg, &errors), 0);
	assert_int_equal(dpp_store_resolve_path(dpp_config_settings(cfg), dpp_config_path(cfg), out, sizeof(out)), 0);
	assert_int_equal(dpp_config_settings(cfg)->store_requests, 1);
	dpp_config_free(cfg);
	/* Without a config file: the working directory. */
	{
		struct dpp_settings none;

		memset(&none, 0, sizeof(none));
		assert_int_equal(dpp_store_resolve_path(&none, NULL, out, sizeof(out)), 1);
		assert_string_equal(out, "docker-policy-proxy.db");
	}
	/* Bad values: file:line:column errors. */
	assert_int_equal(load_yaml(f, "global:\n  store:\n    retention: forever\n    requests: some\n", &cfg, &errors), -1);
	assert_non_null(errors);
	assert_non_null(strstr(errors, "c.yaml:3:16: global.store.retention: must be a duration"));
	assert_non_null(strstr(errors, "c.yaml:4:15: global.store.requests"));
	free(errors);
	assert_int_equal(dpp_config_parse_duration("90d", &secs), 0);
	assert_int_equal(secs, 90LL * 86400);
	assert_int_equal(dpp_config_parse_duration("45s", &secs), 0);
	assert_int_equal(secs, 45);
	assert_int_equal(dpp_config_parse_duration("0d", &secs), -1);
	assert_int_equal(dpp_config_parse_duration("5", &secs), -1);
	assert_int_equal(dpp_config_parse_duration("5dd", &secs), -1);
	assert_int_equal(dpp_config_parse_duration("999999999d", &secs), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_schema_created, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_from_older, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_step_is_atomic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_set_aside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batching, setup, teardown),
		cmocka_unit_test_setup_teardown(test_row_matches_audit_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_commit_rolled_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_file_keeps_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drops_counted_and_gap_row, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gap_reason_when_failing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_versions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_keys, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
