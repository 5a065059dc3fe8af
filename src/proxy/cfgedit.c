/* Text edits of the configuration, positioned by libyaml's node marks (see
 * dpp/cfgedit.h). The YAML is only parsed here to find byte offsets; the
 * edited text is always re-validated by the real loader before use. */
#include "dpp/cfgedit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <yaml.h>

#include "yaml_util.h"

struct doc {
	yaml_document_t d;
	int loaded;
	yaml_node_t *rules_key; /* the `rules` key scalar, or NULL */
	yaml_node_t *rules;     /* its value, or NULL */
};

__attribute__((format(printf, 2, 3))) static void set_err(char **err, const char *fmt, ...)
{
	va_list ap;
	char buf[512];

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	free(*err);
	*err = strdup(buf);
}

static const char *scalar(const yaml_node_t *n)
{
	return n != NULL && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int doc_load(const char *text, struct doc *D, char **err)
{
	yaml_parser_t p;
	yaml_node_t *root;
	int rc = -1;

	memset(D, 0, sizeof(*D));
	if (!yaml_parser_initialize(&p)) {
		set_err(err, "out of memory");
		return -1;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
	if (!yaml_parser_load(&p, &D->d)) {
		set_err(err, "line %lu column %lu: %s", (unsigned long)p.problem_mark.line + 1,
			(unsigned long)p.problem_mark.column + 1,
			p.problem != NULL ? p.problem : "YAML syntax error");
		goto cleanup;
	}
	D->loaded = 1;
	root = yaml_document_get_root_node(&D->d);
	if (root != NULL && root->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
		     pr < root->data.mapping.pairs.top; pr++) {
			yaml_node_t *k = yaml_document_get_node(&D->d, pr->key);
			const char *ks = scalar(k);

			if (ks != NULL && strcmp(ks, "rules") == 0) {
				D->rules_key = k;
				D->rules = yaml_document_get_node(&D->d, pr->value);
			}
		}
	}
	rc = 0;
cleanup:
	yaml_parser_delete(&p);
	return rc;
}

static void doc_done(struct doc *D)
{
	if (D->loaded)
		yaml_document_delete(&D->d);
	D->loaded = 0;
}

static yaml_node_t *map_get(struct doc *D, yaml_node_t *m, const char *key, yaml_node_t **keynode)
{
	if (m == NULL || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *k = yaml_document_get_node(&D->d, pr->key);
		const char *ks = scalar(k);

		if (ks != NULL && strcmp(ks, key) == 0) {
			if (keynode != NULL)
				*keynode = k;
			return yaml_document_get_node(&D->d, pr->value);
		}
	}
	return NULL;
}

static int is_flow(const yaml_node_t *n)
{
	return (n->type == YAML_MAPPING_NODE &&
		n->data.mapping.style == YAML_FLOW_MAPPING_STYLE) ||
	       (n->type == YAML_SEQUENCE_NODE &&
		n->data.sequence.style == YAML_FLOW_SEQUENCE_STYLE);
}

/* Largest end offset of anything inside n (block collections' own end marks
 * point past trailing blank lines and comments, so they are not used). */
static size_t max_end(struct doc *D, yaml_node_t *n, int depth)
{
	size_t m = n->start_mark.index;

	if (n->type == YAML_SCALAR_NODE || is_flow(n) || depth > 64)
		return n->end_mark.index;
	if (n->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
		     pr < n->data.mapping.pairs.top; pr++) {
			size_t a = max_end(D, yaml_document_get_node(&D->d, pr->key), depth + 1);
			size_t b = max_end(D, yaml_document_get_node(&D->d, pr->value), depth + 1);

			m = a > m ? a : m;
			m = b > m ? b : m;
		}
	} else if (n->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++) {
			size_t a = max_end(D, yaml_document_get_node(&D->d, *it), depth + 1);

			m = a > m ? a : m;
		}
	}
	return m;
}

static size_t line_start(const char *text, size_t i)
{
	while (i > 0 && text[i - 1] != '\n')
		i--;
	return i;
}

/* Offset just past the newline ending the line that holds offset i - 1. */
static size_t line_after(const char *text, size_t len, size_t i)
{
	if (i == 0)
		return 0;
	i--;
	while (i < len && text[i] != '\n')
		i++;
	return i < len ? i + 1 : len;
}

