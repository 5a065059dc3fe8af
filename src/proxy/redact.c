#include "dpp/redact.h"
#include "dpp/body.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_SEGMENTS 32
#define MAX_FIELD 512

static int redact_value(cJSON *v);

static int redact_string(cJSON *v, int keep_key)
{
	const char *s = v->valuestring;
	const char *eq = keep_key && s != NULL ? strchr(s, '=') : NULL;
	char *next;
	size_t klen = eq != NULL ? (size_t)(eq - s) + 1 : 0;

	next = malloc(klen + sizeof(DPP_REDACTED));
	if (next == NULL)
		return -1;
	memcpy(next, s, klen);
	memcpy(next + klen, DPP_REDACTED, sizeof(DPP_REDACTED));
	/* cJSON_SetValuestring cannot grow a string, so swap the buffer. */
	if (!(v->type & cJSON_IsReference))
		cJSON_free(v->valuestring);
	v->valuestring = next;
	v->type &= ~cJSON_IsReference;
	return 0;
}

static int redact_value(cJSON *v)
{
	cJSON *child;

	if (cJSON_IsString(v))
		return redact_string(v, 0);
	if (cJSON_IsNumber(v) || cJSON_IsRaw(v)) {
		/* numbers are cJSON_Raw literals (dpp_json_parse_exact) */
		char *zero = cJSON_malloc(2);

		if (zero == NULL)
			return -1;
		memcpy(zero, "0", 2);
		if (!(v->type & cJSON_IsReference))
			cJSON_free(v->valuestring);
		v->valuestring = zero;
		v->type = (v->type & ~(0xFF | cJSON_IsReference)) | cJSON_Raw;
		return 0;
	}
	if (cJSON_IsBool(v)) {
		v->type = (v->type & ~0xFF) | cJSON_False;
		return 0;
	}
	if (cJSON_IsArray(v)) {
		cJSON_ArrayForEach(child, v) {
			int rc = cJSON_IsString(child) ? redact_string(child, 1) : redact_value(child);

			if (rc != 0)
				return -1;
		}
		return 0;
	}
	if (cJSON_IsObject(v)) {
		cJSON_ArrayForEach(child, v) {
			if (redact_value(child) != 0)
				return -1;
		}
	}
	return 0;
}

static int is_index(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s))
			return 0;
	}
	return 1;
}

static int act(cJSON *parent, cJSON *item, const struct dpp_filter *f)
{
	cJSON *copy;

	switch (f->action) {
	case DPP_FILTER_REDACT:
		return redact_value(item);
	case DPP_FILTER_REMOVE:
		cJSON_Delete(cJSON_DetachItemViaPointer(parent, item));
		return 0;
	case DPP_FILTER_REPLACE:
		copy = f->value != NULL ? cJSON_Duplicate(f->value, 1) : cJSON_CreateNull();
		if (copy == NULL)
			return -1;
		/* In an object the replacement must carry the key. */
		if (item->string != NULL) {
			copy->string = strdup(item->string);
			if (copy->string == NULL) {
				cJSON_Delete(copy);
				return -1;
			}
		}
		if (!cJSON_ReplaceItemViaPointer(parent, item, copy)) {
			cJSON_Delete(copy);
			return -1;
		}
		return 0;
	}
	return -1;
}

/* Walks seg[0..n) from node; applies f to every match. */
static int walk(cJSON *node, char **seg, size_t n, const struct dpp_filter *f)
{
	cJSON *child, *next;
	int wildcard = strcmp(seg[0], "*") == 0;

	if (cJSON_IsObject(node) || cJSON_IsArray(node)) {
		long idx = cJSON_IsArray(node) && is_index(seg[0]) ? strtol(seg[0], NULL, 10) : -1;
		long i = 0;

		for (child = node->child; child != NULL; child = next, i++) {
			int match;

			next = child->next; /* act() may delete child */
			if (wildcard)
				match = 1;
			else if (cJSON_IsArray(node))
				match = i == idx;
			else
				match = child->string != NULL && strcasecmp(child->string, seg[0]) == 0;
			if (!match)
				continue;
			if (n == 1) {
				if (act(node, child, f) != 0)
					return -1;
			} else if (walk(child, seg + 1, n - 1, f) != 0) {
				return -1;
			}
		}
	}
	return 0;
}

static int apply_one(cJSON *doc, const struct dpp_filter *f)
{
	char buf[MAX_FIELD];
	char *seg[MAX_SEGMENTS];
	size_t n = 0;
	char *p, *save = NULL;

	if (f->field == NULL || strlen(f->field) >= sizeof(buf))
		return -1;
	strcpy(buf, f->field);
	for (p = strtok_r(buf, ".", &save); p != NULL; p = strtok_r(NULL, ".", &save)) {
		if (n == MAX_SEGMENTS)
			return -1;
		seg[n++] = p;
	}
	if (n == 0)
		return -1;
	return walk(doc, seg, n, f);
}

int dpp_redact_apply(const char *body, size_t len, const struct dpp_filter *filters, size_t n,
		     char **out, size_t *out_len, const char **err)
{
	cJSON *doc = NULL, *el;
	char *text = NULL;
	int rc = -1;

	*out = NULL;
	*out_len = 0;
	/* Numbers stay as Docker wrote them (int64 sizes beyond 2^53, 1e400);
	 * cJSON keeps key order. Only the fields a filter names change. */
	doc = dpp_json_parse_exact(body, len, NULL);
	if (doc == NULL) {
		*err = "the response is not valid JSON";
		goto cleanup;
	}
	for (size_t i = 0; i < n; i++) {
		if (cJSON_IsArray(doc)) {
			cJSON_ArrayForEach(el, doc) {
				if (apply_one(el, &filters[i]) != 0)
					goto fail;
			}
		} else if (apply_one(doc, &filters[i]) != 0) {
			goto fail;
		}
	}
	text = cJSON_PrintUnformatted(doc);
	if (text == NULL)
		goto fail;
	*out_len = strlen(text) + 1;
	*out = malloc(*out_len + 1);
	if (*out == NULL)
		goto fail;
	/* Docker ends JSON bodies with a newline; keep that. */
	memcpy(*out, text, *out_len - 1);
	(*out)[*out_len - 1] = '\n';
	(*out)[*out_len] = '\0';
	rc = 0;
	goto cleanup;
fail:
	*err = "cannot apply the response filter (out of memory or invalid field)";
cleanup:
	cJSON_free(text);
	cJSON_Delete(doc);
	return rc;
}
