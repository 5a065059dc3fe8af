/* `docker-policy-proxy explain`: runs one described request through the
 * proxy's own code (header and framing checks, canonicaliser, router,
 * authentication, body parser, rule evaluator with its trace hook) and shows
 * every step, the decision and the answer the client would get.
 *
 * It runs in its own process, with a fresh rate limiter and a fresh
 * authentication lockout table: it never consumes or reads a running
 * daemon's buckets, so a rate_limit rule shows what its FIRST request in a
 * period gets. The order of the checks before the rules is the order of
 * src/proxy/server.c start_request / finish_buffered (that code is bound to
 * libmicrohttpd); tests/e2e/explain_test.sh holds the two to the same answers.
 */
#include "explain.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include <cjson/cJSON.h>

#include "dpp/auth.h"
#include "dpp/body.h"
#include "dpp/canon.h"
#include "dpp/config.h"
#include "dpp/headers.h"
#include "dpp/log.h"
#include "dpp/mediatype.h"
#include "dpp/peer.h"
#include "dpp/policy.h"
#include "dpp/ratelimit.h"
#include "dpp/route.h"
#include "dpp/runtime.h"

#include "replay.h"

#define MAX_HEADERS 100
#define MAX_CONDS 20000 /* trace records kept; more are counted, not shown */
#define BODY_FILE_MAX (256L * 1024 * 1024)

static const char *const LIMITER_NOTE =
	"rate limits and the authentication lockout are evaluated by explain's own, fresh "
	"limiter in this process: a running daemon's buckets are neither read nor consumed, "
	"so a rate_limit rule shows what the first request of a period gets";

struct cond_rec {
	size_t rule;
	struct dpp_trace_cond c;
};

struct rule_rec {
	const char *name, *action, *outcome;
	int dry_run, evaluated, matched;
};

struct explain {
	/* input */
	const char *config, *method, *target, *body_file, *token, *role, *cert_cn, *client_ip;
	int json;
	struct dpp_header hdr[MAX_HEADERS + 2];
	size_t n_hdr;
	char *body;
	size_t body_len;
	char cl_text[24];
	/* state */
	struct dpp_config *cfg;
	struct dpp_runtime *rt;
	struct dpp_target *canon;
	const char *endpoint;
	char client[64];
	struct dpp_auth_result auth;
	int auth_done;
	int auth_simulated; /* --role: authentication not run */
	struct dpp_body_doc *doc;
	const char *body_kind;
	/* trace */
	struct rule_rec *rules;
	size_t n_rules;
	struct cond_rec *conds;
	size_t n_conds, conds_dropped;
	long cur_rule;
	int evaluated;
	struct dpp_policy_decision dec;
	/* outcome */
	const char *stage;  /* where it was decided: "framing", ..., "rules" */
	int status;         /* 0: forwarded to Docker */
	char message[1024];
	const char *hname;
	char hvalue[128];
	char forward_note[256];
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: docker-policy-proxy explain [--config F] --method M --target T\n"
		"           [--header 'K: V']... [--body FILE]\n"
		"           [--token T | --role R | --cert-cn CN] [--client-ip A] [--json]\n"
		"       docker-policy-proxy explain --replay [--since 24h] --config CANDIDATE.yaml\n"
		"           [--store PATH] [--json]\n"
		"\n"
		"Shows how the proxy decides one request: the canonical path, dockerd's\n"
		"endpoint, the body as the rules see it, every rule in evaluation order\n"
		"with each condition's result, the decision and the response.\n"
		"--replay runs the recorded request history through a candidate config\n"
		"and lists the decisions that would change.\n"
		"Exit: 0 forwarded, 1 refused, 64 usage, 66 no body file, 78 bad config.\n");
}

