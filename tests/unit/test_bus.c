/* Event bus: bounded rings, drops, FIFO, fan-out, wake-ups, concurrency. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dpp/bus.h"

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct dpp_event make_event(uint64_t id, enum dpp_event_kind kind)
{
	struct dpp_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.id = id;
	ev.kind = kind;
	ev.status = 403;
	snprintf(ev.path, sizeof(ev.path), "/containers/%llu/json", (unsigned long long)id);
	return ev;
}

static struct dpp_bus *new_bus(void)
{
	const char *err = NULL;
	struct dpp_bus *bus = dpp_bus_create(&err);

	assert_non_null(bus);
	return bus;
}

static struct dpp_bus_sub *new_sub(struct dpp_bus *bus, const char *name, size_t cap)
{
	const char *err = NULL;
	struct dpp_bus_sub *sub = dpp_bus_subscribe(bus, name, cap, &err);

	if (sub == NULL)
		fail_msg("subscribe %s: %s", name, err);
	return sub;
}

static void test_full_ring_drops_without_blocking(void **state)
{
	struct dpp_bus *bus = new_bus();
	struct dpp_bus_sub *sub = new_sub(bus, "audit", 4);
	struct dpp_event ev;
	int64_t t0;

	(void)state;
	for (uint64_t i = 0; i < 4; i++) {
		ev = make_event(i, DPP_EVENT_DENY);
		assert_int_equal(dpp_bus_publish(bus, &ev), 1);
	}
	assert_int_equal(dpp_bus_sub_dropped(sub), 0);
	/* Nobody consumes: 100000 more publishes must all return promptly. */
	t0 = mono_ms();
	for (uint64_t i = 4; i < 100004; i++) {
		ev = make_event(i, DPP_EVENT_DENY);
		assert_int_equal(dpp_bus_publish(bus, &ev), 0);
	}
	assert_true(mono_ms() - t0 < 5000);
	assert_int_equal(dpp_bus_sub_dropped(sub), 100000);
	/* The ring kept the first four, in order. */
	for (uint64_t i = 0; i < 4; i++) {
		assert_int_equal(dpp_bus_pop(sub, &ev, 0), 1);
		assert_int_equal(ev.id, i);
		assert_string_equal(ev.path, make_event(i, DPP_EVENT_DENY).path);
	}
	assert_int_equal(dpp_bus_pop(sub, &ev, 0), 0);
	/* Room again after popping. */
	ev = make_event(7, DPP_EVENT_DENY);
	assert_int_equal(dpp_bus_publish(bus, &ev), 1);
	assert_int_equal(dpp_bus_pop(sub, &ev, 0), 1);
	assert_int_equal(ev.id, 7);
	dpp_bus_free(bus);
}

/* The record the bus carries holds every field of the seed's audit record
 * (the store and the console read the same record): each survives the ring
 * unchanged, at full length. */
