/* Compiles the `rules` section (a libyaml document) into an immutable,
 * reference-counted ruleset; prints it for --check-config. The language is
 * docker-proxy's (the seed's README, "rules"), documented in docs/rules.md. Errors are collected, never fatal on the first,
 * each with FILE:LINE:COL and the path of the offending key (relayd style). */
#include "rules_yaml.h"
#include "rules_impl.h"
#include "dispatch.h"
#include "yaml_util.h"

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
	struct errs *w; /* warnings: the config loads, but something has no effect */
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

/* Adds "FILE:LINE:COL: PATH: message\n" to e. The node gives the mark (NULL:
 * no position). Control bytes from user text become spaces: one error, one
 * line. */
static void vreport(struct errs *e, const yaml_node_t *node, const char *path, const char *fmt,
		    va_list ap)
{
	char line[ERR_LINE_MAX];
	char msg[ERR_LINE_MAX / 2];
	size_t i;

	e->count++;
	if (e->count > DPP_RULES_ERRORS_MAX)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (node != NULL)
		snprintf(line, sizeof(line) - 1, "%s:%zu:%zu: %s: %s", e->file,
			 (size_t)node->start_mark.line + 1, (size_t)node->start_mark.column + 1,
			 path, msg);
	else
		snprintf(line, sizeof(line) - 1, "%s: %s: %s", e->file, path, msg);
	for (i = 0; line[i] != '\0'; i++) {
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = ' ';
	}
	line[i++] = '\n';
	line[i] = '\0';
	errs_append(e, line);
}

__attribute__((format(printf, 4, 5))) static void err_at(struct cc *c, const yaml_node_t *node,
							   const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(c->e, node, path, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 4, 5))) static void warn_at(struct cc *c, const yaml_node_t *node,
							    const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(c->w, node, path, fmt, ap);
	va_end(ap);
}

/* Appends len bytes of s at dst[k] (dst holds n bytes), truncating as
 * snprintf does; returns the new length. */
static size_t path_put(char *dst, size_t n, size_t k, const char *s, size_t len)
{
	if (k + 1 >= n)
		return k;
	if (len > n - 1 - k)
		len = n - 1 - k;
	memcpy(dst + k, s, len);
	dst[k + len] = '\0';
	return k + len;
}

/* dst = base followed by fmt's expansion, truncated like snprintf. A path is
 * built for every node but read only in messages: the two common forms
 * (".%s", "[%zu]") and literal suffixes are joined without printf, which
 * took 40% of a 1,000-rule compile's instructions (bench/NOTES.md). */
__attribute__((format(printf, 4, 5))) static void path_join(char *dst, size_t n, const char *base,
							      const char *fmt, ...)
{
	va_list ap;
	size_t k, blen = strlen(base);

	if (n == 0)
		return;
	dst[0] = '\0';
	k = path_put(dst, n, 0, base, blen);
	if (blen >= n)
		return;
	va_start(ap, fmt);
	if (strchr(fmt, '%') == NULL) {
		path_put(dst, n, k, fmt, strlen(fmt));
	} else if (strcmp(fmt, ".%s") == 0) {
		const char *s = va_arg(ap, const char *);

		if (s == NULL)
			s = "(null)";
		k = path_put(dst, n, k, ".", 1);
		path_put(dst, n, k, s, strlen(s));
	} else if (strcmp(fmt, "[%zu]") == 0) {
		char num[24];
		const char *text = dpp_yaml_index_text(va_arg(ap, size_t), num);

		path_put(dst, n, k, text, strlen(text));
	} else {
		vsnprintf(dst + k, n - k, fmt, ap);
	}
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
			if (len == 1 && seg[0] == '*')
				leaf->has_star = true;
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
	/* JIT compilation waits for the first match (rules_impl.h). */
	atomic_init(&leaf->jit_done, 0);
	return 0;
}

/* One leaf `{field, operator, value}`. field_node is the field's value node
 * (for unknown-field messages); val is NULL when the item has no value (or a
 * null one where the operator takes none). path names the item. */
static struct rule_cond *compile_leaf(struct cc *c, const char *field, yaml_node_t *field_node,
				      enum rule_op op, yaml_node_t *val, const char *path)
{
	struct rule_cond *leaf = cond_new(COND_LEAF);
	const char *why;
	char sub[PATH_LEN];

	if (leaf == NULL) {
		oom(c, field_node, path);
		return NULL;
	}
	path_join(sub, sizeof(sub), path, ".field");
	if (parse_field(field, leaf, &why) < 0) {
		err_at(c, field_node, sub, "%s", why);
		goto fail;
	}
	leaf->op = op;
	leaf->test = op_semantics[op].test;
	leaf->negate = op_semantics[op].negate;
	/* exists / not_exists take no value; one that is written (null
	 * included, as the seed's wizard does) is ignored, as in the seed. */
	if (leaf->test == TEST_EXISTS)
		return leaf;
	path_join(sub, sizeof(sub), path, ".value");
	if (val == NULL) {
		err_at(c, field_node, sub, "missing (required for operator %s)",
		       dpp_rule_op_names[op]);
		goto fail;
	}
	if (check_tag(c, val, sub) < 0)
		goto fail;
	leaf->vals = cJSON_CreateArray();
	if (leaf->vals == NULL) {
		oom(c, val, sub);
		goto fail;
	}
	if (op == OP_IN || op == OP_NOT_IN) {
		yaml_node_item_t *it;
		size_t i = 0;
		int bad = 0;
		char item[PATH_LEN];

		if (val->type != YAML_SEQUENCE_NODE) {
			err_at(c, val, sub, "%s needs a list, not %s", dpp_rule_op_names[op],
			       node_kind_name(val));
			goto fail;
		}
		if (val->data.sequence.items.start == val->data.sequence.items.top) {
			err_at(c, val, sub, "%s needs a non-empty list", dpp_rule_op_names[op]);
			goto fail;
		}
		for (it = val->data.sequence.items.start; it < val->data.sequence.items.top;
		     it++, i++) {
			if (i >= LIST_MAX) {
				err_at(c, val, sub, "more than %d items", LIST_MAX);
				goto fail;
			}
			path_join(item, sizeof(item), sub, "[%zu]", i);
			if (add_operand(c, leaf, node_get(c, *it), item) < 0)
				bad = 1;
		}
		if (bad)
			goto fail;
		return leaf;
	}
	if (add_operand(c, leaf, val, sub) < 0)
		goto fail;
	if (leaf->test == TEST_MATCHES && compile_regex(c, leaf, val, sub) < 0)
		goto fail;
	return leaf;
fail:
	cond_free(leaf);
	return NULL;
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

static bool is_null(const yaml_node_t *n)
{
	bool b;

	return n->type == YAML_SCALAR_NODE && scalar_type(n, &b) == ST_NULL;
}

static struct rule_cond *compile_list(struct cc *c, enum cond_kind kind, yaml_node_t *seq,
				      const char *path, int depth);

enum item_key { IK_FIELD = 0, IK_OPERATOR, IK_VALUE, IK_DESCRIPTION, IK_OR, IK_AND, IK_NOT, N_IK };
static const char *const item_keys[N_IK] = {
	[IK_FIELD] = "field",	     [IK_OPERATOR] = "operator", [IK_VALUE] = "value",
	[IK_DESCRIPTION] = "description", [IK_OR] = "or",	 [IK_AND] = "and",
	[IK_NOT] = "not",
};

/* One item of a conditions list: a leaf {field, operator, value} or a group
 * {or: [...]}, {and: [...]}, {not: [...]} (NOT of the AND of its list; our
 * extension). `description` is accepted and ignored on both. */
static struct rule_cond *compile_item(struct cc *c, yaml_node_t *m, const char *path, int depth)
{
	yaml_node_t *keys[N_IK] = {0}, *vals[N_IK] = {0};
	char sub[PATH_LEN];
	yaml_node_pair_t *p;
	const char *field, *ops;
	enum rule_op op;
	size_t k, n_groups = 0;
	int bad = 0;

