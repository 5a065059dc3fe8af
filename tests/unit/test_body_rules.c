/* Body rules against bodies parsed as dockerd reads them (issue 7 defect 4):
 * text operators on objects see Docker's spelling of keys and the numbers as
 * sent, and "*" path segments mean "any element". The body goes through
 * dpp_body_parse and dpp_body_lookup, as in the proxy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <cmocka.h>

#include "dpp/body.h"
#include "policy_fixture.h"

static const char create_body[] =
	"{\"Image\":\"busybox\",\"HostConfig\":{\"mounts\":[{\"tYpe\":\"bind\","
	"\"Source\":\"/tmp/x\",\"Target\":\"/x\"},{\"Type\":\"volume\",\"Target\":\"/v\","
	"\"ReadOnly\":false}],\"ShmSize\":9007199254740993,\"PortBindings\":{\"80/tcp\":"
	"[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"8080\"}]}},\"NetworkingConfig\":"
	"{\"EndpointsConfig\":{\"net1\":{\"IPAMConfig\":{\"IPv4Address\":\"10.0.0.2\"}},"
	"\"net2\":{\"aliases\":[\"db\"]}}}}";

/* The one place that writes rule YAML: a single condition on `field`. */
static struct dpp_ruleset *compile_cond(const char *field, const char *op, const char *value)
{
	struct dpp_ruleset *rs = NULL;
	char yaml[1024], *errors = NULL;

	snprintf(yaml, sizeof(yaml),
		 "rules:\n  - name: r\n    action: deny\n    conditions:\n"
		 "      - field: %s\n        operator: %s\n        value: %s\n",
		 field, op, value);
	if (fx_compile(yaml, &rs, &errors) != 0) {
		fprintf(stderr, "compile failed for\n%s\n%s", yaml, errors ? errors : "?\n");
		free(errors);
		return NULL;
	}
	return rs;
}

static const struct cJSON *doc_get(void *ctx, const char *const *segs, size_t n)
{
	return dpp_body_lookup(ctx, segs, n);
}

static int doc_each(void *ctx, const char *const *segs, size_t n,
		    int (*fn)(void *arg, const struct cJSON *value), void *arg)
{
	return dpp_body_each(ctx, segs, n, fn, arg);
}

struct row {
	const char *field, *op, *value;
	int match;
};

static const struct row rows[] = {
	/* the seed installer's regex: every spelling of Type is "Type" */
	{"body.HostConfig.Mounts", "matches", "'\"Type\"\\s*:\\s*\"bind\"'", 1},
	{"body.HostConfig.Mounts", "matches", "'\"tYpe\"'", 0},
	{"body.HostConfig.Mounts", "not_matches", "'\"Type\"\\s*:\\s*\"bind\"'", 0},
	/* numbers in the text are as sent */
	{"body.HostConfig", "matches", "'\"ShmSize\":9007199254740993[,}]'", 1},
	{"body.HostConfig.ShmSize", "matches", "'^9007199254740993$'", 1},
	/* "*": positive operators hold when any element satisfies them */
	{"body.HostConfig.Mounts.*.Type", "equals", "bind", 1},
	{"body.HostConfig.Mounts.*.Type", "equals", "tmpfs", 0},
	{"body.HostConfig.Mounts.*.Type", "in", "[tmpfs, volume]", 1},
	{"body.HostConfig.Mounts.*.Source", "starts_with", "/tmp", 1},
	{"body.HostConfig.Mounts.*", "matches", "'\"Type\":\"bind\"'", 1},
	/* negated operators hold when no element satisfies the positive test */
	{"body.HostConfig.Mounts.*.Type", "not_equals", "bind", 0},
	{"body.HostConfig.Mounts.*.Type", "not_equals", "tmpfs", 1},
	{"body.HostConfig.Mounts.*.Type", "not_in", "[bind, tmpfs]", 0},
	{"body.HostConfig.Mounts.*.Source", "not_contains", "tmp", 0},
	/* exists: some element has the path; not_exists: none has it */
	{"body.HostConfig.Mounts.*.Source", "exists", "true", 1},
	{"body.HostConfig.Mounts.*.ReadOnly", "exists", "true", 1},
	{"body.HostConfig.Mounts.*.BindOptions", "exists", "true", 0},
	{"body.HostConfig.Mounts.*.BindOptions", "not_exists", "true", 1},
	{"body.HostConfig.Mounts.*.Source", "not_exists", "true", 0},
	/* no elements at all: positive tests fail, negated ones hold */
	{"body.HostConfig.Binds.*", "exists", "true", 0},
	{"body.HostConfig.Binds.*", "not_equals", "x", 1},
	{"body.Image.*", "exists", "true", 0},
	/* objects: "*" is every member (map entries here) */
	{"body.NetworkingConfig.EndpointsConfig.*.IPAMConfig.IPv4Address", "equals", "10.0.0.2", 1},
	{"body.NetworkingConfig.EndpointsConfig.*.Aliases", "contains", "db", 1},
	{"body.HostConfig.PortBindings.*.*.HostIp", "equals", "0.0.0.0", 1},
	{"body.HostConfig.PortBindings.*.*.HostIp", "not_equals", "0.0.0.0", 0},
	{"body.HostConfig.PortBindings.*.*.HostIp", "equals", "127.0.0.1", 0},
};

