/* Configuration: YAML file (libyaml) + environment + command-line flags, driven
 * by one schema table (key, type, default, reloadable, help) that the loader,
 * --check-config and later the wizard and man page share.
 *
 * Precedence: flag > environment > YAML > default.
 * Environment: DOCKER_PROXY_CONFIG (file), DOCKER_PROXY_PORT, DOCKER_SOCKET,
 * DOCKER_PROXY_LOG (log level), and the seed's RUST_LOG (log level, below
 * DOCKER_PROXY_LOG: see dpp_config_rust_log_level). */
#ifndef DPP_CONFIG_H
#define DPP_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "dpp/log.h"

#define DPP_DEFAULT_BIND "127.0.0.1"
#define DPP_DEFAULT_PORT 2376
#define DPP_SOCKET_PATH_MAX 108 /* sizeof(sockaddr_un.sun_path) on Linux */

/* Where an effective value came from, for --check-config and the start-up line. */
enum dpp_source {
	DPP_SOURCE_DEFAULT = 0,
	DPP_SOURCE_FILE,
	DPP_SOURCE_ENV,
	DPP_SOURCE_FLAG,
	DPP_SOURCE_AUTO, /* socket found by auto-detection */
};

/* Effective `global` settings. A plain value: copy it freely between threads. */
struct dpp_settings {
	char bind[64];                     /* IPv4 or IPv6 literal (no brackets) */
	int port;                          /* 1..65535 */
	enum dpp_source port_source;
	char socket[DPP_SOCKET_PATH_MAX];  /* "" until resolved by detection */
	enum dpp_source socket_source;
	enum dpp_log_level log_level;
	enum dpp_log_format log_format;
	int max_body_bytes;                /* JSON request bodies above this: 413 */
	int max_filter_bytes;              /* filtered responses above this: 502 */
	int default_action;                /* 0 allow, 1 deny (no rule decided) */
	char audit_log[1024];              /* JSONL audit file; "" = off */
	char log_file[1024];               /* console mode's log file; "" = the default */
	int console_history;               /* events the console keeps */
	int metrics_enabled;
	char metrics_path[256];            /* served on the proxy port, never forwarded */
	char tls_cert[1024];               /* PEM chain, leaf first; "" = no TLS */
	char tls_key[1024];                /* PKCS#8, PKCS#1 or SEC1 PEM */
	char tls_client_ca[1024];          /* "" = no client certificates */
	int tls_require_client_cert;
	char listen_unix[DPP_SOCKET_PATH_MAX]; /* extra Unix-socket listener; "" = none */
	char listen_unix_mode[8];          /* octal permission string, e.g. "0660" */
	char listen_unix_group[64];        /* group owning the socket; "" = unchanged */
	int insecure_allow_open;           /* allow auth none off loopback without TLS */
	int client_timeout;                /* s a client may stay silent mid-request or idle; 0 = never */
	int max_connections;               /* concurrent client connections */
	int max_connections_per_ip;        /* per client address; 0 = no limit */
	char store_path[1024];             /* SQLite store; "" with source default: beside
					    * the config file; "" from the file: off */
	enum dpp_source store_path_source;
	int store_requests;                /* 0 denied (security events only), 1 all */
	char store_retention[32];          /* duration text, see dpp_config_parse_duration */
	char store_request_retention[32];
	char control_socket[DPP_SOCKET_PATH_MAX]; /* control socket; "" with source default:
					    * the default path (docs/control.md); "" from
					    * the file: off */
	enum dpp_source control_socket_source;
	char control_group[64];            /* group whose members may use it; "" = none */
};

/* Command-line values; NULL / 0 means "not given". Borrowed for the call. */
struct dpp_config_flags {
	const char *config_path;
	const char *bind;
	int port;
	const char *socket;
	const char *log_level;
};

struct dpp_config; /* opaque, immutable once loaded */

/* The schema, shared by the loader, --check-config, the wizard and the man
 * page. One row per key; a key's parent is the row named by its prefix. */
enum dpp_config_type {
	DPP_CONFIG_STRING = 0,
	DPP_CONFIG_INT,     /* decimal, range [min, max] */
	DPP_CONFIG_ENUM,    /* one of choices (case-insensitive) */
	DPP_CONFIG_BOOL,    /* true | false */
	DPP_CONFIG_MAPPING, /* children are the rows "KEY.<child>" */
	DPP_CONFIG_LIST,    /* sequence of elem_type scalars, read from the kept YAML */
	DPP_CONFIG_OPAQUE,  /* any YAML, kept for another module (auth, rules) */
};

