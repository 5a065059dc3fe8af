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

/* One config error: the YAML, the exact lines expected (prefixes are enough
 * when the message continues with a list of alternatives). */
struct bad_case {
	const char *name;
	const char *yaml;
	const char *expect[4]; /* substrings; each must be found */
	size_t lines;          /* number of error lines */
};

static const struct bad_case bad_cases[] = {
	{"unknown operator", RULE_HEAD "    match:\n      path: {equal: /x}\n",
	 {"test.yaml:5:14: rules[0].match.path.equal: unknown operator (expected equals,"}, 1},
	{"unknown field", RULE_HEAD "    match:\n      pth: {equals: /x}\n",
	 {"test.yaml:5:7: rules[0].match.pth: unknown field"}, 1},
	{"bad regex offset", RULE_HEAD "    match:\n      path: {matches: \"^/containers/(abc\"}\n",
	 {"test.yaml:5:23: rules[0].match.path.matches: invalid regex at offset 17: missing "
	  "closing parenthesis"},
	 1},
	{"bad regex offset 2", RULE_HEAD "    match:\n      path: {matches: 'a{2,1}'}\n",
	 {"test.yaml:5:23: rules[0].match.path.matches: invalid regex at offset 5: numbers out "
	  "of order"},
	 1},
	{"matches int", RULE_HEAD "    match:\n      body.Memory: {matches: 123}\n",
	 {"test.yaml:5:30: rules[0].match.body.Memory.matches: regex must be a string, not an "
	  "integer (quote it: \"123\")"},
	 1},
	{"matches list", RULE_HEAD "    match:\n      path: {matches: [a]}\n",
	 {"rules[0].match.path.matches: regex must be a string, not a list"}, 1},
	{"in without list", RULE_HEAD "    match:\n      method: {in: POST}\n",
	 {"test.yaml:5:20: rules[0].match.method.in: in needs a list, not a string"}, 1},
	{"not_in empty", RULE_HEAD "    match:\n      method: {not_in: []}\n",
	 {"rules[0].match.method.not_in: not_in needs a non-empty list"}, 1},
	{"int on string field", RULE_HEAD "    match:\n      query.force: {equals: 1}\n",
	 {"test.yaml:5:29: rules[0].match.query.force.equals: value must be a string, not an "
	  "integer (quote it: \"1\")"},
	 1},
	{"bool in method list", RULE_HEAD "    match:\n      method: [GET, true]\n",
	 {"rules[0].match.method[1]: value must be a string, not a boolean"}, 1},
	{"null on string field", RULE_HEAD "    match:\n      role: {equals: null}\n",
	 {"rules[0].match.role.equals: value must be a string, not null"}, 1},
	{"starts_with int on body", RULE_HEAD "    match:\n      body.Image: {starts_with: 5}\n",
	 {"rules[0].match.body.Image.starts_with: value must be a string, not an integer"}, 1},
	{"contains mapping on body", RULE_HEAD "    match:\n      body.Binds: {contains: {a: 1}}\n",
	 {"rules[0].match.body.Binds.contains: contains needs a scalar value, not a mapping"}, 1},
	{"exists not bool", RULE_HEAD "    match:\n      header.X: {exists: yes}\n",
	 {"rules[0].match.header.X.exists: must be true or false, not a string"}, 1},
	{"bad header name", RULE_HEAD "    match:\n      header.X(: {exists: true}\n",
	 {"test.yaml:5:7: rules[0].match.header.X(: header name has a character not allowed"}, 1},
	{"empty body segment", RULE_HEAD "    match:\n      body.HostConfig..Privileged: true\n",
	 {"rules[0].match.body.HostConfig..Privileged: empty segment in body path"}, 1},
	{"list shorthand on body", RULE_HEAD "    match:\n      body.Cmd: [sh]\n",
	 {"rules[0].match.body.Cmd: a list is ambiguous for body fields"}, 1},
	{"bad cidr", RULE_HEAD "    match:\n      client_ip: {in: [10.0.0.0/8, 10.0.0.0/33]}\n",
	 {"test.yaml:5:36: rules[0].match.client_ip.in[1]: not an IP address or CIDR block: "
	  "\"10.0.0.0/33\""},
	 1},
	{"duplicate match key", RULE_HEAD "    match:\n      path: /a\n      path: /b\n",
	 {"test.yaml:6:7: rules[0].match.path: duplicate key"}, 1},
	{"duplicate operator", RULE_HEAD "    match:\n      path: {contains: a, contains: b}\n",
	 {"rules[0].match.path.contains: duplicate operator"}, 1},
	{"empty operator mapping", RULE_HEAD "    match:\n      path: {}\n",
	 {"rules[0].match.path: needs an operator mapping"}, 1},
	{"or not a list", RULE_HEAD "    match:\n      or: {path: /a}\n",
	 {"rules[0].match.or: needs a non-empty list of condition mappings, not a mapping"}, 1},
	{"not a list item", RULE_HEAD "    match:\n      or: [path]\n",
	 {"rules[0].match.or[0]: must be a non-empty mapping of conditions, not a string"}, 1},
	{"unknown op deep", RULE_HEAD "    match:\n      or:\n        - not: {and: [{role: {is: x}}]}\n",
	 {"test.yaml:6:31: rules[0].match.or[0].not.and[0].role.is: unknown operator"}, 1},
	{"tag", RULE_HEAD "    match:\n      body.Tty: {equals: !!bool yes}\n",
	 {"rules[0].match.body.Tty.equals: explicit YAML tags are not supported"}, 1},
	{"missing name and action", "rules:\n  - match: {path: /x}\n",
	 {"test.yaml:2:5: rules[0].name: missing (required for every rule)",
	  "test.yaml:2:5: rules[0].action: missing (required for every rule)"},
	 2},
	{"unknown action", "rules:\n  - name: r\n    action: reject\n",
	 {"test.yaml:3:13: rules[0].action: unknown action \"reject\""}, 1},
	{"unknown rule key", RULE_HEAD "    comment: x\n",
	 {"test.yaml:4:5: rules[0].comment: unknown key"}, 1},
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
	{"require_role without role", "rules:\n  - name: r\n    action: require_role\n",
	 {"test.yaml:2:5: rules[0].role: missing (required for require_role)"}, 1},
	{"rate_limit missing", "rules:\n  - name: r\n    action: rate_limit\n    period: 10\n",
	 {"rules[0].requests: missing (required for rate_limit)",
	  "test.yaml:4:13: rules[0].period: must be a duration such as 250ms, 10s, 5m or 1h"},
	 2},
	{"rate_limit zero", "rules:\n  - name: r\n    action: rate_limit\n    requests: 0\n"
			    "    period: 0s\n    penalty: 1d\n",
	 {"rules[0].requests: must be between 1 and 1000000",
	  "rules[0].period: must be greater than 0", "rules[0].penalty: must be a duration"},
	 3},
	{"filters bad", "rules:\n  - name: r\n    action: response_filter\n    filters:\n"
			"      - {field: Env, action: replace}\n      - {field: Env, action: hide}\n"
			"      - {field: Env, action: remove, value: x}\n      - {field: ..}\n",
	 {"test.yaml:5:9: rules[0].filters[0].value: replace needs a value",
	  "test.yaml:6:30: rules[0].filters[1].action: unknown filter action",
	  "test.yaml:7:45: rules[0].filters[2].value: value only applies to replace",
	  "rules[0].filters[3]: needs field and action"},
	 4},
	{"duplicate names", "rules:\n  - name: r\n    action: allow\n  - name: r\n    action: deny\n",
	 {"test.yaml:4:5: rules[1].name: duplicate rule name \"r\" (first in rules[0])"}, 1},
	{"rules not a list", "rules: {name: r}\n", {"test.yaml:1:8: rules: must be a list of rules"},
	 1},
	{"rule not a mapping", "rules: [r]\n", {"test.yaml:1:9: rules[0]: a rule must be a mapping"},
	 1},
	{"number out of range", RULE_HEAD "    match:\n      body.X: {equals: 1e999}\n",
	 {"rules[0].match.body.X.equals: number out of range"}, 1},
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
				   "    match:\n"
				   "      path: {matches: '('}\n"
				   "  - name: ok\n"
				   "    action: allow\n"
				   "  - name: b\n"
				   "    action: explode\n"
				   "    match: {bogus: 1}\n";
	struct dpp_ruleset *rs;
	char *errors;
	const char *want =
		"test.yaml:4:13: rules[0].status: must be between 400 and 599\n"
		"test.yaml:6:23: rules[0].match.path.matches: invalid regex at offset 1: missing "
		"closing parenthesis\n"
		"test.yaml:10:13: rules[2].action: unknown action \"explode\" (expected deny, allow, "
		"require_role, rate_limit or response_filter)\n"
		"test.yaml:11:13: rules[2].match.bogus: unknown field (expected path, method, "
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
 * descending, equal priorities in file order) and normalised conditions. */
