/* Authentication: compile the `auth` section (libyaml) into an immutable,
 * reference-counted struct dpp_auth; check bearer tokens (RFC 6750) in
 * constant time; map verified client certificates (cert_role_map) and Unix
 * peer credentials (unix_role_map) to roles; check a listener's exposure;
 * track failures per client IP (struct dpp_lockout).
 *
 * Locks: one, struct dpp_lockout.mu, a leaf lock (nothing else is called while
 * it is held). struct dpp_auth is never written after dpp_auth_compile returns
 * except for its atomic reference count. */
#include "yaml_util.h"
#include "auth_yaml.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#define DIGEST_LEN 32
#define MAX_MESSAGES 100     /* errors or warnings kept per compile */
#define MAX_MESSAGE_TEXT 512 /* one line, truncated */
#define MAX_PATH_TEXT 128
#define LOCKOUT_CAPACITY_MAX ((size_t)1 << 20)
#define ENV_SECRET "DOCKER_PROXY_SECRET"

struct credential {
	uint8_t digest[DIGEST_LEN]; /* SHA-256 of the token */
	char role[DPP_AUTH_ROLE_MAX];
	char identity[DPP_AUTH_IDENTITY_MAX];
};

struct dpp_auth {
	atomic_int refs;
	enum dpp_auth_type type;
	struct credential *tokens;
	size_t ntokens, tokens_alloc;
	int has_secret;
	struct credential secret;
	struct dpp_auth_cert_role *cert;
	size_t ncert;
	char *mtls_default_role;
	struct dpp_auth_unix_role *unixr;
	size_t nunix;
	char description[128];
};

/* ---- hashing ---------------------------------------------------------- */

static int sha256(const void *data, size_t len, uint8_t out[DIGEST_LEN])
{
	return gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, out) < 0 ? -1 : 0;
}

/* "token:" + first 8 hex digits of the digest. */
static void identity_of(const uint8_t digest[DIGEST_LEN], char out[DPP_AUTH_IDENTITY_MAX])
{
	snprintf(out, DPP_AUTH_IDENTITY_MAX, "token:%02x%02x%02x%02x", digest[0], digest[1],
		 digest[2], digest[3]);
}

/* ---- the compiled object ---------------------------------------------- */

static void auth_free(struct dpp_auth *a)
{
	if (a == NULL)
		return;
	if (a->tokens != NULL) {
		explicit_bzero(a->tokens, a->tokens_alloc * sizeof(*a->tokens));
		free(a->tokens);
	}
	explicit_bzero(&a->secret, sizeof(a->secret));
	for (size_t i = 0; i < a->ncert; i++) {
		free((char *)a->cert[i].cn);
		free((char *)a->cert[i].role);
	}
	free(a->cert);
	free(a->mtls_default_role);
	for (size_t i = 0; i < a->nunix; i++)
		free((char *)a->unixr[i].role);
	free(a->unixr);
	free(a);
}

struct dpp_auth *dpp_auth_ref(struct dpp_auth *a)
{
	if (a != NULL)
		atomic_fetch_add_explicit(&a->refs, 1, memory_order_relaxed);
	return a;
}

void dpp_auth_unref(struct dpp_auth *a)
{
	if (a == NULL)
		return;
	if (atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel) == 1)
		auth_free(a);
}

enum dpp_auth_type dpp_auth_get_type(const struct dpp_auth *a)
{
	return a->type;
}

const char *dpp_auth_describe(const struct dpp_auth *a)
{
	return a->description;
}

size_t dpp_auth_cert_roles(const struct dpp_auth *a, const struct dpp_auth_cert_role **out)
{
	if (a->ncert > 0)
		*out = a->cert;
	return a->ncert;
}

const char *dpp_auth_mtls_default_role(const struct dpp_auth *a)
{
	return a->mtls_default_role;
}

size_t dpp_auth_unix_roles(const struct dpp_auth *a, const struct dpp_auth_unix_role **out)
{
	if (a->nunix > 0)
		*out = a->unixr;
	return a->nunix;
}

static void describe(struct dpp_auth *a)
{
	char *d = a->description;
	size_t n = sizeof(a->description);

	switch (a->type) {
	case DPP_AUTH_NONE:
		snprintf(d, n, "none (open access)");
		return;
	case DPP_AUTH_MTLS:
		if (a->ncert == 0 && a->mtls_default_role != NULL)
			snprintf(d, n, "mtls (client certificates; no cert_role_map: every "
				       "certificate gets default_role)");
		else if (a->ncert == 0)
			snprintf(d, n, "mtls (client certificates; no cert_role_map: the CN is the "
				       "role)");
		else
			snprintf(d, n, "mtls (client certificates; %zu cert_role_map entr%s%s)",
				 a->ncert, a->ncert == 1 ? "y" : "ies",
				 a->mtls_default_role != NULL ? " + default_role" : "");
		return;
	case DPP_AUTH_BEARER:
		break;
	}
	if (a->ntokens == 0 && !a->has_secret)
		snprintf(d, n, "bearer (no credentials configured: every request is refused)");
	else if (a->ntokens == 0)
		snprintf(d, n, "bearer (shared secret)");
	else
		snprintf(d, n, "bearer (%zu token%s%s)", a->ntokens, a->ntokens == 1 ? "" : "s",
			 a->has_secret ? " + shared secret" : "");
}

/* ---- authentication --------------------------------------------------- */

static int is_ws(char c)
{
	return c == ' ' || c == '\t';
}

const char *dpp_auth_challenge(enum dpp_auth_status status)
{
	if (status == DPP_AUTH_INVALID)
		return "Bearer realm=\"docker-policy-proxy\", error=\"invalid_token\"";
	return "Bearer realm=\"docker-policy-proxy\"";
}

static void set_identity(struct dpp_auth_result *out, const char *identity)
{
	snprintf(out->identity, sizeof(out->identity), "%s", identity);
}

/* Checks the header against the configured credentials; fills status, role,
 * identity and reason. */
static void check_bearer(const struct dpp_auth *a, const char *authorization,
			 struct dpp_auth_result *out)
{
	const char *p = authorization, *tok, *end;
	uint8_t digest[DIGEST_LEN];
	const struct credential *match = NULL;
	size_t len;

