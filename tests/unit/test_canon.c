/* Unit tests for the request-target canonicaliser (include/dpp/canon.h).
 *
 * Most cases are data: tests/unit/data/canon_cases.txt (format described at
 * its top), found through $DPP_SOURCE_DIR (set by ctest) or next to this file.
 * The C cases below cover what a table cannot say well: limits, iteration,
 * argument handling and Docker's version comparison. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dpp/canon.h"

#define CASE_FIELD_MAX 16384
#define CASE_FIELDS_MAX 16

/* ---- data-file cases ------------------------------------------------------ */

/* Decodes \xHH, \t, \n, \r and \\ from s into out (room for strlen(s) + 1).
 * Returns the decoded length, or -1 on a malformed escape. */
static long
unescape(const char *s, char *out)
{
	size_t i, o = 0;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] != '\\') {
			out[o++] = s[i];
			continue;
		}
		i++;
		switch (s[i]) {
		case '\\':
			out[o++] = '\\';
			break;
		case 't':
			out[o++] = '\t';
			break;
		case 'n':
			out[o++] = '\n';
			break;
		case 'r':
			out[o++] = '\r';
			break;
		case 'x': {
			char hex[3] = {0};
			char *end;

			if (s[i + 1] == '\0' || s[i + 2] == '\0')
				return -1;
			hex[0] = s[i + 1];
			hex[1] = s[i + 2];
			out[o++] = (char)strtoul(hex, &end, 16);
			if (*end != '\0')
				return -1;
			i += 2;
			break;
		}
		default:
			return -1;
		}
	}
	out[o] = '\0';
	return (long)o;
}

/* Renders every pair as "[name]=[value]" concatenated, into buf. */
static void
render_pairs(const struct dpp_target *t, char *buf, size_t size)
{
	size_t i, used = 0;
	const char *n, *v;

	buf[0] = '\0';
	for (i = 0; dpp_target_query_at(t, i, &n, &v) == 0; i++) {
		int w = snprintf(buf + used, size - used, "[%s]=[%s]", n, v);

		assert_true(w >= 0 && (size_t)w < size - used);
		used += (size_t)w;
	}
	assert_int_equal(i, dpp_target_query_count(t));
}

/* The forward string must parse back to the same target. */
static void
check_fixed_point(const struct dpp_target *t, int line)
{
	struct dpp_target *again = NULL;
	const char *err = NULL;
	const char *fwd = dpp_target_forward(t);
	static char a[CASE_FIELD_MAX], b[CASE_FIELD_MAX];

	if (dpp_canon_parse(fwd, strlen(fwd), &again, &err) != 0)
		fail_msg("line %d: forward \"%s\" refused: %s", line, fwd, err);
	assert_string_equal(dpp_target_path(again), dpp_target_path(t));
	assert_string_equal(dpp_target_version(again), dpp_target_version(t));
	assert_string_equal(dpp_target_forward(again), fwd);
	assert_string_equal(dpp_target_query_raw(again), dpp_target_query_raw(t));
	render_pairs(t, a, sizeof(a));
	render_pairs(again, b, sizeof(b));
	assert_string_equal(a, b);
	dpp_target_free(again);
}

static void
expect_field(const char *what, const char *got, const char *want, int line)
{
	if (strcmp(got, want) != 0)
		fail_msg("line %d: %s is \"%s\", expected \"%s\"", line, what, got,
			 want);
}

