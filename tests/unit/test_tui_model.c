/* The console's view models without a terminal: filter language, column
 * layout at 80 and 200 columns, the key table, rings, cell fitting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curses.h>

#include "model.h"

static struct dpp_event mk(enum dpp_event_kind kind, const char *method, const char *path,
			   int status, const char *ip, const char *id, const char *rule)
{
	struct dpp_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.status = status;
	snprintf(ev.method, sizeof(ev.method), "%s", method);
	snprintf(ev.path, sizeof(ev.path), "%s", path);
	snprintf(ev.client_ip, sizeof(ev.client_ip), "%s", ip);
	snprintf(ev.identity, sizeof(ev.identity), "%s", id);
	snprintf(ev.user_role, sizeof(ev.user_role), "admin");
	snprintf(ev.rule_name, sizeof(ev.rule_name), "%s", rule);
	return ev;
}

static void test_filter_terms(void **state)
{
	struct tui_filter f;
	const char *err = NULL;
	struct dpp_event a = mk(DPP_EVENT_DENY, "POST", "/containers/create", 403, "10.1.2.3",
				"token:1a2b3c4d", "no-privileged");
	struct dpp_event b = mk(DPP_EVENT_REQUEST, "GET", "/containers/json", 200, "192.168.0.9",
				"anonymous", "");

	(void)state;
	assert_int_equal(tui_filter_parse("", &f, &err), 0);
	assert_int_equal(f.n, 0);
	assert_true(tui_filter_match(&f, &a));
	assert_true(tui_filter_match(&f, &b));

	assert_int_equal(tui_filter_parse("rule:no-privileged", &f, &err), 0);
	assert_int_equal(f.t[0].kind, TUI_TERM_RULE);
	assert_true(tui_filter_match(&f, &a));
	assert_false(tui_filter_match(&f, &b));

	assert_int_equal(tui_filter_parse("ip:10.0.0.0/8", &f, &err), 0);
	assert_true(tui_filter_match(&f, &a));
	assert_false(tui_filter_match(&f, &b));

	assert_int_equal(tui_filter_parse("status:4xx", &f, &err), 0);
	assert_int_equal(f.t[0].status_lo, 400);
	assert_int_equal(f.t[0].status_hi, 499);
	assert_true(tui_filter_match(&f, &a));
	assert_false(tui_filter_match(&f, &b));
	assert_int_equal(tui_filter_parse("status:200", &f, &err), 0);
	assert_false(tui_filter_match(&f, &a));
	assert_true(tui_filter_match(&f, &b));

	assert_int_equal(tui_filter_parse("method:post", &f, &err), 0);
	assert_true(tui_filter_match(&f, &a));
	assert_false(tui_filter_match(&f, &b));

	assert_int_equal(tui_filter_parse("id:1A2B", &f, &err), 0);
	assert_true(tui_filter_match(&f, &a));
	assert_false(tui_filter_match(&f, &b));

	/* Plain text anywhere, case-insensitive; terms combine with AND. */
	assert_int_equal(tui_filter_parse("CONTAINERS", &f, &err), 0);
	assert_true(tui_filter_match(&f, &a));
	assert_true(tui_filter_match(&f, &b));
	assert_int_equal(tui_filter_parse("containers method:GET status:2xx ip:192.168.0.0/16", &f, &err), 0);
	assert_int_equal(f.n, 4);
	assert_false(tui_filter_match(&f, &a));
	assert_true(tui_filter_match(&f, &b));
	assert_int_equal(tui_filter_parse("deny", &f, &err), 0); /* the decision text */
	assert_true(tui_filter_match(&f, &a));
	assert_false(tui_filter_match(&f, &b));
	/* An unknown key is text (IPv6 literals, paths with colons). */
	assert_int_equal(tui_filter_parse("fe80::1", &f, &err), 0);
	assert_int_equal(f.t[0].kind, TUI_TERM_TEXT);
	assert_string_equal(f.source, "fe80::1");
}

