/* The evaluator's trace hook (dpp_policy_evaluate_traced), which explain
 * prints: the order and results it reports, short-circuited conditions shown
 * as skipped, and decisions identical to the untraced evaluation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "policy_fixture.h"

struct rec {
	char log[4096];
	size_t len;
};

static void add(struct rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct rec *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(r->log + r->len, sizeof(r->log) - r->len, fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(r->log) - r->len);
	r->len += (size_t)n;
}

static void on_rule(void *ctx, size_t i, const char *name, const char *action, int dry)
{
	add(ctx, "R%zu %s %s%s\n", i, name, action, dry ? " dry" : "");
}

static void on_cond(void *ctx, const struct dpp_trace_cond *c)
{
	if (c->node == DPP_TRACE_LEAF) {
		add(ctx, " %u %s %s = %d", c->depth, c->field, c->op, c->result);
		if (c->actual != NULL)
			add(ctx, " seen=%s", c->actual);
		if (c->actual_json != NULL)
			add(ctx, " seen_json=%d", c->actual_json->type & 0xff);
		add(ctx, "\n");
	} else {
		add(ctx, " %u group%d = %d\n", c->depth, (int)c->node, c->result);
	}
}

static void on_done(void *ctx, int m, const char *outcome)
{
	add(ctx, "D %d %s\n", m, outcome);
}

static const char *const RULES =
	"rules:\n"
	"  - name: filter\n"
	"    action: response_filter\n"
	"    response_filter: [{field: Config.Env, action: redact}]\n"
	"  - name: priv\n"
	"    action: deny\n"
	"    conditions:\n"
	"      - {field: method, operator: equals, value: POST}\n"
	"      - or:\n"
	"        - {field: body.HostConfig.Privileged, operator: equals, value: true}\n"
	"        - {field: header.X-Never, operator: exists}\n"
	"      - {field: path, operator: starts_with, value: /containers}\n"
	"  - name: after\n"
	"    action: deny\n";

static void run(const struct dpp_ruleset *rs, cJSON *body, const char *method,
		struct rec *rec, struct dpp_policy_decision *traced,
		struct dpp_policy_decision *plain)
{
	struct dpp_request_view req = {
		.method = method,
		.path = "/containers/create",
		.endpoint = "/containers/create",
		.body_get = fx_body_get,
		.body_ctx = body,
	};
	struct dpp_policy_tracer tr = {on_rule, on_cond, on_done, rec};

	assert_int_equal(dpp_policy_evaluate_traced(rs, &req, NULL, 0, &tr, traced), 0);
	assert_int_equal(dpp_policy_evaluate(rs, &req, NULL, 0, plain), 0);
	assert_int_equal(traced->verdict, plain->verdict);
	assert_int_equal(traced->status, plain->status);
	assert_int_equal(traced->n_filters, plain->n_filters);
	if (plain->rule == NULL)
		assert_null(traced->rule);
	else
		assert_string_equal(traced->rule, plain->rule);
}

static void test_trace_deny(void **state)
{
	struct dpp_ruleset *rs;
	char *errors;
	cJSON *body = cJSON_Parse("{\"HostConfig\":{\"Privileged\":true}}");
	struct dpp_policy_decision a, b;
	struct rec rec = {.len = 0};

	(void)state;
	assert_int_equal(fx_compile(RULES, &rs, &errors), 0);
	run(rs, body, "POST", &rec, &a, &b);
	assert_int_equal(a.verdict, DPP_POLICY_DENY);
	assert_string_equal(a.rule, "priv");
	/* the `or` stops at its first hit: the header test is reported skipped;
	 * the rule after the deciding one is never reported. */
	assert_string_equal(rec.log,
			    "R0 filter response_filter\n"
			    "D 1 response filters added: next rule\n"
			    "R1 priv deny\n"
			    " 0 group0 = -3\n"
			    " 1 method equals = 1 seen=POST\n"
			    " 1 group1 = -3\n"
			    " 2 body.HostConfig.Privileged equals = 1 seen_json=2\n"
			    " 2 header.X-Never exists = -2\n"
			    " 1 group1 = 1\n"
			    " 1 path starts_with = 1 seen=/containers/create\n"
			    " 0 group0 = 1\n"
			    "D 1 denied: evaluation stops\n");
	dpp_policy_decision_done(&a);
	dpp_policy_decision_done(&b);
	dpp_ruleset_unref(rs);
	cJSON_Delete(body);
}

static void test_trace_short_circuit_and_default(void **state)
{
	struct dpp_ruleset *rs;
	char *errors;
	struct dpp_policy_decision a, b;
	struct rec rec = {.len = 0};
	struct dpp_rule_info ri;

	(void)state;
	assert_int_equal(fx_compile(RULES, &rs, &errors), 0);
	run(rs, NULL, "GET", &rec, &a, &b);
	/* method fails first: the `or` group and the path test are skipped
	 * (the group and both of its kids), then `after` (no conditions) denies. */
	assert_string_equal(rec.log,
			    "R0 filter response_filter\n"
			    "D 1 response filters added: next rule\n"
			    "R1 priv deny\n"
			    " 0 group0 = -3\n"
			    " 1 method equals = 0 seen=GET\n"
			    " 1 group1 = -2\n"
			    " 2 body.HostConfig.Privileged equals = -2\n"
			    " 2 header.X-Never exists = -2\n"
			    " 1 path starts_with = -2\n"
			    " 0 group0 = 0\n"
			    "D 0 no match: next rule\n"
			    "R2 after deny\n"
			    "D 1 denied: evaluation stops\n");
	assert_string_equal(a.rule, "after");
	assert_int_equal(dpp_ruleset_rule_info(rs, 1, &ri), 0);
	assert_string_equal(ri.name, "priv");
	assert_string_equal(ri.action, "deny");
	assert_int_equal(ri.dry_run, 0);
	assert_int_equal(dpp_ruleset_rule_info(rs, 3, &ri), -1);
	dpp_policy_decision_done(&a);
	dpp_policy_decision_done(&b);
	dpp_ruleset_unref(rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trace_deny),
		cmocka_unit_test(test_trace_short_circuit_and_default),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