static void test_print_and_order(void **state)
{
	static const char yaml[] =
		"rules:\n"
		"  - name: filter-env\n"
		"    action: response_filter\n"
		"    filters:\n"
		"      - {field: Config.Env, action: redact}\n"
		"      - {field: HostConfig.Binds, action: replace, value: hidden}\n"
		"  - name: limit-exec\n"
		"    priority: 50\n"
		"    action: rate_limit\n"
		"    requests: 10\n"
		"    period: 60s\n"
		"    penalty: 5m\n"
		"    dry_run: true\n"
		"    match:\n"
		"      path: {matches: '^/containers/[^/]+/exec$'}\n"
		"      method: POST\n"
		"  - name: block-privileged\n"
		"    priority: 100\n"
		"    action: deny\n"
		"    message: |\n      privileged containers\n      are \"not\" allowed\n"
		"    match:\n"
		"      body.HostConfig.Privileged: {equals: true}\n"
		"  - name: admins-only\n"
		"    priority: 50\n"
		"    action: require_role\n"
		"    role: ops\n"
		"    match:\n"
		"      or:\n"
		"        - path: {starts_with: /swarm}\n"
		"        - and: [{method: DELETE}, {not: {query.force: {exists: false}}}]\n"
		"      client_ip: {not_in: [10.0.0.0/8, '::1']}\n"
		"  - name: lowest\n"
		"    priority: -3\n"
		"    action: allow\n"
		"    match: {}\n";
	static const char want[] =
		"# 5 rules in evaluation order; default: deny\n"
		"1. block-privileged  priority 100  deny 403\n"
		"   message: \"privileged containers\\nare \\\"not\\\" allowed\\n\"\n"
		"   when: body.HostConfig.Privileged equals true\n"
		"2. limit-exec  priority 50  rate_limit 10 per 1m penalty 5m  dry-run\n"
		"   message: \"rate limit exceeded\"\n"
		"   when: path matches \"^/containers/[^/]+/exec$\" and method equals \"POST\"\n"
		"3. admins-only  priority 50  require_role ops\n"
		"   message: \"role ops required\"\n"
		"   when: (path starts_with \"/swarm\" or (method equals \"DELETE\" and not "
		"(query.force exists false))) and client_ip not_in [\"10.0.0.0/8\",\"::1\"]\n"
		"4. filter-env  priority 0  response_filter Config.Env redact, HostConfig.Binds "
		"replace \"hidden\"\n"
		"   when: always\n"
		"5. lowest  priority -3  allow\n"
		"   when: always\n";
	struct dpp_ruleset *rs;
	char *errors, *text;

	(void)state;
	assert_int_equal(fx_compile(yaml, &rs, &errors), 0);
	assert_null(errors);
	assert_int_equal(dpp_ruleset_count(rs), 5);
	dpp_ruleset_set_default(rs, DPP_POLICY_DENY);
	text = print_to_string(rs);
	assert_string_equal(text, want);
	free(text);
	dpp_ruleset_unref(rs);
}