static void test_filter_errors(void **state)
{
	struct tui_filter f;
	const char *err = NULL;

	(void)state;
	assert_int_equal(tui_filter_parse("status:abc", &f, &err), -1);
	assert_non_null(strstr(err, "status:"));
	assert_int_equal(f.n, 0);
	assert_int_equal(tui_filter_parse("status:6xx", &f, &err), -1);
	assert_int_equal(tui_filter_parse("ip:not-an-ip", &f, &err), -1);
	assert_non_null(strstr(err, "ip:"));
	assert_int_equal(tui_filter_parse("ip:10.0.0.0/33", &f, &err), -1);
	assert_int_equal(tui_filter_parse("rule:", &f, &err), -1);
	assert_non_null(strstr(err, "empty"));
	assert_int_equal(tui_filter_parse("a b c d e f g h i j k l m n o p q", &f, &err), -1);
	assert_non_null(strstr(err, "too many"));
}

static int layout_total(const struct tui_layout *L)
{
	int last = 0;

	for (int c = 0; c < TUI_COL_COUNT; c++)
		if (L->width[c] > 0 && L->x[c] + L->width[c] > last)
			last = L->x[c] + L->width[c];
	return last;
}

static void test_layout_80_and_200(void **state)
{
	struct tui_layout L;

	(void)state;
	tui_layout_events(80, &L);
	assert_int_equal(layout_total(&L), 80);
	assert_int_equal(L.width[TUI_COL_IDENTITY], 0); /* no room at 80 */
	assert_int_equal(L.width[TUI_COL_TIME], 8);
	assert_int_equal(L.width[TUI_COL_DECISION], 5); /* ALLOW/LIMIT/ERROR/CLOSE fit */
	assert_int_equal(L.width[TUI_COL_STATUS], 3);
	assert_true(L.width[TUI_COL_PATH] >= 18);
	assert_true(L.width[TUI_COL_RULE] >= 13);
	assert_true(L.width[TUI_COL_LATENCY] >= 5);
	assert_true(L.width[TUI_COL_BYTES] >= 5);
	/* Columns in order, one space apart, never overlapping. */
	for (int c = 1, prev = 0; c < TUI_COL_COUNT; c++) {
		if (L.width[c] == 0)
			continue;
		assert_int_equal(L.x[c], L.x[prev] + L.width[prev] + 1);
		prev = c;
	}

	tui_layout_events(200, &L);
	assert_int_equal(layout_total(&L), 200);
	assert_true(L.width[TUI_COL_IDENTITY] >= 16);
	assert_int_equal(L.width[TUI_COL_CLIENT], 15); /* an IPv4 address in full */
	assert_int_equal(L.width[TUI_COL_RULE], 24);
	assert_true(L.width[TUI_COL_PATH] > 80);

	/* Narrower than the minimum: still inside the screen. */
	tui_layout_events(40, &L);
	assert_true(layout_total(&L) <= 40);
}

