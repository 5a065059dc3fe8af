/* Audit writer: record shape, kind filter, reopen, drops, write errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "dpp/audit.h"
#include "dpp/bus.h"
#include "dpp/log.h"

struct fixture {
	char dir[64];
	char path[128];
	struct dpp_bus *bus;
	FILE *log;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *err = NULL;

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/dpp-audit-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/audit.log", f->dir);
	f->bus = dpp_bus_create(&err);
	f->log = tmpfile();
	if (f->bus == NULL || f->log == NULL)
		return -1;
	dpp_log_set_stream(f->log); /* before any thread starts */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char p[160];

	dpp_log_set_stream(NULL);
	fclose(f->log);
	dpp_bus_free(f->bus);
	unlink(f->path);
	snprintf(p, sizeof(p), "%s.1", f->path);
	unlink(p);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Reads a whole file into a malloc'd string (NULL if it does not exist). */
static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf;
	size_t n;

	if (fp == NULL)
		return NULL;
	buf = calloc(1, 1 << 20);
	assert_non_null(buf);
	n = fread(buf, 1, (1 << 20) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static char *slurp_log(FILE *log)
{
	char *buf = calloc(1, 1 << 16);
	size_t n;

	assert_non_null(buf);
	fflush(log);
	rewind(log);
	n = fread(buf, 1, (1 << 16) - 1, log);
	buf[n] = '\0';
	return buf;
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; s != NULL && *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

static int count_substr(const char *s, const char *needle)
{
	int n = 0;

	while ((s = strstr(s, needle)) != NULL) {
		n++;
		s += strlen(needle);
	}
	return n;
}

static void wait_for(uint64_t (*get)(const struct dpp_audit *), const struct dpp_audit *a,
		     uint64_t want)
{
	for (int i = 0; i < 500; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};

		if (get(a) >= want)
			break;
		nanosleep(&ts, NULL);
	}
	assert_int_equal(get(a), want);
}

static struct dpp_event make_event(uint64_t id, enum dpp_event_kind kind)
{
	struct dpp_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.id = id;
	ev.kind = kind;
	ev.time_ms = 1796032800123LL; /* 2026-11-30T10:00:00.123Z */
	ev.status = 403;
	ev.duration_ms = 7;
	snprintf(ev.method, sizeof(ev.method), "POST");
	snprintf(ev.path, sizeof(ev.path), "/containers/create");
	snprintf(ev.peer_ip, sizeof(ev.peer_ip), "192.0.2.7");
	snprintf(ev.client_ip, sizeof(ev.client_ip), "192.0.2.7");
	snprintf(ev.user_agent, sizeof(ev.user_agent), "Docker-Client/20.10.24+dfsg1 (linux)");
	snprintf(ev.identity, sizeof(ev.identity), "token:1a2b3c4d");
	snprintf(ev.rule_name, sizeof(ev.rule_name), "no-privileged");
	snprintf(ev.rule_action, sizeof(ev.rule_action), "deny");
	snprintf(ev.message, sizeof(ev.message), "privileged \"containers\" are not allowed\n");
	return ev; /* user_role stays "" (none) */
}

static struct dpp_audit *start(struct fixture *f, size_t cap, uint32_t kinds, int paused)
{
	struct dpp_audit_options opt = {
		.path = f->path, .capacity = cap, .kinds = kinds, .start_paused = paused};
	const char *err = NULL;
	struct dpp_audit *a = dpp_audit_start_with(f->bus, &opt, &err);

	if (a == NULL)
		fail_msg("audit start: %s", err);
	return a;
}

static void check_string(const cJSON *obj, const char *key, const char *want)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!cJSON_IsString(v))
		fail_msg("key %s missing or not a string", key);
	assert_string_equal(v->valuestring, want);
}

static void check_null(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!cJSON_IsNull(v))
		fail_msg("key %s missing or not null", key);
}

static void check_bool(const cJSON *obj, const char *key, int want)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!cJSON_IsBool(v))
		fail_msg("key %s missing or not a boolean", key);
	assert_int_equal(cJSON_IsTrue(v) ? 1 : 0, want);
}

/* The record's keys are exactly keys[0..n), in that order. */
static void check_keys(const cJSON *obj, const char *const *keys, size_t n)
{
	const cJSON *item;
	size_t k = 0;

	cJSON_ArrayForEach(item, obj) {
		if (k >= n)
			fail_msg("unexpected key %s after the expected ones", item->string);
		assert_string_equal(item->string, keys[k]);
		k++;
	}
	assert_int_equal(k, n);
}

static void check_number(const cJSON *obj, const char *key, double want)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!cJSON_IsNumber(v))
		fail_msg("key %s missing or not a number", key);
	assert_true(v->valuedouble == want);
}

