/* Audit log writer: a thread that subscribes to the event bus and appends one
 * JSON object per line (JSON Lines) to the file named by `global.audit_log`.
 *
 * Record (interface: the seed's docker-proxy audit record, its thirteen
 * fields always present and in this order, then this project's extras):
 *   {"timestamp":"2026-11-30T10:00:00.123Z","event":"deny","peer_ip":"10.0.0.5",
 *    "method":"POST","path":"/containers/create","user_agent":"docker/24.0",
 *    "user_role":"readonly","identity":"token:1a2b3c4d","rule_name":"admin-only-create",
 *    "rule_action":"require_role","status":403,"dry_run":false,
 *    "message":"Admin role required to create containers",
 *    "request_id":42,"client_ip":"10.9.8.7","duration_ms":3}
 * timestamp: RFC 3339 (section 5.6) UTC with milliseconds, from the event's
 * wall-clock time. event: dpp_event_kind_name(). peer_ip: the direct TCP
 * peer (null for a Unix-socket peer). user_agent: "-" when the request had
 * none. user_role, identity, rule_name, rule_action, message: null when
 * none. status: the HTTP status answered, 0 for dry_run. dry_run: boolean.
 * Extras: request_id (omitted for events outside a request, such as a
 * refused TLS handshake), client_ip (only when global.trusted_proxies made
 * it differ from peer_ip), duration_ms. Numbers are JSON integers. Bytes
 * that are not valid UTF-8 in the event's strings are replaced by U+FFFD so
 * each line stays valid JSON (RFC 8259 8.1).
 *
 * Back-pressure: the writer's bus ring is bounded; when it is full the bus
 * drops events for the writer and counts them (dpp_audit_dropped, exported as
 * docker_proxy_audit_dropped_total). A warning is logged at most once per
 * 10 s: "audit: dropped N events (queue full); see
 * docker_proxy_audit_dropped_total". Write errors are logged (at most once
 * per 10 s) and counted, never fatal. Output is written after each batch of
 * events (write(2) on an O_APPEND descriptor, no stdio buffering). */
#ifndef DPP_AUDIT_H
#define DPP_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "dpp/bus.h"

/* Kinds written by default: deny, dry_run, auth_failure, lockout,
 * rate_limited (bit set of DPP_BUS_KIND()). */
#define DPP_AUDIT_KINDS_DEFAULT                                                              \
	(DPP_BUS_KIND(DPP_EVENT_DENY) | DPP_BUS_KIND(DPP_EVENT_DRY_RUN) |                    \
	 DPP_BUS_KIND(DPP_EVENT_AUTH_FAILURE) | DPP_BUS_KIND(DPP_EVENT_LOCKOUT) |            \
	 DPP_BUS_KIND(DPP_EVENT_RATE_LIMITED))

#define DPP_AUDIT_WARN_INTERVAL_MS 10000 /* drop / write-error warnings */

struct dpp_audit; /* opaque: the thread, its bus subscription and file */

struct dpp_audit_options {
	const char *path;  /* file to append to; created with mode 0600 */
	size_t capacity;   /* bus ring size (DPP_BUS_CAPACITY_MIN..MAX) */
	uint32_t kinds;    /* DPP_BUS_KIND() set; 0 means DPP_AUDIT_KINDS_DEFAULT */
	int start_paused;  /* test hook: the thread writes nothing until
			    * dpp_audit_resume (or dpp_audit_stop) */
};

/* Opens `path` (O_WRONLY|O_APPEND|O_CREAT, mode 0600 when created), subscribes
 * to `bus` as "audit" with a ring of `capacity` events, and starts the writer
 * thread for the default kinds. `bus` must outlive the writer; `path` is
 * copied. Returns NULL with *err set (static text) when the file cannot be
 * opened (errno kept), the subscription fails, or the thread cannot start. */
struct dpp_audit *dpp_audit_start(struct dpp_bus *bus, const char *path, size_t capacity,
				  const char **err);

/* As dpp_audit_start, with the kind set and test hook of `opt` (copied). */
struct dpp_audit *dpp_audit_start_with(struct dpp_bus *bus, const struct dpp_audit_options *opt,
				       const char **err);

/* Writes what is already queued, then stops the thread, unsubscribes, closes
 * the file and frees `a`. Events published after the call may or may not be
 * written. Drops not yet reported are logged once more (a final summary, even
 * inside the 10 s interval). NULL is a no-op. Call from one thread, once. */
void dpp_audit_stop(struct dpp_audit *a);

/* Asks the thread to re-open the path (after logrotate renamed the file;
 * call it on SIGHUP, from the main loop). Returns at once; the thread
 * finishes its current batch, opens the path anew and switches to it, so
 * events published just before or after the call may still land in the old
 * file. If the open fails it logs an error, counts a write error and keeps
 * writing to the old descriptor. Only an atomic store
 * and write(2): async-signal-safe, thread-safe. */
void dpp_audit_reopen(struct dpp_audit *a);

/* Test hooks. pause: returns once the thread has written its current batch
 * and parked (it pops nothing more, so the queue fills and drops are
 * counted). resume: lets a paused writer (or one started with start_paused)
 * run again. Thread-safe; dpp_audit_stop ends a pause. */
void dpp_audit_pause(struct dpp_audit *a);
void dpp_audit_resume(struct dpp_audit *a);

/* Counters, all monotonic since start; thread-safe (atomics).
 * dropped: events lost because the queue was full
 *          (docker_proxy_audit_dropped_total).
 * written: records written to the file.
 * write_errors: failed write(2) calls (their batch is lost), failed re-opens,
 *               records that could not be formatted (out of memory). */
uint64_t dpp_audit_dropped(const struct dpp_audit *a);
uint64_t dpp_audit_written(const struct dpp_audit *a);
uint64_t dpp_audit_write_errors(const struct dpp_audit *a);

/* Formats one record (no trailing newline) for `ev` into a malloc'd string
 * (free with free()). Pure; thread-safe. Returns NULL when memory is short.
 * Exposed for tests and for other sinks that want the same shape. */
char *dpp_audit_format_record(const struct dpp_event *ev);

#endif