static void test_key_table(void **state)
{
	size_t n;
	const struct tui_key *k = tui_keys(&n);
	int seen[TUI_ACT_COUNT] = {0};

	(void)state;
	assert_true(n > 30);
	for (size_t i = 0; i < n; i++) {
		assert_true(k[i].action > TUI_ACT_NONE && k[i].action < TUI_ACT_COUNT);
		assert_string_not_equal(tui_action_name(k[i].action), "?");
		assert_non_null(k[i].label);
		assert_true(k[i].views != 0);
		seen[k[i].action] = 1;
		/* No key is bound twice in one view (dispatch would hide one). */
		for (size_t j = 0; j < i; j++)
			assert_false(k[j].key == k[i].key && (k[j].views & k[i].views) != 0);
	}
	/* Every action is reachable by some key. */
	for (int a = TUI_ACT_NONE + 1; a < TUI_ACT_COUNT; a++)
		assert_true(seen[a]);
	/* The keys, where it puts them. */
	assert_int_equal(tui_key_lookup('q', TUI_VIEW_LIVE)->action, TUI_ACT_QUIT);
	assert_int_equal(tui_key_lookup(KEY_F(10), TUI_VIEW_RULES)->action, TUI_ACT_QUIT);
	assert_int_equal(tui_key_lookup('?', TUI_VIEW_LOG)->action, TUI_ACT_HELP);
	assert_int_equal(tui_key_lookup(KEY_F(1), TUI_VIEW_LOG)->action, TUI_ACT_HELP);
	assert_int_equal(tui_key_lookup('Z', TUI_VIEW_LIVE)->action, TUI_ACT_PAUSE);
	assert_int_equal(tui_key_lookup(' ', TUI_VIEW_DENIALS)->action, TUI_ACT_PAUSE);
	assert_int_equal(tui_key_lookup('/', TUI_VIEW_LIVE)->action, TUI_ACT_FILTER);
	assert_int_equal(tui_key_lookup(KEY_F(4), TUI_VIEW_LIVE)->action, TUI_ACT_FILTER);
	assert_int_equal(tui_key_lookup('7', TUI_VIEW_RULES)->action, TUI_ACT_VIEW_7);
	assert_int_equal(tui_key_lookup('\t', TUI_VIEW_LIVE)->action, TUI_ACT_NEXT_VIEW);
	assert_int_equal(tui_key_lookup(KEY_BTAB, TUI_VIEW_LIVE)->action, TUI_ACT_PREV_VIEW);
	assert_int_equal(tui_key_lookup('t', TUI_VIEW_RULES)->action, TUI_ACT_TOGGLE_DRY_RUN);
	assert_null(tui_key_lookup('t', TUI_VIEW_LIVE)); /* rule keys only in Rules */
	assert_int_equal(tui_key_lookup('D', TUI_VIEW_RULES)->action, TUI_ACT_DELETE_RULE);
	assert_int_equal(tui_key_lookup('\n', TUI_VIEW_HISTORY)->action, TUI_ACT_SHOW_VERSION);
	assert_int_equal(tui_key_lookup('\n', TUI_VIEW_LIVE)->action, TUI_ACT_DETAILS);
	/* Every key that changes the configuration is marked mutating
	 * (--read-only refuses it); nothing else is. */
	for (size_t i = 0; i < n; i++) {
		int changes = k[i].action == TUI_ACT_TOGGLE_DRY_RUN || k[i].action == TUI_ACT_PRIO_UP ||
			      k[i].action == TUI_ACT_PRIO_DOWN || k[i].action == TUI_ACT_EDIT_RULE ||
			      k[i].action == TUI_ACT_NEW_RULE || k[i].action == TUI_ACT_DELETE_RULE ||
			      k[i].action == TUI_ACT_EDIT_CONFIG || k[i].action == TUI_ACT_UNDO ||
			      k[i].action == TUI_ACT_ROLLBACK;

		assert_int_equal(k[i].mutating, changes);
	}
	/* Deleting is never a lower-case single key. */
	for (size_t i = 0; i < n; i++)
		if (k[i].action == TUI_ACT_DELETE_RULE)
			assert_false(k[i].key >= 'a' && k[i].key <= 'z');
}

static void test_ring_bounded(void **state)
{
	struct tui_ring r;
	struct dpp_event ev;

	(void)state;
	assert_int_equal(tui_ring_init(&r, 3), 0);
	memset(&ev, 0, sizeof(ev));
	for (int i = 0; i < 5; i++) {
		ev.id = (uint64_t)i;
		tui_ring_push(&r, &ev);
	}
	assert_int_equal(r.n, 3);
	assert_int_equal(r.total, 5);
	assert_int_equal(tui_ring_at(&r, 0)->id, 2);
	assert_int_equal(tui_ring_at(&r, 2)->id, 4);
	assert_null(tui_ring_at(&r, 3));
	tui_ring_done(&r);
}

/* In-place filling (the console's drain): the cell handed out is the one
 * the next push would write, and nothing changes until the commit. */
