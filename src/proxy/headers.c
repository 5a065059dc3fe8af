#include "dpp/headers.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const hop_by_hop[] = {
	"Connection", "Proxy-Connection", "Keep-Alive", "TE", "Transfer-Encoding",
	"Upgrade", "Trailer", "Proxy-Authenticate", "Proxy-Authorization",
};

static const char *const method_override[] = {
	"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override",
};

static int in_list(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(name, list[i]) == 0)
			return 1;
	}
	return 0;
}

int dpp_headers_is_hop_by_hop(const char *name)
{
	return in_list(name, hop_by_hop, sizeof(hop_by_hop) / sizeof(hop_by_hop[0]));
}

int dpp_headers_list_has(const char *list, const char *token)
{
	size_t tlen = strlen(token);
	const char *p = list;

	if (list == NULL)
		return 0;
	while (*p != '\0') {
		const char *start, *end;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		start = p;
		while (*p != '\0' && *p != ',')
			p++;
		end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if ((size_t)(end - start) == tlen && strncasecmp(start, token, tlen) == 0)
			return 1;
	}
	return 0;
}

int dpp_headers_forward_request(const char *name, const char *connection)
{
	if (dpp_headers_is_hop_by_hop(name) || dpp_headers_list_has(connection, name))
		return 0;
	if (strcasecmp(name, "Content-Length") == 0 || strcasecmp(name, "Expect") == 0 ||
	    strcasecmp(name, "Authorization") == 0)
		return 0;
	if (in_list(name, method_override, sizeof(method_override) / sizeof(method_override[0])))
		return 0;
	return 1;
}

int dpp_headers_forward_response(const char *name, const char *connection)
{
	if (dpp_headers_is_hop_by_hop(name) || dpp_headers_list_has(connection, name))
		return 0;
	return strcasecmp(name, "Content-Length") != 0;
}

/* Plain decimal, no sign, no spaces, fits in long long. */
static int parse_length(const char *v, long long *out)
{
	char *end = NULL;
	long long n;

	if (v == NULL || !isdigit((unsigned char)v[0]))
		return -1;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || end == NULL || *end != '\0')
		return -1;
	*out = n;
	return 0;
}

int dpp_headers_check_framing(const struct dpp_header *fields, size_t n,
			      long long *content_length, int *chunked, const char **reason)
{
	int n_cl = 0, n_te = 0;

	*content_length = -1;
	*chunked = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(fields[i].name, "Content-Length") == 0) {
			if (++n_cl > 1) {
				*reason = "more than one Content-Length header field";
				return -1;
			}
			if (parse_length(fields[i].value, content_length) != 0) {
				*reason = "invalid Content-Length";
				return -1;
			}
		} else if (strcasecmp(fields[i].name, "Transfer-Encoding") == 0) {
			if (++n_te > 1 || strcasecmp(fields[i].value, "chunked") != 0) {
				*reason = "unsupported Transfer-Encoding (only a single \"chunked\" is accepted)";
				return -1;
			}
			*chunked = 1;
		}
	}
	if (n_cl > 0 && n_te > 0) {
		*reason = "both Content-Length and Transfer-Encoding present";
		return -1;
	}
	return 0;
}

/* tchar (RFC 9110 section 5.6.2) */
static int is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

int dpp_headers_check_fields(const struct dpp_header *fields, size_t n, const char **reason)
{
	for (size_t i = 0; i < n; i++) {
		const unsigned char *p = (const unsigned char *)fields[i].name;

		if (*p == '\0') {
			*reason = "empty header field name";
			return -1;
		}
		for (; *p != '\0'; p++) {
			if (!is_tchar(*p)) {
				*reason = "invalid character in a header field name";
				return -1;
			}
		}
		for (p = (const unsigned char *)fields[i].value; *p != '\0'; p++) {
			if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
				*reason = "control character in a header field value";
				return -1;
			}
		}
	}
	return 0;
}
