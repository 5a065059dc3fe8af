/* The control socket's daemon side (server.h, docs/control.md). */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dpp/log.h"
#include "proto.h"

#define MAX_CONNS 64
#define REFUSED_BUDGET 20         /* refused peers audited one by one per window */
#define REFUSED_WINDOW_MS 10000
#define SUB_RING 1024                 /* events per subscriber's bus ring */
#define OUT_EVENT_ROOM (256 * 1024)   /* events wait while more than this is unsent */
#define OUT_HARD_MAX (64u * 1024 * 1024) /* answers unread beyond this: the peer is cut */
#define LOG_RING 512                  /* log lines waiting for the thread */
#define LOG_LINE_MAX 1024
#define RUN_DIR "/run/docker-policy-proxy"

struct conn {
	int fd;
	uid_t uid;
	pid_t pid;
	char user[64];
	char author[160];
	char source[16];
	int hello;       /* hello answered */
	int refused;     /* forbidden: its input is discarded until EOF or refused_until */
	int64_t refused_until; /* CLOCK_MONOTONIC ms */
	int closing;     /* close once out is flushed */
	struct dpp_proto_reader in;
	char *out;
	size_t out_len, out_off, out_cap;
	struct dpp_bus_sub *sub;
	int log_on;
	uint64_t dropped_sent; /* events dropped already reported */
	uint64_t log_seen;     /* log ring sequence already sent */
	uint64_t log_dropped;  /* log lines this peer lost (read too slowly) */
};

struct log_line {
	enum dpp_log_level level;
	char text[LOG_LINE_MAX];
};

struct dpp_ctlsrv {
	struct dpp_ctlsrv_opts o;
	char path[108];
	char group[64];
	int listen_fd;
	int wake_fd;  /* eventfd: stop, log lines */
	dev_t dev;
	ino_t ino;
	pthread_t thread;
	int started;
	atomic_int stop;
	struct conn *conns[MAX_CONNS];
	uid_t daemon_uid;
	int64_t full_since; /* CLOCK_MONOTONIC ms when every slot became taken; 0: one is free */
	/* Refused peers recorded one by one up to REFUSED_BUDGET per window;
	 * the rest are counted and recorded as one summary when it ends, so a
	 * local user looping connect(2) cannot flood the audit trail. */
	int64_t refused_window; /* CLOCK_MONOTONIC ms the window began */
	unsigned refused_recorded;
	uint64_t refused_suppressed;
	uid_t refused_last_uid;
	/* Log lines from any thread (the tap) to this one: a ring with a
	 * sequence number; a subscriber too slow loses the oldest. */
	pthread_mutex_t log_lock;
	struct log_line *log_ring;
	uint64_t log_seq; /* lines ever put */
	int tap;
};

/* ---- the access decision ------------------------------------------------- */

int dpp_ctl_peer_allowed(uid_t peer_uid, uid_t daemon_uid, int group_set, gid_t group,
			 const gid_t *member_gids, size_t n_member_gids)
{
	if (peer_uid == 0 || peer_uid == daemon_uid)
		return 1;
	if (!group_set)
		return 0;
	for (size_t i = 0; i < n_member_gids; i++) {
		if (member_gids[i] == group)
			return 1;
	}
	return 0;
}

static void user_name(uid_t uid, char *out, size_t len)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res != NULL && res->pw_name != NULL)
		snprintf(out, len, "%s", res->pw_name);
	else
		snprintf(out, len, "uid:%u", (unsigned)uid);
}

static int resolve_group(const char *name, gid_t *out)
{
	struct group gr, *res = NULL;
	char buf[8192];

	if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || res == NULL)
		return -1;
	*out = res->gr_gid;
	return 0;
}

/* The peer's user's groups by the group database. */
static int peer_allowed(struct dpp_ctlsrv *s, uid_t uid)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	gid_t groups[256];
	int n = (int)(sizeof(groups) / sizeof(groups[0]));
	gid_t group = 0;
	int group_set = s->group[0] != '\0' && resolve_group(s->group, &group) == 0;

	if (dpp_ctl_peer_allowed(uid, s->daemon_uid, 0, 0, NULL, 0))
		return 1;
	if (!group_set)
		return 0;
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) != 0 || res == NULL)
		return 0; /* no user: no group membership to look up; fail closed */
	if (getgrouplist(res->pw_name, res->pw_gid, groups, &n) < 0)
		return 0; /* more than 256 groups: refuse rather than guess */
	return dpp_ctl_peer_allowed(uid, s->daemon_uid, 1, group, groups, (size_t)n);
}

/* ---- output -------------------------------------------------------------- */

static int out_append(struct conn *c, const char *data, size_t len)
{
	if (c->out_len - c->out_off + len > OUT_HARD_MAX)
		return -1;
	if (c->out_off > 0 && c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
	}
	if (c->out_cap - c->out_len < len) {
		size_t cap = c->out_cap == 0 ? 8192 : c->out_cap;
		char *nb;

		if (c->out_off > 0) {
			memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
			c->out_len -= c->out_off;
			c->out_off = 0;
		}
		while (cap - c->out_len < len)
			cap *= 2;
		if (cap != c->out_cap) {
			nb = realloc(c->out, cap);
			if (nb == NULL)
				return -1;
			c->out = nb;
			c->out_cap = cap;
		}
	}
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	return 0;
}

/* Queues obj (deleted here) as one line. Returns 0, or -1: the connection
 * must close (memory, or the peer does not read its answers). */
static int send_obj(struct conn *c, cJSON *obj)
{
	size_t len = 0;
	char *line;
	int rc;

	if (obj == NULL)
		return -1;
	line = dpp_proto_print(obj, &len);
	cJSON_Delete(obj);
	if (line == NULL)
		return -1;
	rc = out_append(c, line, len);
	free(line);
	return rc;
}

