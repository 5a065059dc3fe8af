/* Policy evaluation: every operator on every field type (a table), the
 * behaviour cases in tests/unit/data/policy/ (one YAML file each: rules,
 * request, expected decision), and fail-closed internal errors. */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "policy_fixture.h"

/* ---- the operator matrix ---- */

static const char base_body[] =
	"{\"HostConfig\":{\"Privileged\":true,\"Memory\":1024,\"CapAdd\":null,"
	"\"Binds\":[\"/var/run/docker.sock:/var/run/docker.sock\",\"/tmp:/tmp\"]},"
	"\"Image\":\"busybox:latest\",\"Labels\":{\"com.example.team\":\"a\"},"
	"\"Cmd\":[\"sh\",\"-c\",\"true\"],\"Tty\":false,\"Count\":\"1\",\"Ports\":[80,443]}";

static const struct dpp_header base_headers[] = {
	{"User-Agent", "curl/8.1"}, {"X-Multi", "a"}, {"Host", "docker"}, {"x-multi", "b"},
};

static const char *const base_query[] = {"force", "1", "name", "web", "name", "db", NULL};

struct matrix_row {
	const char *cond; /* flow list content of `conditions` */
	int match;
};

static const struct matrix_row matrix[] = {
	/* path */
	{"{field: path, operator: equals, value: /containers/abc/exec}", 1},
	{"{field: path, operator: equals, value: /containers/abc}", 0},
	{"{field: path, operator: not_equals, value: /containers/abc}", 1},
	{"{field: path, operator: not_equals, value: /containers/abc/exec}", 0},
	{"{field: path, operator: contains, value: /abc/}", 1},
	{"{field: path, operator: contains, value: /xyz/}", 0},
	{"{field: path, operator: not_contains, value: /abc/}", 0},
	{"{field: path, operator: not_contains, value: /xyz/}", 1},
	{"{field: path, operator: starts_with, value: /containers/}", 1},
	{"{field: path, operator: starts_with, value: /images/}", 0},
	{"{field: path, operator: ends_with, value: /exec}", 1},
	{"{field: path, operator: ends_with, value: /start}", 0},
	{"{field: path, operator: matches, value: '^/containers/[^/]+/exec$'}", 1},
	{"{field: path, operator: matches, value: '^/containers$'}", 0},
	{"{field: path, operator: matches, value: 'EXEC$'}", 0},
	{"{field: path, operator: matches, value: '(?i)EXEC$'}", 1},
	{"{field: path, operator: not_matches, value: '^/images'}", 1},
	{"{field: path, operator: not_matches, value: '/exec$'}", 0},
	{"{field: path, operator: in, value: [/a, /containers/abc/exec]}", 1},
	{"{field: path, operator: in, value: [/a, /b]}", 0},
	{"{field: path, operator: not_in, value: [/a, /containers/abc/exec]}", 0},
	{"{field: path, operator: not_in, value: [/a, /b]}", 1},
	{"{field: path, operator: exists}", 1},
	{"{field: path, operator: not_exists}", 0},
	{"{field: path, operator: not_exists}", 0},
	{"{field: path, operator: equals, value: /containers/abc/exec}", 1},
	{"{field: path, operator: equals, value: /containers/abc/exec/}", 0},
	{"{field: path, operator: in, value: [/x, /containers/abc/exec]}", 1},
	{"{field: path, operator: starts_with, value: /containers}, {field: path, "
	 "operator: ends_with, value: exec}", 1},
	{"{field: path, operator: starts_with, value: /containers}, {field: path, "
	 "operator: ends_with, value: start}", 0},
	/* method */
	{"{field: method, operator: equals, value: POST}", 1},
	{"{field: method, operator: equals, value: post}", 0},
	{"{field: method, operator: not_equals, value: POST}", 0},
	{"{field: method, operator: in, value: [GET, HEAD]}", 0},
	{"{field: method, operator: not_in, value: [GET, HEAD]}", 1},
	{"{field: method, operator: contains, value: OS}", 1},
	{"{field: method, operator: not_contains, value: OS}", 0},
	{"{field: method, operator: starts_with, value: P}", 1},
	{"{field: method, operator: ends_with, value: T}", 1},
	{"{field: method, operator: ends_with, value: X}", 0},
	{"{field: method, operator: matches, value: '^P(OST|UT)$'}", 1},
	{"{field: method, operator: not_matches, value: '^P'}", 0},
	{"{field: method, operator: exists}", 1},
	{"{field: method, operator: not_exists}", 0},
	/* header */
	{"{field: header.User-Agent, operator: equals, value: curl/8.1}", 1},
	{"{field: header.User-Agent, operator: not_equals, value: curl/8.1}", 0},
	{"{field: header.user-agent, operator: starts_with, value: curl/}", 1},
	{"{field: header.USER-AGENT, operator: contains, value: curl}", 1},
	{"{field: header.User-Agent, operator: not_contains, value: docker}", 1},
	{"{field: header.User-Agent, operator: ends_with, value: '8.1'}", 1},
	{"{field: header.User-Agent, operator: matches, value: '^curl/[0-9.]+$'}", 1},
	{"{field: header.User-Agent, operator: not_matches, value: '^curl'}", 0},
	{"{field: header.User-Agent, operator: in, value: [docker, curl/8.1]}", 1},
	{"{field: header.User-Agent, operator: not_in, value: [docker, curl/8.1]}", 0},
	{"{field: header.X-Multi, operator: equals, value: 'a, b'}", 1},
	{"{field: header.X-Multi, operator: in, value: [a, b]}", 0},
	{"{field: header.X-Multi, operator: not_in, value: [a, b]}", 1},
	{"{field: header.Host, operator: exists}", 1},
	{"{field: header.X-Registry-Auth, operator: exists}", 0},
	{"{field: header.X-Registry-Auth, operator: not_exists}", 1},
	{"{field: header.X-Registry-Auth, operator: not_equals, value: x}", 1},
	{"{field: header.X-Registry-Auth, operator: contains, value: x}", 0},
	{"{field: header.X-Registry-Auth, operator: not_matches, value: x}", 1},
	/* query */
	{"{field: query.force, operator: equals, value: '1'}", 1},
	{"{field: query.force, operator: equals, value: '1'}", 1},
	{"{field: query.force, operator: not_equals, value: '1'}", 0},
	{"{field: query.name, operator: equals, value: db}", 0},
	{"{field: query.name, operator: in, value: [web, db]}", 1},
	{"{field: query.name, operator: not_in, value: [web, db]}", 0},
	{"{field: query.name, operator: contains, value: e}", 1},
	{"{field: query.name, operator: not_contains, value: e}", 0},
	{"{field: query.name, operator: starts_with, value: w}", 1},
	{"{field: query.name, operator: ends_with, value: b}", 1},
	{"{field: query.name, operator: matches, value: '^w.b$'}", 1},
	{"{field: query.name, operator: not_matches, value: '^w.b$'}", 0},
	{"{field: query.force, operator: exists}", 1},
	{"{field: query.all, operator: exists}", 0},
	{"{field: query.all, operator: not_exists}", 1},
	/* client_ip */
	{"{field: client_ip, operator: equals, value: 10.1.2.3}", 1},
	{"{field: client_ip, operator: equals, value: 10.1.2.4}", 0},
	{"{field: client_ip, operator: equals, value: 10.1.2.2/31}", 1},
	{"{field: client_ip, operator: equals, value: 10.1.2.0/31}", 0},
	{"{field: client_ip, operator: not_equals, value: 10.1.2.0/24}", 0},
	{"{field: client_ip, operator: in, value: [10.0.0.0/8]}", 1},
	{"{field: client_ip, operator: in, value: [192.168.0.0/16, '::1']}", 0},
	{"{field: client_ip, operator: in, value: ['::/0']}", 0},
	{"{field: client_ip, operator: in, value: [0.0.0.0/0]}", 1},
	{"{field: client_ip, operator: not_in, value: [10.0.0.0/8]}", 0},
	{"{field: client_ip, operator: not_in, value: [172.16.0.0/12]}", 1},
	{"{field: client_ip, operator: starts_with, value: '10.'}", 1},
	{"{field: client_ip, operator: ends_with, value: '.3'}", 1},
	{"{field: client_ip, operator: contains, value: '.2.'}", 1},
	{"{field: client_ip, operator: not_contains, value: '.2.'}", 0},
	{"{field: client_ip, operator: matches, value: '^10\\.'}", 1},
	{"{field: client_ip, operator: not_matches, value: '^10\\.'}", 0},
	{"{field: client_ip, operator: exists}", 1},
	{"{field: client_ip, operator: not_exists}", 0},
	/* role */
	{"{field: role, operator: equals, value: user}", 1},
	{"{field: role, operator: not_equals, value: admin}", 1},
	{"{field: role, operator: in, value: [admin, ops]}", 0},
	{"{field: role, operator: not_in, value: [admin, ops]}", 1},
	{"{field: role, operator: contains, value: se}", 1},
	{"{field: role, operator: not_contains, value: se}", 0},
	{"{field: role, operator: starts_with, value: u}", 1},
	{"{field: role, operator: ends_with, value: r}", 1},
	{"{field: role, operator: matches, value: '^u'}", 1},
	{"{field: role, operator: not_matches, value: '^u'}", 0},
	{"{field: role, operator: exists}", 1},
	{"{field: role, operator: not_exists}", 0},
	/* identity */
	{"{field: identity, operator: equals, value: alice}", 1},
	{"{field: identity, operator: not_equals, value: alice}", 0},
	{"{field: identity, operator: in, value: [bob]}", 0},
	{"{field: identity, operator: not_in, value: [bob]}", 1},
	{"{field: identity, operator: contains, value: lic}", 1},
	{"{field: identity, operator: not_contains, value: lic}", 0},
	{"{field: identity, operator: starts_with, value: al}", 1},
	{"{field: identity, operator: ends_with, value: ce}", 1},
	{"{field: identity, operator: matches, value: '^a.*e$'}", 1},
	{"{field: identity, operator: not_matches, value: '^a.*e$'}", 0},
	{"{field: identity, operator: exists}", 1},
	{"{field: identity, operator: not_exists}", 0},
	/* body: typing */
	{"{field: body.HostConfig.Privileged, operator: equals, value: true}", 1},
	{"{field: body.HostConfig.Privileged, operator: equals, value: true}", 1},
	{"{field: body.HostConfig.Privileged, operator: equals, value: 'true'}", 0},
	{"{field: body.HostConfig.Privileged, operator: equals, value: 1}", 0},
	{"{field: body.HostConfig.Privileged, operator: not_equals, value: true}", 0},
	{"{field: body.HostConfig.Privileged, operator: not_equals, value: 'true'}", 1},
	{"{field: body.HostConfig.Memory, operator: equals, value: 1024}", 1},
	{"{field: body.HostConfig.Memory, operator: equals, value: '1024'}", 0},
	{"{field: body.HostConfig.Memory, operator: equals, value: 1024.0}", 1},
	{"{field: body.HostConfig.Memory, operator: equals, value: 0x400}", 1},
	{"{field: body.HostConfig.Memory, operator: equals, value: 1.024e3}", 1},
	{"{field: body.HostConfig.Memory, operator: in, value: [512, 1024]}", 1},
	{"{field: body.HostConfig.Memory, operator: not_in, value: [512, 1024]}", 0},
	{"{field: body.HostConfig.Memory, operator: matches, value: '^1024$'}", 1},
	{"{field: body.HostConfig.Memory, operator: contains, value: 1024}", 0},
	{"{field: body.Count, operator: equals, value: '1'}", 1},
	{"{field: body.Count, operator: equals, value: 1}", 0},
	{"{field: body.Count, operator: equals, value: \"1\"}", 1},
	{"{field: body.Tty, operator: equals, value: false}", 1},
	{"{field: body.Tty, operator: equals, value: False}", 1},
	{"{field: body.Tty, operator: equals, value: 'false'}", 0},
	{"{field: body.Tty, operator: equals, value: null}", 0},
	{"{field: body.Tty, operator: contains, value: false}", 0},
	/* body: null, absent, exists */
	{"{field: body.HostConfig.CapAdd, operator: equals, value: null}", 1},
	{"{field: body.HostConfig.CapAdd, operator: equals, value: ~}", 1},
	{"{field: body.HostConfig.CapAdd, operator: exists}", 0},
	{"{field: body.HostConfig.CapAdd, operator: not_exists}", 1},
	{"{field: body.HostConfig.Missing, operator: not_exists}", 1},
	{"{field: body.HostConfig.Missing, operator: equals, value: null}", 0},
	{"{field: body.HostConfig.Missing, operator: not_equals, value: x}", 1},
	{"{field: body.HostConfig, operator: exists}", 1},
	{"{field: body, operator: exists}", 1},
	{"{field: body.Image.x, operator: exists}", 0},
	/* body: strings */
	{"{field: body.Image, operator: starts_with, value: busybox}", 1},
	{"{field: body.Image, operator: ends_with, value: ':latest'}", 1},
	{"{field: body.Image, operator: ends_with, value: ':1.36'}", 0},
	{"{field: body.Image, operator: contains, value: box}", 1},
	{"{field: body.Image, operator: not_contains, value: box}", 0},
	{"{field: body.Image, operator: matches, value: '^busy'}", 1},
	{"{field: body.Image, operator: not_matches, value: '^busy'}", 0},
	{"{field: body.Image, operator: in, value: [alpine, 'busybox:latest']}", 1},
	/* body: arrays */
	{"{field: body.HostConfig.Binds, operator: contains, value: /var/run/docker.sock}", 1},
	{"{field: body.HostConfig.Binds, operator: contains, value: '/tmp:/tmp'}", 1},
	{"{field: body.HostConfig.Binds, operator: not_contains, value: /etc}", 1},
	{"{field: body.HostConfig.Binds, operator: not_contains, value: docker.sock}", 0},
	{"{field: body.HostConfig.Binds, operator: starts_with, value: /var/run}", 1},
	{"{field: body.HostConfig.Binds, operator: starts_with, value: /etc}", 0},
	{"{field: body.HostConfig.Binds, operator: ends_with, value: ':/tmp'}", 1},
	{"{field: body.HostConfig.Binds, operator: matches, value: 'docker\\.sock'}", 1},
	{"{field: body.HostConfig.Binds, operator: matches, value: '^\\[\"/var'}", 1},
	{"{field: body.HostConfig.Binds.1, operator: equals, value: '/tmp:/tmp'}", 1},
	{"{field: body.HostConfig.Binds.5, operator: exists}", 0},
	{"{field: body.Cmd, operator: equals, value: [sh, -c, 'true']}", 1},
	{"{field: body.Cmd, operator: equals, value: [sh, -c, true]}", 0},
	{"{field: body.Cmd, operator: equals, value: [sh, -c]}", 0},
	{"{field: body.Cmd, operator: contains, value: -c}", 1},
	{"{field: body.Ports, operator: contains, value: 80}", 1},
	{"{field: body.Ports, operator: contains, value: '80'}", 0},
	{"{field: body.Ports, operator: in, value: [[80, 443]]}", 1},
	/* body: objects */
	{"{field: body.Labels, operator: contains, value: com.example.team}", 1},
	{"{field: body.Labels, operator: contains, value: com.example}", 0},
	{"{field: body.Labels, operator: equals, value: {com.example.team: a}}", 1},
	{"{field: body.Labels, operator: equals, value: {com.example.team: b}}", 0},
	{"{field: body.Labels, operator: matches, value: '\"com\\.example\\.team\":\"a\"'}", 1},
	/* groups */
	{"{or: [{field: path, operator: equals, value: /x}, {field: method, "
	 "operator: equals, value: POST}]}", 1},
	{"{or: [{field: path, operator: equals, value: /x}, {field: method, "
	 "operator: equals, value: GET}]}", 0},
	{"{and: [{field: path, operator: starts_with, value: /containers}, "
	 "{field: method, operator: equals, value: POST}]}", 1},
	{"{and: [{field: path, operator: starts_with, value: /containers}, "
	 "{field: method, operator: equals, value: GET}]}", 0},
	{"{not: [{field: method, operator: equals, value: GET}]}", 1},
	{"{not: [{field: method, operator: equals, value: POST}]}", 0},
	{"{not: [{field: method, operator: equals, value: POST}, {field: path, "
	 "operator: equals, value: /x}]}", 1},
	{"{not: [{field: method, operator: equals, value: POST}, {field: path, "
	 "operator: starts_with, value: /}]}", 0},
	{"{field: path, operator: starts_with, value: /containers}, {field: method, "
	 "operator: equals, value: GET}", 0},
	{"{or: [{and: [{not: [{field: role, operator: equals, value: admin}]}, "
	 "{or: [{field: path, operator: equals, value: /x}, "
	 "{field: body.HostConfig.Privileged, operator: equals, value: true}]}]}]}", 1},
	{"{or: [{and: [{not: [{field: role, operator: equals, value: user}]}, "
	 "{or: [{field: path, operator: equals, value: /x}, "
	 "{field: body.HostConfig.Privileged, operator: equals, value: true}]}]}]}", 0},
	{"{not: [{not: [{not: [{or: [{field: method, operator: equals, value: GET}, "
	 "{not: [{field: path, operator: contains, value: exec}]}]}]}]}]}", 1},
};

