/* Client authentication: bearer tokens (RFC 6750) checked against the `auth`
 * section of the configuration, plus a per-client-IP lockout after repeated
 * failures.
 *
 * Two objects, two lifetimes:
 *  - struct dpp_auth: compiled from the configuration (dpp_runtime_build does it),
 *    immutable afterwards and reference-counted. A reload compiles a new one and
 *    swaps the pointer; a request keeps the one it started with (take a
 *    reference with dpp_auth_ref, drop it with dpp_auth_unref).
 *  - struct dpp_lockout: mutable failure tracker with its own mutex. It lives for
 *    the whole process, so a reload does not forgive a locked-out address.
 *
 * Secrets: the compiled object keeps only SHA-256 digests of the configured
 * tokens and secret, never the tokens themselves. No output of this module
 * (identity, reason, describe, warnings, errors) ever contains a token; a
 * token is named by "token:" + the first 8 hex digits of its SHA-256.
 *
 * Roles: a token carries its configured role (default "user"); the shared
 * secret carries "admin". With `type: none` every caller is identity
 * "anonymous" with role "admin": auth none means everyone is admin, so
 * require_role rules allow everything (the policy treats admin as holding every
 * role). That is the honest reading of "no authentication": a role that
 * nobody proved cannot restrict anything.
 *
 * Identities besides tokens (dpp_auth_authenticate_request):
 *  - `type: mtls`: the verified client certificate (struct dpp_peer) gives the
 *    role through auth.mtls.cert_role_map, else auth.mtls.default_role for a
 *    certificate without CN, else the CN itself is the role. RISK of that last
 *    rule: anyone who can obtain a certificate with CN=admin from the client CA
 *    is admin. Use a dedicated client CA (global.tls.client_ca) that issues client
 *    certificates for this proxy only, never a general-purpose or public CA.
 *  - Unix-socket peers: auth.unix_role_map maps the SO_PEERCRED uid or primary
 *    gid to a role, whatever the type; an unmapped peer authenticates by type.
 *  - With `type: bearer` a client certificate adds nothing: the token decides
 *    (a verified certificate is neither required nor used). */
#ifndef DPP_AUTH_H
#define DPP_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "dpp/peer.h"

#define DPP_AUTH_ROLE_MAX 32     /* bytes including NUL: roles are 1..31 chars */
#define DPP_AUTH_IDENTITY_MAX 64 /* matches struct dpp_event.identity */
#define DPP_AUTH_TOKEN_MAX 4096  /* longest token accepted (config and header) */
#define DPP_AUTH_TOKENS_MAX 1024 /* most entries in auth.tokens */
#define DPP_AUTH_MAPS_MAX 1024   /* most entries in cert_role_map / unix_role_map */

#define DPP_AUTH_ROLE_ADMIN "admin"
#define DPP_AUTH_ROLE_DEFAULT "user"
#define DPP_AUTH_IDENTITY_ANONYMOUS "anonymous"

enum dpp_auth_type {
	DPP_AUTH_BEARER = 0, /* Authorization: Bearer <token> */
	DPP_AUTH_NONE,       /* open access: everyone is admin */
	DPP_AUTH_MTLS,       /* verified client certificate (struct dpp_peer) */
};

enum dpp_auth_status {
	DPP_AUTH_OK = 0,
	DPP_AUTH_MISSING,    /* no credentials (no token; mtls: no certificate): 401 */
	DPP_AUTH_INVALID,    /* wrong scheme, empty or unknown token; a certificate
				that yields no valid role: 401 */
	DPP_AUTH_LOCKED_OUT, /* too many failures from this IP: 429 + Retry-After */
	DPP_AUTH_ERROR,      /* internal error (hashing failed): fail closed, 500 */
};