	if (check_tag(c, m, path) < 0)
		return NULL;
	if (m->type != YAML_MAPPING_NODE) {
		err_at(c, m, path,
		       "a condition must be a mapping {field, operator, value} or {or|and|not: "
		       "[...]}, not %s",
		       node_kind_name(m));
		return NULL;
	}
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = node_get(c, p->key);

		if (kn->type != YAML_SCALAR_NODE || scalar_has_nul(kn)) {
			err_at(c, kn, path, "condition keys must be names");
			bad = 1;
			continue;
		}
		path_join(sub, sizeof(sub), path, ".%s", scalar_text(kn));
		for (k = 0; k < N_IK; k++) {
			if (strcmp(scalar_text(kn), item_keys[k]) == 0)
				break;
		}
		if (k == N_IK) {
			err_at(c, kn, sub,
			       "unknown key (expected field, operator, value, description, or, "
			       "and or not)");
			bad = 1;
		} else if (keys[k] != NULL) {
			err_at(c, kn, sub, "duplicate key");
			bad = 1;
		} else {
			keys[k] = kn;
			vals[k] = node_get(c, p->value);
			if (k >= IK_OR)
				n_groups++;
		}
	}
	if (bad)
		return NULL;
	if (n_groups > 0) {
		static const enum cond_kind kinds[] = {COND_OR, COND_AND, COND_NOT};
		struct rule_cond *g = NULL;

		if (n_groups > 1 || keys[IK_FIELD] != NULL || keys[IK_OPERATOR] != NULL ||
		    keys[IK_VALUE] != NULL) {
			err_at(c, m, path,
			       "a condition is either {field, operator, value} or one group "
			       "(or, and, not)");
			return NULL;
		}
		for (k = IK_OR; k < N_IK; k++) {
			if (keys[k] == NULL)
				continue;
			path_join(sub, sizeof(sub), path, ".%s", item_keys[k]);
			g = compile_list(c, kinds[k - IK_OR], vals[k], sub, depth + 1);
		}
		return g;
	}
	if (keys[IK_FIELD] == NULL || is_null(vals[IK_FIELD]) || keys[IK_OPERATOR] == NULL ||
	    is_null(vals[IK_OPERATOR])) {
		err_at(c, m, path, "a condition needs field and operator (or is an or/and/not group)");
		return NULL;
	}
	path_join(sub, sizeof(sub), path, ".field");
	field = want_string(c, vals[IK_FIELD], sub, "field");
	path_join(sub, sizeof(sub), path, ".operator");
	ops = want_string(c, vals[IK_OPERATOR], sub, "operator");
	if (field == NULL || ops == NULL)
		return NULL;
	if (lookup_op(ops, &op) < 0) {
		err_at(c, vals[IK_OPERATOR], sub,
		       "unknown operator \"%.64s\" (expected equals, not_equals, contains, "
		       "not_contains, starts_with, ends_with, matches, not_matches, in, not_in, "
		       "exists or not_exists)",
		       ops);
		return NULL;
	}
	return compile_leaf(c, field, vals[IK_FIELD], op, vals[IK_VALUE], path);
}

/* A list of condition items combined by kind (COND_AND, COND_OR; COND_NOT is
 * NOT of the AND of the list). Non-empty. */
static struct rule_cond *compile_list(struct cc *c, enum cond_kind kind, yaml_node_t *seq,
				      const char *path, int depth)
{
	struct rule_cond *g, *not = NULL;
	yaml_node_item_t *it;
	char sub[PATH_LEN];
	size_t i = 0;
	int bad = 0;

	if (depth > DPP_RULES_DEPTH_MAX) {
		err_at(c, seq, path, "conditions nested too deeply (limit %d)",
		       DPP_RULES_DEPTH_MAX);
		return NULL;
	}
	if (check_tag(c, seq, path) < 0)
		return NULL;
	if (seq->type != YAML_SEQUENCE_NODE) {
		err_at(c, seq, path, "needs a non-empty list of conditions, not %s",
		       node_kind_name(seq));
		return NULL;
	}
	if (seq->data.sequence.items.start == seq->data.sequence.items.top) {
		err_at(c, seq, path, "needs a non-empty list of conditions");
		return NULL;
	}
	g = cond_new(kind == COND_NOT ? COND_AND : kind);
	if (g == NULL) {
		oom(c, seq, path);
		return NULL;
	}
	for (it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++, i++) {
		struct rule_cond *kid;

		path_join(sub, sizeof(sub), path, "[%zu]", i);
		kid = compile_item(c, node_get(c, *it), sub, depth);
		if (kid == NULL) {
			bad = 1;
			continue;
		}
		if (cond_add(g, kid) < 0) {
			cond_free(kid);
			err_at(c, seq, path, "more than %d conditions (or out of memory)",
			       GROUP_KIDS_MAX);
			bad = 1;
			break;
		}
	}
	if (bad) {
		cond_free(g);
		return NULL;
	}
	if (kind != COND_NOT)
		return g;
	not = cond_new(COND_NOT);
	if (not == NULL || cond_add(not, g) < 0) {
		cond_free(g);
		cond_free(not);
		oom(c, seq, path);
		return NULL;
	}
	return not;
}

/* ---- rules ---- */

enum rule_key {
	KEY_NAME = 0,
	KEY_DESCRIPTION,
	KEY_PRIORITY,
	KEY_ACTION,
	KEY_STATUS,
	KEY_MESSAGE,
	KEY_ROLE,
	KEY_RATE_LIMIT,
	KEY_DRY_RUN,
	KEY_RESPONSE_FILTER,
	KEY_CONDITIONS,
	KEY_METHODS,
	KEY_PRESET,  /* preset rules only (presets.c) */
	KEY_EXCEPT,
	KEY_INCLUDE,
	KEY_ROLES,
	N_KEYS,
};

