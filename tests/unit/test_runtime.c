/* The runtime bundle: client address behind trusted proxies, exposure and TLS
 * consistency checks, compile errors from every section collected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dpp/config.h"
#include "dpp/runtime.h"

/* Loads YAML text as a config file and builds the runtime. */
static int build(const char *yaml, struct dpp_runtime **rt, char **errors)
{
	char path[] = "/tmp/dpp-test-runtime-XXXXXX";
	int fd = mkstemp(path);
	struct dpp_config_flags flags = {0};
	struct dpp_config *cfg = NULL;
	char *warnings = NULL;
	int rc;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
	close(fd);
	flags.config_path = path;
	*errors = NULL;
	rc = dpp_config_load(&flags, &cfg, errors);
	if (rc == 0)
		rc = dpp_runtime_build(cfg, dpp_config_settings(cfg), rt, errors, &warnings);
	free(warnings);
	dpp_config_free(cfg);
	unlink(path);
	return rc;
}

static void test_client_ip(void **state)
{
	static const struct {
		const char *peer, *xff, *want;
	} cases[] = {
		{"127.0.0.1", NULL, "127.0.0.1"},
		{"::ffff:127.0.0.1", NULL, "127.0.0.1"},          /* IPv4-mapped shown as IPv4 */
		{"203.0.113.9", "198.51.100.7", "203.0.113.9"},  /* untrusted peer: header ignored */
		{"10.1.2.3", "198.51.100.7", "198.51.100.7"},     /* trusted proxy vouches */
		{"10.1.2.3", "198.51.100.7, 10.9.9.9", "198.51.100.7"}, /* trusted hops skipped */
		{"10.1.2.3", "6.6.6.6, 198.51.100.7", "198.51.100.7"},  /* leftmost is client-made */
		{"10.1.2.3", "garbage", "10.1.2.3"},
		{"10.1.2.3", "198.51.100.7, garbage", "10.1.2.3"},
		{"10.1.2.3", "2001:db8::1", "2001:db8::1"},
		{"fd00::5", "198.51.100.8", "198.51.100.8"},      /* IPv6 trusted range */
		{"fe80::1", "198.51.100.8", "fe80::1"},
	};
	struct dpp_runtime *rt = NULL;
	char *errors = NULL;

	(void)state;
	assert_int_equal(build("global:\n  trusted_proxies: [10.0.0.0/8, 'fd00::/8']\n"
			       "auth: {type: none}\n", &rt, &errors), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[46];

		dpp_runtime_client_ip(rt, cases[i].peer, cases[i].xff, out, sizeof(out));
		if (strcmp(out, cases[i].want) != 0)
			fail_msg("peer %s xff %s: got %s, want %s", cases[i].peer,
				 cases[i].xff != NULL ? cases[i].xff : "-", out, cases[i].want);
	}
	assert_true(dpp_runtime_trusts(rt, "10.255.0.1"));
	assert_false(dpp_runtime_trusts(rt, "11.0.0.1"));
	dpp_runtime_unref(rt);
}

static void test_errors_collected(void **state)
{
	struct dpp_runtime *rt = NULL;
	char *errors = NULL;

	(void)state;
	/* An auth error and a rules error: both reported, nothing built. */
	assert_int_equal(build("auth:\n  type: bogus\nrules:\n  - {name: x, action: nonsense}\n",
			       &rt, &errors), -1);
	assert_null(rt);
	assert_non_null(errors);
	assert_non_null(strstr(errors, "auth.type"));
	assert_non_null(strstr(errors, "rules[0]"));
	free(errors);
}

static void test_exposure_and_tls_consistency(void **state)
{
	struct dpp_runtime *rt = NULL;
	char *errors = NULL;

	(void)state;
	assert_int_equal(build("global:\n  bind: 0.0.0.0\nauth: {type: none}\n", &rt, &errors), -1);
	assert_non_null(strstr(errors, "insecure_allow_open"));
	free(errors);
	assert_int_equal(build("global:\n  bind: 0.0.0.0\n  insecure_allow_open: true\n"
			       "auth: {type: none}\n", &rt, &errors), 0);
	assert_non_null(dpp_runtime_exposure_warning(rt));
	dpp_runtime_unref(rt);
	rt = NULL;
	assert_int_equal(build("global:\n  tls: {cert: /x.pem}\nauth: {type: none}\n", &rt, &errors), -1);
	assert_non_null(strstr(errors, "cert and key must be set together"));
	free(errors);
	assert_int_equal(build("global:\n  tls: {cert: /x.pem, key: /x.key, require_client_cert: true}\n"
			       "auth: {type: none}\n", &rt, &errors), -1);
	assert_non_null(strstr(errors, "needs global.tls.client_ca"));
	free(errors);
	assert_int_equal(build("auth: {type: none}\n", &rt, &errors), 0);
	assert_null(dpp_runtime_exposure_warning(rt));
	dpp_runtime_unref(rt);
}