static int refuse(struct explain *x, const char *stage, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int refuse(struct explain *x, const char *stage, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(x->message, sizeof(x->message), fmt, ap);
	va_end(ap);
	x->stage = stage;
	x->status = status;
	return 1;
}

static const char *hget(const struct explain *x, const char *name)
{
	for (size_t i = 0; i < x->n_hdr; i++) {
		if (strcasecmp(x->hdr[i].name, name) == 0)
			return x->hdr[i].value;
	}
	return NULL;
}

/* --- trace hook ---------------------------------------------------------- */

static void on_rule(void *ctx, size_t index, const char *name, const char *action, int dry)
{
	struct explain *x = ctx;

	(void)name;
	(void)action;
	(void)dry;
	if (index < x->n_rules) {
		x->rules[index].evaluated = 1;
		x->cur_rule = (long)index;
	}
}

static void on_cond(void *ctx, const struct dpp_trace_cond *c)
{
	struct explain *x = ctx;

	if (x->n_conds >= MAX_CONDS || x->cur_rule < 0) {
		x->conds_dropped++;
		return;
	}
	x->conds[x->n_conds].rule = (size_t)x->cur_rule;
	x->conds[x->n_conds].c = *c; /* strings and JSON: ruleset, request, body: all outlive us */
	x->n_conds++;
}

static void on_done(void *ctx, int matched, const char *outcome)
{
	struct explain *x = ctx;

	if (x->cur_rule >= 0 && (size_t)x->cur_rule < x->n_rules) {
		x->rules[x->cur_rule].matched = matched;
		x->rules[x->cur_rule].outcome = outcome;
	}
}

/* --- the request view, as server.c builds it ------------------------------ */

static int judge(struct explain *x)
{
	struct dpp_request_view view = {
		.method = x->method,
		.path = dpp_target_path(x->canon),
		.endpoint = x->endpoint,
		.headers = x->hdr,
		.n_headers = x->n_hdr,
		.client_ip = x->client,
		.role = x->auth.role,
		.identity = x->auth.identity,
	};
	const struct dpp_ruleset *rs = dpp_runtime_rules(x->rt);
	struct dpp_policy_tracer tr = {on_rule, on_cond, on_done, x};
	struct dpp_ratelimit *rl = dpp_ratelimit_create(1024);
	struct dpp_policy_decision *d = &x->dec;

	dpp_request_view_bind(&view, x->canon, x->doc);
	x->n_rules = dpp_ruleset_count(rs);
	x->rules = calloc(x->n_rules + 1, sizeof(*x->rules));
	x->conds = calloc(MAX_CONDS, sizeof(*x->conds));
	if (x->rules == NULL || x->conds == NULL || rl == NULL) {
		dpp_ratelimit_free(rl);
		return refuse(x, "internal", 500, "out of memory");
	}
	for (size_t i = 0; i < x->n_rules; i++) {
		struct dpp_rule_info ri;

		x->rules[i].matched = -2;
		if (dpp_ruleset_rule_info(rs, i, &ri) == 0) {
			x->rules[i].name = ri.name;
			x->rules[i].action = ri.action;
			x->rules[i].dry_run = ri.dry_run;
		}
	}
	x->cur_rule = -1;
	x->evaluated = 1;
	dpp_policy_evaluate_traced(rs, &view, rl, dpp_ratelimit_now_ms(), &tr, d);
	dpp_ratelimit_free(rl);
	if (d->verdict == DPP_POLICY_ALLOW)
		return 0;
	if (d->rule_action != NULL && strcmp(d->rule_action, "rate_limit") == 0) {
		x->hname = "Retry-After";
		snprintf(x->hvalue, sizeof(x->hvalue), "%u", d->retry_after > 0 ? d->retry_after : 1);
		return refuse(x, "rules", d->status > 0 ? d->status : 429, "%s",
			      d->message != NULL ? d->message : "rate limit exceeded");
	}
	return refuse(x, "rules", d->status > 0 ? d->status : 403, "%s",
		      d->message != NULL ? d->message : "denied by policy");
}

static int authenticate(struct explain *x)
{
	const struct dpp_auth *a = dpp_runtime_auth(x->rt);
	struct dpp_peer peer;
	char authz[4200];
	const char *h = hget(x, "Authorization");

	memset(&peer, 0, sizeof(peer));
	x->auth_done = 1;
	if (x->role != NULL) {
		memset(&x->auth, 0, sizeof(x->auth));
		x->auth.status = DPP_AUTH_OK;
		snprintf(x->auth.role, sizeof(x->auth.role), "%s", x->role);
		snprintf(x->auth.identity, sizeof(x->auth.identity), "explain:role");
		x->auth_simulated = 1;
		return 0;
	}
	if (x->token != NULL) {
		snprintf(authz, sizeof(authz), "Bearer %s", x->token);
		h = authz;
	}
	if (x->cert_cn != NULL) {
		peer.tls = 1;
		peer.has_cert = 1;
		snprintf(peer.cn, sizeof(peer.cn), "%s", x->cert_cn);
	}
	dpp_auth_authenticate_request(a, NULL, h, x->client, dpp_lockout_now_ms(),
				      x->cert_cn != NULL ? &peer : NULL, &x->auth);
	switch (x->auth.status) {
	case DPP_AUTH_OK:
		return 0;
	case DPP_AUTH_MISSING:
	case DPP_AUTH_INVALID:
		if (dpp_auth_get_type(a) == DPP_AUTH_MTLS)
			return refuse(x, "authentication", 401, "%s",
				      x->auth.status == DPP_AUTH_MISSING
					      ? "authentication required: connect with a client certificate issued by the configured client CA"
					      : "the client certificate maps to no valid role");
		x->hname = "WWW-Authenticate";
		snprintf(x->hvalue, sizeof(x->hvalue), "%s", dpp_auth_challenge(x->auth.status));
		return refuse(x, "authentication", 401, "%s",
			      x->auth.status == DPP_AUTH_MISSING
				      ? "authentication required: send Authorization: Bearer <token>"
				      : "invalid credentials");
	default:
		return refuse(x, "authentication", 500, "authentication failed internally");
	}
}

static const char *const hijack_refusal =
	"docker-policy-proxy relays attach and exec streams only over HTTP Upgrade: send "
	"'Connection: Upgrade' and 'Upgrade: tcp' (every current Docker client does)";

/* The proxy's steps, in server.c's order. Returns 1 when refused (x->stage,
 * x->status, x->message set), 0 when the request would be forwarded. */
static int decide(struct explain *x)
{
	const struct dpp_settings *set = dpp_runtime_settings(x->rt);
	const char *reason = NULL, *path, *ref, *connection, *upgrade, *ctype;
	struct dpp_route_match route;
	long long content_length = -1;
	int chunked = 0, has_body, upgrading = 0, exec_plain = 0;
	size_t ref_len;
	enum dpp_form_kind form;
	enum dpp_body_kind kind;

	dpp_runtime_client_ip(x->rt, x->client_ip, hget(x, "X-Forwarded-For"), x->client,
			      sizeof(x->client));
	if (dpp_headers_check_fields(x->hdr, x->n_hdr, &reason) != 0)
		return refuse(x, "header fields", 400, "bad request header: %s", reason);
	if (dpp_headers_check_framing(x->hdr, x->n_hdr, &content_length, &chunked, &reason) != 0)
		return refuse(x, "framing", 400, "bad request framing: %s", reason);
	has_body = content_length > 0 || chunked;
	if (dpp_canon_parse(x->target, strlen(x->target), &x->canon, &reason) != 0)
		return refuse(x, "request target", 400, "refused request target: %s",
			      reason != NULL ? reason : "invalid");
	path = dpp_target_path(x->canon);
	dpp_route_match(x->method, path, dpp_target_version_prefix(x->canon)[0] != '\0', &route);
	x->endpoint = route.route != NULL ? route.route->endpoint : NULL;
	if (set->metrics_enabled && dpp_target_version(x->canon)[0] == '\0' &&
	    strcmp(path, set->metrics_path) == 0) {
		if ((strcmp(x->method, "GET") != 0 && strcmp(x->method, "HEAD") != 0) || has_body) {
			x->hname = "Allow";
			snprintf(x->hvalue, sizeof(x->hvalue), "GET, HEAD");
			return refuse(x, "metrics path", 405,
				      "only GET and HEAD are allowed on the metrics path");
		}
		x->stage = "metrics path";
		snprintf(x->forward_note, sizeof(x->forward_note),
			 "answered by the proxy itself (global.metrics.path), never forwarded, no rules");
		return 0;
	}
	if (authenticate(x))
		return 1;
	if (dpp_route_bad_reference(&route, path, &ref, &ref_len))
		return refuse(x, "container reference", 400,
			      "refused container reference \"%.*s\": it contains '/' (a legacy link alias); address the container by its name or ID",
			      (int)(ref_len > 256 ? 256 : ref_len), ref);
	connection = hget(x, "Connection");
	upgrade = hget(x, "Upgrade");
	if (upgrade != NULL && dpp_headers_list_has(connection, "upgrade") &&
	    route.route != NULL && (route.route->flags & DPP_ROUTE_UPGRADE))
		upgrading = 1; /* explain models HTTP/1.1 */
	if (route.route != NULL && (route.route->flags & DPP_ROUTE_HIJACK) && !upgrading) {
		if (x->endpoint == NULL || strcmp(x->endpoint, DPP_EP_EXEC_START) != 0 || !has_body)
			return refuse(x, "protocol", 400, "%s", hijack_refusal);
		exec_plain = 1;
	}
	ctype = hget(x, "Content-Type");
	form = dpp_media_form_kind(ctype);
	if (form == DPP_FORM_MULTIPART)
		return refuse(x, "Content-Type", 400, "multipart/form-data request bodies are refused (Docker would read form fields from them instead of the query parameters)");
	if (x->endpoint == NULL || (route.route->flags & DPP_ROUTE_FORM)) {
		if (form == DPP_FORM_URLENCODED)
			return refuse(x, "Content-Type", 400, "urlencoded request bodies are refused (Docker would merge them into the query parameters)");
		if (!dpp_media_printable(ctype))
			return refuse(x, "Content-Type", 400, "refused Content-Type: only printable ASCII is accepted (Docker reads it with Unicode rules)");
	}
	if (x->endpoint != NULL && strcmp(x->endpoint, DPP_EP_CONTAINER_START) == 0 && has_body)
		return refuse(x, "body", 400, "a request body on container start is refused (old API versions read it as host configuration)");
	kind = dpp_body_kind_endpoint(x->method, x->endpoint);
	x->body_kind = dpp_body_kind_name(kind);
	if (kind == DPP_BODY_NONE && has_body)
		return refuse(x, "body", 400, "a request body is not allowed on %s", x->method);
	if (kind == DPP_BODY_JSON && has_body) {
		enum dpp_body_status st;
		char *err = NULL;
		int r = 0;

		if ((long long)x->body_len > set->max_body_bytes ||
		    content_length > set->max_body_bytes)
			return refuse(x, "body", 413, "request body larger than %d bytes (global.max_body_bytes)",
				      set->max_body_bytes);
		st = dpp_body_parse(x->body != NULL ? x->body : "", x->body_len,
				    DPP_BODY_DEFAULT_MAX_DEPTH, &x->doc, &err);
		if (st == DPP_BODY_NOMEM)
			r = refuse(x, "body", 500, "out of memory reading the request body");
		else if (st == DPP_BODY_INVALID)
			r = refuse(x, "body", 400, "invalid JSON request body: %s",
				   err != NULL ? err : "cannot parse");
		free(err);
		err = NULL;
		if (r)
			return r;
		if (st == DPP_BODY_OK && x->endpoint != NULL &&
		    strcmp(x->endpoint, DPP_EP_CONTAINER_CREATE) == 0 &&
		    dpp_body_check_create(x->doc, &err) != 0) {
			r = refuse(x, "body", 400, "refused container create body: %s",
				   err != NULL ? err : "ambiguous fields");
			free(err);
			return r;
		}
		free(err);
		if (exec_plain) {
			static const char *const detach[] = {"Detach"};
			const cJSON *d = x->doc != NULL ? dpp_body_lookup(x->doc, detach, 1) : NULL;

			if (!cJSON_IsTrue(d))
				return refuse(x, "protocol", 400, "%s", hijack_refusal);
		}
	} else if (has_body) {
		snprintf(x->forward_note, sizeof(x->forward_note),
			 "the %s body is forwarded unread (the rules see no body)", x->body_kind);
	}
	if (judge(x))
		return 1;
	x->stage = "rules";
	return 0;
}

/* --- output ------------------------------------------------------------- */

static const char *result_text(int r)
{
	switch (r) {
	case 1: return "true";
	case 0: return "false";
	case -1: return "ERROR";
	case DPP_TRACE_SKIPPED: return "not evaluated";
	default: return "?";
	}
}

static const char *node_text(enum dpp_trace_node n)
{
	switch (n) {
	case DPP_TRACE_ANY: return "any of (or)";
	case DPP_TRACE_NOT: return "none of (not)";
	case DPP_TRACE_LEAF: return "leaf";
	case DPP_TRACE_ALL: break;
	}
	return "all of";
}

static const char *node_json(enum dpp_trace_node n)
{
	switch (n) {
	case DPP_TRACE_ANY: return "or";
	case DPP_TRACE_NOT: return "not";
	case DPP_TRACE_LEAF: return "condition";
	case DPP_TRACE_ALL: break;
	}
	return "and";
}

/* Result of the group opened at conds[i]: its closing record. */
static int group_result(const struct explain *x, size_t i)
{
	const struct cond_rec *o = &x->conds[i];

	for (size_t k = i + 1; k < x->n_conds && x->conds[k].rule == o->rule; k++) {
		const struct dpp_trace_cond *c = &x->conds[k].c;

		if (c->node != DPP_TRACE_LEAF && c->depth == o->c.depth &&
		    c->result != DPP_TRACE_PENDING && c->result != DPP_TRACE_SKIPPED)
			return c->result;
		if (c->depth < o->c.depth)
			break;
	}
	return -1; /* an error propagated before the group closed */
}

static char *json_text(const cJSON *j)
{
	char *t = j != NULL ? dpp_body_text(j) : NULL;

	return t;
}

static void print_value(FILE *out, const cJSON *j)
{
	char *t = json_text(j);

	fputs(t != NULL ? t : "?", out);
	free(t);
}

static void print_cond_line(FILE *out, const struct explain *x, size_t i)
{
	const struct dpp_trace_cond *c = &x->conds[i].c;
	int ind = 6 + 2 * (int)c->depth;

	if (c->node != DPP_TRACE_LEAF) {
		if (c->result != DPP_TRACE_PENDING && c->result != DPP_TRACE_SKIPPED)
			return; /* closing record: the result is shown on the opening line */
		fprintf(out, "%*s%s:%s%s\n", ind, "", node_text(c->node),
			c->result == DPP_TRACE_SKIPPED ? "  -> " : "  -> ",
			c->result == DPP_TRACE_SKIPPED ? "not evaluated"
						       : result_text(group_result(x, i)));
		return;
	}
	fprintf(out, "%*s%s %s", ind, "", c->field, c->op);
	if (c->operand != NULL) {
		fputc(' ', out);
		if (cJSON_GetArraySize(c->operand) == 1)
			print_value(out, c->operand->child);
		else
			print_value(out, c->operand);
	}
	if (c->result != DPP_TRACE_SKIPPED) {
		fputs("   [seen: ", out);
		if (c->actual != NULL) {
			char *q = NULL;
			cJSON *s = cJSON_CreateString(c->actual);

			q = s != NULL ? cJSON_PrintUnformatted(s) : NULL;
			fputs(q != NULL ? q : "?", out);
			cJSON_free(q);
			cJSON_Delete(s);
		} else if (c->actual_json != NULL) {
			print_value(out, c->actual_json);
		} else if (strncmp(c->field, "body.", 5) == 0 && strchr(c->field, '*') != NULL) {
			fputs("each value the path names", out);
		} else {
			fputs("absent", out);
		}
		fputc(']', out);
	}
	fprintf(out, "  -> %s\n", result_text(c->result));
}

static void print_text(const struct explain *x, FILE *out)
{
	const struct dpp_ruleset *rs = x->rt != NULL ? dpp_runtime_rules(x->rt) : NULL;
	const struct dpp_policy_decision *d = &x->dec;

	fprintf(out, "request:      %s %s\n", x->method, x->target);
	if (x->canon != NULL) {
		fprintf(out, "canonical:    %s", dpp_target_path(x->canon));
		if (dpp_target_version(x->canon)[0] != '\0')
			fprintf(out, "   (API version %s)", dpp_target_version(x->canon));
		fputc('\n', out);
		fprintf(out, "endpoint:     %s\n",
			x->endpoint != NULL ? x->endpoint : "(none: dockerd has no route; it answers 404)");
	}
	fprintf(out, "client_ip:    %s\n", x->client[0] != '\0' ? x->client : x->client_ip);
	if (x->auth_done)
		fprintf(out, "identity:     %s, role %s (auth: %s%s)\n",
			x->auth.identity[0] != '\0' ? x->auth.identity : "-",
			x->auth.role[0] != '\0' ? x->auth.role : "-",
			dpp_auth_describe(dpp_runtime_auth(x->rt)),
			x->auth_simulated ? "; not run: --role given" : "");
	if (x->doc != NULL) {
		char *t = dpp_body_text(dpp_body_root(x->doc));
		cJSON *pretty = t != NULL ? dpp_json_parse_exact(t, strlen(t), NULL) : NULL;
		char *p = pretty != NULL ? cJSON_Print(pretty) : NULL;

		fprintf(out, "body:         as the rules see it (Docker's field spelling, numbers as sent):\n");
		for (const char *s = p != NULL ? p : t, *nl; s != NULL && *s != '\0'; s = nl + 1) {
			int len, tabs = 0;

			nl = strchr(s, '\n');
			len = nl != NULL ? (int)(nl - s) : (int)strlen(s);
			while (tabs < len && s[tabs] == '\t')
				tabs++; /* cJSON indents with tabs: two spaces each */
			fprintf(out, "  %*s", 2 * tabs, "");
			for (int k = tabs; k < len; k++)
				fputc(s[k] == '\t' ? ' ' : s[k], out); /* "key":<TAB>value */
			fputc('\n', out);
			if (nl == NULL)
				break;
		}
		cJSON_free(p);
		cJSON_Delete(pretty);
		free(t);
	} else if (x->body_kind != NULL && x->body_len > 0) {
		fprintf(out, "body:         %zu bytes, %s\n", x->body_len, x->body_kind);
	} else {
		fprintf(out, "body:         none\n");
	}
	if (x->evaluated && rs != NULL) {
		fprintf(out, "rules:        %zu, in evaluation order (priority, then file order); default %s\n",
			x->n_rules, dpp_policy_verdict_name(dpp_ruleset_get_default(rs)));
		for (size_t i = 0; i < x->n_rules; i++) {
			const struct rule_rec *r = &x->rules[i];

			fprintf(out, "  [%zu] %s (%s%s)", i + 1, r->name, r->action,
				r->dry_run ? ", dry run" : "");
			if (!r->evaluated) {
				fputs("  -- not reached\n", out);
				continue;
			}
			fputc('\n', out);
			for (size_t k = 0; k < x->n_conds; k++) {
				if (x->conds[k].rule == i)
					print_cond_line(out, x, k);
			}
			fprintf(out, "      => %s\n", r->outcome != NULL ? r->outcome : "?");
		}
		if (x->conds_dropped > 0)
			fprintf(out, "  (%zu condition records not shown)\n", x->conds_dropped);
		if (d->rule == NULL)
			fprintf(out, "decision:     %s by the default action\n",
				dpp_policy_verdict_name(d->verdict));
		else
			fprintf(out, "decision:     %s by rule %s (%s)\n",
				dpp_policy_verdict_name(d->verdict), d->rule, d->rule_action);
		for (size_t i = 0; i < d->n_dry_run; i++)
			fprintf(out, "dry run:      %s would have denied (%s)\n", d->dry_run[i],
				d->dry_run_messages[i] != NULL ? d->dry_run_messages[i]
							       : "would have been denied (dry run)");
		if (d->error != NULL)
			fprintf(out, "error:        %s\n", d->error);
	} else {
		fprintf(out, "rules:        not evaluated (decided at: %s)\n",
			x->stage != NULL ? x->stage : "?");
	}
	if (x->status != 0) {
		cJSON *o = cJSON_CreateObject();
		char *t = NULL;

		if (o != NULL && cJSON_AddStringToObject(o, "message", x->message) != NULL)
			t = cJSON_PrintUnformatted(o);
		fprintf(out, "response:     HTTP %d from the proxy (refused at: %s)\n", x->status, x->stage);
		fprintf(out, "  Content-Type: application/json\n");
		if (x->hname != NULL)
			fprintf(out, "  %s: %s\n", x->hname, x->hvalue);
		fprintf(out, "  %s\n", t != NULL ? t : "?");
		cJSON_free(t);
		cJSON_Delete(o);
	} else {
		fprintf(out, "response:     %s\n",
			x->forward_note[0] != '\0' && strcmp(x->stage, "metrics path") == 0
				? x->forward_note
				: "forwarded to Docker: the status and body are Docker's");
		if (x->forward_note[0] != '\0' && strcmp(x->stage, "metrics path") != 0)
			fprintf(out, "  note: %s\n", x->forward_note);
		for (size_t i = 0; i < d->n_filters; i++)
			fprintf(out, "  response filter: %s %s (rule %s)\n",
				dpp_filter_action_name(d->filters[i].action), d->filters[i].field,
				d->filters[i].rule);
	}
	fprintf(out, "note:         %s\n", LIMITER_NOTE);
}

static cJSON *str_or_null(const char *s)
{
	return s != NULL && *s != '\0' ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static cJSON *json_copy_exact(const cJSON *j)
{
	char *t = j != NULL ? dpp_body_text(j) : NULL;
	cJSON *c = t != NULL ? dpp_json_parse_exact(t, strlen(t), NULL) : NULL;

	free(t);
	return c != NULL ? c : cJSON_CreateNull();
}

static int print_json(const struct explain *x, FILE *out)
{
	const struct dpp_policy_decision *d = &x->dec;
	cJSON *o = cJSON_CreateObject(), *rules, *resp, *dec, *a;
	char *t;
	int rc = -1;

	if (o == NULL)
		return -1;
	cJSON_AddItemToObject(o, "method", cJSON_CreateString(x->method));
	cJSON_AddItemToObject(o, "target", cJSON_CreateString(x->target));
	cJSON_AddItemToObject(o, "canonical_path",
			      x->canon != NULL ? cJSON_CreateString(dpp_target_path(x->canon))
					       : cJSON_CreateNull());
	cJSON_AddItemToObject(o, "api_version",
			      str_or_null(x->canon != NULL ? dpp_target_version(x->canon) : NULL));
	cJSON_AddItemToObject(o, "endpoint", str_or_null(x->endpoint));
	cJSON_AddItemToObject(o, "client_ip",
			      cJSON_CreateString(x->client[0] != '\0' ? x->client : x->client_ip));
	if (x->auth_done) {
		a = cJSON_AddObjectToObject(o, "auth");
		if (a != NULL) {
			cJSON_AddItemToObject(a, "identity", str_or_null(x->auth.identity));
			cJSON_AddItemToObject(a, "role", str_or_null(x->auth.role));
			cJSON_AddBoolToObject(a, "simulated", x->auth_simulated);
		}
	}
	cJSON_AddItemToObject(o, "body",
			      x->doc != NULL ? json_copy_exact(dpp_body_root(x->doc)) : cJSON_CreateNull());
	cJSON_AddBoolToObject(o, "rules_evaluated", x->evaluated);
	rules = cJSON_AddArrayToObject(o, "rules");
	for (size_t i = 0; x->evaluated && rules != NULL && i < x->n_rules; i++) {
		const struct rule_rec *r = &x->rules[i];
		cJSON *jr = cJSON_CreateObject(), *conds;

		if (jr == NULL)
			goto cleanup;
		cJSON_AddItemToArray(rules, jr);
		cJSON_AddStringToObject(jr, "name", r->name);
		cJSON_AddStringToObject(jr, "action", r->action);
		cJSON_AddBoolToObject(jr, "dry_run", r->dry_run);
		cJSON_AddBoolToObject(jr, "reached", r->evaluated);
		if (!r->evaluated)
			continue;
		cJSON_AddItemToObject(jr, "matched", r->matched >= 0 ? cJSON_CreateBool(r->matched)
								      : cJSON_CreateNull());
		cJSON_AddItemToObject(jr, "outcome", str_or_null(r->outcome));
		conds = cJSON_AddArrayToObject(jr, "conditions");
		for (size_t k = 0; conds != NULL && k < x->n_conds; k++) {
			const struct dpp_trace_cond *c = &x->conds[k].c;
			cJSON *jc;
			int res = c->result;

			if (x->conds[k].rule != i)
				continue;
			if (c->node != DPP_TRACE_LEAF && res != DPP_TRACE_PENDING &&
			    res != DPP_TRACE_SKIPPED)
				continue;
			if (res == DPP_TRACE_PENDING)
				res = group_result(x, k);
			jc = cJSON_CreateObject();
			if (jc == NULL)
				goto cleanup;
			cJSON_AddItemToArray(conds, jc);
			cJSON_AddNumberToObject(jc, "depth", c->depth);
			cJSON_AddStringToObject(jc, "type", node_json(c->node));
			if (c->node == DPP_TRACE_LEAF) {
				cJSON_AddStringToObject(jc, "field", c->field);
				cJSON_AddStringToObject(jc, "operator", c->op);
				cJSON_AddItemToObject(jc, "value",
						      c->operand == NULL ? cJSON_CreateNull()
						      : cJSON_GetArraySize(c->operand) == 1
							      ? json_copy_exact(c->operand->child)
							      : json_copy_exact(c->operand));
				if (c->actual != NULL)
					cJSON_AddStringToObject(jc, "seen", c->actual);
				else if (c->actual_json != NULL)
					cJSON_AddItemToObject(jc, "seen", json_copy_exact(c->actual_json));
				else
					cJSON_AddNullToObject(jc, "seen");
			}
			if (res == DPP_TRACE_SKIPPED)
				cJSON_AddStringToObject(jc, "result", "not_evaluated");
			else if (res < 0)
				cJSON_AddStringToObject(jc, "result", "error");
			else
				cJSON_AddBoolToObject(jc, "result", res);
		}
	}
	dec = cJSON_AddObjectToObject(o, "decision");
	if (dec != NULL) {
		cJSON_AddStringToObject(dec, "verdict",
					x->status != 0 ? "deny" : "allow");
		cJSON_AddStringToObject(dec, "decided_at", x->stage != NULL ? x->stage : "?");
		cJSON_AddItemToObject(dec, "rule", str_or_null(x->evaluated ? d->rule : NULL));
		cJSON_AddItemToObject(dec, "rule_action",
				      str_or_null(x->evaluated ? d->rule_action : NULL));
		a = cJSON_AddArrayToObject(dec, "dry_run");
		for (size_t i = 0; a != NULL && i < d->n_dry_run; i++)
			cJSON_AddItemToArray(a, cJSON_CreateString(d->dry_run[i]));
		cJSON_AddItemToObject(dec, "error", str_or_null(d->error));
	}
	resp = cJSON_AddObjectToObject(o, "response");
	if (resp != NULL) {
		cJSON_AddBoolToObject(resp, "forwarded", x->status == 0 &&
							  strcmp(x->stage, "metrics path") != 0);
		if (x->status != 0) {
			cJSON *h = cJSON_AddObjectToObject(resp, "headers"), *b;

			cJSON_AddNumberToObject(resp, "status", x->status);
			if (h != NULL) {
				cJSON_AddStringToObject(h, "Content-Type", "application/json");
				if (x->hname != NULL)
					cJSON_AddStringToObject(h, x->hname, x->hvalue);
			}
			b = cJSON_AddObjectToObject(resp, "body");
			if (b != NULL)
				cJSON_AddStringToObject(b, "message", x->message);
		} else {
			a = cJSON_AddArrayToObject(resp, "filters");
			for (size_t i = 0; a != NULL && i < d->n_filters; i++) {
				cJSON *f = cJSON_CreateObject();

				if (f == NULL)
					goto cleanup;
				cJSON_AddItemToArray(a, f);
				cJSON_AddStringToObject(f, "rule", d->filters[i].rule);
				cJSON_AddStringToObject(f, "field", d->filters[i].field);
				cJSON_AddStringToObject(f, "action",
							dpp_filter_action_name(d->filters[i].action));
			}
			if (x->forward_note[0] != '\0')
				cJSON_AddStringToObject(resp, "note", x->forward_note);
		}
	}
	cJSON_AddStringToObject(o, "note", LIMITER_NOTE);
	t = cJSON_Print(o);
	if (t != NULL) {
		fprintf(out, "%s\n", t);
		cJSON_free(t);
		rc = 0;
	}
cleanup:
	cJSON_Delete(o);
	return rc;
}

/* --- arguments, config ----------------------------------------------------- */

static int read_body(struct explain *x)
{
	FILE *f = fopen(x->body_file, "rb");
	size_t cap = 64 * 1024, n;

	if (f == NULL) {
		fprintf(stderr, "docker-policy-proxy explain: cannot read %s: %s\n", x->body_file,
			strerror(errno));
		return -1;
	}
	x->body = malloc(cap);
	while (x->body != NULL && (n = fread(x->body + x->body_len, 1, cap - x->body_len, f)) > 0) {
		x->body_len += n;
		if (x->body_len == cap) {
			char *p = cap < (size_t)BODY_FILE_MAX ? realloc(x->body, cap * 2) : NULL;

			if (p == NULL) {
				fprintf(stderr, "docker-policy-proxy explain: %s: too large\n",
					x->body_file);
				fclose(f);
				return -1;
			}
			x->body = p;
			cap *= 2;
		}
	}
	if (x->body == NULL || ferror(f)) {
		fprintf(stderr, "docker-policy-proxy explain: cannot read %s\n", x->body_file);
		fclose(f);
		return -1;
	}
	fclose(f);
	return 0;
}

/* Loads the config and builds the runtime exactly as start-up does (the
 * socket is not contacted). Returns 0 or an exit code. */
int dpp_cli_load_runtime(const char *config_path, struct dpp_config **cfg,
			 struct dpp_runtime **rt)
{
	struct dpp_config_flags flags = {.config_path = config_path};
	struct dpp_settings eff;
	char *errors = NULL, *warnings = NULL;

	if (dpp_config_load(&flags, cfg, &errors) != 0) {
		fprintf(stderr, "%sdocker-policy-proxy explain: configuration refused\n",
			errors != NULL ? errors : "");
		free(errors);
		return EX_CONFIG;
	}
	eff = *dpp_config_settings(*cfg);
	if (eff.socket[0] == '\0' &&
	    dpp_socket_detect(getenv("HOME"), eff.socket, sizeof(eff.socket)) != 0)
		snprintf(eff.socket, sizeof(eff.socket), "/var/run/docker.sock");
	if (dpp_runtime_build(*cfg, &eff, rt, &errors, &warnings) != 0) {
		fprintf(stderr, "%sdocker-policy-proxy explain: configuration refused\n",
			errors != NULL ? errors : "");
		free(errors);
		free(warnings);
		return EX_CONFIG;
	}
	free(warnings);
	return 0;
}

static int add_header(struct explain *x, char *arg)
{
	char *colon = strchr(arg, ':');

	if (colon == NULL || colon == arg || x->n_hdr >= MAX_HEADERS) {
		fprintf(stderr, "docker-policy-proxy explain: --header wants 'Name: value' (at most %d)\n",
			MAX_HEADERS);
		return -1;
	}
	*colon = '\0';
	colon++;
	while (*colon == ' ' || *colon == '\t')
		colon++;
	/* Trailing whitespace is not part of a field value (RFC 9112 5). */
	for (size_t n = strlen(colon); n > 0 && (colon[n - 1] == ' ' || colon[n - 1] == '\t'); n--)
		colon[n - 1] = '\0';
	x->hdr[x->n_hdr].name = arg;
	x->hdr[x->n_hdr].value = colon;
	x->n_hdr++;
	return 0;
}

int dpp_cli_explain(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"method", required_argument, NULL, 'm'},
		{"target", required_argument, NULL, 't'},
		{"header", required_argument, NULL, 'H'},
		{"body", required_argument, NULL, 'b'},
		{"token", required_argument, NULL, 'T'},
		{"role", required_argument, NULL, 'r'},
		{"cert-cn", required_argument, NULL, 'n'},
		{"client-ip", required_argument, NULL, 'i'},
		{"json", no_argument, NULL, 'j'},
		{"replay", no_argument, NULL, 'R'},
		{"since", required_argument, NULL, 's'},
		{"store", required_argument, NULL, 'S'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct explain x;
	int opt, rc = EX_SOFTWARE, n_auth = 0, replay = 0;
	const char *since = NULL, *store = NULL;

	memset(&x, 0, sizeof(x));
	x.client_ip = "127.0.0.1";
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:m:t:H:b:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': x.config = optarg; break;
		case 'm': x.method = optarg; break;
		case 't': x.target = optarg; break;
		case 'H':
			if (add_header(&x, optarg) != 0)
				return EX_USAGE;
			break;
		case 'b': x.body_file = optarg; break;
		case 'T': x.token = optarg; n_auth++; break;
		case 'r': x.role = optarg; n_auth++; break;
		case 'n': x.cert_cn = optarg; n_auth++; break;
		case 'i': x.client_ip = optarg; break;
		case 'j': x.json = 1; break;
		case 'R': replay = 1; break;
		case 's': since = optarg; break;
		case 'S': store = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "docker-policy-proxy explain: unexpected argument '%s'\n", argv[optind]);
		return EX_USAGE;
	}
	if (replay)
		return dpp_cli_replay(x.config, since, store, x.json);
	if (x.method == NULL || x.target == NULL || n_auth > 1 || since != NULL) {
		fprintf(stderr, "docker-policy-proxy explain: %s\n",
			n_auth > 1 ? "--token, --role and --cert-cn exclude each other"
			: since != NULL ? "--since goes with --replay"
					: "--method and --target are required");
		usage(stderr);
		return EX_USAGE;
	}
	dpp_log_set_level(DPP_LOG_ERROR);
	if (x.body_file != NULL) {
		if (read_body(&x) != 0) {
			rc = EX_NOINPUT;
			goto cleanup;
		}
		/* A client sends the length of its body (unless it says chunked). */
		if (hget(&x, "Content-Length") == NULL && hget(&x, "Transfer-Encoding") == NULL) {
			snprintf(x.cl_text, sizeof(x.cl_text), "%zu", x.body_len);
			x.hdr[x.n_hdr].name = "Content-Length";
			x.hdr[x.n_hdr].value = x.cl_text;
			x.n_hdr++;
		}
	}
	rc = dpp_cli_load_runtime(x.config, &x.cfg, &x.rt);
	if (rc != 0)
		goto cleanup;
	decide(&x);
	if (x.json ? print_json(&x, stdout) != 0 : (print_text(&x, stdout), 0)) {
		rc = EX_SOFTWARE;
		goto cleanup;
	}
	rc = x.status != 0 ? 1 : 0;
cleanup:
	if (fflush(stdout) != 0 && rc <= 1)
		rc = EX_IOERR;
	dpp_policy_decision_done(&x.dec);
	free(x.rules);
	free(x.conds);
	dpp_body_free(x.doc);
	dpp_target_free(x.canon);
	dpp_runtime_unref(x.rt);
	dpp_config_free(x.cfg);
	free(x.body);
	return rc;
}
