/* Content-Type media types read exactly as dockerd (Go) reads them.
 *
 * Go's net/http Request.ParseForm merges an application/x-www-form-urlencoded
 * body of a POST, PUT or PATCH into r.Form, ahead of the query, and
 * r.FormValue also reads multipart/form-data bodies. Whether a body is such a
 * form is decided by mime.ParseMediaType on the first Content-Type field:
 *
 *   base, _, _ := strings.Cut(v, ";")
 *   mediatype = strings.TrimSpace(strings.ToLower(base))
 *   then checkMediaTypeDisposition: token ["/" token], else mediatype = ""
 *
 * (Go mime/mediatype.go; parameter errors still return the media type, and
 * parsePostForm ignores the error). strings.ToLower and strings.TrimSpace
 * work on Unicode: U+0130 (LATIN CAPITAL LETTER I WITH DOT ABOVE) lowers to
 * 'i' and U+212A (KELVIN SIGN) to 'k' (the only non-ASCII runes whose simple
 * lower case is ASCII, Go's unicode.CaseRanges), and unicode.IsSpace trims
 * U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F and
 * U+3000 besides ASCII "\t\n\v\f\r ". So "<NBSP>application/x-www-form-urlencoded"
 * and "applİcation/x-www-form-urlencoded" are form types to dockerd. Any other
 * non-ASCII rune (or invalid UTF-8) left after trimming is not a token
 * character, so Go's media type is then "".
 *
 * Pure functions; thread-safe. */
#ifndef DPP_MEDIATYPE_H
#define DPP_MEDIATYPE_H

#include <stddef.h>

/* Writes Go's media type for the Content-Type value `value` (NUL-terminated)
 * into out[0..cap) like snprintf (always NUL-terminated when cap > 0) and
 * returns its full length; "" (0) when Go finds no valid media type. The
 * result is ASCII lower case. value NULL counts as "". */
size_t dpp_media_type(const char *value, char *out, size_t cap);

enum dpp_form_kind {
	DPP_FORM_NONE = 0,
	DPP_FORM_URLENCODED, /* application/x-www-form-urlencoded */
	DPP_FORM_MULTIPART,  /* multipart/form-data */
};

/* Which form, if any, Go reads a body with this Content-Type as. */
enum dpp_form_kind dpp_media_form_kind(const char *value);

/* 1 when every byte of value is printable ASCII (0x20..0x7e), the only
 * Content-Type values the proxy reads itself instead of relying on Go's
 * Unicode rules. NULL counts as printable. */
int dpp_media_printable(const char *value);

#endif