/* The seed's thirteen fields, in the seed's order; then our extras. */
#define SEED_KEYS                                                                            \
	"timestamp", "event", "peer_ip", "method", "path", "user_agent", "user_role", "identity", \
		"rule_name", "rule_action", "status", "dry_run", "message"

static void test_record_shape(void **state)
{
	static const char *const keys[] = {SEED_KEYS, "request_id", "duration_ms"};
	struct fixture *f = *state;
	struct dpp_audit *a = start(f, 16, 0, 0);
	struct dpp_event deny = make_event(42, DPP_EVENT_DENY);
	struct dpp_event req = make_event(43, DPP_EVENT_REQUEST);
	struct dpp_event lock = make_event(44, DPP_EVENT_LOCKOUT);
	struct stat st;
	char *text, *line2;
	cJSON *obj;
	const cJSON *item;

	deny.path[sizeof(deny.path) - 1] = 'x'; /* not NUL-terminated: must stay bounded */
	memset(deny.path, 'p', sizeof(deny.path));
	memcpy(deny.path, "/a\xff", 3);          /* invalid UTF-8 */
	memset(deny.user_agent, 'u', sizeof(deny.user_agent)); /* unterminated too */
	lock.rule_name[0] = '\0';
	lock.rule_action[0] = '\0';
	lock.user_agent[0] = '\0';
	lock.identity[0] = '\0';
	lock.message[0] = '\0';
	lock.status = 429;
	assert_int_equal(dpp_bus_publish(f->bus, &deny), 1);
	assert_int_equal(dpp_bus_publish(f->bus, &req), 0); /* filtered at the bus */
	assert_int_equal(dpp_bus_publish(f->bus, &lock), 1);
	dpp_audit_stop(a); /* drains */

	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	text = slurp(f->path);
	assert_non_null(text);
	assert_int_equal(count_lines(text), 2);
	assert_null(strstr(text, "\"request\""));
	line2 = strchr(text, '\n') + 1;
	*strchr(text, '\n') = '\0';

	obj = cJSON_Parse(text);
	assert_non_null(obj);
	/* Exactly these keys, in this order (client_ip only when it differs). */
	check_keys(obj, keys, sizeof(keys) / sizeof(keys[0]));
	check_string(obj, "timestamp", "2026-11-30T10:00:00.123Z");
	check_string(obj, "event", "deny");
	check_string(obj, "peer_ip", "192.0.2.7");
	check_string(obj, "method", "POST");
	check_null(obj, "user_role");
	check_string(obj, "identity", "token:1a2b3c4d");
	check_string(obj, "rule_name", "no-privileged");
	check_string(obj, "rule_action", "deny");
	check_number(obj, "status", 403);
	check_bool(obj, "dry_run", 0);
	check_string(obj, "message", "privileged \"containers\" are not allowed\n");
	check_number(obj, "request_id", 42);
	check_number(obj, "duration_ms", 7);
	item = cJSON_GetObjectItemCaseSensitive(obj, "path");
	assert_true(cJSON_IsString(item));
	assert_int_equal(strncmp(item->valuestring, "/a\xef\xbf\xbdppp", 8), 0);
	assert_int_equal(strlen(item->valuestring), 2 + 3 + 253); /* 256 bytes, one replaced */
	item = cJSON_GetObjectItemCaseSensitive(obj, "user_agent");
	assert_true(cJSON_IsString(item));
	assert_int_equal(strlen(item->valuestring), 256);
	cJSON_Delete(obj);

	obj = cJSON_Parse(line2);
	assert_non_null(obj);
	check_keys(obj, keys, sizeof(keys) / sizeof(keys[0]));
	check_string(obj, "event", "lockout");
	check_string(obj, "user_agent", "-"); /* none: "-", as the seed writes it */
	check_null(obj, "identity");
	check_null(obj, "rule_name");
	check_null(obj, "rule_action");
	check_null(obj, "message");
	check_number(obj, "status", 429);
	check_bool(obj, "dry_run", 0);
	check_number(obj, "request_id", 44);
	cJSON_Delete(obj);
	free(text);
}

/* A dry_run record says status 0 and dry_run true; client_ip follows as an
 * extra only when trusted proxies changed it; an event outside a request (a
 * refused TLS handshake) has no request_id and null request fields. */
