/* Prometheus registry and text exposition format 0.0.4.
 *
 * Lock order: each label table has its own mutex (rule tables for denied,
 * rate_limited and the two rule_decisions modes; the subscriber table). They are leaves: never
 * nested, never held while calling out. The collector callback runs before
 * any of them is taken, so it may call the setters. Everything else is
 * C11 atomics (relaxed: counters need no ordering with each other).
 *
 * Label tables are append-only: an entry's value is written before the
 * table's count is published (release), and never changes afterwards, so
 * readers search entries [0, count) without the lock. */
#include "dpp/metrics.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const method_names[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
					   "PATCH",   "OPTIONS", "CONNECT", "TRACE", "other"};
#define N_METHODS (sizeof(method_names) / sizeof(method_names[0]))
#define METHOD_OTHER (N_METHODS - 1)
#define STATUS_MIN 100
#define STATUS_MAX 599
#define N_STATUS (STATUS_MAX - STATUS_MIN + 2) /* slot 0: "other" */

/* Upper bounds in milliseconds (exact integer compare, le is inclusive) and
 * as printed in seconds. */
static const uint32_t bucket_ms[] = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000};
static const char *const bucket_le[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
					"0.5",   "1",    "2.5",   "5",    "10",  "30"};
#define N_BUCKETS (sizeof(bucket_ms) / sizeof(bucket_ms[0]))

/* docker_proxy_upstream_latency_ms: the seed's buckets, in milliseconds. */
static const uint32_t latency_ms[] = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
#define N_LATENCY (sizeof(latency_ms) / sizeof(latency_ms[0]))

struct label_entry {
	char value[DPP_METRICS_LABEL_MAX + 1];
	atomic_uint_least64_t count;
};

struct label_table {
	pthread_mutex_t lock; /* serialises appends */
	atomic_size_t n;
	size_t limit;
	const char *empty_as; /* label value used for NULL or "" */
	struct label_entry *e;
	atomic_uint_least64_t other;
};

struct dpp_metrics {
	atomic_uint_least64_t requests[N_METHODS][N_STATUS];
	atomic_uint_least64_t duration_buckets[N_BUCKETS + 1]; /* not cumulative; last: +Inf */
	atomic_uint_least64_t duration_sum_ms;
	atomic_uint_least64_t latency_buckets[N_LATENCY + 1]; /* not cumulative; last: +Inf */
	atomic_uint_least64_t latency_sum_ms;
	atomic_uint_least64_t allowed;
	atomic_uint_least64_t dry_run_requests;
	atomic_uint_least64_t auth_failures;
	atomic_uint_least64_t lockouts;
	atomic_uint_least64_t audit_dropped;
	atomic_uint_least64_t audit_open_failures;
	atomic_uint_least64_t upstream_errors;
	atomic_uint_least64_t upstream_timeouts;
	atomic_uint_least64_t body_too_large;
	atomic_uint_least64_t bad_request;
	atomic_uint_least64_t request_timeouts; /* counted here */
	atomic_uint_least64_t head_timeouts;    /* fed by a setter (request-head deadline) */
	atomic_uint_least64_t upgrades;
	atomic_uint_least64_t reloads_ok;
	atomic_uint_least64_t reloads_failed;
	atomic_int_least64_t active_streams;
	atomic_int up;
	struct label_table denied;
	struct label_table decisions_enforced; /* rule_decisions_total{mode="enforced"} */
	struct label_table decisions_dry_run;  /* rule_decisions_total{mode="dry_run"} */
	struct label_table rate_limited;
	struct label_table bus_dropped;
	dpp_metrics_collect_fn collect;
	void *collect_arg;
	pthread_mutex_t extra_lock; /* guards extra[]; held while they render */
	int extra_lock_ok;
	struct {
		dpp_metrics_extra_fn fn;
		void *arg;
	} extra[DPP_METRICS_EXTRA_MAX];
};

