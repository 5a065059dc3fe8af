/* Authentication by peer: mTLS certificate roles (cert_role_map patterns,
 * default_role, CN as role), Unix-socket peer credentials (unix_role_map),
 * the fall back to bearer tokens, cn pattern validation at compile, and the
 * exposure check matrix. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth_yaml.h"
#include "dpp/auth.h"
#include "dpp/peer.h"
#include "yaml_fixture.h"

#define FILE_NAME "cfg.yaml"
#define TOKEN "s3cr3t-token-for-ci-0001"
/* printf %s s3cr3t-token-for-ci-0001 | sha256sum -> b99654749dcd2de0... */
#define TOKEN_ID "token:b9965474"

/* ---- helpers ---------------------------------------------------------- */

struct compiled {
	yaml_document_t doc;
	struct dpp_auth *auth;
	char *errors;
	char *warnings;
	int rc;
};

static void compile(struct compiled *c, const char *yaml)
{
	yaml_parser_t parser;

	memset(c, 0, sizeof(*c));
	assert_int_equal(yaml_parser_initialize(&parser), 1);
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, strlen(yaml));
	assert_int_equal(yaml_parser_load(&parser, &c->doc), 1);
	yaml_parser_delete(&parser);
	c->rc = dpp_auth_compile(&c->doc, top_key(&c->doc, "auth"), FILE_NAME, 1, "127.0.0.1",
				 &c->auth, &c->errors, &c->warnings);
}

static void compile_ok(struct compiled *c, const char *yaml)
{
	compile(c, yaml);
	if (c->rc != 0 || c->auth == NULL)
		fail_msg("compile failed: %s", c->errors != NULL ? c->errors : "(no text)");
}

static void done(struct compiled *c)
{
	dpp_auth_unref(c->auth);
	free(c->errors);
	free(c->warnings);
	yaml_document_delete(&c->doc);
}

/* A TLS peer with a verified certificate; sans is a NULL-terminated list. */
static struct dpp_peer cert_peer(const char *cn, const char *const *sans)
{
	struct dpp_peer p;

	memset(&p, 0, sizeof(p));
	p.tls = 1;
	p.has_cert = 1;
	snprintf(p.cn, sizeof(p.cn), "%s", cn);
	for (size_t i = 0; sans != NULL && sans[i] != NULL && i < DPP_PEER_SANS_MAX; i++) {
		snprintf(p.dns_sans[i], sizeof(p.dns_sans[i]), "%s", sans[i]);
		p.n_dns_sans = i + 1;
	}
	return p;
}

static struct dpp_peer unix_peer(uint32_t uid, uint32_t gid)
{
	struct dpp_peer p;

	memset(&p, 0, sizeof(p));
	p.unix_peer = 1;
	p.uid = uid;
	p.gid = gid;
	p.pid = 4242;
	return p;
}

/* ---- mTLS mapping table ----------------------------------------------- */

static const char MTLS[] = "auth:\n"
			   "  type: mtls\n"
			   "  mtls:\n"
			   "    cert_role_map:\n"
			   "      - cn: build.example.com\n"
			   "        role: ci\n"
			   "      - cn: '*.ops.example.com'\n"
			   "        role: ops\n"
			   "      - cn: Deploy.Example.COM\n"
			   "        role: deployer\n"
			   "      - cn: '*.example.com'\n"
			   "        role: member\n"
			   "      - cn: Jane Doe\n"
			   "        role: auditor\n"
			   "    default_role: viewer\n";

struct cert_case {
	const char *name;
	const char *cn;
	const char *sans[4];
	enum dpp_auth_status status;
	const char *role;     /* "" when not OK */
	const char *identity;
};

