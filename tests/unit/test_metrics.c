/* Metrics registry and Prometheus text format 0.0.4 rendering. The rendered
 * text is also validated by tests/unit/check_prometheus.py with the
 * reference parser (python3-prometheus-client); a missing python3 or module
 * fails the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "dpp/metrics.h"

static struct dpp_metrics *new_metrics(void)
{
	const char *err = NULL;
	struct dpp_metrics *m = dpp_metrics_create(&err);

	if (m == NULL)
		fail_msg("metrics create: %s", err);
	return m;
}

static char *render(struct dpp_metrics *m)
{
	const char *err = NULL;
	char *text = NULL;
	size_t len = 0;

	if (dpp_metrics_render(m, &text, &len, &err) != 0)
		fail_msg("render: %s", err);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	return text;
}

/* Asserts that `line` is one whole line of `text`. */
static void assert_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)) != NULL; p++) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return;
	}
	fail_msg("line not found: %s\n--- in ---\n%s", line, text);
}

static void assert_no_line_prefix(const char *text, const char *prefix)
{
	for (const char *p = text; (p = strstr(p, prefix)) != NULL; p++) {
		if (p == text || p[-1] == '\n')
			fail_msg("unexpected line starting with: %s", prefix);
	}
}

static void test_empty_registry(void **state)
{
	static const char *const lines[] = {
		"# HELP docker_proxy_requests_total Requests answered, by method and HTTP status code.",
		"# TYPE docker_proxy_requests_total counter",
		"docker_proxy_requests_total 0",
		"# TYPE docker_proxy_requests_allowed_total counter",
		"docker_proxy_requests_allowed_total 0",
		"# TYPE docker_proxy_requests_denied_total counter",
		"docker_proxy_requests_denied_total 0",
		"# TYPE docker_proxy_requests_dry_run_total counter",
		"docker_proxy_requests_dry_run_total 0",
		"# TYPE docker_proxy_rate_limited_total counter",
		"docker_proxy_rate_limited_total 0",
		"docker_proxy_auth_failures_total 0",
		"docker_proxy_auth_lockouts_total 0",
		"docker_proxy_audit_dropped_total 0",
		"docker_proxy_audit_open_failures_total 0",
		"# TYPE docker_proxy_bus_dropped_total counter",
		"docker_proxy_upstream_errors_total 0",
		"docker_proxy_upstream_timeouts_total 0",
		"docker_proxy_body_too_large_total 0",
		"docker_proxy_bad_request_total 0",
		"docker_proxy_request_timeouts_total 0",
		"docker_proxy_upgrade_total 0",
		"# TYPE docker_proxy_rule_decisions_total counter",
		"# TYPE docker_proxy_upstream_latency_ms histogram",
		"docker_proxy_upstream_latency_ms_bucket{le=\"5\"} 0",
		"docker_proxy_upstream_latency_ms_bucket{le=\"10000\"} 0",
		"docker_proxy_upstream_latency_ms_bucket{le=\"+Inf\"} 0",
		"docker_proxy_upstream_latency_ms_sum 0",
		"docker_proxy_upstream_latency_ms_count 0",
		"# TYPE docker_proxy_request_duration_seconds histogram",
		"docker_proxy_request_duration_seconds_bucket{le=\"+Inf\"} 0",
		"docker_proxy_request_duration_seconds_sum 0.000",
		"docker_proxy_request_duration_seconds_count 0",
		"# TYPE docker_proxy_active_streams gauge",
		"docker_proxy_active_streams 0",
		"# TYPE docker_proxy_up gauge",
		"docker_proxy_up 0",
		"# TYPE docker_proxy_config_reloads_total counter",
		"docker_proxy_config_reloads_total{result=\"success\"} 0",
		"docker_proxy_config_reloads_total{result=\"failure\"} 0",
	};
	struct dpp_metrics *m = new_metrics();
	char *text = render(m);

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		assert_line(text, lines[i]);
	assert_no_line_prefix(text, "docker_proxy_requests_total{");
	assert_no_line_prefix(text, "docker_proxy_requests_denied_total{");
	assert_no_line_prefix(text, "docker_proxy_rule_decisions_total{");
	/* Renamed to the seed's names: the old ones must be gone. */
	assert_null(strstr(text, "docker_proxy_dry_run_total"));
	assert_null(strstr(text, "docker_proxy_lockouts_total"));
	free(text);
	dpp_metrics_free(m);
}