static size_t out_pending(const struct conn *c)
{
	return c->out_len - c->out_off;
}

/* Writes what the socket takes now. Returns 0, or -1 when the peer is gone. */
static int flush_out(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1;
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	return 0;
}

static cJSON *error_line(const char *code, const char *message)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *e = dpp_proto_error_to_json(code, message);

	if (o == NULL || e == NULL || !cJSON_AddItemToObject(o, "error", e)) {
		cJSON_Delete(o);
		cJSON_Delete(e);
		return NULL;
	}
	return o;
}

/* ---- connections --------------------------------------------------------- */

static void conn_free(struct dpp_ctlsrv *s, struct conn *c)
{
	if (c == NULL)
		return;
	if (c->sub != NULL)
		dpp_control_unsubscribe(s->o.ctl, c->sub);
	if (c->fd >= 0)
		close(c->fd);
	dpp_proto_reader_free(&c->in);
	free(c->out);
	free(c);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A refused peer: one error line, closed, audited as auth_failure. The
 * socket is shut for writing and what the peer sends meanwhile (its hello)
 * read and discarded until it closes (at most a second): closing a Unix
 * socket with unread input would reset the peer before it read the error. */
static void publish_refusal(struct dpp_ctlsrv *s, uid_t uid, const char *msg)
{
	struct dpp_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.time_ms = wall_ms();
	ev.kind = DPP_EVENT_AUTH_FAILURE;
	ev.status = 403;
	snprintf(ev.method, sizeof(ev.method), "CONTROL");
	snprintf(ev.path, sizeof(ev.path), "/control");
	snprintf(ev.identity, sizeof(ev.identity), "unix:uid=%u", (unsigned)uid);
	snprintf(ev.message, sizeof(ev.message), "%s", msg);
	if (s->o.bus != NULL)
		dpp_bus_publish(s->o.bus, &ev);
}

/* Ends the refusal window when it is over: the refusals beyond the budget
 * become one audit record and one log line. */
static void refusal_window_tick(struct dpp_ctlsrv *s, int64_t now)
{
	char msg[192];

	if (now - s->refused_window < REFUSED_WINDOW_MS)
		return;
	if (s->refused_suppressed > 0) {
		snprintf(msg, sizeof(msg),
			 "control socket: %llu more refused connection(s) in %d s not recorded one by "
			 "one (the last from uid %u)",
			 (unsigned long long)s->refused_suppressed, REFUSED_WINDOW_MS / 1000,
			 (unsigned)s->refused_last_uid);
		publish_refusal(s, s->refused_last_uid, msg);
		dpp_log_warn("%s", msg);
	}
	s->refused_window = now;
	s->refused_recorded = 0;
	s->refused_suppressed = 0;
}

static void refuse_peer(struct dpp_ctlsrv *s, int fd, uid_t uid, pid_t pid, int slot)
{
	char msg[192];
	cJSON *line;
	int64_t now = mono_ms();

	refusal_window_tick(s, now);
	if (s->refused_recorded >= REFUSED_BUDGET) {
		/* Over budget: counted, closed at once (no slot held). */
		s->refused_suppressed++;
		s->refused_last_uid = uid;
		close(fd);
		return;
	}
	s->refused_recorded++;

	snprintf(msg, sizeof(msg),
		 "control socket: uid %u is not root, the daemon's user or a member of "
		 "global.control_group",
		 (unsigned)uid);
	line = error_line(DPP_PROTO_E_FORBIDDEN, msg);
	if (line != NULL) {
		size_t len = 0;
		char *text = dpp_proto_print(line, &len);

		if (text != NULL)
			(void)send(fd, text, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		free(text);
		cJSON_Delete(line);
	}
	shutdown(fd, SHUT_WR);
	{
		struct conn *c = slot >= 0 ? calloc(1, sizeof(*c)) : NULL;

		if (c == NULL) {
			close(fd);
		} else {
			c->fd = fd;
			c->uid = uid;
			c->refused = 1;
			c->closing = 1;
			c->refused_until = mono_ms() + 1000;
			dpp_proto_reader_init(&c->in, 0);
			s->conns[slot] = c;
		}
	}
	publish_refusal(s, uid, msg);
	dpp_log_warn("control socket: refused uid %u (pid %ld): not root, the daemon's user or "
		     "a member of global.control_group",
		     (unsigned)uid, (long)pid);
}

static int free_slot(const struct dpp_ctlsrv *s)
{
	for (int i = 0; i < MAX_CONNS; i++) {
		if (s->conns[i] == NULL)
			return 1;
	}
	return 0;
}

/* Every slot taken: new connections wait in the listen backlog for up to
 * BUSY_GRACE_MS before they get `busy`. Peers that connected and left at
 * once (a burst, or clients that timed out while the daemon was stopped)
 * hold slots until the next round reads their EOF; without the grace a
 * live client arriving meanwhile was refused. Returns 1 to leave the
 * backlog alone this round. */
#define BUSY_GRACE_MS 500
static int hold_backlog(struct dpp_ctlsrv *s)
{
	int64_t now = mono_ms();

	if (free_slot(s)) {
		s->full_since = 0;
		return 0;
	}
	if (s->full_since == 0)
		s->full_since = now;
	return now - s->full_since < BUSY_GRACE_MS;
}

static void accept_all(struct dpp_ctlsrv *s)
{
	for (;;) {
		int fd;

		if (hold_backlog(s))
			return;
		fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ucred cred;
		socklen_t cl = sizeof(cred);
		struct conn *c;
		int slot = -1;

		if (fd < 0)
			return; /* EAGAIN, or a transient error: poll again */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 || cl != sizeof(cred)) {
			close(fd);
			continue;
		}
		for (int i = 0; i < MAX_CONNS; i++) {
			if (s->conns[i] == NULL) {
				slot = i;
				break;
			}
		}
		if (!peer_allowed(s, cred.uid)) {
			refuse_peer(s, fd, cred.uid, cred.pid, slot);
			continue;
		}
		c = slot >= 0 ? calloc(1, sizeof(*c)) : NULL;
		if (c == NULL) {
			cJSON *line = error_line(DPP_PROTO_E_BUSY, "too many control connections");
			size_t len = 0;
			char *text = line != NULL ? dpp_proto_print(line, &len) : NULL;

			if (text != NULL)
				(void)send(fd, text, len, MSG_NOSIGNAL | MSG_DONTWAIT);
			free(text);
			cJSON_Delete(line);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->uid = cred.uid;
		c->pid = cred.pid;
		user_name(cred.uid, c->user, sizeof(c->user));
		dpp_proto_reader_init(&c->in, 0);
		s->conns[slot] = c;
	}
}

/* ---- commands ------------------------------------------------------------ */

struct reply {
	cJSON *result;    /* members added to the ok response */
	char code[32];    /* "" = ok */
	char *message;
};

static void fail(struct reply *r, const char *code, const char *message)
{
	snprintf(r->code, sizeof(r->code), "%s", code);
	free(r->message);
	r->message = strdup(message != NULL ? message : "");
}

static void fail_take(struct reply *r, const char *code, char *message)
{
	snprintf(r->code, sizeof(r->code), "%s", code);
	free(r->message);
	r->message = message != NULL ? message : strdup("");
}

struct subs_acc {
	struct dpp_proto_sub *v;
	size_t n, cap;
};

static void sub_cb(void *arg, const char *name, uint64_t dropped)
{
	struct subs_acc *a = arg;

	if (a->n == a->cap) {
		size_t cap = a->cap == 0 ? 16 : a->cap * 2;
		struct dpp_proto_sub *nv = realloc(a->v, cap * sizeof(*nv));

		if (nv == NULL)
			return;
		a->v = nv;
		a->cap = cap;
	}
	memset(&a->v[a->n], 0, sizeof(a->v[a->n]));
	dpp_proto_copy(a->v[a->n].name, sizeof(a->v[a->n].name), name);
	a->v[a->n].dropped = dropped;
	a->n++;
}

static int add(cJSON *o, const char *name, cJSON *item)
{
	if (item == NULL || !cJSON_AddItemToObject(o, name, item)) {
		cJSON_Delete(item);
		return -1;
	}
	return 0;
}

static const char *str_arg(const cJSON *req, const char *name)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(req, name);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

static void cmd_snapshotish(struct dpp_ctlsrv *s, const char *cmd, struct reply *r)
{
	struct dpp_control_snapshot *snap = dpp_control_snapshot(s->o.ctl);
	struct subs_acc subs = {0};
	char rid[24];
	int rc = -1;

	if (snap == NULL) {
		fail(r, DPP_PROTO_E_INTERNAL, "out of memory");
		return;
	}
	dpp_control_foreach_sub(s->o.ctl, sub_cb, &subs);
	snprintf(rid, sizeof(rid), "%llu", (unsigned long long)snap->status.ruleset_id);
	if (strcmp(cmd, "snapshot") == 0) {
		rc = dpp_proto_snapshot_add(r->result, snap, subs.v, subs.n);
	} else if (strcmp(cmd, "status") == 0) {
		rc = add(r->result, "status", dpp_proto_status_to_json(&snap->status, (long)getpid())) ||
		     add(r->result, "subscribers", dpp_proto_subs_to_json(subs.v, subs.n));
	} else if (strcmp(cmd, "rules") == 0) {
		rc = (cJSON_AddStringToObject(r->result, "ruleset_id", rid) == NULL) ||
		     add(r->result, "rules", dpp_proto_rules_to_json(snap->rules, snap->n_rules));
	} else {
		rc = add(r->result, "buckets", dpp_proto_buckets_to_json(snap->buckets, snap->n_buckets)) ||
		     add(r->result, "lockouts",
			 dpp_proto_lockouts_to_json(snap->lockouts, snap->n_lockouts));
	}
	if (rc != 0)
		fail(r, DPP_PROTO_E_INTERNAL, "out of memory");
	free(subs.v);
	dpp_control_snapshot_free(snap);
}

static void cmd_cond_text(struct dpp_ctlsrv *s, const cJSON *req, struct reply *r)
{
	const char *rid = str_arg(req, "ruleset_id");
	const cJSON *rule = cJSON_GetObjectItemCaseSensitive(req, "rule");
	const cJSON *cond = cJSON_GetObjectItemCaseSensitive(req, "cond");
	char name[64], text[4096], *end = NULL;
	unsigned long long id;

	if (rid == NULL || rid[0] < '0' || rid[0] > '9' || !cJSON_IsNumber(rule) ||
	    rule->valuedouble < 0 || rule->valuedouble > 65535 ||
	    (cond != NULL && (!cJSON_IsNumber(cond) || cond->valuedouble < 0 ||
			      cond->valuedouble > 65535))) {
		fail(r, DPP_PROTO_E_BAD_REQUEST,
		     "cond_text needs ruleset_id (a decimal string), rule and optionally cond (integers)");
		return;
	}
	errno = 0;
	id = strtoull(rid, &end, 10);
	if (errno != 0 || *end != '\0') {
		fail(r, DPP_PROTO_E_BAD_REQUEST, "ruleset_id must be a decimal string");
		return;
	}
	if (dpp_control_cond_text(s->o.ctl, id, (size_t)rule->valuedouble,
				  cond != NULL ? (size_t)cond->valuedouble : SIZE_MAX, name,
				  sizeof(name), text, sizeof(text)) != 0) {
		fail(r, DPP_PROTO_E_NOT_FOUND,
		     "that ruleset is no longer in effect, or no such rule or condition");
		return;
	}
	if (cJSON_AddStringToObject(r->result, "name", name) == NULL ||
	    cJSON_AddStringToObject(r->result, "text", text) == NULL)
		fail(r, DPP_PROTO_E_INTERNAL, "out of memory");
}

/* 1 when the daemon runs without a configuration file. */
static int on_defaults(struct dpp_ctlsrv *s)
{
	struct dpp_control_snapshot *snap = dpp_control_snapshot(s->o.ctl);
	int no_file = snap != NULL && snap->status.config_path[0] == '\0';

	dpp_control_snapshot_free(snap);
	return no_file;
}

/* The live version, or "" with a reply failed (no_config / internal). */
static int live_version(struct dpp_ctlsrv *s, char version[DPP_CONTROL_VERSION_LEN],
			char **text, struct reply *r)
{
	char *err = NULL, *t = NULL;

	if (on_defaults(s)) {
		fail(r, DPP_PROTO_E_NO_CONFIG,
		     "the daemon runs on built-in defaults (no configuration file to change)");
		return -1;
	}
	if (dpp_control_read_config(s->o.ctl, &t, version, &err) != 0) {
		fail_take(r, DPP_PROTO_E_INTERNAL, err);
		return -1;
	}
	if (text != NULL)
		*text = t;
	else
		free(t);
	return 0;
}

static void cmd_config(struct dpp_ctlsrv *s, struct conn *c, const char *cmd, const cJSON *req,
		       struct reply *r)
{
	char version[DPP_CONTROL_VERSION_LEN], nv[DPP_CONTROL_VERSION_LEN];
	char *text = NULL, *errors = NULL;

	if (live_version(s, version, strcmp(cmd, "config_read") == 0 ? &text : NULL, r) != 0)
		return;
	if (strcmp(cmd, "config_read") == 0) {
		if (cJSON_AddStringToObject(r->result, "text", text) == NULL ||
		    cJSON_AddStringToObject(r->result, "version", version) == NULL)
			fail(r, DPP_PROTO_E_INTERNAL, "out of memory");
		free(text);
		return;
	}
	if (strcmp(cmd, "config_validate") == 0 || strcmp(cmd, "config_apply") == 0) {
		const char *t = str_arg(req, "text");
		const char *based_on = str_arg(req, "based_on");

		if (t == NULL) {
			fail(r, DPP_PROTO_E_BAD_REQUEST, "text (a string) is required");
			return;
		}
		if (cmd[7] == 'v') {
			if (dpp_control_validate(s->o.ctl, t, NULL, NULL, &errors) != 0)
				fail_take(r, DPP_PROTO_E_INVALID, errors);
			return;
		}
		if (based_on == NULL) {
			fail(r, DPP_PROTO_E_BAD_REQUEST, "based_on (the version the text was read at) is required");
			return;
		}
		if (strcmp(based_on, version) != 0) {
			char msg[256];

			snprintf(msg, sizeof(msg),
				 "the live version is %.12s, not %.12s: nothing applied; read the "
				 "configuration again",
				 version, based_on);
			fail(r, DPP_PROTO_E_CONFLICT, msg);
			return;
		}
		if (dpp_control_apply(s->o.ctl, t, based_on, c->source, c->author, nv, &errors) != 0) {
			/* Another change may have won the race since the check. */
			char now[DPP_CONTROL_VERSION_LEN];
			char *t2 = NULL, *e2 = NULL;

			if (dpp_control_read_config(s->o.ctl, &t2, now, &e2) == 0 &&
			    strcmp(now, based_on) != 0 && strcmp(now, version) != 0)
				fail_take(r, DPP_PROTO_E_CONFLICT, errors);
			else
				fail_take(r, DPP_PROTO_E_INVALID, errors);
			free(t2);
			free(e2);
			return;
		}
		if (cJSON_AddStringToObject(r->result, "version", nv) == NULL)
			fail(r, DPP_PROTO_E_INTERNAL, "out of memory");
		return;
	}
	/* dry_run */
	{
		const char *rule = str_arg(req, "rule");
		const cJSON *on = cJSON_GetObjectItemCaseSensitive(req, "on");
		const cJSON *bo = cJSON_GetObjectItemCaseSensitive(req, "based_on");
		struct dpp_control_snapshot *snap;
		int found = 0;

		if (rule == NULL || !cJSON_IsBool(on) || (bo != NULL && !cJSON_IsString(bo))) {
			fail(r, DPP_PROTO_E_BAD_REQUEST,
			     "dry_run needs rule (a string), on (a boolean), based_on (optional string)");
			return;
		}
		if (bo != NULL && strcmp(bo->valuestring, version) != 0) {
			char msg[256];

			snprintf(msg, sizeof(msg), "the live version is %.12s, not %.12s: nothing applied",
				 version, bo->valuestring);
			fail(r, DPP_PROTO_E_CONFLICT, msg);
			return;
		}
		snap = dpp_control_snapshot(s->o.ctl);
		for (size_t i = 0; snap != NULL && i < snap->n_rules; i++)
			found |= strcmp(snap->rules[i].name, rule) == 0;
		dpp_control_snapshot_free(snap);
		if (!found) {
			char msg[160];

			snprintf(msg, sizeof(msg), "no rule named \"%.100s\" is in effect", rule);
			fail(r, DPP_PROTO_E_NOT_FOUND, msg);
			return;
		}
		if (dpp_control_set_dry_run_as(s->o.ctl, rule, cJSON_IsTrue(on), version, c->source,
					       c->author, nv, &errors) != 0) {
			fail_take(r, DPP_PROTO_E_INVALID, errors);
			return;
		}
		if (cJSON_AddStringToObject(r->result, "version", nv) == NULL)
			fail(r, DPP_PROTO_E_INTERNAL, "out of memory");
	}
}

static void cmd_subscribe(struct dpp_ctlsrv *s, struct conn *c, const cJSON *req, struct reply *r)
{
	const cJSON *log = cJSON_GetObjectItemCaseSensitive(req, "log");
	uint32_t mask;
	const char *err = NULL;

	if (dpp_proto_kinds_parse(cJSON_GetObjectItemCaseSensitive(req, "kinds"), &mask) != 0 ||
	    (log != NULL && !cJSON_IsBool(log))) {
		fail(r, DPP_PROTO_E_BAD_REQUEST,
		     "kinds must be a list of event kind names, log a boolean");
		return;
	}
	if (c->sub == NULL) {
		char name[DPP_BUS_NAME_MAX + 1];

		snprintf(name, sizeof(name), "%s:%.40s:%d", c->source, c->user, (int)c->pid);
		c->sub = dpp_control_subscribe(s->o.ctl, name, SUB_RING, &err);
		if (c->sub == NULL) {
			char msg[160];

			snprintf(msg, sizeof(msg), "cannot subscribe: %s", err != NULL ? err : "unknown");
			fail(r, DPP_PROTO_E_BUSY, msg);
			return;
		}
		c->dropped_sent = 0;
	}
	dpp_bus_sub_set_kinds(c->sub, mask);
	if (cJSON_IsTrue(log) && !c->log_on) {
		pthread_mutex_lock(&s->log_lock);
		c->log_seen = s->log_seq;
		pthread_mutex_unlock(&s->log_lock);
	}
	c->log_on = cJSON_IsTrue(log);
}

static cJSON *dispatch(struct dpp_ctlsrv *s, struct conn *c, const cJSON *req)
{
	struct reply r = {0};
	char cmd[32];
	int64_t id = 0;
	cJSON *resp;

	r.result = cJSON_CreateObject();
	if (r.result == NULL)
		return NULL;
	if (dpp_proto_request_parse(req, &id, cmd, sizeof(cmd)) != 0) {
		fail(&r, DPP_PROTO_E_BAD_REQUEST, "a request needs an integer id and a cmd string");
	} else if (strcmp(cmd, "status") == 0 || strcmp(cmd, "rules") == 0 ||
		   strcmp(cmd, "limits") == 0 || strcmp(cmd, "snapshot") == 0) {
		cmd_snapshotish(s, cmd, &r);
	} else if (strcmp(cmd, "cond_text") == 0) {
		cmd_cond_text(s, req, &r);
	} else if (strcmp(cmd, "config_read") == 0 || strcmp(cmd, "config_validate") == 0 ||
		   strcmp(cmd, "config_apply") == 0 || strcmp(cmd, "dry_run") == 0) {
		cmd_config(s, c, cmd, req, &r);
	} else if (strcmp(cmd, "reload") == 0) {
		char *errors = NULL;

		/* On built-in defaults there is no file to re-read: no_config
		 * (docs/control.md), not an "ok" that reloaded nothing. */
		if (on_defaults(s))
			fail(&r, DPP_PROTO_E_NO_CONFIG,
			     "the daemon runs on built-in defaults (no configuration file to reload)");
		else if (dpp_control_reload_as(s->o.ctl, c->source, c->author, &errors) != 0)
			fail_take(&r, DPP_PROTO_E_INVALID, errors);
	} else if (strncmp(cmd, "history_", 8) == 0 &&
		   (strcmp(cmd + 8, "list") == 0 || strcmp(cmd + 8, "show") == 0 ||
		    strcmp(cmd + 8, "rollback") == 0 || strcmp(cmd + 8, "confirm") == 0)) {
		if (s->o.hooks.history == NULL) {
			fail(&r, DPP_PROTO_E_INTERNAL, "the SQLite store is off: no history");
		} else {
			char code[32] = "";
			char *msg = NULL;

			if (s->o.hooks.history(s->o.hooks.ctx, cmd, req, c->source, c->author, r.result,
					       code, &msg) != 0)
				fail_take(&r, code[0] != '\0' ? code : DPP_PROTO_E_INTERNAL, msg);
		}
	} else if (strcmp(cmd, "subscribe") == 0) {
		cmd_subscribe(s, c, req, &r);
	} else if (strcmp(cmd, "unsubscribe") == 0) {
		if (c->sub != NULL)
			dpp_control_unsubscribe(s->o.ctl, c->sub);
		c->sub = NULL;
		c->log_on = 0;
	} else {
		char msg[96];

		snprintf(msg, sizeof(msg), "unknown command \"%s\"", cmd);
		fail(&r, DPP_PROTO_E_UNKNOWN_COMMAND, msg);
	}
	if (r.code[0] != '\0') {
		cJSON_Delete(r.result);
		resp = dpp_proto_response(id, dpp_proto_error_to_json(r.code, r.message));
		free(r.message);
		return resp;
	}
	free(r.message);
	resp = dpp_proto_response(id, NULL);
	if (resp != NULL) {
		cJSON *it = r.result->child;

		/* Move the result's members into the response. */
		while (it != NULL) {
			cJSON *next = it->next;

			cJSON_DetachItemViaPointer(r.result, it);
			if (!cJSON_AddItemToObject(resp, it->string, it)) {
				cJSON_Delete(it);
				cJSON_Delete(resp);
				resp = NULL;
				break;
			}
			it = next;
		}
	}
	cJSON_Delete(r.result);
	return resp;
}

/* The hello. Returns 0 (answered), -1 (refused: the error is queued and
 * the connection closes after it). */
static int on_hello(struct dpp_ctlsrv *s, struct conn *c, const cJSON *obj)
{
	struct dpp_proto_hello h;
	struct dpp_proto_hello_reply rep;
	cJSON *line;

	(void)s;
	if (dpp_proto_hello_from_json(obj, &h) != 0) {
		send_obj(c, error_line(DPP_PROTO_E_BAD_REQUEST,
				       "the first line must be the hello: {\"hello\": 1, \"client\": "
				       "\"console\" or \"ctl\"}"));
		return -1;
	}
	if (h.version != DPP_PROTO_VERSION) {
		cJSON *e = dpp_proto_error_to_json(DPP_PROTO_E_UNSUPPORTED_VERSION,
						   "this daemon speaks control protocol version 1");
		cJSON *sup = cJSON_CreateArray();

		if (e != NULL && sup != NULL && cJSON_AddItemToArray(sup, cJSON_CreateNumber(1)) &&
		    cJSON_AddItemToObject(e, "supported", sup)) {
			sup = NULL;
			line = cJSON_CreateObject();
			if (line != NULL && cJSON_AddItemToObject(line, "error", e))
				e = NULL;
			send_obj(c, line);
		}
		cJSON_Delete(sup);
		cJSON_Delete(e);
		return -1;
	}
	if (strcmp(h.client, "console") != 0 && strcmp(h.client, "ctl") != 0) {
		send_obj(c, error_line(DPP_PROTO_E_BAD_REQUEST, "client must be \"console\" or \"ctl\""));
		return -1;
	}
	snprintf(c->source, sizeof(c->source), "%s", h.client);
	if (c->uid == 0 && h.on_behalf_of[0] != '\0')
		snprintf(c->author, sizeof(c->author), "%s (root)", h.on_behalf_of);
	else
		snprintf(c->author, sizeof(c->author), "%s", c->user);
	memset(&rep, 0, sizeof(rep));
	rep.version = DPP_PROTO_VERSION;
	rep.pid = (long)getpid();
	snprintf(rep.server, sizeof(rep.server), "docker-policy-proxy");
	snprintf(rep.version_str, sizeof(rep.version_str), "%s", DPP_VERSION);
	snprintf(rep.user, sizeof(rep.user), "%s", c->user);
	c->hello = 1;
	return send_obj(c, dpp_proto_hello_reply_to_json(&rep));
}

/* Reads and answers what the peer sent. Returns -1 when it must close now. */
static int on_readable(struct dpp_ctlsrv *s, struct conn *c)
{
	long n;
	char *line;
	size_t len;
	int rc;

	do {
		n = dpp_proto_reader_fill(&c->in, c->fd);
	} while (n > 0 && !c->in.failed && c->in.len - c->in.start <= c->in.max);
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EMSGSIZE)
		return -1;
	while (!c->closing && (rc = dpp_proto_reader_next(&c->in, &line, &len)) != 0) {
		cJSON *obj;

		if (rc < 0) {
			send_obj(c, error_line(DPP_PROTO_E_BAD_REQUEST,
					       "line longer than 4 MiB: closing"));
			c->closing = 1;
			break;
		}
		obj = dpp_proto_parse(line, len);
		if (obj == NULL) {
			send_obj(c, error_line(DPP_PROTO_E_BAD_REQUEST,
					       "a line must be one JSON object (no \\u0000 in its strings): closing"));
			c->closing = 1;
			break;
		}
		if (!c->hello) {
			if (on_hello(s, c, obj) != 0)
				c->closing = 1;
		} else {
			if (send_obj(c, dispatch(s, c, obj)) != 0) {
				cJSON_Delete(obj);
				return -1;
			}
		}
		cJSON_Delete(obj);
	}
	if (c->in.eof && !c->closing)
		c->closing = 1; /* the peer finished sending: answer, then close */
	return 0;
}

/* Moves events (and drop counts, log lines) into a subscriber's output
 * while it has room; what does not fit stays in the bus ring, which drops
 * and counts once full. */
static void pump(struct dpp_ctlsrv *s, struct conn *c)
{
	struct dpp_event ev;

	if (c->closing)
		return;
	if (c->sub != NULL) {
		uint64_t d = dpp_bus_sub_dropped(c->sub);

		if (d > c->dropped_sent && out_pending(c) < OUT_EVENT_ROOM) {
			if (send_obj(c, dpp_proto_dropped_to_json(d)) == 0)
				c->dropped_sent = d;
		}
		while (out_pending(c) < OUT_EVENT_ROOM && dpp_bus_pop(c->sub, &ev, 0) == 1) {
			cJSON *o = dpp_proto_event_to_json(&ev);
			cJSON *line = cJSON_CreateObject();

			if (o == NULL || line == NULL || !cJSON_AddItemToObject(line, "event", o)) {
				cJSON_Delete(o);
				cJSON_Delete(line);
				break;
			}
			if (send_obj(c, line) != 0)
				break;
		}
	}
	if (c->log_on) {
		pthread_mutex_lock(&s->log_lock);
		if (s->log_seq - c->log_seen > LOG_RING) {
			uint64_t lost = s->log_seq - LOG_RING - c->log_seen;
			char note[160];

			/* Lost the oldest: said to the peer, never silently. */
			c->log_seen = s->log_seq - LOG_RING;
			c->log_dropped += lost;
			snprintf(note, sizeof(note),
				 "control socket: %llu log line(s) dropped for this connection "
				 "(%llu in all): it read too slowly",
				 (unsigned long long)lost, (unsigned long long)c->log_dropped);
			if (send_obj(c, dpp_proto_log_to_json(DPP_LOG_WARN, note)) != 0) {
				pthread_mutex_unlock(&s->log_lock);
				return;
			}
		}
		while (c->log_seen < s->log_seq && out_pending(c) < OUT_EVENT_ROOM) {
			const struct log_line *l = &s->log_ring[c->log_seen % LOG_RING];

			if (send_obj(c, dpp_proto_log_to_json(l->level, l->text)) != 0)
				break;
			c->log_seen++;
		}
		pthread_mutex_unlock(&s->log_lock);
	}
}

static void log_tap(void *arg, enum dpp_log_level level, const char *line)
{
	struct dpp_ctlsrv *s = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&s->log_lock);
	s->log_ring[s->log_seq % LOG_RING].level = level;
	dpp_proto_copy(s->log_ring[s->log_seq % LOG_RING].text, LOG_LINE_MAX, line);
	s->log_seq++;
	pthread_mutex_unlock(&s->log_lock);
	(void)!write(s->wake_fd, &one, sizeof(one));
}

