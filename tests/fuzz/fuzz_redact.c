/* libFuzzer target for response filtering (src/proxy/redact.c).
 * Build and run: tests/fuzz/build_redact.sh [SECONDS].
 *
 * Input: filter lines "ACTION FIELD[ JSON]" (ACTION r = redact, d = remove,
 * p = replace with the JSON value; at most 8), then a line "--", then the
 * response body Docker would send. Checks, besides "no crash, no leak":
 *   - status and out-parameters agree (0: output and no error; -1: error);
 *   - the output is valid JSON (a Docker client must still decode it);
 *   - with no filter, the output is the input re-printed: the same JSON
 *     value, members in the same order, since only whitespace and escapes may change;
 *   - a redacted field never keeps a string value it had: the top-level
 *     field named by a one-segment redact filter holds no input string. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dpp/redact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FILTERS 8

/* cJSON_Compare, except that numbers compare as doubles exactly, so two
 * out-of-range literals (1e400: +inf to cJSON) are equal. */
static int same(const cJSON *a, const cJSON *b)
{
	const cJSON *x, *y;

	if ((a->type & 0xff) != (b->type & 0xff))
		return 0;
	if (cJSON_IsNumber(a))
		return a->valuedouble == b->valuedouble;
	if (cJSON_IsString(a))
		return strcmp(a->valuestring, b->valuestring) == 0;
	if (cJSON_IsArray(a) || cJSON_IsObject(a)) {
		for (x = a->child, y = b->child; x != NULL && y != NULL; x = x->next, y = y->next) {
			if (cJSON_IsObject(a) && strcmp(x->string, y->string) != 0)
				return 0;
			if (!same(x, y))
				return 0;
		}
		return x == NULL && y == NULL;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dpp_filter f[MAX_FILTERS];
	cJSON *values[MAX_FILTERS] = {0};
	char *buf, *p, *body, *out = NULL;
	const char *err = NULL;
	size_t n = 0, body_len, out_len = 0;
	int rc;

	buf = malloc(size + 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	body = strstr(buf, "\n--\n");
	if (body == NULL) {
		body = buf; /* no filters: the whole input is the body */
		body_len = size;
	} else {
		*body = '\0';
		body += 4;
		body_len = size - (size_t)(body - buf);
		for (p = buf; p != NULL && *p != '\0' && n < MAX_FILTERS;) {
			char *nl = strchr(p, '\n'), *sp;

			if (nl != NULL)
				*nl = '\0';
			if (strlen(p) >= 3 && p[1] == ' ' && strchr("rdp", p[0]) != NULL) {
				f[n].action = p[0] == 'r' ? DPP_FILTER_REDACT
					      : p[0] == 'd' ? DPP_FILTER_REMOVE : DPP_FILTER_REPLACE;
				f[n].field = p + 2;
				f[n].value = NULL;
				sp = strchr(p + 2, ' ');
				if (f[n].action == DPP_FILTER_REPLACE) {
					if (sp != NULL) {
						*sp = '\0';
						values[n] = cJSON_Parse(sp + 1);
					}
					if (values[n] == NULL)
						values[n] = cJSON_CreateString("x");
					f[n].value = values[n];
				}
				n++;
			}
			p = nl != NULL ? nl + 1 : NULL;
		}
	}
	rc = dpp_redact_apply(body, body_len, f, n, &out, &out_len, &err);
	if (rc == 0) {
		cJSON *o, *in;

		if (out == NULL || err != NULL || strlen(out) != out_len)
			abort();
		o = cJSON_ParseWithLength(out, out_len);
		if (o == NULL) {
			fprintf(stderr, "output is not JSON: %.*s\n", (int)out_len, out);
			abort();
		}
		in = cJSON_ParseWithLength(body, body_len);
		if (n == 0 && in != NULL && !same(in, o)) {
			fprintf(stderr, "unfiltered output differs: %.*s\n", (int)out_len, out);
			abort();
		}
		/* One-segment redact on an object: the value keeps no string. */
		for (size_t i = 0; i < n && in != NULL; i++) {
			const cJSON *before, *after;

			if (f[i].action != DPP_FILTER_REDACT || strchr(f[i].field, '.') != NULL ||
			    strcmp(f[i].field, "*") == 0 || !cJSON_IsObject(in))
				continue;
			before = cJSON_GetObjectItem(in, f[i].field);
			after = cJSON_GetObjectItem(o, f[i].field);
			if (cJSON_IsString(before) && cJSON_IsString(after) &&
			    strcmp(after->valuestring, DPP_REDACTED) != 0 &&
			    strcmp(before->valuestring, after->valuestring) == 0 &&
			    strchr(before->valuestring, '=') == NULL) {
				fprintf(stderr, "field %s kept its value\n", f[i].field);
				abort();
			}
		}
		cJSON_Delete(in);
		cJSON_Delete(o);
	} else if (out != NULL || err == NULL) {
		abort();
	}
	free(out);
	for (size_t i = 0; i < n; i++)
		cJSON_Delete(values[i]);
	free(buf);
	return 0;
}
