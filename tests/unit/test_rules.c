/* Rule compilation: accepted syntax, every config error with its position,
 * error collection, ordering and printing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "policy_fixture.h"

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; s != NULL && *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

#define RULE_HEAD "rules:\n  - name: r\n    action: deny\n"
#define COND(x) RULE_HEAD "    conditions:\n      - " x "\n"

/* One config error: the YAML, the exact lines expected (prefixes are enough
 * when the message continues with a list of alternatives). */
struct bad_case {
	const char *name;
	const char *yaml;
	const char *expect[4]; /* substrings; each must be found */
	size_t lines;          /* number of error lines */
};

static const struct bad_case bad_cases[] = {
	{"unknown operator", COND("{field: path, operator: equal, value: /x}"),
	 {"test.yaml:5:33: rules[0].conditions[0].operator: unknown operator \"equal\" (expected "
	  "equals,"},
	 1},
	{"unknown field", COND("{field: pth, operator: equals, value: /x}"),
	 {"test.yaml:5:17: rules[0].conditions[0].field: unknown field"}, 1},
	{"bad regex offset", COND("{field: path, operator: matches, value: \"^/containers/(abc\"}"),
	 {"test.yaml:5:49: rules[0].conditions[0].value: invalid regex at offset 17: missing "
	  "closing parenthesis"},
	 1},
	{"bad regex offset 2", COND("{field: path, operator: matches, value: 'a{2,1}'}"),
	 {"test.yaml:5:49: rules[0].conditions[0].value: invalid regex at offset 5: numbers out "
	  "of order"},
	 1},
	{"matches int", COND("{field: body.Memory, operator: matches, value: 123}"),
	 {"test.yaml:5:56: rules[0].conditions[0].value: regex must be a string, not an "
	  "integer (quote it: \"123\")"},
	 1},
	{"matches list", COND("{field: path, operator: matches, value: [a]}"),
	 {"rules[0].conditions[0].value: regex must be a string, not a list"}, 1},
	{"in without list", COND("{field: method, operator: in, value: POST}"),
	 {"test.yaml:5:46: rules[0].conditions[0].value: in needs a list, not a string"}, 1},
	{"not_in empty", COND("{field: method, operator: not_in, value: []}"),
	 {"rules[0].conditions[0].value: not_in needs a non-empty list"}, 1},
	{"int on string field", COND("{field: query.force, operator: equals, value: 1}"),
	 {"test.yaml:5:55: rules[0].conditions[0].value: value must be a string, not an "
	  "integer (quote it: \"1\")"},
	 1},
	{"bool in method list", COND("{field: method, operator: in, value: [GET, true]}"),
	 {"rules[0].conditions[0].value[1]: value must be a string, not a boolean"}, 1},
	{"null on string field", COND("{field: role, operator: equals, value: null}"),
	 {"rules[0].conditions[0].value: value must be a string, not null"}, 1},
	{"starts_with int on body", COND("{field: body.Image, operator: starts_with, value: 5}"),
	 {"rules[0].conditions[0].value: value must be a string, not an integer"}, 1},
	{"contains mapping on body", COND("{field: body.Binds, operator: contains, value: {a: 1}}"),
	 {"rules[0].conditions[0].value: contains needs a scalar value, not a mapping"}, 1},
	{"missing value", COND("{field: path, operator: equals}"),
	 {"test.yaml:5:17: rules[0].conditions[0].value: missing (required for operator "
	  "equals)"},
	 1},
	{"missing operator", COND("{field: path, value: /x}"),
	 {"test.yaml:5:9: rules[0].conditions[0]: a condition needs field and operator"}, 1},
	{"null operator", COND("{field: path, operator: null, value: /x}"),
	 {"rules[0].conditions[0]: a condition needs field and operator"}, 1},
	{"bad header name", COND("{field: header.X(, operator: exists}"),
	 {"test.yaml:5:17: rules[0].conditions[0].field: header name has a character not "
	  "allowed"},
	 1},
	{"empty body segment",
	 COND("{field: body.HostConfig..Privileged, operator: equals, value: true}"),
	 {"rules[0].conditions[0].field: empty segment in body path"}, 1},
	{"condition not a mapping", RULE_HEAD "    conditions: [path]\n",
	 {"test.yaml:4:18: rules[0].conditions[0]: a condition must be a mapping"}, 1},
	{"conditions not a list", RULE_HEAD "    conditions: {field: path}\n",
	 {"test.yaml:4:17: rules[0].conditions: must be a list of conditions, not a mapping"}, 1},
	{"the old match mapping", RULE_HEAD "    match: {path: /x}\n",
	 {"test.yaml:4:5: rules[0].match: unknown key"}, 1},
	{"bad cidr", COND("{field: client_ip, operator: in, value: [10.0.0.0/8, 10.0.0.0/33]}"),
	 {"test.yaml:5:62: rules[0].conditions[0].value[1]: not an IP address or CIDR block: "
	  "\"10.0.0.0/33\""},
	 1},
	{"duplicate condition key", COND("{field: path, field: method, operator: exists}"),
	 {"test.yaml:5:23: rules[0].conditions[0].field: duplicate key"}, 1},
	{"unknown condition key", COND("{field: path, op: equals, value: /x}"),
	 {"test.yaml:5:23: rules[0].conditions[0].op: unknown key (expected field, operator, "
	  "value, description, or, and or not)"},
	 1},
	{"group and leaf", COND("{or: [{field: path, operator: exists}], field: path}"),
	 {"test.yaml:5:9: rules[0].conditions[0]: a condition is either {field, operator, value} "
	  "or one group"},
	 1},
	{"two groups", COND("{or: [{field: path, operator: exists}], and: [{field: path, "
			    "operator: exists}]}"),
	 {"rules[0].conditions[0]: a condition is either"}, 1},
	{"empty or", COND("{or: []}"),
	 {"test.yaml:5:14: rules[0].conditions[0].or: needs a non-empty list of conditions\n"}, 1},
	{"or not a list", COND("{or: {field: path, operator: exists}}"),
	 {"rules[0].conditions[0].or: needs a non-empty list of conditions, not a mapping"}, 1},
	{"not a list item", COND("{or: [path]}"),
	 {"rules[0].conditions[0].or[0]: a condition must be a mapping"}, 1},
	{"unknown op deep",
	 RULE_HEAD "    conditions:\n      - or:\n          - not:\n              - and:\n"
		   "                  - {field: role, operator: is, value: x}\n",
	 {"test.yaml:8:45: rules[0].conditions[0].or[0].not[0].and[0].operator: unknown "
	  "operator \"is\""},
	 1},
	{"tag", COND("{field: body.Tty, operator: equals, value: !!bool yes}"),
	 {"rules[0].conditions[0].value: explicit YAML tags are not supported"}, 1},
	{"missing name and action", "rules:\n  - conditions: []\n",
	 {"test.yaml:2:5: rules[0].name: missing (required for every rule)",
	  "test.yaml:2:5: rules[0].action: missing (required for every rule)"},
	 2},
	{"null name and action", "rules:\n  - {name: null, action: ~}\n",
	 {"rules[0].name: missing (required for every rule)",
	  "rules[0].action: missing (required for every rule)"},
	 2},
	{"unknown action", "rules:\n  - name: r\n    action: reject\n",
	 {"test.yaml:3:13: rules[0].action: unknown action \"reject\""}, 1},
	{"unknown rule key", RULE_HEAD "    comment: x\n",
	 {"test.yaml:4:5: rules[0].comment: unknown key"}, 1},
	{"the old flat keys",
	 "rules:\n  - name: r\n    action: rate_limit\n    requests: 5\n    period: 1s\n",
	 {"test.yaml:4:5: rules[0].requests: unknown key",
	  "test.yaml:5:5: rules[0].period: unknown key"},
	 2},
	{"the old filters key",
	 "rules:\n  - name: r\n    action: response_filter\n    filters: [{field: A, action: "
	 "remove}]\n",
	 {"test.yaml:4:5: rules[0].filters: unknown key",
	  "test.yaml:2:5: rules[0].response_filter: missing (required for response_filter)"},
	 2},
	{"bad name", "rules:\n  - name: \"a b\"\n    action: allow\n",
	 {"rules[0].name: must be 1..63 characters"}, 1},
	{"status range", RULE_HEAD "    status: 302\n",
	 {"test.yaml:4:13: rules[0].status: must be between 400 and 599"}, 1},
	{"status not int", RULE_HEAD "    status: \"403\"\n",
	 {"rules[0].status: must be a decimal integer, not a string"}, 1},
	{"status on allow", "rules:\n  - name: r\n    action: allow\n    status: 403\n",
	 {"test.yaml:4:5: rules[0].status: does not apply to action allow"}, 1},
	{"dry_run on allow", "rules:\n  - name: r\n    action: allow\n    dry_run: true\n",
	 {"rules[0].dry_run: does not apply to action allow"}, 1},
	{"role on deny", RULE_HEAD "    role: admin\n",
	 {"test.yaml:4:5: rules[0].role: does not apply to action deny"}, 1},
	{"rate_limit on deny", RULE_HEAD "    rate_limit: {requests: 1}\n",
	 {"test.yaml:4:5: rules[0].rate_limit: does not apply to action deny"}, 1},
	{"rate_limit bad values",
	 "rules:\n  - name: r\n    action: rate_limit\n"
	 "    rate_limit: {requests: 0, period: 0s, penalty: 1d}\n",
	 {"test.yaml:4:28: rules[0].rate_limit.requests: must be between 1 and 1000000",
	  "test.yaml:4:39: rules[0].rate_limit.period: must be greater than 0",
	  "test.yaml:4:52: rules[0].rate_limit.penalty: must be a duration"},
	 3},
	{"rate_limit bad seconds",
	 "rules:\n  - name: r\n    action: rate_limit\n"
	 "    rate_limit: {period: 0, penalty: 1.5}\n",
	 {"rules[0].rate_limit.period: must be between 1 and 604800",
	  "rules[0].rate_limit.penalty: must be whole seconds or a duration such as 90s or 5m, "
	  "not a number"},
	 2},
	{"rate_limit unknown key",
	 "rules:\n  - name: r\n    action: rate_limit\n    rate_limit: {requests: 5, burst: 2}\n",
	 {"test.yaml:4:31: rules[0].rate_limit.burst: unknown key (expected requests, period, "
	  "penalty)"},
	 1},
	{"rate_limit not a mapping",
	 "rules:\n  - name: r\n    action: rate_limit\n    rate_limit: 5\n",
	 {"test.yaml:4:17: rules[0].rate_limit: must be a mapping {requests, period, penalty}, "
	  "not an integer"},
	 1},
	{"filters bad",
	 "rules:\n  - name: r\n    action: response_filter\n    response_filter:\n"
	 "      - {field: Env, action: replace}\n      - {field: Env, action: hide}\n"
	 "      - {field: Env, action: remove, replacement: x}\n      - {field: ..}\n"
	 "      - {field: Env, action: replace, value: x}\n",
	 {"test.yaml:5:9: rules[0].response_filter[0].replacement: missing (required for "
	  "replace)",
	  "test.yaml:6:30: rules[0].response_filter[1].action: unknown filter action \"hide\" "
	  "(expected redact, remove or replace)",
	  "test.yaml:7:51: rules[0].response_filter[2].replacement: only applies to replace",
	  "test.yaml:9:39: rules[0].response_filter[4].value: unknown key (expected field, "
	  "action, replacement, description)"},
	 6},
	{"methods not a list", RULE_HEAD "    methods: GET\n",
	 {"test.yaml:4:14: rules[0].methods: must be a list of method names, not a string"}, 1},
	{"methods not strings", RULE_HEAD "    methods: [GET, 5]\n",
	 {"rules[0].methods[1]: method must be a string, not an integer"}, 1},
	{"duplicate names", "rules:\n  - name: r\n    action: allow\n  - name: r\n    action: deny\n",
	 {"test.yaml:4:5: rules[1].name: duplicate rule name \"r\" (first in rules[0])"}, 1},
	{"rules not a list", "rules: {name: r}\n", {"test.yaml:1:8: rules: must be a list of rules"},
	 1},
	{"rule not a mapping", "rules: [r]\n", {"test.yaml:1:9: rules[0]: a rule must be a mapping"},
	 1},
	{"number out of range", COND("{field: body.X, operator: equals, value: 1e999}"),
	 {"rules[0].conditions[0].value: number out of range"}, 1},
};

