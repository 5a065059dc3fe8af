/* Rule dispatch (see dispatch.h for the exactness argument).
 *
 * Path keys go into a character trie of literal prefixes (an `equals` value
 * is a prefix of every path it equals); walking the request path down the
 * trie collects every rule whose prefix the path starts with. Method keys are
 * a bitmask per rule. Rules without a path key are in the `wild` bitmap. */
#include "dispatch.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NO_NODE UINT32_MAX

/* Methods a method key can name; anything else is never indexed. */
static const char *const METHODS[] = {"GET", "HEAD", "POST", "PUT", "DELETE",
				      "PATCH", "OPTIONS", "CONNECT", "TRACE"};
#define N_METHODS (sizeof(METHODS) / sizeof(METHODS[0]))
#define BIT_OTHER (1u << 30) /* a request method outside METHODS */
#define BIT_ABSENT (1u << 31) /* no method at all */
#define MASK_ANY UINT32_MAX  /* the rule has no method key */

struct dnode {
	uint32_t child, sibling;
	uint32_t lstart, lcount; /* rules whose prefix ends here: lists[lstart..) */
	unsigned char c;
};

struct dpp_dispatch {
	size_t n_rules, words, indexed;
	uint32_t *method_mask; /* per rule */
	/* By method bit b (32 rows of `words`): the rules whose method_mask
	 * has b, so a request's method filters a whole word at once. */
	uint64_t *method_words;
	uint64_t *wild;        /* rules without a path key */
	struct dnode *nodes;   /* nodes[0] is the root (the empty prefix) */
	size_t n_nodes, cap_nodes;
	uint32_t *lists;
};

struct pair {
	uint32_t node, rule;
};

struct build {
	struct dpp_dispatch *d;
	struct pair *pairs;
	size_t n_pairs, cap_pairs;
};

/* A condition that can never make evaluation fail (return -1): no regex, no
 * header (joining repeated fields allocates), no body. */
bool dpp_dispatch_infallible(const struct rule_cond *cd)
{
	if (cd->kind != COND_LEAF) {
		for (size_t i = 0; i < cd->n_kids; i++) {
			if (!dpp_dispatch_infallible(cd->kids[i]))
				return false;
		}
		return true;
	}
	switch (cd->field) {
	case FIELD_PATH:
	case FIELD_METHOD:
	case FIELD_ENDPOINT:
	case FIELD_QUERY:
	case FIELD_CLIENT_IP:
	case FIELD_ROLE:
	case FIELD_IDENTITY:
		return cd->test != TEST_MATCHES;
	case FIELD_HEADER:
	case FIELD_BODY:
		break;
	}
	return false;
}

static bool literal_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '/' || c == '_' || c == '-';
}

/* True when pat has an alternation outside any group or class (then `^`
 * anchors only the first branch), or a construct this scan does not follow
 * (\Q...\E quoting, comments, POSIX classes): the caller gives up. */
static bool top_level_alternation(const char *pat)
{
	int depth = 0;

	if (strstr(pat, "\\Q") != NULL || strstr(pat, "(?#") != NULL || strstr(pat, "[:") != NULL)
		return true;
	for (const char *p = pat; *p != '\0'; p++) {
		if (*p == '\\') {
			if (p[1] == '\0')
				return true;
			p++;
		} else if (*p == '[') {
			p++;
			if (*p == '^')
				p++;
			if (*p == ']')
				p++; /* a leading ] is literal */
			while (*p != '\0' && *p != ']') {
				if (*p == '\\' && p[1] != '\0')
					p++;
				p++;
			}
			if (*p == '\0')
				return true;
		} else if (*p == '(') {
			depth++;
		} else if (*p == ')') {
			depth--;
		} else if (*p == '|' && depth == 0) {
			return true;
		}
	}
	return false;
}

/* The literal text every match of pat starts with, or -1 when there is none
 * that is safe to use: pat must be `^` and plain characters, with no
 * top-level alternation (rules compile without PCRE2_MULTILINE, so `^` is
 * the start of the path). A quantifier after the run makes its last
 * character optional. Writes at most cap-1 bytes and a NUL. */
static int regex_prefix(const char *pat, char *out, size_t cap)
{
	size_t n = 0;
	const char *p;

	if (pat[0] != '^' || top_level_alternation(pat))
		return -1;
	for (p = pat + 1; literal_char(*p) && n + 1 < cap; p++)
		out[n++] = *p;
	if (n > 0 && (*p == '?' || *p == '*' || *p == '+' || *p == '{'))
		n--;
	out[n] = '\0';
	return n > 0 ? 0 : -1;
}