/* Outcome of one authentication. A plain value: copy it freely. */
struct dpp_auth_result {
	enum dpp_auth_status status;
	char role[DPP_AUTH_ROLE_MAX];         /* "" unless status is OK */
	char identity[DPP_AUTH_IDENTITY_MAX]; /* "token:1a2b3c4d" (also for a rejected
						 token, for the audit), "cert:<CN>" (also
						 for a rejected certificate), "unix:uid=N",
						 "anonymous" */
	const char *reason;        /* static, safe to log and to send; never a token */
	uint32_t retry_after_s;    /* LOCKED_OUT: seconds until the lock ends (>= 1) */
	int lockout_started;       /* 1 when this failure locked the IP out: audit it
				      (DPP_EVENT_LOCKOUT); the request itself is a 401 */
};

struct dpp_auth;    /* opaque, immutable after compile, reference-counted */
struct dpp_lockout; /* opaque, internally locked */

/* mTLS and Unix-peer role maps (see dpp_auth_authenticate_request). */
struct dpp_auth_cert_role {
	const char *cn;   /* pattern: a name compared case-insensitively (ASCII) with
			     the CN and each DNS SAN, or "*.rest" where `*` stands
			     for exactly one non-empty label */
	const char *role;
};

struct dpp_auth_unix_role {
	int is_gid;       /* 0: `uid`, 1: `gid` */
	uint32_t id;
	const char *role;
};

/* Takes one more reference and returns `a` (NULL stays NULL). Thread-safe
 * (atomic counter). */
struct dpp_auth *dpp_auth_ref(struct dpp_auth *a);

/* Drops one reference; the last one frees the object and wipes its digests.
 * NULL is ignored. Thread-safe. */
void dpp_auth_unref(struct dpp_auth *a);

/* The configured type. Thread-safe (the object is immutable). */
enum dpp_auth_type dpp_auth_get_type(const struct dpp_auth *a);

/* One line for the start-up message and --check-config, e.g.
 * "bearer (3 tokens + shared secret)", "none (open access)",
 * "bearer (no credentials configured: every request is refused)".
 * Borrowed: valid while the caller holds a reference. */
const char *dpp_auth_describe(const struct dpp_auth *a);

/* Parsed auth.mtls.cert_role_map / auth.mtls.default_role (NULL when unset) /
 * auth.unix_role_map. The arrays are borrowed like dpp_auth_describe; the
 * return value is the number of entries (*out untouched when 0). */
size_t dpp_auth_cert_roles(const struct dpp_auth *a, const struct dpp_auth_cert_role **out);
const char *dpp_auth_mtls_default_role(const struct dpp_auth *a);
size_t dpp_auth_unix_roles(const struct dpp_auth *a, const struct dpp_auth_unix_role **out);

