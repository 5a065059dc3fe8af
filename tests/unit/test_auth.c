/* Authentication: config compilation (errors with file:line:col), bearer
 * checks (RFC 6750 2.1), fail-closed defaults, identity format and the
 * per-IP lockout with an injected clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "auth_yaml.h"
#include "dpp/auth.h"
#include "yaml_fixture.h"

#define FILE_NAME "cfg.yaml"
#define GOOD_TOKEN "s3cr3t-token-for-ci-0001"
/* printf %s s3cr3t-token-for-ci-0001 | sha256sum -> b99654749dcd2de0... */
#define GOOD_TOKEN_ID "token:b9965474"
/* printf %s abc | sha256sum -> ba7816bf8f01cfea... */
#define ABC_ID "token:ba7816bf"
#define SECRET "admin-secret-value-1234"
/* printf %s admin-secret-value-1234 | sha256sum -> f7de4a7f380badad... */
#define SECRET_ID "token:f7de4a7f"

/* ---- helpers ---------------------------------------------------------- */

struct compiled {
	yaml_document_t doc;
	int have_doc;
	struct dpp_auth *auth;
	char *errors;
	char *warnings;
	int rc;
};

/* Compiles `yaml` (NULL: no config file at all) with the given bind address. */
static void compile(struct compiled *c, const char *yaml, const char *bind)
{
	const yaml_node_t *auth = NULL;

	memset(c, 0, sizeof(*c));
	if (yaml != NULL) {
		yaml_parser_t parser;

		assert_int_equal(yaml_parser_initialize(&parser), 1);
		yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, strlen(yaml));
		assert_int_equal(yaml_parser_load(&parser, &c->doc), 1);
		yaml_parser_delete(&parser);
		c->have_doc = 1;
		auth = top_key(&c->doc, "auth");
	}
	c->rc = dpp_auth_compile(c->have_doc ? &c->doc : NULL, auth, FILE_NAME, yaml != NULL,
				 bind, &c->auth, &c->errors, &c->warnings);
	if (c->rc == 0)
		assert_non_null(c->auth);
	else
		assert_null(c->auth);
}

static void done(struct compiled *c)
{
	dpp_auth_unref(c->auth);
	free(c->errors);
	free(c->warnings);
	if (c->have_doc)
		yaml_document_delete(&c->doc);
}

static struct dpp_auth_result auth_header(const struct dpp_auth *a, const char *header)
{
	struct dpp_auth_result r;

	dpp_auth_authenticate(a, NULL, header, "192.0.2.1", 0, &r);
	return r;
}