static void test_event_carries_every_audit_field(void **state)
{
	struct dpp_bus *bus = new_bus();
	struct dpp_bus_sub *sub = new_sub(bus, "store", 2);
	struct dpp_event in, out;

	(void)state;
	memset(&in, 0, sizeof(in));
	in.id = UINT64_MAX;
	in.time_ms = 1796032800123LL;
	in.kind = DPP_EVENT_DRY_RUN;
	in.status = 0;
	in.dry_run = 1;
	in.duration_ms = 12345;
	snprintf(in.method, sizeof(in.method), "POST");
	memset(in.path, 'p', sizeof(in.path) - 1);
	snprintf(in.peer_ip, sizeof(in.peer_ip), "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
	snprintf(in.client_ip, sizeof(in.client_ip), "10.9.8.7");
	memset(in.user_agent, 'u', sizeof(in.user_agent) - 1);
	snprintf(in.identity, sizeof(in.identity), "token:1a2b3c4d");
	snprintf(in.user_role, sizeof(in.user_role), "readonly");
	snprintf(in.rule_name, sizeof(in.rule_name), "watch-image-pulls");
	snprintf(in.rule_action, sizeof(in.rule_action), "require_role");
	memset(in.message, 'm', sizeof(in.message) - 1);
	assert_true(sizeof(in.rule_action) > strlen("require_role"));
	assert_true(sizeof(in.peer_ip) > strlen(in.peer_ip)); /* longest inet_ntop text fits */
	assert_int_equal(dpp_bus_publish(bus, &in), 1);
	memset(&out, 0xa5, sizeof(out));
	assert_int_equal(dpp_bus_pop(sub, &out, 0), 1);
	assert_int_equal(out.id, UINT64_MAX);
	assert_int_equal(out.time_ms, 1796032800123LL);
	assert_int_equal(out.kind, DPP_EVENT_DRY_RUN);
	assert_int_equal(out.status, 0);
	assert_int_equal(out.dry_run, 1);
	assert_int_equal(out.duration_ms, 12345);
	assert_string_equal(out.method, "POST");
	assert_string_equal(out.path, in.path);
	assert_int_equal(strlen(out.path), sizeof(out.path) - 1);
	assert_string_equal(out.peer_ip, in.peer_ip);
	assert_string_equal(out.client_ip, "10.9.8.7");
	assert_string_equal(out.user_agent, in.user_agent);
	assert_int_equal(strlen(out.user_agent), sizeof(out.user_agent) - 1);
	assert_string_equal(out.identity, "token:1a2b3c4d");
	assert_string_equal(out.user_role, "readonly");
	assert_string_equal(out.rule_name, "watch-image-pulls");
	assert_string_equal(out.rule_action, "require_role");
	assert_string_equal(out.message, in.message);
	dpp_bus_free(bus);
}

static void test_fifo_across_wraps(void **state)
{
	struct dpp_bus *bus = new_bus();
	struct dpp_bus_sub *sub = new_sub(bus, "fifo", 5); /* not a power of two */
	struct dpp_event ev;
	uint64_t next_in = 0, next_out = 0;

	(void)state;
	/* Uneven publish/pop batches walk the positions over many laps. */
	for (int round = 0; round < 50; round++) {
		int n_in = 1 + round % 5, n_out = 1 + (round * 3) % 5;

		for (int i = 0; i < n_in; i++) {
			ev = make_event(next_in, DPP_EVENT_REQUEST);
			if (dpp_bus_publish(bus, &ev) == 1)
				next_in++;
			else
				break;
		}
		for (int i = 0; i < n_out; i++) {
			int rc = dpp_bus_pop(sub, &ev, 0);

			if (rc == 0)
				break;
			assert_int_equal(rc, 1);
			assert_int_equal(ev.id, next_out);
			next_out++;
		}
	}
	while (dpp_bus_pop(sub, &ev, 0) == 1) {
		assert_int_equal(ev.id, next_out);
		next_out++;
	}
	assert_int_equal(next_out, next_in);
	assert_true(next_in > 50);
	dpp_bus_free(bus);
}

static void test_two_subscribers_get_every_event(void **state)
{
	struct dpp_bus *bus = new_bus();
	struct dpp_bus_sub *a = new_sub(bus, "a", 16);
	struct dpp_bus_sub *b = new_sub(bus, "b", 16);
	struct dpp_bus_sub *small = new_sub(bus, "small", 2);
	struct dpp_event ev;

	(void)state;
	for (uint64_t i = 0; i < 10; i++) {
		ev = make_event(i, DPP_EVENT_DENY);
		assert_int_equal(dpp_bus_publish(bus, &ev), i < 2 ? 3 : 2);
	}
	for (uint64_t i = 0; i < 10; i++) {
		assert_int_equal(dpp_bus_pop(a, &ev, 0), 1);
		assert_int_equal(ev.id, i);
		assert_int_equal(dpp_bus_pop(b, &ev, 0), 1);
		assert_int_equal(ev.id, i);
	}
	assert_int_equal(dpp_bus_pop(a, &ev, 0), 0);
	assert_int_equal(dpp_bus_pop(b, &ev, 0), 0);
	/* Drops are per subscriber. */
	assert_int_equal(dpp_bus_sub_dropped(a), 0);
	assert_int_equal(dpp_bus_sub_dropped(b), 0);
	assert_int_equal(dpp_bus_sub_dropped(small), 8);
	/* Unsubscribing one leaves the other working. */
	dpp_bus_unsubscribe(bus, a);
	ev = make_event(99, DPP_EVENT_DENY);
	assert_int_equal(dpp_bus_publish(bus, &ev), 1); /* small is still full */
	assert_int_equal(dpp_bus_pop(b, &ev, 0), 1);
	assert_int_equal(ev.id, 99);
	dpp_bus_free(bus);
}

static void test_kind_filter(void **state)
{
	struct dpp_bus *bus = new_bus();
	struct dpp_bus_sub *sub = new_sub(bus, "audit", 4);
	struct dpp_event ev;

	(void)state;
	dpp_bus_sub_set_kinds(sub, DPP_BUS_KIND(DPP_EVENT_DENY) | DPP_BUS_KIND(DPP_EVENT_LOCKOUT));
	for (int i = 0; i < 10; i++) {
		ev = make_event((uint64_t)i, DPP_EVENT_REQUEST);
		assert_int_equal(dpp_bus_publish(bus, &ev), 0);
	}
	ev = make_event(42, DPP_EVENT_LOCKOUT);
	assert_int_equal(dpp_bus_publish(bus, &ev), 1);
	assert_int_equal(dpp_bus_sub_dropped(sub), 0); /* filtered is not dropped */
	assert_int_equal(dpp_bus_pop(sub, &ev, 0), 1);
	assert_int_equal(ev.id, 42);
	assert_int_equal(ev.kind, DPP_EVENT_LOCKOUT);
	assert_int_equal(dpp_bus_pop(sub, &ev, 0), 0);
	dpp_bus_free(bus);
}

static void test_pop_timeout(void **state)
{
	struct dpp_bus *bus = new_bus();
	struct dpp_bus_sub *sub = new_sub(bus, "t", 4);
	struct dpp_event ev;
	int64_t t0, dt;

	(void)state;
	t0 = mono_ms();
	assert_int_equal(dpp_bus_pop(sub, &ev, 0), 0);
	assert_true(mono_ms() - t0 < 50);
	t0 = mono_ms();
	assert_int_equal(dpp_bus_pop(sub, &ev, 120), 0);
	dt = mono_ms() - t0;
	assert_true(dt >= 115);
	assert_true(dt < 2000);
	assert_int_equal(dpp_bus_pop(NULL, &ev, 0), -1);
	dpp_bus_free(bus);
}

struct delayed {
	struct dpp_bus *bus;
	struct dpp_bus_sub *sub;
	int wake_only;
};

static void *publish_later(void *arg)
{
	struct delayed *d = arg;
	struct timespec ts = {0, 100 * 1000 * 1000};
	struct dpp_event ev = make_event(5, DPP_EVENT_DENY);

	nanosleep(&ts, NULL);
	if (d->wake_only)
		dpp_bus_sub_wake(d->sub);
	else
		dpp_bus_publish(d->bus, &ev);
	return NULL;
}

static void test_pop_wakes_on_publish_and_wake(void **state)
{
	struct dpp_bus *bus = new_bus();
	struct dpp_bus_sub *sub = new_sub(bus, "w", 4);
	struct delayed d = {bus, sub, 0};
	struct dpp_event ev;
	pthread_t th;
	int64_t t0;

	(void)state;
	/* A publish from another thread ends a long wait early. */
	t0 = mono_ms();
	assert_int_equal(pthread_create(&th, NULL, publish_later, &d), 0);
	assert_int_equal(dpp_bus_pop(sub, &ev, 10000), 1);
	assert_true(mono_ms() - t0 < 5000);
	assert_int_equal(ev.id, 5);
	assert_int_equal(pthread_join(th, NULL), 0);
	/* dpp_bus_sub_wake ends an unlimited wait with 0. */
	d.wake_only = 1;
	t0 = mono_ms();
	assert_int_equal(pthread_create(&th, NULL, publish_later, &d), 0);
	assert_int_equal(dpp_bus_pop(sub, &ev, -1), 0);
	assert_true(mono_ms() - t0 < 5000);
	assert_int_equal(pthread_join(th, NULL), 0);
	dpp_bus_free(bus);
}

static int fd_readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	assert_true(poll(&p, 1, 0) >= 0);
	return (p.revents & POLLIN) != 0;
}

