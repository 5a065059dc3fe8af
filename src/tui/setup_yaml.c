/* The answers as YAML, in the seed's syntax: written by libyaml's emitter
 * (quoting and escaping are its job, not ours), one fragment per section and
 * per template, with comment lines between them naming each template.
 * Only keys with a value are written: the output never has null keys. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <yaml.h>

#include "setup_model.h"

#define YAML_MAX (1024 * 1024)

struct out {
	char *buf;
	size_t len, cap;
	int failed;
};

static int put(struct out *o, const void *data, size_t n)
{
	if (o->failed || o->len + n + 1 > YAML_MAX) {
		o->failed = 1;
		return -1;
	}
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 4096;
		char *b;

		while (cap < o->len + n + 1)
			cap *= 2;
		b = realloc(o->buf, cap);
		if (b == NULL) {
			o->failed = 1;
			return -1;
		}
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, data, n);
	o->len += n;
	o->buf[o->len] = '\0';
	return 0;
}

static int write_handler(void *data, unsigned char *buffer, size_t size)
{
	return put(data, buffer, size) == 0;
}

struct em {
	yaml_emitter_t e;
	int ok;
};

static void ev(struct em *m, yaml_event_t *event, int made)
{
	if (!m->ok)
		return;
	if (!made || !yaml_emitter_emit(&m->e, event))
		m->ok = 0;
}

/* Plain scalars that a YAML 1.1 or 1.2 reader would not take as a string. */
static int needs_quotes(const char *s)
{
	static const char *const special[] = {"null", "~", "true", "false", "yes", "no", "on",
					      "off", "y", "n", NULL};
	const char *p = s;

	if (*s == '\0' || strstr(s, "${") != NULL)
		return 1;
	for (size_t i = 0; special[i] != NULL; i++)
		if (strcasecmp(s, special[i]) == 0)
			return 1;
	/* Anything that starts like a number (0x1F, 1e3, .5, 1_000, 12:30)
	 * is quoted: YAML 1.1 readers take many of those as numbers. */
	if (*p == '-' || *p == '+')
		p++;
	return (*p >= '0' && *p <= '9') || (*p == '.' && p[1] >= '0' && p[1] <= '9');
}

static void scalar_styled(struct em *m, const char *s, yaml_scalar_style_t style)
{
	yaml_event_t event;

	ev(m, &event,
	   yaml_scalar_event_initialize(&event, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1,
					style));
}

static void str(struct em *m, const char *s)
{
	scalar_styled(m, s, needs_quotes(s) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE);
}

/* A typed value (boolean, number) as a plain scalar. */
static void plain(struct em *m, const char *s)
{
	scalar_styled(m, s, YAML_PLAIN_SCALAR_STYLE);
}

static void num(struct em *m, long v)
{
	char b[32];

	snprintf(b, sizeof(b), "%ld", v);
	plain(m, b);
}

static void map_start(struct em *m)
{
	yaml_event_t event;

	ev(m, &event, yaml_mapping_start_event_initialize(&event, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE));
}

static void map_end(struct em *m)
{
	yaml_event_t event;

	ev(m, &event, yaml_mapping_end_event_initialize(&event));
}

static void seq_start(struct em *m)
{
	yaml_event_t event;

	ev(m, &event, yaml_sequence_start_event_initialize(&event, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE));
}

static void seq_end(struct em *m)
{
	yaml_event_t event;

	ev(m, &event, yaml_sequence_end_event_initialize(&event));
}

static void kv(struct em *m, const char *k, const char *v)
{
	str(m, k);
	str(m, v);
}

static int begin(struct em *m, struct out *o)
{
	yaml_event_t event;

	memset(m, 0, sizeof(*m));
	m->ok = 1;
	if (!yaml_emitter_initialize(&m->e))
		return -1;
	yaml_emitter_set_output(&m->e, write_handler, o);
	yaml_emitter_set_unicode(&m->e, 1);
	yaml_emitter_set_width(&m->e, 100);
	yaml_emitter_set_indent(&m->e, 2);
	ev(m, &event, yaml_stream_start_event_initialize(&event, YAML_UTF8_ENCODING));
	ev(m, &event, yaml_document_start_event_initialize(&event, NULL, NULL, NULL, 1));
	return 0;
}

