/* Control socket protocol (src/ctl/proto.c): every object survives encode ->
 * print -> parse -> decode unchanged (max-length fields included), long
 * strings are cut at character boundaries, invalid UTF-8 is never sent, and
 * malformed input is refused without crashing; the NDJSON reader's bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"

/* Fills dst[len] with len-1 bytes of a pattern (the longest string fitting). */
static void fill_max(char *dst, size_t len, char c)
{
	memset(dst, c, len - 1);
	dst[len - 1] = '\0';
}

/* Encode, print as a line, parse the line back. */
static cJSON *through_wire(cJSON *obj)
{
	size_t len = 0;
	char *line;
	cJSON *back;

	assert_non_null(obj);
	line = dpp_proto_print(obj, &len);
	assert_non_null(line);
	assert_true(len > 1);
	assert_int_equal(line[len - 1], '\n');
	assert_null(memchr(line, '\n', len - 1)); /* one line */
	back = dpp_proto_parse(line, len - 1);
	assert_non_null(back);
	free(line);
	cJSON_Delete(obj);
	return back;
}

static struct dpp_event full_event(void)
{
	struct dpp_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.id = 9007199254740991ull; /* 2^53 - 1: exact in a double */
	ev.time_ms = 1764590000123;
	ev.kind = DPP_EVENT_DENY;
	ev.status = 403;
	ev.dry_run = 0;
	ev.duration_ms = 4000000000u;
	ev.bytes_in = (1ull << 52) + 1;
	ev.bytes_out = 75;
	fill_max(ev.method, sizeof(ev.method), 'M');
	fill_max(ev.path, sizeof(ev.path), 'p');
	fill_max(ev.query, sizeof(ev.query), 'q');
	snprintf(ev.peer_ip, sizeof(ev.peer_ip), "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
	snprintf(ev.client_ip, sizeof(ev.client_ip), "127.0.0.1");
	snprintf(ev.user_agent, sizeof(ev.user_agent), "Docker-Client/20.10.24 (linux) \"quoted\" \\ \t");
	fill_max(ev.identity, sizeof(ev.identity), 'i');
	snprintf(ev.user_role, sizeof(ev.user_role), "developer");
	snprintf(ev.rule_name, sizeof(ev.rule_name), "block-privileged \xc3\xa9t\xc3\xa9");
	snprintf(ev.rule_action, sizeof(ev.rule_action), "deny");
	fill_max(ev.message, sizeof(ev.message), 'm');
	snprintf(ev.headers, sizeof(ev.headers), "Host: docker\nAuthorization: (redacted)\n");
	snprintf(ev.body, sizeof(ev.body), "{\"Image\":\"alpine\",\"HostConfig\":{\"Privileged\":true}}");
	ev.trace.ruleset_id = 18446744073709551615ull; /* needs the string form */
	ev.trace.truncated = 1;
	ev.trace.n = DPP_POLICY_TRACE_RULES;
	for (unsigned i = 0; i < DPP_POLICY_TRACE_RULES; i++) {
		ev.trace.r[i].rule = (uint16_t)(i * 1000);
		ev.trace.r[i].n_conds = 65535;
		ev.trace.r[i].n_evaluated = (uint16_t)i;
		ev.trace.r[i].outcome = (uint8_t)(i % 6);
		ev.trace.r[i].held = 0xffffffffu - i;
	}
	return ev;
}

static void test_event_round_trip(void **state)
{
	struct dpp_event ev = full_event(), back;
	cJSON *obj;

	(void)state;
	obj = through_wire(dpp_proto_event_to_json(&ev));
	assert_int_equal(dpp_proto_event_from_json(obj, &back), 0);
	assert_memory_equal(&ev, &back, sizeof(ev)); /* memset-zeroed padding too */
	cJSON_Delete(obj);

	/* Every kind and an empty trace. */
	for (int k = DPP_EVENT_REQUEST; k <= DPP_EVENT_STREAM_CLOSE; k++) {
		memset(&ev, 0, sizeof(ev));
		ev.kind = (enum dpp_event_kind)k;
		ev.dry_run = k == DPP_EVENT_DRY_RUN;
		obj = through_wire(dpp_proto_event_to_json(&ev));
		assert_int_equal(dpp_proto_event_from_json(obj, &back), 0);
		assert_memory_equal(&ev, &back, sizeof(ev));
		cJSON_Delete(obj);
	}
}

static void test_event_truncates_on_char_boundary(void **state)
{
	struct dpp_event ev;
	char path[600];
	cJSON *o;
	size_t n = 0;

	(void)state;
	/* 300 two-byte characters: 600 bytes, the field holds 255. */
	for (size_t i = 0; i < 299; i++)
		memcpy(path + 2 * i, "\xc3\xa9", 2);
	path[598] = '\0';
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "kind", "request");
	cJSON_AddStringToObject(o, "path", path);
	assert_int_equal(dpp_proto_event_from_json(o, &ev), 0);
	n = strlen(ev.path);
	assert_int_equal(n, 254); /* 127 characters, not 127.5 */
	assert_memory_equal(ev.path, path, n);
	cJSON_Delete(o);
}

