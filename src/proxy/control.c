/* The control interface (dpp/control.h): snapshots of the running server
 * and the write path for configuration changes. No curses, no store. */
#include "dpp/control.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dpp/cfgedit.h"
#include "dpp/config.h"
#include "dpp/policy.h"
#include "dpp/runtime.h"
#include "dpp/server.h"


struct dpp_control {
	struct dpp_server *srv;
	struct dpp_control_hooks hooks;
	char listen[256];
	char upstream[108];
	char docker[128];
	char *config_path; /* NULL: no file */
	int64_t started_ms;
	char version[DPP_CONTROL_VERSION_LEN];
	/* Serializes every change (and validate, which reads the running
	 * state through the hook) across the console, the control socket's
	 * thread and SIGHUP (dpp_control_lock). Also guards version. */
	pthread_mutex_t lock;
};

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *dup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *dup_printf(const char *fmt, ...)
{
	va_list ap;
	char buf[1536];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return strdup(buf);
}

struct dpp_control *dpp_control_create(struct dpp_server *srv, const struct dpp_control_hooks *hooks,
				       const struct dpp_control_info *info)
{
	struct dpp_control *ctl = calloc(1, sizeof(*ctl));
	char *text = NULL;
	size_t len = 0;

	if (ctl == NULL)
		return NULL;
	ctl->srv = srv;
	ctl->hooks = *hooks;
	if (pthread_mutex_init(&ctl->lock, NULL) != 0) {
		free(ctl);
		return NULL;
	}
	snprintf(ctl->listen, sizeof(ctl->listen), "%s", info->listen != NULL ? info->listen : "");
	snprintf(ctl->upstream, sizeof(ctl->upstream), "%s",
		 info->upstream != NULL ? info->upstream : "");
	snprintf(ctl->docker, sizeof(ctl->docker), "%s", info->docker != NULL ? info->docker : "");
	if (info->config_path != NULL) {
		ctl->config_path = strdup(info->config_path);
		if (ctl->config_path == NULL) {
			pthread_mutex_destroy(&ctl->lock);
			free(ctl);
			return NULL;
		}
		if (dpp_config_read_file(ctl->config_path, &text, &len) == 0)
			dpp_cfgedit_version(text, len, ctl->version);
		free(text);
	}
	ctl->started_ms = wall_ms();
	return ctl;
}

void dpp_control_free(struct dpp_control *ctl)
{
	if (ctl == NULL)
		return;
	pthread_mutex_destroy(&ctl->lock);
	free(ctl->config_path);
	free(ctl);
}

void dpp_control_lock(struct dpp_control *ctl)
{
	pthread_mutex_lock(&ctl->lock);
}

void dpp_control_unlock(struct dpp_control *ctl)
{
	pthread_mutex_unlock(&ctl->lock);
}

struct dpp_bus_sub *dpp_control_subscribe(struct dpp_control *ctl, const char *name,
					  size_t capacity, const char **err)
{
	return dpp_bus_subscribe(dpp_server_bus(ctl->srv), name, capacity, err);
}

void dpp_control_unsubscribe(struct dpp_control *ctl, struct dpp_bus_sub *sub)
{
	dpp_bus_unsubscribe(dpp_server_bus(ctl->srv), sub);
}

void dpp_control_foreach_sub(struct dpp_control *ctl,
			     void (*fn)(void *arg, const char *name, uint64_t dropped), void *arg)
{
	dpp_bus_foreach_sub(dpp_server_bus(ctl->srv), fn, arg);
}

struct dpp_control_snapshot *dpp_control_snapshot(struct dpp_control *ctl)
{
	struct dpp_control_snapshot *s = calloc(1, sizeof(*s));
	struct dpp_runtime *rt = NULL;
	const struct dpp_ruleset *rs;
	uint64_t now = dpp_ratelimit_now_ms();

