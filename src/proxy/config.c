/* Configuration: one schema table drives loading, validation, printing and
 * the restart check.
 *
 * Load order (later wins): built-in default, YAML file, environment, flag.
 * The file is parsed once into a libyaml document, which is kept (auth and
 * rules are read later by the policy engine, see config_yaml.h). Passes over
 * the document:
 *   1. walk every node once (iteratively, depth-limited, aliases visited
 *      once): interpolate ${VAR} in each scalar, reject duplicate keys;
 *   2. validate the sections against the schema and store the values.
 * Errors are collected (up to MAX_ERRORS), sorted by position and returned
 * together; any error refuses the whole configuration.
 *
 * Interpolation: "${NAME}" (NAME = [A-Za-z_][A-Za-z0-9_]*) is replaced by the
 * environment value, unset = empty string (a string, not a null: see
 * interpolate_node). "$${" is an escape for a literal
 * "${". Any other "$" is literal. An unterminated "${" or an invalid name
 * (including shell forms like ${A:-b}) is an error. Applies to every scalar,
 * mapping keys included, after parsing, so marks stay those of the file.
 *
 * An environment variable set to the empty string counts as unset (as for
 * DOCKER_PROXY_CONFIG), so `DOCKER_PROXY_PORT= cmd` does not override. */
#include "yaml_util.h"
#include "dpp/cidr.h"
#include "dpp/config.h"
#include "dpp/route.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <yaml.h>

#include "config_schema.h"
#include "config_yaml.h"

#define MAX_FILE_BYTES (1024 * 1024)
#define MAX_SCALAR_BYTES 65536 /* one scalar after interpolation */
#define MAX_VAR_NAME 255
#define MAX_ERRORS 100
#define MAX_DEPTH 64          /* nesting of mappings/sequences */
#define MAX_PATH_TEXT 256     /* dotted key in messages (truncated beyond) */
#define MAX_ERROR_TEXT 1024   /* one error line */

_Static_assert(sizeof(enum dpp_log_level) == sizeof(int), "enum stored as int");
_Static_assert(sizeof(enum dpp_log_format) == sizeof(int), "enum stored as int");

/* ---- schema ------------------------------------------------------------ */

static const char *const level_choices[] = {"trace", "debug", "info", "warn", "error", NULL};
static const char *const format_choices[] = {"text", "json", NULL};
static const char *const action_choices[] = {"allow", "deny", NULL};
static const char *const store_requests_choices[] = {"denied", "all", NULL};

int dpp_config_parse_duration(const char *text, long long *seconds)
{
	unsigned long long n = 0;
	const char *p = text;
	long long unit;

	if (text == NULL || *p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (unsigned long long)(*p - '0');
		if (n > 100000000ULL)
			return -1;
	}
	switch (*p) {
	case 's': unit = 1; break;
	case 'm': unit = 60; break;
	case 'h': unit = 3600; break;
	case 'd': unit = 86400; break;
	case 'w': unit = 7 * 86400; break;
	default: return -1;
	}
	if (p[1] != '\0' || n == 0 || n * (unsigned long long)unit > 100ULL * 365 * 86400)
		return -1;
	*seconds = (long long)n * unit;
	return 0;
}

static int check_duration(const char *value, size_t len, const char **why)
{
	long long s;

	(void)len;
	*why = "must be a duration such as 90d, 12h, 30m or 45s (at most 100 years)";
	return dpp_config_parse_duration(value, &s);
}

/* The metrics path is answered by the proxy instead of Docker, so it must
 * not shadow the API: "/" and anything starting with "/v" (the version
 * prefix, /version, /volumes) are refused, as the seed refuses them, and so
 * is any path dockerd routes without a version prefix for some method
 * (route.h's table: /_ping, /info, /containers/json, /debug/pprof/...), which
 * the unauthenticated metrics handler would take over. dockerd's OPTIONS
 * catch-all (/{anyroute:.*}, a CORS preflight) is not counted. */
static int check_metrics_path(const char *value, size_t len, const char **why)
{
	static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE"};

	if (len == 0 || value[0] != '/' || strpbrk(value, "?# \t") != NULL) {
		*why = "must be a URL path starting with / (no query, no spaces)";
		return -1;
	}
	if (len == 1 || value[1] == 'v') {
		*why = "must not be / or start with /v (it would hide Docker API paths)";
		return -1;
	}
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (dpp_route_endpoint(methods[i], value, 0) != NULL) {
			*why = "must not be a path Docker's API serves (it would hide that endpoint "
			       "behind the unauthenticated metrics handler)";
			return -1;
		}
	}
	return 0;
}

/* "10.0.0.0/8", "192.168.1.7", "fd00::/8", "::1". */
static int check_cidr(const char *value, size_t len, const char **why)
{
	struct dpp_cidr c;

	(void)len;
	*why = "must be an IP address or CIDR (10.0.0.0/8, fd00::/8)";
	return dpp_cidr_parse(value, &c);
}

static int check_ip_literal(const char *value, size_t len, const char **why)
{
	unsigned char addr[sizeof(struct in6_addr)];

	(void)len;
	if (inet_pton(AF_INET, value, addr) == 1 || inet_pton(AF_INET6, value, addr) == 1)
		return 0;
	*why = "must be an IPv4 or IPv6 address literal (no brackets, no host names)";
	return -1;
}

static int check_socket_path(const char *value, size_t len, const char **why)
{
	(void)value;
	if (len >= DPP_SOCKET_PATH_MAX) {
		*why = "must be a path shorter than 108 bytes";
		return -1;
	}
	return 0;
}

static int check_mode(const char *value, size_t len, const char **why)
{
	*why = "must be an octal permission string such as \"0660\"";
	if (len < 3 || len > 4 || strspn(value, "01234567") != len)
		return -1;
	return 0;
}

#define FIELD(m) offsetof(struct dpp_settings, m)
#define NO DPP_CONFIG_NO_FIELD

/* Adding a key: one row here (plus a member in struct dpp_settings when it is
 * a scalar the core reads directly; LIST/MAPPING rows are read from the kept
 * YAML with dpp_config_node). Parents must come before their children. */
