/* Client authentication: bearer tokens (RFC 6750) checked against the `auth`
 * section of the configuration, plus a per-client-IP lockout after repeated
 * failures.
 *
 * Two objects, two lifetimes:
 *  - struct dpp_auth: compiled from the configuration (see auth_yaml.h),
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
 * nobody proved cannot restrict anything. */
#ifndef DPP_AUTH_H
#define DPP_AUTH_H

#include <stddef.h>
#include <stdint.h>

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
	DPP_AUTH_MTLS,       /* parsed; not implemented yet: refuses every request */
};

enum dpp_auth_status {
	DPP_AUTH_OK = 0,
	DPP_AUTH_MISSING,    /* no credentials: 401 */
	DPP_AUTH_INVALID,    /* wrong scheme, empty or unknown token: 401 */
	DPP_AUTH_LOCKED_OUT, /* too many failures from this IP: 429 + Retry-After */
	DPP_AUTH_ERROR,      /* internal error (hashing failed): fail closed, 500 */
};

/* Outcome of one authentication. A plain value: copy it freely. */
struct dpp_auth_result {
	enum dpp_auth_status status;
	char role[DPP_AUTH_ROLE_MAX];         /* "" unless status is OK */
	char identity[DPP_AUTH_IDENTITY_MAX]; /* "token:1a2b3c4d" (also for a rejected
						 token, for the audit), "anonymous" */
	const char *reason;        /* static, safe to log and to send; never a token */
	uint32_t retry_after_s;    /* LOCKED_OUT: seconds until the lock ends (>= 1) */
	int lockout_started;       /* 1 when this failure locked the IP out: audit it
				      (DPP_EVENT_LOCKOUT); the request itself is a 401 */
};

struct dpp_auth;    /* opaque, immutable after compile, reference-counted */
struct dpp_lockout; /* opaque, internally locked */

/* mTLS and Unix-peer role maps, parsed now and used by later work. */
struct dpp_auth_cert_role {
	const char *cn;   /* certificate subject CN, exact match */
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

/* Authenticates one request.
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
 *  lockout (may be NULL: no lockout) and client_ip (NULL reads as ""): when the
 *  IP is locked out the answer is LOCKED_OUT before the header is looked at;
 *  every INVALID is recorded as a failure. MISSING is not a failure: it guesses
 *  nothing, and counting it would lock out clients that probe without
 *  credentials. A success does not clear earlier failures (see
 *  dpp_lockout_record_failure).
 *  now_ms: monotonic clock in milliseconds (dpp_lockout_now_ms).
 *  With type none: always OK, identity "anonymous", role "admin", no lockout.
 *  With type mtls (not implemented yet): always MISSING.
 * Thread-safe: `a` is only read; `lockout` locks itself. */
void dpp_auth_authenticate(const struct dpp_auth *a, struct dpp_lockout *lockout,
			   const char *authorization, const char *client_ip, int64_t now_ms,
			   struct dpp_auth_result *out);

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

/* CLOCK_MONOTONIC in milliseconds. */
int64_t dpp_lockout_now_ms(void);

#endif