static void test_record_variants(void **state)
{
	static const char *const with_client[] = {SEED_KEYS, "request_id", "client_ip",
						  "duration_ms"};
	static const char *const no_request[] = {SEED_KEYS, "duration_ms"};
	struct dpp_event dry = make_event(7, DPP_EVENT_DRY_RUN);
	struct dpp_event tls;
	char *line;
	cJSON *obj;

	(void)state;
	dry.status = 403; /* what the rule would have answered: the record says 0 */
	dry.dry_run = 1;
	snprintf(dry.user_role, sizeof(dry.user_role), "readonly");
	snprintf(dry.rule_action, sizeof(dry.rule_action), "require_role");
	snprintf(dry.client_ip, sizeof(dry.client_ip), "10.9.8.7");
	line = dpp_audit_format_record(&dry);
	assert_non_null(line);
	obj = cJSON_Parse(line);
	assert_non_null(obj);
	check_keys(obj, with_client, sizeof(with_client) / sizeof(with_client[0]));
	check_string(obj, "event", "dry_run");
	check_number(obj, "status", 0);
	check_bool(obj, "dry_run", 1);
	check_string(obj, "user_role", "readonly");
	check_string(obj, "rule_action", "require_role");
	check_string(obj, "peer_ip", "192.0.2.7");
	check_string(obj, "client_ip", "10.9.8.7");
	check_string(obj, "user_agent", "Docker-Client/20.10.24+dfsg1 (linux)");
	cJSON_Delete(obj);
	free(line);

	memset(&tls, 0, sizeof(tls));
	tls.kind = DPP_EVENT_AUTH_FAILURE;
	tls.time_ms = 1796032800000LL;
	snprintf(tls.peer_ip, sizeof(tls.peer_ip), "2001:db8::1");
	snprintf(tls.client_ip, sizeof(tls.client_ip), "2001:db8::1");
	snprintf(tls.message, sizeof(tls.message), "TLS connection refused: client certificate expired");
	line = dpp_audit_format_record(&tls);
	assert_non_null(line);
	obj = cJSON_Parse(line);
	assert_non_null(obj);
	check_keys(obj, no_request, sizeof(no_request) / sizeof(no_request[0]));
	check_string(obj, "timestamp", "2026-11-30T10:00:00.000Z");
	check_string(obj, "event", "auth_failure");
	check_string(obj, "peer_ip", "2001:db8::1");
	check_null(obj, "method");
	check_null(obj, "path");
	check_string(obj, "user_agent", "-");
	check_null(obj, "user_role");
	check_null(obj, "identity");
	check_number(obj, "status", 0);
	check_bool(obj, "dry_run", 0);
	cJSON_Delete(obj);
	free(line);
}

