/* Unit tests for the configuration module (src/proxy/config.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_schema.h"
#include "config_yaml.h"
#include "dpp/config.h"

#define MAX_FILES 8

struct fixture {
	char dir[64];
	char cwd[4096];
	char files[MAX_FILES][256];
	int nfiles;
	struct dpp_config *cfg;
	struct dpp_config *cfg2;
	char *errors;
};

static const char *const env_vars[] = {
	"DOCKER_PROXY_CONFIG", "DOCKER_PROXY_PORT", "DOCKER_SOCKET", "DOCKER_PROXY_LOG", "RUST_LOG",
	"DPP_T_A", "DPP_T_B", "DPP_T_UNSET", "DPP_T_PORT", "DPP_T_TOKEN",
};

static void clear_env(void)
{
	for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
		assert_int_equal(unsetenv(env_vars[i]), 0);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/dpp-config-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	assert_non_null(getcwd(fx->cwd, sizeof(fx->cwd)));
	/* ./config.yaml is the implicit path: run inside an empty directory. */
	assert_int_equal(chdir(fx->dir), 0);
	clear_env();
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	dpp_config_free(fx->cfg);
	dpp_config_free(fx->cfg2);
	free(fx->errors);
	for (int i = 0; i < fx->nfiles; i++)
		unlink(fx->files[i]);
	assert_int_equal(chdir(fx->cwd), 0);
	assert_int_equal(rmdir(fx->dir), 0);
	clear_env();
	free(fx);
	return 0;
}

/* Writes text (len bytes) to DIR/name; returns the path (owned by fx). */
static const char *write_file_len(struct fixture *fx, const char *name, const char *text,
				  size_t len)
{
	char *path = NULL;
	FILE *f;
	int i;

	for (i = 0; i < fx->nfiles; i++) {
		if (strcmp(strrchr(fx->files[i], '/') + 1, name) == 0)
			break;
	}
	if (i == fx->nfiles) {
		assert_true(fx->nfiles < MAX_FILES);
		fx->nfiles++;
	}
	{
		char tmp[sizeof(fx->files[0])];

		snprintf(tmp, sizeof(tmp), "%s/%s", fx->dir, name);
		path = fx->files[i];
		memcpy(path, tmp, sizeof(tmp));
	}
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	return path;
}

static const char *write_file(struct fixture *fx, const char *name, const char *text)
{
	return write_file_len(fx, name, text, strlen(text));
}

static void reset(struct fixture *fx)
{
	dpp_config_free(fx->cfg);
	fx->cfg = NULL;
	free(fx->errors);
	fx->errors = NULL;
}

/* Loads yaml (written to DIR/c.yaml) with optional flags; returns the rc. */
static int load_yaml(struct fixture *fx, const char *yaml, struct dpp_config_flags *flags,
		     const char **path_out)
{
	struct dpp_config_flags none = {0};
	const char *path = write_file(fx, "c.yaml", yaml);

	if (flags == NULL)
		flags = &none;
	flags->config_path = path;
	if (path_out != NULL)
		*path_out = path;
	reset(fx);
	return dpp_config_load(flags, &fx->cfg, &fx->errors);
}

static void expect_ok(struct fixture *fx, const char *yaml, struct dpp_config_flags *flags)
{
	int rc = load_yaml(fx, yaml, flags, NULL);

	if (rc != 0)
		fail_msg("unexpected errors for:\n%s\n---\n%s", yaml,
			 fx->errors ? fx->errors : "(none)");
	assert_non_null(fx->cfg);
	assert_null(fx->errors);
}

/* Expects refusal with exactly PATH:<each line of expected>. */
static void expect_errors(struct fixture *fx, const char *yaml, const char *expected)
{
	const char *path;
	char want[4096];
	size_t used = 0;
	const char *p = expected;
	int rc = load_yaml(fx, yaml, NULL, &path);

	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);

		used += (size_t)snprintf(want + used, sizeof(want) - used, "%s:%.*s\n", path,
					 (int)n, p);
		assert_true(used < sizeof(want));
		p += n + (nl != NULL ? 1 : 0);
	}
	assert_int_equal(rc, -1);
	assert_null(fx->cfg);
	assert_non_null(fx->errors);
	if (strcmp(fx->errors, want) != 0)
		fail_msg("for YAML:\n%s\nwant:\n%sgot:\n%s", yaml, want, fx->errors);
}

/* ---- defaults ------------------------------------------------------------ */

static void test_defaults_without_file(void **state)
{
	struct fixture *fx = *state;
	const struct dpp_settings *s;

	assert_int_equal(dpp_config_load(NULL, &fx->cfg, &fx->errors), 0);
	assert_null(fx->errors);
	s = dpp_config_settings(fx->cfg);
	assert_string_equal(s->bind, DPP_DEFAULT_BIND);
	assert_int_equal(s->port, DPP_DEFAULT_PORT);
	assert_int_equal(s->port_source, DPP_SOURCE_DEFAULT);
	assert_string_equal(s->socket, "");
	assert_int_equal(s->socket_source, DPP_SOURCE_DEFAULT);
	assert_int_equal(s->log_level, DPP_LOG_INFO);
	assert_int_equal(s->log_format, DPP_LOG_FORMAT_TEXT);
	assert_null(dpp_config_path(fx->cfg));
	assert_null(dpp_config_yaml(fx->cfg));
	assert_null(dpp_config_section(fx->cfg, "auth"));
	assert_null(dpp_config_node(fx->cfg, "global.port"));
}

static void test_implicit_file_is_read(void **state)
{
	struct fixture *fx = *state;
	int required = -1;

	write_file(fx, "config.yaml", "global:\n  port: 1234\n");
	assert_string_equal(dpp_config_pick_path(NULL, &required), "./config.yaml");
	assert_int_equal(required, 0);
	assert_int_equal(dpp_config_load(NULL, &fx->cfg, &fx->errors), 0);
	assert_string_equal(dpp_config_path(fx->cfg), "./config.yaml");
	assert_int_equal(dpp_config_settings(fx->cfg)->port, 1234);
	assert_int_equal(dpp_config_settings(fx->cfg)->port_source, DPP_SOURCE_FILE);
}

static void test_pick_path(void **state)
{
	struct dpp_config_flags flags = {0};
	int required = -1;

	(void)state;
	assert_string_equal(dpp_config_pick_path(&flags, &required), "./config.yaml");
	assert_int_equal(required, 0);
	assert_int_equal(setenv("DOCKER_PROXY_CONFIG", "/env/c.yaml", 1), 0);
	assert_string_equal(dpp_config_pick_path(&flags, &required), "/env/c.yaml");
	assert_int_equal(required, 1);
	flags.config_path = "/flag/c.yaml";
	required = -1;
	assert_string_equal(dpp_config_pick_path(&flags, &required), "/flag/c.yaml");
	assert_int_equal(required, 1);
	/* Empty environment value counts as unset. */
	flags.config_path = NULL;
	assert_int_equal(setenv("DOCKER_PROXY_CONFIG", "", 1), 0);
	assert_string_equal(dpp_config_pick_path(&flags, &required), "./config.yaml");
	assert_int_equal(required, 0);
}

