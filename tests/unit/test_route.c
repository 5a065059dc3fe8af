/* dockerd 20.10's router replayed (dpp/route.h): every route reachable, the
 * router's order, greedy {name:.*}, image names with '/' and ':'. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dpp/body.h"
#include "dpp/route.h"

/* Replaces each {var...} of a pattern by `value`. */
static void sample_path(const char *pattern, const char *value, char *out, size_t cap)
{
	size_t n = 0;

	for (const char *p = pattern; *p != '\0' && n + 1 < cap;) {
		if (*p == '{') {
			for (const char *v = value; *v != '\0' && n + 1 < cap; v++)
				out[n++] = *v;
			p = strchr(p, '}') + 1;
		} else {
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
}

/* Each route of the table is the one dockerd runs for a plain instance of
 * its own pattern (no earlier route shadows it), with and without a version
 * prefix (debug routes: only without). */
static void test_every_route_reachable(void **state)
{
	size_t n;
	const struct dpp_route *t = dpp_route_table(&n);
	char path[256];

	(void)state;
	assert_true(n > 100);
	for (size_t i = 0; i < n; i++) {
		const char *method = t[i].method != NULL ? t[i].method : "GET";
		struct dpp_route_match m;

		sample_path(t[i].pattern, "abc", path, sizeof(path));
		if (!dpp_route_match(method, path, 0, &m) || m.route != &t[i])
			fail_msg("%s %s: matched %s %s, want %s", method, path,
				 m.route != NULL && m.route->method ? m.route->method : "-",
				 m.route != NULL ? m.route->pattern : "(none)", t[i].pattern);
		assert_string_equal(dpp_route_endpoint(method, path, 0), t[i].endpoint);
		if (t[i].unversioned_only) {
			assert_null(dpp_route_endpoint(method, path, 1));
		} else {
			assert_int_equal(dpp_route_match(method, path, 1, &m), 1);
			assert_ptr_equal(m.route, &t[i]);
		}
		/* The endpoint is the pattern without the variables' patterns. */
		sample_path(t[i].endpoint, "abc", path, sizeof(path));
		{
			char p2[256];

			sample_path(t[i].pattern, "abc", p2, sizeof(p2));
			if (strncmp(t[i].pattern, "/exec/", 6) != 0)
				assert_string_equal(path, p2);
		}
	}
}

static void test_cases(void **state)
{
	static const struct {
		const char *method, *path;
		int versioned;
		const char *endpoint; /* NULL: no route */
		const char *var0;     /* first variable, NULL: none checked */
	} cases[] = {
		/* container references: greedy {name:.*} */
		{ "POST", "/containers/abc/start", 1, "/containers/{name}/start", "abc" },
		{ "POST", "/containers/PARENT/alias/start", 1, "/containers/{name}/start", "PARENT/alias" },
		{ "POST", "/containers/a/start/start", 1, "/containers/{name}/start", "a/start" },
		{ "POST", "/containers/a/kill/start", 1, "/containers/{name}/start", "a/kill" },
		{ "POST", "/containers/PARENT/alias/exec", 1, "/containers/{name}/exec", "PARENT/alias" },
		{ "POST", "/containers/PARENT/alias/attach", 1, "/containers/{name}/attach", "PARENT/alias" },
		{ "GET", "/containers/PARENT/alias/json", 1, "/containers/{name}/json", "PARENT/alias" },
		{ "GET", "/containers/PARENT/alias/attach/ws", 1, "/containers/{name}/attach/ws", "PARENT/alias" },
		{ "GET", "/containers/x/attach/ws", 1, "/containers/{name}/attach/ws", "x" },
		{ "DELETE", "/containers/a/b/c", 1, "/containers/{name}", "a/b/c" },
		{ "DELETE", "/containers/abc", 1, "/containers/{name}", "abc" },
		/* checkpoint DELETE comes first and takes single segments only */
		{ "DELETE", "/containers/x/checkpoints/y", 1, "/containers/{name}/checkpoints/{checkpoint}", "x" },
		{ "DELETE", "/containers/x/checkpoints/a/b", 1, "/containers/{name}", "x/checkpoints/a/b" },
		{ "GET", "/containers/json", 1, "/containers/json", NULL },
		{ "GET", "/containers/a/json", 1, "/containers/{name}/json", "a" },
		{ "POST", "/containers/create", 1, "/containers/create", NULL },
		{ "POST", "/containers/prune", 1, "/containers/prune", NULL },
		{ "POST", "/containers/json", 1, NULL, NULL },
		{ "GET", "/containers/create", 1, NULL, NULL },
		{ "HEAD", "/containers/json", 1, NULL, NULL }, /* no HEAD route: 404 */
		{ "HEAD", "/containers/a/archive", 1, "/containers/{name}/archive", "a" },
		{ "PUT", "/containers/a/b/archive", 1, "/containers/{name}/archive", "a/b" },
		{ "post", "/containers/a/start", 1, NULL, NULL }, /* methods are case-sensitive */
		/* exec */
		{ "POST", "/exec/e1/start", 1, "/exec/{id}/start", "e1" },
		{ "POST", "/exec/a/b/start", 1, "/exec/{id}/start", "a/b" },
		{ "POST", "/exec/e1/resize", 1, "/exec/{id}/resize", "e1" },
		{ "GET", "/exec/e1/json", 1, "/exec/{id}/json", "e1" },
		/* images: names with '/', ':' and '@' */
		{ "POST", "/images/library/busybox/push", 1, "/images/{name}/push", "library/busybox" },
		{ "POST", "/images/registry:5000/team/app/push", 1, "/images/{name}/push", "registry:5000/team/app" },
		{ "POST", "/images/registry:5000/team/app:v1/tag", 1, "/images/{name}/tag", "registry:5000/team/app:v1" },
		{ "GET", "/images/registry:5000/team/app/json", 1, "/images/{name}/json", "registry:5000/team/app" },
		{ "GET", "/images/a@sha256:0123/history", 1, "/images/{name}/history", "a@sha256:0123" },
		{ "GET", "/images/team/app/get", 1, "/images/{name}/get", "team/app" },
		{ "GET", "/images/json", 1, "/images/json", NULL },
		{ "GET", "/images/get", 1, "/images/get", NULL },
		{ "GET", "/images/search", 1, "/images/search", NULL },
		{ "POST", "/images/json", 1, NULL, NULL },
		/* DELETE /images/{name:.*} takes everything, "/json" included */
		{ "DELETE", "/images/registry:5000/team/app/json", 1, "/images/{name}", "registry:5000/team/app/json" },
		{ "DELETE", "/images/library/busybox", 1, "/images/{name}", "library/busybox" },
		{ "POST", "/images/load", 1, "/images/load", NULL },
		{ "POST", "/images/create", 1, "/images/create", NULL },
		{ "POST", "/images/prune", 1, "/images/prune", NULL },
		{ "POST", "/images/load/push", 1, "/images/{name}/push", "load" },
		/* plugins and distribution take references too */
		{ "POST", "/plugins/vieux/sshfs:latest/set", 1, "/plugins/{name}/set", "vieux/sshfs:latest" },
		{ "GET", "/plugins/privileges", 1, "/plugins/privileges", NULL },
		{ "GET", "/plugins/vieux/sshfs/json", 1, "/plugins/{name}/json", "vieux/sshfs" },
		{ "DELETE", "/plugins/vieux/sshfs", 1, "/plugins/{name}", "vieux/sshfs" },
		{ "GET", "/distribution/registry:5000/team/app/json", 1, "/distribution/{name}/json", "registry:5000/team/app" },
		/* networks: {id:.+} and the trailing-slash list route */
		{ "GET", "/networks", 1, "/networks", NULL },
		{ "GET", "/networks/", 1, "/networks/", NULL },
		{ "GET", "/networks/a/b", 1, "/networks/{id}", "a/b" },
		{ "POST", "/networks/a/b/connect", 1, "/networks/{id}/connect", "a/b" },
		{ "DELETE", "/networks/n1", 1, "/networks/{id}", "n1" },
		/* swarm: {id} is one segment */
		{ "GET", "/services/a", 1, "/services/{id}", "a" },
		{ "GET", "/services/a/b", 1, NULL, NULL },
		{ "GET", "/services/a/logs", 1, "/services/{id}/logs", "a" },
		{ "GET", "/tasks/t/logs", 1, "/tasks/{id}/logs", "t" },
		/* volumes */
		{ "GET", "/volumes/v1", 1, "/volumes/{name}", "v1" },
		{ "POST", "/volumes/create", 1, "/volumes/create", NULL },
		{ "PUT", "/volumes/v1", 1, NULL, NULL }, /* not in 20.10 */
		/* system */
		{ "GET", "/_ping", 1, "/_ping", NULL },
		{ "HEAD", "/_ping", 0, "/_ping", NULL },
		{ "POST", "/_ping", 1, NULL, NULL },
		{ "GET", "/events", 1, "/events", NULL },
		{ "OPTIONS", "/containers/json", 1, "/{anyroute}", "containers/json" },
		{ "OPTIONS", "/", 1, "/{anyroute}", "" },
		{ "POST", "/session", 1, "/session", NULL },
		{ "POST", "/grpc", 1, "/grpc", NULL },
		{ "POST", "/build", 1, "/build", NULL },
		{ "POST", "/build/prune", 1, "/build/prune", NULL },
		{ "POST", "/commit", 1, "/commit", NULL },
		/* debug: unversioned only, any method */
		{ "GET", "/debug/vars", 0, "/debug/vars", NULL },
		{ "POST", "/debug/pprof/heap", 0, "/debug/pprof/{name}", "heap" },
		{ "GET", "/debug/vars", 1, NULL, NULL },
		/* unknown */
		{ "GET", "/", 1, NULL, NULL },
		{ "GET", "/containers", 1, NULL, NULL },
		{ "GET", "/info/", 1, NULL, NULL },
		{ "GET", "/v1.41/info", 1, NULL, NULL }, /* a second prefix: dockerd 404 */
		{ "GET", "/Info", 1, NULL, NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dpp_route_match m;
		int got = dpp_route_match(cases[i].method, cases[i].path, cases[i].versioned, &m);
		const char *ep = got ? m.route->endpoint : NULL;

		if ((ep == NULL) != (cases[i].endpoint == NULL) ||
		    (ep != NULL && strcmp(ep, cases[i].endpoint) != 0))
			fail_msg("%s %s: endpoint %s, want %s", cases[i].method, cases[i].path,
				 ep ? ep : "(none)", cases[i].endpoint ? cases[i].endpoint : "(none)");
		if (!got) {
			assert_null(m.route);
			continue;
		}
		if (cases[i].var0 != NULL) {
			assert_true(m.n_vars >= 1);
			if (m.vars[0].len != strlen(cases[i].var0) ||
			    strncmp(cases[i].path + m.vars[0].off, cases[i].var0, m.vars[0].len) != 0)
				fail_msg("%s %s: variable '%.*s', want '%s'", cases[i].method,
					 cases[i].path, (int)m.vars[0].len,
					 cases[i].path + m.vars[0].off, cases[i].var0);
		}
	}
	assert_int_equal(dpp_route_match(NULL, "/_ping", 1, &(struct dpp_route_match){0}), 0);
	assert_int_equal(dpp_route_match("GET", NULL, 1, &(struct dpp_route_match){0}), 0);
}

static void test_two_variables(void **state)
{
	struct dpp_route_match m;
	const char *p = "/containers/c1/checkpoints/cp2";

	(void)state;
	assert_int_equal(dpp_route_match("DELETE", p, 1, &m), 1);
	assert_int_equal(m.n_vars, 2);
	assert_int_equal(m.vars[0].off, 12);
	assert_int_equal(m.vars[0].len, 2);
	assert_int_equal(m.vars[1].off, 27);
	assert_int_equal(m.vars[1].len, 3);
}

static void test_bad_reference(void **state)
{
	static const struct {
		const char *method, *path;
		const char *ref; /* NULL: acceptable */
	} cases[] = {
		{ "POST", "/containers/PARENT/alias/start", "PARENT/alias" },
		{ "POST", "/containers/PARENT/alias/exec", "PARENT/alias" },
		{ "POST", "/containers/PARENT/alias/attach", "PARENT/alias" },
		{ "GET", "/containers/PARENT/alias/json", "PARENT/alias" },
		{ "DELETE", "/containers/PARENT/alias", "PARENT/alias" },
		{ "PUT", "/containers/a/b/archive", "a/b" },
		{ "POST", "/exec/a/b/start", "a/b" },
		{ "POST", "/containers/abc/start", NULL },
		{ "POST", "/exec/e1/start", NULL },
		/* image, plugin, network and volume names may hold '/' */
		{ "POST", "/images/registry:5000/team/app/push", NULL },
		{ "DELETE", "/images/library/busybox", NULL },
		{ "POST", "/plugins/vieux/sshfs/enable", NULL },
		{ "GET", "/networks/a/b", NULL },
		{ "GET", "/volumes/a/b", NULL },
		{ "GET", "/containers/json", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dpp_route_match m;
		const char *ref = NULL;
		size_t len = 0;
		int bad;

		dpp_route_match(cases[i].method, cases[i].path, 1, &m);
		bad = dpp_route_bad_reference(&m, cases[i].path, &ref, &len);
		if (bad != (cases[i].ref != NULL))
			fail_msg("%s %s: bad reference %d", cases[i].method, cases[i].path, bad);
		if (bad) {
			assert_int_equal(len, strlen(cases[i].ref));
			assert_memory_equal(ref, cases[i].ref, len);
		}
	}
}

static void test_flags(void **state)
{
	struct dpp_route_match m;

	(void)state;
	dpp_route_match("POST", "/containers/x/attach", 1, &m);
	assert_true(m.route->flags & DPP_ROUTE_HIJACK);
	assert_true(m.route->flags & DPP_ROUTE_UPGRADE);
	dpp_route_match("POST", "/exec/x/start", 1, &m);
	assert_true(m.route->flags & DPP_ROUTE_HIJACK);
	dpp_route_match("POST", "/session", 1, &m);
	assert_true(m.route->flags & DPP_ROUTE_UPGRADE);
	assert_false(m.route->flags & DPP_ROUTE_HIJACK);
	dpp_route_match("POST", "/containers/x/start", 1, &m);
	assert_false(m.route->flags & (DPP_ROUTE_UPGRADE | DPP_ROUTE_HIJACK));
	assert_true(m.route->flags & DPP_ROUTE_FORM);
	dpp_route_match("POST", "/images/x/tag", 1, &m);
	assert_true(m.route->flags & DPP_ROUTE_FORM);
	dpp_route_match("GET", "/_ping", 1, &m);
	assert_false(m.route->flags & DPP_ROUTE_FORM);
	dpp_route_match("GET", "/events", 1, &m);
	assert_true(m.route->flags & DPP_ROUTE_STREAM);
	/* body kinds follow the endpoint, image names with '/' included */
	assert_int_equal(dpp_body_kind_endpoint("PUT", "/containers/{name}/archive"), DPP_BODY_STREAM);
	assert_int_equal(dpp_body_kind_endpoint("POST", "/build"), DPP_BODY_STREAM);
	assert_int_equal(dpp_body_kind_endpoint("POST", "/images/{name}/push"), DPP_BODY_JSON);
	assert_int_equal(dpp_body_kind_endpoint("POST", NULL), DPP_BODY_JSON);
	assert_int_equal(dpp_body_kind_endpoint("DELETE", "/images/{name}"), DPP_BODY_NONE);
	assert_int_equal(dpp_body_kind("POST", "/images/registry:5000/a/push"), DPP_BODY_JSON);
	assert_int_equal(dpp_body_kind("POST", "/images/load"), DPP_BODY_STREAM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_route_reachable),
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_two_variables),
		cmocka_unit_test(test_bad_reference),
		cmocka_unit_test(test_flags),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