static void base_request(struct dpp_request_view *req, cJSON *body)
{
	memset(req, 0, sizeof(*req));
	req->method = "POST";
	req->path = "/containers/abc/exec";
	req->headers = base_headers;
	req->n_headers = sizeof(base_headers) / sizeof(base_headers[0]);
	req->query_get = fx_query_get;
	req->query_ctx = (void *)base_query;
	req->client_ip = "10.1.2.3";
	req->role = "user";
	req->identity = "alice";
	req->body_get = fx_body_get;
	req->body_ctx = body;
}

static struct dpp_ruleset *compile_text(const char *yaml)
{
	struct dpp_ruleset *rs;
	char *errors;

	if (fx_compile(yaml, &rs, &errors) != 0) {
		fprintf(stderr, "compile failed for\n%s\n%s", yaml, errors ? errors : "?\n");
		free(errors);
		return NULL;
	}
	return rs;
}

/* One rule "r" (deny unless head says otherwise) with `conditions: [cond]`. */
static struct dpp_ruleset *compile_match(const char *head, const char *cond)
{
	char yaml[2048];

	snprintf(yaml, sizeof(yaml), "rules:\n  - name: r\n    action: %s\n    conditions: [%s]\n",
		 head, cond);
	return compile_text(yaml);
}

static void test_operator_matrix(void **state)
{
	cJSON *body = cJSON_Parse(base_body);
	struct dpp_request_view req;
	size_t i, failures = 0;

	(void)state;
	assert_non_null(body);
	base_request(&req, body);
	for (i = 0; i < sizeof(matrix) / sizeof(matrix[0]); i++) {
		struct dpp_ruleset *rs = compile_match("deny", matrix[i].cond);
		struct dpp_policy_decision d;
		int got;

		if (rs == NULL) {
			failures++;
			continue;
		}
		if (dpp_policy_evaluate(rs, &req, NULL, 0, &d) != 0) {
			fprintf(stderr, "%s: internal error %s\n", matrix[i].cond, d.error);
			failures++;
		} else {
			got = d.verdict == DPP_POLICY_DENY;
			if (got != matrix[i].match) {
				fprintf(stderr, "%s: expected %s\n", matrix[i].cond,
					matrix[i].match ? "match" : "no match");
				failures++;
			}
		}
		dpp_policy_decision_done(&d);
		dpp_ruleset_unref(rs);
	}
	cJSON_Delete(body);
	assert_int_equal(failures, 0);
}