/* assets/config.example.yaml: its auth and rules sections compile. */
static void test_example_compiles(void **state)
{
	const char *src = getenv("DPP_SOURCE_DIR");
	char path[4096];
	struct dpp_config_flags flags = {0};
	struct dpp_config *cfg = NULL;
	struct dpp_runtime *rt = NULL;
	char *errors = NULL, *warnings = NULL;

	(void)state;
	snprintf(path, sizeof(path), "%s/assets/config.example.yaml", src != NULL ? src : ".");
	flags.config_path = path;
	assert_int_equal(setenv("DPP_ADMIN_TOKEN", "example-admin-token-0123456789", 1), 0);
	assert_int_equal(dpp_config_load(&flags, &cfg, &errors), 0);
	if (dpp_runtime_build(cfg, dpp_config_settings(cfg), &rt, &errors, &warnings) != 0)
		fail_msg("example does not compile: %s", errors != NULL ? errors : "?");
	assert_int_equal(dpp_ruleset_count(dpp_runtime_rules(rt)), 7);
	assert_non_null(strstr(dpp_auth_describe(dpp_runtime_auth(rt)), "bearer"));
	unsetenv("DPP_ADMIN_TOKEN");
	free(warnings);
	dpp_runtime_unref(rt);
	dpp_config_free(cfg);
}

/* A rule warning (the seed's ignored methods: list) reaches the runtime's
 * warnings, which the proxy logs at load and --check-config prints. */
static void test_rule_warnings(void **state)
{
	static const char yaml[] = "auth:\n  type: none\nrules:\n"
				   "  - name: r\n    action: deny\n    methods: [POST]\n";
	char path[] = "/tmp/dpp-test-runtime-XXXXXX";
	int fd = mkstemp(path);
	struct dpp_config_flags flags = {0};
	struct dpp_config *cfg = NULL;
	struct dpp_runtime *rt = NULL;
	char *errors = NULL, *warnings = NULL;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
	close(fd);
	flags.config_path = path;
	assert_int_equal(dpp_config_load(&flags, &cfg, &errors), 0);
	assert_int_equal(dpp_runtime_build(cfg, dpp_config_settings(cfg), &rt, &errors, &warnings),
			 0);
	assert_non_null(warnings);
	assert_non_null(strstr(warnings, ":6:14: rules[0].methods: has no effect and is ignored"));
	free(warnings);
	dpp_runtime_unref(rt);
	dpp_config_free(cfg);
	unlink(path);
}

/* A reload as main.c does it: next's settings with the restart-only keys and
 * the TLS state of `running`, then the runtime build (exposure check). Also
 * the restart list judged against running. */
static int reload_build(const struct dpp_settings *running, const char *yaml,
			struct dpp_settings *eff, char **errors, char **restart)
{
	char path[] = "/tmp/dpp-test-runtime-XXXXXX";
	int fd = mkstemp(path);
	struct dpp_config_flags flags = {0};
	struct dpp_config *cfg = NULL;
	struct dpp_runtime *rt = NULL;
	char *warnings = NULL;
	int rc;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
	close(fd);
	flags.config_path = path;
	*errors = NULL;
	*restart = NULL;
	rc = dpp_config_load(&flags, &cfg, errors);
	if (rc == 0) {
		*eff = *dpp_config_settings(cfg);
		dpp_config_keep_restart_only(cfg, running, eff);
		*restart = dpp_config_restart_needed_vs(running, cfg);
		rc = dpp_runtime_build(cfg, eff, &rt, errors, &warnings);
		if (rc == 0)
			*eff = *dpp_runtime_settings(rt); /* the record that is kept */
	}
	dpp_runtime_unref(rt);
	free(warnings);
	dpp_config_free(cfg);
	unlink(path);
	return rc;
}

