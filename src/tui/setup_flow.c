/* The wizard's questions, in order, with what each one shows and takes.
 * Both interactive front ends walk this one table, so the full screen and
 * --plain ask exactly the same things. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dpp/config.h"
#include "dpp/tls.h"
#include "setup_flow.h"

enum step {
	ST_WELCOME,
	ST_BIND,
	ST_PORT,
	ST_SOCKET,
	ST_TLS,
	ST_CERTTOOL,
	ST_TLS_CERT,
	ST_TLS_KEY,
	ST_TLS_CA,
	ST_AUTH,
	ST_ROLES,
	ST_TOKEN_STYLE,
	ST_CERT_ROLES,
	ST_MTLS_DEFAULT,
	ST_TEMPLATES,
	ST_DRY,
	ST_CUSTOM_ASK,
	ST_C_NAME,
	ST_C_ACTION,
	ST_C_ROLE,
	ST_C_FIELD,
	ST_C_FIELD_TEXT,
	ST_C_OP,
	ST_C_VALUE,
	ST_C_MESSAGE,
	ST_C_DRY,
	ST_STORE,
	ST_OUTPUT,
	ST_REVIEW,
	ST_OVERWRITE,
	ST_DONE,
	ST_END,
};

static const char *const auth_opts[] = {"none (loopback only)", "shared secret (role admin)",
					"tokens, one per role", "client certificates (mTLS)"};
static const char *const auth_help[] = {
	"for a proxy that only this host reaches",
	"one bearer token; whoever has it is admin",
	"a bearer token per role; rules may require one",
	"roles from the certificate's CN (TLS + client CA)"};
static const char *const tls_opts[] = {"no TLS (plain HTTP)", "TLS with my certificate and key",
				       "show the certtool commands to make them"};
static const char *const style_opts[] = {"literal tokens in the file (mode 0600)",
					 "${ENV} references (set the variables for the service)"};
static const char *const yesno_opts[] = {"no", "yes"};
static const char *const action_opts[] = {"deny", "allow", "require_role"};
static const char *const action_help[] = {"refuse with a message (403)",
					  "let it through; later rules are not asked",
					  "refuse unless the caller has a role"};
static const char *const field_opts[] = {
	"path", "method", "client_ip", "role", "identity", "body.HostConfig.Privileged",
	"body.HostConfig.NetworkMode", "body.Image", "other field (type it)"};
#define FIELD_OTHER 8
static const char *const op_opts[] = {"equals", "not_equals", "in", "not_in", "contains",
				      "not_contains", "starts_with", "ends_with", "matches",
				      "not_matches", "exists", "not_exists"};
static const char *const review_opts[] = {"save", "go back"};
static const char *const overwrite_opts[] = {"replace it (the old file is kept as .bak)",
					     "go back (write nothing)"};

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

void setup_flow_init(struct setup_flow *f)
{
	memset(f, 0, sizeof(*f));
	setup_answers_init(&f->a);
	f->step = ST_WELCOME;
}

void setup_flow_done(struct setup_flow *f)
{
	free(f->yaml);
	free(f->note);
	explicit_bzero(f->a.tokens, sizeof(f->a.tokens));
	f->yaml = NULL;
	f->note = NULL;
}

static struct setup_custom *cur_custom(struct setup_flow *f)
{
	return &f->a.custom[f->a.ncustom];
}

static int any_template(const struct setup_answers *a)
{
	for (size_t i = 0; i < setup_template_count(); i++)
		if (a->tpl_on[i] && setup_template_get(i)->can_dry_run)
			return 1;
	return 0;
}

/* Whether step s is asked with the answers so far. */
static int applies(const struct setup_flow *f, int s)
{
	const struct setup_answers *a = &f->a;
	const struct setup_custom *c = &a->custom[a->ncustom];

	switch (s) {
	case ST_CERTTOOL:
		return 0; /* only by choice at ST_TLS */
	case ST_TLS_CERT:
	case ST_TLS_KEY:
	case ST_TLS_CA:
		return a->tls;
	case ST_ROLES:
	case ST_TOKEN_STYLE:
		return a->auth == SETUP_AUTH_TOKENS || (s == ST_TOKEN_STYLE && a->auth == SETUP_AUTH_SECRET);
	case ST_CERT_ROLES:
	case ST_MTLS_DEFAULT:
		return a->auth == SETUP_AUTH_MTLS;
	case ST_DRY:
		return any_template(a);
	case ST_C_ROLE:
		return strcmp(c->action, "require_role") == 0;
	case ST_C_FIELD_TEXT:
		return 0; /* only by choice at ST_C_FIELD */
	case ST_C_VALUE:
		return setup_value_kind(c->op, "x") != SETUP_V_NONE;
	case ST_C_DRY:
		return strcmp(c->action, "allow") != 0;
	case ST_STORE:
		return setup_store_supported();
	case ST_OVERWRITE:
		return 0; /* only when the file exists */
	default:
		return 1;
	}
}

