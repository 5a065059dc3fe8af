/* Compiles the `rules` section (a libyaml document) into an immutable,
 * reference-counted ruleset; prints it for --check-config. The language is
 * documented in docs/rules.md. Errors are collected, never fatal on the first,
 * each with FILE:LINE:COL and the path of the offending key (relayd style). */
#include "rules_yaml.h"
#include "rules_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define PATH_LEN 512          /* error path buffer; longer paths are cut */
#define ERR_LINE_MAX 1024     /* one error line; longer lines are cut */
#define GROUP_KIDS_MAX 256    /* conditions in one mapping or and/or list */
#define LIST_MAX 1024         /* items in an `in` list */
#define FILTERS_MAX 64        /* filters of one response_filter rule */
#define STRING_MAX 4096       /* any string operand, message or regex */
#define FIELD_MAX 256         /* a field name such as body.A.B */
#define SEGMENTS_MAX 32       /* body path segments */
#define PRIORITY_LIMIT 1000000L
#define REQUESTS_MAX 1000000L
#define DURATION_MAX_MS (7ULL * 24 * 3600 * 1000)

/* PCRE2 limits for every match: a runaway pattern is an internal error
 * (deny 500), not a stuck worker. */
#define RE_MATCH_LIMIT 1000000
#define RE_DEPTH_LIMIT 10000
#define RE_HEAP_LIMIT_KIB 4096

const char *const dpp_rule_action_names[] = {
	[ACTION_DENY] = "deny",
	[ACTION_ALLOW] = "allow",
	[ACTION_REQUIRE_ROLE] = "require_role",
	[ACTION_RATE_LIMIT] = "rate_limit",
	[ACTION_RESPONSE_FILTER] = "response_filter",
};
#define N_ACTIONS (sizeof(dpp_rule_action_names) / sizeof(dpp_rule_action_names[0]))

const char *const dpp_rule_op_names[] = {
	[OP_EQUALS] = "equals",		[OP_NOT_EQUALS] = "not_equals",
	[OP_CONTAINS] = "contains",	[OP_NOT_CONTAINS] = "not_contains",
	[OP_STARTS_WITH] = "starts_with", [OP_ENDS_WITH] = "ends_with",
	[OP_MATCHES] = "matches",	[OP_NOT_MATCHES] = "not_matches",
	[OP_IN] = "in",			[OP_NOT_IN] = "not_in",
	[OP_EXISTS] = "exists",		[OP_NOT_EXISTS] = "not_exists",
};
#define N_OPS (sizeof(dpp_rule_op_names) / sizeof(dpp_rule_op_names[0]))

static const struct {
	enum rule_test test;
	bool negate;
} op_semantics[] = {
	[OP_EQUALS] = {TEST_EQUALS, false},	  [OP_NOT_EQUALS] = {TEST_EQUALS, true},
	[OP_CONTAINS] = {TEST_CONTAINS, false},	  [OP_NOT_CONTAINS] = {TEST_CONTAINS, true},
	[OP_STARTS_WITH] = {TEST_STARTS_WITH, false}, [OP_ENDS_WITH] = {TEST_ENDS_WITH, false},
	[OP_MATCHES] = {TEST_MATCHES, false},	  [OP_NOT_MATCHES] = {TEST_MATCHES, true},
	[OP_IN] = {TEST_EQUALS, false},		  [OP_NOT_IN] = {TEST_EQUALS, true},
	[OP_EXISTS] = {TEST_EXISTS, false},	  [OP_NOT_EXISTS] = {TEST_EXISTS, true},
};

/* ---- error collection ---- */

struct errs {
	const char *file;
	char *buf;
	size_t len;
	size_t cap;
	size_t count;   /* errors seen, also those not listed */
	bool oom;
};

struct cc {
	yaml_document_t *doc;
	struct errs *e;
};

static void errs_append(struct errs *e, const char *line)
{
	size_t n = strlen(line);
	char *nb;
	size_t ncap;

	if (e->oom)
		return;
	if (e->len + n + 1 > e->cap) {
		ncap = e->cap == 0 ? 4096 : e->cap * 2;
		while (ncap < e->len + n + 1)
			ncap *= 2;
		nb = realloc(e->buf, ncap);
		if (nb == NULL) {
			e->oom = true;
			return;
		}
		e->buf = nb;
		e->cap = ncap;
	}
	memcpy(e->buf + e->len, line, n + 1);
	e->len += n;
}

/* Adds "FILE:LINE:COL: PATH: message\n". The node gives the mark (NULL: no
 * position). Control bytes from user text become spaces: one error, one line. */
__attribute__((format(printf, 4, 5))) static void err_at(struct cc *c, const yaml_node_t *node,
							   const char *path, const char *fmt, ...)
{
	char line[ERR_LINE_MAX];
	char msg[ERR_LINE_MAX / 2];
	va_list ap;
	size_t i;

	c->e->count++;
	if (c->e->count > DPP_RULES_ERRORS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (node != NULL)
		snprintf(line, sizeof(line) - 1, "%s:%zu:%zu: %s: %s", c->e->file,
			 (size_t)node->start_mark.line + 1, (size_t)node->start_mark.column + 1,
			 path, msg);
	else
		snprintf(line, sizeof(line) - 1, "%s: %s: %s", c->e->file, path, msg);
	for (i = 0; line[i] != '\0'; i++) {
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = ' ';
	}
	line[i++] = '\n';
	line[i] = '\0';
	errs_append(c->e, line);
}

__attribute__((format(printf, 4, 5))) static void path_join(char *dst, size_t n, const char *base,
							      const char *fmt, ...)
{
	va_list ap;
	int k = snprintf(dst, n, "%s", base);

	if (k < 0 || (size_t)k >= n)
		return;
	va_start(ap, fmt);
	vsnprintf(dst + k, n - (size_t)k, fmt, ap);
	va_end(ap);
}

/* ---- YAML scalar helpers ---- */

static yaml_node_t *node_get(struct cc *c, int index)
{
	return yaml_document_get_node(c->doc, index);
}

static const char *scalar_text(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static bool scalar_has_nul(const yaml_node_t *n)
{
	return strlen(scalar_text(n)) != n->data.scalar.length;
}

/* YAML 1.2 core schema resolution for plain scalars; quoted and block
 * scalars are always strings. */
enum stype {
	ST_NULL = 0,
	ST_BOOL,
	ST_INT,
	ST_FLOAT,
	ST_STR,
};

static bool all_in(const char *s, const char *set)
{
	if (*s == '\0')
		return false;
	return s[strspn(s, set)] == '\0';
}

/* Decimal int or float per the core schema:
 * [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?  Sets *is_int. */
static bool decimal_syntax(const char *s, bool *is_int)
{
	size_t i = 0, digits = 0;

	*is_int = true;
	if (s[i] == '+' || s[i] == '-')
		i++;
	while (s[i] >= '0' && s[i] <= '9') {
		i++;
		digits++;
	}
	if (s[i] == '.') {
		*is_int = false;
		i++;
		while (s[i] >= '0' && s[i] <= '9') {
			i++;
			digits++;
		}
	}
	if (digits == 0)
		return false;
	if (s[i] == 'e' || s[i] == 'E') {
		size_t exp = 0;

		*is_int = false;
		i++;
		if (s[i] == '+' || s[i] == '-')
			i++;
		while (s[i] >= '0' && s[i] <= '9') {
			i++;
			exp++;
		}
		if (exp == 0)
			return false;
	}
	return s[i] == '\0';
}

static enum stype scalar_type(const yaml_node_t *n, bool *b)
{
	const char *s = scalar_text(n);
	bool is_int;

	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE &&
	    n->data.scalar.style != YAML_ANY_SCALAR_STYLE)
		return ST_STR;
	if (*s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	    strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0)
		return ST_NULL;
	if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0) {
		*b = true;
		return ST_BOOL;
	}
	if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0) {
		*b = false;
		return ST_BOOL;
	}
	if ((strncmp(s, "0x", 2) == 0 && all_in(s + 2, "0123456789abcdefABCDEF")) ||
	    (strncmp(s, "0o", 2) == 0 && all_in(s + 2, "01234567")))
		return ST_INT;
	if (decimal_syntax(s, &is_int))
		return is_int ? ST_INT : ST_FLOAT;
	return ST_STR;
}

