/* One request event: a fixed-size value, copied into subscriber rings, so
 * nothing mutable crosses threads. Consumers: audit log writer, metrics, and
 * later the SQLite store and the operator console. */
#ifndef DPP_EVENT_H
#define DPP_EVENT_H

#include <stdint.h>

enum dpp_event_kind {
	DPP_EVENT_REQUEST = 0, /* an allowed request finished */
	DPP_EVENT_DENY,        /* a rule (or the default action) denied */
	DPP_EVENT_DRY_RUN,     /* a dry-run rule would have denied */
	DPP_EVENT_AUTH_FAILURE,
	DPP_EVENT_LOCKOUT,     /* a client IP was locked out after failures */
	DPP_EVENT_RATE_LIMITED,
	DPP_EVENT_ERROR,       /* refused for a protocol/internal reason (400/413/500/502) */
};

/* Strings are NUL-terminated and truncated to fit. */
struct dpp_event {
	uint64_t id;             /* request number, unique per process */
	int64_t time_ms;         /* wall clock, ms since the Unix epoch */
	enum dpp_event_kind kind;
	int status;              /* HTTP status answered (or would-be, for dry-run) */
	uint32_t duration_ms;
	char method[16];
	char path[256];          /* canonical path (no version prefix) */
	char client_ip[46];
	char identity[64];       /* "token:1a2b3c4d", "cert:CN", "anonymous" */
	char role[32];
	char rule[64];           /* deciding rule name, "" for none/default */
	char message[192];
};

/* Name used in audit records and metrics labels: "request", "deny",
 * "dry_run", "auth_failure", "lockout", "rate_limited", "error". Static. */
const char *dpp_event_kind_name(enum dpp_event_kind kind);

#endif
