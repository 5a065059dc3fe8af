/* HTTP header rules for a forwarding proxy. Pure functions, thread-safe. */
#ifndef DPP_HEADERS_H
#define DPP_HEADERS_H

#include <stddef.h>

/* One header field as received; borrowed strings. */
struct dpp_header {
	const char *name;
	const char *value;
};

/* 1 when `name` is a hop-by-hop field that a proxy must not forward
 * (RFC 9110 section 7.6.1: Connection, Proxy-Connection, Keep-Alive, TE,
 * Transfer-Encoding, Upgrade, and Trailer / Proxy-Authenticate /
 * Proxy-Authorization by common practice). Case-insensitive. */
int dpp_headers_is_hop_by_hop(const char *name);

/* 1 when the comma-separated token list `list` (e.g. a Connection field value)
 * holds `token`, compared case-insensitively (RFC 9110 section 5.6.1). */
int dpp_headers_list_has(const char *list, const char *token);

/* 1 when a request field may be copied upstream: not hop-by-hop, not named in
 * the request's Connection field (`connection`, may be NULL), not a framing
 * field (Content-Length: the proxy writes its own framing, RFC 9112 section 6),
 * not Expect (the HTTP server answers 100-continue itself), not Authorization
 * (credentials for the proxy never reach Docker), and not a method-override
 * field (X-HTTP-Method-Override and friends: Docker must execute the method
 * the rules saw). */
int dpp_headers_forward_request(const char *name, const char *connection);

/* 1 when a response field from Docker may be copied to the client: not
 * hop-by-hop, not named in the response's Connection field, and not
 * Content-Length (the HTTP server frames the response itself). */
int dpp_headers_forward_response(const char *name, const char *connection);

/* Checks every field: names must be RFC 9110 tokens (section 5.1), values may
 * not hold control bytes other than HTAB (section 5.5; a bare CR is how
 * requests get smuggled past lenient parsers). Returns 0, or -1 with *reason
 * static. */
int dpp_headers_check_fields(const struct dpp_header *fields, size_t n, const char **reason);

/* Checks request framing before anything is forwarded (RFC 9112 section 6.1
 * and 6.3; request smuggling): more than one Content-Length field, a
 * Content-Length that is not a plain decimal, both Content-Length and
 * Transfer-Encoding, or a transfer coding other than exactly "chunked" are
 * refused. Returns 0 when acceptable, else -1 with *reason set to a static
 * message. *content_length is set to the declared length or -1 when absent;
 * *chunked to 1 for a chunked body. */
int dpp_headers_check_framing(const struct dpp_header *fields, size_t n,
			      long long *content_length, int *chunked, const char **reason);

#endif