static void test_empty_and_comment_files(void **state)
{
	struct fixture *fx = *state;
	static const char *const cases[] = {
		"",
		"# just a comment\n",
		"# one\n\n   # two, indented\n",
		"---\n",
		"---\n...\n",
		"~\n",
		"global:\n",
		"global: {}\n",
		"global:\nauth:\nrules:\n",
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		expect_ok(fx, cases[i], NULL);
		assert_int_equal(dpp_config_settings(fx->cfg)->port, DPP_DEFAULT_PORT);
		assert_string_equal(dpp_config_settings(fx->cfg)->bind, DPP_DEFAULT_BIND);
		{
			/* Regression (fuzz_config): printing rows without a
			 * settings field (auth, rules, lists) formed an
			 * overflowing pointer, caught by clang's UBSan. */
			char *out = NULL;
			size_t len = 0;
			FILE *mem = open_memstream(&out, &len);

			assert_non_null(mem);
			dpp_config_print(fx->cfg, mem);
			assert_int_equal(fclose(mem), 0);
			assert_non_null(strstr(out, "\nrules: absent\n"));
			assert_non_null(strstr(out, "\nglobal.port: 2376"));
			free(out);
		}
	}
}

/* ---- nulls ----------------------------------------------------------------- */

/* The global section the seed's wizard writes (tests/fixtures/seed/
 * 09-wizard-output-with-nulls.yaml): every unset key spelled null. A null
 * means "not set": the default stays, with its source. */
static void test_nulls_mean_not_set(void **state)
{
	struct fixture *fx = *state;
	const struct dpp_settings *s;
	static const char *const null_spellings[] = {"null", "~", "Null", "NULL", ""};

	expect_ok(fx,
		  "global:\n"
		  "  port: 2376\n"
		  "  socket: /var/run/docker.sock\n"
		  "  log_level: null\n"
		  "  log_format: null\n"
		  "  audit_log: null\n"
		  "  bind: null\n"
		  "  tls: null\n"
		  "  metrics: null\n"
		  "  trusted_proxies: null\n"
		  "auth: null\n"
		  "rules: null\n",
		  NULL);
	s = dpp_config_settings(fx->cfg);
	assert_int_equal(s->port, 2376);
	assert_int_equal(s->port_source, DPP_SOURCE_FILE);
	assert_string_equal(s->bind, DPP_DEFAULT_BIND);
	assert_int_equal(s->log_level, DPP_LOG_INFO);
	assert_int_equal(s->log_format, DPP_LOG_FORMAT_TEXT);
	assert_string_equal(s->audit_log, "");
	assert_int_equal(s->metrics_enabled, 0);
	assert_string_equal(s->metrics_path, "/metrics");
	assert_string_equal(s->tls_cert, "");
	assert_null(dpp_config_section(fx->cfg, "auth")); /* auth: null is no auth section */
	assert_null(dpp_config_section(fx->cfg, "rules"));

	for (size_t i = 0; i < sizeof(null_spellings) / sizeof(null_spellings[0]); i++) {
		char yaml[512];

		snprintf(yaml, sizeof(yaml),
			 "global:\n  port: %s\n  socket: %s\n  metrics:\n    enabled: %s\n"
			 "    path: %s\n  tls:\n    cert: %s\n    require_client_cert: %s\n"
			 "  max_body_bytes: %s\n  default_action: %s\n",
			 null_spellings[i], null_spellings[i], null_spellings[i], null_spellings[i],
			 null_spellings[i], null_spellings[i], null_spellings[i], null_spellings[i]);
		expect_ok(fx, yaml, NULL);
		s = dpp_config_settings(fx->cfg);
		assert_int_equal(s->port, DPP_DEFAULT_PORT);
		assert_int_equal(s->port_source, DPP_SOURCE_DEFAULT);
		assert_string_equal(s->socket, "");
		assert_int_equal(s->socket_source, DPP_SOURCE_DEFAULT);
		assert_int_equal(s->metrics_enabled, 0);
		assert_string_equal(s->metrics_path, "/metrics");
		assert_string_equal(s->tls_cert, "");
		assert_int_equal(s->tls_require_client_cert, 0);
		assert_int_equal(s->max_body_bytes, 1048576);
		assert_int_equal(s->default_action, 0);
	}

	/* A quoted "null" is a string, not a null. */
	expect_errors(fx, "global:\n  log_level: \"null\"\n",
		      "2:14: global.log_level: must be one of trace, debug, info, warn, error");
	/* Children of a null mapping are not looked at; a non-null value still
	 * has to be right. */
	expect_errors(fx, "global:\n  tls: null\n  bind: null\n  port: nope\n",
		      "4:9: global.port: must be an integer between 1 and 65535");
}

static void test_metrics_off_by_default(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(dpp_config_load(NULL, &fx->cfg, &fx->errors), 0);
	assert_int_equal(dpp_config_settings(fx->cfg)->metrics_enabled, 0);
	expect_ok(fx, "global:\n  metrics:\n    path: /prom/metrics\n", NULL);
	assert_int_equal(dpp_config_settings(fx->cfg)->metrics_enabled, 0);
	expect_ok(fx, "global:\n  metrics:\n    enabled: true\n    path: /_metrics\n", NULL);
	assert_int_equal(dpp_config_settings(fx->cfg)->metrics_enabled, 1);
	assert_string_equal(dpp_config_settings(fx->cfg)->metrics_path, "/_metrics");
	/* The seed's default and near misses of routed paths are not Docker's. */
	expect_ok(fx, "global:\n  metrics:\n    enabled: true\n    path: /metrics\n", NULL);
	expect_ok(fx, "global:\n  metrics:\n    path: /_ping/metrics\n", NULL);
	expect_ok(fx, "global:\n  metrics:\n    path: /proxy/metrics\n", NULL);
}

/* ---- each key ------------------------------------------------------------ */

static void test_each_key(void **state)
{
	struct fixture *fx = *state;
	const struct dpp_settings *s;

	expect_ok(fx,
		  "global:\n"
		  "  bind: 0.0.0.0\n"
		  "  port: 8080\n"
		  "  socket: /tmp/d.sock\n"
		  "  log_level: debug\n"
		  "  log_format: json\n",
		  NULL);
	s = dpp_config_settings(fx->cfg);
	assert_string_equal(s->bind, "0.0.0.0");
	assert_int_equal(s->port, 8080);
	assert_int_equal(s->port_source, DPP_SOURCE_FILE);
	assert_string_equal(s->socket, "/tmp/d.sock");
	assert_int_equal(s->socket_source, DPP_SOURCE_FILE);
	assert_int_equal(s->log_level, DPP_LOG_DEBUG);
	assert_int_equal(s->log_format, DPP_LOG_FORMAT_JSON);

	/* Other accepted spellings. */
	expect_ok(fx, "global: {bind: '::1', port: \"1\", log_level: ERROR, log_format: Text}\n",
		  NULL);
	s = dpp_config_settings(fx->cfg);
	assert_string_equal(s->bind, "::1");
	assert_int_equal(s->port, 1);
	assert_int_equal(s->log_level, DPP_LOG_ERROR);
	assert_int_equal(s->log_format, DPP_LOG_FORMAT_TEXT);

	expect_ok(fx, "global:\n  port: 65535\n  bind: \"fe80::1:2\"\n  log_level: trace\n", NULL);
	assert_int_equal(dpp_config_settings(fx->cfg)->port, 65535);
	assert_string_equal(dpp_config_settings(fx->cfg)->bind, "fe80::1:2");
	assert_int_equal(dpp_config_settings(fx->cfg)->log_level, DPP_LOG_TRACE);

	/* 107 bytes is the longest socket path that fits sun_path. */
	{
		char yaml[256], path[128];

		memset(path, 'a', 107);
		path[0] = '/';
		path[107] = '\0';
		snprintf(yaml, sizeof(yaml), "global:\n  socket: %s\n", path);
		expect_ok(fx, yaml, NULL);
		assert_string_equal(dpp_config_settings(fx->cfg)->socket, path);
	}
}