	set_identity(out, DPP_AUTH_IDENTITY_ANONYMOUS);
	if (p != NULL) {
		while (is_ws(*p))
			p++;
	}
	if (p == NULL || *p == '\0') {
		out->status = DPP_AUTH_MISSING;
		out->reason = "authentication required (Authorization: Bearer <token>)";
		return;
	}
	/* RFC 6750 2.1: credentials = "Bearer" 1*SP b64token; the scheme is
	 * case-insensitive (RFC 7235 2.1). */
	if (strncasecmp(p, "Bearer", 6) != 0 || (p[6] != '\0' && !is_ws(p[6]))) {
		out->status = DPP_AUTH_INVALID;
		out->reason = "unsupported authorization scheme (expected Bearer)";
		return;
	}
	tok = p + 6;
	while (is_ws(*tok))
		tok++;
	end = tok + strlen(tok);
	while (end > tok && is_ws(end[-1]))
		end--;
	len = (size_t)(end - tok);
	out->status = DPP_AUTH_INVALID;
	if (len == 0) {
		out->reason = "empty bearer token";
		return;
	}
	if (len > DPP_AUTH_TOKEN_MAX) {
		out->reason = "bearer token too long";
		return;
	}
	for (const char *q = tok; q < end; q++) {
		if ((unsigned char)*q <= 0x20 || *q == 0x7f) {
			out->reason = "malformed bearer token";
			return;
		}
	}
	if (sha256(tok, len, digest) != 0) {
		out->status = DPP_AUTH_ERROR;
		out->reason = "internal error while checking credentials";
		return;
	}
	/* Compare against every credential, no early exit; the first matching
	 * token wins, then the secret. */
	for (size_t i = 0; i < a->ntokens; i++) {
		int eq = gnutls_memcmp(digest, a->tokens[i].digest, DIGEST_LEN) == 0;

		if (eq && match == NULL)
			match = &a->tokens[i];
	}
	if (a->has_secret) {
		int eq = gnutls_memcmp(digest, a->secret.digest, DIGEST_LEN) == 0;

		if (eq && match == NULL)
			match = &a->secret;
	}
	if (match == NULL) {
		identity_of(digest, out->identity);
		out->reason = "invalid bearer token";
	} else {
		out->status = DPP_AUTH_OK;
		out->reason = "bearer token";
		snprintf(out->role, sizeof(out->role), "%s", match->role);
		snprintf(out->identity, sizeof(out->identity), "%s", match->identity);
	}
	explicit_bzero(digest, sizeof(digest));
}

/* ---- peer identities (mTLS, Unix socket) ------------------------------- */

static int valid_role(const char *s, size_t len);