static void test_invalid_utf8_never_sent(void **state)
{
	struct dpp_event ev, back;
	cJSON *obj;

	(void)state;
	memset(&ev, 0, sizeof(ev));
	ev.kind = DPP_EVENT_REQUEST;
	/* a lone continuation byte, a cut sequence, an overlong '/', a surrogate */
	snprintf(ev.path, sizeof(ev.path), "/a\x80" "b\xc3" "c\xc0\xaf" "d\xed\xa0\x80" "e\xc3\xa9");
	obj = through_wire(dpp_proto_event_to_json(&ev));
	assert_int_equal(dpp_proto_event_from_json(obj, &back), 0);
	assert_string_equal(back.path, "/a?b?c??d???e\xc3\xa9");
	cJSON_Delete(obj);
	/* ... and what a peer sends is held as valid UTF-8 as well. */
	obj = dpp_proto_parse("{\"kind\":\"deny\",\"path\":\"/x\x80y\xc3\"}", 30);
	assert_non_null(obj);
	assert_int_equal(dpp_proto_event_from_json(obj, &back), 0);
	assert_string_equal(back.path, "/x?y?");
	cJSON_Delete(obj);
}

static void test_event_malformed(void **state)
{
	static const char *const bad[] = {
		"{}",                                         /* no kind */
		"{\"kind\": \"nonsense\"}",
		"{\"kind\": 3}",
		"{\"kind\": \"deny\", \"status\": \"403\"}",
		"{\"kind\": \"deny\", \"id\": -1}",
		"{\"kind\": \"deny\", \"id\": 1.5}",
		"{\"kind\": \"deny\", \"id\": 1e300}",
		"{\"kind\": \"deny\", \"bytes_in\": 18446744073709551616}",
		"{\"kind\": \"deny\", \"duration_ms\": 4294967296}",
		"{\"kind\": \"deny\", \"dry_run\": 1}",
		"{\"kind\": \"deny\", \"path\": null}",
		"{\"kind\": \"deny\", \"trace\": []}",
		"{\"kind\": \"deny\", \"trace\": {\"ruleset_id\": 7}}",
		"{\"kind\": \"deny\", \"trace\": {\"ruleset_id\": \"-7\"}}",
		"{\"kind\": \"deny\", \"trace\": {\"ruleset_id\": \"99999999999999999999\"}}",
		"{\"kind\": \"deny\", \"trace\": {\"ruleset_id\": \"7x\"}}",
		"{\"kind\": \"deny\", \"trace\": {\"rules\": [{\"outcome\": \"maybe\"}]}}",
		"{\"kind\": \"deny\", \"trace\": {\"rules\": [{\"rule\": 65536, \"outcome\": \"matched\"}]}}",
		"{\"kind\": \"deny\", \"trace\": {\"rules\": [1]}}",
		"{\"kind\": \"deny\", \"trace\": {\"rules\": {}}}",
	};
	struct dpp_event ev;
	char many[4096];
	size_t off;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cJSON *o = dpp_proto_parse(bad[i], strlen(bad[i]));

		assert_non_null(o);
		if (dpp_proto_event_from_json(o, &ev) != -1)
			fail_msg("accepted: %s", bad[i]);
		cJSON_Delete(o);
	}
	assert_int_equal(dpp_proto_event_from_json(NULL, &ev), -1);
	/* More trace rules than the struct holds. */
	off = (size_t)snprintf(many, sizeof(many), "{\"kind\":\"deny\",\"trace\":{\"rules\":[");
	for (int i = 0; i <= DPP_POLICY_TRACE_RULES; i++)
		off += (size_t)snprintf(many + off, sizeof(many) - off, "%s{\"outcome\":\"matched\"}",
					i ? "," : "");
	snprintf(many + off, sizeof(many) - off, "]}}");
	{
		cJSON *o = dpp_proto_parse(many, strlen(many));

		assert_non_null(o);
		assert_int_equal(dpp_proto_event_from_json(o, &ev), -1);
		cJSON_Delete(o);
	}
}