static void
run_case(int line, char **fields, int nfields)
{
	static char target[CASE_FIELD_MAX], want[CASE_FIELD_MAX],
		got[CASE_FIELD_MAX];
	struct dpp_target *t = NULL;
	const char *err = NULL, *expected_err = NULL;
	long tlen;
	int i, rc;

	if (nfields < 2)
		fail_msg("line %d: a case needs at least one expectation", line);
	tlen = unescape(fields[0], target);
	if (tlen < 0)
		fail_msg("line %d: bad escape in target", line);
	for (i = 1; i < nfields; i++) {
		if (strncmp(fields[i], "error=", 6) == 0)
			expected_err = fields[i] + 6;
	}

	rc = dpp_canon_parse(target, (size_t)tlen, &t, &err);
	if (expected_err != NULL) {
		if (unescape(expected_err, want) < 0)
			fail_msg("line %d: bad escape in error", line);
		if (rc == 0)
			fail_msg("line %d: accepted (path \"%s\"), expected error \"%s\"",
				 line, dpp_target_path(t), want);
		assert_null(t);
		if (err == NULL || strcmp(err, want) != 0)
			fail_msg("line %d: error \"%s\", expected \"%s\"", line,
				 err ? err : "(null)", want);
		return;
	}
	if (rc != 0)
		fail_msg("line %d: refused: %s", line, err ? err : "(null)");
	assert_non_null(t);
	assert_null(err);

	for (i = 1; i < nfields; i++) {
		char *eq = strchr(fields[i], '=');
		const char *key = fields[i];

		if (eq == NULL)
			fail_msg("line %d: expectation without '=': %s", line, key);
		if (strncmp(key, "get:", 4) == 0) {
			/* the name may contain '=' only when empty: "get:=1" */
			char name[CASE_FIELD_MAX];
			const char *v;

			*eq = '\0';
			if (unescape(key + 4, name) < 0 || unescape(eq + 1, want) < 0)
				fail_msg("line %d: bad escape", line);
			*eq = '=';
			v = dpp_target_query_get(t, name);
			if (strcmp(want, "(null)") == 0) {
				if (v != NULL)
					fail_msg("line %d: get(%s) is \"%s\", expected absent",
						 line, name, v);
			} else if (v == NULL) {
				fail_msg("line %d: get(%s) absent, expected \"%s\"", line,
					 name, want);
			} else {
				expect_field("get", v, want, line);
			}
			continue;
		}
		if (unescape(eq + 1, want) < 0)
			fail_msg("line %d: bad escape", line);
		if (strncmp(key, "path=", 5) == 0) {
			expect_field("path", dpp_target_path(t), want, line);
		} else if (strncmp(key, "version=", 8) == 0) {
			expect_field("version", dpp_target_version(t), want, line);
		} else if (strncmp(key, "prefix=", 7) == 0) {
			expect_field("prefix", dpp_target_version_prefix(t), want,
				     line);
		} else if (strncmp(key, "forward=", 8) == 0) {
			expect_field("forward", dpp_target_forward(t), want, line);
		} else if (strncmp(key, "query=", 6) == 0) {
			expect_field("query", dpp_target_query_raw(t), want, line);
		} else if (strncmp(key, "pairs=", 6) == 0) {
			render_pairs(t, got, sizeof(got));
			expect_field("pairs", got, want, line);
		} else {
			fail_msg("line %d: unknown expectation %s", line, key);
		}
	}
	check_fixed_point(t, line);
	dpp_target_free(t);
}

static FILE *
open_cases(void)
{
	char path[4096];
	const char *dir = getenv("DPP_SOURCE_DIR");
	FILE *f;

	if (dir != NULL && dir[0] != '\0') {
		snprintf(path, sizeof(path), "%s/tests/unit/data/canon_cases.txt",
			 dir);
	} else {
		const char *slash = strrchr(__FILE__, '/');
		int n = slash ? (int)(slash - __FILE__) : 1;

		snprintf(path, sizeof(path), "%.*s/data/canon_cases.txt", n,
			 slash ? __FILE__ : ".");
	}
	f = fopen(path, "r");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	return f;
}

