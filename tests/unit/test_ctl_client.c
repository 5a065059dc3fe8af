/* Control socket client (src/ctl/client.c) against a scripted fake daemon
 * (a forked child on a Unix socket): the hello, answers matched by id with
 * unasked lines in between, refusals with their codes, forbidden, bye and
 * EOF, timeouts, and the subscription's line types in order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>

#include "client.h"
#include "proto.h"

#define HELLO_REPLY "{\"hello\":1,\"pid\":4242,\"server\":\"docker-policy-proxy\",\"version\":\"0.1\",\"user\":\"alice\"}"

static char sock_path[108];

/* Reads one line from fd into buf (blocking). Returns its length or -1. */
static int read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;

	while (n + 1 < len) {
		char ch;
		ssize_t r = read(fd, &ch, 1);

		if (r <= 0)
			return -1;
		if (ch == '\n')
			break;
		buf[n++] = ch;
	}
	buf[n] = '\0';
	return (int)n;
}

/* Runs script in a child serving one connection: "<TEXT" reads a line that
 * must contain TEXT, "!SLEEP" sleeps 1 s, anything else is sent as a line.
 * The child exits 0 when every expectation held. Returns its pid. */
static pid_t fake_daemon(const char *const *script, size_t n)
{
	struct sockaddr_un sa;
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	pid_t pid;

	snprintf(sock_path, sizeof(sock_path), "/tmp/dpp-ctl-test-%d.sock", (int)getpid());
	unlink(sock_path);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = accept(lfd, NULL, NULL);
		char buf[65536];

		if (fd < 0)
			_exit(10);
		for (size_t i = 0; i < n; i++) {
			const char *s = script[i];

			if (s[0] == '<') {
				if (read_line(fd, buf, sizeof(buf)) < 0 || strstr(buf, s + 1) == NULL) {
					fprintf(stderr, "fake daemon: expected %s, got %s\n", s + 1, buf);
					_exit(11);
				}
			} else if (s[0] == '!') {
				sleep(1);
			} else if (write(fd, s, strlen(s)) < 0 || write(fd, "\n", 1) != 1) {
				_exit(12);
			}
		}
		close(fd);
		_exit(0);
	}
	close(lfd);
	return pid;
}

static void reap(pid_t pid)
{
	int st = 0;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	unlink(sock_path);
}

static void test_no_daemon(void **state)
{
	struct dpp_ctl_error e;
	struct dpp_ctlclient *c;

	(void)state;
	memset(&e, 0, sizeof(e));
	c = dpp_ctlclient_connect("/tmp/dpp-ctl-test-none.sock", "ctl", NULL, 500, NULL, &e);
	assert_null(c);
	assert_int_equal(e.kind, DPP_CTL_NO_DAEMON);
	assert_string_equal(e.message, "no daemon answers on /tmp/dpp-ctl-test-none.sock");
	dpp_ctl_connect_error(&e, "/x.sock", EACCES);
	assert_int_equal(e.kind, DPP_CTL_PERMISSION);
	assert_non_null(strstr(e.message, "permission denied on /x.sock: Permission denied"));
}