static void test_counters_and_labels(void **state)
{
	struct dpp_metrics *m = new_metrics();
	char *text;

	(void)state;
	dpp_metrics_request_done(m, "GET", 200, 3);
	dpp_metrics_request_done(m, "GET", 200, 4);
	dpp_metrics_request_done(m, "POST", 403, 1);
	dpp_metrics_request_done(m, "get", 404, 1);  /* methods are case-sensitive */
	dpp_metrics_request_done(m, NULL, 999, 1);   /* out-of-range status */
	dpp_metrics_request_done(m, "BREW", 101, 1);
	dpp_metrics_allowed(m);
	dpp_metrics_allowed(m);
	dpp_metrics_denied(m, "no-privileged");
	dpp_metrics_denied(m, "no-privileged");
	dpp_metrics_denied(m, "");
	dpp_metrics_denied(m, NULL);
	dpp_metrics_dry_run(m);
	dpp_metrics_rule_decision(m, "try-bind-mounts", 1);
	dpp_metrics_rule_decision(m, "try-bind-mounts", 1);
	dpp_metrics_rule_decision(m, "no-privileged", 0);
	dpp_metrics_rule_decision(m, "try-bind-mounts", 0);
	dpp_metrics_rate_limited(m, "per-client");
	dpp_metrics_auth_failure(m);
	dpp_metrics_lockout(m);
	dpp_metrics_upstream_error(m);
	dpp_metrics_upstream_error(m);
	dpp_metrics_upstream_error(m);
	dpp_metrics_upstream_timeout(m);
	dpp_metrics_body_too_large(m);
	dpp_metrics_body_too_large(m);
	dpp_metrics_bad_request(m);
	dpp_metrics_bad_request(m);
	dpp_metrics_bad_request(m);
	dpp_metrics_bad_request(m);
	dpp_metrics_request_timeout(m);
	dpp_metrics_set_head_timeouts(m, 5);
	dpp_metrics_set_head_timeouts(m, 6); /* a setter: latest running total wins */
	dpp_metrics_upgrade(m);
	dpp_metrics_upgrade(m);
	dpp_metrics_config_reload(m, 1);
	dpp_metrics_config_reload(m, 0);
	dpp_metrics_config_reload(m, 0);
	dpp_metrics_stream_begin(m);
	dpp_metrics_stream_begin(m);
	dpp_metrics_stream_begin(m);
	dpp_metrics_stream_end(m);
	dpp_metrics_set_up(m, 7);
	dpp_metrics_set_audit_dropped(m, 12);
	dpp_metrics_set_bus_dropped(m, "audit", 12);
	dpp_metrics_set_bus_dropped(m, "console", 1);
	dpp_metrics_set_bus_dropped(m, "console", 5); /* a setter: latest value wins */
	text = render(m);
	assert_line(text, "docker_proxy_requests_total{method=\"GET\",status=\"200\"} 2");
	assert_line(text, "docker_proxy_requests_total{method=\"POST\",status=\"403\"} 1");
	assert_line(text, "docker_proxy_requests_total{method=\"other\",status=\"404\"} 1");
	assert_line(text, "docker_proxy_requests_total{method=\"other\",status=\"other\"} 1");
	assert_line(text, "docker_proxy_requests_total{method=\"other\",status=\"101\"} 1");
	assert_line(text, "docker_proxy_requests_allowed_total 2");
	assert_line(text, "docker_proxy_requests_denied_total{rule=\"no-privileged\"} 2");
	assert_line(text, "docker_proxy_requests_denied_total{rule=\"default\"} 2");
	assert_line(text, "docker_proxy_requests_dry_run_total 1");
	assert_line(text,
		    "docker_proxy_rule_decisions_total{rule=\"try-bind-mounts\",mode=\"dry_run\"} 2");
	assert_line(text,
		    "docker_proxy_rule_decisions_total{rule=\"try-bind-mounts\",mode=\"enforced\"} 1");
	assert_line(text,
		    "docker_proxy_rule_decisions_total{rule=\"no-privileged\",mode=\"enforced\"} 1");
	assert_no_line_prefix(text,
			      "docker_proxy_rule_decisions_total{rule=\"no-privileged\",mode=\"dry_run\"}");
	assert_line(text, "docker_proxy_rate_limited_total{rule=\"per-client\"} 1");
	assert_line(text, "docker_proxy_auth_failures_total 1");
	assert_line(text, "docker_proxy_auth_lockouts_total 1");
	assert_line(text, "docker_proxy_upstream_errors_total 3");
	assert_line(text, "docker_proxy_upstream_timeouts_total 1");
	assert_line(text, "docker_proxy_body_too_large_total 2");
	assert_line(text, "docker_proxy_bad_request_total 4");
	assert_line(text, "docker_proxy_request_timeouts_total 7"); /* 1 counted + 6 set */
	assert_line(text, "docker_proxy_upgrade_total 2");
	assert_line(text, "docker_proxy_config_reloads_total{result=\"success\"} 1");
	assert_line(text, "docker_proxy_config_reloads_total{result=\"failure\"} 2");
	assert_line(text, "docker_proxy_active_streams 2");
	assert_line(text, "docker_proxy_up 1");
	assert_line(text, "docker_proxy_audit_dropped_total 12");
	assert_line(text, "docker_proxy_bus_dropped_total{subscriber=\"audit\"} 12");
	assert_line(text, "docker_proxy_bus_dropped_total{subscriber=\"console\"} 5");
	free(text);
	dpp_metrics_set_up(m, 0);
	text = render(m);
	assert_line(text, "docker_proxy_up 0");
	free(text);
	dpp_metrics_free(m);
}

