/* The metrics registry's extras API (families owned outside the core, such
 * as the store's): rendering, label escaping, removal, a full table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dpp/metrics.h"

static void extra_fn(struct dpp_metrics_out *o, void *arg)
{
	int *calls = arg;

	(*calls)++;
	dpp_metrics_out_family(o, "docker_proxy_test_rows", "gauge", "Rows, by table.");
	dpp_metrics_out_sample(o, "docker_proxy_test_rows", "table", "a\"b\\c\nd", 42);
	dpp_metrics_out_sample(o, "docker_proxy_test_rows", NULL, NULL, 9007199254740991.0);
}

static char *render(struct dpp_metrics *m)
{
	char *out = NULL;
	size_t len = 0;
	const char *err = NULL;

	assert_int_equal(dpp_metrics_render(m, &out, &len, &err), 0);
	assert_int_equal(strlen(out), len);
	return out;
}

static void test_extras(void **state)
{
	const char *err = NULL;
	struct dpp_metrics *m = dpp_metrics_create(&err);
	int calls = 0, other[DPP_METRICS_EXTRA_MAX];
	char *out;

	(void)state;
	assert_non_null(m);
	assert_int_equal(dpp_metrics_add_extra(m, NULL, NULL), -1);
	assert_int_equal(dpp_metrics_add_extra(m, extra_fn, &calls), 0);
	out = render(m);
	assert_int_equal(calls, 1);
	assert_non_null(strstr(out, "# HELP docker_proxy_test_rows Rows, by table.\n# TYPE docker_proxy_test_rows gauge\n"));
	assert_non_null(strstr(out, "docker_proxy_test_rows{table=\"a\\\"b\\\\c\\nd\"} 42\n"));
	assert_non_null(strstr(out, "\ndocker_proxy_test_rows 9007199254740991\n"));
	/* After the built-in families. */
	assert_true(strstr(out, "docker_proxy_test_rows") > strstr(out, "docker_proxy_up "));
	free(out);
	/* The table holds DPP_METRICS_EXTRA_MAX entries. */
	for (int i = 0; i < DPP_METRICS_EXTRA_MAX - 1; i++)
		assert_int_equal(dpp_metrics_add_extra(m, extra_fn, &other[i]), 0);
	assert_int_equal(dpp_metrics_add_extra(m, extra_fn, &calls), -1);
	for (int i = 0; i < DPP_METRICS_EXTRA_MAX - 1; i++)
		dpp_metrics_remove_extra(m, extra_fn, &other[i]);
	dpp_metrics_remove_extra(m, extra_fn, &calls);
	out = render(m);
	assert_null(strstr(out, "docker_proxy_test_rows"));
	assert_int_equal(calls, 1);
	free(out);
	dpp_metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_extras),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