static void
test_data_cases(void **state)
{
	static char buf[CASE_FIELD_MAX];
	char *fields[CASE_FIELDS_MAX];
	FILE *f = open_cases();
	int line = 0, ncases = 0;

	(void)state;
	while (fgets(buf, sizeof(buf), f) != NULL) {
		size_t n = strlen(buf);
		int nfields = 0;
		char *p = buf, *tab;

		line++;
		if (n > 0 && buf[n - 1] == '\n')
			buf[--n] = '\0';
		else if (!feof(f))
			fail_msg("line %d: too long", line);
		if (n == 0 || buf[0] == '#')
			continue;
		for (;;) {
			if (nfields == CASE_FIELDS_MAX)
				fail_msg("line %d: too many fields", line);
			fields[nfields++] = p;
			tab = strchr(p, '\t');
			if (tab == NULL)
				break;
			*tab = '\0';
			p = tab + 1;
		}
		run_case(line, fields, nfields);
		ncases++;
	}
	fclose(f);
	/* guards against a truncated or unreadable table passing silently */
	assert_true(ncases >= 150);
}

/* ---- C cases ---------------------------------------------------------------- */

static void
test_length_limit(void **state)
{
	char *buf = malloc(DPP_CANON_TARGET_MAX + 2);
	struct dpp_target *t = NULL;
	const char *err = NULL;

	(void)state;
	assert_non_null(buf);
	buf[0] = '/';
	memset(buf + 1, 'a', DPP_CANON_TARGET_MAX + 1);

	/* exactly the limit: accepted, path is all of it */
	assert_int_equal(dpp_canon_parse(buf, DPP_CANON_TARGET_MAX, &t, &err), 0);
	assert_int_equal(strlen(dpp_target_path(t)), DPP_CANON_TARGET_MAX);
	assert_int_equal(strlen(dpp_target_forward(t)), DPP_CANON_TARGET_MAX);
	dpp_target_free(t);
	t = NULL;

	/* one byte more: refused */
	assert_int_equal(dpp_canon_parse(buf, DPP_CANON_TARGET_MAX + 1, &t, &err),
			 -1);
	assert_null(t);
	assert_string_equal(err, "request-target too long");

	/* raw bytes re-encoded as %XX: the forward may not outgrow the limit */
	memset(buf + 1, 0xff, DPP_CANON_TARGET_MAX);
	assert_int_equal(dpp_canon_parse(buf, 1 + (DPP_CANON_TARGET_MAX - 1) / 3, &t,
					 &err),
			 0);
	assert_int_equal(strlen(dpp_target_forward(t)),
			 1 + (DPP_CANON_TARGET_MAX - 1) / 3 * 3);
	dpp_target_free(t);
	t = NULL;
	assert_int_equal(dpp_canon_parse(buf, 2 + (DPP_CANON_TARGET_MAX - 1) / 3, &t,
					 &err),
			 -1);
	assert_null(t);
	assert_string_equal(err, "request-target too long once re-encoded");

	/* "?" and the query count too: 8191 + "?" fits, 8191 + "?x" does not */
	buf[1 + (DPP_CANON_TARGET_MAX - 1) / 3] = '?';
	buf[2 + (DPP_CANON_TARGET_MAX - 1) / 3] = 'x';
	assert_int_equal(dpp_canon_parse(buf, 2 + (DPP_CANON_TARGET_MAX - 1) / 3, &t,
					 &err),
			 0);
	assert_int_equal(strlen(dpp_target_forward(t)), DPP_CANON_TARGET_MAX);
	dpp_target_free(t);
	t = NULL;
	assert_int_equal(dpp_canon_parse(buf, 3 + (DPP_CANON_TARGET_MAX - 1) / 3, &t,
					 &err),
			 -1);
	assert_string_equal(err, "request-target too long once re-encoded");
	free(buf);
}

/* Worst cases for the output sizes: a path that triples when re-encoded, and
 * a query made only of one-byte pairs. */