	if (s == NULL)
		return NULL;
	rt = dpp_server_runtime(ctl->srv);
	if (rt == NULL)
		goto fail;
	rs = dpp_runtime_rules(rt);
	snprintf(s->status.listen, sizeof(s->status.listen), "%s", ctl->listen);
	snprintf(s->status.upstream, sizeof(s->status.upstream), "%s", ctl->upstream);
	snprintf(s->status.docker, sizeof(s->status.docker), "%s", ctl->docker);
	s->status.docker_up = dpp_server_docker_up(ctl->srv);
	s->status.tls = dpp_server_has_tls(ctl->srv);
	snprintf(s->status.auth, sizeof(s->status.auth), "%s",
		 dpp_auth_describe(dpp_runtime_auth(rt)));
	snprintf(s->status.config_path, sizeof(s->status.config_path), "%s",
		 ctl->config_path != NULL ? ctl->config_path : "");
	pthread_mutex_lock(&ctl->lock);
	memcpy(s->status.version, ctl->version, sizeof(s->status.version));
	pthread_mutex_unlock(&ctl->lock);
	s->status.started_ms = ctl->started_ms;
	dpp_server_counts(ctl->srv, &s->status.requests, &s->status.denials);
	s->status.streams = dpp_server_streams(ctl->srv);
	s->status.ruleset_id = dpp_ruleset_id(rs);
	s->status.default_deny = dpp_ruleset_get_default(rs) == DPP_POLICY_DENY;
	s->n_rules = dpp_ruleset_count(rs);
	s->status.n_rules = s->n_rules;
	if (s->n_rules > 0) {
		s->rules = calloc(s->n_rules, sizeof(*s->rules));
		if (s->rules == NULL)
			goto fail;
	}
	for (size_t i = 0; i < s->n_rules; i++) {
		struct dpp_rule_info ri;
		struct dpp_control_rule *r = &s->rules[i];

		dpp_ruleset_rule_info(rs, i, &ri);
		snprintf(r->name, sizeof(r->name), "%s", ri.name);
		snprintf(r->action, sizeof(r->action), "%s", ri.action);
		r->priority = ri.priority;
		r->dry_run = ri.dry_run;
		r->n_conds = ri.n_conds;
		r->hits = ri.hits;
		r->denials = ri.denials;
		r->dry_runs = ri.dry_runs;
		r->last_hit_ago_ms = ri.last_hit_ms == 0 ? -1
				     : now > ri.last_hit_ms ? (int64_t)(now - ri.last_hit_ms)
							    : 0;
		s->status.n_dry_run += ri.dry_run != 0;
	}
	if (dpp_ratelimit_snapshot(dpp_server_ratelimit(ctl->srv), now, &s->buckets,
				   &s->n_buckets) != 0 ||
	    dpp_lockout_snapshot(dpp_server_lockout(ctl->srv), dpp_lockout_now_ms(), &s->lockouts,
				 &s->n_lockouts) != 0)
		goto fail;
	dpp_runtime_unref(rt);
	return s;
fail:
	dpp_runtime_unref(rt);
	dpp_control_snapshot_free(s);
	return NULL;
}

void dpp_control_snapshot_free(struct dpp_control_snapshot *s)
{
	if (s == NULL)
		return;
	free(s->rules);
	free(s->buckets);
	free(s->lockouts);
	free(s);
}

int dpp_control_cond_text(struct dpp_control *ctl, uint64_t ruleset_id, size_t rule,
			  size_t cond, char *name, size_t namelen, char *buf, size_t len)
{
	struct dpp_runtime *rt = dpp_server_runtime(ctl->srv);
	const struct dpp_ruleset *rs = rt != NULL ? dpp_runtime_rules(rt) : NULL;
	struct dpp_rule_info ri;
	int rc = -1;

	if (len > 0)
		buf[0] = '\0';
	if (name != NULL && namelen > 0)
		name[0] = '\0';
	if (rs == NULL || dpp_ruleset_id(rs) != ruleset_id)
		goto cleanup;
	if (dpp_ruleset_rule_info(rs, rule, &ri) != 0)
		goto cleanup;
	if (name != NULL)
		snprintf(name, namelen, "%s", ri.name);
	rc = cond == SIZE_MAX ? 0 : dpp_ruleset_cond_text(rs, rule, cond, buf, len);
cleanup:
	dpp_runtime_unref(rt);
	return rc;
}

