/* The store's SQLite file: pragmas, schema ladder, corrupt-file handling. */
#include "db.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

/* Each step runs in its own BEGIN IMMEDIATE transaction together with
 * "PRAGMA user_version = N" (transactional: a failed step leaves the file
 * at N-1). Never edit a released step: add one. */
static const char *const schema_steps[DPP_STORE_SCHEMA_VERSION] = {
	/* 1: config versions and audit events */
	"CREATE TABLE config_versions ("
	" id INTEGER PRIMARY KEY,"
	" time_ms INTEGER NOT NULL,"
	" timestamp TEXT NOT NULL,"
	" source TEXT NOT NULL,"
	" author TEXT NOT NULL,"
	" sha256 TEXT NOT NULL CHECK (length(sha256) = 64),"
	" content TEXT NOT NULL,"
	" applied INTEGER NOT NULL CHECK (applied IN (0, 1)),"
	" errors TEXT,"
	" based_on INTEGER REFERENCES config_versions(id),"
	" rollback_of INTEGER REFERENCES config_versions(id),"
	" comment TEXT,"
	" path TEXT,"
	" confirm_deadline_ms INTEGER,"
	" confirm_state TEXT"
	") STRICT;"
	"CREATE INDEX config_versions_applied ON config_versions(applied, id);"
	"CREATE INDEX config_versions_time ON config_versions(time_ms);"
	"CREATE TABLE audit_events ("
	" id INTEGER PRIMARY KEY,"
	" time_ms INTEGER NOT NULL,"
	" timestamp TEXT NOT NULL,"
	" event TEXT NOT NULL,"
	" peer_ip TEXT,"
	" method TEXT,"
	" path TEXT,"
	" user_agent TEXT,"
	" user_role TEXT,"
	" identity TEXT,"
	" rule_name TEXT,"
	" rule_action TEXT,"
	" status INTEGER NOT NULL,"
	" dry_run INTEGER NOT NULL,"
	" message TEXT,"
	" request_id INTEGER,"
	" client_ip TEXT,"
	" duration_ms INTEGER,"
	" config_version INTEGER REFERENCES config_versions(id) DEFERRABLE INITIALLY DEFERRED"
	") STRICT;"
	"CREATE INDEX audit_time ON audit_events(time_ms);"
	"CREATE INDEX audit_event_time ON audit_events(event, time_ms);"
	"CREATE INDEX audit_rule_time ON audit_events(rule_name, time_ms);"
	"CREATE INDEX audit_identity_time ON audit_events(identity, time_ms);"
	"CREATE INDEX audit_client_time ON audit_events(client_ip, time_ms);"
	"CREATE INDEX audit_notable_time ON audit_events(time_ms) WHERE event <> 'request';",
	/* 2: drop accounting, the store's own events, pending config requests */
	"CREATE TABLE store_gaps ("
	" id INTEGER PRIMARY KEY,"
	" start_ms INTEGER NOT NULL,"
	" end_ms INTEGER NOT NULL,"
	" start_time TEXT NOT NULL,"
	" end_time TEXT NOT NULL,"
	" dropped INTEGER NOT NULL,"
	" detail TEXT CHECK (detail IS NULL OR json_valid(detail)),"
	" reason TEXT NOT NULL"
	") STRICT;"
	"CREATE INDEX store_gaps_time ON store_gaps(start_ms);"
	"CREATE TABLE store_events ("
	" id INTEGER PRIMARY KEY,"
	" time_ms INTEGER NOT NULL,"
	" timestamp TEXT NOT NULL,"
	" what TEXT NOT NULL,"
	" detail TEXT"
	") STRICT;"
	"CREATE TABLE config_requests ("
	" id INTEGER PRIMARY KEY,"
	" time_ms INTEGER NOT NULL,"
	" sha256 TEXT NOT NULL,"
	" source TEXT NOT NULL,"
	" author TEXT NOT NULL,"
	" comment TEXT,"
	" rollback_of INTEGER,"
	" confirm_deadline_ms INTEGER,"
	" consumed INTEGER NOT NULL DEFAULT 0"
	") STRICT;",
	/* 3: the request's query and sizes */
	"ALTER TABLE audit_events ADD COLUMN query TEXT;"
	"ALTER TABLE audit_events ADD COLUMN bytes_in INTEGER;"
	"ALTER TABLE audit_events ADD COLUMN bytes_out INTEGER;",
};

int dpp_store_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK && err != NULL)
		snprintf(err, errlen, "%s", msg != NULL ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	return rc;
}