/* Authenticates one request: the single entry point for every identity.
 *
 * Order:
 *  1. peer->unix_peer: the first auth.unix_role_map entry whose uid equals
 *     peer->uid or whose gid equals peer->gid (primary group) gives the role;
 *     OK with identity "unix:uid=<uid>", reason "unix peer credentials". This
 *     comes before the lockout and applies with every type: the kernel vouches
 *     for the credentials, nothing is guessed. No matching entry: go on by type.
 *  2. type none: OK, identity "anonymous", role "admin", no lockout.
 *  3. type mtls: a certificate counts when peer->tls and peer->has_cert.
 *     None (or peer NULL): MISSING. Otherwise, candidates are the CN (when not
 *     "") and each non-empty DNS SAN; the FIRST cert_role_map entry (in
 *     configuration order) whose pattern matches any candidate gives the role.
 *     Matching is ASCII case-insensitive (DNS names, RFC 4343); "*.example.com"
 *     matches "a.example.com" but neither "a.b.example.com" nor "example.com"
 *     (one label, as RFC 6125 section 6.4.3 allows). No entry matches: a
 *     certificate without CN gets auth.mtls.default_role (INVALID when that is
 *     unset); a certificate with a CN gets the CN itself as the role (see the
 *     RISK at the top of this file), INVALID when the CN is not a valid role
 *     (1..31 characters of A-Z a-z 0-9 _ . -). A name that fills its array
 *     without NUL is INVALID. Identity "cert:<CN>", or "cert:<first DNS SAN>"
 *     when there is no CN, "cert:" when neither: bytes outside printable ASCII
 *     become '?', and a long name is cut to fit DPP_AUTH_IDENTITY_MAX.
 *     Certificates are verified by the handshake and cannot be guessed here,
 *     so mtls neither checks nor feeds the lockout. A bearer token is ignored.
 *  4. type bearer: the token in `authorization`, as dpp_auth_authenticate
 *     describes below (lockout included). A client certificate is ignored.
 *
 *  peer: NULL reads as a TCP connection without TLS. Borrowed for the call.
 *  authorization: the Authorization field value, NULL when absent. Accepted
 *    form (RFC 6750 section 2.1): "Bearer" (case-insensitive, RFC 7235
 *    section 2.1) then one or more spaces/tabs then the token; surrounding
 *    whitespace is ignored. Absent or blank is MISSING; any other scheme, an
 *    empty token, a token with inner whitespace or longer than
 *    DPP_AUTH_TOKEN_MAX is INVALID.
 *  Tokens are checked first (a token that equals the secret gets the token's
 *  role), then the secret. Every stored digest is compared in constant time
 *  (SHA-256 of the presented token vs. SHA-256 of each configured one), with
 *  no early exit.
 *  lockout (may be NULL: no lockout) and client_ip (NULL reads as ""; the key
 *  the caller chooses, also for Unix-socket peers): when the IP is locked out
 *  the answer is LOCKED_OUT before the header is looked at; every bearer
 *  INVALID is recorded as a failure. MISSING is not a failure: it guesses
 *  nothing, and counting it would lock out clients that probe without
 *  credentials. A success does not clear earlier failures (see
 *  dpp_lockout_record_failure).
 *  now_ms: monotonic clock in milliseconds (dpp_lockout_now_ms).
 *  out: always fully written.
 * Thread-safe: `a` and `peer` are only read; `lockout` locks itself. */
void dpp_auth_authenticate_request(const struct dpp_auth *a, struct dpp_lockout *lockout,
				   const char *authorization, const char *client_ip,
				   int64_t now_ms, const struct dpp_peer *peer,
				   struct dpp_auth_result *out);

/* Bearer-only callers: dpp_auth_authenticate_request with peer NULL (a TCP
 * connection without TLS, so type mtls is always MISSING). */
void dpp_auth_authenticate(const struct dpp_auth *a, struct dpp_lockout *lockout,
			   const char *authorization, const char *client_ip, int64_t now_ms,
			   struct dpp_auth_result *out);

/* The identity of the connection alone, without any request field:
 * dpp_auth_authenticate_request with no Authorization field and no lockout.
 * So with type bearer an unmapped peer is MISSING, and a caller that has the
 * header goes on with it:
 *     dpp_auth_authenticate_peer(a, &peer, &r);
 *     if (r.status == DPP_AUTH_MISSING && dpp_auth_get_type(a) == DPP_AUTH_BEARER)
 *             dpp_auth_authenticate(a, lockout, header, ip, now, &r);
 * which gives the same result as dpp_auth_authenticate_request(a, lockout,
 * header, ip, now, &peer, &r). Useful to authenticate once per connection
 * (mtls, Unix peers). Thread-safe. */
void dpp_auth_authenticate_peer(const struct dpp_auth *a, const struct dpp_peer *peer,
				struct dpp_auth_result *out);

/* Exposure check for one TCP listener (a Unix-socket listener needs none),
 * run at start-up and on reload; pure (no I/O, reads nothing global).
 *  bind_addr: the listen address as configured; only IP literals
 *    127.0.0.0/8, ::1 (and ::ffff:127.x.y.z) are loopback: "0.0.0.0", "::",
 *    names such as "localhost" and NULL are not.
 *  tls_enabled: global.tls is on for this listener.
 *  insecure_allow_open: global.insecure_allow_open.
 * Findings:
 *  - type mtls without TLS: error "auth.type mtls needs global.tls" (on any
 *    address: without TLS there is no client certificate).
 *  - off loopback without TLS: warning "listening on ADDR without TLS: tokens
 *    and Docker traffic cross the network in clear"; and with type none an
 *    error "refusing to expose open, unauthenticated Docker access on ADDR
 *    without TLS; set global.insecure_allow_open: true to override", which
 *    insecure_allow_open turns into a second sentence of the warning.
 * warning, error: each set to a malloc'd line (caller frees) or NULL when
 *   there is none; either pointer may be NULL to discard that text. ADDR is
 *   cut to 64 bytes and control characters become '?'.
 * Returns 0 when the listener may start (possibly with a warning), -1 when it
 * must not (an error; also on allocation failure, then *error may be NULL).
 * Thread-safe. */
