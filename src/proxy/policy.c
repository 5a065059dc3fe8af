/* Evaluates a compiled ruleset against one request (docs/rules.md).
 * Pure: reads the immutable ruleset and the borrowed request view; the only
 * shared state touched is the rate limiter (its own mutex). Any internal
 * error becomes a deny 500: fail closed. */
#include "rules_impl.h"
#include "dispatch.h"
#include "dpp/body.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define HEADER_JOIN_MAX (64 * 1024) /* joined value of a repeated header */

static const char *const ROLE_ADMIN = "admin";

/* The rules to visit, in order: every rule (linear), or the dispatch's
 * candidates (dispatch.h: the same decisions, most rules never visited). */
struct walk {
	uint64_t *bits; /* NULL: linear */
	size_t words, w, next;
	uint64_t cur;
};

struct ev {
	const struct dpp_ruleset *rs;
	const struct dpp_request_view *req;
	pcre2_match_data *md; /* created on the first regex test */
	char *hbuf;           /* joined header value */
	const char *error;    /* static text of the first internal error */
	/* Body values already looked up in this evaluation, by the field's
	 * label (the body does not change while rules are walked; hundreds of
	 * rules may test the same field). Only paths without "*". */
	struct {
		const char *label;
		const cJSON *v; /* NULL: absent */
	} memo[16];
	size_t n_memo;
	/* client_ip parsed once for CIDR tests: 0 not yet, 1 parsed, -1 not an
	 * address (no block contains it). */
	int ip_state;
	struct dpp_cidr ip;
	const struct dpp_policy_tracer *trace; /* explain; NULL in the proxy */
	/* Results of shared leaves (rule_cond.memo_slot): 0 not yet, else
	 * 1 + result. Set whenever there is no tracer (eval_fast's case);
	 * NULL with one (explain reports every test with the value it read). */
	uint8_t *lmemo;
	/* The dispatch walk (NULL: linear) and the rule being evaluated:
	 * a shared leaf found false takes the later rules it decides out of
	 * the walk (rules_impl.h, kill_start). */
	struct walk *wk;
	size_t cur;
};

static int fail(struct ev *ev, const char *why)
{
	if (ev->error == NULL)
		ev->error = why;
	return -1;
}

/* The value of header `name`; repeated fields joined with ", " (RFC 9110
 * 5.3). Returns 0 with *out (NULL when absent), or -1. */
static int header_get(struct ev *ev, const char *name, const char **out)
{
	const struct dpp_request_view *req = ev->req;
	size_t i, count = 0, len = 0, first = 0;
	char *p;

	*out = NULL;
	for (i = 0; i < req->n_headers; i++) {
		if (req->headers[i].name == NULL || req->headers[i].value == NULL ||
		    strcasecmp(req->headers[i].name, name) != 0)
			continue;
		if (count++ == 0)
			first = i;
		len += strlen(req->headers[i].value) + 2;
		if (len > HEADER_JOIN_MAX)
			return fail(ev, "repeated header too long");
	}
	if (count <= 1) {
		if (count == 1)
			*out = req->headers[first].value;
		return 0;
	}
	free(ev->hbuf);
	ev->hbuf = malloc(len + 1);
	if (ev->hbuf == NULL)
		return fail(ev, "out of memory");
	p = ev->hbuf;
	for (i = first; i < req->n_headers; i++) {
		size_t n;

		if (req->headers[i].name == NULL || req->headers[i].value == NULL ||
		    strcasecmp(req->headers[i].name, name) != 0)
			continue;
		if (p != ev->hbuf) {
			memcpy(p, ", ", 2);
			p += 2;
		}
		n = strlen(req->headers[i].value);
		memcpy(p, req->headers[i].value, n);
		p += n;
	}
	*p = '\0';
	*out = ev->hbuf;
	return 0;
}

static const char *nonempty(const char *s)
{
	return s != NULL && *s != '\0' ? s : NULL;
}

static int field_string(struct ev *ev, const struct rule_cond *cd, const char **out)
{
	const struct dpp_request_view *req = ev->req;

	*out = NULL;
	switch (cd->field) {
	case FIELD_PATH: *out = req->path; break;
	case FIELD_METHOD: *out = req->method; break;
	case FIELD_ENDPOINT: *out = req->endpoint; break;
	case FIELD_HEADER: return header_get(ev, cd->name, out);
	case FIELD_QUERY:
		if (req->query_get != NULL)
			*out = req->query_get(req->query_ctx, cd->name);
		break;
	case FIELD_CLIENT_IP: *out = nonempty(req->client_ip); break;
	case FIELD_ROLE: *out = nonempty(req->role); break;
	case FIELD_IDENTITY: *out = nonempty(req->identity); break;
	case FIELD_BODY: return fail(ev, "body field read as string");
	}
	return 0;
}

/* JIT compilations of rule regexes, each done once at its first match
 * (rules_impl.h): rare, so one lock for all. */
