/* Request-target canonicalisation. Pure: no I/O, no locks, no globals.
 * The decisions and the Docker / Go behaviour they follow are documented in
 * include/dpp/canon.h. */
#include "dpp/canon.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct canon_pair {
	const char *name;
	const char *value;
};

/* One allocation: this header, then t_npairs pairs, then the string arena. */
struct dpp_target {
	const char *t_path;
	const char *t_version;
	const char *t_prefix;
	const char *t_forward;
	const char *t_query;
	struct canon_pair *t_pairs;
	size_t t_npairs;
};

/* Bump allocator over the arena; the size is computed up front from the
 * input, so running out means a bug here and is reported, not overrun. */
struct arena {
	char *a_base;
	size_t a_used;
	size_t a_cap;
};

static char *
arena_take(struct arena *a, size_t n)
{
	char *p;

	if (n > a->a_cap - a->a_used)
		return NULL;
	p = a->a_base + a->a_used;
	a->a_used += n;
	return p;
}

static int
is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes "%XX" at s[i] (i + 2 < n checked here). Returns the byte or -1. */
static int
pct_decode(const char *s, size_t n, size_t i)
{
	int hi, lo;

	if (n - i < 3)
		return -1;
	hi = hexval((unsigned char)s[i + 1]);
	lo = hexval((unsigned char)s[i + 2]);
	if (hi < 0 || lo < 0)
		return -1;
	return hi * 16 + lo;
}

/* RFC 3986 pchar (without pct-encoded) plus '/': bytes forwarded raw. */
static int
path_safe(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("-._~!$&'()*+,;=:@/", c) != NULL;
}

static int
host_char(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("-._~:[]", c) != NULL;
}

static int
has_prefix_ci(const char *s, size_t n, const char *prefix)
{
	size_t i, plen = strlen(prefix);

	if (n < plen)
		return 0;
	for (i = 0; i < plen; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (c != (unsigned char)prefix[i])
			return 0;
	}
	return 1;
}

/* Reduces absolute-form to origin-form: sets *start to the offset of the
 * path. Returns NULL or the refusal reason. */
static const char *
strip_absolute(const char *raw, size_t len, size_t *start)
{
	size_t i, host;

	if (len == 1 && raw[0] == '*')
		return "asterisk-form request-target not supported";
	if (has_prefix_ci(raw, len, "http://"))
		host = 7;
	else if (has_prefix_ci(raw, len, "https://"))
		host = 8;
	else
		return "request-target is not origin-form";
	for (i = host; i < len && raw[i] != '/' && raw[i] != '?'; i++) {
		if (!host_char((unsigned char)raw[i]))
			return "invalid authority in absolute-form request-target";
	}
	if (i == host)
		return "absolute-form request-target without host";
	if (i == len || raw[i] != '/')
		return "absolute-form request-target without path";
	*start = i;
	return NULL;
}

/* Decodes the raw path p[0..n) into out (room for n + 1). Returns NULL or the
 * refusal reason; *outlen gets the decoded length. */
static const char *
decode_path(const char *p, size_t n, char *out, size_t *outlen)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\\')
			return "backslash in path";
		if (c == '%') {
			int d = pct_decode(p, n, i);

			if (d < 0)
				return "invalid percent-encoding in path";
			if (d == '/')
				return "encoded '/' (%2F) in path";
			if (d == '\\')
				return "encoded '\\' (%5C) in path";
			if (d == 0)
				return "encoded NUL (%00) in path";
			if (is_ctl((unsigned char)d))
				return "encoded control character in path";
			c = (unsigned char)d;
			i += 2;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	*outlen = o;
	return NULL;
}

/* Refuses what gorilla/mux's cleanPath would change: empty segments ("//")
 * and "." / ".." segments. A single trailing '/' is allowed. d starts with
 * '/'. */
static const char *
check_segments(const char *d, size_t n)
{
	size_t i = 1, seg;

	while (i < n) {
		seg = i;
		while (i < n && d[i] != '/')
			i++;
		if (i - seg == 0)
			return "empty path segment ('//') in path";
		if ((i - seg == 1 && d[seg] == '.') ||
		    (i - seg == 2 && d[seg] == '.' && d[seg + 1] == '.'))
			return "dot segment ('.' or '..') in path";
		i++; /* skip '/'; a trailing '/' ends the loop */
	}
	return NULL;
}

/* Length of the version digits when d starts with "/v" [0-9.]+ "/", else 0. */
static size_t
version_len(const char *d, size_t n)
{
	size_t i = 2;

	if (n < 4 || d[0] != '/' || d[1] != 'v')
		return 0;
	while (i < n && ((d[i] >= '0' && d[i] <= '9') || d[i] == '.'))
		i++;
	if (i == 2 || i == n || d[i] != '/')
		return 0;
	return i - 2;
}

/* Query component decoding (Go url.QueryUnescape): '+' is space. Decodes
 * s[0..n) into out (room for n + 1). Returns NULL or the refusal reason. */