static const char *stype_name(enum stype t)
{
	switch (t) {
	case ST_NULL: return "null";
	case ST_BOOL: return "a boolean";
	case ST_INT: return "an integer";
	case ST_FLOAT: return "a number";
	case ST_STR: return "a string";
	}
	return "?";
}

static const char *node_kind_name(const yaml_node_t *n)
{
	bool b;

	switch (n->type) {
	case YAML_MAPPING_NODE: return "a mapping";
	case YAML_SEQUENCE_NODE: return "a list";
	case YAML_SCALAR_NODE: return stype_name(scalar_type(n, &b));
	default: return "empty";
	}
}

/* Explicit tags (!!int "5") would change typing in ways we do not model. */
static int check_tag(struct cc *c, const yaml_node_t *n, const char *path)
{
	const char *want = n->type == YAML_SCALAR_NODE	 ? YAML_DEFAULT_SCALAR_TAG
			   : n->type == YAML_SEQUENCE_NODE ? YAML_DEFAULT_SEQUENCE_TAG
							   : YAML_DEFAULT_MAPPING_TAG;

	if (n->tag != NULL && strcmp((const char *)n->tag, want) != 0) {
		err_at(c, n, path, "explicit YAML tags are not supported (quote strings instead)");
		return -1;
	}
	return 0;
}

/* The number text of a plain int/float scalar as cJSON reads it, so no
 * locale-dependent strtod here: YAML allows "+1", ".5" and "1." which JSON
 * does not. */
static cJSON *number_json(const char *s)
{
	char buf[128];
	size_t i = 0, j = 0;
	cJSON *v;

	if (strncmp(s, "0x", 2) == 0 || strncmp(s, "0o", 2) == 0) {
		unsigned long long u;

		errno = 0;
		u = strtoull(s + 2, NULL, s[1] == 'x' ? 16 : 8);
		if (errno != 0)
			return NULL;
		return cJSON_CreateNumber((double)u);
	}
	if (strlen(s) > sizeof(buf) / 2)
		return NULL;
	if (s[i] == '+')
		i++;
	for (; s[i] != '\0'; i++) {
		if (s[i] == '.' && (j == 0 || buf[j - 1] < '0' || buf[j - 1] > '9'))
			buf[j++] = '0';
		buf[j++] = s[i];
		if (s[i] == '.' && (s[i + 1] < '0' || s[i + 1] > '9'))
			buf[j++] = '0';
	}
	buf[j] = '\0';
	v = cJSON_Parse(buf);
	if (v != NULL && (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))) {
		cJSON_Delete(v);
		v = NULL;
	}
	return v;
}

static void oom(struct cc *c, const yaml_node_t *n, const char *path)
{
	err_at(c, n, path, "out of memory");
}

/* Converts a YAML value to JSON with the core-schema typing. NULL on error
 * (reported). */
static cJSON *yaml_to_json(struct cc *c, yaml_node_t *n, const char *path, int depth)
{
	char sub[PATH_LEN];
	cJSON *out = NULL, *item;
	bool b = false;

	if (check_tag(c, n, path) < 0)
		return NULL;
	if (depth > DPP_RULES_DEPTH_MAX) {
		err_at(c, n, path, "value nested too deeply (limit %d)", DPP_RULES_DEPTH_MAX);
		return NULL;
	}
	switch (n->type) {
	case YAML_SCALAR_NODE:
		if (scalar_has_nul(n)) {
			err_at(c, n, path, "NUL byte in value");
			return NULL;
		}
		if (n->data.scalar.length > STRING_MAX) {
			err_at(c, n, path, "value longer than %d bytes", STRING_MAX);
			return NULL;
		}
		switch (scalar_type(n, &b)) {
		case ST_NULL: out = cJSON_CreateNull(); break;
		case ST_BOOL: out = cJSON_CreateBool(b); break;
		case ST_INT:
		case ST_FLOAT:
			out = number_json(scalar_text(n));
			if (out == NULL) {
				err_at(c, n, path, "number out of range");
				return NULL;
			}
			break;
		case ST_STR: out = cJSON_CreateString(scalar_text(n)); break;
		}
		break;
	case YAML_SEQUENCE_NODE: {
		yaml_node_item_t *it;
		size_t i = 0;

		out = cJSON_CreateArray();
		if (out == NULL)
			break;
		for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
			path_join(sub, sizeof(sub), path, "[%zu]", i);
			if (i >= LIST_MAX) {
				err_at(c, n, path, "more than %d items", LIST_MAX);
				goto fail;
			}
			item = yaml_to_json(c, node_get(c, *it), sub, depth + 1);
			if (item == NULL)
				goto fail;
			if (!cJSON_AddItemToArray(out, item)) {
				cJSON_Delete(item);
				goto nomem;
			}
		}
		break;
	}
	case YAML_MAPPING_NODE: {
		yaml_node_pair_t *p;
		size_t i = 0;

		out = cJSON_CreateObject();
		if (out == NULL)
			break;
		for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++, i++) {
			yaml_node_t *k = node_get(c, p->key);
			const char *ks;

			if (i >= LIST_MAX) {
				err_at(c, n, path, "more than %d keys", LIST_MAX);
				goto fail;
			}
			if (k->type != YAML_SCALAR_NODE || scalar_has_nul(k)) {
				err_at(c, k, path, "mapping keys must be strings");
				goto fail;
			}
			ks = scalar_text(k);
			path_join(sub, sizeof(sub), path, ".%s", ks);
			if (cJSON_GetObjectItemCaseSensitive(out, ks) != NULL) {
				err_at(c, k, sub, "duplicate key");
				goto fail;
			}
			item = yaml_to_json(c, node_get(c, p->value), sub, depth + 1);
			if (item == NULL)
				goto fail;
			if (!cJSON_AddItemToObject(out, ks, item)) {
				cJSON_Delete(item);
				goto nomem;
			}
		}
		break;
	}
	default:
		err_at(c, n, path, "empty value");
		return NULL;
	}
	if (out == NULL)
		oom(c, n, path);
	return out;
nomem:
	oom(c, n, path);
fail:
	cJSON_Delete(out);
	return NULL;
}

/* A string-typed scalar (quoted, or plain that does not resolve to
 * null/bool/number). Returns the borrowed text or NULL (reported). */
