/* Composition root: flags, modes; wires the proxy (and later store and tui).
 * Exit codes follow sysexits(3). */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "dpp/audit.h"
#include "dpp/config.h"
#include "dpp/log.h"
#include "dpp/metrics.h"
#include "dpp/presets.h"
#include "dpp/runtime.h"
#include "dpp/server.h"
#include "dpp/tls.h"
#include "dpp/upstream.h"
#include "explain.h"
#include "store.h"

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
	struct dpp_store *store;
	char socket[DPP_SOCKET_PATH_MAX];
	enum dpp_source socket_source;
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
		"      --headless        run without the operator console, logging to stderr\n"
		"      --check-config    print the effective settings and exit (0 valid, 1 errors)\n"
		"      --list-presets    list the built-in presets and their vectors, and exit\n"
		"  -h, --help            this text\n"
		"  -V, --version         print the version\n"
		"\n"
		"\n"
		"Subcommands over the SQLite store (see docker-policy-proxy history --help):\n"
		"  audit [FILTERS]       audit events: who tried what, when, and what the rules said\n"
		"  history [show|diff|rollback|confirm]  config versions, diffs, rollback\n"
		"\n"
		"Signals: SIGHUP reloads the configuration, SIGTERM/SIGINT stop gracefully.\n");
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
	struct dpp_upstream *up = dpp_upstream_create(socket_path, 0);
	const char *err = "out of memory";
	char *body = NULL;
	int status = -1, ok = 0;

	if (up != NULL)
		status = dpp_upstream_get(up, "/version", 64 * 1024, PROBE_TIMEOUT_MS, &body, &err);
	if (status == 200) {
		cJSON *doc = cJSON_Parse(body);
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "Version");
		const cJSON *api = cJSON_GetObjectItemCaseSensitive(doc, "ApiVersion");

		snprintf(desc, len, "Docker %s, API %s",
			 cJSON_IsString(v) ? v->valuestring : "?",
			 cJSON_IsString(api) ? api->valuestring : "?");
		cJSON_Delete(doc);
		ok = 1;
	} else if (status > 0) {
		snprintf(desc, len, "Docker answered /version with HTTP %d", status);
	} else {
		snprintf(desc, len, "Docker not answering yet: %s", err);
	}
	free(body);
	dpp_upstream_free(up);
	return ok;
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
	if (running != NULL)
		dpp_config_keep_restart_only(cfg, running, &eff);
	rc = dpp_runtime_build(cfg, &eff, rt, errors, &warnings);
	if (warnings != NULL)
		log_lines(DPP_LOG_WARN, "config: ", warnings);
	free(warnings);
	return rc;
}

