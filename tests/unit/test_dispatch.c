/* The rule dispatch index (src/proxy/dispatch.c) decides exactly like a
 * linear walk: randomized rule sets of every shape the index looks at (path
 * equals / in / starts_with / anchored regex, method equals / in, conditions
 * before them that can or cannot fail, negations, groups, priorities,
 * actions), evaluated on random requests both ways, must give the same
 * verdict, status, deciding rule, dry-run list and response filters. Also
 * checks that the index does skip rules (or it proves nothing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "dispatch.h"
#include "dpp/body.h"
#include "policy_fixture.h"
#include "rules_impl.h"

static const char *const PATHS[] = {
	"/containers/json", "/containers/create", "/containers/abc/start", "/containers/abc/exec",
	"/containers", "/containersx/json", "/images/json", "/images/img12/push", "/volumes",
	"/volumes/vol3", "/volumes/vol30/x", "/networks/net1", "/exec/e1/start", "/_ping",
	"/", "", "/secrets/s1", "/v/x", "/info", "/system/df",
};
static const char *const PREFIXES[] = {
	"/containers", "/containers/", "/containers/create", "/containers/abc", "/volumes/vol3",
	"/volumes", "/images/img1", "/", "/exec/", "/_ping", "/secrets", "/info", "/system/df",
	"/nope", "",
};
static const char *const REGEXES[] = {
	"^/containers/[^/]+/start$", "^/volumes/vol3(/|$)", "^/images/img1[0-9]*/push$",
	"^/containersx?/json$", "^/exec/.*", "^/secrets|^/info", "^/a+", "^/containers/abc/(start|exec)$",
	"/json$", "^/[a-z]+$", "^/v(/x)?$", "^/system/df$",
};
static const char *const METHODS[] = {"GET", "POST", "DELETE", "PUT", "HEAD", "PATCH", "get",
				      "PROPFIND"};
static const char *const IPS[] = {"127.0.0.1", "10.1.2.3", "::1", "::ffff:10.1.2.3", "", "bogus"};
static const char *const ROLES[] = {"admin", "ops", "", "readonly"};

static unsigned rng_state;

static unsigned rnd(unsigned n)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return (rng_state >> 8) % n;
}

#define PICK(a) (a)[rnd(sizeof(a) / sizeof((a)[0]))]

struct buf {
	char *s;
	size_t len, cap;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if ((size_t)n < b->cap - b->len)
			break;
		b->cap = (b->cap + (size_t)n) * 2;
		b->s = realloc(b->s, b->cap);
		assert_non_null(b->s);
	}
	b->len += (size_t)n;
}

static void leaf(struct buf *b)
{
	switch (rnd(14)) {
	case 0:
		put(b, "{field: path, operator: equals, value: '%s'}", PICK(PATHS));
		break;
	case 1:
		put(b, "{field: path, operator: in, value: ['%s', '%s']}", PICK(PATHS), PICK(PATHS));
		break;
	case 2:
		put(b, "{field: path, operator: starts_with, value: '%s'}", PICK(PREFIXES));
		break;
	case 3:
		put(b, "{field: path, operator: matches, value: '%s'}", PICK(REGEXES));
		break;
	case 4:
		put(b, "{field: path, operator: %s, value: '%s'}",
		    rnd(2) ? "not_equals" : "not_matches", rnd(2) ? PICK(PATHS) : PICK(REGEXES));
		break;
	case 5:
		put(b, "{field: method, operator: equals, value: %s}", PICK(METHODS));
		break;
	case 6:
		put(b, "{field: method, operator: in, value: [%s, %s]}", PICK(METHODS), PICK(METHODS));
		break;
	case 7:
		put(b, "{field: method, operator: not_equals, value: %s}", PICK(METHODS));
		break;
	case 8:
		put(b, "{field: client_ip, operator: %s, value: ['10.0.0.0/8', '::1/128']}",
		    rnd(2) ? "in" : "not_in");
		break;
	case 9:
		put(b, "{field: role, operator: equals, value: '%s'}", PICK(ROLES));
		break;
	case 10:
		put(b, "{field: header.User-Agent, operator: contains, value: '%s'}",
		    rnd(2) ? "docker" : "curl");
		break;
	case 11:
		put(b, "{field: body.HostConfig.Privileged, operator: equals, value: %s}",
		    rnd(2) ? "true" : "false");
		break;
	case 12:
		put(b, "{field: query.all, operator: exists}");
		break;
	default:
		put(b, "{field: endpoint, operator: equals, value: '/containers/{name}/start'}");
		break;
	}
}