#define A(x) (1u << (x))
#define ALL_ACTIONS 0x1fu
#define DENYING (A(ACTION_DENY) | A(ACTION_REQUIRE_ROLE) | A(ACTION_RATE_LIMIT))
static const struct {
	const char *name;
	unsigned actions; /* where the key is allowed */
	unsigned required; /* where it is required */
} rule_keys[N_KEYS] = {
	[KEY_NAME] = {"name", ALL_ACTIONS, ALL_ACTIONS},
	[KEY_DESCRIPTION] = {"description", ALL_ACTIONS, 0},
	[KEY_PRIORITY] = {"priority", ALL_ACTIONS, 0},
	[KEY_ACTION] = {"action", ALL_ACTIONS, ALL_ACTIONS},
	[KEY_STATUS] = {"status", DENYING, 0},
	[KEY_MESSAGE] = {"message", DENYING, 0},
	[KEY_ROLE] = {"role", A(ACTION_REQUIRE_ROLE), 0},
	[KEY_RATE_LIMIT] = {"rate_limit", A(ACTION_RATE_LIMIT), 0},
	[KEY_DRY_RUN] = {"dry_run", DENYING, 0},
	[KEY_RESPONSE_FILTER] = {"response_filter", A(ACTION_RESPONSE_FILTER),
				 A(ACTION_RESPONSE_FILTER)},
	[KEY_CONDITIONS] = {"conditions", ALL_ACTIONS, 0},
	[KEY_METHODS] = {"methods", ALL_ACTIONS, 0},
	[KEY_PRESET] = {"preset", 0, 0},
	[KEY_EXCEPT] = {"except", 0, 0},
	[KEY_INCLUDE] = {"include", 0, 0},
	[KEY_ROLES] = {"roles", 0, 0},
};

/* The keys a `preset:` rule takes (it denies; no action key). */
#define PRESET_KEYS                                                                       \
	(A(KEY_NAME) | A(KEY_DESCRIPTION) | A(KEY_PRIORITY) | A(KEY_STATUS) | A(KEY_MESSAGE) | \
	 A(KEY_DRY_RUN) | A(KEY_CONDITIONS) | A(KEY_PRESET) | A(KEY_EXCEPT) | A(KEY_INCLUDE) | \
	 A(KEY_ROLES))

/* The seed's defaults (docker-proxy README, "rate_limit"). */
#define RL_DEFAULT_REQUESTS 50
#define RL_DEFAULT_PERIOD_MS 30000
#define RL_DEFAULT_PENALTY_MS 30000

