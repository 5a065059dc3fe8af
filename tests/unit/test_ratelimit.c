/* Token buckets with an injected clock: refill, retry-after, penalty
 * lockout, keys, parameter changes, eviction, snapshot, retain, threads. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dpp/ratelimit.h"

static int take(struct dpp_ratelimit *rl, const char *rule, const char *ip, uint32_t req,
		uint64_t period, uint64_t penalty, uint64_t now, uint64_t *retry)
{
	*retry = 0;
	return dpp_ratelimit_take(rl, rule, ip, req, period, penalty, now, retry);
}

static void test_refill_and_retry(void **state)
{
	struct dpp_ratelimit *rl = dpp_ratelimit_create(16);
	uint64_t retry;

	(void)state;
	assert_non_null(rl);
	/* 3 per 3s: one token per second. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(take(rl, "r", "10.0.0.1", 3, 3000, 0, 100, &retry), 1);
	assert_int_equal(take(rl, "r", "10.0.0.1", 3, 3000, 0, 100, &retry), 0);
	assert_int_equal(retry, 1000);
	assert_int_equal(take(rl, "r", "10.0.0.1", 3, 3000, 0, 600, &retry), 0);
	assert_int_equal(retry, 500);
	assert_int_equal(take(rl, "r", "10.0.0.1", 3, 3000, 0, 1100, &retry), 1);
	assert_int_equal(take(rl, "r", "10.0.0.1", 3, 3000, 0, 1100, &retry), 0);
	/* Long idle: refilled to capacity, not beyond. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(take(rl, "r", "10.0.0.1", 3, 3000, 0, 100000, &retry), 1);
	assert_int_equal(take(rl, "r", "10.0.0.1", 3, 3000, 0, 100000, &retry), 0);
	/* A clock that goes backwards neither refills nor breaks. */
	assert_int_equal(take(rl, "r", "10.0.0.1", 3, 3000, 0, 50, &retry), 0);
	assert_true(retry >= 1);
	dpp_ratelimit_free(rl);
}

static void test_penalty(void **state)
{
	struct dpp_ratelimit *rl = dpp_ratelimit_create(16);
	uint64_t retry;

	(void)state;
	/* 2 per second, 5 s lockout once empty. */
	assert_int_equal(take(rl, "r", "ip", 2, 1000, 5000, 0, &retry), 1);
	assert_int_equal(take(rl, "r", "ip", 2, 1000, 5000, 0, &retry), 1);
	assert_int_equal(take(rl, "r", "ip", 2, 1000, 5000, 10, &retry), 0);
	assert_int_equal(retry, 5000); /* the penalty, longer than the refill wait */
	/* Tokens are back after 1 s, but the lockout holds. */
	assert_int_equal(take(rl, "r", "ip", 2, 1000, 5000, 2000, &retry), 0);
	assert_int_equal(retry, 3010);
	/* Refusals during the lockout do not extend it. */
	assert_int_equal(take(rl, "r", "ip", 2, 1000, 5000, 5009, &retry), 0);
	assert_int_equal(retry, 1);
	assert_int_equal(take(rl, "r", "ip", 2, 1000, 5000, 5010, &retry), 1);
	assert_int_equal(take(rl, "r", "ip", 2, 1000, 5000, 5010, &retry), 1);
	assert_int_equal(take(rl, "r", "ip", 2, 1000, 5000, 5010, &retry), 0);
	assert_int_equal(retry, 5000);
	dpp_ratelimit_free(rl);
}

static void test_keys_independent(void **state)
{
	struct dpp_ratelimit *rl = dpp_ratelimit_create(16);
	uint64_t retry;

	(void)state;
	assert_int_equal(take(rl, "a", "1.1.1.1", 1, 60000, 0, 0, &retry), 1);
	assert_int_equal(take(rl, "a", "1.1.1.1", 1, 60000, 0, 0, &retry), 0);
	assert_int_equal(retry, 60000);
	assert_int_equal(take(rl, "a", "1.1.1.2", 1, 60000, 0, 0, &retry), 1);
	assert_int_equal(take(rl, "b", "1.1.1.1", 1, 60000, 0, 0, &retry), 1);
	assert_int_equal(take(rl, "a", "", 1, 60000, 0, 0, &retry), 1);
	/* "a"+"b.c" must not collide with "ab"+".c" or similar. */
	assert_int_equal(take(rl, "x", "y1", 1, 60000, 0, 0, &retry), 1);
	assert_int_equal(take(rl, "xy", "1", 1, 60000, 0, 0, &retry), 1);
	dpp_ratelimit_free(rl);
}

