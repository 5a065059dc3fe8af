/* libFuzzer target for the SQLite store's event encoder: how a struct
 * dpp_event becomes an audit_events row (insert_event in src/store/writer.c,
 * dpp_store_iso_time in db.c). Build and run: tests/fuzz/build_store.sh
 * [SECONDS].
 *
 * The input fills a struct dpp_event as in fuzz_audit.c: fixed-size numbers
 * first, then the string fields in declaration order, each up to the next
 * 0xff byte (truncated to its array, NUL-terminated; bytes are arbitrary,
 * invalid UTF-8, controls and quotes included). The event goes through the
 * store's real path: a file opened with dpp_store_db_open (pragmas, schema
 * migrations), sw_admit and sw_flush (the prepared INSERT). The row is read
 * back with sqlite3 and checked, besides "no crash, no leak":
 *   - every string column (the seed's thirteen fields, request_id,
 *     client_ip, query) holds the field's bytes exactly, as TEXT, or NULL
 *     when the field is empty ("-" for an empty user_agent), as the audit
 *     record writes null;
 *   - timestamp, event, status and dry_run equal the JSONL audit record's
 *     (dpp_audit_format_record) for the same event;
 *   - time_ms, duration_ms and request_id are exact (request_id NULL for 0).
 * At start-up an event whose every string is an SQL-injection attempt is
 * written and must land as data with the table still there. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "db.h"
#include "dpp/audit.h"
#include "dpp/event.h"
#include "writer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/dpp-fuzz-store-XXXXXX";
static char file[64];
static sqlite3 *db;
static sqlite3_stmt *sel;
static struct store_writer w;
static unsigned long runs;

#define FAIL(...)                                                                               \
	do {                                                                                    \
		fprintf(stderr, __VA_ARGS__);                                                   \
		fputc('\n', stderr);                                                            \
		abort();                                                                        \
	} while (0)

static void cleanup(void)
{
	char p[96];

	sqlite3_finalize(sel);
	sw_done(&w);
	sqlite3_close(db);
	unlink(file);
	snprintf(p, sizeof(p), "%s-wal", file);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", file);
	unlink(p);
	rmdir(dir);
}

static void open_store(void)
{
	char err[512];

	if (mkdtemp(dir) == NULL)
		FAIL("mkdtemp failed");
	snprintf(file, sizeof(file), "%s/store.db", dir);
	if (dpp_store_db_open(file, 0, &db, err, sizeof(err)) != DPP_STORE_OPEN_OK)
		FAIL("dpp_store_db_open: %s", err);
	if (sw_init(&w, db, 16, err, sizeof(err)) != 0)
		FAIL("sw_init: %s", err);
	if (sqlite3_prepare_v2(db,
			       "SELECT timestamp, event, peer_ip, method, path, user_agent, user_role,"
			       " identity, rule_name, rule_action, status, dry_run, message,"
			       " request_id, client_ip, query, time_ms, duration_ms"
			       " FROM audit_events ORDER BY id DESC LIMIT 1",
			       -1, &sel, NULL) != SQLITE_OK)
		FAIL("prepare: %s", sqlite3_errmsg(db));
	atexit(cleanup);
}

/* Column i holds exactly want (NULL when want is "" and none is NULL). */
static void check_text(int i, const char *name, const char *want, const char *none)
{
	int type = sqlite3_column_type(sel, i);
	const unsigned char *got;
	size_t n;

	if (want[0] == '\0')
		want = none;
	if (want == NULL) {
		if (type != SQLITE_NULL)
			FAIL("%s: NULL expected, got type %d", name, type);
		return;
	}
	if (type != SQLITE_TEXT)
		FAIL("%s: TEXT expected, got type %d", name, type);
	got = sqlite3_column_text(sel, i);
	n = (size_t)sqlite3_column_bytes(sel, i);
	if (got == NULL || n != strlen(want) || memcmp(got, want, n) != 0)
		FAIL("%s: stored %zu bytes \"%.*s\", not the field's %zu \"%s\"", name, n, (int)n,
		     got != NULL ? (const char *)got : "", strlen(want), want);
}