/* ---- interpolation ------------------------------------------------------- */

static const char *scalar_at(struct fixture *fx, const char *dotted)
{
	yaml_node_t *n = dpp_config_node(fx->cfg, dotted);

	assert_non_null(n);
	assert_int_equal(n->type, YAML_SCALAR_NODE);
	return (const char *)n->data.scalar.value;
}

static void test_interpolation(void **state)
{
	struct fixture *fx = *state;
	yaml_node_t *rules, *item, *allow;

	assert_int_equal(setenv("DPP_T_A", "alpha", 1), 0);
	assert_int_equal(setenv("DPP_T_B", "beta", 1), 0);
	assert_int_equal(setenv("DPP_T_PORT", "9000", 1), 0);
	assert_int_equal(setenv("DPP_T_TOKEN", "s3cret", 1), 0);
	expect_ok(fx,
		  "global:\n"
		  "  port: ${DPP_T_PORT}\n"
		  "  socket: \"/run/${DPP_T_A}-${DPP_T_B}/${DPP_T_UNSET}x.sock\"\n"
		  "  log_level: \"${DPP_T_UNSET}debug\"\n"
		  "auth:\n"
		  "  token: ${DPP_T_TOKEN}\n"
		  "  literal: \"$${DPP_T_TOKEN} costs $5 and $$\"\n"
		  "  ${DPP_T_A}: key\n"
		  "rules:\n"
		  "  - allow: ['${DPP_T_B}', plain]\n",
		  NULL);
	assert_int_equal(dpp_config_settings(fx->cfg)->port, 9000);
	assert_string_equal(dpp_config_settings(fx->cfg)->socket, "/run/alpha-beta/x.sock");
	assert_int_equal(dpp_config_settings(fx->cfg)->log_level, DPP_LOG_DEBUG);
	assert_string_equal(scalar_at(fx, "auth.token"), "s3cret");
	assert_string_equal(scalar_at(fx, "auth.literal"), "${DPP_T_TOKEN} costs $5 and $$");
	assert_string_equal(scalar_at(fx, "auth.alpha"), "key");

	rules = dpp_config_section(fx->cfg, "rules");
	assert_non_null(rules);
	assert_int_equal(rules->type, YAML_SEQUENCE_NODE);
	item = dpp_config_yaml_node(fx->cfg, rules->data.sequence.items.start[0]);
	assert_non_null(item);
	allow = dpp_config_yaml_node(fx->cfg, item->data.mapping.pairs.start[0].value);
	assert_non_null(allow);
	assert_int_equal(allow->type, YAML_SEQUENCE_NODE);
	assert_string_equal(
		(const char *)dpp_config_yaml_node(fx->cfg, allow->data.sequence.items.start[0])
			->data.scalar.value,
		"beta");
	/* The length follows the new value. */
	assert_int_equal(dpp_config_node(fx->cfg, "auth.token")->data.scalar.length, 6);

	/* Unset variable: empty string; for the port that is a type error. */
	expect_errors(fx, "global:\n  port: ${DPP_T_UNSET}\n",
		      "2:9: global.port: must be an integer between 1 and 65535");
	/* An empty socket after interpolation means auto-detect. */
	expect_ok(fx, "global:\n  socket: ${DPP_T_UNSET}\n", NULL);
	assert_string_equal(dpp_config_settings(fx->cfg)->socket, "");
}

static void test_interpolation_errors(void **state)
{
	struct fixture *fx = *state;

	expect_errors(fx, "global:\n  socket: \"/x/${DPP_T_A\"\n",
		      "2:11: global.socket: unterminated ${ (missing })");
	expect_errors(fx,
		      "auth:\n  users:\n    - ${A:-b}\n",
		      "3:7: auth.users[0]: invalid variable name in ${...} "
		      "(expected [A-Za-z_][A-Za-z0-9_]*)");
	expect_errors(fx, "rules: ${}\n",
		      "1:8: rules: invalid variable name in ${...} "
		      "(expected [A-Za-z_][A-Za-z0-9_]*)");
}

/* ---- precedence ---------------------------------------------------------- */

struct prec_case {
	const char *yaml_value; /* NULL: key absent from file */
	const char *env_value;  /* NULL: unset */
	const char *flag_value; /* NULL: not given */
	const char *want;
	enum dpp_source want_source;
};

static void run_precedence(struct fixture *fx, const char *key, const char *env,
			   const struct prec_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct prec_case *c = &cases[i];
		struct dpp_config_flags flags = {0};
		const struct dpp_settings *s;
		char yaml[256] = "global: {}\n";
		char got[128];
		enum dpp_source src = DPP_SOURCE_DEFAULT;

		if (c->yaml_value != NULL)
			snprintf(yaml, sizeof(yaml), "global:\n  %s: %s\n", key, c->yaml_value);
		if (c->env_value != NULL)
			assert_int_equal(setenv(env, c->env_value, 1), 0);
		else
			assert_int_equal(unsetenv(env), 0);
		if (c->flag_value != NULL) {
			if (strcmp(key, "port") == 0)
				flags.port = atoi(c->flag_value);
			else if (strcmp(key, "socket") == 0)
				flags.socket = c->flag_value;
			else
				flags.log_level = c->flag_value;
		}
		expect_ok(fx, yaml, &flags);
		s = dpp_config_settings(fx->cfg);
		if (strcmp(key, "port") == 0) {
			snprintf(got, sizeof(got), "%d", s->port);
			src = s->port_source;
		} else if (strcmp(key, "socket") == 0) {
			snprintf(got, sizeof(got), "%s", s->socket);
			src = s->socket_source;
		} else {
			snprintf(got, sizeof(got), "%s", dpp_log_level_name(s->log_level));
		}
		if (strcmp(got, c->want) != 0)
			fail_msg("%s case %zu: want %s, got %s", key, i, c->want, got);
		if (strcmp(key, "log_level") != 0)
			assert_int_equal(src, c->want_source);
	}
	assert_int_equal(unsetenv(env), 0);
}

static void test_precedence(void **state)
{
	struct fixture *fx = *state;
	static const struct prec_case port[] = {
		{NULL, NULL, NULL, "2376", DPP_SOURCE_DEFAULT},
		{"1000", NULL, NULL, "1000", DPP_SOURCE_FILE},
		{"1000", "2000", NULL, "2000", DPP_SOURCE_ENV},
		{"1000", "2000", "3000", "3000", DPP_SOURCE_FLAG},
		{NULL, "2000", NULL, "2000", DPP_SOURCE_ENV},
		{NULL, NULL, "3000", "3000", DPP_SOURCE_FLAG},
		{"1000", NULL, "3000", "3000", DPP_SOURCE_FLAG},
		{"1000", "", NULL, "1000", DPP_SOURCE_FILE}, /* empty env = unset */
	};
	static const struct prec_case sock[] = {
		{NULL, NULL, NULL, "", DPP_SOURCE_DEFAULT},
		{"/y.sock", NULL, NULL, "/y.sock", DPP_SOURCE_FILE},
		{"/y.sock", "/e.sock", NULL, "/e.sock", DPP_SOURCE_ENV},
		{"/y.sock", "/e.sock", "/f.sock", "/f.sock", DPP_SOURCE_FLAG},
		{NULL, NULL, "/f.sock", "/f.sock", DPP_SOURCE_FLAG},
	};
	static const struct prec_case level[] = {
		{NULL, NULL, NULL, "info", DPP_SOURCE_DEFAULT},
		{"warn", NULL, NULL, "warn", DPP_SOURCE_FILE},
		{"warn", "error", NULL, "error", DPP_SOURCE_ENV},
		{"warn", "error", "trace", "trace", DPP_SOURCE_FLAG},
		{NULL, "debug", NULL, "debug", DPP_SOURCE_ENV},
	};

	run_precedence(fx, "port", "DOCKER_PROXY_PORT", port, sizeof(port) / sizeof(port[0]));
	run_precedence(fx, "socket", "DOCKER_SOCKET", sock, sizeof(sock) / sizeof(sock[0]));
	run_precedence(fx, "log_level", "DOCKER_PROXY_LOG", level,
		       sizeof(level) / sizeof(level[0]));
	/* The seed's RUST_LOG overrides the file as its README says ... */
	run_precedence(fx, "log_level", "RUST_LOG", level, sizeof(level) / sizeof(level[0]));
}

