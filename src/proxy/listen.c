/* Unix-socket listener. One accept thread; stop wakes it through a pipe. */
#include "dpp/listen.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "dpp/log.h"

struct dpp_unix_listener {
	int fd;
	int wake[2];
	pthread_t thread;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev; /* the socket file we created: only that one is removed at stop */
	ino_t ino;
	dpp_listen_hand_off_fn hand_off;
	void *ctx;
};

int dpp_unix_peer_credentials(int fd, struct dpp_peer *peer)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	memset(peer, 0, sizeof(*peer));
	peer->unix_peer = 1;
	peer->uid = (uint32_t)-1;
	peer->gid = (uint32_t)-1;
	peer->pid = -1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return -1;
	peer->uid = cred.uid;
	peer->gid = cred.gid;
	peer->pid = cred.pid;
	return 0;
}

static void *accept_main(void *arg)
{
	struct dpp_unix_listener *l = arg;

	for (;;) {
		struct pollfd p[2] = {{.fd = l->fd, .events = POLLIN}, {.fd = l->wake[0], .events = POLLIN}};
		struct sockaddr_un sa;
		socklen_t len = sizeof(sa);
		struct dpp_peer peer;
		int fd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			dpp_log_error("unix listener: poll failed: %s", strerror(errno));
			break;
		}
		if (p[1].revents != 0)
			break;
		fd = accept4(l->fd, (struct sockaddr *)&sa, &len, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
				dpp_log_warn("unix listener: accept failed: %s", strerror(errno));
			continue;
		}
		if (dpp_unix_peer_credentials(fd, &peer) != 0)
			dpp_log_warn("unix listener: SO_PEERCRED failed: %s; the peer gets no mapped role",
				     strerror(errno));
		if (len < sizeof(sa_family_t) || len > sizeof(sa)) {
			sa.sun_family = AF_UNIX;
			len = sizeof(sa_family_t);
		}
		(void)l->hand_off(l->ctx, fd, (struct sockaddr *)&sa, len, &peer); /* takes fd */
	}
	return NULL;
}

/* Numeric or named group. */
static int lookup_group(const char *group, gid_t *out)
{
	char *end = NULL;
	unsigned long n = strtoul(group, &end, 10);
	struct group gr, *res = NULL;
	char buf[4096];

	if (*group != '\0' && end != NULL && *end == '\0') {
		*out = (gid_t)n;
		return 0;
	}
	if (getgrnam_r(group, &gr, buf, sizeof(buf), &res) != 0 || res == NULL)
		return -1;
	*out = gr.gr_gid;
	return 0;
}

int dpp_unix_listen_start(const char *path, const char *mode, const char *group,
			  dpp_listen_hand_off_fn hand_off, void *ctx,
			  struct dpp_unix_listener **out, char **err)
{
	struct dpp_unix_listener *l = calloc(1, sizeof(*l));
	struct sockaddr_un sa;
	struct stat st;
	mode_t m = (mode_t)strtoul(mode != NULL && *mode != '\0' ? mode : "0660", NULL, 8);
	gid_t gid;
	const char *what = NULL;

	*out = NULL;
	*err = NULL;
	if (l == NULL) {
		what = "out of memory";
		goto fail;
	}
	l->fd = -1;
	l->wake[0] = l->wake[1] = -1;
	l->hand_off = hand_off;
	l->ctx = ctx;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		what = "path too long";
		goto fail;
	}
	snprintf(l->path, sizeof(l->path), "%s", path);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	if (lstat(path, &st) == 0) {
		int probe;

		if (!S_ISSOCK(st.st_mode)) {
			what = "a file that is not a socket is in the way";
			goto fail;
		}
		/* Only a socket nobody listens on is stale (a crashed earlier
		 * run); a live one belongs to someone else (dockerd itself?). */
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe < 0)
			goto fail_errno;
		if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			what = "another process is listening on this socket";
			goto fail;
		}
		close(probe);
		if (unlink(path) != 0)
			goto fail_errno;
	}
	l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		goto fail_errno;
	if (bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		goto fail_errno;
	if (lstat(path, &st) != 0)
		goto fail_errno;
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	if (chmod(path, m) != 0)
		goto fail_errno;
	if (group != NULL && *group != '\0') {
		if (lookup_group(group, &gid) != 0) {
			what = "unknown group";
			goto fail;
		}
		if (chown(path, (uid_t)-1, gid) != 0)
			goto fail_errno;
	}
	if (listen(l->fd, 256) != 0 || pipe2(l->wake, O_CLOEXEC) != 0)
		goto fail_errno;
	if (pthread_create(&l->thread, NULL, accept_main, l) != 0) {
		what = "cannot start the accept thread";
		goto fail;
	}
	*out = l;
	return 0;
fail_errno:
	what = strerror(errno);
fail:
	if (asprintf(err, "cannot listen on unix:%s: %s", path, what) < 0)
		*err = NULL;
	if (l != NULL) {
		if (l->fd >= 0) {
			close(l->fd);
			if (l->ino != 0)
				unlink(path); /* ours: bound by this call */
		}
		if (l->wake[0] >= 0)
			close(l->wake[0]);
		if (l->wake[1] >= 0)
			close(l->wake[1]);
		free(l);
	}
	return -1;
}

void dpp_unix_listen_stop(struct dpp_unix_listener *l)
{
	if (l == NULL)
		return;
	if (write(l->wake[1], "x", 1) < 0)
		dpp_log_warn("unix listener: cannot wake the accept thread");
	pthread_join(l->thread, NULL);
	{
		struct stat st;

		/* Someone may have replaced the path since: remove only ours. */
		if (lstat(l->path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
			unlink(l->path);
	}
	close(l->fd);
	close(l->wake[0]);
	close(l->wake[1]);
	free(l);
}