static int ascii_lower(int ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

/* ASCII case-insensitive equality of s[0..n) and t (RFC 4343: DNS names
 * compare case-insensitively; no locale). */
static int name_eq(const char *s, size_t n, const char *t)
{
	size_t i;

	for (i = 0; i < n && t[i] != '\0'; i++) {
		if (ascii_lower((unsigned char)s[i]) != ascii_lower((unsigned char)t[i]))
			return 0;
	}
	return i == n && t[i] == '\0';
}

/* `pattern` (validated at compile) against one name: exact, or "*.rest" where
 * `*` is exactly one non-empty label. */
static int pattern_match(const char *pattern, const char *name)
{
	const char *dot;

	if (pattern[0] != '*')
		return name_eq(name, strlen(name), pattern);
	dot = strchr(name, '.');
	if (dot == NULL || dot == name)
		return 0;
	/* pattern + 1 is ".rest": the label before it may hold no dot, which
	 * strchr guarantees (the first dot). */
	return name_eq(dot, strlen(dot), pattern + 1);
}

/* Length of a peer name, or -1 when it fills its array without a NUL. */
static long peer_name_len(const char name[DPP_PEER_NAME_MAX])
{
	size_t n = strnlen(name, DPP_PEER_NAME_MAX);

	return n == DPP_PEER_NAME_MAX ? -1 : (long)n;
}

/* "prefix" + name into out, bytes outside printable ASCII as '?'. */
static void set_identity_name(struct dpp_auth_result *out, const char *prefix, const char *name)
{
	size_t i = 0;

	for (; prefix[i] != '\0' && i + 1 < sizeof(out->identity); i++)
		out->identity[i] = prefix[i];
	for (; *name != '\0' && i + 1 < sizeof(out->identity); name++, i++) {
		unsigned char ch = (unsigned char)*name;

		out->identity[i] = ch < 0x20 || ch >= 0x7f ? '?' : (char)ch;
	}
	out->identity[i] = '\0';
}

/* Callers pass a validated role (shorter than DPP_AUTH_ROLE_MAX); a longer
 * one is cut, never overrun. */
static void set_role(struct dpp_auth_result *out, const char *role)
{
	size_t n = strnlen(role, sizeof(out->role) - 1);

	memcpy(out->role, role, n);
	out->role[n] = '\0';
}

/* auth.unix_role_map. Returns 1 (out filled, OK) on a match, else 0. */
static int check_unix(const struct dpp_auth *a, const struct dpp_peer *peer,
		      struct dpp_auth_result *out)
{
	char id[32];

	for (size_t i = 0; i < a->nunix; i++) {
		const struct dpp_auth_unix_role *e = &a->unixr[i];

		if (e->id != (e->is_gid ? peer->gid : peer->uid))
			continue;
		out->status = DPP_AUTH_OK;
		out->reason = "unix peer credentials";
		set_role(out, e->role);
		snprintf(id, sizeof(id), "uid=%" PRIu32, peer->uid);
		set_identity_name(out, "unix:", id);
		return 1;
	}
	return 0;
}

/* type mtls: role from the verified client certificate. */
static void check_cert(const struct dpp_auth *a, const struct dpp_peer *peer,
		       struct dpp_auth_result *out)
{
	const char *names[1 + DPP_PEER_SANS_MAX];
	const char *first_san = NULL;
	size_t nnames = 0, nsans;
	long cn_len;

	out->status = DPP_AUTH_MISSING;
	set_identity(out, DPP_AUTH_IDENTITY_ANONYMOUS);
	if (peer == NULL || !peer->tls || !peer->has_cert) {
		out->reason = "client certificate required";
		return;
	}
	out->status = DPP_AUTH_INVALID;
	cn_len = peer_name_len(peer->cn);
	if (cn_len < 0) {
		out->reason = "client certificate name too long";
		return;
	}
	if (cn_len > 0)
		names[nnames++] = peer->cn;
	nsans = peer->n_dns_sans < DPP_PEER_SANS_MAX ? peer->n_dns_sans : DPP_PEER_SANS_MAX;
	for (size_t i = 0; i < nsans; i++) {
		long len = peer_name_len(peer->dns_sans[i]);

		if (len < 0) {
			out->reason = "client certificate name too long";
			return;
		}
		if (len == 0)
			continue;
		if (first_san == NULL)
			first_san = peer->dns_sans[i];
		names[nnames++] = peer->dns_sans[i];
	}
	set_identity_name(out, "cert:", cn_len > 0 ? peer->cn : first_san != NULL ? first_san : "");

	/* The first entry that matches any name wins. */
	for (size_t e = 0; e < a->ncert; e++) {
		for (size_t k = 0; k < nnames; k++) {
			if (pattern_match(a->cert[e].cn, names[k])) {
				out->status = DPP_AUTH_OK;
				out->reason = "client certificate (cert_role_map)";
				set_role(out, a->cert[e].role);
				return;
			}
		}
	}
	/* Seed README: the CN becomes the role only when "neither a map entry matches nor
	 * default_role is set". An unmatched certificate must never pick its own role
	 * (CN=admin) while the operator configured a default. */
	if (a->mtls_default_role != NULL) {
		out->status = DPP_AUTH_OK;
		out->reason = "client certificate (default_role)";
		set_role(out, a->mtls_default_role);
		return;
	}
	if (cn_len == 0) {
		out->reason = "client certificate without CN matches no cert_role_map entry "
			      "and auth.mtls.default_role is unset";
		return;
	}
	if (!valid_role(peer->cn, (size_t)cn_len)) {
		out->reason = "client certificate CN matches no cert_role_map entry and is not a "
			      "valid role";
		return;
	}
	out->status = DPP_AUTH_OK;
	out->reason = "client certificate (CN as role)";
	set_role(out, peer->cn);
}

void dpp_auth_authenticate_request(const struct dpp_auth *a, struct dpp_lockout *lockout,
				   const char *authorization, const char *client_ip,
				   int64_t now_ms, const struct dpp_peer *peer,
				   struct dpp_auth_result *out)
{
	const char *ip = client_ip != NULL ? client_ip : "";
	int64_t remaining;

	memset(out, 0, sizeof(*out));
	out->reason = "";
	if (peer != NULL && peer->unix_peer && check_unix(a, peer, out))
		return;
	if (a->type == DPP_AUTH_NONE) {
		out->status = DPP_AUTH_OK;
		out->reason = "open access (auth type none)";
		set_identity(out, DPP_AUTH_IDENTITY_ANONYMOUS);
		set_role(out, DPP_AUTH_ROLE_ADMIN);
		return;
	}
	if (a->type == DPP_AUTH_MTLS) {
		check_cert(a, peer, out);
		return;
	}
	if (lockout != NULL && (remaining = dpp_lockout_check(lockout, ip, now_ms)) > 0) {
		out->status = DPP_AUTH_LOCKED_OUT;
		out->reason = "too many failed authentications from this address";
		out->retry_after_s = (uint32_t)((remaining + 999) / 1000);
		set_identity(out, DPP_AUTH_IDENTITY_ANONYMOUS);
		return;
	}
	check_bearer(a, authorization, out);
	if (out->status == DPP_AUTH_INVALID && lockout != NULL)
		out->lockout_started = dpp_lockout_record_failure(lockout, ip, now_ms);
}

void dpp_auth_authenticate(const struct dpp_auth *a, struct dpp_lockout *lockout,
			   const char *authorization, const char *client_ip, int64_t now_ms,
			   struct dpp_auth_result *out)
{
	dpp_auth_authenticate_request(a, lockout, authorization, client_ip, now_ms, NULL, out);
}

void dpp_auth_authenticate_peer(const struct dpp_auth *a, const struct dpp_peer *peer,
				struct dpp_auth_result *out)
{
	dpp_auth_authenticate_request(a, NULL, NULL, NULL, 0, peer, out);
}

/* ---- exposure check --------------------------------------------------- */

/* malloc'd copy of a formatted line, control bytes as '?'; NULL on failure. */
static char *format_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *format_line(const char *fmt, ...)
{
	char line[MAX_MESSAGE_TEXT];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	for (char *p = line; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
	return strdup(line);
}

int dpp_auth_exposure_check(const struct dpp_auth *a, const char *bind_addr, int tls_enabled,
			    int insecure_allow_open, char **warning, char **error)
{
	const char *addr = bind_addr != NULL ? bind_addr : "(none)";
	int open_net = !tls_enabled && !dpp_auth_is_loopback(bind_addr);
	char *w = NULL, *e = NULL;
	int rc = 0, oom = 0;

	if (a->type == DPP_AUTH_MTLS && !tls_enabled) {
		rc = -1;
		e = format_line("auth.type mtls needs global.tls");
	} else if (open_net && a->type == DPP_AUTH_NONE && !insecure_allow_open) {
		rc = -1;
		e = format_line("refusing to expose open, unauthenticated Docker access on %.64s "
				"without TLS; set global.insecure_allow_open: true to override",
				addr);
	}
	if (rc != 0 && e == NULL)
		oom = 1;
	if (open_net) {
		if (a->type == DPP_AUTH_NONE && insecure_allow_open)
			w = format_line("listening on %.64s without TLS: tokens and Docker traffic "
					"cross the network in clear; auth.type none with "
					"global.insecure_allow_open: anyone who reaches the port is "
					"admin",
					addr);
		else
			w = format_line("listening on %.64s without TLS: tokens and Docker traffic "
					"cross the network in clear",
					addr);
		if (w == NULL)
			oom = 1;
	}
	if (oom)
		rc = -1; /* cannot tell the operator: refuse rather than start silently */
	if (warning != NULL)
		*warning = w;
	else
		free(w);
	if (error != NULL)
		*error = e;
	else
		free(e);
	return rc;
}

/* ---- message collection ----------------------------------------------- */

struct msgbuf {
	char *text; /* lines joined by '\n', no trailing newline */
	size_t len, cap;
	unsigned count, dropped;
	int oom;
};

static void msg_addv(struct msgbuf *m, const char *fmt, va_list ap)
{
	char line[MAX_MESSAGE_TEXT];
	size_t n, need;

	if (m->count >= MAX_MESSAGES) {
		m->dropped++;
		return;
	}
	vsnprintf(line, sizeof(line), fmt, ap);
	for (char *p = line; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
	n = strlen(line);
	need = m->len + n + 2;
	if (need > m->cap) {
		size_t cap = m->cap == 0 ? 1024 : m->cap;
		char *t;

		while (cap < need)
			cap *= 2;
		t = realloc(m->text, cap);
		if (t == NULL) {
			m->oom = 1;
			m->dropped++;
			return;
		}
		m->text = t;
		m->cap = cap;
	}
	if (m->len > 0)
		m->text[m->len++] = '\n';
	memcpy(m->text + m->len, line, n + 1);
	m->len += n;
	m->count++;
}

static void msg_add(struct msgbuf *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void msg_add(struct msgbuf *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_addv(m, fmt, ap);
	va_end(ap);
}

/* Moves the text out (NULL when empty); appends a count of dropped lines. */
static char *msg_take(struct msgbuf *m)
{
	char *t;

	if (m->dropped > 0 && !m->oom) {
		unsigned d = m->dropped;

		m->count = 0; /* let the summary line in */
		msg_add(m, "(%u more not shown)", d);
	}
	t = m->text;
	m->text = NULL;
	m->len = m->cap = 0;
	return t;
}

/* ---- compiling -------------------------------------------------------- */

struct compiler {
	const yaml_document_t *doc;
	const char *file;
	struct msgbuf err, warn;
	int fatal; /* allocation or hashing failure */
};

enum { DIAG_ERROR, DIAG_WARNING };

static void diag(struct compiler *c, int kind, const yaml_node_t *at, const char *path,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void diag(struct compiler *c, int kind, const yaml_node_t *at, const char *path,
		 const char *fmt, ...)
{
	struct msgbuf *m = kind == DIAG_ERROR ? &c->err : &c->warn;
	char msg[MAX_MESSAGE_TEXT];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (at != NULL)
		msg_add(m, "%s:%lu:%lu: %s: %s", c->file, (unsigned long)at->start_mark.line + 1,
			(unsigned long)at->start_mark.column + 1, path, msg);
	else
		msg_add(m, "%s: %s", path, msg);
}

static const yaml_node_t *node_at(const yaml_document_t *doc, int id)
{
	if (doc == NULL || doc->nodes.start == NULL || id < 1 ||
	    id > doc->nodes.top - doc->nodes.start)
		return NULL;
	return doc->nodes.start + (id - 1);
}

static int is_null(const yaml_node_t *n)
{
	return dpp_yaml_is_null(n);
}

static const char *node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return "a scalar";
	}
}

/* A string value: "" for null. Returns 0, or -1 after reporting a wrong type
 * or an embedded NUL. *len excludes the NUL. */
static int want_string(struct compiler *c, const yaml_node_t *n, const char *path,
		       const char **s, size_t *len)
{
	if (is_null(n)) {
		*s = "";
		*len = 0;
		return 0;
	}
	if (n->type != YAML_SCALAR_NODE) {
		diag(c, DIAG_ERROR, n, path, "expected a string, got %s", node_kind(n));
		return -1;
	}
	*s = (const char *)n->data.scalar.value;
	*len = n->data.scalar.length;
	if (strlen(*s) != *len) {
		diag(c, DIAG_ERROR, n, path, "contains a NUL byte");
		return -1;
	}
	return 0;
}

static int valid_role(const char *s, size_t len)
{
	if (len == 0 || len >= DPP_AUTH_ROLE_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.'))
			return 0;
	}
	return 1;
}

/* A role into out[DPP_AUTH_ROLE_MAX]. The message never echoes more than a
 * short prefix of the value. */
static int want_role(struct compiler *c, const yaml_node_t *n, const char *path, char *out)
{
	const char *s;
	size_t len;

	if (want_string(c, n, path, &s, &len) != 0)
		return -1;
	if (!valid_role(s, len)) {
		diag(c, DIAG_ERROR, n, path,
		     "invalid role \"%.32s\" (1 to %d characters of A-Z a-z 0-9 _ . -)", s,
		     DPP_AUTH_ROLE_MAX - 1);
		return -1;
	}
	memcpy(out, s, len + 1);
	return 0;
}

/* Token text as configured: printable ASCII without spaces, at most
 * DPP_AUTH_TOKEN_MAX. Messages never contain the token. */
static const char *token_problem(const char *s, size_t len)
{
	if (len > DPP_AUTH_TOKEN_MAX)
		return "token longer than 4096 bytes";
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return "token contains whitespace, control or non-ASCII characters "
			       "(a client could not send it in an Authorization field)";
	}
	return NULL;
}

struct key_slot {
	const char *name;
	const yaml_node_t *key;
	const yaml_node_t *val;
};

/* Matches the pairs of `map` against slots[0..n); reports unknown and
 * duplicate keys. `expected` lists the keys for the message. Returns the
 * number of errors. */
static int read_mapping(struct compiler *c, const yaml_node_t *map, const char *path,
			struct key_slot *slots, size_t n, const char *expected)
{
	int bad = 0;

	for (yaml_node_pair_t *pr = map->data.mapping.pairs.start;
	     pr < map->data.mapping.pairs.top; pr++) {
		const yaml_node_t *k = node_at(c->doc, pr->key);
		const yaml_node_t *v = node_at(c->doc, pr->value);
		const char *name;
		size_t i;

		if (k == NULL || v == NULL)
			continue;
		if (k->type != YAML_SCALAR_NODE) {
			diag(c, DIAG_ERROR, k, path, "mapping keys must be plain strings");
			bad++;
			continue;
		}
		name = (const char *)k->data.scalar.value;
		for (i = 0; i < n; i++) {
			if (strcmp(name, slots[i].name) == 0)
				break;
		}
		if (i == n) {
			diag(c, DIAG_ERROR, k, path, "unknown key \"%.64s\" (expected %s)", name,
			     expected);
			bad++;
		} else if (slots[i].key != NULL) {
			diag(c, DIAG_ERROR, k, path, "duplicate key \"%s\" (first at line %lu)",
			     name, (unsigned long)slots[i].key->start_mark.line + 1);
			bad++;
		} else {
			slots[i].key = k;
			slots[i].val = v;
		}
	}
	return bad;
}

/* A null value means "not set": the slot then reads as absent (its key is
 * kept for duplicate messages). */
static void drop_nulls(struct key_slot *slots, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (slots[i].val != NULL && is_null(slots[i].val))
			slots[i].val = NULL;
	}
}

static void path_of(char *out, const char *base, const char *key)
{
	snprintf(out, MAX_PATH_TEXT, "%s.%s", base, key);
}

static void path_index(char *out, const char *base, size_t i, const char *key)
{
	if (key != NULL)
		snprintf(out, MAX_PATH_TEXT, "%s[%zu].%s", base, i, key);
	else
		snprintf(out, MAX_PATH_TEXT, "%s[%zu]", base, i);
}

/* The items of a list value (null: none). Returns -1 after reporting a
 * non-list or too many items. */
static int want_list(struct compiler *c, const yaml_node_t *n, const char *path, size_t max,
		     size_t *count)
{
	*count = 0;
	if (is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE) {
		diag(c, DIAG_ERROR, n, path, "expected a list, got %s", node_kind(n));
		return -1;
	}
	*count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (*count > max) {
		diag(c, DIAG_ERROR, n, path, "too many entries (%zu, at most %zu)", *count, max);
		return -1;
	}
	return 0;
}

static const yaml_node_t *list_item(struct compiler *c, const yaml_node_t *list, size_t i)
{
	return node_at(c->doc, list->data.sequence.items.start[i]);
}

static char *dup_or_fatal(struct compiler *c, const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		c->fatal = 1;
	return d;
}

static void compile_tokens(struct compiler *c, struct dpp_auth *a, const yaml_node_t *list)
{
	static const char path[] = "auth.tokens";
	const yaml_node_t **where; /* node of each kept token, for duplicate messages */
	size_t n;

	if (want_list(c, list, path, DPP_AUTH_TOKENS_MAX, &n) != 0 || n == 0)
		return;
	a->tokens = calloc(n, sizeof(*a->tokens));
	where = calloc(n, sizeof(*where));
	if (a->tokens == NULL || where == NULL) {
		c->fatal = 1;
		goto cleanup;
	}
	a->tokens_alloc = n;
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *item = list_item(c, list, i);
		struct key_slot s[] = {{"token", NULL, NULL}, {"role", NULL, NULL}};
		struct credential *cr = &a->tokens[a->ntokens];
		char p[MAX_PATH_TEXT], kp[MAX_PATH_TEXT];
		const char *tok, *why;
		size_t len;
		int bad = 0;

		path_index(p, path, i, NULL);
		if (item == NULL)
			continue;
		if (item->type != YAML_MAPPING_NODE) {
			diag(c, DIAG_ERROR, item, p, "expected a mapping {token, role}, got %s",
			     node_kind(item));
			continue;
		}
		bad = read_mapping(c, item, p, s, 2, "token, role");
		snprintf(cr->role, sizeof(cr->role), "%s", DPP_AUTH_ROLE_DEFAULT);
		if (s[1].val != NULL && !is_null(s[1].val)) { /* null: not set, default role */
			path_index(kp, path, i, "role");
			if (want_role(c, s[1].val, kp, cr->role) != 0)
				bad++;
		}
		path_index(kp, path, i, "token");
		if (s[0].val == NULL) {
			diag(c, DIAG_ERROR, item, p, "missing key \"token\"");
			continue;
		}
		if (want_string(c, s[0].val, kp, &tok, &len) != 0)
			continue;
		if (len == 0) {
			diag(c, DIAG_WARNING, s[0].val, kp,
			     "empty token (unset ${VAR}?): entry ignored");
			continue;
		}
		if ((why = token_problem(tok, len)) != NULL) {
			diag(c, DIAG_ERROR, s[0].val, kp, "%s", why);
			continue;
		}
		if (sha256(tok, len, cr->digest) != 0) {
			c->fatal = 1;
			goto cleanup;
		}
		for (size_t j = 0; j < a->ntokens; j++) {
			if (memcmp(a->tokens[j].digest, cr->digest, DIGEST_LEN) == 0) {
				diag(c, DIAG_ERROR, s[0].val, kp,
				     "same token as the entry at line %lu (a token has one role)",
				     (unsigned long)where[j]->start_mark.line + 1);
				bad++;
				break;
			}
		}
		if (len < 16)
			diag(c, DIAG_WARNING, s[0].val, kp,
			     "token shorter than 16 characters is easy to guess");
		if (bad)
			continue;
		identity_of(cr->digest, cr->identity);
		where[a->ntokens] = s[0].val;
		a->ntokens++;
	}
cleanup:
	free(where);
}