static void cond(struct buf *b, int depth)
{
	if (depth < 2 && rnd(6) == 0) {
		put(b, "{%s: [", rnd(3) == 0 ? "not" : rnd(2) ? "or" : "and");
		cond(b, depth + 1);
		put(b, ", ");
		cond(b, depth + 1);
		put(b, "]}");
		return;
	}
	leaf(b);
}

static char *random_rules(int n)
{
	static const char *const actions[] = {"deny", "deny", "deny", "allow", "require_role",
					      "rate_limit", "response_filter"};
	struct buf b = {malloc(4096), 0, 4096};

	assert_non_null(b.s);
	b.s[0] = '\0';
	put(&b, "rules:\n");
	for (int i = 0; i < n; i++) {
		const char *a = PICK(actions);
		int nc = 1 + (int)rnd(3);

		put(&b, "  - name: r%d\n    action: %s\n", i, a);
		if (rnd(4) == 0)
			put(&b, "    priority: %d\n", (int)rnd(3));
		if (rnd(6) == 0 && strcmp(a, "response_filter") != 0 && strcmp(a, "allow") != 0)
			put(&b, "    dry_run: true\n");
		if (strcmp(a, "rate_limit") == 0)
			put(&b, "    rate_limit: {requests: %d, period: 60}\n", 1 + (int)rnd(3));
		if (strcmp(a, "response_filter") == 0)
			put(&b, "    response_filter: [{field: Config.Env, action: redact}]\n");
		if (strcmp(a, "require_role") == 0)
			put(&b, "    role: ops\n");
		if (rnd(10) == 0)
			continue; /* no conditions: always matches */
		put(&b, "    conditions:\n");
		for (int k = 0; k < nc; k++) {
			put(&b, "      - ");
			cond(&b, 0);
			put(&b, "\n");
		}
	}
	return b.s;
}

static const char *query_get(void *ctx, const char *name)
{
	return ctx != NULL && strcmp(name, "all") == 0 ? "1" : NULL;
}

static void same_decision(const struct dpp_policy_decision *a, const struct dpp_policy_decision *b,
			  const char *rules, const struct dpp_request_view *v)
{
	int same = a->verdict == b->verdict && a->status == b->status &&
		   a->rule == b->rule && a->retry_after == b->retry_after &&
		   a->n_dry_run == b->n_dry_run && a->n_filters == b->n_filters &&
		   (a->error == NULL) == (b->error == NULL);

	for (size_t i = 0; same && i < a->n_dry_run; i++)
		same = a->dry_run[i] == b->dry_run[i];
	for (size_t i = 0; same && i < a->n_filters; i++)
		same = a->filters[i].rule == b->filters[i].rule;
	if (!same)
		fail_msg("dispatch and linear walk differ for %s %s (ip %s role %s): rule %s vs %s\n%s",
			 v->method != NULL ? v->method : "(null)", v->path != NULL ? v->path : "(null)",
			 v->client_ip, v->role, a->rule != NULL ? a->rule : "-",
			 b->rule != NULL ? b->rule : "-", rules);
}