/* Absent request parts: positive operators never match, negated ones do. */
static void test_absent_fields(void **state)
{
	static const struct matrix_row rows[] = {
		{"{field: body.Image, operator: exists}", 0},   {"{field: body.Image, operator: not_exists}", 1},
		{"{field: body.Image, operator: equals, value: null}", 0},   {"{field: body.Image, operator: not_equals, value: x}", 1},
		{"{field: body, operator: not_exists}", 1},     {"{field: role, operator: not_equals, value: admin}", 1},
		{"{field: role, operator: equals, value: admin}", 0},	     {"{field: identity, operator: not_exists}", 1},
		{"{field: client_ip, operator: in, value: [0.0.0.0/0]}", 0}, {"{field: client_ip, operator: not_in, value: [0.0.0.0/0]}", 1},
		{"{field: query.force, operator: not_exists}", 1}, {"{field: header.Host, operator: matches, value: '.*'}", 0},
		{"{field: header.Host, operator: not_matches, value: '.*'}", 1}, {"{field: path, operator: exists}", 0},
	};
	struct dpp_request_view req;
	size_t i, failures = 0;

	(void)state;
	memset(&req, 0, sizeof(req));
	req.role = ""; /* empty counts as none */
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct dpp_ruleset *rs = compile_match("deny", rows[i].cond);
		struct dpp_policy_decision d;

		assert_non_null(rs);
		assert_int_equal(dpp_policy_evaluate(rs, &req, NULL, 0, &d), 0);
		if ((d.verdict == DPP_POLICY_DENY) != rows[i].match) {
			fprintf(stderr, "%s: expected %s\n", rows[i].cond,
				rows[i].match ? "match" : "no match");
			failures++;
		}
		dpp_policy_decision_done(&d);
		dpp_ruleset_unref(rs);
	}
	assert_int_equal(failures, 0);
}