static void test_fd_pollable(void **state)
{
	struct dpp_bus *bus = new_bus();
	struct dpp_bus_sub *sub = new_sub(bus, "fd", 4);
	struct dpp_event ev = make_event(1, DPP_EVENT_DENY);

	(void)state;
	assert_true(dpp_bus_sub_fd(sub) >= 0);
	assert_false(fd_readable(dpp_bus_sub_fd(sub)));
	dpp_bus_publish(bus, &ev);
	dpp_bus_publish(bus, &ev);
	assert_true(fd_readable(dpp_bus_sub_fd(sub)));
	assert_int_equal(dpp_bus_pop(sub, &ev, 0), 1);
	assert_int_equal(dpp_bus_pop(sub, &ev, 0), 1);
	assert_int_equal(dpp_bus_pop(sub, &ev, 0), 0); /* drains and re-arms */
	assert_false(fd_readable(dpp_bus_sub_fd(sub)));
	dpp_bus_publish(bus, &ev);
	assert_true(fd_readable(dpp_bus_sub_fd(sub)));
	dpp_bus_free(bus);
}

static void test_subscribe_limits(void **state)
{
	struct dpp_bus *bus = new_bus();
	struct dpp_bus_sub *subs[DPP_BUS_MAX_SUBSCRIBERS];
	const char *err = NULL;
	char name[80];

	(void)state;
	assert_null(dpp_bus_subscribe(bus, "x", 0, &err));
	assert_non_null(err);
	assert_null(dpp_bus_subscribe(bus, "x", 1, &err));
	assert_null(dpp_bus_subscribe(bus, "x", DPP_BUS_CAPACITY_MAX + 1, &err));
	assert_null(dpp_bus_subscribe(bus, "", 4, &err));
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_null(dpp_bus_subscribe(bus, name, 4, &err));
	for (int i = 0; i < DPP_BUS_MAX_SUBSCRIBERS; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		subs[i] = new_sub(bus, name, 2);
	}
	err = NULL;
	assert_null(dpp_bus_subscribe(bus, "one-too-many", 2, &err));
	assert_non_null(strstr(err, "too many"));
	/* A freed slot can be reused. */
	dpp_bus_unsubscribe(bus, subs[3]);
	subs[3] = new_sub(bus, "again", 2);
	assert_string_equal(dpp_bus_sub_name(subs[3]), "again");
	dpp_bus_free(bus);
}

