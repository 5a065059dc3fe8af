/* `docker-policy-proxy setup`: flags, --list-templates, --non-interactive,
 * and the choice between the full screen and --plain. Flags given to an
 * interactive run become the wizard's defaults. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "setup.h"
#include "setup_flow.h"
#include "setup_ui.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: docker-policy-proxy setup [--plain | --non-interactive] [OPTIONS]\n"
		"       docker-policy-proxy setup --list-templates\n"
		"\n"
		"Writes a configuration file. Without --non-interactive it asks (full screen on a\n"
		"terminal, line prompts with --plain or without a terminal); options preset the answers.\n"
		"\n"
		"Options:\n"
		"      --plain                  line prompts on stdin/stdout (serial consoles, TERM=dumb)\n"
		"      --non-interactive        take every choice from the options below, ask nothing\n"
		"      --list-templates         print the rule templates and exit\n"
		"      --bind ADDR              listen address (default 127.0.0.1)\n"
		"      --port N                 listen port (default 2376)\n"
		"      --socket PATH            Docker socket (default: auto-detected)\n"
		"      --auth MODE              none, secret, tokens or mtls (default tokens)\n"
		"      --token-role ROLE        a token for ROLE; repeatable (default admin, readonly)\n"
		"      --token-env              write tokens as ${ROLE_TOKEN} references, not literals\n"
		"      --template NAME          add a rule template; repeatable\n"
		"      --dry-run-template NAME  add a template in dry-run mode; repeatable\n"
		"      --tls-cert PATH          server certificate (PEM); with --tls-key turns TLS on\n"
		"      --tls-key PATH           server private key (PEM)\n"
		"      --tls-ca PATH            CA for client certificates (PEM)\n"
		"      --cert-role CN=ROLE      mTLS: map a certificate name to a role; repeatable\n"
		"      --mtls-default-role ROLE mTLS: role of a certificate without a CN\n"
		"      --store PATH             SQLite store (when this build has one)\n"
		"      --output PATH            file to write (default: %s as root\n"
		"                               when that directory exists, else ./config.yaml)\n"
		"      --force                  replace an existing file (the old one is kept as .bak)\n"
		"  -h, --help                   this text\n"
		"\n"
		"Generated tokens (32 random bytes, hex) are printed once, as NAME=TOKEN lines on stdout.\n",
		SETUP_SYSTEM_CONFIG);
}

static void list_templates(void)
{
	for (size_t i = 0; i < setup_template_count(); i++) {
		const struct dpp_setup_template *t = setup_template_get(i);

		printf("%-32s %s\n", t->name, t->help);
		for (size_t j = 0; t->rules[j] != NULL; j++)
			if (strcmp(t->rules[j]->name, t->name) != 0)
				printf("%-32s   rule %s\n", "", t->rules[j]->name);
	}
}

__attribute__((format(printf, 1, 2))) static int bad(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "docker-policy-proxy setup: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see docker-policy-proxy setup --help)\n");
	return EX_USAGE;
}

static int copy_path(char *dst, size_t len, const char *src, const char *flag)
{
	if (strlen(src) >= len)
		return bad("%s: path too long", flag);
	snprintf(dst, len, "%s", src);
	return 0;
}

enum {
	OPT_PLAIN = 256, OPT_NONINTERACTIVE, OPT_LIST, OPT_BIND, OPT_PORT, OPT_SOCKET, OPT_AUTH,
	OPT_ROLE, OPT_TOKEN_ENV, OPT_TEMPLATE, OPT_DRY, OPT_CERT, OPT_KEY, OPT_CA, OPT_CERT_ROLE,
	OPT_DEFAULT_ROLE, OPT_STORE, OPT_OUTPUT, OPT_FORCE,
};

/* Runs without questions: the answers are complete. */
static int run_non_interactive(struct setup_answers *a)
{
	const char *err = NULL;
	char *yaml, *errors = NULL, *note = NULL, *toks;
	int rc;

	setup_absolute_paths(a);
	if (setup_answers_check(a, &err) != 0)
		return bad("%s", err);
	if (setup_generate_tokens(a) != 0) {
		fprintf(stderr, "docker-policy-proxy setup: cannot read the kernel's random source\n");
		return EX_OSERR;
	}
	yaml = setup_render_yaml(a, &err);
	if (yaml == NULL) {
		fprintf(stderr, "docker-policy-proxy setup: %s\n", err);
		return EX_SOFTWARE;
	}
	rc = setup_save(a, yaml, &errors, &note);
	free(yaml);
	if (rc == 1) {
		fprintf(stderr, "docker-policy-proxy setup: %s exists; not replaced (--force replaces it "
				"and keeps the old file as %s.bak)\n", a->output, a->output);
		return EX_CANTCREAT;
	}
	if (rc != 0) {
		fprintf(stderr, "%s\ndocker-policy-proxy setup: nothing written\n",
			errors != NULL ? errors : "error");
		free(errors);
		return EX_CONFIG;
	}
	fprintf(stderr, "docker-policy-proxy setup: wrote %s (mode 0600)\n", a->output);
	if (note != NULL)
		fprintf(stderr, "docker-policy-proxy setup: %s\n", note);
	free(note);
	toks = setup_tokens_text(a);
	if (toks != NULL) {
		fputs(toks, stdout);
		explicit_bzero(toks, strlen(toks));
		free(toks);
	}
	explicit_bzero(a->tokens, sizeof(a->tokens));
	return fflush(stdout) == 0 ? 0 : EX_IOERR;
}

