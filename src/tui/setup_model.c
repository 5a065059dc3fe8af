/* The wizard's answers: defaults, roles and tokens, custom rules, checks. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "dpp/config.h"
#include "dpp/upstream.h"
#include "setup_model.h"

#define PROBE_TIMEOUT_MS 2000

void setup_answers_init(struct setup_answers *a)
{
	const char *err = NULL;
	struct stat st;

	memset(a, 0, sizeof(*a));
	snprintf(a->bind, sizeof(a->bind), "%s", DPP_DEFAULT_BIND);
	a->port = DPP_DEFAULT_PORT;
	if (dpp_socket_detect(getenv("HOME"), a->socket, sizeof(a->socket)) != 0)
		a->socket[0] = '\0';
	a->auth = SETUP_AUTH_TOKENS;
	(void)setup_set_roles(a, "admin,readonly", &err);
	/* root with the package's directory: the service's file; else here. */
	if (geteuid() == 0 && stat("/etc/docker-policy-proxy", &st) == 0 && S_ISDIR(st.st_mode))
		snprintf(a->output, sizeof(a->output), "%s", SETUP_SYSTEM_CONFIG);
	else
		snprintf(a->output, sizeof(a->output), "config.yaml");
}

int setup_is_loopback(const char *bind)
{
	struct in_addr v4;
	struct in6_addr v6;

	if (inet_pton(AF_INET, bind, &v4) == 1)
		return (ntohl(v4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, bind, &v6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&v6);
	return 0;
}

/* Roles become names in rules and environment variables: keep them simple. */
static int role_ok(const char *r)
{
	size_t n = strlen(r);

	if (n == 0 || n >= 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)r[i]) && r[i] != '-' && r[i] != '_' && r[i] != '.')
			return 0;
	return 1;
}

int setup_add_role(struct setup_answers *a, const char *role, const char **err)
{
	struct setup_token *t;
	size_t j = 0;

	if (!role_ok(role)) {
		*err = "a role is 1..63 characters of A-Z a-z 0-9 - _ .";
		return -1;
	}
	for (int i = 0; i < a->ntokens; i++) {
		if (strcmp(a->tokens[i].role, role) == 0) {
			*err = "each role gets one token: a role is named twice";
			return -1;
		}
	}
	if (a->ntokens >= SETUP_MAX_TOKENS) {
		*err = "at most 16 token roles";
		return -1;
	}
	t = &a->tokens[a->ntokens++];
	memset(t, 0, sizeof(*t));
	snprintf(t->role, sizeof(t->role), "%s", role);
	/* admin -> ADMIN_TOKEN, as the seed installer names them. */
	for (const char *p = role; *p != '\0' && j + 7 < sizeof(t->env); p++)
		t->env[j++] = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
	memcpy(t->env + j, "_TOKEN", 7);
	return 0;
}

/* Splits a comma or space separated list, calling fn on each item. */
static int each_item(const char *list, int (*fn)(struct setup_answers *, const char *,
						 const char **),
		     struct setup_answers *a, const char **err)
{
	char buf[2048];
	char *save = NULL, *item;

	if (strlen(list) >= sizeof(buf)) {
		*err = "the list is too long";
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", list);
	for (item = strtok_r(buf, ", \t", &save); item != NULL; item = strtok_r(NULL, ", \t", &save))
		if (fn(a, item, err) != 0)
			return -1;
	return 0;
}

int setup_set_roles(struct setup_answers *a, const char *list, const char **err)
{
	a->ntokens = 0;
	if (each_item(list, setup_add_role, a, err) != 0)
		return -1;
	if (a->ntokens == 0) {
		*err = "name at least one role";
		return -1;
	}
	return 0;
}

int setup_add_cert_role(struct setup_answers *a, const char *spec, const char **err)
{
	const char *eq = strchr(spec, '=');
	struct setup_cert_role *c;

	if (eq == NULL || eq == spec || (size_t)(eq - spec) >= sizeof(c->cn) || !role_ok(eq + 1)) {
		*err = "a certificate mapping is CN=ROLE (e.g. alice=admin, *.ci.example.com=ci)";
		return -1;
	}
	if (a->ncert_roles >= SETUP_MAX_CERT_ROLES) {
		*err = "at most 16 certificate mappings";
		return -1;
	}
	c = &a->cert_roles[a->ncert_roles++];
	snprintf(c->cn, sizeof(c->cn), "%.*s", (int)(eq - spec), spec);
	snprintf(c->role, sizeof(c->role), "%s", eq + 1);
	return 0;
}

int setup_set_cert_roles(struct setup_answers *a, const char *list, const char **err)
{
	a->ncert_roles = 0;
	return each_item(list, setup_add_cert_role, a, err);
}

int setup_generate_tokens(struct setup_answers *a)
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < a->ntokens; i++) {
		unsigned char raw[SETUP_TOKEN_BYTES];
		size_t got = 0;

		/* The kernel's CSPRNG; blocks only until it is seeded once. */
		while (got < sizeof(raw)) {
			ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				return -1;
			}
			got += (size_t)n;
		}
		for (size_t j = 0; j < sizeof(raw); j++) {
			a->tokens[i].value[2 * j] = hex[raw[j] >> 4];
			a->tokens[i].value[2 * j + 1] = hex[raw[j] & 15];
		}
		a->tokens[i].value[2 * SETUP_TOKEN_BYTES] = '\0';
		explicit_bzero(raw, sizeof(raw));
	}
	return 0;
}