static void *run(void *arg)
{
	struct dpp_ctlsrv *s = arg;
	struct pollfd pfd[2 + 2 * MAX_CONNS];
	int who[2 + 2 * MAX_CONNS];

	while (!atomic_load(&s->stop)) {
		nfds_t n = 0;
		int holding;

		holding = hold_backlog(s);
		/* While holding, the listen socket is left out (-1: ignored). */
		pfd[n] = (struct pollfd){.fd = holding ? -1 : s->listen_fd, .events = POLLIN};
		who[n++] = -1;
		pfd[n] = (struct pollfd){.fd = s->wake_fd, .events = POLLIN};
		who[n++] = -2;
		for (int i = 0; i < MAX_CONNS; i++) {
			struct conn *c = s->conns[i];

			if (c == NULL)
				continue;
			pfd[n] = (struct pollfd){.fd = c->fd,
						 .events = (short)((c->closing && !c->refused ? 0 : POLLIN) |
								   (out_pending(c) > 0 ? POLLOUT : 0))};
			who[n++] = i;
			if (c->sub != NULL && !c->closing && out_pending(c) < OUT_EVENT_ROOM) {
				pfd[n] = (struct pollfd){.fd = dpp_bus_sub_fd(c->sub), .events = POLLIN};
				who[n++] = i;
			}
		}
		if (poll(pfd, n, holding ? 50 : 1000) < 0) {
			if (errno == EINTR)
				continue;
			dpp_log_error("control socket: poll failed: %s", strerror(errno));
			break;
		}
		if (pfd[1].revents & POLLIN) {
			uint64_t v;

			(void)!read(s->wake_fd, &v, sizeof(v));
		}
		refusal_window_tick(s, mono_ms());
		if (pfd[0].revents & POLLIN)
			accept_all(s);
		for (nfds_t k = 2; k < n; k++) {
			struct conn *c = s->conns[who[k]];

			if (c == NULL || pfd[k].fd != c->fd || pfd[k].revents == 0)
				continue;
			if (c->refused) {
				char junk[4096];
				ssize_t got = recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT);

				if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
					conn_free(s, c);
					s->conns[who[k]] = NULL;
				}
				continue;
			}
			if ((pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) && !c->closing &&
			    on_readable(s, c) != 0) {
				conn_free(s, c);
				s->conns[who[k]] = NULL;
			} else if ((pfd[k].revents & (POLLHUP | POLLERR)) && c->closing &&
				   out_pending(c) == 0) {
				conn_free(s, c);
				s->conns[who[k]] = NULL;
			}
		}
		for (int i = 0; i < MAX_CONNS; i++) {
			struct conn *c = s->conns[i];

			if (c == NULL)
				continue;
			if (c->refused) {
				if (mono_ms() >= c->refused_until) {
					conn_free(s, c);
					s->conns[i] = NULL;
				}
				continue;
			}
			pump(s, c);
			if (flush_out(c) != 0 || (c->closing && out_pending(c) == 0)) {
				conn_free(s, c);
				s->conns[i] = NULL;
			}
		}
	}
	/* Stopping: bye to everyone, a short grace to flush, then close. */
	for (int i = 0; i < MAX_CONNS; i++) {
		if (s->conns[i] != NULL && !s->conns[i]->refused)
			send_obj(s->conns[i], dpp_proto_bye_to_json("stopping"));
	}
	for (int round = 0; round < 20; round++) {
		int pending = 0;

		for (int i = 0; i < MAX_CONNS; i++) {
			struct conn *c = s->conns[i];

			if (c != NULL && flush_out(c) == 0 && out_pending(c) > 0)
				pending = 1;
		}
		if (!pending)
			break;
		poll(NULL, 0, 10);
	}
	for (int i = 0; i < MAX_CONNS; i++) {
		conn_free(s, s->conns[i]);
		s->conns[i] = NULL;
	}
	return NULL;
}

