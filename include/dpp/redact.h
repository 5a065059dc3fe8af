/* Response filters: redact, remove or replace fields of a JSON response
 * before it reaches the client (policy `response_filter` rules). Pure and
 * thread-safe; cJSON does the parsing and printing. */
#ifndef DPP_REDACT_H
#define DPP_REDACT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#define DPP_REDACTED "***REDACTED***"

enum dpp_filter_action {
	DPP_FILTER_REDACT = 0,
	DPP_FILTER_REMOVE,
	DPP_FILTER_REPLACE,
};

/* One filter. `field` is a dotted path ("Config.Env"); segments match object
 * keys case-insensitively (ASCII; Docker's response keys are canonical), a
 * numeric segment indexes an array and "*" matches every key or element.
 * `value` is the replacement for DPP_FILTER_REPLACE (borrowed). */
struct dpp_filter {
	const char *field;
	enum dpp_filter_action action;
	const cJSON *value;
};

/* Applies filters to a JSON document of len bytes; when the top level is an
 * array (GET /containers/json) they apply to each element. Redaction keeps
 * JSON types so Docker clients still decode the response: a string becomes
 * DPP_REDACTED, "KEY=value" strings inside arrays keep "KEY=", numbers become
 * 0, booleans false, arrays and objects are redacted element by element;
 * null stays null. Everything a filter does not name comes back as Docker
 * sent it apart from whitespace and string escapes: key order and the literal
 * text of every number are kept (dpp_json_parse_exact). Returns 0 with *out
 * (malloc'd, caller frees with free()) and *out_len, or -1 with *err static
 * (body not JSON, a number outside RFC 8259, out of memory). */
int dpp_redact_apply(const char *body, size_t len, const struct dpp_filter *filters, size_t n,
		     char **out, size_t *out_len, const char **err);

#endif
