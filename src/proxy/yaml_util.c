#include "yaml_util.h"

#include <string.h>

int dpp_yaml_is_null(const yaml_node_t *n)
{
	const char *v;

	if (n == NULL)
		return 1;
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	v = (const char *)n->data.scalar.value;
	return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	       strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

const char *dpp_yaml_index_text(size_t i, char num[24])
{
	size_t d = 24;

	num[--d] = '\0';
	num[--d] = ']';
	do {
		num[--d] = (char)('0' + i % 10);
		i /= 10;
	} while (i != 0);
	num[--d] = '[';
	return num + d;
}