/* A cert_role_map `cn` pattern: 1..255 bytes (a longer name cannot be in a
 * struct dpp_peer), no control characters, `*` only as the whole first label
 * of "*.rest" where rest is one or more non-empty labels. NULL when fine. */
static const char *cn_pattern_problem(const char *s, size_t len)
{
	if (len == 0)
		return "empty certificate CN";
	if (len >= DPP_PEER_NAME_MAX)
		return "certificate CN pattern longer than 255 bytes";
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return "certificate CN pattern contains control characters";
	}
	if (strchr(s, '*') == NULL)
		return NULL;
	if (s[0] != '*' || s[1] != '.' || s[2] == '\0' || strchr(s + 1, '*') != NULL)
		return "'*' is only allowed as the whole first label (\"*.example.com\")";
	for (const char *p = s + 1; *p != '\0'; p++) {
		if (*p == '.' && (p[1] == '.' || p[1] == '\0'))
			return "empty label in certificate CN pattern";
	}
	return NULL;
}

static void compile_cert_map(struct compiler *c, struct dpp_auth *a, const yaml_node_t *list)
{
	static const char path[] = "auth.mtls.cert_role_map";
	size_t n;

	if (want_list(c, list, path, DPP_AUTH_MAPS_MAX, &n) != 0 || n == 0)
		return;
	a->cert = calloc(n, sizeof(*a->cert));
	if (a->cert == NULL) {
		c->fatal = 1;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *item = list_item(c, list, i);
		struct key_slot s[] = {{"cn", NULL, NULL}, {"role", NULL, NULL}};
		char p[MAX_PATH_TEXT], kp[MAX_PATH_TEXT], role[DPP_AUTH_ROLE_MAX];
		const char *cn = NULL, *why;
		size_t len;
		int bad;

		path_index(p, path, i, NULL);
		if (item == NULL)
			continue;
		if (item->type != YAML_MAPPING_NODE) {
			diag(c, DIAG_ERROR, item, p, "expected a mapping {cn, role}, got %s",
			     node_kind(item));
			continue;
		}
		bad = read_mapping(c, item, p, s, 2, "cn, role");
		drop_nulls(s, 2);
		path_index(kp, path, i, "cn");
		if (s[0].val == NULL) {
			diag(c, DIAG_ERROR, item, p, "missing key \"cn\"");
			bad++;
		} else if (want_string(c, s[0].val, kp, &cn, &len) != 0) {
			bad++;
		} else if ((why = cn_pattern_problem(cn, len)) != NULL) {
			diag(c, DIAG_ERROR, s[0].val, kp, "%s", why);
			bad++;
		}
		path_index(kp, path, i, "role");
		if (s[1].val == NULL) {
			diag(c, DIAG_ERROR, item, p, "missing key \"role\"");
			bad++;
		} else if (want_role(c, s[1].val, kp, role) != 0) {
			bad++;
		}
		if (bad)
			continue;
		a->cert[a->ncert].cn = dup_or_fatal(c, cn);
		a->cert[a->ncert].role = dup_or_fatal(c, role);
		a->ncert++;
	}
}