/* Offset of the "- " introducing the sequence item that starts at `start`. */
static size_t dash_of(const char *text, size_t start)
{
	size_t q = start;

	while (q > 0 && (text[q - 1] == ' ' || text[q - 1] == '\t' || text[q - 1] == '\n' ||
			 text[q - 1] == '\r'))
		q--;
	if (q > 0 && text[q - 1] == '-')
		return q - 1;
	return start;
}

struct span {
	yaml_node_t *rule;
	size_t start, end; /* whole lines of the item */
	size_t col;        /* column of its "- " */
};

static int find_rule(const char *text, struct doc *D, const char *name, struct span *sp,
		     char **err)
{
	size_t len = strlen(text);

	if (D->rules == NULL || D->rules->type != YAML_SEQUENCE_NODE) {
		set_err(err, "the file has no rules list");
		return -1;
	}
	for (yaml_node_item_t *it = D->rules->data.sequence.items.start;
	     it < D->rules->data.sequence.items.top; it++) {
		yaml_node_t *r = yaml_document_get_node(&D->d, *it);
		const char *n = scalar(map_get(D, r, "name", NULL));
		size_t dash;

		if (n == NULL || strcmp(n, name) != 0)
			continue;
		if (is_flow(r) || is_flow(D->rules)) {
			set_err(err, "rule \"%s\" is written in flow style; edit the whole file (E)",
				name);
			return -1;
		}
		dash = dash_of(text, r->start_mark.index);
		sp->rule = r;
		sp->start = line_start(text, dash);
		sp->col = dash - sp->start;
		sp->end = line_after(text, len, max_end(D, r, 0));
		return 0;
	}
	set_err(err, "no rule named \"%s\" in the file", name);
	return -1;
}

/* text[0..a) + mid + text[b..) */
static int splice(const char *text, size_t a, size_t b, const char *mid, char **out, char **err)
{
	size_t len = strlen(text), ml = strlen(mid);
	char *s = malloc(len - (b - a) + ml + 1);

	if (s == NULL) {
		set_err(err, "out of memory");
		return -1;
	}
	memcpy(s, text, a);
	memcpy(s + a, mid, ml);
	memcpy(s + a + ml, text + b, len - b);
	s[len - (b - a) + ml] = '\0';
	*out = s;
	return 0;
}

/* Every non-empty line of src prefixed with col spaces; ends with '\n'. */
static char *reindent(const char *src, size_t col)
{
	size_t lines = 1, len = strlen(src);
	char *out, *o;

	for (const char *p = src; *p != '\0'; p++)
		lines += *p == '\n';
	out = malloc(len + lines * (col + 1) + 2);
	if (out == NULL)
		return NULL;
	o = out;
	for (const char *p = src; *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);

		if (n > 0) {
			memset(o, ' ', col);
			o += col;
			memcpy(o, p, n);
			o += n;
		}
		*o++ = '\n';
		p += n + (nl != NULL);
	}
	*o = '\0';
	return out;
}

/* One rule as given by the operator: a list of exactly one mapping with a
 * name. Returns 0 and the name (malloc'd) or -1 with *err. */
static int check_rule_yaml(const char *rule_yaml, char **name, char **err)
{
	yaml_parser_t p;
	yaml_document_t d;
	yaml_node_t *root, *item;
	int rc = -1;

	*name = NULL;
	if (!yaml_parser_initialize(&p)) {
		set_err(err, "out of memory");
		return -1;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)rule_yaml, strlen(rule_yaml));
	if (!yaml_parser_load(&p, &d)) {
		set_err(err, "line %lu column %lu: %s", (unsigned long)p.problem_mark.line + 1,
			(unsigned long)p.problem_mark.column + 1,
			p.problem != NULL ? p.problem : "YAML syntax error");
		yaml_parser_delete(&p);
		return -1;
	}
	root = yaml_document_get_root_node(&d);
	if (root == NULL || root->type != YAML_SEQUENCE_NODE || is_flow(root) ||
	    root->data.sequence.items.top - root->data.sequence.items.start != 1) {
		set_err(err, "line 1 column 1: expected a list with exactly one rule (\"- name: ...\")");
		goto cleanup;
	}
	item = yaml_document_get_node(&d, *root->data.sequence.items.start);
	if (item == NULL || item->type != YAML_MAPPING_NODE || is_flow(item)) {
		set_err(err, "line 1 column 1: the rule must be a block mapping (\"- name: ...\")");
		goto cleanup;
	}
	for (yaml_node_pair_t *pr = item->data.mapping.pairs.start;
	     pr < item->data.mapping.pairs.top; pr++) {
		const char *k = scalar(yaml_document_get_node(&d, pr->key));
		yaml_node_t *v = yaml_document_get_node(&d, pr->value);

		if (k != NULL && strcmp(k, "name") == 0 && scalar(v) != NULL)
			*name = strdup(scalar(v));
	}
	if (*name == NULL) {
		set_err(err, "line %lu column %lu: the rule has no name",
			(unsigned long)item->start_mark.line + 1,
			(unsigned long)item->start_mark.column + 1);
		goto cleanup;
	}
	rc = 0;
