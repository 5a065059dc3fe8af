#include "dpp/runtime.h"
#include "dpp/cidr.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "auth_yaml.h"
#include "config_yaml.h"
#include "rules_yaml.h"

#define MAX_TRUSTED 64

struct dpp_runtime {
	atomic_int refs;
	struct dpp_settings settings;
	struct dpp_auth *auth;
	struct dpp_ruleset *rules;
	struct dpp_cidr trusted[MAX_TRUSTED];
	size_t n_trusted;
	char *exposure_warning; /* repeated hourly by the caller; NULL when none */
};

/* Parses an address, mapping ::ffff:a.b.c.d to IPv4. */
static int parse_ip(const char *s, int *family, unsigned char out[16])
{
	if (inet_pton(AF_INET, s, out) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out) != 1)
		return -1;
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (memcmp(out, mapped, 12) == 0) {
		memmove(out, out + 12, 4);
		*family = AF_INET;
	} else {
		*family = AF_INET6;
	}
	return 0;
}

int dpp_runtime_trusts(const struct dpp_runtime *rt, const char *ip)
{
	for (size_t i = 0; i < rt->n_trusted; i++) {
		if (dpp_cidr_match(&rt->trusted[i], ip))
			return 1;
	}
	return 0;
}

static void normalize(const char *ip, char *out, size_t outlen)
{
	unsigned char a[16];
	int family;

	if (parse_ip(ip, &family, a) != 0 || inet_ntop(family, a, out, (socklen_t)outlen) == NULL)
		snprintf(out, outlen, "%s", ip);
}

void dpp_runtime_client_ip(const struct dpp_runtime *rt, const char *peer, const char *xff,
			   char *out, size_t outlen)
{
	char buf[4096];
	char *p;

	normalize(peer != NULL ? peer : "", out, outlen);
	if (xff == NULL || !dpp_runtime_trusts(rt, out) || strlen(xff) >= sizeof(buf))
		return;
	strcpy(buf, xff);
	/* Right to left: each trusted hop vouches for the entry before it. */
	for (;;) {
		char *comma = strrchr(buf, ',');
		char *entry = comma != NULL ? comma + 1 : buf;
		unsigned char a[16];
		int family;

		while (*entry == ' ' || *entry == '\t')
			entry++;
		for (p = entry + strlen(entry); p > entry && (p[-1] == ' ' || p[-1] == '\t'); p--)
			p[-1] = '\0';
		if (parse_ip(entry, &family, a) != 0)
			return; /* garbage: keep the last believable address */
		normalize(entry, out, outlen);
		if (!dpp_runtime_trusts(rt, out) || comma == NULL)
			return;
		*comma = '\0';
	}
}

static int append_text(char **dst, const char *text)
{
	size_t old = *dst != NULL ? strlen(*dst) : 0, add = strlen(text);
	char *n;

	if (add == 0)
		return 0;
	n = realloc(*dst, old + add + 2);
	if (n == NULL)
		return -1;
	memcpy(n + old, text, add + 1);
	if (n[old + add - 1] != '\n') {
		n[old + add] = '\n';
		n[old + add + 1] = '\0';
	}
	*dst = n;
	return 0;
}

static int load_trusted(struct dpp_runtime *rt, const struct dpp_config *cfg, char **errors)
{
	yaml_node_t *list = dpp_config_node(cfg, "global.trusted_proxies");
	const yaml_document_t *doc = dpp_config_yaml(cfg);

	if (list == NULL || doc == NULL || list->type != YAML_SEQUENCE_NODE)
		return 0;
	for (yaml_node_item_t *it = list->data.sequence.items.start;
	     it < list->data.sequence.items.top; it++) {
		yaml_node_t *n = dpp_config_yaml_node(cfg, *it);

		if (n == NULL || n->type != YAML_SCALAR_NODE)
			continue; /* the config loader already reported it */
		if (rt->n_trusted == MAX_TRUSTED) {
			append_text(errors, "global.trusted_proxies: at most 64 entries");
			return -1;
		}
		if (dpp_cidr_parse((const char *)n->data.scalar.value, &rt->trusted[rt->n_trusted]) != 0)
			continue; /* reported by the loader */
		rt->n_trusted++;
	}
	return 0;
}