static void test_requests(void **state)
{
	static const char *const script[] = {
		"<\"hello\":1",
		HELLO_REPLY,
		"<\"cmd\":\"status\"",
		/* an unasked line before the answer is skipped */
		"{\"log\":{\"level\":\"info\",\"line\":\"x\"}}",
		"{\"id\":1,\"ok\":true,\"status\":{\"pid\":4242}}",
		"<\"cmd\":\"config_apply\"",
		"{\"id\":2,\"ok\":false,\"error\":{\"code\":\"conflict\",\"message\":\"the live version moved\"}}",
		"<\"cmd\":\"reload\"",
		"{\"bye\":{\"reason\":\"stopping\"}}",
	};
	struct dpp_ctl_error e;
	struct dpp_ctl_peer peer;
	struct dpp_ctlclient *c;
	cJSON *resp = NULL, *args;
	pid_t pid;

	(void)state;
	pid = fake_daemon(script, sizeof(script) / sizeof(script[0]));
	memset(&e, 0, sizeof(e));
	c = dpp_ctlclient_connect(sock_path, "ctl", "bob", 2000, &peer, &e);
	assert_non_null(c);
	assert_int_equal(peer.pid, 4242);
	assert_string_equal(peer.user, "alice");
	assert_int_equal(dpp_ctlclient_request(c, "status", NULL, 2000, &resp, &e), 0);
	assert_non_null(cJSON_GetObjectItem(resp, "status"));
	cJSON_Delete(resp);
	args = cJSON_CreateObject();
	cJSON_AddStringToObject(args, "text", "x");
	cJSON_AddStringToObject(args, "based_on", "abc");
	assert_int_equal(dpp_ctlclient_request(c, "config_apply", args, 2000, &resp, &e), -1);
	assert_null(resp);
	assert_int_equal(e.kind, DPP_CTL_REFUSED);
	assert_string_equal(e.code, "conflict");
	assert_string_equal(e.message, "the live version moved");
	assert_int_equal(dpp_ctlclient_request(c, "reload", NULL, 2000, &resp, &e), -1);
	assert_int_equal(e.kind, DPP_CTL_GONE);
	assert_non_null(strstr(e.message, "PID 4242"));
	/* unusable after gone */
	assert_int_equal(dpp_ctlclient_request(c, "status", NULL, 2000, &resp, &e), -1);
	assert_int_equal(e.kind, DPP_CTL_GONE);
	dpp_ctlclient_close(c);
	reap(pid);
}

static void test_forbidden(void **state)
{
	static const char *const script[] = {
		"{\"error\":{\"code\":\"forbidden\",\"message\":\"uid 65534 may not use this socket\"}}",
	};
	struct dpp_ctl_error e;
	pid_t pid;

	(void)state;
	pid = fake_daemon(script, 1);
	memset(&e, 0, sizeof(e));
	assert_null(dpp_ctlclient_connect(sock_path, "ctl", NULL, 2000, NULL, &e));
	assert_int_equal(e.kind, DPP_CTL_PERMISSION);
	assert_non_null(strstr(e.message, "permission denied on"));
	assert_non_null(strstr(e.message, "uid 65534"));
	reap(pid);
}

static void test_timeout(void **state)
{
	static const char *const script[] = {"<hello", HELLO_REPLY, "<status", "!", "!"};
	struct dpp_ctl_error e;
	struct dpp_ctlclient *c;
	cJSON *resp = NULL;
	pid_t pid;

	(void)state;
	pid = fake_daemon(script, sizeof(script) / sizeof(script[0]));
	c = dpp_ctlclient_connect(sock_path, "ctl", NULL, 2000, NULL, &e);
	assert_non_null(c);
	assert_int_equal(dpp_ctlclient_request(c, "status", NULL, 200, &resp, &e), -1);
	assert_int_equal(e.kind, DPP_CTL_TIMEOUT);
	dpp_ctlclient_close(c);
	reap(pid);
}

static void test_wrong_version(void **state)
{
	static const char *const script[] = {
		"<hello",
		"{\"error\":{\"code\":\"unsupported_version\",\"message\":\"no\",\"supported\":[2]}}",
	};
	struct dpp_ctl_error e;
	pid_t pid;

	(void)state;
	pid = fake_daemon(script, 2);
	assert_null(dpp_ctlclient_connect(sock_path, "ctl", NULL, 2000, NULL, &e));
	assert_int_equal(e.kind, DPP_CTL_PROTOCOL);
	reap(pid);
}

static int next_wait(struct dpp_ctlsub *s, struct dpp_ctlsub_msg *m, struct dpp_ctl_error *e)
{
	for (int i = 0; i < 100; i++) {
		struct pollfd p = {.fd = dpp_ctlsub_fd(s), .events = POLLIN};
		int r = dpp_ctlsub_next(s, m, e);

		if (r != 0)
			return r;
		poll(&p, 1, 50);
	}
	return 0;
}

