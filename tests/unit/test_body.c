/* Unit tests for request-body parsing as Docker's Go decoder reads it
 * (include/dpp/body.h). Table-driven: parse outcomes, lookups, paths, numbers
 * and the body kind of endpoints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dpp/body.h"

#define KELVIN "\xe2\x84\xaa" /* U+212A KELVIN SIGN */
#define LONG_S "\xc5\xbf"     /* U+017F LATIN SMALL LETTER LONG S */
#define DOTLESS_I "\xc4\xb1"  /* U+0131: no simple fold with i/I in Go */

/* ---- parse outcomes ----------------------------------------------------- */

struct parse_case {
	const char *name;
	const char *body;
	size_t len;   /* 0: strlen(body) */
	int max_depth;
	enum dpp_body_status want;
	const char *err_has; /* substring of the error, for INVALID */
};

static const struct parse_case parse_cases[] = {
	/* basics */
	{ "empty object", "{}", 0, 0, DPP_BODY_OK, NULL },
	{ "empty body", "", 0, 0, DPP_BODY_EMPTY, NULL },
	{ "whitespace only", " \r\n\t ", 0, 0, DPP_BODY_EMPTY, NULL },
	{ "scalar root", "5", 0, 0, DPP_BODY_OK, NULL },
	{ "null root", "null", 0, 0, DPP_BODY_OK, NULL },
	{ "array root", "[\"a\",1,true,null]", 0, 0, DPP_BODY_OK, NULL },
	{ "unparseable", "{\"a\":", 0, 0, DPP_BODY_INVALID, "syntax error" },
	{ "bare word", "nope", 0, 0, DPP_BODY_INVALID, "syntax error" },
	{ "missing comma", "{\"a\":1 \"b\":2}", 0, 0, DPP_BODY_INVALID, "syntax error" },
	{ "unterminated string", "{\"a\":\"x}", 0, 0, DPP_BODY_INVALID, "unterminated" },

	/* trailing data */
	{ "trailing newline ok", "{}\n", 0, 0, DPP_BODY_OK, NULL },
	{ "trailing garbage", "{}x", 0, 0, DPP_BODY_INVALID, "after the JSON value" },
	{ "second value", "{} {\"Privileged\":true}", 0, 0, DPP_BODY_INVALID,
	  "after the JSON value" },
	{ "trailing bracket", "{}]", 0, 0, DPP_BODY_INVALID, "after the JSON value" },
	{ "trailing NUL", "{}\0", 3, 0, DPP_BODY_INVALID, "control byte" },
	{ "embedded NUL", "{\"a\":1}\0{\"b\":2}", 15, 0, DPP_BODY_INVALID, "control byte" },

	/* bytes Go refuses and cJSON would accept */
	{ "form feed whitespace", "\x0c{}", 0, 0, DPP_BODY_INVALID, "control byte" },
	{ "UTF-8 BOM", "\xef\xbb\xbf{}", 0, 0, DPP_BODY_INVALID, "non-ASCII byte outside" },
	{ "raw newline in string", "{\"a\":\"x\ny\"}", 0, 0, DPP_BODY_INVALID,
	  "control character" },
	{ "invalid escape", "{\"a\":\"\\x\"}", 0, 0, DPP_BODY_INVALID, "invalid escape" },
	{ "bad hex escape", "{\"a\":\"\\uZZZZ\"}", 0, 0, DPP_BODY_INVALID, "invalid escape" },
	{ "short u escape", "{\"a\":\"\\u12\"}", 0, 0, DPP_BODY_INVALID, "invalid escape" },
	{ "u0000 in value", "{\"Image\":\"ubuntu\\u0000evil\"}", 0, 0, DPP_BODY_INVALID,
	  "\\u0000" },
	{ "u0000 in key", "{\"Privileged\\u0000x\":true}", 0, 0, DPP_BODY_INVALID, "\\u0000" },
	{ "leading zero", "{\"a\":01}", 0, 0, DPP_BODY_INVALID, "invalid number" },
	{ "leading zero in array", "[01]", 0, 0, DPP_BODY_INVALID, "number" },
	{ "trailing dot", "[1.]", 0, 0, DPP_BODY_INVALID, "invalid number" },
	{ "plus sign", "[+1]", 0, 0, DPP_BODY_INVALID, "syntax error" },
	{ "lone minus", "[-]", 0, 0, DPP_BODY_INVALID, "syntax error" },
	{ "exponent without digits", "[1e]", 0, 0, DPP_BODY_INVALID, "syntax error" },
	{ "numbers ok", "[0,-0,1.5,-0.5e-3,1E+2,123456789012345678901234567890]", 0, 0,
	  DPP_BODY_OK, NULL },

	/* invalid UTF-8 (Go would substitute U+FFFD silently) */
	{ "overlong 2-byte", "{\"a\":\"\xc0\xaf\"}", 0, 0, DPP_BODY_INVALID, "invalid UTF-8" },
	{ "overlong 3-byte", "{\"a\":\"\xe0\x80\xaf\"}", 0, 0, DPP_BODY_INVALID,
	  "invalid UTF-8" },
	{ "overlong 4-byte", "{\"a\":\"\xf0\x80\x80\xaf\"}", 0, 0, DPP_BODY_INVALID,
	  "invalid UTF-8" },
	{ "UTF-8 surrogate", "{\"a\":\"\xed\xa0\x80\"}", 0, 0, DPP_BODY_INVALID,
	  "invalid UTF-8" },
	{ "above U+10FFFF", "{\"a\":\"\xf4\x90\x80\x80\"}", 0, 0, DPP_BODY_INVALID,
	  "invalid UTF-8" },
	{ "truncated 3-byte", "{\"a\":\"\xe2\x82\"}", 0, 0, DPP_BODY_INVALID,
	  "invalid UTF-8" },
	{ "truncated at end", "{\"a\":\"\xe2\x82", 0, 0, DPP_BODY_INVALID, "invalid UTF-8" },
	{ "stray continuation", "{\"a\":\"\x80\"}", 0, 0, DPP_BODY_INVALID, "invalid UTF-8" },
	{ "byte 0xff", "{\"a\":\"\xff\"}", 0, 0, DPP_BODY_INVALID, "invalid UTF-8" },
	{ "invalid UTF-8 in key", "{\"Im\xc3\":1}", 0, 0, DPP_BODY_INVALID, "invalid UTF-8" },
	{ "lone high surrogate escape", "{\"a\":\"\\ud800\"}", 0, 0, DPP_BODY_INVALID,
	  "surrogate" },
	{ "lone low surrogate escape", "{\"a\":\"\\udc00\"}", 0, 0, DPP_BODY_INVALID,
	  "surrogate" },
	{ "high surrogate then letter", "{\"a\":\"\\ud800\\u0041\"}", 0, 0, DPP_BODY_INVALID,
	  "surrogate" },
	{ "valid surrogate pair", "{\"a\":\"\\ud83d\\ude00\"}", 0, 0, DPP_BODY_OK, NULL },
	{ "valid 4-byte UTF-8", "{\"a\":\"\xf0\x9f\x98\x80\"}", 0, 0, DPP_BODY_OK, NULL },
	{ "valid 3-byte edge", "{\"a\":\"\xef\xbf\xbf\xed\x9f\xbf\"}", 0, 0, DPP_BODY_OK, NULL },

	/* depth */
	{ "brackets in strings do not count", "{\"a\":\"[[[[{{{{\"}", 0, 1, DPP_BODY_OK, NULL },
	{ "custom depth 2 ok", "{\"a\":{\"b\":1}}", 0, 2, DPP_BODY_OK, NULL },
	{ "custom depth 2 refused", "{\"a\":{\"b\":{}}}", 0, 2, DPP_BODY_INVALID,
	  "nesting deeper than 2" },

	/* duplicate keys: exact */
	{ "dup exact", "{\"Image\":\"a\",\"Image\":\"b\"}", 0, 0, DPP_BODY_INVALID,
	  "duplicate key \"Image\"" },
	{ "dup exact nested", "{\"HostConfig\":{\"Privileged\":false,\"Privileged\":true}}", 0,
	  0, DPP_BODY_INVALID, "duplicate key" },
	{ "dup exact after unescape", "{\"Privileged\":false,\"\\u0050rivileged\":true}", 0, 0,
	  DPP_BODY_INVALID, "duplicate key" },
	{ "dup objects would merge", "{\"HostConfig\":{},\"HostConfig\":{\"Privileged\":true}}",
	  0, 0, DPP_BODY_INVALID, "duplicate key" },
	{ "dup in array element", "[{\"a\":1},{\"b\":1,\"b\":2}]", 0, 0, DPP_BODY_INVALID,
	  "duplicate key" },

	/* duplicate keys: case-folded in struct objects */
	{ "dup folded", "{\"HostConfig\":{\"Privileged\":false,\"privileged\":true}}", 0, 0,
	  DPP_BODY_INVALID, "same field" },
	{ "dup folded top", "{\"image\":\"a\",\"IMAGE\":\"b\"}", 0, 0, DPP_BODY_INVALID,
	  "same field" },
	{ "kelvin sign folds with k",
	  "{\"HostConfig\":{\"KernelMemory\":0,\"" KELVIN "ernelMemory\":1}}", 0, 0,
	  DPP_BODY_INVALID, "same field" },
	{ "kelvin sign escaped", "{\"HostConfig\":{\"kernelmemory\":0,\"\\u212AernelMemory\":1}}",
	  0, 0, DPP_BODY_INVALID, "same field" },
	{ "long s folds with s", "{\"HostConfig\":{\"SecurityOpt\":[],\"" LONG_S "ecurityOpt\":[]}}",
	  0, 0, DPP_BODY_INVALID, "same field" },
	{ "dotless i does not fold", "{\"Privileged\":false,\"Pr" DOTLESS_I "vileged\":true}", 0,
	  0, DPP_BODY_OK, NULL },
	{ "prefix keys are distinct", "{\"Memory\":1,\"MemorySwap\":2,\"memoryswappiness\":3}", 0,
	  0, DPP_BODY_OK, NULL },
	{ "different keys ok", "{\"Cmd\":[],\"Entrypoint\":[],\"Env\":[]}", 0, 0, DPP_BODY_OK,
	  NULL },
	{ "dup folded, large object (sorted path)",
	  "{\"A1\":1,\"A2\":2,\"A3\":3,\"A4\":4,\"A5\":5,\"A6\":6,\"A7\":7,\"A8\":8,\"A9\":9,"
	  "\"Privileged\":false,\"B1\":1,\"PRIVILEGED\":true}", 0, 0, DPP_BODY_INVALID, "same field" },
	{ "large object no dup",
	  "{\"A1\":1,\"A2\":2,\"A3\":3,\"A4\":4,\"A5\":5,\"A6\":6,\"A7\":7,\"A8\":8,\"A9\":9,"
	  "\"Privileged\":false,\"B1\":1,\"B2\":true}", 0, 0, DPP_BODY_OK, NULL },

	/* map-typed fields keep case-sensitive keys */
	{ "labels case variants ok", "{\"Labels\":{\"a\":\"1\",\"A\":\"2\"}}", 0, 0, DPP_BODY_OK,
	  NULL },
	{ "labels field name folded", "{\"labels\":{\"a\":\"1\",\"A\":\"2\"}}", 0, 0, DPP_BODY_OK,
	  NULL },
	{ "labels exact dup refused", "{\"Labels\":{\"a\":\"1\",\"a\":\"2\"}}", 0, 0,
	  DPP_BODY_INVALID, "duplicate key \"a\"" },
	{ "labels large exact dup",
	  "{\"Labels\":{\"k1\":\"\",\"k2\":\"\",\"k3\":\"\",\"k4\":\"\",\"k5\":\"\",\"K5\":\"\","
	  "\"k6\":\"\",\"k7\":\"\",\"k8\":\"\",\"k1\":\"\"}}", 0, 0, DPP_BODY_INVALID,
	  "duplicate key \"k1\"" },
	{ "sysctls case variants ok",
	  "{\"HostConfig\":{\"Sysctls\":{\"net.ipv4.ip_forward\":\"1\",\"NET.ipv4.ip_forward\":\"0\"}}}",
	  0, 0, DPP_BODY_OK, NULL },
	{ "kelvin in map keys is distinct", "{\"Labels\":{\"k\":\"1\",\"" KELVIN "\":\"2\"}}", 0, 0,
	  DPP_BODY_OK, NULL },
	{ "log config map ok",
	  "{\"HostConfig\":{\"LogConfig\":{\"Type\":\"json-file\",\"Config\":{\"max-size\":\"1\","
	  "\"Max-Size\":\"2\"}}}}", 0, 0, DPP_BODY_OK, NULL },
	{ "Config outside LogConfig is a struct", "{\"Config\":{\"a\":1,\"A\":2}}", 0, 0,
	  DPP_BODY_INVALID, "same field" },
	{ "log config struct folded dup",
	  "{\"HostConfig\":{\"LogConfig\":{\"Type\":\"json-file\",\"type\":\"none\"}}}", 0, 0,
	  DPP_BODY_INVALID, "same field" },
	{ "endpoints map keys ok",
	  "{\"NetworkingConfig\":{\"EndpointsConfig\":{\"net\":{},\"NET\":{}}}}", 0, 0, DPP_BODY_OK,
	  NULL },
	{ "endpoint settings are structs",
	  "{\"NetworkingConfig\":{\"EndpointsConfig\":{\"net\":{\"Aliases\":[],\"aliases\":[]}}}}",
	  0, 0, DPP_BODY_INVALID, "same field" },
	{ "map entry named Labels is a struct",
	  "{\"NetworkingConfig\":{\"EndpointsConfig\":{\"Labels\":{\"IPAMConfig\":{},"
	  "\"ipamconfig\":{}}}}}", 0, 0, DPP_BODY_INVALID, "same field" },
	{ "endpoint driver opts map",
	  "{\"NetworkingConfig\":{\"EndpointsConfig\":{\"n\":{\"DriverOpts\":{\"x\":\"1\",\"X\":\"2\"}}}}}",
	  0, 0, DPP_BODY_OK, NULL },
	{ "port bindings map",
	  "{\"HostConfig\":{\"PortBindings\":{\"80/tcp\":[{\"HostPort\":\"1\"}],\"80/TCP\":[]}}}", 0, 0,
	  DPP_BODY_OK, NULL },
	{ "port binding entries are structs",
	  "{\"HostConfig\":{\"PortBindings\":{\"80/tcp\":[{\"HostPort\":\"1\",\"hostport\":\"2\"}]}}}",
	  0, 0, DPP_BODY_INVALID, "same field" },
	{ "ipam aux addresses map",
	  "{\"IPAM\":{\"Config\":[{\"AuxiliaryAddresses\":{\"h\":\"10.0.0.2\",\"H\":\"10.0.0.3\"}}],"
	  "\"Options\":{\"o\":\"1\",\"O\":\"2\"}}}", 0, 0, DPP_BODY_OK, NULL },
	{ "exposed ports and volumes",
	  "{\"ExposedPorts\":{\"80/tcp\":{},\"80/TCP\":{}},\"Volumes\":{\"/a\":{},\"/A\":{}}}", 0, 0,
	  DPP_BODY_OK, NULL },
};