static void test_histogram(void **state)
{
	static const uint32_t obs[] = {0, 5, 6, 10, 99, 100, 2500, 30000, 30001, 600000};
	static const char *const lines[] = {
		"docker_proxy_request_duration_seconds_bucket{le=\"0.005\"} 2",
		"docker_proxy_request_duration_seconds_bucket{le=\"0.01\"} 4",
		"docker_proxy_request_duration_seconds_bucket{le=\"0.025\"} 4",
		"docker_proxy_request_duration_seconds_bucket{le=\"0.05\"} 4",
		"docker_proxy_request_duration_seconds_bucket{le=\"0.1\"} 6",
		"docker_proxy_request_duration_seconds_bucket{le=\"0.25\"} 6",
		"docker_proxy_request_duration_seconds_bucket{le=\"0.5\"} 6",
		"docker_proxy_request_duration_seconds_bucket{le=\"1\"} 6",
		"docker_proxy_request_duration_seconds_bucket{le=\"2.5\"} 7",
		"docker_proxy_request_duration_seconds_bucket{le=\"5\"} 7",
		"docker_proxy_request_duration_seconds_bucket{le=\"10\"} 7",
		"docker_proxy_request_duration_seconds_bucket{le=\"30\"} 8",
		"docker_proxy_request_duration_seconds_bucket{le=\"+Inf\"} 10",
		"docker_proxy_request_duration_seconds_sum 662.721",
		"docker_proxy_request_duration_seconds_count 10",
	};
	struct dpp_metrics *m = new_metrics();
	char *text, *p;

	(void)state;
	for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
		dpp_metrics_request_done(m, "GET", 200, obs[i]);
	text = render(m);
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		assert_line(text, lines[i]);
	/* Buckets appear in increasing le order, right after the TYPE line. */
	p = strstr(text, "# TYPE docker_proxy_request_duration_seconds histogram\n");
	assert_non_null(p);
	p = strchr(p, '\n') + 1;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		assert_int_equal(strncmp(p, lines[i], strlen(lines[i])), 0);
		p = strchr(p, '\n') + 1;
	}
	free(text);
	dpp_metrics_free(m);
}