static void test_bad_configs(void **state)
{
	size_t i, j, failures = 0;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *bc = &bad_cases[i];
		struct dpp_ruleset *rs = NULL;
		char *errors = NULL;
		int rc = fx_compile(bc->yaml, &rs, &errors);
		bool ok = rc == -1 && rs == NULL && errors != NULL &&
			  count_lines(errors) == bc->lines;

		for (j = 0; ok && j < 4 && bc->expect[j] != NULL; j++)
			ok = strstr(errors, bc->expect[j]) != NULL;
		if (!ok) {
			fprintf(stderr, "case \"%s\": rc=%d, errors:\n%s", bc->name, rc,
				errors != NULL ? errors : "(none)\n");
			failures++;
		}
		free(errors);
		dpp_ruleset_unref(rs);
	}
	assert_int_equal(failures, 0);
}

/* Errors of different rules and different kinds are all reported, in file
 * order, one per line. */
static void test_errors_collected(void **state)
{
	static const char yaml[] = "rules:\n"
				   "  - name: a\n"
				   "    action: deny\n"
				   "    status: 200\n"
				   "    conditions:\n"
				   "      - {field: path, operator: matches, value: '('}\n"
				   "  - name: ok\n"
				   "    action: allow\n"
				   "  - name: b\n"
				   "    action: explode\n"
				   "    conditions: [{field: bogus, operator: equals, value: 1}]\n";
	struct dpp_ruleset *rs;
	char *errors;
	const char *want =
		"test.yaml:4:13: rules[0].status: must be between 400 and 599\n"
		"test.yaml:6:49: rules[0].conditions[0].value: invalid regex at offset 1: missing "
		"closing parenthesis\n"
		"test.yaml:10:13: rules[2].action: unknown action \"explode\" (expected deny, allow, "
		"require_role, rate_limit or response_filter)\n"
		"test.yaml:11:26: rules[2].conditions[0].field: unknown field (expected path, method, "
		"client_ip, role, identity, header.NAME, query.NAME or body.PATH)\n";

	(void)state;
	assert_int_equal(fx_compile(yaml, &rs, &errors), -1);
	assert_null(rs);
	assert_non_null(errors);
	assert_string_equal(errors, want);
	free(errors);
}