static void test_parse_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		size_t len = c->len != 0 ? c->len : strlen(c->body);
		struct dpp_body_doc *doc = (struct dpp_body_doc *)1;
		char *err = (char *)1;
		enum dpp_body_status st;

		st = dpp_body_parse(c->body, len, c->max_depth, &doc, &err);
		if (st != c->want)
			fail_msg("case \"%s\": status %d, want %d (err: %s)", c->name, st, c->want,
				 err != NULL ? err : "(none)");
		if (st == DPP_BODY_OK) {
			assert_non_null(doc);
			assert_non_null(dpp_body_root(doc));
			assert_null(err);
		} else {
			assert_null(doc);
		}
		if (st == DPP_BODY_EMPTY)
			assert_null(err);
		if (st == DPP_BODY_INVALID) {
			assert_non_null(err);
			if (c->err_has != NULL && strstr(err, c->err_has) == NULL)
				fail_msg("case \"%s\": error \"%s\" lacks \"%s\"", c->name, err,
					 c->err_has);
		}
		free(err);
		dpp_body_free(doc);
	}
}

/* Nesting: 64 levels pass by default, 65 are refused; arrays and objects. */
static char *nested(int depth, int objects)
{
	size_t n = (size_t)depth, o = 0, i;
	char *s = malloc(n * 6 + 2);

	assert_non_null(s);
	for (i = 0; i < n; i++) {
		if (objects) {
			memcpy(s + o, "{\"a\":", 5);
			o += 5;
		} else {
			s[o++] = '[';
		}
	}
	s[o++] = '1';
	for (i = 0; i < n; i++)
		s[o++] = objects ? '}' : ']';
	s[o] = '\0';
	return s;
}