int dpp_control_read_config(struct dpp_control *ctl, char **text, char version[DPP_CONTROL_VERSION_LEN],
			    char **err)
{
	size_t len = 0;

	*text = NULL;
	*err = NULL;
	version[0] = '\0';
	if (ctl->config_path == NULL) {
		*err = strdup("running on built-in defaults: there is no configuration file to edit "
			      "(start with --config FILE)");
		return -1;
	}
	if (dpp_config_read_file(ctl->config_path, text, &len) != 0) {
		*err = dup_printf("cannot read %s: %s", ctl->config_path, strerror(errno));
		return -1;
	}
	if (memchr(*text, '\0', len) != NULL) {
		free(*text);
		*text = NULL;
		*err = dup_printf("%s holds a NUL byte: edit it by hand", ctl->config_path);
		return -1;
	}
	dpp_cfgedit_version(*text, len, version);
	return 0;
}

/* Replaces every occurrence of `from` in s by `to`; returns a new string
 * (s is freed) or s itself on allocation failure. */
static char *replace_all(char *s, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to), n = 0;
	char *out, *o;
	const char *p;

	if (s == NULL || fl == 0)
		return s;
	for (p = s; (p = strstr(p, from)) != NULL; p += fl)
		n++;
	if (n == 0)
		return s;
	out = malloc(strlen(s) + n * (tl > fl ? tl - fl : 0) + 1);
	if (out == NULL)
		return s;
	o = out;
	for (p = s;;) {
		const char *q = strstr(p, from);

		if (q == NULL) {
			strcpy(o, p);
			break;
		}
		memcpy(o, p, (size_t)(q - p));
		o += q - p;
		memcpy(o, to, tl);
		o += tl;
		p = q + fl;
	}
	free(s);
	return out;
}

/* Writes text into a new temporary file beside the configuration, with the
 * configuration's mode and owner (0600 until then). Returns the fd (path in
 * tmp) or -1 with *errors. */