static void write_and_check(const struct dpp_event *ev)
{
	char *text;
	cJSON *rec;
	const cJSON *j;
	int rc;

	if (sw_admit(&w, ev, 1) != 1)
		FAIL("sw_admit refused an event on an empty queue");
	rc = sw_flush(&w, 1);
	if (rc != 1)
		FAIL("sw_flush: %d (%s)", rc, sqlite3_errmsg(db));
	text = dpp_audit_format_record(ev);
	if (text == NULL)
		return; /* out of memory */
	rec = cJSON_Parse(text);
	free(text);
	if (rec == NULL)
		FAIL("audit record is not JSON");
	sqlite3_reset(sel);
	if (sqlite3_step(sel) != SQLITE_ROW)
		FAIL("row not read back: %s", sqlite3_errmsg(db));

	j = cJSON_GetObjectItemCaseSensitive(rec, "timestamp");
	check_text(0, "timestamp", cJSON_IsString(j) ? j->valuestring : "?", NULL);
	check_text(1, "event", dpp_event_kind_name(ev->kind), NULL);
	check_text(2, "peer_ip", ev->peer_ip, NULL);
	check_text(3, "method", ev->method, NULL);
	check_text(4, "path", ev->path, NULL);
	check_text(5, "user_agent", ev->user_agent, "-");
	check_text(6, "user_role", ev->user_role, NULL);
	check_text(7, "identity", ev->identity, NULL);
	check_text(8, "rule_name", ev->rule_name, NULL);
	check_text(9, "rule_action", ev->rule_action, NULL);
	j = cJSON_GetObjectItemCaseSensitive(rec, "status");
	if (sqlite3_column_type(sel, 10) != SQLITE_INTEGER || !cJSON_IsNumber(j) ||
	    sqlite3_column_int64(sel, 10) != (sqlite3_int64)j->valuedouble)
		FAIL("status: stored %lld, audit record %g", (long long)sqlite3_column_int64(sel, 10),
		     cJSON_IsNumber(j) ? j->valuedouble : -1.0);
	j = cJSON_GetObjectItemCaseSensitive(rec, "dry_run");
	if (sqlite3_column_type(sel, 11) != SQLITE_INTEGER || !cJSON_IsBool(j) ||
	    sqlite3_column_int64(sel, 11) != (cJSON_IsTrue(j) ? 1 : 0))
		FAIL("dry_run: stored %lld, audit record %s", (long long)sqlite3_column_int64(sel, 11),
		     cJSON_IsTrue(j) ? "true" : "false");
	check_text(12, "message", ev->message, NULL);
	if (ev->id == 0 ? sqlite3_column_type(sel, 13) != SQLITE_NULL
			: sqlite3_column_type(sel, 13) != SQLITE_INTEGER ||
				  (uint64_t)sqlite3_column_int64(sel, 13) != ev->id)
		FAIL("request_id: not %llu", (unsigned long long)ev->id);
	check_text(14, "client_ip", ev->client_ip, NULL);
	check_text(15, "query", ev->query, NULL);
	if (sqlite3_column_int64(sel, 16) != ev->time_ms)
		FAIL("time_ms");
	if (sqlite3_column_int64(sel, 17) != (sqlite3_int64)ev->duration_ms)
		FAIL("duration_ms");
	sqlite3_reset(sel);
	cJSON_Delete(rec);
}

static void injection_lands_as_data(void)
{
	static const char evil[] = "'); DROP TABLE audit_events;--";
	struct dpp_event ev;
	sqlite3_stmt *st = NULL;

	memset(&ev, 0, sizeof(ev));
	ev.kind = DPP_EVENT_DENY;
	ev.status = 403;
	snprintf(ev.method, sizeof(ev.method), "%s", evil); /* cut at 15 bytes */
	snprintf(ev.path, sizeof(ev.path), "%s", evil);
	snprintf(ev.query, sizeof(ev.query), "%s", evil);
	snprintf(ev.peer_ip, sizeof(ev.peer_ip), "%s", evil);
	snprintf(ev.user_agent, sizeof(ev.user_agent), "%s", evil);
	snprintf(ev.rule_name, sizeof(ev.rule_name), "%s", evil);
	snprintf(ev.message, sizeof(ev.message), "%s", evil);
	write_and_check(&ev);
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM audit_events WHERE path = ?1", -1, &st,
			       NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, evil, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int64(st, 0) != 1)
		FAIL("injection attempt did not land as data: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
}

static size_t take(const uint8_t *data, size_t size, size_t pos, char *dst, size_t cap)
{
	size_t n = 0;

	while (pos < size && data[pos] != 0xff) {
		if (n + 1 < cap && data[pos] != '\0')
			dst[n++] = (char)data[pos];
		pos++;
	}
	dst[n] = '\0';
	return pos < size ? pos + 1 : pos;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dpp_event ev;
	size_t pos = 0;

	if (db == NULL) {
		open_store();
		injection_lands_as_data();
	}
	memset(&ev, 0, sizeof(ev));
	if (size >= 8 + 8 + 1 + 2 + 4 + 1) {
		memcpy(&ev.id, data, 8);
		memcpy(&ev.time_ms, data + 8, 8);
		ev.kind = (enum dpp_event_kind)(data[16] % (DPP_EVENT_STREAM_CLOSE + 1));
		ev.status = (int16_t)(data[17] | (data[18] << 8));
		memcpy(&ev.duration_ms, data + 19, 4);
		ev.dry_run = data[23] & 1;
		pos = 24;
	}
	pos = take(data, size, pos, ev.method, sizeof(ev.method));
	pos = take(data, size, pos, ev.path, sizeof(ev.path));
	pos = take(data, size, pos, ev.query, sizeof(ev.query));
	pos = take(data, size, pos, ev.peer_ip, sizeof(ev.peer_ip));
	pos = take(data, size, pos, ev.client_ip, sizeof(ev.client_ip));
	pos = take(data, size, pos, ev.user_agent, sizeof(ev.user_agent));
	pos = take(data, size, pos, ev.identity, sizeof(ev.identity));
	pos = take(data, size, pos, ev.user_role, sizeof(ev.user_role));
	pos = take(data, size, pos, ev.rule_name, sizeof(ev.rule_name));
	pos = take(data, size, pos, ev.rule_action, sizeof(ev.rule_action));
	(void)take(data, size, pos, ev.message, sizeof(ev.message));

	write_and_check(&ev);
	/* Keep the file small: the checks read the newest row only. */
	if (++runs % 4096 == 0 && dpp_store_exec(db, "DELETE FROM audit_events", NULL, 0) != SQLITE_OK)
		FAIL("DELETE: %s", sqlite3_errmsg(db));
	return 0;
}