static void test_depth_limit(void **state)
{
	int objects;

	(void)state;
	for (objects = 0; objects <= 1; objects++) {
		struct dpp_body_doc *doc = NULL;
		char *err = NULL, *ok = nested(64, objects), *bad = nested(65, objects);

		assert_int_equal(dpp_body_parse(ok, strlen(ok), 0, &doc, &err), DPP_BODY_OK);
		assert_null(err);
		dpp_body_free(doc);
		assert_int_equal(dpp_body_parse(ok, strlen(ok), 64, &doc, &err), DPP_BODY_OK);
		dpp_body_free(doc);
		assert_int_equal(dpp_body_parse(bad, strlen(bad), 0, &doc, &err),
				 DPP_BODY_INVALID);
		assert_null(doc);
		assert_non_null(strstr(err, "nesting deeper than 64"));
		free(err);
		/* a higher limit lets it through */
		assert_int_equal(dpp_body_parse(bad, strlen(bad), 65, &doc, &err), DPP_BODY_OK);
		dpp_body_free(doc);
		free(ok);
		free(bad);
	}
}

static void test_parse_args(void **state)
{
	struct dpp_body_doc *doc = NULL;
	char *err = NULL;

	(void)state;
	assert_int_equal(dpp_body_parse(NULL, 0, 0, &doc, &err), DPP_BODY_EMPTY);
	assert_null(doc);
	assert_null(err);
	/* err may be NULL */
	assert_int_equal(dpp_body_parse("{", 1, 0, &doc, NULL), DPP_BODY_INVALID);
	assert_null(doc);
	/* not NUL-terminated: only len bytes are read */
	assert_int_equal(dpp_body_parse("{}garbage", 2, 0, &doc, &err), DPP_BODY_OK);
	dpp_body_free(doc);
	dpp_body_free(NULL);
	assert_null(dpp_body_root(NULL));
	assert_null(dpp_body_lookup(NULL, NULL, 0));
}