static void test_cert_role_map(void **state)
{
	static const struct cert_case cases[] = {
		{"exact CN", "build.example.com", {NULL}, DPP_AUTH_OK, "ci",
		 "cert:build.example.com"},
		{"CN compared case-insensitively", "BUILD.Example.Com", {NULL}, DPP_AUTH_OK, "ci",
		 "cert:BUILD.Example.Com"},
		{"pattern compared case-insensitively", "deploy.example.com", {NULL}, DPP_AUTH_OK,
		 "deployer", "cert:deploy.example.com"},
		{"SAN match, CN unmapped", "robot", {"x.y", "build.example.com"}, DPP_AUTH_OK, "ci",
		 "cert:robot"},
		{"SAN match, no CN", "", {"build.example.com"}, DPP_AUTH_OK, "ci",
		 "cert:build.example.com"},
		{"identity is the first non-empty SAN", "", {"", "q.example.com", "build.example.com"},
		 DPP_AUTH_OK, "ci", "cert:q.example.com"},
		{"wildcard: one label", "db1.ops.example.com", {NULL}, DPP_AUTH_OK, "ops",
		 "cert:db1.ops.example.com"},
		{"wildcard, case-insensitive", "DB1.OPS.EXAMPLE.COM", {NULL}, DPP_AUTH_OK, "ops",
		 "cert:DB1.OPS.EXAMPLE.COM"},
		/* Neither wildcard matches (two and three labels): default_role is set, so
		 * the unmatched certificate gets it, never its own CN. */
		{"wildcard: two labels do not match", "a.db1.ops.example.com", {NULL}, DPP_AUTH_OK,
		 "viewer", "cert:a.db1.ops.example.com"},
		{"wildcard: the bare domain does not match", "ops.example.com", {NULL}, DPP_AUTH_OK,
		 "member", "cert:ops.example.com"}, /* ...but *.example.com does */
		{"wildcard: the bare apex does not match", "example.com", {NULL}, DPP_AUTH_OK,
		 "viewer", "cert:example.com"},
		{"wildcard: empty label does not match", ".example.com", {NULL}, DPP_AUTH_OK,
		 "viewer", "cert:.example.com"},
		{"wildcard: suffix must be a whole label", "aexample.com", {NULL}, DPP_AUTH_OK,
		 "viewer", "cert:aexample.com"},
		{"first matching entry wins over later ones", "build.example.com",
		 {"db1.ops.example.com"}, DPP_AUTH_OK, "ci", "cert:build.example.com"},
		{"first entry wins even when a later name matches it", "x.example.com",
		 {"db1.ops.example.com"}, DPP_AUTH_OK, "ops", "cert:x.example.com"},
		{"CN with a space, exact entry", "jane doe", {NULL}, DPP_AUTH_OK, "auditor",
		 "cert:jane doe"},
		{"no CN, nothing matches: default_role", "", {"host.other.org"}, DPP_AUTH_OK, "viewer",
		 "cert:host.other.org"},
		{"no CN, no SAN: default_role", "", {NULL}, DPP_AUTH_OK, "viewer", "cert:"},
		/* Seed: the CN is the role only when "neither a map entry matches nor
		 * default_role is set". A CA-signed CN=admin is not admin here. */
		{"unmatched CN=admin: default_role, not the CN", "admin", {"host.other.org"},
		 DPP_AUTH_OK, "viewer", "cert:admin"},
		{"unmatched CN with invalid role characters: default_role", "John Smith", {NULL},
		 DPP_AUTH_OK, "viewer", "cert:John Smith"},
		{"unmatched CN longer than a role: default_role", "abcdefghijabcdefghijabcdefghijab",
		 {NULL}, DPP_AUTH_OK, "viewer", "cert:abcdefghijabcdefghijabcdefghijab"},
		{"CN with control bytes: identity sanitised", "ad\x01min\xc3\xa9", {NULL},
		 DPP_AUTH_OK, "viewer", "cert:ad?min??"},
	};
	struct compiled c;

	(void)state;
	compile_ok(&c, MTLS);
	assert_null(c.warnings);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct cert_case *k = &cases[i];
		struct dpp_peer p = cert_peer(k->cn, k->sans);
		struct dpp_auth_result r;

		dpp_auth_authenticate_peer(c.auth, &p, &r);
		if (r.status != k->status || strcmp(r.role, k->role) != 0 ||
		    strcmp(r.identity, k->identity) != 0)
			fail_msg("case %zu (%s): status %d role \"%s\" identity \"%s\" (%s); expected "
				 "%d \"%s\" \"%s\"",
				 i, k->name, r.status, r.role, r.identity, r.reason, k->status, k->role,
				 k->identity);
		assert_non_null(r.reason);
		/* The full request path gives the same answer, token or not. */
		{
			struct dpp_auth_result r2;

			dpp_auth_authenticate_request(c.auth, NULL, "Bearer " TOKEN, "192.0.2.1", 0,
						      &p, &r2);
			assert_int_equal(r2.status, r.status);
			assert_string_equal(r2.role, r.role);
			assert_string_equal(r2.identity, r.identity);
		}
	}
	done(&c);
}

