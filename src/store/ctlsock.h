/* Where a client finds the daemon's control socket (docs/control.md). It
 * lives with the store because the default for a non-root daemon is
 * control.sock beside the store file. */
#ifndef DPP_STORE_CTLSOCK_H
#define DPP_STORE_CTLSOCK_H

#include <stddef.h>

#define DPP_CTLSOCK_RUN_DIR "/run/docker-policy-proxy"
#define DPP_CTLSOCK_ROOT_DEFAULT DPP_CTLSOCK_RUN_DIR "/control.sock"

struct dpp_settings;

/* The default path when global.control_socket is not set: one rule for the
 * daemon (daemon = 1) and its clients (0), so they meet. The daemon uses
 * DPP_CTLSOCK_ROOT_DEFAULT when it runs as root or may write the run
 * directory (the packaged service: systemd's RuntimeDirectory=, owned by the
 * service user); else control.sock beside the store file (where the store
 * would be when it is off). A client uses DPP_CTLSOCK_ROOT_DEFAULT as root;
 * otherwise the path beside the store when a socket is there, else
 * DPP_CTLSOCK_ROOT_DEFAULT when a socket is there, else the path beside the
 * store. s and
 * cfg_path are borrowed. Returns 0, or -1 when the path does not fit.
 * Thread-safe. */
int dpp_ctlsock_default(const struct dpp_settings *s, const char *cfg_path, int daemon, char *out,
			size_t len);

/* The control socket's path: flag_path (--control-socket) when not NULL,
 * else global.control_socket of the configuration (config_path; NULL:
 * $DOCKER_PROXY_CONFIG, else ./config.yaml), else dpp_ctlsock_default's
 * client rule. Returns 0 with the path in out;
 * 1 when the configuration turns the socket off (control_socket: ""), with
 * a message in msg; -1 when the path does not fit. Never fails because the
 * configuration does not load: a client may not be able to read every
 * ${VAR} the daemon has, so the defaults apply. */
int dpp_ctlsock_resolve(const char *flag_path, const char *config_path, char *out, size_t len,
			char *msg, size_t msglen);

#endif