static int write_temp(struct dpp_control *ctl, const char *text, char *tmp, size_t tmplen,
		      char **errors)
{
	const char *slash = strrchr(ctl->config_path, '/');
	size_t dirlen = slash != NULL ? (size_t)(slash - ctl->config_path) + 1 : 0;
	size_t len = strlen(text), off = 0;
	struct stat st;
	int fd;

	snprintf(tmp, tmplen, "%.*s.%s.console-XXXXXX", (int)dirlen, ctl->config_path,
		 ctl->config_path + dirlen);
	fd = mkstemp(tmp);
	if (fd < 0) {
		*errors = dup_printf("cannot create a temporary file beside %s: %s",
				     ctl->config_path, strerror(errno));
		return -1;
	}
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*errors = dup_printf("cannot write %s: %s", tmp, strerror(errno));
			goto fail;
		}
		off += (size_t)n;
	}
	if (stat(ctl->config_path, &st) == 0) {
		if (fchmod(fd, st.st_mode & 07777) != 0) {
			*errors = dup_printf("cannot set the mode of %s: %s", tmp, strerror(errno));
			goto fail;
		}
		if ((st.st_uid != geteuid() || st.st_gid != getegid()) &&
		    fchown(fd, st.st_uid, st.st_gid) != 0) {
			*errors = dup_printf("cannot keep the owner of %s (uid %u gid %u): %s",
					     ctl->config_path, (unsigned)st.st_uid,
					     (unsigned)st.st_gid, strerror(errno));
			goto fail;
		}
	}
	if (fsync(fd) != 0) {
		*errors = dup_printf("cannot fsync %s: %s", tmp, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	unlink(tmp);
	return -1;
}

static int validate_at(struct dpp_control *ctl, const char *tmp, char **errors)
{
	int rc;

	*errors = NULL;
	rc = ctl->hooks.validate(ctl->hooks.ctx, tmp, errors);
	if (rc != 0) {
		*errors = replace_all(*errors, tmp, ctl->config_path);
		if (*errors == NULL)
			*errors = strdup("the configuration is refused");
	}
	return rc;
}

static int validate_locked(struct dpp_control *ctl, const char *text, const char *source,
			   const char *author, char **errors)
{
	char tmp[PATH_MAX];
	int fd, rc;

	*errors = NULL;
	if (ctl->config_path == NULL) {
		*errors = strdup("no configuration file (start with --config FILE)");
		return -1;
	}
	fd = write_temp(ctl, text, tmp, sizeof(tmp), errors);
	if (fd < 0)
		return -1;
	close(fd);
	rc = validate_at(ctl, tmp, errors);
	unlink(tmp);
	if (rc != 0 && source != NULL && ctl->hooks.record != NULL) {
		char version[DPP_CONTROL_VERSION_LEN];

		dpp_cfgedit_version(text, strlen(text), version);
		ctl->hooks.record(ctl->hooks.ctx, text, version, ctl->version, source, author, 0,
				  *errors);
	}
	return rc;
}

int dpp_control_validate(struct dpp_control *ctl, const char *text, const char *source,
			 const char *author, char **errors)
{
	int rc;

	pthread_mutex_lock(&ctl->lock);
	rc = validate_locked(ctl, text, source, author, errors);
	pthread_mutex_unlock(&ctl->lock);
	return rc;
}

static void fsync_dir(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path) + 1, path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/* The file a write to path replaces: path itself, or where its symlink
 * chain ends. Returns 0, or -1 with errno. */
static int replace_target(const char *path, char *out, size_t len)
{
	struct stat st;
	char *real;

	if (lstat(path, &st) != 0 || !S_ISLNK(st.st_mode))
		return snprintf(out, len, "%s", path) < (int)len ? 0 : (errno = ENAMETOOLONG, -1);
	real = realpath(path, NULL);
	if (real == NULL)
		return -1;
	if (snprintf(out, len, "%s", real) >= (int)len) {
		free(real);
		errno = ENAMETOOLONG;
		return -1;
	}
	free(real);
	return 0;
}

static int apply_locked(struct dpp_control *ctl, const char *text, const char *based_on,
			const char *source, const char *author,
			char new_version[DPP_CONTROL_VERSION_LEN], char **errors)
{
	char tmp[PATH_MAX], now_version[DPP_CONTROL_VERSION_LEN], version[DPP_CONTROL_VERSION_LEN];
	char target[PATH_MAX];
	char *disk = NULL, *rerr = NULL;
	int fd = -1, rc = -1;

	*errors = NULL;
	if (new_version != NULL)
		new_version[0] = '\0';
	if (dpp_control_read_config(ctl, &disk, now_version, errors) != 0)
		return -1;
	if (based_on == NULL || strcmp(based_on, now_version) != 0) {
		*errors = dup_printf("%s changed on disk since it was read (version %.12s, now %.12s): "
				     "nothing applied; open it again to edit the current text",
				     ctl->config_path, based_on != NULL ? based_on : "-", now_version);
		goto cleanup;
	}
	dpp_cfgedit_version(text, strlen(text), version);
	fd = write_temp(ctl, text, tmp, sizeof(tmp), errors);
	if (fd < 0)
		goto cleanup;
	if (validate_at(ctl, tmp, errors) != 0) {
		unlink(tmp);
		if (ctl->hooks.record != NULL)
			ctl->hooks.record(ctl->hooks.ctx, text, version, based_on, source, author, 0,
					  *errors);
		goto cleanup;
	}
	/* A symlinked file (config management) keeps its link: the file it
	 * points to is replaced. The copy was validated beside the link, where
	 * the loader resolves relative paths. */
	if (replace_target(ctl->config_path, target, sizeof(target)) != 0 ||
	    rename(tmp, target) != 0) {
		*errors = dup_printf("cannot replace %s: %s%s", ctl->config_path, strerror(errno),
				     errno == EXDEV ? " (it is a symlink to another file system)" : "");
		unlink(tmp);
		goto cleanup;
	}
	fsync_dir(target);
	memcpy(ctl->version, version, sizeof(ctl->version));
	if (ctl->hooks.reload(ctl->hooks.ctx, source != NULL ? source : "console", author,
			      &rerr) != 0) {
		*errors = dup_printf("%s was written but the reload refused it; the previous "
				     "configuration stays live: %s",
				     ctl->config_path, rerr != NULL ? rerr : "unknown error");
		goto cleanup; /* the reload hook recorded the refusal */
	}
	/* The reload hook recorded the version that became live. */
	if (new_version != NULL)
		memcpy(new_version, version, DPP_CONTROL_VERSION_LEN);
	rc = 0;
cleanup:
	if (fd >= 0)
		close(fd);
	free(rerr);
	free(disk);
	return rc;
}

int dpp_control_apply(struct dpp_control *ctl, const char *text, const char *based_on,
		      const char *source, const char *author,
		      char new_version[DPP_CONTROL_VERSION_LEN], char **errors)
{
	int rc;

	pthread_mutex_lock(&ctl->lock);
	rc = apply_locked(ctl, text, based_on, source, author, new_version, errors);
	pthread_mutex_unlock(&ctl->lock);
	return rc;
}

int dpp_control_set_dry_run_as(struct dpp_control *ctl, const char *rule, int on,
			       const char *based_on, const char *source, const char *author,
			       char new_version[DPP_CONTROL_VERSION_LEN], char **errors)
{
	char *text = NULL, *next = NULL;
	char version[DPP_CONTROL_VERSION_LEN];
	int rc = -1;

	*errors = NULL;
	if (new_version != NULL)
		new_version[0] = '\0';
	pthread_mutex_lock(&ctl->lock);
	if (dpp_control_read_config(ctl, &text, version, errors) != 0)
		goto cleanup;
	if (based_on != NULL && strcmp(based_on, version) != 0) {
		*errors = dup_printf("%s changed on disk since it was read (version %.12s, now %.12s): "
				     "nothing applied",
				     ctl->config_path, based_on, version);
		goto cleanup;
	}
	if (dpp_cfgedit_set_rule_key(text, rule, "dry_run", on ? "true" : "false", &next,
				     errors) != 0)
		goto cleanup;
	rc = apply_locked(ctl, next, version, source, author, new_version, errors);
cleanup:
	pthread_mutex_unlock(&ctl->lock);
	free(text);
	free(next);
	return rc;
}

int dpp_control_set_dry_run(struct dpp_control *ctl, const char *rule, int on,
			    const char *based_on, const char *author,
			    char new_version[DPP_CONTROL_VERSION_LEN], char **errors)
{
	return dpp_control_set_dry_run_as(ctl, rule, on, based_on, "console", author, new_version,
					  errors);
}

static int reload_locked(struct dpp_control *ctl, const char *source, const char *author,
			 char **errors)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	*errors = NULL;
	rc = ctl->hooks.reload(ctl->hooks.ctx, source, author, errors);
	if (rc == 0 && ctl->config_path != NULL && dpp_config_read_file(ctl->config_path, &text, &len) == 0)
		dpp_cfgedit_version(text, len, ctl->version);
	free(text);
	return rc;
}