static void test_random_rulesets_decide_like_a_linear_walk(void **state)
{
	static const char body_true[] = "{\"HostConfig\":{\"Privileged\":true}}";
	static const char body_false[] = "{\"HostConfig\":{\"Privileged\":false}}";
	struct dpp_header hdrs[] = {{"User-Agent", "docker/24.0"}};
	size_t indexed = 0, skipped = 0, total = 0, memo_slots = 0;

	(void)state;
	rng_state = 20261201u;
	for (int set = 0; set < 300; set++) {
		char *rules = random_rules(1 + (int)rnd(40));
		struct dpp_ruleset *rs = NULL;
		char *errors = NULL;
		struct dpp_ratelimit *rl_a = dpp_ratelimit_create(64);
		struct dpp_ratelimit *rl_b = dpp_ratelimit_create(64);
		/* The reference without the shared-leaf cache: a tracer (even
		 * one with no callbacks) turns it off and walks linearly. */
		struct dpp_ratelimit *rl_c = dpp_ratelimit_create(64);
		static const struct dpp_policy_tracer no_callbacks = {0};
		cJSON *bt = cJSON_Parse(body_true), *bf = cJSON_Parse(body_false);

		assert_non_null(rl_a);
		assert_non_null(rl_b);
		assert_non_null(rl_c);
		if (fx_compile(rules, &rs, &errors) != 0)
			fail_msg("random ruleset does not compile: %s\n%s", errors, rules);
		assert_non_null(rs->dispatch);
		indexed += dpp_dispatch_indexed(rs->dispatch);
		memo_slots += rs->n_memo_slots;
		for (int q = 0; q < 60; q++) {
			struct dpp_request_view v = {
				.method = rnd(12) == 0 ? NULL : PICK(METHODS),
				.path = rnd(15) == 0 ? NULL : PICK(PATHS),
				.endpoint = rnd(2) ? "/containers/{name}/start" : NULL,
				.headers = hdrs,
				.n_headers = rnd(2),
				.query_get = query_get,
				.query_ctx = rnd(2) ? (void *)1 : NULL,
				.client_ip = PICK(IPS),
				.role = PICK(ROLES),
				.identity = "token:1",
				.body_get = fx_body_get,
				.body_ctx = rnd(3) == 0 ? NULL : rnd(2) ? bt : bf,
			};
			struct dpp_policy_decision a, b, c;
			uint64_t bits[DPP_DISPATCH_WORDS];
			size_t words = dpp_dispatch_candidates(rs->dispatch, v.path, v.method, bits);
			int ra = dpp_policy_evaluate(rs, &v, rl_a, 1000 + (uint64_t)q, &a);
			int rb = dpp_policy_evaluate_linear(rs, &v, rl_b, 1000 + (uint64_t)q, &b);
			int rc = dpp_policy_evaluate_traced(rs, &v, rl_c, 1000 + (uint64_t)q,
							    &no_callbacks, &c);

			size_t cand = 0;
			for (size_t w = 0; w < words; w++)
				cand += (size_t)__builtin_popcountll(bits[w]);
			skipped += dpp_ruleset_count(rs) - cand;
			total += dpp_ruleset_count(rs);
			assert_int_equal(ra, rb);
			same_decision(&a, &b, rules, &v);
			assert_int_equal(ra, rc);
			same_decision(&a, &c, rules, &v);
			dpp_policy_decision_done(&a);
			dpp_policy_decision_done(&b);
			dpp_policy_decision_done(&c);
		}
		cJSON_Delete(bt);
		cJSON_Delete(bf);
		dpp_ratelimit_free(rl_a);
		dpp_ratelimit_free(rl_b);
		dpp_ratelimit_free(rl_c);
		dpp_ruleset_unref(rs);
		free(errors);
		free(rules);
	}
	print_message("indexed rules: %zu; rule visits skipped: %zu of %zu; shared-leaf slots: %zu\n",
		      indexed, skipped, total, memo_slots);
	/* The comparison means something only if the index skips rules and
	 * leaves are shared (the cache answers some tests). */
	assert_true(indexed > 0);
	assert_true(memo_slots > 0);
	assert_true(skipped * 5 > total);
}

/* A shared test found false takes later rules out of the walk only when
 * nothing before it in their lists can fail: here r1's regex hits the match
 * limit before its `role` test, so the answer stays the linear walk's 500. */