/* The seed's histogram: milliseconds, its eleven buckets, le inclusive. */
static void test_upstream_latency_histogram(void **state)
{
	static const uint32_t obs[] = {0, 5, 6, 10, 99, 100, 2500, 10000, 10001, 600000};
	static const char *const lines[] = {
		"docker_proxy_upstream_latency_ms_bucket{le=\"5\"} 2",
		"docker_proxy_upstream_latency_ms_bucket{le=\"10\"} 4",
		"docker_proxy_upstream_latency_ms_bucket{le=\"25\"} 4",
		"docker_proxy_upstream_latency_ms_bucket{le=\"50\"} 4",
		"docker_proxy_upstream_latency_ms_bucket{le=\"100\"} 6",
		"docker_proxy_upstream_latency_ms_bucket{le=\"250\"} 6",
		"docker_proxy_upstream_latency_ms_bucket{le=\"500\"} 6",
		"docker_proxy_upstream_latency_ms_bucket{le=\"1000\"} 6",
		"docker_proxy_upstream_latency_ms_bucket{le=\"2500\"} 7",
		"docker_proxy_upstream_latency_ms_bucket{le=\"5000\"} 7",
		"docker_proxy_upstream_latency_ms_bucket{le=\"10000\"} 8",
		"docker_proxy_upstream_latency_ms_bucket{le=\"+Inf\"} 10",
		"docker_proxy_upstream_latency_ms_sum 622721",
		"docker_proxy_upstream_latency_ms_count 10",
	};
	struct dpp_metrics *m = new_metrics();
	char *text, *p;

	(void)state;
	for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
		dpp_metrics_upstream_latency(m, obs[i]);
	text = render(m);
	p = strstr(text, "# TYPE docker_proxy_upstream_latency_ms histogram\n");
	assert_non_null(p);
	p = strchr(p, '\n') + 1;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		assert_int_equal(strncmp(p, lines[i], strlen(lines[i])), 0);
		p = strchr(p, '\n') + 1;
	}
	/* Request durations are a separate histogram. */
	assert_line(text, "docker_proxy_request_duration_seconds_count 0");
	free(text);
	dpp_metrics_free(m);
}

static void test_label_escaping(void **state)
{
	struct dpp_metrics *m = new_metrics();
	char *text;

	(void)state;
	dpp_metrics_denied(m, "a\"b\\c\nd");
	dpp_metrics_denied(m, "caf\xc3\xa9");
	text = render(m);
	assert_line(text, "docker_proxy_requests_denied_total{rule=\"a\\\"b\\\\c\\nd\"} 1");
	assert_line(text, "docker_proxy_requests_denied_total{rule=\"caf\xc3\xa9\"} 1");
	free(text);
	dpp_metrics_free(m);
}

static void test_label_limits(void **state)
{
	struct dpp_metrics *m = new_metrics();
	char name[300];
	char *text, line[400];

	(void)state;
	for (int i = 0; i < DPP_METRICS_RULES_MAX + 5; i++) {
		snprintf(name, sizeof(name), "rule-%d", i);
		dpp_metrics_denied(m, name);
	}
	dpp_metrics_denied(m, "rule-0");   /* known: still its own series */
	dpp_metrics_denied(m, "rule-new"); /* table full: other */
	dpp_metrics_denied(m, "other");    /* merges into the same series */
	/* A long value is cut at a character boundary: 126 ASCII bytes, then a
	 * two-byte character that would cross the 127-byte limit. */
	memset(name, 'x', 126);
	memcpy(name + 126, "\xc3\xa9tail", 7);
	dpp_metrics_rate_limited(m, name);
	text = render(m);
	assert_line(text, "docker_proxy_requests_denied_total{rule=\"rule-0\"} 2");
	assert_line(text, "docker_proxy_requests_denied_total{rule=\"rule-999\"} 1");
	assert_line(text, "docker_proxy_requests_denied_total{rule=\"other\"} 7");
	assert_null(strstr(text, "rule=\"rule-1000\""));
	snprintf(line, sizeof(line), "docker_proxy_rate_limited_total{rule=\"%.126s\"} 1", name);
	assert_line(text, line);
	free(text);
	dpp_metrics_free(m);
}

static void collector(struct dpp_metrics *m, void *arg)
{
	int *calls = arg;

	(*calls)++;
	dpp_metrics_set_audit_dropped(m, (uint64_t)*calls * 10);
	dpp_metrics_set_bus_dropped(m, "store", (uint64_t)*calls);
}

static void test_collector(void **state)
{
	struct dpp_metrics *m = new_metrics();
	int calls = 0;
	char *text;

	(void)state;
	dpp_metrics_set_collector(m, collector, &calls);
	text = render(m);
	assert_line(text, "docker_proxy_audit_dropped_total 10");
	assert_line(text, "docker_proxy_bus_dropped_total{subscriber=\"store\"} 1");
	free(text);
	text = render(m);
	assert_line(text, "docker_proxy_audit_dropped_total 20");
	assert_line(text, "docker_proxy_bus_dropped_total{subscriber=\"store\"} 2");
	free(text);
	assert_int_equal(calls, 2);
	dpp_metrics_free(m);
}