/* ---- lookups ------------------------------------------------------------ */

static const char create_body[] =
	"{\"Hostname\":\"\",\"Image\":\"busybox\",\"Env\":[\"A=1\",\"B=2\"],\"Cmd\":null,"
	"\"Labels\":{\"com.example.x\":\"1\",\"Com.Example.X\":\"2\"},"
	"\"HostConfig\":{\"Binds\":null,\"privileged\":true,\"CapAdd\":[\"SYS_ADMIN\"],"
	"\"KernelMemory\":0,\"Memory\":9007199254740993,"
	"\"LogConfig\":{\"Type\":\"json-file\",\"Config\":{\"max-size\":\"10m\"}},"
	"\"PortBindings\":{\"80/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"8080\"}]},"
	"\"Devices\":[null,{\"PathOnHost\":\"/dev/kvm\"}]},"
	"\"NetworkingConfig\":{\"EndpointsConfig\":{\"mynet\":{\"IPAMConfig\":"
	"{\"IPv4Address\":\"10.0.0.5\"}}}}}";

enum want_type { W_ABSENT, W_STRING, W_TRUE, W_NUMBER, W_ARRAY, W_OBJECT };

struct lookup_case {
	const char *segs[8]; /* NULL-terminated */
	enum want_type want;
	const char *str; /* W_STRING: value; W_NUMBER: literal text */
};

static const struct lookup_case lookup_cases[] = {
	{ { "Image", NULL }, W_STRING, "busybox" },
	{ { "IMAGE", NULL }, W_STRING, "busybox" },
	{ { "image", NULL }, W_STRING, "busybox" },
	{ { "HostConfig", "Privileged", NULL }, W_TRUE, NULL },
	{ { "hostconfig", "PRIVILEGED", NULL }, W_TRUE, NULL },
	{ { "HostConfig", "Privileged", "x", NULL }, W_ABSENT, NULL },
	{ { "HostConfig", KELVIN "ernelMemory", NULL }, W_NUMBER, "0" },
	{ { "HostConfig", "Memory", NULL }, W_NUMBER, "9007199254740993" },
	{ { "HostConfig", "Binds", NULL }, W_ABSENT, NULL },
	{ { "HostConfig", "Binds", "0", NULL }, W_ABSENT, NULL },
	{ { "Cmd", NULL }, W_ABSENT, NULL },
	{ { "Entrypoint", NULL }, W_ABSENT, NULL },
	{ { "HostConfig", "CapAdd", NULL }, W_ARRAY, NULL },
	{ { "HostConfig", "CapAdd", "0", NULL }, W_STRING, "SYS_ADMIN" },
	{ { "HostConfig", "capadd", "0", NULL }, W_STRING, "SYS_ADMIN" },
	{ { "HostConfig", "CapAdd", "1", NULL }, W_ABSENT, NULL },
	{ { "Env", "1", NULL }, W_STRING, "B=2" },
	{ { "Env", "01", NULL }, W_ABSENT, NULL },
	{ { "Env", "-1", NULL }, W_ABSENT, NULL },
	{ { "Env", "+1", NULL }, W_ABSENT, NULL },
	{ { "Env", "", NULL }, W_ABSENT, NULL },
	{ { "Env", "99999999999999999999", NULL }, W_ABSENT, NULL },
	{ { "Env", "x", NULL }, W_ABSENT, NULL },
	{ { "HostConfig", "Devices", "0", NULL }, W_ABSENT, NULL },
	{ { "HostConfig", "Devices", "1", "pathonhost", NULL }, W_STRING, "/dev/kvm" },
	{ { "Labels", "com.example.x", NULL }, W_STRING, "1" },
	{ { "Labels", "Com.Example.X", NULL }, W_STRING, "2" },
	{ { "Labels", "COM.EXAMPLE.X", NULL }, W_ABSENT, NULL },
	{ { "labels", "com.example.x", NULL }, W_STRING, "1" },
	{ { "Labels", NULL }, W_OBJECT, NULL },
	{ { "HostConfig", "LogConfig", "Config", "max-size", NULL }, W_STRING, "10m" },
	{ { "HostConfig", "logconfig", "config", "max-size", NULL }, W_STRING, "10m" },
	{ { "HostConfig", "LogConfig", "Config", "Max-Size", NULL }, W_ABSENT, NULL },
	{ { "HostConfig", "LogConfig", "TYPE", NULL }, W_STRING, "json-file" },
	{ { "HostConfig", "PortBindings", "80/tcp", "0", "hostport", NULL }, W_STRING, "8080" },
	{ { "HostConfig", "PortBindings", "80/TCP", NULL }, W_ABSENT, NULL },
	{ { "NetworkingConfig", "EndpointsConfig", "mynet", "ipamconfig", "ipv4address", NULL },
	  W_STRING, "10.0.0.5" },
	{ { "NetworkingConfig", "EndpointsConfig", "MyNet", NULL }, W_ABSENT, NULL },
	{ { "Nope", NULL }, W_ABSENT, NULL },
	{ { "Host", NULL }, W_ABSENT, NULL },           /* prefix of Hostname/HostConfig */
	{ { "Hostnames", NULL }, W_ABSENT, NULL },
	{ { NULL }, W_OBJECT, NULL }, /* no segments: the root */
};

static size_t seg_count(const char *const *segs)
{
	size_t n = 0;

	while (n < 8 && segs[n] != NULL)
		n++;
	return n;
}

