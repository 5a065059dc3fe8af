/* The store's SQLite file: opening with the pragmas the store relies on,
 * the schema and its migrations, and small helpers shared by the writer
 * thread and the CLI. Internal to src/store (the proxy core never sees it).
 *
 * Pragmas (sqlite.org/pragma.html, sqlite.org/wal.html): WAL (readers never
 * block the writer), synchronous=NORMAL (an application crash never loses a
 * committed transaction in WAL mode; config versions commit with FULL),
 * foreign_keys=ON, temp_store=MEMORY, journal_size_limit=64 MiB,
 * auto_vacuum=INCREMENTAL (set before the first table; retention frees pages
 * with incremental_vacuum, never a full VACUUM).
 * Every function here uses only the connection it is given: call it from the
 * one thread that owns that connection. */
#ifndef DPP_STORE_DB_H
#define DPP_STORE_DB_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#define DPP_STORE_SCHEMA_VERSION 3       /* PRAGMA user_version this binary writes */
#define DPP_STORE_APPLICATION_ID 0x44505053 /* "DPPS" at header offset 68 */
#define DPP_STORE_BUSY_MS 250            /* writer: short, it retries with back-off */
#define DPP_STORE_READER_BUSY_MS 2000    /* CLI readers */

/* Outcome classes of dpp_store_db_open. */
enum dpp_store_open_rc {
	DPP_STORE_OPEN_OK = 0,
	DPP_STORE_OPEN_ERROR = -1,   /* cannot open / pragma refused / I/O: *err says */
	DPP_STORE_OPEN_CORRUPT = -2, /* SQLITE_CORRUPT or SQLITE_NOTADB (or quick_check failed) */
	DPP_STORE_OPEN_NEWER = -3,   /* user_version above DPP_STORE_SCHEMA_VERSION: not touched */
	DPP_STORE_OPEN_FOREIGN = -4, /* another application's SQLite file: not touched */
	DPP_STORE_OPEN_REMOTE = -5,  /* on a network filesystem: WAL would be unsafe */
};

/* Opens (creating with mode 0600 when absent) the store at `path` for
 * writing, sets the pragmas, checks the application id, and migrates the
 * schema step by step to DPP_STORE_SCHEMA_VERSION (one BEGIN IMMEDIATE
 * transaction per step; an existing older file is first copied with VACUUM
 * INTO to PATH.bak, replacing an older copy). quick_check: 1 runs PRAGMA
 * quick_check first (after an unclean shutdown). Returns DPP_STORE_OPEN_OK
 * with *db (caller closes with sqlite3_close), or a negative code with *db
 * NULL and a one-line reason in err[0..errlen). */
int dpp_store_db_open(const char *path, int quick_check, sqlite3 **db, char *err,
		      size_t errlen);

/* Opens an existing store read-only for the CLI (busy_timeout 2000 ms,
 * query_only). Refuses a newer schema and a foreign file like the writer.
 * Same return convention. */
int dpp_store_db_open_readonly(const char *path, sqlite3 **db, char *err, size_t errlen);

/* Opens an existing store for a short read-write session of the CLI
 * (rollback, confirm): no migration (the schema must be current), busy
 * timeout 2000 ms. Same return convention. */
int dpp_store_db_open_cli_rw(const char *path, sqlite3 **db, char *err, size_t errlen);

/* Migrates db from its user_version up to `target` (<= the schema
 * version), one transaction per step. Exposed so tests can build an older
 * file. Returns 0, or -1 with err filled (the failing step rolled back). */
int dpp_store_schema_migrate(sqlite3 *db, int target, char *err, size_t errlen);

/* PRAGMA user_version, or -1 on error. */
int dpp_store_user_version(sqlite3 *db);

/* Moves `path` (and its -wal and -shm files) aside to
 * PATH.corrupt-YYYYmmddTHHMMSSZ. Returns 0 with the new name in out, or -1
 * (errno set). */
int dpp_store_set_aside(const char *path, char *out, size_t outlen);

/* Runs one SQL text without results (errors into err). Returns the SQLite
 * result code. */
int dpp_store_exec(sqlite3 *db, const char *sql, char *err, size_t errlen);

/* "2026-12-01T10:00:00.123Z" for a Unix time in ms (UTC). out >= 32 bytes. */
void dpp_store_iso_time(int64_t ms, char *out, size_t outlen);

/* Lower-case hex SHA-256 of data[0..len) into out (65 bytes). Uses GnuTLS's
 * digest (FIPS 180-4). Returns 0, or -1. */
int dpp_store_sha256_hex(const void *data, size_t len, char out[65]);

/* Who is making a change: $SUDO_USER, else the login name, else the user
 * name of the uid, else "uid:N". */
void dpp_store_author(char *out, size_t outlen);

/* The pid file beside the store (PATH.pid) that the running proxy holds
 * an exclusive flock(2) on while the store is open. */
void dpp_store_pidfile_path(const char *db_path, char *out, size_t outlen);

#endif