cleanup:
	yaml_document_delete(&d);
	yaml_parser_delete(&p);
	return rc;
}

int dpp_cfgedit_set_rule_key(const char *text, const char *name, const char *key,
			     const char *value, char **out, char **err)
{
	struct doc D;
	struct span sp;
	yaml_node_t *v, *namekey = NULL, *nameval;
	char *line = NULL;
	int rc = -1;

	*out = NULL;
	if (doc_load(text, &D, err) != 0)
		return -1;
	if (find_rule(text, &D, name, &sp, err) != 0)
		goto cleanup;
	v = map_get(&D, sp.rule, key, NULL);
	if (v != NULL) {
		if (v->type != YAML_SCALAR_NODE) {
			set_err(err, "rule \"%s\": %s is not a scalar", name, key);
			goto cleanup;
		}
		rc = splice(text, v->start_mark.index, v->end_mark.index, value, out, err);
		goto cleanup;
	}
	nameval = map_get(&D, sp.rule, "name", &namekey);
	{
		size_t at = line_after(text, strlen(text), nameval->end_mark.index);
		size_t n = strlen(key) + strlen(value) + namekey->start_mark.column + 8;
		int need_nl = at > 0 && text[at - 1] != '\n';

		line = malloc(n);
		if (line == NULL) {
			set_err(err, "out of memory");
			goto cleanup;
		}
		snprintf(line, n, "%s%*s%s: %s\n", need_nl ? "\n" : "",
			 (int)namekey->start_mark.column, "", key, value);
		rc = splice(text, at, at, line, out, err);
	}
cleanup:
	free(line);
	doc_done(&D);
	return rc;
}

int dpp_cfgedit_rule_text(const char *text, const char *name, char **out, char **err)
{
	struct doc D;
	struct span sp;
	char *s, *o;
	int rc = -1;

	*out = NULL;
	if (doc_load(text, &D, err) != 0)
		return -1;
	if (find_rule(text, &D, name, &sp, err) != 0)
		goto cleanup;
	s = malloc(sp.end - sp.start + 2);
	if (s == NULL) {
		set_err(err, "out of memory");
		goto cleanup;
	}
	/* Dedent by the dash column where a line has that much indentation. */
	o = s;
	for (size_t i = sp.start; i < sp.end;) {
		size_t k = 0;

		while (k < sp.col && i + k < sp.end && text[i + k] == ' ')
			k++;
		i += k;
		while (i < sp.end && text[i] != '\n')
			*o++ = text[i++];
		if (i < sp.end)
			*o++ = text[i++];
	}
	if (o == s || o[-1] != '\n')
		*o++ = '\n';
	*o = '\0';
	*out = s;
	rc = 0;
cleanup:
	doc_done(&D);
	return rc;
}

int dpp_cfgedit_replace_rule(const char *text, const char *name, const char *rule_yaml,
			     char **out, char **err)
{
	struct doc D;
	struct span sp;
	char *ind = NULL, *newname = NULL;
	int rc = -1;

	*out = NULL;
	if (check_rule_yaml(rule_yaml, &newname, err) != 0)
		return -1;
	if (doc_load(text, &D, err) != 0)
		goto cleanup_name;
	if (find_rule(text, &D, name, &sp, err) != 0)
		goto cleanup;
	ind = reindent(rule_yaml, sp.col);
	if (ind == NULL) {
		set_err(err, "out of memory");
		goto cleanup;
	}
	rc = splice(text, sp.start, sp.end, ind, out, err);
cleanup:
	free(ind);
	doc_done(&D);
cleanup_name:
	free(newname);
	return rc;
}

