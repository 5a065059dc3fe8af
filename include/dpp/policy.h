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

#include "dpp/event.h"
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
	struct dpp_policy_trace trace; /* what was evaluated (always filled) */
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

/* Process-unique id of a compiled ruleset (1, 2, ...), so a trace can be
 * matched with the ruleset it was made with. */
uint64_t dpp_ruleset_id(const struct dpp_ruleset *rs);

/* One rule of the effective ruleset, for the console and --check-config
 * style listings. Strings are borrowed from rs. Counters are live atomics
 * read at call time: hits (conditions matched), denials (requests the rule
 * refused), dry_runs (would have refused), last_hit_ms (CLOCK_MONOTONIC ms
 * of the last hit, dpp_ratelimit_now_ms's clock; 0: never). */
struct dpp_rule_info {
	const char *name;
	long priority;
	const char *action; /* "deny", "allow", ... (static) */
	int dry_run;
	size_t n_conds;     /* top-level conditions */
	uint64_t hits, denials, dry_runs;
	uint64_t last_hit_ms;
};

/* Fills *out for rule i (evaluation order). Returns 0, or -1 when i is out
 * of range. Thread-safe. */
int dpp_ruleset_rule_info(const struct dpp_ruleset *rs, size_t i, struct dpp_rule_info *out);

/* One line describing top-level condition j of rule i, in the seed's words
 * ("body.HostConfig.Privileged equals true", "any_of (2 conditions)"),
 * written into buf (len bytes, cut to fit). Returns 0, or -1 when out of
 * range (buf = ""). Thread-safe. */
int dpp_ruleset_cond_text(const struct dpp_ruleset *rs, size_t i, size_t j, char *buf,
			  size_t len);

/* Copies the counters of every rule of prev into the rule of the same name
 * in next (so a reload keeps hit counts). Call before next is shared (the
 * copy is not atomic as a whole). NULL prev is a no-op. */
void dpp_ruleset_carry_stats(const struct dpp_ruleset *next, const struct dpp_ruleset *prev);

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

/* An optional trace of one evaluation, for `docker-policy-proxy explain`:
 * the proxy's evaluator reports what it does as it does it, so explain shows
 * the engine's own reasoning, not a second implementation's. With no trace
 * (NULL) the evaluator only tests one pointer per rule and condition.
 * Bounded: a rule reports at most its compiled conditions (nesting <=
 * DPP_RULES_DEPTH_MAX), each once; every string and JSON value is borrowed
 * for the duration of the callback only. */
enum dpp_trace_node {
	DPP_TRACE_ALL = 0, /* a rule's condition list, or an `and:` group */
	DPP_TRACE_ANY,     /* `or:` */
	DPP_TRACE_NOT,     /* `not:` (holds when its list does not) */
	DPP_TRACE_LEAF,    /* one `field / operator / value` test */
};

#define DPP_TRACE_SKIPPED (-2) /* result of a condition short-circuited away */
#define DPP_TRACE_PENDING (-3) /* result on a group's opening report */

struct dpp_trace_cond {
	enum dpp_trace_node node;
	unsigned depth;   /* 0: the rule's condition list; +1 per group */
	/* Leaves (NULL for groups): */
	const char *field;            /* as written: "body.HostConfig.Privileged" */
	const char *op;               /* as written: "equals", "not_in", "exists" */
	const struct cJSON *operand;  /* array of the value(s); NULL for exists */
	const char *actual;           /* string fields: the value read; NULL when absent or body */
	/* body fields without "*": the value the rules see (NULL absent), as
	 * the proxy's body view returns it. */
	const struct cJSON *actual_json;
	/* 1 holds, 0 does not, -1 internal error, DPP_TRACE_SKIPPED (never
	 * evaluated: an earlier sibling decided), DPP_TRACE_PENDING (a group
	 * opening; its closing report carries the result). Groups are reported
	 * twice: opening, then closing after their kids. */
	int result;
};

struct dpp_policy_tracer {
	/* Before rule `index` (0-based, evaluation order) is evaluated. */
	void (*rule)(void *ctx, size_t index, const char *name, const char *action, int dry_run);
	/* Each condition as it is evaluated (pre-order for groups). */
	void (*cond)(void *ctx, const struct dpp_trace_cond *c);
	/* After the rule: matched (1, 0, -1 error) and what the rule did, a
	 * static phrase ("no match", "allowed: evaluation stops", "denied",
	 * "dry run: would have denied, evaluation continues", ...). */
	void (*rule_done)(void *ctx, int matched, const char *outcome);
	void *ctx;
};

/* dpp_policy_evaluate with a trace (NULL: exactly dpp_policy_evaluate).
 * Same thread-safety; the callbacks run on the calling thread. */
int dpp_policy_evaluate_traced(const struct dpp_ruleset *rs, const struct dpp_request_view *req,
			       struct dpp_ratelimit *rl, uint64_t now_ms,
			       const struct dpp_policy_tracer *trace,
			       struct dpp_policy_decision *out);

/* Frees the arrays of a decision and clears it. NULL is ignored. */
void dpp_policy_decision_done(struct dpp_policy_decision *d);

/* Static names ("allow", "deny"; "redact", "remove", "replace"); "unknown"
 * for values out of range. */
const char *dpp_policy_verdict_name(enum dpp_policy_verdict verdict);
const char *dpp_filter_action_name(enum dpp_filter_action action);

#endif