static void test_status_round_trip(void **state)
{
	struct dpp_control_status s, back;
	long pid = 0;
	cJSON *obj;

	(void)state;
	memset(&s, 0, sizeof(s));
	fill_max(s.listen, sizeof(s.listen), 'l');
	fill_max(s.upstream, sizeof(s.upstream), 'u');
	snprintf(s.docker, sizeof(s.docker), "Docker 20.10.24, API 1.41");
	s.docker_up = 1;
	s.tls = 1;
	snprintf(s.auth, sizeof(s.auth), "tokens (3)");
	fill_max(s.config_path, sizeof(s.config_path), 'c');
	fill_max(s.version, sizeof(s.version), 'a');
	s.started_ms = 1764590000000;
	s.requests = 1ull << 40;
	s.denials = 17;
	s.streams = 3;
	s.n_rules = 12;
	s.n_dry_run = 2;
	s.ruleset_id = 0xfedcba9876543210ull;
	s.default_deny = 1;
	obj = through_wire(dpp_proto_status_to_json(&s, 4242));
	assert_int_equal(dpp_proto_status_from_json(obj, &back, &pid), 0);
	assert_memory_equal(&s, &back, sizeof(s));
	assert_int_equal(pid, 4242);
	cJSON_Delete(obj);
}

static void test_snapshot_round_trip(void **state)
{
	struct dpp_control_rule rules[3];
	struct dpp_ratelimit_state buckets[2];
	struct dpp_lockout_state lockouts[1];
	struct dpp_proto_sub subs[2], *subs_back = NULL;
	struct dpp_control_snapshot snap, back;
	size_t n_subs = 0;
	cJSON *obj;

	(void)state;
	memset(&snap, 0, sizeof(snap));
	memset(rules, 0, sizeof(rules));
	memset(buckets, 0, sizeof(buckets));
	memset(lockouts, 0, sizeof(lockouts));
	memset(subs, 0, sizeof(subs));
	for (int i = 0; i < 3; i++) {
		fill_max(rules[i].name, sizeof(rules[i].name), (char)('a' + i));
		rules[i].priority = -100 + i;
		snprintf(rules[i].action, sizeof(rules[i].action), "require_role");
		rules[i].dry_run = i & 1;
		rules[i].n_conds = (size_t)i * 7;
		rules[i].hits = 1000u + (unsigned)i;
		rules[i].denials = (uint64_t)i;
		rules[i].dry_runs = 5;
		rules[i].last_hit_ago_ms = i == 0 ? -1 : 12345;
	}
	snprintf(buckets[0].rule, sizeof(buckets[0].rule), "limit");
	snprintf(buckets[0].ip, sizeof(buckets[0].ip), "10.0.0.1");
	buckets[0].tokens = 2.5;
	buckets[0].capacity = 10;
	buckets[0].period_ms = 60000;
	buckets[0].penalty_remaining_ms = 5000;
	buckets[0].idle_ms = 3;
	buckets[0].refused = 9;
	fill_max(buckets[1].rule, sizeof(buckets[1].rule), 'r');
	fill_max(buckets[1].ip, sizeof(buckets[1].ip), 'i');
	snprintf(lockouts[0].ip, sizeof(lockouts[0].ip), "::1");
	lockouts[0].failures = 5;
	lockouts[0].remaining_ms = 299000;
	snprintf(subs[0].name, sizeof(subs[0].name), "audit");
	fill_max(subs[1].name, sizeof(subs[1].name), 's');
	subs[1].dropped = 120;
	snap.status.n_rules = 3;
	snap.status.ruleset_id = 7;
	snap.rules = rules;
	snap.n_rules = 3;
	snap.buckets = buckets;
	snap.n_buckets = 2;
	snap.lockouts = lockouts;
	snap.n_lockouts = 1;

	obj = cJSON_CreateObject();
	assert_int_equal(dpp_proto_snapshot_add(obj, &snap, subs, 2), 0);
	obj = through_wire(obj);
	assert_int_equal(dpp_proto_snapshot_from_json(obj, &back, &subs_back, &n_subs), 0);
	assert_memory_equal(&snap.status, &back.status, sizeof(snap.status));
	assert_int_equal(back.n_rules, 3);
	assert_memory_equal(rules, back.rules, sizeof(rules));
	assert_int_equal(back.n_buckets, 2);
	assert_memory_equal(buckets, back.buckets, sizeof(buckets));
	assert_int_equal(back.n_lockouts, 1);
	assert_memory_equal(lockouts, back.lockouts, sizeof(lockouts));
	assert_int_equal(n_subs, 2);
	assert_memory_equal(subs, subs_back, sizeof(subs));
	dpp_proto_snapshot_clear(&back);
	free(subs_back);
	cJSON_Delete(obj);

	/* Empty arrays and absent members decode as empty. */
	obj = cJSON_Parse("{\"rules\": [], \"buckets\": []}");
	assert_int_equal(dpp_proto_snapshot_from_json(obj, &back, &subs_back, &n_subs), 0);
	assert_null(back.rules);
	assert_int_equal(back.n_rules + back.n_buckets + back.n_lockouts + n_subs, 0);
	cJSON_Delete(obj);
	/* A bad element anywhere refuses the whole snapshot, nothing leaked. */
	obj = cJSON_Parse("{\"rules\": [{\"name\": \"a\"}], \"lockouts\": [{\"failures\": -1}]}");
	assert_int_equal(dpp_proto_snapshot_from_json(obj, &back, &subs_back, &n_subs), -1);
	assert_null(back.rules);
	assert_null(subs_back);
	cJSON_Delete(obj);
	obj = cJSON_Parse("{\"buckets\": {}}");
	assert_int_equal(dpp_proto_snapshot_from_json(obj, &back, &subs_back, &n_subs), -1);
	cJSON_Delete(obj);
	/* A rule without last_hit_ago_ms was never hit. */
	obj = cJSON_Parse("{\"name\": \"x\"}");
	assert_int_equal(dpp_proto_rule_from_json(obj, &rules[0]), 0);
	assert_int_equal(rules[0].last_hit_ago_ms, -1);
	cJSON_Delete(obj);
}