static void test_error_limit(void **state)
{
	char *yaml = malloc(64 * 1024);
	size_t len, i;
	struct dpp_ruleset *rs;
	char *errors;

	(void)state;
	assert_non_null(yaml);
	len = (size_t)sprintf(yaml, "rules:\n");
	for (i = 0; i < DPP_RULES_ERRORS_MAX + 5; i++)
		len += (size_t)sprintf(yaml + len, "  - {name: r%zu, action: nope}\n", i);
	assert_int_equal(fx_compile(yaml, &rs, &errors), -1);
	assert_int_equal(count_lines(errors), DPP_RULES_ERRORS_MAX + 1);
	assert_non_null(strstr(errors, "test.yaml: 5 more errors not shown\n"));
	free(errors);
	free(yaml);
}

static void test_empty_rules(void **state)
{
	static const char *const texts[] = {"rules:\n", "rules: []\n", "other: 1\n"};
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		struct dpp_ruleset *rs;
		char *errors;

		assert_int_equal(fx_compile(texts[i], &rs, &errors), 0);
		assert_null(errors);
		assert_int_equal(dpp_ruleset_count(rs), 0);
		assert_int_equal(dpp_ruleset_get_default(rs), DPP_POLICY_ALLOW);
		dpp_ruleset_unref(rs);
	}
}

