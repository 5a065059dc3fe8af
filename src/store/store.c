/* The store's writer thread: bus subscriptions, batching, config versions,
 * retention, checkpoints, the confirm-deadline revert, metrics. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cfgfile.h"
#include "db.h"
#include "dpp/log.h"
#include "writer.h"

#define FLUSH_MS 250              /* a batch commits at least this often */
#define IDLE_POLL_MS 500
#define CONFIRM_CHECK_MS 1000
#define BACKOFF_MAX_MS 5000
#define WARN_INTERVAL_MS 60000    /* one log line a minute per kind of trouble */
#define WAL_SOFT_BYTES (64LL << 20)
#define DRAIN_MS 2000
#define SWEEP_DEFAULT_MS (15 * 60 * 1000)
#define RING_REQUESTS 4096
#define RING_SECURITY 1024

struct job {
	struct job *next;
	struct sw_version v;
};

struct dpp_store {
	struct dpp_bus *bus;
	struct dpp_metrics *metrics;
	struct dpp_bus_sub *subs[SW_KINDS];
	uint64_t lost_seen[SW_KINDS];
	pthread_t thread;
	int thread_started;
	atomic_int stop;
	char path[4096];
	char config_path[4096];
	char pidfile[4200];
	int pid_fd;
	int unclean;              /* the pid file was left by a proxy that died */
	atomic_int requests_all;
	atomic_llong retention_s;
	atomic_llong request_retention_s;
	pthread_mutex_t jobs_lock;
	struct job *jobs;         /* FIFO */
	struct store_writer w;
	sqlite3 *db;
	atomic_int up;
	atomic_llong wal_bytes;
	size_t queue_cap;
	long sweep_ms;
	int64_t warned_ms;
};

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int dpp_store_resolve_path(const struct dpp_settings *s, const char *config_path, char *out,
			   size_t outlen)
{
	const char *slash;

	if (s->store_path_source != DPP_SOURCE_DEFAULT) {
		if (s->store_path[0] == '\0')
			return 0;
		snprintf(out, outlen, "%s", s->store_path);
		return 1;
	}
	slash = config_path != NULL ? strrchr(config_path, '/') : NULL;
	if (slash == NULL)
		snprintf(out, outlen, "docker-policy-proxy.db");
	else
		snprintf(out, outlen, "%.*s/docker-policy-proxy.db", (int)(slash - config_path),
			 config_path);
	return 1;
}

static long env_long(const char *name, long def, long min, long max)
{
	const char *v = getenv(name);
	char *end = NULL;
	long n;

	if (v == NULL || v[0] == '\0')
		return def;
	n = strtol(v, &end, 10);
	if (end == v || *end != '\0' || n < min || n > max) {
		dpp_log_warn("store: ignoring %s=%s (must be %ld..%ld)", name, v, min, max);
		return def;
	}
	return n;
}

static uint32_t kinds_for(int kind, int requests_all)
{
	if (kind == DPP_EVENT_REQUEST)
		return requests_all ? DPP_BUS_KIND(DPP_EVENT_REQUEST) : 0;
	return DPP_BUS_KIND(kind);
}

/* Takes the pid file's lock; notes whether the last owner died. */
static void take_pidfile(struct dpp_store *s)
{
	char buf[32];
	struct stat st;
	int existed;

	dpp_store_pidfile_path(s->path, s->pidfile, sizeof(s->pidfile));
	existed = stat(s->pidfile, &st) == 0 && st.st_size > 0;
	s->pid_fd = open(s->pidfile, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s->pid_fd < 0) {
		dpp_log_warn("store: cannot create %s: %s (history rollback cannot find this proxy)",
			     s->pidfile, strerror(errno));
		return;
	}
	if (flock(s->pid_fd, LOCK_EX | LOCK_NB) != 0) {
		dpp_log_warn("store: %s is held by another running proxy; history rollback will signal that one",
			     s->pidfile);
		close(s->pid_fd);
		s->pid_fd = -1;
		return;
	}
	s->unclean = existed;
	snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(s->pid_fd, 0) != 0 || pwrite(s->pid_fd, buf, strlen(buf), 0) < 0)
		dpp_log_warn("store: cannot write %s: %s", s->pidfile, strerror(errno));
}