static const char *
decode_query_part(const char *s, size_t n, char *out, int is_name)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int d = pct_decode(s, n, i);

			if (d < 0)
				return "invalid percent-encoding in query";
			if (d == 0)
				return "encoded NUL (%00) in query";
			c = (unsigned char)d;
			i += 2;
		}
		if (is_name && is_ctl(c))
			return "control character in query parameter name";
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return NULL;
}

/* Splits and decodes the raw query q[0..n) into t->t_pairs (room for
 * max_pairs). Returns NULL or the refusal reason. */
static const char *
parse_query(struct dpp_target *t, size_t max_pairs, struct arena *a,
	    const char *q, size_t n)
{
	size_t i = 0;
	const char *why;

	if (memchr(q, ';', n) != NULL)
		return "semicolon in query (use '&')";
	while (i < n) {
		size_t end = i, eq;
		char *name, *value;

		while (end < n && q[end] != '&')
			end++;
		if (end == i) {
			i++;
			continue;
		}
		for (eq = i; eq < end && q[eq] != '='; eq++)
			;
		if (t->t_npairs >= max_pairs)
			return "internal error: query pair table full";
		name = arena_take(a, eq - i + 1);
		value = arena_take(a, eq < end ? end - eq : 1);
		if (name == NULL || value == NULL)
			return "internal error: arena exhausted";
		why = decode_query_part(q + i, eq - i, name, 1);
		if (why == NULL && eq < end)
			why = decode_query_part(q + eq + 1, end - eq - 1, value, 0);
		else if (why == NULL)
			value[0] = '\0';
		if (why != NULL)
			return why;
		t->t_pairs[t->t_npairs].name = name;
		t->t_pairs[t->t_npairs].value = value;
		t->t_npairs++;
		i = end + 1;
	}
	return NULL;
}

/* Builds the forwarded target. Returns it, or NULL with *why set. The result
 * is held to DPP_CANON_TARGET_MAX so it is itself a parseable target. */
static char *
build_forward(struct arena *a, const char *prefix, const char *path,
	      int has_query, const char *query, size_t qlen, const char **why)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t plen = strlen(prefix), need = plen + 1 + qlen + 1, i, o;
	char *f;

	for (i = 0; path[i] != '\0'; i++)
		need += path_safe((unsigned char)path[i]) ? 1 : 3;
	if (need - 1 - (has_query ? 0 : 1) > DPP_CANON_TARGET_MAX) {
		*why = "request-target too long once re-encoded";
		return NULL;
	}
	f = arena_take(a, need);
	if (f == NULL) {
		*why = "internal error: arena exhausted";
		return NULL;
	}
	memcpy(f, prefix, plen);
	o = plen;
	for (i = 0; path[i] != '\0'; i++) {
		unsigned char c = (unsigned char)path[i];

		if (path_safe(c)) {
			f[o++] = (char)c;
		} else {
			f[o++] = '%';
			f[o++] = hex[c >> 4];
			f[o++] = hex[c & 0xf];
		}
	}
	if (has_query) {
		f[o++] = '?';
		memcpy(f + o, query, qlen);
		o += qlen;
	}
	f[o] = '\0';
	return f;
}

int
dpp_canon_parse(const char *raw, size_t len, struct dpp_target **out,
		const char **err)
{
	struct dpp_target *t = NULL;
	struct arena a;
	const char *why = NULL, *query = "";
	size_t i, start = 0, pend, plen, qlen = 0, dlen, vlen, max_pairs;
	size_t pairs_bytes, arena_bytes;
	int has_query = 0, rc = -1;
	char *dpath, *prefix, *qcopy;

	if (out != NULL)
		*out = NULL;
	if (raw == NULL || out == NULL) {
		why = "internal error: null argument";
		goto cleanup;
	}
	if (len == 0) {
		why = "empty request-target";
		goto cleanup;
	}
	if (len > DPP_CANON_TARGET_MAX) {
		why = "request-target too long";
		goto cleanup;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)raw[i];

		if (is_ctl(c)) {
			why = "control character in request-target";
			goto cleanup;
		}
		if (c == ' ') {
			why = "space in request-target";
			goto cleanup;
		}
		if (c == '#') {
			why = "fragment ('#') in request-target";
			goto cleanup;
		}
	}
	if (raw[0] != '/' && (why = strip_absolute(raw, len, &start)) != NULL)
		goto cleanup;

	for (pend = start; pend < len && raw[pend] != '?'; pend++)
		;
	plen = pend - start;
	if (pend < len) {
		has_query = 1;
		query = raw + pend + 1;
		qlen = len - pend - 1;
	}

	/* Sizes: a pair needs a byte and a separator, so at most qlen / 2 + 1
	 * pairs; strings: decoded path, prefix,
	 * forward (prefix + 3 * path + '?' + query), raw query copy, and each
	 * pair's name and value (query bytes + 2 NULs per pair). */
	max_pairs = qlen / 2 + 1;
	pairs_bytes = max_pairs * sizeof(struct canon_pair);
	arena_bytes = (plen + 1) + (plen + 3) + (4 * plen + qlen + 3) + (qlen + 1) +
		      (qlen + 2 * max_pairs);
	t = calloc(1, sizeof(*t) + pairs_bytes + arena_bytes);
	if (t == NULL) {
		why = "out of memory";
		goto cleanup;
	}
	t->t_pairs = (struct canon_pair *)(void *)(t + 1);
	a.a_base = (char *)(t + 1) + pairs_bytes;
	a.a_used = 0;
	a.a_cap = arena_bytes;

	dpath = arena_take(&a, plen + 1);
	if (dpath == NULL) {
		why = "internal error: arena exhausted";
		goto cleanup;
	}
	if ((why = decode_path(raw + start, plen, dpath, &dlen)) != NULL)
		goto cleanup;
	if ((why = check_segments(dpath, dlen)) != NULL)
		goto cleanup;

	vlen = version_len(dpath, dlen);
	prefix = arena_take(&a, vlen + 3); /* reserved: plen + 3 */
	if (prefix == NULL) {
		why = "internal error: arena exhausted";
		goto cleanup;
	}
	if (vlen > 0)
		memcpy(prefix, dpath, vlen + 2);
	prefix[vlen > 0 ? vlen + 2 : 0] = '\0';
	t->t_prefix = prefix;
	t->t_version = vlen > 0 ? prefix + 2 : prefix;
	t->t_path = vlen > 0 ? dpath + vlen + 2 : dpath;

	t->t_forward = build_forward(&a, t->t_prefix, t->t_path, has_query, query,
				     qlen, &why);
	if (t->t_forward == NULL)
		goto cleanup;
	qcopy = arena_take(&a, qlen + 1);
	if (qcopy == NULL) {
		why = "internal error: arena exhausted";
		goto cleanup;
	}
	memcpy(qcopy, query, qlen);
	qcopy[qlen] = '\0';
	t->t_query = qcopy;

	if ((why = parse_query(t, max_pairs, &a, query, qlen)) != NULL)
		goto cleanup;

	*out = t;
	t = NULL;
	rc = 0;