/* The table, with the proxy's body_each (each_on) or only body_get (the
 * fallback expansion); both must give the same verdicts. */
static void run_rows(int each_on)
{
	struct dpp_body_doc *doc = NULL;
	struct dpp_request_view req;
	char *err = NULL;
	size_t i, failures = 0;

	assert_int_equal(dpp_body_parse(create_body, strlen(create_body), 0, &doc, &err),
			 DPP_BODY_OK);
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.path = "/containers/create";
	req.body_get = doc_get;
	req.body_each = each_on ? doc_each : NULL;
	req.body_ctx = doc;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct dpp_ruleset *rs = compile_cond(rows[i].field, rows[i].op, rows[i].value);
		struct dpp_policy_decision d;

		if (rs == NULL) {
			failures++;
			continue;
		}
		if (dpp_policy_evaluate(rs, &req, NULL, 0, &d) != 0) {
			fprintf(stderr, "%s %s %s: internal error %s\n", rows[i].field, rows[i].op,
				rows[i].value, d.error);
			failures++;
		} else if ((d.verdict == DPP_POLICY_DENY) != rows[i].match) {
			fprintf(stderr, "%s %s %s: expected %s\n", rows[i].field, rows[i].op,
				rows[i].value, rows[i].match ? "match" : "no match");
			failures++;
		}
		dpp_policy_decision_done(&d);
		dpp_ruleset_unref(rs);
	}
	dpp_body_free(doc);
	if (failures > 0)
		fprintf(stderr, "(with%s body_each)\n", each_on ? "" : "out");
	assert_int_equal(failures, 0);
}

static void test_rows(void **state)
{
	(void)state;
	run_rows(1);
	run_rows(0);
}

/* A large array under "*" costs linear time with body_each (a lookup from
 * the root per element would be quadratic: 10^10 steps here). */
static void test_wildcard_linear(void **state)
{
	enum { N = 200000 };
	struct dpp_body_doc *doc = NULL;
	struct dpp_request_view req;
	struct dpp_policy_decision d;
	struct dpp_ruleset *rs;
	struct timespec t0, t1;
	char *body, *err = NULL, *p;
	double secs;
	size_t i;

	(void)state;
	body = malloc(64 + (size_t)N * 4);
	assert_non_null(body);
	p = body + sprintf(body, "{\"HostConfig\":{\"Binds\":[");
	for (i = 0; i < N; i++)
		p += sprintf(p, "%s\"a\"", i > 0 ? "," : "");
	strcpy(p, "]}}");
	assert_int_equal(dpp_body_parse(body, strlen(body), 0, &doc, &err), DPP_BODY_OK);
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.path = "/containers/create";
	req.body_get = doc_get;
	req.body_each = doc_each;
	req.body_ctx = doc;
	rs = compile_cond("body.HostConfig.Binds.*", "not_equals", "a");
	assert_non_null(rs);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(dpp_policy_evaluate(rs, &req, NULL, 0, &d), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(d.verdict, DPP_POLICY_ALLOW); /* every element equals "a" */
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(secs < 2.0);
	dpp_policy_decision_done(&d);
	dpp_ruleset_unref(rs);
	dpp_body_free(doc);
	free(body);
}

/* No body: every body field is absent, with or without "*". */
static void test_no_body(void **state)
{
	struct dpp_request_view req;
	struct dpp_policy_decision d;
	struct dpp_ruleset *rs;

	(void)state;
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.path = "/containers/create";
	rs = compile_cond("body.HostConfig.Mounts.*.Type", "not_equals", "bind");
	assert_non_null(rs);
	assert_int_equal(dpp_policy_evaluate(rs, &req, NULL, 0, &d), 0);
	assert_int_equal(d.verdict, DPP_POLICY_DENY);
	dpp_policy_decision_done(&d);
	dpp_ruleset_unref(rs);
	rs = compile_cond("body.HostConfig.Mounts.*.Type", "exists", "true");
	assert_non_null(rs);
	assert_int_equal(dpp_policy_evaluate(rs, &req, NULL, 0, &d), 0);
	assert_int_equal(d.verdict, DPP_POLICY_ALLOW);
	dpp_policy_decision_done(&d);
	dpp_ruleset_unref(rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_no_body),
		cmocka_unit_test(test_wildcard_linear),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
