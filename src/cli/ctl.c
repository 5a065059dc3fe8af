/* `docker-policy-proxy ctl ...` and `docker-policy-proxy console` (ctl.h). */
#define _GNU_SOURCE 1
#include "ctl.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "backend_remote.h"
#include "client.h"
#include "console.h"
#include "ctlsock.h"
#include "dpp/config.h"
#include "model.h"
#include "proto.h"
#include "store.h"

#define PROG "docker-policy-proxy"

static int exit_for(const struct dpp_ctl_error *e)
{
	return dpp_ctl_exit_code(e);
}

static int report(const char *what, const struct dpp_ctl_error *e)
{
	if (e->kind == DPP_CTL_REFUSED && e->code[0] != '\0')
		fprintf(stderr, PROG " %s: refused (%s): %s\n", what, e->code, e->message);
	else
		fprintf(stderr, PROG " %s: %s\n", what, e->message);
	return exit_for(e);
}

static int find_socket(const char *what, const char *flag, const char *config, char *out, size_t len)
{
	char msg[1200];
	int r = dpp_ctlsock_resolve(flag, config, out, len, msg, sizeof(msg));

	if (r == 1) {
		fprintf(stderr, PROG " %s: %s\n", what, msg);
		return EX_UNAVAILABLE;
	}
	if (r < 0) {
		fprintf(stderr, PROG " %s: the control socket path is too long\n", what);
		return EX_USAGE;
	}
	return 0;
}

/* ---- ctl ------------------------------------------------------------------------ */

static void ctl_usage(FILE *out)
{
	fprintf(out,
		"Usage: " PROG " ctl [OPTIONS] COMMAND\n"
		"\n"
		"Steers a running daemon over its control socket (docs/control.md).\n"
		"\n"
		"Commands:\n"
		"  status                 listen address, Docker, config version, counters, subscribers\n"
		"  rules                  rules in evaluation order with their hit counts\n"
		"  limits                 rate-limit buckets and authentication lockouts\n"
		"  reload                 re-read the configuration file (as SIGHUP)\n"
		"  dry-run NAME on|off    set rule NAME's dry_run (written to the file, recorded)\n"
		"  events [--kind KIND]...  follow request events until interrupted (kinds: request,\n"
		"                         deny, dry_run, auth_failure, lockout, rate_limited, error,\n"
		"                         stream_open, stream_close)\n"
		"\n"
		"Options:\n"
		"      --control-socket PATH  the socket (default: global.control_socket of --config,\n"
		"                         else /run/docker-policy-proxy/control.sock as root, else\n"
		"                         control.sock beside the store file)\n"
		"  -c, --config PATH      configuration naming the socket\n"
		"      --json             machine-readable output (events: one JSON object per line)\n"
		"      --timeout MS       per request (default %d)\n"
		"  -h, --help             this text\n"
		"\n"
		"Exit status: 0 ok, 64 usage, 65 the daemon refused the request (conflict, invalid,\n"
		"not_found, no_config, busy), 69 no daemon answers (or it stopped), 70 internal error in the daemon,\n"
		"76 protocol error, 77 permission denied.\n",
		DPP_CTL_TIMEOUT_MS);
}

struct ctl {
	const char *sock_flag, *config;
	int json, timeout_ms;
	char path[4096];
	struct dpp_ctlclient *cl;
	struct dpp_ctl_peer peer;
	char obo[64];
};

static void print_json(const cJSON *o)
{
	char *s = cJSON_Print(o);

	if (s != NULL) {
		fputs(s, stdout);
		fputc('\n', stdout);
	}
	free(s);
}

