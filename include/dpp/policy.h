/* Policy: a compiled, immutable set of rules and its evaluation against one
 * request. The rule language is described in docs/rules.md. Compiling from
 * YAML is in the internal header src/proxy/rules_yaml.h (this header does not
 * depend on libyaml).
 *
 * Threads: a ruleset never changes after compilation and is reference-counted
 * (atomic), so it can be swapped on reload while requests still hold the old
 * one. Evaluation is pure (no I/O, no locks) apart from the rate limiter,
 * which has its own mutex. */
#ifndef DPP_POLICY_H
#define DPP_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dpp/headers.h"
#include "dpp/ratelimit.h"
#include "dpp/redact.h"

struct cJSON; /* <cjson/cJSON.h> */

#define DPP_RULE_NAME_MAX 64 /* bytes incl. NUL */

struct dpp_ruleset; /* opaque, immutable, reference-counted */

enum dpp_policy_verdict {
	DPP_POLICY_ALLOW = 0,
	DPP_POLICY_DENY,
};


/* One response filter of a response_filter rule. All strings belong to the
 * ruleset. */
struct dpp_response_filter {
	const char *rule;  /* name of the rule it came from */
	const char *field; /* dotted path in the response JSON, as written */
	enum dpp_filter_action action;
	const char *value; /* DPP_FILTER_REPLACE only, else NULL */
};


/* What a rule can look at. Filled by the proxy; every pointer is borrowed for
 * the duration of dpp_policy_evaluate. Any member may be NULL (the field is
 * then absent: positive operators do not match it). */
struct dpp_request_view {
	const char *method;    /* "GET", as received (methods are case-sensitive) */
	const char *path;      /* canonical path, version prefix removed */
	/* dockerd's route template for method + path ("/containers/{name}/start",
	 * dpp/route.h), or NULL when no route matches (dockerd answers 404). */
	const char *endpoint;
	/* Header fields in arrival order. Names compare case-insensitively; the
	 * values of repeated names are joined with ", " (RFC 9110 5.3). */
	const struct dpp_header *headers;
	size_t n_headers;
	/* First value of the query parameter `name`, or NULL when absent. */
	const char *(*query_get)(void *ctx, const char *name);
	void *query_ctx;
	const char *client_ip; /* textual address (inet_ntop); "" or NULL if none */
	const char *role;      /* caller's role; NULL or "" = none */
	const char *identity;  /* caller's identity; NULL or "" = none */
	/* The JSON value at body path segments[0..n) (n = 0: the whole body), as
	 * Docker's decoder would see it, or NULL when absent / no JSON body. The
	 * result is borrowed until evaluation returns. */
	const struct cJSON *(*body_get)(void *ctx, const char *const *segments, size_t n);
	/* Optional, same ctx: calls fn for every value the path names, a "*"
	 * segment standing for every element or member (dpp_body_each's
	 * contract: never NULL or JSON null; stop at fn's first non-zero return
	 * and return it). The proxy sets it: cost linear in the body. Without
	 * it, "*" is expanded through body_get, one lookup from the root per
	 * element (quadratic; for simple views such as tests). */
	int (*body_each)(void *ctx, const char *const *segments, size_t n,
			 int (*fn)(void *arg, const struct cJSON *value), void *arg);
	void *body_ctx;
};

/* The outcome of one evaluation. Strings are borrowed from the ruleset (or are
 * static): valid while the caller holds its ruleset reference. The arrays are
 * owned by the decision: release with dpp_policy_decision_done. */
struct dpp_policy_decision {
	enum dpp_policy_verdict verdict;
	int status;           /* HTTP status of a deny (403, 429, 500, ...); 0 on allow */
	const char *message;  /* deny message; NULL on allow */
	const char *rule;     /* deciding rule; NULL when the default action decided */
	/* The deciding rule's action ("allow", "deny", "require_role",
	 * "rate_limit"; static), NULL when the default action decided. For an
	 * internal error, the action of the rule being evaluated. */
	const char *rule_action;
	uint32_t retry_after; /* seconds, for 429 (Retry-After); else 0 */
	const char *error;    /* internal error behind a 500 (static text), else NULL */
	const char **dry_run; /* names of dry-run rules that would have denied */
	/* Parallel to dry_run: each rule's action (static) and message (NULL
	 * when the rule has none). Part of the dry_run allocation. */
	const char **dry_run_actions;
	const char **dry_run_messages;
	size_t n_dry_run;
	struct dpp_response_filter *filters; /* to apply to the response, rule order */
	size_t n_filters;
	/* Messages composed during evaluation (a preset rule names the vector
	 * that matched); message and dry_run_messages may point into them.
	 * Owned by the decision. */
	char **owned;
	size_t n_owned;
};

/* Reference counting (atomic; any thread). ref returns rs. unref frees at zero;
 * NULL is ignored. */
struct dpp_ruleset *dpp_ruleset_ref(struct dpp_ruleset *rs);
void dpp_ruleset_unref(struct dpp_ruleset *rs);

/* Verdict when no rule terminates evaluation (compiled default: allow).
 * set_default may only be called before the ruleset is shared with other
 * threads (right after compilation). */
void dpp_ruleset_set_default(struct dpp_ruleset *rs, enum dpp_policy_verdict verdict);
enum dpp_policy_verdict dpp_ruleset_get_default(const struct dpp_ruleset *rs);

/* Number of rules. */
size_t dpp_ruleset_count(const struct dpp_ruleset *rs);

/* Compile warnings (valid config with a part that has no effect, such as the
 * seed's `methods:` key), one "FILE:LINE:COL: PATH: text" per line; NULL when
 * there are none. Borrowed from rs. */
const char *dpp_ruleset_warnings(const struct dpp_ruleset *rs);

/* Writes the effective rules in evaluation order (priority, then file order)
 * as a `rules:` section in the seed's syntax (docker-proxy README, "rules"),
 * with every default spelled out, after a comment line with the count and
 * the default verdict; the format of --check-config. The output compiles
 * back to the same ruleset. Returns 0, or -1 on a write or allocation error. */
int dpp_ruleset_print(const struct dpp_ruleset *rs, FILE *out);

/* Drops limiter buckets of rules that are not rate_limit rules of rs (call
 * after swapping in rs). Returns the number dropped, or -1 on allocation
 * failure. */
long dpp_ruleset_retain_buckets(const struct dpp_ruleset *rs, struct dpp_ratelimit *rl);

/* Evaluates the rules in order against req and fills *out (always, also on
 * error). rl is the shared limiter (may be NULL when rs has no rate_limit
 * rule); now_ms is the monotonic clock for it. Returns 0, or -1 on an internal
 * error (regex match error or limit, allocation failure, missing limiter), in
 * which case *out is a deny 500 with out->error set: fail closed.
 * Thread-safe: rs is only read. */
int dpp_policy_evaluate(const struct dpp_ruleset *rs, const struct dpp_request_view *req,
			struct dpp_ratelimit *rl, uint64_t now_ms,
			struct dpp_policy_decision *out);

/* Frees the arrays of a decision and clears it. NULL is ignored. */
void dpp_policy_decision_done(struct dpp_policy_decision *d);

/* Static names ("allow", "deny"; "redact", "remove", "replace"); "unknown"
 * for values out of range. */
const char *dpp_policy_verdict_name(enum dpp_policy_verdict verdict);
const char *dpp_filter_action_name(enum dpp_filter_action action);

#endif