static uint32_t child_of(struct dpp_dispatch *d, uint32_t node, unsigned char c, bool create)
{
	uint32_t k;

	for (k = d->nodes[node].child; k != NO_NODE; k = d->nodes[k].sibling) {
		if (d->nodes[k].c == c)
			return k;
	}
	if (!create)
		return NO_NODE;
	if (d->n_nodes == d->cap_nodes) {
		size_t cap = d->cap_nodes * 2;
		struct dnode *nn = realloc(d->nodes, cap * sizeof(*nn));

		if (nn == NULL)
			return NO_NODE;
		d->nodes = nn;
		d->cap_nodes = cap;
	}
	k = (uint32_t)d->n_nodes++;
	d->nodes[k] = (struct dnode){.child = NO_NODE, .sibling = d->nodes[node].child, .c = c};
	d->nodes[node].child = k;
	return k;
}

static int add_prefix(struct build *b, const char *prefix, uint32_t rule)
{
	uint32_t node = 0;

	for (const char *p = prefix; *p != '\0'; p++) {
		node = child_of(b->d, node, (unsigned char)*p, true);
		if (node == NO_NODE)
			return -1;
	}
	if (b->n_pairs == b->cap_pairs) {
		size_t cap = b->cap_pairs > 0 ? b->cap_pairs * 2 : 64;
		struct pair *np = realloc(b->pairs, cap * sizeof(*np));

		if (np == NULL)
			return -1;
		b->pairs = np;
		b->cap_pairs = cap;
	}
	b->pairs[b->n_pairs++] = (struct pair){.node = node, .rule = rule};
	return 0;
}

/* A path key: the literal prefixes a positive path leaf needs, or false. */
static bool path_key(const struct rule_cond *cd)
{
	if (cd->kind != COND_LEAF || cd->field != FIELD_PATH || cd->negate || cd->vals == NULL)
		return false;
	return cd->test == TEST_EQUALS || cd->test == TEST_STARTS_WITH ||
	       (cd->test == TEST_MATCHES && cd->vals->child != NULL &&
		cd->vals->child->valuestring != NULL);
}

static int add_path_key(struct build *b, const struct rule_cond *cd, uint32_t rule, bool *ok)
{
	const cJSON *v;
	char pre[256];

	*ok = false;
	if (cd->test == TEST_MATCHES) {
		if (regex_prefix(cd->vals->child->valuestring, pre, sizeof(pre)) != 0)
			return 0;
		*ok = true;
		return add_prefix(b, pre, rule);
	}
	cJSON_ArrayForEach(v, cd->vals) {
		if (!cJSON_IsString(v) || v->valuestring == NULL)
			return 0; /* not a literal: leave the rule unindexed */
	}
	*ok = true;
	cJSON_ArrayForEach(v, cd->vals) {
		if (add_prefix(b, v->valuestring, rule) != 0)
			return -1;
	}
	return 0;
}

static uint32_t method_key(const struct rule_cond *cd)
{
	const cJSON *v;
	uint32_t mask = 0;

	if (cd->kind != COND_LEAF || cd->field != FIELD_METHOD || cd->negate ||
	    cd->test != TEST_EQUALS || cd->vals == NULL)
		return MASK_ANY;
	cJSON_ArrayForEach(v, cd->vals) {
		size_t m;

		if (!cJSON_IsString(v) || v->valuestring == NULL)
			return MASK_ANY;
		for (m = 0; m < N_METHODS; m++) {
			if (strcmp(v->valuestring, METHODS[m]) == 0)
				break;
		}
		if (m == N_METHODS)
			return MASK_ANY; /* an unusual method: keep it simple */
		mask |= 1u << m;
	}
	return mask;
}

/* Finds rule i's keys: the conditions of its AND that come before or at the
 * first one that could fail. */
static int index_rule(struct build *b, const struct rule *r, uint32_t i)
{
	const struct rule_cond *m = r->match;
	const struct rule_cond *const *kids;
	size_t n;
	bool have_path = false, ok;

	b->d->method_mask[i] = MASK_ANY;
	if (m == NULL)
		goto wild;
	if (m->kind == COND_AND) {
		kids = (const struct rule_cond *const *)m->kids;
		n = m->n_kids;
	} else {
		kids = &m;
		n = 1;
	}
	for (size_t k = 0; k < n; k++) {
		if (!have_path && path_key(kids[k])) {
			if (add_path_key(b, kids[k], i, &ok) != 0)
				return -1;
			have_path = ok;
		}
		if (b->d->method_mask[i] == MASK_ANY)
			b->d->method_mask[i] = method_key(kids[k]);
		if (!dpp_dispatch_infallible(kids[k]))
			break;
	}
	if (have_path || b->d->method_mask[i] != MASK_ANY)
		b->d->indexed++;
	if (have_path)
		return 0;
wild:
	b->d->wild[i / 64] |= 1ull << (i % 64);
	return 0;
}