static void compile_mtls(struct compiler *c, struct dpp_auth *a, const yaml_node_t *map)
{
	static const char path[] = "auth.mtls";
	struct key_slot s[] = {{"cert_role_map", NULL, NULL}, {"default_role", NULL, NULL}};
	char kp[MAX_PATH_TEXT], role[DPP_AUTH_ROLE_MAX];

	if (is_null(map))
		return;
	if (map->type != YAML_MAPPING_NODE) {
		diag(c, DIAG_ERROR, map, path, "expected a mapping, got %s", node_kind(map));
		return;
	}
	read_mapping(c, map, path, s, 2, "cert_role_map, default_role");
	if (s[0].val != NULL)
		compile_cert_map(c, a, s[0].val);
	if (s[1].val != NULL && !is_null(s[1].val)) {
		path_of(kp, path, "default_role");
		if (want_role(c, s[1].val, kp, role) == 0)
			a->mtls_default_role = dup_or_fatal(c, role);
	}
}

/* A uid or gid: decimal 0..4294967294 (-1 is "no id" to the kernel). */
static int want_id(struct compiler *c, const yaml_node_t *n, const char *path, uint32_t *out)
{
	const char *s;
	size_t len;
	uint64_t v = 0;

	if (n->type != YAML_SCALAR_NODE || is_null(n)) {
		diag(c, DIAG_ERROR, n, path, "expected a non-negative integer, got %s",
		     is_null(n) ? "null" : node_kind(n));
		return -1;
	}
	s = (const char *)n->data.scalar.value;
	len = n->data.scalar.length;
	if (len == 0 || len > 10)
		goto bad;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			goto bad;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v >= UINT32_MAX)
		goto bad;
	*out = (uint32_t)v;
	return 0;