static void go(struct setup_flow *f, int next)
{
	if (f->depth < N(f->stack))
		f->stack[f->depth++] = f->step;
	f->step = next;
	f->error[0] = '\0';
}

/* The next applicable step after `from` (branches go() explicitly). */
static int next_after(const struct setup_flow *f, int from)
{
	int s = from + 1;

	while (s < ST_END && !applies(f, s))
		s++;
	return s;
}

static void advance(struct setup_flow *f)
{
	go(f, next_after(f, f->step));
}

int setup_flow_back(struct setup_flow *f)
{
	int prev;

	if (f->depth == 0 || f->step == ST_DONE)
		return -1;
	prev = f->stack[--f->depth];
	/* Back into a finished custom rule: it is being edited again. */
	if (f->step == ST_CUSTOM_ASK && prev >= ST_C_NAME && prev <= ST_C_DRY && f->a.ncustom > 0)
		f->a.ncustom--;
	f->step = prev;
	f->error[0] = '\0';
	return 0;
}

static void text_default(struct setup_q *q, const char *v)
{
	snprintf(q->value, sizeof(q->value), "%s", v);
}

static void opts(struct setup_q *q, const char *const *o, const char *const *help, int n)
{
	for (int i = 0; i < n && i < SETUP_Q_MAX_OPTS; i++) {
		q->opts[i] = o[i];
		q->opt_help[i] = help != NULL ? help[i] : NULL;
	}
	q->nopts = n;
}

static int index_of(const char *const *o, int n, const char *v)
{
	for (int i = 0; i < n; i++)
		if (strcmp(o[i], v) == 0)
			return i;
	return 0;
}