static void check_found(size_t i, const cJSON *v, const struct lookup_case *c)
{
	switch (c->want) {
	case W_ABSENT:
		if (v != NULL)
			fail_msg("lookup case %zu: want absent", i);
		break;
	case W_STRING:
		if (!cJSON_IsString(v) || strcmp(v->valuestring, c->str) != 0)
			fail_msg("lookup case %zu: want string \"%s\"", i, c->str);
		break;
	case W_TRUE:
		if (!cJSON_IsTrue(v))
			fail_msg("lookup case %zu: want true", i);
		break;
	case W_NUMBER:
		if (!cJSON_IsNumber(v) || strcmp(dpp_body_number_text(v), c->str) != 0)
			fail_msg("lookup case %zu: want number %s", i, c->str);
		break;
	case W_ARRAY:
		if (!cJSON_IsArray(v))
			fail_msg("lookup case %zu: want array", i);
		break;
	case W_OBJECT:
		if (!cJSON_IsObject(v))
			fail_msg("lookup case %zu: want object", i);
		break;
	}
}

static void test_lookup_table(void **state)
{
	struct dpp_body_doc *doc = NULL;
	char *err = NULL;
	size_t i;

	(void)state;
	assert_int_equal(dpp_body_parse(create_body, strlen(create_body), 0, &doc, &err),
			 DPP_BODY_OK);
	for (i = 0; i < sizeof(lookup_cases) / sizeof(lookup_cases[0]); i++) {
		const struct lookup_case *c = &lookup_cases[i];
		size_t n = seg_count(c->segs);
		struct dpp_body_path *p = NULL;
		const char *perr = NULL;

		check_found(i, dpp_body_lookup(doc, c->segs, n), c);
		/* the compiled-path API gives the same answer */
		if (n > 0) {
			assert_int_equal(dpp_body_path_from_segments(c->segs, n, &p, &perr), 0);
			assert_int_equal(dpp_body_path_count(p), n);
			check_found(i, dpp_body_lookup_path(doc, p), c);
			dpp_body_path_free(p);
		}
	}
	dpp_body_free(doc);
}

/* Dotted paths split on every '.': a map key with dots needs segments. */
static void test_lookup_dotted(void **state)
{
	static const struct {
		const char *path;
		const char *want; /* string value, or NULL for absent */
	} cases[] = {
		{ "HostConfig.CapAdd.0", "SYS_ADMIN" },
		{ "hostConfig.logConfig.type", "json-file" },
		{ "NetworkingConfig.EndpointsConfig.mynet.IPAMConfig.IPv4Address", "10.0.0.5" },
		{ "Labels.com.example.x", NULL }, /* four segments, no such key */
		{ "HostConfig.Binds.0", NULL },
	};
	struct dpp_body_doc *doc = NULL;
	size_t i;

	(void)state;
	assert_int_equal(dpp_body_parse(create_body, strlen(create_body), 0, &doc, NULL),
			 DPP_BODY_OK);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dpp_body_path *p = NULL;
		const char *err = "x";
		const cJSON *v;

		assert_int_equal(dpp_body_path_parse(cases[i].path, &p, &err), 0);
		assert_null(err);
		v = dpp_body_lookup_path(doc, p);
		if (cases[i].want == NULL) {
			if (v != NULL)
				fail_msg("dotted \"%s\": want absent", cases[i].path);
		} else if (!cJSON_IsString(v) || strcmp(v->valuestring, cases[i].want) != 0) {
			fail_msg("dotted \"%s\": want \"%s\"", cases[i].path, cases[i].want);
		}
		dpp_body_path_free(p);
	}
	dpp_body_free(doc);
}

/* ---- paths -------------------------------------------------------------- */

static void test_path_parse(void **state)
{
	static const struct {
		const char *path;
		int rc;
		size_t n;
		const char *last;
	} cases[] = {
		{ "Image", 0, 1, "Image" },
		{ "HostConfig.Binds.0", 0, 3, "0" },
		{ "Labels.com.example.x", 0, 4, "x" },
		{ "", -1, 0, NULL },
		{ ".", -1, 0, NULL },
		{ "a..b", -1, 0, NULL },
		{ "a.", -1, 0, NULL },
		{ ".a", -1, 0, NULL },
	};
	char big[DPP_BODY_PATH_MAX_LEN + 2];
	char many[DPP_BODY_PATH_MAX_SEGMENTS * 2 + 4];
	struct dpp_body_path *p = NULL;
	const char *err = NULL;
	const char *segs[2] = { "Labels", "com.example.x" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err = NULL;
		assert_int_equal(dpp_body_path_parse(cases[i].path, &p, &err), cases[i].rc);
		if (cases[i].rc == 0) {
			assert_non_null(p);
			assert_int_equal(dpp_body_path_count(p), cases[i].n);
			assert_string_equal(dpp_body_path_segment(p, cases[i].n - 1), cases[i].last);
			assert_null(dpp_body_path_segment(p, cases[i].n));
		} else {
			assert_null(p);
			assert_non_null(err);
		}
		dpp_body_path_free(p);
		p = NULL;
	}
	/* too long */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(dpp_body_path_parse(big, &p, &err), -1);
	assert_string_equal(err, "path too long");
	/* 64 segments ok, 65 refused */
	for (i = 0; i < DPP_BODY_PATH_MAX_SEGMENTS; i++) {
		many[2 * i] = 'a';
		many[2 * i + 1] = '.';
	}
	many[2 * DPP_BODY_PATH_MAX_SEGMENTS - 1] = '\0';
	assert_int_equal(dpp_body_path_parse(many, &p, &err), 0);
	assert_int_equal(dpp_body_path_count(p), DPP_BODY_PATH_MAX_SEGMENTS);
	dpp_body_path_free(p);
	many[2 * DPP_BODY_PATH_MAX_SEGMENTS - 1] = '.';
	many[2 * DPP_BODY_PATH_MAX_SEGMENTS] = 'b';
	many[2 * DPP_BODY_PATH_MAX_SEGMENTS + 1] = '\0';
	assert_int_equal(dpp_body_path_parse(many, &p, &err), -1);
	assert_string_equal(err, "path has too many segments");
	assert_null(p);
	/* segments keep their dots */
	assert_int_equal(dpp_body_path_from_segments(segs, 2, &p, &err), 0);
	assert_string_equal(dpp_body_path_segment(p, 1), "com.example.x");
	dpp_body_path_free(p);
	assert_int_equal(dpp_body_path_from_segments(segs, 0, &p, &err), -1);
	assert_null(p);
	assert_null(dpp_body_lookup_path(NULL, NULL));
}