#define N_THREADS 4
#define PER_THREAD 20000

static void *hammer(void *arg)
{
	struct dpp_metrics *m = arg;
	char rule[16];

	for (int i = 0; i < PER_THREAD; i++) {
		snprintf(rule, sizeof(rule), "r%d", i % 8);
		dpp_metrics_request_done(m, "POST", 403, (uint32_t)(i % 50));
		dpp_metrics_denied(m, rule);
	}
	return NULL;
}

static void test_concurrent_counting(void **state)
{
	struct dpp_metrics *m = new_metrics();
	pthread_t th[N_THREADS];
	char *text, line[128];

	(void)state;
	for (int i = 0; i < N_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, hammer, m), 0);
	for (int i = 0; i < N_THREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	text = render(m);
	snprintf(line, sizeof(line), "docker_proxy_requests_total{method=\"POST\",status=\"403\"} %d",
		 N_THREADS * PER_THREAD);
	assert_line(text, line);
	snprintf(line, sizeof(line), "docker_proxy_request_duration_seconds_count %d",
		 N_THREADS * PER_THREAD);
	assert_line(text, line);
	for (int r = 0; r < 8; r++) {
		snprintf(line, sizeof(line), "docker_proxy_requests_denied_total{rule=\"r%d\"} %d", r,
			 N_THREADS * PER_THREAD / 8);
		assert_line(text, line);
	}
	free(text);
	dpp_metrics_free(m);
}

/* Debian's interpreter is where apt installs python3-prometheus-client; a
 * PATH python3 (pyenv, venv) may lack it. DPP_PYTHON overrides. */
static const char *python(void)
{
	const char *env = getenv("DPP_PYTHON");

	if (env != NULL && env[0] != '\0')
		return env;
	if (access("/usr/bin/python3", X_OK) == 0)
		return "/usr/bin/python3";
	return "python3";
}

static const cJSON *find_sample(const cJSON *samples, const char *name, const char *label,
				const char *value)
{
	const cJSON *s;

	cJSON_ArrayForEach(s, samples) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(s, "name");
		const cJSON *labels = cJSON_GetObjectItemCaseSensitive(s, "labels");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(labels, label);

		if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0 && cJSON_IsString(v) &&
		    strcmp(v->valuestring, value) == 0)
			return s;
	}
	return NULL;
}

