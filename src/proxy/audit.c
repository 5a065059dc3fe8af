/* Audit log writer thread: bus subscription -> JSON Lines file.
 *
 * Lock order: one lock, audit.lock (pause state only; a leaf: nothing else
 * is taken while it is held). The bus takes no locks. dpp_log takes the log
 * stream's stdio lock internally, never while audit.lock is held.
 *
 * Threads: the writer thread owns fd, buf and the warning state; other
 * threads touch only the atomics (stop, reopen, counters) and the pause
 * state under audit.lock. */
#include "dpp/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "dpp/log.h"

#define BUF_MAX (64 * 1024) /* bytes written per write(2); a record is < 6 KiB */
#define BATCH_MAX 256       /* events taken per batch before flushing */
#define IDLE_WAIT_MS 1000   /* the thread looks at its counters at least this often */

struct warn_limit {
	int64_t last_ms; /* 0: never warned */
	uint64_t reported;
};

struct dpp_audit {
	struct dpp_bus *bus;
	struct dpp_bus_sub *sub;
	char *path;
	uint32_t kinds;
	size_t capacity;
	int fd;
	pthread_t thread;
	int thread_started;

	pthread_mutex_t lock; /* protects paused, parked */
	pthread_cond_t cond;
	int paused;
	int parked; /* the thread is waiting in wait_while_paused */

	atomic_int stop;
	atomic_int reopen;
	atomic_uint_least64_t written;
	atomic_uint_least64_t write_errors;

	/* writer thread only */
	char *buf;
	size_t len;
	uint64_t lines;
	struct warn_limit drop_warn;
	struct warn_limit err_warn;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* RFC 3339 section 5.6, UTC, milliseconds: "2026-11-30T10:00:00.123Z". */
static void format_time(int64_t time_ms, char *out, size_t outsz)
{
	int64_t secs = time_ms / 1000;
	int64_t ms = time_ms % 1000;
	time_t t;
	struct tm tm;

	if (ms < 0) {
		ms += 1000;
		secs--;
	}
	t = (time_t)secs;
	if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
		snprintf(out, outsz, "1970-01-01T00:00:00.000Z");
		return;
	}
	snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms);
}

/* Length of the valid UTF-8 sequence (RFC 3629 section 4) at s[0..n), or 0. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f; /* no surrogates */
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f; /* <= U+10FFFF */
	if (len > n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	}
	return len;
}

/* Copies the NUL-terminated (at most srcsz bytes) field into out (size at
 * least 3 * srcsz + 1), replacing each invalid byte with U+FFFD. */
static void utf8_clean(const char *src, size_t srcsz, char *out)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t n = strnlen(src, srcsz);
	size_t o = 0;

	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq_len(s + i, n - i);

		if (l == 0) {
			out[o++] = (char)0xef;
			out[o++] = (char)0xbf;
			out[o++] = (char)0xbd;
			i++;
		} else {
			memcpy(out + o, s + i, l);
			o += l;
			i += l;
		}
	}
	out[o] = '\0';
}

/* A string member, cleaned to valid UTF-8. An empty value is written as
 * `none`: NULL means JSON null, otherwise that string ("-"). */
static int add_field(cJSON *obj, const char *key, const char *field, size_t fieldsz,
		     const char *none)
{
	char clean[3 * 256 + 1]; /* largest field: path[256], user_agent[256] */

	if (fieldsz > 256)
		fieldsz = 256;
	if (strnlen(field, fieldsz) == 0) {
		if (none == NULL)
			return cJSON_AddNullToObject(obj, key) != NULL ? 0 : -1;
		return cJSON_AddStringToObject(obj, key, none) != NULL ? 0 : -1;
	}
	utf8_clean(field, fieldsz, clean);
	return cJSON_AddStringToObject(obj, key, clean) != NULL ? 0 : -1;
}

#define ADD_FIELD(obj, key, ev, member, none)                                                \
	add_field(obj, key, (ev)->member, sizeof((ev)->member), none)

