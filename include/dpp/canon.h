/* Request-target canonicalisation: what dockerd's router will see.
 *
 * A pure module: no I/O, no locks, no globals. Every function is thread-safe;
 * a parsed target is immutable and may be read from any thread.
 *
 * Input is the RAW request-target exactly as the client sent it (captured with
 * MHD_OPTION_URI_LOG_CALLBACK, before libmicrohttpd decodes anything). The
 * output is (1) what the rules see: the percent-decoded path with the API
 * version prefix removed, the version, and the query parsed as Go's
 * net/url.ParseQuery parses it; and (2) the exact request-target to send
 * upstream, so dockerd executes what was checked and nothing else.
 *
 * Decisions (each refusal becomes HTTP 400 with the static reason string):
 *
 * - Forms (RFC 9112 section 3.2). Origin-form ("/path?query") is the normal
 *   case. Absolute-form is accepted only as "http://" or "https://" (scheme
 *   case-insensitive) + non-empty host[:port] made of letters, digits,
 *   "-._~:[]" + a path starting with '/'; it is reduced to origin-form (path
 *   and query; the authority is dropped, dockerd ignores it). A userinfo ('@'),
 *   any other scheme, or a missing path is refused. Asterisk-form ("*") and
 *   authority-form ("host:port") are refused: dockerd has no use for either.
 *
 * - Raw bytes. Anywhere in the target: control characters (< 0x20, 0x7f), space
 *   and '#' are refused (none can appear in a valid request-target; Go's
 *   url.Parse also rejects control bytes). In the path, a raw '\' is refused.
 *
 * - Path decoding. The path is percent-decoded exactly once, as Go's
 *   url.ParseRequestURI does to fill req.URL.Path, which gorilla/mux routes on
 *   (so "/containers%2Fjson" and "/%63ontainers/json" are "/containers/json").
 *   '+' is not special in a path. Refused: an invalid escape ("%zz", "%4" at
 *   the end), an encoded '/' (%2F, %2f), an encoded '\' (%5C), an encoded NUL
 *   (%00) and any encoded control character.
 *
 * - Dot segments and repeated slashes (checked on the decoded path, as
 *   gorilla/mux's cleanPath does): REFUSED, not resolved. dockerd never runs a
 *   handler for such a path (mux answers 301 to the cleaned path), so no
 *   working client sends one; resolving would mean checking a path other than
 *   the one sent and proving our cleaning equals Go's path.Clean. Refusing is
 *   simpler to reason about. A single trailing '/' is kept (mux keeps it too;
 *   dockerd answers 404), as is "/" alone.
 *
 * - API version. dockerd registers every route twice: "/v{version:[0-9.]+}" +
 *   path, and path alone (moby api/server/server.go, versionMatcher). So the
 *   decoded path starting with "/v", one or more of [0-9.], then '/' carries a
 *   version: "/v1.41/x", "/v1.041/x", "/v1..41/x", "/v.1/x", "/v1/x" all do and
 *   their path is "/x"; "/vfoo/x" does not. Only one prefix is stripped:
 *   "/v1.41/v1.41/x" has path "/v1.41/x" (dockerd: 404). "/v1.41" with nothing
 *   after has no '/' after the digits, so it is no version prefix: path
 *   "/v1.41", version "" (dockerd: 404, no route). "/v1.41/" has path "/".
 *   The version is not range-checked here (dockerd answers 400 itself when it
 *   is out of range); compare with dpp_canon_version_compare.
 *
 * - Forwarded target: "/v" + version (when there was one) + the decoded path
 *   re-encoded minimally (bytes outside RFC 3986 pchar and '/' become %XX,
 *   upper-case hex) + "?" + the ORIGINAL raw query when the client sent a '?'.
 *   Go decodes that back to exactly the path the rules saw, and parses the
 *   identical raw query exactly as this module did.
 *
 * - Query (Go >= 1.17 net/url.ParseQuery, as used by net/http Request.Form):
 *   split on '&'; empty pieces are skipped; a ';' anywhere is refused (Go
 *   returns an error and dockerd's ParseForm answers 400, while handlers that
 *   call r.URL.Query() would silently use what was parsed); the piece is cut
 *   at its first '=' (no '=': value ""); '+' decodes to space; invalid escapes
 *   are refused. Stricter than Go: an encoded NUL is refused anywhere (names
 *   and values are C strings) and any control character in a parameter NAME is
 *   refused. Decoded control characters (e.g. %0A) in VALUES are kept, since
 *   `docker commit -m` messages may contain newlines: rules matching values
 *   with regular expressions must anchor with PCRE2_DOLLAR_ENDONLY or \z.
 *
 * - Limits: the raw target is at most DPP_CANON_TARGET_MAX bytes, and so is the
 *   forwarded target (raw bytes that must be re-encoded grow threefold; such a
 *   target is refused rather than forwarded longer than we would accept it).
 *   Everything else is bounded by the raw length. A parsed target is ONE allocation, owned by the
 *   caller of dpp_canon_parse and freed with dpp_target_free; every string
 *   returned by an accessor is borrowed from it and lives until that free.
 */
