/* Header filtering and request framing checks (RFC 9110 7.6.1, RFC 9112 6). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dpp/headers.h"

static void test_hop_by_hop(void **state)
{
	static const char *const hop[] = {"Connection", "connection", "Keep-Alive", "TE",
					  "Transfer-Encoding", "Upgrade", "Proxy-Connection",
					  "Trailer", "Proxy-Authorization"};
	static const char *const e2e[] = {"Content-Type", "Host", "User-Agent", "X-Registry-Auth",
					  "Api-Version"};

	(void)state;
	for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		assert_int_equal(dpp_headers_is_hop_by_hop(hop[i]), 1);
	for (size_t i = 0; i < sizeof(e2e) / sizeof(e2e[0]); i++)
		assert_int_equal(dpp_headers_is_hop_by_hop(e2e[i]), 0);
}

static void test_list_has(void **state)
{
	(void)state;
	assert_true(dpp_headers_list_has("Upgrade", "upgrade"));
	assert_true(dpp_headers_list_has("keep-alive, Upgrade", "upgrade"));
	assert_true(dpp_headers_list_has(" close ,\tX-Foo ", "x-foo"));
	assert_false(dpp_headers_list_has("Upgraded", "upgrade"));
	assert_false(dpp_headers_list_has("", "upgrade"));
	assert_false(dpp_headers_list_has(NULL, "upgrade"));
}

static void test_forward_request(void **state)
{
	(void)state;
	assert_true(dpp_headers_forward_request("Content-Type", NULL));
	assert_true(dpp_headers_forward_request("Host", NULL));
	assert_true(dpp_headers_forward_request("X-Registry-Auth", "keep-alive"));
	/* Credentials for the proxy never reach Docker. */
	assert_false(dpp_headers_forward_request("Authorization", NULL));
	assert_false(dpp_headers_forward_request("authorization", NULL));
	/* Framing is rewritten by the proxy. */
	assert_false(dpp_headers_forward_request("Content-Length", NULL));
	assert_false(dpp_headers_forward_request("Transfer-Encoding", NULL));
	assert_false(dpp_headers_forward_request("Expect", NULL));
	/* Fields named by Connection are hop-by-hop too. */
	assert_false(dpp_headers_forward_request("X-Secret", "close, X-Secret"));
	/* Method overrides would let Docker run another method than the one checked. */
	assert_false(dpp_headers_forward_request("X-HTTP-Method-Override", NULL));
	assert_false(dpp_headers_forward_request("Upgrade", NULL));
}

static void test_forward_response(void **state)
{
	(void)state;
	assert_true(dpp_headers_forward_response("Content-Type", NULL));
	assert_true(dpp_headers_forward_response("Api-Version", NULL));
	assert_true(dpp_headers_forward_response("Date", NULL));
	assert_false(dpp_headers_forward_response("Content-Length", NULL));
	assert_false(dpp_headers_forward_response("Transfer-Encoding", NULL));
	assert_false(dpp_headers_forward_response("Connection", NULL));
	assert_false(dpp_headers_forward_response("X-Hop", "X-Hop"));
}

struct framing_case {
	struct dpp_header f[3];
	size_t n;
	int ok;
	long long cl;
	int chunked;
};

static void test_framing(void **state)
{
	static const struct framing_case cases[] = {
		{{{"Host", "x"}}, 1, 1, -1, 0},
		{{{"Content-Length", "5"}}, 1, 1, 5, 0},
		{{{"Content-Length", "0"}}, 1, 1, 0, 0},
		{{{"Transfer-Encoding", "chunked"}}, 1, 1, -1, 1},
		{{{"transfer-encoding", "Chunked"}}, 1, 1, -1, 1},
		{{{"Content-Length", "5"}, {"Content-Length", "5"}}, 2, 0, 0, 0},
		{{{"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}}, 2, 0, 0, 0},
		{{{"Transfer-Encoding", "gzip, chunked"}}, 1, 0, 0, 0},
		{{{"Transfer-Encoding", "identity"}}, 1, 0, 0, 0},
		{{{"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}}, 2, 0, 0, 0},
		{{{"Content-Length", "+5"}}, 1, 0, 0, 0},
		{{{"Content-Length", "5 "}}, 1, 0, 0, 0},
		{{{"Content-Length", "-1"}}, 1, 0, 0, 0},
		{{{"Content-Length", "99999999999999999999999"}}, 1, 0, 0, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long long cl = 42;
		int chunked = 7;
		const char *reason = NULL;
		int rc = dpp_headers_check_framing(cases[i].f, cases[i].n, &cl, &chunked, &reason);

		if (cases[i].ok) {
			assert_int_equal(rc, 0);
			assert_int_equal(cl, cases[i].cl);
			assert_int_equal(chunked, cases[i].chunked);
		} else {
			assert_int_equal(rc, -1);
			assert_non_null(reason);
		}
	}
}

static void test_check_fields(void **state)
{
	static const struct {
		const char *name, *value;
		int ok;
	} cases[] = {
		{"Content-Type", "application/json", 1},
		{"X-Registry-Auth", "eyJhYmMiOiJkZWYifQ==", 1},
		{"User-Agent", "Docker-Client/20.10 (linux)\twith tab", 1},
		{"X-Obs", "caf\xc3\xa9", 1},
		{"X-A", "a\rContent-Length: 5", 0},
		{"X-A", "a\nb", 0},
		{"X-A", "del\x7f", 0},
		{"X-A", "nul\x01", 0},
		{"X A", "v", 0},
		{"X-A\x01", "v", 0},
		{"X:A", "v", 0},
		{"", "v", 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dpp_header f = {cases[i].name, cases[i].value};
		const char *reason = NULL;

		assert_int_equal(dpp_headers_check_fields(&f, 1, &reason), cases[i].ok ? 0 : -1);
		if (!cases[i].ok)
			assert_non_null(reason);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hop_by_hop),    cmocka_unit_test(test_list_has),
		cmocka_unit_test(test_forward_request), cmocka_unit_test(test_forward_response),
		cmocka_unit_test(test_framing),       cmocka_unit_test(test_check_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