static int table_init(struct label_table *t, size_t limit, const char *empty_as)
{
	t->e = calloc(limit, sizeof(*t->e));
	if (t->e == NULL)
		return -1;
	if (pthread_mutex_init(&t->lock, NULL) != 0) {
		free(t->e);
		t->e = NULL;
		return -1;
	}
	atomic_init(&t->n, 0);
	atomic_init(&t->other, 0);
	t->limit = limit;
	t->empty_as = empty_as;
	return 0;
}

static void table_done(struct label_table *t)
{
	if (t->e == NULL)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t->e);
	t->e = NULL;
}

static struct label_entry *find(struct label_table *t, size_t from, size_t to, const char *v)
{
	for (size_t i = from; i < to; i++) {
		if (strcmp(t->e[i].value, v) == 0)
			return &t->e[i];
	}
	return NULL;
}

/* The counter for label value `value`, adding it when new and there is room;
 * "other" otherwise. Never NULL. */
static atomic_uint_least64_t *table_counter(struct label_table *t, const char *value)
{
	char v[DPP_METRICS_LABEL_MAX + 1];
	size_t len, n, n2;
	struct label_entry *hit;
	atomic_uint_least64_t *c;

	if (value == NULL || value[0] == '\0')
		value = t->empty_as;
	len = strnlen(value, DPP_METRICS_LABEL_MAX + 1);
	if (len > DPP_METRICS_LABEL_MAX) {
		/* Cut before the character that crosses the limit. */
		len = DPP_METRICS_LABEL_MAX;
		while (len > 0 && ((unsigned char)value[len] & 0xc0) == 0x80)
			len--;
	}
	memcpy(v, value, len);
	v[len] = '\0';
	if (strcmp(v, "other") == 0)
		return &t->other; /* one series per label value, even for a rule named so */

	n = atomic_load_explicit(&t->n, memory_order_acquire);
	hit = find(t, 0, n, v);
	if (hit != NULL)
		return &hit->count;
	pthread_mutex_lock(&t->lock);
	n2 = atomic_load_explicit(&t->n, memory_order_relaxed);
	hit = find(t, n, n2, v);
	if (hit != NULL) {
		c = &hit->count;
	} else if (n2 >= t->limit) {
		c = &t->other;
	} else {
		memcpy(t->e[n2].value, v, len + 1);
		atomic_init(&t->e[n2].count, 0);
		atomic_store_explicit(&t->n, n2 + 1, memory_order_release);
		c = &t->e[n2].count;
	}
	pthread_mutex_unlock(&t->lock);
	return c;
}

static void inc(atomic_uint_least64_t *c) { atomic_fetch_add_explicit(c, 1, memory_order_relaxed); }

static uint64_t get(atomic_uint_least64_t *c) { return atomic_load_explicit(c, memory_order_relaxed); }

struct dpp_metrics *dpp_metrics_create(const char **err)
{
	struct dpp_metrics *m = calloc(1, sizeof(*m));

	if (m == NULL)
		goto fail;
	/* calloc'd zero bytes are valid initial values for these lock-free
	 * atomics on every platform we build for (gcc, glibc). */
	if (table_init(&m->denied, DPP_METRICS_RULES_MAX, "default") != 0 ||
	    table_init(&m->decisions_enforced, DPP_METRICS_RULES_MAX, "default") != 0 ||
	    table_init(&m->decisions_dry_run, DPP_METRICS_RULES_MAX, "default") != 0 ||
	    table_init(&m->rate_limited, DPP_METRICS_RULES_MAX, "default") != 0 ||
	    table_init(&m->bus_dropped, DPP_METRICS_SUBSCRIBERS_MAX, "unknown") != 0)
		goto fail;
	if (pthread_mutex_init(&m->extra_lock, NULL) != 0)
		goto fail;
	m->extra_lock_ok = 1;
	return m;
fail:
	dpp_metrics_free(m);
	*err = "out of memory";
	return NULL;
}