struct dpp_config_key {
	const char *key;               /* dotted path: "global.port" */
	enum dpp_config_type type;
	enum dpp_config_type elem_type; /* LIST rows: type of each element */
	const char *def;               /* default as YAML text; NULL when none */
	int reloadable;                /* 1: applied on reload; 0: restart-only */
	const char *env;               /* overriding environment variable, or NULL */
	const char *flag;              /* overriding command-line flag, or NULL */
	long min, max;                 /* INT: inclusive range */
	const char *const *choices;    /* ENUM: NULL-terminated list */
	const char *help;              /* one sentence for --help, wizard, man page */
};

/* Row i of the built-in schema, in documentation order; NULL past the end.
 * Static storage: borrowed, valid forever, thread-safe. */
const struct dpp_config_key *dpp_config_schema_get(size_t i);

/* "default", "file", "env", "flag", "auto". Static string. */
const char *dpp_source_name(enum dpp_source source);

/* Reads the whole file at path as the loader does (at most 1 MiB, the
 * loader's limit): *out (malloc'd, NUL-terminated, caller frees) and its
 * length. Returns 0, or -1 with errno (EFBIG when larger). Thread-safe. */
int dpp_config_read_file(const char *path, char **out, size_t *outlen);

/* Chooses the file: flags->config_path, else $DOCKER_PROXY_CONFIG, else
 * "./config.yaml". *required is set to 1 when the path was named explicitly
 * (flag or env), so a missing file is an error; 0 for the implicit default, where
 * a missing file means "all defaults". Returns a pointer into flags or the
 * environment or a static string: borrowed, do not free. */
const char *dpp_config_pick_path(const struct dpp_config_flags *flags, int *required);

/* Loads and validates the whole configuration. All errors are collected, one
 * per line as "FILE:LINE:COL: KEY: message", into *errors (malloc'd, caller
 * frees; NULL when there are none). Unknown keys, wrong types and out-of-range
 * values are errors. ${VAR} in any scalar is replaced by the environment value
 * (unset = empty). The `auth` and `rules` sections are kept as YAML for the
 * policy module (any shape; only YAML syntax and duplicate keys are checked
 * there). Does not detect the Docker socket (see dpp_socket_detect).
 * Limits: file <= 1 MiB, one YAML document, nesting <= 64, scalar <= 64 KiB
 * after interpolation, at most 100 errors listed (then a count). libyaml stops
 * at the first syntax error, so a syntax error is reported alone.
 * Env/flag errors have no position: "DOCKER_PROXY_PORT: must be ...",
 * "--port: must be ...". flags may be NULL; errors may be NULL.
 * Returns 0 and *out (caller owns; dpp_config_free), or -1 with *out = NULL.
 * Thread-safe (no globals besides getenv). */
int dpp_config_load(const struct dpp_config_flags *flags, struct dpp_config **out,
		    char **errors);

/* Reads a log level from a RUST_LOG value (the seed's tracing filter), for
 * global.log_level: comma-separated directives; a bare level ("info")
 * applies; "docker_proxy=LEVEL" (or "docker_policy_proxy=LEVEL") wins over
 * it; a bare "docker_proxy" means trace, as in env_logger. Levels trace,
 * debug, info, warn, error, case-insensitive; "off" reads as error (the
 * least this proxy logs). Directives for other targets or modules
 * ("hyper=debug", "docker_proxy::auth=trace") and span filters are ignored:
 * this program has no per-module levels. Returns 1 with *out set, 0 when
 * nothing applies (value NULL, empty, only other targets), -1 with *why
 * (static) when the docker_proxy= directive names no level. Pure. */
int dpp_config_rust_log_level(const char *value, enum dpp_log_level *out, const char **why);

/* As dpp_config_load, and also hands back the bytes of the file as read in
 * *text (malloc'd, NUL-terminated, caller frees; NULL when no file was read)
 * and their count in *len, whether or not the configuration is accepted: the
 * record of what was tried (config history). */
int dpp_config_load_text(const struct dpp_config_flags *flags, struct dpp_config **out,
			 char **errors, char **text, size_t *len);

/* "90d", "12h", "30m", "45s", "2w": a positive count and one unit, at most
 * 100 years. Returns 0 with *seconds, or -1. Pure. */
int dpp_config_parse_duration(const char *text, long long *seconds);