static void test_cert_missing(void **state)
{
	struct compiled c;
	struct dpp_peer p;
	struct dpp_auth_result r;
	struct dpp_lockout *lk = dpp_lockout_create(0);

	(void)state;
	assert_non_null(lk);
	/* Without default_role, so that an unmatched CN that is no role is INVALID. */
	compile_ok(&c, "auth:\n  type: mtls\n  mtls:\n    cert_role_map:\n"
		       "      - cn: build.example.com\n        role: ci\n");

	/* No peer at all, TLS without certificate, certificate without TLS. */
	dpp_auth_authenticate_peer(c.auth, NULL, &r);
	assert_int_equal(r.status, DPP_AUTH_MISSING);
	assert_string_equal(r.reason, "client certificate required");
	assert_string_equal(r.identity, "anonymous");
	assert_string_equal(r.role, "");
	p = cert_peer("build.example.com", NULL);
	p.has_cert = 0;
	dpp_auth_authenticate_peer(c.auth, &p, &r);
	assert_int_equal(r.status, DPP_AUTH_MISSING);
	p = cert_peer("build.example.com", NULL);
	p.tls = 0;
	dpp_auth_authenticate_peer(c.auth, &p, &r);
	assert_int_equal(r.status, DPP_AUTH_MISSING);

	/* A bearer header is no credential under mtls; the old entry point
	 * (no peer) is MISSING too; nothing touches the lockout. */
	for (int i = 0; i < 12; i++) {
		dpp_auth_authenticate(c.auth, lk, "Bearer " TOKEN, "192.0.2.7", 0, &r);
		assert_int_equal(r.status, DPP_AUTH_MISSING);
		p = cert_peer("No Role Here", NULL);
		dpp_auth_authenticate_request(c.auth, lk, NULL, "192.0.2.7", 0, &p, &r);
		assert_int_equal(r.status, DPP_AUTH_INVALID);
		assert_int_equal(r.lockout_started, 0);
	}
	assert_int_equal(dpp_lockout_size(lk), 0);
	dpp_lockout_free(lk);
	done(&c);
}

static void test_cert_no_default_role(void **state)
{
	struct compiled c;
	struct dpp_peer p;
	struct dpp_auth_result r;

	(void)state;
	compile_ok(&c, "auth:\n  type: mtls\n");
	assert_string_equal(dpp_auth_describe(c.auth),
			    "mtls (client certificates; no cert_role_map: the CN is the role)");
	/* No CN, no map, no default_role: fail closed. */
	p = cert_peer("", (const char *const[]){"host.example.com", NULL});
	dpp_auth_authenticate_peer(c.auth, &p, &r);
	assert_int_equal(r.status, DPP_AUTH_INVALID);
	assert_string_equal(r.role, "");
	assert_string_equal(r.identity, "cert:host.example.com");
	/* CN as role. */
	p = cert_peer("ops", NULL);
	dpp_auth_authenticate_peer(c.auth, &p, &r);
	assert_int_equal(r.status, DPP_AUTH_OK);
	assert_string_equal(r.role, "ops");
	/* ...but only a CN that is a valid role. */
	p = cert_peer("John Smith", NULL);
	dpp_auth_authenticate_peer(c.auth, &p, &r);
	assert_int_equal(r.status, DPP_AUTH_INVALID);
	assert_string_equal(r.role, "");
	p = cert_peer("abcdefghijabcdefghijabcdefghijab", NULL);
	dpp_auth_authenticate_peer(c.auth, &p, &r);
	assert_int_equal(r.status, DPP_AUTH_INVALID);
	p = cert_peer("ad\x01min\xc3\xa9", NULL);
	dpp_auth_authenticate_peer(c.auth, &p, &r);
	assert_int_equal(r.status, DPP_AUTH_INVALID);
	assert_string_equal(r.identity, "cert:ad?min??");
	done(&c);

	/* A map without default_role: an unmatched certificate's CN is its role (seed). */
	compile_ok(&c, "auth:\n  type: mtls\n  mtls:\n    cert_role_map:\n"
		       "      - cn: admin.ops.example.com\n        role: admin\n");
	p = cert_peer("admin.ops.example.com", NULL);
	dpp_auth_authenticate_peer(c.auth, &p, &r);
	assert_int_equal(r.status, DPP_AUTH_OK);
	assert_string_equal(r.role, "admin");
	p = cert_peer("alice", NULL);
	dpp_auth_authenticate_peer(c.auth, &p, &r);
	assert_int_equal(r.status, DPP_AUTH_OK);
	assert_string_equal(r.role, "alice");
	done(&c);

	/* The same map with default_role (the seed's 06-mtls.yaml): CN=admin is "user". */
	compile_ok(&c, "auth:\n  type: mtls\n  mtls:\n    cert_role_map:\n"
		       "      - cn: admin.ops.example.com\n        role: admin\n"
		       "    default_role: user\n");
	p = cert_peer("admin", NULL);
	dpp_auth_authenticate_peer(c.auth, &p, &r);
	assert_int_equal(r.status, DPP_AUTH_OK);
	assert_string_equal(r.role, "user");
	assert_string_equal(r.identity, "cert:admin");
	assert_string_equal(r.reason, "client certificate (default_role)");
	done(&c);
}