static void test_hello_round_trip(void **state)
{
	struct dpp_proto_hello h, hb;
	struct dpp_proto_hello_reply r, rb;
	cJSON *obj;

	(void)state;
	memset(&h, 0, sizeof(h));
	h.version = DPP_PROTO_VERSION;
	snprintf(h.client, sizeof(h.client), "console");
	obj = through_wire(dpp_proto_hello_to_json(&h));
	assert_null(cJSON_GetObjectItem(obj, "on_behalf_of")); /* absent when "" */
	assert_int_equal(dpp_proto_hello_from_json(obj, &hb), 0);
	assert_memory_equal(&h, &hb, sizeof(h));
	cJSON_Delete(obj);
	fill_max(h.on_behalf_of, sizeof(h.on_behalf_of), 'o');
	h.version = 2;
	obj = through_wire(dpp_proto_hello_to_json(&h));
	assert_int_equal(dpp_proto_hello_from_json(obj, &hb), 0);
	assert_memory_equal(&h, &hb, sizeof(h));
	cJSON_Delete(obj);

	memset(&r, 0, sizeof(r));
	r.version = 1;
	r.pid = 4242;
	snprintf(r.server, sizeof(r.server), "docker-policy-proxy");
	snprintf(r.version_str, sizeof(r.version_str), "0.1.0");
	fill_max(r.user, sizeof(r.user), 'u');
	obj = through_wire(dpp_proto_hello_reply_to_json(&r));
	assert_int_equal(dpp_proto_hello_reply_from_json(obj, &rb), 0);
	assert_memory_equal(&r, &rb, sizeof(r));
	cJSON_Delete(obj);

	static const char *const bad[] = {
		"{}", "{\"hello\": \"1\"}", "{\"hello\": 1.5}", "{\"hello\": true}",
		"{\"hello\": 1, \"client\": 7}", "{\"hello\": 1, \"on_behalf_of\": []}",
		"{\"hello\": 1e20}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		obj = cJSON_Parse(bad[i]);
		assert_non_null(obj);
		if (dpp_proto_hello_from_json(obj, &hb) != -1)
			fail_msg("accepted: %s", bad[i]);
		cJSON_Delete(obj);
	}
	obj = cJSON_Parse("{\"hello\": 1, \"pid\": -3}");
	assert_int_equal(dpp_proto_hello_reply_from_json(obj, &rb), -1);
	cJSON_Delete(obj);
}