static void test_format_edge_cases(void **state)
{
	static const struct {
		int64_t time_ms;
		uint64_t id;
		const char *want_time;
		const char *want_id;
	} cases[] = {
		{0, 0, "\"timestamp\":\"1970-01-01T00:00:00.000Z\"", "\"status\":403,"},
		{-1, 1, "\"timestamp\":\"1969-12-31T23:59:59.999Z\"", "\"request_id\":1,"},
		{951782400999LL, UINT64_MAX, "\"timestamp\":\"2000-02-29T00:00:00.999Z\"",
		 "\"request_id\":18446744073709551615,"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dpp_event ev = make_event(cases[i].id, DPP_EVENT_RATE_LIMITED);
		char *line;

		ev.time_ms = cases[i].time_ms;
		line = dpp_audit_format_record(&ev);
		assert_non_null(line);
		assert_non_null(strstr(line, cases[i].want_time));
		assert_non_null(strstr(line, cases[i].want_id));
		assert_non_null(strstr(line, "\"event\":\"rate_limited\""));
		assert_null(strchr(line, '\n')); /* one record, one line */
		free(line);
	}
}

static void test_kinds_parameter(void **state)
{
	struct fixture *f = *state;
	struct dpp_audit *a = start(f, 16, DPP_BUS_KIND(DPP_EVENT_REQUEST), 0);
	struct dpp_event deny = make_event(1, DPP_EVENT_DENY);
	struct dpp_event req = make_event(2, DPP_EVENT_REQUEST);
	char *text;

	dpp_bus_publish(f->bus, &deny);
	dpp_bus_publish(f->bus, &req);
	dpp_audit_stop(a);
	text = slurp(f->path);
	assert_int_equal(count_lines(text), 1);
	assert_non_null(strstr(text, "\"event\":\"request\""));
	free(text);
}

static void test_reopen_after_rename(void **state)
{
	struct fixture *f = *state;
	struct dpp_audit *a = start(f, 16, 0, 0);
	struct dpp_event ev = make_event(1, DPP_EVENT_DENY);
	char rotated[160];
	char *old_text, *new_text;
	struct stat st;
	int i;

	snprintf(rotated, sizeof(rotated), "%s.1", f->path);
	dpp_bus_publish(f->bus, &ev);
	wait_for(dpp_audit_written, a, 1);
	assert_int_equal(rename(f->path, rotated), 0);
	/* Before the reopen, records still go to the renamed file. */
	ev.id = 2;
	dpp_bus_publish(f->bus, &ev);
	wait_for(dpp_audit_written, a, 2);
	dpp_audit_reopen(a);
	for (i = 0; i < 500 && stat(f->path, &st) != 0; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	ev.id = 3;
	dpp_bus_publish(f->bus, &ev);
	wait_for(dpp_audit_written, a, 3);
	dpp_audit_stop(a);

	old_text = slurp(rotated);
	new_text = slurp(f->path);
	assert_int_equal(count_lines(old_text), 2);
	assert_non_null(strstr(old_text, "\"request_id\":1,"));
	assert_non_null(strstr(old_text, "\"request_id\":2,"));
	assert_int_equal(count_lines(new_text), 1);
	assert_non_null(strstr(new_text, "\"request_id\":3,"));
	free(old_text);
	free(new_text);
}

static void test_drops_counted_and_warned(void **state)
{
	struct fixture *f = *state;
	struct dpp_audit *a = start(f, 4, 0, 1);
	char *log, *text;

	for (uint64_t i = 0; i < 10; i++) {
		struct dpp_event ev = make_event(i + 100, DPP_EVENT_DENY);

		dpp_bus_publish(f->bus, &ev);
	}
	assert_int_equal(dpp_audit_dropped(a), 6);
	assert_int_equal(dpp_audit_written(a), 0);
	dpp_audit_resume(a);
	wait_for(dpp_audit_written, a, 4);

	/* A second burst inside the 10 s window: counted, not logged again. */
	dpp_audit_pause(a);
	for (uint64_t i = 10; i < 20; i++) {
		struct dpp_event ev = make_event(i + 100, DPP_EVENT_AUTH_FAILURE);

		dpp_bus_publish(f->bus, &ev);
	}
	assert_int_equal(dpp_audit_dropped(a), 12);
	dpp_audit_resume(a);
	wait_for(dpp_audit_written, a, 8);
	log = slurp_log(f->log);
	assert_int_equal(count_substr(log, "audit: dropped"), 1);
	assert_non_null(strstr(log, "audit: dropped 6 events (queue full); "
				    "see docker_proxy_audit_dropped_total"));
	free(log);

	/* Stop writes a final summary of what was not reported yet. */
	dpp_audit_stop(a);
	log = slurp_log(f->log);
	assert_int_equal(count_substr(log, "audit: dropped 6 events (queue full)"), 2);
	free(log);

	/* The first four of each burst were kept, in order. */
	text = slurp(f->path);
	assert_int_equal(count_lines(text), 8);
	for (int i = 0; i < 20; i++) {
		char want[40];

		snprintf(want, sizeof(want), "\"request_id\":%d,", i + 100);
		assert_int_equal(strstr(text, want) != NULL, (i < 4) || (i >= 10 && i < 14));
	}
	free(text);
}

static void test_write_errors_not_fatal(void **state)
{
	struct fixture *f = *state;
	struct dpp_audit_options opt = {.path = "/dev/full", .capacity = 8};
	const char *err = NULL;
	struct dpp_audit *a;
	struct dpp_event ev = make_event(1, DPP_EVENT_DENY);
	char *log;

	a = dpp_audit_start_with(f->bus, &opt, &err);
	if (a == NULL)
		fail_msg("start on /dev/full: %s", err);
	dpp_bus_publish(f->bus, &ev);
	wait_for(dpp_audit_write_errors, a, 1);
	dpp_bus_publish(f->bus, &ev);
	wait_for(dpp_audit_write_errors, a, 2);
	assert_int_equal(dpp_audit_written(a), 0);
	dpp_audit_stop(a);
	log = slurp_log(f->log);
	/* Logged once (rate-limited), with the cause. */
	assert_int_equal(count_substr(log, "audit: cannot write /dev/full"), 1);
	assert_non_null(strstr(log, strerror(ENOSPC)));
	free(log);
}

static void test_start_errors(void **state)
{
	struct fixture *f = *state;
	const char *err = NULL;

	assert_null(dpp_audit_start(f->bus, "/nonexistent-dir/audit.log", 8, &err));
	assert_non_null(err);
	err = NULL;
	assert_null(dpp_audit_start(f->bus, f->path, 0, &err)); /* bad capacity */
	assert_non_null(err);
	err = NULL;
	assert_null(dpp_audit_start(f->bus, "", 8, &err));
	assert_non_null(err);
	/* The failed starts left no subscription behind. */
	{
		struct dpp_event ev = make_event(1, DPP_EVENT_DENY);

		assert_int_equal(dpp_bus_publish(f->bus, &ev), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_record_shape, setup, teardown),
		cmocka_unit_test(test_record_variants),
		cmocka_unit_test(test_format_edge_cases),
		cmocka_unit_test_setup_teardown(test_kinds_parameter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_after_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drops_counted_and_warned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_errors_not_fatal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