/* Names that fill the array without a NUL, a SAN count beyond the array and
 * a name longer than the identity field. */
static void test_cert_malformed_peer(void **state)
{
	struct compiled c;
	struct dpp_peer p;
	struct dpp_auth_result r;

	(void)state;
	compile_ok(&c, MTLS);
	p = cert_peer("", NULL);
	memset(p.cn, 'a', sizeof(p.cn));
	dpp_auth_authenticate_peer(c.auth, &p, &r);
	assert_int_equal(r.status, DPP_AUTH_INVALID);
	assert_string_equal(r.reason, "client certificate name too long");
	assert_string_equal(r.role, "");

	p = cert_peer("", (const char *const[]){"x.org", NULL});
	memset(p.dns_sans[0], 'b', sizeof(p.dns_sans[0]));
	dpp_auth_authenticate_peer(c.auth, &p, &r);
	assert_int_equal(r.status, DPP_AUTH_INVALID);

	/* n_dns_sans beyond the array: only DPP_PEER_SANS_MAX are read. */
	p = cert_peer("", (const char *const[]){"a.org", NULL});
	p.n_dns_sans = 1000;
	dpp_auth_authenticate_peer(c.auth, &p, &r);
	assert_int_equal(r.status, DPP_AUTH_OK);
	assert_string_equal(r.role, "viewer");

	/* A SAN in the last slot still counts. */
	p = cert_peer("", NULL);
	snprintf(p.dns_sans[DPP_PEER_SANS_MAX - 1], DPP_PEER_NAME_MAX, "build.example.com");
	p.n_dns_sans = DPP_PEER_SANS_MAX;
	dpp_auth_authenticate_peer(c.auth, &p, &r);
	assert_int_equal(r.status, DPP_AUTH_OK);
	assert_string_equal(r.role, "ci");

	/* 255-byte CN matching a wildcard: identity cut to the field. */
	p = cert_peer("", NULL);
	memset(p.cn, 'h', 243);
	memcpy(p.cn + 243, ".example.com", 13);
	assert_int_equal(strlen(p.cn), 255);
	dpp_auth_authenticate_peer(c.auth, &p, &r);
	assert_int_equal(r.status, DPP_AUTH_OK);
	assert_string_equal(r.role, "member");
	assert_int_equal(strlen(r.identity), DPP_AUTH_IDENTITY_MAX - 1);
	assert_memory_equal(r.identity, "cert:hhhh", 9);
	done(&c);
}

