/* The store's write path, without a thread: a bounded queue of events with
 * priority admission, batches in one BEGIN IMMEDIATE transaction each,
 * drop accounting with store_gaps rows, config versions, retention.
 * store.c runs it on the writer thread; the unit tests drive it directly.
 * Everything but the atomic counters belongs to the thread that owns the
 * connection. */
#ifndef DPP_STORE_WRITER_H
#define DPP_STORE_WRITER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "dpp/event.h"

#define SW_KINDS 7              /* enum dpp_event_kind values */
#define SW_BATCH_MAX 256        /* events per transaction */
#define SW_QUEUE_DEFAULT 8192   /* events kept while the file cannot be written */
#define SW_DELETE_CHUNK 2000    /* rows per retention transaction */

struct sw_version {             /* one configuration to record */
	char *origin;           /* "startup", "sighup" */
	char *path;             /* may be NULL */
	char *text;             /* may be NULL (no file): recorded as "" */
	size_t len;
	int applied;
	char *errors;           /* may be NULL */
	char *author;           /* may be NULL: dpp_store_author */
	int64_t time_ms;
};

struct store_writer {
	sqlite3 *db;
	sqlite3_stmt *ins_event;
	sqlite3_stmt *ins_gap;
	struct dpp_event *q;    /* ring of cap events */
	size_t cap, head, count;
	int64_t live_version;   /* config_versions.id live now; 0 = none */
	/* drops not yet written as a store_gaps row */
	uint64_t gap_dropped[SW_KINDS];
	int64_t gap_start_ms, gap_end_ms;
	char gap_reason[300];
	int failing;            /* the last write failed */
	int last_rc;
	char last_error[256];
	/* read by other threads (metrics) */
	_Atomic uint64_t dropped[SW_KINDS];
	_Atomic uint64_t written;       /* events committed since start */
	_Atomic uint64_t write_failures;
	_Atomic int64_t rows_audit;
	_Atomic int64_t rows_versions;
	_Atomic int64_t rows_gaps;
	_Atomic size_t depth;
};

/* w must be zeroed before (its counters may already be read by other
 * threads; they are not reset here). Prepares the statements on db (owned by the caller; must outlive w) and
 * allocates a queue of cap events (0: SW_QUEUE_DEFAULT). Reads the live
 * version and the row counts. Returns 0, or -1 with err filled. */
int sw_init(struct store_writer *w, sqlite3 *db, size_t cap, char *err, size_t errlen);

/* Frees the statements and the queue (not the connection). */
void sw_done(struct store_writer *w);

/* Queues a copy of *ev. Plain request events are refused once the queue is
 * three quarters full, others when it is full: refused events are counted
 * in dropped[kind] and in the pending gap. Returns 1 queued, 0 dropped. */
int sw_admit(struct store_writer *w, const struct dpp_event *ev, int64_t now_ms);

/* Counts n events of `kind` lost before they reached the queue (the bus
 * ring was full) into dropped[] and the pending gap. */
void sw_note_lost(struct store_writer *w, int kind, uint64_t n, int64_t now_ms);

/* Commits up to SW_BATCH_MAX queued events, and the pending gap row, in one
 * BEGIN IMMEDIATE transaction. On any failure (busy, disk full, a failed
 * COMMIT) the transaction is rolled back (never left open holding the
 * write lock) and the events stay queued for the next try. Returns the
 * number of events committed (0 when there was nothing to do), or a
 * negative SQLite result code. */
int sw_flush(struct store_writer *w, int64_t now_ms);

/* Records one configuration in config_versions (synchronous=FULL for that
 * transaction): an applied config equal to the live one, or a refused one
 * equal to the last refused row, adds no row. A pending request of the CLI
 * (config_requests, same SHA-256, less than 10 minutes old) gives source,
 * author, comment, rollback_of and the confirmation deadline. Returns the
 * new row's id, 0 when no row was needed, or a negative SQLite code (then
 * nothing was written; retry later). */
int64_t sw_record_version(struct store_writer *w, const struct sw_version *v);

/* Deletes security events (and gaps and store events) older than sec_ms and
 * plain request events older than req_ms (Unix ms cut-offs), in
 * transactions of SW_DELETE_CHUNK rows, then returns free pages with
 * PRAGMA incremental_vacuum. Returns the rows deleted, or a negative code. */
long sw_sweep(struct store_writer *w, int64_t sec_cutoff_ms, int64_t req_cutoff_ms);

/* Frees sv's strings. */
void sw_version_free(struct sw_version *sv);

#endif