bad:
	diag(c, DIAG_ERROR, n, path, "expected an integer from 0 to %" PRIu32 ", got \"%.32s\"",
	     UINT32_MAX - 1, s);
	return -1;
}

static void compile_unix_map(struct compiler *c, struct dpp_auth *a, const yaml_node_t *list)
{
	static const char path[] = "auth.unix_role_map";
	size_t n;

	if (want_list(c, list, path, DPP_AUTH_MAPS_MAX, &n) != 0 || n == 0)
		return;
	a->unixr = calloc(n, sizeof(*a->unixr));
	if (a->unixr == NULL) {
		c->fatal = 1;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *item = list_item(c, list, i);
		struct key_slot s[] = {{"uid", NULL, NULL}, {"gid", NULL, NULL}, {"role", NULL, NULL}};
		char p[MAX_PATH_TEXT], kp[MAX_PATH_TEXT], role[DPP_AUTH_ROLE_MAX];
		struct dpp_auth_unix_role e = {0};
		int bad;

		path_index(p, path, i, NULL);
		if (item == NULL)
			continue;
		if (item->type != YAML_MAPPING_NODE) {
			diag(c, DIAG_ERROR, item, p, "expected a mapping {uid|gid, role}, got %s",
			     node_kind(item));
			continue;
		}
		bad = read_mapping(c, item, p, s, 3, "uid or gid, role");
		drop_nulls(s, 3);
		if (s[0].val != NULL && s[1].val != NULL) {
			diag(c, DIAG_ERROR, s[1].key, p, "give either uid or gid, not both");
			bad++;
		} else if (s[0].val == NULL && s[1].val == NULL) {
			diag(c, DIAG_ERROR, item, p, "missing key \"uid\" or \"gid\"");
			bad++;
		} else {
			e.is_gid = s[0].val == NULL;
			path_index(kp, path, i, e.is_gid ? "gid" : "uid");
			if (want_id(c, e.is_gid ? s[1].val : s[0].val, kp, &e.id) != 0)
				bad++;
		}
		path_index(kp, path, i, "role");
		if (s[2].val == NULL) {
			diag(c, DIAG_ERROR, item, p, "missing key \"role\"");
			bad++;
		} else if (want_role(c, s[2].val, kp, role) != 0) {
			bad++;
		}
		if (bad)
			continue;
		e.role = dup_or_fatal(c, role);
		a->unixr[a->nunix++] = e;
	}
}

/* Hashes the effective shared secret into a->secret. */
static int set_secret(struct compiler *c, struct dpp_auth *a, const char *s, size_t len)
{
	if (sha256(s, len, a->secret.digest) != 0) {
		c->fatal = 1;
		return -1;
	}
	snprintf(a->secret.role, sizeof(a->secret.role), "%s", DPP_AUTH_ROLE_ADMIN);
	identity_of(a->secret.digest, a->secret.identity);
	a->has_secret = 1;
	return 0;
}

int dpp_auth_is_loopback(const char *addr)
{
	struct in_addr v4;
	struct in6_addr v6;

	if (addr == NULL)
		return 0;
	if (inet_pton(AF_INET, addr, &v4) == 1)
		return (ntohl(v4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, addr, &v6) == 1) {
		if (IN6_IS_ADDR_LOOPBACK(&v6))
			return 1;
		return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
	}
	return 0;
}

/* No configuration file: DOCKER_PROXY_SECRET, else open access on loopback. */
static void compile_no_file(struct compiler *c, struct dpp_auth *a, const char *env,
			    const char *bind_addr)
{
	const char *why;

	if (env != NULL) {
		a->type = DPP_AUTH_BEARER;
		if (env[0] == '\0') {
			diag(c, DIAG_WARNING, NULL, ENV_SECRET,
			     "set but empty and no config file: every request is refused");
		} else if ((why = token_problem(env, strlen(env))) != NULL) {
			diag(c, DIAG_ERROR, NULL, ENV_SECRET, "%s", why);
		} else {
			set_secret(c, a, env, strlen(env));
		}
		return;
	}
	a->type = DPP_AUTH_NONE;
	if (!dpp_auth_is_loopback(bind_addr))
		diag(c, DIAG_ERROR, NULL, "auth",
		     "no config file and no DOCKER_PROXY_SECRET: open access is only allowed on "
		     "a loopback bind address (127.0.0.0/8, ::1), not %.64s",
		     bind_addr != NULL ? bind_addr : "(none)");
	else
		msg_add(&c->warn, "no config file and no DOCKER_PROXY_SECRET: open access on "
				  "loopback only");
}