static void rule_free(struct rule *r)
{
	size_t i;

	if (r == NULL)
		return;
	free(r->name);
	free(r->description);
	free(r->message);
	free(r->role);
	for (i = 0; i < r->n_filters; i++) {
		free((char *)r->filters[i].field);
		free((char *)r->filters[i].value);
	}
	free(r->filters);
	cond_free(r->match);
	preset_cfg_free(r->preset);
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

/* `response_filter:` entries {field, action, replacement} (description
 * accepted). A null replacement is the same as none. */
static int compile_filters(struct cc *c, struct rule *r, yaml_node_t *seq, const char *path)
{
	yaml_node_item_t *it;
	char sub[PATH_LEN], sub2[PATH_LEN];
	size_t i = 0, n;
	int bad = 0;

	if (seq->type != YAML_SEQUENCE_NODE ||
	    seq->data.sequence.items.start == seq->data.sequence.items.top) {
		err_at(c, seq, path, "must be a non-empty list of {field, action, replacement}");
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
		yaml_node_t *fn = NULL, *an = NULL, *vn = NULL, *dn = NULL;
		struct dpp_response_filter *f = &r->filters[r->n_filters];
		yaml_node_pair_t *p;
		const char *s;

		path_join(sub, sizeof(sub), path, "[%zu]", i);
		if (m->type != YAML_MAPPING_NODE) {
			err_at(c, m, sub, "must be a mapping {field, action, replacement}");
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
				else if (strcmp(scalar_text(k), "replacement") == 0)
					slot = &vn;
				else if (strcmp(scalar_text(k), "description") == 0)
					slot = &dn;
			}
			if (slot == NULL) {
				path_join(sub2, sizeof(sub2), sub, ".%s",
					  k->type == YAML_SCALAR_NODE ? scalar_text(k) : "?");
				err_at(c, k, sub2,
				       "unknown key (expected field, action, replacement, "
				       "description)");
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
		if (vn != NULL && is_null(vn))
			vn = NULL;
		if (fn == NULL || an == NULL || is_null(fn) || is_null(an)) {
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
			err_at(c, an, sub2,
			       "unknown filter action \"%.64s\" (expected redact, remove or replace)",
			       s);
			bad = 1;
			continue;
		}
		path_join(sub2, sizeof(sub2), sub, ".replacement");
		if (f->action == DPP_FILTER_REPLACE) {
			if (vn == NULL) {
				err_at(c, m, sub2, "missing (required for replace)");
				bad = 1;
				continue;
			}
			s = want_string(c, vn, sub2, "replacement");
			if (s == NULL || (f->value = dup_or_oom(c, vn, sub2, s)) == NULL)
				bad = 1;
		} else if (vn != NULL) {
			err_at(c, vn, sub2, "only applies to replace");
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}

/* Whole seconds (the seed's u64) or a duration string such as 90s or 5m. */
static int want_seconds(struct cc *c, yaml_node_t *n, const char *path, bool allow_zero,
			uint64_t *out_ms)
{
	bool b;
	long v;

	if (n->type == YAML_SCALAR_NODE && scalar_type(n, &b) == ST_INT) {
		if (want_long(c, n, path, allow_zero ? 0 : 1, (long)(DURATION_MAX_MS / 1000), &v) < 0)
			return -1;
		*out_ms = (uint64_t)v * 1000;
		return 0;
	}
	if (n->type == YAML_SCALAR_NODE && scalar_type(n, &b) == ST_STR)
		return want_duration(c, n, path, allow_zero, out_ms);
	err_at(c, n, path, "must be whole seconds or a duration such as 90s or 5m, not %s",
	       node_kind_name(n));
	return -1;
}

/* `rate_limit: {requests, period, penalty}`; absent or null keys take the
 * seed's defaults 50 / 30 s / 30 s. */
static int compile_rate_limit(struct cc *c, struct rule *r, yaml_node_t *m, const char *path)
{
	static const char *const names[] = {"requests", "period", "penalty"};
	yaml_node_t *vals[3] = {0};
	char sub[PATH_LEN];
	yaml_node_pair_t *p;
	size_t k;
	long v;
	int bad = 0;

	r->requests = RL_DEFAULT_REQUESTS;
	r->period_ms = RL_DEFAULT_PERIOD_MS;
	r->penalty_ms = RL_DEFAULT_PENALTY_MS;
	if (m == NULL)
		return 0;
	if (m->type != YAML_MAPPING_NODE) {
		err_at(c, m, path, "must be a mapping {requests, period, penalty}, not %s",
		       node_kind_name(m));
		return -1;
	}
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = node_get(c, p->key);

		for (k = 0; k < 3 && kn->type == YAML_SCALAR_NODE; k++) {
			if (strcmp(scalar_text(kn), names[k]) == 0)
				break;
		}
		path_join(sub, sizeof(sub), path, ".%s",
			  kn->type == YAML_SCALAR_NODE ? scalar_text(kn) : "?");
		if (kn->type != YAML_SCALAR_NODE || k == 3) {
			err_at(c, kn, sub, "unknown key (expected requests, period, penalty)");
			bad = 1;
		} else if (vals[k] != NULL) {
			err_at(c, kn, sub, "duplicate key");
			bad = 1;
		} else {
			vals[k] = node_get(c, p->value);
		}
	}
	if (vals[0] != NULL && !is_null(vals[0])) {
		path_join(sub, sizeof(sub), path, ".requests");
		if (want_long(c, vals[0], sub, 1, REQUESTS_MAX, &v) == 0)
			r->requests = (uint32_t)v;
		else
			bad = 1;
	}
	if (vals[1] != NULL && !is_null(vals[1])) {
		path_join(sub, sizeof(sub), path, ".period");
		if (want_seconds(c, vals[1], sub, false, &r->period_ms) < 0)
			bad = 1;
	}
	if (vals[2] != NULL && !is_null(vals[2])) {
		path_join(sub, sizeof(sub), path, ".penalty");
		if (want_seconds(c, vals[2], sub, true, &r->penalty_ms) < 0)
			bad = 1;
	}
	return bad ? -1 : 0;
}

/* The seed reads a `methods:` list on a rule and never uses it: accepted,
 * checked to be a list of strings, and reported as having no effect. */
static int check_methods(struct cc *c, yaml_node_t *n, const char *path)
{
	yaml_node_item_t *it;
	char sub[PATH_LEN];
	size_t i = 0;
	int bad = 0;

	if (n->type != YAML_SEQUENCE_NODE) {
		err_at(c, n, path, "must be a list of method names, not %s", node_kind_name(n));
		return -1;
	}
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
		path_join(sub, sizeof(sub), path, "[%zu]", i);
		if (want_string(c, node_get(c, *it), sub, "method") == NULL)
			bad = 1;
	}
	if (bad)
		return -1;
	warn_at(c, n, path,
		"has no effect and is ignored, as docker-proxy ignores it; to test the method, "
		"add a condition {field: method, operator: in, value: [...]}");
	return 0;
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

/* A list of vector names (include:, except:) applied to *mask: set (add) or
 * cleared. Names are checked against the vector table; except: names must
 * be checked by the rule. */
static int preset_vector_list(struct cc *c, yaml_node_t *n, const char *path,
			      const char *preset, bool add, uint64_t *mask)
{
	yaml_node_item_t *it;
	char sub[PATH_LEN];
	size_t i = 0;
	int bad = 0, v;

	if (n->type != YAML_SEQUENCE_NODE) {
		err_at(c, n, path, "must be a list of vector names (see --list-presets), not %s",
		       node_kind_name(n));
		return -1;
	}
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
		yaml_node_t *e = node_get(c, *it);
		const char *s;

		path_join(sub, sizeof(sub), path, "[%zu]", i);
		s = want_string(c, e, sub, "vector");
		if (s == NULL) {
			bad = 1;
			continue;
		}
		v = preset_vector_find(s);
		if (v < 0) {
			err_at(c, e, sub, "unknown vector \"%.64s\" (see --list-presets)", s);
			bad = 1;
		} else if (!add && !(*mask & (1ULL << v))) {
			err_at(c, e, sub, "preset %s does not check vector %s", preset, s);
			bad = 1;
		} else if (add) {
			*mask |= 1ULL << v;
		} else {
			*mask &= ~(1ULL << v);
		}
	}
	return bad ? -1 : 0;
}

/* The preset keys of a rule: preset (required), include, except, roles. */
static int compile_preset(struct cc *c, struct rule *r, yaml_node_t **vals, const char *path)
{
	char sub[PATH_LEN];
	const struct preset_def *def;
	struct preset_cfg *cfg;
	const char *s;
	int bad = 0;

	path_join(sub, sizeof(sub), path, ".preset");
	s = want_string(c, vals[KEY_PRESET], sub, "preset");
	if (s == NULL)
		return -1;
	def = preset_find(s);
	if (def == NULL) {
		err_at(c, vals[KEY_PRESET], sub, "unknown preset \"%.64s\" (see --list-presets)", s);
		return -1;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		oom(c, vals[KEY_PRESET], sub);
		return -1;
	}
	r->preset = cfg;
	cfg->def = def;
	cfg->vectors = preset_default_vectors(def);
	if (vals[KEY_INCLUDE] != NULL) {
		path_join(sub, sizeof(sub), path, ".include");
		if (preset_vector_list(c, vals[KEY_INCLUDE], sub, preset_name(def), true,
				       &cfg->vectors) < 0)
			bad = 1;
	}
	if (vals[KEY_EXCEPT] != NULL) {
		path_join(sub, sizeof(sub), path, ".except");
		if (preset_vector_list(c, vals[KEY_EXCEPT], sub, preset_name(def), false,
				       &cfg->vectors) < 0)
			bad = 1;
	}
	if (vals[KEY_ROLES] != NULL) {
		yaml_node_t *n = vals[KEY_ROLES];
		yaml_node_item_t *it;
		size_t i = 0, cnt;

		path_join(sub, sizeof(sub), path, ".roles");
		if (n->type != YAML_SEQUENCE_NODE ||
		    n->data.sequence.items.start == n->data.sequence.items.top) {
			err_at(c, n, sub, "must be a non-empty list of roles");
			return -1;
		}
		cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
		if (cnt > LIST_MAX) {
			err_at(c, n, sub, "more than %d roles", LIST_MAX);
			return -1;
		}
		cfg->roles = calloc(cnt, sizeof(*cfg->roles));
		if (cfg->roles == NULL) {
			oom(c, n, sub);
			return -1;
		}
		cfg->has_roles = true;
		for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
			char item[PATH_LEN];
			yaml_node_t *e = node_get(c, *it);

			path_join(item, sizeof(item), sub, "[%zu]", i);
			s = want_string(c, e, item, "role");
			if (s == NULL || *s == '\0') {
				if (s != NULL)
					err_at(c, e, item, "a role cannot be empty");
				bad = 1;
				continue;
			}
			cfg->roles[cfg->n_roles] = dup_or_oom(c, e, item, s);
			if (cfg->roles[cfg->n_roles] == NULL)
				bad = 1;
			else
				cfg->n_roles++;
		}
	}
	return bad ? -1 : 0;
}

static struct rule *compile_rule(struct cc *c, yaml_node_t *m, size_t index)
{
	yaml_node_t *keys[N_KEYS] = {0}, *vals[N_KEYS] = {0};
	bool seen[N_KEYS] = {0};
	char path[PATH_LEN], sub[PATH_LEN];
	struct rule *r = NULL;
	yaml_node_pair_t *p;
	enum rule_action action = ACTION_DENY;
	bool have_action = false, is_preset;
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
		} else if (seen[k]) {
			err_at(c, kn, sub, "duplicate key");
			bad = 1;
		} else if (!is_null(node_get(c, p->value))) {
			/* `key: null` (the seed's wizard writes them) is "not set". */
			seen[k] = true;
			keys[k] = kn;
			vals[k] = node_get(c, p->value);
		} else {
			seen[k] = true;
		}
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		oom(c, m, path);
		return NULL;
	}
	r->index = index;
	is_preset = vals[KEY_PRESET] != NULL;
	if (is_preset) {
		/* A preset rule denies; every key it does not take is an error. */
		for (k = 0; k < N_KEYS; k++) {
			if (keys[k] == NULL || (PRESET_KEYS & A(k)))
				continue;
			path_join(sub, sizeof(sub), path, ".%s", rule_keys[k].name);
			err_at(c, keys[k], sub, "does not apply to a preset rule%s",
			       k == KEY_ACTION ? " (it denies)" : "");
			bad = 1;
			keys[k] = vals[k] = NULL;
		}
		action = ACTION_DENY;
		have_action = true;
		if (compile_preset(c, r, vals, path) < 0)
			bad = 1;
		if (vals[KEY_NAME] == NULL && r->preset != NULL) {
			/* default name: the preset's */
			r->name = dup_or_oom(c, m, path, preset_name(r->preset->def));
			if (r->name == NULL)
				bad = 1;
		}
		r->priority = PRIORITY_LIMIT; /* before every other rule unless set */
	} else {
		for (k = KEY_EXCEPT; k <= KEY_ROLES; k++) {
			if (keys[k] == NULL)
				continue;
			path_join(sub, sizeof(sub), path, ".%s", rule_keys[k].name);
			err_at(c, keys[k], sub, "only applies to a preset rule (preset: NAME)");
			bad = 1;
			keys[k] = vals[k] = NULL;
		}
	}

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
	/* dry_run: false is the default and harmless on any action. */
	if (vals[KEY_DRY_RUN] != NULL && have_action && !(rule_keys[KEY_DRY_RUN].actions & A(action))) {
		bool b = true;

		if (vals[KEY_DRY_RUN]->type == YAML_SCALAR_NODE &&
		    scalar_type(vals[KEY_DRY_RUN], &b) == ST_BOOL && !b)
			keys[KEY_DRY_RUN] = vals[KEY_DRY_RUN] = NULL;
	}
	for (k = 0; k < N_KEYS && !is_preset; k++) {
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
	r->status = action == ACTION_RATE_LIMIT ? 429 : 403;
	if (vals[KEY_DESCRIPTION] != NULL) {
		path_join(sub, sizeof(sub), path, ".description");
		s = want_string(c, vals[KEY_DESCRIPTION], sub, "description");
		if (s == NULL ||
		    (r->description = dup_or_oom(c, vals[KEY_DESCRIPTION], sub, s)) == NULL)
			bad = 1;
	}
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
		r->message_set = true;
	}
	if (action == ACTION_REQUIRE_ROLE) {
		/* The seed's default role is admin. */
		path_join(sub, sizeof(sub), path, ".role");
		s = vals[KEY_ROLE] != NULL ? want_string(c, vals[KEY_ROLE], sub, "role") : "admin";
		if (s == NULL || (r->role = dup_or_oom(c, m, sub, s)) == NULL)
			bad = 1;
	}
	if (have_action && action == ACTION_RATE_LIMIT) {
		path_join(sub, sizeof(sub), path, ".rate_limit");
		if (compile_rate_limit(c, r, vals[KEY_RATE_LIMIT], sub) < 0)
			bad = 1;
	}
	if (vals[KEY_DRY_RUN] != NULL) {
		path_join(sub, sizeof(sub), path, ".dry_run");
		if (want_bool(c, vals[KEY_DRY_RUN], sub, &r->dry_run) < 0)
			bad = 1;
	}
	if (vals[KEY_RESPONSE_FILTER] != NULL) {
		path_join(sub, sizeof(sub), path, ".response_filter");
		if (compile_filters(c, r, vals[KEY_RESPONSE_FILTER], sub) < 0)
			bad = 1;
	}
	if (vals[KEY_METHODS] != NULL) {
		path_join(sub, sizeof(sub), path, ".methods");
		if (check_methods(c, vals[KEY_METHODS], sub) < 0)
			bad = 1;
	}
	if (vals[KEY_CONDITIONS] != NULL) {
		yaml_node_t *cn = vals[KEY_CONDITIONS];

		path_join(sub, sizeof(sub), path, ".conditions");
		/* An empty list (like an absent one) matches every request. */
		if (cn->type == YAML_SEQUENCE_NODE &&
		    cn->data.sequence.items.start == cn->data.sequence.items.top)
			;
		else if (cn->type != YAML_SEQUENCE_NODE) {
			err_at(c, cn, sub, "must be a list of conditions, not %s",
			       node_kind_name(cn));
			bad = 1;
		} else {
			r->match = compile_list(c, COND_AND, cn, sub, 0);
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
		else if (r->preset != NULL)
			snprintf(buf, sizeof(buf), "denied by preset %s", preset_name(r->preset->def));
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
	free(rs->warnings);
	dpp_dispatch_free(rs->dispatch);
	free(rs->kill_start);
	free(rs->kill_rules);
	free(rs->stats);
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

const char *dpp_ruleset_warnings(const struct dpp_ruleset *rs)
{
	return rs->warnings;
}

static atomic_uint_fast64_t next_ruleset_id;

uint64_t dpp_ruleset_id(const struct dpp_ruleset *rs)
{
	return rs->id;
}

int dpp_ruleset_rule_info(const struct dpp_ruleset *rs, size_t i, struct dpp_rule_info *out)
{
	const struct rule *r;

	memset(out, 0, sizeof(*out));
	if (rs == NULL || i >= rs->n_rules)
		return -1;
	r = rs->rules[i];
	out->name = r->name;
	out->priority = r->priority;
	out->action = dpp_rule_action_names[r->action];
	out->dry_run = r->dry_run;
	out->n_conds = r->match != NULL ? r->match->n_kids : 0;
	out->hits = atomic_load_explicit(&rs->stats[i].hits, memory_order_relaxed);
	out->denials = atomic_load_explicit(&rs->stats[i].denials, memory_order_relaxed);
	out->dry_runs = atomic_load_explicit(&rs->stats[i].dry_runs, memory_order_relaxed);
	out->last_hit_ms = atomic_load_explicit(&rs->stats[i].last_hit_ms, memory_order_relaxed);
	return 0;
}

int dpp_ruleset_cond_text(const struct dpp_ruleset *rs, size_t i, size_t j, char *buf,
			  size_t len)
{
	const struct rule_cond *cd;
	char *val = NULL;

	if (len > 0)
		buf[0] = '\0';
	if (rs == NULL || i >= rs->n_rules || rs->rules[i]->match == NULL ||
	    j >= rs->rules[i]->match->n_kids)
		return -1;
	cd = rs->rules[i]->match->kids[j];
	switch (cd->kind) {
	case COND_LEAF:
		if (cd->test != TEST_EXISTS)
			val = cJSON_PrintUnformatted(cd->op == OP_IN || cd->op == OP_NOT_IN
							     ? cd->vals
							     : cJSON_GetArrayItem(cd->vals, 0));
		snprintf(buf, len, "%s %s%s%s", cd->label, dpp_rule_op_names[cd->op],
			 val != NULL ? " " : "", val != NULL ? val : "");
		cJSON_free(val);
		break;
	case COND_OR:
	case COND_AND:
		snprintf(buf, len, "%s (%zu conditions)", cd->kind == COND_OR ? "or" : "and",
			 cd->n_kids);
		break;
	case COND_NOT:
		snprintf(buf, len, "not (%zu conditions)", cd->kids[0]->n_kids);
		break;
	}
	return 0;
}

/* ---- shared leaves (rules_impl.h: memo_slot, body_key) ---- */

/* Exact structural equality of two operands: same types, same strings,
 * bit-equal numbers, same members in the same order (cJSON_Compare allows
 * an epsilon between numbers, which could merge tests that differ). */
static bool json_same(const cJSON *a, const cJSON *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	if ((a->type & 0xFF) != (b->type & 0xFF))
		return false;
	if ((a->string == NULL) != (b->string == NULL) ||
	    (a->string != NULL && strcmp(a->string, b->string) != 0))
		return false;
	switch (a->type & 0xFF) {
	case cJSON_Number:
		if (memcmp(&a->valuedouble, &b->valuedouble, sizeof(double)) != 0)
			return false;
		break;
	case cJSON_String:
	case cJSON_Raw:
		if ((a->valuestring == NULL) != (b->valuestring == NULL) ||
		    (a->valuestring != NULL && strcmp(a->valuestring, b->valuestring) != 0))
			return false;
		break;
	case cJSON_Array:
	case cJSON_Object: {
		const cJSON *x = a->child, *y = b->child;

		for (; x != NULL && y != NULL; x = x->next, y = y->next) {
			if (!json_same(x, y))
				return false;
		}
		if (x != NULL || y != NULL)
			return false;
		break;
	}
	default:
		break;
	}
	return true;
}

static uint64_t hash_str(uint64_t h, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; p != NULL && *p != '\0'; p++)
		h = (h ^ *p) * 1099511628211ull;
	return (h ^ 0xff) * 1099511628211ull;
}

static uint64_t hash_json(uint64_t h, const cJSON *v)
{
	if (v == NULL)
		return hash_str(h, "-");
	h = (h ^ (unsigned)(v->type & 0xFF)) * 1099511628211ull;
	h = hash_str(h, v->string);
	switch (v->type & 0xFF) {
	case cJSON_String:
	case cJSON_Raw: h = hash_str(h, v->valuestring); break;
	case cJSON_Number: {
		uint64_t bits;

		memcpy(&bits, &v->valuedouble, sizeof(bits));
		h = (h ^ bits) * 1099511628211ull;
		break;
	}
	case cJSON_Array:
	case cJSON_Object:
		for (const cJSON *c = v->child; c != NULL; c = c->next)
			h = hash_json(h, c);
		break;
	default: break;
	}
	return h;
}

struct leaves {
	struct rule_cond **v;
	size_t n, cap;
};

static int collect_leaves(struct leaves *l, struct rule_cond *cd)
{
	if (cd == NULL)
		return 0;
	if (cd->kind != COND_LEAF) {
		for (size_t i = 0; i < cd->n_kids; i++) {
			if (collect_leaves(l, cd->kids[i]) != 0)
				return -1;
		}
		return 0;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap > 0 ? 2 * l->cap : 256;
		struct rule_cond **nv = realloc(l->v, cap * sizeof(*nv));

		if (nv == NULL)
			return -1;
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = cd;
	return 0;
}

static bool same_test(const struct rule_cond *a, const struct rule_cond *b)
{
	return a->op == b->op && strcmp(a->label, b->label) == 0 && json_same(a->vals, b->vals);
}

/* Gives leaves that are the same test one cache slot, and body leaves of
 * the same label one body_key. Only an optimisation: out of memory leaves
 * every leaf uncached (evaluation is the same, only slower). */
static void intern_leaves(struct dpp_ruleset *rs)
{
	struct leaves l = {0};
	size_t cap = 16, *tab = NULL, *lab = NULL;

	for (size_t i = 0; i < rs->n_rules; i++) {
		if (collect_leaves(&l, rs->rules[i]->match) != 0)
			goto done;
	}
	for (size_t k = 0; k < l.n; k++) {
		struct rule_cond *cd = l.v[k];

		if (cd->test != TEST_EQUALS || cd->vals == NULL)
			continue;
		switch (cd->field) {
		case FIELD_PATH:
		case FIELD_METHOD:
		case FIELD_ENDPOINT:
		case FIELD_CLIENT_IP:
		case FIELD_ROLE:
		case FIELD_IDENTITY:
			cd->n_vals = (size_t)cJSON_GetArraySize(cd->vals);
			if (cd->n_vals == 1 && cJSON_IsString(cd->vals->child))
				cd->eq1 = cd->vals->child->valuestring;
			cd->quick = true;
			break;
		default:
			break;
		}
	}
	if (l.n < 2)
		goto done;
	while (cap < 2 * l.n)
		cap *= 2;
	tab = malloc(cap * sizeof(*tab));
	lab = malloc(cap * sizeof(*lab));
	if (tab == NULL || lab == NULL)
		goto done;
	memset(tab, 0xff, cap * sizeof(*tab));
	memset(lab, 0xff, cap * sizeof(*lab));
	for (size_t k = 0; k < l.n; k++) {
		struct rule_cond *cd = l.v[k];
		uint64_t h = hash_json(hash_str(1469598103934665603ull + (uint64_t)cd->op, cd->label),
				       cd->vals);
		size_t i;

		for (i = (size_t)h & (cap - 1); tab[i] != SIZE_MAX; i = (i + 1) & (cap - 1)) {
			if (same_test(l.v[tab[i]], cd))
				break;
		}
		if (tab[i] == SIZE_MAX) {
			tab[i] = k;
		} else {
			struct rule_cond *first = l.v[tab[i]];

			if (first->memo_slot == 0 && rs->n_memo_slots < LEAF_MEMO_MAX)
				first->memo_slot = (uint32_t)++rs->n_memo_slots;
			cd->memo_slot = first->memo_slot;
		}
		if (cd->field != FIELD_BODY)
			continue;
		h = hash_str(1469598103934665603ull, cd->label);
		for (i = (size_t)h & (cap - 1); lab[i] != SIZE_MAX; i = (i + 1) & (cap - 1)) {
			if (strcmp(l.v[lab[i]]->label, cd->label) == 0)
				break;
		}
		if (lab[i] == SIZE_MAX)
			lab[i] = k;
		cd->body_key = l.v[lab[i]]->label;
	}
done:
	free(tab);
	free(lab);
	free(l.v);
}

/* The top-level conditions of rule r that may decide "no match" for it
 * once known false (rules_impl.h, kill_start): each shared leaf of its
 * list up to and including the first condition that can fail. Calls
 * fn(slot, arg) for each. */
static void kill_slots(const struct rule *r, void (*fn)(uint32_t slot, void *arg), void *arg)
{
	const struct rule_cond *m = r->match;

	if (m == NULL || m->kind != COND_AND)
		return;
	for (size_t k = 0; k < m->n_kids; k++) {
		const struct rule_cond *kid = m->kids[k];

		if (kid->kind == COND_LEAF && kid->memo_slot != 0)
			fn(kid->memo_slot - 1, arg);
		if (!dpp_dispatch_infallible(kid))
			return;
	}
}

struct kill_fill {
	uint32_t *pos;   /* counts (first pass), then the next free entry per slot */
	uint32_t *rules; /* NULL while counting */
	uint32_t rule;
};

static void kill_add(uint32_t slot, void *arg)
{
	struct kill_fill *kf = arg;

	if (kf->rules == NULL)
		kf->pos[slot + 1]++;
	else
		kf->rules[kf->pos[slot]++] = kf->rule;
}

/* Builds rs->kill_start/kill_rules; out of memory leaves them NULL (no
 * rule is ever skipped that way: only an optimisation). */
static void build_kills(struct dpp_ruleset *rs)
{
	size_t ns = rs->n_memo_slots;
	uint32_t *start = NULL, *pos = NULL, *list = NULL;
	struct kill_fill kf;

	if (ns == 0)
		return;
	start = calloc(ns + 1, sizeof(*start));
	pos = malloc((ns + 1) * sizeof(*pos));
	if (start == NULL || pos == NULL)
		goto fail;
	kf = (struct kill_fill){.pos = start};
	for (size_t i = 0; i < rs->n_rules; i++)
		kill_slots(rs->rules[i], kill_add, &kf);
	for (size_t k = 0; k < ns; k++)
		start[k + 1] += start[k];
	if (start[ns] == 0)
		goto fail;
	list = malloc(start[ns] * sizeof(*list));
	if (list == NULL)
		goto fail;
	memcpy(pos, start, (ns + 1) * sizeof(*pos));
	kf = (struct kill_fill){.pos = pos, .rules = list};
	for (size_t i = 0; i < rs->n_rules; i++) {
		kf.rule = (uint32_t)i;
		kill_slots(rs->rules[i], kill_add, &kf);
	}
	free(pos);
	rs->kill_start = start;
	rs->kill_rules = list;
	return;
fail:
	free(start);
	free(pos);
	free(list);
}

/* A set of rule names (open addressing over indices into rules[]): the
 * duplicate-name check and the reload's statistics carry were O(n^2)
 * strcmp loops, ~15 million instructions for 1,000 rules. */
struct name_set {
	size_t *slot; /* SIZE_MAX: empty */
	size_t mask;
};

static int name_set_init(struct name_set *ns, size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n)
		cap *= 2;
	ns->slot = malloc(cap * sizeof(*ns->slot));
	if (ns->slot == NULL)
		return -1;
	memset(ns->slot, 0xff, cap * sizeof(*ns->slot));
	ns->mask = cap - 1;
	return 0;
}

/* The slot holding the rule named name, or the empty slot where it goes. */
static size_t *name_set_find(const struct name_set *ns, struct rule *const *rules,
			     const char *name)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++)
		h = (h ^ *p) * 1099511628211ull;
	for (size_t i = (size_t)h & ns->mask;; i = (i + 1) & ns->mask) {
		if (ns->slot[i] == SIZE_MAX || strcmp(rules[ns->slot[i]]->name, name) == 0)
			return &ns->slot[i];
	}
}