/* The response without its envelope. */
static void strip(cJSON *resp)
{
	cJSON_DeleteItemFromObjectCaseSensitive(resp, "id");
	cJSON_DeleteItemFromObjectCaseSensitive(resp, "ok");
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cmd_status(struct ctl *x)
{
	struct dpp_ctl_error e;
	struct dpp_control_status s;
	struct dpp_proto_sub *subs = NULL;
	size_t n = 0;
	long pid = 0;
	cJSON *resp = NULL;
	char up[64];

	if (dpp_ctlclient_request(x->cl, "status", NULL, x->timeout_ms, &resp, &e) != 0)
		return report("ctl status", &e);
	strip(resp);
	if (x->json) {
		print_json(resp);
		cJSON_Delete(resp);
		return EX_OK;
	}
	if (dpp_proto_status_from_json(cJSON_GetObjectItem(resp, "status"), &s, &pid) != 0 ||
	    dpp_proto_subs_from_json(cJSON_GetObjectItem(resp, "subscribers"), &subs, &n) != 0) {
		cJSON_Delete(resp);
		fprintf(stderr, PROG " ctl status: the daemon's status is malformed\n");
		return EX_PROTOCOL;
	}
	cJSON_Delete(resp);
	tui_fmt_ms((uint64_t)(wall_ms() - s.started_ms > 0 ? wall_ms() - s.started_ms : 0), up,
		   sizeof(up));
	printf("daemon       PID %ld, %s %s, up %s\n", pid != 0 ? pid : x->peer.pid,
	       x->peer.server[0] ? x->peer.server : PROG, x->peer.version, up);
	printf("socket       %s (you are %s)\n", x->path, x->peer.user[0] ? x->peer.user : "?");
	printf("listen       %s%s\n", s.tls ? "https://" : "", s.listen);
	printf("upstream     %s (%s)\n", s.upstream, s.docker_up ? s.docker : "Docker not answering");
	printf("auth         %s\n", s.auth);
	printf("config       %s, version %.12s\n", s.config_path[0] ? s.config_path : "(built-in defaults)",
	       s.version[0] ? s.version : "-");
	printf("rules        %zu, %zu dry-run, default %s\n", s.n_rules, s.n_dry_run,
	       s.default_deny ? "deny" : "allow");
	printf("requests     %llu finished, %llu denied, %d open streams\n",
	       (unsigned long long)s.requests, (unsigned long long)s.denials, s.streams);
	for (size_t i = 0; i < n; i++)
		printf("%s%s (%llu events dropped)\n", i == 0 ? "subscribers  " : "             ",
		       subs[i].name, (unsigned long long)subs[i].dropped);
	if (n == 0)
		printf("subscribers  none\n");
	free(subs);
	return EX_OK;
}

static int cmd_rules(struct ctl *x)
{
	struct dpp_ctl_error e;
	struct dpp_control_rule *r = NULL;
	size_t n = 0;
	cJSON *resp = NULL;

	if (dpp_ctlclient_request(x->cl, "rules", NULL, x->timeout_ms, &resp, &e) != 0)
		return report("ctl rules", &e);
	strip(resp);
	if (x->json) {
		print_json(resp);
		cJSON_Delete(resp);
		return EX_OK;
	}
	if (dpp_proto_rules_from_json(cJSON_GetObjectItem(resp, "rules"), &r, &n) != 0) {
		cJSON_Delete(resp);
		fprintf(stderr, PROG " ctl rules: the daemon's rules are malformed\n");
		return EX_PROTOCOL;
	}
	cJSON_Delete(resp);
	/* 80 columns: 28 + 5 + 13 + 4 + 9 + 9 + 10 = 78 */
	printf("%-27s %4s %-12s %3s %8s %8s %10s\n", "RULE", "PRIO", "ACTION", "DRY", "HITS", "DENIED",
	       "LAST HIT");
	for (size_t i = 0; i < n; i++) {
		char last[32] = "never";

		if (r[i].last_hit_ago_ms >= 0) {
			char t[24];

			tui_fmt_ms((uint64_t)r[i].last_hit_ago_ms, t, sizeof(t));
			snprintf(last, sizeof(last), "%s ago", t);
		}
		printf("%-27.27s %4ld %-12.12s %3s %8llu %8llu %10s\n", r[i].name, r[i].priority,
		       r[i].action, r[i].dry_run ? "yes" : "-", (unsigned long long)r[i].hits,
		       (unsigned long long)(r[i].dry_run ? r[i].dry_runs : r[i].denials), last);
	}
	if (n == 0)
		printf("(no rules)\n");
	free(r);
	return EX_OK;
}

static int cmd_limits(struct ctl *x)
{
	struct dpp_ctl_error e;
	struct dpp_ratelimit_state *b = NULL;
	struct dpp_lockout_state *l = NULL;
	size_t nb = 0, nl = 0;
	cJSON *resp = NULL;

	if (dpp_ctlclient_request(x->cl, "limits", NULL, x->timeout_ms, &resp, &e) != 0)
		return report("ctl limits", &e);
	strip(resp);
	if (x->json) {
		print_json(resp);
		cJSON_Delete(resp);
		return EX_OK;
	}
	if (dpp_proto_buckets_from_json(cJSON_GetObjectItem(resp, "buckets"), &b, &nb) != 0 ||
	    dpp_proto_lockouts_from_json(cJSON_GetObjectItem(resp, "lockouts"), &l, &nl) != 0) {
		free(b);
		cJSON_Delete(resp);
		fprintf(stderr, PROG " ctl limits: the daemon's answer is malformed\n");
		return EX_PROTOCOL;
	}
	cJSON_Delete(resp);
	printf("Rate-limit buckets: %zu\n", nb);
	if (nb > 0)
		printf("  %-22s %-20s %9s %8s %9s %8s\n", "RULE", "CLIENT", "TOKENS", "PERIOD", "PENALTY",
		       "REFUSED");
	for (size_t i = 0; i < nb; i++) {
		char per[24], pen[24] = "-", tok[24];

		tui_fmt_ms(b[i].period_ms, per, sizeof(per));
		if (b[i].penalty_remaining_ms > 0)
			tui_fmt_ms(b[i].penalty_remaining_ms, pen, sizeof(pen));
		snprintf(tok, sizeof(tok), "%.1f/%u", b[i].tokens, b[i].capacity);
		printf("  %-22.22s %-20.20s %9s %8s %9s %8llu\n", b[i].rule, b[i].ip, tok, per, pen,
		       (unsigned long long)b[i].refused);
	}
	printf("Authentication lockouts: %zu\n", nl);
	if (nl > 0)
		printf("  %-40s %8s %12s\n", "CLIENT", "FAILURES", "LOCKED FOR");
	for (size_t i = 0; i < nl; i++) {
		char rem[24] = "-";

		if (l[i].remaining_ms > 0)
			tui_fmt_ms((uint64_t)l[i].remaining_ms, rem, sizeof(rem));
		printf("  %-40.40s %8u %12s\n", l[i].ip, l[i].failures, rem);
	}
	free(b);
	free(l);
	return EX_OK;
}

static int cmd_reload(struct ctl *x)
{
	struct dpp_ctl_error e;
	cJSON *resp = NULL;

	if (dpp_ctlclient_request(x->cl, "reload", NULL, x->timeout_ms, &resp, &e) != 0) {
		if (x->json) {
			cJSON *o = cJSON_CreateObject();

			cJSON_AddBoolToObject(o, "ok", 0);
			cJSON_AddStringToObject(o, "code", e.code);
			cJSON_AddStringToObject(o, "message", e.message);
			print_json(o);
			cJSON_Delete(o);
		}
		return report("ctl reload", &e);
	}
	strip(resp);
	if (x->json) {
		cJSON_AddBoolToObject(resp, "ok", 1);
		print_json(resp);
	} else {
		printf("reloaded: the configuration file is live in PID %ld\n", x->peer.pid);
	}
	cJSON_Delete(resp);
	return EX_OK;
}

static int cmd_dry_run(struct ctl *x, const char *rule, const char *onoff)
{
	struct dpp_ctl_error e;
	cJSON *resp = NULL, *args;
	const cJSON *v;
	int on;

	if (strcmp(onoff, "on") == 0 || strcmp(onoff, "true") == 0)
		on = 1;
	else if (strcmp(onoff, "off") == 0 || strcmp(onoff, "false") == 0)
		on = 0;
	else {
		fprintf(stderr, PROG " ctl dry-run: say on or off, not \"%s\"\n", onoff);
		return EX_USAGE;
	}
	args = cJSON_CreateObject();
	if (args == NULL || cJSON_AddStringToObject(args, "rule", rule) == NULL ||
	    cJSON_AddBoolToObject(args, "on", on) == NULL) {
		cJSON_Delete(args);
		fprintf(stderr, PROG " ctl dry-run: out of memory\n");
		return EX_OSERR;
	}
	if (dpp_ctlclient_request(x->cl, "dry_run", args, x->timeout_ms, &resp, &e) != 0)
		return report("ctl dry-run", &e);
	strip(resp);
	v = cJSON_GetObjectItem(resp, "version");
	if (x->json)
		print_json(resp);
	else
		printf("rule %s: dry-run %s, live now (config version %.12s)\n", rule, on ? "on" : "off",
		       cJSON_IsString(v) ? v->valuestring : "?");
	cJSON_Delete(resp);
	return EX_OK;
}

static void print_event(const struct dpp_event *ev)
{
	char when[32];
	time_t t = (time_t)(ev->time_ms / 1000);
	struct tm tm;
	char st[16];

	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	if (ev->status > 0)
		snprintf(st, sizeof(st), "%d", ev->status);
	else
		snprintf(st, sizeof(st), "-");
	printf("%s %-12s %3s %-6s %-30s %s%s%s\n", when, dpp_event_kind_name(ev->kind), st, ev->method,
	       ev->path,
	       ev->rule_name[0] ? ev->rule_name : "", ev->rule_name[0] ? " " : "",
	       ev->identity[0] ? ev->identity : "");
}

static int cmd_events(struct ctl *x, const char *const *kinds, size_t n_kinds)
{
	struct dpp_ctl_error e;
	struct dpp_ctlsub *sub;
	sigset_t mask;
	int sfd, rc = EX_OK;

	for (size_t i = 0; i < n_kinds; i++) {
		enum dpp_event_kind k;

		if (dpp_proto_kind_parse(kinds[i], &k) != 0) {
			fprintf(stderr, PROG " ctl events: unknown event kind \"%s\" (see ctl --help)\n",
				kinds[i]);
			return EX_USAGE;
		}
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	/* Interrupting is how this command ends, also when started in the
	 * background by a shell (which leaves SIGINT ignored: an ignored
	 * signal never reaches a signalfd). */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0 ||
	    (sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		fprintf(stderr, PROG " ctl events: signals: %s\n", strerror(errno));
		return EX_OSERR;
	}
	sub = dpp_ctlsub_open(x->path, "ctl", x->obo, kinds, n_kinds, 0, x->timeout_ms, &e);
	if (sub == NULL) {
		close(sfd);
		return report("ctl events", &e);
	}
	for (;;) {
		struct pollfd p[2] = {{.fd = dpp_ctlsub_fd(sub), .events = POLLIN},
				      {.fd = sfd, .events = POLLIN}};
		struct dpp_ctlsub_msg m;
		int n;

		if (poll(p, 2, -1) < 0 && errno != EINTR) {
			rc = EX_OSERR;
			break;
		}
		if (p[1].revents & POLLIN)
			break; /* interrupted: the normal end */
		while ((n = dpp_ctlsub_next(sub, &m, &e)) == 1) {
			if (m.type == DPP_CTLSUB_EVENT) {
				if (x->json) {
					char *s = cJSON_PrintUnformatted(m.json);

					if (s != NULL)
						printf("%s\n", s);
					free(s);
				} else {
					print_event(&m.ev);
				}
			} else if (m.type == DPP_CTLSUB_DROPPED) {
				fprintf(stderr, PROG " ctl events: %llu events dropped so far (not read fast "
						"enough)\n",
					(unsigned long long)m.dropped);
			} else if (m.type == DPP_CTLSUB_BYE) {
				fprintf(stderr, PROG " ctl events: the daemon (PID %ld) stopped%s%s\n",
					x->peer.pid, m.line[0] ? ": " : "", m.line);
			}
		}
		fflush(stdout);
		if (n < 0) {
			if (e.kind != DPP_CTL_GONE)
				fprintf(stderr, PROG " ctl events: %s\n", e.message);
			rc = exit_for(&e);
			break;
		}
	}
	dpp_ctlsub_close(sub);
	close(sfd);
	return rc;
}

int dpp_cli_ctl(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"control-socket", required_argument, NULL, 'S'},
		{"config", required_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'j'},
		{"kind", required_argument, NULL, 'k'},
		{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct ctl x;
	struct dpp_ctl_error e;
	const char *kinds[32];
	size_t n_kinds = 0;
	const char *cmd;
	int opt, rc;

	memset(&x, 0, sizeof(x));
	x.timeout_ms = DPP_CTL_TIMEOUT_MS;
	optind = 1;
	/* Options may come before or after the command (GNU permutation). */
	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'S': x.sock_flag = optarg; break;
		case 'c': x.config = optarg; break;
		case 'j': x.json = 1; break;
		case 'k':
			if (n_kinds == sizeof(kinds) / sizeof(kinds[0])) {
				fprintf(stderr, PROG " ctl: too many --kind\n");
				return EX_USAGE;
			}
			kinds[n_kinds++] = optarg;
			break;
		case 't': {
			char *end = NULL;
			long v = strtol(optarg, &end, 10);

			if (end == optarg || *end != '\0' || v < 1 || v > 3600000) {
				fprintf(stderr, PROG " ctl: --timeout takes milliseconds (1..3600000)\n");
				return EX_USAGE;
			}
			x.timeout_ms = (int)v;
			break;
		}
		case 'h': ctl_usage(stdout); return EX_OK;
		default: ctl_usage(stderr); return EX_USAGE;
		}
	}
	if (optind >= argc) {
		ctl_usage(stderr);
		return EX_USAGE;
	}
	cmd = argv[optind];
	if (strcmp(cmd, "status") != 0 && strcmp(cmd, "rules") != 0 && strcmp(cmd, "limits") != 0 &&
	    strcmp(cmd, "reload") != 0 && strcmp(cmd, "events") != 0 && strcmp(cmd, "dry-run") != 0) {
		fprintf(stderr, PROG " ctl: unknown command \"%s\" (see ctl --help)\n", cmd);
		return EX_USAGE;
	}
	if ((strcmp(cmd, "dry-run") == 0) != (argc - optind == 3) ||
	    (strcmp(cmd, "dry-run") != 0 && argc - optind != 1)) {
		fprintf(stderr, PROG " ctl %s: wrong number of arguments (see ctl --help)\n", cmd);
		return EX_USAGE;
	}
	if (n_kinds > 0 && strcmp(cmd, "events") != 0) {
		fprintf(stderr, PROG " ctl %s: --kind is for ctl events\n", cmd);
		return EX_USAGE;
	}
	rc = find_socket("ctl", x.sock_flag, x.config, x.path, sizeof(x.path));
	if (rc != 0)
		return rc;
	dpp_ctl_on_behalf_of(x.obo, sizeof(x.obo));
	memset(&e, 0, sizeof(e));
	x.cl = dpp_ctlclient_connect(x.path, "ctl", x.obo, x.timeout_ms, &x.peer, &e);
	if (x.cl == NULL)
		return report("ctl", &e);
	if (strcmp(cmd, "status") == 0)
		rc = cmd_status(&x);
	else if (strcmp(cmd, "rules") == 0)
		rc = cmd_rules(&x);
	else if (strcmp(cmd, "limits") == 0)
		rc = cmd_limits(&x);
	else if (strcmp(cmd, "reload") == 0)
		rc = cmd_reload(&x);
	else if (strcmp(cmd, "dry-run") == 0)
		rc = cmd_dry_run(&x, argv[optind + 1], argv[optind + 2]);
	else
		rc = cmd_events(&x, kinds, n_kinds);
	dpp_ctlclient_close(x.cl);
	return rc;
}