void setup_flow_prepare(struct setup_flow *f, struct setup_q *q)
{
	struct setup_answers *a = &f->a;
	struct setup_custom *c = cur_custom(f);
	char desc[512];

	memset(q, 0, sizeof(*q));
	q->kind = SETUP_Q_TEXT;
	switch (f->step) {
	case ST_WELCOME:
		q->kind = SETUP_Q_INFO;
		q->title = "docker-policy-proxy setup";
		snprintf(q->text, sizeof(q->text),
			 "This wizard writes a configuration file for docker-policy-proxy:\n"
			 "where it listens, the Docker socket, TLS, who may connect, and the\n"
			 "rules. Nothing is written before the review screen.\n\n"
			 "Esc goes back to the previous question at any time.");
		break;
	case ST_BIND:
		q->title = "Listen address";
		snprintf(q->text, sizeof(q->text),
			 "IPv4 or IPv6 address to listen on (:: for all addresses).\n"
			 "127.0.0.1 serves this host only. Anything else without TLS sends\n"
			 "tokens in clear text, and anyone who reaches the port may be root.");
		text_default(q, a->bind);
		break;
	case ST_PORT:
		q->title = "Listen port";
		snprintf(q->text, sizeof(q->text), "TCP port, 1..65535 (Docker's own TLS port is 2376;\n"
						    "choose another if dockerd listens there).");
		snprintf(q->value, sizeof(q->value), "%d", a->port);
		break;
	case ST_SOCKET:
		q->title = "Docker socket";
		setup_probe_socket(a->socket, desc, sizeof(desc));
		snprintf(q->text, sizeof(q->text),
			 "The Docker Engine socket to forward to.\nAuto-detected: %s\n%s%s",
			 a->socket[0] != '\0' ? a->socket : "(none found)",
			 a->socket[0] != '\0' ? "It " : "", desc);
		text_default(q, a->socket);
		break;
	case ST_TLS:
		q->kind = SETUP_Q_CHOICE;
		q->title = "TLS";
		snprintf(q->text, sizeof(q->text), "TLS on the TCP port (TLS 1.2 and 1.3).%s",
			 setup_is_loopback(a->bind) ? ""
						    : "\nWARNING: the address is not loopback: use TLS.");
		opts(q, tls_opts, NULL, N(tls_opts));
		q->choice = a->tls ? 1 : 0;
		break;
	case ST_CERTTOOL:
		q->kind = SETUP_Q_INFO;
		q->title = "Making certificates";
		snprintf(q->text, sizeof(q->text), "%s", setup_certtool_help());
		break;
	case ST_TLS_CERT:
		q->title = "TLS certificate";
		snprintf(q->text, sizeof(q->text), "Server certificate chain (PEM, leaf first).");
		text_default(q, a->tls_cert);
		break;
	case ST_TLS_KEY:
		q->title = "TLS private key";
		snprintf(q->text, sizeof(q->text), "Server private key (PEM). Checked against the "
						    "certificate now.");
		text_default(q, a->tls_key);
		break;
	case ST_TLS_CA:
		q->title = "Client CA";
		snprintf(q->text, sizeof(q->text),
			 "CA bundle (PEM) that client certificates must chain to; empty:\n"
			 "no client certificates (needed for mTLS authentication).");
		text_default(q, a->tls_ca);
		break;
	case ST_AUTH:
		q->kind = SETUP_Q_CHOICE;
		q->title = "Authentication";
		snprintf(q->text, sizeof(q->text), "Who may connect.%s",
			 setup_is_loopback(a->bind) ? "" : " (none is refused off loopback)");
		opts(q, auth_opts, auth_help, N(auth_opts));
		q->choice = (int)a->auth;
		break;
	case ST_ROLES:
		q->title = "Token roles";
		snprintf(q->text, sizeof(q->text),
			 "One token per role, comma-separated. Tokens are 32 random bytes from\n"
			 "the kernel, shown once after saving. admin passes every require_role.");
		for (int i = 0; i < a->ntokens; i++) {
			size_t l = strlen(q->value);

			snprintf(q->value + l, sizeof(q->value) - l, "%s%s", i ? "," : "", a->tokens[i].role);
		}
		break;
	case ST_TOKEN_STYLE:
		q->kind = SETUP_Q_CHOICE;
		q->title = "How tokens are written";
		snprintf(q->text, sizeof(q->text),
			 "Literal tokens live in the file (mode 0600). References such as\n"
			 "${ADMIN_TOKEN} keep them out of it: set the variables for the service\n"
			 "(/etc/docker-policy-proxy/environment for the systemd unit).");
		opts(q, style_opts, NULL, N(style_opts));
		q->choice = a->token_env;
		break;
	case ST_CERT_ROLES:
		q->title = "Certificate roles (cert_role_map)";
		snprintf(q->text, sizeof(q->text),
			 "CN=ROLE pairs, comma-separated (alice=admin, *.ci.example.com=ci).\n"
			 "Empty: the certificate's CN is the role.");
		for (int i = 0; i < a->ncert_roles; i++) {
			size_t l = strlen(q->value);

			snprintf(q->value + l, sizeof(q->value) - l, "%s%s=%s", i ? "," : "",
				 a->cert_roles[i].cn, a->cert_roles[i].role);
		}
		break;
	case ST_MTLS_DEFAULT:
		q->title = "Default role";
		snprintf(q->text, sizeof(q->text), "Role of a certificate without a CN that matches no "
						    "entry; empty: none.");
		text_default(q, a->mtls_default_role);
		break;
	case ST_TEMPLATES:
		q->kind = SETUP_Q_MULTI;
		q->title = "Rule templates";
		snprintf(q->text, sizeof(q->text), "Space selects, Enter goes on.");
		for (size_t i = 0; i < setup_template_count() && i < SETUP_Q_MAX_OPTS; i++) {
			q->opts[i] = setup_template_get(i)->name;
			q->opt_help[i] = setup_template_get(i)->help;
			q->on[i] = a->tpl_on[i];
		}
		q->nopts = (int)setup_template_count();
		break;
	case ST_DRY:
		q->kind = SETUP_Q_MULTI;
		q->title = "Dry run";
		snprintf(q->text, sizeof(q->text),
			 "Chosen rules to run dry: what they would refuse is logged and\n"
			 "audited, nothing is refused. Switch it off later in the file.");
		for (size_t i = 0; i < setup_template_count(); i++) {
			if (!a->tpl_on[i] || !setup_template_get(i)->can_dry_run)
				continue;
			q->opts[q->nopts] = setup_template_get(i)->name;
			q->opt_help[q->nopts] = setup_template_get(i)->help;
			q->on[q->nopts++] = a->tpl_dry[i];
		}
		break;
	case ST_CUSTOM_ASK:
		q->kind = SETUP_Q_CHOICE;
		q->title = "Custom rules";
		snprintf(q->text, sizeof(q->text), "%d custom rule(s) so far. Add one?", a->ncustom);
		opts(q, yesno_opts, NULL, N(yesno_opts));
		break;
	case ST_C_NAME:
		q->title = "Custom rule: name";
		snprintf(q->text, sizeof(q->text), "1..63 characters of A-Z a-z 0-9 _ . : -");
		text_default(q, c->name[0] != '\0' ? c->name : "custom-rule");
		break;
	case ST_C_ACTION:
		q->kind = SETUP_Q_CHOICE;
		q->title = "Custom rule: action";
		opts(q, action_opts, action_help, N(action_opts));
		q->choice = index_of(action_opts, N(action_opts), c->action);
		break;
	case ST_C_ROLE:
		q->title = "Custom rule: required role";
		text_default(q, c->role[0] != '\0' ? c->role : "admin");
		break;
	case ST_C_FIELD:
		q->kind = SETUP_Q_CHOICE;
		q->title = "Custom rule: field";
		snprintf(q->text, sizeof(q->text), "What the condition looks at.");
		opts(q, field_opts, NULL, N(field_opts));
		break;
	case ST_C_FIELD_TEXT:
		q->title = "Custom rule: field name";
		snprintf(q->text, sizeof(q->text),
			 "header.NAME, query.NAME, endpoint, or body.A.B (the JSON body).");
		text_default(q, c->field);
		break;
	case ST_C_OP:
		q->kind = SETUP_Q_CHOICE;
		q->title = "Custom rule: operator";
		opts(q, op_opts, NULL, N(op_opts));
		q->choice = index_of(op_opts, N(op_opts), c->op);
		break;
	case ST_C_VALUE:
		q->title = "Custom rule: value";
		snprintf(q->text, sizeof(q->text),
			 "true/false are booleans, 5 is a number, anything else a string;\n"
			 "for in / not_in a comma-separated list.");
		text_default(q, c->value);
		break;
	case ST_C_MESSAGE:
		q->title = "Custom rule: message";
		snprintf(q->text, sizeof(q->text), "Sent to the client when refused; empty: the default.");
		text_default(q, c->message);
		break;
	case ST_C_DRY:
		q->kind = SETUP_Q_CHOICE;
		q->title = "Custom rule: dry run?";
		opts(q, yesno_opts, NULL, N(yesno_opts));
		q->choice = c->dry_run;
		break;
	case ST_STORE:
		q->title = "Store";
		snprintf(q->text, sizeof(q->text),
			 "SQLite file for audit events and config history (this save is\n"
			 "recorded there). Empty: docker-policy-proxy.db beside the config\n"
			 "file; for %s: %s.",
			 SETUP_SYSTEM_CONFIG, SETUP_DEFAULT_STORE);
		text_default(q, a->store);
		break;
	case ST_OUTPUT:
		q->title = "Configuration file";
		snprintf(q->text, sizeof(q->text), "Where to write it (nothing is written yet).");
		text_default(q, a->output);
		break;
	case ST_REVIEW: {
		const char *err = NULL;

		q->kind = SETUP_Q_REVIEW;
		q->title = "Review";
		if ((a->auth == SETUP_AUTH_TOKENS || a->auth == SETUP_AUTH_SECRET) &&
		    a->tokens[0].value[0] == '\0' && setup_generate_tokens(a) != 0)
			snprintf(f->error, sizeof(f->error), "cannot read the kernel's random source");
		free(f->yaml);
		f->yaml = setup_render_yaml(a, &err);
		if (f->yaml == NULL)
			snprintf(f->error, sizeof(f->error), "%s", err);
		q->yaml = f->yaml != NULL ? f->yaml : "";
		snprintf(q->text, sizeof(q->text), "To be written to %s (mode 0600).", a->output);
		opts(q, review_opts, NULL, N(review_opts));
		break;
	}
	case ST_OVERWRITE:
		q->kind = SETUP_Q_CHOICE;
		q->title = "The file exists";
		snprintf(q->text, sizeof(q->text), "%s already exists.", a->output);
		opts(q, overwrite_opts, NULL, N(overwrite_opts));
		q->choice = 1;
		break;
	case ST_DONE: {
		char *toks = setup_tokens_text(a);
		int n;

		q->kind = SETUP_Q_INFO;
		q->title = "Saved";
		n = snprintf(q->text, sizeof(q->text), "Wrote %s (mode 0600).\n%s\n", a->output,
			     f->note != NULL ? f->note : "");
		if (toks != NULL && n > 0 && (size_t)n < sizeof(q->text)) {
			n += snprintf(q->text + n, sizeof(q->text) - (size_t)n,
				      "\nThe tokens, shown this once%s:\n%s",
				      a->token_env ? " (set these variables for the service)" : "",
				      toks);
		}
		if (n > 0 && (size_t)n < sizeof(q->text))
			snprintf(q->text + n, sizeof(q->text) - (size_t)n,
				 "\nCheck: docker-policy-proxy --check-config --config %s\n", a->output);
		if (toks != NULL)
			explicit_bzero(toks, strlen(toks));
		free(toks);
		break;
	}
	default:
		q->kind = SETUP_Q_INFO;
		q->title = "";
		break;
	}
}