void dpp_ruleset_carry_stats(const struct dpp_ruleset *next, const struct dpp_ruleset *prev)
{
	struct name_set ns;

	if (next == NULL || prev == NULL)
		return;
	if (name_set_init(&ns, prev->n_rules) == 0) {
		for (size_t j = 0; j < prev->n_rules; j++)
			*name_set_find(&ns, prev->rules, prev->rules[j]->name) = j;
	} else {
		ns.slot = NULL; /* out of memory: the linear search */
	}
	for (size_t i = 0; i < next->n_rules; i++) {
		size_t j0 = 0, j1 = prev->n_rules;

		if (ns.slot != NULL) {
			j0 = *name_set_find(&ns, prev->rules, next->rules[i]->name);
			if (j0 == SIZE_MAX)
				continue;
			j1 = j0 + 1;
		}
		for (size_t j = j0; j < j1; j++) {
			if (strcmp(next->rules[i]->name, prev->rules[j]->name) != 0)
				continue;
			atomic_store(&next->stats[i].hits, atomic_load(&prev->stats[j].hits));
			atomic_store(&next->stats[i].denials, atomic_load(&prev->stats[j].denials));
			atomic_store(&next->stats[i].dry_runs, atomic_load(&prev->stats[j].dry_runs));
			atomic_store(&next->stats[i].last_hit_ms,
				     atomic_load(&prev->stats[j].last_hit_ms));
			break;
		}
	}
	free(ns.slot);
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
	struct errs w = {.file = e.file};
	struct cc c = {.doc = doc, .e = &e, .w = &w};
	struct dpp_ruleset *rs = NULL;
	struct name_set names = {NULL, 0};
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
	if (name_set_init(&names, n) < 0)
		names.slot = NULL; /* out of memory: the linear search */
	for (it = rules_node->data.sequence.items.start, i = 0;
	     it < rules_node->data.sequence.items.top; it++, i++) {
		yaml_node_t *rn = node_get(&c, *it);
		struct rule *r = compile_rule(&c, rn, i);

		size_t *slot = NULL;

		if (r == NULL)
			continue;
		if (names.slot != NULL) {
			slot = name_set_find(&names, rs->rules, r->name);
			j = *slot != SIZE_MAX ? *slot : rs->n_rules;
		} else {
			for (j = 0; j < rs->n_rules; j++) {
				if (strcmp(rs->rules[j]->name, r->name) == 0)
					break;
			}
		}
		if (j < rs->n_rules) {
			char p[PATH_LEN];

			snprintf(p, sizeof(p), "rules[%zu].name", i);
			err_at(&c, rn, p, "duplicate rule name \"%s\" (first in rules[%zu])", r->name,
			       rs->rules[j]->index);
			rule_free(r);
			continue;
		}
		if (slot != NULL)
			*slot = rs->n_rules;
		rs->rules[rs->n_rules++] = r;
		rs->n_filters_total += r->n_filters;
	}
	free(names.slot);
	names.slot = NULL;
	qsort(rs->rules, rs->n_rules, sizeof(*rs->rules), rule_cmp);
	/* Without the index (out of memory) evaluation walks every rule. */
	if (e.count == 0) {
		rs->dispatch = dpp_dispatch_build(rs->rules, rs->n_rules);
		intern_leaves(rs);
		if (rs->dispatch != NULL)
			build_kills(rs);
	}
done:
	rs->stats = calloc(rs->n_rules > 0 ? rs->n_rules : 1, sizeof(*rs->stats));
	if (rs->stats == NULL)
		err_at(&c, NULL, "rules", "out of memory");
	rs->id = atomic_fetch_add(&next_ruleset_id, 1) + 1;
	if (e.count == 0) {
		rc = 0;
		if (!w.oom) {
			rs->warnings = w.buf;
			w.buf = NULL;
		}
		*out = rs;
		rs = NULL;
	}
cleanup:
	free(names.slot);
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
	free(w.buf);
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

/* JSON text, with every "${" written "$${": the output is read back through
 * the loader's ${NAME} interpolation (config.c), which would otherwise take a
 * literal "${" in a value for a variable. '$' is not JSON syntax, so it only
 * occurs inside strings. */
static int print_json(FILE *out, const cJSON *v)
{
	char *s = cJSON_PrintUnformatted(v);
	const char *p, *q;

	if (s == NULL)
		return -1;
	for (p = s; (q = strstr(p, "${")) != NULL; p = q + 2) {
		fwrite(p, 1, (size_t)(q - p), out);
		fputs("$${", out);
	}
	fputs(p, out);
	cJSON_free(s);
	return 0;
}

/* A user string as a JSON string literal, which is also a YAML double-quoted
 * scalar: control bytes escaped, so a block-scalar message stays on one line
 * and the output reads back as the same value. */
static int print_quoted(FILE *out, const char *s)
{
	cJSON *v = cJSON_CreateString(s);
	int rc = v != NULL ? print_json(out, v) : -1;

	cJSON_Delete(v);
	return rc;
}

/* Seconds when whole (the seed's unit), else a duration string. */
static void print_seconds(FILE *out, uint64_t ms)
{
	if (ms % 1000 == 0)
		fprintf(out, "%llu", (unsigned long long)(ms / 1000));
	else
		fprintf(out, "%llums", (unsigned long long)ms);
}

static void indent(FILE *out, int n)
{
	fprintf(out, "%*s", n, "");
}

/* One list of conditions, each item starting with "- " at column `col`. */
static int print_items(FILE *out, const struct rule_cond *group, int col)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < group->n_kids && rc == 0; i++) {
		const struct rule_cond *cd = group->kids[i];

		indent(out, col);
		fputs("- ", out);
		switch (cd->kind) {
		case COND_LEAF:
			/* Field names of plain characters cannot resolve to
			 * anything but a string; others are quoted. */
			fputs("field: ", out);
			if (cd->label[strspn(cd->label, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
							"QRSTUVWXYZ0123456789_.-")] == '\0')
				fputs(cd->label, out);
			else
				rc = print_quoted(out, cd->label);
			fputc('\n', out);
			indent(out, col + 2);
			fprintf(out, "operator: %s\n", dpp_rule_op_names[cd->op]);
			if (cd->test == TEST_EXISTS)
				break;
			indent(out, col + 2);
			fputs("value: ", out);
			if (rc == 0)
				rc = print_json(out, cd->op == OP_IN || cd->op == OP_NOT_IN
							     ? cd->vals
							     : cJSON_GetArrayItem(cd->vals, 0));
			fputc('\n', out);
			break;
		case COND_OR:
		case COND_AND:
			fprintf(out, "%s:\n", cd->kind == COND_OR ? "or" : "and");
			rc = print_items(out, cd, col + 4);
			break;
		case COND_NOT:
			/* NOT holds one AND group: its items are the list. */
			fputs("not:\n", out);
			rc = print_items(out, cd->kids[0], col + 4);
			break;
		}
	}
	return rc;
}