static void release_pidfile(struct dpp_store *s)
{
	if (s->pid_fd < 0)
		return;
	unlink(s->pidfile);
	close(s->pid_fd);
	s->pid_fd = -1;
}

static void record_store_event(sqlite3 *db, const char *what, const char *detail)
{
	sqlite3_stmt *st = NULL;
	char ts[40];
	int64_t now = wall_ms();

	dpp_store_iso_time(now, ts, sizeof(ts));
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO store_events (time_ms, timestamp, what, detail) VALUES (?1, ?2, ?3, ?4)",
			       -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_text(st, 2, ts, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, what, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, detail, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		dpp_log_warn("store: cannot record %s: %s", what, sqlite3_errmsg(db));
	sqlite3_finalize(st);
}

/* Opens the file; a corrupt one is set aside once and replaced. */
static int open_db(struct dpp_store *s)
{
	char err[1024], aside[4300], detail[6000];
	int rc;

	rc = dpp_store_db_open(s->path, s->unclean, &s->db, err, sizeof(err));
	if (rc == DPP_STORE_OPEN_CORRUPT) {
		dpp_log_error("store: %s is corrupt (%s)", s->path, err);
		if (dpp_store_set_aside(s->path, aside, sizeof(aside)) != 0) {
			dpp_log_error("store: cannot set %s aside: %s; store off, the proxy keeps serving",
				      s->path, strerror(errno));
			return -1;
		}
		dpp_log_warn("store: set the corrupt file aside as %s; starting a fresh store", aside);
		snprintf(detail, sizeof(detail), "corrupt file set aside as %s (%s)", aside, err);
		rc = dpp_store_db_open(s->path, 0, &s->db, err, sizeof(err));
		if (rc == DPP_STORE_OPEN_OK)
			record_store_event(s->db, "store_reset", detail);
	}
	if (rc != DPP_STORE_OPEN_OK) {
		dpp_log_error("store: %s; store off, the proxy keeps serving without it", err);
		return -1;
	}
	if (sw_init(&s->w, s->db, s->queue_cap, err, sizeof(err)) != 0) {
		dpp_log_error("store: %s; store off", err);
		sqlite3_close(s->db);
		s->db = NULL;
		return -1;
	}
	record_store_event(s->db, "store_open", s->unclean ? "after an unclean stop (quick_check passed)" : "");
	atomic_store(&s->up, 1);
	dpp_log_info("store: writing %s", s->path);
	return 0;
}

__attribute__((format(printf, 2, 3))) static void warn_limited(struct dpp_store *s,
								 const char *fmt, ...)
{
	int64_t now = mono_ms();
	char buf[1024];
	va_list ap;

	if (s->warned_ms != 0 && now - s->warned_ms < WARN_INTERVAL_MS)
		return;
	s->warned_ms = now;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	dpp_log_warn("%s", buf);
}

static void update_wal(struct dpp_store *s)
{
	char wal[4200];
	struct stat st;

	snprintf(wal, sizeof(wal), "%s-wal", s->path);
	atomic_store(&s->wal_bytes, stat(wal, &st) == 0 ? (long long)st.st_size : 0);
}

/* A reader left open stops checkpoints; past 64 MiB try a TRUNCATE. */
static void checkpoint(struct dpp_store *s, int mode)
{
	int log_frames = 0, done = 0;
	int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, mode, &log_frames, &done);

	if (rc != SQLITE_OK && mode != SQLITE_CHECKPOINT_PASSIVE) {
		char msg[64];

		snprintf(msg, sizeof(msg), "%lld", (long long)atomic_load(&s->wal_bytes));
		warn_limited(s, "store: the WAL file holds %s bytes and cannot be checkpointed (a reader keeps it open?)",
			     msg);
	}
	update_wal(s);
}

/* Moves events from the bus rings into the writer's queue, security kinds
 * first; plain requests only while the queue is below three quarters.
 * Events stay in their ring while the queue is full (the ring is part of
 * the buffer; when it overflows the bus counts the loss per kind, which is
 * folded into the drop counters and the next gap row here). Returns 1 when
 * it stopped with events possibly left in a ring. */