static int is_int(const char *v)
{
	const char *p = v;

	if (*p == '-')
		p++;
	if (*p == '\0' || strlen(p) > 15)
		return 0;
	return strspn(p, "0123456789") == strlen(p);
}

enum setup_vkind setup_value_kind(const char *op, const char *value)
{
	if (strcmp(op, "exists") == 0 || strcmp(op, "not_exists") == 0)
		return SETUP_V_NONE;
	if (strcmp(op, "in") == 0 || strcmp(op, "not_in") == 0)
		return SETUP_V_LIST;
	if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0)
		return SETUP_V_BOOL;
	if (is_int(value))
		return SETUP_V_INT;
	return SETUP_V_STR;
}

static int rule_name_ok(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len > 63)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)n[i]) && strchr("_.:-", n[i]) == NULL)
			return 0;
	return 1;
}

int setup_custom_finish(struct setup_custom *c, const char **err)
{
	struct setup_rule *r = &c->rule;

	if (!rule_name_ok(c->name)) {
		*err = "a rule name is 1..63 characters of A-Z a-z 0-9 _ . : -";
		return -1;
	}
	if (c->field[0] == '\0' || c->op[0] == '\0') {
		*err = "a condition needs a field and an operator";
		return -1;
	}
	memset(c->cond, 0, sizeof(c->cond));
	c->cond[0].field = c->field;
	c->cond[0].op = c->op;
	c->cond[0].kind = setup_value_kind(c->op, c->value);
	c->cond[0].value = c->cond[0].kind == SETUP_V_NONE ? NULL : c->value;
	if (c->cond[0].kind != SETUP_V_NONE && c->value[0] == '\0') {
		*err = "this operator needs a value";
		return -1;
	}
	memset(r, 0, sizeof(*r));
	r->name = c->name;
	r->action = c->action;
	r->conds = c->cond;
	r->message = c->message[0] != '\0' ? c->message : NULL;
	if (strcmp(c->action, "require_role") == 0)
		r->role = c->role[0] != '\0' ? c->role : "admin";
	r->dry_run = c->dry_run;
	if (strcmp(c->action, "deny") != 0 && strcmp(c->action, "allow") != 0 &&
	    strcmp(c->action, "require_role") != 0) {
		*err = "the builder makes deny, allow and require_role rules";
		return -1;
	}
	if (c->dry_run && strcmp(c->action, "allow") == 0) {
		*err = "dry run applies to deny and require_role, not allow";
		return -1;
	}
	return 0;
}

int setup_answers_check(const struct setup_answers *a, const char **err)
{
	if (a->auth == SETUP_AUTH_NONE && !setup_is_loopback(a->bind)) {
		*err = "authentication none is only allowed on a loopback address "
		       "(anyone who reaches the port is root on this host)";
		return -1;
	}
	if (a->tls && (a->tls_cert[0] == '\0' || a->tls_key[0] == '\0')) {
		*err = "TLS needs a certificate and a key (--tls-cert, --tls-key)";
		return -1;
	}
	if (!a->tls && (a->tls_cert[0] != '\0' || a->tls_key[0] != '\0' || a->tls_ca[0] != '\0')) {
		*err = "TLS files given but TLS is off";
		return -1;
	}
	if (a->auth == SETUP_AUTH_MTLS && (!a->tls || a->tls_ca[0] == '\0')) {
		*err = "authentication mtls needs TLS with a client CA (--tls-ca)";
		return -1;
	}
	if ((a->auth == SETUP_AUTH_TOKENS || a->auth == SETUP_AUTH_SECRET) && a->ntokens == 0) {
		*err = "token authentication needs at least one role";
		return -1;
	}
	for (size_t i = 0; i < setup_template_count(); i++) {
		if (a->tpl_dry[i] && !a->tpl_on[i]) {
			*err = "a dry-run template must also be chosen as a template";
			return -1;
		}
		if (a->tpl_dry[i] && !setup_template_get(i)->can_dry_run) {
			*err = "that template cannot run dry (a response filter never denies)";
			return -1;
		}
	}
	if (a->output[0] == '\0') {
		*err = "no output path";
		return -1;
	}
	return 0;
}