static void test_error_and_response(void **state)
{
	char code[32];
	char *msg = NULL;
	cJSON *obj, *err;

	(void)state;
	obj = through_wire(dpp_proto_response(7, dpp_proto_error_to_json(DPP_PROTO_E_CONFLICT,
									  "the live version is abc\nline 2")));
	assert_int_equal(cJSON_GetObjectItem(obj, "id")->valueint, 7);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(obj, "ok")));
	err = cJSON_GetObjectItem(obj, "error");
	assert_int_equal(dpp_proto_error_from_json(err, code, sizeof(code), &msg), 0);
	assert_string_equal(code, "conflict");
	assert_string_equal(msg, "the live version is abc\nline 2");
	free(msg);
	cJSON_Delete(obj);

	obj = through_wire(dpp_proto_response(-9007199254740991LL, NULL));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(obj, "ok")));
	assert_null(cJSON_GetObjectItem(obj, "error"));
	assert_true(cJSON_GetObjectItem(obj, "id")->valuedouble == -9007199254740991.0);
	cJSON_Delete(obj);

	obj = cJSON_Parse("{\"code\": 3}");
	assert_int_equal(dpp_proto_error_from_json(obj, code, sizeof(code), &msg), -1);
	assert_null(msg);
	cJSON_Delete(obj);
	obj = cJSON_Parse("{\"code\": \"\"}");
	assert_int_equal(dpp_proto_error_from_json(obj, code, sizeof(code), &msg), -1);
	cJSON_Delete(obj);
	obj = cJSON_Parse("{\"code\": \"busy\", \"message\": false}");
	assert_int_equal(dpp_proto_error_from_json(obj, code, sizeof(code), &msg), -1);
	cJSON_Delete(obj);
}

static void test_unasked_lines(void **state)
{
	enum dpp_log_level level;
	char line[16], reason[32];
	uint64_t n = 0;
	cJSON *obj;

	(void)state;
	obj = through_wire(dpp_proto_log_to_json(DPP_LOG_WARN, "upstream slow: 1234567890 ms"));
	assert_int_equal(dpp_proto_log_from_json(cJSON_GetObjectItem(obj, "log"), &level, line,
						 sizeof(line)), 0);
	assert_int_equal(level, DPP_LOG_WARN);
	assert_string_equal(line, "upstream slow: "); /* cut to the buffer */
	cJSON_Delete(obj);

	obj = through_wire(dpp_proto_dropped_to_json(120));
	assert_int_equal(dpp_proto_dropped_from_json(cJSON_GetObjectItem(obj, "dropped"), &n), 0);
	assert_int_equal(n, 120);
	cJSON_Delete(obj);

	obj = through_wire(dpp_proto_bye_to_json("stopping"));
	assert_int_equal(dpp_proto_bye_from_json(cJSON_GetObjectItem(obj, "bye"), reason,
						 sizeof(reason)), 0);
	assert_string_equal(reason, "stopping");
	cJSON_Delete(obj);

	obj = cJSON_Parse("{\"level\": \"loud\", \"line\": \"x\"}");
	assert_int_equal(dpp_proto_log_from_json(obj, &level, line, sizeof(line)), -1);
	cJSON_Delete(obj);
	obj = cJSON_Parse("{\"events\": -1}");
	assert_int_equal(dpp_proto_dropped_from_json(obj, &n), -1);
	cJSON_Delete(obj);
	assert_int_equal(dpp_proto_bye_from_json(NULL, reason, sizeof(reason)), -1);
}