static void audit_apply(struct proxy_state *st, const struct dpp_settings *s, int reopen)
{
	const char *err = NULL;

	if (strcmp(s->audit_log, st->audit_path) == 0) {
		if (reopen && st->audit != NULL)
			dpp_audit_reopen(st->audit); /* logrotate moved the file */
		return;
	}
	dpp_audit_stop(st->audit);
	st->audit = NULL;
	st->audit_path[0] = '\0';
	if (s->audit_log[0] == '\0')
		return;
	{
		/* Refusals before the rules (400 framing/target/body, 413, 502)
		 * are audited too: probes must leave a trace. */
		struct dpp_audit_options ao = {
			.path = s->audit_log,
			.capacity = AUDIT_QUEUE,
			.kinds = DPP_AUDIT_KINDS_DEFAULT | DPP_BUS_KIND(DPP_EVENT_ERROR),
		};

		st->audit = dpp_audit_start_with(st->bus, &ao, &err);
	}
	if (st->audit == NULL) {
		dpp_log_error("audit: cannot write %s: %s (%s); audit events are NOT recorded",
			      s->audit_log, err != NULL ? err : "error", strerror(errno));
		return;
	}
	snprintf(st->audit_path, sizeof(st->audit_path), "%s", s->audit_log);
	dpp_log_info("audit: writing %s", s->audit_log);
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
static void notify_version(const char *origin, const char *path, const char *text, size_t len,
			   int applied, const char *errors)
{
	struct dpp_config_version v = {
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
static void attach_subscribers(void *arg, struct dpp_bus *bus, struct dpp_metrics *m)
{
	struct proxy_state *st = arg;

	st->bus = bus;
	st->metrics = m;
	store_start(st, &st->start_settings);
	notify_version("startup", dpp_config_path(st->cfg), st->start_text, st->start_text_len, 1,
		       NULL);
	audit_apply(st, &st->start_settings, 0);
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
static void reload(struct proxy_state *st)
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

	dpp_log_info("SIGHUP: reloading the configuration");
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
	if (restart != NULL)
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
	notify_version("sighup", dpp_config_path(next), text, text_len, 1, NULL);
	{
		long long ret, req;

		store_retention(eff, &ret, &req);
		dpp_store_apply(st->store, eff->store_requests, ret, req);
	}
	free(text);
	return;
refused:
	dpp_log_error("reload refused: the running configuration stays in effect");
	/* logrotate's SIGHUP must re-open the audit file all the same. */
	if (st->audit != NULL)
		dpp_audit_reopen(st->audit);
	dpp_metrics_config_reload(dpp_server_metrics(st->srv), 0);
	notify_version("sighup", text != NULL ? path : NULL, text, text_len, 0,
		       tls_err != NULL ? tls_err : errors);
	free(text);
	free(errors);
	free(tls_err);
	dpp_runtime_unref(rt);
	dpp_config_free(next);
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
	int headless = 0, check = 0, opt, rc = EX_SOFTWARE, docker_up;
	sigset_t sigs;

	/* `docker-policy-proxy audit ...` / `history ...`: the store's CLI. */
	if (argc > 1 && dpp_store_cli_is_command(argv[1]))
		return dpp_store_cli_main(argc - 1, argv + 1);
	memset(&st, 0, sizeof(st));
	if (argc > 1 && strcmp(argv[1], "explain") == 0)
		return dpp_cli_explain(argc - 1, argv + 1);
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
	if (check) {
		dpp_config_print(st.cfg, stdout);
		printf("# upstream socket: %s (%s)\n", settings.socket,
		       source_name(settings.socket_source));
		dpp_runtime_print(st.rt, stdout);
		rc = 0;
		goto cleanup;
	}
	if (!headless && isatty(STDOUT_FILENO))
		dpp_log_info("the operator console is not part of this build yet; running headless");

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

	docker_up = probe_docker(settings.socket, docker_desc, sizeof(docker_desc));
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
	opts.attach = attach_subscribers;
	opts.detach = detach_subscribers;
	opts.attach_arg = &st;
	st.start_settings = settings;
	st.start_text = cfg_text;
	st.start_text_len = cfg_text_len;
	if (dpp_server_start(&opts, &st.srv, &err) != 0) {
		fprintf(stderr, "docker-policy-proxy: %s\n", err != NULL ? err : "cannot start");
		free(err);
		rc = EX_OSERR;
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

	for (;;) {
		/* Wake hourly to repeat the exposure warning, if there is one. */
		struct timespec hour = {3600, 0};
		int sig = sigtimedwait(&sigs, NULL, &hour);

		if (sig < 0) {
			if (errno == EAGAIN) {
				const char *w = dpp_runtime_exposure_warning(st.rt);

				if (w != NULL)
					log_lines(DPP_LOG_WARN, "", w);
				continue;
			}
			if (errno == EINTR)
				continue;
			dpp_log_error("waiting for signals failed: %s", strerror(errno));
			break;
		}
		if (sig == SIGHUP) {
			reload(&st);
			continue;
		}
		dpp_log_info("%s: stopping (in-flight requests get up to %d s)",
			     sig == SIGTERM ? "SIGTERM" : "SIGINT", GRACE_MS / 1000);
		break;
	}
	{
		int cut;

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
	rc = 0;
cleanup:
	free(cfg_text);
	dpp_tls_creds_unref(tls_creds);
	dpp_runtime_unref(st.rt);
	dpp_config_free(st.cfg);
	return rc;
}
