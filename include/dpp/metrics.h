/* Prometheus metrics: a registry of lock-free counters, gauges and one
 * histogram, rendered in the text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/).
 *
 * Series (names and labels are interface). The seed's (docker-proxy) series
 * keep the seed's names; where one has labels here, summing over them gives
 * the seed's unlabelled count (one increment per request):
 *   docker_proxy_requests_total{method,status}        counter (seed)
 *   docker_proxy_requests_allowed_total               counter (seed)
 *   docker_proxy_requests_denied_total{rule}          counter (seed)
 *   docker_proxy_requests_dry_run_total               counter (seed), per request
 *   docker_proxy_auth_failures_total                  counter (seed)
 *   docker_proxy_auth_lockouts_total                  counter (seed)
 *   docker_proxy_rate_limited_total{rule}             counter (seed)
 *   docker_proxy_upstream_errors_total                counter (seed)
 *   docker_proxy_upstream_timeouts_total              counter (seed; always 0: no deadline
 *                                                     is put on Docker)
 *   docker_proxy_body_too_large_total                 counter (seed), 413s
 *   docker_proxy_bad_request_total                    counter (seed), 400s
 *   docker_proxy_request_timeouts_total               counter (seed), client too slow
 *   docker_proxy_upgrade_total                        counter (seed), 101s relayed
 *   docker_proxy_rule_decisions_total{rule,mode}      counter (seed), mode
 *                                                     "enforced"|"dry_run"
 *   docker_proxy_upstream_latency_ms                  histogram (seed), le 5 .. 10000
 *   docker_proxy_audit_dropped_total                  counter (fed by a setter)
 *   docker_proxy_bus_dropped_total{subscriber}        counter (fed by a setter)
 *   docker_proxy_config_reloads_total{result}         counter, result "success"|"failure"
 *   docker_proxy_request_duration_seconds             histogram, le 0.005 .. 30
 *   docker_proxy_active_streams                       gauge (hijacked + streaming)
 *   docker_proxy_up                                   gauge (1 when Docker answers)
 *
 * Label values and cardinality:
 *   method: the RFC 9110 methods GET HEAD POST PUT DELETE PATCH OPTIONS
 *     CONNECT TRACE (case-sensitive), anything else is "other".
 *   status: the three-digit code 100..599; anything else is "other".
 *   rule: free text from the config. Each family keeps a table of at most
 *     DPP_METRICS_RULES_MAX distinct values; beyond that (and for a rule
 *     literally named "other") the value is "other". "" (the default
 *     action) becomes "default". Values are cut to DPP_METRICS_LABEL_MAX
 *     bytes at a UTF-8 character boundary. Lookups of known values take no
 *     lock; adding a value takes the family's mutex.
 *   subscriber: at most DPP_METRICS_SUBSCRIBERS_MAX names, then "other".
 * Every function taking `m` is thread-safe; counting functions never block
 * except the first sight of a new rule value (a short mutex). */
#ifndef DPP_METRICS_H
#define DPP_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define DPP_METRICS_RULES_MAX 1000       /* distinct rule values per family */
#define DPP_METRICS_SUBSCRIBERS_MAX 64   /* distinct bus subscriber names */
#define DPP_METRICS_LABEL_MAX 127        /* bytes of a free-text label value */
#define DPP_METRICS_RENDER_MAX (8u << 20) /* hard limit of the rendered text */

struct dpp_metrics; /* opaque registry */

/* Creates a registry with every counter at 0, up = 0, active_streams = 0.
 * Returns NULL with *err set (static text) when memory is short. */
struct dpp_metrics *dpp_metrics_create(const char **err);

/* Frees the registry. No other thread may use it any more. NULL is a no-op. */
void dpp_metrics_free(struct dpp_metrics *m);

/* One finished request: requests_total{method,status} += 1 and the duration
 * (milliseconds) observed in request_duration_seconds. `method` may be NULL
 * ("other"). */
void dpp_metrics_request_done(struct dpp_metrics *m, const char *method, int status,
			      uint32_t duration_ms);

/* requests_allowed_total += 1 (a request forwarded to Docker). */
/* Sum of requests_total over every label (finished requests since start),
 * for the service manager's status line. Thread-safe (relaxed reads). */
uint64_t dpp_metrics_requests_total(struct dpp_metrics *m);
void dpp_metrics_allowed(struct dpp_metrics *m);

/* requests_denied_total / rate_limited_total {rule} += 1 (once per refused
 * request). `rule` may be NULL or "" (the default action: label "default"). */
void dpp_metrics_denied(struct dpp_metrics *m, const char *rule);
void dpp_metrics_rate_limited(struct dpp_metrics *m, const char *rule);

/* requests_dry_run_total += 1: once per request that at least one dry-run
 * rule would have refused (per rule: dpp_metrics_rule_decision). */
void dpp_metrics_dry_run(struct dpp_metrics *m);

/* rule_decisions_total{rule, mode} += 1: mode "dry_run" when dry_run != 0
 * (a dry-run rule would have refused), else "enforced" (the rule decided:
 * allow, deny, require_role or rate_limit refused). `rule` as for denied. */
void dpp_metrics_rule_decision(struct dpp_metrics *m, const char *rule, int dry_run);

/* upstream_latency_ms observes `latency` milliseconds (request forwarded to
 * Docker's response head). */