/* type bearer: a verified certificate adds nothing, the token decides. */
static void test_bearer_ignores_cert(void **state)
{
	struct compiled c;
	struct dpp_peer p = cert_peer("admin", (const char *const[]){"build.example.com", NULL});
	struct dpp_auth_result r;

	(void)state;
	compile_ok(&c, "auth:\n  tokens:\n    - token: " TOKEN "\n      role: ops\n"
		       "  mtls:\n    cert_role_map:\n      - cn: build.example.com\n"
		       "        role: ci\n");
	dpp_auth_authenticate_request(c.auth, NULL, NULL, "192.0.2.1", 0, &p, &r);
	assert_int_equal(r.status, DPP_AUTH_MISSING);
	dpp_auth_authenticate_request(c.auth, NULL, "Bearer wrong-token-000000", "192.0.2.1", 0,
				      &p, &r);
	assert_int_equal(r.status, DPP_AUTH_INVALID);
	dpp_auth_authenticate_request(c.auth, NULL, "Bearer " TOKEN, "192.0.2.1", 0, &p, &r);
	assert_int_equal(r.status, DPP_AUTH_OK);
	assert_string_equal(r.role, "ops");
	assert_string_equal(r.identity, TOKEN_ID);
	dpp_auth_authenticate_peer(c.auth, &p, &r);
	assert_int_equal(r.status, DPP_AUTH_MISSING);
	done(&c);
}

/* ---- cn pattern validation ---------------------------------------------- */

struct pattern_case {
	const char *cn; /* YAML scalar as written */
	const char *error; /* NULL: accepted */
};

static void test_cn_pattern_validation(void **state)
{
	static const struct pattern_case cases[] = {
		{"build.example.com", NULL},
		{"'*.example.com'", NULL},
		{"'*.com'", NULL},
		{"Jane Doe", NULL},
		{"''", "empty certificate CN"},
		{"'*'", "'*' is only allowed as the whole first label"},
		{"'*.'", "'*' is only allowed as the whole first label"},
		{"'a*.example.com'", "'*' is only allowed as the whole first label"},
		{"'*a.example.com'", "'*' is only allowed as the whole first label"},
		{"'a.*.example.com'", "'*' is only allowed as the whole first label"},
		{"'*.*.example.com'", "'*' is only allowed as the whole first label"},
		{"'*.example.*'", "'*' is only allowed as the whole first label"},
		{"'**.example.com'", "'*' is only allowed as the whole first label"},
		{"'*..example.com'", "empty label in certificate CN pattern"},
		{"'*.example.com.'", "empty label in certificate CN pattern"},
		{"\"a\\tb\"", "control characters"},
	};
	char yaml[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct compiled c;

		snprintf(yaml, sizeof(yaml),
			 "auth:\n  type: mtls\n  mtls:\n    cert_role_map:\n      - cn: %s\n"
			 "        role: ops\n",
			 cases[i].cn);
		compile(&c, yaml);
		if (cases[i].error == NULL) {
			if (c.rc != 0)
				fail_msg("case %zu (%s): %s", i, cases[i].cn, c.errors);
		} else if (c.rc != -1 || c.errors == NULL ||
			   strstr(c.errors, cases[i].error) == NULL ||
			   strstr(c.errors, FILE_NAME ":5:13: auth.mtls.cert_role_map[0].cn: ") ==
				   NULL) {
			fail_msg("case %zu (%s): rc %d errors \"%s\", expected \"%s\"", i,
				 cases[i].cn, c.rc, c.errors != NULL ? c.errors : "(none)",
				 cases[i].error);
		}
		done(&c);
	}
	/* 256 bytes cannot be the name of any peer. */
	{
		char *y = malloc(600);
		struct compiled c;

		assert_non_null(y);
		snprintf(y, 600, "auth:\n  mtls:\n    cert_role_map:\n      - cn: %0256d\n"
				 "        role: ops\n", 0);
		compile(&c, y);
		assert_int_equal(c.rc, -1);
		assert_non_null(strstr(c.errors, "longer than 255 bytes"));
		done(&c);
		free(y);
	}
}

/* ---- Unix-socket peers ------------------------------------------------ */