/* RUST_LOG: a plain level, or this program's docker_proxy= directive; other
 * programs' directives are left alone; our DOCKER_PROXY_LOG wins over it. */
static void test_rust_log(void **state)
{
	struct fixture *fx = *state;
	static const struct {
		const char *value;
		int rc;
		enum dpp_log_level level;
	} cases[] = {
		{"info", 1, DPP_LOG_INFO},
		{"DEBUG", 1, DPP_LOG_DEBUG},
		{"docker_proxy=debug", 1, DPP_LOG_DEBUG},
		{"docker_proxy=info", 1, DPP_LOG_INFO}, /* the seed's documented default */
		{"docker_policy_proxy=warn", 1, DPP_LOG_WARN},
		{"warn,docker_proxy=trace", 1, DPP_LOG_TRACE}, /* the target wins */
		{"docker_proxy=trace, warn", 1, DPP_LOG_TRACE},
		{"hyper=debug,error", 1, DPP_LOG_ERROR},
		{"docker_proxy", 1, DPP_LOG_TRACE},
		{"off", 1, DPP_LOG_ERROR},
		{"hyper=debug", 0, DPP_LOG_INFO},
		{"docker_proxy::auth=trace", 0, DPP_LOG_INFO}, /* no per-module levels here */
		{"[request]=trace", 0, DPP_LOG_INFO},
		{"tokio", 0, DPP_LOG_INFO},
		{"", 0, DPP_LOG_INFO},
		{" , ", 0, DPP_LOG_INFO},
		{"docker_proxy=verbose", -1, DPP_LOG_INFO},
		{"docker_proxy=", -1, DPP_LOG_INFO},
	};
	const char *path;
	char want[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum dpp_log_level level = DPP_LOG_INFO;
		const char *why = NULL;
		int rc = dpp_config_rust_log_level(cases[i].value, &level, &why);

		if (rc != cases[i].rc || (rc == 1 && level != cases[i].level))
			fail_msg("RUST_LOG=%s: rc %d level %d", cases[i].value, rc, (int)level);
		if (rc < 0)
			assert_non_null(why);
	}
	assert_int_equal(dpp_config_rust_log_level(NULL, NULL, NULL), 0);

	assert_int_equal(setenv("RUST_LOG", "warn,docker_proxy=debug", 1), 0);
	expect_ok(fx, "global:\n  log_level: error\n", NULL);
	assert_int_equal(dpp_config_settings(fx->cfg)->log_level, DPP_LOG_DEBUG);
	{
		char *out = NULL;
		size_t len = 0;
		FILE *mem = open_memstream(&out, &len);

		assert_non_null(mem);
		dpp_config_print(fx->cfg, mem);
		assert_int_equal(fclose(mem), 0);
		assert_non_null(strstr(out, "global.log_level: debug  # env RUST_LOG\n"));
		free(out);
	}
	assert_int_equal(setenv("DOCKER_PROXY_LOG", "warn", 1), 0);
	expect_ok(fx, "global:\n  log_level: error\n", NULL);
	assert_int_equal(dpp_config_settings(fx->cfg)->log_level, DPP_LOG_WARN);
	assert_int_equal(unsetenv("DOCKER_PROXY_LOG"), 0);
	/* Only other programs' directives: the file's level stays. */
	assert_int_equal(setenv("RUST_LOG", "hyper=trace", 1), 0);
	expect_ok(fx, "global:\n  log_level: error\n", NULL);
	assert_int_equal(dpp_config_settings(fx->cfg)->log_level, DPP_LOG_ERROR);
	/* Our directive with a bad level is an error, like a bad DOCKER_PROXY_LOG. */
	assert_int_equal(setenv("RUST_LOG", "docker_proxy=loud", 1), 0);
	assert_int_equal(load_yaml(fx, "global:\n  port: 1\n", NULL, &path), -1);
	snprintf(want, sizeof(want),
		 "RUST_LOG: the docker_proxy= directive must name a level: trace, debug, info, warn, "
		 "error or off\n");
	assert_string_equal(fx->errors, want);
	assert_int_equal(unsetenv("RUST_LOG"), 0);
}

/* ---- errors -------------------------------------------------------------- */

struct err_case {
	const char *yaml;
	const char *want; /* lines without the "FILE:" prefix */
};

