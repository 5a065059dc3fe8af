/* YAML helpers shared by unit tests that compile config sections. */
#ifndef DPP_TEST_YAML_FIXTURE_H
#define DPP_TEST_YAML_FIXTURE_H

#include <string.h>

#include <yaml.h>

/* Value node of the top-level key `name`, or NULL. */
static inline const yaml_node_t *top_key(yaml_document_t *doc, const char *name)
{
	yaml_node_t *root = yaml_document_get_root_node(doc);

	if (root == NULL || root->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);

		if (k != NULL && k->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)k->data.scalar.value, name) == 0)
			return yaml_document_get_node(doc, p->value);
	}
	return NULL;
}

#endif