static void test_subscription(void **state)
{
	static const char *const script[] = {
		"<\"client\":\"console\"",
		HELLO_REPLY,
		"<\"kinds\":[\"deny\"]",
		"{\"id\":1,\"ok\":true}",
		"{\"event\":{\"id\":12,\"kind\":\"deny\",\"status\":403,\"method\":\"POST\",\"path\":\"/containers/create\",\"rule_name\":\"block-privileged\"}}",
		"{\"log\":{\"level\":\"warn\",\"line\":\"upstream slow\"}}",
		"{\"something_newer\":{}}",
		"{\"dropped\":{\"events\":120}}",
		"{\"bye\":{\"reason\":\"stopping\"}}",
	};
	const char *kinds[] = {"deny"};
	struct dpp_ctl_error e;
	struct dpp_ctlsub_msg m;
	struct dpp_ctlsub *s;
	pid_t pid;

	(void)state;
	pid = fake_daemon(script, sizeof(script) / sizeof(script[0]));
	s = dpp_ctlsub_open(sock_path, "console", NULL, kinds, 1, 1, 2000, &e);
	assert_non_null(s);
	assert_int_equal(next_wait(s, &m, &e), 1);
	assert_int_equal(m.type, DPP_CTLSUB_EVENT);
	assert_int_equal(m.ev.kind, DPP_EVENT_DENY);
	assert_int_equal(m.ev.status, 403);
	assert_string_equal(m.ev.path, "/containers/create");
	assert_string_equal(m.ev.rule_name, "block-privileged");
	assert_non_null(m.json);
	assert_int_equal(next_wait(s, &m, &e), 1);
	assert_int_equal(m.type, DPP_CTLSUB_LOG);
	assert_int_equal(m.level, DPP_LOG_WARN);
	assert_string_equal(m.line, "upstream slow");
	assert_int_equal(next_wait(s, &m, &e), 1); /* the unknown line is skipped */
	assert_int_equal(m.type, DPP_CTLSUB_DROPPED);
	assert_int_equal(m.dropped, 120);
	assert_int_equal(next_wait(s, &m, &e), 1);
	assert_int_equal(m.type, DPP_CTLSUB_BYE);
	assert_string_equal(m.line, "stopping");
	assert_int_equal(next_wait(s, &m, &e), -1);
	assert_int_equal(e.kind, DPP_CTL_GONE);
	dpp_ctlsub_close(s);
	reap(pid);
}

static void test_eof_subscription(void **state)
{
	static const char *const script[] = {"<hello", HELLO_REPLY, "<subscribe", "{\"id\":1,\"ok\":true}"};
	struct dpp_ctl_error e;
	struct dpp_ctlsub_msg m;
	struct dpp_ctlsub *s;
	pid_t pid;

	(void)state;
	pid = fake_daemon(script, sizeof(script) / sizeof(script[0]));
	s = dpp_ctlsub_open(sock_path, "ctl", NULL, NULL, 0, 0, 2000, &e);
	assert_non_null(s);
	assert_int_equal(next_wait(s, &m, &e), -1); /* closed without bye: a crash */
	assert_int_equal(e.kind, DPP_CTL_GONE);
	dpp_ctlsub_close(s);
	reap(pid);
}

static void test_decode_malformed(void **state)
{
	struct dpp_ctlsub_msg m;
	cJSON *o;

	(void)state;
	o = cJSON_Parse("{\"event\":{\"kind\":\"no-such-kind\"}}");
	assert_int_equal(dpp_ctl_decode_unasked(o, &m), -1);
	cJSON_Delete(o);
	o = cJSON_Parse("{\"dropped\":{\"events\":\"many\"}}");
	assert_int_equal(dpp_ctl_decode_unasked(o, &m), -1);
	cJSON_Delete(o);
	o = cJSON_Parse("[1]");
	assert_int_equal(dpp_ctl_decode_unasked(o, &m), -1);
	cJSON_Delete(o);
	o = cJSON_Parse("{\"other\":1}");
	assert_int_equal(dpp_ctl_decode_unasked(o, &m), 0);
	cJSON_Delete(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_daemon),
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_forbidden),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_wrong_version),
		cmocka_unit_test(test_subscription),
		cmocka_unit_test(test_eof_subscription),
		cmocka_unit_test(test_decode_malformed),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