/* ---- console ---------------------------------------------------------------------- */

static void console_usage(FILE *out)
{
	fprintf(out,
		"Usage: " PROG " console [--control-socket PATH] [--config PATH] [--read-only]\n"
		"\n"
		"Attaches the operator console to a running daemon (started with --headless, e.g.\n"
		"under systemd) over its control socket. q detaches and leaves the daemon running.\n"
		"\n"
		"      --control-socket PATH  the socket (default: as for ctl, see ctl --help)\n"
		"  -c, --config PATH      configuration naming the socket\n"
		"      --read-only        refuse every key that changes the configuration\n"
		"  -h, --help             this text\n"
		"\n"
		"Exit status: 0 detached (or the daemon stopped and q was pressed), 64 usage or no\n"
		"terminal, 69 no daemon answers, 77 permission denied.\n");
}

/* The store file for Audit and History: global.store.path of the daemon's
 * configuration (its path from status), when this user can read it. */
static void console_store(struct dpp_console *con, struct tui_backend *be, const char *config)
{
	struct dpp_control_snapshot *s = be->ops->snapshot(be);
	struct dpp_config_flags flags;
	struct dpp_config *cfg = NULL;
	char store[4096];

	memset(&flags, 0, sizeof(flags));
	flags.config_path = s != NULL && s->status.config_path[0] ? s->status.config_path : config;
	if (flags.config_path != NULL && dpp_config_load(&flags, &cfg, NULL) == 0 &&
	    dpp_store_resolve_path(dpp_config_settings(cfg), dpp_config_path(cfg), store,
				   sizeof(store)) &&
	    access(store, R_OK) == 0)
		dpp_console_set_store(con, store);
	dpp_config_free(cfg);
	if (s != NULL)
		be->ops->snapshot_free(be, s);
}