static void
test_worst_case_sizes(void **state)
{
	char *buf = malloc(DPP_CANON_TARGET_MAX + 1);
	struct dpp_target *t = NULL;
	const char *err = NULL, *n, *v;
	size_t i, len;

	(void)state;
	assert_non_null(buf);
	/* "/v1/" + "%25" * k: decoded '%' each, forwarded as "%25" again */
	memcpy(buf, "/v1/", 4);
	for (len = 4; len + 3 <= DPP_CANON_TARGET_MAX; len += 3)
		memcpy(buf + len, "%25", 3);
	assert_int_equal(dpp_canon_parse(buf, len, &t, &err), 0);
	assert_int_equal(strlen(dpp_target_path(t)), 1 + (len - 4) / 3);
	assert_int_equal(strlen(dpp_target_forward(t)), len);
	assert_memory_equal(dpp_target_forward(t), buf, len);
	dpp_target_free(t);
	t = NULL;

	/* "/?" + "a&" * k: k pairs a="" */
	memcpy(buf, "/?", 2);
	for (len = 2; len + 3 <= DPP_CANON_TARGET_MAX; len += 2)
		memcpy(buf + len, "a&", 2);
	buf[len++] = 'b';
	assert_int_equal(dpp_canon_parse(buf, len, &t, &err), 0);
	assert_int_equal(dpp_target_query_count(t), (len - 2) / 2 + 1);
	for (i = 0; i + 1 < dpp_target_query_count(t); i++) {
		assert_int_equal(dpp_target_query_at(t, i, &n, &v), 0);
		assert_string_equal(n, "a");
		assert_string_equal(v, "");
	}
	assert_int_equal(dpp_target_query_at(t, i, &n, &v), 0);
	assert_string_equal(n, "b");
	dpp_target_free(t);
	t = NULL;

	/* "/?" + "%41=%42&" pairs: decoded shorter than raw */
	memcpy(buf, "/?", 2);
	for (len = 2; len + 8 <= DPP_CANON_TARGET_MAX; len += 8)
		memcpy(buf + len, "%41=%42&", 8);
	assert_int_equal(dpp_canon_parse(buf, len, &t, &err), 0);
	assert_int_equal(dpp_target_query_count(t), (len - 2) / 8);
	assert_string_equal(dpp_target_query_get(t, "A"), "B");
	dpp_target_free(t);
	free(buf);
}

/* A long refused input: the refusal is found past the first kilobytes. */
static void
test_long_refusal(void **state)
{
	char *buf = malloc(DPP_CANON_TARGET_MAX);
	struct dpp_target *t = NULL;
	const char *err = NULL;

	(void)state;
	assert_non_null(buf);
	buf[0] = '/';
	memset(buf + 1, 'a', DPP_CANON_TARGET_MAX - 1);
	memcpy(buf + DPP_CANON_TARGET_MAX - 4, "%2F", 3);
	assert_int_equal(dpp_canon_parse(buf, DPP_CANON_TARGET_MAX, &t, &err), -1);
	assert_null(t);
	assert_string_equal(err, "encoded '/' (%2F) in path");
	free(buf);
}

