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

/* One event, holding every field of the seed's audit record (and a few
 * more), so the audit writer, the store and the console read the same
 * thing. Strings are NUL-terminated, truncated to fit; "" means "none" (the
 * audit record writes null for an empty user_role, identity, rule_name,
 * rule_action and message, and "-" for an empty user_agent). */
struct dpp_event {
	uint64_t id;             /* request number, unique per process; 0: no request */
	int64_t time_ms;         /* wall clock, ms since the Unix epoch */
	enum dpp_event_kind kind;
	int status;              /* HTTP status answered; 0 for dry_run (nothing refused) */
	int dry_run;             /* 1 for a dry-run match (kind DPP_EVENT_DRY_RUN), else 0 */
	uint32_t duration_ms;
	uint64_t bytes_in;       /* request body bytes received (so far, for events
				  * published mid-request) */
	uint64_t bytes_out;      /* response body bytes handed to the client; bytes
				  * relayed after a 101 upgrade are not counted */
	char method[16];
	char path[256];          /* canonical path (no version prefix) */
	char query[256];         /* the request target's query, as sent, without '?';
				  * "" when none (cut at 255 bytes) */
	char peer_ip[46];        /* the direct TCP peer; "" for a Unix-socket peer */
	char client_ip[46];      /* the client after global.trusted_proxies (= peer_ip
				  * unless X-Forwarded-For from a trusted peer changed it) */
	char user_agent[256];    /* the request's User-Agent field */
	char identity[64];       /* "token:1a2b3c4d", "cert:CN", "unix:uid=N", "anonymous" */
	char user_role[32];
	char rule_name[64];      /* deciding rule; "" for none (default action) */
	char rule_action[16];    /* its action: "deny", "require_role", "rate_limit", ... */
	char message[192];
};

/* Name used in audit records and metrics labels: "request", "deny",
 * "dry_run", "auth_failure", "lockout", "rate_limited", "error". Static. */
const char *dpp_event_kind_name(enum dpp_event_kind kind);

#endif