int dpp_cli_console(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"control-socket", required_argument, NULL, 'S'},
		{"config", required_argument, NULL, 'c'},
		{"read-only", no_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *sock_flag = NULL, *config = NULL;
	struct dpp_console_options co;
	struct dpp_console *con = NULL;
	struct tui_backend *be = NULL;
	struct dpp_ctl_error e;
	char path[4096];
	enum dpp_console_exit why;
	FILE *quiet;
	sigset_t sigs;
	long pid;
	int opt, rc, gone;

	memset(&co, 0, sizeof(co));
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'S': sock_flag = optarg; break;
		case 'c': config = optarg; break;
		case 'r': co.read_only = 1; break;
		case 'h': console_usage(stdout); return EX_OK;
		default: console_usage(stderr); return EX_USAGE;
		}
	}
	if (optind != argc) {
		console_usage(stderr);
		return EX_USAGE;
	}
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, PROG " console: needs a terminal (scripts: " PROG " ctl)\n");
		return EX_USAGE;
	}
	rc = find_socket("console", sock_flag, config, path, sizeof(path));
	if (rc != 0)
		return rc;
	memset(&e, 0, sizeof(e));
	be = tui_backend_remote(path, &e);
	if (be == NULL)
		return report("console", &e);
	co.history = 10000;
	con = dpp_console_create(&co);
	if (con == NULL) {
		be->ops->destroy(be);
		fprintf(stderr, PROG " console: out of memory\n");
		return EX_OSERR;
	}
	console_store(con, be, config);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	signal(SIGPIPE, SIG_IGN);
	if (sigprocmask(SIG_BLOCK, &sigs, NULL) != 0) {
		fprintf(stderr, PROG " console: signals: %s\n", strerror(errno));
		rc = EX_OSERR;
		goto cleanup;
	}
	/* Our own log lines (an apply, a reconnect) go to the Log view only,
	 * never over the screen (this process has no other threads). */
	quiet = fopen("/dev/null", "w");
	if (quiet != NULL)
		dpp_log_set_stream(quiet);
	dpp_log_set_sink(dpp_console_log_sink, con);
	why = dpp_console_run_backend(con, be, &sigs);
	dpp_log_set_sink(NULL, NULL);
	dpp_log_set_stream(NULL);
	if (quiet != NULL)
		fclose(quiet);
	pid = be->pid;
	gone = be->ops->gone(be);
	if (why == DPP_CONSOLE_FAILED && be->fail[0] != '\0') {
		/* The daemon refused the subscription (busy: its bus is full). */
		fprintf(stderr, PROG " console: %s\n", be->fail);
		rc = be->fail_exit != 0 ? be->fail_exit : EX_SOFTWARE;
	} else if (why == DPP_CONSOLE_FAILED) {
		fprintf(stderr, PROG " console: the console could not run (TERM=%s)\n",
			getenv("TERM") != NULL ? getenv("TERM") : "");
		rc = EX_SOFTWARE;
	} else if (why != DPP_CONSOLE_HANGUP) {
		if (gone)
			printf("the daemon (PID %ld) stopped\n", pid);
		else
			printf("detached from " PROG " (PID %ld); it keeps running\n", pid);
		rc = EX_OK;
	} else {
		rc = EX_OK;
	}
cleanup:
	dpp_console_free(con);
	be->ops->destroy(be);
	return rc;
}