void dpp_metrics_free(struct dpp_metrics *m)
{
	if (m == NULL)
		return;
	table_done(&m->denied);
	table_done(&m->decisions_enforced);
	table_done(&m->decisions_dry_run);
	table_done(&m->rate_limited);
	table_done(&m->bus_dropped);
	if (m->extra_lock_ok)
		pthread_mutex_destroy(&m->extra_lock);
	free(m);
}

int dpp_metrics_add_extra(struct dpp_metrics *m, dpp_metrics_extra_fn fn, void *arg)
{
	int rc = -1;

	if (m == NULL || fn == NULL)
		return -1;
	pthread_mutex_lock(&m->extra_lock);
	for (size_t i = 0; i < DPP_METRICS_EXTRA_MAX; i++) {
		if (m->extra[i].fn == NULL) {
			m->extra[i].fn = fn;
			m->extra[i].arg = arg;
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&m->extra_lock);
	return rc;
}

void dpp_metrics_remove_extra(struct dpp_metrics *m, dpp_metrics_extra_fn fn, void *arg)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->extra_lock);
	for (size_t i = 0; i < DPP_METRICS_EXTRA_MAX; i++) {
		if (m->extra[i].fn == fn && m->extra[i].arg == arg) {
			m->extra[i].fn = NULL;
			m->extra[i].arg = NULL;
		}
	}
	pthread_mutex_unlock(&m->extra_lock);
}

void dpp_metrics_request_done(struct dpp_metrics *m, const char *method, int status,
			      uint32_t duration_ms)
{
	size_t mi = METHOD_OTHER, si = 0, b = 0;

	if (m == NULL)
		return;
	for (size_t i = 0; method != NULL && i < METHOD_OTHER; i++) {
		if (strcmp(method, method_names[i]) == 0) {
			mi = i;
			break;
		}
	}
	if (status >= STATUS_MIN && status <= STATUS_MAX)
		si = (size_t)(status - STATUS_MIN + 1);
	inc(&m->requests[mi][si]);
	while (b < N_BUCKETS && duration_ms > bucket_ms[b])
		b++;
	inc(&m->duration_buckets[b]);
	atomic_fetch_add_explicit(&m->duration_sum_ms, duration_ms, memory_order_relaxed);
}

uint64_t dpp_metrics_requests_total(struct dpp_metrics *m)
{
	uint64_t n = 0;

	if (m == NULL)
		return 0;
	for (size_t i = 0; i < N_METHODS; i++)
		for (size_t j = 0; j < N_STATUS; j++)
			n += atomic_load_explicit(&m->requests[i][j], memory_order_relaxed);
	return n;
}

void dpp_metrics_allowed(struct dpp_metrics *m)
{
	if (m != NULL)
		inc(&m->allowed);
}

void dpp_metrics_denied(struct dpp_metrics *m, const char *rule)
{
	if (m != NULL)
		inc(table_counter(&m->denied, rule));
}

void dpp_metrics_dry_run(struct dpp_metrics *m)
{
	if (m != NULL)
		inc(&m->dry_run_requests);
}

void dpp_metrics_rule_decision(struct dpp_metrics *m, const char *rule, int dry_run)
{
	if (m != NULL)
		inc(table_counter(dry_run ? &m->decisions_dry_run : &m->decisions_enforced, rule));
}

void dpp_metrics_upstream_latency(struct dpp_metrics *m, uint32_t latency)
{
	size_t b = 0;

	if (m == NULL)
		return;
	while (b < N_LATENCY && latency > latency_ms[b])
		b++;
	inc(&m->latency_buckets[b]);
	atomic_fetch_add_explicit(&m->latency_sum_ms, latency, memory_order_relaxed);
}

void dpp_metrics_rate_limited(struct dpp_metrics *m, const char *rule)
{
	if (m != NULL)
		inc(table_counter(&m->rate_limited, rule));
}

void dpp_metrics_auth_failure(struct dpp_metrics *m)
{
	if (m != NULL)
		inc(&m->auth_failures);
}

