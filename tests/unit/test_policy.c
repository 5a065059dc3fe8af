/* Policy evaluation: every operator on every field type (a table), the
 * behaviour cases in tests/unit/data/policy/ (one YAML file each: rules,
 * request, expected decision), and fail-closed internal errors. */
#include <dirent.h>
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
	const char *cond; /* flow mapping content of `match` */
	int match;
};

static const struct matrix_row matrix[] = {
	/* path */
	{"path: {equals: /containers/abc/exec}", 1},
	{"path: {equals: /containers/abc}", 0},
	{"path: {not_equals: /containers/abc}", 1},
	{"path: {not_equals: /containers/abc/exec}", 0},
	{"path: {contains: /abc/}", 1},
	{"path: {contains: /xyz/}", 0},
	{"path: {not_contains: /abc/}", 0},
	{"path: {not_contains: /xyz/}", 1},
	{"path: {starts_with: /containers/}", 1},
	{"path: {starts_with: /images/}", 0},
	{"path: {ends_with: /exec}", 1},
	{"path: {ends_with: /start}", 0},
	{"path: {matches: '^/containers/[^/]+/exec$'}", 1},
	{"path: {matches: '^/containers$'}", 0},
	{"path: {matches: 'EXEC$'}", 0},
	{"path: {matches: '(?i)EXEC$'}", 1},
	{"path: {not_matches: '^/images'}", 1},
	{"path: {not_matches: '/exec$'}", 0},
	{"path: {in: [/a, /containers/abc/exec]}", 1},
	{"path: {in: [/a, /b]}", 0},
	{"path: {not_in: [/a, /containers/abc/exec]}", 0},
	{"path: {not_in: [/a, /b]}", 1},
	{"path: {exists: true}", 1},
	{"path: {exists: false}", 0},
	{"path: {not_exists: true}", 0},
	{"path: /containers/abc/exec", 1},
	{"path: /containers/abc/exec/", 0},
	{"path: [/x, /containers/abc/exec]", 1},
	{"path: {starts_with: /containers, ends_with: exec}", 1},
	{"path: {starts_with: /containers, ends_with: start}", 0},
	/* method */
	{"method: POST", 1},
	{"method: post", 0},
	{"method: {not_equals: POST}", 0},
	{"method: {in: [GET, HEAD]}", 0},
	{"method: {not_in: [GET, HEAD]}", 1},
	{"method: {contains: OS}", 1},
	{"method: {not_contains: OS}", 0},
	{"method: {starts_with: P}", 1},
	{"method: {ends_with: T}", 1},
	{"method: {ends_with: X}", 0},
	{"method: {matches: '^P(OST|UT)$'}", 1},
	{"method: {not_matches: '^P'}", 0},
	{"method: {exists: true}", 1},
	{"method: {not_exists: true}", 0},
	/* header */
	{"header.User-Agent: {equals: curl/8.1}", 1},
	{"header.User-Agent: {not_equals: curl/8.1}", 0},
	{"header.user-agent: {starts_with: curl/}", 1},
	{"header.USER-AGENT: {contains: curl}", 1},
	{"header.User-Agent: {not_contains: docker}", 1},
	{"header.User-Agent: {ends_with: '8.1'}", 1},
	{"header.User-Agent: {matches: '^curl/[0-9.]+$'}", 1},
	{"header.User-Agent: {not_matches: '^curl'}", 0},
	{"header.User-Agent: {in: [docker, curl/8.1]}", 1},
	{"header.User-Agent: {not_in: [docker, curl/8.1]}", 0},
	{"header.X-Multi: {equals: 'a, b'}", 1},
	{"header.X-Multi: {in: [a, b]}", 0},
	{"header.X-Multi: {not_in: [a, b]}", 1},
	{"header.Host: {exists: true}", 1},
	{"header.X-Registry-Auth: {exists: true}", 0},
	{"header.X-Registry-Auth: {not_exists: true}", 1},
	{"header.X-Registry-Auth: {not_equals: x}", 1},
	{"header.X-Registry-Auth: {contains: x}", 0},
	{"header.X-Registry-Auth: {not_matches: x}", 1},
	/* query */
	{"query.force: {equals: '1'}", 1},
	{"query.force: '1'", 1},
	{"query.force: {not_equals: '1'}", 0},
	{"query.name: {equals: db}", 0},
	{"query.name: {in: [web, db]}", 1},
	{"query.name: {not_in: [web, db]}", 0},
	{"query.name: {contains: e}", 1},
	{"query.name: {not_contains: e}", 0},
	{"query.name: {starts_with: w}", 1},
	{"query.name: {ends_with: b}", 1},
	{"query.name: {matches: '^w.b$'}", 1},
	{"query.name: {not_matches: '^w.b$'}", 0},
	{"query.force: {exists: true}", 1},
	{"query.all: {exists: true}", 0},
	{"query.all: {not_exists: true}", 1},
	/* client_ip */
	{"client_ip: {equals: 10.1.2.3}", 1},
	{"client_ip: {equals: 10.1.2.4}", 0},
	{"client_ip: {equals: 10.1.2.2/31}", 1},
	{"client_ip: {equals: 10.1.2.0/31}", 0},
	{"client_ip: {not_equals: 10.1.2.0/24}", 0},
	{"client_ip: {in: [10.0.0.0/8]}", 1},
	{"client_ip: {in: [192.168.0.0/16, '::1']}", 0},
	{"client_ip: {in: ['::/0']}", 0},
	{"client_ip: {in: [0.0.0.0/0]}", 1},
	{"client_ip: {not_in: [10.0.0.0/8]}", 0},
	{"client_ip: {not_in: [172.16.0.0/12]}", 1},
	{"client_ip: {starts_with: '10.'}", 1},
	{"client_ip: {ends_with: '.3'}", 1},
	{"client_ip: {contains: '.2.'}", 1},
	{"client_ip: {not_contains: '.2.'}", 0},
	{"client_ip: {matches: '^10\\.'}", 1},
	{"client_ip: {not_matches: '^10\\.'}", 0},
	{"client_ip: {exists: true}", 1},
	{"client_ip: {not_exists: true}", 0},
	/* role */
	{"role: user", 1},
	{"role: {not_equals: admin}", 1},
	{"role: {in: [admin, ops]}", 0},
	{"role: {not_in: [admin, ops]}", 1},
	{"role: {contains: se}", 1},
	{"role: {not_contains: se}", 0},
	{"role: {starts_with: u}", 1},
	{"role: {ends_with: r}", 1},
	{"role: {matches: '^u'}", 1},
	{"role: {not_matches: '^u'}", 0},
	{"role: {exists: true}", 1},
	{"role: {not_exists: true}", 0},
	/* identity */
	{"identity: alice", 1},
	{"identity: {not_equals: alice}", 0},
	{"identity: {in: [bob]}", 0},
	{"identity: {not_in: [bob]}", 1},
	{"identity: {contains: lic}", 1},
	{"identity: {not_contains: lic}", 0},
	{"identity: {starts_with: al}", 1},
	{"identity: {ends_with: ce}", 1},
	{"identity: {matches: '^a.*e$'}", 1},
	{"identity: {not_matches: '^a.*e$'}", 0},
	{"identity: {exists: true}", 1},
	{"identity: {not_exists: true}", 0},
	/* body: typing */
	{"body.HostConfig.Privileged: {equals: true}", 1},
	{"body.HostConfig.Privileged: true", 1},
	{"body.HostConfig.Privileged: {equals: 'true'}", 0},
	{"body.HostConfig.Privileged: {equals: 1}", 0},
	{"body.HostConfig.Privileged: {not_equals: true}", 0},
	{"body.HostConfig.Privileged: {not_equals: 'true'}", 1},
	{"body.HostConfig.Memory: {equals: 1024}", 1},
	{"body.HostConfig.Memory: {equals: '1024'}", 0},
	{"body.HostConfig.Memory: {equals: 1024.0}", 1},
	{"body.HostConfig.Memory: {equals: 0x400}", 1},
	{"body.HostConfig.Memory: {equals: 1.024e3}", 1},
	{"body.HostConfig.Memory: {in: [512, 1024]}", 1},
	{"body.HostConfig.Memory: {not_in: [512, 1024]}", 0},
	{"body.HostConfig.Memory: {matches: '^1024$'}", 1},
	{"body.HostConfig.Memory: {contains: 1024}", 0},
	{"body.Count: {equals: '1'}", 1},
	{"body.Count: {equals: 1}", 0},
	{"body.Count: \"1\"", 1},
	{"body.Tty: {equals: false}", 1},
	{"body.Tty: {equals: False}", 1},
	{"body.Tty: {equals: 'false'}", 0},
	{"body.Tty: {equals: null}", 0},
	{"body.Tty: {contains: false}", 0},
	/* body: null, absent, exists */
	{"body.HostConfig.CapAdd: {equals: null}", 1},
	{"body.HostConfig.CapAdd: {equals: ~}", 1},
	{"body.HostConfig.CapAdd: {exists: true}", 0},
	{"body.HostConfig.CapAdd: {not_exists: true}", 1},
	{"body.HostConfig.Missing: {not_exists: true}", 1},
	{"body.HostConfig.Missing: {equals: null}", 0},
	{"body.HostConfig.Missing: {not_equals: x}", 1},
	{"body.HostConfig: {exists: true}", 1},
	{"body: {exists: true}", 1},
	{"body.Image.x: {exists: true}", 0},
	/* body: strings */
	{"body.Image: {starts_with: busybox}", 1},
	{"body.Image: {ends_with: ':latest'}", 1},
	{"body.Image: {ends_with: ':1.36'}", 0},
	{"body.Image: {contains: box}", 1},
	{"body.Image: {not_contains: box}", 0},
	{"body.Image: {matches: '^busy'}", 1},
	{"body.Image: {not_matches: '^busy'}", 0},
	{"body.Image: {in: [alpine, 'busybox:latest']}", 1},
	/* body: arrays */
	{"body.HostConfig.Binds: {contains: /var/run/docker.sock}", 1},
	{"body.HostConfig.Binds: {contains: '/tmp:/tmp'}", 1},
	{"body.HostConfig.Binds: {not_contains: /etc}", 1},
	{"body.HostConfig.Binds: {not_contains: docker.sock}", 0},
	{"body.HostConfig.Binds: {starts_with: /var/run}", 1},
	{"body.HostConfig.Binds: {starts_with: /etc}", 0},
	{"body.HostConfig.Binds: {ends_with: ':/tmp'}", 1},
	{"body.HostConfig.Binds: {matches: 'docker\\.sock'}", 1},
	{"body.HostConfig.Binds: {matches: '^\\[\"/var'}", 1},
	{"body.HostConfig.Binds.1: {equals: '/tmp:/tmp'}", 1},
	{"body.HostConfig.Binds.5: {exists: true}", 0},
	{"body.Cmd: {equals: [sh, -c, 'true']}", 1},
	{"body.Cmd: {equals: [sh, -c, true]}", 0},
	{"body.Cmd: {equals: [sh, -c]}", 0},
	{"body.Cmd: {contains: -c}", 1},
	{"body.Ports: {contains: 80}", 1},
	{"body.Ports: {contains: '80'}", 0},
	{"body.Ports: {in: [[80, 443]]}", 1},
	/* body: objects */
	{"body.Labels: {contains: com.example.team}", 1},
	{"body.Labels: {contains: com.example}", 0},
	{"body.Labels: {equals: {com.example.team: a}}", 1},
	{"body.Labels: {equals: {com.example.team: b}}", 0},
	{"body.Labels: {matches: '\"com\\.example\\.team\":\"a\"'}", 1},
	/* groups */
	{"or: [{path: /x}, {method: POST}]", 1},
	{"or: [{path: /x}, {method: GET}]", 0},
	{"and: [{path: {starts_with: /containers}}, {method: POST}]", 1},
	{"and: [{path: {starts_with: /containers}}, {method: GET}]", 0},
	{"not: {method: GET}", 1},
	{"not: {method: POST}", 0},
	{"not: {method: POST, path: /x}", 1},
	{"not: {method: POST, path: {starts_with: /}}", 0},
	{"path: {starts_with: /containers}, method: GET", 0},
	{"or: [{and: [{not: {role: admin}}, {or: [{path: /x}, "
	 "{body.HostConfig.Privileged: true}]}]}]",
	 1},
	{"or: [{and: [{not: {role: user}}, {or: [{path: /x}, "
	 "{body.HostConfig.Privileged: true}]}]}]",
	 0},
	{"not: {not: {not: {or: [{method: GET}, {not: {path: {contains: exec}}}]}}}", 1},
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

/* One rule "r" (deny unless head says otherwise) with `match: {cond}`. */
static struct dpp_ruleset *compile_match(const char *head, const char *cond)
{
	char yaml[2048];

	snprintf(yaml, sizeof(yaml), "rules:\n  - name: r\n    action: %s\n    match: {%s}\n",
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
		{"body.Image: {exists: true}", 0},   {"body.Image: {not_exists: true}", 1},
		{"body.Image: {equals: null}", 0},   {"body.Image: {not_equals: x}", 1},
		{"body: {not_exists: true}", 1},     {"role: {not_equals: admin}", 1},
		{"role: {equals: admin}", 0},	     {"identity: {not_exists: true}", 1},
		{"client_ip: {in: [0.0.0.0/0]}", 0}, {"client_ip: {not_in: [0.0.0.0/0]}", 1},
		{"query.force: {not_exists: true}", 1}, {"header.Host: {matches: '.*'}", 0},
		{"header.Host: {not_matches: '.*'}", 1}, {"path: {exists: true}", 0},
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

static void test_regex_limit_fails_closed(void **state)
{
	struct dpp_ruleset *rs = compile_match("allow", "header.X: {matches: '^(a+)+$'}");
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
						"    requests: 1\n    period: 1s\n");
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
	struct dpp_ruleset *rs = compile_match("allow", "header.X: {exists: true}");
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
				 "  - {name: rl, action: rate_limit, requests: 1, period: 1h}\n"
				 "  - {name: old, action: rate_limit, requests: 5, period: 1h}\n";
	static const char v2[] = "rules:\n"
				 "  - {name: other, action: allow, match: {path: /never}}\n"
				 "  - {name: rl, action: rate_limit, requests: 1, period: 1h}\n";
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_operator_matrix),
		cmocka_unit_test(test_absent_fields),
		cmocka_unit_test(test_regex_limit_fails_closed),
		cmocka_unit_test(test_missing_limiter_fails_closed),
		cmocka_unit_test(test_header_join_limit),
		cmocka_unit_test(test_limiter_survives_swap),
		cmocka_unit_test(test_decision_names_actions),
		cmocka_unit_test(test_policy_cases),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
