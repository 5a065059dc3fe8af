/* Composition root: flags, modes; wires the proxy (and later store and tui).
 * Exit codes follow sysexits(3). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <systemd/sd-daemon.h>

#include <cjson/cJSON.h>

#include "dpp/audit.h"
#include "dpp/config.h"
#include "dpp/control.h"
#include "dpp/log.h"
#include "dpp/metrics.h"
#include "dpp/presets.h"
#include "dpp/runtime.h"
#include "dpp/server.h"
#include "dpp/tls.h"
#include "dpp/upstream.h"
#include "setup.h"
#include "explain.h"
#include "ctl.h"
#include "console.h"
#include "store.h"
#include "ctlsock.h"
#include "server.h"

#define GRACE_MS 10000
#define AUDIT_QUEUE 8192
#define PROBE_TIMEOUT_MS 3000

/* What the main loop owns; every pointer has this one owner. */
struct proxy_state {
	struct dpp_config_flags flags;
	struct dpp_config *cfg;
	struct dpp_runtime *rt;
	struct dpp_server *srv;
	struct dpp_bus *bus;         /* the server's, borrowed (attach) */
	struct dpp_metrics *metrics; /* the server's, borrowed (attach) */
	struct dpp_settings start_settings; /* for attach */
	const char *start_text;      /* the config file as read at start-up (attach) */
	size_t start_text_len;
	struct dpp_audit *audit;
	char audit_path[1024];
	int audit_failed; /* start-up: the configured audit_log could not be opened */
	struct dpp_store *store;
	const char *reload_origin;   /* config_versions source of the next reload; NULL: "sighup" */
	char socket[DPP_SOCKET_PATH_MAX];
	enum dpp_source socket_source;
	int listen_fd;        /* > 0: passed by systemd (socket activation) */
	char listen_bind[64]; /* its address and port replace global.bind/port */
	int listen_port;
	struct dpp_control *ctl;    /* for the control socket's history hook */
	char store_db[4096];        /* the store's file; "" when it is off */
	char config_file[4096];     /* the configuration file ("" none); fixed at start */
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: docker-policy-proxy [OPTIONS]\n"
		"       docker-policy-proxy explain --help   (how a request would be decided)\n"
		"\n"
		"A policy proxy in front of the Docker Engine socket.\n"
		"\n"
		"Options:\n"
		"  -c, --config PATH     configuration file (default: $DOCKER_PROXY_CONFIG, else ./config.yaml)\n"
		"  -b, --bind ADDR       listen address (global.bind, default 127.0.0.1; \"::\" = all, dual-stack)\n"
		"  -p, --port N          listen port (global.port / DOCKER_PROXY_PORT, default 2376)\n"
		"  -s, --socket PATH     Docker socket (global.socket / DOCKER_SOCKET, default: auto-detect)\n"
		"  -l, --log-level LVL   trace, debug, info, warn, error (global.log_level / DOCKER_PROXY_LOG / RUST_LOG)\n"
		"      --headless        run without the operator console, logging to stderr (the console\n"
		"                        starts only when stdin and stdout are terminals)\n"
		"      --read-only       console: refuse every key that changes the configuration\n"
		"      --check-config    print the effective settings and exit (0 valid, 1 errors)\n"
		"      --list-presets    list the built-in presets and their vectors, and exit\n"
		"  -h, --help            this text\n"
		"  -V, --version         print the version\n"
		"\n"
		"\n"
		"Subcommands over the SQLite store (see docker-policy-proxy history --help):\n"
		"  audit [FILTERS]       audit events: who tried what, when, and what the rules said\n"
		"  history [show|diff|rollback|confirm]  config versions, diffs, rollback\n"
		"  setup [--plain|--non-interactive]  the configuration wizard (setup --help)\n"
		"\n"
		"Clients of a running daemon's control socket (docs/control.md):\n"
		"  console [--read-only]  attach the operator console; q detaches (console --help)\n"
		"  ctl status|rules|limits|reload|dry-run NAME on|off|events  for scripts (ctl --help)\n"
		"\n"
		"Signals: SIGHUP reloads the configuration (with the console: unless its terminal\n"
		"hung up, which stops the proxy), SIGTERM/SIGINT stop gracefully.\n");
}

static const char *source_name(enum dpp_source s)
{
	switch (s) {
	case DPP_SOURCE_FILE:
		return "config file";
	case DPP_SOURCE_ENV:
		return "environment";
	case DPP_SOURCE_FLAG:
		return "flag";
	case DPP_SOURCE_AUTO:
		return "auto-detected";
	default:
		return "default";
	}
}

/* Asks Docker for its version; fills a short description. Returns 1 when
 * Docker answered. */
static int probe_docker(const char *socket_path, char *desc, size_t len)
{
	const char *err = NULL;
	int status = dpp_upstream_docker_version(socket_path, PROBE_TIMEOUT_MS, desc, len, &err);

	if (status > 0 && status != 200)
		snprintf(desc, len, "Docker answered /version with HTTP %d", status);
	else if (status < 0)
		snprintf(desc, len, "Docker not answering yet: %s", err);
	return status == 200;
}

/* The start-up probe of Docker, run by its own thread while the rules
 * compile: dockerd takes 8-40 ms to answer /version on a busy machine,
 * which start-up used to wait for before compiling. */
struct probe_job {
	const char *socket_path;
	char desc[256];
	int up;
	int started; /* 1: the thread runs and must be joined */
	pthread_t thread;
};

static void *probe_thread(void *arg)
{
	struct probe_job *j = arg;

	j->up = probe_docker(j->socket_path, j->desc, sizeof(j->desc));
	return NULL;
}

/* Starts the probe with every signal blocked (the main thread alone takes
 * SIGTERM/SIGINT/SIGHUP); on failure probe_finish runs it inline. */
