/* Response filters keep JSON types so Docker clients still decode them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dpp/redact.h"

static char *run(const char *in, const struct dpp_filter *f, size_t n)
{
	char *out = NULL;
	size_t len = 0;
	const char *err = NULL;

	assert_int_equal(dpp_redact_apply(in, strlen(in), f, n, &out, &len, &err), 0);
	assert_int_equal(len, strlen(out));
	assert_int_equal(out[len - 1], '\n');
	out[len - 1] = '\0';
	return out;
}

static void test_env_keeps_keys(void **state)
{
	struct dpp_filter f = {"Config.Env", DPP_FILTER_REDACT, NULL};
	char *out;

	(void)state;
	out = run("{\"Id\":\"x\",\"Config\":{\"Env\":[\"PATH=/bin\",\"SECRET=hunter2\",\"NOEQ\"]}}", &f, 1);
	assert_string_equal(out, "{\"Id\":\"x\",\"Config\":{\"Env\":[\"PATH=***REDACTED***\","
				 "\"SECRET=***REDACTED***\",\"***REDACTED***\"]}}");
	free(out);
}

static void test_types_kept(void **state)
{
	struct dpp_filter f = {"a", DPP_FILTER_REDACT, NULL};
	char *out;

	(void)state;
	out = run("{\"a\":{\"s\":\"x\",\"n\":12,\"b\":true,\"z\":null,\"o\":{\"k\":\"v\"}}}", &f, 1);
	assert_string_equal(out, "{\"a\":{\"s\":\"***REDACTED***\",\"n\":0,\"b\":false,\"z\":null,"
				 "\"o\":{\"k\":\"***REDACTED***\"}}}");
	free(out);
}

static void test_array_top_level_and_case(void **state)
{
	struct dpp_filter f = {"labels", DPP_FILTER_REMOVE, NULL};
	char *out;

	(void)state;
	out = run("[{\"Id\":\"1\",\"Labels\":{\"a\":\"b\"}},{\"Id\":\"2\"}]", &f, 1);
	assert_string_equal(out, "[{\"Id\":\"1\"},{\"Id\":\"2\"}]");
	free(out);
}

static void test_replace_and_wildcard(void **state)
{
	cJSON *v = cJSON_CreateString("hidden");
	struct dpp_filter f[2] = {
		{"NetworkSettings.Networks.*.IPAddress", DPP_FILTER_REPLACE, v},
		{"Mounts.0", DPP_FILTER_REMOVE, NULL},
	};
	char *out;

	(void)state;
	out = run("{\"NetworkSettings\":{\"Networks\":{\"bridge\":{\"IPAddress\":\"172.17.0.2\"},"
		  "\"n2\":{\"IPAddress\":\"10.0.0.2\"}}},\"Mounts\":[{\"a\":1},{\"b\":2}]}", f, 2);
	assert_string_equal(out, "{\"NetworkSettings\":{\"Networks\":{\"bridge\":{\"IPAddress\":\"hidden\"},"
				 "\"n2\":{\"IPAddress\":\"hidden\"}}},\"Mounts\":[{\"b\":2}]}");
	free(out);
	cJSON_Delete(v);
}

static void test_absent_field_and_big_numbers(void **state)
{
	struct dpp_filter f = {"Nope.Deeper", DPP_FILTER_REDACT, NULL};
	char *out;

	(void)state;
	out = run("{\"Size\":123}", &f, 1);
	assert_string_equal(out, "{\"Size\":123}");
	free(out);
}

/* Issue 7 defect 6: cJSON re-printed every number from its double. */
static void test_numbers_and_order_untouched(void **state)
{
	struct dpp_filter f[2] = {
		{"Config.Env", DPP_FILTER_REDACT, NULL},
		{"HostConfig.Memory", DPP_FILTER_REDACT, NULL},
	};
	char *out;

	(void)state;
	out = run("{\"Z\":1e400,\"HostConfig\":{\"ShmSize\":9007199254740993,\"Memory\":"
		  "9007199254740993,\"NanoCpus\":-0,\"F\":1.50,\"E\":2E+3},"
		  "\"Config\":{\"Env\":[\"A=1\"]},\"A\":[18446744073709551615,-1e-400]}", f, 2);
	assert_string_equal(out, "{\"Z\":1e400,\"HostConfig\":{\"ShmSize\":9007199254740993,"
				 "\"Memory\":0,\"NanoCpus\":-0,\"F\":1.50,\"E\":2E+3},"
				 "\"Config\":{\"Env\":[\"A=***REDACTED***\"]},"
				 "\"A\":[18446744073709551615,-1e-400]}");
	free(out);
	/* numbers inside strings are not numbers; top-level arrays too */
	f[0].field = "x";
	out = run("[{\"x\":\"9007199254740993\",\"n\":9007199254740993},{\"n\":1e400}]", f, 1);
	assert_string_equal(out, "[{\"x\":\"***REDACTED***\",\"n\":9007199254740993},"
				 "{\"n\":1e400}]");
	free(out);
}

static void test_bad_number_refused(void **state)
{
	struct dpp_filter f = {"a", DPP_FILTER_REDACT, NULL};
	char *out = NULL;
	size_t len;
	const char *err = NULL;

	(void)state;
	/* cJSON reads "01" as 1; RFC 8259 does not allow it: refused, not altered */
	assert_int_equal(dpp_redact_apply("{\"a\":01}", 8, &f, 1, &out, &len, &err), -1);
	assert_null(out);
	assert_non_null(err);
}

static void test_not_json(void **state)
{
	struct dpp_filter f = {"a", DPP_FILTER_REDACT, NULL};
	char *out = NULL;
	size_t len;
	const char *err = NULL;

	(void)state;
	assert_int_equal(dpp_redact_apply("{\"a\":", 5, &f, 1, &out, &len, &err), -1);
	assert_null(out);
	assert_non_null(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env_keeps_keys),
		cmocka_unit_test(test_types_kept),
		cmocka_unit_test(test_array_top_level_and_case),
		cmocka_unit_test(test_replace_and_wildcard),
		cmocka_unit_test(test_absent_field_and_big_numbers),
		cmocka_unit_test(test_not_json),
		cmocka_unit_test(test_numbers_and_order_untouched),
		cmocka_unit_test(test_bad_number_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