/* Many rules with the same priority keep file order (qsort alone is not
 * stable). */
static void test_stable_order(void **state)
{
	char yaml[8192], want[8192], *text;
	size_t len = 0, wlen = 0, i;
	struct dpp_ruleset *rs;
	char *errors;

	(void)state;
	len += (size_t)snprintf(yaml + len, sizeof(yaml) - len, "rules:\n");
	wlen += (size_t)snprintf(want + wlen, sizeof(want) - wlen,
				 "# 40 rules in evaluation order; default: allow\n");
	for (i = 0; i < 40; i++)
		len += (size_t)snprintf(yaml + len, sizeof(yaml) - len,
					"  - {name: r%02zu, priority: %d, action: allow}\n", i,
					i % 2 == 0 ? 7 : 3);
	for (i = 0; i < 80; i += 2) {
		size_t k = i < 40 ? i : i - 39;

		wlen += (size_t)snprintf(want + wlen, sizeof(want) - wlen,
					 "%zu. r%02zu  priority %d  allow\n   when: always\n",
					 i / 2 + 1, k, k % 2 == 0 ? 7 : 3);
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
	/* DPP_RULES_DEPTH_MAX nested `not` is fine, one more is not. */
	for (int extra = 0; extra < 2; extra++) {
		len = (size_t)snprintf(yaml, sizeof(yaml), RULE_HEAD "    match: ");
		for (i = 0; i < (size_t)DPP_RULES_DEPTH_MAX + (size_t)extra; i++)
			len += (size_t)snprintf(yaml + len, sizeof(yaml) - len, "{not: ");
		len += (size_t)snprintf(yaml + len, sizeof(yaml) - len, "{path: /x}");
		for (i = 0; i < (size_t)DPP_RULES_DEPTH_MAX + (size_t)extra; i++)
			len += (size_t)snprintf(yaml + len, sizeof(yaml) - len, "}");
		snprintf(yaml + len, sizeof(yaml) - len, "\n");
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_configs),	 cmocka_unit_test(test_errors_collected),
		cmocka_unit_test(test_error_limit),	 cmocka_unit_test(test_empty_rules),
		cmocka_unit_test(test_print_and_order), cmocka_unit_test(test_stable_order),
		cmocka_unit_test(test_nesting_limit),	 cmocka_unit_test(test_refcount),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