int dpp_runtime_build(const struct dpp_config *cfg, const struct dpp_settings *effective,
		      struct dpp_runtime **out, char **errors, char **warnings)
{
	struct dpp_runtime *rt = calloc(1, sizeof(*rt));
	const yaml_document_t *doc = dpp_config_yaml(cfg);
	const char *file = dpp_config_path(cfg);
	char *e = NULL, *w = NULL;
	int failed = 0;

	*out = NULL;
	*errors = NULL;
	*warnings = NULL;
	if (rt == NULL)
		return -1;
	atomic_init(&rt->refs, 1);
	rt->settings = *effective;
	if (dpp_auth_compile(doc, dpp_config_section(cfg, "auth"), file, doc != NULL,
			     effective->bind, &rt->auth, &e, &w) != 0)
		failed = 1;
	if ((e != NULL && append_text(errors, e) != 0) || (w != NULL && append_text(warnings, w) != 0))
		failed = 1;
	free(e);
	free(w);
	e = NULL;
	if (dpp_ruleset_compile((yaml_document_t *)doc, dpp_config_section(cfg, "rules"), file,
				&rt->rules, &e) != 0)
		failed = 1;
	if (e != NULL && append_text(errors, e) != 0)
		failed = 1;
	free(e);
	if (rt->rules != NULL && dpp_ruleset_warnings(rt->rules) != NULL &&
	    append_text(warnings, dpp_ruleset_warnings(rt->rules)) != 0)
		failed = 1;
	if (rt->rules != NULL)
		dpp_ruleset_set_default(rt->rules, effective->default_action ? DPP_POLICY_DENY
									     : DPP_POLICY_ALLOW);
	if (load_trusted(rt, cfg, errors) != 0)
		failed = 1;
	if (rt->auth != NULL) {
		char *err = NULL;
		int tls = effective->tls_cert[0] != '\0' && effective->tls_key[0] != '\0';

		if (dpp_auth_exposure_check(rt->auth, effective->bind, tls,
					    effective->insecure_allow_open, &rt->exposure_warning,
					    &err) != 0) {
			failed = 1;
			if (append_text(errors, err != NULL ? err : "exposure check failed") != 0)
				failed = 1;
		}
		free(err);
		if (rt->exposure_warning != NULL && append_text(warnings, rt->exposure_warning) != 0)
			failed = 1;
	}
	if (effective->listen_unix[0] != '\0' && strcmp(effective->listen_unix, effective->socket) == 0) {
		append_text(errors, "global.listen_unix: must not be the Docker socket itself");
		failed = 1;
	}
	if (effective->tls_require_client_cert && effective->tls_client_ca[0] == '\0') {
		append_text(errors, "global.tls.require_client_cert: needs global.tls.client_ca");
		failed = 1;
	}
	if (effective->tls_client_ca[0] != '\0' && effective->tls_cert[0] == '\0') {
		append_text(errors, "global.tls.client_ca: needs global.tls.cert and key");
		failed = 1;
	}
	if ((effective->tls_cert[0] == '\0') != (effective->tls_key[0] == '\0')) {
		append_text(errors, "global.tls: cert and key must be set together");
		failed = 1;
	}
	if (failed) {
		dpp_runtime_unref(rt);
		return -1;
	}
	*out = rt;
	return 0;
}

struct dpp_runtime *dpp_runtime_ref(struct dpp_runtime *rt)
{
	if (rt != NULL)
		atomic_fetch_add(&rt->refs, 1);
	return rt;
}

void dpp_runtime_unref(struct dpp_runtime *rt)
{
	if (rt == NULL || atomic_fetch_sub(&rt->refs, 1) != 1)
		return;
	dpp_auth_unref(rt->auth);
	dpp_ruleset_unref(rt->rules);
	free(rt->exposure_warning);
	free(rt);
}

const struct dpp_settings *dpp_runtime_settings(const struct dpp_runtime *rt)
{
	return &rt->settings;
}
const char *dpp_runtime_exposure_warning(const struct dpp_runtime *rt)
{
	return rt->exposure_warning;
}

const struct dpp_auth *dpp_runtime_auth(const struct dpp_runtime *rt) { return rt->auth; }
const struct dpp_ruleset *dpp_runtime_rules(const struct dpp_runtime *rt) { return rt->rules; }

void dpp_runtime_print(const struct dpp_runtime *rt, FILE *out)
{
	fprintf(out, "# auth: %s\n", dpp_auth_describe(rt->auth));
	if (dpp_ruleset_print(rt->rules, out) != 0)
		fprintf(out, "# (cannot print the rules)\n");
}