static int pragma_int(sqlite3 *db, const char *sql, int *rc_out)
{
	sqlite3_stmt *st = NULL;
	int v = -1, rc;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			v = sqlite3_column_int(st, 0);
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE) {
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	if (rc_out != NULL)
		*rc_out = rc;
	return v;
}

int dpp_store_user_version(sqlite3 *db)
{
	int rc;
	int v = pragma_int(db, "PRAGMA user_version", &rc);

	return rc == SQLITE_OK ? v : -1;
}

static int is_corrupt_rc(int rc)
{
	rc &= 0xff;
	return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB;
}

int dpp_store_schema_migrate(sqlite3 *db, int target, char *err, size_t errlen)
{
	int v = dpp_store_user_version(db);

	if (v < 0 || target > DPP_STORE_SCHEMA_VERSION) {
		snprintf(err, errlen, "cannot read the schema version: %s", sqlite3_errmsg(db));
		return -1;
	}
	for (; v < target; v++) {
		char set[64], why[512] = "";

		snprintf(set, sizeof(set), "PRAGMA user_version = %d;", v + 1);
		if (dpp_store_exec(db, "BEGIN IMMEDIATE", why, sizeof(why)) != SQLITE_OK)
			goto fail;
		if (v == 0 &&
		    dpp_store_exec(db, "PRAGMA application_id = 1146114131;", why, sizeof(why)) !=
			    SQLITE_OK)
			goto fail_rollback;
		if (dpp_store_exec(db, schema_steps[v], why, sizeof(why)) != SQLITE_OK ||
		    dpp_store_exec(db, set, why, sizeof(why)) != SQLITE_OK ||
		    dpp_store_exec(db, "COMMIT", why, sizeof(why)) != SQLITE_OK)
			goto fail_rollback;
		continue;
fail_rollback:
		/* A failed COMMIT can leave the transaction open: always roll back. */
		dpp_store_exec(db, "ROLLBACK", NULL, 0);
fail:
		snprintf(err, errlen, "schema step %d failed: %s", v + 1, why);
		return -1;
	}
	return 0;
}

/* Network filesystems where WAL's shared-memory index is unsafe
 * (sqlite.org/wal.html: "WAL does not work over a network filesystem"). */
static int is_remote_fs(const char *path, char *name, size_t namelen)
{
	static const struct {
		unsigned long magic;
		const char *name;
	} remote[] = {
		{0x6969, "NFS"},           {0x517B, "SMB"},      {0xFF534D42, "CIFS"},
		{0xFE534D42, "SMB2"},      {0x00C36400, "Ceph"}, {0x01021997, "9P"},
		{0x5346414F, "AFS"},       {0x73757245, "Coda"}, {0x47504653, "GPFS"},
		{0x0BD00BD0, "Lustre"},
	};
	char dir[4096];
	struct statfs sf;
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (statfs(dir, &sf) != 0)
		return 0; /* the open reports a missing directory */
	for (size_t i = 0; i < sizeof(remote) / sizeof(remote[0]); i++) {
		if ((unsigned long)(unsigned int)sf.f_type == remote[i].magic) {
			snprintf(name, namelen, "%s", remote[i].name);
			return 1;
		}
	}
	return 0;
}

/* The first statement reads the header: NOTADB / CORRUPT show up here. */
static int check_file(sqlite3 *db, int writer, char *err, size_t errlen)
{
	int rc, appid, ver;

	appid = pragma_int(db, "PRAGMA application_id", &rc);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		return is_corrupt_rc(rc) ? DPP_STORE_OPEN_CORRUPT : DPP_STORE_OPEN_ERROR;
	}
	ver = dpp_store_user_version(db);
	if (appid != 0 && appid != DPP_STORE_APPLICATION_ID) {
		snprintf(err, errlen, "not a docker-policy-proxy store (application_id %d); not touching it",
			 appid);
		return DPP_STORE_OPEN_FOREIGN;
	}
	if (appid == 0 && ver > 0) {
		snprintf(err, errlen, "not a docker-policy-proxy store (no application_id, user_version %d); not touching it",
			 ver);
		return DPP_STORE_OPEN_FOREIGN;
	}
	if (appid == 0 && !writer) {
		snprintf(err, errlen, "the store is empty (no schema yet)");
		return DPP_STORE_OPEN_ERROR;
	}
	if (ver > DPP_STORE_SCHEMA_VERSION) {
		snprintf(err, errlen,
			 "schema version %d is newer than this binary's %d (written by a newer docker-policy-proxy); not touching it",
			 ver, DPP_STORE_SCHEMA_VERSION);
		return DPP_STORE_OPEN_NEWER;
	}
	return DPP_STORE_OPEN_OK;
}