static int drain_bus(struct dpp_store *s, int64_t now)
{
	struct dpp_event ev;
	int more = 0;

	for (int i = 0; i < SW_KINDS; i++) {
		/* DPP_EVENT_REQUEST (0) last */
		int k = (i + 1) % SW_KINDS;
		uint64_t lost;

		if (s->subs[k] == NULL)
			continue;
		for (;;) {
			if (s->db != NULL) {
				size_t limit = k == DPP_EVENT_REQUEST ? s->w.cap - s->w.cap / 4 : s->w.cap;

				if (s->w.count >= limit) {
					more = 1;
					break;
				}
			}
			if (dpp_bus_pop(s->subs[k], &ev, 0) != 1)
				break;
			if (s->db != NULL)
				sw_admit(&s->w, &ev, now);
			else
				atomic_fetch_add(&s->w.dropped[ev.kind < SW_KINDS ? ev.kind : 0], 1);
		}
		lost = dpp_bus_sub_dropped(s->subs[k]);
		if (lost > s->lost_seen[k]) {
			if (s->db != NULL)
				sw_note_lost(&s->w, k, lost - s->lost_seen[k], now);
			else
				atomic_fetch_add(&s->w.dropped[k], lost - s->lost_seen[k]);
			s->lost_seen[k] = lost;
		}
	}
	return more;
}

static int jobs_empty(struct dpp_store *s)
{
	int empty;

	pthread_mutex_lock(&s->jobs_lock);
	empty = s->jobs == NULL;
	pthread_mutex_unlock(&s->jobs_lock);
	return empty;
}

/* Records queued config versions; a failed one stays first in line. */
static int run_jobs(struct dpp_store *s)
{
	for (;;) {
		struct job *j;
		int64_t id;

		pthread_mutex_lock(&s->jobs_lock);
		j = s->jobs;
		pthread_mutex_unlock(&s->jobs_lock);
		if (j == NULL)
			return 0;
		if (s->db == NULL) {
			id = 0;
		} else {
			id = sw_record_version(&s->w, &j->v);
			if (id < 0) {
				warn_limited(s, "store: cannot record a config version yet (%s); retrying",
					     s->w.last_error);
				return -1;
			}
			if (id > 0)
				dpp_log_info("store: config version %lld recorded (%s, %s)", (long long)id,
					     j->v.origin, j->v.applied ? "applied" : "refused");
		}
		pthread_mutex_lock(&s->jobs_lock);
		s->jobs = j->next;
		pthread_mutex_unlock(&s->jobs_lock);
		sw_version_free(&j->v);
		free(j);
	}
}