static int pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;

	if (x->node != y->node)
		return x->node < y->node ? -1 : 1;
	return x->rule < y->rule ? -1 : x->rule > y->rule ? 1 : 0;
}

struct dpp_dispatch *dpp_dispatch_build(struct rule *const *rules, size_t n)
{
	struct build b = {0};
	struct dpp_dispatch *d;

	if (n > DPP_RULES_MAX)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	b.d = d;
	d->n_rules = n;
	d->words = (n + 63) / 64;
	d->method_mask = calloc(n > 0 ? n : 1, sizeof(*d->method_mask));
	d->wild = calloc(d->words > 0 ? d->words : 1, sizeof(*d->wild));
	d->cap_nodes = 64;
	d->nodes = malloc(d->cap_nodes * sizeof(*d->nodes));
	if (d->method_mask == NULL || d->wild == NULL || d->nodes == NULL)
		goto fail;
	d->nodes[0] = (struct dnode){.child = NO_NODE, .sibling = NO_NODE};
	d->n_nodes = 1;
	for (size_t i = 0; i < n; i++) {
		if (index_rule(&b, rules[i], (uint32_t)i) != 0)
			goto fail;
	}
	if (b.n_pairs > 0)
		qsort(b.pairs, b.n_pairs, sizeof(*b.pairs), pair_cmp);
	d->lists = malloc((b.n_pairs > 0 ? b.n_pairs : 1) * sizeof(*d->lists));
	if (d->lists == NULL)
		goto fail;
	for (size_t k = 0; k < b.n_pairs; k++) {
		struct dnode *nd = &d->nodes[b.pairs[k].node];

		if (nd->lcount == 0)
			nd->lstart = (uint32_t)k;
		nd->lcount++;
		d->lists[k] = b.pairs[k].rule;
	}
	free(b.pairs);
	b.pairs = NULL;
	d->method_words = calloc(32 * (d->words > 0 ? d->words : 1), sizeof(*d->method_words));
	if (d->method_words == NULL)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		for (unsigned bit = 0; bit < 32; bit++) {
			if (d->method_mask[i] & (1u << bit))
				d->method_words[bit * d->words + i / 64] |= 1ull << (i % 64);
		}
	}
	return d;
fail:
	free(b.pairs);
	dpp_dispatch_free(d);
	return NULL;
}

void dpp_dispatch_free(struct dpp_dispatch *d)
{
	if (d == NULL)
		return;
	free(d->method_mask);
	free(d->method_words);
	free(d->wild);
	free(d->nodes);
	free(d->lists);
	free(d);
}

size_t dpp_dispatch_indexed(const struct dpp_dispatch *d)
{
	return d != NULL ? d->indexed : 0;
}

static uint32_t method_bit(const char *method)
{
	if (method == NULL)
		return BIT_ABSENT;
	for (size_t m = 0; m < N_METHODS; m++) {
		if (strcmp(method, METHODS[m]) == 0)
			return 1u << m;
	}
	return BIT_OTHER;
}

static void mark(const struct dpp_dispatch *d, const struct dnode *nd, uint64_t *bits)
{
	for (uint32_t k = 0; k < nd->lcount; k++) {
		uint32_t r = d->lists[nd->lstart + k];

		bits[r / 64] |= 1ull << (r % 64);
	}
}

size_t dpp_dispatch_candidates(const struct dpp_dispatch *d, const char *path,
			       const char *method, uint64_t bits[DPP_DISPATCH_WORDS])
{
	uint32_t mbit = method_bit(method);

	memcpy(bits, d->wild, d->words * sizeof(*bits));
	/* A path-keyed rule needs a positive path test: none holds on an
	 * absent path. */
	if (path != NULL) {
		uint32_t node = 0;

		mark(d, &d->nodes[0], bits);
		for (const char *p = path; *p != '\0'; p++) {
			uint32_t k;

			for (k = d->nodes[node].child; k != NO_NODE; k = d->nodes[k].sibling) {
				if (d->nodes[k].c == (unsigned char)*p)
					break;
			}
			if (k == NO_NODE)
				break;
			node = k;
			mark(d, &d->nodes[node], bits);
		}
	}
	const uint64_t *mw = d->method_words + (size_t)__builtin_ctz(mbit) * d->words;

	for (size_t w = 0; w < d->words; w++)
		bits[w] &= mw[w];
	return d->words;
}
