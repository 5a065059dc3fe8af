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

#include "dpp/config.h"
#include "dpp/log.h"
#include "dpp/server.h"
#include "dpp/upstream.h"

#define GRACE_MS 10000

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: docker-policy-proxy [OPTIONS]\n"
		"\n"
		"A policy proxy in front of the Docker Engine socket.\n"
		"\n"
		"Options:\n"
		"  -c, --config PATH     configuration file (default: $DOCKER_PROXY_CONFIG, else ./config.yaml)\n"
		"  -b, --bind ADDR       listen address (global.bind, default 127.0.0.1; \"::\" = all, dual-stack)\n"
		"  -p, --port N          listen port (global.port / DOCKER_PROXY_PORT, default 2376)\n"
		"  -s, --socket PATH     Docker socket (global.socket / DOCKER_SOCKET, default: auto-detect)\n"
		"  -l, --log-level LVL   trace, debug, info, warn, error (global.log_level / DOCKER_PROXY_LOG)\n"
		"      --headless        run without the operator console, logging to stderr\n"
		"      --check-config    print the effective settings and exit (0 valid, 1 errors)\n"
		"  -h, --help            this text\n"
		"  -V, --version         print the version\n"
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
		status = dpp_upstream_get(up, "/version", 64 * 1024, &body, &err);
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

static void reload(struct dpp_config **cfg, const struct dpp_config_flags *flags)
{
	struct dpp_config *next = NULL;
	char *errors = NULL, *restart = NULL;

	dpp_log_info("SIGHUP: reloading the configuration");
	if (dpp_config_load(flags, &next, &errors) != 0) {
		dpp_log_error("reload refused, keeping the running configuration: %s",
			      errors != NULL ? errors : "unknown error");
		free(errors);
		return;
	}
	restart = dpp_config_restart_needed(*cfg, next);
	if (restart != NULL)
		dpp_log_warn("these changes take effect only after a restart: %s", restart);
	apply_logging(dpp_config_settings(next));
	free(restart);
	dpp_config_free(*cfg);
	*cfg = next;
	dpp_log_info("configuration reloaded");
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
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct dpp_config_flags flags = {0};
	struct dpp_config *cfg = NULL;
	struct dpp_server *srv = NULL;
	struct dpp_server_options opts;
	struct dpp_settings settings;
	char *errors = NULL, *err = NULL;
	char docker_desc[256];
	int headless = 0, check = 0, opt, rc = EX_SOFTWARE, docker_up;
	sigset_t sigs;

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
		case 'l':
			flags.log_level = optarg;
			break;
		case 'H':
			headless = 1;
			break;
		case 'C':
			check = 1;
			break;
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

	if (dpp_config_load(&flags, &cfg, &errors) != 0) {
		fprintf(stderr, "%sdocker-policy-proxy: configuration refused\n",
			errors != NULL ? errors : "");
		free(errors);
		return check ? 1 : EX_CONFIG;
	}
	settings = *dpp_config_settings(cfg);
	apply_logging(&settings);
	if (resolve_socket(&settings) != 0) {
		fprintf(stderr, "docker-policy-proxy: no Docker socket configured or found; set "
				"global.socket, DOCKER_SOCKET or --socket\n");
		rc = check ? 1 : EX_UNAVAILABLE;
		goto cleanup;
	}
	if (check) {
		dpp_config_print(cfg, stdout);
		printf("# upstream socket: %s (%s)\n", settings.socket,
		       source_name(settings.socket_source));
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
	if (dpp_server_start(&opts, &srv, &err) != 0) {
		fprintf(stderr, "docker-policy-proxy: %s\n", err != NULL ? err : "cannot start");
		free(err);
		rc = EX_OSERR;
		goto cleanup;
	}
	dpp_log_info("docker-policy-proxy %s listening on %s%s%s:%d, upstream unix://%s (%s), auth: none",
		     DPP_VERSION, strchr(settings.bind, ':') ? "[" : "", settings.bind,
		     strchr(settings.bind, ':') ? "]" : "", settings.port, settings.socket,
		     docker_desc);
	if (!docker_up)
		dpp_log_warn("Docker is not answering at %s yet; requests get 502 until it does",
			     settings.socket);

	for (;;) {
		int sig = sigwaitinfo(&sigs, NULL);

		if (sig < 0) {
			if (errno == EINTR)
				continue;
			dpp_log_error("waiting for signals failed: %s", strerror(errno));
			break;
		}
		if (sig == SIGHUP) {
			reload(&cfg, &flags);
			continue;
		}
		dpp_log_info("%s: stopping (in-flight requests get up to %d s)",
			     sig == SIGTERM ? "SIGTERM" : "SIGINT", GRACE_MS / 1000);
		break;
	}
	{
		int cut = dpp_server_stop(srv, GRACE_MS);

		if (cut > 0)
			dpp_log_warn("%d request(s) were cut at shutdown", cut);
	}
	dpp_log_info("stopped");
	rc = 0;
cleanup:
	dpp_config_free(cfg);
	return rc;
}