static const char *want_string(struct cc *c, yaml_node_t *n, const char *path, const char *what)
{
	bool b;
	enum stype t;

	if (check_tag(c, n, path) < 0)
		return NULL;
	if (n->type != YAML_SCALAR_NODE) {
		err_at(c, n, path, "%s must be a string, not %s", what, node_kind_name(n));
		return NULL;
	}
	t = scalar_type(n, &b);
	if (t != ST_STR) {
		err_at(c, n, path, "%s must be a string, not %s (quote it: \"%.64s\")", what,
		       stype_name(t), scalar_text(n));
		return NULL;
	}
	if (scalar_has_nul(n)) {
		err_at(c, n, path, "NUL byte in %s", what);
		return NULL;
	}
	if (n->data.scalar.length > STRING_MAX) {
		err_at(c, n, path, "%s longer than %d bytes", what, STRING_MAX);
		return NULL;
	}
	return scalar_text(n);
}

static int want_long(struct cc *c, yaml_node_t *n, const char *path, long lo, long hi, long *out)
{
	bool b;
	char *end;
	long v;

	if (n->type != YAML_SCALAR_NODE || scalar_type(n, &b) != ST_INT ||
	    strncmp(scalar_text(n), "0x", 2) == 0 || strncmp(scalar_text(n), "0o", 2) == 0) {
		err_at(c, n, path, "must be a decimal integer, not %s", node_kind_name(n));
		return -1;
	}
	errno = 0;
	v = strtol(scalar_text(n), &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi) {
		err_at(c, n, path, "must be between %ld and %ld", lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

static int want_bool(struct cc *c, yaml_node_t *n, const char *path, bool *out)
{
	if (n->type != YAML_SCALAR_NODE || scalar_type(n, out) != ST_BOOL) {
		err_at(c, n, path, "must be true or false, not %s", node_kind_name(n));
		return -1;
	}
	return 0;
}

/* "250ms", "10s", "5m", "1h", or "0". */
static int want_duration(struct cc *c, yaml_node_t *n, const char *path, bool allow_zero,
			 uint64_t *out_ms)
{
	const char *s;
	size_t digits;
	unsigned long long v, mult;
	const char *unit;

	if (n->type != YAML_SCALAR_NODE)
		goto bad;
	s = scalar_text(n);
	digits = strspn(s, "0123456789");
	if (digits == 0 || digits > 12)
		goto bad;
	unit = s + digits;
	v = strtoull(s, NULL, 10);
	if (strcmp(unit, "ms") == 0)
		mult = 1;
	else if (strcmp(unit, "s") == 0)
		mult = 1000;
	else if (strcmp(unit, "m") == 0)
		mult = 60 * 1000;
	else if (strcmp(unit, "h") == 0)
		mult = 3600 * 1000;
	else if (*unit == '\0' && v == 0)
		mult = 0;
	else
		goto bad;
	v *= mult;
	if (v == 0 && !allow_zero) {
		err_at(c, n, path, "must be greater than 0");
		return -1;
	}
	if (v > DURATION_MAX_MS) {
		err_at(c, n, path, "must be at most 168h");
		return -1;
	}
	*out_ms = v;
	return 0;
bad:
	err_at(c, n, path, "must be a duration such as 250ms, 10s, 5m or 1h");
	return -1;
}

/* ---- fields and conditions ---- */

static bool is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static void cond_free(struct rule_cond *cd)
{
	size_t i;

	if (cd == NULL)
		return;
	for (i = 0; i < cd->n_kids; i++)
		cond_free(cd->kids[i]);
	free(cd->kids);
	free(cd->label);
	free(cd->name);
	for (i = 0; i < cd->n_segs; i++)
		free(cd->segs[i]);
	free(cd->segs);
	cJSON_Delete(cd->vals);
	free(cd->cidrs);
	pcre2_code_free(cd->re);
	free(cd);
}

static struct rule_cond *cond_new(enum cond_kind kind)
{
	struct rule_cond *cd = calloc(1, sizeof(*cd));

	if (cd != NULL)
		cd->kind = kind;
	return cd;
}

static int cond_add(struct rule_cond *group, struct rule_cond *kid)
{
	struct rule_cond **nk;

	if (group->n_kids >= GROUP_KIDS_MAX)
		return -1;
	nk = realloc(group->kids, (group->n_kids + 1) * sizeof(*nk));
	if (nk == NULL)
		return -1;
	group->kids = nk;
	group->kids[group->n_kids++] = kid;
	return 0;
}

/* Parses the field name into a leaf skeleton. Returns 0, or -1 with *why. */
static int parse_field(const char *name, struct rule_cond *leaf, const char **why)
{
	static const struct {
		const char *name;
		enum rule_field field;
	} simple[] = {
		{"path", FIELD_PATH}, {"method", FIELD_METHOD}, {"client_ip", FIELD_CLIENT_IP},
		{"role", FIELD_ROLE}, {"identity", FIELD_IDENTITY},
		{"endpoint", FIELD_ENDPOINT},
	};
	size_t i;

	*why = "out of memory";
	if (strlen(name) > FIELD_MAX) {
		*why = "field name too long";
		return -1;
	}
	leaf->label = strdup(name);
	if (leaf->label == NULL)
		return -1;
	for (i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
		if (strcmp(name, simple[i].name) == 0) {
			leaf->field = simple[i].field;
			return 0;
		}
	}
	if (strncmp(name, "header.", 7) == 0) {
		const char *h = name + 7;

		leaf->field = FIELD_HEADER;
		if (*h == '\0') {
			*why = "header name missing (header.NAME)";
			return -1;
		}
		for (i = 0; h[i] != '\0'; i++) {
			if (!is_tchar((unsigned char)h[i])) {
				*why = "header name has a character not allowed in field names";
				return -1;
			}
		}
		leaf->name = strdup(h);
		return leaf->name != NULL ? 0 : -1;
	}
	if (strncmp(name, "query.", 6) == 0) {
		leaf->field = FIELD_QUERY;
		if (name[6] == '\0') {
			*why = "query parameter name missing (query.NAME)";
			return -1;
		}
		leaf->name = strdup(name + 6);
		return leaf->name != NULL ? 0 : -1;
	}
	if (strcmp(name, "body") == 0 || strncmp(name, "body.", 5) == 0) {
		const char *p = name + 4;

		leaf->field = FIELD_BODY;
		while (*p == '.') {
			const char *seg = p + 1;
			size_t len = strcspn(seg, ".");
			char **ns;

			if (len == 0) {
				*why = "empty segment in body path";
				return -1;
			}
			if (leaf->n_segs >= SEGMENTS_MAX) {
				*why = "body path has too many segments";
				return -1;
			}
			ns = realloc(leaf->segs, (leaf->n_segs + 1) * sizeof(*ns));
			if (ns == NULL)
				return -1;
			leaf->segs = ns;
			leaf->segs[leaf->n_segs] = strndup(seg, len);
			if (leaf->segs[leaf->n_segs] == NULL)
				return -1;
			leaf->n_segs++;
			p = seg + len;
		}
		return 0;
	}
	*why = "unknown field (expected path, method, client_ip, role, identity, header.NAME, "
	       "query.NAME or body.PATH)";
	return -1;
}

static bool field_is_string(enum rule_field f)
{
	return f != FIELD_BODY;
}

/* Checks and stores one operand (val) for a leaf, appending to leaf->vals. */
static int add_operand(struct cc *c, struct rule_cond *leaf, yaml_node_t *val, const char *path)
{
	cJSON *v;
	const char *what = leaf->test == TEST_MATCHES ? "regex" : "value";

	if (field_is_string(leaf->field) || leaf->test == TEST_MATCHES ||
	    leaf->test == TEST_STARTS_WITH || leaf->test == TEST_ENDS_WITH) {
		const char *s = want_string(c, val, path, what);

		if (s == NULL)
			return -1;
		v = cJSON_CreateString(s);
	} else if (leaf->test == TEST_CONTAINS && val->type != YAML_SCALAR_NODE) {
		err_at(c, val, path, "contains needs a scalar value, not %s", node_kind_name(val));
		return -1;
	} else {
		v = yaml_to_json(c, val, path, 0);
		if (v == NULL)
			return -1;
	}
	if (v == NULL || !cJSON_AddItemToArray(leaf->vals, v)) {
		cJSON_Delete(v);
		oom(c, val, path);
		return -1;
	}
	if (leaf->field == FIELD_CLIENT_IP && leaf->test == TEST_EQUALS) {
		size_t n = (size_t)cJSON_GetArraySize(leaf->vals);
		struct dpp_cidr *nc = realloc(leaf->cidrs, n * sizeof(*nc));

		if (nc == NULL) {
			oom(c, val, path);
			return -1;
		}
		leaf->cidrs = nc;
		if (dpp_cidr_parse(v->valuestring, &nc[n - 1]) < 0) {
			err_at(c, val, path, "not an IP address or CIDR block: \"%.64s\"",
			       v->valuestring);
			return -1;
		}
	}
	return 0;
}

static int compile_regex(struct cc *c, struct rule_cond *leaf, yaml_node_t *val,
			 const char *path)
{
	const char *pat = cJSON_GetArrayItem(leaf->vals, 0)->valuestring;
	int code;
	PCRE2_SIZE off;
	PCRE2_UCHAR msg[256];

	leaf->re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
				 PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY, &code,
				 &off, NULL);
	if (leaf->re == NULL) {
		if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
			snprintf((char *)msg, sizeof(msg), "error %d", code);
		err_at(c, val, path, "invalid regex at offset %zu: %s", (size_t)off, (char *)msg);
		return -1;
	}
	/* JIT is an optimisation only: without it (unsupported CPU, no
	 * executable memory) the interpreter runs the same pattern. */
	(void)pcre2_jit_compile(leaf->re, PCRE2_JIT_COMPLETE);
	return 0;
}

/* One leaf `field op val`; field_node is the key, for messages. */
static struct rule_cond *compile_leaf(struct cc *c, const char *field, yaml_node_t *field_node,
				      enum rule_op op, yaml_node_t *val, const char *path)
{
	struct rule_cond *leaf = cond_new(COND_LEAF);
	const char *why;
	char sub[PATH_LEN];
	bool b;

	if (leaf == NULL) {
		oom(c, val, path);
		return NULL;
	}
	if (parse_field(field, leaf, &why) < 0) {
		err_at(c, field_node, path, "%s", why);
		goto fail;
	}
	leaf->op = op;
	leaf->test = op_semantics[op].test;
	leaf->negate = op_semantics[op].negate;
	if (check_tag(c, val, path) < 0)
		goto fail;

	if (leaf->test == TEST_EXISTS) {
		if (want_bool(c, val, path, &b) < 0)
			goto fail;
		if (!b)
			leaf->negate = !leaf->negate;
		return leaf;
	}
	leaf->vals = cJSON_CreateArray();
	if (leaf->vals == NULL) {
		oom(c, val, path);
		goto fail;
	}
	if (op == OP_IN || op == OP_NOT_IN) {
		yaml_node_item_t *it;
		size_t i = 0;
		int bad = 0;

		if (val->type != YAML_SEQUENCE_NODE) {
			err_at(c, val, path, "%s needs a list, not %s", dpp_rule_op_names[op],
			       node_kind_name(val));
			goto fail;
		}
		if (val->data.sequence.items.start == val->data.sequence.items.top) {
			err_at(c, val, path, "%s needs a non-empty list", dpp_rule_op_names[op]);
			goto fail;
		}
		for (it = val->data.sequence.items.start; it < val->data.sequence.items.top;
		     it++, i++) {
			if (i >= LIST_MAX) {
				err_at(c, val, path, "more than %d items", LIST_MAX);
				goto fail;
			}
			path_join(sub, sizeof(sub), path, "[%zu]", i);
			if (add_operand(c, leaf, node_get(c, *it), sub) < 0)
				bad = 1;
		}
		if (bad)
			goto fail;
		return leaf;
	}
	if (add_operand(c, leaf, val, path) < 0)
		goto fail;
	if (leaf->test == TEST_MATCHES && compile_regex(c, leaf, val, path) < 0)
		goto fail;
	return leaf;
fail:
	cond_free(leaf);
	return NULL;
}

static struct rule_cond *compile_conds(struct cc *c, yaml_node_t *map, const char *path,
				       int depth);

/* and/or: a non-empty list of condition mappings. */
static struct rule_cond *compile_group(struct cc *c, enum cond_kind kind, yaml_node_t *val,
				       const char *path, int depth)
{
	struct rule_cond *g;
	yaml_node_item_t *it;
	char sub[PATH_LEN];
	size_t i = 0;
	int bad = 0;

	if (val->type != YAML_SEQUENCE_NODE ||
	    val->data.sequence.items.start == val->data.sequence.items.top) {
		err_at(c, val, path, "needs a non-empty list of condition mappings, not %s",
		       node_kind_name(val));
		return NULL;
	}
	g = cond_new(kind);
	if (g == NULL) {
		oom(c, val, path);
		return NULL;
	}
	for (it = val->data.sequence.items.start; it < val->data.sequence.items.top; it++, i++) {
		struct rule_cond *kid;

		path_join(sub, sizeof(sub), path, "[%zu]", i);
		kid = compile_conds(c, node_get(c, *it), sub, depth + 1);
		if (kid == NULL) {
			bad = 1;
			continue;
		}
		if (cond_add(g, kid) < 0) {
			cond_free(kid);
			err_at(c, val, path, "more than %d conditions (or out of memory)",
			       GROUP_KIDS_MAX);
			bad = 1;
			break;
		}
	}
	if (bad) {
		cond_free(g);
		return NULL;
	}
	return g;
}

static int lookup_op(const char *s, enum rule_op *op)
{
	size_t i;

	for (i = 0; i < N_OPS; i++) {
		if (strcmp(s, dpp_rule_op_names[i]) == 0) {
			*op = (enum rule_op)i;
			return 0;
		}
	}
	return -1;
}

/* A field entry `FIELD: VALUE` into group (an AND). */
static int compile_field(struct cc *c, yaml_node_t *key, yaml_node_t *val, const char *path,
			 struct rule_cond *group)
{
	const char *field = scalar_text(key);
	struct rule_cond *leaf;
	char sub[PATH_LEN];
	yaml_node_pair_t *p;
	const char *why;
	int bad = 0;

	/* Validate the field once, not once per operator. */
	leaf = cond_new(COND_LEAF);
	if (leaf == NULL || parse_field(field, leaf, &why) < 0) {
		err_at(c, key, path, "%s", leaf == NULL ? "out of memory" : why);
		cond_free(leaf);
		return -1;
	}
	cond_free(leaf);

	if (val->type == YAML_SCALAR_NODE) {
		/* Shorthand: `path: /x` means equals. */
		leaf = compile_leaf(c, field, key, OP_EQUALS, val, path);
		if (leaf == NULL)
			return -1;
		goto add;
	}
	if (val->type == YAML_SEQUENCE_NODE) {
		/* Shorthand: `method: [GET, HEAD]` means in; for body fields
		 * it is ambiguous (equals a list?), so not allowed. */
		if (strcmp(field, "body") == 0 || strncmp(field, "body.", 5) == 0) {
			err_at(c, val, path,
			       "a list is ambiguous for body fields: write {in: [...]} or "
			       "{equals: [...]}");
			return -1;
		}
		leaf = compile_leaf(c, field, key, OP_IN, val, path);
		if (leaf == NULL)
			return -1;
		goto add;
	}
	if (val->type != YAML_MAPPING_NODE ||
	    val->data.mapping.pairs.start == val->data.mapping.pairs.top) {
		err_at(c, val, path, "needs an operator mapping such as {equals: VALUE}");
		return -1;
	}
	for (p = val->data.mapping.pairs.start; p < val->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_get(c, p->key);
		yaml_node_pair_t *q;
		enum rule_op op;

		if (k->type != YAML_SCALAR_NODE) {
			err_at(c, k, path, "operator must be a name");
			bad = 1;
			continue;
		}
		path_join(sub, sizeof(sub), path, ".%s", scalar_text(k));
		for (q = val->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *qk = node_get(c, q->key);

			if (qk->type == YAML_SCALAR_NODE &&
			    strcmp(scalar_text(qk), scalar_text(k)) == 0)
				break;
		}
		if (q < p) {
			err_at(c, k, sub, "duplicate operator");
			bad = 1;
			continue;
		}
		if (lookup_op(scalar_text(k), &op) < 0) {
			err_at(c, k, sub,
			       "unknown operator (expected equals, not_equals, contains, "
			       "not_contains, starts_with, ends_with, matches, not_matches, in, "
			       "not_in, exists or not_exists)");
			bad = 1;
			continue;
		}
		leaf = compile_leaf(c, field, key, op, node_get(c, p->value), sub);
		if (leaf == NULL) {
			bad = 1;
			continue;
		}
		if (cond_add(group, leaf) < 0) {
			cond_free(leaf);
			err_at(c, val, path, "too many conditions (or out of memory)");
			return -1;
		}
	}
	return bad ? -1 : 0;
add:
	if (cond_add(group, leaf) < 0) {
		cond_free(leaf);
		err_at(c, val, path, "too many conditions (or out of memory)");
		return -1;
	}
	return 0;
}

/* A condition mapping: every entry must hold (AND). */
static struct rule_cond *compile_conds(struct cc *c, yaml_node_t *map, const char *path,
				       int depth)
{
	struct rule_cond *g, *kid;
	yaml_node_pair_t *p, *q;
	char sub[PATH_LEN];
	int bad = 0;

	if (depth > DPP_RULES_DEPTH_MAX) {
		err_at(c, map, path, "conditions nested too deeply (limit %d)",
		       DPP_RULES_DEPTH_MAX);
		return NULL;
	}
	if (map->type != YAML_MAPPING_NODE ||
	    map->data.mapping.pairs.start == map->data.mapping.pairs.top) {
		err_at(c, map, path, "must be a non-empty mapping of conditions, not %s",
		       node_kind_name(map));
		return NULL;
	}
	g = cond_new(COND_AND);
	if (g == NULL) {
		oom(c, map, path);
		return NULL;
	}
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_get(c, p->key);
		yaml_node_t *v = node_get(c, p->value);
		const char *ks;

		if (k->type != YAML_SCALAR_NODE || scalar_has_nul(k)) {
			err_at(c, k, path, "condition keys must be field names or and/or/not");
			bad = 1;
			continue;
		}
		ks = scalar_text(k);
		path_join(sub, sizeof(sub), path, ".%s", ks);
		for (q = map->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *qk = node_get(c, q->key);

			if (qk->type == YAML_SCALAR_NODE && strcmp(scalar_text(qk), ks) == 0)
				break;
		}
		if (q < p) {
			err_at(c, k, sub,
			       "duplicate key (combine operators in one mapping, or use and:)");
			bad = 1;
			continue;
		}
		if (strcmp(ks, "and") == 0 || strcmp(ks, "or") == 0) {
			kid = compile_group(c, ks[0] == 'a' ? COND_AND : COND_OR, v, sub, depth);
		} else if (strcmp(ks, "not") == 0) {
			struct rule_cond *inner = compile_conds(c, v, sub, depth + 1);

			kid = NULL;
			if (inner != NULL) {
				kid = cond_new(COND_NOT);
				if (kid == NULL || cond_add(kid, inner) < 0) {
					cond_free(inner);
					cond_free(kid);
					kid = NULL;
					oom(c, v, sub);
				}
			}
		} else {
			if (compile_field(c, k, v, sub, g) < 0)
				bad = 1;
			continue;
		}
		if (kid == NULL) {
			bad = 1;
			continue;
		}
		if (cond_add(g, kid) < 0) {
			cond_free(kid);
			err_at(c, map, path, "too many conditions (or out of memory)");
			bad = 1;
			break;
		}
	}
	if (bad) {
		cond_free(g);
		return NULL;
	}
	return g;
}

/* ---- rules ---- */

enum rule_key {
	KEY_NAME = 0,
	KEY_PRIORITY,
	KEY_ACTION,
	KEY_STATUS,
	KEY_MESSAGE,
	KEY_ROLE,
	KEY_REQUESTS,
	KEY_PERIOD,
	KEY_PENALTY,
	KEY_DRY_RUN,
	KEY_FILTERS,
	KEY_MATCH,
	N_KEYS,
};

#define A(x) (1u << (x))
#define ALL_ACTIONS 0x1fu
static const struct {
	const char *name;
	unsigned actions; /* where the key is allowed */
	unsigned required; /* where it is required */
} rule_keys[N_KEYS] = {
	[KEY_NAME] = {"name", ALL_ACTIONS, ALL_ACTIONS},
	[KEY_PRIORITY] = {"priority", ALL_ACTIONS, 0},
	[KEY_ACTION] = {"action", ALL_ACTIONS, ALL_ACTIONS},
	[KEY_STATUS] = {"status", A(ACTION_DENY), 0},
	[KEY_MESSAGE] = {"message", A(ACTION_DENY) | A(ACTION_REQUIRE_ROLE) | A(ACTION_RATE_LIMIT), 0},
	[KEY_ROLE] = {"role", A(ACTION_REQUIRE_ROLE), A(ACTION_REQUIRE_ROLE)},
	[KEY_REQUESTS] = {"requests", A(ACTION_RATE_LIMIT), A(ACTION_RATE_LIMIT)},
	[KEY_PERIOD] = {"period", A(ACTION_RATE_LIMIT), A(ACTION_RATE_LIMIT)},
	[KEY_PENALTY] = {"penalty", A(ACTION_RATE_LIMIT), 0},
	[KEY_DRY_RUN] = {"dry_run", A(ACTION_DENY) | A(ACTION_REQUIRE_ROLE) | A(ACTION_RATE_LIMIT), 0},
	[KEY_FILTERS] = {"filters", A(ACTION_RESPONSE_FILTER), A(ACTION_RESPONSE_FILTER)},
	[KEY_MATCH] = {"match", ALL_ACTIONS, 0},
};

static void rule_free(struct rule *r)
{
	size_t i;

	if (r == NULL)
		return;
	free(r->name);
	free(r->message);
	free(r->role);
	for (i = 0; i < r->n_filters; i++) {
		free((char *)r->filters[i].field);
		free((char *)r->filters[i].value);
	}
	free(r->filters);
	cond_free(r->match);
	free(r);
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < DPP_RULE_NAME_MAX &&
	       s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-")] ==
		       '\0';
}

static char *dup_or_oom(struct cc *c, const yaml_node_t *n, const char *path, const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		oom(c, n, path);
	return d;
}

static int compile_filters(struct cc *c, struct rule *r, yaml_node_t *seq, const char *path)
{
	yaml_node_item_t *it;
	char sub[PATH_LEN], sub2[PATH_LEN];
	size_t i = 0, n;
	int bad = 0;

	if (seq->type != YAML_SEQUENCE_NODE ||
	    seq->data.sequence.items.start == seq->data.sequence.items.top) {
		err_at(c, seq, path, "must be a non-empty list of {field, action, value}");
		return -1;
	}
	n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	if (n > FILTERS_MAX) {
		err_at(c, seq, path, "more than %d filters", FILTERS_MAX);
		return -1;
	}
	r->filters = calloc(n, sizeof(*r->filters));
	if (r->filters == NULL) {
		oom(c, seq, path);
		return -1;
	}
	for (it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++, i++) {
		yaml_node_t *m = node_get(c, *it);
		yaml_node_t *fn = NULL, *an = NULL, *vn = NULL;
		struct dpp_response_filter *f = &r->filters[r->n_filters];
		yaml_node_pair_t *p;
		const char *s;

		path_join(sub, sizeof(sub), path, "[%zu]", i);
		if (m->type != YAML_MAPPING_NODE) {
			err_at(c, m, sub, "must be a mapping {field, action, value}");
			bad = 1;
			continue;
		}
		for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
			yaml_node_t *k = node_get(c, p->key);
			yaml_node_t **slot = NULL;

			if (k->type == YAML_SCALAR_NODE) {
				if (strcmp(scalar_text(k), "field") == 0)
					slot = &fn;
				else if (strcmp(scalar_text(k), "action") == 0)
					slot = &an;
				else if (strcmp(scalar_text(k), "value") == 0)
					slot = &vn;
			}
			if (slot == NULL) {
				path_join(sub2, sizeof(sub2), sub, ".%s",
					  k->type == YAML_SCALAR_NODE ? scalar_text(k) : "?");
				err_at(c, k, sub2, "unknown key (expected field, action, value)");
				bad = 1;
			} else if (*slot != NULL) {
				path_join(sub2, sizeof(sub2), sub, ".%s", scalar_text(k));
				err_at(c, k, sub2, "duplicate key");
				bad = 1;
			} else {
				*slot = node_get(c, p->value);
			}
		}
		f->rule = r->name;
		if (fn == NULL || an == NULL) {
			err_at(c, m, sub, "needs field and action");
			bad = 1;
			continue;
		}
		path_join(sub2, sizeof(sub2), sub, ".field");
		s = want_string(c, fn, sub2, "field");
		if (s != NULL && (strlen(s) > FIELD_MAX || s[0] == '.' ||
				  s[strlen(s) - 1] == '.' || strstr(s, "..") != NULL)) {
			err_at(c, fn, sub2, "must be a dotted path such as Config.Env");
			s = NULL;
		}
		if (s == NULL || (f->field = dup_or_oom(c, fn, sub2, s)) == NULL) {
			bad = 1;
			continue;
		}
		r->n_filters++; /* owns field from here on */
		path_join(sub2, sizeof(sub2), sub, ".action");
		s = want_string(c, an, sub2, "action");
		if (s == NULL) {
			bad = 1;
			continue;
		}
		if (strcmp(s, "redact") == 0) {
			f->action = DPP_FILTER_REDACT;
		} else if (strcmp(s, "remove") == 0) {
			f->action = DPP_FILTER_REMOVE;
		} else if (strcmp(s, "replace") == 0) {
			f->action = DPP_FILTER_REPLACE;
		} else {
			err_at(c, an, sub2, "unknown filter action (expected redact, remove, replace)");
			bad = 1;
			continue;
		}
		path_join(sub2, sizeof(sub2), sub, ".value");
		if (f->action == DPP_FILTER_REPLACE) {
			if (vn == NULL) {
				err_at(c, m, sub2, "replace needs a value");
				bad = 1;
				continue;
			}
			s = want_string(c, vn, sub2, "value");
			if (s == NULL || (f->value = dup_or_oom(c, vn, sub2, s)) == NULL)
				bad = 1;
		} else if (vn != NULL) {
			err_at(c, vn, sub2, "value only applies to replace");
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}

static int find_action(struct cc *c, yaml_node_t *n, const char *path, enum rule_action *out)
{
	const char *s = want_string(c, n, path, "action");
	size_t i;

	if (s == NULL)
		return -1;
	for (i = 0; i < N_ACTIONS; i++) {
		if (strcmp(s, dpp_rule_action_names[i]) == 0) {
			*out = (enum rule_action)i;
			return 0;
		}
	}
	err_at(c, n, path,
	       "unknown action \"%.64s\" (expected deny, allow, require_role, rate_limit or "
	       "response_filter)",
	       s);
	return -1;
}

static struct rule *compile_rule(struct cc *c, yaml_node_t *m, size_t index)
{
	yaml_node_t *keys[N_KEYS] = {0}, *vals[N_KEYS] = {0};
	char path[PATH_LEN], sub[PATH_LEN];
	struct rule *r = NULL;
	yaml_node_pair_t *p;
	enum rule_action action = ACTION_DENY;
	bool have_action = false;
	int bad = 0;
	size_t k;
	const char *s;
	long v;

	snprintf(path, sizeof(path), "rules[%zu]", index);
	if (m->type != YAML_MAPPING_NODE) {
		err_at(c, m, path, "a rule must be a mapping, not %s", node_kind_name(m));
		return NULL;
	}
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = node_get(c, p->key);

		if (kn->type != YAML_SCALAR_NODE) {
			err_at(c, kn, path, "rule keys must be names");
			bad = 1;
			continue;
		}
		path_join(sub, sizeof(sub), path, ".%s", scalar_text(kn));
		for (k = 0; k < N_KEYS; k++) {
			if (strcmp(scalar_text(kn), rule_keys[k].name) == 0)
				break;
		}
		if (k == N_KEYS) {
			err_at(c, kn, sub, "unknown key");
			bad = 1;
		} else if (keys[k] != NULL) {
			err_at(c, kn, sub, "duplicate key");
			bad = 1;
		} else {
			keys[k] = kn;
			vals[k] = node_get(c, p->value);
		}
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		oom(c, m, path);
		return NULL;
	}
	r->index = index;
	r->status = 403;

	if (vals[KEY_NAME] != NULL) {
		path_join(sub, sizeof(sub), path, ".name");
		s = want_string(c, vals[KEY_NAME], sub, "name");
		if (s != NULL && !valid_name(s)) {
			err_at(c, vals[KEY_NAME], sub,
			       "must be 1..%d characters of A-Z a-z 0-9 _ . : -",
			       DPP_RULE_NAME_MAX - 1);
			s = NULL;
		}
		if (s == NULL || (r->name = dup_or_oom(c, vals[KEY_NAME], sub, s)) == NULL)
			bad = 1;
	}
	if (vals[KEY_ACTION] != NULL) {
		path_join(sub, sizeof(sub), path, ".action");
		if (find_action(c, vals[KEY_ACTION], sub, &action) == 0)
			have_action = true;
		else
			bad = 1;
	}
	for (k = 0; k < N_KEYS; k++) {
		path_join(sub, sizeof(sub), path, ".%s", rule_keys[k].name);
		if (keys[k] == NULL) {
			if (rule_keys[k].required == ALL_ACTIONS) {
				err_at(c, m, sub, "missing (required for every rule)");
				bad = 1;
			} else if (have_action && (rule_keys[k].required & A(action))) {
				err_at(c, m, sub, "missing (required for %s)",
				       dpp_rule_action_names[action]);
				bad = 1;
			}
		} else if (have_action && !(rule_keys[k].actions & A(action))) {
			err_at(c, keys[k], sub, "does not apply to action %s",
			       dpp_rule_action_names[action]);
			bad = 1;
			vals[k] = NULL;
		}
	}
	r->action = action;
	if (vals[KEY_PRIORITY] != NULL) {
		path_join(sub, sizeof(sub), path, ".priority");
		if (want_long(c, vals[KEY_PRIORITY], sub, -PRIORITY_LIMIT, PRIORITY_LIMIT, &v) == 0)
			r->priority = v;
		else
			bad = 1;
	}
	if (vals[KEY_STATUS] != NULL) {
		path_join(sub, sizeof(sub), path, ".status");
		if (want_long(c, vals[KEY_STATUS], sub, 400, 599, &v) == 0)
			r->status = (int)v;
		else
			bad = 1;
	}
	if (vals[KEY_MESSAGE] != NULL) {
		path_join(sub, sizeof(sub), path, ".message");
		s = want_string(c, vals[KEY_MESSAGE], sub, "message");
		if (s == NULL || (r->message = dup_or_oom(c, vals[KEY_MESSAGE], sub, s)) == NULL)
			bad = 1;
	}
	if (vals[KEY_ROLE] != NULL) {
		path_join(sub, sizeof(sub), path, ".role");
		s = want_string(c, vals[KEY_ROLE], sub, "role");
		if (s == NULL || (r->role = dup_or_oom(c, vals[KEY_ROLE], sub, s)) == NULL)
			bad = 1;
	}
	if (vals[KEY_REQUESTS] != NULL) {
		path_join(sub, sizeof(sub), path, ".requests");
		if (want_long(c, vals[KEY_REQUESTS], sub, 1, REQUESTS_MAX, &v) == 0)
			r->requests = (uint32_t)v;
		else
			bad = 1;
	}
	if (vals[KEY_PERIOD] != NULL) {
		path_join(sub, sizeof(sub), path, ".period");
		if (want_duration(c, vals[KEY_PERIOD], sub, false, &r->period_ms) < 0)
			bad = 1;
	}
	if (vals[KEY_PENALTY] != NULL) {
		path_join(sub, sizeof(sub), path, ".penalty");
		if (want_duration(c, vals[KEY_PENALTY], sub, true, &r->penalty_ms) < 0)
			bad = 1;
	}
	if (vals[KEY_DRY_RUN] != NULL) {
		path_join(sub, sizeof(sub), path, ".dry_run");
		if (want_bool(c, vals[KEY_DRY_RUN], sub, &r->dry_run) < 0)
			bad = 1;
	}
	if (vals[KEY_FILTERS] != NULL) {
		path_join(sub, sizeof(sub), path, ".filters");
		if (compile_filters(c, r, vals[KEY_FILTERS], sub) < 0)
			bad = 1;
	}
	if (vals[KEY_MATCH] != NULL) {
		yaml_node_t *mn = vals[KEY_MATCH];
		bool b;

		path_join(sub, sizeof(sub), path, ".match");
		/* `match:` with nothing (or {}) means every request. */
		if (!(mn->type == YAML_SCALAR_NODE && scalar_type(mn, &b) == ST_NULL) &&
		    !(mn->type == YAML_MAPPING_NODE &&
		      mn->data.mapping.pairs.start == mn->data.mapping.pairs.top)) {
			r->match = compile_conds(c, mn, sub, 0);
			if (r->match == NULL)
				bad = 1;
		}
	}
	if (!bad && r->message == NULL) {
		char buf[256];

		if (action == ACTION_REQUIRE_ROLE)
			snprintf(buf, sizeof(buf), "role %s required", r->role);
		else if (action == ACTION_RATE_LIMIT)
			snprintf(buf, sizeof(buf), "rate limit exceeded");
		else
			snprintf(buf, sizeof(buf), "denied by policy rule %s", r->name);
		r->message = dup_or_oom(c, m, path, buf);
		if (r->message == NULL)
			bad = 1;
	}
	if (bad) {
		rule_free(r);
		return NULL;
	}
	return r;
}

/* ---- ruleset ---- */

static void ruleset_free(struct dpp_ruleset *rs)
{
	size_t i;

	for (i = 0; i < rs->n_rules; i++)
		rule_free(rs->rules[i]);
	free(rs->rules);
	pcre2_match_context_free(rs->mctx);
	free(rs);
}

struct dpp_ruleset *dpp_ruleset_ref(struct dpp_ruleset *rs)
{
	if (rs != NULL)
		atomic_fetch_add_explicit(&rs->refs, 1, memory_order_relaxed);
	return rs;
}

void dpp_ruleset_unref(struct dpp_ruleset *rs)
{
	if (rs == NULL)
		return;
	if (atomic_fetch_sub_explicit(&rs->refs, 1, memory_order_acq_rel) == 1)
		ruleset_free(rs);
}

void dpp_ruleset_set_default(struct dpp_ruleset *rs, enum dpp_policy_verdict verdict)
{
	rs->default_verdict = verdict;
}

enum dpp_policy_verdict dpp_ruleset_get_default(const struct dpp_ruleset *rs)
{
	return rs->default_verdict;
}

size_t dpp_ruleset_count(const struct dpp_ruleset *rs)
{
	return rs->n_rules;
}

static int rule_cmp(const void *a, const void *b)
{
	const struct rule *x = *(const struct rule *const *)a;
	const struct rule *y = *(const struct rule *const *)b;

	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	/* qsort is not stable: the file index makes it so. */
	return x->index < y->index ? -1 : x->index > y->index ? 1 : 0;
}

int dpp_ruleset_compile(yaml_document_t *doc, yaml_node_t *rules_node, const char *file,
			struct dpp_ruleset **out, char **errors)
{
	struct errs e = {.file = file != NULL ? file : "(config)"};
	struct cc c = {.doc = doc, .e = &e};
	struct dpp_ruleset *rs = NULL;
	yaml_node_item_t *it;
	size_t i, j, n = 0;
	bool b;
	int rc = -1;

	*out = NULL;
	*errors = NULL;
	rs = calloc(1, sizeof(*rs));
	if (rs == NULL) {
		err_at(&c, NULL, "rules", "out of memory");
		goto cleanup;
	}
	atomic_init(&rs->refs, 1);
	rs->default_verdict = DPP_POLICY_ALLOW;
	rs->mctx = pcre2_match_context_create(NULL);
	if (rs->mctx == NULL) {
		err_at(&c, NULL, "rules", "out of memory");
		goto cleanup;
	}
	pcre2_set_match_limit(rs->mctx, RE_MATCH_LIMIT);
	pcre2_set_depth_limit(rs->mctx, RE_DEPTH_LIMIT);
	pcre2_set_heap_limit(rs->mctx, RE_HEAP_LIMIT_KIB);

	if (rules_node == NULL ||
	    (rules_node->type == YAML_SCALAR_NODE && scalar_type(rules_node, &b) == ST_NULL))
		goto done;
	if (rules_node->type != YAML_SEQUENCE_NODE) {
		err_at(&c, rules_node, "rules", "must be a list of rules, not %s",
		       node_kind_name(rules_node));
		goto cleanup;
	}
	n = (size_t)(rules_node->data.sequence.items.top - rules_node->data.sequence.items.start);
	if (n > DPP_RULES_MAX) {
		err_at(&c, rules_node, "rules", "more than %d rules", DPP_RULES_MAX);
		goto cleanup;
	}
	rs->rules = calloc(n > 0 ? n : 1, sizeof(*rs->rules));
	if (rs->rules == NULL) {
		err_at(&c, rules_node, "rules", "out of memory");
		goto cleanup;
	}
	for (it = rules_node->data.sequence.items.start, i = 0;
	     it < rules_node->data.sequence.items.top; it++, i++) {
		yaml_node_t *rn = node_get(&c, *it);
		struct rule *r = compile_rule(&c, rn, i);

		if (r == NULL)
			continue;
		for (j = 0; j < rs->n_rules; j++) {
			if (strcmp(rs->rules[j]->name, r->name) == 0)
				break;
		}
		if (j < rs->n_rules) {
			char p[PATH_LEN];

			snprintf(p, sizeof(p), "rules[%zu].name", i);
			err_at(&c, rn, p, "duplicate rule name \"%s\" (first in rules[%zu])", r->name,
			       rs->rules[j]->index);
			rule_free(r);
			continue;
		}
		rs->rules[rs->n_rules++] = r;
		rs->n_filters_total += r->n_filters;
	}
	qsort(rs->rules, rs->n_rules, sizeof(*rs->rules), rule_cmp);
done:
	if (e.count == 0) {
		rc = 0;
		*out = rs;
		rs = NULL;
	}
cleanup:
	if (rs != NULL)
		ruleset_free(rs);
	if (e.count > DPP_RULES_ERRORS_MAX) {
		char line[128];

		snprintf(line, sizeof(line), "%s: %zu more errors not shown\n", e.file,
			 e.count - DPP_RULES_ERRORS_MAX);
		errs_append(&e, line);
	}
	if (rc < 0 && (e.oom || e.buf == NULL)) {
		free(e.buf);
		e.buf = strdup("out of memory while compiling rules\n");
	}
	if (rc < 0)
		*errors = e.buf;
	else
		free(e.buf);
	return rc;
}

long dpp_ruleset_retain_buckets(const struct dpp_ruleset *rs, struct dpp_ratelimit *rl)
{
	const char **names = calloc(rs->n_rules > 0 ? rs->n_rules : 1, sizeof(*names));
	size_t i, n = 0;
	long dropped;

	if (names == NULL)
		return -1;
	for (i = 0; i < rs->n_rules; i++) {
		if (rs->rules[i]->action == ACTION_RATE_LIMIT)
			names[n++] = rs->rules[i]->name;
	}
	dropped = (long)dpp_ratelimit_retain(rl, names, n);
	free(names);
	return dropped;
}

/* ---- printing (--check-config) ---- */

static void print_duration(FILE *out, uint64_t ms)
{
	if (ms != 0 && ms % 3600000 == 0)
		fprintf(out, "%lluh", (unsigned long long)(ms / 3600000));
	else if (ms != 0 && ms % 60000 == 0)
		fprintf(out, "%llum", (unsigned long long)(ms / 60000));
	else if (ms != 0 && ms % 1000 == 0)
		fprintf(out, "%llus", (unsigned long long)(ms / 1000));
	else
		fprintf(out, "%llums", (unsigned long long)ms);
}

static int print_json(FILE *out, const cJSON *v)
{
	char *s = cJSON_PrintUnformatted(v);

	if (s == NULL)
		return -1;
	fputs(s, out);
	cJSON_free(s);
	return 0;
}

/* A user string as a JSON string literal: quoted, control bytes escaped, so
 * a block-scalar message cannot break the one-line layout. */
static int print_quoted(FILE *out, const char *s)
{
	cJSON *v = cJSON_CreateString(s);
	int rc = v != NULL ? print_json(out, v) : -1;

	cJSON_Delete(v);
	return rc;
}

static int print_cond(FILE *out, const struct rule_cond *cd, bool paren)
{
	size_t i;
	int rc = 0;

	switch (cd->kind) {
	case COND_LEAF:
		fprintf(out, "%s %s", cd->label, dpp_rule_op_names[cd->op]);
		if (cd->test == TEST_EXISTS) {
			/* `exists: false` is printed as what it means. */
			bool flipped = cd->negate != op_semantics[cd->op].negate;

			if (flipped)
				fputs(" false", out);
			return 0;
		}
		fputc(' ', out);
		if (cd->op == OP_IN || cd->op == OP_NOT_IN)
			return print_json(out, cd->vals);
		return print_json(out, cJSON_GetArrayItem(cd->vals, 0));
	case COND_NOT:
		fputs("not (", out);
		rc = print_cond(out, cd->kids[0], false);
		fputc(')', out);
		return rc;
	case COND_AND:
	case COND_OR:
		if (cd->n_kids == 1)
			return print_cond(out, cd->kids[0], paren);
		if (paren)
			fputc('(', out);
		for (i = 0; i < cd->n_kids && rc == 0; i++) {
			if (i > 0)
				fputs(cd->kind == COND_AND ? " and " : " or ", out);
			rc = print_cond(out, cd->kids[i], true);
		}
		if (paren)
			fputc(')', out);
		return rc;
	}
	return 0;
}

int dpp_ruleset_print(const struct dpp_ruleset *rs, FILE *out)
{
	size_t i, j;
	int rc = 0;

	fprintf(out, "# %zu rule%s in evaluation order; default: %s\n", rs->n_rules,
		rs->n_rules == 1 ? "" : "s", dpp_policy_verdict_name(rs->default_verdict));
	for (i = 0; i < rs->n_rules && rc == 0; i++) {
		const struct rule *r = rs->rules[i];

		fprintf(out, "%zu. %s  priority %ld  %s", i + 1, r->name, r->priority,
			dpp_rule_action_names[r->action]);
		switch (r->action) {
		case ACTION_DENY:
			fprintf(out, " %d", r->status);
			break;
		case ACTION_REQUIRE_ROLE:
			fprintf(out, " %s", r->role);
			break;
		case ACTION_RATE_LIMIT:
			fprintf(out, " %u per ", r->requests);
			print_duration(out, r->period_ms);
			if (r->penalty_ms > 0) {
				fputs(" penalty ", out);
				print_duration(out, r->penalty_ms);
			}
			break;
		case ACTION_RESPONSE_FILTER:
			for (j = 0; j < r->n_filters; j++) {
				fprintf(out, "%s %s %s", j == 0 ? "" : ",", r->filters[j].field,
					dpp_filter_action_name(r->filters[j].action));
				if (r->filters[j].value != NULL) {
					fputc(' ', out);
					if (print_quoted(out, r->filters[j].value) < 0)
						rc = -1;
				}
			}
			break;
		case ACTION_ALLOW:
			break;
		}
		if (r->dry_run)
			fputs("  dry-run", out);
		fputc('\n', out);
		if (r->action == ACTION_DENY || r->action == ACTION_REQUIRE_ROLE ||
		    r->action == ACTION_RATE_LIMIT) {
			fputs("   message: ", out);
			if (print_quoted(out, r->message) < 0)
				rc = -1;
			fputc('\n', out);
		}
		fputs("   when: ", out);
		if (r->match == NULL)
			fputs("always", out);
		else if (print_cond(out, r->match, false) < 0)
			rc = -1;
		fputc('\n', out);
	}
	if (rc == 0 && ferror(out))
		rc = -1;
	return rc;
}