struct seen {
	char names[DPP_BUS_MAX_SUBSCRIBERS][DPP_BUS_NAME_MAX + 1];
	uint64_t dropped[DPP_BUS_MAX_SUBSCRIBERS];
	int n;
};

static void collect(void *arg, const char *name, uint64_t dropped)
{
	struct seen *s = arg;

	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
	s->dropped[s->n] = dropped;
	s->n++;
}

static void test_foreach_reports_drops(void **state)
{
	struct dpp_bus *bus = new_bus();
	struct dpp_event ev = make_event(1, DPP_EVENT_DENY);
	struct seen s;

	(void)state;
	memset(&s, 0, sizeof(s));
	new_sub(bus, "audit", 2);
	new_sub(bus, "console", 4);
	for (int i = 0; i < 6; i++)
		dpp_bus_publish(bus, &ev);
	dpp_bus_foreach_sub(bus, collect, &s);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.names[0], "audit");
	assert_int_equal(s.dropped[0], 4);
	assert_string_equal(s.names[1], "console");
	assert_int_equal(s.dropped[1], 2);
	dpp_bus_free(bus);
}

#define N_PUB 4
#define PER_PUB 20000

struct pub_arg {
	struct dpp_bus *bus;
	int index;
};

static void *publisher(void *arg)
{
	struct pub_arg *p = arg;

	for (uint64_t i = 0; i < PER_PUB; i++) {
		/* id: publisher in the high bits, sequence in the low bits */
		struct dpp_event ev = make_event(((uint64_t)p->index << 32) | i, DPP_EVENT_DENY);

		dpp_bus_publish(p->bus, &ev);
	}
	return NULL;
}

struct consumer {
	struct dpp_bus_sub *sub;
	atomic_int done;
	uint64_t received;
	int64_t last[N_PUB];
	int order_ok;
};

