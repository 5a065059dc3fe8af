/* The compiled form of a ruleset, shared by rules.c (compile, print) and
 * policy.c (evaluate). Internal to the proxy core. Everything here is
 * immutable after dpp_ruleset_compile returns. */
#ifndef DPP_RULES_IMPL_H
#define DPP_RULES_IMPL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <cjson/cJSON.h>

#include "dpp/cidr.h"
#include "dpp/policy.h"
#include "presets.h"

enum rule_field {
	FIELD_PATH = 0,
	FIELD_METHOD,
	FIELD_HEADER,   /* header.NAME */
	FIELD_QUERY,    /* query.NAME */
	FIELD_CLIENT_IP,
	FIELD_ROLE,
	FIELD_IDENTITY,
	FIELD_BODY,     /* body.A.B.0 */
	FIELD_ENDPOINT, /* dockerd's route template (dpp/route.h) */
};

/* Operators as written; each one is a base test plus an optional negation. */
enum rule_op {
	OP_EQUALS = 0,
	OP_NOT_EQUALS,
	OP_CONTAINS,
	OP_NOT_CONTAINS,
	OP_STARTS_WITH,
	OP_ENDS_WITH,
	OP_MATCHES,
	OP_NOT_MATCHES,
	OP_IN,
	OP_NOT_IN,
	OP_EXISTS,
	OP_NOT_EXISTS,
};

enum rule_test {
	TEST_EQUALS = 0, /* also `in`: any of vals */
	TEST_CONTAINS,
	TEST_STARTS_WITH,
	TEST_ENDS_WITH,
	TEST_MATCHES,
	TEST_EXISTS,
};


enum cond_kind {
	COND_AND = 0,
	COND_OR,
	COND_NOT, /* exactly one kid, a COND_AND (`not: [...]` is NOT of the AND) */
	COND_LEAF,
};

struct rule_cond {
	enum cond_kind kind;
	struct rule_cond **kids; /* groups */
	size_t n_kids;
	/* leaf */
	enum rule_field field;
	char *label;        /* "body.HostConfig.Privileged", "header.User-Agent" */
	char *name;         /* header/query name; NULL otherwise */
	char **segs;        /* body path segments */
	size_t n_segs;
	enum rule_op op;
	enum rule_test test;
	bool negate;
	cJSON *vals;            /* cJSON array of the operand(s); NULL for exists */
	struct dpp_cidr *cidrs; /* client_ip equals/in: one per val */
	pcre2_code *re;          /* matches */
	/* 1 once re's JIT compilation was tried (policy.c, at the first match,
	 * under a lock; pcre2_match reads what it wrote only after this flag
	 * says so). Deferred from compile: most of a large policy's regexes are
	 * never run (the dispatch index skips them), and JIT for 400 of them
	 * cost a third of a 1,000-rule compile and ~4 MiB of resident memory. */
	atomic_int jit_done;
	bool has_star; /* a body path with a "*" segment */
	/* Filled by the compile's last pass (rules.c, intern_leaves). A leaf's
	 * result is a function of the request alone, so leaves that are the
	 * same test (same field as written, operator and operands, compared
	 * exactly) share a slot of a per-evaluation cache: 1 + slot, 0 when
	 * the test is unique or the cache is full. */
	uint32_t memo_slot;
	/* Body leaves: one pointer per distinct label (the body-value memo
	 * compares pointers); NULL before interning. */
	const char *body_key;
	/* equals/in on a field read straight from the request view (path,
	 * method, endpoint, client_ip, role, identity): evaluated inline
	 * (policy.c, quick_eq). n_vals operands; eq1 the only one's text. */
	bool quick;
	size_t n_vals;
	const char *eq1;
};

/* Slots of the per-evaluation leaf cache (one byte each, on the stack). */
#define LEAF_MEMO_MAX 1024

enum rule_action {
	ACTION_DENY = 0,
	ACTION_ALLOW,
	ACTION_REQUIRE_ROLE,
	ACTION_RATE_LIMIT,
	ACTION_RESPONSE_FILTER,
};

struct rule {
	char *name;
	char *description; /* NULL when none */
	long priority;
	size_t index; /* position in the file, for the stable sort */
	enum rule_action action;
	int status;
	char *message;
	char *role;
	uint32_t requests;
	uint64_t period_ms;
	uint64_t penalty_ms;
	bool dry_run;
	struct dpp_response_filter *filters;
	size_t n_filters;
	struct rule_cond *match; /* AND of the conditions list; NULL: always */
	/* A `preset:` rule (action deny): the preset's checks decide whether
	 * it denies, after match. NULL for every other rule. */
	struct preset_cfg *preset;
	bool message_set; /* `message:` written (preset rules prefix it) */
};

/* Live counters of one rule (statistics, not policy: the only mutable part
 * of a ruleset, atomics updated by evaluation). */
struct rule_stats {
	atomic_uint_fast64_t hits, denials, dry_runs;
	atomic_uint_fast64_t last_hit_ms;
};

struct dpp_ruleset {
	atomic_uint refs;
	uint64_t id;               /* dpp_ruleset_id */
	struct rule_stats *stats;  /* n_rules, parallel to rules */
	enum dpp_policy_verdict default_verdict;
	struct rule **rules; /* sorted: priority descending, then file order */
	size_t n_rules;
	size_t n_filters_total;
	pcre2_match_context *mctx; /* match limits; read-only after compile */
	char *warnings;            /* compile warnings, one per line; NULL when none */
	/* Index of rules by literal path prefix and method (dispatch.h); NULL
	 * when it could not be built: evaluation then walks every rule. */
	struct dpp_dispatch *dispatch;
	size_t n_memo_slots; /* leaf cache slots in use (<= LEAF_MEMO_MAX) */
	/* By leaf cache slot s: the rules (indices into rules, ascending)
	 * kill_rules[kill_start[s] .. kill_start[s + 1]) that cannot match
	 * once slot s's test is false: it is one of their top-level
	 * conditions and every condition before it cannot fail, so the
	 * linear walk would have found "no match" there too. NULL: none. */
	uint32_t *kill_start;
	uint32_t *kill_rules;
};

struct dpp_dispatch;

/* dpp_policy_evaluate without the dispatch index: visits every rule in
 * order. Same contract and decisions; for tests that prove the index exact. */
int dpp_policy_evaluate_linear(const struct dpp_ruleset *rs, const struct dpp_request_view *req,
			       struct dpp_ratelimit *rl, uint64_t now_ms,
			       struct dpp_policy_decision *out);

extern const char *const dpp_rule_action_names[];
extern const char *const dpp_rule_op_names[];

#endif
