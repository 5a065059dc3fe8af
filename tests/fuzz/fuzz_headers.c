/* libFuzzer target for the header and framing checks (src/proxy/headers.c)
 * and the Content-Type reading (src/proxy/mediatype.c).
 * Build and run: tests/fuzz/build_headers.sh [SECONDS].
 *
 * Input: header fields, one per line, "Name: value" (split at the first ':';
 * a line without one is a name with an empty value). Besides "no crash, no
 * out-of-bounds read", each verdict is checked against an independent oracle
 * written here from the RFCs:
 *   - dpp_headers_check_fields accepts exactly the lists whose names are
 *     non-empty RFC 9110 tokens and whose values hold no control byte but HTAB;
 *   - dpp_headers_check_framing accepts exactly: at most one Content-Length,
 *     all digits and fitting a long long, at most one Transfer-Encoding that
 *     is "chunked" (any case), never both; and reports that length / chunked;
 *   - no hop-by-hop, framing, Authorization, Expect or method-override field
 *     is ever forwarded upstream;
 *   - dpp_media_type is NUL-terminated within its buffer, ASCII lower case,
 *     and agrees with dpp_media_form_kind. */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dpp/headers.h"
#include "dpp/mediatype.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FIELDS 64

static int tchar(unsigned char c)
{
	return isalnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int oracle_fields(const struct dpp_header *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const unsigned char *p = (const unsigned char *)f[i].name;

		if (*p == '\0')
			return -1;
		for (; *p != '\0'; p++) {
			if (!tchar(*p))
				return -1;
		}
		for (p = (const unsigned char *)f[i].value; *p != '\0'; p++) {
			if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
				return -1;
		}
	}
	return 0;
}

static int oracle_framing(const struct dpp_header *f, size_t n, long long *cl, int *chunked)
{
	int n_cl = 0, n_te = 0;

	*cl = -1;
	*chunked = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(f[i].name, "content-length") == 0) {
			const char *v = f[i].value;
			long long x = 0;

			if (++n_cl > 1 || *v == '\0')
				return -1;
			for (; *v != '\0'; v++) {
				if (*v < '0' || *v > '9' || x > (__LONG_LONG_MAX__ - (*v - '0')) / 10)
					return -1;
				x = x * 10 + (*v - '0');
			}
			*cl = x;
		} else if (strcasecmp(f[i].name, "transfer-encoding") == 0) {
			if (++n_te > 1 || strcasecmp(f[i].value, "chunked") != 0)
				return -1;
			*chunked = 1;
		}
	}
	return n_cl > 0 && n_te > 0 ? -1 : 0;
}

static const char *const never_forwarded[] = {
	"connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade",
	"trailer", "proxy-authenticate", "proxy-authorization", "content-length", "expect",
	"authorization", "x-http-method-override", "x-http-method", "x-method-override",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dpp_header f[MAX_FIELDS];
	char *buf, *line, *save = NULL, mt[64];
	const char *reason = NULL, *connection = NULL;
	size_t n = 0;
	long long cl, ocl;
	int chunked, ochunked, rc, orc;

	buf = malloc(size + 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0'; /* an embedded NUL ends the input, as in a C string */
	for (line = strtok_r(buf, "\n", &save); line != NULL && n < MAX_FIELDS;
	     line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':');

		f[n].name = line;
		f[n].value = "";
		if (colon != NULL) {
			*colon = '\0';
			f[n].value = colon + 1 + (colon[1] == ' ');
		}
		if (strcasecmp(f[n].name, "connection") == 0)
			connection = f[n].value;
		n++;
	}

	rc = dpp_headers_check_fields(f, n, &reason);
	if ((rc == 0) != (oracle_fields(f, n) == 0))
		abort();
	if (rc != 0 && reason == NULL)
		abort();

	reason = NULL;
	rc = dpp_headers_check_framing(f, n, &cl, &chunked, &reason);
	orc = oracle_framing(f, n, &ocl, &ochunked);
	if ((rc == 0) != (orc == 0))
		abort();
	if (rc == 0 && (cl != ocl || chunked != ochunked))
		abort();
	if (rc != 0 && reason == NULL)
		abort();

	for (size_t i = 0; i < n; i++) {
		int fw = dpp_headers_forward_request(f[i].name, connection);

		for (size_t k = 0; k < sizeof(never_forwarded) / sizeof(*never_forwarded); k++) {
			if (fw && strcasecmp(f[i].name, never_forwarded[k]) == 0)
				abort();
		}
		if (fw && connection != NULL && dpp_headers_list_has(connection, f[i].name))
			abort(); /* named in Connection: hop-by-hop for this message */
		(void)dpp_headers_forward_response(f[i].name, connection);
		(void)dpp_headers_is_hop_by_hop(f[i].name);

		{
			size_t len = dpp_media_type(f[i].value, mt, sizeof(mt));
			enum dpp_form_kind k = dpp_media_form_kind(f[i].value);
			size_t shown = strlen(mt);

			if (shown >= sizeof(mt) || (len < sizeof(mt) && shown != len))
				abort();
			for (size_t j = 0; j < shown; j++) {
				if ((unsigned char)mt[j] >= 0x80 || isupper((unsigned char)mt[j]))
					abort();
			}
			if (k == DPP_FORM_URLENCODED &&
			    strcmp(mt, "application/x-www-form-urlencoded") != 0)
				abort();
			if (k == DPP_FORM_MULTIPART && strcmp(mt, "multipart/form-data") != 0)
				abort();
			if (k == DPP_FORM_NONE && (strcmp(mt, "multipart/form-data") == 0 ||
						   strcmp(mt, "application/x-www-form-urlencoded") == 0))
				abort();
			(void)dpp_media_printable(f[i].value);
		}
	}
	free(buf);
	return 0;
}