static void compile_section(struct compiler *c, struct dpp_auth *a, const yaml_node_t *auth,
			    const char *env, const char *bind_addr)
{
	struct key_slot s[] = {
		{"type", NULL, NULL},   {"secret", NULL, NULL},        {"tokens", NULL, NULL},
		{"mtls", NULL, NULL},   {"unix_role_map", NULL, NULL},
	};
	enum { K_TYPE, K_SECRET, K_TOKENS, K_MTLS, K_UNIX };
	const char *sec = "", *type = NULL, *why;
	size_t sec_len = 0, type_len;
	uint8_t secret_digest[DIGEST_LEN];

	a->type = DPP_AUTH_BEARER;
	if (auth != NULL && !is_null(auth)) {
		if (auth->type != YAML_MAPPING_NODE) {
			diag(c, DIAG_ERROR, auth, "auth", "expected a mapping, got %s",
			     node_kind(auth));
			return;
		}
		read_mapping(c, auth, "auth", s, sizeof(s) / sizeof(s[0]),
			     "type, secret, tokens, mtls, unix_role_map");
	}
	if (s[K_TYPE].val != NULL && !is_null(s[K_TYPE].val) &&
	    want_string(c, s[K_TYPE].val, "auth.type", &type, &type_len) == 0) {
		if (strcmp(type, "bearer") == 0)
			a->type = DPP_AUTH_BEARER;
		else if (strcmp(type, "none") == 0)
			a->type = DPP_AUTH_NONE;
		else if (strcmp(type, "mtls") == 0)
			a->type = DPP_AUTH_MTLS;
		else
			diag(c, DIAG_ERROR, s[K_TYPE].val, "auth.type",
			     "unknown type \"%.32s\" (expected bearer, none or mtls)", type);
	}
	if (s[K_SECRET].val != NULL &&
	    want_string(c, s[K_SECRET].val, "auth.secret", &sec, &sec_len) == 0 && sec_len > 0 &&
	    (why = token_problem(sec, sec_len)) != NULL && env == NULL) {
		diag(c, DIAG_ERROR, s[K_SECRET].val, "auth.secret", "%s", why);
		sec_len = 0;
	}
	if (s[K_TOKENS].val != NULL)
		compile_tokens(c, a, s[K_TOKENS].val);
	if (s[K_MTLS].val != NULL)
		compile_mtls(c, a, s[K_MTLS].val);
	if (s[K_UNIX].val != NULL)
		compile_unix_map(c, a, s[K_UNIX].val);
	if (c->fatal)
		return;

	/* DOCKER_PROXY_SECRET always replaces auth.secret. */
	if (env != NULL) {
		if (a->type == DPP_AUTH_NONE) {
			diag(c, DIAG_ERROR, s[K_TYPE].val, "auth.type",
			     "type none but DOCKER_PROXY_SECRET is set: remove one of them");
			return;
		}
		sec = env;
		sec_len = strlen(env);
		if (sec_len == 0 && s[K_SECRET].val != NULL && !is_null(s[K_SECRET].val))
			diag(c, DIAG_WARNING, NULL, ENV_SECRET,
			     "set but empty: it replaces auth.secret with nothing");
		if (sec_len > 0 && (why = token_problem(sec, sec_len)) != NULL) {
			diag(c, DIAG_ERROR, NULL, ENV_SECRET, "%s", why);
			return;
		}
	}

	switch (a->type) {
	case DPP_AUTH_NONE:
		if (a->ntokens > 0 || sec_len > 0)
			diag(c, DIAG_WARNING, s[K_TYPE].val, "auth.type",
			     "type none: secret and tokens are ignored");
		if (!dpp_auth_is_loopback(bind_addr))
			diag(c, DIAG_WARNING, s[K_TYPE].val, "auth.type",
			     "type none on non-loopback address %.64s: anyone who reaches the "
			     "port is admin", bind_addr != NULL ? bind_addr : "(none)");
		return;
	case DPP_AUTH_MTLS:
		if (a->ntokens > 0 || sec_len > 0)
			diag(c, DIAG_WARNING, s[K_TYPE].val, "auth.type",
			     "type mtls: secret and tokens are ignored (only client certificates "
			     "and unix_role_map authenticate)");
		return;
	case DPP_AUTH_BEARER:
		break;
	}
	if (sec_len > 0) {
		if (set_secret(c, a, sec, sec_len) != 0)
			return;
		memcpy(secret_digest, a->secret.digest, DIGEST_LEN);
		for (size_t i = 0; i < a->ntokens; i++) {
			if (memcmp(a->tokens[i].digest, secret_digest, DIGEST_LEN) == 0)
				diag(c, DIAG_WARNING, NULL, "auth.tokens",
				     "a token equals the shared secret; that token's role applies");
		}
		explicit_bzero(secret_digest, sizeof(secret_digest));
	}
	if (a->ntokens == 0 && !a->has_secret) {
		if (auth == NULL)
			msg_add(&c->warn, "%s: auth: the config file has no auth section: every "
					  "request is refused", c->file);
		else
			diag(c, DIAG_WARNING, auth, "auth",
			     "no credentials configured (secret and tokens empty): every request "
			     "is refused");
	}
}

int dpp_auth_compile(const yaml_document_t *doc, const yaml_node_t *auth_node,
		     const char *file, int have_config_file, const char *bind_addr,
		     struct dpp_auth **out, char **errors, char **warnings)
{
	struct compiler c = {.doc = doc, .file = file != NULL ? file : "(config)"};
	const char *env = getenv(ENV_SECRET);
	struct dpp_auth *a;
	char *err_text = NULL, *warn_text = NULL;
	int rc = -1;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		c.fatal = 1;
		goto cleanup;
	}
	atomic_init(&a->refs, 1);
	if (!have_config_file)
		compile_no_file(&c, a, env, bind_addr);
	else
		compile_section(&c, a, auth_node, env, bind_addr);
	if (c.fatal)
		goto cleanup;
	describe(a);
	if (c.err.count == 0 && c.err.dropped == 0) {
		*out = a;
		a = NULL;
		rc = 0;
	}
cleanup:
	if (c.fatal)
		msg_add(&c.err, "auth: out of memory or SHA-256 unavailable");
	err_text = msg_take(&c.err);
	warn_text = msg_take(&c.warn);
	if (errors != NULL)
		*errors = err_text;
	else
		free(err_text);
	if (warnings != NULL)
		*warnings = warn_text;
	else
		free(warn_text);
	auth_free(a);
	return rc;
}

/* ---- lockout ---------------------------------------------------------- */

#define KEY_LEN 17 /* 1 kind byte (0 unknown, 1 IP) + 16 address bytes */

struct lk_entry {
	uint8_t key[KEY_LEN];
	uint8_t nfail;  /* failures in fail[], oldest first */
	uint8_t locked; /* locked_until is meaningful */
	int32_t next;   /* hash chain, -1 ends */
	int64_t last;   /* time of the last failure */
	int64_t locked_until;
	int64_t fail[DPP_LOCKOUT_FAILURES];
};

struct dpp_lockout {
	pthread_mutex_t mu;
	struct lk_entry *e;
	size_t cap, used;
	int32_t *bucket;
	size_t nbucket; /* power of two */
};

static void ip_key(const char *ip, uint8_t key[KEY_LEN])
{
	struct in_addr v4;

	memset(key, 0, KEY_LEN);
	if (inet_pton(AF_INET, ip, &v4) == 1) {
		/* As ::ffff:a.b.c.d, so both spellings share an entry. */
		key[0] = 1;
		key[11] = 0xff;
		key[12] = 0xff;
		memcpy(key + 13, &v4, 4);
	} else if (inet_pton(AF_INET6, ip, key + 1) == 1) {
		key[0] = 1;
	}
}

static size_t key_hash(const struct dpp_lockout *lk, const uint8_t key[KEY_LEN])
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < KEY_LEN; i++) {
		h ^= key[i];
		h *= 16777619u;
	}
	return h & (lk->nbucket - 1);
}

struct dpp_lockout *dpp_lockout_create(size_t capacity)
{
	struct dpp_lockout *lk;

	if (capacity == 0)
		capacity = DPP_LOCKOUT_DEFAULT_CAPACITY;
	if (capacity > LOCKOUT_CAPACITY_MAX)
		capacity = LOCKOUT_CAPACITY_MAX;
	lk = calloc(1, sizeof(*lk));
	if (lk == NULL)
		return NULL;
	lk->cap = capacity;
	lk->nbucket = 16;
	while (lk->nbucket < 2 * capacity)
		lk->nbucket *= 2;
	lk->e = calloc(capacity, sizeof(*lk->e));
	lk->bucket = malloc(lk->nbucket * sizeof(*lk->bucket));
	if (lk->e == NULL || lk->bucket == NULL || pthread_mutex_init(&lk->mu, NULL) != 0) {
		free(lk->e);
		free(lk->bucket);
		free(lk);
		return NULL;
	}
	for (size_t i = 0; i < lk->nbucket; i++)
		lk->bucket[i] = -1;
	return lk;
}