static const char UNIX_BEARER[] = "auth:\n"
				  "  tokens:\n"
				  "    - token: " TOKEN "\n"
				  "      role: ops\n"
				  "  unix_role_map:\n"
				  "    - uid: 1000\n"
				  "      role: dev\n"
				  "    - gid: 998\n"
				  "      role: docker\n"
				  "    - uid: 0\n"
				  "      role: admin\n"
				  "    - gid: 1000\n"
				  "      role: never\n";

struct unix_case {
	uint32_t uid, gid;
	enum dpp_auth_status status;
	const char *role;
	const char *identity;
};

static void test_unix_role_map(void **state)
{
	static const struct unix_case cases[] = {
		{1000, 1000, DPP_AUTH_OK, "dev", "unix:uid=1000"},    /* uid entry first */
		{1001, 998, DPP_AUTH_OK, "docker", "unix:uid=1001"},  /* by gid */
		{0, 998, DPP_AUTH_OK, "docker", "unix:uid=0"},        /* gid entry comes first */
		{0, 0, DPP_AUTH_OK, "admin", "unix:uid=0"},
		{1002, 1000, DPP_AUTH_OK, "never", "unix:uid=1002"},  /* gid 1000, not uid */
		{1002, 1002, DPP_AUTH_MISSING, "", "anonymous"},      /* no entry: bearer */
		{UINT32_MAX, UINT32_MAX, DPP_AUTH_MISSING, "", "anonymous"}, /* creds unknown */
	};
	struct compiled c;

	(void)state;
	compile_ok(&c, UNIX_BEARER);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dpp_peer p = unix_peer(cases[i].uid, cases[i].gid);
		struct dpp_auth_result r;

		dpp_auth_authenticate_peer(c.auth, &p, &r);
		if (r.status != cases[i].status || strcmp(r.role, cases[i].role) != 0 ||
		    strcmp(r.identity, cases[i].identity) != 0)
			fail_msg("case %zu: status %d role \"%s\" identity \"%s\"", i, r.status,
				 r.role, r.identity);
		/* Not a Unix peer: the same credentials mean nothing. */
		p.unix_peer = 0;
		dpp_auth_authenticate_peer(c.auth, &p, &r);
		assert_int_equal(r.status, DPP_AUTH_MISSING);
	}
	done(&c);
}

/* No unix_role_map entry: bearer decides, with the lockout; a mapped peer
 * needs no token and is not stopped by a lockout of its address key. */
static void test_unix_falls_back_to_bearer(void **state)
{
	struct compiled c;
	struct dpp_lockout *lk = dpp_lockout_create(0);
	struct dpp_peer stranger = unix_peer(4000, 4000), dev = unix_peer(1000, 100);
	struct dpp_auth_result r;

	(void)state;
	assert_non_null(lk);
	compile_ok(&c, UNIX_BEARER);

	dpp_auth_authenticate_request(c.auth, lk, NULL, "", 0, &stranger, &r);
	assert_int_equal(r.status, DPP_AUTH_MISSING);
	dpp_auth_authenticate_request(c.auth, lk, "Bearer " TOKEN, "", 0, &stranger, &r);
	assert_int_equal(r.status, DPP_AUTH_OK);
	assert_string_equal(r.role, "ops");
	assert_string_equal(r.identity, TOKEN_ID);

	/* The two-step form the header documents gives the same answer. */
	dpp_auth_authenticate_peer(c.auth, &stranger, &r);
	assert_int_equal(r.status, DPP_AUTH_MISSING);
	assert_int_equal(dpp_auth_get_type(c.auth), DPP_AUTH_BEARER);
	dpp_auth_authenticate(c.auth, lk, "Bearer " TOKEN, "", 0, &r);
	assert_int_equal(r.status, DPP_AUTH_OK);
	assert_string_equal(r.role, "ops");

	/* A mapped peer wins over a token (the kernel's word comes first). */
	dpp_auth_authenticate_request(c.auth, lk, "Bearer " TOKEN, "", 0, &dev, &r);
	assert_int_equal(r.status, DPP_AUTH_OK);
	assert_string_equal(r.role, "dev");
	assert_string_equal(r.identity, "unix:uid=1000");

	/* Wrong tokens from unmapped peers lock the key out ... */
	for (int i = 0; i < DPP_LOCKOUT_FAILURES; i++) {
		dpp_auth_authenticate_request(c.auth, lk, "Bearer nope-nope-nope-nope", "", 1000,
					      &stranger, &r);
		assert_int_equal(r.status, DPP_AUTH_INVALID);
		assert_int_equal(r.lockout_started, i == DPP_LOCKOUT_FAILURES - 1);
	}
	dpp_auth_authenticate_request(c.auth, lk, "Bearer " TOKEN, "", 1001, &stranger, &r);
	assert_int_equal(r.status, DPP_AUTH_LOCKED_OUT);
	/* ... which does not stop a mapped peer. */
	dpp_auth_authenticate_request(c.auth, lk, NULL, "", 1001, &dev, &r);
	assert_int_equal(r.status, DPP_AUTH_OK);
	assert_string_equal(r.role, "dev");
	dpp_lockout_free(lk);
	done(&c);
}