int dpp_cfgedit_append_rule(const char *text, const char *rule_yaml, char **out, char **err)
{
	struct doc D;
	char *ind = NULL, *newname = NULL, *mid = NULL;
	size_t len = strlen(text);
	int rc = -1;

	*out = NULL;
	if (check_rule_yaml(rule_yaml, &newname, err) != 0)
		return -1;
	if (doc_load(text, &D, err) != 0)
		goto cleanup_name;
	if (D.rules != NULL && D.rules->type == YAML_SEQUENCE_NODE && !is_flow(D.rules) &&
	    D.rules->data.sequence.items.top > D.rules->data.sequence.items.start) {
		yaml_node_item_t *first = D.rules->data.sequence.items.start;
		yaml_node_t *f = yaml_document_get_node(&D.d, *first);
		size_t dash = dash_of(text, f->start_mark.index);
		size_t at = line_after(text, len, max_end(&D, D.rules, 0));

		ind = reindent(rule_yaml, dash - line_start(text, dash));
		if (ind == NULL)
			goto oom;
		if (at > 0 && text[at - 1] != '\n') {
			mid = malloc(strlen(ind) + 2);
			if (mid == NULL)
				goto oom;
			snprintf(mid, strlen(ind) + 2, "\n%s", ind);
		}
		rc = splice(text, at, at, mid != NULL ? mid : ind, out, err);
		goto cleanup;
	}
	ind = reindent(rule_yaml, 2);
	if (ind == NULL)
		goto oom;
	mid = malloc(strlen(ind) + 16);
	if (mid == NULL)
		goto oom;
	if (D.rules != NULL &&
	    ((D.rules->type == YAML_SCALAR_NODE && dpp_yaml_is_null(D.rules)) ||
	     (D.rules->type == YAML_SEQUENCE_NODE && is_flow(D.rules) &&
	      D.rules->data.sequence.items.top == D.rules->data.sequence.items.start))) {
		/* `rules:` / `rules: null` / `rules: []`: the value becomes the list. */
		size_t a = D.rules_key->end_mark.index, b = D.rules->end_mark.index;

		while (a < len && text[a] != ':')
			a++;
		if (a < len)
			a++;
		if (b < a)
			b = a;
		snprintf(mid, strlen(ind) + 16, "\n%s", ind);
		/* Drop the newline the old value line ended with. */
		if (b < len && text[b] == '\n')
			b++;
		rc = splice(text, a, b, mid, out, err);
		goto cleanup;
	}
	if (D.rules != NULL) {
		set_err(err, "rules is not a list; edit the whole file (E)");
		goto cleanup;
	}
	snprintf(mid, strlen(ind) + 16, "%srules:\n%s", len > 0 && text[len - 1] != '\n' ? "\n" : "",
		 ind);
	rc = splice(text, len, len, mid, out, err);
	goto cleanup;
oom:
	set_err(err, "out of memory");
cleanup:
	free(mid);
	free(ind);
	doc_done(&D);
cleanup_name:
	free(newname);
	return rc;
}

int dpp_cfgedit_delete_rule(const char *text, const char *name, char **out, char **err)
{
	struct doc D;
	struct span sp;
	int rc = -1;

	*out = NULL;
	if (doc_load(text, &D, err) != 0)
		return -1;
	if (find_rule(text, &D, name, &sp, err) == 0)
		rc = splice(text, sp.start, sp.end, "", out, err);
	doc_done(&D);
	return rc;
}

int dpp_cfgedit_rule_priority(const char *text, const char *name, long *out, char **err)
{
	struct doc D;
	struct span sp;
	const char *v;
	char *end = NULL;
	int rc = -1;

	*out = 0;
	if (doc_load(text, &D, err) != 0)
		return -1;
	if (find_rule(text, &D, name, &sp, err) != 0)
		goto cleanup;
	v = scalar(map_get(&D, sp.rule, "priority", NULL));
	if (v != NULL) {
		*out = strtol(v, &end, 10);
		if (end == v || *end != '\0') {
			set_err(err, "rule \"%s\": priority \"%s\" is not a number", name, v);
			goto cleanup;
		}
	}
	rc = 0;
cleanup:
	doc_done(&D);
	return rc;
}

int dpp_cfgedit_version(const char *text, size_t len, char out[65])
{
	unsigned char d[32];

	out[0] = '\0';
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, text, len, d) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(d); i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	return 0;
}