static void test_parse_refuses(void **state)
{
	static const char *const bad[] = {
		"", "[]", "1", "\"x\"", "null", "{", "{}{}", "{} x", "{\"a\":}", "{\"a\":1,}",
	};
	cJSON *o;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = dpp_proto_parse(bad[i], strlen(bad[i]));
		if (o != NULL)
			fail_msg("accepted: '%s'", bad[i]);
	}
	o = dpp_proto_parse("{\"a\":1}  \r", 10);
	assert_non_null(o);
	cJSON_Delete(o);
	/* Only len bytes are read: no NUL needed. */
	o = dpp_proto_parse("{\"a\":1}garbage", 7);
	assert_non_null(o);
	cJSON_Delete(o);
	/* U+0000 in a string would cut cJSON's C string (a config_apply text
	 * losing its later rules): refused. An escaped backslash before
	 * "u0000" is text, and other \u escapes are fine. */
	{
		static const char nul1[] = "{\"text\":\"rules: []\\u0000x\"}";
		static const char nul2[] = "{\"a\":\"\\\\\\u0000\"}";
		static const char ok[] = "{\"a\":\"\\\\u0000 \\u0041\"}";

		assert_null(dpp_proto_parse(nul1, strlen(nul1)));
		assert_null(dpp_proto_parse(nul2, strlen(nul2)));
		o = dpp_proto_parse(ok, strlen(ok));
		assert_non_null(o);
		assert_string_equal(cJSON_GetObjectItem(o, "a")->valuestring, "\\u0000 A");
		cJSON_Delete(o);
	}
	/* Deep nesting is refused by cJSON's limit, not by the stack. */
	{
		char deep[20001];

		memset(deep, '[', 10000);
		memset(deep + 10000, ']', 10000);
		deep[20000] = '\0';
		assert_null(dpp_proto_parse(deep, 20000));
	}
}

static void test_reader_lines(void **state)
{
	struct dpp_proto_reader r;
	char *line;
	size_t len;

	(void)state;
	dpp_proto_reader_init(&r, 16);
	assert_int_equal(dpp_proto_reader_next(&r, &line, &len), 0);
	assert_int_equal(dpp_proto_reader_feed(&r, "{\"a\":1}\n{\"b\"", 12), 0);
	assert_int_equal(dpp_proto_reader_next(&r, &line, &len), 1);
	assert_string_equal(line, "{\"a\":1}");
	assert_int_equal(len, 7);
	assert_int_equal(dpp_proto_reader_next(&r, &line, &len), 0);
	assert_int_equal(dpp_proto_reader_feed(&r, ":2}\n\n", 5), 0);
	assert_int_equal(dpp_proto_reader_next(&r, &line, &len), 1);
	assert_string_equal(line, "{\"b\":2}");
	assert_int_equal(dpp_proto_reader_next(&r, &line, &len), 1);
	assert_int_equal(len, 0); /* an empty line is a line */
	assert_int_equal(dpp_proto_reader_next(&r, &line, &len), 0);
	/* Exactly max bytes is fine; max + 1 is refused, and stays refused. */
	assert_int_equal(dpp_proto_reader_feed(&r, "0123456789abcdef\n", 17), 0);
	assert_int_equal(dpp_proto_reader_next(&r, &line, &len), 1);
	assert_int_equal(len, 16);
	assert_int_equal(dpp_proto_reader_feed(&r, "0123456789abcdefX", 17), 0);
	assert_int_equal(dpp_proto_reader_next(&r, &line, &len), -1);
	assert_int_equal(dpp_proto_reader_feed(&r, "\n{}\n", 4), 0);
	assert_int_equal(dpp_proto_reader_next(&r, &line, &len), -1);
	dpp_proto_reader_free(&r);

	/* An over-long line is refused even with its newline present. */
	dpp_proto_reader_init(&r, 4);
	assert_int_equal(dpp_proto_reader_feed(&r, "12345\n", 6), 0);
	assert_int_equal(dpp_proto_reader_next(&r, &line, &len), -1);
	dpp_proto_reader_free(&r);
}