static const struct dpp_config_row builtin_rows[] = {
	{{.key = "global", .type = DPP_CONFIG_MAPPING, .reloadable = 1,
	  .help = "Proxy-wide settings."},
	 NULL, NO, 0, NO},
	{{.key = "global.bind", .type = DPP_CONFIG_STRING, .def = DPP_DEFAULT_BIND,
	  .flag = "--bind",
	  .help = "Address to listen on: an IPv4 or IPv6 literal without brackets "
		  "(:: for all IPv6 and, where the system allows, IPv4)."},
	 check_ip_literal, FIELD(bind), sizeof(((struct dpp_settings *)0)->bind), NO},
	{{.key = "global.port", .type = DPP_CONFIG_INT, .def = "2376",
	  .env = "DOCKER_PROXY_PORT", .flag = "--port", .min = 1, .max = 65535,
	  .help = "TCP port to listen on."},
	 NULL, FIELD(port), sizeof(int), FIELD(port_source)},
	{{.key = "global.socket", .type = DPP_CONFIG_STRING, .def = "",
	  .env = "DOCKER_SOCKET", .flag = "--socket",
	  .help = "Docker Engine Unix socket to forward to; empty means auto-detect "
		  "(/var/run/docker.sock, /run/docker.sock; Docker Desktop paths on macOS)."},
	 check_socket_path, FIELD(socket), DPP_SOCKET_PATH_MAX, FIELD(socket_source)},
	{{.key = "global.log_level", .type = DPP_CONFIG_ENUM, .def = "info", .reloadable = 1,
	  .env = "DOCKER_PROXY_LOG", .flag = "--log-level", .choices = level_choices,
	  .help = "Least severe log level written: trace, debug, info, warn or error."},
	 NULL, FIELD(log_level), sizeof(int), NO},
	{{.key = "global.log_format", .type = DPP_CONFIG_ENUM, .def = "text", .reloadable = 1,
	  .choices = format_choices,
	  .help = "Log line format: text, or json (one JSON object per line)."},
	 NULL, FIELD(log_format), sizeof(int), NO},
	{{.key = "global.max_body_bytes", .type = DPP_CONFIG_INT, .def = "1048576",
	  .reloadable = 1, .min = 1024, .max = 1073741824,
	  .help = "Largest JSON request body read for the rules, in bytes; larger gets 413 and "
		  "nothing is forwarded. Tar and binary uploads stream and are not limited."},
	 NULL, FIELD(max_body_bytes), sizeof(int), NO},
	{{.key = "global.max_filter_bytes", .type = DPP_CONFIG_INT, .def = "16777216",
	  .reloadable = 1, .min = 1024, .max = 1073741824,
	  .help = "Largest JSON response a response_filter rule may rewrite, in bytes; larger "
		  "gets 502 (never passed on unfiltered)."},
	 NULL, FIELD(max_filter_bytes), sizeof(int), NO},
	{{.key = "global.default_action", .type = DPP_CONFIG_ENUM, .def = "allow", .reloadable = 1,
	  .choices = action_choices,
	  .help = "What happens when no rule decides: allow or deny."},
	 NULL, FIELD(default_action), sizeof(int), NO},
	{{.key = "global.audit_log", .type = DPP_CONFIG_STRING, .def = "", .reloadable = 1,
	  .help = "Audit file (JSON Lines: deny, dry_run, auth_failure, lockout, rate_limited); "
		  "empty: off. Re-opened on SIGHUP for logrotate."},
	 NULL, FIELD(audit_log), sizeof(((struct dpp_settings *)0)->audit_log), NO},
	{{.key = "global.log_file", .type = DPP_CONFIG_STRING, .def = "",
	  .help = "Where log lines go while the operator console owns the terminal (they also "
		  "show in its Log view); empty or null: docker-policy-proxy.log beside the "
		  "config file (the working directory without one). Headless runs log to "
		  "stderr. Restart-only."},
	 NULL, FIELD(log_file), sizeof(((struct dpp_settings *)0)->log_file), NO},
	{{.key = "global.console_history", .type = DPP_CONFIG_INT, .def = "10000", .min = 100,
	  .max = 1000000,
	  .help = "Events the operator console keeps for its Live and Denials views (the oldest "
		  "go first; about 2 KiB each). Restart-only."},
	 NULL, FIELD(console_history), sizeof(int), NO},
	{{.key = "global.store", .type = DPP_CONFIG_MAPPING, .reloadable = 1,
	  .help = "SQLite store of audit events and config versions (docker-policy-proxy audit, "
		  "history)."},
	 NULL, NO, 0, NO},
	{{.key = "global.store.path", .type = DPP_CONFIG_STRING, .def = "",
	  .help = "SQLite database file; not set: docker-policy-proxy.db beside the config file "
		  "(the working directory without one); \"\" turns the store off. Restart-only."},
	 NULL, FIELD(store_path), sizeof(((struct dpp_settings *)0)->store_path),
	 FIELD(store_path_source)},
	{{.key = "global.store.requests", .type = DPP_CONFIG_ENUM, .def = "denied", .reloadable = 1,
	  .choices = store_requests_choices,
	  .help = "denied: store security events only (deny, dry_run, auth_failure, lockout, "
		  "rate_limited, error); all: every request too."},
	 NULL, FIELD(store_requests), sizeof(int), NO},
	{{.key = "global.store.retention", .type = DPP_CONFIG_STRING, .def = "90d", .reloadable = 1,
	  .help = "How long security events stay in the store (90d, 12h, 30m, 45s)."},
	 check_duration, FIELD(store_retention), sizeof(((struct dpp_settings *)0)->store_retention),
	 NO},
	{{.key = "global.store.request_retention", .type = DPP_CONFIG_STRING, .def = "7d",
	  .reloadable = 1,
	  .help = "How long plain request events (requests: all) stay in the store."},
	 check_duration, FIELD(store_request_retention),
	 sizeof(((struct dpp_settings *)0)->store_request_retention), NO},
	{{.key = "global.control_socket", .type = DPP_CONFIG_STRING, .def = "",
	  .help = "Unix socket for docker-policy-proxy console and ctl (docs/control.md); not "
		  "set: /run/docker-policy-proxy/control.sock when running as root, else "
		  "control.sock beside the store file; \"\" turns it off. Never TCP. "
		  "Restart-only."},
	 check_socket_path, FIELD(control_socket), DPP_SOCKET_PATH_MAX,
	 FIELD(control_socket_source)},
	{{.key = "global.control_group", .type = DPP_CONFIG_STRING, .def = "",
	  .help = "Group (name) whose members may use the control socket (mode 0660 with that "
		  "group); empty: only root and the daemon's own user (mode 0600). Membership is "
		  "read from the group database for the peer's user. Restart-only."},
	 NULL, FIELD(control_group), sizeof(((struct dpp_settings *)0)->control_group), NO},
	{{.key = "global.metrics", .type = DPP_CONFIG_MAPPING, .reloadable = 1,
	  .help = "Prometheus metrics on the proxy port."},
	 NULL, NO, 0, NO},
	{{.key = "global.metrics.enabled", .type = DPP_CONFIG_BOOL, .def = "false", .reloadable = 1,
	  .help = "Serve Prometheus metrics at global.metrics.path, without authentication "
		  "(true/false). Off: that path is forwarded to Docker like any other."},
	 NULL, FIELD(metrics_enabled), sizeof(int), NO},
	{{.key = "global.metrics.path", .type = DPP_CONFIG_STRING, .def = "/metrics",
	  .reloadable = 1,
	  .help = "URL path of the metrics; answered by the proxy, never forwarded to Docker."},
	 check_metrics_path, FIELD(metrics_path), sizeof(((struct dpp_settings *)0)->metrics_path),
	 NO},
	{{.key = "global.trusted_proxies", .type = DPP_CONFIG_LIST, .elem_type = DPP_CONFIG_STRING,
	  .reloadable = 1,
	  .help = "Peers (IP or CIDR) whose X-Forwarded-For is believed when deciding client_ip."},
	 check_cidr, NO, 64, NO},
	{{.key = "global.tls", .type = DPP_CONFIG_MAPPING, .reloadable = 1,
	  .help = "TLS on the TCP listener (GnuTLS; TLS 1.2 and 1.3). Without cert and key the "
		  "listener is plain HTTP."},
	 NULL, NO, 0, NO},
	{{.key = "global.tls.cert", .type = DPP_CONFIG_STRING, .def = "", .reloadable = 1,
	  .help = "Server certificate chain (PEM, leaf first). Re-read on SIGHUP."},
	 NULL, FIELD(tls_cert), sizeof(((struct dpp_settings *)0)->tls_cert), NO},
	{{.key = "global.tls.key", .type = DPP_CONFIG_STRING, .def = "", .reloadable = 1,
	  .help = "Server private key (PEM: PKCS#8, PKCS#1 or SEC1). Re-read on SIGHUP."},
	 NULL, FIELD(tls_key), sizeof(((struct dpp_settings *)0)->tls_key), NO},
	{{.key = "global.tls.client_ca", .type = DPP_CONFIG_STRING, .def = "", .reloadable = 1,
	  .help = "CA bundle (PEM) that client certificates must chain to; empty: client "
		  "certificates are not requested."},
	 NULL, FIELD(tls_client_ca), sizeof(((struct dpp_settings *)0)->tls_client_ca), NO},
	{{.key = "global.tls.require_client_cert", .type = DPP_CONFIG_BOOL, .def = "false",
	  .reloadable = 1,
	  .help = "Fail the TLS handshake of a client without a valid certificate."},
	 NULL, FIELD(tls_require_client_cert), sizeof(int), NO},
	{{.key = "global.listen_unix", .type = DPP_CONFIG_STRING, .def = "",
	  .help = "Also listen on this Unix socket (for local containers); peers are identified "
		  "by SO_PEERCRED (auth.unix_role_map). Empty: none. Restart-only."},
	 check_socket_path, FIELD(listen_unix), DPP_SOCKET_PATH_MAX, NO},
	{{.key = "global.listen_unix_mode", .type = DPP_CONFIG_STRING, .def = "0660",
	  .help = "Permission bits of the Unix socket (octal string). Restart-only."},
	 check_mode, FIELD(listen_unix_mode), sizeof(((struct dpp_settings *)0)->listen_unix_mode), NO},
	{{.key = "global.listen_unix_group", .type = DPP_CONFIG_STRING, .def = "",
	  .help = "Group that owns the Unix socket (name or number); empty: unchanged. "
		  "Restart-only."},
	 NULL, FIELD(listen_unix_group), sizeof(((struct dpp_settings *)0)->listen_unix_group), NO},
	{{.key = "global.insecure_allow_open", .type = DPP_CONFIG_BOOL, .def = "false",
	  .reloadable = 1,
	  .help = "Allow auth.type none on a non-loopback address without TLS. Anyone who can "
		  "reach the port is root on this host."},
	 NULL, FIELD(insecure_allow_open), sizeof(int), NO},
	{{.key = "global.client_timeout", .type = DPP_CONFIG_INT, .def = "60", .min = 0,
	  .max = 86400,
	  .help = "Seconds a client may stay silent while sending a request or between requests "
		  "on a keep-alive connection before it is closed (0: never). Streams (events, "
		  "logs -f) and attach/exec sessions are not cut by it. Restart-only."},
	 NULL, FIELD(client_timeout), sizeof(int), NO},
	{{.key = "global.max_connections", .type = DPP_CONFIG_INT, .def = "4096", .min = 16,
	  .max = 100000,
	  .help = "Most concurrent client connections (one thread each); more are refused. "
		  "Restart-only."},
	 NULL, FIELD(max_connections), sizeof(int), NO},
	{{.key = "global.max_connections_per_ip", .type = DPP_CONFIG_INT, .def = "0", .min = 0,
	  .max = 100000,
	  .help = "Most concurrent connections from one client address (0: no limit). Loopback "
		  "clients share 127.0.0.1, so leave it 0 for local use. Restart-only."},
	 NULL, FIELD(max_connections_per_ip), sizeof(int), NO},
	{{.key = "auth", .type = DPP_CONFIG_OPAQUE, .reloadable = 1,
	  .help = "Client identities (tokens, certificates); read by the policy engine."},
	 NULL, NO, 0, NO},
	{{.key = "rules", .type = DPP_CONFIG_OPAQUE, .reloadable = 1,
	  .help = "Policy rules; read by the policy engine."},
	 NULL, NO, 0, NO},
};