int dpp_store_db_open(const char *path, int quick_check, sqlite3 **db_out, char *err,
		      size_t errlen)
{
	sqlite3 *db = NULL;
	char fsname[32], why[512];
	int rc, ret = DPP_STORE_OPEN_ERROR, fd, ver;
	struct stat stt;
	int existed;

	*db_out = NULL;
	if (is_remote_fs(path, fsname, sizeof(fsname))) {
		snprintf(err, errlen, "%s is on a network filesystem (%s): SQLite's WAL needs a local disk; store off",
			 path, fsname);
		return DPP_STORE_OPEN_REMOTE;
	}
	existed = stat(path, &stt) == 0 && stt.st_size > 0;
	/* It holds config text: owner-only from the first byte. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return DPP_STORE_OPEN_ERROR;
	}
	close(fd);
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open %s: %s", path,
			 db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		ret = is_corrupt_rc(rc) ? DPP_STORE_OPEN_CORRUPT : DPP_STORE_OPEN_ERROR;
		goto fail;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, DPP_STORE_BUSY_MS);
	ret = check_file(db, 1, err, errlen);
	if (ret != DPP_STORE_OPEN_OK)
		goto fail;
	ver = dpp_store_user_version(db);
	if (ver == 0 &&
	    dpp_store_exec(db, "PRAGMA auto_vacuum = INCREMENTAL", why, sizeof(why)) != SQLITE_OK)
		goto pragma_fail;
	{
		sqlite3_stmt *st = NULL;
		const unsigned char *mode = NULL;

		rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
		if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
			mode = sqlite3_column_text(st, 0);
		if (mode == NULL || strcmp((const char *)mode, "wal") != 0) {
			snprintf(err, errlen, "cannot switch %s to WAL mode: %s", path,
				 mode != NULL ? (const char *)mode : sqlite3_errmsg(db));
			sqlite3_finalize(st);
			ret = is_corrupt_rc(rc) ? DPP_STORE_OPEN_CORRUPT : DPP_STORE_OPEN_ERROR;
			goto fail;
		}
		sqlite3_finalize(st);
	}
	if (dpp_store_exec(db,
			   "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
			   "PRAGMA temp_store = MEMORY; PRAGMA journal_size_limit = 67108864;",
			   why, sizeof(why)) != SQLITE_OK)
		goto pragma_fail;
	if (quick_check) {
		sqlite3_stmt *st = NULL;
		const unsigned char *res = NULL;

		rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL);
		if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
			res = sqlite3_column_text(st, 0);
		if (res == NULL || strcmp((const char *)res, "ok") != 0) {
			snprintf(err, errlen, "quick_check: %s",
				 res != NULL ? (const char *)res : sqlite3_errmsg(db));
			sqlite3_finalize(st);
			ret = DPP_STORE_OPEN_CORRUPT;
			goto fail;
		}
		sqlite3_finalize(st);
	}
	if (ver > 0 && ver < DPP_STORE_SCHEMA_VERSION && existed) {
		/* Keep one copy of the file as it was before the upgrade. */
		char bak[4200], *sql;

		snprintf(bak, sizeof(bak), "%s.bak", path);
		unlink(bak);
		sql = sqlite3_mprintf("VACUUM INTO %Q", bak);
		if (sql == NULL || dpp_store_exec(db, sql, why, sizeof(why)) != SQLITE_OK) {
			sqlite3_free(sql);
			snprintf(err, errlen, "cannot back up %s before upgrading its schema: %s", path,
				 why);
			goto fail;
		}
		sqlite3_free(sql);
	}
	if (dpp_store_schema_migrate(db, DPP_STORE_SCHEMA_VERSION, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s", why);
		ret = DPP_STORE_OPEN_ERROR;
		goto fail;
	}
	*db_out = db;
	return DPP_STORE_OPEN_OK;
pragma_fail:
	snprintf(err, errlen, "%s: %s", path, why);
	ret = DPP_STORE_OPEN_ERROR;
fail:
	sqlite3_close(db);
	return ret;
}