void dpp_lockout_free(struct dpp_lockout *lk)
{
	if (lk == NULL)
		return;
	pthread_mutex_destroy(&lk->mu);
	free(lk->e);
	free(lk->bucket);
	free(lk);
}

static struct lk_entry *lk_find(struct dpp_lockout *lk, const uint8_t key[KEY_LEN])
{
	for (int32_t i = lk->bucket[key_hash(lk, key)]; i >= 0; i = lk->e[i].next) {
		if (memcmp(lk->e[i].key, key, KEY_LEN) == 0)
			return &lk->e[i];
	}
	return NULL;
}

static int lk_locked(const struct lk_entry *e, int64_t now)
{
	return e->locked && e->locked_until > now;
}

/* Drops failures outside the window ending at now. */
static void lk_prune(struct lk_entry *e, int64_t now)
{
	size_t k = 0;

	while (k < e->nfail && now - e->fail[k] >= DPP_LOCKOUT_WINDOW_MS)
		k++;
	if (k > 0) {
		memmove(e->fail, e->fail + k, (e->nfail - k) * sizeof(e->fail[0]));
		e->nfail = (uint8_t)(e->nfail - k);
	}
}

/* The slot to reuse when the table is full (see dpp_lockout_create). */
static size_t lk_victim(const struct dpp_lockout *lk, int64_t now)
{
	size_t best_unlocked = SIZE_MAX, best_locked = SIZE_MAX;

	for (size_t i = 0; i < lk->used; i++) {
		const struct lk_entry *e = &lk->e[i];

		if (lk_locked(e, now)) {
			if (best_locked == SIZE_MAX ||
			    e->locked_until < lk->e[best_locked].locked_until)
				best_locked = i;
			continue;
		}
		if (now - e->last >= DPP_LOCKOUT_WINDOW_MS)
			return i; /* stale: nothing left to remember */
		if (best_unlocked == SIZE_MAX || e->last < lk->e[best_unlocked].last)
			best_unlocked = i;
	}
	return best_unlocked != SIZE_MAX ? best_unlocked : best_locked;
}

static void lk_unlink(struct dpp_lockout *lk, size_t idx)
{
	int32_t *link = &lk->bucket[key_hash(lk, lk->e[idx].key)];

	while (*link >= 0) {
		if ((size_t)*link == idx) {
			*link = lk->e[idx].next;
			return;
		}
		link = &lk->e[*link].next;
	}
}

static struct lk_entry *lk_insert(struct dpp_lockout *lk, const uint8_t key[KEY_LEN], int64_t now)
{
	size_t idx, h;
	struct lk_entry *e;

	if (lk->used < lk->cap) {
		idx = lk->used++;
	} else {
		idx = lk_victim(lk, now);
		lk_unlink(lk, idx);
	}
	e = &lk->e[idx];
	memset(e, 0, sizeof(*e));
	memcpy(e->key, key, KEY_LEN);
	h = key_hash(lk, key);
	e->next = lk->bucket[h];
	lk->bucket[h] = (int32_t)idx;
	return e;
}

int64_t dpp_lockout_check(struct dpp_lockout *lk, const char *ip, int64_t now_ms)
{
	uint8_t key[KEY_LEN];
	struct lk_entry *e;
	int64_t rem = 0;

	ip_key(ip != NULL ? ip : "", key);
	if (pthread_mutex_lock(&lk->mu) != 0)
		return DPP_LOCKOUT_DURATION_MS; /* cannot tell: fail closed */
	e = lk_find(lk, key);
	if (e != NULL && lk_locked(e, now_ms))
		rem = e->locked_until - now_ms;
	pthread_mutex_unlock(&lk->mu);
	return rem;
}

int dpp_lockout_record_failure(struct dpp_lockout *lk, const char *ip, int64_t now_ms)
{
	uint8_t key[KEY_LEN];
	struct lk_entry *e;
	int started = 0;

	ip_key(ip != NULL ? ip : "", key);
	if (pthread_mutex_lock(&lk->mu) != 0)
		return 0;
	e = lk_find(lk, key);
	if (e == NULL)
		e = lk_insert(lk, key, now_ms);
	if (lk_locked(e, now_ms))
		goto cleanup;
	lk_prune(e, now_ms);
	e->fail[e->nfail++] = now_ms;
	e->last = now_ms;
	if (e->nfail >= DPP_LOCKOUT_FAILURES) {
		e->locked = 1;
		e->locked_until = now_ms + DPP_LOCKOUT_DURATION_MS;
		e->nfail = 0; /* after the lock ends, counting starts afresh */
		started = 1;
	}
cleanup:
	pthread_mutex_unlock(&lk->mu);
	return started;
}

size_t dpp_lockout_size(struct dpp_lockout *lk)
{
	size_t n;

	if (pthread_mutex_lock(&lk->mu) != 0)
		return 0;
	n = lk->used;
	pthread_mutex_unlock(&lk->mu);
	return n;
}

static void key_text(const uint8_t key[KEY_LEN], char *out, size_t len)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (key[0] == 0)
		snprintf(out, len, "unknown");
	else if (memcmp(key + 1, mapped, sizeof(mapped)) == 0)
		inet_ntop(AF_INET, key + 13, out, (socklen_t)len);
	else
		inet_ntop(AF_INET6, key + 1, out, (socklen_t)len);
}

int dpp_lockout_snapshot(struct dpp_lockout *lk, int64_t now_ms, struct dpp_lockout_state **out,
			 size_t *n)
{
	struct dpp_lockout_state *s = NULL;
	size_t k = 0;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (pthread_mutex_lock(&lk->mu) != 0)
		return -1;
	if (lk->used == 0)
		goto cleanup;
	s = calloc(lk->used, sizeof(*s));
	if (s == NULL) {
		rc = -1;
		goto cleanup;
	}
	for (size_t i = 0; i < lk->used; i++) {
		const struct lk_entry *e = &lk->e[i];
		uint32_t fails = 0;

		for (size_t j = 0; j < e->nfail; j++)
			fails += now_ms - e->fail[j] < DPP_LOCKOUT_WINDOW_MS;
		if (fails == 0 && !lk_locked(e, now_ms))
			continue;
		key_text(e->key, s[k].ip, sizeof(s[k].ip));
		s[k].failures = fails;
		s[k].remaining_ms = lk_locked(e, now_ms) ? e->locked_until - now_ms : 0;
		k++;
	}
cleanup:
	pthread_mutex_unlock(&lk->mu);
	if (k == 0) {
		free(s);
		s = NULL;
	}
	*out = s;
	*n = k;
	return rc;
}

int64_t dpp_lockout_now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
