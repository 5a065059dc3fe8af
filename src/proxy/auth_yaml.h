/* Internal: compiling the `auth` section of the configuration (libyaml) into a
 * struct dpp_auth. Kept out of include/ so only the core sees <yaml.h>. */
#ifndef DPP_AUTH_YAML_H
#define DPP_AUTH_YAML_H

#include <yaml.h>

#include "dpp/auth.h"

/* Compiles the auth configuration.
 *
 *  doc, auth_node: the configuration document kept by the config module and
 *    its top-level `auth` value (NULL when the file has no auth section; a
 *    null scalar for an empty `auth:`). Borrowed and only read; nothing points
 *    into the document after the call. ${VAR} interpolation is already done.
 *  file: file name for messages (NULL reads as "(config)").
 *  have_config_file: 0 when no configuration file was read at all.
 *  bind_addr: the listen address (IP literal), for the open-access check.
 *
 * Keys (unknown keys are errors):
 *   type: bearer | none | mtls     (default bearer)
 *   secret: STRING                 shared token, role admin
 *   tokens: [{token: STRING, role: ROLE}]   role default "user"
 *   mtls: {cert_role_map: [{cn: PATTERN, role: ROLE}], default_role: ROLE}
 *   unix_role_map: [{uid: N | gid: N, role: ROLE}]
 * A ROLE is 1..31 characters of [A-Za-z0-9_.-]. A PATTERN (matched by
 * dpp_auth_authenticate_request) is 1..255 bytes without control characters;
 * `*` may only be the whole first label of "*.rest" where rest has no empty
 * label ("*.example.com"; not "*", "a*.b", "a.*.b", "*..b"). With type mtls,
 * secret and tokens are ignored with a warning. Whether the listener may run
 * (TLS, loopback) is dpp_auth_exposure_check's job, not compile's. A null (`key:`, `~`) reads as
 * an empty string. Empty tokens (an unset ${VAR}) are skipped with a warning.
 * DOCKER_PROXY_SECRET, when set, replaces auth.secret.
 *
 * Fail closed: a file without an auth section, or whose secret and tokens are
 * all empty, gives a bearer configuration that refuses every request (with a
 * warning), unless `type: none`. With no file at all: DOCKER_PROXY_SECRET
 * when set (empty: refuse everything), else open access (type none), which is
 * an error unless bind_addr is a loopback address (127.0.0.0/8, ::1) and
 * otherwise gives the warning "no config file and no DOCKER_PROXY_SECRET: open
 * access on loopback only". `type: none` together with DOCKER_PROXY_SECRET is
 * an error (the two intents contradict each other).
 *
 * errors / warnings: every problem, one per line, "FILE:LINE:COL: KEY:
 * message" (1-based, from the node's start mark) or "KEY: message" when no
 * node is involved; malloc'd, caller frees; NULL when there are none. Either
 * pointer may be NULL to discard that text.
 * Returns 0 with *out (one reference, caller owns; dpp_auth_unref), or -1 with
 * *out = NULL when there was any error (or allocation failure). Thread-safe
 * (reads the environment only). */
int dpp_auth_compile(const yaml_document_t *doc, const yaml_node_t *auth_node,
		     const char *file, int have_config_file, const char *bind_addr,
		     struct dpp_auth **out, char **errors, char **warnings);

/* 1 when `addr` is an IPv4 loopback (127.0.0.0/8), IPv6 ::1 or an IPv4-mapped
 * IPv4 loopback literal; 0 otherwise (NULL, names, anything else). */
int dpp_auth_is_loopback(const char *addr);

#endif