/* A reload that changes requests keeps the bucket, capped at the new size. */
static void test_parameter_change(void **state)
{
	struct dpp_ratelimit *rl = dpp_ratelimit_create(16);
	uint64_t retry;
	int allowed = 0;

	(void)state;
	assert_int_equal(take(rl, "r", "ip", 10, 10000, 0, 0, &retry), 1); /* 9 left */
	while (take(rl, "r", "ip", 2, 10000, 0, 0, &retry) == 1)
		allowed++;
	assert_int_equal(allowed, 2);
	assert_int_equal(retry, 5000); /* new rate: 2 per 10 s */
	dpp_ratelimit_free(rl);
}

static void test_bad_args(void **state)
{
	struct dpp_ratelimit *rl = dpp_ratelimit_create(4);
	char long_ip[DPP_RATELIMIT_IP_MAX + 1];
	uint64_t retry;

	(void)state;
	memset(long_ip, '1', sizeof(long_ip) - 1);
	long_ip[sizeof(long_ip) - 1] = '\0';
	assert_int_equal(take(rl, "r", "ip", 0, 1000, 0, 0, &retry), -1);
	assert_int_equal(take(rl, "r", "ip", 1, 0, 0, 0, &retry), -1);
	assert_int_equal(take(rl, "r", long_ip, 1, 1000, 0, 0, &retry), -1);
	assert_int_equal(dpp_ratelimit_take(rl, NULL, "ip", 1, 1, 0, 0, NULL), -1);
	assert_int_equal(dpp_ratelimit_take(NULL, "r", "ip", 1, 1, 0, 0, NULL), -1);
	assert_null(dpp_ratelimit_create(0));
	assert_null(dpp_ratelimit_create(DPP_RATELIMIT_BUCKETS_MAX + 1));
	dpp_ratelimit_free(rl);
	dpp_ratelimit_free(NULL);
}

