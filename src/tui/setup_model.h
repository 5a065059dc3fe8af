/* Internal to the setup wizard (src/tui/setup_*.c): the answers a user gives,
 * the rule templates, the YAML they become, and saving it. The three front
 * ends (full screen, --plain, --non-interactive) only fill a struct
 * setup_answers; everything after that is shared, so they cannot drift. */
#ifndef DPP_SETUP_MODEL_H
#define DPP_SETUP_MODEL_H

#include <stddef.h>

#define SETUP_MAX_TOKENS 16
#define SETUP_MAX_CUSTOM 16
#define SETUP_MAX_CONDS 4
#define SETUP_MAX_CERT_ROLES 16
#define SETUP_MAX_TEMPLATES 32
#define SETUP_TOKEN_BYTES 32 /* from getrandom(2); written as 64 hex digits */
#define SETUP_SERVICE_USER "docker-policy-proxy"
#define SETUP_SYSTEM_CONFIG "/etc/docker-policy-proxy/config.yaml"
#define SETUP_DEFAULT_STORE "/var/lib/docker-policy-proxy/store.db"

enum setup_auth {
	SETUP_AUTH_NONE = 0, /* only on a loopback bind address */
	SETUP_AUTH_SECRET,   /* one shared token, role admin */
	SETUP_AUTH_TOKENS,   /* one token per role */
	SETUP_AUTH_MTLS,     /* roles from client certificates */
};

/* How a value typed by the user is written: `true` is a boolean, `5` a
 * number, a comma list (operators in/not_in) a sequence. */
enum setup_vkind {
	SETUP_V_STR = 0,
	SETUP_V_BOOL,
	SETUP_V_INT,
	SETUP_V_NONE, /* exists / not_exists: no value key */
	SETUP_V_LIST, /* comma-separated strings */
};

/* One condition. field == NULL: an `or` group over or_list (terminated by an
 * entry whose field and or_list are both NULL). */
struct setup_cond {
	const char *field;
	const char *op;
	const char *value;
	enum setup_vkind kind;
	const struct setup_cond *or_list;
};

/* One rule in the seed's syntax. Zero/NULL members are left out of the YAML
 * (the output never has null keys). */
struct setup_rule {
	const char *name;
	const char *description;
	const char *action;
	const char *role;    /* require_role */
	const char *message;
	int status;          /* 0: not written */
	int rl_requests, rl_period, rl_penalty; /* rate_limit; 0: not written */
	const char *filter_field;               /* response_filter: redact this field */
	const struct setup_cond *conds;         /* terminated like or_list */
	int dry_run;
};

struct dpp_setup_template {
	const char *name;
	const char *help; /* one line, for the list and the YAML comment */
	const struct setup_rule *const *rules; /* NULL-terminated */
	int can_dry_run;  /* every rule's action takes dry_run: true */
};

struct setup_token {
	char role[64];
	char env[80];   /* ${ENV} name, e.g. ADMIN_TOKEN */
	char value[2 * SETUP_TOKEN_BYTES + 1];
};

struct setup_cert_role {
	char cn[256];
	char role[64];
};

/* A custom rule from the builder: storage for a struct setup_rule. */
struct setup_custom {
	char name[64];
	char action[24];
	char role[64];
	char message[256];
	char field[128];
	char op[24];
	char value[512];
	int dry_run;
	struct setup_cond cond[2]; /* built by setup_custom_rule; [1] terminates */
	struct setup_rule rule;
};

struct setup_answers {
	char bind[64];
	int port;
	char socket[108];       /* "" = auto-detect */
	int tls;                /* 1: cert + key (+ client CA) */
	char tls_cert[1024];
	char tls_key[1024];
	char tls_ca[1024];
	int require_client_cert;
	enum setup_auth auth;
	struct setup_token tokens[SETUP_MAX_TOKENS]; /* SECRET: tokens[0] */
	int ntokens;
	int token_env;          /* 1: ${ENV} references; 0: literals in the file */
	struct setup_cert_role cert_roles[SETUP_MAX_CERT_ROLES];
	int ncert_roles;
	char mtls_default_role[64];
	unsigned char tpl_on[SETUP_MAX_TEMPLATES];
	unsigned char tpl_dry[SETUP_MAX_TEMPLATES];
	struct setup_custom custom[SETUP_MAX_CUSTOM];
	int ncustom;
	char store[1024];       /* "" = the default (setup_store_path) */
	char output[1024];
	int force;              /* overwrite an existing file (the old one goes to .bak) */
};