/* ---- fail closed ---- */

/* Regexes are JIT-compiled at their first match (policy.c): threads that
 * reach the same fresh regexes at once must all get the right answers (run
 * under the sanitizer builds, this also checks the hand-over). */
struct jit_race {
	struct dpp_ruleset *rs;
	pthread_barrier_t *go;
	int wrong;
};

static void *jit_race_thread(void *arg)
{
	struct jit_race *jr = arg;
	char path[32];

	pthread_barrier_wait(jr->go);
	for (int round = 0; round < 50; round++) {
		for (int k = 0; k < 17; k++) {
			struct dpp_request_view req = {.method = "GET", .path = path};
			struct dpp_policy_decision d;
			char want[8];

			snprintf(path, sizeof(path), k < 16 ? "/p%d/x" : "/q", k);
			snprintf(want, sizeof(want), "r%d", k);
			if (dpp_policy_evaluate(jr->rs, &req, NULL, 0, &d) != 0 ||
			    (k < 16 ? d.verdict != DPP_POLICY_DENY || d.rule == NULL ||
					      strcmp(d.rule, want) != 0
				    : d.verdict != DPP_POLICY_ALLOW))
				jr->wrong++;
			dpp_policy_decision_done(&d);
		}
	}
	return NULL;
}

static void test_regex_jit_at_first_match_concurrent(void **state)
{
	char yaml[4096];
	size_t len = 0;
	pthread_barrier_t go;
	pthread_t t[4];
	struct jit_race jr[4];

	(void)state;
	len += (size_t)snprintf(yaml + len, sizeof(yaml) - len, "rules:\n");
	for (int k = 0; k < 16; k++)
		len += (size_t)snprintf(yaml + len, sizeof(yaml) - len,
					"  - {name: r%d, action: deny, conditions: [{field: path, "
					"operator: matches, value: '^/p%d(/|$)'}]}\n",
					k, k);
	struct dpp_ruleset *rs = compile_text(yaml);

	assert_non_null(rs);
	assert_int_equal(pthread_barrier_init(&go, NULL, 4), 0);
	for (int i = 0; i < 4; i++) {
		jr[i] = (struct jit_race){.rs = rs, .go = &go};
		assert_int_equal(pthread_create(&t[i], NULL, jit_race_thread, &jr[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(jr[i].wrong, 0);
	}
	pthread_barrier_destroy(&go);
	dpp_ruleset_unref(rs);
}

static void test_regex_limit_fails_closed(void **state)
{
	struct dpp_ruleset *rs = compile_match("allow", "{field: header.X, operator: matches, value: '^(a+)+$'}");
	struct dpp_header h = {"X", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"};
	struct dpp_request_view req = {.method = "GET", .path = "/x", .headers = &h, .n_headers = 1};
	struct dpp_policy_decision d;

	(void)state;
	assert_non_null(rs);
	assert_int_equal(dpp_policy_evaluate(rs, &req, NULL, 0, &d), -1);
	assert_int_equal(d.verdict, DPP_POLICY_DENY);
	assert_int_equal(d.status, 500);
	assert_string_equal(d.error, "regex match limit exceeded");
	assert_string_equal(d.rule, "r");
	dpp_policy_decision_done(&d);
	dpp_ruleset_unref(rs);
}

static void test_missing_limiter_fails_closed(void **state)
{
	struct dpp_ruleset *rs = compile_text("rules:\n  - name: rl\n    action: rate_limit\n"
						"    rate_limit: {requests: 1, period: 1s}\n");
	struct dpp_request_view req = {.method = "GET", .path = "/x"};
	struct dpp_policy_decision d;

	(void)state;
	assert_int_equal(dpp_policy_evaluate(rs, &req, NULL, 0, &d), -1);
	assert_int_equal(d.status, 500);
	assert_string_equal(d.error, "no rate limiter");
	dpp_policy_decision_done(&d);
	assert_int_equal(dpp_policy_evaluate(NULL, &req, NULL, 0, &d), -1);
	assert_int_equal(d.status, 500);
	dpp_policy_decision_done(&d);
	dpp_ruleset_unref(rs);
}

static void test_header_join_limit(void **state)
{
	struct dpp_ruleset *rs = compile_match("allow", "{field: header.X, operator: exists}");
	struct dpp_header h[40];
	char *big = malloc(4000);
	struct dpp_request_view req = {.method = "GET", .path = "/x", .headers = h, .n_headers = 40};
	struct dpp_policy_decision d;

	(void)state;
	assert_non_null(big);
	memset(big, 'v', 3999);
	big[3999] = '\0';
	for (int i = 0; i < 40; i++)
		h[i] = (struct dpp_header){"x", big};
	/* 40 * 4000 bytes joined > 64 KiB: a 500, never a silent truncation. */
	assert_int_equal(dpp_policy_evaluate(rs, &req, NULL, 0, &d), -1);
	assert_string_equal(d.error, "repeated header too long");
	dpp_policy_decision_done(&d);
	req.n_headers = 10;
	assert_int_equal(dpp_policy_evaluate(rs, &req, NULL, 0, &d), 0);
	assert_int_equal(d.verdict, DPP_POLICY_ALLOW);
	assert_string_equal(d.rule, "r");
	dpp_policy_decision_done(&d);
	free(big);
	dpp_ruleset_unref(rs);
}

/* Buckets survive a swap to a new ruleset keeping the rule name; the buckets
 * of rules gone are dropped. */
static void test_limiter_survives_swap(void **state)
{
	static const char v1[] = "rules:\n"
				 "  - {name: rl, action: rate_limit, rate_limit: {requests: 1, period: 1h, penalty: 0}}\n"
				 "  - {name: old, action: rate_limit, rate_limit: {requests: 5, period: 1h, penalty: 0}}\n";
	static const char v2[] = "rules:\n"
				 "  - {name: other, action: allow,\n"
				 "     conditions: [{field: path, operator: equals, value: /never}]}\n"
				 "  - {name: rl, action: rate_limit, rate_limit: {requests: 1, period: 1h, penalty: 0}}\n";
	struct dpp_ratelimit *rl = dpp_ratelimit_create(16);
	struct dpp_request_view req = {.method = "GET", .path = "/x", .client_ip = "10.0.0.9"};
	struct dpp_ruleset *a, *b;
	struct dpp_policy_decision d;
	char *errors;
	size_t count;

	(void)state;
	assert_int_equal(fx_compile(v1, &a, &errors), 0);
	assert_int_equal(fx_compile(v2, &b, &errors), 0);
	assert_int_equal(dpp_policy_evaluate(a, &req, rl, 0, &d), 0);
	assert_int_equal(d.verdict, DPP_POLICY_ALLOW);
	dpp_policy_decision_done(&d);
	assert_int_equal(dpp_ruleset_retain_buckets(b, rl), 1); /* "old" */
	dpp_ratelimit_stats(rl, &count, NULL);
	assert_int_equal(count, 1);
	assert_int_equal(dpp_policy_evaluate(b, &req, rl, 1000, &d), 0);
	assert_int_equal(d.verdict, DPP_POLICY_DENY);
	assert_int_equal(d.status, 429);
	assert_string_equal(d.rule, "rl");
	assert_int_equal(d.retry_after, 3599);
	dpp_policy_decision_done(&d);
	dpp_ruleset_unref(a);
	dpp_ruleset_unref(b);
	dpp_ratelimit_free(rl);
}

/* ---- data-driven behaviour cases ---- */

struct file_query {
	yaml_document_t *doc;
	yaml_node_t *map;
};

static const char *file_query_get(void *ctx, const char *name)
{
	struct file_query *q = ctx;

	return fx_text(fx_get(q->doc, q->map, name));
}

/* Compares the list node (sequence of scalars, or absent = empty) with got. */
static bool same_list(yaml_document_t *doc, yaml_node_t *want, const char *const *got, size_t n,
		      const char *what, const char *file)
{
	size_t i = 0;
	yaml_node_item_t *it;

	if (want != NULL && want->type == YAML_SEQUENCE_NODE) {
		for (it = want->data.sequence.items.start; it < want->data.sequence.items.top;
		     it++, i++) {
			const char *w = fx_text(yaml_document_get_node(doc, *it));

			if (i >= n || w == NULL || strcmp(w, got[i]) != 0) {
				fprintf(stderr, "%s: %s[%zu]: want %s, got %s\n", file, what, i,
					w ? w : "?", i < n ? got[i] : "(none)");
				return false;
			}
		}
	}
	if (i != n) {
		fprintf(stderr, "%s: %s: want %zu entries, got %zu\n", file, what, i, n);
		return false;
	}
	return true;
}

static long num_or(yaml_node_t *n, long dflt)
{
	const char *s = fx_text(n);

	return s != NULL ? strtol(s, NULL, 10) : dflt;
}

/* Runs one case file. Returns true when it passes (else says why on stderr). */
static bool run_case(const char *path)
{
	yaml_document_t doc;
	yaml_node_t *root, *request, *expect, *n;
	struct dpp_ruleset *rs = NULL;
	struct dpp_ratelimit *rl = NULL;
	struct dpp_policy_decision d = {0};
	struct dpp_request_view req = {0};
	struct dpp_header headers[16];
	struct file_query q;
	cJSON *body = NULL;
	char *errors = NULL, *text = NULL;
	const char *filter_fields[16];
	const char *s;
	bool ok = false;
	long repeat, step, now = 1000000, i;
	FILE *f;
	size_t len;

	f = fopen(path, "r");
	if (f == NULL)
		return false;
	text = calloc(1, 65536);
	len = text != NULL ? fread(text, 1, 65535, f) : 0;
	fclose(f);
	if (len == 0 || fx_load(&doc, text) < 0) {
		fprintf(stderr, "%s: cannot read or parse\n", path);
		free(text);
		return false;
	}
	root = yaml_document_get_root_node(&doc);
	if (dpp_ruleset_compile(&doc, fx_get(&doc, root, "rules"), path, &rs, &errors) != 0) {
		fprintf(stderr, "%s: compile failed:\n%s", path, errors);
		goto out;
	}
	s = fx_text(fx_get(&doc, root, "default"));
	if (s != NULL && strcmp(s, "deny") == 0)
		dpp_ruleset_set_default(rs, DPP_POLICY_DENY);

	request = fx_get(&doc, root, "request");
	req.method = fx_text(fx_get(&doc, request, "method"));
	req.path = fx_text(fx_get(&doc, request, "path"));
	req.client_ip = fx_text(fx_get(&doc, request, "client_ip"));
	req.role = fx_text(fx_get(&doc, request, "role"));
	req.identity = fx_text(fx_get(&doc, request, "identity"));
	n = fx_get(&doc, request, "headers");
	if (n != NULL && n->type == YAML_SEQUENCE_NODE) {
		yaml_node_item_t *it;

		for (it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top && req.n_headers < 16; it++) {
			yaml_node_t *pair = yaml_document_get_node(&doc, *it);

			headers[req.n_headers].name =
				fx_text(yaml_document_get_node(&doc, pair->data.sequence.items.start[0]));
			headers[req.n_headers].value =
				fx_text(yaml_document_get_node(&doc, pair->data.sequence.items.start[1]));
			req.n_headers++;
		}
		req.headers = headers;
	}
	q.doc = &doc;
	q.map = fx_get(&doc, request, "query");
	req.query_get = file_query_get;
	req.query_ctx = &q;
	s = fx_text(fx_get(&doc, request, "body"));
	if (s != NULL) {
		body = cJSON_Parse(s);
		if (body == NULL) {
			fprintf(stderr, "%s: request.body is not JSON\n", path);
			goto out;
		}
		req.body_get = fx_body_get;
		req.body_ctx = body;
	}

	rl = dpp_ratelimit_create(64);
	repeat = num_or(fx_get(&doc, root, "repeat"), 1);
	step = num_or(fx_get(&doc, root, "step_ms"), 0);
	for (i = 0; i < repeat; i++, now += step) {
		dpp_policy_decision_done(&d);
		if (dpp_policy_evaluate(rs, &req, rl, (uint64_t)now, &d) != 0) {
			fprintf(stderr, "%s: internal error: %s\n", path, d.error);
			goto out;
		}
	}

	expect = fx_get(&doc, root, "expect");
	s = fx_text(fx_get(&doc, expect, "verdict"));
	if (s == NULL || strcmp(s, dpp_policy_verdict_name(d.verdict)) != 0) {
		fprintf(stderr, "%s: verdict: want %s, got %s (rule %s)\n", path, s ? s : "?",
			dpp_policy_verdict_name(d.verdict), d.rule ? d.rule : "default");
		goto out;
	}
	if (d.status != num_or(fx_get(&doc, expect, "status"), 0)) {
		fprintf(stderr, "%s: status: got %d\n", path, d.status);
		goto out;
	}
	s = fx_text(fx_get(&doc, expect, "rule"));
	if ((s == NULL) != (d.rule == NULL) || (s != NULL && strcmp(s, d.rule) != 0)) {
		fprintf(stderr, "%s: rule: want %s, got %s\n", path, s ? s : "default",
			d.rule ? d.rule : "default");
		goto out;
	}
	s = fx_text(fx_get(&doc, expect, "message"));
	if (s != NULL && (d.message == NULL || strcmp(s, d.message) != 0)) {
		fprintf(stderr, "%s: message: got %s\n", path, d.message ? d.message : "(none)");
		goto out;
	}
	if ((long)d.retry_after != num_or(fx_get(&doc, expect, "retry_after"), 0)) {
		fprintf(stderr, "%s: retry_after: got %u\n", path, d.retry_after);
		goto out;
	}
	if (!same_list(&doc, fx_get(&doc, expect, "dry_run"), d.dry_run, d.n_dry_run, "dry_run",
		       path))
		goto out;
	for (i = 0; i < (long)d.n_filters && i < 16; i++)
		filter_fields[i] = d.filters[i].field;
	if (!same_list(&doc, fx_get(&doc, expect, "filters"), filter_fields, d.n_filters,
		       "filters", path))
		goto out;
	ok = true;
out:
	dpp_policy_decision_done(&d);
	dpp_ratelimit_free(rl);
	cJSON_Delete(body);
	dpp_ruleset_unref(rs);
	free(errors);
	yaml_document_delete(&doc);
	free(text);
	return ok;
}

/* The decision names the deciding rule's action, and each dry-run match its
 * rule's action and message (the audit record's rule_action, message). The
 * rules have no conditions (they match every request), so this holds in any
 * condition dialect. */
static void test_decision_names_actions(void **state)
{
	struct dpp_request_view req;
	struct dpp_policy_decision d;
	struct dpp_ruleset *rs;

	(void)state;
	base_request(&req, NULL); /* role "user" */
	rs = compile_text("rules:\n"
			  "  - name: watch\n    action: deny\n    dry_run: true\n"
			  "    message: would be denied\n"
			  "  - name: admins\n    action: require_role\n    role: ops\n"
			  "    dry_run: true\n"
			  "  - name: users-ok\n    action: require_role\n    role: user\n"
			  "  - name: gate\n    action: require_role\n    role: ops\n"
			  "    message: ops only\n");
	assert_non_null(rs);
	assert_int_equal(dpp_policy_evaluate(rs, &req, NULL, 0, &d), 0);
	assert_int_equal(d.verdict, DPP_POLICY_DENY);
	assert_string_equal(d.rule, "gate"); /* a satisfied require_role goes on */
	assert_string_equal(d.rule_action, "require_role");
	assert_int_equal(d.status, 403);
	assert_int_equal(d.n_dry_run, 2);
	assert_string_equal(d.dry_run[0], "watch");
	assert_string_equal(d.dry_run_actions[0], "deny");
	assert_string_equal(d.dry_run_messages[0], "would be denied");
	assert_string_equal(d.dry_run[1], "admins");
	assert_string_equal(d.dry_run_actions[1], "require_role");
	assert_non_null(d.dry_run_messages[1]); /* the compiled default message */
	dpp_policy_decision_done(&d);
	dpp_ruleset_unref(rs);

	rs = compile_text("rules:\n  - name: stop\n    action: deny\n    message: no\n");
	assert_non_null(rs);
	assert_int_equal(dpp_policy_evaluate(rs, &req, NULL, 0, &d), 0);
	assert_string_equal(d.rule_action, "deny");
	assert_int_equal(d.n_dry_run, 0);
	dpp_policy_decision_done(&d);
	dpp_ruleset_unref(rs);

	rs = compile_text("rules:\n  - name: ok\n    action: allow\n"
			  "  - name: stop\n    action: deny\n");
	assert_non_null(rs);
	assert_int_equal(dpp_policy_evaluate(rs, &req, NULL, 0, &d), 0);
	assert_int_equal(d.verdict, DPP_POLICY_ALLOW);
	assert_string_equal(d.rule, "ok");
	assert_string_equal(d.rule_action, "allow");
	dpp_policy_decision_done(&d);
	dpp_ruleset_unref(rs);

	/* The default action decides: no rule, no action. */
	rs = compile_text("rules: []\n");
	assert_non_null(rs);
	dpp_ruleset_set_default(rs, DPP_POLICY_DENY);
	assert_int_equal(dpp_policy_evaluate(rs, &req, NULL, 0, &d), 0);
	assert_int_equal(d.verdict, DPP_POLICY_DENY);
	assert_null(d.rule);
	assert_null(d.rule_action);
	dpp_policy_decision_done(&d);
	dpp_ruleset_unref(rs);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_policy_cases(void **state)
{
	const char *src = getenv("DPP_SOURCE_DIR");
	char dir[1024], path[2048];
	char *names[256];
	size_t n = 0, i, failures = 0;
	struct dirent *de;
	DIR *dp;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/tests/unit/data/policy", src != NULL ? src : ".");
	dp = opendir(dir);
	assert_non_null(dp);
	while ((de = readdir(dp)) != NULL && n < 256) {
		size_t l = strlen(de->d_name);

		if (l > 5 && strcmp(de->d_name + l - 5, ".yaml") == 0)
			names[n++] = strdup(de->d_name);
	}
	closedir(dp);
	qsort(names, n, sizeof(names[0]), name_cmp);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (!run_case(path))
			failures++;
		free(names[i]);
	}
	fprintf(stderr, "%zu policy cases, %zu failed\n", n, failures);
	assert_true(n >= 30);
	assert_int_equal(failures, 0);
}

/* ---- the seed's defaults and loose spots ---- */

/* rate_limit: {requests: 5, period: 1}: the penalty defaults to the seed's
 * 30 s, so the 6th rapid request is refused and so is one 2 s later (a
 * refilled bucket alone would have let it through), until the penalty ends. */
static void test_rate_limit_default_penalty(void **state)
{
	struct dpp_ruleset *rs = compile_text(
		"rules:\n  - name: burst\n    action: rate_limit\n"
		"    rate_limit: {requests: 5, period: 1}\n    message: slow down\n");
	struct dpp_ratelimit *rl = dpp_ratelimit_create(16);
	struct dpp_request_view req = {.method = "GET", .path = "/x", .client_ip = "10.0.0.7"};
	struct dpp_policy_decision d;
	int i;

	(void)state;
	assert_non_null(rs);
	assert_non_null(rl);
	for (i = 0; i < 5; i++) {
		assert_int_equal(dpp_policy_evaluate(rs, &req, rl, 1000 + (uint64_t)i, &d), 0);
		assert_int_equal(d.verdict, DPP_POLICY_ALLOW);
		dpp_policy_decision_done(&d);
	}
	assert_int_equal(dpp_policy_evaluate(rs, &req, rl, 1005, &d), 0);
	assert_int_equal(d.verdict, DPP_POLICY_DENY);
	assert_int_equal(d.status, 429);
	assert_string_equal(d.message, "slow down");
	assert_string_equal(d.rule, "burst");
	assert_int_equal(d.retry_after, 30);
	dpp_policy_decision_done(&d);
	assert_int_equal(dpp_policy_evaluate(rs, &req, rl, 3005, &d), 0);
	assert_int_equal(d.verdict, DPP_POLICY_DENY);
	assert_int_equal(d.status, 429);
	assert_int_equal(d.retry_after, 28);
	dpp_policy_decision_done(&d);
	assert_int_equal(dpp_policy_evaluate(rs, &req, rl, 31006, &d), 0);
	assert_int_equal(d.verdict, DPP_POLICY_ALLOW);
	dpp_policy_decision_done(&d);
	dpp_ratelimit_free(rl);
	dpp_ruleset_unref(rs);
}

/* require_role without role (or role: null) requires admin; status and
 * message apply to it; a rate_limit rule's status replaces 429. */
static void test_require_role_default_admin(void **state)
{
	struct dpp_ruleset *rs = compile_text(
		"rules:\n"
		"  - {name: admins, action: require_role, role: null, status: 401,\n"
		"     conditions: [{field: path, operator: starts_with, value: /swarm}]}\n"
		"  - {name: ops, action: require_role, message: ops only,\n"
		"     conditions: [{field: path, operator: starts_with, value: /nodes}]}\n"
		"  - {name: rl, action: rate_limit, status: 503, rate_limit: {requests: 1},\n"
		"     conditions: [{field: path, operator: equals, value: /rl}]}\n");
	struct dpp_ratelimit *rl = dpp_ratelimit_create(16);
	struct dpp_request_view req = {.method = "GET", .path = "/swarm", .role = "ops"};
	struct dpp_policy_decision d;

	(void)state;
	assert_non_null(rs);
	assert_int_equal(dpp_policy_evaluate(rs, &req, rl, 0, &d), 0);
	assert_int_equal(d.verdict, DPP_POLICY_DENY);
	assert_int_equal(d.status, 401);
	assert_string_equal(d.message, "role admin required");
	dpp_policy_decision_done(&d);
	req.role = "admin";
	assert_int_equal(dpp_policy_evaluate(rs, &req, rl, 0, &d), 0);
	assert_int_equal(d.verdict, DPP_POLICY_ALLOW);
	dpp_policy_decision_done(&d);
	req.role = "ops";
	req.path = "/nodes";
	assert_int_equal(dpp_policy_evaluate(rs, &req, rl, 0, &d), 0);
	assert_int_equal(d.verdict, DPP_POLICY_DENY);
	assert_int_equal(d.status, 403);
	assert_string_equal(d.message, "ops only");
	dpp_policy_decision_done(&d);
	req.path = "/rl";
	assert_int_equal(dpp_policy_evaluate(rs, &req, rl, 0, &d), 0);
	assert_int_equal(d.verdict, DPP_POLICY_ALLOW);
	dpp_policy_decision_done(&d);
	assert_int_equal(dpp_policy_evaluate(rs, &req, rl, 1, &d), 0);
	assert_int_equal(d.verdict, DPP_POLICY_DENY);
	assert_int_equal(d.status, 503);
	assert_string_equal(d.message, "rate limit exceeded");
	assert_int_equal(d.retry_after, 30);
	dpp_policy_decision_done(&d);
	dpp_ratelimit_free(rl);
	dpp_ruleset_unref(rs);
}

/* exists/not_exists ignore a value, whatever it says (the seed's wizard
 * writes value: null); methods: has no effect on matching. */
static void test_exists_value_and_methods_ignored(void **state)
{
	static const char *const values[] = {"null", "false", "true", "[a]", "x"};
	struct dpp_header h = {"X-Probe", "1"};
	struct dpp_request_view req = {.method = "POST", .path = "/x", .headers = &h,
				       .n_headers = 1};
	struct dpp_policy_decision d;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		char yaml[512];
		struct dpp_ruleset *rs;

		snprintf(yaml, sizeof(yaml),
			 "rules:\n  - name: r\n    action: deny\n    methods: [GET]\n"
			 "    conditions:\n"
			 "      - {field: header.X-Probe, operator: exists, value: %s}\n"
			 "      - {field: header.X-Other, operator: not_exists, value: %s}\n",
			 values[i], values[i]);
		rs = compile_text(yaml);
		assert_non_null(rs);
		assert_int_equal(dpp_policy_evaluate(rs, &req, NULL, 0, &d), 0);
		if (d.verdict != DPP_POLICY_DENY)
			fail_msg("value %s changed exists/not_exists (or methods matched)", values[i]);
		dpp_policy_decision_done(&d);
		dpp_ruleset_unref(rs);
	}
}

/* The console's view of an evaluation: which rules ran (rules the dispatch
 * index skips are not evaluated, hence not in the trace), each top-level
 * condition's result (short-circuit shown as not evaluated), and the live
 * counters, which a reload carries over by rule name. */
static void test_trace_and_counters(void **state)
{
	struct dpp_request_view req = {.method = "GET", .path = "/containers/json"};
	struct dpp_policy_decision d;
	struct dpp_rule_info ri;
	struct dpp_ruleset *rs, *next;
	char text[128];

	(void)state;
	rs = compile_text("rules:\n"
			  "  - name: a\n    action: deny\n    conditions:\n"
			  /* not a method or path literal: the dispatch index visits it */
			  "      - {field: header.X-Test, operator: equals, value: y}\n"
			  "      - {field: path, operator: starts_with, value: /containers}\n"
			  "  - name: b\n    action: deny\n    dry_run: true\n    conditions:\n"
			  "      - {field: path, operator: starts_with, value: /containers}\n"
			  "      - {field: method, operator: equals, value: GET}\n"
			  "  - name: c\n    action: deny\n    conditions:\n"
			  "      - {field: method, operator: equals, value: GET}\n");
	assert_non_null(rs);
	assert_int_equal(dpp_policy_evaluate(rs, &req, NULL, 5000, &d), 0);
	assert_int_equal(d.verdict, DPP_POLICY_DENY);
	assert_int_equal(d.trace.ruleset_id, dpp_ruleset_id(rs));
	assert_int_equal(d.trace.n, 3);
	/* a: first condition false, second never evaluated */
	assert_int_equal(d.trace.r[0].rule, 0);
	assert_int_equal(d.trace.r[0].outcome, DPP_TRACE_NO_MATCH);
	assert_int_equal(d.trace.r[0].n_conds, 2);
	assert_int_equal(d.trace.r[0].n_evaluated, 1);
	assert_int_equal(d.trace.r[0].held, 0);
	/* b: both held, dry run */
	assert_int_equal(d.trace.r[1].outcome, DPP_TRACE_DRY_RUN);
	assert_int_equal(d.trace.r[1].held, 3);
	/* c denied */
	assert_int_equal(d.trace.r[2].outcome, DPP_TRACE_DENIED);
	dpp_policy_decision_done(&d);
	assert_int_equal(dpp_ruleset_rule_info(rs, 1, &ri), 0);
	assert_string_equal(ri.name, "b");
	assert_int_equal(ri.hits, 1);
	assert_int_equal(ri.dry_runs, 1);
	assert_int_equal(ri.denials, 0);
	assert_int_equal(ri.last_hit_ms, 5000);
	assert_int_equal(dpp_ruleset_rule_info(rs, 2, &ri), 0);
	assert_int_equal(ri.denials, 1);
	assert_int_equal(dpp_ruleset_rule_info(rs, 0, &ri), 0);
	assert_int_equal(ri.hits, 0);
	assert_int_equal(ri.last_hit_ms, 0);
	assert_int_equal(dpp_ruleset_cond_text(rs, 0, 1, text, sizeof(text)), 0);
	assert_string_equal(text, "path starts_with \"/containers\"");
	assert_int_equal(dpp_ruleset_cond_text(rs, 0, 2, text, sizeof(text)), -1);
	/* A reload keeps the counters of rules whose name stays. */
	next = compile_text("rules:\n  - name: c\n    action: allow\n  - name: new\n    action: deny\n");
	assert_non_null(next);
	assert_true(dpp_ruleset_id(next) != dpp_ruleset_id(rs));
	dpp_ruleset_carry_stats(next, rs);
	assert_int_equal(dpp_ruleset_rule_info(next, 0, &ri), 0);
	assert_string_equal(ri.name, "c");
	assert_int_equal(ri.denials, 1);
	assert_int_equal(dpp_ruleset_rule_info(next, 1, &ri), 0);
	assert_int_equal(ri.hits, 0);
	dpp_ruleset_unref(next);
	dpp_ruleset_unref(rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_operator_matrix),
		cmocka_unit_test(test_absent_fields),
		cmocka_unit_test(test_regex_limit_fails_closed),
		cmocka_unit_test(test_regex_jit_at_first_match_concurrent),
		cmocka_unit_test(test_missing_limiter_fails_closed),
		cmocka_unit_test(test_header_join_limit),
		cmocka_unit_test(test_limiter_survives_swap),
		cmocka_unit_test(test_decision_names_actions),
		cmocka_unit_test(test_rate_limit_default_penalty),
		cmocka_unit_test(test_require_role_default_admin),
		cmocka_unit_test(test_exists_value_and_methods_ignored),
		cmocka_unit_test(test_policy_cases),
		cmocka_unit_test(test_trace_and_counters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