cleanup:
	free(t);
	if (err != NULL)
		*err = rc == 0 ? NULL : why;
	return rc;
}

void
dpp_target_free(struct dpp_target *t)
{
	free(t);
}

const char *
dpp_target_path(const struct dpp_target *t)
{
	return t->t_path;
}

const char *
dpp_target_version(const struct dpp_target *t)
{
	return t->t_version;
}

const char *
dpp_target_version_prefix(const struct dpp_target *t)
{
	return t->t_prefix;
}

const char *
dpp_target_forward(const struct dpp_target *t)
{
	return t->t_forward;
}

const char *
dpp_target_query_raw(const struct dpp_target *t)
{
	return t->t_query;
}

size_t
dpp_target_query_count(const struct dpp_target *t)
{
	return t->t_npairs;
}

int
dpp_target_query_at(const struct dpp_target *t, size_t i, const char **name,
		    const char **value)
{
	if (i >= t->t_npairs)
		return -1;
	if (name != NULL)
		*name = t->t_pairs[i].name;
	if (value != NULL)
		*value = t->t_pairs[i].value;
	return 0;
}

const char *
dpp_target_query_next(const struct dpp_target *t, const char *name, size_t *pos)
{
	size_t i;

	if (name == NULL || pos == NULL)
		return NULL;
	for (i = *pos; i < t->t_npairs; i++) {
		if (strcmp(t->t_pairs[i].name, name) == 0) {
			*pos = i + 1;
			return t->t_pairs[i].value;
		}
	}
	*pos = t->t_npairs;
	return NULL;
}

const char *
dpp_target_query_get(const struct dpp_target *t, const char *name)
{
	size_t pos = 0;

	return dpp_target_query_next(t, name, &pos);
}

/* Go strconv.Atoi as Docker uses it, errors ignored: optional sign, then
 * decimal digits only, else 0; out of range saturates (ParseInt's result). */
static int64_t
go_atoi(const char *s, size_t n)
{
	int neg = 0;
	uint64_t v = 0, limit;
	size_t i = 0;

	if (n > 0 && (s[0] == '+' || s[0] == '-')) {
		neg = s[0] == '-';
		i = 1;
	}
	if (i == n)
		return 0;
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < n; i++) {
		uint64_t digit;

		if (s[i] < '0' || s[i] > '9')
			return 0;
		digit = (uint64_t)(s[i] - '0');
		if (v > (limit - digit) / 10)
			v = limit; /* saturate; keep scanning for a bad digit */
		else
			v = v * 10 + digit;
	}
	if (neg)
		return v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	return (int64_t)v;
}

int
dpp_canon_version_compare(const char *a, const char *b)
{
	if (a == NULL)
		a = "";
	if (b == NULL)
		b = "";
	for (;;) {
		size_t na = strcspn(a, "."), nb = strcspn(b, ".");
		int64_t va = go_atoi(a, na), vb = go_atoi(b, nb);

		if (va > vb)
			return 1;
		if (va < vb)
			return -1;
		if (a[na] == '\0' && b[nb] == '\0')
			return 0;
		a += a[na] == '\0' ? na : na + 1;
		b += b[nb] == '\0' ? nb : nb + 1;
	}
}