void dpp_metrics_lockout(struct dpp_metrics *m)
{
	if (m != NULL)
		inc(&m->lockouts);
}

void dpp_metrics_upstream_error(struct dpp_metrics *m)
{
	if (m != NULL)
		inc(&m->upstream_errors);
}

void dpp_metrics_upstream_timeout(struct dpp_metrics *m)
{
	if (m != NULL)
		inc(&m->upstream_timeouts);
}

void dpp_metrics_body_too_large(struct dpp_metrics *m)
{
	if (m != NULL)
		inc(&m->body_too_large);
}

void dpp_metrics_bad_request(struct dpp_metrics *m)
{
	if (m != NULL)
		inc(&m->bad_request);
}

void dpp_metrics_request_timeout(struct dpp_metrics *m)
{
	if (m != NULL)
		inc(&m->request_timeouts);
}

void dpp_metrics_set_head_timeouts(struct dpp_metrics *m, uint64_t n)
{
	if (m != NULL)
		atomic_store_explicit(&m->head_timeouts, n, memory_order_relaxed);
}

void dpp_metrics_upgrade(struct dpp_metrics *m)
{
	if (m != NULL)
		inc(&m->upgrades);
}

void dpp_metrics_config_reload(struct dpp_metrics *m, int ok)
{
	if (m != NULL)
		inc(ok ? &m->reloads_ok : &m->reloads_failed);
}

void dpp_metrics_audit_open_failure(struct dpp_metrics *m)
{
	if (m != NULL)
		inc(&m->audit_open_failures);
}

void dpp_metrics_stream_begin(struct dpp_metrics *m)
{
	if (m != NULL)
		atomic_fetch_add_explicit(&m->active_streams, 1, memory_order_relaxed);
}

void dpp_metrics_stream_end(struct dpp_metrics *m)
{
	if (m != NULL)
		atomic_fetch_sub_explicit(&m->active_streams, 1, memory_order_relaxed);
}

void dpp_metrics_set_up(struct dpp_metrics *m, int up)
{
	if (m != NULL)
		atomic_store_explicit(&m->up, up ? 1 : 0, memory_order_relaxed);
}

void dpp_metrics_set_audit_dropped(struct dpp_metrics *m, uint64_t n)
{
	if (m != NULL)
		atomic_store_explicit(&m->audit_dropped, n, memory_order_relaxed);
}

void dpp_metrics_set_bus_dropped(struct dpp_metrics *m, const char *subscriber, uint64_t n)
{
	if (m != NULL)
		atomic_store_explicit(table_counter(&m->bus_dropped, subscriber), n,
				      memory_order_relaxed);
}

void dpp_metrics_set_collector(struct dpp_metrics *m, dpp_metrics_collect_fn fn, void *arg)
{
	if (m == NULL)
		return;
	m->collect = fn;
	m->collect_arg = arg;
}

/* Bounded output buffer: once an append fails, every later one is a no-op. */
struct sbuf {
	char *p;
	size_t len, cap;
	const char *err;
};

static int sb_reserve(struct sbuf *sb, size_t more)
{
	size_t want, cap;
	char *p;

	if (sb->err != NULL)
		return -1;
	if (more > DPP_METRICS_RENDER_MAX - sb->len) {
		sb->err = "metrics: rendered text exceeds its size limit";
		return -1;
	}
	want = sb->len + more + 1;
	if (want <= sb->cap)
		return 0;
	cap = sb->cap != 0 ? sb->cap : 4096;
	while (cap < want)
		cap *= 2;
	p = realloc(sb->p, cap);
	if (p == NULL) {
		sb->err = "out of memory";
		return -1;
	}
	sb->p = p;
	sb->cap = cap;
	return 0;
}

static void sb_putc(struct sbuf *sb, char c)
{
	if (sb_reserve(sb, 1) != 0)
		return;
	sb->p[sb->len++] = c;
	sb->p[sb->len] = '\0';
}

