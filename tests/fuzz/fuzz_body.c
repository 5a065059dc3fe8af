/* libFuzzer target for src/proxy/body.c (build: tests/fuzz/build_body.sh).
 *
 * Besides "no crash, no leak, no out-of-bounds read" it checks invariants that
 * tie the passes together:
 *   - status and out-parameters agree (OK: document and no error; else no
 *     document; EMPTY only for JSON-whitespace input);
 *   - every number in an accepted document carries its literal text, and
 *     strtod of that text is cJSON's double (the texts are attached in the
 *     right order);
 *   - every member of an accepted document is found again by dpp_body_lookup
 *     through its own path (so no undetected duplicate shadows another), and
 *     null members read as absent; dpp_body_each over the same concrete
 *     path visits that member once (none when null);
 *   - dpp_body_text of an accepted document, and the print of
 *     dpp_json_parse_exact's tree, are valid JSON again;
 *   - dotted-path parsing and the body-kind table accept arbitrary strings. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpp/body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SEGS (DPP_BODY_MAX_DEPTH_LIMIT + 1)

struct ctx {
	const struct dpp_body_doc *doc;
	const char *segs[MAX_SEGS];
	char idx[MAX_SEGS][24];
	size_t n;
};

struct one {
	const cJSON *seen;
	int calls;
};

static int one_fn(void *arg, const cJSON *v)
{
	struct one *o = arg;

	o->seen = v;
	o->calls++;
	return 0;
}

static int path_has_any(const char *const *segs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(segs[i], DPP_BODY_ANY) == 0)
			return 1;
	return 0;
}

static void check_node(struct ctx *c, const cJSON *node)
{
	const cJSON *child;
	size_t i = 0;

	if (cJSON_IsNumber(node)) {
		const char *t = dpp_body_number_text(node);
		double d;

		if (t == NULL)
			__builtin_trap();
		d = strtod(t, NULL);
		if (!(d == node->valuedouble))
			__builtin_trap();
	}
	if (!cJSON_IsObject(node) && !cJSON_IsArray(node))
		return;
	if (c->n >= MAX_SEGS)
		__builtin_trap(); /* deeper than the depth limit allows */
	for (child = node->child; child != NULL; child = child->next, i++) {
		const cJSON *got;

		if (cJSON_IsObject(node)) {
			c->segs[c->n] = child->string;
		} else {
			snprintf(c->idx[c->n], sizeof(c->idx[c->n]), "%zu", i);
			c->segs[c->n] = c->idx[c->n];
		}
		got = dpp_body_lookup(c->doc, c->segs, c->n + 1);
		if (cJSON_IsNull(child) ? got != NULL : got != child)
			__builtin_trap();
		/* dpp_body_each over a concrete path: that value once, or none
		 * (a literal "*" key is expanded instead: skip it) */
		if (!path_has_any(c->segs, c->n + 1)) {
			struct one o = {NULL, 0};

			if (dpp_body_each(c->doc, c->segs, c->n + 1, one_fn, &o) != 0 ||
			    o.calls != (cJSON_IsNull(child) ? 0 : 1) ||
			    (o.calls == 1 && o.seen != child))
				__builtin_trap();
		}
		c->n++;
		check_node(c, child);
		c->n--;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dpp_body_doc *doc = NULL;
	struct dpp_body_path *path = NULL;
	enum dpp_body_status st;
	char *err = NULL, *str = NULL;
	const char *perr = NULL;
	int max_depth = 0;
	size_t i;

	/* first byte picks a small depth limit now and then */
	if (size > 0 && data[0] == 0x01 && size > 1) {
		max_depth = data[1] % 8;
		data += 2;
		size -= 2;
	}
	st = dpp_body_parse((const char *)data, size, max_depth, &doc, &err);
	switch (st) {
	case DPP_BODY_OK: {
		struct ctx *c;

		if (doc == NULL || err != NULL || dpp_body_root(doc) == NULL)
			__builtin_trap();
		c = calloc(1, sizeof(*c));
		if (c == NULL)
			break;
		c->doc = doc;
		if (cJSON_IsNull(dpp_body_root(doc)) ? dpp_body_lookup(doc, NULL, 0) != NULL
						     : dpp_body_lookup(doc, NULL, 0) != dpp_body_root(doc))
			__builtin_trap();
		check_node(c, dpp_body_root(doc));
		free(c);
		{
			char *cerr = NULL;
			int rc = dpp_body_check_create(doc, &cerr);

			if ((rc == 0) != (cerr == NULL) && !(rc < 0 && cerr == NULL))
				__builtin_trap();
			free(cerr);
		}
		{
			/* the rules' JSON text: valid JSON with the same numbers */
			char *text = dpp_body_text(dpp_body_root(doc));
			cJSON *back;

			if (text == NULL)
				break; /* allocation failure */
			back = cJSON_Parse(text);
			if (back == NULL)
				__builtin_trap();
			cJSON_Delete(back);
			free(text);
		}
		break;
	}
	case DPP_BODY_EMPTY:
		if (doc != NULL || err != NULL)
			__builtin_trap();
		for (i = 0; i < size; i++)
			if (strchr(" \t\r\n", data[i]) == NULL || data[i] == '\0')
				__builtin_trap();
		break;
	case DPP_BODY_INVALID:
	case DPP_BODY_NOMEM:
		if (doc != NULL)
			__builtin_trap();
		break;
	default:
		__builtin_trap();
	}
	free(err);
	dpp_body_free(doc);

	/* response filters' parse: printing gives valid JSON back */
	{
		cJSON *exact = dpp_json_parse_exact((const char *)data, size, NULL);

		if (exact != NULL) {
			char *text = cJSON_PrintUnformatted(exact);

			if (text != NULL) {
				cJSON *back = cJSON_Parse(text);

				if (back == NULL)
					__builtin_trap();
				cJSON_Delete(back);
				cJSON_free(text);
			}
			cJSON_Delete(exact);
		}
	}

	/* the same bytes as a dotted path and as a method/path pair */
	str = malloc(size + 1);
	if (str == NULL)
		return 0;
	memcpy(str, data, size);
	str[size] = '\0';
	if (dpp_body_path_parse(str, &path, &perr) == 0) {
		if (path == NULL || perr != NULL || dpp_body_path_count(path) == 0)
			__builtin_trap();
		for (i = 0; i < dpp_body_path_count(path); i++)
			if (dpp_body_path_segment(path, i) == NULL)
				__builtin_trap();
	} else if (path != NULL || perr == NULL) {
		__builtin_trap();
	}
	dpp_body_path_free(path);
	{
		char *sp = strchr(str, ' ');
		enum dpp_body_kind k;

		if (sp != NULL) {
			*sp = '\0';
			k = dpp_body_kind(str, sp + 1);
			if (k != DPP_BODY_NONE && k != DPP_BODY_JSON && k != DPP_BODY_STREAM)
				__builtin_trap();
		}
	}
	free(str);
	return 0;
}