static char *print_to_string(const struct dpp_ruleset *rs)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(dpp_ruleset_print(rs, f), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* Every kind of rule compiles; printing shows evaluation order (priority
 * descending, equal priorities in file order), every default spelled out, in
 * the seed's syntax. */
static void test_print_and_order(void **state)
{
	static const char yaml[] =
		"rules:\n"
		"  - name: filter-env\n"
		"    action: response_filter\n"
		"    response_filter:\n"
		"      - {field: Config.Env, action: redact}\n"
		"      - {field: HostConfig.Binds, action: replace, replacement: hidden}\n"
		"  - name: limit-exec\n"
		"    description: at most 10 exec a minute\n"
		"    priority: 50\n"
		"    action: rate_limit\n"
		"    rate_limit: {requests: 10, period: 60s, penalty: 5m}\n"
		"    dry_run: true\n"
		"    conditions:\n"
		"      - {field: path, operator: matches, value: '^/containers/[^/]+/exec$'}\n"
		"      - {field: method, operator: equals, value: POST}\n"
		"  - name: block-privileged\n"
		"    priority: 100\n"
		"    action: deny\n"
		"    message: |\n      privileged containers\n      are \"not\" allowed\n"
		"    conditions:\n"
		"      - field: body.HostConfig.Privileged\n"
		"        operator: equals\n"
		"        value: true\n"
		"  - name: admins-only\n"
		"    priority: 50\n"
		"    action: require_role\n"
		"    role: ops\n"
		"    status: 401\n"
		"    conditions:\n"
		"      - or:\n"
		"          - {field: path, operator: starts_with, value: /swarm}\n"
		"          - and:\n"
		"              - {field: method, operator: equals, value: DELETE}\n"
		"              - not: [{field: query.force, operator: not_exists}]\n"
		"      - {field: client_ip, operator: not_in, value: [10.0.0.0/8, '::1']}\n"
		"  - name: lowest\n"
		"    priority: -3\n"
		"    action: allow\n"
		"    conditions: []\n";
	static const char want[] =
		"# 5 rules in evaluation order; default: deny\n"
		"rules:\n"
		"  - name: \"block-privileged\"\n"
		"    priority: 100\n"
		"    action: deny\n"
		"    status: 403\n"
		"    message: \"privileged containers\\nare \\\"not\\\" allowed\\n\"\n"
		"    dry_run: false\n"
		"    conditions:\n"
		"      - field: body.HostConfig.Privileged\n"
		"        operator: equals\n"
		"        value: true\n"
		"  - name: \"limit-exec\"\n"
		"    description: \"at most 10 exec a minute\"\n"
		"    priority: 50\n"
		"    action: rate_limit\n"
		"    rate_limit: {requests: 10, period: 60, penalty: 300}\n"
		"    status: 429\n"
		"    message: \"rate limit exceeded\"\n"
		"    dry_run: true\n"
		"    conditions:\n"
		"      - field: path\n"
		"        operator: matches\n"
		"        value: \"^/containers/[^/]+/exec$\"\n"
		"      - field: method\n"
		"        operator: equals\n"
		"        value: \"POST\"\n"
		"  - name: \"admins-only\"\n"
		"    priority: 50\n"
		"    action: require_role\n"
		"    role: \"ops\"\n"
		"    status: 401\n"
		"    message: \"role ops required\"\n"
		"    dry_run: false\n"
		"    conditions:\n"
		"      - or:\n"
		"          - field: path\n"
		"            operator: starts_with\n"
		"            value: \"/swarm\"\n"
		"          - and:\n"
		"              - field: method\n"
		"                operator: equals\n"
		"                value: \"DELETE\"\n"
		"              - not:\n"
		"                  - field: query.force\n"
		"                    operator: not_exists\n"
		"      - field: client_ip\n"
		"        operator: not_in\n"
		"        value: [\"10.0.0.0/8\",\"::1\"]\n"
		"  - name: \"filter-env\"\n"
		"    priority: 0\n"
		"    action: response_filter\n"
		"    response_filter:\n"
		"      - field: \"Config.Env\"\n"
		"        action: redact\n"
		"      - field: \"HostConfig.Binds\"\n"
		"        action: replace\n"
		"        replacement: \"hidden\"\n"
		"    conditions: []\n"
		"  - name: \"lowest\"\n"
		"    priority: -3\n"
		"    action: allow\n"
		"    conditions: []\n";
	struct dpp_ruleset *rs, *again;
	char *errors, *text, *text2;

	(void)state;
	assert_int_equal(fx_compile(yaml, &rs, &errors), 0);
	assert_null(errors);
	assert_int_equal(dpp_ruleset_count(rs), 5);
	dpp_ruleset_set_default(rs, DPP_POLICY_DENY);
	text = print_to_string(rs);
	assert_string_equal(text, want);
	/* The printed rules are a config in their own right: compiled again
	 * they print the same. */
	assert_int_equal(fx_compile(text, &again, &errors), 0);
	dpp_ruleset_set_default(again, DPP_POLICY_DENY);
	text2 = print_to_string(again);
	assert_string_equal(text2, text);
	free(text2);
	free(text);
	dpp_ruleset_unref(again);
	dpp_ruleset_unref(rs);
}

/* Many rules with the same priority keep file order (qsort alone is not
 * stable). */
static void test_stable_order(void **state)
{
	char yaml[8192], want[16384], *text;
	size_t len = 0, wlen = 0, i;
	struct dpp_ruleset *rs;
	char *errors;

	(void)state;
	len += (size_t)snprintf(yaml + len, sizeof(yaml) - len, "rules:\n");
	wlen += (size_t)snprintf(want + wlen, sizeof(want) - wlen,
				 "# 40 rules in evaluation order; default: allow\nrules:\n");
	for (i = 0; i < 40; i++)
		len += (size_t)snprintf(yaml + len, sizeof(yaml) - len,
					"  - {name: r%02zu, priority: %d, action: allow}\n", i,
					i % 2 == 0 ? 7 : 3);
	for (i = 0; i < 80; i += 2) {
		size_t k = i < 40 ? i : i - 39;

		wlen += (size_t)snprintf(want + wlen, sizeof(want) - wlen,
					 "  - name: \"r%02zu\"\n    priority: %d\n    action: allow\n"
					 "    conditions: []\n",
					 k, k % 2 == 0 ? 7 : 3);
	}
	assert_int_equal(fx_compile(yaml, &rs, &errors), 0);
	text = print_to_string(rs);
	assert_string_equal(text, want);
	free(text);
	dpp_ruleset_unref(rs);
}

static void test_nesting_limit(void **state)
{
	char yaml[4096];
	size_t len, i;
	struct dpp_ruleset *rs;
	char *errors;

	(void)state;
	/* DPP_RULES_DEPTH_MAX nested groups are fine, one more is not. */
	for (int extra = 0; extra < 2; extra++) {
		len = (size_t)snprintf(yaml, sizeof(yaml), RULE_HEAD "    conditions: [");
		for (i = 0; i < (size_t)DPP_RULES_DEPTH_MAX + (size_t)extra; i++)
			len += (size_t)snprintf(yaml + len, sizeof(yaml) - len, "{%s: [",
						i % 3 == 0 ? "not" : i % 3 == 1 ? "or" : "and");
		len += (size_t)snprintf(yaml + len, sizeof(yaml) - len,
					"{field: path, operator: equals, value: /x}");
		for (i = 0; i < (size_t)DPP_RULES_DEPTH_MAX + (size_t)extra; i++)
			len += (size_t)snprintf(yaml + len, sizeof(yaml) - len, "]}");
		snprintf(yaml + len, sizeof(yaml) - len, "]\n");
		if (extra == 0) {
			assert_int_equal(fx_compile(yaml, &rs, &errors), 0);
			dpp_ruleset_unref(rs);
		} else {
			assert_int_equal(fx_compile(yaml, &rs, &errors), -1);
			assert_non_null(strstr(errors, "conditions nested too deeply (limit 32)"));
			free(errors);
		}
	}
}

/* The seed's wizard spells every unset key as null: null is "not set", so
 * the defaults apply (status 403/429, role admin, rate limit 50/30/30,
 * priority 0, no dry run), and a value on exists is ignored. */
static void test_nulls_mean_unset(void **state)
{
	static const char yaml[] =
		"rules:\n"
		"  - name: block-bind-mounts\n"
		"    description: null\n"
		"    action: deny\n"
		"    priority: null\n"
		"    conditions:\n"
		"      - {field: path, operator: equals, value: /containers/create, description: ~}\n"
		"      - {field: body.HostConfig.Binds, operator: exists, value: null}\n"
		"    message: null\n"
		"    role: null\n"
		"    response_filter: null\n"
		"    status: null\n"
		"    rate_limit: null\n"
		"    dry_run: null\n"
		"    methods: null\n"
		"  - name: admins\n"
		"    action: require_role\n"
		"    role: null\n"
		"    rate_limit: null\n"
		"    conditions: null\n"
		"  - name: limit\n"
		"    action: rate_limit\n"
		"    rate_limit: null\n"
		"    status: ~\n"
		"    response_filter: ~\n"
		"  - name: limit-partial\n"
		"    action: rate_limit\n"
		"    rate_limit: {requests: null, period: 10, penalty: null}\n"
		"  - name: hide\n"
		"    action: response_filter\n"
		"    dry_run: false\n"
		"    response_filter:\n"
		"      - {field: Config.Env, action: redact, replacement: null, description: null}\n"
		"  - name: open\n"
		"    action: allow\n"
		"    status: null\n"
		"    message: null\n"
		"    role: null\n"
		"    dry_run: null\n";
	static const char *const want[] = {
		"  - name: \"block-bind-mounts\"\n    priority: 0\n    action: deny\n"
		"    status: 403\n    message: \"denied by policy rule block-bind-mounts\"\n"
		"    dry_run: false\n    conditions:\n      - field: path\n"
		"        operator: equals\n        value: \"/containers/create\"\n"
		"      - field: body.HostConfig.Binds\n        operator: exists\n",
		"  - name: \"admins\"\n    priority: 0\n    action: require_role\n"
		"    role: \"admin\"\n    status: 403\n    message: \"role admin required\"\n"
		"    dry_run: false\n    conditions: []\n",
		"  - name: \"limit\"\n    priority: 0\n    action: rate_limit\n"
		"    rate_limit: {requests: 50, period: 30, penalty: 30}\n    status: 429\n",
		"    rate_limit: {requests: 50, period: 10, penalty: 30}\n",
		"      - field: \"Config.Env\"\n        action: redact\n    conditions: []\n",
		"  - name: \"open\"\n    priority: 0\n    action: allow\n    conditions: []\n",
	};
	struct dpp_ruleset *rs;
	char *errors, *text;
	size_t i;

	(void)state;
	assert_int_equal(fx_compile(yaml, &rs, &errors), 0);
	assert_null(errors);
	assert_null(dpp_ruleset_warnings(rs));
	text = print_to_string(rs);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (strstr(text, want[i]) == NULL)
			fail_msg("missing\n%s\nin\n%s", want[i], text);
	}
	free(text);
	dpp_ruleset_unref(rs);
}

