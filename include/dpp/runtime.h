/* The policy a request is judged by: effective settings, compiled auth and
 * compiled rules, built together from one configuration and swapped together
 * on reload. Immutable and reference-counted: a request keeps the runtime it
 * started with while SIGHUP installs a new one. */
#ifndef DPP_RUNTIME_H
#define DPP_RUNTIME_H

#include <stdio.h>

#include "dpp/auth.h"
#include "dpp/config.h"
#include "dpp/policy.h"

struct dpp_runtime; /* opaque, immutable, reference-counted (atomic) */

/* Compiles auth and rules from cfg. `effective` are the settings to use (the
 * config's, with the Docker socket resolved). Whether a config file
 * was read (auth fails closed differently without one). Every error of every
 * section is collected into *errors, warnings into *warnings (malloc'd, caller
 * frees; NULL when none). Returns 0 with *out (one reference), or -1.
 * Thread-safe (reads the environment). */
int dpp_runtime_build(const struct dpp_config *cfg, const struct dpp_settings *effective,
		      struct dpp_runtime **out, char **errors, char **warnings);

/* Reference counting (atomic; any thread). ref returns rt; unref frees at
 * zero. NULL is a no-op for both. */
struct dpp_runtime *dpp_runtime_ref(struct dpp_runtime *rt);
void dpp_runtime_unref(struct dpp_runtime *rt);

/* Borrowed while a reference is held. */
const struct dpp_settings *dpp_runtime_settings(const struct dpp_runtime *rt);
const struct dpp_auth *dpp_runtime_auth(const struct dpp_runtime *rt);
const struct dpp_ruleset *dpp_runtime_rules(const struct dpp_runtime *rt);

/* The exposure warning (binding off loopback without TLS), to repeat every
 * hour; NULL when there is none. Borrowed. */
const char *dpp_runtime_exposure_warning(const struct dpp_runtime *rt);

/* 1 when `ip` (textual; NULL or not an address: 0) lies in
 * global.trusted_proxies. Pure and thread-safe. */
int dpp_runtime_trusts(const struct dpp_runtime *rt, const char *ip);

/* The client address the rules see: the peer, unless the peer is a trusted
 * proxy, in which case X-Forwarded-For is walked from the right, skipping
 * trusted hops, and the first untrusted (valid IP) entry wins. IPv4-mapped
 * IPv6 is shown as IPv4. outlen: size of out in bytes (46 holds any address;
 * a longer text is cut). X-Forwarded-For handling follows RFC 7239 section
 * 5.2's advice: only hops appended by trusted proxies are believed. Pure and
 * thread-safe. */
void dpp_runtime_client_ip(const struct dpp_runtime *rt, const char *peer, const char *xff,
			   char *out, size_t outlen);

/* --check-config output for the policy part: auth mode, then the rules.
 * Write errors are not reported (the caller checks ferror). */
void dpp_runtime_print(const struct dpp_runtime *rt, FILE *out);

#endif