/* Templates, in the order their rules are written (the seed installer's). */
size_t setup_template_count(void);
const struct dpp_setup_template *setup_template_get(size_t i);
/* Index of the template called name, or -1. */
int setup_template_find(const char *name);
/* The seed installer's safe defaults: its 15 rules. NULL-terminated names. */
extern const char *const setup_installer_templates[];

/* Defaults: 127.0.0.1:2376, socket auto-detected when present, tokens for
 * admin and readonly (not generated yet), output path by privilege. */
void setup_answers_init(struct setup_answers *a);

/* 1 when bind is a loopback address (127.0.0.0/8, ::1). */
int setup_is_loopback(const char *bind);

/* Adds a token for role (env name derived from it). 0, or -1 with *err
 * (static) on a bad or repeated role or when full. */
int setup_add_role(struct setup_answers *a, const char *role, const char **err);
/* Parses "admin,readonly" into the token list (replacing it). */
int setup_set_roles(struct setup_answers *a, const char *list, const char **err);
/* Parses "CN=ROLE" into the cert_role_map. */
int setup_add_cert_role(struct setup_answers *a, const char *spec, const char **err);
int setup_set_cert_roles(struct setup_answers *a, const char *list, const char **err);

/* Fills every token's value from getrandom(2) (32 bytes, hex). Returns 0, or
 * -1 with errno set. */
int setup_generate_tokens(struct setup_answers *a);

/* Finishes a custom rule (types its value). 0, or -1 with *err (static). */
int setup_custom_finish(struct setup_custom *c, const char **err);
/* "true"/"false" -> BOOL, a decimal integer -> INT, else STR; in/not_in -> LIST;
 * exists/not_exists -> NONE. */
enum setup_vkind setup_value_kind(const char *op, const char *value);

/* Consistency of the whole set of answers (auth none off loopback, mtls
 * without a client CA, dry run on a template that cannot). 0, or -1 with
 * *err (static). */
int setup_answers_check(const struct setup_answers *a, const char **err);

/* Relative TLS paths become absolute (the proxy resolves them from its
 * working directory, not from the config file's). Paths that do not exist
 * stay as given (the check reports them). */
void setup_absolute_paths(struct setup_answers *a);

/* 1 when this build's config schema has a store path key (then the wizard
 * asks for it and writes it). */
int setup_store_supported(void);

/* The store path to write: the answer, else for the service's file
 * SETUP_DEFAULT_STORE (its state directory), else "" (not written: the
 * proxy's default, beside the config file). Borrowed. */
const char *setup_store_path(const struct setup_answers *a);

/* The configuration as YAML (libyaml's emitter, plus comment lines naming
 * each template). Returns a malloc'd NUL-terminated text (caller frees), or
 * NULL with *err (static). */
char *setup_render_yaml(const struct setup_answers *a, const char **err);

/* Checks yaml with the real configuration loader and policy compiler (and
 * loads the TLS files when named), with the tokens' ${ENV} references set
 * for the check. Returns 0, or -1 with *errors (malloc'd, caller frees). */
int setup_validate(const struct setup_answers *a, const char *yaml, char **errors);

/* Saves yaml at a->output: validated first, then temp file (mode 0600) in
 * the same directory, fsync, rename, fsync of the directory. An existing file
 * is replaced only when a->force is set, and is kept as PATH.bak. Then the
 * version is recorded in config history (setup_record_version). Returns 0,
 * 1 when the file exists and force is not set (nothing written), or -1 with
 * *errors (malloc'd). *note gets a malloc'd line about history (or NULL). */
int setup_save(const struct setup_answers *a, const char *yaml, char **errors, char **note);

/* Records yaml as a config version with source "setup" in the history
 * kept by the store at store_path ("" = this build's default). Returns 0 and
 * *note (malloc'd, what was recorded), or -1 with *note saying why not. A
 * failure to record never undoes the saved file. */
int setup_record_version(const char *store_path, const char *config_path, const char *yaml,
			 char **note);

/* The certtool commands of README's TLS section, for a user without
 * certificates. Static text. */
const char *setup_certtool_help(void);

/* Describes what is at the Docker socket path: "answers: Docker X, API Y" or
 * why not. Writes at most len bytes. Returns 1 when Docker answered. */
int setup_probe_socket(const char *path, char *desc, size_t len);

/* The lines that show generated tokens once (ENV=VALUE  # role R). Writes
 * into a malloc'd text; NULL when there are no tokens. */
char *setup_tokens_text(const struct setup_answers *a);

#endif
