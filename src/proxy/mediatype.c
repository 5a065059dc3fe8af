/* Go's mime.ParseMediaType media type (see dpp/mediatype.h). */
#include "dpp/mediatype.h"

#include <stdint.h>
#include <string.h>

#define BAD_RUNE 0xFFFDu

/* Decodes one UTF-8 rune at s[0..n) as Go's utf8.DecodeRuneInString does:
 * invalid or overlong sequences and surrogates give U+FFFD with width 1. */
static uint32_t decode_rune(const unsigned char *s, size_t n, size_t *width)
{
	uint32_t c = s[0];
	size_t need;
	uint32_t min;

	*width = 1;
	if (c < 0x80)
		return c;
	if (c >= 0xC2 && c <= 0xDF) {
		need = 1;
		c &= 0x1F;
		min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 2;
		c &= 0x0F;
		min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 3;
		c &= 0x07;
		min = 0x10000;
	} else {
		return BAD_RUNE;
	}
	if (n < need + 1)
		return BAD_RUNE;
	for (size_t i = 1; i <= need; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return BAD_RUNE;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return BAD_RUNE;
	*width = need + 1;
	return c;
}

/* Go's unicode.IsSpace. */
static int is_space(uint32_t c)
{
	switch (c) {
	case '\t': case '\n': case '\v': case '\f': case '\r': case ' ':
	case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
	case 0x202F: case 0x205F: case 0x3000:
		return 1;
	default:
		return c >= 0x2000 && c <= 0x200A;
	}
}

/* unicode.ToLower where the result is ASCII; other runes are returned as they
 * are (their lower case is not ASCII, and only ASCII can survive the token
 * check below). */
static uint32_t to_lower(uint32_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c + ('a' - 'A');
	if (c == 0x130)
		return 'i';
	if (c == 0x212A)
		return 'k';
	return c;
}

/* mime's isTokenChar: ASCII, not a control, not space, not a tspecial. */
static int is_token(uint32_t c)
{
	return c > 0x20 && c < 0x7F && strchr("()<>@,;:\\\"/[]?=", (int)c) == NULL;
}

size_t dpp_media_type(const char *value, char *out, size_t cap)
{
	const unsigned char *s = (const unsigned char *)(value != NULL ? value : "");
	size_t n = strcspn((const char *)s, ";"); /* strings.Cut(v, ";") */
	size_t first = n, last = 0, i, w, len = 0;
	int slash = 0, tok = 0;

	if (cap > 0)
		out[0] = '\0';
	/* TrimSpace(ToLower(base)): lower-casing maps no rune to a space, so
	 * the spaces to trim are found on the base itself. */
	for (i = 0; i < n; i += w) {
		uint32_t c = decode_rune(s + i, n - i, &w);

		if (!is_space(c)) {
			if (first == n)
				first = i;
			last = i + w;
		}
	}
	if (first == n)
		return 0;
	/* checkMediaTypeDisposition: token, or token "/" token. */
	for (i = first; i < last; i += w) {
		uint32_t c = to_lower(decode_rune(s + i, last - i, &w));

		if (c == '/' && tok && !slash) {
			slash = 1;
			tok = 0;
			continue;
		}
		if (!is_token(c))
			return 0;
		tok = 1;
	}
	if (!tok)
		return 0; /* nothing after the slash */
	for (i = first; i < last; i += w) {
		uint32_t c = to_lower(decode_rune(s + i, last - i, &w));

		if (len + 1 < cap)
			out[len] = (char)c;
		len++;
	}
	if (cap > 0)
		out[len < cap ? len : cap - 1] = '\0';
	return len;
}

enum dpp_form_kind dpp_media_form_kind(const char *value)
{
	char t[64];
	size_t n = dpp_media_type(value, t, sizeof(t));

	if (n >= sizeof(t))
		return DPP_FORM_NONE;
	if (strcmp(t, "application/x-www-form-urlencoded") == 0)
		return DPP_FORM_URLENCODED;
	if (strcmp(t, "multipart/form-data") == 0)
		return DPP_FORM_MULTIPART;
	return DPP_FORM_NONE;
}

int dpp_media_printable(const char *value)
{
	for (const unsigned char *p = (const unsigned char *)(value != NULL ? value : ""); *p; p++) {
		if (*p < 0x20 || *p > 0x7E)
			return 0;
	}
	return 1;
}