void dpp_metrics_upstream_latency(struct dpp_metrics *m, uint32_t latency);

void dpp_metrics_auth_failure(struct dpp_metrics *m);    /* auth_failures_total += 1 */
void dpp_metrics_lockout(struct dpp_metrics *m);         /* auth_lockouts_total += 1 */
void dpp_metrics_upstream_error(struct dpp_metrics *m);  /* upstream_errors_total += 1 */
void dpp_metrics_upstream_timeout(struct dpp_metrics *m); /* upstream_timeouts_total += 1 */
void dpp_metrics_body_too_large(struct dpp_metrics *m);  /* body_too_large_total += 1 */
void dpp_metrics_bad_request(struct dpp_metrics *m);     /* bad_request_total += 1 */
void dpp_metrics_upgrade(struct dpp_metrics *m);         /* upgrade_total += 1 */

/* request_timeouts_total is the sum of both: request_timeout counts one
 * client the HTTP layer timed out mid-request; set_head_timeouts stores the
 * request-head deadline's running total (dpp_watch_cut_total), as given. */
void dpp_metrics_request_timeout(struct dpp_metrics *m);
void dpp_metrics_set_head_timeouts(struct dpp_metrics *m, uint64_t n);

/* config_reloads_total{result="success"} when ok != 0, else "failure". */
void dpp_metrics_config_reload(struct dpp_metrics *m, int ok);

/* audit_open_failures_total += 1: on SIGHUP, global.audit_log could not be
 * opened for append (logrotate re-open, or a new path); the writer keeps the
 * file it has open, if any. Thread-safe. */
void dpp_metrics_audit_open_failure(struct dpp_metrics *m);

/* active_streams += 1 / -= 1: call once when a hijack or streaming response
 * starts and once when it ends. */
void dpp_metrics_stream_begin(struct dpp_metrics *m);
void dpp_metrics_stream_end(struct dpp_metrics *m);

/* up = 1 when Docker answered the last probe, else 0. */
void dpp_metrics_set_up(struct dpp_metrics *m, int up);

/* Counters owned by other modules, copied in (usually from the collector
 * below): audit_dropped_total = n (dpp_audit_dropped), and
 * bus_dropped_total{subscriber} = n (dpp_bus_foreach_sub). The values are
 * stored as given; the sources are monotonic. */
void dpp_metrics_set_audit_dropped(struct dpp_metrics *m, uint64_t n);
void dpp_metrics_set_bus_dropped(struct dpp_metrics *m, const char *subscriber, uint64_t n);

/* Called at the start of every dpp_metrics_render, before any lock is taken,
 * to pull values from other modules through the setters above. `fn` must be
 * thread-safe (two scrapes may render at once). Set it before the registry
 * is shared between threads; NULL removes it. */
typedef void (*dpp_metrics_collect_fn)(struct dpp_metrics *m, void *arg);
void dpp_metrics_set_collector(struct dpp_metrics *m, dpp_metrics_collect_fn fn, void *arg);

/* Families owned by modules outside the core (the store registers its
 * docker_proxy_store_* series this way, so the core never knows them).
 * fn is called during every dpp_metrics_render, after the built-in
 * families, with the registry's extras mutex held (so it must not call
 * dpp_metrics_add_extra/remove_extra), and writes whole families through
 * dpp_metrics_out_family and dpp_metrics_out_sample. It must be thread-safe
 * against the module's own threads and quick (no I/O). At most
 * DPP_METRICS_EXTRA_MAX are registered. add returns 0, or -1 when the table
 * is full or an argument is NULL. remove unregisters the (fn, arg) pair and
 * returns once no render is calling it, so arg may be freed afterwards.
 * Both thread-safe. */
#define DPP_METRICS_EXTRA_MAX 8
struct dpp_metrics_out; /* the render buffer; valid during the callback only */
typedef void (*dpp_metrics_extra_fn)(struct dpp_metrics_out *o, void *arg);
int dpp_metrics_add_extra(struct dpp_metrics *m, dpp_metrics_extra_fn fn, void *arg);
void dpp_metrics_remove_extra(struct dpp_metrics *m, dpp_metrics_extra_fn fn, void *arg);

/* Inside an extras callback: the "# HELP" and "# TYPE" lines of a family
 * (name and help: constants without newline or backslash; type "counter" or
 * "gauge"), then one sample line per call. label and value: one label pair,
 * value escaped as format 0.0.4 requires; both NULL for none. v is printed
 * with %.17g (integers below 2^53 print exactly). */
void dpp_metrics_out_family(struct dpp_metrics_out *o, const char *name, const char *type,
			    const char *help);
void dpp_metrics_out_sample(struct dpp_metrics_out *o, const char *name, const char *label,
			    const char *value, double v);

/* Renders every family (HELP and TYPE lines, then samples) as Prometheus text
 * format 0.0.4 (Content-Type "text/plain; version=0.0.4; charset=utf-8")
 * into a malloc'd NUL-terminated buffer: *out (caller frees with free()),
 * *len its length without the NUL. Label values are escaped (backslash,
 * double quote, newline). Histogram buckets are cumulative; the +Inf bucket
 * equals _count. Returns 0, or -1 with *err set (static text) when memory is
 * short or the text would exceed DPP_METRICS_RENDER_MAX. */
int dpp_metrics_render(struct dpp_metrics *m, char **out, size_t *len, const char **err);

#endif
