/* Helpers shared by the policy unit tests: YAML documents from strings, a
 * simple body lookup over cJSON, a query lookup over a YAML mapping. */
#ifndef DPP_TEST_POLICY_FIXTURE_H
#define DPP_TEST_POLICY_FIXTURE_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <yaml.h>

#include "dpp/policy.h"
#include "rules_yaml.h"

/* Loads text into doc. Returns 0, or -1 on a YAML syntax error. */
static inline int fx_load(yaml_document_t *doc, const char *text)
{
	yaml_parser_t parser;
	int ok;

	if (!yaml_parser_initialize(&parser))
		return -1;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
	ok = yaml_parser_load(&parser, doc);
	yaml_parser_delete(&parser);
	return ok ? 0 : -1;
}

/* Value node of `key` in the mapping node map, or NULL. */
static inline yaml_node_t *fx_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *p;

	if (map == NULL || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);

		if (k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
			return yaml_document_get_node(doc, p->value);
	}
	return NULL;
}

static inline const char *fx_text(yaml_node_t *n)
{
	return n != NULL && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value
							 : NULL;
}

/* Compiles the `rules` key of a whole YAML text as file "test.yaml". */
static inline int fx_compile(const char *text, struct dpp_ruleset **rs, char **errors)
{
	yaml_document_t doc;
	int rc;

	*rs = NULL;
	*errors = NULL;
	if (fx_load(&doc, text) < 0)
		return -2;
	rc = dpp_ruleset_compile(&doc, fx_get(&doc, yaml_document_get_root_node(&doc), "rules"),
				 "test.yaml", rs, errors);
	yaml_document_delete(&doc);
	return rc;
}

/* body_get over a parsed cJSON document: case-sensitive keys, decimal array
 * indexes. ctx is the cJSON root. */
static inline const struct cJSON *fx_body_get(void *ctx, const char *const *segs, size_t n)
{
	const cJSON *j = ctx;
	size_t i;

	for (i = 0; i < n && j != NULL; i++) {
		if (cJSON_IsArray(j)) {
			char *end;
			long idx = strtol(segs[i], &end, 10);

			if (*segs[i] == '\0' || *end != '\0' || idx < 0)
				return NULL;
			j = cJSON_GetArrayItem(j, (int)idx);
		} else if (cJSON_IsObject(j)) {
			j = cJSON_GetObjectItemCaseSensitive(j, segs[i]);
		} else {
			return NULL;
		}
	}
	return j;
}

/* A tiny query table: NULL-terminated name/value pairs; first value wins. */
static inline const char *fx_query_get(void *ctx, const char *name)
{
	const char *const *kv = ctx;

	for (; kv[0] != NULL; kv += 2) {
		if (strcmp(kv[0], name) == 0)
			return kv[1];
	}
	return NULL;
}

#endif
