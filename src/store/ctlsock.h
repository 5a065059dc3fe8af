/* Where a client finds the daemon's control socket (docs/control.md). It
 * lives with the store because the default for a non-root daemon is
 * control.sock beside the store file. */
#ifndef DPP_STORE_CTLSOCK_H
#define DPP_STORE_CTLSOCK_H

#include <stddef.h>

#define DPP_CTLSOCK_ROOT_DEFAULT "/run/docker-policy-proxy/control.sock"

/* The control socket's path: flag_path (--control-socket) when not NULL,
 * else global.control_socket of the configuration (config_path; NULL:
 * $DOCKER_PROXY_CONFIG, else ./config.yaml), else the default: as root
 * DPP_CTLSOCK_ROOT_DEFAULT, else control.sock beside the store file (the
 * root default when only that one exists). Returns 0 with the path in out;
 * 1 when the configuration turns the socket off (control_socket: ""), with
 * a message in msg; -1 when the path does not fit. Never fails because the
 * configuration does not load: a client may not be able to read every
 * ${VAR} the daemon has, so the defaults apply. */
int dpp_ctlsock_resolve(const char *flag_path, const char *config_path, char *out, size_t len,
			char *msg, size_t msglen);

#endif