static void
test_query_iteration(void **state)
{
	static const char raw[] = "/v1.41/commit?changes=A&x=1&changes=B&changes=&x=2";
	struct dpp_target *t = NULL;
	const char *err = NULL, *v, *n;
	size_t pos = 0;

	(void)state;
	assert_int_equal(dpp_canon_parse(raw, sizeof(raw) - 1, &t, &err), 0);
	assert_int_equal(dpp_target_query_count(t), 5);

	v = dpp_target_query_next(t, "changes", &pos);
	assert_string_equal(v, "A");
	v = dpp_target_query_next(t, "changes", &pos);
	assert_string_equal(v, "B");
	v = dpp_target_query_next(t, "changes", &pos);
	assert_string_equal(v, "");
	assert_null(dpp_target_query_next(t, "changes", &pos));
	assert_null(dpp_target_query_next(t, "changes", &pos));

	pos = 0;
	assert_string_equal(dpp_target_query_next(t, "x", &pos), "1");
	assert_string_equal(dpp_target_query_next(t, "x", &pos), "2");
	assert_null(dpp_target_query_next(t, "x", &pos));
	pos = 0;
	assert_null(dpp_target_query_next(t, "nope", &pos));
	assert_null(dpp_target_query_next(t, NULL, &pos));
	assert_null(dpp_target_query_get(t, NULL));

	/* out of range leaves the pointers alone; NULL outputs are allowed */
	n = v = "untouched";
	assert_int_equal(dpp_target_query_at(t, 5, &n, &v), -1);
	assert_string_equal(n, "untouched");
	assert_string_equal(v, "untouched");
	assert_int_equal(dpp_target_query_at(t, 4, NULL, &v), 0);
	assert_string_equal(v, "2");
	assert_int_equal(dpp_target_query_at(t, 0, &n, NULL), 0);
	assert_string_equal(n, "changes");
	dpp_target_free(t);
}

static void
test_arguments(void **state)
{
	struct dpp_target *t = (struct dpp_target *)&t; /* must be reset */
	const char *err = NULL;

	(void)state;
	assert_int_equal(dpp_canon_parse(NULL, 1, &t, &err), -1);
	assert_null(t);
	assert_non_null(err);
	assert_int_equal(dpp_canon_parse("/", 1, NULL, &err), -1);
	assert_non_null(err);
	/* err is optional */
	assert_int_equal(dpp_canon_parse("//", 2, &t, NULL), -1);
	assert_null(t);
	assert_int_equal(dpp_canon_parse("/_ping", 6, &t, NULL), 0);
	assert_string_equal(dpp_target_path(t), "/_ping");
	dpp_target_free(t);
	/* len, not the NUL, bounds the input */
	assert_int_equal(dpp_canon_parse("/_ping/extra", 6, &t, &err), 0);
	assert_string_equal(dpp_target_path(t), "/_ping");
	dpp_target_free(t);
	dpp_target_free(NULL);
}

static void
test_version_compare(void **state)
{
	static const struct {
		const char *a, *b;
		int want;
	} cases[] = {
		{"1.41", "1.41", 0},
		{"1.041", "1.41", 0},
		{"01.41", "1.41", 0},
		{"1.41.0", "1.41", 0},
		{"1.41.", "1.41", 0},
		{"1.41", "1.40", 1},
		{"1.40", "1.41", -1},
		{"1.9", "1.12", -1},
		{"1..41", "1.12", -1},
		{".1", "1.12", -1},
		{"1", "1.12", -1},
		{"2", "1.41", 1},
		{"", "0", 0},
		{"", "1.12", -1},
		{NULL, "", 0},
		{"1.x", "1.0", 0},
		{"1.-1", "1.0", -1},
		{"1.+5", "1.5", 0},
		{"1.41", "1.41.1", -1},
		{"99999999999999999999.1", "9223372036854775807.2", -1},
		{"99999999999999999999", "9223372036854775806", 1},
		{"9223372036854775807", "9223372036854775808", 0},
		{"-99999999999999999999", "-9223372036854775808", 0},
		{"-9223372036854775807", "-9223372036854775808", 1},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = dpp_canon_version_compare(cases[i].a, cases[i].b);
		int rev = dpp_canon_version_compare(cases[i].b, cases[i].a);

		if (got != cases[i].want || rev != -cases[i].want)
			fail_msg("compare(%s, %s) = %d (reverse %d), expected %d",
				 cases[i].a ? cases[i].a : "NULL", cases[i].b, got, rev,
				 cases[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_cases),
		cmocka_unit_test(test_length_limit),
		cmocka_unit_test(test_worst_case_sizes),
		cmocka_unit_test(test_long_refusal),
		cmocka_unit_test(test_query_iteration),
		cmocka_unit_test(test_arguments),
		cmocka_unit_test(test_version_compare),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