static void test_ring_next_commit(void **state)
{
	struct tui_ring r;

	(void)state;
	assert_int_equal(tui_ring_init(&r, 3), 0);
	for (uint64_t i = 0; i < 7; i++) {
		struct dpp_event *cell = tui_ring_next(&r);

		memset(cell, 0, sizeof(*cell));
		cell->id = i;
		assert_int_equal(r.total, i);
		tui_ring_commit(&r);
		assert_int_equal(tui_ring_at(&r, r.n - 1)->id, i);
	}
	assert_int_equal(r.n, 3);
	assert_int_equal(r.total, 7);
	assert_int_equal(tui_ring_at(&r, 0)->id, 4);
	assert_int_equal(tui_ring_at(&r, 1)->id, 5);
	assert_int_equal(tui_ring_at(&r, 2)->id, 6);
	/* Full: the next cell is the oldest one's. */
	assert_ptr_equal(tui_ring_next(&r), tui_ring_at(&r, 0));
	tui_ring_done(&r);
}

static void test_log_ring(void **state)
{
	struct tui_log l;
	char buf[TUI_LOG_LINE];

	(void)state;
	assert_int_equal(tui_log_init(&l, 2), 0);
	tui_log_push(&l, 2, "one");
	tui_log_push(&l, 3, "two");
	tui_log_push(&l, 4, "three");
	assert_int_equal(tui_log_count(&l), 2);
	assert_int_equal(tui_log_get(&l, 0, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "two");
	assert_int_equal(tui_log_get(&l, 1, buf, sizeof(buf)), 4);
	assert_string_equal(buf, "three");
	assert_int_equal(tui_log_get(&l, 2, buf, sizeof(buf)), -1);
	tui_log_done(&l);
}

static void test_cells(void **state)
{
	char buf[64];
	struct dpp_event ev;

	(void)state;
	tui_fmt_ms(12, buf, sizeof(buf));
	assert_string_equal(buf, "12ms");
	tui_fmt_ms(1234, buf, sizeof(buf));
	assert_string_equal(buf, "1.2s");
	tui_fmt_ms(185000, buf, sizeof(buf));
	assert_string_equal(buf, "3m05s");
	tui_fmt_bytes(512, buf, sizeof(buf));
	assert_string_equal(buf, "512");
	tui_fmt_bytes(1536, buf, sizeof(buf));
	assert_string_equal(buf, "1.5K");
	tui_fmt_bytes(50u << 20, buf, sizeof(buf));
	assert_string_equal(buf, "50M");
	/* Fitting counts characters, not bytes, and never splits UTF-8. */
	tui_fit("h\xc3\xa9llo", 3, 0, buf, sizeof(buf));
	assert_string_equal(buf, "h\xc3\xa9l");
	tui_fit("ab", 4, 1, buf, sizeof(buf));
	assert_string_equal(buf, "ab  ");
	tui_fit("a\x1b[31mb", 8, 0, buf, sizeof(buf));
	assert_null(strchr(buf, 0x1b)); /* no escape reaches the terminal */
	memset(&ev, 0, sizeof(ev));
	ev.kind = DPP_EVENT_DRY_RUN;
	assert_string_equal(tui_decision(&ev), "DRY");
	assert_true(tui_is_denial(&ev));
	ev.kind = DPP_EVENT_RATE_LIMITED;
	assert_string_equal(tui_decision(&ev), "LIMIT");
	ev.kind = DPP_EVENT_REQUEST;
	assert_string_equal(tui_decision(&ev), "ALLOW");
	assert_false(tui_is_denial(&ev));
	ev.kind = DPP_EVENT_STREAM_OPEN;
	assert_false(tui_is_denial(&ev));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_terms),
		cmocka_unit_test(test_filter_errors),
		cmocka_unit_test(test_layout_80_and_200),
		cmocka_unit_test(test_key_table),
		cmocka_unit_test(test_ring_bounded),
		cmocka_unit_test(test_ring_next_commit),
		cmocka_unit_test(test_log_ring),
		cmocka_unit_test(test_cells),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