static void probe_begin(struct probe_job *j, const char *socket_path)
{
	sigset_t all, old;

	j->socket_path = socket_path;
	j->started = 0;
	sigfillset(&all);
	if (pthread_sigmask(SIG_BLOCK, &all, &old) != 0)
		return;
	j->started = pthread_create(&j->thread, NULL, probe_thread, j) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Waits for the probe (or runs it when no thread could start); returns
 * probe_docker's answer and copies its description to desc. */
static int probe_finish(struct probe_job *j, char *desc, size_t len)
{
	if (j->started) {
		pthread_join(j->thread, NULL);
		j->started = 0;
	} else {
		j->up = probe_docker(j->socket_path, j->desc, sizeof(j->desc));
	}
	snprintf(desc, len, "%s", j->desc);
	return j->up;
}

static void apply_logging(const struct dpp_settings *s)
{
	dpp_log_set_level(s->log_level);
	dpp_log_set_format(s->log_format);
}

/* Resolves the socket; returns 0, or -1 when none is configured or found. */
static int resolve_socket(struct dpp_settings *s)
{
	if (s->socket[0] != '\0')
		return 0;
	if (dpp_socket_detect(getenv("HOME"), s->socket, sizeof(s->socket)) != 0)
		return -1;
	s->socket_source = DPP_SOURCE_AUTO;
	return 0;
}

/* Logs each line of a multi-line message. */
static void log_lines(enum dpp_log_level level, const char *prefix, const char *text)
{
	const char *p = text;

	while (p != NULL && *p != '\0') {
		const char *nl = strchr(p, '\n');
		int len = nl != NULL ? (int)(nl - p) : (int)strlen(p);

		if (len > 0)
			dpp_log(level, "%s%.*s", prefix, len, p);
		p = nl != NULL ? nl + 1 : NULL;
	}
}

/* What protect-self protects: the container this process runs in (its id
 * from /proc, its name from Docker when Docker answers), the socket and the
 * configuration file. */
static void presets_identify(const char *socket_path, const char *config_path)
{
	char id[80] = "", name[256] = "", target[128];
	struct dpp_upstream *up = NULL;
	const char *err = NULL;
	char *body = NULL;

	if (dpp_presets_detect_container(NULL, NULL, id, sizeof(id)) == 0) {
		up = dpp_upstream_create(socket_path, 0);
		snprintf(target, sizeof(target), "/containers/%s/json", id);
		if (up != NULL &&
		    dpp_upstream_get(up, target, 1024 * 1024, PROBE_TIMEOUT_MS, &body, &err) == 200) {
			cJSON *doc = cJSON_Parse(body);
			const cJSON *n = cJSON_GetObjectItemCaseSensitive(doc, "Name");

			if (cJSON_IsString(n))
				snprintf(name, sizeof(name), "%s", n->valuestring);
			cJSON_Delete(doc);
		}
		free(body);
		dpp_upstream_free(up);
		dpp_log_info("protect-self: running in container %.12s%s%s", id,
			     name[0] != '\0' ? " " : "", name);
	}
	if (dpp_presets_set_self(id, name, socket_path, config_path) != 0)
		dpp_log_error("protect-self: out of memory; the previous identity stays");
}

/* Loads the TLS material named by s; *out stays NULL without TLS. */
static int load_tls(const struct dpp_settings *s, struct dpp_tls_creds **out, char **err)
{
	struct dpp_tls_options o = {
		.cert = s->tls_cert,
		.key = s->tls_key,
		.client_ca = s->tls_client_ca[0] != '\0' ? s->tls_client_ca : NULL,
		.require_client_cert = s->tls_require_client_cert,
		.max_connections = s->max_connections,
	};

	*out = NULL;
	*err = NULL;
	if (s->tls_cert[0] == '\0')
		return 0;
	return dpp_tls_creds_load(&o, out, err);
}

/* Builds the runtime for cfg with the socket already resolved. running: the
 * settings in effect (reload), or NULL at start-up. On reload the restart-only
 * keys and the TLS on/off state keep their running values, so every check
 * (exposure: bind and TLS) judges the listener that really serves, and the
 * runtime's settings record what took effect. */
static int build_runtime(struct proxy_state *st, struct dpp_config *cfg,
			 const struct dpp_settings *running, struct dpp_runtime **rt, char **errors)
{
	struct dpp_settings eff = *dpp_config_settings(cfg);
	char *warnings = NULL;
	int rc;

	snprintf(eff.socket, sizeof(eff.socket), "%s", st->socket);
	eff.socket_source = st->socket_source;
	if (st->listen_fd > 0) {
		snprintf(eff.bind, sizeof(eff.bind), "%s", st->listen_bind);
		eff.port = st->listen_port;
	}
	if (running != NULL)
		dpp_config_keep_restart_only(cfg, running, &eff);
	rc = dpp_runtime_build(cfg, &eff, rt, errors, &warnings);
	if (warnings != NULL)
		log_lines(DPP_LOG_WARN, "config: ", warnings);
	free(warnings);
	return rc;
}

/* Opens path for append exactly as the audit writer does (created 0600 when
 * missing) and closes it again: 0, or -1 with errno set. */
static int audit_try_open(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* --check-config: could path be opened for append? Creates nothing: an
 * existing file is opened without O_CREAT, a missing one needs a writable,
 * searchable directory. 0, or -1 with errno set. */
static int audit_check_open(const char *path)
{
	char dir[sizeof(((struct dpp_settings *)0)->audit_log)];
	int fd = open(path, O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno != ENOENT)
		return -1;
	snprintf(dir, sizeof(dir), "%s", path);
	return access(dirname(dir), W_OK | X_OK);
}

/* SIGHUP with an unchanged audit_log: logrotate moved the file. The writer
 * re-opens it on its own thread; trying here first lets a failure be
 * reported and counted now, while the writer keeps the old descriptor. */
static int audit_reopen(struct proxy_state *st)
{
	int saved;

	if (st->audit == NULL)
		return 0;
	if (audit_try_open(st->audit_path) != 0) {
		saved = errno;
		dpp_log_error("audit: cannot re-open %s for append: %s; still writing to the file "
			      "already open",
			      st->audit_path, strerror(saved));
		dpp_metrics_audit_open_failure(st->metrics);
		errno = saved;
		return -1;
	}
	dpp_audit_reopen(st->audit);
	return 0;
}

/* Starts, switches or re-opens the audit writer for s->audit_log. reload: a
 * SIGHUP. Returns 0, or -1 with errno set when the configured file cannot be
 * opened for append: at start-up the caller refuses to run (EX_CANTCREAT);
 * on reload the writer already running (if any) keeps its descriptor, the
 * error is logged and counted (docker_proxy_audit_open_failures_total). */
static int audit_apply(struct proxy_state *st, const struct dpp_settings *s, int reload)
{
	const char *err = NULL;
	struct dpp_audit *next;
	int saved;

	if (strcmp(s->audit_log, st->audit_path) == 0)
		return reload ? audit_reopen(st) : 0;
	if (s->audit_log[0] == '\0') {
		dpp_audit_stop(st->audit);
		st->audit = NULL;
		st->audit_path[0] = '\0';
		dpp_log_info("audit: off (global.audit_log is not set)");
		return 0;
	}
	{
		/* Refusals before the rules (400 framing/target/body, 413, 502)
		 * are audited too: probes must leave a trace. */
		struct dpp_audit_options ao = {
			.path = s->audit_log,
			.capacity = AUDIT_QUEUE,
			.kinds = DPP_AUDIT_KINDS_DEFAULT | DPP_BUS_KIND(DPP_EVENT_ERROR),
		};

		errno = 0;
		next = dpp_audit_start_with(st->bus, &ao, &err);
	}
	if (next == NULL) {
		saved = errno != 0 ? errno : EIO;
		if (reload) {
			if (st->audit != NULL)
				dpp_log_error("audit: cannot open %s for append: %s (%s); still writing "
					      "%s",
					      s->audit_log, strerror(saved), err != NULL ? err : "error",
					      st->audit_path);
			else
				dpp_log_error("audit: cannot open %s for append: %s (%s); audit events "
					      "are NOT recorded",
					      s->audit_log, strerror(saved),
					      err != NULL ? err : "error");
			dpp_metrics_audit_open_failure(st->metrics);
		}
		errno = saved;
		return -1;
	}
	/* The new writer is subscribed before the old one stops: no gap. */
	dpp_audit_stop(st->audit);
	st->audit = next;
	snprintf(st->audit_path, sizeof(st->audit_path), "%s", s->audit_log);
	dpp_log_info("audit: writing %s", s->audit_log);
	return 0;
}

/* Under socket activation the listener's address is systemd's, not the
 * file's: global.bind and global.port lines are no restart to report. */
static void drop_activated_keys(char *list)
{
	char *in = list, *out = list;

	while (*in != '\0') {
		size_t len = strcspn(in, "\n");
		int skip = strncmp(in, "global.bind", 11) == 0 || strncmp(in, "global.port", 11) == 0;

		if (in[len] == '\n')
			len++;
		if (!skip) {
			memmove(out, in, len);
			out += len;
		}
		in += len;
	}
	*out = '\0';
}

static void store_retention(const struct dpp_settings *s, long long *ret, long long *req)
{
	/* The loader validated both, so the defaults below are never used. */
	if (dpp_config_parse_duration(s->store_retention, ret) != 0)
		*ret = 90LL * 86400;
	if (dpp_config_parse_duration(s->store_request_retention, req) != 0)
		*req = 7LL * 86400;
}

/* Starts the SQLite store (global.store) and hooks it to config versions. */
static void store_start(struct proxy_state *st, const struct dpp_settings *s)
{
	struct dpp_store_options o = {0};
	char path[4096];
	const char *err = NULL;

	if (!dpp_store_resolve_path(s, dpp_config_path(st->cfg), path, sizeof(path))) {
		dpp_log_info("store: off (global.store.path is \"\")");
		return;
	}
	o.path = path;
	o.config_path = dpp_config_path(st->cfg);
	o.requests_all = s->store_requests;
	store_retention(s, &o.retention_s, &o.request_retention_s);
	st->store = dpp_store_start(st->bus, st->metrics, &o, &err);
	if (st->store == NULL) {
		dpp_log_error("store: cannot start: %s; events go to the audit file only", err);
		return;
	}
	dpp_config_set_version_hook(dpp_store_config_hook, st->store);
}

/* Tells the store (through the core's neutral hook) what was tried. */
static const char *notify_author; /* the author of the change running now (reload lock) */
static const char *notify_author_rb; /* a control socket rollback's author (control thread) */

static void notify_version(const char *origin, const char *path, const char *text, size_t len,
			   int applied, const char *errors)
{
	struct dpp_config_version v = {
		.author = notify_author,
		.origin = origin,
		.path = path,
		.text = text,
		.len = len,
		.applied = applied,
		.errors = errors,
	};

	dpp_config_version_notify(&v);
}

/* Before the server accepts anything: the store and the audit writer see
 * every request from the first one on, so the two records agree. */
static int attach_subscribers(void *arg, struct dpp_bus *bus, struct dpp_metrics *m)
{
	struct proxy_state *st = arg;

	st->bus = bus;
	st->metrics = m;
	store_start(st, &st->start_settings);
	notify_version("startup", dpp_config_path(st->cfg), st->start_text, st->start_text_len, 1,
		       NULL);
	if (audit_apply(st, &st->start_settings, 0) != 0) {
		fprintf(stderr, "docker-policy-proxy: global.audit_log: cannot open %s for append: %s; "
				"refusing to run without the configured audit trail\n",
			st->start_settings.audit_log, strerror(errno));
		st->audit_failed = 1;
		return -1;
	}
	return 0;
}

static void detach_subscribers(void *arg)
{
	struct proxy_state *st = arg;

	dpp_config_set_version_hook(NULL, NULL);
	dpp_store_stop(st->store);
	st->store = NULL;
	dpp_audit_stop(st->audit);
	st->audit = NULL;
}

/* SIGHUP. The new file is judged as it would run: against the running
 * listener's bind and TLS state (restart-only). Anything start-up would
 * refuse, TLS material that does not load included, refuses the whole
 * reload; the running configuration stays. */
static int reload(struct proxy_state *st, char **why)
{
	const struct dpp_settings *running = dpp_runtime_settings(st->rt);
	struct dpp_config *next = NULL;
	struct dpp_runtime *rt = NULL;
	struct dpp_tls_creds *creds = NULL;
	char *errors = NULL, *restart = NULL, *tls_err = NULL, *text = NULL;
	size_t text_len = 0;
	const struct dpp_settings *eff;
	int required;
	const char *path = dpp_config_pick_path(&st->flags, &required);

	if (st->reload_origin == NULL || strcmp(st->reload_origin, "sighup") == 0)
		dpp_log_info("SIGHUP: reloading the configuration");
	else
		dpp_log_info("reloading the configuration (%s)", st->reload_origin);
	if (dpp_config_load_text(&st->flags, &next, &errors, &text, &text_len) != 0 ||
	    build_runtime(st, next, running, &rt, &errors) != 0) {
		log_lines(DPP_LOG_ERROR, "reload refused: ", errors != NULL ? errors : "unknown error");
		goto refused;
	}
	eff = dpp_runtime_settings(rt);
	if (dpp_server_has_tls(st->srv) && load_tls(eff, &creds, &tls_err) != 0) {
		dpp_log_error("TLS reload refused, keeping the current certificate: %s",
			      tls_err != NULL ? tls_err : "cannot load");
		goto refused;
	}
	restart = dpp_config_restart_needed_vs(running, next);
	if (restart != NULL && st->listen_fd > 0)
		drop_activated_keys(restart);
	if (restart != NULL && restart[0] != '\0')
		log_lines(DPP_LOG_WARN, "needs a restart to take effect (old value stays): ", restart);
	apply_logging(eff);
	if (creds != NULL) {
		dpp_server_swap_tls(st->srv, creds);
		dpp_tls_creds_unref(creds);
		dpp_log_info("TLS certificate, key and CA re-read: new connections use them");
	}
	presets_identify(st->socket, dpp_config_path(next));
	dpp_server_swap_runtime(st->srv, rt);
	audit_apply(st, eff, 1);
	dpp_runtime_unref(st->rt);
	st->rt = rt;
	free(restart);
	dpp_config_free(st->cfg);
	st->cfg = next;
	dpp_metrics_config_reload(dpp_server_metrics(st->srv), 1);
	dpp_log_info("configuration reloaded: auth %s, %zu rule(s)",
		     dpp_auth_describe(dpp_runtime_auth(rt)), dpp_ruleset_count(dpp_runtime_rules(rt)));
	notify_version(st->reload_origin != NULL ? st->reload_origin : "sighup", dpp_config_path(next),
		       text, text_len, 1, NULL);
	{
		long long ret, req;

		store_retention(eff, &ret, &req);
		dpp_store_apply(st->store, eff->store_requests, ret, req);
	}
	free(text);
	return 0;
refused:
	dpp_log_error("reload refused: the running configuration stays in effect");
	/* logrotate's SIGHUP must re-open the audit file all the same. */
	audit_reopen(st);
	dpp_metrics_config_reload(dpp_server_metrics(st->srv), 0);
	notify_version(st->reload_origin != NULL ? st->reload_origin : "sighup",
		       text != NULL ? path : NULL, text, text_len, 0, tls_err != NULL ? tls_err : errors);
	free(text);
	if (why != NULL)
		*why = tls_err != NULL ? tls_err : errors != NULL ? errors : strdup("reload refused");
	if (why == NULL || *why != errors)
		free(errors);
	if (why == NULL || *why != tls_err)
		free(tls_err);
	dpp_runtime_unref(rt);
	dpp_config_free(next);
	return -1;
}

/* ---- the control interface's hooks (dpp/control.h) ----------------------- */

/* Checks the file at path as reload() would judge it, changing nothing. */
static int hook_validate(void *ctx, const char *path, char **errors)
{
	struct proxy_state *st = ctx;
	struct dpp_config_flags flags = st->flags;
	struct dpp_config *next = NULL;
	struct dpp_runtime *rt = NULL;
	struct dpp_tls_creds *creds = NULL;
	char *tls_err = NULL;
	int rc = -1;

	*errors = NULL;
	flags.config_path = path;
	if (dpp_config_load(&flags, &next, errors) != 0 ||
	    build_runtime(st, next, dpp_runtime_settings(st->rt), &rt, errors) != 0)
		goto cleanup;
	if (dpp_server_has_tls(st->srv) && load_tls(dpp_runtime_settings(rt), &creds, &tls_err) != 0) {
		*errors = tls_err;
		tls_err = NULL;
		goto cleanup;
	}
	rc = 0;
cleanup:
	if (rc != 0 && *errors == NULL)
		*errors = strdup("configuration refused");
	dpp_tls_creds_unref(creds);
	free(tls_err);
	dpp_runtime_unref(rt);
	dpp_config_free(next);
	return rc;
}

/* The console's apply (and its SIGHUP): the SIGHUP path, recorded in config
 * history with the console's source ("console", "rollback", "sighup"). */
static int hook_reload(void *ctx, const char *source, const char *author, char **errors)
{
	struct proxy_state *st = ctx;
	int rc;

	st->reload_origin = source;
	notify_author = author;
	rc = reload(st, errors);
	notify_author = NULL;
	st->reload_origin = NULL;
	return rc;
}

/* A console proposal the loader refused before anything was written. */
static void hook_record(void *ctx, const char *text, const char *version, const char *based_on,
			const char *source, const char *author, int applied, const char *errors)
{
	struct proxy_state *st = ctx;

	(void)version;
	(void)based_on;
	/* The embedded console's author is the store's own choice (SUDO_USER,
	 * login, uid); a control socket peer's is its user name. */
	notify_author = author;
	notify_version(source, dpp_config_path(st->cfg), text, strlen(text), applied, errors);
	notify_author = NULL;
}

/* ---- the control socket (docs/control.md) --------------------------------- */

/* global.control_socket, or its default (dpp_ctlsock_default, the rule its
 * clients share). Returns 1 with the path, 0 when turned off. */
static int control_socket_path(const struct dpp_settings *s, const char *config_path, char *out,
			       size_t len)
{
	if (s->control_socket_source != DPP_SOURCE_DEFAULT) {
		if (s->control_socket[0] == '\0')
			return 0;
		snprintf(out, len, "%s", s->control_socket);
		return 1;
	}
	return dpp_ctlsock_default(s, config_path, 1, out, len) == 0;
}

static int history_reload(void *arg, char **errors)
{
	struct proxy_state *st = arg;

	/* hook_history holds the control lock: the file was written under it. */
	return dpp_control_reload_locked(st->ctl, "rollback", notify_author_rb, errors);
}

/* history_* over the control socket: the store CLI's own code. */
static int hook_history(void *ctx, const char *cmd, const cJSON *req, const char *source,
			const char *author, cJSON *result, char code[32], char **message)
{
	struct proxy_state *st = ctx;

	(void)source;
	if (st->store_db[0] == '\0') {
		snprintf(code, 32, "internal");
		*message = strdup("the SQLite store is off (global.store.path: \"\"): no history");
		return -1;
	}
	{
		int rc;

		/* A rollback writes the file and reloads it as one change: under
		 * the lock of every other change (list and show only read). */
		dpp_control_lock(st->ctl);
		notify_author_rb = author;
		rc = dpp_store_history_ctl(st->store_db,
					   st->config_file[0] != '\0' ? st->config_file : NULL, cmd, req,
					   author, result, code, message, history_reload, st);
		notify_author_rb = NULL;
		dpp_control_unlock(st->ctl);
		return rc;
	}
}

/* Starts the control socket server. Returns 0 (also when turned off), or
 * the exit status: EX_TEMPFAIL when a live daemon owns the socket (never
 * taken over), EX_OSERR when it cannot be created. */
static int control_socket_start(struct proxy_state *st, const struct dpp_settings *s,
				struct dpp_control *ctl, struct dpp_ctlsrv **out)
{
	char path[4096];
	struct dpp_ctlsrv_opts o;
	char *err = NULL;
	int rc;

	*out = NULL;
	if (!control_socket_path(s, dpp_config_path(st->cfg), path, sizeof(path))) {
		dpp_log_info("control socket: off (global.control_socket: \"\")");
		return 0;
	}
	if (strlen(path) >= DPP_SOCKET_PATH_MAX) {
		fprintf(stderr, "docker-policy-proxy: control socket: %s is longer than 107 bytes; "
				"set global.control_socket\n", path);
		return EX_OSERR;
	}
	memset(&o, 0, sizeof(o));
	o.path = path;
	o.group = s->control_group;
	o.ctl = ctl;
	o.bus = st->bus;
	o.hooks.ctx = st;
	o.hooks.history = hook_history;
	st->ctl = ctl;
	snprintf(st->config_file, sizeof(st->config_file), "%s",
		 dpp_config_path(st->cfg) != NULL ? dpp_config_path(st->cfg) : "");
	if (st->store == NULL ||
	    !dpp_store_resolve_path(s, dpp_config_path(st->cfg), st->store_db, sizeof(st->store_db)))
		st->store_db[0] = '\0';
	rc = dpp_ctlsrv_start(&o, out, &err);
	if (rc != 0 && s->control_socket_source == DPP_SOURCE_DEFAULT) {
		/* Only the default path: several daemons on one host (tests,
		 * one per configuration) must not stop each other from
		 * starting. A configured path that fails stops the start. */
		dpp_log_warn("%s; running without a control socket (set global.control_socket)",
			     err != NULL ? err : "control socket: cannot start");
		free(err);
		return 0;
	}
	if (rc != 0) {
		fprintf(stderr, "docker-policy-proxy: %s\n", err != NULL ? err : "control socket: cannot start");
		free(err);
		return rc == DPP_CTLSRV_IN_USE ? EX_TEMPFAIL : EX_OSERR;
	}
	return 0;
}

/* The log file while the console owns the terminal: global.log_file, else
 * docker-policy-proxy.log beside the config file (or in the working
 * directory). */
static void console_log_path(const struct proxy_state *st, const struct dpp_settings *s,
			     char *out, size_t len)
{
	const char *cfg = dpp_config_path(st->cfg);
	const char *slash = cfg != NULL ? strrchr(cfg, '/') : NULL;

	if (s->log_file[0] != '\0')
		snprintf(out, len, "%s", s->log_file);
	else if (slash != NULL)
		snprintf(out, len, "%.*sdocker-policy-proxy.log", (int)(slash - cfg) + 1, cfg);
	else
		snprintf(out, len, "docker-policy-proxy.log");
}

/* systemd socket activation (sd_listen_fds(3)): at most one listening TCP
 * socket; its address stands in for global.bind and global.port. Returns 0
 * (st->listen_fd stays 0 without activation), or -1 with a message. */
static int take_activated_socket(struct proxy_state *st, char *why, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int n = sd_listen_fds(1), fd = SD_LISTEN_FDS_START;

	if (n == 0)
		return 0;
	if (n < 0 || n > 1) {
		snprintf(why, len, "systemd passed %d sockets; the unit must pass one TCP socket", n);
		return -1;
	}
	if (sd_is_socket_inet(fd, 0, SOCK_STREAM, 1, 0) <= 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		snprintf(why, len, "the socket systemd passed is not a listening TCP socket");
		return -1;
	}
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &in->sin_addr, st->listen_bind, sizeof(st->listen_bind));
		st->listen_port = ntohs(in->sin_port);
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, st->listen_bind, sizeof(st->listen_bind));
		st->listen_port = ntohs(in6->sin6_port);
	}
	st->listen_fd = fd;
	return 0;
}