/* ---- the socket file ----------------------------------------------------- */

static char *dup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *dup_printf(const char *fmt, ...)
{
	va_list ap;
	char buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return strdup(buf);
}

/* An existing file at path: a live daemon (never stolen), a stale socket
 * (removed), or something else (refused). */
static int clear_stale(const char *path, char **err)
{
	struct stat st;
	struct sockaddr_un sa;
	int fd, rc;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : (*err = dup_printf("global.control_socket: %s: %s", path,
								 strerror(errno)), -1);
	if (!S_ISSOCK(st.st_mode)) {
		*err = dup_printf("global.control_socket: %s exists and is not a socket; refusing to "
				  "replace it",
				  path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err = dup_printf("control socket: socket: %s", strerror(errno));
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (rc == 0) {
		*err = dup_printf("global.control_socket: %s is in use by another running "
				  "docker-policy-proxy; not taking it over (stop that daemon, or set "
				  "another control_socket)",
				  path);
		return DPP_CTLSRV_IN_USE;
	}
	if (errno != ECONNREFUSED) {
		*err = dup_printf("global.control_socket: cannot probe %s: %s", path, strerror(errno));
		return -1;
	}
	if (unlink(path) != 0 && errno != ENOENT) {
		*err = dup_printf("global.control_socket: cannot remove the stale %s: %s", path,
				  strerror(errno));
		return -1;
	}
	dpp_log_info("control socket: replaced the stale %s (no daemon answered on it)", path);
	return 0;
}

int dpp_ctlsrv_start(const struct dpp_ctlsrv_opts *opts, struct dpp_ctlsrv **out, char **err)
{
	struct dpp_ctlsrv *s;
	struct sockaddr_un sa;
	struct stat st;
	gid_t gid = 0;
	int rc;

	*out = NULL;
	*err = NULL;
	if (opts->path == NULL || opts->path[0] == '\0' || strlen(opts->path) >= sizeof(sa.sun_path)) {
		*err = strdup("global.control_socket: the path must be 1..107 bytes");
		return -1;
	}
	if (opts->group != NULL && opts->group[0] != '\0' && resolve_group(opts->group, &gid) != 0) {
		*err = dup_printf("global.control_group: no group named \"%s\"", opts->group);
		return -1;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		*err = strdup("out of memory");
		return -1;
	}
	s->o = *opts;
	s->listen_fd = -1;
	s->wake_fd = -1;
	s->daemon_uid = geteuid();
	snprintf(s->path, sizeof(s->path), "%s", opts->path);
	snprintf(s->group, sizeof(s->group), "%s", opts->group != NULL ? opts->group : "");
	pthread_mutex_init(&s->log_lock, NULL);
	s->log_ring = calloc(LOG_RING, sizeof(*s->log_ring));
	if (s->log_ring == NULL) {
		*err = strdup("out of memory");
		goto fail;
	}
	{
		size_t dl = strlen(RUN_DIR);

		if (strncmp(s->path, RUN_DIR "/", dl + 1) == 0 && strchr(s->path + dl + 1, '/') == NULL) {
			if (mkdir(RUN_DIR, 0755) == 0) {
				/* 0755 whatever the umask: control_group members must
				 * reach the socket inside. */
				(void)chmod(RUN_DIR, 0755);
			} else if (errno != EEXIST) {
				*err = dup_printf("global.control_socket: cannot create %s: %s", RUN_DIR,
						  strerror(errno));
				goto fail;
			}
		}
	}
	rc = clear_stale(s->path, err);
	if (rc != 0) {
		pthread_mutex_destroy(&s->log_lock);
		free(s->log_ring);
		free(s);
		return rc;
	}
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->listen_fd < 0 || s->wake_fd < 0) {
		*err = dup_printf("control socket: %s", strerror(errno));
		goto fail;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s->path);
	/* Nobody can connect before listen(2): the mode and group are set
	 * between the two, so there is no window with looser permissions. */
	if (bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		*err = dup_printf("global.control_socket: cannot bind %s: %s", s->path, strerror(errno));
		goto fail;
	}
	if ((s->group[0] != '\0' && chown(s->path, (uid_t)-1, gid) != 0) ||
	    chmod(s->path, s->group[0] != '\0' ? 0660 : 0600) != 0 || stat(s->path, &st) != 0) {
		*err = dup_printf("global.control_socket: cannot set the owner or mode of %s: %s",
				  s->path, strerror(errno));
		unlink(s->path);
		goto fail;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	if (listen(s->listen_fd, 64) != 0) {
		*err = dup_printf("global.control_socket: cannot listen on %s: %s", s->path,
				  strerror(errno));
		unlink(s->path);
		goto fail;
	}
	if (dpp_log_add_tap(log_tap, s) == 0)
		s->tap = 1;
	if (pthread_create(&s->thread, NULL, run, s) != 0) {
		*err = strdup("control socket: cannot start its thread");
		if (s->tap)
			dpp_log_remove_tap(log_tap, s);
		unlink(s->path);
		goto fail;
	}
	s->started = 1;
	dpp_log_info("control socket on %s (mode %s%s%s)", s->path,
		     s->group[0] != '\0' ? "0660, group " : "0600", s->group,
		     s->group[0] != '\0' ? "" : ": root and this user only");
	*out = s;
	return 0;
fail:
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	pthread_mutex_destroy(&s->log_lock);
	free(s->log_ring);
	free(s);
	return -1;
}

void dpp_ctlsrv_stop(struct dpp_ctlsrv *s)
{
	struct stat st;
	uint64_t one = 1;

	if (s == NULL)
		return;
	if (s->tap)
		dpp_log_remove_tap(log_tap, s);
	atomic_store(&s->stop, 1);
	(void)!write(s->wake_fd, &one, sizeof(one));
	if (s->started)
		pthread_join(s->thread, NULL);
	close(s->listen_fd);
	close(s->wake_fd);
	/* Only our own file: a successor may have replaced it meanwhile. */
	if (stat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
		unlink(s->path);
	pthread_mutex_destroy(&s->log_lock);
	free(s->log_ring);
	free(s);
}