/* ---- numbers ------------------------------------------------------------ */

static void test_numbers(void **state)
{
	static const struct {
		const char *literal;
		int rc;
		int64_t v;
	} cases[] = {
		{ "0", 0, 0 },
		{ "-0", 0, 0 },
		{ "-5", 0, -5 },
		{ "9007199254740993", 0, INT64_C(9007199254740993) }, /* 2^53 + 1 */
		{ "9223372036854775807", 0, INT64_MAX },
		{ "-9223372036854775808", 0, INT64_MIN },
		{ "9223372036854775808", -1, 0 },
		{ "1e3", -1, 0 },
		{ "1.0", -1, 0 },
		{ "-1.5", -1, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char body[64];
		struct dpp_body_doc *doc = NULL;
		const cJSON *v;
		int64_t got = 42;

		snprintf(body, sizeof(body), "{\"Memory\":%s}", cases[i].literal);
		assert_int_equal(dpp_body_parse(body, strlen(body), 0, &doc, NULL), DPP_BODY_OK);
		v = dpp_body_lookup(doc, (const char *const[]){ "memory" }, 1);
		assert_non_null(v);
		assert_string_equal(dpp_body_number_text(v), cases[i].literal);
		if (dpp_body_get_int64(v, &got) != cases[i].rc)
			fail_msg("number %s: want rc %d", cases[i].literal, cases[i].rc);
		if (cases[i].rc == 0 && got != cases[i].v)
			fail_msg("number %s: got %lld", cases[i].literal, (long long)got);
		dpp_body_free(doc);
	}
	/* strings and other types are not numbers */
	{
		struct dpp_body_doc *doc = NULL;
		int64_t got;

		assert_int_equal(dpp_body_parse("[\"5\",true,[1,[2,{\"x\":3}]],-4]", 29, 0, &doc,
						NULL),
				 DPP_BODY_OK);
		assert_null(dpp_body_number_text(dpp_body_lookup(doc, (const char *const[]){ "0" }, 1)));
		assert_int_equal(dpp_body_get_int64(dpp_body_lookup(doc, (const char *const[]){ "0" }, 1),
						    &got),
				 -1);
		assert_int_equal(dpp_body_get_int64(NULL, &got), -1);
		/* literal texts attach in document order through nesting */
		assert_string_equal(dpp_body_number_text(dpp_body_lookup(
					    doc, (const char *const[]){ "2", "1", "1", "x" }, 4)),
				    "3");
		assert_string_equal(dpp_body_number_text(dpp_body_lookup(
					    doc, (const char *const[]){ "3" }, 1)),
				    "-4");
		dpp_body_free(doc);
	}
}

/* ---- create: legacy top-level HostConfig fields -------------------------- */

static void test_check_create(void **state)
{
	static const struct {
		const char *body;
		int rc;
	} cases[] = {
		{ "{\"Image\":\"busybox\",\"Cmd\":[\"sh\"],\"HostConfig\":{\"Privileged\":true},"
		  "\"NetworkingConfig\":{}}", 0 },
		{ "{\"image\":\"busybox\",\"hostconfig\":null,\"ENV\":null}", 0 },
		{ "{\"Image\":\"busybox\",\"Privileged\":true}", -1 },
		{ "{\"Image\":\"busybox\",\"binds\":[\"/:/host\"]}", -1 },
		{ "{\"Image\":\"busybox\",\"HostConfig\":{},\"Memory\":1}", -1 },
		{ "{\"Image\":\"busybox\",\"Cpuset\":\"0\"}", -1 },
		{ "{\"Image\":\"busybox\",\"Future\":1}", -1 },
		{ "[]", -1 },
		{ "null", -1 },
	};
	size_t i;
	char *err = NULL;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dpp_body_doc *doc = NULL;

		assert_int_equal(dpp_body_parse(cases[i].body, strlen(cases[i].body), 0, &doc, NULL),
				 DPP_BODY_OK);
		if (dpp_body_check_create(doc, &err) != cases[i].rc)
			fail_msg("create check \"%s\": want %d", cases[i].body, cases[i].rc);
		if (cases[i].rc == 0)
			assert_null(err);
		else
			assert_non_null(err);
		free(err);
		err = NULL;
		dpp_body_free(doc);
	}
	assert_int_equal(dpp_body_check_create(NULL, &err), 0);
}

/* ---- body kind ---------------------------------------------------------- */

