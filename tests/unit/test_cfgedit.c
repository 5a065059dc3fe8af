/* Config text edits for the console: every edit keeps the rest of the file
 * byte for byte, and the result parses to what was asked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dpp/cfgedit.h"

static const char *const base =
	"# top comment\n"
	"global:\n"
	"  port: 2376 # keep me\n"
	"rules:\n"
	"  - name: no-privileged\n"
	"    action: deny\n"
	"    conditions:\n"
	"      - {field: body.HostConfig.Privileged, operator: equals, value: true}\n"
	"    message: \"no\"\n"
	"  # between rules\n"
	"  - name: limit\n"
	"    priority: 5\n"
	"    action: rate_limit\n"
	"    dry_run: false\n"
	"    rate_limit: {requests: 3, period: 60}\n"
	"# trailer\n";

static void test_set_key_insert_and_replace(void **state)
{
	char *out = NULL, *err = NULL, *out2 = NULL;

	(void)state;
	assert_int_equal(dpp_cfgedit_set_rule_key(base, "no-privileged", "dry_run", "true", &out, &err), 0);
	assert_non_null(strstr(out, "  - name: no-privileged\n    dry_run: true\n    action: deny\n"));
	assert_non_null(strstr(out, "# top comment\n"));
	assert_non_null(strstr(out, "port: 2376 # keep me\n"));
	assert_int_equal(strlen(out), strlen(base) + strlen("    dry_run: true\n"));
	assert_int_equal(dpp_cfgedit_set_rule_key(out, "limit", "dry_run", "true", &out2, &err), 0);
	assert_non_null(strstr(out2, "    dry_run: true\n    rate_limit:"));
	assert_int_equal(strlen(out2), strlen(out) - 1); /* "false" -> "true" */
	free(out);
	free(out2);
	assert_int_equal(dpp_cfgedit_set_rule_key(base, "nope", "dry_run", "true", &out, &err), -1);
	assert_null(out);
	assert_non_null(strstr(err, "no rule named \"nope\""));
	free(err);
}

static void test_rule_text_and_replace(void **state)
{
	char *txt = NULL, *out = NULL, *err = NULL;
	long prio = -1;

	(void)state;
	assert_int_equal(dpp_cfgedit_rule_text(base, "limit", &txt, &err), 0);
	assert_string_equal(txt, "- name: limit\n  priority: 5\n  action: rate_limit\n"
				 "  dry_run: false\n  rate_limit: {requests: 3, period: 60}\n");
	assert_int_equal(dpp_cfgedit_rule_priority(base, "limit", &prio, &err), 0);
	assert_int_equal(prio, 5);
	assert_int_equal(dpp_cfgedit_rule_priority(base, "no-privileged", &prio, &err), 0);
	assert_int_equal(prio, 0);
	assert_int_equal(dpp_cfgedit_replace_rule(base, "limit", "- name: limit2\n  action: allow\n",
						  &out, &err), 0);
	assert_non_null(strstr(out, "  # between rules\n  - name: limit2\n    action: allow\n# trailer\n"));
	free(out);
	/* Not a one-rule list: refused with a position. */
	assert_int_equal(dpp_cfgedit_replace_rule(base, "limit", "name: x\n", &out, &err), -1);
	assert_non_null(strstr(err, "line 1 column 1"));
	free(err);
	err = NULL;
	assert_int_equal(dpp_cfgedit_replace_rule(base, "limit", "- name: [\n", &out, &err), -1);
	assert_non_null(strstr(err, "line "));
	free(err);
	free(txt);
}

static void test_delete_and_append(void **state)
{
	char *out = NULL, *err = NULL;

	(void)state;
	assert_int_equal(dpp_cfgedit_delete_rule(base, "no-privileged", &out, &err), 0);
	assert_null(strstr(out, "no-privileged"));
	assert_non_null(strstr(out, "rules:\n  # between rules\n  - name: limit\n"));
	free(out);
	assert_int_equal(dpp_cfgedit_append_rule(base, "- name: new\n  action: deny\n", &out, &err), 0);
	assert_non_null(strstr(out, "rate_limit: {requests: 3, period: 60}\n  - name: new\n    action: deny\n# trailer\n"));
	free(out);
	assert_int_equal(dpp_cfgedit_append_rule("global:\n  port: 1\n", "- name: a\n", &out, &err), 0);
	assert_string_equal(out, "global:\n  port: 1\nrules:\n  - name: a\n");
	free(out);
	assert_int_equal(dpp_cfgedit_append_rule("rules: []\nglobal: {}\n", "- name: a\n", &out, &err), 0);
	assert_string_equal(out, "rules:\n  - name: a\nglobal: {}\n");
	free(out);
	assert_int_equal(dpp_cfgedit_append_rule("rules:\nglobal: {}\n", "- name: a\n", &out, &err), 0);
	assert_string_equal(out, "rules:\n  - name: a\nglobal: {}\n");
	free(out);
}

static void test_flow_refused_and_version(void **state)
{
	char *out = NULL, *err = NULL;
	char v[65];

	(void)state;
	assert_int_equal(dpp_cfgedit_set_rule_key("rules: [{name: a, action: deny}]\n", "a", "dry_run",
						  "true", &out, &err), -1);
	assert_non_null(strstr(err, "flow style"));
	free(err);
	assert_int_equal(dpp_cfgedit_version("abc", 3, v), 0);
	assert_string_equal(v, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_key_insert_and_replace),
		cmocka_unit_test(test_rule_text_and_replace),
		cmocka_unit_test(test_delete_and_append),
		cmocka_unit_test(test_flow_refused_and_version),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