#undef FIELD
#undef NO

#define NBUILTIN (sizeof(builtin_rows) / sizeof(builtin_rows[0]))

const struct dpp_config_key *dpp_config_schema_get(size_t i)
{
	return i < NBUILTIN ? &builtin_rows[i].k : NULL;
}

const char *dpp_source_name(enum dpp_source source)
{
	switch (source) {
	case DPP_SOURCE_DEFAULT: return "default";
	case DPP_SOURCE_FILE: return "file";
	case DPP_SOURCE_ENV: return "env";
	case DPP_SOURCE_FLAG: return "flag";
	case DPP_SOURCE_AUTO: return "auto";
	}
	return "unknown";
}

/* ---- the loaded configuration ------------------------------------------ */

struct dpp_config {
	struct dpp_settings settings;
	const struct dpp_config_row *rows; /* borrowed, static in practice */
	size_t nrows;
	enum dpp_source *sources;          /* one per row */
	char *path;                        /* file read, or NULL */
	int log_level_from_rust_log;       /* global.log_level came from RUST_LOG */
	int have_doc;
	yaml_document_t doc;
};

struct cfg_error {
	int cls; /* 0: file-level, 1: at a mark, 2: environment or flag */
	unsigned long line, col;
	size_t seq;
	char *text;
};

struct loader {
	struct dpp_config *cfg;
	const char *file;
	struct cfg_error errs[MAX_ERRORS];
	size_t nerr;
	int dropped; /* errors beyond MAX_ERRORS */
	unsigned char *visited;
};

static int is_scalar_type(enum dpp_config_type t)
{
	return t == DPP_CONFIG_STRING || t == DPP_CONFIG_INT || t == DPP_CONFIG_ENUM ||
	       t == DPP_CONFIG_BOOL;
}

/* Records one error. mark may be NULL (file-level or env/flag: cls 0 or 2);
 * key may be NULL. Control bytes are replaced so one error stays one line. */
