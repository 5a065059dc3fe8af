/* libFuzzer target for the request-target canonicaliser.
 *
 * Build and run with tests/fuzz/build.sh. Besides memory errors (ASan/UBSan),
 * it checks the module's promises on every accepted input and traps when one
 * is broken:
 *   - the canonical path starts with '/', holds no NUL, control byte or '\',
 *     no empty segment ("//") and no "." or ".." segment;
 *   - the version is [0-9.]* and the prefix is "/v" + version (or both empty);
 *   - the forward string is origin-form, printable ASCII without space or '#',
 *     and parses back to the same path, version, query and forward (a fixed
 *     point: dockerd will see what the rules saw);
 *   - the first value of each pair's name is what dpp_target_query_get gives;
 *   - dockerd's route for the path (dpp_route_match, several methods): the
 *     variables lie inside the path, the endpoint is the route's, and a
 *     reference flagged as holding '/' does hold one;
 * and on every refused input, that *out is NULL and the reason is set. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dpp/canon.h"
#include "dpp/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			__builtin_trap();                                      \
	} while (0)

static void
check_path(const char *p)
{
	size_t i, seg;

	CHECK(p[0] == '/');
	for (i = 0; p[i] != '\0'; i++) {
		unsigned char c = (unsigned char)p[i];

		CHECK(c >= 0x20 && c != 0x7f && c != '\\');
	}
	for (i = 1; p[i] != '\0';) {
		seg = i;
		while (p[i] != '\0' && p[i] != '/')
			i++;
		CHECK(i > seg);
		CHECK(!(i - seg == 1 && p[seg] == '.'));
		CHECK(!(i - seg == 2 && p[seg] == '.' && p[seg + 1] == '.'));
		if (p[i] == '/')
			i++;
	}
}

static void
check_target(const struct dpp_target *t)
{
	const char *path = dpp_target_path(t), *ver = dpp_target_version(t);
	const char *prefix = dpp_target_version_prefix(t);
	const char *fwd = dpp_target_forward(t), *n, *v;
	struct dpp_target *again = NULL;
	const char *err = NULL;
	size_t i;

	check_path(path);
	CHECK(strspn(ver, "0123456789.") == strlen(ver));
	if (ver[0] == '\0') {
		CHECK(prefix[0] == '\0');
	} else {
		CHECK(prefix[0] == '/' && prefix[1] == 'v' &&
		      strcmp(prefix + 2, ver) == 0);
	}
	CHECK(fwd[0] == '/');
	for (i = 0; fwd[i] != '\0'; i++) {
		unsigned char c = (unsigned char)fwd[i];

		CHECK(c != ' ' && c != '#' && c >= 0x20 && c != 0x7f);
	}
	for (i = 0; dpp_target_query_at(t, i, &n, &v) == 0; i++) {
		size_t pos = 0;
		const char *first = dpp_target_query_get(t, n);

		CHECK(first != NULL);
		CHECK(strcmp(dpp_target_query_next(t, n, &pos), first) == 0);
		CHECK(pos <= i + 1);
	}
	CHECK(i == dpp_target_query_count(t));

	CHECK(dpp_canon_parse(fwd, strlen(fwd), &again, &err) == 0);
	CHECK(again != NULL && err == NULL);
	CHECK(strcmp(dpp_target_path(again), path) == 0);
	CHECK(strcmp(dpp_target_version(again), ver) == 0);
	CHECK(strcmp(dpp_target_forward(again), fwd) == 0);
	CHECK(strcmp(dpp_target_query_raw(again), dpp_target_query_raw(t)) == 0);
	CHECK(dpp_target_query_count(again) == dpp_target_query_count(t));
	for (i = 0; dpp_target_query_at(t, i, &n, &v) == 0; i++) {
		const char *n2, *v2;

		CHECK(dpp_target_query_at(again, i, &n2, &v2) == 0);
		CHECK(strcmp(n, n2) == 0 && strcmp(v, v2) == 0);
	}
	dpp_target_free(again);
}

static void
check_route(const struct dpp_target *t)
{
	static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"};
	const char *path = dpp_target_path(t);
	int versioned = dpp_target_version_prefix(t)[0] != '\0';
	size_t len = strlen(path);

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		struct dpp_route_match m;
		const char *ref = NULL, *ep = dpp_route_endpoint(methods[i], path, versioned);
		size_t ref_len = 0;

		if (!dpp_route_match(methods[i], path, versioned, &m)) {
			CHECK(m.route == NULL && ep == NULL);
			continue;
		}
		CHECK(ep != NULL && strcmp(ep, m.route->endpoint) == 0);
		CHECK(m.route->method == NULL || strcmp(m.route->method, methods[i]) == 0);
		CHECK(!(versioned && m.route->unversioned_only));
		CHECK(m.n_vars <= DPP_ROUTE_MAX_VARS);
		for (size_t v = 0; v < m.n_vars; v++)
			CHECK(m.vars[v].off <= len && m.vars[v].len <= len - m.vars[v].off);
		if (dpp_route_bad_reference(&m, path, &ref, &ref_len))
			CHECK(ref_len > 0 && memchr(ref, '/', ref_len) != NULL);
	}
}

/* Antisymmetry of Docker's version comparison on two halves of the input. */
static void
check_version_compare(const uint8_t *data, size_t size)
{
	char a[64], b[64];
	size_t half = size / 2, na = half < 63 ? half : 63;
	size_t nb = size - half < 63 ? size - half : 63;

	memcpy(a, data, na);
	a[na] = '\0';
	memcpy(b, data + half, nb);
	b[nb] = '\0';
	CHECK(dpp_canon_version_compare(a, b) == -dpp_canon_version_compare(b, a));
	CHECK(dpp_canon_version_compare(a, a) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dpp_target *t = (struct dpp_target *)&t; /* must be reset */
	const char *err = NULL;

	if (dpp_canon_parse((const char *)data, size, &t, &err) == 0) {
		CHECK(t != NULL && err == NULL);
		check_target(t);
		check_route(t);
		dpp_target_free(t);
	} else {
		CHECK(t == NULL && err != NULL && err[0] != '\0');
	}
	check_version_compare(data, size);
	return 0;
}