const char *setup_store_path(const struct setup_answers *a)
{
	if (a->store[0] != '\0')
		return a->store;
	/* The service cannot write beside /etc/...: ProtectSystem=strict. */
	return strcmp(a->output, SETUP_SYSTEM_CONFIG) == 0 ? SETUP_DEFAULT_STORE : "";
}

static void absolute(char *path, size_t size)
{
	char *abs;

	if (path[0] == '\0' || path[0] == '/')
		return;
	abs = realpath(path, NULL);
	if (abs != NULL && strlen(abs) < size)
		memcpy(path, abs, strlen(abs) + 1);
	free(abs);
}

void setup_absolute_paths(struct setup_answers *a)
{
	absolute(a->tls_cert, sizeof(a->tls_cert));
	absolute(a->tls_key, sizeof(a->tls_key));
	absolute(a->tls_ca, sizeof(a->tls_ca));
}

int setup_store_supported(void)
{
	const struct dpp_config_key *k;

	for (size_t i = 0; (k = dpp_config_schema_get(i)) != NULL; i++)
		if (strcmp(k->key, "global.store.path") == 0)
			return 1;
	return 0;
}

const char *setup_certtool_help(void)
{
	return "No certificates yet? Make them with certtool (Debian gnutls-bin), in the\n"
	       "directory that will hold them (README, \"Running with TLS\", has more):\n"
	       "\n"
	       "  certtool -p --key-type=ecdsa --no-text --outfile ca-key.pem\n"
	       "  printf 'cn=proxy CA\\nca\\ncert_signing_key\\nexpiration_days=3650\\n' >ca.tmpl\n"
	       "  certtool -s --load-privkey ca-key.pem --template ca.tmpl --outfile ca.pem\n"
	       "  certtool -p --key-type=ecdsa --no-text --outfile server-key.pem\n"
	       "  printf 'cn=proxy\\nip_address=127.0.0.1\\ntls_www_server\\nsigning_key\\n' >s.tmpl\n"
	       "  certtool -c --load-privkey server-key.pem --load-ca-certificate ca.pem \\\n"
	       "    --load-ca-privkey ca-key.pem --template s.tmpl --outfile server.pem\n"
	       "\n"
	       "Put every name and address clients use into s.tmpl (dns_name=...,\n"
	       "ip_address=...). Then: certificate server.pem, key server-key.pem, client\n"
	       "CA ca.pem (client certificates are signed the same way, tls_www_client).\n";
}

int setup_probe_socket(const char *path, char *desc, size_t len)
{
	const char *err = NULL;
	char ver[192];
	int status;
	struct stat st;

	if (path == NULL || path[0] == '\0') {
		snprintf(desc, len, "no Docker socket found (looked at /var/run/docker.sock, "
				    "/run/docker.sock)");
		return 0;
	}
	if (stat(path, &st) != 0) {
		snprintf(desc, len, "%s: %s", path, strerror(errno));
		return 0;
	}
	status = dpp_upstream_docker_version(path, PROBE_TIMEOUT_MS, ver, sizeof(ver), &err);
	if (status == 200)
		snprintf(desc, len, "answers: %s", ver);
	else if (status > 0)
		snprintf(desc, len, "answers /version with HTTP %d", status);
	else
		snprintf(desc, len, "does not answer: %s", err != NULL ? err : "error");
	return status == 200;
}

char *setup_tokens_text(const struct setup_answers *a)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	if (a->auth != SETUP_AUTH_TOKENS && a->auth != SETUP_AUTH_SECRET)
		return NULL;
	f = open_memstream(&out, &len);
	if (f == NULL)
		return NULL;
	for (int i = 0; i < (a->auth == SETUP_AUTH_SECRET ? 1 : a->ntokens); i++)
		fprintf(f, "%s=%s\n",
			a->auth == SETUP_AUTH_SECRET ? "DOCKER_PROXY_SECRET" : a->tokens[i].env,
			a->tokens[i].value);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}