static pthread_mutex_t jit_lock = PTHREAD_MUTEX_INITIALIZER;

static void jit_once(const struct rule_cond *cd)
{
	struct rule_cond *w = (struct rule_cond *)cd; /* the one mutable field */

	if (pthread_mutex_lock(&jit_lock) != 0)
		return; /* not compiled: the interpreter runs the same pattern */
	if (atomic_load_explicit(&w->jit_done, memory_order_relaxed) == 0) {
		/* JIT is an optimisation only: without it (unsupported CPU,
		 * no executable memory) the interpreter runs the same pattern. */
		(void)pcre2_jit_compile(w->re, PCRE2_JIT_COMPLETE);
		atomic_store_explicit(&w->jit_done, 1, memory_order_release);
	}
	pthread_mutex_unlock(&jit_lock);
}

static int re_match(struct ev *ev, const struct rule_cond *cd, const char *s, size_t len)
{
	int rc;

	if (atomic_load_explicit(&cd->jit_done, memory_order_acquire) == 0)
		jit_once(cd);

	if (ev->md == NULL) {
		ev->md = pcre2_match_data_create(1, NULL);
		if (ev->md == NULL)
			return fail(ev, "out of memory");
	}
	rc = pcre2_match(cd->re, (PCRE2_SPTR)s, len, 0, 0, ev->md, ev->rs->mctx);
	if (rc >= 0)
		return 1; /* 0: matched, ovector too small (we need none) */
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	switch (rc) {
	case PCRE2_ERROR_MATCHLIMIT:
	case PCRE2_ERROR_DEPTHLIMIT:
	case PCRE2_ERROR_HEAPLIMIT:
	case PCRE2_ERROR_JIT_STACKLIMIT:
		return fail(ev, "regex match limit exceeded");
	case PCRE2_ERROR_NOMEMORY:
		return fail(ev, "out of memory");
	default:
		return fail(ev, "regex match error");
	}
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return m <= n && memcmp(s + n - m, suffix, m) == 0;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* dpp_cidr_match(block, s) for the client_ip field s, parsing s once per
 * evaluation (a CIDR operand exists only for client_ip). */
static bool client_ip_in(struct ev *ev, const struct dpp_cidr *block, const char *s)
{
	if (s != ev->req->client_ip)
		return dpp_cidr_match(block, s);
	if (ev->ip_state == 0)
		ev->ip_state = dpp_cidr_addr_parse(s, &ev->ip) == 0 ? 1 : -1;
	return ev->ip_state == 1 && dpp_cidr_contains(block, &ev->ip);
}

/* Positive test on a string field; s NULL = absent. 1, 0 or -1. */
static int test_string(struct ev *ev, const struct rule_cond *cd, const char *s)
{
	const cJSON *v;
	size_t i = 0;

	if (cd->test == TEST_EXISTS)
		return s != NULL;
	if (s == NULL)
		return 0;
	switch (cd->test) {
	case TEST_EQUALS:
		cJSON_ArrayForEach(v, cd->vals) {
			if (cd->cidrs != NULL ? client_ip_in(ev, &cd->cidrs[i], s)
					      : strcmp(s, v->valuestring) == 0)
				return 1;
			i++;
		}
		return 0;
	case TEST_CONTAINS: return strstr(s, cd->vals->child->valuestring) != NULL;
	case TEST_STARTS_WITH: return starts_with(s, cd->vals->child->valuestring);
	case TEST_ENDS_WITH: return ends_with(s, cd->vals->child->valuestring);
	case TEST_MATCHES: return re_match(ev, cd, s, strlen(s));
	case TEST_EXISTS: break;
	}
	return fail(ev, "bad test");
}

/* Positive test on one body value j (JSON of any type; NULL = absent). */
static int test_body_value(struct ev *ev, const struct rule_cond *cd, const cJSON *j)
{
	const cJSON *e, *v;
	const char *want;

	if (cd->test == TEST_EXISTS)
		return j != NULL && !cJSON_IsNull(j);
	if (j == NULL)
		return 0;
	v = cd->vals->child;
	want = cJSON_IsString(v) ? v->valuestring : NULL;
	switch (cd->test) {
	case TEST_EQUALS:
		cJSON_ArrayForEach(v, cd->vals) {
			/* cJSON_Compare is false for different types: skip the call */
			if ((j->type & 0xFF) == (v->type & 0xFF) && cJSON_Compare(j, v, 1))
				return 1;
		}
		return 0;
	case TEST_CONTAINS:
		if (cJSON_IsString(j))
			return want != NULL && strstr(j->valuestring, want) != NULL;
		if (cJSON_IsArray(j)) {
			cJSON_ArrayForEach(e, j) {
				if (cJSON_Compare(e, v, 1) ||
				    (want != NULL && cJSON_IsString(e) &&
				     strstr(e->valuestring, want) != NULL))
					return 1;
			}
			return 0;
		}
		if (cJSON_IsObject(j))
			return want != NULL && cJSON_GetObjectItemCaseSensitive(j, want) != NULL;
		return 0;
	case TEST_STARTS_WITH:
	case TEST_ENDS_WITH:
		if (cJSON_IsString(j))
			return cd->test == TEST_STARTS_WITH ? starts_with(j->valuestring, want)
							    : ends_with(j->valuestring, want);
		if (cJSON_IsArray(j)) {
			cJSON_ArrayForEach(e, j) {
				if (cJSON_IsString(e) &&
				    (cd->test == TEST_STARTS_WITH ? starts_with(e->valuestring, want)
								  : ends_with(e->valuestring, want)))
					return 1;
			}
		}
		return 0;
	case TEST_MATCHES:
		if (cJSON_IsString(j)) {
			return re_match(ev, cd, j->valuestring, strlen(j->valuestring));
		} else {
			/* keys in Docker's spelling, numbers as sent (body.h) */
			char *text = dpp_body_text(j);
			int rc;

			if (text == NULL)
				return fail(ev, "out of memory");
			rc = re_match(ev, cd, text, strlen(text));
			free(text);
			return rc;
		}
	case TEST_EXISTS: break;
	}
	return fail(ev, "bad test");
}

/* Without body_each: the positive test over every concrete path that
 * segs[0..n) names, through body_get: a "*"
 * segment stands for each element of an array and each member of an object
 * (lookups by a member's own key find that member: keys are unique under
 * EqualFold in structs and exact in maps). Holds when any concrete path
 * satisfies it, so `exists` holds when any element has the path; with no "*"
 * this is the one lookup. from: first segment not yet expanded. */
static int body_any(struct ev *ev, const struct rule_cond *cd, const char **segs, size_t n,
		    size_t from, char (*idx)[12])
{
	const struct dpp_request_view *req = ev->req;
	const cJSON *parent, *c;
	size_t k, i = 0;
	int r;

	for (k = from; k < n && strcmp(cd->segs[k], "*") != 0; k++)
		;
	if (req->body_get == NULL)
		return test_body_value(ev, cd, NULL);
	if (k == n)
		return test_body_value(ev, cd, req->body_get(req->body_ctx, segs, n));
	parent = req->body_get(req->body_ctx, segs, k);
	if (!cJSON_IsArray(parent) && !cJSON_IsObject(parent))
		return 0; /* no element: no positive test holds */
	for (c = parent->child; c != NULL; c = c->next, i++) {
		if (cJSON_IsArray(parent)) {
			snprintf(idx[k], sizeof(idx[k]), "%zu", i);
			segs[k] = idx[k];
		} else if (c->string != NULL) {
			segs[k] = c->string;
		} else {
			continue;
		}
		r = body_any(ev, cd, segs, n, k + 1, idx);
		if (r != 0)
			return r; /* 1, or -1: an error is never read as "no match" */
	}
	return 0;
}

struct each_ctx {
	struct ev *ev;
	const struct rule_cond *cd;
};

/* body_each callback: 1 (holds: stop), 0 (go on) or -1 (error: stop). */
static int each_test(void *arg, const cJSON *v)
{
	struct each_ctx *x = arg;

	return test_body_value(x->ev, x->cd, v);
}

/* Positive test on a body field, "*" segments expanded: holds when the test
 * holds for any value the path names; with none, as for an absent field. */
static int capture_first(void *arg, const cJSON *v)
{
	*(const cJSON **)arg = v;
	return 1;
}

/* The one value a path without "*" names (as body_each or body_get gives
 * it), memoized per evaluation. Sets *found to 0 when the path has a "*"
 * (no memo). Returns 0, or -1 on error. */
static int memo_lookup(struct ev *ev, const struct rule_cond *cd, int *found, const cJSON **out)
{
	const struct dpp_request_view *req = ev->req;
	const cJSON *v = NULL;
	size_t i;

	const char *key = cd->body_key != NULL ? cd->body_key : cd->label;

	*found = 0;
	if (cd->has_star)
		return 0;
	/* Labels are interned (rules_impl.h): a pointer miss only costs a
	 * second lookup. */
	for (i = 0; i < ev->n_memo; i++) {
		if (ev->memo[i].label == key) {
			*found = 1;
			*out = ev->memo[i].v;
			return 0;
		}
	}
	if (req->body_each != NULL) {
		int r = req->body_each(req->body_ctx, (const char *const *)cd->segs, cd->n_segs,
				       capture_first, &v);

		if (r < 0)
			return r;
		if (r == 0)
			v = NULL;
	} else if (req->body_get != NULL) {
		v = req->body_get(req->body_ctx, (const char *const *)cd->segs, cd->n_segs);
	}
	if (ev->n_memo < sizeof(ev->memo) / sizeof(ev->memo[0])) {
		ev->memo[ev->n_memo].label = key;
		ev->memo[ev->n_memo].v = v;
		ev->n_memo++;
	}
	*found = 1;
	*out = v;
	return 0;
}

static int test_body(struct ev *ev, const struct rule_cond *cd)
{
	const struct dpp_request_view *req = ev->req;
	const char *segs[DPP_BODY_PATH_MAX_SEGMENTS];
	char idx[DPP_BODY_PATH_MAX_SEGMENTS][12];
	const cJSON *v = NULL;
	int found;

	if (cd->label != NULL && cd->n_segs <= DPP_BODY_PATH_MAX_SEGMENTS) {
		if (memo_lookup(ev, cd, &found, &v) < 0)
			return -1;
		if (found && req->body_each != NULL) {
			/* As below: the value's test, else the test on "absent". */
			int r = v != NULL ? test_body_value(ev, cd, v) : 0;

			return r != 0 ? r : test_body_value(ev, cd, NULL);
		}
		if (found)
			return test_body_value(ev, cd, v);
	}
	if (req->body_each != NULL) {
		struct each_ctx x = {ev, cd};
		int r = req->body_each(req->body_ctx, (const char *const *)cd->segs, cd->n_segs,
				       each_test, &x);

		return r != 0 ? r : test_body_value(ev, cd, NULL);
	}
	if (cd->n_segs > DPP_BODY_PATH_MAX_SEGMENTS)
		return fail(ev, "body path too long");
	for (size_t i = 0; i < cd->n_segs; i++)
		segs[i] = cd->segs[i];
	return body_any(ev, cd, segs, cd->n_segs, 0, idx);
}

/* --- trace (explain only; every call is behind `ev->trace != NULL`) --- */

static enum dpp_trace_node trace_node(enum cond_kind k)
{
	switch (k) {
	case COND_OR: return DPP_TRACE_ANY;
	case COND_NOT: return DPP_TRACE_NOT;
	case COND_LEAF: return DPP_TRACE_LEAF;
	case COND_AND: break;
	}
	return DPP_TRACE_ALL;
}

static void trace_cond(struct ev *ev, const struct rule_cond *cd, unsigned depth, int result,
		       const char *actual)
{
	struct dpp_trace_cond c = {.node = trace_node(cd->kind), .depth = depth, .result = result};

	if (ev->trace->cond == NULL)
		return;
	if (cd->kind == COND_LEAF) {
		const struct dpp_request_view *req = ev->req;
		size_t k;

		c.field = cd->label;
		c.op = dpp_rule_op_names[cd->op];
		c.operand = cd->vals;
		c.actual = actual;
		if (cd->field == FIELD_BODY && req->body_get != NULL && result != DPP_TRACE_SKIPPED) {
			for (k = 0; k < cd->n_segs && strcmp(cd->segs[k], "*") != 0; k++)
				;
			if (k == cd->n_segs)
				c.actual_json = req->body_get(req->body_ctx,
							      (const char *const *)cd->segs,
							      cd->n_segs);
		}
	}
	ev->trace->cond(ev->trace->ctx, &c);
}

/* Reports cd and everything under it as never evaluated. */
static void trace_skipped(struct ev *ev, const struct rule_cond *cd, unsigned depth)
{
	trace_cond(ev, cd, depth, DPP_TRACE_SKIPPED, NULL);
	for (size_t i = 0; cd->kind != COND_LEAF && i < cd->n_kids; i++)
		trace_skipped(ev, cd->kids[i], depth + 1);
}

static int eval_group(struct ev *ev, const struct rule_cond *cd, unsigned depth);

/* A leaf's result: 1, 0 or -1; *s the string field's value it read. */
static int eval_leaf(struct ev *ev, const struct rule_cond *cd, const char **s)
{
	int r;

	*s = NULL;
	if (cd->field == FIELD_BODY) {
		r = test_body(ev, cd);
	} else {
		if (field_string(ev, cd, s) < 0)
			r = -1;
		else
			r = test_string(ev, cd, *s);
	}
	if (r >= 0 && cd->negate)
		r = !r;
	return r;
}

/* Out of line: keeps quick_eq's common path free of register saves. */
static __attribute__((noinline)) int in_cidrs(struct ev *ev, const struct rule_cond *cd,
					      const char *s)
{
	for (size_t i = 0; i < cd->n_vals; i++) {
		if (client_ip_in(ev, &cd->cidrs[i], s))
			return 1;
	}
	return 0;
}

/* A `quick` leaf (rules_impl.h): test_string's equals on field_string's
 * value, without the general path. */
static int quick_eq(struct ev *ev, const struct rule_cond *cd)
{
	const struct dpp_request_view *req = ev->req;
	const char *s = NULL;
	const cJSON *v;
	int r = 0;

	switch (cd->field) {
	case FIELD_PATH: s = req->path; break;
	case FIELD_METHOD: s = req->method; break;
	case FIELD_ENDPOINT: s = req->endpoint; break;
	case FIELD_CLIENT_IP: s = nonempty(req->client_ip); break;
	case FIELD_ROLE: s = nonempty(req->role); break;
	case FIELD_IDENTITY: s = nonempty(req->identity); break;
	default: return fail(ev, "bad quick field");
	}
	if (s == NULL) {
		r = 0;
	} else if (cd->cidrs != NULL) {
		r = in_cidrs(ev, cd, s);
	} else if (cd->eq1 != NULL) {
		r = s[0] == cd->eq1[0] && strcmp(s, cd->eq1) == 0;
	} else {
		cJSON_ArrayForEach(v, cd->vals) {
			if (strcmp(s, v->valuestring) == 0) {
				r = 1;
				break;
			}
		}
	}
	return cd->negate ? !r : r;
}

static int eval_fast(struct ev *ev, const struct rule_cond *cd);

/* Slot's test is false: the later rules it decides (no match, and nothing
 * before it in their lists can fail) leave the walk. */
static void kill_rules(struct ev *ev, uint32_t slot)
{
	const struct dpp_ruleset *rs = ev->rs;
	struct walk *wk = ev->wk;

	for (uint32_t k = rs->kill_start[slot]; k < rs->kill_start[slot + 1]; k++) {
		uint32_t q = rs->kill_rules[k];
		size_t w = q / 64;
		uint64_t bit = 1ull << (q % 64);

		if (q <= ev->cur || w + 1 < wk->w)
			continue; /* visited already */
		if (w + 1 == wk->w)
			wk->cur &= ~bit; /* the word being walked */
		else
			wk->bits[w] &= ~bit;
	}
}

/* A leaf through the shared-leaf cache (an error is never cached: it ends
 * the evaluation). */
static int eval_leaf_cached(struct ev *ev, const struct rule_cond *cd)
{
	const char *s;
	int r;

	if (cd->memo_slot != 0) {
		uint8_t m = ev->lmemo[cd->memo_slot - 1];

		if (m != 0)
			return m - 1;
		r = cd->quick ? quick_eq(ev, cd) : eval_leaf(ev, cd, &s);
		if (r >= 0)
			ev->lmemo[cd->memo_slot - 1] = (uint8_t)(r + 1);
		if (r == 0 && ev->wk != NULL && ev->rs->kill_start != NULL)
			kill_rules(ev, cd->memo_slot - 1);
		return r;
	}
	return cd->quick ? quick_eq(ev, cd) : eval_leaf(ev, cd, &s);
}

/* One member of a group: leaves without a call to eval_fast. */
static inline int eval_kid(struct ev *ev, const struct rule_cond *cd)
{
	if (cd->kind != COND_LEAF)
		return eval_fast(ev, cd);
	if (cd->memo_slot != 0 && ev->lmemo[cd->memo_slot - 1] != 0)
		return ev->lmemo[cd->memo_slot - 1] - 1;
	if (cd->memo_slot == 0 && cd->quick)
		return quick_eq(ev, cd);
	return eval_leaf_cached(ev, cd);
}

/* eval_cond without a tracer: the same short-circuits and results, shared
 * leaves answered from the cache. */
static inline int eval_and(struct ev *ev, const struct rule_cond *cd)
{
	for (size_t i = 0; i < cd->n_kids; i++) {
		int r = eval_kid(ev, cd->kids[i]);

		if (r <= 0)
			return r;
	}
	return 1;
}

static int eval_fast(struct ev *ev, const struct rule_cond *cd)
{
	int r;

	switch (cd->kind) {
	case COND_LEAF:
		return eval_leaf_cached(ev, cd);
	case COND_AND:
		return eval_and(ev, cd);
	case COND_OR:
		for (size_t i = 0; i < cd->n_kids; i++) {
			r = eval_kid(ev, cd->kids[i]);
			if (r != 0)
				return r;
		}
		return 0;
	case COND_NOT:
		r = eval_kid(ev, cd->kids[0]);
		return r < 0 ? r : !r;
	}
	return fail(ev, "bad condition");
}

/* 1 when the condition holds, 0 when not, -1 on internal error (which
 * propagates at once: an error is never read as "no match"). depth only
 * feeds the trace. */
static int eval_cond(struct ev *ev, const struct rule_cond *cd, unsigned depth)
{
	const char *s = NULL;
	int r;

	if (ev->trace == NULL)
		return eval_fast(ev, cd);
	if (cd->kind != COND_LEAF) {
		trace_cond(ev, cd, depth, DPP_TRACE_PENDING, NULL);
		r = eval_group(ev, cd, depth);
		trace_cond(ev, cd, depth, r, NULL);
		return r;
	}
	r = eval_leaf(ev, cd, &s);
	trace_cond(ev, cd, depth, r < 0 ? -1 : r, s);
	return r;
}

static int eval_group(struct ev *ev, const struct rule_cond *cd, unsigned depth)
{
	size_t i;
	int r;

	switch (cd->kind) {
	case COND_AND:
	case COND_OR:
		for (i = 0; i < cd->n_kids; i++) {
			r = eval_cond(ev, cd->kids[i], depth + 1);
			/* AND stops at the first miss, OR at the first hit; both
			 * at an error. */
			if (cd->kind == COND_AND ? r <= 0 : r != 0) {
				while (ev->trace != NULL && ++i < cd->n_kids)
					trace_skipped(ev, cd->kids[i], depth + 1);
				return r;
			}
		}
		return cd->kind == COND_AND ? 1 : 0;
	case COND_NOT:
		r = eval_cond(ev, cd->kids[0], depth + 1);
		return r < 0 ? r : !r;
	case COND_LEAF:
		break;
	}
	return fail(ev, "bad condition");
}

/* The decision takes s (malloc'd). On failure s is freed and -1 returned. */
static int own(struct ev *ev, struct dpp_policy_decision *out, char *s)
{
	char **n = realloc(out->owned, (out->n_owned + 1) * sizeof(*n));

	if (n == NULL) {
		free(s);
		return fail(ev, "out of memory");
	}
	out->owned = n;
	out->owned[out->n_owned++] = s;
	return 0;
}

/* A preset rule: 1 when one of its vectors matches, with *msg the message
 * (owned by out): the vector's, after the rule's own message when it has
 * one. 0 when none matches, -1 on error. */
static int preset_denies(struct ev *ev, struct dpp_policy_decision *out, const struct rule *r,
			 const char **msg)
{
	char *m = NULL, *full;
	int pr = preset_eval(r->preset, ev->req, &m);

	if (pr < 0)
		return fail(ev, "out of memory");
	if (pr == 0)
		return 0;
	if (r->message_set) {
		size_t n = strlen(r->message) + strlen(m) + 4;

		full = malloc(n);
		if (full == NULL) {
			free(m);
			return fail(ev, "out of memory");
		}
		snprintf(full, n, "%s (%s)", r->message, m);
		free(m);
		m = full;
	}
	if (own(ev, out, m) < 0)
		return -1;
	*msg = m;
	return 1;
}

static int record_dry_run(struct ev *ev, struct dpp_policy_decision *out, const struct rule *r,
			  const char *message)
{
	if (out->dry_run == NULL) {
		/* One block: names, then actions, then messages. */
		out->dry_run = calloc(3 * ev->rs->n_rules, sizeof(*out->dry_run));
		if (out->dry_run == NULL)
			return fail(ev, "out of memory");
		out->dry_run_actions = out->dry_run + ev->rs->n_rules;
		out->dry_run_messages = out->dry_run + 2 * ev->rs->n_rules;
	}
	out->dry_run_actions[out->n_dry_run] = dpp_rule_action_names[r->action];
	out->dry_run_messages[out->n_dry_run] = message;
	out->dry_run[out->n_dry_run++] = r->name;
	return 0;
}

static int add_filters(struct ev *ev, struct dpp_policy_decision *out, const struct rule *r)
{
	if (out->filters == NULL) {
		out->filters = calloc(ev->rs->n_filters_total, sizeof(*out->filters));
		if (out->filters == NULL)
			return fail(ev, "out of memory");
	}
	memcpy(out->filters + out->n_filters, r->filters, r->n_filters * sizeof(*r->filters));
	out->n_filters += r->n_filters;
	return 0;
}

static void deny(struct dpp_policy_decision *out, int status, const char *message,
		 const struct rule *rule)
{
	out->verdict = DPP_POLICY_DENY;
	out->status = status;
	out->message = message;
	out->rule = rule != NULL ? rule->name : NULL;
	out->rule_action = rule != NULL ? dpp_rule_action_names[rule->action] : NULL;
	out->n_filters = 0; /* no upstream response to filter */
}

static bool role_ok(const struct rule *r, const char *role)
{
	return role != NULL && *role != '\0' &&
	       (strcmp(role, ROLE_ADMIN) == 0 || strcmp(role, r->role) == 0);
}

static bool walk_next(struct walk *wk, size_t n_rules, size_t *i)
{
	if (wk->bits == NULL) {
		if (wk->next >= n_rules)
			return false;
		*i = wk->next++;
		return true;
	}
	while (wk->cur == 0) {
		if (wk->w >= wk->words)
			return false;
		wk->cur = wk->bits[wk->w++];
	}
	*i = (wk->w - 1) * 64 + (size_t)__builtin_ctzll(wk->cur);
	wk->cur &= wk->cur - 1;
	return true;
}

/* Next trace slot for rule i, or NULL when the trace is full. */
static struct dpp_policy_trace_rule *trace_add(struct dpp_policy_trace *t, size_t i)
{
	struct dpp_policy_trace_rule *tr;

	if (t->n >= DPP_POLICY_TRACE_RULES) {
		t->truncated = 1;
		return NULL;
	}
	tr = &t->r[t->n++];
	memset(tr, 0, sizeof(*tr));
	tr->rule = (uint16_t)(i > UINT16_MAX ? UINT16_MAX : i);
	return tr;
}

/* The rule's conditions (an AND of the top-level list), evaluated one by
 * one so the trace can say which held; same short-circuit and the same
 * result as eval_cond on the whole AND. */
static int match_traced(struct ev *ev, const struct rule *r, struct dpp_policy_trace_rule *tr)
{
	const struct rule_cond *m = r->match;
	int res;

	if (m == NULL)
		return 1;
	if (tr == NULL || m->kind != COND_AND)
		return eval_cond(ev, m, 0);
	tr->n_conds = (uint16_t)(m->n_kids > UINT16_MAX ? UINT16_MAX : m->n_kids);
	for (size_t k = 0; k < m->n_kids; k++) {
		res = eval_cond(ev, m->kids[k], 1);
		if (k < UINT16_MAX)
			tr->n_evaluated = (uint16_t)(k + 1);
		if (res < 0)
			return res;
		if (res == 0)
			return 0;
		if (k < DPP_POLICY_TRACE_CONDS)
			tr->held |= 1u << k;
	}
	return 1;
}

static void stat_hit(const struct dpp_ruleset *rs, size_t i, uint64_t now_ms)
{
	atomic_fetch_add_explicit(&rs->stats[i].hits, 1, memory_order_relaxed);
	atomic_store_explicit(&rs->stats[i].last_hit_ms, now_ms > 0 ? now_ms : 1,
			      memory_order_relaxed);
}

static int evaluate(const struct dpp_ruleset *rs, const struct dpp_request_view *req,
		    struct dpp_ratelimit *rl, uint64_t now_ms, const struct dpp_policy_tracer *trace,
		    struct dpp_policy_decision *out, bool linear);

int dpp_policy_evaluate(const struct dpp_ruleset *rs, const struct dpp_request_view *req,
			struct dpp_ratelimit *rl, uint64_t now_ms,
			struct dpp_policy_decision *out)
{
	return dpp_policy_evaluate_traced(rs, req, rl, now_ms, NULL, out);
}

#define TRACE_DONE(m, what)                                                    \
	do {                                                                   \
		if (trace != NULL && trace->rule_done != NULL)                 \
			trace->rule_done(trace->ctx, (m), (what));             \
	} while (0)

/* explain's tracer reports every rule: with one, the walk is linear. */
int dpp_policy_evaluate_traced(const struct dpp_ruleset *rs, const struct dpp_request_view *req,
			       struct dpp_ratelimit *rl, uint64_t now_ms,
			       const struct dpp_policy_tracer *trace,
			       struct dpp_policy_decision *out)
{
	return evaluate(rs, req, rl, now_ms, trace, out, trace != NULL);
}

int dpp_policy_evaluate_linear(const struct dpp_ruleset *rs, const struct dpp_request_view *req,
			       struct dpp_ratelimit *rl, uint64_t now_ms,
			       struct dpp_policy_decision *out)
{
	return evaluate(rs, req, rl, now_ms, NULL, out, true);
}

static int evaluate(const struct dpp_ruleset *rs, const struct dpp_request_view *req,
		    struct dpp_ratelimit *rl, uint64_t now_ms, const struct dpp_policy_tracer *trace,
		    struct dpp_policy_decision *out, bool linear)
{
	struct ev ev = {.rs = rs, .req = req, .trace = trace};
	uint8_t lmemo[LEAF_MEMO_MAX];
	const struct rule *r = NULL;
	struct dpp_policy_trace_rule *tr = NULL;
	uint64_t wait_ms = 0;
	uint64_t bits[DPP_DISPATCH_WORDS];
	struct walk wk = {0};
	size_t i;
	int m, rc = -1;

	memset(out, 0, sizeof(*out));
	out->verdict = DPP_POLICY_ALLOW;
	if (rs == NULL || req == NULL) {
		fail(&ev, "no ruleset or request");
		goto cleanup;
	}
	out->trace.ruleset_id = rs->id;
	if (trace == NULL) { /* eval_fast runs only then, and relies on it */
		memset(lmemo, 0, rs->n_memo_slots);
		ev.lmemo = lmemo;
	}
	if (!linear && rs->dispatch != NULL) {
		wk.words = dpp_dispatch_candidates(rs->dispatch, req->path, req->method, bits);
		wk.bits = bits;
		if (trace == NULL)
			ev.wk = &wk;
	}
	while (walk_next(&wk, rs->n_rules, &i)) {
		bool denies = false;
		int status = 403;
		const char *message;

		r = rs->rules[i];
		ev.cur = i;
		tr = trace_add(&out->trace, i);
		if (trace != NULL && trace->rule != NULL)
			trace->rule(trace->ctx, i, r->name, dpp_rule_action_names[r->action],
				    r->dry_run);
		/* explain's callbacks see the whole condition tree; the console's
		 * bounded record keeps the top-level list. */
		if (trace != NULL)
			m = r->match != NULL ? eval_cond(&ev, r->match, 0) : 1;
		else if (tr == NULL)
			m = r->match == NULL		 ? 1
			    : r->match->kind == COND_AND ? eval_and(&ev, r->match)
							 : eval_fast(&ev, r->match);
		else
			m = match_traced(&ev, r, tr);
		if (m < 0) {
			TRACE_DONE(-1, "internal error: denied with 500");
			goto cleanup;
		}
		if (m == 0) {
			TRACE_DONE(0, "no match: next rule");
			continue;
		}
		message = r->message;
		stat_hit(rs, i, now_ms);
		if (tr != NULL)
			tr->outcome = DPP_TRACE_MATCHED;
		switch (r->action) {
		case ACTION_ALLOW:
			out->rule = r->name;
			out->rule_action = dpp_rule_action_names[r->action];
			if (tr != NULL)
				tr->outcome = DPP_TRACE_ALLOWED;
			TRACE_DONE(1, "allowed: evaluation stops");
			rc = 0;
			goto cleanup;
		case ACTION_DENY:
			if (r->preset != NULL) {
				m = preset_denies(&ev, out, r, &message);
				if (m < 0)
					goto cleanup;
				if (m == 0) {
					if (tr != NULL)
						tr->outcome = DPP_TRACE_NO_MATCH;
					TRACE_DONE(0, "preset: no vector applies: next rule");
					continue;
				}
			}
			denies = true;
			status = r->status;
			break;
		case ACTION_REQUIRE_ROLE:
			denies = !role_ok(r, req->role);
			status = r->status;
			break;
		case ACTION_RATE_LIMIT:
			if (rl == NULL) {
				fail(&ev, "no rate limiter");
				goto cleanup;
			}
			m = dpp_ratelimit_take(rl, r->name,
					       req->client_ip != NULL ? req->client_ip : "",
					       r->requests, r->period_ms, r->penalty_ms, now_ms,
					       &wait_ms);
			if (m < 0) {
				fail(&ev, "rate limiter error");
				TRACE_DONE(-1, "internal error (rate limiter): denied with 500");
				goto cleanup;
			}
			denies = m == 0;
			status = r->status; /* 429 unless the rule says otherwise */
			break;
		case ACTION_RESPONSE_FILTER:
			if (add_filters(&ev, out, r) < 0)
				goto cleanup;
			break;
		}
		if (!denies) {
			TRACE_DONE(1, r->action == ACTION_REQUIRE_ROLE  ? "role accepted: next rule"
				      : r->action == ACTION_RATE_LIMIT ? "within the rate limit: next rule"
				      : r->action == ACTION_RESPONSE_FILTER
					      ? "response filters added: next rule"
					      : "next rule");
			continue;
		}
		if (r->dry_run) {
			if (record_dry_run(&ev, out, r, message) < 0)
				goto cleanup;
			atomic_fetch_add_explicit(&rs->stats[i].dry_runs, 1, memory_order_relaxed);
			if (tr != NULL)
				tr->outcome = DPP_TRACE_DRY_RUN;
			TRACE_DONE(1, "dry run: would have denied; next rule");
			continue;
		}
		atomic_fetch_add_explicit(&rs->stats[i].denials, 1, memory_order_relaxed);
		if (tr != NULL)
			tr->outcome = DPP_TRACE_DENIED;
		TRACE_DONE(1, r->action == ACTION_REQUIRE_ROLE  ? "role missing or not accepted: denied"
			      : r->action == ACTION_RATE_LIMIT ? "rate limit exceeded: denied"
							       : "denied: evaluation stops");
		deny(out, status, message, r);
		if (r->action == ACTION_RATE_LIMIT)
			out->retry_after = (uint32_t)((wait_ms + 999) / 1000);
		rc = 0;
		goto cleanup;
	}
	r = NULL;
	if (rs->default_verdict == DPP_POLICY_DENY)
		deny(out, 403, "denied by default policy", NULL);
	rc = 0;
cleanup:
	if (rc < 0) {
		if (tr != NULL && r != NULL)
			tr->outcome = DPP_TRACE_ERROR;
		deny(out, 500, "internal error while evaluating policy", r);
		out->error = ev.error != NULL ? ev.error : "internal error";
	}
	pcre2_match_data_free(ev.md);
	free(ev.hbuf);
	return rc;
}

void dpp_policy_decision_done(struct dpp_policy_decision *d)
{
	if (d == NULL)
		return;
	free(d->dry_run);
	free(d->filters);
	for (size_t i = 0; i < d->n_owned; i++)
		free(d->owned[i]);
	free(d->owned);
	memset(d, 0, sizeof(*d));
}

const char *dpp_policy_verdict_name(enum dpp_policy_verdict verdict)
{
	return verdict == DPP_POLICY_DENY ? "deny" : "allow";
}

const char *dpp_filter_action_name(enum dpp_filter_action action)
{
	switch (action) {
	case DPP_FILTER_REDACT: return "redact";
	case DPP_FILTER_REMOVE: return "remove";
	case DPP_FILTER_REPLACE: return "replace";
	}
	return "?";
}