/* history rollback --confirm: the daemon itself reverts at the deadline. */
static void check_confirm(struct dpp_store *s)
{
	sqlite3_stmt *st = NULL;
	int64_t id = 0, based_on = 0, deadline = 0, now = wall_ms();
	char *content = NULL, *cur = NULL, sha[65], cur_sha[65], live_sha[65] = "", when[40];
	size_t clen = 0, curlen = 0;
	char err[512], comment[256];
	int rc;

	if (s->config_path[0] == '\0' || s->w.live_version <= 0)
		return;
	if (sqlite3_prepare_v2(s->db,
			       "SELECT v.id, v.based_on, v.confirm_deadline_ms, v.sha256, b.content"
			       " FROM config_versions v LEFT JOIN config_versions b ON b.id = v.based_on"
			       " WHERE v.confirm_state = 'pending' ORDER BY v.id DESC LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK)
		return;
	if (sqlite3_step(st) == SQLITE_ROW) {
		id = sqlite3_column_int64(st, 0);
		based_on = sqlite3_column_int64(st, 1);
		deadline = sqlite3_column_int64(st, 2);
		snprintf(live_sha, sizeof(live_sha), "%s", (const char *)sqlite3_column_text(st, 3));
		if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
			clen = (size_t)sqlite3_column_bytes(st, 4);
			content = malloc(clen + 1);
			if (content != NULL) {
				memcpy(content, sqlite3_column_blob(st, 4), clen);
				content[clen] = '\0';
			}
		}
	}
	sqlite3_finalize(st);
	st = NULL;
	if (id == 0 || id != s->w.live_version || deadline > now)
		goto out;
	dpp_store_iso_time(deadline, when, sizeof(when));
	if (content == NULL || based_on == 0) {
		dpp_log_error("store: version %lld was not confirmed by %s, but there is no earlier version to return to",
			      (long long)id, when);
		dpp_store_exec(s->db, "UPDATE config_versions SET confirm_state = 'expired' WHERE confirm_state = 'pending'",
			       NULL, 0);
		goto out;
	}
	if (dpp_store_sha256_hex(content, clen, sha) != 0)
		goto out;
	rc = dpp_store_exec(s->db, "BEGIN IMMEDIATE", NULL, 0);
	if (rc != SQLITE_OK)
		goto out; /* busy: next second */
	/* A hand edit since the live version is kept in history first. */
	if (dpp_store_read_file(s->config_path, &cur, &curlen) == 0 &&
	    dpp_store_sha256_hex(cur, curlen, cur_sha) == 0 && strcmp(cur_sha, live_sha) != 0) {
		char ts[40], author[128];

		dpp_store_iso_time(now, ts, sizeof(ts));
		dpp_store_author(author, sizeof(author));
		if (sqlite3_prepare_v2(s->db,
				       "INSERT INTO config_versions (time_ms, timestamp, source, author, sha256,"
				       " content, applied, based_on, comment, path) VALUES (?1, ?2, 'file', ?3, ?4,"
				       " ?5, 0, ?6, 'edited by hand since the live version; replaced by the automatic revert', ?7)",
				       -1, &st, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(st, 1, now);
			sqlite3_bind_text(st, 2, ts, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 3, author, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 4, cur_sha, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 5, cur, (int)curlen, SQLITE_STATIC);
			sqlite3_bind_int64(st, 6, id);
			sqlite3_bind_text(st, 7, s->config_path, -1, SQLITE_STATIC);
			rc = sqlite3_step(st);
			sqlite3_finalize(st);
			st = NULL;
			if (rc != SQLITE_DONE)
				goto rollback;
			atomic_fetch_add(&s->w.rows_versions, 1);
		}
	}
	snprintf(comment, sizeof(comment), "automatic revert: version %lld was not confirmed by %s",
		 (long long)id, when);
	if (sqlite3_prepare_v2(s->db,
			       "INSERT INTO config_requests (time_ms, sha256, source, author, comment, rollback_of)"
			       " VALUES (?1, ?2, 'rollback', 'docker-policy-proxy (confirm deadline)', ?3, ?4)",
			       -1, &st, NULL) != SQLITE_OK)
		goto rollback;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_text(st, 2, sha, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, comment, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, based_on);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	st = NULL;
	if (rc != SQLITE_DONE)
		goto rollback;
	{
		char sql[128];

		/* Only if `history confirm` did not win the race. */
		snprintf(sql, sizeof(sql),
			 "UPDATE config_versions SET confirm_state = 'reverted' WHERE id = %lld AND confirm_state = 'pending'",
			 (long long)id);
		if (dpp_store_exec(s->db, sql, NULL, 0) != SQLITE_OK || sqlite3_changes(s->db) != 1)
			goto rollback;
	}
	if (dpp_store_write_file_atomic(s->config_path, content, clen, err, sizeof(err)) != 0) {
		dpp_log_error("store: cannot revert unconfirmed version %lld: %s", (long long)id, err);
		goto rollback;
	}
	if (dpp_store_exec(s->db, "COMMIT", NULL, 0) != SQLITE_OK) {
		dpp_log_error("store: cannot record the revert of version %lld: %s", (long long)id,
			      sqlite3_errmsg(s->db));
		goto rollback;
	}
	dpp_log_warn("history: version %lld was not confirmed by %s: reverting to version %lld",
		     (long long)id, when, (long long)based_on);
	/* The main thread takes SIGHUP synchronously and reloads the file. */
	kill(getpid(), SIGHUP);
	goto out;
rollback:
	if (sqlite3_get_autocommit(s->db) == 0)
		dpp_store_exec(s->db, "ROLLBACK", NULL, 0);
out:
	sqlite3_finalize(st);
	free(content);
	free(cur);
}

static int64_t cutoff(int64_t now, long long seconds)
{
	return now - (int64_t)seconds * 1000;
}

static void *writer_main(void *arg)
{
	struct dpp_store *s = arg;
	struct pollfd pfd[SW_KINDS];
	int64_t batch_start = 0, retry_at = 0, backoff = FLUSH_MS, last_commit = 0;
	int64_t next_confirm = 0, next_sweep, idle_checkpointed = 1;
	int n, more = 0;

	if (open_db(s) != 0)
		atomic_store(&s->up, 0);
	else
		update_wal(s);
	next_sweep = mono_ms() + s->sweep_ms;
	for (int k = 0; k < SW_KINDS; k++) {
		pfd[k].fd = dpp_bus_sub_fd(s->subs[k]);
		pfd[k].events = POLLIN;
	}
	while (!atomic_load(&s->stop)) {
		int64_t now = mono_ms(), timeout = IDLE_POLL_MS;
		int64_t wall;

		if (s->db != NULL && s->w.count > 0) {
			int64_t due = batch_start + FLUSH_MS;

			if (retry_at > due)
				due = retry_at;
			timeout = due > now ? due - now : 0;
		}
		if (timeout > IDLE_POLL_MS)
			timeout = IDLE_POLL_MS;
		if (more && s->db != NULL && s->w.count < s->w.cap && now >= retry_at)
			timeout = 0; /* room again: take what waits in the rings */
		n = poll(pfd, SW_KINDS, (int)timeout);
		if (n < 0 && errno != EINTR) {
			dpp_log_error("store: poll: %s", strerror(errno));
			break;
		}
		now = mono_ms();
		wall = wall_ms();
		{
			size_t before = s->w.count;

			more = drain_bus(s, wall);
			if (before == 0 && s->w.count > 0)
				batch_start = now;
		}
		if (s->db == NULL) {
			run_jobs(s); /* discards them: nothing can be recorded */
			continue;
		}
		if (now >= retry_at && run_jobs(s) != 0)
			retry_at = now + backoff;
		if ((s->w.count > 0 || s->w.gap_start_ms != 0) && now >= retry_at &&
		    (s->w.count >= SW_BATCH_MAX || now - batch_start >= FLUSH_MS ||
		     s->w.gap_start_ms != 0)) {
			int rc = 0;

			while (s->w.count > 0 || s->w.gap_start_ms != 0) {
				rc = sw_flush(&s->w, wall);
				if (rc <= 0)
					break;
			}
			if (rc < 0) {
				if ((-rc & 0xff) == SQLITE_CORRUPT || (-rc & 0xff) == SQLITE_NOTADB) {
					dpp_log_error("store: %s became corrupt (%s); store off, the proxy keeps serving",
						      s->path, s->w.last_error);
					atomic_store(&s->up, 0);
					sw_done(&s->w);
					sqlite3_close(s->db);
					s->db = NULL;
					continue;
				}
				warn_limited(s, "store: cannot write yet (%s); events are kept, and counted in docker_proxy_store_dropped_total when the queue overflows",
					     s->w.last_error);
				retry_at = now + backoff;
				backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
			} else {
				backoff = FLUSH_MS;
				retry_at = 0;
				last_commit = now;
				idle_checkpointed = 0;
				batch_start = now;
				update_wal(s);
				if (atomic_load(&s->wal_bytes) > WAL_SOFT_BYTES)
					checkpoint(s, SQLITE_CHECKPOINT_TRUNCATE);
			}
		}
		if (!idle_checkpointed && s->w.count == 0 && now - last_commit >= 1000) {
			checkpoint(s, SQLITE_CHECKPOINT_PASSIVE);
			idle_checkpointed = 1;
		}
		if (now >= next_confirm) {
			check_confirm(s);
			next_confirm = now + CONFIRM_CHECK_MS;
		}
		if (now >= next_sweep) {
			long gone = sw_sweep(&s->w, cutoff(wall, atomic_load(&s->retention_s)),
					     cutoff(wall, atomic_load(&s->request_retention_s)));

			if (gone > 0)
				dpp_log_info("store: retention removed %ld row(s)", gone);
			next_sweep = now + s->sweep_ms;
		}
	}
	/* Stop: what is queued gets DRAIN_MS to land. */
	if (s->db != NULL) {
		int64_t end = mono_ms() + DRAIN_MS;

		for (;;) {
			int rc = 0;

			more = drain_bus(s, wall_ms());
			run_jobs(s);
			while (s->w.count > 0 || s->w.gap_start_ms != 0) {
				rc = sw_flush(&s->w, wall_ms());
				if (rc <= 0)
					break;
			}
			if (rc >= 0 && !more && s->w.count == 0 && jobs_empty(s))
				break;
			if (mono_ms() >= end)
				break;
			if (rc < 0)
				usleep(100000);
		}
		if (s->w.count > 0)
			dpp_log_warn("store: %zu event(s) could not be written before stopping", s->w.count);
		record_store_event(s->db, "store_close", "");
		checkpoint(s, SQLITE_CHECKPOINT_TRUNCATE);
		dpp_store_exec(s->db, "PRAGMA optimize", NULL, 0);
		sw_done(&s->w);
		sqlite3_close(s->db);
		s->db = NULL;
	}
	atomic_store(&s->up, 0);
	return NULL;
}

static void render_metrics(struct dpp_metrics_out *o, void *arg)
{
	struct dpp_store *s = arg;

	dpp_metrics_out_family(o, "docker_proxy_store_up", "gauge",
			       "1 when the SQLite store is open and writable.");
	dpp_metrics_out_sample(o, "docker_proxy_store_up", NULL, NULL, atomic_load(&s->up));
	dpp_metrics_out_family(o, "docker_proxy_store_queue_depth", "gauge",
			       "Events waiting for the store's writer.");
	dpp_metrics_out_sample(o, "docker_proxy_store_queue_depth", NULL, NULL,
			       (double)atomic_load(&s->w.depth));
	dpp_metrics_out_family(o, "docker_proxy_store_dropped_total", "counter",
			       "Events the store lost (queue full, store off), by event; see store_gaps.");
	for (int k = 0; k < SW_KINDS; k++)
		dpp_metrics_out_sample(o, "docker_proxy_store_dropped_total", "event",
				       dpp_event_kind_name((enum dpp_event_kind)k),
				       (double)atomic_load(&s->w.dropped[k]));
	dpp_metrics_out_family(o, "docker_proxy_store_written_total", "counter",
			       "Events committed to the store.");
	dpp_metrics_out_sample(o, "docker_proxy_store_written_total", NULL, NULL,
			       (double)atomic_load(&s->w.written));
	dpp_metrics_out_family(o, "docker_proxy_store_write_failures_total", "counter",
			       "Store transactions that failed (busy, disk full, I/O) and were rolled back.");
	dpp_metrics_out_sample(o, "docker_proxy_store_write_failures_total", NULL, NULL,
			       (double)atomic_load(&s->w.write_failures));
	dpp_metrics_out_family(o, "docker_proxy_store_wal_bytes", "gauge",
			       "Size of the store's WAL file (grows while a reader blocks checkpoints).");
	dpp_metrics_out_sample(o, "docker_proxy_store_wal_bytes", NULL, NULL,
			       (double)atomic_load(&s->wal_bytes));
	dpp_metrics_out_family(o, "docker_proxy_store_rows", "gauge", "Rows in the store, by table.");
	dpp_metrics_out_sample(o, "docker_proxy_store_rows", "table", "audit_events",
			       (double)atomic_load(&s->w.rows_audit));
	dpp_metrics_out_sample(o, "docker_proxy_store_rows", "table", "config_versions",
			       (double)atomic_load(&s->w.rows_versions));
	dpp_metrics_out_sample(o, "docker_proxy_store_rows", "table", "store_gaps",
			       (double)atomic_load(&s->w.rows_gaps));
}

struct dpp_store *dpp_store_start(struct dpp_bus *bus, struct dpp_metrics *m,
				  const struct dpp_store_options *o, const char **err)
{
	struct dpp_store *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		*err = "out of memory";
		return NULL;
	}
	s->pid_fd = -1;
	s->bus = bus;
	snprintf(s->path, sizeof(s->path), "%s", o->path);
	if (o->config_path != NULL)
		snprintf(s->config_path, sizeof(s->config_path), "%s", o->config_path);
	atomic_store(&s->requests_all, o->requests_all);
	atomic_store(&s->retention_s, o->retention_s);
	atomic_store(&s->request_retention_s, o->request_retention_s);
	s->queue_cap = (size_t)env_long("DPP_STORE_QUEUE", SW_QUEUE_DEFAULT, 4, 1 << 20);
	s->sweep_ms = env_long("DPP_STORE_SWEEP_MS", SWEEP_DEFAULT_MS, 100, 24L * 3600 * 1000);
	pthread_mutex_init(&s->jobs_lock, NULL);
	for (int k = 0; k < SW_KINDS; k++) {
		char name[32];

		snprintf(name, sizeof(name), "store-%s", dpp_event_kind_name((enum dpp_event_kind)k));
		size_t ring = k == DPP_EVENT_REQUEST ? RING_REQUESTS : RING_SECURITY;

		/* A test's small queue makes the rings small too, so overflow is reachable. */
		if (s->queue_cap < ring)
			ring = s->queue_cap < DPP_BUS_CAPACITY_MIN ? DPP_BUS_CAPACITY_MIN : s->queue_cap;
		s->subs[k] = dpp_bus_subscribe(bus, name, ring, err);
		if (s->subs[k] == NULL)
			goto fail;
		dpp_bus_sub_set_kinds(s->subs[k], kinds_for(k, o->requests_all));
	}
	take_pidfile(s);
	if (pthread_create(&s->thread, NULL, writer_main, s) != 0) {
		*err = "cannot start the store thread";
		goto fail;
	}
	s->thread_started = 1;
	if (m != NULL && dpp_metrics_add_extra(m, render_metrics, s) == 0)
		s->metrics = m;
	return s;
fail:
	release_pidfile(s);
	for (int k = 0; k < SW_KINDS; k++)
		dpp_bus_unsubscribe(bus, s->subs[k]);
	pthread_mutex_destroy(&s->jobs_lock);
	free(s);
	return NULL;
}

void dpp_store_apply(struct dpp_store *s, int requests_all, long long retention_s,
		     long long request_retention_s)
{
	if (s == NULL)
		return;
	atomic_store(&s->requests_all, requests_all);
	atomic_store(&s->retention_s, retention_s);
	atomic_store(&s->request_retention_s, request_retention_s);
	dpp_bus_sub_set_kinds(s->subs[DPP_EVENT_REQUEST], kinds_for(DPP_EVENT_REQUEST, requests_all));
}

static char *dup_or_null(const char *p, size_t len)
{
	char *d;

	if (p == NULL)
		return NULL;
	d = malloc(len + 1);
	if (d != NULL) {
		memcpy(d, p, len);
		d[len] = '\0';
	}
	return d;
}

void dpp_store_config_hook(void *arg, const struct dpp_config_version *v)
{
	struct dpp_store *s = arg;
	struct job *j, **tail;

	if (s == NULL || v == NULL)
		return;
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		dpp_log_error("store: out of memory: config version not recorded");
		return;
	}
	j->v.origin = dup_or_null(v->origin, strlen(v->origin));
	/* Absolute, so `history rollback` finds the file from any directory. */
	j->v.path = v->path != NULL ? realpath(v->path, NULL) : NULL;
	if (v->path != NULL && j->v.path == NULL)
		j->v.path = dup_or_null(v->path, strlen(v->path));
	j->v.text = dup_or_null(v->text, v->len);
	j->v.len = v->text != NULL ? v->len : 0;
	j->v.applied = v->applied;
	j->v.errors = v->errors != NULL ? dup_or_null(v->errors, strlen(v->errors)) : NULL;
	j->v.author = v->author != NULL ? dup_or_null(v->author, strlen(v->author)) : NULL;
	j->v.time_ms = wall_ms();
	if (j->v.origin == NULL || (v->text != NULL && j->v.text == NULL)) {
		sw_version_free(&j->v);
		free(j);
		dpp_log_error("store: out of memory: config version not recorded");
		return;
	}
	pthread_mutex_lock(&s->jobs_lock);
	for (tail = &s->jobs; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = j;
	pthread_mutex_unlock(&s->jobs_lock);
	dpp_bus_sub_wake(s->subs[DPP_EVENT_DENY]);
}

void dpp_store_stop(struct dpp_store *s)
{
	if (s == NULL)
		return;
	if (s->metrics != NULL)
		dpp_metrics_remove_extra(s->metrics, render_metrics, s);
	if (s->thread_started) {
		atomic_store(&s->stop, 1);
		dpp_bus_sub_wake(s->subs[DPP_EVENT_DENY]);
		pthread_join(s->thread, NULL);
	}
	release_pidfile(s);
	for (int k = 0; k < SW_KINDS; k++)
		dpp_bus_unsubscribe(s->bus, s->subs[k]);
	while (s->jobs != NULL) {
		struct job *j = s->jobs;

		s->jobs = j->next;
		sw_version_free(&j->v);
		free(j);
	}
	pthread_mutex_destroy(&s->jobs_lock);
	free(s);
}