/* A list of vector names under `key`, with a leading comment line on what
 * it is, wrapped. mask: the vectors to print. */
static void print_vectors(FILE *out, const char *key, uint64_t mask)
{
	int v, col, first = 1;

	col = fprintf(out, "    %s: [", key);
	for (v = 0; v < preset_vector_count(); v++) {
		const char *n = preset_vector_name(v);

		if (!(mask & (1ULL << v)))
			continue;
		if (!first)
			col += fprintf(out, ",");
		if (col + (int)strlen(n) > 96) {
			fputs("\n      ", out);
			col = 6;
		} else if (!first) {
			col += fprintf(out, " ");
		}
		col += fprintf(out, "%s", n);
		first = 0;
	}
	fputs("]\n", out);
}

/* A preset rule: the preset, the vector changes against its defaults, the
 * roles, status, message (when written), dry_run, and a comment with the
 * vectors it checks. */
static int print_preset(FILE *out, const struct rule *r)
{
	const struct preset_cfg *p = r->preset;
	uint64_t def = preset_default_vectors(p->def);
	size_t i;
	int rc = 0;

	fprintf(out, "    preset: %s\n", preset_name(p->def));
	if (p->vectors & ~def)
		print_vectors(out, "include", p->vectors & ~def);
	if (def & ~p->vectors)
		print_vectors(out, "except", def & ~p->vectors);
	if (p->has_roles) {
		fputs("    roles: [", out);
		for (i = 0; i < p->n_roles; i++) {
			if (i > 0)
				fputs(", ", out);
			rc |= print_quoted(out, p->roles[i]);
		}
		fputs("]\n", out);
	}
	fprintf(out, "    status: %d\n", r->status);
	if (r->message_set) {
		fputs("    message: ", out);
		rc |= print_quoted(out, r->message);
		fputc('\n', out);
	}
	fprintf(out, "    dry_run: %s\n", r->dry_run ? "true" : "false");
	fputs("    # checks:", out);
	{
		int v, col = 13;

		for (v = 0; v < preset_vector_count(); v++) {
			const char *n = preset_vector_name(v);

			if (!(p->vectors & (1ULL << v)))
				continue;
			if (col + (int)strlen(n) > 96) {
				fputs("\n    #        ", out);
				col = 13;
			}
			col += fprintf(out, " %s", n);
		}
		if (p->vectors == 0)
			fputs(" (none)", out);
	}
	fputc('\n', out);
	if (!p->has_roles)
		fputs("    # applies to every caller, admin included\n", out);
	return rc;
}