static int fail(struct setup_flow *f, const char *msg)
{
	snprintf(f->error, sizeof(f->error), "%s", msg);
	return -1;
}

static int check_file(struct setup_flow *f, const char *path, const char *what)
{
	if (path[0] == '\0' || access(path, R_OK) != 0) {
		snprintf(f->error, sizeof(f->error), "%s %s cannot be read", what,
			 path[0] != '\0' ? path : "(empty)");
		return -1;
	}
	return 0;
}

/* The TLS files as the proxy will load them. */
static int check_tls(struct setup_flow *f)
{
	struct setup_answers *a = &f->a;
	struct dpp_tls_options o = {
		.cert = a->tls_cert,
		.key = a->tls_key,
		.client_ca = a->tls_ca[0] != '\0' ? a->tls_ca : NULL,
	};
	struct dpp_tls_creds *creds = NULL;
	char *err = NULL;

	setup_absolute_paths(a);
	if (dpp_tls_creds_load(&o, &creds, &err) != 0) {
		snprintf(f->error, sizeof(f->error), "%s", err != NULL ? err : "cannot load the TLS files");
		free(err);
		return -1;
	}
	dpp_tls_creds_unref(creds);
	return 0;
}

static int do_save(struct setup_flow *f)
{
	char *errors = NULL;
	int rc;

	free(f->note);
	f->note = NULL;
	if (f->yaml == NULL)
		return fail(f, f->error[0] != '\0' ? f->error : "nothing to save");
	rc = setup_save(&f->a, f->yaml, &errors, &f->note);
	if (rc < 0) {
		snprintf(f->error, sizeof(f->error), "not saved: %s", errors != NULL ? errors : "error");
		free(errors);
		return -1;
	}
	if (rc == 1) {
		go(f, ST_OVERWRITE);
		return 0;
	}
	f->saved = 1;
	go(f, ST_DONE);
	f->depth = 0; /* no way back past a save */
	return 0;
}

