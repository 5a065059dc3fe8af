/* libFuzzer target for rule evaluation over request bodies: the rules
 * compiler (rules.c), the evaluator (policy.c) and the body view (body.c)
 * together. Build and run: tests/fuzz/build_rules.sh [SECONDS].
 *
 * Input: "METHOD TARGET\n", then a YAML document with a `rules:` section,
 * then a line "--", then the JSON request body. The target goes through the
 * canonicaliser and the router as in the proxy. Differential checks, besides
 * "no crash, no leak":
 *   - the proxy's linear body view (body_each) and the plain one (body_get,
 *     one lookup per "*" element) reach the same decision: verdict, status,
 *     deciding rule, dry-run list and filter count;
 *   - the traced evaluation (explain's) decides exactly as the untraced one,
 *     reports each rule at most once, in order, and every group it opens is
 *     closed with a result;
 *   - an internal error is always a deny 500 with error text. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <yaml.h>

#include "dpp/body.h"
#include "dpp/canon.h"
#include "dpp/log.h"
#include "dpp/policy.h"
#include "dpp/ratelimit.h"
#include "dpp/route.h"
#include "rules_yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct tstate {
	long last_rule;
	int open[64];
	int depth_open; /* groups opened and not yet closed */
	int done_pending;
};

static void t_rule(void *ctx, size_t index, const char *name, const char *action, int dry)
{
	struct tstate *t = ctx;

	(void)dry;
	if ((long)index <= t->last_rule || name == NULL || action == NULL || t->done_pending ||
	    t->depth_open != 0)
		abort();
	t->last_rule = (long)index;
	t->done_pending = 1;
}

static void t_cond(void *ctx, const struct dpp_trace_cond *c)
{
	struct tstate *t = ctx;

	if (c->node == DPP_TRACE_LEAF) {
		if (c->field == NULL || c->op == NULL)
			abort();
		return;
	}
	if (c->result == DPP_TRACE_PENDING) {
		t->depth_open++;
	} else if (c->result != DPP_TRACE_SKIPPED) {
		if (--t->depth_open < 0)
			abort();
	}
}

static void t_done(void *ctx, int matched, const char *outcome)
{
	struct tstate *t = ctx;

	if (!t->done_pending || outcome == NULL || matched < -1 || matched > 1 ||
	    (matched >= 0 && t->depth_open != 0))
		abort();
	t->done_pending = 0;
	t->depth_open = 0; /* an error leaves groups open: it propagates at once */
}

static void same(const struct dpp_policy_decision *a, const struct dpp_policy_decision *b)
{
	if (a->verdict != b->verdict || a->status != b->status || a->n_dry_run != b->n_dry_run ||
	    a->n_filters != b->n_filters || (a->rule == NULL) != (b->rule == NULL) ||
	    (a->rule != NULL && strcmp(a->rule, b->rule) != 0) || (a->error == NULL) != (b->error == NULL))
		abort();
	for (size_t i = 0; i < a->n_dry_run; i++) {
		if (strcmp(a->dry_run[i], b->dry_run[i]) != 0)
			abort();
	}
	if (a->error != NULL && (a->verdict != DPP_POLICY_DENY || a->status != 500))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *nl, *sp, *yamltext, *body;
	const char *reason = NULL;
	struct dpp_target *t = NULL;
	struct dpp_ruleset *rs = NULL;
	struct dpp_body_doc *doc = NULL;
	struct dpp_ratelimit *rl1 = NULL, *rl2 = NULL, *rl3 = NULL;
	char *errors = NULL;
	yaml_parser_t parser;
	yaml_document_t ydoc;
	int have_doc = 0;
	size_t body_len;

	if (size > 16384)
		return 0;
	buf = malloc(size + 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	nl = strchr(buf, '\n');
	if (nl == NULL)
		goto cleanup;
	*nl = '\0';
	yamltext = nl + 1;
	sp = strchr(buf, ' ');
	if (sp == NULL)
		goto cleanup;
	*sp = '\0';
	body = strstr(yamltext, "\n--\n");
	if (body == NULL)
		goto cleanup;
	*body = '\0';
	body += 4;
	body_len = size - (size_t)(body - buf);
	if (dpp_canon_parse(sp + 1, strlen(sp + 1), &t, &reason) != 0)
		goto cleanup;

	if (!yaml_parser_initialize(&parser))
		goto cleanup;
	yaml_parser_set_input_string(&parser, (const unsigned char *)yamltext, strlen(yamltext));
	have_doc = yaml_parser_load(&parser, &ydoc);
	yaml_parser_delete(&parser);
	if (!have_doc)
		goto cleanup;
	{
		yaml_node_t *root = yaml_document_get_root_node(&ydoc), *rules = NULL;

		if (root == NULL || root->type != YAML_MAPPING_NODE)
			goto cleanup;
		for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
		     p < root->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(&ydoc, p->key);

			if (k != NULL && k->type == YAML_SCALAR_NODE &&
			    strcmp((const char *)k->data.scalar.value, "rules") == 0)
				rules = yaml_document_get_node(&ydoc, p->value);
		}
		if (dpp_ruleset_compile(&ydoc, rules, "fuzz.yaml", &rs, &errors) != 0)
			goto cleanup;
	}
	if (dpp_body_parse(body, body_len, DPP_BODY_DEFAULT_MAX_DEPTH, &doc, NULL) ==
		    DPP_BODY_INVALID ||
	    (rl1 = dpp_ratelimit_create(64)) == NULL || (rl2 = dpp_ratelimit_create(64)) == NULL ||
	    (rl3 = dpp_ratelimit_create(64)) == NULL)
		goto cleanup;
	{
		const char *path = dpp_target_path(t);
		struct dpp_header hdr[] = {{"User-Agent", "fuzz"}, {"X-Test", "a"}, {"x-test", "b"}};
		struct dpp_request_view v = {
			.method = buf,
			.path = path,
			.endpoint = dpp_route_endpoint(buf, path, dpp_target_version_prefix(t)[0] != '\0'),
			.headers = hdr,
			.n_headers = 3,
			.client_ip = "10.1.2.3",
			.role = "ci",
			.identity = "token:abcd",
		};
		struct dpp_policy_decision d1, d2, d3;
		struct tstate ts = {.last_rule = -1};
		struct dpp_policy_tracer tr = {t_rule, t_cond, t_done, &ts};

		/* The proxy's own binding of query and body to the view. */
		dpp_request_view_bind(&v, t, doc);

		dpp_policy_evaluate(rs, &v, rl1, 1000, &d1);
		dpp_policy_evaluate_traced(rs, &v, rl3, 1000, &tr, &d3);
		v.body_each = NULL;
		dpp_policy_evaluate(rs, &v, rl2, 1000, &d2);
		if (d1.error == NULL && d2.error == NULL)
			same(&d1, &d2); /* the quadratic view may hit a limit the linear one does not */
		same(&d1, &d3);
		if (ts.done_pending)
			abort();
		dpp_policy_decision_done(&d1);
		dpp_policy_decision_done(&d2);
		dpp_policy_decision_done(&d3);
	}
cleanup:
	free(errors);
	dpp_ruleset_unref(rs);
	dpp_body_free(doc);
	dpp_ratelimit_free(rl1);
	dpp_ratelimit_free(rl2);
	dpp_ratelimit_free(rl3);
	dpp_target_free(t);
	if (have_doc)
		yaml_document_delete(&ydoc);
	free(buf);
	return 0;
}
