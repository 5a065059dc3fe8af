/* Control socket server (src/ctl/server.c): the peer-credential decision as
 * a pure function, and the socket file's life cycle (mode, a live socket
 * never taken, a stale one replaced, a non-socket never removed, hello and
 * framing errors, bye at stop, the file removed). Commands that reach the
 * proxy are covered by tests/e2e/control_test.sh. */
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto.h"
#include "server.h"

static void test_peer_decision(void **state)
{
	const gid_t groups[] = {100, 27, 999};

	(void)state;
	/* root and the daemon's own uid, whatever the groups */
	assert_int_equal(dpp_ctl_peer_allowed(0, 1000, 0, 0, NULL, 0), 1);
	assert_int_equal(dpp_ctl_peer_allowed(1000, 1000, 0, 0, NULL, 0), 1);
	assert_int_equal(dpp_ctl_peer_allowed(997, 997, 1, 5, NULL, 0), 1);
	/* anyone else: only as a member of the configured group */
	assert_int_equal(dpp_ctl_peer_allowed(1001, 1000, 0, 0, groups, 3), 0);
	assert_int_equal(dpp_ctl_peer_allowed(1001, 1000, 1, 999, groups, 3), 1);
	assert_int_equal(dpp_ctl_peer_allowed(1001, 1000, 1, 27, groups, 3), 1);
	assert_int_equal(dpp_ctl_peer_allowed(1001, 1000, 1, 998, groups, 3), 0);
	assert_int_equal(dpp_ctl_peer_allowed(1001, 1000, 1, 999, NULL, 0), 0);
	/* without a group set, gid 0 in the list grants nothing */
	{
		const gid_t zero[] = {0};

		assert_int_equal(dpp_ctl_peer_allowed(1001, 1000, 0, 0, zero, 1), 0);
	}
	/* the daemon running as root: other uids still need the group */
	assert_int_equal(dpp_ctl_peer_allowed(65534, 0, 0, 0, groups, 3), 0);
}

struct fx {
	char dir[64];
	char path[96];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/dpp-ctlsrv-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%.60s/c.sock", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int dial(const char *path)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One line from fd (blocking, 5 s), parsed. */
static cJSON *read_line(int fd, struct dpp_proto_reader *r)
{
	char *line;
	size_t len;
	struct timeval tv = {5, 0};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (;;) {
		int rc = dpp_proto_reader_next(r, &line, &len);

		if (rc == 1)
			return dpp_proto_parse(line, len);
		if (rc < 0 || r->eof || dpp_proto_reader_fill(r, fd) <= 0)
			return NULL;
	}
}

static void say(int fd, const char *text)
{
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
}

static struct dpp_ctlsrv *start(const char *path, int *rc_out)
{
	struct dpp_ctlsrv_opts o;
	struct dpp_ctlsrv *s = NULL;
	char *err = NULL;

	memset(&o, 0, sizeof(o));
	o.path = path;
	*rc_out = dpp_ctlsrv_start(&o, &s, &err);
	free(err);
	return s;
}

static void test_socket_life_cycle(void **state)
{
	struct fx *f = *state;
	struct dpp_proto_reader r;
	struct dpp_ctlsrv *s, *s2;
	struct stat st;
	cJSON *o;
	int rc, fd;

	s = start(f->path, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);

	/* A second server on the live socket: refused, the first keeps it. */
	s2 = start(f->path, &rc);
	assert_null(s2);
	assert_int_equal(rc, DPP_CTLSRV_IN_USE);

	/* hello, then a line that is not JSON. */
	fd = dial(f->path);
	assert_true(fd >= 0);
	dpp_proto_reader_init(&r, 0);
	say(fd, "{\"hello\": 1, \"client\": \"ctl\"}\n");
	o = read_line(fd, &r);
	assert_non_null(o);
	assert_int_equal(cJSON_GetObjectItem(o, "hello")->valueint, 1);
	assert_int_equal(cJSON_GetObjectItem(o, "pid")->valueint, getpid());
	cJSON_Delete(o);
	say(fd, "[1, 2]\n");
	o = read_line(fd, &r);
	assert_non_null(o);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "error"), "code")->valuestring,
			    "bad_request");
	cJSON_Delete(o);
	assert_null(read_line(fd, &r)); /* closed */
	dpp_proto_reader_free(&r);
	close(fd);

	/* A request before the hello is refused. */
	fd = dial(f->path);
	dpp_proto_reader_init(&r, 0);
	say(fd, "{\"id\": 1, \"cmd\": \"status\"}\n");
	o = read_line(fd, &r);
	assert_non_null(o);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "error"), "code")->valuestring,
			    "bad_request");
	cJSON_Delete(o);
	dpp_proto_reader_free(&r);
	close(fd);

	/* An attached client gets bye at stop; the file goes. */
	fd = dial(f->path);
	dpp_proto_reader_init(&r, 0);
	say(fd, "{\"hello\": 1, \"client\": \"console\"}\n");
	o = read_line(fd, &r);
	assert_non_null(o);
	cJSON_Delete(o);
	dpp_ctlsrv_stop(s);
	o = read_line(fd, &r);
	assert_non_null(o);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "bye"), "reason")->valuestring,
			    "stopping");
	cJSON_Delete(o);
	dpp_proto_reader_free(&r);
	close(fd);
	assert_int_equal(stat(f->path, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static void test_stale_and_foreign_files(void **state)
{
	struct fx *f = *state;
	struct sockaddr_un sa;
	struct dpp_ctlsrv *s;
	struct stat st;
	int rc, fd;

	/* A stale socket (nobody listens): replaced. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	s = start(f->path, &rc);
	assert_int_equal(rc, 0);
	fd = dial(f->path);
	assert_true(fd >= 0);
	close(fd);
	dpp_ctlsrv_stop(s);

	/* A regular file at the path is never removed. */
	fd = open(f->path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	s = start(f->path, &rc);
	assert_null(s);
	assert_int_equal(rc, -1);
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	unlink(f->path);

	/* An unknown control_group refuses the start. */
	{
		struct dpp_ctlsrv_opts o;
		char *err = NULL;

		memset(&o, 0, sizeof(o));
		o.path = f->path;
		o.group = "no-such-group-dpp";
		assert_int_equal(dpp_ctlsrv_start(&o, &s, &err), -1);
		assert_non_null(err);
		assert_non_null(strstr(err, "no-such-group-dpp"));
		free(err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peer_decision),
		cmocka_unit_test_setup_teardown(test_socket_life_cycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_and_foreign_files, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