static int count_lines(const char *s)
{
	int n = 0;

	if (s == NULL)
		return 0;
	n = 1;
	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

static int setup(void **state)
{
	(void)state;
	return unsetenv("DOCKER_PROXY_SECRET");
}

/* ---- parsing ---------------------------------------------------------- */

static const char FULL[] = "global:\n"
			   "  port: 2376\n"
			   "auth:\n"
			   "  type: bearer\n"
			   "  secret: " SECRET "\n"
			   "  tokens:\n"
			   "    - token: " GOOD_TOKEN "\n"
			   "    - token: ops-token-0123456789\n"
			   "      role: ops\n"
			   "    - token: 'reader-token-0123456789'\n"
			   "      role: read.only_1\n"
			   "  mtls:\n"
			   "    cert_role_map:\n"
			   "      - cn: build.example.com\n"
			   "        role: ci\n"
			   "    default_role: viewer\n"
			   "  unix_role_map:\n"
			   "    - uid: 0\n"
			   "      role: admin\n"
			   "    - gid: 4294967294\n"
			   "      role: docker\n";

static void test_parse_all_keys(void **state)
{
	struct compiled c;
	const struct dpp_auth_cert_role *cert = NULL;
	const struct dpp_auth_unix_role *ur = NULL;
	struct dpp_auth_result r;

	(void)state;
	compile(&c, FULL, "0.0.0.0");
	assert_int_equal(c.rc, 0);
	assert_null(c.errors);
	assert_null(c.warnings);
	assert_int_equal(dpp_auth_get_type(c.auth), DPP_AUTH_BEARER);
	assert_string_equal(dpp_auth_describe(c.auth), "bearer (3 tokens + shared secret)");

	r = auth_header(c.auth, "Bearer " GOOD_TOKEN);
	assert_int_equal(r.status, DPP_AUTH_OK);
	assert_string_equal(r.role, "user"); /* default role */
	r = auth_header(c.auth, "Bearer ops-token-0123456789");
	assert_int_equal(r.status, DPP_AUTH_OK);
	assert_string_equal(r.role, "ops");
	r = auth_header(c.auth, "Bearer reader-token-0123456789");
	assert_int_equal(r.status, DPP_AUTH_OK);
	assert_string_equal(r.role, "read.only_1");
	r = auth_header(c.auth, "Bearer " SECRET);
	assert_int_equal(r.status, DPP_AUTH_OK);
	assert_string_equal(r.role, "admin");
	assert_string_equal(r.identity, SECRET_ID);

	assert_int_equal(dpp_auth_cert_roles(c.auth, &cert), 1);
	assert_string_equal(cert[0].cn, "build.example.com");
	assert_string_equal(cert[0].role, "ci");
	assert_string_equal(dpp_auth_mtls_default_role(c.auth), "viewer");
	assert_int_equal(dpp_auth_unix_roles(c.auth, &ur), 2);
	assert_int_equal(ur[0].is_gid, 0);
	assert_int_equal(ur[0].id, 0);
	assert_string_equal(ur[0].role, "admin");
	assert_int_equal(ur[1].is_gid, 1);
	assert_int_equal(ur[1].id, 4294967294u);
	assert_string_equal(ur[1].role, "docker");
	done(&c);
}

struct describe_case {
	const char *yaml;
	enum dpp_auth_type type;
	const char *describe;
};

static void test_type_and_describe(void **state)
{
	static const struct describe_case cases[] = {
		/* type defaults to bearer when secret or tokens are set */
		{"auth:\n  tokens:\n    - token: " GOOD_TOKEN "\n", DPP_AUTH_BEARER,
		 "bearer (1 token)"},
		{"auth:\n  secret: " SECRET "\n", DPP_AUTH_BEARER, "bearer (shared secret)"},
		{"auth:\n  type: none\n", DPP_AUTH_NONE, "none (open access)"},
		{"auth:\n  type: mtls\n  mtls:\n    default_role: ops\n", DPP_AUTH_MTLS,
		 "mtls (client certificates; no cert_role_map: every certificate gets default_role)"},
		{"auth:\n  type: mtls\n  mtls:\n    cert_role_map:\n      - cn: a\n        role: b\n",
		 DPP_AUTH_MTLS, "mtls (client certificates; 1 cert_role_map entry)"},
		{"auth:\n  type: bearer\n", DPP_AUTH_BEARER,
		 "bearer (no credentials configured: every request is refused)"},
		{"auth: {}\n", DPP_AUTH_BEARER,
		 "bearer (no credentials configured: every request is refused)"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct compiled c;

		compile(&c, cases[i].yaml, "127.0.0.1");
		assert_int_equal(c.rc, 0);
		assert_int_equal(dpp_auth_get_type(c.auth), cases[i].type);
		assert_string_equal(dpp_auth_describe(c.auth), cases[i].describe);
		done(&c);
	}
}

struct error_case {
	const char *yaml;
	const char *error; /* expected as a substring of the error text */
};

static void test_errors(void **state)
{
	static const struct error_case cases[] = {
		{"auth: [1]\n", FILE_NAME ":1:7: auth: expected a mapping, got a list"},
		{"auth:\n  secrets: x\n", FILE_NAME ":2:3: auth: unknown key \"secrets\""},
		{"auth:\n  type: basic\n",
		 FILE_NAME ":2:9: auth.type: unknown type \"basic\" (expected bearer, none or mtls)"},
		{"auth:\n  type: [bearer]\n", FILE_NAME ":2:9: auth.type: expected a string"},
		{"auth:\n  secret: {a: b}\n",
		 FILE_NAME ":2:11: auth.secret: expected a string, got a mapping"},
		{"auth:\n  tokens: abc\n", FILE_NAME ":2:11: auth.tokens: expected a list, got a scalar"},
		{"auth:\n  tokens:\n    - abc\n",
		 FILE_NAME ":3:7: auth.tokens[0]: expected a mapping {token, role}, got a scalar"},
		{"auth:\n  tokens:\n    - role: user\n",
		 FILE_NAME ":3:7: auth.tokens[0]: missing key \"token\""},
		{"auth:\n  tokens:\n    - token: abcdefghijklmnopq\n      rol: user\n",
		 FILE_NAME ":4:7: auth.tokens[0]: unknown key \"rol\" (expected token, role)"},
		{"auth:\n  tokens:\n    - token: abcdefghijklmnopq\n    - token: bcdefghijklmnopqr\n"
		 "      role: \"bad role\"\n",
		 FILE_NAME ":5:13: auth.tokens[1].role: invalid role \"bad role\""},
		{"auth:\n  tokens:\n    - token: abcdefghijklmnopq\n      role: \"\"\n",
		 FILE_NAME ":4:13: auth.tokens[0].role: invalid role"},
		{"auth:\n  tokens:\n    - token: abcdefghijklmnopq\n"
		 "      role: abcdefghijabcdefghijabcdefghijab\n", /* 32 chars: one too many */
		 FILE_NAME ":4:13: auth.tokens[0].role: invalid role"},
		{"auth:\n  tokens:\n    - token: abcdefghijklmnopq\n      role: [a]\n",
		 FILE_NAME ":4:13: auth.tokens[0].role: expected a string, got a list"},
		{"auth:\n  tokens:\n    - token: abcdefghijklmnopq\n    - token: abcdefghijklmnopq\n",
		 FILE_NAME ":4:14: auth.tokens[1].token: same token as the entry at line 3"},
		{"auth:\n  tokens:\n    - token: \"has space\"\n",
		 FILE_NAME ":3:14: auth.tokens[0].token: token contains whitespace"},
		{"auth:\n  mtls: yes\n", FILE_NAME ":2:9: auth.mtls: expected a mapping, got a scalar"},
		{"auth:\n  mtls:\n    certs: []\n", FILE_NAME ":3:5: auth.mtls: unknown key \"certs\""},
		{"auth:\n  mtls:\n    default_role: [a]\n",
		 FILE_NAME ":3:19: auth.mtls.default_role: expected a string, got a list"},
		{"auth:\n  mtls:\n    cert_role_map:\n      - cn: ''\n        role: ops\n",
		 FILE_NAME ":4:13: auth.mtls.cert_role_map[0].cn: empty certificate CN"},
		{"auth:\n  mtls:\n    cert_role_map:\n      - cn: a.example\n",
		 FILE_NAME ":4:9: auth.mtls.cert_role_map[0]: missing key \"role\""},
		{"auth:\n  unix_role_map:\n    - uid: -1\n      role: ops\n",
		 FILE_NAME ":3:12: auth.unix_role_map[0].uid: expected an integer from 0 to 4294967294"},
		{"auth:\n  unix_role_map:\n    - uid: 4294967295\n      role: ops\n",
		 FILE_NAME ":3:12: auth.unix_role_map[0].uid: expected an integer"},
		{"auth:\n  unix_role_map:\n    - gid: abc\n      role: ops\n",
		 FILE_NAME ":3:12: auth.unix_role_map[0].gid: expected an integer"},
		{"auth:\n  unix_role_map:\n    - uid: 1\n      gid: 2\n      role: ops\n",
		 FILE_NAME ":4:7: auth.unix_role_map[0]: give either uid or gid, not both"},
		{"auth:\n  unix_role_map:\n    - role: ops\n",
		 FILE_NAME ":3:7: auth.unix_role_map[0]: missing key \"uid\" or \"gid\""},
		{"auth:\n  unix_role_map:\n    - uid: 5\n",
		 FILE_NAME ":3:7: auth.unix_role_map[0]: missing key \"role\""},
		{"auth:\n  unix_role_map:\n    - uid: 5\n      role: x y\n",
		 FILE_NAME ":4:13: auth.unix_role_map[0].role: invalid role"},
		{"auth:\n  unix_role_map: {uid: 1}\n",
		 FILE_NAME ":2:18: auth.unix_role_map: expected a list, got a mapping"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct compiled c;

		compile(&c, cases[i].yaml, "127.0.0.1");
		if (c.rc != -1 || c.errors == NULL || strstr(c.errors, cases[i].error) == NULL)
			fail_msg("case %zu: rc %d, errors \"%s\", expected \"%s\"", i, c.rc,
				 c.errors != NULL ? c.errors : "(none)", cases[i].error);
		/* errors never echo a token */
		assert_null(strstr(c.errors, "has space"));
		assert_null(strstr(c.errors, "abcdefghijklmnopq"));
		done(&c);
	}
}

static void test_errors_collected(void **state)
{
	struct compiled c;

	(void)state;
	compile(&c,
		"auth:\n"
		"  type: basic\n"
		"  bogus: 1\n"
		"  tokens:\n"
		"    - token: abcdefghijklmnopq\n"
		"      role: \"no!\"\n"
		"    - token: bcdefghijklmnopqr\n"
		"      role: [x]\n",
		"127.0.0.1");
	assert_int_equal(c.rc, -1);
	assert_int_equal(count_lines(c.errors), 4);
	assert_non_null(strstr(c.errors, FILE_NAME ":2:9: auth.type:"));
	assert_non_null(strstr(c.errors, FILE_NAME ":3:3: auth: unknown key \"bogus\""));
	assert_non_null(strstr(c.errors, FILE_NAME ":6:13: auth.tokens[0].role:"));
	assert_non_null(strstr(c.errors, FILE_NAME ":8:13: auth.tokens[1].role:"));
	done(&c);
}

/* ---- environment and fail-closed defaults ------------------------------ */

static void test_env_overrides_secret(void **state)
{
	struct compiled c;
	struct dpp_auth_result r;

	(void)state;
	assert_int_equal(setenv("DOCKER_PROXY_SECRET", "env-secret-abcdefgh", 1), 0);
	compile(&c, "auth:\n  secret: " SECRET "\n", "0.0.0.0");
	assert_int_equal(c.rc, 0);
	r = auth_header(c.auth, "Bearer " SECRET);
	assert_int_equal(r.status, DPP_AUTH_INVALID);
	r = auth_header(c.auth, "Bearer env-secret-abcdefgh");
	assert_int_equal(r.status, DPP_AUTH_OK);
	assert_string_equal(r.role, "admin");
	done(&c);

	/* also with no auth section at all */
	compile(&c, "global: {}\n", "0.0.0.0");
	assert_int_equal(c.rc, 0);
	assert_string_equal(dpp_auth_describe(c.auth), "bearer (shared secret)");
	assert_int_equal(auth_header(c.auth, "Bearer env-secret-abcdefgh").status, DPP_AUTH_OK);
	done(&c);

	/* an empty variable still overrides: the secret is gone, fail closed */
	assert_int_equal(setenv("DOCKER_PROXY_SECRET", "", 1), 0);
	compile(&c, "auth:\n  secret: " SECRET "\n", "127.0.0.1");
	assert_int_equal(c.rc, 0);
	assert_non_null(c.warnings);
	assert_int_equal(auth_header(c.auth, "Bearer " SECRET).status, DPP_AUTH_INVALID);
	done(&c);

	/* type none and a secret in the environment contradict each other */
	assert_int_equal(setenv("DOCKER_PROXY_SECRET", "env-secret-abcdefgh", 1), 0);
	compile(&c, "auth:\n  type: none\n", "127.0.0.1");
	assert_int_equal(c.rc, -1);
	assert_non_null(strstr(c.errors, FILE_NAME ":2:9: auth.type: type none but "
						    "DOCKER_PROXY_SECRET is set"));
	done(&c);

	/* a bad value is reported by name, never by value */
	assert_int_equal(setenv("DOCKER_PROXY_SECRET", "two words", 1), 0);
	compile(&c, NULL, "127.0.0.1");
	assert_int_equal(c.rc, -1);
	assert_non_null(strstr(c.errors, "DOCKER_PROXY_SECRET: token contains whitespace"));
	assert_null(strstr(c.errors, "two words"));
	done(&c);
}

static void test_no_config_file(void **state)
{
	static const char *const loopback[] = {"127.0.0.1", "127.1.2.3", "::1",
					       "::ffff:127.0.0.1"};
	static const char *const other[] = {"0.0.0.0", "192.168.1.10", "::", "128.0.0.1",
					    "localhost", ""};
	struct compiled c;
	struct dpp_auth_result r;

	(void)state;
	for (size_t i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++) {
		compile(&c, NULL, loopback[i]);
		assert_int_equal(c.rc, 0);
		assert_null(c.errors);
		assert_string_equal(c.warnings, "no config file and no DOCKER_PROXY_SECRET: open "
						"access on loopback only");
		assert_int_equal(dpp_auth_get_type(c.auth), DPP_AUTH_NONE);
		assert_string_equal(dpp_auth_describe(c.auth), "none (open access)");
		r = auth_header(c.auth, NULL);
		assert_int_equal(r.status, DPP_AUTH_OK);
		assert_string_equal(r.role, "admin");
		assert_string_equal(r.identity, "anonymous");
		done(&c);
	}
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		compile(&c, NULL, other[i]);
		assert_int_equal(c.rc, -1);
		assert_non_null(strstr(c.errors, "open access is only allowed on a loopback"));
		done(&c);
	}
	compile(&c, NULL, NULL);
	assert_int_equal(c.rc, -1);
	done(&c);

	/* with DOCKER_PROXY_SECRET: bearer on any address */
	assert_int_equal(setenv("DOCKER_PROXY_SECRET", SECRET, 1), 0);
	compile(&c, NULL, "0.0.0.0");
	assert_int_equal(c.rc, 0);
	assert_null(c.warnings);
	assert_string_equal(dpp_auth_describe(c.auth), "bearer (shared secret)");
	assert_int_equal(auth_header(c.auth, NULL).status, DPP_AUTH_MISSING);
	r = auth_header(c.auth, "Bearer " SECRET);
	assert_int_equal(r.status, DPP_AUTH_OK);
	assert_string_equal(r.role, "admin");
	done(&c);

	/* set but empty: refuse everything rather than open up */
	assert_int_equal(setenv("DOCKER_PROXY_SECRET", "", 1), 0);
	compile(&c, NULL, "127.0.0.1");
	assert_int_equal(c.rc, 0);
	assert_int_equal(dpp_auth_get_type(c.auth), DPP_AUTH_BEARER);
	assert_non_null(c.warnings);
	assert_int_equal(auth_header(c.auth, NULL).status, DPP_AUTH_MISSING);
	assert_int_equal(auth_header(c.auth, "Bearer x").status, DPP_AUTH_INVALID);
	done(&c);
}

/* The seed's wizard writes every unset key as null: a null means "not set"
 * (the default), also inside entries; `auth: null` is no auth section. */
static void test_nulls_mean_not_set(void **state)
{
	static const char WIZARD[] = "auth:\n"
				     "  type: bearer\n"
				     "  secret: null\n"
				     "  tokens:\n"
				     "    - token: " GOOD_TOKEN "\n"
				     "      role: null\n"
				     "    - token: ops-token-0123456789\n"
				     "      role: ops\n"
				     "  mtls: null\n"
				     "  unix_role_map: ~\n";
	static const char MAPS[] = "auth:\n"
				   "  type: null\n"
				   "  mtls:\n"
				   "    cert_role_map:\n"
				   "      - {cn: a.example.com, role: ci}\n"
				   "    default_role: null\n"
				   "  unix_role_map:\n"
				   "    - {uid: null, gid: 5, role: docker}\n";
	struct compiled c;
	struct dpp_auth_result r;
	const struct dpp_auth_unix_role *ur = NULL;

	(void)state;
	compile(&c, WIZARD, "127.0.0.1");
	assert_int_equal(c.rc, 0);
	assert_null(c.errors);
	assert_null(c.warnings);
	assert_int_equal(dpp_auth_get_type(c.auth), DPP_AUTH_BEARER);
	r = auth_header(c.auth, "Bearer " GOOD_TOKEN);
	assert_int_equal(r.status, DPP_AUTH_OK);
	assert_string_equal(r.role, "user"); /* role: null is the default role */
	assert_int_equal(auth_header(c.auth, "Bearer null").status, DPP_AUTH_INVALID);
	done(&c);

	compile(&c, MAPS, "127.0.0.1");
	assert_int_equal(c.rc, 0);
	assert_null(c.errors);
	assert_int_equal(dpp_auth_get_type(c.auth), DPP_AUTH_BEARER); /* type: null = default */
	assert_null(dpp_auth_mtls_default_role(c.auth));
	assert_int_equal(dpp_auth_unix_roles(c.auth, &ur), 1);
	assert_true(ur[0].is_gid);
	assert_int_equal(ur[0].id, 5);
	done(&c);

	/* auth: null is the same as no auth section: everything refused. */
	compile(&c, "global:\n  port: 1\nauth: null\n", "127.0.0.1");
	assert_int_equal(c.rc, 0);
	assert_non_null(strstr(c.warnings, "every request is refused"));
	assert_int_equal(auth_header(c.auth, NULL).status, DPP_AUTH_MISSING);
	assert_int_equal(auth_header(c.auth, "Bearer null").status, DPP_AUTH_INVALID);
	done(&c);

	/* A null required key is a missing key; a null unknown key is still unknown. */
	compile(&c, "auth:\n  mtls:\n    cert_role_map:\n      - {cn: a.example.com, role: null}\n",
		"127.0.0.1");
	assert_int_equal(c.rc, -1);
	assert_non_null(strstr(c.errors, FILE_NAME ":4:9: auth.mtls.cert_role_map[0]: missing key \"role\""));
	done(&c);
	compile(&c, "auth:\n  type: bearer\n  password: null\n", "127.0.0.1");
	assert_int_equal(c.rc, -1);
	assert_non_null(strstr(c.errors, FILE_NAME ":3:3: auth: unknown key \"password\""));
	done(&c);
}

static void test_fail_closed(void **state)
{
	static const char *const yamls[] = {
		"global:\n  port: 1\n",                 /* no auth section */
		"auth:\n",                              /* empty section */
		"auth:\n  secret: \"\"\n  tokens:\n    - token: ''\n      role: ops\n"
		"    - token:\n",                       /* all empty (unset ${VAR}) */
		"auth:\n  secret: null\n",              /* null is not the string "null" */
		"auth:\n  secret: ~\n  tokens: []\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(yamls) / sizeof(yamls[0]); i++) {
		struct compiled c;

		compile(&c, yamls[i], "127.0.0.1");
		assert_int_equal(c.rc, 0);
		assert_null(c.errors);
		assert_non_null(c.warnings);
		assert_non_null(strstr(c.warnings, "every request is refused"));
		if (i == 0)
			assert_string_equal(c.warnings, FILE_NAME ": auth: the config file has no "
							"auth section: every request is refused");
		assert_string_equal(dpp_auth_describe(c.auth),
				    "bearer (no credentials configured: every request is refused)");
		assert_int_equal(auth_header(c.auth, NULL).status, DPP_AUTH_MISSING);
		assert_int_equal(auth_header(c.auth, "Bearer null").status, DPP_AUTH_INVALID);
		assert_int_equal(auth_header(c.auth, "Bearer ~").status, DPP_AUTH_INVALID);
		assert_int_equal(auth_header(c.auth, "Bearer \"\"").status, DPP_AUTH_INVALID);
		done(&c);
	}
}

static void test_empty_token_warning_has_position(void **state)
{
	struct compiled c;

	(void)state;
	compile(&c, "auth:\n  tokens:\n    - token: ''\n    - token: " GOOD_TOKEN "\n", "::1");
	assert_int_equal(c.rc, 0);
	assert_non_null(strstr(c.warnings, FILE_NAME ":3:14: auth.tokens[0].token: empty token"));
	assert_string_equal(dpp_auth_describe(c.auth), "bearer (1 token)");
	done(&c);
}

/* ---- authenticate ----------------------------------------------------- */

static void test_tokens_before_secret(void **state)
{
	struct compiled c;
	struct dpp_auth_result r;

	(void)state;
	compile(&c,
		"auth:\n  secret: " SECRET "\n  tokens:\n"
		"    - token: " SECRET "\n      role: ci\n",
		"127.0.0.1");
	assert_int_equal(c.rc, 0);
	assert_non_null(strstr(c.warnings, "equals the shared secret"));
	assert_null(strstr(c.warnings, SECRET));
	r = auth_header(c.auth, "Bearer " SECRET);
	assert_int_equal(r.status, DPP_AUTH_OK);
	assert_string_equal(r.role, "ci");
	done(&c);
}

static void test_identity(void **state)
{
	struct compiled c;
	struct dpp_auth_result r;

	(void)state;
	compile(&c, "auth:\n  tokens:\n    - token: " GOOD_TOKEN "\n", "127.0.0.1");
	assert_int_equal(c.rc, 0);
	r = auth_header(c.auth, "Bearer " GOOD_TOKEN);
	assert_int_equal(r.status, DPP_AUTH_OK);
	assert_string_equal(r.identity, GOOD_TOKEN_ID);
	assert_string_equal(r.role, "user");
	/* a rejected token is named the same way, for the audit */
	r = auth_header(c.auth, "Bearer abc");
	assert_int_equal(r.status, DPP_AUTH_INVALID);
	assert_string_equal(r.identity, ABC_ID);
	assert_string_equal(r.role, "");
	assert_null(strstr(r.reason, "abc"));
	done(&c);
}

struct header_case {
	const char *header;
	enum dpp_auth_status status;
};

static void test_scheme(void **state)
{
	static const struct header_case cases[] = {
		{"Bearer " GOOD_TOKEN, DPP_AUTH_OK},
		{"bearer " GOOD_TOKEN, DPP_AUTH_OK},
		{"BEARER " GOOD_TOKEN, DPP_AUTH_OK},
		{"BeArEr \t " GOOD_TOKEN " \t", DPP_AUTH_OK},
		{"  Bearer " GOOD_TOKEN, DPP_AUTH_OK},
		{NULL, DPP_AUTH_MISSING},
		{"", DPP_AUTH_MISSING},
		{"  \t", DPP_AUTH_MISSING},
		{"Bearer", DPP_AUTH_INVALID},
		{"Bearer ", DPP_AUTH_INVALID},
		{"Bearer \t  ", DPP_AUTH_INVALID},
		{"Bearer" GOOD_TOKEN, DPP_AUTH_INVALID},
		{"Basic " GOOD_TOKEN, DPP_AUTH_INVALID},
		{"Token " GOOD_TOKEN, DPP_AUTH_INVALID},
		{GOOD_TOKEN, DPP_AUTH_INVALID},
		{"Bearer " GOOD_TOKEN " extra", DPP_AUTH_INVALID},
		{"Bearer " GOOD_TOKEN "x", DPP_AUTH_INVALID},
		{"Bearer s3cr3t-token-for-ci-000", DPP_AUTH_INVALID},
		{"Bearer S3CR3T-TOKEN-FOR-CI-0001", DPP_AUTH_INVALID}, /* tokens are case-sensitive */
	};
	struct compiled c;

	(void)state;
	compile(&c, "auth:\n  tokens:\n    - token: " GOOD_TOKEN "\n", "127.0.0.1");
	assert_int_equal(c.rc, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dpp_auth_result r = auth_header(c.auth, cases[i].header);

		if (r.status != cases[i].status)
			fail_msg("case %zu (%s): status %d, expected %d", i,
				 cases[i].header != NULL ? cases[i].header : "NULL", r.status,
				 cases[i].status);
		assert_non_null(r.reason);
		if (r.status != DPP_AUTH_OK)
			assert_string_equal(r.role, "");
	}
	done(&c);
}

static void test_token_too_long(void **state)
{
	struct compiled c;
	char *h = malloc(8 + DPP_AUTH_TOKEN_MAX + 2);

	(void)state;
	assert_non_null(h);
	compile(&c, "auth:\n  tokens:\n    - token: " GOOD_TOKEN "\n", "127.0.0.1");
	memcpy(h, "Bearer ", 7);
	memset(h + 7, 'a', DPP_AUTH_TOKEN_MAX + 1);
	h[7 + DPP_AUTH_TOKEN_MAX + 1] = '\0';
	assert_int_equal(auth_header(c.auth, h).status, DPP_AUTH_INVALID);
	free(h);
	done(&c);
}

static void test_none_is_admin(void **state)
{
	struct compiled c;
	struct dpp_lockout *lk = dpp_lockout_create(0);
	struct dpp_auth_result r;

	(void)state;
	assert_non_null(lk);
	compile(&c, "auth:\n  type: none\n  tokens:\n    - token: " GOOD_TOKEN "\n", "0.0.0.0");
	assert_int_equal(c.rc, 0);
	assert_non_null(strstr(c.warnings, "secret and tokens are ignored"));
	assert_non_null(strstr(c.warnings, "anyone who reaches the port is admin"));
	for (int i = 0; i < 20; i++) {
		dpp_auth_authenticate(c.auth, lk, "Basic nonsense", "192.0.2.9", 0, &r);
		assert_int_equal(r.status, DPP_AUTH_OK);
		assert_string_equal(r.role, "admin");
		assert_string_equal(r.identity, "anonymous");
	}
	assert_int_equal(dpp_lockout_size(lk), 0);
	dpp_lockout_free(lk);
	done(&c);
}

/* type mtls: a bearer token is no credential (no certificate: 401). */
static void test_mtls_ignores_tokens(void **state)
{
	struct compiled c;
	struct dpp_auth_result r;

	(void)state;
	compile(&c, "auth:\n  type: mtls\n  secret: " SECRET "\n", "127.0.0.1");
	assert_int_equal(c.rc, 0);
	assert_non_null(strstr(c.warnings, "type mtls: secret and tokens are ignored"));
	r = auth_header(c.auth, "Bearer " SECRET);
	assert_int_equal(r.status, DPP_AUTH_MISSING);
	assert_string_equal(r.reason, "client certificate required");
	assert_string_equal(r.role, "");
	done(&c);
}

static void test_refcount(void **state)
{
	struct compiled c;

	(void)state;
	compile(&c, "auth:\n  secret: " SECRET "\n", "127.0.0.1");
	assert_ptr_equal(dpp_auth_ref(c.auth), c.auth);
	assert_ptr_equal(dpp_auth_ref(c.auth), c.auth);
	dpp_auth_unref(c.auth);
	dpp_auth_unref(c.auth);
	/* still alive: the last reference is dropped by done() (ASan checks) */
	assert_int_equal(auth_header(c.auth, "Bearer " SECRET).status, DPP_AUTH_OK);
	assert_null(dpp_auth_ref(NULL));
	dpp_auth_unref(NULL);
	done(&c);
}

static void test_challenge(void **state)
{
	(void)state;
	assert_string_equal(dpp_auth_challenge(DPP_AUTH_MISSING),
			    "Bearer realm=\"docker-policy-proxy\"");
	assert_string_equal(dpp_auth_challenge(DPP_AUTH_INVALID),
			    "Bearer realm=\"docker-policy-proxy\", error=\"invalid_token\"");
}

/* ---- lockout ---------------------------------------------------------- */

static void test_lockout_basic(void **state)
{
	struct dpp_lockout *lk = dpp_lockout_create(0);
	const int64_t t0 = 1000;

	(void)state;
	assert_non_null(lk);
	for (int i = 0; i < DPP_LOCKOUT_FAILURES - 1; i++) {
		assert_int_equal(dpp_lockout_record_failure(lk, "192.0.2.1", t0 + i), 0);
		assert_int_equal(dpp_lockout_check(lk, "192.0.2.1", t0 + i), 0);
	}
	assert_int_equal(dpp_lockout_record_failure(lk, "192.0.2.1", t0 + 9), 1);
	assert_int_equal(dpp_lockout_check(lk, "192.0.2.1", t0 + 9), DPP_LOCKOUT_DURATION_MS);
	/* other addresses are not affected; the mapped spelling is the same address */
	assert_int_equal(dpp_lockout_check(lk, "192.0.2.2", t0 + 9), 0);
	assert_int_equal(dpp_lockout_check(lk, "::ffff:192.0.2.1", t0 + 10),
			 DPP_LOCKOUT_DURATION_MS - 1);
	/* failures while locked neither report again nor extend the lock */
	assert_int_equal(dpp_lockout_record_failure(lk, "192.0.2.1", t0 + 100000), 0);
	assert_int_equal(dpp_lockout_check(lk, "192.0.2.1", t0 + 9 + DPP_LOCKOUT_DURATION_MS - 1),
			 1);
	assert_int_equal(dpp_lockout_check(lk, "192.0.2.1", t0 + 9 + DPP_LOCKOUT_DURATION_MS), 0);
	/* after expiry the count starts afresh */
	assert_int_equal(
		dpp_lockout_record_failure(lk, "192.0.2.1", t0 + 9 + DPP_LOCKOUT_DURATION_MS), 0);
	assert_int_equal(dpp_lockout_check(lk, "192.0.2.1", t0 + 10 + DPP_LOCKOUT_DURATION_MS), 0);
	dpp_lockout_free(lk);
}

static void test_lockout_window_slides(void **state)
{
	struct dpp_lockout *lk = dpp_lockout_create(0);
	const char *ip = "2001:db8::1";

	(void)state;
	assert_non_null(lk);
	for (int i = 0; i < 5; i++)
		assert_int_equal(dpp_lockout_record_failure(lk, ip, 0), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(dpp_lockout_record_failure(lk, ip, 30000), 0);
	/* at 60 s the first five have left the window: 4 + 1 */
	assert_int_equal(dpp_lockout_record_failure(lk, ip, 60000), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(dpp_lockout_record_failure(lk, ip, 60001), 0);
	assert_int_equal(dpp_lockout_check(lk, ip, 89999), 0);
	/* the failures at 30 s are still inside: 4 + 1 + 4 + 1 = 10 (a window that
	 * reset every 60 s would count only 6 here) */
	assert_int_equal(dpp_lockout_record_failure(lk, "2001:db8:0::1", 89999), 1);
	assert_int_equal(dpp_lockout_check(lk, ip, 89999), DPP_LOCKOUT_DURATION_MS);
	dpp_lockout_free(lk);
}

static void test_lockout_bounded(void **state)
{
	struct dpp_lockout *lk = dpp_lockout_create(4);
	char ip[32];

	(void)state;
	assert_non_null(lk);
	/* a locked address, then three that failed once */
	for (int i = 0; i < DPP_LOCKOUT_FAILURES; i++)
		dpp_lockout_record_failure(lk, "10.0.0.100", 0);
	assert_true(dpp_lockout_check(lk, "10.0.0.100", 1) > 0);
	/* "10.0.0.1" almost locked, the oldest unlocked entry */
	for (int i = 0; i < DPP_LOCKOUT_FAILURES - 1; i++)
		assert_int_equal(dpp_lockout_record_failure(lk, "10.0.0.1", 1), 0);
	assert_int_equal(dpp_lockout_record_failure(lk, "10.0.0.2", 2), 0);
	assert_int_equal(dpp_lockout_record_failure(lk, "10.0.0.3", 3), 0);
	assert_int_equal(dpp_lockout_size(lk), 4);
	/* a fifth address evicts the oldest unlocked entry, 10.0.0.1 */
	assert_int_equal(dpp_lockout_record_failure(lk, "10.0.0.4", 4), 0);
	assert_int_equal(dpp_lockout_size(lk), 4);
	/* forgotten: a tenth failure would have locked it */
	assert_int_equal(dpp_lockout_record_failure(lk, "10.0.0.1", 5), 0);
	/* many new addresses never push out the locked one */
	for (int i = 0; i < 100; i++) {
		snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 256, i % 256);
		dpp_lockout_record_failure(lk, ip, 10 + i);
		assert_int_equal(dpp_lockout_size(lk), 4);
	}
	assert_int_equal(dpp_lockout_check(lk, "10.0.0.100", 200), DPP_LOCKOUT_DURATION_MS - 200);
	dpp_lockout_free(lk);

	/* when every entry is locked the one whose lock ends first goes */

	lk = dpp_lockout_create(2);
	assert_non_null(lk);
	for (int i = 0; i < DPP_LOCKOUT_FAILURES; i++) {
		dpp_lockout_record_failure(lk, "10.0.0.1", 0);
		dpp_lockout_record_failure(lk, "10.0.0.2", 50);
	}
	assert_true(dpp_lockout_check(lk, "10.0.0.1", 60) > 0);
	assert_true(dpp_lockout_check(lk, "10.0.0.2", 60) > 0);
	dpp_lockout_record_failure(lk, "10.0.0.3", 100);
	assert_int_equal(dpp_lockout_check(lk, "10.0.0.1", 100), 0);
	assert_true(dpp_lockout_check(lk, "10.0.0.2", 100) > 0);
	dpp_lockout_free(lk);
}

static void test_lockout_expired_lock_is_evictable(void **state)
{
	struct dpp_lockout *lk = dpp_lockout_create(2);

	(void)state;
	assert_non_null(lk);
	for (int i = 0; i < DPP_LOCKOUT_FAILURES; i++)
		dpp_lockout_record_failure(lk, "10.0.0.1", 0);
	assert_int_equal(dpp_lockout_record_failure(lk, "10.0.0.2", 299000), 0);
	/* the lock of 10.0.0.1 ended at 300000: it is the entry to reuse, not the
	 * recent failure of 10.0.0.2 */
	assert_int_equal(dpp_lockout_record_failure(lk, "10.0.0.3", 300001), 0);
	for (int i = 0; i < DPP_LOCKOUT_FAILURES - 2; i++)
		assert_int_equal(dpp_lockout_record_failure(lk, "10.0.0.2", 300002), 0);
	assert_int_equal(dpp_lockout_record_failure(lk, "10.0.0.2", 300002), 1);
	dpp_lockout_free(lk);
}

static void test_authenticate_lockout(void **state)
{
	struct compiled c;
	struct dpp_lockout *lk = dpp_lockout_create(0);
	struct dpp_auth_result r;
	int64_t t = 5000;

	(void)state;
	assert_non_null(lk);
	compile(&c, "auth:\n  tokens:\n    - token: " GOOD_TOKEN "\n", "127.0.0.1");
	/* missing credentials are not failures */
	for (int i = 0; i < 20; i++) {
		dpp_auth_authenticate(c.auth, lk, NULL, "198.51.100.7", t, &r);
		assert_int_equal(r.status, DPP_AUTH_MISSING);
	}
	assert_int_equal(dpp_lockout_check(lk, "198.51.100.7", t), 0);
	for (int i = 0; i < DPP_LOCKOUT_FAILURES; i++) {
		dpp_auth_authenticate(c.auth, lk, "Bearer wrong", "198.51.100.7", t + i, &r);
		assert_int_equal(r.status, DPP_AUTH_INVALID);
		assert_int_equal(r.lockout_started, i == DPP_LOCKOUT_FAILURES - 1);
	}
	/* even the right token is refused while locked */
	dpp_auth_authenticate(c.auth, lk, "Bearer " GOOD_TOKEN, "198.51.100.7", t + 10, &r);
	assert_int_equal(r.status, DPP_AUTH_LOCKED_OUT);
	assert_int_equal(r.retry_after_s, 300);
	assert_string_equal(r.role, "");
	dpp_auth_authenticate(c.auth, lk, "Bearer " GOOD_TOKEN, "198.51.100.7",
			      t + 9 + DPP_LOCKOUT_DURATION_MS - 1500, &r);
	assert_int_equal(r.status, DPP_AUTH_LOCKED_OUT);
	assert_int_equal(r.retry_after_s, 2); /* 1.5 s rounds up */
	dpp_auth_authenticate(c.auth, lk, "Bearer " GOOD_TOKEN, "198.51.100.8", t + 10, &r);
	assert_int_equal(r.status, DPP_AUTH_OK);
	dpp_auth_authenticate(c.auth, lk, "Bearer " GOOD_TOKEN, "198.51.100.7",
			      t + 9 + DPP_LOCKOUT_DURATION_MS, &r);
	assert_int_equal(r.status, DPP_AUTH_OK);
	dpp_lockout_free(lk);
	done(&c);
}

struct hammer {
	struct dpp_lockout *lk;
	int id;
	int started;
};

static void *hammer_run(void *arg)
{
	struct hammer *h = arg;
	char ip[32];

	for (int i = 0; i < 50; i++) {
		snprintf(ip, sizeof(ip), "10.%d.0.%d", h->id, i);
		for (int k = 0; k < DPP_LOCKOUT_FAILURES; k++)
			h->started += dpp_lockout_record_failure(h->lk, ip, 1000);
	}
	return NULL;
}

static void test_lockout_threads(void **state)
{
	struct hammer h[4];
	pthread_t th[4];
	struct dpp_lockout *lk = dpp_lockout_create(0);

	(void)state;
	assert_non_null(lk);
	for (int i = 0; i < 4; i++) {
		h[i] = (struct hammer){lk, i, 0};
		assert_int_equal(pthread_create(&th[i], NULL, hammer_run, &h[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(h[i].started, 50);
	}
	assert_int_equal(dpp_lockout_size(lk), 200);
	dpp_lockout_free(lk);
}

/* The console's Limits view: failing and locked addresses, read-only. */
static void test_lockout_snapshot(void **state)
{
	struct dpp_lockout *lk = dpp_lockout_create(16);
	struct dpp_lockout_state *st = NULL;
	size_t n = 0;

	(void)state;
	assert_non_null(lk);
	assert_int_equal(dpp_lockout_snapshot(lk, 1000, &st, &n), 0);
	assert_int_equal(n, 0);
	assert_null(st);
	for (int i = 0; i < DPP_LOCKOUT_FAILURES; i++)
		dpp_lockout_record_failure(lk, "::ffff:10.0.0.1", 1000 + i);
	dpp_lockout_record_failure(lk, "10.0.0.2", 1000);
	assert_int_equal(dpp_lockout_snapshot(lk, 2000, &st, &n), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(st[i].ip, "10.0.0.1") == 0) {
			assert_int_equal(st[i].remaining_ms, DPP_LOCKOUT_DURATION_MS + 1009 - 2000);
		} else {
			assert_string_equal(st[i].ip, "10.0.0.2");
			assert_int_equal(st[i].failures, 1);
			assert_int_equal(st[i].remaining_ms, 0);
		}
	}
	free(st);
	/* Outside the window and unlocked: no longer listed. */
	assert_int_equal(dpp_lockout_snapshot(lk, 1000 + DPP_LOCKOUT_DURATION_MS + 60000, &st, &n), 0);
	assert_int_equal(n, 0);
	dpp_lockout_free(lk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_parse_all_keys, setup),
		cmocka_unit_test_setup(test_nulls_mean_not_set, setup),
		cmocka_unit_test_setup(test_type_and_describe, setup),
		cmocka_unit_test_setup(test_errors, setup),
		cmocka_unit_test_setup(test_errors_collected, setup),
		cmocka_unit_test_setup(test_env_overrides_secret, setup),
		cmocka_unit_test_setup(test_no_config_file, setup),
		cmocka_unit_test_setup(test_fail_closed, setup),
		cmocka_unit_test_setup(test_empty_token_warning_has_position, setup),
		cmocka_unit_test_setup(test_tokens_before_secret, setup),
		cmocka_unit_test_setup(test_identity, setup),
		cmocka_unit_test_setup(test_scheme, setup),
		cmocka_unit_test_setup(test_token_too_long, setup),
		cmocka_unit_test_setup(test_none_is_admin, setup),
		cmocka_unit_test_setup(test_mtls_ignores_tokens, setup),
		cmocka_unit_test_setup(test_refcount, setup),
		cmocka_unit_test(test_challenge),
		cmocka_unit_test(test_lockout_basic),
		cmocka_unit_test(test_lockout_window_slides),
		cmocka_unit_test(test_lockout_bounded),
		cmocka_unit_test(test_lockout_expired_lock_is_evictable),
		cmocka_unit_test(test_authenticate_lockout),
		cmocka_unit_test(test_lockout_threads),
		cmocka_unit_test(test_lockout_snapshot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