/* With the other types an unmapped Unix peer goes by type: mtls needs a
 * certificate (a Unix socket has none), none is anonymous admin. */
static void test_unix_with_other_types(void **state)
{
	struct compiled c;
	struct dpp_peer mapped = unix_peer(7, 7), other = unix_peer(8, 8);
	struct dpp_auth_result r;

	(void)state;
	compile_ok(&c, "auth:\n  type: mtls\n  unix_role_map:\n    - uid: 7\n      role: dev\n");
	dpp_auth_authenticate_peer(c.auth, &mapped, &r);
	assert_int_equal(r.status, DPP_AUTH_OK);
	assert_string_equal(r.role, "dev");
	dpp_auth_authenticate_peer(c.auth, &other, &r);
	assert_int_equal(r.status, DPP_AUTH_MISSING);
	assert_string_equal(r.reason, "client certificate required");
	done(&c);

	compile_ok(&c, "auth:\n  type: none\n  unix_role_map:\n    - gid: 7\n      role: dev\n");
	dpp_auth_authenticate_peer(c.auth, &mapped, &r);
	assert_int_equal(r.status, DPP_AUTH_OK);
	assert_string_equal(r.role, "dev");
	assert_string_equal(r.identity, "unix:uid=7");
	dpp_auth_authenticate_peer(c.auth, &other, &r);
	assert_int_equal(r.status, DPP_AUTH_OK);
	assert_string_equal(r.role, "admin");
	assert_string_equal(r.identity, "anonymous");
	done(&c);
}

/* ---- exposure check ----------------------------------------------------- */

#define W_CLEAR " without TLS: tokens and Docker traffic cross the network in clear"
#define E_OPEN                                                                              \
	"refusing to expose open, unauthenticated Docker access on %s without TLS; set "     \
	"global.insecure_allow_open: true to override"

struct exposure_case {
	const char *yaml;
	const char *addr;
	int tls, allow_open;
	int rc;
	const char *warning; /* exact text, NULL: none */
	const char *error;   /* exact text, NULL: none */
};

