/* Build tool: writes docker-policy-proxy.yaml(5) from its template,
 * replacing the line "@SCHEMA_KEYS@" with one list entry per row of the
 * config schema (dpp_config_schema_get), so the manual's keys, defaults,
 * ranges, environment variables, flags and reload behaviour are the
 * loader's own and cannot drift.
 *
 *   mangen TEMPLATE OUTPUT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpp/config.h"

static const char *type_name(enum dpp_config_type t)
{
	switch (t) {
	case DPP_CONFIG_STRING: return "string";
	case DPP_CONFIG_INT: return "integer";
	case DPP_CONFIG_ENUM: return "keyword";
	case DPP_CONFIG_BOOL: return "boolean";
	case DPP_CONFIG_MAPPING: return "mapping";
	case DPP_CONFIG_LIST: return "list";
	case DPP_CONFIG_OPAQUE: return "section";
	}
	return "value";
}

/* Text for mdoc: one sentence per line, lines wrapped before 80 bytes,
 * backslashes escaped, no line starting with a control character. */
static void text(FILE *out, const char *s)
{
	size_t col = 0;
	const char *p = s;

	while (*p != '\0') {
		size_t w = strcspn(p, " ");
		int end_sentence = w > 0 && p[w - 1] == '.' && p[w] == ' ' && p[w + 1] >= 'A' &&
				   p[w + 1] <= 'Z';

		if (col > 0 && col + 1 + w > 78) {
			fputc('\n', out);
			col = 0;
		} else if (col > 0) {
			fputc(' ', out);
			col++;
		}
		if (col == 0 && (*p == '.' || *p == '\''))
			fputs("\\&", out);
		for (size_t i = 0; i < w; i++) {
			if (p[i] == '\\')
				fputs("\\e", out);
			else
				fputc(p[i], out);
		}
		col += w;
		p += w;
		while (*p == ' ')
			p++;
		if (end_sentence && *p != '\0') {
			fputc('\n', out);
			col = 0;
		}
	}
	fputc('\n', out);
}

static void keys(FILE *out)
{
	const struct dpp_config_key *k;

	fputs(".Bl -tag -width Ds\n", out);
	for (size_t i = 0; (k = dpp_config_schema_get(i)) != NULL; i++) {
		fprintf(out, ".It Cm %s Pq %s\n", k->key, type_name(k->type));
		text(out, k->help);
		if (k->type == DPP_CONFIG_INT)
			fprintf(out, "Range: %ld to %ld.\n", k->min, k->max);
		if (k->type == DPP_CONFIG_ENUM && k->choices != NULL) {
			fputs("One of:", out);
			for (size_t j = 0; k->choices[j] != NULL; j++)
				fprintf(out, " %s%s", k->choices[j], k->choices[j + 1] != NULL ? "," : ".\n");
		}
		if (k->def != NULL && k->def[0] != '\0')
			fprintf(out, "Default: %s.\n", k->def);
		else if (k->def != NULL)
			fputs("Default: \\(dq\\(dq (empty).\n", out);
		if (k->env != NULL)
			fprintf(out, "Environment:\n.Ev %s .\n", k->env);
		if (k->flag != NULL)
			fprintf(out, "Flag:\n.Fl %s .\n", k->flag + 1);
		if (k->type != DPP_CONFIG_MAPPING)
			fputs(k->reloadable ? "Reloadable.\n" : "Restart-only.\n", out);
	}
	fputs(".El\n", out);
}

int main(int argc, char **argv)
{
	char line[4096];
	FILE *in, *out;
	int found = 0, rc;

	if (argc != 3) {
		fprintf(stderr, "usage: mangen TEMPLATE OUTPUT\n");
		return 2;
	}
	in = fopen(argv[1], "r");
	out = fopen(argv[2], "w");
	if (in == NULL || out == NULL) {
		perror("mangen");
		return 1;
	}
	while (fgets(line, sizeof(line), in) != NULL) {
		if (strcmp(line, "@SCHEMA_KEYS@\n") == 0) {
			keys(out);
			found = 1;
		} else {
			fputs(line, out);
		}
	}
	rc = ferror(in) || !found;
	fclose(in);
	if (fclose(out) != 0 || rc) {
		fprintf(stderr, "mangen: %s\n", found ? "write error" : "no @SCHEMA_KEYS@ line");
		remove(argv[2]);
		return 1;
	}
	return 0;
}
