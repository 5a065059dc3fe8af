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
	DPP_EVENT_STREAM_OPEN,  /* a hijacked stream (101: attach, exec) began */
	DPP_EVENT_STREAM_CLOSE, /* ... and ended (duration_ms: how long it was open) */
};

/* What the evaluation looked at, for the operator console's details view:
 * each rule evaluated, in order, with each top-level condition's result.
 * Fixed size (no allocation on the request path): at most
 * DPP_POLICY_TRACE_RULES rules (then `truncated`) and the first
 * DPP_POLICY_TRACE_CONDS conditions of each. Rule indexes refer to the
 * ruleset whose dpp_ruleset_id is ruleset_id (evaluation order). */
#define DPP_POLICY_TRACE_RULES 24
#define DPP_POLICY_TRACE_CONDS 32

enum dpp_trace_outcome {
	DPP_TRACE_NO_MATCH = 0, /* a condition did not hold */
	DPP_TRACE_MATCHED,      /* matched but did not decide (role held, within limit, filter) */
	DPP_TRACE_ALLOWED,      /* an allow rule matched: evaluation ended */
	DPP_TRACE_DENIED,       /* refused the request: evaluation ended */
	DPP_TRACE_DRY_RUN,      /* would have refused (dry run): evaluation went on */
	DPP_TRACE_ERROR,        /* internal error while evaluating it: fail closed */
};

struct dpp_policy_trace_rule {
	uint16_t rule;        /* index in evaluation order */
	uint16_t n_conds;     /* top-level conditions of the rule */
	uint16_t n_evaluated; /* evaluated ones (evaluation stops at the first that fails) */
	uint8_t outcome;      /* enum dpp_trace_outcome */
	uint32_t held;        /* bit i: condition i held (i < DPP_POLICY_TRACE_CONDS) */
};

struct dpp_policy_trace {
	uint64_t ruleset_id;
	uint16_t n;
	uint8_t truncated; /* more rules were evaluated than fit */
	struct dpp_policy_trace_rule r[DPP_POLICY_TRACE_RULES];
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
	/* For the operator console's details view (bounded excerpts; the audit
	 * record does not carry them): */
	char headers[384];       /* "Name: value\n" per field in arrival order, cut to
				  * fit; credentials (Authorization, Proxy-Authorization,
				  * X-Registry-Auth, X-Registry-Config) as "(redacted)" */
	char body[192];          /* start of a buffered JSON body, control bytes as ' ' */
	struct dpp_policy_trace trace; /* rules evaluated (n = 0 when none were) */
};

/* Name used in audit records and metrics labels: "request", "deny",
 * "dry_run", "auth_failure", "lockout", "rate_limited", "error". Static. */
const char *dpp_event_kind_name(enum dpp_event_kind kind);

#endif