static void add_error(struct loader *L, int cls, const yaml_mark_t *mark, const char *key,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void add_error(struct loader *L, int cls, const yaml_mark_t *mark, const char *key,
		      const char *fmt, ...)
{
	char msg[MAX_ERROR_TEXT];
	char text[2 * MAX_ERROR_TEXT];
	struct cfg_error *e;
	va_list ap;

	if (L->nerr >= MAX_ERRORS) {
		L->dropped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	e = &L->errs[L->nerr];
	e->cls = cls;
	e->line = mark != NULL ? (unsigned long)mark->line + 1 : 0;
	e->col = mark != NULL ? (unsigned long)mark->column + 1 : 0;
	e->seq = L->nerr;
	if (mark != NULL)
		snprintf(text, sizeof(text), "%s:%lu:%lu: %s%s%s", L->file, e->line, e->col,
			 key != NULL ? key : "", key != NULL ? ": " : "", msg);
	else if (cls == 0)
		snprintf(text, sizeof(text), "%s: %s%s%s", L->file != NULL ? L->file : "(config)",
			 key != NULL ? key : "", key != NULL ? ": " : "", msg);
	else
		snprintf(text, sizeof(text), "%s%s%s", key != NULL ? key : "",
			 key != NULL ? ": " : "", msg);
	for (char *p = text; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
	e->text = strdup(text);
	if (e->text == NULL) {
		L->dropped++;
		return;
	}
	L->nerr++;
}

static int cmp_error(const void *a, const void *b)
{
	const struct cfg_error *x = a, *y = b;

	if (x->cls != y->cls)
		return x->cls < y->cls ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

/* Sorts and joins the errors into one malloc'd text (or NULL on OOM). */
static char *join_errors(struct loader *L)
{
	size_t total = 1;
	char *buf, *p;
	char tail[96] = "";

	qsort(L->errs, L->nerr, sizeof(L->errs[0]), cmp_error);
	if (L->dropped > 0)
		snprintf(tail, sizeof(tail), "%d more error(s) not shown\n", L->dropped);
	for (size_t i = 0; i < L->nerr; i++)
		total += strlen(L->errs[i].text) + 1;
	total += strlen(tail);
	buf = malloc(total);
	if (buf == NULL)
		return NULL;
	p = buf;
	for (size_t i = 0; i < L->nerr; i++) {
		size_t n = strlen(L->errs[i].text);

		memcpy(p, L->errs[i].text, n);
		p += n;
		*p++ = '\n';
	}
	memcpy(p, tail, strlen(tail) + 1);
	return buf;
}

/* ---- scalar values ----------------------------------------------------- */

/* The "must be ..." text for a row read as type t. */
static void describe(const struct dpp_config_row *r, enum dpp_config_type t, char *buf,
		     size_t len)
{
	size_t used;

	switch (t) {
	case DPP_CONFIG_INT:
		snprintf(buf, len, "must be an integer between %ld and %ld", r->k.min, r->k.max);
		break;
	case DPP_CONFIG_ENUM:
		used = (size_t)snprintf(buf, len, "must be one of");
		for (size_t i = 0; r->k.choices != NULL && r->k.choices[i] != NULL; i++) {
			if (used >= len)
				break;
			used += (size_t)snprintf(buf + used, len - used, "%s %s",
						 i > 0 ? "," : "", r->k.choices[i]);
		}
		break;
	case DPP_CONFIG_BOOL:
		snprintf(buf, len, "must be true or false");
		break;
	case DPP_CONFIG_STRING:
		if (r->size > 0)
			snprintf(buf, len, "must be a string shorter than %zu bytes", r->size);
		else
			snprintf(buf, len, "must be a string");
		break;
	case DPP_CONFIG_MAPPING:
		snprintf(buf, len, "must be a mapping");
		break;
	case DPP_CONFIG_LIST:
		snprintf(buf, len, "must be a sequence");
		break;
	case DPP_CONFIG_OPAQUE:
		snprintf(buf, len, "is invalid");
		break;
	}
}

/* Parses v (len bytes, NUL-terminated) as type t of row r and, when dst is
 * not NULL and the row has a field, stores it. Returns 0, or -1 with the
 * reason in why. */
static int parse_value(const struct dpp_config_row *r, enum dpp_config_type t, const char *v,
		       size_t len, struct dpp_settings *dst, char *why, size_t whylen)
{
	void *field = (dst != NULL && r->off != DPP_CONFIG_NO_FIELD) ? (char *)dst + r->off : NULL;
	const char *reason = NULL;
	int ival = 0;

	if (memchr(v, '\0', len) != NULL) {
		snprintf(why, whylen, "must not contain NUL bytes");
		return -1;
	}
	switch (t) {
	case DPP_CONFIG_INT: {
		char *end = NULL;
		long n;
		size_t i = (v[0] == '-' || v[0] == '+') ? 1 : 0;

		if (len == 0 || len > 20 || !isdigit((unsigned char)v[i]))
			goto bad;
		errno = 0;
		n = strtol(v, &end, 10);
		if (errno != 0 || end == NULL || *end != '\0' || n < r->k.min || n > r->k.max ||
		    n < INT32_MIN || n > INT32_MAX)
			goto bad;
		ival = (int)n;
		break;
	}
	case DPP_CONFIG_ENUM: {
		size_t i;

		for (i = 0; r->k.choices != NULL && r->k.choices[i] != NULL; i++) {
			if (strcasecmp(v, r->k.choices[i]) == 0)
				break;
		}
		if (r->k.choices == NULL || r->k.choices[i] == NULL)
			goto bad;
		ival = (int)i;
		break;
	}
	case DPP_CONFIG_BOOL:
		if (strcasecmp(v, "true") == 0)
			ival = 1;
		else if (strcasecmp(v, "false") == 0)
			ival = 0;
		else
			goto bad;
		break;
	case DPP_CONFIG_STRING:
		if (r->check != NULL && r->check(v, len, &reason) != 0) {
			snprintf(why, whylen, "%s", reason != NULL ? reason : "is invalid");
			return -1;
		}
		if (r->size > 0 && len >= r->size)
			goto bad;
		if (field != NULL && r->size > 0) {
			memcpy(field, v, len);
			((char *)field)[len] = '\0';
		}
		return 0;
	default:
		goto bad;
	}
	if (field != NULL)
		memcpy(field, &ival, sizeof(ival));
	return 0;
bad:
	describe(r, t, why, whylen);
	return -1;
}

/* ---- file and YAML helpers --------------------------------------------- */

int dpp_config_read_file(const char *path, char **out, size_t *outlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0;
	int ret = -1, saved;

	if (f == NULL)
		return -1;
	buf = malloc(MAX_FILE_BYTES + 1);
	if (buf == NULL)
		goto cleanup;
	len = fread(buf, 1, MAX_FILE_BYTES + 1, f);
	if (ferror(f)) {
		if (errno == 0)
			errno = EIO;
		goto cleanup;
	}
	if (len > MAX_FILE_BYTES) {
		errno = EFBIG;
		goto cleanup;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
	ret = 0;
cleanup:
	saved = errno;
	free(buf);
	fclose(f);
	errno = saved;
	return ret;
}

static yaml_node_t *doc_node(yaml_document_t *doc, int id)
{
	return yaml_document_get_node(doc, id);
}

static int is_null(const yaml_node_t *n)
{
	return dpp_yaml_is_null(n);
}

/* Appends s to path of length plen; returns the new length, truncating at
 * MAX_PATH_TEXT. No printf: the walk builds a path for every node (a
 * 1,000-rule file: ~60,000; bench/NOTES.md) and reads it only in messages. */
static size_t path_put(char *path, size_t plen, const char *s)
{
	size_t len = strlen(s);

	if (plen >= MAX_PATH_TEXT - 1)
		return MAX_PATH_TEXT - 1;
	if (len > MAX_PATH_TEXT - 1 - plen)
		len = MAX_PATH_TEXT - 1 - plen;
	memcpy(path + plen, s, len);
	path[plen + len] = '\0';
	return plen + len;
}

static size_t path_key(char *path, size_t plen, const yaml_node_t *key)
{
	const char *k = key->type == YAML_SCALAR_NODE ? (const char *)key->data.scalar.value : "?";
	/* Quote a key that would read as a path ("global.port" at the top level). */
	const char *q = (k[0] == '\0' || strchr(k, '.') != NULL) ? "\"" : "";

	if (plen >= MAX_PATH_TEXT - 1)
		return MAX_PATH_TEXT - 1;
	path[plen] = '\0';
	plen = path_put(path, plen, plen > 0 ? "." : "");
	plen = path_put(path, plen, q);
	plen = path_put(path, plen, k);
	return path_put(path, plen, q);
}

/* path + "[i]" */
static size_t path_index(char *path, size_t plen, size_t i)
{
	char num[24];
	const char *text = dpp_yaml_index_text(i, num);

	if (plen >= MAX_PATH_TEXT - 1)
		return MAX_PATH_TEXT - 1;
	path[plen] = '\0';
	return path_put(path, plen, text);
}

/* ---- pass 1: interpolation, duplicate keys, depth ---------------------- */

struct sbuf {
	char *p;
	size_t len, cap;
};

static int sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	if (n > MAX_SCALAR_BYTES - b->len)
		return -1;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap == 0 ? 64 : b->cap;
		char *np;

		while (cap < b->len + n + 1)
			cap *= 2;
		np = realloc(b->p, cap);
		if (np == NULL)
			return -2;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int valid_var_name(const char *s, size_t n)
{
	if (n == 0 || n > MAX_VAR_NAME || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return 0;
	for (size_t i = 1; i < n; i++) {
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
			return 0;
	}
	return 1;
}

/* Interpolates in[0..len). Returns 1 with *out (malloc'd) when anything
 * changed, 0 when nothing did, -1 with *why on error. */
static int interpolate(const char *in, size_t len, char **out, size_t *outlen, const char **why)
{
	struct sbuf b = {NULL, 0, 0};
	size_t i = 0;
	int rc;

	if (memchr(in, '$', len) == NULL)
		return 0;
	while (i < len) {
		if (in[i] == '$' && i + 2 < len && in[i + 1] == '$' && in[i + 2] == '{') {
			rc = sbuf_add(&b, "${", 2);
			i += 3;
		} else if (in[i] == '$' && i + 1 < len && in[i + 1] == '{') {
			const char *name = in + i + 2;
			const char *close = memchr(name, '}', len - i - 2);
			char var[MAX_VAR_NAME + 1];
			const char *val;

			if (close == NULL) {
				*why = "unterminated ${ (missing })";
				goto fail;
			}
			if (!valid_var_name(name, (size_t)(close - name))) {
				*why = "invalid variable name in ${...} (expected [A-Za-z_][A-Za-z0-9_]*)";
				goto fail;
			}
			memcpy(var, name, (size_t)(close - name));
			var[close - name] = '\0';
			val = getenv(var);
			rc = val != NULL ? sbuf_add(&b, val, strlen(val)) : 0;
			i = (size_t)(close - in) + 1;
		} else {
			rc = sbuf_add(&b, in + i, 1);
			i++;
		}
		if (rc == -1) {
			*why = "longer than 65536 bytes after ${VAR} interpolation";
			goto fail;
		}
		if (rc == -2) {
			*why = "out of memory";
			goto fail;
		}
	}
	if (b.p == NULL && sbuf_add(&b, "", 0) != 0) {
		*why = "out of memory";
		goto fail;
	}
	*out = b.p;
	*outlen = b.len;
	return 1;
fail:
	free(b.p);
	return -1;
}

static void interpolate_node(struct loader *L, yaml_node_t *n, const char *path)
{
	char *nv = NULL;
	size_t nlen = 0;
	const char *why = NULL;
	int rc;

	rc = interpolate((const char *)n->data.scalar.value, n->data.scalar.length, &nv, &nlen,
			 &why);
	if (rc < 0) {
		add_error(L, 1, &n->start_mark, path[0] != '\0' ? path : NULL, "%s", why);
		return;
	}
	if (rc == 1) {
		/* libyaml frees scalar values with yaml_free(), which is free(). */
		free(n->data.scalar.value);
		n->data.scalar.value = (yaml_char_t *)nv;
		n->data.scalar.length = nlen;
		/* An unset variable gives the empty string, never a null ("not
		 * set"): `port: ${PORT}` with PORT unset is an error, not the
		 * default port. Only the empty result is re-styled, so typed
		 * values (`value: ${FLAG}` = true) keep their plain reading. */
		if (nlen == 0 && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
			n->data.scalar.style = YAML_SINGLE_QUOTED_SCALAR_STYLE;
	}
}

struct keyref {
	const char *s;
	size_t len;
	size_t idx;
	const yaml_node_t *node;
};

static int cmp_keyref(const void *a, const void *b)
{
	const struct keyref *x = a, *y = b;
	int c;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	c = memcmp(x->s, y->s, x->len);
	if (c != 0)
		return c;
	return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

static void check_duplicates(struct loader *L, yaml_node_t *map, const char *path)
{
	yaml_document_t *doc = &L->cfg->doc;
	size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
	struct keyref *refs;
	size_t m = 0, first = 0;

	if (n < 2)
		return;
	refs = calloc(n, sizeof(*refs));
	if (refs == NULL) {
		add_error(L, 1, &map->start_mark, NULL, "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *k = doc_node(doc, map->data.mapping.pairs.start[i].key);

		if (k == NULL || k->type != YAML_SCALAR_NODE)
			continue;
		refs[m].s = (const char *)k->data.scalar.value;
		refs[m].len = k->data.scalar.length;
		refs[m].idx = i;
		refs[m].node = k;
		m++;
	}
	qsort(refs, m, sizeof(*refs), cmp_keyref);
	for (size_t i = 1; i < m; i++) {
		char kp[MAX_PATH_TEXT];

		if (refs[i].len != refs[first].len ||
		    memcmp(refs[i].s, refs[first].s, refs[i].len) != 0) {
			first = i;
			continue;
		}
		memcpy(kp, path, strlen(path) + 1);
		path_key(kp, strlen(kp), refs[i].node);
		add_error(L, 1, &refs[i].node->start_mark, kp,
			  "duplicate key (first defined at line %lu)",
			  (unsigned long)refs[first].node->start_mark.line + 1);
	}
	free(refs);
}

/* Marks node id visited and processes it; returns 1 when it has children to
 * walk (mapping or sequence seen for the first time). */
static int visit(struct loader *L, int id, const char *path)
{
	yaml_document_t *doc = &L->cfg->doc;
	yaml_node_t *n = doc_node(doc, id);

	if (n == NULL || L->visited[id - 1])
		return 0;
	L->visited[id - 1] = 1;
	if (n->type == YAML_SCALAR_NODE) {
		interpolate_node(L, n, path);
		return 0;
	}
	if (n->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = doc_node(doc, p->key);

			if (k != NULL && k->type == YAML_SCALAR_NODE && !L->visited[p->key - 1]) {
				L->visited[p->key - 1] = 1;
				interpolate_node(L, k, path);
			}
		}
		check_duplicates(L, n, path);
	}
	return 1;
}

struct frame {
	int id;
	size_t plen; /* length of this node's path */
	size_t next; /* next child: mappings count 2 per pair (key, value) */
};

static void walk_document(struct loader *L)
{
	yaml_document_t *doc = &L->cfg->doc;
	struct frame st[MAX_DEPTH];
	size_t sp = 0;
	char path[MAX_PATH_TEXT] = "";

	if (yaml_document_get_root_node(doc) == NULL)
		return;
	if (visit(L, 1, path))
		st[sp++] = (struct frame){1, 0, 0};
	while (sp > 0) {
		struct frame *f = &st[sp - 1];
		yaml_node_t *n = doc_node(doc, f->id);
		int cid;
		size_t clen;

		path[f->plen] = '\0';
		if (n->type == YAML_MAPPING_NODE) {
			size_t np = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
			yaml_node_pair_t *p;
			yaml_node_t *k;

			if (f->next >= 2 * np) {
				sp--;
				continue;
			}
			p = n->data.mapping.pairs.start + f->next / 2;
			k = doc_node(doc, p->key);
			cid = (f->next % 2 == 0) ? p->key : p->value;
			f->next++;
			if (k == NULL || (cid == p->key && k->type == YAML_SCALAR_NODE))
				continue;
			clen = path_key(path, f->plen, k);
		} else if (n->type == YAML_SEQUENCE_NODE) {
			size_t ni = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);

			if (f->next >= ni) {
				sp--;
				continue;
			}
			cid = n->data.sequence.items.start[f->next];
			clen = path_index(path, f->plen, f->next);
			f->next++;
		} else {
			sp--;
			continue;
		}
		if (!visit(L, cid, path))
			continue;
		if (sp == MAX_DEPTH) {
			add_error(L, 1, &doc_node(doc, cid)->start_mark, path,
				  "nested deeper than %d levels", MAX_DEPTH);
			continue;
		}
		st[sp++] = (struct frame){cid, clen, 0};
	}
}

/* ---- pass 2: schema ---------------------------------------------------- */

static const struct dpp_config_row *find_row(const struct dpp_config *cfg, const char *path)
{
	for (size_t i = 0; i < cfg->nrows; i++) {
		if (strcmp(cfg->rows[i].k.key, path) == 0)
			return &cfg->rows[i];
	}
	return NULL;
}

static void check_mapping(struct loader *L, yaml_node_t *map, const char *prefix);

static void apply_row(struct loader *L, const struct dpp_config_row *r, yaml_node_t *val,
		      const char *path)
{
	struct dpp_config *cfg = L->cfg;
	size_t ri = (size_t)(r - cfg->rows);
	char why[256];

	/* A null (`key:`, `~`, `null`) means "not set" at every level, as the
	 * seed's wizard writes every unset key: the default stays, and so does
	 * its source. */
	if (is_null(val))
		return;
	switch (r->k.type) {
	case DPP_CONFIG_OPAQUE:
		break;
	case DPP_CONFIG_MAPPING:
		if (val->type != YAML_MAPPING_NODE) {
			describe(r, r->k.type, why, sizeof(why));
			add_error(L, 1, &val->start_mark, path, "%s", why);
			return;
		}
		check_mapping(L, val, path);
		break;
	case DPP_CONFIG_LIST:
		if (val->type != YAML_SEQUENCE_NODE) {
			describe(r, r->k.type, why, sizeof(why));
			add_error(L, 1, &val->start_mark, path, "%s", why);
			return;
		}
		for (yaml_node_item_t *it = val->data.sequence.items.start;
		     it < val->data.sequence.items.top; it++) {
			yaml_node_t *e = doc_node(&cfg->doc, *it);
			char ep[MAX_PATH_TEXT];

			snprintf(ep, sizeof(ep), "%s[%td]", path, it - val->data.sequence.items.start);
			if (e == NULL)
				continue;
			if (e->type != YAML_SCALAR_NODE) {
				describe(r, r->k.elem_type, why, sizeof(why));
				add_error(L, 1, &e->start_mark, ep, "%s", why);
			} else if (parse_value(r, r->k.elem_type, (const char *)e->data.scalar.value,
					       e->data.scalar.length, NULL, why, sizeof(why)) != 0) {
				add_error(L, 1, &e->start_mark, ep, "%s", why);
			}
		}
		break;
	default: {
		const char *v;
		size_t len;

		if (val->type != YAML_SCALAR_NODE) {
			describe(r, r->k.type, why, sizeof(why));
			add_error(L, 1, &val->start_mark, path, "%s", why);
			return;
		}
		v = (const char *)val->data.scalar.value;
		len = val->data.scalar.length;
		if (parse_value(r, r->k.type, v, len, &cfg->settings, why, sizeof(why)) != 0) {
			add_error(L, 1, &val->start_mark, path, "%s", why);
			return;
		}
		break;
	}
	}
	cfg->sources[ri] = DPP_SOURCE_FILE;
}

static void check_mapping(struct loader *L, yaml_node_t *map, const char *prefix)
{
	yaml_document_t *doc = &L->cfg->doc;

	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = doc_node(doc, p->key);
		yaml_node_t *v = doc_node(doc, p->value);
		const struct dpp_config_row *r = NULL;
		char path[MAX_PATH_TEXT];
		size_t plen;

		if (k == NULL || v == NULL)
			continue;
		if (k->type != YAML_SCALAR_NODE) {
			add_error(L, 1, &k->start_mark, prefix[0] != '\0' ? prefix : NULL,
				  "mapping keys must be plain strings");
			continue;
		}
		memcpy(path, prefix, strlen(prefix) + 1);
		plen = path_key(path, strlen(path), k);
		/* A key with a dot or NUL never names a row ("global.port" at the
		 * top level is not global: {port}); nor does a truncated path. */
		if (memchr(k->data.scalar.value, '.', k->data.scalar.length) == NULL &&
		    memchr(k->data.scalar.value, '\0', k->data.scalar.length) == NULL &&
		    plen < MAX_PATH_TEXT - 1)
			r = find_row(L->cfg, path);
		if (r == NULL) {
			add_error(L, 1, &k->start_mark, path, "unknown key");
			continue;
		}
		apply_row(L, r, v, path);
	}
}

static void load_document(struct loader *L, const char *text, size_t len)
{
	yaml_parser_t parser;
	yaml_document_t extra;
	yaml_node_t *root;

	if (!yaml_parser_initialize(&parser)) {
		add_error(L, 0, NULL, NULL, "out of memory");
		return;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &L->cfg->doc))
		goto syntax;
	L->cfg->have_doc = 1;
	/* One document per file: a second one would be silently ignored. */
	if (!yaml_parser_load(&parser, &extra))
		goto syntax;
	root = yaml_document_get_root_node(&extra);
	if (root != NULL)
		add_error(L, 1, &root->start_mark, NULL,
			  "only one YAML document is allowed per file");
	yaml_document_delete(&extra);
	yaml_parser_delete(&parser);
	goto walk;
syntax:
	/* libyaml stops at the first syntax error and frees the document. */
	if (parser.error == YAML_READER_ERROR)
		add_error(L, 0, NULL, NULL, "byte %zu: %s", parser.problem_offset,
			  parser.problem != NULL ? parser.problem : "unreadable input");
	else
		add_error(L, 1, &parser.problem_mark, NULL, "%s%s%s",
			  parser.problem != NULL ? parser.problem : "syntax error",
			  parser.context != NULL ? " " : "",
			  parser.context != NULL ? parser.context : "");
	yaml_parser_delete(&parser);
	return;
walk:
	root = yaml_document_get_root_node(&L->cfg->doc);
	if (root == NULL)
		return;
	L->visited = calloc((size_t)(L->cfg->doc.nodes.top - L->cfg->doc.nodes.start), 1);
	if (L->visited == NULL) {
		add_error(L, 0, NULL, NULL, "out of memory");
		return;
	}
	walk_document(L);
	if (is_null(root))
		return;
	if (root->type != YAML_MAPPING_NODE) {
		add_error(L, 1, &root->start_mark, NULL,
			  "the top level must be a mapping of sections (global, auth, rules)");
		return;
	}
	check_mapping(L, root, "");
}

/* ---- environment and flags --------------------------------------------- */

static const char *flag_text(const struct dpp_config_flags *flags, const char *key, char *buf,
			     size_t len)
{
	if (flags == NULL)
		return NULL;
	if (strcmp(key, "global.bind") == 0)
		return flags->bind;
	if (strcmp(key, "global.socket") == 0)
		return flags->socket;
	if (strcmp(key, "global.log_level") == 0)
		return flags->log_level;
	if (strcmp(key, "global.port") == 0 && flags->port != 0) {
		snprintf(buf, len, "%d", flags->port);
		return buf;
	}
	return NULL;
}

/* A level word of the Rust `tracing`/`env_logger` syntax, case-insensitive;
 * "off" becomes error, the least this proxy logs. Returns 0, or -1. */
static int rust_level(const char *s, size_t n, enum dpp_log_level *out)
{
	static const struct {
		const char *name;
		enum dpp_log_level level;
	} levels[] = {{"trace", DPP_LOG_TRACE}, {"debug", DPP_LOG_DEBUG}, {"info", DPP_LOG_INFO},
		      {"warn", DPP_LOG_WARN},   {"error", DPP_LOG_ERROR}, {"off", DPP_LOG_ERROR}};

	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		if (strlen(levels[i].name) == n && strncasecmp(s, levels[i].name, n) == 0) {
			*out = levels[i].level;
			return 0;
		}
	}
	return -1;
}

/* This program's names as a RUST_LOG target: the seed's crate name and ours. */
static int our_target(const char *s, size_t n)
{
	return (n == 12 && strncmp(s, "docker_proxy", 12) == 0) ||
	       (n == 19 && strncmp(s, "docker_policy_proxy", 19) == 0);
}

int dpp_config_rust_log_level(const char *value, enum dpp_log_level *out, const char **why)
{
	enum dpp_log_level bare = DPP_LOG_INFO, targeted = DPP_LOG_INFO;
	int have_bare = 0, have_targeted = 0;
	const char *p = value;

	if (value == NULL)
		return 0;
	while (*p != '\0') {
		size_t n = strcspn(p, ",");
		const char *d = p, *eq;
		size_t dn = n;

		p += n + (p[n] == ',');
		while (dn > 0 && isspace((unsigned char)*d)) {
			d++;
			dn--;
		}
		while (dn > 0 && isspace((unsigned char)d[dn - 1]))
			dn--;
		if (dn == 0 || memchr(d, '[', dn) != NULL)
			continue; /* empty, or a span filter: not about our level */
		eq = memchr(d, '=', dn);
		if (eq == NULL) {
			/* A bare level applies to everything; a bare target name
			 * means "trace" for that target (env_logger, tracing). */
			if (rust_level(d, dn, &bare) == 0)
				have_bare = 1;
			else if (our_target(d, dn)) {
				targeted = DPP_LOG_TRACE;
				have_targeted = 1;
			}
			continue;
		}
		if (!our_target(d, (size_t)(eq - d)))
			continue; /* another program's or module's directive */
		if (rust_level(eq + 1, dn - (size_t)(eq - d) - 1, &targeted) != 0) {
			*why = "the docker_proxy= directive must name a level: trace, debug, info, "
			       "warn, error or off";
			return -1;
		}
		have_targeted = 1;
	}
	if (!have_bare && !have_targeted)
		return 0;
	*out = have_targeted ? targeted : bare;
	return 1;
}

static void apply_overrides(struct loader *L, const struct dpp_config_flags *flags)
{
	struct dpp_config *cfg = L->cfg;
	char why[256];
	char num[32];

	for (size_t i = 0; i < cfg->nrows; i++) {
		const struct dpp_config_row *r = &cfg->rows[i];
		const char *v;

		if (!is_scalar_type(r->k.type))
			continue;
		/* The seed's RUST_LOG, below our own DOCKER_PROXY_LOG. */
		if (strcmp(r->k.key, "global.log_level") == 0 && r->off != DPP_CONFIG_NO_FIELD) {
			enum dpp_log_level level;
			const char *rwhy = NULL;
			int rc = dpp_config_rust_log_level(getenv("RUST_LOG"), &level, &rwhy);

			if (rc < 0) {
				add_error(L, 2, NULL, "RUST_LOG", "%s", rwhy);
			} else if (rc > 0) {
				memcpy((char *)&cfg->settings + r->off, &level, sizeof(int));
				cfg->sources[i] = DPP_SOURCE_ENV;
				cfg->log_level_from_rust_log = 1;
			}
		}
		v = r->k.env != NULL ? getenv(r->k.env) : NULL;
		if (v != NULL && v[0] != '\0') {
			if (parse_value(r, r->k.type, v, strlen(v), &cfg->settings, why,
					sizeof(why)) != 0) {
				add_error(L, 2, NULL, r->k.env, "%s", why);
			} else {
				cfg->sources[i] = DPP_SOURCE_ENV;
				if (strcmp(r->k.key, "global.log_level") == 0)
					cfg->log_level_from_rust_log = 0;
			}
		}
		v = flag_text(flags, r->k.key, num, sizeof(num));
		if (v != NULL) {
			if (parse_value(r, r->k.type, v, strlen(v), &cfg->settings, why,
					sizeof(why)) != 0)
				add_error(L, 2, NULL, r->k.flag != NULL ? r->k.flag : r->k.key,
					  "%s", why);
			else
				cfg->sources[i] = DPP_SOURCE_FLAG;
		}
	}
}

/* ---- public entry points ----------------------------------------------- */

const char *dpp_config_pick_path(const struct dpp_config_flags *flags, int *required)
{
	const char *env;

	if (flags != NULL && flags->config_path != NULL) {
		*required = 1;
		return flags->config_path;
	}
	env = getenv("DOCKER_PROXY_CONFIG");
	if (env != NULL && env[0] != '\0') {
		*required = 1;
		return env;
	}
	*required = 0;
	return "./config.yaml";
}

static int load_schema(const struct dpp_config_row *rows, size_t n,
		       const struct dpp_config_flags *flags, struct dpp_config **out,
		       char **errors, char **text_out, size_t *len_out)
{
	struct loader *L = NULL;
	struct dpp_config *cfg = NULL;
	char *text = NULL;
	size_t len = 0;
	const char *path;
	int required = 0, ret = -1;

	*out = NULL;
	if (errors != NULL)
		*errors = NULL;
	L = calloc(1, sizeof(*L));
	cfg = calloc(1, sizeof(*cfg));
	if (L == NULL || cfg == NULL)
		goto cleanup;
	cfg->rows = rows;
	cfg->nrows = n;
	cfg->sources = calloc(n > 0 ? n : 1, sizeof(*cfg->sources));
	if (cfg->sources == NULL)
		goto cleanup;
	L->cfg = cfg;

	for (size_t i = 0; i < n; i++) {
		char why[256];

		if (rows[i].k.def == NULL || !is_scalar_type(rows[i].k.type))
			continue;
		if (parse_value(&rows[i], rows[i].k.type, rows[i].k.def, strlen(rows[i].k.def),
				&cfg->settings, why, sizeof(why)) != 0)
			add_error(L, 0, NULL, rows[i].k.key, "built-in default %s", why);
	}

	path = dpp_config_pick_path(flags, &required);
	L->file = path;
	if (dpp_config_read_file(path, &text, &len) != 0) {
		if (errno != ENOENT || required)
			add_error(L, 0, NULL, NULL, "cannot read config file: %s",
				  errno == EFBIG ? "larger than 1 MiB" : strerror(errno));
	} else {
		cfg->path = strdup(path);
		if (cfg->path == NULL)
			goto cleanup;
		L->file = cfg->path;
		load_document(L, text, len);
	}

	apply_overrides(L, flags);
	for (size_t i = 0; i < n; i++) {
		if (rows[i].src_off != DPP_CONFIG_NO_FIELD)
			memcpy((char *)&cfg->settings + rows[i].src_off, &cfg->sources[i],
			       sizeof(enum dpp_source));
	}
	if (L->nerr > 0 || L->dropped > 0) {
		if (errors != NULL)
			*errors = join_errors(L);
		goto cleanup;
	}
	*out = cfg;
	cfg = NULL;
	ret = 0;
cleanup:
	if (ret != 0 && errors != NULL && *errors == NULL)
		*errors = strdup("out of memory while loading the configuration\n");
	if (L != NULL) {
		for (size_t i = 0; i < L->nerr; i++)
			free(L->errs[i].text);
		free(L->visited);
	}
	free(L);
	if (text_out != NULL) {
		*text_out = text;
		*len_out = text != NULL ? len : 0;
	} else {
		free(text);
	}
	dpp_config_free(cfg);
	return ret;
}

int dpp_config_load_schema(const struct dpp_config_row *rows, size_t n,
			   const struct dpp_config_flags *flags, struct dpp_config **out,
			   char **errors)
{
	return load_schema(rows, n, flags, out, errors, NULL, NULL);
}

int dpp_config_load(const struct dpp_config_flags *flags, struct dpp_config **out,
		    char **errors)
{
	return load_schema(builtin_rows, NBUILTIN, flags, out, errors, NULL, NULL);
}

int dpp_config_load_text(const struct dpp_config_flags *flags, struct dpp_config **out,
			 char **errors, char **text, size_t *len)
{
	*text = NULL;
	*len = 0;
	return load_schema(builtin_rows, NBUILTIN, flags, out, errors, text, len);
}

static dpp_config_version_fn version_hook;
static void *version_hook_arg;

void dpp_config_set_version_hook(dpp_config_version_fn fn, void *arg)
{
	version_hook = fn;
	version_hook_arg = arg;
}

void dpp_config_version_notify(const struct dpp_config_version *v)
{
	if (version_hook != NULL)
		version_hook(version_hook_arg, v);
}

void dpp_config_free(struct dpp_config *cfg)
{
	if (cfg == NULL)
		return;
	if (cfg->have_doc)
		yaml_document_delete(&cfg->doc);
	free(cfg->sources);
	free(cfg->path);
	free(cfg);
}

const struct dpp_settings *dpp_config_settings(const struct dpp_config *cfg)
{
	return &cfg->settings;
}

const char *dpp_config_path(const struct dpp_config *cfg)
{
	return cfg->path;
}

/* ---- kept YAML (config_yaml.h) ----------------------------------------- */

const yaml_document_t *dpp_config_yaml(const struct dpp_config *cfg)
{
	return cfg->have_doc ? &cfg->doc : NULL;
}

yaml_node_t *dpp_config_yaml_node(const struct dpp_config *cfg, int id)
{
	if (!cfg->have_doc)
		return NULL;
	/* The accessor takes a non-const document but does not modify it. */
	return yaml_document_get_node((yaml_document_t *)&cfg->doc, id);
}

static yaml_node_t *mapping_get(const struct dpp_config *cfg, yaml_node_t *map, const char *key,
				size_t klen)
{
	if (map == NULL || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = dpp_config_yaml_node(cfg, p->key);

		if (k != NULL && k->type == YAML_SCALAR_NODE && k->data.scalar.length == klen &&
		    memcmp(k->data.scalar.value, key, klen) == 0)
			return dpp_config_yaml_node(cfg, p->value);
	}
	return NULL;
}

yaml_node_t *dpp_config_node(const struct dpp_config *cfg, const char *dotted)
{
	yaml_node_t *n = dpp_config_yaml_node(cfg, 1);

	while (n != NULL) {
		const char *dot = strchr(dotted, '.');
		size_t klen = dot != NULL ? (size_t)(dot - dotted) : strlen(dotted);

		n = mapping_get(cfg, n, dotted, klen);
		if (dot == NULL)
			return n;
		dotted = dot + 1;
	}
	return NULL;
}

yaml_node_t *dpp_config_section(const struct dpp_config *cfg, const char *name)
{
	yaml_node_t *n;

	if (strchr(name, '.') != NULL)
		return NULL;
	n = dpp_config_node(cfg, name);
	return is_null(n) ? NULL : n; /* `auth: null` is no auth section */
}

/* ---- printing and reload ----------------------------------------------- */

static void print_escaped(FILE *out, const char *s)
{
	if (s[0] == '\0') {
		fputs("\"\"", out);
		return;
	}
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			fprintf(out, "\\x%02x", (unsigned char)*s);
		else
			fputc(*s, out);
	}
}

static int has_children(const struct dpp_config *cfg, const char *key)
{
	size_t klen = strlen(key);

	for (size_t i = 0; i < cfg->nrows; i++) {
		if (strncmp(cfg->rows[i].k.key, key, klen) == 0 && cfg->rows[i].k.key[klen] == '.')
			return 1;
	}
	return 0;
}

static void print_source(FILE *out, const struct dpp_config_row *r, enum dpp_source src)
{
	if (src == DPP_SOURCE_ENV && r->k.env != NULL)
		fprintf(out, "  # env %s\n", r->k.env);
	else if (src == DPP_SOURCE_FLAG && r->k.flag != NULL)
		fprintf(out, "  # flag %s\n", r->k.flag);
	else if (src == DPP_SOURCE_DEFAULT && r->k.type == DPP_CONFIG_STRING && r->k.def != NULL &&
		 r->k.def[0] == '\0' && strcmp(r->k.key, "global.socket") == 0)
		fprintf(out, "  # default (empty: auto-detect)\n");
	else if (src == DPP_SOURCE_DEFAULT && strcmp(r->k.key, "global.store.path") == 0)
		fprintf(out, "  # default (not set: docker-policy-proxy.db beside the config file)\n");
	else if (src == DPP_SOURCE_DEFAULT && strcmp(r->k.key, "global.control_socket") == 0)
		fprintf(out, "  # default (not set: the default path, docs/control.md)\n");
	else
		fprintf(out, "  # %s\n", dpp_source_name(src));
}

void dpp_config_print(const struct dpp_config *cfg, FILE *out)
{
	fprintf(out, "# config file: ");
	if (cfg->path != NULL)
		print_escaped(out, cfg->path);
	else
		fputs("none (built-in defaults)", out);
	fputc('\n', out);
	for (size_t i = 0; i < cfg->nrows; i++) {
		const struct dpp_config_row *r = &cfg->rows[i];
		/* Rows without a settings field have off == DPP_CONFIG_NO_FIELD:
		 * no pointer is formed for them (that would overflow). */
		const char *field = r->off != DPP_CONFIG_NO_FIELD
					    ? (const char *)&cfg->settings + r->off
					    : NULL;
		yaml_node_t *node;
		int iv = 0;

		switch (r->k.type) {
		case DPP_CONFIG_OPAQUE:
			fprintf(out, "%s: %s\n", r->k.key,
				cfg->sources[i] == DPP_SOURCE_FILE
					? "present (parsed by the policy engine)"
					: "absent");
			continue;
		case DPP_CONFIG_MAPPING:
		case DPP_CONFIG_LIST:
			if (has_children(cfg, r->k.key))
				continue;
			node = dpp_config_node(cfg, r->k.key);
			if (node != NULL && node->type == YAML_SEQUENCE_NODE)
				fprintf(out, "%s: %td item(s)", r->k.key,
					node->data.sequence.items.top -
						node->data.sequence.items.start);
			else if (node != NULL && node->type == YAML_MAPPING_NODE)
				fprintf(out, "%s: %td key(s)", r->k.key,
					node->data.mapping.pairs.top -
						node->data.mapping.pairs.start);
			else
				fprintf(out, "%s: (not set)", r->k.key);
			break;
		default:
			fprintf(out, "%s: ", r->k.key);
			if (r->off == DPP_CONFIG_NO_FIELD) {
				node = dpp_config_node(cfg, r->k.key);
				if (node != NULL && node->type == YAML_SCALAR_NODE)
					print_escaped(out, (const char *)node->data.scalar.value);
				else
					print_escaped(out, r->k.def != NULL ? r->k.def : "");
				break;
			}
			if (r->k.type == DPP_CONFIG_STRING) {
				print_escaped(out, field);
				break;
			}
			memcpy(&iv, field, sizeof(iv));
			if (r->k.type == DPP_CONFIG_ENUM)
				fputs(r->k.choices[iv], out);
			else if (r->k.type == DPP_CONFIG_BOOL)
				fputs(iv ? "true" : "false", out);
			else
				fprintf(out, "%d", iv);
			break;
		}
		if (cfg->sources[i] == DPP_SOURCE_ENV && cfg->log_level_from_rust_log &&
		    strcmp(r->k.key, "global.log_level") == 0)
			fputs("  # env RUST_LOG\n", out);
		else
			print_source(out, r, cfg->sources[i]);
	}
}

/* 1 when TLS is on in s (cert and key set: dpp_runtime_build refuses one
 * without the other). */
static int tls_on(const struct dpp_settings *s)
{
	return s->tls_cert[0] != '\0' && s->tls_key[0] != '\0';
}

/* The TLS values make sense on their own (the same rules as
 * dpp_runtime_build's consistency checks). */
static int tls_coherent(const struct dpp_settings *s)
{
	if ((s->tls_cert[0] == '\0') != (s->tls_key[0] == '\0'))
		return 0;
	if (s->tls_require_client_cert && s->tls_client_ca[0] == '\0')
		return 0;
	return s->tls_client_ca[0] == '\0' || s->tls_cert[0] != '\0';
}

static int row_differs(const struct dpp_config_row *r, const struct dpp_settings *x,
		       const struct dpp_settings *y)
{
	const char *a = (const char *)x + r->off, *c = (const char *)y + r->off;

	if (r->k.type == DPP_CONFIG_STRING)
		return strncmp(a, c, r->size) != 0;
	return memcmp(a, c, sizeof(int)) != 0;
}

static int restart_only(const struct dpp_config_row *r)
{
	return !r->k.reloadable && r->off != DPP_CONFIG_NO_FIELD && is_scalar_type(r->k.type);
}

char *dpp_config_restart_needed_vs(const struct dpp_settings *running,
				   const struct dpp_config *next)
{
	const struct dpp_settings *n = &next->settings;
	struct sbuf b = {NULL, 0, 0};
	static const char tls_line[] = "global.tls (switching TLS on or off)";

	for (size_t i = 0; i < next->nrows; i++) {
		const struct dpp_config_row *r = &next->rows[i];

		if (!restart_only(r) || !row_differs(r, running, n))
			continue;
		if ((b.len > 0 && sbuf_add(&b, "\n", 1) != 0) ||
		    sbuf_add(&b, r->k.key, strlen(r->k.key)) != 0)
			goto oom;
	}
	if (tls_on(running) != tls_on(n) &&
	    ((b.len > 0 && sbuf_add(&b, "\n", 1) != 0) ||
	     sbuf_add(&b, tls_line, sizeof(tls_line) - 1) != 0))
		goto oom;
	return b.p;
oom:
	free(b.p);
	return NULL;
}

char *dpp_config_restart_needed(const struct dpp_config *old_cfg,
				const struct dpp_config *new_cfg)
{
	return dpp_config_restart_needed_vs(&old_cfg->settings, new_cfg);
}

void dpp_config_keep_restart_only(const struct dpp_config *next,
				  const struct dpp_settings *running, struct dpp_settings *eff)
{
	for (size_t i = 0; i < next->nrows; i++) {
		const struct dpp_config_row *r = &next->rows[i];

		if (!restart_only(r))
			continue;
		memcpy((char *)eff + r->off, (const char *)running + r->off,
		       r->k.type == DPP_CONFIG_STRING ? r->size : sizeof(int));
		if (r->src_off != DPP_CONFIG_NO_FIELD)
			memcpy((char *)eff + r->src_off, (const char *)running + r->src_off,
			       sizeof(enum dpp_source));
	}
	/* The listener's TLS layer exists or not from start-up on; with the same
	 * state the files are re-read (reloadable), across states the running
	 * ones stay. A TLS section that start-up would refuse by itself (cert
	 * without key, client_ca without cert, require_client_cert without
	 * client_ca: dpp_runtime_build's checks) is left as written, so the
	 * reload is refused for it too. */
	if (tls_on(running) != tls_on(eff) && tls_coherent(eff)) {
		memcpy(eff->tls_cert, running->tls_cert, sizeof(eff->tls_cert));
		memcpy(eff->tls_key, running->tls_key, sizeof(eff->tls_key));
		memcpy(eff->tls_client_ca, running->tls_client_ca, sizeof(eff->tls_client_ca));
		eff->tls_require_client_cert = running->tls_require_client_cert;
	}
}

/* ---- Docker socket ----------------------------------------------------- */

int dpp_socket_pick(const char *const *candidates, size_t n)
{
	struct stat st;

	for (size_t i = 0; i < n; i++) {
		if (candidates[i] != NULL && stat(candidates[i], &st) == 0)
			return (int)i;
	}
	return -1;
}

static size_t add_candidate(char out[][DPP_SOCKET_PATH_MAX], size_t n, size_t max,
			    const char *home, const char *suffix)
{
	int len;

	if (n >= max)
		return n;
	if (home == NULL) {
		len = snprintf(out[n], DPP_SOCKET_PATH_MAX, "%s", suffix);
	} else {
		if (home[0] == '\0')
			return n;
		len = snprintf(out[n], DPP_SOCKET_PATH_MAX, "%s%s", home, suffix);
	}
	return (len > 0 && len < DPP_SOCKET_PATH_MAX) ? n + 1 : n;
}

size_t dpp_socket_candidates(const char *home, char out[][DPP_SOCKET_PATH_MAX], size_t max)
{
	size_t n = 0;

#ifdef __APPLE__
	n = add_candidate(out, n, max, home, "/.docker/run/docker.sock");
	n = add_candidate(out, n, max, NULL, "/var/run/docker.sock");
	n = add_candidate(out, n, max, home, "/.docker/desktop/docker.sock");
#else
	(void)home;
	n = add_candidate(out, n, max, NULL, "/var/run/docker.sock");
	n = add_candidate(out, n, max, NULL, "/run/docker.sock");
#endif
	return n;
}

int dpp_socket_detect(const char *home, char *out, size_t outlen)
{
	char buf[DPP_SOCKET_CANDIDATES_MAX][DPP_SOCKET_PATH_MAX];
	const char *cand[DPP_SOCKET_CANDIDATES_MAX];
	size_t n = dpp_socket_candidates(home, buf, DPP_SOCKET_CANDIDATES_MAX);
	int i;

	for (size_t j = 0; j < n; j++)
		cand[j] = buf[j];
	i = dpp_socket_pick(cand, n);
	if (i < 0 || strlen(cand[i]) >= outlen)
		return -1;
	memcpy(out, cand[i], strlen(cand[i]) + 1);
	return 0;
}