static void test_body_kind(void **state)
{
	static const struct {
		const char *method;
		const char *path;
		enum dpp_body_kind want;
	} cases[] = {
		{ "POST", "/containers/create", DPP_BODY_JSON },
		{ "POST", "/containers/abc/update", DPP_BODY_JSON },
		{ "POST", "/containers/abc/start", DPP_BODY_JSON },
		{ "POST", "/containers/abc/exec", DPP_BODY_JSON },
		{ "POST", "/exec/abc/start", DPP_BODY_JSON },
		{ "POST", "/commit", DPP_BODY_JSON },
		{ "POST", "/networks/create", DPP_BODY_JSON },
		{ "POST", "/networks/n1/connect", DPP_BODY_JSON },
		{ "POST", "/volumes/create", DPP_BODY_JSON },
		{ "PUT", "/volumes/v1", DPP_BODY_JSON },
		{ "POST", "/services/create", DPP_BODY_JSON },
		{ "POST", "/swarm/init", DPP_BODY_JSON },
		{ "POST", "/plugins/pull", DPP_BODY_JSON },
		{ "POST", "/plugins/vieux/sshfs:latest/set", DPP_BODY_JSON },
		{ "POST", "/auth", DPP_BODY_JSON },
		{ "POST", "/some/future/endpoint", DPP_BODY_JSON },
		{ "PATCH", "/containers/abc", DPP_BODY_JSON },
		{ "post", "/build", DPP_BODY_JSON }, /* methods are case-sensitive */
		{ "POST", "/build", DPP_BODY_STREAM },
		{ "PUT", "/containers/abc/archive", DPP_BODY_STREAM },
		{ "POST", "/images/load", DPP_BODY_STREAM },
		{ "POST", "/images/create", DPP_BODY_STREAM },
		{ "POST", "/plugins/create", DPP_BODY_STREAM },
		/* dockerd's {name:.*} matches '' and '/' (the proxy refuses the
		 * path and the reference before asking, but the kind is dockerd's) */
		{ "PUT", "/containers//archive", DPP_BODY_STREAM },
		{ "PUT", "/containers/a/b/archive", DPP_BODY_STREAM },
		{ "PUT", "/containers/archive", DPP_BODY_JSON },
		{ "POST", "/build/prune", DPP_BODY_JSON },
		{ "POST", "/containers/abc/archive", DPP_BODY_JSON },
		{ "GET", "/containers/abc/archive", DPP_BODY_NONE },
		{ "HEAD", "/containers/abc/archive", DPP_BODY_NONE },
		{ "GET", "/containers/json", DPP_BODY_NONE },
		{ "DELETE", "/containers/abc", DPP_BODY_NONE },
		{ "GET", "/_ping", DPP_BODY_NONE },
		{ NULL, "/build", DPP_BODY_JSON },
		{ "POST", NULL, DPP_BODY_JSON },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum dpp_body_kind k = dpp_body_kind(cases[i].method, cases[i].path);

		if (k != cases[i].want)
			fail_msg("%s %s: got %s, want %s",
				 cases[i].method ? cases[i].method : "(null)",
				 cases[i].path ? cases[i].path : "(null)", dpp_body_kind_name(k),
				 dpp_body_kind_name(cases[i].want));
	}
	assert_string_equal(dpp_body_kind_name(DPP_BODY_STREAM), "stream");
}

/* Issue 7 defect 4: text operators see keys as Docker's types spell them. */
static void test_docker_spelling(void **state)
{
	static const struct {
		const char *in, *text;
	} cases[] = {
		/* the seed's regex on Mounts: any spelling of Type is Type */
		{"{\"HostConfig\":{\"Mounts\":[{\"tYpe\":\"bind\",\"source\":\"/tmp/x\","
		 "\"TARGET\":\"/x\",\"bindoptions\":{\"propagation\":\"rshared\"}}],"
		 "\"privileged\":true,\"annotations\":{\"tYpe\":\"v\"}}}",
		 "{\"HostConfig\":{\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/tmp/x\","
		 "\"Target\":\"/x\",\"BindOptions\":{\"Propagation\":\"rshared\"}}],"
		 "\"Privileged\":true,\"Annotations\":{\"tYpe\":\"v\"}}}"},
		/* json tags differ from Go names; context decides Tty vs TTY */
		{"{\"tty\":true,\"hostconfig\":{\"dns\":[\"1.1.1.1\"],\"nanocpus\":1,"
		 "\"cpushares\":2},\"TaskTemplate\":{\"containerspec\":{\"tty\":true,"
		 "\"mounts\":[{\"TYPE\":\"bind\"}]},\"resources\":{\"limits\":"
		 "{\"nanocpus\":1}}}}",
		 "{\"Tty\":true,\"HostConfig\":{\"Dns\":[\"1.1.1.1\"],\"NanoCpus\":1,"
		 "\"CpuShares\":2},\"TaskTemplate\":{\"ContainerSpec\":{\"TTY\":true,"
		 "\"Mounts\":[{\"Type\":\"bind\"}]},\"Resources\":{\"Limits\":"
		 "{\"NanoCPUs\":1}}}}"},
		/* map keys stay; map values are structs again */
		{"{\"NetworkingConfig\":{\"endpointsconfig\":{\"myNet\":{\"aliases\":[\"a\"],"
		 "\"ipamconfig\":{\"ipv4address\":\"10.0.0.2\"}}}},\"HostConfig\":"
		 "{\"PortBindings\":{\"80/tcp\":[{\"hostip\":\"0.0.0.0\",\"HOSTPORT\":\"8080\"}]},"
		 "\"logconfig\":{\"TYPE\":\"json-file\",\"config\":{\"Max-Size\":\"1m\"}}}}",
		 "{\"NetworkingConfig\":{\"EndpointsConfig\":{\"myNet\":{\"Aliases\":[\"a\"],"
		 "\"IPAMConfig\":{\"IPv4Address\":\"10.0.0.2\"}}}},\"HostConfig\":"
		 "{\"PortBindings\":{\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"8080\"}]},"
		 "\"LogConfig\":{\"Type\":\"json-file\",\"Config\":{\"Max-Size\":\"1m\"}}}}"},
		/* unknown keys, and everything below them, keep their spelling;
		 * U+212A KELVIN SIGN folds to k (Links); auth uses lower-case tags */
		{"{\"nOsuch\":{\"tYpe\":1},\"HostConfig\":{\"lin\\u212as\":[\"a:b\"]},"
		 "\"USERNAME\":\"u\"}",
		 "{\"nOsuch\":{\"tYpe\":1},\"HostConfig\":{\"Links\":[\"a:b\"]},"
		 "\"username\":\"u\"}"},
		/* numbers as sent, not re-printed from doubles */
		{"{\"HostConfig\":{\"shmsize\":9007199254740993,\"Memory\":1e400,"
		 "\"CpuQuota\":-0}}",
		 "{\"HostConfig\":{\"ShmSize\":9007199254740993,\"Memory\":1e400,"
		 "\"CpuQuota\":-0}}"},
		/* a plugin privileges array: elements use the root type */
		{"[{\"name\":\"network\",\"VALUE\":[\"host\"]}]",
		 "[{\"Name\":\"network\",\"Value\":[\"host\"]}]"},
	};
	size_t i;

	(void)state;
	assert_null(dpp_body_spelling_selfcheck());
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dpp_body_doc *doc = NULL;
		char *err = NULL, *text;

		assert_int_equal(dpp_body_parse(cases[i].in, strlen(cases[i].in), 0, &doc, &err),
				 DPP_BODY_OK);
		text = dpp_body_text(dpp_body_root(doc));
		assert_non_null(text);
		if (strcmp(text, cases[i].text) != 0)
			fprintf(stderr, "case %zu:\n got  %s\n want %s\n", i, text, cases[i].text);
		assert_string_equal(text, cases[i].text);
		free(text);
		dpp_body_free(doc);
	}
}