static int finish(struct em *m)
{
	yaml_event_t event;
	int ok;

	ev(m, &event, yaml_document_end_event_initialize(&event, 1));
	ev(m, &event, yaml_stream_end_event_initialize(&event));
	if (m->ok && !yaml_emitter_flush(&m->e))
		m->ok = 0;
	ok = m->ok;
	yaml_emitter_delete(&m->e);
	return ok ? 0 : -1;
}

static void cond_value(struct em *m, const struct setup_cond *c)
{
	switch (c->kind) {
	case SETUP_V_NONE:
		return;
	case SETUP_V_BOOL:
	case SETUP_V_INT:
		str(m, "value");
		plain(m, c->value);
		return;
	case SETUP_V_LIST: {
		char buf[1024];
		char *save = NULL, *item;

		str(m, "value");
		seq_start(m);
		snprintf(buf, sizeof(buf), "%s", c->value);
		for (item = strtok_r(buf, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
			while (*item == ' ')
				item++;
			str(m, item);
		}
		seq_end(m);
		return;
	}
	case SETUP_V_STR:
		kv(m, "value", c->value);
		return;
	}
}

static void conds(struct em *m, const struct setup_cond *list)
{
	seq_start(m);
	for (const struct setup_cond *c = list; c->field != NULL || c->or_list != NULL; c++) {
		map_start(m);
		if (c->field == NULL) {
			str(m, "or");
			conds(m, c->or_list);
		} else {
			kv(m, "field", c->field);
			kv(m, "operator", c->op);
			cond_value(m, c);
		}
		map_end(m);
	}
	seq_end(m);
}

static void rule(struct em *m, const struct setup_rule *r, int dry_run)
{
	map_start(m);
	kv(m, "name", r->name);
	if (r->description != NULL)
		kv(m, "description", r->description);
	if (r->conds != NULL && (r->conds[0].field != NULL || r->conds[0].or_list != NULL)) {
		str(m, "conditions");
		conds(m, r->conds);
	}
	kv(m, "action", r->action);
	if (r->role != NULL)
		kv(m, "role", r->role);
	if (r->rl_requests > 0) {
		str(m, "rate_limit");
		map_start(m);
		str(m, "requests");
		num(m, r->rl_requests);
		str(m, "period");
		num(m, r->rl_period);
		if (r->rl_penalty > 0) {
			str(m, "penalty");
			num(m, r->rl_penalty);
		}
		map_end(m);
	}
	if (r->status > 0) {
		str(m, "status");
		num(m, r->status);
	}
	if (r->filter_field != NULL) {
		str(m, "response_filter");
		seq_start(m);
		map_start(m);
		kv(m, "field", r->filter_field);
		kv(m, "action", "redact");
		map_end(m);
		seq_end(m);
	}
	if (r->message != NULL)
		kv(m, "message", r->message);
	if (dry_run || r->dry_run) {
		str(m, "dry_run");
		plain(m, "true");
	}
	map_end(m);
}

static void global(struct em *m, const struct setup_answers *a)
{
	str(m, "global");
	map_start(m);
	kv(m, "bind", a->bind);
	str(m, "port");
	num(m, a->port);
	if (a->socket[0] != '\0')
		kv(m, "socket", a->socket);
	if (a->tls) {
		str(m, "tls");
		map_start(m);
		kv(m, "cert", a->tls_cert);
		kv(m, "key", a->tls_key);
		if (a->tls_ca[0] != '\0') {
			kv(m, "client_ca", a->tls_ca);
			if (a->require_client_cert || a->auth == SETUP_AUTH_MTLS) {
				str(m, "require_client_cert");
				plain(m, "true");
			}
		}
		map_end(m);
	}
	if (setup_store_supported() && setup_store_path(a)[0] != '\0') {
		str(m, "store");
		map_start(m);
		kv(m, "path", setup_store_path(a));
		map_end(m);
	}
	map_end(m);
}

static void token_value(struct em *m, const struct setup_answers *a, const struct setup_token *t,
			const char *env)
{
	char ref[96];

	if (a->token_env) {
		snprintf(ref, sizeof(ref), "${%s}", env);
		str(m, ref);
	} else {
		str(m, t->value);
	}
}

static void auth(struct em *m, const struct setup_answers *a)
{
	str(m, "auth");
	map_start(m);
	switch (a->auth) {
	case SETUP_AUTH_NONE:
		kv(m, "type", "none");
		break;
	case SETUP_AUTH_SECRET:
		kv(m, "type", "bearer");
		str(m, "secret");
		token_value(m, a, &a->tokens[0], "DOCKER_PROXY_SECRET");
		break;
	case SETUP_AUTH_TOKENS:
		kv(m, "type", "bearer");
		str(m, "tokens");
		seq_start(m);
		for (int i = 0; i < a->ntokens; i++) {
			map_start(m);
			str(m, "token");
			token_value(m, a, &a->tokens[i], a->tokens[i].env);
			kv(m, "role", a->tokens[i].role);
			map_end(m);
		}
		seq_end(m);
		break;
	case SETUP_AUTH_MTLS:
		kv(m, "type", "mtls");
		str(m, "mtls");
		map_start(m);
		if (a->ncert_roles > 0) {
			str(m, "cert_role_map");
			seq_start(m);
			for (int i = 0; i < a->ncert_roles; i++) {
				map_start(m);
				kv(m, "cn", a->cert_roles[i].cn);
				kv(m, "role", a->cert_roles[i].role);
				map_end(m);
			}
			seq_end(m);
		}
		if (a->mtls_default_role[0] != '\0')
			kv(m, "default_role", a->mtls_default_role);
		map_end(m);
		break;
	}
	map_end(m);
}

/* One top-level fragment: a mapping (section != NULL) or a sequence of rules. */
static int fragment(struct out *o, void (*fn)(struct em *, const struct setup_answers *),
		    const struct setup_answers *a)
{
	struct em m;

	if (begin(&m, o) != 0)
		return -1;
	map_start(&m);
	fn(&m, a);
	map_end(&m);
	return finish(&m);
}

static int rules_fragment(struct out *o, const struct setup_rule *const *rules, int dry_run)
{
	struct em m;

	if (begin(&m, o) != 0)
		return -1;
	seq_start(&m);
	for (size_t i = 0; rules[i] != NULL; i++)
		rule(&m, rules[i], dry_run);
	seq_end(&m);
	return finish(&m);
}

__attribute__((format(printf, 2, 3))) static void comment(struct out *o, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(o, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

char *setup_render_yaml(const struct setup_answers *a, const char **err)
{
	struct out o = {0};
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	int any = 0;

	if (gmtime_r(&now, &tm) == NULL || strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm) == 0)
		snprintf(when, sizeof(when), "?");
	comment(&o, "# docker-policy-proxy configuration, written by `docker-policy-proxy setup` (%s).\n", when);
	comment(&o, "%s", "# Check it with: docker-policy-proxy --check-config --config FILE\n");
	comment(&o, "%s", "# Every key is described in docker-policy-proxy.yaml(5).\n");
	if (fragment(&o, global, a) != 0 || fragment(&o, auth, a) != 0)
		goto fail;
	for (size_t i = 0; i < setup_template_count(); i++)
		any |= a->tpl_on[i];
	if (!any && a->ncustom == 0) {
		comment(&o, "%s", "# No rules: every authenticated request is allowed.\n");
		put(&o, "rules: []\n", 10);
		goto done;
	}
	put(&o, "rules:\n", 7);
	for (size_t i = 0; i < setup_template_count(); i++) {
		const struct dpp_setup_template *t = setup_template_get(i);

		if (!a->tpl_on[i])
			continue;
		comment(&o, "# template %s", t->name);
		comment(&o, ": %s", t->help);
		comment(&o, "%s", a->tpl_dry[i] ? " (dry run: logged, not enforced)\n" : "\n");
		if (rules_fragment(&o, t->rules, a->tpl_dry[i]) != 0)
			goto fail;
	}
	for (int i = 0; i < a->ncustom; i++) {
		const struct setup_rule *one[] = {&a->custom[i].rule, NULL};

		comment(&o, "# custom rule %s (rule builder)\n", a->custom[i].name);
		if (rules_fragment(&o, one, 0) != 0)
			goto fail;
	}
done:
	if (o.failed)
		goto fail;
	return o.buf;
fail:
	*err = "cannot write the YAML (out of memory, a value libyaml cannot emit, or over 1 MiB)";
	free(o.buf);
	return NULL;
}