static void *consume(void *arg)
{
	struct consumer *c = arg;
	struct dpp_event ev;

	for (;;) {
		int rc = dpp_bus_pop(c->sub, &ev, 1000);

		if (rc == 1) {
			unsigned pub = (unsigned)(ev.id >> 32);
			int64_t seq = (int64_t)(ev.id & 0xffffffffu);

			if (pub >= N_PUB || seq <= c->last[pub])
				c->order_ok = 0;
			else
				c->last[pub] = seq;
			c->received++;
		} else if (rc < 0) {
			c->order_ok = 0;
			return NULL;
		} else if (atomic_load(&c->done)) {
			return NULL; /* woken after the publishers finished, ring empty */
		}
	}
}

static void test_concurrent_publishers(void **state)
{
	struct dpp_bus *bus = new_bus();
	struct consumer c[2];
	pthread_t pubs[N_PUB], cons[2];
	struct pub_arg args[N_PUB];

	(void)state;
	memset(c, 0, sizeof(c));
	c[0].sub = new_sub(bus, "fast", 4096);
	c[1].sub = new_sub(bus, "tiny", 8);
	for (int k = 0; k < 2; k++) {
		c[k].order_ok = 1;
		for (int i = 0; i < N_PUB; i++)
			c[k].last[i] = -1;
		assert_int_equal(pthread_create(&cons[k], NULL, consume, &c[k]), 0);
	}
	for (int i = 0; i < N_PUB; i++) {
		args[i].bus = bus;
		args[i].index = i;
		assert_int_equal(pthread_create(&pubs[i], NULL, publisher, &args[i]), 0);
	}
	for (int i = 0; i < N_PUB; i++)
		assert_int_equal(pthread_join(pubs[i], NULL), 0);
	for (int k = 0; k < 2; k++) {
		atomic_store(&c[k].done, 1);
		dpp_bus_sub_wake(c[k].sub);
		assert_int_equal(pthread_join(cons[k], NULL), 0);
		assert_true(c[k].order_ok);
		assert_int_equal(c[k].received + dpp_bus_sub_dropped(c[k].sub),
				 (uint64_t)N_PUB * PER_PUB);
		assert_true(c[k].received > 0);
	}
	dpp_bus_free(bus);
}

static void *churn_publisher(void *arg)
{
	struct dpp_bus *bus = arg;
	struct dpp_event ev = make_event(1, DPP_EVENT_DENY);

	for (int i = 0; i < 200000; i++)
		dpp_bus_publish(bus, &ev);
	return NULL;
}

/* Subscribe/unsubscribe while publishers run: must not touch freed memory
 * (meaningful under ASan/TSan). */
static void test_unsubscribe_under_load(void **state)
{
	struct dpp_bus *bus = new_bus();
	pthread_t th[2];

	(void)state;
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, churn_publisher, bus), 0);
	for (int i = 0; i < 200; i++) {
		struct dpp_bus_sub *sub = new_sub(bus, "churn", 16);
		struct dpp_event ev;

		(void)dpp_bus_pop(sub, &ev, 0);
		dpp_bus_unsubscribe(bus, sub);
	}
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	dpp_bus_free(bus);
}

static void test_kind_names(void **state)
{
	static const struct {
		enum dpp_event_kind kind;
		const char *name;
	} cases[] = {
		{DPP_EVENT_REQUEST, "request"},   {DPP_EVENT_DENY, "deny"},
		{DPP_EVENT_DRY_RUN, "dry_run"},   {DPP_EVENT_AUTH_FAILURE, "auth_failure"},
		{DPP_EVENT_LOCKOUT, "lockout"},   {DPP_EVENT_RATE_LIMITED, "rate_limited"},
		{DPP_EVENT_ERROR, "error"},       {(enum dpp_event_kind)99, "unknown"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(dpp_event_kind_name(cases[i].kind), cases[i].name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_ring_drops_without_blocking),
		cmocka_unit_test(test_event_carries_every_audit_field),
		cmocka_unit_test(test_fifo_across_wraps),
		cmocka_unit_test(test_two_subscribers_get_every_event),
		cmocka_unit_test(test_kind_filter),
		cmocka_unit_test(test_pop_timeout),
		cmocka_unit_test(test_pop_wakes_on_publish_and_wake),
		cmocka_unit_test(test_fd_pollable),
		cmocka_unit_test(test_subscribe_limits),
		cmocka_unit_test(test_foreach_reports_drops),
		cmocka_unit_test(test_concurrent_publishers),
		cmocka_unit_test(test_unsubscribe_under_load),
		cmocka_unit_test(test_kind_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
