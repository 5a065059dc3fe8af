/* Token buckets for `rate_limit` rules, keyed by (rule name, client IP).
 *
 * The table lives outside any ruleset so that buckets of a rule whose name is
 * unchanged survive a ruleset swap on reload. It has its own mutex; every
 * function here is thread-safe. Time is a monotonic clock in milliseconds
 * passed in by the caller (dpp_ratelimit_now_ms() in production, a fake clock
 * in tests); the module never reads the clock itself otherwise.
 *
 * Bucket model: capacity `requests` tokens, refilled continuously at
 * `requests` per `period_ms`; a request takes one token. A request that finds
 * fewer than one token is refused; when the rule has a penalty, that refusal
 * also starts a lockout of `penalty_ms` during which every request is refused
 * (refusals during a lockout do not extend it). Tokens keep refilling during a
 * lockout. */
#ifndef DPP_RATELIMIT_H
#define DPP_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define DPP_RATELIMIT_RULE_MAX 64 /* bytes incl. NUL; rule names are shorter */
#define DPP_RATELIMIT_IP_MAX 64   /* bytes incl. NUL; INET6_ADDRSTRLEN + zone */
#define DPP_RATELIMIT_BUCKETS_MAX (1u << 20)

struct dpp_ratelimit; /* opaque */

/* One bucket as seen at snapshot time (a copy; owns nothing). */
struct dpp_ratelimit_state {
	char rule[DPP_RATELIMIT_RULE_MAX];
	char ip[DPP_RATELIMIT_IP_MAX];
	double tokens;                 /* refilled up to the snapshot time */
	uint32_t capacity;             /* `requests` of the last take */
	uint64_t period_ms;            /* `period` of the last take */
	uint64_t penalty_remaining_ms; /* 0 when not locked out */
	uint64_t idle_ms;              /* since the last take */
	uint64_t refused;              /* requests this bucket refused (the console's Limits view) */
};

/* Creates an empty table holding at most max_buckets buckets
 * (1..DPP_RATELIMIT_BUCKETS_MAX). When full, a new key evicts the least
 * recently used bucket that is idle (refilled to capacity and not locked out,
 * so nothing is lost); if none is idle, the least recently used bucket.
 * Returns NULL on bad size or allocation failure. Free with dpp_ratelimit_free. */
struct dpp_ratelimit *dpp_ratelimit_create(size_t max_buckets);

/* Frees the table. NULL is ignored. No other thread may use it any more. */
void dpp_ratelimit_free(struct dpp_ratelimit *rl);

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t dpp_ratelimit_now_ms(void);

/* Takes one token from the bucket (rule, ip), creating it full on first use.
 * requests >= 1 and period_ms >= 1 are the rule's current parameters (a bucket
 * whose rule changed them keeps its tokens, capped at the new capacity);
 * penalty_ms may be 0. ip may be "" (no client address).
 * Returns 1 when allowed, 0 when refused (then *retry_after_ms, if not NULL,
 * is the wait until a request can succeed: >= 1), -1 on bad arguments (NULL,
 * zero parameters, rule or ip too long) or allocation failure. */
int dpp_ratelimit_take(struct dpp_ratelimit *rl, const char *rule, const char *ip,
		       uint32_t requests, uint64_t period_ms, uint64_t penalty_ms,
		       uint64_t now_ms, uint64_t *retry_after_ms);

/* Copies every bucket, sorted by rule then ip, into *out (malloc'd array,
 * caller frees with free(); NULL when empty) and its length into *n.
 * Returns 0, or -1 on allocation failure (*out = NULL, *n = 0). */
int dpp_ratelimit_snapshot(struct dpp_ratelimit *rl, uint64_t now_ms,
			   struct dpp_ratelimit_state **out, size_t *n);

/* Drops the buckets whose rule is not in rules[0..n) (after a reload removed
 * or renamed rules). Returns the number of buckets dropped. */
size_t dpp_ratelimit_retain(struct dpp_ratelimit *rl, const char *const *rules, size_t n);

/* Number of buckets now, and evictions since creation (either may be NULL). */
void dpp_ratelimit_stats(struct dpp_ratelimit *rl, size_t *count, uint64_t *evictions);

#endif