static void test_eviction(void **state)
{
	struct dpp_ratelimit *rl = dpp_ratelimit_create(2);
	struct dpp_ratelimit_state *s;
	size_t n, count;
	uint64_t retry, ev;

	(void)state;
	/* b: drained at t=0 (least recently used, but not idle). */
	assert_int_equal(take(rl, "r", "b", 1, 100000, 0, 0, &retry), 1);
	/* a: used at t=10, refilled again by t=1000 (idle). */
	assert_int_equal(take(rl, "r", "a", 10, 100, 0, 10, &retry), 1);
	assert_int_equal(take(rl, "r", "c", 1, 100000, 0, 1000, &retry), 1);
	assert_int_equal(dpp_ratelimit_snapshot(rl, 1000, &s, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(s[0].ip, "b"); /* the drained bucket survived */
	assert_string_equal(s[1].ip, "c");
	free(s);
	/* Nothing idle now: the least recently used (b) goes. */
	assert_int_equal(take(rl, "r", "d", 1, 100000, 0, 2000, &retry), 1);
	assert_int_equal(dpp_ratelimit_snapshot(rl, 2000, &s, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(s[0].ip, "c");
	assert_string_equal(s[1].ip, "d");
	free(s);
	dpp_ratelimit_stats(rl, &count, &ev);
	assert_int_equal(count, 2);
	assert_int_equal(ev, 2);
	dpp_ratelimit_free(rl);
}

static void test_snapshot_and_retain(void **state)
{
	struct dpp_ratelimit *rl = dpp_ratelimit_create(64);
	struct dpp_ratelimit_state *s;
	static const char *const keep[] = {"keep"};
	uint64_t retry;
	size_t n;

	(void)state;
	assert_int_equal(dpp_ratelimit_snapshot(rl, 0, &s, &n), 0);
	assert_null(s);
	assert_int_equal(n, 0);
	assert_int_equal(take(rl, "keep", "10.0.0.2", 4, 4000, 0, 0, &retry), 1);
	assert_int_equal(take(rl, "keep", "10.0.0.1", 1, 1000, 3000, 0, &retry), 1);
	assert_int_equal(take(rl, "keep", "10.0.0.1", 1, 1000, 3000, 0, &retry), 0);
	assert_int_equal(take(rl, "gone", "10.0.0.1", 1, 1000, 0, 0, &retry), 1);

	assert_int_equal(dpp_ratelimit_snapshot(rl, 500, &s, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(s[0].rule, "gone");
	assert_string_equal(s[1].rule, "keep");
	assert_string_equal(s[1].ip, "10.0.0.1");
	assert_true(s[1].tokens > 0.49 && s[1].tokens < 0.51);
	assert_int_equal(s[1].capacity, 1);
	assert_int_equal(s[1].period_ms, 1000);
	assert_int_equal(s[1].penalty_remaining_ms, 2500);
	assert_int_equal(s[1].idle_ms, 500);
	assert_string_equal(s[2].ip, "10.0.0.2");
	assert_true(s[2].tokens > 3.49 && s[2].tokens < 3.51);
	assert_int_equal(s[2].penalty_remaining_ms, 0);
	free(s);

	assert_int_equal(dpp_ratelimit_retain(rl, keep, 1), 1);
	assert_int_equal(dpp_ratelimit_snapshot(rl, 500, &s, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(s[0].rule, "keep");
	assert_string_equal(s[1].rule, "keep");
	free(s);
	/* The surviving bucket kept its state (still locked out). */
	assert_int_equal(take(rl, "keep", "10.0.0.1", 1, 1000, 3000, 1000, &retry), 0);
	assert_int_equal(retry, 2000);
	assert_int_equal(dpp_ratelimit_retain(rl, NULL, 0), 2);
	dpp_ratelimit_free(rl);
}

struct race {
	struct dpp_ratelimit *rl;
	int allowed;
};

static void *race_thread(void *arg)
{
	struct race *r = arg;

	for (int i = 0; i < 2000; i++) {
		if (dpp_ratelimit_take(r->rl, "r", i % 2 ? "a" : "b", 1000, 1000000, 0, 0, NULL) == 1)
			r->allowed++;
	}
	return NULL;
}

/* Concurrent takes never hand out more tokens than exist. */
static void test_threads(void **state)
{
	struct dpp_ratelimit *rl = dpp_ratelimit_create(16);
	struct race r[4];
	pthread_t t[4];
	int total = 0;

	(void)state;
	for (int i = 0; i < 4; i++) {
		r[i].rl = rl;
		r[i].allowed = 0;
		assert_int_equal(pthread_create(&t[i], NULL, race_thread, &r[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		total += r[i].allowed;
	}
	assert_int_equal(total, 2000); /* two buckets of 1000 */
	dpp_ratelimit_free(rl);
}

static void test_clock(void **state)
{
	uint64_t a = dpp_ratelimit_now_ms(), b = dpp_ratelimit_now_ms();

	(void)state;
	assert_true(a > 0);
	assert_true(b >= a);
}

/* Refusals per bucket, for the console's Limits view. */
static void test_refused_count(void **state)
{
	struct dpp_ratelimit *rl = dpp_ratelimit_create(8);
	struct dpp_ratelimit_state *st = NULL;
	size_t n = 0;
	uint64_t retry;

	(void)state;
	assert_int_equal(take(rl, "r", "1.2.3.4", 1, 60000, 0, 0, &retry), 1);
	assert_int_equal(take(rl, "r", "1.2.3.4", 1, 60000, 0, 1, &retry), 0);
	assert_int_equal(take(rl, "r", "1.2.3.4", 1, 60000, 0, 2, &retry), 0);
	assert_int_equal(dpp_ratelimit_snapshot(rl, 3, &st, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(st[0].refused, 2);
	free(st);
	dpp_ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refill_and_retry), cmocka_unit_test(test_penalty),
		cmocka_unit_test(test_keys_independent), cmocka_unit_test(test_parameter_change),
		cmocka_unit_test(test_bad_args),	 cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_snapshot_and_retain), cmocka_unit_test(test_threads),
		cmocka_unit_test(test_clock),
		cmocka_unit_test(test_refused_count),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