int dpp_ruleset_print(const struct dpp_ruleset *rs, FILE *out)
{
	size_t i, j;
	int rc = 0;

	fprintf(out, "# %zu rule%s in evaluation order; default: %s\n", rs->n_rules,
		rs->n_rules == 1 ? "" : "s", dpp_policy_verdict_name(rs->default_verdict));
	fputs(rs->n_rules == 0 ? "rules: []\n" : "rules:\n", out);
	for (i = 0; i < rs->n_rules && rc == 0; i++) {
		const struct rule *r = rs->rules[i];

		fputs("  - name: ", out);
		rc |= print_quoted(out, r->name);
		fputc('\n', out);
		if (r->description != NULL) {
			fputs("    description: ", out);
			rc |= print_quoted(out, r->description);
			fputc('\n', out);
		}
		if (r->preset != NULL) {
			fprintf(out, "    priority: %ld\n", r->priority);
			rc |= print_preset(out, r);
			goto conditions;
		}
		fprintf(out, "    priority: %ld\n    action: %s\n", r->priority,
			dpp_rule_action_names[r->action]);
		switch (r->action) {
		case ACTION_REQUIRE_ROLE:
			fputs("    role: ", out);
			rc |= print_quoted(out, r->role);
			fputc('\n', out);
			break;
		case ACTION_RATE_LIMIT:
			fprintf(out, "    rate_limit: {requests: %u, period: ", r->requests);
			print_seconds(out, r->period_ms);
			fputs(", penalty: ", out);
			print_seconds(out, r->penalty_ms);
			fputs("}\n", out);
			break;
		case ACTION_RESPONSE_FILTER:
			fputs("    response_filter:\n", out);
			for (j = 0; j < r->n_filters; j++) {
				fputs("      - field: ", out);
				rc |= print_quoted(out, r->filters[j].field);
				fprintf(out, "\n        action: %s\n",
					dpp_filter_action_name(r->filters[j].action));
				if (r->filters[j].value != NULL) {
					fputs("        replacement: ", out);
					rc |= print_quoted(out, r->filters[j].value);
					fputc('\n', out);
				}
			}
			break;
		case ACTION_DENY:
		case ACTION_ALLOW:
			break;
		}
		if (r->action == ACTION_DENY || r->action == ACTION_REQUIRE_ROLE ||
		    r->action == ACTION_RATE_LIMIT) {
			fprintf(out, "    status: %d\n    message: ", r->status);
			rc |= print_quoted(out, r->message);
			fprintf(out, "\n    dry_run: %s\n", r->dry_run ? "true" : "false");
		}
	conditions:
		if (r->match == NULL) {
			fputs("    conditions: []\n", out);
		} else {
			fputs("    conditions:\n", out);
			rc |= print_items(out, r->match, 6);
		}
	}
	if (rc == 0 && ferror(out))
		rc = -1;
	return rc != 0 ? -1 : 0;
}