static void test_false_shared_leaf_keeps_earlier_errors(void **state)
{
	static const char rules[] =
		"rules:\n"
		"  - {name: r0, action: deny, conditions: [{field: role, operator: equals, value: ops}]}\n"
		"  - {name: r1, action: deny, conditions: [{field: header.X, operator: matches, value: '^(a+)+$'}, "
		"{field: role, operator: equals, value: ops}]}\n"
		"  - {name: r2, action: deny, conditions: [{field: path, operator: equals, value: /x}, "
		"{field: role, operator: equals, value: ops}]}\n";
	struct dpp_header h = {"X", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"};
	struct dpp_request_view v = {.method = "GET", .path = "/x", .headers = &h, .n_headers = 1,
				     .client_ip = "127.0.0.1", .role = "user"};
	struct dpp_ruleset *rs = NULL;
	char *errors = NULL;
	struct dpp_policy_decision d;

	(void)state;
	if (fx_compile(rules, &rs, &errors) != 0)
		fail_msg("does not compile: %s", errors);
	assert_non_null(rs->kill_start); /* r2 is decided by r0's false test */
	assert_int_equal(dpp_policy_evaluate(rs, &v, NULL, 0, &d), -1);
	assert_int_equal(d.status, 500);
	assert_string_equal(d.rule, "r1");
	dpp_policy_decision_done(&d);
	h.value = "b"; /* no error: r1 and r2 do not match, the request passes */
	assert_int_equal(dpp_policy_evaluate(rs, &v, NULL, 0, &d), 0);
	assert_int_equal(d.verdict, DPP_POLICY_ALLOW);
	dpp_policy_decision_done(&d);
	dpp_ruleset_unref(rs);
	free(errors);
}

/* Regexes whose literal prefix is not safe are never indexed. */
static void test_unsafe_regexes_are_not_indexed(void **state)
{
	static const char *const unsafe[] = {"^/a|^/b", "^(/a)", "/a", "^\\\\Q/a\\\\E", "^.a",
					     "^[/]a", "^(?i)/a"};
	(void)state;
	for (size_t i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++) {
		char text[256];
		struct dpp_ruleset *rs = NULL;
		char *errors = NULL;

		snprintf(text, sizeof(text),
			 "rules:\n  - {name: r, action: deny, conditions: [{field: path, operator: matches, value: \"%s\"}]}\n",
			 unsafe[i]);
		if (fx_compile(text, &rs, &errors) != 0)
			fail_msg("%s: %s", unsafe[i], errors);
		assert_int_equal(dpp_dispatch_indexed(rs->dispatch), 0);
		dpp_ruleset_unref(rs);
		free(errors);
	}
}

/* The index skips what it should: 1,000 rules on other endpoints. */
static void test_large_ruleset_visits_few_rules(void **state)
{
	struct buf b = {malloc(4096), 0, 4096};
	struct dpp_ruleset *rs = NULL;
	char *errors = NULL;
	uint64_t bits[DPP_DISPATCH_WORDS];
	size_t cand = 0, words;

	(void)state;
	assert_non_null(b.s);
	put(&b, "rules:\n");
	for (int i = 0; i < 1000; i++)
		put(&b, "  - {name: r%d, action: deny, conditions: [{field: path, operator: %s, value: '/volumes/vol%d'}]}\n",
		    i, i % 2 ? "starts_with" : "equals", i);
	assert_int_equal(fx_compile(b.s, &rs, &errors), 0);
	assert_int_equal(dpp_dispatch_indexed(rs->dispatch), 1000);
	words = dpp_dispatch_candidates(rs->dispatch, "/volumes/vol15", "GET", bits);
	for (size_t w = 0; w < words; w++)
		cand += (size_t)__builtin_popcountll(bits[w]);
	/* /volumes/vol1 (starts_with) and /volumes/vol15 (starts_with): two. */
	assert_int_equal(cand, 2);
	words = dpp_dispatch_candidates(rs->dispatch, "/containers/json", "GET", bits);
	cand = 0;
	for (size_t w = 0; w < words; w++)
		cand += (size_t)__builtin_popcountll(bits[w]);
	assert_int_equal(cand, 0);
	dpp_ruleset_unref(rs);
	free(errors);
	free(b.s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_rulesets_decide_like_a_linear_walk),
		cmocka_unit_test(test_unsafe_regexes_are_not_indexed),
		cmocka_unit_test(test_false_shared_leaf_keeps_earlier_errors),
		cmocka_unit_test(test_large_ruleset_visits_few_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