static void test_prometheus_client_parses_output(void **state)
{
	const char *src = getenv("DPP_SOURCE_DIR");
	char dir[] = "/tmp/dpp-metrics-XXXXXX";
	char prom[64], json[64], cmd[1024];
	struct dpp_metrics *m = new_metrics();
	char *text, *jtext;
	FILE *fp;
	int rc;
	cJSON *samples;
	const cJSON *s;

	(void)state;
	if (src == NULL)
		fail_msg("DPP_SOURCE_DIR is not set (run through ctest)");
	assert_non_null(mkdtemp(dir));
	snprintf(prom, sizeof(prom), "%s/metrics.prom", dir);
	snprintf(json, sizeof(json), "%s/samples.json", dir);

	/* Something in every family, including values that need escaping. */
	dpp_metrics_request_done(m, "GET", 200, 12);
	dpp_metrics_request_done(m, "DELETE", 409, 31000);
	dpp_metrics_allowed(m);
	dpp_metrics_denied(m, "a\"b\\c\nd");
	dpp_metrics_denied(m, NULL);
	dpp_metrics_dry_run(m);
	dpp_metrics_rule_decision(m, "dry", 1);
	dpp_metrics_rule_decision(m, "a\"b\\c\nd", 0);
	dpp_metrics_rate_limited(m, "caf\xc3\xa9");
	dpp_metrics_auth_failure(m);
	dpp_metrics_lockout(m);
	dpp_metrics_upstream_error(m);
	dpp_metrics_upstream_timeout(m);
	dpp_metrics_body_too_large(m);
	dpp_metrics_bad_request(m);
	dpp_metrics_request_timeout(m);
	dpp_metrics_upgrade(m);
	dpp_metrics_upstream_latency(m, 42);
	dpp_metrics_config_reload(m, 1);
	dpp_metrics_stream_begin(m);
	dpp_metrics_set_up(m, 1);
	dpp_metrics_set_audit_dropped(m, 3);
	dpp_metrics_set_bus_dropped(m, "audit", 3);
	text = render(m);
	fp = fopen(prom, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	free(text);
	dpp_metrics_free(m);

	snprintf(cmd, sizeof(cmd), "'%s' '%s/tests/unit/check_prometheus.py' '%s' '%s'", python(),
		 src, prom, json);
	rc = system(cmd);
	if (rc == -1 || !WIFEXITED(rc))
		fail_msg("could not run: %s", cmd);
	if (WEXITSTATUS(rc) == 127)
		fail_msg("python3 not found (%s): install python3 and "
			 "python3-prometheus-client, or set DPP_PYTHON",
			 python());
	if (WEXITSTATUS(rc) == 2)
		fail_msg("python module prometheus_client missing for %s: "
			 "apt-get install python3-prometheus-client (or set DPP_PYTHON)",
			 python());
	if (WEXITSTATUS(rc) != 0)
		fail_msg("prometheus_client rejected the rendered text (%s), exit %d", prom,
			 WEXITSTATUS(rc));

	/* Label values come back unescaped, exactly as given. */
	fp = fopen(json, "r");
	assert_non_null(fp);
	jtext = calloc(1, 1 << 20);
	assert_non_null(jtext);
	assert_true(fread(jtext, 1, (1 << 20) - 1, fp) > 0);
	fclose(fp);
	samples = cJSON_Parse(jtext);
	assert_non_null(samples);
	s = find_sample(samples, "docker_proxy_requests_denied_total", "rule", "a\"b\\c\nd");
	assert_non_null(s);
	assert_true(cJSON_GetObjectItemCaseSensitive(s, "value")->valuedouble == 1);
	assert_non_null(find_sample(samples, "docker_proxy_rate_limited_total", "rule",
				    "caf\xc3\xa9"));
	assert_non_null(find_sample(samples, "docker_proxy_requests_total", "status", "409"));
	s = find_sample(samples, "docker_proxy_request_duration_seconds_bucket", "le", "+Inf");
	assert_non_null(s);
	assert_true(cJSON_GetObjectItemCaseSensitive(s, "value")->valuedouble == 2);
	s = find_sample(samples, "docker_proxy_rule_decisions_total", "mode", "dry_run");
	assert_non_null(s);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(
				    cJSON_GetObjectItemCaseSensitive(s, "labels"), "rule")
				    ->valuestring,
			    "dry");
	s = find_sample(samples, "docker_proxy_upstream_latency_ms_bucket", "le", "50");
	assert_non_null(s);
	assert_true(cJSON_GetObjectItemCaseSensitive(s, "value")->valuedouble == 1);
	/* Every series of the seed, by the name its samples carry, each of the
	 * right type, as the reference parser read them. */
	{
		static const struct {
			const char *sample, *type;
		} seed[] = {
			{"docker_proxy_requests_total", "counter"},
			{"docker_proxy_requests_allowed_total", "counter"},
			{"docker_proxy_requests_denied_total", "counter"},
			{"docker_proxy_requests_dry_run_total", "counter"},
			{"docker_proxy_auth_failures_total", "counter"},
			{"docker_proxy_auth_lockouts_total", "counter"},
			{"docker_proxy_rate_limited_total", "counter"},
			{"docker_proxy_upstream_errors_total", "counter"},
			{"docker_proxy_upstream_timeouts_total", "counter"},
			{"docker_proxy_body_too_large_total", "counter"},
			{"docker_proxy_bad_request_total", "counter"},
			{"docker_proxy_request_timeouts_total", "counter"},
			{"docker_proxy_upgrade_total", "counter"},
			{"docker_proxy_rule_decisions_total", "counter"},
			{"docker_proxy_upstream_latency_ms_bucket", "histogram"},
			{"docker_proxy_upstream_latency_ms_sum", "histogram"},
			{"docker_proxy_upstream_latency_ms_count", "histogram"},
		};

		for (size_t i = 0; i < sizeof(seed) / sizeof(seed[0]); i++) {
			const cJSON *found = NULL;

			cJSON_ArrayForEach(s, samples) {
				const cJSON *n = cJSON_GetObjectItemCaseSensitive(s, "name");

				if (cJSON_IsString(n) && strcmp(n->valuestring, seed[i].sample) == 0)
					found = s;
			}
			if (found == NULL)
				fail_msg("the parser saw no sample named %s", seed[i].sample);
			assert_string_equal(
				cJSON_GetObjectItemCaseSensitive(found, "type")->valuestring,
				seed[i].type);
			assert_true(cJSON_GetObjectItemCaseSensitive(found, "value")->valuedouble >= 1);
		}
	}
	cJSON_Delete(samples);
	free(jtext);
	unlink(prom);
	unlink(json);
	rmdir(dir);
}

