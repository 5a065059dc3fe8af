/* The rule field `endpoint`: dockerd's route template for the request, set by
 * the server from dpp_route_match; absent (NULL) when no route matches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "dpp/route.h"
#include "policy_fixture.h"

static const char rules[] =
	"rules:\n"
	"  - name: no-exec\n"
	"    action: deny\n"
	"    message: exec is off\n"
	"    conditions:\n"
	"      - {field: endpoint, operator: equals, value: \"/containers/{name}/exec\"}\n"
	"  - name: no-unknown\n"
	"    action: deny\n"
	"    conditions:\n"
	"      - {field: endpoint, operator: not_exists}\n";

static const char *verdict(struct dpp_ruleset *rs, const char *method, const char *path)
{
	static char out[80];
	struct dpp_request_view req = {
		.method = method,
		.path = path,
		.endpoint = dpp_route_endpoint(method, path, 1),
	};
	struct dpp_policy_decision d;

	assert_int_equal(dpp_policy_evaluate(rs, &req, NULL, 0, &d), 0);
	snprintf(out, sizeof(out), "%s %s", dpp_policy_verdict_name(d.verdict),
		 d.rule != NULL ? d.rule : "-");
	dpp_policy_decision_done(&d);
	return out;
}

static void test_endpoint_field(void **state)
{
	struct dpp_ruleset *rs = NULL;
	char *errors = NULL;

	(void)state;
	assert_int_equal(fx_compile(rules, &rs, &errors), 0);
	assert_string_equal(verdict(rs, "POST", "/containers/abc/exec"), "deny no-exec");
	/* the endpoint is the route, whatever the container reference */
	assert_string_equal(verdict(rs, "POST", "/containers/PARENT/alias/exec"), "deny no-exec");
	assert_string_equal(verdict(rs, "POST", "/containers/abc/start"), "allow -");
	assert_string_equal(verdict(rs, "GET", "/containers/abc/exec"), "deny no-unknown");
	assert_string_equal(verdict(rs, "GET", "/nowhere"), "deny no-unknown");
	dpp_ruleset_unref(rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoint_field),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