int dpp_auth_exposure_check(const struct dpp_auth *a, const char *bind_addr, int tls_enabled,
			    int insecure_allow_open, char **warning, char **error);

/* Value for the WWW-Authenticate field of a 401 (RFC 6750 section 3):
 * `Bearer realm="docker-policy-proxy"`, plus `, error="invalid_token"` for
 * INVALID. Static string. */
const char *dpp_auth_challenge(enum dpp_auth_status status);

/* ---- lockout ---------------------------------------------------------- */

#define DPP_LOCKOUT_FAILURES 10          /* failures ... */
#define DPP_LOCKOUT_WINDOW_MS 60000      /* ... within this sliding window ... */
#define DPP_LOCKOUT_DURATION_MS 300000   /* ... lock the IP out this long */
#define DPP_LOCKOUT_DEFAULT_CAPACITY 4096

/* Creates a tracker for at most `capacity` client addresses (0: the default
 * 4096; at most 1<<20). When full, a new address evicts, in this order, an
 * entry with no failure inside the window and no lock, else the unlocked entry
 * whose last failure is oldest, else the locked entry whose lock ends first.
 * Addresses are compared as parsed IPs ("::ffff:10.0.0.1" is "10.0.0.1"); a
 * string that is no IP literal shares one "unknown" entry. Returns NULL on
 * allocation failure. Caller owns; dpp_lockout_free. */
struct dpp_lockout *dpp_lockout_create(size_t capacity);
/* Frees the tracker; no other thread may use it any more. NULL is a no-op. */
void dpp_lockout_free(struct dpp_lockout *lk);

/* Milliseconds remaining in the lock of `ip` at now_ms, 0 when not locked.
 * Thread-safe. */
int64_t dpp_lockout_check(struct dpp_lockout *lk, const char *ip, int64_t now_ms);

/* Records one failed authentication from `ip` at now_ms. The window slides:
 * failures older than DPP_LOCKOUT_WINDOW_MS no longer count. Returns 1 when
 * this failure reached DPP_LOCKOUT_FAILURES and started a lock (the caller
 * audits it), else 0 (also while already locked: a lock is never extended).
 * There is deliberately no record_success: a success does not reset the
 * window, so a guesser sharing an address (NAT) with a legitimate client is
 * not forgiven by that client's successes. Thread-safe. */
int dpp_lockout_record_failure(struct dpp_lockout *lk, const char *ip, int64_t now_ms);

/* Number of addresses currently tracked (for tests and metrics). Thread-safe. */
size_t dpp_lockout_size(struct dpp_lockout *lk);

/* One tracked address as seen at snapshot time (a copy; owns nothing). */
struct dpp_lockout_state {
	char ip[64];          /* as parsed ("10.0.0.1", "::1"), or "unknown" */
	uint32_t failures;    /* failures inside the sliding window */
	int64_t remaining_ms; /* lock time left; 0 when not locked */
};

/* Copies every address that is locked or has failures inside the window
 * (read-only: nothing is pruned or evicted) into *out (malloc'd, caller
 * frees; NULL when none) and the count into *n, in table order. For the
 * operator console's Limits view. Returns 0, or -1 on allocation failure
 * (*out NULL, *n 0). Thread-safe. */
int dpp_lockout_snapshot(struct dpp_lockout *lk, int64_t now_ms, struct dpp_lockout_state **out,
			 size_t *n);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t dpp_lockout_now_ms(void);

#endif