/* Config-version hook: the composition root (main.c) notifies every
 * configuration that became live or was refused (start-up, SIGHUP), and a
 * module outside the core (the SQLite store) records it, so the core never
 * includes a store header. All pointers are borrowed for the call only.
 * origin: "startup" or "sighup". path: the file read, NULL without one.
 * text/len: its bytes as read (NULL/0 without a file). applied: 1 live now,
 * 0 refused (errors: the loader's message lines, or NULL). */
struct dpp_config_version {
	const char *origin;
	const char *path;
	const char *text;
	size_t len;
	int applied;
	const char *errors;
	const char *author; /* who asked (a control socket peer); NULL: the store
			     * names the operator from its own environment */
};
typedef void (*dpp_config_version_fn)(void *arg, const struct dpp_config_version *v);

/* Registers the one hook (NULL removes it). Not thread-safe: call before
 * dpp_config_version_notify can run on another thread (main.c calls both
 * from the main thread). notify calls the hook synchronously, if any; the
 * hook must return quickly (the store only queues a copy). */
void dpp_config_set_version_hook(dpp_config_version_fn fn, void *arg);
void dpp_config_version_notify(const struct dpp_config_version *v);

/* Frees cfg and its kept YAML; NULL is a no-op. */
void dpp_config_free(struct dpp_config *cfg);

/* Borrowed pointer valid while cfg lives. */
const struct dpp_settings *dpp_config_settings(const struct dpp_config *cfg);

/* Path of the file actually read, or NULL when running on defaults. Borrowed. */
const char *dpp_config_path(const struct dpp_config *cfg);

/* Writes the effective settings, one "key: value  # source" line each, as
 * --check-config prints them: a "# config file: PATH" header, then e.g.
 * "global.port: 2376  # default", "global.port: 8080  # env DOCKER_PROXY_PORT",
 * "global.socket: /s  # flag --socket", and for sections
 * "auth: present (parsed by the policy engine)" or "auth: absent".
 * Control bytes in values are written as \xNN. Does not close out. */
void dpp_config_print(const struct dpp_config *cfg, FILE *out);

/* Compares two configs for reload. Returns a malloc'd, newline-separated list
 * of the keys that changed but only take effect after a restart (every row
 * of the schema that is not reloadable: bind, port, socket, listen_unix*,
 * client_timeout, max_connections), or NULL when there are none. Caller
 * frees. */
char *dpp_config_restart_needed(const struct dpp_config *old_cfg,
				const struct dpp_config *new_cfg);

/* The same list, judged against the settings that actually run (the record
 * of what took effect, not an earlier file's values), plus the line
 * "global.tls (switching TLS on or off)" when next turns TLS (cert and key)
 * on or off: the listener's TLS layer is made at start-up. NULL when nothing
 * needs a restart, or on allocation failure. Caller frees. */
char *dpp_config_restart_needed_vs(const struct dpp_settings *running,
				   const struct dpp_config *next);

/* Makes eff (next's settings, about to be used on reload) hold what will
 * really run: every restart-only key (and its source) takes running's value,
 * and when next switches TLS on or off, the four global.tls values take
 * running's (same TLS state: next's files are re-read; a TLS section that is
 * inconsistent by itself stays as written, so the build refuses it). So the
 * exposure check judges the listener that exists, and the record stored
 * afterwards holds only values that took effect. Pure. */
void dpp_config_keep_restart_only(const struct dpp_config *next,
				  const struct dpp_settings *running, struct dpp_settings *eff);

/* Resolves the upstream socket when none was configured: the first existing
 * path of the platform's list (Linux: /var/run/docker.sock, /run/docker.sock;
 * macOS: ~/.docker/run/docker.sock, /var/run/docker.sock,
 * ~/.docker/desktop/docker.sock). `home` may be NULL. Returns 0 with the path
 * in out, or -1 when none exists. */
int dpp_socket_detect(const char *home, char *out, size_t outlen); /* outlen: bytes; -1 when
								     the first existing path does
								     not fit. Thread-safe. */

/* The testable core of dpp_socket_detect: first of candidates[0..n) that
 * exists (stat succeeds). Returns its index, or -1. */
int dpp_socket_pick(const char *const *candidates, size_t n);

#define DPP_SOCKET_CANDIDATES_MAX 3

/* The platform's candidate list used by dpp_socket_detect, in order, written
 * into out[0..max). Paths under `home` (macOS) are skipped when home is NULL
 * or empty or the result would not fit a socket path. Returns the count. */
size_t dpp_socket_candidates(const char *home, char out[][DPP_SOCKET_PATH_MAX], size_t max);

#endif