/* Renders m, has the reference parser (check_prometheus.py) read it and
 * returns its samples (cJSON list; the caller deletes it). */
static cJSON *parsed_samples(struct dpp_metrics *m)
{
	const char *src = getenv("DPP_SOURCE_DIR");
	char dir[] = "/tmp/dpp-metrics-XXXXXX";
	char prom[64], json[64], cmd[1024];
	char *text, *jtext;
	FILE *fp;
	int rc;
	cJSON *samples;

	if (src == NULL)
		fail_msg("DPP_SOURCE_DIR is not set (run through ctest)");
	assert_non_null(mkdtemp(dir));
	snprintf(prom, sizeof(prom), "%s/metrics.prom", dir);
	snprintf(json, sizeof(json), "%s/samples.json", dir);
	text = render(m);
	fp = fopen(prom, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	free(text);
	snprintf(cmd, sizeof(cmd), "'%s' '%s/tests/unit/check_prometheus.py' '%s' '%s'", python(),
		 src, prom, json);
	rc = system(cmd);
	if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0)
		fail_msg("check_prometheus.py failed (exit %d; 2: apt-get install "
			 "python3-prometheus-client, or set DPP_PYTHON): %s",
			 rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, cmd);
	fp = fopen(json, "r");
	assert_non_null(fp);
	jtext = calloc(1, 1 << 20);
	assert_non_null(jtext);
	assert_true(fread(jtext, 1, (1 << 20) - 1, fp) > 0);
	fclose(fp);
	samples = cJSON_Parse(jtext);
	assert_non_null(samples);
	free(jtext);
	unlink(prom);
	unlink(json);
	rmdir(dir);
	return samples;
}

/* Samples named `name` (any labels): their number, their sum, and how many
 * carry no label at all. */
static void sample_stats(const cJSON *samples, const char *name, int *n, double *sum,
			 int *unlabelled)
{
	const cJSON *s;

	*n = 0;
	*sum = 0;
	*unlabelled = 0;
	cJSON_ArrayForEach(s, samples) {
		const cJSON *sn = cJSON_GetObjectItemCaseSensitive(s, "name");

		if (!cJSON_IsString(sn) || strcmp(sn->valuestring, name) != 0)
			continue;
		(*n)++;
		*sum += cJSON_GetObjectItemCaseSensitive(s, "value")->valuedouble;
		if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s, "labels")) == 0)
			(*unlabelled)++;
	}
}

/* The seed's unlabelled counters read 0 from the start: each has a sample
 * (not only a TYPE line) before anything happened, as the reference parser
 * reads it, and the histogram has all its buckets at 0. Labelled families
 * drop the unlabelled 0 once a labelled sample exists, so sum() is the
 * count. */