static void test_reader_fd(void **state)
{
	struct dpp_proto_reader r;
	int fds[2];
	char *line;
	size_t len;
	char *big;
	size_t got = 0;

	(void)state;
	assert_int_equal(pipe2(fds, O_NONBLOCK), 0);
	dpp_proto_reader_init(&r, 0);
	assert_int_equal(r.max, DPP_PROTO_LINE_MAX);
	errno = 0;
	assert_int_equal(dpp_proto_reader_fill(&r, fds[0]), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(write(fds[1], "{\"x\":1}\n{\"y\"", 12), 12);
	assert_int_equal(dpp_proto_reader_fill(&r, fds[0]), 12);
	assert_int_equal(dpp_proto_reader_next(&r, &line, &len), 1);
	assert_string_equal(line, "{\"x\":1}");
	assert_int_equal(dpp_proto_reader_next(&r, &line, &len), 0);
	close(fds[1]);
	assert_int_equal(dpp_proto_reader_fill(&r, fds[0]), 0);
	assert_true(r.eof);
	/* The unterminated last line at end of file. */
	assert_int_equal(dpp_proto_reader_next(&r, &line, &len), 1);
	assert_string_equal(line, "{\"y\"");
	assert_int_equal(dpp_proto_reader_next(&r, &line, &len), 0);
	close(fds[0]);
	dpp_proto_reader_free(&r);

	/* A line over 4 MiB through a pipe: refused once the bound passes, the
	 * buffer never holds much more than the bound. */
	assert_int_equal(pipe2(fds, O_NONBLOCK), 0);
	dpp_proto_reader_init(&r, 0);
	big = malloc(65536);
	assert_non_null(big);
	memset(big, 'x', 65536);
	for (;;) {
		ssize_t w = write(fds[1], big, 65536);
		long n;
		int rc;

		assert_true(w > 0);
		while ((n = dpp_proto_reader_fill(&r, fds[0])) > 0)
			got += (size_t)n;
		rc = dpp_proto_reader_next(&r, &line, &len);
		if (rc == -1)
			break;
		assert_int_equal(rc, 0);
		assert_true(got <= DPP_PROTO_LINE_MAX + 65536);
	}
	assert_true(got > DPP_PROTO_LINE_MAX);
	assert_true(r.cap <= 2 * (DPP_PROTO_LINE_MAX + 65536 + 1));
	assert_int_equal(dpp_proto_reader_fill(&r, fds[0]), -1);
	free(big);
	close(fds[0]);
	close(fds[1]);
	dpp_proto_reader_free(&r);
}

static void test_names(void **state)
{
	enum dpp_event_kind k;
	unsigned o;

	(void)state;
	assert_int_equal(dpp_proto_kind_parse("stream_close", &k), 0);
	assert_int_equal(k, DPP_EVENT_STREAM_CLOSE);
	assert_int_equal(dpp_proto_kind_parse("unknown", &k), -1);
	assert_int_equal(dpp_proto_kind_parse(NULL, &k), -1);
	for (unsigned i = 0; i < 6; i++) {
		assert_int_equal(dpp_proto_outcome_parse(dpp_proto_outcome_name(i), &o), 0);
		assert_int_equal(o, i);
	}
	assert_string_equal(dpp_proto_outcome_name(99), "error");
	{
		char small[4];

		dpp_proto_copy(small, sizeof(small), "a\xc3\xa9z");
		assert_string_equal(small, "a\xc3\xa9");
		dpp_proto_copy(small, 3, "a\xc3\xa9z");
		assert_string_equal(small, "a");
		dpp_proto_copy(small, sizeof(small), NULL);
		assert_string_equal(small, "");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_round_trip),
		cmocka_unit_test(test_event_truncates_on_char_boundary),
		cmocka_unit_test(test_invalid_utf8_never_sent),
		cmocka_unit_test(test_event_malformed),
		cmocka_unit_test(test_status_round_trip),
		cmocka_unit_test(test_snapshot_round_trip),
		cmocka_unit_test(test_hello_round_trip),
		cmocka_unit_test(test_error_and_response),
		cmocka_unit_test(test_unasked_lines),
		cmocka_unit_test(test_parse_refuses),
		cmocka_unit_test(test_reader_lines),
		cmocka_unit_test(test_reader_fd),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