/* STATUS= for systemctl status: the request rate since the last call. */
static void notify_status(struct proxy_state *st, uint64_t *last_n, struct timespec *last_t)
{
	struct timespec now;
	uint64_t n = dpp_metrics_requests_total(dpp_server_metrics(st->srv));
	double dt;

	clock_gettime(CLOCK_MONOTONIC, &now);
	dt = (double)(now.tv_sec - last_t->tv_sec) + (double)(now.tv_nsec - last_t->tv_nsec) / 1e9;
	sd_notifyf(0, "STATUS=serving: %.1f requests/s, %llu requests since start",
		   dt > 0 ? (double)(n - *last_n) / dt : 0.0, (unsigned long long)n);
	*last_n = n;
	*last_t = now;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"bind", required_argument, NULL, 'b'},
		{"port", required_argument, NULL, 'p'},
		{"socket", required_argument, NULL, 's'},
		{"log-level", required_argument, NULL, 'l'},
		{"headless", no_argument, NULL, 'H'},
		{"read-only", no_argument, NULL, 'R'},
		{"check-config", no_argument, NULL, 'C'},
		{"list-presets", no_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct dpp_config_flags flags = {0};
	struct proxy_state st;
	struct dpp_tls_creds *tls_creds = NULL;
	struct dpp_server_options opts;
	struct dpp_settings settings;
	char *errors = NULL, *err = NULL, *cfg_text = NULL;
	size_t cfg_text_len = 0;
	char docker_desc[256];
	int headless = 0, check = 0, read_only = 0, opt, rc = EX_SOFTWARE, docker_up, under_systemd;
	struct timespec last_t;
	time_t last_warn;
	uint64_t last_n = 0;
	int console_mode;
	struct dpp_console *console = NULL;
	struct dpp_control *ctl = NULL;
	struct dpp_ctlsrv *ctlsrv = NULL;
	FILE *log_file = NULL;
	int saved_stderr = -1;
	char log_path[1100] = "";
	char listen_desc[512];
	sigset_t sigs;
	struct probe_job probe = {0};

	/* `docker-policy-proxy audit ...` / `history ...`: the store's CLI. */
	if (argc > 1 && dpp_store_cli_is_command(argv[1]))
		return dpp_store_cli_main(argc - 1, argv + 1);
	memset(&st, 0, sizeof(st));
	if (argc > 1 && strcmp(argv[1], "setup") == 0)
		return dpp_setup_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "explain") == 0)
		return dpp_cli_explain(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "ctl") == 0)
		return dpp_cli_ctl(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "console") == 0)
		return dpp_cli_console(argc - 1, argv + 1);
	while ((opt = getopt_long(argc, argv, "c:b:p:s:l:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			flags.config_path = optarg;
			break;
		case 'b':
			flags.bind = optarg;
			break;
		case 'p': {
			char *end = NULL;
			long v = strtol(optarg, &end, 10);

			if (end == optarg || *end != '\0' || v < 1 || v > 65535) {
				fprintf(stderr, "docker-policy-proxy: --port must be 1..65535, not '%s'\n",
					optarg);
				return EX_USAGE;
			}
			flags.port = (int)v;
			break;
		}
		case 's':
			flags.socket = optarg;
			break;
		case 'l': {
			enum dpp_log_level lvl;

			if (dpp_log_parse_level(optarg, &lvl) != 0) {
				fprintf(stderr, "docker-policy-proxy: --log-level must be trace, debug, info, warn or error, not '%s'\n",
					optarg);
				return EX_USAGE;
			}
			flags.log_level = optarg;
			break;
		}
		case 'H':
			headless = 1;
			break;
		case 'R':
			read_only = 1;
			break;
		case 'C':
			check = 1;
			break;
		case 'P':
			return dpp_presets_list(stdout) == 0 && fflush(stdout) == 0 ? 0 : EX_IOERR;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("docker-policy-proxy %s\n", DPP_VERSION);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "docker-policy-proxy: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EX_USAGE;
	}

	st.flags = flags;
	if (dpp_config_load_text(&st.flags, &st.cfg, &errors, &cfg_text, &cfg_text_len) != 0) {
		free(cfg_text);
		fprintf(stderr, "%sdocker-policy-proxy: configuration refused\n",
			errors != NULL ? errors : "");
		free(errors);
		return check ? 1 : EX_CONFIG;
	}
	if (dpp_config_path(st.cfg) == NULL && !check && !headless) {
		int required = 0;
		const char *path = dpp_config_pick_path(&st.flags, &required);
		static char setup_word[] = "setup";
		char *setup_argv[] = {setup_word, NULL};

		if (dpp_setup_offer(path)) {
			free(cfg_text);
			dpp_config_free(st.cfg);
			return dpp_setup_main(1, setup_argv);
		}
	}
	settings = *dpp_config_settings(st.cfg);
	apply_logging(&settings);
	if (resolve_socket(&settings) != 0) {
		fprintf(stderr, "docker-policy-proxy: no Docker socket configured or found; set "
				"global.socket, DOCKER_SOCKET or --socket\n");
		rc = check ? 1 : EX_UNAVAILABLE;
		goto cleanup;
	}
	snprintf(st.socket, sizeof(st.socket), "%s", settings.socket);
	st.socket_source = settings.socket_source;
	if (!check) {
		char why[160];

		if (take_activated_socket(&st, why, sizeof(why)) != 0) {
			fprintf(stderr, "docker-policy-proxy: %s\n", why);
			rc = EX_OSERR;
			goto cleanup;
		}
		if (st.listen_fd > 0) {
			snprintf(settings.bind, sizeof(settings.bind), "%s", st.listen_bind);
			settings.port = st.listen_port;
		}
		/* Overlaps the rule compile; joined before the listener starts,
		 * so docker_up is known as before. After take_activated_socket,
		 * which changes the environment; settings.socket does not change
		 * from here on. */
		probe_begin(&probe, settings.socket);
	}
	if (build_runtime(&st, st.cfg, NULL, &st.rt, &errors) != 0) {
		fprintf(stderr, "%sdocker-policy-proxy: configuration refused\n",
			errors != NULL ? errors : "");
		free(errors);
		rc = check ? 1 : EX_CONFIG;
		goto cleanup;
	}
	if (load_tls(&settings, &tls_creds, &err) != 0) {
		fprintf(stderr, "docker-policy-proxy: global.tls: %s\ndocker-policy-proxy: configuration refused\n",
			err != NULL ? err : "cannot load the TLS material");
		free(err);
		err = NULL;
		rc = check ? 1 : EX_CONFIG;
		goto cleanup;
	}
	presets_identify(st.socket, dpp_config_path(st.cfg));
	if (check && settings.audit_log[0] != '\0' && audit_check_open(settings.audit_log) != 0)
		fprintf(stderr, "docker-policy-proxy: warning: global.audit_log: cannot open %s for "
				"append: %s; the proxy will refuse to start (exit %d) until it can\n",
			settings.audit_log, strerror(errno), EX_CANTCREAT);
	if (check) {
		dpp_config_print(st.cfg, stdout);
		printf("# upstream socket: %s (%s)\n", settings.socket,
		       source_name(settings.socket_source));
		dpp_runtime_print(st.rt, stdout);
		rc = 0;
		goto cleanup;
	}
	/* The console takes the screen only on a terminal: stdin and stdout
	 * both ttys, and not --headless. Logs then go to global.log_file and
	 * the Log view, never to the terminal. */
	console_mode = !headless && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	if (console_mode) {
		struct dpp_console_options co = {
			.read_only = read_only,
			.history = (size_t)settings.console_history,
		};
		int fd;

		console_log_path(&st, &settings, log_path, sizeof(log_path));
		fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		log_file = fd >= 0 ? fdopen(fd, "a") : NULL;
		if (log_file == NULL) {
			fprintf(stderr, "docker-policy-proxy: cannot open the console's log file %s: %s "
					"(set global.log_file, or run with --headless)\n",
				log_path, strerror(errno));
			if (fd >= 0)
				close(fd);
			rc = EX_CANTCREAT;
			goto cleanup;
		}
		co.log_path = log_path;
		console = dpp_console_create(&co);
		if (console == NULL) {
			fprintf(stderr, "docker-policy-proxy: out of memory for the console\n");
			goto cleanup;
		}
		/* Before any thread starts: the stream and sink are plain
		 * pointers. stderr itself goes to the file too, so a stray
		 * library message cannot scribble over the screen. */
		dpp_log_set_stream(log_file);
		dpp_log_set_sink(dpp_console_log_sink, console);
		fflush(stderr);
		saved_stderr = dup(STDERR_FILENO);
		if (saved_stderr >= 0)
			dup2(fileno(log_file), STDERR_FILENO);
	} else if (read_only) {
		dpp_log_warn("--read-only applies to the console only; running headless");
	}

	/* Signals are taken synchronously by this thread only; every thread
	 * started from here on inherits the blocked mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &sigs, NULL) != 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		fprintf(stderr, "docker-policy-proxy: cannot set up signal handling\n");
		goto cleanup;
	}

	docker_up = probe_finish(&probe, docker_desc, sizeof(docker_desc));
	opts.bind = settings.bind;
	opts.port = settings.port;
	opts.socket_path = settings.socket;
	opts.docker_up = docker_up;
	opts.rt = st.rt;
	opts.listen_unix = settings.listen_unix;
	opts.listen_unix_mode = settings.listen_unix_mode;
	opts.listen_unix_group = settings.listen_unix_group;
	opts.tls_creds = tls_creds;
	opts.client_timeout_s = settings.client_timeout;
	opts.max_connections = settings.max_connections;
	opts.max_connections_per_ip = settings.max_connections_per_ip;
	opts.listen_fd = st.listen_fd;
	opts.attach = attach_subscribers;
	opts.detach = detach_subscribers;
	opts.attach_arg = &st;
	st.start_settings = settings;
	st.start_text = cfg_text;
	st.start_text_len = cfg_text_len;
	/* An audit trail that was asked for and cannot be written stops the
	 * start (fail closed): checked before listening, and again when the
	 * writer really opens it (attach_subscribers). */
	if (settings.audit_log[0] != '\0' && audit_try_open(settings.audit_log) != 0) {
		fprintf(stderr, "docker-policy-proxy: global.audit_log: cannot open %s for append: %s; "
				"refusing to run without the configured audit trail\n",
			settings.audit_log, strerror(errno));
		rc = EX_CANTCREAT;
		goto cleanup;
	}
	if (dpp_server_start(&opts, &st.srv, &err) != 0) {
		if (!st.audit_failed)
			fprintf(stderr, "docker-policy-proxy: %s\n", err != NULL ? err : "cannot start");
		free(err);
		rc = st.audit_failed ? EX_CANTCREAT : EX_OSERR;
		goto cleanup;
	}
	free(cfg_text);
	cfg_text = NULL;
	st.start_text = NULL;
	dpp_log_info("docker-policy-proxy %s listening on %s%s%s%s:%d%s%s, upstream unix://%s (%s), auth: %s",
		     DPP_VERSION, settings.tls_cert[0] != '\0' ? "https://" : "",
		     strchr(settings.bind, ':') ? "[" : "", settings.bind,
		     strchr(settings.bind, ':') ? "]" : "", settings.port,
		     settings.listen_unix[0] != '\0' ? " and unix:" : "", settings.listen_unix,
		     settings.socket, docker_desc, dpp_auth_describe(dpp_runtime_auth(st.rt)));
	if (!docker_up)
		dpp_log_warn("Docker is not answering at %s yet; requests get 502 until it does",
			     settings.socket);

	{
		/* The control interface: the embedded console's, and the control
		 * socket's in both modes (one lock serializes their changes). */
		struct dpp_control_hooks hooks = {
			.ctx = &st, .validate = hook_validate, .reload = hook_reload,
			.record = hook_record,
		};
		struct dpp_control_info info = {
			.listen = listen_desc,
			.upstream = settings.socket,
			.docker = docker_desc,
			.config_path = dpp_config_path(st.cfg),
		};

		snprintf(listen_desc, sizeof(listen_desc), "%s%s%s:%d%s%s",
			 strchr(settings.bind, ':') ? "[" : "", settings.bind,
			 strchr(settings.bind, ':') ? "]" : "", settings.port,
			 settings.listen_unix[0] != '\0' ? " and unix:" : "", settings.listen_unix);
		ctl = dpp_control_create(st.srv, &hooks, &info);
		if (ctl == NULL) {
			dpp_log_error("out of memory");
			rc = EX_OSERR;
			goto stop;
		}
		rc = control_socket_start(&st, &settings, ctl, &ctlsrv);
		if (rc != 0)
			goto stop;
		rc = EX_SOFTWARE;
	}
	/* Under systemd (Type=notify): READY=1 only once the listener is up
	 * and Docker has answered; until then the loop probes Docker every
	 * second. STATUS= carries the request rate. */
	under_systemd = getenv("NOTIFY_SOCKET") != NULL;
	/* Start-up is over (the listener answers): hand back to the kernel
	 * the free pages the configuration's parse left inside the heap;
	 * glibc returns only the top of the heap by itself. Idle RSS
	 * -0.5 MiB without rules, -0.7 MiB with 1,000 (bench/NOTES.md
	 * section 13). */
	malloc_trim(0);
	clock_gettime(CLOCK_MONOTONIC, &last_t);
	last_warn = last_t.tv_sec;
	if (docker_up)
		sd_notify(0, "READY=1\nSTATUS=serving");
	else
		sd_notifyf(0, "STATUS=listening; waiting for Docker at %s", settings.socket);
	if (console_mode) {
		enum dpp_console_exit why;
		char store_path[4096];

		if (st.store != NULL &&
		    dpp_store_resolve_path(&settings, dpp_config_path(st.cfg), store_path,
					   sizeof(store_path)))
			dpp_console_set_store(console, store_path);
		why = dpp_console_run(console, ctl, &sigs);
		if (why == DPP_CONSOLE_FAILED)
			dpp_log_error("the console could not run; stopping (use --headless without a terminal)");
		else if (why == DPP_CONSOLE_QUIT)
			dpp_log_info("console: the operator quit; stopping (in-flight requests get up to %d s)",
				     GRACE_MS / 1000);
		rc = why == DPP_CONSOLE_FAILED ? EX_SOFTWARE : 0;
		goto stop;
	}
	for (;;) {
		struct timespec tick = {!under_systemd ? 3600 : docker_up ? 5 : 1, 0};
		int sig = sigtimedwait(&sigs, NULL, &tick);

		if (sig < 0) {
			if (errno == EAGAIN) {
				struct timespec now;
				const char *w = dpp_runtime_exposure_warning(st.rt);

				clock_gettime(CLOCK_MONOTONIC, &now);
				/* Repeat the exposure warning hourly, if there is one. */
				if (now.tv_sec - last_warn >= 3600) {
					last_warn = now.tv_sec;
					if (w != NULL)
						log_lines(DPP_LOG_WARN, "", w);
				}
				if (!docker_up && under_systemd &&
				    probe_docker(settings.socket, docker_desc, sizeof(docker_desc))) {
					docker_up = 1;
					dpp_log_info("Docker answers at %s (%s): ready", settings.socket,
						     docker_desc);
					sd_notify(0, "READY=1");
				}
				if (docker_up && under_systemd)
					notify_status(&st, &last_n, &last_t);
				continue;
			}
			if (errno == EINTR)
				continue;
			dpp_log_error("waiting for signals failed: %s", strerror(errno));
			break;
		}
		if (sig == SIGHUP) {
			char *why = NULL;

			sd_notify(0, "RELOADING=1\nSTATUS=reloading the configuration");
			/* Through the control's lock: never alongside a control
			 * socket change. */
			dpp_control_reload_as(ctl, "sighup", NULL, &why);
			free(why);
			sd_notify(0, docker_up ? "READY=1\nSTATUS=serving" : "STATUS=waiting for Docker");
			continue;
		}
		dpp_log_info("%s: stopping (in-flight requests get up to %d s)",
			     sig == SIGTERM ? "SIGTERM" : "SIGINT", GRACE_MS / 1000);
		sd_notify(0, "STOPPING=1\nSTATUS=stopping");
		break;
	}
	rc = 0;
stop:
	{
		int cut;

		/* bye to attached clients; the socket file goes (clean stop). */
		dpp_ctlsrv_stop(ctlsrv);
		ctlsrv = NULL;
		/* The audit writer drains what the last requests published. */
		cut = dpp_server_stop_accepting(st.srv, GRACE_MS);
		dpp_audit_stop(st.audit);
		st.audit = NULL;
		dpp_config_set_version_hook(NULL, NULL);
		dpp_store_stop(st.store);
		st.store = NULL;
		dpp_server_free(st.srv);
		st.srv = NULL;
		if (cut > 0)
			dpp_log_warn("%d request(s) were cut at shutdown", cut);
	}
	dpp_log_info("stopped");
cleanup:
	if (probe.started)
		pthread_join(probe.thread, NULL);
	dpp_control_free(ctl);
	if (console != NULL) {
		dpp_log_set_sink(NULL, NULL);
		dpp_console_free(console);
	}
	if (saved_stderr >= 0) {
		dup2(saved_stderr, STDERR_FILENO);
		close(saved_stderr);
	}
	if (log_file != NULL) {
		dpp_log_set_stream(NULL);
		fclose(log_file);
		if (rc != 0)
			fprintf(stderr, "docker-policy-proxy: stopped with an error; see %s\n", log_path);
	}
	free(cfg_text);
	dpp_tls_creds_unref(tls_creds);
	dpp_runtime_unref(st.rt);
	dpp_config_free(st.cfg);
	return rc;
}