static void sb_puts(struct sbuf *sb, const char *s)
{
	size_t n = strlen(s);

	if (sb_reserve(sb, n) != 0)
		return;
	memcpy(sb->p + sb->len, s, n + 1);
	sb->len += n;
}

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sbuf *sb, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		sb->err = "metrics: internal formatting error";
		return;
	}
	sb_puts(sb, tmp);
}

/* Label value escaping of format 0.0.4: backslash, double quote, line feed. */
static void sb_label_value(struct sbuf *sb, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\')
			sb_puts(sb, "\\\\");
		else if (*v == '"')
			sb_puts(sb, "\\\"");
		else if (*v == '\n')
			sb_puts(sb, "\\n");
		else
			sb_putc(sb, *v);
	}
}

static void family(struct sbuf *sb, const char *name, const char *type, const char *help)
{
	/* HELP texts are constants without backslash or newline, so no escaping. */
	sb_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void simple(struct sbuf *sb, const char *name, const char *type, const char *help,
		   uint64_t value)
{
	family(sb, name, type, help);
	sb_printf(sb, "%s %" PRIu64 "\n", name, value);
}

/* seed_zero: one of the seed's series, which were unlabelled counters that
 * read 0 from the start. Until the first labelled sample exists the family
 * carries one unlabelled sample of 0, so sum() is 0 and absent() is false
 * instead of "no data"; after that, sum() over the labels is the count. */
static void labelled_table(struct sbuf *sb, const char *name, const char *help,
			   const char *label, struct label_table *t, int seed_zero)
{
	size_t n = atomic_load_explicit(&t->n, memory_order_acquire);
	uint64_t other = get(&t->other);

	family(sb, name, "counter", help);
	if (seed_zero && n == 0 && other == 0)
		sb_printf(sb, "%s 0\n", name);
	for (size_t i = 0; i <= n; i++) {
		const char *v = i < n ? t->e[i].value : "other";
		uint64_t c = i < n ? get(&t->e[i].count) : other;

		if (i == n && other == 0)
			break;
		sb_printf(sb, "%s{%s=\"", name, label);
		sb_label_value(sb, v);
		sb_printf(sb, "\"} %" PRIu64 "\n", c);
	}
}

static void table_samples(struct sbuf *sb, const char *name, const char *label,
			  const char *extra, struct label_table *t)
{
	size_t n = atomic_load_explicit(&t->n, memory_order_acquire);
	uint64_t other = get(&t->other);

	for (size_t i = 0; i <= n; i++) {
		const char *v = i < n ? t->e[i].value : "other";
		uint64_t c = i < n ? get(&t->e[i].count) : other;

		if (i == n && other == 0)
			break;
		sb_printf(sb, "%s{%s=\"", name, label);
		sb_label_value(sb, v);
		sb_printf(sb, "\",%s} %" PRIu64 "\n", extra, c);
	}
}

static void render_decisions(struct sbuf *sb, struct dpp_metrics *m)
{
	const char *name = "docker_proxy_rule_decisions_total";

	family(sb, name, "counter",
	       "Decisions made by a rule, by rule and mode (enforced: the rule decided the "
	       "request; dry_run: a dry-run rule would have refused it).");
	table_samples(sb, name, "rule", "mode=\"enforced\"", &m->decisions_enforced);
	table_samples(sb, name, "rule", "mode=\"dry_run\"", &m->decisions_dry_run);
}

static void render_latency(struct sbuf *sb, struct dpp_metrics *m)
{
	const char *name = "docker_proxy_upstream_latency_ms";
	uint64_t cum = 0;

	family(sb, name, "histogram",
	       "Milliseconds from forwarding a request to Docker until its response head arrived.");
	for (size_t b = 0; b <= N_LATENCY; b++) {
		cum += get(&m->latency_buckets[b]);
		if (b < N_LATENCY)
			sb_printf(sb, "%s_bucket{le=\"%" PRIu32 "\"} %" PRIu64 "\n", name, latency_ms[b],
				  cum);
		else
			sb_printf(sb, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
	}
	sb_printf(sb, "%s_sum %" PRIu64 "\n", name, get(&m->latency_sum_ms));
	sb_printf(sb, "%s_count %" PRIu64 "\n", name, cum);
}

static void render_requests(struct sbuf *sb, struct dpp_metrics *m)
{
	size_t start;

	family(sb, "docker_proxy_requests_total", "counter",
	       "Requests answered, by method and HTTP status code.");
	start = sb->len;
	for (size_t mi = 0; mi < N_METHODS; mi++) {
		for (size_t si = 0; si < N_STATUS; si++) {
			uint64_t c = get(&m->requests[mi][si]);
			char status[8];

			if (c == 0)
				continue;
			if (si == 0)
				snprintf(status, sizeof(status), "other");
			else
				snprintf(status, sizeof(status), "%d", (int)si - 1 + STATUS_MIN);
			sb_printf(sb, "docker_proxy_requests_total{method=\"%s\",status=\"%s\"} %" PRIu64
				      "\n",
				  method_names[mi], status, c);
		}
	}
	/* The seed's unlabelled counter read 0 before the first request: see
	 * labelled_table. */
	if (sb->err == NULL && sb->len == start)
		sb_puts(sb, "docker_proxy_requests_total 0\n");
}

static void render_histogram(struct sbuf *sb, struct dpp_metrics *m)
{
	const char *name = "docker_proxy_request_duration_seconds";
	uint64_t cum = 0, sum_ms;

	family(sb, name, "histogram", "Time from request head to the end of the response.");
	/* _count is the +Inf bucket by construction, so they always agree even
	 * while other threads observe. */
	for (size_t b = 0; b <= N_BUCKETS; b++) {
		cum += get(&m->duration_buckets[b]);
		sb_printf(sb, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name,
			  b < N_BUCKETS ? bucket_le[b] : "+Inf", cum);
	}
	sum_ms = get(&m->duration_sum_ms);
	sb_printf(sb, "%s_sum %" PRIu64 ".%03u\n", name, sum_ms / 1000, (unsigned)(sum_ms % 1000));
	sb_printf(sb, "%s_count %" PRIu64 "\n", name, cum);
}

int dpp_metrics_render(struct dpp_metrics *m, char **out, size_t *len, const char **err)
{
	struct sbuf sb = {NULL, 0, 0, NULL};

	*out = NULL;
	*len = 0;
	if (m == NULL) {
		*err = "metrics: no registry";
		return -1;
	}
	if (m->collect != NULL)
		m->collect(m, m->collect_arg);

	render_requests(&sb, m);
	simple(&sb, "docker_proxy_requests_allowed_total", "counter",
	       "Requests allowed by the policy and forwarded to Docker.", get(&m->allowed));
	labelled_table(&sb, "docker_proxy_requests_denied_total",
		       "Requests denied, by deciding rule (\"default\": the default action).", "rule",
		       &m->denied, 1);
	simple(&sb, "docker_proxy_requests_dry_run_total", "counter",
	       "Requests that one or more dry-run rules would have refused (they went on).",
	       get(&m->dry_run_requests));
	labelled_table(&sb, "docker_proxy_rate_limited_total", "Requests refused by a rate limit, by rule.",
		       "rule", &m->rate_limited, 1);
	simple(&sb, "docker_proxy_auth_failures_total", "counter",
	       "Requests (and TLS handshakes) refused for missing or invalid credentials.",
	       get(&m->auth_failures));
	simple(&sb, "docker_proxy_auth_lockouts_total", "counter",
	       "Client addresses locked out after repeated authentication failures.",
	       get(&m->lockouts));
	simple(&sb, "docker_proxy_audit_dropped_total", "counter",
	       "Audit events dropped because the audit writer's queue was full.",
	       get(&m->audit_dropped));
	simple(&sb, "docker_proxy_audit_open_failures_total", "counter",
	       "Reloads (SIGHUP) at which global.audit_log could not be opened for append (the "
	       "file already open, if any, is kept).",
	       get(&m->audit_open_failures));
	labelled_table(&sb, "docker_proxy_bus_dropped_total",
		       "Events dropped because a bus subscriber's queue was full, by subscriber.",
		       "subscriber", &m->bus_dropped, 0);
	simple(&sb, "docker_proxy_upstream_errors_total", "counter",
	       "Requests that failed talking to the Docker socket (502).", get(&m->upstream_errors));
	simple(&sb, "docker_proxy_upstream_timeouts_total", "counter",
	       "Requests given up because Docker did not answer in time (the proxy sets no "
	       "deadline on Docker, so this stays 0).",
	       get(&m->upstream_timeouts));
	simple(&sb, "docker_proxy_body_too_large_total", "counter",
	       "Requests refused with 413 (JSON body above global.max_body_bytes).",
	       get(&m->body_too_large));
	simple(&sb, "docker_proxy_bad_request_total", "counter",
	       "Requests refused with 400 before the rules (framing, target, header fields, body).",
	       get(&m->bad_request));
	simple(&sb, "docker_proxy_request_timeouts_total", "counter",
	       "Client connections closed because a request did not arrive completely within "
	       "global.client_timeout.",
	       get(&m->request_timeouts) + get(&m->head_timeouts));
	simple(&sb, "docker_proxy_upgrade_total", "counter",
	       "Connections upgraded (101) and relayed: attach, exec, BuildKit sessions.",
	       get(&m->upgrades));
	render_decisions(&sb, m);
	render_latency(&sb, m);
	render_histogram(&sb, m);
	family(&sb, "docker_proxy_active_streams", "gauge",
	       "Hijacked and streaming responses open now.");
	sb_printf(&sb, "docker_proxy_active_streams %" PRId64 "\n",
		  (int64_t)atomic_load_explicit(&m->active_streams, memory_order_relaxed));
	family(&sb, "docker_proxy_config_reloads_total", "counter",
	       "Configuration reloads, by result.");
	sb_printf(&sb, "docker_proxy_config_reloads_total{result=\"success\"} %" PRIu64 "\n",
		  get(&m->reloads_ok));
	sb_printf(&sb, "docker_proxy_config_reloads_total{result=\"failure\"} %" PRIu64 "\n",
		  get(&m->reloads_failed));
	simple(&sb, "docker_proxy_up", "gauge", "1 when the Docker daemon answered the last probe.",
	       (uint64_t)atomic_load_explicit(&m->up, memory_order_relaxed));
	pthread_mutex_lock(&m->extra_lock);
	for (size_t i = 0; i < DPP_METRICS_EXTRA_MAX; i++) {
		if (m->extra[i].fn != NULL)
			m->extra[i].fn((struct dpp_metrics_out *)&sb, m->extra[i].arg);
	}
	pthread_mutex_unlock(&m->extra_lock);

	if (sb.err != NULL) {
		*err = sb.err;
		free(sb.p);
		return -1;
	}
	if (sb.p == NULL && sb_reserve(&sb, 0) != 0) {
		*err = sb.err;
		return -1;
	}
	*out = sb.p;
	*len = sb.len;
	return 0;
}

/* dpp_metrics_out is the render buffer itself. */
void dpp_metrics_out_family(struct dpp_metrics_out *o, const char *name, const char *type,
			    const char *help)
{
	family((struct sbuf *)o, name, type, help);
}

void dpp_metrics_out_sample(struct dpp_metrics_out *o, const char *name, const char *label,
			    const char *value, double v)
{
	struct sbuf *sb = (struct sbuf *)o;

	sb_puts(sb, name);
	if (label != NULL && value != NULL) {
		sb_printf(sb, "{%s=\"", label);
		sb_label_value(sb, value);
		sb_puts(sb, "\"}");
	}
	sb_printf(sb, " %.17g\n", v);
}