/* Issue 7 defect 5: a reload is judged against the listener that runs. */
static void test_reload_judged_against_running(void **state)
{
	static const char open_file[] = "global:\n  bind: 127.0.0.1\nauth: {type: none}\n";
	struct dpp_runtime *rt = NULL;
	struct dpp_settings running, eff;
	char *errors = NULL, *restart = NULL;

	(void)state;
	/* Running: 0.0.0.0 with a bearer token, no TLS. */
	assert_int_equal(build("global:\n  bind: 0.0.0.0\nauth: {type: bearer, secret: s3cret}\n",
			       &rt, &errors), 0);
	running = *dpp_runtime_settings(rt);
	dpp_runtime_unref(rt);
	assert_string_equal(running.bind, "0.0.0.0");
	/* The file alone would pass (loopback, auth none) ... */
	assert_int_equal(build(open_file, &rt, &errors), 0);
	dpp_runtime_unref(rt);
	/* ... but the listener stays on 0.0.0.0: refused as a whole. */
	assert_int_equal(reload_build(&running, open_file, &eff, &errors, &restart), -1);
	assert_non_null(errors);
	assert_non_null(strstr(errors, "refusing to expose open, unauthenticated Docker access "
				       "on 0.0.0.0"));
	assert_non_null(restart);
	assert_non_null(strstr(restart, "global.bind"));
	free(errors);
	free(restart);

	/* Running without TLS: a file that turns TLS on with mtls is judged
	 * without TLS (the listener has none) and refused, as at start-up. */
	assert_int_equal(build("auth: {type: bearer, secret: s3cret}\n", &rt, &errors), 0);
	running = *dpp_runtime_settings(rt);
	dpp_runtime_unref(rt);
	assert_int_equal(reload_build(&running,
				      "global:\n  tls: {cert: /x.pem, key: /x.key}\nauth: {type: mtls}\n",
				      &eff, &errors, &restart), -1);
	assert_non_null(strstr(errors, "auth.type mtls needs global.tls"));
	assert_non_null(strstr(restart, "global.tls (switching TLS on or off)"));
	free(errors);
	free(restart);

	/* Running with TLS and mtls: a file that drops TLS keeps the running
	 * TLS (restart-only), so mtls still has it. */
	assert_int_equal(build("global:\n  tls: {cert: /x.pem, key: /x.key, client_ca: /ca.pem}\n"
			       "auth: {type: mtls}\n", &rt, &errors), 0);
	running = *dpp_runtime_settings(rt);
	dpp_runtime_unref(rt);
	assert_int_equal(reload_build(&running, "auth: {type: mtls}\n", &eff, &errors, &restart), 0);
	assert_string_equal(eff.tls_cert, "/x.pem");
	assert_string_equal(eff.tls_client_ca, "/ca.pem");
	free(restart);
	/* ... but a TLS section start-up refuses by itself is refused on reload
	 * too, whatever the running state (here: a cert without its key). */
	assert_int_equal(reload_build(&running, "global:\n  tls: {cert: /y.pem}\nauth: {type: mtls}\n",
				      &eff, &errors, &restart), -1);
	assert_non_null(strstr(errors, "cert and key must be set together"));
	free(errors);
	free(restart);
}

/* The record kept after a reload holds what took effect, so a second reload
 * with the same never-applied restart-only value still reports it. */
static void test_reload_record_is_what_took_effect(void **state)
{
	static const char changed[] = "global:\n  port: 3999\n  max_connections: 64\n"
				      "  max_body_bytes: 4096\nauth: {type: none}\n";
	struct dpp_runtime *rt = NULL;
	struct dpp_settings running, eff, eff2;
	char *errors = NULL, *restart = NULL;

	(void)state;
	assert_int_equal(build("global:\n  port: 3998\nauth: {type: none}\n", &rt, &errors), 0);
	running = *dpp_runtime_settings(rt);
	dpp_runtime_unref(rt);
	assert_int_equal(reload_build(&running, changed, &eff, &errors, &restart), 0);
	assert_non_null(restart);
	assert_non_null(strstr(restart, "global.port"));
	assert_non_null(strstr(restart, "global.max_connections"));
	free(restart);
	assert_int_equal(eff.port, 3998);           /* restart-only: running value */
	assert_int_equal(eff.max_connections, running.max_connections);
	assert_int_equal(eff.max_body_bytes, 4096); /* reloadable: the file's */
	/* second reload of the same file, against the record */
	assert_int_equal(reload_build(&eff, changed, &eff2, &errors, &restart), 0);
	assert_non_null(restart);
	assert_non_null(strstr(restart, "global.port"));
	free(restart);
	assert_int_equal(eff2.port, 3998);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_ip),
		cmocka_unit_test(test_errors_collected),
		cmocka_unit_test(test_exposure_and_tls_consistency),
		cmocka_unit_test(test_example_compiles),
		cmocka_unit_test(test_rule_warnings),
		cmocka_unit_test(test_reload_judged_against_running),
		cmocka_unit_test(test_reload_record_is_what_took_effect),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