#ifndef DPP_CANON_H
#define DPP_CANON_H

#include <stddef.h>

/* Longest raw request-target accepted, in bytes (8 KiB, like common servers'
 * request-line limits; dockerd's clients send a few hundred bytes at most). */
#define DPP_CANON_TARGET_MAX 8192

struct dpp_target; /* opaque, immutable once parsed */

/* Parses the raw request-target raw[0..len) (not NUL-terminated; a NUL byte in
 * it is refused as a control character). On success returns 0 and *out (the
 * caller owns it; free with dpp_target_free), *err = NULL. On refusal returns
 * -1, *out = NULL and *err = a static string naming the reason, suitable for a
 * 400 message (never free it). Allocation failure: -1 with *err = "out of
 * memory" (the proxy should answer 500). err may be NULL. Thread-safe. */
int dpp_canon_parse(const char *raw, size_t len, struct dpp_target **out,
		    const char **err);

/* Frees a parsed target; NULL is accepted. */
void dpp_target_free(struct dpp_target *t);

/* The canonical path: percent-decoded once, version prefix removed, always
 * starting with '/'. E.g. "/containers/json". Borrowed from t. */
const char *dpp_target_path(const struct dpp_target *t);

/* The API version as sent, without "/v": "1.41", "1.041", "" when none.
 * Borrowed from t. */
const char *dpp_target_version(const struct dpp_target *t);

/* The version prefix as forwarded: "/v1.41", or "" when none. Borrowed. */
const char *dpp_target_version_prefix(const struct dpp_target *t);

/* The request-target to send upstream (origin-form): version prefix +
 * re-encoded canonical path + ("?" + raw query, when the client sent '?').
 * Borrowed from t. */
const char *dpp_target_forward(const struct dpp_target *t);

/* The raw query exactly as sent, without the '?'; "" when there was none or
 * it was empty. Borrowed from t. */
const char *dpp_target_query_raw(const struct dpp_target *t);

/* Number of decoded query parameters (name=value pairs, in request order;
 * repeated names count once per occurrence). */
size_t dpp_target_query_count(const struct dpp_target *t);

/* The i-th pair (0-based, request order). Returns 0 and borrowed pointers in
 * *name and *value (either may be NULL to skip), or -1 when i is out of range
 * (pointers untouched). */
int dpp_target_query_at(const struct dpp_target *t, size_t i, const char **name,
			const char **value);

/* The FIRST value for name (exact, case-sensitive byte comparison), as Go's
 * url.Values.Get / Request.FormValue return it; "" for "name" or "name=";
 * NULL when absent. Borrowed from t. */
const char *dpp_target_query_get(const struct dpp_target *t, const char *name);

/* Iterates over every value for name, in request order. Start with *pos = 0;
 * each call returns the next value (borrowed) and advances *pos, or NULL when
 * there are no more. */
const char *dpp_target_query_next(const struct dpp_target *t, const char *name,
				  size_t *pos);

/* Compares two API version strings exactly as Docker does (moby
 * api/types/versions.compare, used by the version middleware): split on '.',
 * each part read with Go's strconv.Atoi where an empty or invalid part is 0
 * and an overflowing one saturates; missing parts are 0. So "1.041" == "1.41",
 * "1.41.0" == "1.41", "1..41" < "1.12". Returns -1, 0 or 1. NULL counts as "".
 * An empty version in a target means dockerd's default (its newest) version. */
int dpp_canon_version_compare(const char *a, const char *b);

#endif