static void test_error_classes(void **state)
{
	struct fixture *fx = *state;
	static const struct err_case cases[] = {
		/* wrong types */
		{"global:\n  port: abc\n", "2:9: global.port: must be an integer between 1 and 65535"},
		{"global:\n  port: [1]\n", "2:9: global.port: must be an integer between 1 and 65535"},
		{"global:\n  port: {a: 1}\n",
		 "2:9: global.port: must be an integer between 1 and 65535"},
		{"global:\n  port: 1.5\n", "2:9: global.port: must be an integer between 1 and 65535"},
		{"global:\n  port: 0x50\n", "2:9: global.port: must be an integer between 1 and 65535"},
		{"global:\n  port: ' 80'\n",
		 "2:9: global.port: must be an integer between 1 and 65535"},
		{"global:\n  log_format: [json]\n",
		 "2:15: global.log_format: must be one of text, json"},
		{"global: 5\n", "1:9: global: must be a mapping"},
		{"global: [port]\n", "1:9: global: must be a mapping"},
		/* out of range */
		{"global:\n  port: 0\n", "2:9: global.port: must be an integer between 1 and 65535"},
		{"global:\n  port: 65536\n",
		 "2:9: global.port: must be an integer between 1 and 65535"},
		{"global:\n  port: -1\n", "2:9: global.port: must be an integer between 1 and 65535"},
		{"global:\n  port: 99999999999999999999999\n",
		 "2:9: global.port: must be an integer between 1 and 65535"},
		{"global:\n  bind: localhost\n",
		 "2:9: global.bind: must be an IPv4 or IPv6 address literal (no brackets, no host "
		 "names)"},
		{"global:\n  bind: '[::1]'\n",
		 "2:9: global.bind: must be an IPv4 or IPv6 address literal (no brackets, no host "
		 "names)"},
		{"global:\n  bind: 256.1.1.1\n",
		 "2:9: global.bind: must be an IPv4 or IPv6 address literal (no brackets, no host "
		 "names)"},
		{"global:\n  socket: \"/a\\0b\"\n", "2:11: global.socket: must not contain NUL bytes"},
		{"global:\n  log_level: verbose\n",
		 "2:14: global.log_level: must be one of trace, debug, info, warn, error"},
		{"global:\n  log_format: xml\n", "2:15: global.log_format: must be one of text, json"},
		/* the metrics path must not hide Docker's API */
		{"global:\n  metrics:\n    path: /\n",
		 "3:11: global.metrics.path: must not be / or start with /v (it would hide Docker API "
		 "paths)"},
		{"global:\n  metrics:\n    path: /v1.41/metrics\n",
		 "3:11: global.metrics.path: must not be / or start with /v (it would hide Docker API "
		 "paths)"},
		{"global:\n  metrics:\n    path: /version\n",
		 "3:11: global.metrics.path: must not be / or start with /v (it would hide Docker API "
		 "paths)"},
		/* ...nor any path dockerd routes without a version prefix */
		{"global:\n  metrics:\n    path: /_ping\n",
		 "3:11: global.metrics.path: must not be a path Docker's API serves (it would hide "
		 "that endpoint behind the unauthenticated metrics handler)"},
		{"global:\n  metrics:\n    path: /containers/json\n",
		 "3:11: global.metrics.path: must not be a path Docker's API serves (it would hide "
		 "that endpoint behind the unauthenticated metrics handler)"},
		{"global:\n  metrics:\n    path: /info\n",
		 "3:11: global.metrics.path: must not be a path Docker's API serves (it would hide "
		 "that endpoint behind the unauthenticated metrics handler)"},
		{"global:\n  metrics:\n    path: /containers/abc/archive\n",
		 "3:11: global.metrics.path: must not be a path Docker's API serves (it would hide "
		 "that endpoint behind the unauthenticated metrics handler)"},
		{"global:\n  metrics:\n    path: /images/registry:5000/team/app/json\n",
		 "3:11: global.metrics.path: must not be a path Docker's API serves (it would hide "
		 "that endpoint behind the unauthenticated metrics handler)"},
		/* DELETE /containers/{name:.*}: a container named "metrics" */
		{"global:\n  metrics:\n    path: /containers/metrics\n",
		 "3:11: global.metrics.path: must not be a path Docker's API serves (it would hide "
		 "that endpoint behind the unauthenticated metrics handler)"},
		{"global:\n  metrics:\n    path: /debug/pprof/heap\n",
		 "3:11: global.metrics.path: must not be a path Docker's API serves (it would hide "
		 "that endpoint behind the unauthenticated metrics handler)"},
		{"global:\n  metrics:\n    path: metrics\n",
		 "3:11: global.metrics.path: must be a URL path starting with / (no query, no spaces)"},
		/* unknown keys */
		{"global:\n  prot: 1\n", "2:3: global.prot: unknown key"},
		{"global:\n  prot: null\n", "2:3: global.prot: unknown key"},
		{"global:\n  tls:\n    certificate: ~\n", "3:5: global.tls.certificate: unknown key"},
		{"globl:\n  port: 1\n", "1:1: globl: unknown key"},
		{"\"global.port\": 1\n", "1:1: \"global.port\": unknown key"},
		{"global:\n  port:\n    value: 1\n",
		 "3:5: global.port: must be an integer between 1 and 65535"},
		{"global:\n  ? [a]\n  : 1\n", "2:5: global: mapping keys must be plain strings"},
		/* duplicates, anywhere */
		{"global:\n  port: 1\n  port: 2\n",
		 "3:3: global.port: duplicate key (first defined at line 2)"},
		{"global: {}\nglobal: {}\n", "2:1: global: duplicate key (first defined at line 1)"},
		{"rules:\n  - a: 1\n    b: 2\n    a: 3\n",
		 "4:5: rules[0].a: duplicate key (first defined at line 2)"},
		/* syntax and structure */
		{"global:\n  port: 1\n bind: x\n",
		 "3:2: did not find expected key while parsing a block mapping"},
		{"global:\n  port: a: b\n", "2:10: mapping values are not allowed in this context"},
		{"global: [1, 2\n",
		 "2:1: did not find expected ',' or ']' while parsing a flow sequence"},
		{"global:\n\tport: 1\n",
		 "2:1: found character that cannot start any token while scanning for the next "
		 "token"},
		{"rules: *nope\n", "1:8: found undefined alias"},
		{"- global\n", "1:1: the top level must be a mapping of sections (global, auth, rules)"},
		{"just text\n",
		 "1:1: the top level must be a mapping of sections (global, auth, rules)"},
		{"global: {}\n---\nglobal: {}\n",
		 "3:1: only one YAML document is allowed per file"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_errors(fx, cases[i].yaml, cases[i].want);
}

static void test_socket_too_long(void **state)
{
	struct fixture *fx = *state;
	char yaml[512], path[200];

	memset(path, 'a', 108);
	path[0] = '/';
	path[108] = '\0';
	snprintf(yaml, sizeof(yaml), "global:\n  socket: %s\n", path);
	expect_errors(fx, yaml, "2:11: global.socket: must be a path shorter than 108 bytes");
}

static void test_multiple_errors_all_reported(void **state)
{
	struct fixture *fx = *state;

	expect_errors(fx,
		      "global:\n"
		      "  port: 0\n"
		      "  bind: nowhere\n"
		      "  colour: red\n"
		      "  log_format: xml\n"
		      "  port: 80\n"
		      "auth:\n"
		      "  x: ${BAD\n"
		      "extra: 1\n",
		      "2:9: global.port: must be an integer between 1 and 65535\n"
		      "3:9: global.bind: must be an IPv4 or IPv6 address literal (no brackets, no "
		      "host names)\n"
		      "4:3: global.colour: unknown key\n"
		      "5:15: global.log_format: must be one of text, json\n"
		      "6:3: global.port: duplicate key (first defined at line 2)\n"
		      "8:6: auth.x: unterminated ${ (missing })\n"
		      "9:1: extra: unknown key");
}

static void test_env_and_flag_errors(void **state)
{
	struct fixture *fx = *state;
	struct dpp_config_flags flags = {0};
	const char *path;
	char want[4096];

	assert_int_equal(setenv("DOCKER_PROXY_PORT", "abc", 1), 0);
	assert_int_equal(setenv("DOCKER_PROXY_LOG", "loud", 1), 0);
	assert_int_equal(setenv("DOCKER_SOCKET",
				"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
				"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
				1),
			 0);
	flags.port = 70000;
	flags.bind = "example.com";
	flags.log_level = "quiet";
	assert_int_equal(load_yaml(fx, "global:\n  port: x\n", &flags, &path), -1);
	snprintf(want, sizeof(want),
		 "%s:2:9: global.port: must be an integer between 1 and 65535\n"
		 "--bind: must be an IPv4 or IPv6 address literal (no brackets, no host names)\n"
		 "DOCKER_PROXY_PORT: must be an integer between 1 and 65535\n"
		 "--port: must be an integer between 1 and 65535\n"
		 "DOCKER_SOCKET: must be a path shorter than 108 bytes\n"
		 "DOCKER_PROXY_LOG: must be one of trace, debug, info, warn, error\n"
		 "--log-level: must be one of trace, debug, info, warn, error\n",
		 path);
	assert_string_equal(fx->errors, want);
	assert_null(fx->cfg);

	/* A negative flag port is out of range, not "not given". */
	clear_env();
	memset(&flags, 0, sizeof(flags));
	flags.port = -5;
	assert_int_equal(load_yaml(fx, "", &flags, NULL), -1);
	assert_string_equal(fx->errors, "--port: must be an integer between 1 and 65535\n");
}

static void test_missing_explicit_file(void **state)
{
	struct fixture *fx = *state;
	struct dpp_config_flags flags = {0};
	char path[128];

	snprintf(path, sizeof(path), "%s/absent.yaml", fx->dir);
	flags.config_path = path;
	assert_int_equal(dpp_config_load(&flags, &fx->cfg, &fx->errors), -1);
	assert_null(fx->cfg);
	assert_non_null(fx->errors);
	assert_non_null(strstr(fx->errors, path));
	assert_non_null(strstr(fx->errors, ": cannot read config file: No such file or directory"));
	reset(fx);

	assert_int_equal(setenv("DOCKER_PROXY_CONFIG", path, 1), 0);
	assert_int_equal(dpp_config_load(NULL, &fx->cfg, &fx->errors), -1);
	assert_non_null(fx->errors);
	assert_non_null(strstr(fx->errors, "cannot read config file"));
	reset(fx);

	/* A directory is not a config file, even at the implicit path. */
	assert_int_equal(unsetenv("DOCKER_PROXY_CONFIG"), 0);
	snprintf(path, sizeof(path), "%s/config.yaml", fx->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(dpp_config_load(NULL, &fx->cfg, &fx->errors), -1);
	assert_non_null(fx->errors);
	assert_non_null(strstr(fx->errors, "./config.yaml: cannot read config file"));
	assert_int_equal(rmdir(path), 0);
}

static void test_file_too_large(void **state)
{
	struct fixture *fx = *state;
	size_t len = 1024 * 1024 + 10;
	char *big = malloc(len);
	struct dpp_config_flags flags = {0};

	assert_non_null(big);
	memset(big, '#', len);
	big[len - 1] = '\n';
	flags.config_path = write_file_len(fx, "big.yaml", big, len);
	free(big);
	assert_int_equal(dpp_config_load(&flags, &fx->cfg, &fx->errors), -1);
	assert_non_null(strstr(fx->errors, "larger than 1 MiB"));
}

static void test_too_many_errors_capped(void **state)
{
	struct fixture *fx = *state;
	char *yaml = malloc(200 * 16 + 16);
	size_t used;
	int lines = 0;

	assert_non_null(yaml);
	used = (size_t)sprintf(yaml, "global:\n");
	for (int i = 0; i < 150; i++)
		used += (size_t)sprintf(yaml + used, "  k%d: 1\n", i);
	assert_int_equal(load_yaml(fx, yaml, NULL, NULL), -1);
	free(yaml);
	for (const char *p = fx->errors; *p != '\0'; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 101);
	assert_non_null(strstr(fx->errors, "50 more error(s) not shown\n"));
}

/* ---- auth and rules: kept, never crash --------------------------------- */

static void test_auth_rules_any_shape(void **state)
{
	struct fixture *fx = *state;
	static const char *const cases[] = {
		"auth: 5\nrules: text\n",
		"auth: [1, {a: [b, {c: d}]}, ~]\nrules: {x: 1}\n",
		"auth: &x {a: 1}\nrules: [*x, *x, {b: *x}]\n",
		"rules:\n  ? [complex, key]\n  : value\n  ? {a: b}\n  : v2\n",
		"auth: !!binary aGVsbG8=\nrules: !custom {a: 1}\n",
		"auth: \"\"\nrules: []\n",
	};
	yaml_node_t *auth;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_ok(fx, cases[i], NULL);

	expect_ok(fx, "auth: 5\n", NULL);
	auth = dpp_config_section(fx->cfg, "auth");
	assert_non_null(auth);
	assert_string_equal((const char *)auth->data.scalar.value, "5");
	assert_null(dpp_config_section(fx->cfg, "rules"));
	assert_null(dpp_config_section(fx->cfg, "auth.x"));
	assert_non_null(dpp_config_yaml(fx->cfg));
	assert_null(dpp_config_yaml_node(fx->cfg, 0));
	assert_null(dpp_config_yaml_node(fx->cfg, 1000));
}

static void test_alias_bomb_and_depth(void **state)
{
	struct fixture *fx = *state;
	char yaml[8192];
	size_t used = (size_t)snprintf(yaml, sizeof(yaml), "rules:\n  l0: &l0 [\"${DPP_T_A}\", b]\n");

	/* 2^40 paths if walked naively: each node must be visited once. */
	assert_int_equal(setenv("DPP_T_A", "$${DPP_T_A}", 1), 0);
	for (int i = 1; i <= 40; i++)
		used += (size_t)snprintf(yaml + used, sizeof(yaml) - used,
					 "  l%d: &l%d [*l%d, *l%d]\n", i, i, i - 1, i - 1);
	expect_ok(fx, yaml, NULL);
	/* Interpolated once: the value of DPP_T_A is not interpolated again. */
	assert_string_equal(
		(const char *)dpp_config_yaml_node(
			fx->cfg, dpp_config_node(fx->cfg, "rules.l0")->data.sequence.items.start[0])
			->data.scalar.value,
		"$${DPP_T_A}");

	/* Nesting: 64 levels pass, 65 are refused. */
	used = (size_t)snprintf(yaml, sizeof(yaml), "rules: ");
	for (int i = 0; i < 63; i++)
		yaml[used++] = '[';
	yaml[used++] = '1';
	for (int i = 0; i < 63; i++)
		yaml[used++] = ']';
	yaml[used++] = '\n';
	yaml[used] = '\0';
	expect_ok(fx, yaml, NULL);

	used = (size_t)snprintf(yaml, sizeof(yaml), "rules: ");
	for (int i = 0; i < 64; i++)
		yaml[used++] = '[';
	yaml[used++] = '1';
	for (int i = 0; i < 64; i++)
		yaml[used++] = ']';
	yaml[used++] = '\n';
	yaml[used] = '\0';
	assert_int_equal(load_yaml(fx, yaml, NULL, NULL), -1);
	assert_non_null(strstr(fx->errors, ":1:71: rules[0][0]"));
	assert_non_null(strstr(fx->errors, ": nested deeper than 64 levels\n"));
}

/* ---- example config ------------------------------------------------------ */

static void example_path(char *buf, size_t len)
{
	const char *src = getenv("DPP_SOURCE_DIR");

	if (src != NULL && src[0] != '\0') {
		snprintf(buf, len, "%s/assets/config.example.yaml", src);
	} else {
		/* __FILE__ is .../tests/unit/test_config.c */
		const char *f = __FILE__;
		const char *cut = strstr(f, "tests/unit/test_config.c");

		snprintf(buf, len, "%.*sassets/config.example.yaml",
			 cut != NULL ? (int)(cut - f) : 0, f);
	}
}

static void test_example_config_loads(void **state)
{
	struct fixture *fx = *state;
	struct dpp_config_flags flags = {0};
	char path[4096];
	const struct dpp_config_key *k;
	FILE *f;
	char *text;
	long size;

	example_path(path, sizeof(path));
	flags.config_path = path;
	if (dpp_config_load(&flags, &fx->cfg, &fx->errors) != 0)
		fail_msg("%s", fx->errors ? fx->errors : "load failed");
	assert_null(fx->errors);
	assert_string_equal(dpp_config_settings(fx->cfg)->bind, DPP_DEFAULT_BIND);
	assert_int_equal(dpp_config_settings(fx->cfg)->port, DPP_DEFAULT_PORT);

	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	assert_true(size > 0);
	rewind(f);
	text = calloc(1, (size_t)size + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
	fclose(f);

	/* Every scalar key is set in the example, to its default, with its env
	 * override mentioned; every section is present with real examples
	 * (test_runtime compiles them). */
	for (size_t i = 0; (k = dpp_config_schema_get(i)) != NULL; i++) {
		if (k->type == DPP_CONFIG_OPAQUE) {
			char sect[64];

			snprintf(sect, sizeof(sect), "\n%s:\n", k->key);
			assert_non_null(strstr(text, sect));
			continue;
		}
		if (k->type == DPP_CONFIG_MAPPING)
			continue;
		{
			yaml_node_t *n = dpp_config_node(fx->cfg, k->key);

			if (n == NULL)
				fail_msg("%s is not set in the example", k->key);
			if (k->def != NULL)
				assert_string_equal((const char *)n->data.scalar.value, k->def);
		}
		if (k->env != NULL)
			assert_non_null(strstr(text, k->env));
		if (k->flag != NULL)
			assert_non_null(strstr(text, k->flag));
		assert_non_null(strstr(text, k->reloadable ? "Reloadable" : "Restart-only"));
	}
	free(text);
}

/* ---- schema table -------------------------------------------------------- */

static void test_schema_table(void **state)
{
	const struct dpp_config_key *k;
	size_t n = 0;

	(void)state;
	for (size_t i = 0; (k = dpp_config_schema_get(i)) != NULL; i++, n++) {
		const char *dot = strrchr(k->key, '.');

		assert_non_null(k->help);
		assert_true(strlen(k->help) > 0);
		/* A parent row comes before its children. */
		if (dot != NULL) {
			int found = 0;

			for (size_t j = 0; j < i; j++) {
				const struct dpp_config_key *p = dpp_config_schema_get(j);

				if (strlen(p->key) == (size_t)(dot - k->key) &&
				    strncmp(p->key, k->key, (size_t)(dot - k->key)) == 0)
					found = p->type == DPP_CONFIG_MAPPING;
			}
			if (!found)
				fail_msg("%s has no mapping parent before it", k->key);
		}
		if (k->type == DPP_CONFIG_ENUM)
			assert_non_null(k->choices);
	}
	assert_int_equal(n, 37);
	assert_string_equal(dpp_source_name(DPP_SOURCE_ENV), "env");
	assert_string_equal(dpp_source_name(DPP_SOURCE_AUTO), "auto");
}

/* A private schema with list, nested mapping and bool rows. */
static int check_short(const char *value, size_t len, const char **why)
{
	(void)value;
	if (len > 3) {
		*why = "must be at most 3 bytes";
		return -1;
	}
	return 0;
}

static const struct dpp_config_row test_rows[] = {
	{{.key = "global", .type = DPP_CONFIG_MAPPING, .help = "g"}, NULL,
	 DPP_CONFIG_NO_FIELD, 0, DPP_CONFIG_NO_FIELD},
	{{.key = "global.port", .type = DPP_CONFIG_INT, .def = "2376", .min = 1, .max = 65535,
	  .env = "DOCKER_PROXY_PORT", .flag = "--port", .help = "p"},
	 NULL, offsetof(struct dpp_settings, port), sizeof(int),
	 offsetof(struct dpp_settings, port_source)},
	{{.key = "global.names", .type = DPP_CONFIG_LIST, .elem_type = DPP_CONFIG_STRING,
	  .reloadable = 1, .help = "l"},
	 check_short, DPP_CONFIG_NO_FIELD, 0, DPP_CONFIG_NO_FIELD},
	{{.key = "global.ports", .type = DPP_CONFIG_LIST, .elem_type = DPP_CONFIG_INT, .min = 1,
	  .max = 9, .help = "l"},
	 NULL, DPP_CONFIG_NO_FIELD, 0, DPP_CONFIG_NO_FIELD},
	{{.key = "global.metrics", .type = DPP_CONFIG_MAPPING, .reloadable = 1, .help = "m"},
	 NULL, DPP_CONFIG_NO_FIELD, 0, DPP_CONFIG_NO_FIELD},
	{{.key = "global.metrics.enabled", .type = DPP_CONFIG_BOOL, .def = "false",
	  .reloadable = 1, .help = "b"},
	 NULL, DPP_CONFIG_NO_FIELD, 0, DPP_CONFIG_NO_FIELD},
	{{.key = "global.labels", .type = DPP_CONFIG_MAPPING, .help = "free-form"}, NULL,
	 DPP_CONFIG_NO_FIELD, 0, DPP_CONFIG_NO_FIELD},
};

static int load_test_schema(struct fixture *fx, const char *yaml)
{
	struct dpp_config_flags flags = {0};

	flags.config_path = write_file(fx, "s.yaml", yaml);
	reset(fx);
	return dpp_config_load_schema(test_rows, sizeof(test_rows) / sizeof(test_rows[0]), &flags,
				      &fx->cfg, &fx->errors);
}

static void test_schema_list_and_mapping_rows(void **state)
{
	struct fixture *fx = *state;
	yaml_node_t *names;
	char *out = NULL;
	size_t outlen = 0;
	FILE *mem;

	if (load_test_schema(fx, "global:\n  names: [ab, c]\n  ports: [1, '9']\n"
				 "  metrics:\n    enabled: TRUE\n") != 0)
		fail_msg("%s", fx->errors);
	names = dpp_config_node(fx->cfg, "global.names");
	assert_non_null(names);
	assert_int_equal(names->type, YAML_SEQUENCE_NODE);
	assert_int_equal(names->data.sequence.items.top - names->data.sequence.items.start, 2);
	assert_string_equal(scalar_at(fx, "global.metrics.enabled"), "TRUE");

	mem = open_memstream(&out, &outlen);
	assert_non_null(mem);
	dpp_config_print(fx->cfg, mem);
	assert_int_equal(fclose(mem), 0);
	assert_non_null(strstr(out, "global.names: 2 item(s)  # file\n"));
	assert_non_null(strstr(out, "global.metrics.enabled: TRUE  # file\n"));
	assert_non_null(strstr(out, "global.labels: (not set)  # default\n"));
	assert_null(strstr(out, "global.metrics:"));
	free(out);

	assert_int_equal(load_test_schema(fx,
					  "global:\n"
					  "  names: [ab, toolong, [x]]\n"
					  "  ports: scalar\n"
					  "  metrics:\n"
					  "    enabled: maybe\n"
					  "    extra: 1\n"
					  "  labels: {any: thing}\n"),
			 -1);
	{
		char want[4096];
		const char *p = fx->files[fx->nfiles - 1];

		snprintf(want, sizeof(want),
			 "%s:2:15: global.names[1]: must be at most 3 bytes\n"
			 "%s:2:24: global.names[2]: must be a string\n"
			 "%s:3:10: global.ports: must be a sequence\n"
			 "%s:5:14: global.metrics.enabled: must be true or false\n"
			 "%s:6:5: global.metrics.extra: unknown key\n"
			 "%s:7:12: global.labels.any: unknown key\n",
			 p, p, p, p, p, p);
		assert_string_equal(fx->errors, want);
	}

	assert_int_equal(load_test_schema(fx, "global:\n  ports: [0, 5, x]\n"), -1);
	assert_non_null(strstr(fx->errors, ":2:11: global.ports[0]: must be an integer between 1 and 9\n"));
	assert_non_null(strstr(fx->errors, ":2:17: global.ports[2]: must be an integer between 1 and 9\n"));
}

/* ---- print and reload ---------------------------------------------------- */

static char *print_to_string(const struct dpp_config *cfg)
{
	char *out = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&out, &len);

	assert_non_null(mem);
	dpp_config_print(cfg, mem);
	assert_int_equal(fclose(mem), 0);
	return out;
}

/* The print lines of every key after global.log_format, all at their
 * defaults in both print cases below. */
#define DEFAULT_TAIL \
	"global.max_body_bytes: 1048576  # default\n" \
	"global.max_filter_bytes: 16777216  # default\n" \
	"global.default_action: allow  # default\n" \
	"global.audit_log: \"\"  # default\n" \
	"global.log_file: \"\"  # default\n" \
	"global.console_history: 10000  # default\n" \
	"global.store.path: \"\"  # default (not set: docker-policy-proxy.db beside the config file)\n" \
	"global.store.requests: denied  # default\n" \
	"global.store.retention: 90d  # default\n" \
	"global.store.request_retention: 7d  # default\n" \
	"global.control_socket: \"\"  # default (not set: the default path, docs/control.md)\n" \
	"global.control_group: \"\"  # default\n" \
	"global.metrics.enabled: false  # default\n" \
	"global.metrics.path: /metrics  # default\n" \
	"global.trusted_proxies: (not set)  # default\n" \
	"global.tls.cert: \"\"  # default\n" \
	"global.tls.key: \"\"  # default\n" \
	"global.tls.client_ca: \"\"  # default\n" \
	"global.tls.require_client_cert: false  # default\n" \
	"global.listen_unix: \"\"  # default\n" \
	"global.listen_unix_mode: 0660  # default\n" \
	"global.listen_unix_group: \"\"  # default\n" \
	"global.insecure_allow_open: false  # default\n" \
	"global.client_timeout: 60  # default\n" \
	"global.max_connections: 4096  # default\n" \
	"global.max_connections_per_ip: 0  # default\n"

static void test_print(void **state)
{
	struct fixture *fx = *state;
	struct dpp_config_flags flags = {0};
	const char *path;
	char *out;
	char want[4096];

	assert_int_equal(dpp_config_load(NULL, &fx->cfg, &fx->errors), 0);
	out = print_to_string(fx->cfg);
	assert_string_equal(out, "# config file: none (built-in defaults)\n"
				 "global.bind: 127.0.0.1  # default\n"
				 "global.port: 2376  # default\n"
				 "global.socket: \"\"  # default (empty: auto-detect)\n"
				 "global.log_level: info  # default\n"
				 "global.log_format: text  # default\n"
				 DEFAULT_TAIL
				 "auth: absent\n"
				 "rules: absent\n");
	free(out);

	assert_int_equal(setenv("DOCKER_PROXY_PORT", "8080", 1), 0);
	flags.socket = "/f.sock";
	assert_int_equal(load_yaml(fx,
				   "global:\n  log_format: json\n  bind: '::'\n"
				   "auth: {}\nrules: []\n",
				   &flags, &path),
			 0);
	out = print_to_string(fx->cfg);
	snprintf(want, sizeof(want),
		 "# config file: %s\n"
		 "global.bind: ::  # file\n"
		 "global.port: 8080  # env DOCKER_PROXY_PORT\n"
		 "global.socket: /f.sock  # flag --socket\n"
		 "global.log_level: info  # default\n"
		 "global.log_format: json  # file\n"
		 DEFAULT_TAIL
		 "auth: present (parsed by the policy engine)\n"
		 "rules: present (parsed by the policy engine)\n",
		 path);
	assert_string_equal(out, want);
	free(out);
}

static void test_restart_needed(void **state)
{
	struct fixture *fx = *state;
	char *diff;

	expect_ok(fx, "global:\n  port: 1000\n  log_level: info\n", NULL);
	fx->cfg2 = fx->cfg;
	fx->cfg = NULL;

	/* Only reloadable keys changed. */
	expect_ok(fx, "global:\n  port: 1000\n  log_level: debug\n  log_format: json\n"
		      "rules: [x]\n",
		  NULL);
	assert_null(dpp_config_restart_needed(fx->cfg2, fx->cfg));

	expect_ok(fx, "global:\n  port: 1001\n  log_level: debug\n", NULL);
	diff = dpp_config_restart_needed(fx->cfg2, fx->cfg);
	assert_non_null(diff);
	assert_string_equal(diff, "global.port");
	free(diff);

	expect_ok(fx, "global:\n  port: 1001\n  bind: '::1'\n  socket: /s.sock\n", NULL);
	diff = dpp_config_restart_needed(fx->cfg2, fx->cfg);
	assert_non_null(diff);
	assert_string_equal(diff, "global.bind\nglobal.port\nglobal.socket");
	free(diff);
}

/* ---- socket detection ---------------------------------------------------- */

static void test_socket_pick(void **state)
{
	struct fixture *fx = *state;
	char missing[128];
	const char *a = write_file(fx, "a.sock", "");
	const char *b = write_file(fx, "b.sock", "");
	char out[DPP_SOCKET_PATH_MAX];
	char tiny[4];
	int rc;

	snprintf(missing, sizeof(missing), "%s/missing.sock", fx->dir);
	{
		const char *const c1[] = {missing, a, b};
		const char *const c2[] = {b, a};
		const char *const c3[] = {missing, missing};

		assert_int_equal(dpp_socket_pick(c1, 3), 1);
		assert_int_equal(dpp_socket_pick(c2, 2), 0);
		assert_int_equal(dpp_socket_pick(c3, 2), -1);
		assert_int_equal(dpp_socket_pick(c1, 0), -1);
		assert_int_equal(dpp_socket_pick(c1, 1), -1);
	}

	/* The platform list, exactly. */
	{
		char list[DPP_SOCKET_CANDIDATES_MAX][DPP_SOCKET_PATH_MAX];
		char longhome[DPP_SOCKET_PATH_MAX];
		size_t n;

		memset(longhome, 'h', sizeof(longhome) - 1);
		longhome[sizeof(longhome) - 1] = '\0';
#ifdef __APPLE__
		n = dpp_socket_candidates("/Users/u", list, DPP_SOCKET_CANDIDATES_MAX);
		assert_int_equal(n, 3);
		assert_string_equal(list[0], "/Users/u/.docker/run/docker.sock");
		assert_string_equal(list[1], "/var/run/docker.sock");
		assert_string_equal(list[2], "/Users/u/.docker/desktop/docker.sock");
		assert_int_equal(dpp_socket_candidates(NULL, list, DPP_SOCKET_CANDIDATES_MAX), 1);
		assert_int_equal(dpp_socket_candidates(longhome, list, DPP_SOCKET_CANDIDATES_MAX),
				 1);
#else
		n = dpp_socket_candidates("/home/u", list, DPP_SOCKET_CANDIDATES_MAX);
		assert_int_equal(n, 2);
		assert_string_equal(list[0], "/var/run/docker.sock");
		assert_string_equal(list[1], "/run/docker.sock");
		assert_int_equal(dpp_socket_candidates(longhome, list, DPP_SOCKET_CANDIDATES_MAX),
				 2);
#endif
		assert_int_equal(dpp_socket_candidates("/h", list, 1), 1);

		/* detect returns the first existing one of that list. */
		{
			const char *cand[DPP_SOCKET_CANDIDATES_MAX];
			int want;

			for (size_t j = 0; j < n; j++)
				cand[j] = list[j];
			want = dpp_socket_pick(cand, n);
			rc = dpp_socket_detect("/Users/u", out, sizeof(out));
			if (want < 0) {
				assert_int_equal(rc, -1);
			} else {
				assert_int_equal(rc, 0);
				assert_string_equal(out, cand[want]);
				assert_int_equal(dpp_socket_detect("/Users/u", tiny, sizeof(tiny)),
						 -1);
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults_without_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_implicit_file_is_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pick_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_and_comment_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nulls_mean_not_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics_off_by_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_each_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interpolation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interpolation_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rust_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_classes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multiple_errors_all_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_env_and_flag_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_explicit_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_too_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_errors_capped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth_rules_any_shape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alias_bomb_and_depth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_example_config_loads, setup, teardown),
		cmocka_unit_test(test_schema_table),
		cmocka_unit_test_setup_teardown(test_schema_list_and_mapping_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_print, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_needed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_pick, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