int dpp_control_reload_locked(struct dpp_control *ctl, const char *source, const char *author,
			      char **errors)
{
	return reload_locked(ctl, source, author, errors);
}

int dpp_control_reload_as(struct dpp_control *ctl, const char *source, const char *author,
			  char **errors)
{
	int rc;

	pthread_mutex_lock(&ctl->lock);
	rc = reload_locked(ctl, source, author, errors);
	pthread_mutex_unlock(&ctl->lock);
	return rc;
}

int dpp_control_reload(struct dpp_control *ctl, char **errors)
{
	return dpp_control_reload_as(ctl, "sighup", NULL, errors);
}

void dpp_control_author(char *buf, size_t len)
{
	const char *s = getenv("SUDO_USER");
	struct passwd pw, *res = NULL;
	char pbuf[1024];

	if (s != NULL && *s != '\0') {
		snprintf(buf, len, "%s", s);
		return;
	}
	s = getlogin();
	if (s != NULL && *s != '\0') {
		snprintf(buf, len, "%s", s);
		return;
	}
	if (getpwuid_r(getuid(), &pw, pbuf, sizeof(pbuf), &res) == 0 && res != NULL) {
		snprintf(buf, len, "%s", res->pw_name);
		return;
	}
	snprintf(buf, len, "uid:%u", (unsigned)getuid());
}