static void test_seed_series_zero_from_start(void **state)
{
	static const char *const seed[] = {
		"docker_proxy_requests_total",	       "docker_proxy_requests_allowed_total",
		"docker_proxy_requests_denied_total",  "docker_proxy_requests_dry_run_total",
		"docker_proxy_auth_failures_total",    "docker_proxy_auth_lockouts_total",
		"docker_proxy_rate_limited_total",     "docker_proxy_upstream_errors_total",
		"docker_proxy_upstream_timeouts_total", "docker_proxy_body_too_large_total",
		"docker_proxy_bad_request_total",      "docker_proxy_request_timeouts_total",
		"docker_proxy_upgrade_total",
	};
	static const char *const les[] = {"5",	 "10",	 "25",	 "50",	  "100",   "250",
					  "500", "1000", "2500", "5000", "10000", "+Inf"};
	static const char *const labelled[] = {"docker_proxy_requests_total",
					       "docker_proxy_requests_denied_total",
					       "docker_proxy_rate_limited_total"};
	struct dpp_metrics *m = new_metrics();
	cJSON *samples;
	int n, unl;
	double sum;

	(void)state;
	samples = parsed_samples(m);
	for (size_t i = 0; i < sizeof(seed) / sizeof(seed[0]); i++) {
		sample_stats(samples, seed[i], &n, &sum, &unl);
		if (n != 1 || unl != 1 || sum != 0)
			fail_msg("%s before any event: %d sample(s), %d unlabelled, sum %g; want one "
				 "unlabelled sample of 0",
				 seed[i], n, unl, sum);
	}
	for (size_t i = 0; i < sizeof(les) / sizeof(les[0]); i++) {
		const cJSON *s = find_sample(samples, "docker_proxy_upstream_latency_ms_bucket", "le",
					     les[i]);

		if (s == NULL || cJSON_GetObjectItemCaseSensitive(s, "value")->valuedouble != 0)
			fail_msg("upstream_latency_ms bucket le=%s missing or not 0", les[i]);
	}
	sample_stats(samples, "docker_proxy_upstream_latency_ms_count", &n, &sum, &unl);
	assert_true(n == 1 && sum == 0);
	sample_stats(samples, "docker_proxy_upstream_latency_ms_sum", &n, &sum, &unl);
	assert_true(n == 1 && sum == 0);
	cJSON_Delete(samples);

	dpp_metrics_request_done(m, "GET", 200, 1);
	dpp_metrics_request_done(m, "POST", 403, 1);
	dpp_metrics_denied(m, "r1");
	dpp_metrics_denied(m, NULL);
	dpp_metrics_rate_limited(m, "r2");
	samples = parsed_samples(m);
	for (size_t i = 0; i < sizeof(labelled) / sizeof(labelled[0]); i++) {
		sample_stats(samples, labelled[i], &n, &sum, &unl);
		if (unl != 0 || sum != (i == 2 ? 1 : 2))
			fail_msg("%s after events: %d sample(s), %d unlabelled, sum %g", labelled[i], n,
				 unl, sum);
	}
	cJSON_Delete(samples);
	dpp_metrics_free(m);
}

/* The checker itself must reject broken text, or the test above proves
 * nothing. */
static void test_checker_rejects_bad_text(void **state)
{
	static const char *const bad[] = {
		/* unescaped quote in a label value */
		"# TYPE x counter\nx{rule=\"a\"b\"} 1\n",
		/* non-cumulative histogram */
		"# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"+Inf\"} 3\nh_sum 1\n"
		"h_count 3\n",
		/* +Inf != count */
		"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 3\nh_sum 1\n"
		"h_count 4\n",
		/* duplicate series */
		"# TYPE x counter\nx{a=\"1\"} 1\nx{a=\"1\"} 2\n",
		/* no TYPE */
		"y 1\n",
	};
	const char *src = getenv("DPP_SOURCE_DIR");
	char path[] = "/tmp/dpp-prom-bad-XXXXXX";
	char cmd[1024];

	(void)state;
	if (src == NULL)
		fail_msg("DPP_SOURCE_DIR is not set (run through ctest)");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd = mkstemp(path);
		int rc;

		assert_true(fd >= 0);
		assert_int_equal(write(fd, bad[i], strlen(bad[i])), (ssize_t)strlen(bad[i]));
		close(fd);
		snprintf(cmd, sizeof(cmd), "'%s' '%s/tests/unit/check_prometheus.py' '%s' 2>/dev/null",
			 python(), src, path);
		rc = system(cmd);
		unlink(path);
		memcpy(path + strlen(path) - 6, "XXXXXX", 6);
		assert_true(rc != -1 && WIFEXITED(rc));
		if (WEXITSTATUS(rc) == 127 || WEXITSTATUS(rc) == 2)
			fail_msg("python3 or prometheus_client missing for %s: "
				 "apt-get install python3-prometheus-client",
				 python());
		if (WEXITSTATUS(rc) != 1)
			fail_msg("checker accepted bad input %zu (exit %d)", i, WEXITSTATUS(rc));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_registry),
		cmocka_unit_test(test_counters_and_labels),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_upstream_latency_histogram),
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_label_limits),
		cmocka_unit_test(test_collector),
		cmocka_unit_test(test_concurrent_counting),
		cmocka_unit_test(test_prometheus_client_parses_output),
		cmocka_unit_test(test_seed_series_zero_from_start),
		cmocka_unit_test(test_checker_rejects_bad_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
