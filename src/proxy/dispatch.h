/* Rule dispatch: an index over a compiled ruleset that names, for one request,
 * the rules that can possibly match it, in evaluation order, so a large
 * ruleset is not walked rule by rule. Internal to the proxy core.
 *
 * Exactness. A rule is left out for a request only when a linear walk would
 * have found it not matching without side effects or errors: its conditions
 * list (an AND, evaluated in order, stopping at the first false) has a
 * positive literal test on the path (equals, in, starts_with, or matches with
 * an anchored literal prefix) or on the method (equals, in), and every
 * condition before that test cannot fail (no regex, header or body test; see
 * dispatch.c). Every other rule is always a candidate. The candidates come out
 * in ascending rule order, so evaluation order is unchanged.
 *
 * Threads: built once with the ruleset, immutable afterwards; any number of
 * threads may query it at once. */
#ifndef DPP_DISPATCH_H
#define DPP_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "rules_impl.h"
#include "rules_yaml.h"

#define DPP_DISPATCH_WORDS ((DPP_RULES_MAX + 63) / 64)

struct dpp_dispatch;

/* Builds the index of rules[0..n) (n <= DPP_RULES_MAX). Returns NULL on
 * allocation failure (the caller then walks linearly: same decisions). The
 * rules must outlive the index. Free with dpp_dispatch_free (NULL ignored). */
struct dpp_dispatch *dpp_dispatch_build(struct rule *const *rules, size_t n);
void dpp_dispatch_free(struct dpp_dispatch *d);

/* Candidate rules for one request, as a bitmap over rule positions (bit i of
 * word i/64: rule i may match). path and method may be NULL (absent). Fills
 * bits[0..words) and returns words (ceil(n/64)). */
size_t dpp_dispatch_candidates(const struct dpp_dispatch *d, const char *path,
			       const char *method, uint64_t bits[DPP_DISPATCH_WORDS]);

/* Rules that are path- or method-indexed (for tests and benchmarks). */
size_t dpp_dispatch_indexed(const struct dpp_dispatch *d);

/* True when evaluating cd can never fail (return -1): no regex, no header
 * (joining repeated fields allocates), no body. */
bool dpp_dispatch_infallible(const struct rule_cond *cd);

#endif