static int open_existing(const char *path, int flags, sqlite3 **db_out, char *err,
			 size_t errlen)
{
	sqlite3 *db = NULL;
	int rc, ret;
	struct stat stt;

	*db_out = NULL;
	if (stat(path, &stt) != 0) {
		snprintf(err, errlen, "cannot open the store %s: %s", path, strerror(errno));
		return DPP_STORE_OPEN_ERROR;
	}
	rc = sqlite3_open_v2(path, &db, flags, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open the store %s: %s", path,
			 db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return is_corrupt_rc(rc) ? DPP_STORE_OPEN_CORRUPT : DPP_STORE_OPEN_ERROR;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, DPP_STORE_READER_BUSY_MS);
	ret = check_file(db, 0, err, errlen);
	if (ret == DPP_STORE_OPEN_OK && dpp_store_user_version(db) != DPP_STORE_SCHEMA_VERSION) {
		snprintf(err, errlen, "schema version %d: start the proxy once to upgrade it to %d",
			 dpp_store_user_version(db), DPP_STORE_SCHEMA_VERSION);
		ret = DPP_STORE_OPEN_ERROR;
	}
	if (ret == DPP_STORE_OPEN_OK && (flags & SQLITE_OPEN_READONLY) &&
	    dpp_store_exec(db, "PRAGMA query_only = 1", err, errlen) != SQLITE_OK)
		ret = DPP_STORE_OPEN_ERROR;
	if (ret == DPP_STORE_OPEN_OK && !(flags & SQLITE_OPEN_READONLY) &&
	    dpp_store_exec(db, "PRAGMA foreign_keys = ON", err, errlen) != SQLITE_OK)
		ret = DPP_STORE_OPEN_ERROR;
	if (ret != DPP_STORE_OPEN_OK) {
		sqlite3_close(db);
		return ret;
	}
	*db_out = db;
	return DPP_STORE_OPEN_OK;
}

int dpp_store_db_open_readonly(const char *path, sqlite3 **db, char *err, size_t errlen)
{
	return open_existing(path, SQLITE_OPEN_READONLY, db, err, errlen);
}

int dpp_store_db_open_cli_rw(const char *path, sqlite3 **db, char *err, size_t errlen)
{
	return open_existing(path, SQLITE_OPEN_READWRITE, db, err, errlen);
}

int dpp_store_set_aside(const char *path, char *out, size_t outlen)
{
	static const char *const sfx[] = {"-wal", "-shm"};
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	if ((size_t)snprintf(out, outlen, "%s.corrupt-%s", path, stamp) >= outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (access(out, F_OK) == 0) {
		errno = EEXIST; /* set aside once: never overwrite an earlier copy */
		return -1;
	}
	if (rename(path, out) != 0)
		return -1;
	for (size_t i = 0; i < 2; i++) {
		char from[4200], to[4200];

		snprintf(from, sizeof(from), "%s%s", path, sfx[i]);
		snprintf(to, sizeof(to), "%s%s", out, sfx[i]);
		if (rename(from, to) != 0 && errno != ENOENT)
			return -1;
	}
	return 0;
}

/* The audit record's timestamp (format_time in src/proxy/audit.c), so a row
 * and its JSONL line agree: milliseconds rounded towards minus infinity (a
 * time before 1970 keeps 0..999 ms), the epoch for a year outside 0..9999
 * or one gmtime_r cannot represent. */
void dpp_store_iso_time(int64_t ms, char *out, size_t outlen)
{
	int64_t secs = ms / 1000, frac = ms % 1000;
	time_t s;
	struct tm tm;

	if (frac < 0) {
		frac += 1000;
		secs--;
	}
	s = (time_t)secs;
	if (gmtime_r(&s, &tm) == NULL || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
		snprintf(out, outlen, "1970-01-01T00:00:00.000Z");
		return;
	}
	snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
}

int dpp_store_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char d[32];

	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, d) != 0)
		return -1;
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	return 0;
}

void dpp_store_author(char *out, size_t outlen)
{
	const char *sudo = getenv("SUDO_USER");
	char login[256];
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (sudo != NULL && sudo[0] != '\0') {
		snprintf(out, outlen, "%s", sudo);
		return;
	}
	if (getlogin_r(login, sizeof(login)) == 0 && login[0] != '\0') {
		snprintf(out, outlen, "%s", login);
		return;
	}
	if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &res) == 0 && res != NULL &&
	    res->pw_name != NULL) {
		snprintf(out, outlen, "%s", res->pw_name);
		return;
	}
	snprintf(out, outlen, "uid:%u", (unsigned)getuid());
}

void dpp_store_pidfile_path(const char *db_path, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s.pid", db_path);
}