/* Duplicate-key messages still quote the keys as the client sent them, and
 * lookups find respelled keys by any spelling. */
static void test_spelling_keeps_errors_and_lookups(void **state)
{
	const char *dup = "{\"HostConfig\":{\"privileged\":true,\"PRIVILEGED\":false}}";
	const char *body = "{\"hostconfig\":{\"mounts\":[{\"tYpe\":\"bind\"}]}}";
	const char *segs[] = {"HOSTCONFIG", "Mounts", "0", "type"};
	struct dpp_body_doc *doc = NULL;
	char *err = NULL;
	const cJSON *v;

	(void)state;
	assert_int_equal(dpp_body_parse(dup, strlen(dup), 0, &doc, &err), DPP_BODY_INVALID);
	assert_non_null(strstr(err, "\"privileged\" and \"PRIVILEGED\""));
	free(err);
	assert_int_equal(dpp_body_parse(body, strlen(body), 0, &doc, &err), DPP_BODY_OK);
	v = dpp_body_lookup(doc, segs, 4);
	assert_non_null(v);
	assert_string_equal(v->valuestring, "bind");
	assert_string_equal(dpp_body_root(doc)->child->string, "HostConfig");
	dpp_body_free(doc);
}

struct collect {
	char buf[512];
	int stop_at; /* stop (return 7) at this call, 0: never */
	int calls;
};

static int collect_fn(void *arg, const cJSON *v)
{
	struct collect *c = arg;
	char *t = dpp_body_text(v);
	size_t n = strlen(c->buf);

	assert_non_null(t);
	assert_false(cJSON_IsNull(v));
	snprintf(c->buf + n, sizeof(c->buf) - n, "%s%s", n > 0 ? "|" : "", t);
	free(t);
	return ++c->calls == c->stop_at ? 7 : 0;
}

/* "*" is every element and every member, in document order; nulls and
 * absent values are skipped; lookups keep Go's rules (maps exact). */
static void test_each(void **state)
{
	static const char body[] =
		"{\"HostConfig\":{\"Mounts\":[{\"tYpe\":\"bind\"},null,{\"Type\":\"tmpfs\"},"
		"{\"Target\":\"/x\"}],\"Binds\":[]},\"Labels\":{\"A\":\"1\",\"a\":\"2\",\"n\":null},"
		"\"NetworkingConfig\":{\"EndpointsConfig\":{\"n1\":{\"Aliases\":[\"x\",\"y\"]},"
		"\"n2\":{\"aliases\":[\"z\"]}}}}";
	static const struct {
		const char *path, *want;
		int stop_at, rc;
	} cases[] = {
		{"HostConfig.Mounts.*.type", "\"bind\"|\"tmpfs\"", 0, 0},
		{"HostConfig.Mounts.*", "{\"Type\":\"bind\"}|{\"Type\":\"tmpfs\"}|{\"Target\":\"/x\"}", 0, 0},
		{"HostConfig.Mounts.*.Type", "\"bind\"", 1, 7},
		{"HostConfig.Binds.*", "", 0, 0},
		{"HostConfig.Nope.*", "", 0, 0},
		{"Labels.*", "\"1\"|\"2\"", 0, 0},
		{"Labels.a", "\"2\"", 0, 0},
		{"NetworkingConfig.EndpointsConfig.*.Aliases.*", "\"x\"|\"y\"|\"z\"", 0, 0},
		{"NetworkingConfig.*.*.Aliases.1", "\"y\"", 0, 0},
		{"HostConfig.Mounts.2.Type", "\"tmpfs\"", 0, 0},
		{"*.*", "[{\"Type\":\"bind\"},null,{\"Type\":\"tmpfs\"},{\"Target\":\"/x\"}]|[]"
			"|\"1\"|\"2\"|{\"n1\":{\"Aliases\":[\"x\",\"y\"]},\"n2\":{\"Aliases\":[\"z\"]}}",
		 0, 0},
	};
	struct dpp_body_doc *doc = NULL;
	char *err = NULL;
	size_t i;

	(void)state;
	assert_int_equal(dpp_body_parse(body, strlen(body), 0, &doc, &err), DPP_BODY_OK);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dpp_body_path *p = NULL;
		struct collect c = {.stop_at = cases[i].stop_at};
		size_t k, n;
		const char *segs[16];
		const char *perr;
		int rc;

		assert_int_equal(dpp_body_path_parse(cases[i].path, &p, &perr), 0);
		n = dpp_body_path_count(p);
		for (k = 0; k < n; k++)
			segs[k] = dpp_body_path_segment(p, k);
		rc = dpp_body_each(doc, segs, n, collect_fn, &c);
		if (strcmp(c.buf, cases[i].want) != 0 || rc != cases[i].rc)
			fail_msg("%s: got rc %d \"%s\", want rc %d \"%s\"", cases[i].path, rc, c.buf,
				 cases[i].rc, cases[i].want);
		dpp_body_path_free(p);
	}
	assert_int_equal(dpp_body_each(NULL, NULL, 0, collect_fn, NULL), 0);
	dpp_body_free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_parse_args),
		cmocka_unit_test(test_lookup_table),
		cmocka_unit_test(test_lookup_dotted),
		cmocka_unit_test(test_path_parse),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_check_create),
		cmocka_unit_test(test_body_kind),
		cmocka_unit_test(test_docker_spelling),
		cmocka_unit_test(test_spelling_keeps_errors_and_lookups),
		cmocka_unit_test(test_each),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
