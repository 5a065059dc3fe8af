/* Rule-evaluation cost: compiles N rules (default 1000) of mixed operators and
 * measures dpp_policy_evaluate on a container-create request that matches
 * none of them until the last.
 * Usage: bench_rules [rules] [iterations] [worst|spread]
 * worst (default): a quarter of the rules test this very endpoint's body
 * and header, a quarter are or-groups the dispatch index cannot skip, so
 * about half the rules are evaluated. spread: the same shapes, each rule on
 * its own path (as a large site policy is), so the index skips almost all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yaml.h>

#include "dpp/body.h"
#include "dpp/policy.h"
#include "rules_yaml.h"

static const char *query_none(void *ctx, const char *name)
{
	(void)ctx;
	(void)name;
	return NULL;
}

static const cJSON *body_get(void *ctx, const char *const *seg, size_t n)
{
	return dpp_body_lookup(ctx, seg, n);
}

int main(int argc, char **argv)
{
	int nrules = argc > 1 ? atoi(argv[1]) : 1000;
	long iters = argc > 2 ? atol(argv[2]) : 20000;
	int spread = argc > 3 && strcmp(argv[3], "spread") == 0;
	size_t cap = (size_t)nrules * 384 + 64, len = 0;
	char *yaml = malloc(cap);
	yaml_parser_t parser;
	yaml_document_t doc;
	struct dpp_ruleset *rs = NULL;
	struct dpp_body_doc *body = NULL;
	char *errors = NULL, *berr = NULL;
	static const char body_json[] =
		"{\"Image\":\"busybox\",\"Cmd\":[\"sh\"],\"Env\":[\"A=1\"],\"HostConfig\":"
		"{\"Privileged\":false,\"Binds\":null,\"NetworkMode\":\"bridge\"}}";
	struct dpp_header hdrs[] = {{"User-Agent", "Docker-Client/20.10"},
				    {"Content-Type", "application/json"}};
	struct timespec t0, t1, c0, c1;
	double ns, cpu_ns;

	if (yaml == NULL)
		return 1;
	len += (size_t)snprintf(yaml + len, cap - len, "rules:\n");
	for (int i = 0; i < nrules; i++) {
		switch (i % 4) {
		case 0:
			len += (size_t)snprintf(yaml + len, cap - len,
						"  - {name: r%d, action: deny, conditions: [{field: path, operator: matches, value: '^/never/%d/[a-z]+$'}]}\n", i, i);
			break;
		case 1:
			if (spread)
				len += (size_t)snprintf(yaml + len, cap - len,
							"  - {name: r%d, action: deny, conditions: [{field: path, operator: equals, value: /containers/c%d/update}, {field: body.HostConfig.Privileged, operator: equals, value: true}, {field: header.User-Agent, operator: contains, value: 'x%d'}]}\n", i, i, i);
			else
				len += (size_t)snprintf(yaml + len, cap - len,
							"  - {name: r%d, action: deny, conditions: [{field: path, operator: equals, value: /containers/create}, {field: body.HostConfig.Privileged, operator: equals, value: true}, {field: header.User-Agent, operator: contains, value: 'x%d'}]}\n", i, i);
			break;
		case 2:
			len += (size_t)snprintf(yaml + len, cap - len,
						"  - {name: r%d, action: deny, conditions: [{field: method, operator: in, value: [PUT, PATCH]}, {field: query.x%d, operator: exists}]}\n", i, i);
			break;
		default:
			len += (size_t)snprintf(yaml + len, cap - len,
						"  - {name: r%d, action: deny, conditions: [%s{or: [{field: role, operator: equals, value: r%d}, {field: client_ip, operator: in, value: ['10.%d.0.0/16']}]}]}\n",
						i, spread ? "{field: path, operator: starts_with, value: /networks/n}, " : "", i, i % 250);
		}
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
	if (!yaml_parser_load(&parser, &doc)) {
		fprintf(stderr, "yaml error\n");
		return 1;
	}
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	yaml_node_t *rules = yaml_document_get_node(&doc, root->data.mapping.pairs.start->value);

	if (dpp_ruleset_compile(&doc, rules, "bench", &rs, &errors) != 0) {
		fprintf(stderr, "%s", errors);
		return 1;
	}
	if (dpp_body_parse(body_json, sizeof(body_json) - 1, 64, &body, &berr) != DPP_BODY_OK)
		return 1;
	struct dpp_request_view view = {
		.method = "POST", .path = "/containers/create", .headers = hdrs, .n_headers = 2,
		.query_get = query_none, .client_ip = "127.0.0.1", .role = "user",
		.identity = "token:00000000", .body_get = body_get, .body_ctx = body,
	};
	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	for (long i = 0; i < iters; i++) {
		struct dpp_policy_decision d;

		if (dpp_policy_evaluate(rs, &view, NULL, 0, &d) != 0 || d.verdict != DPP_POLICY_ALLOW) {
			fprintf(stderr, "unexpected verdict\n");
			return 1;
		}
		dpp_policy_decision_done(&d);
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / (double)iters;
	cpu_ns = ((double)(c1.tv_sec - c0.tv_sec) * 1e9 + (double)(c1.tv_nsec - c0.tv_nsec)) /
		 (double)iters;
	/* CPU time too: on a loaded machine the wall clock also counts the
	 * time this process waited for a core. */
	printf("rules=%d (%s) iterations=%ld: %.2f us per evaluation (%.2f us of CPU), %.0f "
	       "evaluations/s\n",
	       nrules, spread ? "spread" : "worst", iters, ns / 1000.0, cpu_ns / 1000.0, 1e9 / ns);
	dpp_body_free(body);
	dpp_ruleset_unref(rs);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	free(yaml);
	return 0;
}