static int plain_wanted(int flag)
{
	const char *term = getenv("TERM");

	return flag || !isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO) || term == NULL ||
	       term[0] == '\0' || strcmp(term, "dumb") == 0;
}

int dpp_setup_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"plain", no_argument, NULL, OPT_PLAIN},
		{"non-interactive", no_argument, NULL, OPT_NONINTERACTIVE},
		{"list-templates", no_argument, NULL, OPT_LIST},
		{"bind", required_argument, NULL, OPT_BIND},
		{"port", required_argument, NULL, OPT_PORT},
		{"socket", required_argument, NULL, OPT_SOCKET},
		{"auth", required_argument, NULL, OPT_AUTH},
		{"token-role", required_argument, NULL, OPT_ROLE},
		{"token-env", no_argument, NULL, OPT_TOKEN_ENV},
		{"template", required_argument, NULL, OPT_TEMPLATE},
		{"dry-run-template", required_argument, NULL, OPT_DRY},
		{"tls-cert", required_argument, NULL, OPT_CERT},
		{"tls-key", required_argument, NULL, OPT_KEY},
		{"tls-ca", required_argument, NULL, OPT_CA},
		{"cert-role", required_argument, NULL, OPT_CERT_ROLE},
		{"mtls-default-role", required_argument, NULL, OPT_DEFAULT_ROLE},
		{"store", required_argument, NULL, OPT_STORE},
		{"output", required_argument, NULL, OPT_OUTPUT},
		{"force", no_argument, NULL, OPT_FORCE},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static const char *const auth_names[] = {"none", "secret", "tokens", "mtls"};
	struct setup_flow *f = calloc(1, sizeof(*f));
	struct setup_answers *a;
	int plain = 0, batch = 0, list = 0, opt, rc = 0, roles_given = 0, auth_given = 0;
	const char *err = NULL;

	if (f == NULL)
		return EX_OSERR;
	setup_flow_init(f);
	a = &f->a;
	opterr = 0;
	optind = 1;
	while (rc == 0 && (opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		int t;

		switch (opt) {
		case OPT_PLAIN:
			plain = 1;
			break;
		case OPT_NONINTERACTIVE:
			batch = 1;
			break;
		case OPT_LIST:
			list = 1;
			break;
		case OPT_BIND:
			rc = copy_path(a->bind, sizeof(a->bind), optarg, "--bind");
			break;
		case OPT_PORT: {
			char *end = NULL;
			long v = strtol(optarg, &end, 10);

			if (end == optarg || *end != '\0' || v < 1 || v > 65535)
				rc = bad("--port must be 1..65535, not '%s'", optarg);
			else
				a->port = (int)v;
			break;
		}
		case OPT_SOCKET:
			rc = copy_path(a->socket, sizeof(a->socket), optarg, "--socket");
			break;
		case OPT_AUTH:
			for (int i = 0; i < 4; i++) {
				if (strcmp(optarg, auth_names[i]) == 0) {
					a->auth = (enum setup_auth)i;
					auth_given = 1;
				}
			}
			if (!auth_given)
				rc = bad("--auth must be none, secret, tokens or mtls, not '%s'", optarg);
			break;
		case OPT_ROLE:
			if (!roles_given)
				a->ntokens = 0;
			roles_given = 1;
			if (setup_add_role(a, optarg, &err) != 0)
				rc = bad("--token-role: %s", err);
			break;
		case OPT_TOKEN_ENV:
			a->token_env = 1;
			break;
		case OPT_TEMPLATE:
		case OPT_DRY:
			t = setup_template_find(optarg);
			if (t < 0) {
				rc = bad("unknown template '%s' (setup --list-templates lists them)", optarg);
				break;
			}
			a->tpl_on[t] = 1;
			if (opt == OPT_DRY) {
				if (!setup_template_get((size_t)t)->can_dry_run)
					rc = bad("template '%s' cannot run dry (a response filter never "
						 "denies)", optarg);
				a->tpl_dry[t] = 1;
			}
			break;
		case OPT_CERT:
			rc = copy_path(a->tls_cert, sizeof(a->tls_cert), optarg, "--tls-cert");
			a->tls = 1;
			break;
		case OPT_KEY:
			rc = copy_path(a->tls_key, sizeof(a->tls_key), optarg, "--tls-key");
			a->tls = 1;
			break;
		case OPT_CA:
			rc = copy_path(a->tls_ca, sizeof(a->tls_ca), optarg, "--tls-ca");
			a->tls = 1;
			break;
		case OPT_CERT_ROLE:
			if (setup_add_cert_role(a, optarg, &err) != 0)
				rc = bad("--cert-role: %s", err);
			break;
		case OPT_DEFAULT_ROLE:
			rc = copy_path(a->mtls_default_role, sizeof(a->mtls_default_role), optarg,
				       "--mtls-default-role");
			break;
		case OPT_STORE:
			if (!setup_store_supported())
				rc = bad("--store: this build has no store (%s)", optarg);
			else
				rc = copy_path(a->store, sizeof(a->store), optarg, "--store");
			break;
		case OPT_OUTPUT:
			rc = copy_path(a->output, sizeof(a->output), optarg, "--output");
			break;
		case OPT_FORCE:
			a->force = 1;
			break;
		case 'h':
			usage(stdout);
			goto out;
		case ':':
			rc = bad("option '%s' needs a value", argv[optind - 1]);
			break;
		default:
			rc = bad("unknown option '%s'", argv[optind - 1]);
			break;
		}
	}
	if (rc != 0)
		goto out;
	if (optind < argc) {
		rc = bad("unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (plain && batch) {
		rc = bad("%s", "--plain and --non-interactive exclude each other");
		goto out;
	}
	if (list) {
		list_templates();
		goto out;
	}
	if (a->auth == SETUP_AUTH_SECRET && !roles_given)
		(void)setup_set_roles(a, "admin", &err);
	else if (a->auth == SETUP_AUTH_SECRET && a->ntokens != 1) {
		rc = bad("%s", "--auth secret takes no --token-role (the secret is role admin)");
		goto out;
	}
	if (roles_given && auth_given && (a->auth == SETUP_AUTH_NONE || a->auth == SETUP_AUTH_MTLS)) {
		rc = bad("--token-role needs --auth tokens (not %s)", auth_names[a->auth]);
		goto out;
	}
	if (batch)
		rc = run_non_interactive(a);
	else if (plain_wanted(plain))
		rc = setup_run_plain(f, stdin, stdout);
	else
		rc = setup_run_curses(f);
out:
	setup_flow_done(f);
	explicit_bzero(f, sizeof(*f));
	free(f);
	return rc;
}

int dpp_setup_offer(const char *missing_path)
{
	char line[16];

	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
		return 0;
	printf("docker-policy-proxy: no configuration file (%s).\n"
	       "Run the setup wizard now to write one? [Y/n] ", missing_path);
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 0;
	return line[0] == '\n' || line[0] == 'y' || line[0] == 'Y';
}