char *dpp_audit_format_record(const struct dpp_event *ev)
{
	cJSON *obj = NULL;
	char *text = NULL;
	char stamp[40];
	char id[24];
	int extra_client;

	if (ev == NULL)
		return NULL;
	format_time(ev->time_ms, stamp, sizeof(stamp));
	snprintf(id, sizeof(id), "%" PRIu64, ev->id);
	extra_client = strncmp(ev->client_ip, ev->peer_ip, sizeof(ev->client_ip)) != 0;
	obj = cJSON_CreateObject();
	if (obj == NULL)
		goto cleanup;
	/* The seed's thirteen fields, in the seed's order (log pipelines and
	 * the store read them by name; the order keeps lines diffable), then
	 * this project's extras. */
	if (cJSON_AddStringToObject(obj, "timestamp", stamp) == NULL ||
	    cJSON_AddStringToObject(obj, "event", dpp_event_kind_name(ev->kind)) == NULL ||
	    ADD_FIELD(obj, "peer_ip", ev, peer_ip, NULL) != 0 ||
	    ADD_FIELD(obj, "method", ev, method, NULL) != 0 ||
	    ADD_FIELD(obj, "path", ev, path, NULL) != 0 ||
	    ADD_FIELD(obj, "user_agent", ev, user_agent, "-") != 0 ||
	    ADD_FIELD(obj, "user_role", ev, user_role, NULL) != 0 ||
	    ADD_FIELD(obj, "identity", ev, identity, NULL) != 0 ||
	    ADD_FIELD(obj, "rule_name", ev, rule_name, NULL) != 0 ||
	    ADD_FIELD(obj, "rule_action", ev, rule_action, NULL) != 0 ||
	    cJSON_AddNumberToObject(obj, "status", ev->kind == DPP_EVENT_DRY_RUN ? 0 : ev->status) ==
		    NULL ||
	    cJSON_AddBoolToObject(obj, "dry_run",
				  ev->dry_run != 0 || ev->kind == DPP_EVENT_DRY_RUN) == NULL ||
	    ADD_FIELD(obj, "message", ev, message, NULL) != 0)
		goto cleanup;
	if ((ev->id != 0 && cJSON_AddRawToObject(obj, "request_id", id) == NULL) || /* exact beyond 2^53 */
	    (extra_client && ADD_FIELD(obj, "client_ip", ev, client_ip, NULL) != 0) ||
	    cJSON_AddNumberToObject(obj, "duration_ms", ev->duration_ms) == NULL)
		goto cleanup;
	text = cJSON_PrintUnformatted(obj);
cleanup:
	cJSON_Delete(obj);
	return text;
}

static int open_log(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
}

/* Logs at most once per DPP_AUDIT_WARN_INTERVAL_MS; `total` is monotonic.
 * Returns the count not yet reported when it is time to report, else 0. */
static uint64_t warn_due(struct warn_limit *w, uint64_t total, int force)
{
	int64_t now = mono_ms();
	uint64_t n;

	if (total <= w->reported)
		return 0;
	if (!force && w->last_ms != 0 && now - w->last_ms < DPP_AUDIT_WARN_INTERVAL_MS)
		return 0;
	n = total - w->reported;
	w->reported = total;
	w->last_ms = now;
	return n;
}

static void report_drops(struct dpp_audit *a, int force)
{
	uint64_t n = warn_due(&a->drop_warn, dpp_bus_sub_dropped(a->sub), force);

	if (n > 0)
		dpp_log_warn("audit: dropped %" PRIu64
			     " events (queue full); see docker_proxy_audit_dropped_total",
			     n);
}

static void write_failed(struct dpp_audit *a, const char *what, int err)
{
	uint64_t total = atomic_fetch_add(&a->write_errors, 1) + 1;
	uint64_t n = warn_due(&a->err_warn, total, 0);

	if (n > 0)
		dpp_log_error("audit: %s %s: %s (%" PRIu64 " errors since the last report)", what,
			      a->path, strerror(err), n);
}

/* Writes the batch buffer; on failure its records are lost and counted. */
static void flush(struct dpp_audit *a)
{
	size_t off = 0;

	while (off < a->len) {
		ssize_t w = write(a->fd, a->buf + off, a->len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			write_failed(a, "cannot write", w < 0 ? errno : EIO);
			goto cleanup;
		}
		off += (size_t)w;
	}
	atomic_fetch_add(&a->written, a->lines);
cleanup:
	a->len = 0;
	a->lines = 0;
}

static void append(struct dpp_audit *a, const struct dpp_event *ev)
{
	char *line;
	size_t n;

	if ((unsigned)ev->kind >= 32 || (a->kinds & DPP_BUS_KIND(ev->kind)) == 0)
		return;
	line = dpp_audit_format_record(ev);
	if (line == NULL) {
		write_failed(a, "out of memory formatting a record for", ENOMEM);
		return;
	}
	n = strlen(line);
	if (n + 1 > BUF_MAX - a->len)
		flush(a);
	if (n + 1 <= BUF_MAX - a->len) {
		memcpy(a->buf + a->len, line, n);
		a->buf[a->len + n] = '\n';
		a->len += n + 1;
		a->lines++;
	}
	cJSON_free(line);
}

static void do_reopen(struct dpp_audit *a)
{
	int fd = open_log(a->path);

	if (fd < 0) {
		write_failed(a, "cannot re-open", errno);
		return; /* keep writing to the old file */
	}
	close(a->fd);
	a->fd = fd;
	dpp_log_info("audit: re-opened %s", a->path);
}

static void wait_while_paused(struct dpp_audit *a)
{
	pthread_mutex_lock(&a->lock);
	while (a->paused && !atomic_load(&a->stop)) {
		if (!a->parked) {
			a->parked = 1;
			pthread_cond_broadcast(&a->cond);
		}
		pthread_cond_wait(&a->cond, &a->lock);
	}
	a->parked = 0;
	pthread_mutex_unlock(&a->lock);
}

