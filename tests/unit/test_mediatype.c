/* Content-Type media types as Go's mime.ParseMediaType reads them
 * (dpp/mediatype.h). Expected values are what Go 1.19 returns (ToLower then
 * TrimSpace of the part before ';', then the token/token check). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dpp/mediatype.h"

#define NBSP "\xc2\xa0"
#define CAP_I_DOT "\xc4\xb0" /* U+0130, lowers to 'i' */
#define KELVIN "\xe2\x84\xaa" /* U+212A, lowers to 'k' */

static void test_media_type(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "application/json", "application/json" },
		{ "Application/JSON; charset=utf-8", "application/json" },
		{ "application/json;", "application/json" },
		{ "application/json;;;bad", "application/json" }, /* parameter errors keep the type */
		{ " \t application/x-www-form-urlencoded \t ", "application/x-www-form-urlencoded" },
		{ NBSP "application/x-www-form-urlencoded", "application/x-www-form-urlencoded" },
		{ "application/x-www-form-urlencoded" NBSP, "application/x-www-form-urlencoded" },
		{ "\xe3\x80\x80" "application/x-www-form-urlencoded", "application/x-www-form-urlencoded" }, /* U+3000 */
		{ "\xc2\x85" "multipart/form-data", "multipart/form-data" }, /* U+0085 */
		{ "\xe2\x80\x8a" "multipart/form-data\xe2\x80\xa8", "multipart/form-data" }, /* U+200A, U+2028 */
		{ "appl" CAP_I_DOT "cation/x-www-form-urlencoded", "application/x-www-form-urlencoded" },
		{ "APPL" CAP_I_DOT "CATION/X-WWW-FORM-URLENCODED; x=1", "application/x-www-form-urlencoded" },
		{ "multipart/form-data; boundary=xyz", "multipart/form-data" },
		{ "MULTIPART/FORM-DATA", "multipart/form-data" },
		{ KELVIN "ind/x", "kind/x" },
		/* a space that is not trimmed, or any other non-ASCII rune: no token */
		{ "application/x-www-form-" NBSP "urlencoded", "" },
		{ "application/x-www-form-urlencoded\xc3\xa9", "" },
		{ "\xe1\xa0\x8e" "application/json", "" }, /* U+180E is no space in Go */
		{ "\xff" "application/json", "" },        /* invalid UTF-8 */
		{ "\xc2" "application/json", "" },        /* truncated sequence */
		{ "\xed\xa0\x80" "a/b", "" },             /* surrogate */
		{ "", "" },
		{ " ", "" },
		{ ";charset=utf-8", "" },
		{ "application/", "" },
		{ "/json", "" },
		{ "a/b/c", "" },
		{ "a b/c", "" },
		{ "text", "text" }, /* a bare token is accepted by Go */
		{ "a/b c", "" },
		{ "\tapplication/json\r\n", "application/json" },
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = dpp_media_type(cases[i].in, out, sizeof(out));

		if (strcmp(out, cases[i].want) != 0 || n != strlen(cases[i].want))
			fail_msg("case %zu: got '%s' (%zu), want '%s'", i, out, n, cases[i].want);
	}
	assert_int_equal(dpp_media_type(NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	/* snprintf-like truncation */
	assert_int_equal(dpp_media_type("application/json", out, 5), 16);
	assert_string_equal(out, "appl");
	assert_int_equal(dpp_media_type("application/json", NULL, 0), 16);
}

static void test_long_padding(void **state)
{
	char buf[4096];
	size_t n = 0;

	(void)state;
	while (n + 2 < 3000) {
		memcpy(buf + n, NBSP, 2);
		n += 2;
	}
	strcpy(buf + n, "multipart/form-data");
	assert_int_equal(dpp_media_form_kind(buf), DPP_FORM_MULTIPART);
}

static void test_form_kind(void **state)
{
	(void)state;
	assert_int_equal(dpp_media_form_kind(NULL), DPP_FORM_NONE);
	assert_int_equal(dpp_media_form_kind("application/json"), DPP_FORM_NONE);
	assert_int_equal(dpp_media_form_kind("application/x-tar"), DPP_FORM_NONE);
	assert_int_equal(dpp_media_form_kind(NBSP "application/x-www-form-urlencoded"),
			 DPP_FORM_URLENCODED);
	assert_int_equal(dpp_media_form_kind("appl" CAP_I_DOT "cation/x-www-form-urlencoded"),
			 DPP_FORM_URLENCODED);
	assert_int_equal(dpp_media_form_kind("Multipart/Form-Data; boundary=\"a;b\""),
			 DPP_FORM_MULTIPART);
	assert_int_equal(dpp_media_form_kind("multipart/mixed"), DPP_FORM_NONE);
	assert_int_equal(dpp_media_form_kind("application/x-www-form-urlencodedx"), DPP_FORM_NONE);
}

static void test_printable(void **state)
{
	(void)state;
	assert_true(dpp_media_printable(NULL));
	assert_true(dpp_media_printable("application/json; charset=utf-8"));
	assert_false(dpp_media_printable("application/json;\tcharset=utf-8"));
	assert_false(dpp_media_printable(NBSP "application/json"));
	assert_false(dpp_media_printable("appl" CAP_I_DOT "cation/json"));
	assert_false(dpp_media_printable("a\x7f"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_media_type),
		cmocka_unit_test(test_long_padding),
		cmocka_unit_test(test_form_kind),
		cmocka_unit_test(test_printable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