/* Copies an answer into a field; -1 when it does not fit. */
#define SET(dst, src) (copy_in((dst), sizeof(dst), (src)) == 0 ? 0 : fail(f, "the answer is too long"))
static int copy_in(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

int setup_flow_answer(struct setup_flow *f, const struct setup_q *q)
{
	struct setup_answers *a = &f->a;
	struct setup_custom *c = cur_custom(f);
	const char *err = NULL;
	unsigned char addr[16];

	f->error[0] = '\0';
	switch (f->step) {
	case ST_BIND:
		if (inet_pton(AF_INET, q->value, addr) != 1 && inet_pton(AF_INET6, q->value, addr) != 1)
			return fail(f, "an IPv4 or IPv6 address literal (no brackets, no host names)");
		if (SET(a->bind, q->value) != 0)
			return -1;
		if (a->auth == SETUP_AUTH_NONE && !setup_is_loopback(a->bind))
			a->auth = SETUP_AUTH_TOKENS;
		break;
	case ST_PORT: {
		char *end = NULL;
		long v = strtol(q->value, &end, 10);

		if (end == q->value || *end != '\0' || v < 1 || v > 65535)
			return fail(f, "a port is 1..65535");
		a->port = (int)v;
		break;
	}
	case ST_SOCKET:
		if (strlen(q->value) >= sizeof(a->socket))
			return fail(f, "a socket path is shorter than 108 bytes");
		if (SET(a->socket, q->value) != 0)
			return -1;
		break;
	case ST_TLS:
		if (q->choice == 2) {
			go(f, ST_CERTTOOL);
			return 0;
		}
		a->tls = q->choice == 1;
		if (!a->tls) {
			a->tls_cert[0] = a->tls_key[0] = a->tls_ca[0] = '\0';
			if (a->auth == SETUP_AUTH_MTLS)
				a->auth = SETUP_AUTH_TOKENS;
		}
		break;
	case ST_CERTTOOL:
		go(f, ST_TLS);
		return 0;
	case ST_TLS_CERT:
		if (check_file(f, q->value, "the certificate") != 0)
			return -1;
		if (SET(a->tls_cert, q->value) != 0)
			return -1;
		break;
	case ST_TLS_KEY:
		if (check_file(f, q->value, "the key") != 0)
			return -1;
		if (SET(a->tls_key, q->value) != 0)
			return -1;
		break;
	case ST_TLS_CA:
		if (q->value[0] != '\0' && check_file(f, q->value, "the CA bundle") != 0)
			return -1;
		if (SET(a->tls_ca, q->value) != 0)
			return -1;
		if (check_tls(f) != 0)
			return -1;
		break;
	case ST_AUTH:
		if (q->choice == SETUP_AUTH_NONE && !setup_is_loopback(a->bind))
			return fail(f, "none is refused off loopback: anyone who reaches the port is root");
		if (q->choice == SETUP_AUTH_MTLS && (!a->tls || a->tls_ca[0] == '\0'))
			return fail(f, "mTLS needs TLS with a client CA: go back and set one");
		if (q->choice == SETUP_AUTH_SECRET && a->auth != SETUP_AUTH_SECRET)
			(void)setup_set_roles(a, "admin", &err);
		else if (q->choice == SETUP_AUTH_TOKENS && a->auth != SETUP_AUTH_TOKENS)
			(void)setup_set_roles(a, "admin,readonly", &err);
		a->auth = (enum setup_auth)q->choice;
		break;
	case ST_ROLES:
		if (setup_set_roles(a, q->value, &err) != 0)
			return fail(f, err);
		break;
	case ST_TOKEN_STYLE:
		a->token_env = q->choice == 1;
		break;
	case ST_CERT_ROLES:
		if (setup_set_cert_roles(a, q->value, &err) != 0)
			return fail(f, err);
		break;
	case ST_MTLS_DEFAULT:
		if (strlen(q->value) >= sizeof(a->mtls_default_role))
			return fail(f, "too long");
		if (SET(a->mtls_default_role, q->value) != 0)
			return -1;
		break;
	case ST_TEMPLATES:
		for (size_t i = 0; i < setup_template_count(); i++) {
			a->tpl_on[i] = q->on[i] ? 1 : 0;
			if (!a->tpl_on[i])
				a->tpl_dry[i] = 0;
		}
		break;
	case ST_DRY: {
		int k = 0;

		for (size_t i = 0; i < setup_template_count(); i++) {
			if (!a->tpl_on[i] || !setup_template_get(i)->can_dry_run)
				continue;
			a->tpl_dry[i] = q->on[k++] ? 1 : 0;
		}
		break;
	}
	case ST_CUSTOM_ASK:
		if (q->choice == 1) {
			if (a->ncustom >= SETUP_MAX_CUSTOM)
				return fail(f, "at most 16 custom rules");
			memset(c, 0, sizeof(*c));
			snprintf(c->action, sizeof(c->action), "deny");
			snprintf(c->op, sizeof(c->op), "equals");
			go(f, ST_C_NAME);
			return 0;
		}
		go(f, next_after(f, ST_C_DRY));
		return 0;
	case ST_C_NAME:
		if (SET(c->name, q->value) != 0)
			return -1;
		for (size_t i = 0; i < setup_template_count(); i++)
			for (size_t j = 0; setup_template_get(i)->rules[j] != NULL; j++)
				if (a->tpl_on[i] && strcmp(setup_template_get(i)->rules[j]->name, c->name) == 0)
					return fail(f, "a chosen template already has a rule of that name");
		for (int i = 0; i < a->ncustom; i++)
			if (strcmp(a->custom[i].name, c->name) == 0)
				return fail(f, "another custom rule has that name");
		break;
	case ST_C_ACTION:
		if (SET(c->action, action_opts[q->choice]) != 0)
			return -1;
		break;
	case ST_C_ROLE:
		if (SET(c->role, q->value) != 0)
			return -1;
		break;
	case ST_C_FIELD:
		if (q->choice == FIELD_OTHER) {
			go(f, ST_C_FIELD_TEXT);
			return 0;
		}
		if (SET(c->field, field_opts[q->choice]) != 0)
			return -1;
		break;
	case ST_C_FIELD_TEXT:
		if (q->value[0] == '\0')
			return fail(f, "name a field");
		if (SET(c->field, q->value) != 0)
			return -1;
		go(f, ST_C_OP);
		return 0;
	case ST_C_OP:
		if (SET(c->op, op_opts[q->choice]) != 0)
			return -1;
		if (!applies(f, ST_C_VALUE))
			c->value[0] = '\0';
		break;
	case ST_C_VALUE:
		if (q->value[0] == '\0')
			return fail(f, "this operator needs a value");
		if (SET(c->value, q->value) != 0)
			return -1;
		break;
	case ST_C_MESSAGE:
		if (SET(c->message, q->value) != 0)
			return -1;
		if (!applies(f, ST_C_DRY)) {
			c->dry_run = 0;
			if (setup_custom_finish(c, &err) != 0)
				return fail(f, err);
			a->ncustom++;
			go(f, ST_CUSTOM_ASK);
			return 0;
		}
		break;
	case ST_C_DRY:
		c->dry_run = q->choice == 1;
		if (setup_custom_finish(c, &err) != 0)
			return fail(f, err);
		a->ncustom++;
		go(f, ST_CUSTOM_ASK);
		return 0;
	case ST_STORE:
		if (SET(a->store, q->value) != 0)
			return -1;
		break;
	case ST_OUTPUT:
		if (q->value[0] == '\0')
			return fail(f, "name a file");
		if (SET(a->output, q->value) != 0)
			return -1;
		break;
	case ST_REVIEW:
		if (q->choice == 1)
			return setup_flow_back(f);
		if (setup_answers_check(a, &err) != 0)
			return fail(f, err);
		a->force = 0;
		return do_save(f);
	case ST_OVERWRITE:
		if (q->choice == 1)
			return setup_flow_back(f);
		a->force = 1;
		return do_save(f);
	case ST_DONE:
		f->finished = 1;
		return 0;
	default:
		break;
	}
	advance(f);
	return 0;
}
