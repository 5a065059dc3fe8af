/* The store's writer thread on a real bus (also run under ThreadSanitizer):
 * events from several publisher threads all land, config versions come in
 * through the core's hook, metrics render while it writes, stop drains. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "dpp/bus.h"
#include "dpp/config.h"
#include "dpp/log.h"
#include "dpp/metrics.h"
#include "store.h"

#define PUBLISHERS 4
#define PER_THREAD 500

struct pub {
	struct dpp_bus *bus;
	int n;
	int base;
};

static void *publish(void *arg)
{
	struct pub *p = arg;

	for (int i = 0; i < p->n; i++) {
		struct dpp_event ev;
		struct timespec ts;

		memset(&ev, 0, sizeof(ev));
		clock_gettime(CLOCK_REALTIME, &ts);
		ev.id = (uint64_t)(p->base + i + 1);
		ev.time_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		ev.kind = i % 3 == 0 ? DPP_EVENT_REQUEST : DPP_EVENT_DENY;
		ev.status = 403;
		snprintf(ev.method, sizeof(ev.method), "GET");
		snprintf(ev.path, sizeof(ev.path), "/containers/json");
		while (dpp_bus_publish(p->bus, &ev) == 0 && ev.kind != DPP_EVENT_REQUEST)
			usleep(100);
		if (i % 64 == 0)
			usleep(1000); /* leave the writer room: the ring is bounded */
	}
	return NULL;
}

static long long q_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -1;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void test_thread_end_to_end(void **state)
{
	char dir[64] = "/tmp/dpp-storet-XXXXXX", path[128], cmd[160];
	const char *err = NULL;
	struct dpp_bus *bus;
	struct dpp_metrics *m;
	struct dpp_store *s;
	struct dpp_store_options o = {0};
	pthread_t th[PUBLISHERS];
	struct pub p[PUBLISHERS];
	struct dpp_config_version v = {0};
	char *text = NULL;
	size_t len = 0;
	FILE *log = tmpfile();

	(void)state;
	dpp_log_set_stream(log);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.db", dir);
	bus = dpp_bus_create(&err);
	m = dpp_metrics_create(&err);
	assert_non_null(bus);
	assert_non_null(m);
	o.path = path;
	o.requests_all = 0;
	o.retention_s = 90 * 86400;
	o.request_retention_s = 7 * 86400;
	s = dpp_store_start(bus, m, &o, &err);
	assert_non_null(s);
	dpp_config_set_version_hook(dpp_store_config_hook, s);
	v.origin = "startup";
	v.text = "global: {}\n";
	v.len = strlen(v.text);
	v.applied = 1;
	dpp_config_version_notify(&v);

	for (int i = 0; i < PUBLISHERS; i++) {
		p[i].bus = bus;
		p[i].n = PER_THREAD;
		p[i].base = i * PER_THREAD;
		assert_int_equal(pthread_create(&th[i], NULL, publish, &p[i]), 0);
	}
	/* Scrapes while the writer writes. */
	for (int i = 0; i < 5; i++) {
		char *out = NULL;

		assert_int_equal(dpp_metrics_render(m, &out, &len, &err), 0);
		assert_non_null(strstr(out, "# TYPE docker_proxy_store_dropped_total counter"));
		assert_non_null(strstr(out, "docker_proxy_store_rows{table=\"audit_events\"}"));
		free(out);
		usleep(20000);
	}
	for (int i = 0; i < PUBLISHERS; i++)
		pthread_join(th[i], NULL);
	v.origin = "sighup";
	v.text = "global: {log_level: debug}\n";
	v.len = strlen(v.text);
	dpp_config_version_notify(&v);
	usleep(600000);
	assert_int_equal(dpp_metrics_render(m, &text, &len, &err), 0);
	assert_non_null(strstr(text, "docker_proxy_store_up 1\n"));
	free(text);
	dpp_config_set_version_hook(NULL, NULL);
	dpp_store_stop(s);

	/* Requests are not stored by default (requests: denied); every deny is. */
	{
		long long denies = 0;

		for (int i = 0; i < PER_THREAD; i++)
			denies += i % 3 != 0;
		assert_int_equal(q_int(path, "SELECT count(*) FROM audit_events WHERE event = 'deny'"),
				 denies * PUBLISHERS);
	}
	assert_int_equal(q_int(path, "SELECT count(*) FROM audit_events WHERE event = 'request'"), 0);
	assert_int_equal(q_int(path, "SELECT count(*) FROM config_versions"), 2);
	assert_int_equal(q_int(path, "SELECT count(*) FROM audit_events WHERE config_version IS NULL"), 0);
	assert_int_equal(q_int(path, "SELECT count(*) FROM store_events WHERE what = 'store_close'"), 1);
	/* Stop checkpointed with TRUNCATE and removed the pid file. */
	snprintf(cmd, sizeof(cmd), "%s.pid", path);
	assert_int_not_equal(access(cmd, F_OK), 0);
	dpp_metrics_free(m);
	dpp_bus_free(bus);
	dpp_log_set_stream(NULL);
	fclose(log);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thread_end_to_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