static void test_exposure_check(void **state)
{
	static const char BEARER[] = "auth:\n  secret: admin-secret-value-1234\n";
	static const char NONE[] = "auth:\n  type: none\n";
	static const char MTLSY[] = "auth:\n  type: mtls\n";
	static const struct exposure_case cases[] = {
		/* bearer */
		{BEARER, "127.0.0.1", 0, 0, 0, NULL, NULL},
		{BEARER, "127.8.9.10", 0, 0, 0, NULL, NULL},
		{BEARER, "::1", 0, 0, 0, NULL, NULL},
		{BEARER, "::ffff:127.0.0.1", 0, 0, 0, NULL, NULL},
		{BEARER, "0.0.0.0", 0, 0, 0, "listening on 0.0.0.0" W_CLEAR, NULL},
		{BEARER, "::", 0, 0, 0, "listening on ::" W_CLEAR, NULL},
		{BEARER, "192.0.2.10", 0, 0, 0, "listening on 192.0.2.10" W_CLEAR, NULL},
		{BEARER, "localhost", 0, 0, 0, "listening on localhost" W_CLEAR, NULL},
		{BEARER, NULL, 0, 0, 0, "listening on (none)" W_CLEAR, NULL},
		{BEARER, "0.0.0.0", 1, 0, 0, NULL, NULL},
		{BEARER, "::", 1, 1, 0, NULL, NULL},
		/* none */
		{NONE, "127.0.0.1", 0, 0, 0, NULL, NULL},
		{NONE, "::1", 0, 0, 0, NULL, NULL},
		{NONE, "0.0.0.0", 1, 0, 0, NULL, NULL},
		{NONE, "0.0.0.0", 0, 1, 0,
		 "listening on 0.0.0.0" W_CLEAR "; auth.type none with global.insecure_allow_open: "
		 "anyone who reaches the port is admin",
		 NULL},
		/* none, off loopback, no TLS, no override: error (see below) */
		/* mtls */
		{MTLSY, "0.0.0.0", 1, 0, 0, NULL, NULL},
		{MTLSY, "127.0.0.1", 1, 0, 0, NULL, NULL},
		{MTLSY, "127.0.0.1", 0, 0, -1, NULL, "auth.type mtls needs global.tls"},
		{MTLSY, "0.0.0.0", 0, 1, -1, "listening on 0.0.0.0" W_CLEAR,
		 "auth.type mtls needs global.tls"},
	};
	const struct {
		const char *addr;
	} open_cases[] = {{"0.0.0.0"}, {"::"}, {"10.1.2.3"}, {"2001:db8::1"}};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct exposure_case *k = &cases[i];
		struct compiled c;
		char *w = (char *)1, *e = (char *)1;
		int rc;

		compile_ok(&c, k->yaml);
		rc = dpp_auth_exposure_check(c.auth, k->addr, k->tls, k->allow_open, &w, &e);
		if (rc != k->rc || (k->warning == NULL) != (w == NULL) ||
		    (w != NULL && strcmp(w, k->warning) != 0) || (k->error == NULL) != (e == NULL) ||
		    (e != NULL && strcmp(e, k->error) != 0))
			fail_msg("case %zu: rc %d warning \"%s\" error \"%s\"", i, rc,
				 w != NULL ? w : "(none)", e != NULL ? e : "(none)");
		free(w);
		free(e);
		/* NULL out-pointers discard the text; the verdict is the same. */
		assert_int_equal(dpp_auth_exposure_check(c.auth, k->addr, k->tls, k->allow_open,
							 NULL, NULL),
				 k->rc);
		done(&c);
	}
	for (size_t i = 0; i < sizeof(open_cases) / sizeof(open_cases[0]); i++) {
		struct compiled c;
		char *w = NULL, *e = NULL, want[256];

		compile_ok(&c, NONE);
		assert_int_equal(dpp_auth_exposure_check(c.auth, open_cases[i].addr, 0, 0, &w, &e),
				 -1);
		snprintf(want, sizeof(want), E_OPEN, open_cases[i].addr);
		assert_non_null(e);
		assert_string_equal(e, want);
		snprintf(want, sizeof(want), "listening on %s" W_CLEAR, open_cases[i].addr);
		assert_non_null(w);
		assert_string_equal(w, want);
		free(w);
		free(e);
		done(&c);
	}
	/* A hostile address string is cut and cannot break the line. */
	{
		struct compiled c;
		char *w = NULL, *e = NULL;

		compile_ok(&c, NONE);
		assert_int_equal(dpp_auth_exposure_check(c.auth, "evil\nhost", 0, 0, &w, &e), -1);
		assert_null(strchr(e, '\n'));
		assert_non_null(strstr(e, "evil?host"));
		free(w);
		free(e);
		done(&c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cert_role_map),
		cmocka_unit_test(test_cert_missing),
		cmocka_unit_test(test_cert_no_default_role),
		cmocka_unit_test(test_cert_malformed_peer),
		cmocka_unit_test(test_bearer_ignores_cert),
		cmocka_unit_test(test_cn_pattern_validation),
		cmocka_unit_test(test_unix_role_map),
		cmocka_unit_test(test_unix_falls_back_to_bearer),
		cmocka_unit_test(test_unix_with_other_types),
		cmocka_unit_test(test_exposure_check),
	};

	if (unsetenv("DOCKER_PROXY_SECRET") != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