static void *writer_main(void *arg)
{
	struct dpp_audit *a = arg;
	struct dpp_event ev;

	for (;;) {
		int rc;

		wait_while_paused(a);
		if (atomic_exchange(&a->reopen, 0))
			do_reopen(a);
		rc = dpp_bus_pop(a->sub, &ev, IDLE_WAIT_MS);
		if (rc == 1) {
			int n = 0;

			do
				append(a, &ev);
			while (++n < BATCH_MAX && dpp_bus_pop(a->sub, &ev, 0) == 1);
			flush(a);
		} else if (rc < 0) {
			struct timespec ts = {0, 100 * 1000 * 1000};

			write_failed(a, "cannot wait for events for", errno);
			nanosleep(&ts, NULL);
		}
		report_drops(a, 0);
		if (atomic_load(&a->stop))
			break;
	}
	/* Stop: write what is queued now (bounded, publishers may go on). */
	for (size_t i = 0; i < a->capacity && dpp_bus_pop(a->sub, &ev, 0) == 1; i++)
		append(a, &ev);
	flush(a);
	report_drops(a, 1);
	return NULL;
}

static void audit_free(struct dpp_audit *a)
{
	if (a == NULL)
		return;
	if (a->sub != NULL)
		dpp_bus_unsubscribe(a->bus, a->sub);
	if (a->fd >= 0)
		close(a->fd);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->lock);
	free(a->buf);
	free(a->path);
	free(a);
}

struct dpp_audit *dpp_audit_start_with(struct dpp_bus *bus, const struct dpp_audit_options *opt,
				       const char **err)
{
	struct dpp_audit *a = NULL;
	int saved;

	if (bus == NULL || opt == NULL || opt->path == NULL || opt->path[0] == '\0') {
		*err = "audit: missing bus or path";
		errno = EINVAL;
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		*err = "out of memory";
		return NULL;
	}
	a->fd = -1;
	a->bus = bus;
	a->capacity = opt->capacity;
	a->kinds = opt->kinds != 0 ? opt->kinds : DPP_AUDIT_KINDS_DEFAULT;
	a->paused = opt->start_paused != 0;
	atomic_init(&a->stop, 0);
	atomic_init(&a->reopen, 0);
	atomic_init(&a->written, 0);
	atomic_init(&a->write_errors, 0);
	if (pthread_mutex_init(&a->lock, NULL) != 0 || pthread_cond_init(&a->cond, NULL) != 0) {
		/* Debian's glibc never fails these with default attributes. */
		free(a);
		*err = "audit: cannot create a mutex";
		return NULL;
	}
	a->path = strdup(opt->path);
	a->buf = malloc(BUF_MAX);
	if (a->path == NULL || a->buf == NULL) {
		*err = "out of memory";
		goto fail;
	}
	a->fd = open_log(a->path);
	if (a->fd < 0) {
		*err = "audit: cannot open the audit log";
		goto fail;
	}
	a->sub = dpp_bus_subscribe(bus, "audit", opt->capacity, err);
	if (a->sub == NULL)
		goto fail;
	dpp_bus_sub_set_kinds(a->sub, a->kinds);
	if (pthread_create(&a->thread, NULL, writer_main, a) != 0) {
		*err = "audit: cannot start the writer thread";
		goto fail;
	}
	a->thread_started = 1;
	return a;
fail:
	saved = errno;
	audit_free(a);
	errno = saved;
	return NULL;
}

struct dpp_audit *dpp_audit_start(struct dpp_bus *bus, const char *path, size_t capacity,
				  const char **err)
{
	struct dpp_audit_options opt = {.path = path, .capacity = capacity};

	return dpp_audit_start_with(bus, &opt, err);
}

void dpp_audit_stop(struct dpp_audit *a)
{
	if (a == NULL)
		return;
	if (a->thread_started) {
		atomic_store(&a->stop, 1);
		pthread_mutex_lock(&a->lock);
		pthread_cond_broadcast(&a->cond);
		pthread_mutex_unlock(&a->lock);
		dpp_bus_sub_wake(a->sub);
		pthread_join(a->thread, NULL);
	}
	audit_free(a);
}

void dpp_audit_reopen(struct dpp_audit *a)
{
	if (a == NULL)
		return;
	atomic_store(&a->reopen, 1);
	dpp_bus_sub_wake(a->sub);
}

void dpp_audit_pause(struct dpp_audit *a)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->lock);
	a->paused = 1;
	pthread_mutex_unlock(&a->lock);
	dpp_bus_sub_wake(a->sub); /* end a pending wait for events */
	pthread_mutex_lock(&a->lock);
	while (a->paused && !a->parked && !atomic_load(&a->stop))
		pthread_cond_wait(&a->cond, &a->lock);
	pthread_mutex_unlock(&a->lock);
}

void dpp_audit_resume(struct dpp_audit *a)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->lock);
	a->paused = 0;
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->lock);
}

uint64_t dpp_audit_dropped(const struct dpp_audit *a)
{
	return a != NULL ? dpp_bus_sub_dropped(a->sub) : 0;
}

uint64_t dpp_audit_written(const struct dpp_audit *a)
{
	return a != NULL ? atomic_load(&((struct dpp_audit *)a)->written) : 0;
}

uint64_t dpp_audit_write_errors(const struct dpp_audit *a)
{
	return a != NULL ? atomic_load(&((struct dpp_audit *)a)->write_errors) : 0;
}