/* rate_limit: the seed's defaults for what is left out; period and penalty
 * in whole seconds, or as duration strings. */
static void test_rate_limit_values(void **state)
{
	static const struct {
		const char *rl;
		const char *want;
	} rows[] = {
		{"{requests: 5, period: 1}", "{requests: 5, period: 1, penalty: 30}"},
		{"{}", "{requests: 50, period: 30, penalty: 30}"},
		{"{penalty: 0}", "{requests: 50, period: 30, penalty: 0}"},
		{"{requests: 3, period: 90s, penalty: 5m}", "{requests: 3, period: 90, penalty: 300}"},
		{"{period: 1h, penalty: 250ms}", "{requests: 50, period: 3600, penalty: 250ms}"},
		{"{period: 604800}", "{requests: 50, period: 604800, penalty: 30}"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char yaml[512], want[256];
		struct dpp_ruleset *rs;
		char *errors, *text;

		snprintf(yaml, sizeof(yaml),
			 "rules:\n  - {name: rl, action: rate_limit, rate_limit: %s}\n", rows[i].rl);
		snprintf(want, sizeof(want), "    rate_limit: %s\n", rows[i].want);
		assert_int_equal(fx_compile(yaml, &rs, &errors), 0);
		text = print_to_string(rs);
		if (strstr(text, want) == NULL)
			fail_msg("%s: want %s in\n%s", rows[i].rl, want, text);
		free(text);
		dpp_ruleset_unref(rs);
	}
}

/* The seed's `methods:` list is read and ignored: the config loads, with a
 * warning naming the key's position. */
static void test_methods_warning(void **state)
{
	static const char yaml[] = "rules:\n"
				   "  - name: r\n"
				   "    action: deny\n"
				   "    methods: [GET, HEAD]\n"
				   "  - name: s\n"
				   "    action: allow\n"
				   "    methods:\n"
				   "      - POST\n";
	struct dpp_ruleset *rs;
	char *errors;
	const char *w;

	(void)state;
	assert_int_equal(fx_compile(yaml, &rs, &errors), 0);
	w = dpp_ruleset_warnings(rs);
	assert_non_null(w);
	assert_non_null(strstr(w, "test.yaml:4:14: rules[0].methods: has no effect and is "
				  "ignored, as docker-proxy ignores it"));
	assert_non_null(strstr(w, "test.yaml:8:7: rules[1].methods: has no effect"));
	assert_int_equal(count_lines(w), 2);
	dpp_ruleset_unref(rs);
}

static void test_refcount(void **state)
{
	struct dpp_ruleset *rs;
	char *errors;

	(void)state;
	assert_int_equal(fx_compile("rules: [{name: a, action: allow}]\n", &rs, &errors), 0);
	assert_ptr_equal(dpp_ruleset_ref(rs), rs);
	dpp_ruleset_unref(rs);
	assert_int_equal(dpp_ruleset_count(rs), 1); /* still alive: ASan would object */
	dpp_ruleset_unref(rs);
	dpp_ruleset_unref(NULL);
}

/* The rules section of every seed example compiles as it is (the whole
 * files are checked by the seed_check_config tests). */
static void test_seed_examples_compile(void **state)
{
	static const char *const files[] = {
		"01-endpoints-and-methods.yaml", "02-body-inspection.yaml",
		"03-roles-and-network.yaml",	 "04-redaction-and-rate-limits.yaml",
		"05-allowlist.yaml",		 "06-mtls.yaml",
		"07-global-and-secret.yaml",	 "08-installer-output.yaml",
		"09-wizard-output-with-nulls.yaml",
	};
	static const size_t counts[] = {5, 3, 2, 4, 2, 0, 0, 15, 2};
	const char *src = getenv("DPP_SOURCE_DIR");
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[1024], *text, *errors;
		struct dpp_ruleset *rs;
		FILE *f;
		long n;

		snprintf(path, sizeof(path), "%s/tests/fixtures/seed/%s", src != NULL ? src : ".",
			 files[i]);
		f = fopen(path, "rb");
		assert_non_null(f);
		assert_int_equal(fseek(f, 0, SEEK_END), 0);
		n = ftell(f);
		assert_true(n > 0);
		rewind(f);
		text = calloc(1, (size_t)n + 1);
		assert_non_null(text);
		assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
		fclose(f);
		if (fx_compile(text, &rs, &errors) != 0)
			fail_msg("%s: %s", files[i], errors != NULL ? errors : "?");
		assert_int_equal(dpp_ruleset_count(rs), counts[i]);
		assert_null(dpp_ruleset_warnings(rs));
		dpp_ruleset_unref(rs);
		free(text);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_configs),	 cmocka_unit_test(test_errors_collected),
		cmocka_unit_test(test_error_limit),	 cmocka_unit_test(test_empty_rules),
		cmocka_unit_test(test_print_and_order), cmocka_unit_test(test_stable_order),
		cmocka_unit_test(test_nesting_limit),	 cmocka_unit_test(test_refcount),
		cmocka_unit_test(test_nulls_mean_unset), cmocka_unit_test(test_rate_limit_values),
		cmocka_unit_test(test_methods_warning), cmocka_unit_test(test_seed_examples_compile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
